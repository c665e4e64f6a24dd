/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ruleset model: building a mode's ruleset, rendering it as nft syntax,
 * and comparing a decoded kernel dump with it. No I/O here.
 */
#include <netinet/in.h> /* before any linux/ header: glibc guards the uapi duplicates */
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "shield/grow.h"
#include "shield/nft-ruleset.h"

static const char *const set_names[NFT_SET_COUNT] = {
	[NFT_SET_ALLOW_V4] = "allow_v4",
	[NFT_SET_ALLOW_V6] = "allow_v6",
	[NFT_SET_DENY_V4] = "deny_v4",
	[NFT_SET_DENY_V6] = "deny_v6",
};

static const char *const chain_names[NFT_CHAIN_COUNT] = {
	[NFT_CHAIN_OUTPUT] = "output",
	[NFT_CHAIN_INPUT] = "input",
};

/* Private ranges, rejected unless allowlisted (DESIGN.md "On-host contract"). */
static const char *const private_ranges[] = {
	"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "fc00::/7", "fe80::/10",
};

#define CT_ESTABLISHED_RELATED (NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED))
#define CT_NEW		       NF_CT_STATE_BIT(IP_CT_NEW)

const char *nft_set_name(enum nft_set_id id)
{
	return (unsigned)id < NFT_SET_COUNT ? set_names[id] : "?";
}

int nft_set_family(enum nft_set_id id)
{
	return id == NFT_SET_ALLOW_V4 || id == NFT_SET_DENY_V4 ? AF_INET : AF_INET6;
}

int nft_set_lookup(const char *name)
{
	for (int i = 0; i < NFT_SET_COUNT; i++)
		if (strcmp(set_names[i], name) == 0)
			return i;
	return -ENOENT;
}

const char *nft_chain_name(enum nft_chain_id id)
{
	return (unsigned)id < NFT_CHAIN_COUNT ? chain_names[id] : "?";
}

int nft_chain_lookup(const char *name)
{
	for (int i = 0; name && i < NFT_CHAIN_COUNT; i++)
		if (strcmp(chain_names[i], name) == 0)
			return i;
	return -ENOENT;
}

void nft_ruleset_free(struct nft_ruleset *rs)
{
	if (!rs)
		return;
	for (int i = 0; i < NFT_SET_COUNT; i++)
		free(rs->sets[i].elems);
	for (int i = 0; i < NFT_CHAIN_COUNT; i++)
		free(rs->chains[i].rules);
	memset(rs, 0, sizeof(*rs));
}

int nft_chain_add_rule(struct nft_chain *c, const struct nft_rule *r)
{
	if (c->n_rules == c->cap_rules) {
		struct nft_rule *rules =
			shield_grow(c->rules, &c->cap_rules, c->n_rules + 1, sizeof(*rules), 16);

		if (!rules)
			return -ENOMEM;
		c->rules = rules;
	}
	c->rules[c->n_rules++] = *r;
	return 0;
}

int nft_set_add_elem(struct nft_set *s, const struct nft_elem *e)
{
	if (s->n_elems == s->cap_elems) {
		struct nft_elem *elems =
			shield_grow(s->elems, &s->cap_elems, s->n_elems + 1, sizeof(*elems), 16);

		if (!elems)
			return -ENOMEM;
		s->elems = elems;
	}
	s->elems[s->n_elems++] = *e;
	return 0;
}

void nft_elem_from_prefix(const struct addr_prefix *p, struct nft_elem *out)
{
	memset(out, 0, sizeof(*out));
	out->family = p->family;
	addr_range(p, out->first, out->last);
}

static size_t family_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

static int elem_cmp(const void *a, const void *b)
{
	const struct nft_elem *x = a, *y = b;

	return memcmp(x->first, y->first, family_len(x->family));
}

/* Whether range b lies inside range a (same family). */
static bool elem_covers(const struct nft_elem *a, const struct nft_elem *b)
{
	size_t len = family_len(a->family);

	return memcmp(a->first, b->first, len) <= 0 && memcmp(a->last, b->last, len) >= 0;
}

/*
 * Fill a set from prefixes of its family: sorted by address, and a prefix
 * that lies inside another one dropped (an interval set refuses overlaps;
 * prefixes either nest or are disjoint, so this leaves no overlap).
 */
