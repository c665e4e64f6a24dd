/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dnsmasq-log: lines exactly as Debian's dnsmasq 2.90 wrote them on this
 * machine (log-queries=extra, log-facility=FILE, shield's nftset lines; an
 * upstream test dnsmasq in a throwaway netns), and the line splitter.
 */
#include "unit-helpers.h"

#include <errno.h>
#include <sys/socket.h>

#include "shield/dnsmasq-log.h"

struct expect {
	const char *line;
	enum dnsmasq_log_kind kind;
	int32_t pid;
	long long serial; /* -1 = no serial */
	const char *qtype;
	const char *name;
	enum dnsmasq_answer answer;
	const char *addr;  /* answer address, nftset address, or upstream for FORWARDED */
	int set;	   /* dnsmasq_log_rec_set */
	const char *other; /* answer_text */
};

#define P "Nov 25 22:51:20 dnsmasq[21764]: "

static const struct expect captured[] = {
	{.line = P "started, version 2.90 cachesize 150",
	 .kind = DNSMASQ_LOG_STARTED,
	 .pid = 21764,
	 .serial = -1},
	{.line = P
	 "compile time options: IPv6 GNU-getopt DBus no-UBus i18n IDN2 DHCP DHCPv6 no-Lua TFTP "
	 "conntrack ipset nftset auth cryptohash DNSSEC loop-detect inotify dumpfile",
	 .kind = DNSMASQ_LOG_OTHER,
	 .pid = 21764,
	 .serial = -1},
	{.line = P "using nameserver 198.18.1.53#53 for domain shield.test ",
	 .kind = DNSMASQ_LOG_OTHER,
	 .pid = 21764,
	 .serial = -1},
	{.line = P "using only locally-known addresses for denied.shield.test",
	 .kind = DNSMASQ_LOG_OTHER,
	 .pid = 21764,
	 .serial = -1},
	{.line = P "cleared cache", .kind = DNSMASQ_LOG_OTHER, .pid = 21764, .serial = -1},
	{.line = P "1 127.0.0.1/46537 query[A] allowed.shield.test from 127.0.0.1",
	 .kind = DNSMASQ_LOG_QUERY,
	 .pid = 21764,
	 .serial = 1,
	 .qtype = "A",
	 .name = "allowed.shield.test"},
	{.line = P "1 127.0.0.1/46537 forwarded allowed.shield.test to 198.18.1.53",
	 .kind = DNSMASQ_LOG_FORWARDED,
	 .pid = 21764,
	 .serial = 1,
	 .qtype = NULL,
	 .name = "allowed.shield.test",
	 .answer = DNSMASQ_ANSWER_NONE,
	 .addr = "198.18.1.53"},
	{.line = P
	 "1 127.0.0.1/46537 nftset add 4 inet terok_shield allow_v4 198.18.1.2 shield.test",
	 .kind = DNSMASQ_LOG_NFTSET,
	 .pid = 21764,
	 .serial = 1,
	 .qtype = NULL,
	 .name = "shield.test",
	 .answer = DNSMASQ_ANSWER_NONE,
	 .addr = "198.18.1.2",
	 .set = NFT_SET_ALLOW_V4},
	{.line = P "1 127.0.0.1/46537 reply allowed.shield.test is 198.18.1.2",
	 .kind = DNSMASQ_LOG_REPLY,
	 .pid = 21764,
	 .serial = 1,
	 .qtype = NULL,
	 .name = "allowed.shield.test",
	 .answer = DNSMASQ_ANSWER_ADDR,
	 .addr = "198.18.1.2"},
	{.line = P "2 127.0.0.1/51897 query[AAAA] allowed.shield.test from 127.0.0.1",
	 .kind = DNSMASQ_LOG_QUERY,
	 .pid = 21764,
	 .serial = 2,
	 .qtype = "AAAA",
	 .name = "allowed.shield.test"},
	{.line = P
	 "2 127.0.0.1/51897 nftset add 6 inet terok_shield allow_v6 2001:db8:1::2 shield.test",
	 .kind = DNSMASQ_LOG_NFTSET,
	 .pid = 21764,
	 .serial = 2,
	 .qtype = NULL,
	 .name = "shield.test",
	 .answer = DNSMASQ_ANSWER_NONE,
	 .addr = "2001:db8:1::2",
	 .set = NFT_SET_ALLOW_V6},
	{.line = P "2 127.0.0.1/51897 reply allowed.shield.test is 2001:db8:1::2",
	 .kind = DNSMASQ_LOG_REPLY,
	 .pid = 21764,
	 .serial = 2,
	 .qtype = NULL,
	 .name = "allowed.shield.test",
	 .answer = DNSMASQ_ANSWER_ADDR,
	 .addr = "2001:db8:1::2"},
	{.line = P "3 127.0.0.1/49380 cached allowed.shield.test is 198.18.1.2",
	 .kind = DNSMASQ_LOG_CACHED,
	 .pid = 21764,
	 .serial = 3,
	 .qtype = NULL,
	 .name = "allowed.shield.test",
	 .answer = DNSMASQ_ANSWER_ADDR,
	 .addr = "198.18.1.2"},
	{.line = P "5 127.0.0.1/54149 reply alias.shield.test is <CNAME>",
	 .kind = DNSMASQ_LOG_REPLY,
	 .pid = 21764,
	 .serial = 5,
	 .qtype = NULL,
	 .name = "alias.shield.test",
	 .answer = DNSMASQ_ANSWER_CNAME},
	{.line = P "15 127.0.0.1/55660 cached alias.shield.test is <CNAME>",
	 .kind = DNSMASQ_LOG_CACHED,
	 .pid = 21764,
	 .serial = 15,
	 .qtype = NULL,
	 .name = "alias.shield.test",
	 .answer = DNSMASQ_ANSWER_CNAME},
	{.line = P "6 127.0.0.1/48024 reply nosuch.shield.test is NXDOMAIN",
	 .kind = DNSMASQ_LOG_REPLY,
	 .pid = 21764,
	 .serial = 6,
	 .qtype = NULL,
	 .name = "nosuch.shield.test",
	 .answer = DNSMASQ_ANSWER_NXDOMAIN},
	{.line = P "7 127.0.0.1/36290 reply v6only.shield.test is NODATA-IPv4",
	 .kind = DNSMASQ_LOG_REPLY,
	 .pid = 21764,
	 .serial = 7,
	 .qtype = NULL,
	 .name = "v6only.shield.test",
	 .answer = DNSMASQ_ANSWER_NODATA},
	{.line = P "20 127.0.0.1/51230 reply allowed.shield.test is NODATA",
	 .kind = DNSMASQ_LOG_REPLY,
	 .pid = 21764,
	 .serial = 20,
	 .qtype = NULL,
	 .name = "allowed.shield.test",
	 .answer = DNSMASQ_ANSWER_NODATA},
	{.line = P "8 127.0.0.1/55438 config blocked.example.com is NXDOMAIN",
	 .kind = DNSMASQ_LOG_CONFIG,
	 .pid = 21764,
	 .serial = 8,
	 .qtype = NULL,
	 .name = "blocked.example.com",
	 .answer = DNSMASQ_ANSWER_NXDOMAIN},
	{.line = P "10 127.0.0.1/49779 config denied.shield.test is NXDOMAIN",
	 .kind = DNSMASQ_LOG_CONFIG,
	 .pid = 21764,
	 .serial = 10,
	 .qtype = NULL,
	 .name = "denied.shield.test",
	 .answer = DNSMASQ_ANSWER_NXDOMAIN},
	{.line = P "21 127.0.0.1/41909 query[PTR] 2.1.18.198.in-addr.arpa from 127.0.0.1",
	 .kind = DNSMASQ_LOG_QUERY,
	 .pid = 21764,
	 .serial = 21,
	 .qtype = "PTR",
	 .name = "2.1.18.198.in-addr.arpa"},
	{.line = P "11 127.0.0.1/34546 reply allowed.shield.test is <MX>",
	 .kind = DNSMASQ_LOG_REPLY,
	 .pid = 21764,
	 .serial = 11,
	 .qtype = NULL,
	 .name = "allowed.shield.test",
	 .answer = DNSMASQ_ANSWER_OTHER,
	 .addr = NULL,
	 .set = -ENOENT,
	 .other = "<MX>"},
	{.line = P "6 127.0.0.1/40974 reply error is REFUSED",
	 .kind = DNSMASQ_LOG_REPLY,
	 .pid = 21764,
	 .serial = 6,
	 .qtype = NULL,
	 .name = "error",
	 .answer = DNSMASQ_ANSWER_OTHER,
	 .addr = NULL,
	 .set = -ENOENT,
	 .other = "REFUSED"},
	/* dnsmasq keeps the case it received. */
	{.line = P "23 127.0.0.1/32775 reply ALLOWED.Shield.Test is 198.18.1.2",
	 .kind = DNSMASQ_LOG_REPLY,
	 .pid = 21764,
	 .serial = 23,
	 .qtype = NULL,
	 .name = "allowed.shield.test",
	 .answer = DNSMASQ_ANSWER_ADDR,
	 .addr = "198.18.1.2"},
	{.line = P "23 127.0.0.1/36968 cached ALLOWED.Shield.Test is 198.18.1.2",
	 .kind = DNSMASQ_LOG_CACHED,
	 .pid = 21764,
	 .serial = 23,
	 .qtype = NULL,
	 .name = "allowed.shield.test",
	 .answer = DNSMASQ_ANSWER_ADDR,
	 .addr = "198.18.1.2"},
	/* TCP queries are answered by a forked child: its own pid, serials from 100 on. */
	{.line = "Nov 25 22:51:20 dnsmasq[21838]: 24 127.0.0.1/43785 reply allowed.shield.test is "
		 "<AAAA>",
	 .kind = DNSMASQ_LOG_REPLY,
	 .pid = 21838,
	 .serial = 24,
	 .qtype = NULL,
	 .name = "allowed.shield.test",
	 .answer = DNSMASQ_ANSWER_OTHER,
	 .addr = NULL,
	 .set = -ENOENT,
	 .other = "<AAAA>"},
	{.line = "Nov 25 22:51:20 dnsmasq[21843]: 124 127.0.0.1/40013 cached multi.shield.test is "
		 "198.18.1.3",
	 .kind = DNSMASQ_LOG_CACHED,
	 .pid = 21843,
	 .serial = 124,
	 .qtype = NULL,
	 .name = "multi.shield.test",
	 .answer = DNSMASQ_ANSWER_ADDR,
	 .addr = "198.18.1.3"},
	{.line = "Nov 25 22:51:20 dnsmasq[21694]: 124 127.0.0.1/35633 nftset add 4 inet "
		 "terok_shield "
		 "allow_v4 198.18.1.3 shield.test",
	 .kind = DNSMASQ_LOG_NFTSET,
	 .pid = 21694,
	 .serial = 124,
	 .qtype = NULL,
	 .name = "shield.test",
	 .answer = DNSMASQ_ANSWER_NONE,
	 .addr = "198.18.1.3",
	 .set = NFT_SET_ALLOW_V4},
	/* The table was deleted under dnsmasq. */
	{.line = P "nftset inet terok_shield allow_v4 Error: No such file or directory",
	 .kind = DNSMASQ_LOG_ERROR,
	 .pid = 21764,
	 .serial = -1},
	{.line = P "224 127.0.0.1/42434 reply other.shield.test is 198.18.1.3",
	 .kind = DNSMASQ_LOG_REPLY,
	 .pid = 21764,
	 .serial = 224,
	 .qtype = NULL,
	 .name = "other.shield.test",
	 .answer = DNSMASQ_ANSWER_ADDR,
	 .addr = "198.18.1.3"},
	/* From a dnsmasq without upstream and with dns-forward-max=1. */
	{.line = "Nov 25 23:02:02 dnsmasq[19872]: warning: no upstream servers configured",
	 .kind = DNSMASQ_LOG_WARNING,
	 .pid = 19872,
	 .serial = -1},
	{.line = "Nov 25 22:51:30 dnsmasq[21939]: Maximum number of concurrent DNS queries reached "
		 "(max: "
		 "1)",
	 .kind = DNSMASQ_LOG_WARNING,
	 .pid = 21939,
	 .serial = -1},
	{.line = "Nov 25 22:51:30 dnsmasq[21939]: 2 127.0.0.1/49101 config error is REFUSED",
	 .kind = DNSMASQ_LOG_CONFIG,
	 .pid = 21939,
	 .serial = 2,
	 .qtype = NULL,
	 .name = "error",
	 .answer = DNSMASQ_ANSWER_OTHER,
	 .addr = NULL,
	 .set = -ENOENT,
	 .other = "REFUSED"},
	{.line = "Nov 25 23:02:03 dnsmasq[19872]: 3 127.0.0.1/43820 config error is REFUSED (EDE: "
		 "not "
		 "ready)",
	 .kind = DNSMASQ_LOG_CONFIG,
	 .pid = 19872,
	 .serial = 3,
	 .qtype = NULL,
	 .name = "error",
	 .answer = DNSMASQ_ANSWER_OTHER,
	 .addr = NULL,
	 .set = -ENOENT,
	 .other = "REFUSED"},
	{.line = "Nov 25 23:02:02 dnsmasq[19872]: 1 127.0.0.1/44464 config x.test is 198.18.0.1",
	 .kind = DNSMASQ_LOG_CONFIG,
	 .pid = 19872,
	 .serial = 1,
	 .qtype = NULL,
	 .name = "x.test",
	 .answer = DNSMASQ_ANSWER_ADDR,
	 .addr = "198.18.0.1"},
	/* Names are printed as received: spaces and all. */
	{.line = "Nov 25 23:02:03 dnsmasq[19872]: 4 127.0.0.1/43447 query[A] we ird.test from "
		 "127.0.0.1",
	 .kind = DNSMASQ_LOG_QUERY,
	 .pid = 19872,
	 .serial = 4,
	 .qtype = "A",
	 .name = "we ird.test"},
	{.line = "Nov 25 23:02:03 dnsmasq[19872]: 5 127.0.0.1/36134 query[A] <name unprintable> "
		 "from "
		 "127.0.0.1",
	 .kind = DNSMASQ_LOG_QUERY,
	 .pid = 19872,
	 .serial = 5,
	 .qtype = "A",
	 .name = "<name unprintable>"},
	{.line = "Nov 25 23:02:03 dnsmasq[19872]: exiting on receipt of SIGTERM",
	 .kind = DNSMASQ_LOG_OTHER,
	 .pid = 19872,
	 .serial = -1},
};

