/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What `shield prepare`, `run`, `setup` and `check` share: prepare's
 * options and work (cmd-prepare.c), and where podman is and which hooks
 * directories it reads (cmd-setup.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"
#include "shield/strlist.h"

/* ------------------------------------------------------------ cmd-prepare.c */

struct prepare_opts {
	const char *name;
	const char *state_dir, *profiles, *upstream, *ports, *policy, *timeout;
	const char *network;   /* podman --network value, NULL = podman's default */
	const char *hooks_dir; /* passed to podman as --hooks-dir */
	const char *gateways[2];
	size_t n_gateways;
	bool json, quiet;
};

/*
 * Parse prepare's options from argv (for `run`: the words before "--",
 * without --json) and its NAME. Returns -1 to go on, else an exit code
 * (help printed, or a usage error reported).
 */
int prepare_parse(struct cli *cli, int argc, char **argv, bool run, struct prepare_opts *o);

struct prepared {
	char *path;	/* the bundle, absolute */
	char *profiles; /* "A:B" as annotated */
	size_t n_domains, n_ips;
	struct strlist args; /* podman run's arguments */
};

void prepared_free(struct prepared *p);

/*
 * Validate everything, then write the bundle and build podman's arguments.
 * Returns 0, or an exit code after reporting the error (nothing written
 * when the input was bad).
 */
int prepare_do(struct cli *cli, const struct prepare_opts *o, struct prepared *out);

/* The summary a person reads: "prepared NAME in DIR: ..." on stderr. */
void prepare_summary(const struct prepare_opts *o, const struct prepared *p);

/* -------------------------------------------------------------- cmd-setup.c */

/* Read a whole file, following symlinks, at most cap bytes (else -EFBIG); NUL-terminated. */
int read_text_file(const char *path, size_t cap, char **out, struct shield_error *err);

/*
 * The podman to run: $SHIELD_PODMAN if set, else "podman"; a name without
 * '/' is looked up in PATH. The path is malloc'd into *path; -ENOENT with
 * err naming what was looked for.
 */
int podman_locate(char **path, struct shield_error *err);

/*
 * Run argv (argv[0] a path) without a shell, stdin from /dev/null, stderr
 * discarded, and capture stdout (at most cap bytes) within timeout_ms
 * (then it is killed: -ETIMEDOUT). *status gets its exit status (or 128 +
 * signal). Returns 0 or -errno.
 */
int run_capture(char *const argv[], int timeout_ms, size_t cap, char **out, int *status,
		struct shield_error *err);

/* The major version of the podman at path (`podman --version`), 0 when it cannot tell. */
unsigned podman_major_version(const char *path);

struct hooks_dirs {
	struct strlist dirs; /* in podman's order: a later one masks an earlier */
	char source[4096];   /* the file that set hooks_dir, "" = podman's built-in default */
};

void hooks_dirs_free(struct hooks_dirs *h);

/*
 * The hooks directories podman reads: those of --hooks-dir when given (flag
 * NULL = none), else hooks_dir from the containers.conf files podman loads
 * ($CONTAINERS_CONF alone, else the system files, their .d drop-ins and,
 * when rootless, the user's; then $CONTAINERS_CONF_OVERRIDE), else
 * /usr/share/containers/oci/hooks.d. An empty hooks_dir means both system
 * directories for root and none at all for rootless podman.
 */
int podman_hooks_dirs(const char *flag, bool rootless, struct hooks_dirs *out,
		      struct shield_error *err);

/*
 * Whether podman, reading dirs, runs an executable shield hook at both
 * stages for a container annotated with profiles. *where (may be NULL) gets
 * the directory holding the createRuntime descriptor, malloc'd. -ENOENT when
 * a descriptor is missing, -EINVAL when one would not run the hook.
 */
int podman_hooks_verify(const struct strlist *dirs, const char *profiles, char **where,
			struct shield_error *err);
