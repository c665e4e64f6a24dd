/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allowlist profiles. Parsing is pure; loading looks for
 * USER_DIR/profiles/NAME.txt, then DATA_DIR/profiles/NAME.txt. Profile files
 * may be symlinks (dotfile managers link them in); they are read as the
 * invoking user and only ever become bundle files after validation.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "shield/addr.h"
#include "shield/domain.h"
#include "shield/profile.h"
#include "fileio.h"
#include "strset.h"

#define PROFILE_SUFFIX ".txt"
/* Bound on the names a profiles directory may contribute to a listing. */
#define PROFILE_LIST_MAX 4096

/* An entry is read as an address if it could only be one: digits and dots
 * (and a '/'), or hex digits with a ':'. Everything else is a domain, so
 * "a/b.com" is reported as a bad domain, not as a bad address. */
static bool looks_like_addr(const char *s, size_t len)
{
	bool colon = false, decimal = true;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool dec = (c >= '0' && c <= '9') || c == '.' || c == '/';
		bool hex = dec || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':';

		if (!hex)
			return false;
		colon = colon || c == ':';
		decimal = decimal && dec;
	}
	return colon || decimal;
}

static int add_unique(struct strlist *l, struct strset *seen, const char *s)
{
	int r;

	if (strset_contains(seen, s))
		return 0;
	r = strlist_add(l, s);
	if (r < 0)
		return r;
	return strset_add(seen, l->items[l->n - 1]);
}

int profile_parse(const char *name, const char *text, size_t len, struct strlist *domains,
		  struct strlist *ips, struct shield_error *err)
{
	_cleanup_strlist_ struct strlist d = STRLIST_INIT, a = STRLIST_INIT;
	_cleanup_strset_ struct strset dseen = STRSET_INIT, aseen = STRSET_INIT;
	size_t line = 0;
	int r;

	if (!name)
		name = "profile";
	if (len > PROFILE_FILE_MAX)
		return shield_error_set(err, -EFBIG, "%s: larger than %d bytes", name,
					PROFILE_FILE_MAX);
	const char *s;
	size_t n, pos = 0;

	while (text_next_entry(text, len, &pos, &line, &s, &n)) {
		char norm[DOMAIN_BUF_SIZE];

		if (line > PROFILE_LINES_MAX)
			return shield_error_set(err, -E2BIG, "%s: more than %d lines", name,
						PROFILE_LINES_MAX);
		if (n == 0)
			continue;

		if (looks_like_addr(s, n)) {
			struct addr_prefix ap;

			r = addr_parse(s, n, &ap, err);
			if (r < 0) {
				shield_error_prefix(err, "%s:%zu: ", name, line);
				return r;
			}
			addr_format(&ap, norm);
			r = add_unique(&a, &aseen, norm);
		} else {
			r = domain_normalize(s, n, norm, err);
			if (r < 0) {
				shield_error_prefix(err, "%s:%zu: ", name, line);
				return r;
			}
			r = add_unique(&d, &dseen, norm);
		}
		if (r < 0)
			return shield_error_set(err, r, "%s: out of memory", name);
	}

	/* Only a fully valid profile changes the caller's lists. */
	r = strlist_merge_unique(domains, &d, NULL);
	if (r >= 0)
		r = strlist_merge_unique(ips, &a, NULL);
	if (r < 0)
		return shield_error_set(err, r, "%s: out of memory", name);
	return 0;
}

static bool name_char_ok(char c, bool first)
{
	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return true;
	return !first && (c == '_' || c == '.' || c == '-');
}

/* The check without a message, for directory listings. */
static bool name_ok(const char *name, size_t len)
{
	if (len == 0 || len > PROFILE_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!name_char_ok(name[i], i == 0))
			return false;
		if (name[i] == '.' && i + 1 < len && name[i + 1] == '.')
			return false;
	}
	return true;
}

