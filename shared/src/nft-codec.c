/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The model as libnftnl objects and back. Rules are encoded the way nft
 * 1.0.6 compiles the same statements, so `nft list` prints them the way
 * nft_ruleset_render() does; decoding accepts exactly those expression
 * sequences and flags anything else as a rule shield did not write.
 */
#include <netinet/in.h> /* before any linux/ header: glibc guards the uapi duplicates */
#include <arpa/inet.h>
#include <endian.h>
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>
#include <libnftnl/expr.h>

#include "nft-internal.h"

/* ---- encoding -------------------------------------------------------- */

struct nftnl_table *nft_encode_table(void)
{
	struct nftnl_table *t = nftnl_table_alloc();

	if (!t)
		return NULL;
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFT_TABLE_NAME);
	return t;
}

struct nftnl_set *nft_encode_set(enum nft_set_id id, const struct nft_set *s, uint32_t set_id)
{
	struct nftnl_set *ns = nftnl_set_alloc();
	bool v4 = nft_set_family(id) == AF_INET;

	if (!ns)
		return NULL;
	nftnl_set_set_u32(ns, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_str(ns, NFTNL_SET_TABLE, NFT_TABLE_NAME);
	nftnl_set_set_str(ns, NFTNL_SET_NAME, nft_set_name(id));
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_TYPE, v4 ? NFT_DATATYPE_IPADDR : NFT_DATATYPE_IP6ADDR);
	nftnl_set_set_u32(ns, NFTNL_SET_KEY_LEN, v4 ? 4 : 16);
	nftnl_set_set_u32(ns, NFTNL_SET_FLAGS, s->flags);
	if (s->timeout_ms)
		nftnl_set_set_u64(ns, NFTNL_SET_TIMEOUT, s->timeout_ms);
	if (set_id)
		nftnl_set_set_u32(ns, NFTNL_SET_ID, set_id);
	return ns;
}

struct nftnl_chain *nft_encode_chain(enum nft_chain_id id, const struct nft_chain *c)
{
	struct nftnl_chain *nc = nftnl_chain_alloc();

	if (!nc)
		return NULL;
	nftnl_chain_set_u32(nc, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_str(nc, NFTNL_CHAIN_TABLE, NFT_TABLE_NAME);
	nftnl_chain_set_str(nc, NFTNL_CHAIN_NAME, nft_chain_name(id));
	if (c->base) {
		nftnl_chain_set_u32(nc, NFTNL_CHAIN_HOOKNUM, c->hooknum);
		nftnl_chain_set_s32(nc, NFTNL_CHAIN_PRIO, c->priority);
		nftnl_chain_set_u32(nc, NFTNL_CHAIN_POLICY, c->policy);
		nftnl_chain_set_str(nc, NFTNL_CHAIN_TYPE, "filter");
	}
	return nc;
}

/* Each helper appends one expression; a failed allocation poisons the rule. */
struct enc {
	struct nftnl_rule *rule;
	bool failed;
};

static struct nftnl_expr *enc_expr(struct enc *e, const char *name)
{
	struct nftnl_expr *x = e->failed ? NULL : nftnl_expr_alloc(name);

