/* SPDX-License-Identifier: Apache-2.0 */
/* The podman side of a shielded container: network modes, run arguments, refusals, quoting. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shield/bundle.h"
#include "shield/dnsmasq-config.h"
#include "shield/podman-args.h"

/* ------------------------------------------------------------ network modes */

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Whether s is WORD or starts with "WORD:" (a mode with options). */
static bool is_mode(const char *s, const char *word)
{
	size_t n = strlen(word);

	return strncmp(s, word, n) == 0 && (s[n] == '\0' || s[n] == ':');
}

static void set_addr(struct addr_prefix *a, const char *text)
{
	addr_parse_host(text, strlen(text), a, NULL);
}

/*
 * slirp4netns's cidr= option moves its addresses: the gateway (the host's
 * loopback) is the network address + 2 and the DNS forwarder + 3.
 */
static int slirp_options(const char *opts, struct podman_net *out, struct shield_error *err)
{
	const char *p = opts;

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n > 5 && strncmp(p, "cidr=", 5) == 0) {
			struct addr_prefix net;
			char q[SHIELD_QUOTE_MAX];
			uint32_t base;

			if (addr_parse(p + 5, n - 5, &net, err) < 0 || net.family != AF_INET ||
			    net.plen > 29)
				return shield_error_set(
					err, -EINVAL,
					"--network slirp4netns: cidr %s is not an IPv4 "
					"network of at least 8 addresses",
					shield_quote(p + 5, n - 5, q));
			base = (uint32_t)net.addr[0] << 24 | (uint32_t)net.addr[1] << 16 |
			       (uint32_t)net.addr[2] << 8 | net.addr[3];
			out->gateway_v4 = net;
			out->gateway_v4.plen = 32;
			out->upstream = out->gateway_v4;
			out->gateway_v4.addr[3] = (uint8_t)(base + 2);
			out->upstream.addr[3] = (uint8_t)(base + 3);
		}
		p = end ? end + 1 : NULL;
	}
	return 0;
}

int podman_net_parse(const char *mode, bool rootless, unsigned podman_major, struct podman_net *out,
		     struct shield_error *err)
{
	char q[SHIELD_QUOTE_MAX];

	memset(out, 0, sizeof(*out));
	if (mode && !*mode)
		return shield_error_set(err, -EINVAL, "--network: empty value");
	if (mode && (strcmp(mode, "host") == 0 || has_prefix(mode, "host:")))
		return shield_error_set(
			err, -EINVAL,
			"--network host: the container would share the host's network "
			"namespace, which shield cannot firewall for one container");
	if (mode && (strcmp(mode, "none") == 0 || has_prefix(mode, "none:")))
		return shield_error_set(err, -EINVAL,
					"--network none: the container has no network, so there is "
					"nothing to firewall");
	if (mode && has_prefix(mode, "container:"))
		return shield_error_set(
			err, -EINVAL,
			"--network %s: the container would share another container's "
			"network namespace, which shield does not firewall per container",
			shield_quote(mode, strlen(mode), q));
	if (!mode || strcmp(mode, "private") == 0) {
		if (!rootless)
			mode = "bridge";
		else
			mode = podman_major >= 5 ? "pasta" : "slirp4netns";
	}

	if (is_mode(mode, "slirp4netns")) {
		out->kind = PODMAN_NET_SLIRP4NETNS;
		set_addr(&out->upstream, PODMAN_SLIRP4NETNS_DNS);
		set_addr(&out->gateway_v4, PODMAN_SLIRP4NETNS_GATEWAY);
		if (mode[strlen("slirp4netns")] == ':')
			return slirp_options(mode + strlen("slirp4netns:"), out, err);
		return 0;
	}
	if (is_mode(mode, "pasta")) {
		out->kind = PODMAN_NET_PASTA;
		/* Before podman 5, pasta passed the host's nameservers on as they were. */
		if (podman_major && podman_major < 5) {
			out->host_resolver = true;
			return 0;
		}
		set_addr(&out->upstream, PODMAN_PASTA_DNS);
		set_addr(&out->gateway_v4, PODMAN_PASTA_GATEWAY);
		return 0;
	}
	if (is_mode(mode, "bridge") || is_mode(mode, "podman")) {
		out->kind = PODMAN_NET_BRIDGE;
		out->host_resolver = true;
		return 0;
	}
	if (has_prefix(mode, "ns:")) {
		if (!mode[3])
			return shield_error_set(err, -EINVAL,
						"--network ns: needs a path (ns:PATH)");
		out->kind = PODMAN_NET_NS;
		return 0;
	}
	if (strcmp(mode, "slirp") == 0 || has_prefix(mode, "slirp:"))
		return shield_error_set(err, -EINVAL, "--network %s: podman spells it slirp4netns",
					shield_quote(mode, strlen(mode), q));
	out->kind = PODMAN_NET_NAMED;
	return 0;
}

