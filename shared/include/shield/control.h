/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Changing a shielded container at run time: allow/deny a domain or an
 * address, switch the mode (up, down, down_all, block). The bundle's files
 * are the truth: every change is written there first (atomically), then
 * pushed into the kernel (one netlink transaction) and dnsmasq (restarted
 * with the regenerated dnsmasq.conf: SIGHUP does not reload nftset lines).
 * A bundle lock (flock on shield.lock in the bundle) is held across both,
 * so concurrent commands on one container serialise. Nothing here prints.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "addr.h"
#include "domain.h"
#include "error.h"
#include "params.h"
#include "registry.h"
#include "strlist.h"

#define CONTROL_LOCK_FILE "shield.lock"
/* dnsmasq.log bytes read to find a denied domain's answers (the newest are kept). */
#define CONTROL_LOG_MAX (64u * 1024 * 1024)
/* Answers kept from it for one denied domain. */
#define CONTROL_ANSWERS_MAX 65536

/*
 * Take the bundle lock: open (create 0600, O_NOFOLLOW, regular file only)
 * CONTROL_LOCK_FILE in dirfd and flock it exclusively, waiting for another
 * holder. Returns the fd (closing it releases the lock) or -errno.
 */
int control_lock(int dirfd, struct shield_error *err);

enum control_action {
	CONTROL_ALLOW,
	CONTROL_DENY,
};

/* "allow", "deny". */
const char *control_action_name(enum control_action a);

/* What allow/deny acts on. */
struct control_target {
	bool is_ip;		    /* an address or CIDR, else a domain */
	char text[DOMAIN_BUF_SIZE]; /* normalised domain, or canonical address text */
	struct addr_prefix prefix;  /* is_ip */
};

/*
 * Parse a TARGET (pure): an IPv4/IPv6 address or CIDR (addr.h), else a
 * domain ("*.x" is x: dnsmasq matches subdomains anyway). Text that looks
 * like an address (digits, dots, ':' and '/' only) is judged as one, so
 * "198.18.0.300" is an invalid address, not a domain. -EINVAL naming why.
 */
int control_target_parse(const char *text, struct control_target *out, struct shield_error *err);

/* What a plan changes in the three lists of the target's kind. */
struct control_plan {
	bool live_changed;   /* live.domains / live.allowed must be written */
	bool denied_changed; /* denied.domains / deny.list must be written */
	bool was_effective;  /* the target was allowed before */
	bool now_effective;  /* ... and after */
	bool was_denied, now_denied;
};

/*
 * The what-changed computation (pure). profile, live and denied are the
 * kind's lists (profile.domains, live.domains, denied.domains; or
 * profile.allowed, live.allowed, deny.list); live and denied are changed
 * in place:
 *  - allow: the target leaves denied and joins live unless profile or live
 *    already holds it;
 *  - deny: the target joins denied and leaves live (a profile entry stays:
 *    denied wins over it).
 * Returns 0 (plan filled; nothing changed when neither flag is set) or -ENOMEM.
 */
int control_plan_compute(enum control_action a, const char *target, const struct strlist *profile,
			 struct strlist *live, struct strlist *denied, struct control_plan *plan);

/* One address dnsmasq added to an allow set for a name (an "nftset add" log line). */
struct control_answer {
	char name[DOMAIN_BUF_SIZE]; /* lower-case, no trailing dot */
	struct addr_prefix addr;    /* host prefix */
};

/*
 * The allow-set elements to remove after denying `denied_domain` (pure):
 * every address answered for it or a subdomain, unless it is explained by
 * something still allowed: an answer logged for a name within an effective
 * domain and within no denied domain, or a static entry (effective IPs)
 * containing it. denied lists every denied domain (denied_domain
 * included). The addresses (deduplicated, in log order) go to *out
 * (malloc'd; free it), their count to *n_out. 0 or -ENOMEM.
 */
int control_stale_addresses(const char *denied_domain, const struct control_answer *answers,
			    size_t n_answers, const struct strlist *effective_domains,
			    const struct strlist *denied, const struct addr_prefix *statics,
			    size_t n_statics, struct addr_prefix **out, size_t *n_out);

