/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How podman finds shield's OCI hook, as pure functions (no I/O): the hook
 * descriptors `shield setup` writes and the check that one makes podman run
 * the hook, the hooks_dir setting of containers.conf text, and the parts of
 * `podman info --format json` that `shield check` reports.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "strlist.h"

/* The descriptor file names, one per stage. */
#define PODMAN_HOOK_FILE_CREATE	   "shield-createRuntime.json"
#define PODMAN_HOOK_FILE_POSTSTOP  "shield-poststop.json"
#define PODMAN_HOOK_STAGE_CREATE   "createRuntime"
#define PODMAN_HOOK_STAGE_POSTSTOP "poststop"
/* What the descriptors match on: the annotation every shielded container carries. */
#define PODMAN_HOOK_ANNOTATION "terok.shield.profiles"

/* podman's hooks_dir when containers.conf does not set it (containers/common's default). */
#define PODMAN_HOOKS_DIR_DEFAULT "/usr/share/containers/oci/hooks.d"
/* The administrator's directory; podman reads it only when hooks_dir lists it (or is []). */
#define PODMAN_HOOKS_DIR_ETC "/etc/containers/oci/hooks.d"

#define PODMAN_HOOK_DESCRIPTOR_MAX (64 * 1024)	     /* bytes of a descriptor read back */
#define PODMAN_CONF_MAX		   (1024 * 1024)     /* bytes of a containers.conf read */
#define PODMAN_INFO_MAX		   (4 * 1024 * 1024) /* bytes of `podman info` output read */

/*
 * The descriptor for stage (PODMAN_HOOK_STAGE_*) running hook_path (absolute)
 * as `shield-hook STAGE` for containers with the terok.shield.profiles
 * annotation: OCI hooks schema 1.0.0, two-space indented, keys in a fixed
 * order, ending in a newline (malloc'd into *out).
 */
int podman_hook_descriptor(const char *hook_path, const char *stage, char **out,
			   struct shield_error *err);

/*
 * Whether descriptor text makes podman run a hook at stage for a container
 * whose terok.shield.profiles annotation is profiles: version 1.0.0, stage
 * among "stages", an absolute hook.path, and "when" either always true or
 * with an annotations entry whose key pattern matches terok.shield.profiles
 * and value pattern matches profiles (POSIX extended regular expressions,
 * which agree with podman's Go ones on such patterns). *hook_path (may be
 * NULL) receives hook.path, malloc'd. -EINVAL with err saying what is wrong.
 */
int podman_hook_descriptor_check(const char *text, size_t len, const char *stage,
				 const char *profiles, char **hook_path, struct shield_error *err);

/*
 * The hooks_dir array of the [engine] table in containers.conf (TOML) text.
 * Returns 1 and replaces out's contents when it is set, 0 when it is not,
 * -EINVAL (err naming the line) when the text cannot be read that far or
 * hooks_dir is not an array of strings.
 */
int podman_conf_hooks_dir(const char *text, size_t len, struct strlist *out,
			  struct shield_error *err);

/* What `shield check` reports from `podman info --format json`; strings are "" when absent. */
struct podman_info {
	char version[32];	   /* version.Version */
	unsigned major;		   /* its first number, 0 if none */
	char runtime[64];	   /* host.ociRuntime.name: runc, crun, ... */
	char network_backend[32];  /* host.networkBackend: netavark, cni */
	char rootless_network[32]; /* host.rootlessNetworkCmd (podman 5), else derived */
	bool rootless;		   /* host.security.rootless */
	bool has_slirp4netns;	   /* host.slirp4netns.executable set */
	bool has_pasta;		   /* host.pasta.executable set */
};

/*
 * Parse it. rootless_network is host.rootlessNetworkCmd when present, else
 * "slirp4netns" for podman before 5 with slirp4netns found, else "pasta".
 * -EINVAL when the text is not a JSON object with a "version" object.
 */
int podman_info_parse(const char *text, size_t len, struct podman_info *out,
		      struct shield_error *err);

/* The major version in `podman --version` output ("podman version 4.3.1"), 0 if none. */
unsigned podman_version_major(const char *text);
