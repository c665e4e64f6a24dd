/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-log: nftsetd's log path on one core (benchmark 6 of
 * tests/bench/bench-6-log.sh). Asserts nothing about time.
 *
 *   bench-log gen FILE LINES
 *     Write a dnsmasq query log of exactly LINES lines, as dnsmasq 2.90
 *     writes it with shield's configuration (log-queries=extra, strict DNS
 *     policy): a deterministic mix of upstream A and AAAA answers (query,
 *     forwarded, nftset add, reply), cached answers, CNAME chains, answers
 *     that rotate, and blocked queries (query, config ... is NXDOMAIN).
 *     Prints the count of each line kind.
 *
 *   bench-log run FILE [--parse-only|--split-only]
 *
 *   BENCH_LOG_NAMES=N (a multiple of 20, default 2,000) sizes the world of
 *   both: N names under 20 allowed domains; gen and run must agree.
 *     What nftsetd's tailer does with the file (nftsetd/tail.c read_some
 *     and on_line): pread in NFTSETD_READ_CHUNK pieces, the line splitter,
 *     dnsmasq_log_parse_line, shadow_log_record with the shadow state of a
 *     container whose allow sets hold every address the log names (a
 *     kernel dump fed before the clock starts), each event encoded as the
 *     JSON line nftsetd writes. Prints one line:
 *       LINES CPU_NS WALL_NS EVENTS SHADOW_BYTES
 *     (CPU_NS: this thread's CPU time, the figure that counts on a shared
 *     machine; WALL_NS: elapsed). --parse-only stops each line after
 *     dnsmasq_log_parse_line, --split-only after the splitter (with the
 *     reads): where the time goes. SHADOW_BYTES: the heap the shadow
 *     state holds once the log is read (with the kernel view).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shield/dnsmasq-log.h"
#include "shield/event.h"
#include "shield/nft-ruleset.h"
#include "shield/shadow.h"

/* nftsetd's read size (nftsetd.h NFTSETD_READ_CHUNK). */
#define READ_CHUNK (64 * 1024)

