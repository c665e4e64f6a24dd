/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shadow state of one watched container and the drift computation
 * (DESIGN.md "Drift and rotation"). Pure: the caller (nftsetd, or `shield
 * drift` one-shot) does every read and write and feeds the results in:
 *
 *   - the bundle as plain data (shadow_config): effective domains, denied
 *     domains, static allow entries, deny.list, set timeout, mode;
 *   - parsed dnsmasq log records (dnsmasq-log.h), each with "now";
 *   - kernel views: full table dumps (nft_dump_ruleset), single set dumps
 *     (nft_elems_list), and element add/delete notifications attributed to
 *     the writing process (pid, comm of the transaction's NEWGEN message);
 *   - what the caller saw itself: dnsmasq exited or came back, a log gap.
 *
 * Out come events (struct shield_event, stamped with ts, id and container)
 * and repair actions (add an address to a set with a timeout), appended to
 * a struct shadow_output; the caller writes the events and performs the
 * repairs. Drift items stay "open" until their condition clears (or a later
 * dump or notification confirms a repair); a new item yields one event, a
 * persisting item none. shadow_report builds the report object of BRIEF.md.
 *
 * Time: every call takes a struct shadow_now, the caller's CLOCK_MONOTONIC
 * (for expiries and ages) and CLOCK_REALTIME (for event timestamps) in ms.
 * Times must not go backwards between calls on one shadow.
 *
 * Expected allow-set content = static entries (never expire) ∪ every
 * address dnsmasq logged with "nftset add" (or answered in a "reply") for a
 * domain that is still allowed, until its kernel expiry. Elements present
 * at the first dump (attach, nftsetd restart) or the first dump after a
 * log gap that carry an expiry and are otherwise unexplained are adopted as
 * answers from before the shadow knew the log ("inherited"), not reported:
 * nftsetd restarts must not turn every live answer into drift.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "addr.h"
#include "bundle-rules.h"
#include "dnsmasq-log.h"
#include "error.h"
#include "event.h"
#include "nft-ruleset.h"
#include "params.h"
#include "strlist.h"

/* Tolerance around kernel expiries (the kernel's and dnsmasq's clocks differ from ours). */
#define SHADOW_EXPIRY_SLACK_MS 2000
/* How long after dnsmasq's set add its log line may still be unwritten (see shadow_log_read). */
#define SHADOW_LOG_LAG_MS 50
/* Recommended shadow_config.blocked_repeat_ms: one blocked_query per name per second. */
#define SHADOW_BLOCKED_REPEAT_MS 1000
/* Most domain names whose answers are remembered for rotation (oldest dropped first). */
#define SHADOW_NAMES_MAX 65536

/* The bundle, as plain data (every pointer borrowed for the call only: the shadow copies). */
struct shadow_config {
	const char *container; /* event "container": the name, or the id when unnamed */
	/*
	 * What the ruleset is built from (nft_ruleset_params: mode, upstream,
	 * ports, gateways, set_timeout, static allow entries = effective IPs,
	 * deny = deny.list). The expected ruleset for ruleset.tampered is built
	 * from it with nft_ruleset_build.
	 */
	struct nft_ruleset_params ruleset;
	enum dns_policy dns_policy;    /* as dnsmasq runs it (open in modes down/down_all) */
	const struct strlist *domains; /* effective domains, normalised */
	const struct strlist *denied;  /* denied.domains, normalised */
	int32_t dnsmasq_pid;	    /* this container's dnsmasq: an explained writer; 0 = unknown */
	bool repair;		    /* issue repair actions (false: --no-repair) */
	uint32_t blocked_repeat_ms; /* same blocked name again within this: counted, no event */
	/*
	 * Event id sequence shared by every shadow of one nftsetd (borrowed,
	 * must outlive the shadow; each event takes ++*event_seq). NULL = the
	 * shadow's own sequence from 1.
	 */
	uint64_t *event_seq;
};

/*
 * Fill cfg from a loaded bundle (bundle_rules_load) and its effective and
 * denied domains (bundle_effective_domains): the ruleset parameters of the
 * bundle's mode, the DNS policy dnsmasq runs with in it (bundle_dns_policy),
 * the domain lists and SHADOW_BLOCKED_REPEAT_MS; everything else zero. The
 * pointers are borrowed, as for shadow_new.
 */
void shadow_config_from_bundle(struct shadow_config *cfg, const struct bundle_rules *b,
			       const struct strlist *domains, const struct strlist *denied);

/* The caller's clocks, in ms. */
struct shadow_now {
	uint64_t mono_ms; /* CLOCK_MONOTONIC */
	uint64_t wall_ms; /* CLOCK_REALTIME (event "ts") */
};

/* The process behind a kernel change (NFTA_GEN_PROC_PID / NFTA_GEN_PROC_NAME). */
struct shadow_writer {
	int32_t pid; /* 0 = unknown */
	char comm[SHIELD_EVENT_COMM_MAX];
};

/* One element notification (NFT_MSG_NEWSETELEM / NFT_MSG_DELSETELEM) of a transaction. */
struct shadow_elem_change {
	bool add; /* true: new element, false: deleted */
	enum nft_set_id set;
	struct nft_elem
		elem; /* range; for adds also timeout_ms/expires_ms when the kernel sent them */
};

/* A repair the caller should perform: nft_elems_add(sock, set, &addr, 1, timeout_ms). */
struct shadow_repair {
	enum nft_set_id set;
	struct addr_prefix addr;
	uint64_t timeout_ms; /* 0 = never expires (static), NFT_TIMEOUT_SET_DEFAULT (deny sets),
				else the set timeout in ms (stale answer) */
	enum shield_event_kind cause; /* SHIELD_EVENT_DRIFT_MISSING or _DRIFT_STALE_ANSWER */
};

/* What one call produced; the caller consumes it and calls shadow_output_reset. */
struct shadow_output {
	struct shield_event *events;
	size_t n_events, cap_events;
	struct shadow_repair *repairs;
	size_t n_repairs, cap_repairs;
};

/* Free every event's lists and forget events and repairs (keeps the arrays for reuse). */
void shadow_output_reset(struct shadow_output *o);
/* Free everything the output owns and zero it. */
void shadow_output_free(struct shadow_output *o);

struct shadow;

/* A new shadow for one container: 0, or -EINVAL (bad config, err says what) / -ENOMEM. */
int shadow_new(const struct shadow_config *cfg, struct shadow **out, struct shield_error *err);

/* Free a shadow; NULL-tolerant. */
void shadow_free(struct shadow *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct shadow *, shadow_free)
#define _cleanup_shadow_ _cleanup_(shadow_freep)

/*
 * The bundle changed (shield allow/deny, mode, dnsmasq restarted with a new
 * pid): take the new config, keep what was learned from the log and the
 * kernel; checks are re-evaluated at the next dump. On error the old config
 * stays in force.
 */
int shadow_reconfigure(struct shadow *s, const struct shadow_config *cfg, struct shield_error *err);

/*
 * One parsed log record. QUERY (open policy, mode up: a name no allowlist
 * covers) and CONFIG ... NXDOMAIN give blocked_query; NFTSET and REPLY
 * addresses for allowed names become expected dynamic entries; the
 * addresses of one response (same serial) are compared with that name's
 * previous answer (per family) for rotation once the response is complete
 * (a line of another response, or shadow_tick); CACHED addresses missing
 * from the kernel view give drift.stale_answer (+ repair). Others are
 * ignored. Returns 0 or -ENOMEM.
 */
int shadow_log_record(struct shadow *s, const struct dnsmasq_log_rec *rec,
		      const struct shadow_now *now, struct shadow_output *out);

/*
 * A full dump of the table (nft_dump_ruleset), taken at now (pass the time
 * the dump was started). Replaces the kernel view of all four sets, checks
 * the rules against the mode (ruleset.tampered, table gone), and runs every
 * set check: unexplained, missing (+ repair of static and deny entries),
 * denied_present; open items whose condition is gone are resolved. writer:
 * the last process a rule/chain/table notification named since the last
 * dump, or NULL. Returns 0 or -ENOMEM.
 */
int shadow_kernel_dump(struct shadow *s, const struct nft_ruleset *rs,
		       const struct shadow_writer *writer, const struct shadow_now *now,
		       struct shadow_output *out);

/* One set's dump (nft_elems_list), as shadow_kernel_dump restricted to that set. */
int shadow_kernel_set(struct shadow *s, enum nft_set_id id, const struct nft_set *set,
		      const struct shadow_now *now, struct shadow_output *out);

/*
 * The element changes of one committed transaction, attributed to writer
 * (NULL = unknown). Updates the kernel view and checks the touched
 * elements at once: an add nobody explains is drift.unexplained (or
 * drift.denied_present) naming the writer; a delete of a static or
 * unexpired dynamic entry, or of a deny entry, is drift.missing naming the
 * writer (+ repair for static and deny entries). Changes by "our" writers
 * are not judged here but at the next dump, against the bundle and the log
 * as they are then (their adds race the log line, their deletes the
 * bundle change): this container's dnsmasq (dnsmasq_pid, or a pid seen in
 * its log lines: its TCP children), or comm "dnsmasq", "shield",
 * "shield-hook", "nftsetd". Notifications before the first dump of a set
 * only update the view. Returns 0 or -ENOMEM.
 */
int shadow_kernel_changes(struct shadow *s, const struct shadow_elem_change *changes, size_t n,
			  const struct shadow_writer *writer, const struct shadow_now *now,
			  struct shadow_output *out);

/*
 * The query log has been read to its end, as it was at now (take now
 * before the read). Once this has been called, a set check leaves alone an
 * allow-set element that one of our writers added (a notification through
 * shadow_kernel_changes) and that nothing explains yet, until the log has
 * been read to its end at least SHADOW_LOG_LAG_MS after that add: dnsmasq
 * adds to the set before its log line is written and read, so a dump in
 * between would take a legitimate answer for drift.unexplained. An item
 * already open for the element stays open meanwhile. Without any call (a
 * shadow fed a whole log, then a dump) nothing waits.
 */
void shadow_log_read(struct shadow *s, const struct shadow_now *now);

/* Elements the last set check left waiting for the log (dump again once it was read). */
size_t shadow_awaiting_log(const struct shadow *s);

/*
 * Time passes: complete a pending response (rotation), forget dynamic
 * entries and kernel elements past their expiry. Call it from the caller's
 * periodic timer (nothing here needs a precise wake-up). Returns 0 or -ENOMEM.
 */
int shadow_tick(struct shadow *s, const struct shadow_now *now, struct shadow_output *out);

/*
 * A repair the caller could not perform (err says why): the item stays
 * open and the repair is issued again at the next dump; an event of the
 * item's kind with repaired false and the reason in detail is emitted.
 */
int shadow_repair_failed(struct shadow *s, const struct shadow_repair *r, const char *why,
			 const struct shadow_now *now, struct shadow_output *out);

/*
 * dnsmasq liveness as seen by the caller (pidfd): down opens a
 * dnsmasq.down item (one event, detail e.g. "exited with status 1"); up
 * resolves it. pid: the new dnsmasq pid when up (0 = unchanged).
 */
int shadow_dnsmasq_state(struct shadow *s, bool up, int32_t pid, const char *detail,
			 const struct shadow_now *now, struct shadow_output *out);

/*
 * The log was truncated, rotated away or otherwise skipped bytes: one
 * log.gap event (detail says what happened); the item stays open until the
 * next full dump, which also adopts the dynamic-looking elements the lost
 * lines may have explained.
 */
int shadow_log_gap(struct shadow *s, const char *detail, const struct shadow_now *now,
		   struct shadow_output *out);

/*
 * An informational event (watch.attached, watch.detached, netlink.resync)
 * stamped like the others and counted; detail may be NULL.
 */
int shadow_info(struct shadow *s, enum shield_event_kind kind, const char *detail,
		const struct shadow_now *now, struct shadow_output *out);

/* Events of a kind emitted so far. */
uint64_t shadow_count(const struct shadow *s, enum shield_event_kind kind);
/* Open items of a kind now. */
size_t shadow_open_count(const struct shadow *s, enum shield_event_kind kind);
/* Whether no check is open. */
bool shadow_clean(const struct shadow *s);

/* What the shadow knows now, in numbers (nftsetd's metrics). */
struct shadow_stats {
	size_t domains;		  /* effective domains */
	uint64_t blocked_queries; /* every blocked query, repeats within blocked_repeat_ms too */
	bool set_present[NFT_SET_COUNT]; /* the last dump found the set */
	size_t set_elems[NFT_SET_COUNT]; /* its unexpired elements in the kernel view */
};

/* Fill st (the kernel view as of the last dump and notifications, expiries applied at now). */
void shadow_stats(const struct shadow *s, const struct shadow_now *now, struct shadow_stats *st);

/* What the report says about a container that the shadow does not know (registry, pidfd). */
struct shadow_report_info {
	const char *id, *name, *state_dir, *netns, *source; /* NULL = "" */
	bool dnsmasq_alive;
};

/*
 * The per-container report object (BRIEF.md): {"id","name","state_dir",
 * "netns","source","mode","dns_policy","dnsmasq":{"pid","alive"},
 * "domains":[{"domain","addresses":[{"ip","set","expires_in_ms"}],
 * "last_answer","last_rotation"}],"blocked_queries":N,"checks":[{"kind",
 * "state","count","open":[events]}],"clean":bool}. "domains" lists every
 * effective domain in bundle order with the unexpired addresses dnsmasq
 * added for it or its subdomains; last_answer/last_rotation are timestamps
 * or null. NULL on -ENOMEM.
 */
json_t *shadow_report(const struct shadow *s, const struct shadow_report_info *info,
		      const struct shadow_now *now);
