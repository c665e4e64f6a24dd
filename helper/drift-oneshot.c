/* SPDX-License-Identifier: Apache-2.0 */
/* `shield drift` without nftsetd (see drift-oneshot.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "drift-oneshot.h"
#include "htab.h" /* libshield's internal hash table (shared/src) */
#include "shield/audit.h"
#include "shield/bundle-rules.h"
#include "shield/bundle.h"
#include "shield/dnsmasq-log.h"
#include "shield/dnsmasq-proc.h"
#include "shield/event.h"
#include "shield/netns.h"
#include "shield/nft-netlink.h"
#include "shield/registry.h"
#include "shield/shadow.h"

#define LOG_FILE       "dnsmasq.log"
#define LOG_READ_CHUNK (64 * 1024)

/* One container to judge. */
struct oneshot_src {
	const char *id, *name, *state_dir, *netns, *source;
	pid_t dnsmasq_pid;
	int dirfd, nsfd;
};

static struct shadow_now clock_now(void)
{
	struct timespec m, w;

	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &w);
	return (struct shadow_now){
		.mono_ms = (uint64_t)m.tv_sec * 1000 + (uint64_t)m.tv_nsec / 1000000,
		.wall_ms = (uint64_t)w.tv_sec * 1000 + (uint64_t)w.tv_nsec / 1000000,
	};
}

/*
 * dnsmasq's "Jan  2 03:04:05" (local time, no year) as ms since the epoch:
 * this year's, or last year's when that would lie more than a day ahead.
 */
static int stamp_wall_ms(const char *stamp, time_t now, uint64_t *out)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char mon[4];
	int day, h, m, s;
	const char *p;
	struct tm tm;
	time_t t;

	if (sscanf(stamp, "%3s %d %d:%d:%d", mon, &day, &h, &m, &s) != 5 || strlen(mon) != 3)
		return -EINVAL;
	p = strstr(months, mon);
	if (!p || (p - months) % 3 != 0 || day < 1 || day > 31 || h < 0 || h > 23 || m < 0 ||
	    m > 59 || s < 0 || s > 60)
		return -EINVAL;
	localtime_r(&now, &tm);
	tm.tm_mon = (int)(p - months) / 3;
	tm.tm_mday = day;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = s;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	if (t != (time_t)-1 && t > now + 86400) {
		tm.tm_year--;
		tm.tm_isdst = -1;
		t = mktime(&tm);
	}
	if (t == (time_t)-1 || t < 0)
		return -EINVAL;
	*out = (uint64_t)t * 1000;
	return 0;
}

/* A dynamic element as the replay put it into the simulated kernel view. */
struct sim_elem {
	struct hnode node; /* in replay.sim, by set and address */
	enum nft_set_id set;
	struct addr_prefix addr;
	uint64_t expires_mono;
};

/* The replay of one log through a shadow. */
struct replay {
	struct shadow *shadow;
	struct shadow_output out;
	struct shadow_now now;	/* when the kernel was dumped */
	struct shadow_now last; /* the last time fed (times never go back) */
	int32_t dnsmasq_pid;
	uint64_t set_timeout_ms;
	/* Pass 1: where the last dnsmasq start is, and the time of the segment's first line. */
	uint64_t seg_start;
	uint64_t seg_wall_ms;
	bool seg_wall_known;
	/* Pass 2: what dnsmasq added, to replay its adds as notifications. */
	struct htab
		sim; /* struct sim_elem: one lookup per "nftset add", whatever the log's length */
	/* The last stamp seen and its time (-errno if it did not parse): most lines repeat it. */
	char stamp[DNSMASQ_LOG_STAMP_MAX];
	int stamp_ok;
	uint64_t stamp_wall;
	/* The time of the last shadow_tick (ticked: there was one). */
	uint64_t tick_mono;
	bool ticked;
	int error; /* first failure of a callback */
};

/* The log's time for a record, mapped onto our clocks; never before the last one fed. */
static struct shadow_now replay_time(struct replay *rp, const struct dnsmasq_log_rec *rec)
{
	struct shadow_now at = rp->last;
	uint64_t wall = rp->stamp_wall;

