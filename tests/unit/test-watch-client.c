/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure parts of `shield watch` and `shield drift`: the capped line
 * reader of nftsetd's socket protocol (over a socketpair), the connect
 * errors, the answer parsing (a thread playing the server's side of one
 * exchange), and the text of reports, events and the watch screen, with
 * untrusted text cleaned for the terminal. The helper sources are compiled
 * in here: unit tests link libshield only.
 */
#include "unit-helpers.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <jansson.h>

#include "../../helper/nftsetd-client.c"
#include "../../helper/report-text.c"

/* ---------------------------------------------------------------- line reader */

static void write_str(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void test_lines_split_across_writes(void **state)
{
	static struct line_reader r;
	int sv[2];
	char *line;
	size_t len;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	line_reader_init(&r, sv[0]);
	write_str(sv[1], "{\"a\":1}\n{\"b\"");
	assert_int_equal(line_reader_next(&r, &line, &len), 1);
	assert_string_equal(line, "{\"a\":1}");
	assert_int_equal(len, 7);
	write_str(sv[1], ":2}\n\n");
	assert_int_equal(line_reader_next(&r, &line, &len), 1);
	assert_string_equal(line, "{\"b\":2}");
	assert_int_equal(line_reader_next(&r, &line, &len), 1);
	assert_int_equal(len, 0);
	/* A last line without its newline may be cut: dropped at the end of the stream. */
	write_str(sv[1], "{\"partial\"");
	close(sv[1]);
	assert_int_equal(line_reader_next(&r, &line, &len), 0);
	assert_int_equal(line_reader_next(&r, &line, &len), 0);
	close(sv[0]);
}

static void test_lines_nonblocking(void **state)
{
	static struct line_reader r;
	int sv[2];
	char *data;
	size_t len;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
	line_reader_init(&r, sv[0]);
	assert_int_equal(line_reader_lines(&r, &data, &len), -EAGAIN);
	write_str(sv[1], "one\ntwo\nthr");
	/* Every whole line at once, newlines kept; the unfinished one stays. */
	assert_int_equal(line_reader_lines(&r, &data, &len), 1);
	assert_int_equal(len, 8);
	assert_memory_equal(data, "one\ntwo\n", 8);
	assert_int_equal(line_reader_lines(&r, &data, &len), -EAGAIN);
	write_str(sv[1], "ee\n");
	assert_int_equal(line_reader_lines(&r, &data, &len), 1);
	assert_int_equal(len, 6);
	assert_memory_equal(data, "three\n", 6);
	close(sv[1]);
	assert_int_equal(line_reader_lines(&r, &data, &len), 0);
	close(sv[0]);
}

/* Feed a line of n bytes (plus newline) from a thread: it does not fit a socket buffer. */
struct feeder {
	int fd;
	size_t n;
};

static void *feed(void *arg)
{
	struct feeder *f = arg;
	char *buf = malloc(f->n + 1);

	memset(buf, 'x', f->n);
	buf[f->n] = '\n';
	for (size_t off = 0; off < f->n + 1;) {
		ssize_t w = write(f->fd, buf + off, f->n + 1 - off);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(buf);
	close(f->fd);
	return NULL;
}

static int read_long_line(size_t n, size_t *got)
{
	static struct line_reader r;
	struct feeder f;
	pthread_t t;
	int sv[2], ret;
	char *line;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f = (struct feeder){.fd = sv[1], .n = n};
	assert_int_equal(pthread_create(&t, NULL, feed, &f), 0);
	line_reader_init(&r, sv[0]);
	ret = line_reader_next(&r, &line, got);
	close(sv[0]); /* the feeder may still be writing the rest: it gets EPIPE */
	pthread_join(t, NULL);
	return ret;
}

static void test_line_cap(void **state)
{
	size_t got = 0;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	/* 64 KiB exactly is a line; one byte more is refused, not grown into. */
	assert_int_equal(read_long_line(NFTSETD_LINE_MAX, &got), 1);
	assert_int_equal(got, NFTSETD_LINE_MAX);
	assert_int_equal(read_long_line(NFTSETD_LINE_MAX + 1, &got), -EMSGSIZE);
}

/* ------------------------------------------------------------ connect, answers */

static void test_connect_not_running(void **state)
{
	char root[UNIT_ROOT_MAX], path[UNIT_DIR_MAX], expect[UNIT_DIR_MAX + 128];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct shield_error err = {0};
	int fd;

	(void)state;
	unit_mkdtemp(root);
	snprintf(path, sizeof(path), "%s/nftsetd.sock", root);
	snprintf(expect, sizeof(expect),
		 "nftsetd is not running (no socket at %s; start it with `systemctl start "
		 "nftsetd` or run `nftsetd`)",
		 path);
	assert_int_equal(nftsetd_connect(path, &err), -ENOENT);
	assert_string_equal(err.msg, expect);

	/* A socket file nobody listens on (nftsetd was killed) reads the same. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	memset(&err, 0, sizeof(err));
	assert_int_equal(nftsetd_connect(path, &err), -ENOENT);
	assert_string_equal(err.msg, expect);

	/* A path too long for sun_path is said so. */
	memset(path, 'a', 200);
	path[0] = '/';
	path[200] = '\0';
	assert_int_equal(nftsetd_connect(path, &err), -ENAMETOOLONG);
	unit_rmtree(root);
}

static void test_socket_path(void **state)
{
	char path[PATH_MAX];
	struct shield_error err = {0};

	(void)state;
	setenv("SHIELD_NFTSETD_SOCKET", "/run/x/custom.sock", 1);
	assert_int_equal(nftsetd_socket_path(path, sizeof(path), &err), 0);
	assert_string_equal(path, "/run/x/custom.sock");
	unsetenv("SHIELD_NFTSETD_SOCKET");
	setenv("SHIELD_RUNTIME_DIR", "/run/rt", 1);
	assert_int_equal(nftsetd_socket_path(path, sizeof(path), &err), 0);
	assert_string_equal(path, "/run/rt/nftsetd.sock");
	unsetenv("SHIELD_RUNTIME_DIR");
}

/* One exchange on a listening socket: read the request line, answer, close. */
struct server {
	int lfd;
	const char *answer;
	size_t answer_len;
	char request[512];
};

static void *serve_once(void *arg)
{
	struct server *s = arg;
	int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
	size_t n = 0;
	ssize_t r;

	while (n < sizeof(s->request) - 1 && (r = read(fd, s->request + n, 1)) == 1 &&
	       s->request[n] != '\n')
		n++;
	s->request[n] = '\0';
	/* The client may stop reading (an answer over its cap): then the rest gets EPIPE. */
	for (size_t off = 0; off < s->answer_len;) {
		ssize_t w = write(fd, s->answer + off, s->answer_len - off);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fd);
	return NULL;
}

static int exchange_n(const char *answer, size_t answer_len, const char *container, char *request,
		      json_t **out, struct shield_error *err)
{
	char root[UNIT_ROOT_MAX], path[UNIT_DIR_MAX];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct server s = {.answer = answer, .answer_len = answer_len};
	pthread_t t;
	int r;

	unit_mkdtemp(root);
	snprintf(path, sizeof(path), "%s/s", root);
	s.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(s.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s.lfd, 1), 0);
	assert_int_equal(pthread_create(&t, NULL, serve_once, &s), 0);
	r = nftsetd_report(path, container, out, err);
	pthread_join(t, NULL);
	close(s.lfd);
	snprintf(request, 512, "%s", s.request);
	unit_rmtree(root);
	return r;
}

static int exchange(const char *answer, const char *container, char *request, json_t **out,
		    struct shield_error *err)
{
	return exchange_n(answer, strlen(answer), container, request, out, err);
}

static void test_report_exchange(void **state)
{
	struct shield_error err = {0};
	char request[512];
	json_t *report = NULL;

	(void)state;
	assert_int_equal(
		exchange("{\"version\":1,\"containers\":[]}\n", "web", request, &report, &err), 0);
	assert_string_equal(request, "{\"request\":\"report\",\"container\":\"web\"}");
	assert_true(json_is_array(json_object_get(report, "containers")));
	json_decref(report);

	assert_int_equal(exchange("{\"error\":\"no watched container is named \\\"x\\\"\"}\n", NULL,
				  request, &report, &err),
			 -EPROTO);
	assert_string_equal(request, "{\"request\":\"report\"}");
	assert_string_equal(err.msg, "nftsetd: no watched container is named \"x\"");

	assert_int_equal(exchange("not json\n", NULL, request, &report, &err), -EPROTO);
	assert_int_equal(exchange("{\"version\":1}\n", NULL, request, &report, &err), -EPROTO);
	assert_int_equal(exchange("", NULL, request, &report, &err), -ECONNRESET);
}

/*
 * A report answer of exactly len bytes plus its newline: n containers, then
 * a padding string that brings the line to len.
 */
static char *report_of_size(size_t n, size_t len)
{
	static const char head[] = "{\"version\":1,\"containers\":[";
	static const char tail[] = "],\"pad\":\"";
	char *buf = malloc(len + 1);
	size_t off = 0;

	assert_non_null(buf);
	memcpy(buf, head, sizeof(head) - 1);
	off = sizeof(head) - 1;
	for (size_t i = 0; i < n; i++) {
		char c[128];
		int w = snprintf(c, sizeof(c),
				 "%s{\"id\":\"c%05zu\",\"name\":\"n%zu\",\"clean\":true}",
				 i ? "," : "", i, i);

		assert_true(off + (size_t)w + sizeof(tail) + 2 < len);
		memcpy(buf + off, c, (size_t)w);
		off += (size_t)w;
	}
	memcpy(buf + off, tail, sizeof(tail) - 1);
	off += sizeof(tail) - 1;
	memset(buf + off, 'x', len - 2 - off);
	buf[len - 2] = '"';
	buf[len - 1] = '}';
	buf[len] = '\n';
	return buf;
}

static void test_report_large(void **state)
{
	struct shield_error err = {0};
	char request[512], *text;
	json_t *report = NULL;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	/* 20,000 containers, 1 MiB: far past the 64 KiB of an event line. */
	text = report_of_size(20000, 1024 * 1024);
	assert_int_equal(exchange_n(text, 1024 * 1024 + 1, NULL, request, &report, &err), 0);
	assert_int_equal(json_array_size(json_object_get(report, "containers")), 20000);
	assert_string_equal(
		json_string_value(json_object_get(
			json_array_get(json_object_get(report, "containers"), 19999), "id")),
		"c19999");
	json_decref(report);
	free(text);

	/* The cap exactly is a report; one byte more is refused with a clear error. */
	text = report_of_size(3, NFTSETD_REPORT_MAX);
	assert_int_equal(exchange_n(text, NFTSETD_REPORT_MAX + 1, NULL, request, &report, &err), 0);
	assert_int_equal(json_array_size(json_object_get(report, "containers")), 3);
	json_decref(report);
	free(text);
	text = report_of_size(3, NFTSETD_REPORT_MAX + 1);
	assert_int_equal(exchange_n(text, NFTSETD_REPORT_MAX + 2, NULL, request, &report, &err),
			 -EMSGSIZE);
	assert_string_equal(err.msg,
			    "nftsetd's report is larger than 64 MiB; ask for one container "
			    "(NAME or --state-dir)");
	free(text);

	/* An answer cut off before its newline is not parsed. */
	assert_int_equal(
		exchange("{\"version\":1,\"containers\":[]}", NULL, request, &report, &err),
		-ECONNRESET);
	assert_string_equal(err.msg, "nftsetd closed the connection in the middle of its answer");
}

/* ------------------------------------------------------------------- the text */

static void test_term_clean(void **state)
{
	char out[64];

	(void)state;
	term_clean("nft", out, sizeof(out));
	assert_string_equal(out, "nft");
	/* An escape sequence in a process name never reaches the terminal. */
	term_clean("a\033[2Jb\r\n\x7f", out, sizeof(out));
	assert_string_equal(out, "a?[2Jb???");
	/* UTF-8 stays, broken UTF-8 and C1 controls do not. */
	term_clean("caf\xc3\xa9 \xc3 \xc2\x9b \xe2\x80\x94", out, sizeof(out));
	assert_string_equal(out, "caf\xc3\xa9 ? ?? \xe2\x80\x94");
	/* Cut to fit, never inside a character. */
	term_clean("ab\xe2\x80\x94", out, 4);
	assert_string_equal(out, "ab");
	term_clean(NULL, out, sizeof(out));
	assert_string_equal(out, "");
}

static void test_spans_and_clocks(void **state)
{
	char out[32];

	(void)state;
	assert_string_equal(ms_span(300, out), "0.3s");
	assert_string_equal(ms_span(9999, out), "9.9s");
	assert_string_equal(ms_span(1798000, out), "29m58s");
	assert_string_equal(ms_span(3720000, out), "1h02m");
	assert_string_equal(ms_span(90000000, out), "1d01h");
	assert_string_equal(ms_span(-1, out), "expired");
	assert_string_equal(ts_clock("2026-11-25T21:13:46.123+00:00", out), "21:13:46");
	assert_string_equal(ts_clock("yesterday\033", out), "yesterday?");
}

static json_t *load(const char *text)
{
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);

	assert_non_null(o);
	return o;
}

