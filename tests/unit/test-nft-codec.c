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
	size_t checked = 0;

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
				checked++;
			}
		}
		nft_ruleset_free(&rs);
	}
	assert_true(checked > 60);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_every_mode),
		cmocka_unit_test(test_roundtrip_prefixes),
		cmocka_unit_test(test_foreign_rules),
		cmocka_unit_test(test_elements_pair_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
