/* SPDX-License-Identifier: Apache-2.0 */
/* Run-time changes of a shielded container (see control.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shield/audit.h"
#include "shield/bundle-rules.h"
#include "shield/bundle.h"
#include "shield/control.h"
#include "shield/dnsmasq-config.h"
#include "shield/dnsmasq-log.h"
#include "shield/dnsmasq-proc.h"
#include "shield/grow.h"
#include "shield/launch.h"
#include "shield/nft-netlink.h"

/* A learnt element dnsmasq may let expire between our dump and our delete: try again. */
#define SYNC_ATTEMPTS 3

/* ------------------------------------------------------------------- lock */

/*
 * Under the lock: is c still what the registry says? Resolved with an
 * entry, the bundle's entry must still be that one (id, container pid,
 * namespace); resolved without, no live entry may have appeared.
 */
static int check_current(const struct control_ctx *c, struct shield_error *err)
{
	struct registry_entry now;
	bool same;
	int r;

	if (!c->runtime_dir || !c->runtime_dir[0])
		return 0;
	r = registry_find_bundle(c->runtime_dir, c->dirfd, &now, err);
	if (r < 0)
		return shield_error_prefix(err, "registry: ");
	if (c->entry)
		same = r > 0 && strcmp(now.id, c->entry->id) == 0 && now.pid == c->entry->pid &&
		       now.netns_dev == c->entry->netns_dev && now.netns_ino == c->entry->netns_ino;
	else
		same = r == 0 || !registry_entry_netns_alive(&now);
	if (same)
		return 0;
	return shield_error_set(err, -ESTALE, "it %s while this command waited for the bundle lock",
				c->entry ? "stopped or restarted" : "started");
}

int control_lock(int dirfd, struct shield_error *err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	/* O_NONBLOCK: a FIFO planted under the name cannot hang the open. */
	fd = openat(dirfd, CONTROL_LOCK_FILE,
		    O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
	if (fd < 0) {
		int r = negative_errno();

		if (r == -ELOOP)
			return shield_error_set(err, r, "%s: is a symlink (refused)",
						CONTROL_LOCK_FILE);
		return shield_error_set(err, r, "%s: %s", CONTROL_LOCK_FILE, shield_strerror(r));
	}
	if (fstat(fd, &st) < 0)
		return shield_error_set(err, negative_errno(), "%s: %s", CONTROL_LOCK_FILE,
					strerror(errno));
	if (!S_ISREG(st.st_mode))
		return shield_error_set(err, -EINVAL, "%s: not a regular file", CONTROL_LOCK_FILE);
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR)
			return shield_error_set(err, negative_errno(), "%s: flock: %s",
						CONTROL_LOCK_FILE, strerror(errno));
	}
	return TAKE_FD(fd);
}

/* The bundle lock, taken for c and c checked under it (check_current): the fd or -errno. */
static int lock_current(const struct control_ctx *c, struct shield_error *err)
{
	_cleanup_close_ int fd = control_lock(c->dirfd, err);
	int r;

	if (fd < 0)
		return fd;
	r = check_current(c, err);
	if (r < 0)
		return r;
	return TAKE_FD(fd);
}

/* ----------------------------------------------------------- pure parts */

const char *control_action_name(enum control_action a)
{
	return a == CONTROL_ALLOW ? "allow" : "deny";
}

int control_target_parse(const char *text, struct control_target *out, struct shield_error *err)
{
	struct shield_error why = {0};
	size_t len = strlen(text);
	char q[SHIELD_QUOTE_MAX];
	int r;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return shield_error_set(err, -EINVAL, "empty target: give a domain or an IP/CIDR");
	/* An address in any form has a ':' (IPv6) or only digits, dots and a prefix length. */
	if (strchr(text, ':') || strspn(text, "0123456789./") == len) {
		r = addr_parse(text, len, &out->prefix, err);
		if (r < 0)
			return r;
		out->is_ip = true;
		addr_format(&out->prefix, out->text);
		return 0;
	}
	r = domain_normalize(text, len, out->text, &why);
	if (r < 0)
		return shield_error_set(err, r, "%s is neither an IP/CIDR nor a valid domain (%s)",
					shield_quote(text, len, q), why.msg);
	return 0;
}

int control_plan_compute(enum control_action a, const char *target, const struct strlist *profile,
			 struct strlist *live, struct strlist *denied, struct control_plan *plan)
{
	bool in_profile = strlist_contains(profile, target);
	bool in_live = strlist_contains(live, target);
	int r;

