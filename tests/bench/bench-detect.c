/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-detect: how soon nftsetd reports a change on its socket (benchmark 7,
 * tests/bench/bench-7-detect.sh). Subscribes to nftsetd's socket for one
 * container, then per trial makes the change and waits for the event.
 * Asserts nothing about time; exits 1 when an event does not come within
 * 10 s (a lost event is a failure).
 *
 *   bench-detect drift SOCK NETNS CONTAINER N
 *     N pairs of trials, alternating: `nft add element inet terok_shield
 *     allow_v4 { ADDR }` run in the namespace (fork, setns, exec) until
 *     drift.unexplained for ADDR arrives; then the same add made by this
 *     process through one netlink batch (nft_elems_add). Each element is
 *     deleted again after its event. The commit's time is when this process's
 *     own nf_tables notification socket in the namespace (what nftsetd
 *     listens to as well) receives the change. Prints one line per trial:
 *       nft FORK_TO_EVENT_NS FORK_TO_EXIT_NS COMMIT_TO_EVENT_NS
 *       netlink SEND_TO_EVENT_NS SEND_TO_ACK_NS
 *
 *   bench-detect down SOCK CONTAINER PID
 *     One trial: SIGKILL to PID (the container's dnsmasq) until dnsmasq.down
 *     arrives. Prints: down KILL_TO_EVENT_NS
 */
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>

#include "shield/netns.h"
#include "shield/nft-netlink.h"

#define WAIT_MS 10000

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static _Noreturn void fail(const char *fmt, ...) _printf_(1, 2);
static _Noreturn void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "bench-detect: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* The subscription: a socket and the bytes read past the last line. */
struct sub {
	int fd;
	char buf[128 * 1024];
	size_t len;
};

/* What else to watch while waiting for an event (each fd < 0: not). */
struct also {
	int pidfd; /* a process: *exit_ns = when it exited */
	uint64_t *exit_ns;
	int monfd; /* an nf_tables notification socket: *commit_ns = first message */
	uint64_t *commit_ns;
};

static uint64_t sub_wait(struct sub *s, const char *kind, const char *ip, struct also *also);

static void sub_open(struct sub *s, const char *path, const char *container)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char req[512];
	int n;

	if (strlen(path) >= sizeof(sa.sun_path))
		fail("socket path too long: %s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s->len = 0;
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail("cannot connect to %s", path);
	n = snprintf(req, sizeof(req), "{\"request\":\"subscribe\",\"container\":\"%s\"}\n",
		     container);
	if (n < 0 || (size_t)n >= sizeof(req) || write(s->fd, req, (size_t)n) != n)
		fail("cannot subscribe on %s", path);
	if (!sub_wait(s, NULL, NULL, NULL))
		fail("no answer to the subscription on %s", path);
}

/* Read what a notification socket holds; true if it held anything. */
static bool drain(int fd)
{
	char buf[65536];
	bool any = false;

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		any = true;
	return any;
}

/*
 * Read event lines until one has kind (and ip, unless NULL; kind NULL: the
 * {"subscribed":true} answer); returns the time it was read, or 0 after
 * WAIT_MS. also (may be NULL): note meanwhile when a process exits and when
 * the kernel's first notification arrives.
 */
static uint64_t sub_wait(struct sub *s, const char *kind, const char *ip, struct also *also)
{
	uint64_t deadline = now_ns() + (uint64_t)WAIT_MS * 1000000u;
	int pidfd = also ? also->pidfd : -1, monfd = also ? also->monfd : -1;

	for (;;) {
		char *nl;

		while ((nl = memchr(s->buf, '\n', s->len))) {
			size_t n = (size_t)(nl - s->buf) + 1;
			uint64_t t = now_ns();
			json_t *o = json_loadb(s->buf, n - 1, 0, NULL);
			const char *k = o ? json_string_value(json_object_get(o, "kind")) : NULL;
			const char *i = o ? json_string_value(json_object_get(o, "ip")) : NULL;
			bool hit = kind ? k && strcmp(k, kind) == 0 &&
						   (!ip || (i && strcmp(i, ip) == 0))
					: json_is_true(json_object_get(o, "subscribed"));

			json_decref(o);
			memmove(s->buf, s->buf + n, s->len - n);
			s->len -= n;
			if (hit)
				return t;
		}
		{
			struct pollfd p[3] = {{.fd = s->fd, .events = POLLIN},
					      {.fd = pidfd, .events = POLLIN},
					      {.fd = monfd, .events = POLLIN}};
			uint64_t now = now_ns();
			int r;

			if (now >= deadline)
				return 0;
			r = poll(p, 3, (int)((deadline - now) / 1000000u) + 1);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				fail("poll: %s", strerror(errno));
			if (monfd >= 0 && (p[2].revents & POLLIN)) {
				uint64_t t = now_ns();

				if (drain(monfd) && !*also->commit_ns)
					*also->commit_ns = t;
			}
			if (pidfd >= 0 && (p[1].revents & POLLIN)) {
				*also->exit_ns = now_ns();
				pidfd = -1;
			}
			if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
				ssize_t got;

				if (s->len == sizeof(s->buf))
					fail("%s", "an event line longer than the buffer");
				got = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
				if (got <= 0)
					fail("%s", "nftsetd closed the subscription");
				s->len += (size_t)got;
			}
		}
	}
}

