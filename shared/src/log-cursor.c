/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tail cursor of a dnsmasq.log: text format and the resume decision.
 * The hash of the bytes just before the offset is what tells "the file grew"
 * from "the file was truncated and has grown past our offset again" (a
 * copytruncate between two reads): only the first keeps those bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "shield/dnsmasq-log.h"
#include "shield/log-cursor.h"

#define CURSOR_MAGIC "shield-log-cursor 1"

_Static_assert(LOG_CURSOR_TAIL_MAX == DNSMASQ_LOG_TAIL_MAX,
	       "the splitter keeps the bytes the cursor hashes");

uint64_t log_cursor_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

void log_cursor_advance(struct log_cursor *c, uint64_t offset, const void *tail, size_t tail_len)
{
	size_t n = tail_len;

	if (n > LOG_CURSOR_TAIL_MAX)
		n = LOG_CURSOR_TAIL_MAX;
	if (n > offset)
		n = (size_t)offset;
	c->offset = offset;
	c->tail_len = (uint32_t)n;
	c->tail_hash = log_cursor_hash((const unsigned char *)tail + (tail_len - n), n);
}

int log_cursor_format(const struct log_cursor *c, char *out, size_t size)
{
	int n = snprintf(out, size,
			 CURSOR_MAGIC "\ndev %" PRIu64 "\nino %" PRIu64 "\noffset %" PRIu64
				      "\ntail %" PRIu32 " %016" PRIx64 "\n",
			 c->dev, c->ino, c->offset, c->tail_len, c->tail_hash);

	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	if (c->collapse) {
		int m = snprintf(out + n, size - (size_t)n, "collapse %" PRIu64 "\n", c->collapse);

		if (m < 0 || (size_t)m >= size - (size_t)n)
			return -ENOSPC;
		n += m;
	}
	if (c->lines) {
		int m = snprintf(out + n, size - (size_t)n, "lines %" PRIu64 "\n", c->lines);

		if (m < 0 || (size_t)m >= size - (size_t)n)
			return -ENOSPC;
		n += m;
	}
	if (c->has_batch) {
		const struct log_cursor_batch *b = &c->batch;
		int m = snprintf(out + n, size - (size_t)n,
				 "batch %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
				 " %" PRIu64 "\n",
				 b->offset_before, b->lines_before, b->ev_dev, b->ev_ino,
				 b->ev_start, b->ev_end);

		if (m < 0 || (size_t)m >= size - (size_t)n)
			return -ENOSPC;
		n += m;
	}
	return n;
}

/* One line of the text (without '\n') from *pos; false at the end. */
static bool next_line(const char *text, size_t len, size_t *pos, const char **line, size_t *n)
{
	const char *nl;

	if (*pos >= len)
		return false;
	*line = text + *pos;
	nl = memchr(*line, '\n', len - *pos);
	*n = nl ? (size_t)(nl - *line) : len - *pos;
	*pos += *n + (nl ? 1 : 0);
	return true;
}

/* Decimal u64 (no sign, no leading zero unless "0") occupying the whole of s[0..n). */
static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* Exactly 16 lower-case hex digits. */
static bool parse_hex64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n != 16)
		return false;
	for (size_t i = 0; i < n; i++) {
		int d;

		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return true;
}

/* Whether line starts with "KEY ". */
static bool has_key(const char *line, size_t n, const char *key)
{
	size_t k = strlen(key);

	return n > k && memcmp(line, key, k) == 0 && line[k] == ' ';
}

/* "KEY VALUE" with a decimal value. */
static bool key_u64(const char *line, size_t n, const char *key, uint64_t *out)
{
	size_t k = strlen(key);

	return has_key(line, n, key) && parse_u64(line + k + 1, n - k - 1, out);
}

/* "KEY V1 V2 ... Vcount": count decimal values, one space apart. */
static bool key_u64s(const char *line, size_t n, const char *key, uint64_t *out, size_t count)
{
	size_t pos = strlen(key) + 1;

	if (!has_key(line, n, key))
		return false;
	for (size_t i = 0; i < count; i++) {
		const char *sp = memchr(line + pos, ' ', n - pos);
		size_t end = sp ? (size_t)(sp - line) : n;

		if ((i + 1 < count) != (sp != NULL) || !parse_u64(line + pos, end - pos, &out[i]))
			return false;
		pos = end + 1;
	}
	return true;
}

