/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "shield/fdio.h"
#include "nftsetd-client.h"
#include "shield/registry.h"

#define NFTSETD_SOCKET_NAME "nftsetd.sock"

int nftsetd_socket_path(char *out, size_t size, struct shield_error *err)
{
	const char *env = getenv("SHIELD_NFTSETD_SOCKET");
	char dir[PATH_MAX];
	int r;

	if (env && *env) {
		if ((size_t)snprintf(out, size, "%s", env) >= size)
			return shield_error_set(err, -ENAMETOOLONG,
						"SHIELD_NFTSETD_SOCKET is too long");
		return 0;
	}
	r = registry_runtime_dir(dir, sizeof(dir), err);
	if (r < 0)
		return r;
	if ((size_t)snprintf(out, size, "%s/" NFTSETD_SOCKET_NAME, dir) >= size)
		return shield_error_set(err, -ENAMETOOLONG, "nftsetd socket path is too long");
	return 0;
}

int nftsetd_connect(const char *path, struct shield_error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -1;
	size_t len = strlen(path);

	if (len >= sizeof(sa.sun_path))
		return shield_error_set(err, -ENAMETOOLONG,
					"nftsetd socket path %s is longer than %zu bytes", path,
					sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return shield_error_set(err, negative_errno(), "socket: %s",
					shield_strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = negative_errno();

		/* No socket file, or a file nobody listens on (nftsetd died). */
		if (r == -ENOENT || r == -ECONNREFUSED)
			return shield_error_set(err, -ENOENT,
						"nftsetd is not running (no socket at %s; start it "
						"with `systemctl start nftsetd` or run `nftsetd`)",
						path);
		return shield_error_set(err, r, "cannot connect to nftsetd at %s: %s", path,
					shield_strerror(r));
	}
	return TAKE_FD(fd);
}

/* Write all of buf, retrying short writes and EINTR. */
int nftsetd_send_request(int fd, const char *request, const char *container,
			 struct shield_error *err)
{
	json_t *o = json_pack("{ss}", "request", request);
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r;

	if (o && container && json_object_set_new(o, "container", json_string(container)) < 0) {
		json_decref(o);
		o = NULL;
	}
	text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (!text)
		return shield_error_set(err, -EINVAL, "request: container name is not valid UTF-8");
	len = strlen(text);
	text[len] = '\n'; /* the NUL becomes the line's end; len + 1 bytes go out */
	r = fd_write_all(fd, text, len + 1, FD_WRITE_NOSIGNAL);
	if (r < 0)
		return shield_error_set(err, r, "sending the %s request to nftsetd: %s", request,
					shield_strerror(r));
	return 0;
}

void line_reader_init(struct line_reader *r, int fd)
{
	r->fd = fd;
	r->len = 0;
	r->skip = 0;
	r->eof = false;
}

/*
 * Until buf holds a newline (the first one, or the last one when last):
 * 1 and *nl set, 0 end of stream, -EAGAIN, -EMSGSIZE, -errno. Bytes handed
 * out last time are dropped first.
 */
static int line_reader_fill(struct line_reader *r, bool last, char **nl)
{
	if (r->skip > 0) {
		memmove(r->buf, r->buf + r->skip, r->len - r->skip);
		r->len -= r->skip;
		r->skip = 0;
	}
	for (;;) {
		ssize_t n;

		*nl = last ? memrchr(r->buf, '\n', r->len) : memchr(r->buf, '\n', r->len);
		if (*nl)
			return 1;
		if (r->len >= NFTSETD_LINE_MAX + 1)
			return -EMSGSIZE;
		if (r->eof)
			return 0;
		n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? -EAGAIN : negative_errno();
		}
		if (n == 0) {
			r->eof = true;
			return 0;
		}
		r->len += (size_t)n;
	}
}

int line_reader_next(struct line_reader *r, char **line, size_t *len)
{
	char *nl;
	int n = line_reader_fill(r, false, &nl);

	if (n <= 0)
		return n;
	*nl = '\0';
	*line = r->buf;
	if (len)
		*len = (size_t)(nl - r->buf);
	r->skip = (size_t)(nl - r->buf) + 1;
	return 1;
}

int line_reader_lines(struct line_reader *r, char **data, size_t *len)
{
	char *nl;
	int n = line_reader_fill(r, true, &nl);

	if (n <= 0)
		return n;
	*data = r->buf;
	*len = (size_t)(nl - r->buf) + 1;
	r->skip = *len;
	return 1;
}

/* Parse one line of the server's as a JSON object; its {"error":...} is -EPROTO. */
static int parse_answer(const char *line, size_t len, json_t **out, struct shield_error *err)
{
	json_error_t jerr;
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr), *e;

	if (!o || !json_is_object(o)) {
		json_decref(o);
		return shield_error_set(err, -EPROTO,
					"nftsetd sent a line that is not a JSON "
					"object");
	}
	e = json_object_get(o, "error");
	if (e) {
		shield_error_set(err, -EPROTO, "nftsetd: %s",
				 json_is_string(e) ? json_string_value(e) : "error");
		json_decref(o);
		return -EPROTO;
	}
	*out = o;
	return 0;
}

/* One line from the server, or an error naming what went wrong. */
static int read_answer(struct line_reader *r, json_t **out, struct shield_error *err)
{
	char *line;
	size_t len;
	int n = line_reader_next(r, &line, &len);

	if (n == 0)
		return shield_error_set(err, -ECONNRESET,
					"nftsetd closed the connection without an answer");
	if (n == -EMSGSIZE)
		return shield_error_set(err, n, "nftsetd sent a line over %d bytes",
					NFTSETD_LINE_MAX);
	if (n < 0)
		return shield_error_set(err, n, "reading from nftsetd: %s", shield_strerror(n));
	return parse_answer(line, len, out, err);
}

