/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Human-readable forms of nftsetd's events and reports: the lines of
 * `shield drift` and the screen of `shield watch`. Every string that came
 * from outside (domains, process names, details) is cleaned of control
 * characters before it reaches a terminal.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/*
 * Copy untrusted text for a terminal into out (always NUL-terminated):
 * control bytes, DEL and bytes of invalid UTF-8 become '?', so no escape
 * sequence a process name or a log line carried reaches the terminal.
 */
void term_clean(const char *in, char *out, size_t size);

/* A string member of o, cleaned (term_clean) into out; "" when absent or not a string. */
const char *json_text(json_t *o, const char *key, char *out, size_t size);

/* "HH:MM:SS" (UTC) of an ISO 8601 timestamp, else the cleaned text. Returns out. */
const char *ts_clock(const char *ts, char out[32]);

/* A duration in milliseconds as "1h02m", "29m58s", "4s", "0.3s". Returns out. */
const char *ms_span(long long ms, char out[32]);

/*
 * One event as one line (no newline): "14:03:05 web drift.unexplained
 * 198.18.9.9 allow_v4 by nft[4121] repaired"; the container is left out
 * unless with_container.
 */
void event_line(json_t *ev, bool with_container, char *out, size_t size);

/* Whether a report container has no open check (its "clean" member, else its checks). */
bool report_container_clean(json_t *c);

/*
 * `shield drift`'s text: per container its identity, mode, dnsmasq, domains
 * and every check with state, count and the open events behind it. source
 * is "nftsetd" or "one-shot".
 */
void report_print(FILE *out, json_t *report, const char *source);

/* Lines of a screen, each malloc'd, not clipped. */
struct screen {
	char **lines;
	size_t n, cap;
};

void screen_reset(struct screen *s);

/*
 * `shield watch`'s view: a status line, then per container its mode,
 * dnsmasq, domains with their addresses and time left, last rotation,
 * blocked queries and open drift, then the most recent events (newest last)
 * in the rows left of height. Returns 0 or -ENOMEM.
 */
int watch_screen_build(struct screen *s, json_t *report, json_t *const *recent, size_t n_recent,
		       int height, const char *status);
