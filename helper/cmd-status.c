/* SPDX-License-Identifier: Apache-2.0 */
#include "cli.h"
int cmd_status(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	(void)cli;
	return 1;
}