/* ---------------------------------------------------------------- resolv.conf */

static bool is_loopback(const struct addr_prefix *a)
{
	static const uint8_t v6_loopback[16] = {[15] = 1};

	if (a->family == AF_INET)
		return a->addr[0] == 127;
	return memcmp(a->addr, v6_loopback, 16) == 0;
}

static bool is_link_local_v6(const struct addr_prefix *a)
{
	return a->family == AF_INET6 && a->addr[0] == 0xfe && (a->addr[1] & 0xc0) == 0x80;
}

int podman_resolv_nameserver(const char *text, size_t len, struct addr_prefix *out,
			     bool *loopback_seen)
{
	struct addr_prefix v6 = {0};
	size_t pos = 0;

	if (loopback_seen)
		*loopback_seen = false;
	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		const char *w, *end = line + n;
		struct addr_prefix a;

		pos += n + (nl ? 1 : 0);
		/* "nameserver" at the start of the line, then blanks, then the address. */
		if (n < 11 || strncmp(line, "nameserver", 10) != 0 ||
		    (line[10] != ' ' && line[10] != '\t'))
			continue;
		for (w = line + 10; w < end && (*w == ' ' || *w == '\t'); w++)
			;
		n = 0;
		while (w + n < end && !isspace((unsigned char)w[n]) && w[n] != '#' && w[n] != ';')
			n++;
		if (n == 0 || memchr(w, '%', n) || addr_parse_host(w, n, &a, NULL) < 0)
			continue;
		if (is_loopback(&a)) {
			if (loopback_seen)
				*loopback_seen = true;
			continue;
		}
		if (a.family == AF_INET) {
			*out = a;
			return 0;
		}
		if (!v6.family && !is_link_local_v6(&a))
			v6 = a;
	}
	if (!v6.family)
		return -ENOENT;
	*out = v6;
	return 0;
}

int podman_upstream_pick(const char *mode_text, const struct podman_net *net,
			 const char *etc_resolv, const char *resolved, struct addr_prefix *out,
			 struct shield_error *err)
{
	char q[SHIELD_QUOTE_MAX];
	const char *shown = mode_text ? shield_quote(mode_text, strlen(mode_text), q) : "(default)";
	bool loopback = false;

	if (net->upstream.family) {
		*out = net->upstream;
		return 0;
	}
	if (net->kind == PODMAN_NET_NS)
		return shield_error_set(err, -EDESTADDRREQ,
					"--network %s: shield cannot tell which DNS server that "
					"namespace reaches; give --upstream-dns",
					shown);
	if (!net->host_resolver)
		return shield_error_set(err, -EDESTADDRREQ,
					"--network %s: a named network's DNS server depends on its "
					"settings (its gateway when dns_enabled, else the host's); "
					"give --upstream-dns",
					shown);
	if (!etc_resolv)
		return shield_error_set(err, -ENOENT,
					"cannot read /etc/resolv.conf for the host's nameserver "
					"(podman's %s network uses it); give --upstream-dns",
					mode_text ? "chosen" : "default");
	if (podman_resolv_nameserver(etc_resolv, strlen(etc_resolv), out, &loopback) == 0)
		return 0;
	/* systemd-resolved's stub: podman then uses the servers resolved itself talks to. */
	if (loopback && resolved &&
	    podman_resolv_nameserver(resolved, strlen(resolved), out, NULL) == 0)
		return 0;
	return shield_error_set(
		err, -ENOENT,
		"/etc/resolv.conf names no nameserver a container can reach%s; "
		"give --upstream-dns",
		loopback ? (resolved ? " (only loopback ones, and "
				       "/run/systemd/resolve/resolv.conf none either)"
				     : " (only loopback ones)")
			 : "");
}

/* ------------------------------------------------------------- run arguments */

/* Whether a path can travel in podman's --annotation, --hooks-dir and --volume values. */
static int check_path_word(const char *what, const char *path, struct shield_error *err)
{
	char q[SHIELD_QUOTE_MAX];

	for (const char *p = path; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == ',' || c == ':' || c < 0x20 || c == 0x7f)
			return shield_error_set(
				err, -EINVAL,
				"%s %s holds %s, which podman's --annotation, "
				"--hooks-dir and --volume values cannot carry; choose "
				"another path",
				what, shield_quote(path, strlen(path), q),
				c == ','   ? "','"
				: c == ':' ? "':'"
					   : "a control character");
	}
	return 0;
}

