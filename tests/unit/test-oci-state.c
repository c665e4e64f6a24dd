/* SPDX-License-Identifier: Apache-2.0 */
/* oci-state: the OCI state a runtime hands shield-hook, its stage argument and container ids. */
#include "unit-helpers.h"

#include <errno.h>

#include "shield/oci-state.h"

#define PODMAN_ID "a7120deb59201fd75c6890ebb6b9da8489002e11d4f888778684b13a4e7bde45"

/* What podman (through crun or runc) writes on a createRuntime hook's stdin. */
static const char podman_state[] =
	"{\"ociVersion\":\"1.0.2-dev\",\"id\":\"" PODMAN_ID "\",\"status\":\"creating\","
	"\"pid\":31716,\"bundle\":\"/var/lib/containers/storage/overlay-containers/" PODMAN_ID
	"/userdata\",\"annotations\":{\"io.container.manager\":\"libpod\","
	"\"io.podman.annotations.autoremove\":\"FALSE\","
	"\"io.podman.annotations.init\":\"FALSE\","
	"\"io.podman.annotations.privileged\":\"FALSE\","
	"\"io.podman.annotations.publish-all\":\"FALSE\","
	"\"org.opencontainers.image.stopSignal\":\"15\","
	"\"org.systemd.property.KillSignal\":\"15\","
	"\"terok.shield.profiles\":\"x\"}}";

/* The same container at poststop: stopped, no pid any more. */
static const char podman_poststop[] =
	"{\"ociVersion\":\"1.0.2-dev\",\"id\":\"" PODMAN_ID "\",\"status\":\"stopped\","
	"\"pid\":0,\"bundle\":\"/var/lib/containers/storage/overlay-containers/" PODMAN_ID
	"/userdata\",\"annotations\":{\"io.container.manager\":\"libpod\","
	"\"terok.shield.profiles\":\"dev-standard:base\","
	"\"terok.shield.state_dir\":\"/var/lib/terok/shield/web-1\","
	"\"terok.shield.name\":\"web-1\",\"terok.shield.version\":\"1\"}}";

static void assert_empty(const struct oci_state *s)
{
	assert_null(s->id);
	assert_int_equal(s->pid, 0);
	assert_null(s->status);
	assert_null(s->state_dir);
	assert_null(s->name);
	assert_null(s->version);
	assert_null(s->profiles);
}

/* Parse len bytes and expect a failure with code whose message contains needle. */
static void fails_len(const char *buf, size_t len, bool need_pid, int code, const char *needle)
{
	struct oci_state s = {.pid = -7};
	struct shield_error err = {0};
	int r = oci_state_parse(buf, len, need_pid, &s, &err);

	if (r != code)
		fail_msg("parse of %.*s (need_pid=%d) returned %d, not %d (%s)",
			 (int)(len > 200 ? 200 : len), buf, need_pid, r, code, err.msg);
	assert_int_equal(err.code, code);
	assert_msg_contains(&err, needle);
	assert_msg_printable(&err);
	assert_empty(&s);
}

static void fails_one(const char *json, bool need_pid, int code, const char *needle)
{
	fails_len(json, strlen(json), need_pid, code, needle);
}

/* Expect failure whether or not a pid is needed. */
static void fails(const char *json, int code, const char *needle)
{
	fails_len(json, strlen(json), false, code, needle);
	fails_len(json, strlen(json), true, code, needle);
}

static void parses(const char *json, bool need_pid, struct oci_state *s)
{
	struct shield_error err = {0};
	int r = oci_state_parse(json, strlen(json), need_pid, s, &err);

	if (r != 0)
		fail_msg("parse of %s (need_pid=%d) failed: %d %s", json, need_pid, r, err.msg);
}

/* ------------------------------------------------------------------ stages */

