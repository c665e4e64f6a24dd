/* SPDX-License-Identifier: Apache-2.0 */
/* shield preview / apply / rules: a bundle's ruleset on paper, in the kernel, and back. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-target.h"
#include "cli.h"
#include "shield/netns.h"
#include "shield/nft-netlink.h"

struct ruleset_opts {
	struct cli_target_opts target; /* NAME or --state-dir, --netns */
	const char *mode;
};

static void ruleset_usage(const char *command, FILE *out)
{
	if (strcmp(command, "preview") == 0)
		fprintf(out, "Usage: shield preview (--state-dir DIR | NAME) [--mode MODE]\n"
			     "\n"
			     "Print the ruleset a bundle makes, in nft syntax, exactly as\n"
			     "'nft list table inet terok_shield' prints it once applied.\n");
	else
		fprintf(out,
			"Usage: shield apply --netns PATH (--state-dir DIR | NAME) [--mode MODE]\n"
			"\n"
			"Commit a bundle's ruleset in the network namespace PATH (for example\n"
			"/run/netns/NAME or /proc/PID/ns/net) in one transaction, replacing any\n"
			"previous shield table, then dump it back and verify it. --mode also\n"
			"records the mode in the bundle.\n");
	fprintf(out, "\nOptions:\n");
	if (strcmp(command, "preview") != 0)
		fprintf(out, "  --netns PATH       network namespace file\n");
	fprintf(out, "  --state-dir DIR    state bundle directory (or give the container NAME)\n"
		     "  --mode MODE        up, down, down-all or block (default: the bundle's)\n");
	fprintf(out, "  -h, --help         show this help\n");
}

/* Parse the shared options; returns -1 to go on, else an exit code. */
static int parse_opts(struct cli *cli, int argc, char **argv, struct ruleset_opts *o)
{
	enum { OPT_MODE = CLI_TARGET_OPT_END };
	static const struct option opts[] = {
		CLI_TARGET_OPTION_STATE_DIR,
		CLI_TARGET_OPTION_NETNS,
		{"mode", required_argument, NULL, OPT_MODE},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	bool preview = strcmp(cli->command, "preview") == 0;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cli_target_option(&o->target, c))
			continue;
		switch (c) {
		case OPT_MODE:
			o->mode = optarg;
			break;
		case 'h':
			ruleset_usage(cli->command, stdout);
			return 0;
		default:
			return cli_bad_option(cli, argv);
		}
	}
	if (preview && o->target.netns)
		return cli_usage_error(cli, "preview does not take --netns");
	return cli_target_finish(cli, argc, argv, &o->target, 0, 0,
				 preview ? 0
					 : CLI_TARGET_NETNS_WITH_NAME | CLI_TARGET_NETNS_REQUIRED);
}

/* Open the bundle, load it and build the ruleset of the requested (or its own) mode. */
static int load_ruleset(const struct cli *cli, const struct ruleset_opts *o, int *dirfd,
			struct bundle_rules *b, enum shield_mode *mode, struct nft_ruleset *rs,
			struct shield_error *err)
{
	_cleanup_free_ char *path = NULL;
	const char *name = o->target.name;
	int r;

	if (name && cli_check_name(name, err) < 0)
		return -EINVAL;
	path = cli_bundle_path(cli, o->target.state_dir, name);
	if (!path)
		return shield_error_set(err, -ENOMEM, "out of memory");
	*dirfd = bundle_open(path, false, err);
	if (*dirfd < 0)
		return *dirfd;
	r = bundle_rules_load(*dirfd, b, err);
	if (r < 0)
		return shield_error_prefix(err, "bundle %s: ", path);
	*mode = b->config.mode;
	if (o->mode && shield_mode_parse(o->mode, mode, err) < 0)
		return -EINVAL;
	return bundle_rules_build(b, *mode, rs, err);
}

