/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report-text.h"
#include "shield/grow.h"
#include "shield/macro.h"

/* Length of the UTF-8 sequence starting at s (1..4), or 0 if it is not valid. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* C1 controls (U+0080..U+009F) act as escapes on some terminals. */
	if (n == 2 && s[0] == 0xc2 && s[1] < 0xa0)
		return 0;
	return n;
}

void term_clean(const char *in, char *out, size_t size)
{
	const unsigned char *p = (const unsigned char *)(in ? in : "");
	size_t o = 0;

	if (size == 0)
		return;
	while (*p) {
		size_t n = utf8_len(p);

		if (n == 1 && (p[0] < 0x20 || p[0] == 0x7f))
			n = 0;
		if (n == 0) {
			if (o + 1 >= size)
				break;
			out[o++] = '?';
			p++;
			continue;
		}
		if (o + n >= size)
			break;
		memcpy(out + o, p, n);
		o += n;
		p += n;
	}
	out[o] = '\0';
}

const char *json_text(json_t *o, const char *key, char *out, size_t size)
{
	json_t *v = json_object_get(o, key);

	term_clean(json_is_string(v) ? json_string_value(v) : "", out, size);
	return out;
}

const char *ts_clock(const char *ts, char out[32])
{
	/* "2026-11-25T21:13:46.123+00:00": the clock is at 11..18. */
	if (ts && strlen(ts) >= 19 && ts[10] == 'T' && ts[13] == ':' && ts[16] == ':') {
		memcpy(out, ts + 11, 8);
		out[8] = '\0';
		return out;
	}
	term_clean(ts, out, 32);
	return out;
}

