/* SPDX-License-Identifier: Apache-2.0 */
/* profile_parse on arbitrary text: every entry it returns is normalised,
 * unique, and a failure leaves the caller's lists alone. */
#include "fuzz-common.h"

#include "shield/addr.h"
#include "shield/domain.h"
#include "shield/profile.h"

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void check_unique(const struct strlist *l)
{
	char **copy;

	if (l->n < 2)
		return;
	copy = malloc(l->n * sizeof(*copy));
	if (!copy)
		abort();
	memcpy(copy, l->items, l->n * sizeof(*copy));
	qsort(copy, l->n, sizeof(*copy), cmp);
	for (size_t i = 1; i < l->n; i++)
		if (strcmp(copy[i - 1], copy[i]) == 0)
			abort();
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strlist d = STRLIST_INIT, ips = STRLIST_INIT;
	struct shield_error err = {0};
	int r;

	r = profile_parse("fuzz", (const char *)data, size, &d, &ips, &err);
	if (r != 0) {
		fuzz_check_error(r, &err);
		if (d.n || ips.n)
			abort();
		return 0;
	}
	for (size_t i = 0; i < d.n; i++) {
		char norm[DOMAIN_BUF_SIZE];

		if (domain_normalize(d.items[i], strlen(d.items[i]), norm, &err) != 0 ||
		    strcmp(norm, d.items[i]) != 0)
			abort();
	}
	for (size_t i = 0; i < ips.n; i++) {
		char canon[ADDR_TEXT_MAX];

		if (addr_canonical(ips.items[i], canon, &err) != 0 ||
		    strcmp(canon, ips.items[i]) != 0)
			abort();
	}
	check_unique(&d);
	check_unique(&ips);
	strlist_free(&d);
	strlist_free(&ips);
	return 0;
}
