/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shield setup: install the OCI hook descriptors where podman reads them.
 * shield check: say whether this host can run shielded containers.
 * Also where podman is and which hooks directories it reads, for prepare
 * and run (cmd-podman.h).
 */
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd-podman.h"
#include "shield/dnsmasq-config.h"
#include "shield/nft-netlink.h"
#include "shield/podman-hooks.h"

#ifndef SHIELD_LIBEXECDIR
#define SHIELD_LIBEXECDIR "/usr/local/libexec"
#endif

/* The dnsmasq shield-hook runs (it reads $SHIELD_DNSMASQ the same way). */
#define DNSMASQ_BINARY "/usr/sbin/dnsmasq"

/* ------------------------------------------------------------ small I/O */

int read_text_file(const char *path, size_t cap, char **out, struct shield_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	struct stat st;

	if (fd < 0)
		return shield_error_set(err, negative_errno(), "cannot read %s: %s", path,
					strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return shield_error_set(err, -EINVAL, "%s is not a regular file", path);
	buf = malloc(cap + 1);
	if (!buf)
		return shield_error_set(err, -ENOMEM, "out of memory");
	for (;;) {
		ssize_t n = read(fd, buf + len, cap + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return shield_error_set(err, negative_errno(), "cannot read %s: %s", path,
						strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > cap)
			return shield_error_set(err, -EFBIG, "%s is larger than %zu bytes", path,
						cap);
	}
	buf[len] = '\0';
	*out = TAKE_PTR(buf);
	return 0;
}

static bool is_executable_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int podman_locate(char **path, struct shield_error *err)
{
	const char *name = getenv("SHIELD_PODMAN"), *dirs = getenv("PATH");
	_cleanup_free_ char *copy = NULL;
	char *next;

	if (!name || !*name)
		name = "podman";
	if (strchr(name, '/')) {
		if (!is_executable_file(name))
			return shield_error_set(err, -ENOENT,
						"podman binary %s (from $SHIELD_PODMAN) is not an "
						"executable file",
						name);
		*path = strdup(name);
		return *path ? 0 : shield_error_set(err, -ENOMEM, "out of memory");
	}
	copy = strdup(dirs && *dirs ? dirs : "/usr/local/bin:/usr/bin:/bin");
	if (!copy)
		return shield_error_set(err, -ENOMEM, "out of memory");
	for (char *d = copy; d; d = next) {
		char *candidate;

		next = strchr(d, ':');
		if (next)
			*next++ = '\0';
		if (asprintf(&candidate, "%s/%s", *d ? d : ".", name) < 0)
			return shield_error_set(err, -ENOMEM, "out of memory");
		if (is_executable_file(candidate)) {
			*path = candidate;
			return 0;
		}
		free(candidate);
	}
	return shield_error_set(err, -ENOENT, "%s not found in PATH", name);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int run_capture(char *const argv[], int timeout_ms, size_t cap, char **out, int *status,
		struct shield_error *err)
{
	_cleanup_free_ char *buf = malloc(cap + 1);
	long long deadline = now_ms() + timeout_ms;
	size_t len = 0;
	int fds[2], ws = 0, r = 0;
	pid_t pid;

	if (!buf)
		return shield_error_set(err, -ENOMEM, "out of memory");
	if (pipe2(fds, O_CLOEXEC) < 0)
		return shield_error_set(err, negative_errno(), "pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		r = shield_error_set(err, negative_errno(), "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return r;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(fds[1], STDOUT_FILENO) < 0 ||
		    dup2(null, STDERR_FILENO) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd p = {.fd = fds[0], .events = POLLIN};
		long long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0) {
			r = shield_error_set(err, -ETIMEDOUT, "%s took longer than %d s", argv[0],
					     timeout_ms / 1000);
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			r = shield_error_set(err, negative_errno(), "poll: %s", strerror(errno));
			kill(pid, SIGKILL);
			break;
		}
		if (!p.revents)
			continue;
		n = read(fds[0], buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == cap) {
			r = shield_error_set(err, -EFBIG, "%s printed more than %zu bytes", argv[0],
					     cap);
			kill(pid, SIGKILL);
			break;
		}
	}
	close(fds[0]);
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	if (r < 0)
		return r;
	*status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	buf[len] = '\0';
	*out = TAKE_PTR(buf);
	return 0;
}

unsigned podman_major_version(const char *path)
{
	char *argv[] = {(char *)path, (char *)"--version", NULL};
	_cleanup_free_ char *out = NULL;
	int status;

	if (run_capture(argv, 10000, 4096, &out, &status, NULL) < 0 || status != 0)
		return 0;
	return podman_version_major(out);
}

/* mkdir -p with mode for the new ones. */
static int mkdir_p(const char *path, mode_t mode, struct shield_error *err)
{
	_cleanup_free_ char *copy = strdup(path);

	if (!copy)
		return shield_error_set(err, -ENOMEM, "out of memory");
	for (char *p = copy + 1;; p++) {
		char saved = *p;

		if (saved != '/' && saved != '\0')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return shield_error_set(err, negative_errno(), "cannot create %s: %s", copy,
						strerror(errno));
		*p = saved;
		if (!saved)
			return 0;
	}
}

/* ---------------------------------------------------------- hooks dirs */

void hooks_dirs_free(struct hooks_dirs *h)
{
	strlist_free(&h->dirs);
	h->source[0] = '\0';
}

/* The rootless user's containers.conf, as containers/common finds it. */
static int user_conf_path(char *out, size_t size)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

	if (xdg && xdg[0] == '/')
		return snprintf(out, size, "%s/containers/containers.conf", xdg) < (int)size ? 0
											     : -1;
	if (!home || home[0] != '/') {
		struct passwd *pw = getpwuid(geteuid());

		home = pw ? pw->pw_dir : NULL;
	}
	if (!home)
		return -1;
	return snprintf(out, size, "%s/.config/containers/containers.conf", home) < (int)size ? 0
											      : -1;
}

static int conf_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".conf") == 0;
}

