/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shield/macro.h"
#include "htab.h"
#include "strset.h"

static uint64_t hash(const char *s)
{
	return htab_hash_fast(s, strlen(s));
}

void strset_free(struct strset *s)
{
	if (!s)
		return;
	free(s->slots);
	s->slots = NULL;
	s->cap = s->n = 0;
}

/* Slot holding key, or the empty slot where it would go. */
static size_t find(const char **slots, size_t cap, const char *key)
{
	size_t i = (size_t)hash(key) & (cap - 1);

	while (slots[i] && strcmp(slots[i], key) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

bool strset_contains(const struct strset *s, const char *key)
{
	if (s->cap == 0)
		return false;
	return s->slots[find(s->slots, s->cap, key)] != NULL;
}

static int grow(struct strset *s)
{
	size_t cap = s->cap ? s->cap * 2 : 16;
	const char **slots;

	if (cap > SIZE_MAX / sizeof(*slots))
		return -ENOMEM;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i])
			slots[find(slots, cap, s->slots[i])] = s->slots[i];
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
	return 0;
}

int strset_add(struct strset *s, const char *key)
{
	size_t i;

	/* Keep the load factor at or below one half. */
	if ((s->n + 1) * 2 > s->cap) {
		int r = grow(s);

		if (r < 0)
			return r;
	}
	i = find(s->slots, s->cap, key);
	if (s->slots[i])
		return 0;
	s->slots[i] = key;
	s->n++;
	return 1;
}

int strset_add_list(struct strset *s, const struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		int r = strset_add(s, l->items[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

int strlist_merge_unique(struct strlist *dst, const struct strlist *src, const struct strlist *skip)
{
	_cleanup_strset_ struct strset seen = STRSET_INIT;
	_cleanup_strset_ struct strset skipped = STRSET_INIT;
	int r;

	r = strset_add_list(&seen, dst);
	if (r < 0)
		return r;
	if (skip) {
		r = strset_add_list(&skipped, skip);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < src->n; i++) {
		const char *item = src->items[i];

		if (strset_contains(&seen, item) || strset_contains(&skipped, item))
			continue;
		r = strlist_add(dst, item);
		if (r < 0)
			return r;
		/* Borrow dst's own copy: src may be the same list as dst. */
		r = strset_add(&seen, dst->items[dst->n - 1]);
		if (r < 0)
			return r;
	}
	return 0;
}
