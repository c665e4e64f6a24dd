/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state bundle. The hook runs as root against a directory a user
 * prepared, so every access is relative to one checked directory fd, never
 * follows a symlink in the last component, and never trusts a file's size.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shield/fdio.h"
#include "shield/bundle.h"
#include "shield/domain.h"
#include "shield/profile.h"
#include "fileio.h"
#include "strset.h"

#define CONFIG_FILE   "shield.conf"
#define UPSTREAM_FILE "upstream.dns"
#define TIER_FILE     "dns.tier"
#define DNS_TIER      "dnsmasq"
/* Longest file name we write: leaves room for the ".NAME.XXXXXX" temp name. */
#define BUNDLE_NAME_MAX	 (NAME_MAX - 8)
#define CONFIG_VALUE_MAX 4096
#define SET_TIMEOUT_MAX	 (7u * 24 * 3600)

const char *bundle_list_filename(enum bundle_list which)
{
	switch (which) {
	case BUNDLE_PROFILE_DOMAINS:
		return "profile.domains";
	case BUNDLE_LIVE_DOMAINS:
		return "live.domains";
	case BUNDLE_DENIED_DOMAINS:
		return "denied.domains";
	case BUNDLE_PROFILE_ALLOWED:
		return "profile.allowed";
	case BUNDLE_LIVE_ALLOWED:
		return "live.allowed";
	case BUNDLE_DENY_LIST:
		return "deny.list";
	}
	return NULL;
}

bool bundle_list_is_domains(enum bundle_list which)
{
	return which == BUNDLE_PROFILE_DOMAINS || which == BUNDLE_LIVE_DOMAINS ||
	       which == BUNDLE_DENIED_DOMAINS;
}

/*
 * Whether an absolute path names its last component plainly: no "." or ".."
 * components and no trailing '/', either of which would make the kernel
 * resolve a symlink in the last position that lstat and O_NOFOLLOW are
 * there to refuse. The root directory itself is refused as well.
 */
static bool plain_path(const char *path, size_t len)
{
	if (len < 2 || path[len - 1] == '/')
		return false;
	for (size_t i = 0; i < len;) {
		size_t start, n;

		while (i < len && path[i] == '/')
			i++;
		start = i;
		while (i < len && path[i] != '/')
			i++;
		n = i - start;
		if ((n == 1 && path[start] == '.') ||
		    (n == 2 && path[start] == '.' && path[start + 1] == '.'))
			return false;
	}
	return true;
}

int bundle_open(const char *path, bool create, struct shield_error *err)
{
	char q[SHIELD_QUOTE_MAX];
	_cleanup_close_ int fd = -1;
	struct stat lst, st;
	size_t len;

	if (!path || !*path)
		return shield_error_set(err, -EINVAL, "bundle directory \"\": empty path");
	len = strnlen(path, PATH_MAX);
	shield_quote(path, len, q);
	if (len >= PATH_MAX)
		return shield_error_set(err, -ENAMETOOLONG, "bundle directory %s: path too long",
					q);
	if (path[0] != '/')
		return shield_error_set(err, -EINVAL, "bundle directory %s: path must be absolute",
					q);
	if (!plain_path(path, len))
		return shield_error_set(err, -EINVAL,
					"bundle directory %s: path must not end in '/' or contain "
					"\".\" or \"..\" components",
					q);

	if (lstat(path, &lst) < 0) {
		int r = negative_errno();

		if (r != -ENOENT || !create)
			return shield_error_set(err, r, "bundle directory %s: %s", q,
						shield_strerror(r));
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			r = negative_errno();
			return shield_error_set(err, r, "bundle directory %s: cannot create: %s%s",
						q, shield_strerror(r),
						r == -ENOENT ? " (parent directory missing)" : "");
		}
		if (lstat(path, &lst) < 0) {
			r = negative_errno();
			return shield_error_set(err, r, "bundle directory %s: %s", q,
						shield_strerror(r));
		}
	}
	if (S_ISLNK(lst.st_mode))
		return shield_error_set(err, -ELOOP,
					"bundle directory %s: is a symlink (refused; give the real "
					"path)",
					q);
	if (!S_ISDIR(lst.st_mode))
		return shield_error_set(err, -ENOTDIR, "bundle directory %s: not a directory", q);

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		int r = negative_errno();

		return shield_error_set(err, r, "bundle directory %s: cannot open: %s", q,
					shield_strerror(r));
	}
	if (fstat(fd, &st) < 0) {
		int r = negative_errno();

		return shield_error_set(err, r, "bundle directory %s: %s", q, shield_strerror(r));
	}
	if (st.st_dev != lst.st_dev || st.st_ino != lst.st_ino)
		return shield_error_set(err, -EAGAIN,
					"bundle directory %s: replaced while being opened", q);
	if (st.st_uid != geteuid())
		return shield_error_set(err, -EPERM,
					"bundle directory %s: owned by uid %u, not by uid %u", q,
					(unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 022)
		return shield_error_set(err, -EPERM,
					"bundle directory %s: writable by group or others (mode "
					"%04o; use 0700)",
					q, (unsigned)(st.st_mode & 07777));
	return TAKE_FD(fd);
}

