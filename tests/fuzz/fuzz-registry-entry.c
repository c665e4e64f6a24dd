/* SPDX-License-Identifier: Apache-2.0 */
/* registry_entry_parse on arbitrary bytes: an accepted entry has a valid id
 * and terminated strings, and formats back to text that parses to the same
 * entry (format is a fixed point); a refused one leaves the entry zeroed. */
#include "fuzz-common.h"

#include <errno.h>

#include "shield/registry.h"

static bool terminated(const char *s, size_t size)
{
	return strnlen(s, size) < size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct registry_entry zero;
	struct registry_entry e, back;
	struct shield_error err = {0};
	char *text = NULL, *again = NULL;
	int r;

	memset(&e, 0x5a, sizeof(e));
	r = registry_entry_parse((const char *)data, size, &e, &err);
	if (r != 0) {
		fuzz_check_error(r, &err);
		if (r != -EINVAL && r != -E2BIG)
			abort();
		if (memcmp(&e, &zero, sizeof(e)) != 0)
			abort();
		return 0;
	}
	if (!terminated(e.id, sizeof(e.id)) || !oci_id_valid(e.id))
		abort();
	if (!terminated(e.name, sizeof(e.name)) || !terminated(e.state_dir, sizeof(e.state_dir)) ||
	    !terminated(e.netns, sizeof(e.netns)) || !terminated(e.source, sizeof(e.source)) ||
	    !terminated(e.started, sizeof(e.started)))
		abort();
	if (e.pid < 0 || e.dnsmasq_pid < 0 || e.netns_dev > INT64_MAX || e.netns_ino > INT64_MAX)
		abort();

	if (registry_entry_format(&e, &text, &err) != 0)
		abort();
	if (strlen(text) > REGISTRY_ENTRY_MAX || text[strlen(text) - 1] != '\n')
		abort();
	memset(&back, 0xa5, sizeof(back));
	if (registry_entry_parse(text, strlen(text), &back, &err) != 0)
		abort();
	/* Both were zeroed before being filled, so the bytes compare. */
	if (memcmp(&e, &back, sizeof(e)) != 0)
		abort();
	if (registry_entry_format(&back, &again, &err) != 0 || strcmp(text, again) != 0)
		abort();
	free(text);
	free(again);
	return 0;
}
