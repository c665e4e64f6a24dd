/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nftsetd events as JSON lines. The encoder writes only the keys an event
 * has, in the documented order; the decoder takes what a client may read
 * from the socket and checks every known key's type and size, so a bad
 * line is an error naming the key, never a half-filled event.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "shield/audit.h"
#include "shield/event.h"

static const char *const kind_names[SHIELD_EVENT_KIND_COUNT] = {
	[SHIELD_EVENT_ROTATION] = "rotation",
	[SHIELD_EVENT_BLOCKED_QUERY] = "blocked_query",
	[SHIELD_EVENT_DRIFT_UNEXPLAINED] = "drift.unexplained",
	[SHIELD_EVENT_DRIFT_MISSING] = "drift.missing",
	[SHIELD_EVENT_DRIFT_DENIED_PRESENT] = "drift.denied_present",
	[SHIELD_EVENT_DRIFT_STALE_ANSWER] = "drift.stale_answer",
	[SHIELD_EVENT_RULESET_TAMPERED] = "ruleset.tampered",
	[SHIELD_EVENT_DNSMASQ_DOWN] = "dnsmasq.down",
	[SHIELD_EVENT_LOG_GAP] = "log.gap",
	[SHIELD_EVENT_WATCH_ATTACHED] = "watch.attached",
	[SHIELD_EVENT_WATCH_DETACHED] = "watch.detached",
	[SHIELD_EVENT_NETLINK_RESYNC] = "netlink.resync",
};

const char *shield_event_kind_name(enum shield_event_kind k)
{
	if ((unsigned)k >= SHIELD_EVENT_KIND_COUNT)
		return NULL;
	return kind_names[k];
}

int shield_event_kind_parse(const char *name, enum shield_event_kind *out, struct shield_error *err)
{
	char q[SHIELD_QUOTE_MAX];

	for (int k = 0; name && k < SHIELD_EVENT_KIND_COUNT; k++) {
		if (strcmp(name, kind_names[k]) == 0) {
			*out = (enum shield_event_kind)k;
			return 0;
		}
	}
	return shield_error_set(err, -EINVAL, "unknown event kind %s",
				name ? shield_quote(name, strlen(name), q) : "(none)");
}

bool shield_event_kind_is_check(enum shield_event_kind k)
{
	switch (k) {
	case SHIELD_EVENT_DRIFT_UNEXPLAINED:
	case SHIELD_EVENT_DRIFT_MISSING:
	case SHIELD_EVENT_DRIFT_DENIED_PRESENT:
	case SHIELD_EVENT_DRIFT_STALE_ANSWER:
	case SHIELD_EVENT_RULESET_TAMPERED:
	case SHIELD_EVENT_DNSMASQ_DOWN:
	case SHIELD_EVENT_LOG_GAP:
		return true;
	default:
		return false;
	}
}

void shield_event_init(struct shield_event *ev, enum shield_event_kind k)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = k;
	ev->age_ms = -1;
}

void shield_event_free(struct shield_event *ev)
{
	enum shield_event_kind k;

	if (!ev)
		return;
	k = ev->kind;
	free(ev->added);
	free(ev->removed);
	shield_event_init(ev, k);
}

static int dup_list(const struct addr_prefix *src, size_t n, struct addr_prefix **out,
		    size_t *n_out)
{
	*out = NULL;
	*n_out = 0;
	if (!n)
		return 0;
	if (n > SHIELD_EVENT_LIST_MAX)
		n = SHIELD_EVENT_LIST_MAX;
	*out = malloc(n * sizeof(**out));
	if (!*out)
		return -ENOMEM;
	memcpy(*out, src, n * sizeof(**out));
	*n_out = n;
	return 0;
}

int shield_event_copy(struct shield_event *dst, const struct shield_event *src)
{
	struct shield_event tmp = *src;

	if (dup_list(src->added, src->n_added, &tmp.added, &tmp.n_added) < 0)
		return -ENOMEM;
	if (dup_list(src->removed, src->n_removed, &tmp.removed, &tmp.n_removed) < 0) {
		free(tmp.added);
		return -ENOMEM;
	}
	*dst = tmp;
	return 0;
}

