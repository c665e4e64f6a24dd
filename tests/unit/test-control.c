/* SPDX-License-Identifier: Apache-2.0 */
/*
 * control: the pure parts of allow/deny: what a TARGET is, what a change
 * does to the bundle's lists, which learnt addresses a denied domain
 * leaves behind; and the bundle lock.
 */
#include "unit-helpers.h"

#include <errno.h>
#include <sys/file.h>
#include <sys/wait.h>

#include "shield/control.h"

/* ---------------------------------------------------------------- targets */

static void target_is(const char *text, bool ip, const char *canonical)
{
	struct control_target t;
	struct shield_error err = {0};

	if (control_target_parse(text, &t, &err) != 0)
		fail_msg("%s refused: %s", text, err.msg);
	assert_int_equal(t.is_ip, ip);
	assert_string_equal(t.text, canonical);
}

static void target_refused(const char *text, const char *needle)
{
	struct control_target t;
	struct shield_error err = {0};

	assert_int_equal(control_target_parse(text, &t, &err), -EINVAL);
	assert_msg_contains(&err, needle);
	assert_msg_printable(&err);
}

static void test_target_parse(void **state)
{
	(void)state;
	target_is("198.18.0.7", true, "198.18.0.7");
	target_is("198.18.0.0/15", true, "198.18.0.0/15");
	target_is("198.18.1.9/24", true, "198.18.1.0/24"); /* host bits cleared */
	target_is("2001:DB8::1", true, "2001:db8::1");
	target_is("fd00::/8", true, "fd00::/8");
	target_is("Example.COM.", false, "example.com");
	target_is("*.example.com", false, "example.com");
	target_is("a-b.c0.example", false, "a-b.c0.example");

	target_refused("", "empty target");
	target_refused("198.18.0.300", "198.18.0.300");
	target_refused("198.18.0.7/33", "198.18.0.7/33");
	target_refused("1.2.3", "1.2.3");
	target_refused("2001:db8::g", "2001:db8::g");
	target_refused("exa mple.com", "neither an IP/CIDR nor a valid domain");
	target_refused("localhost", "neither an IP/CIDR nor a valid domain");
	target_refused("a..b", "empty label");
	target_refused("x/y.com", "neither an IP/CIDR nor a valid domain");
	target_refused("bad\nname.com", "\\n");
}

/* ------------------------------------------------------------------- plan */

static void list_of(struct strlist *l, const char *items)
{
	char word[256];

	strlist_free(l);
	for (const char *p = items; *p;) {
		size_t n = strcspn(p, " ");

		if (n) {
			assert_true(n < sizeof(word));
			memcpy(word, p, n);
			word[n] = '\0';
			assert_int_equal(strlist_add(l, word), 0);
		}
		p += n;
		p += strspn(p, " ");
	}
}

static void assert_list(const struct strlist *l, const char *want)
{
	_cleanup_free_ char *got = strlist_join(l, " ");

	assert_non_null(got);
	assert_string_equal(got, want);
}

struct plan_case {
	enum control_action a;
	const char *target, *profile, *live, *denied;
	const char *live_after, *denied_after;
	bool live_changed, denied_changed, was_eff, now_eff;
};

static void test_plan(void **state)
{
	static const struct plan_case cases[] = {
		/* allow a new one: joins live */
		{CONTROL_ALLOW, "x", "", "", "", "x", "", true, false, false, true},
		/* allow what the profile has: nothing */
		{CONTROL_ALLOW, "x", "x", "", "", "", "", false, false, true, true},
		/* allow what live has: nothing */
		{CONTROL_ALLOW, "x", "", "a x", "", "a x", "", false, false, true, true},
		/* allow a denied profile entry: the deny goes, live stays */
		{CONTROL_ALLOW, "x", "x", "", "x", "", "", false, true, false, true},
		/* allow a denied new one: both */
		{CONTROL_ALLOW, "x", "", "a", "b x", "a x", "b", true, true, false, true},
		/* deny a new one: joins denied */
		{CONTROL_DENY, "x", "", "", "", "", "x", false, true, false, false},
		/* deny again: nothing */
		{CONTROL_DENY, "x", "", "", "x", "", "x", false, false, false, false},
		/* deny a live one: leaves live, joins denied */
		{CONTROL_DENY, "x", "", "a x b", "", "a b", "x", true, true, true, false},
		/* deny a profile one: the profile stays, the deny wins */
		{CONTROL_DENY, "x", "x", "", "", "", "x", false, true, true, false},
		/* deny something denied that live still holds (hand-edited): live cleaned */
		{CONTROL_DENY, "x", "", "x", "x", "", "x", true, false, false, false},
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct plan_case *c = &cases[i];
		struct strlist profile = STRLIST_INIT, live = STRLIST_INIT, denied = STRLIST_INIT;
		struct control_plan p;

		list_of(&profile, c->profile);
		list_of(&live, c->live);
		list_of(&denied, c->denied);
		assert_int_equal(
			control_plan_compute(c->a, c->target, &profile, &live, &denied, &p), 0);
		assert_list(&live, c->live_after);
		assert_list(&denied, c->denied_after);
		if (p.live_changed != c->live_changed || p.denied_changed != c->denied_changed ||
		    p.was_effective != c->was_eff || p.now_effective != c->now_eff)
			fail_msg("case %zu: live %d denied %d was %d now %d", i, p.live_changed,
				 p.denied_changed, p.was_effective, p.now_effective);
		assert_int_equal(p.now_denied, c->a == CONTROL_DENY);
		strlist_free(&profile);
		strlist_free(&live);
		strlist_free(&denied);
	}
}

