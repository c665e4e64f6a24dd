/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"

uint64_t htab_hash_bytes(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t htab_hash_fast(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;

	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 29;
	}
	if (len) {
		/* The last 1-7 bytes, without a call to memcpy of a variable length. */
		w = 0;
		for (size_t i = 0; i < len; i++)
			w |= (uint64_t)p[i] << (8 * i);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
	}
	/* The finaliser of MurmurHash3: every input bit reaches the low bits. */
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

void htab_free(struct htab *t)
{
	free(t->b);
	t->b = NULL;
	t->nb = t->n = 0;
}

static int grow(struct htab *t)
{
	size_t nb = t->nb ? t->nb * 2 : 16;
	struct hnode **b;

	if (nb > SIZE_MAX / sizeof(*b))
		return -ENOMEM;
	b = calloc(nb, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < t->nb; i++) {
		struct hnode *node = t->b[i], *next;

		for (; node; node = next) {
			size_t j = node->hash & (nb - 1);

			next = node->next;
			node->next = b[j];
			b[j] = node;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
	return 0;
}

int htab_insert(struct htab *t, struct hnode *node, uint64_t hash)
{
	size_t j;

	/*
	 * At most one entry per two buckets: a hit walks about 1.2 entries
	 * instead of 1.4, and in a table larger than the caches each entry
	 * walked is a cache miss (the buckets, 8 bytes each, cost less).
	 */
	if (2 * (t->n + 1) > t->nb) {
		int r = grow(t);

		if (r < 0)
			return r;
	}
	node->hash = hash;
	j = hash & (t->nb - 1);
	node->next = t->b[j];
	t->b[j] = node;
	t->n++;
	return 0;
}

void htab_remove(struct htab *t, struct hnode *node)
{
	struct hnode **pp;

	if (!t->nb)
		return;
	for (pp = &t->b[node->hash & (t->nb - 1)]; *pp; pp = &(*pp)->next) {
		if (*pp == node) {
			*pp = node->next;
			node->next = NULL;
			t->n--;
			return;
		}
	}
}
