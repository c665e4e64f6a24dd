/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shield_event_decode on arbitrary bytes (what a client reads from the
 * nftsetd socket): an accepted event re-encodes to one line that decodes to
 * the same event (encode is a fixed point); a refused one has a clear error
 * and nothing to free. The log cursor parser gets the same bytes.
 */
#include "fuzz-common.h"

#include <errno.h>

#include "shield/event.h"
#include "shield/log-cursor.h"

static bool same(const struct shield_event *a, const struct shield_event *b)
{
	if (a->kind != b->kind || a->ts_ms != b->ts_ms || a->id != b->id ||
	    a->age_ms != b->age_ms || a->pid != b->pid || a->repaired != b->repaired ||
	    a->n_added != b->n_added || a->n_removed != b->n_removed)
		return false;
	for (size_t i = 0; i < a->n_added; i++)
		if (!addr_equal(&a->added[i], &b->added[i]))
			return false;
	for (size_t i = 0; i < a->n_removed; i++)
		if (!addr_equal(&a->removed[i], &b->removed[i]))
			return false;
	return strcmp(a->container, b->container) == 0 && strcmp(a->domain, b->domain) == 0 &&
	       strcmp(a->ip, b->ip) == 0 && strcmp(a->set, b->set) == 0 &&
	       strcmp(a->comm, b->comm) == 0 && strcmp(a->detail, b->detail) == 0;
}

static bool same_cursor(const struct log_cursor *a, const struct log_cursor *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->offset == b->offset &&
	       a->tail_len == b->tail_len && a->tail_hash == b->tail_hash &&
	       a->collapse == b->collapse && a->lines == b->lines && a->has_batch == b->has_batch &&
	       (!a->has_batch || memcmp(&a->batch, &b->batch, sizeof(a->batch)) == 0);
}

/* Whatever parses formats within LOG_CURSOR_TEXT_MAX and parses back to the same cursor. */
static void fuzz_cursor(const uint8_t *data, size_t size)
{
	struct shield_error err = {0};
	struct log_cursor c, back;
	char text[LOG_CURSOR_TEXT_MAX], again[LOG_CURSOR_TEXT_MAX];
	int r = log_cursor_parse((const char *)data, size, &c, &err), n;

	if (r < 0) {
		fuzz_check_error(r, &err);
		return;
	}
	if (c.tail_len > LOG_CURSOR_TAIL_MAX || c.tail_len > c.offset || c.collapse > c.offset ||
	    (c.has_batch && c.batch.ev_start > c.batch.ev_end))
		abort();
	n = log_cursor_format(&c, text, sizeof(text));
	if (n < 0 || log_cursor_parse(text, (size_t)n, &back, &err) < 0 || !same_cursor(&c, &back))
		abort();
	if (log_cursor_format(&back, again, sizeof(again)) != n || memcmp(text, again, (size_t)n))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shield_error err = {0};
	struct shield_event ev, back;
	char *line = NULL, *again = NULL;
	size_t len, len2;
	int r;

	fuzz_cursor(data, size);
	r = shield_event_decode((const char *)data, size, &ev, &err);
	if (r < 0) {
		fuzz_check_error(r, &err);
		if ((r != -EINVAL && r != -E2BIG) || ev.added || ev.removed)
			abort();
		return 0;
	}
	if (shield_event_kind_name(ev.kind) == NULL || ev.n_added > SHIELD_EVENT_LIST_MAX ||
	    ev.n_removed > SHIELD_EVENT_LIST_MAX)
		abort();
	if (shield_event_encode(&ev, &line, &len, &err) < 0)
		abort();
	/* The encoder writes exactly what jansson's dump of the event object gives. */
	{
		json_t *o = shield_event_to_json(&ev);
		char *text =
			o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)
			  : NULL;

		json_decref(o);
		if (!text || strlen(text) + 1 != len || memcmp(text, line, len - 1) != 0)
			abort();
		free(text);
	}
	if (len > SHIELD_EVENT_LINE_MAX || line[len - 1] != '\n' || memchr(line, '\n', len - 1))
		abort();
	if (shield_event_decode(line, len, &back, &err) < 0)
		abort();
	/* Text that was not UTF-8 is replaced once; from then on it is stable. */
	if (shield_event_encode(&back, &again, &len2, &err) < 0 || len2 != len ||
	    strcmp(line, again) != 0)
		abort();
	if (back.kind != ev.kind || back.id != ev.id || back.ts_ms != ev.ts_ms)
		abort();
	{
		struct shield_event third;

		if (shield_event_decode(again, len2, &third, &err) < 0 || !same(&back, &third))
			abort();
		shield_event_free(&third);
	}
	shield_event_free(&ev);
	shield_event_free(&back);
	free(line);
	free(again);
	return 0;
}
