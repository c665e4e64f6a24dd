/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The netlink backend against the real kernel, in a private network
 * namespace: atomic replace, verification, static elements that never
 * expire, element timers in dumps, dumps redone when the ruleset changed
 * under them, element writes, error mapping, and large sets.
 */
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "nft-internal.h"
#include "shield/nft-netlink.h"

static struct addr_prefix P(const char *s) {
	struct addr_prefix p;

	assert_int_equal(addr_parse(s, strlen(s), &p, NULL), 0);
	return p;
}

static struct addr_prefix allow[] = {{0}},
			  deny[] = {{0}};

static void build(enum shield_mode mode, struct nft_ruleset *rs)
{
	struct nft_ruleset_params p = {.mode = mode, .set_timeout = 1800};
	struct shield_error err = {0};

	p.upstream = P("198.18.1.53");
	allow[0] = P("198.18.1.2");
	deny[0] = P("198.18.1.4");
	p.allow = allow;
	p.n_allow = 1;
	p.deny = deny;
	p.n_deny = 1;
	if (nft_ruleset_build(&p, rs, &err) < 0)
		fail_msg("build: %s", err.msg);
}

static struct nft_sock *sock_or_fail(void)
{
	struct nft_sock *s = NULL;
	struct shield_error err = {0};

	if (nft_sock_open(&s, &err) < 0)
		fail_msg("socket: %s", err.msg);
	return s;
}

static void apply_or_fail(struct nft_sock *s, const struct nft_ruleset *rs)
{
	struct shield_error err = {0};

	if (nft_apply_ruleset(s, rs, &err) < 0)
		fail_msg("apply: %s", err.msg);
}

static void test_no_table(void **state)
{
	struct nft_sock *s = sock_or_fail();
	struct nft_ruleset rs;
	struct shield_error err = {0};

	(void)state;
	nft_delete_table(s, NULL);
	assert_int_equal(nft_dump_ruleset(s, &rs, &err), 0);
	assert_false(rs.table_present);
	assert_int_equal(nft_ruleset_detect_mode(&rs), SHIELD_MODE_INACTIVE);
	assert_int_equal(nft_delete_table(s, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "deleting table inet terok_shield"));
	nft_sock_close(s);
}

/* Applying replaces the table atomically: twice leaves one copy of everything. */
static void test_apply_twice_and_switch_modes(void **state)
{
	static const enum shield_mode modes[] = {SHIELD_MODE_UP,       SHIELD_MODE_UP,
						 SHIELD_MODE_DOWN,     SHIELD_MODE_BLOCK,
						 SHIELD_MODE_DOWN_ALL, SHIELD_MODE_UP};
	struct nft_sock *s = sock_or_fail();
	struct shield_error err = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct nft_ruleset exp, act;

		build(modes[i], &exp);
		apply_or_fail(s, &exp);
		assert_int_equal(nft_dump_ruleset(s, &act, &err), 0);
		if (nft_ruleset_verify(&exp, &act, &err) < 0)
			fail_msg("verify %s: %s", shield_mode_name(modes[i]), err.msg);
		assert_int_equal(act.chains[NFT_CHAIN_OUTPUT].n_rules,
				 exp.chains[NFT_CHAIN_OUTPUT].n_rules);
		/* Every reject came back as a tcp reset followed by its icmpx twin. */
		{
			const struct nft_chain *out = &act.chains[NFT_CHAIN_OUTPUT];
			size_t resets = 0, icmpx = 0;

			for (size_t j = 0; j < out->n_rules; j++) {
				if (out->rules[j].verdict == NFT_VERDICT_REJECT_TCP_RESET) {
					assert_true(j + 1 < out->n_rules);
					assert_int_equal(out->rules[j + 1].verdict,
							 NFT_VERDICT_REJECT);
					resets++;
				}
				icmpx += out->rules[j].verdict == NFT_VERDICT_REJECT;
			}
			assert_true(resets > 0);
			assert_int_equal(resets, icmpx);
		}
		assert_int_equal(nft_ruleset_detect_mode(&act), modes[i]);
		nft_ruleset_free(&exp);
		nft_ruleset_free(&act);
	}
	nft_sock_close(s);
}

