/* SPDX-License-Identifier: Apache-2.0 */
/* The ruleset model: what each mode contains, how it renders, verification and mode detection. */
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shield/nft-ruleset.h"

static struct addr_prefix P(const char *s) {
	struct addr_prefix p;

	assert_int_equal(addr_parse(s, strlen(s), &p, NULL), 0);
	return p;
}

struct fixture {
	struct addr_prefix allow[4];
	struct addr_prefix deny[2];
	struct nft_ruleset_params p;
};

static void fixture_init(struct fixture *f, enum shield_mode mode)
{
	memset(f, 0, sizeof(*f));
	f->allow[0] = P("198.18.1.2");
	f->allow[1] = P("198.18.0.0/15"); /* covers the first: only this one stays */
	f->allow[2] = P("2001:db8:1::2");
	f->allow[3] = P("10.9.0.0/24");
	f->deny[0] = P("198.18.1.4");
	f->deny[1] = P("fd00:1::2");
	f->p.mode = mode;
	f->p.upstream = P("198.18.1.53");
	f->p.set_timeout = 1800;
	f->p.allow = f->allow;
	f->p.n_allow = 4;
	f->p.deny = f->deny;
	f->p.n_deny = 2;
}

/* Index of the first rule whose rendering contains needle, or -1. */
static int find_rule(const struct nft_chain *c, const char *needle)
{
	char text[NFT_RULE_TEXT_MAX];

	for (size_t i = 0; i < c->n_rules; i++) {
		nft_rule_render(&c->rules[i], text, sizeof(text));
		if (strstr(text, needle))
			return (int)i;
	}
	return -1;
}

/*
 * Every reject is a pair with the same match: first with meta l4proto tcp
 * and a tcp reset, then the icmpx admin-prohibited rule for everything
 * else. Returns the number of pairs.
 */
static size_t assert_reject_pairs(const struct nft_chain *c)
{
	size_t pairs = 0;

	for (size_t i = 0; i < c->n_rules; i++) {
		const struct nft_rule *r = &c->rules[i], *next;

		if (r->verdict == NFT_VERDICT_REJECT) {
			/* Each icmpx reject follows its tcp twin. */
			assert_true(i > 0);
			assert_int_equal(c->rules[i - 1].verdict, NFT_VERDICT_REJECT_TCP_RESET);
			continue;
		}
		if (r->verdict != NFT_VERDICT_REJECT_TCP_RESET)
			continue;
		assert_true(i + 1 < c->n_rules);
		next = &c->rules[i + 1];
		assert_int_equal(next->verdict, NFT_VERDICT_REJECT);
		assert_int_equal(r->n_match, next->n_match + 1);
		assert_int_equal(r->match[r->n_match - 1].kind, NFT_MATCH_L4PROTO_TCP);
		for (size_t m = 0; m < next->n_match; m++)
			assert_int_equal(r->match[m].kind, next->match[m].kind);
		assert_non_null(r->log_prefix);
		assert_string_equal(r->log_prefix, next->log_prefix);
		{
			char a[NFT_RULE_TEXT_MAX], b[NFT_RULE_TEXT_MAX], want[NFT_RULE_TEXT_MAX];
			const char *dep = next->n_match ? " meta l4proto tcp" : "meta l4proto tcp ";
			const char *reset = "reject with tcp reset";
			char *at;

			/* The tcp rule's text is the icmpx rule's with the match added, reject swapped. */
			nft_rule_render(r, a, sizeof(a));
			nft_rule_render(next, b, sizeof(b));
			at = strstr(a, dep);
			assert_non_null(at);
			assert_true(strlen(a) > strlen(reset));
			assert_string_equal(a + strlen(a) - strlen(reset), reset);
			snprintf(want, sizeof(want), "%.*s%.*sreject with icmpx admin-prohibited",
				 (int)(at - a), a, (int)(strlen(at) - strlen(dep) - strlen(reset)),
				 at + strlen(dep));
			assert_string_equal(want, b);
		}
		pairs++;
	}
	return pairs;
}