static int check_name(const char *name, struct shield_error *err)
{
	char q[SHIELD_QUOTE_MAX];
	size_t len;

	if (!name)
		return shield_error_set(err, -EINVAL, "bundle file name missing");
	len = strnlen(name, BUNDLE_NAME_MAX + 1);
	if (len == 0 || len > BUNDLE_NAME_MAX || memchr(name, '/', len) || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return shield_error_set(err, -EINVAL, "invalid bundle file name %s",
					shield_quote(name, len, q));
	return 0;
}

/* A temp file name no other writer uses: ".NAME.XXXXXX" with random letters. */
static void temp_name(const char *name, char *out, size_t size)
{
	static const char alnum[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	static unsigned counter;
	unsigned char rnd[6];
	char suffix[7];

	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
		/* No entropy yet: O_EXCL still makes a collision fail safely. */
		unsigned v = (unsigned)getpid() * 2654435761u +
			     __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);

		for (size_t i = 0; i < sizeof(rnd); i++, v = v * 1103515245u + 12345u)
			rnd[i] = (unsigned char)(v >> 16);
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		suffix[i] = alnum[rnd[i] % (sizeof(alnum) - 1)];
	suffix[6] = '\0';
	snprintf(out, size, ".%s.%s", name, suffix);
}

int bundle_write_file(int dirfd, const char *name, const void *data, size_t len,
		      struct shield_error *err)
{
	return bundle_write_file_mode(dirfd, name, data, len, 0600, 0, err);
}

/* Whether name in dirfd is a regular file of ours with one link, this mode and exactly these bytes. */
static bool holds_same(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL;
	struct stat st;
	size_t got;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    st.st_uid != geteuid() || (st.st_mode & 07777) != mode || (size_t)st.st_size != len)
		return false;
	return read_fd_capped(fd, len, &text, &got) >= 0 && got == len &&
	       (len == 0 || memcmp(text, data, len) == 0);
}

int bundle_write_file_mode(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			   unsigned flags, struct shield_error *err)
{
	char tmp[NAME_MAX + 1];
	_cleanup_close_ int fd = -1;
	int r;

	r = check_name(name, err);
	if (r < 0)
		return r;
	if (!data && len > 0)
		return shield_error_set(err, -EINVAL, "%s: no data", name);
	if ((flags & BUNDLE_WRITE_KEEP_SAME) && holds_same(dirfd, name, data, len, mode))
		return 0;

	for (int attempt = 0; fd < 0; attempt++) {
		temp_name(name, tmp, sizeof(tmp));
		fd = openat(dirfd, tmp, O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_WRONLY, 0600);
		if (fd < 0 && (errno != EEXIST || attempt >= 100)) {
			r = negative_errno();
			return shield_error_set(err, r, "%s: cannot create temporary file: %s",
						name, shield_strerror(r));
		}
	}

	/* fchmod, not the open mode: the umask must not narrow a file meant to be read. */
	r = mode == 0600 || fchmod(fd, mode) == 0 ? fd_write_all(fd, data, len, 0)
						  : negative_errno();
	if (r < 0) {
		shield_error_set(err, r, "%s: write failed: %s", name, shield_strerror(r));
		goto fail;
	}
	if (!(flags & BUNDLE_WRITE_NOSYNC) && fsync(fd) < 0) {
		r = negative_errno();
		shield_error_set(err, r, "%s: fsync failed: %s", name, shield_strerror(r));
		goto fail;
	}
	r = close(TAKE_FD(fd));
	if (r < 0) {
		r = negative_errno();
		shield_error_set(err, r, "%s: close failed: %s", name, shield_strerror(r));
		goto fail;
	}
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		r = negative_errno();
		shield_error_set(err, r, "%s: rename failed: %s", name, shield_strerror(r));
		goto fail;
	}
	/* Make the rename itself durable; the data is already safe, so a failure
	 * here (some filesystems refuse fsync on a directory) is not an error. */
	if (!(flags & BUNDLE_WRITE_NOSYNC))
		(void)fsync(dirfd);
	return 0;

