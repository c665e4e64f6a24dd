/* SPDX-License-Identifier: Apache-2.0 */
/* registry: entry text, ID.json files in RUNTIME_DIR/containers, and where RUNTIME_DIR is. */
#include "unit-helpers.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <sys/wait.h>

#include <jansson.h>

#include "shield/registry.h"

#define PODMAN_ID "a7120deb59201fd75c6890ebb6b9da8489002e11d4f888778684b13a4e7bde45"

struct fixture {
	char root[UNIT_ROOT_MAX]; /* a fresh 0700 temp dir */
	char run[UNIT_DIR_MAX];	  /* root/run, the RUNTIME_DIR (created by registry_open) */
	char reg[UNIT_DIR_MAX];	  /* root/run/containers */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	unit_mkdtemp(f->root);
	snprintf(f->run, sizeof(f->run), "%s/run", f->root);
	snprintf(f->reg, sizeof(f->reg), "%s/run/containers", f->root);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unit_rmtree(f->root);
	free(f);
	return 0;
}

/* Names in dir other than "." and "..". */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void sample(struct registry_entry *e)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", PODMAN_ID);
	snprintf(e->name, sizeof(e->name), "web-1");
	snprintf(e->state_dir, sizeof(e->state_dir), "/var/lib/terok/shield/web-1");
	snprintf(e->netns, sizeof(e->netns), "/proc/31716/ns/net");
	e->netns_dev = 4;
	e->netns_ino = 4026532577ULL;
	e->pid = 31716;
	e->dnsmasq_pid = 31790;
	snprintf(e->source, sizeof(e->source), "podman");
	snprintf(e->started, sizeof(e->started), "2026-11-25T21:13:46.123+00:00");
}

static void assert_entry_equal(const struct registry_entry *a, const struct registry_entry *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->name, b->name);
	assert_string_equal(a->state_dir, b->state_dir);
	assert_string_equal(a->netns, b->netns);
	assert_true(a->netns_dev == b->netns_dev);
	assert_true(a->netns_ino == b->netns_ino);
	assert_int_equal(a->pid, b->pid);
	assert_int_equal(a->dnsmasq_pid, b->dnsmasq_pid);
	assert_string_equal(a->source, b->source);
	assert_string_equal(a->started, b->started);
}

static void assert_zeroed(const struct registry_entry *e)
{
	static const struct registry_entry zero;

	assert_memory_equal(e, &zero, sizeof(zero));
}

static void roundtrip(const struct registry_entry *e)
{
	struct shield_error err = {0};
	struct registry_entry back;
	char *text = NULL, *again = NULL;

	if (registry_entry_format(e, &text, &err) != 0)
		fail_msg("format: %s", err.msg);
	assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
	memset(&back, 0x5a, sizeof(back));
	if (registry_entry_parse(text, strlen(text), &back, &err) != 0)
		fail_msg("parse of %s: %s", text, err.msg);
	assert_entry_equal(e, &back);
	/* Format is a fixed point. */
	assert_int_equal(registry_entry_format(&back, &again, &err), 0);
	assert_string_equal(text, again);
	free(text);
	free(again);
}

/* ------------------------------------------------------------ entry text */

static void test_format_text(void **state)
{
	struct shield_error err = {0};
	struct registry_entry e;
	char *text = NULL;

	(void)state;
	sample(&e);
	assert_int_equal(registry_entry_format(&e, &text, &err), 0);
	/* The file format nftsetd and terok-shield read: fixed key order, version 1. */
	assert_string_equal(text, "{\n"
				  "  \"version\": 1,\n"
				  "  \"id\": \"" PODMAN_ID "\",\n"
				  "  \"name\": \"web-1\",\n"
				  "  \"state_dir\": \"/var/lib/terok/shield/web-1\",\n"
				  "  \"netns\": \"/proc/31716/ns/net\",\n"
				  "  \"netns_dev\": 4,\n"
				  "  \"netns_ino\": 4026532577,\n"
				  "  \"pid\": 31716,\n"
				  "  \"dnsmasq_pid\": 31790,\n"
				  "  \"source\": \"podman\",\n"
				  "  \"started\": \"2026-11-25T21:13:46.123+00:00\"\n"
				  "}\n");
	free(text);
}

