/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shield status [NAME]: every shielded container with its mode, DNS policy,
 * allowlist sizes and dnsmasq; or one container's status word for scripts
 * (status.h says how it is computed).
 */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli-target.h"
#include "cmd-podman.h"
#include "shield/audit-log.h"
#include "shield/control.h"
#include "shield/dnsmasq-proc.h"
#include "shield/netns.h"
#include "shield/nft-netlink.h"
#include "shield/podman-inspect.h"
#include "shield/registry.h"
#include "shield/status.h"

#define HOOK_ERROR_LOG	 "hook-error.log"
#define BUNDLE_LOCK_FILE CONTROL_LOCK_FILE /* allow/deny/up/down/block hold it */
#define TAIL_MAX	 (4 * 1024 * 1024) /* bytes read from the end of audit.jsonl */
#define HOOK_ERROR_MAX	 (256 * 1024)	   /* ... and of hook-error.log */
#define PODMAN_LIST_MS	 30000
#define PODMAN_LIST_MAX	 (64 * 1024 * 1024)
#define ROWS_MAX	 4096

/* What status found out about one container. */
struct row {
	char *name, *id, *state_dir, *netns;
	char source[16];
	pid_t pid;
	struct status_facts f;
	pid_t dnsmasq_pid;
	enum dns_policy policy;
	size_t n_domains, n_ips;
	enum shield_mode kernel_mode; /* detected from the dump; INACTIVE when not looked at */
	char bundle_error[SHIELD_ERROR_MSG_MAX];
	char table_error[SHIELD_ERROR_MSG_MAX];
	char last_start_error[SHIELD_ERROR_MSG_MAX];
	char last_error[SHIELD_ERROR_MSG_MAX]; /* hook-error.log's last line */
	enum shield_mode word;
	const char *why;
};

static void row_free(struct row *r)
{
	free(r->name);
	free(r->id);
	free(r->state_dir);
	free(r->netns);
}

static void status_usage(FILE *out)
{
	fprintf(out, "Usage: shield status [NAME | --state-dir DIR [--netns PATH]] [--json]\n"
		     "\n"
		     "Without NAME: every shielded container (the registry's, and podman's\n"
		     "stopped containers with shield's annotations) with its mode, DNS\n"
		     "policy, allowed domains and addresses, and whether its dnsmasq runs.\n"
		     "\n"
		     "With NAME: one word for scripts: up, down, down_all or block (the\n"
		     "bundle's mode, and the kernel holds exactly that ruleset), inactive\n"
		     "(not running, or not attached), or error: the last start failed, it\n"
		     "runs without a registry entry, its dnsmasq is not running, or the\n"
		     "kernel's table is not what the bundle's mode requires. --json for the\n"
		     "details. Exit status 0 whenever the status could be told.\n"
		     "\n"
		     "Options:\n" CLI_TARGET_HELP "  --json             print JSON\n"
		     "  -h, --help         show this help\n");
}

static int dup_string(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return !src || *dst ? 0 : -ENOMEM;
}

/*
 * The last cap bytes of name in dirfd (O_NOFOLLOW, regular files only),
 * NUL-terminated; *cut when the start was left out. -ENOENT when missing.
 */