static int set_fill(struct nft_set *s, int family, const struct addr_prefix *p, size_t n,
		    bool static_timeout)
{
	size_t kept = 0;

	for (size_t i = 0; i < n; i++) {
		struct nft_elem e;
		int r;

		if (p[i].family != family)
			continue;
		nft_elem_from_prefix(&p[i], &e);
		e.has_timeout = static_timeout;
		e.timeout_ms = 0;
		r = nft_set_add_elem(s, &e);
		if (r < 0)
			return r;
	}
	if (s->n_elems > 1)
		qsort(s->elems, s->n_elems, sizeof(*s->elems), elem_cmp);
	for (size_t i = 0; i < s->n_elems; i++) {
		if (kept > 0 && elem_covers(&s->elems[kept - 1], &s->elems[i]))
			continue;
		/* A later, larger prefix starting at the same address covers the kept one. */
		if (kept > 0 && elem_covers(&s->elems[i], &s->elems[kept - 1])) {
			s->elems[kept - 1] = s->elems[i];
			continue;
		}
		s->elems[kept++] = s->elems[i];
	}
	s->n_elems = kept;
	return 0;
}

static struct nft_rule rule_new(void)
{
	struct nft_rule r;

	memset(&r, 0, sizeof(r));
	return r;
}

static void rule_match(struct nft_rule *r, struct nft_match m)
{
	if (r->n_match < NFT_RULE_MATCHES_MAX)
		r->match[r->n_match++] = m;
}

static struct nft_match match_kind(enum nft_match_kind kind)
{
	struct nft_match m;

	memset(&m, 0, sizeof(m));
	m.kind = kind;
	return m;
}

static struct nft_match match_ct(uint32_t mask)
{
	struct nft_match m = match_kind(NFT_MATCH_CT_STATE);

	m.ct_mask = mask;
	return m;
}

static struct nft_match match_icmpv6(uint8_t type)
{
	struct nft_match m = match_kind(NFT_MATCH_ICMPV6_TYPE);

	m.icmp_type = type;
	return m;
}

static struct nft_match match_daddr(const struct addr_prefix *p)
{
	struct nft_match m = match_kind(NFT_MATCH_DADDR);

	m.prefix = *p;
	return m;
}

static struct nft_match match_set(enum nft_set_id id)
{
	struct nft_match m = match_kind(NFT_MATCH_DADDR_SET);

	m.set = id;
	return m;
}

static struct nft_match match_dport(uint8_t proto, uint16_t port)
{
	struct nft_match m = match_kind(NFT_MATCH_DPORT);

	m.l4proto = proto;
	m.port = port;
	return m;
}

/* Append one rule built from up to three matches, a log prefix and a verdict. */
static int add_rule(struct nft_chain *c, const struct nft_match *m, size_t n, const char *log,
		    enum nft_verdict v)
{
	struct nft_rule r = rule_new();

	for (size_t i = 0; i < n; i++)
		rule_match(&r, m[i]);
	r.log_prefix = log;
	r.verdict = v;
	return nft_chain_add_rule(c, &r);
}

#define ADD_RULE(chain, log, verdict, ...)                                                         \
	do {                                                                                       \
		const struct nft_match _m[] = {__VA_ARGS__};                                       \
		int _r = add_rule((chain), _m, ARRAY_SIZE(_m), (log), (verdict));                  \
		if (_r < 0)                                                                        \
			return _r;                                                                 \
	} while (0)

/*
 * A reject as two rules with the same match: TCP first, answered with a
 * reset, then everything else with icmpx admin-prohibited. A blocking
 * connect() from the same host only learns of a locally generated ICMP
 * error at its first SYN retransmission (~1 s later, the kernel keeps it as
 * a soft error while connect() holds the socket), but fails on a reset at
 * once.
 */
