/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client side of nftsetd's socket protocol (v1, see README "Watching:
 * nftsetd" and nftsetd(8)): one JSON request line, then JSON lines back.
 * Request and event lines are capped at 64 KiB; the report answer, which
 * grows with every watched container (~1 KiB each, more with many domains
 * or open drift), at 64 MiB. Used by `shield watch` and `shield drift`.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "cli-target.h"
#include "shield/error.h"

/* A request or event line longer than this (newline excluded) ends the conversation. */
#define NFTSETD_LINE_MAX (64 * 1024)
/*
 * The report answer's cap (newline excluded): still a hard cap, read into a
 * buffer that grows up to it; a longer report is -EMSGSIZE, and the error
 * says to ask for one container.
 */
#define NFTSETD_REPORT_MAX (64 * 1024 * 1024)

/*
 * The socket path: $SHIELD_NFTSETD_SOCKET, else RUNTIME_DIR/nftsetd.sock
 * (RUNTIME_DIR as the registry finds it).
 */
int nftsetd_socket_path(char *out, size_t size, struct shield_error *err);

/*
 * Connect to the socket at path; the fd (SOCK_CLOEXEC), or -errno. Nobody
 * listening (no socket, a stale one, connection refused) is -ENOENT with the
 * "nftsetd is not running" message; anything else names the path and why.
 */
int nftsetd_connect(const char *path, struct shield_error *err);

/*
 * Send one request: {"request":REQUEST[,"container":CONTAINER]} and a
 * newline, in full (container may be NULL).
 */
int nftsetd_send_request(int fd, const char *request, const char *container,
			 struct shield_error *err);

/*
 * Reads newline-terminated lines from a stream socket into a fixed buffer.
 * The buffer is the cap: a line that does not fit is -EMSGSIZE.
 */
struct line_reader {
	int fd;
	size_t len;  /* bytes held in buf */
	size_t skip; /* bytes of buf already handed out as the last line */
	bool eof;
	char buf[NFTSETD_LINE_MAX + 1];
};

void line_reader_init(struct line_reader *r, int fd);

/*
 * The next whole line (newline replaced by NUL) in *line: 1 a line, 0 the
 * peer closed (a last line without a newline is dropped: it may be cut),
 * -EAGAIN nothing more yet on a non-blocking fd, -EMSGSIZE a line over the
 * cap, else -errno. *line stays valid until the next call.
 */
int line_reader_next(struct line_reader *r, char **line, size_t *len);

/*
 * Every whole line buffered, newlines included, as one block (for copying
 * them out unchanged with one write): same returns as line_reader_next;
 * the block stays valid until the next call.
 */
int line_reader_lines(struct line_reader *r, char **data, size_t *len);

/*
 * Ask for a report (container may be NULL: all of them) and parse the one
 * line that answers (up to NFTSETD_REPORT_MAX bytes): the report object in
 * *out, or the server's {"error":...} as -EPROTO with its text in err.
 */
int nftsetd_report(const char *path, const char *container, json_t **out, struct shield_error *err);

/*
 * Ask for the metrics: the Prometheus text nftsetd sends until it closes
 * (up to NFTSETD_REPORT_MAX bytes) in *out (NUL-terminated, the caller
 * frees it), its length in *len; the server's {"error":...} is -EPROTO.
 */
int nftsetd_metrics(const char *path, char **out, size_t *len, struct shield_error *err);

/*
 * Subscribe (container may be NULL): connect, send the request and wait for
 * {"subscribed":true}. Returns the connected fd (blocking; the caller closes
 * it), r set up to read the events from it.
 */
int nftsetd_subscribe(const char *path, const char *container, struct line_reader *r,
		      struct shield_error *err);

/*
 * What nftsetd is asked about for a resolved target: its registry id when
 * there is one, else its bundle directory; NULL (every container) when
 * nothing was resolved.
 */
const char *nftsetd_selector(const struct cli_target *t);
