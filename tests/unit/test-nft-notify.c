/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The notification decoder and the transaction assembly, without a kernel:
 * on real notifications the kernel sent (the seeds in
 * tests/fuzz/corpus/nft-notify/, captured by test-nft-monitor --capture),
 * and on messages built here to reach what no capture shows (malformed
 * attributes, caps, interval ends in other messages, end keys).
 */
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <libmnl/libmnl.h>

#include "unit-helpers.h"

#include "nft-internal.h"
#include "shield/nft-monitor.h"

/* ---- what the assembly delivers ------------------------------------------- */

struct txn_copy {
	struct nft_txn t;
	struct nft_change *copy;
};

struct seen {
	struct txn_copy txns[8];
	size_t n;
	size_t messages, ours;
};

static void seen_add(struct seen *s, const struct nft_txn *t)
{
	struct txn_copy *c;

	assert_true(s->n < ARRAY_SIZE(s->txns));
	c = &s->txns[s->n++];
	c->t = *t;
	c->copy = malloc(t->n_changes * sizeof(*c->copy));
	assert_non_null(c->copy);
	memcpy(c->copy, t->changes, t->n_changes * sizeof(*c->copy));
	c->t.changes = c->copy;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->txns[i].copy);
	memset(s, 0, sizeof(*s));
}

/* Decode every message of buf (each must decode) and assemble them. */
static void feed_all(struct nft_txn_asm *a, const uint8_t *buf, size_t len, struct seen *s)
{
	int left = (int)len;

	for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, left);
	     nlh = mnl_nlmsg_next(nlh, &left)) {
		struct shield_error err = {0};
		struct nft_notify n;
		struct nft_txn t;

		if (nft_notify_decode(nlh, &n, &err) != 0)
			fail_msg("message %zu: %s", s->messages, err.msg);
		s->messages++;
		s->ours += nft_notify_is_ours(&n);
		if (nft_txn_asm_feed(a, &n, &t) == 1) {
			seen_add(s, &t);
			nft_txn_asm_reset(a);
		}
		nft_notify_free(&n);
	}
	assert_int_equal(left, 0);
}

/* ---- the seeds: real kernel notifications ------------------------------------ */

static uint8_t *load_seed(const char *name, size_t *len)
{
	char path[PATH_MAX];
	const char *src = getenv("SHIELD_SOURCE_DIR");
	FILE *f;
	uint8_t *buf = malloc(1 << 20);

	assert_non_null(buf);
	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/nft-notify/%s.bin",
		 src ? src : SHIELD_SOURCE_DIR, name);
	f = fopen(path, "re");
	if (!f)
		fail_msg("cannot open %s", path);
	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	assert_true(*len > 0 && *len < (1 << 20));
	return buf;
}

static void feed_seed(const char *name, struct seen *s)
{
	struct nft_txn_asm a = {0};
	size_t len;
	uint8_t *buf = load_seed(name, &len);

	feed_all(&a, buf, len, s);
	/* Every seed ends with a NEWGEN: nothing is left half gathered. */
	assert_int_equal(a.n_changes, 0);
	assert_false(a.group_open);
	nft_txn_asm_free(&a);
	free(buf);
}

static const struct nft_change *find_elem(const struct nft_txn *t, enum nft_change_kind kind,
					  const char *prefix)
{
	struct addr_prefix want;

	assert_int_equal(addr_parse(prefix, strlen(prefix), &want, NULL), 0);
	for (size_t i = 0; i < t->n_changes; i++)
		if (t->changes[i].kind == kind && t->changes[i].is_prefix &&
		    addr_equal(&t->changes[i].prefix, &want))
			return &t->changes[i];
	return NULL;
}

static size_t count_kind(const struct nft_txn *t, enum nft_change_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n_changes; i++)
		n += t->changes[i].kind == kind;
	return n;
}

