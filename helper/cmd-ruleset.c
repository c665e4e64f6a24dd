/* SPDX-License-Identifier: Apache-2.0 */
/* shield preview / apply / rules: a bundle's ruleset on paper, in the kernel, and back. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "shield/netns.h"
#include "shield/nft-netlink.h"

struct ruleset_opts {
	const char *state_dir;
	const char *netns;
	const char *mode;
	const char *name;
};

static void ruleset_usage(const char *command, FILE *out)
{
	if (strcmp(command, "preview") == 0)
		fprintf(out, "Usage: shield preview (--state-dir DIR | NAME) [--mode MODE]\n"
			     "\n"
			     "Print the ruleset a bundle makes, in nft syntax, exactly as\n"
			     "'nft list table inet terok_shield' prints it once applied.\n");
	else if (strcmp(command, "apply") == 0)
		fprintf(out,
			"Usage: shield apply --netns PATH (--state-dir DIR | NAME) [--mode MODE]\n"
			"\n"
			"Commit a bundle's ruleset in the network namespace PATH (for example\n"
			"/run/netns/NAME or /proc/PID/ns/net) in one transaction, replacing any\n"
			"previous shield table, then dump it back and verify it. --mode also\n"
			"records the mode in the bundle.\n");
	else
		fprintf(out,
			"Usage: shield rules --netns PATH\n"
			"\n"
			"Print the mode the kernel's shield table is in (up, down, down_all,\n"
			"block, inactive or error) and the table itself, read over netlink.\n");
	fprintf(out, "\nOptions:\n");
	if (strcmp(command, "preview") != 0)
		fprintf(out, "  --netns PATH       network namespace file\n");
	if (strcmp(command, "rules") != 0)
		fprintf(out,
			"  --state-dir DIR    state bundle directory (or give the container NAME)\n"
			"  --mode MODE        up, down, down-all or block (default: the "
			"bundle's)\n");
	fprintf(out, "  -h, --help         show this help\n");
}

/* Parse the shared options; returns -1 to go on, else an exit code. */
static int parse_opts(struct cli *cli, int argc, char **argv, struct ruleset_opts *o)
{
	enum { OPT_STATE_DIR = 256, OPT_NETNS, OPT_MODE };
	static const struct option opts[] = {
		{"state-dir", required_argument, NULL, OPT_STATE_DIR},
		{"netns", required_argument, NULL, OPT_NETNS},
		{"mode", required_argument, NULL, OPT_MODE},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	bool rules = strcmp(cli->command, "rules") == 0;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_STATE_DIR:
			o->state_dir = optarg;
			break;
		case OPT_NETNS:
			o->netns = optarg;
			break;
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
	if (optind < argc)
		o->name = argv[optind++];
	if (optind < argc)
		return cli_usage_error(cli, "too many arguments");
	if (rules) {
		if (o->state_dir || o->mode || o->name)
			return cli_usage_error(cli, "takes only --netns");
		if (!o->netns)
			return cli_usage_error(cli, "--netns is required");
		return -1;
	}
	if (!o->state_dir && !o->name)
		return cli_usage_error(cli, "give --state-dir DIR or a container NAME");
	if (o->state_dir && o->name)
		return cli_usage_error(cli, "give either --state-dir or a NAME, not both");
	if (strcmp(cli->command, "apply") == 0 && !o->netns)
		return cli_usage_error(cli, "--netns is required");
	if (strcmp(cli->command, "preview") == 0 && o->netns)
		return cli_usage_error(cli, "preview does not take --netns");
	return -1;
}

/* Open the bundle, load it and build the ruleset of the requested (or its own) mode. */
static int load_ruleset(const struct cli *cli, const struct ruleset_opts *o, int *dirfd,
			struct bundle_rules *b, enum shield_mode *mode, struct nft_ruleset *rs,
			struct shield_error *err)
{
	_cleanup_free_ char *path = NULL;
	int r;

	if (o->name && cli_check_name(o->name, err) < 0)
		return -EINVAL;
	path = cli_bundle_path(cli, o->state_dir, o->name);
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
		nsfd = netns_open(o.netns, &err);
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
	       shield_mode_name(mode), o.netns, n_rules, n_elems);
	return 0;
}

int cmd_rules(struct cli *cli, int argc, char **argv)
{
	struct ruleset_opts o = {0};
	struct shield_error err = {0};
	struct nft_ruleset actual = {0};
	_cleanup_close_ int nsfd = -1;
	_cleanup_(nft_sock_closep) struct nft_sock *sock = NULL;
	_cleanup_free_ char *text = NULL;
	int r = parse_opts(cli, argc, argv, &o);

	if (r >= 0)
		return r;
	nsfd = netns_open(o.netns, &err);
	r = nsfd;
	if (r >= 0)
		r = nft_sock_open_in(nsfd, &sock, &err);
	if (r >= 0)
		r = nft_dump_ruleset(sock, &actual, &err);
	if (r >= 0) {
		text = nft_ruleset_render(&actual);
		if (!text)
			r = shield_error_set(&err, -ENOMEM, "out of memory");
	}
	if (r < 0) {
		nft_ruleset_free(&actual);
		return cli_fail(cli, &err);
	}
	printf("mode: %s\n", shield_mode_name(nft_ruleset_detect_mode(&actual)));
	if (actual.table_present)
		printf("\n%s", text);
	nft_ruleset_free(&actual);
	return fflush(stdout) == 0 ? 0 : EXIT_USER;
}
