/* SPDX-License-Identifier: Apache-2.0 */
/* audit-log: reading audit.jsonl back, timestamps, the chunked reader and the merge order. */
#include "unit-helpers.h"

#include <errno.h>
#include <stdint.h>

#include "shield/audit-log.h"
#include "shield/audit.h"

#define S(x) x, strlen(x)

static int64_t ts(const char *s)
{
	int64_t v = 0;

	if (audit_ts_parse(s, strlen(s), &v) != 0)
		fail_msg("timestamp \"%s\" refused", s);
	return v;
}

static void test_ts_forms(void **state)
{
	(void)state;
	assert_int_equal(ts("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(ts("1970-01-01T00:00:01+00:00"), INT64_C(1000000000));
	/* shield's own form, and terok-shield's (Python isoformat, microseconds). */
	assert_int_equal(ts("2026-11-25T21:13:46.123+00:00"), INT64_C(1795641226123000000));
	assert_int_equal(ts("2026-11-25T21:13:46.123456+00:00"), INT64_C(1795641226123456000));
	assert_int_equal(ts("2026-11-25T21:13:46.123456789Z"), INT64_C(1795641226123456789));
	/* Offsets are honoured: the same instant three ways. */
	assert_int_equal(ts("2026-11-25T22:13:46.5+01:00"), ts("2026-11-25T21:13:46.5Z"));
	assert_int_equal(ts("2026-11-25T19:43:46.5-0130"), ts("2026-11-25T21:13:46.5Z"));
	/* No offset: UTC; a space for the 'T'. */
	assert_int_equal(ts("2026-11-25 21:13:46"), ts("2026-11-25T21:13:46+00:00"));
	/* Leap years and month ends. */
	assert_int_equal(ts("2024-03-01T00:00:00Z") - ts("2024-02-28T00:00:00Z"),
			 INT64_C(2) * 86400 * 1000000000);
	assert_int_equal(ts("2100-03-01T00:00:00Z") - ts("2100-02-28T00:00:00Z"),
			 INT64_C(1) * 86400 * 1000000000);
	assert_int_equal(ts("2000-03-01T00:00:00Z") - ts("2000-02-28T00:00:00Z"),
			 INT64_C(2) * 86400 * 1000000000);
	assert_int_equal(ts("2261-12-31T23:59:59Z"), INT64_C(9214646399000000000));
}

static void test_ts_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"2026",
		"2026-11-25",
		"2026-11-25T21:13",
		"2026-11-25T21:13:46+",
		"2026-11-25T21:13:46+1",
		"2026-11-25T21:13:46+01:6",
		"2026-11-25T21:13:46+24:00",
		"2026-11-25T21:13:46.",
		"2026-11-25T21:13:46.1234567891Z",
		"2026-11-25T21:13:46Zjunk",
		"2026-13-01T00:00:00Z",
		"2026-00-01T00:00:00Z",
		"2026-02-29T00:00:00Z",
		"2026-04-31T00:00:00Z",
		"2026-11-25T24:00:00Z",
		"2026-11-25T23:60:00Z",
		"1969-12-31T23:59:59Z",
		"2262-01-01T00:00:00Z",
		"2026-11-25X21:13:46Z",
		"2026/11/25T21:13:46Z",
		"+026-11-25T21:13:46Z",
		"2026-11-25T21:13:46 Z",
	};
	int64_t v = 42;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (audit_ts_parse(bad[i], strlen(bad[i]), &v) != -EINVAL)
			fail_msg("timestamp \"%s\" was accepted", bad[i]);
	/* The length bounds the parse: a valid prefix of a longer buffer. */
	assert_int_equal(audit_ts_parse("2026-11-25T21:13:46Zjunk", 20, &v), 0);
	assert_int_equal(v, ts("2026-11-25T21:13:46Z"));
}

