/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one module that talks netlink to nf_tables: socket setup with
 * extended ACKs, batch commit with every ACK drained and errors mapped back
 * to the object that caused them, dumps, and element writes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "error.h"
#include "nft-ruleset.h"

struct nft_sock;

/* Open an nf_tables netlink socket in the current network namespace. */
int nft_sock_open(struct nft_sock **out, struct shield_error *err);

/* Open one inside the netns fd nsfd (enter, open, return); nsfd < 0 = current. */
int nft_sock_open_in(int nsfd, struct nft_sock **out, struct shield_error *err);

/* Size of the buffer a socket reads the kernel's answers into (one datagram at a time). */
#define NFT_SOCK_RECV_BUF (64 * 1024)

/*
 * As nft_sock_open_in, but the socket reads its answers into rbuf
 * (NFT_SOCK_RECV_BUF bytes, 8-byte aligned, the caller's, outliving the
 * socket) instead of a buffer of its own. Every call on a socket is done
 * with rbuf when it returns, so sockets used from one thread may share one
 * (nftsetd: one socket per watched namespace, one buffer for the loop).
 */
int nft_sock_open_shared(int nsfd, void *rbuf, struct nft_sock **out, struct shield_error *err);

void nft_sock_close(struct nft_sock *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nft_sock *, nft_sock_close)
#define _cleanup_nft_sock_ _cleanup_(nft_sock_closep)

/*
 * Commit a whole ruleset in ONE transaction: the table with its sets,
 * static elements, chains and rules. Either all of it takes effect or none.
 * Where a table is already there, a second transaction replaces it
 * atomically (create if missing, delete, create with everything).
 */
int nft_apply_ruleset(struct nft_sock *s, const struct nft_ruleset *rs, struct shield_error *err);

/* Dump the table and check it is exactly expected (nft_ruleset_verify). */
int nft_verify_table(struct nft_sock *s, const struct nft_ruleset *expected,
		     struct shield_error *err);
/*
 * nft_apply_ruleset, then dump the table back and check it is exactly rs
 * (nft_ruleset_verify): what a hook must prove before it lets a container run.
 */
int nft_apply_verified(struct nft_sock *s, const struct nft_ruleset *rs, struct shield_error *err);
/* Delete the table (one transaction); -ENOENT when there is none. */
int nft_delete_table(struct nft_sock *s, struct shield_error *err);

/* Dump the table, its sets with elements, chains and rules into rs. Table missing: rs->table_present false, returns 0. */
int nft_dump_ruleset(struct nft_sock *s, struct nft_ruleset *rs, struct shield_error *err);
/* The same in the netns fd nsfd, through a socket of its own (nft_sock_open_in). */
int nft_dump_ruleset_in(int nsfd, struct nft_ruleset *rs, struct shield_error *err);

/* Timeout argument for nft_elems_add: use the set's default. */
#define NFT_TIMEOUT_SET_DEFAULT UINT64_MAX

/*
 * Add elements to a set in one transaction. timeout_ms 0 = never expires
 * (sent explicitly, so the set default does not apply), or
 * NFT_TIMEOUT_SET_DEFAULT. Elements already present are not an error.
 */
int nft_elems_add(struct nft_sock *s, enum nft_set_id set, const struct addr_prefix *elems,
		  size_t n, uint64_t timeout_ms, struct shield_error *err);

/* Delete elements from a set in one transaction; absent elements are not an error. */
int nft_elems_delete(struct nft_sock *s, enum nft_set_id set, const struct addr_prefix *elems,
		     size_t n, struct shield_error *err);

/* One step of nft_elems_update. */
struct nft_elems_op {
	enum nft_set_id set;
	bool add;		      /* add, else delete (elements the set lacks are skipped) */
	const struct nft_elem *elems; /* ranges of the set's family (nft_elem_from_prefix) */
	size_t n;
	uint64_t timeout_ms; /* add: as for nft_elems_add */
};

#define NFT_ELEMS_OPS_MAX 8

/*
 * Several element adds and deletes, in order, in ONE transaction (at most
 * NFT_ELEMS_OPS_MAX): a learnt element replaced by a static one (delete,
 * add), an address moved from an allow set to a deny set, and so on.
 */
int nft_elems_update(struct nft_sock *s, const struct nft_elems_op *ops, size_t n_ops,
		     struct shield_error *err);

/* Dump one set's elements (with timers) into out. */
int nft_elems_list(struct nft_sock *s, enum nft_set_id set, struct nft_set *out,
		   struct shield_error *err);
