/* SPDX-License-Identifier: Apache-2.0 */
/* A container's dnsmasq as a process (see dnsmasq-proc.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "shield/bundle.h"
#include "shield/dnsmasq-config.h"
#include "shield/dnsmasq-proc.h"

#define CHILD_OUTPUT_MAX 4096 /* bytes of a child's output kept for messages */
#define CMDLINE_MAX	 (64 * 1024)

/* The environment dnsmasq runs with: nothing from the caller's. */
static char child_path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
static char *const child_env[] = {child_path, NULL};

int dnsmasq_binary(const char **out, struct shield_error *err)
{
	const char *env = getenv("SHIELD_DNSMASQ");

	if (env && *env && env[0] != '/')
		return shield_error_set(err, -EINVAL, "SHIELD_DNSMASQ must be an absolute path");
	*out = env && *env ? env : DNSMASQ_DEFAULT_BINARY;
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child: report why it could not exec, then exit 127. */
static _Noreturn void child_fail(int fd, const char *what, const char *arg)
{
	dprintf(fd, "%s %s: %s\n", what, arg, strerror(errno));
	_exit(127);
}

/*
 * Read from rd into out (capped; the excess is read and dropped): once, or
 * until it would block when all is set. Returns whether EOF was reached.
 */
static bool drain(int rd, char *out, size_t *used, bool all)
{
	do {
		char buf[1024];
		ssize_t k = read(rd, buf, sizeof(buf));
		size_t room = CHILD_OUTPUT_MAX - 1 - *used;

		if (k == 0)
			return true;
		if (k < 0)
			return errno != EAGAIN && errno != EINTR;
		if ((size_t)k < room)
			room = (size_t)k;
		memcpy(out + *used, buf, room);
		*used += room;
	} while (all);
	return false;
}

/* A child process being run: its pid, a pidfd for its exit, and its output pipe. */
struct child {
	pid_t pid;
	int pidfd;
	int rd;
	long long deadline; /* CLOCK_MONOTONIC ms */
};

static void child_kill(struct child *c)
{
	if (c->pid > 0) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
	}
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (c->rd >= 0)
		close(c->rd);
	*c = (struct child){.pid = 0, .pidfd = -1, .rd = -1};
}

/*
 * Start argv[0] (absolute) with argv, in the network namespace nsfd (-1:
 * ours), stdin from /dev/null, stdout and stderr into a pipe, with
 * child_env. It has timeout_ms to finish (child_wait).
 */
static int child_spawn(char *const argv[], int nsfd, int timeout_ms, struct child *c,
		       struct shield_error *err)
{
	_cleanup_close_ int wr = -1;
	int fds[2];

