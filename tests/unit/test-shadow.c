/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shadow: the drift computation fed with dnsmasq lines (as dnsmasq 2.90
 * writes them), kernel dumps (the ruleset model nft_dump_ruleset fills) and
 * element notifications, checked event by event: every drift kind,
 * rotation, dedupe, expiry, repairs, attribution and the report object.
 */
#include "unit-helpers.h"

#include <errno.h>
#include <sys/socket.h>

#include <jansson.h>

#include "shield/nft-netlink.h"
#include "shield/shadow.h"

#define T_SET 60 /* set timeout, seconds */
#define T_MS  (T_SET * 1000ULL)

struct fix {
	struct shadow *s;
	struct shadow_output out;
	struct nft_ruleset_params p;
	struct addr_prefix allow[2], deny[2];
	struct strlist domains, denied;
	struct shadow_config cfg;
	struct shadow_now now;
	uint64_t seq;
};

static struct addr_prefix ap(const char *text)
{
	struct addr_prefix a;

	assert_int_equal(addr_parse(text, strlen(text), &a, NULL), 0);
	return a;
}

/* Bundle: domain shield.test allowed, denied.shield.test denied; static
 * 198.18.5.5 and 2001:db8:5::5; deny.list 198.18.1.4 and 10.99.0.0/16. */
static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct shield_error err = {0};

	assert_non_null(f);
	f->allow[0] = ap("198.18.5.5");
	f->allow[1] = ap("2001:db8:5::5");
	f->deny[0] = ap("198.18.1.4");
	f->deny[1] = ap("10.99.0.0/16");
	f->p.mode = SHIELD_MODE_UP;
	f->p.upstream = ap("198.18.1.53");
	f->p.set_timeout = T_SET;
	f->p.allow = f->allow;
	f->p.n_allow = 2;
	f->p.deny = f->deny;
	f->p.n_deny = 2;
	assert_int_equal(strlist_add(&f->domains, "shield.test"), 0);
	assert_int_equal(strlist_add(&f->domains, "other.test"), 0);
	assert_int_equal(strlist_add(&f->denied, "denied.shield.test"), 0);
	f->cfg.container = "web";
	f->cfg.ruleset = f->p;
	f->cfg.dns_policy = DNS_POLICY_STRICT;
	f->cfg.domains = &f->domains;
	f->cfg.denied = &f->denied;
	f->cfg.dnsmasq_pid = 100;
	f->cfg.repair = true;
	f->cfg.event_seq = &f->seq;
	f->now.mono_ms = 1000000;
	f->now.wall_ms = 1764111226000ULL;
	assert_int_equal(shadow_new(&f->cfg, &f->s, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	shadow_free(f->s);
	shadow_output_free(&f->out);
	strlist_free(&f->domains);
	strlist_free(&f->denied);
	free(f);
	return 0;
}

static void advance(struct fix *f, uint64_t ms)
{
	f->now.mono_ms += ms;
	f->now.wall_ms += ms;
}

static void feed(struct fix *f, const char *line)
{
	struct dnsmasq_log_rec rec;

	assert_true(dnsmasq_log_parse_line(line, strlen(line), &rec) >= 0);
	assert_int_equal(shadow_log_record(f->s, &rec, &f->now, &f->out), 0);
}

/* The dnsmasq lines of one forwarded A/AAAA answer (serial, name, addresses). */
static void answer(struct fix *f, unsigned serial, const char *name, const char *const *addrs,
		   size_t n)
{
	char line[512];

	snprintf(line, sizeof(line),
		 "Nov 25 22:51:20 dnsmasq[100]: %u 127.0.0.1/4000 query[A] %s from 127.0.0.1",
		 serial, name);
	feed(f, line);
	snprintf(line, sizeof(line),
		 "Nov 25 22:51:20 dnsmasq[100]: %u 127.0.0.1/4000 forwarded %s to 198.18.1.53",
		 serial, name);
	feed(f, line);
	for (size_t i = 0; i < n; i++) {
		bool v6 = strchr(addrs[i], ':') != NULL;

		snprintf(line, sizeof(line),
			 "Nov 25 22:51:20 dnsmasq[100]: %u 127.0.0.1/4000 nftset add %s inet "
			 "terok_shield %s %s shield.test",
			 serial, v6 ? "6" : "4", v6 ? "allow_v6" : "allow_v4", addrs[i]);
		feed(f, line);
		snprintf(line, sizeof(line),
			 "Nov 25 22:51:20 dnsmasq[100]: %u 127.0.0.1/4000 reply %s is %s", serial,
			 name, addrs[i]);
		feed(f, line);
	}
}

/* The bundle's own ruleset, as the hook applied it (static elements never expire). */
static void rs_build(struct fix *f, struct nft_ruleset *rs)
{
	struct shield_error err = {0};

	assert_int_equal(nft_ruleset_build(&f->p, rs, &err), 0);
}

static void rs_add(struct nft_ruleset *rs, enum nft_set_id set, const char *addr,
		   uint64_t expires_ms)
{
	struct addr_prefix a = ap(addr);
	struct nft_elem e;

	nft_elem_from_prefix(&a, &e);
	e.has_timeout = expires_ms != 0;
	e.timeout_ms = expires_ms ? T_MS : 0;
	e.expires_ms = expires_ms;
	assert_int_equal(nft_set_add_elem(&rs->sets[set], &e), 0);
}

static void rs_del(struct nft_ruleset *rs, enum nft_set_id set, const char *addr)
{
	struct addr_prefix a = ap(addr);
	struct nft_set *s = &rs->sets[set];
	struct nft_elem e;

	nft_elem_from_prefix(&a, &e);
	for (size_t i = 0; i < s->n_elems; i++) {
		if (memcmp(s->elems[i].first, e.first, 16) == 0 &&
		    memcmp(s->elems[i].last, e.last, 16) == 0) {
			memmove(&s->elems[i], &s->elems[i + 1],
				(s->n_elems - i - 1) * sizeof(s->elems[0]));
			s->n_elems--;
			return;
		}
	}
	fail_msg("no element %s to delete", addr);
}

static void dump(struct fix *f, struct nft_ruleset *rs, const struct shadow_writer *w)
{
	assert_int_equal(shadow_kernel_dump(f->s, rs, w, &f->now, &f->out), 0);
}

/* One notification transaction. */
static void change(struct fix *f, bool add, enum nft_set_id set, const char *addr, int32_t pid,
		   const char *comm)
{
	struct shadow_elem_change c = {.add = add, .set = set};
	struct shadow_writer w = {.pid = pid};
	struct addr_prefix a = ap(addr);

	snprintf(w.comm, sizeof(w.comm), "%s", comm);
	nft_elem_from_prefix(&a, &c.elem);
	assert_int_equal(shadow_kernel_changes(f->s, &c, 1, &w, &f->now, &f->out), 0);
}

static size_t n_kind(const struct fix *f, enum shield_event_kind k)
{
	size_t n = 0;

	for (size_t i = 0; i < f->out.n_events; i++)
		n += f->out.events[i].kind == k;
	return n;
}

static const struct shield_event *event_of(const struct fix *f, enum shield_event_kind k)
{
	for (size_t i = 0; i < f->out.n_events; i++)
		if (f->out.events[i].kind == k)
			return &f->out.events[i];
	fail_msg("no %s event among %zu", shield_event_kind_name(k), f->out.n_events);
	return NULL;
}

static void reset(struct fix *f)
{
	shadow_output_reset(&f->out);
}

/* A clean start: the hook's ruleset, nothing else. */
static void clean_start(struct fix *f)
{
	struct nft_ruleset rs;

	rs_build(f, &rs);
	dump(f, &rs, NULL);
	nft_ruleset_free(&rs);
	assert_int_equal(f->out.n_events, 0);
	assert_int_equal(f->out.n_repairs, 0);
	assert_true(shadow_clean(f->s));
}

/* The config nftsetd and the one-shot report build from a bundle: mode, policy as dnsmasq runs it, lists. */
static void test_config_from_bundle(void **state)
{
	struct addr_prefix allow[2], deny[1];
	struct strlist domains = STRLIST_INIT, denied = STRLIST_INIT;
	struct bundle_rules b = {.allow = allow, .n_allow = 2, .deny = deny, .n_deny = 1};
	struct shadow_config cfg;

	(void)state;
	bundle_config_init(&b.config);
	b.config.set_timeout = 77;
	b.config.dns_policy = DNS_POLICY_STRICT;
	shadow_config_from_bundle(&cfg, &b, &domains, &denied);
	assert_int_equal(cfg.ruleset.mode, SHIELD_MODE_UP);
	assert_int_equal(cfg.dns_policy, DNS_POLICY_STRICT);
	assert_ptr_equal(cfg.ruleset.allow, allow);
	assert_int_equal(cfg.ruleset.n_allow, 2);
	assert_ptr_equal(cfg.ruleset.deny, deny);
	assert_int_equal(cfg.ruleset.n_deny, 1);
	assert_int_equal(cfg.ruleset.set_timeout, 77);
	assert_ptr_equal(cfg.domains, &domains);
	assert_ptr_equal(cfg.denied, &denied);
	assert_int_equal(cfg.blocked_repeat_ms, SHADOW_BLOCKED_REPEAT_MS);
	assert_null(cfg.container);
	/* dnsmasq forwards everything in down and down_all, whatever the bundle's policy. */
	b.config.mode = SHIELD_MODE_DOWN;
	shadow_config_from_bundle(&cfg, &b, &domains, &denied);
	assert_int_equal(cfg.ruleset.mode, SHIELD_MODE_DOWN);
	assert_int_equal(cfg.dns_policy, DNS_POLICY_OPEN);
	b.config.mode = SHIELD_MODE_DOWN_ALL;
	shadow_config_from_bundle(&cfg, &b, &domains, &denied);
	assert_int_equal(cfg.dns_policy, DNS_POLICY_OPEN);
	b.config.mode = SHIELD_MODE_BLOCK;
	shadow_config_from_bundle(&cfg, &b, &domains, &denied);
	assert_int_equal(cfg.dns_policy, DNS_POLICY_STRICT);
	bundle_config_free(&b.config);
}

static void test_config_errors(void **state)
{
	struct fix *f = *state;
	struct shield_error err = {0};
	struct shadow *s = NULL;
	struct shadow_config c = f->cfg;

	c.container = "";
	assert_int_equal(shadow_new(&c, &s, &err), -EINVAL);
	assert_msg_contains(&err, "container");
	c = f->cfg;
	c.ruleset.set_timeout = 0;
	assert_int_equal(shadow_new(&c, &s, &err), -EINVAL);
	assert_msg_contains(&err, "timeout");
	c = f->cfg;
	c.ruleset.mode = SHIELD_MODE_ERROR;
	assert_int_equal(shadow_new(&c, &s, &err), -EINVAL);
	assert_msg_contains(&err, "mode");
	assert_null(s);
	assert_int_equal(shadow_reconfigure(f->s, &c, &err), -EINVAL);
}

/* A clean container: logged answers explain the dynamic elements, no event. */
static void test_clean(void **state)
{
	static const char *const a[] = {"198.18.1.2", "198.18.1.3"};
	struct fix *f = *state;
	struct nft_ruleset rs;

	clean_start(f);
	answer(f, 1, "allowed.shield.test", a, 2);
	advance(f, 100);
	rs_build(f, &rs);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.1.2", T_MS - 100);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.1.3", T_MS - 100);
	dump(f, &rs, NULL);
	assert_int_equal(f->out.n_events, 0);
	assert_true(shadow_clean(f->s));
	for (int k = 0; k < SHIELD_EVENT_KIND_COUNT; k++)
		assert_int_equal(shadow_count(f->s, (enum shield_event_kind)k), 0);
	nft_ruleset_free(&rs);
}