/* Static elements carry an explicit zero timeout and so no expiration; set defaults do expire. */
static void test_static_elements_never_expire(void **state)
{
	struct nft_sock *s = sock_or_fail();
	struct nft_ruleset rs;
	struct nft_set set;
	struct shield_error err = {0};
	struct addr_prefix dyn = P("198.18.7.7"), perm = P("198.18.8.0/24");
	bool saw_static = false, saw_dyn = false, saw_perm = false;

	(void)state;
	build(SHIELD_MODE_UP, &rs);
	apply_or_fail(s, &rs);
	nft_ruleset_free(&rs);
	assert_int_equal(nft_elems_add(s, NFT_SET_ALLOW_V4, &dyn, 1, NFT_TIMEOUT_SET_DEFAULT, &err),
			 0);
	assert_int_equal(nft_elems_add(s, NFT_SET_ALLOW_V4, &perm, 1, 0, &err), 0);
	assert_int_equal(nft_elems_list(s, NFT_SET_ALLOW_V4, &set, &err), 0);
	assert_int_equal(set.n_elems, 3);
	for (size_t i = 0; i < set.n_elems; i++) {
		const struct nft_elem *e = &set.elems[i];

		if (e->first[2] == 1) { /* 198.18.1.2, from the ruleset */
			saw_static = true;
			assert_int_equal(e->expires_ms, 0);
		} else if (e->first[2] == 7) {
			saw_dyn = true;
			assert_true(e->expires_ms > 0 && e->expires_ms <= 1800000);
		} else if (e->first[2] == 8) {
			saw_perm = true;
			assert_int_equal(e->expires_ms, 0);
			assert_int_equal(e->last[3], 255);
		}
	}
	assert_true(saw_static && saw_dyn && saw_perm);
	free(set.elems);
	nft_sock_close(s);
}

static void test_add_delete_elements(void **state)
{
	struct nft_sock *s = sock_or_fail();
	struct nft_ruleset rs;
	struct nft_set set;
	struct shield_error err = {0};
	struct addr_prefix v6[3] = {P("2001:db8::1"), P("2001:db8:1::/48"), P("fd00::5")};
	struct addr_prefix gone[2] = {P("2001:db8::1"), P("2001:db8:ffff::9")}; /* 2nd absent */

	(void)state;
	build(SHIELD_MODE_UP, &rs);
	apply_or_fail(s, &rs);
	nft_ruleset_free(&rs);
	assert_int_equal(nft_elems_add(s, NFT_SET_DENY_V6, v6, 3, NFT_TIMEOUT_SET_DEFAULT, &err),
			 0);
	/* Adding what is there already is not an error. */
	assert_int_equal(nft_elems_add(s, NFT_SET_DENY_V6, v6, 1, NFT_TIMEOUT_SET_DEFAULT, &err),
			 0);
	assert_int_equal(nft_elems_list(s, NFT_SET_DENY_V6, &set, &err), 0);
	assert_int_equal(set.n_elems, 3);
	free(set.elems);
	assert_int_equal(nft_elems_delete(s, NFT_SET_DENY_V6, gone, 2, &err), 0);
	assert_int_equal(nft_elems_list(s, NFT_SET_DENY_V6, &set, &err), 0);
	assert_int_equal(set.n_elems, 2);
	free(set.elems);
	/* A family mismatch never reaches the kernel. */
	assert_int_equal(nft_elems_add(s, NFT_SET_DENY_V4, v6, 1, 0, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "does not belong in set deny_v4"));
	nft_sock_close(s);
}

/* The element dump reports each element's own timeout and remaining time (nftsetd's expiry table). */
static void test_dump_reports_timers(void **state)
{
	struct nft_sock *s = sock_or_fail();
	struct nft_ruleset rs;
	struct nft_set set;
	struct shield_error err = {0};
	struct addr_prefix dflt = P("198.18.7.7"), own = P("198.18.7.8"), none = P("198.18.7.9");
	size_t seen = 0;

	(void)state;
	build(SHIELD_MODE_UP, &rs);
	apply_or_fail(s, &rs);
	nft_ruleset_free(&rs);
	assert_int_equal(
		nft_elems_add(s, NFT_SET_ALLOW_V4, &dflt, 1, NFT_TIMEOUT_SET_DEFAULT, &err), 0);
	assert_int_equal(nft_elems_add(s, NFT_SET_ALLOW_V4, &own, 1, 60000, &err), 0);
	assert_int_equal(nft_elems_add(s, NFT_SET_ALLOW_V4, &none, 1, 0, &err), 0);
	assert_int_equal(nft_elems_list(s, NFT_SET_ALLOW_V4, &set, &err), 0);
	for (size_t i = 0; i < set.n_elems; i++) {
		const struct nft_elem *e = &set.elems[i];

		if (e->first[2] != 7)
			continue;
		seen++;
		switch (e->first[3]) {
		case 7: /* the set's 30 minutes */
			assert_true(e->has_expiration);
			assert_true(e->expires_ms > 0 && e->expires_ms <= 1800000);
			break;
		case 8: /* its own minute */
			assert_true(e->has_timeout);
			assert_int_equal(e->timeout_ms, 60000);
			assert_true(e->has_expiration);
			assert_true(e->expires_ms > 0 && e->expires_ms <= 60000);
			break;
		case 9: /* never */
			assert_true(e->has_timeout);
			assert_int_equal(e->timeout_ms, 0);
			assert_false(e->has_expiration);
			break;
		default:
			fail_msg("unexpected element 198.18.7.%u", e->first[3]);
		}
	}
	assert_int_equal(seen, 3);
	free(set.elems);
	/* The full dump carries the same timers. */
	assert_int_equal(nft_dump_ruleset(s, &rs, &err), 0);
	for (size_t i = 0; i < rs.sets[NFT_SET_ALLOW_V4].n_elems; i++) {
		const struct nft_elem *e = &rs.sets[NFT_SET_ALLOW_V4].elems[i];

		if (e->first[2] == 7 && e->first[3] == 8)
			assert_true(e->has_timeout && e->timeout_ms == 60000 && e->has_expiration);
	}
	nft_ruleset_free(&rs);
	nft_sock_close(s);
}