static const struct nft_txn *only(const struct seen *s, const char *comm)
{
	assert_int_equal(s->n, 1);
	assert_false(s->txns[0].t.partial);
	assert_string_equal(s->txns[0].t.comm, comm);
	assert_true(s->txns[0].t.pid > 0);
	assert_true(s->txns[0].t.gen_id > 0);
	return &s->txns[0].t;
}

static void test_seed_nft_add_element(void **state)
{
	struct seen s = {0};
	const struct nft_txn *t;
	const struct nft_change *c;

	(void)state;
	feed_seed("nft-add-element", &s);
	t = only(&s, "nft");
	assert_int_equal(t->n_changes, 1);
	c = find_elem(t, NFT_CHANGE_ELEM_ADD, "198.18.9.9");
	assert_non_null(c);
	assert_string_equal(c->name, "allow_v4");
	assert_int_equal(c->set, NFT_SET_ALLOW_V4);
	assert_int_equal(c->chain, -1);
	assert_int_equal(c->msg_type, NFT_MSG_NEWSETELEM);
	assert_int_equal(c->elem.family, AF_INET);
	assert_false(c->elem.has_timeout);
	assert_true(c->elem.has_expiration);
	assert_in_range(c->elem.expires_ms, 1790000, 1800000);
	seen_free(&s);

	feed_seed("nft-delete-element", &s);
	t = only(&s, "nft");
	assert_int_equal(t->n_changes, 1);
	assert_non_null(find_elem(t, NFT_CHANGE_ELEM_DEL, "198.18.9.9"));
	seen_free(&s);
}

static void test_seed_nft_ranges_v6(void **state)
{
	struct seen s = {0};
	const struct nft_txn *t;
	const struct nft_change *c;
	bool saw_range = false;

	(void)state;
	feed_seed("nft-ranges-v6", &s);
	t = only(&s, "nft");
	assert_int_equal(t->n_changes, 4);
	c = find_elem(t, NFT_CHANGE_ELEM_ADD, "198.18.10.0/24");
	assert_non_null(c);
	assert_true(c->elem.has_timeout);
	assert_int_equal(c->elem.timeout_ms, 10000);
	assert_in_range(c->elem.expires_ms, 1, 10000);
	assert_non_null(find_elem(t, NFT_CHANGE_ELEM_ADD, "198.18.11.1"));
	c = find_elem(t, NFT_CHANGE_ELEM_ADD, "2001:db8:9::/48");
	assert_non_null(c);
	assert_int_equal(c->set, NFT_SET_ALLOW_V6);
	for (size_t i = 0; i < t->n_changes; i++) {
		c = &t->changes[i];
		if (c->set != NFT_SET_DENY_V4)
			continue;
		saw_range = true;
		assert_false(c->is_prefix);
		assert_memory_equal(c->elem.first, ((uint8_t[]){198, 18, 12, 1}), 4);
		assert_memory_equal(c->elem.last, ((uint8_t[]){198, 18, 12, 6}), 4);
		/* Not a prefix: its first address, at full length. */
		assert_int_equal(c->prefix.plen, 32);
	}
	assert_true(saw_range);
	seen_free(&s);
}

static void test_seed_writers(void **state)
{
	struct seen s = {0};
	const struct nft_txn *t;
	const struct nft_change *c;

	(void)state;
	feed_seed("dnsmasq-nftset", &s);
	t = only(&s, "dnsmasq");
	assert_int_equal(t->n_changes, 1);
	c = find_elem(t, NFT_CHANGE_ELEM_ADD, "198.18.5.5");
	assert_non_null(c);
	assert_int_equal(c->set, NFT_SET_ALLOW_V4);
	seen_free(&s);

	/* libshield's own write, from the capturing test binary. */
	feed_seed("own-elems-add", &s);
	t = only(&s, "test-nft-monito");
	c = find_elem(t, NFT_CHANGE_ELEM_ADD, "198.18.20.1");
	assert_non_null(c);
	assert_true(c->elem.has_timeout);
	assert_int_equal(c->elem.timeout_ms, 60000);
	seen_free(&s);
}