static void test_rotation(void **state)
{
	static const char *const first[] = {"198.18.1.2", "198.18.1.3"};
	static const char *const same[] = {"198.18.1.3", "198.18.1.2"};
	static const char *const second[] = {"198.18.1.3", "198.18.1.9"};
	static const char *const v6[] = {"2001:db8:1::2"};
	struct fix *f = *state;
	const struct shield_event *ev;
	char text[ADDR_TEXT_MAX];

	answer(f, 1, "allowed.shield.test", first, 2);
	advance(f, 1000);
	/* The same answer in another order, and an AAAA answer: no rotation. */
	answer(f, 2, "allowed.shield.test", same, 2);
	answer(f, 3, "allowed.shield.test", v6, 1);
	advance(f, 4000);
	answer(f, 4, "allowed.shield.test", second, 2);
	assert_int_equal(n_kind(f, SHIELD_EVENT_ROTATION), 0);
	/* The response completes with the next one's first line (or a tick). */
	feed(f,
	     "Nov 25 22:51:20 dnsmasq[100]: 5 127.0.0.1/4 query[A] x.shield.test from 127.0.0.1");
	assert_int_equal(n_kind(f, SHIELD_EVENT_ROTATION), 1);
	ev = event_of(f, SHIELD_EVENT_ROTATION);
	assert_string_equal(ev->domain, "allowed.shield.test");
	assert_string_equal(ev->set, "allow_v4");
	assert_string_equal(ev->container, "web");
	assert_int_equal(ev->n_added, 1);
	addr_format(&ev->added[0], text);
	assert_string_equal(text, "198.18.1.9");
	assert_int_equal(ev->n_removed, 1);
	addr_format(&ev->removed[0], text);
	assert_string_equal(text, "198.18.1.2");
	/* Since the previous answer (seen again at +1 s). */
	assert_int_equal(ev->age_ms, 4000);
	assert_int_equal(ev->ts_ms, f->now.wall_ms);
	assert_true(ev->id > 0);
	assert_int_equal(shadow_count(f->s, SHIELD_EVENT_ROTATION), 1);
	/* Rotation is not a check: the container stays clean. */
	assert_true(shadow_clean(f->s));

	/* A response cut by a read boundary is completed by the tick only when idle. */
	reset(f);
	advance(f, 1000);
	answer(f, 6, "allowed.shield.test", first, 2);
	assert_int_equal(shadow_tick(f->s, &f->now, &f->out), 0);
	assert_int_equal(f->out.n_events, 0);
	advance(f, 1000);
	assert_int_equal(shadow_tick(f->s, &f->now, &f->out), 0);
	assert_int_equal(n_kind(f, SHIELD_EVENT_ROTATION), 1);
	assert_int_equal(event_of(f, SHIELD_EVENT_ROTATION)->age_ms, 1000);
}

