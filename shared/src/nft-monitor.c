/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nftables notifications: a pure decoder for one message, the assembly of
 * decoded messages into transactions (a committed batch's notifications end
 * with its NEWGEN, which names the writer), and the socket that reads them.
 * The decoder parses attributes itself with libmnl's layout rules and checks
 * every length, because the bytes it is fuzzed with are arbitrary.
 */
#include <netinet/in.h> /* before any linux/ header: glibc guards the uapi duplicates */
#include <arpa/inet.h>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "nft-internal.h"
#include "shield/grow.h"
#include "shield/netns.h"
#include "shield/nft-monitor.h"

/* ---- attributes ------------------------------------------------------- */

/*
 * Index the attributes in buf by type (the last of each type wins; types
 * above max are skipped; tb NULL: only check the layout). Every attribute must lie within buf and nothing
 * but alignment padding may follow the last one.
 */
static int attrs_index(const void *buf, size_t len, const struct nlattr **tb, uint16_t max)
{
	const uint8_t *p = buf;

	if (tb)
		memset(tb, 0, ((size_t)max + 1) * sizeof(*tb));
	while (len >= sizeof(struct nlattr)) {
		const struct nlattr *a = (const struct nlattr *)p;
		size_t step;
		uint16_t type;

		if (a->nla_len < sizeof(*a) || a->nla_len > len)
			return -EPROTO;
		type = a->nla_type & NLA_TYPE_MASK;
		if (tb && type <= max)
			tb[type] = a;
		step = MNL_ALIGN(a->nla_len);
		if (step > len)
			step = len;
		p += step;
		len -= step;
	}
	return len == 0 ? 0 : -EPROTO;
}

static int attrs_nested(const struct nlattr *a, const struct nlattr **tb, uint16_t max)
{
	return attrs_index(mnl_attr_get_payload(a), mnl_attr_get_payload_len(a), tb, max);
}

static int attr_be32(const struct nlattr *a, uint32_t *out)
{
	if (mnl_attr_get_payload_len(a) != sizeof(uint32_t))
		return -EPROTO;
	*out = ntohl(mnl_attr_get_u32(a));
	return 0;
}

static int attr_be64(const struct nlattr *a, uint64_t *out)
{
	if (mnl_attr_get_payload_len(a) != sizeof(uint64_t))
		return -EPROTO;
	*out = be64toh(mnl_attr_get_u64(a));
	return 0;
}

