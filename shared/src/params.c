/* SPDX-License-Identifier: Apache-2.0 */
/* Modes, DNS policies, port lists and durations: the words users type. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "shield/params.h"

/* Longest mode, policy, duration or port-list text worth looking at. */
#define WORD_MAX	   64
#define PORT_LIST_TEXT_MAX (SHIELD_PORTS_MAX * 8)
#define DURATION_MAX	   (7u * 24 * 3600)

const char *shield_mode_name(enum shield_mode m)
{
	switch (m) {
	case SHIELD_MODE_UP:
		return "up";
	case SHIELD_MODE_DOWN:
		return "down";
	case SHIELD_MODE_DOWN_ALL:
		return "down_all";
	case SHIELD_MODE_BLOCK:
		return "block";
	case SHIELD_MODE_INACTIVE:
		return "inactive";
	case SHIELD_MODE_ERROR:
		return "error";
	}
	return "error";
}

int shield_mode_parse(const char *s, enum shield_mode *out, struct shield_error *err)
{
	static const struct {
		const char *word;
		enum shield_mode mode;
	} words[] = {
		{"up", SHIELD_MODE_UP},
		{"down", SHIELD_MODE_DOWN},
		{"down-all", SHIELD_MODE_DOWN_ALL},
		{"down_all", SHIELD_MODE_DOWN_ALL},
		{"block", SHIELD_MODE_BLOCK},
	};
	char q[SHIELD_QUOTE_MAX];

	if (!s)
		s = "";
	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		if (strcmp(s, words[i].word) == 0) {
			*out = words[i].mode;
			return 0;
		}
	}
	return shield_error_set(err, -EINVAL, "unknown mode %s (valid: up, down, down-all, block)",
				shield_quote(s, strnlen(s, WORD_MAX + 1), q));
}

const char *dns_policy_name(enum dns_policy p)
{
	return p == DNS_POLICY_OPEN ? "open" : "strict";
}

int dns_policy_parse(const char *s, enum dns_policy *out, struct shield_error *err)
{
	char q[SHIELD_QUOTE_MAX];

	if (!s)
		s = "";
	if (strcmp(s, "strict") == 0) {
		*out = DNS_POLICY_STRICT;
		return 0;
	}
	if (strcmp(s, "open") == 0) {
		*out = DNS_POLICY_OPEN;
		return 0;
	}
	return shield_error_set(err, -EINVAL, "unknown DNS policy %s (valid: strict, open)",
				shield_quote(s, strnlen(s, WORD_MAX + 1), q));
}

int port_list_parse(const char *s, struct port_list *out, struct shield_error *err)
{
	char q[SHIELD_QUOTE_MAX];
	struct port_list l = {.n = 0};
	size_t len, start = 0;

	if (!s)
		s = "";
	len = strnlen(s, PORT_LIST_TEXT_MAX + 1);
	if (len > PORT_LIST_TEXT_MAX)
		return shield_error_set(err, -E2BIG, "port list %s is too long",
					shield_quote(s, len, q));
	if (len == 0) {
		*out = l;
		return 0;
	}

	for (size_t i = 0; i <= len; i++) {
		const char *p = s + start;
		size_t plen = i - start;
		unsigned long v = 0;
		bool dup = false;

		if (i < len && s[i] != ':' && s[i] != ',')
			continue;
		start = i + 1;
		if (plen == 0)
			return shield_error_set(err, -EINVAL, "port list %s: empty port",
						shield_quote(s, len, q));
		for (size_t k = 0; k < plen; k++) {
			if (p[k] < '0' || p[k] > '9' || k >= 5) {
				v = 0;
				plen = 0;
				break;
			}
			v = v * 10 + (unsigned long)(p[k] - '0');
		}
		if (plen == 0 || v < 1 || v > 65535 || (p[0] == '0'))
			return shield_error_set(err, -EINVAL,
						"invalid port %s: a port is a number 1-65535",
						shield_quote(p, i - (size_t)(p - s), q));
		for (size_t k = 0; k < l.n; k++)
			dup = dup || l.ports[k] == v;
		if (dup)
			continue;
		if (l.n == SHIELD_PORTS_MAX)
			return shield_error_set(err, -E2BIG, "port list: more than %d ports",
						SHIELD_PORTS_MAX);
		l.ports[l.n++] = (uint16_t)v;
	}
	*out = l;
	return 0;
}

