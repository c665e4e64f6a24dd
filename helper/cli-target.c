/* SPDX-License-Identifier: Apache-2.0 */
/* Which container a runtime command acts on (see cli-target.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli-target.h"
#include "cmd-podman.h"
#include "shield/bundle.h"
#include "shield/launch.h"
#include "shield/netns.h"
#include "shield/podman-inspect.h"

#define UNSHARED_ENV	  "SHIELD_UNSHARED"
#define PODMAN_INSPECT_MS 30000
#define CMDLINE_MAX	  (1024 * 1024)

/* ------------------------------------------------------------------ options */

bool cli_target_option(struct cli_target_opts *o, int c)
{
	switch (c) {
	case CLI_TARGET_OPT_STATE_DIR:
		o->state_dir = optarg;
		return true;
	case CLI_TARGET_OPT_NETNS:
		o->netns = optarg;
		return true;
	case CLI_TARGET_OPT_JSON:
		o->json = true;
		return true;
	default:
		return false;
	}
}

int cli_target_finish(const struct cli *cli, int argc, char **argv, struct cli_target_opts *o,
		      int min_args, int max_args, unsigned flags)
{
	int left = argc - optind;

	if (o->netns && !o->state_dir && !(flags & CLI_TARGET_NETNS_WITH_NAME))
		return cli_usage_error(cli, "--netns goes with --state-dir DIR (a NAME is found "
					    "through podman or the registry)");
	if (o->state_dir && (!*o->state_dir))
		return cli_usage_error(cli, "--state-dir needs a directory");
	if (o->netns && !*o->netns)
		return cli_usage_error(cli, "--netns needs a path");
	if (!o->state_dir) {
		/* NAME comes first; an optional NAME is taken only when no other word may follow. */
		if (left > min_args) {
			o->name = argv[optind++];
			left--;
		} else if (!(flags & CLI_TARGET_NAME_OPTIONAL)) {
			return cli_usage_error(cli,
					       left == 0 && min_args == 0
						       ? "give a container NAME or --state-dir DIR"
						       : "give a container NAME (or --state-dir "
							 "DIR) and then %s",
					       min_args == 1 ? "one more argument"
							     : "more arguments");
		}
	} else if (left > max_args) {
		return cli_usage_error(cli, "give either --state-dir or a NAME, not both");
	}
	if (left < min_args)
		return cli_usage_error(cli, "missing argument");
	if (left > max_args)
		return cli_usage_error(cli, "too many arguments");
	if (!o->netns && (flags & CLI_TARGET_NETNS_REQUIRED))
		return cli_usage_error(cli, "--netns is required");
	o->args = argv + optind;
	o->n_args = left;
	return -1;
}

int cli_target_parse(const struct cli *cli, int argc, char **argv, struct cli_target_opts *o,
		     int min_args, int max_args, unsigned flags, void (*usage)(FILE *out))
{
	static const struct option opts[] = {
		CLI_TARGET_OPTIONS,
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cli_target_option(o, c))
			continue;
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		return cli_bad_option(cli, argv);
	}
	return cli_target_finish(cli, argc, argv, o, min_args, max_args, flags);
}

/* --------------------------------------------------------------- resolution */

void cli_target_free(struct cli_target *t)
{
	free(t->name);
	free(t->id);
	free(t->state_dir);
	free(t->profiles);
	free(t->netns_path);
	if (t->dirfd >= 0)
		close(t->dirfd);
	if (t->nsfd >= 0)
		close(t->nsfd);
	*t = (struct cli_target)CLI_TARGET_INIT;
}

void cli_target_not_running_note(const struct cli *cli, const struct cli_target *t)
{
	fprintf(stderr, "shield: %s: %s is not running: the change applies at its next start\n",
		cli->command, t->name);
}

static int set_string(char **dst, const char *src, struct shield_error *err)
{
	free(*dst);
	*dst = src ? strdup(src) : NULL;
	return !src || *dst ? 0 : shield_error_set(err, -ENOMEM, "out of memory");
}

/* An attached namespace registered under this id or name. */
static bool match_attached(const struct registry_entry *e, const void *arg)
{
	const char *name = arg;

	return strcmp(e->source, "attach") == 0 &&
	       (strcmp(e->id, name) == 0 || strcmp(e->name, name) == 0);
}

/* Check and open the bundle at path into t. */
static int open_bundle(struct cli_target *t, const char *path, const char *who,
		       struct shield_error *err)
{
	int r = set_string(&t->state_dir, path, err);