/* A CNAME chain: the addresses belong to the name that was asked. */
static void test_rotation_cname(void **state)
{
	struct fix *f = *state;
	const char *lines[] = {
		"Nov 25 22:51:20 dnsmasq[100]: 5 127.0.0.1/1 query[A] alias.shield.test from x",
		"Nov 25 22:51:20 dnsmasq[100]: 5 127.0.0.1/1 reply alias.shield.test is <CNAME>",
		"Nov 25 22:51:20 dnsmasq[100]: 5 127.0.0.1/1 nftset add 4 inet terok_shield "
		"allow_v4 198.18.1.2 shield.test",
		"Nov 25 22:51:20 dnsmasq[100]: 5 127.0.0.1/1 reply allowed.shield.test is "
		"198.18.1.2",
		"Nov 25 22:51:20 dnsmasq[100]: 6 127.0.0.1/1 query[A] alias.shield.test from x",
		"Nov 25 22:51:20 dnsmasq[100]: 6 127.0.0.1/1 reply alias.shield.test is <CNAME>",
		"Nov 25 22:51:20 dnsmasq[100]: 6 127.0.0.1/1 nftset add 4 inet terok_shield "
		"allow_v4 198.18.1.7 shield.test",
		"Nov 25 22:51:20 dnsmasq[100]: 6 127.0.0.1/1 reply allowed.shield.test is "
		"198.18.1.7",
		"Nov 25 22:51:20 dnsmasq[100]: 7 127.0.0.1/1 query[A] y.shield.test from x",
	};

	for (size_t i = 0; i < ARRAY_SIZE(lines); i++)
		feed(f, lines[i]);
	assert_int_equal(n_kind(f, SHIELD_EVENT_ROTATION), 1);
	assert_string_equal(event_of(f, SHIELD_EVENT_ROTATION)->domain, "alias.shield.test");
}

/* Answers for names no allowlist covers are not tracked (open policy). */
static void test_rotation_only_allowed(void **state)
{
	struct fix *f = *state;

	feed(f, "Nov 25 22:51:20 dnsmasq[100]: 1 127.0.0.1/1 reply other.example is 1.1.1.1");
	feed(f, "Nov 25 22:51:20 dnsmasq[100]: 2 127.0.0.1/1 reply other.example is 1.1.1.2");
	feed(f, "Nov 25 22:51:20 dnsmasq[100]: 3 127.0.0.1/1 reply other.example is 1.1.1.3");
	advance(f, 5000);
	assert_int_equal(shadow_tick(f->s, &f->now, &f->out), 0);
	assert_int_equal(f->out.n_events, 0);
}

static void test_blocked_query(void **state)
{
	struct fix *f = *state;
	const struct shield_event *ev;
	json_t *rep;

	feed(f, "Nov 25 22:51:20 dnsmasq[100]: 8 127.0.0.1/1 query[AAAA] blocked.example.com from "
		"127.0.0.1");
	assert_int_equal(f->out.n_events, 0); /* strict policy: the config line tells */
	feed(f, "Nov 25 22:51:20 dnsmasq[100]: 8 127.0.0.1/1 config blocked.example.com is "
		"NXDOMAIN");
	assert_int_equal(n_kind(f, SHIELD_EVENT_BLOCKED_QUERY), 1);
	ev = event_of(f, SHIELD_EVENT_BLOCKED_QUERY);
	assert_string_equal(ev->domain, "blocked.example.com");
	assert_non_null(strstr(ev->detail, "query[AAAA]"));
	assert_non_null(strstr(ev->detail, "no allowlist entry covers it"));
	reset(f);
	feed(f, "Nov 25 22:51:20 dnsmasq[100]: 10 127.0.0.1/1 config denied.shield.test is "
		"NXDOMAIN");
	assert_non_null(strstr(event_of(f, SHIELD_EVENT_BLOCKED_QUERY)->detail, "denied domain"));
	/* Other config answers are not refusals. */
	reset(f);
	feed(f, "Nov 25 22:51:20 dnsmasq[100]: 3 127.0.0.1/1 config error is REFUSED");
	feed(f, "Nov 25 22:51:20 dnsmasq[100]: 3 127.0.0.1/1 config x.test is 198.18.0.1");
	assert_int_equal(f->out.n_events, 0);
	/* Without suppression every refusal is an event. */
	feed(f, "Nov 25 22:51:20 dnsmasq[100]: 11 127.0.0.1/1 config denied.shield.test is "
		"NXDOMAIN");
	assert_int_equal(n_kind(f, SHIELD_EVENT_BLOCKED_QUERY), 1);
	assert_int_equal(shadow_count(f->s, SHIELD_EVENT_BLOCKED_QUERY), 3);
	rep = shadow_report(f->s, NULL, &f->now);
	assert_int_equal(json_integer_value(json_object_get(rep, "blocked_queries")), 3);
	json_decref(rep);
	/* Not a check: still clean. */
	assert_true(shadow_clean(f->s));
}

static void test_blocked_repeat(void **state)
{
	struct fix *f = *state;
	struct shield_error err = {0};
	const char *a = "Nov 25 22:51:20 dnsmasq[100]: 1 127.0.0.1/1 config a.example is NXDOMAIN";
	const char *b = "Nov 25 22:51:20 dnsmasq[100]: 2 127.0.0.1/1 config b.example is NXDOMAIN";
	json_t *rep;

	f->cfg.blocked_repeat_ms = SHADOW_BLOCKED_REPEAT_MS;
	assert_int_equal(shadow_reconfigure(f->s, &f->cfg, &err), 0);
	feed(f, a); /* A */
	feed(f, a); /* AAAA right after: counted, no event */
	feed(f, b);
	assert_int_equal(n_kind(f, SHIELD_EVENT_BLOCKED_QUERY), 2);
	advance(f, SHADOW_BLOCKED_REPEAT_MS);
	feed(f, a);
	assert_int_equal(n_kind(f, SHIELD_EVENT_BLOCKED_QUERY), 3);
	rep = shadow_report(f->s, NULL, &f->now);
	assert_int_equal(json_integer_value(json_object_get(rep, "blocked_queries")), 4);
	json_decref(rep);
}

/* Open DNS policy (mode up): the query itself is the blocked one. */
static void test_blocked_open_policy(void **state)
{
	struct fix *f = *state;
	struct shield_error err = {0};

	f->cfg.dns_policy = DNS_POLICY_OPEN;
	assert_int_equal(shadow_reconfigure(f->s, &f->cfg, &err), 0);
	feed(f, "Nov 25 22:51:20 dnsmasq[100]: 1 127.0.0.1/1 query[A] www.example.org from x");
	feed(f, "Nov 25 22:51:20 dnsmasq[100]: 2 127.0.0.1/1 query[A] www.shield.test from x");
	assert_int_equal(n_kind(f, SHIELD_EVENT_BLOCKED_QUERY), 1);
	assert_string_equal(event_of(f, SHIELD_EVENT_BLOCKED_QUERY)->domain, "www.example.org");
	assert_non_null(strstr(event_of(f, SHIELD_EVENT_BLOCKED_QUERY)->detail, "query[A]"));
	/* Mode down lets everything through: no blocked query. */
	reset(f);
	f->cfg.ruleset.mode = SHIELD_MODE_DOWN;
	assert_int_equal(shadow_reconfigure(f->s, &f->cfg, &err), 0);
	feed(f, "Nov 25 22:51:20 dnsmasq[100]: 3 127.0.0.1/1 query[A] www.example.org from x");
	assert_int_equal(f->out.n_events, 0);
}

/* `nft add element ... allow_v4 { 198.18.9.9 }` from outside: named at once, once. */
static void test_unexplained_notification(void **state)
{
	struct fix *f = *state;
	const struct shield_event *ev;
	struct nft_ruleset rs;

	clean_start(f);
	change(f, true, NFT_SET_ALLOW_V4, "198.18.9.9", 4242, "nft");
	assert_int_equal(f->out.n_events, 1);
	ev = event_of(f, SHIELD_EVENT_DRIFT_UNEXPLAINED);
	assert_string_equal(ev->ip, "198.18.9.9");
	assert_string_equal(ev->set, "allow_v4");
	assert_int_equal(ev->pid, 4242);
	assert_string_equal(ev->comm, "nft");
	assert_false(ev->repaired);
	assert_int_equal(f->out.n_repairs, 0); /* never repaired by deleting or allowing */
	assert_false(shadow_clean(f->s));
	assert_int_equal(shadow_open_count(f->s, SHIELD_EVENT_DRIFT_UNEXPLAINED), 1);

	/* Later dumps still see it: no second event. */
	reset(f);
	advance(f, 5000);
	rs_build(f, &rs);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.9.9", T_MS - 5000);
	dump(f, &rs, NULL);
	dump(f, &rs, NULL);
	assert_int_equal(f->out.n_events, 0);
	assert_int_equal(shadow_count(f->s, SHIELD_EVENT_DRIFT_UNEXPLAINED), 1);
	nft_ruleset_free(&rs);

	/* Deleted: resolved. */
	change(f, false, NFT_SET_ALLOW_V4, "198.18.9.9", 4242, "nft");
	assert_int_equal(f->out.n_events, 0);
	assert_true(shadow_clean(f->s));
	assert_int_equal(shadow_count(f->s, SHIELD_EVENT_DRIFT_UNEXPLAINED), 1);
}

