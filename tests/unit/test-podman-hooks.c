/* SPDX-License-Identifier: Apache-2.0 */
/* podman-hooks: descriptors, their check, containers.conf's hooks_dir, podman info. */
#include "unit-helpers.h"

#include "shield/podman-hooks.h"

/* ------------------------------------------------------------- descriptors */

static void test_descriptor_text(void **state)
{
	struct shield_error err = {0};
	char *text = NULL;

	(void)state;
	assert_int_equal(podman_hook_descriptor("/usr/libexec/shield/shield-hook", "createRuntime",
						&text, &err),
			 0);
	assert_string_equal(text, "{\n"
				  "  \"version\": \"1.0.0\",\n"
				  "  \"hook\": {\n"
				  "    \"path\": \"/usr/libexec/shield/shield-hook\",\n"
				  "    \"args\": [\n"
				  "      \"shield-hook\",\n"
				  "      \"createRuntime\"\n"
				  "    ]\n"
				  "  },\n"
				  "  \"when\": {\n"
				  "    \"annotations\": {\n"
				  "      \"^terok\\\\.shield\\\\.profiles$\": \".*\"\n"
				  "    }\n"
				  "  },\n"
				  "  \"stages\": [\n"
				  "    \"createRuntime\"\n"
				  "  ]\n"
				  "}\n");
	free(text);
	assert_int_equal(
		podman_hook_descriptor("/opt/a \"b\"/shield-hook", "poststop", &text, &err), 0);
	assert_non_null(strstr(text, "\"path\": \"/opt/a \\\"b\\\"/shield-hook\""));
	assert_non_null(strstr(text, "\"stages\": [\n    \"poststop\"\n  ]"));
	free(text);

	text = NULL;
	assert_int_equal(podman_hook_descriptor("shield-hook", "poststop", &text, &err), -EINVAL);
	assert_msg_contains(&err, "absolute");
	assert_int_equal(podman_hook_descriptor("/x", "prestart", &text, &err), -EINVAL);
	assert_null(text);
}

/* What setup writes passes its own check, for its own stage only. */
static void test_descriptor_roundtrip(void **state)
{
	static const char *const stages[] = {"createRuntime", "poststop"};
	struct shield_error err = {0};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		char *text = NULL, *path = NULL;

		assert_int_equal(
			podman_hook_descriptor("/usr/lib/shield-hook", stages[i], &text, &err), 0);
		assert_int_equal(podman_hook_descriptor_check(text, strlen(text), stages[i],
							      "dev-standard:extra", &path, &err),
				 0);
		assert_string_equal(path, "/usr/lib/shield-hook");
		free(path);
		assert_int_equal(podman_hook_descriptor_check(text, strlen(text), stages[1 - i],
							      "dev-standard", NULL, &err),
				 -EINVAL);
		assert_msg_contains(&err, stages[1 - i]);
		free(text);
	}
}

static void assert_check(const char *json, int want, const char *needle)
{
	struct shield_error err = {0};
	int r = podman_hook_descriptor_check(json, strlen(json), "createRuntime", "dev-standard",
					     NULL, &err);

	if (r != want)
		fail_msg("check of %s: %d (%s), expected %d", json, r, err.msg, want);
	if (needle)
		assert_msg_contains(&err, needle);
}