static void test_stage_parse(void **state)
{
	static const char *const refused[] = {
		"prestart",	  "",	       "CreateRuntime", "createruntime",
		"createRuntime ", " poststop", "poststop\n",	"createContainer",
		"startContainer", "poststart", "POSTSTOP",
	};
	struct shield_error err = {0};
	enum oci_stage st = OCI_STAGE_POSTSTOP;

	(void)state;
	assert_int_equal(oci_stage_parse("createRuntime", &st, &err), 0);
	assert_int_equal(st, OCI_STAGE_CREATE_RUNTIME);
	assert_int_equal(oci_stage_parse("poststop", &st, &err), 0);
	assert_int_equal(st, OCI_STAGE_POSTSTOP);
	assert_string_equal(oci_stage_name(OCI_STAGE_CREATE_RUNTIME), "createRuntime");
	assert_string_equal(oci_stage_name(OCI_STAGE_POSTSTOP), "poststop");

	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		char q[SHIELD_QUOTE_MAX];

		st = OCI_STAGE_CREATE_RUNTIME;
		shield_error_clear(&err);
		assert_int_equal(oci_stage_parse(refused[i], &st, &err), -EINVAL);
		assert_int_equal(err.code, -EINVAL);
		/* The message names what was given, quoted, and what is supported. */
		assert_msg_contains(&err, shield_quote(refused[i], strlen(refused[i]), q));
		assert_msg_contains(&err, "unsupported hook stage");
		assert_msg_contains(&err, "createRuntime");
		assert_msg_contains(&err, "poststop");
		assert_msg_printable(&err);
		/* A refusal leaves the output alone. */
		assert_int_equal(st, OCI_STAGE_CREATE_RUNTIME);
	}

	/* Terminal escapes in argv cannot reach the log raw. */
	assert_int_equal(oci_stage_parse("\x1b[2J\x07poststop\r", &st, &err), -EINVAL);
	assert_msg_contains(&err, "\"\\x1b[2J\\x07poststop\\r\"");
	assert_msg_printable(&err);
}

/* --------------------------------------------------------------------- ids */

static void test_id_valid(void **state)
{
	static const char *const good[] = {
		PODMAN_ID, "a", "Z", "0", "web-1", "a.b_c-d", "A-", "x..y", "9_", "my_container.v2",
	};
	static const char *const bad[] = {
		"",    "-a",   "_a",   ".a",  ".",   "..",	 "a/b",	  "../x", "a b",
		"a:b", "a\nb", "a\tb", "a@b", "a+b", "\xc3\xa9", "a\xff", "a\\b", "a\"b",
	};
	char id[OCI_ID_MAX + 2];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		if (!oci_id_valid(good[i]))
			fail_msg("id \"%s\" refused", good[i]);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		if (oci_id_valid(bad[i]))
			fail_msg("id \"%s\" accepted", bad[i]);

	memset(id, 'a', sizeof(id));
	id[OCI_ID_MAX] = '\0';
	assert_true(oci_id_valid(id));
	id[OCI_ID_MAX] = 'a';
	id[OCI_ID_MAX + 1] = '\0';
	assert_false(oci_id_valid(id));
}

/* ----------------------------------------------------------- accepted shapes */

static void test_podman_state(void **state)
{
	struct oci_state s;

	(void)state;
	parses(podman_state, true, &s);
	assert_string_equal(s.id, PODMAN_ID);
	assert_int_equal(s.pid, 31716);
	assert_string_equal(s.status, "creating");
	assert_string_equal(s.profiles, "x");
	/* Annotations shield does not set stay absent. */
	assert_null(s.state_dir);
	assert_null(s.name);
	assert_null(s.version);
	oci_state_free(&s);
	assert_empty(&s);

	/* A pid is not needed, but kept, at poststop. */
	parses(podman_state, false, &s);
	assert_string_equal(s.id, PODMAN_ID);
	assert_int_equal(s.pid, 31716);
	oci_state_free(&s);

	parses(podman_poststop, false, &s);
	assert_string_equal(s.id, PODMAN_ID);
	assert_int_equal(s.pid, 0);
	assert_string_equal(s.status, "stopped");
	assert_string_equal(s.profiles, "dev-standard:base");
	assert_string_equal(s.state_dir, "/var/lib/terok/shield/web-1");
	assert_string_equal(s.name, "web-1");
	assert_string_equal(s.version, "1");
	oci_state_free(&s);
	/* Freeing twice (an emptied struct) is harmless. */
	oci_state_free(&s);
	assert_empty(&s);

	/* Whitespace wherever JSON allows it. */
	parses("\n {\n\t\"id\" : \"" PODMAN_ID "\" ,\r\n \"pid\" : 1 }\n\n", true, &s);
	assert_string_equal(s.id, PODMAN_ID);
	assert_int_equal(s.pid, 1);
	oci_state_free(&s);
}

