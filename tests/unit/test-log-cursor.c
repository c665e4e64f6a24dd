/* SPDX-License-Identifier: Apache-2.0 */
/* log-cursor: the persisted tail position of dnsmasq.log and the resume decision. */
#include "unit-helpers.h"

#include <errno.h>

#include "shield/log-cursor.h"

static void test_hash(void **state)
{
	(void)state;
	/* FNV-1a 64 reference values. */
	assert_int_equal(log_cursor_hash("", 0), 0xcbf29ce484222325ULL);
	assert_int_equal(log_cursor_hash("a", 1), 0xaf63dc4c8601ec8cULL);
	assert_int_not_equal(log_cursor_hash("ab", 2), log_cursor_hash("ba", 2));
}

/* Field by field: the struct has padding. */
static void assert_same_cursor(const struct log_cursor *a, const struct log_cursor *b)
{
	assert_int_equal(a->dev, b->dev);
	assert_int_equal(a->ino, b->ino);
	assert_int_equal(a->offset, b->offset);
	assert_int_equal(a->tail_len, b->tail_len);
	assert_int_equal(a->tail_hash, b->tail_hash);
	assert_int_equal(a->collapse, b->collapse);
	assert_int_equal(a->lines, b->lines);
	assert_int_equal(a->has_batch, b->has_batch);
	if (a->has_batch)
		assert_memory_equal(&a->batch, &b->batch, sizeof(a->batch));
}

static void test_format_parse(void **state)
{
	struct log_cursor c = {.dev = 2049, .ino = 1234567}, back;
	struct shield_error err = {0};
	const char *line = "Nov 25 22:51:20 dnsmasq[1]: 1 127.0.0.1/1 query[A] a.test from x\n";
	char text[LOG_CURSOR_TEXT_MAX];
	int n;

	(void)state;
	log_cursor_advance(&c, 98765, line, strlen(line));
	assert_int_equal(c.offset, 98765);
	assert_int_equal(c.tail_len, LOG_CURSOR_TAIL_MAX);
	assert_int_equal(c.tail_hash, log_cursor_hash(line + strlen(line) - LOG_CURSOR_TAIL_MAX,
						      LOG_CURSOR_TAIL_MAX));
	n = log_cursor_format(&c, text, sizeof(text));
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(text));
	assert_non_null(strstr(text, "shield-log-cursor 1\ndev 2049\nino 1234567\noffset 98765\n"
				     "tail 64 "));
	assert_int_equal(log_cursor_parse(text, (size_t)n, &back, &err), 0);
	assert_same_cursor(&back, &c);
	/* No counter, no batch: no such lines. */
	assert_null(strstr(text, "lines"));
	assert_null(strstr(text, "batch"));
	/* Without the final newline too. */
	assert_int_equal(log_cursor_parse(text, (size_t)n - 1, &back, &err), 0);
	assert_int_equal(back.tail_hash, c.tail_hash);
	/* Too small a buffer. */
	assert_int_equal(log_cursor_format(&c, text, 20), -ENOSPC);

	/* A short first line: only the bytes that exist before the offset. */
	log_cursor_advance(&c, 3, "ab\n", 3);
	assert_int_equal(c.tail_len, 3);
	log_cursor_advance(&c, 2, "xab\n", 4);
	assert_int_equal(c.tail_len, 2);
	assert_int_equal(c.tail_hash, log_cursor_hash("b\n", 2));
}

static void expect_parse_error(const char *text, int code, const char *needle)
{
	struct shield_error err = {0};
	struct log_cursor c;

	assert_int_equal(log_cursor_parse(text, strlen(text), &c, &err), code);
	assert_msg_contains(&err, needle);
	assert_msg_printable(&err);
}