/* A string attribute: NUL-terminated within its payload, shorter than size. */
static int attr_str(const struct nlattr *a, char *out, size_t size)
{
	const char *s = mnl_attr_get_payload(a);
	size_t len = mnl_attr_get_payload_len(a);
	size_t n = strnlen(s, len);

	if (n == len || n >= size)
		return -EPROTO;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* ---- decoding one message ------------------------------------------------ */

static const char *msg_name(uint16_t type)
{
	static const char *const names[] = {
		[NFT_MSG_NEWTABLE] = "NEWTABLE",
		[NFT_MSG_GETTABLE] = "GETTABLE",
		[NFT_MSG_DELTABLE] = "DELTABLE",
		[NFT_MSG_NEWCHAIN] = "NEWCHAIN",
		[NFT_MSG_GETCHAIN] = "GETCHAIN",
		[NFT_MSG_DELCHAIN] = "DELCHAIN",
		[NFT_MSG_NEWRULE] = "NEWRULE",
		[NFT_MSG_GETRULE] = "GETRULE",
		[NFT_MSG_DELRULE] = "DELRULE",
		[NFT_MSG_NEWSET] = "NEWSET",
		[NFT_MSG_GETSET] = "GETSET",
		[NFT_MSG_DELSET] = "DELSET",
		[NFT_MSG_NEWSETELEM] = "NEWSETELEM",
		[NFT_MSG_GETSETELEM] = "GETSETELEM",
		[NFT_MSG_DELSETELEM] = "DELSETELEM",
		[NFT_MSG_NEWGEN] = "NEWGEN",
		[NFT_MSG_GETGEN] = "GETGEN",
		[NFT_MSG_TRACE] = "TRACE",
		[NFT_MSG_NEWOBJ] = "NEWOBJ",
		[NFT_MSG_GETOBJ] = "GETOBJ",
		[NFT_MSG_DELOBJ] = "DELOBJ",
		[NFT_MSG_GETOBJ_RESET] = "GETOBJ_RESET",
		[NFT_MSG_NEWFLOWTABLE] = "NEWFLOWTABLE",
		[NFT_MSG_GETFLOWTABLE] = "GETFLOWTABLE",
		[NFT_MSG_DELFLOWTABLE] = "DELFLOWTABLE",
	};

	return type < ARRAY_SIZE(names) && names[type] ? names[type] : "message";
}

/* Describe a malformed message and fail with -EPROTO. */
static int malformed(struct shield_error *err, uint16_t type, const char *what)
{
	return shield_error_set(err, -EPROTO, "nftables notification %s (type %u): %s",
				msg_name(type), type, what);
}

static int decode_table(const void *attrs, size_t len, struct nft_notify *n,
			struct shield_error *err)
{
	const struct nlattr *tb[NFTA_TABLE_MAX + 1];

	if (attrs_index(attrs, len, tb, NFTA_TABLE_MAX) < 0)
		return malformed(err, n->msg_type, "attributes run past the message");
	if (tb[NFTA_TABLE_NAME] && attr_str(tb[NFTA_TABLE_NAME], n->table, sizeof(n->table)) < 0)
		return malformed(err, n->msg_type, "bad table name");
	if (tb[NFTA_TABLE_HANDLE]) {
		if (attr_be64(tb[NFTA_TABLE_HANDLE], &n->handle) < 0)
			return malformed(err, n->msg_type, "bad table handle");
		n->has_handle = true;
	}
	return 0;
}

static int decode_chain(const void *attrs, size_t len, struct nft_notify *n,
			struct shield_error *err)
{
	const struct nlattr *tb[NFTA_CHAIN_MAX + 1];

	if (attrs_index(attrs, len, tb, NFTA_CHAIN_MAX) < 0)
		return malformed(err, n->msg_type, "attributes run past the message");
	if (tb[NFTA_CHAIN_TABLE] && attr_str(tb[NFTA_CHAIN_TABLE], n->table, sizeof(n->table)) < 0)
		return malformed(err, n->msg_type, "bad table name");
	if (tb[NFTA_CHAIN_NAME] && attr_str(tb[NFTA_CHAIN_NAME], n->name, sizeof(n->name)) < 0)
		return malformed(err, n->msg_type, "bad chain name");
	if (tb[NFTA_CHAIN_HANDLE]) {
		if (attr_be64(tb[NFTA_CHAIN_HANDLE], &n->handle) < 0)
			return malformed(err, n->msg_type, "bad chain handle");
		n->has_handle = true;
	}
	if (tb[NFTA_CHAIN_POLICY]) {
		if (attr_be32(tb[NFTA_CHAIN_POLICY], &n->policy) < 0)
			return malformed(err, n->msg_type, "bad chain policy");
		n->has_policy = true;
	}
	if (tb[NFTA_CHAIN_HOOK]) {
		const struct nlattr *hook[NFTA_HOOK_MAX + 1];

		if (attrs_nested(tb[NFTA_CHAIN_HOOK], hook, NFTA_HOOK_MAX) < 0)
			return malformed(err, n->msg_type, "bad chain hook");
		if (hook[NFTA_HOOK_HOOKNUM]) {
			if (attr_be32(hook[NFTA_HOOK_HOOKNUM], &n->hooknum) < 0)
				return malformed(err, n->msg_type, "bad chain hook number");
			n->has_hook = true;
		}
	}
	return 0;
}

static int decode_rule(const void *attrs, size_t len, struct nft_notify *n,
		       struct shield_error *err)
{
	const struct nlattr *tb[NFTA_RULE_MAX + 1];

	if (attrs_index(attrs, len, tb, NFTA_RULE_MAX) < 0)
		return malformed(err, n->msg_type, "attributes run past the message");
	if (tb[NFTA_RULE_TABLE] && attr_str(tb[NFTA_RULE_TABLE], n->table, sizeof(n->table)) < 0)
		return malformed(err, n->msg_type, "bad table name");
	if (tb[NFTA_RULE_CHAIN] && attr_str(tb[NFTA_RULE_CHAIN], n->name, sizeof(n->name)) < 0)
		return malformed(err, n->msg_type, "bad chain name");
	if (tb[NFTA_RULE_HANDLE]) {
		if (attr_be64(tb[NFTA_RULE_HANDLE], &n->handle) < 0)
			return malformed(err, n->msg_type, "bad rule handle");
		n->has_handle = true;
	}
	return 0;
}

static int decode_set(const void *attrs, size_t len, struct nft_notify *n, struct shield_error *err)
{
	const struct nlattr *tb[NFTA_SET_MAX + 1];

	if (attrs_index(attrs, len, tb, NFTA_SET_MAX) < 0)
		return malformed(err, n->msg_type, "attributes run past the message");
	if (tb[NFTA_SET_TABLE] && attr_str(tb[NFTA_SET_TABLE], n->table, sizeof(n->table)) < 0)
		return malformed(err, n->msg_type, "bad table name");
	if (tb[NFTA_SET_NAME] && attr_str(tb[NFTA_SET_NAME], n->name, sizeof(n->name)) < 0)
		return malformed(err, n->msg_type, "bad set name");
	if (tb[NFTA_SET_HANDLE]) {
		if (attr_be64(tb[NFTA_SET_HANDLE], &n->handle) < 0)
			return malformed(err, n->msg_type, "bad set handle");
		n->has_handle = true;
	}
	return 0;
}

/* A key (NFTA_DATA_VALUE nested in NFTA_SET_ELEM_KEY or _KEY_END): length and first 16 bytes. */
static int decode_key(const struct nlattr *a, uint8_t key[16], uint32_t *key_len)
{
	const struct nlattr *tb[NFTA_DATA_MAX + 1];
	uint32_t len;

	if (attrs_nested(a, tb, NFTA_DATA_MAX) < 0 || !tb[NFTA_DATA_VALUE])
		return -EPROTO;
	len = mnl_attr_get_payload_len(tb[NFTA_DATA_VALUE]);
	memcpy(key, mnl_attr_get_payload(tb[NFTA_DATA_VALUE]), len < 16 ? len : 16);
	*key_len = len;
	return 0;
}

static int decode_elem(const struct nlattr *a, struct nft_notify_elem *e, uint16_t type,
		       struct shield_error *err)
{
	const struct nlattr *tb[NFTA_SET_ELEM_MAX + 1];
	uint32_t flags = 0;

	memset(e, 0, sizeof(*e));
	if (attrs_nested(a, tb, NFTA_SET_ELEM_MAX) < 0)
		return malformed(err, type, "bad set element");
	if (tb[NFTA_SET_ELEM_KEY] && decode_key(tb[NFTA_SET_ELEM_KEY], e->key, &e->key_len) < 0)
		return malformed(err, type, "bad set element key");
	if (tb[NFTA_SET_ELEM_KEY_END]) {
		uint32_t end_len = 0;

		if (decode_key(tb[NFTA_SET_ELEM_KEY_END], e->key_end, &end_len) < 0 ||
		    end_len != e->key_len)
			return malformed(err, type, "bad set element end key");
		e->has_key_end = true;
	}
	if (tb[NFTA_SET_ELEM_FLAGS] && attr_be32(tb[NFTA_SET_ELEM_FLAGS], &flags) < 0)
		return malformed(err, type, "bad set element flags");
	e->end = flags & NFT_SET_ELEM_INTERVAL_END;
	if (tb[NFTA_SET_ELEM_TIMEOUT]) {
		if (attr_be64(tb[NFTA_SET_ELEM_TIMEOUT], &e->timeout_ms) < 0)
			return malformed(err, type, "bad set element timeout");
		e->has_timeout = true;
	}
	if (tb[NFTA_SET_ELEM_EXPIRATION]) {
		if (attr_be64(tb[NFTA_SET_ELEM_EXPIRATION], &e->expires_ms) < 0)
			return malformed(err, type, "bad set element expiration");
		e->has_expiration = true;
	}
	return 0;
}

static int decode_elems(const void *attrs, size_t len, struct nft_notify *n,
			struct shield_error *err)
{
	const struct nlattr *tb[NFTA_SET_ELEM_LIST_MAX + 1];
	const struct nlattr *a;
	size_t count = 0;

	if (attrs_index(attrs, len, tb, NFTA_SET_ELEM_LIST_MAX) < 0)
		return malformed(err, n->msg_type, "attributes run past the message");
	if (tb[NFTA_SET_ELEM_LIST_TABLE] &&
	    attr_str(tb[NFTA_SET_ELEM_LIST_TABLE], n->table, sizeof(n->table)) < 0)
		return malformed(err, n->msg_type, "bad table name");
	if (tb[NFTA_SET_ELEM_LIST_SET] &&
	    attr_str(tb[NFTA_SET_ELEM_LIST_SET], n->name, sizeof(n->name)) < 0)
		return malformed(err, n->msg_type, "bad set name");
	if (!tb[NFTA_SET_ELEM_LIST_ELEMENTS])
		return 0;
	/* The list was checked by attrs_index: its members lie within it. */
	if (attrs_index(mnl_attr_get_payload(tb[NFTA_SET_ELEM_LIST_ELEMENTS]),
			mnl_attr_get_payload_len(tb[NFTA_SET_ELEM_LIST_ELEMENTS]), NULL, 0) < 0)
		return malformed(err, n->msg_type, "bad element list");
	mnl_attr_for_each_nested(a, tb[NFTA_SET_ELEM_LIST_ELEMENTS])
	{
		if (mnl_attr_get_type(a) == NFTA_LIST_ELEM)
			count++;
	}
	if (count > NFT_NOTIFY_ELEMS_MAX)
		return shield_error_set(err, -E2BIG,
					"nftables notification %s: %zu elements, more than %d",
					msg_name(n->msg_type), count, NFT_NOTIFY_ELEMS_MAX);
	if (count == 0)
		return 0;
	n->elems = calloc(count, sizeof(*n->elems));
	if (!n->elems)
		return shield_error_set(err, -ENOMEM, "out of memory");
	mnl_attr_for_each_nested(a, tb[NFTA_SET_ELEM_LIST_ELEMENTS])
	{
		int r;

		if (mnl_attr_get_type(a) != NFTA_LIST_ELEM)
			continue;
		r = decode_elem(a, &n->elems[n->n_elems], n->msg_type, err);
		if (r < 0)
			return r;
		n->n_elems++;
	}
	return 0;
}

static int decode_gen(const void *attrs, size_t len, struct nft_notify *n, struct shield_error *err)
{
	const struct nlattr *tb[NFTA_GEN_PROC_NAME + 1];

	if (attrs_index(attrs, len, tb, NFTA_GEN_PROC_NAME) < 0)
		return malformed(err, n->msg_type, "attributes run past the message");
	if (tb[NFTA_GEN_ID] && attr_be32(tb[NFTA_GEN_ID], &n->gen_id) < 0)
		return malformed(err, n->msg_type, "bad generation id");
	if (tb[NFTA_GEN_PROC_PID] && attr_be32(tb[NFTA_GEN_PROC_PID], &n->pid) < 0)
		return malformed(err, n->msg_type, "bad process id");
	if (tb[NFTA_GEN_PROC_NAME] &&
	    attr_str(tb[NFTA_GEN_PROC_NAME], n->comm, sizeof(n->comm)) < 0)
		return malformed(err, n->msg_type, "bad process name");
	return 0;
}

/* Objects and flowtables name their table in attribute 1 (NFTA_OBJ_TABLE, NFTA_FLOWTABLE_TABLE). */
static int decode_other(const void *attrs, size_t len, struct nft_notify *n,
			struct shield_error *err)
{
	const struct nlattr *tb[2];

	if (attrs_index(attrs, len, tb, 1) < 0)
		return malformed(err, n->msg_type, "attributes run past the message");
	if (tb[1] && attr_str(tb[1], n->table, sizeof(n->table)) < 0)
		return malformed(err, n->msg_type, "bad table name");
	return 0;
}

int nft_notify_decode(const struct nlmsghdr *nlh, struct nft_notify *out, struct shield_error *err)
{
	const struct nfgenmsg *g;
	const void *attrs;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (nlh->nlmsg_len < NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(*g)))
		return shield_error_set(err, -EPROTO,
					"nftables notification: %u bytes, too short for a message",
					nlh->nlmsg_len);
	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES)
		return shield_error_set(err, -EPROTONOSUPPORT,
					"netlink message type %#x is not from nf_tables",
					nlh->nlmsg_type);
	g = mnl_nlmsg_get_payload(nlh);
	out->msg_type = NFNL_MSG_TYPE(nlh->nlmsg_type);
	out->family = g->nfgen_family;
	attrs = (const uint8_t *)g + NLMSG_ALIGN(sizeof(*g));
	len = nlh->nlmsg_len - NLMSG_HDRLEN - NLMSG_ALIGN(sizeof(*g));

	switch (out->msg_type) {
	case NFT_MSG_NEWTABLE:
	case NFT_MSG_DELTABLE:
		out->type = NFT_NOTIFY_TABLE;
		out->del = out->msg_type == NFT_MSG_DELTABLE;
		return decode_table(attrs, len, out, err);
	case NFT_MSG_NEWCHAIN:
	case NFT_MSG_DELCHAIN:
		out->type = NFT_NOTIFY_CHAIN;
		out->del = out->msg_type == NFT_MSG_DELCHAIN;
		return decode_chain(attrs, len, out, err);
	case NFT_MSG_NEWRULE:
	case NFT_MSG_DELRULE:
		out->type = NFT_NOTIFY_RULE;
		out->del = out->msg_type == NFT_MSG_DELRULE;
		return decode_rule(attrs, len, out, err);
	case NFT_MSG_NEWSET:
	case NFT_MSG_DELSET:
		out->type = NFT_NOTIFY_SET;
		out->del = out->msg_type == NFT_MSG_DELSET;
		return decode_set(attrs, len, out, err);
	case NFT_MSG_NEWSETELEM:
	case NFT_MSG_DELSETELEM:
		out->type = NFT_NOTIFY_ELEMS;
		out->del = out->msg_type == NFT_MSG_DELSETELEM;
		return decode_elems(attrs, len, out, err);
	case NFT_MSG_NEWGEN:
		out->type = NFT_NOTIFY_GEN;
		return decode_gen(attrs, len, out, err);
	case NFT_MSG_NEWOBJ:
	case NFT_MSG_DELOBJ:
	case NFT_MSG_NEWFLOWTABLE:
	case NFT_MSG_DELFLOWTABLE:
		out->type = NFT_NOTIFY_OTHER;
		out->del = out->msg_type == NFT_MSG_DELOBJ || out->msg_type == NFT_MSG_DELFLOWTABLE;
		return decode_other(attrs, len, out, err);
	default:
		/* A kind this build does not know: it names no table we can trust. */
		out->type = NFT_NOTIFY_OTHER;
		return 0;
	}
}

