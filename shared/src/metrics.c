/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus text exposition, and the small parsers around it (see metrics.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shield/grow.h"
#include "shield/metrics.h"

void metrics_buf_init(struct metrics_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void metrics_buf_free(struct metrics_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static void put(struct metrics_buf *b, const char *s, size_t n)
{
	if (b->error)
		return;
	if (b->len + n + 1 > b->max) {
		b->error = -E2BIG;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		char *p = shield_grow(b->data, &b->cap, b->len + n + 1, 1, 4096);

		if (!p) {
			b->error = -ENOMEM;
			return;
		}
		b->data = p;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void puts_(struct metrics_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* Length of the UTF-8 sequence at s (at most n bytes), 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and code points past U+10FFFF are not UTF-8. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* s with \ and newline escaped, and " too when quoted (label values); not UTF-8 -> U+FFFD. */
static void put_escaped(struct metrics_buf *b, const char *s, bool quoted)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), run = 0;

	for (size_t i = 0; i < n;) {
		size_t l = utf8_len(p + i, n - i);
		const char *esc = NULL;

		if (l == 1 && p[i] == '\\')
			esc = "\\\\";
		else if (l == 1 && p[i] == '\n')
			esc = "\\n";
		else if (l == 1 && p[i] == '"' && quoted)
			esc = "\\\"";
		else if (l == 0)
			esc = "\xef\xbf\xbd";
		if (!esc) {
			run += l;
			i += l;
			continue;
		}
		put(b, s + i - run, run);
		run = 0;
		puts_(b, esc);
		i += l ? l : 1;
	}
	put(b, s + n - run, run);
}

void metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help)
{
	puts_(b, "# HELP ");
	puts_(b, name);
	puts_(b, " ");
	put_escaped(b, help, false);
	puts_(b, "\n# TYPE ");
	puts_(b, name);
	puts_(b, " ");
	puts_(b, type);
	puts_(b, "\n");
}

static void put_name_labels(struct metrics_buf *b, const char *name, const char *suffix,
			    const struct metrics_label *labels, size_t n, const char *le)
{
	puts_(b, name);
	if (suffix)
		puts_(b, suffix);
	if (n == 0 && !le)
		return;
	puts_(b, "{");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			puts_(b, ",");
		puts_(b, labels[i].name);
		puts_(b, "=\"");
		put_escaped(b, labels[i].value ? labels[i].value : "", true);
		puts_(b, "\"");
	}
	if (le) {
		if (n > 0)
			puts_(b, ",");
		puts_(b, "le=\"");
		puts_(b, le);
		puts_(b, "\"");
	}
	puts_(b, "}");
}

static void put_u64_line(struct metrics_buf *b, uint64_t v)
{
	char num[32];

	snprintf(num, sizeof(num), " %llu\n", (unsigned long long)v);
	puts_(b, num);
}

void metrics_sample_u64(struct metrics_buf *b, const char *name, const struct metrics_label *labels,
			size_t n_labels, uint64_t v)
{
	put_name_labels(b, name, NULL, labels, n_labels, NULL);
	put_u64_line(b, v);
}

const char *metrics_format_double(double v, char *out, size_t size)
{
	if (isnan(v)) {
		snprintf(out, size, "NaN");
	} else if (isinf(v)) {
		snprintf(out, size, "%s", v > 0 ? "+Inf" : "-Inf");
	} else if (v > -1e15 && v < 1e15 && v == (double)(long long)v) {
		snprintf(out, size, "%.0f", v); /* 10, not 1e+01 */
	} else {
		/* The shortest of %.1g .. %.17g that reads back as v: 0.1, not 0.1000000000000000055. */
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(out, size, "%.*g", prec, v);
			if (strtod(out, NULL) == v)
				break;
		}
	}
	return out;
}

void metrics_sample_double(struct metrics_buf *b, const char *name,
			   const struct metrics_label *labels, size_t n_labels, double v)
{
	char num[40];

	put_name_labels(b, name, NULL, labels, n_labels, NULL);
	puts_(b, " ");
	puts_(b, metrics_format_double(v, num, sizeof(num)));
	puts_(b, "\n");
}

void metrics_hist_observe(struct metrics_hist *h, const double *bounds, size_t n, double v)
{
	size_t i = 0;

	if (n > METRICS_HIST_BOUNDS_MAX)
		n = METRICS_HIST_BOUNDS_MAX;
	while (i < n && v > bounds[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

void metrics_hist_write(struct metrics_buf *b, const char *name, const struct metrics_label *labels,
			size_t n_labels, const struct metrics_hist *h, const double *bounds,
			size_t n)
{
	uint64_t cum = 0;
	char le[40];

	if (n > METRICS_HIST_BOUNDS_MAX)
		n = METRICS_HIST_BOUNDS_MAX;
	for (size_t i = 0; i <= n; i++) {
		cum += h->counts[i];
		if (i < n)
			metrics_format_double(bounds[i], le, sizeof(le));
		else
			snprintf(le, sizeof(le), "+Inf");
		put_name_labels(b, name, "_bucket", labels, n_labels, le);
		put_u64_line(b, cum);
	}
	put_name_labels(b, name, "_sum", labels, n_labels, NULL);
	puts_(b, " ");
	puts_(b, metrics_format_double(h->sum, le, sizeof(le)));
	puts_(b, "\n");
	put_name_labels(b, name, "_count", labels, n_labels, NULL);
	put_u64_line(b, h->count);
}

int metrics_setup_ms(const char *detail, double *ms)
{
	const char *p, *num;
	char *end;
	size_t n;
	double v;

	if (!detail)
		return -EINVAL;
	n = strlen(detail);
	if (n < 5 || strcmp(detail + n - 3, " ms") != 0)
		return -EINVAL;
	/* The number runs back from " ms" to the "; " before it. */
	p = detail + n - 3;
	num = p;
	while (num > detail && ((num[-1] >= '0' && num[-1] <= '9') || num[-1] == '.'))
		num--;
	if (num == p || num - detail < 2 || num[-1] != ' ' || num[-2] != ';')
		return -EINVAL;
	if (num[0] == '.')
		return -EINVAL;
	errno = 0;
	v = strtod(num, &end);
	if (errno != 0 || end != p || !isfinite(v) || v < 0)
		return -EINVAL;
	*ms = v;
	return 0;
}

/* ------------------------------------------------------------------ HTTP */

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

int metrics_http_route(const char *buf, size_t len, size_t max, struct metrics_http_req *out)
{
	const char *eol, *sp1, *sp2, *target, *ver, *path_end;
	size_t mlen, tlen, vlen, hdr_end = 0;

	memset(out, 0, sizeof(*out));
	/* The header ends with an empty line (CRLF, or a bare LF as some clients send). */
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < len && buf[i + 1] == '\n') {
			hdr_end = i + 2;
			break;
		}
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
			hdr_end = i + 3;
			break;
		}
	}
	if (hdr_end == 0 || hdr_end > max) {
		if (len < max && hdr_end == 0)
			return 0;
		out->status = 431;
		return 1;
	}
	eol = memchr(buf, '\n', hdr_end);
	if (eol > buf && eol[-1] == '\r')
		eol--;
	/* METHOD SP TARGET SP HTTP/x.y */
	sp1 = memchr(buf, ' ', (size_t)(eol - buf));
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	out->status = 400;
	if (!sp1 || !sp2 || sp1 == buf)
		return 1;
	mlen = (size_t)(sp1 - buf);
	for (size_t i = 0; i < mlen; i++)
		if (!is_tchar(buf[i]))
			return 1;
	target = sp1 + 1;
	tlen = (size_t)(sp2 - target);
	ver = sp2 + 1;
	vlen = (size_t)(eol - ver);
	if (tlen == 0 || memchr(target, ' ', tlen) || vlen < 8 || memcmp(ver, "HTTP/", 5) != 0)
		return 1;
	if (!(vlen == 8 && (memcmp(ver, "HTTP/1.1", 8) == 0 || memcmp(ver, "HTTP/1.0", 8) == 0))) {
		out->status = 505;
		return 1;
	}
	/* The absolute form (http://host:port/path) names the path after the authority. */
	if (tlen > 7 && strncasecmp(target, "http://", 7) == 0) {
		const char *slash = memchr(target + 7, '/', tlen - 7);

		if (!slash) {
			out->status = 404;
			return 1;
		}
		tlen -= (size_t)(slash - target);
		target = slash;
	}
	path_end = memchr(target, '?', tlen);
	if (path_end)
		tlen = (size_t)(path_end - target);
	if (tlen != 8 || memcmp(target, "/metrics", 8) != 0) {
		out->status = 404;
		return 1;
	}
	if (mlen == 3 && memcmp(buf, "GET", 3) == 0) {
		out->status = 200;
	} else if (mlen == 4 && memcmp(buf, "HEAD", 4) == 0) {
		out->status = 200;
		out->head = true;
	} else {
		out->status = 405;
	}
	return 1;
}

/* ------------------------------------------------------ --metrics-listen */

int metrics_listen_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, bool *loopback,
			 struct shield_error *err)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *port_s;
	char *end;
	unsigned long port;
	size_t hlen;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			goto bad;
		hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, hlen);
		port_s = close + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			goto bad;
		hlen = (size_t)(colon - s);
		if (hlen == 0 || hlen >= sizeof(host) || memchr(s, ':', hlen))
			goto bad;
		memcpy(host, s, hlen);
		port_s = colon + 1;
	}
	host[hlen] = '\0';
	if (*port_s < '0' || *port_s > '9')
		goto bad;
	errno = 0;
	port = strtoul(port_s, &end, 10);
	if (errno || *end || port > 65535)
		goto bad;
	if (s[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			goto bad;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
		*loopback =
			IN6_IS_ADDR_LOOPBACK(&a->sin6_addr) ||
			(IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && a->sin6_addr.s6_addr[12] == 127);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			goto bad;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof(*a);
		*loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	return 0;
bad:
	return shield_error_set(err, -EINVAL,
				"invalid address '%s' (a numeric IPv4 ADDR:PORT or [IPv6]:PORT, "
				"e.g. 127.0.0.1:9464 or [::1]:9464)",
				s);
}