static void test_seed_tampering(void **state)
{
	struct seen s = {0};
	const struct nft_txn *t;

	(void)state;
	feed_seed("nft-chain-policy", &s);
	t = only(&s, "nft");
	assert_int_equal(t->n_changes, 1);
	assert_int_equal(t->changes[0].kind, NFT_CHANGE_CHAIN_ADD);
	assert_string_equal(t->changes[0].name, "output");
	assert_int_equal(t->changes[0].chain, NFT_CHAIN_OUTPUT);
	assert_true(t->changes[0].has_policy);
	assert_int_equal(t->changes[0].policy, NF_ACCEPT);
	assert_true(t->changes[0].has_handle);
	seen_free(&s);

	feed_seed("nft-insert-rule", &s);
	t = only(&s, "nft");
	assert_int_equal(t->n_changes, 1);
	assert_int_equal(t->changes[0].kind, NFT_CHANGE_RULE_ADD);
	assert_int_equal(t->changes[0].chain, NFT_CHAIN_OUTPUT);
	assert_true(t->changes[0].has_handle && t->changes[0].handle > 0);
	seen_free(&s);

	feed_seed("nft-delete-table", &s);
	t = only(&s, "nft");
	assert_int_equal(t->changes[t->n_changes - 1].kind, NFT_CHANGE_TABLE_DEL);
	assert_string_equal(t->changes[t->n_changes - 1].name, NFT_TABLE_NAME);
	assert_int_equal(count_kind(t, NFT_CHANGE_TABLE_DEL), 1);
	assert_int_equal(count_kind(t, NFT_CHANGE_SET_DEL), NFT_SET_COUNT);
	assert_int_equal(count_kind(t, NFT_CHANGE_CHAIN_DEL), NFT_CHAIN_COUNT);
	/* The rule dels came with the table: one for every rule the apply made. */
	assert_true(count_kind(t, NFT_CHANGE_RULE_DEL) > 5);
	seen_free(&s);
}

static void test_seed_apply(void **state)
{
	struct seen s = {0};
	const struct nft_txn *t;
	size_t rules;

	(void)state;
	feed_seed("apply-fresh", &s);
	t = only(&s, "test-nft-monito");
	assert_int_equal(t->changes[0].kind, NFT_CHANGE_TABLE_ADD);
	assert_int_equal(count_kind(t, NFT_CHANGE_TABLE_DEL), 0);
	assert_int_equal(count_kind(t, NFT_CHANGE_SET_ADD), NFT_SET_COUNT);
	assert_int_equal(count_kind(t, NFT_CHANGE_CHAIN_ADD), NFT_CHAIN_COUNT);
	assert_int_equal(count_kind(t, NFT_CHANGE_ELEM_ADD), 2);
	assert_non_null(find_elem(t, NFT_CHANGE_ELEM_ADD, "198.18.1.2"));
	assert_non_null(find_elem(t, NFT_CHANGE_ELEM_ADD, "198.18.1.4"));
	rules = count_kind(t, NFT_CHANGE_RULE_ADD);
	assert_true(rules > 5);
	seen_free(&s);

	/* A replace deletes the old table (and all in it) first, in the same transaction. */
	feed_seed("apply-replace", &s);
	t = only(&s, "test-nft-monito");
	assert_int_equal(count_kind(t, NFT_CHANGE_TABLE_DEL), 1);
	assert_int_equal(count_kind(t, NFT_CHANGE_RULE_ADD), rules);
	assert_int_equal(t->changes[t->n_changes - 1].kind, NFT_CHANGE_RULE_ADD);
	seen_free(&s);
}

static void test_seed_foreign_tables(void **state)
{
	struct seen s = {0};

	(void)state;
	feed_seed("foreign-tables", &s);
	assert_int_equal(s.n, 0);
	assert_true(s.messages >= 6);
	assert_int_equal(s.ours, 0);
	seen_free(&s);
}

