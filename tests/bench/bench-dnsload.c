/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-dnsload: a DNS query load spread over many network namespaces, for
 * tests/bench (benchmark 8). dnsperf asks one server; this asks the
 * dnsmasq at 127.0.0.1:53 of every namespace given, round robin, at one
 * paced rate for all of them together:
 *
 *   bench-dnsload --rate QPS --seconds S --tag TAG [--blocked-every K]
 *                 [--new-every M] [--pool P] [--allowed-suffix D]
 *                 [--blocked-suffix D] NETNS-PATH...
 *
 * Query i asks A of a name under TAG: every K-th one (default 4)
 * "q<i>.<TAG>.<blocked suffix>" (dnsmasq answers NXDOMAIN from its config
 * and logs a blocked query); of the others every M-th one (default 1: all)
 * a new name "q<i>.<TAG>.<allowed suffix>" (dnsmasq forwards it upstream,
 * logs the reply and adds the address to its nftset), the rest one of P
 * names (default 100) "p<k>.<TAG>.<allowed suffix>" (answered from
 * dnsmasq's cache once it asked upstream). One UDP socket per namespace (opened inside it with setns, then
 * back), one thread: it sends what the clock says is due, every
 * millisecond, and reads the answers in between. After the sending window
 * it waits up to 3 s for the answers still on their way.
 *
 * It prints one line of KEY=VALUE: sent, sent_blocked, answers, noerror,
 * nxdomain, other (other response codes), late (answers after the window),
 * send_errors, elapsed_ms (the window), answers_per_s, lat_p50_us,
 * lat_p99_us, lat_max_us. Exit 0 when it ran (however many answers came), 1
 * on a setup error, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLOTS	    4096 /* send times kept per socket (answers outstanding at most) */
#define LAT_BUCKETS 96	 /* latency histogram: buckets of 2^(i/4) microseconds */
#define DRAIN_NS    (3ull * 1000000000ull)

struct target {
	int fd;
	uint16_t seq;
	uint64_t sent_ns[SLOTS];
};

struct stats {
	uint64_t sent, sent_blocked, answers, noerror, nxdomain, other, late, send_errors;
	uint64_t lat[LAT_BUCKETS];
	uint64_t lat_max_us;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned lat_bucket(uint64_t us)
{
	unsigned b = 0;

	/* Smallest b with 2^(b/4) >= us, in quarter powers of two. */
	while (b < LAT_BUCKETS - 1) {
		double edge = 1.0;
		unsigned i;

		for (i = 0; i < b / 4; i++)
			edge *= 2.0;
		edge *= (double[]){1.0, 1.189, 1.414, 1.682}[b % 4];
		if ((double)us <= edge)
			break;
		b++;
	}
	return b;
}

static uint64_t bucket_edge_us(unsigned b)
{
	double edge = 1.0;
	unsigned i;

	for (i = 0; i < b / 4; i++)
		edge *= 2.0;
	edge *= (double[]){1.0, 1.189, 1.414, 1.682}[b % 4];
	return (uint64_t)(edge + 0.5);
}

static uint64_t lat_quantile(const struct stats *s, double q)
{
	uint64_t n = 0, want, seen = 0;
	unsigned b;

	for (b = 0; b < LAT_BUCKETS; b++)
		n += s->lat[b];
	if (n == 0)
		return 0;
	want = (uint64_t)((double)n * q);
	if (want >= n)
		want = n - 1;
	for (b = 0; b < LAT_BUCKETS; b++) {
		seen += s->lat[b];
		if (seen > want)
			return bucket_edge_us(b);
	}
	return bucket_edge_us(LAT_BUCKETS - 1);
}

/* A query for NAME, type A, class IN, recursion desired; its length. */
static size_t build_query(uint8_t *buf, size_t cap, uint16_t id, const char *name)
{
	size_t n = 12;
	const char *p = name;

	memset(buf, 0, 12);
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[2] = 0x01; /* RD */
	buf[5] = 1;    /* QDCOUNT */
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);

		if (len == 0 || len > 63 || n + 1 + len + 5 > cap)
			return 0;
		buf[n++] = (uint8_t)len;
		memcpy(buf + n, p, len);
		n += len;
		p += len;
		if (*p == '.')
			p++;
	}
	buf[n++] = 0;
	buf[n++] = 0;
	buf[n++] = 1; /* A */
	buf[n++] = 0;
	buf[n++] = 1; /* IN */
	return n;
}

