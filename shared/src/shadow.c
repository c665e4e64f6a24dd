/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shadow state of one container: what the allow and deny sets should
 * hold (static entries, answers dnsmasq logged), what the kernel holds
 * (dumps plus notifications, with an expiry table because the set GC sends
 * no notification), and the open drift items between the two.
 *
 * Every collection is a hash table keyed by (set, first, last) or by name,
 * so a dump of n elements is checked in O(n) whatever n is; nothing here
 * compares every element with every other.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "shield/audit.h"
#include "shield/domain.h"
#include "shield/grow.h"
#include "shield/nft-netlink.h"
#include "shield/shadow.h"
#include "htab.h"
#include "strset.h"

/* ------------------------------------------------------------------ keys */

/* An element range of one set: addresses zero-padded to 16 bytes. */
struct ekey {
	uint8_t set;
	uint8_t first[16];
	uint8_t last[16];
};

/*
 * A key's hash: its four 8-byte words multiplied in, each product's high
 * bits folded down before the next word, then mixed (the finaliser of
 * MurmurHash3); a byte-wise hash of 33 bytes costs a log line more than
 * parsing it. Without the fold (a multiply carries bits upward only),
 * host keys, whose address comes in twice (first = last), collided: 12,000
 * addresses had 8,566 hashes, and a lookup walked 2.6 entries (each a
 * cache miss) instead of 1.4.
 */