fail:
	unlinkat(dirfd, tmp, 0);
	return r;
}

int bundle_read_file(int dirfd, const char *name, size_t cap, char **out, size_t *len,
		     struct shield_error *err)
{
	_cleanup_close_ int fd = -1;
	int r;

	r = check_name(name, err);
	if (r < 0)
		return r;
	/* O_NONBLOCK: a FIFO planted under a bundle name must not hang the reader. */
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		r = negative_errno();
		if (r == -ELOOP)
			return shield_error_set(err, r, "%s: is a symlink (refused)", name);
		return shield_error_set(err, r, "%s: %s", name, shield_strerror(r));
	}
	r = read_fd_capped(fd, cap, out, len);
	if (r == -EFBIG)
		return shield_error_set(err, r, "%s: larger than %zu bytes (refused)", name, cap);
	if (r == -EINVAL)
		return shield_error_set(err, r, "%s: not a regular file", name);
	if (r < 0)
		return shield_error_set(err, r, "%s: cannot read: %s", name, shield_strerror(r));
	return 0;
}

/* Validate one entry of a list into its normalised text (buffer of DOMAIN_BUF_SIZE or more). */
static int normalize_entry(bool domains, const char *s, size_t len, char out[DOMAIN_BUF_SIZE],
			   struct shield_error *err)
{
	struct addr_prefix a;
	int r;

	if (domains)
		return domain_normalize(s, len, out, err);
	r = addr_parse(s, len, &a, err);
	if (r < 0)
		return r;
	addr_format(&a, out);
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

int bundle_read_list(int dirfd, enum bundle_list which, struct strlist *out,
		     struct shield_error *err)
{
	const char *name = bundle_list_filename(which);
	bool domains = bundle_list_is_domains(which);
	_cleanup_strlist_ struct strlist l = STRLIST_INIT;
	_cleanup_strset_ struct strset seen = STRSET_INIT;
	_cleanup_free_ char *text = NULL;
	size_t len = 0, line = 0;
	int r;

	if (!name)
		return shield_error_set(err, -EINVAL, "unknown bundle list %d", (int)which);
	r = bundle_read_file(dirfd, name, BUNDLE_FILE_MAX, &text, &len, err);
	if (r == -ENOENT) {
		shield_error_clear(err);
		strlist_free(out);
		return 0;
	}
	if (r < 0)
		return r;

	const char *s;
	size_t n, pos = 0;

	while (text_next_entry(text, len, &pos, &line, &s, &n)) {
		char norm[DOMAIN_BUF_SIZE];

		if (line > BUNDLE_LINES_MAX)
			return shield_error_set(err, -E2BIG, "%s: more than %d lines", name,
						BUNDLE_LINES_MAX);
		if (n == 0)
			continue;
		r = normalize_entry(domains, s, n, norm, err);
		if (r < 0) {
			shield_error_prefix(err, "%s:%zu: ", name, line);
			return r;
		}
		if (strset_contains(&seen, norm))
			continue;
		r = strlist_add(&l, norm);
		if (r >= 0)
			r = strset_add(&seen, l.items[l.n - 1]);
		if (r < 0)
			return shield_error_set(err, r, "%s: out of memory", name);
	}
	strlist_free(out);
	*out = l;
	l = (struct strlist)STRLIST_INIT;
	return 0;
}

int bundle_write_list(int dirfd, enum bundle_list which, const struct strlist *l,
		      struct shield_error *err)
{
	const char *name = bundle_list_filename(which);
	bool domains = bundle_list_is_domains(which);
	_cleanup_free_ char *text = NULL;
	size_t total = 0, o = 0;