static void test_up_mode_order(void **state)
{
	struct fixture f;
	struct nft_ruleset rs;
	const struct nft_chain *out;
	int deny4, allow4, private10, last;

	(void)state;
	fixture_init(&f, SHIELD_MODE_UP);
	assert_int_equal(nft_ruleset_build(&f.p, &rs, NULL), 0);
	out = &rs.chains[NFT_CHAIN_OUTPUT];
	assert_int_equal(out->policy, NF_DROP);
	assert_int_equal(rs.chains[NFT_CHAIN_INPUT].policy, NF_DROP);
	deny4 = find_rule(out, "@deny_v4");
	allow4 = find_rule(out, "@allow_v4");
	private10 = find_rule(out, "10.0.0.0/8");
	last = (int)out->n_rules - 1;
	/* Deny is matched before allow, allow before the private ranges. */
	assert_true(deny4 >= 0 && allow4 > deny4 && private10 > allow4);
	/* The terminal BLOCKED reject: tcp reset, then icmpx for the rest. */
	assert_int_equal(find_rule(out, "TEROK_SHIELD_BLOCKED"), last - 1);
	assert_int_equal(out->rules[last - 1].verdict, NFT_VERDICT_REJECT_TCP_RESET);
	assert_int_equal(out->rules[last].verdict, NFT_VERDICT_REJECT);
	assert_int_equal(find_rule(out,
				   "ip daddr @deny_v4 meta l4proto tcp log prefix "
				   "\"TEROK_SHIELD_DENIED: \" group 100 reject with tcp reset"),
			 deny4);
	assert_int_equal(find_rule(out, "ip daddr @deny_v4 log prefix \"TEROK_SHIELD_DENIED: \" "
					"group 100 reject with icmpx admin-prohibited"),
			 deny4 + 1);
	/* Deny v4/v6, six private ranges, blocked: nine pairs. */
	assert_int_equal(assert_reject_pairs(out), 9);
	assert_int_equal(assert_reject_pairs(&rs.chains[NFT_CHAIN_INPUT]), 0);
	assert_true(find_rule(out, "ip daddr 198.18.1.53 udp dport 53 accept") >= 0);
	assert_true(find_rule(out, "ip daddr 198.18.1.53 tcp dport 53 accept") >= 0);
	assert_true(find_rule(out, "icmpv6 type nd-neighbor-solicit accept") >= 0);
	assert_true(find_rule(&rs.chains[NFT_CHAIN_INPUT], "icmpv6 type nd-neighbor-advert") >= 0);
	assert_true(find_rule(&rs.chains[NFT_CHAIN_INPUT], "icmpv6 type nd-router-advert") >= 0);
	assert_int_equal(find_rule(out, "BYPASS"), -1);
	/* Six private ranges, each logged and rejected. */
	for (const char *const *r =
		     (const char *const[]){"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
					   "169.254.0.0/16", "fc00::/7", "fe80::/10", NULL};
	     *r; r++) {
		int i = find_rule(out, *r);

		assert_true(i > allow4);
		assert_string_equal(out->rules[i].log_prefix, NFT_PREFIX_PRIVATE);
		assert_int_equal(out->rules[i].verdict, NFT_VERDICT_REJECT_TCP_RESET);
		assert_int_equal(out->rules[i + 1].verdict, NFT_VERDICT_REJECT);
	}
	/* Nested prefixes collapse; static allow elements never expire. */
	assert_int_equal(rs.sets[NFT_SET_ALLOW_V4].n_elems, 2);
	for (size_t i = 0; i < rs.sets[NFT_SET_ALLOW_V4].n_elems; i++) {
		assert_true(rs.sets[NFT_SET_ALLOW_V4].elems[i].has_timeout);
		assert_int_equal(rs.sets[NFT_SET_ALLOW_V4].elems[i].timeout_ms, 0);
	}
	assert_int_equal(rs.sets[NFT_SET_ALLOW_V4].timeout_ms, 1800000);
	assert_int_equal(rs.sets[NFT_SET_ALLOW_V4].flags, NFT_SET_INTERVAL | NFT_SET_TIMEOUT);
	assert_int_equal(rs.sets[NFT_SET_DENY_V6].flags, NFT_SET_INTERVAL);
	assert_false(rs.sets[NFT_SET_DENY_V4].elems[0].has_timeout);
	nft_ruleset_free(&rs);
}