static uint64_t ekey_hash(const struct ekey *k)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ k->set;

	for (int i = 0; i < 4; i++) {
		uint64_t w; /* a word, not an array of them: no stack canary on the log path */

		memcpy(&w, (i < 2 ? k->first : k->last) + 8 * (i % 2), 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 29;
	}
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static bool ekey_eq(const struct ekey *a, const struct ekey *b)
{
	return a->set == b->set && memcmp(a->first, b->first, 16) == 0 &&
	       memcmp(a->last, b->last, 16) == 0;
}

static size_t set_alen(enum nft_set_id set)
{
	return nft_set_family(set) == AF_INET6 ? 16 : 4;
}

static bool set_is_allow(enum nft_set_id set)
{
	return set == NFT_SET_ALLOW_V4 || set == NFT_SET_ALLOW_V6;
}

static void ekey_from_range(struct ekey *k, enum nft_set_id set, const uint8_t *first,
			    const uint8_t *last)
{
	size_t n = set_alen(set);

	memset(k, 0, sizeof(*k));
	k->set = (uint8_t)set;
	memcpy(k->first, first, n);
	memcpy(k->last, last, n);
}

static void ekey_from_prefix(struct ekey *k, enum nft_set_id set, const struct addr_prefix *p)
{
	uint8_t first[16], last[16];

	/* A host of the set's family (every log line): first = last = the address. */
	if (p->family == nft_set_family(set) && addr_is_host(p)) {
		size_t n = set_alen(set);

		memset(k, 0, sizeof(*k));
		k->set = (uint8_t)set;
		memcpy(k->first, p->addr, n);
		memcpy(k->last, p->addr, n);
		return;
	}

	addr_range(p, first, last);
	ekey_from_range(k, set, first, last);
}

static bool ekey_is_host(const struct ekey *k)
{
	return memcmp(k->first, k->last, 16) == 0;
}

/* The host address of a host key. */
static void ekey_host(const struct ekey *k, struct addr_prefix *out)
{
	memset(out, 0, sizeof(*out));
	out->family = nft_set_family(k->set);
	out->plen = out->family == AF_INET6 ? 128 : 32;
	memcpy(out->addr, k->first, set_alen(k->set));
}

/* "ADDR", "ADDR/LEN" when the range is a prefix, else "FIRST-LAST". */
static void ekey_text(const struct ekey *k, char *out, size_t size)
{
	size_t n = set_alen(k->set);
	struct addr_prefix p = {.family = nft_set_family(k->set)};
	char a[ADDR_TEXT_MAX], b[ADDR_TEXT_MAX];
	unsigned plen = (unsigned)n * 8;

	memcpy(p.addr, k->first, n);
	/* The prefix length: the longest run of trailing bits 0 in first and 1 in last. */
	for (unsigned bit = 0; bit < n * 8; bit++) {
		unsigned byte = (unsigned)n - 1 - bit / 8, mask = 1u << (bit % 8);

		if ((k->first[byte] & mask) || !(k->last[byte] & mask))
			break;
		plen--;
	}
	p.plen = (uint8_t)plen;
	{
		uint8_t f[16], l[16];

		addr_range(&p, f, l);
		if (memcmp(f, k->first, n) == 0 && memcmp(l, k->last, n) == 0) {
			addr_format(&p, a);
			snprintf(out, size, "%s", a);
			return;
		}
	}
	p.plen = (uint8_t)(n * 8);
	addr_format(&p, a);
	memcpy(p.addr, k->last, n);
	addr_format(&p, b);
	snprintf(out, size, "%s-%s", a, b);
}

/* ------------------------------------------------------------ the state */

/* An element the kernel holds, as last dumped or notified. */
struct kelem {
	struct hnode node;
	struct ekey key;
	bool has_expiry;
	uint64_t expires_at; /* monotonic ms */
	uint32_t gen;	     /* dump generation that last saw it */
	size_t range_idx;    /* index in ranges[set] when not a host, else SIZE_MAX */
	bool has_writer;
	struct shadow_writer writer;
	uint64_t ours_added_at; /* monotonic ms one of our writers added it, 0 = not so */
};

/* A static entry: an effective IP in an allow set, or a deny.list entry in a deny set. */
struct sentry {
	struct hnode node;
	struct ekey key;
	struct addr_prefix prefix;
};

/* A dynamic entry: an address dnsmasq added for a domain, until its expiry. */
struct dentry {
	struct hnode node;
	struct ekey key;	      /* a host */
	uint64_t logged_at;	      /* monotonic ms */
	uint64_t expires_at;	      /* monotonic ms */
	char domain[DOMAIN_BUF_SIZE]; /* the configured domain dnsmasq matched; "" = inherited */
	/* (the domain last: a log line touches the key's cache line and the next, not five) */
};

/* An open drift item. */
struct item {
	struct hnode node;
	enum shield_event_kind kind;
	struct ekey key;
	uint64_t detail_hash;
	uint32_t gen;
	bool has_repair;
	struct shadow_repair repair;
	struct shield_event ev;
};

/* The last answer per family of a query name (rotation). */
struct answer {
	bool have;
	struct addr_prefix *addrs; /* sorted */
	size_t n;
	uint64_t at_mono;
};

struct name_state {
	struct hnode node;
	struct answer fam[2]; /* [0] IPv4, [1] IPv6 */
	uint64_t last_mono;
	char name[]; /* flexible */
};

/* A blocked name's last event time (repeat suppression). */
struct blocked {
	struct hnode node;
	uint64_t last_mono;
	char name[];
};

/* An effective domain's place in the bundle order. */
struct dindex {
	struct hnode node;
	size_t index;
};

struct domain_stats {
	uint64_t last_answer_wall; /* 0 = never */
	uint64_t last_rotation_wall;
};

/* The bundle, owned. */
struct shadow_cfg {
	char container[SHIELD_EVENT_CONTAINER_MAX];
	struct nft_ruleset_params params;
	struct addr_prefix *allow, *deny;
	enum dns_policy dns_policy;
	struct strlist domains, denied;
	struct strset domain_set, denied_set;
	struct htab domain_index; /* struct dindex by name, into dindex[] */
	struct dindex *dindex;
	int32_t dnsmasq_pid;
	bool repair;
	uint32_t blocked_repeat_ms;
	uint64_t *event_seq;
	struct nft_ruleset expected;
	struct htab statics; /* struct sentry */
	struct sentry *sentries;
	/* deny.list as merged sorted ranges per family ([0] v4, [1] v6) */
	struct range {
		uint8_t first[16], last[16];
	} * deny_ranges[2];
	size_t n_deny_ranges[2];
	struct domain_stats *dstats; /* per effective domain */
};

/* The response being collected (reply lines of one serial). */
struct response {
	bool active;
	int32_t pid;
	bool has_serial;
	uint64_t serial;
	uint64_t started_mono;
	char name[DNSMASQ_LOG_NAME_MAX];
	struct addr_prefix *addrs[2];
	size_t n[2], cap[2];
	/*
	 * name's policy and domain stats, looked up once per response (a
	 * response has a line per address); policy_known is cleared when the
	 * configuration changes.
	 */
	bool policy_known;
	int policy; /* enum policy */
	struct domain_stats *stats;
	uint64_t name_hash; /* name_hash(name) */
};

#define CHILD_PIDS 8

struct shadow {
	struct shadow_cfg cfg;
	uint64_t own_seq;
	struct htab kernel; /* struct kelem */
	bool set_known[NFT_SET_COUNT];
	bool set_present[NFT_SET_COUNT];
	uint64_t set_timeout_ms[NFT_SET_COUNT];
	struct kelem **ranges[NFT_SET_COUNT]; /* non-host elements per set */
	size_t n_ranges[NFT_SET_COUNT], cap_ranges[NFT_SET_COUNT];
	uint32_t dump_gen;
	bool adopt[NFT_SET_COUNT];
	struct htab dyn; /* struct dentry */
	struct htab items;
	uint32_t item_gen;
	bool log_tracked;     /* shadow_log_read was called: adds by our writers may wait for it */
	uint64_t log_read_at; /* monotonic ms the query log was last read to its end */
	size_t awaiting_log;  /* elements the last set check left for the log to explain */
	size_t open[SHIELD_EVENT_KIND_COUNT];
	uint64_t counts[SHIELD_EVENT_KIND_COUNT];
	uint64_t blocked_total;
	struct htab names; /* struct name_state */
	struct htab blocked;
	struct response resp;
	int32_t child_pids[CHILD_PIDS];
	size_t next_child;
	uint64_t next_sweep;	/* monotonic ms: the earliest expiry (+ slack) noted */
	uint64_t next_names_gc; /* monotonic ms */
	uint64_t last_query_serial;
	char last_query_type[DNSMASQ_LOG_QTYPE_MAX];
};

#define BLOCKED_NAMES_MAX  4096
#define RESPONSE_ADDRS_MAX SHIELD_EVENT_LIST_MAX
#define RESPONSE_IDLE_MS   1000
#define NAMES_GC_MS	   60000

/* Copy text into a fixed buffer, cut to fit. */
static void copy_text(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static uint64_t name_hash(const char *s)
{
	return htab_hash_fast(s, strlen(s));
}

/* ------------------------------------------------------------ output */

void shadow_output_reset(struct shadow_output *o)
{
	for (size_t i = 0; i < o->n_events; i++)
		shield_event_free(&o->events[i]);
	o->n_events = 0;
	o->n_repairs = 0;
}

void shadow_output_free(struct shadow_output *o)
{
	if (!o)
		return;
	shadow_output_reset(o);
	free(o->events);
	free(o->repairs);
	memset(o, 0, sizeof(*o));
}

/* Append ev (taken: its lists now belong to the output). */
static int out_event(struct shadow_output *o, struct shield_event *ev)
{
	if (o->n_events == o->cap_events) {
		struct shield_event *e =
			shield_grow(o->events, &o->cap_events, o->n_events + 1, sizeof(*e), 8);

		if (!e)
			return -ENOMEM;
		o->events = e;
	}
	o->events[o->n_events++] = *ev;
	ev->added = ev->removed = NULL;
	ev->n_added = ev->n_removed = 0;
	return 0;
}

static int out_repair(struct shadow_output *o, const struct shadow_repair *r)
{
	if (o->n_repairs == o->cap_repairs) {
		struct shadow_repair *n =
			shield_grow(o->repairs, &o->cap_repairs, o->n_repairs + 1, sizeof(*n), 8);

		if (!n)
			return -ENOMEM;
		o->repairs = n;
	}
	o->repairs[o->n_repairs++] = *r;
	return 0;
}

/* Stamp ev (ts, id, container). */
static void stamp(struct shadow *s, struct shield_event *ev, const struct shadow_now *now)
{
	uint64_t *seq = s->cfg.event_seq ? s->cfg.event_seq : &s->own_seq;

	ev->ts_ms = now->wall_ms;
	ev->id = ++*seq;
	copy_text(ev->container, sizeof(ev->container), s->cfg.container);
}

/* Stamp, count and hand out an event that opens no item; ev is consumed. */
static int emit(struct shadow *s, struct shield_event *ev, const struct shadow_now *now,
		struct shadow_output *out)
{
	int r;

	stamp(s, ev, now);
	s->counts[ev->kind]++;
	r = out_event(out, ev);
	shield_event_free(ev);
	return r;
}

/* ------------------------------------------------------------ items */

static uint64_t item_hash(enum shield_event_kind kind, const struct ekey *k, uint64_t dh)
{
	uint8_t kb = (uint8_t)kind;
	uint64_t h = htab_hash_bytes(HTAB_HASH_INIT, &kb, 1);

	h = htab_hash_bytes(h, &dh, sizeof(dh));
	return htab_hash_bytes(h, k, sizeof(*k)) ^ ekey_hash(k);
}

static struct item *item_find(const struct shadow *s, enum shield_event_kind kind,
			      const struct ekey *k, uint64_t dh)
{
	uint64_t h = item_hash(kind, k, dh);

	for (struct hnode *n = htab_bucket(&s->items, h); n; n = n->next) {
		struct item *it = HTAB_ENTRY(n, struct item, node);

		if (n->hash == h && it->kind == kind && it->detail_hash == dh &&
		    ekey_eq(&it->key, k))
			return it;
	}
	return NULL;
}

static void item_close(struct shadow *s, struct item *it)
{
	htab_remove(&s->items, &it->node);
	s->open[it->kind]--;
	shield_event_free(&it->ev);
	free(it);
}

/*
 * Open an item for ev (consumed) unless one with this key is open already
 * (then only marked as still seen). *out_it: the item. Returns 1 when new.
 */
static int item_open(struct shadow *s, const struct ekey *k, uint64_t dh, struct shield_event *ev,
		     const struct shadow_now *now, struct shadow_output *out, struct item **out_it)
{
	struct item *it = item_find(s, ev->kind, k, dh);
	struct shield_event copy;
	int r;

	shield_event_init(&copy, ev->kind);
	if (it) {
		it->gen = s->item_gen;
		shield_event_free(ev);
		if (out_it)
			*out_it = it;
		return 0;
	}
	it = calloc(1, sizeof(*it));
	if (!it) {
		shield_event_free(ev);
		return -ENOMEM;
	}
	it->kind = ev->kind;
	it->key = *k;
	it->detail_hash = dh;
	it->gen = s->item_gen;
	stamp(s, ev, now);
	if (shield_event_copy(&copy, ev) < 0) {
		shield_event_free(ev);
		free(it);
		return -ENOMEM;
	}
	if (htab_insert(&s->items, &it->node, item_hash(it->kind, k, dh)) < 0) {
		shield_event_free(&copy);
		shield_event_free(ev);
		free(it);
		return -ENOMEM;
	}
	it->ev = *ev;
	s->open[it->kind]++;
	s->counts[it->kind]++;
	r = out_event(out, &copy);
	shield_event_free(&copy);
	if (out_it)
		*out_it = it;
	return r < 0 ? r : 1;
}

/* Close the items of these kinds at key k. */
static void items_close_at(struct shadow *s, const struct ekey *k,
			   const enum shield_event_kind *kinds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct item *it = item_find(s, kinds[i], k, 0);

		if (it)
			item_close(s, it);
	}
}

/* --------------------------------------------------------- config */

static void cfg_free(struct shadow_cfg *c)
{
	free(c->allow);
	free(c->deny);
	strlist_free(&c->domains);
	strlist_free(&c->denied);
	strset_free(&c->domain_set);
	strset_free(&c->denied_set);
	htab_free(&c->domain_index);
	free(c->dindex);
	nft_ruleset_free(&c->expected);
	htab_free(&c->statics);
	free(c->sentries);
	for (int f = 0; f < 2; f++)
		free(c->deny_ranges[f]);
	free(c->dstats);
	memset(c, 0, sizeof(*c));
}

static int range_cmp(const void *a, const void *b)
{
	return memcmp(((const struct range *)a)->first, ((const struct range *)b)->first, 16);
}

/* Merge the deny.list into sorted, non-overlapping ranges per family. */
static int build_deny_ranges(struct shadow_cfg *c)
{
	for (int f = 0; f < 2; f++) {
		int fam = f ? AF_INET6 : AF_INET;
		struct range *r;
		size_t n = 0, m = 0;

		if (!c->params.n_deny)
			continue;
		r = calloc(c->params.n_deny, sizeof(*r));
		if (!r)
			return -ENOMEM;
		for (size_t i = 0; i < c->params.n_deny; i++) {
			if (c->deny[i].family != fam)
				continue;
			addr_range(&c->deny[i], r[n].first, r[n].last);
			n++;
		}
		qsort(r, n, sizeof(*r), range_cmp);
		for (size_t i = 0; i < n; i++) {
			if (m && memcmp(r[i].first, r[m - 1].last, 16) <= 0) {
				if (memcmp(r[i].last, r[m - 1].last, 16) > 0)
					memcpy(r[m - 1].last, r[i].last, 16);
				continue;
			}
			r[m++] = r[i];
		}
		c->deny_ranges[f] = r;
		c->n_deny_ranges[f] = m;
	}
	return 0;
}

static int cfg_build(const struct shadow_config *in, struct shadow_cfg *c, struct shield_error *err)
{
	const struct nft_ruleset_params *p = &in->ruleset;
	size_t n_static;
	int r;

	memset(c, 0, sizeof(*c));
	if (!in->container || !*in->container)
		return shield_error_set(err, -EINVAL, "shadow: no container name");
	if (p->set_timeout == 0)
		return shield_error_set(err, -EINVAL, "shadow: set timeout must be at least 1s");
	if ((p->n_allow && !p->allow) || (p->n_deny && !p->deny))
		return shield_error_set(err, -EINVAL, "shadow: static lists without entries");
	snprintf(c->container, sizeof(c->container), "%s", in->container);
	c->params = *p;
	c->dns_policy = in->dns_policy;
	c->dnsmasq_pid = in->dnsmasq_pid;
	c->repair = in->repair;
	c->blocked_repeat_ms = in->blocked_repeat_ms;
	c->event_seq = in->event_seq;
	r = -ENOMEM;
	if (p->n_allow) {
		c->allow = malloc(p->n_allow * sizeof(*c->allow));
		if (!c->allow)
			goto oom;
		memcpy(c->allow, p->allow, p->n_allow * sizeof(*c->allow));
	}
	if (p->n_deny) {
		c->deny = malloc(p->n_deny * sizeof(*c->deny));
		if (!c->deny)
			goto oom;
		memcpy(c->deny, p->deny, p->n_deny * sizeof(*c->deny));
	}
	c->params.allow = c->allow;
	c->params.deny = c->deny;
	if ((in->domains && strlist_merge_unique(&c->domains, in->domains, NULL) < 0) ||
	    (in->denied && strlist_merge_unique(&c->denied, in->denied, NULL) < 0) ||
	    strset_add_list(&c->domain_set, &c->domains) < 0 ||
	    strset_add_list(&c->denied_set, &c->denied) < 0)
		goto oom;
	c->dindex = calloc(c->domains.n ? c->domains.n : 1, sizeof(*c->dindex));
	c->dstats = calloc(c->domains.n ? c->domains.n : 1, sizeof(*c->dstats));
	if (!c->dindex || !c->dstats)
		goto oom;
	for (size_t i = 0; i < c->domains.n; i++) {
		c->dindex[i].index = i;
		if (htab_insert(&c->domain_index, &c->dindex[i].node,
				name_hash(c->domains.items[i])) < 0)
			goto oom;
	}
	r = nft_ruleset_build(&c->params, &c->expected, err);
	if (r < 0) {
		shield_error_prefix(err, "shadow: ");
		goto fail;
	}
	r = -ENOMEM;
	n_static = p->n_allow + p->n_deny;
	c->sentries = calloc(n_static ? n_static : 1, sizeof(*c->sentries));
	if (!c->sentries)
		goto oom;
	for (size_t i = 0; i < n_static; i++) {
		struct sentry *e = &c->sentries[i];
		const struct addr_prefix *a =
			i < p->n_allow ? &c->allow[i] : &c->deny[i - p->n_allow];
		bool v6 = a->family == AF_INET6;
		enum nft_set_id set = i < p->n_allow ? (v6 ? NFT_SET_ALLOW_V6 : NFT_SET_ALLOW_V4)
						     : (v6 ? NFT_SET_DENY_V6 : NFT_SET_DENY_V4);

		if (a->family != AF_INET && a->family != AF_INET6) {
			r = shield_error_set(err, -EINVAL, "shadow: static entry %zu has no family",
					     i);
			goto fail;
		}
		e->prefix = *a;
		ekey_from_prefix(&e->key, set, a);
		if (htab_insert(&c->statics, &e->node, ekey_hash(&e->key)) < 0)
			goto oom;
	}
	if (build_deny_ranges(c) < 0)
		goto oom;
	return 0;
oom:
	r = shield_error_set(err, -ENOMEM, "shadow: out of memory");
fail:
	cfg_free(c);
	return r;
}

static const struct sentry *static_find(const struct shadow *s, const struct ekey *k)
{
	uint64_t h = ekey_hash(k);

	for (struct hnode *n = htab_bucket(&s->cfg.statics, h); n; n = n->next) {
		const struct sentry *e = HTAB_ENTRY(n, struct sentry, node);

		if (n->hash == h && ekey_eq(&e->key, k))
			return e;
	}
	return NULL;
}

/* Whether [first, last] of a family overlaps a deny.list entry. */
static bool deny_overlaps(const struct shadow *s, enum nft_set_id set, const struct ekey *k)
{
	int f = nft_set_family(set) == AF_INET6;
	const struct range *r = s->cfg.deny_ranges[f];
	size_t lo = 0, hi = s->cfg.n_deny_ranges[f];

	/* The last range starting at or before k->last. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(r[mid].first, k->last, 16) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && memcmp(r[lo - 1].last, k->first, 16) >= 0;
}

enum policy {
	POLICY_NONE,	/* no allowlist entry covers the name */
	POLICY_ALLOWED, /* the most specific entry covering it is allowed */
	POLICY_DENIED,	/* the most specific entry covering it is denied */
};

/* The bundle-order index of an effective domain, or SIZE_MAX. */
static size_t domain_index(const struct shadow *s, const char *domain)
{
	uint64_t h = name_hash(domain);

	for (struct hnode *n = htab_bucket(&s->cfg.domain_index, h); n; n = n->next) {
		const struct dindex *d = HTAB_ENTRY(n, struct dindex, node);

		if (n->hash == h && strcmp(s->cfg.domains.items[d->index], domain) == 0)
			return d->index;
	}
	return SIZE_MAX;
}

/*
 * dnsmasq's rule: the most specific configured domain wins. *match: the
 * entry; *index: an allowed entry's bundle-order index (the effective
 * domains are unique, so their index table is also their set).
 */
static enum policy name_policy_at(const struct shadow *s, const char *name, const char **match,
				  size_t *index)
{
	for (const char *p = name; p && *p;) {
		size_t i;

		if (s->cfg.denied_set.n && strset_contains(&s->cfg.denied_set, p)) {
			if (match)
				*match = p;
			return POLICY_DENIED;
		}
		i = domain_index(s, p);
		if (i != SIZE_MAX) {
			if (match)
				*match = p;
			if (index)
				*index = i;
			return POLICY_ALLOWED;
		}
		p = strchr(p, '.');
		if (p)
			p++;
	}
	return POLICY_NONE;
}

static enum policy name_policy(const struct shadow *s, const char *name, const char **match)
{
	return name_policy_at(s, name, match, NULL);
}

/* Stats of the effective domain covering name (most specific), or NULL. */
static struct domain_stats *stats_for(struct shadow *s, const char *name)
{
	size_t i;

	if (name_policy_at(s, name, NULL, &i) != POLICY_ALLOWED)
		return NULL;
	return &s->cfg.dstats[i];
}

/* The policy of the response's name (and its stats when allowed), looked up once. */
static int resp_policy(struct shadow *s, struct domain_stats **stats)
{
	struct response *rp = &s->resp;

	if (!rp->policy_known) {
		size_t i = 0;

		rp->policy = name_policy_at(s, rp->name, NULL, &i);
		rp->stats = rp->policy == POLICY_ALLOWED ? &s->cfg.dstats[i] : NULL;
		rp->policy_known = true;
	}
	if (stats)
		*stats = rp->stats;
	return rp->policy;
}

/* --------------------------------------------------------- kernel view */

/* kernel_find with the key's hash at hand. */
static struct kelem *kernel_find_h(const struct shadow *s, const struct ekey *k, uint64_t h)
{
	for (struct hnode *n = htab_bucket(&s->kernel, h); n; n = n->next) {
		struct kelem *e = HTAB_ENTRY(n, struct kelem, node);

		if (n->hash == h && ekey_eq(&e->key, k))
			return e;
	}
	return NULL;
}

static struct kelem *kernel_find(const struct shadow *s, const struct ekey *k)
{
	return kernel_find_h(s, k, ekey_hash(k));
}

static bool kelem_live(const struct kelem *e, uint64_t now)
{
	return !e->has_expiry || e->expires_at > now;
}

/* An expiry was set: the tick need not look before the earliest one. */
static void note_expiry(struct shadow *s, uint64_t at)
{
	uint64_t due = at + SHADOW_EXPIRY_SLACK_MS;

	if (due < s->next_sweep)
		s->next_sweep = due;
}

static void kernel_remove(struct shadow *s, struct kelem *e)
{
	enum nft_set_id set = e->key.set;

	if (e->range_idx != SIZE_MAX) {
		size_t last = --s->n_ranges[set];

		s->ranges[set][e->range_idx] = s->ranges[set][last];
		s->ranges[set][e->range_idx]->range_idx = e->range_idx;
	}
	htab_remove(&s->kernel, &e->node);
	free(e);
}

static struct kelem *kernel_add(struct shadow *s, const struct ekey *k)
{
	struct kelem *e = calloc(1, sizeof(*e));
	enum nft_set_id set = k->set;

	if (!e)
		return NULL;
	e->key = *k;
	e->range_idx = SIZE_MAX;
	if (!ekey_is_host(k)) {
		if (s->n_ranges[set] == s->cap_ranges[set]) {
			struct kelem **r = shield_grow(s->ranges[set], &s->cap_ranges[set],
						       s->n_ranges[set] + 1, sizeof(*r), 8);

			if (!r) {
				free(e);
				return NULL;
			}
			s->ranges[set] = r;
		}
	}
	if (htab_insert(&s->kernel, &e->node, ekey_hash(k)) < 0) {
		free(e);
		return NULL;
	}
	if (!ekey_is_host(k)) {
		e->range_idx = s->n_ranges[set]++;
		s->ranges[set][e->range_idx] = e;
	}
	return e;
}

/* Whether the kernel view of set holds a live element covering host key k. */
static bool kernel_covers(const struct shadow *s, const struct ekey *k, uint64_t now)
{
	const struct kelem *e = kernel_find(s, k);

	if (e && kelem_live(e, now))
		return true;
	for (size_t i = 0; i < s->n_ranges[k->set]; i++) {
		e = s->ranges[k->set][i];
		if (memcmp(e->key.first, k->first, 16) <= 0 &&
		    memcmp(e->key.last, k->last, 16) >= 0 && kelem_live(e, now))
			return true;
	}
	return false;
}

/* Set a kernel element's expiry from what the kernel reported. */
static void kelem_timers(struct shadow *s, struct kelem *e, const struct nft_elem *el,
			 bool from_dump, uint64_t now)
{
	if (el->expires_ms) {
		e->has_expiry = true;
		e->expires_at = now + el->expires_ms;
	} else if (el->has_timeout) {
		e->has_expiry = el->timeout_ms != 0;
		e->expires_at = now + el->timeout_ms;
	} else if (!from_dump && s->set_timeout_ms[e->key.set]) {
		/* A notification without timers: the set default applies. */
		e->has_expiry = true;
		e->expires_at = now + s->set_timeout_ms[e->key.set];
	} else {
		e->has_expiry = false;
	}
	if (e->has_expiry)
		note_expiry(s, e->expires_at);
}

/* --------------------------------------------------------- dynamic entries */

static struct dentry *dyn_find_h(const struct shadow *s, const struct ekey *k, uint64_t h)
{
	for (struct hnode *n = htab_bucket(&s->dyn, h); n; n = n->next) {
		struct dentry *d = HTAB_ENTRY(n, struct dentry, node);

		if (n->hash == h && ekey_eq(&d->key, k))
			return d;
	}
	return NULL;
}

static struct dentry *dyn_find(const struct shadow *s, const struct ekey *k)
{
	return dyn_find_h(s, k, ekey_hash(k));
}

/* The dynamic entry of k (h: its hash), a new zeroed one if there is none; NULL on -ENOMEM. */
static struct dentry *dyn_upsert_h(struct shadow *s, const struct ekey *k, uint64_t h)
{
	struct dentry *d = dyn_find_h(s, k, h);

	if (d)
		return d;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->key = *k;
	if (htab_insert(&s->dyn, &d->node, h) < 0) {
		free(d);
		return NULL;
	}
	return d;
}

static struct dentry *dyn_upsert(struct shadow *s, const struct ekey *k)
{
	return dyn_upsert_h(s, k, ekey_hash(k));
}

static void dyn_remove(struct shadow *s, struct dentry *d)
{
	htab_remove(&s->dyn, &d->node);
	free(d);
}

/* Whether a dynamic entry still explains its element: inherited, or its domain allowed. */
static enum policy dentry_policy(const struct shadow *s, const struct dentry *d)
{
	if (!d->domain[0])
		return POLICY_ALLOWED;
	return name_policy(s, d->domain, NULL);
}

/* ------------------------------------------------------------- writers */

static bool writer_is_ours(const struct shadow *s, const struct shadow_writer *w)
{
	static const char *const comms[] = {"shield", "shield-hook", "nftsetd", "dnsmasq"};

	if (!w)
		return false;
	if (w->pid > 0) {
		if (w->pid == s->cfg.dnsmasq_pid)
			return true;
		for (size_t i = 0; i < CHILD_PIDS; i++)
			if (s->child_pids[i] == w->pid)
				return true;
	}
	for (size_t i = 0; i < ARRAY_SIZE(comms); i++)
		if (strcmp(w->comm, comms[i]) == 0)
			return true;
	return false;
}

static void event_writer(struct shield_event *ev, bool has, const struct shadow_writer *w)
{
	if (!has || !w)
		return;
	ev->pid = w->pid;
	snprintf(ev->comm, sizeof(ev->comm), "%s", w->comm);
}

static void event_elem(struct shield_event *ev, const struct ekey *k)
{
	ekey_text(k, ev->ip, sizeof(ev->ip));
	snprintf(ev->set, sizeof(ev->set), "%s", nft_set_name(k->set));
}

/* --------------------------------------------------------- judging */

enum verdict {
	VERDICT_OK,
	VERDICT_UNEXPLAINED,
	VERDICT_OUTLIVED, /* unexplained: the answer that explained it has expired */
	VERDICT_DENIED,
};

/* Judge an allow-set element; *domain: the denied or no-longer-allowed domain, if any. */
static enum verdict judge_allow(const struct shadow *s, const struct ekey *k, uint64_t now,
				const char **domain)
{
	const struct dentry *d;

	*domain = NULL;
	if (deny_overlaps(s, k->set, k))
		return VERDICT_DENIED;
	if (static_find(s, k))
		return VERDICT_OK;
	if (!ekey_is_host(k))
		return VERDICT_UNEXPLAINED;
	d = dyn_find(s, k);
	if (!d)
		return VERDICT_UNEXPLAINED;
	if (d->expires_at + SHADOW_EXPIRY_SLACK_MS <= now) {
		/* Re-added with a longer timer than the answer had. */
		*domain = d->domain[0] ? d->domain : NULL;
		return VERDICT_OUTLIVED;
	}
	switch (dentry_policy(s, d)) {
	case POLICY_ALLOWED:
		return VERDICT_OK;
	case POLICY_DENIED:
		*domain = d->domain;
		return VERDICT_DENIED;
	default:
		*domain = d->domain;
		return VERDICT_UNEXPLAINED;
	}
}

/* Open the item an allow-set element's verdict calls for. */
static int open_verdict(struct shadow *s, const struct kelem *e, enum verdict v, const char *domain,
			const struct shadow_now *now, struct shadow_output *out)
{
	struct shield_event ev;

	if (v == VERDICT_OK)
		return 0;
	shield_event_init(&ev, v == VERDICT_DENIED ? SHIELD_EVENT_DRIFT_DENIED_PRESENT
						   : SHIELD_EVENT_DRIFT_UNEXPLAINED);
	if (v == VERDICT_OUTLIVED)
		shield_event_set_detail(&ev, "the logged answer%s%s expired, the element stays",
					domain ? " for " : "", domain ? domain : "");
	event_elem(&ev, &e->key);
	event_writer(&ev, e->has_writer, &e->writer);
	if (domain)
		snprintf(ev.domain, sizeof(ev.domain), "%s", domain);
	if (v == VERDICT_DENIED)
		shield_event_set_detail(&ev,
					domain ? "answer for denied domain %s is in the allow set"
					       : "address in deny.list is in the allow set",
					domain);
	else if (v == VERDICT_OUTLIVED)
		; /* said above */
	else if (domain)
		shield_event_set_detail(&ev, "answer for %s, which no allowlist covers any more",
					domain);
	else
		shield_event_set_detail(&ev,
					"neither a static entry nor a logged answer explains it");
	return item_open(s, &e->key, 0, &ev, now, out, NULL) < 0 ? -ENOMEM : 0;
}

/* A drift.missing item for key; repair: whether and how it may be re-added. */
static int open_missing(struct shadow *s, const struct ekey *k, const char *domain, bool can_repair,
			bool has_writer, const struct shadow_writer *w, const char *what,
			const struct shadow_now *now, struct shadow_output *out)
{
	struct shield_event ev;
	struct item *it = NULL;
	bool repair = can_repair && s->cfg.repair;
	int r;

	shield_event_init(&ev, SHIELD_EVENT_DRIFT_MISSING);
	event_elem(&ev, k);
	event_writer(&ev, has_writer, w);
	if (domain && *domain)
		snprintf(ev.domain, sizeof(ev.domain), "%s", domain);
	ev.repaired = repair;
	shield_event_set_detail(&ev, "%s is absent from the set%s", what,
				repair ? "; re-added" : "");
	r = item_open(s, k, 0, &ev, now, out, &it);
	if (r < 0)
		return r;
	if (repair && it) {
		it->has_repair = true;
		ekey_host(k, &it->repair.addr);
		if (!ekey_is_host(k)) {
			const struct sentry *e = static_find(s, k);

			if (e)
				it->repair.addr = e->prefix;
		}
		it->repair.set = k->set;
		it->repair.timeout_ms = set_is_allow(k->set) ? 0 : NFT_TIMEOUT_SET_DEFAULT;
		it->repair.cause = SHIELD_EVENT_DRIFT_MISSING;
		/* Issued at detection and again at each dump while the item stays open. */
		return out_repair(out, &it->repair);
	}
	return 0;
}

/* ----------------------------------------------------------- lifecycle */

void shadow_config_from_bundle(struct shadow_config *cfg, const struct bundle_rules *b,
			       const struct strlist *domains, const struct strlist *denied)
{
	*cfg = (struct shadow_config){
		.dns_policy = bundle_dns_policy(&b->config, b->config.mode),
		.domains = domains,
		.denied = denied,
		.blocked_repeat_ms = SHADOW_BLOCKED_REPEAT_MS,
	};
	bundle_rules_params(b, b->config.mode, &cfg->ruleset);
}

int shadow_new(const struct shadow_config *cfg, struct shadow **out, struct shield_error *err)
{
	struct shadow *s;
	int r;

	if (!cfg || !out)
		return shield_error_set(err, -EINVAL, "shadow: no configuration");
	s = calloc(1, sizeof(*s));
	if (!s)
		return shield_error_set(err, -ENOMEM, "shadow: out of memory");
	r = cfg_build(cfg, &s->cfg, err);
	if (r < 0) {
		free(s);
		return r;
	}
	for (int i = 0; i < NFT_SET_COUNT; i++)
		s->adopt[i] = true;
	s->next_sweep = UINT64_MAX;
	*out = s;
	return 0;
}

static void response_free(struct response *r)
{
	for (int f = 0; f < 2; f++)
		free(r->addrs[f]);
	memset(r, 0, sizeof(*r));
}

static void name_state_free(struct name_state *n)
{
	for (int f = 0; f < 2; f++)
		free(n->fam[f].addrs);
	free(n);
}

void shadow_free(struct shadow *s)
{
	if (!s)
		return;
	HTAB_FOREACH(&s->kernel, i, n, nx)
	free(HTAB_ENTRY(n, struct kelem, node));
	HTAB_FOREACH(&s->dyn, i, n, nx)
	free(HTAB_ENTRY(n, struct dentry, node));
	HTAB_FOREACH(&s->items, i, n, nx)
	{
		struct item *it = HTAB_ENTRY(n, struct item, node);

		shield_event_free(&it->ev);
		free(it);
	}
	HTAB_FOREACH(&s->names, i, n, nx)
	name_state_free(HTAB_ENTRY(n, struct name_state, node));
	HTAB_FOREACH(&s->blocked, i, n, nx)
	free(HTAB_ENTRY(n, struct blocked, node));
	htab_free(&s->kernel);
	htab_free(&s->dyn);
	htab_free(&s->items);
	htab_free(&s->names);
	htab_free(&s->blocked);
	for (int i = 0; i < NFT_SET_COUNT; i++)
		free(s->ranges[i]);
	response_free(&s->resp);
	cfg_free(&s->cfg);
	free(s);
}

int shadow_reconfigure(struct shadow *s, const struct shadow_config *cfg, struct shield_error *err)
{
	struct shadow_cfg c;
	int r;

	if (!s || !cfg)
		return shield_error_set(err, -EINVAL, "shadow: no configuration");
	r = cfg_build(cfg, &c, err);
	if (r < 0)
		return r;
	/* Keep each domain's history by name. */
	for (size_t i = 0; i < c.domains.n; i++) {
		size_t old = domain_index(s, c.domains.items[i]);

		if (old != SIZE_MAX)
			c.dstats[i] = s->cfg.dstats[old];
	}
	cfg_free(&s->cfg);
	s->cfg = c;
	s->resp.policy_known = false;
	return 0;
}

/* ------------------------------------------------------------ log records */

static struct name_state *name_find(const struct shadow *s, const char *name, uint64_t h)
{
	for (struct hnode *n = htab_bucket(&s->names, h); n; n = n->next) {
		struct name_state *st = HTAB_ENTRY(n, struct name_state, node);

		if (n->hash == h && strcmp(st->name, name) == 0)
			return st;
	}
	return NULL;
}

/* Forget names not answered for two set timeouts. */
static void names_gc(struct shadow *s, uint64_t now)
{
	uint64_t keep = 2 * (uint64_t)s->cfg.params.set_timeout * 1000;

	HTAB_FOREACH(&s->names, i, n, nx)
	{
		struct name_state *st = HTAB_ENTRY(n, struct name_state, node);

		if (now - st->last_mono > keep) {
			htab_remove(&s->names, n);
			name_state_free(st);
		}
	}
}

/*
 * Still full after the GC (more live names than the cap): forget a quarter
 * of them, whichever the table holds first, so the next GC is far away and
 * each new name costs O(1) amortised. Their next answer starts a new
 * history (no rotation event for it).
 */
static void names_evict(struct shadow *s)
{
	size_t target = SHADOW_NAMES_MAX / 4 * 3;

	HTAB_FOREACH(&s->names, i, n, nx)
	{
		if (s->names.n <= target)
			break;
		htab_remove(&s->names, n);
		name_state_free(HTAB_ENTRY(n, struct name_state, node));
	}
}

static int addr_cmp(const void *a, const void *b)
{
	const struct addr_prefix *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->addr, y->addr, 16);
}

