/* SPDX-License-Identifier: Apache-2.0 */
/* IPv4/IPv6 addresses and CIDR prefixes with canonical text. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128" plus NUL fits. */
#define ADDR_TEXT_MAX 64

struct addr_prefix {
	int family;	  /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network byte order; IPv4 in the first 4 bytes */
	uint8_t plen;	  /* prefix length: 32/128 for a single address */
};

/*
 * Parse "ADDR" or "ADDR/LEN" (IPv4 dotted quad with no leading zeros, or any
 * IPv6 form inet_pton accepts). Host bits of a prefix are cleared. Returns 0
 * or -EINVAL with err naming the input and what is wrong.
 */
int addr_parse(const char *text, size_t len, struct addr_prefix *out, struct shield_error *err);

/* Parse a single address (no prefix length allowed). */
int addr_parse_host(const char *text, size_t len, struct addr_prefix *out,
		    struct shield_error *err);

/* Canonical text: "198.18.0.1", "10.0.0.0/8", "2001:db8::1", "fc00::/7" ("" for family 0). */
void addr_format(const struct addr_prefix *a, char out[ADDR_TEXT_MAX]);

/* Address length in bytes for the family (4 or 16). */
size_t addr_len(const struct addr_prefix *a);

/* First and last address covered by the prefix. */
void addr_range(const struct addr_prefix *a, uint8_t first[16], uint8_t last[16]);

/* Whether a is a single address (full-length prefix). */
bool addr_is_host(const struct addr_prefix *a);

/* Whether a and b are the same prefix. */
bool addr_equal(const struct addr_prefix *a, const struct addr_prefix *b);

/* Whether prefix outer contains every address of inner. */
bool addr_contains(const struct addr_prefix *outer, const struct addr_prefix *inner);

/* Canonicalise text (parse + format); returns 0 or -EINVAL. */
int addr_canonical(const char *text, char out[ADDR_TEXT_MAX], struct shield_error *err);
