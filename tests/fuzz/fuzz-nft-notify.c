/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nft_notify_decode and the transaction assembly on arbitrary bytes, read as
 * the datagrams of a notification socket: netlink messages back to back.
 * The seeds are real kernel notifications (test-nft-monitor --capture).
 * Whatever the bytes, decoding fails with a clear error or yields
 * well-formed names and elements, and every transaction holds ranges that
 * are in order, prefixes that cover exactly their range, and known kinds.
 */
#include "fuzz-common.h"

#include <netinet/in.h>
#include <linux/netlink.h>

#include "nft-internal.h"
#include "shield/nft-monitor.h"

static void check_notify(const struct nft_notify *n)
{
	if (strnlen(n->table, sizeof(n->table)) == sizeof(n->table) ||
	    strnlen(n->name, sizeof(n->name)) == sizeof(n->name) ||
	    strnlen(n->comm, sizeof(n->comm)) == sizeof(n->comm))
		abort();
	if (n->n_elems > NFT_NOTIFY_ELEMS_MAX || (n->n_elems && !n->elems))
		abort();
	if (n->n_elems && n->type != NFT_NOTIFY_ELEMS)
		abort();
	if (n->type > NFT_NOTIFY_GEN)
		abort();
}

static void check_txn(const struct nft_txn *t)
{
	if (t->n_changes == 0 || t->n_changes > NFT_TXN_CHANGES_MAX || !t->changes)
		abort();
	if (strnlen(t->comm, sizeof(t->comm)) == sizeof(t->comm))
		abort();
	for (size_t i = 0; i < t->n_changes; i++) {
		const struct nft_change *c = &t->changes[i];
		struct addr_prefix p;
		uint8_t first[16], last[16];
		size_t len;

		if (c->kind > NFT_CHANGE_OTHER || strcmp(nft_change_kind_name(c->kind), "") == 0)
			abort();
		if (strnlen(c->name, sizeof(c->name)) == sizeof(c->name))
			abort();
		if (c->set != -1 && (c->set < 0 || c->set >= NFT_SET_COUNT ||
				     strcmp(nft_set_name(c->set), c->name) != 0))
			abort();
		if (c->chain != -1 && (c->chain < 0 || c->chain >= NFT_CHAIN_COUNT ||
				       strcmp(nft_chain_name(c->chain), c->name) != 0))
			abort();
		if (c->kind != NFT_CHANGE_ELEM_ADD && c->kind != NFT_CHANGE_ELEM_DEL) {
			if (c->elem.family != 0 || c->is_prefix)
				abort();
			continue;
		}
		if (c->elem.family == 0) {
			if (c->is_prefix)
				abort();
			continue;
		}
		if (c->elem.family != AF_INET && c->elem.family != AF_INET6)
			abort();
		len = c->elem.family == AF_INET ? 4 : 16;
		if (memcmp(c->elem.first, c->elem.last, len) > 0)
			abort();
		if (c->prefix.family != c->elem.family ||
		    memcmp(c->prefix.addr, c->elem.first, len) != 0)
			abort();
		if (c->is_prefix) {
			p = c->prefix;
			addr_range(&p, first, last);
			if (memcmp(first, c->elem.first, len) != 0 ||
			    memcmp(last, c->elem.last, len) != 0)
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nft_txn_asm a = {0};
	size_t off = 0;
	/* Copy to an aligned buffer: netlink headers are read in place. */
	uint8_t *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	while (size - off >= sizeof(struct nlmsghdr)) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)(buf + off);
		struct shield_error err = {0};
		struct nft_notify n;
		struct nft_txn t;
		int r;

		if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > size - off)
			break;
		r = nft_notify_decode(nlh, &n, &err);
		if (r < 0) {
			fuzz_check_error(r, &err);
			if (r != -EPROTO && r != -EPROTONOSUPPORT && r != -E2BIG && r != -ENOMEM)
				abort();
		} else {
			if (r != 0)
				abort();
			check_notify(&n);
			if (nft_txn_asm_feed(&a, &n, &t) == 1) {
				check_txn(&t);
				nft_txn_asm_reset(&a);
			}
		}
		nft_notify_free(&n);
		off += NLMSG_ALIGN(nlh->nlmsg_len);
		if (off > size)
			break;
	}
	nft_txn_asm_free(&a);
	free(buf);
	return 0;
}
