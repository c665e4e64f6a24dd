/* SPDX-License-Identifier: Apache-2.0 */
/*
 * GET /metrics over HTTP/1.0 and 1.1, opt-in (--metrics-listen ADDR:PORT).
 * Deliberately minimal: one request per connection, answered with
 * "Connection: close"; a header of at most NFTSETD_HTTP_HEADER_MAX bytes
 * (431 beyond); NFTSETD_HTTP_TIMEOUT_MS to send it (408, then closed) and
 * again to read the answer; 404 for another path, 405 for another method;
 * at most NFTSETD_HTTP_CONNS_MAX connections: past that the oldest is
 * closed, so idle connections cannot lock a scrape out (each holds at most
 * its header buffer and one answer). Request bodies are never read: what
 * follows the header is drained and ignored until the client closes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nftsetd.h"

struct http_conn {
	struct http_conn *next, *prev;
	struct daemon *d;
	uv_tcp_t tcp;
	uv_timer_t timer;
	unsigned handles; /* tcp and timer: the last close frees the connection */
	size_t len;
	bool answered, closing, eof, shut;
	char req[NFTSETD_HTTP_HEADER_MAX];
};

struct http_write {
	uv_write_t req;
	char data[];
};

static char read_buf[NFTSETD_HTTP_HEADER_MAX];

static void conn_closed(uv_handle_t *h)
{
	struct http_conn *hc = h->data;

	if (--hc->handles == 0)
		free(hc);
}

static void conn_close(struct http_conn *hc)
{
	struct daemon *d = hc->d;

	if (hc->closing)
		return;
	hc->closing = true;
	if (hc->prev)
		hc->prev->next = hc->next;
	else
		d->http_conns = hc->next;
	if (hc->next)
		hc->next->prev = hc->prev;
	d->n_http--;
	uv_close((uv_handle_t *)&hc->timer, conn_closed);
	uv_close((uv_handle_t *)&hc->tcp, conn_closed);
}

static void on_written(uv_write_t *req, int status)
{
	struct http_conn *hc = req->handle->data;

	free(req);
	if (status < 0 && status != UV_ECANCELED)
		conn_close(hc);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct http_conn *hc = req->handle->data;

	free(req);
	if (hc->closing)
		return;
	hc->shut = true;
	/* The answer is out; once the client closed too, so do we. */
	if (status < 0 || hc->eof)
		conn_close(hc);
}

static void on_linger_timeout(uv_timer_t *t)
{
	conn_close(t->data);
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 431:
		return "Request Header Fields Too Large";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Internal Server Error";
	}
}

/* Send status, headers and body (NULL: a line naming the status), then shut the writing side. */
static void conn_answer(struct http_conn *hc, int status, const char *body, size_t body_len,
			bool head)
{
	char hdr[512], text[64];
	struct http_write *w;
	uv_shutdown_t *sd;
	uv_buf_t buf;
	int n;

	hc->answered = true;
	if (!body) {
		snprintf(text, sizeof(text), "%d %s\n", status, reason(status));
		body = text;
		body_len = strlen(text);
	}
	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.1 %d %s\r\n"
		     "Content-Type: %s\r\n"
		     "Content-Length: %zu\r\n"
		     "%s"
		     "Cache-Control: no-store\r\n"
		     "Connection: close\r\n"
		     "\r\n",
		     status, reason(status),
		     status == 200 ? METRICS_CONTENT_TYPE : "text/plain; charset=utf-8", body_len,
		     status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (head)
		body_len = 0;
	w = malloc(sizeof(*w) + (size_t)n + body_len);
	if (!w) {
		conn_close(hc);
		return;
	}
	memcpy(w->data, hdr, (size_t)n);
	memcpy(w->data + n, body, body_len);
	buf = uv_buf_init(w->data, (unsigned)((size_t)n + body_len));
	if (uv_write(&w->req, (uv_stream_t *)&hc->tcp, &buf, 1, on_written) < 0) {
		free(w);
		conn_close(hc);
		return;
	}
	/* A client that never reads its answer (or never closes) goes after the timeout. */
	uv_timer_start(&hc->timer, on_linger_timeout, NFTSETD_HTTP_TIMEOUT_MS, 0);
	sd = malloc(sizeof(*sd));
	if (!sd || uv_shutdown(sd, (uv_stream_t *)&hc->tcp, on_shutdown) < 0) {
		free(sd);
		conn_close(hc);
	}
}

static void conn_answer_metrics(struct http_conn *hc, bool head)
{
	struct metrics_buf b;

	metrics_buf_init(&b, NFTSETD_METRICS_MAX);
	if (metrics_render(hc->d, &b) < 0) {
		nlog(LOG_PRIO_ERR, "metrics: %s", shield_strerror(b.error));
		conn_answer(hc, 500, NULL, 0, head);
	} else {
		conn_answer(hc, 200, b.data ? b.data : "", b.len, head);
	}
	metrics_buf_free(&b);
}