static void test_roundtrip(void **state)
{
	struct registry_entry e;

	(void)state;
	sample(&e);
	roundtrip(&e);

	/* An attached namespace: no pid, no name, an arbitrary netns path. */
	memset(&e, 0, sizeof(e));
	snprintf(e.id, sizeof(e.id), "attach-1");
	snprintf(e.state_dir, sizeof(e.state_dir), "/srv/bundles/a");
	snprintf(e.netns, sizeof(e.netns), "/run/netns/blue");
	e.netns_dev = 3;
	e.netns_ino = 4026531840ULL;
	e.dnsmasq_pid = 2;
	snprintf(e.source, sizeof(e.source), "attach");
	roundtrip(&e);

	/* Every field at its largest, with characters JSON must escape. */
	memset(&e, 0, sizeof(e));
	memset(e.id, 'i', OCI_ID_MAX);
	memset(e.name, 'n', sizeof(e.name) - 1);
	e.name[0] = '"';
	e.name[1] = '\\';
	e.name[2] = '\n';
	e.name[3] = '\x01';
	memcpy(e.name + 4, "\xc3\xa9", 2); /* UTF-8 */
	e.state_dir[0] = '/';
	memset(e.state_dir + 1, 's', sizeof(e.state_dir) - 2);
	e.netns[0] = '/';
	memset(e.netns + 1, '\t', sizeof(e.netns) - 2);
	e.netns_dev = INT64_MAX;
	e.netns_ino = INT64_MAX - 1;
	e.pid = INT32_MAX;
	e.dnsmasq_pid = INT32_MAX;
	memset(e.source, 'x', sizeof(e.source) - 1);
	memset(e.started, '9', sizeof(e.started) - 1);
	roundtrip(&e);
}

/* Base text of the sample entry, with key set to value (a JSON text) or removed (NULL). */
static char *mutated(const char *key, const char *value)
{
	struct shield_error err = {0};
	struct registry_entry e;
	char *text = NULL, *out;
	json_t *o;

	sample(&e);
	assert_int_equal(registry_entry_format(&e, &text, &err), 0);
	o = json_loads(text, 0, NULL);
	assert_non_null(o);
	free(text);
	if (value) {
		json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);

		assert_non_null(v);
		assert_int_equal(json_object_set_new(o, key, v), 0);
	} else {
		assert_int_equal(json_object_del(o, key), 0);
	}
	out = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	assert_non_null(out);
	json_decref(o);
	return out;
}

static void parse_fails_len(const char *text, size_t len, int code, const char *needle)
{
	struct shield_error err = {0};
	struct registry_entry e;
	int r;

	memset(&e, 0x5a, sizeof(e));
	r = registry_entry_parse(text, len, &e, &err);
	if (r != code)
		fail_msg("parse of %.*s returned %d, not %d (%s)", (int)(len > 400 ? 400 : len),
			 text, r, code, err.msg);
	assert_int_equal(err.code, code);
	assert_msg_contains(&err, needle);
	assert_msg_printable(&err);
	assert_zeroed(&e);
}

static void parse_fails(const char *text, int code, const char *needle)
{
	parse_fails_len(text, strlen(text), code, needle);
}

static void mutated_fails(const char *key, const char *value, const char *needle)
{
	char *text = mutated(key, value);

	parse_fails(text, -EINVAL, needle);
	free(text);
}

static void mutated_parses(const char *key, const char *value, struct registry_entry *e)
{
	struct shield_error err = {0};
	char *text = mutated(key, value);

	if (registry_entry_parse(text, strlen(text), e, &err) != 0)
		fail_msg("parse of %s: %s", text, err.msg);
	free(text);
}

