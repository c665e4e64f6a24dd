/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One watched container: its registry entry, bundle, network namespace,
 * shadow state, dnsmasq pidfd, kernel sockets and log tail. Attached when
 * its entry appears, detached when the entry goes or its namespace is gone.
 * Memory stays small: no per-container buffer beyond the log splitter's
 * line (DNSMASQ_LOG_LINE_MAX); reads go through one shared buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shield/bundle-rules.h"
#include "shield/bundle.h"
#include "shield/dnsmasq-proc.h"
#include "shield/netns.h"
#include "shield/nft-monitor.h"
#include "shield/nft-netlink.h"
#include "nftsetd.h"

const char *container_label(const struct container *c)
{
	return c->e.name[0] ? c->e.name : c->e.id;
}

bool container_matches(const struct container *c, const char *what)
{
	return strcmp(what, c->e.id) == 0 || (c->e.name[0] && strcmp(what, c->e.name) == 0) ||
	       strcmp(what, c->e.state_dir) == 0;
}

struct container *container_find_id(struct daemon *d, const char *id)
{
	for (struct container *c = d->containers; c; c = c->next)
		if (strcmp(c->e.id, id) == 0)
			return c;
	return NULL;
}

/* Take what nftsetd needs of e: 0 or -ENOMEM (dst untouched). */
static int entry_set(struct watched_entry *dst, const struct registry_entry *e)
{
	char *state_dir = strdup(e->state_dir), *netns = strdup(e->netns);

	if (!state_dir || !netns) {
		free(state_dir);
		free(netns);
		return -ENOMEM;
	}
	free(dst->state_dir);
	free(dst->netns);
	memcpy(dst->id, e->id, sizeof(dst->id));
	memcpy(dst->name, e->name, sizeof(dst->name));
	memcpy(dst->source, e->source, sizeof(dst->source));
	dst->state_dir = state_dir;
	dst->netns = netns;
	dst->netns_dev = e->netns_dev;
	dst->netns_ino = e->netns_ino;
	dst->pid = e->pid;
	dst->dnsmasq_pid = e->dnsmasq_pid;
	return 0;
}

static void container_free(struct container *c)
{
	free(c->e.state_dir);
	free(c->e.netns);
	shadow_free(c->shadow);
	if (c->dirfd >= 0)
		close(c->dirfd);
	if (c->nsfd >= 0)
		close(c->nsfd);
	free(c);
}

/* One handle of c closed: the last one, once detached, frees c. */
static void container_unref(struct container *c)
{
	if (--c->handles == 0 && c->detaching)
		container_free(c);
}

void container_handle_closed(uv_handle_t *h)
{
	container_unref(h->data);
}

static void fdwatch_closed(uv_handle_t *h)
{
	struct fdwatch *w = h->data;
	struct container *c = w->c;

	free(w);
	container_unref(c);
}

struct fdwatch *fdwatch_new(struct container *c, int fd, bool own_fd, uv_poll_cb cb)
{
	struct fdwatch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->c = c;
	w->fd = fd;
	w->own_fd = own_fd;
	if (uv_poll_init(c->d->loop, &w->poll, fd) < 0) {
		free(w);
		return NULL;
	}
	w->poll.data = w;
	c->handles++;
	if (uv_poll_start(&w->poll, UV_READABLE, cb) < 0) {
		fdwatch_close(w);
		return NULL;
	}
	return w;
}

