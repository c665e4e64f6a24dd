/* SPDX-License-Identifier: Apache-2.0 */
/* bundle_config_parse on arbitrary text: what it accepts formats back to
 * text that parses to the same settings (format is a fixed point). */
#include "fuzz-common.h"

#include <sys/socket.h>

#include "shield/bundle.h"
#include "shield/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bundle_config c, back;
	struct shield_error err = {0};
	char *text = NULL, *again = NULL;
	int r;

	bundle_config_init(&c);
	r = bundle_config_parse((const char *)data, size, &c, &err);
	if (r != 0) {
		fuzz_check_error(r, &err);
		/* c is untouched on failure. */
		if (c.version != BUNDLE_FORMAT_VERSION || c.mode != SHIELD_MODE_UP ||
		    c.profiles.n != 0 || c.set_timeout != BUNDLE_DEFAULT_SET_TIMEOUT)
			abort();
		bundle_config_free(&c);
		return 0;
	}
	if (c.mode > SHIELD_MODE_BLOCK || c.set_timeout < 1 || c.set_timeout > 7 * 86400)
		abort();
	if (c.gateway_v4.family != 0 && c.gateway_v4.family != AF_INET)
		abort();
	if (c.gateway_v6.family != 0 && c.gateway_v6.family != AF_INET6)
		abort();
	for (size_t i = 0; i < c.profiles.n; i++)
		if (profile_name_check(c.profiles.items[i], &err) != 0)
			abort();

	if (bundle_config_format(&c, &text, &err) != 0)
		abort();
	bundle_config_init(&back);
	if (bundle_config_parse(text, strlen(text), &back, &err) != 0)
		abort();
	if (bundle_config_format(&back, &again, &err) != 0 || strcmp(text, again) != 0)
		abort();
	if (back.mode != c.mode || back.set_timeout != c.set_timeout ||
	    back.loopback_ports.n != c.loopback_ports.n || strcmp(back.name, c.name) != 0)
		abort();
	free(text);
	free(again);
	bundle_config_free(&back);
	bundle_config_free(&c);
	return 0;
}
