/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "shield/grow.h"
#include "shield/sd-daemon.h"

bool sd_journal_field_valid(const char *name)
{
	size_t n = 0;

	if (!name || !name[0] || name[0] == '_' || (name[0] >= '0' && name[0] <= '9'))
		return false;
	for (const char *p = name; *p; p++, n++) {
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	}
	return n <= SD_JOURNAL_FIELD_MAX;
}

static int entry_put(struct sd_journal_entry *e, const void *data, size_t len)
{
	if (e->len + len > e->cap) {
		char *bigger = shield_grow(e->buf, &e->cap, e->len + len, 1, 512);

		if (!bigger)
			return -ENOMEM;
		e->buf = bigger;
	}
	memcpy(e->buf + e->len, data, len);
	e->len += len;
	return 0;
}

int sd_journal_entry_add(struct sd_journal_entry *e, const char *name, const char *value,
			 size_t len)
{
	size_t nlen, need;
	bool binary;
	int r;

	if (!sd_journal_field_valid(name))
		return -EINVAL;
	nlen = strlen(name);
	binary = memchr(value, '\n', len) != NULL;
	need = nlen + 1 + (binary ? 8 : 0) + len + 1;
	if (len > SD_JOURNAL_ENTRY_MAX || e->len + need > SD_JOURNAL_ENTRY_MAX) {
		e->too_big = true;
		return 0;
	}
	r = entry_put(e, name, nlen);
	if (r < 0)
		return r;
	if (binary) {
		unsigned char le[8];
		uint64_t v = len;

		/* The journal reads the length as little endian, whatever the host. */
		for (int i = 0; i < 8; i++, v >>= 8)
			le[i] = (unsigned char)(v & 0xff);
		r = entry_put(e, "\n", 1);
		if (r >= 0)
			r = entry_put(e, le, sizeof(le));
	} else {
		r = entry_put(e, "=", 1);
	}
	if (r >= 0)
		r = entry_put(e, value, len);
	if (r >= 0)
		r = entry_put(e, "\n", 1);
	return r;
}

int sd_journal_entry_add_str(struct sd_journal_entry *e, const char *name, const char *value)
{
	if (!value)
		return 0;
	return sd_journal_entry_add(e, name, value, strlen(value));
}

void sd_journal_entry_free(struct sd_journal_entry *e)
{
	free(e->buf);
	*e = (struct sd_journal_entry){0};
}

static int parse_u64(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (p == s)
		return -EINVAL;
	*end = p;
	*out = v;
	return 0;
}

int sd_journal_stream_parse(const char *s, uint64_t *dev, uint64_t *ino)
{
	const char *p;

	if (!s || parse_u64(s, &p, dev) < 0 || *p != ':' || parse_u64(p + 1, &p, ino) < 0 ||
	    *p != '\0')
		return -EINVAL;
	return 0;
}

bool sd_journal_stream_is(int fd)
{
	uint64_t dev, ino;
	struct stat st;

	if (sd_journal_stream_parse(getenv("JOURNAL_STREAM"), &dev, &ino) < 0)
		return false;
	if (fstat(fd, &st) < 0)
		return false;
	return (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino;
}

int sd_journal_open(void)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	return fd < 0 ? negative_errno() : fd;
}

/* A sockaddr_un for path or "@abstract"; its length, or -EINVAL. */
static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	size_t n = strlen(path);

	*sa = (struct sockaddr_un){.sun_family = AF_UNIX};
	if (n == 0 || n >= sizeof(sa->sun_path) || (path[0] != '/' && path[0] != '@'))
		return -EINVAL;
	memcpy(sa->sun_path, path, n);
	if (path[0] == '@')
		sa->sun_path[0] = '\0';
	return (int)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
}

int sd_journal_send(int fd, const char *path, const struct sd_journal_entry *e)
{
	struct sockaddr_un sa;
	int salen = unix_addr(path ? path : SD_JOURNAL_SOCKET, &sa);
	ssize_t n;

	if (salen < 0)
		return salen;
	if (e->len == 0)
		return -EINVAL;
	/* Never wait for a journal that is behind: the caller falls back to stderr. */
	n = sendto(fd, e->buf, e->len, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa,
		   (socklen_t)salen);
	if (n < 0)
		return negative_errno();
	return (size_t)n == e->len ? 0 : -EMSGSIZE;
}

int sd_notify_send(const char *state, struct shield_error *err)
{
	const char *path = getenv("NOTIFY_SOCKET");
	_cleanup_close_ int fd = -1;
	struct sockaddr_un sa;
	int salen;
	size_t len = strlen(state);

	if (!path || !path[0])
		return 0;
	salen = unix_addr(path, &sa);
	if (salen < 0)
		return shield_error_set(err, salen,
					"NOTIFY_SOCKET=%s: not an absolute path or @abstract name "
					"that fits a socket address",
					path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return shield_error_set(err, negative_errno(), "NOTIFY_SOCKET: socket: %s",
					shield_strerror(errno));
	if (sendto(fd, state, len, MSG_NOSIGNAL, (struct sockaddr *)&sa, (socklen_t)salen) < 0)
		return shield_error_set(err, negative_errno(), "NOTIFY_SOCKET=%s: %s", path,
					shield_strerror(errno));
	return 1;
}