void nft_notify_free(struct nft_notify *n)
{
	if (!n)
		return;
	free(n->elems);
	memset(n, 0, sizeof(*n));
}

bool nft_notify_is_ours(const struct nft_notify *n)
{
	return n->type != NFT_NOTIFY_GEN && n->family == NFPROTO_INET &&
	       strcmp(n->table, NFT_TABLE_NAME) == 0;
}

const char *nft_change_kind_name(enum nft_change_kind kind)
{
	static const char *const names[] = {
		[NFT_CHANGE_TABLE_ADD] = "table.add", [NFT_CHANGE_TABLE_DEL] = "table.del",
		[NFT_CHANGE_CHAIN_ADD] = "chain.add", [NFT_CHANGE_CHAIN_DEL] = "chain.del",
		[NFT_CHANGE_RULE_ADD] = "rule.add",   [NFT_CHANGE_RULE_DEL] = "rule.del",
		[NFT_CHANGE_SET_ADD] = "set.add",     [NFT_CHANGE_SET_DEL] = "set.del",
		[NFT_CHANGE_ELEM_ADD] = "elem.add",   [NFT_CHANGE_ELEM_DEL] = "elem.del",
		[NFT_CHANGE_OTHER] = "other",
	};

	return (unsigned)kind < ARRAY_SIZE(names) && names[kind] ? names[kind] : "other";
}