/* Read one containers.conf; a hooks_dir there replaces what came before. */
static int apply_conf(const char *path, struct hooks_dirs *out, struct shield_error *err)
{
	_cleanup_free_ char *text = NULL;
	int r = read_text_file(path, PODMAN_CONF_MAX, &text, err);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	r = podman_conf_hooks_dir(text, strlen(text), &out->dirs, err);
	if (r < 0)
		return shield_error_prefix(err, "%s: ", path);
	if (r > 0)
		snprintf(out->source, sizeof(out->source), "%s", path);
	return 0;
}

/* A file and the *.conf drop-ins of its FILE.d directory, in name order. */
static int apply_conf_and_dropins(const char *path, struct hooks_dirs *out,
				  struct shield_error *err)
{
	_cleanup_free_ char *dir = NULL;
	struct dirent **names = NULL;
	int n, r = apply_conf(path, out, err);

	if (r < 0)
		return r;
	if (asprintf(&dir, "%s.d", path) < 0)
		return shield_error_set(err, -ENOMEM, "out of memory");
	n = scandir(dir, &names, conf_filter, alphasort);
	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *file = NULL;

		if (r >= 0 && asprintf(&file, "%s/%s", dir, names[i]->d_name) < 0)
			r = shield_error_set(err, -ENOMEM, "out of memory");
		if (r >= 0)
			r = apply_conf(file, out, err);
		free(names[i]);
	}
	free(names);
	return r;
}

int podman_hooks_dirs(const char *flag, bool rootless, struct hooks_dirs *out,
		      struct shield_error *err)
{
	const char *env = getenv("CONTAINERS_CONF"), *over = getenv("CONTAINERS_CONF_OVERRIDE");
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (flag) {
		snprintf(out->source, sizeof(out->source), "--hooks-dir");
		return strlist_add(&out->dirs, flag) < 0
			       ? shield_error_set(err, -ENOMEM, "out of memory")
			       : 0;
	}
	if (strlist_add(&out->dirs, PODMAN_HOOKS_DIR_DEFAULT) < 0)
		return shield_error_set(err, -ENOMEM, "out of memory");
	if (env && *env) {
		r = apply_conf(env, out, err);
	} else {
		char user[PATH_MAX];

		r = apply_conf("/usr/share/containers/containers.conf", out, err);
		if (r >= 0)
			r = apply_conf_and_dropins("/etc/containers/containers.conf", out, err);
		if (r >= 0 && rootless && user_conf_path(user, sizeof(user)) == 0)
			r = apply_conf_and_dropins(user, out, err);
	}
	if (r >= 0 && over && *over)
		r = apply_conf(over, out, err);
	if (r < 0) {
		hooks_dirs_free(out);
		return r;
	}
	/* hooks_dir = []: root podman falls back on both system dirs, rootless on none. */
	if (out->dirs.n == 0 && !rootless &&
	    (strlist_add(&out->dirs, PODMAN_HOOKS_DIR_DEFAULT) < 0 ||
	     strlist_add(&out->dirs, PODMAN_HOOKS_DIR_ETC) < 0))
		return shield_error_set(err, -ENOMEM, "out of memory");
	return 0;
}

/* "A, B" for messages (static buffer). */
static const char *dirs_text(const struct strlist *dirs)
{
	static char buf[2048];
	size_t o = 0;

	buf[0] = '\0';
	if (dirs->n == 0)
		return "none";
	for (size_t i = 0; i < dirs->n && o < sizeof(buf); i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", i ? ", " : "",
				      dirs->items[i]);
	return buf;
}