int profile_name_check(const char *name, struct shield_error *err)
{
	char q[SHIELD_QUOTE_MAX], qc[8];
	size_t len;

	if (!name || !*name)
		return shield_error_set(err, -EINVAL, "invalid profile name \"\": empty");
	len = strnlen(name, PROFILE_NAME_MAX + 1);
	shield_quote(name, len, q);
	if (len > PROFILE_NAME_MAX)
		return shield_error_set(err, -EINVAL,
					"invalid profile name %s: longer than %d characters", q,
					PROFILE_NAME_MAX);
	if (!name_char_ok(name[0], true))
		return shield_error_set(err, -EINVAL,
					"invalid profile name %s: must start with a lowercase "
					"letter or digit",
					q);
	for (size_t i = 1; i < len; i++)
		if (!name_char_ok(name[i], false))
			return shield_error_set(err, -EINVAL,
						"invalid profile name %s: character %s not "
						"allowed (use a-z, 0-9, '_', '.', '-')",
						q, shield_quote_char((unsigned char)name[i], qc));
	if (strstr(name, ".."))
		return shield_error_set(err, -EINVAL, "invalid profile name %s: \"..\" not allowed",
					q);
	return 0;
}

/* Open DIR/profiles/NAME.txt; -ENOENT when absent. */
static int open_profile(const char *dir, const char *name, char *path, size_t size)
{
	int n = snprintf(path, size, "%s/profiles/%s" PROFILE_SUFFIX, dir, name);
	int fd;

	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	/* O_NONBLOCK: a FIFO under a profile name must not hang the reader. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	return fd < 0 ? negative_errno() : fd;
}

static int unknown_profile(const char *name, const char *user_dir, const char *data_dir,
			   struct shield_error *err)
{
	_cleanup_strlist_ struct strlist names = STRLIST_INIT;
	_cleanup_free_ char *known = NULL;
	char q[SHIELD_QUOTE_MAX];

	shield_quote(name, strlen(name), q);
	if (profile_list(user_dir, data_dir, &names, NULL) < 0 || names.n == 0)
		return shield_error_set(err, -ENOENT, "unknown profile %s (no profiles found)", q);
	known = strlist_join(&names, ", ");
	if (!known)
		return shield_error_set(err, -ENOENT, "unknown profile %s", q);
	return shield_error_set(err, -ENOENT, "unknown profile %s (known: %s)", q, known);
}

int profile_read(const char *name, const char *user_dir, const char *data_dir, char **text,
		 size_t *len, char path[PATH_MAX], bool *user, struct shield_error *err)
{
	const char *dirs[] = {user_dir, data_dir};
	int r;

	r = profile_name_check(name, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		char q[SHIELD_QUOTE_MAX];
		_cleanup_close_ int fd = -1;

		if (!dirs[i])
			continue;
		fd = open_profile(dirs[i], name, path, PATH_MAX);
		if (fd == -ENOENT || fd == -ENOTDIR)
			continue;
		shield_quote(path, strlen(path), q);
		if (fd < 0)
			return shield_error_set(err, fd, "profile %s: %s: %s", name, q,
						shield_strerror(fd));
		r = read_fd_capped(fd, PROFILE_FILE_MAX, text, len);
		if (r == -EFBIG)
			return shield_error_set(err, r, "profile %s: %s: larger than %d bytes",
						name, q, PROFILE_FILE_MAX);
		if (r == -EINVAL)
			return shield_error_set(err, r, "profile %s: %s: not a regular file", name,
						q);
		if (r < 0)
			return shield_error_set(err, r, "profile %s: %s: cannot read: %s", name, q,
						shield_strerror(r));
		if (user)
			*user = i == 0;
		return 0;
	}
	return unknown_profile(name, user_dir, data_dir, err);
}

int profile_load(const char *name, const char *user_dir, const char *data_dir,
		 struct strlist *domains, struct strlist *ips, struct shield_error *err)
{
	_cleanup_free_ char *text = NULL;
	char path[PATH_MAX];
	size_t len = 0;
	int r = profile_read(name, user_dir, data_dir, &text, &len, path, NULL, err);

	if (r < 0)
		return r;
	return profile_parse(name, text, len, domains, ips, err);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_dir(const char *dir, struct strlist *names, struct shield_error *err)
{
	char path[PATH_MAX], q[SHIELD_QUOTE_MAX];
	DIR *d;
	struct dirent *de;
	size_t count = 0;
	int n = snprintf(path, sizeof(path), "%s/profiles", dir);

	if (n < 0 || (size_t)n >= sizeof(path))
		return shield_error_set(err, -ENAMETOOLONG,
					"profiles directory under %s: path too long",
					shield_quote(dir, strlen(dir), q));
	d = opendir(path);
	if (!d) {
		int r = negative_errno();

		if (r == -ENOENT || r == -ENOTDIR)
			return 0;
		return shield_error_set(err, r, "profiles directory %s: %s",
					shield_quote(path, strlen(path), q), shield_strerror(r));
	}
	while ((errno = 0, de = readdir(d))) {
		size_t len = strlen(de->d_name), slen = strlen(PROFILE_SUFFIX);
		char name[PROFILE_NAME_MAX + 1];
		int r;

		if (len <= slen || strcmp(de->d_name + len - slen, PROFILE_SUFFIX) != 0)
			continue;
		len -= slen;
		if (!name_ok(de->d_name, len))
			continue;
		if (++count > PROFILE_LIST_MAX) {
			closedir(d);
			return shield_error_set(
				err, -E2BIG, "profiles directory %s: more than %d profiles",
				shield_quote(path, strlen(path), q), PROFILE_LIST_MAX);
		}
		memcpy(name, de->d_name, len);
		name[len] = '\0';
		r = strlist_add_unique(names, name);
		if (r < 0) {
			closedir(d);
			return shield_error_set(err, r, "out of memory");
		}
	}
	if (errno != 0) {
		int r = negative_errno();

		closedir(d);
		return shield_error_set(err, r, "profiles directory %s: %s",
					shield_quote(path, strlen(path), q), shield_strerror(r));
	}
	closedir(d);
	return 0;
}

int profile_list(const char *user_dir, const char *data_dir, struct strlist *names,
		 struct shield_error *err)
{
	_cleanup_strlist_ struct strlist l = STRLIST_INIT;
	int r = 0;

	if (user_dir)
		r = list_dir(user_dir, &l, err);
	if (r >= 0 && data_dir)
		r = list_dir(data_dir, &l, err);
	if (r < 0)
		return r;
	if (l.n > 1)
		qsort(l.items, l.n, sizeof(*l.items), cmp_str);
	r = strlist_merge_unique(names, &l, NULL);
	if (r < 0)
		return shield_error_set(err, r, "out of memory");
	return 0;
}

int profile_catalog(const char *user_dir, const char *data_dir, struct profile_info **out,
		    size_t *n, struct shield_error *err)
{
	_cleanup_strlist_ struct strlist user = STRLIST_INIT;
	_cleanup_strlist_ struct strlist data = STRLIST_INIT;
	_cleanup_strlist_ struct strlist all = STRLIST_INIT;
	_cleanup_free_ struct profile_info *v = NULL;
	int r = 0;

	*out = NULL;
	*n = 0;
	if (user_dir)
		r = list_dir(user_dir, &user, err);
	if (r >= 0 && data_dir)
		r = list_dir(data_dir, &data, err);
	if (r < 0)
		return r;
	if (strlist_merge_unique(&all, &user, NULL) < 0 ||
	    strlist_merge_unique(&all, &data, NULL) < 0)
		return shield_error_set(err, -ENOMEM, "out of memory");
	if (all.n > 1)
		qsort(all.items, all.n, sizeof(*all.items), cmp_str);
	if (all.n > 0) {
		v = calloc(all.n, sizeof(*v));
		if (!v)
			return shield_error_set(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < all.n; i++) {
		snprintf(v[i].name, sizeof(v[i].name), "%s", all.items[i]);
		v[i].user = strlist_contains(&user, all.items[i]);
		v[i].bundled = strlist_contains(&data, all.items[i]);
	}
	*n = all.n;
	*out = TAKE_PTR(v);
	return 0;
}

void profile_summary(const char *name, const char *text, size_t len, char *out, size_t size)
{
	const char *p = text, *end = text + len;
	size_t nlen = strlen(name);

	if (size == 0)
		return;
	out[0] = '\0';
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *e = eol ? eol : end;
		size_t o = 0;

		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		if (p == e) { /* blank line: keep looking */
			p = e + (eol != NULL);
			continue;
		}
		if (*p != '#')
			return; /* the first entry comes before any comment */
		while (p < e && (*p == '#' || *p == ' ' || *p == '\t'))
			p++;
		/* "NAME: what it is for" says NAME once already. */
		if ((size_t)(e - p) > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == ':') {
			p += nlen + 1;
			while (p < e && (*p == ' ' || *p == '\t'))
				p++;
		}
		while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		for (; p < e && o + 1 < size; p++)
			out[o++] = (unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p;
		out[o] = '\0';
		if (o > 0)
			return;
		p = (eol ? eol + 1 : end); /* a bare "#" line: try the next one */
	}
}
