/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the metrics code takes from outside, on arbitrary bytes: an HTTP
 * request (metrics_http_route) is decided by its header alone, the same
 * for every longer input once decided, with one of the known statuses; a
 * label value (a registry entry's name) comes out as one line of UTF-8
 * with every quote, backslash and newline escaped; an audit detail gives
 * a finite, non-negative time or -EINVAL.
 */
#include "fuzz-common.h"

#include <errno.h>
#include <math.h>

#include "shield/metrics.h"

static bool valid_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t len = s[i] < 0x80    ? 1
			     : s[i] >= 0xf0 ? 4
			     : s[i] >= 0xe0 ? 3
			     : s[i] >= 0xc0 ? 2
					    : 0;

		if (len == 0 || i + len > n)
			return false;
		for (size_t j = 1; j < len; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

static void check_route(const uint8_t *data, size_t size)
{
	struct metrics_http_req whole, part;
	size_t max = size ? 16 + data[0] : 16;
	int r = metrics_http_route((const char *)data, size, max, &whole);

	if (r != 0 && r != 1)
		abort();
	if (r == 1 && whole.status != 200 && whole.status != 400 && whole.status != 404 &&
	    whole.status != 405 && whole.status != 431 && whole.status != 505)
		abort();
	if (whole.head && whole.status != 200)
		abort();
	/* A prefix that was decided is decided the same way for the whole input. */
	for (size_t k = 0; k <= size; k += 1 + k / 8) {
		int rp = metrics_http_route((const char *)data, k, max, &part);

		if (rp == 1 && (r != 1 || part.status != whole.status || part.head != whole.head))
			abort();
	}
}

static void check_label(const uint8_t *data, size_t size)
{
	char *value = malloc(size + 1);
	const char *p, *end;
	struct metrics_buf b;
	struct metrics_label l = {"container", value};

	if (!value)
		abort();
	memcpy(value, data, size);
	value[size] = '\0';
	metrics_buf_init(&b, 1 << 20);
	metrics_sample_u64(&b, "m", &l, 1, 7);
	if (b.error || !b.data || strncmp(b.data, "m{container=\"", 13) != 0 ||
	    !valid_utf8((const unsigned char *)b.data, b.len))
		abort();
	/* One line: the only newline ends it; inside the quotes every " and \ is escaped. */
	if (memchr(b.data, '\n', b.len) != b.data + b.len - 1)
		abort();
	end = b.data + b.len - strlen("\"} 7\n");
	if (strcmp(end, "\"} 7\n") != 0)
		abort();
	for (p = b.data + 13; p < end; p++) {
		if (*p == '"')
			abort();
		if (*p == '\\') {
			p++;
			if (p >= end || (*p != '\\' && *p != '"' && *p != 'n'))
				abort();
		}
	}
	metrics_buf_free(&b);
	free(value);
}

static void check_setup_ms(const uint8_t *data, size_t size)
{
	char *detail = malloc(size + 1);
	double ms = -1;
	int r;

	if (!detail)
		abort();
	memcpy(detail, data, size);
	detail[size] = '\0';
	r = metrics_setup_ms(detail, &ms);
	if (r != 0 && r != -EINVAL)
		abort();
	if (r == 0 && (!isfinite(ms) || ms < 0))
		abort();
	free(detail);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_route(data, size);
	check_label(data, size);
	check_setup_ms(data, size);
	return 0;
}
