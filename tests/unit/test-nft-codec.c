/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The libnftnl codec: every rule shield builds survives encode → netlink
 * message → decode unchanged, rules shield never writes are recognised as
 * foreign, and dumped interval elements pair back into ranges.
 */
#include <netinet/in.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nft-internal.h"

static struct addr_prefix P(const char *s) {
	struct addr_prefix p;

	assert_int_equal(addr_parse(s, strlen(s), &p, NULL), 0);
	return p;
}

/* Encode a rule into a netlink message and parse it back, as a dump would deliver it. */
static struct nftnl_rule *
through_netlink(struct nftnl_rule *in)
{
	static char buf[16384];
	struct nlmsghdr *nlh =
		nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFPROTO_INET, NLM_F_CREATE, 1);
	struct nftnl_rule *out = nftnl_rule_alloc();

	nftnl_rule_nlmsg_build_payload(nlh, in);
	assert_int_equal(nftnl_rule_nlmsg_parse(nlh, out), 0);
	return out;
}

static void test_roundtrip_every_mode(void **state)
{
	static const enum shield_mode modes[] = {SHIELD_MODE_UP, SHIELD_MODE_DOWN,
						 SHIELD_MODE_DOWN_ALL, SHIELD_MODE_BLOCK};
	struct addr_prefix allow = P("198.18.1.2");
	size_t checked = 0, resets = 0;

	(void)state;
	for (size_t m = 0; m < 4; m++) {
		struct nft_ruleset_params p = {.mode = modes[m], .set_timeout = 60};
		struct nft_ruleset rs;

		p.upstream = P(m % 2 ? "fd00:53::1" : "198.18.1.53");
		p.gateway_v4 = P("169.254.1.2");
		p.gateway_v6 = P("fd00::2");
		p.loopback_ports.n = 1;
		p.loopback_ports.ports[0] = 65535;
		p.allow = &allow;
		p.n_allow = 1;
		assert_int_equal(nft_ruleset_build(&p, &rs, NULL), 0);
		for (int c = 0; c < NFT_CHAIN_COUNT; c++) {
			for (size_t i = 0; i < rs.chains[c].n_rules; i++) {
				const struct nft_rule *r = &rs.chains[c].rules[i];
				struct nftnl_rule *enc = nft_encode_rule(c, r, NULL);
				struct nftnl_rule *dumped;
				struct nft_rule back;

				assert_non_null(enc);
				dumped = through_netlink(enc);
				nft_decode_rule(dumped, &back);
				if (!nft_rule_equal(r, &back)) {
					char a[NFT_RULE_TEXT_MAX], b[NFT_RULE_TEXT_MAX];

					nft_rule_render(r, a, sizeof(a));
					nft_rule_render(&back, b, sizeof(b));
					fail_msg("rule \"%s\" came back as \"%s\"", a, b);
				}
				nftnl_rule_free(enc);
				nftnl_rule_free(dumped);
				resets += back.verdict == NFT_VERDICT_REJECT_TCP_RESET;
				checked++;
			}
		}
		nft_ruleset_free(&rs);
	}
	assert_true(checked > 80);
	assert_int_equal(resets, 9 + 8 + 2 + 1); /* up, down, down-all, block */
}

/* Prefixes of every alignment come back as themselves. */
static void test_roundtrip_prefixes(void **state)
{
	const char *prefixes[] = {"10.0.0.0/8",	   "172.16.0.0/12", "192.168.0.0/16",
				  "198.18.0.0/15", "198.18.1.2",    "fc00::/7",
				  "fe80::/10",	   "2001:db8::/32", "2001:db8::1"};

	(void)state;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		struct nft_rule r = {0}, back;
		struct nftnl_rule *enc, *dumped;

		r.n_match = 1;
		r.match[0].kind = NFT_MATCH_DADDR;
		r.match[0].prefix = P(prefixes[i]);
		r.log_prefix = NFT_PREFIX_PRIVATE;
		r.verdict = NFT_VERDICT_REJECT;
		enc = nft_encode_rule(NFT_CHAIN_OUTPUT, &r, NULL);
		dumped = through_netlink(enc);
		nft_decode_rule(dumped, &back);
		assert_false(back.unknown);
		assert_true(nft_rule_equal(&r, &back));
		nftnl_rule_free(enc);
		nftnl_rule_free(dumped);
	}
}