/* The descriptor podman uses for file: the one in the last directory holding it. */
static int find_descriptor(const struct strlist *dirs, const char *file, char **path)
{
	for (size_t i = dirs->n; i-- > 0;) {
		struct stat st;
		char *p;

		if (asprintf(&p, "%s/%s", dirs->items[i], file) < 0)
			return -ENOMEM;
		if (stat(p, &st) == 0) {
			*path = p;
			return 0;
		}
		free(p);
	}
	return -ENOENT;
}

int podman_hooks_verify(const struct strlist *dirs, const char *profiles, char **where,
			struct shield_error *err)
{
	static const char *const files[] = {PODMAN_HOOK_FILE_CREATE, PODMAN_HOOK_FILE_POSTSTOP};
	static const char *const stages[] = {PODMAN_HOOK_STAGE_CREATE, PODMAN_HOOK_STAGE_POSTSTOP};

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *path = NULL, *text = NULL, *hook = NULL;
		int r = find_descriptor(dirs, files[i], &path);

		if (r == -ENOMEM)
			return shield_error_set(err, r, "out of memory");
		if (r < 0)
			return shield_error_set(err, -ENOENT,
						"no %s in podman's hooks directories (%s)",
						files[i], dirs_text(dirs));
		r = read_text_file(path, PODMAN_HOOK_DESCRIPTOR_MAX, &text, err);
		if (r < 0)
			return r;
		r = podman_hook_descriptor_check(text, strlen(text), stages[i], profiles, &hook,
						 err);
		if (r < 0)
			return shield_error_prefix(err, "%s would not run shield's hook: ", path);
		if (!is_executable_file(hook))
			return shield_error_set(err, -EINVAL,
						"%s runs %s, which is not an executable file", path,
						hook);
		if (i == 0 && where) {
			*where = strdup(dirname(path));
			if (!*where)
				return shield_error_set(err, -ENOMEM, "out of memory");
		}
	}
	return 0;
}

/* ------------------------------------------------------------- the hook */

/* shield-hook next to this shield, else in the install's libexec dir. */
static int default_hook(char **out, struct shield_error *err)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *p;

	if (n > 0) {
		self[n] = '\0';
		if (asprintf(&p, "%s/shield-hook", dirname(self)) < 0)
			return shield_error_set(err, -ENOMEM, "out of memory");
		if (is_executable_file(p)) {
			*out = p;
			return 0;
		}
		free(p);
	}
	if (is_executable_file(SHIELD_LIBEXECDIR "/shield/shield-hook")) {
		*out = strdup(SHIELD_LIBEXECDIR "/shield/shield-hook");
		return *out ? 0 : shield_error_set(err, -ENOMEM, "out of memory");
	}
	return shield_error_set(err, -ENOENT,
				"no shield-hook next to shield (%s) nor in %s; give --hook PATH",
				n > 0 ? self : "?", SHIELD_LIBEXECDIR "/shield");
}

static int check_hook_path(const char *hook, struct shield_error *err)
{
	if (hook[0] != '/')
		return shield_error_set(err, -EINVAL, "--hook %s: must be an absolute path", hook);
	if (!is_executable_file(hook))
		return shield_error_set(err, -EINVAL, "--hook %s: not an executable file", hook);
	return 0;
}

/* ---------------------------------------------------------------- setup */

static void setup_usage(FILE *out)
{
	fprintf(out,
		"Usage: shield setup [--system | --user | --dir DIR] [--hook PATH]\n"
		"       shield setup --staged --dir DIR --hook PATH\n"
		"\n"
		"Install the OCI hook descriptors (" PODMAN_HOOK_FILE_CREATE
		", " PODMAN_HOOK_FILE_POSTSTOP ")\n"
		"that make podman run shield-hook for containers carrying shield's annotations.\n"
		"Running it again changes nothing. If podman does not read the directory, the\n"
		"containers.conf lines that make it do so are printed.\n"
		"\n"
		"Options:\n"
		"  --system     the system directory podman reads (" PODMAN_HOOKS_DIR_ETC " when\n"
		"               hooks_dir lists it, else " PODMAN_HOOKS_DIR_DEFAULT
		"); root only;\n"
		"               the default for root\n"
		"  --user       $XDG_DATA_HOME/containers/oci/hooks.d (~/.local/share/...), for\n"
		"               rootless podman; the default for other users\n"
		"  --dir DIR    this directory instead\n"
		"  --hook PATH  the shield-hook to run (default: the one next to shield, else\n"
		"               " SHIELD_LIBEXECDIR "/shield/shield-hook)\n"
		"  --staged     for a package build: write into DIR the descriptors for a\n"
		"               hook that will be installed at PATH (need not exist yet);\n"
		"               podman's configuration is not consulted\n"
		"  -h, --help   show this help\n");
}