static void test_descriptor_check(void **state)
{
	(void)state;
	/* Other ways to match: always, an unanchored key pattern, a value pattern. */
	assert_check("{\"version\":\"1.0.0\",\"hook\":{\"path\":\"/h\"},"
		     "\"when\":{\"always\":true},\"stages\":[\"createRuntime\"]}",
		     0, NULL);
	assert_check("{\"version\":\"1.0.0\",\"hook\":{\"path\":\"/h\",\"env\":[\"A=1\"]},"
		     "\"when\":{\"annotations\":{\"terok.shield.profiles\":\".*\"}},"
		     "\"stages\":[\"prestart\",\"createRuntime\"]}",
		     0, NULL);
	assert_check(
		"{\"version\":\"1.0.0\",\"hook\":{\"path\":\"/h\"},"
		"\"when\":{\"annotations\":{\"other\":\".*\",\"^terok\\\\.shield\\\\.profiles$\":"
		"\"^dev-\"}},\"stages\":[\"createRuntime\"]}",
		0, NULL);

	/* Descriptors that would not run the hook for us. */
	assert_check("{\"version\":\"1.0.0\",\"hook\":{\"path\":\"/h\"},"
		     "\"when\":{\"annotations\":{\"^terok\\\\.shield\\\\.name$\":\".*\"}},"
		     "\"stages\":[\"createRuntime\"]}",
		     -EINVAL, "does not match");
	assert_check("{\"version\":\"1.0.0\",\"hook\":{\"path\":\"/h\"},"
		     "\"when\":{\"annotations\":{\"terok.shield.profiles\":\"^nomatch$\"}},"
		     "\"stages\":[\"createRuntime\"]}",
		     -EINVAL, "does not match");
	assert_check("{\"version\":\"1.0.0\",\"hook\":{\"path\":\"/h\"},"
		     "\"when\":{\"commands\":[\".*\"]},\"stages\":[\"createRuntime\"]}",
		     -EINVAL, "annotations");
	assert_check("{\"version\":\"1.0.0\",\"hook\":{\"path\":\"/h\"},"
		     "\"when\":{\"annotations\":{\"(\":\".*\"}},\"stages\":[\"createRuntime\"]}",
		     -EINVAL, "regular expression");
	assert_check("{\"version\":\"1.0.0\",\"hook\":{\"path\":\"/h\"},"
		     "\"when\":{\"annotations\":{\"terok.shield.profiles\":1}},"
		     "\"stages\":[\"createRuntime\"]}",
		     -EINVAL, "not a string");
	assert_check("{\"version\":\"1.0.0\",\"hook\":{\"path\":\"h\"},"
		     "\"when\":{\"always\":true},\"stages\":[\"createRuntime\"]}",
		     -EINVAL, "absolute");
	assert_check("{\"version\":\"1.0.0\",\"hook\":{},"
		     "\"when\":{\"always\":true},\"stages\":[\"createRuntime\"]}",
		     -EINVAL, "hook.path");
	assert_check("{\"version\":\"2.0.0\",\"hook\":{\"path\":\"/h\"},"
		     "\"when\":{\"always\":true},\"stages\":[\"createRuntime\"]}",
		     -EINVAL, "1.0.0");
	assert_check("{\"version\":\"1.0.0\",\"hook\":{\"path\":\"/h\"},"
		     "\"stages\":[\"createRuntime\"]}",
		     -EINVAL, "when");
	assert_check("{\"version\":\"1.0.0\",\"hook\":{\"path\":\"/h\"},"
		     "\"when\":{\"always\":true},\"stages\":\"createRuntime\"}",
		     -EINVAL, "stages");
	assert_check("{\"version\":\"1.0.0\",\"version\":\"1.0.0\"}", -EINVAL, "JSON");
	assert_check("[]", -EINVAL, "1.0.0");
	assert_check("", -EINVAL, "JSON");
}

/* -------------------------------------------------------- containers.conf */

static int hooks_dir(const char *text, struct strlist *out, struct shield_error *err)
{
	strlist_free(out);
	return podman_conf_hooks_dir(text, strlen(text), out, err);
}

