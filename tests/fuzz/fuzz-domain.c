/* SPDX-License-Identifier: Apache-2.0 */
/* domain_normalize on arbitrary bytes: whatever passes is safe in a dnsmasq
 * line and a fixed point of normalisation. */
#include "fuzz-common.h"

#include "shield/domain.h"

static int name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[DOMAIN_BUF_SIZE], again[DOMAIN_BUF_SIZE], sub[DOMAIN_BUF_SIZE + 8];
	struct shield_error err = {0};
	size_t n;
	int r;

	r = domain_normalize((const char *)data, size, out, &err);
	if (r != 0) {
		fuzz_check_error(r, &err);
		if (r != -EINVAL)
			abort();
		return 0;
	}
	n = strnlen(out, sizeof(out));
	if (n == 0 || n > DOMAIN_NAME_MAX)
		abort();
	/* Only [a-z0-9.-]: none of "/#, \n", NUL, control or upper-case characters. */
	for (size_t i = 0; i < n; i++)
		if (!name_char(out[i]))
			abort();
	if (strpbrk(out, "/#, \t\n\r") || out[0] == '.' || out[n - 1] == '.' || strstr(out, ".."))
		abort();
	if (!strchr(out, '.'))
		abort();
	if (domain_normalize(out, n, again, &err) != 0 || strcmp(out, again) != 0)
		abort();
	if (!domain_is_within(out, out))
		abort();
	/* The wildcard and fully-qualified spellings name the same entry. */
	snprintf(sub, sizeof(sub), "*.%s.", out);
	if (domain_normalize(sub, strlen(sub), again, &err) != 0 || strcmp(out, again) != 0)
		abort();
	return 0;
}
