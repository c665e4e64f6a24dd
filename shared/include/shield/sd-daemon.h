/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The two systemd protocols nftsetd speaks, without libsystemd: readiness
 * (sd_notify(3): one datagram of "VAR=value" lines to $NOTIFY_SOCKET) and
 * the journal's native protocol (systemd.journal-fields(7), "Native
 * Journal Protocol": one datagram of fields to /run/systemd/journal/socket).
 * Encoding is pure; sending is one sendmsg().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Where journald listens for native datagrams. */
#define SD_JOURNAL_SOCKET "/run/systemd/journal/socket"
/* A field name: 1 to 64 of A-Z, 0-9, '_', not starting with a digit or '_'. */
#define SD_JOURNAL_FIELD_MAX 64
/* An entry we build stays below this (one datagram; journald takes more). */
#define SD_JOURNAL_ENTRY_MAX (64 * 1024)

/* One journal entry being built: a growing buffer of encoded fields. */
struct sd_journal_entry {
	char *buf;
	size_t len, cap;
	bool too_big; /* a field did not fit under SD_JOURNAL_ENTRY_MAX: it was left out */
};

/* Whether name is a field name an application may send (not a trusted '_' one). */
bool sd_journal_field_valid(const char *name);

/*
 * Append FIELD=value (len bytes, any bytes): "NAME=value\n", or, when the
 * value holds a newline, "NAME\n", its length as 64-bit little endian, the
 * bytes, "\n". -EINVAL for an invalid name, -ENOMEM; a field that would
 * take the entry past SD_JOURNAL_ENTRY_MAX is left out (too_big set), 0.
 */
int sd_journal_entry_add(struct sd_journal_entry *e, const char *name, const char *value,
			 size_t len);
/* The same with a NUL-terminated value; a NULL value adds nothing. */
int sd_journal_entry_add_str(struct sd_journal_entry *e, const char *name, const char *value);
/* Free the buffer; the entry is empty again. */
void sd_journal_entry_free(struct sd_journal_entry *e);

/*
 * Parse $JOURNAL_STREAM's "DEV:INO" (decimal). -EINVAL if it is not that.
 */
int sd_journal_stream_parse(const char *s, uint64_t *dev, uint64_t *ino);
/*
 * Whether fd is the stream $JOURNAL_STREAM names (systemd connected it to
 * the journal): the device and inode of fstat(fd) match. False when unset.
 */
bool sd_journal_stream_is(int fd);

/* A datagram socket for the journal (SOCK_CLOEXEC); -errno. */
int sd_journal_open(void);
/* Send one entry to path (NULL: SD_JOURNAL_SOCKET) on fd; 0 or -errno. */
int sd_journal_send(int fd, const char *path, const struct sd_journal_entry *e);

/*
 * Tell the service manager state ("READY=1", "STOPPING=1\nSTATUS=..."):
 * one datagram to $NOTIFY_SOCKET (a path, or "@name" for the abstract
 * namespace). 0 when NOTIFY_SOCKET is unset (nobody listens), 1 when sent,
 * else -errno with err saying why.
 */
int sd_notify_send(const char *state, struct shield_error *err);
