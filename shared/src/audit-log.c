/* SPDX-License-Identifier: Apache-2.0 */
/* Reading audit.jsonl back (see audit-log.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "shield/audit-log.h"

#define NS_PER_S INT64_C(1000000000)

/* Read exactly n decimal digits at *p into *out, advancing *p. */
static bool digits(const char **p, const char *end, int n, int *out)
{
	int v = 0;

	if (end - *p < n)
		return false;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool expect(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return false;
	(*p)++;
	return true;
}

static bool leap_year(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && leap_year(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), counting in 400-year eras from March. */
static int64_t days_since_epoch(int y, int m, int d)
{
	int64_t yy = m <= 2 ? y - 1 : y;
	int64_t era = yy / 400, yoe = yy - era * 400;
	int64_t mp = m > 2 ? m - 3 : m + 9; /* months since March */
	int64_t doy = (153 * mp + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

int audit_ts_parse(const char *s, size_t len, int64_t *out_ns)
{
	const char *p = s, *end = s + len;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	int64_t frac = 0, t;

	if (!digits(&p, end, 4, &y) || !expect(&p, end, '-') || !digits(&p, end, 2, &mo) ||
	    !expect(&p, end, '-') || !digits(&p, end, 2, &d))
		return -EINVAL;
	if (p >= end || (*p != 'T' && *p != ' '))
		return -EINVAL;
	p++;
	if (!digits(&p, end, 2, &h) || !expect(&p, end, ':') || !digits(&p, end, 2, &mi) ||
	    !expect(&p, end, ':') || !digits(&p, end, 2, &sec))
		return -EINVAL;
	/* 2261 keeps nanoseconds since 1970 inside an int64_t. */
	if (y < 1970 || y > 2261 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
	    h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	if (p < end && *p == '.') {
		int n = 0;

		p++;
		while (p < end && *p >= '0' && *p <= '9') {
			if (++n > 9)
				return -EINVAL;
			frac = frac * 10 + (*p++ - '0');
		}
		if (n == 0)
			return -EINVAL;
		for (; n < 9; n++)
			frac *= 10;
	}
	if (p < end && *p == 'Z') {
		p++;
	} else if (p < end && (*p == '+' || *p == '-')) {
		sign = *p++ == '-' ? -1 : 1;
		if (!digits(&p, end, 2, &oh))
			return -EINVAL;
		if (p < end && *p == ':')
			p++;
		if (!digits(&p, end, 2, &om) || oh > 23 || om > 59)
			return -EINVAL;
	}
	if (p != end)
		return -EINVAL;
	t = ((days_since_epoch(y, mo, d) * 24 + h) * 60 + mi) * 60 + sec;
	t -= (int64_t)sign * (oh * 3600 + om * 60);
	*out_ns = t * NS_PER_S + frac;
	return 0;
}

void audit_entry_free(struct audit_entry *e)
{
	free(e->ts);
	free(e->container);
	free(e->action);
	free(e->dest);
	free(e->detail);
	memset(e, 0, sizeof(*e));
}

/* An optional field: the string, or a non-string value as compact JSON; NULL when absent. */
static int optional_field(json_t *o, const char *key, char **out)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	*out = json_is_string(v) ? strdup(json_string_value(v))
				 : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	return *out ? 0 : -ENOMEM;
}

int audit_entry_parse(const char *line, size_t len, struct audit_entry *e, struct shield_error *err)
{
	json_error_t jerr;
	json_t *o, *ts, *action;
	struct audit_entry n = {0};
	int r;

	memset(e, 0, sizeof(*e));
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return shield_error_set(err, -EINVAL, "not JSON: %s", jerr.text);
	if (!json_is_object(o)) {
		json_decref(o);
		return shield_error_set(err, -EINVAL, "not a JSON object");
	}
	ts = json_object_get(o, "ts");
	action = json_object_get(o, "action");
	if (!json_is_string(ts) || !json_is_string(action)) {
		const char *missing = json_is_string(ts) ? "action" : "ts";

		json_decref(o);
		return shield_error_set(err, -EINVAL, "no string \"%s\"", missing);
	}
	if (audit_ts_parse(json_string_value(ts), json_string_length(ts), &n.ts_ns) < 0) {
		json_decref(o);
		return shield_error_set(err, -EINVAL, "\"ts\" is not an ISO 8601 timestamp");
	}
	n.ts = strdup(json_string_value(ts));
	n.action = strdup(json_string_value(action));
	r = n.ts && n.action ? 0 : -ENOMEM;
	if (r >= 0)
		r = optional_field(o, "container", &n.container);
	if (r >= 0)
		r = optional_field(o, "dest", &n.dest);
	if (r >= 0)
		r = optional_field(o, "detail", &n.detail);
	json_decref(o);
	if (r < 0) {
		audit_entry_free(&n);
		return shield_error_set(err, r, "out of memory");
	}
	*e = n;
	return 0;
}

void audit_log_free(struct audit_log *l)
{
	for (size_t i = 0; i < l->n; i++)
		audit_entry_free(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int audit_log_push(struct audit_log *l, struct audit_entry *e)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct audit_entry *v = reallocarray(l->v, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *e;
	memset(e, 0, sizeof(*e));
	return 0;
}

void audit_log_keep_last(struct audit_log *l, size_t n)
{
	size_t drop;

	if (l->n <= n)
		return;
	drop = l->n - n;
	for (size_t i = 0; i < drop; i++)
		audit_entry_free(&l->v[i]);
	memmove(l->v, l->v + drop, n * sizeof(*l->v));
	l->n = n;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct audit_entry *x = a, *y = b;

	if (x->ts_ns != y->ts_ns)
		return x->ts_ns < y->ts_ns ? -1 : 1;
	if (x->source != y->source)
		return x->source < y->source ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

void audit_log_sort(struct audit_log *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cmp_entry);
}

void audit_reader_init(struct audit_reader *r, size_t source)
{
	memset(r, 0, sizeof(*r));
	r->source = source;
}

void audit_reader_free(struct audit_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->len = 0;
}

void audit_reader_reset(struct audit_reader *r)
{
	r->len = 0;
	r->skipping = false;
	r->skip_counts = false;
}

void audit_reader_skip_to_next_line(struct audit_reader *r)
{
	r->len = 0;
	r->skipping = true;
	r->skip_counts = false;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/* One complete line: an entry, a blank line, or a malformed one. */
static int reader_line(struct audit_reader *r, const char *line, size_t n, struct audit_log *out)
{
	struct audit_entry e;
	uint64_t seq = r->seq++;

	if (blank(line, n))
		return 0;
	if (audit_entry_parse(line, n, &e, NULL) < 0) {
		r->malformed++;
		return 0;
	}
	e.source = r->source;
	e.seq = seq;
	if (audit_log_push(out, &e) < 0) {
		audit_entry_free(&e);
		return -ENOMEM;
	}
	return 0;
}

int audit_reader_feed(struct audit_reader *r, const char *data, size_t n, struct audit_log *out)
{
	while (n > 0) {
		const char *nl = memchr(data, '\n', n);
		size_t seg = nl ? (size_t)(nl - data) : n;
		size_t used = nl ? seg + 1 : n;

		if (r->skipping) {
			if (nl) {
				r->skipping = false;
				if (r->skip_counts) {
					r->malformed++;
					r->seq++;
				}
			}
		} else if (r->len + seg > AUDIT_LINE_MAX) {
			r->len = 0;
			if (nl) {
				r->malformed++;
				r->seq++;
			} else {
				r->skipping = true;
				r->skip_counts = true;
			}
		} else if (!nl) {
			char *buf = realloc(r->buf, r->len + seg + 1);

			if (!buf)
				return -ENOMEM;
			r->buf = buf;
			memcpy(r->buf + r->len, data, seg);
			r->len += seg;
		} else if (r->len == 0) {
			int ret = reader_line(r, data, seg, out);

			if (ret < 0)
				return ret;
		} else {
			char *buf = realloc(r->buf, r->len + seg + 1);
			int ret;

			if (!buf)
				return -ENOMEM;
			r->buf = buf;
			memcpy(r->buf + r->len, data, seg);
			ret = reader_line(r, r->buf, r->len + seg, out);
			r->len = 0;
			if (ret < 0)
				return ret;
		}
		data += used;
		n -= used;
	}
	return 0;
}

int audit_reader_finish(struct audit_reader *r, struct audit_log *out)
{
	int ret = 0;

	if (r->skipping && r->skip_counts) {
		r->malformed++;
		r->seq++;
	} else if (!r->skipping && r->len > 0) {
		ret = reader_line(r, r->buf, r->len, out);
	}
	audit_reader_reset(r);
	return ret;
}