static void test_down_modes(void **state)
{
	struct fixture f;
	struct nft_ruleset rs;
	const struct nft_chain *out;

	(void)state;
	fixture_init(&f, SHIELD_MODE_DOWN);
	assert_int_equal(nft_ruleset_build(&f.p, &rs, NULL), 0);
	out = &rs.chains[NFT_CHAIN_OUTPUT];
	assert_int_equal(out->policy, NF_ACCEPT);
	assert_true(find_rule(out, "@deny_v4") >= 0);
	assert_true(find_rule(out, "10.0.0.0/8") >= 0);
	assert_int_equal(find_rule(out, "ct state new log prefix \"TEROK_SHIELD_BYPASS: \""),
			 (int)out->n_rules - 1);
	assert_int_equal(out->rules[out->n_rules - 1].verdict, NFT_VERDICT_CONTINUE);
	assert_int_equal(find_rule(out, "TEROK_SHIELD_BLOCKED"), -1);
	/* Deny v4/v6 and six private ranges, each a tcp reset plus icmpx. */
	assert_int_equal(assert_reject_pairs(out), 8);
	nft_ruleset_free(&rs);

	fixture_init(&f, SHIELD_MODE_DOWN_ALL);
	assert_int_equal(nft_ruleset_build(&f.p, &rs, NULL), 0);
	out = &rs.chains[NFT_CHAIN_OUTPUT];
	assert_int_equal(find_rule(out, "10.0.0.0/8"), -1);
	assert_int_equal(find_rule(out, "fc00::/7"), -1);
	assert_true(find_rule(out, "@deny_v6") >= 0);
	assert_int_equal(assert_reject_pairs(out), 2); /* the deny sets only */
	nft_ruleset_free(&rs);
}

static void test_block_mode(void **state)
{
	struct fixture f;
	struct nft_ruleset rs;
	const struct nft_chain *out;

	(void)state;
	fixture_init(&f, SHIELD_MODE_BLOCK);
	assert_int_equal(nft_ruleset_build(&f.p, &rs, NULL), 0);
	out = &rs.chains[NFT_CHAIN_OUTPUT];
	for (int i = 0; i < NFT_SET_COUNT; i++)
		assert_false(rs.sets[i].present);
	assert_int_equal(out->policy, NF_DROP);
	assert_int_equal(find_rule(out, "dport 53"), -1);
	assert_int_equal(find_rule(out, "@"), -1);
	assert_int_equal(find_rule(out, "TEROK_SHIELD_BLOCKED"), (int)out->n_rules - 2);
	/* lo, established, three ND, blocked tcp reset, blocked icmpx */
	assert_int_equal(out->n_rules, 7);
	assert_int_equal(assert_reject_pairs(out), 1);
	assert_int_equal(find_rule(out, "meta l4proto tcp log prefix \"TEROK_SHIELD_BLOCKED: \" "
					"group 100 reject with tcp reset"),
			 5);
	assert_int_equal(find_rule(out, "log prefix \"TEROK_SHIELD_BLOCKED: \" group 100 reject "
					"with icmpx admin-prohibited"),
			 6);
	nft_ruleset_free(&rs);
}

static void test_bad_params(void **state)
{
	struct fixture f;
	struct nft_ruleset rs;
	struct shield_error err = {0};

	(void)state;
	fixture_init(&f, SHIELD_MODE_INACTIVE);
	assert_int_equal(nft_ruleset_build(&f.p, &rs, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "inactive"));
	fixture_init(&f, SHIELD_MODE_UP);
	f.p.loopback_ports.n = 1;
	f.p.loopback_ports.ports[0] = 80;
	assert_int_equal(nft_ruleset_build(&f.p, &rs, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "gateway"));
	fixture_init(&f, SHIELD_MODE_UP);
	memset(&f.p.upstream, 0, sizeof(f.p.upstream));
	assert_int_equal(nft_ruleset_build(&f.p, &rs, &err), -EINVAL);
}