void fdwatch_close(struct fdwatch *w)
{
	if (!w)
		return;
	/* uv_close stops polling at once, so the fd may go now. */
	uv_close((uv_handle_t *)&w->poll, fdwatch_closed);
	if (w->own_fd && w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

/* ---- the bundle ---- */

/* Identity of the files the shadow's config is read from: a change means "read again". */
static uint64_t bundle_signature(int dirfd)
{
	static const char *const files[] = {
		"shield.conf",	  "upstream.dns",    "profile.domains", "live.domains",
		"denied.domains", "profile.allowed", "live.allowed",	"deny.list",
	};
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		struct stat st;
		uint64_t v[4] = {0};

		if (fstatat(dirfd, files[i], &st, AT_SYMLINK_NOFOLLOW) == 0) {
			v[0] = (uint64_t)st.st_ino;
			v[1] = (uint64_t)st.st_size;
			v[2] = (uint64_t)st.st_mtim.tv_sec;
			v[3] = (uint64_t)st.st_mtim.tv_nsec;
		}
		for (size_t j = 0; j < 4; j++)
			h = (h ^ v[j]) * 1099511628211ull;
	}
	return h;
}

/* Read the bundle and give the shadow its config: new (create) or reconfigured. */
static int load_config(struct container *c, bool create, struct shield_error *err)
{
	struct bundle_rules br = {0};
	struct strlist domains = STRLIST_INIT, denied = STRLIST_INIT;
	struct shadow_config cfg = {0};
	uint64_t sig = bundle_signature(c->dirfd);
	int r;

	r = bundle_rules_load(c->dirfd, &br, err);
	if (r >= 0)
		r = bundle_effective_domains(c->dirfd, &domains, &denied, err);
	if (r < 0)
		goto out;
	shadow_config_from_bundle(&cfg, &br, &domains, &denied);
	cfg.container = container_label(c);
	cfg.dnsmasq_pid = c->e.dnsmasq_pid;
	cfg.repair = c->d->opt.repair;
	cfg.event_seq = &c->d->event_seq;
	r = create ? shadow_new(&cfg, &c->shadow, err) : shadow_reconfigure(c->shadow, &cfg, err);
	if (r >= 0)
		c->bundle_sig = sig;
out:
	strlist_free(&domains);
	strlist_free(&denied);
	bundle_rules_free(&br);
	return r;
}

static void emit_info(struct container *c, enum shield_event_kind kind, const char *detail)
{
	struct shadow_output out = {0};
	struct shadow_now now;

	daemon_now(&now);
	if (shadow_info(c->shadow, kind, detail, &now, &out) >= 0)
		container_output(c, &out);
	shadow_output_free(&out);
}

/* ---- dnsmasq ---- */

static void dnsmasq_state(struct container *c, bool up, const char *detail)
{
	struct shadow_output out = {0};
	struct shadow_now now;

	c->dnsmasq_alive = up;
	daemon_now(&now);
	if (shadow_dnsmasq_state(c->shadow, up, up ? c->e.dnsmasq_pid : 0, detail, &now, &out) >= 0)
		container_output(c, &out);
	shadow_output_free(&out);
}

static void on_dnsmasq_exit(uv_poll_t *h, int status, int events)
{
	struct fdwatch *w = h->data;
	struct container *c = w->c;
	char detail[128];

	(void)status;
	(void)events;
	if (c->detaching || w != c->pidw)
		return;
	c->pidw = NULL;
	fdwatch_close(w);
	snprintf(detail, sizeof(detail), "dnsmasq (pid %d) exited", (int)c->e.dnsmasq_pid);
	nlog_c(c, LOG_PRIO_WARNING, "%s", detail);
	dnsmasq_state(c, false, detail);
	/* Its last lines are in the log: read them now. */
	tail_read(c);
}

/*
 * Watch the entry's dnsmasq through a pidfd; a PID that is gone or is not
 * this bundle's dnsmasq in this namespace means dnsmasq.down at once.
 */
static void watch_dnsmasq(struct container *c)
{
	char conf[PATH_MAX + 32], detail[160];
	pid_t pid = c->e.dnsmasq_pid;
	int fd = -1;

	fdwatch_close(c->pidw);
	c->pidw = NULL;
	if (pid <= 0) {
		snprintf(detail, sizeof(detail), "the registry names no dnsmasq");
		goto down;
	}
	fd = pidfd_open(pid, 0);
	if (fd < 0) {
		snprintf(detail, sizeof(detail), "dnsmasq (pid %d) is not running", (int)pid);
		goto down;
	}
	snprintf(conf, sizeof(conf), "%s/%s", c->e.state_dir, DNSMASQ_CONF_FILE);
	/* Checked after pidfd_open, so the fd is the process that passed. */
	if (!dnsmasq_is_ours(pid, conf, c->nsfd)) {
		close(fd);
		snprintf(detail, sizeof(detail),
			 "pid %d is not this container's dnsmasq (it exited)", (int)pid);
		goto down;
	}
	c->pidw = fdwatch_new(c, fd, true, on_dnsmasq_exit);
	if (!c->pidw) {
		close(fd);
		nlog_c(c, LOG_PRIO_ERR, "cannot watch dnsmasq (pid %d)", (int)pid);
	}
	if (!c->dnsmasq_alive)
		dnsmasq_state(c, true, NULL);
	return;
down:
	nlog_c(c, LOG_PRIO_WARNING, "%s", detail);
	dnsmasq_state(c, false, detail);
}

/* ---- namespace ---- */

/* Whether the entry's namespace is still the one it names; why not into why. */
static bool ns_alive(const struct container *c, char *why, size_t size)
{
	char path[64];
	const char *p = c->e.netns;
	struct stat st;

	if (c->e.pid > 0) {
		snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)c->e.pid);
		p = path;
	}
	if (stat(p, &st) < 0) {
		snprintf(why, size, "%s: %s", p, shield_strerror(negative_errno()));
		return false;
	}
	if ((uint64_t)st.st_dev != c->e.netns_dev || (uint64_t)st.st_ino != c->e.netns_ino) {
		snprintf(why, size, "%s is another network namespace now", p);
		return false;
	}
	return true;
}

