/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shield/macro.h"
#include <string.h>

#include "fileio.h"
#include "shield/fdio.h"

int read_fd_capped(int fd, size_t cap, char **out, size_t *len)
{
	_cleanup_free_ char *buf = NULL;
	size_t size, used = 0;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((unsigned long long)st.st_size > cap)
		return -EFBIG;

	/* One byte more than the file should hold, so growth is noticed. */
	size = (size_t)st.st_size + 1;
	if (size < 256)
		size = 256;
	if (size > cap + 1)
		size = cap + 1;
	buf = malloc(size + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (used == size) {
			size_t nsize = size > (cap + 1) / 2 ? cap + 1 : size * 2;
			char *nbuf;

			if (nsize == size)
				return -EFBIG;
			nbuf = realloc(buf, nsize + 1);
			if (!nbuf)
				return -ENOMEM;
			buf = nbuf;
			size = nsize;
		}
		n = read(fd, buf + used, size - used);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	if (used > cap)
		return -EFBIG;
	buf[used] = '\0';
	*out = TAKE_PTR(buf);
	if (len)
		*len = used;
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

bool text_next_entry(const char *text, size_t len, size_t *pos, size_t *line, const char **entry,
		     size_t *n)
{
	const char *s, *nl, *hash;
	size_t k;

	if (*pos >= len)
		return false;
	s = text + *pos;
	nl = memchr(s, '\n', len - *pos);
	k = nl ? (size_t)(nl - s) : len - *pos;
	*pos += k + 1;
	(*line)++;
	hash = memchr(s, '#', k);
	if (hash)
		k = (size_t)(hash - s);
	while (k > 0 && is_blank(s[0])) {
		s++;
		k--;
	}
	while (k > 0 && is_blank(s[k - 1]))
		k--;
	*entry = s;
	*n = k;
	return true;
}

int fd_write_all(int fd, const void *buf, size_t len, unsigned flags)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = flags & FD_WRITE_NOSIGNAL ? send(fd, p, len, MSG_NOSIGNAL)
						      : write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