static int add_reject(struct nft_chain *c, const struct nft_match *m, size_t n, const char *log)
{
	struct nft_match tcp[NFT_RULE_MATCHES_MAX];
	int r;

	if (n >= NFT_RULE_MATCHES_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		tcp[i] = m[i];
	tcp[n] = match_kind(NFT_MATCH_L4PROTO_TCP);
	r = add_rule(c, tcp, n + 1, log, NFT_VERDICT_REJECT_TCP_RESET);
	if (r < 0)
		return r;
	return add_rule(c, m, n, log, NFT_VERDICT_REJECT);
}

#define ADD_REJECT(chain, log, ...)                                                                \
	do {                                                                                       \
		const struct nft_match _m[] = {__VA_ARGS__};                                       \
		int _r = add_reject((chain), _m, ARRAY_SIZE(_m), (log));                           \
		if (_r < 0)                                                                        \
			return _r;                                                                 \
	} while (0)

#define ADD_REJECT0(chain, log)                                                                    \
	do {                                                                                       \
		int _r = add_reject((chain), NULL, 0, (log));                                      \
		if (_r < 0)                                                                        \
			return _r;                                                                 \
	} while (0)

/* Neighbour discovery both ways: without it no IPv6 packet leaves at all. */
static int add_nd_rules(struct nft_chain *c, bool output)
{
	if (output) {
		ADD_RULE(c, NULL, NFT_VERDICT_ACCEPT, match_icmpv6(ND_ROUTER_SOLICIT));
	} else {
		ADD_RULE(c, NULL, NFT_VERDICT_ACCEPT, match_icmpv6(ND_ROUTER_ADVERT));
	}
	ADD_RULE(c, NULL, NFT_VERDICT_ACCEPT, match_icmpv6(ND_NEIGHBOR_SOLICIT));
	ADD_RULE(c, NULL, NFT_VERDICT_ACCEPT, match_icmpv6(ND_NEIGHBOR_ADVERT));
	return 0;
}

static int build_input(struct nft_chain *c)
{
	c->present = true;
	c->base = true;
	c->hooknum = NF_INET_LOCAL_IN;
	c->priority = 0;
	c->policy = NF_DROP;
	ADD_RULE(c, NULL, NFT_VERDICT_ACCEPT, match_kind(NFT_MATCH_IIFNAME_LO));
	ADD_RULE(c, NULL, NFT_VERDICT_ACCEPT, match_ct(CT_ESTABLISHED_RELATED));
	return add_nd_rules(c, false);
}

static int build_output(const struct nft_ruleset_params *p, struct nft_chain *c)
{
	bool sets = p->mode != SHIELD_MODE_BLOCK;
	int r;

	c->present = true;
	c->base = true;
	c->hooknum = NF_INET_LOCAL_OUT;
	c->priority = 0;
	c->policy = p->mode == SHIELD_MODE_UP || p->mode == SHIELD_MODE_BLOCK ? NF_DROP : NF_ACCEPT;

	ADD_RULE(c, NULL, NFT_VERDICT_ACCEPT, match_kind(NFT_MATCH_OIFNAME_LO));
	ADD_RULE(c, NULL, NFT_VERDICT_ACCEPT, match_ct(CT_ESTABLISHED_RELATED));
	r = add_nd_rules(c, true);
	if (r < 0)
		return r;
	if (!sets) {
		ADD_REJECT0(c, NFT_PREFIX_BLOCKED);
		return 0;
	}

	ADD_RULE(c, NULL, NFT_VERDICT_ACCEPT, match_daddr(&p->upstream),
		 match_dport(IPPROTO_UDP, 53));
	ADD_RULE(c, NULL, NFT_VERDICT_ACCEPT, match_daddr(&p->upstream),
		 match_dport(IPPROTO_TCP, 53));
	for (size_t i = 0; i < p->loopback_ports.n; i++) {
		uint16_t port = p->loopback_ports.ports[i];

		if (p->gateway_v4.family)
			ADD_RULE(c, NULL, NFT_VERDICT_ACCEPT, match_daddr(&p->gateway_v4),
				 match_dport(IPPROTO_TCP, port));
		if (p->gateway_v6.family)
			ADD_RULE(c, NULL, NFT_VERDICT_ACCEPT, match_daddr(&p->gateway_v6),
				 match_dport(IPPROTO_TCP, port));
	}

	/* Deny before allow, so a deny always wins (the original's defect 3). */
	ADD_REJECT(c, NFT_PREFIX_DENIED, match_set(NFT_SET_DENY_V4));
	ADD_REJECT(c, NFT_PREFIX_DENIED, match_set(NFT_SET_DENY_V6));
	ADD_RULE(c, NFT_PREFIX_ALLOWED, NFT_VERDICT_ACCEPT, match_set(NFT_SET_ALLOW_V4));
	ADD_RULE(c, NFT_PREFIX_ALLOWED, NFT_VERDICT_ACCEPT, match_set(NFT_SET_ALLOW_V6));

	if (p->mode != SHIELD_MODE_DOWN_ALL) {
		for (size_t i = 0; i < ARRAY_SIZE(private_ranges); i++) {
			struct addr_prefix range;

			r = addr_parse(private_ranges[i], strlen(private_ranges[i]), &range, NULL);
			if (r < 0)
				return r;
			ADD_REJECT(c, NFT_PREFIX_PRIVATE, match_daddr(&range));
		}
	}
	if (p->mode == SHIELD_MODE_UP)
		ADD_REJECT0(c, NFT_PREFIX_BLOCKED);
	else
		ADD_RULE(c, NFT_PREFIX_BYPASS, NFT_VERDICT_CONTINUE, match_ct(CT_NEW));
	return 0;
}

int nft_ruleset_build(const struct nft_ruleset_params *p, struct nft_ruleset *out,
		      struct shield_error *err)
{
	int r;

	memset(out, 0, sizeof(*out));
	switch (p->mode) {
	case SHIELD_MODE_UP:
	case SHIELD_MODE_DOWN:
	case SHIELD_MODE_DOWN_ALL:
	case SHIELD_MODE_BLOCK:
		break;
	default:
		return shield_error_set(err, -EINVAL, "cannot build a ruleset for mode \"%s\"",
					shield_mode_name(p->mode));
	}
	if (p->mode != SHIELD_MODE_BLOCK && p->upstream.family != AF_INET &&
	    p->upstream.family != AF_INET6)
		return shield_error_set(err, -EINVAL, "no upstream DNS address for the ruleset");
	if (p->loopback_ports.n && !p->gateway_v4.family && !p->gateway_v6.family)
		return shield_error_set(
			err, -EINVAL, "loopback ports given but no gateway address to reach them");

	out->table_present = true;
	if (p->mode != SHIELD_MODE_BLOCK) {
		for (int i = 0; i < NFT_SET_COUNT; i++) {
			struct nft_set *s = &out->sets[i];
			bool allow = i == NFT_SET_ALLOW_V4 || i == NFT_SET_ALLOW_V6;

			s->present = true;
			s->flags = NFT_SET_INTERVAL | (allow ? NFT_SET_TIMEOUT : 0);
			s->timeout_ms = allow ? (uint64_t)p->set_timeout * 1000 : 0;
			r = allow ? set_fill(s, nft_set_family(i), p->allow, p->n_allow, true)
				  : set_fill(s, nft_set_family(i), p->deny, p->n_deny, false);
			if (r < 0)
				goto fail;
		}
	}
	r = build_output(p, &out->chains[NFT_CHAIN_OUTPUT]);
	if (r < 0)
		goto fail;
	r = build_input(&out->chains[NFT_CHAIN_INPUT]);
	if (r < 0)
		goto fail;
	return 0;
fail:
	nft_ruleset_free(out);
	return shield_error_set(err, r, "building the ruleset: %s", strerror(-r));
}

/* ---- rendering ------------------------------------------------------- */

/* A growing output string; a failed append leaves it marked failed. */
struct sbuf {
	char *s;
	size_t len, cap;
	bool failed;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) _printf_(2, 3);

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if (b->s && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		char *s = shield_grow(b->s, &b->cap, b->len + (size_t)n + 1, 1, 1024);

		if (!s) {
			b->failed = true;
			return;
		}
		b->s = s;
	}
}

