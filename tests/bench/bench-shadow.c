/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-shadow: what the pure drift logic costs nftsetd. Reports (asserts
 * nothing about time): dnsmasq log lines parsed and fed to a shadow per
 * second and the memory a shadow holds per answer. (The dump check, dump
 * and diff of a set, is benchmark 5: bench-5-set-dump.sh.)
 */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "shield/shadow.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct strlist domains = STRLIST_INIT, denied = STRLIST_INIT;
static struct addr_prefix allow = {.family = AF_INET, .addr = {198, 18, 5, 5}, .plen = 32};

static struct shadow *make_shadow(struct shadow_config *cfg)
{
	struct shadow *s = NULL;

	memset(cfg, 0, sizeof(*cfg));
	cfg->container = "bench";
	cfg->ruleset.mode = SHIELD_MODE_UP;
	cfg->ruleset.upstream =
		(struct addr_prefix){.family = AF_INET, .addr = {198, 18, 1, 53}, .plen = 32};
	cfg->ruleset.set_timeout = 1800;
	cfg->ruleset.allow = &allow;
	cfg->ruleset.n_allow = 1;
	cfg->domains = &domains;
	cfg->denied = &denied;
	cfg->dnsmasq_pid = 100;
	cfg->repair = true;
	if (shadow_new(cfg, &s, NULL) < 0)
		exit(1);
	return s;
}

static void host(unsigned i, char *out, size_t size)
{
	snprintf(out, size, "198.%u.%u.%u", 19 + (i >> 16), (i >> 8) & 255, i & 255);
}

/* Feed n answers (4 lines each) and return the lines per second. */
static double feed_answers(struct shadow *s, unsigned n, struct shadow_now *now,
			   struct shadow_output *out)
{
	uint64_t t0 = now_ns();
	char line[256], addr[32];
	struct dnsmasq_log_rec rec;

	for (unsigned i = 0; i < n; i++) {
		host(i, addr, sizeof(addr));
		for (int k = 0; k < 4; k++) {
			if (k == 0)
				snprintf(line, sizeof(line),
					 "Nov 25 22:51:20 dnsmasq[100]: %u 127.0.0.1/4000 query[A] "
					 "h%u.shield.test from 127.0.0.1",
					 i + 1, i);
			else if (k == 1)
				snprintf(
					line, sizeof(line),
					"Nov 25 22:51:20 dnsmasq[100]: %u 127.0.0.1/4000 forwarded "
					"h%u.shield.test to 198.18.1.53",
					i + 1, i);
			else if (k == 2)
				snprintf(line, sizeof(line),
					 "Nov 25 22:51:20 dnsmasq[100]: %u 127.0.0.1/4000 nftset "
					 "add 4 "
					 "inet terok_shield allow_v4 %s shield.test",
					 i + 1, addr);
			else
				snprintf(line, sizeof(line),
					 "Nov 25 22:51:20 dnsmasq[100]: %u 127.0.0.1/4000 reply "
					 "h%u.shield.test is %s",
					 i + 1, i, addr);
			dnsmasq_log_parse_line(line, strlen(line), &rec);
			shadow_log_record(s, &rec, now, out);
		}
		if (out->n_events > 1024)
			shadow_output_reset(out);
	}
	return 4.0 * n / ((double)(now_ns() - t0) / 1e9);
}

static void bench_size(unsigned n)
{
	struct shadow_output out = {0};
	struct shadow_now now = {1000000, 1764111226000ULL};
	struct shadow_config cfg;
	struct mallinfo2 m0, m1;
	struct shadow *s;
	double lps;

	m0 = mallinfo2();
	s = make_shadow(&cfg);
	lps = feed_answers(s, n, &now, &out);
	m1 = mallinfo2();
	printf("answers %7u: %9.0f log lines/s, %5.0f bytes/answer, %zu events\n", n, lps,
	       (double)(m1.uordblks - m0.uordblks) / n, out.n_events);
	shadow_output_free(&out);
	shadow_free(s);
}

int main(void)
{
	strlist_add(&domains, "shield.test");
	bench_size(10000);
	bench_size(100000);
	bench_size(200000);
	strlist_free(&domains);
	return 0;
}
