/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shield prepare: write a container's state bundle and print the podman
 * arguments that run it under shield. Everything is read and validated
 * before the first write, so bad input leaves no trace.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd-podman.h"
#include "shield/dnsmasq-config.h"
#include "shield/podman-args.h"
#include "shield/profile.h"

#define DEFAULT_PROFILES "dev-standard"

static void prepare_usage(FILE *out, bool run)
{
	if (run)
		fprintf(out,
			"Usage: shield run NAME [OPTIONS] -- [PODMAN-RUN-OPTIONS] IMAGE "
			"[COMMAND...]\n"
			"\n"
			"Write the state bundle of container NAME (as 'shield prepare'), then run\n"
			"'podman run' with shield's arguments followed by yours. Options podman\n"
			"would use to undo the firewall are refused: --name, --network, --dns*,\n"
			"--privileged, --pod, --hooks-dir, terok.shield.* annotations, --cap-add\n"
			"of ALL, NET_ADMIN, NET_RAW, SYS_ADMIN, SYS_MODULE, SYS_RAWIO, SYS_PTRACE\n"
			"or BPF, and mounts on /etc/resolv.conf. $SHIELD_PODMAN names another\n"
			"podman binary.\n");
	else
		fprintf(out,
			"Usage: shield prepare NAME [OPTIONS]\n"
			"\n"
			"Write the state bundle for container NAME (the allowlists from the\n"
			"profiles, the settings, dnsmasq.conf and resolv.conf; live allow/deny\n"
			"lists already in the bundle are kept) and print the 'podman run'\n"
			"arguments that start it under shield, shell-quoted on one line, to paste\n"
			"or to eval: eval \"podman run $(shield prepare NAME) IMAGE\".\n");
	fprintf(out,
		"\n"
		"Options:\n"
		"  --state-dir DIR        bundle directory (default: STATE_ROOT/containers/NAME)\n"
		"  --profiles A:B         profiles to allow (default: " DEFAULT_PROFILES ")\n"
		"  --network MODE         podman's --network: slirp4netns[:OPTS], pasta[:OPTS],\n"
		"                         bridge, a network name or ns:PATH (default: podman's,\n"
		"                         slirp4netns or pasta rootless, bridge as root)\n"
		"  --upstream-dns IP      DNS server dnsmasq forwards to (default: the network's:\n"
		"                         10.0.2.3 slirp4netns, 169.254.1.1 pasta, the host's\n"
		"                         nameserver for bridge; required for ns: and named\n"
		"                         networks)\n"
		"  --loopback-ports P:Q   TCP ports on the host reachable through the gateway\n"
		"  --gateway IP           gateway address for loopback ports (one IPv4, one IPv6;\n"
		"                         default: 10.0.2.2 with slirp4netns, 169.254.1.2 with\n"
		"                         pasta)\n"
		"  --dns-policy POLICY    strict (forward only allowlisted domains, default) or "
		"open\n"
		"  --set-timeout DURATION lifetime of addresses learnt from DNS (default: 30m)\n"
		"  --hooks-dir DIR        have podman read shield's hook from DIR (podman forgets\n"
		"                         it when the container restarts: prefer 'shield "
		"setup')\n");
	if (!run)
		fprintf(out, "  --json                 print {\"name\", \"state_dir\", \"args\"} "
			     "instead\n");
	fprintf(out, "  -q, --quiet            no summary on stderr\n"
		     "  -h, --help             show this help\n");
}

/* Gateways the usual rootless network helpers put the host's loopback behind. */
static void default_gateway(const struct addr_prefix *upstream, struct bundle_config *c)
{
	static const struct {
		const char *upstream, *gateway;
	} known[] = {
		{"10.0.2.3", "10.0.2.2"},	/* slirp4netns */
		{"169.254.1.1", "169.254.1.2"}, /* pasta --map-host-loopback */
	};
	char text[ADDR_TEXT_MAX];

	addr_format(upstream, text);
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(text, known[i].upstream) == 0)
			addr_parse(known[i].gateway, strlen(known[i].gateway), &c->gateway_v4,
				   NULL);
}

static int mkdir_parents(const char *path, struct shield_error *err)
{
	_cleanup_free_ char *copy = strdup(path);

	if (!copy)
		return shield_error_set(err, -ENOMEM, "out of memory");
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0700) < 0 && errno != EEXIST)
			return shield_error_set(err, negative_errno(), "cannot create %s: %s", copy,
						strerror(errno));
		*p = '/';
	}
	return 0;
}

/* The lists a bundle already holds (empty for a new bundle). */
struct existing {
	struct strlist live_domains, denied_domains, live_allowed, deny_list;
};

static void existing_free(struct existing *e)
{
	strlist_free(&e->live_domains);
	strlist_free(&e->denied_domains);
	strlist_free(&e->live_allowed);
	strlist_free(&e->deny_list);
}