/* ---- transactions --------------------------------------------------------- */

void nft_txn_asm_reset(struct nft_txn_asm *a)
{
	a->n_changes = 0;
	a->n_group = 0;
	a->group_open = false;
	a->partial = false;
	/* A huge transaction's buffers go back once it is delivered. */
	if (a->cap_changes > 1024) {
		free(a->changes);
		a->changes = NULL;
		a->cap_changes = 0;
	}
	if (a->cap_group > 2048) {
		free(a->group);
		a->group = NULL;
		a->cap_group = 0;
	}
}

void nft_txn_asm_free(struct nft_txn_asm *a)
{
	free(a->changes);
	free(a->group);
	memset(a, 0, sizeof(*a));
}

/* Room for one more change; NULL (and the transaction partial) at the cap. */
static struct nft_change *asm_change(struct nft_txn_asm *a)
{
	struct nft_change *c;

	if (a->n_changes == NFT_TXN_CHANGES_MAX) {
		a->partial = true;
		return NULL;
	}
	if (a->n_changes == a->cap_changes) {
		size_t cap = a->cap_changes ? a->cap_changes * 2 : 16;

		if (cap > NFT_TXN_CHANGES_MAX)
			cap = NFT_TXN_CHANGES_MAX;
		c = realloc(a->changes, cap * sizeof(*c));
		if (!c) {
			a->partial = true;
			return NULL;
		}
		a->changes = c;
		a->cap_changes = cap;
	}
	c = &a->changes[a->n_changes++];
	memset(c, 0, sizeof(*c));
	c->set = -1;
	c->chain = -1;
	return c;
}

