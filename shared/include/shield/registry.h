/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry of shielded network namespaces: one JSON file per container,
 * RUNTIME_DIR/containers/ID.json, written by shield-hook (and `shield
 * attach`) once a container's firewall and dnsmasq are up, removed at
 * poststop. nftsetd watches the directory. RUNTIME_DIR is $SHIELD_RUNTIME_DIR,
 * else /run/shield for root, else $XDG_RUNTIME_DIR/shield (rootless).
 */
#pragma once
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "audit.h"
#include "error.h"
#include "oci-state.h"
#include "strlist.h"

#define REGISTRY_ENTRY_MAX (64 * 1024) /* bytes of one entry file */
#define REGISTRY_LIST_MAX  65536       /* entries registry_list accepts */

struct registry_entry {
	char id[OCI_ID_MAX + 1]; /* container id (file name without .json) */
	char name[128];		 /* container name, may be empty */
	char state_dir[PATH_MAX];
	char netns[PATH_MAX]; /* /proc/PID/ns/net, or the path given to attach */
	uint64_t netns_dev;   /* st_dev and st_ino of the namespace, to recognise it */
	uint64_t netns_ino;
	pid_t pid;	   /* the container's init; 0 for an attached namespace */
	pid_t dnsmasq_pid; /* the container's dnsmasq */
	char source[16];   /* "podman" (the hook) or "attach" */
	char started[TIMESTAMP_MAX];
};

/* Whether this process runs in a user namespace other than the initial one (rootless podman). */
bool shield_in_user_namespace(void);

/* The registry's RUNTIME_DIR (see above) into out; -EINVAL naming what is missing. */
int registry_runtime_dir(char *out, size_t size, struct shield_error *err);

/*
 * Open RUNTIME_DIR/containers (create: make both 0700 if missing); returns an
 * O_DIRECTORY fd. Neither may be a symlink.
 */
int registry_open(const char *runtime_dir, bool create, struct shield_error *err);

/* Atomically write ID.json for e (0600). */
int registry_write(int regfd, const struct registry_entry *e, struct shield_error *err);

/* Read and parse ID.json (-ENOENT when there is none). */
int registry_read(int regfd, const char *id, struct registry_entry *e, struct shield_error *err);

/* Remove ID.json: 1 removed, 0 there was none. */
int registry_remove(int regfd, const char *id, struct shield_error *err);

/* The entry's JSON text (malloc'd, newline-terminated). */
int registry_entry_format(const struct registry_entry *e, char **out, struct shield_error *err);

/*
 * Whether the namespace the entry recorded is still the one at its path
 * (same device and inode): a container that stopped, or a namespace that
 * was deleted and made again, is not.
 */
bool registry_entry_netns_alive(const struct registry_entry *e);

/* Parse an entry file's text (pure; for nftsetd, shield and the tests). */
int registry_entry_parse(const char *buf, size_t len, struct registry_entry *e,
			 struct shield_error *err);

/*
 * Whether a file name in the registry directory is an entry, ID.json with a
 * valid id (pure); the id into id. registry_write's temporary files start
 * with '.' and are not entries.
 */
bool registry_entry_id(const char *filename, char id[OCI_ID_MAX + 1]);

/*
 * The ids of every entry in the registry directory regfd (files ID.json
 * with a valid id; others ignored), sorted, appended to ids. More than
 * REGISTRY_LIST_MAX is -E2BIG.
 */
int registry_list(int regfd, struct strlist *ids, struct shield_error *err);

/*
 * The first entry of the registry in runtime_dir that match() accepts,
 * into *e: 1 found, 0 none (also when runtime_dir is "" or has no
 * registry), -errno. Entries that cannot be read (being rewritten, stray
 * files) are passed over.
 */
int registry_find(const char *runtime_dir,
		  bool (*match)(const struct registry_entry *e, const void *arg), const void *arg,
		  struct registry_entry *e, struct shield_error *err);

/*
 * The entry whose state_dir is the bundle bundlefd (the same directory, by
 * device and inode): 1 found, 0 none, -errno.
 */
int registry_find_bundle(const char *runtime_dir, int bundlefd, struct registry_entry *e,
			 struct shield_error *err);
