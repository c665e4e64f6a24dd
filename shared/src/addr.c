/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Addresses and prefixes. IPv4 is parsed by hand because inet_pton's rules
 * for leading zeros differ between libcs and "010.0.0.1" reads as octal to
 * some tools; IPv6 goes through inet_pton/inet_ntop, which give the RFC 5952
 * text (lowercase, longest zero run compressed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "shield/addr.h"

/* Longest text worth parsing: a full IPv6 address with embedded IPv4 and /128. */
#define ADDR_INPUT_MAX (ADDR_TEXT_MAX - 1)

static bool is_addr_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	       c == '.' || c == ':' || c == '/';
}

/* Parse a dotted quad of exactly four decimal octets without leading zeros. */
static int parse_v4(const char *s, size_t len, uint8_t out[4], const char *q,
		    struct shield_error *err)
{
	size_t i = 0;

	for (int octet = 0; octet < 4; octet++) {
		size_t start = i;
		unsigned v = 0;

		if (octet > 0) {
			if (i >= len || s[i] != '.')
				return shield_error_set(err, -EINVAL,
							"invalid address %s: an IPv4 address has "
							"four dot-separated numbers",
							q);
			start = ++i;
		}
		while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 4) {
			v = v * 10 + (unsigned)(s[i] - '0');
			i++;
		}
		if (i == start)
			return shield_error_set(err, -EINVAL,
						"invalid address %s: an IPv4 address has four "
						"dot-separated numbers",
						q);
		if (i - start > 3 || v > 255)
			return shield_error_set(
				err, -EINVAL, "invalid address %s: IPv4 number out of range 0-255",
				q);
		if (i - start > 1 && s[start] == '0')
			return shield_error_set(
				err, -EINVAL, "invalid address %s: leading zero in an IPv4 number",
				q);
		out[octet] = (uint8_t)v;
	}
	if (i != len)
		return shield_error_set(
			err, -EINVAL,
			"invalid address %s: an IPv4 address has four dot-separated "
			"numbers",
			q);
	return 0;
}

static void clear_host_bits(uint8_t *addr, size_t alen, unsigned plen)
{
	for (size_t i = 0; i < alen; i++) {
		unsigned bit = (unsigned)i * 8;

		if (bit >= plen)
			addr[i] = 0;
		else if (plen - bit < 8)
			addr[i] &= (uint8_t)(0xff00u >> (plen - bit));
	}
}

static int parse(const char *text, size_t len, bool allow_prefix, struct addr_prefix *out,
		 struct shield_error *err)
{
	char q[SHIELD_QUOTE_MAX], qc[8];
	char buf[ADDR_INPUT_MAX + 1];
	struct addr_prefix a = {0};
	const char *slash;
	size_t alen;
	unsigned maxlen;

	if (!text || len == 0)
		return shield_error_set(err, -EINVAL, "invalid address \"\": empty");
	/* Quoted for the messages only: a caller without err (a log parser) skips it. */
	if (err)
		shield_quote(text, len, q);
	else
		q[0] = '\0';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (!is_addr_char(c))
			return shield_error_set(err, -EINVAL,
						"invalid address %s: character %s not allowed", q,
						shield_quote_char(c, qc));
	}
	if (len > ADDR_INPUT_MAX)
		return shield_error_set(err, -EINVAL, "invalid address %s: too long", q);

	slash = memchr(text, '/', len);
	if (slash && !allow_prefix)
		return shield_error_set(err, -EINVAL,
					"invalid address %s: a single address without /prefix "
					"expected",
					q);
	alen = slash ? (size_t)(slash - text) : len;
	if (alen == 0)
		return shield_error_set(err, -EINVAL, "invalid address %s: address missing", q);

	memcpy(buf, text, alen);
	buf[alen] = '\0';
	if (memchr(buf, ':', alen)) {
		a.family = AF_INET6;
		maxlen = 128;
		if (inet_pton(AF_INET6, buf, a.addr) != 1)
			return shield_error_set(err, -EINVAL,
						"invalid address %s: not an IPv6 address", q);
	} else {
		int r;

		a.family = AF_INET;
		maxlen = 32;
		r = parse_v4(buf, alen, a.addr, q, err);
		if (r < 0)
			return r;
	}

	a.plen = (uint8_t)maxlen;
	if (slash) {
		const char *p = slash + 1;
		size_t plen_len = len - alen - 1;
		unsigned v = 0;

		if (plen_len == 0)
			return shield_error_set(
				err, -EINVAL, "invalid address %s: prefix length missing after '/'",
				q);
		if (plen_len > 3)
			return shield_error_set(err, -EINVAL,
						"invalid address %s: prefix length longer than /%u",
						q, maxlen);
		for (size_t i = 0; i < plen_len; i++) {
			if (p[i] < '0' || p[i] > '9')
				return shield_error_set(err, -EINVAL,
							"invalid address %s: prefix length is "
							"not a number",
							q);
			v = v * 10 + (unsigned)(p[i] - '0');
		}
		if (plen_len > 1 && p[0] == '0')
			return shield_error_set(err, -EINVAL,
						"invalid address %s: leading zero in prefix length",
						q);
		if (v > maxlen)
			return shield_error_set(err, -EINVAL,
						"invalid address %s: prefix length longer than /%u",
						q, maxlen);
		a.plen = (uint8_t)v;
		clear_host_bits(a.addr, maxlen / 8, v);
	}
	*out = a;
	return 0;
}

