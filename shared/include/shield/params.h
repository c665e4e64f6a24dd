/* SPDX-License-Identifier: Apache-2.0 */
/* Small shared vocabularies: firewall modes, DNS policies, port lists, durations. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum shield_mode {
	SHIELD_MODE_UP,	      /* default deny, allowlist accepted */
	SHIELD_MODE_DOWN,     /* accept and log, deny list and private ranges refused */
	SHIELD_MODE_DOWN_ALL, /* accept and log, only the deny list refused */
	SHIELD_MODE_BLOCK,    /* nothing but loopback, established and neighbour discovery */
	SHIELD_MODE_INACTIVE, /* detected only: no table */
	SHIELD_MODE_ERROR,    /* detected only: table present but matches no mode */
};

/* "up", "down", "down_all", "block", "inactive", "error". */
const char *shield_mode_name(enum shield_mode m);

/* Parse a mode a user may ask for: up, down, down-all (or down_all), block. */
int shield_mode_parse(const char *s, enum shield_mode *out, struct shield_error *err);

enum dns_policy {
	DNS_POLICY_STRICT, /* forward only allowlisted domains, NXDOMAIN for the rest */
	DNS_POLICY_OPEN,   /* forward everything (the original's behaviour) */
};

const char *dns_policy_name(enum dns_policy p);
int dns_policy_parse(const char *s, enum dns_policy *out, struct shield_error *err);

#define SHIELD_PORTS_MAX 64

struct port_list {
	uint16_t ports[SHIELD_PORTS_MAX];
	size_t n;
};

/*
 * Parse "80:443" (also ',' separated); 1..65535, de-duplicated in order. Empty
 * string = none. Signs, spaces, leading zeros and empty items are refused; the
 * error names the bad port. out is untouched on failure.
 */
int port_list_parse(const char *s, struct port_list *out, struct shield_error *err);

/* Format as "80:443" into out (size bytes). */
void port_list_format(const struct port_list *p, char *out, size_t size);

/*
 * Parse a duration "90", "90s", "30m", "2h", "1d" into seconds (1s .. 7d).
 * Components combine largest first, each once, as nft prints them: "1h30m",
 * "1d1h1m1s". Out of range is -ERANGE, malformed -EINVAL.
 */
int duration_parse(const char *s, uint32_t *seconds, struct shield_error *err);

/* Format seconds the way nft prints a timeout ("30m", "1h30m", "45s"; 0 is "0s"). */
void duration_format(uint32_t seconds, char *out, size_t size);
