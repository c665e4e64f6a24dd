/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Unix socket server (protocol v1, BRIEF "nftsetd socket protocol"): a
 * client sends one JSON request line and gets either one report line, or a
 * stream of event lines after {"subscribed":true}. Requests are capped at
 * NFTSETD_REQUEST_MAX bytes, clients at NFTSETD_CLIENTS_MAX.
 *
 * Subscribers get backpressure, not a limit that a burst trips: once one
 * has NFTSETD_CLIENT_HIGH_WATER bytes queued, log tailing waits (the lines
 * stay in the logs, tail.c) until it is down to NFTSETD_CLIENT_LOW_WATER,
 * so a subscriber that reads receives every event however large the
 * burst. One that holds tailing for NFTSETD_CLIENT_STALL_MS is dropped, so
 * it cannot stall the daemon; NFTSETD_CLIENT_BACKLOG_MAX still bounds what
 * events from elsewhere (the kernel, the timer) may queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "shield/audit.h"
#include "nftsetd.h"

struct client {
	struct client *next, *prev;
	struct daemon *d;
	uv_pipe_t pipe;
	uv_timer_t timer; /* the request must arrive within NFTSETD_REQUEST_TIMEOUT_MS */
	unsigned handles; /* pipe and timer; the last close frees the client */
	char *req;	  /* request bytes so far (no newline yet) */
	size_t req_len;
	bool answered; /* a request was handled: later input is ignored */
	bool subscribed;
	bool blocking; /* above the high-water mark: counted in d->n_blocking, timer running */
	char *filter;  /* subscribe: the container named, or NULL for all */
	bool closing;
	uint64_t id;
};

/* One buffer for every read: the loop runs one callback at a time. */
static char read_buf[NFTSETD_READ_CHUNK];

struct write_req {
	uv_write_t req;
	size_t len;
	char data[];
};

static void client_closed(uv_handle_t *h)
{
	struct client *cl = h->data;

	if (--cl->handles > 0)
		return;
	free(cl->req);
	free(cl->filter);
	free(cl);
}

static void client_unblock(struct client *cl)
{
	struct daemon *d = cl->d;

	if (!cl->blocking)
		return;
	cl->blocking = false;
	uv_timer_stop(&cl->timer);
	if (--d->n_blocking == 0) {
		nlog(LOG_PRIO_DEBUG, "client %llu caught up: log tailing goes on",
		     (unsigned long long)cl->id);
		daemon_want_more(d);
	}
}

static void client_close(struct client *cl, const char *why)
{
	struct daemon *d = cl->d;

	if (cl->closing)
		return;
	client_unblock(cl);
	cl->closing = true;
	if (why)
		nlog(LOG_PRIO_INFO, "client %llu: %s", (unsigned long long)cl->id, why);
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		d->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	d->n_clients--;
	uv_close((uv_handle_t *)&cl->timer, client_closed);
	uv_close((uv_handle_t *)&cl->pipe, client_closed);
}

static size_t queued(struct client *cl)
{
	return uv_stream_get_write_queue_size((uv_stream_t *)&cl->pipe);
}

static void on_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct client *cl = req->handle->data;

	free(w);
	if (status < 0 && status != UV_ECANCELED)
		client_close(cl, "write failed, client gone");
	else if (cl->blocking && !cl->closing && queued(cl) <= NFTSETD_CLIENT_LOW_WATER)
		client_unblock(cl);
}

static void on_stalled(uv_timer_t *t)
{
	struct client *cl = t->data;
	char msg[160];

	snprintf(msg, sizeof(msg),
		 "subscriber read too little for %d s (%zu bytes queued, log tailing waiting "
		 "for it), dropped",
		 NFTSETD_CLIENT_STALL_MS / 1000, queued(cl));
	nlog(LOG_PRIO_WARNING, "client %llu: %s", (unsigned long long)cl->id, msg);
	client_close(cl, NULL);
}

/* A subscriber's queue passed the high-water mark: tailing waits for it, for a while. */
static void client_block(struct client *cl)
{
	struct daemon *d = cl->d;

	cl->blocking = true;
	if (d->n_blocking++ == 0) {
		d->tail_pauses++;
		nlog(LOG_PRIO_DEBUG, "client %llu has %zu bytes queued: log tailing waits",
		     (unsigned long long)cl->id, queued(cl));
	}
	uv_timer_start(&cl->timer, on_stalled, NFTSETD_CLIENT_STALL_MS, 0);
}

