/* SPDX-License-Identifier: Apache-2.0 */
/* Shielding a network namespace and letting it go (see launch.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shield/audit.h"
#include "shield/bundle-rules.h"
#include "shield/control.h"
#include "shield/dnsmasq-config.h"
#include "shield/dnsmasq-proc.h"
#include "shield/launch.h"
#include "shield/nft-netlink.h"
#include "shield/registry.h"

#define HOOK_ERROR_LOG "hook-error.log"
/* Where the start put the registry entry: poststop may run with no environment at all. */
#define REGISTRY_DIR_FILE "registry.dir"

/* The name audit entries carry. */
static const char *audit_name(const struct launch_target *t, const struct bundle_config *c)
{
	if (t->name && *t->name)
		return t->name;
	return c && c->name[0] ? c->name : t->id;
}

int launch_write_dnsmasq_conf(int dirfd, const char *state_dir, const struct bundle_config *c,
			      unsigned flags, struct shield_error *err)
{
	_cleanup_strlist_ struct strlist domains = STRLIST_INIT;
	_cleanup_strlist_ struct strlist denied = STRLIST_INIT;
	_cleanup_free_ char *text = NULL;
	int r = bundle_effective_domains(dirfd, &domains, &denied, err);

	if (r >= 0)
		r = dnsmasq_config_for_bundle(state_dir, c, &domains, &denied, &text, err);
	if (r >= 0)
		r = bundle_write_file_mode(dirfd, DNSMASQ_CONF_FILE, text, strlen(text), 0600,
					   flags, err);
	return r;
}

static int write_registry(const struct launch_target *t, int regfd, const struct bundle_config *c,
			  pid_t dnsmasq_pid, struct shield_error *err)
{
	struct registry_entry e = {.pid = t->pid, .dnsmasq_pid = dnsmasq_pid};
	struct stat st;

	if (fstat(t->nsfd, &st) < 0)
		return shield_error_set(err, negative_errno(), "network namespace: %s",
					strerror(errno));
	e.netns_dev = st.st_dev;
	e.netns_ino = st.st_ino;
	if (snprintf(e.id, sizeof(e.id), "%s", t->id) >= (int)sizeof(e.id) ||
	    snprintf(e.state_dir, sizeof(e.state_dir), "%s", t->state_dir) >=
		    (int)sizeof(e.state_dir) ||
	    snprintf(e.netns, sizeof(e.netns), "%s", t->netns_path) >= (int)sizeof(e.netns))
		return shield_error_set(err, -ENAMETOOLONG, "registry entry: a path is too long");
	snprintf(e.name, sizeof(e.name), "%s", audit_name(t, c));
	snprintf(e.source, sizeof(e.source), "%s", t->source);
	shield_timestamp(e.started);
	return registry_write(regfd, &e, err);
}

/*
 * What the start records besides the registry entry: the container's short
 * id (podman) and where the registry is, in the bundle; and the registry
 * directory opened (made if need be) into *regfd. Done while dnsmasq starts:
 * none of it needs dnsmasq's pid, and none of it lets anything through.
 */
static int record_start(const struct launch_target *t, int *regfd, struct shield_error *err)
{
	_cleanup_free_ char *line = NULL;
	int r = 0;

	if (strcmp(t->source, "podman") == 0) {
		char shortid[16];

		snprintf(shortid, sizeof(shortid), "%.12s\n", t->id);
		r = bundle_write_file_mode(t->dirfd, "container.id", shortid, strlen(shortid), 0600,
					   BUNDLE_WRITE_NOSYNC | BUNDLE_WRITE_KEEP_SAME, err);
	}
	if (r >= 0)
		r = asprintf(&line, "%s\n", t->runtime_dir) < 0
			    ? shield_error_set(err, -ENOMEM, "out of memory")
			    : bundle_write_file_mode(
				      t->dirfd, REGISTRY_DIR_FILE, line, strlen(line), 0600,
				      BUNDLE_WRITE_NOSYNC | BUNDLE_WRITE_KEEP_SAME, err);
	if (r < 0)
		return r;
	*regfd = registry_open(t->runtime_dir, true, err);
	return *regfd < 0 ? shield_error_prefix(err, "registry: ") : 0;
}

