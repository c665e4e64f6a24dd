/* SPDX-License-Identifier: Apache-2.0 */
#include "unit-helpers.h"

#include "shield/params.h"

static void test_mode_names(void **state)
{
	(void)state;
	assert_string_equal(shield_mode_name(SHIELD_MODE_UP), "up");
	assert_string_equal(shield_mode_name(SHIELD_MODE_DOWN), "down");
	assert_string_equal(shield_mode_name(SHIELD_MODE_DOWN_ALL), "down_all");
	assert_string_equal(shield_mode_name(SHIELD_MODE_BLOCK), "block");
	assert_string_equal(shield_mode_name(SHIELD_MODE_INACTIVE), "inactive");
	assert_string_equal(shield_mode_name(SHIELD_MODE_ERROR), "error");
}

static void test_mode_parse(void **state)
{
	struct shield_error err = {0};
	enum shield_mode m = SHIELD_MODE_ERROR;

	(void)state;
	assert_int_equal(shield_mode_parse("up", &m, &err), 0);
	assert_int_equal(m, SHIELD_MODE_UP);
	assert_int_equal(shield_mode_parse("down", &m, &err), 0);
	assert_int_equal(m, SHIELD_MODE_DOWN);
	assert_int_equal(shield_mode_parse("down-all", &m, &err), 0);
	assert_int_equal(m, SHIELD_MODE_DOWN_ALL);
	m = SHIELD_MODE_UP;
	assert_int_equal(shield_mode_parse("down_all", &m, &err), 0);
	assert_int_equal(m, SHIELD_MODE_DOWN_ALL);
	assert_int_equal(shield_mode_parse("block", &m, &err), 0);
	assert_int_equal(m, SHIELD_MODE_BLOCK);

	/* Detected-only states and anything else are refused, m untouched. */
	assert_int_equal(shield_mode_parse("inactive", &m, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "unknown mode \"inactive\" (valid: up, down, down-all, block)");
	assert_int_equal(shield_mode_parse("error", &m, &err), -EINVAL);
	assert_int_equal(shield_mode_parse("UP", &m, &err), -EINVAL);
	assert_int_equal(shield_mode_parse("up ", &m, &err), -EINVAL);
	assert_int_equal(shield_mode_parse("", &m, &err), -EINVAL);
	assert_int_equal(shield_mode_parse(NULL, &m, &err), -EINVAL);
	assert_int_equal(shield_mode_parse("bl\nock", &m, &err), -EINVAL);
	assert_string_equal(err.msg,
			    "unknown mode \"bl\\nock\" (valid: up, down, down-all, block)");
	assert_int_equal(m, SHIELD_MODE_BLOCK);
}

static void test_dns_policy(void **state)
{
	struct shield_error err = {0};
	enum dns_policy p = DNS_POLICY_OPEN;

	(void)state;
	assert_string_equal(dns_policy_name(DNS_POLICY_STRICT), "strict");
	assert_string_equal(dns_policy_name(DNS_POLICY_OPEN), "open");
	assert_int_equal(dns_policy_parse("strict", &p, &err), 0);
	assert_int_equal(p, DNS_POLICY_STRICT);
	assert_int_equal(dns_policy_parse("open", &p, &err), 0);
	assert_int_equal(p, DNS_POLICY_OPEN);
	assert_int_equal(dns_policy_parse("closed", &p, &err), -EINVAL);
	assert_string_equal(err.msg, "unknown DNS policy \"closed\" (valid: strict, open)");
	assert_int_equal(dns_policy_parse(NULL, &p, &err), -EINVAL);
}

static void expect_ports(const char *s, const uint16_t *want, size_t n)
{
	struct port_list l;
	struct shield_error err = {0};

	if (port_list_parse(s, &l, &err) != 0)
		fail_msg("\"%s\" refused: %s", s, err.msg);
	assert_int_equal(l.n, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(l.ports[i], want[i]);
}

static void expect_bad_ports(const char *s, int code, const char *why)
{
	struct port_list l = {.ports = {7}, .n = 1};
	struct shield_error err = {0};

	assert_int_equal(port_list_parse(s, &l, &err), code);
	assert_msg_contains(&err, why);
	/* Untouched on failure. */
	assert_int_equal(l.n, 1);
	assert_int_equal(l.ports[0], 7);
}

static void test_ports(void **state)
{
	char many[1024];
	size_t o = 0;

	(void)state;
	expect_ports("80:443", (const uint16_t[]){80, 443}, 2);
	expect_ports("80,443", (const uint16_t[]){80, 443}, 2);
	expect_ports("443:80,443:80", (const uint16_t[]){443, 80}, 2);
	expect_ports("1", (const uint16_t[]){1}, 1);
	expect_ports("65535", (const uint16_t[]){65535}, 1);
	expect_ports("", NULL, 0);
	expect_ports(NULL, NULL, 0);

	expect_bad_ports("0", -EINVAL, "invalid port \"0\"");
	expect_bad_ports("80:0", -EINVAL, "invalid port \"0\"");
	expect_bad_ports("65536", -EINVAL, "invalid port \"65536\"");
	expect_bad_ports("80:65536:443", -EINVAL, "invalid port \"65536\"");
	expect_bad_ports("655350", -EINVAL, "invalid port \"655350\"");
	expect_bad_ports("99999999999999999999", -EINVAL, "invalid port");
	expect_bad_ports("http", -EINVAL, "invalid port \"http\"");
	expect_bad_ports("80:abc", -EINVAL, "invalid port \"abc\"");
	expect_bad_ports("-1", -EINVAL, "invalid port \"-1\"");
	expect_bad_ports("+80", -EINVAL, "invalid port \"+80\"");
	expect_bad_ports("080", -EINVAL, "invalid port \"080\"");
	expect_bad_ports("80 ", -EINVAL, "invalid port \"80 \"");
	expect_bad_ports("80-90", -EINVAL, "invalid port \"80-90\"");
	expect_bad_ports("80:", -EINVAL, "empty port");
	expect_bad_ports(":80", -EINVAL, "empty port");
	expect_bad_ports("80::443", -EINVAL, "empty port");
	expect_bad_ports(",", -EINVAL, "empty port");

	/* SHIELD_PORTS_MAX distinct ports fit, one more does not. */
	for (int i = 1; i <= SHIELD_PORTS_MAX; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "%s%d", i > 1 ? ":" : "",
				      1000 + i);
	{
		struct port_list l;

		assert_int_equal(port_list_parse(many, &l, NULL), 0);
		assert_int_equal(l.n, SHIELD_PORTS_MAX);
		/* Duplicates do not count against the limit. */
		snprintf(many + o, sizeof(many) - o, ":1001:1002");
		assert_int_equal(port_list_parse(many, &l, NULL), 0);
		assert_int_equal(l.n, SHIELD_PORTS_MAX);
		snprintf(many + o, sizeof(many) - o, ":2000");
	}
	expect_bad_ports(many, -E2BIG, "more than 64 ports");
}

static void test_ports_format(void **state)
{
	struct port_list l = {.ports = {80, 443, 8080}, .n = 3};
	char out[32], small[8];

	(void)state;
	port_list_format(&l, out, sizeof(out));
	assert_string_equal(out, "80:443:8080");
	/* A short buffer holds only whole ports. */
	port_list_format(&l, small, sizeof(small));
	assert_string_equal(small, "80:443");
	l.n = 0;
	port_list_format(&l, out, sizeof(out));
	assert_string_equal(out, "");
}

static void expect_duration(const char *s, uint32_t want)
{
	struct shield_error err = {0};
	uint32_t v = 0;

	if (duration_parse(s, &v, &err) != 0)
		fail_msg("\"%s\" refused: %s", s, err.msg);
	assert_int_equal(v, want);
}

static void expect_bad_duration(const char *s, const char *why)
{
	struct shield_error err = {0};
	uint32_t v = 42;

	assert_true(duration_parse(s, &v, &err) < 0);
	assert_msg_contains(&err, why);
	assert_int_equal(v, 42);
}

static void test_duration_parse(void **state)
{
	(void)state;
	expect_duration("90", 90);
	expect_duration("90s", 90);
	expect_duration("30m", 1800);
	expect_duration("2h", 7200);
	expect_duration("1d", 86400);
	expect_duration("1h30m", 5400);
	expect_duration("1m30s", 90);
	expect_duration("1d1h1m1s", 90061);
	expect_duration("120m", 7200);
	expect_duration("7d", 604800);
	expect_duration("1s", 1);
	expect_duration("604800", 604800);

	expect_bad_duration("", "empty");
	expect_bad_duration(NULL, "empty");
	expect_bad_duration("0", "at least 1s");
	expect_bad_duration("0s", "at least 1s");
	expect_bad_duration("7d1s", "longer than 7d");
	expect_bad_duration("8d", "longer than 7d");
	expect_bad_duration("604801", "longer than 7d");
	expect_bad_duration("99999999999999999999", "longer than 7d");
	expect_bad_duration("1x", "unknown unit");
	expect_bad_duration("30M", "unknown unit");
	expect_bad_duration("m", "expected a number");
	expect_bad_duration("30m1h", "largest first");
	expect_bad_duration("1h1h", "largest first");
	expect_bad_duration("1h30", "without a unit");
	expect_bad_duration("-5", "expected a number");
	expect_bad_duration("1.5h", "unknown unit");
	expect_bad_duration(" 30m", "expected a number");
	expect_bad_duration("30m ", "expected a number");
	expect_bad_duration("30ms", "expected a number");
}

static void expect_format(uint32_t secs, const char *want)
{
	char out[32];

	duration_format(secs, out, sizeof(out));
	assert_string_equal(out, want);
}

static void test_duration_format(void **state)
{
	char out[32];

	(void)state;
	/* As `nft list` prints set timeouts (checked against nft 1.0.6). */
	expect_format(1800, "30m");
	expect_format(5400, "1h30m");
	expect_format(90, "1m30s");
	expect_format(86400, "1d");
	expect_format(45, "45s");
	expect_format(3601, "1h1s");
	expect_format(90061, "1d1h1m1s");
	expect_format(604800, "7d");
	expect_format(0, "0s");

	/* Every valid duration survives format -> parse. */
	for (uint32_t s = 1; s <= 7 * 86400; s++) {
		uint32_t back = 0;

		duration_format(s, out, sizeof(out));
		if (duration_parse(out, &back, NULL) != 0 || back != s)
			fail_msg("%u formats as \"%s\", parses as %u", s, out, back);
	}

	/* Tiny buffers are safe. */
	duration_format(90061, out, 3);
	assert_string_equal(out, "1d");
	duration_format(90061, out, 1);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode_names),	cmocka_unit_test(test_mode_parse),
		cmocka_unit_test(test_dns_policy),	cmocka_unit_test(test_ports),
		cmocka_unit_test(test_ports_format),	cmocka_unit_test(test_duration_parse),
		cmocka_unit_test(test_duration_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