	if (!name)
		return shield_error_set(err, -EINVAL, "unknown bundle list %d", (int)which);
	if (l->n > BUNDLE_LINES_MAX)
		return shield_error_set(err, -E2BIG, "%s: more than %d entries", name,
					BUNDLE_LINES_MAX);
	/* Only normalised entries are written, so the file always reads back as written. */
	for (size_t i = 0; i < l->n; i++) {
		char norm[DOMAIN_BUF_SIZE], q[SHIELD_QUOTE_MAX];
		size_t n = strnlen(l->items[i], DOMAIN_BUF_SIZE);
		int r = normalize_entry(domains, l->items[i], n, norm, err);

		if (r < 0) {
			shield_error_prefix(err, "%s: ", name);
			return r;
		}
		if (strcmp(norm, l->items[i]) != 0)
			return shield_error_set(err, -EINVAL, "%s: entry %s is not normalised (%s)",
						name, shield_quote(l->items[i], n, q), norm);
		total += n + 1;
	}
	if (total > BUNDLE_FILE_MAX)
		return shield_error_set(err, -EFBIG, "%s: larger than %d bytes", name,
					BUNDLE_FILE_MAX);
	text = malloc(total + 1);
	if (!text)
		return shield_error_set(err, -ENOMEM, "%s: out of memory", name);
	for (size_t i = 0; i < l->n; i++) {
		size_t n = strlen(l->items[i]);

		memcpy(text + o, l->items[i], n);
		o += n;
		text[o++] = '\n';
	}
	return bundle_write_file(dirfd, name, text, o, err);
}

/* Replace dst's contents with src's; src is left empty. */
static void move_list(struct strlist *dst, struct strlist *src)
{
	strlist_free(dst);
	*dst = *src;
	*src = (struct strlist)STRLIST_INIT;
}

static int effective(int dirfd, enum bundle_list profile, enum bundle_list live,
		     enum bundle_list minus, struct strlist *out, struct strlist *minus_out,
		     struct shield_error *err)
{
	_cleanup_strlist_ struct strlist p = STRLIST_INIT, l = STRLIST_INIT, d = STRLIST_INIT;
	_cleanup_strlist_ struct strlist res = STRLIST_INIT;
	int r;

	r = bundle_read_list(dirfd, profile, &p, err);
	if (r >= 0)
		r = bundle_read_list(dirfd, live, &l, err);
	if (r >= 0)
		r = bundle_read_list(dirfd, minus, &d, err);
	if (r < 0)
		return r;
	r = strlist_merge_unique(&res, &p, &d);
	if (r >= 0)
		r = strlist_merge_unique(&res, &l, &d);
	if (r < 0)
		return shield_error_set(err, r, "effective list: out of memory");
	move_list(out, &res);
	if (minus_out)
		move_list(minus_out, &d);
	return 0;
}

int bundle_effective_domains(int dirfd, struct strlist *out, struct strlist *denied,
			     struct shield_error *err)
{
	return effective(dirfd, BUNDLE_PROFILE_DOMAINS, BUNDLE_LIVE_DOMAINS, BUNDLE_DENIED_DOMAINS,
			 out, denied, err);
}

int bundle_effective_ips(int dirfd, struct strlist *out, struct strlist *deny,
			 struct shield_error *err)
{
	return effective(dirfd, BUNDLE_PROFILE_ALLOWED, BUNDLE_LIVE_ALLOWED, BUNDLE_DENY_LIST, out,
			 deny, err);
}

/* ---- configuration ---- */

enum dns_policy bundle_dns_policy(const struct bundle_config *c, enum shield_mode mode)
{
	return mode == SHIELD_MODE_DOWN || mode == SHIELD_MODE_DOWN_ALL ? DNS_POLICY_OPEN
									: c->dns_policy;
}

void bundle_config_init(struct bundle_config *c)
{
	memset(c, 0, sizeof(*c));
	c->version = BUNDLE_FORMAT_VERSION;
	c->mode = SHIELD_MODE_UP;
	c->dns_policy = DNS_POLICY_STRICT;
	c->set_timeout = BUNDLE_DEFAULT_SET_TIMEOUT;
	c->profiles = (struct strlist)STRLIST_INIT;
}

void bundle_config_free(struct bundle_config *c)
{
	if (c)
		strlist_free(&c->profiles);
}

/* Container names as podman accepts them: [a-zA-Z0-9][a-zA-Z0-9_.-]*. */
static bool name_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool alnum =
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return false;
	}
	return true;
}

static bool is_host_of(const struct addr_prefix *a, int family)
{
	return a->family == family && addr_is_host(a);
}

