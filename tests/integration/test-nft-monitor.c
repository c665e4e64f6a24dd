/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nftables notifications from the real kernel. The test makes two network
 * namespaces: A, where shield's ruleset lives and the monitor listens
 * (opened through its netns fd, from B), and B, the test's own, where the
 * same writes must go unnoticed. Writers are real processes: nft, dnsmasq
 * with nftset answering from a test upstream on loopback, and libshield
 * itself. Each transaction must name its writer (comm and pid).
 *
 * `test-nft-monitor --capture DIR` instead saves the raw notification
 * datagrams of each scenario as DIR/NAME.bin: the seeds of
 * tests/fuzz/corpus/nft-notify/, which the unit test decodes as well.
 */
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "shield/nft-monitor.h"
#include "shield/nft-netlink.h"

#define UPSTREAM_ADDR "127.0.0.2"
#define NAME_ALLOWED  "allowed.shield.test"
#define ADDR_ALLOWED  "198.18.5.5"
#define NAME_READY    "ready.shield.test"

static int ns_a = -1;	  /* the namespace under watch */
static bool exact_pid;	  /* no nested pid namespace: the kernel's pid is our pid */
static char own_comm[16]; /* this test's comm, as the kernel names it */
static char tmpdir[] = "/tmp/shield-nmon-XXXXXX";
static pid_t dns_upstream = -1, dns_shield = -1;
static const char *capture_dir; /* --capture DIR */

/* ---- processes in namespace A ------------------------------------------ */