static const char expected_up_v6[] =
	"table inet terok_shield {\n"
	"\tset allow_v4 {\n"
	"\t\ttype ipv4_addr\n"
	"\t\tflags interval,timeout\n"
	"\t\ttimeout 1h30m\n"
	"\t\telements = { 10.9.0.0/24, 198.18.0.0/15 }\n"
	"\t}\n"
	"\n"
	"\tset allow_v6 {\n"
	"\t\ttype ipv6_addr\n"
	"\t\tflags interval,timeout\n"
	"\t\ttimeout 1h30m\n"
	"\t\telements = { 2001:db8:1::2 }\n"
	"\t}\n"
	"\n"
	"\tset deny_v4 {\n"
	"\t\ttype ipv4_addr\n"
	"\t\tflags interval\n"
	"\t\telements = { 198.18.1.4 }\n"
	"\t}\n"
	"\n"
	"\tset deny_v6 {\n"
	"\t\ttype ipv6_addr\n"
	"\t\tflags interval\n"
	"\t\telements = { fd00:1::2 }\n"
	"\t}\n"
	"\n"
	"\tchain output {\n"
	"\t\ttype filter hook output priority filter; policy drop;\n"
	"\t\toifname \"lo\" accept\n"
	"\t\tct state established,related accept\n"
	"\t\ticmpv6 type nd-router-solicit accept\n"
	"\t\ticmpv6 type nd-neighbor-solicit accept\n"
	"\t\ticmpv6 type nd-neighbor-advert accept\n"
	"\t\tip6 daddr fd00:53::1 udp dport 53 accept\n"
	"\t\tip6 daddr fd00:53::1 tcp dport 53 accept\n"
	"\t\tip daddr 10.0.2.2 tcp dport 8080 accept\n"
	"\t\tip6 daddr fd00::2 tcp dport 8080 accept\n"
	"\t\tip daddr @deny_v4 meta l4proto tcp log prefix \"TEROK_SHIELD_DENIED: \" group 100 "
	"reject with tcp reset\n"
	"\t\tip daddr @deny_v4 log prefix \"TEROK_SHIELD_DENIED: \" group 100 reject with icmpx "
	"admin-prohibited\n"
	"\t\tip6 daddr @deny_v6 meta l4proto tcp log prefix \"TEROK_SHIELD_DENIED: \" group 100 "
	"reject with tcp reset\n"
	"\t\tip6 daddr @deny_v6 log prefix \"TEROK_SHIELD_DENIED: \" group 100 reject with icmpx "
	"admin-prohibited\n"
	"\t\tip daddr @allow_v4 log prefix \"TEROK_SHIELD_ALLOWED: \" group 100 accept\n"
	"\t\tip6 daddr @allow_v6 log prefix \"TEROK_SHIELD_ALLOWED: \" group 100 accept\n"
	"\t\tip daddr 10.0.0.0/8 meta l4proto tcp log prefix \"TEROK_SHIELD_PRIVATE: \" group 100 "
	"reject with tcp reset\n"
	"\t\tip daddr 10.0.0.0/8 log prefix \"TEROK_SHIELD_PRIVATE: \" group 100 reject with icmpx "
	"admin-prohibited\n"
	"\t\tip daddr 172.16.0.0/12 meta l4proto tcp log prefix \"TEROK_SHIELD_PRIVATE: \" group "
	"100 reject with tcp reset\n"
	"\t\tip daddr 172.16.0.0/12 log prefix \"TEROK_SHIELD_PRIVATE: \" group 100 reject with "
	"icmpx admin-prohibited\n"
	"\t\tip daddr 192.168.0.0/16 meta l4proto tcp log prefix \"TEROK_SHIELD_PRIVATE: \" group "
	"100 reject with tcp reset\n"
	"\t\tip daddr 192.168.0.0/16 log prefix \"TEROK_SHIELD_PRIVATE: \" group 100 reject with "
	"icmpx admin-prohibited\n"
	"\t\tip daddr 169.254.0.0/16 meta l4proto tcp log prefix \"TEROK_SHIELD_PRIVATE: \" group "
	"100 reject with tcp reset\n"
	"\t\tip daddr 169.254.0.0/16 log prefix \"TEROK_SHIELD_PRIVATE: \" group 100 reject with "
	"icmpx admin-prohibited\n"
	"\t\tip6 daddr fc00::/7 meta l4proto tcp log prefix \"TEROK_SHIELD_PRIVATE: \" group 100 "
	"reject with tcp reset\n"
	"\t\tip6 daddr fc00::/7 log prefix \"TEROK_SHIELD_PRIVATE: \" group 100 reject with icmpx "
	"admin-prohibited\n"
	"\t\tip6 daddr fe80::/10 meta l4proto tcp log prefix \"TEROK_SHIELD_PRIVATE: \" group 100 "
	"reject with tcp reset\n"
	"\t\tip6 daddr fe80::/10 log prefix \"TEROK_SHIELD_PRIVATE: \" group 100 reject with icmpx "
	"admin-prohibited\n"
	"\t\tmeta l4proto tcp log prefix \"TEROK_SHIELD_BLOCKED: \" group 100 reject with tcp "
	"reset\n"
	"\t\tlog prefix \"TEROK_SHIELD_BLOCKED: \" group 100 reject with icmpx admin-prohibited\n"
	"\t}\n"
	"\n"
	"\tchain input {\n"
	"\t\ttype filter hook input priority filter; policy drop;\n"
	"\t\tiifname \"lo\" accept\n"
	"\t\tct state established,related accept\n"
	"\t\ticmpv6 type nd-router-advert accept\n"
	"\t\ticmpv6 type nd-neighbor-solicit accept\n"
	"\t\ticmpv6 type nd-neighbor-advert accept\n"
	"\t}\n"
	"}\n";