static int add2(struct strlist *out, const char *opt, const char *fmt, ...) _printf_(3, 4);

static int add2(struct strlist *out, const char *opt, const char *fmt, ...)
{
	_cleanup_free_ char *value = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&value, fmt, ap);
	va_end(ap);
	if (r < 0) {
		value = NULL;
		return -ENOMEM;
	}
	r = strlist_add(out, opt);
	return r < 0 ? r : strlist_add(out, value);
}

int podman_args_build(const struct podman_args_params *p, struct strlist *out,
		      struct shield_error *err)
{
	_cleanup_free_ char *profiles = NULL;
	char upstream[ADDR_TEXT_MAX], ports[SHIELD_PORTS_MAX * 6 + 1];
	int r = 0;

	if (!p->state_dir || p->state_dir[0] != '/')
		return shield_error_set(err, -EINVAL, "the bundle path must be absolute");
	if (check_path_word("bundle path", p->state_dir, err) < 0)
		return -EINVAL;
	if (p->hooks_dir && p->hooks_dir[0] != '/')
		return shield_error_set(err, -EINVAL, "--hooks-dir must be an absolute path");
	if (p->hooks_dir && check_path_word("hooks dir", p->hooks_dir, err) < 0)
		return -EINVAL;
	if (!p->profiles || p->profiles->n == 0)
		return shield_error_set(err, -EINVAL, "no profiles");
	profiles = strlist_join(p->profiles, ":");
	if (!profiles)
		return shield_error_set(err, -ENOMEM, "out of memory");
	addr_format(p->upstream, upstream);

	if (p->hooks_dir)
		r = add2(out, "--hooks-dir", "%s", p->hooks_dir);
	if (r >= 0)
		r = add2(out, "--name", "%s", p->name);
	if (r >= 0 && p->network)
		r = add2(out, "--network", "%s", p->network);
	if (r >= 0)
		r = add2(out, "--annotation", "terok.shield.profiles=%s", profiles);
	if (r >= 0)
		r = add2(out, "--annotation", "terok.shield.state_dir=%s", p->state_dir);
	if (r >= 0)
		r = add2(out, "--annotation", "terok.shield.name=%s", p->name);
	if (r >= 0)
		r = add2(out, "--annotation", "terok.shield.version=%d", BUNDLE_FORMAT_VERSION);
	if (r >= 0)
		r = add2(out, "--annotation", "terok.shield.upstream_dns=%s", upstream);
	if (r >= 0)
		r = add2(out, "--annotation", "terok.shield.dns_tier=dnsmasq");
	if (r >= 0 && p->loopback_ports && p->loopback_ports->n) {
		port_list_format(p->loopback_ports, ports, sizeof(ports));
		r = add2(out, "--annotation", "terok.shield.loopback_ports=%s", ports);
	}
	if (r >= 0)
		r = add2(out, "--cap-drop", "NET_ADMIN");
	if (r >= 0)
		r = add2(out, "--cap-drop", "NET_RAW");
	if (r >= 0)
		r = add2(out, "--volume", "%s/resolv.conf:" PODMAN_RESOLV_CONF ":ro", p->state_dir);
	if (r < 0)
		return shield_error_set(err, -ENOMEM, "out of memory");
	return 0;
}

/* ---------------------------------------------------- the user's podman args */

enum opt_check {
	CHK_NONE,
	CHK_NAME,
	CHK_ANNOTATION,
	CHK_HOOKS_DIR,
	CHK_CAP_ADD,
	CHK_NETWORK,
	CHK_DNS,
	CHK_PRIVILEGED,
	CHK_POD,
	CHK_VOLUME,
	CHK_MOUNT,
	CHK_TMPFS,
};

struct opt_spec {
	const char *name; /* long name without "--" */
	char shorthand;	  /* 0 = none */
	bool value;	  /* takes a value */
	enum opt_check check;
};

/*
 * `podman run` options and podman's global ones (which podman also takes
 * after "run"), podman 4.3 to 5.x, hidden aliases included. Whether an
 * option takes a value decides where the options end, so this table must
 * know every option a user may write without "=".
 */