static void on_request_timeout(uv_timer_t *t)
{
	struct http_conn *hc = t->data;

	nlog(LOG_PRIO_DEBUG, "metrics: an HTTP client sent no whole request within %d s",
	     NFTSETD_HTTP_TIMEOUT_MS / 1000);
	conn_answer(hc, 408, NULL, 0, false);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(read_buf, sizeof(read_buf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct http_conn *hc = s->data;
	struct metrics_http_req req;
	size_t take;

	if (n == 0 || hc->closing)
		return;
	if (n < 0) {
		/* The client closed (or reset): done once the answer is out, or at once. */
		hc->eof = true;
		uv_read_stop(s);
		if (!hc->answered || hc->shut || n != UV_EOF)
			conn_close(hc);
		return;
	}
	if (hc->answered)
		return; /* a body, or more requests: ignored */
	take = (size_t)n;
	if (take > sizeof(hc->req) - hc->len)
		take = sizeof(hc->req) - hc->len;
	memcpy(hc->req + hc->len, buf->base, take);
	hc->len += take;
	if (metrics_http_route(hc->req, hc->len, sizeof(hc->req), &req) == 0)
		return;
	uv_timer_stop(&hc->timer);
	if (req.status == 200)
		conn_answer_metrics(hc, req.head);
	else
		conn_answer(hc, req.status, NULL, 0, req.head);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct daemon *d = server->data;
	struct http_conn *hc;
	int r;

	if (status < 0) {
		nlog(LOG_PRIO_WARNING, "metrics: accept failed: %s", uv_strerror(status));
		return;
	}
	hc = calloc(1, sizeof(*hc));
	if (!hc) {
		nlog(LOG_PRIO_ERR, "metrics: out of memory for a connection");
		return;
	}
	hc->d = d;
	uv_tcp_init(d->loop, &hc->tcp);
	uv_timer_init(d->loop, &hc->timer);
	hc->tcp.data = hc->timer.data = hc;
	hc->handles = 2;
	hc->next = d->http_conns;
	if (d->http_conns)
		d->http_conns->prev = hc;
	d->http_conns = hc;
	d->n_http++;
	r = uv_accept(server, (uv_stream_t *)&hc->tcp);
	if (r < 0) {
		nlog(LOG_PRIO_WARNING, "metrics: accept failed: %s", uv_strerror(r));
		conn_close(hc);
		return;
	}
	if (d->stopping) {
		conn_close(hc);
		return;
	}
	if (d->n_http > NFTSETD_HTTP_CONNS_MAX) {
		struct http_conn *oldest = hc;

		/* New ones go to the head: the oldest is the tail. */
		while (oldest->next)
			oldest = oldest->next;
		nlog(LOG_PRIO_WARNING,
		     "metrics: more than %d HTTP connections, closing the oldest one",
		     NFTSETD_HTTP_CONNS_MAX);
		conn_close(oldest);
	}
	uv_timer_start(&hc->timer, on_request_timeout, NFTSETD_HTTP_TIMEOUT_MS, 0);
	r = uv_read_start((uv_stream_t *)&hc->tcp, on_alloc, on_read);
	if (r < 0)
		conn_close(hc);
}

int http_start(struct daemon *d, struct shield_error *err)
{
	const struct daemon_opts *o = &d->opt;
	struct sockaddr_storage ss;
	char host[INET6_ADDRSTRLEN];
	int len = sizeof(ss), r;
	unsigned port;

	if (!o->metrics_listen)
		return 0;
	r = uv_tcp_init(d->loop, &d->http);
	if (r < 0)
		return shield_error_set(err, r, "--metrics-listen: %s", uv_strerror(r));
	d->http.data = d;
	d->http_open = true;
	r = uv_tcp_bind(&d->http, (const struct sockaddr *)&o->metrics_addr, 0);
	if (r >= 0)
		r = uv_listen((uv_stream_t *)&d->http, 16, on_connection);
	if (r >= 0)
		r = uv_tcp_getsockname(&d->http, (struct sockaddr *)&ss, &len);
	if (r < 0)
		return shield_error_set(err, r, "--metrics-listen %s: %s", o->metrics_listen,
					uv_strerror(r));
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		port = ntohs(a->sin6_port);
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
	}
	/* The port as bound (port 0 picks a free one): tests and operators read it here. */
	nlog(LOG_PRIO_NOTICE, "metrics served on http://%s%s%s:%u/metrics%s",
	     ss.ss_family == AF_INET6 ? "[" : "", host, ss.ss_family == AF_INET6 ? "]" : "", port,
	     o->metrics_remote ? " (not a loopback address: reachable beyond this host)" : "");
	return 0;
}

void http_stop(struct daemon *d)
{
	if (d->http_open) {
		d->http_open = false;
		uv_close((uv_handle_t *)&d->http, NULL);
	}
	while (d->http_conns)
		conn_close(d->http_conns);
}
