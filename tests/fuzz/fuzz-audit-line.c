/* SPDX-License-Identifier: Apache-2.0 */
/* The audit.jsonl reader on arbitrary bytes: fed whole or split at any
 * point it yields the same entries; every entry has a timestamp that
 * parses to its ts_ns and an action; nothing is pending past the line cap;
 * the merge order is a total order (sorting twice changes nothing). */
#include "fuzz-common.h"

#include "shield/audit-log.h"

static void read_all(const uint8_t *data, size_t size, size_t split, struct audit_log *log,
		     struct audit_reader *rd)
{
	audit_reader_init(rd, 0);
	if (audit_reader_feed(rd, (const char *)data, split, log) != 0 ||
	    audit_reader_feed(rd, (const char *)data + split, size - split, log) != 0)
		abort();
	if (rd->len > AUDIT_LINE_MAX)
		abort();
	if (audit_reader_finish(rd, log) != 0)
		abort();
	audit_reader_free(rd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct audit_log a = {0}, b = {0};
	struct audit_reader ra, rb;
	size_t split = size ? data[0] % (size + 1) : 0;

	read_all(data, size, size, &a, &ra);
	read_all(data, size, split, &b, &rb);
	if (a.n != b.n || ra.malformed != rb.malformed)
		abort();
	for (size_t i = 0; i < a.n; i++) {
		int64_t ns;

		if (!a.v[i].ts || !a.v[i].action || strcmp(a.v[i].ts, b.v[i].ts) != 0 ||
		    strcmp(a.v[i].action, b.v[i].action) != 0 || a.v[i].seq != b.v[i].seq)
			abort();
		if (audit_ts_parse(a.v[i].ts, strlen(a.v[i].ts), &ns) != 0 || ns != a.v[i].ts_ns)
			abort();
	}
	audit_log_sort(&a);
	for (size_t i = 1; i < a.n; i++)
		if (a.v[i - 1].ts_ns > a.v[i].ts_ns ||
		    (a.v[i - 1].ts_ns == a.v[i].ts_ns && a.v[i - 1].seq >= a.v[i].seq))
			abort();
	audit_log_free(&a);
	audit_log_free(&b);
	return 0;
}