static void test_entry_parse(void **state)
{
	struct shield_error err = {0};
	struct audit_entry e;

	(void)state;
	/* What audit_append writes. */
	assert_int_equal(
		audit_entry_parse(
			S("{\"ts\":\"2026-11-25T21:13:46.123+00:00\",\"container\":\"web\","
			  "\"action\":\"deny\",\"dest\":\"198.18.0.7\",\"detail\":\"why\"}"),
			&e, &err),
		0);
	assert_string_equal(e.ts, "2026-11-25T21:13:46.123+00:00");
	assert_int_equal(e.ts_ns, ts("2026-11-25T21:13:46.123Z"));
	assert_string_equal(e.container, "web");
	assert_string_equal(e.action, "deny");
	assert_string_equal(e.dest, "198.18.0.7");
	assert_string_equal(e.detail, "why");
	audit_entry_free(&e);

	/* Optional fields absent or null; unknown keys ignored; a non-string kept as JSON. */
	assert_int_equal(
		audit_entry_parse(S("{\"ts\":\"2026-11-25T21:13:46Z\",\"action\":\"setup\","
				    "\"dest\":null,\"detail\":{\"n\":[1,2]},\"x\":1}"),
				  &e, &err),
		0);
	assert_null(e.container);
	assert_null(e.dest);
	assert_string_equal(e.detail, "{\"n\":[1,2]}");
	audit_entry_free(&e);
}

static void test_entry_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[]",
		"\"x\"",
		"{}",
		"{\"ts\":\"2026-11-25T21:13:46Z\"}",
		"{\"action\":\"setup\"}",
		"{\"ts\":1,\"action\":\"setup\"}",
		"{\"ts\":\"2026-11-25T21:13:46Z\",\"action\":2}",
		"{\"ts\":\"yesterday\",\"action\":\"setup\"}",
		"{\"ts\":\"2026-11-25T21:13:46Z\",\"action\":\"a\",\"action\":\"b\"}",
		"{\"ts\":\"2026-11-25T21:13:46Z\",\"action\":\"a\\u0000b\"}",
		"{\"ts\":\"2026-11-25T21:13:46Z\",\"action\":\"setup\"} trailing",
	};
	struct shield_error err = {0};
	struct audit_entry e;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		shield_error_clear(&err);
		if (audit_entry_parse(bad[i], strlen(bad[i]), &e, &err) != -EINVAL)
			fail_msg("line \"%s\" was accepted", bad[i]);
		assert_true(err.msg[0] != '\0');
		assert_null(e.ts);
		assert_null(e.action);
	}
	/* Bytes after the given length are not part of the line. */
	assert_int_equal(
		audit_entry_parse("{\"ts\":\"2026-11-25T21:13:46Z\",\"action\":\"x\"}GARBAGE", 42,
				  &e, &err),
		0);
	audit_entry_free(&e);
}

#define LINE(t, c, a) "{\"ts\":\"" t "\",\"container\":\"" c "\",\"action\":\"" a "\"}\n"

/* Feeding a stream in any split gives the same entries, and counts the malformed lines. */
static void test_reader_splits(void **state)
{
	const char *text =
		LINE("2026-01-01T00:00:01Z", "a",
		     "one") "garbage\n"
			    "\n" LINE("2026-01-01T00:00:02Z", "a", "two") "{\"ts\":1}\n" LINE(
				    "2026-01-01T00:00:03Z", "a", "three");
	size_t len = strlen(text);

	(void)state;
	for (size_t chunk = 1; chunk <= len; chunk++) {
		struct audit_reader rd;
		struct audit_log log = {0};

		audit_reader_init(&rd, 7);
		for (size_t off = 0; off < len; off += chunk)
			assert_int_equal(audit_reader_feed(&rd, text + off,
							   off + chunk > len ? len - off : chunk,
							   &log),
					 0);
		assert_int_equal(audit_reader_finish(&rd, &log), 0);
		assert_int_equal(log.n, 3);
		assert_int_equal(rd.malformed, 2);
		assert_string_equal(log.v[0].action, "one");
		assert_string_equal(log.v[1].action, "two");
		assert_string_equal(log.v[2].action, "three");
		assert_int_equal(log.v[2].source, 7);
		/* seq counts lines, so it orders entries within the log. */
		assert_true(log.v[0].seq < log.v[1].seq && log.v[1].seq < log.v[2].seq);
		audit_reader_free(&rd);
		audit_log_free(&log);
	}
}