static bool strlist_has_dir(const struct strlist *l, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	for (size_t i = 0; i < l->n; i++) {
		size_t m = strlen(l->items[i]);

		while (m > 1 && l->items[i][m - 1] == '/')
			m--;
		if (m == n && strncmp(l->items[i], dir, n) == 0)
			return true;
	}
	return false;
}

/* Write dir/name atomically (temp file, fsync, rename); 1 written, 0 already identical. */
static int install_file(const char *dir, const char *name, const char *text,
			struct shield_error *err)
{
	_cleanup_free_ char *path = NULL, *tmp = NULL, *old = NULL;
	size_t len = strlen(text);
	_cleanup_close_ int fd = -1;

	if (asprintf(&path, "%s/%s", dir, name) < 0 ||
	    asprintf(&tmp, "%s/.%s.XXXXXX", dir, name) < 0)
		return shield_error_set(err, -ENOMEM, "out of memory");
	if (read_text_file(path, PODMAN_HOOK_DESCRIPTOR_MAX, &old, NULL) == 0 &&
	    strcmp(old, text) == 0)
		return 0;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return shield_error_set(err, negative_errno(), "cannot write in %s: %s", dir,
					strerror(errno));
	if (fchmod(fd, 0644) < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0 ||
	    rename(tmp, path) < 0) {
		int e = negative_errno();

		unlink(tmp);
		return shield_error_set(err, e, "cannot write %s: %s", path, strerror(-e));
	}
	return 1;
}

/* Where --user installs: $XDG_DATA_HOME/containers/oci/hooks.d. */
static int user_hooks_dir(char *out, size_t size, struct shield_error *err)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");

	if (xdg && xdg[0] == '/')
		snprintf(out, size, "%s/containers/oci/hooks.d", xdg);
	else if (home && home[0] == '/')
		snprintf(out, size, "%s/.local/share/containers/oci/hooks.d", home);
	else
		return shield_error_set(err, -ENOENT, "neither $XDG_DATA_HOME nor $HOME is set");
	return 0;
}

/* Tell how to make podman read dir, when it does not. */
static void print_visibility(const char *dir, bool rootless)
{
	struct hooks_dirs h;
	struct shield_error err = {0};
	char conf[PATH_MAX];
	const char *env = getenv("CONTAINERS_CONF");

	if (podman_hooks_dirs(NULL, rootless, &h, &err) < 0) {
		printf("note: cannot tell whether podman reads %s: %s\n", dir, err.msg);
		return;
	}
	if (strlist_has_dir(&h.dirs, dir)) {
		_cleanup_free_ char *where = NULL;

		if (podman_hooks_verify(&h.dirs, "x", &where, &err) < 0)
			printf("note: podman reads %s, but %s\n", dir, err.msg);
		else if (strcmp(where, dir) != 0)
			printf("note: podman reads %s, but the descriptors in %s mask these\n", dir,
			       where);
		hooks_dirs_free(&h);
		return;
	}
	if (env && *env)
		snprintf(conf, sizeof(conf), "%s", env);
	else if (!rootless || user_conf_path(conf, sizeof(conf)) < 0)
		snprintf(conf, sizeof(conf), "/etc/containers/containers.conf");
	printf("note: %s podman does not read %s (its hooks_dir is %s, %s%s).\n"
	       "To make it, put in %s (hooks_dir replaces the defaults, so keep them):\n"
	       "[engine]\n"
	       "hooks_dir = [",
	       rootless ? "rootless" : "rootful", dir, dirs_text(&h.dirs),
	       h.source[0] ? "set in " : "podman's default", h.source, conf);
	for (size_t i = 0; i < h.dirs.n; i++)
		printf("\"%s\", ", h.dirs.items[i]);
	printf("\"%s\"]\n", dir);
	hooks_dirs_free(&h);
}

