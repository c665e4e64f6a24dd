/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nftsetd's metrics in the Prometheus text format (metrics.h writes it):
 * the daemon's own numbers and, per watched container (labels container
 * and id), what its shadow, log tail and kernel view counted since it was
 * attached, plus a histogram of the hook's setup times read from the
 * bundle's audit.jsonl.
 *
 * audit.jsonl is followed like a log, on from where the last scrape
 * stopped (at most NFTSETD_AUDIT_READ_MAX bytes per container per scrape),
 * never read whole again: a scrape costs what was appended since the last
 * one. A file replaced or cut shorter is read from its start.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shield/audit.h"
#include "shield/nft-netlink.h"
#include "nftsetd.h"

/* Seconds: shield-hook's setup takes tens of milliseconds on an idle host. */
static const double hook_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

static char audit_buf[AUDIT_LINE_MAX * 4];

/* One whole line of audit.jsonl: a "setup" entry is one hook time. */
static void audit_line(struct container *c, const char *line, size_t len)
{
	struct shield_error err = {0};
	struct audit_entry e = {0};
	double ms;

	/* Most lines are allow/deny/...: only a line naming "setup" is parsed. */
	if (len > AUDIT_LINE_MAX || !memmem(line, len, "\"setup\"", 7))
		return;
	if (audit_entry_parse(line, len, &e, &err) < 0)
		return;
	if (e.action && strcmp(e.action, "setup") == 0 && metrics_setup_ms(e.detail, &ms) == 0)
		metrics_hist_observe(&c->audit.hook, hook_bounds, ARRAY_SIZE(hook_bounds),
				     ms / 1000);
	audit_entry_free(&e);
}

/*
 * Read what audit.jsonl gained since the last scrape, whole lines only: the
 * offset stays at the end of the last whole line, so a line being written
 * is read again, complete, next time (no partial line is kept).
 */