/* Another writer commits while we dump: every dump is redone until it is consistent. */
struct churn {
	atomic_bool done;
	int writes;
	uint8_t net; /* writes 198.19.NET.0, .1, ...: new elements, so each is a commit */
};

static void *churn_writer(void *arg)
{
	struct churn *c = arg;
	struct nft_sock *w = sock_or_fail();
	struct shield_error err = {0};

	for (int i = 0; i < c->writes; i++) {
		struct addr_prefix p = {
			.family = AF_INET, .addr = {198, 19, c->net, (uint8_t)i}, .plen = 32};

		if (nft_elems_add(w, NFT_SET_ALLOW_V4, &p, 1, 0, &err) < 0)
			break;
		usleep(3000); /* pacing, so a dump of the other set fits between two writes */
	}
	nft_sock_close(w);
	atomic_store(&c->done, true);
	return NULL;
}

/* Dump for as long as the writer commits elsewhere; returns how many dumps were redone. */
static uint64_t dump_under_churn(struct nft_sock *s, bool full, size_t want)
{
	static uint8_t net;
	struct churn c = {.writes = 30, .net = net++};
	uint64_t before = nft_sock_dump_restarts(s);
	struct shield_error err = {0};
	size_t dumps = 0;
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, churn_writer, &c), 0);
	while (!atomic_load(&c.done)) {
		struct nft_ruleset rs;
		struct nft_set set;

		dumps++;
		if (full) {
			if (nft_dump_ruleset(s, &rs, &err) < 0)
				fail_msg("full dump %zu: %s", dumps, err.msg);
			assert_int_equal(rs.sets[NFT_SET_DENY_V4].n_elems, want);
			nft_ruleset_free(&rs);
		} else {
			if (nft_elems_list(s, NFT_SET_DENY_V4, &set, &err) < 0)
				fail_msg("dump %zu: %s", dumps, err.msg);
			assert_int_equal(set.n_elems, want);
			free(set.elems);
		}
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	return nft_sock_dump_restarts(s) - before;
}

static void test_dumps_redone_under_churn(void **state)
{
	enum { N = 200 };
	struct nft_sock *s = sock_or_fail();
	struct nft_ruleset rs;
	struct shield_error err = {0};
	struct addr_prefix *many = calloc(N, sizeof(*many));

	(void)state;
	assert_non_null(many);
	build(SHIELD_MODE_UP, &rs);
	apply_or_fail(s, &rs);
	nft_ruleset_free(&rs);
	for (int i = 0; i < N; i++)
		many[i] = (struct addr_prefix){.family = AF_INET,
					       .addr = {100, 64, (uint8_t)(i / 256), (uint8_t)i},
					       .plen = 32};
	assert_int_equal(nft_elems_add(s, NFT_SET_DENY_V4, many, N, NFT_TIMEOUT_SET_DEFAULT, &err),
			 0);
	/*
	 * The set dumped is one nobody writes to (N entries and the ruleset's
	 * deny entry), so every dump must come back whole; the writes landed
	 * during dumps, and those were done again.
	 */
	assert_true(dump_under_churn(s, false, N + 1) > 0);
	assert_true(dump_under_churn(s, true, N + 1) > 0);
	free(many);
	nft_sock_close(s);
}

