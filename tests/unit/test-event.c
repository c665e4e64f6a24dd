/* SPDX-License-Identifier: Apache-2.0 */
/* event: nftsetd's JSON event lines, encode and decode. */
#include "unit-helpers.h"

#include <errno.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>

#include "shield/event.h"

static struct addr_prefix addr(const char *text)
{
	struct addr_prefix a;

	assert_int_equal(addr_parse(text, strlen(text), &a, NULL), 0);
	return a;
}

static void test_kind_names(void **state)
{
	static const char *const names[] = {
		"rotation",	    "blocked_query",	    "drift.unexplained",
		"drift.missing",    "drift.denied_present", "drift.stale_answer",
		"ruleset.tampered", "dnsmasq.down",	    "log.gap",
		"watch.attached",   "watch.detached",	    "netlink.resync",
	};
	struct shield_error err = {0};
	enum shield_event_kind k;
	int checks = 0;

	(void)state;
	assert_int_equal(ARRAY_SIZE(names), SHIELD_EVENT_KIND_COUNT);
	for (int i = 0; i < SHIELD_EVENT_KIND_COUNT; i++) {
		assert_string_equal(shield_event_kind_name((enum shield_event_kind)i), names[i]);
		assert_int_equal(shield_event_kind_parse(names[i], &k, &err), 0);
		assert_int_equal(k, i);
		checks += shield_event_kind_is_check(k);
	}
	/* Every drift.*, ruleset.tampered, dnsmasq.down, log.gap. */
	assert_int_equal(checks, 7);
	assert_false(shield_event_kind_is_check(SHIELD_EVENT_ROTATION));
	assert_false(shield_event_kind_is_check(SHIELD_EVENT_BLOCKED_QUERY));
	assert_null(shield_event_kind_name(SHIELD_EVENT_KIND_COUNT));
	assert_int_equal(shield_event_kind_parse("drift", &k, &err), -EINVAL);
	assert_msg_contains(&err, "\"drift\"");
}

static void test_timestamps(void **state)
{
	char ts[80];
	uint64_t ms;

	(void)state;
	assert_string_equal(shield_event_format_ts(1764111226123ULL, ts, sizeof(ts)),
			    "2025-11-25T22:53:46.123+00:00");
	assert_int_equal(shield_event_parse_ts(ts, &ms), 0);
	assert_int_equal(ms, 1764111226123ULL);
	assert_int_equal(shield_event_parse_ts("2025-11-25T22:53:46Z", &ms), 0);
	assert_int_equal(ms, 1764111226000ULL);
	assert_string_equal(shield_event_format_ts(0, ts, sizeof(ts)),
			    "1970-01-01T00:00:00.000+00:00");
	assert_int_equal(shield_event_parse_ts("2025-11-25 22:53:46Z", &ms), -EINVAL);
	assert_int_equal(shield_event_parse_ts("2025-13-25T22:53:46Z", &ms), -EINVAL);
	assert_int_equal(shield_event_parse_ts("2025-11-25T22:53:46.12Z", &ms), -EINVAL);
	assert_int_equal(shield_event_parse_ts("2025-11-25T22:53:46+01:00", &ms), -EINVAL);
	assert_int_equal(shield_event_parse_ts(NULL, &ms), -EINVAL);
	/* Written by hand for years 1900-9999: as strftime writes them, across the range. */
	for (uint64_t t = 0; t < 253402300800000ULL; t = t * 3 + 7919) {
		time_t sec = (time_t)(t / 1000);
		char want[80], date[64];
		struct tm tm;

		assert_non_null(gmtime_r(&sec, &tm));
		assert_true(strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) > 0);
		snprintf(want, sizeof(want), "%s.%03u+00:00", date, (unsigned)(t % 1000));
		assert_string_equal(shield_event_format_ts(t, ts, sizeof(ts)), want);
		assert_int_equal(shield_event_parse_ts(ts, &ms), 0);
		assert_int_equal(ms, t);
	}
	/* Past 9999 strftime's own text. */
	assert_string_equal(shield_event_format_ts(253402300800000ULL, ts, sizeof(ts)),
			    "10000-01-01T00:00:00.000+00:00");
}