static void test_conf_hooks_dir(void **state)
{
	struct shield_error err = {0};
	struct strlist dirs = STRLIST_INIT;

	(void)state;
	assert_int_equal(hooks_dir("", &dirs, &err), 0);
	assert_int_equal(hooks_dir("[containers]\ndefault_ulimits = []\n[engine]\nruntime = "
				   "\"runc\"\n",
				   &dirs, &err),
			 0);
	/* Commented out, as containers.conf ships it. */
	assert_int_equal(hooks_dir("[engine]\n#hooks_dir = [\n#  \"/usr/share/containers/oci/"
				   "hooks.d\",\n#]\n",
				   &dirs, &err),
			 0);

	assert_int_equal(hooks_dir("[engine]\nhooks_dir = [\"/a\", \"/b\"]\n", &dirs, &err), 1);
	assert_int_equal(dirs.n, 2);
	assert_string_equal(dirs.items[0], "/a");
	assert_string_equal(dirs.items[1], "/b");

	/* Multi-line, comments, trailing comma, literal strings, escapes, CRLF. */
	assert_int_equal(hooks_dir("# conf\r\n[ engine ] # the engine\r\n"
				   "  hooks_dir = [ # first\n"
				   "    '/usr/share/containers/oci/hooks.d',\n"
				   "\n"
				   "    \"/home/u/a \\\"q\\\" \\\\dir\", # second\n"
				   "  ]\n"
				   "runtime = \"runc\"\n",
				   &dirs, &err),
			 1);
	assert_int_equal(dirs.n, 2);
	assert_string_equal(dirs.items[0], "/usr/share/containers/oci/hooks.d");
	assert_string_equal(dirs.items[1], "/home/u/a \"q\" \\dir");

	/* Empty list: set, and empty. */
	assert_int_equal(hooks_dir("[engine]\nhooks_dir=[]\n", &dirs, &err), 1);
	assert_int_equal(dirs.n, 0);

	/* Dotted key at the root, and a plain string. */
	assert_int_equal(hooks_dir("engine.hooks_dir = [\"/d\"]\n", &dirs, &err), 1);
	assert_string_equal(dirs.items[0], "/d");
	assert_int_equal(hooks_dir("[engine]\nhooks_dir = \"/s\"\n", &dirs, &err), 1);
	assert_string_equal(dirs.items[0], "/s");
	assert_int_equal(
		hooks_dir("[engine]\nhooks_dir = [\"/caf\\u00e9\\U0001F600\"]\n", &dirs, &err), 1);
	assert_string_equal(dirs.items[0], "/caf\xc3\xa9\xf0\x9f\x98\x80");
	strlist_free(&dirs);
}

static void test_conf_other_tables(void **state)
{
	struct shield_error err = {0};
	struct strlist dirs = STRLIST_INIT;

	(void)state;
	/* hooks_dir in another table is not podman's. */
	assert_int_equal(hooks_dir("[containers]\nhooks_dir = [\"/no\"]\n"
				   "[engine.runtimes]\nhooks_dir = [\"/no\"]\n"
				   "runc = [\"/usr/sbin/runc\"]\n",
				   &dirs, &err),
			 0);
	/* Values whose text looks like a header or the key, skipped whole. */
	assert_int_equal(hooks_dir("[containers]\n"
				   "env = [\n  \"[engine]\",\n  [\"hooks_dir = ['/no']\"],\n]\n"
				   "note = \"\"\"\n[engine]\nhooks_dir = [\"/no\"]\n\"\"\"\n"
				   "lit = '''\n[engine]\n'''\n"
				   "tbl = { a = 1, b = [\"x\"], c = { d = true } }\n"
				   "n = 42\nf = 1.5\nb = false\n"
				   "[engine]\n"
				   "hooks_dir = [\"/yes\"]\n"
				   "[network]\n"
				   "hooks_dir = [\"/no\"]\n",
				   &dirs, &err),
			 1);
	assert_int_equal(dirs.n, 1);
	assert_string_equal(dirs.items[0], "/yes");
	/* [[engine]] is an array of tables, not the engine table. */
	assert_int_equal(hooks_dir("[[engine]]\nhooks_dir = [\"/no\"]\n", &dirs, &err), 0);
	strlist_free(&dirs);
}

static void test_conf_malformed(void **state)
{
	static const char *const bad[] = {
		"[engine]\nhooks_dir = [1, 2]\n",  "[engine]\nhooks_dir = [\"/a\" \"/b\"]\n",
		"[engine]\nhooks_dir = [\"/a\"\n", "[engine]\nhooks_dir = \"/a\n",
		"[engine]\nhooks_dir = true\n",	   "[engine\nhooks_dir = [\"/a\"]\n",
		"[engine]\nhooks_dir [\"/a\"]\n",  "[engine]\nhooks_dir = [\"/a\"] junk\n",
		"[engine]\nx = \"\\q\"\n",	   "[engine]\nx = \"\\u12\"\n",
		"[engine]\nx = \"\\ud800\"\n",	   "x =\n",
	};
	struct shield_error err = {0};
	struct strlist dirs = STRLIST_INIT;

	(void)state;
	assert_int_equal(strlist_add(&dirs, "/kept"), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = podman_conf_hooks_dir(bad[i], strlen(bad[i]), &dirs, &err);

		if (r != -EINVAL)
			fail_msg("\"%s\": %d, expected -EINVAL", bad[i], r);
		assert_msg_contains(&err, "line ");
		assert_msg_printable(&err);
	}
	assert_int_equal(dirs.n, 1); /* untouched on failure */
	assert_string_equal(dirs.items[0], "/kept");
	strlist_free(&dirs);
}

