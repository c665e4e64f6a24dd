/* SPDX-License-Identifier: Apache-2.0 */
#include "unit-helpers.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "shield/macro.h"
#include "shield/sd-daemon.h"

static void test_field_names(void **state)
{
	char long_name[SD_JOURNAL_FIELD_MAX + 2];

	(void)state;
	assert_true(sd_journal_field_valid("MESSAGE"));
	assert_true(sd_journal_field_valid("SHIELD_EVENT_KIND"));
	assert_true(sd_journal_field_valid("A1_2"));
	assert_false(sd_journal_field_valid(""));
	assert_false(sd_journal_field_valid(NULL));
	/* Trusted fields begin with '_': only journald sets them. */
	assert_false(sd_journal_field_valid("_PID"));
	assert_false(sd_journal_field_valid("1ABC"));
	assert_false(sd_journal_field_valid("message"));
	assert_false(sd_journal_field_valid("A-B"));
	assert_false(sd_journal_field_valid("A=B"));
	memset(long_name, 'A', SD_JOURNAL_FIELD_MAX);
	long_name[SD_JOURNAL_FIELD_MAX] = '\0';
	assert_true(sd_journal_field_valid(long_name));
	long_name[SD_JOURNAL_FIELD_MAX] = 'A';
	long_name[SD_JOURNAL_FIELD_MAX + 1] = '\0';
	assert_false(sd_journal_field_valid(long_name));
}

static void test_entry_encoding(void **state)
{
	_cleanup_(sd_journal_entry_free) struct sd_journal_entry e = {0};
	static const char want[] = "PRIORITY=4\n"
				   "MESSAGE=web: drift.unexplained 198.18.9.9\n"
				   "DETAIL\n\x05\0\0\0\0\0\0\0a\nb=c\n"
				   "EMPTY=\n";

	(void)state;
	assert_int_equal(sd_journal_entry_add_str(&e, "PRIORITY", "4"), 0);
	assert_int_equal(
		sd_journal_entry_add_str(&e, "MESSAGE", "web: drift.unexplained 198.18.9.9"), 0);
	/* A value with a newline: the binary form, its length little endian. */
	assert_int_equal(sd_journal_entry_add_str(&e, "DETAIL", "a\nb=c"), 0);
	assert_int_equal(sd_journal_entry_add_str(&e, "EMPTY", ""), 0);
	/* NULL adds nothing; a bad name adds nothing and says so. */
	assert_int_equal(sd_journal_entry_add_str(&e, "NOTHING", NULL), 0);
	assert_int_equal(sd_journal_entry_add_str(&e, "_PID", "1"), -EINVAL);
	assert_int_equal(sd_journal_entry_add_str(&e, "lower", "1"), -EINVAL);
	assert_int_equal(e.len, sizeof(want) - 1);
	assert_memory_equal(e.buf, want, sizeof(want) - 1);
	assert_false(e.too_big);
}

static void test_entry_cap(void **state)
{
	_cleanup_(sd_journal_entry_free) struct sd_journal_entry e = {0};
	_cleanup_free_ char *big = malloc(SD_JOURNAL_ENTRY_MAX);
	size_t before;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', SD_JOURNAL_ENTRY_MAX);
	assert_int_equal(sd_journal_entry_add_str(&e, "MESSAGE", "short"), 0);
	before = e.len;
	/* Past the cap the field is left out, the entry stays whole. */
	assert_int_equal(sd_journal_entry_add(&e, "BIG", big, SD_JOURNAL_ENTRY_MAX - 4), 0);
	assert_true(e.too_big);
	assert_int_equal(e.len, before);
	assert_int_equal(sd_journal_entry_add(&e, "BIG", big, 1000), 0);
	assert_int_equal(e.len, before + 4 + 1000 + 1);
}

static void test_stream_parse(void **state)
{
	uint64_t dev = 0, ino = 0;

	(void)state;
	assert_int_equal(sd_journal_stream_parse("8:123456", &dev, &ino), 0);
	assert_int_equal(dev, 8);
	assert_int_equal(ino, 123456);
	assert_int_equal(sd_journal_stream_parse("18446744073709551615:1", &dev, &ino), 0);
	assert_true(dev == UINT64_MAX);
	assert_int_equal(sd_journal_stream_parse("18446744073709551616:1", &dev, &ino), -EINVAL);
	assert_int_equal(sd_journal_stream_parse(NULL, &dev, &ino), -EINVAL);
	assert_int_equal(sd_journal_stream_parse("", &dev, &ino), -EINVAL);
	assert_int_equal(sd_journal_stream_parse("8", &dev, &ino), -EINVAL);
	assert_int_equal(sd_journal_stream_parse("8:", &dev, &ino), -EINVAL);
	assert_int_equal(sd_journal_stream_parse(":8", &dev, &ino), -EINVAL);
	assert_int_equal(sd_journal_stream_parse("8:9x", &dev, &ino), -EINVAL);
	assert_int_equal(sd_journal_stream_parse("-8:9", &dev, &ino), -EINVAL);
}