static void check_expect(const struct expect *e)
{
	struct dnsmasq_log_rec rec;
	char text[ADDR_TEXT_MAX];
	int r = dnsmasq_log_parse_line(e->line, strlen(e->line), &rec);

	if (r != (int)e->kind)
		fail_msg("\"%s\": kind %s, expected %s", e->line, dnsmasq_log_kind_name(rec.kind),
			 dnsmasq_log_kind_name(e->kind));
	assert_int_equal(rec.kind, e->kind);
	assert_int_equal(rec.pid, e->pid);
	assert_int_equal(strlen(rec.stamp), 15);
	assert_memory_equal(rec.stamp, e->line, 15);
	if (e->serial < 0) {
		assert_false(rec.has_serial);
	} else {
		assert_true(rec.has_serial);
		assert_int_equal(rec.serial, (uint64_t)e->serial);
		addr_format(&rec.client, text);
		assert_string_equal(text, "127.0.0.1");
		assert_true(rec.client_port > 0);
	}
	assert_string_equal(rec.qtype, e->qtype ? e->qtype : "");
	assert_string_equal(rec.name, e->name ? e->name : "");
	assert_int_equal(rec.answer, e->answer);
	if (e->kind == DNSMASQ_LOG_FORWARDED)
		addr_format(&rec.upstream, text);
	else
		addr_format(&rec.addr, text);
	assert_string_equal(text, e->addr ? e->addr : "");
	if (e->kind == DNSMASQ_LOG_NFTSET)
		assert_int_equal(dnsmasq_log_rec_set(&rec), e->set);
	else
		assert_int_equal(dnsmasq_log_rec_set(&rec), -ENOENT);
	assert_string_equal(rec.answer_text, e->other ? e->other : "");
	/* msg is the part after "dnsmasq[PID]: " */
	assert_non_null(rec.msg);
	assert_true(rec.msg > e->line && rec.msg + rec.msg_len == e->line + strlen(e->line));
	assert_memory_equal(rec.msg - 2, ": ", 2);
}