/* Sort a response's addresses: mostly one or two, where qsort's call costs more than the sort. */
static void sort_addrs(struct addr_prefix *a, size_t n)
{
	if (n > 16) {
		qsort(a, n, sizeof(*a), addr_cmp);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		struct addr_prefix x = a[i];
		size_t j = i;

		for (; j > 0 && addr_cmp(&a[j - 1], &x) > 0; j--)
			a[j] = a[j - 1];
		a[j] = x;
	}
}

/* The response is complete: compare each family's addresses with the name's last answer. */
static int response_finish(struct shadow *s, const struct shadow_now *now,
			   struct shadow_output *out)
{
	struct response *rp = &s->resp;
	struct name_state *st;
	uint64_t h;
	int r = 0;

	if (!rp->active)
		return 0;
	rp->active = false;
	if (!rp->n[0] && !rp->n[1])
		return 0;
	if (resp_policy(s, NULL) != POLICY_ALLOWED)
		goto done;
	h = rp->name_hash;
	st = name_find(s, rp->name, h);
	if (!st) {
		size_t len = strlen(rp->name);

		if (s->names.n >= SHADOW_NAMES_MAX)
			names_gc(s, now->mono_ms);
		if (s->names.n >= SHADOW_NAMES_MAX)
			names_evict(s);
		st = calloc(1, sizeof(*st) + len + 1);
		if (!st)
			return -ENOMEM;
		memcpy(st->name, rp->name, len + 1);
		if (htab_insert(&s->names, &st->node, h) < 0) {
			free(st);
			return -ENOMEM;
		}
	}
	st->last_mono = now->mono_ms;
	for (int f = 0; f < 2 && r >= 0; f++) {
		struct answer *prev = &st->fam[f];
		struct addr_prefix *cur = rp->addrs[f], *add = NULL, *rem = NULL;
		size_t n = rp->n[f], na = 0, nr = 0, i = 0, j = 0;

		if (!n)
			continue;
		sort_addrs(cur, n);
		/* The same answer as last time (the common case): nothing to compare or copy. */
		if (prev->have && prev->n == n && memcmp(prev->addrs, cur, n * sizeof(*cur)) == 0) {
			prev->at_mono = rp->started_mono;
			continue;
		}
		if (prev->have) {
			add = calloc(n, sizeof(*add));
			rem = calloc(prev->n ? prev->n : 1, sizeof(*rem));
			if (!add || !rem) {
				free(add);
				free(rem);
				return -ENOMEM;
			}
			while (i < n || j < prev->n) {
				int c = i >= n	       ? 1
					: j >= prev->n ? -1
						       : addr_cmp(&cur[i], &prev->addrs[j]);

				if (c < 0)
					add[na++] = cur[i++];
				else if (c > 0)
					rem[nr++] = prev->addrs[j++];
				else
					i++, j++;
			}
			if (na || nr) {
				struct shield_event ev;
				struct domain_stats *ds;

				resp_policy(s, &ds);

				shield_event_init(&ev, SHIELD_EVENT_ROTATION);
				copy_text(ev.domain, sizeof(ev.domain), rp->name);
				snprintf(ev.set, sizeof(ev.set), "%s",
					 nft_set_name(f ? NFT_SET_ALLOW_V6 : NFT_SET_ALLOW_V4));
				ev.age_ms = (int64_t)(rp->started_mono - prev->at_mono);
				r = shield_event_set_lists(&ev, add, na, rem, nr);
				if (r >= 0)
					r = emit(s, &ev, now, out);
				if (ds)
					ds->last_rotation_wall = now->wall_ms;
			}
			free(add);
			free(rem);
		}
		if (r < 0)
			return r;
		/* The current answer becomes the previous one. */
		free(prev->addrs);
		prev->addrs = malloc(n * sizeof(*cur));
		if (!prev->addrs) {
			prev->have = false;
			prev->n = 0;
			return -ENOMEM;
		}
		memcpy(prev->addrs, cur, n * sizeof(*cur));
		prev->n = n;
		prev->have = true;
		prev->at_mono = rp->started_mono; /* when the answer came, not when it ended */
	}
done:
	rp->n[0] = rp->n[1] = 0;
	return r;
}