	memset(plan, 0, sizeof(*plan));
	plan->was_denied = strlist_contains(denied, target);
	plan->was_effective = (in_profile || in_live) && !plan->was_denied;
	if (a == CONTROL_ALLOW) {
		if (plan->was_denied) {
			strlist_remove(denied, target);
			plan->denied_changed = true;
		}
		if (!in_profile && !in_live) {
			r = strlist_add(live, target);
			if (r < 0)
				return r;
			in_live = plan->live_changed = true;
		}
	} else {
		if (!plan->was_denied) {
			r = strlist_add(denied, target);
			if (r < 0)
				return r;
			plan->denied_changed = true;
		}
		if (in_live) {
			strlist_remove(live, target);
			in_live = false;
			plan->live_changed = true;
		}
	}
	plan->now_denied = strlist_contains(denied, target);
	plan->now_effective = (in_profile || in_live) && !plan->now_denied;
	return 0;
}

static bool within_any(const char *name, const struct strlist *domains)
{
	for (size_t i = 0; domains && i < domains->n; i++)
		if (domain_is_within(name, domains->items[i]))
			return true;
	return false;
}

/* Whether an answer for a still-allowed name (not under any denied domain) gave addr. */
static bool explained(const struct addr_prefix *addr, const struct control_answer *answers,
		      size_t n, const struct strlist *effective, const struct strlist *denied,
		      const struct addr_prefix *statics, size_t n_statics)
{
	for (size_t i = 0; i < n_statics; i++)
		if (addr_contains(&statics[i], addr))
			return true;
	for (size_t i = 0; i < n; i++)
		if (addr_equal(&answers[i].addr, addr) && within_any(answers[i].name, effective) &&
		    !within_any(answers[i].name, denied))
			return true;
	return false;
}

int control_stale_addresses(const char *denied_domain, const struct control_answer *answers,
			    size_t n_answers, const struct strlist *effective_domains,
			    const struct strlist *denied, const struct addr_prefix *statics,
			    size_t n_statics, struct addr_prefix **out, size_t *n_out)
{
	struct addr_prefix *v = calloc(n_answers ? n_answers : 1, sizeof(*v));
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n_answers; i++) {
		const struct addr_prefix *a = &answers[i].addr;
		bool dup = false;

		if (!domain_is_within(answers[i].name, denied_domain))
			continue;
		for (size_t j = 0; j < n && !dup; j++)
			dup = addr_equal(&v[j], a);
		if (dup ||
		    explained(a, answers, n_answers, effective_domains, denied, statics, n_statics))
			continue;
		v[n++] = *a;
	}
	*out = v;
	*n_out = n;
	return 0;
}

/* --------------------------------------------------------- kernel helpers */

static bool elem_learnt(const struct nft_elem *e)
{
	return e->expires_ms || (e->has_timeout && e->timeout_ms);
}

static size_t elem_len(const struct nft_elem *e)
{
	return e->family == AF_INET ? 4 : 16;
}

static bool elem_same(const struct nft_elem *a, const struct nft_elem *b)
{
	return a->family == b->family && memcmp(a->first, b->first, elem_len(a)) == 0 &&
	       memcmp(a->last, b->last, elem_len(a)) == 0;
}

/* Whether range inner lies within range outer. */
static bool elem_within(const struct nft_elem *inner, const struct nft_elem *outer)
{
	return inner->family == outer->family &&
	       memcmp(outer->first, inner->first, elem_len(inner)) <= 0 &&
	       memcmp(inner->last, outer->last, elem_len(inner)) <= 0;
}

static bool set_has_static(const struct nft_set *s, const struct nft_elem *e)
{
	for (size_t i = 0; i < s->n_elems; i++)
		if (elem_same(&s->elems[i], e) && !elem_learnt(&s->elems[i]))
			return true;
	return false;
}

static bool set_has(const struct nft_set *s, const struct nft_elem *e)
{
	for (size_t i = 0; i < s->n_elems; i++)
		if (elem_same(&s->elems[i], e))
			return true;
	return false;
}

static bool set_covers(const struct nft_set *s, const struct nft_elem *e)
{
	for (size_t i = 0; i < s->n_elems; i++)
		if (elem_within(e, &s->elems[i]))
			return true;
	return false;
}

/* A growable list of ranges for one element operation. */
struct elem_vec {
	struct nft_elem *v;
	size_t n, cap;
};

static int vec_add(struct elem_vec *x, const struct nft_elem *e)
{
	if (x->n == x->cap) {
		struct nft_elem *v = shield_grow(x->v, &x->cap, x->n + 1, sizeof(*v), 16);

		if (!v)
			return -ENOMEM;
		x->v = v;
	}
	x->v[x->n++] = *e;
	return 0;
}

struct sync_ops {
	struct nft_elems_op ops[NFT_ELEMS_OPS_MAX];
	struct elem_vec vecs[NFT_ELEMS_OPS_MAX];
	size_t n;
};

static void sync_ops_free(struct sync_ops *s)
{
	for (size_t i = 0; i < NFT_ELEMS_OPS_MAX; i++)
		free(s->vecs[i].v);
	memset(s, 0, sizeof(*s));
}

