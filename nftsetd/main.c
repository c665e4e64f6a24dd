/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nftsetd: the watcher daemon. Runs in the foreground (systemd or a test
 * supervises it), logs to stderr with sd-daemon priority prefixes, and ends
 * cleanly on SIGTERM/SIGINT: every handle closed, uv_loop_close() returning
 * 0, exit 0. SIGHUP rescans the registry.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "shield/sd-daemon.h"
#include "nftsetd.h"

uint64_t daemon_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void daemon_now(struct shadow_now *n)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	n->wall_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	n->mono_ms = daemon_now_ms();
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: nftsetd [OPTIONS]\n"
		"Watch every shielded container on this host: tail each dnsmasq query log,\n"
		"follow each network namespace's nftables sets and rules, report rotation\n"
		"and drift to events.jsonl and to clients of a Unix socket.\n"
		"\n"
		"  --runtime-dir DIR   the registry's RUNTIME_DIR (default: $SHIELD_RUNTIME_DIR,\n"
		"                      /run/shield for root, $XDG_RUNTIME_DIR/shield otherwise)\n"
		"  --socket PATH       the socket to serve (default RUNTIME_DIR/nftsetd.sock)\n"
		"  --resync SEC        dump every namespace's sets and rules this often (default "
		"%d)\n"
		"  --no-repair         report drift but never re-add missing elements\n"
		"  --log-max BYTES     rotate a dnsmasq.log longer than this (default 8M)\n"
		"  --events-max BYTES  rotate events.jsonl to events.jsonl.1 past this (default "
		"4M)\n"
		"  --netlink-rcvbuf BYTES  receive buffer of each nftables notification socket\n"
		"                      (default 4M; testing and tuning: smaller loses "
		"notifications\n"
		"                      sooner, each loss is a netlink.resync and a full dump)\n"
		"  --metrics-listen ADDR:PORT  also serve the metrics as GET /metrics over HTTP\n"
		"                      (numeric, e.g. 127.0.0.1:9464 or [::1]:9464; port 0 picks\n"
		"                      a free one); a loopback address unless\n"
		"  --metrics-allow-remote  lets ADDR be any address (plain HTTP, no\n"
		"                      authentication: reachable from other hosts)\n"
		"  -v, --verbose       debug messages too\n"
		"  --version           print the version and exit\n"
		"  -h, --help          this text\n"
		"\n"
		"BYTES may end in K, M or G (powers of 1024).\n",
		NFTSETD_DEFAULT_RESYNC_S);
}

/* "8M", "65536", "1G": bytes, at least min. */
static int parse_bytes(const char *opt, const char *s, uint64_t min, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	errno = 0;
	if (*s < '0' || *s > '9')
		goto bad;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		goto bad;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mult = 1024;
		end++;
		break;
	case 'm':
	case 'M':
		mult = 1024 * 1024;
		end++;
		break;
	case 'g':
	case 'G':
		mult = 1024 * 1024 * 1024;
		end++;
		break;
	default:
		goto bad;
	}
	if (*end != '\0' || v > UINT64_MAX / mult || v * mult < min)
		goto bad;
	*out = v * mult;
	return 0;
bad:
	fprintf(stderr,
		"nftsetd: %s: invalid size '%s' (a number of bytes, at least %llu, "
		"optionally ending in K, M or G)\n",
		opt, s, (unsigned long long)min);
	return -EINVAL;
}

/*
 * --metrics-listen: a numeric address, and a loopback one unless
 * --metrics-allow-remote says otherwise: the metrics name every container
 * on the host, so they go beyond it only when the operator asks.
 */
static int parse_metrics_listen(struct daemon_opts *o)
{
	struct shield_error err = {0};
	bool loopback = false;

	if (!o->metrics_listen) {
		if (!o->metrics_remote)
			return 0;
		fprintf(stderr, "nftsetd: --metrics-allow-remote needs --metrics-listen\n");
		return -1;
	}
	if (metrics_listen_parse(o->metrics_listen, &o->metrics_addr, &o->metrics_addr_len,
				 &loopback, &err) < 0) {
		fprintf(stderr, "nftsetd: --metrics-listen: %s\n", err.msg);
		return -1;
	}
	if (!loopback && !o->metrics_remote) {
		fprintf(stderr,
			"nftsetd: --metrics-listen %s: not a loopback address; the metrics name "
			"every shielded container, so add --metrics-allow-remote to serve them "
			"beyond this host\n",
			o->metrics_listen);
		return -1;
	}
	if (loopback)
		o->metrics_remote = false;
	return 0;
}