static void test_minimal_and_optional(void **state)
{
	struct oci_state s;

	(void)state;
	/* Only an id: fine without a pid; nothing else is set. */
	parses("{\"id\":\"c1\"}", false, &s);
	assert_string_equal(s.id, "c1");
	assert_int_equal(s.pid, 0);
	assert_null(s.status);
	assert_null(s.profiles);
	oci_state_free(&s);

	/* Null pid and null annotations count as absent. */
	parses("{\"id\":\"c1\",\"pid\":null,\"annotations\":null}", false, &s);
	assert_int_equal(s.pid, 0);
	assert_null(s.profiles);
	oci_state_free(&s);

	/* Empty annotations; an empty annotation value is "", not absent. */
	parses("{\"id\":\"c1\",\"pid\":5,\"annotations\":{}}", true, &s);
	assert_int_equal(s.pid, 5);
	assert_null(s.profiles);
	oci_state_free(&s);
	parses("{\"id\":\"c1\",\"pid\":5,\"annotations\":{\"terok.shield.profiles\":\"\"}}", true,
	       &s);
	assert_non_null(s.profiles);
	assert_string_equal(s.profiles, "");
	oci_state_free(&s);

	/* Non-ASCII annotation values come through byte for byte; JSON escapes are decoded. */
	parses("{\"id\":\"c1\",\"annotations\":{\"terok.shield.name\":\"w\\u00e9b\","
	       "\"terok.shield.state_dir\":\"/srv/a\\/b\"}}",
	       false, &s);
	assert_string_equal(s.name, "w\xc3\xa9"
				    "b");
	assert_string_equal(s.state_dir, "/srv/a/b");
	oci_state_free(&s);

	/* The largest pid and the longest id. */
	{
		char json[256], id[OCI_ID_MAX + 1];

		memset(id, 'b', OCI_ID_MAX);
		id[OCI_ID_MAX] = '\0';
		snprintf(json, sizeof(json), "{\"id\":\"%s\",\"pid\":2147483647}", id);
		parses(json, true, &s);
		assert_string_equal(s.id, id);
		assert_int_equal(s.pid, 2147483647);
		oci_state_free(&s);
	}
}

/* Exactly OCI_STATE_MAX bytes is accepted; one more is -E2BIG before any parsing. */
static void test_size_limit(void **state)
{
	const char *obj = "{\"id\":\"c1\",\"pid\":9}";
	size_t n = OCI_STATE_MAX + 1;
	char *buf = malloc(n);
	struct oci_state s = {.pid = -7};
	struct shield_error err = {0};

	(void)state;
	assert_non_null(buf);
	memset(buf, ' ', n);
	memcpy(buf, obj, strlen(obj));
	assert_int_equal(oci_state_parse(buf, OCI_STATE_MAX, true, &s, &err), 0);
	assert_string_equal(s.id, "c1");
	assert_int_equal(s.pid, 9);
	oci_state_free(&s);

	fails_len(buf, n, true, -E2BIG, "more than");
	fails_len(buf, n, false, -E2BIG, "1048576 bytes");
	/* Size is checked first: even invalid JSON is reported as too big. */
	memset(buf, 0xff, n);
	fails_len(buf, n, false, -E2BIG, "more than");
	free(buf);
}

/* -------------------------------------------------------------------- pid */