int cmd_preview(struct cli *cli, int argc, char **argv)
{
	struct ruleset_opts o = {0};
	struct shield_error err = {0};
	struct bundle_rules b = {0};
	struct nft_ruleset rs = {0};
	_cleanup_close_ int dirfd = -1;
	_cleanup_free_ char *text = NULL;
	enum shield_mode mode;
	int r = parse_opts(cli, argc, argv, &o);

	if (r >= 0)
		return r;
	r = load_ruleset(cli, &o, &dirfd, &b, &mode, &rs, &err);
	if (r >= 0) {
		text = nft_ruleset_render(&rs);
		if (!text)
			r = shield_error_set(&err, -ENOMEM, "out of memory");
	}
	nft_ruleset_free(&rs);
	bundle_rules_free(&b);
	if (r < 0)
		return cli_fail(cli, &err);
	fputs(text, stdout);
	return fflush(stdout) == 0 ? 0 : EXIT_USER;
}

int cmd_apply(struct cli *cli, int argc, char **argv)
{
	struct ruleset_opts o = {0};
	struct shield_error err = {0};
	struct bundle_rules b = {0};
	struct nft_ruleset rs = {0};
	_cleanup_close_ int dirfd = -1, nsfd = -1;
	_cleanup_(nft_sock_closep) struct nft_sock *sock = NULL;
	enum shield_mode mode, old_mode;
	bool mode_written = false;
	size_t n_rules = 0, n_elems = 0;
	int r = parse_opts(cli, argc, argv, &o);

	if (r >= 0)
		return r;
	r = load_ruleset(cli, &o, &dirfd, &b, &mode, &rs, &err);
	if (r >= 0) {
		nsfd = netns_open(o.target.netns, &err);
		r = nsfd;
	}
	if (r >= 0)
		r = nft_sock_open_in(nsfd, &sock, &err);
	old_mode = b.config.mode;
	/* Record the mode first: the kernel transaction below is all or nothing, and
	 * if it fails the old mode is written back, so files and kernel agree. */
	if (r >= 0 && mode != old_mode) {
		b.config.mode = mode;
		r = bundle_write_config(dirfd, &b.config, &err);
		mode_written = r >= 0;
	}
	if (r >= 0) {
		r = nft_apply_ruleset(sock, &rs, &err);
		if (r < 0 && mode_written) {
			struct shield_error ignored = {0};

			b.config.mode = old_mode;
			bundle_write_config(dirfd, &b.config, &ignored);
		}
	}
	if (r >= 0)
		r = nft_verify_table(sock, &rs, &err);
	for (int i = 0; i < NFT_CHAIN_COUNT; i++)
		n_rules += rs.chains[i].n_rules;
	for (int i = 0; i < NFT_SET_COUNT; i++)
		n_elems += rs.sets[i].n_elems;
	nft_ruleset_free(&rs);
	bundle_rules_free(&b);
	if (r < 0)
		return cli_fail(cli, &err);
	printf("applied mode %s in %s: %zu rules, %zu static elements, verified\n",
	       shield_mode_name(mode), o.target.netns, n_rules, n_elems);
	return 0;
}

static void rules_usage(FILE *out)
{
	fprintf(out, "Usage: shield rules NAME | --state-dir DIR [--netns PATH] | --netns PATH "
		     "[--json]\n"
		     "\n"
		     "Print the mode the kernel's shield table is in (up, down, down_all,\n"
		     "block, inactive or error) and the table itself, read over netlink from\n"
		     "the container's network namespace. \"error\" means the table matches no\n"
		     "mode (tampered). --netns PATH alone reads any namespace.\n"
		     "\n"
		     "Options:\n" CLI_TARGET_HELP "  --json             print JSON\n"
		     "  -h, --help         show this help\n");
}

static json_t *rules_json(const struct cli_target *t, const char *netns,
			  const struct nft_ruleset *rs, const char *text, bool bundle_mode_known,
			  enum shield_mode bundle_mode)
{
	json_t *sets = json_object(), *o;