static int read_existing(int dirfd, struct existing *e, struct shield_error *err)
{
	int r = bundle_read_list(dirfd, BUNDLE_LIVE_DOMAINS, &e->live_domains, err);

	if (r >= 0)
		r = bundle_read_list(dirfd, BUNDLE_DENIED_DOMAINS, &e->denied_domains, err);
	if (r >= 0)
		r = bundle_read_list(dirfd, BUNDLE_LIVE_ALLOWED, &e->live_allowed, err);
	if (r >= 0)
		r = bundle_read_list(dirfd, BUNDLE_DENY_LIST, &e->deny_list, err);
	return r;
}

static int write_lists(int dirfd, const struct strlist *domains, const struct strlist *ips,
		       const struct existing *e, struct shield_error *err)
{
	int r = bundle_write_list(dirfd, BUNDLE_PROFILE_DOMAINS, domains, err);

	if (r >= 0)
		r = bundle_write_list(dirfd, BUNDLE_PROFILE_ALLOWED, ips, err);
	/* The live lists are the operator's; write them back as read (creates them if new). */
	if (r >= 0)
		r = bundle_write_list(dirfd, BUNDLE_LIVE_DOMAINS, &e->live_domains, err);
	if (r >= 0)
		r = bundle_write_list(dirfd, BUNDLE_DENIED_DOMAINS, &e->denied_domains, err);
	if (r >= 0)
		r = bundle_write_list(dirfd, BUNDLE_LIVE_ALLOWED, &e->live_allowed, err);
	if (r >= 0)
		r = bundle_write_list(dirfd, BUNDLE_DENY_LIST, &e->deny_list, err);
	return r;
}