/*
 * The "nftset add" answers of the bundle's dnsmasq.log (its last
 * CONTROL_LOG_MAX bytes) that control_stale_addresses needs for domain:
 * those for names within it, and every other answer that gave one of their
 * addresses (two passes; memory grows with those, not with the log). A
 * missing log is no answers. *out is malloc'd. 0 or -errno (-E2BIG past
 * CONTROL_ANSWERS_MAX answers).
 */
int control_read_answers(int dirfd, const char *domain, struct control_answer **out, size_t *n_out,
			 struct shield_error *err);

/* The container a change applies to. */
struct control_ctx {
	const char *name;	      /* for the audit log and messages */
	const char *state_dir;	      /* the bundle, absolute (dnsmasq.conf names files in it) */
	int dirfd;		      /* the open, checked bundle */
	int nsfd;		      /* its network namespace; -1 when not running (files only) */
	const char *dnsmasq;	      /* dnsmasq binary (dnsmasq_binary) */
	const char *runtime_dir;      /* the registry; NULL or "" when there is none */
	struct registry_entry *entry; /* its registry entry or NULL; dnsmasq_pid is kept current */
};

/*
 * The commands below take the bundle lock, then read the registry again:
 * if the container started or stopped since the caller resolved c (an
 * entry for the bundle appeared, went, or is another one: a hook ran in
 * between), they return -ESTALE before anything is written, and the
 * caller resolves the target again and retries.
 */
#define CONTROL_STALE_RETRIES 3

struct control_result {
	bool changed;		/* the bundle changed */
	char files[128];	/* the files written, space-separated */
	bool kernel;		/* the kernel step ran (running container) */
	bool repaired;		/* nothing changed in the bundle, but the kernel did not match it */
	bool dnsmasq_restarted; /* dnsmasq was restarted with the new configuration */
	pid_t dnsmasq_pid;	/* the new dnsmasq */
	size_t n_removed;	/* deny domain: allow-set elements removed */
	size_t n_carried;	/* mode: learnt allow-set elements carried over */
	enum shield_mode old_mode, mode;
	enum dns_policy dns_policy;	  /* mode: the DNS policy dnsmasq runs with now */
	char still_denied[ADDR_TEXT_MAX]; /* allow IP: a deny.list entry that still covers it */
	bool files_hold; /* on failure: the bundle holds the change, the kernel may not */
};

/*
 * allow/deny target for c (see control.h's top comment and
 * control_plan_compute). With c->nsfd < 0 only the bundle changes. For an
 * address the kernel step is one transaction: allow adds it to the allow set
 * (never expiring; a learnt element of the same address is replaced) and
 * deletes it from the deny set; deny deletes it from the allow set and adds
 * it to the deny set. It runs also when the bundle did not change (a repair,
 * reported in res->repaired only if something was missing). For a domain
 * dnsmasq.conf is regenerated and, when the bundle changed, dnsmasq is
 * restarted in the namespace; deny first stops dnsmasq, then removes the
 * elements control_stale_addresses names, then starts dnsmasq. An audit entry
 * ("allow"/"deny", dest target) is appended for each change. On a failure
 * after the files were written, res->files_hold is set and err says what
 * the kernel holds.
 */
int control_allow_deny(const struct control_ctx *c, enum control_action a,
		       const struct control_target *target, struct control_result *res,
		       struct shield_error *err);

/*
 * Switch c to mode (up, down, down_all, block): record it in shield.conf,
 * regenerate dnsmasq.conf (down and down_all forward everything), and when
 * running replace the ruleset in one transaction, verify it from the kernel's
 * dump, put back the allow-set elements dnsmasq had learnt (with the time
 * they had left) when the new mode has allow sets, and restart dnsmasq. If
 * the transaction fails the old mode is written back (the kernel still holds
 * the old ruleset). With the mode already recorded, only a kernel that does
 * not hold it is repaired (res->repaired). Audit action: the mode's command
 * ("up", "down", "block"), detail the mode.
 */
int control_set_mode(const struct control_ctx *c, enum shield_mode mode, struct control_result *res,
		     struct shield_error *err);