static const struct opt_spec opt_specs[] = {
	/* Managed by shield. */
	{"name", 0, true, CHK_NAME},
	{"annotation", 0, true, CHK_ANNOTATION},
	{"hooks-dir", 0, true, CHK_HOOKS_DIR},
	{"cap-add", 0, true, CHK_CAP_ADD},
	{"network", 0, true, CHK_NETWORK},
	{"net", 0, true, CHK_NETWORK},
	{"dns", 0, true, CHK_DNS},
	{"dns-search", 0, true, CHK_DNS},
	{"dns-option", 0, true, CHK_DNS},
	{"dns-opt", 0, true, CHK_DNS},
	{"privileged", 0, false, CHK_PRIVILEGED},
	{"pod", 0, true, CHK_POD},
	{"pod-id-file", 0, true, CHK_POD},
	{"volume", 'v', true, CHK_VOLUME},
	{"mount", 0, true, CHK_MOUNT},
	{"tmpfs", 0, true, CHK_TMPFS},
	/* podman run, with a value. */
	{"add-host", 0, true, CHK_NONE},
	{"arch", 0, true, CHK_NONE},
	{"attach", 'a', true, CHK_NONE},
	{"authfile", 0, true, CHK_NONE},
	{"blkio-weight", 0, true, CHK_NONE},
	{"blkio-weight-device", 0, true, CHK_NONE},
	{"cap-drop", 0, true, CHK_NONE},
	{"cert-dir", 0, true, CHK_NONE},
	{"cgroup-conf", 0, true, CHK_NONE},
	{"cgroup-parent", 0, true, CHK_NONE},
	{"cgroupns", 0, true, CHK_NONE},
	{"cgroups", 0, true, CHK_NONE},
	{"chrootdirs", 0, true, CHK_NONE},
	{"cidfile", 0, true, CHK_NONE},
	{"conmon-pidfile", 0, true, CHK_NONE},
	{"cpu-period", 0, true, CHK_NONE},
	{"cpu-quota", 0, true, CHK_NONE},
	{"cpu-rt-period", 0, true, CHK_NONE},
	{"cpu-rt-runtime", 0, true, CHK_NONE},
	{"cpu-shares", 'c', true, CHK_NONE},
	{"cpus", 0, true, CHK_NONE},
	{"cpuset-cpus", 0, true, CHK_NONE},
	{"cpuset-mems", 0, true, CHK_NONE},
	{"creds", 0, true, CHK_NONE},
	{"decryption-key", 0, true, CHK_NONE},
	{"detach-keys", 0, true, CHK_NONE},
	{"device", 0, true, CHK_NONE},
	{"device-cgroup-rule", 0, true, CHK_NONE},
	{"device-read-bps", 0, true, CHK_NONE},
	{"device-read-iops", 0, true, CHK_NONE},
	{"device-write-bps", 0, true, CHK_NONE},
	{"device-write-iops", 0, true, CHK_NONE},
	{"entrypoint", 0, true, CHK_NONE},
	{"env", 'e', true, CHK_NONE},
	{"env-file", 0, true, CHK_NONE},
	{"env-merge", 0, true, CHK_NONE},
	{"expose", 0, true, CHK_NONE},
	{"gidmap", 0, true, CHK_NONE},
	{"gpus", 0, true, CHK_NONE},
	{"group-add", 0, true, CHK_NONE},
	{"group-entry", 0, true, CHK_NONE},
	{"health-cmd", 0, true, CHK_NONE},
	{"health-interval", 0, true, CHK_NONE},
	{"health-log-destination", 0, true, CHK_NONE},
	{"health-max-log-count", 0, true, CHK_NONE},
	{"health-max-log-size", 0, true, CHK_NONE},
	{"health-on-failure", 0, true, CHK_NONE},
	{"health-retries", 0, true, CHK_NONE},
	{"health-start-period", 0, true, CHK_NONE},
	{"health-startup-cmd", 0, true, CHK_NONE},
	{"health-startup-interval", 0, true, CHK_NONE},
	{"health-startup-retries", 0, true, CHK_NONE},
	{"health-startup-success", 0, true, CHK_NONE},
	{"health-startup-timeout", 0, true, CHK_NONE},
	{"health-timeout", 0, true, CHK_NONE},
	{"hostname", 'h', true, CHK_NONE},
	{"hosts-file", 0, true, CHK_NONE},
	{"hostuser", 0, true, CHK_NONE},
	{"image-volume", 0, true, CHK_NONE},
	{"init-path", 0, true, CHK_NONE},
	{"ip", 0, true, CHK_NONE},
	{"ip6", 0, true, CHK_NONE},
	{"ipc", 0, true, CHK_NONE},
	{"kernel-memory", 0, true, CHK_NONE},
	{"label", 'l', true, CHK_NONE},
	{"label-file", 0, true, CHK_NONE},
	{"log-driver", 0, true, CHK_NONE},
	{"log-opt", 0, true, CHK_NONE},
	{"mac-address", 0, true, CHK_NONE},
	{"memory", 'm', true, CHK_NONE},
	{"memory-reservation", 0, true, CHK_NONE},
	{"memory-swap", 0, true, CHK_NONE},
	{"memory-swappiness", 0, true, CHK_NONE},
	{"network-alias", 0, true, CHK_NONE},
	{"oom-score-adj", 0, true, CHK_NONE},
	{"os", 0, true, CHK_NONE},
	{"passwd-entry", 0, true, CHK_NONE},
	{"personality", 0, true, CHK_NONE},
	{"pid", 0, true, CHK_NONE},
	{"pidfile", 0, true, CHK_NONE},
	{"pids-limit", 0, true, CHK_NONE},
	{"platform", 0, true, CHK_NONE},
	{"preserve-fd", 0, true, CHK_NONE},
	{"preserve-fds", 0, true, CHK_NONE},
	{"publish", 'p', true, CHK_NONE},
	{"pull", 0, true, CHK_NONE},
	{"rdt-class", 0, true, CHK_NONE},
	{"requires", 0, true, CHK_NONE},
	{"restart", 0, true, CHK_NONE},
	{"retry", 0, true, CHK_NONE},
	{"retry-delay", 0, true, CHK_NONE},
	{"sdnotify", 0, true, CHK_NONE},
	{"seccomp-policy", 0, true, CHK_NONE},
	{"secret", 0, true, CHK_NONE},
	{"security-opt", 0, true, CHK_NONE},
	{"shm-size", 0, true, CHK_NONE},
	{"shm-size-systemd", 0, true, CHK_NONE},
	{"stop-signal", 0, true, CHK_NONE},
	{"stop-timeout", 0, true, CHK_NONE},
	{"subgidname", 0, true, CHK_NONE},
	{"subuidname", 0, true, CHK_NONE},
	{"sysctl", 0, true, CHK_NONE},
	{"systemd", 0, true, CHK_NONE},
	{"timeout", 0, true, CHK_NONE},
	{"tz", 0, true, CHK_NONE},
	{"uidmap", 0, true, CHK_NONE},
	{"ulimit", 0, true, CHK_NONE},
	{"umask", 0, true, CHK_NONE},
	{"unsetenv", 0, true, CHK_NONE},
	{"user", 'u', true, CHK_NONE},
	{"userns", 0, true, CHK_NONE},
	{"uts", 0, true, CHK_NONE},
	{"variant", 0, true, CHK_NONE},
	{"volumes-from", 0, true, CHK_NONE},
	{"workdir", 'w', true, CHK_NONE},
	/* podman run, switches. */
	{"detach", 'd', false, CHK_NONE},
	{"disable-content-trust", 0, false, CHK_NONE},
	{"env-host", 0, false, CHK_NONE},
	{"help", 0, false, CHK_NONE},
	{"http-proxy", 0, false, CHK_NONE},
	{"init", 0, false, CHK_NONE},
	{"interactive", 'i', false, CHK_NONE},
	{"no-healthcheck", 0, false, CHK_NONE},
	{"no-hostname", 0, false, CHK_NONE},
	{"no-hosts", 0, false, CHK_NONE},
	{"oom-kill-disable", 0, false, CHK_NONE},
	{"passwd", 0, false, CHK_NONE},
	{"publish-all", 'P', false, CHK_NONE},
	{"quiet", 'q', false, CHK_NONE},
	{"read-only", 0, false, CHK_NONE},
	{"read-only-tmpfs", 0, false, CHK_NONE},
	{"replace", 0, false, CHK_NONE},
	{"rm", 0, false, CHK_NONE},
	{"rmi", 0, false, CHK_NONE},
	{"rootfs", 0, false, CHK_NONE},
	{"sig-proxy", 0, false, CHK_NONE},
	{"tls-verify", 0, false, CHK_NONE},
	{"tty", 't', false, CHK_NONE},
	{"unsetenv-all", 0, false, CHK_NONE},
	/* podman's global options. */
	{"cdi-spec-dir", 0, true, CHK_NONE},
	{"cgroup-manager", 0, true, CHK_NONE},
	{"cni-config-dir", 0, true, CHK_NONE},
	{"config", 0, true, CHK_NONE},
	{"conmon", 0, true, CHK_NONE},
	{"connection", 0, true, CHK_NONE},
	{"cpu-profile", 0, true, CHK_NONE},
	{"db-backend", 0, true, CHK_NONE},
	{"default-mounts-file", 0, true, CHK_NONE},
	{"events-backend", 0, true, CHK_NONE},
	{"identity", 0, true, CHK_NONE},
	{"imagestore", 0, true, CHK_NONE},
	{"log-level", 0, true, CHK_NONE},
	{"memory-profile", 0, true, CHK_NONE},
	{"module", 0, true, CHK_NONE},
	{"namespace", 0, true, CHK_NONE},
	{"network-cmd-path", 0, true, CHK_NONE},
	{"network-config-dir", 0, true, CHK_NONE},
	{"out", 0, true, CHK_NONE},
	{"registries-conf", 0, true, CHK_NONE},
	{"root", 0, true, CHK_NONE},
	{"runroot", 0, true, CHK_NONE},
	{"runtime", 0, true, CHK_NONE},
	{"runtime-flag", 0, true, CHK_NONE},
	{"ssh", 0, true, CHK_NONE},
	{"storage-driver", 0, true, CHK_NONE},
	{"storage-opt", 0, true, CHK_NONE},
	{"tmpdir", 0, true, CHK_NONE},
	{"url", 0, true, CHK_NONE},
	{"volumepath", 0, true, CHK_NONE},
	{"noout", 0, false, CHK_NONE},
	{"remote", 'r', false, CHK_NONE},
	{"syslog", 0, false, CHK_NONE},
	{"trace", 0, false, CHK_NONE},
	{"transient-store", 0, false, CHK_NONE},
};