/* ---- attach, update, detach ---- */

int container_attach(struct daemon *d, const struct registry_entry *e, struct shield_error *err)
{
	struct container *c = calloc(1, sizeof(*c));
	char why[PATH_MAX + 64], detail[SHIELD_EVENT_DETAIL_MAX];
	struct stat st;
	int r;

	if (!c)
		return shield_error_set(err, -ENOMEM, "out of memory");
	c->d = d;
	c->dirfd = c->nsfd = -1;
	c->tail.fd = -1;
	if (entry_set(&c->e, e) < 0) {
		free(c);
		return shield_error_set(err, -ENOMEM, "out of memory");
	}
	if (!ns_alive(c, why, sizeof(why))) {
		container_free(c);
		return shield_error_set(err, -ESRCH, "network namespace gone (%s): entry dropped",
					why);
	}
	r = bundle_open(e->state_dir, false, err);
	if (r < 0)
		goto fail;
	c->dirfd = r;
	r = netns_open(e->netns, err);
	if (r < 0) {
		r = -ESRCH;
		goto fail;
	}
	c->nsfd = r;
	if (fstat(c->nsfd, &st) < 0 || (uint64_t)st.st_dev != e->netns_dev ||
	    (uint64_t)st.st_ino != e->netns_ino) {
		r = shield_error_set(
			err, -ESRCH,
			"network namespace %s is not the one registered: entry dropped", e->netns);
		goto fail;
	}
	r = load_config(c, true, err);
	if (r < 0) {
		shield_error_prefix(err, "bundle %s: ", e->state_dir);
		goto fail;
	}

	c->next = d->containers;
	if (d->containers)
		d->containers->prev = c;
	d->containers = c;
	d->n_containers++;

	snprintf(detail, sizeof(detail), "netns %.300s, dnsmasq pid %d, source %.16s", e->netns,
		 (int)e->dnsmasq_pid, e->source);
	emit_info(c, SHIELD_EVENT_WATCH_ATTACHED, detail);
	nlog_f(LOG_PRIO_INFO, &(const struct nlog_fields){.c = c}, "attached %s (%s): %s",
	       container_label(c), e->state_dir, detail);
	c->dnsmasq_alive = true; /* until the pidfd says otherwise: no "up" event at attach */
	watch_dnsmasq(c);
	r = kernel_open(c, err);
	if (r < 0) {
		nlog_c(c, LOG_PRIO_ERR, "kernel view unavailable, retried on the timer: %s",
		       err->msg);
		kernel_close(c);
		c->mon_broken = true;
		shield_error_clear(err);
	} else {
		kernel_dump(c);
	}
	tail_open(c);
	tail_read(c);
	return 0;
fail:
	container_free(c);
	return r;
}