static void test_pid(void **state)
{
	struct oci_state s;

	(void)state;
	/* Required and positive at createRuntime. */
	fails_one("{\"id\":\"c1\"}", true, -EINVAL, "no container pid");
	fails_one("{\"id\":\"c1\",\"pid\":0}", true, -EINVAL, "no container pid");
	fails_one("{\"id\":\"c1\",\"pid\":null}", true, -EINVAL, "no container pid");
	fails_one("{\"id\":\"c1\",\"pid\":-0}", true, -EINVAL, "no container pid");
	parses("{\"id\":\"c1\",\"pid\":0}", false, &s);
	assert_int_equal(s.pid, 0);
	oci_state_free(&s);

	/* Out of range or not an integer, whatever the stage. */
	fails("{\"id\":\"c1\",\"pid\":-1}", -EINVAL, "pid -1 is out of range");
	fails("{\"id\":\"c1\",\"pid\":-2147483648}", -EINVAL, "out of range");
	fails("{\"id\":\"c1\",\"pid\":2147483648}", -EINVAL, "pid 2147483648 is out of range");
	fails("{\"id\":\"c1\",\"pid\":9223372036854775807}", -EINVAL, "out of range");
	/* Beyond 64 bits jansson itself refuses the number. */
	fails("{\"id\":\"c1\",\"pid\":99999999999999999999}", -EINVAL, "not valid JSON");
	fails("{\"id\":\"c1\",\"pid\":31716.0}", -EINVAL, "\"pid\" is not an integer");
	fails("{\"id\":\"c1\",\"pid\":3.1716e4}", -EINVAL, "\"pid\" is not an integer");
	fails("{\"id\":\"c1\",\"pid\":1e3}", -EINVAL, "\"pid\" is not an integer");
	fails("{\"id\":\"c1\",\"pid\":\"31716\"}", -EINVAL, "\"pid\" is not an integer");
	fails("{\"id\":\"c1\",\"pid\":true}", -EINVAL, "\"pid\" is not an integer");
	fails("{\"id\":\"c1\",\"pid\":[1]}", -EINVAL, "\"pid\" is not an integer");
	fails("{\"id\":\"c1\",\"pid\":{}}", -EINVAL, "\"pid\" is not an integer");
}

/* --------------------------------------------------------------------- id */

static void test_id_refusals(void **state)
{
	char json[512], id[OCI_ID_MAX + 2];

	(void)state;
	fails("{\"pid\":1}", -EINVAL, "\"id\" is missing or not a string");
	fails("{\"id\":null,\"pid\":1}", -EINVAL, "\"id\" is missing or not a string");
	fails("{\"id\":42,\"pid\":1}", -EINVAL, "\"id\" is missing or not a string");
	fails("{\"id\":[\"c1\"],\"pid\":1}", -EINVAL, "\"id\" is missing or not a string");
	fails("{\"ID\":\"c1\",\"pid\":1}", -EINVAL, "\"id\" is missing");

	fails("{\"id\":\"\",\"pid\":1}", -EINVAL, "container id \"\" is not a valid id");
	fails("{\"id\":\"-rf\",\"pid\":1}", -EINVAL, "container id \"-rf\" is not a valid id");
	fails("{\"id\":\".hidden\",\"pid\":1}", -EINVAL, "\".hidden\" is not a valid id");
	fails("{\"id\":\"../../etc\",\"pid\":1}", -EINVAL, "\"../../etc\" is not a valid id");
	fails("{\"id\":\"a/b\",\"pid\":1}", -EINVAL, "\"a/b\" is not a valid id");
	fails("{\"id\":\"a b\",\"pid\":1}", -EINVAL, "\"a b\" is not a valid id");
	fails("{\"id\":\"w\\u00e9b\",\"pid\":1}", -EINVAL, "\"w\\xc3\\xa9b\" is not a valid id");
	/* Hostile bytes in the id are quoted, never copied into the message raw. */
	fails("{\"id\":\"a\\u001b[31mred\\n\\u0007\",\"pid\":1}", -EINVAL,
	      "\"a\\x1b[31mred\\n\\x07\" is not a valid id");
	fails("{\"id\":\"a\\u007f\\u0080\",\"pid\":1}", -EINVAL, "\"a\\x7f\\xc2\\x80\"");
	/* jansson refuses an escaped NUL, so ids are C strings. */
	fails("{\"id\":\"a\\u0000b\",\"pid\":1}", -EINVAL, "not valid JSON");

	memset(id, 'a', OCI_ID_MAX + 1);
	id[OCI_ID_MAX + 1] = '\0';
	snprintf(json, sizeof(json), "{\"id\":\"%s\",\"pid\":1}", id);
	fails(json, -EINVAL, "is not a valid id");
	/* The quoted id is cut, the message stays bounded. */
	fails(json, -EINVAL, "aaaa\"... is not a valid id");
}

