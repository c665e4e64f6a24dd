/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allowlist profiles: named text files of domains and IPs/CIDRs. Bundled
 * ones live in DATA_DIR/profiles/NAME.txt; a file of the same name in the
 * user's profiles directory (CONFIG_DIR/profiles/NAME.txt) overrides it.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "strlist.h"

#define PROFILE_NAME_MAX  64
#define PROFILE_FILE_MAX  (256 * 1024)
#define PROFILE_LINES_MAX 8192

/*
 * Parse profile text (pure): '#' starts a comment anywhere on a line, blank
 * lines ignored, each entry a domain (normalised into domains) or an IP/CIDR
 * (canonical into ips), ordered de-duplication within each list (appends to
 * existing contents). An invalid entry fails with "NAME:LINE: why" and
 * leaves both lists untouched. An entry made only of digits, dots and '/',
 * or of hex digits with a ':', is read as an address, anything else as a
 * domain. More than PROFILE_FILE_MAX bytes is -EFBIG, more than
 * PROFILE_LINES_MAX lines -E2BIG.
 */
int profile_parse(const char *name, const char *text, size_t len, struct strlist *domains,
		  struct strlist *ips, struct shield_error *err);

/* Whether name is a valid profile name ([a-z0-9][a-z0-9_.-]*, no "..", <= 64). */
int profile_name_check(const char *name, struct shield_error *err);

/*
 * Load one profile by name, user_dir first (may be NULL), then data_dir.
 * Both are parent directories: the file is DIR/profiles/NAME.txt. A user
 * file replaces the bundled one of the same name entirely. Unknown name:
 * -ENOENT with err listing the known profiles.
 */
int profile_load(const char *name, const char *user_dir, const char *data_dir,
		 struct strlist *domains, struct strlist *ips, struct shield_error *err);

/*
 * Find and read one profile's text, user_dir first (as profile_load):
 * *text malloc'd and NUL-terminated, *len its length, path the file read,
 * *user (may be NULL) whether it came from user_dir. Unknown name: -ENOENT
 * with err listing the known profiles.
 */
int profile_read(const char *name, const char *user_dir, const char *data_dir, char **text,
		 size_t *len, char path[PATH_MAX], bool *user, struct shield_error *err);

/*
 * Names of every available profile (both dirs, sorted, unique), appended to
 * names. Missing directories count as empty; files whose name is not a valid
 * profile name plus ".txt" are ignored.
 */
int profile_list(const char *user_dir, const char *data_dir, struct strlist *names,
		 struct shield_error *err);

/* One available profile and where it is: a user file shadows a bundled one of the same name. */
struct profile_info {
	char name[PROFILE_NAME_MAX + 1];
	bool user;    /* USER_DIR/profiles/NAME.txt exists (this one is used) */
	bool bundled; /* DATA_DIR/profiles/NAME.txt exists (shadowed when user is set too) */
};

/*
 * Every available profile (as profile_list: sorted, unique) with where it
 * is, into a malloc'd array *out of *n (NULL and 0 when there is none).
 */
int profile_catalog(const char *user_dir, const char *data_dir, struct profile_info **out,
		    size_t *n, struct shield_error *err);

/*
 * A profile's one-line description (pure): its first comment line before
 * any entry, without the leading '#'s and a leading "NAME:", control bytes
 * as spaces, cut to fit size; "" when the file starts with an entry.
 */
void profile_summary(const char *name, const char *text, size_t len, char *out, size_t size);