static void test_captured_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(captured); i++)
		check_expect(&captured[i]);
}

/* The same lines with their newline (and a CRLF) parse the same. */
static void test_line_endings(void **state)
{
	struct dnsmasq_log_rec rec;
	char buf[512];

	(void)state;
	snprintf(buf, sizeof(buf), "%s\n", captured[8].line);
	assert_int_equal(dnsmasq_log_parse_line(buf, strlen(buf), &rec), DNSMASQ_LOG_REPLY);
	assert_string_equal(rec.name, "allowed.shield.test");
	snprintf(buf, sizeof(buf), "%s\r\n", captured[8].line);
	assert_int_equal(dnsmasq_log_parse_line(buf, strlen(buf), &rec), DNSMASQ_LOG_REPLY);
	assert_int_equal(rec.answer, DNSMASQ_ANSWER_ADDR);
	assert_int_equal(dnsmasq_log_parse_line("", 0, &rec), DNSMASQ_LOG_EMPTY);
	assert_int_equal(dnsmasq_log_parse_line("   \n", 4, &rec), DNSMASQ_LOG_EMPTY);
	assert_int_equal(dnsmasq_log_parse_line(NULL, 3, &rec), -EINVAL);
	assert_int_equal(dnsmasq_log_parse_line("x", 1, NULL), -EINVAL);
}

