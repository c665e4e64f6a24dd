/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shield attach / detach: the hook's two stages for a network namespace
 * podman does not manage (a `ip netns add` namespace, another runtime's
 * container). Same code path as shield-hook: launch_start and launch_stop.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli-target.h"
#include "cli.h"
#include "shield/dnsmasq-proc.h"
#include "shield/launch.h"
#include "shield/netns.h"
#include "shield/nft-netlink.h"
#include "shield/oci-state.h"
#include "shield/registry.h"

struct attach_opts {
	struct cli_target_opts target; /* NAME or --state-dir, --netns */
	const char *id;
};

static void attach_usage(const char *command, FILE *out)
{
	if (strcmp(command, "attach") == 0)
		fprintf(out,
			"Usage: shield attach --netns PATH (--state-dir DIR | NAME) [--id ID]\n"
			"\n"
			"Shield a network namespace podman does not manage, as shield-hook does "
			"at\n"
			"createRuntime: commit and verify the bundle's ruleset in PATH, start "
			"dnsmasq\n"
			"in it and register it for nftsetd.\n");
	else
		fprintf(out,
			"Usage: shield detach (--state-dir DIR | NAME) [--id ID] [--netns PATH]\n"
			"\n"
			"Undo 'shield attach', as shield-hook does at poststop: stop the\n"
			"namespace's dnsmasq and remove its registry entry. The ruleset stays\n"
			"(the namespace is not left open) unless --netns names the namespace,\n"
			"then its shield table is deleted as well.\n");
	fprintf(out,
		"\nOptions:\n"
		"  --netns PATH       network namespace file (/run/netns/NAME, /proc/PID/ns/net)\n"
		"  --state-dir DIR    state bundle directory (or give the container NAME)\n"
		"  --id ID            registry id (default: NAME, else the bundle's name)\n"
		"  -h, --help         show this help\n");
}

/* Parse the options; returns -1 to go on, else an exit code. */
static int parse_opts(struct cli *cli, int argc, char **argv, struct attach_opts *o)
{
	enum { OPT_ID = CLI_TARGET_OPT_END };
	static const struct option opts[] = {
		CLI_TARGET_OPTION_NETNS,
		CLI_TARGET_OPTION_STATE_DIR,
		{"id", required_argument, NULL, OPT_ID},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	unsigned flags = CLI_TARGET_NETNS_WITH_NAME;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cli_target_option(&o->target, c))
			continue;
		switch (c) {
		case OPT_ID:
			o->id = optarg;
			break;
		case 'h':
			attach_usage(cli->command, stdout);
			return 0;
		default:
			return cli_bad_option(cli, argv);
		}
	}
	if (strcmp(cli->command, "attach") == 0)
		flags |= CLI_TARGET_NETNS_REQUIRED;
	return cli_target_finish(cli, argc, argv, &o->target, 0, 0, flags);
}

/*
 * Everything both commands need: the checked bundle, the registry id, the
 * registry location and the dnsmasq binary.
 */
struct attach_ctx {
	char *path;
	int dirfd;
	char id[OCI_ID_MAX + 1];
	char runtime_dir[PATH_MAX];
	const char *dnsmasq;
};

static int prepare_ctx(const struct cli *cli, const struct attach_opts *o, struct attach_ctx *x,
		       struct shield_error *err)
{
	const char *name = o->target.name;
	const char *id = o->id ? o->id : name;
	struct bundle_config config;
	char q[SHIELD_QUOTE_MAX];
	int r;