/* A rule with something shield never writes (a counter, a foreign log prefix) is not ours. */
static void test_foreign_rules(void **state)
{
	struct nft_rule r = {0}, back;
	struct nftnl_rule *enc, *dumped;
	struct nftnl_expr *counter;

	(void)state;
	r.n_match = 1;
	r.match[0].kind = NFT_MATCH_DADDR;
	r.match[0].prefix = P("198.18.1.2");
	r.verdict = NFT_VERDICT_ACCEPT;
	enc = nft_encode_rule(NFT_CHAIN_OUTPUT, &r, NULL);
	counter = nftnl_expr_alloc("counter");
	nftnl_rule_add_expr(enc, counter);
	dumped = through_netlink(enc);
	nft_decode_rule(dumped, &back);
	assert_true(back.unknown);
	assert_non_null(strstr(back.unknown_text, "not written by shield"));
	nftnl_rule_free(enc);
	nftnl_rule_free(dumped);

	r.log_prefix = "SOMEONE_ELSE: ";
	enc = nft_encode_rule(NFT_CHAIN_OUTPUT, &r, NULL);
	dumped = through_netlink(enc);
	nft_decode_rule(dumped, &back);
	assert_true(back.unknown);
	nftnl_rule_free(enc);
	nftnl_rule_free(dumped);
}

/* The nth expression called name in a rule (0-based), or NULL. */
struct find_expr {
	const char *name;
	int nth;
	struct nftnl_expr *found;
};

static int find_expr_cb(struct nftnl_expr *x, void *data)
{
	struct find_expr *f = data;

	if (!f->found && strcmp(nftnl_expr_get_str(x, NFTNL_EXPR_NAME), f->name) == 0 &&
	    f->nth-- == 0)
		f->found = x;
	return 0;
}

static struct nftnl_expr *nth_expr(struct nftnl_rule *r, const char *name, int nth)
{
	struct find_expr f = {.name = name, .nth = nth};

	nftnl_expr_foreach(r, find_expr_cb, &f);
	assert_non_null(f.found);
	return f.found;
}

/* Decode an encoded (and possibly altered) rule as a dump would deliver it. */
static void decode_via_netlink(struct nftnl_rule *enc, struct nft_rule *back)
{
	struct nftnl_rule *dumped = through_netlink(enc);

	nft_decode_rule(dumped, back);
	nftnl_rule_free(dumped);
}

/* A deny-set tcp reset rule: ip daddr @deny_v4 meta l4proto tcp log … reject with tcp reset. */
static struct nft_rule tcp_reset_rule(void)
{
	struct nft_rule r = {0};

	r.n_match = 2;
	r.match[0].kind = NFT_MATCH_DADDR_SET;
	r.match[0].set = NFT_SET_DENY_V4;
	r.match[1].kind = NFT_MATCH_L4PROTO_TCP;
	r.log_prefix = NFT_PREFIX_DENIED;
	r.verdict = NFT_VERDICT_REJECT_TCP_RESET;
	return r;
}

/* Collects "name" or "name:detail" of each expression, space-separated. */
static int describe_cb(struct nftnl_expr *x, void *data)
{
	char *out = data;
	const char *name = nftnl_expr_get_str(x, NFTNL_EXPR_NAME);
	size_t len = strlen(out);

	if (strcmp(name, "meta") == 0)
		snprintf(out + len, 512 - len, "meta:%u ",
			 nftnl_expr_get_u32(x, NFTNL_EXPR_META_KEY));
	else if (strcmp(name, "cmp") == 0) {
		uint32_t dlen = 0;
		const uint8_t *d = nftnl_expr_get(x, NFTNL_EXPR_CMP_DATA, &dlen);

		snprintf(out + len, 512 - len, "cmp:%u:%u ", dlen, dlen ? d[0] : 0);
	} else if (strcmp(name, "reject") == 0)
		snprintf(out + len, 512 - len, "reject:%u:%s ",
			 nftnl_expr_get_u32(x, NFTNL_EXPR_REJECT_TYPE),
			 nftnl_expr_is_set(x, NFTNL_EXPR_REJECT_CODE)
				 ? (nftnl_expr_get_u8(x, NFTNL_EXPR_REJECT_CODE) ? "x" : "0")
				 : "-");
	else
		snprintf(out + len, 512 - len, "%s ", name);
	return 0;
}