int shield_event_set_lists(struct shield_event *ev, const struct addr_prefix *added, size_t n_added,
			   const struct addr_prefix *removed, size_t n_removed)
{
	struct addr_prefix *a, *r;
	size_t na, nr;

	if (dup_list(added, n_added, &a, &na) < 0)
		return -ENOMEM;
	if (dup_list(removed, n_removed, &r, &nr) < 0) {
		free(a);
		return -ENOMEM;
	}
	free(ev->added);
	free(ev->removed);
	ev->added = a;
	ev->n_added = na;
	ev->removed = r;
	ev->n_removed = nr;
	return 0;
}

void shield_event_set_detail(struct shield_event *ev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ev->detail, sizeof(ev->detail), fmt, ap);
	va_end(ap);
}

/* n decimal digits of v, zero-padded. */
static char *put_digits(char *p, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + n;
}

const char *shield_event_format_ts(uint64_t ts_ms, char *out, size_t size)
{
	time_t sec = (time_t)(ts_ms / 1000);
	struct tm tm;
	char date[64];

	if (!gmtime_r(&sec, &tm)) {
		date[0] = '\0';
	} else if (size >= 30 && tm.tm_year >= 0 && tm.tm_year + 1900 <= 9999) {
		/* What strftime and snprintf below write, without them (once per event). */
		char *p = out;

		p = put_digits(p, (unsigned)tm.tm_year + 1900, 4);
		*p++ = '-';
		p = put_digits(p, (unsigned)tm.tm_mon + 1, 2);
		*p++ = '-';
		p = put_digits(p, (unsigned)tm.tm_mday, 2);
		*p++ = 'T';
		p = put_digits(p, (unsigned)tm.tm_hour, 2);
		*p++ = ':';
		p = put_digits(p, (unsigned)tm.tm_min, 2);
		*p++ = ':';
		p = put_digits(p, (unsigned)tm.tm_sec, 2);
		*p++ = '.';
		p = put_digits(p, (unsigned)(ts_ms % 1000), 3);
		memcpy(p, "+00:00", 7);
		return out;
	} else if (!strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm)) {
		date[0] = '\0';
	}
	snprintf(out, size, "%s.%03u+00:00", date, (unsigned)(ts_ms % 1000));
	return out;
}

/* Exactly n decimal digits at s. */
static bool digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

int shield_event_parse_ts(const char *text, uint64_t *ts_ms)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, s, ms = 0;
	const char *p = text;
	time_t sec;

	if (!text || strnlen(text, 40) < 19)
		return -EINVAL;
	if (!digits(p, 4, &y) || p[4] != '-' || !digits(p + 5, 2, &mo) || p[7] != '-' ||
	    !digits(p + 8, 2, &d) || p[10] != 'T' || !digits(p + 11, 2, &h) || p[13] != ':' ||
	    !digits(p + 14, 2, &mi) || p[16] != ':' || !digits(p + 17, 2, &s))
		return -EINVAL;
	p += 19;
	if (*p == '.') {
		if (!digits(p + 1, 3, &ms))
			return -EINVAL;
		p += 4;
	}
	if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
		return -EINVAL;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	sec = timegm(&tm);
	if (sec < 0)
		return -EINVAL;
	*ts_ms = (uint64_t)sec * 1000 + (uint64_t)ms;
	return 0;
}

/* Set a key unless value is NULL; returns false on failure (value freed). */
static bool put(json_t *o, const char *key, json_t *value)
{
	return value && json_object_set_new(o, key, value) == 0;
}

/*
 * A JSON string of a fixed buffer's text. Names come from dnsmasq's log as
 * received, so text that is not UTF-8 has every byte above 0x7f replaced
 * by '?' rather than failing the whole event.
 */
static json_t *text(const char *s, size_t size)
{
	size_t n = strnlen(s, size);
	json_t *v = json_stringn(s, n);
	char *copy;

	if (v)
		return v;
	copy = malloc(n + 1);
	if (!copy)
		return NULL;
	for (size_t i = 0; i < n; i++)
		copy[i] = (unsigned char)s[i] >= 0x80 ? '?' : s[i];
	copy[n] = '\0';
	v = json_stringn(copy, n);
	free(copy);
	return v;
}