/* A trailing line without its newline waits for the next feed, and finish takes it. */
static void test_reader_partial(void **state)
{
	struct audit_reader rd;
	struct audit_log log = {0};
	const char *line = LINE("2026-01-01T00:00:01Z", "a", "one");

	(void)state;
	audit_reader_init(&rd, 0);
	assert_int_equal(audit_reader_feed(&rd, line, strlen(line) - 1, &log), 0);
	assert_int_equal(log.n, 0);
	assert_int_equal(audit_reader_feed(&rd, "\n", 1, &log), 0);
	assert_int_equal(log.n, 1);
	assert_int_equal(audit_reader_feed(&rd, line, strlen(line) - 1, &log), 0);
	assert_int_equal(audit_reader_finish(&rd, &log), 0);
	assert_int_equal(log.n, 2);
	/* A cut-off line at the end counts as malformed. */
	assert_int_equal(audit_reader_feed(&rd, line, 10, &log), 0);
	assert_int_equal(audit_reader_finish(&rd, &log), 0);
	assert_int_equal(log.n, 2);
	assert_int_equal(rd.malformed, 1);
	audit_reader_free(&rd);
	audit_log_free(&log);
}

/* A line longer than AUDIT_LINE_MAX is dropped whole, however it arrives; the next line is read. */
static void test_reader_long_line(void **state)
{
	size_t big = AUDIT_LINE_MAX + 100;
	char *junk = malloc(big);
	const char *next = LINE("2026-01-01T00:00:01Z", "a", "after");

	(void)state;
	assert_non_null(junk);
	memset(junk, 'x', big);
	for (size_t chunk = 1000; chunk <= big; chunk += 7000) {
		struct audit_reader rd;
		struct audit_log log = {0};

		audit_reader_init(&rd, 0);
		for (size_t off = 0; off < big; off += chunk)
			assert_int_equal(audit_reader_feed(&rd, junk + off,
							   off + chunk > big ? big - off : chunk,
							   &log),
					 0);
		assert_true(rd.len <= AUDIT_LINE_MAX);
		assert_int_equal(audit_reader_feed(&rd, "\n", 1, &log), 0);
		assert_int_equal(audit_reader_feed(&rd, next, strlen(next), &log), 0);
		assert_int_equal(log.n, 1);
		assert_string_equal(log.v[0].action, "after");
		assert_int_equal(rd.malformed, 1);
		audit_reader_free(&rd);
		audit_log_free(&log);
	}
	/* Unterminated at the end: still counted once. */
	{
		struct audit_reader rd;
		struct audit_log log = {0};

		audit_reader_init(&rd, 0);
		assert_int_equal(audit_reader_feed(&rd, junk, big, &log), 0);
		assert_int_equal(audit_reader_finish(&rd, &log), 0);
		assert_int_equal(rd.malformed, 1);
		assert_int_equal(log.n, 0);
		audit_reader_free(&rd);
	}
	free(junk);
}

/* A read that starts mid-file drops the partial first line without counting it. */
static void test_reader_skip_first(void **state)
{
	struct audit_reader rd;
	struct audit_log log = {0};
	const char *text =
		"tainer\":\"a\",\"action\":\"x\"}\n" LINE("2026-01-01T00:00:01Z", "a", "whole");

	(void)state;
	audit_reader_init(&rd, 0);
	audit_reader_skip_to_next_line(&rd);
	assert_int_equal(audit_reader_feed(&rd, text, strlen(text), &log), 0);
	assert_int_equal(log.n, 1);
	assert_string_equal(log.v[0].action, "whole");
	assert_int_equal(rd.malformed, 0);
	audit_reader_free(&rd);
	audit_log_free(&log);
}

