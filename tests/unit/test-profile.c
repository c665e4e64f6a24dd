/* SPDX-License-Identifier: Apache-2.0 */
#include "unit-helpers.h"

#include "shield/addr.h"
#include "shield/domain.h"
#include "shield/profile.h"

static const char *const bundled[] = {"base", "dev-node", "dev-python", "dev-standard",
				      "nvidia-hpc"};

struct dirs {
	char root[UNIT_ROOT_MAX];
	char user[UNIT_DIR_MAX]; /* root/config, files in root/config/profiles */
	char data[UNIT_DIR_MAX]; /* root/data, files in root/data/profiles */
};

static int setup(void **state)
{
	struct dirs *d = calloc(1, sizeof(*d));
	char p[PATH_MAX];

	assert_non_null(d);
	unit_mkdtemp(d->root);
	snprintf(d->user, sizeof(d->user), "%s/config", d->root);
	snprintf(d->data, sizeof(d->data), "%s/data", d->root);
	assert_int_equal(mkdir(d->user, 0700), 0);
	assert_int_equal(mkdir(d->data, 0700), 0);
	snprintf(p, sizeof(p), "%s/profiles", d->user);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/profiles", d->data);
	assert_int_equal(mkdir(p, 0700), 0);
	*state = d;
	return 0;
}

static int teardown(void **state)
{
	struct dirs *d = *state;

	unit_rmtree(d->root);
	free(d);
	return 0;
}

static void put(const char *dir, const char *name, const char *text)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/profiles", dir);
	unit_write_str(p, name, text);
}