/* Everything but upstream, which shield.conf does not hold. */
static int config_check(const struct bundle_config *c, struct shield_error *err)
{
	char q[SHIELD_QUOTE_MAX];
	size_t nlen = strnlen(c->name, sizeof(c->name)), plen = 0;

	if (c->version != BUNDLE_FORMAT_VERSION)
		return shield_error_set(err, -EINVAL, "unsupported bundle version %u (expected %d)",
					c->version, BUNDLE_FORMAT_VERSION);
	if (nlen == sizeof(c->name) || !name_ok(c->name, nlen))
		return shield_error_set(err, -EINVAL,
					"invalid container name %s (letters, digits, '_', '.', "
					"'-'; first a letter or digit)",
					shield_quote(c->name, nlen, q));
	if (c->mode != SHIELD_MODE_UP && c->mode != SHIELD_MODE_DOWN &&
	    c->mode != SHIELD_MODE_DOWN_ALL && c->mode != SHIELD_MODE_BLOCK)
		return shield_error_set(err, -EINVAL, "mode %s cannot be stored in a bundle",
					shield_mode_name(c->mode));
	if (c->dns_policy != DNS_POLICY_STRICT && c->dns_policy != DNS_POLICY_OPEN)
		return shield_error_set(err, -EINVAL, "invalid DNS policy %d", (int)c->dns_policy);
	if (c->loopback_ports.n > SHIELD_PORTS_MAX)
		return shield_error_set(err, -E2BIG, "more than %d loopback ports",
					SHIELD_PORTS_MAX);
	for (size_t i = 0; i < c->loopback_ports.n; i++)
		if (c->loopback_ports.ports[i] == 0)
			return shield_error_set(err, -EINVAL, "loopback port 0 is not a port");
	if (c->gateway_v4.family != 0 && !is_host_of(&c->gateway_v4, AF_INET))
		return shield_error_set(err, -EINVAL, "gateway_v4 is not an IPv4 address");
	if (c->gateway_v6.family != 0 && !is_host_of(&c->gateway_v6, AF_INET6))
		return shield_error_set(err, -EINVAL, "gateway_v6 is not an IPv6 address");
	if (c->set_timeout < 1 || c->set_timeout > SET_TIMEOUT_MAX)
		return shield_error_set(err, -ERANGE, "set timeout %us out of range (1s to 7d)",
					c->set_timeout);
	for (size_t i = 0; i < c->profiles.n; i++) {
		int r = profile_name_check(c->profiles.items[i], err);

		if (r < 0)
			return r;
		plen += strlen(c->profiles.items[i]) + (i ? 1 : 0);
	}
	/* What bundle_config_parse would refuse is never written. */
	if (plen > CONFIG_VALUE_MAX)
		return shield_error_set(err, -E2BIG, "profile list longer than %d characters",
					CONFIG_VALUE_MAX);
	return 0;
}

#define CONFIG_FORMAT                                                                              \
	"# shield state bundle settings; written by shield, read by its hook\n"                    \
	"version=%u\n"                                                                             \
	"name=%s\n"                                                                                \
	"mode=%s\n"                                                                                \
	"dns_policy=%s\n"                                                                          \
	"loopback_ports=%s\n"                                                                      \
	"gateway_v4=%s\n"                                                                          \
	"gateway_v6=%s\n"                                                                          \
	"set_timeout=%s\n"                                                                         \
	"profiles=%s\n"

int bundle_config_format(const struct bundle_config *c, char **out, struct shield_error *err)
{
	char ports[SHIELD_PORTS_MAX * 6 + 1], gw4[ADDR_TEXT_MAX], gw6[ADDR_TEXT_MAX];
	char timeout[32];
	_cleanup_free_ char *profiles = NULL, *text = NULL;
	size_t size = 0;
	int n, r;

	r = config_check(c, err);
	if (r < 0)
		return r;
	profiles = strlist_join(&c->profiles, ":");
	if (!profiles)
		return shield_error_set(err, -ENOMEM, "out of memory");
	port_list_format(&c->loopback_ports, ports, sizeof(ports));
	addr_format(&c->gateway_v4, gw4);
	addr_format(&c->gateway_v6, gw6);
	duration_format(c->set_timeout, timeout, sizeof(timeout));
	/* Measure, then print: the text is small, but nothing here is cut off. */
	for (int pass = 0; pass < 2; pass++) {
		n = snprintf(text, size, CONFIG_FORMAT, c->version, c->name,
			     shield_mode_name(c->mode), dns_policy_name(c->dns_policy), ports, gw4,
			     gw6, timeout, profiles);
		if (n < 0)
			return shield_error_set(err, -EINVAL, "cannot format " CONFIG_FILE);
		if (pass == 0) {
			size = (size_t)n + 1;
			text = malloc(size);
			if (!text)
				return shield_error_set(err, -ENOMEM, "out of memory");
		}
	}
	*out = TAKE_PTR(text);
	return 0;
}