static void test_render_up_ipv6_upstream(void **state)
{
	struct fixture f;
	struct nft_ruleset rs;
	char *text;

	(void)state;
	fixture_init(&f, SHIELD_MODE_UP);
	f.p.upstream = P("fd00:53::1");
	f.p.set_timeout = 5400;
	f.p.gateway_v4 = P("10.0.2.2");
	f.p.gateway_v6 = P("fd00::2");
	f.p.loopback_ports.n = 1;
	f.p.loopback_ports.ports[0] = 8080;
	assert_int_equal(nft_ruleset_build(&f.p, &rs, NULL), 0);
	text = nft_ruleset_render(&rs);
	assert_non_null(text);
	assert_string_equal(text, expected_up_v6);
	free(text);
	nft_ruleset_free(&rs);
}

/* nft puts two IPv4 elements on a line and one IPv6 element per line. */
static void test_render_element_wrapping(void **state)
{
	struct nft_ruleset rs = {0};
	struct nft_elem e;
	char *text;
	const char *v4[] = {"1.2.3.4", "10.0.0.0/8", "198.18.0.1", "198.18.0.3", "198.18.0.5"};

	(void)state;
	rs.table_present = true;
	rs.sets[NFT_SET_DENY_V4].present = true;
	rs.sets[NFT_SET_DENY_V4].flags = NFT_SET_INTERVAL;
	rs.sets[NFT_SET_DENY_V6].present = true;
	rs.sets[NFT_SET_DENY_V6].flags = NFT_SET_INTERVAL;
	for (size_t i = 0; i < 5; i++) {
		struct addr_prefix p = P(v4[i]);

		nft_elem_from_prefix(&p, &e);
		assert_int_equal(nft_set_add_elem(&rs.sets[NFT_SET_DENY_V4], &e), 0);
	}
	{
		struct addr_prefix a = P("::1"), b = P("fd00::/8");

		nft_elem_from_prefix(&a, &e);
		nft_set_add_elem(&rs.sets[NFT_SET_DENY_V6], &e);
		nft_elem_from_prefix(&b, &e);
		nft_set_add_elem(&rs.sets[NFT_SET_DENY_V6], &e);
	}
	/* A range that is not a prefix prints as first-last. */
	e.family = AF_INET;
	memcpy(e.first, (uint8_t[]){198, 18, 3, 1}, 4);
	memcpy(e.last, (uint8_t[]){198, 18, 3, 5}, 4);
	nft_set_add_elem(&rs.sets[NFT_SET_DENY_V4], &e);
	text = nft_ruleset_render(&rs);
	assert_non_null(strstr(text, "elements = { 1.2.3.4, 10.0.0.0/8,\n"
				     "\t\t\t     198.18.0.1, 198.18.0.3,\n"
				     "\t\t\t     198.18.0.5, 198.18.3.1-198.18.3.5 }\n"));
	assert_non_null(strstr(text, "elements = { ::1,\n\t\t\t     fd00::/8 }\n"));
	free(text);
	nft_ruleset_free(&rs);
}