static void test_event_line(void **state)
{
	json_t *ev;
	char out[512];

	(void)state;
	ev = load("{\"ts\":\"2026-11-25T21:13:46.123+00:00\",\"id\":7,\"container\":\"web\","
		  "\"kind\":\"drift.unexplained\",\"ip\":\"198.18.9.9\",\"set\":\"allow_v4\","
		  "\"pid\":4121,\"comm\":\"nft\"}");
	event_line(ev, true, out, sizeof(out));
	assert_string_equal(out, "21:13:46 web drift.unexplained 198.18.9.9 allow_v4 by nft[4121]");
	event_line(ev, false, out, sizeof(out));
	assert_string_equal(out, "21:13:46 drift.unexplained 198.18.9.9 allow_v4 by nft[4121]");
	json_decref(ev);

	ev = load(
		"{\"ts\":\"2026-11-25T21:13:46.123+00:00\",\"container\":\"web\","
		"\"kind\":\"rotation\",\"domain\":\"rot.shield.test\",\"added\":[\"198.18.1.21\"],"
		"\"removed\":[\"198.18.1.20\",\"198.18.1.22\"],\"age_ms\":61000}");
	event_line(ev, true, out, sizeof(out));
	assert_string_equal(out, "21:13:46 web rotation rot.shield.test +198.18.1.21 -198.18.1.20 "
				 "-198.18.1.22 (previous answer 1m01s old)");
	json_decref(ev);

	ev = load(
		"{\"ts\":\"x\",\"kind\":\"drift.missing\",\"ip\":\"198.18.5.5\",\"repaired\":true,"
		"\"detail\":\"static entry\\u001b[0m\"}");
	event_line(ev, false, out, sizeof(out));
	assert_string_equal(out, "x drift.missing 198.18.5.5 repaired: static entry?[0m");
	/* A small buffer cuts the line, still terminated. */
	event_line(ev, false, out, 12);
	assert_string_equal(out, "x drift.mis");
	json_decref(ev);
}

