/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shield logs: the audit entries of every shielded container (or one),
 * merged in time order; --follow keeps printing what is appended, woken by
 * inotify, until SIGINT or SIGTERM.
 */
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli-target.h"
#include "cli.h"
#include "shield/audit-log.h"
#include "shield/audit.h"
#include "shield/registry.h"

#define LOGS_DEFAULT_LINES 20
#define LOGS_READ_MAX	   (32 * 1024 * 1024) /* bytes read from the end of a big audit.jsonl */
#define LOGS_SOURCES_MAX   4096		      /* bundles followed at once */
#define COL_CONTAINER_MAX  32
#define COL_ACTION_MAX	   16

/* One bundle's audit.jsonl. */
struct source {
	char *state_dir;
	char *label; /* the bundle directory's name, for entries that carry no container */
	dev_t dev;   /* the bundle directory, to find it only once */
	ino_t ino;
	int dirfd;
	int fd; /* audit.jsonl, -1 until it exists */
	dev_t fdev;
	ino_t fino;
	off_t offset;
	int wd_dir, wd_file;
	struct audit_reader rd;
	size_t malformed_reported;
};

struct logs {
	struct cli *cli;
	bool json, follow;
	size_t lines; /* SIZE_MAX: all */
	struct source *src;
	size_t n, cap;
	int inotify;
	int wd_state, wd_registry; /* new bundles (all-containers form only) */
	char *state_containers;	   /* STATE_ROOT/containers, absolute */
	char registry_dir[PATH_MAX];
	bool have_registry;
	int w_container, w_action;
	int rc; /* exit code after warnings */
};

static void logs_usage(FILE *out)
{
	fprintf(out,
		"Usage: shield logs [NAME | --state-dir DIR] [-n N] [--follow] [--json]\n"
		"\n"
		"Print the audit entries (audit.jsonl) of every shielded container, or of\n"
		"one, merged in time order: TS CONTAINER ACTION DEST DETAIL. Bundles are\n"
		"found through the registry and in STATE_ROOT/containers.\n"
		"\n"
		"Options:\n"
		"  -n, --lines N      the last N entries (default %d; 'all' for every one)\n"
		"  -f, --follow       then print new entries as they are appended, until\n"
		"                     interrupted\n"
		"  NAME|ID            only this container (podman's, or attached)\n"
		"  --state-dir DIR    only the bundle DIR\n"
		"  --json             one JSON object per line\n"
		"  -h, --help         show this help\n",
		LOGS_DEFAULT_LINES);
}

static void source_free(struct source *s)
{
	free(s->state_dir);
	free(s->label);
	if (s->dirfd >= 0)
		close(s->dirfd);
	if (s->fd >= 0)
		close(s->fd);
	audit_reader_free(&s->rd);
}

static void logs_free(struct logs *L)
{
	for (size_t i = 0; i < L->n; i++)
		source_free(&L->src[i]);
	free(L->src);
	free(L->state_containers);
	if (L->inotify >= 0)
		close(L->inotify);
}

static void warn(struct logs *L, const char *fmt, ...) _printf_(2, 3);
static void warn(struct logs *L, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "shield: %s: ", L->cli->command);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Watch a source's directory (audit.jsonl appearing or replaced) and file (appends). */
static void source_watch(struct logs *L, struct source *s)
{
	char path[PATH_MAX];

	if (L->inotify < 0)
		return;
	if (s->wd_dir < 0) {
		s->wd_dir =
			inotify_add_watch(L->inotify, s->state_dir,
					  IN_CREATE | IN_MOVED_TO | IN_ONLYDIR | IN_DONT_FOLLOW);
		if (s->wd_dir < 0)
			warn(L, "cannot watch %s: %s", s->state_dir, strerror(errno));
	}
	if (s->fd >= 0 && s->wd_file < 0 &&
	    snprintf(path, sizeof(path), "%s/" AUDIT_FILE, s->state_dir) < (int)sizeof(path)) {
		s->wd_file = inotify_add_watch(L->inotify, path, IN_MODIFY | IN_DONT_FOLLOW);
		if (s->wd_file < 0)
			warn(L, "cannot watch %s: %s", path, strerror(errno));
	}
}

/*
 * Add the bundle at path unless it is already a source. Bundles that fail
 * bundle_open (missing, not ours, unsafe) are skipped, with a warning when
 * named explicitly.
 */
