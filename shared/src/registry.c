/* SPDX-License-Identifier: Apache-2.0 */
/* The registry of shielded namespaces (see registry.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "fileio.h"
#include "shield/bundle.h"
#include "shield/registry.h"

bool shield_in_user_namespace(void)
{
	char buf[256];
	unsigned long inner, outer, count;
	_cleanup_close_ int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* The initial user namespace maps every uid onto itself in one line. */
	if (sscanf(buf, " %lu %lu %lu", &inner, &outer, &count) != 3)
		return true;
	return !(inner == 0 && outer == 0 && count == 4294967295UL);
}

int registry_runtime_dir(char *out, size_t size, struct shield_error *err)
{
	const char *env = getenv("SHIELD_RUNTIME_DIR");
	int n;

	if (env && *env) {
		if (env[0] != '/')
			return shield_error_set(err, -EINVAL,
						"SHIELD_RUNTIME_DIR must be an absolute path");
		n = snprintf(out, size, "%s", env);
	} else if (geteuid() == 0 && !shield_in_user_namespace()) {
		n = snprintf(out, size, "/run/shield");
	} else {
		env = getenv("XDG_RUNTIME_DIR");
		if (!env || env[0] != '/')
			return shield_error_set(err, -EINVAL,
						"XDG_RUNTIME_DIR is not set to an absolute path "
						"(rootless registry location); set it or "
						"SHIELD_RUNTIME_DIR");
		n = snprintf(out, size, "%s/shield", env);
	}
	if (n < 0 || (size_t)n >= size)
		return shield_error_set(err, -ENAMETOOLONG, "runtime directory path too long");
	return 0;
}

static int open_dir(int at, const char *path, bool create, struct shield_error *err)
{
	int fd;

	if (create && mkdirat(at, path, 0700) < 0 && errno != EEXIST) {
		int r = negative_errno();

		return shield_error_set(err, r, "cannot create %s: %s", path, shield_strerror(r));
	}
	fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int r = negative_errno();
		struct stat st;

		/* O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR, not ELOOP. */
		if (r == -ENOTDIR && fstatat(at, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode))
			return shield_error_set(err, -ELOOP, "%s: is a symlink (refused)", path);
		return shield_error_set(err, r, "%s: %s", path, shield_strerror(r));
	}
	return fd;
}

int registry_open(const char *runtime_dir, bool create, struct shield_error *err)
{
	_cleanup_close_ int top = open_dir(AT_FDCWD, runtime_dir, create, err);
	int fd;

	if (top < 0)
		return top;
	fd = open_dir(top, "containers", create, err);
	if (fd < 0)
		shield_error_prefix(err, "%s/", runtime_dir);
	return fd;
}

static int entry_file(const char *id, char name[OCI_ID_MAX + 8], struct shield_error *err)
{
	char q[SHIELD_QUOTE_MAX];

	if (!oci_id_valid(id))
		return shield_error_set(err, -EINVAL, "registry: invalid container id %s",
					shield_quote(id, strlen(id), q));
	snprintf(name, OCI_ID_MAX + 8, "%s.json", id);
	return 0;
}

int registry_entry_format(const struct registry_entry *e, char **out, struct shield_error *err)
{
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:i, s:i, s:s, s:s}", "version",
			      1, "id", e->id, "name", e->name, "state_dir", e->state_dir, "netns",
			      e->netns, "netns_dev", (json_int_t)e->netns_dev, "netns_ino",
			      (json_int_t)e->netns_ino, "pid", (int)e->pid, "dnsmasq_pid",
			      (int)e->dnsmasq_pid, "source", e->source, "started", e->started);
	char *text;

	if (!o) {
		char q[SHIELD_QUOTE_MAX];

		return shield_error_set(err, -EINVAL, "registry entry for %s: not valid UTF-8",
					shield_quote(e->id, strnlen(e->id, sizeof(e->id)), q));
	}
	text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text || asprintf(out, "%s\n", text) < 0) {
		free(text);
		return shield_error_set(err, -ENOMEM, "out of memory");
	}
	free(text);
	return 0;
}