/*
 * An answer larger than one event line: the report (one line, one_line) or
 * the metrics text (many lines, ending where nftsetd closes the
 * connection). Read into a buffer that doubles from NFTSETD_LINE_MAX up to
 * NFTSETD_REPORT_MAX bytes (a report grows with the number of containers,
 * far past the event lines' cap). *out is NUL-terminated (the caller frees
 * it), *len its length: the report without its newline, the metrics text
 * whole. what names the answer in errors ("report", "metrics").
 */
static int recv_answer_text(int fd, bool one_line, const char *what, char **out, size_t *len,
			    struct shield_error *err)
{
	const size_t cap_max = NFTSETD_REPORT_MAX + 2; /* the text, its newline, the NUL */
	_cleanup_free_ char *buf = NULL;
	size_t have = 0, cap = 0;

	for (;;) {
		char *nl;
		ssize_t n;

		if (have + 1 >= cap) { /* room for a byte and the NUL */
			size_t grown = cap ? cap * 2 : NFTSETD_LINE_MAX;
			char *g;

			if (cap == cap_max)
				return shield_error_set(
					err, -EMSGSIZE, "nftsetd's %s %s larger than %d MiB%s",
					what, one_line ? "is" : "are",
					NFTSETD_REPORT_MAX / (1024 * 1024),
					one_line ? "; ask for one container (NAME or --state-dir)"
						 : "");
			if (grown > cap_max)
				grown = cap_max;
			g = realloc(buf, grown);
			if (!g)
				return shield_error_set(err, -ENOMEM,
							"out of memory reading nftsetd's %s", what);
			buf = g;
			cap = grown;
		}
		n = recv(fd, buf + have, cap - have - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return shield_error_set(err, negative_errno(), "reading from nftsetd: %s",
						shield_strerror(errno));
		if (n == 0 && (one_line || have == 0))
			return shield_error_set(
				err, -ECONNRESET,
				have ? "nftsetd closed the connection in the middle "
				       "of its answer"
				     : "nftsetd closed the connection without an "
				       "answer");
		if (n == 0)
			break;
		nl = one_line ? memchr(buf + have, '\n', (size_t)n) : NULL;
		if (nl) {
			have = (size_t)(nl - buf);
			break;
		}
		have += (size_t)n;
	}
	buf[have] = '\0';
	*len = have;
	*out = TAKE_PTR(buf);
	return 0;
}

int nftsetd_report(const char *path, const char *container, json_t **out, struct shield_error *err)
{
	_cleanup_free_ char *line = NULL;
	_cleanup_close_ int fd = -1;
	json_t *report = NULL;
	size_t len = 0;
	int n;

	fd = nftsetd_connect(path, err);
	if (fd < 0)
		return fd;
	n = nftsetd_send_request(fd, "report", container, err);
	if (n < 0)
		return n;
	n = recv_answer_text(fd, true, "report", &line, &len, err);
	if (n < 0)
		return n;
	n = parse_answer(line, len, &report, err);
	if (n < 0)
		return n;
	if (!json_is_array(json_object_get(report, "containers"))) {
		json_decref(report);
		return shield_error_set(err, -EPROTO, "nftsetd's report has no \"containers\"");
	}
	*out = report;
	return 0;
}

int nftsetd_metrics(const char *path, char **out, size_t *len, struct shield_error *err)
{
	_cleanup_free_ char *buf = NULL;
	_cleanup_close_ int fd = -1;
	size_t have = 0;
	int r;

	fd = nftsetd_connect(path, err);
	if (fd < 0)
		return fd;
	r = nftsetd_send_request(fd, "metrics", NULL, err);
	if (r < 0)
		return r;
	r = recv_answer_text(fd, false, "metrics", &buf, &have, err);
	if (r < 0)
		return r;
	if (buf[0] == '{') {
		json_t *o = NULL;

		r = parse_answer(buf, have, &o, err);
		json_decref(o);
		return r < 0 ? r
			     : shield_error_set(err, -EPROTO,
						"nftsetd answered JSON, not metrics (an older "
						"nftsetd?)");
	}
	if (buf[have - 1] != '\n')
		return shield_error_set(
			err, -ECONNRESET,
			"nftsetd closed the connection in the middle of its metrics");
	*len = have;
	*out = TAKE_PTR(buf);
	return 0;
}

int nftsetd_subscribe(const char *path, const char *container, struct line_reader *r,
		      struct shield_error *err)
{
	_cleanup_close_ int fd = -1;
	json_t *ack = NULL;
	int n;

	fd = nftsetd_connect(path, err);
	if (fd < 0)
		return fd;
	n = nftsetd_send_request(fd, "subscribe", container, err);
	if (n < 0)
		return n;
	line_reader_init(r, fd);
	n = read_answer(r, &ack, err);
	if (n < 0)
		return n;
	n = json_is_true(json_object_get(ack, "subscribed"));
	json_decref(ack);
	if (!n)
		return shield_error_set(err, -EPROTO, "nftsetd did not confirm the subscription");
	return TAKE_FD(fd);
}

const char *nftsetd_selector(const struct cli_target *t)
{
	return t->id ? t->id : t->state_dir;
}
