/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shielding a network namespace and letting it go: the two stages of
 * shield-hook (createRuntime, poststop) and of `shield attach`/`detach`,
 * one code path for both.
 */
#pragma once
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "bundle.h"
#include "error.h"
#include "params.h"

struct launch_target {
	const char *state_dir;	 /* the bundle, checked (bundle_check_location + bundle_open) */
	int dirfd;		 /* the open bundle */
	int nsfd;		 /* the network namespace (start only) */
	const char *netns_path;	 /* how nftsetd finds it: /proc/PID/ns/net or an attach path */
	const char *id;		 /* registry id: the OCI container id, or the attach name */
	const char *name;	 /* for the audit log; NULL: the bundle's name, else id */
	pid_t pid;		 /* the container's init; 0 for an attached namespace */
	const char *source;	 /* "podman" or "attach" */
	const char *runtime_dir; /* registry location (registry_runtime_dir); stop: may be NULL */
	const char *runtime_dir_error; /* stop: why runtime_dir is NULL, for the message */
	const char *dnsmasq;	       /* dnsmasq binary (dnsmasq_binary) */
};

struct launch_report {
	enum shield_mode mode;
	size_t n_rules, n_elems;
	pid_t dnsmasq_pid; /* started, or stopped; 0 for none */
	int registry;	   /* stop: 1 when an entry was removed */
};

/*
 * Shield the namespace: read the bundle as it is now (live allow/deny
 * included), regenerate dnsmasq.conf from it, commit the ruleset of the
 * bundle's mode in one transaction and verify it from the kernel's dump,
 * stop a dnsmasq of this bundle left from an earlier run, start dnsmasq in
 * the namespace, write the registry entry and an audit entry. On failure
 * nothing of it keeps running (dnsmasq stopped, entry removed); the ruleset,
 * if committed, stays, so the namespace is never left open. Both stages hold
 * the bundle lock (control_lock) throughout, so a shield allow/deny/up/down
 * on the same bundle runs wholly before or wholly after them.
 */
int launch_start(const struct launch_target *t, struct launch_report *rep,
		 struct shield_error *err);

/*
 * Let it go: stop the bundle's dnsmasq (only if it really is ours), remove
 * the registry entry, audit it when something was done. The bundle and the
 * ruleset stay. Doing it twice is harmless. The registry entry is looked for
 * where the start recorded it (registry.dir in the bundle): podman runs
 * poststop hooks with an empty environment, so a rootless poststop cannot
 * know $XDG_RUNTIME_DIR.
 */
int launch_stop(const struct launch_target *t, struct launch_report *rep, struct shield_error *err);

/*
 * Regenerate the bundle's dnsmasq.conf (0600) from the bundle as it is now:
 * its effective and denied domains, and the DNS policy of c's mode
 * (dnsmasq_config_for_bundle). flags as for bundle_write_file_mode.
 */
int launch_write_dnsmasq_conf(int dirfd, const char *state_dir, const struct bundle_config *c,
			      unsigned flags, struct shield_error *err);

/* The registry location the last start recorded in the bundle (absolute), if any. */
bool launch_recorded_runtime_dir(int dirfd, char out[PATH_MAX]);

/* Record a failed stage in the bundle's hook-error.log (O_NOFOLLOW, 0600) and audit log. */
void launch_record_error(int dirfd, const char *name, const char *stage, const char *message);
