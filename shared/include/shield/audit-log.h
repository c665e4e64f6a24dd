/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading audit.jsonl back (`shield logs`): timestamps, one line into an
 * entry, a chunked line reader that survives partial and oversized lines,
 * and the time order in which entries of several containers are merged.
 * Everything here is pure (bytes in, entries out), so it is unit-tested
 * and fuzzed without a bundle.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* A line longer than this (without its newline) is skipped as malformed. */
#define AUDIT_LINE_MAX (16 * 1024)

/*
 * Parse an ISO 8601 timestamp as audit.jsonl carries it into nanoseconds
 * since the epoch (UTC): "YYYY-MM-DDTHH:MM:SS" (or ' ' for 'T'), an
 * optional fraction of 1 to 9 digits, then "Z", "+HH:MM", "-HH:MM",
 * "+HHMM" or nothing (read as UTC). Years 1970..9999. -EINVAL otherwise.
 */
int audit_ts_parse(const char *s, size_t len, int64_t *out_ns);

/* One audit entry; the strings are owned (NULL when the line has no such field). */
struct audit_entry {
	int64_t ts_ns; /* audit_ts_parse of ts */
	char *ts;
	char *container;
	char *action;
	char *dest;
	char *detail;
	size_t source; /* which log it came from (the caller's index) */
	uint64_t seq;  /* its position in that log, for a stable order */
};

void audit_entry_free(struct audit_entry *e);

/*
 * Parse one line (without its newline): a JSON object with a string "ts"
 * that audit_ts_parse accepts and a string "action"; "container", "dest"
 * and "detail" are optional (a value that is not a string is kept as its
 * compact JSON text). Unknown keys are ignored. -EINVAL with err saying
 * why otherwise; e is then left empty.
 */
int audit_entry_parse(const char *line, size_t len, struct audit_entry *e,
		      struct shield_error *err);

/* A growing array of entries. */
struct audit_log {
	struct audit_entry *v;
	size_t n, cap;
};

void audit_log_free(struct audit_log *l);

/* Keep only the last n entries (in the current order). */
void audit_log_keep_last(struct audit_log *l, size_t n);

/*
 * Sort into merge order: by time, then by source, then by position within
 * the source, so equal timestamps keep each log's own order and the order
 * never depends on the sort algorithm.
 */
void audit_log_sort(struct audit_log *l);

/*
 * Split a byte stream into lines and parse them: feed data as it is read;
 * complete lines are parsed into the log (entries get source and the next
 * seq), a trailing partial line waits for the next feed. A line longer than
 * AUDIT_LINE_MAX is dropped whole (also across feeds) and counted, as is a
 * line that does not parse; blank lines are ignored. Returns 0 or -ENOMEM.
 */
struct audit_reader {
	size_t source;
	uint64_t seq;	  /* lines seen so far, the next entry's seq */
	size_t malformed; /* lines skipped so far */
	bool skipping;	  /* inside an oversized line (or a partial first line) */
	bool skip_counts; /* the line being skipped counts as malformed */
	char *buf;	  /* the pending partial line */
	size_t len;
};

void audit_reader_init(struct audit_reader *r, size_t source);
void audit_reader_free(struct audit_reader *r);
int audit_reader_feed(struct audit_reader *r, const char *data, size_t n, struct audit_log *out);
/*
 * At the end of the input: a pending last line without its newline is
 * parsed as a line (or counted as malformed). Returns 0 or -ENOMEM.
 */
int audit_reader_finish(struct audit_reader *r, struct audit_log *out);
/* Forget a pending partial line and any skipping (the file starts over). */
void audit_reader_reset(struct audit_reader *r);
/*
 * Drop what is pending, and the rest of the current line from the next
 * feed on: for a read that starts in the middle of a file. Not counted.
 */
void audit_reader_skip_to_next_line(struct audit_reader *r);