/* Without the syslog-style prefix (log to stderr) and without the extra fields. */
static void test_prefix_variants(void **state)
{
	struct dnsmasq_log_rec rec;
	const char *l;

	(void)state;
	l = "dnsmasq[7]: 9 ::1/5353 query[AAAA] v6.shield.test from ::1";
	assert_int_equal(dnsmasq_log_parse_line(l, strlen(l), &rec), DNSMASQ_LOG_QUERY);
	assert_int_equal(rec.pid, 7);
	assert_string_equal(rec.stamp, "");
	assert_int_equal(rec.client.family, AF_INET6);
	assert_int_equal(rec.client_port, 5353);

	/* log-queries without "extra": no serial, not recognised as a query record. */
	l = "Nov 25 22:51:20 dnsmasq[1]: query[A] a.test from 127.0.0.1";
	assert_int_equal(dnsmasq_log_parse_line(l, strlen(l), &rec), DNSMASQ_LOG_OTHER);
	assert_false(rec.has_serial);

	/* An upstream with a port. */
	l = "Nov 25 22:51:20 dnsmasq[1]: 3 127.0.0.1/1 forwarded a.test to 198.18.1.53#5353";
	assert_int_equal(dnsmasq_log_parse_line(l, strlen(l), &rec), DNSMASQ_LOG_FORWARDED);
	assert_int_equal(rec.upstream_port, 5353);
	assert_int_equal(rec.upstream.family, AF_INET);

	/* No prefix at all: the whole line is the message. */
	l = "failed to allocate memory";
	assert_int_equal(dnsmasq_log_parse_line(l, strlen(l), &rec), DNSMASQ_LOG_ERROR);
	assert_int_equal(rec.pid, 0);
	assert_ptr_equal(rec.msg, l);

	/* The older '#'-separated set spec and other tables. */
	l = "Nov 25 22:51:20 dnsmasq[1]: 3 127.0.0.1/1 nftset add 4#inet#terok_shield#allow_v4 "
	    "198.18.1.2 shield.test";
	assert_int_equal(dnsmasq_log_parse_line(l, strlen(l), &rec), DNSMASQ_LOG_NFTSET);
	assert_string_equal(rec.set_name, "allow_v4");
	assert_int_equal(dnsmasq_log_rec_set(&rec), NFT_SET_ALLOW_V4);
	l = "Nov 25 22:51:20 dnsmasq[1]: 3 127.0.0.1/1 nftset add 4 inet other allow_v4 "
	    "198.18.1.2 shield.test";
	assert_int_equal(dnsmasq_log_parse_line(l, strlen(l), &rec), DNSMASQ_LOG_NFTSET);
	assert_int_equal(dnsmasq_log_rec_set(&rec), -ENOENT);
}

/*
 * A name is whatever the client sent: fields after it are found from the
 * right, so a crafted name cannot make a line claim another name's answer.
 */