/* Sort: by key length, then key; at one key an interval end sorts before a start. */
static int group_cmp(const void *pa, const void *pb)
{
	const struct nft_notify_elem *x = pa, *y = pb;
	int c;

	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	c = memcmp(x->key, y->key, x->key_len < 16 ? x->key_len : 16);
	if (c)
		return c;
	return (int)y->end - (int)x->end;
}

/* The prefix length if first..last is exactly one CIDR prefix, else -1. */
static int range_prefix_len(const uint8_t *first, const uint8_t *last, size_t len)
{
	size_t bit = 0;

	/* Leading bits where first and last agree form the prefix... */
	while (bit < len * 8) {
		uint8_t m = (uint8_t)(0x80 >> (bit % 8));

		if ((first[bit / 8] & m) != (last[bit / 8] & m))
			break;
		bit++;
	}
	/* ...and every bit after it is 0 in first and 1 in last. */
	for (size_t b = bit; b < len * 8; b++) {
		uint8_t m = (uint8_t)(0x80 >> (b % 8));

		if ((first[b / 8] & m) || !(last[b / 8] & m))
			return -1;
	}
	return (int)bit;
}

static void emit_elem(struct nft_txn_asm *a, const struct nft_notify_elem *start,
		      const uint8_t *last)
{
	struct nft_change *c = asm_change(a);
	size_t len = start->key_len;

	if (!c)
		return;
	c->kind = a->group_kind;
	c->msg_type =
		a->group_kind == NFT_CHANGE_ELEM_DEL ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM;
	memcpy(c->name, a->group_set, sizeof(c->name));
	c->set = nft_set_lookup(c->name);
	if (c->set < 0)
		c->set = -1;
	c->elem.has_timeout = start->has_timeout;
	c->elem.timeout_ms = start->timeout_ms;
	c->elem.has_expiration = start->has_expiration;
	c->elem.expires_ms = start->has_expiration ? start->expires_ms : 0;
	if (len != 4 && len != 16)
		return; /* not an address: family 0, no range */
	c->elem.family = len == 4 ? AF_INET : AF_INET6;
	memcpy(c->elem.first, start->key, len);
	memcpy(c->elem.last, last, len);
	c->prefix.family = c->elem.family;
	memcpy(c->prefix.addr, start->key, len);
	{
		int plen = range_prefix_len(c->elem.first, c->elem.last, len);

		c->is_prefix = plen >= 0;
		c->prefix.plen = (uint8_t)(plen >= 0 ? plen : (int)len * 8);
	}
}