static void test_parse_errors(void **state)
{
	char big[LOG_CURSOR_TEXT_MAX + 2];

	(void)state;
	expect_parse_error("", -EINVAL, "first line");
	expect_parse_error("shield-log-cursor 2\n", -EINVAL, "first line");
	expect_parse_error("shield-log-cursor 1\n", -EINVAL, "line 2 must be \"dev NUMBER\"");
	expect_parse_error("shield-log-cursor 1\ndev -1\n", -EINVAL, "\"dev -1\"");
	expect_parse_error("shield-log-cursor 1\ndev 1\nino 01\n", -EINVAL, "line 3");
	expect_parse_error("shield-log-cursor 1\ndev 1\nino 1\noffset 99999999999999999999\n",
			   -EINVAL, "line 4");
	expect_parse_error("shield-log-cursor 1\ndev 1\nino 1\noffset 5\ntail 5 abc\n", -EINVAL,
			   "line 5");
	expect_parse_error("shield-log-cursor 1\ndev 1\nino 1\noffset 5\ntail 5 "
			   "0123456789ABCDEF\n",
			   -EINVAL, "line 5");
	expect_parse_error("shield-log-cursor 1\ndev 1\nino 1\noffset 5\ntail 6 "
			   "0123456789abcdef\n",
			   -EINVAL, "exceeds");
	expect_parse_error("shield-log-cursor 1\ndev 1\nino 1\noffset 500\ntail 65 "
			   "0123456789abcdef\n",
			   -EINVAL, "exceeds");
	expect_parse_error("shield-log-cursor 1\ndev 1\nino 1\noffset 5\ntail 5 "
			   "0123456789abcdef\nmore\n",
			   -EINVAL, "line 6 must be \"collapse\", \"lines\" or \"batch\"");
	expect_parse_error("shield-log-cursor 1\ndev 1\nino 1\noffset 5\ntail 5 "
			   "0123456789abcdef\ncollapsed 4\n",
			   -EINVAL, "got \"collapsed 4\"");
	expect_parse_error("shield-log-cursor 1\ndev 1\nino 1\noffset 5\ntail 5 "
			   "0123456789abcdef\ncollapse 6\n",
			   -EINVAL, "line 6");
	expect_parse_error("shield-log-cursor 1\ndev 1\nino 1\noffset 5\ntail 5 "
			   "0123456789abcdef\ncollapse 0\n",
			   -EINVAL, "line 6");
	expect_parse_error("shield-log-cursor 1\ndev 1\nino 1\noffset 5\ntail 5 "
			   "0123456789abcdef\ncollapse 4\nx\n",
			   -EINVAL, "line 7 must be");
	expect_parse_error("shield-log-cursor 1\ndev 1 \nino 1\n", -EINVAL, "line 2");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_parse_error(big, -E2BIG, "longer than");
}

/*
 * nftsetd's counter and batch mark are part of the one format: written
 * after collapse, read back, and refused when malformed, repeated or out of
 * order.
 */
