/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "shield/netns.h"

int netns_open(const char *path, struct shield_error *err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int type;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int r = negative_errno();

		return shield_error_set(err, r, "cannot open network namespace %s: %s", path,
					strerror(-r));
	}
	if (fstat(fd, &st) < 0)
		return shield_error_set(err, negative_errno(), "cannot stat %s", path);
	/* A namespace file answers NS_GET_NSTYPE; anything else does not. */
	type = ioctl(fd, NS_GET_NSTYPE);
	if (type < 0)
		return shield_error_set(err, -EINVAL, "%s is not a namespace", path);
	if (type != CLONE_NEWNET)
		return shield_error_set(err, -EINVAL, "%s is not a network namespace", path);
	return TAKE_FD(fd);
}

struct netns_call {
	int nsfd;
	int (*fn)(void *arg, struct shield_error *err);
	void *arg;
	struct shield_error *err;
	int r;
};

int netns_enter(int nsfd, struct shield_error *err)
{
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		int r = negative_errno();

		return shield_error_set(
			err, r, "cannot enter the network namespace: %s%s", strerror(-r),
			r == -EPERM ? " (needs CAP_SYS_ADMIN over it; run as root or "
				      "inside podman's user namespace)"
				    : "");
	}
	return 0;
}

/* Whether the calling thread is in the network namespace nsfd. */
static bool netns_is_current(int nsfd)
{
	struct stat here, there;

	return stat("/proc/thread-self/ns/net", &here) == 0 && fstat(nsfd, &there) == 0 &&
	       here.st_dev == there.st_dev && here.st_ino == there.st_ino;
}

static void *netns_thread(void *p)
{
	struct netns_call *c = p;

	c->r = netns_enter(c->nsfd, c->err);
	if (c->r >= 0)
		c->r = c->fn(c->arg, c->err);
	return NULL;
}

int netns_call(int nsfd, int (*fn)(void *arg, struct shield_error *err), void *arg,
	       struct shield_error *err)
{
	struct netns_call c = {.nsfd = nsfd, .fn = fn, .arg = arg, .err = err};
	pthread_t thread;
	int r;

	/* A thread costs its creation and, on a busy machine, a wait for a CPU. */
	if (netns_is_current(nsfd))
		return fn(arg, err);
	r = pthread_create(&thread, NULL, netns_thread, &c);

	if (r != 0)
		return shield_error_set(err, -r, "cannot start a thread: %s", strerror(r));
	r = pthread_join(thread, NULL);
	if (r != 0)
		return shield_error_set(err, -r, "cannot join a thread: %s", strerror(r));
	return c.r;
}