int log_cursor_parse(const char *text, size_t len, struct log_cursor *out, struct shield_error *err)
{
	static const char *const keys[] = {"dev", "ino", "offset"};
	struct log_cursor c;
	uint64_t *vals[] = {&c.dev, &c.ino, &c.offset};
	const char *line = NULL;
	size_t pos = 0, n = 0;
	uint64_t tail_len;
	const char *sp;
	char q[SHIELD_QUOTE_MAX];
	unsigned lineno = 6;
	bool have;

	memset(&c, 0, sizeof(c));
	if (!text)
		return shield_error_set(err, -EINVAL, "log cursor: no input");
	if (len > LOG_CURSOR_TEXT_MAX)
		return shield_error_set(err, -E2BIG, "log cursor: longer than %u bytes",
					(unsigned)LOG_CURSOR_TEXT_MAX);
	if (!next_line(text, len, &pos, &line, &n) || n != strlen(CURSOR_MAGIC) ||
	    memcmp(line, CURSOR_MAGIC, n) != 0)
		return shield_error_set(err, -EINVAL,
					"log cursor: first line must be \"" CURSOR_MAGIC "\"");
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		line = NULL;
		n = 0;
		if (!next_line(text, len, &pos, &line, &n) || !key_u64(line, n, keys[i], vals[i]))
			return shield_error_set(
				err, -EINVAL, "log cursor: line %zu must be \"%s NUMBER\", got %s",
				i + 2, keys[i], line ? shield_quote(line, n, q) : "nothing");
	}
	if (!next_line(text, len, &pos, &line, &n) || n < 5 || memcmp(line, "tail ", 5) != 0 ||
	    !(sp = memchr(line + 5, ' ', n - 5)) ||
	    !parse_u64(line + 5, (size_t)(sp - line - 5), &tail_len) ||
	    !parse_hex64(sp + 1, n - (size_t)(sp + 1 - line), &c.tail_hash))
		return shield_error_set(
			err, -EINVAL,
			"log cursor: line 5 must be \"tail LENGTH HASH\" (16 hex digits)");
	if (tail_len > LOG_CURSOR_TAIL_MAX || tail_len > c.offset)
		return shield_error_set(err, -EINVAL,
					"log cursor: tail length %" PRIu64
					" exceeds %u or the offset %" PRIu64,
					tail_len, (unsigned)LOG_CURSOR_TAIL_MAX, c.offset);
	c.tail_len = (uint32_t)tail_len;
	/* The optional lines, each at most once and in this order. */
	have = next_line(text, len, &pos, &line, &n);
	if (have && has_key(line, n, "collapse")) {
		if (!key_u64(line, n, "collapse", &c.collapse) || c.collapse == 0 ||
		    c.collapse > c.offset)
			return shield_error_set(err, -EINVAL,
						"log cursor: line %u must be \"collapse NUMBER\" "
						"(1 up to the offset)",
						lineno);
		lineno++;
		have = next_line(text, len, &pos, &line, &n);
	}
	if (have && has_key(line, n, "lines")) {
		if (!key_u64(line, n, "lines", &c.lines))
			return shield_error_set(err, -EINVAL,
						"log cursor: line %u must be \"lines NUMBER\"",
						lineno);
		lineno++;
		have = next_line(text, len, &pos, &line, &n);
	}
	if (have && has_key(line, n, "batch")) {
		uint64_t v[6];

		if (!key_u64s(line, n, "batch", v, ARRAY_SIZE(v)) || v[4] > v[5])
			return shield_error_set(err, -EINVAL,
						"log cursor: line %u must be \"batch OFFSET LINES "
						"DEV INO START END\" (START up to END)",
						lineno);
		c.has_batch = true;
		c.batch = (struct log_cursor_batch){v[0], v[1], v[2], v[3], v[4], v[5]};
		lineno++;
		have = next_line(text, len, &pos, &line, &n);
	}
	if (have)
		return shield_error_set(err, -EINVAL,
					"log cursor: line %u must be \"collapse\", \"lines\" or "
					"\"batch\" (in this order, each once), got %s",
					lineno, shield_quote(line, n, q));
	*out = c;
	return 0;
}

const char *log_cursor_action_name(enum log_cursor_action a)
{
	switch (a) {
	case LOG_CURSOR_FRESH:
		return "fresh";
	case LOG_CURSOR_CONTINUE:
		return "continue";
	case LOG_CURSOR_ROTATED:
		return "rotated";
	case LOG_CURSOR_TRUNCATED:
		return "truncated";
	}
	return "unknown";
}

void log_cursor_decide(const struct log_cursor *c, const struct log_file_state *f, bool old_open,
		       struct log_cursor_decision *out)
{
	memset(out, 0, sizeof(*out));
	if (!c) {
		out->action = LOG_CURSOR_FRESH;
		return;
	}
	if (c->dev != f->dev || c->ino != f->ino) {
		out->action = LOG_CURSOR_ROTATED;
		out->gap = !old_open;
		return;
	}
	if (f->size >= c->offset && (!c->tail_len || f->tail_hash == c->tail_hash)) {
		out->action = LOG_CURSOR_CONTINUE;
		out->offset = c->offset;
		return;
	}
	/* A collapse was pending: it happened if the tail now ends N bytes earlier. */
	if (c->collapse && f->size >= c->offset - c->collapse &&
	    (!c->tail_len || f->tail_hash_collapsed == c->tail_hash)) {
		out->action = LOG_CURSOR_CONTINUE;
		out->offset = c->offset - c->collapse;
		out->collapsed = true;
		return;
	}
	out->action = LOG_CURSOR_TRUNCATED;
	out->gap = true;
}
