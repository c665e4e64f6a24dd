/* SPDX-License-Identifier: Apache-2.0 */
/* Placeholder until the hook lands (issue 3). */
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "shield-hook: not implemented yet\n");
	return 1;
}