int cmd_setup(struct cli *cli, int argc, char **argv)
{
	enum { OPT_SYSTEM = 256, OPT_USER, OPT_HOOK, OPT_DIR, OPT_STAGED };
	static const struct option opts[] = {
		{"system", no_argument, NULL, OPT_SYSTEM},
		{"user", no_argument, NULL, OPT_USER},
		{"hook", required_argument, NULL, OPT_HOOK},
		{"dir", required_argument, NULL, OPT_DIR},
		{"staged", no_argument, NULL, OPT_STAGED},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	static const char *const files[] = {PODMAN_HOOK_FILE_CREATE, PODMAN_HOOK_FILE_POSTSTOP};
	static const char *const stages[] = {PODMAN_HOOK_STAGE_CREATE, PODMAN_HOOK_STAGE_POSTSTOP};
	const char *hook_opt = NULL, *dir_opt = NULL;
	bool system = false, user = false, staged = false, rootless;
	_cleanup_free_ char *hook = NULL;
	struct shield_error err = {0};
	char dir[PATH_MAX];
	char *texts[2] = {NULL, NULL};
	int c, ret = EXIT_USER;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_SYSTEM:
			system = true;
			break;
		case OPT_USER:
			user = true;
			break;
		case OPT_HOOK:
			hook_opt = optarg;
			break;
		case OPT_DIR:
			dir_opt = optarg;
			break;
		case OPT_STAGED:
			staged = true;
			break;
		case 'h':
			setup_usage(stdout);
			return 0;
		default:
			return cli_bad_option(cli, argv);
		}
	}
	if (optind != argc)
		return cli_usage_error(cli, "too many arguments");
	if (system + user + !!dir_opt > 1)
		return cli_usage_error(cli, "give one of --system, --user and --dir");
	if (staged && (!dir_opt || !hook_opt))
		return cli_usage_error(cli, "--staged needs --dir and --hook");
	if (!system && !user && !dir_opt) {
		system = geteuid() == 0;
		user = !system;
	}
	rootless = user || (dir_opt && geteuid() != 0);

	/* Where. */
	if (dir_opt) {
		if (dir_opt[0] != '/') {
			shield_error_set(&err, -EINVAL, "--dir %s: must be an absolute path",
					 dir_opt);
			return cli_fail(cli, &err);
		}
		snprintf(dir, sizeof(dir), "%s", dir_opt);
	} else if (system) {
		struct hooks_dirs h;

		if (geteuid() != 0) {
			shield_error_set(&err, -EPERM,
					 "--system needs root (or use --user for rootless podman)");
			return cli_fail(cli, &err);
		}
		if (podman_hooks_dirs(NULL, false, &h, &err) < 0)
			return cli_fail(cli, &err);
		snprintf(dir, sizeof(dir), "%s",
			 strlist_has_dir(&h.dirs, PODMAN_HOOKS_DIR_ETC) ||
					 !strlist_has_dir(&h.dirs, PODMAN_HOOKS_DIR_DEFAULT)
				 ? PODMAN_HOOKS_DIR_ETC
				 : PODMAN_HOOKS_DIR_DEFAULT);
		hooks_dirs_free(&h);
	} else if (user_hooks_dir(dir, sizeof(dir), &err) < 0) {
		return cli_fail(cli, &err);
	}

	/* What. A staged hook is installed later (a package build): absolute is all we can check. */
	if (staged && hook_opt[0] != '/') {
		shield_error_set(&err, -EINVAL, "--hook %s: must be an absolute path", hook_opt);
		return cli_fail(cli, &err);
	}
	if (hook_opt) {
		if (!staged && check_hook_path(hook_opt, &err) < 0)
			return cli_fail(cli, &err);
		hook = strdup(hook_opt);
	} else if (default_hook(&hook, &err) < 0) {
		return cli_fail(cli, &err);
	}
	if (!hook) {
		shield_error_set(&err, -ENOMEM, "out of memory");
		return cli_fail(cli, &err);
	}
	for (size_t i = 0; i < 2; i++)
		if (podman_hook_descriptor(hook, stages[i], &texts[i], &err) < 0)
			goto fail;

	if (mkdir_p(dir, 0755, &err) < 0)
		goto fail;
	for (size_t i = 0; i < 2; i++) {
		int r = install_file(dir, files[i], texts[i], &err);

		if (r < 0)
			goto fail;
		printf("%s %s/%s (hook %s)\n", r ? "installed" : "already installed", dir, files[i],
		       hook);
	}
	if (!staged)
		print_visibility(dir, rootless);
	ret = 0;
	goto out;
fail:
	ret = cli_fail(cli, &err);
out:
	free(texts[0]);
	free(texts[1]);
	return ret;
}

/* ---------------------------------------------------------------- check */

struct check_line {
	const char *name;
	bool ok;
	char detail[2 * SHIELD_ERROR_MSG_MAX];
	char hint[512];
};

struct checks {
	struct check_line lines[16];
	size_t n;
};

static struct check_line *check_add(struct checks *c, const char *name, bool ok)
{
	struct check_line *l = &c->lines[c->n++];

	l->name = name;
	l->ok = ok;
	l->detail[0] = l->hint[0] = '\0';
	return l;
}