static void test_crafted_names(void **state)
{
	struct dnsmasq_log_rec rec;
	const char *l;

	(void)state;
	l = "Nov 25 22:51:20 dnsmasq[1]: 4 127.0.0.1/2 cached evil.test is 6.6.6.6 "
	    "x.allowed.test is 198.18.1.2";
	assert_int_equal(dnsmasq_log_parse_line(l, strlen(l), &rec), DNSMASQ_LOG_CACHED);
	assert_string_equal(rec.name, "evil.test is 6.6.6.6 x.allowed.test");
	assert_int_equal(rec.answer, DNSMASQ_ANSWER_ADDR);

	/* A name ending in " is ADDR" with a trailing word: not an address answer. */
	l = "Nov 25 22:51:20 dnsmasq[1]: 4 127.0.0.1/2 reply allowed.test is 6.6.6.6 x";
	assert_int_equal(dnsmasq_log_parse_line(l, strlen(l), &rec), DNSMASQ_LOG_OTHER);
	assert_int_equal(rec.answer, DNSMASQ_ANSWER_NONE);
	assert_string_equal(rec.name, "");

	/* An extended-error note never follows an address. */
	l = "Nov 25 22:51:20 dnsmasq[1]: 4 127.0.0.1/2 reply a.test is 6.6.6.6 (EDE: x)";
	assert_int_equal(dnsmasq_log_parse_line(l, strlen(l), &rec), DNSMASQ_LOG_OTHER);

	/* " from " inside a name. */
	l = "Nov 25 22:51:20 dnsmasq[1]: 4 127.0.0.1/2 query[A] a from b.test from 127.0.0.1";
	assert_int_equal(dnsmasq_log_parse_line(l, strlen(l), &rec), DNSMASQ_LOG_QUERY);
	assert_string_equal(rec.name, "a from b.test");

	/* A NUL byte in the middle: not interpreted. */
	{
		static const char nul[] =
			"Nov 25 22:51:20 dnsmasq[1]: 4 127.0.0.1/2 reply a\0b.test "
			"is 1.2.3.4";

		assert_int_equal(dnsmasq_log_parse_line(nul, sizeof(nul) - 1, &rec),
				 DNSMASQ_LOG_OTHER);
	}
	/* Trailing dot dropped, upper case folded. */
	l = "Nov 25 22:51:20 dnsmasq[1]: 4 127.0.0.1/2 reply WWW.Allowed.TEST. is 1.2.3.4";
	assert_int_equal(dnsmasq_log_parse_line(l, strlen(l), &rec), DNSMASQ_LOG_REPLY);
	assert_string_equal(rec.name, "www.allowed.test");
}

static void test_malformed(void **state)
{
	static const char *const lines[] = {
		"Nov 25 22:51:20 dnsmasq[1]: 4 127.0.0.1/2 reply",
		"Nov 25 22:51:20 dnsmasq[1]: 4 127.0.0.1/2 reply  is 1.2.3.4",
		"Nov 25 22:51:20 dnsmasq[1]: 4 127.0.0.1/2 query[A]",
		"Nov 25 22:51:20 dnsmasq[1]: 4 127.0.0.1/2 query[] a.test from 1.2.3.4",
		"Nov 25 22:51:20 dnsmasq[1]: 4 127.0.0.1/2 query[AAAAAAAAAAAAAAAAAAAA] a from b",
		"Nov 25 22:51:20 dnsmasq[1]: 4 127.0.0.1/2 nftset add allow_v4 1.2.3.4",
		"Nov 25 22:51:20 dnsmasq[1]: 4 127.0.0.1/2 nftset add 4 inet t s 1.2.3.4/8 a.test",
		"Nov 25 22:51:20 dnsmasq[1]: 4 127.0.0.1/2 nftset add 4 inet t s 1.2.3.999 a.test",
		"Nov 25 22:51:20 dnsmasq[1]: 4 127.0.0.1/2 forwarded a.test to ",
		"Nov 25 22:51:20 dnsmasq[1]: 4 127.0.0.1/99999 query[A] a from 1.2.3.4",
		"Nov 25 22:51:20 dnsmasq[1]: 99999999999999999999999 127.0.0.1/1 query[A] a from b",
		"Nov 25 22:51:20 dnsmasq[99999999999]: hello",
		"Nov 25 22:51:20 dnsmasq[]: hello",
		"Nov 25 22:51:20 dnsmasq[1]",
		"dnsmasq[1]:",
		"[",
		"]:",
	};
	struct dnsmasq_log_rec rec;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
		int r = dnsmasq_log_parse_line(lines[i], strlen(lines[i]), &rec);

		if (r != DNSMASQ_LOG_OTHER && r != DNSMASQ_LOG_EMPTY)
			fail_msg("\"%s\" parsed as %s", lines[i], dnsmasq_log_kind_name(rec.kind));
		assert_string_equal(rec.name, "");
		assert_int_equal(rec.answer, DNSMASQ_ANSWER_NONE);
	}
	/* An over-long name does not fit the record. */
	{
		char line[DNSMASQ_LOG_LINE_MAX];
		int n = snprintf(line, sizeof(line), "dnsmasq[1]: 1 127.0.0.1/1 reply ");

		memset(line + n, 'a', 1100);
		snprintf(line + n + 1100, sizeof(line) - (size_t)n - 1100, " is 1.2.3.4");
		assert_int_equal(dnsmasq_log_parse_line(line, strlen(line), &rec),
				 DNSMASQ_LOG_OTHER);
	}
}

