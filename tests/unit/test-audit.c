/* SPDX-License-Identifier: Apache-2.0 */
/* audit: audit.jsonl lines and shield_timestamp. */
#include "unit-helpers.h"

#include <errno.h>
#include <regex.h>
#include <time.h>

#include <jansson.h>

#include "shield/audit.h"

struct fixture {
	char root[UNIT_ROOT_MAX]; /* a fresh 0700 temp dir: the bundle */
	int fd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	unit_mkdtemp(f->root);
	f->fd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->fd >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->fd);
	unit_rmtree(f->root);
	free(f);
	return 0;
}

/* ISO 8601 UTC with milliseconds, as terok-shield writes it. */
static void assert_timestamp(const char *ts)
{
	regex_t re;
	int r;

	assert_int_equal(regcomp(&re,
				 "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T"
				 "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\\.[0-9]{3}\\+00:00$",
				 REG_EXTENDED | REG_NOSUB),
			 0);
	r = regexec(&re, ts, 0, NULL, 0);
	regfree(&re);
	if (r != 0)
		fail_msg("timestamp \"%s\" is not YYYY-MM-DDTHH:MM:SS.mmm+00:00", ts);
}

/* The clock shield_timestamp reads (time() may use a coarser one that lags a tick). */
static time_t now_seconds(void)
{
	struct timespec ts;

	assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
	return ts.tv_sec;
}

/* Seconds since the epoch of a timestamp in that format. */
static time_t timestamp_seconds(const char *ts)
{
	struct tm tm = {0};
	int ms;

	assert_int_equal(sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3d", &tm.tm_year, &tm.tm_mon,
				&tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms),
			 7);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

/* The file's lines (malloc'd copy split in place); returns the count. */
static size_t split_lines(char *text, char *lines[], size_t max)
{
	size_t n = 0;
	char *p = text;

	while (*p) {
		char *nl = strchr(p, '\n');

		/* Every line, the last one too, ends in a newline. */
		assert_non_null(nl);
		*nl = '\0';
		assert_true(n < max);
		lines[n++] = p;
		p = nl + 1;
	}
	return n;
}

/* The line with its "ts" value replaced by TS (the rest must match exactly). */
static void assert_line(const char *line, const char *want)
{
	json_error_t jerr;
	json_t *o = json_loads(line, 0, &jerr);
	const char *ts;
	char *got;
	size_t tl;

	if (!o)
		fail_msg("line %s is not JSON: %s", line, jerr.text);
	assert_true(json_is_object(o));
	ts = json_string_value(json_object_get(o, "ts"));
	assert_non_null(ts);
	assert_timestamp(ts);
	tl = strlen(ts);
	/* Compare the raw text: keys in their order, compact, nothing else. */
	assert_true(strncmp(line, "{\"ts\":\"", 7) == 0);
	assert_true(strncmp(line + 7, ts, tl) == 0);
	got = malloc(strlen(line) + 8);
	assert_non_null(got);
	snprintf(got, strlen(line) + 8, "{\"ts\":\"TS%s", line + 7 + tl);
	assert_string_equal(got, want);
	free(got);
	json_decref(o);
}

static void test_timestamp(void **state)
{
	char buf[TIMESTAMP_MAX], buf2[TIMESTAMP_MAX];
	time_t before, after, t;

	(void)state;
	before = now_seconds();
	assert_ptr_equal(shield_timestamp(buf), buf);
	after = now_seconds();
	assert_timestamp(buf);
	assert_int_equal(strlen(buf), 29);
	t = timestamp_seconds(buf);
	assert_true(t >= before && t <= after);

	/* Later calls never go back (unless the clock is set, which a test does not do). */
	shield_timestamp(buf2);
	assert_timestamp(buf2);
	assert_true(strcmp(buf2, buf) >= 0);

	/* UTC whatever the local time zone is (a POSIX TZ five hours east, no tzdata needed). */
	{
		const char *tz = getenv("TZ");
		char *saved = tz ? strdup(tz) : NULL;

		assert_int_equal(setenv("TZ", "XST-5", 1), 0);
		tzset();
		before = now_seconds();
		shield_timestamp(buf);
		after = now_seconds();
		if (saved)
			setenv("TZ", saved, 1);
		else
			unsetenv("TZ");
		tzset();
		free(saved);
		assert_timestamp(buf);
		t = timestamp_seconds(buf);
		assert_true(t >= before && t <= after);
	}
}