static void test_lines_batch(void **state)
{
	static const char head[] = "shield-log-cursor 1\ndev 1\nino 1\noffset 500\ntail 4 "
				   "0123456789abcdef\n";
	struct log_cursor c = {.dev = 2049, .ino = 77}, back;
	struct shield_error err = {0};
	char text[LOG_CURSOR_TEXT_MAX], bad[LOG_CURSOR_TEXT_MAX];
	int n;

	(void)state;
	log_cursor_advance(&c, 90000, "x.test\n", 7);
	c.collapse = 4096;
	c.lines = 1500;
	c.has_batch = true;
	c.batch = (struct log_cursor_batch){
		.offset_before = 80000,
		.lines_before = 1400,
		.ev_dev = 2049,
		.ev_ino = 7654,
		.ev_start = 4096,
		.ev_end = 8192,
	};
	n = log_cursor_format(&c, text, sizeof(text));
	assert_true(n > 0);
	assert_non_null(strstr(text, "\ncollapse 4096\nlines 1500\n"
				     "batch 80000 1400 2049 7654 4096 8192\n"));
	assert_int_equal(log_cursor_parse(text, (size_t)n, &back, &err), 0);
	assert_same_cursor(&back, &c);

	/* Each of them alone, and the largest values fit the text. */
	c.collapse = 0;
	c.has_batch = false;
	n = log_cursor_format(&c, text, sizeof(text));
	assert_int_equal(log_cursor_parse(text, (size_t)n, &back, &err), 0);
	assert_same_cursor(&back, &c);
	c.lines = 0;
	c.has_batch = true;
	n = log_cursor_format(&c, text, sizeof(text));
	assert_int_equal(log_cursor_parse(text, (size_t)n, &back, &err), 0);
	assert_same_cursor(&back, &c);
	c = (struct log_cursor){UINT64_MAX,
				UINT64_MAX,
				UINT64_MAX,
				64,
				UINT64_MAX,
				UINT64_MAX,
				UINT64_MAX,
				true,
				(struct log_cursor_batch){UINT64_MAX, UINT64_MAX, UINT64_MAX,
							  UINT64_MAX, UINT64_MAX, UINT64_MAX}};
	n = log_cursor_format(&c, text, sizeof(text));
	assert_true(n > 0);
	assert_int_equal(log_cursor_parse(text, (size_t)n, &back, &err), 0);
	assert_same_cursor(&back, &c);

	/* A counter of 0 may be written out. */
	snprintf(bad, sizeof(bad), "%slines 0\n", head);
	assert_int_equal(log_cursor_parse(bad, strlen(bad), &back, &err), 0);
	assert_int_equal(back.lines, 0);

	snprintf(bad, sizeof(bad), "%slines x\n", head);
	expect_parse_error(bad, -EINVAL, "line 6 must be \"lines NUMBER\"");
	snprintf(bad, sizeof(bad), "%scollapse 5\nlines -1\n", head);
	expect_parse_error(bad, -EINVAL, "line 7 must be \"lines NUMBER\"");
	snprintf(bad, sizeof(bad), "%slines 3\nlines 3\n", head);
	expect_parse_error(bad, -EINVAL, "line 7 must be \"collapse\", \"lines\" or");
	snprintf(bad, sizeof(bad), "%slines 3\ncollapse 5\n", head);
	expect_parse_error(bad, -EINVAL, "in this order");
	snprintf(bad, sizeof(bad), "%sbatch 1 2 3 4 5 6\nlines 3\n", head);
	expect_parse_error(bad, -EINVAL, "line 7 must be");
	snprintf(bad, sizeof(bad), "%sbatch 1 2 3 4 5\n", head);
	expect_parse_error(bad, -EINVAL, "line 6 must be \"batch OFFSET LINES DEV INO START END\"");
	snprintf(bad, sizeof(bad), "%sbatch 1 2 3 4 5 6 7\n", head);
	expect_parse_error(bad, -EINVAL, "line 6 must be \"batch");
	snprintf(bad, sizeof(bad), "%sbatch 1 2 3 4  6\n", head);
	expect_parse_error(bad, -EINVAL, "line 6 must be \"batch");
	snprintf(bad, sizeof(bad), "%sbatch 1 2 3 4 5 6 \n", head);
	expect_parse_error(bad, -EINVAL, "line 6 must be \"batch");
	snprintf(bad, sizeof(bad), "%slines 3\nbatch 1 2 3 4 9 8\n", head);
	expect_parse_error(bad, -EINVAL,
			   "line 7 must be \"batch OFFSET LINES DEV INO START END\" "
			   "(START up to END)");
	snprintf(bad, sizeof(bad), "%slines 3\n\n", head);
	expect_parse_error(bad, -EINVAL, "line 7 must be");

	/* What the first nftsetd wrote (its own lines after log-cursor's) reads the same. */
	snprintf(bad, sizeof(bad), "%scollapse 100\nlines 42\nbatch 400 40 9 8 0 120\n", head);
	assert_int_equal(log_cursor_parse(bad, strlen(bad), &back, &err), 0);
	assert_int_equal(back.collapse, 100);
	assert_int_equal(back.lines, 42);
	assert_true(back.has_batch);
	assert_int_equal(back.batch.offset_before, 400);
	assert_int_equal(back.batch.ev_end, 120);
}