static const char *icmpv6_type_name(uint8_t t)
{
	switch (t) {
	case ND_ROUTER_SOLICIT:
		return "nd-router-solicit";
	case ND_ROUTER_ADVERT:
		return "nd-router-advert";
	case ND_NEIGHBOR_SOLICIT:
		return "nd-neighbor-solicit";
	case ND_NEIGHBOR_ADVERT:
		return "nd-neighbor-advert";
	default:
		return NULL;
	}
}

/* ct state names in the order nft prints them (bit order). */
static void render_ct_state(struct sbuf *b, uint32_t mask)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{NF_CT_STATE_INVALID_BIT, "invalid"},
		{NF_CT_STATE_BIT(IP_CT_ESTABLISHED), "established"},
		{NF_CT_STATE_BIT(IP_CT_RELATED), "related"},
		{NF_CT_STATE_BIT(IP_CT_NEW), "new"},
		{NF_CT_STATE_UNTRACKED_BIT, "untracked"},
	};
	bool first = true;

	sb_printf(b, "ct state ");
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!(mask & names[i].bit))
			continue;
		sb_printf(b, "%s%s", first ? "" : ",", names[i].name);
		first = false;
	}
	if (first)
		sb_printf(b, "0x%x", mask);
}

static void render_match(struct sbuf *b, const struct nft_match *m)
{
	char text[ADDR_TEXT_MAX];
	const char *name;

	switch (m->kind) {
	case NFT_MATCH_OIFNAME_LO:
		sb_printf(b, "oifname \"lo\"");
		break;
	case NFT_MATCH_IIFNAME_LO:
		sb_printf(b, "iifname \"lo\"");
		break;
	case NFT_MATCH_CT_STATE:
		render_ct_state(b, m->ct_mask);
		break;
	case NFT_MATCH_ICMPV6_TYPE:
		name = icmpv6_type_name(m->icmp_type);
		if (name)
			sb_printf(b, "icmpv6 type %s", name);
		else
			sb_printf(b, "icmpv6 type %u", m->icmp_type);
		break;
	case NFT_MATCH_DADDR:
		addr_format(&m->prefix, text);
		sb_printf(b, "%s daddr %s", m->prefix.family == AF_INET ? "ip" : "ip6", text);
		break;
	case NFT_MATCH_DADDR_SET:
		sb_printf(b, "%s daddr @%s", nft_set_family(m->set) == AF_INET ? "ip" : "ip6",
			  nft_set_name(m->set));
		break;
	case NFT_MATCH_DPORT:
		sb_printf(b, "%s dport %u", m->l4proto == IPPROTO_TCP ? "tcp" : "udp", m->port);
		break;
	case NFT_MATCH_L4PROTO_TCP:
		sb_printf(b, "meta l4proto tcp");
		break;
	}
}

