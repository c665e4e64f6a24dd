/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ruleset model: shield's tables, sets, chains and rules as plain data.
 * One model serves three jobs: rendering nft syntax (`shield preview`, which
 * must print exactly what `nft list table inet terok_shield` prints),
 * building the libnftnl objects that are committed (nft-apply.c), and
 * comparing what the kernel holds with what a mode requires (verification
 * and mode detection), after a dump has been decoded back into the model.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "error.h"
#include "params.h"

#define NFT_TABLE_FAMILY_NAME "inet"
#define NFT_TABLE_NAME	      "terok_shield"
#define NFT_NFLOG_GROUP	      100

#define NFT_PREFIX_ALLOWED "TEROK_SHIELD_ALLOWED: "
#define NFT_PREFIX_DENIED  "TEROK_SHIELD_DENIED: "
#define NFT_PREFIX_BLOCKED "TEROK_SHIELD_BLOCKED: "
#define NFT_PREFIX_PRIVATE "TEROK_SHIELD_PRIVATE: "
#define NFT_PREFIX_BYPASS  "TEROK_SHIELD_BYPASS: "

enum nft_set_id {
	NFT_SET_ALLOW_V4,
	NFT_SET_ALLOW_V6,
	NFT_SET_DENY_V4,
	NFT_SET_DENY_V6,
	NFT_SET_COUNT,
};

/* "allow_v4", "allow_v6", "deny_v4", "deny_v6". */
const char *nft_set_name(enum nft_set_id id);
/* AF_INET or AF_INET6. */
int nft_set_family(enum nft_set_id id);
/* Set id by name, or -ENOENT. */
int nft_set_lookup(const char *name);

/* One set element: an inclusive address range plus its kernel timers. */
struct nft_elem {
	int family;
	uint8_t first[16];
	uint8_t last[16];
	bool has_timeout;    /* the element carries its own timeout attribute */
	uint64_t timeout_ms; /* its value (0 = never expires) */
	uint64_t expires_ms; /* remaining time reported by the kernel, 0 = none */
	bool has_expiration; /* the kernel reported expires_ms (0 then = expired, not yet collected) */
};

/* Elements are kept sorted by first address (ranges never overlap). */
struct nft_set {
	bool present;
	uint32_t flags;	     /* NFT_SET_* from linux/netfilter/nf_tables.h */
	uint64_t timeout_ms; /* set default timeout, 0 = none */
	struct nft_elem *elems;
	size_t n_elems;
	size_t cap_elems;
};

enum nft_match_kind {
	NFT_MATCH_OIFNAME_LO,  /* oifname "lo" */
	NFT_MATCH_IIFNAME_LO,  /* iifname "lo" */
	NFT_MATCH_CT_STATE,    /* ct state <mask> (any bit set) */
	NFT_MATCH_ICMPV6_TYPE, /* icmpv6 type <u8> */
	NFT_MATCH_DADDR,       /* ip/ip6 daddr <prefix> */
	NFT_MATCH_DADDR_SET,   /* ip/ip6 daddr @set */
	NFT_MATCH_DPORT,       /* tcp/udp dport <port> */
	NFT_MATCH_L4PROTO_TCP, /* meta l4proto tcp (only before a tcp reset) */
};

struct nft_match {
	enum nft_match_kind kind;
	uint32_t ct_mask;	   /* CT_STATE: NF_CT_STATE_BIT(...) mask */
	uint8_t icmp_type;	   /* ICMPV6_TYPE */
	struct addr_prefix prefix; /* DADDR */
	enum nft_set_id set;	   /* DADDR_SET */
	uint8_t l4proto;	   /* DPORT: IPPROTO_TCP or IPPROTO_UDP */
	uint16_t port;		   /* DPORT, host order */
};

enum nft_verdict {
	NFT_VERDICT_CONTINUE, /* no verdict statement (log only) */
	NFT_VERDICT_ACCEPT,
	NFT_VERDICT_DROP,
	NFT_VERDICT_REJECT,	      /* reject with icmpx admin-prohibited */
	NFT_VERDICT_REJECT_TCP_RESET, /* reject with tcp reset */
};

#define NFT_RULE_MATCHES_MAX 3
#define NFT_RULE_TEXT_MAX    512