static json_t *addr_array(const struct addr_prefix *a, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++) {
		char text[ADDR_TEXT_MAX];

		addr_format(&a[i], text);
		if (json_array_append_new(arr, json_string(text)) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

json_t *shield_event_to_json(const struct shield_event *ev)
{
	json_t *o = json_object();
	char ts[TIMESTAMP_MAX];
	const char *kind = shield_event_kind_name(ev->kind);
	bool ok;

	if (!o)
		return NULL;
	ok = put(o, "ts", json_string(shield_event_format_ts(ev->ts_ms, ts, sizeof(ts)))) &&
	     put(o, "id", json_integer((json_int_t)ev->id)) &&
	     put(o, "container", text(ev->container, sizeof(ev->container))) &&
	     put(o, "kind", json_string(kind ? kind : "unknown"));
	if (ok && ev->domain[0])
		ok = put(o, "domain", text(ev->domain, sizeof(ev->domain)));
	if (ok && ev->ip[0])
		ok = put(o, "ip", text(ev->ip, sizeof(ev->ip)));
	if (ok && ev->set[0])
		ok = put(o, "set", text(ev->set, sizeof(ev->set)));
	if (ok && (ev->n_added || ev->kind == SHIELD_EVENT_ROTATION))
		ok = put(o, "added", addr_array(ev->added, ev->n_added));
	if (ok && (ev->n_removed || ev->kind == SHIELD_EVENT_ROTATION))
		ok = put(o, "removed", addr_array(ev->removed, ev->n_removed));
	if (ok && ev->age_ms >= 0)
		ok = put(o, "age_ms", json_integer((json_int_t)ev->age_ms));
	if (ok && ev->pid > 0)
		ok = put(o, "pid", json_integer(ev->pid));
	if (ok && ev->comm[0])
		ok = put(o, "comm", text(ev->comm, sizeof(ev->comm)));
	if (ok && ev->repaired)
		ok = put(o, "repaired", json_true());
	if (ok && ev->detail[0])
		ok = put(o, "detail", text(ev->detail, sizeof(ev->detail)));
	if (!ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * The encoder writes the line itself, byte for byte what json_dumps of
 * shield_event_to_json with JSON_COMPACT | JSON_PRESERVE_ORDER |
 * JSON_ENSURE_ASCII gives (tests/unit/test-event.c compares the two): it
 * runs once per event on nftsetd's log path, where building a jansson
 * object per event cost more than parsing the log lines around it.
 */
struct line {
	char *p;
	size_t n;
};

static void put_raw(struct line *l, const char *s, size_t n)
{
	memcpy(l->p + l->n, s, n);
	l->n += n;
}

#define PUT_LIT(l, s) put_raw(l, s, sizeof(s) - 1)

/* Length of the UTF-8 sequence at s (at most n bytes), 0 if not valid (jansson's rules). */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char u = s[0];
	size_t len;
	uint32_t v;

	if (u < 0x80) {
		*cp = u;
		return 1;
	}
	if (u >= 0xC2 && u <= 0xDF) {
		len = 2;
		v = u & 0x1F;
	} else if (u >= 0xE0 && u <= 0xEF) {
		len = 3;
		v = u & 0x0F;
	} else if (u >= 0xF0 && u <= 0xF4) {
		len = 4;
		v = u & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (len == 2 && v < 0x80) ||
	    (len == 3 && v < 0x800) || (len == 4 && v < 0x10000))
		return 0;
	*cp = v;
	return len;
}

static bool utf8_valid(const char *s, size_t n)
{
	uint32_t cp;

	for (size_t i = 0; i < n;) {
		size_t k;

		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		k = utf8_seq((const unsigned char *)s + i, n - i, &cp);

		if (!k)
			return false;
		i += k;
	}
	return true;
}

static void put_u_escape(struct line *l, uint32_t v)
{
	static const char hex[] = "0123456789ABCDEF";
	char e[6] = {'\\',	 'u', hex[(v >> 12) & 15], hex[(v >> 8) & 15], hex[(v >> 4) & 15],
		     hex[v & 15]};

	put_raw(l, e, sizeof(e));
}

/* A JSON string of n bytes (valid UTF-8), quoted, escaped as jansson does. */
static void put_json_string(struct line *l, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	l->p[l->n++] = '"';
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k;

		/* Printable ASCII but the two that need a backslash: as it is (most text). */
		if (u[i] >= 0x20 && u[i] < 0x80 && u[i] != '"' && u[i] != '\\') {
			l->p[l->n++] = (char)u[i++];
			continue;
		}
		k = utf8_seq(u + i, n - i, &cp);

		i += k ? k : 1;
		if (!k)
			cp = '?';
		switch (cp) {
		case '\\':
			PUT_LIT(l, "\\\\");
			break;
		case '"':
			PUT_LIT(l, "\\\"");
			break;
		case '\b':
			PUT_LIT(l, "\\b");
			break;
		case '\f':
			PUT_LIT(l, "\\f");
			break;
		case '\n':
			PUT_LIT(l, "\\n");
			break;
		case '\r':
			PUT_LIT(l, "\\r");
			break;
		case '\t':
			PUT_LIT(l, "\\t");
			break;
		default:
			if (cp < 0x20) {
				put_u_escape(l, cp);
			} else if (cp < 0x80) {
				l->p[l->n++] = (char)cp;
			} else if (cp < 0x10000) {
				put_u_escape(l, cp);
			} else {
				cp -= 0x10000;
				put_u_escape(l, 0xD800 | (cp >> 10));
				put_u_escape(l, 0xDC00 | (cp & 0x3FF));
			}
		}
	}
	l->p[l->n++] = '"';
}

/* text(): a fixed buffer's text; not UTF-8: every byte above 0x7f as '?'. */
static void put_text(struct line *l, const char *s, size_t size)
{
	size_t n = strnlen(s, size);

	if (utf8_valid(s, n)) {
		put_json_string(l, s, n);
		return;
	}
	{
		char copy[SHIELD_EVENT_DETAIL_MAX];

		if (n > sizeof(copy))
			n = sizeof(copy); /* no field is longer */
		for (size_t i = 0; i < n; i++)
			copy[i] = (unsigned char)s[i] >= 0x80 ? '?' : s[i];
		put_json_string(l, copy, n);
	}
}

static void put_key(struct line *l, const char *key)
{
	if (l->n > 1)
		l->p[l->n++] = ',';
	l->p[l->n++] = '"';
	put_raw(l, key, strlen(key));
	PUT_LIT(l, "\":");
}

/* "%lld" of v. */
static void put_int(struct line *l, long long v)
{
	char b[24];
	size_t k = sizeof(b);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		b[--k] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		b[--k] = '-';
	put_raw(l, b + k, sizeof(b) - k);
}

static void put_addrs(struct line *l, const struct addr_prefix *a, size_t n)
{
	l->p[l->n++] = '[';
	for (size_t i = 0; i < n; i++) {
		char text[ADDR_TEXT_MAX];

		if (i)
			l->p[l->n++] = ',';
		addr_format(&a[i], text);
		put_json_string(l, text, strlen(text));
	}
	l->p[l->n++] = ']';
}

int shield_event_encode(const struct shield_event *ev, char **out, size_t *len,
			struct shield_error *err)
{
	const char *kind = shield_event_kind_name(ev->kind);
	char ts[TIMESTAMP_MAX];
	struct line l = {0};
	/* Room: each text byte escapes to at most 6, keys and numbers are short. */
	size_t text = strnlen(ev->container, sizeof(ev->container)) +
		      strnlen(ev->domain, sizeof(ev->domain)) + strnlen(ev->ip, sizeof(ev->ip)) +
		      strnlen(ev->set, sizeof(ev->set)) + strnlen(ev->comm, sizeof(ev->comm)) +
		      strnlen(ev->detail, sizeof(ev->detail));
	size_t room = 512 + 6 * text + (ev->n_added + ev->n_removed) * (ADDR_TEXT_MAX + 3);

	l.p = malloc(room);
	if (!l.p)
		return shield_error_set(err, -ENOMEM, "event: out of memory");
	l.p[l.n++] = '{';
	put_key(&l, "ts");
	shield_event_format_ts(ev->ts_ms, ts, sizeof(ts));
	put_json_string(&l, ts, strlen(ts));
	put_key(&l, "id");
	put_int(&l, (long long)(json_int_t)ev->id);
	put_key(&l, "container");
	put_text(&l, ev->container, sizeof(ev->container));
	put_key(&l, "kind");
	kind = kind ? kind : "unknown";
	put_json_string(&l, kind, strlen(kind));
	if (ev->domain[0]) {
		put_key(&l, "domain");
		put_text(&l, ev->domain, sizeof(ev->domain));
	}
	if (ev->ip[0]) {
		put_key(&l, "ip");
		put_text(&l, ev->ip, sizeof(ev->ip));
	}
	if (ev->set[0]) {
		put_key(&l, "set");
		put_text(&l, ev->set, sizeof(ev->set));
	}
	if (ev->n_added || ev->kind == SHIELD_EVENT_ROTATION) {
		put_key(&l, "added");
		put_addrs(&l, ev->added, ev->n_added);
	}
	if (ev->n_removed || ev->kind == SHIELD_EVENT_ROTATION) {
		put_key(&l, "removed");
		put_addrs(&l, ev->removed, ev->n_removed);
	}
	if (ev->age_ms >= 0) {
		put_key(&l, "age_ms");
		put_int(&l, (long long)(json_int_t)ev->age_ms);
	}
	if (ev->pid > 0) {
		put_key(&l, "pid");
		put_int(&l, ev->pid);
	}
	if (ev->comm[0]) {
		put_key(&l, "comm");
		put_text(&l, ev->comm, sizeof(ev->comm));
	}
	if (ev->repaired) {
		put_key(&l, "repaired");
		PUT_LIT(&l, "true");
	}
	if (ev->detail[0]) {
		put_key(&l, "detail");
		put_text(&l, ev->detail, sizeof(ev->detail));
	}
	l.p[l.n++] = '}';
	if (l.n + 1 > SHIELD_EVENT_LINE_MAX) {
		free(l.p);
		return shield_error_set(err, -E2BIG, "event: line longer than %u bytes",
					(unsigned)SHIELD_EVENT_LINE_MAX);
	}
	l.p[l.n++] = '\n';
	l.p[l.n] = '\0';
	*out = l.p;
	if (len)
		*len = l.n;
	return 0;
}

/* A string member into a fixed buffer; absent is fine (left ""). */
static int get_string(const json_t *obj, const char *key, char *out, size_t size,
		      struct shield_error *err)
{
	json_t *v = json_object_get(obj, key);
	size_t n;

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return shield_error_set(err, -EINVAL, "event: \"%s\" must be a string", key);
	n = json_string_length(v);
	if (n >= size)
		return shield_error_set(err, -EINVAL, "event: \"%s\" longer than %zu bytes", key,
					size - 1);
	if (memchr(json_string_value(v), '\0', n))
		return shield_error_set(err, -EINVAL, "event: \"%s\" holds a NUL byte", key);
	memcpy(out, json_string_value(v), n);
	out[n] = '\0';
	return 0;
}

static int get_int(const json_t *obj, const char *key, json_int_t min, json_int_t max,
		   bool *present, json_int_t *out, struct shield_error *err)
{
	json_t *v = json_object_get(obj, key);

	*present = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return shield_error_set(err, -EINVAL, "event: \"%s\" must be an integer %lld..%lld",
					key, (long long)min, (long long)max);
	*present = true;
	*out = json_integer_value(v);
	return 0;
}

static int get_list(const json_t *obj, const char *key, struct addr_prefix **out, size_t *n_out,
		    struct shield_error *err)
{
	json_t *v = json_object_get(obj, key), *item;
	struct addr_prefix *list;
	size_t i;

	*out = NULL;
	*n_out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return shield_error_set(err, -EINVAL, "event: \"%s\" must be an array", key);
	if (json_array_size(v) > SHIELD_EVENT_LIST_MAX)
		return shield_error_set(err, -EINVAL, "event: \"%s\" has more than %u addresses",
					key, (unsigned)SHIELD_EVENT_LIST_MAX);
	if (!json_array_size(v))
		return 0;
	list = calloc(json_array_size(v), sizeof(*list));
	if (!list)
		return shield_error_set(err, -ENOMEM, "event: out of memory");
	json_array_foreach(v, i, item)
	{
		struct shield_error aerr = {0};

		if (!json_is_string(item) ||
		    addr_parse(json_string_value(item), json_string_length(item), &list[i], &aerr) <
			    0) {
			free(list);
			return shield_error_set(err, -EINVAL,
						"event: \"%s\"[%zu] is not an address or prefix",
						key, i);
		}
	}
	*out = list;
	*n_out = json_array_size(v);
	return 0;
}

int shield_event_from_json(const json_t *obj, struct shield_event *out, struct shield_error *err)
{
	struct shield_event ev;
	char kind[64] = "", ts[64] = "";
	json_int_t v;
	json_t *rep;
	bool present;
	int r;

	shield_event_init(out, SHIELD_EVENT_ROTATION);
	shield_event_init(&ev, SHIELD_EVENT_ROTATION);
	if (!json_is_object(obj))
		return shield_error_set(err, -EINVAL, "event: not a JSON object");
	if ((r = get_string(obj, "kind", kind, sizeof(kind), err)) < 0)
		return r;
	if (!kind[0])
		return shield_error_set(err, -EINVAL, "event: \"kind\" missing");
	if ((r = shield_event_kind_parse(kind, &ev.kind, err)) < 0) {
		shield_error_prefix(err, "event: ");
		return r;
	}
	if ((r = get_string(obj, "ts", ts, sizeof(ts), err)) < 0)
		return r;
	if (!ts[0] || shield_event_parse_ts(ts, &ev.ts_ms) < 0)
		return shield_error_set(err, -EINVAL, "event: \"ts\" missing or not a timestamp");
	if ((r = get_int(obj, "id", 0, INT64_MAX, &present, &v, err)) < 0)
		return r;
	ev.id = present ? (uint64_t)v : 0;
	if ((r = get_string(obj, "container", ev.container, sizeof(ev.container), err)) < 0 ||
	    (r = get_string(obj, "domain", ev.domain, sizeof(ev.domain), err)) < 0 ||
	    (r = get_string(obj, "ip", ev.ip, sizeof(ev.ip), err)) < 0 ||
	    (r = get_string(obj, "set", ev.set, sizeof(ev.set), err)) < 0 ||
	    (r = get_string(obj, "comm", ev.comm, sizeof(ev.comm), err)) < 0 ||
	    (r = get_string(obj, "detail", ev.detail, sizeof(ev.detail), err)) < 0)
		return r;
	if ((r = get_int(obj, "age_ms", 0, INT64_MAX, &present, &v, err)) < 0)
		return r;
	ev.age_ms = present ? (int64_t)v : -1;
	if ((r = get_int(obj, "pid", 0, INT32_MAX, &present, &v, err)) < 0)
		return r;
	ev.pid = present ? (int32_t)v : 0;
	rep = json_object_get(obj, "repaired");
	if (rep && !json_is_null(rep) && !json_is_boolean(rep))
		return shield_error_set(err, -EINVAL, "event: \"repaired\" must be true or false");
	ev.repaired = rep && json_is_true(rep);
	if ((r = get_list(obj, "added", &ev.added, &ev.n_added, err)) < 0)
		return r;
	if ((r = get_list(obj, "removed", &ev.removed, &ev.n_removed, err)) < 0) {
		free(ev.added);
		return r;
	}
	*out = ev;
	return 0;
}

int shield_event_decode(const char *line, size_t len, struct shield_event *out,
			struct shield_error *err)
{
	json_error_t jerr;
	json_t *obj;
	int r;

	shield_event_init(out, SHIELD_EVENT_ROTATION);
	if (!line)
		return shield_error_set(err, -EINVAL, "event: no input");
	if (len > SHIELD_EVENT_LINE_MAX)
		return shield_error_set(err, -E2BIG, "event: line longer than %u bytes",
					(unsigned)SHIELD_EVENT_LINE_MAX);
	if (len && line[len - 1] == '\n')
		len--;
	obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj) {
		char q[SHIELD_QUOTE_MAX];

		return shield_error_set(
			err, -EINVAL, "event: invalid JSON at offset %d: %s", jerr.position,
			shield_quote(jerr.text, strnlen(jerr.text, sizeof(jerr.text)), q));
	}
	r = shield_event_from_json(obj, out, err);
	json_decref(obj);
	return r;
}
