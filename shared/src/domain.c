/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Domain-name validation. Every allowlisted name ends up inside dnsmasq
 * configuration lines ("nftset=/NAME/...", "server=/NAME/..."), so the
 * character check comes first and is a whitelist: only letters, digits,
 * hyphens and dots (plus one leading "*.") can ever reach the output.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "shield/domain.h"

static bool is_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.';
}

static char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (char)c;
}

int domain_normalize(const char *in, size_t len, char *out, struct shield_error *err)
{
	char q[SHIELD_QUOTE_MAX], qc[8];
	const char *p = in;
	size_t n = len, labels = 0, label_start = 0;
	bool all_digits = true;

	if (!in || len == 0)
		return shield_error_set(err, -EINVAL, "invalid domain \"\": empty name");
	shield_quote(in, len, q);

	/* Characters first: a '/' or a newline is the most important thing to report. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '*') {
			if (i == 0 && len >= 2 && in[1] == '.')
				continue;
			return shield_error_set(
				err, -EINVAL,
				"invalid domain %s: wildcard '*' is only allowed as "
				"a leading \"*.\"",
				q);
		}
		if (!is_name_char(c))
			return shield_error_set(err, -EINVAL,
						"invalid domain %s: character %s not allowed", q,
						shield_quote_char(c, qc));
	}

	/* "*.example.com" is "example.com": dnsmasq matches subdomains anyway. */
	if (n >= 2 && p[0] == '*') {
		p += 2;
		n -= 2;
		if (n == 0)
			return shield_error_set(err, -EINVAL,
						"invalid domain %s: nothing after \"*.\"", q);
	}
	/* One trailing dot (the fully qualified form) is dropped. */
	if (n > 0 && p[n - 1] == '.')
		n--;
	if (n == 0)
		return shield_error_set(err, -EINVAL, "invalid domain %s: empty name", q);
	if (n > DOMAIN_NAME_MAX)
		return shield_error_set(err, -EINVAL,
					"invalid domain %s: name longer than %d characters (%zu)",
					q, DOMAIN_NAME_MAX, n);

	for (size_t i = 0; i <= n; i++) {
		size_t label_len;

		if (i < n && p[i] != '.') {
			if (p[i] < '0' || p[i] > '9')
				all_digits = false;
			continue;
		}
		label_len = i - label_start;
		if (label_len == 0)
			return shield_error_set(err, -EINVAL, "invalid domain %s: empty label", q);
		if (label_len > DOMAIN_LABEL_MAX)
			return shield_error_set(
				err, -EINVAL,
				"invalid domain %s: label longer than %d characters "
				"(%zu)",
				q, DOMAIN_LABEL_MAX, label_len);
		if (p[label_start] == '-' || p[i - 1] == '-')
			return shield_error_set(err, -EINVAL,
						"invalid domain %s: a label may not start or end "
						"with '-'",
						q);
		labels++;
		if (i < n) {
			label_start = i + 1;
			all_digits = true;
		}
	}
	if (labels < 2)
		return shield_error_set(err, -EINVAL,
					"invalid domain %s: at least two labels required", q);
	/* An all-numeric last label is an IPv4 address, not a name (RFC 3696). */
	if (all_digits)
		return shield_error_set(err, -EINVAL,
					"invalid domain %s: last label is all digits (an IP "
					"address is not a domain)",
					q);

	for (size_t i = 0; i < n; i++)
		out[i] = lower((unsigned char)p[i]);
	out[n] = '\0';
	return 0;
}

bool domain_is_within(const char *d, const char *parent)
{
	size_t dl, pl;

	if (!d || !parent)
		return false;
	dl = strlen(d);
	pl = strlen(parent);
	if (pl == 0 || dl < pl)
		return false;
	if (dl == pl)
		return memcmp(d, parent, pl) == 0;
	return d[dl - pl - 1] == '.' && memcmp(d + dl - pl, parent, pl) == 0;
}