static void test_decide(void **state)
{
	const char *tail = "reply a.test is 1.2.3.4\n";
	struct log_cursor c = {.dev = 1, .ino = 10};
	struct log_file_state f = {.dev = 1, .ino = 10, .size = 1000};
	struct log_cursor_decision d;

	(void)state;
	log_cursor_advance(&c, 500, tail, strlen(tail));
	f.tail_hash = c.tail_hash;

	/* No cursor: from the start. */
	log_cursor_decide(NULL, &f, false, &d);
	assert_int_equal(d.action, LOG_CURSOR_FRESH);
	assert_int_equal(d.offset, 0);
	assert_false(d.gap);

	/* Grown, same bytes before the offset. */
	log_cursor_decide(&c, &f, false, &d);
	assert_int_equal(d.action, LOG_CURSOR_CONTINUE);
	assert_int_equal(d.offset, 500);
	assert_false(d.gap);
	assert_string_equal(log_cursor_action_name(d.action), "continue");

	/* Unchanged (size == offset). */
	f.size = 500;
	log_cursor_decide(&c, &f, false, &d);
	assert_int_equal(d.action, LOG_CURSOR_CONTINUE);

	/* copytruncate: shorter than the offset. */
	f.size = 100;
	log_cursor_decide(&c, &f, true, &d);
	assert_int_equal(d.action, LOG_CURSOR_TRUNCATED);
	assert_int_equal(d.offset, 0);
	assert_true(d.gap);

	/* Truncated and grown past the offset again: other bytes there. */
	f.size = 4000;
	f.tail_hash = log_cursor_hash("something else\n", 15);
	log_cursor_decide(&c, &f, true, &d);
	assert_int_equal(d.action, LOG_CURSOR_TRUNCATED);
	assert_true(d.gap);

	/* Renamed away and recreated: drain the old one if it is still open. */
	f.ino = 11;
	log_cursor_decide(&c, &f, true, &d);
	assert_int_equal(d.action, LOG_CURSOR_ROTATED);
	assert_int_equal(d.offset, 0);
	assert_false(d.gap);
	/* At start-up the old file cannot be drained. */
	log_cursor_decide(&c, &f, false, &d);
	assert_int_equal(d.action, LOG_CURSOR_ROTATED);
	assert_true(d.gap);
	/* Another device is another file. */
	f.ino = 10;
	f.dev = 2;
	log_cursor_decide(&c, &f, true, &d);
	assert_int_equal(d.action, LOG_CURSOR_ROTATED);

	/* A cursor at 0 (nothing consumed) hashes nothing and continues. */
	memset(&c, 0, sizeof(c));
	c.dev = 2;
	c.ino = 10;
	f.size = 0;
	f.tail_hash = 12345;
	log_cursor_decide(&c, &f, false, &d);
	assert_int_equal(d.action, LOG_CURSOR_CONTINUE);
	assert_int_equal(d.offset, 0);
}

/*
 * nftsetd's own rotation cuts N bytes off the front (same inode): the
 * cursor announces it first, so a crash before or after the cut resumes at
 * the right byte, neither losing nor repeating a line.
 */
static void test_collapse(void **state)
{
	const char *tail = "reply a.test is 1.2.3.4\n";
	struct log_cursor c = {.dev = 1, .ino = 10}, back;
	struct log_file_state f = {.dev = 1, .ino = 10};
	struct shield_error err = {0};
	struct log_cursor_decision d;
	char text[LOG_CURSOR_TEXT_MAX];
	int n;

	(void)state;
	log_cursor_advance(&c, 70000, tail, strlen(tail));
	c.collapse = 65536;
	n = log_cursor_format(&c, text, sizeof(text));
	assert_true(n > 0);
	assert_non_null(strstr(text, "\ncollapse 65536\n"));
	assert_int_equal(log_cursor_parse(text, (size_t)n, &back, &err), 0);
	assert_same_cursor(&back, &c);

	/* Crash before the cut: the tail is still at the offset. */
	f.size = 80000;
	f.tail_hash = c.tail_hash;
	f.tail_hash_collapsed = 1;
	log_cursor_decide(&c, &f, false, &d);
	assert_int_equal(d.action, LOG_CURSOR_CONTINUE);
	assert_int_equal(d.offset, 70000);
	assert_false(d.collapsed);

	/* Crash after the cut: the tail now ends N bytes earlier. */
	f.size = 80000 - 65536;
	f.tail_hash = 1;
	f.tail_hash_collapsed = c.tail_hash;
	log_cursor_decide(&c, &f, false, &d);
	assert_int_equal(d.action, LOG_CURSOR_CONTINUE);
	assert_int_equal(d.offset, 70000 - 65536);
	assert_true(d.collapsed);
	assert_false(d.gap);

	/* Neither: truncated under us. */
	f.tail_hash_collapsed = 2;
	log_cursor_decide(&c, &f, false, &d);
	assert_int_equal(d.action, LOG_CURSOR_TRUNCATED);
	assert_true(d.gap);
	f.size = 10;
	f.tail_hash_collapsed = c.tail_hash;
	log_cursor_decide(&c, &f, false, &d);
	assert_int_equal(d.action, LOG_CURSOR_TRUNCATED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash),	     cmocka_unit_test(test_format_parse),
		cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_lines_batch),
		cmocka_unit_test(test_decide),	     cmocka_unit_test(test_collapse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