static void test_parse_optional(void **state)
{
	struct registry_entry e, want;

	(void)state;
	sample(&want);
	/* name and started may be missing: empty strings. */
	mutated_parses("name", NULL, &e);
	want.name[0] = '\0';
	assert_entry_equal(&e, &want);
	mutated_parses("started", NULL, &e);
	sample(&want);
	want.started[0] = '\0';
	assert_entry_equal(&e, &want);
}

/* A JSON string of n copies of c, in buf (room for n + 3). Returns buf. */
static const char *json_str(char *buf, char c, size_t n)
{
	buf[0] = '"';
	memset(buf + 1, c, n);
	buf[n + 1] = '"';
	buf[n + 2] = '\0';
	return buf;
}

static void test_parse_refusals(void **state)
{
	struct registry_entry e;
	char big[PATH_MAX + 3];

	(void)state;
	mutated_fails("version", NULL, "\"version\" missing or not an integer");
	mutated_fails("version", "2", "unknown version 2");
	mutated_fails("version", "0", "unknown version 0");
	mutated_fails("version", "\"1\"", "\"version\" missing or not an integer");
	mutated_fails("version", "1.0", "\"version\" missing or not an integer");
	mutated_fails("version", "-1", "\"version\"");

	mutated_fails("id", NULL, "\"id\" missing or not a string");
	mutated_fails("id", "5", "\"id\" missing or not a string");
	mutated_fails("id", "null", "\"id\" missing or not a string");
	mutated_fails("id", "\"\"", "invalid id");
	mutated_fails("id", "\"../x\"", "invalid id");
	mutated_fails("id", "\"-x\"", "invalid id");
	mutated_fails("id", "\"a/b\"", "invalid id");
	mutated_fails("id", "\"\\u001b[31m\"", "invalid id");
	mutated_fails("id", json_str(big, 'a', OCI_ID_MAX + 1), "\"id\" too long");

	mutated_fails("name", "5", "\"name\" missing or not a string");
	mutated_fails("name", json_str(big, 'n', sizeof(e.name)), "\"name\" too long");

	mutated_fails("state_dir", NULL, "\"state_dir\" missing or not a string");
	mutated_fails("state_dir", "[]", "\"state_dir\" missing or not a string");
	mutated_fails("state_dir", json_str(big, 's', PATH_MAX), "\"state_dir\" too long");
	mutated_fails("netns", NULL, "\"netns\" missing or not a string");
	mutated_fails("netns", json_str(big, 'n', PATH_MAX), "\"netns\" too long");

	mutated_fails("netns_dev", NULL, "\"netns_dev\" missing or not an integer");
	mutated_fails("netns_dev", "-1", "\"netns_dev\" missing or not an integer in range");
	mutated_fails("netns_dev", "\"4\"", "\"netns_dev\"");
	mutated_fails("netns_ino", NULL, "\"netns_ino\"");
	mutated_fails("netns_ino", "4.5", "\"netns_ino\"");
	mutated_fails("pid", NULL, "\"pid\" missing or not an integer");
	mutated_fails("pid", "-1", "\"pid\" missing or not an integer in range");
	mutated_fails("pid", "2147483648", "\"pid\"");
	mutated_fails("pid", "true", "\"pid\"");
	mutated_fails("dnsmasq_pid", NULL, "\"dnsmasq_pid\"");
	mutated_fails("dnsmasq_pid", "-2", "\"dnsmasq_pid\"");

	mutated_fails("source", NULL, "\"source\" missing or not a string");
	mutated_fails("source", "1", "\"source\" missing or not a string");
	mutated_fails("source", "\"podman-podman-xx\"", "\"source\" too long");
	mutated_fails("started", "0", "\"started\" missing or not a string");
	mutated_fails("started", json_str(big, '1', TIMESTAMP_MAX), "\"started\" too long");

	/* Not an entry at all. */
	parse_fails("", -EINVAL, "not valid JSON");
	parse_fails("{", -EINVAL, "not valid JSON");
	parse_fails("{\"version\":1", -EINVAL, "not valid JSON (line 1)");
	parse_fails("{\n\"version\":1,\n\"id\":\"c1\",\n}", -EINVAL, "not valid JSON (line 4)");
	parse_fails("[]", -EINVAL, "not an object");
	parse_fails("[{\"version\":1}]", -EINVAL, "not an object");
	parse_fails("{\"version\":1,\"version\":1}", -EINVAL, "not valid JSON");
	parse_fails("{\"version\":1,\"id\":\"c\\u0000d\"}", -EINVAL, "not valid JSON");
	parse_fails_len("{\"version\":1}\0", 14, -EINVAL, "not valid JSON");
	parse_fails("{\"version\":1,\"id\":\"\xff\"}", -EINVAL, "not valid JSON");
	parse_fails("{}", -EINVAL, "\"version\"");
}