static void render_rule(struct sbuf *b, const struct nft_rule *r)
{
	bool space = false;

	if (r->unknown) {
		sb_printf(b, "%s", r->unknown_text);
		return;
	}
	for (size_t i = 0; i < r->n_match; i++) {
		if (space)
			sb_printf(b, " ");
		render_match(b, &r->match[i]);
		space = true;
	}
	if (r->log_prefix) {
		sb_printf(b, "%slog prefix \"%s\" group %d", space ? " " : "", r->log_prefix,
			  NFT_NFLOG_GROUP);
		space = true;
	}
	switch (r->verdict) {
	case NFT_VERDICT_CONTINUE:
		break;
	case NFT_VERDICT_ACCEPT:
		sb_printf(b, "%saccept", space ? " " : "");
		break;
	case NFT_VERDICT_DROP:
		sb_printf(b, "%sdrop", space ? " " : "");
		break;
	case NFT_VERDICT_REJECT:
		sb_printf(b, "%sreject with icmpx admin-prohibited", space ? " " : "");
		break;
	case NFT_VERDICT_REJECT_TCP_RESET:
		sb_printf(b, "%sreject with tcp reset", space ? " " : "");
		break;
	}
}

void nft_rule_render(const struct nft_rule *r, char *out, size_t size)
{
	struct sbuf b = {0};

	render_rule(&b, r);
	snprintf(out, size, "%s", b.failed || !b.s ? "?" : b.s);
	free(b.s);
}

