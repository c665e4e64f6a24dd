/* SPDX-License-Identifier: Apache-2.0 */
/* audit.jsonl (see audit.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "shield/audit.h"

const char *shield_timestamp(char buf[TIMESTAMP_MAX])
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, TIMESTAMP_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+00:00", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(ts.tv_nsec / 1000000));
	return buf;
}

int open_append(int dirfd, const char *name)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	/* O_NONBLOCK: a FIFO planted under the name must not hang the hook. */
	fd = openat(dirfd, name,
		    O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == ENXIO ? -EINVAL : negative_errno(); /* ENXIO: a FIFO nobody reads */
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	return TAKE_FD(fd);
}

int audit_append(int dirfd, const char *container, const char *action, const char *dest,
		 const char *detail, struct shield_error *err)
{
	char ts[TIMESTAMP_MAX];
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *line = NULL;
	json_t *o = json_object();
	size_t len;

	if (!o || json_object_set_new(o, "ts", json_string(shield_timestamp(ts))) < 0 ||
	    json_object_set_new(o, "container", json_string(container)) < 0 ||
	    json_object_set_new(o, "action", json_string(action)) < 0 ||
	    (dest && json_object_set_new(o, "dest", json_string(dest)) < 0) ||
	    (detail && json_object_set_new(o, "detail", json_string(detail)) < 0)) {
		json_decref(o);
		return shield_error_set(err, -EINVAL,
					"audit entry: not valid UTF-8 or out of memory");
	}
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!line)
		return shield_error_set(err, -ENOMEM, "out of memory");
	len = strlen(line);
	line[len] = '\n'; /* json_dumps's NUL becomes the newline; the length says where it ends */
	fd = open_append(dirfd, AUDIT_FILE);
	if (fd < 0)
		return shield_error_set(err, fd, "%s: %s", AUDIT_FILE,
					fd == -EINVAL ? "not a regular file" : shield_strerror(fd));
	if (write(fd, line, len + 1) != (ssize_t)(len + 1)) {
		int r = errno ? negative_errno() : -EIO;

		return shield_error_set(err, r, "%s: write: %s", AUDIT_FILE, shield_strerror(r));
	}
	return 0;
}