static void check_podman(struct checks *c, struct podman_info *info, bool *have_info)
{
	_cleanup_free_ char *podman = NULL, *out = NULL;
	struct shield_error err = {0};
	struct check_line *l;
	int status = 0;

	*have_info = false;
	if (podman_locate(&podman, &err) < 0) {
		l = check_add(c, "podman", false);
		snprintf(l->detail, sizeof(l->detail), "%s", err.msg);
		snprintf(l->hint, sizeof(l->hint), "install podman (Debian: apt install podman)");
		return;
	}
	{
		char *argv[] = {podman, (char *)"info", (char *)"--format", (char *)"json", NULL};

		if (run_capture(argv, 30000, PODMAN_INFO_MAX, &out, &status, &err) >= 0 &&
		    status != 0)
			shield_error_set(&err, -EIO, "'%s info' exited with status %d", podman,
					 status);
		else if (out && podman_info_parse(out, strlen(out), info, &err) >= 0)
			*have_info = true;
	}
	l = check_add(c, "podman", *have_info);
	if (!*have_info) {
		snprintf(l->detail, sizeof(l->detail), "%s", err.msg);
		snprintf(l->hint, sizeof(l->hint), "run '%s info' to see what is wrong", podman);
		return;
	}
	snprintf(l->detail, sizeof(l->detail), "%s %s (%s)", podman, info->version,
		 info->rootless ? "rootless" : "rootful");
	l = check_add(c, "runtime", info->runtime[0] != '\0');
	snprintf(l->detail, sizeof(l->detail), "%s; network backend %s; default network %s",
		 info->runtime[0] ? info->runtime : "unknown",
		 info->network_backend[0] ? info->network_backend : "unknown",
		 info->rootless ? info->rootless_network : "bridge");
	if (!l->ok)
		snprintf(l->hint, sizeof(l->hint), "install runc or crun");
}

static void check_hooks(struct checks *c, const char *flag, const char *hook_opt, bool rootless)
{
	static const char *const files[] = {PODMAN_HOOK_FILE_CREATE, PODMAN_HOOK_FILE_POSTSTOP};
	static const char *const stages[] = {PODMAN_HOOK_STAGE_CREATE, PODMAN_HOOK_STAGE_POSTSTOP};
	_cleanup_free_ char *where = NULL, *hook = NULL;
	struct shield_error err = {0};
	struct check_line *l;
	struct hooks_dirs h;

	if (podman_hooks_dirs(flag, rootless, &h, &err) < 0) {
		l = check_add(c, "hooks", false);
		snprintf(l->detail, sizeof(l->detail), "%s", err.msg);
		snprintf(l->hint, sizeof(l->hint), "fix that containers.conf");
		return;
	}
	if (podman_hooks_verify(&h.dirs, "x", &where, &err) < 0) {
		l = check_add(c, "hooks", false);
		snprintf(l->detail, sizeof(l->detail), "%s", err.msg);
		snprintf(l->hint, sizeof(l->hint), "run 'shield setup'%s",
			 rootless ? " --user and add its directory to "
				    "hooks_dir as it says"
				  : "");
		hooks_dirs_free(&h);
		return;
	}
	/* Stale: not what setup would write now (another shield-hook, older content). */
	if (hook_opt)
		hook = check_hook_path(hook_opt, &err) >= 0 ? strdup(hook_opt) : NULL;
	else if (default_hook(&hook, NULL) < 0)
		hook = NULL;
	for (size_t i = 0; hook && i < 2; i++) {
		_cleanup_free_ char *want = NULL, *have = NULL, *path = NULL;

		if (podman_hook_descriptor(hook, stages[i], &want, NULL) < 0 ||
		    find_descriptor(&h.dirs, files[i], &path) < 0)
			break;
		if (read_text_file(path, PODMAN_HOOK_DESCRIPTOR_MAX, &have, NULL) < 0 ||
		    strcmp(have, want) != 0) {
			l = check_add(c, "hooks", false);
			snprintf(l->detail, sizeof(l->detail),
				 "stale: %s differs from what 'shield setup' writes for hook %s",
				 path, hook);
			snprintf(l->hint, sizeof(l->hint), "run 'shield setup'%s",
				 hook_opt ? " --hook with that path" : "");
			hooks_dirs_free(&h);
			return;
		}
	}
	l = check_add(c, "hooks", true);
	snprintf(l->detail, sizeof(l->detail), "installed in %s (podman reads %s)", where,
		 dirs_text(&h.dirs));
	hooks_dirs_free(&h);
}

