/* SPDX-License-Identifier: Apache-2.0 */
/* What the `shield` commands share: options, paths, loading a bundle into a ruleset. */
#pragma once

#include <stdbool.h>

#include <jansson.h>

#include "shield/bundle-rules.h"
#include "shield/bundle.h"
#include "shield/error.h"
#include "shield/nft-ruleset.h"

/* Exit codes, as crun and systemctl use them: 0 success, 1 failure, 2 usage. */
#define EXIT_USER  1
#define EXIT_USAGE 2

struct cli {
	const char *config_dir; /* user profiles live in CONFIG_DIR/profiles */
	const char *state_root; /* bundles live in STATE_ROOT/containers/NAME */
	const char *data_dir;	/* bundled profiles live in DATA_DIR/profiles */
	const char *command;	/* for messages */
};

/* Print "shield: COMMAND: message" on stderr and return EXIT_USER. */
int cli_fail(const struct cli *cli, const struct shield_error *err);

/* Print a usage error with a hint to --help and return EXIT_USAGE. */
int cli_usage_error(const struct cli *cli, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A usage error for the option getopt_long just refused (opterr is 0). */
int cli_bad_option(const struct cli *cli, char **argv);

/* Whether NAME is a usable container name ([A-Za-z0-9][A-Za-z0-9_.-]*, <= 127). */
int cli_check_name(const char *name, struct shield_error *err);

/*
 * The bundle directory, made absolute against the working directory:
 * --state-dir if given, else STATE_ROOT/containers/NAME (malloc'd; NULL when out of memory).
 */
char *cli_bundle_path(const struct cli *cli, const char *state_dir, const char *name);

/*
 * Print root as one JSON document on stdout (json_dumps flags, key order
 * kept) and release it; NULL (a failed json_pack) is -ENOMEM.
 */
int cli_print_json(json_t *root, size_t flags);

int cmd_prepare(struct cli *cli, int argc, char **argv);
int cmd_preview(struct cli *cli, int argc, char **argv);
int cmd_apply(struct cli *cli, int argc, char **argv);
int cmd_rules(struct cli *cli, int argc, char **argv);
int cmd_run(struct cli *cli, int argc, char **argv);
int cmd_attach(struct cli *cli, int argc, char **argv);
int cmd_detach(struct cli *cli, int argc, char **argv);
int cmd_setup(struct cli *cli, int argc, char **argv);
int cmd_check(struct cli *cli, int argc, char **argv);
int cmd_allow(struct cli *cli, int argc, char **argv);
int cmd_deny(struct cli *cli, int argc, char **argv);
int cmd_up(struct cli *cli, int argc, char **argv);
int cmd_down(struct cli *cli, int argc, char **argv);
int cmd_block(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_logs(struct cli *cli, int argc, char **argv);
int cmd_profiles(struct cli *cli, int argc, char **argv);
int cmd_watch(struct cli *cli, int argc, char **argv);
int cmd_drift(struct cli *cli, int argc, char **argv);
int cmd_metrics(struct cli *cli, int argc, char **argv);
