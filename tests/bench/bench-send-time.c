/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-send-time.so, preloaded into a process (LD_PRELOAD) by a benchmark:
 * adds up the time the process spends in sendto(2), sendmsg(2) and
 * recvmsg(2) and, at its exit, appends it in nanoseconds as one line to
 * the file named by BENCH_SEND_OUT. The kernel runs a netlink transaction
 * inside the send that carries the batch, so for `nft -f` this is the
 * kernel's share of its commit (with its cache reads), measured as
 * bench-commit measures ours (bench-util.h).
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t total_ns;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
	       socklen_t addrlen)
{
	static ssize_t (*real)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	uint64_t t0 = now_ns();
	ssize_t r;

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "sendto");
	r = real(fd, buf, len, flags, addr, addrlen);
	total_ns += now_ns() - t0;
	return r;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	static ssize_t (*real)(int, const struct msghdr *, int);
	uint64_t t0 = now_ns();
	ssize_t r;

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "sendmsg");
	r = real(fd, msg, flags);
	total_ns += now_ns() - t0;
	return r;
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	static ssize_t (*real)(int, struct msghdr *, int);
	uint64_t t0 = now_ns();
	ssize_t r;

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "recvmsg");
	r = real(fd, msg, flags);
	total_ns += now_ns() - t0;
	return r;
}

__attribute__((destructor)) static void bench_send_time_report(void)
{
	const char *path = getenv("BENCH_SEND_OUT");
	int fd;

	if (!path)
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	dprintf(fd, "%llu\n", (unsigned long long)total_ns);
	close(fd);
}