/*
 * The tcp reset rules are the expressions nft 1.0.6 compiles for the same
 * statements (nft --debug=netlink): the match, meta l4proto + cmp eq 6, log,
 * reject type 1 (tcp rst) code 0.
 */
static void test_tcp_reset_encoding(void **state)
{
	struct nft_rule r = tcp_reset_rule(), back;
	struct nftnl_rule *enc;
	char seq[512] = "";
	char text[NFT_RULE_TEXT_MAX];

	(void)state;
	enc = nft_encode_rule(NFT_CHAIN_OUTPUT, &r, NULL);
	assert_non_null(enc);
	nftnl_expr_foreach(enc, describe_cb, seq);
	assert_string_equal(seq, "meta:15 cmp:1:2 payload lookup meta:16 cmp:1:6 log reject:1:0 ");
	decode_via_netlink(enc, &back);
	assert_false(back.unknown);
	assert_true(nft_rule_equal(&r, &back));
	nft_rule_render(&back, text, sizeof(text));
	assert_string_equal(text, "ip daddr @deny_v4 meta l4proto tcp log prefix "
				  "\"TEROK_SHIELD_DENIED: \" group 100 reject with tcp reset");
	nftnl_rule_free(enc);

	/* The terminal one: meta l4proto tcp alone. */
	r.n_match = 1;
	r.match[0].kind = NFT_MATCH_L4PROTO_TCP;
	r.log_prefix = NFT_PREFIX_BLOCKED;
	enc = nft_encode_rule(NFT_CHAIN_OUTPUT, &r, NULL);
	seq[0] = '\0';
	nftnl_expr_foreach(enc, describe_cb, seq);
	assert_string_equal(seq, "meta:16 cmp:1:6 log reject:1:0 ");
	decode_via_netlink(enc, &back);
	assert_true(nft_rule_equal(&r, &back));
	nft_rule_render(&back, text, sizeof(text));
	assert_string_equal(text,
			    "meta l4proto tcp log prefix \"TEROK_SHIELD_BLOCKED: \" group 100 "
			    "reject with tcp reset");
	nftnl_rule_free(enc);

	/* Its icmpx twin keeps type 2 (icmpx unreach) code 3 (admin prohibited). */
	r.n_match = 0;
	r.verdict = NFT_VERDICT_REJECT;
	enc = nft_encode_rule(NFT_CHAIN_OUTPUT, &r, NULL);
	seq[0] = '\0';
	nftnl_expr_foreach(enc, describe_cb, seq);
	assert_string_equal(seq, "log reject:2:x ");
	nftnl_rule_free(enc);
}