int prepare_parse(struct cli *cli, int argc, char **argv, bool run, struct prepare_opts *o)
{
	enum {
		OPT_STATE_DIR = 256,
		OPT_PROFILES,
		OPT_UPSTREAM,
		OPT_PORTS,
		OPT_GATEWAY,
		OPT_POLICY,
		OPT_TIMEOUT,
		OPT_NETWORK,
		OPT_HOOKS_DIR,
		OPT_JSON,
	};
	static const struct option opts[] = {
		{"state-dir", required_argument, NULL, OPT_STATE_DIR},
		{"profiles", required_argument, NULL, OPT_PROFILES},
		{"upstream-dns", required_argument, NULL, OPT_UPSTREAM},
		{"loopback-ports", required_argument, NULL, OPT_PORTS},
		{"gateway", required_argument, NULL, OPT_GATEWAY},
		{"dns-policy", required_argument, NULL, OPT_POLICY},
		{"set-timeout", required_argument, NULL, OPT_TIMEOUT},
		{"network", required_argument, NULL, OPT_NETWORK},
		{"hooks-dir", required_argument, NULL, OPT_HOOKS_DIR},
		{"json", no_argument, NULL, OPT_JSON},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->profiles = DEFAULT_PROFILES;
	while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
		switch (c) {
		case OPT_STATE_DIR:
			o->state_dir = optarg;
			break;
		case OPT_PROFILES:
			o->profiles = optarg;
			break;
		case OPT_UPSTREAM:
			o->upstream = optarg;
			break;
		case OPT_PORTS:
			o->ports = optarg;
			break;
		case OPT_GATEWAY:
			if (o->n_gateways == 2)
				return cli_usage_error(cli, "--gateway given more than twice");
			o->gateways[o->n_gateways++] = optarg;
			break;
		case OPT_POLICY:
			o->policy = optarg;
			break;
		case OPT_TIMEOUT:
			o->timeout = optarg;
			break;
		case OPT_NETWORK:
			o->network = optarg;
			break;
		case OPT_HOOKS_DIR:
			o->hooks_dir = optarg;
			break;
		case OPT_JSON:
			if (run)
				return cli_usage_error(
					cli, "option '--json' is unknown or needs a value");
			o->json = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			prepare_usage(stdout, run);
			return 0;
		default:
			return cli_bad_option(cli, argv);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(cli, optind >= argc ? "missing container NAME"
							   : "too many arguments");
	o->name = argv[optind];
	return -1;
}

/* Whether the network mode depends on podman's version (pasta, or rootless podman's default). */
static bool needs_podman_version(const char *network, bool rootless)
{
	if (!network || strcmp(network, "private") == 0)
		return rootless;
	return strncmp(network, "pasta", 5) == 0 && (network[5] == '\0' || network[5] == ':');
}

/*
 * The upstream DNS (--upstream-dns, else what the network gives the
 * container) and the host-loopback gateway that goes with the network.
 */
static int choose_upstream(const struct prepare_opts *o, struct bundle_config *config,
			   struct shield_error *err)
{
	bool rootless = geteuid() != 0;
	struct podman_net net;
	unsigned major = 0;
	int r;

	if (needs_podman_version(o->network, rootless)) {
		_cleanup_free_ char *podman = NULL;

		if (podman_locate(&podman, NULL) >= 0)
			major = podman_major_version(podman);
	}
	r = podman_net_parse(o->network, rootless, major, &net, err);
	if (r < 0)
		return r;
	if (o->upstream) {
		r = addr_parse_host(o->upstream, strlen(o->upstream), &config->upstream, err);
		if (r < 0)
			return shield_error_prefix(err, "--upstream-dns: ");
	} else {
		_cleanup_free_ char *etc = NULL, *resolved = NULL;

		if (net.host_resolver && !net.upstream.family) {
			read_text_file("/etc/resolv.conf", 64 * 1024, &etc, NULL);
			read_text_file("/run/systemd/resolve/resolv.conf", 64 * 1024, &resolved,
				       NULL);
		}
		r = podman_upstream_pick(o->network, &net, etc, resolved, &config->upstream, err);
		if (r < 0)
			return r;
	}
	if (o->n_gateways == 0) {
		if (net.gateway_v4.family)
			config->gateway_v4 = net.gateway_v4;
		else
			default_gateway(&config->upstream, config);
	}
	return 0;
}

void prepared_free(struct prepared *p)
{
	free(p->path);
	free(p->profiles);
	strlist_free(&p->args);
	memset(p, 0, sizeof(*p));
}

int prepare_do(struct cli *cli, const struct prepare_opts *o, struct prepared *out)
{
	struct shield_error err = {0};
	struct bundle_config config;
	struct existing existing = {0};
	_cleanup_strlist_ struct strlist domains = STRLIST_INIT;
	_cleanup_strlist_ struct strlist ips = STRLIST_INIT;
	_cleanup_strlist_ struct strlist eff_domains = STRLIST_INIT;
	_cleanup_free_ char *path = NULL, *dnsmasq_conf = NULL;
	_cleanup_close_ int dirfd = -1;
	struct stat st;
	int r, ret = EXIT_USER;

	memset(out, 0, sizeof(*out));
	bundle_config_init(&config);
	if (cli_check_name(o->name, &err) < 0)
		goto fail;
	snprintf(config.name, sizeof(config.name), "%s", o->name);
	if (o->ports && port_list_parse(o->ports, &config.loopback_ports, &err) < 0) {
		shield_error_prefix(&err, "--loopback-ports: ");
		goto fail;
	}
	if (o->policy && dns_policy_parse(o->policy, &config.dns_policy, &err) < 0)
		goto fail;
	if (o->timeout && duration_parse(o->timeout, &config.set_timeout, &err) < 0) {
		shield_error_prefix(&err, "--set-timeout: ");
		goto fail;
	}
	for (size_t i = 0; i < o->n_gateways; i++) {
		struct addr_prefix gw;

		if (addr_parse_host(o->gateways[i], strlen(o->gateways[i]), &gw, &err) < 0) {
			shield_error_prefix(&err, "--gateway: ");
			goto fail;
		}
		if (gw.family == AF_INET)
			config.gateway_v4 = gw;
		else
			config.gateway_v6 = gw;
	}
	r = choose_upstream(o, &config, &err);
	if (r == -EDESTADDRREQ) {
		ret = cli_usage_error(cli, "%s", err.msg);
		goto out;
	}
	if (r < 0)
		goto fail;
	if (config.loopback_ports.n && !config.gateway_v4.family && !config.gateway_v6.family) {
		char up[ADDR_TEXT_MAX];

		addr_format(&config.upstream, up);
		shield_error_set(&err, -EINVAL,
				 "--loopback-ports needs --gateway: no default gateway is known "
				 "for upstream %s",
				 up);
		goto fail;
	}

	/* Profiles, in the order given, de-duplicated. */
	{
		_cleanup_free_ char *list = strdup(o->profiles);
		char *next;

		if (!list) {
			shield_error_set(&err, -ENOMEM, "out of memory");
			goto fail;
		}
		for (char *tok = list; tok; tok = next) {
			next = strchr(tok, ':');
			if (next)
				*next++ = '\0';
			if (!*tok)
				continue;
			if (strlist_contains(&config.profiles, tok))
				continue;
			if (profile_load(tok, cli->config_dir, cli->data_dir, &domains, &ips,
					 &err) < 0)
				goto fail;
			if (strlist_add(&config.profiles, tok) < 0) {
				shield_error_set(&err, -ENOMEM, "out of memory");
				goto fail;
			}
		}
		if (config.profiles.n == 0) {
			shield_error_set(&err, -EINVAL, "--profiles names no profile");
			goto fail;
		}
	}

	/* The bundle: validate an existing one (and its live lists) before writing. */
	path = cli_bundle_path(cli, o->state_dir, o->name);
	if (!path) {
		shield_error_set(&err, -ENOMEM, "out of memory");
		goto fail;
	}
	/* podman's arguments first: a path they cannot carry is refused before any write. */
	{
		struct podman_args_params pp = {
			.name = o->name,
			.network = o->network,
			.state_dir = path,
			.profiles = &config.profiles,
			.upstream = &config.upstream,
			.loopback_ports = &config.loopback_ports,
			.hooks_dir = o->hooks_dir,
		};

		if (podman_args_build(&pp, &out->args, &err) < 0)
			goto fail;
		out->profiles = strlist_join(&config.profiles, ":");
		if (!out->profiles) {
			shield_error_set(&err, -ENOMEM, "out of memory");
			goto fail;
		}
	}
	if (lstat(path, &st) == 0) {
		dirfd = bundle_open(path, false, &err);
		if (dirfd < 0)
			goto fail;
		if (read_existing(dirfd, &existing, &err) < 0)
			goto fail;
	}
	/* Effective domains, as bundle_effective_domains() will read them back. */
	if (strlist_merge_unique(&eff_domains, &domains, &existing.denied_domains) < 0 ||
	    strlist_merge_unique(&eff_domains, &existing.live_domains, &existing.denied_domains) <
		    0) {
		shield_error_set(&err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (dnsmasq_config_for_bundle(path, &config, &eff_domains, &existing.denied_domains,
				      &dnsmasq_conf, &err) < 0)
		goto fail;

	/* Everything is valid: create and write. */
	if (dirfd < 0) {
		if (!o->state_dir && mkdir_parents(path, &err) < 0)
			goto fail;
		dirfd = bundle_open(path, true, &err);
		if (dirfd < 0)
			goto fail;
	}
	r = write_lists(dirfd, &domains, &ips, &existing, &err);
	if (r >= 0)
		r = bundle_write_file(dirfd, "dnsmasq.conf", dnsmasq_conf, strlen(dnsmasq_conf),
				      &err);
	/* resolv.conf is read by the workload through the bind mount, whatever its user. */
	if (r >= 0)
		r = bundle_write_file_mode(dirfd, "resolv.conf", "nameserver " DNSMASQ_LISTEN "\n",
					   strlen("nameserver " DNSMASQ_LISTEN "\n"), 0644, 0,
					   &err);
	if (r >= 0)
		r = bundle_write_config(dirfd, &config, &err);
	if (r < 0)
		goto fail;
	out->path = TAKE_PTR(path);
	out->n_domains = eff_domains.n;
	out->n_ips = ips.n;
	ret = 0;
	goto out;
fail:
	ret = cli_fail(cli, &err);
out:
	if (ret != 0)
		prepared_free(out);
	existing_free(&existing);
	bundle_config_free(&config);
	return ret;
}

void prepare_summary(const struct prepare_opts *o, const struct prepared *p)
{
	if (o->quiet || o->json)
		return;
	fprintf(stderr, "prepared %s in %s: %zu domains, %zu addresses, profiles %s\n", o->name,
		p->path, p->n_domains, p->n_ips, p->profiles);
}

static int print_json(const struct prepare_opts *o, const struct prepared *p)
{
	json_t *args = json_array(), *root;

	for (size_t i = 0; args && i < p->args.n; i++)
		if (json_array_append_new(args, json_string(p->args.items[i])) < 0) {
			json_decref(args);
			args = NULL;
		}
	root = args ? json_pack("{s:s, s:s, s:o}", "name", o->name, "state_dir", p->path, "args",
				args)
		    : NULL;
	return cli_print_json(root, JSON_COMPACT);
}

int cmd_prepare(struct cli *cli, int argc, char **argv)
{
	struct shield_error err = {0};
	struct prepare_opts o;
	struct prepared p;
	int r = prepare_parse(cli, argc, argv, false, &o);

	if (r >= 0)
		return r;
	r = prepare_do(cli, &o, &p);
	if (r != 0)
		return r;
	if (o.json) {
		r = print_json(&o, &p);
	} else {
		_cleanup_free_ char *line = podman_shell_join(&p.args);

		r = line ? 0 : -ENOMEM;
		if (line)
			puts(line);
	}
	if (r < 0) {
		prepared_free(&p);
		shield_error_set(&err, r, "out of memory");
		return cli_fail(cli, &err);
	}
	prepare_summary(&o, &p);
	prepared_free(&p);
	if (fflush(stdout) != 0) {
		shield_error_set(&err, negative_errno(), "cannot write the podman arguments: %s",
				 strerror(errno));
		return cli_fail(cli, &err);
	}
	return 0;
}