int addr_parse(const char *text, size_t len, struct addr_prefix *out, struct shield_error *err)
{
	return parse(text, len, true, out, err);
}

int addr_parse_host(const char *text, size_t len, struct addr_prefix *out, struct shield_error *err)
{
	return parse(text, len, false, out, err);
}

size_t addr_len(const struct addr_prefix *a)
{
	return a->family == AF_INET6 ? 16 : 4;
}

bool addr_is_host(const struct addr_prefix *a)
{
	return a->plen == addr_len(a) * 8;
}

void addr_format(const struct addr_prefix *a, char out[ADDR_TEXT_MAX])
{
	char text[INET6_ADDRSTRLEN];

	if (a->family != AF_INET && a->family != AF_INET6) {
		out[0] = '\0'; /* unset (family 0) */
		return;
	}
	if (a->family == AF_INET) {
		/* inet_ntop's "%u.%u.%u.%u" by hand: events list addresses by the hundred. */
		char *p = out;

		for (int i = 0; i < 4; i++) {
			unsigned v = a->addr[i];

			if (i)
				*p++ = '.';
			if (v >= 100)
				*p++ = (char)('0' + v / 100);
			if (v >= 10)
				*p++ = (char)('0' + v / 10 % 10);
			*p++ = (char)('0' + v % 10);
		}
		if (!addr_is_host(a))
			snprintf(p, ADDR_TEXT_MAX - (size_t)(p - out), "/%u", (unsigned)a->plen);
		else
			*p = '\0';
		return;
	}
	if (!inet_ntop(a->family, a->addr, text, sizeof(text)))
		text[0] = '\0'; /* cannot happen: the buffer fits every address */
	if (addr_is_host(a))
		snprintf(out, ADDR_TEXT_MAX, "%s", text);
	else
		snprintf(out, ADDR_TEXT_MAX, "%s/%u", text, (unsigned)a->plen);
}

void addr_range(const struct addr_prefix *a, uint8_t first[16], uint8_t last[16])
{
	size_t alen = addr_len(a);

	memset(first, 0, 16);
	memset(last, 0, 16);
	memcpy(first, a->addr, alen);
	clear_host_bits(first, alen, a->plen);
	for (size_t i = 0; i < alen; i++) {
		unsigned bit = (unsigned)i * 8;
		uint8_t host_mask;

		if (bit >= a->plen)
			host_mask = 0xff;
		else if (a->plen - bit < 8)
			host_mask = (uint8_t)(0xffu >> (a->plen - bit));
		else
			host_mask = 0;
		last[i] = first[i] | host_mask;
	}
}

bool addr_equal(const struct addr_prefix *a, const struct addr_prefix *b)
{
	return a->family == b->family && a->plen == b->plen &&
	       memcmp(a->addr, b->addr, addr_len(a)) == 0;
}

bool addr_contains(const struct addr_prefix *outer, const struct addr_prefix *inner)
{
	uint8_t a[16], b[16];

	if (outer->family != inner->family || outer->plen > inner->plen)
		return false;
	memcpy(a, outer->addr, 16);
	memcpy(b, inner->addr, 16);
	clear_host_bits(a, addr_len(outer), outer->plen);
	clear_host_bits(b, addr_len(outer), outer->plen);
	return memcmp(a, b, addr_len(outer)) == 0;
}

int addr_canonical(const char *text, char out[ADDR_TEXT_MAX], struct shield_error *err)
{
	struct addr_prefix a;
	int r;

	if (!text)
		return shield_error_set(err, -EINVAL, "invalid address \"\": empty");
	r = addr_parse(text, strnlen(text, ADDR_INPUT_MAX + 1), &a, err);
	if (r < 0)
		return r;
	addr_format(&a, out);
	return 0;
}