static void test_parse(void **state)
{
	_cleanup_strlist_ struct strlist d = STRLIST_INIT, ips = STRLIST_INIT;
	struct shield_error err = {0};
	const char *text = "# header\n"
			   "\n"
			   "github.com   # code\n"
			   "   PyPI.org\t\n"
			   "*.githubusercontent.com\r\n"
			   "10.1.2.3/8  # a CIDR\n"
			   "198.18.0.1\n"
			   "2001:0DB8::1/128\n"
			   "fc00::/7\n"
			   "github.com\n"
			   "10.0.0.0/8\n"
			   "#198.18.0.2\n"
			   "dead.beef\n"
			   "1password.com\n"
			   "last.example"; /* no final newline */

	(void)state;
	if (profile_parse("test", text, strlen(text), &d, &ips, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(d.n, 6);
	assert_string_equal(d.items[0], "github.com");
	assert_string_equal(d.items[1], "pypi.org");
	assert_string_equal(d.items[2], "githubusercontent.com");
	assert_string_equal(d.items[3], "dead.beef");
	assert_string_equal(d.items[4], "1password.com");
	assert_string_equal(d.items[5], "last.example");
	assert_int_equal(ips.n, 4);
	assert_string_equal(ips.items[0], "10.0.0.0/8");
	assert_string_equal(ips.items[1], "198.18.0.1");
	assert_string_equal(ips.items[2], "2001:db8::1");
	assert_string_equal(ips.items[3], "fc00::/7");

	/* Parsing appends, de-duplicating against what is already there. */
	text = "pypi.org\nnew.example\n198.18.0.1\n198.18.0.9\n";
	assert_int_equal(profile_parse("more", text, strlen(text), &d, &ips, &err), 0);
	assert_int_equal(d.n, 7);
	assert_string_equal(d.items[6], "new.example");
	assert_int_equal(ips.n, 5);
	assert_string_equal(ips.items[4], "198.18.0.9");

	/* Empty and comment-only texts add nothing. */
	assert_int_equal(profile_parse("empty", "", 0, &d, &ips, &err), 0);
	assert_int_equal(profile_parse("c", "# x\n\n  # y\n", 11, &d, &ips, &err), 0);
	assert_int_equal(d.n, 7);
}

static void expect_parse_error(const char *text, size_t len, int code, const char *why)
{
	_cleanup_strlist_ struct strlist d = STRLIST_INIT, ips = STRLIST_INIT;
	struct shield_error err = {0};

	assert_int_equal(strlist_add(&d, "keep.example"), 0);
	assert_int_equal(profile_parse("p", text, len, &d, &ips, &err), code);
	assert_msg_contains(&err, why);
	/* Nothing from a bad profile reaches the caller's lists. */
	assert_int_equal(d.n, 1);
	assert_int_equal(ips.n, 0);
}

static void test_parse_errors(void **state)
{
	char *big;

	(void)state;
	expect_parse_error("ok.example\n10.0.0.1\nbad/x.example\n", 33, -EINVAL,
			   "p:3: invalid domain \"bad/x.example\": character '/' not allowed");
	expect_parse_error("a.example\n10.0.0.0/33\n", 22, -EINVAL,
			   "p:2: invalid address \"10.0.0.0/33\": prefix length longer than /32");
	expect_parse_error("010.0.0.1\n", 10, -EINVAL, "p:1: invalid address \"010.0.0.1\"");
	expect_parse_error("1.2.3\n", 6, -EINVAL, "p:1: invalid address");
	expect_parse_error("fe80::1%eth0\n", 13, -EINVAL, "p:1: invalid domain");
	expect_parse_error("two words.example\n", 18, -EINVAL, "character ' ' not allowed");
	expect_parse_error("a.example\0b.example\n", 20, -EINVAL, "p:1: invalid domain");
	expect_parse_error("localhost\n", 10, -EINVAL, "at least two labels");
	expect_parse_error("x.example,y.example\n", 20, -EINVAL, "character ',' not allowed");

	big = malloc(PROFILE_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, '\n', PROFILE_FILE_MAX + 1);
	expect_parse_error(big, PROFILE_FILE_MAX + 1, -EFBIG, "larger than");
	expect_parse_error(big, PROFILE_LINES_MAX + 1, -E2BIG, "more than 8192 lines");
	free(big);
}

static void test_name_check(void **state)
{
	struct shield_error err = {0};
	char long_name[80];

	(void)state;
	assert_int_equal(profile_name_check("base", &err), 0);
	assert_int_equal(profile_name_check("dev-python", &err), 0);
	assert_int_equal(profile_name_check("a", &err), 0);
	assert_int_equal(profile_name_check("0", &err), 0);
	assert_int_equal(profile_name_check("a.b_c-1", &err), 0);

	assert_int_equal(profile_name_check("", &err), -EINVAL);
	assert_int_equal(profile_name_check(NULL, &err), -EINVAL);
	assert_int_equal(profile_name_check("..", &err), -EINVAL);
	assert_int_equal(profile_name_check("../etc/passwd", &err), -EINVAL);
	assert_int_equal(profile_name_check("a..b", &err), -EINVAL);
	assert_msg_contains(&err, "\"..\" not allowed");
	assert_int_equal(profile_name_check("a/b", &err), -EINVAL);
	assert_msg_contains(&err, "character '/' not allowed");
	assert_int_equal(profile_name_check("Base", &err), -EINVAL);
	assert_int_equal(profile_name_check("-a", &err), -EINVAL);
	assert_int_equal(profile_name_check(".a", &err), -EINVAL);
	assert_int_equal(profile_name_check("_a", &err), -EINVAL);
	assert_int_equal(profile_name_check("a b", &err), -EINVAL);
	assert_int_equal(profile_name_check("a\n", &err), -EINVAL);
	assert_msg_contains(&err, "'\\n'");
	memset(long_name, 'a', sizeof(long_name));
	long_name[PROFILE_NAME_MAX] = '\0';
	assert_int_equal(profile_name_check(long_name, &err), 0);
	long_name[PROFILE_NAME_MAX] = 'a';
	long_name[PROFILE_NAME_MAX + 1] = '\0';
	assert_int_equal(profile_name_check(long_name, &err), -EINVAL);
	assert_msg_contains(&err, "longer than 64");
}

static void test_load_and_override(void **state)
{
	struct dirs *dd = *state;
	_cleanup_strlist_ struct strlist d = STRLIST_INIT, ips = STRLIST_INIT;
	struct shield_error err = {0};

	put(dd->data, "web.txt", "data.example\n198.18.0.1\n");
	put(dd->data, "only-data.txt", "od.example\n");
	put(dd->user, "web.txt", "user.example\n");
	put(dd->user, "mine.txt", "mine.example\n");

	/* The user's file of the same name wins, entirely. */
	assert_int_equal(profile_load("web", dd->user, dd->data, &d, &ips, &err), 0);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.items[0], "user.example");
	assert_int_equal(ips.n, 0);

	/* Without a user dir the bundled one is used. */
	strlist_free(&d);
	assert_int_equal(profile_load("web", NULL, dd->data, &d, &ips, &err), 0);
	assert_string_equal(d.items[0], "data.example");
	assert_int_equal(ips.n, 1);

	assert_int_equal(profile_load("only-data", dd->user, dd->data, &d, &ips, &err), 0);
	assert_true(strlist_contains(&d, "od.example"));
	assert_int_equal(profile_load("mine", dd->user, dd->data, &d, &ips, &err), 0);
	assert_true(strlist_contains(&d, "mine.example"));

	/* A bad entry is reported with the profile's name and line. */
	put(dd->user, "broken.txt", "ok.example\n\nnot a domain\n");
	assert_int_equal(profile_load("broken", dd->user, dd->data, &d, &ips, &err), -EINVAL);
	assert_msg_contains(&err, "broken:3: invalid domain \"not a domain\"");
}

static void test_unknown_lists_known(void **state)
{
	struct dirs *dd = *state;
	_cleanup_strlist_ struct strlist d = STRLIST_INIT, ips = STRLIST_INIT;
	struct shield_error err = {0};
	char p[PATH_MAX];

	put(dd->data, "zeta.txt", "z.example\n");
	put(dd->data, "alpha.txt", "a.example\n");
	put(dd->user, "mid.txt", "m.example\n");
	put(dd->user, "alpha.txt", "a2.example\n");
	put(dd->user, "README.md", "not a profile");
	put(dd->user, ".hidden.txt", "h.example\n");
	put(dd->user, "Upper.txt", "u.example\n");
	put(dd->user, ".txt", "");

	assert_int_equal(profile_load("x", dd->user, dd->data, &d, &ips, &err), -ENOENT);
	assert_string_equal(err.msg, "unknown profile \"x\" (known: alpha, mid, zeta)");

	/* Names that could walk out of the directory are refused before any lookup. */
	assert_int_equal(profile_load("../data/profiles/zeta", dd->user, dd->data, &d, &ips, &err),
			 -EINVAL);
	assert_msg_contains(&err, "invalid profile name");

	/* No directories at all. */
	snprintf(p, sizeof(p), "%s/nowhere", dd->root);
	assert_int_equal(profile_load("x", NULL, p, &d, &ips, &err), -ENOENT);
	assert_string_equal(err.msg, "unknown profile \"x\" (no profiles found)");
	assert_int_equal(d.n, 0);
}

static void test_list(void **state)
{
	struct dirs *dd = *state;
	_cleanup_strlist_ struct strlist names = STRLIST_INIT;
	struct shield_error err = {0};

	assert_int_equal(profile_list(dd->user, dd->data, &names, &err), 0);
	assert_int_equal(names.n, 0);
	put(dd->data, "b.txt", "");
	put(dd->data, "a.txt", "");
	put(dd->user, "c.txt", "");
	put(dd->user, "b.txt", "");
	put(dd->user, "b.txt~", "");
	assert_int_equal(profile_list(dd->user, dd->data, &names, &err), 0);
	assert_int_equal(names.n, 3);
	assert_string_equal(names.items[0], "a");
	assert_string_equal(names.items[1], "b");
	assert_string_equal(names.items[2], "c");
	strlist_free(&names);
	assert_int_equal(profile_list(NULL, dd->data, &names, &err), 0);
	assert_int_equal(names.n, 2);
	strlist_free(&names);
	assert_int_equal(profile_list(NULL, NULL, &names, &err), 0);
	assert_int_equal(names.n, 0);
}

static void test_load_file_limits(void **state)
{
	struct dirs *dd = *state;
	_cleanup_strlist_ struct strlist d = STRLIST_INIT, ips = STRLIST_INIT;
	struct shield_error err = {0};
	char p[PATH_MAX], target[PATH_MAX];
	char *big = malloc(PROFILE_FILE_MAX + 1);

	assert_non_null(big);
	memset(big, '#', PROFILE_FILE_MAX + 1);
	snprintf(p, sizeof(p), "%s/profiles", dd->data);
	unit_write(p, "huge.txt", big, PROFILE_FILE_MAX + 1);
	free(big);
	assert_int_equal(profile_load("huge", NULL, dd->data, &d, &ips, &err), -EFBIG);
	assert_msg_contains(&err, "larger than 262144 bytes");

	/* A FIFO does not hang the loader. */
	snprintf(target, sizeof(target), "%s/profiles/fifo.txt", dd->data);
	assert_int_equal(mkfifo(target, 0600), 0);
	assert_int_equal(profile_load("fifo", NULL, dd->data, &d, &ips, &err), -EINVAL);
	assert_msg_contains(&err, "not a regular file");

	/* A symlinked profile (dotfile managers) is read. */
	unit_write_str(dd->root, "real.txt", "real.example\n");
	snprintf(p, sizeof(p), "%s/profiles/linked.txt", dd->user);
	snprintf(target, sizeof(target), "%s/real.txt", dd->root);
	assert_int_equal(symlink(target, p), 0);
	assert_int_equal(profile_load("linked", dd->user, dd->data, &d, &ips, &err), 0);
	assert_true(strlist_contains(&d, "real.example"));
}

/* The listing `shield profiles` prints: where each profile is, and which shadows which. */
static void test_catalog(void **state)
{
	struct dirs *dd = *state;
	struct shield_error err = {0};
	struct profile_info *cat = NULL;
	char path[PATH_MAX], p[PATH_MAX];
	char *text = NULL;
	size_t n = 99, len = 0;
	bool user = false;

	assert_int_equal(profile_catalog(dd->user, dd->data, &cat, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_null(cat);
	put(dd->data, "web.txt", "# web: bundled web\ndata.example\n");
	put(dd->data, "base.txt", "base.example\n");
	put(dd->user, "web.txt", "# web: my web\nuser.example\n");
	put(dd->user, "mine.txt", "mine.example\n");
	put(dd->user, "Bad.txt", "x.example\n");
	assert_int_equal(profile_catalog(dd->user, dd->data, &cat, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(cat[0].name, "base");
	assert_false(cat[0].user);
	assert_true(cat[0].bundled);
	assert_string_equal(cat[1].name, "mine");
	assert_true(cat[1].user);
	assert_false(cat[1].bundled);
	/* Both: the user's file is used, the bundled one shadowed. */
	assert_string_equal(cat[2].name, "web");
	assert_true(cat[2].user);
	assert_true(cat[2].bundled);
	free(cat);

	/* profile_read says which file it read. */
	assert_int_equal(profile_read("web", dd->user, dd->data, &text, &len, path, &user, &err),
			 0);
	assert_true(user);
	snprintf(p, sizeof(p), "%s/profiles/web.txt", dd->user);
	assert_string_equal(path, p);
	assert_string_equal(text, "# web: my web\nuser.example\n");
	assert_int_equal(len, strlen(text));
	free(text);
	assert_int_equal(profile_read("base", dd->user, dd->data, &text, &len, path, &user, &err),
			 0);
	assert_false(user);
	free(text);
	assert_int_equal(profile_read("nope", dd->user, dd->data, &text, &len, path, &user, &err),
			 -ENOENT);
	assert_string_equal(err.msg, "unknown profile \"nope\" (known: base, mine, web)");

	/* Without a user dir only the bundled ones. */
	assert_int_equal(profile_catalog(NULL, dd->data, &cat, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_false(cat[1].user);
	free(cat);
}

static void test_summary(void **state)
{
	char out[32];

	(void)state;
	profile_summary("web", "# web: what it is for\nx.example\n", 32, out, sizeof(out));
	assert_string_equal(out, "what it is for");
	/* Blank and bare '#' lines before it; no "NAME:" prefix; trailing blanks trimmed. */
	profile_summary("web", "\n#\n##   Something else  \t\nx\n", 28, out, sizeof(out));
	assert_string_equal(out, "Something else");
	/* Another name's prefix stays. */
	profile_summary("web", "# webx: y\n", 10, out, sizeof(out));
	assert_string_equal(out, "webx: y");
	/* An entry first: no description. */
	profile_summary("web", "x.example\n# late comment\n", 25, out, sizeof(out));
	assert_string_equal(out, "");
	profile_summary("web", "", 0, out, sizeof(out));
	assert_string_equal(out, "");
	/* Cut to fit; control bytes become spaces; no trailing newline needed. */
	profile_summary("w", "# a\x1b[31mb 0123456789012345678901234567890123456789", 50, out, 12);
	assert_string_equal(out, "a [31mb 012");
	/* Every bundled profile has one. */
	for (size_t i = 0; i < ARRAY_SIZE(bundled); i++) {
		struct shield_error err = {0};
		char path[PATH_MAX], desc[160];
		char *text = NULL;
		size_t len;

		assert_int_equal(profile_read(bundled[i], NULL, SHIELD_SOURCE_DIR, &text, &len,
					      path, NULL, &err),
				 0);
		profile_summary(bundled[i], text, len, desc, sizeof(desc));
		if (strlen(desc) < 10)
			fail_msg("profile %s has no description line (got \"%s\")", bundled[i],
				 desc);
		free(text);
	}
}

/* The profiles shipped in the source tree: all parse, none is empty, none has
 * an entry that another entry of the same file already covers. */
static void test_bundled_profiles(void **state)
{
	_cleanup_strlist_ struct strlist names = STRLIST_INIT;
	struct shield_error err = {0};

	(void)state;
	assert_int_equal(profile_list(NULL, SHIELD_SOURCE_DIR, &names, &err), 0);
	assert_int_equal(names.n, ARRAY_SIZE(bundled));
	for (size_t i = 0; i < ARRAY_SIZE(bundled); i++) {
		_cleanup_strlist_ struct strlist d = STRLIST_INIT, ips = STRLIST_INIT;

		assert_string_equal(names.items[i], bundled[i]);
		if (profile_load(bundled[i], NULL, SHIELD_SOURCE_DIR, &d, &ips, &err) != 0)
			fail_msg("%s", err.msg);
		if (d.n < 10)
			fail_msg("profile %s has only %zu domains", bundled[i], d.n);
		for (size_t a = 0; a < d.n; a++)
			for (size_t b = 0; b < d.n; b++)
				if (a != b && domain_is_within(d.items[a], d.items[b]))
					fail_msg("profile %s: %s is already covered by %s",
						 bundled[i], d.items[a], d.items[b]);
	}
}

static void expect_in_profile(const char *profile, const char *const *domains)
{
	_cleanup_strlist_ struct strlist d = STRLIST_INIT, ips = STRLIST_INIT;
	struct shield_error err = {0};

	assert_int_equal(profile_load(profile, NULL, SHIELD_SOURCE_DIR, &d, &ips, &err), 0);
	for (; *domains; domains++)
		if (!strlist_contains(&d, *domains))
			fail_msg("profile %s lacks %s", profile, *domains);
}

static void test_bundled_contents(void **state)
{
	(void)state;
	expect_in_profile("base",
			  (const char *const[]){"pool.ntp.org", "deb.debian.org",
						"archive.ubuntu.com", "dl-cdn.alpinelinux.org",
						"o.lencr.org", "ocsp.digicert.com", NULL});
	expect_in_profile("dev-standard",
			  (const char *const[]){"github.com", "githubusercontent.com", "gitlab.com",
						"pypi.org", "registry.npmjs.org", "crates.io",
						"proxy.golang.org", "registry-1.docker.io",
						"pool.ntp.org", NULL});
	expect_in_profile("dev-python", (const char *const[]){"pypi.org", "files.pythonhosted.org",
							      "anaconda.org", NULL});
	expect_in_profile("dev-node",
			  (const char *const[]){"registry.npmjs.org", "nodejs.org", NULL});
	expect_in_profile("nvidia-hpc", (const char *const[]){"nvcr.io", "download.nvidia.com",
							      "ngc.nvidia.com", NULL});
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_name_check),
		cmocka_unit_test_setup_teardown(test_load_and_override, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_lists_known, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_file_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catalog, setup, teardown),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_bundled_profiles),
		cmocka_unit_test(test_bundled_contents),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
