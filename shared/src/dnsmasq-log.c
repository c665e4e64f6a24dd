/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dnsmasq query-log lines as records, and the incremental line splitter the
 * tailer feeds. Pure: bytes in, records out.
 *
 * dnsmasq prints query names as it received them, so a name may hold
 * spaces (even " is " or " from "): every field that follows a name is
 * therefore found from the right end of the line, where dnsmasq's own
 * tokens (an address, an answer word, a server) never contain spaces.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "shield/dnsmasq-log.h"

static const char *const kind_names[] = {
	[DNSMASQ_LOG_OTHER] = "other",	       [DNSMASQ_LOG_QUERY] = "query",
	[DNSMASQ_LOG_FORWARDED] = "forwarded", [DNSMASQ_LOG_REPLY] = "reply",
	[DNSMASQ_LOG_CACHED] = "cached",       [DNSMASQ_LOG_NFTSET] = "nftset",
	[DNSMASQ_LOG_CONFIG] = "config",       [DNSMASQ_LOG_STARTED] = "started",
	[DNSMASQ_LOG_WARNING] = "warning",     [DNSMASQ_LOG_ERROR] = "error",
	[DNSMASQ_LOG_TOO_LONG] = "too_long",   [DNSMASQ_LOG_EMPTY] = "empty",
};

const char *dnsmasq_log_kind_name(enum dnsmasq_log_kind k)
{
	if ((unsigned)k >= ARRAY_SIZE(kind_names))
		return "other";
	return kind_names[k];
}

/* A read-only view of part of the line. */
struct span {
	const char *p;
	size_t n;
};

static bool span_starts(struct span s, const char *prefix)
{
	size_t n = strlen(prefix);

	return s.n >= n && memcmp(s.p, prefix, n) == 0;
}

static bool span_eq(struct span s, const char *word)
{
	return s.n == strlen(word) && memcmp(s.p, word, s.n) == 0;
}

static struct span span_skip(struct span s, size_t n)
{
	return (struct span){s.p + n, s.n - n};
}

/*
 * Position of the last occurrence of needle (n bytes) in s, or -1. A byte
 * loop from the right: what is searched for (" is ", " from ", the last
 * spaces) lies a few bytes from the end, where a call to memrchr per
 * candidate cost more than the scan.
 */
static ssize_t span_rfind_n(struct span s, const char *needle, size_t n)
{
	if (n == 0)
		return (ssize_t)s.n;
	if (s.n < n)
		return -1;
	for (size_t i = s.n - n + 1; i-- > 0;)
		if (s.p[i] == needle[0] && memcmp(s.p + i, needle, n) == 0)
			return (ssize_t)i;
	return -1;
}

#define span_rfind(s, lit) span_rfind_n(s, lit, sizeof(lit) - 1)

/* Position of the first occurrence of c in s, or -1. */
static ssize_t span_find_char(struct span s, char c)
{
	const char *q = memchr(s.p, c, s.n);

	return q ? q - s.p : -1;
}