static int add_source(struct logs *L, const char *path, bool named, struct shield_error *err)
{
	struct shield_error oerr = {0};
	_cleanup_close_ int dirfd = bundle_open(path, false, &oerr);
	struct source *s;
	const char *base;
	struct stat st;

	if (dirfd < 0) {
		if (named)
			return shield_error_set(err, dirfd, "%s", oerr.msg);
		if (dirfd != -ENOENT)
			warn(L, "skipping %s", oerr.msg);
		return 0;
	}
	if (fstat(dirfd, &st) < 0)
		return shield_error_set(err, negative_errno(), "%s: %s", path, strerror(errno));
	for (size_t i = 0; i < L->n; i++)
		if (L->src[i].dev == st.st_dev && L->src[i].ino == st.st_ino)
			return 0;
	if (L->n >= LOGS_SOURCES_MAX)
		return shield_error_set(err, -E2BIG, "more than %d bundles", LOGS_SOURCES_MAX);
	if (L->n == L->cap) {
		size_t cap = L->cap ? L->cap * 2 : 16;
		struct source *v = reallocarray(L->src, cap, sizeof(*v));

		if (!v)
			return shield_error_set(err, -ENOMEM, "out of memory");
		L->src = v;
		L->cap = cap;
	}
	s = &L->src[L->n];
	memset(s, 0, sizeof(*s));
	s->fd = s->dirfd = s->wd_dir = s->wd_file = -1;
	base = strrchr(path, '/');
	s->state_dir = strdup(path);
	s->label = strdup(base && base[1] ? base + 1 : path);
	if (!s->state_dir || !s->label) {
		free(s->state_dir);
		free(s->label);
		return shield_error_set(err, -ENOMEM, "out of memory");
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->dirfd = TAKE_FD(dirfd);
	audit_reader_init(&s->rd, L->n);
	L->n++;
	return 1;
}

/* Every bundle the registry names. */
static int add_registry_sources(struct logs *L, struct shield_error *err)
{
	_cleanup_strlist_ struct strlist ids = STRLIST_INIT;
	_cleanup_close_ int regfd = -1;
	struct shield_error rerr = {0};

	if (registry_runtime_dir(L->registry_dir, sizeof(L->registry_dir), &rerr) < 0)
		return 0; /* no registry location: bundles come from the state root only */
	L->have_registry = true;
	regfd = registry_open(L->registry_dir, false, &rerr);
	if (regfd == -ENOENT)
		return 0;
	if (regfd < 0) {
		warn(L, "registry: %s", rerr.msg);
		return 0;
	}
	if (registry_list(regfd, &ids, err) < 0)
		return -EIO;
	for (size_t i = 0; i < ids.n; i++) {
		struct registry_entry e;

		if (registry_read(regfd, ids.items[i], &e, &rerr) < 0)
			continue; /* removed meanwhile, or not an entry of ours */
		if (add_source(L, e.state_dir, false, err) < 0)
			return -EIO;
	}
	return 0;
}

/* Every directory in STATE_ROOT/containers. */
static int add_state_root_sources(struct logs *L, struct shield_error *err)
{
	_cleanup_strlist_ struct strlist names = STRLIST_INIT;
	struct dirent *de;
	DIR *d;

	L->state_containers = cli_bundle_path(L->cli, NULL, "");
	if (!L->state_containers)
		return shield_error_set(err, -ENOMEM, "out of memory");
	/* cli_bundle_path gives "ROOT/containers/"; the directory itself has no '/'. */
	L->state_containers[strlen(L->state_containers) - 1] = '\0';
	d = opendir(L->state_containers);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && strlist_add(&names, de->d_name) < 0) {
			closedir(d);
			return shield_error_set(err, -ENOMEM, "out of memory");
		}
	closedir(d);
	for (size_t i = 0; i < names.n; i++) {
		_cleanup_free_ char *path = NULL;

		if (asprintf(&path, "%s/%s", L->state_containers, names.items[i]) < 0)
			return shield_error_set(err, -ENOMEM, "out of memory");
		if (add_source(L, path, false, err) < 0)
			return -EIO;
	}
	return 0;
}

