/* SPDX-License-Identifier: Apache-2.0 */
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
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

int netns_enter(int nsfd, int *saved, struct shield_error *err)
{
	_cleanup_close_ int self = -1;

	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return shield_error_set(err, negative_errno(),
					"cannot open the current network namespace");
	if (setns(nsfd, CLONE_NEWNET) < 0) {
		int r = negative_errno();

		return shield_error_set(err, r, "cannot enter the network namespace: %s%s",
					strerror(-r),
					r == -EPERM ? " (needs CAP_SYS_ADMIN; run as root)" : "");
	}
	*saved = TAKE_FD(self);
	return 0;
}

int netns_return(int *saved, struct shield_error *err)
{
	int r = 0;

	if (*saved < 0)
		return 0;
	if (setns(*saved, CLONE_NEWNET) < 0)
		r = shield_error_set(err, negative_errno(),
				     "cannot return to the original network namespace");
	close(*saved);
	*saved = -1;
	return r;
}