/* Near misses of the tcp reset rules are not shield's. */
static void test_tcp_reset_near_misses(void **state)
{
	struct nft_rule r, back;
	struct nftnl_rule *enc;
	uint8_t udp = IPPROTO_UDP;

	(void)state;
	/* A tcp reset without its meta l4proto tcp match. */
	r = tcp_reset_rule();
	r.n_match = 1;
	enc = nft_encode_rule(NFT_CHAIN_OUTPUT, &r, NULL);
	decode_via_netlink(enc, &back);
	assert_true(back.unknown);
	nftnl_rule_free(enc);

	/* meta l4proto tcp with an icmpx reject, or with no reject at all. */
	r = tcp_reset_rule();
	r.verdict = NFT_VERDICT_REJECT;
	enc = nft_encode_rule(NFT_CHAIN_OUTPUT, &r, NULL);
	decode_via_netlink(enc, &back);
	assert_true(back.unknown);
	nftnl_rule_free(enc);
	r.verdict = NFT_VERDICT_ACCEPT;
	enc = nft_encode_rule(NFT_CHAIN_OUTPUT, &r, NULL);
	decode_via_netlink(enc, &back);
	assert_true(back.unknown);
	nftnl_rule_free(enc);

	/* meta l4proto tcp before the address match instead of after it. */
	r = tcp_reset_rule();
	r.match[0].kind = NFT_MATCH_L4PROTO_TCP;
	r.match[1].kind = NFT_MATCH_DADDR_SET;
	r.match[1].set = NFT_SET_DENY_V4;
	enc = nft_encode_rule(NFT_CHAIN_OUTPUT, &r, NULL);
	decode_via_netlink(enc, &back);
	assert_true(back.unknown);
	nftnl_rule_free(enc);

	/* meta l4proto udp with a tcp reset. */
	r = tcp_reset_rule();
	enc = nft_encode_rule(NFT_CHAIN_OUTPUT, &r, NULL);
	nftnl_expr_set(nth_expr(enc, "cmp", 1), NFTNL_EXPR_CMP_DATA, &udp, 1);
	decode_via_netlink(enc, &back);
	assert_true(back.unknown);
	nftnl_rule_free(enc);

	/* A tcp reset with a non-zero code. */
	enc = nft_encode_rule(NFT_CHAIN_OUTPUT, &r, NULL);
	nftnl_expr_set_u8(nth_expr(enc, "reject", 0), NFTNL_EXPR_REJECT_CODE, 1);
	decode_via_netlink(enc, &back);
	assert_true(back.unknown);
	nftnl_rule_free(enc);

	/* reject type icmp unreach (not icmpx), and icmpx with another code. */
	enc = nft_encode_rule(NFT_CHAIN_OUTPUT, &r, NULL);
	nftnl_expr_set_u32(nth_expr(enc, "reject", 0), NFTNL_EXPR_REJECT_TYPE,
			   NFT_REJECT_ICMP_UNREACH);
	decode_via_netlink(enc, &back);
	assert_true(back.unknown);
	nftnl_rule_free(enc);
	r.n_match = 1;
	r.verdict = NFT_VERDICT_REJECT;
	enc = nft_encode_rule(NFT_CHAIN_OUTPUT, &r, NULL);
	nftnl_expr_set_u8(nth_expr(enc, "reject", 0), NFTNL_EXPR_REJECT_CODE,
			  NFT_REJECT_ICMPX_PORT_UNREACH);
	decode_via_netlink(enc, &back);
	assert_true(back.unknown);
	nftnl_rule_free(enc);

	/* meta l4proto tcp followed by a tcp source port (offset 0), not dport. */
	r = tcp_reset_rule();
	r.n_match = 1;
	r.verdict = NFT_VERDICT_ACCEPT;
	r.log_prefix = NULL;
	r.match[0].kind = NFT_MATCH_DPORT;
	r.match[0].l4proto = IPPROTO_TCP;
	r.match[0].port = 80;
	enc = nft_encode_rule(NFT_CHAIN_OUTPUT, &r, NULL);
	nftnl_expr_set_u32(nth_expr(enc, "payload", 0), NFTNL_EXPR_PAYLOAD_OFFSET, 0);
	decode_via_netlink(enc, &back);
	assert_true(back.unknown);
	nftnl_rule_free(enc);
}