/* Found by a dump alone (a lost notification): reported without a writer. */
static void test_unexplained_dump(void **state)
{
	struct fix *f = *state;
	struct nft_ruleset rs;

	clean_start(f);
	rs_build(f, &rs);
	rs_add(&rs, NFT_SET_ALLOW_V6, "2001:db8:9::9", 30000);
	dump(f, &rs, NULL);
	assert_int_equal(n_kind(f, SHIELD_EVENT_DRIFT_UNEXPLAINED), 1);
	assert_string_equal(event_of(f, SHIELD_EVENT_DRIFT_UNEXPLAINED)->ip, "2001:db8:9::9");
	assert_int_equal(event_of(f, SHIELD_EVENT_DRIFT_UNEXPLAINED)->pid, 0);
	/* Gone at the next dump (expired or deleted): resolved. */
	reset(f);
	nft_ruleset_free(&rs);
	rs_build(f, &rs);
	dump(f, &rs, NULL);
	assert_true(shadow_clean(f->s));
	/* A range nobody explains is shown as a range. */
	reset(f);
	{
		struct nft_elem e = {.family = AF_INET};
		struct addr_prefix a = ap("198.18.7.1"), b = ap("198.18.7.9");

		memcpy(e.first, a.addr, 4);
		memcpy(e.last, b.addr, 4);
		assert_int_equal(nft_set_add_elem(&rs.sets[NFT_SET_ALLOW_V4], &e), 0);
		rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.8.0/24", 0);
	}
	dump(f, &rs, NULL);
	assert_int_equal(n_kind(f, SHIELD_EVENT_DRIFT_UNEXPLAINED), 2);
	{
		bool range = false, prefix = false;

		for (size_t i = 0; i < f->out.n_events; i++) {
			range = range || strcmp(f->out.events[i].ip, "198.18.7.1-198.18.7.9") == 0;
			prefix = prefix || strcmp(f->out.events[i].ip, "198.18.8.0/24") == 0;
		}
		assert_true(range);
		assert_true(prefix);
	}
	nft_ruleset_free(&rs);
}

/* Writes by this container's dnsmasq (also its TCP children) and by shield are explained
 * writers: judged at the next dump, against the log. */
static void test_explained_writers(void **state)
{
	static const char *const a[] = {"198.18.1.2"};
	struct fix *f = *state;
	struct nft_ruleset rs;

	clean_start(f);
	change(f, true, NFT_SET_ALLOW_V4, "198.18.1.2", 100, "dnsmasq");
	change(f, true, NFT_SET_ALLOW_V4, "198.18.5.6", 1, "nftsetd");
	assert_int_equal(f->out.n_events, 0);
	/* A TCP child's pid becomes known from its log lines. */
	feed(f, "Nov 25 22:51:20 dnsmasq[21694]: 124 127.0.0.1/35633 query[A] multi.shield.test "
		"from 127.0.0.1");
	change(f, true, NFT_SET_ALLOW_V4, "198.18.1.3", 21694, "whatever");
	assert_int_equal(f->out.n_events, 0);
	/* The log explains the dnsmasq ones; nothing explains 198.18.5.6 or .3 at the dump. */
	answer(f, 1, "allowed.shield.test", a, 1);
	advance(f, 10);
	rs_build(f, &rs);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.1.2", T_MS);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.5.6", 0);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.1.3", T_MS);
	dump(f, &rs, NULL);
	assert_int_equal(n_kind(f, SHIELD_EVENT_DRIFT_UNEXPLAINED), 2);
	for (size_t i = 0; i < f->out.n_events; i++) {
		const struct shield_event *ev = &f->out.events[i];

		/* The writer the notification named is still reported. */
		if (strcmp(ev->ip, "198.18.5.6") == 0) {
			assert_string_equal(ev->comm, "nftsetd");
		} else {
			assert_string_equal(ev->ip, "198.18.1.3");
			assert_int_equal(ev->pid, 21694);
		}
	}
	nft_ruleset_free(&rs);
}

/* What was in the sets before nftsetd attached (or across a log gap) is adopted when it
 * carries a timer; a never-expiring stranger is not. */
static void test_adoption(void **state)
{
	struct fix *f = *state;
	struct nft_ruleset rs;
	json_t *rep;

	rs_build(f, &rs);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.1.2", 20000);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.66.6", 0);
	dump(f, &rs, NULL);
	assert_int_equal(f->out.n_events, 1);
	assert_string_equal(event_of(f, SHIELD_EVENT_DRIFT_UNEXPLAINED)->ip, "198.18.66.6");
	/* Only the first dump adopts. */
	reset(f);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.1.3", 20000);
	dump(f, &rs, NULL);
	assert_int_equal(n_kind(f, SHIELD_EVENT_DRIFT_UNEXPLAINED), 1);
	assert_string_equal(event_of(f, SHIELD_EVENT_DRIFT_UNEXPLAINED)->ip, "198.18.1.3");
	/* A log gap: the next dump adopts again and resolves the gap. */
	reset(f);
	assert_int_equal(shadow_log_gap(f->s, "truncated at 5000 bytes", &f->now, &f->out), 0);
	assert_int_equal(n_kind(f, SHIELD_EVENT_LOG_GAP), 1);
	assert_string_equal(event_of(f, SHIELD_EVENT_LOG_GAP)->detail, "truncated at 5000 bytes");
	assert_int_equal(shadow_open_count(f->s, SHIELD_EVENT_LOG_GAP), 1);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.1.4", 20000); /* in deny.list: never adopted */
	dump(f, &rs, NULL);
	assert_int_equal(shadow_open_count(f->s, SHIELD_EVENT_LOG_GAP), 0);
	assert_int_equal(shadow_open_count(f->s, SHIELD_EVENT_DRIFT_UNEXPLAINED), 1); /* 66.6 */
	assert_int_equal(shadow_open_count(f->s, SHIELD_EVENT_DRIFT_DENIED_PRESENT), 1);
	rep = shadow_report(f->s, NULL, &f->now);
	/* log.gap counted, no longer open */
	{
		json_t *checks = json_object_get(rep, "checks"), *c;
		size_t i;

		json_array_foreach(checks, i, c)
		{
			if (strcmp(json_string_value(json_object_get(c, "kind")), "log.gap") == 0) {
				assert_string_equal(json_string_value(json_object_get(c, "state")),
						    "ok");
				assert_int_equal(json_integer_value(json_object_get(c, "count")),
						 1);
			}
		}
	}
	json_decref(rep);
	nft_ruleset_free(&rs);
}

