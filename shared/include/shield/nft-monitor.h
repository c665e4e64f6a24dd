/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel's own account of every change to nftables in one network
 * namespace: a notification socket subscribed to NFNLGRP_NFTABLES, whose
 * messages are decoded and grouped into transactions. The kernel sends a
 * committed transaction's notifications back to back and ends them with a
 * NEWGEN message naming the new generation and the process that committed
 * it, so every change can be attributed to a writer (pid and comm).
 *
 * Only shield's table (inet terok_shield) is reported. Timeouts remove set
 * elements without any notification: keep an expiry table from dumps
 * (nft_elems_list, nft_dump_ruleset report each element's timers).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "error.h"
#include "nft-ruleset.h"

struct nlmsghdr;

/* nf_tables names (table, chain, set) are at most 256 bytes with the NUL. */
#define NFT_OBJ_NAME_MAX 256
/* A task's comm: 15 characters and the NUL. */
#define NFT_COMM_MAX 16

/* ---- one notification message (pure decoder) ---------------------------- */

enum nft_notify_type {
	NFT_NOTIFY_OTHER, /* an nf_tables message of another kind (object, flowtable...) */
	NFT_NOTIFY_TABLE,
	NFT_NOTIFY_CHAIN,
	NFT_NOTIFY_RULE,
	NFT_NOTIFY_SET,
	NFT_NOTIFY_ELEMS,
	NFT_NOTIFY_GEN, /* NEWGEN: the end of a committed transaction */
};

/* One set element as the kernel announced it: a key, maybe the end of an interval. */
struct nft_notify_elem {
	uint8_t key[16];
	uint32_t key_len; /* 4 (IPv4) or 16 (IPv6); other lengths are kept, unpaired */
	bool end;	  /* NFT_SET_ELEM_INTERVAL_END: the first address past a range */
	bool has_key_end; /* NFTA_SET_ELEM_KEY_END: key .. key_end in one element (inclusive) */
	uint8_t key_end[16];
	bool has_timeout;
	uint64_t timeout_ms;
	bool has_expiration;
	uint64_t expires_ms; /* remaining lifetime when the message was built */
};

/* Cap on the elements decoded from one message (a message is at most 64 KiB). */
#define NFT_NOTIFY_ELEMS_MAX 4096

struct nft_notify {
	enum nft_notify_type type;
	uint16_t msg_type; /* NFT_MSG_NEWTABLE ... (the low byte of nlmsg_type) */
	bool del;	   /* a DEL message: table, chain, rule, set or elements removed */
	uint8_t family;	   /* NFPROTO_INET, ... from the nfgenmsg header */
	char table[NFT_OBJ_NAME_MAX]; /* "" when the message names none (NEWGEN) */
	char name[NFT_OBJ_NAME_MAX];  /* chain name (CHAIN, RULE) or set name (SET, ELEMS) */
	bool has_handle;
	uint64_t handle; /* table, chain, rule or set handle */
	bool has_policy;
	uint32_t policy; /* CHAIN of a base chain: NF_ACCEPT or NF_DROP */
	bool has_hook;
	uint32_t hooknum; /* CHAIN of a base chain */
	/* NEWGEN */
	uint32_t gen_id;
	uint32_t pid;		 /* writer's pid (its thread id, as the kernel's task_pid_nr) */
	char comm[NFT_COMM_MAX]; /* writer's comm, "" when the kernel did not say */
	/* ELEMS (owned: nft_notify_free) */
	struct nft_notify_elem *elems;
	size_t n_elems;
};

/*
 * Decode one netlink message from the nftables group; nlh->nlmsg_len must
 * lie within the caller's buffer. Messages of another subsystem decode as
 * -EPROTONOSUPPORT; malformed ones as -EPROTO (or -E2BIG beyond
 * NFT_NOTIFY_ELEMS_MAX elements), with err naming what was wrong. Pure: no
 * I/O. Free out with nft_notify_free, also after a failure.
 */
int nft_notify_decode(const struct nlmsghdr *nlh, struct nft_notify *out, struct shield_error *err);

/* Release what a decoded notification owns and zero it. */
void nft_notify_free(struct nft_notify *n);

/* Whether a decoded message is about shield's table (inet terok_shield). */
bool nft_notify_is_ours(const struct nft_notify *n);

/* ---- transactions ----------------------------------------------------------- */

enum nft_change_kind {
	NFT_CHANGE_TABLE_ADD,
	NFT_CHANGE_TABLE_DEL,
	NFT_CHANGE_CHAIN_ADD, /* also a chain update, such as a new policy */
	NFT_CHANGE_CHAIN_DEL,
	NFT_CHANGE_RULE_ADD,
	NFT_CHANGE_RULE_DEL,
	NFT_CHANGE_SET_ADD,
	NFT_CHANGE_SET_DEL,
	NFT_CHANGE_ELEM_ADD,
	NFT_CHANGE_ELEM_DEL,
	NFT_CHANGE_OTHER, /* anything else in shield's table (objects, flowtables) */
};

/* "table.add", "table.del", "chain.add", ..., "elem.add", "elem.del", "other". */
const char *nft_change_kind_name(enum nft_change_kind kind);

/*
 * One change to shield's table. Element changes come one per element
 * (interval start and end already paired into one range).
 */
struct nft_change {
	enum nft_change_kind kind;
	uint16_t msg_type; /* the NFT_MSG_* it was decoded from */
	/* The table (TABLE), chain (CHAIN, RULE) or set (SET, ELEM) it is about, else "". */
	char name[NFT_OBJ_NAME_MAX];
	int set;   /* enum nft_set_id of name for SET/ELEM changes, else -1 */
	int chain; /* enum nft_chain_id of name for CHAIN/RULE changes, else -1 */
	bool has_handle;
	uint64_t handle; /* rule handle (RULE), chain/set/table handle otherwise */
	bool has_policy;
	uint32_t policy; /* CHAIN: NF_ACCEPT or NF_DROP */
	/*
	 * ELEM: the range (elem.first .. elem.last, family AF_INET/AF_INET6,
	 * or 0 for a key that is no address) with the timers the kernel
	 * announced (has_timeout/timeout_ms: the element's own timeout;
	 * has_expiration/expires_ms: its remaining lifetime), and the same
	 * range as a prefix where it is exactly one (198.18.9.9/32).
	 */
	struct nft_elem elem;
	bool is_prefix;
	struct addr_prefix prefix; /* is_prefix: that prefix; else the range's first address */
};

/* Cap on the changes buffered for one transaction; more make it partial. */
#define NFT_TXN_CHANGES_MAX 65536

/*
 * One committed transaction that touched shield's table: its changes in
 * the kernel's order, and who committed it.
 */
struct nft_txn {
	uint32_t gen_id;	 /* generation the transaction created */
	uint32_t pid;		 /* committing task (task_pid_nr: the thread id), 0 = unknown */
	char comm[NFT_COMM_MAX]; /* its comm ("nft", "dnsmasq", ...), "" = unknown */
	const struct nft_change *changes;
	size_t n_changes;
	/*
	 * The changes may be incomplete: there were more than
	 * NFT_TXN_CHANGES_MAX, a message did not decode, or notifications
	 * were lost before this transaction ended (its first changes may
	 * be missing, or belong to a transaction whose end was lost; the
	 * writer named is the one whose NEWGEN arrived). Resync with a dump.
	 */
	bool partial;
};

/* ---- the notification socket ----------------------------------------------- */

struct nft_monitor;

/* Receive buffer asked for when nft_monitor_open gets rcvbuf 0: 4 MiB. */
#define NFT_MONITOR_RCVBUF_DEFAULT (4 * 1024 * 1024)

/*
 * Open a notification socket in the netns nsfd (nsfd < 0: the current one):
 * NETLINK_NETFILTER, non-blocking, CLOEXEC, subscribed to NFNLGRP_NFTABLES,
 * with rcvbuf bytes of receive buffer (0 = NFT_MONITOR_RCVBUF_DEFAULT; root
 * may exceed net.core.rmem_max) and ENOBUFS reporting left on, so lost
 * notifications are known. Subscribe BEFORE the first dump, so no change
 * falls between the two.
 */
int nft_monitor_open(int nsfd, size_t rcvbuf, struct nft_monitor **out, struct shield_error *err);

/* Size of the buffer a monitor reads one datagram into. */
#define NFT_MONITOR_BUF_SIZE (64 * 1024)

/*
 * As nft_monitor_open, but the monitor reads its datagrams into buf
 * (NFT_MONITOR_BUF_SIZE bytes, 8-byte aligned, the caller's, outliving the
 * monitor) instead of a buffer of its own. nft_monitor_read is done with
 * buf when it returns, so monitors read from one thread may share one, as
 * long as no callback reads another of them (nftsetd: one buffer for every
 * namespace's monitor, another for the command sockets its callbacks use).
 */
int nft_monitor_open_shared(int nsfd, size_t rcvbuf, void *buf, struct nft_monitor **out,
			    struct shield_error *err);

/* The socket's fd, for a uv_poll_t (UV_READABLE); owned by the monitor. */
int nft_monitor_fd(const struct nft_monitor *mon);

/* Close the socket and free any transaction still being gathered; NULL is fine. */
void nft_monitor_close(struct nft_monitor *mon);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nft_monitor *, nft_monitor_close)
#define _cleanup_nft_monitor_ _cleanup_(nft_monitor_closep)

