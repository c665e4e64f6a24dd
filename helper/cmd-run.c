/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shield run: prepare a container's bundle and exec `podman run` with
 * shield's arguments followed by the user's. Every refusal happens before
 * anything is written: the user's podman options, a podman that cannot be
 * found, and hooks podman would not run (the container would start without
 * its firewall).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd-podman.h"
#include "shield/podman-args.h"

int cmd_run(struct cli *cli, int argc, char **argv)
{
	struct shield_error err = {0};
	_cleanup_free_ char *podman = NULL;
	_cleanup_free_ char **exec_argv = NULL;
	struct hooks_dirs hooks;
	struct prepare_opts o;
	struct prepared p;
	char **user;
	size_t n_user, image, n = 0;
	int dashes = -1, r;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			dashes = i;
			break;
		}
	r = prepare_parse(cli, dashes < 0 ? argc : dashes, argv, true, &o);
	if (r >= 0)
		return r;
	if (dashes < 0)
		return cli_usage_error(cli,
				       "missing '--' between shield's options and podman's "
				       "(shield run NAME [OPTIONS] -- [PODMAN-OPTIONS] IMAGE)");
	user = argv + dashes + 1;
	n_user = (size_t)(argc - dashes - 1);
	if (podman_args_check(user, n_user, &image, &err) < 0)
		return cli_usage_error(cli, "%s", err.msg);

	if (podman_locate(&podman, &err) < 0)
		return cli_fail(cli, &err);
	if (podman_hooks_dirs(o.hooks_dir, geteuid() != 0, &hooks, &err) < 0)
		return cli_fail(cli, &err);
	r = podman_hooks_verify(&hooks.dirs, o.profiles, NULL, &err);
	hooks_dirs_free(&hooks);
	if (r < 0) {
		char why[SHIELD_ERROR_MSG_MAX];

		memcpy(why, err.msg, sizeof(why));
		shield_error_set(&err, r,
				 "podman would start the container without its firewall: %.800s; "
				 "run 'shield setup' (or give --hooks-dir DIR)",
				 why);
		return cli_fail(cli, &err);
	}

	r = prepare_do(cli, &o, &p);
	if (r != 0)
		return r;
	exec_argv = calloc(p.args.n + n_user + 3, sizeof(*exec_argv));
	if (!exec_argv) {
		prepared_free(&p);
		shield_error_set(&err, -ENOMEM, "out of memory");
		return cli_fail(cli, &err);
	}
	exec_argv[n++] = podman;
	exec_argv[n++] = (char *)"run";
	for (size_t i = 0; i < p.args.n; i++)
		exec_argv[n++] = p.args.items[i];
	for (size_t i = 0; i < n_user; i++)
		exec_argv[n++] = user[i];
	exec_argv[n] = NULL;
	prepare_summary(&o, &p);
	fflush(NULL);
	execv(podman, exec_argv);
	shield_error_set(&err, negative_errno(), "cannot run %s: %s", podman, strerror(errno));
	prepared_free(&p);
	return cli_fail(cli, &err);
}