static const struct opt_spec *spec_long(const char *name, size_t n)
{
	for (size_t i = 0; i < ARRAY_SIZE(opt_specs); i++)
		if (strlen(opt_specs[i].name) == n && strncmp(opt_specs[i].name, name, n) == 0)
			return &opt_specs[i];
	return NULL;
}

static const struct opt_spec *spec_short(char c)
{
	for (size_t i = 0; i < ARRAY_SIZE(opt_specs); i++)
		if (opt_specs[i].shorthand == c)
			return &opt_specs[i];
	return NULL;
}

/*
 * The next comma-separated field of a value, the way podman's CSV-read
 * options split it: blanks around it and one pair of double quotes removed.
 * Returns false at the end.
 */
static bool next_field(const char **pos, const char **field, size_t *n)
{
	const char *p = *pos, *start, *end;

	if (!p)
		return false;
	start = p;
	if (*p == '"') {
		const char *close = strchr(p + 1, '"');

		p = close ? close + 1 : p + strlen(p);
	}
	end = strchr(p, ',');
	if (!end)
		end = p + strlen(p);
	*pos = *end ? end + 1 : NULL;
	while (start < end && isspace((unsigned char)*start))
		start++;
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	if (end - start >= 2 && *start == '"' && end[-1] == '"') {
		start++;
		end--;
	}
	*field = start;
	*n = (size_t)(end - start);
	return true;
}