static int response_add(struct response *rp, const struct addr_prefix *a)
{
	int f = a->family == AF_INET6;

	for (size_t i = 0; i < rp->n[f]; i++)
		if (addr_equal(&rp->addrs[f][i], a))
			return 0;
	if (rp->n[f] >= RESPONSE_ADDRS_MAX)
		return 0;
	if (rp->n[f] == rp->cap[f]) {
		struct addr_prefix *n =
			shield_grow(rp->addrs[f], &rp->cap[f], rp->n[f] + 1, sizeof(*n), 8);

		if (!n)
			return -ENOMEM;
		rp->addrs[f] = n;
	}
	rp->addrs[f][rp->n[f]++] = *a;
	return 0;
}

static bool same_response(const struct response *rp, const struct dnsmasq_log_rec *rec)
{
	if (rp->pid != rec->pid || rp->has_serial != rec->has_serial)
		return false;
	if (rec->has_serial)
		return rp->serial == rec->serial;
	return strcmp(rp->name, rec->name) == 0;
}

static int blocked_query(struct shadow *s, const struct dnsmasq_log_rec *rec, const char *why,
			 const struct shadow_now *now, struct shadow_output *out)
{
	struct shield_event ev;
	uint64_t h = name_hash(rec->name);
	struct blocked *b = NULL;

	s->blocked_total++;
	if (s->cfg.blocked_repeat_ms) {
		for (struct hnode *n = htab_bucket(&s->blocked, h); n; n = n->next) {
			struct blocked *x = HTAB_ENTRY(n, struct blocked, node);

			if (n->hash == h && strcmp(x->name, rec->name) == 0) {
				b = x;
				break;
			}
		}
		if (b && now->mono_ms - b->last_mono < s->cfg.blocked_repeat_ms)
			return 0;
		if (!b) {
			size_t len = strlen(rec->name);

			if (s->blocked.n >= BLOCKED_NAMES_MAX) {
				HTAB_FOREACH(&s->blocked, i, n, nx)
				{
					htab_remove(&s->blocked, n);
					free(HTAB_ENTRY(n, struct blocked, node));
				}
			}
			b = calloc(1, sizeof(*b) + len + 1);
			if (!b)
				return -ENOMEM;
			memcpy(b->name, rec->name, len + 1);
			if (htab_insert(&s->blocked, &b->node, h) < 0) {
				free(b);
				return -ENOMEM;
			}
		}
		b->last_mono = now->mono_ms;
	}
	shield_event_init(&ev, SHIELD_EVENT_BLOCKED_QUERY);
	copy_text(ev.domain, sizeof(ev.domain), rec->name);
	if (rec->has_serial && rec->serial == s->last_query_serial && s->last_query_type[0])
		shield_event_set_detail(&ev, "query[%s]: %s", s->last_query_type, why);
	else if (rec->qtype[0])
		shield_event_set_detail(&ev, "query[%s]: %s", rec->qtype, why);
	else
		shield_event_set_detail(&ev, "%s", why);
	return emit(s, &ev, now, out);
}