/* A time the way nft prints it: "2d3h", "29m59s996ms". */
static void render_ms(struct sbuf *b, uint64_t ms)
{
	static const struct {
		uint64_t unit;
		const char *suffix;
	} units[] = {
		{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (ms / units[i].unit == 0)
			continue;
		sb_printf(b, "%llu%s", (unsigned long long)(ms / units[i].unit), units[i].suffix);
		ms %= units[i].unit;
	}
}

/* One element as nft prints it: a prefix when the range is one, else "a-b". */
static void render_elem(struct sbuf *b, const struct nft_elem *e)
{
	size_t len = family_len(e->family);
	char text[ADDR_TEXT_MAX], text2[ADDR_TEXT_MAX];
	struct addr_prefix p = {.family = e->family};
	unsigned plen;

	/* Find the prefix length whose range is exactly [first, last]. */
	for (plen = 0; plen <= len * 8; plen++) {
		uint8_t first[16], last[16];

		memcpy(p.addr, e->first, len);
		p.plen = (uint8_t)plen;
		addr_range(&p, first, last);
		if (memcmp(first, e->first, len) == 0 && memcmp(last, e->last, len) == 0)
			break;
	}
	if (plen <= len * 8) {
		addr_format(&p, text);
		sb_printf(b, "%s", text);
	} else {
		struct addr_prefix q = {.family = e->family, .plen = (uint8_t)(len * 8)};

		memcpy(p.addr, e->first, len);
		p.plen = (uint8_t)(len * 8);
		memcpy(q.addr, e->last, len);
		addr_format(&p, text);
		addr_format(&q, text2);
		sb_printf(b, "%s-%s", text, text2);
	}
	if (e->has_timeout && e->timeout_ms) {
		sb_printf(b, " timeout ");
		render_ms(b, e->timeout_ms);
	}
	if (e->expires_ms) {
		sb_printf(b, " expires ");
		render_ms(b, e->expires_ms);
	}
}

static void render_set(struct sbuf *b, enum nft_set_id id, const struct nft_set *s)
{
	char dur[32];

	sb_printf(b, "\tset %s {\n", nft_set_name(id));
	sb_printf(b, "\t\ttype %s\n", nft_set_family(id) == AF_INET ? "ipv4_addr" : "ipv6_addr");
	if (s->flags & (NFT_SET_INTERVAL | NFT_SET_TIMEOUT)) {
		bool interval = s->flags & NFT_SET_INTERVAL;

		sb_printf(b, "\t\tflags %s%s%s\n", interval ? "interval" : "",
			  interval && (s->flags & NFT_SET_TIMEOUT) ? "," : "",
			  s->flags & NFT_SET_TIMEOUT ? "timeout" : "");
	}
	if (s->timeout_ms) {
		duration_format((uint32_t)(s->timeout_ms / 1000), dur, sizeof(dur));
		sb_printf(b, "\t\ttimeout %s\n", dur);
	}
	if (s->n_elems) {
		/*
		 * nft 1.0.6 puts two IPv4 addresses on a line and one IPv6
		 * address per line; match it so preview and listing agree.
		 */
		int per_line = nft_set_family(id) == AF_INET ? 2 : 1;
		int count = 0;

		sb_printf(b, "\t\telements = { ");
		for (size_t i = 0; i < s->n_elems; i++) {
			render_elem(b, &s->elems[i]);
			if (i + 1 == s->n_elems)
				break;
			if (++count < per_line) {
				sb_printf(b, ", ");
			} else {
				count = 0;
				sb_printf(b, ",\n\t\t\t     ");
			}
		}
		sb_printf(b, " }\n");
	}
	sb_printf(b, "\t}\n");
}

static void render_chain(struct sbuf *b, enum nft_chain_id id, const struct nft_chain *c)
{
	sb_printf(b, "\tchain %s {\n", nft_chain_name(id));
	if (c->base) {
		const char *hook = c->hooknum == NF_INET_LOCAL_OUT  ? "output"
				   : c->hooknum == NF_INET_LOCAL_IN ? "input"
								    : "?";

		sb_printf(b, "\t\ttype filter hook %s priority ", hook);
		if (c->priority == 0)
			sb_printf(b, "filter");
		else
			sb_printf(b, "filter %+d", c->priority);
		sb_printf(b, "; policy %s;\n", c->policy == NF_ACCEPT ? "accept" : "drop");
	}
	for (size_t i = 0; i < c->n_rules; i++) {
		sb_printf(b, "\t\t");
		render_rule(b, &c->rules[i]);
		sb_printf(b, "\n");
	}
	sb_printf(b, "\t}\n");
}

char *nft_ruleset_render(const struct nft_ruleset *rs)
{
	struct sbuf b = {0};
	bool first = true;

	if (!rs->table_present)
		return strdup("");
	sb_printf(&b, "table %s %s {\n", NFT_TABLE_FAMILY_NAME, NFT_TABLE_NAME);
	for (int i = 0; i < NFT_SET_COUNT; i++) {
		if (!rs->sets[i].present)
			continue;
		sb_printf(&b, "%s", first ? "" : "\n");
		render_set(&b, i, &rs->sets[i]);
		first = false;
	}
	for (int i = 0; i < NFT_CHAIN_COUNT; i++) {
		if (!rs->chains[i].present)
			continue;
		sb_printf(&b, "%s", first ? "" : "\n");
		render_chain(&b, i, &rs->chains[i]);
		first = false;
	}
	sb_printf(&b, "}\n");
	if (b.failed) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* ---- comparison ------------------------------------------------------ */

static bool match_equal(const struct nft_match *a, const struct nft_match *b)
{
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case NFT_MATCH_OIFNAME_LO:
	case NFT_MATCH_IIFNAME_LO:
	case NFT_MATCH_L4PROTO_TCP:
		return true;
	case NFT_MATCH_CT_STATE:
		return a->ct_mask == b->ct_mask;
	case NFT_MATCH_ICMPV6_TYPE:
		return a->icmp_type == b->icmp_type;
	case NFT_MATCH_DADDR:
		return addr_equal(&a->prefix, &b->prefix);
	case NFT_MATCH_DADDR_SET:
		return a->set == b->set;
	case NFT_MATCH_DPORT:
		return a->l4proto == b->l4proto && a->port == b->port;
	}
	return false;
}

bool nft_rule_equal(const struct nft_rule *a, const struct nft_rule *b)
{
	if (a->unknown || b->unknown)
		return false;
	if (a->n_match != b->n_match || a->verdict != b->verdict)
		return false;
	if (!a->log_prefix != !b->log_prefix)
		return false;
	if (a->log_prefix && strcmp(a->log_prefix, b->log_prefix) != 0)
		return false;
	for (size_t i = 0; i < a->n_match; i++)
		if (!match_equal(&a->match[i], &b->match[i]))
			return false;
	return true;
}

static bool elem_same_range(const struct nft_elem *a, const struct nft_elem *b)
{
	size_t len = family_len(a->family);

	return a->family == b->family && memcmp(a->first, b->first, len) == 0 &&
	       memcmp(a->last, b->last, len) == 0;
}

/*
 * The element of s covering exactly e's range. Sets are kept sorted by first
 * address (nft_ruleset_build and the dump decoder both sort, and ranges in an
 * interval set never overlap), so this is a binary search.
 */
static const struct nft_elem *set_find(const struct nft_set *s, const struct nft_elem *e)
{
	const struct nft_elem *found =
		s->n_elems ? bsearch(e, s->elems, s->n_elems, sizeof(*e), elem_cmp) : NULL;

	return found && elem_same_range(found, e) ? found : NULL;
}

/* An element's text for a message. */
static void elem_text(const struct nft_elem *e, char *out, size_t size)
{
	struct sbuf b = {0};

	render_elem(&b, e);
	snprintf(out, size, "%s", b.failed || !b.s ? "?" : b.s);
	free(b.s);
}

static int verify_chain(enum nft_chain_id id, const struct nft_chain *exp,
			const struct nft_chain *act, struct shield_error *err)
{
	const char *name = nft_chain_name(id);
	char want[NFT_RULE_TEXT_MAX], got[NFT_RULE_TEXT_MAX];

	if (!exp->present)
		return act->present ? shield_error_set(err, -EPROTO,
						       "chain %s is present but not expected", name)
				    : 0;
	if (!act->present)
		return shield_error_set(err, -EPROTO, "chain %s is missing", name);
	if (!act->base || act->hooknum != exp->hooknum || act->priority != exp->priority)
		return shield_error_set(err, -EPROTO,
					"chain %s is not a filter %s hook at priority filter", name,
					name);
	if (act->policy != exp->policy)
		return shield_error_set(err, -EPROTO, "chain %s has policy %s, expected %s", name,
					act->policy == NF_ACCEPT ? "accept" : "drop",
					exp->policy == NF_ACCEPT ? "accept" : "drop");
	for (size_t i = 0; i < exp->n_rules || i < act->n_rules; i++) {
		if (i >= act->n_rules) {
			nft_rule_render(&exp->rules[i], want, sizeof(want));
			return shield_error_set(err, -EPROTO, "chain %s: rule %zu (%s) is missing",
						name, i + 1, want);
		}
		if (i >= exp->n_rules) {
			nft_rule_render(&act->rules[i], got, sizeof(got));
			return shield_error_set(err, -EPROTO, "chain %s: unexpected rule %zu (%s)",
						name, i + 1, got);
		}
		if (!nft_rule_equal(&exp->rules[i], &act->rules[i])) {
			nft_rule_render(&exp->rules[i], want, sizeof(want));
			nft_rule_render(&act->rules[i], got, sizeof(got));
			return shield_error_set(err, -EPROTO,
						"chain %s: rule %zu is \"%s\", expected \"%s\"",
						name, i + 1, got, want);
		}
	}
	return 0;
}

static int verify_set(enum nft_set_id id, const struct nft_set *exp, const struct nft_set *act,
		      struct shield_error *err)
{
	const char *name = nft_set_name(id);
	char text[128];

	if (!exp->present)
		return act->present ? shield_error_set(err, -EPROTO,
						       "set %s is present but not expected", name)
				    : 0;
	if (!act->present)
		return shield_error_set(err, -EPROTO, "set %s is missing", name);
	if ((act->flags & (NFT_SET_INTERVAL | NFT_SET_TIMEOUT)) != exp->flags)
		return shield_error_set(err, -EPROTO, "set %s has flags 0x%x, expected 0x%x", name,
					act->flags, exp->flags);
	if (act->timeout_ms != exp->timeout_ms)
		return shield_error_set(err, -EPROTO, "set %s has timeout %llums, expected %llums",
					name, (unsigned long long)act->timeout_ms,
					(unsigned long long)exp->timeout_ms);
	for (size_t i = 0; i < exp->n_elems; i++) {
		const struct nft_elem *e = &exp->elems[i];
		const struct nft_elem *a = set_find(act, e);

		if (!a) {
			elem_text(e, text, sizeof(text));
			return shield_error_set(err, -EPROTO,
						"set %s: static element %s is missing", name, text);
		}
		if (a->has_expiration || a->expires_ms || (a->has_timeout && a->timeout_ms)) {
			elem_text(e, text, sizeof(text));
			return shield_error_set(
				err, -EPROTO, "set %s: static element %s would expire", name, text);
		}
	}
	/* Elements that dnsmasq added since carry a timer; anything else is not ours. */
	for (size_t i = 0; i < act->n_elems; i++) {
		const struct nft_elem *a = &act->elems[i];

		if (set_find(exp, a))
			continue;
		if ((exp->flags & NFT_SET_TIMEOUT) && (a->has_expiration || a->expires_ms))
			continue;
		elem_text(a, text, sizeof(text));
		return shield_error_set(err, -EPROTO, "set %s: unexpected element %s", name, text);
	}
	return 0;
}

int nft_ruleset_verify(const struct nft_ruleset *expected, const struct nft_ruleset *actual,
		       struct shield_error *err)
{
	int r;

	if (!actual->table_present)
		return shield_error_set(err, -EPROTO, "table %s %s is missing",
					NFT_TABLE_FAMILY_NAME, NFT_TABLE_NAME);
	if (actual->n_foreign)
		return shield_error_set(err, -EPROTO, "table holds objects shield never makes: %s",
					actual->foreign);
	for (int i = 0; i < NFT_CHAIN_COUNT; i++) {
		r = verify_chain(i, &expected->chains[i], &actual->chains[i], err);
		if (r < 0)
			return r;
	}
	for (int i = 0; i < NFT_SET_COUNT; i++) {
		r = verify_set(i, &expected->sets[i], &actual->sets[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Whether a chain's rules are those of mode m, ignoring addresses and ports it was built with. */
static bool chain_skeleton_matches(const struct nft_chain *exp, const struct nft_chain *act)
{
	size_t i = 0, j = 0;

	if (!act->present || !act->base || act->hooknum != exp->hooknum ||
	    act->priority != exp->priority || act->policy != exp->policy)
		return false;
	/*
	 * The DNS and loopback-port rules depend on the bundle (upstream,
	 * gateways, ports): accept any run of "daddr X dport Y accept" rules
	 * where the expected ruleset has its own run of them.
	 */
	while (i < exp->n_rules || j < act->n_rules) {
		bool exp_port = i < exp->n_rules && exp->rules[i].n_match == 2 &&
				exp->rules[i].match[1].kind == NFT_MATCH_DPORT;
		if (exp_port) {
			while (i < exp->n_rules && exp->rules[i].n_match == 2 &&
			       exp->rules[i].match[1].kind == NFT_MATCH_DPORT)
				i++;
			while (j < act->n_rules && !act->rules[j].unknown &&
			       act->rules[j].n_match == 2 &&
			       act->rules[j].match[0].kind == NFT_MATCH_DADDR &&
			       act->rules[j].match[1].kind == NFT_MATCH_DPORT &&
			       act->rules[j].verdict == NFT_VERDICT_ACCEPT &&
			       !act->rules[j].log_prefix)
				j++;
			continue;
		}
		if (i >= exp->n_rules || j >= act->n_rules)
			return false;
		if (!nft_rule_equal(&exp->rules[i], &act->rules[j]))
			return false;
		i++;
		j++;
	}
	return true;
}

enum shield_mode nft_ruleset_detect_mode(const struct nft_ruleset *actual)
{
	static const enum shield_mode modes[] = {SHIELD_MODE_UP, SHIELD_MODE_DOWN,
						 SHIELD_MODE_DOWN_ALL, SHIELD_MODE_BLOCK};

	if (!actual->table_present)
		return SHIELD_MODE_INACTIVE;
	if (actual->n_foreign)
		return SHIELD_MODE_ERROR;
	for (size_t m = 0; m < ARRAY_SIZE(modes); m++) {
		struct nft_ruleset_params p = {.mode = modes[m], .set_timeout = 1};
		struct nft_ruleset exp;
		bool ok = true;

		/* Any upstream will do: the DNS rules are matched by shape. */
		addr_parse("127.0.0.53", 10, &p.upstream, NULL);
		if (nft_ruleset_build(&p, &exp, NULL) < 0)
			return SHIELD_MODE_ERROR;
		for (int c = 0; c < NFT_CHAIN_COUNT && ok; c++)
			ok = chain_skeleton_matches(&exp.chains[c], &actual->chains[c]);
		for (int s = 0; s < NFT_SET_COUNT && ok; s++) {
			const struct nft_set *es = &exp.sets[s], *as = &actual->sets[s];

			ok = es->present == as->present &&
			     (!es->present ||
			      (as->flags & (NFT_SET_INTERVAL | NFT_SET_TIMEOUT)) == es->flags);
		}
		nft_ruleset_free(&exp);
		if (ok)
			return modes[m];
	}
	return SHIELD_MODE_ERROR;
}