/* Whether a container path, cleaned lexically ("//", ".", "..", trailing '/'), is /etc/resolv.conf. */
static bool is_resolv_conf(const char *path, size_t len)
{
	/* The components kept so far, as offsets and lengths into path. */
	_cleanup_free_ size_t *off = calloc(len / 2 + 1, sizeof(*off));
	_cleanup_free_ size_t *lens = calloc(len / 2 + 1, sizeof(*lens));
	size_t n = 0, i = 0;

	if (!off || !lens)
		return true; /* cannot tell: the caller refuses */
	while (i < len) {
		size_t start, plen;

		while (i < len && path[i] == '/')
			i++;
		start = i;
		while (i < len && path[i] != '/')
			i++;
		plen = i - start;
		if (plen == 0 || (plen == 1 && path[start] == '.'))
			continue;
		if (plen == 2 && path[start] == '.' && path[start + 1] == '.') {
			if (n)
				n--;
			continue;
		}
		off[n] = start;
		lens[n++] = plen;
	}
	return n == 2 && lens[0] == 3 && memcmp(path + off[0], "etc", 3) == 0 && lens[1] == 11 &&
	       memcmp(path + off[1], "resolv.conf", 11) == 0;
}

/* The refused capabilities: each lets the workload rewrite, bypass or step around its firewall. */
static const char *const refused_caps[] = {
	"ALL", "NET_ADMIN", "NET_RAW", "SYS_ADMIN", "SYS_MODULE", "SYS_RAWIO", "SYS_PTRACE", "BPF",
};

static bool cap_refused(const char *cap, size_t n)
{
	if (n > 4 && strncasecmp(cap, "CAP_", 4) == 0) {
		cap += 4;
		n -= 4;
	}
	for (size_t i = 0; i < ARRAY_SIZE(refused_caps); i++)
		if (strlen(refused_caps[i]) == n && strncasecmp(refused_caps[i], cap, n) == 0)
			return true;
	return false;
}