static void sync_push(struct sync_ops *s, enum nft_set_id set, bool add, uint64_t timeout_ms,
		      struct elem_vec *v)
{
	if (!v->n) {
		free(v->v);
		return;
	}
	s->vecs[s->n] = *v;
	s->ops[s->n] = (struct nft_elems_op){
		.set = set, .add = add, .elems = v->v, .n = v->n, .timeout_ms = timeout_ms};
	s->n++;
}

/*
 * The operations that make one family's allow and deny sets hold exactly
 * the static elements want has (learnt elements stay, unless a static
 * element or a deny element covers them).
 */
static int plan_family(struct nft_sock *sock, const struct nft_ruleset *want, enum nft_set_id allow,
		       enum nft_set_id deny, struct sync_ops *s, struct shield_error *err)
{
	const struct nft_set *wa = &want->sets[allow], *wd = &want->sets[deny];
	struct nft_set ca = {0}, cd = {0};
	struct elem_vec adel = {0}, aadd = {0}, ddel = {0}, dadd = {0};
	int r = 0;

	if (!wa->present || !wd->present)
		return 0; /* block: no sets at all */
	r = nft_elems_list(sock, allow, &ca, err);
	if (r >= 0)
		r = nft_elems_list(sock, deny, &cd, err);
	for (size_t i = 0; r >= 0 && i < ca.n_elems; i++) {
		const struct nft_elem *e = &ca.elems[i];
		bool drop =
			elem_learnt(e) ? set_covers(wa, e) || set_covers(wd, e) : !set_has(wa, e);

		if (drop)
			r = vec_add(&adel, e);
	}
	for (size_t i = 0; r >= 0 && i < wa->n_elems; i++)
		if (!set_has_static(&ca, &wa->elems[i]))
			r = vec_add(&aadd, &wa->elems[i]);
	for (size_t i = 0; r >= 0 && i < cd.n_elems; i++)
		if (!set_has(wd, &cd.elems[i]))
			r = vec_add(&ddel, &cd.elems[i]);
	for (size_t i = 0; r >= 0 && i < wd->n_elems; i++)
		if (!set_has(&cd, &wd->elems[i]))
			r = vec_add(&dadd, &wd->elems[i]);
	free(ca.elems);
	free(cd.elems);
	if (r == -ENOMEM)
		r = shield_error_set(err, r, "out of memory");
	if (r < 0) {
		free(adel.v);
		free(aadd.v);
		free(ddel.v);
		free(dadd.v);
		return r;
	}
	/* Deletes first: an added range must not overlap one still there. */
	sync_push(s, allow, false, 0, &adel);
	sync_push(s, deny, false, 0, &ddel);
	sync_push(s, allow, true, 0, &aadd);
	sync_push(s, deny, true, NFT_TIMEOUT_SET_DEFAULT, &dadd);
	return 0;
}

/*
 * Make the kernel's allow and deny sets hold the bundle's static elements
 * (want: the ruleset of the bundle's mode) in one transaction. *changed
 * says whether anything had to be sent.
 */
static int sync_ip_sets(struct nft_sock *sock, const struct nft_ruleset *want, bool *changed,
			struct shield_error *err)
{
	int r = 0;

	*changed = false;
	for (int attempt = 0; attempt < SYNC_ATTEMPTS; attempt++) {
		struct sync_ops s = {0};

		r = plan_family(sock, want, NFT_SET_ALLOW_V4, NFT_SET_DENY_V4, &s, err);
		if (r >= 0)
			r = plan_family(sock, want, NFT_SET_ALLOW_V6, NFT_SET_DENY_V6, &s, err);
		if (r >= 0 && s.n) {
			*changed = true;
			r = nft_elems_update(sock, s.ops, s.n, err);
		}
		sync_ops_free(&s);
		if (r != -ENOENT || attempt + 1 == SYNC_ATTEMPTS)
			break;
		shield_error_clear(err);
	}
	return r;
}

/* ---------------------------------------------------------- bundle helpers */

static void add_file(struct control_result *res, const char *name)
{
	size_t len = strlen(res->files);

	snprintf(res->files + len, sizeof(res->files) - len, "%s%s", len ? " " : "", name);
}

/* dnsmasq.conf for the bundle as it is now (durable: the running dnsmasq's configuration). */
static int write_dnsmasq_conf(const struct control_ctx *c, const struct bundle_config *cfg,
			      struct shield_error *err)
{
	return launch_write_dnsmasq_conf(c->dirfd, c->state_dir, cfg, 0, err);
}

static bool has_registry(const struct control_ctx *c)
{
	return c->entry && c->runtime_dir && c->runtime_dir[0];
}