	if (r < 0)
		return r;
	r = bundle_check_location(t->state_dir, err);
	if (r >= 0) {
		t->dirfd = bundle_open(t->state_dir, false, err);
		r = t->dirfd;
	}
	if (r < 0 && who)
		return shield_error_prefix(err, "%s: ", who);
	return r;
}

/* The registry location: where the bundle's last start put it, else this process's. */
static void find_runtime_dir(struct cli_target *t)
{
	struct shield_error ignored = {0};

	if (t->dirfd >= 0 && launch_recorded_runtime_dir(t->dirfd, t->runtime_dir))
		return;
	if (registry_runtime_dir(t->runtime_dir, sizeof(t->runtime_dir), &ignored) < 0)
		t->runtime_dir[0] = '\0';
}

/* The bundle's own name (shield.conf), or its directory's base name. */
static int bundle_name(struct cli_target *t, struct shield_error *err)
{
	struct bundle_config c;
	struct shield_error ignored = {0};
	const char *base = strrchr(t->state_dir, '/');
	int r;

	bundle_config_init(&c);
	if (bundle_read_config(t->dirfd, &c, &ignored) >= 0 && c.name[0])
		r = set_string(&t->name, c.name, err);
	else
		r = set_string(&t->name, base && base[1] ? base + 1 : t->state_dir, err);
	bundle_config_free(&c);
	return r;
}

/* podman inspect NAME: 0 known (*c filled), -ENOENT unknown or no podman (why in *why), -errno. */
static int podman_inspect(const char *name, struct podman_container *c, char *why, size_t why_size,
			  struct shield_error *err)
{
	_cleanup_free_ char *podman = NULL, *out = NULL;
	struct shield_error perr = {0};
	char q[SHIELD_QUOTE_MAX];
	int status = 0, r;

	r = podman_locate(&podman, &perr);
	if (r < 0) {
		snprintf(why, why_size, "%s", perr.msg);
		return -ENOENT;
	}
	{
		char *const argv[] = {podman,
				      (char *)"inspect",
				      (char *)"--type",
				      (char *)"container",
				      (char *)"--format",
				      (char *)"json",
				      (char *)name,
				      NULL};

		r = run_capture(argv, PODMAN_INSPECT_MS, PODMAN_INSPECT_MAX, &out, &status, err);
	}
	if (r < 0)
		return shield_error_prefix(
			err, "podman inspect %s: ", shield_quote(name, strlen(name), q));
	r = podman_inspect_parse(out, strlen(out), c, &perr);
	if (r == -ENOENT || (r < 0 && status != 0 && strspn(out, " \t\r\n") == strlen(out))) {
		snprintf(why, why_size, "podman knows no container %s",
			 shield_quote(name, strlen(name), q));
		return -ENOENT;
	}
	if (r < 0 && status != 0)
		return shield_error_set(err, -EIO, "podman inspect %s exited with status %d",
					shield_quote(name, strlen(name), q), status);
	if (r < 0)
		return shield_error_set(err, r, "%s", perr.msg);
	return 0;
}

static int resolve_podman(const struct cli *cli, const char *name, struct podman_container *c,
			  struct cli_target *t, struct shield_error *err)
{
	_cleanup_free_ char *path = NULL;
	struct shield_error ignored = {0};
	_cleanup_close_ int regfd = -1;
	const char *who = c->name[0] ? c->name : name;
	char q[SHIELD_QUOTE_MAX];
	int r;