struct nft_rule {
	struct nft_match match[NFT_RULE_MATCHES_MAX];
	size_t n_match;
	const char *log_prefix; /* static string, NULL = no log statement */
	enum nft_verdict verdict;
	bool unknown;			      /* decoded from the kernel but not one of ours */
	char unknown_text[NFT_RULE_TEXT_MAX]; /* libnftnl's description of such a rule */
	uint64_t handle;		      /* kernel handle when decoded, else 0 */
};

enum nft_chain_id {
	NFT_CHAIN_OUTPUT,
	NFT_CHAIN_INPUT,
	NFT_CHAIN_COUNT,
};

struct nft_chain {
	bool present;
	bool base;	  /* a base chain (type filter hook ...) */
	uint32_t hooknum; /* NF_INET_LOCAL_OUT / NF_INET_LOCAL_IN */
	int32_t priority; /* 0 = filter */
	uint32_t policy;  /* NF_ACCEPT or NF_DROP */
	struct nft_rule *rules;
	size_t n_rules;
	size_t cap_rules;
};

/* "output", "input". */
const char *nft_chain_name(enum nft_chain_id id);
/* Chain id by name, or -ENOENT. */
int nft_chain_lookup(const char *name);

struct nft_ruleset {
	bool table_present;
	struct nft_set sets[NFT_SET_COUNT];
	struct nft_chain chains[NFT_CHAIN_COUNT];
	size_t n_foreign;  /* sets or chains in the table that shield never makes */
	char foreign[256]; /* names of the first few, for messages */
};

/* What a mode's ruleset is built from (all from the state bundle). */
struct nft_ruleset_params {
	enum shield_mode mode;	     /* up, down, down_all or block */
	struct addr_prefix upstream; /* DNS server the output chain lets through */
	struct port_list loopback_ports;
	struct addr_prefix gateway_v4;	 /* family 0 = none */
	struct addr_prefix gateway_v6;	 /* family 0 = none */
	uint32_t set_timeout;		 /* seconds */
	const struct addr_prefix *allow; /* static allow entries (effective IPs) */
	size_t n_allow;
	const struct addr_prefix *deny; /* deny.list entries */
	size_t n_deny;
};

/* Release everything a ruleset owns and zero it. */
void nft_ruleset_free(struct nft_ruleset *rs);

/* Build the ruleset a mode requires. Static allow elements carry timeout 0 (never expire). */
int nft_ruleset_build(const struct nft_ruleset_params *p, struct nft_ruleset *out,
		      struct shield_error *err);

/* Append a rule (copied) to a chain; -ENOMEM. */
int nft_chain_add_rule(struct nft_chain *c, const struct nft_rule *r);

/* Append an element to a set; -ENOMEM. */
int nft_set_add_elem(struct nft_set *s, const struct nft_elem *e);

/* The element range covering a prefix. */
void nft_elem_from_prefix(const struct addr_prefix *p, struct nft_elem *out);

/* Render the table in nft syntax exactly as `nft list table inet terok_shield` prints it. */
char *nft_ruleset_render(const struct nft_ruleset *rs);

/* Render one rule (without indentation or newline) into out. */
void nft_rule_render(const struct nft_rule *r, char *out, size_t size);

/* Whether two rules are the same statement (handles ignored). */
bool nft_rule_equal(const struct nft_rule *a, const struct nft_rule *b);

/*
 * Compare what the kernel holds (actual) with what the mode requires
 * (expected): table, chains (hook, priority, policy), every rule in order,
 * sets (flags, timeout) and static elements (present, never expiring), and
 * nothing foreign. Returns 0, or -EPROTO with err naming the first mismatch.
 */
int nft_ruleset_verify(const struct nft_ruleset *expected, const struct nft_ruleset *actual,
		       struct shield_error *err);

/*
 * The mode a dumped ruleset is in, judged by its chains and rules alone
 * (elements may change at any time): the mode whose rule skeleton it
 * matches exactly, SHIELD_MODE_INACTIVE without a table, else
 * SHIELD_MODE_ERROR.
 */
enum shield_mode nft_ruleset_detect_mode(const struct nft_ruleset *actual);
