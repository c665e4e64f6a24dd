/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shield/grow.h"
#include "shield/strlist.h"

void strlist_free(struct strlist *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = l->cap = 0;
}

int strlist_add(struct strlist *l, const char *s)
{
	char *copy;

	if (l->n == l->cap) {
		char **items = shield_grow(l->items, &l->cap, l->n + 1, sizeof(*items), 8);

		if (!items)
			return -ENOMEM;
		l->items = items;
	}
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	l->items[l->n++] = copy;
	return 0;
}

bool strlist_contains(const struct strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->items[i], s) == 0)
			return true;
	return false;
}

int strlist_add_unique(struct strlist *l, const char *s)
{
	int r;

	if (strlist_contains(l, s))
		return 0;
	r = strlist_add(l, s);
	return r < 0 ? r : 1;
}

int strlist_remove(struct strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->items[i], s) != 0)
			continue;
		free(l->items[i]);
		memmove(&l->items[i], &l->items[i + 1], (l->n - i - 1) * sizeof(*l->items));
		l->n--;
		return 1;
	}
	return 0;
}

char *strlist_join(const struct strlist *l, const char *sep)
{
	size_t seplen = strlen(sep), total = 1;
	char *out, *p;

	for (size_t i = 0; i < l->n; i++)
		total += strlen(l->items[i]) + (i ? seplen : 0);
	out = malloc(total);
	if (!out)
		return NULL;
	p = out;
	for (size_t i = 0; i < l->n; i++) {
		size_t len = strlen(l->items[i]);

		if (i) {
			memcpy(p, sep, seplen);
			p += seplen;
		}
		memcpy(p, l->items[i], len);
		p += len;
	}
	*p = '\0';
	return out;
}