/* Seen-key bits for duplicate detection. */
enum {
	KEY_VERSION = 1 << 0,
	KEY_NAME = 1 << 1,
	KEY_MODE = 1 << 2,
	KEY_DNS_POLICY = 1 << 3,
	KEY_LOOPBACK_PORTS = 1 << 4,
	KEY_GATEWAY_V4 = 1 << 5,
	KEY_GATEWAY_V6 = 1 << 6,
	KEY_SET_TIMEOUT = 1 << 7,
	KEY_PROFILES = 1 << 8,
};

static const struct {
	const char *key;
	unsigned bit;
} config_keys[] = {
	{"version", KEY_VERSION},
	{"name", KEY_NAME},
	{"mode", KEY_MODE},
	{"dns_policy", KEY_DNS_POLICY},
	{"loopback_ports", KEY_LOOPBACK_PORTS},
	{"gateway_v4", KEY_GATEWAY_V4},
	{"gateway_v6", KEY_GATEWAY_V6},
	{"set_timeout", KEY_SET_TIMEOUT},
	{"profiles", KEY_PROFILES},
};

static int parse_gateway(const char *v, size_t vlen, int family, struct addr_prefix *out,
			 struct shield_error *err)
{
	struct addr_prefix a;
	int r;

	if (vlen == 0) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	r = addr_parse_host(v, vlen, &a, err);
	if (r < 0)
		return r;
	if (a.family != family)
		return shield_error_set(err, -EINVAL, "expected an %s address",
					family == AF_INET ? "IPv4" : "IPv6");
	*out = a;
	return 0;
}

static int parse_profiles(const char *v, size_t vlen, struct strlist *out, struct shield_error *err)
{
	_cleanup_strlist_ struct strlist l = STRLIST_INIT;

	for (size_t start = 0, i = 0; vlen > 0 && i <= vlen; i++) {
		char name[PROFILE_NAME_MAX + 1], q[SHIELD_QUOTE_MAX];
		size_t n = i - start;
		int r;

		if (i < vlen && v[i] != ':')
			continue;
		if (n > PROFILE_NAME_MAX)
			return shield_error_set(err, -EINVAL, "invalid profile name %s: too long",
						shield_quote(v + start, n, q));
		memcpy(name, v + start, n);
		name[n] = '\0';
		start = i + 1;
		r = profile_name_check(name, err);
		if (r < 0)
			return r;
		r = strlist_add_unique(&l, name);
		if (r < 0)
			return shield_error_set(err, r, "out of memory");
	}
	strlist_free(out);
	*out = l;
	l = (struct strlist)STRLIST_INIT;
	return 0;
}

static int config_set(struct bundle_config *c, unsigned key, const char *v, size_t vlen,
		      struct shield_error *err)
{
	char q[SHIELD_QUOTE_MAX];

	switch (key) {
	case KEY_VERSION:
		if (vlen != 1 || v[0] != '0' + BUNDLE_FORMAT_VERSION)
			return shield_error_set(err, -EPROTONOSUPPORT,
						"unsupported bundle version %s (expected %d)",
						shield_quote(v, vlen, q), BUNDLE_FORMAT_VERSION);
		c->version = BUNDLE_FORMAT_VERSION;
		return 0;
	case KEY_NAME:
		if (vlen >= sizeof(c->name) || !name_ok(v, vlen))
			return shield_error_set(err, -EINVAL,
						"invalid container name %s (letters, digits, '_', "
						"'.', '-'; first a letter or digit)",
						shield_quote(v, vlen, q));
		memcpy(c->name, v, vlen);
		c->name[vlen] = '\0';
		return 0;
	case KEY_MODE: {
		enum shield_mode m;
		int r = shield_mode_parse(v, &m, err);

		if (r == 0)
			c->mode = m;
		return r;
	}
	case KEY_DNS_POLICY:
		return dns_policy_parse(v, &c->dns_policy, err);
	case KEY_LOOPBACK_PORTS:
		return port_list_parse(v, &c->loopback_ports, err);
	case KEY_GATEWAY_V4:
		return parse_gateway(v, vlen, AF_INET, &c->gateway_v4, err);
	case KEY_GATEWAY_V6:
		return parse_gateway(v, vlen, AF_INET6, &c->gateway_v6, err);
	case KEY_SET_TIMEOUT:
		return duration_parse(v, &c->set_timeout, err);
	case KEY_PROFILES:
		return parse_profiles(v, vlen, &c->profiles, err);
	}
	return shield_error_set(err, -EINVAL, "internal: unknown key");
}