static int update_registry(const struct control_ctx *c, pid_t pid, struct shield_error *err)
{
	_cleanup_close_ int regfd = -1;

	if (!has_registry(c))
		return 0;
	c->entry->dnsmasq_pid = pid;
	regfd = registry_open(c->runtime_dir, false, err);
	if (regfd < 0)
		return shield_error_prefix(err, "registry: ");
	return registry_write(regfd, c->entry, err);
}

/*
 * Stop the container's dnsmasq, run between (may be NULL) while none runs,
 * then start it again with the bundle's dnsmasq.conf, if one ran or the
 * registry says one belongs there. between's error is returned, but
 * dnsmasq is started all the same.
 */
static int restart_dnsmasq(const struct control_ctx *c,
			   int (*between)(void *arg, struct shield_error *err), void *arg,
			   struct control_result *res, struct shield_error *err)
{
	_cleanup_(dnsmasq_launch_freep) struct dnsmasq_launch *launch = NULL;
	_cleanup_free_ char *conf = NULL;
	struct shield_error later = {0};
	pid_t known = c->entry ? c->entry->dnsmasq_pid : 0, old = 0;
	int stopped, r = 0, lr;

	if (asprintf(&conf, "%s/" DNSMASQ_CONF_FILE, c->state_dir) < 0)
		return shield_error_set(err, -ENOMEM, "out of memory");
	/* The entry as it is now, under the lock: another command may have restarted dnsmasq
	 * since the caller read it. */
	if (has_registry(c)) {
		struct shield_error ignored = {0};
		struct registry_entry now;
		_cleanup_close_ int regfd = registry_open(c->runtime_dir, false, &ignored);

		if (regfd >= 0 && registry_read(regfd, c->entry->id, &now, &ignored) >= 0) {
			*c->entry = now;
			known = now.dnsmasq_pid;
		}
	}
	stopped = dnsmasq_stop(c->dirfd, conf, known, &old, err);
	if (stopped < 0)
		return shield_error_prefix(err, "stopping dnsmasq: ");
	if (between)
		r = between(arg, err);
	if (!stopped && !c->entry)
		return r; /* it had no dnsmasq (a namespace only applied): none is started */
	lr = dnsmasq_launch_begin(c->dnsmasq, c->nsfd, c->dirfd, conf, &launch, &later);
	if (lr >= 0)
		lr = dnsmasq_launch_finish(launch, &res->dnsmasq_pid, &later);
	if (lr >= 0) {
		res->dnsmasq_restarted = true;
		lr = update_registry(c, res->dnsmasq_pid, &later);
	} else {
		shield_error_prefix(&later, "dnsmasq did not start again (the container has no "
					    "resolver until its next start): ");
	}
	if (r >= 0 && lr < 0) {
		*err = later;
		r = lr;
	}
	return r;
}

/* ------------------------------------------------------------ allow / deny */

struct removal {
	struct nft_sock *sock;
	const struct addr_prefix *addrs;
	size_t n;
	size_t removed;
};

/* Delete the denied domain's learnt addresses from the allow sets (one transaction). */
static int remove_stale(void *arg, struct shield_error *err)
{
	struct removal *x = arg;
	struct elem_vec v4 = {0}, v6 = {0};
	struct nft_set cur4 = {0}, cur6 = {0};
	struct sync_ops s = {0};
	int r = nft_elems_list(x->sock, NFT_SET_ALLOW_V4, &cur4, err);

	if (r >= 0)
		r = nft_elems_list(x->sock, NFT_SET_ALLOW_V6, &cur6, err);
	for (size_t i = 0; r >= 0 && i < x->n; i++) {
		struct nft_elem e;
		bool v4fam = x->addrs[i].family == AF_INET;

		nft_elem_from_prefix(&x->addrs[i], &e);
		/* Only what dnsmasq learnt: a static element is the bundle's to keep. */
		for (size_t j = 0; j < (v4fam ? cur4.n_elems : cur6.n_elems); j++) {
			const struct nft_elem *c = v4fam ? &cur4.elems[j] : &cur6.elems[j];

			if (elem_same(c, &e) && elem_learnt(c)) {
				r = vec_add(v4fam ? &v4 : &v6, &e);
				break;
			}
		}
	}
	free(cur4.elems);
	free(cur6.elems);
	if (r < 0) {
		free(v4.v);
		free(v6.v);
		return r == -ENOMEM ? shield_error_set(err, r, "out of memory") : r;
	}
	x->removed = v4.n + v6.n;
	sync_push(&s, NFT_SET_ALLOW_V4, false, 0, &v4);
	sync_push(&s, NFT_SET_ALLOW_V6, false, 0, &v6);
	if (s.n)
		r = nft_elems_update(x->sock, s.ops, s.n, err);
	sync_ops_free(&s);
	if (r < 0)
		x->removed = 0;
	return r < 0 ? shield_error_prefix(err, "removing the denied domain's addresses: ") : r;
}

