/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tailing a container's dnsmasq.log. "The log" is the file dnsmasq writes:
 * dnsmasq runs as nobody in a root-only bundle and can never reopen it by
 * path, so a file renamed or deleted under it keeps receiving its lines and
 * is followed through our fd (or, after a restart of nftsetd, through
 * /proc/PID/fd of dnsmasq). A new file at the path is taken once dnsmasq no
 * longer holds the old one (a restarted dnsmasq); a file cut shorter under
 * us (copytruncate) is read again from its start and reported as log.gap.
 *
 * The position is persisted in the bundle's nftsetd.cursor (log-cursor.h:
 * device, inode, offset past the last consumed line, a hash of the bytes
 * before it, a pending collapse, the lines consumed since the cursor began,
 * and the batch whose events are being written), so a restart neither
 * loses nor repeats a line, nor an event derived from one (events.c). The cursor is written before a batch's events, lazily
 * otherwise (at most once per NFTSETD_CURSOR_INTERVAL_MS, on the timer, at
 * detach and exit).
 *
 * Past --log-max the log is cut in place, keeping its inode:
 * fallocate(FALLOC_FL_COLLAPSE_RANGE) removes the consumed, block-aligned
 * head without losing a byte. The cursor is written first with
 * "collapse LEN", so a crash on either side of the cut is resolved by the
 * tail hash (log_cursor_decide). Where the filesystem cannot collapse, the
 * log is read to its end and truncated, and a log.gap says lines written in
 * between may be lost.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shield/bundle.h"
#include "shield/log-cursor.h"
#include "nftsetd.h"

static char read_buf[NFTSETD_READ_CHUNK];

static void tail_gap(struct container *c, const char *fmt, ...) _printf_(2, 3);
static void tail_gap(struct container *c, const char *fmt, ...)
{
	struct shadow_output out = {0};
	struct shadow_now now;
	char detail[SHIELD_EVENT_DETAIL_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	nlog_c(c, LOG_PRIO_WARNING, "log.gap: %s", detail);
	c->tail.gaps++;
	daemon_now(&now);
	if (shadow_log_gap(c->shadow, detail, &now, &out) < 0)
		nlog_c(c, LOG_PRIO_ERR, "out of memory for an event");
	container_output(c, &out);
	shadow_output_free(&out);
}

/* Hash of up to LOG_CURSOR_TAIL_MAX bytes ending at offset in fd; -errno on a short read. */
static int tail_bytes(int fd, uint64_t offset, char buf[LOG_CURSOR_TAIL_MAX], size_t *n)
{
	size_t want = offset < LOG_CURSOR_TAIL_MAX ? (size_t)offset : LOG_CURSOR_TAIL_MAX;
	ssize_t r;

	*n = 0;
	if (want == 0)
		return 0;
	r = pread(fd, buf, want, (off_t)(offset - want));
	if (r < 0)
		return negative_errno();
	if ((size_t)r != want)
		return -ENODATA;
	*n = want;
	return 0;
}

static uint64_t hash_at(int fd, uint64_t offset, uint32_t len, bool *ok)
{
	char buf[LOG_CURSOR_TAIL_MAX];
	ssize_t r;

	*ok = false;
	if (len > LOG_CURSOR_TAIL_MAX || len > offset)
		return 0;
	if (len == 0) {
		*ok = true;
		return log_cursor_hash("", 0);
	}
	r = pread(fd, buf, len, (off_t)(offset - len));
	if (r != (ssize_t)len)
		return 0;
	*ok = true;
	return log_cursor_hash(buf, len);
}

/* ---- the cursor file ---- */

/* Read nftsetd.cursor: 0, -ENOENT when there is none, -EINVAL when it does not parse. */
static int cursor_read(struct container *c, struct log_cursor *cur)
{
	struct shield_error err = {0};
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r;

	memset(cur, 0, sizeof(*cur));
	r = bundle_read_file(c->dirfd, LOG_CURSOR_FILE, 4096, &text, &len, &err);
	if (r < 0)
		return r == -ENOENT ? r : -EINVAL;
	r = log_cursor_parse(text, len, cur, &err);
	if (r < 0) {
		nlog_c(c, LOG_PRIO_WARNING, "%s: %s", LOG_CURSOR_FILE, err.msg);
		return -EINVAL;
	}
	return 0;
}

static int cursor_write(struct container *c, uint64_t offset, const char *tail, size_t tail_n,
			const struct log_cursor_batch *m, uint64_t collapse)
{
	struct shield_error err = {0};
	struct log_cursor cur = {
		.dev = c->tail.dev,
		.ino = c->tail.ino,
		.collapse = collapse,
		.lines = c->tail.lines,
		.has_batch = m != NULL,
	};
	char text[LOG_CURSOR_TEXT_MAX];
	int n, r;

	if (m)
		cur.batch = *m;
	log_cursor_advance(&cur, offset, tail, tail_n);
	n = log_cursor_format(&cur, text, sizeof(text));
	if (n < 0)
		return n;
	/* Atomic, not durable: a crash of nftsetd keeps the page cache. */
	r = bundle_write_file_mode(c->dirfd, LOG_CURSOR_FILE, text, (size_t)n, 0600,
				   BUNDLE_WRITE_NOSYNC, &err);
	if (r < 0) {
		nlog_c(c, LOG_PRIO_ERR, "%s", err.msg);
		return r;
	}
	c->tail.saved_offset = offset;
	c->tail.saved_ms = daemon_now_ms();
	c->tail.saved = cur;
	return 0;
}

int tail_save_mark(struct container *c, const struct log_cursor_batch *m)
{
	char tail[LOG_CURSOR_TAIL_MAX];
	size_t n = 0;
	uint64_t off = c->tail.split.consumed;

	if (c->tail.fd < 0)
		return 0;
	if (tail_bytes(c->tail.fd, off, tail, &n) < 0) {
		/* Cut shorter right now: the next read sees it and reports the gap. */
		n = 0;
	}
	return cursor_write(c, off, tail, n, m, 0);
}

void tail_save(struct container *c, bool force)
{
	if (c->tail.fd < 0 || c->tail.split.consumed == c->tail.saved_offset)
		return;
	if (!force && daemon_now_ms() - c->tail.saved_ms < NFTSETD_CURSOR_INTERVAL_MS)
		return;
	tail_save_mark(c, NULL);
}

/* ---- which file ---- */

/*
 * Whether the container's dnsmasq holds the file dev/ino open; with fd_out,
 * open it through /proc (the only way to a file renamed out of reach).
 */
static bool dnsmasq_holds(struct container *c, uint64_t dev, uint64_t ino, int *fd_out)
{
	char path[64];
	DIR *dir;
	struct dirent *de;
	bool found = false;
	int dfd;

	if (c->e.dnsmasq_pid <= 0 || !c->dnsmasq_alive)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)c->e.dnsmasq_pid);
	dir = opendir(path);
	if (!dir)
		return false;
	dfd = dirfd(dir);
	while (!found && (de = readdir(dir))) {
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dfd, de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		if ((uint64_t)st.st_dev != dev || (uint64_t)st.st_ino != ino)
			continue;
		found = true;
		if (fd_out) {
			*fd_out = openat(dfd, de->d_name, O_RDONLY | O_CLOEXEC);
			found = *fd_out >= 0;
		}
	}
	closedir(dir);
	return found;
}