/* Queue line + '\n'; false if the client was closed. */
static bool client_send(struct client *cl, const char *line, size_t len)
{
	struct write_req *w;
	uv_buf_t buf;
	int r;

	if (cl->closing)
		return false;
	w = malloc(sizeof(*w) + len + 1);
	if (!w) {
		client_close(cl, "out of memory");
		return false;
	}
	memcpy(w->data, line, len);
	w->data[len] = '\n';
	w->len = len + 1;
	buf = uv_buf_init(w->data, (unsigned)w->len);
	r = uv_write(&w->req, (uv_stream_t *)&cl->pipe, &buf, 1, on_written);
	if (r < 0) {
		free(w);
		client_close(cl, "write failed, client gone");
		return false;
	}
	return true;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct client *cl = req->handle->data;

	(void)status;
	free(req);
	client_close(cl, NULL);
}

static void on_answer_timeout(uv_timer_t *t)
{
	struct client *cl = t->data;

	client_close(cl, "did not read its answer within 10 seconds");
}

/* Send one line and end the conversation once it is out. */
static void client_answer_close(struct client *cl, const char *line, size_t len)
{
	uv_shutdown_t *req;

	cl->answered = true;
	if (!client_send(cl, line, len))
		return;
	/* A client that never reads its answer must not keep its slot. */
	uv_timer_start(&cl->timer, on_answer_timeout, NFTSETD_REQUEST_TIMEOUT_MS, 0);
	req = malloc(sizeof(*req));
	if (!req || uv_shutdown(req, (uv_stream_t *)&cl->pipe, on_shutdown) < 0) {
		free(req);
		client_close(cl, NULL);
	}
}

static void client_error(struct client *cl, const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

	if (text)
		client_answer_close(cl, text, strlen(text));
	else
		client_close(cl, "out of memory");
	free(text);
	json_decref(o);
}

static void send_report(struct client *cl, const char *what)
{
	struct daemon *d = cl->d;
	char ts[TIMESTAMP_MAX];
	json_t *o, *arr;
	char *text;
	bool found = false;

	arr = json_array();
	o = json_pack("{s:i, s:s, s:o}", "version", 1, "generated", shield_timestamp(ts),
		      "containers", arr);
	if (!o) {
		client_close(cl, "out of memory");
		return;
	}
	for (struct container *c = d->containers; c; c = c->next) {
		json_t *cr;

		if (what && !container_matches(c, what))
			continue;
		found = true;
		cr = container_report(c);
		if (cr)
			json_array_append_new(arr, cr);
	}
	if (what && !found) {
		char msg[PATH_MAX + 64];

		json_decref(o);
		snprintf(msg, sizeof(msg), "no watched container is named \"%s\"", what);
		client_error(cl, msg);
		return;
	}
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!text) {
		client_close(cl, "out of memory");
		return;
	}
	client_answer_close(cl, text, strlen(text));
	free(text);
}

/*
 * The metrics in the text format, then close. The text is not one line: the
 * client reads to the end of the stream (an error is one JSON line, "{...").
 */
static void send_metrics(struct client *cl)
{
	struct metrics_buf b;

	metrics_buf_init(&b, NFTSETD_METRICS_MAX);
	if (metrics_render(cl->d, &b) < 0 || b.len == 0) {
		nlog(LOG_PRIO_ERR, "metrics: %s", shield_strerror(b.error ? b.error : -ENOMEM));
		client_error(cl,
			     b.error == -E2BIG ? "metrics larger than 64 MiB" : "out of memory");
	} else {
		/* client_send ends the data with a newline: the text's own. */
		client_answer_close(cl, b.data, b.len - 1);
	}
	metrics_buf_free(&b);
}

unsigned server_subscribers(const struct daemon *d)
{
	unsigned n = 0;

	for (const struct client *cl = d->clients; cl; cl = cl->next)
		n += cl->subscribed && !cl->closing;
	return n;
}

