/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shield prepare: write a container's state bundle. Everything is read and
 * validated before the first write, so bad input leaves no trace.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "shield/dnsmasq-config.h"
#include "shield/profile.h"

#define DEFAULT_PROFILES "dev-standard"

static void prepare_usage(FILE *out)
{
	fprintf(out,
		"Usage: shield prepare NAME --upstream-dns IP [OPTIONS]\n"
		"\n"
		"Write the state bundle for container NAME: the allowlists from the profiles,\n"
		"the settings, dnsmasq.conf and resolv.conf. Live allow/deny lists already in\n"
		"the bundle are kept.\n"
		"\n"
		"Options:\n"
		"  --state-dir DIR        bundle directory (default: STATE_ROOT/containers/NAME)\n"
		"  --profiles A:B         profiles to allow (default: " DEFAULT_PROFILES ")\n"
		"  --upstream-dns IP      DNS server dnsmasq forwards to (required)\n"
		"  --loopback-ports P:Q   TCP ports on the host reachable through the gateway\n"
		"  --gateway IP           gateway address for loopback ports (one IPv4, one IPv6;\n"
		"                         default: 10.0.2.2 with slirp4netns's 10.0.2.3 upstream,\n"
		"                         169.254.1.2 with pasta's 169.254.1.1)\n"
		"  --dns-policy POLICY    strict (forward only allowlisted domains, default) or "
		"open\n"
		"  --set-timeout DURATION lifetime of addresses learnt from DNS (default: 30m)\n"
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

int cmd_prepare(struct cli *cli, int argc, char **argv)
{
	enum {
		OPT_STATE_DIR = 256,
		OPT_PROFILES,
		OPT_UPSTREAM,
		OPT_PORTS,
		OPT_GATEWAY,
		OPT_POLICY,
		OPT_TIMEOUT,
	};
	static const struct option opts[] = {
		{"state-dir", required_argument, NULL, OPT_STATE_DIR},
		{"profiles", required_argument, NULL, OPT_PROFILES},
		{"upstream-dns", required_argument, NULL, OPT_UPSTREAM},
		{"loopback-ports", required_argument, NULL, OPT_PORTS},
		{"gateway", required_argument, NULL, OPT_GATEWAY},
		{"dns-policy", required_argument, NULL, OPT_POLICY},
		{"set-timeout", required_argument, NULL, OPT_TIMEOUT},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *state_dir = NULL, *profiles = DEFAULT_PROFILES, *upstream = NULL;
	const char *ports = NULL, *policy = NULL, *timeout = NULL, *gateways[2] = {0};
	size_t n_gateways = 0;
	struct shield_error err = {0};
	struct bundle_config config;
	struct existing existing = {0};
	_cleanup_strlist_ struct strlist domains = STRLIST_INIT;
	_cleanup_strlist_ struct strlist ips = STRLIST_INIT;
	_cleanup_strlist_ struct strlist eff_domains = STRLIST_INIT;
	_cleanup_free_ char *path = NULL, *dnsmasq_conf = NULL, *pid_path = NULL, *log_path = NULL;
	_cleanup_close_ int dirfd = -1;
	struct stat st;
	const char *name;
	int c, r, ret = EXIT_USER;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_STATE_DIR:
			state_dir = optarg;
			break;
		case OPT_PROFILES:
			profiles = optarg;
			break;
		case OPT_UPSTREAM:
			upstream = optarg;
			break;
		case OPT_PORTS:
			ports = optarg;
			break;
		case OPT_GATEWAY:
			if (n_gateways == 2)
				return cli_usage_error(cli, "--gateway given more than twice");
			gateways[n_gateways++] = optarg;
			break;
		case OPT_POLICY:
			policy = optarg;
			break;
		case OPT_TIMEOUT:
			timeout = optarg;
			break;
		case 'h':
			prepare_usage(stdout);
			return 0;
		default:
			return cli_bad_option(cli, argv);
		}
	}
	if (optind + 1 != argc)
		return cli_usage_error(cli, optind >= argc ? "missing container NAME"
							   : "too many arguments");
	name = argv[optind];
	if (!upstream)
		return cli_usage_error(cli, "--upstream-dns is required");

	bundle_config_init(&config);
	if (cli_check_name(name, &err) < 0)
		goto fail;
	snprintf(config.name, sizeof(config.name), "%s", name);
	if (addr_parse_host(upstream, strlen(upstream), &config.upstream, &err) < 0) {
		shield_error_prefix(&err, "--upstream-dns: ");
		goto fail;
	}
	if (ports && port_list_parse(ports, &config.loopback_ports, &err) < 0) {
		shield_error_prefix(&err, "--loopback-ports: ");
		goto fail;
	}
	if (policy && dns_policy_parse(policy, &config.dns_policy, &err) < 0)
		goto fail;
	if (timeout && duration_parse(timeout, &config.set_timeout, &err) < 0) {
		shield_error_prefix(&err, "--set-timeout: ");
		goto fail;
	}
	for (size_t i = 0; i < n_gateways; i++) {
		struct addr_prefix gw;

		if (addr_parse_host(gateways[i], strlen(gateways[i]), &gw, &err) < 0) {
			shield_error_prefix(&err, "--gateway: ");
			goto fail;
		}
		if (gw.family == AF_INET)
			config.gateway_v4 = gw;
		else
			config.gateway_v6 = gw;
	}
	if (n_gateways == 0)
		default_gateway(&config.upstream, &config);
	if (config.loopback_ports.n && !config.gateway_v4.family && !config.gateway_v6.family) {
		shield_error_set(&err, -EINVAL,
				 "--loopback-ports needs --gateway: no default gateway is known "
				 "for upstream %s",
				 upstream);
		goto fail;
	}

	/* Profiles, in the order given, de-duplicated. */
	{
		_cleanup_free_ char *list = strdup(profiles);
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
	path = cli_bundle_path(cli, state_dir, name);
	if (path && path[0] != '/') {
		_cleanup_free_ char *cwd = getcwd(NULL, 0);
		char *abs = NULL;

		if (!cwd || asprintf(&abs, "%s/%s", cwd, path) < 0) {
			shield_error_set(&err, -ENOMEM, "cannot make %s absolute", path);
			goto fail;
		}
		free(path);
		path = abs;
	}
	if (!path) {
		shield_error_set(&err, -ENOMEM, "out of memory");
		goto fail;
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
	if (asprintf(&pid_path, "%s/dnsmasq.pid", path) < 0 ||
	    asprintf(&log_path, "%s/dnsmasq.log", path) < 0) {
		shield_error_set(&err, -ENOMEM, "out of memory");
		goto fail;
	}
	{
		struct dnsmasq_params dp = {
			.upstream = &config.upstream,
			.domains = &eff_domains,
			.denied = &existing.denied_domains,
			.pid_path = pid_path,
			.log_path = log_path,
			.policy = config.dns_policy,
			.set_timeout = config.set_timeout,
		};

		if (dnsmasq_config_generate(&dp, &dnsmasq_conf, &err) < 0)
			goto fail;
	}

	/* Everything is valid: create and write. */
	if (dirfd < 0) {
		if (!state_dir && mkdir_parents(path, &err) < 0)
			goto fail;
		dirfd = bundle_open(path, true, &err);
		if (dirfd < 0)
			goto fail;
	}
	r = write_lists(dirfd, &domains, &ips, &existing, &err);
	if (r >= 0)
		r = bundle_write_file(dirfd, "dnsmasq.conf", dnsmasq_conf, strlen(dnsmasq_conf),
				      &err);
	if (r >= 0)
		r = bundle_write_file(dirfd, "resolv.conf", "nameserver " DNSMASQ_LISTEN "\n",
				      strlen("nameserver " DNSMASQ_LISTEN "\n"), &err);
	if (r >= 0)
		r = bundle_write_config(dirfd, &config, &err);
	if (r < 0)
		goto fail;
	printf("prepared %s in %s: %zu domains, %zu addresses, profiles %s\n", name, path,
	       eff_domains.n, ips.n, profiles);
	ret = 0;
	goto out;
fail:
	ret = cli_fail(cli, &err);
out:
	existing_free(&existing);
	bundle_config_free(&config);
	return ret;
}