	t->podman = true;
	r = set_string(&t->name, who, err);
	if (r >= 0)
		r = set_string(&t->id, c->id, err);
	if (r >= 0)
		r = set_string(&t->profiles, c->profiles, err);
	if (r < 0)
		return r;
	if (!c->shielded)
		return shield_error_set(err, -ENOENT,
					"%s: not shielded (podman created it without shield's "
					"terok.shield.* annotations)",
					who);
	if (c->state_dir) {
		path = strdup(c->state_dir);
	} else {
		if (cli_check_name(who, err) < 0)
			return shield_error_prefix(err, "%s: ", who);
		path = cli_bundle_path(cli, NULL, who);
	}
	if (!path)
		return shield_error_set(err, -ENOMEM, "out of memory");
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return shield_error_set(
			err, -ENOENT, "%s: not shielded: its bundle %s does not exist%s", who,
			shield_quote(path, strlen(path), q),
			c->state_dir ? "" : " (no terok.shield.state_dir annotation)");
	r = open_bundle(t, path, who, err);
	if (r < 0)
		return r;
	find_runtime_dir(t);
	t->running = c->running;
	t->pid = c->pid;
	if (t->running) {
		if (asprintf(&t->netns_path, "/proc/%d/ns/net", (int)t->pid) < 0) {
			t->netns_path = NULL;
			return shield_error_set(err, -ENOMEM, "out of memory");
		}
	}
	/* The hook registered the running container under its full id. */
	if (t->runtime_dir[0])
		regfd = registry_open(t->runtime_dir, false, &ignored);
	if (regfd >= 0 && registry_read(regfd, t->id, &t->entry, &ignored) >= 0)
		t->has_entry = !t->running || t->entry.pid == t->pid;
	if (!t->has_entry)
		memset(&t->entry, 0, sizeof(t->entry));
	/* Between the hook (createRuntime) and podman's "running", the namespace is
	 * shielded and registered already: a live entry says it runs. */
	if (!t->running && t->has_entry && registry_entry_netns_alive(&t->entry)) {
		t->running = true;
		t->pid = t->entry.pid;
		return set_string(&t->netns_path, t->entry.netns, err);
	}
	return 0;
}

/* An attached namespace registered under name, else a bundle STATE_ROOT/containers/NAME. */
static int resolve_unmanaged(const struct cli *cli, const char *name, const char *why,
			     struct cli_target *t, struct shield_error *err)
{
	_cleanup_free_ char *path = NULL;
	char q[SHIELD_QUOTE_MAX];
	int r;

	if (registry_runtime_dir(t->runtime_dir, sizeof(t->runtime_dir), err) < 0)
		t->runtime_dir[0] = '\0';
	shield_error_clear(err);
	r = registry_find(t->runtime_dir, match_attached, name, &t->entry, err);
	if (r < 0)
		return r;
	if (r > 0) {
		t->has_entry = true;
		r = open_bundle(t, t->entry.state_dir, name, err);
		if (r >= 0)
			r = set_string(&t->id, t->entry.id, err);
		if (r >= 0)
			r = set_string(&t->name, t->entry.name[0] ? t->entry.name : t->entry.id,
				       err);
		if (r < 0)
			return r;
		t->running = registry_entry_netns_alive(&t->entry);
		return t->running ? set_string(&t->netns_path, t->entry.netns, err) : 0;
	}
	if (cli_check_name(name, err) < 0)
		return -EINVAL;
	path = cli_bundle_path(cli, NULL, name);
	if (!path)
		return shield_error_set(err, -ENOMEM, "out of memory");
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return shield_error_set(err, -ENOENT,
					"no container %s: %s, no namespace is attached under that "
					"name, and there is no bundle %s",
					shield_quote(name, strlen(name), q), why, path);
	/* A prepared bundle whose container does not exist (yet): files only. */
	r = open_bundle(t, path, name, err);
	if (r >= 0)
		r = set_string(&t->name, name, err);
	return r;
}

static int resolve_state_dir(const struct cli *cli, const struct cli_target_opts *o,
			     struct cli_target *t, struct shield_error *err)
{
	_cleanup_free_ char *path = cli_bundle_path(cli, o->state_dir, NULL);
	int r;

	if (!path)
		return shield_error_set(err, -ENOMEM, "out of memory");
	r = open_bundle(t, path, NULL, err);
	if (r < 0)
		return r;
	find_runtime_dir(t);
	r = registry_find_bundle(t->runtime_dir, t->dirfd, &t->entry, err);
	if (r < 0)
		return r;
	t->has_entry = r > 0;
	if (!t->has_entry)
		memset(&t->entry, 0, sizeof(t->entry));
	if (t->has_entry && t->entry.name[0])
		r = set_string(&t->name, t->entry.name, err);
	else
		r = bundle_name(t, err);
	if (r >= 0 && t->has_entry)
		r = set_string(&t->id, t->entry.id, err);
	if (r < 0)
		return r;
	if (o->netns) {
		t->running = true;
		return set_string(&t->netns_path, o->netns, err);
	}
	if (t->has_entry && registry_entry_netns_alive(&t->entry)) {
		t->running = true;
		t->pid = t->entry.pid;
		return set_string(&t->netns_path, t->entry.netns, err);
	}
	return 0;
}

/* ----------------------------------------------------------- rootless re-exec */