void container_update(struct container *c, const struct registry_entry *e)
{
	struct daemon *d = c->d;
	struct shield_error err = {0};

	if (strcmp(e->state_dir, c->e.state_dir) != 0 || strcmp(e->netns, c->e.netns) != 0 ||
	    e->netns_dev != c->e.netns_dev || e->netns_ino != c->e.netns_ino ||
	    e->pid != c->e.pid) {
		/* Another container under the same id: start over. */
		container_detach(c, "registry entry now names another namespace");
		if (container_attach(d, e, &err) < 0)
			nlog(LOG_PRIO_ERR, "not watching %s: %s", e->name[0] ? e->name : e->id,
			     err.msg);
		return;
	}
	if (e->dnsmasq_pid == c->e.dnsmasq_pid && strcmp(e->name, c->e.name) == 0)
		return;
	nlog_c(c, LOG_PRIO_INFO, "registry entry changed: dnsmasq pid %d -> %d",
	       (int)c->e.dnsmasq_pid, (int)e->dnsmasq_pid);
	tail_drain(c); /* lines of the old dnsmasq first */
	if (entry_set(&c->e, e) < 0) {
		nlog_c(c, LOG_PRIO_ERR, "out of memory for the registry entry");
		return;
	}
	/* A restarted dnsmasq (shield allow/deny) comes with a changed bundle. */
	if (load_config(c, false, &err) < 0)
		nlog_c(c, LOG_PRIO_ERR, "bundle: %s (the old config stays)", err.msg);
	watch_dnsmasq(c);
	tail_check(c);
}

void container_detach(struct container *c, const char *why)
{
	struct daemon *d = c->d;

	if (c->detaching)
		return;
	nlog_f(LOG_PRIO_INFO, &(const struct nlog_fields){.c = c}, "detached %s: %s",
	       container_label(c), why);
	emit_info(c, SHIELD_EVENT_WATCH_DETACHED, why);
	tail_save(c, true);
	c->detaching = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		d->containers = c->next;
	if (c->next)
		c->next->prev = c->prev;
	d->n_containers--;
	if (d->batch == c)
		d->batch = NULL;
	if (d->more_next == c)
		d->more_next = NULL;
	fdwatch_close(c->pidw);
	c->pidw = NULL;
	kernel_close(c);
	tail_close(c);
	if (c->handles == 0)
		container_free(c);
}

void container_tick(struct container *c)
{
	struct shadow_output out = {0};
	struct shield_error err = {0};
	struct shadow_now now;
	char why[PATH_MAX + 64];

	if (!ns_alive(c, why, sizeof(why))) {
		char detail[512];

		snprintf(detail, sizeof(detail), "network namespace gone (%.400s): entry dropped",
			 why);
		nlog_c(c, LOG_PRIO_NOTICE, "%s", detail);
		container_detach(c, detail);
		return;
	}
	if (bundle_signature(c->dirfd) != c->bundle_sig) {
		nlog_c(c, LOG_PRIO_INFO, "bundle changed: reading it again");
		if (load_config(c, false, &err) < 0)
			nlog_c(c, LOG_PRIO_ERR, "bundle: %s (the old config stays)", err.msg);
	}
	daemon_now(&now);
	if (shadow_tick(c->shadow, &now, &out) < 0)
		nlog_c(c, LOG_PRIO_ERR, "out of memory in the shadow state");
	container_output(c, &out);
	shadow_output_free(&out);
	kernel_check(c);
	tail_read(c); /* the answers dnsmasq added are explained before the dump judges them */
	kernel_dump(c);
	tail_check(c);
	tail_save(c, true);
}

json_t *container_report(struct container *c)
{
	struct shadow_report_info info = {
		.id = c->e.id,
		.name = c->e.name,
		.state_dir = c->e.state_dir,
		.netns = c->e.netns,
		.source = c->e.source,
		.dnsmasq_alive = c->dnsmasq_alive,
	};
	struct shadow_now now;
	json_t *o, *log;

	daemon_now(&now);
	o = shadow_report(c->shadow, &info, &now);
	if (!o)
		return NULL;
	/* nftsetd's own counters beside the report of BRIEF.md. */
	log = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "lines", (json_int_t)c->tail.lines,
			"offset", (json_int_t)c->tail.split.consumed, "gaps",
			(json_int_t)c->tail.gaps, "cuts", (json_int_t)c->tail.rotations, "dumps",
			(json_int_t)c->dumps, "losses", (json_int_t)c->losses);
	if (log)
		json_object_set_new(o, "nftsetd", log);
	return o;
}