/* JOURNAL_STREAM names an fd only when device and inode are the fd's. */
static void test_stream_is(void **state)
{
	char path[] = "/tmp/test-sd-daemon-XXXXXX";
	_cleanup_close_ int fd = mkstemp(path);
	struct stat st;
	char val[64];

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(fstat(fd, &st), 0);
	unsetenv("JOURNAL_STREAM");
	assert_false(sd_journal_stream_is(fd));
	snprintf(val, sizeof(val), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", val, 1);
	assert_true(sd_journal_stream_is(fd));
	snprintf(val, sizeof(val), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", val, 1);
	assert_false(sd_journal_stream_is(fd));
	setenv("JOURNAL_STREAM", "garbage", 1);
	assert_false(sd_journal_stream_is(fd));
	unsetenv("JOURNAL_STREAM");
}

/* A bound datagram socket at a path (or @abstract); its fd. */
static int bind_dgram(const char *name)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memcpy(sa.sun_path, name, n);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	assert_int_equal(bind(fd, (struct sockaddr *)&sa,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
					  (name[0] == '@' ? 0 : 1))),
			 0);
	return fd;
}

static void test_notify(void **state)
{
	char dir[] = "/tmp/test-sd-daemon-XXXXXX", path[64], abstract[64], buf[128];
	struct shield_error err = {0};
	_cleanup_close_ int fd = -1, afd = -1;
	ssize_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = bind_dgram(path);

	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(sd_notify_send("READY=1", &err), 0);

	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(sd_notify_send("READY=1\nSTATUS=watching 0 containers", &err), 1);
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	assert_int_equal(n, strlen("READY=1\nSTATUS=watching 0 containers"));
	assert_memory_equal(buf, "READY=1\nSTATUS=watching 0 containers", (size_t)n);

	/* The abstract namespace, as systemd names it: "@name". */
	snprintf(abstract, sizeof(abstract), "@shield-test-notify-%d", (int)getpid());
	afd = bind_dgram(abstract);
	setenv("NOTIFY_SOCKET", abstract, 1);
	assert_int_equal(sd_notify_send("STOPPING=1", &err), 1);
	n = recv(afd, buf, sizeof(buf), MSG_DONTWAIT);
	assert_int_equal(n, strlen("STOPPING=1"));
	assert_memory_equal(buf, "STOPPING=1", (size_t)n);

	/* Nobody listening, a relative path: errors naming the socket. */
	unlink(path);
	setenv("NOTIFY_SOCKET", path, 1);
	assert_true(sd_notify_send("READY=1", &err) < 0);
	assert_non_null(strstr(err.msg, path));
	setenv("NOTIFY_SOCKET", "relative/path", 1);
	assert_int_equal(sd_notify_send("READY=1", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "relative/path"));
	unsetenv("NOTIFY_SOCKET");
	rmdir(dir);
}

/* sd_journal_send delivers the entry as one datagram. */
static void test_journal_send(void **state)
{
	char dir[] = "/tmp/test-sd-daemon-XXXXXX", path[64], buf[256];
	_cleanup_(sd_journal_entry_free) struct sd_journal_entry e = {0};
	_cleanup_close_ int rfd = -1, sfd = -1;
	ssize_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/journal", dir);
	rfd = bind_dgram(path);
	sfd = sd_journal_open();
	assert_true(sfd >= 0);
	assert_int_equal(sd_journal_send(sfd, path, &e), -EINVAL); /* empty */
	assert_int_equal(sd_journal_entry_add_str(&e, "MESSAGE", "hello"), 0);
	assert_int_equal(sd_journal_send(sfd, path, &e), 0);
	n = recv(rfd, buf, sizeof(buf), MSG_DONTWAIT);
	assert_int_equal(n, e.len);
	assert_memory_equal(buf, "MESSAGE=hello\n", (size_t)n);
	unlink(path);
	assert_true(sd_journal_send(sfd, path, &e) < 0);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_field_names),  cmocka_unit_test(test_entry_encoding),
		cmocka_unit_test(test_entry_cap),    cmocka_unit_test(test_stream_parse),
		cmocka_unit_test(test_stream_is),    cmocka_unit_test(test_notify),
		cmocka_unit_test(test_journal_send),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
