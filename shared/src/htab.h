/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal: an intrusive chained hash table. Entries embed a struct hnode
 * and are owned by the caller; the table holds only bucket heads. The
 * caller hashes its key (htab_hash_bytes) and compares keys itself while
 * walking a bucket, so one small table serves every keyed collection of the
 * shadow state at O(1) per lookup whatever the number of elements.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct hnode {
	struct hnode *next;
	uint64_t hash;
};

struct htab {
	struct hnode **b;
	size_t nb; /* bucket count: power of two, or 0 */
	size_t n;  /* entries */
};

/* 64-bit FNV-1a of len bytes, continuing from h (start with HTAB_HASH_INIT). */
#define HTAB_HASH_INIT 0xcbf29ce484222325ULL
uint64_t htab_hash_bytes(uint64_t h, const void *data, size_t len);

/*
 * A hash of len bytes taken eight at a time (for names on the log path,
 * where a byte-wise hash costs more than the parsing): not FNV, and not
 * the same value as htab_hash_bytes. In-memory tables only.
 */
uint64_t htab_hash_fast(const void *data, size_t len);

/* Free the buckets (not the entries) and zero the table. */
void htab_free(struct htab *t);

/* Insert node with hash; grows the table (load <= 1/2). 0 or -ENOMEM (node not inserted). */
int htab_insert(struct htab *t, struct hnode *node, uint64_t hash);

/* Remove node (which must be in t). */
void htab_remove(struct htab *t, struct hnode *node);

/* First node of hash's bucket (walk ->next, compare ->hash, then the key). */
static inline struct hnode *htab_bucket(const struct htab *t, uint64_t hash)
{
	return t->nb ? t->b[hash & (t->nb - 1)] : NULL;
}

/*
 * Iterate every node; the body may remove (and free) the current node.
 * HTAB_FOREACH(t, i, node, next) { ... }
 */
#define HTAB_FOREACH(t, i, node, nxt)                                                              \
	for (size_t i = 0; i < (t)->nb; i++)                                                       \
		for (struct hnode *node = (t)->b[i], *nxt = node ? node->next : NULL; node;        \
		     node = nxt, nxt = node ? node->next : NULL)

/* The struct that embeds a node. */
#define HTAB_ENTRY(node, type, member) ((type *)((char *)(node)-offsetof(type, member)))
