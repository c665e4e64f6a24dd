/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Discovery: RUNTIME_DIR/containers holds one ID.json per shielded
 * namespace (registry.h). An inotify watch on the directory (through
 * uv_fs_event_t) tells which entry changed; each change is settled by
 * reading that entry again: present and new = attach, present and known =
 * update, gone = detach. A rescan (start, SIGHUP) does the same for every
 * entry and drops the containers whose entry vanished.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shield/oci-state.h"
#include "nftsetd.h"

/* "ID.json" with a valid id (temp files start with '.'): the id, else false. */
/* Settle one entry: attach, update or detach. */
static void settle(struct daemon *d, const char *id)
{
	struct shield_error err = {0};
	struct registry_entry e;
	struct container *c = container_find_id(d, id);
	int r;

	r = registry_read(d->regfd, id, &e, &err);
	if (r == -ENOENT) {
		if (c)
			container_detach(c, "registry entry removed");
		return;
	}
	if (r < 0) {
		/* A half-written entry cannot happen (atomic rename); a bad one can. */
		nlog(LOG_PRIO_WARNING, "registry entry %s: %s", id, err.msg);
		return;
	}
	if (c) {
		container_update(c, &e);
		return;
	}
	r = container_attach(d, &e, &err);
	if (r < 0)
		nlog(r == -ESRCH ? LOG_PRIO_NOTICE : LOG_PRIO_ERR, "not watching %s (%s): %s",
		     e.name[0] ? e.name : e.id, e.state_dir, err.msg);
}

static void on_registry_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
	struct daemon *d = h->data;
	char id[OCI_ID_MAX + 1];

	(void)events;
	if (d->stopping)
		return;
	if (status < 0) {
		nlog(LOG_PRIO_WARNING, "registry watch: %s; rescanning", uv_strerror(status));
		discovery_rescan(d);
		return;
	}
	if (!filename) {
		/* The kernel's queue overflowed: which entries changed is unknown. */
		discovery_rescan(d);
		return;
	}
	if (registry_entry_id(filename, id))
		settle(d, id);
}

static int watch_registry(struct daemon *d, struct shield_error *err)
{
	char path[64];
	int r;

	/* Watch the directory we opened, not whatever the path names now. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", d->regfd);
	r = uv_fs_event_init(d->loop, &d->reg_watch);
	if (r < 0)
		return shield_error_set(err, r, "registry watch: %s", uv_strerror(r));
	d->reg_watch.data = d;
	d->reg_watch_open = true;
	r = uv_fs_event_start(&d->reg_watch, on_registry_event, path, 0);
	if (r < 0)
		return shield_error_set(err, r, "registry watch on %s/containers: %s",
					d->runtime_dir, uv_strerror(r));
	return 0;
}

int discovery_start(struct daemon *d, struct shield_error *err)
{
	int r = registry_open(d->runtime_dir, true, err);

	if (r < 0)
		return r;
	d->regfd = r;
	return watch_registry(d, err);
}

/* The registry directory replaced under us (e.g. /run/shield removed and made again)? */
static void check_registry_dir(struct daemon *d)
{
	struct shield_error err = {0};
	struct stat a, b;
	char path[PATH_MAX + 16];
	int fd;

	snprintf(path, sizeof(path), "%s/containers", d->runtime_dir);
	if (fstat(d->regfd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino)
		return;
	fd = registry_open(d->runtime_dir, false, &err);
	if (fd < 0)
		return; /* nothing there (yet): the old watch stays until it comes back */
	nlog(LOG_PRIO_NOTICE, "registry directory %s was replaced; watching the new one", path);
	close(d->regfd);
	d->regfd = fd;
	if (d->reg_watch_open)
		uv_fs_event_stop(&d->reg_watch);
	else if (uv_fs_event_init(d->loop, &d->reg_watch) == 0)
		d->reg_watch_open = true;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", d->regfd);
	if (!d->reg_watch_open || uv_fs_event_start(&d->reg_watch, on_registry_event, path, 0) < 0)
		nlog(LOG_PRIO_ERR, "cannot watch the new registry directory; SIGHUP rescans");
}

void discovery_rescan(struct daemon *d)
{
	struct container *c, *next;
	_cleanup_strlist_ struct strlist ids = STRLIST_INIT;
	struct shield_error err = {0};

	if (d->stopping || d->regfd < 0)
		return;
	check_registry_dir(d);
	if (registry_list(d->regfd, &ids, &err) < 0) {
		nlog(LOG_PRIO_ERR, "registry: cannot list %s/containers: %s", d->runtime_dir,
		     err.msg);
		return;
	}
	for (size_t i = 0; i < ids.n; i++)
		settle(d, ids.items[i]);
	/* Containers whose entry is gone. */
	for (c = d->containers; c; c = next) {
		char name[OCI_ID_MAX + 8];

		next = c->next;
		snprintf(name, sizeof(name), "%s.json", c->e.id);
		if (faccessat(d->regfd, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
			container_detach(c, "registry entry removed");
	}
}

void discovery_stop(struct daemon *d)
{
	if (d->reg_watch_open) {
		d->reg_watch_open = false;
		uv_close((uv_handle_t *)&d->reg_watch, NULL);
	}
	if (d->regfd >= 0) {
		close(d->regfd);
		d->regfd = -1;
	}
}