static void remove_registry(const struct launch_target *t)
{
	struct shield_error ignored = {0};
	_cleanup_close_ int regfd = registry_open(t->runtime_dir, false, &ignored);

	if (regfd >= 0)
		registry_remove(regfd, t->id, &ignored);
}

static int conf_path(const struct launch_target *t, char **out, struct shield_error *err)
{
	if (asprintf(out, "%s/" DNSMASQ_CONF_FILE, t->state_dir) < 0)
		return shield_error_set(err, -ENOMEM, "out of memory");
	return 0;
}

int launch_start(const struct launch_target *t, struct launch_report *rep, struct shield_error *err)
{
	struct bundle_rules b = {0};
	struct nft_ruleset rs = {0};
	_cleanup_(nft_sock_closep) struct nft_sock *sock = NULL;
	_cleanup_(dnsmasq_probe_freep) struct dnsmasq_probe *probe = NULL;
	_cleanup_(dnsmasq_launch_freep) struct dnsmasq_launch *launch = NULL;
	_cleanup_close_ int cachefd = -1;
	_cleanup_free_ char *conf = NULL;
	_cleanup_close_ int lockfd = -1, regfd = -1;
	struct shield_error ignored = {0};
	struct timespec t0, t1;
	pid_t old;
	char detail[256];
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(rep, 0, sizeof(*rep));
	/* The bundle lock, as shield allow/deny/up/down hold it: a change made
	 * while the container starts is either read here or applied after. */
	lockfd = control_lock(t->dirfd, err);
	if (lockfd < 0)
		return shield_error_prefix(err, "bundle %s: ", t->state_dir);
	/* Three things at once: dnsmasq's nftset check, dnsmasq's start and the
	 * ruleset's commit. The container's process runs only once this hook has
	 * returned, so nothing can ask dnsmasq before the firewall is in place. */
	/* A passed nftset check is remembered next to the registry (RUNTIME_DIR). */
	cachefd = open(t->runtime_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	r = dnsmasq_probe_start(t->dnsmasq, cachefd, &probe, err);
	if (r >= 0) {
		r = bundle_rules_load(t->dirfd, &b, err);
		if (r < 0)
			shield_error_prefix(err, "bundle %s: ", t->state_dir);
	}
	if (r >= 0)
		r = conf_path(t, &conf, err);
	if (r >= 0)
		/* Made anew at every start: no fsync on the hook's path. */
		r = launch_write_dnsmasq_conf(t->dirfd, t->state_dir, &b.config,
					      BUNDLE_WRITE_NOSYNC | BUNDLE_WRITE_KEEP_SAME, err);
	/* A dnsmasq of this bundle still running (its container died without a
	 * poststop) holds the PID file and would confuse the checks. */
	if (r >= 0)
		r = dnsmasq_stop(t->dirfd, conf, 0, &old, err);
	if (r >= 0)
		r = dnsmasq_launch_begin(t->dnsmasq, t->nsfd, t->dirfd, conf, &launch, err);
	if (r >= 0)
		r = bundle_rules_build(&b, b.config.mode, &rs, err);
	if (r >= 0)
		r = nft_sock_open_in(t->nsfd, &sock, err);
	if (r >= 0)
		r = nft_apply_verified(sock, &rs, err);
	/* The nftset verdict first: it explains a dnsmasq that failed without it. */
	if (r >= 0)
		r = dnsmasq_probe_finish(probe, err);
	if (r >= 0)
		r = record_start(t, &regfd, err);
	if (launch) {
		/* Always waited for: a dnsmasq that started must be found to be stopped. */
		int lr = dnsmasq_launch_finish(launch, &rep->dnsmasq_pid, r >= 0 ? err : &ignored);

		if (r >= 0)
			r = lr;
	}
	if (r < 0)
		goto stop;
	rep->mode = b.config.mode;
	for (int i = 0; i < NFT_CHAIN_COUNT; i++)
		rep->n_rules += rs.chains[i].n_rules;
	for (int i = 0; i < NFT_SET_COUNT; i++)
		rep->n_elems += rs.sets[i].n_elems;

	r = write_registry(t, regfd, &b.config, rep->dnsmasq_pid, err);
	if (r < 0)
		goto stop;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	snprintf(detail, sizeof(detail),
		 "%s: mode %s, %zu rules, %zu static elements, verified; dnsmasq pid %d; %.1f ms",
		 t->source, shield_mode_name(rep->mode), rep->n_rules, rep->n_elems,
		 (int)rep->dnsmasq_pid,
		 (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	audit_append(t->dirfd, audit_name(t, &b.config), "setup", NULL, detail, &ignored);
	goto out;
stop:
	/* Nothing the failed start began keeps running. */
	if (launch) {
		pid_t stopped;

		dnsmasq_stop(t->dirfd, conf, rep->dnsmasq_pid, &stopped, &ignored);
	}
out:
	/* An entry left by an earlier start of this id describes nothing any more. */
	if (r < 0)
		remove_registry(t);
	nft_ruleset_free(&rs);
	bundle_rules_free(&b);
	return r;
}

bool launch_recorded_runtime_dir(int dirfd, char out[PATH_MAX])
{
	_cleanup_free_ char *text = NULL;
	struct shield_error ignored = {0};
	size_t len;

	if (bundle_read_file(dirfd, REGISTRY_DIR_FILE, PATH_MAX, &text, &len, &ignored) < 0)
		return false;
	while (len && text[len - 1] == '\n')
		text[--len] = '\0';
	if (text[0] != '/' || strchr(text, '\n'))
		return false;
	memcpy(out, text, len + 1);
	return true;
}

int launch_stop(const struct launch_target *t, struct launch_report *rep, struct shield_error *err)
{
	_cleanup_free_ char *conf = NULL;
	_cleanup_close_ int regfd = -1, lockfd = -1;
	struct shield_error ignored = {0};
	struct registry_entry e;
	char recorded[PATH_MAX];
	const char *rt;
	pid_t known = 0;
	char detail[128];
	int stopped, r;

	memset(rep, 0, sizeof(*rep));
	lockfd = control_lock(t->dirfd, err);
	if (lockfd < 0)
		return shield_error_prefix(err, "bundle %s: ", t->state_dir);
	r = conf_path(t, &conf, err);
	if (r < 0)
		return r;
	/* The registry is where the start put it, whatever this process's environment says. */
	rt = launch_recorded_runtime_dir(t->dirfd, recorded) ? recorded : t->runtime_dir;
	if (!rt)
		return shield_error_set(
			err, -EINVAL, "no registry location: the bundle records none and %s",
			t->runtime_dir_error ? t->runtime_dir_error : "none was given");
	/* The registry remembers the dnsmasq the hook started, should the PID file lie. */
	regfd = registry_open(rt, false, err);
	if (regfd >= 0 && registry_read(regfd, t->id, &e, &ignored) >= 0)
		known = e.dnsmasq_pid;
	if (regfd < 0 && regfd != -ENOENT)
		return regfd;
	stopped = dnsmasq_stop(t->dirfd, conf, known, &rep->dnsmasq_pid, err);
	if (stopped < 0)
		return stopped;
	if (regfd >= 0)
		r = rep->registry = registry_remove(regfd, t->id, err);
	if (r < 0)
		return r;
	if (stopped || rep->registry) {
		if (stopped)
			snprintf(detail, sizeof(detail), "%s: dnsmasq pid %d stopped", t->source,
				 (int)rep->dnsmasq_pid);
		else
			snprintf(detail, sizeof(detail), "%s: no dnsmasq was running", t->source);
		audit_append(t->dirfd, audit_name(t, NULL), "teardown", NULL, detail, &ignored);
	}
	return 0;
}

void launch_record_error(int dirfd, const char *name, const char *stage, const char *message)
{
	struct shield_error ignored = {0};
	char ts[TIMESTAMP_MAX];
	_cleanup_close_ int fd = open_append(dirfd, HOOK_ERROR_LOG);

	if (fd >= 0)
		dprintf(fd, "%s %s: %s\n", shield_timestamp(ts), stage, message);
	audit_append(dirfd, name, "error", NULL, message, &ignored);
}