/* A kernel error names the message that caused it. */
static void test_error_names_the_object(void **state)
{
	struct nft_sock *s = sock_or_fail();
	struct nft_ruleset rs;
	struct shield_error err = {0};
	struct addr_prefix wide = P("10.0.0.0/8"), inner = P("10.1.0.0/16");

	(void)state;
	build(SHIELD_MODE_UP, &rs);
	apply_or_fail(s, &rs);
	nft_ruleset_free(&rs);
	/* Overlapping intervals: the kernel refuses the second. */
	assert_int_equal(nft_elems_add(s, NFT_SET_DENY_V4, &wide, 1, NFT_TIMEOUT_SET_DEFAULT, &err),
			 0);
	assert_true(nft_elems_add(s, NFT_SET_DENY_V4, &inner, 1, NFT_TIMEOUT_SET_DEFAULT, &err) <
		    0);
	print_message("overlap: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "set deny_v4 (first 10.1.0.0)"));

	/* A rule that looks up a set the batch does not create fails, naming that rule,
	 * and the old table stays as it was (one transaction). */
	build(SHIELD_MODE_BLOCK, &rs);
	{
		struct nft_rule r = {0};

		r.n_match = 1;
		r.match[0].kind = NFT_MATCH_DADDR_SET;
		r.match[0].set = NFT_SET_ALLOW_V4;
		r.verdict = NFT_VERDICT_ACCEPT;
		assert_int_equal(nft_chain_add_rule(&rs.chains[NFT_CHAIN_OUTPUT], &r), 0);
	}
	assert_true(nft_apply_ruleset(s, &rs, &err) < 0);
	print_message("missing set: %s\n", err.msg);
	/* Block mode has seven rules (lo, established, three ND, the two BLOCKED rejects). */
	assert_non_null(strstr(err.msg, "rule 8 of chain output (ip daddr @allow_v4 accept)"));
	nft_ruleset_free(&rs);
	assert_int_equal(nft_dump_ruleset(s, &rs, &err), 0);
	assert_int_equal(nft_ruleset_detect_mode(&rs), SHIELD_MODE_UP);
	nft_ruleset_free(&rs);
	nft_sock_close(s);
}

/* Ten thousand static elements go in one transaction and come back in one dump. */
static void test_large_set(void **state)
{
	enum { N = 10000 };
	struct nft_sock *s = sock_or_fail();
	struct nft_ruleset_params p = {.mode = SHIELD_MODE_UP, .set_timeout = 1800};
	struct addr_prefix *many = calloc(N, sizeof(*many));
	struct nft_ruleset exp, act;
	struct shield_error err = {0};

	(void)state;
	for (int i = 0; i < N; i++) {
		many[i].family = AF_INET;
		many[i].plen = 32;
		many[i].addr[0] = 198;
		many[i].addr[1] = 18 + (uint8_t)(i >> 16);
		many[i].addr[2] = (uint8_t)(i >> 8);
		many[i].addr[3] = (uint8_t)(i * 2); /* not adjacent: ten thousand ranges */
		if (i % 128 >= 64)
			many[i].addr[1] = 19;
	}
	p.upstream = P("198.18.1.53");
	p.allow = many;
	p.n_allow = N;
	assert_int_equal(nft_ruleset_build(&p, &exp, &err), 0);
	apply_or_fail(s, &exp);
	assert_int_equal(nft_dump_ruleset(s, &act, &err), 0);
	assert_int_equal(act.sets[NFT_SET_ALLOW_V4].n_elems, exp.sets[NFT_SET_ALLOW_V4].n_elems);
	assert_true(exp.sets[NFT_SET_ALLOW_V4].n_elems > 5000);
	if (nft_ruleset_verify(&exp, &act, &err) < 0)
		fail_msg("verify: %s", err.msg);
	nft_ruleset_free(&exp);
	nft_ruleset_free(&act);
	free(many);
	nft_sock_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_table),
		cmocka_unit_test(test_apply_twice_and_switch_modes),
		cmocka_unit_test(test_static_elements_never_expire),
		cmocka_unit_test(test_add_delete_elements),
		cmocka_unit_test(test_dump_reports_timers),
		cmocka_unit_test(test_dumps_redone_under_churn),
		cmocka_unit_test(test_error_names_the_object),
		cmocka_unit_test(test_large_set),
	};
	const char *required = getenv("SHIELD_REQUIRE_ALL_TESTS");

	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test-nft-netlink: cannot create a network namespace: %m%s\n",
			required && strcmp(required, "1") == 0 ? "" : " (skipped; run as root)");
		return required && strcmp(required, "1") == 0 ? 1 : 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