/* A failure late in the entry leaves every field zero, the strings copied before too. */
static void test_parse_zeroes_on_failure(void **state)
{
	(void)state;
	mutated_fails("source", NULL, "\"source\"");
	mutated_fails("started", "[]", "\"started\"");
	mutated_fails("dnsmasq_pid", "\"x\"", "\"dnsmasq_pid\"");
}

static void test_parse_size_limit(void **state)
{
	struct shield_error err = {0};
	struct registry_entry e, want;
	char *text = mutated("name", NULL);
	size_t len = strlen(text);
	char *buf = malloc(REGISTRY_ENTRY_MAX + 1);

	(void)state;
	assert_non_null(buf);
	memset(buf, ' ', REGISTRY_ENTRY_MAX + 1);
	memcpy(buf, text, len);
	free(text);
	/* Exactly the cap parses (trailing whitespace is fine); one byte more is -E2BIG. */
	assert_int_equal(registry_entry_parse(buf, REGISTRY_ENTRY_MAX, &e, &err), 0);
	sample(&want);
	want.name[0] = '\0';
	assert_entry_equal(&e, &want);
	parse_fails_len(buf, REGISTRY_ENTRY_MAX + 1, -E2BIG, "more than 65536 bytes");
	free(buf);
}

static void test_format_refusals(void **state)
{
	struct shield_error err = {0};
	struct registry_entry e;
	char *text = NULL;

	(void)state;
	/* JSON strings are UTF-8: a name that is not cannot be written. */
	sample(&e);
	memcpy(e.name, "bad\xff", 5);
	assert_int_equal(registry_entry_format(&e, &text, &err), -EINVAL);
	assert_null(text);
	assert_msg_contains(&err, "not valid UTF-8");
	assert_msg_contains(&err, PODMAN_ID);
	assert_msg_printable(&err);

	/* The message names the entry without passing its bytes on raw. */
	sample(&e);
	memcpy(e.id, "\x1b[2J\xff", 6);
	assert_int_equal(registry_entry_format(&e, &text, &err), -EINVAL);
	assert_null(text);
	assert_msg_contains(&err, "not valid UTF-8");
	assert_msg_printable(&err);
}

/* ------------------------------------------------------------- files */

static int open_reg(struct fixture *f)
{
	struct shield_error err = {0};
	int fd = registry_open(f->run, true, &err);

	if (fd < 0)
		fail_msg("registry_open: %s", err.msg);
	return fd;
}