	/* A stamp differs from the line before only once a second: convert it then. */
	if (rec->stamp[0] && strcmp(rec->stamp, rp->stamp) != 0) {
		snprintf(rp->stamp, sizeof(rp->stamp), "%s", rec->stamp);
		rp->stamp_ok = stamp_wall_ms(rec->stamp, (time_t)(rp->now.wall_ms / 1000), &wall);
		rp->stamp_wall = wall;
	}
	if (rec->stamp[0] && rp->stamp_ok >= 0) {
		uint64_t back = rp->now.wall_ms > wall ? rp->now.wall_ms - wall : 0;

		at.wall_ms = wall < rp->now.wall_ms ? wall : rp->now.wall_ms;
		at.mono_ms = rp->now.mono_ms > back ? rp->now.mono_ms - back : 0;
	}
	if (at.wall_ms < rp->last.wall_ms)
		at.wall_ms = rp->last.wall_ms;
	if (at.mono_ms < rp->last.mono_ms)
		at.mono_ms = rp->last.mono_ms;
	rp->last = at;
	return at;
}

/* Pass 1: remember where dnsmasq last started (the lines before belong to an earlier run). */
static int scan_line(const struct dnsmasq_log_line *line, void *ctx)
{
	struct replay *rp = ctx;
	struct dnsmasq_log_rec rec;
	uint64_t wall;

	if (line->too_long || dnsmasq_log_parse_line(line->data, line->len, &rec) < 0)
		return 0;
	if (rec.kind == DNSMASQ_LOG_STARTED) {
		rp->seg_start = line->end_offset - line->full_len - 1;
		rp->seg_wall_known = false;
	}
	if (!rp->seg_wall_known && rec.stamp[0] &&
	    stamp_wall_ms(rec.stamp, (time_t)(rp->now.wall_ms / 1000), &wall) >= 0) {
		rp->seg_wall_ms = wall;
		rp->seg_wall_known = true;
	}
	return 0;
}

static uint64_t sim_hash(enum nft_set_id set, const struct addr_prefix *a)
{
	uint8_t id = (uint8_t)set;
	uint64_t h = htab_hash_bytes(HTAB_HASH_INIT, &id, 1);

	h = htab_hash_bytes(h, a->addr, addr_len(a));
	return htab_hash_bytes(h, &a->plen, 1);
}

static struct sim_elem *sim_find(const struct replay *rp, enum nft_set_id set,
				 const struct addr_prefix *a, uint64_t hash)
{
	for (struct hnode *n = htab_bucket(&rp->sim, hash); n; n = n->next) {
		struct sim_elem *e = HTAB_ENTRY(n, struct sim_elem, node);

		if (n->hash == hash && e->set == set && addr_equal(&e->addr, a))
			return e;
	}
	return NULL;
}

static void sim_free(struct replay *rp)
{
	HTAB_FOREACH(&rp->sim, i, n, nx)
	{
		free(HTAB_ENTRY(n, struct sim_elem, node));
	}
	htab_free(&rp->sim);
}

/*
 * dnsmasq's "nftset add": the kernel took the address with the set timeout,
 * unless it held it already (a re-add neither notifies nor refreshes).
 * Replayed as the notification nftsetd would have had from dnsmasq.
 */