/* Parse a decimal number without sign or leading junk, the whole span; false on overflow. */
static bool span_u64(struct span s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s.n == 0 || s.n > 20)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		unsigned d;

		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
		d = (unsigned)(s.p[i] - '0');
		/* 19 digits and more may pass max or wrap: check each step (a division) only then. */
		if (s.n >= 19 && v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/*
 * How many decimal digits s starts with (counting stops past 20: too many
 * for span_u64), and their value when there are at most 18 (no overflow).
 */
static size_t span_digits(struct span s, uint64_t *value)
{
	uint64_t v = 0;
	size_t k = 0;

	while (k < s.n && k <= 20 && s.p[k] >= '0' && s.p[k] <= '9')
		v = v * 10 + (uint64_t)(s.p[k++] - '0');
	*value = v;
	return k;
}

/* span_u64 of the k leading digits of s, whose value span_digits gave. */
static bool digits_u64(struct span s, size_t k, uint64_t v, uint64_t max, uint64_t *out)
{
	if (k >= 19)
		return span_u64((struct span){s.p, k}, max, out);
	if (v > max)
		return false;
	*out = v;
	return true;
}

/* Copy a name, lower-cased, one trailing dot dropped; false if it does not fit or is empty. */
static bool copy_name(struct span s, char *out, size_t size)
{
	size_t i = 0;

	if (s.n > 1 && s.p[s.n - 1] == '.')
		s.n--;
	if (s.n == 0 || s.n >= size)
		return false;
	/*
	 * Copied and lower-cased eight bytes at a time, read from the line (not
	 * read back from out, whose bytes a copy just wrote): bytes 'A'-'Z' get
	 * 0x20 added, nothing else changes.
	 */
	for (; i + 8 <= s.n; i += 8) {
		uint64_t w, low, upper;

		memcpy(&w, s.p + i, 8);
		low = w & 0x7f7f7f7f7f7f7f7fULL;
		upper = (low + 0x3f3f3f3f3f3f3f3fULL) & ~(low + 0x2525252525252525ULL) & ~w &
			0x8080808080808080ULL;
		w |= upper >> 2;
		memcpy(out + i, &w, 8);
	}
	for (; i < s.n; i++)
		out[i] = s.p[i] >= 'A' && s.p[i] <= 'Z' ? (char)(s.p[i] - 'A' + 'a') : s.p[i];
	out[s.n] = '\0';
	return true;
}

/* Copy a span cut to fit. */
static void copy_cut(struct span s, char *out, size_t size)
{
	size_t n = s.n < size - 1 ? s.n : size - 1;

	memcpy(out, s.p, n);
	out[n] = '\0';
}

/*
 * The common case first: a dotted quad as dnsmasq prints it (no leading
 * zeros, four numbers 0-255). Anything else, valid or not, is left to
 * addr_parse_host (false here, nothing written).
 */
static bool parse_v4_fast(struct span s, struct addr_prefix *out)
{
	const char *p = s.p, *end = s.p + s.n;
	uint32_t a = 0; /* in a register: four byte stores read back as a word would stall */

	if (s.n < 7 || s.n > 15)
		return false;
	for (int octet = 0; octet < 4; octet++) {
		unsigned v;

		if (octet > 0 && (p == end || *p++ != '.'))
			return false;
		if (p == end || (v = (unsigned)(*p - '0')) > 9)
			return false;
		p++;
		if (p != end && (unsigned)(*p - '0') <= 9) {
			if (v == 0)
				return false; /* a leading zero */
			v = v * 10 + (unsigned)(*p++ - '0');
			if (p != end && (unsigned)(*p - '0') <= 9) {
				v = v * 10 + (unsigned)(*p++ - '0');
				if (v > 255)
					return false;
			}
		}
		a = a << 8 | v;
	}
	if (p != end)
		return false;
	memset(out, 0, sizeof(*out));
	out->family = AF_INET;
	out->addr[0] = (uint8_t)(a >> 24);
	out->addr[1] = (uint8_t)(a >> 16);
	out->addr[2] = (uint8_t)(a >> 8);
	out->addr[3] = (uint8_t)a;
	out->plen = 32;
	return true;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The common IPv6 forms: eight groups of 1-4 hex digits, or fewer with one
 * "::". Anything else (an embedded IPv4 address, a doubt) is left to
 * addr_parse_host (false here, nothing written). Not inlined: its array
 * would give parse_host, which reads every line's client, a stack canary.
 */
static _noinline_ bool parse_v6_fast(struct span s, struct addr_prefix *out)
{
	uint16_t g[8];
	int n = 0, gap = -1;
	size_t i = 0;

	if (s.n < 2 || s.n > 39)
		return false;
	if (s.p[0] == ':') {
		if (s.p[1] != ':')
			return false;
		gap = 0;
		i = 2;
	}
	while (i < s.n) {
		size_t start = i;
		unsigned v = 0;
		int d;

		while (i < s.n && i - start < 4 && (d = hex_digit(s.p[i])) >= 0) {
			v = v << 4 | (unsigned)d;
			i++;
		}
		if (i == start || n == 8)
			return false;
		g[n++] = (uint16_t)v;
		if (i == s.n)
			break;
		if (s.p[i++] != ':' || i == s.n)
			return false;
		if (s.p[i] == ':') {
			if (gap >= 0)
				return false;
			gap = n;
			i++;
		}
	}
	if (gap < 0 ? n != 8 : n > 7)
		return false;
	memset(out, 0, sizeof(*out));
	out->family = AF_INET6;
	out->plen = 128;
	for (int k = 0; k < n; k++) {
		int at = gap < 0 || k < gap ? k : 8 - (n - k);

		out->addr[2 * at] = (uint8_t)(g[k] >> 8);
		out->addr[2 * at + 1] = (uint8_t)g[k];
	}
	return true;
}

/* An address with no prefix length; false otherwise. */
static bool parse_host(struct span s, struct addr_prefix *out)
{
	if (parse_v4_fast(s, out) || parse_v6_fast(s, out))
		return true;
	if (s.n == 0 || s.n >= ADDR_TEXT_MAX || span_find_char(s, '/') >= 0)
		return false;
	return addr_parse_host(s.p, s.n, out, NULL) == 0;
}

/* "ADDR/PORT" (the client field of log-queries=extra). */
static bool parse_addr_port(struct span s, struct addr_prefix *addr, uint16_t *port)
{
	ssize_t slash = span_rfind(s, "/");
	uint64_t v;

	if (slash < 0)
		return false;
	if (!span_u64(span_skip(s, (size_t)slash + 1), 65535, &v))
		return false;
	if (!parse_host((struct span){s.p, (size_t)slash}, addr))
		return false;
	*port = (uint16_t)v;
	return true;
}

/* The answer word of "NAME is ANSWER": fills rec.answer (and addr/answer_text). */
static bool parse_answer(struct span a, struct dnsmasq_log_rec *rec)
{
	if (a.n == 0 || span_find_char(a, ' ') >= 0)
		return false;
	if (parse_host(a, &rec->addr)) {
		rec->answer = DNSMASQ_ANSWER_ADDR;
	} else if (span_eq(a, "<CNAME>")) {
		rec->answer = DNSMASQ_ANSWER_CNAME;
	} else if (span_eq(a, "NXDOMAIN")) {
		rec->answer = DNSMASQ_ANSWER_NXDOMAIN;
	} else if (span_eq(a, "NODATA") || span_eq(a, "NODATA-IPv4") || span_eq(a, "NODATA-IPv6")) {
		rec->answer = DNSMASQ_ANSWER_NODATA;
	} else {
		rec->answer = DNSMASQ_ANSWER_OTHER;
		copy_cut(a, rec->answer_text, sizeof(rec->answer_text));
	}
	return true;
}

/*
 * "NAME is ANSWER" or "NAME is WORD (EDE: ...)": the answer is the last
 * token, or the token before a trailing extended-error note.
 */
static bool parse_is(struct span s, struct dnsmasq_log_rec *rec)
{
	struct span body = s;
	ssize_t at;

	if (s.n && s.p[s.n - 1] == ')') {
		ssize_t ede = span_rfind(s, " (EDE: ");

		if (ede >= 0)
			body.n = (size_t)ede;
	}
	at = span_rfind(body, " is ");
	if (at <= 0)
		return false;
	if (!parse_answer(span_skip(body, (size_t)at + 4), rec))
		return false;
	/* An extended-error note never follows an address. */
	if (body.n != s.n && rec->answer == DNSMASQ_ANSWER_ADDR)
		return false;
	return copy_name((struct span){s.p, (size_t)at}, rec->name, sizeof(rec->name));
}

/* "query[TYPE] NAME from CLIENT" */
static bool parse_query(struct span s, struct dnsmasq_log_rec *rec)
{
	ssize_t close = span_find_char(s, ']'), from;
	struct span rest;

	if (close <= 0 || (size_t)close + 1 >= s.n || s.p[close + 1] != ' ')
		return false;
	if ((size_t)close >= sizeof(rec->qtype))
		return false;
	memcpy(rec->qtype, s.p, (size_t)close);
	rec->qtype[close] = '\0';
	rest = span_skip(s, (size_t)close + 2);
	from = span_rfind(rest, " from ");
	if (from <= 0)
		return false;
	return copy_name((struct span){rest.p, (size_t)from}, rec->name, sizeof(rec->name));
}

/* "forwarded NAME to SERVER" with SERVER "ADDR" or "ADDR#PORT" (or a name for other servers). */
static bool parse_forwarded(struct span s, struct dnsmasq_log_rec *rec)
{
	ssize_t to = span_rfind(s, " to ");
	struct span srv;
	ssize_t hash;
	uint64_t port;

	if (to <= 0)
		return false;
	srv = span_skip(s, (size_t)to + 4);
	if (srv.n == 0 || span_find_char(srv, ' ') >= 0)
		return false;
	hash = span_find_char(srv, '#');
	if (hash >= 0) {
		if (span_u64(span_skip(srv, (size_t)hash + 1), 65535, &port))
			rec->upstream_port = (uint16_t)port;
		srv.n = (size_t)hash;
	}
	if (!parse_host(srv, &rec->upstream))
		memset(&rec->upstream, 0, sizeof(rec->upstream));
	return copy_name((struct span){s.p, (size_t)to}, rec->name, sizeof(rec->name));
}

/* "SETSPEC ADDR DOMAIN": the set spec may hold spaces ("4 inet terok_shield allow_v4"). */
static bool parse_nftset(struct span s, struct dnsmasq_log_rec *rec)
{
	ssize_t sp_name = span_rfind(s, " "), sp_addr, sp_set;
	struct span head, set;

	if (sp_name <= 0)
		return false;
	head = (struct span){s.p, (size_t)sp_name};
	sp_addr = span_rfind(head, " ");
	if (sp_addr <= 0)
		return false;
	if (!parse_host(span_skip(head, (size_t)sp_addr + 1), &rec->addr))
		return false;
	set = (struct span){s.p, (size_t)sp_addr};
	if (set.n >= sizeof(rec->set))
		return false;
	memcpy(rec->set, set.p, set.n);
	rec->set[set.n] = '\0';
	/* The set name is short: its separator is found from the right. */
	sp_set = (ssize_t)set.n - 1;
	while (sp_set >= 0 && set.p[sp_set] != ' ' && set.p[sp_set] != '#')
		sp_set--;
	rec->set_name = rec->set + (sp_set + 1);
	if (!*rec->set_name)
		return false;
	return copy_name(span_skip(s, (size_t)sp_name + 1), rec->name, sizeof(rec->name));
}

/* Lines without a serial: lifecycle, warnings, errors. */
static enum dnsmasq_log_kind classify_message(struct span m)
{
	static const char *const error_prefixes[] = {
		"failed", "FAILED", "cannot", "bad ", "error", "Error", "illegal", "unknown",
	};

	if (span_starts(m, "started, version "))
		return DNSMASQ_LOG_STARTED;
	if (span_starts(m, "warning") || span_starts(m, "Warning") ||
	    span_starts(m, "Maximum number of concurrent") ||
	    span_starts(m, "possible DNS-rebind") || span_starts(m, "reducing DNS packet size"))
		return DNSMASQ_LOG_WARNING;
	for (size_t i = 0; i < ARRAY_SIZE(error_prefixes); i++)
		if (span_starts(m, error_prefixes[i]))
			return DNSMASQ_LOG_ERROR;
	/* "nftset inet terok_shield allow_v4 Error: No such file or directory" */
	if ((span_starts(m, "nftset ") || span_starts(m, "ipset ")) && span_rfind(m, "rror") >= 0)
		return DNSMASQ_LOG_ERROR;
	if (span_rfind(m, " failed") >= 0 || span_rfind(m, ": Permission denied") >= 0)
		return DNSMASQ_LOG_ERROR;
	return DNSMASQ_LOG_OTHER;
}

/* "SERIAL ADDR/PORT " of log-queries=extra; advances m past it. */
static bool parse_extra(struct span *m, struct dnsmasq_log_rec *rec)
{
	/* The serial: digits up to the first space. */
	uint64_t v;
	size_t sp1 = span_digits(*m, &v);
	struct span rest;
	ssize_t sp2;
	uint64_t serial;

	if (sp1 == 0 || sp1 >= m->n || m->p[sp1] != ' ' ||
	    !digits_u64(*m, sp1, v, UINT64_MAX, &serial))
		return false;
	rest = span_skip(*m, sp1 + 1);
	sp2 = span_find_char(rest, ' ');
	if (sp2 <= 0 ||
	    !parse_addr_port((struct span){rest.p, (size_t)sp2}, &rec->client, &rec->client_port)) {
		memset(&rec->client, 0, sizeof(rec->client));
		rec->client_port = 0;
		return false;
	}
	rec->has_serial = true;
	rec->serial = serial;
	*m = span_skip(rest, (size_t)sp2 + 1);
	return true;
}

/* The message body after the optional extra prefix. */
static enum dnsmasq_log_kind parse_body(struct span m, struct dnsmasq_log_rec *rec)
{
	if (span_starts(m, "query[")) {
		if (parse_query(span_skip(m, 6), rec))
			return DNSMASQ_LOG_QUERY;
	} else if (span_starts(m, "forwarded ")) {
		if (parse_forwarded(span_skip(m, 10), rec))
			return DNSMASQ_LOG_FORWARDED;
	} else if (span_starts(m, "reply ")) {
		if (parse_is(span_skip(m, 6), rec))
			return DNSMASQ_LOG_REPLY;
	} else if (span_starts(m, "cached ")) {
		if (parse_is(span_skip(m, 7), rec))
			return DNSMASQ_LOG_CACHED;
	} else if (span_starts(m, "config ")) {
		if (parse_is(span_skip(m, 7), rec))
			return DNSMASQ_LOG_CONFIG;
	} else if (span_starts(m, "nftset add ")) {
		if (parse_nftset(span_skip(m, 11), rec))
			return DNSMASQ_LOG_NFTSET;
	}
	return DNSMASQ_LOG_OTHER;
}

/* Clear what a failed verb parse may have left behind. */
static void clear_fields(struct dnsmasq_log_rec *rec)
{
	rec->qtype[0] = '\0';
	rec->name[0] = '\0';
	memset(&rec->upstream, 0, sizeof(rec->upstream));
	rec->upstream_port = 0;
	rec->answer = DNSMASQ_ANSWER_NONE;
	memset(&rec->addr, 0, sizeof(rec->addr));
	rec->answer_text[0] = '\0';
	rec->set[0] = '\0';
	rec->set_name = NULL;
}

/* "Mon DD HH:MM:SS dnsmasq[PID]: " (log-facility=FILE); advances m past it. */
static void parse_prefix(struct span *m, struct dnsmasq_log_rec *rec)
{
	struct span s = *m, rest;
	bool dnsmasq;
	ssize_t open;
	size_t close;
	uint64_t pid;

	if (s.n < 16 || s.p[15] != ' ' || s.p[3] != ' ' || s.p[9] != ':' || s.p[12] != ':')
		goto no_stamp;
	memcpy(rec->stamp, s.p, 15);
	rec->stamp[15] = '\0';
	s = span_skip(s, 16);
no_stamp:
	/* "dnsmasq[PID]: " (also "dnsmasq-dhcp[PID]: " and the like) */
	dnsmasq = span_starts(s, "dnsmasq[");
	open = dnsmasq ? 7 : span_find_char(s, '[');
	if (open <= 0 || open > 32)
		goto no_tag;
	rest = span_skip(s, (size_t)open + 1);
	/* The pid: digits up to the first ']', then ':'. */
	close = span_digits(rest, &pid);
	if (close == 0 || close + 1 >= rest.n || rest.p[close] != ']' || rest.p[close + 1] != ':')
		goto no_tag;
	if (!digits_u64(rest, close, pid, INT32_MAX, &pid))
		goto no_tag;
	for (ssize_t i = 0; !dnsmasq && i < open;
	     i++) /* no space in the tag ("dnsmasq" has none) */
		if (s.p[i] == ' ')
			goto no_tag;
	rec->pid = (int32_t)pid;
	s = span_skip(rest, close + 2);
	if (s.n && s.p[0] == ' ')
		s = span_skip(s, 1);
	*m = s;
	return;
no_tag:
	if (rec->stamp[0])
		*m = s;
}

/*
 * Every field zero or empty: the string buffers only in their first byte
 * (the name alone is 1 KiB a line that nobody reads past its NUL).
 */
static void rec_init(struct dnsmasq_log_rec *r)
{
	r->kind = DNSMASQ_LOG_OTHER;
	r->stamp[0] = '\0';
	r->pid = 0;
	r->has_serial = false;
	r->serial = 0;
	memset(&r->client, 0, sizeof(r->client));
	r->client_port = 0;
	r->qtype[0] = '\0';
	r->name[0] = '\0';
	memset(&r->upstream, 0, sizeof(r->upstream));
	r->upstream_port = 0;
	r->answer = DNSMASQ_ANSWER_NONE;
	memset(&r->addr, 0, sizeof(r->addr));
	r->answer_text[0] = '\0';
	r->set[0] = '\0';
	r->set_name = NULL;
	r->msg = NULL;
	r->msg_len = 0;
}

int dnsmasq_log_parse_line(const char *line, size_t len, struct dnsmasq_log_rec *out)
{
	struct span m = {line, len};
	bool blank = true;

	if (!out || (!line && len))
		return -EINVAL;
	rec_init(out);
	while (m.n && (m.p[m.n - 1] == '\n' || m.p[m.n - 1] == '\r'))
		m.n--;
	if (m.n > DNSMASQ_LOG_LINE_MAX) {
		out->kind = DNSMASQ_LOG_TOO_LONG;
		return out->kind;
	}
	for (size_t i = 0; i < m.n && blank; i++)
		blank = m.p[i] == ' ' || m.p[i] == '\t';
	if (blank) {
		out->kind = DNSMASQ_LOG_EMPTY;
		out->msg = line;
		return out->kind;
	}
	parse_prefix(&m, out);
	out->msg = m.p;
	out->msg_len = m.n;
	if (memchr(m.p, '\0', m.n)) {
		out->kind = DNSMASQ_LOG_OTHER;
		return out->kind;
	}
	if (parse_extra(&m, out)) {
		out->kind = parse_body(m, out);
		if (out->kind == DNSMASQ_LOG_OTHER)
			clear_fields(out);
		return out->kind;
	}
	out->kind = classify_message(m);
	return out->kind;
}

int dnsmasq_log_rec_set(const struct dnsmasq_log_rec *rec)
{
	char spec[DNSMASQ_LOG_SET_MAX];
	const char *p;
	size_t n;

	if (!rec || rec->kind != DNSMASQ_LOG_NFTSET)
		return -ENOENT;
	n = strnlen(rec->set, sizeof(rec->set) - 1);
	/* As dnsmasq logs it ("4 inet terok_shield allow_v4"): no copy needed. */
	if (!memchr(rec->set, '#', n)) {
		static const char table[] = NFT_TABLE_FAMILY_NAME " " NFT_TABLE_NAME " ";

		p = rec->set;
		if ((p[0] == '4' || p[0] == '6') && p[1] == ' ')
			p += 2;
		if (strncmp(p, table, sizeof(table) - 1) != 0)
			return -ENOENT;
		return nft_set_lookup(p + sizeof(table) - 1);
	}
	/* Normalise separators: "4#inet#terok_shield#allow_v4" as an nftset= option reads. */
	memcpy(spec, rec->set, n);
	spec[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (spec[i] == '#')
			spec[i] = ' ';
	p = spec;
	if ((p[0] == '4' || p[0] == '6') && p[1] == ' ')
		p += 2;
	if (strncmp(p, NFT_TABLE_FAMILY_NAME " " NFT_TABLE_NAME " ",
		    strlen(NFT_TABLE_FAMILY_NAME " " NFT_TABLE_NAME " ")) != 0)
		return -ENOENT;
	p += strlen(NFT_TABLE_FAMILY_NAME " " NFT_TABLE_NAME " ");
	return nft_set_lookup(p);
}

void dnsmasq_log_split_init(struct dnsmasq_log_split *s, uint64_t start)
{
	memset(s, 0, sizeof(*s));
	s->offset = s->consumed = start;
}

/* Keep the last DNSMASQ_LOG_TAIL_MAX bytes fed. */
static void tail_push(struct dnsmasq_log_split *s, const char *p, size_t n)
{
	size_t keep;

	if (n == 0)
		return;
	if (n >= sizeof(s->tail)) {
		memcpy(s->tail, p + n - sizeof(s->tail), sizeof(s->tail));
		s->tail_len = sizeof(s->tail);
		return;
	}
	keep = s->tail_len + n > sizeof(s->tail) ? sizeof(s->tail) - n : s->tail_len;
	memmove(s->tail, s->tail + (s->tail_len - keep), keep);
	memcpy(s->tail + keep, p, n);
	s->tail_len = keep + n;
}

int dnsmasq_log_split_feed(struct dnsmasq_log_split *s, const char *data, size_t len,
			   dnsmasq_log_line_fn cb, void *ctx)
{
	size_t i = 0;
	/* data[0, synced) is in s->tail; later bytes are pushed when needed (at the latest on return). */
	size_t synced = 0;
	int r = 0;

	if (!s || !cb || (!data && len))
		return -EINVAL;
	while (i < len) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t chunk = nl ? (size_t)(nl - (data + i)) : len - i;
		size_t end = i + chunk + 1;
		struct dnsmasq_log_line line;

		if (nl && s->len == 0 && s->partial == 0 && end >= DNSMASQ_LOG_TAIL_MAX) {
			/*
			 * A whole line inside data with its tail: handed out where it
			 * lies, without copying it or the tail (most lines).
			 */
			line = (struct dnsmasq_log_line){
				.data = data + i,
				.len = chunk < DNSMASQ_LOG_LINE_MAX ? chunk : DNSMASQ_LOG_LINE_MAX,
				.too_long = chunk > DNSMASQ_LOG_LINE_MAX,
				.full_len = chunk,
				.tail = data + end - DNSMASQ_LOG_TAIL_MAX,
				.tail_len = DNSMASQ_LOG_TAIL_MAX,
			};
			s->offset += chunk + 1;
			line.end_offset = s->offset;
			s->consumed = s->offset;
			i = end;
			r = cb(&line, ctx);
			if (r < 0)
				break;
			continue;
		}
		/* A line begun in an earlier feed, or the start of the stream: through buf. */
		{
			size_t room = sizeof(s->buf) - s->len;
			size_t keep = chunk < room ? chunk : room;

			memcpy(s->buf + s->len, data + i, keep);
			s->len += keep;
		}
		tail_push(s, data + synced, i - synced);
		tail_push(s, data + i, chunk + (nl ? 1 : 0));
		s->partial += chunk;
		s->offset += chunk;
		i += chunk;
		synced = i + (nl ? 1 : 0);
		if (nl) {
			line = (struct dnsmasq_log_line){
				.data = s->buf,
				.len = s->len,
				.too_long = s->partial > DNSMASQ_LOG_LINE_MAX,
				.full_len = s->partial,
			};
			i++;
			s->offset++;
			line.end_offset = s->offset;
			line.tail = s->tail;
			line.tail_len = s->tail_len;
			s->consumed = s->offset;
			s->len = 0;
			s->partial = 0;
			r = cb(&line, ctx);
			if (r < 0)
				break;
		}
	}
	tail_push(s, data + synced, i - synced);
	return r < 0 ? r : 0;
}

uint64_t dnsmasq_log_split_pending(const struct dnsmasq_log_split *s)
{
	return s->partial;
}
