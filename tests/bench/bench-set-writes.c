/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-nft-add [N]: what one repair costs, in a private network namespace
 * with shield's ruleset: adding a single element through nft_elems_add on a
 * socket that is already open (nftsetd's case), the same with the socket
 * opened and closed around it, and the `nft add element` process an
 * operator or a script would run. Prints the median, 90th percentile and
 * mean of each in microseconds; asserts nothing about time.
 */
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shield/nft-netlink.h"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, double *t, int n)
{
	double sum = 0;

	for (int i = 0; i < n; i++)
		sum += t[i];
	qsort(t, (size_t)n, sizeof(*t), cmp_double);
	printf("%-44s n=%-5d median %8.1f us  p90 %8.1f us  mean %8.1f us\n", what, n, t[n / 2],
	       t[n * 9 / 10], sum / n);
}

static struct addr_prefix elem(int series, int i)
{
	struct addr_prefix p = {.family = AF_INET, .plen = 32};

	p.addr[0] = 198;
	p.addr[1] = 19;
	p.addr[2] = (uint8_t)(series * 64 + i / 256);
	p.addr[3] = (uint8_t)i;
	return p;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 1000;
	int n_nft = n / 5;
	struct nft_ruleset_params params = {.mode = SHIELD_MODE_UP, .set_timeout = 1800};
	struct shield_error err = {0};
	struct nft_ruleset rs;
	struct nft_sock *s = NULL;
	double *t;

	if (n < 10 || n > 16000) {
		fprintf(stderr, "usage: bench-nft-add [N, 10..16000]\n");
		return 2;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		perror("bench-nft-add: unshare (run as root)");
		return 77;
	}
	t = calloc((size_t)n, sizeof(*t));
	addr_parse("198.18.1.53", 11, &params.upstream, NULL);
	if (!t || nft_ruleset_build(&params, &rs, &err) < 0 || nft_sock_open(&s, &err) < 0 ||
	    nft_apply_ruleset(s, &rs, &err) < 0) {
		fprintf(stderr, "bench-nft-add: %s\n", err.msg);
		return 1;
	}
	nft_ruleset_free(&rs);

	for (int i = 0; i < n; i++) {
		struct addr_prefix p = elem(0, i);
		double t0 = now_us();

		if (nft_elems_add(s, NFT_SET_ALLOW_V4, &p, 1, NFT_TIMEOUT_SET_DEFAULT, &err) < 0) {
			fprintf(stderr, "bench-nft-add: %s\n", err.msg);
			return 1;
		}
		t[i] = now_us() - t0;
	}
	report("nft_elems_add, 1 element, open socket", t, n);

	for (int i = 0; i < n; i++) {
		struct addr_prefix p = elem(1, i);
		struct nft_sock *once = NULL;
		double t0 = now_us();

		if (nft_sock_open(&once, &err) < 0 ||
		    nft_elems_add(once, NFT_SET_ALLOW_V4, &p, 1, NFT_TIMEOUT_SET_DEFAULT, &err) <
			    0) {
			fprintf(stderr, "bench-nft-add: %s\n", err.msg);
			return 1;
		}
		nft_sock_close(once);
		t[i] = now_us() - t0;
	}
	report("socket open + nft_elems_add + close", t, n);

	for (int i = 0; i < n_nft; i++) {
		struct addr_prefix p = elem(2, i);
		char text[ADDR_TEXT_MAX], cmd[256];
		double t0;
		pid_t pid;
		int status;

		addr_format(&p, text);
		snprintf(cmd, sizeof(cmd), "add element inet terok_shield allow_v4 { %s }", text);
		t0 = now_us();
		pid = fork();
		if (pid == 0) {
			execlp("nft", "nft", cmd, (char *)NULL);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			fprintf(stderr, "bench-nft-add: nft %s failed\n", cmd);
			return 1;
		}
		t[i] = now_us() - t0;
	}
	report("`nft add element` process (fork to exit)", t, n_nft);

	nft_sock_close(s);
	free(t);
	return 0;
}
