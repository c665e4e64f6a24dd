/* SPDX-License-Identifier: Apache-2.0 */
/* Domain-name validation and normalisation. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define DOMAIN_NAME_MAX	 253
#define DOMAIN_LABEL_MAX 63
/* Room for a normalised name plus its terminating NUL. */
#define DOMAIN_BUF_SIZE (DOMAIN_NAME_MAX + 1)

/*
 * Validate and normalise a domain name into out (DOMAIN_BUF_SIZE bytes):
 * lowercase, one trailing dot dropped, labels 1-63 of [a-z0-9-] not starting
 * or ending with '-', whole name <= 253, at least two labels. A leading "*."
 * is accepted and dropped: dnsmasq matches a domain and all its subdomains,
 * so "*.example.com" and "example.com" name the same allowlist entry.
 * Anything that could break a dnsmasq line ('/', '#', ',', whitespace, NUL,
 * control characters) is refused. A last label of digits only is refused
 * too: "1.2.3.4" is an address, not a name. Only len bytes of in are read
 * (it need not be NUL-terminated). Returns 0 or -EINVAL with err naming why,
 * the input quoted with shield_quote.
 */
int domain_normalize(const char *in, size_t len, char *out, struct shield_error *err);

/* Whether d (normalised) equals parent or is one of its subdomains. */
bool domain_is_within(const char *d, const char *parent);