/*
 * Every real message cut short anywhere still decodes or fails cleanly
 * with a message (never reads past the cut: run it under ASan).
 */
static void test_seed_truncations(void **state)
{
	static const char *const seeds[] = {"nft-add-element", "nft-ranges-v6", "dnsmasq-nftset",
					    "nft-chain-policy", "apply-fresh"};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(seeds); i++) {
		size_t len;
		uint8_t *buf = load_seed(seeds[i], &len);
		int left = (int)len;

		for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
		     mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			for (uint32_t cut = sizeof(*nlh); cut < nlh->nlmsg_len; cut++) {
				uint8_t *copy = malloc(cut);
				struct shield_error err = {0};
				struct nft_notify n;
				int r;

				assert_non_null(copy);
				memcpy(copy, nlh, cut);
				((struct nlmsghdr *)copy)->nlmsg_len = cut;
				r = nft_notify_decode((struct nlmsghdr *)copy, &n, &err);
				if (r < 0) {
					assert_int_equal(r, -EPROTO);
					assert_int_equal(err.code, r);
					assert_true(err.msg[0] != '\0');
				}
				nft_notify_free(&n);
				free(copy);
			}
		}
		free(buf);
	}
}

/* ---- built messages ---------------------------------------------------------- */

#define BUF_SIZE (256 * 1024)

struct elem_spec {
	const char *addr; /* NULL: no key */
	bool end;
	uint64_t timeout_ms; /* 0: none */
	uint64_t expires_ms; /* 0: none */
	const char *key_end; /* NULL: none */
};

static struct nlmsghdr *put_msg(uint8_t *buf, uint16_t type, uint8_t family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *g;

	nlh->nlmsg_type = (uint16_t)((NFNL_SUBSYS_NFTABLES << 8) | type);
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	return nlh;
}

static void put_key(struct nlmsghdr *nlh, uint16_t type, const char *addr)
{
	struct addr_prefix p;
	struct nlattr *key;

	assert_int_equal(addr_parse(addr, strlen(addr), &p, NULL), 0);
	key = mnl_attr_nest_start(nlh, type);
	mnl_attr_put(nlh, NFTA_DATA_VALUE, addr_len(&p), p.addr);
	mnl_attr_nest_end(nlh, key);
}

/* An element message for table/set; returns its length. */
static size_t put_elems(uint8_t *buf, bool del, const char *table, const char *set,
			const struct elem_spec *e, size_t n)
{
	struct nlmsghdr *nlh =
		put_msg(buf, del ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM, NFPROTO_INET);
	struct nlattr *list;

	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	for (size_t i = 0; i < n; i++) {
		struct nlattr *el = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);

		if (e[i].addr)
			put_key(nlh, NFTA_SET_ELEM_KEY, e[i].addr);
		if (e[i].key_end)
			put_key(nlh, NFTA_SET_ELEM_KEY_END, e[i].key_end);
		if (e[i].end)
			mnl_attr_put_u32(nlh, NFTA_SET_ELEM_FLAGS,
					 htonl(NFT_SET_ELEM_INTERVAL_END));
		if (e[i].timeout_ms)
			mnl_attr_put_u64(nlh, NFTA_SET_ELEM_TIMEOUT, htobe64(e[i].timeout_ms));
		if (e[i].expires_ms)
			mnl_attr_put_u64(nlh, NFTA_SET_ELEM_EXPIRATION, htobe64(e[i].expires_ms));
		mnl_attr_nest_end(nlh, el);
	}
	mnl_attr_nest_end(nlh, list);
	return NLMSG_ALIGN(nlh->nlmsg_len);
}

static size_t put_gen(uint8_t *buf, uint32_t id, uint32_t pid, const char *comm)
{
	struct nlmsghdr *nlh = put_msg(buf, NFT_MSG_NEWGEN, AF_UNSPEC);

	mnl_attr_put_u32(nlh, NFTA_GEN_ID, htonl(id));
	mnl_attr_put_u32(nlh, NFTA_GEN_PROC_PID, htonl(pid));
	mnl_attr_put_strz(nlh, NFTA_GEN_PROC_NAME, comm);
	return NLMSG_ALIGN(nlh->nlmsg_len);
}