/* A cached answer: its address must still be in the set. */
static int cached_answer(struct shadow *s, const struct dnsmasq_log_rec *rec,
			 const struct shadow_now *now, struct shadow_output *out)
{
	enum nft_set_id set = rec->addr.family == AF_INET6 ? NFT_SET_ALLOW_V6 : NFT_SET_ALLOW_V4;
	const char *match = NULL;
	struct shield_event ev;
	struct item *it = NULL;
	struct dentry *d;
	struct ekey k;
	int r;

	if (rec->answer != DNSMASQ_ANSWER_ADDR ||
	    name_policy(s, rec->name, &match) != POLICY_ALLOWED)
		return 0;
	if (!s->set_known[set] || !s->set_present[set])
		return 0;
	ekey_from_prefix(&k, set, &rec->addr);
	if (kernel_covers(s, &k, now->mono_ms) || deny_overlaps(s, set, &k))
		return 0;
	/*
	 * dnsmasq logged adding it and its timer has not run out: the kernel's
	 * notification is just not read yet (or a delete is reported as
	 * drift.missing on its own).
	 */
	d = dyn_find(s, &k);
	if (d && d->expires_at > now->mono_ms + SHADOW_EXPIRY_SLACK_MS)
		return 0;
	/* The answer is explained by the allowlist: the re-added element must be too. */
	d = dyn_upsert(s, &k);
	if (!d)
		return -ENOMEM;
	snprintf(d->domain, sizeof(d->domain), "%s", match);
	d->logged_at = now->mono_ms;
	d->expires_at = now->mono_ms + (uint64_t)s->cfg.params.set_timeout * 1000;
	note_expiry(s, d->expires_at);
	shield_event_init(&ev, SHIELD_EVENT_DRIFT_STALE_ANSWER);
	event_elem(&ev, &k);
	copy_text(ev.domain, sizeof(ev.domain), rec->name);
	ev.repaired = s->cfg.repair;
	shield_event_set_detail(&ev, "dnsmasq served a cached answer the set no longer holds%s",
				s->cfg.repair ? "; re-added with the set timeout" : "");
	r = item_open(s, &k, 0, &ev, now, out, &it);
	if (r == 1 && s->cfg.repair) {
		it->has_repair = true;
		it->repair.set = set;
		it->repair.addr = rec->addr;
		it->repair.timeout_ms = (uint64_t)s->cfg.params.set_timeout * 1000;
		it->repair.cause = SHIELD_EVENT_DRIFT_STALE_ANSWER;
		return out_repair(out, &it->repair);
	}
	return r < 0 ? r : 0;
}

