/* SPDX-License-Identifier: Apache-2.0 */
/* Whole writes to a file descriptor. */
#pragma once
#include <stddef.h>

/* fd_write_all flag: fd is a socket; a peer that went away is -EPIPE, never SIGPIPE. */
#define FD_WRITE_NOSIGNAL 1u

/* Write all of buf to fd, retrying short writes and EINTR: 0 or -errno. */
int fd_write_all(int fd, const void *buf, size_t len, unsigned flags);