/* `nft delete element` of a static entry: missing, repaired, reported; closed when back. */
static void test_missing_static(void **state)
{
	struct fix *f = *state;
	const struct shield_event *ev;
	struct nft_ruleset rs;
	char text[ADDR_TEXT_MAX];

	clean_start(f);
	change(f, false, NFT_SET_ALLOW_V4, "198.18.5.5", 777, "nft");
	assert_int_equal(f->out.n_events, 1);
	ev = event_of(f, SHIELD_EVENT_DRIFT_MISSING);
	assert_string_equal(ev->ip, "198.18.5.5");
	assert_int_equal(ev->pid, 777);
	assert_string_equal(ev->comm, "nft");
	assert_true(ev->repaired);
	assert_int_equal(f->out.n_repairs, 1);
	assert_int_equal(f->out.repairs[0].set, NFT_SET_ALLOW_V4);
	assert_int_equal(f->out.repairs[0].timeout_ms, 0); /* never expires */
	assert_int_equal(f->out.repairs[0].cause, SHIELD_EVENT_DRIFT_MISSING);
	addr_format(&f->out.repairs[0].addr, text);
	assert_string_equal(text, "198.18.5.5");

	/* nftsetd's re-add comes back as a notification: resolved. */
	reset(f);
	change(f, true, NFT_SET_ALLOW_V4, "198.18.5.5", 1, "nftsetd");
	assert_int_equal(f->out.n_events, 0);
	assert_true(shadow_clean(f->s));

	/* Missing in a dump: one event, the repair issued at every dump until it is back. */
	rs_build(f, &rs);
	rs_del(&rs, NFT_SET_ALLOW_V6, "2001:db8:5::5");
	dump(f, &rs, NULL);
	dump(f, &rs, NULL);
	assert_int_equal(n_kind(f, SHIELD_EVENT_DRIFT_MISSING), 1);
	assert_int_equal(f->out.n_repairs, 2);
	assert_int_equal(f->out.repairs[1].set, NFT_SET_ALLOW_V6);
	nft_ruleset_free(&rs);
	reset(f);
	rs_build(f, &rs);
	dump(f, &rs, NULL);
	assert_true(shadow_clean(f->s));
	assert_int_equal(f->out.n_repairs, 0);
	assert_int_equal(shadow_count(f->s, SHIELD_EVENT_DRIFT_MISSING), 2);
	nft_ruleset_free(&rs);
}

/* --no-repair: reported, never repaired; a failed repair says so. */
static void test_no_repair(void **state)
{
	struct fix *f = *state;
	struct shield_error err = {0};
	struct shadow_repair r;

	f->cfg.repair = false;
	assert_int_equal(shadow_reconfigure(f->s, &f->cfg, &err), 0);
	clean_start(f);
	change(f, false, NFT_SET_ALLOW_V4, "198.18.5.5", 777, "nft");
	assert_false(event_of(f, SHIELD_EVENT_DRIFT_MISSING)->repaired);
	assert_int_equal(f->out.n_repairs, 0);

	f->cfg.repair = true;
	assert_int_equal(shadow_reconfigure(f->s, &f->cfg, &err), 0);
	reset(f);
	change(f, false, NFT_SET_ALLOW_V6, "2001:db8:5::5", 777, "nft");
	assert_int_equal(f->out.n_repairs, 1);
	r = f->out.repairs[0];
	reset(f);
	assert_int_equal(
		shadow_repair_failed(f->s, &r, "Operation not permitted", &f->now, &f->out), 0);
	assert_int_equal(n_kind(f, SHIELD_EVENT_DRIFT_MISSING), 1);
	assert_false(event_of(f, SHIELD_EVENT_DRIFT_MISSING)->repaired);
	assert_non_null(strstr(event_of(f, SHIELD_EVENT_DRIFT_MISSING)->detail, "not permitted"));
}

/* deny.list entries must be in the deny sets; shield's own deletes wait for the dump. */
static void test_missing_deny(void **state)
{
	struct fix *f = *state;
	struct nft_ruleset rs;

	clean_start(f);
	change(f, false, NFT_SET_DENY_V4, "10.99.0.0/16", 5, "shield");
	assert_int_equal(f->out.n_events, 0);
	rs_build(f, &rs);
	rs_del(&rs, NFT_SET_DENY_V4, "10.99.0.0/16");
	dump(f, &rs, NULL);
	assert_int_equal(n_kind(f, SHIELD_EVENT_DRIFT_MISSING), 1);
	assert_string_equal(event_of(f, SHIELD_EVENT_DRIFT_MISSING)->ip, "10.99.0.0/16");
	assert_string_equal(event_of(f, SHIELD_EVENT_DRIFT_MISSING)->set, "deny_v4");
	assert_int_equal(f->out.n_repairs, 1);
	assert_int_equal(f->out.repairs[0].timeout_ms, NFT_TIMEOUT_SET_DEFAULT);
	assert_int_equal(f->out.repairs[0].addr.plen, 16);
	nft_ruleset_free(&rs);
}

/* A dynamic element deleted before its timeout is missing (not repaired); expiry is not. */
static void test_missing_dynamic(void **state)
{
	static const char *const a[] = {"198.18.1.2", "198.18.1.3"};
	struct fix *f = *state;
	struct nft_ruleset rs;

	clean_start(f);
	answer(f, 1, "allowed.shield.test", a, 2);
	advance(f, 1000);
	rs_build(f, &rs);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.1.2", T_MS - 1000);
	dump(f, &rs, NULL);
	assert_int_equal(n_kind(f, SHIELD_EVENT_DRIFT_MISSING), 1);
	assert_string_equal(event_of(f, SHIELD_EVENT_DRIFT_MISSING)->ip, "198.18.1.3");
	assert_string_equal(event_of(f, SHIELD_EVENT_DRIFT_MISSING)->domain, "shield.test");
	assert_false(event_of(f, SHIELD_EVENT_DRIFT_MISSING)->repaired);
	assert_int_equal(f->out.n_repairs, 0);
	/* Deleted by someone: missing at once, named. */
	reset(f);
	change(f, false, NFT_SET_ALLOW_V4, "198.18.1.2", 31337, "evil");
	assert_int_equal(n_kind(f, SHIELD_EVENT_DRIFT_MISSING), 1);
	assert_int_equal(event_of(f, SHIELD_EVENT_DRIFT_MISSING)->pid, 31337);
	assert_int_equal(f->out.n_repairs, 0);
	nft_ruleset_free(&rs);

	/* Past their timeout they are gone normally: resolved, nothing new. */
	reset(f);
	advance(f, T_MS);
	rs_build(f, &rs);
	dump(f, &rs, NULL);
	assert_int_equal(f->out.n_events, 0);
	assert_true(shadow_clean(f->s));
	nft_ruleset_free(&rs);
}

/* Lines logged after the dump started are not held against it. */
static void test_dump_race(void **state)
{
	static const char *const a[] = {"198.18.1.2"};
	struct fix *f = *state;
	struct shadow_now then;
	struct nft_ruleset rs;

	clean_start(f);
	then = f->now;
	advance(f, 50);
	answer(f, 1, "allowed.shield.test", a, 1);
	rs_build(f, &rs);
	assert_int_equal(shadow_kernel_dump(f->s, &rs, NULL, &then, &f->out), 0);
	assert_int_equal(f->out.n_events, 0);
	nft_ruleset_free(&rs);
}

/* dnsmasq adds to the set before its log line is written and read: once the shadow is told
 * how far the log has been read (nftsetd), a dump in between waits for the log instead of
 * calling the answer unexplained; an add the log never explains is still reported. */