int registry_write(int regfd, const struct registry_entry *e, struct shield_error *err)
{
	char name[OCI_ID_MAX + 8];
	_cleanup_free_ char *text = NULL;
	int r = entry_file(e->id, name, err);

	if (r >= 0)
		r = registry_entry_format(e, &text, err);
	if (r >= 0)
		/* Runtime state: it lives as long as the container (and /run). */
		r = bundle_write_file_mode(regfd, name, text, strlen(text), 0600,
					   BUNDLE_WRITE_NOSYNC, err);
	return r;
}

int registry_remove(int regfd, const char *id, struct shield_error *err)
{
	char name[OCI_ID_MAX + 8];
	int r = entry_file(id, name, err);

	if (r < 0)
		return r;
	if (unlinkat(regfd, name, 0) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	r = negative_errno();
	return shield_error_set(err, r, "registry: cannot remove %s: %s", name, shield_strerror(r));
}

static int copy_string(json_t *o, const char *key, char *out, size_t size, bool required,
		       struct shield_error *err)
{
	json_t *v = json_object_get(o, key);

	if (!v && !required)
		return 0;
	if (!json_is_string(v))
		return shield_error_set(err, -EINVAL,
					"registry entry: \"%s\" missing or not a string", key);
	if (json_string_length(v) >= size)
		return shield_error_set(err, -EINVAL, "registry entry: \"%s\" too long", key);
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int copy_int(json_t *o, const char *key, json_int_t max, json_int_t *out,
		    struct shield_error *err)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
		return shield_error_set(err, -EINVAL,
					"registry entry: \"%s\" missing or not an integer in range",
					key);
	*out = json_integer_value(v);
	return 0;
}

int registry_entry_parse(const char *buf, size_t len, struct registry_entry *e,
			 struct shield_error *err)
{
	json_error_t jerr;
	json_t *o;
	json_int_t version = 0, dev = 0, ino = 0, pid = 0, dpid = 0;
	int r;

	memset(e, 0, sizeof(*e));
	if (len > REGISTRY_ENTRY_MAX)
		return shield_error_set(err, -E2BIG, "registry entry: more than %d bytes",
					REGISTRY_ENTRY_MAX);
	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return shield_error_set(err, -EINVAL, "registry entry: not valid JSON (line %d)",
					jerr.line);
	r = json_is_object(o) ? 0 : shield_error_set(err, -EINVAL, "registry entry: not an object");
	if (r >= 0)
		r = copy_int(o, "version", INT32_MAX, &version, err);
	if (r >= 0 && version != 1)
		r = shield_error_set(err, -EINVAL, "registry entry: unknown version %lld",
				     (long long)version);
	if (r >= 0)
		r = copy_string(o, "id", e->id, sizeof(e->id), true, err);
	if (r >= 0 && !oci_id_valid(e->id))
		r = shield_error_set(err, -EINVAL, "registry entry: invalid id");
	if (r >= 0)
		r = copy_string(o, "name", e->name, sizeof(e->name), false, err);
	if (r >= 0)
		r = copy_string(o, "state_dir", e->state_dir, sizeof(e->state_dir), true, err);
	if (r >= 0)
		r = copy_string(o, "netns", e->netns, sizeof(e->netns), true, err);
	if (r >= 0)
		r = copy_int(o, "netns_dev", INT64_MAX, &dev, err);
	if (r >= 0)
		r = copy_int(o, "netns_ino", INT64_MAX, &ino, err);
	if (r >= 0)
		r = copy_int(o, "pid", INT32_MAX, &pid, err);
	if (r >= 0)
		r = copy_int(o, "dnsmasq_pid", INT32_MAX, &dpid, err);
	if (r >= 0)
		r = copy_string(o, "source", e->source, sizeof(e->source), true, err);
	if (r >= 0)
		r = copy_string(o, "started", e->started, sizeof(e->started), false, err);
	json_decref(o);
	if (r < 0) {
		memset(e, 0, sizeof(*e));
		return r;
	}
	e->netns_dev = (uint64_t)dev;
	e->netns_ino = (uint64_t)ino;
	e->pid = (pid_t)pid;
	e->dnsmasq_pid = (pid_t)dpid;
	return 0;
}

int registry_read(int regfd, const char *id, struct registry_entry *e, struct shield_error *err)
{
	char name[OCI_ID_MAX + 8];
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = entry_file(id, name, err);

	if (r >= 0)
		r = bundle_read_file(regfd, name, REGISTRY_ENTRY_MAX, &text, &len, err);
	if (r >= 0)
		r = registry_entry_parse(text, len, e, err);
	return r;
}

bool registry_entry_netns_alive(const struct registry_entry *e)
{
	struct stat st;

	return e->netns[0] && stat(e->netns, &st) == 0 && (uint64_t)st.st_dev == e->netns_dev &&
	       (uint64_t)st.st_ino == e->netns_ino;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

bool registry_entry_id(const char *filename, char id[OCI_ID_MAX + 1])
{
	size_t len = strlen(filename);

	if (len <= 5 || len - 5 > OCI_ID_MAX || strcmp(filename + len - 5, ".json") != 0)
		return false;
	memcpy(id, filename, len - 5);
	id[len - 5] = '\0';
	return oci_id_valid(id);
}

int registry_list(int regfd, struct strlist *ids, struct shield_error *err)
{
	_cleanup_strlist_ struct strlist l = STRLIST_INIT;
	int fd = fcntl(regfd, F_DUPFD_CLOEXEC, 0);
	struct dirent *de;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd))) {
		int r = negative_errno();

		if (fd >= 0)
			close(fd);
		return shield_error_set(err, r, "registry: %s", shield_strerror(r));
	}
	rewinddir(d);
	while ((errno = 0, de = readdir(d))) {
		char id[OCI_ID_MAX + 1];

		if (!registry_entry_id(de->d_name, id))
			continue;
		if (l.n >= REGISTRY_LIST_MAX) {
			closedir(d);
			return shield_error_set(err, -E2BIG, "registry: more than %d entries",
						REGISTRY_LIST_MAX);
		}
		if (strlist_add(&l, id) < 0) {
			closedir(d);
			return shield_error_set(err, -ENOMEM, "out of memory");
		}
	}
	if (errno != 0) {
		int r = negative_errno();

		closedir(d);
		return shield_error_set(err, r, "registry: %s", shield_strerror(r));
	}
	closedir(d);
	if (l.n > 1)
		qsort(l.items, l.n, sizeof(*l.items), cmp_id);
	if (strlist_merge_unique(ids, &l, NULL) < 0)
		return shield_error_set(err, -ENOMEM, "out of memory");
	return 0;
}