/* A rotation with every field, encoded and decoded back. */
static void test_round_trip(void **state)
{
	struct addr_prefix added[] = {addr("198.18.1.3"), addr("2001:db8::1")};
	struct addr_prefix removed[] = {addr("198.18.1.2")};
	struct shield_error err = {0};
	struct shield_event ev, back;
	char *line = NULL;
	size_t len;

	(void)state;
	shield_event_init(&ev, SHIELD_EVENT_ROTATION);
	ev.ts_ms = 1764111226123ULL;
	ev.id = 42;
	snprintf(ev.container, sizeof(ev.container), "web");
	snprintf(ev.domain, sizeof(ev.domain), "allowed.shield.test");
	snprintf(ev.set, sizeof(ev.set), "allow_v4");
	assert_int_equal(shield_event_set_lists(&ev, added, 2, removed, 1), 0);
	ev.age_ms = 5000;
	assert_int_equal(shield_event_encode(&ev, &line, &len, &err), 0);
	assert_string_equal(
		line, "{\"ts\":\"2025-11-25T22:53:46.123+00:00\",\"id\":42,\"container\":\"web\","
		      "\"kind\":\"rotation\",\"domain\":\"allowed.shield.test\",\"set\":"
		      "\"allow_v4\",\"added\":[\"198.18.1.3\",\"2001:db8::1\"],\"removed\":"
		      "[\"198.18.1.2\"],\"age_ms\":5000}\n");
	assert_int_equal(len, strlen(line));
	assert_int_equal(shield_event_decode(line, len, &back, &err), 0);
	assert_int_equal(back.kind, SHIELD_EVENT_ROTATION);
	assert_int_equal(back.ts_ms, ev.ts_ms);
	assert_int_equal(back.id, 42);
	assert_string_equal(back.container, "web");
	assert_string_equal(back.domain, "allowed.shield.test");
	assert_int_equal(back.n_added, 2);
	assert_true(addr_equal(&back.added[1], &added[1]));
	assert_int_equal(back.n_removed, 1);
	assert_int_equal(back.age_ms, 5000);
	assert_int_equal(back.pid, 0);
	assert_false(back.repaired);
	shield_event_free(&back);
	shield_event_free(&ev);
	free(line);
}

/* A drift event with writer and repair; absent fields stay out of the line. */
static void test_drift_fields(void **state)
{
	struct shield_error err = {0};
	struct shield_event ev, copy, back;
	char *line = NULL;

	(void)state;
	shield_event_init(&ev, SHIELD_EVENT_DRIFT_MISSING);
	ev.ts_ms = 1000;
	ev.id = 7;
	snprintf(ev.container, sizeof(ev.container), "c1");
	snprintf(ev.ip, sizeof(ev.ip), "198.18.9.9");
	snprintf(ev.set, sizeof(ev.set), "allow_v4");
	ev.pid = 4242;
	snprintf(ev.comm, sizeof(ev.comm), "nft");
	ev.repaired = true;
	shield_event_set_detail(&ev, "static entry %s is absent", ev.ip);
	assert_int_equal(shield_event_copy(&copy, &ev), 0);
	assert_int_equal(shield_event_encode(&copy, &line, NULL, &err), 0);
	assert_string_equal(line,
			    "{\"ts\":\"1970-01-01T00:00:01.000+00:00\",\"id\":7,\"container\":"
			    "\"c1\",\"kind\":\"drift.missing\",\"ip\":\"198.18.9.9\",\"set\":"
			    "\"allow_v4\",\"pid\":4242,\"comm\":\"nft\",\"repaired\":true,"
			    "\"detail\":\"static entry 198.18.9.9 is absent\"}\n");
	assert_int_equal(shield_event_decode(line, strlen(line), &back, &err), 0);
	assert_int_equal(back.pid, 4242);
	assert_string_equal(back.comm, "nft");
	assert_true(back.repaired);
	assert_int_equal(back.age_ms, -1);
	assert_string_equal(back.detail, "static entry 198.18.9.9 is absent");
	shield_event_free(&back);
	shield_event_free(&copy);
	free(line);
}

