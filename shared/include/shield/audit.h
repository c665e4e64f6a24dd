/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-container audit log, audit.jsonl in the bundle: one JSON object
 * per line, {"ts","container","action"[,"dest"][,"detail"]}, the format
 * terok-shield writes, so either tool reads the other's.
 */
#pragma once
#include "error.h"

#define AUDIT_FILE    "audit.jsonl"
#define TIMESTAMP_MAX 80

/* Now as ISO 8601 UTC with milliseconds: "2026-11-25T21:13:46.123+00:00". Returns buf. */
const char *shield_timestamp(char buf[TIMESTAMP_MAX]);

/*
 * Open name in dirfd for appending (created 0600; O_NOFOLLOW; a regular
 * file, else -EINVAL): the fd, or -errno. For the bundle's append-only logs.
 */
int open_append(int dirfd, const char *name);

/*
 * Append one entry to dirfd's audit.jsonl (O_APPEND|O_NOFOLLOW, 0600, one
 * write). dest and detail may be NULL.
 */
int audit_append(int dirfd, const char *container, const char *action, const char *dest,
		 const char *detail, struct shield_error *err);