static void test_verify(void **state)
{
	struct fixture f;
	struct nft_ruleset exp, act;
	struct shield_error err = {0};
	struct nft_rule tmp;
	const struct nft_chain *out;
	int d, a;

	(void)state;
	fixture_init(&f, SHIELD_MODE_UP);
	assert_int_equal(nft_ruleset_build(&f.p, &exp, NULL), 0);
	assert_int_equal(nft_ruleset_build(&f.p, &act, NULL), 0);
	assert_int_equal(nft_ruleset_verify(&exp, &act, &err), 0);

	/* Allow moved before deny: the original's defect, caught by position. */
	out = &act.chains[NFT_CHAIN_OUTPUT];
	d = find_rule(out, "@deny_v4");
	a = find_rule(out, "@allow_v4");
	tmp = out->rules[d];
	out->rules[d] = out->rules[a];
	out->rules[a] = tmp;
	assert_int_equal(nft_ruleset_verify(&exp, &act, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "chain output"));
	assert_non_null(strstr(err.msg, "@deny_v4"));
	nft_ruleset_free(&act);

	/* A tcp reset turned into an icmpx reject is a different rule. */
	assert_int_equal(nft_ruleset_build(&f.p, &act, NULL), 0);
	out = &act.chains[NFT_CHAIN_OUTPUT];
	d = find_rule(out, "@deny_v4");
	act.chains[NFT_CHAIN_OUTPUT].rules[d].verdict = NFT_VERDICT_REJECT;
	assert_int_equal(nft_ruleset_verify(&exp, &act, &err), -EPROTO);
	assert_non_null(strstr(err.msg,
			       "meta l4proto tcp log prefix \"TEROK_SHIELD_DENIED: \" "
			       "group 100 reject with icmpx admin-prohibited\", expected"));
	assert_non_null(strstr(err.msg, "reject with tcp reset\""));
	nft_ruleset_free(&act);

	/* A static element the kernel would expire. */
	assert_int_equal(nft_ruleset_build(&f.p, &act, NULL), 0);
	act.sets[NFT_SET_ALLOW_V4].elems[0].expires_ms = 1799000;
	assert_int_equal(nft_ruleset_verify(&exp, &act, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "would expire"));
	act.sets[NFT_SET_ALLOW_V4].elems[0].expires_ms = 0;

	/* A dynamic element (with a timer) is fine; an untimed stranger in a deny set is not. */
	{
		struct addr_prefix p = P("198.51.100.1");
		struct nft_elem e;

		nft_elem_from_prefix(&p, &e);
		e.expires_ms = 1000;
		nft_set_add_elem(&act.sets[NFT_SET_ALLOW_V4], &e);
		assert_int_equal(nft_ruleset_verify(&exp, &act, &err), 0);
		e.expires_ms = 0;
		nft_set_add_elem(&act.sets[NFT_SET_DENY_V4], &e);
		assert_int_equal(nft_ruleset_verify(&exp, &act, &err), -EPROTO);
		assert_non_null(strstr(err.msg, "unexpected element 198.51.100.1"));
	}
	nft_ruleset_free(&act);

	/* Policy and missing pieces. */
	assert_int_equal(nft_ruleset_build(&f.p, &act, NULL), 0);
	act.chains[NFT_CHAIN_OUTPUT].policy = NF_ACCEPT;
	assert_int_equal(nft_ruleset_verify(&exp, &act, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "policy accept"));
	act.chains[NFT_CHAIN_OUTPUT].policy = NF_DROP;
	act.sets[NFT_SET_DENY_V6].present = false;
	assert_int_equal(nft_ruleset_verify(&exp, &act, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "deny_v6 is missing"));
	act.table_present = false;
	assert_int_equal(nft_ruleset_verify(&exp, &act, &err), -EPROTO);
	nft_ruleset_free(&act);
	nft_ruleset_free(&exp);
}