static void test_too_long(void **state)
{
	char *line = malloc(DNSMASQ_LOG_LINE_MAX + 2);
	struct dnsmasq_log_rec rec;

	(void)state;
	assert_non_null(line);
	memset(line, 'x', DNSMASQ_LOG_LINE_MAX + 1);
	assert_int_equal(dnsmasq_log_parse_line(line, DNSMASQ_LOG_LINE_MAX + 1, &rec),
			 DNSMASQ_LOG_TOO_LONG);
	assert_int_equal(dnsmasq_log_parse_line(line, DNSMASQ_LOG_LINE_MAX, &rec),
			 DNSMASQ_LOG_OTHER);
	/* The newline does not count. */
	line[DNSMASQ_LOG_LINE_MAX] = '\n';
	assert_int_equal(dnsmasq_log_parse_line(line, DNSMASQ_LOG_LINE_MAX + 1, &rec),
			 DNSMASQ_LOG_OTHER);
	free(line);
}

static void test_kind_names(void **state)
{
	(void)state;
	assert_string_equal(dnsmasq_log_kind_name(DNSMASQ_LOG_NFTSET), "nftset");
	assert_string_equal(dnsmasq_log_kind_name(DNSMASQ_LOG_TOO_LONG), "too_long");
	assert_string_equal(dnsmasq_log_kind_name((enum dnsmasq_log_kind)99), "other");
}

/*
 * The parser reads common IPv4 and IPv6 answers itself: whatever the text,
 * it takes exactly what addr_parse_host takes, as the same address.
 */
static void test_answer_addresses(void **state)
{
	static const char *const fixed[] = {
		"::",
		"::1",
		"1::",
		"1:2:3:4:5:6:7:8",
		"1:2:3:4:5:6:7::",
		"::2:3:4:5:6:7:8",
		"1:2:3:4:5:6:7:8:9",
		"1::2::3",
		":1::",
		"1:",
		":::",
		"12345::",
		"fe80::1%1",
		"::ffff:1.2.3.4",
		"2001:DB8::aBc",
		"0.0.0.0",
		"255.255.255.255",
		"256.1.1.1",
		"01.2.3.4",
		"1.2.3",
		"1.2.3.4.5",
		"1..2.3",
		"1.2.3.4.",
		"0:0:0:0:0:0:0:0",
		"1:2:3:4:5:6::7:8",
		"1:2:3:4:5:6:7:8::",
		"::1:2:3:4:5:6:7:8",
		"a::b:c",
	};
	static const char v6chars[] = "0123456789abcdefABCDEF::::";
	static const char v4chars[] = "0123456789..";
	uint32_t seed = 99;

	(void)state;
	for (int i = 0; i < 200000 + (int)ARRAY_SIZE(fixed); i++) {
		struct addr_prefix want;
		struct dnsmasq_log_rec rec;
		char text[64], line[160];
		size_t n = 0;
		bool ok;

		if (i < (int)ARRAY_SIZE(fixed)) {
			snprintf(text, sizeof(text), "%s", fixed[i]);
		} else {
			const char *set = i % 2 ? v6chars : v4chars;
			size_t setn = strlen(set);

			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 8) % (i % 2 ? 42 : 17);
			for (size_t k = 0; k < n; k++) {
				seed = seed * 1103515245u + 12345u;
				text[k] = set[(seed >> 10) % setn];
			}
			text[n] = '\0';
		}
		ok = addr_parse_host(text, strlen(text), &want, NULL) == 0;
		snprintf(line, sizeof(line),
			 "Nov 25 22:51:20 dnsmasq[1]: 4 127.0.0.1/2 reply a.test is %s", text);
		assert_int_equal(dnsmasq_log_parse_line(line, strlen(line), &rec),
				 DNSMASQ_LOG_REPLY);
		if (ok) {
			assert_int_equal(rec.answer, DNSMASQ_ANSWER_ADDR);
			assert_int_equal(rec.addr.family, want.family);
			assert_int_equal(rec.addr.plen, want.plen);
			assert_memory_equal(rec.addr.addr, want.addr, sizeof(want.addr));
		} else {
			assert_int_not_equal(rec.answer, DNSMASQ_ANSWER_ADDR);
		}
	}
}

/* ------------------------------------------------------------ splitter */

struct collected {
	char lines[16][128];
	char tails[16][DNSMASQ_LOG_TAIL_MAX + 1];
	bool too_long[16];
	uint64_t full_len[16], end[16];
	size_t n;
	int fail_at; /* refuse the line with this index (-1 = none) */
};

