/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics: the Prometheus text format (HELP/TYPE, label escaping, values,
 * histograms), the hook time of an audit "setup" entry, HTTP request
 * routing and --metrics-listen addresses. promtool checks real output in
 * tests/integration/test-nftsetd-metrics.sh; here every rule is pinned.
 */
#include "unit-helpers.h"

#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdint.h>

#include "shield/metrics.h"

static void test_family_and_samples(void **state)
{
	struct metrics_buf b;
	const struct metrics_label l[] = {{"container", "web"}, {"id", "abc"}};

	(void)state;
	metrics_buf_init(&b, 1 << 20);
	metrics_family(&b, "shield_x_total", "counter", "Things.\nTwo lines, one \\ backslash");
	metrics_sample_u64(&b, "shield_x_total", l, 2, 18446744073709551615ull);
	metrics_sample_u64(&b, "shield_x_total", NULL, 0, 0);
	assert_int_equal(b.error, 0);
	assert_string_equal(b.data,
			    "# HELP shield_x_total Things.\\nTwo lines, one \\\\ backslash\n"
			    "# TYPE shield_x_total counter\n"
			    "shield_x_total{container=\"web\",id=\"abc\"} 18446744073709551615\n"
			    "shield_x_total 0\n");
	assert_int_equal(b.len, strlen(b.data));
	metrics_buf_free(&b);
}

/* Label values: backslash, quote and newline escaped; HELP keeps its quotes. */
static void test_label_escaping(void **state)
{
	struct metrics_buf b;
	const struct metrics_label l[] = {{"container", "a\"b\\c\nd"}, {"id", NULL}};

	(void)state;
	metrics_buf_init(&b, 1 << 20);
	metrics_sample_u64(&b, "m", l, 2, 1);
	metrics_family(&b, "m", "gauge", "say \"hi\"");
	assert_string_equal(b.data, "m{container=\"a\\\"b\\\\c\\nd\",id=\"\"} 1\n"
				    "# HELP m say \"hi\"\n# TYPE m gauge\n");
	metrics_buf_free(&b);
}

