/* SPDX-License-Identifier: Apache-2.0 */
/* podman-inspect: what `podman inspect --type container --format json NAME` says. */
#include "unit-helpers.h"

#include <errno.h>

#include "shield/podman-inspect.h"

#define ID "3f0c2a4bd1e6a07d7e1c1d5c9e3b0f1a2b3c4d5e6f708192a3b4c5d6e7f80912"

/* The shape podman 4.3 prints (fields shield does not read cut down). */
static const char running[] =
	"[\n {\n  \"Id\": \"" ID "\",\n  \"Created\": \"2026-11-25T22:00:00.0Z\",\n"
	"  \"Path\": \"sleep\",\n  \"Args\": [\"sleep\", \"600\"],\n"
	"  \"State\": {\n   \"OciVersion\": \"1.0.2-dev\",\n   \"Status\": \"running\",\n"
	"   \"Running\": true,\n   \"Paused\": false,\n   \"Restarting\": false,\n"
	"   \"OOMKilled\": false,\n   \"Dead\": false,\n   \"Pid\": 4242,\n   \"ConmonPid\": "
	"4240,\n"
	"   \"ExitCode\": 0,\n   \"Error\": \"\"\n  },\n  \"Name\": \"web\",\n"
	"  \"Config\": {\n   \"Hostname\": \"3f0c2a4bd1e6\",\n   \"Env\": [\"PATH=/bin\"],\n"
	"   \"Annotations\": {\n    \"io.container.manager\": \"libpod\",\n"
	"    \"terok.shield.profiles\": \"dev-standard:base\",\n"
	"    \"terok.shield.state_dir\": \"/var/lib/shield/containers/web\",\n"
	"    \"terok.shield.name\": \"web\",\n    \"terok.shield.version\": \"1\"\n   }\n  }\n"
	" }\n]\n";

static void parses(const char *json, struct podman_container *c)
{
	struct shield_error err = {0};

	if (podman_inspect_parse(json, strlen(json), c, &err) != 0)
		fail_msg("refused: %s", err.msg);
}

static void refused(const char *json, int code, const char *needle)
{
	struct podman_container c;
	struct shield_error err = {0};

	assert_int_equal(podman_inspect_parse(json, strlen(json), &c, &err), code);
	assert_msg_contains(&err, needle);
	assert_msg_printable(&err);
	assert_null(c.state_dir);
	assert_null(c.profiles);
	assert_string_equal(c.id, "");
}

static void test_running(void **state)
{
	struct podman_container c;

	(void)state;
	parses(running, &c);
	assert_string_equal(c.id, ID);
	assert_string_equal(c.name, "web");
	assert_true(c.running);
	assert_int_equal(c.pid, 4242);
	assert_true(c.shielded);
	assert_string_equal(c.state_dir, "/var/lib/shield/containers/web");
	assert_string_equal(c.profiles, "dev-standard:base");
	podman_container_free(&c);
	assert_null(c.state_dir);
}

static void test_stopped_and_plain(void **state)
{
	struct podman_container c;

	(void)state;
	/* Stopped: podman keeps the last Pid at 0. */
	parses("[{\"Id\":\"abc\",\"Name\":\"db\",\"State\":{\"Running\":false,\"Pid\":0},"
	       "\"Config\":{\"Annotations\":{\"terok.shield.profiles\":\"base\"}}}]",
	       &c);
	assert_false(c.running);
	assert_int_equal(c.pid, 0);
	assert_true(c.shielded);
	assert_null(c.state_dir);
	assert_string_equal(c.profiles, "base");
	podman_container_free(&c);

	/* A stale Pid of a stopped container is not kept. */
	parses("[{\"Id\":\"abc\",\"State\":{\"Running\":false,\"Pid\":77}}]", &c);
	assert_int_equal(c.pid, 0);
	podman_container_free(&c);

	/* No shield annotations at all (other annotations do not count). */
	parses("[{\"Id\":\"abc\",\"Name\":\"plain\",\"State\":{\"Running\":true,\"Pid\":9},"
	       "\"Config\":{\"Annotations\":{\"io.container.manager\":\"libpod\"}}}]",
	       &c);
	assert_false(c.shielded);
	assert_true(c.running);
	podman_container_free(&c);

	/* Null Config/Annotations, no Name. */
	parses("[{\"Id\":\"abc\",\"Config\":null}]", &c);
	assert_false(c.shielded);
	assert_string_equal(c.name, "");
	podman_container_free(&c);
	parses("[{\"Id\":\"abc\",\"Config\":{\"Annotations\":null}}]", &c);
	podman_container_free(&c);
}

static void test_refused(void **state)
{
	(void)state;
	refused("[]", -ENOENT, "no such container");
	refused("[]\n", -ENOENT, "no such container");
	refused("", -EINVAL, "not valid JSON");
	refused("{\"Id\":\"abc\"}", -EINVAL, "not a JSON array");
	refused("[1]", -EINVAL, "not an array of objects");
	refused("[{\"Id\":\"a\"},{\"Id\":\"b\"}]", -EINVAL, "more than one container");
	refused("[{}]", -EINVAL, "\"Id\" is missing");
	refused("[{\"Id\":\"../x\"}]", -EINVAL, "not a valid id");
	refused("[{\"Id\":\"abc\",\"Name\":5}]", -EINVAL, "\"Name\" is not a string");
	refused("[{\"Id\":\"abc\",\"State\":[]}]", -EINVAL, "\"State\" is not an object");
	refused("[{\"Id\":\"abc\",\"State\":{\"Running\":\"yes\"}}]", -EINVAL, "State.Running");
	refused("[{\"Id\":\"abc\",\"State\":{\"Pid\":\"1\"}}]", -EINVAL, "State.Pid");
	refused("[{\"Id\":\"abc\",\"State\":{\"Pid\":-1}}]", -EINVAL, "out of range");
	refused("[{\"Id\":\"abc\",\"State\":{\"Pid\":4294967296}}]", -EINVAL, "out of range");
	refused("[{\"Id\":\"abc\",\"State\":{\"Running\":true,\"Pid\":0}}]", -EINVAL,
		"no State.Pid");
	refused("[{\"Id\":\"abc\",\"Config\":{\"Annotations\":[]}}]", -EINVAL,
		"Annotations\" is not an object");
	refused("[{\"Id\":\"abc\",\"Config\":{\"Annotations\":{\"terok.shield.state_dir\":1}}}]",
		-EINVAL, "terok.shield.state_dir");
	refused("[{\"Id\":\"abc\",\"Id\":\"def\"}]", -EINVAL, "not valid JSON");
}

static void test_size_cap(void **state)
{
	size_t len = PODMAN_INSPECT_MAX + 1;
	char *big = malloc(len);
	struct podman_container c;
	struct shield_error err = {0};

	(void)state;
	assert_non_null(big);
	memset(big, ' ', len);
	assert_int_equal(podman_inspect_parse(big, len, &c, &err), -E2BIG);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_running),
		cmocka_unit_test(test_stopped_and_plain),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_size_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
