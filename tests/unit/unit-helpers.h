/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by the cmocka unit tests: temporary directories and files. */
#pragma once

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* Buffer sizes that keep every "%s/name" below PATH_MAX (and gcc's
 * -Wformat-truncation quiet): a temp root, and a directory inside it. */
#define UNIT_ROOT_MAX 1024
#define UNIT_DIR_MAX  2048

/* A fresh 0700 directory under $TMPDIR (or /tmp); path written into out. */
static inline void unit_mkdtemp(char out[UNIT_ROOT_MAX])
{
	const char *base = getenv("TMPDIR");
	int n = snprintf(out, UNIT_ROOT_MAX, "%s/shield-unit-XXXXXX",
			 base && *base ? base : "/tmp");

	assert_true(n > 0 && n < UNIT_ROOT_MAX - 64);
	assert_non_null(mkdtemp(out));
}

static inline int unit_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove a tree (does not follow symlinks). */
static inline void unit_rmtree(const char *path)
{
	nftw(path, unit_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write len bytes to dir/name (mode 0600), creating or truncating it. */
static inline void unit_write(const char *dir, const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];
	int fd;

	assert_true(snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static inline void unit_write_str(const char *dir, const char *name, const char *text)
{
	unit_write(dir, name, text, strlen(text));
}

/* Read dir/name whole into a malloc'd string (NULL if missing). */
static inline char *unit_read(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	char *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	assert_int_equal(fstat(fd, &st), 0);
	buf = calloc(1, (size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	return buf;
}

/* Whether err's message contains needle; prints the message when not. */
#define assert_msg_contains(err, needle)                                                           \
	do {                                                                                       \
		if (!strstr((err)->msg, (needle)))                                                 \
			fail_msg("message \"%s\" lacks \"%s\"", (err)->msg, (needle));             \
	} while (0)

/* An error message is one line of printable ASCII, whatever the input was. */
#define assert_msg_printable(err)                                                                  \
	do {                                                                                       \
		for (const char *_p = (err)->msg; *_p; _p++)                                       \
			assert_true(*_p >= 0x20 && *_p < 0x7f);                                    \
	} while (0)