static void test_detect_mode(void **state)
{
	static const enum shield_mode modes[] = {SHIELD_MODE_UP, SHIELD_MODE_DOWN,
						 SHIELD_MODE_DOWN_ALL, SHIELD_MODE_BLOCK};
	struct nft_ruleset rs = {0};
	struct fixture f;

	(void)state;
	assert_int_equal(nft_ruleset_detect_mode(&rs), SHIELD_MODE_INACTIVE);
	for (size_t m = 0; m < 4; m++) {
		fixture_init(&f, modes[m]);
		/* Addresses and ports differ from what detection assumes. */
		f.p.upstream = P("fd00:53::1");
		f.p.gateway_v4 = P("10.0.2.2");
		f.p.loopback_ports.n = 2;
		f.p.loopback_ports.ports[0] = 80;
		f.p.loopback_ports.ports[1] = 443;
		assert_int_equal(nft_ruleset_build(&f.p, &rs, NULL), 0);
		assert_int_equal(nft_ruleset_detect_mode(&rs), modes[m]);
		/* One rule removed: no longer any mode. */
		rs.chains[NFT_CHAIN_OUTPUT].n_rules--;
		assert_int_equal(nft_ruleset_detect_mode(&rs), SHIELD_MODE_ERROR);
		nft_ruleset_free(&rs);
	}
	/* Without its tcp reset rules (rejects as before) a ruleset is no mode either. */
	for (size_t m = 0; m < 4; m++) {
		struct nft_chain *out = &rs.chains[NFT_CHAIN_OUTPUT];
		size_t kept = 0;

		fixture_init(&f, modes[m]);
		assert_int_equal(nft_ruleset_build(&f.p, &rs, NULL), 0);
		for (size_t i = 0; i < out->n_rules; i++)
			if (out->rules[i].verdict != NFT_VERDICT_REJECT_TCP_RESET)
				out->rules[kept++] = out->rules[i];
		assert_true(kept < out->n_rules);
		out->n_rules = kept;
		assert_int_equal(nft_ruleset_detect_mode(&rs), SHIELD_MODE_ERROR);
		nft_ruleset_free(&rs);
	}
	fixture_init(&f, SHIELD_MODE_UP);
	assert_int_equal(nft_ruleset_build(&f.p, &rs, NULL), 0);
	rs.chains[NFT_CHAIN_OUTPUT].rules[3].unknown = true;
	assert_int_equal(nft_ruleset_detect_mode(&rs), SHIELD_MODE_ERROR);
	rs.chains[NFT_CHAIN_OUTPUT].rules[3].unknown = false;
	rs.n_foreign = 1;
	assert_int_equal(nft_ruleset_detect_mode(&rs), SHIELD_MODE_ERROR);
	nft_ruleset_free(&rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_up_mode_order),
		cmocka_unit_test(test_down_modes),
		cmocka_unit_test(test_block_mode),
		cmocka_unit_test(test_bad_params),
		cmocka_unit_test(test_render_up_ipv6_upstream),
		cmocka_unit_test(test_render_element_wrapping),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_detect_mode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