static const char report_text[] =
	"{\"version\":1,\"generated\":\"2026-11-25T21:13:47.000+00:00\",\"containers\":[{"
	"\"id\":\"web\",\"name\":\"web\",\"state_dir\":\"/b/web\",\"netns\":\"/run/netns/w\","
	"\"source\":\"attach\",\"mode\":\"up\",\"dns_policy\":\"strict\","
	"\"dnsmasq\":{\"pid\":42,\"alive\":true},"
	"\"domains\":[{\"domain\":\"allowed.shield.test\",\"addresses\":[{\"ip\":\"198.18.1.2\","
	"\"set\":\"allow_v4\",\"expires_in_ms\":1798000}],\"last_answer\":\"2026-11-25T21:13:40."
	"000+"
	"00:00\",\"last_rotation\":null},{\"domain\":\"rot.shield.test\",\"addresses\":[],"
	"\"last_answer\":null,\"last_rotation\":null}],\"blocked_queries\":3,"
	"\"checks\":[{\"kind\":\"drift.unexplained\",\"state\":\"open\",\"count\":1,\"open\":[{"
	"\"ts\":\"2026-11-25T21:13:46.123+00:00\",\"id\":7,\"container\":\"web\","
	"\"kind\":\"drift.unexplained\",\"ip\":\"198.18.9.9\",\"set\":\"allow_v4\",\"pid\":4121,"
	"\"comm\":\"nft\"}]},{\"kind\":\"drift.missing\",\"state\":\"ok\",\"count\":2,\"open\":[]}]"
	","
	"\"clean\":false}]}";

