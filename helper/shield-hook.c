/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shield-hook: the OCI hook podman runs for containers carrying the
 * terok.shield.profiles annotation, with the stage as its argument and the
 * OCI state on stdin. createRuntime shields the container's network
 * namespace (launch_start); poststop lets it go (launch_stop). Fail-closed:
 * any error exits 1 with one line on stderr (and in the bundle's
 * hook-error.log once the bundle is trusted), and podman refuses to start
 * the container.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shield/bundle.h"
#include "shield/dnsmasq-proc.h"
#include "shield/launch.h"
#include "shield/netns.h"
#include "shield/oci-state.h"
#include "shield/registry.h"

#define HOOK_PATH "/usr/sbin:/usr/bin:/sbin:/bin"

extern char **environ;

/* A fixed PATH and no LD_* variables: the hook runs with CAP_NET_ADMIN. */
static void sanitize_env(void)
{
	for (size_t i = 0; environ[i];) {
		char name[256];
		const char *eq = strchr(environ[i], '=');
		size_t n = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);

		if (strncmp(environ[i], "LD_", 3) != 0 || n >= sizeof(name)) {
			i++;
			continue;
		}
		memcpy(name, environ[i], n);
		name[n] = '\0';
		unsetenv(name); /* shifts the rest of environ down onto i */
	}
	setenv("PATH", HOOK_PATH, 1);
}

/* Read all of stdin, at most OCI_STATE_MAX bytes (one more tells it was too much). */
static int read_stdin(char **out, size_t *len, struct shield_error *err)
{
	size_t cap = 64 * 1024, used = 0;
	char *buf = malloc(cap);

	if (!buf)
		return shield_error_set(err, -ENOMEM, "out of memory");
	for (;;) {
		ssize_t n;

		if (used == cap) {
			char *bigger;

			if (cap > OCI_STATE_MAX) {
				free(buf);
				return shield_error_set(err, -E2BIG,
							"OCI state on stdin: more than %d bytes",
							OCI_STATE_MAX);
			}
			bigger = realloc(buf, cap * 2);
			if (!bigger) {
				free(buf);
				return shield_error_set(err, -ENOMEM, "out of memory");
			}
			buf = bigger;
			cap *= 2;
		}
		n = read(STDIN_FILENO, buf + used, cap - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = negative_errno();

			free(buf);
			return shield_error_set(err, r, "reading the OCI state from stdin: %s",
						shield_strerror(r));
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	*out = buf;
	*len = used;
	return 0;
}

static int fail(enum oci_stage stage, bool have_stage, int dirfd, const char *name,
		const struct shield_error *err)
{
	const char *stage_name = have_stage ? oci_stage_name(stage) : "hook";

	fprintf(stderr, "shield-hook: %s: %s\n", stage_name, err->msg);
	if (dirfd >= 0)
		launch_record_error(dirfd, name, stage_name, err->msg);
	return 1;
}

int main(int argc, char **argv)
{
	struct shield_error err = {0};
	struct oci_state st = {0};
	struct launch_report rep;
	_cleanup_free_ char *input = NULL;
	_cleanup_close_ int dirfd = -1, nsfd = -1;
	char runtime_dir[PATH_MAX], runtime_dir_error[SHIELD_ERROR_MSG_MAX] = "";
	char netns_path[64], q[SHIELD_QUOTE_MAX];
	enum oci_stage stage = OCI_STAGE_CREATE_RUNTIME;
	bool have_stage = false;
	const char *dnsmasq, *name;
	size_t len = 0;
	int r;

	sanitize_env();
	umask(0077);
	if (argc != 2) {
		fprintf(stderr, "Usage: shield-hook createRuntime|poststop < OCI-STATE\n"
				"(run by podman as an OCI hook; see shield-hook(1))\n");
		return 2;
	}
	r = oci_stage_parse(argv[1], &stage, &err);
	have_stage = r >= 0;
	if (r >= 0)
		r = read_stdin(&input, &len, &err);
	if (r >= 0)
		r = oci_state_parse(input, len, stage == OCI_STAGE_CREATE_RUNTIME, &st, &err);
	if (r >= 0 && !st.state_dir)
		r = shield_error_set(&err, -EINVAL,
				     "annotation %s is missing (prepare the container with "
				     "'shield prepare')",
				     ANNOTATION_STATE_DIR);
	if (r >= 0)
		r = bundle_check_location(st.state_dir, &err);
	if (r >= 0) {
		dirfd = bundle_open(st.state_dir, false, &err);
		r = dirfd;
	}
	if (r < 0)
		goto fail;
	/* From here on the bundle is trusted: errors also go to its hook-error.log. */
	name = st.name && *st.name ? st.name : NULL;
	if (stage == OCI_STAGE_CREATE_RUNTIME) {
		char want[16];

		snprintf(want, sizeof(want), "%d", BUNDLE_FORMAT_VERSION);
		if (!st.version || strcmp(st.version, want) != 0) {
			r = shield_error_set(
				&err, -EINVAL,
				"annotation %s is %s, this shield-hook needs %s: prepare the "
				"container again with this version of shield",
				ANNOTATION_VERSION,
				st.version ? shield_quote(st.version, strlen(st.version), q)
					   : "missing",
				want);
			goto fail;
		}
	}
	/* poststop may run with an empty environment; the bundle then says where the
	 * registry is (launch_stop). */
	r = registry_runtime_dir(runtime_dir, sizeof(runtime_dir), &err);
	if (r < 0 && stage == OCI_STAGE_POSTSTOP) {
		snprintf(runtime_dir_error, sizeof(runtime_dir_error), "%s", err.msg);
		shield_error_clear(&err);
		r = 0;
	}
	if (r >= 0)
		r = dnsmasq_binary(&dnsmasq, &err);
	if (r < 0)
		goto fail;

	{
		struct launch_target t = {
			.state_dir = st.state_dir,
			.dirfd = dirfd,
			.nsfd = -1,
			.netns_path = netns_path,
			.id = st.id,
			.name = name,
			.pid = st.pid,
			.source = "podman",
			.runtime_dir = runtime_dir_error[0] ? NULL : runtime_dir,
			.runtime_dir_error = runtime_dir_error,
			.dnsmasq = dnsmasq,
		};

		snprintf(netns_path, sizeof(netns_path), "/proc/%d/ns/net", (int)st.pid);
		if (stage == OCI_STAGE_POSTSTOP) {
			r = launch_stop(&t, &rep, &err);
		} else {
			nsfd = netns_open(netns_path, &err);
			r = nsfd;
			t.nsfd = nsfd;
			/* This process opens no socket of the host's: it moves into the
			 * container's namespace for good, so its netlink socket needs no
			 * thread of its own (netns_call). */
			if (r >= 0)
				r = netns_enter(nsfd, &err);
			if (r >= 0)
				r = launch_start(&t, &rep, &err);
		}
	}
	if (r < 0)
		goto fail;
	oci_state_free(&st);
	return 0;
fail:
	r = fail(stage, have_stage, dirfd, st.name ? st.name : (st.id ? st.id : "?"), &err);
	oci_state_free(&st);
	return r;
}