static int read_tail(int dirfd, const char *name, size_t cap, char **out, size_t *len, bool *cut)
{
	_cleanup_close_ int fd =
		openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	off_t start;
	size_t n = 0;

	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	start = st.st_size > (off_t)cap ? st.st_size - (off_t)cap : 0;
	buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	while (n < cap) {
		ssize_t k = pread(fd, buf + n, cap - n, start + (off_t)n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return negative_errno();
		if (k == 0)
			break;
		n += (size_t)k;
	}
	buf[n] = '\0';
	*len = n;
	*cut = start > 0;
	*out = TAKE_PTR(buf);
	return 0;
}

/* The time of the last "setup" audit entry (INT64_MIN when there is none). */
static int64_t last_setup(int dirfd)
{
	_cleanup_free_ char *text = NULL;
	struct audit_reader rd;
	struct audit_log log = {0};
	int64_t best = INT64_MIN;
	size_t len;
	bool cut;

	if (read_tail(dirfd, AUDIT_FILE, TAIL_MAX, &text, &len, &cut) < 0)
		return best;
	audit_reader_init(&rd, 0);
	if (cut)
		audit_reader_skip_to_next_line(&rd);
	if (audit_reader_feed(&rd, text, len, &log) >= 0 && audit_reader_finish(&rd, &log) >= 0)
		for (size_t i = 0; i < log.n; i++)
			if (strcmp(log.v[i].action, "setup") == 0 && log.v[i].ts_ns > best)
				best = log.v[i].ts_ns;
	audit_reader_free(&rd);
	audit_log_free(&log);
	return best;
}

/* hook-error.log: whether the last start failed, and its last line. */
static void hook_errors(int dirfd, struct row *r)
{
	_cleanup_free_ char *text = NULL;
	size_t len, o = 0;
	bool cut;
	char *last;

	if (read_tail(dirfd, HOOK_ERROR_LOG, HOOK_ERROR_MAX, &text, &len, &cut) < 0)
		return;
	r->f.last_start_failed = status_last_start_failed(
		text, len, last_setup(dirfd), r->last_start_error, sizeof(r->last_start_error));
	while (len && text[len - 1] == '\n')
		text[--len] = '\0';
	last = strrchr(text, '\n');
	last = last ? last + 1 : text;
	for (; *last && o + 1 < sizeof(r->last_error); last++)
		r->last_error[o++] = (unsigned char)*last < 0x20 || *last == 0x7f ? ' ' : *last;
	r->last_error[o] = '\0';
}

/*
 * The DNS policy the bundle's dnsmasq.conf (what dnsmasq was last started
 * with) sets: strict has "address=/#/" before any server line, open a
 * plain "server=UPSTREAM". Both come right after the fixed header, so the
 * first 16 KiB decide. -ENOENT when there is no dnsmasq.conf, -EINVAL when
 * it says neither.
 */
static int running_policy(int dirfd, enum dns_policy *out)
{
	_cleanup_close_ int fd =
		openat(dirfd, DNSMASQ_CONF_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	char buf[16 * 1024 + 1];
	ssize_t n;

	if (fd < 0)
		return negative_errno();
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return negative_errno();
	buf[n] = '\0';
	for (char *line = buf, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
		if (strncmp(line, "address=/#/\n", 12) == 0) {
			*out = DNS_POLICY_STRICT;
			return 0;
		}
		if (strncmp(line, "server=", 7) == 0) {
			*out = line[7] == '/' ? DNS_POLICY_STRICT : DNS_POLICY_OPEN;
			return 0;
		}
	}
	return -EINVAL;
}

/* A shared lock on the bundle, so a change in progress (allow, up, ...) is not seen half-done. */
static int lock_shared(int dirfd)
{
	int fd = openat(dirfd, BUNDLE_LOCK_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || flock(fd, LOCK_SH) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The kernel's table against what the bundle's mode requires. */
static void check_table(struct row *r, int nsfd, const struct bundle_rules *b)
{
	struct shield_error err = {0};
	struct nft_ruleset actual = {0}, expected = {0};
	int ret = nft_dump_ruleset_in(nsfd, &actual, &err);

	if (ret < 0) {
		/* Could not look (no right to enter, no nf_tables): say so, judge nothing. */
		shield_error_prefix(&err, "cannot read the table: ");
		snprintf(r->table_error, sizeof(r->table_error), "%s", err.msg);
		nft_ruleset_free(&actual);
		return;
	}
	r->f.table_checked = true;
	r->kernel_mode = nft_ruleset_detect_mode(&actual);
	if (b) {
		ret = bundle_rules_build(b, b->config.mode, &expected, &err);
		if (ret >= 0)
			ret = nft_ruleset_verify(&expected, &actual, &err);
		r->f.table_verified = ret >= 0;
		if (ret < 0)
			snprintf(r->table_error, sizeof(r->table_error), "%s", err.msg);
	}
	nft_ruleset_free(&expected);
	nft_ruleset_free(&actual);
}

/*
 * Find out everything about r: the bundle (dirfd, or opened from
 * state_dir when < 0), the namespace (nsfd, or opened from netns when < 0
 * and running), then compute the word.
 */
static void gather(struct row *r, int dirfd, int nsfd)
{
	_cleanup_close_ int own_dirfd = -1, own_nsfd = -1, lockfd = -1;
	_cleanup_strlist_ struct strlist domains = STRLIST_INIT;
	_cleanup_free_ char *conf = NULL;
	struct shield_error err = {0};
	struct bundle_rules b = {0};
	pid_t pidfile = 0;

	r->kernel_mode = SHIELD_MODE_INACTIVE;
	if (dirfd < 0 && r->state_dir) {
		own_dirfd = bundle_open(r->state_dir, false, &err);
		dirfd = own_dirfd;
		if (dirfd < 0)
			snprintf(r->bundle_error, sizeof(r->bundle_error), "%s", err.msg);
	} else if (dirfd < 0) {
		snprintf(r->bundle_error, sizeof(r->bundle_error), "no bundle is known");
	}
	if (dirfd >= 0) {
		lockfd = lock_shared(dirfd);
		if (bundle_rules_load(dirfd, &b, &err) < 0 ||
		    bundle_effective_domains(dirfd, &domains, NULL, &err) < 0) {
			shield_error_prefix(&err, "bundle %s: ", r->state_dir);
			snprintf(r->bundle_error, sizeof(r->bundle_error), "%s", err.msg);
		} else {
			r->f.bundle_ok = true;
			r->f.bundle_mode = b.config.mode;
			/* What dnsmasq runs with; before any start, what the mode will give:
			 * down and down_all forward everything, whatever the bundle's policy. */
			if (running_policy(dirfd, &r->policy) < 0)
				r->policy = bundle_dns_policy(&b.config, b.config.mode);
			r->n_domains = domains.n;
			r->n_ips = b.n_allow;
		}
		hook_errors(dirfd, r);
	}
	if (r->f.running && nsfd < 0 && r->netns) {
		own_nsfd = netns_open(r->netns, &err);
		nsfd = own_nsfd;
		if (nsfd < 0)
			snprintf(r->table_error, sizeof(r->table_error), "%s", err.msg);
	}
	if (r->f.running && r->state_dir &&
	    asprintf(&conf, "%s/" DNSMASQ_CONF_FILE, r->state_dir) < 0)
		conf = NULL;
	if (r->f.running && r->f.registered && conf) {
		/* The registry's PID first; a dnsmasq restarted since may be in the PID file only. */
		r->f.dnsmasq_alive = dnsmasq_is_ours(r->dnsmasq_pid, conf, nsfd);
		if (!r->f.dnsmasq_alive && dirfd >= 0) {
			_cleanup_free_ char *text = NULL;
			struct shield_error ignored = {0};

			if (bundle_read_file(dirfd, DNSMASQ_PID_FILE, 64, &text, NULL, &ignored) >=
				    0 &&
			    (pidfile = (pid_t)strtol(text, NULL, 10)) > 0 &&
			    dnsmasq_is_ours(pidfile, conf, nsfd)) {
				r->f.dnsmasq_alive = true;
				r->dnsmasq_pid = pidfile;
			}
		}
	}
	if (r->f.running && nsfd >= 0)
		check_table(r, nsfd, r->f.bundle_ok ? &b : NULL);
	bundle_rules_free(&b);
	r->word = status_word(&r->f, &r->why);
}

static json_t *json_str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

static json_t *row_json(const struct row *r)
{
	json_t *o = json_object();
	bool bad = !o;

	bad = bad || json_object_set_new(o, "name", json_str_or_null(r->name)) < 0;
	bad = bad || json_object_set_new(o, "id", json_str_or_null(r->id)) < 0;
	bad = bad || json_object_set_new(o, "source", json_str_or_null(r->source)) < 0;
	bad = bad || json_object_set_new(o, "status", json_string(shield_mode_name(r->word))) < 0;
	bad = bad || json_object_set_new(o, "reason", json_str_or_null(r->why)) < 0;
	bad = bad ||
	      json_object_set_new(o, "mode",
				  r->f.bundle_ok ? json_string(shield_mode_name(r->f.bundle_mode))
						 : json_null()) < 0;
	bad = bad ||
	      json_object_set_new(o, "kernel_mode",
				  r->f.table_checked ? json_string(shield_mode_name(r->kernel_mode))
						     : json_null()) < 0;
	bad = bad || json_object_set_new(o, "dns_policy",
					 r->f.bundle_ok ? json_string(dns_policy_name(r->policy))
							: json_null()) < 0;
	bad = bad || json_object_set_new(o, "domains",
					 r->f.bundle_ok ? json_integer((json_int_t)r->n_domains)
							: json_null()) < 0;
	bad = bad || json_object_set_new(o, "ips",
					 r->f.bundle_ok ? json_integer((json_int_t)r->n_ips)
							: json_null()) < 0;
	bad = bad || json_object_set_new(o, "dnsmasq",
					 json_pack("{s:o, s:b}", "pid",
						   r->dnsmasq_pid > 0 ? json_integer(r->dnsmasq_pid)
								      : json_null(),
						   "alive", r->f.dnsmasq_alive)) < 0;
	bad = bad || json_object_set_new(o, "running", json_boolean(r->f.running)) < 0;
	bad = bad || json_object_set_new(o, "registered", json_boolean(r->f.registered)) < 0;
	bad = bad ||
	      json_object_set_new(o, "pid", r->pid > 0 ? json_integer(r->pid) : json_null()) < 0;
	bad = bad || json_object_set_new(o, "netns", json_str_or_null(r->netns)) < 0;
	bad = bad || json_object_set_new(o, "state_dir", json_str_or_null(r->state_dir)) < 0;
	bad = bad || json_object_set_new(o, "table_verified",
					 r->f.table_checked ? json_boolean(r->f.table_verified)
							    : json_null()) < 0;
	bad = bad || json_object_set_new(o, "table_error", json_str_or_null(r->table_error)) < 0;
	bad = bad || json_object_set_new(o, "bundle_error", json_str_or_null(r->bundle_error)) < 0;
	bad = bad ||
	      json_object_set_new(o, "last_start_failed", json_boolean(r->f.last_start_failed)) < 0;
	bad = bad || json_object_set_new(o, "last_error", json_str_or_null(r->last_error)) < 0;
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The most telling detail behind an error word. */
static const char *row_detail(const struct row *r)
{
	if (r->word != SHIELD_MODE_ERROR)
		return NULL;
	if (r->f.last_start_failed && (!r->f.running || !r->f.registered))
		return r->last_start_error;
	if (!r->f.bundle_ok)
		return r->bundle_error;
	if (!r->f.dnsmasq_alive && r->f.registered)
		return NULL;
	return r->table_error[0] ? r->table_error : NULL;
}

/* ------------------------------------------------------------- one container */

static int status_one(struct cli *cli, const struct cli_target_opts *o)
{
	struct cli_target t = CLI_TARGET_INIT;
	struct shield_error err = {0};
	struct row r = {0};
	const char *detail;
	int ret = cli_target_resolve(cli, o, CLI_TARGET_ENTER, &t, &err);

	if (ret < 0) {
		cli_target_free(&t);
		return cli_fail(cli, &err);
	}
	if (dup_string(&r.name, t.name) < 0 || dup_string(&r.id, t.id) < 0 ||
	    dup_string(&r.state_dir, t.state_dir) < 0 || dup_string(&r.netns, t.netns_path) < 0) {
		cli_target_free(&t);
		row_free(&r);
		shield_error_set(&err, -ENOMEM, "out of memory");
		return cli_fail(cli, &err);
	}
	r.f.running = t.running;
	r.pid = t.pid;
	/* podman starts a container only after the hook registered it. */
	r.f.needs_registry = t.podman;
	r.f.registered = t.running && t.has_entry;
	if (t.has_entry) {
		r.dnsmasq_pid = t.entry.dnsmasq_pid;
		snprintf(r.source, sizeof(r.source), "%s", t.entry.source);
	} else {
		snprintf(r.source, sizeof(r.source), "%s", t.podman ? "podman" : "bundle");
	}
	gather(&r, t.dirfd, t.nsfd);
	cli_target_free(&t);
	if (o->json) {
		ret = cli_print_json(row_json(&r), JSON_INDENT(2));
	} else {
		puts(shield_mode_name(r.word));
		if (r.word == SHIELD_MODE_ERROR) {
			detail = row_detail(&r);
			fprintf(stderr, "shield: %s: %s: error: %s%s%s\n", cli->command, r.name,
				r.why, detail ? ": " : "", detail ? detail : "");
		}
	}
	row_free(&r);
	if (ret < 0) {
		shield_error_set(&err, -ENOMEM, "out of memory");
		return cli_fail(cli, &err);
	}
	return fflush(stdout) == 0 ? 0 : EXIT_USER;
}

/* ------------------------------------------------------------ every container */

struct rows {
	struct row *v;
	size_t n, cap;
};

static void rows_free(struct rows *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		row_free(&rs->v[i]);
	free(rs->v);
}

static struct row *rows_add(struct rows *rs)
{
	if (rs->n >= ROWS_MAX)
		return NULL;
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 16;
		struct row *v = reallocarray(rs->v, cap, sizeof(*v));

		if (!v)
			return NULL;
		rs->v = v;
		rs->cap = cap;
	}
	memset(&rs->v[rs->n], 0, sizeof(rs->v[0]));
	return &rs->v[rs->n++];
}

struct podman_list {
	struct podman_container *v;
	size_t n;
	bool *matched;
};

static void podman_list_free(struct podman_list *p)
{
	for (size_t i = 0; i < p->n; i++)
		podman_container_free(&p->v[i]);
	free(p->v);
	free(p->matched);
}

/*
 * podman's containers that carry shield's annotations (running or not):
 * `podman ps -a -q`, then one `podman container inspect` for all of them.
 * No podman (or podman failing) is no containers, with a note.
 */
static int podman_shielded(const struct cli *cli, struct podman_list *out)
{
	_cleanup_free_ char *podman = NULL, *ids = NULL, *json = NULL;
	_cleanup_free_ char **argv = NULL;
	struct shield_error perr = {0};
	json_error_t jerr;
	json_t *arr;
	size_t n = 0, k = 0;
	int status = 0;

	if (podman_locate(&podman, &perr) < 0)
		return 0;
	{
		char *const ps[] = {podman,	  (char *)"ps",		(char *)"-a",
				    (char *)"-q", (char *)"--no-trunc", NULL};

		if (run_capture(ps, PODMAN_LIST_MS, PODMAN_LIST_MAX, &ids, &status, &perr) < 0 ||
		    status != 0) {
			fprintf(stderr,
				"shield: %s: note: 'podman ps' failed (%s); listing "
				"registered containers only\n",
				cli->command, perr.msg[0] ? perr.msg : "non-zero exit");
			return 0;
		}
	}
	for (char *p = ids; *p; p++)
		n += *p == '\n';
	argv = calloc(n + 7, sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	argv[k++] = podman;
	argv[k++] = (char *)"container";
	argv[k++] = (char *)"inspect";
	argv[k++] = (char *)"--format";
	argv[k++] = (char *)"json";
	n = 0;
	for (char *p = ids, *nl; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = '\0';
		if (oci_id_valid(p)) {
			argv[k++] = p;
			n++;
		}
	}
	if (n == 0)
		return 0;
	if (run_capture(argv, PODMAN_LIST_MS, PODMAN_LIST_MAX, &json, &status, &perr) < 0) {
		fprintf(stderr, "shield: %s: note: 'podman container inspect' failed: %s\n",
			cli->command, perr.msg);
		return 0;
	}
	/* A container removed between ps and inspect makes inspect exit non-zero; the rest is there. */
	arr = json_loads(json, 0, &jerr);
	if (!json_is_array(arr)) {
		json_decref(arr);
		fprintf(stderr, "shield: %s: note: cannot read 'podman container inspect': %s\n",
			cli->command, jerr.text);
		return 0;
	}
	out->v = calloc(json_array_size(arr) + 1, sizeof(*out->v));
	out->matched = calloc(json_array_size(arr) + 1, sizeof(*out->matched));
	if (!out->v || !out->matched) {
		json_decref(arr);
		return -ENOMEM;
	}
	for (size_t i = 0; i < json_array_size(arr); i++) {
		/* Each element alone, through the one parser of inspect output. */
		json_t *one = json_pack("[O]", json_array_get(arr, i));
		char *text = one ? json_dumps(one, JSON_COMPACT) : NULL;
		struct podman_container c = {0};

		json_decref(one);
		if (text && podman_inspect_parse(text, strlen(text), &c, &perr) >= 0 && c.shielded)
			out->v[out->n++] = c;
		else
			podman_container_free(&c);
		free(text);
	}
	json_decref(arr);
	return 0;
}

static int cmp_row(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c = strcmp(x->name ? x->name : "", y->name ? y->name : "");

	return c ? c : strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

static int collect(const struct cli *cli, struct rows *rs, struct shield_error *err)
{
	_cleanup_strlist_ struct strlist ids = STRLIST_INIT;
	_cleanup_close_ int regfd = -1;
	struct podman_list pl = {0};
	struct shield_error rerr = {0};
	char runtime_dir[PATH_MAX];
	int r = podman_shielded(cli, &pl);

	if (r < 0)
		return shield_error_set(err, r, "out of memory");
	if (registry_runtime_dir(runtime_dir, sizeof(runtime_dir), &rerr) >= 0) {
		regfd = registry_open(runtime_dir, false, &rerr);
		if (regfd < 0 && regfd != -ENOENT)
			fprintf(stderr, "shield: %s: registry: %s\n", cli->command, rerr.msg);
	}
	if (regfd >= 0 && registry_list(regfd, &ids, err) < 0) {
		podman_list_free(&pl);
		return -EIO;
	}
	for (size_t i = 0; i < ids.n; i++) {
		struct registry_entry e;
		struct podman_container *c = NULL;
		struct row *row;

		if (registry_read(regfd, ids.items[i], &e, &rerr) < 0)
			continue; /* removed meanwhile */
		for (size_t j = 0; j < pl.n; j++)
			if (strcmp(pl.v[j].id, e.id) == 0) {
				c = &pl.v[j];
				pl.matched[j] = true;
			}
		row = rows_add(rs);
		if (!row || dup_string(&row->name, e.name[0] ? e.name : e.id) < 0 ||
		    dup_string(&row->id, e.id) < 0 ||
		    dup_string(&row->state_dir, e.state_dir) < 0 ||
		    dup_string(&row->netns, e.netns) < 0) {
			podman_list_free(&pl);
			return shield_error_set(err, -ENOMEM,
						"out of memory or too many containers");
		}
		snprintf(row->source, sizeof(row->source), "%s", e.source);
		row->pid = e.pid;
		row->dnsmasq_pid = e.dnsmasq_pid;
		/* podman's word on a container it knows; the namespace itself otherwise. */
		row->f.running = c ? c->running && c->pid == e.pid : registry_entry_netns_alive(&e);
		row->f.registered = row->f.running;
		row->f.needs_registry = strcmp(e.source, "podman") == 0;
	}
	/* podman's shielded containers the registry does not know: stopped, or unshielded by mistake. */
	for (size_t j = 0; j < pl.n; j++) {
		struct podman_container *c = &pl.v[j];
		_cleanup_free_ char *path = NULL;
		struct row *row;

		if (pl.matched[j])
			continue;
		if (c->state_dir)
			path = strdup(c->state_dir);
		else if (c->name[0] && cli_check_name(c->name, NULL) >= 0)
			path = cli_bundle_path(cli, NULL, c->name);
		row = rows_add(rs);
		if (!row || dup_string(&row->name, c->name[0] ? c->name : c->id) < 0 ||
		    dup_string(&row->id, c->id) < 0 || dup_string(&row->state_dir, path) < 0) {
			podman_list_free(&pl);
			return shield_error_set(err, -ENOMEM,
						"out of memory or too many containers");
		}
		snprintf(row->source, sizeof(row->source), "podman");
		row->f.running = c->running;
		row->f.needs_registry = true;
		row->pid = c->pid;
		if (c->running && asprintf(&row->netns, "/proc/%d/ns/net", (int)c->pid) < 0)
			row->netns = NULL;
	}
	podman_list_free(&pl);
	return 0;
}

/* s for a table cell: control bytes as '?', at most max bytes. */
static void cell(char *out, size_t size, const char *s, size_t max)
{
	size_t o = 0;

	for (; s && *s && o < max && o + 1 < size; s++)
		out[o++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	out[o] = '\0';
}

static int status_all(struct cli *cli, bool json)
{
	struct shield_error err = {0};
	struct rows rs = {0};
	json_t *arr = NULL;
	int ret = collect(cli, &rs, &err), w = 4;

	if (ret < 0) {
		rows_free(&rs);
		return cli_fail(cli, &err);
	}
	if (rs.n > 1)
		qsort(rs.v, rs.n, sizeof(*rs.v), cmp_row);
	for (size_t i = 0; i < rs.n; i++) {
		gather(&rs.v[i], -1, -1);
		if (rs.v[i].name && (int)strlen(rs.v[i].name) > w)
			w = strlen(rs.v[i].name) < 32 ? (int)strlen(rs.v[i].name) : 32;
	}
	if (json) {
		arr = json_array();
		for (size_t i = 0; arr && i < rs.n; i++)
			if (json_array_append_new(arr, row_json(&rs.v[i])) < 0) {
				json_decref(arr);
				arr = NULL;
			}
		ret = arr ? cli_print_json(json_pack("{s:o}", "containers", arr), JSON_INDENT(2))
			  : -ENOMEM;
		rows_free(&rs);
		if (ret < 0) {
			shield_error_set(&err, -ENOMEM, "out of memory");
			return cli_fail(cli, &err);
		}
		return fflush(stdout) == 0 ? 0 : EXIT_USER;
	}
	if (rs.n == 0) {
		printf("no shielded containers\n");
		rows_free(&rs);
		return fflush(stdout) == 0 ? 0 : EXIT_USER;
	}
	printf("%-*s  %-12s  %-8s  %-6s  %7s  %9s  %s\n", w, "NAME", "ID", "MODE", "POLICY",
	       "DOMAINS", "ADDRESSES", "DNSMASQ");
	for (size_t i = 0; i < rs.n; i++) {
		const struct row *r = &rs.v[i];
		char name[64], id[16], dns[32], nd[16] = "-", ni[16] = "-";

		cell(name, sizeof(name), r->name, 32);
		cell(id, sizeof(id), r->id ? r->id : "-", 12);
		if (r->f.bundle_ok) {
			snprintf(nd, sizeof(nd), "%zu", r->n_domains);
			snprintf(ni, sizeof(ni), "%zu", r->n_ips);
		}
		if (!r->f.running || !r->f.registered)
			snprintf(dns, sizeof(dns), "-");
		else if (r->f.dnsmasq_alive)
			snprintf(dns, sizeof(dns), "alive (%d)", (int)r->dnsmasq_pid);
		else
			snprintf(dns, sizeof(dns), "dead");
		printf("%-*s  %-12s  %-8s  %-6s  %7s  %9s  %s\n", w, name, id,
		       shield_mode_name(r->word), r->f.bundle_ok ? dns_policy_name(r->policy) : "-",
		       nd, ni, dns);
	}
	/* Why each error is one, below the table. */
	for (size_t i = 0, first = 1; i < rs.n; i++) {
		const struct row *r = &rs.v[i];
		const char *detail = row_detail(r);
		char name[64];

		if (r->word != SHIELD_MODE_ERROR &&
		    !(r->f.running && !r->f.table_checked && r->table_error[0]))
			continue;
		cell(name, sizeof(name), r->name, 32);
		if (first)
			putchar('\n');
		first = 0;
		if (r->word == SHIELD_MODE_ERROR)
			printf("%s: error: %s%s%s\n", name, r->why, detail ? ": " : "",
			       detail ? detail : "");
		else
			printf("%s: note: table not checked: %s\n", name, r->table_error);
	}
	rows_free(&rs);
	return fflush(stdout) == 0 ? 0 : EXIT_USER;
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	struct cli_target_opts o = {0};
	int r = cli_target_parse(cli, argc, argv, &o, 0, 0, CLI_TARGET_NAME_OPTIONAL, status_usage);

	if (r >= 0)
		return r;
	if (o.name || o.state_dir)
		return status_one(cli, &o);
	return status_all(cli, o.json);
}
