/* SPDX-License-Identifier: Apache-2.0 */
#include "unit-helpers.h"

#include <arpa/inet.h>

#include <sys/socket.h>

#include "shield/addr.h"

static void expect_canon(const char *in, const char *want)
{
	char out[ADDR_TEXT_MAX];
	struct shield_error err = {0};

	if (addr_canonical(in, out, &err) != 0)
		fail_msg("\"%s\" refused: %s", in, err.msg);
	assert_string_equal(out, want);
	/* Canonical text is a fixed point. */
	assert_int_equal(addr_canonical(out, out, &err), 0);
	assert_string_equal(out, want);
}

static void expect_bad_len(const char *in, size_t len, const char *why)
{
	struct addr_prefix a;
	struct shield_error err = {0};

	assert_int_equal(addr_parse(in, len, &a, &err), -EINVAL);
	assert_int_equal(err.code, -EINVAL);
	assert_msg_contains(&err, why);
	assert_msg_printable(&err);
}

static void expect_bad(const char *in, const char *why)
{
	expect_bad_len(in, strlen(in), why);
}

static void test_ipv4(void **state)
{
	struct addr_prefix a;

	(void)state;
	expect_canon("198.18.0.1", "198.18.0.1");
	expect_canon("0.0.0.0", "0.0.0.0");
	expect_canon("255.255.255.255", "255.255.255.255");
	expect_canon("10.1.2.3/8", "10.0.0.0/8");
	expect_canon("10.0.0.1/32", "10.0.0.1");
	expect_canon("172.31.255.255/12", "172.16.0.0/12");
	expect_canon("192.168.1.77/24", "192.168.1.0/24");
	expect_canon("1.2.3.5/31", "1.2.3.4/31");
	expect_canon("1.2.3.5/30", "1.2.3.4/30");
	expect_canon("1.2.255.255/17", "1.2.128.0/17");
	expect_canon("9.9.9.9/0", "0.0.0.0/0");

	assert_int_equal(addr_parse("10.1.2.3/8", 10, &a, NULL), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.plen, 8);
	assert_int_equal(addr_len(&a), 4);
	assert_false(addr_is_host(&a));
	assert_int_equal(addr_parse("10.1.2.3", 8, &a, NULL), 0);
	assert_int_equal(a.plen, 32);
	assert_true(addr_is_host(&a));
	assert_memory_equal(a.addr, "\x0a\x01\x02\x03", 4);
}