/* strconv.ParseBool's false spellings: anything else enables a switch (or podman refuses it). */
static bool is_false(const char *v)
{
	static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};

	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		if (strcmp(v, no[i]) == 0)
			return true;
	return false;
}

/* The destination of a --volume value: SRC:DEST[:OPTS], or DEST alone (an anonymous volume). */
static bool volume_hits(const char *v)
{
	const char *c1 = strchr(v, ':');

	if (!c1)
		return is_resolv_conf(v, strlen(v));
	v = c1 + 1;
	c1 = strchr(v, ':');
	return is_resolv_conf(v, c1 ? (size_t)(c1 - v) : strlen(v));
}

/* The destination of a --mount value: destination=, dst= or target= among its fields. */
static bool mount_hits(const char *v)
{
	static const char *const keys[] = {"destination=", "dst=", "target="};
	const char *pos = v, *f;
	size_t n;

	while (next_field(&pos, &f, &n))
		for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
			size_t kl = strlen(keys[i]);

			if (n >= kl && strncasecmp(f, keys[i], kl) == 0 &&
			    is_resolv_conf(f + kl, n - kl))
				return true;
		}
	return false;
}

/* spelled is an option of the table (safe to print); value is the user's, quoted. */
static int refuse(struct shield_error *err, const char *spelled, const char *value, const char *why)
{
	char q[SHIELD_QUOTE_MAX];

	if (value)
		return shield_error_set(err, -EPERM, "podman option %s %s is refused: %s", spelled,
					shield_quote(value, strlen(value), q), why);
	return shield_error_set(err, -EPERM, "podman option %s is refused: %s", spelled, why);
}

/* Apply a managed option's check to its value (NULL for a switch without "=VALUE"). */
static int check_value(const struct opt_spec *spec, const char *spelled, const char *value,
		       struct shield_error *err)
{
	const char *pos, *f;
	size_t n;

	switch (spec->check) {
	case CHK_NONE:
		return 0;
	case CHK_NAME:
		return refuse(err, spelled, NULL,
			      "shield names the container after its bundle (shield run NAME)");
	case CHK_ANNOTATION:
		pos = value;
		while (next_field(&pos, &f, &n))
			if (n >= 13 && strncasecmp(f, "terok.shield.", 13) == 0)
				return refuse(err, spelled, value,
					      "terok.shield.* annotations are shield's own; they "
					      "tell the hook which bundle to apply");
		return 0;
	case CHK_HOOKS_DIR:
		return refuse(err, spelled, NULL,
			      "podman must find shield's hook where 'shield setup' installed it "
			      "(use 'shield run --hooks-dir DIR' for another directory)");
	case CHK_CAP_ADD:
		pos = value;
		while (next_field(&pos, &f, &n))
			if (cap_refused(f, n))
				return refuse(
					err, spelled, value,
					"ALL, NET_ADMIN, NET_RAW, SYS_ADMIN, SYS_MODULE, "
					"SYS_RAWIO, SYS_PTRACE and BPF let the workload rewrite, "
					"bypass or step around its firewall (other capabilities "
					"are allowed)");
		return 0;
	case CHK_NETWORK:
		return refuse(err, spelled, NULL,
			      "give --network before '--' (shield run --network MODE) so shield "
			      "picks the DNS upstream that goes with it");
	case CHK_DNS:
		return refuse(err, spelled, NULL,
			      "the container's resolver is shield's dnsmasq (choose its upstream "
			      "with --upstream-dns)");
	case CHK_PRIVILEGED:
		if (value && is_false(value))
			return 0;
		return refuse(err, spelled, NULL,
			      "it gives back NET_ADMIN and NET_RAW, with which the workload could "
			      "rewrite or bypass its firewall");
	case CHK_POD:
		return refuse(err, spelled, NULL,
			      "a pod's containers share one network namespace, and shield "
			      "firewalls a container's own");
	case CHK_VOLUME:
	case CHK_MOUNT:
	case CHK_TMPFS:
		if ((spec->check == CHK_VOLUME && volume_hits(value)) ||
		    (spec->check == CHK_MOUNT && mount_hits(value)) ||
		    (spec->check == CHK_TMPFS && is_resolv_conf(value, strcspn(value, ":"))))
			return refuse(
				err, spelled, value,
				"/etc/resolv.conf is shield's read-only mount that points the "
				"container at its dnsmasq");
		return 0;
	}
	return 0;
}