static void test_report_print(void **state)
{
	json_t *report = load(report_text);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	report_print(f, report, "nftsetd");
	fclose(f);
	assert_non_null(strstr(text, "nftsetd report generated 2026-11-25T21:13:47.000+00:00, 1 "
				     "container\n"));
	assert_non_null(strstr(text, "\nweb  /b/web, attach\n"));
	assert_non_null(strstr(text, "  mode up, dns strict, dnsmasq pid 42 alive, 2 domains, 3 "
				     "blocked queries\n"));
	assert_non_null(strstr(text, "    allowed.shield.test: 198.18.1.2 29m58s left\n"));
	assert_non_null(strstr(text, "    rot.shield.test: no address now\n"));
	assert_non_null(strstr(text, "  OPEN  drift.unexplained    1 event, 1 open\n"
				     "          21:13:46 drift.unexplained 198.18.9.9 allow_v4 by "
				     "nft[4121]\n"));
	assert_non_null(strstr(text, "  ok    drift.missing        2 events\n"));
	assert_non_null(strstr(text, "  DRIFT: 1 check open\n"));
	assert_false(
		report_container_clean(json_array_get(json_object_get(report, "containers"), 0)));
	free(text);
	json_decref(report);
}

static void test_watch_screen(void **state)
{
	json_t *report = load(report_text), *recent[5];
	struct screen s = {0};
	char ev[256];

	(void)state;
	for (int i = 0; i < 5; i++) {
		snprintf(ev, sizeof(ev),
			 "{\"ts\":\"2026-11-25T21:13:4%d.000+00:00\",\"container\":\"web\","
			 "\"kind\":\"blocked_query\",\"domain\":\"q%d.test\"}",
			 i, i);
		recent[i] = load(ev);
	}
	assert_int_equal(watch_screen_build(&s, report, recent, 5, 40, "nftsetd live 21:13:47"), 0);
	assert_string_equal(s.lines[0], "shield watch \xc2\xb7 1 container \xc2\xb7 nftsetd live "
					"21:13:47 \xc2\xb7 times UTC \xc2\xb7 q or Ctrl-C quits");
	assert_string_equal(s.lines[2], "web  mode up \xc2\xb7 dns strict \xc2\xb7 dnsmasq pid 42 "
					"alive \xc2\xb7 DRIFT OPEN");
	assert_string_equal(s.lines[3],
			    "  DOMAIN               ADDRESS     SET       TTL LEFT  LAST "
			    "ROTATION");
	assert_string_equal(s.lines[4], "  allowed.shield.test  198.18.1.2  allow_v4  29m58s    -");
	assert_string_equal(s.lines[5], "  rot.shield.test      (none)                          -");
	assert_string_equal(s.lines[6], "  blocked queries: 3");
	assert_string_equal(s.lines[7], "  open: 21:13:46 drift.unexplained 198.18.9.9 allow_v4 by "
					"nft[4121]");
	assert_string_equal(s.lines[9], "recent events");
	assert_string_equal(s.lines[14], "  21:13:44 web blocked_query q4.test");
	assert_int_equal(s.n, 15);

	/* A short terminal: the newest events that fit, the screen exactly full. */
	assert_int_equal(watch_screen_build(&s, report, recent, 5, 13, "x"), 0);
	assert_int_equal(s.n, 13);
	assert_string_equal(s.lines[9], "recent events");
	assert_string_equal(s.lines[10], "  21:13:42 web blocked_query q2.test");
	assert_string_equal(s.lines[12], "  21:13:44 web blocked_query q4.test");

	screen_reset(&s);
	free(s.lines);
	for (int i = 0; i < 5; i++)
		json_decref(recent[i]);
	json_decref(report);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_split_across_writes),
		cmocka_unit_test(test_lines_nonblocking),
		cmocka_unit_test(test_line_cap),
		cmocka_unit_test(test_connect_not_running),
		cmocka_unit_test(test_socket_path),
		cmocka_unit_test(test_report_exchange),
		cmocka_unit_test(test_report_large),
		cmocka_unit_test(test_term_clean),
		cmocka_unit_test(test_spans_and_clocks),
		cmocka_unit_test(test_event_line),
		cmocka_unit_test(test_report_print),
		cmocka_unit_test(test_watch_screen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
