/* SPDX-License-Identifier: Apache-2.0 */
#include "unit-helpers.h"

#include "shield/domain.h"

static void expect_ok(const char *in, const char *want)
{
	char out[DOMAIN_BUF_SIZE];
	struct shield_error err = {0};
	int r = domain_normalize(in, strlen(in), out, &err);

	if (r != 0)
		fail_msg("\"%s\" refused: %s", in, err.msg);
	assert_string_equal(out, want);
}

/* Refused with -EINVAL and a message containing why. */
static void expect_bad_len(const char *in, size_t len, const char *why)
{
	char out[DOMAIN_BUF_SIZE];
	struct shield_error err = {0};

	assert_int_equal(domain_normalize(in, len, out, &err), -EINVAL);
	assert_int_equal(err.code, -EINVAL);
	assert_msg_contains(&err, why);
	assert_msg_printable(&err);
}

static void expect_bad(const char *in, const char *why)
{
	expect_bad_len(in, strlen(in), why);
}

static void test_valid(void **state)
{
	(void)state;
	expect_ok("example.com", "example.com");
	expect_ok("a.b", "a.b");
	expect_ok("Example.COM", "example.com");
	expect_ok("example.com.", "example.com");
	expect_ok("*.example.com", "example.com");
	expect_ok("*.Example.Com.", "example.com");
	expect_ok("a-b.c-d.org", "a-b.c-d.org");
	expect_ok("a--b.org", "a--b.org");
	expect_ok("xn--bcher-kva.example", "xn--bcher-kva.example");
	expect_ok("1password.com", "1password.com");
	expect_ok("123.example.com", "123.example.com");
	expect_ok("a.b.c.d.e.f.g", "a.b.c.d.e.f.g");
	expect_ok("example.c0m", "example.c0m");
}

static void test_len_bounds_input(void **state)
{
	char out[DOMAIN_BUF_SIZE];
	struct shield_error err = {0};

	(void)state;
	/* Only len bytes count: the rest of the buffer is never looked at. */
	assert_int_equal(domain_normalize("example.com/evil", 11, out, &err), 0);
	assert_string_equal(out, "example.com");
	assert_int_equal(domain_normalize("example.com", 0, out, &err), -EINVAL);
	assert_msg_contains(&err, "empty");
	/* A NULL error struct is fine. */
	assert_int_equal(domain_normalize("a/b.com", 7, out, NULL), -EINVAL);
}

static void test_forbidden_characters(void **state)
{
	struct shield_error err = {0};
	char out[DOMAIN_BUF_SIZE];

	(void)state;
	assert_int_equal(domain_normalize("a/b.com", 7, out, &err), -EINVAL);
	assert_string_equal(err.msg, "invalid domain \"a/b.com\": character '/' not allowed");
	expect_bad("a#b.com", "character '#' not allowed");
	expect_bad("a,b.com", "character ',' not allowed");
	expect_bad("a b.com", "character ' ' not allowed");
	expect_bad("a\tb.com", "invalid domain \"a\\tb.com\": character '\\t' not allowed");
	expect_bad("a\nb.com", "character '\\n' not allowed");
	expect_bad("example.com\n", "character '\\n' not allowed");
	expect_bad("example.com\r", "character '\\r' not allowed");
	expect_bad(" example.com", "character ' ' not allowed");
	expect_bad_len("a\0b.com", 7, "invalid domain \"a\\0b.com\": character '\\0' not allowed");
	expect_bad_len("example.com\0", 12, "character '\\0' not allowed");
	expect_bad("a\x01.com", "character '\\x01' not allowed");
	expect_bad("a\x7f.com", "character '\\x7f' not allowed");
	expect_bad("b\xc3\xbc"
		   "cher.de",
		   "invalid domain \"b\\xc3\\xbccher.de\": character '\\xc3'");
	expect_bad("_dmarc.example.com", "character '_' not allowed");
	expect_bad("a\"b.com", "invalid domain \"a\\\"b.com\": character '\"' not allowed");
	expect_bad("a\\b.com", "invalid domain \"a\\\\b.com\": character '\\\\' not allowed");
	expect_bad("a:b.com", "character ':' not allowed");
	expect_bad("a=b.com", "character '=' not allowed");
	expect_bad("a;b.com", "character ';' not allowed");
	expect_bad("a@b.com", "character '@' not allowed");
}