static void test_open(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	char path[UNIT_DIR_MAX + 16];
	struct stat st;
	int fd;

	/* Nothing there, no create: -ENOENT naming the directory. */
	assert_int_equal(registry_open(f->run, false, &err), -ENOENT);
	assert_msg_contains(&err, f->run);
	assert_int_equal(access(f->run, F_OK), -1);

	/* create makes RUNTIME_DIR and containers/, both 0700. */
	fd = open_reg(f);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	close(fd);
	assert_int_equal(lstat(f->run, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(lstat(f->reg, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);

	/* Opening again, with or without create. */
	fd = registry_open(f->run, false, &err);
	assert_true(fd >= 0);
	close(fd);
	fd = open_reg(f);
	close(fd);

	/* RUNTIME_DIR there, containers/ missing: the message names the full path. */
	assert_int_equal(rmdir(f->reg), 0);
	assert_int_equal(registry_open(f->run, false, &err), -ENOENT);
	assert_msg_contains(&err, f->reg);

	/* containers is a file. */
	unit_write_str(f->run, "containers", "x");
	assert_int_equal(registry_open(f->run, true, &err), -ENOTDIR);
	assert_msg_contains(&err, f->reg);

	/* Parents of RUNTIME_DIR are not created. */
	snprintf(path, sizeof(path), "%s/no/such", f->root);
	assert_int_equal(registry_open(path, true, &err), -ENOENT);
	assert_msg_contains(&err, "cannot create");
}

/* A symlink as containers/ or as RUNTIME_DIR is refused and says so; its target is untouched. */
static void test_open_refuses_symlinks(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	char elsewhere[UNIT_DIR_MAX], link[UNIT_DIR_MAX];

	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", f->root);
	assert_int_equal(mkdir(elsewhere, 0700), 0);
	assert_int_equal(mkdir(f->run, 0700), 0);
	assert_int_equal(symlink(elsewhere, f->reg), 0);

	for (int create = 0; create <= 1; create++) {
		int r;

		shield_error_clear(&err);
		r = registry_open(f->run, create, &err);
		assert_true(r < 0);
		assert_int_equal(err.code, r);
		assert_msg_contains(&err, f->reg);
		assert_msg_contains(&err, "symlink");
		assert_msg_printable(&err);
	}
	assert_int_equal(count_entries(elsewhere), 0);

	/* RUNTIME_DIR itself a symlink to a good registry. */
	assert_int_equal(unlink(f->reg), 0);
	assert_int_equal(mkdir(f->reg, 0700), 0);
	snprintf(link, sizeof(link), "%s/runlink", f->root);
	assert_int_equal(symlink(f->run, link), 0);
	for (int create = 0; create <= 1; create++) {
		int r;

		shield_error_clear(&err);
		r = registry_open(link, create, &err);
		assert_true(r < 0);
		assert_msg_contains(&err, link);
		assert_msg_contains(&err, "symlink");
	}
}

static void test_write_remove(void **state)
{
	struct fixture *f = *state;
	struct shield_error err = {0};
	struct registry_entry e, e2, back;
	char *text, *want = NULL;
	struct stat st;
	int fd = open_reg(f);

	sample(&e);
	assert_int_equal(registry_write(fd, &e, &err), 0);
	assert_int_equal(fstatat(fd, PODMAN_ID ".json", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	/* The file is the formatted entry, and nothing else is left in the directory. */
	text = unit_read(f->reg, PODMAN_ID ".json");
	assert_non_null(text);
	assert_int_equal(registry_entry_format(&e, &want, &err), 0);
	assert_string_equal(text, want);
	assert_int_equal(registry_entry_parse(text, strlen(text), &back, &err), 0);
	assert_entry_equal(&e, &back);
	free(text);
	free(want);
	assert_int_equal(count_entries(f->reg), 1);

	/* Rewriting replaces the content atomically: still one file, new content. */
	e.dnsmasq_pid = 424242;
	assert_int_equal(registry_write(fd, &e, &err), 0);
	text = unit_read(f->reg, PODMAN_ID ".json");
	assert_int_equal(registry_entry_parse(text, strlen(text), &back, &err), 0);
	assert_int_equal(back.dnsmasq_pid, 424242);
	free(text);
	assert_int_equal(count_entries(f->reg), 1);

	/* A second container. */
	memset(&e2, 0, sizeof(e2));
	snprintf(e2.id, sizeof(e2.id), "c2");
	snprintf(e2.state_dir, sizeof(e2.state_dir), "/srv/b");
	snprintf(e2.netns, sizeof(e2.netns), "/run/netns/x");
	snprintf(e2.source, sizeof(e2.source), "attach");
	assert_int_equal(registry_write(fd, &e2, &err), 0);
	assert_int_equal(count_entries(f->reg), 2);

	/* Remove: 1 when there was a file, then 0. */
	assert_int_equal(registry_remove(fd, PODMAN_ID, &err), 1);
	assert_int_equal(fstatat(fd, PODMAN_ID ".json", &st, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(registry_remove(fd, PODMAN_ID, &err), 0);
	assert_int_equal(count_entries(f->reg), 1);
	assert_int_equal(registry_remove(fd, "c2", &err), 1);
	assert_int_equal(registry_remove(fd, "c2", &err), 0);
	assert_int_equal(registry_remove(fd, "never-there", &err), 0);
	assert_int_equal(count_entries(f->reg), 0);
	close(fd);
}

/* An id that is not a container id is refused before the directory is touched. */
static void test_invalid_id(void **state)
{
	static const char *const bad[] = {
		"", "../escape", "..", "a/b", "-x", ".x", "/abs", "\x1b[2J", "a b",
	};
	struct fixture *f = *state;
	struct shield_error err = {0};
	struct registry_entry e;
	char *text;
	int fd = open_reg(f);

	/* A file one level up that "../victim" would name. */
	unit_write_str(f->run, "victim.json", "keep");
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char q[SHIELD_QUOTE_MAX];

		sample(&e);
		snprintf(e.id, sizeof(e.id), "%s", bad[i]);
		shield_error_clear(&err);
		assert_int_equal(registry_write(fd, &e, &err), -EINVAL);
		assert_msg_contains(&err, "invalid container id");
		assert_msg_contains(&err, shield_quote(bad[i], strlen(bad[i]), q));
		assert_msg_printable(&err);
		shield_error_clear(&err);
		assert_int_equal(registry_remove(fd, bad[i], &err), -EINVAL);
		assert_msg_contains(&err, "invalid container id");
		assert_msg_printable(&err);
	}
	assert_int_equal(registry_remove(fd, "../victim", &err), -EINVAL);
	assert_int_equal(count_entries(f->reg), 0);
	assert_int_equal(count_entries(f->run), 2); /* containers/ and victim.json */
	text = unit_read(f->run, "victim.json");
	assert_string_equal(text, "keep");
	free(text);
	close(fd);
}

/* ------------------------------------------------------- RUNTIME_DIR */

struct saved_env {
	char *shield, *xdg;
};

static void env_save(struct saved_env *s)
{
	const char *v = getenv("SHIELD_RUNTIME_DIR");

	s->shield = v ? strdup(v) : NULL;
	v = getenv("XDG_RUNTIME_DIR");
	s->xdg = v ? strdup(v) : NULL;
}

static void env_restore(struct saved_env *s)
{
	if (s->shield)
		setenv("SHIELD_RUNTIME_DIR", s->shield, 1);
	else
		unsetenv("SHIELD_RUNTIME_DIR");
	if (s->xdg)
		setenv("XDG_RUNTIME_DIR", s->xdg, 1);
	else
		unsetenv("XDG_RUNTIME_DIR");
	free(s->shield);
	free(s->xdg);
}

static void env_set(const char *shield, const char *xdg)
{
	if (shield)
		assert_int_equal(setenv("SHIELD_RUNTIME_DIR", shield, 1), 0);
	else
		assert_int_equal(unsetenv("SHIELD_RUNTIME_DIR"), 0);
	if (xdg)
		assert_int_equal(setenv("XDG_RUNTIME_DIR", xdg, 1), 0);
	else
		assert_int_equal(unsetenv("XDG_RUNTIME_DIR"), 0);
}

/* Whether the default for this process is the root one (/run/shield). */
static bool root_default(void)
{
	return geteuid() == 0 && !shield_in_user_namespace();
}

/* The rootless rules, for a process that is not root in the initial user namespace. */
struct rootless_result {
	int r_set, r_unset, r_relative, r_empty;
	char set[PATH_MAX];
	char msg_unset[SHIELD_ERROR_MSG_MAX];
};

static void rootless_run(struct rootless_result *res)
{
	struct shield_error err = {0};
	char out[PATH_MAX];

	env_set(NULL, "/run/user/1000");
	res->r_set = registry_runtime_dir(res->set, sizeof(res->set), &err);
	env_set(NULL, NULL);
	res->r_unset = registry_runtime_dir(out, sizeof(out), &err);
	snprintf(res->msg_unset, sizeof(res->msg_unset), "%s", err.msg);
	env_set(NULL, "run/user/1000");
	res->r_relative = registry_runtime_dir(out, sizeof(out), &err);
	env_set("", "/run/user/1000");
	res->r_empty = registry_runtime_dir(out, sizeof(out), &err);
}

static void rootless_check(const struct rootless_result *res)
{
	assert_int_equal(res->r_set, 0);
	assert_string_equal(res->set, "/run/user/1000/shield");
	assert_int_equal(res->r_unset, -EINVAL);
	if (!strstr(res->msg_unset, "XDG_RUNTIME_DIR") ||
	    !strstr(res->msg_unset, "SHIELD_RUNTIME_DIR"))
		fail_msg("message \"%s\" does not name both variables", res->msg_unset);
	assert_int_equal(res->r_relative, -EINVAL);
	/* An empty SHIELD_RUNTIME_DIR counts as unset. */
	assert_int_equal(res->r_empty, 0);
}

/* Which file names in the registry directory are entries (nftsetd's inotify events, listings). */
static void test_entry_id(void **state)
{
	char id[OCI_ID_MAX + 1], name[OCI_ID_MAX + 16];

	(void)state;
	assert_true(registry_entry_id("web.json", id));
	assert_string_equal(id, "web");
	assert_true(registry_entry_id("0f3a_b.c-d.json", id));
	assert_string_equal(id, "0f3a_b.c-d");
	/* registry_write's temporary files, other names, bad ids. */
	assert_false(registry_entry_id(".web.json.tmp", id));
	assert_false(registry_entry_id(".web.json", id));
	assert_false(registry_entry_id(".json", id));
	assert_false(registry_entry_id("web.json~", id));
	assert_false(registry_entry_id("web", id));
	assert_false(registry_entry_id("-web.json", id));
	assert_false(registry_entry_id("we b.json", id));
	/* The longest id, and one character more. */
	memset(name, 'a', OCI_ID_MAX);
	memcpy(name + OCI_ID_MAX, ".json", 6);
	assert_true(registry_entry_id(name, id));
	assert_int_equal(strlen(id), OCI_ID_MAX);
	memset(name, 'a', OCI_ID_MAX + 1);
	memcpy(name + OCI_ID_MAX + 1, ".json", 6);
	assert_false(registry_entry_id(name, id));
}

static void test_runtime_dir_env(void **state)
{
	struct shield_error err = {0};
	struct saved_env saved;
	char out[PATH_MAX], small[8];

	(void)state;
	env_save(&saved);

	/* SHIELD_RUNTIME_DIR wins over everything, for root and rootless alike. */
	env_set("/tmp/shield-test-run", "/run/user/1000");
	assert_int_equal(registry_runtime_dir(out, sizeof(out), &err), 0);
	assert_string_equal(out, "/tmp/shield-test-run");
	env_set("/tmp/shield-test-run", NULL);
	assert_int_equal(registry_runtime_dir(out, sizeof(out), &err), 0);
	assert_string_equal(out, "/tmp/shield-test-run");

	/* A relative SHIELD_RUNTIME_DIR is refused, not resolved against the cwd. */
	env_set("run/shield", "/run/user/1000");
	assert_int_equal(registry_runtime_dir(out, sizeof(out), &err), -EINVAL);
	assert_msg_contains(&err, "SHIELD_RUNTIME_DIR");
	assert_msg_contains(&err, "absolute");
	assert_msg_printable(&err);
	env_set("./x", NULL);
	assert_int_equal(registry_runtime_dir(out, sizeof(out), &err), -EINVAL);

	/* Too long for the caller's buffer. */
	env_set("/tmp/shield-test-run", NULL);
	assert_int_equal(registry_runtime_dir(small, sizeof(small), &err), -ENAMETOOLONG);
	assert_msg_contains(&err, "too long");

	/* Without SHIELD_RUNTIME_DIR: root in the initial namespace uses /run/shield and
	 * ignores XDG_RUNTIME_DIR; anyone else uses XDG_RUNTIME_DIR/shield. */
	if (root_default()) {
		env_set(NULL, "/run/user/1000");
		assert_int_equal(registry_runtime_dir(out, sizeof(out), &err), 0);
		assert_string_equal(out, "/run/shield");
		env_set(NULL, NULL);
		assert_int_equal(registry_runtime_dir(out, sizeof(out), &err), 0);
		assert_string_equal(out, "/run/shield");
		env_set("", "/run/user/1000");
		assert_int_equal(registry_runtime_dir(out, sizeof(out), &err), 0);
		assert_string_equal(out, "/run/shield");
		assert_int_equal(registry_runtime_dir(small, sizeof(small), &err), -ENAMETOOLONG);
	} else {
		struct rootless_result res;

		rootless_run(&res);
		rootless_check(&res);
	}
	env_restore(&saved);
}

/* Root uses the rootless rules as soon as its effective uid is another one. */
static void test_runtime_dir_rootless_euid(void **state)
{
	struct rootless_result res;
	struct saved_env saved;

	(void)state;
	if (!root_default()) {
		/* This process already is the rootless case (test_runtime_dir_env covers it). */
		env_save(&saved);
		rootless_run(&res);
		env_restore(&saved);
		rootless_check(&res);
		return;
	}
	env_save(&saved);
	assert_int_equal(seteuid(65534), 0);
	rootless_run(&res);
	/* Back to root before any assertion can fail. */
	assert_int_equal(seteuid(0), 0);
	env_restore(&saved);
	rootless_check(&res);
}

/*
 * uid 0 inside a user namespace (rootless podman runs its hooks there) is not
 * root: the registry is under XDG_RUNTIME_DIR. Checked in a child that maps its
 * uid to 0 in a new user namespace, when this system allows one.
 */
static void test_runtime_dir_user_namespace(void **state)
{
	uid_t outer = geteuid();
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct shield_error err = {0};
		char map[64], out[PATH_MAX];
		int fd, n;

		if (unshare(CLONE_NEWUSER) < 0)
			_exit(77); /* no user namespaces here */
		n = snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)outer);
		fd = open("/proc/self/uid_map", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, map, (size_t)n) != n)
			_exit(77);
		close(fd);
		if (geteuid() != 0)
			_exit(2);
		if (!shield_in_user_namespace())
			_exit(3);
		unsetenv("SHIELD_RUNTIME_DIR");
		setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
		if (registry_runtime_dir(out, sizeof(out), &err) != 0)
			_exit(4);
		if (strcmp(out, "/run/user/1000/shield") != 0)
			_exit(5);
		unsetenv("XDG_RUNTIME_DIR");
		if (registry_runtime_dir(out, sizeof(out), &err) != -EINVAL)
			_exit(6);
		setenv("SHIELD_RUNTIME_DIR", "/tmp/x", 1);
		if (registry_runtime_dir(out, sizeof(out), &err) != 0 || strcmp(out, "/tmp/x") != 0)
			_exit(7);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		return; /* nothing to check without user namespaces */
	if (WEXITSTATUS(status) != 0)
		fail_msg("user-namespace check %d failed", WEXITSTATUS(status));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_text),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_parse_optional),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_parse_zeroes_on_failure),
		cmocka_unit_test(test_parse_size_limit),
		cmocka_unit_test(test_format_refusals),
		cmocka_unit_test_setup_teardown(test_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_refuses_symlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_id, setup, teardown),
		cmocka_unit_test(test_entry_id),
		cmocka_unit_test(test_runtime_dir_env),
		cmocka_unit_test(test_runtime_dir_rootless_euid),
		cmocka_unit_test(test_runtime_dir_user_namespace),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
