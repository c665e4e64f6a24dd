/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder until this command lands (issue 3). */
#include <stdio.h>

#include "cli.h"

int cmd_attach(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "shield: %s: not implemented yet\n", cli->command);
	return EXIT_USER;
}

int cmd_detach(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "shield: %s: not implemented yet\n", cli->command);
	return EXIT_USER;
}
