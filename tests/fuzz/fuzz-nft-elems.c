/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nft_raw_elems_parse (a set dump's element messages decoded in place) and
 * nft_raw_elems_finish on arbitrary bytes, read as netlink messages back
 * to back, each decoded as IPv4 and as IPv6 elements. The seeds are real
 * kernel element messages (a dump's parts carry the same attributes as the
 * notifications in corpus/nft-notify). Whatever the bytes, parsing fails
 * with -EPROTO or -E2BIG, or yields sorted ranges of the right family with
 * first <= last.
 */
#include "fuzz-common.h"

#include <netinet/in.h>
#include <errno.h>
#include <linux/netlink.h>

#include "nft-internal.h"

static void check_set(const struct nft_set *set, int family)
{
	size_t len = family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < set->n_elems; i++) {
		const struct nft_elem *e = &set->elems[i];

		if (e->family != family || memcmp(e->first, e->last, len) > 0)
			abort();
		if (i && memcmp(set->elems[i - 1].first, e->first, len) > 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int families[] = {AF_INET, AF_INET6};
	/* Copy to an aligned buffer: netlink headers are read in place. */
	uint8_t *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	for (int f = 0; f < 2; f++) {
		struct nft_raw_elems acc = {0};
		struct nft_set set = {0};
		size_t off = 0;
		int r = 0;

		while (r == 0 && size - off >= sizeof(struct nlmsghdr)) {
			const struct nlmsghdr *nlh = (const struct nlmsghdr *)(buf + off);

			if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > size - off)
				break;
			r = nft_raw_elems_parse(nlh, families[f], &acc);
			if (r < 0 && r != -EPROTO && r != -E2BIG && r != -ENOMEM)
				abort();
			off += NLMSG_ALIGN(nlh->nlmsg_len);
			if (off > size)
				break;
		}
		if (acc.n > acc.cap)
			abort();
		if (r == 0) {
			if (nft_raw_elems_finish(&acc, families[f], &set) < 0)
				abort();
			check_set(&set, families[f]);
		} else {
			free(acc.raw);
		}
		free(set.elems);
	}
	free(buf);
	return 0;
}
