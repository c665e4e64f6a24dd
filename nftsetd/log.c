/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nftsetd's messages. On stderr, one "<N>message" line each, which
 * journald reads as priority N when systemd connected stderr to it. When
 * $JOURNAL_STREAM names our stderr (systemd.exec(5): compare device and
 * inode, as sd_journal_stream_fd(3) says a program should), each message
 * goes to the journal directly instead, in its native protocol, with
 * structured fields: SHIELD_CONTAINER, SHIELD_CONTAINER_ID,
 * SHIELD_STATE_DIR, SHIELD_EVENT_KIND, SHIELD_DOMAIN, SHIELD_IP, SHIELD_SET
 * and CODE_FILE/CODE_LINE/CODE_FUNC. A datagram the journal does not take
 * (it is gone, or behind) is written to stderr as before, so nothing is
 * lost: stderr still leads to the journal.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "shield/sd-daemon.h"
#include "nftsetd.h"

/* Globals: a message can come from anywhere, also before the loop exists. */
static int log_level = LOG_PRIO_INFO;
static int journal_fd = -1;

void log_setup(bool verbose)
{
	log_level = verbose ? LOG_PRIO_DEBUG : LOG_PRIO_INFO;
	if (journal_fd < 0 && sd_journal_stream_is(STDERR_FILENO))
		journal_fd = sd_journal_open();
}

void log_close(void)
{
	if (journal_fd >= 0)
		close(journal_fd);
	journal_fd = -1;
}

static int journal_log(const char *file, int line, const char *func, int prio,
		       const struct nlog_fields *f, const char *msg)
{
	_cleanup_(sd_journal_entry_free) struct sd_journal_entry e = {0};
	char num[24];
	int r;

	snprintf(num, sizeof(num), "%d", prio);
	r = sd_journal_entry_add_str(&e, "PRIORITY", num);
	if (r >= 0)
		r = sd_journal_entry_add_str(&e, "SYSLOG_IDENTIFIER", "nftsetd");
	if (r >= 0)
		r = sd_journal_entry_add_str(&e, "MESSAGE", msg);
	if (r >= 0)
		r = sd_journal_entry_add_str(&e, "CODE_FILE", file);
	snprintf(num, sizeof(num), "%d", line);
	if (r >= 0)
		r = sd_journal_entry_add_str(&e, "CODE_LINE", num);
	if (r >= 0)
		r = sd_journal_entry_add_str(&e, "CODE_FUNC", func);
	if (r >= 0 && f && f->c) {
		r = sd_journal_entry_add_str(&e, "SHIELD_CONTAINER", container_label(f->c));
		if (r >= 0)
			r = sd_journal_entry_add_str(&e, "SHIELD_CONTAINER_ID", f->c->e.id);
		if (r >= 0)
			r = sd_journal_entry_add_str(&e, "SHIELD_STATE_DIR", f->c->e.state_dir);
	}
	if (r >= 0 && f) {
		r = sd_journal_entry_add_str(&e, "SHIELD_EVENT_KIND", f->kind);
		if (r >= 0)
			r = sd_journal_entry_add_str(&e, "SHIELD_DOMAIN", f->domain);
		if (r >= 0)
			r = sd_journal_entry_add_str(&e, "SHIELD_IP", f->ip);
		if (r >= 0)
			r = sd_journal_entry_add_str(&e, "SHIELD_SET", f->set);
	}
	if (r < 0)
		return r;
	return sd_journal_send(journal_fd, NULL, &e);
}

void nlog_at(const char *file, int line, const char *func, int prio, const struct nlog_fields *f,
	     const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int n;

	if (prio > log_level)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (journal_fd >= 0 && journal_log(file, line, func, prio, f, buf) >= 0)
		return;
	/* One fprintf per line, so lines from one process never interleave. */
	fprintf(stderr, "<%d>%s\n", prio, buf);
}