static size_t put_object(uint8_t *buf, uint16_t type, const char *table, const char *name)
{
	struct nlmsghdr *nlh = put_msg(buf, type, NFPROTO_INET);

	mnl_attr_put_strz(nlh, 1, table); /* NFTA_*_TABLE is attribute 1 for all of them */
	if (name)
		mnl_attr_put_strz(nlh, type == NFT_MSG_NEWRULE ? NFTA_RULE_CHAIN : 3, name);
	return NLMSG_ALIGN(nlh->nlmsg_len);
}

static int decode_one(const uint8_t *buf, struct nft_notify *n, struct shield_error *err)
{
	return nft_notify_decode((const struct nlmsghdr *)buf, n, err);
}

/* An interval's start and end in different messages, ends listed first, the sentinel, a lone start. */
static void test_intervals_across_messages(void **state)
{
	static const struct elem_spec a[] = {
		{.addr = "0.0.0.0", .end = true}, /* nft's sentinel */
		{.addr = "198.18.2.0", .end = true},
	};
	static const struct elem_spec b[] = {
		{.addr = "198.18.1.0", .timeout_ms = 5000, .expires_ms = 4000},
		{.addr = "255.255.255.0"}, /* to the top: no end follows */
	};
	static const struct elem_spec v6[] = {
		{.addr = "2001:db8::", .key_end = "2001:db8::ff"},
		{.addr = "2001:db8:1::"},
		{.addr = "2001:db8:1::1", .end = true},
	};
	uint8_t *buf = calloc(1, BUF_SIZE);
	struct nft_txn_asm as = {0};
	struct seen s = {0};
	size_t len = 0;
	const struct nft_txn *t;
	const struct nft_change *c;

	(void)state;
	assert_non_null(buf);
	len += put_elems(buf + len, false, NFT_TABLE_NAME, "allow_v4", a, ARRAY_SIZE(a));
	len += put_elems(buf + len, false, NFT_TABLE_NAME, "allow_v4", b, ARRAY_SIZE(b));
	len += put_elems(buf + len, false, NFT_TABLE_NAME, "allow_v6", v6, ARRAY_SIZE(v6));
	len += put_gen(buf + len, 7, 4242, "writer");
	feed_all(&as, buf, len, &s);
	t = only(&s, "writer");
	assert_int_equal(t->pid, 4242);
	assert_int_equal(t->gen_id, 7);
	assert_int_equal(t->n_changes, 4);
	/* Sorted within the set: 198.18.1.0/24 first, then the range to the top. */
	c = &t->changes[0];
	assert_true(c->is_prefix);
	assert_int_equal(c->prefix.plen, 24);
	assert_true(c->elem.has_timeout);
	assert_int_equal(c->elem.timeout_ms, 5000);
	assert_true(c->elem.has_expiration);
	assert_int_equal(c->elem.expires_ms, 4000);
	c = &t->changes[1];
	assert_true(c->is_prefix);
	assert_int_equal(c->prefix.plen, 24);
	assert_memory_equal(c->elem.last, ((uint8_t[]){255, 255, 255, 255}), 4);
	assert_false(c->elem.has_expiration);
	/* An end key makes a range in one element; a start and its end make a single address. */
	assert_non_null(find_elem(t, NFT_CHANGE_ELEM_ADD, "2001:db8::/120"));
	assert_non_null(find_elem(t, NFT_CHANGE_ELEM_ADD, "2001:db8:1::"));
	seen_free(&s);
	nft_txn_asm_free(&as);
	free(buf);
}