/* An nftset add: an expected dynamic entry. */
static int nftset_add(struct shadow *s, const struct dnsmasq_log_rec *rec,
		      const struct shadow_now *now)
{
	int set = dnsmasq_log_rec_set(rec);
	struct domain_stats *ds;
	struct kelem *e;
	struct dentry *d;
	struct ekey k;
	uint64_t h;

	if (set < 0 || !set_is_allow((enum nft_set_id)set) ||
	    rec->addr.family != nft_set_family((enum nft_set_id)set))
		return 0;
	if (strnlen(rec->name, sizeof(d->domain)) >= sizeof(d->domain))
		return 0; /* not a configured domain: those are at most 253 bytes */
	ekey_from_prefix(&k, (enum nft_set_id)set, &rec->addr);
	h = ekey_hash(&k); /* both tables are looked up with this key */
	d = dyn_upsert_h(s, &k, h);
	if (!d)
		return -ENOMEM;
	copy_text(d->domain, sizeof(d->domain), rec->name);
	d->logged_at = now->mono_ms;
	/* Re-adding a present element does not refresh its kernel timeout. */
	d->expires_at = now->mono_ms + (uint64_t)s->cfg.params.set_timeout * 1000;
	e = kernel_find_h(s, &k, h);
	if (e && e->has_expiry && kelem_live(e, now->mono_ms) && e->expires_at < d->expires_at)
		d->expires_at = e->expires_at;
	note_expiry(s, d->expires_at);
	ds = stats_for(s, rec->name);
	if (ds)
		ds->last_answer_wall = now->wall_ms;
	return 0;
}

int shadow_log_record(struct shadow *s, const struct dnsmasq_log_rec *rec,
		      const struct shadow_now *now, struct shadow_output *out)
{
	int r;

	if (!s || !rec || !now || !out)
		return -EINVAL;
	if (rec->pid > 0 && s->cfg.dnsmasq_pid > 0 && rec->pid != s->cfg.dnsmasq_pid) {
		/* A forked TCP child of dnsmasq writes to the sets too. */
		bool known = false;

		for (size_t i = 0; i < CHILD_PIDS; i++)
			known = known || s->child_pids[i] == rec->pid;
		if (!known && rec->has_serial) {
			s->child_pids[s->next_child] = rec->pid;
			s->next_child = (s->next_child + 1) % CHILD_PIDS;
		}
	}
	/* A line of another response completes the one being collected. */
	if (s->resp.active && rec->has_serial && !same_response(&s->resp, rec)) {
		r = response_finish(s, now, out);
		if (r < 0)
			return r;
	}
	switch (rec->kind) {
	case DNSMASQ_LOG_QUERY:
		s->last_query_serial = rec->serial;
		copy_text(s->last_query_type, sizeof(s->last_query_type), rec->qtype);
		if (s->cfg.dns_policy == DNS_POLICY_OPEN && s->cfg.params.mode == SHIELD_MODE_UP &&
		    name_policy(s, rec->name, NULL) == POLICY_NONE)
			return blocked_query(
				s, rec, "no allowlist entry covers it (open DNS policy)", now, out);
		return 0;
	case DNSMASQ_LOG_CONFIG:
		if (rec->answer != DNSMASQ_ANSWER_NXDOMAIN)
			return 0;
		return blocked_query(s, rec,
				     name_policy(s, rec->name, NULL) == POLICY_DENIED
					     ? "denied domain, answered NXDOMAIN"
					     : "no allowlist entry covers it, answered NXDOMAIN",
				     now, out);
	case DNSMASQ_LOG_NFTSET:
		return nftset_add(s, rec, now);
	case DNSMASQ_LOG_REPLY:
		if (!s->resp.active) {
			s->resp.active = true;
			s->resp.pid = rec->pid;
			s->resp.has_serial = rec->has_serial;
			s->resp.serial = rec->serial;
			s->resp.started_mono = now->mono_ms;
			copy_text(s->resp.name, sizeof(s->resp.name), rec->name);
			s->resp.policy_known = false;
			s->resp.name_hash = name_hash(s->resp.name);
			/* Its answer history is read when the response ends: fetch it meanwhile. */
			if (s->names.nb)
				__builtin_prefetch(
					s->names.b[s->resp.name_hash & (s->names.nb - 1)]);
		}
		if (rec->answer == DNSMASQ_ANSWER_ADDR) {
			struct domain_stats *ds;

			resp_policy(s, &ds);

			if (ds)
				ds->last_answer_wall = now->wall_ms;
			return response_add(&s->resp, &rec->addr);
		}
		return 0;
	case DNSMASQ_LOG_CACHED:
		return cached_answer(s, rec, now, out);
	default:
		return 0;
	}
}

/* -------------------------------------------------------------- dumps */

/* Replace the kernel view of one set with a dump. */
static int apply_set_dump(struct shadow *s, enum nft_set_id id, const struct nft_set *set,
			  uint32_t gen, uint64_t now)
{
	s->set_known[id] = true;
	s->set_present[id] = set && set->present;
	s->set_timeout_ms[id] = set && set->present ? set->timeout_ms : 0;
	for (size_t i = 0; s->set_present[id] && i < set->n_elems; i++) {
		const struct nft_elem *el = &set->elems[i];
		struct kelem *e;
		struct ekey k;

		if (el->family && el->family != nft_set_family(id))
			continue;
		ekey_from_range(&k, id, el->first, el->last);
		e = kernel_find(s, &k);
		if (!e) {
			e = kernel_add(s, &k);
			if (!e)
				return -ENOMEM;
		}
		e->gen = gen;
		kelem_timers(s, e, el, true, now);
	}
	/* What the dump no longer holds was deleted or expired. */
	HTAB_FOREACH(&s->kernel, i, n, nx)
	{
		struct kelem *e = HTAB_ENTRY(n, struct kelem, node);

		if (e->key.set == id && e->gen != gen)
			kernel_remove(s, e);
	}
	return 0;
}

/*
 * Whether e waits for the query log: one of our writers (dnsmasq) added it,
 * and the log has not been read to its end since, with SHADOW_LOG_LAG_MS
 * for dnsmasq to write the line that goes with the add.
 */
static bool awaits_log(const struct shadow *s, const struct kelem *e)
{
	return s->log_tracked && e->ours_added_at &&
	       s->log_read_at < e->ours_added_at + SHADOW_LOG_LAG_MS;
}

/* Check the sets in mask against the expected content; resolve what cleared. */
static int check_sets(struct shadow *s, unsigned mask, const struct shadow_now *now,
		      struct shadow_output *out)
{
	static const enum shield_event_kind set_kinds[] = {
		SHIELD_EVENT_DRIFT_UNEXPLAINED,
		SHIELD_EVENT_DRIFT_MISSING,
		SHIELD_EVENT_DRIFT_DENIED_PRESENT,
	};
	uint64_t t = now->mono_ms;
	unsigned live = 0;
	int r;

	for (int id = 0; id < NFT_SET_COUNT; id++)
		if ((mask & (1u << id)) && s->set_present[id])
			live |= 1u << id;
	s->item_gen++;
	s->awaiting_log = 0;

	/* Dynamic entries: learn the kernel's expiry, forget the expired. */
	HTAB_FOREACH(&s->dyn, i, n, nx)
	{
		struct dentry *d = HTAB_ENTRY(n, struct dentry, node);
		struct kelem *e;

		if (!(live & (1u << d->key.set)))
			continue;
		e = kernel_find(s, &d->key);
		if (e && kelem_live(e, t)) {
			/* The kernel's timer when it ends first (a re-add did not refresh
			 * it), never a longer one somebody else set. */
			if (e->has_expiry && e->expires_at < d->expires_at) {
				d->expires_at = e->expires_at;
				note_expiry(s, d->expires_at);
			}
		} else if (d->expires_at <= t + SHADOW_EXPIRY_SLACK_MS) {
			dyn_remove(s, d);
		}
	}
	/* Adopt what was there before the log could explain it (attach, after a gap). */
	HTAB_FOREACH(&s->kernel, i, n, nx)
	{
		struct kelem *e = HTAB_ENTRY(n, struct kelem, node);
		const char *domain;
		struct dentry *d;

		if (!(live & (1u << e->key.set)) || !s->adopt[e->key.set] ||
		    !set_is_allow(e->key.set) || !e->has_expiry || !ekey_is_host(&e->key) ||
		    (e->has_writer && !writer_is_ours(s, &e->writer)) ||
		    judge_allow(s, &e->key, t, &domain) != VERDICT_UNEXPLAINED || domain ||
		    e->expires_at >
			    t + (uint64_t)s->cfg.params.set_timeout * 1000 + SHADOW_EXPIRY_SLACK_MS)
			continue;
		d = dyn_upsert(s, &e->key);
		if (!d)
			return -ENOMEM;
		d->domain[0] = '\0';
		d->logged_at = t;
		d->expires_at = e->expires_at;
		note_expiry(s, d->expires_at);
	}
	for (int id = 0; id < NFT_SET_COUNT; id++)
		if (mask & (1u << id))
			s->adopt[id] = false;