static int collect(const struct dnsmasq_log_line *l, void *ctx)
{
	struct collected *c = ctx;

	assert_true(c->n < 16);
	assert_true(l->len <= DNSMASQ_LOG_LINE_MAX);
	snprintf(c->lines[c->n], sizeof(c->lines[0]), "%.*s", (int)(l->len < 100 ? l->len : 100),
		 l->data);
	c->too_long[c->n] = l->too_long;
	c->full_len[c->n] = l->full_len;
	c->end[c->n] = l->end_offset;
	assert_true(l->tail_len <= DNSMASQ_LOG_TAIL_MAX);
	memcpy(c->tails[c->n], l->tail, l->tail_len);
	c->tails[c->n][l->tail_len] = '\0';
	if ((int)c->n++ == c->fail_at)
		return -ECANCELED;
	return 0;
}

static void test_split_byte_by_byte(void **state)
{
	const char *text = "one\ntwo\n\nthree";
	struct dnsmasq_log_split s;
	struct collected c = {.fail_at = -1};

	(void)state;
	dnsmasq_log_split_init(&s, 100);
	for (size_t i = 0; i < strlen(text); i++)
		assert_int_equal(dnsmasq_log_split_feed(&s, text + i, 1, collect, &c), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.lines[0], "one");
	assert_string_equal(c.lines[1], "two");
	assert_string_equal(c.lines[2], "");
	assert_int_equal(c.end[0], 104);
	assert_int_equal(c.end[1], 108);
	assert_int_equal(c.end[2], 109);
	assert_int_equal(s.consumed, 109);
	assert_int_equal(s.offset, 114);
	assert_int_equal(dnsmasq_log_split_pending(&s), 5);
	/* The partial tail completes with the next feed. */
	assert_int_equal(dnsmasq_log_split_feed(&s, "\n", 1, collect, &c), 0);
	assert_int_equal(c.n, 4);
	assert_string_equal(c.lines[3], "three");
	assert_int_equal(s.consumed, 115);
	assert_int_equal(dnsmasq_log_split_pending(&s), 0);
	/* The tail: every byte fed since init, up to and with the newline. */
	assert_string_equal(c.tails[0], "one\n");
	assert_string_equal(c.tails[2], "one\ntwo\n\n");
	assert_string_equal(c.tails[3], "one\ntwo\n\nthree\n");
}

static void test_split_cap(void **state)
{
	size_t big = DNSMASQ_LOG_LINE_MAX * 3 + 7;
	char *data = malloc(big + 10);
	struct dnsmasq_log_split *s = malloc(sizeof(*s));
	struct collected c = {.fail_at = -1};

	(void)state;
	assert_non_null(data);
	assert_non_null(s);
	memset(data, 'y', big);
	memcpy(data + big, "\nok\n", 4);
	dnsmasq_log_split_init(s, 0);
	/* Fed in odd chunks: the over-long line is held to the cap, its length counted. */
	for (size_t off = 0; off < big + 4;) {
		size_t n = big + 4 - off < 1000 ? big + 4 - off : 1000;

		assert_int_equal(dnsmasq_log_split_feed(s, data + off, n, collect, &c), 0);
		assert_true(s->len <= DNSMASQ_LOG_LINE_MAX);
		off += n;
	}
	assert_int_equal(c.n, 2);
	assert_true(c.too_long[0]);
	assert_int_equal(c.full_len[0], big);
	assert_int_equal(c.end[0], big + 1);
	assert_false(c.too_long[1]);
	assert_string_equal(c.lines[1], "ok");
	assert_int_equal(c.end[1], big + 4);
	/* The tail of the over-long line is its real end, not the kept prefix. */
	assert_int_equal(strlen(c.tails[0]), DNSMASQ_LOG_TAIL_MAX);
	assert_int_equal(c.tails[0][DNSMASQ_LOG_TAIL_MAX - 1], '\n');
	assert_int_equal(c.tails[0][0], 'y');
	assert_string_equal(c.tails[1] + DNSMASQ_LOG_TAIL_MAX - 4, "\nok\n");

	/* Exactly at the cap is still whole. */
	memset(&c, 0, sizeof(c));
	c.fail_at = -1;
	dnsmasq_log_split_init(s, 0);
	memset(data, 'z', DNSMASQ_LOG_LINE_MAX);
	data[DNSMASQ_LOG_LINE_MAX] = '\n';
	assert_int_equal(dnsmasq_log_split_feed(s, data, DNSMASQ_LOG_LINE_MAX + 1, collect, &c), 0);
	assert_int_equal(c.n, 1);
	assert_false(c.too_long[0]);
	free(data);
	free(s);
}

static void test_split_refusal(void **state)
{
	const char *text = "a\nb\nc\n";
	struct dnsmasq_log_split s;
	struct collected c = {.fail_at = 1};

	(void)state;
	dnsmasq_log_split_init(&s, 0);
	assert_int_equal(dnsmasq_log_split_feed(&s, text, 6, collect, &c), -ECANCELED);
	/* "b" counts as consumed, "c" was not taken. */
	assert_int_equal(c.n, 2);
	assert_int_equal(s.consumed, 4);
	assert_int_equal(s.offset, 4);
	c.fail_at = -1;
	assert_int_equal(dnsmasq_log_split_feed(&s, text + s.offset, 6 - s.offset, collect, &c), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.lines[2], "c");
	assert_int_equal(dnsmasq_log_split_feed(NULL, "x", 1, collect, &c), -EINVAL);
	assert_int_equal(dnsmasq_log_split_feed(&s, NULL, 1, collect, &c), -EINVAL);
}