static int replay_add(struct replay *rp, const struct dnsmasq_log_rec *rec,
		      const struct shadow_now *at)
{
	struct shadow_writer w = {.pid = rp->dnsmasq_pid ? rp->dnsmasq_pid : rec->pid};
	struct shadow_elem_change ch = {.add = true};
	struct sim_elem *e;
	int set = dnsmasq_log_rec_set(rec);
	uint64_t hash;

	if (set != NFT_SET_ALLOW_V4 && set != NFT_SET_ALLOW_V6)
		return 0;
	hash = sim_hash((enum nft_set_id)set, &rec->addr);
	e = sim_find(rp, (enum nft_set_id)set, &rec->addr, hash);
	if (e && e->expires_mono > at->mono_ms)
		return 0;
	if (!e) {
		e = malloc(sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->set = (enum nft_set_id)set;
		e->addr = rec->addr;
		if (htab_insert(&rp->sim, &e->node, hash) < 0) {
			free(e);
			return -ENOMEM;
		}
	}
	e->expires_mono = at->mono_ms + rp->set_timeout_ms;
	snprintf(w.comm, sizeof(w.comm), "dnsmasq");
	ch.set = (enum nft_set_id)set;
	nft_elem_from_prefix(&rec->addr, &ch.elem);
	ch.elem.has_timeout = false;
	ch.elem.timeout_ms = rp->set_timeout_ms;
	ch.elem.expires_ms = rp->set_timeout_ms;
	return shadow_kernel_changes(rp->shadow, &ch, 1, &w, at, &rp->out);
}

/* Pass 2: every record of the last run, at its own time. */
static int replay_line(const struct dnsmasq_log_line *line, void *ctx)
{
	struct replay *rp = ctx;
	struct dnsmasq_log_rec rec;
	struct shadow_now at;
	int r;

	if (line->too_long || dnsmasq_log_parse_line(line->data, line->len, &rec) < 0)
		return 0;
	if (rec.kind == DNSMASQ_LOG_EMPTY || rec.kind == DNSMASQ_LOG_TOO_LONG)
		return 0;
	at = replay_time(rp, &rec);
	/*
	 * Tick when the log's time moved (once per second of stamps), not per
	 * line: what a tick does depends on the time alone, and the records
	 * fed since the last one, at that same time, left nothing it would
	 * finish or expire then.
	 */
	r = 0;
	if (!rp->ticked || at.mono_ms != rp->tick_mono) {
		r = shadow_tick(rp->shadow, &at, &rp->out);
		rp->tick_mono = at.mono_ms;
		rp->ticked = true;
	}
	if (r >= 0)
		r = shadow_log_record(rp->shadow, &rec, &at, &rp->out);
	if (r >= 0 && rec.kind == DNSMASQ_LOG_NFTSET)
		r = replay_add(rp, &rec, &at);
	shadow_output_reset(&rp->out);
	if (r < 0) {
		rp->error = r;
		return r;
	}
	return 0;
}

/* Feed the log from offset start through the splitter to cb. A missing log is empty. */
static int read_log(int dirfd, uint64_t start, dnsmasq_log_line_fn cb, struct replay *rp,
		    struct shield_error *err)
{
	_cleanup_free_ struct dnsmasq_log_split *split = malloc(sizeof(*split));
	_cleanup_free_ char *buf = malloc(LOG_READ_CHUNK);
	_cleanup_close_ int fd = -1;
	uint64_t off = start;
	struct stat st;

	if (!split || !buf)
		return shield_error_set(err, -ENOMEM, "out of memory");
	fd = openat(dirfd, LOG_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return shield_error_set(err, negative_errno(), "%s: %s", LOG_FILE,
					shield_strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return shield_error_set(err, -EINVAL, "%s: not a regular file", LOG_FILE);
	dnsmasq_log_split_init(split, start);
	for (;;) {
		ssize_t n = pread(fd, buf, LOG_READ_CHUNK, (off_t)off);
		int r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return shield_error_set(err, negative_errno(), "%s: read: %s", LOG_FILE,
						shield_strerror(errno));
		if (n == 0)
			return 0;
		off += (uint64_t)n;
		r = dnsmasq_log_split_feed(split, buf, (size_t)n, cb, rp);
		if (r < 0)
			return shield_error_set(err, r, "%s: %s", LOG_FILE, shield_strerror(r));
	}
}

struct dump_arg {
	struct nft_ruleset *rs;
};

/* In the container's namespace: open a netlink socket there and dump the table. */
static int dump_in_netns(void *arg, struct shield_error *err)
{
	struct dump_arg *a = arg;
	_cleanup_nft_sock_ struct nft_sock *s = NULL;
	int r = nft_sock_open(&s, err);

	return r < 0 ? r : nft_dump_ruleset(s, a->rs, err);
}

/*
 * The kernel as it was when the log's last run began, as far as it can be
 * told: the dump, minus the elements that expire and were added after
 * seg_wall (those the log must explain), the others with their expiry
 * moved back to then. Element arrays of the allow sets are the copy's own
 * (free them with free_first_view); everything else is borrowed from rs.
 */
static int first_view(const struct nft_ruleset *rs, const struct replay *rp, uint64_t seg_wall,
		      struct nft_ruleset *out)
{
	uint64_t back = rp->now.wall_ms > seg_wall ? rp->now.wall_ms - seg_wall : 0;

	*out = *rs;
	for (int id = NFT_SET_ALLOW_V4; id <= NFT_SET_ALLOW_V6; id++) {
		const struct nft_set *set = &rs->sets[id];
		struct nft_set *copy = &out->sets[id];

		copy->elems = NULL;
		copy->n_elems = copy->cap_elems = 0;
		for (size_t i = 0; i < set->n_elems; i++) {
			struct nft_elem e = set->elems[i];
			uint64_t timeout = e.has_timeout ? e.timeout_ms : set->timeout_ms;
			uint64_t age = timeout > e.expires_ms ? timeout - e.expires_ms : 0;

			if (e.expires_ms != 0) {
				/* Added within the log's run: leave it to the final dump. */
				if (rp->now.wall_ms - age + SHADOW_EXPIRY_SLACK_MS >= seg_wall)
					continue;
				e.expires_ms += back;
			}
			if (nft_set_add_elem(copy, &e) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

static void free_first_view(struct nft_ruleset *v)
{
	for (int id = NFT_SET_ALLOW_V4; id <= NFT_SET_ALLOW_V6; id++)
		free(v->sets[id].elems);
}

/* The report object of one container. */
static int oneshot_container(const struct oneshot_src *src, json_t **out, struct shield_error *err)
{
	struct bundle_rules b = {0};
	struct strlist domains = {0}, denied = {0};
	struct nft_ruleset rs = {0}, first = {0};
	struct replay rp = {0};
	struct shadow_config cfg = {0};
	struct shadow_report_info info;
	_cleanup_free_ char *conf = NULL;
	const char *who = src->name && src->name[0] ? src->name : src->id;
	bool alive;
	int r;

	r = bundle_rules_load(src->dirfd, &b, err);
	if (r >= 0)
		r = bundle_effective_domains(src->dirfd, &domains, &denied, err);
	if (r < 0) {
		shield_error_prefix(err, "%s: bundle %s: ", who, src->state_dir);
		goto out;
	}
	shadow_config_from_bundle(&cfg, &b, &domains, &denied);
	cfg.container = who;
	cfg.dnsmasq_pid = src->dnsmasq_pid;
	cfg.repair = false; /* a report changes nothing */
	r = shadow_new(&cfg, &rp.shadow, err);
	if (r < 0) {
		shield_error_prefix(err, "%s: ", who);
		goto out;
	}
	rp.dnsmasq_pid = src->dnsmasq_pid;
	rp.set_timeout_ms = (uint64_t)b.config.set_timeout * 1000;

	/* The kernel now: the time of the dump is the report's "now". */
	rp.now = clock_now();
	{
		struct dump_arg a = {&rs};

		r = netns_call(src->nsfd, dump_in_netns, &a, err);
	}
	if (r == -EPERM && geteuid() != 0) {
		shield_error_set(err, r,
				 "%s: cannot enter its network namespace %s as a user; name it "
				 "(shield drift %s) to go through podman's user namespace",
				 who, src->netns, who);
		goto out;
	}
	if (r < 0) {
		shield_error_prefix(err, "%s: dumping the table in %s: ", who, src->netns);
		goto out;
	}

	/* Pass 1 finds the last dnsmasq start; pass 2 replays from there. */
	r = read_log(src->dirfd, 0, scan_line, &rp, err);
	if (r < 0)
		goto log_failed;
	if (!rp.seg_wall_known)
		rp.seg_wall_ms = rp.now.wall_ms;
	rp.last = rp.now;
	if (rp.seg_wall_ms < rp.now.wall_ms) {
		uint64_t back = rp.now.wall_ms - rp.seg_wall_ms;

		rp.last.wall_ms = rp.seg_wall_ms;
		rp.last.mono_ms = rp.now.mono_ms > back ? rp.now.mono_ms - back : 0;
	}
	r = first_view(&rs, &rp, rp.seg_wall_ms, &first);
	if (r >= 0)
		r = shadow_kernel_dump(rp.shadow, &first, NULL, &rp.last, &rp.out);
	free_first_view(&first);
	shadow_output_reset(&rp.out);
	if (r < 0) {
		shield_error_set(err, r, "%s: %s", who, shield_strerror(r));
		goto out;
	}
	r = read_log(src->dirfd, rp.seg_start, replay_line, &rp, err);
	if (r < 0)
		goto log_failed;

	/* Now: what has expired since, then the kernel as it is. */
	r = shadow_tick(rp.shadow, &rp.now, &rp.out);
	if (r >= 0)
		r = shadow_kernel_dump(rp.shadow, &rs, NULL, &rp.now, &rp.out);
	if (r >= 0 && asprintf(&conf, "%s/%s", src->state_dir, DNSMASQ_CONF_FILE) < 0) {
		conf = NULL;
		r = -ENOMEM;
	}
	alive = conf && src->dnsmasq_pid > 0 && dnsmasq_is_ours(src->dnsmasq_pid, conf, src->nsfd);
	if (r >= 0 && !alive) {
		char detail[128];

		if (src->dnsmasq_pid > 0)
			snprintf(detail, sizeof(detail), "dnsmasq pid %d is not running",
				 (int)src->dnsmasq_pid);
		else
			snprintf(detail, sizeof(detail), "no dnsmasq is known for this container");
		r = shadow_dnsmasq_state(rp.shadow, false, 0, detail, &rp.now, &rp.out);
	}
	shadow_output_reset(&rp.out);
	if (r < 0) {
		shield_error_set(err, r, "%s: %s", who, shield_strerror(r));
		goto out;
	}
	info = (struct shadow_report_info){
		.id = src->id,
		.name = src->name,
		.state_dir = src->state_dir,
		.netns = src->netns,
		.source = src->source,
		.dnsmasq_alive = alive,
	};
	*out = shadow_report(rp.shadow, &info, &rp.now);
	r = *out ? 0 : shield_error_set(err, -ENOMEM, "out of memory");
	goto out;

log_failed:
	shield_error_prefix(err, "%s: bundle %s: ", who, src->state_dir);
out:
	shadow_output_free(&rp.out);
	shadow_free(rp.shadow);
	sim_free(&rp);
	nft_ruleset_free(&rs);
	strlist_free(&domains);
	strlist_free(&denied);
	bundle_rules_free(&b);
	return r;
}

/* The dnsmasq a bundle's PID file names (0 when there is none). */
static pid_t pid_file(int dirfd)
{
	_cleanup_free_ char *text = NULL;
	struct shield_error ignored = {0};
	char *end;
	unsigned long v;

	if (bundle_read_file(dirfd, DNSMASQ_PID_FILE, 64, &text, NULL, &ignored) < 0)
		return 0;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || end == text || v == 0 || v > 4194304)
		return 0;
	return (pid_t)v;
}

static int report_new(json_t **out, struct shield_error *err)
{
	char ts[TIMESTAMP_MAX];

	*out = json_pack("{si ss ss s[]}", "version", 1, "generated", shield_timestamp(ts),
			 "source", "one-shot", "containers");
	return *out ? 0 : shield_error_set(err, -ENOMEM, "out of memory");
}

/* One resolved target. */
static int oneshot_target(const struct cli_target *t, json_t *containers, struct shield_error *err)
{
	struct oneshot_src src = {
		.id = t->id ? t->id : (t->has_entry ? t->entry.id : t->name),
		.name = t->name,
		.state_dir = t->state_dir,
		.netns = t->netns_path,
		.source = t->has_entry ? t->entry.source
			  : t->podman  ? "podman"
				       : "attach",
		.dnsmasq_pid = t->has_entry ? t->entry.dnsmasq_pid : 0,
		.dirfd = t->dirfd,
		.nsfd = t->nsfd,
	};
	json_t *c = NULL;
	int r;

	if (!t->running || t->nsfd < 0)
		return shield_error_set(err, -ESRCH,
					"%s is not running: there is no network namespace to "
					"compare its bundle with",
					t->name);
	if (!src.dnsmasq_pid)
		src.dnsmasq_pid = pid_file(t->dirfd);
	r = oneshot_container(&src, &c, err);
	if (r >= 0 && json_array_append_new(containers, c) < 0)
		r = shield_error_set(err, -ENOMEM, "out of memory");
	return r;
}

/* One registry entry; an entry whose namespace is gone is noted and left out. */
static int oneshot_entry(const struct registry_entry *e, json_t *containers,
			 struct shield_error *err)
{
	struct shield_error nerr = {0};
	_cleanup_close_ int nsfd = -1, bfd = -1;
	struct stat st;
	struct oneshot_src src = {
		.id = e->id,
		.name = e->name,
		.state_dir = e->state_dir,
		.netns = e->netns,
		.source = e->source,
		.dnsmasq_pid = e->dnsmasq_pid,
	};
	json_t *c = NULL;
	int r;

	if (stat(e->netns, &st) < 0 || (uint64_t)st.st_dev != e->netns_dev ||
	    (uint64_t)st.st_ino != e->netns_ino) {
		fprintf(stderr,
			"shield: drift: %s: its network namespace %s is gone (a stale registry "
			"entry); left out\n",
			e->name[0] ? e->name : e->id, e->netns);
		return 0;
	}
	nsfd = netns_open(e->netns, &nerr);
	if (nsfd < 0)
		return shield_error_set(err, nsfd, "%s: %s", e->name[0] ? e->name : e->id,
					nerr.msg);
	r = bundle_check_location(e->state_dir, err);
	if (r >= 0)
		r = bfd = bundle_open(e->state_dir, false, err);
	if (r < 0)
		return shield_error_prefix(err, "%s: ", e->name[0] ? e->name : e->id);
	src.dirfd = bfd;
	src.nsfd = nsfd;
	r = oneshot_container(&src, &c, err);
	if (r >= 0 && json_array_append_new(containers, c) < 0)
		r = shield_error_set(err, -ENOMEM, "out of memory");
	return r;
}

/* Every registry entry, in id order. */
static int oneshot_all(json_t *containers, struct shield_error *err)
{
	struct shield_error ignored = {0};
	_cleanup_strlist_ struct strlist ids = STRLIST_INIT;
	char runtime[PATH_MAX];
	_cleanup_close_ int regfd = -1;
	int r;

	if (registry_runtime_dir(runtime, sizeof(runtime), err) < 0)
		return -EINVAL;
	regfd = registry_open(runtime, false, &ignored);
	if (regfd < 0)
		return 0; /* no registry: nothing is shielded */
	r = registry_list(regfd, &ids, err);
	if (r < 0) {
		shield_error_prefix(err, "%s: ", runtime);
		return r;
	}
	for (size_t i = 0; r >= 0 && i < ids.n; i++) {
		struct registry_entry e;

		/* An entry removed meanwhile (a container stopped) is not an error. */
		if (registry_read(regfd, ids.items[i], &e, &ignored) < 0)
			continue;
		r = oneshot_entry(&e, containers, err);
	}
	return r;
}

int drift_oneshot(const struct cli_target *t, json_t **out, struct shield_error *err)
{
	json_t *report = NULL;
	int r = report_new(&report, err);

	if (r >= 0 && t)
		r = oneshot_target(t, json_object_get(report, "containers"), err);
	else if (r >= 0)
		r = oneshot_all(json_object_get(report, "containers"), err);
	if (r < 0) {
		json_decref(report);
		return r;
	}
	*out = report;
	return 0;
}
