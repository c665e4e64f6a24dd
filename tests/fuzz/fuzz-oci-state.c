/* SPDX-License-Identifier: Apache-2.0 */
/* oci_state_parse on arbitrary bytes, at both hook stages: what it accepts is
 * a valid id with C strings, a pid where one is needed, and the two stages
 * agree; what it refuses leaves the struct empty with a printable message. */
#include "fuzz-common.h"

#include <errno.h>
#include <stdbool.h>

#include "shield/oci-state.h"

static bool is_empty(const struct oci_state *s)
{
	return !s->id && s->pid == 0 && !s->status && !s->state_dir && !s->name && !s->version &&
	       !s->profiles;
}

static bool same_string(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int parse(const uint8_t *data, size_t size, bool need_pid, struct oci_state *s)
{
	struct shield_error err = {0};
	int r;

	/* Whatever was in the struct is overwritten, not freed. */
	s->pid = -1;
	r = oci_state_parse((const char *)data, size, need_pid, s, &err);
	if (r != 0) {
		fuzz_check_error(r, &err);
		if (r != -EINVAL && r != -E2BIG && r != -ENOMEM)
			abort();
		if ((r == -E2BIG) != (size > OCI_STATE_MAX))
			abort();
		if (!is_empty(s))
			abort();
		return r;
	}
	if (!s->id || strlen(s->id) > OCI_ID_MAX || !oci_id_valid(s->id))
		abort();
	if (s->pid < 0 || (need_pid && s->pid == 0))
		abort();
	/* Every string is a C string the input held (strlen reads it whole under ASan). */
	if ((s->status && strlen(s->status) >= size) ||
	    (s->state_dir && strlen(s->state_dir) >= size) ||
	    (s->name && strlen(s->name) >= size) || (s->version && strlen(s->version) >= size) ||
	    (s->profiles && strlen(s->profiles) >= size))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_state a, b;
	int ra = parse(data, size, false, &a);
	int rb = parse(data, size, true, &b);

	/* The stages differ only in whether a positive pid is required. */
	if (rb == 0 && ra != 0)
		abort();
	if (ra == 0 && rb == 0 &&
	    (strcmp(a.id, b.id) != 0 || a.pid != b.pid || !same_string(a.status, b.status) ||
	     !same_string(a.state_dir, b.state_dir) || !same_string(a.name, b.name) ||
	     !same_string(a.version, b.version) || !same_string(a.profiles, b.profiles)))
		abort();
	if (ra == 0 && (a.pid > 0) != (rb == 0))
		abort();
	oci_state_free(&a);
	oci_state_free(&b);
	if (!is_empty(&a) || !is_empty(&b))
		abort();
	return 0;
}