/* Every line's view, recorded to compare one stream fed in different pieces. */
struct seen {
	struct {
		size_t len;
		bool too_long;
		uint64_t full_len, end;
		uint64_t data_hash;
		size_t tail_len;
		char tail[DNSMASQ_LOG_TAIL_MAX];
	} l[16384];
	size_t n;
	size_t refuse_at; /* refuse the line with this index (SIZE_MAX = none) */
};

static int record(const struct dnsmasq_log_line *l, void *ctx)
{
	struct seen *s = ctx;
	uint64_t h = 1469598103934665603ULL;

	assert_true(s->n < ARRAY_SIZE(s->l));
	for (size_t i = 0; i < l->len; i++)
		h = (h ^ (unsigned char)l->data[i]) * 1099511628211ULL;
	s->l[s->n].len = l->len;
	s->l[s->n].too_long = l->too_long;
	s->l[s->n].full_len = l->full_len;
	s->l[s->n].end = l->end_offset;
	s->l[s->n].data_hash = h;
	s->l[s->n].tail_len = l->tail_len;
	memcpy(s->l[s->n].tail, l->tail, l->tail_len);
	return s->n++ == s->refuse_at ? -ECANCELED : 0;
}

/* Feed text in pieces of at most max bytes (pseudo-random sizes; max 1: byte by byte). */
static int feed_pieces(struct dnsmasq_log_split *sp, const char *text, size_t len, size_t max,
		       struct seen *seen, uint32_t seed)
{
	for (size_t off = 0; off < len;) {
		size_t n;
		int r;

		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 8) % max;
		if (n > len - off)
			n = len - off;
		r = dnsmasq_log_split_feed(sp, text + off, n, record, seen);
		if (r < 0)
			return r;
		off += n;
	}
	return 0;
}

/*
 * The same stream gives the same lines, offsets and tails whether it comes
 * byte by byte (every line through the splitter's buffer), in odd pieces or
 * at once (most lines handed out where they lie in the caller's bytes),
 * and leaves the splitter in the same state, also when a line is refused.
 */
static void test_split_pieces(void **state)
{
	static struct seen one, other;
	struct dnsmasq_log_split a, b;
	size_t len = 0, cap = 600000;
	char *text = malloc(cap);
	uint32_t seed = 42;

	(void)state;
	assert_non_null(text);
	while (len < cap - 2 * DNSMASQ_LOG_LINE_MAX - 10) {
		size_t n;

		seed = seed * 1103515245u + 12345u;
		n = (seed >> 8) % 100 == 0 ? DNSMASQ_LOG_LINE_MAX - 2 + (seed >> 16) % 5
		    : (seed >> 8) % 7 == 0 ? (seed >> 12) % 8
					   : (seed >> 12) % 200;
		for (size_t i = 0; i < n; i++)
			text[len++] = (char)('a' + (seed + i * 7) % 26);
		text[len++] = '\n';
	}
	memcpy(text + len, "unfinished", 10);
	len += 10;

	memset(&one, 0, sizeof(one));
	one.refuse_at = SIZE_MAX;
	dnsmasq_log_split_init(&a, 7);
	assert_int_equal(feed_pieces(&a, text, len, 1, &one, 1), 0);
	assert_true(one.n > 1000);
	for (size_t max = 2; max <= 2 * len; max = max * 5 + 3) {
		memset(&other, 0, sizeof(other));
		other.refuse_at = SIZE_MAX;
		dnsmasq_log_split_init(&b, 7);
		assert_int_equal(feed_pieces(&b, text, len, max, &other, (uint32_t)max), 0);
		assert_int_equal(other.n, one.n);
		assert_memory_equal(other.l, one.l, one.n * sizeof(one.l[0]));
		assert_int_equal(b.offset, a.offset);
		assert_int_equal(b.consumed, a.consumed);
		assert_int_equal(b.partial, a.partial);
		assert_int_equal(b.len, a.len);
		assert_memory_equal(b.buf, a.buf, a.len);
		assert_int_equal(b.tail_len, a.tail_len);
		assert_memory_equal(b.tail, a.tail, a.tail_len);
	}
	/* Refused in the middle of one big feed: consumed up to that line, its tail kept. */
	memset(&other, 0, sizeof(other));
	other.refuse_at = one.n / 2;
	dnsmasq_log_split_init(&b, 7);
	assert_int_equal(dnsmasq_log_split_feed(&b, text, len, record, &other), -ECANCELED);
	assert_int_equal(other.n, one.n / 2 + 1);
	assert_int_equal(b.consumed, one.l[one.n / 2].end);
	assert_int_equal(b.offset, b.consumed);
	assert_int_equal(b.tail_len, one.l[one.n / 2].tail_len);
	assert_memory_equal(b.tail, one.l[one.n / 2].tail, b.tail_len);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_captured_lines),	cmocka_unit_test(test_line_endings),
		cmocka_unit_test(test_prefix_variants), cmocka_unit_test(test_crafted_names),
		cmocka_unit_test(test_malformed),	cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_kind_names),	cmocka_unit_test(test_split_byte_by_byte),
		cmocka_unit_test(test_split_cap),	cmocka_unit_test(test_split_refusal),
		cmocka_unit_test(test_split_pieces),	cmocka_unit_test(test_answer_addresses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