/* Groups keep the kernel's order: adds, then deletes, then another set, then a rule. */
static void test_order_and_foreign_sets(void **state)
{
	static const struct elem_spec one[] = {{.addr = "198.18.1.1"},
					       {.addr = "198.18.1.2", .end = true}};
	static const struct elem_spec keys[] = {{.addr = "198.18.7.9"}, {.addr = "198.18.7.8"}};
	uint8_t *buf = calloc(1, BUF_SIZE);
	struct nft_txn_asm as = {0};
	struct seen s = {0};
	size_t len = 0;
	const struct nft_txn *t;

	(void)state;
	assert_non_null(buf);
	len += put_elems(buf + len, false, NFT_TABLE_NAME, "allow_v4", one, 2);
	len += put_elems(buf + len, true, NFT_TABLE_NAME, "allow_v4", one, 2);
	/* A set that is not shield's and has no interval ends: single keys. */
	len += put_elems(buf + len, false, NFT_TABLE_NAME, "extra", keys, 2);
	len += put_object(buf + len, NFT_MSG_NEWRULE, NFT_TABLE_NAME, "output");
	len += put_object(buf + len, NFT_MSG_NEWOBJ, NFT_TABLE_NAME, "counter0");
	/* Other tables are not reported. */
	len += put_elems(buf + len, false, "other", "allow_v4", one, 2);
	len += put_object(buf + len, NFT_MSG_NEWRULE, "other", "output");
	len += put_gen(buf + len, 8, 1, "nft");
	feed_all(&as, buf, len, &s);
	t = only(&s, "nft");
	assert_int_equal(t->n_changes, 6);
	assert_int_equal(t->changes[0].kind, NFT_CHANGE_ELEM_ADD);
	assert_int_equal(t->changes[1].kind, NFT_CHANGE_ELEM_DEL);
	assert_int_equal(t->changes[1].msg_type, NFT_MSG_DELSETELEM);
	assert_true(t->changes[1].is_prefix && t->changes[1].prefix.plen == 32);
	assert_int_equal(t->changes[2].set, -1);
	assert_string_equal(t->changes[2].name, "extra");
	assert_memory_equal(t->changes[2].elem.first, ((uint8_t[]){198, 18, 7, 8}), 4);
	assert_memory_equal(t->changes[2].elem.last, ((uint8_t[]){198, 18, 7, 8}), 4);
	assert_memory_equal(t->changes[3].elem.first, ((uint8_t[]){198, 18, 7, 9}), 4);
	assert_int_equal(t->changes[4].kind, NFT_CHANGE_RULE_ADD);
	assert_int_equal(t->changes[4].chain, NFT_CHAIN_OUTPUT);
	assert_int_equal(t->changes[5].kind, NFT_CHANGE_OTHER);
	assert_int_equal(t->changes[5].msg_type, NFT_MSG_NEWOBJ);
	seen_free(&s);

	/* A generation without our table delivers nothing; the next starts afresh. */
	len = put_object(buf, NFT_MSG_NEWRULE, "other", "output");
	len += put_gen(buf + len, 9, 1, "nft");
	len += put_elems(buf + len, false, NFT_TABLE_NAME, "allow_v4", one, 2);
	len += put_gen(buf + len, 10, 2, "dnsmasq");
	feed_all(&as, buf, len, &s);
	t = only(&s, "dnsmasq");
	assert_int_equal(t->gen_id, 10);
	assert_int_equal(t->n_changes, 1);
	seen_free(&s);
	nft_txn_asm_free(&as);
	free(buf);
}