	/* Every allow-set element: explained? */
	HTAB_FOREACH(&s->kernel, i, n, nx)
	{
		struct kelem *e = HTAB_ENTRY(n, struct kelem, node);
		const char *domain;
		enum verdict v;

		if (!(live & (1u << e->key.set)) || !set_is_allow(e->key.set) || !kelem_live(e, t))
			continue;
		v = judge_allow(s, &e->key, t, &domain);
		if ((v == VERDICT_UNEXPLAINED || v == VERDICT_OUTLIVED) && awaits_log(s, e)) {
			/* dnsmasq added it; its log line may not have been read yet. */
			struct item *it = item_find(s, SHIELD_EVENT_DRIFT_UNEXPLAINED, &e->key, 0);

			if (it)
				it->gen = s->item_gen;
			s->awaiting_log++;
			continue;
		}
		r = open_verdict(s, e, v, domain, now, out);
		if (r < 0)
			return r;
	}
	/* Static entries (allow and deny) must be there. */
	for (size_t i = 0; i < s->cfg.params.n_allow + s->cfg.params.n_deny; i++) {
		const struct sentry *e = &s->cfg.sentries[i];
		struct item *it;

		if (!(live & (1u << e->key.set)) || kernel_find(s, &e->key))
			continue;
		it = item_find(s, SHIELD_EVENT_DRIFT_MISSING, &e->key, 0);
		if (it) {
			it->gen = s->item_gen;
			if (it->has_repair && s->cfg.repair &&
			    (r = out_repair(out, &it->repair)) < 0)
				return r;
			continue;
		}
		r = open_missing(s, &e->key, NULL, true, false, NULL,
				 set_is_allow(e->key.set) ? "static entry" : "deny.list entry", now,
				 out);
		if (r < 0)
			return r;
	}
	/* Dynamic entries before their expiry must be there. */
	HTAB_FOREACH(&s->dyn, i, n, nx)
	{
		struct dentry *d = HTAB_ENTRY(n, struct dentry, node);

		if (!(live & (1u << d->key.set)) || d->logged_at > t ||
		    d->expires_at <= t + SHADOW_EXPIRY_SLACK_MS ||
		    dentry_policy(s, d) != POLICY_ALLOWED || kernel_covers(s, &d->key, t) ||
		    static_find(s, &d->key))
			continue;
		r = open_missing(s, &d->key, d->domain, false, false, NULL,
				 d->domain[0] ? "logged answer before its timeout"
					      : "inherited answer before its timeout",
				 now, out);
		if (r < 0)
			return r;
	}
	/* Resolve what no longer holds. */
	HTAB_FOREACH(&s->items, i, n, nx)
	{
		struct item *it = HTAB_ENTRY(n, struct item, node);
		bool set_kind = false;

		if (!(mask & (1u << it->key.set)))
			continue;
		for (size_t j = 0; j < ARRAY_SIZE(set_kinds); j++)
			set_kind = set_kind || it->kind == set_kinds[j];
		if (set_kind && (it->gen != s->item_gen || !(live & (1u << it->key.set)))) {
			item_close(s, it);
		} else if (it->kind == SHIELD_EVENT_DRIFT_STALE_ANSWER) {
			if (!(live & (1u << it->key.set)) || kernel_covers(s, &it->key, t))
				item_close(s, it);
			else if (it->has_repair && s->cfg.repair &&
				 (r = out_repair(out, &it->repair)) < 0)
				return r;
		}
	}
	return 0;
}

/* ruleset.tampered: the table's skeleton against the mode's. */
static int check_ruleset(struct shadow *s, const struct nft_ruleset *rs,
			 const struct shadow_writer *writer, const struct shadow_now *now,
			 struct shadow_output *out)
{
	struct nft_ruleset exp = s->cfg.expected, act = *rs;
	struct shield_error e = {0};
	static const struct ekey zero;
	uint64_t dh = 0;
	int r = 0;

	/* Elements are the set checks' business: compare the skeleton only. */
	for (int i = 0; i < NFT_SET_COUNT; i++)
		exp.sets[i].n_elems = act.sets[i].n_elems = 0;
	if (nft_ruleset_verify(&exp, &act, &e) < 0) {
		struct shield_event ev;

		dh = htab_hash_bytes(HTAB_HASH_INIT, e.msg, strnlen(e.msg, sizeof(e.msg))) | 1;
		shield_event_init(&ev, SHIELD_EVENT_RULESET_TAMPERED);
		event_writer(&ev, writer != NULL, writer);
		shield_event_set_detail(&ev, "%s (mode %s expected, the table looks like %s)",
					e.msg, shield_mode_name(s->cfg.params.mode),
					shield_mode_name(nft_ruleset_detect_mode(rs)));
		r = item_open(s, &zero, dh, &ev, now, out, NULL);
		if (r < 0)
			return r;
	}
	HTAB_FOREACH(&s->items, i, n, nx)
	{
		struct item *it = HTAB_ENTRY(n, struct item, node);

		if (it->kind == SHIELD_EVENT_RULESET_TAMPERED && it->detail_hash != dh)
			item_close(s, it);
		else if (it->kind == SHIELD_EVENT_LOG_GAP)
			item_close(s, it); /* the kernel view is whole again */
	}
	return 0;
}

int shadow_kernel_dump(struct shadow *s, const struct nft_ruleset *rs,
		       const struct shadow_writer *writer, const struct shadow_now *now,
		       struct shadow_output *out)
{
	uint32_t gen;
	int r;

	if (!s || !rs || !now || !out)
		return -EINVAL;
	gen = ++s->dump_gen;
	for (int id = 0; id < NFT_SET_COUNT; id++) {
		r = apply_set_dump(s, (enum nft_set_id)id, rs->table_present ? &rs->sets[id] : NULL,
				   gen, now->mono_ms);
		if (r < 0)
			return r;
	}
	r = check_ruleset(s, rs, writer, now, out);
	if (r < 0)
		return r;
	return check_sets(s, (1u << NFT_SET_COUNT) - 1, now, out);
}

int shadow_kernel_set(struct shadow *s, enum nft_set_id id, const struct nft_set *set,
		      const struct shadow_now *now, struct shadow_output *out)
{
	int r;

	if (!s || !set || !now || !out || (unsigned)id >= NFT_SET_COUNT)
		return -EINVAL;
	r = apply_set_dump(s, id, set, ++s->dump_gen, now->mono_ms);
	if (r < 0)
		return r;
	return check_sets(s, 1u << id, now, out);
}

void shadow_log_read(struct shadow *s, const struct shadow_now *now)
{
	if (!s || !now)
		return;
	s->log_tracked = true;
	if (now->mono_ms > s->log_read_at)
		s->log_read_at = now->mono_ms;
}

size_t shadow_awaiting_log(const struct shadow *s)
{
	return s ? s->awaiting_log : 0;
}

int shadow_kernel_changes(struct shadow *s, const struct shadow_elem_change *changes, size_t n,
			  const struct shadow_writer *writer, const struct shadow_now *now,
			  struct shadow_output *out)
{
	static const enum shield_event_kind on_add[] = {SHIELD_EVENT_DRIFT_MISSING,
							SHIELD_EVENT_DRIFT_STALE_ANSWER};
	static const enum shield_event_kind on_del[] = {SHIELD_EVENT_DRIFT_UNEXPLAINED,
							SHIELD_EVENT_DRIFT_DENIED_PRESENT};
	bool ours;
	int r;

