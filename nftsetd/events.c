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
			nlog_c(c, LOG_PRIO_ERR, "cannot rotate events.jsonl: %s",
			       shield_strerror(negative_errno()));
		close(fd);
		fd = open_events(c, &st);
	}
	if (fd < 0) {
		nlog_c(c, LOG_PRIO_ERR, "cannot open events.jsonl: %s", shield_strerror(fd));
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
			nlog_c(c, LOG_PRIO_ERR, "writing events.jsonl: %s", shield_strerror(r));
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

/*
 * An event in nftsetd's own log, with its kind, domain, ip and set as
 * journal fields: drift and tampering as warnings; dnsmasq.down and log.gap
 * as notices (whoever raised them warned already); the steady stream of
 * rotations, blocked queries and watch changes as debug (events.jsonl
 * holds them all).
 */
static void event_log(struct container *c, const struct shield_event *ev, const char *line,
		      size_t len)
{
	const char *kind = shield_event_kind_name(ev->kind);
	struct nlog_fields f = {
		.c = c,
		.kind = kind,
		.domain = ev->domain[0] ? ev->domain : NULL,
		.ip = ev->ip[0] ? ev->ip : NULL,
		.set = ev->set[0] ? ev->set : NULL,
	};
	char by[SHIELD_EVENT_COMM_MAX + 32] = "";
	int prio;

	switch (ev->kind) {
	case SHIELD_EVENT_DRIFT_UNEXPLAINED:
	case SHIELD_EVENT_DRIFT_MISSING:
	case SHIELD_EVENT_DRIFT_DENIED_PRESENT:
	case SHIELD_EVENT_DRIFT_STALE_ANSWER:
	case SHIELD_EVENT_RULESET_TAMPERED:
		prio = LOG_PRIO_WARNING;
		break;
	case SHIELD_EVENT_DNSMASQ_DOWN:
	case SHIELD_EVENT_LOG_GAP:
		prio = LOG_PRIO_NOTICE;
		break;
	default:
		nlog_f(LOG_PRIO_DEBUG, &f, "%s: event %.*s", container_label(c), (int)(len - 1),
		       line);
		return;
	}
	if (ev->pid > 0)
		snprintf(by, sizeof(by), " by %s[%d]", ev->comm[0] ? ev->comm : "?", (int)ev->pid);
	nlog_f(prio, &f, "%s: %s%s%s%s%s%s%s%s%s%s%s", container_label(c), kind ? kind : "?",
	       f.domain ? " " : "", f.domain ? f.domain : "", f.ip ? " " : "", f.ip ? f.ip : "",
	       f.set ? " in " : "", f.set ? f.set : "", by, ev->repaired ? ", repaired" : "",
	       ev->detail[0] ? ": " : "", ev->detail);
}

void container_output(struct container *c, struct shadow_output *out)
{
	struct daemon *d = c->d;
	struct shield_error err = {0};

	for (size_t i = 0; i < out->n_events; i++) {
		_cleanup_free_ char *line = NULL;
		size_t len = 0;

		if (shield_event_encode(&out->events[i], &line, &len, &err) < 0) {
			nlog_c(c, LOG_PRIO_ERR, "cannot encode an event: %s", err.msg);
			continue;
		}
		event_log(c, &out->events[i], line, len);
		if (d->batch == c) {
			if (batch_append(d, line, len) < 0)
				nlog_c(c, LOG_PRIO_ERR, "out of memory for an event");
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
			nlog_c(c, LOG_PRIO_INFO, "repaired: %s back in %s", ip,
			       nft_set_name(rep->set));
			continue;
		}
		nlog_c(c, LOG_PRIO_WARNING, "repair of %s in %s failed: %s", ip,
		       nft_set_name(rep->set), err.msg);
		daemon_now(&now);
		if (shadow_repair_failed(c->shadow, rep, err.msg, &now, &again) >= 0)
			container_output(c, &again);
		shadow_output_free(&again);
	}
	shadow_output_reset(out);
}