/*
 * Turn the gathered elements of one set and direction into changes: an
 * interval start pairs with the end that follows it in key order (the range
 * is start .. end - 1), a start without an end runs to the top of the
 * address space, and an end without a start (nft's sentinel at 0.0.0.0) is
 * dropped. In a set that is not one of shield's interval sets, a group
 * without any end marker holds single keys.
 */
static void asm_flush_group(struct nft_txn_asm *a)
{
	struct nft_notify_elem *g = a->group;
	size_t n = a->n_group;
	bool intervals = nft_set_lookup(a->group_set) >= 0;

	if (!a->group_open)
		return;
	for (size_t i = 0; i < n && !intervals; i++)
		intervals = g[i].end;
	if (n > 1)
		qsort(g, n, sizeof(*g), group_cmp);
	for (size_t i = 0; i < n; i++) {
		const struct nft_notify_elem *start = &g[i];
		uint8_t last[16];
		size_t len = g[i].key_len < 16 ? g[i].key_len : 16;

		if (g[i].end)
			continue;
		if (g[i].has_key_end) {
			memcpy(last, g[i].key_end, len);
		} else if (!intervals) {
			memcpy(last, g[i].key, len);
		} else if (i + 1 < n && g[i + 1].end && g[i + 1].key_len == g[i].key_len) {
			/* last = end - 1 */
			memcpy(last, g[i + 1].key, len);
			for (size_t k = len; k-- > 0;)
				if (last[k]-- != 0)
					break;
			i++;
		} else {
			memset(last, 0xff, len);
		}
		emit_elem(a, start, last);
	}
	a->n_group = 0;
	a->group_open = false;
}

static int asm_gather(struct nft_txn_asm *a, const struct nft_notify *n)
{
	enum nft_change_kind kind = n->del ? NFT_CHANGE_ELEM_DEL : NFT_CHANGE_ELEM_ADD;

	if (a->group_open && (a->group_kind != kind || strcmp(a->group_set, n->name) != 0))
		asm_flush_group(a);
	if (!a->group_open) {
		a->group_open = true;
		a->group_kind = kind;
		memcpy(a->group_set, n->name, sizeof(a->group_set));
	}
	if (a->n_group + n->n_elems > 2 * (size_t)NFT_TXN_CHANGES_MAX) {
		a->partial = true;
		return 0;
	}
	if (a->n_group + n->n_elems > a->cap_group) {
		struct nft_notify_elem *g = shield_grow(a->group, &a->cap_group,
							a->n_group + n->n_elems, sizeof(*g), 16);

		if (!g) {
			a->partial = true;
			return 0;
		}
		a->group = g;
	}
	memcpy(a->group + a->n_group, n->elems, n->n_elems * sizeof(*n->elems));
	a->n_group += n->n_elems;
	return 0;
}