const char *ms_span(long long ms, char out[32])
{
	long long s = ms / 1000;

	if (ms < 0)
		snprintf(out, 32, "expired");
	else if (ms < 10000)
		snprintf(out, 32, "%lld.%llds", s, (ms % 1000) / 100);
	else if (s < 3600)
		snprintf(out, 32, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, 32, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
	else
		snprintf(out, 32, "%lldd%02lldh", s / 86400, (s % 86400) / 3600);
	return out;
}

/* Append to a fixed line buffer, cutting what does not fit. */
struct linebuf {
	char *buf;
	size_t size, len;
};

static void lb_add(struct linebuf *b, const char *fmt, ...) _printf_(2, 3);

static void lb_add(struct linebuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->len + 1 >= b->size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->buf + b->len, b->size - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	b->len += (size_t)n;
	if (b->len >= b->size)
		b->len = b->size - 1;
}

/* " +a +b" / " -a" for the addresses in an added/removed array. */
static void lb_addrs(struct linebuf *b, json_t *arr, char sign)
{
	size_t i;
	json_t *v;
	char t[128];

	json_array_foreach(arr, i, v)
	{
		if (json_is_string(v)) {
			term_clean(json_string_value(v), t, sizeof(t));
			lb_add(b, " %c%s", sign, t);
		}
	}
}

void event_line(json_t *ev, bool with_container, char *out, size_t size)
{
	struct linebuf b = {out, size, 0};
	char t[256], clock[32], span[32];
	json_t *v;

	out[0] = '\0';
	v = json_object_get(ev, "ts");
	lb_add(&b, "%s", ts_clock(json_is_string(v) ? json_string_value(v) : "?", clock));
	if (with_container)
		lb_add(&b, " %s", json_text(ev, "container", t, sizeof(t)));
	lb_add(&b, " %s", json_text(ev, "kind", t, sizeof(t)));
	if (*json_text(ev, "domain", t, sizeof(t)))
		lb_add(&b, " %s", t);
	if (*json_text(ev, "ip", t, sizeof(t)))
		lb_add(&b, " %s", t);
	if (*json_text(ev, "set", t, sizeof(t)))
		lb_add(&b, " %s", t);
	lb_addrs(&b, json_object_get(ev, "added"), '+');
	lb_addrs(&b, json_object_get(ev, "removed"), '-');
	v = json_object_get(ev, "age_ms");
	if (json_is_integer(v))
		lb_add(&b, " (previous answer %s old)", ms_span(json_integer_value(v), span));
	if (*json_text(ev, "comm", t, sizeof(t)) || json_is_integer(json_object_get(ev, "pid"))) {
		lb_add(&b, " by %s", t[0] ? t : "pid");
		v = json_object_get(ev, "pid");
		if (json_is_integer(v))
			lb_add(&b, "[%lld]", (long long)json_integer_value(v));
	}
	if (json_is_true(json_object_get(ev, "repaired")))
		lb_add(&b, " repaired");
	if (*json_text(ev, "detail", t, sizeof(t)))
		lb_add(&b, ": %s", t);
}

bool report_container_clean(json_t *c)
{
	json_t *clean = json_object_get(c, "clean"), *check;
	size_t i;

	if (json_is_boolean(clean))
		return json_is_true(clean);
	json_array_foreach(json_object_get(c, "checks"), i, check)
	{
		json_t *st = json_object_get(check, "state");

		if (json_is_string(st) && strcmp(json_string_value(st), "ok") != 0)
			return false;
	}
	return true;
}

static long long json_int_or(json_t *o, const char *key, long long dflt)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

/* "pid 4242 alive", "pid 4242 down", "not running". */
static void dnsmasq_state(json_t *c, char *out, size_t size)
{
	json_t *d = json_object_get(c, "dnsmasq");
	long long pid = json_int_or(d, "pid", 0);
	bool alive = json_is_true(json_object_get(d, "alive"));

	if (pid > 0)
		snprintf(out, size, "pid %lld %s", pid, alive ? "alive" : "DOWN");
	else
		snprintf(out, size, "%s", alive ? "alive" : "DOWN");
}

/* A "last_answer"/"last_rotation" member: a timestamp, an object with one, or nothing. */
static const char *when(json_t *v, char out[32])
{
	if (json_is_object(v))
		v = json_object_get(v, "ts");
	if (json_is_string(v))
		return ts_clock(json_string_value(v), out);
	snprintf(out, 32, "-");
	return out;
}

/* Number of open checks of a container. */
static size_t open_checks(json_t *c)
{
	json_t *check;
	size_t i, n = 0;

	json_array_foreach(json_object_get(c, "checks"), i, check)
	{
		json_t *st = json_object_get(check, "state");

		n += json_is_string(st) && strcmp(json_string_value(st), "ok") != 0;
	}
	return n;
}

void report_print(FILE *out, json_t *report, const char *source)
{
	json_t *containers = json_object_get(report, "containers"), *c;
	char gen[128], t[512];
	size_t i, n = json_array_size(containers), dirty = 0;

	json_text(report, "generated", gen, sizeof(gen));
	fprintf(out, "%s report%s%s, %zu container%s\n",
		strcmp(source, "one-shot") == 0 ? "one-shot (nftsetd is not running)" : "nftsetd",
		gen[0] ? " generated " : "", gen, n, n == 1 ? "" : "s");
	json_array_foreach(containers, i, c)
	{
		char name[256], id[256], dir[1024], src[64], mode[64], pol[64], dm[64];
		json_t *check, *dom;
		size_t j, n_dom = json_array_size(json_object_get(c, "domains"));
		bool clean = report_container_clean(c);

		json_text(c, "name", name, sizeof(name));
		json_text(c, "id", id, sizeof(id));
		json_text(c, "state_dir", dir, sizeof(dir));
		json_text(c, "source", src, sizeof(src));
		json_text(c, "mode", mode, sizeof(mode));
		json_text(c, "dns_policy", pol, sizeof(pol));
		dnsmasq_state(c, dm, sizeof(dm));
		dirty += !clean;
		fprintf(out, "\n%s", name[0] ? name : id);
		if (name[0] && strcmp(name, id) != 0)
			fprintf(out, " (id %.12s)", id);
		fprintf(out, "  %s%s%s\n", dir, src[0] ? ", " : "", src);
		fprintf(out, "  mode %s, dns %s, dnsmasq %s, %zu domain%s, %lld blocked quer%s\n",
			mode[0] ? mode : "?", pol[0] ? pol : "?", dm, n_dom, n_dom == 1 ? "" : "s",
			json_int_or(c, "blocked_queries", 0),
			json_int_or(c, "blocked_queries", 0) == 1 ? "y" : "ies");
		json_array_foreach(json_object_get(c, "domains"), j, dom)
		{
			json_t *a;
			size_t k;
			char clock[32];

			fprintf(out, "    %s", json_text(dom, "domain", t, sizeof(t)));
			if (json_object_get(dom, "last_rotation") &&
			    !json_is_null(json_object_get(dom, "last_rotation")))
				fprintf(out, " (rotated %s)",
					when(json_object_get(dom, "last_rotation"), clock));
			json_array_foreach(json_object_get(dom, "addresses"), k, a)
			{
				char ip[128], span[32];
				json_t *e = json_object_get(a, "expires_in_ms");

				fprintf(out, "%s%s", k ? ", " : ": ",
					json_text(a, "ip", ip, sizeof(ip)));
				if (json_is_integer(e))
					fprintf(out, " %s left",
						ms_span(json_integer_value(e), span));
			}
			if (json_array_size(json_object_get(dom, "addresses")) == 0)
				fputs(": no address now", out);
			fputc('\n', out);
		}
		json_array_foreach(json_object_get(c, "checks"), j, check)
		{
			char kind[64], state[32];
			json_t *ev;
			size_t k;

			json_text(check, "kind", kind, sizeof(kind));
			json_text(check, "state", state, sizeof(state));
			fprintf(out, "  %-4s  %-20s %lld event%s",
				strcmp(state, "ok") == 0 ? "ok" : "OPEN", kind,
				json_int_or(check, "count", 0),
				json_int_or(check, "count", 0) == 1 ? "" : "s");
			if (json_array_size(json_object_get(check, "open")))
				fprintf(out, ", %zu open",
					json_array_size(json_object_get(check, "open")));
			fputc('\n', out);
			json_array_foreach(json_object_get(check, "open"), k, ev)
			{
				event_line(ev, false, t, sizeof(t));
				fprintf(out, "          %s\n", t);
			}
		}
		if (clean)
			fprintf(out, "  clean\n");
		else
			fprintf(out, "  DRIFT: %zu check%s open\n", open_checks(c),
				open_checks(c) == 1 ? "" : "s");
	}
	if (n > 1 || n == 0)
		fprintf(out, "\n%s\n",
			n == 0	? "no shielded containers"
			: dirty ? "drift open"
				: "all clean");
}

void screen_reset(struct screen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->lines[i]);
	s->n = 0;
}