/* One long option at argv[*i] ("--name[=value]"); advances *i past its value. */
static int scan_long(char *const *argv, size_t argc, size_t *i, struct shield_error *err)
{
	const char *arg = argv[*i], *name = arg + 2, *eq = strchr(name, '=');
	size_t n = eq ? (size_t)(eq - name) : strlen(name);
	const struct opt_spec *spec = spec_long(name, n);
	_cleanup_free_ char *spelled = strndup(arg, (size_t)(name - arg) + n);
	const char *value = eq ? eq + 1 : NULL;
	char q[SHIELD_QUOTE_MAX];

	if (!spelled)
		return shield_error_set(err, -ENOMEM, "out of memory");
	if (!spec) {
		bool plain = true;

		if (eq)
			return 0; /* self-contained: podman judges it */
		for (const char *p = arg; *p; p++)
			plain = plain && (isalnum((unsigned char)*p) || *p == '-' || *p == '_');
		return shield_error_set(
			err, -EINVAL,
			"podman option %s is not known to shield, which cannot tell "
			"whether the next word is its value; write it as %s=VALUE "
			"(or %s=true for a switch)",
			shield_quote(arg, strlen(arg), q), plain ? arg : "--OPTION",
			plain ? arg : "--OPTION");
	}
	if (spec->value && !eq) {
		if (*i + 1 >= argc)
			return shield_error_set(err, -EINVAL, "podman option %s needs a value",
						spelled);
		value = argv[++*i];
	}
	return check_value(spec, spelled, value, err);
}

/* Grouped short options at argv[*i] ("-it", "-v/a:/b", "-dv", "-v=/a:/b"). */
static int scan_short(char *const *argv, size_t argc, size_t *i, struct shield_error *err)
{
	const char *arg = argv[*i];

	for (const char *c = arg + 1; *c; c++) {
		const struct opt_spec *spec = spec_short(*c);
		char spelled[3] = {'-', *c, '\0'}, bad[8], q[SHIELD_QUOTE_MAX];
		const char *value = NULL;
		int r;

		if (!spec)
			return shield_error_set(err, -EINVAL,
						"podman option %s (in %s) is not known to shield",
						isgraph((unsigned char)*c)
							? spelled
							: shield_quote_char((unsigned char)*c, bad),
						shield_quote(arg, strlen(arg), q));
		if (spec->value) {
			if (c[1])
				value = c[1] == '=' ? c + 2 : c + 1;
			else if (*i + 1 < argc)
				value = argv[++*i];
			else
				return shield_error_set(err, -EINVAL,
							"podman option %s needs a value", spelled);
			return check_value(spec, spelled, value, err);
		}
		if (c[1] == '=') /* "-d=false": a switch with its value */
			return check_value(spec, spelled, c + 2, err);
		r = check_value(spec, spelled, NULL, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int podman_args_check(char *const *argv, size_t argc, size_t *image, struct shield_error *err)
{
	for (size_t i = 0; i < argc; i++) {
		const char *arg = argv[i];
		int r;

		if (strcmp(arg, "--") == 0) {
			if (i + 1 >= argc)
				break;
			*image = i + 1;
			return 0;
		}
		if (arg[0] != '-' || arg[1] == '\0') {
			*image = i;
			return 0;
		}
		r = arg[1] == '-' ? scan_long(argv, argc, &i, err)
				  : scan_short(argv, argc, &i, err);
		if (r < 0)
			return r;
	}
	return shield_error_set(err, -EINVAL, "no image (or --rootfs directory) after the options");
}

/* ----------------------------------------------------------------- quoting */

static bool shell_safe(unsigned char c)
{
	return isalnum(c) || strchr("_@%+=:,./-", c);
}

char *podman_shell_quote(const char *word)
{
	size_t len = strlen(word), quotes = 0;
	bool safe = len > 0;
	char *out, *o;

	for (size_t i = 0; i < len; i++) {
		if (!shell_safe((unsigned char)word[i]))
			safe = false;
		if (word[i] == '\'')
			quotes++;
	}
	if (safe)
		return strdup(word);
	out = malloc(len + quotes * 3 + 3);
	if (!out)
		return NULL;
	o = out;
	*o++ = '\'';
	for (size_t i = 0; i < len; i++) {
		if (word[i] == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = word[i];
		}
	}
	*o++ = '\'';
	*o = '\0';
	return out;
}

char *podman_shell_join(const struct strlist *words)
{
	_cleanup_strlist_ struct strlist quoted = STRLIST_INIT;

	for (size_t i = 0; i < words->n; i++) {
		char *q = podman_shell_quote(words->items[i]);

		if (!q)
			return NULL;
		if (strlist_add(&quoted, q) < 0) {
			free(q);
			return NULL;
		}
		free(q);
	}
	return strlist_join(&quoted, " ");
}