/* Names from the log may be anything: the line stays ASCII JSON. */
static void test_odd_text(void **state)
{
	struct shield_error err = {0};
	struct shield_event ev, back;
	char *line = NULL;

	(void)state;
	shield_event_init(&ev, SHIELD_EVENT_BLOCKED_QUERY);
	snprintf(ev.container, sizeof(ev.container), "c");
	snprintf(ev.domain, sizeof(ev.domain), "a\"b\\c\n\xff\xfe.test");
	assert_int_equal(shield_event_encode(&ev, &line, NULL, &err), 0);
	for (const char *p = line; *p != '\n'; p++)
		assert_true(*p >= 0x20 && *p < 0x7f);
	assert_int_equal(shield_event_decode(line, strlen(line), &back, &err), 0);
	assert_string_equal(back.domain, "a\"b\\c\n??.test");
	free(line);
	/* Valid UTF-8 is kept (escaped in the line). */
	snprintf(ev.domain, sizeof(ev.domain), "b\xc3\xbc.test");
	assert_int_equal(shield_event_encode(&ev, &line, NULL, &err), 0);
	assert_non_null(strstr(line, "\\u00FC"));
	assert_int_equal(shield_event_decode(line, strlen(line), &back, &err), 0);
	assert_string_equal(back.domain, "b\xc3\xbc.test");
	free(line);
}

/* What the encoder wrote before it wrote lines itself: jansson's dump of the object. */
static char *jansson_line(const struct shield_event *ev)
{
	json_t *o = shield_event_to_json(ev);
	char *text, *line;

	assert_non_null(o);
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	json_decref(o);
	assert_non_null(text);
	line = malloc(strlen(text) + 2);
	assert_non_null(line);
	snprintf(line, strlen(text) + 2, "%s\n", text);
	free(text);
	return line;
}

static void assert_same_line(const struct shield_event *ev)
{
	struct shield_error err = {0};
	char *line = NULL, *want = jansson_line(ev);
	size_t len = 0;

	assert_int_equal(shield_event_encode(ev, &line, &len, &err), 0);
	assert_string_equal(line, want);
	assert_int_equal(len, strlen(want));
	free(line);
	free(want);
}

static void fill_random(char *buf, size_t size, uint32_t *seed)
{
	size_t n = (*seed >> 7) % size;

	for (size_t i = 0; i < n; i++) {
		*seed = *seed * 1103515245u + 12345u;
		/* Mostly the bytes that need care: controls, quotes, UTF-8 lead and tail bytes. */
		switch ((*seed >> 16) % 8) {
		case 0:
			buf[i] = (char)((*seed >> 8) % 0x20 + 1);
			break;
		case 1:
			buf[i] = "\"/\\\x7f"[(*seed >> 8) % 3];
			break;
		case 2:
		case 3:
			buf[i] = (char)(0x80 + (*seed >> 8) % 0x80);
			break;
		default:
			buf[i] = (char)(0x20 + (*seed >> 8) % 0x5f);
		}
		if (!buf[i])
			buf[i] = 'x';
	}
	buf[n] = '\0';
}