int bundle_config_parse(const char *text, size_t len, struct bundle_config *c,
			struct shield_error *err)
{
	struct bundle_config n = *c;
	unsigned seen = 0;
	size_t line = 0;
	int r;

	if (len > BUNDLE_FILE_MAX)
		return shield_error_set(err, -EFBIG, CONFIG_FILE ": larger than %d bytes",
					BUNDLE_FILE_MAX);
	/* n shares nothing with c until the end: its list starts as a copy. */
	n.profiles = (struct strlist)STRLIST_INIT;
	r = strlist_merge_unique(&n.profiles, &c->profiles, NULL);
	if (r < 0)
		return shield_error_set(err, r, "out of memory");

	for (size_t pos = 0; pos < len;) {
		const char *s = text + pos, *nl = memchr(s, '\n', len - pos), *eq;
		size_t slen = nl ? (size_t)(nl - s) : len - pos, klen, vlen;
		char key[32], value[CONFIG_VALUE_MAX + 1], q[SHIELD_QUOTE_MAX];
		unsigned bit = 0;

		pos += slen + 1;
		line++;
		if (slen == 0 || s[0] == '#')
			continue;
		if (memchr(s, '\0', slen)) {
			r = shield_error_set(err, -EINVAL, CONFIG_FILE ":%zu: NUL byte", line);
			goto fail;
		}
		eq = memchr(s, '=', slen);
		if (!eq) {
			r = shield_error_set(err, -EINVAL,
					     CONFIG_FILE ":%zu: expected key=value, got %s", line,
					     shield_quote(s, slen, q));
			goto fail;
		}
		klen = (size_t)(eq - s);
		vlen = slen - klen - 1;
		for (size_t i = 0; i < ARRAY_SIZE(config_keys); i++)
			if (strlen(config_keys[i].key) == klen &&
			    memcmp(config_keys[i].key, s, klen) == 0)
				bit = config_keys[i].bit;
		if (!bit) {
			r = shield_error_set(err, -EINVAL, CONFIG_FILE ":%zu: unknown key %s", line,
					     shield_quote(s, klen, q));
			goto fail;
		}
		memcpy(key, s, klen);
		key[klen] = '\0';
		if (seen & bit) {
			r = shield_error_set(err, -EINVAL, CONFIG_FILE ":%zu: duplicate key \"%s\"",
					     line, key);
			goto fail;
		}
		seen |= bit;
		if (vlen > CONFIG_VALUE_MAX) {
			r = shield_error_set(err, -EINVAL, CONFIG_FILE ":%zu: value of %s too long",
					     line, key);
			goto fail;
		}
		memcpy(value, eq + 1, vlen);
		value[vlen] = '\0';
		r = config_set(&n, bit, value, vlen, err);
		if (r < 0) {
			shield_error_prefix(err, CONFIG_FILE ":%zu: %s: ", line, key);
			goto fail;
		}
	}
	if (!(seen & KEY_VERSION)) {
		r = shield_error_set(err, -EINVAL, CONFIG_FILE ": no version line");
		goto fail;
	}
	bundle_config_free(c);
	*c = n;
	return 0;

fail:
	bundle_config_free(&n);
	return r;
}

/* Strip trailing newlines, spaces and tabs from a small text file's content. */
static size_t trim_end(const char *s, size_t len)
{
	while (len > 0 && (s[len - 1] == '\n' || is_blank(s[len - 1])))
		len--;
	return len;
}