static int screen_add(struct screen *s, const char *fmt, ...) _printf_(2, 3);

static int screen_add(struct screen *s, const char *fmt, ...)
{
	va_list ap;
	char *line;
	int n;

	if (s->n == s->cap) {
		char **l = shield_grow(s->lines, &s->cap, s->n + 1, sizeof(*l), 64);

		if (!l)
			return -ENOMEM;
		s->lines = l;
	}
	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	s->lines[s->n++] = line;
	return 0;
}

/* Widths of the domain and address columns: the longest entry, within bounds. */
static void column_widths(json_t *domains, int *dw, int *aw)
{
	json_t *dom, *a;
	size_t i, k;

	*dw = 6;
	*aw = 7;
	json_array_foreach(domains, i, dom)
	{
		json_t *d = json_object_get(dom, "domain");

		if (json_is_string(d) && (int)json_string_length(d) > *dw)
			*dw = (int)json_string_length(d);
		json_array_foreach(json_object_get(dom, "addresses"), k, a)
		{
			json_t *ip = json_object_get(a, "ip");

			if (json_is_string(ip) && (int)json_string_length(ip) > *aw)
				*aw = (int)json_string_length(ip);
		}
	}
	if (*dw > 40)
		*dw = 40;
	if (*aw > 39)
		*aw = 39;
}