	if (name && cli_check_name(name, err) < 0)
		return -EINVAL;
	x->path = cli_bundle_path(cli, o->target.state_dir, name);
	if (!x->path)
		return shield_error_set(err, -ENOMEM, "out of memory");
	r = bundle_check_location(x->path, err);
	if (r < 0)
		return r;
	x->dirfd = bundle_open(x->path, false, err);
	if (x->dirfd < 0)
		return x->dirfd;
	bundle_config_init(&config);
	r = bundle_read_config(x->dirfd, &config, err);
	if (r < 0) {
		bundle_config_free(&config);
		return shield_error_prefix(err, "bundle %s: ", x->path);
	}
	snprintf(x->id, sizeof(x->id), "%s", id ? id : config.name);
	bundle_config_free(&config);
	if (!oci_id_valid(x->id))
		return shield_error_set(err, -EINVAL,
					"registry id %s is not valid (letters, digits, '_', '.', "
					"'-'); give --id",
					shield_quote(x->id, strlen(x->id), q));
	r = registry_runtime_dir(x->runtime_dir, sizeof(x->runtime_dir), err);
	if (r >= 0)
		r = dnsmasq_binary(&x->dnsmasq, err);
	return r;
}

static struct launch_target attach_target(const struct attach_ctx *x, const char *netns, int nsfd)
{
	return (struct launch_target){
		.state_dir = x->path,
		.dirfd = x->dirfd,
		.nsfd = nsfd,
		.netns_path = netns,
		.id = x->id,
		.source = "attach",
		.runtime_dir = x->runtime_dir,
		.dnsmasq = x->dnsmasq,
	};
}

int cmd_attach(struct cli *cli, int argc, char **argv)
{
	struct attach_opts o = {0};
	struct attach_ctx x = {.dirfd = -1};
	struct shield_error err = {0};
	struct launch_report rep;
	_cleanup_close_ int nsfd = -1;
	int r = parse_opts(cli, argc, argv, &o);

	if (r >= 0)
		return r;
	r = prepare_ctx(cli, &o, &x, &err);
	if (r >= 0) {
		nsfd = netns_open(o.target.netns, &err);
		r = nsfd;
	}
	if (r >= 0) {
		struct launch_target t = attach_target(&x, o.target.netns, nsfd);

		r = launch_start(&t, &rep, &err);
		if (r < 0)
			launch_record_error(x.dirfd, x.id, "attach", err.msg);
	}
	if (r >= 0)
		printf("attached %s to %s: mode %s, %zu rules, %zu static elements, verified; "
		       "dnsmasq pid %d\n",
		       x.id, o.target.netns, shield_mode_name(rep.mode), rep.n_rules, rep.n_elems,
		       (int)rep.dnsmasq_pid);
	free(x.path);
	if (x.dirfd >= 0)
		close(x.dirfd);
	return r < 0 ? cli_fail(cli, &err) : 0;
}

int cmd_detach(struct cli *cli, int argc, char **argv)
{
	struct attach_opts o = {0};
	struct attach_ctx x = {.dirfd = -1};
	struct shield_error err = {0};
	struct launch_report rep;
	_cleanup_close_ int nsfd = -1;
	bool table_deleted = false;
	int r = parse_opts(cli, argc, argv, &o);

	if (r >= 0)
		return r;
	r = prepare_ctx(cli, &o, &x, &err);
	/* Open the namespace first: a wrong --netns fails before anything is stopped. */
	if (r >= 0 && o.target.netns) {
		nsfd = netns_open(o.target.netns, &err);
		r = nsfd;
	}
	if (r >= 0) {
		struct launch_target t = attach_target(&x, o.target.netns, -1);

		r = launch_stop(&t, &rep, &err);
	}
	if (r >= 0 && nsfd >= 0) {
		_cleanup_(nft_sock_closep) struct nft_sock *sock = NULL;

		r = nft_sock_open_in(nsfd, &sock, &err);
		if (r >= 0)
			r = nft_delete_table(sock, &err);
		table_deleted = r >= 0;
		if (r == -ENOENT)
			r = 0;
	}
	if (r >= 0) {
		printf("detached %s: ", x.id);
		if (rep.dnsmasq_pid)
			printf("dnsmasq pid %d stopped", (int)rep.dnsmasq_pid);
		else
			printf("no dnsmasq was running");
		if (rep.registry)
			printf(", registry entry removed");
		if (table_deleted)
			printf(", shield table deleted from %s", o.target.netns);
		printf("\n");
	}
	free(x.path);
	if (x.dirfd >= 0)
		close(x.dirfd);
	return r < 0 ? cli_fail(cli, &err) : 0;
}