static int read_lists(int dirfd, bool ip, struct strlist *profile, struct strlist *live,
		      struct strlist *denied, struct shield_error *err)
{
	int r = bundle_read_list(dirfd, ip ? BUNDLE_PROFILE_ALLOWED : BUNDLE_PROFILE_DOMAINS,
				 profile, err);

	if (r >= 0)
		r = bundle_read_list(dirfd, ip ? BUNDLE_LIVE_ALLOWED : BUNDLE_LIVE_DOMAINS, live,
				     err);
	if (r >= 0)
		r = bundle_read_list(dirfd, ip ? BUNDLE_DENY_LIST : BUNDLE_DENIED_DOMAINS, denied,
				     err);
	return r;
}

/* The files of a plan, written (the deny list first: an allow never widens before it). */
static int write_lists(int dirfd, bool ip, const struct control_plan *p, const struct strlist *live,
		       const struct strlist *denied, struct control_result *res,
		       struct shield_error *err)
{
	enum bundle_list lw = ip ? BUNDLE_LIVE_ALLOWED : BUNDLE_LIVE_DOMAINS;
	enum bundle_list dw = ip ? BUNDLE_DENY_LIST : BUNDLE_DENIED_DOMAINS;
	int r = 0;

	/* A deny lands in the deny list before it leaves live; an allow leaves it last. */
	if (p->denied_changed && p->now_denied) {
		r = bundle_write_list(dirfd, dw, denied, err);
		if (r >= 0)
			add_file(res, bundle_list_filename(dw));
	}
	if (r >= 0 && p->live_changed) {
		r = bundle_write_list(dirfd, lw, live, err);
		if (r >= 0)
			add_file(res, bundle_list_filename(lw));
	}
	if (r >= 0 && p->denied_changed && !p->now_denied) {
		r = bundle_write_list(dirfd, dw, denied, err);
		if (r >= 0)
			add_file(res, bundle_list_filename(dw));
	}
	return r;
}

/* allow: a deny.list entry other than the target that still covers it. */
static void find_still_denied(const struct strlist *deny, const struct addr_prefix *target,
			      struct control_result *res)
{
	for (size_t i = 0; i < deny->n; i++) {
		struct addr_prefix p;

		if (addr_parse(deny->items[i], strlen(deny->items[i]), &p, NULL) == 0 &&
		    addr_contains(&p, target)) {
			snprintf(res->still_denied, sizeof(res->still_denied), "%s",
				 deny->items[i]);
			return;
		}
	}
}

static int kernel_ip(const struct control_ctx *c, struct control_result *res,
		     struct shield_error *err)
{
	_cleanup_(nft_sock_closep) struct nft_sock *sock = NULL;
	struct bundle_rules b = {0};
	struct nft_ruleset want = {0};
	bool sent = false;
	int r = bundle_rules_load(c->dirfd, &b, err);

	if (r >= 0)
		r = bundle_rules_build(&b, b.config.mode, &want, err);
	if (r >= 0)
		r = nft_sock_open_in(c->nsfd, &sock, err);
	if (r >= 0)
		r = sync_ip_sets(sock, &want, &sent, err);
	res->kernel = r >= 0;
	res->repaired = r >= 0 && sent && !res->changed;
	nft_ruleset_free(&want);
	bundle_rules_free(&b);
	return r;
}

static int kernel_domain(const struct control_ctx *c, enum control_action a, const char *domain,
			 struct control_result *res, struct shield_error *err)
{
	_cleanup_(nft_sock_closep) struct nft_sock *sock = NULL;
	_cleanup_strlist_ struct strlist effective = STRLIST_INIT;
	_cleanup_strlist_ struct strlist denied = STRLIST_INIT;
	_cleanup_free_ struct control_answer *answers = NULL;
	_cleanup_free_ struct addr_prefix *stale = NULL;
	struct removal x = {0};
	struct bundle_rules b = {0};
	size_t n_answers = 0, n_stale = 0;
	int r = 0;

	if (a == CONTROL_DENY) {
		r = bundle_rules_load(c->dirfd, &b, err);
		if (r >= 0)
			r = bundle_effective_domains(c->dirfd, &effective, &denied, err);
		if (r >= 0)
			r = control_read_answers(c->dirfd, domain, &answers, &n_answers, err);
		if (r >= 0 &&
		    control_stale_addresses(domain, answers, n_answers, &effective, &denied,
					    b.allow, b.n_allow, &stale, &n_stale) < 0)
			r = shield_error_set(err, -ENOMEM, "out of memory");
		bundle_rules_free(&b);
		if (r >= 0 && n_stale)
			r = nft_sock_open_in(c->nsfd, &sock, err);
		if (r < 0)
			return r;
		x = (struct removal){.sock = sock, .addrs = stale, .n = n_stale};
	}
	/* dnsmasq is down while the elements go: it cannot add them back meanwhile. */
	r = restart_dnsmasq(c, n_stale ? remove_stale : NULL, &x, res, err);
	res->n_removed = x.removed;
	res->kernel = true;
	return r;
}

