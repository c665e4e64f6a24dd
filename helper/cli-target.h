/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which container a runtime command acts on, shared by allow, deny, up,
 * down, block, status, rules and logs.
 *
 * Options (one parser): `NAME|ID` (a podman container, or a namespace
 * attached with `shield attach` under that name/id), or `--state-dir DIR
 * [--netns PATH]` for a bundle and, optionally, the namespace it shields.
 * `--json` is parsed here too; what it means is the caller's business.
 * The parser (not the resolution) also serves preview, apply, attach and
 * detach, whose NAME is only the bundle STATE_ROOT/containers/NAME and
 * whose --netns goes with it (CLI_TARGET_NETNS_WITH_NAME).
 *
 * What a caller gets from cli_target_resolve (struct cli_target):
 *  - name: for messages and the audit log (podman's Name, else the bundle's
 *    name, else the registry id, else the bundle directory's base name);
 *  - id: podman's full id, or the attached namespace's registry id; NULL
 *    when neither is known;
 *  - state_dir + dirfd: the bundle, checked (bundle_check_location and
 *    bundle_open: absolute, not a symlink, ours, 0700-ish);
 *  - running: whether there is a live namespace to change now; when false
 *    the caller changes the bundle only and says so
 *    (cli_target_not_running_note);
 *  - netns_path: /proc/PID/ns/net for a running podman container, --netns,
 *    or the attached namespace's path; nsfd open on it when the caller asked
 *    for CLI_TARGET_ENTER (else -1);
 *  - pid: the container's init (0 for attached namespaces);
 *  - entry/has_entry: the registry entry (dnsmasq_pid, netns, source) when
 *    there is one; runtime_dir: where the registry is ("" when unknown);
 *  - profiles: the terok.shield.profiles annotation (podman only).
 *
 * Errors (exit 1 through cli_fail): "NAME: not shielded" for a podman
 * container without shield's annotations, "no container NAME ..." when
 * neither podman, the registry nor STATE_ROOT/containers/NAME knows it.
 *
 * Rootless: with CLI_TARGET_ENTER, a running container and a process that
 * is neither root nor inside podman's user namespace, cli_target_resolve
 * re-executes the whole command as `podman unshare SHIELD ARGS...` (the
 * settings carried over in SHIELD_STATE_ROOT, SHIELD_CONFIG_DIR and
 * SHIELD_RUNTIME_DIR; SHIELD_UNSHARED=1 guards against a loop) and does
 * not return on success.
 */
#pragma once

#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "cli.h"
#include "shield/registry.h"

/* getopt_long values of the target options; callers number their own from CLI_TARGET_OPT_END. */
enum {
	CLI_TARGET_OPT_STATE_DIR = 0x1000,
	CLI_TARGET_OPT_NETNS,
	CLI_TARGET_OPT_JSON,
	CLI_TARGET_OPT_END,
};

/*
 * The struct option entries of the target options, for a caller's own
 * table: each one, or all three (CLI_TARGET_OPTIONS).
 */
/* clang-format off */
#define CLI_TARGET_OPTION_STATE_DIR {"state-dir", required_argument, NULL, CLI_TARGET_OPT_STATE_DIR}
#define CLI_TARGET_OPTION_NETNS {"netns", required_argument, NULL, CLI_TARGET_OPT_NETNS}
#define CLI_TARGET_OPTION_JSON {"json", no_argument, NULL, CLI_TARGET_OPT_JSON}
#define CLI_TARGET_OPTIONS \
	CLI_TARGET_OPTION_STATE_DIR, CLI_TARGET_OPTION_NETNS, CLI_TARGET_OPTION_JSON
/* clang-format on */

/* The --help lines of the target options. */
#define CLI_TARGET_HELP                                                                            \
	"  NAME|ID            a podman container, or a namespace attached under that name\n"       \
	"  --state-dir DIR    a bundle instead of NAME (for namespaces podman does not manage)\n"  \
	"  --netns PATH       with --state-dir: the namespace it shields (default: the\n"          \
	"                     registry's entry for DIR, else not running)\n"

struct cli_target_opts {
	const char *name;      /* NAME or ID; NULL with --state-dir */
	const char *state_dir; /* --state-dir */
	const char *netns;     /* --netns (with --state-dir, unless CLI_TARGET_NETNS_WITH_NAME) */
	bool json;	       /* --json */
	char **args;	       /* the positional arguments after NAME */
	int n_args;
};

/* Whether getopt_long's c was a target option (then it is recorded in o, with optarg). */
bool cli_target_option(struct cli_target_opts *o, int c);

#define CLI_TARGET_NAME_OPTIONAL 1u /* no NAME and no --state-dir is fine (status, logs) */
/*
 * --netns also goes with NAME: the caller uses the namespace as given and
 * NAME only for the bundle STATE_ROOT/containers/NAME (attach, detach,
 * apply); cli_target_resolve is not for such callers.
 */
#define CLI_TARGET_NETNS_WITH_NAME 2u
#define CLI_TARGET_NETNS_REQUIRED  4u /* --netns must be given (attach, apply) */

/*
 * After getopt_long: take NAME from argv[optind] unless --state-dir was given,
 * then between min_args and max_args positional arguments into o->args.
 * Returns -1 to go on, else an exit code (a usage error was reported).
 */
int cli_target_finish(const struct cli *cli, int argc, char **argv, struct cli_target_opts *o,
		      int min_args, int max_args, unsigned flags);

/*
 * The whole parse for a command whose only options are the target's and
 * --help: usage(stdout) for --help (returns 0). Returns -1 to go on, else
 * an exit code.
 */
int cli_target_parse(const struct cli *cli, int argc, char **argv, struct cli_target_opts *o,
		     int min_args, int max_args, unsigned flags, void (*usage)(FILE *out));

struct cli_target {
	char *name;
	char *id;
	char *state_dir;
	int dirfd;
	bool podman; /* resolved through podman inspect */
	char *profiles;
	bool running;
	pid_t pid;
	char *netns_path;
	int nsfd;
	bool has_entry;
	struct registry_entry entry;
	char runtime_dir[PATH_MAX];
};

#define CLI_TARGET_INIT                                                                            \
	{                                                                                          \
		.dirfd = -1, .nsfd = -1                                                            \
	}

#define CLI_TARGET_ENTER 1u /* the caller enters the namespace: open nsfd, rootless re-exec */

/*
 * Resolve o into t (initialised with CLI_TARGET_INIT). Returns 0 or -errno
 * with err saying what was wrong (naming the container). t is freed by
 * cli_target_free either way.
 */
int cli_target_resolve(const struct cli *cli, const struct cli_target_opts *o, unsigned flags,
		       struct cli_target *t, struct shield_error *err);
void cli_target_free(struct cli_target *t);

/* The stderr note for a change made to the bundle of a target that is not running. */
void cli_target_not_running_note(const struct cli *cli, const struct cli_target *t);