/* The line is exactly jansson's (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII). */
static void test_encode_matches_jansson(void **state)
{
	static const char *const texts[] = {
		"",
		"plain.test",
		"a\"b\\c/d\x7f",
		"\x01\x08\x09\x0a\x0c\x0d\x1f",
		"b\xc3\xbc.test",		    /* 2-byte UTF-8 */
		"\xe2\x82\xac\xef\xbf\xbf",	    /* 3-byte, U+FFFF */
		"\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", /* 4-byte: surrogate pairs */
		"\xc0\x80",			    /* overlong */
		"\xed\xa0\x80",			    /* a surrogate */
		"\xf4\x90\x80\x80",		    /* past U+10FFFF */
		"\xe2\x82",			    /* cut short */
		"ok \xff and \xc3\xbc",		    /* invalid somewhere: all high bytes '?' */
	};
	struct addr_prefix a[3] = {addr("198.18.0.1"), addr("2001:db8::1"), addr("10.0.0.0/8")};
	struct shield_event ev;
	uint32_t seed = 7;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		shield_event_init(&ev, (enum shield_event_kind)(i % SHIELD_EVENT_KIND_COUNT));
		ev.ts_ms = 1764111226000ULL + i;
		ev.id = i * 1000003;
		snprintf(ev.container, sizeof(ev.container), "%s", texts[i]);
		snprintf(ev.domain, sizeof(ev.domain), "%s", texts[i]);
		snprintf(ev.ip, sizeof(ev.ip), "%s", texts[(i + 1) % ARRAY_SIZE(texts)]);
		snprintf(ev.set, sizeof(ev.set), "allow_v4");
		snprintf(ev.comm, sizeof(ev.comm), "%s", texts[(i + 2) % ARRAY_SIZE(texts)]);
		snprintf(ev.detail, sizeof(ev.detail), "%s", texts[(i + 3) % ARRAY_SIZE(texts)]);
		ev.age_ms = i % 2 ? -1 : (int64_t)i * 17;
		ev.pid = i % 3 ? (int32_t)i : 0;
		ev.repaired = i % 2;
		/* numbers at their edges (an id past INT64_MAX is written as jansson's signed) */
		if (i < 4)
			ev.id = (uint64_t[]){UINT64_MAX, 1ULL << 63, INT64_MAX, 0}[i];
		if (i == 4) {
			ev.age_ms = INT64_MAX;
			ev.pid = INT32_MAX;
		}
		assert_int_equal(shield_event_set_lists(&ev, a, i % 4, a + 1, i % 3), 0);
		assert_same_line(&ev);
		shield_event_free(&ev);
	}
	/* And random bytes in every text field, every kind. */
	for (int i = 0; i < 3000; i++) {
		shield_event_init(&ev, (enum shield_event_kind)(i % SHIELD_EVENT_KIND_COUNT));
		ev.ts_ms = (uint64_t)i * 7919;
		ev.id = (uint64_t)i;
		fill_random(ev.container, sizeof(ev.container), &seed);
		fill_random(ev.domain, sizeof(ev.domain), &seed);
		fill_random(ev.ip, sizeof(ev.ip), &seed);
		fill_random(ev.set, sizeof(ev.set), &seed);
		fill_random(ev.comm, sizeof(ev.comm), &seed);
		fill_random(ev.detail, sizeof(ev.detail), &seed);
		ev.age_ms = i % 5 ? i : -1;
		ev.pid = i % 7;
		ev.repaired = i % 11 == 0;
		assert_same_line(&ev);
		shield_event_free(&ev);
	}
}

/* The lists are capped. */
static void test_list_cap(void **state)
{
	struct addr_prefix *many = calloc(SHIELD_EVENT_LIST_MAX + 10, sizeof(*many));
	struct shield_event ev;
	struct shield_error err = {0};
	char *line = NULL;
	size_t len;

	(void)state;
	assert_non_null(many);
	for (size_t i = 0; i < SHIELD_EVENT_LIST_MAX + 10; i++) {
		char t[64];

		snprintf(t, sizeof(t), "2001:db8:ffff:ffff:ffff:ffff:%zx:%zx", i, i);
		many[i] = addr(t);
	}
	shield_event_init(&ev, SHIELD_EVENT_ROTATION);
	memset(ev.domain, 'a', sizeof(ev.domain) - 1);
	memset(ev.detail, 'd', sizeof(ev.detail) - 1);
	memset(ev.container, 'c', sizeof(ev.container) - 1);
	assert_int_equal(shield_event_set_lists(&ev, many, SHIELD_EVENT_LIST_MAX + 10, many,
						SHIELD_EVENT_LIST_MAX + 10),
			 0);
	assert_int_equal(ev.n_added, SHIELD_EVENT_LIST_MAX);
	/* The biggest event there can be still fits a line. */
	assert_int_equal(shield_event_encode(&ev, &line, &len, &err), 0);
	assert_true(len <= SHIELD_EVENT_LINE_MAX);
	shield_event_free(&ev);
	assert_null(ev.added);
	free(line);
	free(many);
}