static void audit_follow(struct container *c)
{
	struct audit_follow *a = &c->audit;
	_cleanup_close_ int fd = -1;
	uint64_t budget = NFTSETD_AUDIT_READ_MAX;
	struct stat st;

	if (c->dirfd < 0)
		return;
	fd = openat(c->dirfd, AUDIT_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	if ((uint64_t)st.st_dev != a->dev || (uint64_t)st.st_ino != a->ino ||
	    (uint64_t)st.st_size < a->offset) {
		/* Another file, or this one cut shorter: from its start. */
		a->dev = (uint64_t)st.st_dev;
		a->ino = (uint64_t)st.st_ino;
		a->offset = 0;
		a->skipping = false;
	}
	while (a->offset < (uint64_t)st.st_size && budget > 0) {
		const char *p = audit_buf, *last;
		ssize_t n = pread(fd, audit_buf, sizeof(audit_buf), (off_t)a->offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		last = memrchr(audit_buf, '\n', (size_t)n);
		if (!last) {
			if ((size_t)n < sizeof(audit_buf))
				break; /* a line still being written */
			/* A line longer than a read (and AUDIT_LINE_MAX): skipped. */
			a->offset += (uint64_t)n;
			budget -= (uint64_t)n < budget ? (uint64_t)n : budget;
			a->skipping = true;
			continue;
		}
		while (p <= last) {
			const char *nl = memchr(p, '\n', (size_t)(last - p) + 1);

			if (a->skipping)
				a->skipping = false; /* the end of the long line */
			else
				audit_line(c, p, (size_t)(nl - p));
			p = nl + 1;
		}
		a->offset += (uint64_t)(p - audit_buf);
		budget -= (uint64_t)(p - audit_buf) < budget ? (uint64_t)(p - audit_buf) : budget;
	}
}

/* What one family needs of one container. */
struct row {
	struct container *c;
	struct shadow_stats st;
	struct metrics_label l[3]; /* container, id, and one more */
};

typedef uint64_t (*row_u64)(const struct row *r);

static uint64_t v_domains(const struct row *r)
{
	return r->st.domains;
}
static uint64_t v_rotations(const struct row *r)
{
	return shadow_count(r->c->shadow, SHIELD_EVENT_ROTATION);
}
static uint64_t v_repairs(const struct row *r)
{
	return r->c->repairs;
}
static uint64_t v_blocked(const struct row *r)
{
	return r->st.blocked_queries;
}
static uint64_t v_dnsmasq_up(const struct row *r)
{
	return r->c->dnsmasq_alive;
}
static uint64_t v_resyncs(const struct row *r)
{
	return r->c->losses;
}
static uint64_t v_dumps(const struct row *r)
{
	return r->c->dumps;
}
static uint64_t v_log_bytes(const struct row *r)
{
	return r->c->tail.bytes_read;
}
static uint64_t v_log_lines(const struct row *r)
{
	return r->c->tail.lines;
}

/* One family with one sample per container. */
static void per_container(struct metrics_buf *b, struct row *rows, size_t n, const char *name,
			  const char *type, const char *help, row_u64 get)
{
	metrics_family(b, name, type, help);
	for (size_t i = 0; i < n; i++)
		metrics_sample_u64(b, name, rows[i].l, 2, get(&rows[i]));
}

static uint64_t kind_events(const struct shadow *s, enum shield_event_kind k)
{
	return shadow_count(s, k);
}

static uint64_t kind_open(const struct shadow *s, enum shield_event_kind k)
{
	return shadow_open_count(s, k);
}

/* One family with a sample per container and check kind (label "kind"). */
static void per_check_kind(struct metrics_buf *b, struct row *rows, size_t n, const char *name,
			   const char *type, const char *help,
			   uint64_t (*get)(const struct shadow *, enum shield_event_kind))
{
	metrics_family(b, name, type, help);
	for (size_t i = 0; i < n; i++) {
		for (int k = 0; k < SHIELD_EVENT_KIND_COUNT; k++) {
			if (!shield_event_kind_is_check((enum shield_event_kind)k))
				continue;
			rows[i].l[2] = (struct metrics_label){
				"kind", shield_event_kind_name((enum shield_event_kind)k)};
			metrics_sample_u64(b, name, rows[i].l, 3,
					   get(rows[i].c->shadow, (enum shield_event_kind)k));
		}
	}
}

int metrics_render(struct daemon *d, struct metrics_buf *b)
{
	const struct metrics_label version[] = {{"version", SHIELD_VERSION}};
	_cleanup_free_ struct row *rows = NULL;
	struct shadow_now now;
	size_t n = 0;

	daemon_now(&now);
	d->scrapes++;
	rows = calloc(d->n_containers ? d->n_containers : 1, sizeof(*rows));
	if (!rows)
		return b->error = -ENOMEM;
	for (struct container *c = d->containers; c && n < d->n_containers; c = c->next) {
		struct row *r = &rows[n++];

		r->c = c;
		r->l[0] = (struct metrics_label){"container", container_label(c)};
		r->l[1] = (struct metrics_label){"id", c->e.id};
		shadow_stats(c->shadow, &now, &r->st);
		audit_follow(c);
	}

	metrics_family(b, "shield_nftsetd_build_info", "gauge",
		       "nftsetd's version (the value is always 1).");
	metrics_sample_u64(b, "shield_nftsetd_build_info", version, 1, 1);
	metrics_family(b, "shield_nftsetd_start_time_seconds", "gauge",
		       "When nftsetd started, in seconds since the epoch.");
	metrics_sample_double(b, "shield_nftsetd_start_time_seconds", NULL, 0,
			      (double)(now.wall_ms - (now.mono_ms - d->started_ms)) / 1000);
	metrics_family(b, "shield_watched_containers", "gauge",
		       "Shielded containers nftsetd watches now.");
	metrics_sample_u64(b, "shield_watched_containers", NULL, 0, d->n_containers);
	metrics_family(b, "shield_subscribers", "gauge",
		       "Clients subscribed to nftsetd's events now (shield watch).");
	metrics_sample_u64(b, "shield_subscribers", NULL, 0, server_subscribers(d));
	metrics_family(b, "shield_log_tail_pauses_total", "counter",
		       "Times log tailing waited for a subscriber that fell behind.");
	metrics_sample_u64(b, "shield_log_tail_pauses_total", NULL, 0, d->tail_pauses);
	metrics_family(b, "shield_metrics_scrapes_total", "counter",
		       "Metrics answers nftsetd rendered (socket and HTTP), this one included.");
	metrics_sample_u64(b, "shield_metrics_scrapes_total", NULL, 0, d->scrapes);

	per_container(b, rows, n, "shield_allowed_domains", "gauge",
		      "Domains the container's allowlist covers now (profiles and live allows "
		      "less denied).",
		      v_domains);
	metrics_family(b, "shield_set_elements", "gauge",
		       "Elements in each nftables set of the container, as nftsetd sees the "
		       "kernel (dumps and notifications, expired ones left out).");
	for (size_t i = 0; i < n; i++) {
		for (int s = 0; s < NFT_SET_COUNT; s++) {
			if (!rows[i].st.set_present[s])
				continue;
			rows[i].l[2] = (struct metrics_label){"set", nft_set_name(s)};
			metrics_sample_u64(b, "shield_set_elements", rows[i].l, 3,
					   rows[i].st.set_elems[s]);
		}
	}
	per_container(b, rows, n, "shield_rotations_total", "counter",
		      "rotation events: a domain's answer changed.", v_rotations);
	per_check_kind(b, rows, n, "shield_drift_events_total", "counter",
		       "Events of each check kind (drift.*, ruleset.tampered, dnsmasq.down, "
		       "log.gap) since the container was attached.",
		       kind_events);
	per_check_kind(b, rows, n, "shield_drift_open", "gauge",
		       "Unresolved items of each check kind now (shield drift exits 3 while one "
		       "is open).",
		       kind_open);
	per_container(b, rows, n, "shield_repairs_total", "counter",
		      "Elements nftsetd put back into a set (drift.missing, "
		      "drift.stale_answer).",
		      v_repairs);
	per_container(b, rows, n, "shield_blocked_queries_total", "counter",
		      "DNS queries dnsmasq refused (names no allowlist covers), repeats "
		      "included.",
		      v_blocked);
	per_container(b, rows, n, "shield_dnsmasq_up", "gauge",
		      "Whether the container's dnsmasq runs (1) or exited (0).", v_dnsmasq_up);
	per_container(b, rows, n, "shield_netlink_resyncs_total", "counter",
		      "Times the kernel dropped nftables notifications and the table was dumped "
		      "again (netlink.resync).",
		      v_resyncs);
	per_container(b, rows, n, "shield_nft_dumps_total", "counter",
		      "Full dumps of the container's nftables table.", v_dumps);
	per_container(b, rows, n, "shield_log_bytes_read_total", "counter",
		      "Bytes of the query log (dnsmasq.log) this nftsetd read.", v_log_bytes);
	per_container(b, rows, n, "shield_log_lines_read_total", "counter",
		      "Query log lines consumed since the bundle's nftsetd.cursor began.",
		      v_log_lines);
	metrics_family(b, "shield_hook_duration_seconds", "histogram",
		       "Time shield-hook (or shield attach) took to shield the container: "
		       "ruleset applied and verified, dnsmasq started (setup entries of the "
		       "bundle's audit.jsonl).");
	for (size_t i = 0; i < n; i++)
		metrics_hist_write(b, "shield_hook_duration_seconds", rows[i].l, 2,
				   &rows[i].c->audit.hook, hook_bounds, ARRAY_SIZE(hook_bounds));
	return b->error;
}
