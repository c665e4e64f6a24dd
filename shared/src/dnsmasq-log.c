/* SPDX-License-Identifier: Apache-2.0 */
/* dnsmasq query-log parsing (stub: implementation follows). */
#include <errno.h>
#include <string.h>

#include "shield/dnsmasq-log.h"

const char *dnsmasq_log_kind_name(enum dnsmasq_log_kind k)
{
	(void)k;
	return "other";
}

int dnsmasq_log_parse_line(const char *line, size_t len, struct dnsmasq_log_rec *out)
{
	(void)line;
	(void)len;
	(void)out;
	return -ENOSYS;
}

int dnsmasq_log_rec_set(const struct dnsmasq_log_rec *rec)
{
	(void)rec;
	return -ENOSYS;
}

void dnsmasq_log_split_init(struct dnsmasq_log_split *s, uint64_t start)
{
	memset(s, 0, sizeof(*s));
	s->offset = s->consumed = start;
}

int dnsmasq_log_split_feed(struct dnsmasq_log_split *s, const char *data, size_t len,
			   dnsmasq_log_line_fn cb, void *ctx)
{
	(void)s;
	(void)data;
	(void)len;
	(void)cb;
	(void)ctx;
	return -ENOSYS;
}

uint64_t dnsmasq_log_split_pending(const struct dnsmasq_log_split *s)
{
	return s->partial;
}
