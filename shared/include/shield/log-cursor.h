/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nftsetd's persisted position in a dnsmasq.log: which file (device and
 * inode), how far (offset just past the last consumed line), and a hash of
 * the bytes just before that offset, so that a file truncated and grown
 * again past the offset is told apart from one that only grew. Formatting,
 * parsing and the decision are pure; the caller does the stat, the pread of
 * the hashed bytes and the atomic write of the cursor file.
 *
 * File text (one key per line, fixed order; the last three are optional):
 *   shield-log-cursor 1
 *   dev 2049
 *   ino 1234567
 *   offset 98765
 *   tail 64 0123456789abcdef
 *   collapse 65536                          (see log_cursor.collapse)
 *   lines 1500                              (see log_cursor.lines)
 *   batch 90000 1400 2049 7654 4096 8192    (see struct log_cursor_batch)
 * This is the whole of nftsetd.cursor: nftsetd keeps nothing beside it.
 *
 * The tailer takes each line's end offset and tail bytes from the
 * splitter (struct dnsmasq_log_line: end_offset, tail, tail_len).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The cursor's file name inside the state bundle. */
#define LOG_CURSOR_FILE "nftsetd.cursor"
/* Longest cursor file text accepted or produced. */
#define LOG_CURSOR_TEXT_MAX 512
/* Most bytes before the offset that the hash covers. */
#define LOG_CURSOR_TAIL_MAX 64

/*
 * A batch of lines whose events are being written (nftsetd): the cursor is
 * written at the batch's end before its events, naming where they will
 * land, so a crash in between is found at the next start (the events file
 * shorter than ev_end) and the batch read again from offset_before.
 */
struct log_cursor_batch {
	uint64_t offset_before, lines_before; /* the cursor before the batch */
	uint64_t ev_dev, ev_ino;	      /* the events file */
	uint64_t ev_start, ev_end; /* its size before and after the events (start <= end) */
};

struct log_cursor {
	uint64_t dev;	    /* st_dev of the log */
	uint64_t ino;	    /* st_ino of the log */
	uint64_t offset;    /* just past the last consumed line */
	uint32_t tail_len;  /* bytes hashed, ending at offset (<= offset, <= LOG_CURSOR_TAIL_MAX) */
	uint64_t tail_hash; /* log_cursor_hash of those bytes */
	/*
	 * Bytes about to be cut off the front of the log (nftsetd's rotation:
	 * FALLOC_FL_COLLAPSE_RANGE keeps the inode, so dnsmasq keeps writing).
	 * Write the cursor with collapse = N before collapsing, then with
	 * offset - N and collapse 0 after: a crash in between is resolved by
	 * log_cursor_decide, which finds the tail at either offset. 0 = none.
	 */
	uint64_t collapse;
	uint64_t lines; /* lines consumed since the cursor began (a counter; 0 when absent) */
	bool has_batch; /* a batch's events are being written: */
	struct log_cursor_batch batch;
};

/* 64-bit FNV-1a of len bytes (the tail hash). */
uint64_t log_cursor_hash(const void *data, size_t len);

/*
 * Move the cursor to offset, the end of a consumed line: tail holds the
 * stream bytes ending exactly at offset (the splitter's line->tail, '\n'
 * included), of which the last min(tail_len, LOG_CURSOR_TAIL_MAX, offset)
 * are hashed. collapse, lines and the batch are left as they are.
 */
void log_cursor_advance(struct log_cursor *c, uint64_t offset, const void *tail, size_t tail_len);

/* Format the cursor file text into out (NUL-terminated): its length, or -ENOSPC. */
int log_cursor_format(const struct log_cursor *c, char *out, size_t size);

/*
 * Parse the cursor file text (exact format above, trailing newline
 * optional; lines 0 when its line is absent): 0, or -EINVAL with err
 * naming the bad line, -E2BIG when longer than LOG_CURSOR_TEXT_MAX.
 */
int log_cursor_parse(const char *text, size_t len, struct log_cursor *out,
		     struct shield_error *err);

/* What the caller found at the log's path now. */
struct log_file_state {
	uint64_t dev, ino, size;
	/*
	 * log_cursor_hash of the cursor's tail_len bytes ending at the
	 * cursor's offset in this file; only looked at when the file is the
	 * cursor's (same dev and inode) and size >= offset.
	 */
	uint64_t tail_hash;
	/*
	 * With a cursor whose collapse is N > 0: the hash of the tail_len
	 * bytes ending at offset - N (only looked at when size >= offset - N).
	 */
	uint64_t tail_hash_collapsed;
};

enum log_cursor_action {
	LOG_CURSOR_FRESH,     /* no cursor: read the file from 0 */
	LOG_CURSOR_CONTINUE,  /* same file, grown or unchanged: read from the cursor's offset */
	LOG_CURSOR_ROTATED,   /* another file at the path (renamed/recreated): drain the old one if
				 still open, then read the new one from 0 */
	LOG_CURSOR_TRUNCATED, /* same file but shorter than the offset, or other bytes before it:
				 read from 0 and report log.gap */
};

/* "fresh", "continue", "rotated", "truncated". */
const char *log_cursor_action_name(enum log_cursor_action a);

struct log_cursor_decision {
	enum log_cursor_action action;
	uint64_t offset; /* where to start reading the file at the path */
	bool gap;	 /* lines may have been lost: report log.gap */
	bool collapsed;	 /* CONTINUE: the pending collapse had happened (offset is offset - N) */
};

/*
 * Decide how to resume: c NULL = no cursor. ROTATED sets gap only when
 * old_open is false (the old file can no longer be drained, so lines after
 * the cursor may be lost); TRUNCATED always sets gap.
 */
void log_cursor_decide(const struct log_cursor *c, const struct log_file_state *f, bool old_open,
		       struct log_cursor_decision *out);
