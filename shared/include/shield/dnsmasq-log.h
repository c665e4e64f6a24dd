/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dnsmasq's query log (log-queries=extra, log-facility=FILE) as records.
 * Pure functions over bytes: nftsetd's tailer feeds what it read to the
 * splitter, which hands back complete lines, and each line is parsed into a
 * record that says what dnsmasq did (a query, a forward, an answer, an
 * nftset add, a refusal by configuration, an error). Nothing here reads a
 * file or allocates.
 *
 * Line shapes (dnsmasq 2.90, captured on this machine; see
 * tests/unit/test-dnsmasq-log.c for the real lines):
 *   "Jan  2 03:04:05 dnsmasq[PID]: SERIAL CLIENT/PORT query[A] NAME from CLIENT"
 *   "... SERIAL CLIENT/PORT forwarded NAME to UPSTREAM"
 *   "... SERIAL CLIENT/PORT reply NAME is ADDR|<CNAME>|NXDOMAIN|NODATA..."
 *   "... SERIAL CLIENT/PORT cached NAME is ..."
 *   "... SERIAL CLIENT/PORT config NAME is NXDOMAIN"
 *   "... SERIAL CLIENT/PORT nftset add 4 inet terok_shield allow_v4 ADDR DOMAIN"
 * plus start-up, warning and error lines without a serial. Facts seen:
 *   - the nftset line names the *configured* domain that matched
 *     ("shield.test" for a query of "www.shield.test"), not the query name,
 *     and comes just before the reply line of the same address;
 *   - TCP queries are answered by a forked child: other pid, serial + 100n;
 *   - names are printed as received (case kept, spaces possible,
 *     "<name unprintable>"), answers may carry " (EDE: ...)";
 *   - "reply error is REFUSED" / "config error is REFUSED" use the word
 *     "error" as the name;
 *   - set errors: "nftset inet terok_shield allow_v4 Error: No such file or directory".
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "error.h"
#include "nft-ruleset.h"

/* Longest line kept whole (without its newline); longer ones are DNSMASQ_LOG_TOO_LONG. */
#define DNSMASQ_LOG_LINE_MAX 4096
/* Room for a name as dnsmasq prints it (escapes included), plus NUL. */
#define DNSMASQ_LOG_NAME_MAX 1025
/* Room for a query type ("A", "AAAA", "type=65535"), plus NUL. */
#define DNSMASQ_LOG_QTYPE_MAX 16
/* Room for an nftset spec ("4#inet#terok_shield#allow_v4" or similar), plus NUL. */
#define DNSMASQ_LOG_SET_MAX 128
/* The splitter remembers this many stream bytes before each line end (for the log cursor). */
#define DNSMASQ_LOG_TAIL_MAX 64
/* Room for the "Mon DD HH:MM:SS" stamp, plus NUL. */
#define DNSMASQ_LOG_STAMP_MAX 16

enum dnsmasq_log_kind {
	DNSMASQ_LOG_OTHER,     /* a line of dnsmasq's we do not interpret (msg set) */
	DNSMASQ_LOG_QUERY,     /* query[TYPE] NAME from CLIENT */
	DNSMASQ_LOG_FORWARDED, /* forwarded NAME to UPSTREAM */
	DNSMASQ_LOG_REPLY,     /* reply NAME is ANSWER (from upstream) */
	DNSMASQ_LOG_CACHED,    /* cached NAME is ANSWER (from dnsmasq's cache) */
	DNSMASQ_LOG_NFTSET,    /* nftset add SET ADDR NAME */
	DNSMASQ_LOG_CONFIG,    /* config NAME is ANSWER (dnsmasq's own configuration answered) */
	DNSMASQ_LOG_STARTED,   /* "started, version ..." (dnsmasq (re)started) */
	DNSMASQ_LOG_WARNING,   /* a warning line (msg set) */
	DNSMASQ_LOG_ERROR,     /* an error line: "failed to ...", "cannot ...", nftset errors */
	DNSMASQ_LOG_TOO_LONG,  /* longer than DNSMASQ_LOG_LINE_MAX: nothing else parsed */
	DNSMASQ_LOG_EMPTY,     /* empty or blank line */
};

/* "other", "query", "forwarded", "reply", "cached", "nftset", "config",
 * "started", "warning", "error", "too_long", "empty". */
const char *dnsmasq_log_kind_name(enum dnsmasq_log_kind k);

/* What an answer line (reply, cached, config) says. */
enum dnsmasq_answer {
	DNSMASQ_ANSWER_NONE,	 /* not an answer line */
	DNSMASQ_ANSWER_ADDR,	 /* an address: rec.addr */
	DNSMASQ_ANSWER_CNAME,	 /* "<CNAME>": the next line names the target */
	DNSMASQ_ANSWER_NXDOMAIN, /* "NXDOMAIN" */
	DNSMASQ_ANSWER_NODATA,	 /* "NODATA", "NODATA-IPv4", "NODATA-IPv6" */
	DNSMASQ_ANSWER_OTHER, /* anything else ("<HTTPS>", "SERVFAIL", "REFUSED", ...): rec.answer_text */
};