static int absolute(const char *path, char **out)
{
	_cleanup_free_ char *cwd = NULL;

	if (path[0] == '/') {
		*out = strdup(path);
		return *out ? 0 : -ENOMEM;
	}
	cwd = getcwd(NULL, 0);
	if (!cwd || asprintf(out, "%s/%s", cwd, path) < 0)
		return -ENOMEM;
	return 0;
}

/* Re-run this command as `podman unshare SELF ARGS...`; returns only on failure. */
static int reexec_unshared(const struct cli *cli, const struct cli_target *t,
			   struct shield_error *err)
{
	_cleanup_free_ char *podman = NULL, *self = NULL, *cmdline = NULL, *root = NULL,
			    *config = NULL;
	_cleanup_free_ char **argv = NULL;
	_cleanup_close_ int fd = -1;
	size_t len = 0, n_args = 0, k = 0;
	ssize_t n;
	int r;

	if (getenv(UNSHARED_ENV))
		return shield_error_set(err, -EPERM,
					"%s: still outside podman's user namespace after 'podman "
					"unshare' (%s is set)",
					t->name, UNSHARED_ENV);
	r = podman_locate(&podman, err);
	if (r < 0)
		return shield_error_prefix(err, "%s: entering podman's user namespace: ", t->name);
	self = realpath("/proc/self/exe", NULL);
	cmdline = malloc(CMDLINE_MAX);
	if (!self || !cmdline)
		return shield_error_set(err, negative_errno(), "cannot find this program: %s",
					strerror(errno));
	fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return shield_error_set(err, negative_errno(), "/proc/self/cmdline: %s",
					strerror(errno));
	while ((n = read(fd, cmdline + len, CMDLINE_MAX - 1 - len)) > 0)
		len += (size_t)n;
	if (n < 0 || len == 0 || len >= CMDLINE_MAX - 1)
		return shield_error_set(err, -EIO, "cannot read /proc/self/cmdline");
	cmdline[len] = '\0';
	for (size_t i = 0; i < len; i++)
		n_args += cmdline[i] == '\0';
	argv = calloc(n_args + 4, sizeof(*argv));
	if (!argv)
		return shield_error_set(err, -ENOMEM, "out of memory");
	argv[k++] = podman;
	argv[k++] = (char *)"unshare";
	argv[k++] = self;
	/* argv[0] of this process is replaced by the resolved binary. */
	for (size_t i = strlen(cmdline) + 1; i < len; i += strlen(cmdline + i) + 1)
		argv[k++] = cmdline + i;
	argv[k] = NULL;
	/* Inside, euid is 0: without these the defaults would be root's paths. */
	if (absolute(cli->state_root, &root) < 0 || absolute(cli->config_dir, &config) < 0)
		return shield_error_set(err, -ENOMEM, "out of memory");
	if (setenv(UNSHARED_ENV, "1", 1) < 0 || setenv("SHIELD_STATE_ROOT", root, 1) < 0 ||
	    setenv("SHIELD_CONFIG_DIR", config, 1) < 0 ||
	    (t->runtime_dir[0] && setenv("SHIELD_RUNTIME_DIR", t->runtime_dir, 1) < 0))
		return shield_error_set(err, negative_errno(), "setenv: %s", strerror(errno));
	fflush(NULL);
	execv(podman, argv);
	return shield_error_set(err, negative_errno(), "cannot run %s unshare: %s", podman,
				strerror(errno));
}

int cli_target_resolve(const struct cli *cli, const struct cli_target_opts *o, unsigned flags,
		       struct cli_target *t, struct shield_error *err)
{
	struct podman_container c = {0};
	char why[SHIELD_ERROR_MSG_MAX] = "";
	int r;

	if (o->state_dir) {
		r = resolve_state_dir(cli, o, t, err);
	} else {
		r = podman_inspect(o->name, &c, why, sizeof(why), err);
		if (r >= 0)
			r = resolve_podman(cli, o->name, &c, t, err);
		else if (r == -ENOENT)
			r = resolve_unmanaged(cli, o->name, why, t, err);
		podman_container_free(&c);
	}
	if (r < 0 || !t->running || !(flags & CLI_TARGET_ENTER))
		return r;
	if (geteuid() != 0 && !shield_in_user_namespace())
		return reexec_unshared(cli, t, err);
	t->nsfd = netns_open(t->netns_path, err);
	if (t->nsfd < 0)
		return shield_error_prefix(err, "%s: ", t->name);
	return 0;
}