	if (!x)
		e->failed = true;
	return x;
}

static void enc_add(struct enc *e, struct nftnl_expr *x)
{
	if (x)
		nftnl_rule_add_expr(e->rule, x);
}

static void enc_meta(struct enc *e, uint32_t key)
{
	struct nftnl_expr *x = enc_expr(e, "meta");

	if (!x)
		return;
	nftnl_expr_set_u32(x, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(x, NFTNL_EXPR_META_DREG, NFT_REG_1);
	enc_add(e, x);
}

static void enc_cmp(struct enc *e, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *x = enc_expr(e, "cmp");

	if (!x)
		return;
	nftnl_expr_set_u32(x, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(x, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(x, NFTNL_EXPR_CMP_DATA, data, len);
	enc_add(e, x);
}

static void enc_payload(struct enc *e, uint32_t base, uint32_t offset, uint32_t len)
{
	struct nftnl_expr *x = enc_expr(e, "payload");

	if (!x)
		return;
	nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
	nftnl_expr_set_u32(x, NFTNL_EXPR_PAYLOAD_LEN, len);
	enc_add(e, x);
}

static void enc_bitwise(struct enc *e, const void *mask, uint32_t len)
{
	static const uint8_t zero[16];
	struct nftnl_expr *x = enc_expr(e, "bitwise");

	if (!x)
		return;
	nftnl_expr_set_u32(x, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(x, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(x, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(x, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(x, NFTNL_EXPR_BITWISE_XOR, zero, len);
	enc_add(e, x);
}

static void enc_nfproto(struct enc *e, int family)
{
	uint8_t proto = family == AF_INET ? NFPROTO_IPV4 : NFPROTO_IPV6;

	enc_meta(e, NFT_META_NFPROTO);
	enc_cmp(e, NFT_CMP_EQ, &proto, 1);
}

static void enc_l4proto(struct enc *e, uint8_t proto)
{
	enc_meta(e, NFT_META_L4PROTO);
	enc_cmp(e, NFT_CMP_EQ, &proto, 1);
}

static uint32_t daddr_offset(int family)
{
	return family == AF_INET ? 16 : 24;
}

static void enc_match(struct enc *e, const struct nft_match *m, const uint32_t set_ids[])
{
	char ifname[IFNAMSIZ] = "lo";
	uint32_t mask, zero = 0;
	size_t alen;

	switch (m->kind) {
	case NFT_MATCH_OIFNAME_LO:
	case NFT_MATCH_IIFNAME_LO:
		enc_meta(e, m->kind == NFT_MATCH_OIFNAME_LO ? NFT_META_OIFNAME : NFT_META_IIFNAME);
		enc_cmp(e, NFT_CMP_EQ, ifname, sizeof(ifname));
		break;
	case NFT_MATCH_CT_STATE: {
		struct nftnl_expr *x = enc_expr(e, "ct");

		if (x) {
			nftnl_expr_set_u32(x, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
			nftnl_expr_set_u32(x, NFTNL_EXPR_CT_DREG, NFT_REG_1);
			enc_add(e, x);
		}
		mask = m->ct_mask;
		enc_bitwise(e, &mask, sizeof(mask));
		enc_cmp(e, NFT_CMP_NEQ, &zero, sizeof(zero));
		break;
	}
	case NFT_MATCH_ICMPV6_TYPE:
		enc_nfproto(e, AF_INET6);
		enc_l4proto(e, IPPROTO_ICMPV6);
		enc_payload(e, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1);
		enc_cmp(e, NFT_CMP_EQ, &m->icmp_type, 1);
		break;
	case NFT_MATCH_DADDR:
		alen = addr_len(&m->prefix);
		enc_nfproto(e, m->prefix.family);
		if (m->prefix.plen % 8 == 0) {
			/* Byte-aligned prefix: compare just its bytes, as nft does. */
			enc_payload(e, NFT_PAYLOAD_NETWORK_HEADER, daddr_offset(m->prefix.family),
				    m->prefix.plen / 8);
			enc_cmp(e, NFT_CMP_EQ, m->prefix.addr, m->prefix.plen / 8);
		} else {
			uint8_t pmask[16] = {0};

			for (unsigned i = 0; i < m->prefix.plen; i++)
				pmask[i / 8] |= (uint8_t)(0x80 >> (i % 8));
			enc_payload(e, NFT_PAYLOAD_NETWORK_HEADER, daddr_offset(m->prefix.family),
				    (uint32_t)alen);
			enc_bitwise(e, pmask, (uint32_t)alen);
			enc_cmp(e, NFT_CMP_EQ, m->prefix.addr, (uint32_t)alen);
		}
		break;
	case NFT_MATCH_DADDR_SET: {
		int family = nft_set_family(m->set);
		struct nftnl_expr *x;

		enc_nfproto(e, family);
		enc_payload(e, NFT_PAYLOAD_NETWORK_HEADER, daddr_offset(family),
			    family == AF_INET ? 4 : 16);
		x = enc_expr(e, "lookup");
		if (x) {
			nftnl_expr_set_u32(x, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
			nftnl_expr_set_str(x, NFTNL_EXPR_LOOKUP_SET, nft_set_name(m->set));
			if (set_ids && set_ids[m->set])
				nftnl_expr_set_u32(x, NFTNL_EXPR_LOOKUP_SET_ID, set_ids[m->set]);
			enc_add(e, x);
		}
		break;
	}
	case NFT_MATCH_DPORT: {
		uint16_t port = htons(m->port);

		enc_l4proto(e, m->l4proto);
		enc_payload(e, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
		enc_cmp(e, NFT_CMP_EQ, &port, sizeof(port));
		break;
	}
	case NFT_MATCH_L4PROTO_TCP:
		enc_l4proto(e, IPPROTO_TCP);
		break;
	}
}

struct nftnl_rule *nft_encode_rule(enum nft_chain_id chain, const struct nft_rule *r,
				   const uint32_t set_ids[NFT_SET_COUNT])
{
	struct enc e = {.rule = nftnl_rule_alloc()};
	struct nftnl_expr *x;

	if (!e.rule || r->unknown)
		goto fail;
	nftnl_rule_set_u32(e.rule, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(e.rule, NFTNL_RULE_TABLE, NFT_TABLE_NAME);
	nftnl_rule_set_str(e.rule, NFTNL_RULE_CHAIN, nft_chain_name(chain));
	for (size_t i = 0; i < r->n_match; i++)
		enc_match(&e, &r->match[i], set_ids);
	if (r->log_prefix) {
		x = enc_expr(&e, "log");
		if (x) {
			nftnl_expr_set_str(x, NFTNL_EXPR_LOG_PREFIX, r->log_prefix);
			nftnl_expr_set_u16(x, NFTNL_EXPR_LOG_GROUP, NFT_NFLOG_GROUP);
			enc_add(&e, x);
		}
	}
	switch (r->verdict) {
	case NFT_VERDICT_CONTINUE:
		break;
	case NFT_VERDICT_ACCEPT:
	case NFT_VERDICT_DROP:
		x = enc_expr(&e, "immediate");
		if (x) {
			nftnl_expr_set_u32(x, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
			nftnl_expr_set_u32(x, NFTNL_EXPR_IMM_VERDICT,
					   r->verdict == NFT_VERDICT_ACCEPT ? NF_ACCEPT : NF_DROP);
			enc_add(&e, x);
		}
		break;
	case NFT_VERDICT_REJECT:
		x = enc_expr(&e, "reject");
		if (x) {
			nftnl_expr_set_u32(x, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMPX_UNREACH);
			nftnl_expr_set_u8(x, NFTNL_EXPR_REJECT_CODE,
					  NFT_REJECT_ICMPX_ADMIN_PROHIBITED);
			enc_add(&e, x);
		}
		break;
	case NFT_VERDICT_REJECT_TCP_RESET:
		/* nft 1.0.6 sends code 0 with a tcp reset; the kernel dumps no code for it. */
		x = enc_expr(&e, "reject");
		if (x) {
			nftnl_expr_set_u32(x, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_TCP_RST);
			nftnl_expr_set_u8(x, NFTNL_EXPR_REJECT_CODE, 0);
			enc_add(&e, x);
		}
		break;
	}
	if (e.failed)
		goto fail;
	return e.rule;
fail:
	if (e.rule)
		nftnl_rule_free(e.rule);
	return NULL;
}

static size_t elem_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* key + 1 in network byte order; false when key was all ones. */
static bool key_next(uint8_t *key, size_t len)
{
	for (size_t i = len; i-- > 0;) {
		if (++key[i] != 0)
			return true;
	}
	return false;
}

int nft_encode_elems(struct nftnl_set *s, const struct nft_elem *elems, size_t n,
		     uint64_t timeout_ms)
{
	for (size_t i = 0; i < n; i++) {
		size_t len = elem_len(elems[i].family);
		uint8_t end[16];
		struct nftnl_set_elem *e = nftnl_set_elem_alloc();

		if (!e)
			return -ENOMEM;
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, elems[i].first, (uint32_t)len);
		if (timeout_ms != UINT64_MAX)
			nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, timeout_ms);
		nftnl_set_elem_add(s, e);

		memcpy(end, elems[i].last, len);
		if (!key_next(end, len))
			continue; /* a lone start element runs to the end of the space */
		e = nftnl_set_elem_alloc();
		if (!e)
			return -ENOMEM;
		nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, end, (uint32_t)len);
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
		nftnl_set_elem_add(s, e);
	}
	return 0;
}

/* ---- decoding -------------------------------------------------------- */

#define DECODE_EXPRS_MAX 32

struct dec {
	struct nftnl_expr *x[DECODE_EXPRS_MAX];
	size_t n;
	size_t pos;
};

static const char *xname(const struct nftnl_expr *x)
{
	const char *n = nftnl_expr_get_str(x, NFTNL_EXPR_NAME);

	return n ? n : "";
}

static struct nftnl_expr *peek(struct dec *d, const char *name)
{
	if (d->pos >= d->n || strcmp(xname(d->x[d->pos]), name) != 0)
		return NULL;
	return d->x[d->pos];
}

static bool u32_is(const struct nftnl_expr *x, uint16_t attr, uint32_t v)
{
	return nftnl_expr_is_set(x, attr) && nftnl_expr_get_u32(x, attr) == v;
}

/* meta KEY => reg 1 */
static bool take_meta(struct dec *d, uint32_t key)
{
	struct nftnl_expr *x = peek(d, "meta");

	if (!x || !u32_is(x, NFTNL_EXPR_META_KEY, key) ||
	    !u32_is(x, NFTNL_EXPR_META_DREG, NFT_REG_1))
		return false;
	d->pos++;
	return true;
}

/* cmp OP reg 1 DATA; copies the data (len bytes expected unless want_len is 0). */
static bool take_cmp(struct dec *d, uint32_t op, void *data, uint32_t want_len)
{
	struct nftnl_expr *x = peek(d, "cmp");
	const void *p;
	uint32_t len = 0;

	if (!x || !u32_is(x, NFTNL_EXPR_CMP_OP, op) || !u32_is(x, NFTNL_EXPR_CMP_SREG, NFT_REG_1))
		return false;
	p = nftnl_expr_get(x, NFTNL_EXPR_CMP_DATA, &len);
	if (!p || len != want_len)
		return false;
	memcpy(data, p, len);
	d->pos++;
	return true;
}

static bool take_payload(struct dec *d, uint32_t base, uint32_t offset, uint32_t len)
{
	struct nftnl_expr *x = peek(d, "payload");

	if (!x || !u32_is(x, NFTNL_EXPR_PAYLOAD_BASE, base) ||
	    !u32_is(x, NFTNL_EXPR_PAYLOAD_OFFSET, offset) ||
	    !u32_is(x, NFTNL_EXPR_PAYLOAD_LEN, len) ||
	    !u32_is(x, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1))
		return false;
	d->pos++;
	return true;
}

static bool take_bitwise(struct dec *d, void *mask, uint32_t want_len)
{
	static const uint8_t zero[16];
	struct nftnl_expr *x = peek(d, "bitwise");
	const void *m, *xr;
	uint32_t mlen = 0, xlen = 0;

	if (!x || !u32_is(x, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1) ||
	    !u32_is(x, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1) ||
	    !u32_is(x, NFTNL_EXPR_BITWISE_LEN, want_len))
		return false;
	if (nftnl_expr_is_set(x, NFTNL_EXPR_BITWISE_OP) &&
	    nftnl_expr_get_u32(x, NFTNL_EXPR_BITWISE_OP) != NFT_BITWISE_BOOL)
		return false;
	m = nftnl_expr_get(x, NFTNL_EXPR_BITWISE_MASK, &mlen);
	xr = nftnl_expr_get(x, NFTNL_EXPR_BITWISE_XOR, &xlen);
	if (!m || !xr || mlen != want_len || xlen != want_len || memcmp(xr, zero, xlen) != 0)
		return false;
	memcpy(mask, m, mlen);
	d->pos++;
	return true;
}

static bool take_nfproto(struct dec *d, int *family)
{
	size_t save = d->pos;
	uint8_t proto;

	if (!take_meta(d, NFT_META_NFPROTO) || !take_cmp(d, NFT_CMP_EQ, &proto, 1)) {
		d->pos = save;
		return false;
	}
	if (proto != NFPROTO_IPV4 && proto != NFPROTO_IPV6) {
		d->pos = save;
		return false;
	}
	*family = proto == NFPROTO_IPV4 ? AF_INET : AF_INET6;
	return true;
}

/* Whether mask is a run of leading ones; its length in *plen. */
static bool mask_prefix(const uint8_t *mask, size_t len, unsigned *plen)
{
	unsigned n = 0;
	size_t i = 0;

	while (i < len && mask[i] == 0xff) {
		n += 8;
		i++;
	}
	if (i < len) {
		uint8_t b = mask[i];

		while (b & 0x80) {
			n++;
			b = (uint8_t)(b << 1);
		}
		if (b)
			return false;
		for (i++; i < len; i++)
			if (mask[i])
				return false;
	}
	*plen = n;
	return true;
}

/* One match at the cursor; false (cursor unchanged) when nothing fits. */
static bool take_match(struct dec *d, struct nft_match *m)
{
	size_t save = d->pos;
	struct nftnl_expr *x;
	int family;
	uint8_t u8;

	memset(m, 0, sizeof(*m));
	if (take_meta(d, NFT_META_OIFNAME) || take_meta(d, NFT_META_IIFNAME)) {
		char name[IFNAMSIZ];
		bool oif = nftnl_expr_get_u32(d->x[d->pos - 1], NFTNL_EXPR_META_KEY) ==
			   NFT_META_OIFNAME;

		if (take_cmp(d, NFT_CMP_EQ, name, sizeof(name)) &&
		    strncmp(name, "lo", sizeof(name)) == 0) {
			m->kind = oif ? NFT_MATCH_OIFNAME_LO : NFT_MATCH_IIFNAME_LO;
			return true;
		}
		goto fail;
	}
	if ((x = peek(d, "ct"))) {
		uint32_t mask, zero;

		if (!u32_is(x, NFTNL_EXPR_CT_KEY, NFT_CT_STATE) ||
		    !u32_is(x, NFTNL_EXPR_CT_DREG, NFT_REG_1) ||
		    nftnl_expr_is_set(x, NFTNL_EXPR_CT_DIR))
			goto fail;
		d->pos++;
		if (!take_bitwise(d, &mask, sizeof(mask)) ||
		    !take_cmp(d, NFT_CMP_NEQ, &zero, sizeof(zero)) || zero != 0)
			goto fail;
		m->kind = NFT_MATCH_CT_STATE;
		m->ct_mask = mask;
		return true;
	}
	if (take_nfproto(d, &family)) {
		uint32_t off = daddr_offset(family);
		size_t alen = family == AF_INET ? 4 : 16;

		/* icmpv6 type X */
		if (family == AF_INET6 && take_meta(d, NFT_META_L4PROTO)) {
			if (!take_cmp(d, NFT_CMP_EQ, &u8, 1) || u8 != IPPROTO_ICMPV6 ||
			    !take_payload(d, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1) ||
			    !take_cmp(d, NFT_CMP_EQ, &u8, 1))
				goto fail;
			m->kind = NFT_MATCH_ICMPV6_TYPE;
			m->icmp_type = u8;
			return true;
		}
		/* daddr @set */
		if (take_payload(d, NFT_PAYLOAD_NETWORK_HEADER, off, (uint32_t)alen) &&
		    (x = peek(d, "lookup"))) {
			const char *name = nftnl_expr_get_str(x, NFTNL_EXPR_LOOKUP_SET);
			int id = name ? nft_set_lookup(name) : -ENOENT;

			if (id < 0 || nft_set_family(id) != family ||
			    !u32_is(x, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1) ||
			    nftnl_expr_is_set(x, NFTNL_EXPR_LOOKUP_DREG) ||
			    (nftnl_expr_is_set(x, NFTNL_EXPR_LOOKUP_FLAGS) &&
			     nftnl_expr_get_u32(x, NFTNL_EXPR_LOOKUP_FLAGS) != 0))
				goto fail;
			d->pos++;
			m->kind = NFT_MATCH_DADDR_SET;
			m->set = id;
			return true;
		}
		/* daddr PREFIX: full address with mask, or the prefix's bytes alone */
		d->pos = save + 2;
		m->prefix.family = family;
		if (take_payload(d, NFT_PAYLOAD_NETWORK_HEADER, off, (uint32_t)alen)) {
			uint8_t mask[16];
			unsigned plen = (unsigned)alen * 8;

			if (peek(d, "bitwise")) {
				if (!take_bitwise(d, mask, (uint32_t)alen) ||
				    !mask_prefix(mask, alen, &plen) || plen % 8 == 0)
					goto fail;
			}
			if (!take_cmp(d, NFT_CMP_EQ, m->prefix.addr, (uint32_t)alen))
				goto fail;
			m->prefix.plen = (uint8_t)plen;
		} else {
			struct nftnl_expr *p = peek(d, "payload");
			uint32_t len;

			if (!p || !u32_is(p, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER) ||
			    !u32_is(p, NFTNL_EXPR_PAYLOAD_OFFSET, off))
				goto fail;
			len = nftnl_expr_get_u32(p, NFTNL_EXPR_PAYLOAD_LEN);
			if (len == 0 || len >= alen ||
			    !take_payload(d, NFT_PAYLOAD_NETWORK_HEADER, off, len) ||
			    !take_cmp(d, NFT_CMP_EQ, m->prefix.addr, len))
				goto fail;
			m->prefix.plen = (uint8_t)(len * 8);
		}
		/* Host bits must be clear, or this is not a prefix we would write. */
		{
			struct addr_prefix canon = m->prefix;
			uint8_t first[16], last[16];

			addr_range(&canon, first, last);
			if (memcmp(first, m->prefix.addr, alen) != 0)
				goto fail;
		}
		m->kind = NFT_MATCH_DADDR;
		return true;
	}
	if (take_meta(d, NFT_META_L4PROTO)) {
		uint16_t port;

		if (!take_cmp(d, NFT_CMP_EQ, &u8, 1) || (u8 != IPPROTO_TCP && u8 != IPPROTO_UDP))
			goto fail;
		/* meta l4proto tcp alone: the dependency of a tcp reset (checked by the caller). */
		if (u8 == IPPROTO_TCP && !peek(d, "payload")) {
			m->kind = NFT_MATCH_L4PROTO_TCP;
			return true;
		}
		if (!take_payload(d, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2) ||
		    !take_cmp(d, NFT_CMP_EQ, &port, sizeof(port)))
			goto fail;
		m->kind = NFT_MATCH_DPORT;
		m->l4proto = u8;
		m->port = ntohs(port);
		return true;
	}
fail:
	d->pos = save;
	return false;
}

/* The log prefixes shield writes; a rule logging anything else is not ours. */
static const char *known_prefix(const char *p)
{
	static const char *const known[] = {NFT_PREFIX_ALLOWED, NFT_PREFIX_DENIED,
					    NFT_PREFIX_BLOCKED, NFT_PREFIX_PRIVATE,
					    NFT_PREFIX_BYPASS};

	for (size_t i = 0; p && i < ARRAY_SIZE(known); i++)
		if (strcmp(p, known[i]) == 0)
			return known[i];
	return NULL;
}

static int collect_expr(struct nftnl_expr *x, void *data)
{
	struct dec *d = data;

	if (d->n >= DECODE_EXPRS_MAX)
		return -1;
	d->x[d->n++] = x;
	return 0;
}

static bool decode_rule(struct dec *d, struct nft_rule *out)
{
	struct nftnl_expr *x;

	while (out->n_match < NFT_RULE_MATCHES_MAX && take_match(d, &out->match[out->n_match]))
		out->n_match++;
	if ((x = peek(d, "log"))) {
		out->log_prefix = known_prefix(nftnl_expr_get_str(x, NFTNL_EXPR_LOG_PREFIX));
		if (!out->log_prefix || !nftnl_expr_is_set(x, NFTNL_EXPR_LOG_GROUP) ||
		    nftnl_expr_get_u16(x, NFTNL_EXPR_LOG_GROUP) != NFT_NFLOG_GROUP ||
		    (nftnl_expr_is_set(x, NFTNL_EXPR_LOG_SNAPLEN) &&
		     nftnl_expr_get_u32(x, NFTNL_EXPR_LOG_SNAPLEN) != 0) ||
		    (nftnl_expr_is_set(x, NFTNL_EXPR_LOG_QTHRESHOLD) &&
		     nftnl_expr_get_u16(x, NFTNL_EXPR_LOG_QTHRESHOLD) != 0) ||
		    nftnl_expr_is_set(x, NFTNL_EXPR_LOG_LEVEL) ||
		    (nftnl_expr_is_set(x, NFTNL_EXPR_LOG_FLAGS) &&
		     nftnl_expr_get_u32(x, NFTNL_EXPR_LOG_FLAGS) != 0))
			return false;
		d->pos++;
	}
	out->verdict = NFT_VERDICT_CONTINUE;
	if ((x = peek(d, "immediate"))) {
		uint32_t v;

		if (!u32_is(x, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT) ||
		    !nftnl_expr_is_set(x, NFTNL_EXPR_IMM_VERDICT) ||
		    nftnl_expr_is_set(x, NFTNL_EXPR_IMM_CHAIN))
			return false;
		v = nftnl_expr_get_u32(x, NFTNL_EXPR_IMM_VERDICT);
		if (v != NF_ACCEPT && v != NF_DROP)
			return false;
		out->verdict = v == NF_ACCEPT ? NFT_VERDICT_ACCEPT : NFT_VERDICT_DROP;
		d->pos++;
	} else if ((x = peek(d, "reject"))) {
		if (u32_is(x, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_TCP_RST)) {
			/* The kernel dumps no code for a reset; nft (and we) send 0. */
			if (nftnl_expr_is_set(x, NFTNL_EXPR_REJECT_CODE) &&
			    nftnl_expr_get_u8(x, NFTNL_EXPR_REJECT_CODE) != 0)
				return false;
			out->verdict = NFT_VERDICT_REJECT_TCP_RESET;
		} else if (u32_is(x, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMPX_UNREACH) &&
			   nftnl_expr_is_set(x, NFTNL_EXPR_REJECT_CODE) &&
			   nftnl_expr_get_u8(x, NFTNL_EXPR_REJECT_CODE) ==
				   NFT_REJECT_ICMPX_ADMIN_PROHIBITED) {
			out->verdict = NFT_VERDICT_REJECT;
		} else {
			return false;
		}
		d->pos++;
	}
	if (d->pos != d->n)
		return false;
	/*
	 * shield writes meta l4proto tcp only as the last match of a tcp reset,
	 * and a tcp reset only after it (nft would add that dependency itself).
	 */
	for (size_t i = 0; i < out->n_match; i++) {
		bool last = i + 1 == out->n_match;

		if (out->match[i].kind == NFT_MATCH_L4PROTO_TCP &&
		    (!last || out->verdict != NFT_VERDICT_REJECT_TCP_RESET))
			return false;
	}
	return out->verdict != NFT_VERDICT_REJECT_TCP_RESET ||
	       (out->n_match > 0 && out->match[out->n_match - 1].kind == NFT_MATCH_L4PROTO_TCP);
}

void nft_decode_rule(struct nftnl_rule *nr, struct nft_rule *out)
{
	struct dec d = {0};

	memset(out, 0, sizeof(*out));
	if (nftnl_rule_is_set(nr, NFTNL_RULE_HANDLE))
		out->handle = nftnl_rule_get_u64(nr, NFTNL_RULE_HANDLE);
	if (nftnl_expr_foreach(nr, collect_expr, &d) == 0 && decode_rule(&d, out))
		return;

	/* Not a rule shield writes: keep libnftnl's description of it. */
	{
		uint64_t handle = out->handle;
		char text[NFT_RULE_TEXT_MAX - 64];
		char *nl;

		memset(out, 0, sizeof(*out));
		out->handle = handle;
		out->unknown = true;
		nftnl_rule_snprintf(text, sizeof(text), nr, NFTNL_OUTPUT_DEFAULT, 0);
		for (nl = text; *nl; nl++)
			if (*nl == '\n' || *nl == '\t')
				*nl = ' ';
		snprintf(out->unknown_text, sizeof(out->unknown_text),
			 "# rule not written by shield (handle %llu): %s",
			 (unsigned long long)handle, text);
	}
}

void nft_decode_chain(struct nftnl_chain *nc, struct nft_chain *out)
{
	memset(out, 0, sizeof(*out));
	out->present = true;
	if (nftnl_chain_is_set(nc, NFTNL_CHAIN_HOOKNUM)) {
		const char *type = nftnl_chain_get_str(nc, NFTNL_CHAIN_TYPE);

		out->base = type && strcmp(type, "filter") == 0;
		out->hooknum = nftnl_chain_get_u32(nc, NFTNL_CHAIN_HOOKNUM);
		out->priority = nftnl_chain_get_s32(nc, NFTNL_CHAIN_PRIO);
		out->policy = nftnl_chain_is_set(nc, NFTNL_CHAIN_POLICY)
				      ? nftnl_chain_get_u32(nc, NFTNL_CHAIN_POLICY)
				      : NF_ACCEPT;
	}
}

void nft_decode_set(struct nftnl_set *ns, struct nft_set *out)
{
	out->present = true;
	out->flags =
		nftnl_set_is_set(ns, NFTNL_SET_FLAGS) ? nftnl_set_get_u32(ns, NFTNL_SET_FLAGS) : 0;
	out->timeout_ms = nftnl_set_is_set(ns, NFTNL_SET_TIMEOUT)
				  ? nftnl_set_get_u64(ns, NFTNL_SET_TIMEOUT)
				  : 0;
}

/* qsort_r comparator; arg points at the key length. */
static int raw_cmp(const void *a, const void *b, void *arg)
{
	const struct nft_raw_elem *x = a, *y = b;
	int c = memcmp(x->key, y->key, *(const size_t *)arg);

	if (c)
		return c;
	/* At one key, the end of the range below sorts before the start of the next. */
	return (int)y->end - (int)x->end;
}

/* Whether raw[0..n) is in raw_cmp order. */
static bool raw_sorted(const struct nft_raw_elem *raw, size_t n, size_t len)
{
	for (size_t i = 1; i < n; i++)
		if (raw_cmp(&raw[i - 1], &raw[i], &len) > 0)
			return false;
	return true;
}

#define DECODE_ELEMS_MAX (1U << 20)

/* Room for one more raw element in acc: a zeroed slot, or NULL with *r set. */
static struct nft_raw_elem *raw_push(struct nft_raw_elems *acc, int *r)
{
	struct nft_raw_elem *raw;

	if (acc->n == acc->cap) {
		size_t ncap = acc->cap ? acc->cap * 2 : 64;
		struct nft_raw_elem *nraw;

		if (ncap > DECODE_ELEMS_MAX) {
			*r = -E2BIG;
			return NULL;
		}
		nraw = realloc(acc->raw, ncap * sizeof(*nraw));
		if (!nraw) {
			*r = -ENOMEM;
			return NULL;
		}
		acc->raw = nraw;
		acc->cap = ncap;
	}
	raw = &acc->raw[acc->n++];
	memset(raw, 0, sizeof(*raw));
	return raw;
}

int nft_raw_elems_collect(struct nftnl_set *ns, int family, struct nft_raw_elems *acc)
{
	struct nftnl_set_elems_iter *it = nftnl_set_elems_iter_create(ns);
	struct nftnl_set_elem *e;
	size_t len = elem_len(family);
	int r = 0;

	if (!it)
		return -ENOMEM;
	while ((e = nftnl_set_elems_iter_next(it))) {
		struct nft_raw_elem *raw;
		const void *key;
		uint32_t klen = 0;

		key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
		if (!key || klen != len) {
			r = -EPROTO;
			break;
		}
		raw = raw_push(acc, &r);
		if (!raw)
			break;
		memcpy(raw->key, key, len);
		raw->end = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) &&
			   (nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) &
			    NFT_SET_ELEM_INTERVAL_END);
		raw->has_timeout = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_TIMEOUT);
		if (raw->has_timeout)
			raw->timeout_ms = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_TIMEOUT);
		raw->has_expiration = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_EXPIRATION);
		if (raw->has_expiration)
			raw->expires_ms = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_EXPIRATION);
	}
	nftnl_set_elems_iter_destroy(it);
	return r;
}

/*
 * Netlink attributes walked inline: a dump of 10,000 addresses is 20,000
 * interval ends of five attributes each, and a call into libmnl for every
 * step (ok, type, length, next, validate) cost more than the decoding.
 * Same bounds checks as mnl_attr_ok / mnl_attr_next.
 */
struct attr_iter {
	const char *p;
	size_t left;
};

static struct attr_iter attr_iter(const void *payload, size_t len)
{
	return (struct attr_iter){.p = payload, .left = len};
}

/* The next attribute, or NULL at the end (or at a malformed one: *bad set). */
static const struct nlattr *attr_next(struct attr_iter *it, bool *bad)
{
	const struct nlattr *a = (const struct nlattr *)it->p;
	size_t step;

	if (it->left < sizeof(*a))
		return NULL;
	if (a->nla_len < sizeof(*a) || a->nla_len > it->left) {
		*bad = true;
		return NULL;
	}
	step = NLA_ALIGN(a->nla_len);
	it->p += step;
	it->left = step < it->left ? it->left - step : 0;
	return a;
}

static inline unsigned attr_type(const struct nlattr *a)
{
	return a->nla_type & NLA_TYPE_MASK;
}

static inline const void *attr_data(const struct nlattr *a)
{
	return (const char *)a + NLA_HDRLEN;
}

static inline size_t attr_len(const struct nlattr *a)
{
	return (size_t)a->nla_len - NLA_HDRLEN;
}

/* A big-endian integer of n (4 or 8) bytes at the start of a's payload; false if shorter. */
static bool attr_be(const struct nlattr *a, size_t n, uint64_t *out)
{
	uint32_t v32;
	uint64_t v64;

	if (attr_len(a) < n)
		return false;
	if (n == 4) {
		memcpy(&v32, attr_data(a), 4);
		*out = ntohl(v32);
	} else {
		memcpy(&v64, attr_data(a), 8);
		*out = be64toh(v64);
	}
	return true;
}

/* One element's attributes (inside NFTA_LIST_ELEM) into raw; -EPROTO when malformed. */
static int raw_elem_parse(const struct nlattr *elem, size_t len, struct nft_raw_elem *raw)
{
	struct attr_iter it = attr_iter(attr_data(elem), attr_len(elem));
	const struct nlattr *a;
	bool has_key = false, bad = false;
	uint64_t v;

	while ((a = attr_next(&it, &bad))) {
		switch (attr_type(a)) {
		case NFTA_SET_ELEM_KEY: {
			struct attr_iter kit = attr_iter(attr_data(a), attr_len(a));
			const struct nlattr *k;

			while ((k = attr_next(&kit, &bad))) {
				if (attr_type(k) != NFTA_DATA_VALUE)
					continue;
				if (attr_len(k) != len)
					return -EPROTO;
				memcpy(raw->key, attr_data(k), len);
				has_key = true;
			}
			break;
		}
		case NFTA_SET_ELEM_FLAGS:
			if (!attr_be(a, 4, &v))
				return -EPROTO;
			raw->end = v & NFT_SET_ELEM_INTERVAL_END;
			break;
		case NFTA_SET_ELEM_TIMEOUT:
			if (!attr_be(a, 8, &raw->timeout_ms))
				return -EPROTO;
			raw->has_timeout = true;
			break;
		case NFTA_SET_ELEM_EXPIRATION:
			if (!attr_be(a, 8, &raw->expires_ms))
				return -EPROTO;
			raw->has_expiration = true;
			break;
		default:
			break;
		}
		if (bad)
			return -EPROTO;
	}
	return has_key && !bad ? 0 : -EPROTO;
}

int nft_raw_elems_parse(const struct nlmsghdr *nlh, int family, struct nft_raw_elems *acc)
{
	size_t len = elem_len(family), hdr = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
	const struct nlattr *list = NULL, *a, *elem;
	struct attr_iter it;
	bool bad = false;

	if (nlh->nlmsg_len < hdr)
		return -EPROTO;
	it = attr_iter((const char *)nlh + hdr, nlh->nlmsg_len - hdr);
	while ((a = attr_next(&it, &bad)))
		if (attr_type(a) == NFTA_SET_ELEM_LIST_ELEMENTS)
			list = a;
	if (bad)
		return -EPROTO;
	if (!list)
		return 0;
	it = attr_iter(attr_data(list), attr_len(list));
	/* The kernel sends NFTA_LIST_ELEM and reads any type here; so do we. */
	while ((elem = attr_next(&it, &bad))) {
		struct nft_raw_elem *raw;
		int r = 0;

		raw = raw_push(acc, &r);
		if (!raw)
			return r;
		r = raw_elem_parse(elem, len, raw);
		if (r < 0) {
			acc->n--;
			return r;
		}
	}
	return bad ? -EPROTO : 0;
}

int nft_raw_elems_finish(struct nft_raw_elems *acc, int family, struct nft_set *out)
{
	struct nft_raw_elem *raw = acc->raw;
	size_t n = acc->n, len = elem_len(family);
	int r = 0;

	/* The kernel dumps an interval set from its highest key down: reversed,
	 * that is already in order, and a sort of 20,000 ends is spared. */
	if (n > 1 && !raw_sorted(raw, n, len)) {
		for (size_t i = 0, j = n - 1; i < j; i++, j--) {
			struct nft_raw_elem t = raw[i];

			raw[i] = raw[j];
			raw[j] = t;
		}
		if (!raw_sorted(raw, n, len))
			qsort_r(raw, n, sizeof(*raw), raw_cmp, &len);
	}
	for (size_t i = 0; i < n; i++) {
		struct nft_elem el;

		if (raw[i].end)
			continue; /* an end without a start (nft's leading sentinel) */
		memset(&el, 0, sizeof(el));
		el.family = family;
		memcpy(el.first, raw[i].key, len);
		el.has_timeout = raw[i].has_timeout;
		el.timeout_ms = raw[i].timeout_ms;
		el.expires_ms = raw[i].expires_ms;
		el.has_expiration = raw[i].has_expiration;
		if (i + 1 < n && raw[i + 1].end) {
			/* last = end - 1 */
			memcpy(el.last, raw[i + 1].key, len);
			for (size_t k = len; k-- > 0;)
				if (el.last[k]-- != 0)
					break;
			i++;
		} else {
			memset(el.last, 0xff, len);
		}
		r = nft_set_add_elem(out, &el);
		if (r < 0)
			break;
	}
	free(acc->raw);
	memset(acc, 0, sizeof(*acc));
	return r;
}