int control_allow_deny(const struct control_ctx *c, enum control_action a,
		       const struct control_target *target, struct control_result *res,
		       struct shield_error *err)
{
	_cleanup_close_ int lockfd = -1;
	_cleanup_strlist_ struct strlist profile = STRLIST_INIT;
	_cleanup_strlist_ struct strlist live = STRLIST_INIT;
	_cleanup_strlist_ struct strlist denied = STRLIST_INIT;
	struct shield_error ignored = {0};
	struct bundle_config cfg;
	struct control_plan plan;
	char detail[256];
	int r;

	memset(res, 0, sizeof(*res));
	bundle_config_init(&cfg);
	lockfd = lock_current(c, err);
	if (lockfd < 0)
		return lockfd;
	r = read_lists(c->dirfd, target->is_ip, &profile, &live, &denied, err);
	if (r >= 0)
		r = bundle_read_config(c->dirfd, &cfg, err);
	if (r >= 0 && control_plan_compute(a, target->text, &profile, &live, &denied, &plan) < 0)
		r = shield_error_set(err, -ENOMEM, "out of memory");
	if (r < 0) {
		bundle_config_free(&cfg);
		return r;
	}
	res->old_mode = res->mode = cfg.mode;
	r = write_lists(c->dirfd, target->is_ip, &plan, &live, &denied, res, err);
	res->changed = res->files[0] != '\0';
	if (r >= 0 && res->changed && !target->is_ip) {
		r = write_dnsmasq_conf(c, &cfg, err);
		if (r >= 0)
			add_file(res, DNSMASQ_CONF_FILE);
	}
	bundle_config_free(&cfg);
	if (r < 0) {
		res->files_hold = res->changed;
		return r;
	}
	if (a == CONTROL_ALLOW && target->is_ip)
		find_still_denied(&denied, &target->prefix, res);
	if (c->nsfd >= 0) {
		if (target->is_ip)
			r = kernel_ip(c, res, err);
		else if (res->changed)
			r = kernel_domain(c, a, target->text, res, err);
	}
	if (res->changed) {
		snprintf(detail, sizeof(detail), "bundle: %s%s%s%s", res->files,
			 c->nsfd < 0 ? "; not running: bundle only"
				     : (r < 0 ? "; the kernel update failed" : "; kernel updated"),
			 res->dnsmasq_restarted ? "; dnsmasq restarted" : "",
			 res->n_removed ? "; learnt addresses removed" : "");
		audit_append(c->dirfd, c->name, control_action_name(a), target->text, detail,
			     &ignored);
	}
	if (r < 0)
		res->files_hold = res->changed;
	return r;
}

/* -------------------------------------------------------------------- modes */

static const char *mode_command(enum shield_mode m)
{
	switch (m) {
	case SHIELD_MODE_UP:
		return "up";
	case SHIELD_MODE_DOWN:
	case SHIELD_MODE_DOWN_ALL:
		return "down";
	case SHIELD_MODE_BLOCK:
		return "block";
	default:
		return "mode";
	}
}

/* The learnt elements of the allow sets, to put back after a replace. */
static int collect_learnt(struct nft_sock *sock, struct nft_set learnt[2], struct shield_error *err)
{
	enum nft_set_id ids[2] = {NFT_SET_ALLOW_V4, NFT_SET_ALLOW_V6};

	for (int i = 0; i < 2; i++) {
		struct nft_set cur = {0};
		int r = nft_elems_list(sock, ids[i], &cur, err);

		if (r == -ENOENT) { /* no table, or no such set (block) */
			shield_error_clear(err);
			continue;
		}
		if (r < 0)
			return r;
		for (size_t j = 0; j < cur.n_elems; j++)
			if (elem_learnt(&cur.elems[j]) && cur.elems[j].expires_ms &&
			    nft_set_add_elem(&learnt[i], &cur.elems[j]) < 0) {
				free(cur.elems);
				return shield_error_set(err, -ENOMEM, "out of memory");
			}
		free(cur.elems);
	}
	return 0;
}