/* ------------------------------------------------------------- annotations */

static void test_annotations(void **state)
{
	(void)state;
	fails("{\"id\":\"c1\",\"pid\":1,\"annotations\":[]}", -EINVAL,
	      "\"annotations\" is not an object");
	fails("{\"id\":\"c1\",\"pid\":1,\"annotations\":[\"terok.shield.profiles\",\"x\"]}",
	      -EINVAL, "\"annotations\" is not an object");
	fails("{\"id\":\"c1\",\"pid\":1,\"annotations\":\"terok.shield.profiles=x\"}", -EINVAL,
	      "\"annotations\" is not an object");
	fails("{\"id\":\"c1\",\"pid\":1,\"annotations\":7}", -EINVAL,
	      "\"annotations\" is not an object");
	fails("{\"id\":\"c1\",\"pid\":1,\"annotations\":false}", -EINVAL,
	      "\"annotations\" is not an object");

	/* Every value must be a string: shield's own keys and anyone else's. */
	fails("{\"id\":\"c1\",\"pid\":1,\"annotations\":{\"terok.shield.profiles\":1}}", -EINVAL,
	      "annotation \"terok.shield.profiles\" is not a string");
	fails("{\"id\":\"c1\",\"pid\":1,\"annotations\":{\"terok.shield.state_dir\":null}}",
	      -EINVAL, "annotation \"terok.shield.state_dir\" is not a string");
	fails("{\"id\":\"c1\",\"pid\":1,\"annotations\":{\"terok.shield.name\":[\"a\"]}}", -EINVAL,
	      "annotation \"terok.shield.name\" is not a string");
	fails("{\"id\":\"c1\",\"pid\":1,\"annotations\":{\"terok.shield.version\":{}}}", -EINVAL,
	      "annotation \"terok.shield.version\" is not a string");
	fails("{\"id\":\"c1\",\"pid\":1,\"annotations\":{\"terok.shield.profiles\":\"x\","
	      "\"io.podman.annotations.autoremove\":false}}",
	      -EINVAL, "annotation \"io.podman.annotations.autoremove\" is not a string");
	/* A hostile key is quoted. */
	fails("{\"id\":\"c1\",\"pid\":1,\"annotations\":{\"\\u001b]0;pwned\\u0007\":2}}", -EINVAL,
	      "annotation \"\\x1b]0;pwned\\x07\" is not a string");
}

/* ------------------------------------------------------------------ shapes */

