/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the C helpers of tests/bench share: the clock, a private network
 * namespace, numbers written one per line for lib-bench.sh, and timed
 * child processes (nft) with their output kept. A helper measures and
 * writes raw numbers; the bench-N-NAME.sh script that drives it makes the
 * statistics and the Markdown.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shield/addr.h"
#include "shield/macro.h"

/* The host address 198.18.0.0 + off (the benchmarks' "public" test range). */
static inline struct addr_prefix bench_addr_v4(uint32_t off)
{
	uint32_t v = (198u << 24 | 18u << 16) + off;
	struct addr_prefix p = {.family = AF_INET, .plen = 32};

	p.addr[0] = (uint8_t)(v >> 24);
	p.addr[1] = (uint8_t)(v >> 16);
	p.addr[2] = (uint8_t)(v >> 8);
	p.addr[3] = (uint8_t)v;
	return p;
}

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Print "PROG: message" and exit 1 (a functional failure of the benchmark). */
_printf_(1, 2) static inline _Noreturn void bench_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Enter a network namespace of our own (nft children inherit it); 77 = cannot. */
static inline void bench_private_netns(void)
{
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "%s: unshare(CLONE_NEWNET): %s (run as root)\n",
			program_invocation_short_name, strerror(errno));
		exit(77);
	}
}

/* Open DIR/NAME for the numbers of one variant (truncated). */
static inline FILE *bench_out(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f)
		bench_fail("%s: %s", path, strerror(errno));
	return f;
}

static inline void bench_put(FILE *f, uint64_t ns)
{
	if (fprintf(f, "%llu\n", (unsigned long long)ns) < 0 || fflush(f) != 0)
		bench_fail("writing a result: %s", strerror(errno));
}

/* Output of a child (stdout), grown as it comes. */
struct bench_buf {
	char *data;
	size_t len, cap;
};

/*
 * Run argv (no shell) to its exit; its stdout goes to out (NULL: to
 * /dev/null), its stderr is inherited. Returns the time from before fork
 * to after its exit in ns; a child that fails is a failure of the run.
 */
static inline uint64_t bench_run(char *const argv[], struct bench_buf *out)
{
	int pipefd[2] = {-1, -1}, status;
	uint64_t t0 = bench_now_ns();
	pid_t pid;

	if (out) {
		out->len = 0;
		if (pipe2(pipefd, O_CLOEXEC) < 0)
			bench_fail("pipe: %s", strerror(errno));
	}
	pid = fork();
	if (pid < 0)
		bench_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = out ? pipefd[1] : open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (out) {
		close(pipefd[1]);
		for (;;) {
			ssize_t n;

			if (out->cap - out->len < 65536) {
				out->cap = out->cap ? out->cap * 2 : 1 << 20;
				out->data = realloc(out->data, out->cap);
				if (!out->data)
					bench_fail("out of memory");
			}
			n = read(pipefd[0], out->data + out->len, out->cap - out->len - 1);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				bench_fail("reading %s's output: %s", argv[0], strerror(errno));
			if (n == 0)
				break;
			out->len += (size_t)n;
		}
		out->data[out->len] = '\0';
		close(pipefd[0]);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			bench_fail("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "%s: failed:", program_invocation_short_name);
		for (int i = 0; argv[i]; i++)
			fprintf(stderr, " %s", argv[i]);
		fputc('\n', stderr);
		exit(1);
	}
	return bench_now_ns() - t0;
}

/* A positive count from the command line, or exit 2. */
static inline size_t bench_count(const char *what, const char *text, size_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || end == text || *end || v == 0 || v > max) {
		fprintf(stderr, "%s: %s must be a number from 1 to %zu, not '%s'\n",
			program_invocation_short_name, what, max, text);
		exit(2);
	}
	return (size_t)v;
}

#ifdef BENCH_WRAP_NETLINK
#include <dlfcn.h>
#include <stdbool.h>
#include <sys/socket.h>

/*
 * The kernel does a netlink request's work inside the calls that carry it:
 * a transaction inside the sendto(2) that hands it the batch
 * (nfnetlink_rcv_batch, synchronously, in the sender's context), a dump's
 * parts inside the recvmsg(2) that reads the one before. A helper that
 * defines BENCH_WRAP_NETLINK wraps this process's sendto and recvmsg
 * (libshield's and libmnl's calls bind to them) and adds up the time spent
 * in them while bench_kernel_count is set: the kernel's share of what it
 * times (and the copies to and from it).
 */
static bool bench_kernel_count;
static uint64_t bench_kernel_ns;

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
	       socklen_t addrlen)
{
	static ssize_t (*real)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	uint64_t t0;
	ssize_t r;

	if (!real) {
		*(void **)&real = dlsym(RTLD_NEXT, "sendto");
		if (!real)
			bench_fail("dlsym(sendto): %s", dlerror());
	}
	t0 = bench_now_ns();
	r = real(fd, buf, len, flags, addr, addrlen);
	if (bench_kernel_count)
		bench_kernel_ns += bench_now_ns() - t0;
	return r;
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	static ssize_t (*real)(int, struct msghdr *, int);
	uint64_t t0;
	ssize_t r;

	if (!real) {
		*(void **)&real = dlsym(RTLD_NEXT, "recvmsg");
		if (!real)
			bench_fail("dlsym(recvmsg): %s", dlerror());
	}
	t0 = bench_now_ns();
	r = real(fd, msg, flags);
	if (bench_kernel_count)
		bench_kernel_ns += bench_now_ns() - t0;
	return r;
}
#endif