static pid_t spawn_in_a(const char *const argv[], bool quiet)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (setns(ns_a, CLONE_NEWNET) < 0)
			_exit(126);
		if (quiet) {
			int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

			if (null >= 0) {
				dup2(null, STDOUT_FILENO);
				dup2(null, STDERR_FILENO);
			}
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static int wait_exit(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Run a command in A to its end; returns its pid, fails the test unless it exits 0. */
static pid_t run_in_a(const char *arg0, ...)
{
	const char *argv[16];
	size_t n = 0;
	va_list ap;
	pid_t pid;
	int rc;

	argv[n++] = arg0;
	va_start(ap, arg0);
	while (n < 15 && (argv[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	pid = spawn_in_a(argv, false);
	rc = wait_exit(pid);
	if (rc != 0)
		fail_msg("%s %s exited %d", arg0, n > 1 ? argv[1] : "", rc);
	return pid;
}

static pid_t nft_in_a(const char *cmd)
{
	return run_in_a("nft", cmd, NULL);
}

/* ---- the ruleset ------------------------------------------------------- */

static struct addr_prefix P(const char *s) {
	struct addr_prefix p;

	assert_int_equal(addr_parse(s, strlen(s), &p, NULL), 0);
	return p;
}

static void
apply_ruleset(int nsfd)
{
	static struct addr_prefix allow[1], deny[1];
	struct nft_ruleset_params p = {.mode = SHIELD_MODE_UP, .set_timeout = 1800};
	struct nft_ruleset rs;
	struct nft_sock *s = NULL;
	struct shield_error err = {0};

	p.upstream = P(UPSTREAM_ADDR);
	allow[0] = P("198.18.1.2");
	deny[0] = P("198.18.1.4");
	p.allow = allow;
	p.n_allow = 1;
	p.deny = deny;
	p.n_deny = 1;
	if (nft_ruleset_build(&p, &rs, &err) < 0)
		fail_msg("build: %s", err.msg);
	if (nft_sock_open_in(nsfd, &s, &err) < 0)
		fail_msg("socket: %s", err.msg);
	if (nft_apply_ruleset(s, &rs, &err) < 0)
		fail_msg("apply: %s", err.msg);
	nft_ruleset_free(&rs);
	nft_sock_close(s);
}

/* ---- what the monitor delivers ------------------------------------------- */

struct txn_copy {
	struct nft_txn t; /* changes point at copy */
	struct nft_change *copy;
};

struct seen {
	struct txn_copy txns[32];
	size_t n;
};

static int collect(const struct nft_txn *t, void *data)
{
	struct seen *s = data;
	struct txn_copy *c;

	if (s->n == ARRAY_SIZE(s->txns))
		return -E2BIG;
	c = &s->txns[s->n++];
	c->t = *t;
	c->copy = calloc(t->n_changes, sizeof(*c->copy));
	assert_non_null(c->copy);
	memcpy(c->copy, t->changes, t->n_changes * sizeof(*c->copy));
	c->t.changes = c->copy;
	return 0;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->txns[i].copy);
	s->n = 0;
}

static struct nft_monitor *monitor_open_a(size_t rcvbuf)
{
	struct nft_monitor *m = NULL;
	struct shield_error err = {0};

	if (nft_monitor_open(ns_a, rcvbuf, &m, &err) < 0)
		fail_msg("monitor: %s", err.msg);
	assert_true(nft_monitor_fd(m) >= 0);
	/* Non-blocking and close-on-exec from birth. */
	assert_true(fcntl(nft_monitor_fd(m), F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(nft_monitor_fd(m), F_GETFD) & FD_CLOEXEC);
	return m;
}

/* Read everything pending; the result must be expect (0 or NFT_MONITOR_LOST). */
static void read_expect(struct nft_monitor *m, struct seen *s, int expect)
{
	struct shield_error err = {0};
	int r = nft_monitor_read(m, collect, s, &err);

	if (r != expect)
		fail_msg("nft_monitor_read: %d, expected %d (%s)", r, expect, err.msg);
}

/* The one transaction a single write produced. */
static const struct nft_txn *only_txn(const struct seen *s)
{
	if (s->n != 1)
		fail_msg("expected one transaction, got %zu", s->n);
	assert_false(s->txns[0].t.partial);
	return &s->txns[0].t;
}

static void assert_writer(const struct nft_txn *t, const char *comm, pid_t pid)
{
	assert_string_equal(t->comm, comm);
	assert_true(t->pid > 0);
	if (exact_pid)
		assert_int_equal(t->pid, pid);
}

static size_t count_kind(const struct nft_txn *t, enum nft_change_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n_changes; i++)
		n += t->changes[i].kind == kind;
	return n;
}

static const struct nft_change *find_elem(const struct nft_txn *t, enum nft_change_kind kind,
					  const char *prefix)
{
	struct addr_prefix want = P(prefix);

	for (size_t i = 0; i < t->n_changes; i++)
		if (t->changes[i].kind == kind && t->changes[i].is_prefix &&
		    addr_equal(&t->changes[i].prefix, &want))
			return &t->changes[i];
	return NULL;
}

/* ---- tests ------------------------------------------------------------------- */

static int fresh_ruleset(void **state)
{
	(void)state;
	apply_ruleset(ns_a);
	return 0;
}

/* Our own apply: one transaction, our pid and comm, the whole table with its static elements. */
static void test_apply_is_one_transaction(void **state)
{
	struct nft_monitor *m = monitor_open_a(0);
	struct seen s = {0};
	const struct nft_txn *t;
	const struct nft_change *e;
	size_t last_table_add = 0, table_del = SIZE_MAX;

	(void)state;
	apply_ruleset(ns_a); /* replaces the table the fixture made */
	read_expect(m, &s, 0);
	t = only_txn(&s);
	assert_writer(t, own_comm, getpid());
	for (size_t i = 0; i < t->n_changes; i++) {
		if (t->changes[i].kind == NFT_CHANGE_TABLE_ADD)
			last_table_add = i;
		if (t->changes[i].kind == NFT_CHANGE_TABLE_DEL && table_del == SIZE_MAX)
			table_del = i;
		assert_false(t->changes[i].kind == NFT_CHANGE_OTHER);
	}
	/* A replace: the old table goes, then the new one comes, in the kernel's order. */
	assert_true(table_del < last_table_add);
	assert_string_equal(t->changes[last_table_add].name, NFT_TABLE_NAME);
	assert_int_equal(count_kind(t, NFT_CHANGE_SET_ADD), NFT_SET_COUNT);
	assert_int_equal(count_kind(t, NFT_CHANGE_CHAIN_ADD), NFT_CHAIN_COUNT);
	assert_true(count_kind(t, NFT_CHANGE_RULE_ADD) > 5);
	for (size_t i = 0; i < t->n_changes; i++) {
		const struct nft_change *c = &t->changes[i];

		if (c->kind == NFT_CHANGE_CHAIN_ADD && c->chain == NFT_CHAIN_OUTPUT) {
			assert_true(c->has_policy);
			assert_int_equal(c->policy, NF_DROP);
		}
		if (c->kind == NFT_CHANGE_RULE_ADD) {
			assert_true(c->chain >= 0);
			assert_true(c->has_handle && c->handle > 0);
		}
	}
	/* The static elements: explicit timeout 0, so no expiration. */
	e = find_elem(t, NFT_CHANGE_ELEM_ADD, "198.18.1.2");
	assert_non_null(e);
	assert_int_equal(e->set, NFT_SET_ALLOW_V4);
	assert_true(e->elem.has_timeout);
	assert_int_equal(e->elem.timeout_ms, 0);
	assert_false(e->elem.has_expiration);
	e = find_elem(t, NFT_CHANGE_ELEM_ADD, "198.18.1.4");
	assert_non_null(e);
	assert_int_equal(e->set, NFT_SET_DENY_V4);
	assert_int_equal(count_kind(t, NFT_CHANGE_ELEM_ADD), 2);
	seen_free(&s);
	/* Nothing more: the socket is drained. */
	read_expect(m, &s, 0);
	assert_int_equal(s.n, 0);
	nft_monitor_close(m);
}

/* The acceptance case: `nft add element` from outside names 198.18.9.9, allow_v4 and nft. */
static void test_nft_add_and_delete_element(void **state)
{
	struct nft_monitor *m = monitor_open_a(0);
	struct seen s = {0};
	const struct nft_txn *t;
	const struct nft_change *c;
	struct nft_monitor_stats st;
	pid_t pid;

	(void)state;
	pid = nft_in_a("add element inet terok_shield allow_v4 { 198.18.9.9 }");
	read_expect(m, &s, 0);
	t = only_txn(&s);
	assert_writer(t, "nft", pid);
	assert_int_equal(t->n_changes, 1); /* nft's interval sentinel is no change */
	c = &t->changes[0];
	assert_int_equal(c->kind, NFT_CHANGE_ELEM_ADD);
	assert_string_equal(c->name, "allow_v4");
	assert_int_equal(c->set, NFT_SET_ALLOW_V4);
	assert_true(c->is_prefix);
	assert_true(addr_equal(
		&c->prefix,
		&(struct addr_prefix){.family = AF_INET, .addr = {198, 18, 9, 9}, .plen = 32}));
	/* The set's default timeout applies: an expiration, no timeout of its own. */
	assert_true(c->elem.has_expiration);
	assert_true(c->elem.expires_ms > 0 && c->elem.expires_ms <= 1800 * 1000);
	nft_monitor_stats(m, &st);
	assert_int_equal(st.transactions, 1);
	assert_int_equal(st.last_gen_id, t->gen_id);
	seen_free(&s);

	pid = nft_in_a("delete element inet terok_shield allow_v4 { 198.18.9.9 }");
	read_expect(m, &s, 0);
	t = only_txn(&s);
	assert_writer(t, "nft", pid);
	assert_int_equal(t->n_changes, 1);
	assert_non_null(find_elem(t, NFT_CHANGE_ELEM_DEL, "198.18.9.9"));
	seen_free(&s);
	nft_monitor_close(m);
}

/* Ranges, own timeouts and IPv6 in one nft transaction. */
static void test_nft_ranges_and_v6(void **state)
{
	struct nft_monitor *m = monitor_open_a(0);
	struct seen s = {0};
	const struct nft_txn *t;
	const struct nft_change *c;
	pid_t pid;

	(void)state;
	pid = nft_in_a("add element inet terok_shield allow_v4 { 198.18.10.0/24 timeout 10s, "
		       "198.18.11.1 }; add element inet terok_shield allow_v6 { 2001:db8:9::/48 }; "
		       "add element inet terok_shield deny_v4 { 198.18.12.1-198.18.12.6 }");
	read_expect(m, &s, 0);
	t = only_txn(&s);
	assert_writer(t, "nft", pid);
	assert_int_equal(count_kind(t, NFT_CHANGE_ELEM_ADD), 4);
	c = find_elem(t, NFT_CHANGE_ELEM_ADD, "198.18.10.0/24");
	assert_non_null(c);
	assert_true(c->elem.has_timeout);
	assert_int_equal(c->elem.timeout_ms, 10000);
	assert_true(c->elem.expires_ms > 0 && c->elem.expires_ms <= 10000);
	c = find_elem(t, NFT_CHANGE_ELEM_ADD, "198.18.11.1");
	assert_non_null(c);
	assert_false(c->elem.has_timeout);
	c = find_elem(t, NFT_CHANGE_ELEM_ADD, "2001:db8:9::/48");
	assert_non_null(c);
	assert_int_equal(c->set, NFT_SET_ALLOW_V6);
	assert_int_equal(c->elem.family, AF_INET6);
	/* A range that is no prefix comes as a range. */
	for (size_t i = 0; i < t->n_changes; i++) {
		c = &t->changes[i];
		if (c->set != NFT_SET_DENY_V4)
			continue;
		assert_false(c->is_prefix);
		assert_memory_equal(c->elem.first, ((uint8_t[]){198, 18, 12, 1}), 4);
		assert_memory_equal(c->elem.last, ((uint8_t[]){198, 18, 12, 6}), 4);
	}
	seen_free(&s);
	nft_monitor_close(m);
}

/* A write through libshield names this very process. */
static void test_own_write_names_us(void **state)
{
	struct nft_monitor *m = monitor_open_a(0);
	struct nft_sock *sock = NULL;
	struct shield_error err = {0};
	struct addr_prefix p[2] = {P("198.18.20.1"), P("2001:db8:20::1")};
	struct seen s = {0};
	const struct nft_txn *t;
	const struct nft_change *c;

	(void)state;
	assert_int_equal(nft_sock_open_in(ns_a, &sock, &err), 0);
	assert_int_equal(nft_elems_add(sock, NFT_SET_ALLOW_V4, &p[0], 1, 60000, &err), 0);
	read_expect(m, &s, 0);
	t = only_txn(&s);
	assert_writer(t, own_comm, getpid());
	c = find_elem(t, NFT_CHANGE_ELEM_ADD, "198.18.20.1");
	assert_non_null(c);
	assert_true(c->elem.has_timeout);
	assert_int_equal(c->elem.timeout_ms, 60000);
	seen_free(&s);
	assert_int_equal(
		nft_elems_add(sock, NFT_SET_ALLOW_V6, &p[1], 1, NFT_TIMEOUT_SET_DEFAULT, &err), 0);
	assert_int_equal(nft_elems_delete(sock, NFT_SET_ALLOW_V4, &p[0], 1, &err), 0);
	read_expect(m, &s, 0);
	assert_int_equal(s.n, 2);
	assert_non_null(find_elem(&s.txns[0].t, NFT_CHANGE_ELEM_ADD, "2001:db8:20::1"));
	assert_non_null(find_elem(&s.txns[1].t, NFT_CHANGE_ELEM_DEL, "198.18.20.1"));
	assert_int_equal(s.txns[1].t.gen_id, s.txns[0].t.gen_id + 1);
	seen_free(&s);
	nft_sock_close(sock);
	nft_monitor_close(m);
}

/* Policy changes, foreign rules, and the table's deletion are reported. */
static void test_tampering(void **state)
{
	struct nft_monitor *m = monitor_open_a(0);
	struct seen s = {0};
	const struct nft_txn *t;
	pid_t pid;

	(void)state;
	pid = nft_in_a("chain inet terok_shield output { policy accept; }");
	read_expect(m, &s, 0);
	t = only_txn(&s);
	assert_writer(t, "nft", pid);
	assert_int_equal(t->n_changes, 1);
	assert_int_equal(t->changes[0].kind, NFT_CHANGE_CHAIN_ADD);
	assert_int_equal(t->changes[0].chain, NFT_CHAIN_OUTPUT);
	assert_true(t->changes[0].has_policy);
	assert_int_equal(t->changes[0].policy, NF_ACCEPT);
	seen_free(&s);

	pid = nft_in_a("insert rule inet terok_shield output accept");
	read_expect(m, &s, 0);
	t = only_txn(&s);
	assert_int_equal(t->n_changes, 1);
	assert_int_equal(t->changes[0].kind, NFT_CHANGE_RULE_ADD);
	assert_string_equal(t->changes[0].name, "output");
	assert_true(t->changes[0].handle > 0);
	seen_free(&s);

	pid = nft_in_a("delete table inet terok_shield");
	read_expect(m, &s, 0);
	t = only_txn(&s);
	assert_writer(t, "nft", pid);
	assert_int_equal(count_kind(t, NFT_CHANGE_TABLE_DEL), 1);
	assert_int_equal(t->changes[t->n_changes - 1].kind, NFT_CHANGE_TABLE_DEL);
	assert_int_equal(count_kind(t, NFT_CHANGE_CHAIN_DEL), NFT_CHAIN_COUNT);
	assert_int_equal(count_kind(t, NFT_CHANGE_SET_DEL), NFT_SET_COUNT);
	assert_true(count_kind(t, NFT_CHANGE_RULE_DEL) > 5);
	seen_free(&s);
	nft_monitor_close(m);
}

/* Other tables in A, and everything in B (the test's own netns), are not reported. */
static void test_only_our_table_and_netns(void **state)
{
	struct nft_monitor *m = monitor_open_a(0);
	struct nft_sock *b = NULL;
	struct shield_error err = {0};
	struct addr_prefix p = P("198.18.30.1");
	struct seen s = {0};
	struct nft_monitor_stats st;

	(void)state;
	nft_in_a("add table ip other; add set ip other s { type ipv4_addr; }; "
		 "add element ip other s { 198.18.30.1 }; add table inet other");
	nft_in_a("delete table ip other; delete table inet other");
	apply_ruleset(-1); /* in B */
	assert_int_equal(nft_sock_open(&b, &err), 0);
	assert_int_equal(nft_elems_add(b, NFT_SET_ALLOW_V4, &p, 1, 0, &err), 0);
	assert_int_equal(nft_delete_table(b, &err), 0);
	nft_sock_close(b);
	read_expect(m, &s, 0);
	assert_int_equal(s.n, 0);
	nft_monitor_stats(m, &st);
	assert_true(st.messages >= 6); /* A's foreign tables were read, and dropped */
	/* The positive control: the same write in A is seen. */
	nft_in_a("add element inet terok_shield allow_v4 { 198.18.30.1 }");
	read_expect(m, &s, 0);
	assert_non_null(find_elem(only_txn(&s), NFT_CHANGE_ELEM_ADD, "198.18.30.1"));
	seen_free(&s);
	nft_monitor_close(m);
}

/* A receive buffer too small for what arrives: the loss is reported, then all is well again. */
static void test_overflow_is_reported(void **state)
{
	struct nft_monitor *m = monitor_open_a(1); /* the kernel rounds up to its minimum */
	struct nft_sock *sock = NULL;
	struct shield_error err = {0};
	struct nft_monitor_stats st;
	struct seen s = {0};

	(void)state;
	assert_int_equal(nft_sock_open_in(ns_a, &sock, &err), 0);
	for (int i = 0; i < 200; i++) {
		struct addr_prefix p = {
			.family = AF_INET, .addr = {198, 19, 1, (uint8_t)i}, .plen = 32};

		assert_int_equal(nft_elems_add(sock, NFT_SET_ALLOW_V4, &p, 1, 0, &err), 0);
	}
	read_expect(m, &s, NFT_MONITOR_LOST);
	nft_monitor_stats(m, &st);
	assert_true(st.losses >= 1);
	/* Transactions read after the loss may lack changes: marked partial. */
	for (size_t i = 0; i < s.n; i++)
		assert_true(s.txns[i].t.partial);
	seen_free(&s);
	/* Drained: the next write is whole again, and no loss is reported. */
	{
		struct addr_prefix p = P("198.18.40.1");

		assert_int_equal(nft_elems_add(sock, NFT_SET_ALLOW_V4, &p, 1, 0, &err), 0);
	}
	read_expect(m, &s, 0);
	assert_writer(only_txn(&s), own_comm, getpid());
	seen_free(&s);
	nft_sock_close(sock);
	nft_monitor_close(m);
}

/* ---- dnsmasq --------------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static bool dig_answers(const char *server, const char *name, const char *want)
{
	char cmd[512];
	char out[256] = "";
	int pipefd[2];
	pid_t pid;
	ssize_t n;

	snprintf(cmd, sizeof(cmd), "@%s", server);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		if (setns(ns_a, CLONE_NEWNET) < 0)
			_exit(126);
		/* 5 s: one try must outlast a loaded machine (a closed port still fails at once). */
		execlp("dig", "dig", "+short", "+tries=1", "+time=5", cmd, name, "A", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	n = read(pipefd[0], out, sizeof(out) - 1);
	close(pipefd[0]);
	wait_exit(pid);
	if (n > 0 && out[n - 1] == '\n')
		out[n - 1] = '\0';
	return n > 0 && strcmp(out, want) == 0;
}

static void wait_dns(const char *server, const char *name, const char *want, pid_t pid)
{
	for (int i = 0; i < 100; i++) {
		if (dig_answers(server, name, want))
			return;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			break;
		usleep(50000);
	}
	fail_msg("dnsmasq on %s did not answer %s", server, name);
}

static void stop(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGTERM);
		wait_exit(*pid);
		*pid = -1;
	}
}

/* Start the upstream (127.0.0.2) and a shield-style dnsmasq (127.0.0.1) with nftset in A. */
static void start_dnsmasq(void)
{
	char conf[PATH_MAX], text[1024];

	snprintf(text, sizeof(text),
		 "no-resolv\nno-hosts\nno-poll\nbind-interfaces\nlisten-address=%s\n"
		 "user=root\ngroup=root\naddress=/%s/%s\naddress=/%s/198.18.5.6\n",
		 UPSTREAM_ADDR, NAME_ALLOWED, ADDR_ALLOWED, NAME_READY);
	snprintf(conf, sizeof(conf), "%s/upstream.conf", tmpdir);
	write_file(conf, text);
	{
		char arg[PATH_MAX + 16];
		const char *argv[] = {"dnsmasq", "-k", arg, NULL};

		snprintf(arg, sizeof(arg), "--conf-file=%s", conf);
		dns_upstream = spawn_in_a(argv, true);
		wait_dns(UPSTREAM_ADDR, NAME_ALLOWED, ADDR_ALLOWED, dns_upstream);
	}
	snprintf(text, sizeof(text),
		 "no-resolv\nno-hosts\nno-poll\nbind-interfaces\nlisten-address=127.0.0.1\n"
		 "user=root\ngroup=root\ncache-size=0\nserver=%s\n"
		 "nftset=/%s/4#inet#terok_shield#allow_v4,6#inet#terok_shield#allow_v6\n",
		 UPSTREAM_ADDR, NAME_ALLOWED);
	snprintf(conf, sizeof(conf), "%s/shield.conf", tmpdir);
	write_file(conf, text);
	{
		char arg[PATH_MAX + 16];
		const char *argv[] = {"dnsmasq", "-k", arg, NULL};

		snprintf(arg, sizeof(arg), "--conf-file=%s", conf);
		dns_shield = spawn_in_a(argv, true);
		wait_dns("127.0.0.1", NAME_READY, "198.18.5.6", dns_shield);
	}
}

static int stop_dnsmasq(void **state)
{
	(void)state;
	stop(&dns_shield);
	stop(&dns_upstream);
	return 0;
}

/* A transaction dnsmasq commits while it answers names dnsmasq and its pid. */
static void test_dnsmasq_answer_names_dnsmasq(void **state)
{
	struct nft_monitor *m;
	struct seen s = {0};
	const struct nft_txn *t;
	const struct nft_change *c;

	(void)state;
	start_dnsmasq();
	m = monitor_open_a(0);
	assert_true(dig_answers("127.0.0.1", NAME_ALLOWED, ADDR_ALLOWED));
	/* dnsmasq adds to the set before it answers: the notification is here. */
	read_expect(m, &s, 0);
	t = only_txn(&s);
	assert_writer(t, "dnsmasq", dns_shield);
	c = find_elem(t, NFT_CHANGE_ELEM_ADD, ADDR_ALLOWED);
	assert_non_null(c);
	assert_int_equal(c->set, NFT_SET_ALLOW_V4);
	assert_true(c->elem.has_expiration);
	seen_free(&s);
	nft_monitor_close(m);
}

/* ---- capture mode: the fuzz corpus seeds ----------------------------------- */

struct capture {
	struct mnl_socket *nl;
};

static void capture_open(struct capture *c)
{
	unsigned int group = NFNLGRP_NFTABLES;
	int r, size = 1 << 22;

	/* The raw socket must live in A: this thread enters A for good (capture mode only). */
	assert_int_equal(setns(ns_a, CLONE_NEWNET), 0);
	c->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	assert_non_null(c->nl);
	assert_int_equal(mnl_socket_bind(c->nl, 0, MNL_SOCKET_AUTOPID), 0);
	r = setsockopt(mnl_socket_get_fd(c->nl), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
	assert_int_equal(r, 0);
	assert_int_equal(
		mnl_socket_setsockopt(c->nl, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)), 0);
}

/* Save every pending datagram, back to back, as capture_dir/name.bin (name NULL: drop them). */
static void capture_save(struct capture *c, const char *name)
{
	static uint8_t buf[1 << 16];
	char path[PATH_MAX];
	FILE *f = NULL;
	ssize_t n;
	size_t total = 0;

	if (name) {
		snprintf(path, sizeof(path), "%s/%s.bin", capture_dir, name);
		f = fopen(path, "we");
		assert_non_null(f);
	}
	while ((n = recv(mnl_socket_get_fd(c->nl), buf, sizeof(buf), 0)) > 0) {
		if (f)
			assert_int_equal(fwrite(buf, 1, (size_t)n, f), (size_t)n);
		total += (size_t)n;
	}
	assert_int_equal(errno, EAGAIN);
	if (f) {
		assert_int_equal(fclose(f), 0);
		printf("%s: %zu bytes\n", path, total);
	}
}

static void test_capture(void **state)
{
	struct capture c;
	struct nft_sock *sock = NULL;
	struct shield_error err = {0};
	struct addr_prefix p = P("198.18.20.1");

	(void)state;
	capture_open(&c);
	/* From here on, this thread is in A. */
	apply_ruleset(-1);
	capture_save(&c, "apply-replace");
	nft_in_a("add element inet terok_shield allow_v4 { 198.18.9.9 }");
	capture_save(&c, "nft-add-element");
	nft_in_a("delete element inet terok_shield allow_v4 { 198.18.9.9 }");
	capture_save(&c, "nft-delete-element");
	nft_in_a("add element inet terok_shield allow_v4 { 198.18.10.0/24 timeout 10s, "
		 "198.18.11.1 }; add element inet terok_shield allow_v6 { 2001:db8:9::/48 }; "
		 "add element inet terok_shield deny_v4 { 198.18.12.1-198.18.12.6 }");
	capture_save(&c, "nft-ranges-v6");
	assert_int_equal(nft_sock_open(&sock, &err), 0);
	assert_int_equal(nft_elems_add(sock, NFT_SET_ALLOW_V4, &p, 1, 60000, &err), 0);
	capture_save(&c, "own-elems-add");
	nft_sock_close(sock);
	start_dnsmasq();
	capture_save(&c, NULL); /* dnsmasq's start-up commits nothing; drop it anyway */
	assert_true(dig_answers("127.0.0.1", NAME_ALLOWED, ADDR_ALLOWED));
	capture_save(&c, "dnsmasq-nftset");
	stop_dnsmasq(NULL);
	nft_in_a("chain inet terok_shield output { policy accept; }");
	capture_save(&c, "nft-chain-policy");
	nft_in_a("insert rule inet terok_shield output accept");
	capture_save(&c, "nft-insert-rule");
	nft_in_a("add table ip other; add set ip other s { type ipv4_addr; }; "
		 "add element ip other s { 198.18.30.1 }; add table inet other; "
		 "delete table ip other; delete table inet other");
	capture_save(&c, "foreign-tables");
	nft_in_a("delete table inet terok_shield");
	capture_save(&c, "nft-delete-table");
	apply_ruleset(-1);
	capture_save(&c, "apply-fresh");
	mnl_socket_close(c.nl);
}

/* ---- main -------------------------------------------------------------------- */

static void read_own_comm(void)
{
	FILE *f = fopen("/proc/self/comm", "re");

	if (f && fgets(own_comm, sizeof(own_comm), f))
		own_comm[strcspn(own_comm, "\n")] = '\0';
	if (f)
		fclose(f);
}

/* Whether this process sees pids as the kernel's init namespace does. */
static bool pid_ns_is_init(void)
{
	char line[256];
	bool init = false;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "NSpid:", 6) == 0)
			init = strchr(line + 6 + strspn(line + 6, " \t"), '\t') == NULL &&
			       strchr(line + 6 + strspn(line + 6, " \t"), ' ') == NULL;
	if (f)
		fclose(f);
	return init;
}