static void test_ipv6(void **state)
{
	struct addr_prefix a;

	(void)state;
	expect_canon("2001:0db8::1", "2001:db8::1");
	expect_canon("2001:DB8::1/128", "2001:db8::1");
	expect_canon("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1");
	expect_canon("2001:db8:0000:0000:0000:0000:0000:0001", "2001:db8::1");
	expect_canon("fc00::1/7", "fc00::/7");
	expect_canon("fdff:1::/7", "fc00::/7");
	expect_canon("fe80::1234/10", "fe80::/10");
	expect_canon("::", "::");
	expect_canon("::1", "::1");
	expect_canon("::/0", "::/0");
	expect_canon("2001:db8:ffff::/33", "2001:db8:8000::/33");
	expect_canon("::ffff:1.2.3.4", "::ffff:1.2.3.4");

	assert_int_equal(addr_parse("fc00::/7", 8, &a, NULL), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(a.plen, 7);
	assert_int_equal(addr_len(&a), 16);
}

static void test_malformed(void **state)
{
	(void)state;
	expect_bad("", "empty");
	expect_bad("/", "address missing");
	expect_bad("/8", "address missing");
	expect_bad("010.0.0.1", "invalid address \"010.0.0.1\": leading zero");
	expect_bad("1.2.3.04", "leading zero");
	expect_bad("00.1.2.3", "leading zero");
	expect_bad("256.0.0.1", "out of range");
	expect_bad("1.2.3.1000", "out of range");
	expect_bad("1.2.3", "four dot-separated numbers");
	expect_bad("1.2.3.4.5", "four dot-separated numbers");
	expect_bad("1..2.3", "four dot-separated numbers");
	expect_bad("1.2.3.", "four dot-separated numbers");
	expect_bad(".1.2.3", "four dot-separated numbers");
	expect_bad("1.2.3.4a", "four dot-separated numbers");
	expect_bad("1.2.3.4x", "character 'x' not allowed");
	expect_bad("1.2.3.4/33", "prefix length longer than /32");
	expect_bad("1.2.3.4/100", "prefix length longer than /32");
	expect_bad("1.2.3.4/1234", "prefix length longer than /32");
	expect_bad("2001:db8::/129", "prefix length longer than /128");
	expect_bad("1.2.3.4/", "prefix length missing");
	expect_bad("1.2.3.4/08", "leading zero in prefix length");
	expect_bad("1.2.3.4/8/8", "prefix length is not a number");
	expect_bad("1.2.3.4/a", "prefix length is not a number");
	expect_bad("1.2.3.4/-1", "character '-' not allowed");
	expect_bad("1.2.3.4 ", "character ' ' not allowed");
	expect_bad(" 1.2.3.4", "character ' ' not allowed");
	expect_bad("1.2.3.4\n", "character '\\n' not allowed");
	expect_bad("1.2.3.4\t/8", "character '\\t' not allowed");
	expect_bad_len("1.2.3.4\0junk", 12, "character '\\0' not allowed");
	expect_bad("2001:db8::g", "character 'g' not allowed");
	expect_bad("2001:db8:::1", "not an IPv6 address");
	expect_bad("1:2:3:4:5:6:7:8:9", "not an IPv6 address");
	expect_bad("12345::", "not an IPv6 address");
	expect_bad("fe80::1%eth0", "character '%' not allowed");
	expect_bad("[::1]", "character '['");
	expect_bad("example.com", "character 'x' not allowed");
	expect_bad("0x0a.0.0.1", "character 'x' not allowed");
	expect_bad("1111111111111111111111111111111111111111111111111111111111111111111",
		   "too long");
}

static void test_host_only(void **state)
{
	struct addr_prefix a;
	struct shield_error err = {0};

	(void)state;
	assert_int_equal(addr_parse_host("10.0.0.1", 8, &a, &err), 0);
	assert_int_equal(addr_parse_host("2001:db8::53", 12, &a, &err), 0);
	assert_int_equal(addr_parse_host("10.0.0.0/8", 10, &a, &err), -EINVAL);
	assert_msg_contains(&err, "without /prefix");
	assert_int_equal(addr_parse_host("10.0.0.1/32", 11, &a, &err), -EINVAL);
}

static struct addr_prefix P(const char *s) {
	struct addr_prefix a;
	struct shield_error err = {0};

	if (addr_parse(s, strlen(s), &a, &err) != 0)
		fail_msg("%s", err.msg);
	return a;
}

static void
test_range(void **state)
{
	uint8_t first[16], last[16];
	struct addr_prefix a;

	(void)state;
	a = P("10.0.0.0/8");
	addr_range(&a, first, last);
	assert_memory_equal(first, "\x0a\x00\x00\x00", 4);
	assert_memory_equal(last, "\x0a\xff\xff\xff", 4);

	a = P("1.2.3.4/31");
	addr_range(&a, first, last);
	assert_memory_equal(first, "\x01\x02\x03\x04", 4);
	assert_memory_equal(last, "\x01\x02\x03\x05", 4);

	a = P("198.18.0.1");
	addr_range(&a, first, last);
	assert_memory_equal(first, last, 4);

	a = P("0.0.0.0/0");
	addr_range(&a, first, last);
	assert_memory_equal(first, "\x00\x00\x00\x00", 4);
	assert_memory_equal(last, "\xff\xff\xff\xff", 4);

	a = P("fc00::/7");
	addr_range(&a, first, last);
	assert_memory_equal(first,
			    "\xfc\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 16);
	assert_memory_equal(last,
			    "\xfd\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 16);
}

static void test_contains_equal(void **state)
{
	struct addr_prefix a, b;

	(void)state;
	a = P("10.0.0.0/8");
	b = P("10.1.2.3");
	assert_true(addr_contains(&a, &b));
	assert_false(addr_contains(&b, &a));
	b = P("11.0.0.1");
	assert_false(addr_contains(&a, &b));
	b = P("10.128.0.0/9");
	assert_true(addr_contains(&a, &b));
	assert_false(addr_contains(&b, &a));
	assert_true(addr_contains(&a, &a));
	b = P("::a00:1");
	assert_false(addr_contains(&a, &b));
	a = P("::/0");
	assert_true(addr_contains(&a, &b));
	b = P("1.2.3.4");
	assert_false(addr_contains(&a, &b));

	a = P("10.1.2.3/8");
	b = P("10.0.0.0/8");
	assert_true(addr_equal(&a, &b));
	b = P("10.0.0.0/9");
	assert_false(addr_equal(&a, &b));
	a = P("2001:db8::1");
	b = P("2001:0db8:0::0001");
	assert_true(addr_equal(&a, &b));
}

/* IPv4 text is written by hand: as inet_ntop (and "/LEN" for a prefix) writes it. */
static void test_format_v4_as_ntop(void **state)
{
	uint32_t x = 1;

	(void)state;
	for (int i = 0; i < 200000; i++) {
		struct addr_prefix a = {.family = AF_INET};
		char got[ADDR_TEXT_MAX], want[ADDR_TEXT_MAX], text[INET_ADDRSTRLEN];

		x = x * 1103515245u + 12345u;
		/* every octet width: 0, 1-9, 10-99, 100-255 */
		for (int k = 0; k < 4; k++)
			a.addr[k] =
				(uint8_t)((x >> (8 * k)) % 4 == 0 ? 0 : (x >> (4 + 7 * k)) % 256);
		a.plen = i % 3 ? 32 : (uint8_t)(x % 33);
		assert_non_null(inet_ntop(AF_INET, a.addr, text, sizeof(text)));
		if (a.plen == 32)
			snprintf(want, sizeof(want), "%s", text);
		else
			snprintf(want, sizeof(want), "%s/%u", text, (unsigned)a.plen);
		addr_format(&a, got);
		assert_string_equal(got, want);
	}
}

static void test_format_unset(void **state)
{
	struct addr_prefix a = {0};
	char out[ADDR_TEXT_MAX] = "junk";

	(void)state;
	addr_format(&a, out);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4),	     cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_malformed),    cmocka_unit_test(test_host_only),
		cmocka_unit_test(test_range),	     cmocka_unit_test(test_contains_equal),
		cmocka_unit_test(test_format_unset), cmocka_unit_test(test_format_v4_as_ntop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