static int open_path(struct container *c, struct stat *st)
{
	int fd = openat(c->dirfd, NFTSETD_LOG_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0)
		return negative_errno();
	if (fstat(fd, st) < 0) {
		int r = negative_errno();

		close(fd);
		return r;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

static void on_log_event(uv_fs_event_t *h, const char *filename, int events, int status);

static void watch_fd(struct container *c)
{
	struct tail *t = &c->tail;
	char path[64];
	int r;

	if (t->watch_active) {
		uv_fs_event_stop(&t->watch);
		t->watch_active = false;
	}
	if (t->fd < 0)
		return;
	if (!t->watch_init) {
		if (uv_fs_event_init(c->d->loop, &t->watch) < 0)
			return;
		t->watch.data = c;
		t->watch_init = true;
		c->handles++;
	}
	/* The file we hold, whatever its name is now. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", t->fd);
	r = uv_fs_event_start(&t->watch, on_log_event, path, 0);
	if (r < 0)
		nlog_c(c, LOG_PRIO_ERR, "cannot watch dnsmasq.log: %s (read on the timer only)",
		       uv_strerror(r));
	else
		t->watch_active = true;
}

/* Follow fd (now owned) from offset; lines is the cumulative count. */
static void tail_follow(struct container *c, int fd, const struct stat *st, uint64_t offset)
{
	struct tail *t = &c->tail;

	if (t->fd >= 0)
		close(t->fd);
	t->fd = fd;
	t->dev = (uint64_t)st->st_dev;
	t->ino = (uint64_t)st->st_ino;
	dnsmasq_log_split_init(&t->split, offset);
	t->saved_offset = UINT64_MAX; /* unknown: the next save writes */
	t->warned_path = false;
	watch_fd(c);
}

/* ---- reading ---- */

struct line_ctx {
	struct container *c;
	struct shadow_now now;
	struct shadow_output out;
};

static int on_line(const struct dnsmasq_log_line *line, void *arg)
{
	struct line_ctx *x = arg;
	struct container *c = x->c;
	struct dnsmasq_log_rec rec;

	c->tail.lines++;
	if (line->too_long) {
		/* Nothing in a cut line can be trusted: counted, not parsed. */
		nlog(LOG_PRIO_DEBUG, "%s: a log line of %" PRIu64 " bytes, not parsed",
		     container_label(c), line->full_len);
		return 0;
	}
	if (dnsmasq_log_parse_line(line->data, line->len, &rec) < 0 ||
	    rec.kind == DNSMASQ_LOG_EMPTY || rec.kind == DNSMASQ_LOG_OTHER)
		return 0;
	if (shadow_log_record(c->shadow, &rec, &x->now, &x->out) < 0)
		nlog_c(c, LOG_PRIO_ERR, "out of memory in the shadow state");
	if (x->out.n_events || x->out.n_repairs)
		container_output(c, &x->out);
	return 0;
}

/* The file is shorter than what we read: someone cut it (copytruncate, > file). */
static void tail_truncated(struct container *c, uint64_t size)
{
	struct tail *t = &c->tail;
	uint64_t was = t->split.offset;

	dnsmasq_log_split_init(&t->split, 0);
	t->saved_offset = UINT64_MAX;
	tail_gap(c,
		 "dnsmasq.log was cut from %" PRIu64 " to %" PRIu64
		 " bytes by someone else: read again from its start; lines written before the "
		 "cut and not read yet are lost",
		 was, size);
}

/* Read up to limit bytes (UINT64_MAX: to the end); true when more is left. */
static bool read_some(struct container *c, uint64_t limit)
{
	struct tail *t = &c->tail;
	struct line_ctx x = {.c = c};
	uint64_t total = 0;
	struct stat st;
	bool more = false;

	daemon_now(&x.now); /* before the size: what was written by then gets read */
	if (t->fd < 0) {
		shadow_log_read(c->shadow, &x.now); /* no log to wait for */
		return false;
	}
	if (fstat(t->fd, &st) < 0)
		return false;
	if ((uint64_t)st.st_size < t->split.offset)
		tail_truncated(c, (uint64_t)st.st_size);
	if ((uint64_t)st.st_size == t->split.offset) {
		shadow_log_read(c->shadow, &x.now);
		return false;
	}
	events_batch_begin(c, t->split.consumed, t->lines);
	for (;;) {
		ssize_t n;

		if (total >= limit) {
			more = true;
			break;
		}
		n = pread(t->fd, read_buf, sizeof(read_buf), (off_t)t->split.offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			nlog_c(c, LOG_PRIO_ERR, "reading dnsmasq.log: %s",
			       shield_strerror(negative_errno()));
			break;
		}
		if (n == 0) {
			shadow_log_read(c->shadow, &x.now);
			break;
		}
		dnsmasq_log_split_feed(&t->split, read_buf, (size_t)n, on_line, &x);
		total += (uint64_t)n;
		t->bytes_read += (uint64_t)n;
	}
	events_batch_end(c);
	shadow_output_free(&x.out);
	return more;
}

/* Drop the consumed head of a log past --log-max, keeping its inode. */
static void tail_cut(struct container *c)
{
	struct tail *t = &c->tail;
	char path[64], tail[LOG_CURSOR_TAIL_MAX];
	_cleanup_close_ int wfd = -1;
	uint64_t blk, len, size;
	struct stat st;
	size_t tn = 0;

	if (t->fd < 0 || fstat(t->fd, &st) < 0 || (uint64_t)st.st_size <= c->d->opt.log_max)
		return;
	size = (uint64_t)st.st_size;
	blk = st.st_blksize > 0 ? (uint64_t)st.st_blksize : 4096;
	len = t->split.consumed / blk * blk;
	if (len >= size) /* the range must end before the end of the file */
		len -= blk;
	if (len == 0)
		return; /* nothing consumed yet: the reader catches up first */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", t->fd);
	wfd = open(path, O_WRONLY | O_CLOEXEC);
	if (wfd < 0) {
		nlog_c(c, LOG_PRIO_ERR, "cannot open dnsmasq.log for writing to cut it: %s",
		       shield_strerror(negative_errno()));
		return;
	}
	/* Cursor first, announcing the cut; its hash tells later whether it happened. */
	if (tail_bytes(t->fd, t->split.consumed, tail, &tn) < 0 ||
	    cursor_write(c, t->split.consumed, tail, tn, NULL, len) < 0)
		return;
	if (fallocate(wfd, FALLOC_FL_COLLAPSE_RANGE, 0, (off_t)len) == 0) {
		t->split.offset -= len;
		t->split.consumed -= len;
		t->rotations++;
		cursor_write(c, t->split.consumed, tail, tn, NULL, 0);
		nlog(LOG_PRIO_INFO,
		     "%s: dnsmasq.log passed %" PRIu64 " bytes: cut its first %" PRIu64
		     " (already read)",
		     container_label(c), c->d->opt.log_max, len);
		return;
	}
	nlog_c(c, LOG_PRIO_WARNING, "cannot collapse dnsmasq.log (%s): truncating it instead",
	       shield_strerror(negative_errno()));
	cursor_write(c, t->split.consumed, tail, tn, NULL, 0);
	read_some(c, UINT64_MAX);
	if (ftruncate(wfd, 0) < 0) {
		nlog_c(c, LOG_PRIO_ERR, "cannot truncate dnsmasq.log: %s",
		       shield_strerror(negative_errno()));
		return;
	}
	dnsmasq_log_split_init(&t->split, 0);
	t->rotations++;
	tail_save_mark(c, NULL);
	tail_gap(c,
		 "dnsmasq.log passed %" PRIu64 " bytes and its filesystem cannot cut the head: "
		 "truncated after reading it; lines written meanwhile may be lost",
		 c->d->opt.log_max);
}

bool tail_read(struct container *c)
{
	bool more;

	if (c->detaching)
		return false;
	if (c->d->n_blocking > 0) {
		/* A subscriber is behind: the lines wait in the log, read once it caught up. */
		c->tail.more = true;
		return true;
	}
	more = read_some(c, NFTSETD_BATCH_MAX);
	c->tail.more = more;
	if (more)
		daemon_want_more(c->d);
	else
		tail_cut(c);
	tail_save(c, false);
	return more;
}

void tail_drain(struct container *c)
{
	if (c->detaching)
		return;
	read_some(c, UINT64_MAX);
	c->tail.more = false;
	tail_save(c, false);
}

static void on_log_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
	struct container *c = h->data;

	(void)filename;
	if (status < 0 || c->detaching)
		return;
	if (events & UV_RENAME)
		tail_check(c);
	tail_read(c);
}

/* ---- attach, checks ---- */

/*
 * Decide where to start at attach, from the cursor (if any), the file at
 * the path and the file dnsmasq holds.
 */
void tail_open(struct container *c)
{
	struct tail *t = &c->tail;
	struct log_cursor sc;
	struct log_file_state fs = {0};
	struct log_cursor_decision dec;
	struct stat st;
	int fd = -1, have;
	bool hash_ok = false;

	t->fd = -1;
	dnsmasq_log_split_init(&t->split, 0);
	have = cursor_read(c, &sc) == 0;
	if (have)
		t->lines = sc.lines;
	fd = open_path(c, &st);
	/* The cursor's file moved away but dnsmasq still writes it: follow that one. */
	if (have && (fd < 0 || (uint64_t)st.st_dev != sc.dev || (uint64_t)st.st_ino != sc.ino)) {
		int held = -1;

		if (dnsmasq_holds(c, sc.dev, sc.ino, &held)) {
			if (fd >= 0)
				close(fd);
			fd = held;
			if (fstat(fd, &st) < 0) {
				close(fd);
				fd = -1;
			}
			nlog(LOG_PRIO_INFO,
			     "%s: following the dnsmasq.log dnsmasq still writes "
			     "(renamed or deleted)",
			     container_label(c));
		}
	}
	if (fd < 0) {
		nlog_c(c, LOG_PRIO_INFO, "no dnsmasq.log yet");
		if (have) {
			/* Keep the count; a file that shows up later is a new one. */
			tail_gap(c, "dnsmasq.log is gone: lines after the cursor are lost");
		}
		return;
	}
	fs.dev = (uint64_t)st.st_dev;
	fs.ino = (uint64_t)st.st_ino;
	fs.size = (uint64_t)st.st_size;
	if (have && fs.dev == sc.dev && fs.ino == sc.ino) {
		if (sc.offset <= fs.size)
			fs.tail_hash = hash_at(fd, sc.offset, sc.tail_len, &hash_ok);
		/* A cut that may or may not have happened: the hash at either end tells. */
		if (sc.collapse && sc.offset - sc.collapse <= fs.size)
			fs.tail_hash_collapsed =
				hash_at(fd, sc.offset - sc.collapse, sc.tail_len, &hash_ok);
	}
	log_cursor_decide(have ? &sc : NULL, &fs, false, &dec);
	if (dec.collapsed)
		sc.has_batch = false;
	nlog(LOG_PRIO_DEBUG, "%s: dnsmasq.log: %s at %" PRIu64 " (%" PRIu64 " lines so far)",
	     container_label(c), log_cursor_action_name(dec.action), dec.offset, t->lines);
	if (dec.action == LOG_CURSOR_CONTINUE && sc.has_batch) {
		struct stat es;

		/* Did the events of the last batch land in events.jsonl? */
		if (fstatat(c->dirfd, NFTSETD_EVENTS_FILE, &es, AT_SYMLINK_NOFOLLOW) == 0 &&
		    (uint64_t)es.st_dev == sc.batch.ev_dev &&
		    (uint64_t)es.st_ino == sc.batch.ev_ino &&
		    (uint64_t)es.st_size < sc.batch.ev_end &&
		    (uint64_t)es.st_size >= sc.batch.ev_start) {
			int efd = openat(c->dirfd, NFTSETD_EVENTS_FILE,
					 O_WRONLY | O_CLOEXEC | O_NOFOLLOW);

			/* Not, or not all: drop the part and read the batch again. */
			if (efd >= 0 && ftruncate(efd, (off_t)sc.batch.ev_start) == 0) {
				nlog(LOG_PRIO_INFO,
				     "%s: the last batch's events were not all written: reading "
				     "its %" PRIu64 " lines again",
				     container_label(c), sc.lines - sc.batch.lines_before);
				dec.offset = sc.batch.offset_before;
				t->lines = sc.batch.lines_before;
			}
			if (efd >= 0)
				close(efd);
		}
	}
	tail_follow(c, fd, &st, dec.offset);
	if (dec.action == LOG_CURSOR_CONTINUE && dec.offset == sc.offset && !sc.collapse) {
		t->saved_offset = dec.offset;
		t->saved = sc;
	}
	if (dec.gap)
		tail_gap(c,
			 "dnsmasq.log is not the file the cursor names (%s while nftsetd was "
			 "away): lines after the cursor may be lost",
			 log_cursor_action_name(dec.action));
}

/*
 * The timer's look (and a rename event's): a new file at the path, a file
 * cut and grown again, a log past --log-max.
 */
void tail_check(struct container *c)
{
	struct tail *t = &c->tail;
	struct stat st;
	int fd;

	if (c->detaching)
		return;
	fd = open_path(c, &st);
	if (fd >= 0 && t->fd >= 0 && (uint64_t)st.st_dev == t->dev &&
	    (uint64_t)st.st_ino == t->ino) {
		close(fd);
		fd = -1;
	} else if (fd >= 0) {
		/* Another file at the path. dnsmasq still writing ours: stay. */
		if (t->fd >= 0 && dnsmasq_holds(c, t->dev, t->ino, NULL)) {
			if (!t->warned_path)
				tail_gap(c, "dnsmasq.log at the path is not the file dnsmasq "
					    "writes (that one was renamed or deleted): nftsetd "
					    "follows dnsmasq's file, lines written to the new one "
					    "are not read");
			t->warned_path = true;
			close(fd);
			fd = -1;
		} else {
			/* Drain the old file, then take the new one from its start. */
			if (t->fd >= 0) {
				read_some(c, UINT64_MAX);
				nlog_c(c, LOG_PRIO_INFO,
				       "dnsmasq.log replaced: following the new file");
			}
			tail_follow(c, fd, &st, 0);
			tail_save_mark(c, NULL);
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	/* Same file: cut and grown again past our offset? The saved hash tells. */
	if (t->fd >= 0 && t->saved_offset != UINT64_MAX && t->saved_offset > 0 &&
	    t->saved.ino == t->ino && t->saved.dev == t->dev && !t->saved.collapse) {
		bool ok = false;
		uint64_t h = hash_at(t->fd, t->saved.offset, t->saved.tail_len, &ok);

		if (ok && h != t->saved.tail_hash) {
			struct stat now_st;

			if (fstat(t->fd, &now_st) == 0)
				tail_truncated(c, (uint64_t)now_st.st_size);
		}
	}
	tail_read(c);
}

void tail_close(struct container *c)
{
	struct tail *t = &c->tail;

	if (t->watch_init) {
		t->watch_init = false;
		t->watch_active = false;
		uv_close((uv_handle_t *)&t->watch, container_handle_closed);
	}
	if (t->fd >= 0) {
		close(t->fd);
		t->fd = -1;
	}
}