static void asm_object(struct nft_txn_asm *a, const struct nft_notify *n)
{
	struct nft_change *c;

	asm_flush_group(a);
	c = asm_change(a);
	if (!c)
		return;
	c->msg_type = n->msg_type;
	c->has_handle = n->has_handle;
	c->handle = n->handle;
	switch (n->type) {
	case NFT_NOTIFY_TABLE:
		c->kind = n->del ? NFT_CHANGE_TABLE_DEL : NFT_CHANGE_TABLE_ADD;
		memcpy(c->name, n->table, sizeof(c->name));
		break;
	case NFT_NOTIFY_CHAIN:
		c->kind = n->del ? NFT_CHANGE_CHAIN_DEL : NFT_CHANGE_CHAIN_ADD;
		c->has_policy = n->has_policy;
		c->policy = n->policy;
		/* fall through */
	case NFT_NOTIFY_RULE:
		if (n->type == NFT_NOTIFY_RULE)
			c->kind = n->del ? NFT_CHANGE_RULE_DEL : NFT_CHANGE_RULE_ADD;
		memcpy(c->name, n->name, sizeof(c->name));
		c->chain = nft_chain_lookup(c->name);
		if (c->chain < 0)
			c->chain = -1;
		break;
	case NFT_NOTIFY_SET:
		c->kind = n->del ? NFT_CHANGE_SET_DEL : NFT_CHANGE_SET_ADD;
		memcpy(c->name, n->name, sizeof(c->name));
		c->set = nft_set_lookup(c->name);
		if (c->set < 0)
			c->set = -1;
		break;
	default:
		c->kind = NFT_CHANGE_OTHER;
		break;
	}
}

int nft_txn_asm_feed(struct nft_txn_asm *a, const struct nft_notify *n, struct nft_txn *out)
{
	if (n->type == NFT_NOTIFY_GEN) {
		asm_flush_group(a);
		if (a->n_changes == 0) {
			/* A transaction that left shield's table alone. */
			nft_txn_asm_reset(a);
			return 0;
		}
		memset(out, 0, sizeof(*out));
		out->gen_id = n->gen_id;
		out->pid = n->pid;
		memcpy(out->comm, n->comm, sizeof(out->comm));
		out->changes = a->changes;
		out->n_changes = a->n_changes;
		out->partial = a->partial;
		return 1;
	}
	if (!nft_notify_is_ours(n))
		return 0;
	if (n->type == NFT_NOTIFY_ELEMS)
		return asm_gather(a, n);
	asm_object(a, n);
	return 0;
}

/* ---- the socket ---------------------------------------------------------- */

/* One datagram; the kernel packs notifications into skbs of about a page. */
#define NFT_MONITOR_BUF NFT_MONITOR_BUF_SIZE

struct nft_monitor {
	struct mnl_socket *nl;
	uint8_t *buf;
	bool own_buf; /* buf is ours to free (not a caller's shared one) */
	struct nft_txn_asm txn;
	bool lossy; /* notifications were lost and the gathered transaction may be incomplete */
	struct nft_monitor_stats stats;
};

struct monitor_open {
	size_t rcvbuf;
	void *buf;
	struct nft_monitor **out;
};