/* In the namespace: a socket that receives every nf_tables change made there. */
static int open_monitor(void *arg, struct shield_error *err)
{
	struct mnl_socket **out = arg;
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	int group = NFNLGRP_NFTABLES;

	if (!nl)
		return shield_error_set(err, -errno, "netlink socket: %s", strerror(errno));
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(nl, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
		int r = -errno;

		mnl_socket_close(nl);
		return shield_error_set(err, r, "nf_tables notifications: %s", strerror(-r));
	}
	*out = nl;
	return 0;
}

static struct addr_prefix host4(int a, int b, int c, int d)
{
	struct addr_prefix p = {.family = AF_INET, .plen = 32};

	p.addr[0] = (uint8_t)a;
	p.addr[1] = (uint8_t)b;
	p.addr[2] = (uint8_t)c;
	p.addr[3] = (uint8_t)d;
	return p;
}

static int drift(const char *sock, const char *netns, const char *container, int n)
{
	struct shield_error err = {0};
	struct nft_sock *nft = NULL;
	struct mnl_socket *mon = NULL;
	struct sub sub;
	int nsfd, monfd;

	nsfd = netns_open(netns, &err);
	if (nsfd < 0 || nft_sock_open_in(nsfd, &nft, &err) < 0 ||
	    netns_call(nsfd, open_monitor, &mon, &err) < 0)
		fail("%s", err.msg);
	monfd = mnl_socket_get_fd(mon);
	sub_open(&sub, sock, container);
	for (int i = 0; i < n; i++) {
		struct addr_prefix a = host4(203, 0, 113, 1 + i % 250), b;
		char ip[ADDR_TEXT_MAX], cmd[128];
		uint64_t t0, t_ev, t_exit = 0, t_ack, t_commit = 0;
		struct also also = {.exit_ns = &t_exit, .monfd = monfd, .commit_ns = &t_commit};
		int status;
		pid_t pid;

		addr_format(&a, ip);
		snprintf(cmd, sizeof(cmd), "add element inet terok_shield allow_v4 { %s }", ip);
		drain(monfd); /* the last trial's delete */
		t0 = now_ns();
		pid = fork();
		if (pid < 0)
			fail("fork: %s", strerror(errno));
		if (pid == 0) {
			if (setns(nsfd, CLONE_NEWNET) < 0)
				_exit(126);
			execlp("nft", "nft", cmd, (char *)NULL);
			_exit(127);
		}
		also.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		t_ev = sub_wait(&sub, "drift.unexplained", ip, &also);
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail("nft %s failed", cmd);
		if (!t_exit)
			t_exit = now_ns();
		if (also.pidfd >= 0)
			close(also.pidfd);
		if (!t_ev)
			fail("no drift.unexplained for %s within 10 s", ip);
		if (!t_commit)
			t_commit = t_ev; /* read together: no gap seen */
		printf("nft %llu %llu %llu\n", (unsigned long long)(t_ev - t0),
		       (unsigned long long)(t_exit - t0), (unsigned long long)(t_ev - t_commit));
		if (nft_elems_delete(nft, NFT_SET_ALLOW_V4, &a, 1, &err) < 0)
			fail("%s", err.msg);

		b = host4(198, 51, 100, 1 + i % 250);
		addr_format(&b, ip);
		t0 = now_ns();
		if (nft_elems_add(nft, NFT_SET_ALLOW_V4, &b, 1, NFT_TIMEOUT_SET_DEFAULT, &err) < 0)
			fail("%s", err.msg);
		t_ack = now_ns();
		t_ev = sub_wait(&sub, "drift.unexplained", ip, NULL);
		if (!t_ev)
			fail("no drift.unexplained for %s within 10 s", ip);
		printf("netlink %llu %llu\n", (unsigned long long)(t_ev - t0),
		       (unsigned long long)(t_ack - t0));
		if (nft_elems_delete(nft, NFT_SET_ALLOW_V4, &b, 1, &err) < 0)
			fail("%s", err.msg);
		fflush(stdout);
	}
	nft_sock_close(nft);
	mnl_socket_close(mon);
	close(nsfd);
	close(sub.fd);
	return 0;
}

static int down(const char *sock, const char *container, const char *pid_text)
{
	char *end;
	long pid = strtol(pid_text, &end, 10);
	struct sub sub;
	uint64_t t0, t_ev;

	if (*end || pid <= 1)
		fail("not a pid: %s", pid_text);
	sub_open(&sub, sock, container);
	t0 = now_ns();
	if (kill((pid_t)pid, SIGKILL) < 0)
		fail("kill: %s", strerror(errno));
	t_ev = sub_wait(&sub, "dnsmasq.down", NULL, NULL);
	if (!t_ev)
		fail("no dnsmasq.down within 10 s after killing %s", pid_text);
	printf("down %llu\n", (unsigned long long)(t_ev - t0));
	close(sub.fd);
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 6 && strcmp(argv[1], "drift") == 0) {
		char *end;
		long n = strtol(argv[5], &end, 10);

		if (*end || n < 1 || n > 250)
			fail("N must be 1..250, not %s", argv[5]);
		return drift(argv[2], argv[3], argv[4], (int)n);
	}
	if (argc == 5 && strcmp(argv[1], "down") == 0)
		return down(argv[2], argv[3], argv[4]);
	fprintf(stderr, "Usage: bench-detect drift SOCK NETNS CONTAINER N | "
			"bench-detect down SOCK CONTAINER PID\n");
	return 2;
}