/* Put learnt elements back, each with the time it had left; none a static or deny element covers. */
static size_t carry_learnt(struct nft_sock *sock, const struct nft_ruleset *rs,
			   const struct nft_set learnt[2])
{
	enum nft_set_id allow[2] = {NFT_SET_ALLOW_V4, NFT_SET_ALLOW_V6};
	enum nft_set_id deny[2] = {NFT_SET_DENY_V4, NFT_SET_DENY_V6};
	struct shield_error ignored = {0};
	size_t n = 0;

	for (int i = 0; i < 2; i++) {
		if (!rs->sets[allow[i]].present)
			continue;
		for (size_t j = 0; j < learnt[i].n_elems; j++) {
			const struct nft_elem *e = &learnt[i].elems[j];
			struct nft_elems_op op = {.set = allow[i],
						  .add = true,
						  .elems = e,
						  .n = 1,
						  .timeout_ms = e->expires_ms};

			if (set_covers(&rs->sets[allow[i]], e) || set_covers(&rs->sets[deny[i]], e))
				continue;
			if (nft_elems_update(sock, &op, 1, &ignored) >= 0)
				n++;
		}
	}
	return n;
}

int control_set_mode(const struct control_ctx *c, enum shield_mode mode, struct control_result *res,
		     struct shield_error *err)
{
	_cleanup_close_ int lockfd = -1;
	_cleanup_(nft_sock_closep) struct nft_sock *sock = NULL;
	struct shield_error ignored = {0};
	struct bundle_rules b = {0};
	struct nft_ruleset rs = {0};
	struct nft_set learnt[2] = {{0}, {0}};
	char detail[160];
	int r;

	memset(res, 0, sizeof(*res));
	lockfd = lock_current(c, err);
	if (lockfd < 0)
		return lockfd;
	r = bundle_rules_load(c->dirfd, &b, err);
	if (r < 0)
		return r;
	res->old_mode = b.config.mode;
	res->mode = mode;
	res->dns_policy = bundle_dns_policy(&b.config, mode);
	if (mode != b.config.mode) {
		b.config.mode = mode;
		r = bundle_write_config(c->dirfd, &b.config, err);
		if (r >= 0) {
			res->changed = true;
			add_file(res, "shield.conf");
			r = write_dnsmasq_conf(c, &b.config, err);
			if (r >= 0)
				add_file(res, DNSMASQ_CONF_FILE);
		}
	}
	if (r >= 0 && c->nsfd >= 0) {
		r = bundle_rules_build(&b, mode, &rs, err);
		if (r >= 0)
			r = nft_sock_open_in(c->nsfd, &sock, err);
		/* Already in this mode: only a kernel that does not hold it is touched. */
		if (r >= 0 && !res->changed && nft_verify_table(sock, &rs, &ignored) >= 0)
			goto out;
		if (r >= 0)
			r = collect_learnt(sock, learnt, err);
		if (r >= 0) {
			r = nft_apply_verified(sock, &rs, err);
			res->kernel = r >= 0;
			res->repaired = r >= 0 && !res->changed;
		}
		if (r >= 0)
			res->n_carried = carry_learnt(sock, &rs, learnt);
		if (r < 0 && res->changed) {
			/* The transaction is all or nothing: the kernel holds the old mode, so
			 * the bundle says it again. */
			b.config.mode = res->old_mode;
			if (bundle_write_config(c->dirfd, &b.config, &ignored) >= 0 &&
			    write_dnsmasq_conf(c, &b.config, &ignored) >= 0)
				res->changed = false;
			else
				res->files_hold = true;
		}
		if (r >= 0 && res->changed)
			r = restart_dnsmasq(c, NULL, NULL, res, err);
	} else if (r < 0 && res->changed) {
		res->files_hold = true;
	}
	if (res->changed || res->repaired) {
		snprintf(detail, sizeof(detail), "mode %s (was %s)%s%s%s", shield_mode_name(mode),
			 shield_mode_name(res->old_mode), res->repaired ? "; kernel repaired" : "",
			 c->nsfd < 0 ? "; not running: bundle only" : "",
			 res->dnsmasq_restarted ? "; dnsmasq restarted" : "");
		audit_append(c->dirfd, c->name, mode_command(mode), NULL, detail, &ignored);
	}
out:
	free(learnt[0].elems);
	free(learnt[1].elems);
	nft_ruleset_free(&rs);
	bundle_rules_free(&b);
	return r;
}

/* -------------------------------------------------------------- log answers */

#define DNSMASQ_LOG_FILE "dnsmasq.log"

struct answer_scan {
	const char *domain; /* pass 1: answers for names within it */
	struct control_answer
		*v; /* pass 1: its answers; pass 2: every answer for those addresses */
	size_t n, cap;
	const struct control_answer *cand; /* pass 2: the candidate addresses */
	size_t n_cand;
	bool first_line_partial; /* the scan starts mid-file: its first line is cut */
};

static bool addr_listed(const struct control_answer *v, size_t n, const struct addr_prefix *a)
{
	for (size_t i = 0; i < n; i++)
		if (addr_equal(&v[i].addr, a))
			return true;
	return false;
}

