/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A container's dnsmasq as a process: started inside the container's
 * network namespace (fork, setns, exec with an argv; no shell, no nsenter),
 * recognised by its command line and namespace, stopped through a pidfd so
 * a recycled PID is never signalled.
 */
#pragma once
#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

#define DNSMASQ_DEFAULT_BINARY	 "/usr/sbin/dnsmasq"
#define DNSMASQ_PID_FILE	 "dnsmasq.pid"
#define DNSMASQ_CONF_FILE	 "dnsmasq.conf"
#define DNSMASQ_START_TIMEOUT_MS 5000 /* dnsmasq reports its start-up result within this */
#define DNSMASQ_STOP_TIMEOUT_MS	 3000 /* SIGTERM, then SIGKILL after this */

/* The dnsmasq binary: $SHIELD_DNSMASQ (must be absolute) or DNSMASQ_DEFAULT_BINARY. */
int dnsmasq_binary(const char **out, struct shield_error *err);

/*
 * The nftset check, run beside other work: dnsmasq_probe_start runs
 * `BINARY --version`; dnsmasq_probe_finish waits for it and fails (-ENOTSUP)
 * unless dnsmasq was built with nftset. With cachefd (a directory, else -1)
 * a passed check is remembered there, keyed by the binary's path, device,
 * inode, size, mtime and ctime, and the same binary is not run again.
 * dnsmasq_probe_free kills an unfinished probe and frees it (NULL is fine).
 */
struct dnsmasq_probe;
int dnsmasq_probe_start(const char *binary, int cachefd, struct dnsmasq_probe **out,
			struct shield_error *err);
int dnsmasq_probe_finish(struct dnsmasq_probe *p, struct shield_error *err);
void dnsmasq_probe_free(struct dnsmasq_probe *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct dnsmasq_probe *, dnsmasq_probe_free)

/*
 * Start dnsmasq in the network namespace nsfd with --conf-file=conf_path
 * (absolute), in two halves so other work runs meanwhile. begin removes the
 * PID file (DNSMASQ_PID_FILE in the bundle dirfd) and spawns dnsmasq, which
 * daemonizes; finish waits for its start-up verdict (its exit status; its
 * error message, if any, ends up in err), then checks that the PID file
 * names a live dnsmasq with our --conf-file in that namespace, and puts its
 * PID in *pid. A started dnsmasq outlives dnsmasq_launch_free (which
 * only kills a first process still running); after begin, call finish and
 * then dnsmasq_stop to undo it.
 */
struct dnsmasq_launch;
int dnsmasq_launch_begin(const char *binary, int nsfd, int dirfd, const char *conf_path,
			 struct dnsmasq_launch **out, struct shield_error *err);
int dnsmasq_launch_finish(struct dnsmasq_launch *l, pid_t *pid, struct shield_error *err);
void dnsmasq_launch_free(struct dnsmasq_launch *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct dnsmasq_launch *, dnsmasq_launch_free)

/*
 * Whether pid is a dnsmasq started with --conf-file=conf_path (argv[0]
 * named dnsmasq) and, if nsfd >= 0, living in that network namespace.
 */
bool dnsmasq_is_ours(pid_t pid, const char *conf_path, int nsfd);

/*
 * Stop the dnsmasq named by the bundle's PID file, if it is ours (see
 * dnsmasq_is_ours; a PID file naming any other process is removed and that
 * process left alone), else the one known (> 0) from elsewhere (the registry)
 * if that is ours, and remove the PID file. Returns 1 and *pid when one was
 * stopped, 0 (and *pid 0) when there was none.
 */
int dnsmasq_stop(int dirfd, const char *conf_path, pid_t known, pid_t *pid,
		 struct shield_error *err);
