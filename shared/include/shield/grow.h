/* SPDX-License-Identifier: Apache-2.0 */
/* Growing a heap array by doubling: one loop for every buffer that grows. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * buf (capacity *cap elements of size bytes, NULL when *cap is 0) grown to
 * hold at least need > *cap elements: the capacity doubles from *cap, or
 * from first when there is none, until it does. Returns the new buffer and
 * sets *cap, or NULL (out of memory, or the size overflows) with buf and
 * *cap unchanged.
 */
static inline void *shield_grow(void *buf, size_t *cap, size_t need, size_t size, size_t first)
{
	size_t n = *cap ? *cap : first;
	void *p;

	while (n < need) {
		if (n > SIZE_MAX / 2)
			return NULL;
		n *= 2;
	}
	if (n > SIZE_MAX / size)
		return NULL;
	p = realloc(buf, n * size);
	if (p)
		*cap = n;
	return p;
}