static void expect_decode_error(const char *line, int code, const char *needle)
{
	struct shield_error err = {0};
	struct shield_event ev;

	assert_int_equal(shield_event_decode(line, strlen(line), &ev, &err), code);
	assert_msg_contains(&err, needle);
	assert_msg_printable(&err);
	assert_null(ev.added);
	assert_null(ev.removed);
}

static void test_decode_errors(void **state)
{
	char *big;

	(void)state;
	expect_decode_error("", -EINVAL, "invalid JSON");
	expect_decode_error("[1]", -EINVAL, "not a JSON object");
	expect_decode_error("{\"ts\":\"1970-01-01T00:00:01Z\"}", -EINVAL, "\"kind\" missing");
	expect_decode_error("{\"kind\":\"rotation\"}", -EINVAL, "\"ts\"");
	expect_decode_error("{\"kind\":\"nope\",\"ts\":\"1970-01-01T00:00:01Z\"}", -EINVAL,
			    "unknown event kind");
	expect_decode_error("{\"kind\":7,\"ts\":\"1970-01-01T00:00:01Z\"}", -EINVAL, "\"kind\"");
	expect_decode_error("{\"kind\":\"log.gap\",\"ts\":\"1970-01-01T00:00:01Z\",\"pid\":-1}",
			    -EINVAL, "\"pid\"");
	expect_decode_error("{\"kind\":\"log.gap\",\"ts\":\"1970-01-01T00:00:01Z\",\"id\":1.5}",
			    -EINVAL, "\"id\"");
	expect_decode_error("{\"kind\":\"log.gap\",\"ts\":\"1970-01-01T00:00:01Z\",\"set\":"
			    "\"0123456789abcdefg\"}",
			    -EINVAL, "\"set\" longer");
	expect_decode_error("{\"kind\":\"rotation\",\"ts\":\"1970-01-01T00:00:01Z\",\"added\":"
			    "[\"1.2.3.4\",\"x\"]}",
			    -EINVAL, "\"added\"[1]");
	expect_decode_error("{\"kind\":\"rotation\",\"ts\":\"1970-01-01T00:00:01Z\",\"removed\":"
			    "{}}",
			    -EINVAL, "\"removed\" must be an array");
	expect_decode_error(
		"{\"kind\":\"rotation\",\"ts\":\"1970-01-01T00:00:01Z\",\"repaired\":1}", -EINVAL,
		"\"repaired\"");
	expect_decode_error("{\"kind\":\"rotation\",\"kind\":\"rotation\"}", -EINVAL,
			    "invalid JSON");
	expect_decode_error("{\"kind\":\"rotation\",\"ts\":\"1970-01-01T00:00:01Z\",\"domain\":"
			    "\"a\\u0000b\"}",
			    -EINVAL, "NUL");
	big = malloc(SHIELD_EVENT_LINE_MAX + 2);
	assert_non_null(big);
	memset(big, ' ', SHIELD_EVENT_LINE_MAX + 1);
	big[SHIELD_EVENT_LINE_MAX + 1] = '\0';
	expect_decode_error(big, -E2BIG, "longer than");
	free(big);
}

/* Unknown keys are ignored (newer servers), nulls are absent. */
static void test_decode_lenient(void **state)
{
	const char *line = "{\"ts\":\"1970-01-01T00:00:01.500Z\",\"kind\":\"watch.attached\","
			   "\"future\":[1,2],\"domain\":null,\"age_ms\":null}\n";
	struct shield_error err = {0};
	struct shield_event ev;

	(void)state;
	assert_int_equal(shield_event_decode(line, strlen(line), &ev, &err), 0);
	assert_int_equal(ev.kind, SHIELD_EVENT_WATCH_ATTACHED);
	assert_int_equal(ev.ts_ms, 1500);
	assert_string_equal(ev.domain, "");
	assert_int_equal(ev.age_ms, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_drift_fields),
		cmocka_unit_test(test_odd_text),
		cmocka_unit_test(test_list_cap),
		cmocka_unit_test(test_decode_errors),
		cmocka_unit_test(test_decode_lenient),
		cmocka_unit_test(test_encode_matches_jansson),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
