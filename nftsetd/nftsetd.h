/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nftsetd: one libuv loop for every shielded network namespace on the host
 * (DESIGN.md "Watching"). This header ties the daemon's modules together:
 * the daemon (main.c), discovery of registry entries (discovery.c), one
 * watched container (container.c), its log tail (tail.c), its kernel view
 * (kernel.c), the events it emits (events.c) and the socket server
 * (server.c). Everything runs on the loop's thread; nothing here is shared
 * with another thread.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include <jansson.h>

#include "shield/dnsmasq-log.h"
#include "shield/error.h"
#include "shield/log-cursor.h"
#include "shield/audit-log.h"
#include "shield/metrics.h"
#include "shield/shadow.h"
#include "shield/registry.h"

#define NFTSETD_DEFAULT_RESYNC_S   5
#define NFTSETD_DEFAULT_LOG_MAX	   (8ull * 1024 * 1024)
#define NFTSETD_DEFAULT_EVENTS_MAX (4ull * 1024 * 1024)
#define NFTSETD_SOCKET_NAME	   "nftsetd.sock"
#define NFTSETD_CURSOR_FILE	   "nftsetd.cursor"
#define NFTSETD_EVENTS_FILE	   "events.jsonl"
#define NFTSETD_EVENTS_OLD	   "events.jsonl.1"
#define NFTSETD_LOG_FILE	   "dnsmasq.log"
#define NFTSETD_CLIENTS_MAX	   64
#define NFTSETD_CLIENT_BACKLOG_MAX (1024 * 1024) /* bytes a subscriber may fall behind */
#define NFTSETD_CLIENT_HIGH_WATER  (256 * 1024)	 /* queued to a subscriber: log tailing waits */
#define NFTSETD_CLIENT_LOW_WATER   (64 * 1024)	 /* ... and goes on once it is down to this */
#define NFTSETD_CLIENT_STALL_MS	   10000       /* a subscriber holding tailing this long: dropped */
#define NFTSETD_REQUEST_MAX	   (64 * 1024) /* bytes of one request line */
#define NFTSETD_REQUEST_TIMEOUT_MS 10000       /* a client must ask within this */
#define NFTSETD_READ_CHUNK	   (64 * 1024) /* one read of a query log */
#define NFTSETD_BATCH_MAX	   (64 * 1024) /* log bytes per container per loop turn */
#define NFTSETD_CURSOR_INTERVAL_MS 1000	       /* a busy log's cursor is saved this often */
#define NFTSETD_SOON_MS		   100	       /* a rule change is judged this much later */
#define NFTSETD_METRICS_MAX	   (64 * 1024 * 1024) /* bytes of one metrics answer */
#define NFTSETD_AUDIT_READ_MAX	   (4 * 1024 * 1024) /* audit.jsonl bytes per container per scrape */
#define NFTSETD_HTTP_HEADER_MAX	   8192		     /* bytes of an HTTP request's header */
#define NFTSETD_HTTP_TIMEOUT_MS	   10000 /* an HTTP client must ask (and then read) within this */
#define NFTSETD_HTTP_CONNS_MAX	   16	 /* HTTP connections at once; more are closed at once */

/* Log priorities, as syslog and sd-daemon number them. */
enum {
	LOG_PRIO_ERR = 3,
	LOG_PRIO_WARNING = 4,
	LOG_PRIO_NOTICE = 5,
	LOG_PRIO_INFO = 6,
	LOG_PRIO_DEBUG = 7,
};

struct container;

/* Structured fields of a log entry, for the journal (log.c); NULL members are left out. */
struct nlog_fields {
	const struct container *c; /* SHIELD_CONTAINER, SHIELD_CONTAINER_ID, SHIELD_STATE_DIR */
	const char *kind;	   /* SHIELD_EVENT_KIND */
	const char *domain;	   /* SHIELD_DOMAIN */
	const char *ip;		   /* SHIELD_IP */
	const char *set;	   /* SHIELD_SET */
};