/* Two logs merged: time order (offsets honoured), equal times by source then position; last N. */
static void test_merge_order(void **state)
{
	const char *a = LINE("2026-01-01T00:00:01Z", "a", "a1")
		LINE("2026-01-01T00:00:05Z", "a", "a2") LINE("2026-01-01T00:00:05Z", "a", "a3")
			LINE("2026-01-01T00:00:09Z", "a", "a4");
	/* b's clock writes +01:00; 01:00:03+01:00 is 00:00:03Z. An older line appended late. */
	const char *b = LINE("2026-01-01T01:00:03+01:00", "b", "b1")
		LINE("2026-01-01T00:00:05Z", "b", "b2") LINE("2026-01-01T00:00:02Z", "b", "b0");
	static const char *const want[] = {"a1", "b0", "b1", "a2", "a3", "b2", "a4"};
	struct audit_reader ra, rb;
	struct audit_log log = {0};

	(void)state;
	audit_reader_init(&ra, 0);
	audit_reader_init(&rb, 1);
	/* Fed in the "wrong" order: the sort alone decides. */
	assert_int_equal(audit_reader_feed(&rb, b, strlen(b), &log), 0);
	assert_int_equal(audit_reader_feed(&ra, a, strlen(a), &log), 0);
	audit_log_sort(&log);
	assert_int_equal(log.n, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		assert_string_equal(log.v[i].action, want[i]);
	audit_log_keep_last(&log, 3);
	assert_int_equal(log.n, 3);
	assert_string_equal(log.v[0].action, "a3");
	assert_string_equal(log.v[2].action, "a4");
	audit_log_keep_last(&log, 10);
	assert_int_equal(log.n, 3);
	audit_log_keep_last(&log, 0);
	assert_int_equal(log.n, 0);
	audit_reader_free(&ra);
	audit_reader_free(&rb);
	audit_log_free(&log);
}

/* audit_append's own lines read back. */
static void test_roundtrip(void **state)
{
	char root[UNIT_ROOT_MAX], path[UNIT_DIR_MAX];
	struct shield_error err = {0};
	struct audit_reader rd;
	struct audit_log log = {0};
	char *text;
	size_t len;
	FILE *f;
	int fd;

	(void)state;
	unit_mkdtemp(root);
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(audit_append(fd, "web", "allow", "example.com", NULL, &err), 0);
	assert_int_equal(audit_append(fd, "web", "deny", "198.18.0.7", "tab\there", &err), 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/" AUDIT_FILE, root);
	f = fopen(path, "r");
	assert_non_null(f);
	text = calloc(1, 4096);
	assert_non_null(text);
	len = fread(text, 1, 4095, f);
	fclose(f);
	audit_reader_init(&rd, 0);
	assert_int_equal(audit_reader_feed(&rd, text, len, &log), 0);
	assert_int_equal(rd.malformed, 0);
	assert_int_equal(log.n, 2);
	assert_string_equal(log.v[0].dest, "example.com");
	assert_null(log.v[0].detail);
	assert_string_equal(log.v[1].detail, "tab\there");
	assert_true(log.v[0].ts_ns <= log.v[1].ts_ns);
	free(text);
	audit_reader_free(&rd);
	audit_log_free(&log);
	unit_rmtree(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ts_forms),	 cmocka_unit_test(test_ts_refused),
		cmocka_unit_test(test_entry_parse),	 cmocka_unit_test(test_entry_refused),
		cmocka_unit_test(test_reader_splits),	 cmocka_unit_test(test_reader_partial),
		cmocka_unit_test(test_reader_long_line), cmocka_unit_test(test_reader_skip_first),
		cmocka_unit_test(test_merge_order),	 cmocka_unit_test(test_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