/* More changes than the cap: the transaction is delivered partial, at the cap. */
static void test_cap_makes_partial(void **state)
{
	enum { PER_MSG = 4000, MSGS = NFT_TXN_CHANGES_MAX / PER_MSG + 2 };
	struct elem_spec *e = calloc(PER_MSG, sizeof(*e));
	char(*addrs)[ADDR_TEXT_MAX] = calloc(PER_MSG, ADDR_TEXT_MAX);
	uint8_t *buf = malloc(BUF_SIZE);
	struct nft_txn_asm as = {0};
	struct seen s = {0};
	size_t len;

	(void)state;
	assert_non_null(e);
	assert_non_null(addrs);
	assert_non_null(buf);
	for (int m = 0; m < MSGS; m++) {
		for (int i = 0; i < PER_MSG; i++) {
			snprintf(addrs[i], ADDR_TEXT_MAX, "10.%d.%d.%d", m, i / 256, i % 256);
			e[i].addr = addrs[i];
		}
		len = put_elems(buf, false, NFT_TABLE_NAME, "extra", e, PER_MSG);
		feed_all(&as, buf, len, &s);
	}
	len = put_gen(buf, 11, 3, "nft");
	feed_all(&as, buf, len, &s);
	assert_int_equal(s.n, 1);
	assert_true(s.txns[0].t.partial);
	assert_int_equal(s.txns[0].t.n_changes, NFT_TXN_CHANGES_MAX);
	seen_free(&s);
	/* Reset gives the memory back and the next transaction is whole. */
	{
		static const struct elem_spec one[] = {{.addr = "198.18.1.1"}};

		len = put_elems(buf, false, NFT_TABLE_NAME, "allow_v4", one, 1);
		len += put_gen(buf + len, 12, 3, "nft");
		feed_all(&as, buf, len, &s);
		assert_false(s.txns[0].t.partial);
		assert_int_equal(s.txns[0].t.n_changes, 1);
		seen_free(&s);
	}
	nft_txn_asm_free(&as);
	free(buf);
	free(addrs);
	free(e);
}

static void expect_malformed(const uint8_t *buf, int code, const char *words)
{
	struct shield_error err = {0};
	struct nft_notify n;
	int r = decode_one(buf, &n, &err);

	nft_notify_free(&n);
	if (r != code)
		fail_msg("decode: %d, expected %d (%s)", r, code, err.msg);
	assert_int_equal(err.code, code);
	if (!strstr(err.msg, words))
		fail_msg("error \"%s\" does not say \"%s\"", err.msg, words);
}