/* A UDP socket connected to 127.0.0.1:53 inside the namespace at PATH. */
static int open_target(const char *path, int home)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(53)};
	int ns, fd = -1, rcvbuf = 1 << 20;

	ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0) {
		fprintf(stderr, "bench-dnsload: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (setns(ns, CLONE_NEWNET) < 0) {
		fprintf(stderr, "bench-dnsload: setns %s: %s\n", path, strerror(errno));
		close(ns);
		return -1;
	}
	close(ns);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "bench-dnsload: socket in %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	if (setns(home, CLONE_NEWNET) < 0) {
		fprintf(stderr, "bench-dnsload: setns back: %s\n", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Read every answer waiting on t. */
static void drain(struct target *t, struct stats *s, bool late)
{
	uint8_t buf[1500];

	for (;;) {
		ssize_t n = recv(t->fd, buf, sizeof(buf), 0);
		uint16_t id;
		uint64_t us;

		if (n < 0)
			return; /* EAGAIN; ECONNREFUSED (no dnsmasq) shows as missing answers */
		if (n < 12 || !(buf[2] & 0x80))
			continue;
		id = (uint16_t)(buf[0] << 8 | buf[1]);
		s->answers++;
		if (late)
			s->late++;
		switch (buf[3] & 0x0f) {
		case 0:
			s->noerror++;
			break;
		case 3:
			s->nxdomain++;
			break;
		default:
			s->other++;
			break;
		}
		us = (now_ns() - t->sent_ns[id % SLOTS]) / 1000;
		s->lat[lat_bucket(us)]++;
		if (us > s->lat_max_us)
			s->lat_max_us = us;
	}
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: bench-dnsload --rate QPS --seconds S --tag TAG [--blocked-every K]\n"
		"                     [--allowed-suffix D] [--blocked-suffix D] NETNS-PATH...\n");
}

static int positive(const char *opt, const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || *out < 1 || *out > max) {
		fprintf(stderr, "bench-dnsload: %s: '%s' is not a number from 1 to %lu\n", opt, s,
			max);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"rate", required_argument, NULL, 'r'},
		{"seconds", required_argument, NULL, 's'},
		{"tag", required_argument, NULL, 't'},
		{"blocked-every", required_argument, NULL, 'b'},
		{"new-every", required_argument, NULL, 'n'},
		{"pool", required_argument, NULL, 'p'},
		{"allowed-suffix", required_argument, NULL, 'a'},
		{"blocked-suffix", required_argument, NULL, 'B'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	unsigned long rate = 0, seconds = 0, every = 4, new_every = 1, pool = 100;
	const char *tag = NULL, *allowed = "load.shield.test", *blocked = "blocked.bench.invalid";
	struct target *targets;
	struct stats st = {0};
	size_t n_targets, i, next = 0;
	uint64_t t0, window, now, due, elapsed;
	int home, ep, c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (positive("--rate", optarg, 10000000, &rate) < 0)
				return 2;
			break;
		case 's':
			if (positive("--seconds", optarg, 3600, &seconds) < 0)
				return 2;
			break;
		case 'b':
			if (positive("--blocked-every", optarg, 1000000, &every) < 0)
				return 2;
			break;
		case 'n':
			if (positive("--new-every", optarg, 1000000, &new_every) < 0)
				return 2;
			break;
		case 'p':
			if (positive("--pool", optarg, 1000000, &pool) < 0)
				return 2;
			break;
		case 't':
			tag = optarg;
			break;
		case 'a':
			allowed = optarg;
			break;
		case 'B':
			blocked = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!rate || !seconds || !tag || optind >= argc) {
		usage(stderr);
		return 2;
	}
	n_targets = (size_t)(argc - optind);
	targets = calloc(n_targets, sizeof(*targets));
	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!targets || home < 0 || ep < 0) {
		fprintf(stderr, "bench-dnsload: setup: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < n_targets; i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = i};

		targets[i].fd = open_target(argv[optind + (int)i], home);
		if (targets[i].fd < 0)
			return 1;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, targets[i].fd, &ev) < 0) {
			fprintf(stderr, "bench-dnsload: epoll_ctl: %s\n", strerror(errno));
			return 1;
		}
	}

	window = (uint64_t)seconds * 1000000000ull;
	t0 = now_ns();
	for (;;) {
		struct epoll_event evs[64];
		int k, n;

		now = now_ns();
		elapsed = now - t0;
		if (elapsed >= window && st.sent >= rate * seconds &&
		    (elapsed >= window + DRAIN_NS || st.answers >= st.sent))
			break;
		/* Everything due by now (capped, so a stall does not turn into one big burst). */
		due = elapsed >= window ? rate * seconds
					: (uint64_t)((double)rate * (double)elapsed / 1e9);
		for (k = 0; st.sent < due && k < 2000; k++) {
			struct target *t = &targets[next];
			uint8_t q[512];
			char name[256];
			uint64_t id = st.sent;
			bool is_blocked = id % every == 0;
			size_t len;

			next = (next + 1) % n_targets;
			if (is_blocked || (id - id / every) % new_every == 0)
				snprintf(name, sizeof(name), "q%llu.%s.%s", (unsigned long long)id,
					 tag, is_blocked ? blocked : allowed);
			else
				snprintf(name, sizeof(name), "p%llu.%s.%s",
					 (unsigned long long)(id % pool), tag, allowed);
			len = build_query(q, sizeof(q), t->seq, name);
			if (len == 0) {
				fprintf(stderr, "bench-dnsload: name too long: %s\n", name);
				return 2;
			}
			t->sent_ns[t->seq % SLOTS] = now_ns();
			if (send(t->fd, q, len, 0) < 0)
				st.send_errors++;
			t->seq++;
			st.sent++;
			if (is_blocked)
				st.sent_blocked++;
		}
		n = epoll_wait(ep, evs, 64, 1);
		for (k = 0; k < n; k++)
			drain(&targets[evs[k].data.u64], &st, elapsed >= window);
	}
	printf("sent=%llu sent_blocked=%llu answers=%llu noerror=%llu nxdomain=%llu other=%llu "
	       "late=%llu send_errors=%llu elapsed_ms=%llu answers_per_s=%.0f lat_p50_us=%llu "
	       "lat_p99_us=%llu lat_max_us=%llu\n",
	       (unsigned long long)st.sent, (unsigned long long)st.sent_blocked,
	       (unsigned long long)st.answers, (unsigned long long)st.noerror,
	       (unsigned long long)st.nxdomain, (unsigned long long)st.other,
	       (unsigned long long)st.late, (unsigned long long)st.send_errors,
	       (unsigned long long)(window / 1000000),
	       (double)(st.answers - st.late) * 1e9 / (double)window,
	       (unsigned long long)lat_quantile(&st, 0.5),
	       (unsigned long long)lat_quantile(&st, 0.99), (unsigned long long)st.lat_max_us);
	for (i = 0; i < n_targets; i++)
		close(targets[i].fd);
	free(targets);
	close(ep);
	close(home);
	return 0;
}