static int monitor_open_here(void *arg, struct shield_error *err)
{
	struct monitor_open *o = arg;
	_cleanup_nft_monitor_ struct nft_monitor *m = calloc(1, sizeof(*m));
	unsigned int group = NFNLGRP_NFTABLES;
	int off = 0, size, r;

	if (!m)
		return shield_error_set(err, -ENOMEM, "out of memory");
	m->buf = o->buf;
	if (!m->buf) {
		m->buf = malloc(NFT_MONITOR_BUF);
		if (!m->buf)
			return shield_error_set(err, -ENOMEM, "out of memory");
		m->own_buf = true;
	}
	m->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!m->nl) {
		r = negative_errno();
		return shield_error_set(err, r, "cannot open an nftables notification socket: %s",
					strerror(-r));
	}
	if (mnl_socket_bind(m->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = negative_errno();
		return shield_error_set(err, r, "cannot bind the nftables notification socket: %s",
					strerror(-r));
	}
	/* Loss must be reported, never hidden: ENOBUFS stays on. */
	if (mnl_socket_setsockopt(m->nl, NETLINK_NO_ENOBUFS, &off, sizeof(off)) < 0) {
		r = negative_errno();
		return shield_error_set(err, r, "cannot keep ENOBUFS reporting on: %s",
					strerror(-r));
	}
	size = o->rcvbuf > (size_t)(INT32_MAX / 2) ? INT32_MAX / 2 : (int)o->rcvbuf;
	if (size == 0)
		size = NFT_MONITOR_RCVBUF_DEFAULT;
	/* FORCE passes net.core.rmem_max where the caller may (CAP_NET_ADMIN). */
	if (setsockopt(mnl_socket_get_fd(m->nl), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) <
		    0 &&
	    setsockopt(mnl_socket_get_fd(m->nl), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) < 0) {
		r = negative_errno();
		return shield_error_set(err, r, "cannot size the notification receive buffer: %s",
					strerror(-r));
	}
	if (mnl_socket_setsockopt(m->nl, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
		r = negative_errno();
		return shield_error_set(err, r, "cannot subscribe to nftables notifications: %s",
					strerror(-r));
	}
	*o->out = TAKE_PTR(m);
	return 0;
}

int nft_monitor_open_shared(int nsfd, size_t rcvbuf, void *buf, struct nft_monitor **out,
			    struct shield_error *err)
{
	struct monitor_open o = {.rcvbuf = rcvbuf, .buf = buf, .out = out};

	*out = NULL;
	return nsfd < 0 ? monitor_open_here(&o, err) : netns_call(nsfd, monitor_open_here, &o, err);
}

int nft_monitor_open(int nsfd, size_t rcvbuf, struct nft_monitor **out, struct shield_error *err)
{
	return nft_monitor_open_shared(nsfd, rcvbuf, NULL, out, err);
}

int nft_monitor_fd(const struct nft_monitor *mon)
{
	return mnl_socket_get_fd(mon->nl);
}

void nft_monitor_close(struct nft_monitor *mon)
{
	if (!mon)
		return;
	if (mon->nl)
		mnl_socket_close(mon->nl);
	nft_txn_asm_free(&mon->txn);
	if (mon->own_buf)
		free(mon->buf);
	free(mon);
}

/* The kernel dropped notifications: what was being gathered cannot be trusted. */
static void monitor_lost(struct nft_monitor *mon)
{
	mon->stats.losses++;
	nft_txn_asm_reset(&mon->txn);
	mon->lossy = true;
}

/* Decode and assemble every message of one datagram; *lost when one did not decode. */
static int monitor_datagram(struct nft_monitor *mon, size_t len, nft_monitor_cb cb, void *data,
			    bool *lost)
{
	int left = (int)len;

	for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)mon->buf;
	     mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
		struct nft_notify n;
		struct nft_txn txn;
		int r;

		if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
			continue; /* NOOP, ERROR, DONE: nothing a listener is sent */
		r = nft_notify_decode(nlh, &n, NULL);
		if (r < 0) {
			nft_notify_free(&n);
			mon->stats.undecodable++;
			/*
			 * A change we cannot read may have been ours: the view is
			 * incomplete, as after a loss.
			 */
			if (r != -EPROTONOSUPPORT) {
				mon->txn.partial = true;
				*lost = true;
			}
			continue;
		}
		mon->stats.messages++;
		r = nft_txn_asm_feed(&mon->txn, &n, &txn);
		if (n.type == NFT_NOTIFY_GEN)
			mon->stats.last_gen_id = n.gen_id;
		nft_notify_free(&n);
		if (r == 1) {
			txn.partial |= mon->lossy;
			mon->stats.transactions++;
			r = cb(&txn, data);
			nft_txn_asm_reset(&mon->txn);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int nft_monitor_read(struct nft_monitor *mon, nft_monitor_cb cb, void *data,
		     struct shield_error *err)
{
	int result = 0;

	for (;;) {
		struct sockaddr_nl from;
		socklen_t fromlen = sizeof(from);
		bool lost = false;
		ssize_t n;
		int r;

		/* MSG_TRUNC: the datagram's real length, so a cut one is noticed. */
		n = recvfrom(mnl_socket_get_fd(mon->nl), mon->buf, NFT_MONITOR_BUF, MSG_TRUNC,
			     (struct sockaddr *)&from, &fromlen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == ENOBUFS) {
				monitor_lost(mon);
				result = NFT_MONITOR_LOST;
				continue;
			}
			r = negative_errno();
			return shield_error_set(err, r, "reading nftables notifications: %s",
						strerror(-r));
		}
		if ((size_t)n > NFT_MONITOR_BUF) {
			monitor_lost(mon);
			result = NFT_MONITOR_LOST;
			continue;
		}
		/* Only the kernel speaks on this group. */
		if (fromlen != sizeof(from) || from.nl_family != AF_NETLINK || from.nl_pid != 0)
			continue;
		r = monitor_datagram(mon, (size_t)n, cb, data, &lost);
		if (r < 0)
			return r;
		if (lost)
			result = NFT_MONITOR_LOST;
	}
	/* Drained: once no transaction is half gathered, the loss is behind us. */
	if (mon->lossy && mon->txn.n_changes == 0 && !mon->txn.group_open)
		mon->lossy = false;
	return result;
}

void nft_monitor_stats(const struct nft_monitor *mon, struct nft_monitor_stats *out)
{
	*out = mon->stats;
}