/* Valid UTF-8 passes; stray bytes, overlongs and surrogates become U+FFFD. */
static void test_label_utf8(void **state)
{
	struct metrics_buf b;
	const struct metrics_label l1[] = {{"c", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb3"}};
	const struct metrics_label l2[] = {{"c", "a\xff"
						 "b\xc0\xafz\xed\xa0\x80\xe2\x82"}};

	(void)state;
	metrics_buf_init(&b, 1 << 20);
	metrics_sample_u64(&b, "m", l1, 1, 1);
	assert_string_equal(b.data, "m{c=\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb3\"} 1\n");
	metrics_buf_free(&b);
	metrics_buf_init(&b, 1 << 20);
	metrics_sample_u64(&b, "m", l2, 1, 2);
	/* Each byte that starts no valid sequence is one U+FFFD. */
	assert_string_equal(b.data, "m{c=\"a\xef\xbf\xbd"
				    "b\xef\xbf\xbd\xef\xbf\xbdz"
				    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
				    "\xef\xbf\xbd\xef\xbf\xbd\"} 2\n");
	metrics_buf_free(&b);
}

static void test_doubles(void **state)
{
	char out[40];

	(void)state;
	assert_string_equal(metrics_format_double(0.1, out, sizeof(out)), "0.1");
	assert_string_equal(metrics_format_double(0.005, out, sizeof(out)), "0.005");
	assert_string_equal(metrics_format_double(2.5, out, sizeof(out)), "2.5");
	assert_string_equal(metrics_format_double(10, out, sizeof(out)), "10");
	assert_string_equal(metrics_format_double(0, out, sizeof(out)), "0");
	assert_string_equal(metrics_format_double(1.0 / 3, out, sizeof(out)), "0.3333333333333333");
	assert_string_equal(metrics_format_double(1e21, out, sizeof(out)), "1e+21");
	assert_string_equal(metrics_format_double(-42, out, sizeof(out)), "-42");
	assert_string_equal(metrics_format_double(INFINITY, out, sizeof(out)), "+Inf");
	assert_string_equal(metrics_format_double(-INFINITY, out, sizeof(out)), "-Inf");
	assert_string_equal(metrics_format_double(NAN, out, sizeof(out)), "NaN");
	/* Whatever is written reads back as the same value. */
	for (double v = 1e-9; v < 1e12; v *= 7.3)
		assert_true(strtod(metrics_format_double(v, out, sizeof(out)), NULL) == v);
}

/* Buckets are cumulative, le is the bound's shortest text, +Inf equals _count. */
static void test_histogram(void **state)
{
	static const double bounds[] = {0.0625, 0.125, 0.5};
	const struct metrics_label l[] = {{"container", "web"}};
	struct metrics_hist h = {0};
	struct metrics_buf b;

	(void)state;
	metrics_hist_observe(&h, bounds, 3, 0.03125);
	metrics_hist_observe(&h, bounds, 3, 0.0625); /* on the bound: le means <= */
	metrics_hist_observe(&h, bounds, 3, 0.25);
	metrics_hist_observe(&h, bounds, 3, 3);
	metrics_buf_init(&b, 1 << 20);
	metrics_hist_write(&b, "shield_hook_duration_seconds", l, 1, &h, bounds, 3);
	assert_int_equal(b.error, 0);
	assert_string_equal(
		b.data, "shield_hook_duration_seconds_bucket{container=\"web\",le=\"0.0625\"} 2\n"
			"shield_hook_duration_seconds_bucket{container=\"web\",le=\"0.125\"} 2\n"
			"shield_hook_duration_seconds_bucket{container=\"web\",le=\"0.5\"} 3\n"
			"shield_hook_duration_seconds_bucket{container=\"web\",le=\"+Inf\"} 4\n"
			"shield_hook_duration_seconds_sum{container=\"web\"} 3.34375\n"
			"shield_hook_duration_seconds_count{container=\"web\"} 4\n");
	metrics_buf_free(&b);

	/* No observations and no labels: zeros, le alone in the braces. */
	memset(&h, 0, sizeof(h));
	metrics_buf_init(&b, 1 << 20);
	metrics_hist_write(&b, "h", NULL, 0, &h, bounds, 1);
	assert_string_equal(b.data, "h_bucket{le=\"0.0625\"} 0\nh_bucket{le=\"+Inf\"} 0\n"
				    "h_sum 0\nh_count 0\n");
	metrics_buf_free(&b);
}

/* The buffer's cap is hard: the first overflow sticks as -E2BIG. */
static void test_buf_cap(void **state)
{
	struct metrics_buf b;

	(void)state;
	metrics_buf_init(&b, 64);
	metrics_sample_u64(&b, "short", NULL, 0, 1);
	assert_int_equal(b.error, 0);
	for (int i = 0; i < 10; i++)
		metrics_sample_u64(&b, "a_rather_long_metric_name", NULL, 0, 1);
	assert_int_equal(b.error, -E2BIG);
	assert_true(b.len < 64);
	metrics_sample_u64(&b, "x", NULL, 0, 1);
	assert_int_equal(b.error, -E2BIG);
	metrics_buf_free(&b);
}

static void test_setup_ms(void **state)
{
	double ms = -1;

	(void)state;
	assert_int_equal(metrics_setup_ms("podman: mode up, 31 rules, 2 static elements, "
					  "verified; dnsmasq pid 4242; 12.5 ms",
					  &ms),
			 0);
	assert_true(ms == 12.5);
	assert_int_equal(metrics_setup_ms("attach: mode block; 0.0 ms", &ms), 0);
	assert_true(ms == 0);
	assert_int_equal(metrics_setup_ms("x; 1234 ms", &ms), 0);
	assert_true(ms == 1234);
	/* Not the launch's form. */
	assert_int_equal(metrics_setup_ms(NULL, &ms), -EINVAL);
	assert_int_equal(metrics_setup_ms("", &ms), -EINVAL);
	assert_int_equal(metrics_setup_ms("12.5 ms", &ms), -EINVAL);
	assert_int_equal(metrics_setup_ms("x; ms", &ms), -EINVAL);
	assert_int_equal(metrics_setup_ms("x;12.5 ms", &ms), -EINVAL);
	assert_int_equal(metrics_setup_ms("x; -3 ms", &ms), -EINVAL);
	assert_int_equal(metrics_setup_ms("x; .5 ms", &ms), -EINVAL);
	assert_int_equal(metrics_setup_ms("x; 1.2.3 ms", &ms), -EINVAL);
	assert_int_equal(metrics_setup_ms("x; 12.5 s", &ms), -EINVAL);
	assert_int_equal(metrics_setup_ms("x; 12.5 ms trailing", &ms), -EINVAL);
}

/* Status of a complete request, or 0 when it needs more bytes. */
static int route(const char *req, size_t max, bool *head)
{
	struct metrics_http_req out;
	int r = metrics_http_route(req, strlen(req), max, &out);

	if (r == 0)
		return 0;
	assert_int_equal(r, 1);
	if (head)
		*head = out.head;
	return out.status;
}

static void test_http_route(void **state)
{
	char big[300];
	bool head = true;

	(void)state;
	assert_int_equal(
		route("GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", 8192, &head), 200);
	assert_false(head);
	assert_int_equal(route("HEAD /metrics HTTP/1.0\r\n\r\n", 8192, &head), 200);
	assert_true(head);
	/* Bare LFs, a query string, the absolute form. */
	assert_int_equal(route("GET /metrics?x=1 HTTP/1.1\nHost: x\n\n", 8192, NULL), 200);
	assert_int_equal(route("GET http://127.0.0.1:9464/metrics HTTP/1.1\r\n\r\n", 8192, NULL),
			 200);
	/* Incomplete: wait. */
	assert_int_equal(route("GET /metrics HTTP/1.1\r\nHost: x\r\n", 8192, NULL), 0);
	assert_int_equal(route("GET /met", 8192, NULL), 0);
	assert_int_equal(route("", 8192, NULL), 0);
	/* Other paths, methods, versions, garbage. */
	assert_int_equal(route("GET / HTTP/1.1\r\n\r\n", 8192, NULL), 404);
	assert_int_equal(route("GET /metricsx HTTP/1.1\r\n\r\n", 8192, NULL), 404);
	assert_int_equal(route("GET /metrics/ HTTP/1.1\r\n\r\n", 8192, NULL), 404);
	assert_int_equal(route("GET http://host HTTP/1.1\r\n\r\n", 8192, NULL), 404);
	assert_int_equal(route("POST /metrics HTTP/1.1\r\n\r\n", 8192, NULL), 405);
	assert_int_equal(route("DELETE /metrics HTTP/1.1\r\n\r\n", 8192, NULL), 405);
	assert_int_equal(route("get /metrics HTTP/1.1\r\n\r\n", 8192, NULL), 405);
	assert_int_equal(route("GET /metrics HTTP/2.0\r\n\r\n", 8192, NULL), 505);
	assert_int_equal(route("GET /metrics HTTP/1.10\r\n\r\n", 8192, NULL), 505);
	assert_int_equal(route("GET /metrics\r\n\r\n", 8192, NULL), 400);
	assert_int_equal(route("GET  /metrics HTTP/1.1\r\n\r\n", 8192, NULL), 400);
	assert_int_equal(route("G(T /metrics HTTP/1.1\r\n\r\n", 8192, NULL), 400);
	assert_int_equal(route("GET /metrics FTP/1.1\r\n\r\n", 8192, NULL), 400);
	assert_int_equal(route("\r\n\r\n", 8192, NULL), 400);
	/* Too long: once max bytes hold no end of the header, or it ends past max. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(route(big, 256, NULL), 431);
	assert_int_equal(route(big, 512, NULL), 0);
	assert_int_equal(route("GET /metrics HTTP/1.1\r\nX: 0123456789\r\n\r\n", 30, NULL), 431);
}

static int listen_parse(const char *s, bool *loopback, int *family, unsigned *port)
{
	struct shield_error err = {0};
	struct sockaddr_storage ss;
	socklen_t len = 0;
	int r = metrics_listen_parse(s, &ss, &len, loopback, &err);

	if (r < 0) {
		assert_non_null(strstr(err.msg, s));
		return r;
	}
	*family = ss.ss_family;
	*port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	assert_int_equal(len, ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
						      : sizeof(struct sockaddr_in6));
	return 0;
}

static void test_listen_parse(void **state)
{
	bool lo;
	int fam;
	unsigned port;

	(void)state;
	assert_int_equal(listen_parse("127.0.0.1:9464", &lo, &fam, &port), 0);
	assert_true(lo);
	assert_int_equal(fam, AF_INET);
	assert_int_equal(port, 9464);
	assert_int_equal(listen_parse("127.1.2.3:0", &lo, &fam, &port), 0);
	assert_true(lo);
	assert_int_equal(port, 0);
	assert_int_equal(listen_parse("[::1]:65535", &lo, &fam, &port), 0);
	assert_true(lo);
	assert_int_equal(fam, AF_INET6);
	assert_int_equal(port, 65535);
	assert_int_equal(listen_parse("[::ffff:127.0.0.1]:80", &lo, &fam, &port), 0);
	assert_true(lo);
	assert_int_equal(listen_parse("0.0.0.0:9464", &lo, &fam, &port), 0);
	assert_false(lo);
	assert_int_equal(listen_parse("198.18.0.1:9464", &lo, &fam, &port), 0);
	assert_false(lo);
	assert_int_equal(listen_parse("[::]:9464", &lo, &fam, &port), 0);
	assert_false(lo);
	assert_int_equal(listen_parse("[::ffff:10.0.0.1]:1", &lo, &fam, &port), 0);
	assert_false(lo);
	/* Refused, each naming the value. */
	assert_int_equal(listen_parse("localhost:9464", &lo, &fam, &port), -EINVAL);
	assert_int_equal(listen_parse("127.0.0.1", &lo, &fam, &port), -EINVAL);
	assert_int_equal(listen_parse("127.0.0.1:", &lo, &fam, &port), -EINVAL);
	assert_int_equal(listen_parse("127.0.0.1:65536", &lo, &fam, &port), -EINVAL);
	assert_int_equal(listen_parse("127.0.0.1:-1", &lo, &fam, &port), -EINVAL);
	assert_int_equal(listen_parse("127.0.0.1:80x", &lo, &fam, &port), -EINVAL);
	assert_int_equal(listen_parse(":9464", &lo, &fam, &port), -EINVAL);
	assert_int_equal(listen_parse("::1:9464", &lo, &fam, &port), -EINVAL);
	assert_int_equal(listen_parse("[::1]9464", &lo, &fam, &port), -EINVAL);
	assert_int_equal(listen_parse("[127.0.0.1]:9464", &lo, &fam, &port), -EINVAL);
	assert_int_equal(listen_parse("[]:9464", &lo, &fam, &port), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_family_and_samples), cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_label_utf8),	   cmocka_unit_test(test_doubles),
		cmocka_unit_test(test_histogram),	   cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_setup_ms),	   cmocka_unit_test(test_http_route),
		cmocka_unit_test(test_listen_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
