/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nftsetd's events: one JSON object per line, the same line in a bundle's
 * events.jsonl and on the nftsetd socket (BRIEF/DESIGN "Drift and rotation"):
 *   {"ts","id","container","kind"[,"domain"][,"ip"][,"set"][,"added":[..]]
 *    [,"removed":[..]][,"age_ms"][,"pid"][,"comm"][,"repaired":true][,"detail"]}
 * Encoding and decoding are pure (jansson only) and capped.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "addr.h"
#include "error.h"

/* One encoded event line, newline included, is at most this long (the socket's line cap). */
#define SHIELD_EVENT_LINE_MAX (64 * 1024)
/* At most this many addresses in "added" or "removed" (more are cut, detail says so). */
#define SHIELD_EVENT_LIST_MAX	   256
#define SHIELD_EVENT_CONTAINER_MAX 256		       /* name or id, plus NUL */
#define SHIELD_EVENT_DOMAIN_MAX	   256		       /* a domain name, plus NUL */
#define SHIELD_EVENT_IP_MAX	   (2 * ADDR_TEXT_MAX) /* "ADDR", "ADDR/LEN" or "FIRST-LAST" */
#define SHIELD_EVENT_SET_MAX	   16		       /* "allow_v4", ... plus NUL */
#define SHIELD_EVENT_COMM_MAX	   32		       /* a process name (kernel: 16), plus NUL */
#define SHIELD_EVENT_DETAIL_MAX	   512		       /* free text, plus NUL (longer is cut) */

enum shield_event_kind {
	SHIELD_EVENT_ROTATION,
	SHIELD_EVENT_BLOCKED_QUERY,
	SHIELD_EVENT_DRIFT_UNEXPLAINED,
	SHIELD_EVENT_DRIFT_MISSING,
	SHIELD_EVENT_DRIFT_DENIED_PRESENT,
	SHIELD_EVENT_DRIFT_STALE_ANSWER,
	SHIELD_EVENT_RULESET_TAMPERED,
	SHIELD_EVENT_DNSMASQ_DOWN,
	SHIELD_EVENT_LOG_GAP,
	SHIELD_EVENT_WATCH_ATTACHED, /* informational */
	SHIELD_EVENT_WATCH_DETACHED, /* informational */
	SHIELD_EVENT_NETLINK_RESYNC, /* informational */
	SHIELD_EVENT_KIND_COUNT,
};

/* "rotation", "blocked_query", "drift.unexplained", "drift.missing",
 * "drift.denied_present", "drift.stale_answer", "ruleset.tampered",
 * "dnsmasq.down", "log.gap", "watch.attached", "watch.detached",
 * "netlink.resync"; NULL when out of range. */
const char *shield_event_kind_name(enum shield_event_kind k);

/* Kind by name: 0, or -EINVAL with err naming the unknown kind. */
int shield_event_kind_parse(const char *name, enum shield_event_kind *out,
			    struct shield_error *err);

/*
 * Whether a kind is one of the report's checks (every drift.*,
 * ruleset.tampered, dnsmasq.down, log.gap), in report order.
 */
bool shield_event_kind_is_check(enum shield_event_kind k);

/*
 * One event. Strings are NUL-terminated, "" = absent; added/removed are
 * owned by the event (free with shield_event_free). Text fields hold what
 * is printed; an address field holds canonical text (addr_format, or
 * "FIRST-LAST" for a range that is not a prefix).
 */
struct shield_event {
	enum shield_event_kind kind;
	uint64_t
		ts_ms; /* wall clock, ms since the epoch; "ts" as "2026-11-25T21:13:46.123+00:00" */
	uint64_t id;   /* unique per nftsetd run (a sequence), 0 = unset */
	char container[SHIELD_EVENT_CONTAINER_MAX];
	char domain[SHIELD_EVENT_DOMAIN_MAX];
	char ip[SHIELD_EVENT_IP_MAX];
	char set[SHIELD_EVENT_SET_MAX];
	struct addr_prefix *added; /* owned; rotation: addresses new in this answer */
	size_t n_added;
	struct addr_prefix *removed; /* owned; rotation: addresses gone from it */
	size_t n_removed;
	int64_t age_ms; /* rotation: age of the previous answer; < 0 = absent */
	int32_t pid;	/* writer named by the kernel; 0 = absent */
	char comm[SHIELD_EVENT_COMM_MAX];
	bool repaired; /* nftsetd re-added what was missing */
	char detail[SHIELD_EVENT_DETAIL_MAX];
};

/* A zeroed event of kind k with age_ms absent (-1). */
void shield_event_init(struct shield_event *ev, enum shield_event_kind k);

/* Free added/removed and zero the event (kind kept); NULL-tolerant. */
void shield_event_free(struct shield_event *ev);

/* Deep copy src into dst (dst is overwritten, not freed): 0 or -ENOMEM. */
int shield_event_copy(struct shield_event *dst, const struct shield_event *src);

/* Set the "added"/"removed" lists (copied; more than SHIELD_EVENT_LIST_MAX are cut): 0 or -ENOMEM. */
int shield_event_set_lists(struct shield_event *ev, const struct addr_prefix *added, size_t n_added,
			   const struct addr_prefix *removed, size_t n_removed);

/* printf into ev->detail (cut to fit). */
void shield_event_set_detail(struct shield_event *ev, const char *fmt, ...) _printf_(2, 3);

/* Format a wall-clock time in ms as "2026-11-25T21:13:46.123+00:00" (TIMESTAMP_MAX bytes). */
const char *shield_event_format_ts(uint64_t ts_ms, char *out, size_t size);

/* Parse that format back (also "Z" or no milliseconds): 0 or -EINVAL. */
int shield_event_parse_ts(const char *text, uint64_t *ts_ms);

/* The event as a new JSON object (keys in the documented order), NULL on -ENOMEM. */
json_t *shield_event_to_json(const struct shield_event *ev);

/*
 * Encode as one line: compact JSON followed by '\n', NUL-terminated, into a
 * new buffer (*out, caller frees; *len without the NUL). -E2BIG when longer
 * than SHIELD_EVENT_LINE_MAX (cannot happen for events built within the
 * caps above), -ENOMEM.
 */
int shield_event_encode(const struct shield_event *ev, char **out, size_t *len,
			struct shield_error *err);

/*
 * Decode a JSON object (as from a socket line): every known key checked for
 * its type and size, unknown keys ignored, "kind" and "ts" required.
 * out is initialised first; on error it holds nothing to free. Returns 0
 * or -EINVAL with err naming the key.
 */
int shield_event_from_json(const json_t *obj, struct shield_event *out, struct shield_error *err);

/* Decode one line (trailing '\n' allowed, at most SHIELD_EVENT_LINE_MAX bytes): 0, -EINVAL, -E2BIG. */
int shield_event_decode(const char *line, size_t len, struct shield_event *out,
			struct shield_error *err);
