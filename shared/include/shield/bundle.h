/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state bundle: one directory per container holding its allowlists and
 * generated files (DESIGN.md "On-host contract"). Every write is atomic
 * (temp file + rename in the same directory), O_NOFOLLOW, mode 0600; the
 * directory is 0700. Reads are capped in size and line count.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "error.h"
#include "params.h"
#include "strlist.h"

#define BUNDLE_FORMAT_VERSION	   1
#define BUNDLE_FILE_MAX		   (1024 * 1024) /* bytes in one bundle file */
#define BUNDLE_LINES_MAX	   65536	 /* entries in one list file */
#define BUNDLE_DEFAULT_SET_TIMEOUT (30 * 60)

enum bundle_list {
	BUNDLE_PROFILE_DOMAINS, /* profile.domains */
	BUNDLE_LIVE_DOMAINS,	/* live.domains */
	BUNDLE_DENIED_DOMAINS,	/* denied.domains */
	BUNDLE_PROFILE_ALLOWED, /* profile.allowed */
	BUNDLE_LIVE_ALLOWED,	/* live.allowed */
	BUNDLE_DENY_LIST,	/* deny.list */
};

/* The file name of a list. */
const char *bundle_list_filename(enum bundle_list which);

/* Whether the list holds domains (else IPs/CIDRs). */
bool bundle_list_is_domains(enum bundle_list which);

/*
 * Open (create = make it 0700 if missing, parents must exist) a bundle
 * directory and check it: absolute path, the path itself not a symlink, a
 * directory, owned by the effective uid, no group/other write. Returns an
 * O_RDONLY|O_DIRECTORY|O_CLOEXEC fd, or
 * -errno with err naming the path and the problem.
 * A trailing '/' or a "." or ".." component is refused (-EINVAL): each would
 * let a symlink in the last position through the lstat check.
 */
int bundle_open(const char *path, bool create, struct shield_error *err);

/*
 * Check where a bundle directory named by untrusted input (an OCI
 * annotation) is: absolute, existing, and neither the path nor what it
 * resolves to under /etc, /proc, /sys, /dev, /usr, /bin, /sbin, /lib,
 * /lib64, /boot or /root (-EPERM). bundle_open() checks the rest.
 */
int bundle_check_location(const char *path, struct shield_error *err);

/*
 * Read a list file: one entry per line, '#' comments and blank lines
 * ignored, each entry validated and normalised (domain_normalize or
 * addr_canonical), duplicates dropped in order. A missing file is an empty
 * list. An invalid entry fails the read with "FILE:LINE: why".
 * On success the old contents of out are freed and replaced; on failure out
 * is untouched. More than BUNDLE_LINES_MAX lines is -E2BIG, a file over
 * BUNDLE_FILE_MAX bytes -EFBIG.
 */
int bundle_read_list(int dirfd, enum bundle_list which, struct strlist *out,
		     struct shield_error *err);

/*
 * Atomically replace a list file with the entries, one per line. Every entry
 * must already be normalised (what bundle_read_list returns), else -EINVAL.
 */
int bundle_write_list(int dirfd, enum bundle_list which, const struct strlist *l,
		      struct shield_error *err);

/* Atomically replace file name in dirfd with data (0600, O_NOFOLLOW temp file, fsync, rename). */
int bundle_write_file(int dirfd, const char *name, const void *data, size_t len,
		      struct shield_error *err);
/*
 * The same with another mode (resolv.conf is bind-mounted into the
 * container, so 0644) and flags: BUNDLE_WRITE_NOSYNC skips the fsyncs for a
 * file made anew at every container start (still atomic, not durable; each
 * fsync costs about a millisecond on the hook's path). BUNDLE_WRITE_KEEP_SAME
 * leaves a file that already holds exactly these bytes as it is (a regular
 * file with one link, owned by this user, with this mode): no temporary file
 * and no rename, which on ext4 starts writeback of the file it replaces (about
 * half a millisecond on the hook's path).
 */
#define BUNDLE_WRITE_NOSYNC    1u
#define BUNDLE_WRITE_KEEP_SAME 2u
int bundle_write_file_mode(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			   unsigned flags, struct shield_error *err);

/*
 * Read a whole file (O_NOFOLLOW, at most cap bytes or -EFBIG); *out is
 * malloc'd and NUL-terminated, *len (may be NULL) its length. -ENOENT if
 * missing, -ELOOP if a symlink, -EINVAL if not a regular file.
 */
int bundle_read_file(int dirfd, const char *name, size_t cap, char **out, size_t *len,
		     struct shield_error *err);

/*
 * Effective domains: (profile ∪ live) − denied, in stable order. denied (may
 * be NULL) receives denied.domains as read, for callers that need it too.
 */
int bundle_effective_domains(int dirfd, struct strlist *out, struct strlist *denied,
			     struct shield_error *err);

/* Effective IPs: (profile ∪ live) − deny.list, in stable order; deny (may be NULL) as above. */
int bundle_effective_ips(int dirfd, struct strlist *out, struct strlist *deny,
			 struct shield_error *err);

/*
 * Settings that are not lists. Stored as upstream.dns and dns.tier (shared
 * with terok-shield) plus shield.conf ("key=value" lines) for the rest.
 */
struct bundle_config {
	unsigned version;	     /* BUNDLE_FORMAT_VERSION */
	char name[128];		     /* container name, may be empty */
	struct addr_prefix upstream; /* upstream DNS address (host prefix) */
	enum shield_mode mode;	     /* up, down, down_all or block */
	enum dns_policy dns_policy;  /* strict or open */
	struct port_list loopback_ports;
	struct addr_prefix gateway_v4; /* family 0 when unset */
	struct addr_prefix gateway_v6; /* family 0 when unset */
	uint32_t set_timeout;	       /* seconds, allow-set element timeout */
	struct strlist profiles;       /* profile names in order */
};

/*
 * The DNS policy dnsmasq runs with when c is in mode: down and down_all
 * forward everything, the other modes keep c's policy.
 */
enum dns_policy bundle_dns_policy(const struct bundle_config *c, enum shield_mode mode);

/* Defaults: version 1, mode up, policy strict, timeout 30m, no ports, no gateways. */
void bundle_config_init(struct bundle_config *c);
void bundle_config_free(struct bundle_config *c);

/*
 * Write upstream.dns, dns.tier ("dnsmasq") and shield.conf atomically (each
 * file on its own). The config is validated first: upstream a single
 * address, mode up/down/down_all/block, timeout 1s..7d, valid profile names.
 */
int bundle_write_config(int dirfd, const struct bundle_config *c, struct shield_error *err);

/*
 * Read and validate them; unknown keys and bad values are errors naming
 * file:line. upstream.dns is required; dns.tier, if present, must say
 * "dnsmasq"; a missing shield.conf (a terok-shield bundle) means defaults.
 * c must be initialised (bundle_config_init); on success its old contents
 * are freed and replaced, on failure it is untouched.
 */
int bundle_read_config(int dirfd, struct bundle_config *c, struct shield_error *err);

/*
 * Pure parser of shield.conf text (for tests and fuzzing); upstream is not in
 * it. "key=value" lines, '#' comment lines and blank lines; a version line
 * is required; keys absent from the text keep c's values. On failure c is
 * untouched.
 */
int bundle_config_parse(const char *text, size_t len, struct bundle_config *c,
			struct shield_error *err);

/* The shield.conf text for c (malloc'd into *out), after validating every field but upstream. */
int bundle_config_format(const struct bundle_config *c, char **out, struct shield_error *err);