struct dnsmasq_log_rec {
	enum dnsmasq_log_kind kind;
	char stamp[DNSMASQ_LOG_STAMP_MAX]; /* "Jan  2 03:04:05", "" if absent */
	int32_t pid;			   /* dnsmasq[PID], 0 if absent */
	bool has_serial;		   /* log-queries=extra prefix present */
	uint64_t serial;		   /* query serial: ties query/forwarded/reply lines */
	struct addr_prefix client;	   /* requester (family 0 = absent) */
	uint16_t client_port;
	char qtype[DNSMASQ_LOG_QTYPE_MAX]; /* QUERY: "A", "AAAA", "type=65", ... */
	/*
	 * The name the line is about, lower-cased with one trailing dot dropped
	 * (dnsmasq prints names as received). QUERY/FORWARDED/REPLY/CACHED/
	 * CONFIG/NFTSET. Not validated: may be any printable text.
	 */
	char name[DNSMASQ_LOG_NAME_MAX];
	struct addr_prefix upstream; /* FORWARDED: server address (family 0 if not an IP) */
	uint16_t upstream_port;	     /* FORWARDED: "#PORT" suffix, 0 if none */
	enum dnsmasq_answer answer;  /* REPLY/CACHED/CONFIG */
	struct addr_prefix addr;     /* ANSWER_ADDR, NFTSET: the address (host prefix) */
	char answer_text[DNSMASQ_LOG_QTYPE_MAX]; /* ANSWER_OTHER: the answer word, cut to fit */
	/* NFTSET: the set spec as logged ("4 inet terok_shield allow_v4") */
	char set[DNSMASQ_LOG_SET_MAX];
	/* NFTSET: points into set: its last ' ' or '#' separated field ("allow_v4") */
	const char *set_name;
	/*
	 * The message after "dnsmasq[PID]: " (or the whole line when there is
	 * no such prefix): points into the caller's line, msg_len bytes, not
	 * NUL-terminated. Valid only while the caller's buffer lives.
	 */
	const char *msg;
	size_t msg_len;
};

/*
 * Parse one log line (without its newline; a trailing '\r' or '\n' is
 * ignored) into out. Never fails on content: anything unrecognised is
 * DNSMASQ_LOG_OTHER, a line longer than DNSMASQ_LOG_LINE_MAX is
 * DNSMASQ_LOG_TOO_LONG, and a recognised verb whose fields do not parse
 * (a bad address, an over-long name) falls back to DNSMASQ_LOG_OTHER.
 * Returns out->kind (>= 0), or -EINVAL if line or out is NULL.
 */
int dnsmasq_log_parse_line(const char *line, size_t len, struct dnsmasq_log_rec *out);

/*
 * Whether a record's set spec (NFTSET) names shield's table: returns the
 * set id via nft_set_lookup (>= 0) when the spec is "[4#|6#]inet#terok_shield#NAME"
 * or "inet terok_shield NAME", else -ENOENT.
 */
int dnsmasq_log_rec_set(const struct dnsmasq_log_rec *rec);

/* One complete line handed out by the splitter. */
struct dnsmasq_log_line {
	const char *data; /* the line without its '\n'; at most DNSMASQ_LOG_LINE_MAX bytes */
	size_t len;	  /* bytes at data */
	/* The line was longer: data holds its first bytes only; treat it as a
	 * DNSMASQ_LOG_TOO_LONG record (do not parse the cut prefix). */
	bool too_long;
	uint64_t full_len;   /* the line's real length (without '\n') */
	uint64_t end_offset; /* stream offset just past this line's '\n' */
	/*
	 * The last tail_len stream bytes ending at end_offset ('\n' included;
	 * tail_len = min(DNSMASQ_LOG_TAIL_MAX, bytes fed since init)), also for
	 * an over-long line: hand them to log_cursor_advance(c, end_offset,
	 * tail, tail_len).
	 */
	const char *tail;
	size_t tail_len;
};

/* Called for each complete line; a negative return stops the feed and is returned. */
typedef int (*dnsmasq_log_line_fn)(const struct dnsmasq_log_line *line, void *ctx);

/*
 * Incremental line splitter with a hard cap: feed it bytes as they are read,
 * it calls back with each complete line and keeps the unfinished tail
 * (at most DNSMASQ_LOG_LINE_MAX bytes; the rest of an over-long line is
 * counted, not stored). offset counts every byte fed; consumed is the
 * offset just past the last complete line (what a cursor may persist).
 */
struct dnsmasq_log_split {
	char buf[DNSMASQ_LOG_LINE_MAX];
	size_t len;			 /* bytes of the unfinished line held in buf */
	uint64_t partial;		 /* real length of the unfinished line so far (>= len) */
	uint64_t offset;		 /* stream offset of the next byte fed */
	uint64_t consumed;		 /* stream offset just past the last complete line */
	char tail[DNSMASQ_LOG_TAIL_MAX]; /* the last bytes fed, oldest first */
	size_t tail_len;
};

/* Start splitting at stream offset start (a cursor's offset, or 0). */
void dnsmasq_log_split_init(struct dnsmasq_log_split *s, uint64_t start);

/*
 * Feed len bytes. For each completed line, cb(line, ctx). Returns 0, or the
 * callback's negative value: the line it refused counts as consumed and the
 * bytes after it are not taken (s->offset minus its value before the call
 * says how many were), or -EINVAL on NULL arguments.
 */
int dnsmasq_log_split_feed(struct dnsmasq_log_split *s, const char *data, size_t len,
			   dnsmasq_log_line_fn cb, void *ctx);

/* Bytes of an unfinished line held back (0 when the stream ends on a newline). */
uint64_t dnsmasq_log_split_pending(const struct dnsmasq_log_split *s);