static void check_dnsmasq(struct checks *c)
{
	const char *bin = getenv("SHIELD_DNSMASQ");
	_cleanup_free_ char *out = NULL;
	struct shield_error err = {0};
	struct check_line *l;
	char version[32] = "";
	int status = 0;

	if (!bin || !*bin)
		bin = DNSMASQ_BINARY;
	if (!is_executable_file(bin)) {
		l = check_add(c, "dnsmasq", false);
		snprintf(l->detail, sizeof(l->detail), "%s is not an executable file", bin);
		snprintf(l->hint, sizeof(l->hint),
			 "install dnsmasq built with nftset (Debian: apt install dnsmasq-base)");
		return;
	}
	{
		char *argv[] = {(char *)bin, (char *)"--version", NULL};

		if (run_capture(argv, 10000, 64 * 1024, &out, &status, &err) < 0 || status != 0) {
			l = check_add(c, "dnsmasq", false);
			snprintf(l->detail, sizeof(l->detail), "'%s --version' failed: %s", bin,
				 err.msg[0] ? err.msg : "non-zero exit");
			snprintf(l->hint, sizeof(l->hint), "reinstall dnsmasq");
			return;
		}
	}
	{
		const char *v = strstr(out, "version ");

		if (v)
			sscanf(v + 8, "%31s", version);
	}
	l = check_add(c, "dnsmasq", dnsmasq_version_has_nftset(out));
	snprintf(l->detail, sizeof(l->detail), "%s %s %s", bin, version[0] ? version : "?",
		 l->ok ? "with nftset" : "without nftset support");
	if (!l->ok)
		snprintf(l->hint, sizeof(l->hint),
			 "install a dnsmasq built with nftset (2.87 or later; Debian: "
			 "dnsmasq-base), or point $SHIELD_DNSMASQ at one");
}

/*
 * nf_tables over netlink, from a fresh network namespace (and, without root,
 * a user namespace for the capability), as the hook will use it.
 */
static void check_nftables(struct checks *c)
{
	struct check_line *l;
	char msg[SHIELD_ERROR_MSG_MAX] = "";
	int fds[2], ws = 0;
	ssize_t n = 0;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		l = check_add(c, "nftables", false);
		snprintf(l->detail, sizeof(l->detail), "pipe: %s", strerror(errno));
		return;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct shield_error err = {0};
		struct nft_sock *s = NULL;
		struct nft_ruleset rs;
		int flags = CLONE_NEWNET | (geteuid() != 0 ? CLONE_NEWUSER : 0);

		close(fds[0]);
		memset(&rs, 0, sizeof(rs));
		if (unshare(flags) < 0)
			shield_error_set(&err, negative_errno(),
					 "cannot make a network namespace: %s", strerror(errno));
		else if (nft_sock_open(&s, &err) >= 0 && nft_dump_ruleset(s, &rs, &err) >= 0)
			_exit(0);
		if (write(fds[1], err.msg, strlen(err.msg)) < 0)
			_exit(2);
		_exit(1);
	}
	close(fds[1]);
	if (pid > 0) {
		n = read(fds[0], msg, sizeof(msg) - 1);
		while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
			;
	}
	close(fds[0]);
	if (n > 0)
		msg[n] = '\0';
	l = check_add(c, "nftables", pid > 0 && WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	if (l->ok) {
		snprintf(l->detail, sizeof(l->detail), "nf_tables answers over netlink");
		return;
	}
	snprintf(l->detail, sizeof(l->detail), "%s", msg[0] ? msg : "the probe failed");
	snprintf(l->hint, sizeof(l->hint),
		 "a kernel with nf_tables (CONFIG_NF_TABLES; modprobe nf_tables)%s",
		 geteuid() != 0 ? " and unprivileged user namespaces" : "");
}

/* Whether FILE (/etc/subuid or /etc/subgid) gives user (name or uid) a range. */
static bool has_subids(const char *file, const char *name, uid_t uid)
{
	_cleanup_free_ char *text = NULL;
	char uidbuf[16];

	snprintf(uidbuf, sizeof(uidbuf), "%u", (unsigned)uid);
	if (read_text_file(file, 1024 * 1024, &text, NULL) < 0)
		return false;
	for (char *line = text, *next; line && *line; line = next) {
		char *colon = strchr(line, ':'), *count;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!colon)
			continue;
		*colon = '\0';
		if (strcmp(line, name) != 0 && strcmp(line, uidbuf) != 0)
			continue;
		count = strchr(colon + 1, ':');
		if (count && strtoul(count + 1, NULL, 10) > 0)
			return true;
	}
	return false;
}

static void check_privileges(struct checks *c, bool rootless)
{
	struct passwd *pw = getpwuid(geteuid());
	const char *name = pw ? pw->pw_name : "?";
	struct check_line *l;
	bool uid_ok, gid_ok;

	if (!rootless) {
		l = check_add(c, "privileges", true);
		snprintf(l->detail, sizeof(l->detail), "root (rootful podman)");
		return;
	}
	uid_ok = has_subids("/etc/subuid", name, geteuid());
	gid_ok = has_subids("/etc/subgid", name, geteuid());
	l = check_add(c, "privileges", uid_ok && gid_ok);
	snprintf(l->detail, sizeof(l->detail), "rootless as %s; %s", name,
		 uid_ok && gid_ok ? "subordinate ids in /etc/subuid and /etc/subgid"
		 : uid_ok	  ? "no range in /etc/subgid"
		 : gid_ok	  ? "no range in /etc/subuid"
				  : "no range in /etc/subuid nor /etc/subgid");
	if (!l->ok)
		snprintf(l->hint, sizeof(l->hint),
			 "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s",
			 name);
}

