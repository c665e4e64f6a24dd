/* SPDX-License-Identifier: Apache-2.0 */
/* podman_inspect_parse on arbitrary bytes: what it accepts is a valid id, a
 * name and annotations as C strings the input held and a PID only for a
 * running container; what it refuses leaves the struct empty with a
 * printable message. */
#include "fuzz-common.h"

#include <errno.h>

#include "shield/podman-inspect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct podman_container c;
	struct shield_error err = {0};
	int r;

	memset(&c, 0x5a, sizeof(c)); /* whatever was there is overwritten, not freed */
	r = podman_inspect_parse((const char *)data, size, &c, &err);
	if (r != 0) {
		fuzz_check_error(r, &err);
		if (r != -EINVAL && r != -ENOENT && r != -E2BIG && r != -ENOMEM)
			abort();
		if (c.state_dir || c.profiles || c.id[0] || c.running || c.pid)
			abort();
		return 0;
	}
	if (!oci_id_valid(c.id) || strnlen(c.name, sizeof(c.name)) == sizeof(c.name))
		abort();
	if (c.pid < 0 || (c.running != (c.pid > 0)))
		abort();
	if ((c.state_dir && strlen(c.state_dir) >= size) ||
	    (c.profiles && strlen(c.profiles) >= size))
		abort();
	if ((c.state_dir || c.profiles) && !c.shielded)
		abort();
	podman_container_free(&c);
	return 0;
}