/* Open audit.jsonl if it is not open yet (or was replaced); 1 when (re)opened. */
static int source_open(struct logs *L, struct source *s)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	fd = openat(s->dirfd, AUDIT_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			warn(L, "%s/" AUDIT_FILE ": %s", s->state_dir, strerror(errno));
		return 0;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		warn(L, "%s/" AUDIT_FILE ": not a regular file (skipped)", s->state_dir);
		return 0;
	}
	if (s->fd >= 0 && st.st_dev == s->fdev && st.st_ino == s->fino)
		return 0;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = TAKE_FD(fd);
	s->fdev = st.st_dev;
	s->fino = st.st_ino;
	s->offset = 0;
	audit_reader_reset(&s->rd);
	if (s->wd_file >= 0) {
		inotify_rm_watch(L->inotify, s->wd_file);
		s->wd_file = -1;
	}
	source_watch(L, s);
	return 1;
}

/* Read what was appended since the last read into out. */
static int source_read(struct logs *L, struct source *s, struct audit_log *out,
		       struct shield_error *err)
{
	char buf[64 * 1024];
	struct stat st;

	if (s->fd < 0)
		return 0;
	if (fstat(s->fd, &st) < 0)
		return 0;
	if (st.st_size < s->offset) {
		warn(L, "%s/" AUDIT_FILE " was truncated; reading it from the start", s->state_dir);
		s->offset = 0;
		audit_reader_reset(&s->rd);
	}
	if (s->offset == 0 && st.st_size > LOGS_READ_MAX) {
		s->offset = st.st_size - LOGS_READ_MAX;
		audit_reader_skip_to_next_line(&s->rd);
	}
	for (;;) {
		ssize_t n = pread(s->fd, buf, sizeof(buf), s->offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			warn(L, "%s/" AUDIT_FILE ": read: %s", s->state_dir, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		s->offset += n;
		if (audit_reader_feed(&s->rd, buf, (size_t)n, out) < 0)
			return shield_error_set(err, -ENOMEM, "out of memory");
	}
	if (s->rd.malformed > s->malformed_reported) {
		warn(L, "%s/" AUDIT_FILE ": skipped %zu malformed line%s", s->state_dir,
		     s->rd.malformed - s->malformed_reported,
		     s->rd.malformed - s->malformed_reported == 1 ? "" : "s");
		s->malformed_reported = s->rd.malformed;
	}
	return 0;
}

/*
 * Write s for a terminal: control bytes (C0, DEL, and C1 as UTF-8 encodes
 * them) as \xNN or \u00NN, so an entry cannot move the cursor or retitle
 * the window; pad with spaces to width display bytes.
 */
static void put_field(const char *s, int width)
{
	int n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			n += printf("\\x%02x", *p);
		} else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			n += printf("\\u%04x", p[1]);
			p++;
		} else {
			putchar(*p);
			n++;
		}
	}
	for (; n < width; n++)
		putchar(' ');
}

static const char *entry_container(const struct logs *L, const struct audit_entry *e)
{
	return e->container && *e->container ? e->container : L->src[e->source].label;
}

/* A JSON string of s; bytes of an invalid UTF-8 path or name become '?' rather than fail. */
static json_t *json_str_lossy(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j || !(copy = strdup(s)))
		return j;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static int print_entries(struct logs *L, const struct audit_log *log)
{
	for (size_t i = 0; i < log->n; i++) {
		const struct audit_entry *e = &log->v[i];

		if (L->json) {
			json_t *o = json_pack("{s:s, s:o, s:s}", "ts", e->ts, "container",
					      json_str_lossy(entry_container(L, e)), "action",
					      e->action);

			if (o && e->dest)
				json_object_set_new(o, "dest", json_string(e->dest));
			if (o && e->detail)
				json_object_set_new(o, "detail", json_string(e->detail));
			if (o)
				json_object_set_new(o, "state_dir",
						    json_str_lossy(L->src[e->source].state_dir));
			if (cli_print_json(o, JSON_COMPACT) < 0)
				return -ENOMEM;
			continue;
		}
		put_field(e->ts, 0);
		putchar(' ');
		put_field(entry_container(L, e), L->w_container);
		putchar(' ');
		put_field(e->action, L->w_action);
		putchar(' ');
		put_field(e->dest ? e->dest : "-", 0);
		if (e->detail) {
			putchar(' ');
			put_field(e->detail, 0);
		}
		putchar('\n');
	}
	return fflush(stdout) == 0 ? 0 : -EPIPE;
}

/* Column widths from the first batch, kept while following so columns stay put. */
static void set_widths(struct logs *L, const struct audit_log *log)
{
	L->w_container = 9;
	L->w_action = 6;
	for (size_t i = 0; i < log->n; i++) {
		int c = (int)strlen(entry_container(L, &log->v[i]));
		int a = (int)strlen(log->v[i].action);

		if (c > L->w_container)
			L->w_container = c < COL_CONTAINER_MAX ? c : COL_CONTAINER_MAX;
		if (a > L->w_action)
			L->w_action = a < COL_ACTION_MAX ? a : COL_ACTION_MAX;
	}
}