static void check_tun(struct checks *c, bool rootless, const struct podman_info *info,
		      bool have_info)
{
	struct stat st;
	bool present = stat("/dev/net/tun", &st) == 0 && S_ISCHR(st.st_mode);
	bool needed =
		rootless && (!have_info || strcmp(info->rootless_network, "slirp4netns") == 0 ||
			     strcmp(info->rootless_network, "pasta") == 0);
	struct check_line *l = check_add(c, "tun", present || !needed);

	if (present)
		snprintf(l->detail, sizeof(l->detail), "/dev/net/tun present%s",
			 needed ? " (slirp4netns/pasta need it)" : "");
	else
		snprintf(l->detail, sizeof(l->detail), "/dev/net/tun missing%s",
			 needed ? "; rootless slirp4netns/pasta need it"
				: " (rootful: not needed)");
	if (!l->ok)
		snprintf(l->hint, sizeof(l->hint), "modprobe tun, or mknod /dev/net/tun c 10 200");
}

static void check_usage(FILE *out)
{
	fprintf(out,
		"Usage: shield check [--json] [--hooks-dir DIR] [--hook PATH]\n"
		"\n"
		"Report, one line each, whether this host can run shielded containers:\n"
		"podman and its runtime and network, shield's hook descriptors where podman\n"
		"reads them, dnsmasq with nftset, nf_tables, root or subordinate ids, and\n"
		"/dev/net/tun. Exit status 0 when everything is OK, 1 otherwise.\n"
		"\n"
		"Options:\n"
		"  --json           one JSON object: {\"ok\", \"checks\": [{\"name\", \"ok\",\n"
		"                   \"detail\", \"hint\"}]}\n"
		"  --hooks-dir DIR  check the hooks podman reads with --hooks-dir DIR\n"
		"  --hook PATH      the shield-hook the descriptors should run (default: the\n"
		"                   one 'shield setup' would pick)\n"
		"  -h, --help       show this help\n");
}

static int print_checks_json(const struct checks *c, bool all_ok)
{
	json_t *arr = json_array(), *root;

	for (size_t i = 0; arr && i < c->n; i++) {
		const struct check_line *l = &c->lines[i];
		json_t *o = json_pack("{s:s, s:b, s:s, s:s?}", "name", l->name, "ok", l->ok,
				      "detail", l->detail, "hint", l->hint[0] ? l->hint : NULL);

		if (!o || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	root = arr ? json_pack("{s:b, s:o}", "ok", all_ok, "checks", arr) : NULL;
	return cli_print_json(root, JSON_INDENT(2));
}

int cmd_check(struct cli *cli, int argc, char **argv)
{
	enum { OPT_JSON = 256, OPT_HOOKS_DIR, OPT_HOOK };
	static const struct option opts[] = {
		{"json", no_argument, NULL, OPT_JSON},
		{"hooks-dir", required_argument, NULL, OPT_HOOKS_DIR},
		{"hook", required_argument, NULL, OPT_HOOK},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *hooks_dir = NULL, *hook = NULL;
	struct podman_info info;
	struct checks checks = {0};
	bool json = false, have_info, all_ok = true;
	bool rootless = geteuid() != 0;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			json = true;
			break;
		case OPT_HOOKS_DIR:
			hooks_dir = optarg;
			break;
		case OPT_HOOK:
			hook = optarg;
			break;
		case 'h':
			check_usage(stdout);
			return 0;
		default:
			return cli_bad_option(cli, argv);
		}
	}
	if (optind != argc)
		return cli_usage_error(cli, "too many arguments");

	memset(&info, 0, sizeof(info));
	check_podman(&checks, &info, &have_info);
	check_hooks(&checks, hooks_dir, hook, rootless);
	check_dnsmasq(&checks);
	check_nftables(&checks);
	check_privileges(&checks, rootless);
	check_tun(&checks, rootless, &info, have_info);

	for (size_t i = 0; i < checks.n; i++)
		all_ok = all_ok && checks.lines[i].ok;
	if (json) {
		if (print_checks_json(&checks, all_ok) < 0) {
			struct shield_error err;

			shield_error_set(&err, -ENOMEM, "out of memory");
			return cli_fail(cli, &err);
		}
	} else {
		for (size_t i = 0; i < checks.n; i++) {
			const struct check_line *l = &checks.lines[i];

			printf("%-4s %s: %s", l->ok ? "OK" : "FAIL", l->name, l->detail);
			if (l->hint[0])
				printf(" (fix: %s)", l->hint);
			printf("\n");
		}
	}
	if (fflush(stdout) != 0)
		return EXIT_USER;
	return all_ok ? 0 : EXIT_USER;
}
