/* SPDX-License-Identifier: Apache-2.0 */
/* Between the model and netlink: encoding model objects as libnftnl objects and back. */
#pragma once

#include <stdio.h>

#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "shield/nft-monitor.h"
#include "shield/nft-ruleset.h"

/* nft's datatype ids for the set key types (nftables include/datatype.h). */
#define NFT_DATATYPE_IPADDR  7
#define NFT_DATATYPE_IP6ADDR 8

struct nftnl_table *nft_encode_table(void);
struct nftnl_set *nft_encode_set(enum nft_set_id id, const struct nft_set *s, uint32_t set_id);
struct nftnl_chain *nft_encode_chain(enum nft_chain_id id, const struct nft_chain *c);
struct nftnl_rule *nft_encode_rule(enum nft_chain_id chain, const struct nft_rule *r,
				   const uint32_t set_ids[NFT_SET_COUNT]);

/*
 * Add the start (and, unless the range runs to the end of the address
 * space, the end) element of each range to s. timeout_ms: UINT64_MAX = no
 * timeout attribute; anything else is sent as is (0 = never expires).
 */
int nft_encode_elems(struct nftnl_set *s, const struct nft_elem *elems, size_t n,
		     uint64_t timeout_ms);

/* Decode a dumped rule; a rule that is not one of shield's is kept with unknown = true. */
void nft_decode_rule(struct nftnl_rule *nr, struct nft_rule *out);

/* Decode a dumped chain's properties (not its rules). */
void nft_decode_chain(struct nftnl_chain *nc, struct nft_chain *out);

/* Decode a dumped set's properties (not its elements). */
void nft_decode_set(struct nftnl_set *ns, struct nft_set *out);

/* A raw element as dumped: start or end key with its timers. */
struct nft_raw_elem {
	uint8_t key[16];
	bool end;
	bool has_timeout;
	uint64_t timeout_ms;
	bool has_expiration;
	uint64_t expires_ms;
};

/* Raw elements gathered over every message of one set's dump. */
struct nft_raw_elems {
	struct nft_raw_elem *raw;
	size_t n, cap;
};

/* Append the elements of one dumped message's set to acc. */
int nft_raw_elems_collect(struct nftnl_set *ns, int family, struct nft_raw_elems *acc);

/*
 * Append the elements of one NFT_MSG_NEWSETELEM message (a dump's part) to
 * acc, decoded straight from its attributes: what nft_raw_elems_collect
 * gets from a parsed nftnl_set, without an object per element. Pure;
 * -EPROTO for a malformed message, -E2BIG past the cap, -ENOMEM.
 */
struct nlmsghdr;
int nft_raw_elems_parse(const struct nlmsghdr *nlh, int family, struct nft_raw_elems *acc);

/* Pair start/end elements back into ranges, append them to out, and free acc. */
int nft_raw_elems_finish(struct nft_raw_elems *acc, int family, struct nft_set *out);

struct nft_sock;

/* How many dumps on s were interrupted (NLM_F_DUMP_INTR) and redone; for tests. */
uint64_t nft_sock_dump_restarts(const struct nft_sock *s);

/*
 * Assembling decoded notifications into transactions (pure, no I/O): the
 * changes to shield's table are gathered until the NEWGEN that ends their
 * transaction; a set's elements are gathered per set and direction so an
 * interval's start and end pair up even across messages.
 */
struct nft_txn_asm {
	struct nft_change *changes;
	size_t n_changes, cap_changes;
	bool partial; /* a change was dropped (cap, memory, undecodable message) */
	bool group_open;
	enum nft_change_kind group_kind; /* ELEM_ADD or ELEM_DEL */
	char group_set[NFT_OBJ_NAME_MAX];
	struct nft_notify_elem *group;
	size_t n_group, cap_group;
};

/*
 * Feed one decoded message. Returns 1 when it was the NEWGEN ending a
 * transaction that changed shield's table: out then points into a's buffers
 * until nft_txn_asm_reset, which the caller calls once it is done with it.
 */
int nft_txn_asm_feed(struct nft_txn_asm *a, const struct nft_notify *n, struct nft_txn *out);

/* Forget the transaction being gathered (after delivery, or when notifications were lost). */
void nft_txn_asm_reset(struct nft_txn_asm *a);

/* Release a's buffers and zero it. */
void nft_txn_asm_free(struct nft_txn_asm *a);