static bool answer_listed(const struct control_answer *v, size_t n, const struct control_answer *a)
{
	for (size_t i = 0; i < n; i++)
		if (addr_equal(&v[i].addr, &a->addr) && strcmp(v[i].name, a->name) == 0)
			return true;
	return false;
}

static int scan_line(const struct dnsmasq_log_line *line, void *ctx)
{
	struct answer_scan *x = ctx;
	struct dnsmasq_log_rec rec;
	struct control_answer a = {0};
	int set;

	if (x->first_line_partial) {
		x->first_line_partial = false;
		return 0;
	}
	if (line->too_long || dnsmasq_log_parse_line(line->data, line->len, &rec) < 0 ||
	    rec.kind != DNSMASQ_LOG_NFTSET)
		return 0;
	set = dnsmasq_log_rec_set(&rec);
	if ((set != NFT_SET_ALLOW_V4 && set != NFT_SET_ALLOW_V6) || !addr_is_host(&rec.addr))
		return 0;
	/* dnsmasq matched the name against our own domain list: it is one, or we skip it. */
	if (domain_normalize(rec.name, strlen(rec.name), a.name, NULL) < 0)
		return 0;
	a.addr = rec.addr;
	if (x->domain ? !domain_is_within(a.name, x->domain)
		      : !addr_listed(x->cand, x->n_cand, &a.addr))
		return 0;
	if (x->domain ? addr_listed(x->v, x->n, &a.addr) : answer_listed(x->v, x->n, &a))
		return 0;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 32;
		struct control_answer *v;

		if (cap > CONTROL_ANSWERS_MAX)
			return -E2BIG;
		v = realloc(x->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		x->v = v;
		x->cap = cap;
	}
	x->v[x->n++] = a;
	return 0;
}

/* One pass over the last CONTROL_LOG_MAX bytes of dnsmasq.log. */
static int scan_log(int dirfd, struct answer_scan *x, struct shield_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct dnsmasq_log_split *split = NULL;
	struct stat st;
	off_t start = 0;
	int r = 0;

	fd = openat(dirfd, DNSMASQ_LOG_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0; /* no query was logged yet */
	if (fd < 0)
		return shield_error_set(err, negative_errno(), "%s: %s", DNSMASQ_LOG_FILE,
					errno == ELOOP ? "is a symlink (refused)"
						       : strerror(errno));
	if (fstat(fd, &st) < 0)
		return shield_error_set(err, negative_errno(), "%s: %s", DNSMASQ_LOG_FILE,
					strerror(errno));
	if (!S_ISREG(st.st_mode))
		return shield_error_set(err, -EINVAL, "%s: not a regular file", DNSMASQ_LOG_FILE);
	if (st.st_size > (off_t)CONTROL_LOG_MAX)
		start = st.st_size - (off_t)CONTROL_LOG_MAX;
	if (start && lseek(fd, start, SEEK_SET) < 0)
		return shield_error_set(err, negative_errno(), "%s: %s", DNSMASQ_LOG_FILE,
					strerror(errno));
	x->first_line_partial = start > 0;
	buf = malloc(65536);
	split = malloc(sizeof(*split));
	if (!buf || !split) {
		free(split);
		return shield_error_set(err, -ENOMEM, "out of memory");
	}
	dnsmasq_log_split_init(split, (uint64_t)start);
	for (uint64_t total = 0; total < CONTROL_LOG_MAX;) {
		ssize_t n = read(fd, buf, 65536);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = shield_error_set(err, negative_errno(), "%s: %s", DNSMASQ_LOG_FILE,
					     strerror(errno));
			break;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		r = dnsmasq_log_split_feed(split, buf, (size_t)n, scan_line, x);
		if (r == -E2BIG)
			r = shield_error_set(err, r,
					     "%s: more than %d answers for the addresses of the "
					     "denied domain",
					     DNSMASQ_LOG_FILE, CONTROL_ANSWERS_MAX);
		else if (r < 0)
			r = shield_error_set(err, r, "%s: %s", DNSMASQ_LOG_FILE,
					     shield_strerror(r));
		if (r < 0)
			break;
	}
	free(split);
	return r;
}

int control_read_answers(int dirfd, const char *domain, struct control_answer **out, size_t *n_out,
			 struct shield_error *err)
{
	struct answer_scan one = {.domain = domain}, two = {0};
	int r;

	*out = NULL;
	*n_out = 0;
	/* Pass 1: the addresses answered for the domain; pass 2: every name that got them. */
	r = scan_log(dirfd, &one, err);
	if (r >= 0 && one.n) {
		two.cand = one.v;
		two.n_cand = one.n;
		r = scan_log(dirfd, &two, err);
	}
	free(one.v);
	if (r < 0) {
		free(two.v);
		return r;
	}
	*out = two.v;
	*n_out = two.n;
	return 0;
}