/*
 * Called once per complete transaction that touched shield's table. txn
 * and everything it points to are valid during the call only. Return 0 to
 * go on, or a negative errno to stop nft_monitor_read, which returns it;
 * the rest of the datagram being read is then dropped, so treat it as a
 * loss (resync) or close the monitor.
 */
typedef int (*nft_monitor_cb)(const struct nft_txn *txn, void *data);

/* nft_monitor_read's result when notifications were lost: dump and resync. */
#define NFT_MONITOR_LOST 1

/*
 * Read every pending datagram until EAGAIN and call cb for each transaction
 * completed by a NEWGEN; changes of a transaction whose NEWGEN has not
 * arrived yet stay buffered for the next call. Only datagrams from the
 * kernel are read. Returns 0, or NFT_MONITOR_LOST when the kernel dropped
 * notifications (recv ENOBUFS, a datagram larger than the read buffer, or
 * a message that did not decode):
 * the transaction being gathered is dropped, transactions completed after
 * the loss (until the socket is drained with nothing half gathered) are
 * delivered with partial set, and the caller must resync with a full dump
 * (nft_dump_ruleset) and report it. A negative errno is a socket failure
 * (err says which) or cb's own result.
 */
int nft_monitor_read(struct nft_monitor *mon, nft_monitor_cb cb, void *data,
		     struct shield_error *err);

/* Counters since the monitor was opened (for reports and tests). */
struct nft_monitor_stats {
	uint64_t messages;     /* notification messages decoded */
	uint64_t transactions; /* transactions delivered to cb */
	uint64_t losses;       /* times the kernel reported lost notifications */
	uint64_t undecodable;  /* messages that did not decode (skipped) */
	uint32_t last_gen_id;  /* generation of the last NEWGEN seen */
};

/* Copy the monitor's counters into out. */
void nft_monitor_stats(const struct nft_monitor *mon, struct nft_monitor_stats *out);
