/* SPDX-License-Identifier: Apache-2.0 */
/* addr_parse on arbitrary bytes: canonical text round-trips exactly. */
#include "fuzz-common.h"

#include <sys/socket.h>

#include "shield/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr_prefix a, b, h;
	struct shield_error err = {0};
	char text[ADDR_TEXT_MAX], text2[ADDR_TEXT_MAX];
	uint8_t first[16], last[16];
	int r;

	r = addr_parse((const char *)data, size, &a, &err);
	if (r != 0) {
		fuzz_check_error(r, &err);
		/* A single address is a special case of a prefix. */
		if (addr_parse_host((const char *)data, size, &h, &err) == 0)
			abort();
		return 0;
	}
	if (a.family != AF_INET && a.family != AF_INET6)
		abort();
	if (a.plen > addr_len(&a) * 8)
		abort();

	addr_format(&a, text);
	if (text[0] == '\0' || strnlen(text, sizeof(text)) == sizeof(text))
		abort();
	if ((strchr(text, '/') == NULL) != addr_is_host(&a))
		abort();
	if (addr_parse(text, strlen(text), &b, &err) != 0 || !addr_equal(&a, &b))
		abort();
	addr_format(&b, text2);
	if (strcmp(text, text2) != 0)
		abort();
	if (addr_canonical(text, text2, &err) != 0 || strcmp(text, text2) != 0)
		abort();

	/* Host bits are clear: the prefix's first address is its own address. */
	addr_range(&a, first, last);
	if (memcmp(first, a.addr, addr_len(&a)) != 0 || memcmp(first, last, addr_len(&a)) > 0)
		abort();
	if (!addr_contains(&a, &a))
		abort();

	r = addr_parse_host((const char *)data, size, &h, &err);
	if (memchr(data, '/', size) ? r == 0 : (r != 0 || !addr_equal(&a, &h)))
		abort();
	return 0;
}
