/* SPDX-License-Identifier: Apache-2.0 */
/* An ordered list of owned strings: the allowlists' stable order comes from here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct strlist {
	char **items;
	size_t n;
	size_t cap;
};

#define STRLIST_INIT                                                                               \
	{                                                                                          \
		NULL, 0, 0                                                                         \
	}

/* Free every item and the array; the list is empty and reusable afterwards. */
void strlist_free(struct strlist *l);

/* Append a copy of s; returns 0 or -ENOMEM. */
int strlist_add(struct strlist *l, const char *s);

/* Append a copy of s unless present; returns 1 added, 0 present, -ENOMEM. */
int strlist_add_unique(struct strlist *l, const char *s);

/* Whether s is in the list. */
bool strlist_contains(const struct strlist *l, const char *s);

/* Remove s, keeping order; returns 1 removed, 0 absent. */
int strlist_remove(struct strlist *l, const char *s);

/*
 * Append a copy of each item of src to dst unless dst or skip (may be NULL)
 * holds it, keeping order, in linear time; returns 0 or -ENOMEM (dst may
 * then be partly extended).
 */
int strlist_merge_unique(struct strlist *dst, const struct strlist *src,
			 const struct strlist *skip);

/* Join the items with sep into a new string (NULL on -ENOMEM). */
char *strlist_join(const struct strlist *l, const char *sep);

static inline void strlist_freep(struct strlist *l)
{
	strlist_free(l);
}
#define _cleanup_strlist_ __attribute__((cleanup(strlist_freep)))
