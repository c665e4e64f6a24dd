/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: capped whole-file reads shared by the bundle and profile readers. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * Read fd (a regular file, else -EINVAL) to its end into a malloc'd,
 * NUL-terminated buffer of at most cap bytes; -EFBIG if it holds more (the
 * size from fstat is only a hint: the file may grow while it is read).
 * Returns 0 or -errno; *len (may be NULL) receives the length.
 */
int read_fd_capped(int fd, size_t cap, char **out, size_t *len);

/*
 * The next entry of a list text (bundle lists, profiles): the line at *pos
 * with its '#' comment and surrounding blanks removed (*n may be 0 for a
 * blank or comment line). Advances *pos past the line and counts it in
 * *line. Returns false once the text is used up.
 */
bool text_next_entry(const char *text, size_t len, size_t *pos, size_t *line, const char **entry,
		     size_t *n);