static void test_append_lines(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	char *text, *lines[8];
	struct stat st;
	time_t before = now_seconds();

	assert_int_equal(audit_append(f->fd, "web-1", "setup", NULL, NULL, &err), 0);
	assert_int_equal(audit_append(f->fd, "web-1", "allowed", "93.184.216.34",
				      "example.com via dnsmasq", &err),
			 0);
	assert_int_equal(audit_append(f->fd, "web-1", "denied", "10.0.0.1", NULL, &err), 0);
	assert_int_equal(audit_append(f->fd, "web-1", "teardown", NULL, "poststop", &err), 0);

	assert_int_equal(fstatat(f->fd, AUDIT_FILE, &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);

	text = unit_read(f->root, AUDIT_FILE);
	assert_non_null(text);
	assert_int_equal(split_lines(text, lines, 8), 4);
	/* dest and detail appear only when given, after ts, container and action. */
	assert_line(lines[0], "{\"ts\":\"TS\",\"container\":\"web-1\",\"action\":\"setup\"}");
	assert_line(lines[1], "{\"ts\":\"TS\",\"container\":\"web-1\",\"action\":\"allowed\","
			      "\"dest\":\"93.184.216.34\",\"detail\":\"example.com via dnsmasq\"}");
	assert_line(lines[2], "{\"ts\":\"TS\",\"container\":\"web-1\",\"action\":\"denied\","
			      "\"dest\":\"10.0.0.1\"}");
	assert_line(lines[3], "{\"ts\":\"TS\",\"container\":\"web-1\",\"action\":\"teardown\","
			      "\"detail\":\"poststop\"}");
	/* The timestamps are now. */
	for (size_t i = 0; i < 4; i++) {
		json_t *o = json_loads(lines[i], 0, NULL);
		time_t t = timestamp_seconds(json_string_value(json_object_get(o, "ts")));

		assert_true(t >= before && t <= now_seconds());
		json_decref(o);
	}
	free(text);
}

/* Appending keeps what is there (terok-shield's lines too) and the file's mode. */
static void test_append_keeps_existing(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	const char *old = "{\"ts\":\"2026-01-01T00:00:00.000+00:00\",\"container\":\"c\","
			  "\"action\":\"setup\"}\n";
	char *text, *lines[4];
	struct stat st;

	unit_write_str(f->root, AUDIT_FILE, old);
	assert_int_equal(audit_append(f->fd, "c", "teardown", NULL, NULL, &err), 0);
	text = unit_read(f->root, AUDIT_FILE);
	assert_true(strncmp(text, old, strlen(old)) == 0);
	assert_int_equal(split_lines(text, lines, 4), 2);
	assert_line(lines[1], "{\"ts\":\"TS\",\"container\":\"c\",\"action\":\"teardown\"}");
	free(text);
	assert_int_equal(fstatat(f->fd, AUDIT_FILE, &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

/* Whatever the strings hold, each entry stays one line of JSON that reads back the same. */
static void test_append_escapes(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	const char *detail = "two\nlines \"quoted\" \\ tab\t esc\x1b[2J nul-free \xc3\xa9 /x";
	const char *container = "c\r\n{\"injected\":1}";
	char *text, *lines[4];
	json_t *o;

	assert_int_equal(audit_append(f->fd, container, "allowed", "evil.example\n", detail, &err),
			 0);
	text = unit_read(f->root, AUDIT_FILE);
	assert_int_equal(split_lines(text, lines, 4), 1);
	o = json_loads(lines[0], 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 5);
	assert_string_equal(json_string_value(json_object_get(o, "container")), container);
	assert_string_equal(json_string_value(json_object_get(o, "action")), "allowed");
	assert_string_equal(json_string_value(json_object_get(o, "dest")), "evil.example\n");
	assert_string_equal(json_string_value(json_object_get(o, "detail")), detail);
	json_decref(o);
	/* No raw control characters in the file. */
	for (const char *p = lines[0]; *p; p++)
		assert_true((unsigned char)*p >= 0x20);
	free(text);

	/* Empty strings are kept, not dropped like NULL. */
	assert_int_equal(audit_append(f->fd, "c", "x", "", "", &err), 0);
	text = unit_read(f->root, AUDIT_FILE);
	assert_int_equal(split_lines(text, lines, 4), 2);
	assert_line(lines[1], "{\"ts\":\"TS\",\"container\":\"c\",\"action\":\"x\",\"dest\":\"\","
			      "\"detail\":\"\"}");
	free(text);
}

/* A long detail is still one line, written whole. */
static void test_append_long(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	size_t n = 200000;
	char *detail = malloc(n + 1), *text, *lines[4];
	json_t *o;

	assert_non_null(detail);
	memset(detail, 'd', n);
	detail[n] = '\0';
	assert_int_equal(audit_append(f->fd, "c", "allowed", NULL, detail, &err), 0);
	text = unit_read(f->root, AUDIT_FILE);
	assert_int_equal(split_lines(text, lines, 4), 1);
	o = json_loads(lines[0], 0, NULL);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "detail")), detail);
	json_decref(o);
	free(text);
	free(detail);
}

/* audit.jsonl as a symlink is refused (O_NOFOLLOW); its target stays untouched. */
static void test_refuses_symlink(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	char target[UNIT_DIR_MAX], link[UNIT_DIR_MAX];
	char *text;
	int r;

	unit_write_str(f->root, "victim", "precious\n");
	snprintf(target, sizeof(target), "%s/victim", f->root);
	snprintf(link, sizeof(link), "%s/" AUDIT_FILE, f->root);
	assert_int_equal(symlink(target, link), 0);

	r = audit_append(f->fd, "c", "setup", NULL, NULL, &err);
	assert_int_equal(r, -ELOOP);
	assert_int_equal(err.code, -ELOOP);
	assert_msg_contains(&err, AUDIT_FILE);
	assert_msg_printable(&err);
	text = unit_read(f->root, "victim");
	assert_string_equal(text, "precious\n");
	free(text);

	/* A dangling one must not create its target either. */
	assert_int_equal(unlink(link), 0);
	snprintf(target, sizeof(target), "%s/created", f->root);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(audit_append(f->fd, "c", "setup", NULL, NULL, &err), -ELOOP);
	assert_int_equal(access(target, F_OK), -1);
}

/* A FIFO under the name must neither hang the writer nor take the line. */
static void test_refuses_fifo(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	char path[UNIT_DIR_MAX];

	snprintf(path, sizeof(path), "%s/" AUDIT_FILE, f->root);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(audit_append(f->fd, "c", "setup", NULL, NULL, &err), -EINVAL);
	assert_msg_contains(&err, "not a regular file");
	assert_msg_printable(&err);
}

static void test_refusals(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	char path[UNIT_DIR_MAX];

	/* Strings that are not UTF-8 cannot become JSON: nothing is written. */
	assert_int_equal(audit_append(f->fd, "c\xff", "setup", NULL, NULL, &err), -EINVAL);
	assert_msg_contains(&err, "UTF-8");
	assert_msg_printable(&err);
	assert_int_equal(audit_append(f->fd, "c", "setup", "\xc3", NULL, &err), -EINVAL);
	assert_int_equal(audit_append(f->fd, "c", "setup", NULL, "\x80", &err), -EINVAL);
	snprintf(path, sizeof(path), "%s/" AUDIT_FILE, f->root);
	assert_int_equal(access(path, F_OK), -1);

	/* audit.jsonl is a directory. */
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(audit_append(f->fd, "c", "setup", NULL, NULL, &err), -EISDIR);
	assert_msg_contains(&err, AUDIT_FILE);
	assert_int_equal(rmdir(path), 0);

	/* Not a directory fd. */
	assert_int_equal(audit_append(-1, "c", "setup", NULL, NULL, &err), -EBADF);
	assert_msg_contains(&err, AUDIT_FILE);
	assert_msg_printable(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timestamp),
		cmocka_unit_test_setup_teardown(test_append_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_keeps_existing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_symlink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_fifo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