enum {
	OPT_RUNTIME_DIR = 256,
	OPT_SOCKET,
	OPT_RESYNC,
	OPT_NO_REPAIR,
	OPT_LOG_MAX,
	OPT_EVENTS_MAX,
	OPT_NETLINK_RCVBUF,
	OPT_METRICS_LISTEN,
	OPT_METRICS_REMOTE,
	OPT_VERSION,
};

/* 0 to run, 1 to exit 0 (help, version), -1 to exit 2. */
static int parse_args(int argc, char **argv, struct daemon_opts *o)
{
	static const struct option opts[] = {
		{"runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR},
		{"socket", required_argument, NULL, OPT_SOCKET},
		{"resync", required_argument, NULL, OPT_RESYNC},
		{"no-repair", no_argument, NULL, OPT_NO_REPAIR},
		{"log-max", required_argument, NULL, OPT_LOG_MAX},
		{"events-max", required_argument, NULL, OPT_EVENTS_MAX},
		{"netlink-rcvbuf", required_argument, NULL, OPT_NETLINK_RCVBUF},
		{"metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN},
		{"metrics-allow-remote", no_argument, NULL, OPT_METRICS_REMOTE},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, OPT_VERSION},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_RUNTIME_DIR:
			if (optarg[0] != '/') {
				fprintf(stderr,
					"nftsetd: --runtime-dir must be an absolute path\n");
				return -1;
			}
			o->runtime_dir = optarg;
			break;
		case OPT_SOCKET:
			if (optarg[0] != '/') {
				fprintf(stderr, "nftsetd: --socket must be an absolute path\n");
				return -1;
			}
			o->socket_path = optarg;
			break;
		case OPT_RESYNC: {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || optarg[0] == '-' || v < 1 ||
			    v > 3600) {
				fprintf(stderr,
					"nftsetd: --resync: invalid value '%s' (seconds, 1 to "
					"3600)\n",
					optarg);
				return -1;
			}
			o->resync_s = (unsigned)v;
			break;
		}
		case OPT_NO_REPAIR:
			o->repair = false;
			break;
		case OPT_LOG_MAX:
			/* Below a few blocks a collapse has nothing to cut. */
			if (parse_bytes("--log-max", optarg, 64 * 1024, &o->log_max) < 0)
				return -1;
			break;
		case OPT_EVENTS_MAX:
			if (parse_bytes("--events-max", optarg, 4096, &o->events_max) < 0)
				return -1;
			break;
		case OPT_NETLINK_RCVBUF:
			/* The kernel doubles it and keeps a minimum of its own. */
			if (parse_bytes("--netlink-rcvbuf", optarg, 4096, &o->netlink_rcvbuf) < 0)
				return -1;
			if (o->netlink_rcvbuf > 1024 * 1024 * 1024) {
				fprintf(stderr, "nftsetd: --netlink-rcvbuf: at most 1G\n");
				return -1;
			}
			break;
		case OPT_METRICS_LISTEN:
			o->metrics_listen = optarg;
			break;
		case OPT_METRICS_REMOTE:
			o->metrics_remote = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case OPT_VERSION:
			printf("nftsetd %s\n", SHIELD_VERSION);
			return 1;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "nftsetd: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	return parse_metrics_listen(o);
}

static void close_if_open(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/*
 * Tell systemd (Type=notify; NOTIFY_SOCKET) where we are. READY=1 comes once
 * the socket listens and every entry present at start was attached, so a
 * client started after `systemctl start nftsetd` asks a daemon that knows
 * every container. Without NOTIFY_SOCKET this does nothing.
 */
static void notify(struct daemon *d, const char *state)
{
	struct shield_error err = {0};

	if (sd_notify_send(state, &err) < 0 && !d->notify_failed) {
		d->notify_failed = true; /* said once */
		nlog(LOG_PRIO_WARNING, "cannot notify systemd: %s", err.msg);
	}
}

/* Close everything; the loop ends once the last close callback ran. */
static void daemon_stop(struct daemon *d, const char *why)
{
	if (d->stopping)
		return;
	d->stopping = true;
	notify(d, "STOPPING=1");
	nlog(LOG_PRIO_NOTICE,
	     "stopping (%s): %u containers watched; log tailing waited for a subscriber %llu "
	     "times",
	     why, d->n_containers, (unsigned long long)d->tail_pauses);
	close_if_open((uv_handle_t *)&d->sig_term);
	close_if_open((uv_handle_t *)&d->sig_int);
	close_if_open((uv_handle_t *)&d->sig_hup);
	close_if_open((uv_handle_t *)&d->tick);
	close_if_open((uv_handle_t *)&d->soon);
	if (d->more_open)
		close_if_open((uv_handle_t *)&d->more);
	server_stop(d);
	http_stop(d);
	discovery_stop(d);
	while (d->containers)
		container_detach(d->containers, "nftsetd stopping");
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;

	if (signum == SIGHUP) {
		nlog(LOG_PRIO_INFO, "SIGHUP: rescanning the registry");
		discovery_rescan(d);
		return;
	}
	daemon_stop(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_tick(uv_timer_t *t)
{
	struct daemon *d = t->data;
	struct container *c, *next;

	d->wakeups++;
	for (c = d->containers; c; c = next) {
		next = c->next; /* container_tick may detach c */
		container_tick(c);
	}
	/*
	 * Dumps, reads and reports allocate and free between long-lived
	 * allocations; give the whole free pages in between back, so an idle
	 * daemon's RSS is what its containers hold.
	 */
	malloc_trim(0);
}

/*
 * One turn of reading: a batch of each log that has more, round robin from
 * where the last turn stopped. A subscriber falling behind stops the turn
 * (and the handle, so a paused loop sleeps); it goes on from the same
 * container once the subscriber caught up (daemon_want_more).
 */
static void on_more(uv_idle_t *h)
{
	struct daemon *d = h->data;
	struct container *start = d->more_next ? d->more_next : d->containers, *c = start;
	bool more = false;

	d->more_next = NULL;
	while (c) {
		struct container *next = c->next ? c->next : d->containers;

		if (c->tail.more) {
			if (d->n_blocking > 0) {
				d->more_next = c;
				more = false;
				break;
			}
			more |= tail_read(c);
		}
		if (next == start)
			break;
		c = next;
	}
	if (!more)
		uv_idle_stop(h);
}

static void on_soon(uv_timer_t *t)
{
	struct daemon *d = t->data;
	struct container *c, *next;

	d->soon_armed = false;
	for (c = d->containers; c; c = next) {
		next = c->next;
		if (c->resync_wanted) {
			tail_read(c); /* the answers dnsmasq added are explained first */
			if (!c->detaching)
				kernel_dump(c);
		}
	}
}

void daemon_want_dump(struct daemon *d)
{
	if (d->soon_armed || d->stopping)
		return;
	d->soon_armed = true;
	uv_timer_start(&d->soon, on_soon, NFTSETD_SOON_MS, 0);
}

void daemon_want_more(struct daemon *d)
{
	if (d->more_open && !d->stopping)
		uv_idle_start(&d->more, on_more);
}

/* Many containers hold several fds each: take the hard limit. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			nlog(LOG_PRIO_WARNING, "cannot raise the open file limit: %s",
			     shield_strerror(negative_errno()));
	}
}

static void print_handle(uv_handle_t *h, void *arg)
{
	(void)arg;
	nlog(LOG_PRIO_ERR, "handle still open at exit: %s%s", uv_handle_type_name(h->type),
	     uv_is_closing(h) ? " (closing)" : "");
}

int main(int argc, char **argv)
{
	struct daemon d = {
		.regfd = -1,
		.opt = {.resync_s = NFTSETD_DEFAULT_RESYNC_S,
			.repair = true,
			.log_max = NFTSETD_DEFAULT_LOG_MAX,
			.events_max = NFTSETD_DEFAULT_EVENTS_MAX},
	};
	struct shield_error err = {0};
	uv_loop_t loop;
	int r;

	r = parse_args(argc, argv, &d.opt);
	if (r != 0)
		return r > 0 ? 0 : 2;
	log_setup(d.opt.verbose);
	/* stderr goes to the journal or a test's file: line-buffered is enough. */
	setvbuf(stderr, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	if (d.opt.runtime_dir) {
		if (strlen(d.opt.runtime_dir) >= sizeof(d.runtime_dir)) {
			nlog(LOG_PRIO_ERR, "--runtime-dir: path too long");
			return 1;
		}
		snprintf(d.runtime_dir, sizeof(d.runtime_dir), "%s", d.opt.runtime_dir);
	} else if (registry_runtime_dir(d.runtime_dir, sizeof(d.runtime_dir), &err) < 0) {
		nlog(LOG_PRIO_ERR, "%s", err.msg);
		return 1;
	}
	if (d.opt.socket_path) {
		if (strlen(d.opt.socket_path) >= sizeof(d.socket_path)) {
			nlog(LOG_PRIO_ERR, "--socket: path too long");
			return 1;
		}
		snprintf(d.socket_path, sizeof(d.socket_path), "%s", d.opt.socket_path);
	} else if (snprintf(d.socket_path, sizeof(d.socket_path), "%s/%s", d.runtime_dir,
			    NFTSETD_SOCKET_NAME) >= (int)sizeof(d.socket_path)) {
		nlog(LOG_PRIO_ERR, "socket path too long under %s", d.runtime_dir);
		return 1;
	}

	r = uv_loop_init(&loop);
	if (r < 0) {
		nlog(LOG_PRIO_ERR, "uv_loop_init: %s", uv_strerror(r));
		return 1;
	}
	d.loop = &loop;
	d.started_ms = daemon_now_ms();

	uv_signal_init(&loop, &d.sig_term);
	uv_signal_init(&loop, &d.sig_int);
	uv_signal_init(&loop, &d.sig_hup);
	d.sig_term.data = d.sig_int.data = d.sig_hup.data = &d;
	uv_signal_start(&d.sig_term, on_signal, SIGTERM);
	uv_signal_start(&d.sig_int, on_signal, SIGINT);
	uv_signal_start(&d.sig_hup, on_signal, SIGHUP);
	uv_timer_init(&loop, &d.tick);
	d.tick.data = &d;
	uv_timer_init(&loop, &d.soon);
	d.soon.data = &d;
	uv_idle_init(&loop, &d.more);
	d.more.data = &d;
	d.more_open = true;

	/* The registry first: it makes RUNTIME_DIR, where the socket lives by default. */
	r = discovery_start(&d, &err);
	if (r >= 0)
		r = server_start(&d, &err);
	if (r >= 0)
		r = http_start(&d, &err);
	if (r < 0) {
		nlog(LOG_PRIO_ERR, "%s", err.msg);
		daemon_stop(&d, "start-up failed");
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		return 1;
	}
	discovery_rescan(&d);
	uv_timer_start(&d.tick, on_tick, (uint64_t)d.opt.resync_s * 1000,
		       (uint64_t)d.opt.resync_s * 1000);
	nlog(LOG_PRIO_NOTICE,
	     "nftsetd %s watching %s/containers (%u attached), serving %s, resync %us%s",
	     SHIELD_VERSION, d.runtime_dir, d.n_containers, d.socket_path, d.opt.resync_s,
	     d.opt.repair ? "" : ", no repair");
	{
		char state[PATH_MAX + 64];

		snprintf(state, sizeof(state), "READY=1\nSTATUS=watching %u containers, serving %s",
			 d.n_containers, d.socket_path);
		notify(&d, state);
	}

	uv_run(&loop, UV_RUN_DEFAULT);

	free(d.batch_buf);
	r = uv_loop_close(&loop);
	if (r != 0) {
		/* A handle left open is a bug: say which, and fail, so tests see it. */
		uv_walk(&loop, print_handle, NULL);
		nlog(LOG_PRIO_ERR, "uv_loop_close: %s", uv_strerror(r));
		return 70;
	}
	nlog(LOG_PRIO_INFO, "stopped cleanly");
	log_close();
	return 0;
}