static void test_log_lag(void **state)
{
	static const char *const a[] = {"198.18.1.2"};
	struct fix *f = *state;
	struct nft_ruleset rs;

	clean_start(f);
	shadow_log_read(f->s, &f->now);
	change(f, true, NFT_SET_ALLOW_V4, "198.18.1.2", 100, "dnsmasq");
	change(f, true, NFT_SET_ALLOW_V4, "198.18.1.7", 100, "dnsmasq");
	change(f, true, NFT_SET_ALLOW_V4, "198.18.5.6", 55, "nft");
	assert_int_equal(n_kind(f, SHIELD_EVENT_DRIFT_UNEXPLAINED), 1); /* nft's, at once */
	reset(f);
	rs_build(f, &rs);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.1.2", T_MS);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.1.7", T_MS);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.5.6", T_MS);
	/* The dump comes before the log was read again: dnsmasq's two wait. */
	advance(f, 5);
	dump(f, &rs, NULL);
	assert_int_equal(n_kind(f, SHIELD_EVENT_DRIFT_UNEXPLAINED), 0); /* .5.6 is open already */
	assert_int_equal(shadow_awaiting_log(f->s), 2);
	/* Read to its end too soon after the add: still waiting. */
	shadow_log_read(f->s, &f->now);
	dump(f, &rs, NULL);
	assert_int_equal(shadow_awaiting_log(f->s), 2);
	assert_int_equal(n_kind(f, SHIELD_EVENT_DRIFT_UNEXPLAINED), 0);
	/* The log explains .2; read to its end late enough, .7 is unexplained. */
	answer(f, 1, "allowed.shield.test", a, 1);
	advance(f, SHADOW_LOG_LAG_MS);
	shadow_log_read(f->s, &f->now);
	dump(f, &rs, NULL);
	assert_int_equal(shadow_awaiting_log(f->s), 0);
	assert_int_equal(n_kind(f, SHIELD_EVENT_DRIFT_UNEXPLAINED), 1);
	assert_string_equal(event_of(f, SHIELD_EVENT_DRIFT_UNEXPLAINED)->ip, "198.18.1.7");
	/* nft's item stayed open all along (a waiting check does not resolve it either). */
	assert_false(shadow_clean(f->s));
	nft_ruleset_free(&rs);
}

/* An item open for an element stays open while a re-add by dnsmasq waits for the log. */
static void test_log_lag_keeps_open(void **state)
{
	struct fix *f = *state;
	struct nft_ruleset rs;

	clean_start(f);
	shadow_log_read(f->s, &f->now);
	change(f, true, NFT_SET_ALLOW_V4, "198.18.5.6", 55, "nft");
	assert_int_equal(n_kind(f, SHIELD_EVENT_DRIFT_UNEXPLAINED), 1);
	reset(f);
	change(f, true, NFT_SET_ALLOW_V4, "198.18.5.6", 100, "dnsmasq");
	rs_build(f, &rs);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.5.6", T_MS);
	advance(f, 5);
	dump(f, &rs, NULL);
	assert_int_equal(shadow_awaiting_log(f->s), 1);
	assert_int_equal(n_kind(f, SHIELD_EVENT_DRIFT_UNEXPLAINED), 0);
	assert_false(shadow_clean(f->s)); /* not resolved by the wait */
	nft_ruleset_free(&rs);
}

/* Re-adding a present element does not refresh its kernel timeout: the shadow keeps the
 * kernel's expiry, so the element expiring "early" is no drift. */
static void test_readd_keeps_expiry(void **state)
{
	static const char *const a[] = {"198.18.1.2"};
	struct fix *f = *state;
	struct nft_ruleset rs;

	clean_start(f);
	answer(f, 1, "allowed.shield.test", a, 1);
	rs_build(f, &rs);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.1.2", 10000);
	dump(f, &rs, NULL);
	nft_ruleset_free(&rs);
	advance(f, 5000);
	answer(f, 2, "allowed.shield.test", a, 1);
	advance(f, 6000); /* the kernel's 10 s are over, the log's 60 s are not */
	rs_build(f, &rs);
	dump(f, &rs, NULL);
	assert_int_equal(f->out.n_events, 0);
	nft_ruleset_free(&rs);
}

/* An answer explains its element until the answer's timer ends, not longer: re-added
 * with a longer timeout, the element outlives it and is reported then. */
static void test_outlived(void **state)
{
	static const char *const a[] = {"198.18.1.2"};
	struct fix *f = *state;
	struct nft_ruleset rs;
	const struct shield_event *ev;

	clean_start(f);
	answer(f, 1, "allowed.shield.test", a, 1);
	change(f, false, NFT_SET_ALLOW_V4, "198.18.1.2", 666, "nft");
	assert_int_equal(n_kind(f, SHIELD_EVENT_DRIFT_MISSING), 1);
	change(f, true, NFT_SET_ALLOW_V4, "198.18.1.2", 666, "nft");
	/* Still within the answer's timer: explained (and no longer missing). */
	assert_int_equal(n_kind(f, SHIELD_EVENT_DRIFT_UNEXPLAINED), 0);
	assert_true(shadow_clean(f->s));
	rs_build(f, &rs);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.1.2", 10 * T_MS);
	dump(f, &rs, NULL);
	assert_true(shadow_clean(f->s));
	nft_ruleset_free(&rs);
	reset(f);
	advance(f, T_MS + SHADOW_EXPIRY_SLACK_MS);
	assert_int_equal(shadow_tick(f->s, &f->now, &f->out), 0);
	rs_build(f, &rs);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.1.2", 9 * T_MS);
	dump(f, &rs, NULL);
	assert_int_equal(f->out.n_events, 1);
	ev = event_of(f, SHIELD_EVENT_DRIFT_UNEXPLAINED);
	assert_string_equal(ev->ip, "198.18.1.2");
	assert_non_null(strstr(ev->detail, "expired"));
	assert_int_equal(ev->pid, 666); /* the writer the notification named */
	nft_ruleset_free(&rs);
}

/* After a log gap, an element with a timer longer than the set's is not adopted. */
static void test_adoption_limits(void **state)
{
	struct fix *f = *state;
	struct nft_ruleset rs;

	rs_build(f, &rs);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.1.2", T_MS / 2);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.1.3", 100 * T_MS);
	dump(f, &rs, NULL);
	assert_int_equal(f->out.n_events, 1);
	assert_string_equal(event_of(f, SHIELD_EVENT_DRIFT_UNEXPLAINED)->ip, "198.18.1.3");
	nft_ruleset_free(&rs);
}

static void test_denied_present(void **state)
{
	static const char *const a[] = {"198.18.1.2"};
	struct fix *f = *state;
	struct shield_error err = {0};
	struct nft_ruleset rs;
	const struct shield_event *ev;

	clean_start(f);
	/* An address in deny.list (inside 10.99.0.0/16) put into an allow set. */
	change(f, true, NFT_SET_ALLOW_V4, "10.99.3.4", 9, "nft");
	ev = event_of(f, SHIELD_EVENT_DRIFT_DENIED_PRESENT);
	assert_string_equal(ev->ip, "10.99.3.4");
	if (!strstr(ev->detail, "deny.list"))
		fail_msg("detail: %s", ev->detail);
	assert_int_equal(n_kind(f, SHIELD_EVENT_DRIFT_UNEXPLAINED), 0);
	change(f, false, NFT_SET_ALLOW_V4, "10.99.3.4", 9, "nft");
	assert_true(shadow_clean(f->s));

	/* An answer for a domain that is denied since. */
	reset(f);
	answer(f, 1, "allowed.shield.test", a, 1);
	assert_int_equal(strlist_remove(&f->domains, "shield.test"), 1);
	assert_int_equal(strlist_add(&f->denied, "shield.test"), 0);
	assert_int_equal(shadow_reconfigure(f->s, &f->cfg, &err), 0);
	advance(f, 10);
	rs_build(f, &rs);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.1.2", T_MS);
	dump(f, &rs, NULL);
	assert_int_equal(f->out.n_events, 1);
	ev = event_of(f, SHIELD_EVENT_DRIFT_DENIED_PRESENT);
	assert_string_equal(ev->domain, "shield.test");
	assert_string_equal(ev->ip, "198.18.1.2");
	nft_ruleset_free(&rs);

	/* Removed from the allowlist without a deny: unexplained, naming the domain. */
	reset(f);
	assert_int_equal(strlist_remove(&f->denied, "shield.test"), 1);
	assert_int_equal(shadow_reconfigure(f->s, &f->cfg, &err), 0);
	rs_build(f, &rs);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.1.2", T_MS);
	dump(f, &rs, NULL);
	ev = event_of(f, SHIELD_EVENT_DRIFT_UNEXPLAINED);
	assert_string_equal(ev->domain, "shield.test");
	assert_int_equal(shadow_open_count(f->s, SHIELD_EVENT_DRIFT_DENIED_PRESENT), 0);
	nft_ruleset_free(&rs);
}

