/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: capped whole-file reads shared by the bundle and profile readers. */
#pragma once

#include <stddef.h>

/*
 * Read fd (a regular file, else -EINVAL) to its end into a malloc'd,
 * NUL-terminated buffer of at most cap bytes; -EFBIG if it holds more (the
 * size from fstat is only a hint: the file may grow while it is read).
 * Returns 0 or -errno; *len (may be NULL) receives the length.
 */
int read_fd_capped(int fd, size_t cap, char **out, size_t *len);