	for (int i = 0; sets && i < NFT_SET_COUNT; i++)
		if (rs->sets[i].present &&
		    json_object_set_new(sets, nft_set_name(i),
					json_integer((json_int_t)rs->sets[i].n_elems)) < 0) {
			json_decref(sets);
			sets = NULL;
		}
	o = json_pack("{s:s?, s:s?, s:s?, s:b, s:s, s:o, s:b, s:o*, s:s?}", "container",
		      t ? t->name : NULL, "id", t ? t->id : NULL, "state_dir",
		      t ? t->state_dir : NULL, "running", netns != NULL, "mode",
		      shield_mode_name(netns ? nft_ruleset_detect_mode(rs) : SHIELD_MODE_INACTIVE),
		      "bundle_mode",
		      bundle_mode_known ? json_string(shield_mode_name(bundle_mode)) : json_null(),
		      "table_present", rs->table_present, "sets", sets, "table",
		      rs->table_present ? text : NULL);
	if (o && json_object_set_new(o, "netns", netns ? json_string(netns) : json_null()) < 0) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

int cmd_rules(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_TARGET_OPTIONS,
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct cli_target_opts o = {0};
	struct cli_target t = CLI_TARGET_INIT;
	struct shield_error err = {0};
	struct nft_ruleset actual = {0};
	struct bundle_config config;
	_cleanup_close_ int nsfd = -1;
	_cleanup_free_ char *text = NULL;
	const char *netns = NULL;
	bool legacy, have_config = false;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cli_target_option(&o, c))
			continue;
		if (c == 'h') {
			rules_usage(stdout);
			return 0;
		}
		return cli_bad_option(cli, argv);
	}
	/* The plumbing form: any namespace, no bundle. */
	legacy = o.netns && !o.state_dir && optind >= argc;
	if (!legacy) {
		r = cli_target_finish(cli, argc, argv, &o, 0, 0, 0);
		if (r >= 0)
			return r;
	}
	bundle_config_init(&config);
	if (legacy) {
		netns = o.netns;
		nsfd = netns_open(netns, &err);
		r = nsfd;
	} else {
		r = cli_target_resolve(cli, &o, CLI_TARGET_ENTER, &t, &err);
		if (r >= 0) {
			struct shield_error ignored = {0};

			have_config = bundle_read_config(t.dirfd, &config, &ignored) >= 0;
			netns = t.running ? t.netns_path : NULL;
			nsfd = TAKE_FD(t.nsfd);
		}
	}
	if (r >= 0 && netns)
		r = nft_dump_ruleset_in(nsfd, &actual, &err);
	if (r >= 0 && netns) {
		text = nft_ruleset_render(&actual);
		if (!text)
			r = shield_error_set(&err, -ENOMEM, "out of memory");
	}
	if (r >= 0 && o.json) {
		r = cli_print_json(rules_json(legacy ? NULL : &t, netns, &actual, text, have_config,
					      config.mode),
				   JSON_INDENT(2));
		if (r < 0)
			shield_error_set(&err, r, "out of memory");
	} else if (r >= 0) {
		printf("mode: %s\n", shield_mode_name(netns ? nft_ruleset_detect_mode(&actual)
							    : SHIELD_MODE_INACTIVE));
		if (!legacy && netns)
			printf("container: %s (network namespace %s; bundle mode %s)\n", t.name,
			       netns, have_config ? shield_mode_name(config.mode) : "unreadable");
		else if (!legacy)
			printf("container: %s (not running; bundle mode %s)\n", t.name,
			       have_config ? shield_mode_name(config.mode) : "unreadable");
		if (actual.table_present)
			printf("\n%s", text);
	}
	nft_ruleset_free(&actual);
	bundle_config_free(&config);
	cli_target_free(&t);
	if (r < 0)
		return cli_fail(cli, &err);
	return fflush(stdout) == 0 ? 0 : EXIT_USER;
}
