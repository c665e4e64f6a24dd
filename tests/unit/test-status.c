/* SPDX-License-Identifier: Apache-2.0 */
/* status: the word `shield status NAME` prints, and when the last start failed. */
#include "unit-helpers.h"

#include <stdint.h>

#include "shield/audit-log.h"
#include "shield/status.h"

/* A running, registered, healthy container in mode m. */
static struct status_facts healthy(enum shield_mode m)
{
	return (struct status_facts){
		.running = true,
		.needs_registry = true,
		.registered = true,
		.bundle_ok = true,
		.bundle_mode = m,
		.dnsmasq_alive = true,
		.table_checked = true,
		.table_verified = true,
	};
}

static void test_modes(void **state)
{
	static const enum shield_mode modes[] = {SHIELD_MODE_UP, SHIELD_MODE_DOWN,
						 SHIELD_MODE_DOWN_ALL, SHIELD_MODE_BLOCK};
	const char *why = "unset";

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
		struct status_facts f = healthy(modes[i]);

		assert_int_equal(status_word(&f, &why), modes[i]);
		assert_null(why);
	}
	/* The words scripts read. */
	assert_string_equal(shield_mode_name(SHIELD_MODE_DOWN_ALL), "down_all");
	assert_string_equal(shield_mode_name(SHIELD_MODE_INACTIVE), "inactive");
	assert_string_equal(shield_mode_name(SHIELD_MODE_ERROR), "error");
}

static void test_inactive(void **state)
{
	struct status_facts f = healthy(SHIELD_MODE_UP);
	const char *why;

	(void)state;
	/* Stopped: nothing else matters, not even a stale entry or a dead dnsmasq. */
	f.running = false;
	f.dnsmasq_alive = false;
	f.table_checked = false;
	assert_int_equal(status_word(&f, &why), SHIELD_MODE_INACTIVE);
	assert_string_equal(why, "not running");
	/* An attached namespace that was detached (no entry needed, none there). */
	f = healthy(SHIELD_MODE_DOWN);
	f.needs_registry = false;
	f.registered = false;
	assert_int_equal(status_word(&f, &why), SHIELD_MODE_INACTIVE);
	assert_string_equal(why, "not attached");
	/* NULL why is fine. */
	assert_int_equal(status_word(&f, NULL), SHIELD_MODE_INACTIVE);
}

static void test_errors(void **state)
{
	struct status_facts f;
	const char *why;

	(void)state;
	/* The last start failed: the container does not run, and says why. */
	f = healthy(SHIELD_MODE_UP);
	f.running = false;
	f.last_start_failed = true;
	assert_int_equal(status_word(&f, &why), SHIELD_MODE_ERROR);
	assert_string_equal(why, "the last start failed");

	/* podman runs it, but the hook never registered it. */
	f = healthy(SHIELD_MODE_UP);
	f.registered = false;
	assert_int_equal(status_word(&f, &why), SHIELD_MODE_ERROR);
	assert_non_null(strstr(why, "registry"));

	f = healthy(SHIELD_MODE_UP);
	f.bundle_ok = false;
	assert_int_equal(status_word(&f, &why), SHIELD_MODE_ERROR);
	assert_non_null(strstr(why, "bundle"));

	/* dnsmasq dead: an error in every mode, block included (it runs there too). */
	f = healthy(SHIELD_MODE_BLOCK);
	f.dnsmasq_alive = false;
	assert_int_equal(status_word(&f, &why), SHIELD_MODE_ERROR);
	assert_string_equal(why, "its dnsmasq is not running");

	/* The kernel's table is not the bundle's mode (tampered, or another mode applied). */
	f = healthy(SHIELD_MODE_UP);
	f.table_verified = false;
	assert_int_equal(status_word(&f, &why), SHIELD_MODE_ERROR);
	assert_non_null(strstr(why, "table"));

	/* A table that could not be looked at is not judged. */
	f = healthy(SHIELD_MODE_DOWN);
	f.table_checked = false;
	f.table_verified = false;
	assert_int_equal(status_word(&f, &why), SHIELD_MODE_DOWN);

	/* An old failure does not matter once it runs and is registered. */
	f = healthy(SHIELD_MODE_UP);
	f.last_start_failed = true;
	assert_int_equal(status_word(&f, &why), SHIELD_MODE_UP);
}

static int64_t ts(const char *s)
{
	int64_t v;

	assert_int_equal(audit_ts_parse(s, strlen(s), &v), 0);
	return v;
}

static void test_last_start_failed(void **state)
{
	const char *log = "2026-01-01T00:00:01.000+00:00 createRuntime: dnsmasq exited\n"
			  "2026-01-01T00:00:05.000+00:00 poststop: registry: gone\n"
			  "garbage line\n"
			  "2026-01-01T00:00:03.000+00:00 attach: netns: No such file\n";
	char msg[64] = "";

	(void)state;
	/* No setup at all: the last start failure counts. */
	assert_true(status_last_start_failed(log, strlen(log), INT64_MIN, msg, sizeof(msg)));
	assert_string_equal(msg, "netns: No such file");
	/* A setup after the last start failure: it started since. poststop errors do not count. */
	assert_false(status_last_start_failed(log, strlen(log), ts("2026-01-01T00:00:04Z"), msg,
					      sizeof(msg)));
	/* A setup between the two failures: the later one counts. */
	assert_true(status_last_start_failed(log, strlen(log), ts("2026-01-01T00:00:02Z"), msg,
					     sizeof(msg)));
	assert_string_equal(msg, "netns: No such file");
	/* The last start line is what decides, even if an earlier one is newer than setup. */
	{
		const char *two = "2026-01-01T00:00:09Z createRuntime: first\n"
				  "2026-01-01T00:00:02Z createRuntime: second\n";

		assert_false(status_last_start_failed(two, strlen(two), ts("2026-01-01T00:00:05Z"),
						      msg, sizeof(msg)));
	}
	/* Nothing of that shape, or empty. */
	assert_false(status_last_start_failed("", 0, INT64_MIN, msg, sizeof(msg)));
	assert_false(status_last_start_failed("x y: z\n", 7, INT64_MIN, msg, sizeof(msg)));
	/* The message is cut to fit, control bytes made spaces; no trailing newline needed. */
	{
		const char *lng =
			"2026-01-01T00:00:01Z createRuntime: a\tb "
			"0123456789012345678901234567890123456789012345678901234567890123";

		assert_true(status_last_start_failed(lng, strlen(lng), INT64_MIN, msg, 8));
		assert_string_equal(msg, "a b 012");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_inactive),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_last_start_failed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
