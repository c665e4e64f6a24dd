/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What `podman inspect --type container --format json NAME` says about a
 * container that shield needs: its id, name, whether it runs and its init's
 * PID, and shield's annotations. The parser is pure (bytes in, struct out),
 * so it is unit-tested and fuzzed.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "oci-state.h"

#define PODMAN_INSPECT_MAX (4 * 1024 * 1024) /* bytes of inspect output accepted */

struct podman_container {
	char id[OCI_ID_MAX + 1]; /* full id (Id) */
	char name[128];		 /* Name, may be empty */
	bool running;		 /* State.Running */
	pid_t pid;		 /* State.Pid, 0 when not running */
	bool shielded;		 /* any terok.shield.* annotation present */
	char *state_dir;	 /* annotation terok.shield.state_dir, NULL when absent */
	char *profiles;		 /* annotation terok.shield.profiles, NULL when absent */
};

/*
 * Parse inspect output: a JSON array holding one container object. An empty
 * array is -ENOENT (podman knows no such container); anything else that is
 * not that shape, a bad id, a non-string annotation or a PID out of range is
 * -EINVAL naming what was wrong; more than PODMAN_INSPECT_MAX bytes -E2BIG.
 * On failure out is left empty.
 */
int podman_inspect_parse(const char *buf, size_t len, struct podman_container *out,
			 struct shield_error *err);
void podman_container_free(struct podman_container *c);
