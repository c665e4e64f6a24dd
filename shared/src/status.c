/* SPDX-License-Identifier: Apache-2.0 */
/* The status word (see status.h). */
#include <string.h>

#include "shield/audit-log.h"
#include "shield/status.h"

enum shield_mode status_word(const struct status_facts *f, const char **why)
{
	const char *unused;

	if (!why)
		why = &unused;
	*why = NULL;
	if (!f->running || (!f->registered && !f->needs_registry)) {
		if (f->last_start_failed) {
			*why = "the last start failed";
			return SHIELD_MODE_ERROR;
		}
		*why = f->running ? "not attached" : "not running";
		return SHIELD_MODE_INACTIVE;
	}
	if (!f->registered) {
		*why = "running without a registry entry: shield's hook did not shield it";
		return SHIELD_MODE_ERROR;
	}
	if (!f->bundle_ok) {
		*why = "its bundle cannot be read";
		return SHIELD_MODE_ERROR;
	}
	if (!f->dnsmasq_alive) {
		*why = "its dnsmasq is not running";
		return SHIELD_MODE_ERROR;
	}
	if (f->table_checked && !f->table_verified) {
		*why = "the kernel's table is not what the bundle's mode requires";
		return SHIELD_MODE_ERROR;
	}
	return f->bundle_mode;
}

static bool start_stage(const char *s, size_t n)
{
	return (n == strlen("createRuntime") && memcmp(s, "createRuntime", n) == 0) ||
	       (n == strlen("attach") && memcmp(s, "attach", n) == 0);
}

bool status_last_start_failed(const char *log, size_t len, int64_t last_setup_ns, char *msg,
			      size_t size)
{
	const char *p = log, *end = log + len;
	const char *found = NULL, *found_end = NULL;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *e = eol ? eol : end;
		const char *sp = memchr(p, ' ', (size_t)(e - p));
		const char *colon = sp ? memchr(sp + 1, ':', (size_t)(e - sp - 1)) : NULL;
		int64_t ts;

		if (colon && audit_ts_parse(p, (size_t)(sp - p), &ts) == 0 &&
		    start_stage(sp + 1, (size_t)(colon - sp - 1))) {
			if (ts > last_setup_ns) {
				found = colon + 1;
				found_end = e;
			} else {
				found = NULL;
			}
		}
		p = eol ? eol + 1 : end;
	}
	if (!found)
		return false;
	if (size > 0) {
		size_t o = 0;

		while (found < found_end && *found == ' ')
			found++;
		for (; found < found_end && o + 1 < size; found++)
			msg[o++] = (unsigned char)*found < 0x20 || *found == 0x7f ? ' ' : *found;
		msg[o] = '\0';
	}
	return true;
}