/* Whether tool is an executable somewhere on $PATH. */
static bool have(const char *tool)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (!path || !*path)
		path = "/usr/sbin:/usr/bin:/sbin:/bin";
	while (*path) {
		size_t len = strcspn(path, ":");

		if (snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, path, tool) <
			    (int)sizeof(buf) &&
		    access(buf, X_OK) == 0)
			return true;
		path += len + (path[len] == ':');
	}
	return false;
}

static int fail_or_skip(const char *what)
{
	const char *required = getenv("SHIELD_REQUIRE_ALL_TESTS");
	bool must = required && strcmp(required, "1") == 0;

	fprintf(stderr, "test-nft-monitor: %s%s\n", what, must ? "" : " (skipped)");
	return must ? 1 : 77;
}

static void cleanup_tmpdir(void)
{
	char path[PATH_MAX];
	static const char *const files[] = {"upstream.conf", "shield.conf"};

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
		unlink(path);
	}
	rmdir(tmpdir);
}

/* A monitor's callback that writes through a socket, as nftsetd's repairs do. */
struct nested {
	struct seen seen;
	struct nft_sock *sock;
	bool wrote;
};

static int collect_and_write(const struct nft_txn *t, void *data)
{
	struct nested *x = data;
	struct shield_error err = {0};
	struct addr_prefix p = P("198.18.30.3");

	if (!x->wrote) {
		x->wrote = true;
		if (nft_elems_add(x->sock, NFT_SET_ALLOW_V4, &p, 1, 60000, &err) < 0)
			fail_msg("write from a callback: %s", err.msg);
	}
	return collect(t, &x->seen);
}

