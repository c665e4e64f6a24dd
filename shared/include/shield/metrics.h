/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prometheus metrics, the pure parts (nftsetd's `{"request":"metrics"}`
 * and its opt-in `GET /metrics`): the text exposition format 0.0.4 written
 * into a capped buffer (HELP/TYPE lines, label values escaped, histograms
 * as cumulative _bucket{le}, _sum and _count), the hook's duration read
 * from an audit "setup" entry, the one request an HTTP scrape makes, and
 * the --metrics-listen address. No I/O here: unit-tested without a socket.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "error.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Exposition text, growing up to max bytes; the first failure sticks (writes then do nothing). */
struct metrics_buf {
	char *data; /* NUL-terminated when len > 0 */
	size_t len, cap, max;
	int error; /* 0, -ENOMEM, or -E2BIG past max */
};

void metrics_buf_init(struct metrics_buf *b, size_t max);
void metrics_buf_free(struct metrics_buf *b);

/* One label of a sample; the value is escaped as it is written. */
struct metrics_label {
	const char *name;
	const char *value;
};

/*
 * "# HELP name help" (help escaped: backslash, newline) and
 * "# TYPE name type" (counter, gauge, histogram). Every sample of a family
 * must follow its TYPE line before the next family starts.
 */
void metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help);

/*
 * One sample line: name{labels} value. Label values are escaped as the
 * format wants (\\, \", \n) and bytes that are not UTF-8 become U+FFFD.
 */
void metrics_sample_u64(struct metrics_buf *b, const char *name, const struct metrics_label *labels,
			size_t n_labels, uint64_t v);
void metrics_sample_double(struct metrics_buf *b, const char *name,
			   const struct metrics_label *labels, size_t n_labels, double v);

/*
 * A double as the format writes it: the shortest "%g" text that reads back
 * to the same value, "+Inf", "-Inf" or "NaN". out holds at least 32 bytes.
 */
const char *metrics_format_double(double v, char *out, size_t size);

/* At most this many finite bucket bounds. */
#define METRICS_HIST_BOUNDS_MAX 16

/* A histogram's observations: per bucket (not cumulative); counts[n_bounds] is +Inf. */
struct metrics_hist {
	uint64_t counts[METRICS_HIST_BOUNDS_MAX + 1];
	uint64_t count;
	double sum;
};

/* Count v into h, whose finite upper bounds are bounds[0..n) (ascending). */
void metrics_hist_observe(struct metrics_hist *h, const double *bounds, size_t n, double v);

/* name_bucket{labels,le="..."} (cumulative, ending with le="+Inf"), name_sum, name_count. */
void metrics_hist_write(struct metrics_buf *b, const char *name, const struct metrics_label *labels,
			size_t n_labels, const struct metrics_hist *h, const double *bounds,
			size_t n);

/*
 * The hook's time from an audit "setup" entry's detail, which ends in
 * "; N.N ms" (launch.c): *ms, or -EINVAL when it does not end so.
 */
int metrics_setup_ms(const char *detail, double *ms);

/* What to answer an HTTP request. */
struct metrics_http_req {
	int status; /* 200, 400, 404, 405, 431 or 505 */
	bool head;  /* HEAD: headers only */
};

/*
 * Look at the bytes of a request received so far (buf, len): 0 while the
 * header is incomplete and within max bytes, else 1 and out says what to
 * answer: 200 for GET or HEAD of /metrics (a query string is ignored), 405
 * for another method on /metrics, 404 for another path, 400 for a request
 * line that is not HTTP, 505 for a version other than HTTP/1.0 and 1.1,
 * 431 for a header that does not end within max bytes.
 */
int metrics_http_route(const char *buf, size_t len, size_t max, struct metrics_http_req *out);

/*
 * Parse --metrics-listen: "IPV4:PORT" or "[IPV6]:PORT" (numeric; PORT 0 to
 * 65535, 0 = any free port) into *ss and *len; *loopback says whether the
 * address is a loopback one (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104).
 * -EINVAL with err saying what is wrong otherwise.
 */
int metrics_listen_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, bool *loopback,
			 struct shield_error *err);