/* Allow, deny, allow of the same target ends where a single allow would. */
static void test_plan_round_trip(void **state)
{
	struct strlist profile = STRLIST_INIT, live = STRLIST_INIT, denied = STRLIST_INIT;
	struct control_plan p;

	(void)state;
	assert_int_equal(control_plan_compute(CONTROL_ALLOW, "x", &profile, &live, &denied, &p), 0);
	assert_int_equal(control_plan_compute(CONTROL_DENY, "x", &profile, &live, &denied, &p), 0);
	assert_true(p.was_effective && !p.now_effective);
	assert_int_equal(control_plan_compute(CONTROL_ALLOW, "x", &profile, &live, &denied, &p), 0);
	assert_true(!p.was_effective && p.now_effective);
	assert_list(&live, "x");
	assert_list(&denied, "");
	strlist_free(&live);
	strlist_free(&denied);
}

/* ------------------------------------------------------------ stale answers */

static struct control_answer answer(const char *name, const char *addr)
{
	struct control_answer a = {0};

	snprintf(a.name, sizeof(a.name), "%s", name);
	assert_int_equal(addr_parse(addr, strlen(addr), &a.addr, NULL), 0);
	return a;
}

static void assert_addrs(const struct addr_prefix *v, size_t n, const char *want)
{
	char buf[1024] = "", text[ADDR_TEXT_MAX];

	for (size_t i = 0; i < n; i++) {
		addr_format(&v[i], text);
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? " " : "", text);
	}
	assert_string_equal(buf, want);
}

static void test_stale(void **state)
{
	struct control_answer answers[] = {
		answer("web.example.com", "198.18.0.1"),
		answer("example.com", "198.18.0.2"),
		answer("cdn.other.net", "198.18.0.2"), /* shared with a still-allowed domain */
		answer("example.com", "198.18.0.1"),   /* the same address again */
		answer("api.example.com", "2001:db8::5"),
		answer("static.example.com", "198.18.5.9"), /* a static entry covers it */
		answer("sub.kept.org", "198.18.0.3"),	    /* allowed parent, denied child */
		answer("kept.org", "198.18.0.4"),
		answer("unrelated.io", "198.18.0.6"),
	};
	struct strlist effective = STRLIST_INIT, denied = STRLIST_INIT;
	struct addr_prefix statics[1];
	_cleanup_free_ struct addr_prefix *out = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(addr_parse("198.18.5.0/24", 13, &statics[0], NULL), 0);
	list_of(&effective, "other.net kept.org unrelated.io");
	list_of(&denied, "example.com sub.kept.org");

	assert_int_equal(control_stale_addresses("example.com", answers, ARRAY_SIZE(answers),
						 &effective, &denied, statics, 1, &out, &n),
			 0);
	assert_addrs(out, n, "198.18.0.1 2001:db8::5");
	free(out);
	out = NULL;

	/* A denied subdomain of an allowed domain: its answers are its own, not kept.org's. */
	assert_int_equal(control_stale_addresses("sub.kept.org", answers, ARRAY_SIZE(answers),
						 &effective, &denied, statics, 1, &out, &n),
			 0);
	assert_addrs(out, n, "198.18.0.3");
	free(out);
	out = NULL;

	/* Nothing logged for it: nothing to remove. */
	assert_int_equal(control_stale_addresses("nothing.test", answers, ARRAY_SIZE(answers),
						 &effective, &denied, NULL, 0, &out, &n),
			 0);
	assert_int_equal(n, 0);
	free(out);
	out = NULL;
	assert_int_equal(
		control_stale_addresses("x.test", NULL, 0, &effective, &denied, NULL, 0, &out, &n),
		0);
	assert_int_equal(n, 0);
	strlist_free(&effective);
	strlist_free(&denied);
}

/* ------------------------------------------------------------------- lock */

static void test_lock(void **state)
{
	char dir[UNIT_ROOT_MAX], path[PATH_MAX];
	struct shield_error err = {0};
	struct stat st;
	int dirfd, fd, other;
	pid_t pid;
	int status;

	(void)state;
	unit_mkdtemp(dir);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dirfd >= 0);
	fd = control_lock(dirfd, &err);
	assert_true(fd >= 0);
	snprintf(path, sizeof(path), "%s/" CONTROL_LOCK_FILE, dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* Held: another open file description cannot take it. */
	other = open(path, O_RDWR | O_CLOEXEC);
	assert_true(other >= 0);
	assert_int_equal(flock(other, LOCK_EX | LOCK_NB), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	/* A second locker waits until the first lets go. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int f;

		close(fd); /* the inherited descriptor shares the parent's lock */
		close(other);
		f = control_lock(dirfd, NULL);

		_exit(f >= 0 ? 0 : 1);
	}
	usleep(50 * 1000);
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0); /* still waiting */
	close(fd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(other);

	/* A symlink in its place is refused, and so is a directory. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(control_lock(dirfd, &err), -ELOOP);
	assert_msg_contains(&err, "symlink");
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_true(control_lock(dirfd, &err) < 0);
	close(dirfd);
	unit_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_target_parse),
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_plan_round_trip),
		cmocka_unit_test(test_stale),
		cmocka_unit_test(test_lock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