static void handle_request(struct client *cl, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *req, *v;
	const char *what = NULL, *kind;

	uv_timer_stop(&cl->timer);
	cl->answered = true;
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req || !json_is_object(req)) {
		json_decref(req);
		client_error(cl, "the request must be one JSON object on one line");
		return;
	}
	v = json_object_get(req, "request");
	if (!json_is_string(v)) {
		json_decref(req);
		client_error(cl, "the request has no \"request\" string (report, subscribe or "
				 "metrics)");
		return;
	}
	kind = json_string_value(v);
	v = json_object_get(req, "container");
	if (v && !json_is_string(v)) {
		json_decref(req);
		client_error(cl, "\"container\" must be a string (a name, id or state_dir)");
		return;
	}
	if (v)
		what = json_string_value(v);
	if (strcmp(kind, "report") == 0) {
		send_report(cl, what);
	} else if (strcmp(kind, "metrics") == 0) {
		if (what)
			client_error(cl, "metrics are for every container: no \"container\"");
		else
			send_metrics(cl);
	} else if (strcmp(kind, "subscribe") == 0) {
		static const char ok[] = "{\"subscribed\":true}";

		if (what) {
			cl->filter = strdup(what);
			if (!cl->filter) {
				json_decref(req);
				client_close(cl, "out of memory");
				return;
			}
		}
		cl->subscribed = true;
		client_send(cl, ok, sizeof(ok) - 1);
		nlog(LOG_PRIO_DEBUG, "client %llu subscribed%s%s", (unsigned long long)cl->id,
		     what ? " to " : "", what ? what : "");
	} else {
		char msg[160];

		snprintf(msg, sizeof(msg),
			 "unknown request \"%.64s\" (report, subscribe or metrics)", kind);
		client_error(cl, msg);
	}
	json_decref(req);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(read_buf, sizeof(read_buf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct client *cl = s->data;
	const char *nl;
	char *bigger;

	if (n == 0 || cl->closing)
		return;
	if (n < 0) {
		/*
		 * A client may end its side once it sent the request (socat,
		 * `nc -N`): its answer is still on the way, the shutdown after
		 * it closes the connection. Closing now would cut a report
		 * larger than the socket buffer short.
		 */
		if (n == UV_EOF && cl->answered && !cl->subscribed) {
			uv_read_stop(s);
			return;
		}
		client_close(cl, NULL); /* EOF or reset: the client went away */
		return;
	}
	if (cl->answered)
		return; /* a subscriber's further input means nothing */
	nl = memchr(buf->base, '\n', (size_t)n);
	if (cl->req_len + (nl ? (size_t)(nl - buf->base) : (size_t)n) > NFTSETD_REQUEST_MAX) {
		client_error(cl, "request line longer than 65536 bytes");
		return;
	}
	if (!nl) {
		bigger = realloc(cl->req, cl->req_len + (size_t)n);
		if (!bigger) {
			client_close(cl, "out of memory");
			return;
		}
		cl->req = bigger;
		memcpy(cl->req + cl->req_len, buf->base, (size_t)n);
		cl->req_len += (size_t)n;
		return;
	}
	if (cl->req_len == 0) {
		handle_request(cl, buf->base, (size_t)(nl - buf->base));
		return;
	}
	bigger = realloc(cl->req, cl->req_len + (size_t)(nl - buf->base));
	if (!bigger) {
		client_close(cl, "out of memory");
		return;
	}
	cl->req = bigger;
	memcpy(cl->req + cl->req_len, buf->base, (size_t)(nl - buf->base));
	cl->req_len += (size_t)(nl - buf->base);
	handle_request(cl, cl->req, cl->req_len);
	free(cl->req);
	cl->req = NULL;
	cl->req_len = 0;
}

static void on_request_timeout(uv_timer_t *t)
{
	struct client *cl = t->data;

	client_error(cl, "no request within 10 seconds");
}

static void on_connection(uv_stream_t *server, int status)
{
	struct daemon *d = server->data;
	static uint64_t next_id;
	struct client *cl;
	int r;

	if (status < 0) {
		nlog(LOG_PRIO_WARNING, "socket: accept failed: %s", uv_strerror(status));
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		nlog(LOG_PRIO_ERR, "socket: out of memory for a client");
		return;
	}
	cl->d = d;
	cl->id = ++next_id;
	uv_pipe_init(d->loop, &cl->pipe, 0);
	uv_timer_init(d->loop, &cl->timer);
	cl->pipe.data = cl->timer.data = cl;
	cl->handles = 2;
	cl->next = d->clients;
	if (d->clients)
		d->clients->prev = cl;
	d->clients = cl;
	d->n_clients++;
	r = uv_accept(server, (uv_stream_t *)&cl->pipe);
	if (r < 0) {
		nlog(LOG_PRIO_WARNING, "socket: accept failed: %s", uv_strerror(r));
		client_close(cl, NULL);
		return;
	}
	if (d->stopping) {
		client_close(cl, NULL);
		return;
	}
	if (d->n_clients > NFTSETD_CLIENTS_MAX) {
		nlog(LOG_PRIO_WARNING, "socket: more than %d clients, refusing one",
		     NFTSETD_CLIENTS_MAX);
		client_error(cl, "too many clients");
		return;
	}
	uv_timer_start(&cl->timer, on_request_timeout, NFTSETD_REQUEST_TIMEOUT_MS, 0);
	r = uv_read_start((uv_stream_t *)&cl->pipe, on_alloc, on_read);
	if (r < 0)
		client_close(cl, "cannot read from the client");
}

void server_broadcast(struct daemon *d, const struct container *c, const char *line, size_t len)
{
	struct client *cl, *next;

	for (cl = d->clients; cl; cl = next) {
		next = cl->next;
		if (!cl->subscribed || cl->closing)
			continue;
		if (cl->filter && !container_matches(c, cl->filter))
			continue;
		if (queued(cl) + len + 1 > NFTSETD_CLIENT_BACKLOG_MAX) {
			char msg[96];

			snprintf(msg, sizeof(msg), "subscriber fell %d bytes behind, dropped",
				 NFTSETD_CLIENT_BACKLOG_MAX);
			nlog(LOG_PRIO_WARNING, "client %llu: %s", (unsigned long long)cl->id, msg);
			client_close(cl, NULL);
			continue;
		}
		if (client_send(cl, line, len) && !cl->blocking &&
		    queued(cl) > NFTSETD_CLIENT_HIGH_WATER)
			client_block(cl);
	}
}

/*
 * A socket already at the path: another nftsetd answering there is an error,
 * a dead one (connection refused) is removed. Anything but a socket stays.
 */
static int clear_stale_socket(const char *path, struct shield_error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	_cleanup_close_ int fd = -1;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return shield_error_set(err, negative_errno(), "socket %s: %s", path,
					shield_strerror(negative_errno()));
	}
	if (!S_ISSOCK(st.st_mode))
		return shield_error_set(err, -EEXIST, "socket %s: exists and is not a socket",
					path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return shield_error_set(err, negative_errno(), "socket: %s",
					shield_strerror(negative_errno()));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return shield_error_set(err, -EADDRINUSE,
					"socket %s: another nftsetd is serving it already", path);
	if (errno != ECONNREFUSED)
		return shield_error_set(err, negative_errno(), "socket %s: %s", path,
					shield_strerror(negative_errno()));
	if (unlink(path) < 0 && errno != ENOENT)
		return shield_error_set(err, negative_errno(), "socket %s: cannot remove: %s", path,
					shield_strerror(negative_errno()));
	nlog(LOG_PRIO_INFO, "removed a stale socket %s", path);
	return 0;
}

int server_start(struct daemon *d, struct shield_error *err)
{
	mode_t old;
	int r;

	if (strlen(d->socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return shield_error_set(err, -ENAMETOOLONG, "socket %s: path too long",
					d->socket_path);
	r = clear_stale_socket(d->socket_path, err);
	if (r < 0)
		return r;
	r = uv_pipe_init(d->loop, &d->server, 0);
	if (r < 0)
		return shield_error_set(err, r, "socket: %s", uv_strerror(r));
	d->server.data = d;
	d->server_open = true;
	/* Born 0600: no moment in which someone else may connect. */
	old = umask(0177);
	r = uv_pipe_bind(&d->server, d->socket_path);
	umask(old);
	if (r < 0)
		return shield_error_set(err, r, "socket %s: bind: %s", d->socket_path,
					uv_strerror(r));
	d->server_bound = true;
	if (chmod(d->socket_path, 0600) < 0)
		return shield_error_set(err, negative_errno(), "socket %s: chmod: %s",
					d->socket_path, shield_strerror(negative_errno()));
	r = uv_listen((uv_stream_t *)&d->server, 16, on_connection);
	if (r < 0)
		return shield_error_set(err, r, "socket %s: listen: %s", d->socket_path,
					uv_strerror(r));
	return 0;
}

void server_stop(struct daemon *d)
{
	if (d->server_open) {
		d->server_open = false;
		uv_close((uv_handle_t *)&d->server, NULL);
	}
	if (d->server_bound) {
		/* libuv leaves the path behind; the next start would find it stale. */
		d->server_bound = false;
		unlink(d->socket_path);
	}
	while (d->clients)
		client_close(d->clients, NULL);
}
