/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: a set of borrowed strings (open addressing, FNV-1a) so that
 * ordered de-duplication of lists with tens of thousands of entries stays
 * linear. The set never owns or copies the strings; they must outlive it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "shield/strlist.h"

struct strset {
	const char **slots;
	size_t cap; /* power of two, or 0 */
	size_t n;
};

#define STRSET_INIT                                                                                \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

void strset_free(struct strset *s);

/* Whether key is in the set. */
bool strset_contains(const struct strset *s, const char *key);

/* Insert key (borrowed); returns 1 inserted, 0 present, -ENOMEM. */
int strset_add(struct strset *s, const char *key);

/* Insert every item of l (borrowed); returns 0 or -ENOMEM. */
int strset_add_list(struct strset *s, const struct strlist *l);

static inline void strset_freep(struct strset *s)
{
	strset_free(s);
}
#define _cleanup_strset_ __attribute__((cleanup(strset_freep)))