/* A new bundle directory or registry entry appeared: add it and print what it already holds. */
static int follow_new_bundle(struct logs *L, const char *path, struct audit_log *batch,
			     struct shield_error *err)
{
	int r = add_source(L, path, false, err);
	struct source *s;

	if (r <= 0)
		return r;
	s = &L->src[L->n - 1];
	source_watch(L, s);
	source_open(L, s);
	return source_read(L, s, batch, err);
}

static int follow_registry_entry(struct logs *L, const char *file, struct audit_log *batch,
				 struct shield_error *err)
{
	struct shield_error ignored = {0};
	_cleanup_close_ int regfd = registry_open(L->registry_dir, false, &ignored);
	struct registry_entry e;
	char id[OCI_ID_MAX + 1];
	size_t len = strlen(file);

	if (regfd < 0 || len <= 5 || len - 5 > OCI_ID_MAX || strcmp(file + len - 5, ".json") != 0)
		return 0;
	memcpy(id, file, len - 5);
	id[len - 5] = '\0';
	if (registry_read(regfd, id, &e, &ignored) < 0)
		return 0;
	return follow_new_bundle(L, e.state_dir, batch, err);
}

/* Handle one batch of inotify events. */
static int follow_events(struct logs *L, struct shield_error *err)
{
	char buf[16 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct audit_log batch = {0};
	bool overflow = false;
	ssize_t n;
	int r = 0;

	while ((n = read(L->inotify, buf, sizeof(buf))) > 0 && r >= 0) {
		for (char *p = buf; p < buf + n && r >= 0;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				overflow = true;
				continue;
			}
			if (ev->mask & IN_IGNORED) {
				/* The watched file or directory is gone: forget the watch. */
				for (size_t i = 0; i < L->n; i++) {
					if (L->src[i].wd_dir == ev->wd)
						L->src[i].wd_dir = -1;
					if (L->src[i].wd_file == ev->wd)
						L->src[i].wd_file = -1;
				}
				continue;
			}
			if (ev->wd == L->wd_state && ev->len && (ev->mask & IN_ISDIR)) {
				_cleanup_free_ char *path = NULL;

				if (asprintf(&path, "%s/%s", L->state_containers, ev->name) < 0)
					r = shield_error_set(err, -ENOMEM, "out of memory");
				else
					r = follow_new_bundle(L, path, &batch, err);
				continue;
			}
			if (ev->wd == L->wd_registry && ev->len) {
				r = follow_registry_entry(L, ev->name, &batch, err);
				continue;
			}
			for (size_t i = 0; i < L->n && r >= 0; i++) {
				struct source *s = &L->src[i];

				if (ev->wd == s->wd_dir && ev->len &&
				    strcmp(ev->name, AUDIT_FILE) == 0) {
					/* Created or replaced: finish the old file, then the new one. */
					r = source_read(L, s, &batch, err);
					if (r >= 0 && source_open(L, s))
						r = source_read(L, s, &batch, err);
				} else if (ev->wd == s->wd_file) {
					r = source_read(L, s, &batch, err);
				}
			}
		}
	}
	/* Events were lost: read every source; the offsets keep it exact. */
	for (size_t i = 0; overflow && r >= 0 && i < L->n; i++) {
		source_open(L, &L->src[i]);
		r = source_read(L, &L->src[i], &batch, err);
	}
	if (r >= 0) {
		audit_log_sort(&batch);
		if (print_entries(L, &batch) < 0)
			r = -EPIPE;
	}
	audit_log_free(&batch);
	return r;
}