void port_list_format(const struct port_list *p, char *out, size_t size)
{
	size_t o = 0;

	if (size == 0)
		return;
	out[0] = '\0';
	for (size_t i = 0; i < p->n && i < SHIELD_PORTS_MAX; i++) {
		int w = snprintf(out + o, size - o, "%s%u", i ? ":" : "", (unsigned)p->ports[i]);

		if (w < 0 || (size_t)w >= size - o) {
			out[o] = '\0'; /* no partial number: cut at the last whole port */
			return;
		}
		o += (size_t)w;
	}
}

static unsigned long unit_seconds(char u)
{
	switch (u) {
	case 'd':
		return 86400;
	case 'h':
		return 3600;
	case 'm':
		return 60;
	case 's':
		return 1;
	default:
		return 0;
	}
}

int duration_parse(const char *s, uint32_t *seconds, struct shield_error *err)
{
	char q[SHIELD_QUOTE_MAX];
	unsigned long long total = 0;
	unsigned long last_unit = 0;
	size_t len, i = 0;

	if (!s)
		s = "";
	len = strnlen(s, WORD_MAX + 1);
	shield_quote(s, len, q);
	if (len == 0)
		return shield_error_set(err, -EINVAL, "invalid duration \"\": empty");
	if (len > WORD_MAX)
		return shield_error_set(err, -EINVAL, "invalid duration %s: too long", q);

	/* "90" is seconds; otherwise components d, h, m, s, each once, largest first. */
	while (i < len) {
		unsigned long long v = 0;
		unsigned long unit;
		size_t start = i;

		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (i - start >= 10)
				return shield_error_set(err, -ERANGE,
							"invalid duration %s: longer than 7d", q);
			v = v * 10 + (unsigned long long)(s[i] - '0');
			i++;
		}
		if (i == start)
			return shield_error_set(err, -EINVAL,
						"invalid duration %s: expected a number, e.g. "
						"\"30m\" or \"1h30m\"",
						q);
		if (i == len) {
			if (start != 0)
				return shield_error_set(err, -EINVAL,
							"invalid duration %s: number without a "
							"unit (d, h, m or s)",
							q);
			unit = 1;
		} else {
			unit = unit_seconds(s[i]);
			if (unit == 0)
				return shield_error_set(err, -EINVAL,
							"invalid duration %s: unknown unit (use "
							"d, h, m or s)",
							q);
			if (last_unit && unit >= last_unit)
				return shield_error_set(err, -EINVAL,
							"invalid duration %s: units must appear "
							"once each, largest first (d, h, m, s)",
							q);
			i++;
		}
		last_unit = unit;
		total += v * unit;
		if (total > DURATION_MAX)
			return shield_error_set(err, -ERANGE, "invalid duration %s: longer than 7d",
						q);
	}
	if (total == 0)
		return shield_error_set(err, -ERANGE, "invalid duration %s: at least 1s", q);
	*seconds = (uint32_t)total;
	return 0;
}

void duration_format(uint32_t seconds, char *out, size_t size)
{
	static const struct {
		uint32_t secs;
		char unit;
	} units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
	size_t o = 0;

	if (size == 0)
		return;
	out[0] = '\0';
	if (seconds == 0) {
		snprintf(out, size, "0s");
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		uint32_t v = seconds / units[i].secs;
		int w;

		seconds %= units[i].secs;
		if (v == 0)
			continue;
		w = snprintf(out + o, size - o, "%u%c", (unsigned)v, units[i].unit);
		if (w < 0 || (size_t)w >= size - o)
			return;
		o += (size_t)w;
	}
}