/*
 * Log one message (log.c): under systemd, when stderr is the journal
 * stream, one entry in the journal's native protocol with PRIORITY,
 * MESSAGE, SYSLOG_IDENTIFIER, CODE_FILE/LINE/FUNC and f's fields; else (or
 * when the journal refuses it) one line on stderr, "<N>message", as
 * systemd's journal and sd-daemon(3) read it.
 */
void nlog_at(const char *file, int line, const char *func, int prio, const struct nlog_fields *f,
	     const char *fmt, ...) _printf_(6, 7);
#define nlog(prio, ...)	     nlog_at(__FILE__, __LINE__, __func__, prio, NULL, __VA_ARGS__)
#define nlog_f(prio, f, ...) nlog_at(__FILE__, __LINE__, __func__, prio, f, __VA_ARGS__)
/* A message about container c: "LABEL: ..." with its fields. */
#define nlog_c(c, prio, fmt, ...)                                                                  \
	nlog_at(__FILE__, __LINE__, __func__, prio, &(const struct nlog_fields){.c = (c)},         \
		"%s: " fmt, container_label(c), ##__VA_ARGS__)
/* Before the first message: the level, and whether to write to the journal. */
void log_setup(bool verbose);
/* After the last one: close the journal socket. */
void log_close(void);
struct client;

struct daemon_opts {
	const char *runtime_dir; /* NULL: registry_runtime_dir() */
	const char *socket_path; /* NULL: RUNTIME_DIR/nftsetd.sock */
	unsigned resync_s;
	bool repair;
	uint64_t log_max;
	uint64_t events_max;
	uint64_t netlink_rcvbuf; /* notification socket receive buffer, 0: the monitor's default */
	bool verbose;
	/* --metrics-listen: serve GET /metrics there (metrics_listen NULL: no TCP at all). */
	const char *metrics_listen;
	struct sockaddr_storage metrics_addr;
	socklen_t metrics_addr_len;
	bool metrics_remote; /* --metrics-allow-remote: a non-loopback address was allowed */
};

struct daemon {
	uv_loop_t *loop;
	struct daemon_opts opt;
	char runtime_dir[PATH_MAX];
	char socket_path[PATH_MAX];

	/* Discovery: RUNTIME_DIR/containers. */
	int regfd;
	uv_fs_event_t reg_watch;
	bool reg_watch_open;

	/* Signals and the one timer every container shares. */
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t tick;
	/* Dumps asked for by notifications, coalesced. */
	uv_timer_t soon;
	bool soon_armed;
	/* Runs while some log has more to read than one turn takes. */
	uv_idle_t more;
	bool more_open;
	struct container *more_next; /* where the next turn goes on reading (round robin) */

	/* The socket server. */
	uv_pipe_t server;
	bool server_open;
	bool server_bound; /* the path is ours to remove */
	struct client *clients;
	unsigned n_clients;
	/*
	 * Subscribers with more than NFTSETD_CLIENT_HIGH_WATER bytes queued
	 * (until they are down to NFTSETD_CLIENT_LOW_WATER): while there is
	 * one, no log is read (the lines wait on disk, the cursor holds the
	 * place), so a burst never queues more than a batch beyond the mark.
	 */
	unsigned n_blocking;
	uint64_t tail_pauses; /* times tailing waited for a subscriber */

	struct container *containers;
	unsigned n_containers;

	/* Metrics over HTTP (http.c), when --metrics-listen is given. */
	uv_tcp_t http;
	bool http_open;
	struct http_conn *http_conns;
	unsigned n_http;
	uint64_t scrapes; /* metrics answers rendered, socket and HTTP */

	/* The batch of log lines being read (events.c). */
	struct container *batch;
	char *batch_buf;
	size_t batch_len, batch_cap;
	uint64_t batch_offset_before, batch_lines_before;

	uint64_t event_seq; /* event ids, shared by every shadow */
	bool stopping;
	bool notify_failed; /* sd_notify failed once: said so, not again */
	uint64_t wakeups;   /* tick callbacks, for the idle-cost check */
	uint64_t started_ms;
};

/* ---- containers (container.c, tail.c, kernel.c) ---- */

/* Where the query log is read (tail.c). */
struct tail {
	int fd; /* the file dnsmasq writes, -1 when there is none */
	uint64_t dev, ino;
	struct dnsmasq_log_split split; /* split.consumed is the cursor's offset */
	uint64_t lines;			/* lines consumed since the cursor began (persisted) */
	uint64_t gaps;			/* log.gap events raised by the tail */
	uint64_t rotations;		/* times nftsetd cut the log to --log-max */
	uint64_t bytes_read;		/* bytes read from the log by this nftsetd */
	uint64_t saved_offset;		/* what the cursor file says now (UINT64_MAX: unknown) */
	struct log_cursor saved;
	uint64_t saved_ms;
	bool more;	  /* the last read stopped at the batch limit, or waited for a subscriber */
	bool warned_path; /* said once that the path is not dnsmasq's file */
	uv_fs_event_t watch;
	bool watch_init; /* the handle exists (counted in c->handles) */
	bool watch_active;
};

struct nft_sock;
struct nft_monitor;

/* A uv_poll_t on an fd of a container (its own allocation, freed when closed). */
struct fdwatch {
	uv_poll_t poll;
	struct container *c;
	int fd;
	bool own_fd; /* closed with the watch */
};

/* Watch fd for readability; the watch counts in c->handles. NULL on failure. */
struct fdwatch *fdwatch_new(struct container *c, int fd, bool own_fd, uv_poll_cb cb);
/* Close (NULL is fine). */
void fdwatch_close(struct fdwatch *w);

/* What nftsetd keeps of a registry entry: its paths on the heap, not in PATH_MAX arrays. */
struct watched_entry {
	char id[OCI_ID_MAX + 1];
	char name[128];
	char source[16];
	char *state_dir;
	char *netns;
	uint64_t netns_dev, netns_ino;
	pid_t pid, dnsmasq_pid;
};

struct container {
	struct container *next, *prev;
	struct daemon *d;
	struct watched_entry e;
	int dirfd;	     /* the bundle */
	int nsfd;	     /* the network namespace */
	uint64_t bundle_sig; /* identity of the bundle files the config came from */

	/* dnsmasq liveness: a pidfd, readable once the process exited. */
	struct fdwatch *pidw;
	bool dnsmasq_alive;

	/* Kernel view (kernel.c). */
	struct nft_sock *nft;
	struct nft_monitor *mon;
	struct fdwatch *monw;
	bool mon_broken;    /* open it again on the timer */
	bool resync_wanted; /* dump soon (a rule changed, notifications partial) */
	bool has_rule_writer;
	struct shadow_writer rule_writer; /* who last changed a rule, chain or table */
	uint64_t dumps, losses;

	struct shadow *shadow;
	struct tail tail;

	/* Metrics (metrics.c): repairs done, and the hook times read from audit.jsonl. */
	uint64_t repairs;
	struct audit_follow {
		uint64_t dev, ino, offset; /* the file, and the end of its last whole line read */
		bool skipping;		   /* in a line longer than a read: up to its end */
		struct metrics_hist hook;  /* seconds of each "setup" entry */
	} audit;

	unsigned handles; /* open handles; the last close callback frees c */
	bool detaching;
};

/*
 * Attach to a registry entry (open its bundle, namespace, sockets, log and
 * dnsmasq pidfd); the container is linked into d->containers. An entry
 * whose namespace is gone is refused (-ESRCH) and err says why.
 */
int container_attach(struct daemon *d, const struct registry_entry *e, struct shield_error *err);

/* Close callback of every handle a container owns (h->data is the container). */
void container_handle_closed(uv_handle_t *h);

/* Stop watching: every handle is closed, the memory goes in the last close callback. */
void container_detach(struct container *c, const char *why);

/* An entry changed (e.g. dnsmasq restarted): take the new values. */
void container_update(struct container *c, const struct registry_entry *e);

struct container *container_find_id(struct daemon *d, const char *id);

/* Whether c is the one a client named: its name, id or state_dir. */
bool container_matches(const struct container *c, const char *what);

/* The global timer's work for one container: resync, expiry, liveness. */
void container_tick(struct container *c);

/* The container's report object (a new reference). */
json_t *container_report(struct container *c);

/* The name events carry: the container's name, else its id. */
const char *container_label(const struct container *c);

/* Emit an event nftsetd itself raises (watch.attached, dnsmasq.down, log.gap, ...). */
void container_event(struct container *c, const char *kind, const char *detail);

/* ---- the query log (tail.c) ---- */

/* Open the log and the cursor at attach; never fails the attach. */
void tail_open(struct container *c);
/*
 * Read what the log holds beyond the cursor, at most one batch; true if
 * more is left. While a subscriber is behind (d->n_blocking) nothing is
 * read: the container is marked to be read when the loop goes on.
 */
bool tail_read(struct container *c);
/* Read the log to its end now, even while a subscriber is behind (the order of lines matters). */
void tail_drain(struct container *c);
/* Look at the path again: rotated, deleted, replaced, too long. */
void tail_check(struct container *c);
/* Persist the cursor if it moved. */
void tail_save(struct container *c, bool force);
/* Close the watch handle (counted in c->handles) and the fd. */
void tail_close(struct container *c);

/* ---- discovery (discovery.c) ---- */

int discovery_start(struct daemon *d, struct shield_error *err);
/* Read every entry: attach new ones, update changed ones, detach vanished ones. */
void discovery_rescan(struct daemon *d);
void discovery_stop(struct daemon *d);

/* ---- events (events.c) ---- */

/*
 * Consume what one shadow call produced: every event is encoded and written
 * to events.jsonl and the subscribers (or held while a batch of log lines
 * is read), every repair is performed (a failed one is told to the shadow,
 * whose event follows). The output is reset for reuse.
 */
void container_output(struct container *c, struct shadow_output *out);

/* The events of the log lines read from here on are held back... */
void events_batch_begin(struct container *c, uint64_t offset_before, uint64_t lines_before);
/*
 * ...and written here: first the cursor, naming where they will land in
 * events.jsonl, then events.jsonl, then the subscribers. After a crash,
 * tail_open finds out from the cursor whether they landed and reads the
 * batch again if not, so each line's events are written exactly once.
 */
void events_batch_end(struct container *c);

/* Write the cursor at the tail's position; with a batch's mark (may be NULL). */
int tail_save_mark(struct container *c, const struct log_cursor_batch *m);

/* ---- server (server.c) ---- */

int server_start(struct daemon *d, struct shield_error *err);
void server_stop(struct daemon *d);
/* Send an event line to every subscriber that wants c. */
void server_broadcast(struct daemon *d, const struct container *c, const char *line, size_t len);

/* Subscribers connected now. */
unsigned server_subscribers(const struct daemon *d);

/* ---- metrics (metrics.c, http.c) ---- */

/*
 * Render every metric into b (reading each bundle's audit.jsonl on from
 * where the last scrape stopped): 0, or b->error (-ENOMEM, -E2BIG).
 */
int metrics_render(struct daemon *d, struct metrics_buf *b);
/* Listen on --metrics-listen (nothing when it is not given). */
int http_start(struct daemon *d, struct shield_error *err);
void http_stop(struct daemon *d);

/* ---- kernel view (kernel.c) ---- */

/* Open the notification and command sockets in the container's netns. */
int kernel_open(struct container *c, struct shield_error *err);
/* Dump the table and hand it to the shadow. */
void kernel_dump(struct container *c);
/* The timer's look: reopen a broken notification socket. */
void kernel_check(struct container *c);
void kernel_close(struct container *c);

/* ---- daemon (main.c) ---- */

/* Ask the loop to read more log later (a batch was cut short, or tailing goes on). */
void daemon_want_more(struct daemon *d);
/* Ask for the dumps of containers with resync_wanted, soon (coalesced). */
void daemon_want_dump(struct daemon *d);
uint64_t daemon_now_ms(void);
/* Both clocks, for the shadow. */
void daemon_now(struct shadow_now *n);
