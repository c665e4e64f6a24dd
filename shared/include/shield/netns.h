/* SPDX-License-Identifier: Apache-2.0 */
/* Network namespace handles: open and check a path, run code inside one. */
#pragma once

#include "error.h"

/* Open path (O_RDONLY|O_CLOEXEC) and check it is a network namespace; fd or -errno. */
int netns_open(const char *path, struct shield_error *err);

/*
 * Run fn(arg, err) in the network namespace nsfd and return what it returns.
 * It runs in a short-lived thread that enters the namespace (a network
 * namespace belongs to a thread, not the process) and is never taken back:
 * rootless podman's hook may enter the container's namespace but has no
 * right to go back into the host's. Sockets fn opens stay in the namespace
 * they were opened in. When the calling thread is already in that namespace
 * (netns_enter), fn runs in it directly, without a thread.
 */
int netns_call(int nsfd, int (*fn)(void *arg, struct shield_error *err), void *arg,
	       struct shield_error *err);

/*
 * Move the calling thread into the network namespace nsfd for good (a
 * process whose every later socket belongs there, like shield-hook: it
 * saves netns_call a thread per call). 0 or -errno.
 */
int netns_enter(int nsfd, struct shield_error *err);
