/* SPDX-License-Identifier: Apache-2.0 */
/* dnsmasq configuration generation and feature detection (no I/O). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "bundle.h"
#include "error.h"
#include "params.h"
#include "strlist.h"

#define DNSMASQ_LISTEN "127.0.0.1"

struct dnsmasq_params {
	const struct addr_prefix *upstream; /* upstream DNS server (host address) */
	const struct strlist *domains;	    /* effective, normalised domains */
	const struct strlist *denied;	    /* denied domains, answered NXDOMAIN; may be NULL */
	const char *pid_path;		    /* absolute */
	const char *log_path;		    /* absolute; NULL disables query logging */
	enum dns_policy policy;
	uint32_t set_timeout; /* seconds; cache TTLs are capped below it */
};

/* The cache/answer TTL cap used for a given set timeout (half of it, at least 1s). */
uint32_t dnsmasq_ttl_cap(uint32_t set_timeout);

/*
 * Generate a whole dnsmasq.conf into a malloc'd string: listen on 127.0.0.1
 * port 53 with bind-interfaces, no-resolv, no-hosts, pid-file,
 * log-queries=extra + log-facility, max-cache-ttl/max-ttl below the set
 * timeout, one nftset line per domain, and the DNS policy (strict:
 * address=/#/ plus server=/DOMAIN/UPSTREAM per domain; open: server=UPSTREAM),
 * and address=/DOMAIN/ (NXDOMAIN) for each denied domain.
 * Every domain is re-validated; a bad one fails the whole generation, as
 * does one that is valid but not in normalised form (pass what
 * domain_normalize returns). pid_path and log_path must be absolute and free
 * of blanks, '#' and control characters. Lines, in order: header comment,
 * listen-address, port, bind-interfaces, no-resolv, no-hosts, pid-file,
 * log-queries, log-facility, max-cache-ttl, max-ttl, policy lines, nftset
 * lines.
 */
int dnsmasq_config_generate(const struct dnsmasq_params *p, char **out, struct shield_error *err);

/*
 * dnsmasq.conf for the bundle at state_dir (absolute) with config c: its
 * dnsmasq.pid and dnsmasq.log in the bundle, and the DNS policy of c's mode
 * (down and down_all forward everything, so the bypass really is one;
 * otherwise c's policy).
 */
int dnsmasq_config_for_bundle(const char *state_dir, const struct bundle_config *c,
			      const struct strlist *domains, const struct strlist *denied,
			      char **out, struct shield_error *err);

/* Whether `dnsmasq --version` output lists nftset support (and not "no-nftset"). */
bool dnsmasq_version_has_nftset(const char *version_output);
