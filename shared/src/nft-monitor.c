/* SPDX-License-Identifier: Apache-2.0 */
/* nftables notifications: first cut, the API only. */
#include <netinet/in.h>
#include <linux/netlink.h>
#include <string.h>

#include "shield/nft-monitor.h"

int nft_notify_decode(const struct nlmsghdr *nlh, struct nft_notify *out, struct shield_error *err)
{
	(void)nlh;
	memset(out, 0, sizeof(*out));
	return shield_error_set(err, -ENOSYS, "nft_notify_decode: not implemented yet");
}

void nft_notify_free(struct nft_notify *n)
{
	if (!n)
		return;
	free(n->elems);
	memset(n, 0, sizeof(*n));
}

bool nft_notify_is_ours(const struct nft_notify *n)
{
	(void)n;
	return false;
}

const char *nft_change_kind_name(enum nft_change_kind kind)
{
	(void)kind;
	return "other";
}

int nft_monitor_open(int nsfd, size_t rcvbuf, struct nft_monitor **out, struct shield_error *err)
{
	(void)nsfd;
	(void)rcvbuf;
	*out = NULL;
	return shield_error_set(err, -ENOSYS, "nft_monitor_open: not implemented yet");
}

int nft_monitor_fd(const struct nft_monitor *mon)
{
	(void)mon;
	return -1;
}

void nft_monitor_close(struct nft_monitor *mon)
{
	(void)mon;
}

int nft_monitor_read(struct nft_monitor *mon, nft_monitor_cb cb, void *data,
		     struct shield_error *err)
{
	(void)mon;
	(void)cb;
	(void)data;
	return shield_error_set(err, -ENOSYS, "nft_monitor_read: not implemented yet");
}

void nft_monitor_stats(const struct nft_monitor *mon, struct nft_monitor_stats *out)
{
	(void)mon;
	memset(out, 0, sizeof(*out));
}
