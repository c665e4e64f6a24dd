/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where events go: the bundle's events.jsonl (O_APPEND, 0600, rotated to
 * events.jsonl.1 past --events-max) and the socket's subscribers; and the
 * repairs the shadow asks for.
 *
 * Events derived from log lines are held while a batch of lines is read and
 * written together at its end, after a cursor that records the batch's
 * start and where its events will land (log-cursor.h "batch" line). A crash
 * before they are all written is seen at the next start (events.jsonl
 * shorter than announced): the partial write is cut off and the batch read
 * again. Every other event is written at once and never cut.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shield/fdio.h"
#include "shield/audit.h"
#include "shield/grow.h"
#include "shield/nft-netlink.h"
#include "nftsetd.h"

void events_batch_begin(struct container *c, uint64_t offset_before, uint64_t lines_before)
{
	struct daemon *d = c->d;

	d->batch = c;
	d->batch_len = 0;
	d->batch_offset_before = offset_before;
	d->batch_lines_before = lines_before;
}

static int open_events(struct container *c, struct stat *st)
{
	int fd = open_append(c->dirfd, NFTSETD_EVENTS_FILE);

	if (fd < 0)
		return fd;
	if (fstat(fd, st) < 0) {
		int r = negative_errno();

		close(fd);
		return r;
	}
	return fd;
}

/* Append lines (each ending in '\n') to events.jsonl, then hand them to subscribers. */
static void events_write(struct container *c, const char *data, size_t len, bool batch)
{
	struct daemon *d = c->d;
	_cleanup_close_ int fd = -1;
	struct stat st;
	const char *p, *end = data + len;
	int r;

	fd = open_events(c, &st);
	if (fd >= 0 && st.st_size > 0 && (uint64_t)st.st_size + len > d->opt.events_max) {
		if (renameat(c->dirfd, NFTSETD_EVENTS_FILE, c->dirfd, NFTSETD_EVENTS_OLD) < 0)
			nlog(LOG_PRIO_ERR, "%s: cannot rotate events.jsonl: %s", container_label(c),
			     shield_strerror(negative_errno()));
		close(fd);
		fd = open_events(c, &st);
	}
	if (fd < 0) {
		nlog(LOG_PRIO_ERR, "%s: cannot open events.jsonl: %s", container_label(c),
		     shield_strerror(fd));
	} else {
		if (batch) {
			struct log_cursor_batch m = {
				.offset_before = d->batch_offset_before,
				.lines_before = d->batch_lines_before,
				.ev_dev = (uint64_t)st.st_dev,
				.ev_ino = (uint64_t)st.st_ino,
				.ev_start = (uint64_t)st.st_size,
				.ev_end = (uint64_t)st.st_size + len,
			};

			tail_save_mark(c, &m);
		}
		r = fd_write_all(fd, data, len, 0);
		if (r < 0)
			nlog(LOG_PRIO_ERR, "%s: writing events.jsonl: %s", container_label(c),
			     shield_strerror(r));
	}
	for (p = data; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		server_broadcast(d, c, p, n);
		p += n + 1;
	}
}

void events_batch_end(struct container *c)
{
	struct daemon *d = c->d;

	if (d->batch != c)
		return;
	d->batch = NULL;
	if (d->batch_len > 0)
		events_write(c, d->batch_buf, d->batch_len, true);
	d->batch_len = 0;
	/* A big batch's buffer is not kept: memory stays small while idle. */
	if (d->batch_cap > 256 * 1024) {
		free(d->batch_buf);
		d->batch_buf = NULL;
		d->batch_cap = 0;
	}
}

static int batch_append(struct daemon *d, const char *line, size_t len)
{
	if (d->batch_len + len > d->batch_cap) {
		char *bigger =
			shield_grow(d->batch_buf, &d->batch_cap, d->batch_len + len, 1, 4096);

		if (!bigger)
			return -ENOMEM;
		d->batch_buf = bigger;
	}
	memcpy(d->batch_buf + d->batch_len, line, len);
	d->batch_len += len;
	return 0;
}

void container_output(struct container *c, struct shadow_output *out)
{
	struct daemon *d = c->d;
	struct shield_error err = {0};

	for (size_t i = 0; i < out->n_events; i++) {
		_cleanup_free_ char *line = NULL;
		size_t len = 0;

		if (shield_event_encode(&out->events[i], &line, &len, &err) < 0) {
			nlog(LOG_PRIO_ERR, "%s: cannot encode an event: %s", container_label(c),
			     err.msg);
			continue;
		}
		nlog(LOG_PRIO_DEBUG, "%s: event %.*s", container_label(c), (int)(len - 1), line);
		if (d->batch == c) {
			if (batch_append(d, line, len) < 0)
				nlog(LOG_PRIO_ERR, "%s: out of memory for an event",
				     container_label(c));
		} else {
			events_write(c, line, len, false);
		}
	}
	for (size_t i = 0; i < out->n_repairs; i++) {
		const struct shadow_repair *rep = &out->repairs[i];
		struct shadow_output again = {0};
		struct shadow_now now;
		char ip[ADDR_TEXT_MAX];
		int r;

		addr_format(&rep->addr, ip);
		shield_error_clear(&err);
		r = c->nft ? nft_elems_add(c->nft, rep->set, &rep->addr, 1, rep->timeout_ms, &err)
			   : shield_error_set(&err, -ENOTCONN, "no netlink socket");
		c->repairs += r >= 0; /* for the metrics */
		if (r >= 0) {
			nlog(LOG_PRIO_INFO, "%s: repaired: %s back in %s", container_label(c), ip,
			     nft_set_name(rep->set));
			continue;
		}
		nlog(LOG_PRIO_WARNING, "%s: repair of %s in %s failed: %s", container_label(c), ip,
		     nft_set_name(rep->set), err.msg);
		daemon_now(&now);
		if (shadow_repair_failed(c->shadow, rep, err.msg, &now, &again) >= 0)
			container_output(c, &again);
		shadow_output_free(&again);
	}
	shadow_output_reset(out);
}