	*c = (struct child){.pid = 0, .pidfd = -1, .rd = -1, .deadline = now_ms() + timeout_ms};
	if (pipe2(fds, O_CLOEXEC) < 0)
		return shield_error_set(err, negative_errno(), "pipe: %s", strerror(errno));
	c->rd = fds[0];
	wr = fds[1];
	c->pid = fork();
	if (c->pid < 0) {
		int r = negative_errno();

		c->pid = 0;
		child_kill(c);
		return shield_error_set(err, r, "fork: %s", shield_strerror(r));
	}
	if (c->pid == 0) {
		sigset_t none;
		int devnull;

		/* Only async-signal-safe calls from here on until exec. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) < 0)
			child_fail(wr, "cannot enter the network namespace for", argv[0]);
		devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(wr, 1) < 0 || dup2(wr, 2) < 0)
			child_fail(wr, "cannot set up stdio for", argv[0]);
		close_range(3, ~0U, 0);
		execve(argv[0], argv, child_env);
		child_fail(2, "cannot execute", argv[0]);
	}
	c->pidfd = pidfd_open(c->pid, 0);
	if (c->pidfd < 0) {
		int r = negative_errno();

		child_kill(c);
		return shield_error_set(err, r, "pidfd_open: %s", shield_strerror(r));
	}
	return 0;
}

/*
 * Wait until the child exits (for a daemon: its first process), at most
 * until its deadline, then kill it. Its output goes to out (at most
 * CHILD_OUTPUT_MAX bytes kept); *status is waitpid()'s status. The child is
 * reaped and c emptied either way.
 */
static int child_wait(struct child *c, const char *what, char *out, int *status,
		      struct shield_error *err)
{
	size_t used = 0;
	bool eof = false;
	int r = 0;

	/* Read its output until it exits; a daemon's children may keep the pipe open,
	 * so once it has exited only what is already in the pipe is taken. */
	for (bool exited = false; !exited;) {
		struct pollfd p[2] = {{.fd = c->pidfd, .events = POLLIN},
				      {.fd = eof ? -1 : c->rd, .events = POLLIN}};
		long long left = c->deadline - now_ms();

		if (left <= 0) {
			r = shield_error_set(err, -ETIMEDOUT, "%s did not finish within %d ms",
					     what, DNSMASQ_START_TIMEOUT_MS);
			break;
		}
		if (poll(p, 2, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			r = shield_error_set(err, negative_errno(), "poll: %s", strerror(errno));
			break;
		}
		exited = p[0].revents & POLLIN;
		if (exited)
			fcntl(c->rd, F_SETFL, fcntl(c->rd, F_GETFL) | O_NONBLOCK);
		if (exited || (p[1].revents & (POLLIN | POLLHUP)))
			eof = drain(c->rd, out, &used, exited) || eof;
	}
	out[used] = '\0';
	if (r >= 0 && waitpid(c->pid, status, 0) < 0)
		r = shield_error_set(err, negative_errno(), "waitpid: %s", strerror(errno));
	else if (r >= 0)
		c->pid = 0; /* reaped */
	child_kill(c);
	return r;
}

/* The last non-empty line of a child's output, trimmed in place ("" if none). */
static const char *last_line(char *out)
{
	size_t n = strlen(out);
	char *line;

	while (n && (out[n - 1] == '\n' || out[n - 1] == ' ' || out[n - 1] == '\r'))
		out[--n] = '\0';
	line = strrchr(out, '\n');
	return line ? line + 1 : out;
}

/* Describe a wait status: "exit status 2" or "killed by signal 9". */
static const char *describe_status(int status, char buf[64])
{
	if (WIFEXITED(status))
		snprintf(buf, 64, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, 64, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(buf, 64, "wait status %#x", (unsigned)status);
	return buf;
}

/* Where a passed nftset check is remembered, in the cache directory. */
#define PROBE_CACHE_FILE "dnsmasq-nftset.checked"

struct dnsmasq_probe {
	struct child child;
	char *binary;
	int cachefd;	/* directory remembering the verdict, or -1 */
	char key[512];	/* the binary's identity: path, device, inode, size, times */
	bool cached_ok; /* this very binary passed before: nothing runs */
};

/* The identity of the file at path, as a line; false if it cannot be had. */
static bool binary_key(const char *path, char out[512])
{
	struct stat st;
	int n;

	if (stat(path, &st) < 0)
		return false;
	n = snprintf(out, 512, "%s dev=%ju ino=%ju size=%jd mtime=%jd.%09ld ctime=%jd.%09ld\n",
		     path, (uintmax_t)st.st_dev, (uintmax_t)st.st_ino, (intmax_t)st.st_size,
		     (intmax_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (intmax_t)st.st_ctim.tv_sec,
		     st.st_ctim.tv_nsec);
	return n > 0 && n < 512;
}

int dnsmasq_probe_start(const char *binary, int cachefd, struct dnsmasq_probe **out,
			struct shield_error *err)
{
	char version[] = "--version";
	char *argv[] = {(char *)binary, version, NULL};
	struct dnsmasq_probe *p = calloc(1, sizeof(*p));
	int r;

	if (!p || !(p->binary = strdup(binary))) {
		free(p);
		return shield_error_set(err, -ENOMEM, "out of memory");
	}
	p->child = (struct child){.pid = 0, .pidfd = -1, .rd = -1};
	p->cachefd = -1;
	if (cachefd >= 0 && binary_key(binary, p->key)) {
		_cleanup_free_ char *seen = NULL;
		struct shield_error ignored = {0};

		p->cachefd = fcntl(cachefd, F_DUPFD_CLOEXEC, 3);
		if (bundle_read_file(cachefd, PROBE_CACHE_FILE, sizeof(p->key), &seen, NULL,
				     &ignored) >= 0 &&
		    strcmp(seen, p->key) == 0) {
			p->cached_ok = true;
			*out = p;
			return 0;
		}
	}
	r = child_spawn(argv, -1, DNSMASQ_START_TIMEOUT_MS, &p->child, err);
	if (r < 0) {
		dnsmasq_probe_free(p);
		return shield_error_prefix(err, "dnsmasq --version: ");
	}
	*out = p;
	return 0;
}

void dnsmasq_probe_free(struct dnsmasq_probe *p)
{
	if (!p)
		return;
	child_kill(&p->child);
	if (p->cachefd >= 0)
		close(p->cachefd);
	free(p->binary);
	free(p);
}

int dnsmasq_probe_finish(struct dnsmasq_probe *p, struct shield_error *err)
{
	char out[CHILD_OUTPUT_MAX], how[64];
	struct shield_error ignored = {0};
	int status, r;

	if (p->cached_ok)
		return 0;
	r = child_wait(&p->child, p->binary, out, &status, err);
	if (r < 0)
		return shield_error_prefix(err, "dnsmasq --version: ");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char q[SHIELD_QUOTE_MAX];
		const char *line = last_line(out);

		return shield_error_set(err, -ENOEXEC, "%s --version failed (%s)%s%s", p->binary,
					describe_status(status, how), *line ? ": " : "",
					*line ? shield_quote(line, strlen(line), q) : "");
	}
	if (!dnsmasq_version_has_nftset(out))
		return shield_error_set(err, -ENOTSUP,
					"%s was built without nftset support (its --version lists "
					"no \"nftset\"); shield needs it to add DNS answers to the "
					"firewall (Debian's dnsmasq-base 2.87+ has it)",
					p->binary);
	/* Remembered for the next start; a changed binary has another key. */
	if (p->cachefd >= 0)
		bundle_write_file_mode(p->cachefd, PROBE_CACHE_FILE, p->key, strlen(p->key), 0600,
				       BUNDLE_WRITE_NOSYNC, &ignored);
	return 0;
}

static int read_cmdline(pid_t pid, char **out, size_t *len)
{
	char path[64];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	/* /proc files report size 0; read_fd_capped reads to EOF anyway. */
	return read_fd_capped(fd, CMDLINE_MAX, out, len);
}

bool dnsmasq_is_ours(pid_t pid, const char *conf_path, int nsfd)
{
	_cleanup_free_ char *cmdline = NULL, *want = NULL;
	const char *arg0, *base;
	bool conf = false;
	size_t len;

	if (pid <= 0 || read_cmdline(pid, &cmdline, &len) < 0 || len == 0)
		return false;
	if (asprintf(&want, "--conf-file=%s", conf_path) < 0)
		return false;
	arg0 = cmdline;
	base = strrchr(arg0, '/');
	base = base ? base + 1 : arg0;
	if (strcmp(base, "dnsmasq") != 0)
		return false;
	for (size_t off = strlen(arg0) + 1; off < len; off += strlen(cmdline + off) + 1)
		if (strcmp(cmdline + off, want) == 0)
			conf = true;
	if (!conf)
		return false;
	if (nsfd >= 0) {
		char path[64];
		struct stat a, b;

		snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
		if (stat(path, &a) < 0 || fstat(nsfd, &b) < 0 || a.st_dev != b.st_dev ||
		    a.st_ino != b.st_ino)
			return false;
	}
	return true;
}

/* Read the PID file: 0 and *pid, -ENOENT when there is none, -EINVAL when it is garbage. */
static int read_pid_file(int dirfd, pid_t *pid)
{
	_cleanup_free_ char *text = NULL;
	struct shield_error ignored = {0};
	char *end;
	long v;
	int r = bundle_read_file(dirfd, DNSMASQ_PID_FILE, 64, &text, NULL, &ignored);

	if (r < 0)
		return r == -ENOENT ? r : -EINVAL;
	errno = 0;
	v = strtol(text, &end, 10);
	while (*end == '\n' || *end == ' ')
		end++;
	if (errno || end == text || *end || v <= 0 || v > INT32_MAX)
		return -EINVAL;
	*pid = (pid_t)v;
	return 0;
}

struct dnsmasq_launch {
	struct child child;
	char *binary;
	char *conf_path;
	int nsfd;
	int dirfd;
};

void dnsmasq_launch_free(struct dnsmasq_launch *l)
{
	if (!l)
		return;
	child_kill(&l->child);
	free(l->binary);
	free(l->conf_path);
	free(l);
}

int dnsmasq_launch_begin(const char *binary, int nsfd, int dirfd, const char *conf_path,
			 struct dnsmasq_launch **out, struct shield_error *err)
{
	_cleanup_free_ char *conf_arg = NULL;
	struct dnsmasq_launch *l;
	int r;

	if (asprintf(&conf_arg, "--conf-file=%s", conf_path) < 0)
		return shield_error_set(err, -ENOMEM, "out of memory");
	if (unlinkat(dirfd, DNSMASQ_PID_FILE, 0) < 0 && errno != ENOENT)
		return shield_error_set(err, negative_errno(), "cannot remove the old %s: %s",
					DNSMASQ_PID_FILE, strerror(errno));
	l = calloc(1, sizeof(*l));
	if (!l || !(l->binary = strdup(binary)) || !(l->conf_path = strdup(conf_path))) {
		dnsmasq_launch_free(l);
		return shield_error_set(err, -ENOMEM, "out of memory");
	}
	l->nsfd = nsfd;
	l->dirfd = dirfd;
	{
		char *argv[] = {l->binary, conf_arg, NULL};

		r = child_spawn(argv, nsfd, DNSMASQ_START_TIMEOUT_MS, &l->child, err);
	}
	if (r < 0) {
		dnsmasq_launch_free(l);
		return shield_error_prefix(err, "starting dnsmasq: ");
	}
	*out = l;
	return 0;
}

int dnsmasq_launch_finish(struct dnsmasq_launch *l, pid_t *pid, struct shield_error *err)
{
	char out[CHILD_OUTPUT_MAX], how[64], q[SHIELD_QUOTE_MAX];
	int status, r = child_wait(&l->child, l->binary, out, &status, err);

	*pid = 0;
	if (r < 0)
		return shield_error_prefix(err, "starting dnsmasq: ");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		const char *line = last_line(out);

		return shield_error_set(err, -ECHILD, "dnsmasq failed to start (%s)%s%s",
					describe_status(status, how), *line ? ": " : "",
					*line ? shield_quote(line, strlen(line), q) : "");
	}
	r = read_pid_file(l->dirfd, pid);
	if (r == -ENOENT)
		return shield_error_set(err, -ECHILD, "dnsmasq exited at start without writing %s",
					DNSMASQ_PID_FILE);
	if (r < 0)
		return shield_error_set(err, r, "dnsmasq wrote an unreadable %s", DNSMASQ_PID_FILE);
	if (!dnsmasq_is_ours(*pid, l->conf_path, l->nsfd))
		return shield_error_set(
			err, -ESRCH,
			"%s names PID %d, which is not a running dnsmasq with our "
			"--conf-file in the container's network namespace (it exited "
			"at once?)",
			DNSMASQ_PID_FILE, (int)*pid);
	return 0;
}

/* Stop pid if it is a dnsmasq with our --conf-file: 1 stopped, 0 not ours or gone. */
static int stop_if_ours(pid_t pid, const char *conf_path)
{
	/* The pidfd pins the process: once it is open and the process checked, a
	 * recycled PID can no longer be the one signalled. */
	_cleanup_close_ int pidfd = pid > 0 ? pidfd_open(pid, 0) : -1;
	struct pollfd p = {.fd = pidfd, .events = POLLIN};

	if (pidfd < 0 || !dnsmasq_is_ours(pid, conf_path, -1))
		return 0;
	if (pidfd_send_signal(pidfd, SIGTERM, NULL, 0) == 0 &&
	    poll(&p, 1, DNSMASQ_STOP_TIMEOUT_MS) == 0) {
		pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
		poll(&p, 1, DNSMASQ_STOP_TIMEOUT_MS);
	}
	return 1;
}

int dnsmasq_stop(int dirfd, const char *conf_path, pid_t known, pid_t *pid,
		 struct shield_error *err)
{
	pid_t from_file = 0;
	int r = read_pid_file(dirfd, &from_file), stopped = 0;

	*pid = 0;
	if (r >= 0 && stop_if_ours(from_file, conf_path))
		*pid = from_file;
	/* A PID file naming someone else must not keep our dnsmasq alive. */
	else if (known > 0 && known != from_file && stop_if_ours(known, conf_path))
		*pid = known;
	stopped = *pid != 0;
	if (r != -ENOENT && unlinkat(dirfd, DNSMASQ_PID_FILE, 0) < 0 && errno != ENOENT)
		return shield_error_set(err, negative_errno(), "cannot remove %s: %s",
					DNSMASQ_PID_FILE, strerror(errno));
	return stopped;
}