	if (!s || (n && !changes) || !now || !out)
		return -EINVAL;
	ours = writer_is_ours(s, writer);
	for (size_t i = 0; i < n; i++) {
		const struct shadow_elem_change *c = &changes[i];
		enum nft_set_id set = c->set;
		struct kelem *e;
		struct ekey k;

		if ((unsigned)set >= NFT_SET_COUNT ||
		    (c->elem.family && c->elem.family != nft_set_family(set)))
			continue;
		ekey_from_range(&k, set, c->elem.first, c->elem.last);
		e = kernel_find(s, &k);
		if (c->add) {
			const char *domain = NULL;
			enum verdict v;

			if (!e) {
				e = kernel_add(s, &k);
				if (!e)
					return -ENOMEM;
			}
			e->gen = s->dump_gen;
			kelem_timers(s, e, &c->elem, false, now->mono_ms);
			e->has_writer = writer != NULL;
			if (writer)
				e->writer = *writer;
			e->ours_added_at = ours ? (now->mono_ms ? now->mono_ms : 1) : 0;
			items_close_at(s, &k, on_add, ARRAY_SIZE(on_add));
			/* Our own writers are judged at the next dump, against the bundle. */
			if (!set_is_allow(set) || ours || !s->set_known[set])
				continue;
			v = judge_allow(s, &k, now->mono_ms, &domain);
			r = open_verdict(s, e, v, domain, now, out);
			if (r < 0)
				return r;
			continue;
		}
		if (e)
			kernel_remove(s, e);
		items_close_at(s, &k, on_del, ARRAY_SIZE(on_del));
		if (ours || !s->set_known[set] || !s->set_present[set])
			continue;
		if (static_find(s, &k)) {
			r = open_missing(s, &k, NULL, true, writer != NULL, writer,
					 set_is_allow(set) ? "static entry" : "deny.list entry",
					 now, out);
		} else {
			struct dentry *d = ekey_is_host(&k) ? dyn_find(s, &k) : NULL;

			if (!d || d->expires_at <= now->mono_ms + SHADOW_EXPIRY_SLACK_MS ||
			    dentry_policy(s, d) != POLICY_ALLOWED)
				continue;
			r = open_missing(s, &k, d->domain, false, writer != NULL, writer,
					 d->domain[0] ? "logged answer before its timeout"
						      : "inherited answer before its timeout",
					 now, out);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int shadow_tick(struct shadow *s, const struct shadow_now *now, struct shadow_output *out)
{
	uint64_t t;
	int r;

	if (!s || !now || !out)
		return -EINVAL;
	t = now->mono_ms;
	if (s->resp.active && t - s->resp.started_mono >= RESPONSE_IDLE_MS) {
		r = response_finish(s, now, out);
		if (r < 0)
			return r;
	}
	/* Nothing to forget before the earliest expiry: most ticks end here. */
	if (t >= s->next_sweep) {
		s->next_sweep = UINT64_MAX;
		HTAB_FOREACH(&s->kernel, i, n, nx)
		{
			struct kelem *e = HTAB_ENTRY(n, struct kelem, node);

			if (!e->has_expiry)
				continue;
			if (e->expires_at + SHADOW_EXPIRY_SLACK_MS <= t)
				kernel_remove(s, e);
			else
				note_expiry(s, e->expires_at);
		}
		HTAB_FOREACH(&s->dyn, i, n, nx)
		{
			struct dentry *d = HTAB_ENTRY(n, struct dentry, node);

			if (d->expires_at + SHADOW_EXPIRY_SLACK_MS > t)
				note_expiry(s, d->expires_at);
			else if (!kernel_find(s, &d->key))
				dyn_remove(s, d);
		}
	}
	if (t >= s->next_names_gc) {
		s->next_names_gc = t + NAMES_GC_MS;
		if (s->names.n >= SHADOW_NAMES_MAX / 2)
			names_gc(s, t);
	}
	return 0;
}

/* ------------------------------------------------------ caller-seen events */

int shadow_repair_failed(struct shadow *s, const struct shadow_repair *rp, const char *why,
			 const struct shadow_now *now, struct shadow_output *out)
{
	struct shield_event ev;
	struct ekey k;

	if (!s || !rp || !now || !out || (unsigned)rp->set >= NFT_SET_COUNT)
		return -EINVAL;
	ekey_from_prefix(&k, rp->set, &rp->addr);
	shield_event_init(&ev, rp->cause);
	event_elem(&ev, &k);
	shield_event_set_detail(&ev, "repair failed: %s", why ? why : "unknown error");
	{
		struct item *it = item_find(s, rp->cause, &k, 0);

		if (it) {
			snprintf(ev.domain, sizeof(ev.domain), "%s", it->ev.domain);
			it->ev.repaired = false;
			snprintf(it->ev.detail, sizeof(it->ev.detail), "%s", ev.detail);
		}
	}
	return emit(s, &ev, now, out);
}

int shadow_dnsmasq_state(struct shadow *s, bool up, int32_t pid, const char *detail,
			 const struct shadow_now *now, struct shadow_output *out)
{
	static const struct ekey zero;
	struct item *it;

	if (!s || !now || !out)
		return -EINVAL;
	it = item_find(s, SHIELD_EVENT_DNSMASQ_DOWN, &zero, 0);
	if (up) {
		if (it)
			item_close(s, it);
		if (pid > 0)
			s->cfg.dnsmasq_pid = pid;
		return 0;
	}
	if (!it) {
		struct shield_event ev;

		shield_event_init(&ev, SHIELD_EVENT_DNSMASQ_DOWN);
		ev.pid = s->cfg.dnsmasq_pid;
		snprintf(ev.comm, sizeof(ev.comm), "dnsmasq");
		shield_event_set_detail(&ev, "%s", detail && *detail ? detail : "dnsmasq exited");
		return item_open(s, &zero, 0, &ev, now, out, NULL) < 0 ? -ENOMEM : 0;
	}
	return 0;
}

int shadow_log_gap(struct shadow *s, const char *detail, const struct shadow_now *now,
		   struct shadow_output *out)
{
	static const struct ekey zero;
	struct shield_event ev;
	struct item *it;

	if (!s || !now || !out)
		return -EINVAL;
	for (int i = 0; i < NFT_SET_COUNT; i++)
		s->adopt[i] = true;
	shield_event_init(&ev, SHIELD_EVENT_LOG_GAP);
	shield_event_set_detail(&ev, "%s", detail && *detail ? detail : "log lines may be lost");
	it = item_find(s, SHIELD_EVENT_LOG_GAP, &zero, 0);
	if (it)
		return emit(s, &ev, now, out); /* another gap while one is open: its own event */
	return item_open(s, &zero, 0, &ev, now, out, NULL) < 0 ? -ENOMEM : 0;
}

int shadow_info(struct shadow *s, enum shield_event_kind kind, const char *detail,
		const struct shadow_now *now, struct shadow_output *out)
{
	struct shield_event ev;

	if (!s || !now || !out || (unsigned)kind >= SHIELD_EVENT_KIND_COUNT)
		return -EINVAL;
	shield_event_init(&ev, kind);
	if (detail)
		shield_event_set_detail(&ev, "%s", detail);
	return emit(s, &ev, now, out);
}

uint64_t shadow_count(const struct shadow *s, enum shield_event_kind kind)
{
	return (unsigned)kind < SHIELD_EVENT_KIND_COUNT ? s->counts[kind] : 0;
}

size_t shadow_open_count(const struct shadow *s, enum shield_event_kind kind)
{
	return (unsigned)kind < SHIELD_EVENT_KIND_COUNT ? s->open[kind] : 0;
}

bool shadow_clean(const struct shadow *s)
{
	for (int k = 0; k < SHIELD_EVENT_KIND_COUNT; k++)
		if (shield_event_kind_is_check((enum shield_event_kind)k) && s->open[k])
			return false;
	return true;
}

void shadow_stats(const struct shadow *s, const struct shadow_now *now, struct shadow_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->domains = s->cfg.domains.n;
	st->blocked_queries = s->blocked_total;
	for (int i = 0; i < NFT_SET_COUNT; i++)
		st->set_present[i] = s->set_known[i] && s->set_present[i];
	HTAB_FOREACH(&s->kernel, i, n, nx)
	{
		const struct kelem *e = HTAB_ENTRY(n, struct kelem, node);

		if (e->key.set < NFT_SET_COUNT && kelem_live(e, now->mono_ms))
			st->set_elems[e->key.set]++;
	}
}

/* -------------------------------------------------------------- report */

static json_t *ts_or_null(uint64_t wall)
{
	char ts[TIMESTAMP_MAX];

	if (!wall)
		return json_null();
	return json_string(shield_event_format_ts(wall, ts, sizeof(ts)));
}

struct addr_row {
	size_t domain;
	const struct dentry *d;
};

static int addr_row_cmp(const void *a, const void *b)
{
	const struct addr_row *x = a, *y = b;

	if (x->domain != y->domain)
		return x->domain < y->domain ? -1 : 1;
	if (x->d->key.set != y->d->key.set)
		return x->d->key.set < y->d->key.set ? -1 : 1;
	return memcmp(x->d->key.first, y->d->key.first, 16);
}

static int item_id_cmp(const void *a, const void *b)
{
	const struct item *x = *(const struct item *const *)a, *y = *(const struct item *const *)b;

	return x->ev.id < y->ev.id ? -1 : x->ev.id > y->ev.id;
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

static json_t *report_domains(const struct shadow *s, uint64_t t)
{
	json_t *domains = json_array(), **addrs = NULL;
	struct addr_row *rows = NULL;
	size_t n_rows = 0, nd = s->cfg.domains.n;

	if (!domains)
		return NULL;
	rows = calloc(s->dyn.n ? s->dyn.n : 1, sizeof(*rows));
	addrs = calloc(nd ? nd : 1, sizeof(*addrs));
	if (!rows || !addrs)
		goto fail;
	HTAB_FOREACH(&s->dyn, i, n, nx)
	{
		const struct dentry *d = HTAB_ENTRY(n, struct dentry, node);
		size_t idx;

		if (!d->domain[0] || d->expires_at <= t)
			continue;
		idx = domain_index(s, d->domain);
		if (idx == SIZE_MAX)
			continue;
		rows[n_rows].domain = idx;
		rows[n_rows].d = d;
		n_rows++;
	}
	qsort(rows, n_rows, sizeof(*rows), addr_row_cmp);
	for (size_t i = 0; i < nd; i++)
		if (!(addrs[i] = json_array()))
			goto fail;
	for (size_t i = 0; i < n_rows; i++) {
		const struct dentry *d = rows[i].d;
		struct addr_prefix a;
		char text[ADDR_TEXT_MAX];
		json_t *o;

		ekey_host(&d->key, &a);
		addr_format(&a, text);
		o = json_pack("{s:s, s:s, s:I}", "ip", text, "set", nft_set_name(d->key.set),
			      "expires_in_ms", (json_int_t)(d->expires_at - t));
		if (!o || json_array_append_new(addrs[rows[i].domain], o) < 0)
			goto fail;
	}
	for (size_t i = 0; i < nd; i++) {
		json_t *o = json_pack(
			"{s:s, s:o, s:o, s:o}", "domain", s->cfg.domains.items[i], "addresses",
			addrs[i], "last_answer", ts_or_null(s->cfg.dstats[i].last_answer_wall),
			"last_rotation", ts_or_null(s->cfg.dstats[i].last_rotation_wall));

		addrs[i] = NULL; /* json_pack "o" took it, even on failure */
		if (!o || json_array_append_new(domains, o) < 0)
			goto fail;
	}
	free(rows);
	free(addrs);
	return domains;
fail:
	for (size_t i = 0; addrs && i < nd; i++)
		json_decref(addrs[i]);
	free(rows);
	free(addrs);
	json_decref(domains);
	return NULL;
}

static json_t *report_checks(const struct shadow *s)
{
	json_t *checks = json_array();
	const struct item **its = NULL;
	size_t n_its = 0;

	if (!checks)
		return NULL;
	its = calloc(s->items.n ? s->items.n : 1, sizeof(*its));
	if (!its)
		goto fail;
	HTAB_FOREACH(&s->items, i, n, nx)
	its[n_its++] = HTAB_ENTRY(n, struct item, node);
	qsort(its, n_its, sizeof(*its), item_id_cmp);
	for (int k = 0; k < SHIELD_EVENT_KIND_COUNT; k++) {
		json_t *open, *o;

		if (!shield_event_kind_is_check((enum shield_event_kind)k))
			continue;
		open = json_array();
		if (!open)
			goto fail;
		for (size_t i = 0; i < n_its; i++) {
			json_t *ev;

			if ((int)its[i]->kind != k)
				continue;
			ev = shield_event_to_json(&its[i]->ev);
			if (!ev || json_array_append_new(open, ev) < 0) {
				json_decref(open);
				goto fail;
			}
		}
		o = json_pack("{s:s, s:s, s:I, s:o}", "kind",
			      shield_event_kind_name((enum shield_event_kind)k), "state",
			      s->open[k] ? "open" : "ok", "count", (json_int_t)s->counts[k], "open",
			      open);
		if (!o || json_array_append_new(checks, o) < 0)
			goto fail;
	}
	free(its);
	return checks;
fail:
	free(its);
	json_decref(checks);
	return NULL;
}

json_t *shadow_report(const struct shadow *s, const struct shadow_report_info *info,
		      const struct shadow_now *now)
{
	static const struct shadow_report_info none;
	json_t *domains, *checks;

	if (!s || !now)
		return NULL;
	if (!info)
		info = &none;
	domains = report_domains(s, now->mono_ms);
	checks = report_checks(s);
	if (!domains || !checks) {
		json_decref(domains);
		json_decref(checks);
		return NULL;
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:i, s:b}, s:o, s:I, s:o, s:b}",
			 "id", or_empty(info->id), "name", or_empty(info->name), "state_dir",
			 or_empty(info->state_dir), "netns", or_empty(info->netns), "source",
			 or_empty(info->source), "mode", shield_mode_name(s->cfg.params.mode),
			 "dns_policy", dns_policy_name(s->cfg.dns_policy), "dnsmasq", "pid",
			 (int)s->cfg.dnsmasq_pid, "alive", (int)info->dnsmasq_alive, "domains",
			 domains, "blocked_queries", (json_int_t)s->blocked_total, "checks", checks,
			 "clean", (int)shadow_clean(s));
}