static void test_malformed(void **state)
{
	uint8_t *buf = calloc(1, BUF_SIZE);
	struct nlmsghdr *nlh;
	struct nlattr *a;
	char long_name[300];

	(void)state;
	assert_non_null(buf);
	/* Too short for the nfgenmsg. */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE;
	expect_malformed(buf, -EPROTO, "too short");
	/* Another subsystem. */
	nlh = put_msg(buf, NFT_MSG_NEWTABLE, NFPROTO_INET);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | 0;
	expect_malformed(buf, -EPROTONOSUPPORT, "not from nf_tables");
	/* An attribute longer than the message. */
	nlh = put_msg(buf, NFT_MSG_NEWTABLE, NFPROTO_INET);
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, "terok_shield");
	nlh->nlmsg_len -= 4;
	expect_malformed(buf, -EPROTO, "run past the message");
	/* A name without its NUL, and one too long. */
	nlh = put_msg(buf, NFT_MSG_NEWSET, NFPROTO_INET);
	mnl_attr_put(nlh, NFTA_SET_NAME, 8, "allow_v4");
	expect_malformed(buf, -EPROTO, "bad set name");
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	nlh = put_msg(buf, NFT_MSG_NEWCHAIN, NFPROTO_INET);
	mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, long_name);
	expect_malformed(buf, -EPROTO, "NEWCHAIN (type 3): bad table name");
	/* Numbers of the wrong size. */
	nlh = put_msg(buf, NFT_MSG_NEWCHAIN, NFPROTO_INET);
	mnl_attr_put_u16(nlh, NFTA_CHAIN_POLICY, 1);
	expect_malformed(buf, -EPROTO, "bad chain policy");
	nlh = put_msg(buf, NFT_MSG_NEWRULE, NFPROTO_INET);
	mnl_attr_put_u32(nlh, NFTA_RULE_HANDLE, 1);
	expect_malformed(buf, -EPROTO, "bad rule handle");
	nlh = put_msg(buf, NFT_MSG_NEWGEN, AF_UNSPEC);
	mnl_attr_put_strz(nlh, NFTA_GEN_PROC_NAME, "a-name-far-too-long");
	expect_malformed(buf, -EPROTO, "bad process name");
	/* A chain hook that is no nest. */
	nlh = put_msg(buf, NFT_MSG_NEWCHAIN, NFPROTO_INET);
	mnl_attr_put_u16(nlh, NFTA_CHAIN_HOOK, 7);
	expect_malformed(buf, -EPROTO, "bad chain hook");
	/* An element key without a value, an end key of another length. */
	nlh = put_msg(buf, NFT_MSG_NEWSETELEM, NFPROTO_INET);
	a = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	{
		struct nlattr *el = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
		struct nlattr *key = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);

		mnl_attr_nest_end(nlh, key);
		mnl_attr_nest_end(nlh, el);
	}
	mnl_attr_nest_end(nlh, a);
	expect_malformed(buf, -EPROTO, "bad set element key");
	nlh = put_msg(buf, NFT_MSG_NEWSETELEM, NFPROTO_INET);
	a = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	{
		struct nlattr *el = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);

		put_key(nlh, NFTA_SET_ELEM_KEY, "198.18.1.1");
		put_key(nlh, NFTA_SET_ELEM_KEY_END, "2001:db8::1");
		mnl_attr_nest_end(nlh, el);
	}
	mnl_attr_nest_end(nlh, a);
	expect_malformed(buf, -EPROTO, "bad set element end key");
	/* More elements than one message may bring. */
	nlh = put_msg(buf, NFT_MSG_NEWSETELEM, NFPROTO_INET);
	a = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	for (int i = 0; i <= NFT_NOTIFY_ELEMS_MAX; i++)
		mnl_attr_nest_end(nlh, mnl_attr_nest_start(nlh, NFTA_LIST_ELEM));
	mnl_attr_nest_end(nlh, a);
	expect_malformed(buf, -E2BIG, "more than 4096");
	free(buf);
}

/* Kinds this build does not know decode as OTHER and name no table. */
static void test_unknown_and_names(void **state)
{
	uint8_t buf[256] = {0};
	struct nft_notify n;
	struct shield_error err = {0};
	struct nlmsghdr *nlh = put_msg(buf, 40, NFPROTO_INET);

	(void)state;
	mnl_attr_put_strz(nlh, 1, NFT_TABLE_NAME);
	assert_int_equal(decode_one(buf, &n, &err), 0);
	assert_int_equal(n.type, NFT_NOTIFY_OTHER);
	assert_false(nft_notify_is_ours(&n));
	nft_notify_free(&n);
	assert_string_equal(nft_change_kind_name(NFT_CHANGE_TABLE_DEL), "table.del");
	assert_string_equal(nft_change_kind_name(NFT_CHANGE_CHAIN_ADD), "chain.add");
	assert_string_equal(nft_change_kind_name(NFT_CHANGE_ELEM_ADD), "elem.add");
	assert_string_equal(nft_change_kind_name(NFT_CHANGE_ELEM_DEL), "elem.del");
	assert_string_equal(nft_change_kind_name(NFT_CHANGE_OTHER), "other");
	assert_string_equal(nft_change_kind_name((enum nft_change_kind)99), "other");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_nft_add_element),
		cmocka_unit_test(test_seed_nft_ranges_v6),
		cmocka_unit_test(test_seed_writers),
		cmocka_unit_test(test_seed_tampering),
		cmocka_unit_test(test_seed_apply),
		cmocka_unit_test(test_seed_foreign_tables),
		cmocka_unit_test(test_seed_truncations),
		cmocka_unit_test(test_intervals_across_messages),
		cmocka_unit_test(test_order_and_foreign_sets),
		cmocka_unit_test(test_cap_makes_partial),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_unknown_and_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
