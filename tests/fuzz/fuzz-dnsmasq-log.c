/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dnsmasq's query log on arbitrary bytes: the splitter hands out capped
 * lines whose offsets add up, every line parses to a consistent record
 * (the same one twice), and a shadow fed those records and a kernel dump
 * emits only events that encode as one line and decode back.
 */
#include "fuzz-common.h"

#include <errno.h>
#include <sys/socket.h>

#include "shield/dnsmasq-log.h"
#include "shield/shadow.h"

struct ctx {
	struct shadow *shadow;
	struct shadow_output out;
	struct shadow_now now;
	uint64_t last_end;
	size_t lines;
	const uint8_t *data; /* the whole input: stream offset 0 */
};

static bool is_verb(enum dnsmasq_log_kind k)
{
	return k == DNSMASQ_LOG_QUERY || k == DNSMASQ_LOG_FORWARDED || k == DNSMASQ_LOG_REPLY ||
	       k == DNSMASQ_LOG_CACHED || k == DNSMASQ_LOG_NFTSET || k == DNSMASQ_LOG_CONFIG;
}

static void check_record(const char *line, size_t len, const struct dnsmasq_log_rec *rec)
{
	struct dnsmasq_log_rec again;
	size_t n;

	if ((unsigned)rec->kind > DNSMASQ_LOG_EMPTY)
		abort();
	if (strnlen(rec->stamp, sizeof(rec->stamp)) == sizeof(rec->stamp) ||
	    strnlen(rec->qtype, sizeof(rec->qtype)) == sizeof(rec->qtype) ||
	    strnlen(rec->answer_text, sizeof(rec->answer_text)) == sizeof(rec->answer_text) ||
	    strnlen(rec->set, sizeof(rec->set)) == sizeof(rec->set))
		abort();
	n = strnlen(rec->name, sizeof(rec->name));
	if (n == sizeof(rec->name))
		abort();
	for (size_t i = 0; i < n; i++)
		if (rec->name[i] >= 'A' && rec->name[i] <= 'Z')
			abort();
	if (is_verb(rec->kind) && (!rec->has_serial || n == 0))
		abort();
	if (!is_verb(rec->kind) && (n || rec->answer != DNSMASQ_ANSWER_NONE))
		abort();
	if ((rec->kind == DNSMASQ_LOG_NFTSET || rec->answer == DNSMASQ_ANSWER_ADDR) &&
	    ((rec->addr.family != AF_INET && rec->addr.family != AF_INET6) ||
	     !addr_is_host(&rec->addr)))
		abort();
	if (rec->kind == DNSMASQ_LOG_NFTSET &&
	    (!rec->set_name || rec->set_name < rec->set ||
	     rec->set_name >= rec->set + sizeof(rec->set) || !*rec->set_name))
		abort();
	if (rec->msg && len && (rec->msg < line || rec->msg + rec->msg_len > line + len))
		abort();
	if (dnsmasq_log_parse_line(line, len, &again) != (int)rec->kind ||
	    again.kind != rec->kind || strcmp(again.name, rec->name) != 0 ||
	    again.serial != rec->serial)
		abort();
}

static int on_line(const struct dnsmasq_log_line *l, void *opaque)
{
	struct ctx *c = opaque;
	struct dnsmasq_log_rec rec;
	int r;

	if (l->len > DNSMASQ_LOG_LINE_MAX || l->end_offset <= c->last_end ||
	    l->end_offset - c->last_end != l->full_len + 1 ||
	    l->too_long != (l->full_len > DNSMASQ_LOG_LINE_MAX) ||
	    (!l->too_long && l->len != l->full_len))
		abort();
	/* The tail is exactly the stream bytes before the line end. */
	if (l->tail_len !=
		    (l->end_offset < DNSMASQ_LOG_TAIL_MAX ? l->end_offset : DNSMASQ_LOG_TAIL_MAX) ||
	    memcmp(l->tail, c->data + l->end_offset - l->tail_len, l->tail_len) != 0 ||
	    l->tail[l->tail_len - 1] != '\n')
		abort();
	c->last_end = l->end_offset;
	c->lines++;
	if (l->too_long)
		return 0;
	r = dnsmasq_log_parse_line(l->data, l->len, &rec);
	if (r < 0)
		abort();
	check_record(l->data, l->len, &rec);
	c->now.mono_ms += 7;
	c->now.wall_ms += 7;
	if (shadow_log_record(c->shadow, &rec, &c->now, &c->out) < 0)
		abort();
	return 0;
}

static void check_events(const struct shadow_output *o)
{
	for (size_t i = 0; i < o->n_events; i++) {
		struct shield_error err = {0};
		struct shield_event back;
		char *line = NULL;
		size_t len;

		if (shield_event_encode(&o->events[i], &line, &len, &err) < 0)
			abort();
		if (len > SHIELD_EVENT_LINE_MAX || line[len - 1] != '\n' ||
		    memchr(line, '\n', len - 1))
			abort();
		if (shield_event_decode(line, len, &back, &err) < 0 ||
		    back.kind != o->events[i].kind || back.id != o->events[i].id ||
		    back.n_added != o->events[i].n_added)
			abort();
		shield_event_free(&back);
		free(line);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const domains[] = {"shield.test", "other.test"};
	static struct dnsmasq_log_split split;
	struct strlist dl = {(char **)domains, 2, 2}, denied = STRLIST_INIT;
	struct addr_prefix allow = {.family = AF_INET, .addr = {198, 18, 5, 5}, .plen = 32};
	struct shadow_config cfg = {
		.container = "fuzz",
		.ruleset = {.mode = SHIELD_MODE_UP,
			    .upstream = {.family = AF_INET, .addr = {198, 18, 1, 53}, .plen = 32},
			    .set_timeout = 60,
			    .allow = &allow,
			    .n_allow = 1},
		.dns_policy = size % 2 ? DNS_POLICY_OPEN : DNS_POLICY_STRICT,
		.domains = &dl,
		.denied = &denied,
		.dnsmasq_pid = 100,
		.repair = true,
	};
	struct ctx c = {.now = {1000000, 1764111226000ULL}, .data = data};
	struct nft_ruleset rs;
	size_t half = size / 2;

	if (shadow_new(&cfg, &c.shadow, NULL) < 0)
		abort();
	/* The hook's ruleset first, so cached answers are judged against a set. */
	if (nft_ruleset_build(&cfg.ruleset, &rs, NULL) < 0 ||
	    shadow_kernel_dump(c.shadow, &rs, NULL, &c.now, &c.out) < 0)
		abort();
	/* Two feeds: a line may straddle them. */
	dnsmasq_log_split_init(&split, 0);
	if (dnsmasq_log_split_feed(&split, (const char *)data, half, on_line, &c) < 0 ||
	    dnsmasq_log_split_feed(&split, (const char *)data + half, size - half, on_line, &c) < 0)
		abort();
	if (split.offset != size || split.consumed != c.last_end ||
	    dnsmasq_log_split_pending(&split) != size - c.last_end)
		abort();
	c.now.mono_ms += 5000;
	if (shadow_tick(c.shadow, &c.now, &c.out) < 0 ||
	    shadow_kernel_dump(c.shadow, &rs, NULL, &c.now, &c.out) < 0)
		abort();
	check_events(&c.out);
	{
		json_t *rep = shadow_report(c.shadow, NULL, &c.now);

		if (!rep)
			abort();
		json_decref(rep);
	}
	nft_ruleset_free(&rs);
	shadow_output_free(&c.out);
	shadow_free(c.shadow);
	return 0;
}
