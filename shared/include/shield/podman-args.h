/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The podman side of a shielded container, as pure functions (no I/O): the
 * upstream DNS a podman network mode gives a container, the arguments that
 * make `podman run` start it under shield, the refusal of user arguments
 * that would undo them, and shell quoting of an argument list.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"
#include "error.h"
#include "params.h"
#include "strlist.h"

/* Where the container's /etc/resolv.conf comes from: the bundle's file, mounted read-only. */
#define PODMAN_RESOLV_CONF "/etc/resolv.conf"

/* Upstream DNS and host-loopback gateway of the rootless network helpers. */
#define PODMAN_SLIRP4NETNS_DNS	   "10.0.2.3"
#define PODMAN_SLIRP4NETNS_GATEWAY "10.0.2.2"
#define PODMAN_PASTA_DNS	   "169.254.1.1"
#define PODMAN_PASTA_GATEWAY	   "169.254.1.2"

enum podman_net_kind {
	PODMAN_NET_SLIRP4NETNS, /* slirp4netns[:OPTS]; the rootless default before podman 5 */
	PODMAN_NET_PASTA,	/* pasta[:OPTS]; the rootless default from podman 5 */
	PODMAN_NET_BRIDGE,	/* bridge, the podman network, private when rootful */
	PODMAN_NET_NAMED,	/* any other network name (or several) */
	PODMAN_NET_NS,		/* ns:PATH, a namespace made elsewhere */
};

struct podman_net {
	enum podman_net_kind kind;
	struct addr_prefix upstream;   /* the DNS server the mode provides; family 0 = none known */
	struct addr_prefix gateway_v4; /* where the host's loopback appears; family 0 = none */
	bool host_resolver;	       /* the container gets the host's nameservers */
};

/*
 * Classify a `podman run --network` value. mode NULL (or "private") is what
 * podman picks by itself: slirp4netns for rootless podman before version 5
 * (podman_major 0 = unknown counts as 4), pasta from 5 on, bridge for root.
 * slirp4netns's DNS is 10.0.2.3 (or CIDR base + 3 with a cidr= option),
 * pasta's 169.254.1.1 from podman 5 on (before, the host's nameservers);
 * bridge uses the host's nameservers. A named network and ns:PATH name no
 * DNS server (the caller needs --upstream-dns). host, none and container:ID
 * are refused (-EINVAL) with the reason; so is an empty value.
 */
int podman_net_parse(const char *mode, bool rootless, unsigned podman_major, struct podman_net *out,
		     struct shield_error *err);

/*
 * The nameserver a container reaches through NAT, from resolv.conf text: the
 * first IPv4 "nameserver" that is not loopback, else the first such IPv6
 * (not link-local, no %zone). '#' and ';' start comments. Returns 0 or
 * -ENOENT; *loopback_seen (may be NULL) says whether a loopback one (a local
 * resolver such as systemd-resolved's 127.0.0.53) was skipped.
 */
int podman_resolv_nameserver(const char *text, size_t len, struct addr_prefix *out,
			     bool *loopback_seen);

/*
 * The upstream DNS for network net (mode_text is the --network value for
 * messages, NULL = podman's default): the mode's own, else, for a mode that
 * uses the host's resolvers, the first usable nameserver of etc_resolv (the
 * text of /etc/resolv.conf, NULL if unreadable) or, when that lists only
 * loopback ones, of resolved (/run/systemd/resolve/resolv.conf, NULL if
 * absent). Errors say why and ask for --upstream-dns: -ENOENT when the host
 * names no usable nameserver, -EDESTADDRREQ when the mode names none.
 */
int podman_upstream_pick(const char *mode_text, const struct podman_net *net,
			 const char *etc_resolv, const char *resolved, struct addr_prefix *out,
			 struct shield_error *err);

struct podman_args_params {
	const char *name;			/* container name (already validated) */
	const char *network;			/* --network value, NULL = podman's default */
	const char *state_dir;			/* absolute bundle path */
	const struct strlist *profiles;		/* profile names, in order */
	const struct addr_prefix *upstream;	/* upstream DNS */
	const struct port_list *loopback_ports; /* may be NULL */
	const char *hooks_dir;			/* --hooks-dir to pass, NULL = none */
};

/*
 * Append the arguments for `podman run` to out: [--hooks-dir DIR] --name NAME
 * [--network MODE], the terok.shield.* annotations (profiles, state_dir,
 * name, version, upstream_dns, dns_tier, loopback_ports when set),
 * --cap-drop NET_ADMIN --cap-drop NET_RAW and --volume
 * DIR/resolv.conf:/etc/resolv.conf:ro. The state dir must be absolute and,
 * like the hooks dir, free of ',' and ':' and control characters (podman
 * splits --annotation and --hooks-dir values at ',' and --volume at ':'):
 * -EINVAL naming it. On failure out may hold part of the list.
 */
int podman_args_build(const struct podman_args_params *p, struct strlist *out,
		      struct shield_error *err);

/*
 * Check the arguments a user gives `podman run` after shield's: options,
 * then the image (or the --rootfs directory) and its command, which are not
 * looked at. Refused (-EPERM, err naming the option as spelled and why):
 * --name, terok.shield.* annotations, --hooks-dir, --network/--net,
 * --dns/--dns-search/--dns-option, --privileged, --pod/--pod-id-file,
 * --cap-add of ALL, NET_ADMIN, NET_RAW, SYS_ADMIN, SYS_MODULE, SYS_RAWIO,
 * SYS_PTRACE or BPF, and a --volume/-v, --mount or --tmpfs whose
 * destination is /etc/resolv.conf; in every spelling (--opt=V, --opt V,
 * -v V, -vV, -v=V, grouped short options). An option shield does not know
 * is refused (-EINVAL) unless written --opt=VALUE, since only the option
 * table tells whether the next word is its value; so is an option without
 * its value, and no image at all. On success *image is the image's index.
 */
int podman_args_check(char *const *argv, size_t argc, size_t *image, struct shield_error *err);

/*
 * One word quoted for a POSIX shell (malloc'd; NULL on -ENOMEM): as is when
 * it is made only of [A-Za-z0-9_@%+=:,./-] and not empty, else in single
 * quotes with each ' written '\''.
 */
char *podman_shell_quote(const char *word);

/* The words shell-quoted and joined with single spaces (malloc'd; NULL on -ENOMEM). */
char *podman_shell_join(const struct strlist *words);
