/* SPDX-License-Identifier: Apache-2.0 */
/* Network namespace handles: open and check a path, enter and come back. */
#pragma once

#include "error.h"

/* Open path (O_RDONLY|O_CLOEXEC) and check it is a network namespace; fd or -errno. */
int netns_open(const char *path, struct shield_error *err);

/* Enter the netns nsfd; *saved receives an fd of the current one to return to. */
int netns_enter(int nsfd, int *saved, struct shield_error *err);

/* Go back to the namespace saved by netns_enter and close it. */
int netns_return(int *saved, struct shield_error *err);