/* The log's world: DOMAINS configured domains, hosts names under each (NAMES / DOMAINS). */
#define DOMAINS 20
static unsigned hosts = 100;
#define BLOCKED 500
#define PID	4242

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static _Noreturn void fail(const char *what)
{
	fprintf(stderr, "bench-log: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* ------------------------------------------------------------------ gen */

/* The addresses of host h (0 .. DOMAINS*HOSTS-1) in epoch e (answers rotate). */
static void v4_of(unsigned h, unsigned e, unsigned k, char *out, size_t size)
{
	unsigned n = h * 4 + e * 2 + k;

	snprintf(out, size, "198.18.%u.%u", 16 + (n >> 8), n & 255);
}

static void v6_of(unsigned h, unsigned e, char *out, size_t size)
{
	snprintf(out, size, "2001:db8:%x::%x", 16 + e, h + 1);
}

struct gen {
	FILE *f;
	uint64_t lines, max;
	uint64_t serial;
	uint64_t kinds[DNSMASQ_LOG_EMPTY + 1];
	uint32_t rnd;
	char stamp[32];
};

static uint32_t rnd(struct gen *g)
{
	g->rnd = g->rnd * 1103515245u + 12345u;
	return g->rnd >> 8;
}

static void line(struct gen *g, enum dnsmasq_log_kind k, const char *fmt, ...) _printf_(3, 4);
static void line(struct gen *g, enum dnsmasq_log_kind k, const char *fmt, ...)
{
	va_list ap;

	if (g->lines >= g->max)
		return;
	fprintf(g->f, "%s dnsmasq[%d]: %" PRIu64 " 127.0.0.1/%u ", g->stamp, PID, g->serial,
		(unsigned)(32768 + g->serial % 28000));
	va_start(ap, fmt);
	vfprintf(g->f, fmt, ap);
	va_end(ap);
	fputc('\n', g->f);
	g->lines++;
	g->kinds[k]++;
}

static void gen_one(struct gen *g)
{
	unsigned r = rnd(g) % 100, h = rnd(g) % (DOMAINS * hosts);
	unsigned e = (unsigned)(g->lines / 250000) % 2, d = h / hosts;
	char name[128], a[64], b[64];

	g->serial++;
	snprintf(name, sizeof(name), "h%u.d%u.shield.test", h % hosts, d);
	v4_of(h, e, 0, a, sizeof(a));
	v4_of(h, e, 1, b, sizeof(b));
	if (r < 40) { /* upstream A: one or two addresses */
		bool two = h % 3 == 0;

		line(g, DNSMASQ_LOG_QUERY, "query[A] %s from 127.0.0.1", name);
		line(g, DNSMASQ_LOG_FORWARDED, "forwarded %s to 198.18.1.53", name);
		line(g, DNSMASQ_LOG_NFTSET,
		     "nftset add 4 inet terok_shield allow_v4 %s d%u.shield.test", a, d);
		if (two)
			line(g, DNSMASQ_LOG_NFTSET,
			     "nftset add 4 inet terok_shield allow_v4 %s d%u.shield.test", b, d);
		line(g, DNSMASQ_LOG_REPLY, "reply %s is %s", name, a);
		if (two)
			line(g, DNSMASQ_LOG_REPLY, "reply %s is %s", name, b);
	} else if (r < 55) { /* upstream AAAA */
		v6_of(h, e, a, sizeof(a));
		line(g, DNSMASQ_LOG_QUERY, "query[AAAA] %s from 127.0.0.1", name);
		line(g, DNSMASQ_LOG_FORWARDED, "forwarded %s to 198.18.1.53", name);
		line(g, DNSMASQ_LOG_NFTSET,
		     "nftset add 6 inet terok_shield allow_v6 %s d%u.shield.test", a, d);
		line(g, DNSMASQ_LOG_REPLY, "reply %s is %s", name, a);
	} else if (r < 85) { /* from dnsmasq's cache */
		line(g, DNSMASQ_LOG_QUERY, "query[A] %s from 127.0.0.1", name);
		line(g, DNSMASQ_LOG_CACHED, "cached %s is %s", name, a);
	} else if (r < 90) { /* a CNAME chain to a name of the same domain */
		char alias[128];

		snprintf(alias, sizeof(alias), "www%u.d%u.shield.test", h % hosts, d);
		line(g, DNSMASQ_LOG_QUERY, "query[A] %s from 127.0.0.1", alias);
		line(g, DNSMASQ_LOG_FORWARDED, "forwarded %s to 198.18.1.53", alias);
		line(g, DNSMASQ_LOG_REPLY, "reply %s is <CNAME>", alias);
		line(g, DNSMASQ_LOG_NFTSET,
		     "nftset add 4 inet terok_shield allow_v4 %s d%u.shield.test", a, d);
		line(g, DNSMASQ_LOG_REPLY, "reply %s is %s", name, a);
	} else { /* blocked: strict policy answers NXDOMAIN itself */
		unsigned x = rnd(g) % BLOCKED;

		line(g, DNSMASQ_LOG_QUERY, "query[A] t%u.tracker%u.invalid from 127.0.0.1", x,
		     x % 7);
		line(g, DNSMASQ_LOG_CONFIG, "config t%u.tracker%u.invalid is NXDOMAIN", x, x % 7);
	}
	/* dnsmasq's clock: one second per 20,000 lines. */
	snprintf(g->stamp, sizeof(g->stamp), "Nov 26 03:%02u:%02u",
		 (unsigned)(g->lines / 20000 / 60 % 60), (unsigned)(g->lines / 20000 % 60));
}

static int gen(const char *path, const char *count)
{
	struct gen g = {.rnd = 12345};
	char *end;

	g.max = strtoull(count, &end, 10);
	if (*end || !g.max) {
		fprintf(stderr, "bench-log: LINES must be a positive number, not '%s'\n", count);
		return 2;
	}
	g.f = fopen(path, "we");
	if (!g.f)
		fail(path);
	snprintf(g.stamp, sizeof(g.stamp), "Nov 26 03:00:00");
	while (g.lines < g.max)
		gen_one(&g);
	if (fclose(g.f) != 0)
		fail(path);
	printf("%" PRIu64 " lines:", g.lines);
	for (int k = 0; k <= DNSMASQ_LOG_EMPTY; k++)
		if (g.kinds[k])
			printf(" %s %" PRIu64, dnsmasq_log_kind_name((enum dnsmasq_log_kind)k),
			       g.kinds[k]);
	printf("\n");
	return 0;
}

/* ------------------------------------------------------------------ run */

static struct strlist domains = STRLIST_INIT, denied = STRLIST_INIT;

static struct shadow *make_shadow(struct shadow_config *cfg, struct shadow_now *now)
{
	struct shadow_output out = {0};
	struct shadow *s = NULL;
	struct nft_ruleset rs;
	char name[64], a[64];

	for (unsigned d = 0; d < DOMAINS; d++) {
		snprintf(name, sizeof(name), "d%u.shield.test", d);
		if (strlist_add(&domains, name) < 0)
			fail("strlist_add");
	}
	memset(cfg, 0, sizeof(*cfg));
	cfg->container = "bench";
	cfg->ruleset.mode = SHIELD_MODE_UP;
	cfg->ruleset.upstream =
		(struct addr_prefix){.family = AF_INET, .addr = {198, 18, 1, 53}, .plen = 32};
	cfg->ruleset.set_timeout = 1800;
	cfg->dns_policy = DNS_POLICY_STRICT;
	cfg->domains = &domains;
	cfg->denied = &denied;
	cfg->dnsmasq_pid = PID;
	cfg->repair = true;
	cfg->blocked_repeat_ms = SHADOW_BLOCKED_REPEAT_MS;
	if (shadow_new(cfg, &s, NULL) < 0)
		fail("shadow_new");
	/* The kernel holds what dnsmasq added: every address of every epoch. */
	if (nft_ruleset_build(&cfg->ruleset, &rs, NULL) < 0)
		fail("nft_ruleset_build");
	for (unsigned h = 0; h < DOMAINS * hosts; h++) {
		for (unsigned e = 0; e < 2; e++) {
			for (unsigned k = 0; k < 3; k++) {
				enum nft_set_id set = k < 2 ? NFT_SET_ALLOW_V4 : NFT_SET_ALLOW_V6;
				struct addr_prefix p;
				struct nft_elem el;

				if (k < 2)
					v4_of(h, e, k, a, sizeof(a));
				else
					v6_of(h, e, a, sizeof(a));
				if (addr_parse(a, strlen(a), &p, NULL) < 0)
					fail(a);
				nft_elem_from_prefix(&p, &el);
				el.has_timeout = true;
				el.timeout_ms = 1800000;
				el.expires_ms = 1700000;
				if (nft_set_add_elem(&rs.sets[set], &el) < 0)
					fail("nft_set_add_elem");
			}
		}
	}
	if (shadow_kernel_dump(s, &rs, NULL, now, &out) < 0)
		fail("shadow_kernel_dump");
	nft_ruleset_free(&rs);
	shadow_output_free(&out);
	return s;
}

static void now_of(struct shadow_now *now)
{
	now->mono_ms = clock_ns(CLOCK_MONOTONIC) / 1000000;
	now->wall_ms = clock_ns(CLOCK_REALTIME) / 1000000;
}

/* How far each line goes: split only, split and parse, everything (nftsetd). */
enum stage { STAGE_SPLIT, STAGE_PARSE, STAGE_ALL };

struct feed {
	enum stage stage;
	struct shadow *s;
	struct shadow_now now;
	struct shadow_output out;
	uint64_t lines, events, bytes;
};

/* nftsetd/tail.c on_line, with container_output's encoding of each event. */
static int on_line(const struct dnsmasq_log_line *l, void *arg)
{
	struct feed *x = arg;
	struct dnsmasq_log_rec rec;

	x->lines++;
	if (l->too_long || x->stage == STAGE_SPLIT)
		return 0;
	if (dnsmasq_log_parse_line(l->data, l->len, &rec) < 0 || rec.kind == DNSMASQ_LOG_EMPTY ||
	    rec.kind == DNSMASQ_LOG_OTHER || x->stage == STAGE_PARSE)
		return 0;
	if (shadow_log_record(x->s, &rec, &x->now, &x->out) < 0)
		fail("shadow_log_record");
	if (x->out.n_events || x->out.n_repairs) {
		for (size_t i = 0; i < x->out.n_events; i++) {
			char *text = NULL;
			size_t len = 0;

			if (shield_event_encode(&x->out.events[i], &text, &len, NULL) < 0)
				fail("shield_event_encode");
			x->bytes += len;
			free(text);
		}
		x->events += x->out.n_events;
		shadow_output_reset(&x->out);
	}
	return 0;
}

static int run(const char *path, enum stage stage)
{
	static char buf[READ_CHUNK];
	struct dnsmasq_log_split split;
	struct shadow_config cfg;
	struct feed x = {.stage = stage};
	uint64_t off = 0, c0, w0, c1, w1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct mallinfo2 m0, m1;

	if (fd < 0)
		fail(path);
	m0 = mallinfo2();
	now_of(&x.now);
	x.s = make_shadow(&cfg, &x.now);
	dnsmasq_log_split_init(&split, 0);
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	w0 = clock_ns(CLOCK_MONOTONIC);
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail(path);
		if (n == 0)
			break;
		now_of(&x.now);
		dnsmasq_log_split_feed(&split, buf, (size_t)n, on_line, &x);
		off += (uint64_t)n;
	}
	c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	w1 = clock_ns(CLOCK_MONOTONIC);
	close(fd);
	shadow_output_free(&x.out);
	m1 = mallinfo2();
	printf("%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %zu\n", x.lines, c1 - c0, w1 - w0,
	       x.events, m1.uordblks - m0.uordblks);
	shadow_free(x.s);
	strlist_free(&domains);
	return 0;
}

int main(int argc, char **argv)
{
	const char *names = getenv("BENCH_LOG_NAMES");

	if (names) {
		char *end;
		unsigned long n = strtoul(names, &end, 10);

		if (*end || n < DOMAINS || n % DOMAINS || n > 16000) {
			fprintf(stderr,
				"bench-log: BENCH_LOG_NAMES must be a multiple of %d up to 16000\n",
				DOMAINS);
			return 2;
		}
		hosts = (unsigned)(n / DOMAINS);
	}
	if (argc == 4 && strcmp(argv[1], "gen") == 0)
		return gen(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "run") == 0)
		return run(argv[2], STAGE_ALL);
	if (argc == 4 && strcmp(argv[1], "run") == 0 && strcmp(argv[3], "--parse-only") == 0)
		return run(argv[2], STAGE_PARSE);
	if (argc == 4 && strcmp(argv[1], "run") == 0 && strcmp(argv[3], "--split-only") == 0)
		return run(argv[2], STAGE_SPLIT);
	fprintf(stderr, "Usage: [BENCH_LOG_NAMES=N] bench-log gen FILE LINES | "
			"[BENCH_LOG_NAMES=N] bench-log run FILE [--parse-only|--split-only]\n");
	return 2;
}