static void test_structure(void **state)
{
	char label64[65], name254[300], name253[256];

	(void)state;
	expect_bad("", "empty");
	expect_bad(".", "empty name");
	expect_bad("..", "empty label");
	expect_bad("a..b", "empty label");
	expect_bad(".example.com", "empty label");
	expect_bad("example.com..", "empty label");
	expect_bad("-a.com", "may not start or end with '-'");
	expect_bad("a-.com", "may not start or end with '-'");
	expect_bad("a.-com", "may not start or end with '-'");
	expect_bad("a.com-", "may not start or end with '-'");
	expect_bad("localhost", "at least two labels");
	expect_bad("com.", "at least two labels");
	expect_bad("*.com", "at least two labels");
	expect_bad("1.2.3.4", "all digits");
	expect_bad("example.123", "all digits");

	/* Labels: 63 is fine, 64 is not. */
	memset(label64, 'a', 64);
	label64[64] = '\0';
	{
		char ok[80];

		snprintf(ok, sizeof(ok), "%.63s.com", label64);
		expect_ok(ok, ok);
		snprintf(ok, sizeof(ok), "%s.com", label64);
		expect_bad(ok, "label longer than 63 characters (64)");
	}

	/* Names: 253 is fine (with or without the trailing dot), 254 is not. */
	memset(name253, 0, sizeof(name253));
	for (size_t i = 0; i < 253; i++)
		name253[i] = (i % 50 == 49) ? '.' : 'a';
	name253[252] = 'z';
	expect_ok(name253, name253);
	snprintf(name254, sizeof(name254), "%s.", name253);
	expect_ok(name254, name253);
	snprintf(name254, sizeof(name254), "b%s", name253);
	expect_bad(name254, "name longer than 253 characters (254)");
}

static void test_wildcards(void **state)
{
	(void)state;
	expect_bad("*.", "nothing after \"*.\"");
	expect_bad("*", "wildcard '*' is only allowed as a leading \"*.\"");
	expect_bad("*example.com", "wildcard");
	expect_bad("a.*.com", "wildcard");
	expect_bad("example.*", "wildcard");
	expect_bad("**.example.com", "wildcard");
	expect_bad("*.*.example.com", "wildcard");
	expect_bad("*..example.com", "empty label");
	expect_bad(".*.example.com", "wildcard");
}

static void test_long_input_quoted_and_cut(void **state)
{
	char in[2000], out[DOMAIN_BUF_SIZE], want[SHIELD_QUOTE_INPUT_MAX + 20];
	struct shield_error err = {0};

	(void)state;
	memset(in, 'a', sizeof(in));
	in[1000] = '/';
	assert_int_equal(domain_normalize(in, sizeof(in), out, &err), -EINVAL);
	/* The first SHIELD_QUOTE_INPUT_MAX bytes, then "...". */
	snprintf(want, sizeof(want), "\"%.*s\"...", SHIELD_QUOTE_INPUT_MAX, in);
	assert_msg_contains(&err, want);
	assert_msg_contains(&err, "character '/' not allowed");
	assert_true(strlen(err.msg) < 400);

	/* Control characters in a long input are escaped, never copied. */
	memset(in, '\n', sizeof(in));
	assert_int_equal(domain_normalize(in, sizeof(in), out, &err), -EINVAL);
	assert_null(strchr(err.msg, '\n'));
}

static void test_within(void **state)
{
	(void)state;
	assert_true(domain_is_within("example.com", "example.com"));
	assert_true(domain_is_within("a.example.com", "example.com"));
	assert_true(domain_is_within("x.y.example.com", "example.com"));
	assert_false(domain_is_within("badexample.com", "example.com"));
	assert_false(domain_is_within("example.com", "a.example.com"));
	assert_false(domain_is_within("com", "example.com"));
	assert_false(domain_is_within("example.org", "example.com"));
	assert_false(domain_is_within("example.com", ""));
	assert_false(domain_is_within(NULL, "example.com"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_len_bounds_input),
		cmocka_unit_test(test_forbidden_characters),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_wildcards),
		cmocka_unit_test(test_long_input_quoted_and_cut),
		cmocka_unit_test(test_within),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