/* An element expired while dnsmasq still serves the answer from its cache. */
static void test_stale_answer(void **state)
{
	static const char *const a[] = {"198.18.1.2"};
	struct fix *f = *state;
	const struct shield_event *ev;
	struct nft_ruleset rs;
	const char *cached =
		"Nov 25 22:51:20 dnsmasq[100]: 3 127.0.0.1/49380 cached allowed.shield.test is "
		"198.18.1.2";

	clean_start(f);
	answer(f, 1, "allowed.shield.test", a, 1);
	rs_build(f, &rs);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.1.2", 2000);
	dump(f, &rs, NULL);
	nft_ruleset_free(&rs);
	/* Still there: a cached answer is fine. */
	feed(f, cached);
	assert_int_equal(f->out.n_events, 0);
	/* The set timer ran out (no notification for that). */
	advance(f, 2500);
	feed(f, cached);
	assert_int_equal(f->out.n_events, 1);
	ev = event_of(f, SHIELD_EVENT_DRIFT_STALE_ANSWER);
	assert_string_equal(ev->domain, "allowed.shield.test");
	assert_string_equal(ev->ip, "198.18.1.2");
	assert_string_equal(ev->set, "allow_v4");
	assert_true(ev->repaired);
	assert_int_equal(f->out.n_repairs, 1);
	assert_int_equal(f->out.repairs[0].timeout_ms, T_MS);
	assert_int_equal(f->out.repairs[0].cause, SHIELD_EVENT_DRIFT_STALE_ANSWER);
	/* Served again before the repair shows: no second event. */
	feed(f, cached);
	assert_int_equal(f->out.n_events, 1);
	assert_int_equal(f->out.n_repairs, 1);
	/* The repair confirmed by a dump; the element is explained, not unexplained. */
	reset(f);
	rs_build(f, &rs);
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.1.2", T_MS);
	dump(f, &rs, NULL);
	assert_int_equal(f->out.n_events, 0);
	assert_true(shadow_clean(f->s));
	nft_ruleset_free(&rs);

	/* A cached answer right after dnsmasq added the address, before its notification
	 * is read: not stale. */
	reset(f);
	feed(f, "Nov 25 22:51:20 dnsmasq[100]: 9 127.0.0.1/1 nftset add 4 inet terok_shield "
		"allow_v4 198.18.1.8 shield.test");
	feed(f, "Nov 25 22:51:20 dnsmasq[100]: 9 127.0.0.1/1 reply allowed.shield.test is "
		"198.18.1.8");
	feed(f, "Nov 25 22:51:20 dnsmasq[100]: 10 127.0.0.1/1 cached allowed.shield.test is "
		"198.18.1.8");
	assert_int_equal(n_kind(f, SHIELD_EVENT_DRIFT_STALE_ANSWER), 0);
	assert_int_equal(n_kind(f, SHIELD_EVENT_ROTATION), 1); /* .2 before, .8 now */
	assert_int_equal(f->out.n_repairs, 0);

	/* A cached answer pointing into deny.list is never re-added. */
	reset(f);
	feed(f, "Nov 25 22:51:20 dnsmasq[100]: 4 127.0.0.1/1 cached x.shield.test is 198.18.1.4");
	assert_int_equal(f->out.n_events, 0);
	/* Nor one for a name no allowlist covers. */
	feed(f, "Nov 25 22:51:20 dnsmasq[100]: 4 127.0.0.1/1 cached x.example is 198.18.1.77");
	assert_int_equal(f->out.n_events, 0);
}

static void test_ruleset_tampered(void **state)
{
	struct fix *f = *state;
	struct shadow_writer w = {.pid = 55, .comm = "nft"};
	const struct shield_event *ev;
	struct nft_ruleset rs;

	clean_start(f);
	rs_build(f, &rs);
	rs.chains[NFT_CHAIN_OUTPUT].policy = 1; /* NF_ACCEPT */
	dump(f, &rs, &w);
	assert_int_equal(f->out.n_events, 1);
	ev = event_of(f, SHIELD_EVENT_RULESET_TAMPERED);
	assert_int_equal(ev->pid, 55);
	assert_string_equal(ev->comm, "nft");
	assert_non_null(strstr(ev->detail, "policy"));
	assert_non_null(strstr(ev->detail, "mode up expected"));
	/* The same tampering at the next dump: nothing new. */
	reset(f);
	dump(f, &rs, NULL);
	assert_int_equal(f->out.n_events, 0);
	nft_ruleset_free(&rs);

	/* The table deleted: another tampering, and no set noise. */
	memset(&rs, 0, sizeof(rs));
	dump(f, &rs, &w);
	assert_int_equal(f->out.n_events, 1);
	assert_non_null(strstr(event_of(f, SHIELD_EVENT_RULESET_TAMPERED)->detail, "missing"));
	assert_int_equal(shadow_open_count(f->s, SHIELD_EVENT_RULESET_TAMPERED), 1);
	assert_int_equal(f->out.n_repairs, 0);
	/* Cached answers are not judged against a table that is gone. */
	feed(f, "Nov 25 22:51:20 dnsmasq[100]: 4 127.0.0.1/1 cached a.shield.test is 198.18.1.2");
	assert_int_equal(f->out.n_events, 1);

	/* Restored: clean again. */
	reset(f);
	rs_build(f, &rs);
	dump(f, &rs, NULL);
	assert_int_equal(f->out.n_events, 0);
	assert_true(shadow_clean(f->s));
	assert_int_equal(shadow_count(f->s, SHIELD_EVENT_RULESET_TAMPERED), 2);
	nft_ruleset_free(&rs);
}

static void test_dnsmasq_down(void **state)
{
	struct fix *f = *state;

	assert_int_equal(
		shadow_dnsmasq_state(f->s, false, 0, "killed by signal 9", &f->now, &f->out), 0);
	assert_int_equal(shadow_dnsmasq_state(f->s, false, 0, NULL, &f->now, &f->out), 0);
	assert_int_equal(n_kind(f, SHIELD_EVENT_DNSMASQ_DOWN), 1);
	assert_int_equal(event_of(f, SHIELD_EVENT_DNSMASQ_DOWN)->pid, 100);
	assert_string_equal(event_of(f, SHIELD_EVENT_DNSMASQ_DOWN)->detail, "killed by signal 9");
	assert_false(shadow_clean(f->s));
	assert_int_equal(shadow_dnsmasq_state(f->s, true, 200, NULL, &f->now, &f->out), 0);
	assert_true(shadow_clean(f->s));
	/* The new pid is an explained writer. */
	reset(f);
	clean_start(f);
	change(f, true, NFT_SET_ALLOW_V4, "198.18.1.2", 200, "x");
	assert_int_equal(f->out.n_events, 0);
}