/* Encode ranges into a set out of order, then decode them as if dumped. */
static void test_elements_pair_back(void **state)
{
	static const uint8_t all_ones[4] = {255, 255, 255, 255};
	struct nft_elem in[3];
	struct addr_prefix a = P("198.18.1.2"), b = P("10.0.0.0/8"), c = P("255.255.255.0/24");
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it;
	struct nft_raw_elems acc = {0};
	struct nft_set out = {0};
	size_t n = 0;

	(void)state;
	nft_elem_from_prefix(&c, &in[0]);
	nft_elem_from_prefix(&a, &in[1]);
	nft_elem_from_prefix(&b, &in[2]);
	assert_int_equal(nft_encode_elems(s, in, 3, 0), 0);
	it = nftnl_set_elems_iter_create(s);
	while (nftnl_set_elems_iter_next(it))
		n++;
	nftnl_set_elems_iter_destroy(it);
	/* The range up to 255.255.255.255 has no end element. */
	assert_int_equal(n, 5);
	assert_int_equal(nft_raw_elems_collect(s, AF_INET, &acc), 0);
	assert_int_equal(nft_raw_elems_finish(&acc, AF_INET, &out), 0);
	assert_int_equal(out.n_elems, 3);
	assert_memory_equal(out.elems[0].first, in[2].first, 4); /* sorted: 10/8 first */
	assert_memory_equal(out.elems[0].last, in[2].last, 4);
	assert_memory_equal(out.elems[1].first, in[1].first, 4);
	assert_memory_equal(out.elems[1].last, in[1].last, 4);
	assert_memory_equal(out.elems[2].first, in[0].first, 4);
	assert_memory_equal(out.elems[2].last, all_ones, 4);
	assert_true(out.elems[1].has_timeout);
	assert_int_equal(out.elems[1].timeout_ms, 0);
	free(out.elems);
	nftnl_set_free(s);
}

/*
 * nft_raw_elems_parse decodes a dumped element message straight from its
 * attributes: the same ranges and timers as nft_raw_elems_collect gets
 * through libnftnl, and -EPROTO for a key of the wrong length.
 */
static void test_elements_parse_in_place(void **state)
{
	struct addr_prefix p[3] = {P("198.18.1.2"), P("10.0.0.0/8"), P("255.255.255.0/24")};
	struct nftnl_set *s = nftnl_set_alloc();
	struct nft_raw_elems via_nftnl = {0}, direct = {0}, wrong = {0};
	struct nft_set a = {0}, b = {0};
	struct nft_elem in[3];
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	(void)state;
	for (int i = 0; i < 3; i++)
		nft_elem_from_prefix(&p[i], &in[i]);
	assert_int_equal(nft_encode_elems(s, in, 3, 1800000), 0);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, "terok_shield");
	nftnl_set_set_str(s, NFTNL_SET_NAME, "allow_v4");
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWSETELEM, NFPROTO_INET, 0, 1);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);

	assert_int_equal(nft_raw_elems_collect(s, AF_INET, &via_nftnl), 0);
	assert_int_equal(nft_raw_elems_parse(nlh, AF_INET, &direct), 0);
	assert_int_equal(direct.n, via_nftnl.n);
	for (size_t i = 0; i < direct.n; i++) {
		assert_memory_equal(direct.raw[i].key, via_nftnl.raw[i].key, 4);
		assert_int_equal(direct.raw[i].end, via_nftnl.raw[i].end);
		assert_int_equal(direct.raw[i].has_timeout, via_nftnl.raw[i].has_timeout);
		assert_int_equal(direct.raw[i].timeout_ms, via_nftnl.raw[i].timeout_ms);
	}
	assert_int_equal(nft_raw_elems_finish(&via_nftnl, AF_INET, &a), 0);
	assert_int_equal(nft_raw_elems_finish(&direct, AF_INET, &b), 0);
	assert_int_equal(a.n_elems, 3);
	assert_int_equal(b.n_elems, 3);
	assert_memory_equal(a.elems, b.elems, 3 * sizeof(*a.elems));
	assert_true(b.elems[1].has_timeout);
	assert_int_equal(b.elems[1].timeout_ms, 1800000);

	/* IPv4 keys read as IPv6 elements: the wrong length. */
	assert_int_equal(nft_raw_elems_parse(nlh, AF_INET6, &wrong), -EPROTO);
	/* A message cut short of its header. */
	nlh->nlmsg_len = MNL_NLMSG_HDRLEN;
	assert_int_equal(nft_raw_elems_parse(nlh, AF_INET, &wrong), -EPROTO);
	free(wrong.raw);
	free(a.elems);
	free(b.elems);
	nftnl_set_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_every_mode),
		cmocka_unit_test(test_roundtrip_prefixes),
		cmocka_unit_test(test_foreign_rules),
		cmocka_unit_test(test_tcp_reset_encoding),
		cmocka_unit_test(test_tcp_reset_near_misses),
		cmocka_unit_test(test_elements_pair_back),
		cmocka_unit_test(test_elements_parse_in_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