static bool set_holds(const struct nft_set *set, const char *addr)
{
	struct addr_prefix want = P(addr);

	for (size_t i = 0; i < set->n_elems; i++)
		if (memcmp(set->elems[i].first, want.addr, 4) == 0 &&
		    memcmp(set->elems[i].last, want.addr, 4) == 0)
			return true;
	return false;
}

/*
 * Monitors and sockets reading into the caller's buffers (nftsetd: one of
 * each for all namespaces): two monitors on one buffer each see every
 * transaction; two sockets on another write and dump through it, also from
 * within a monitor's callback while the monitor's datagram is being read;
 * closing them leaves the buffers alone (ASan: no free of memory they do
 * not own).
 */
static void test_shared_buffers(void **state)
{
	static _Alignas(8) uint8_t mon_buf[NFT_MONITOR_BUF_SIZE], sock_buf[NFT_SOCK_RECV_BUF];
	struct nft_monitor *m1 = NULL, *m2 = NULL;
	struct nft_sock *s1 = NULL, *s2 = NULL;
	struct shield_error err = {0};
	struct addr_prefix p1 = P("198.18.30.1"), p2 = P("198.18.30.2");
	struct nested x = {0};
	struct seen seen2 = {0};
	struct nft_ruleset rs = {0};

	(void)state;
	assert_int_equal(nft_monitor_open_shared(ns_a, 0, mon_buf, &m1, &err), 0);
	assert_int_equal(nft_monitor_open_shared(ns_a, 0, mon_buf, &m2, &err), 0);
	assert_int_equal(nft_sock_open_shared(ns_a, sock_buf, &s1, &err), 0);
	assert_int_equal(nft_sock_open_shared(ns_a, sock_buf, &s2, &err), 0);
	assert_int_equal(nft_elems_add(s1, NFT_SET_ALLOW_V4, &p1, 1, 60000, &err), 0);
	assert_int_equal(nft_elems_add(s2, NFT_SET_ALLOW_V4, &p2, 1, 60000, &err), 0);

	/* m1's callback writes through s1 while m1 reads its datagrams. */
	x.sock = s1;
	if (nft_monitor_read(m1, collect_and_write, &x, &err) != 0)
		fail_msg("m1: %s", err.msg);
	read_expect(m2, &seen2, 0);
	/*
	 * Both saw the two writes and the callback's (m1 read that one in the
	 * same call, after the write had used the sockets' buffer).
	 */
	assert_int_equal(x.seen.n, 3);
	assert_int_equal(seen2.n, 3);
	for (size_t i = 0; i < 3; i++) {
		static const char *const want[] = {"198.18.30.1", "198.18.30.2", "198.18.30.3"};

		assert_non_null(find_elem(&x.seen.txns[i].t, NFT_CHANGE_ELEM_ADD, want[i]));
		assert_non_null(find_elem(&seen2.txns[i].t, NFT_CHANGE_ELEM_ADD, want[i]));
	}
	seen_free(&x.seen);
	read_expect(m1, &x.seen, 0);
	assert_int_equal(x.seen.n, 0);

	/* A dump through the other socket on the same buffer sees all three. */
	if (nft_dump_ruleset(s2, &rs, &err) < 0)
		fail_msg("dump: %s", err.msg);
	assert_true(set_holds(&rs.sets[NFT_SET_ALLOW_V4], "198.18.30.1"));
	assert_true(set_holds(&rs.sets[NFT_SET_ALLOW_V4], "198.18.30.2"));
	assert_true(set_holds(&rs.sets[NFT_SET_ALLOW_V4], "198.18.30.3"));
	nft_ruleset_free(&rs);
	seen_free(&x.seen);
	seen_free(&seen2);
	nft_sock_close(s1);
	nft_sock_close(s2);
	nft_monitor_close(m1);
	nft_monitor_close(m2);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_apply_is_one_transaction, fresh_ruleset),
		cmocka_unit_test_setup(test_nft_add_and_delete_element, fresh_ruleset),
		cmocka_unit_test_setup(test_nft_ranges_and_v6, fresh_ruleset),
		cmocka_unit_test_setup(test_own_write_names_us, fresh_ruleset),
		cmocka_unit_test_setup(test_tampering, fresh_ruleset),
		cmocka_unit_test_setup(test_only_our_table_and_netns, fresh_ruleset),
		cmocka_unit_test_setup(test_overflow_is_reported, fresh_ruleset),
		cmocka_unit_test_setup(test_shared_buffers, fresh_ruleset),
		cmocka_unit_test_setup_teardown(test_dnsmasq_answer_names_dnsmasq, fresh_ruleset,
						stop_dnsmasq),
	};
	const struct CMUnitTest capture[] = {
		cmocka_unit_test_setup_teardown(test_capture, fresh_ruleset, stop_dnsmasq),
	};
	static const char *const tools[] = {"nft", "dnsmasq", "dig", "ip"};
	int r;

	if (argc == 3 && strcmp(argv[1], "--capture") == 0)
		capture_dir = argv[2];
	else if (argc != 1)
		return fprintf(stderr, "usage: test-nft-monitor [--capture DIR]\n"), 2;
	for (size_t i = 0; i < ARRAY_SIZE(tools); i++) {
		char what[64];

		if (have(tools[i]))
			continue;
		snprintf(what, sizeof(what), "%s is not installed", tools[i]);
		return fail_or_skip(what);
	}
	/* Namespace A, kept through an fd; then B, where the test itself runs. */
	if (unshare(CLONE_NEWNET) < 0)
		return fail_or_skip("cannot create a network namespace (run as root)");
	ns_a = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (ns_a < 0 || unshare(CLONE_NEWNET) < 0)
		return fail_or_skip("cannot create a second network namespace");
	if (!mkdtemp(tmpdir))
		return fail_or_skip("cannot create a temporary directory");
	read_own_comm();
	exact_pid = pid_ns_is_init();
	{
		const char *lo[] = {"ip", "link", "set", "lo", "up", NULL};
		pid_t pid = spawn_in_a(lo, false);

		if (wait_exit(pid) != 0)
			return fail_or_skip("cannot bring lo up in the test namespace");
	}
	if (capture_dir)
		r = cmocka_run_group_tests(capture, NULL, NULL);
	else
		r = cmocka_run_group_tests(tests, NULL, NULL);
	stop_dnsmasq(NULL);
	cleanup_tmpdir();
	close(ns_a);
	return r;
}