int bundle_write_config(int dirfd, const struct bundle_config *c, struct shield_error *err)
{
	_cleanup_free_ char *text = NULL;
	char up[ADDR_TEXT_MAX + 1];
	size_t n;
	int r;

	if (!is_host_of(&c->upstream, AF_INET) && !is_host_of(&c->upstream, AF_INET6))
		return shield_error_set(err, -EINVAL,
					"upstream DNS is not set to a single IPv4/IPv6 address");
	r = bundle_config_format(c, &text, err);
	if (r < 0)
		return r;
	addr_format(&c->upstream, up);
	n = strlen(up);
	up[n++] = '\n';
	r = bundle_write_file(dirfd, UPSTREAM_FILE, up, n, err);
	if (r >= 0)
		r = bundle_write_file(dirfd, TIER_FILE, DNS_TIER "\n", strlen(DNS_TIER "\n"), err);
	if (r >= 0)
		r = bundle_write_file(dirfd, CONFIG_FILE, text, strlen(text), err);
	return r;
}

int bundle_read_config(int dirfd, struct bundle_config *c, struct shield_error *err)
{
	_cleanup_free_ char *conf = NULL, *up = NULL, *tier = NULL;
	struct bundle_config n;
	size_t len = 0;
	int r;

	bundle_config_init(&n);
	r = bundle_read_file(dirfd, UPSTREAM_FILE, 1024, &up, &len, err);
	if (r == -ENOENT)
		return shield_error_set(err, r,
					UPSTREAM_FILE ": missing (the bundle names no upstream DNS "
						      "server)");
	if (r < 0)
		return r;
	r = addr_parse_host(up, trim_end(up, len), &n.upstream, err);
	if (r < 0) {
		shield_error_prefix(err, UPSTREAM_FILE ": ");
		return r;
	}

	r = bundle_read_file(dirfd, TIER_FILE, 1024, &tier, &len, err);
	if (r >= 0) {
		char q[SHIELD_QUOTE_MAX];

		len = trim_end(tier, len);
		if (len != strlen(DNS_TIER) || memcmp(tier, DNS_TIER, len) != 0)
			return shield_error_set(err, -EINVAL,
						TIER_FILE ": DNS tier %s is not supported (shield "
							  "only runs \"" DNS_TIER "\")",
						shield_quote(tier, len, q));
	} else if (r != -ENOENT) {
		return r;
	}

	/* A terok-shield bundle has no shield.conf: the defaults apply. */
	r = bundle_read_file(dirfd, CONFIG_FILE, BUNDLE_FILE_MAX, &conf, &len, err);
	if (r >= 0)
		r = bundle_config_parse(conf, len, &n, err);
	else if (r == -ENOENT)
		r = 0;
	if (r < 0) {
		bundle_config_free(&n);
		return r;
	}
	shield_error_clear(err);
	bundle_config_free(c);
	*c = n;
	return 0;
}

/* System directories a bundle must never be in, whatever an annotation says. */
static const char *const system_prefixes[] = {
	"/etc",	 "/proc", "/sys",   "/dev",  "/usr",  "/bin",
	"/sbin", "/lib",  "/lib64", "/boot", "/root",
};

static const char *system_prefix_of(const char *path)
{
	for (size_t i = 0; i < ARRAY_SIZE(system_prefixes); i++) {
		size_t n = strlen(system_prefixes[i]);

		if (strncmp(path, system_prefixes[i], n) == 0 &&
		    (path[n] == '\0' || path[n] == '/'))
			return system_prefixes[i];
	}
	return NULL;
}

int bundle_check_location(const char *path, struct shield_error *err)
{
	char q[SHIELD_QUOTE_MAX];
	_cleanup_free_ char *resolved = NULL;
	const char *prefix;

	shield_quote(path, strlen(path), q);
	if (path[0] != '/')
		return shield_error_set(err, -EINVAL, "bundle directory %s: path must be absolute",
					q);
	prefix = system_prefix_of(path);
	if (prefix)
		return shield_error_set(err, -EPERM,
					"bundle directory %s: refused, it is under the system "
					"directory %s",
					q, prefix);
	resolved = realpath(path, NULL);
	if (!resolved) {
		int r = negative_errno();

		return shield_error_set(err, r, "bundle directory %s: %s", q, shield_strerror(r));
	}
	prefix = system_prefix_of(resolved);
	if (prefix) {
		char rq[SHIELD_QUOTE_MAX];

		return shield_error_set(err, -EPERM,
					"bundle directory %s: refused, it resolves to %s under the "
					"system directory %s",
					q, shield_quote(resolved, strlen(resolved), rq), prefix);
	}
	return 0;
}