static void test_not_json_objects(void **state)
{
	(void)state;
	fails_len("", 0, true, -EINVAL, "empty input");
	fails_len("", 0, false, -EINVAL, "empty input");
	fails("[]", -EINVAL, "not a JSON object");
	fails("[{\"id\":\"c1\",\"pid\":1}]", -EINVAL, "not a JSON object");
	/* jansson refuses a bare scalar as a document. */
	fails("42", -EINVAL, "not valid JSON");
	fails("\"c1\"", -EINVAL, "not valid JSON");
	fails("null", -EINVAL, "not valid JSON");
	fails("true", -EINVAL, "not valid JSON");
	fails(" \n\t ", -EINVAL, "not valid JSON");
	fails("{\"id\":\"c1\",\"pid\":1}{}", -EINVAL, "not valid JSON");
	fails("{\"id\":\"c1\",\"pid\":1,}", -EINVAL, "not valid JSON");
	fails("{'id':'c1','pid':1}", -EINVAL, "not valid JSON");
	fails("{id:\"c1\",pid:1}", -EINVAL, "not valid JSON");
	/* A NUL byte: trailing, or raw inside a string. */
	fails_len("{\"id\":\"c1\",\"pid\":1}\0", 20, true, -EINVAL, "not valid JSON");
	fails_len("{\"id\":\"c\0\",\"pid\":1}", 19, true, -EINVAL, "not valid JSON");
	/* Nesting deeper than jansson's limit is an error, not a stack overflow. */
	{
		size_t n = 100000;
		char *deep = malloc(n + 32);

		assert_non_null(deep);
		memcpy(deep, "{\"id\":\"c1\",\"x\":", 15);
		memset(deep + 15, '[', n);
		fails_len(deep, n + 15, true, -EINVAL, "not valid JSON");
		free(deep);
	}
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	fails("{\"id\":\"c1\",\"id\":\"c2\",\"pid\":1}", -EINVAL, "duplicate object key");
	fails("{\"id\":\"c1\",\"pid\":1,\"pid\":2}", -EINVAL, "duplicate object key");
	/* Two annotations of the same name would let one component see a different value. */
	fails("{\"id\":\"c1\",\"pid\":1,\"annotations\":{\"terok.shield.state_dir\":\"/srv/a\","
	      "\"terok.shield.state_dir\":\"/etc\"}}",
	      -EINVAL, "duplicate object key");
	fails("{\"id\":\"c1\",\"pid\":1,\"annotations\":{\"a\":\"1\"},\"annotations\":{}}", -EINVAL,
	      "duplicate object key");
}

/* Every cut of a real state is refused cleanly. */
static void test_truncated(void **state)
{
	size_t n = strlen(podman_state);

	(void)state;
	for (size_t len = 1; len < n; len++) {
		fails_len(podman_state, len, true, -EINVAL, "not valid JSON");
		fails_len(podman_state, len, false, -EINVAL, "not valid JSON");
	}
}

/* Raw bytes that are not UTF-8 or are control characters never reach the message. */
static void test_hostile_bytes(void **state)
{
	static const char *const inputs[] = {
		"{\"id\":\"\x1b[31m\",\"pid\":1}",
		"{\"id\":\"c1\",\"pid\":1,\"annotations\":{\"k\":\"\xff\xfe\"}}",
		"{\"id\":\"c1\x01\x02\",\"pid\":1}",
		"\x1b]0;title\x07",
		"{\"id\":\"c1\",\"pid\":\x1b[2J}",
		"{\"\xc3\x28\":1}",
		"\xef\xbb\xbf{\"id\":\"c1\",\"pid\":1}",
		"{\"id\":\"c1\",\"pid\":1\r\n\x7f}",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(inputs); i++) {
		struct oci_state s = {.pid = -7};
		struct shield_error err = {0};

		assert_int_equal(oci_state_parse(inputs[i], strlen(inputs[i]), true, &s, &err),
				 -EINVAL);
		assert_int_equal(err.code, -EINVAL);
		assert_msg_contains(&err, "OCI state: ");
		assert_msg_printable(&err);
		assert_empty(&s);
	}
}

/* A failure after the id (and status) were copied still leaves the struct empty. */
static void test_empty_after_late_failure(void **state)
{
	(void)state;
	fails("{\"id\":\"" PODMAN_ID "\",\"status\":\"creating\",\"pid\":-5}", -EINVAL,
	      "out of range");
	fails_one("{\"id\":\"" PODMAN_ID "\",\"status\":\"creating\"}", true, -EINVAL,
		  "no container pid");
	fails("{\"id\":\"" PODMAN_ID "\",\"status\":\"creating\",\"pid\":3,\"annotations\":"
	      "{\"terok.shield.state_dir\":\"/srv/x\",\"terok.shield.name\":\"n\","
	      "\"terok.shield.profiles\":\"p\",\"z\":0}}",
	      -EINVAL, "annotation \"z\" is not a string");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stage_parse),
		cmocka_unit_test(test_id_valid),
		cmocka_unit_test(test_podman_state),
		cmocka_unit_test(test_minimal_and_optional),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_pid),
		cmocka_unit_test(test_id_refusals),
		cmocka_unit_test(test_annotations),
		cmocka_unit_test(test_not_json_objects),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_hostile_bytes),
		cmocka_unit_test(test_empty_after_late_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