int registry_find(const char *runtime_dir,
		  bool (*match)(const struct registry_entry *e, const void *arg), const void *arg,
		  struct registry_entry *e, struct shield_error *err)
{
	_cleanup_strlist_ struct strlist ids = STRLIST_INIT;
	struct shield_error ignored = {0};
	_cleanup_close_ int regfd = -1;

	if (!runtime_dir || !runtime_dir[0])
		return 0;
	regfd = registry_open(runtime_dir, false, &ignored);
	if (regfd < 0)
		return 0; /* no registry: nothing is registered */
	if (registry_list(regfd, &ids, err) < 0)
		return shield_error_prefix(err, "%s: ", runtime_dir);
	for (size_t i = 0; i < ids.n; i++)
		if (registry_read(regfd, ids.items[i], e, &ignored) >= 0 && match(e, arg))
			return 1;
	return 0;
}

static bool match_bundle(const struct registry_entry *e, const void *arg)
{
	const struct stat *bundle = arg;
	struct stat st;

	return stat(e->state_dir, &st) == 0 && st.st_dev == bundle->st_dev &&
	       st.st_ino == bundle->st_ino;
}

int registry_find_bundle(const char *runtime_dir, int bundlefd, struct registry_entry *e,
			 struct shield_error *err)
{
	struct stat bundle;

	if (fstat(bundlefd, &bundle) < 0)
		return shield_error_set(err, negative_errno(), "bundle: %s", strerror(errno));
	return registry_find(runtime_dir, match_bundle, &bundle, e, err);
}