/* ----------------------------------------------------------- podman info */

/* Cut down from `podman info --format json` of podman 4.3.1 on Debian 12 (root). */
static const char info_43[] =
	"{\"host\":{\"arch\":\"amd64\",\"networkBackend\":\"netavark\","
	"\"ociRuntime\":{\"name\":\"runc\",\"package\":\"runc_1.1.5\",\"path\":\"/usr/sbin/runc\"},"
	"\"security\":{\"rootless\":false,\"seccompEnabled\":true},"
	"\"slirp4netns\":{\"executable\":\"/usr/bin/slirp4netns\",\"package\":\"slirp4netns\"},"
	"\"pasta\":null},"
	"\"store\":{},\"version\":{\"APIVersion\":\"4.3.1\",\"Version\":\"4.3.1\"}}";

/* Podman 5, rootless, pasta. */
static const char info_5[] =
	"{\"host\":{\"networkBackend\":\"netavark\",\"rootlessNetworkCmd\":\"pasta\","
	"\"ociRuntime\":{\"name\":\"crun\"},\"security\":{\"rootless\":true},"
	"\"pasta\":{\"executable\":\"/usr/bin/pasta\"},\"slirp4netns\":{\"executable\":\"\"}},"
	"\"version\":{\"Version\":\"5.2.2\"}}";

static void test_podman_info(void **state)
{
	struct shield_error err = {0};
	struct podman_info info;

	(void)state;
	assert_int_equal(podman_info_parse(info_43, strlen(info_43), &info, &err), 0);
	assert_string_equal(info.version, "4.3.1");
	assert_int_equal(info.major, 4);
	assert_string_equal(info.runtime, "runc");
	assert_string_equal(info.network_backend, "netavark");
	assert_false(info.rootless);
	assert_true(info.has_slirp4netns);
	assert_false(info.has_pasta);
	assert_string_equal(info.rootless_network, "slirp4netns");

	assert_int_equal(podman_info_parse(info_5, strlen(info_5), &info, &err), 0);
	assert_int_equal(info.major, 5);
	assert_string_equal(info.runtime, "crun");
	assert_true(info.rootless);
	assert_true(info.has_pasta);
	assert_false(info.has_slirp4netns);
	assert_string_equal(info.rootless_network, "pasta");

	assert_int_equal(podman_info_parse("{\"version\":{}}", 14, &info, &err), 0);
	assert_string_equal(info.version, "");
	assert_int_equal(info.major, 0);
	assert_int_equal(podman_info_parse("{}", 2, &info, &err), -EINVAL);
	assert_msg_contains(&err, "version");
	assert_int_equal(podman_info_parse("Error: x", 8, &info, &err), -EINVAL);
	assert_msg_contains(&err, "not JSON");
}

static void test_version_major(void **state)
{
	(void)state;
	assert_int_equal(podman_version_major("podman version 4.3.1\n"), 4);
	assert_int_equal(podman_version_major("podman version 5.0.0-rc1"), 5);
	assert_int_equal(podman_version_major("podman-remote version 10.2.0"), 10);
	assert_int_equal(podman_version_major("podman version"), 0);
	assert_int_equal(podman_version_major("podman version 4"), 0);
	assert_int_equal(podman_version_major(""), 0);
	assert_int_equal(podman_version_major(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_descriptor_text),
		cmocka_unit_test(test_descriptor_roundtrip),
		cmocka_unit_test(test_descriptor_check),
		cmocka_unit_test(test_conf_hooks_dir),
		cmocka_unit_test(test_conf_other_tables),
		cmocka_unit_test(test_conf_malformed),
		cmocka_unit_test(test_podman_info),
		cmocka_unit_test(test_version_major),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