static void test_info_and_ids(void **state)
{
	struct fix *f = *state;

	assert_int_equal(
		shadow_info(f->s, SHIELD_EVENT_WATCH_ATTACHED, "attached", &f->now, &f->out), 0);
	assert_int_equal(shadow_info(f->s, SHIELD_EVENT_NETLINK_RESYNC, NULL, &f->now, &f->out), 0);
	assert_int_equal(f->out.n_events, 2);
	assert_int_equal(f->out.events[0].id, 1);
	assert_int_equal(f->out.events[1].id, 2);
	assert_int_equal(f->seq, 2); /* the shared sequence */
	assert_string_equal(f->out.events[0].detail, "attached");
	assert_true(shadow_clean(f->s));
	assert_int_equal(shadow_info(f->s, SHIELD_EVENT_KIND_COUNT, NULL, &f->now, &f->out),
			 -EINVAL);
}

/* Expired dynamic entries are forgotten by the tick and leave the report. */
static void test_expiry_and_report(void **state)
{
	static const char *const a[] = {"198.18.1.3", "198.18.1.2"};
	static const char *const b[] = {"2001:db8:1::2"};
	struct fix *f = *state;
	struct shadow_report_info info = {.id = "abc",
					  .name = "web",
					  .state_dir = "/b",
					  .netns = "/proc/1/ns/net",
					  .source = "podman",
					  .dnsmasq_alive = true};
	json_t *rep, *dom, *addrs, *checks, *c;
	char *text;
	size_t i;

	clean_start(f);
	answer(f, 1, "allowed.shield.test", a, 2);
	answer(f, 2, "allowed.shield.test", b, 1);
	advance(f, 1000);
	change(f, true, NFT_SET_ALLOW_V4, "198.18.9.9", 4242, "nft");
	rep = shadow_report(f->s, &info, &f->now);
	assert_non_null(rep);
	text = json_dumps(rep, JSON_COMPACT);
	assert_non_null(strstr(text, "{\"id\":\"abc\",\"name\":\"web\",\"state_dir\":\"/b\","
				     "\"netns\":\"/proc/1/ns/net\",\"source\":\"podman\","
				     "\"mode\":\"up\",\"dns_policy\":\"strict\",\"dnsmasq\":"
				     "{\"pid\":100,\"alive\":true},\"domains\":["));
	free(text);
	dom = json_object_get(rep, "domains");
	assert_int_equal(json_array_size(dom), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(dom, 0), "domain")),
			    "shield.test");
	addrs = json_object_get(json_array_get(dom, 0), "addresses");
	assert_int_equal(json_array_size(addrs), 3);
	/* sorted: allow_v4 by address, then allow_v6 */
	assert_string_equal(json_string_value(json_object_get(json_array_get(addrs, 0), "ip")),
			    "198.18.1.2");
	assert_string_equal(json_string_value(json_object_get(json_array_get(addrs, 2), "set")),
			    "allow_v6");
	assert_int_equal(
		json_integer_value(json_object_get(json_array_get(addrs, 0), "expires_in_ms")),
		T_MS - 1000);
	assert_true(json_is_string(json_object_get(json_array_get(dom, 0), "last_answer")));
	assert_true(json_is_null(json_object_get(json_array_get(dom, 0), "last_rotation")));
	/* A domain never asked for. */
	assert_string_equal(json_string_value(json_object_get(json_array_get(dom, 1), "domain")),
			    "other.test");
	assert_int_equal(json_array_size(json_object_get(json_array_get(dom, 1), "addresses")), 0);
	assert_true(json_is_null(json_object_get(json_array_get(dom, 1), "last_answer")));
	/* Every check, in order, with state, count and the open events. */
	checks = json_object_get(rep, "checks");
	assert_int_equal(json_array_size(checks), 7);
	json_array_foreach(checks, i, c)
	{
		const char *kind = json_string_value(json_object_get(c, "kind"));
		bool open = strcmp(kind, "drift.unexplained") == 0;

		assert_string_equal(kind,
				    shield_event_kind_name(SHIELD_EVENT_DRIFT_UNEXPLAINED + i));
		assert_string_equal(json_string_value(json_object_get(c, "state")),
				    open ? "open" : "ok");
		assert_int_equal(json_integer_value(json_object_get(c, "count")), open ? 1 : 0);
		assert_int_equal(json_array_size(json_object_get(c, "open")), open ? 1 : 0);
		if (open) {
			json_t *ev = json_array_get(json_object_get(c, "open"), 0);
			struct shield_event back;
			struct shield_error err = {0};

			/* The open events decode as events. */
			assert_int_equal(shield_event_from_json(ev, &back, &err), 0);
			assert_string_equal(back.ip, "198.18.9.9");
			assert_string_equal(back.comm, "nft");
			assert_string_equal(back.container, "web");
		}
	}
	assert_true(json_is_false(json_object_get(rep, "clean")));
	json_decref(rep);

	/* The v6 answer's timer runs out; the tick forgets expired entries. */
	advance(f, T_MS + SHADOW_EXPIRY_SLACK_MS);
	assert_int_equal(shadow_tick(f->s, &f->now, &f->out), 0);
	rep = shadow_report(f->s, NULL, &f->now);
	dom = json_object_get(rep, "domains");
	assert_int_equal(json_array_size(json_object_get(json_array_get(dom, 0), "addresses")), 0);
	assert_string_equal(json_string_value(json_object_get(rep, "id")), "");
	json_decref(rep);
}

/* 10,000 answers and a dump of 10,000 elements: all explained, nothing reported. */
static void test_scale(void **state)
{
	struct fix *f = *state;
	struct nft_ruleset rs;
	char line[256];
	json_t *rep;

	rs_build(f, &rs);
	for (unsigned i = 0; i < 10000; i++) {
		char addr[32];

		snprintf(addr, sizeof(addr), "198.19.%u.%u", i / 250, i % 250 + 1);
		snprintf(line, sizeof(line),
			 "Nov 25 22:51:20 dnsmasq[100]: %u 127.0.0.1/1 nftset add 4 inet "
			 "terok_shield allow_v4 %s shield.test",
			 i + 1, addr);
		feed(f, line);
		snprintf(line, sizeof(line),
			 "Nov 25 22:51:20 dnsmasq[100]: %u 127.0.0.1/1 reply h%u.shield.test is %s",
			 i + 1, i, addr);
		feed(f, line);
		rs_add(&rs, NFT_SET_ALLOW_V4, addr, T_MS);
	}
	/* One stranger among them. */
	rs_add(&rs, NFT_SET_ALLOW_V4, "198.18.200.200", 0);
	advance(f, 10);
	dump(f, &rs, NULL);
	dump(f, &rs, NULL);
	assert_int_equal(f->out.n_events, 1);
	assert_string_equal(event_of(f, SHIELD_EVENT_DRIFT_UNEXPLAINED)->ip, "198.18.200.200");
	rep = shadow_report(f->s, NULL, &f->now);
	assert_int_equal(json_array_size(json_object_get(
				 json_array_get(json_object_get(rep, "domains"), 0), "addresses")),
			 10000);
	json_decref(rep);
	nft_ruleset_free(&rs);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_from_bundle),
		T(test_config_errors),
		T(test_clean),
		T(test_rotation),
		T(test_rotation_cname),
		T(test_rotation_only_allowed),
		T(test_blocked_query),
		T(test_blocked_repeat),
		T(test_blocked_open_policy),
		T(test_unexplained_notification),
		T(test_unexplained_dump),
		T(test_explained_writers),
		T(test_log_lag),
		T(test_log_lag_keeps_open),
		T(test_adoption),
		T(test_missing_static),
		T(test_no_repair),
		T(test_missing_deny),
		T(test_missing_dynamic),
		T(test_dump_race),
		T(test_readd_keeps_expiry),
		T(test_outlived),
		T(test_adoption_limits),
		T(test_denied_present),
		T(test_stale_answer),
		T(test_ruleset_tampered),
		T(test_dnsmasq_down),
		T(test_info_and_ids),
		T(test_expiry_and_report),
		T(test_scale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