/* Watch for bundles that appear later: STATE_ROOT/containers and the registry. */
static void watch_new_bundles(struct logs *L)
{
	_cleanup_free_ char *regdir = NULL;

	if (L->state_containers)
		L->wd_state = inotify_add_watch(L->inotify, L->state_containers,
						IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
	if (L->have_registry && asprintf(&regdir, "%s/containers", L->registry_dir) >= 0)
		L->wd_registry = inotify_add_watch(
			L->inotify, regdir, IN_MOVED_TO | IN_CREATE | IN_ONLYDIR | IN_DONT_FOLLOW);
	else
		regdir = NULL;
}

static int follow(struct logs *L, struct shield_error *err)
{
	sigset_t mask;
	_cleanup_close_ int sfd = -1;
	struct pollfd pfd[2];

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return shield_error_set(err, negative_errno(), "signalfd: %s", strerror(errno));
	pfd[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = L->inotify, .events = POLLIN};
	for (;;) {
		int r;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return shield_error_set(err, negative_errno(), "poll: %s", strerror(errno));
		}
		if (pfd[0].revents)
			return 0; /* SIGINT or SIGTERM: a clean end */
		if (pfd[1].revents) {
			r = follow_events(L, err);
			if (r == -EPIPE)
				return 0; /* the reader went away */
			if (r < 0)
				return r;
		}
	}
}

/* Parse -n: a count or "all". */
static int parse_lines(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	if (strcmp(s, "all") == 0) {
		*out = SIZE_MAX;
		return 0;
	}
	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > 100000000ULL)
		return -EINVAL;
	*out = (size_t)v;
	return 0;
}

int cmd_logs(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_TARGET_OPTIONS,
		{"lines", required_argument, NULL, 'n'},
		{"follow", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct logs L = {.cli = cli, .lines = LOGS_DEFAULT_LINES, .inotify = -1};
	struct cli_target_opts o = {0};
	struct shield_error err = {0};
	struct audit_log log = {0};
	sigset_t mask;
	int c, r = 0;

	L.wd_state = L.wd_registry = -1;
	while ((c = getopt_long(argc, argv, "n:fh", opts, NULL)) != -1) {
		if (cli_target_option(&o, c))
			continue;
		switch (c) {
		case 'n':
			if (parse_lines(optarg, &L.lines) < 0) {
				char q[SHIELD_QUOTE_MAX];

				return cli_usage_error(cli, "-n takes a number or 'all', not %s",
						       shield_quote(optarg, strlen(optarg), q));
			}
			break;
		case 'f':
			L.follow = true;
			break;
		case 'h':
			logs_usage(stdout);
			return 0;
		default:
			return cli_bad_option(cli, argv);
		}
	}
	r = cli_target_finish(cli, argc, argv, &o, 0, 0, CLI_TARGET_NAME_OPTIONAL);
	if (r >= 0)
		return r;
	L.json = o.json;
	if (o.name || o.state_dir) {
		struct cli_target t = CLI_TARGET_INIT;

		r = cli_target_resolve(cli, &o, 0, &t, &err);
		if (r >= 0)
			r = add_source(&L, t.state_dir, true, &err);
		cli_target_free(&t);
		if (r < 0)
			return cli_fail(cli, &err);
	}
	if (L.follow) {
		/* Before anything is read: an entry appended meanwhile wakes us. */
		sigemptyset(&mask);
		sigaddset(&mask, SIGINT);
		sigaddset(&mask, SIGTERM);
		sigprocmask(SIG_BLOCK, &mask, NULL);
		L.inotify = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		if (L.inotify < 0) {
			logs_free(&L);
			shield_error_set(&err, negative_errno(), "inotify: %s", strerror(errno));
			return cli_fail(cli, &err);
		}
	}
	if (!(o.name || o.state_dir)) {
		r = add_registry_sources(&L, &err);
		if (r >= 0)
			r = add_state_root_sources(&L, &err);
		if (r >= 0 && L.follow)
			watch_new_bundles(&L);
	}
	for (size_t i = 0; r >= 0 && i < L.n; i++) {
		source_watch(&L, &L.src[i]);
		source_open(&L, &L.src[i]);
		r = source_read(&L, &L.src[i], &log, &err);
	}
	if (r >= 0 && !L.follow)
		for (size_t i = 0; r >= 0 && i < L.n; i++)
			if (audit_reader_finish(&L.src[i].rd, &log) < 0)
				r = shield_error_set(&err, -ENOMEM, "out of memory");
	if (r >= 0) {
		audit_log_sort(&log);
		audit_log_keep_last(&log, L.lines);
		set_widths(&L, &log);
		if (print_entries(&L, &log) < 0) {
			/* The reader went away (| head): nothing more to say. */
			audit_log_free(&log);
			logs_free(&L);
			return errno == EPIPE ? 0 : EXIT_USER;
		}
	}
	audit_log_free(&log);
	if (r >= 0 && L.follow)
		r = follow(&L, &err);
	logs_free(&L);
	if (r < 0)
		return cli_fail(cli, &err);
	return 0;
}