/* One container's block of the watch screen. */
static int screen_container(struct screen *s, json_t *c)
{
	char name[256], mode[64], pol[64], dm[64], t[512];
	json_t *dom, *check, *domains = json_object_get(c, "domains");
	size_t i, n_open = open_checks(c);
	int r, dw, aw;

	json_text(c, "name", name, sizeof(name));
	if (!name[0])
		json_text(c, "id", name, sizeof(name));
	json_text(c, "mode", mode, sizeof(mode));
	json_text(c, "dns_policy", pol, sizeof(pol));
	dnsmasq_state(c, dm, sizeof(dm));
	column_widths(domains, &dw, &aw);
	r = screen_add(s, "%s  mode %s \xc2\xb7 dns %s \xc2\xb7 dnsmasq %s \xc2\xb7 %s", name,
		       mode[0] ? mode : "?", pol[0] ? pol : "?", dm,
		       n_open ? "DRIFT OPEN" : "no drift");
	if (r >= 0 && json_array_size(domains))
		r = screen_add(s, "  %-*s  %-*s  %-8s  %-8s  %s", dw, "DOMAIN", aw, "ADDRESS",
			       "SET", "TTL LEFT", "LAST ROTATION");
	json_array_foreach(domains, i, dom)
	{
		json_t *addrs = json_object_get(dom, "addresses"), *a;
		char domain[256], rot[32];
		size_t k;

		if (r < 0)
			break;
		json_text(dom, "domain", domain, sizeof(domain));
		when(json_object_get(dom, "last_rotation"), rot);
		if (json_array_size(addrs) == 0)
			r = screen_add(s, "  %-*s  %-*s  %-8s  %-8s  %s", dw, domain, aw, "(none)",
				       "", "", rot);
		json_array_foreach(addrs, k, a)
		{
			char ip[128], set[32], span[32];
			json_t *e = json_object_get(a, "expires_in_ms");

			if (r < 0)
				break;
			json_text(a, "ip", ip, sizeof(ip));
			json_text(a, "set", set, sizeof(set));
			r = screen_add(
				s, "  %-*s  %-*s  %-8s  %-8s  %s", dw, k ? "" : domain, aw, ip, set,
				json_is_integer(e) ? ms_span(json_integer_value(e), span) : "-",
				k ? "" : rot);
		}
	}
	if (r >= 0)
		r = screen_add(s, "  blocked queries: %lld", json_int_or(c, "blocked_queries", 0));
	json_array_foreach(json_object_get(c, "checks"), i, check)
	{
		json_t *ev;
		size_t k;

		json_array_foreach(json_object_get(check, "open"), k, ev)
		{
			if (r < 0)
				break;
			event_line(ev, false, t, sizeof(t));
			r = screen_add(s, "  open: %s", t);
		}
	}
	if (r >= 0 && n_open == 0)
		r = screen_add(s, "  open drift: none");
	if (r >= 0)
		r = screen_add(s, "%s", "");
	return r;
}

int watch_screen_build(struct screen *s, json_t *report, json_t *const *recent, size_t n_recent,
		       int height, const char *status)
{
	json_t *containers = json_object_get(report, "containers"), *c;
	size_t i, n = json_array_size(containers), first_event, rows;
	char t[512];
	int r;

	screen_reset(s);
	r = screen_add(s,
		       "shield watch \xc2\xb7 %zu container%s \xc2\xb7 %s \xc2\xb7 times UTC "
		       "\xc2\xb7 q or Ctrl-C quits",
		       n, n == 1 ? "" : "s", status);
	if (r >= 0)
		r = screen_add(s, "%s", "");
	if (r >= 0 && n == 0)
		r = screen_add(s, "no shielded containers (yet)");
	json_array_foreach(containers, i, c)
	{
		if (r < 0)
			break;
		r = screen_container(s, c);
	}
	if (r < 0)
		return r;
	/* The recent events get the rows left, at least a few. */
	rows = height > 0 && (size_t)height > s->n + 1 ? (size_t)height - s->n - 1 : 3;
	if (rows > n_recent)
		rows = n_recent;
	first_event = n_recent - rows;
	r = screen_add(s, "recent events%s", n_recent ? "" : ": none yet");
	for (i = first_event; r >= 0 && i < n_recent; i++) {
		event_line(recent[i], true, t, sizeof(t));
		r = screen_add(s, "  %s", t);
	}
	return r;
}
