/* SPDX-License-Identifier: Apache-2.0 */
/*
 * All netlink I/O with nf_tables: one socket per netns, batches whose every
 * message is ACKed so an error maps back to the object that caused it (with
 * the kernel's extended-ACK text), and dumps that are redone when the
 * ruleset generation changed underneath them.
 */
#include <netinet/in.h> /* before any linux/ header: glibc guards the uapi duplicates */
#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/gen.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "nft-internal.h"
#include "shield/grow.h"
#include "shield/netns.h"
#include "shield/nft-netlink.h"

#define NFT_RECV_BUF	   NFT_SOCK_RECV_BUF
#define NFT_ACK_TIMEOUT_MS 10000
#define NFT_DUMP_RETRIES   8
#define NFT_ELEMS_PER_MSG  256 /* keeps each message's element list far below 64 KiB */
#define NFT_LABEL_MAX	   160

struct nft_sock {
	struct mnl_socket *nl;
	char *rbuf;    /* NFT_RECV_BUF bytes for every answer read on this socket */
	bool own_rbuf; /* rbuf is ours to free (not a caller's shared one) */
	uint32_t portid;
	uint32_t seq;
	uint64_t dump_restarts; /* dumps redone because the ruleset changed under them */
};

/* Open a socket here, reading into rbuf (NULL: a buffer of its own). */
static int sock_open(void *rbuf, struct nft_sock **out, struct shield_error *err)
{
	_cleanup_nft_sock_ struct nft_sock *s = calloc(1, sizeof(*s));
	int one = 1, r;

	if (!s)
		return shield_error_set(err, -ENOMEM, "out of memory");
	s->rbuf = rbuf;
	if (!s->rbuf) {
		s->rbuf = malloc(NFT_RECV_BUF);
		if (!s->rbuf)
			return shield_error_set(err, -ENOMEM, "out of memory");
		s->own_rbuf = true;
	}
	s->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!s->nl) {
		r = negative_errno();
		return shield_error_set(err, r, "cannot open an nftables netlink socket: %s",
					strerror(-r));
	}
	/* Extended ACKs carry the kernel's own words; capped ACKs stay small. */
	mnl_socket_setsockopt(s->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(s->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	if (mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = negative_errno();
		return shield_error_set(err, r, "cannot bind the nftables netlink socket: %s",
					strerror(-r));
	}
	s->portid = mnl_socket_get_portid(s->nl);
	s->seq = (uint32_t)time(NULL);
	*out = TAKE_PTR(s);
	return 0;
}

int nft_sock_open(struct nft_sock **out, struct shield_error *err)
{
	return sock_open(NULL, out, err);
}

struct sock_open_args {
	void *rbuf;
	struct nft_sock **out;
};

static int open_here(void *arg, struct shield_error *err)
{
	struct sock_open_args *a = arg;

	return sock_open(a->rbuf, a->out, err);
}

int nft_sock_open_shared(int nsfd, void *rbuf, struct nft_sock **out, struct shield_error *err)
{
	struct sock_open_args a = {.rbuf = rbuf, .out = out};

	return nsfd < 0 ? open_here(&a, err) : netns_call(nsfd, open_here, &a, err);
}

int nft_sock_open_in(int nsfd, struct nft_sock **out, struct shield_error *err)
{
	return nft_sock_open_shared(nsfd, NULL, out, err);
}

void nft_sock_close(struct nft_sock *s)
{
	if (!s)
		return;
	if (s->nl)
		mnl_socket_close(s->nl);
	if (s->own_rbuf)
		free(s->rbuf);
	free(s);
}

/* ---- batches ---------------------------------------------------------- */

/* A growable batch: netlink messages back to back, each with a label for errors. */
struct batch {
	char *buf;
	size_t len, cap;
	uint32_t first_seq; /* seq of the first message that expects an ACK */
	size_t n_msgs;	    /* messages that expect an ACK */
	char (*labels)[NFT_LABEL_MAX];
	size_t cap_labels;
	bool failed;
};

static void batch_free(struct batch *b)
{
	free(b->buf);
	free(b->labels);
	memset(b, 0, sizeof(*b));
}

/* Room for one more message of up to size bytes; NULL on failure. */
static void *batch_reserve(struct batch *b, size_t size)
{
	if (b->failed)
		return NULL;
	if (b->len + size > b->cap) {
		char *buf = shield_grow(b->buf, &b->cap, b->len + size, 1, 16384);

		if (!buf) {
			b->failed = true;
			return NULL;
		}
		b->buf = buf;
	}
	memset(b->buf + b->len, 0, size);
	return b->buf + b->len;
}

static void batch_commit_msg(struct batch *b, struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

static int batch_label(struct batch *b, const char *fmt, ...) _printf_(2, 3);

static int batch_label(struct batch *b, const char *fmt, ...)
{
	va_list ap;

	if (b->n_msgs == b->cap_labels) {
		char(*labels)[NFT_LABEL_MAX] =
			shield_grow(b->labels, &b->cap_labels, b->n_msgs + 1, sizeof(*labels), 32);

		if (!labels) {
			b->failed = true;
			return -ENOMEM;
		}
		b->labels = labels;
	}
	va_start(ap, fmt);
	vsnprintf(b->labels[b->n_msgs], NFT_LABEL_MAX, fmt, ap);
	va_end(ap);
	b->n_msgs++;
	return 0;
}

static void batch_begin(struct nft_sock *s, struct batch *b)
{
	void *p = batch_reserve(b, NLMSG_HDRLEN + 64);

	if (!p)
		return;
	batch_commit_msg(b, nftnl_batch_begin(p, s->seq++));
	b->first_seq = s->seq;
}

static void batch_end(struct nft_sock *s, struct batch *b)
{
	void *p = batch_reserve(b, NLMSG_HDRLEN + 64);

	if (!p)
		return;
	batch_commit_msg(b, nftnl_batch_end(p, s->seq++));
}

/* Start a message that asks for an ACK; the caller fills its payload. */
static struct nlmsghdr *batch_msg(struct nft_sock *s, struct batch *b, uint16_t type,
				  uint16_t flags, size_t payload)
{
	void *p = batch_reserve(b, NLMSG_HDRLEN + payload + 1024);

	if (!p)
		return NULL;
	return nftnl_nlmsg_build_hdr(p, type, NFPROTO_INET, flags | NLM_F_ACK, s->seq++);
}

/* Find the extended-ACK message text in an error message, if any. */
static const char *extack_msg(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	size_t off = sizeof(*e);
	const struct nlattr *attr;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if (mnl_nlmsg_get_payload_len(nlh) < off)
		return NULL;
	mnl_attr_for_each_payload((const void *)((const char *)e + off),
				  mnl_nlmsg_get_payload_len(nlh) - off)
	{
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
			return mnl_attr_get_str(attr);
	}
	return NULL;
}

/* Wait until the socket is readable, or time out. */
static int wait_readable(struct nft_sock *s, int timeout_ms)
{
	struct pollfd pfd = {.fd = mnl_socket_get_fd(s->nl), .events = POLLIN};
	int r;

	do {
		r = poll(&pfd, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return negative_errno();
	return r == 0 ? -ETIMEDOUT : 0;
}

/*
 * Read the next answer into s->rbuf: its length, or -errno (-ETIMEDOUT
 * after NFT_ACK_TIMEOUT_MS without one). The kernel answers a batch or a
 * request inside the sendto that carried it (a dump's next part inside the
 * read before), so the answer is nearly always queued already: it is read
 * at once, and poll(2) waits only when nothing is there. A batch gets one
 * ACK per message, each its own datagram: this spares a poll per ACK.
 */
static ssize_t recv_answer(struct nft_sock *s)
{
	struct sockaddr_nl addr;
	struct iovec iov = {.iov_base = s->rbuf, .iov_len = NFT_RECV_BUF};
	struct msghdr msg = {
		.msg_name = &addr, .msg_namelen = sizeof(addr), .msg_iov = &iov, .msg_iovlen = 1};

	for (;;) {
		ssize_t n = recvmsg(mnl_socket_get_fd(s->nl), &msg, MSG_DONTWAIT);
		int r;

		if (n >= 0) {
			/* As mnl_socket_recvfrom: a cut datagram or an odd sender is an error. */
			if (msg.msg_flags & MSG_TRUNC)
				return -ENOSPC;
			if (msg.msg_namelen != sizeof(addr))
				return -EINVAL;
			return n;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return negative_errno();
		r = wait_readable(s, NFT_ACK_TIMEOUT_MS);
		if (r < 0)
			return r;
	}
}

/*
 * Send the batch and drain one ACK per message. The first error is kept
 * with the label of the message that caused it; the kernel rejects the
 * whole transaction then, so nothing of it took effect.
 */
static int batch_send(struct nft_sock *s, struct batch *b, const char *what,
		      struct shield_error *err)
{
	size_t acked = 0;
	int first_error = 0;
	char first_label[NFT_LABEL_MAX] = "";
	char first_ext[256] = "";
	int sndbuf = (int)(b->len + 65536);

	if (b->failed)
		return shield_error_set(err, -ENOMEM, "%s: out of memory building the batch", what);
	/* A large batch is one datagram: make room for it (FORCE works as root). */
	if (setsockopt(mnl_socket_get_fd(s->nl), SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf,
		       sizeof(sndbuf)) < 0)
		setsockopt(mnl_socket_get_fd(s->nl), SOL_SOCKET, SO_SNDBUF, &sndbuf,
			   sizeof(sndbuf));
	if (mnl_socket_sendto(s->nl, b->buf, b->len) < 0) {
		int r = negative_errno();

		return shield_error_set(err, r, "%s: sending to nf_tables failed: %s", what,
					strerror(-r));
	}
	while (acked < b->n_msgs) {
		ssize_t n = recv_answer(s);

		if (n == -ETIMEDOUT)
			return shield_error_set(err, -ETIMEDOUT, "%s: no answer from nf_tables: %s",
						what, strerror(ETIMEDOUT));
		if (n < 0)
			return shield_error_set(err, (int)n, "%s: reading nf_tables answers: %s",
						what, strerror((int)-n));
		for (struct nlmsghdr *nlh = (struct nlmsghdr *)s->rbuf; mnl_nlmsg_ok(nlh, (int)n);
		     nlh = mnl_nlmsg_next(nlh, (int *)&n)) {
			const struct nlmsgerr *e;
			uint32_t idx;

			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			acked++;
			if (e->error == 0)
				continue;
			idx = nlh->nlmsg_seq - b->first_seq;
			if (first_error == 0) {
				const char *ext = extack_msg(nlh);

				first_error = e->error;
				snprintf(first_label, sizeof(first_label), "%s",
					 idx < b->n_msgs ? b->labels[idx] : "the batch");
				snprintf(first_ext, sizeof(first_ext), "%s", ext ? ext : "");
			}
			/* An error on the batch header means nothing else will come. */
			if (nlh->nlmsg_seq < b->first_seq)
				acked = b->n_msgs;
		}
	}
	if (first_error)
		return shield_error_set(err, first_error, "%s: %s: %s%s%s%s", what, first_label,
					strerror(-first_error), first_ext[0] ? " (" : "",
					first_ext[0] ? first_ext : "", first_ext[0] ? ")" : "");
	return 0;
}

/* ---- building batches --------------------------------------------------- */

static void add_table_msg(struct nft_sock *s, struct batch *b, uint16_t type, uint16_t flags)
{
	struct nftnl_table *t = nft_encode_table();
	struct nlmsghdr *nlh;

	if (!t) {
		b->failed = true;
		return;
	}
	nlh = batch_msg(s, b, type, flags, 256);
	if (nlh) {
		nftnl_table_nlmsg_build_payload(nlh, t);
		batch_commit_msg(b, nlh);
		batch_label(b, "%s table %s %s", type == NFT_MSG_DELTABLE ? "deleting" : "creating",
			    NFT_TABLE_FAMILY_NAME, NFT_TABLE_NAME);
	}
	nftnl_table_free(t);
}

/*
 * Element messages for one set, NFT_ELEMS_PER_MSG ranges at a time so no
 * message's element list nears the 64 KiB attribute limit.
 */
static void add_elems_msgs(struct nft_sock *s, struct batch *b, uint16_t type, enum nft_set_id id,
			   const struct nft_elem *elems, size_t n, uint64_t timeout_ms,
			   uint32_t set_id)
{
	for (size_t off = 0; off < n; off += NFT_ELEMS_PER_MSG) {
		size_t chunk = n - off < NFT_ELEMS_PER_MSG ? n - off : NFT_ELEMS_PER_MSG;
		struct nftnl_set *ns = nftnl_set_alloc();
		struct nlmsghdr *nlh;
		char first[ADDR_TEXT_MAX];
		struct addr_prefix p = {.family = elems[off].family,
					.plen = elems[off].family == AF_INET ? 32 : 128};

		if (!ns) {
			b->failed = true;
			return;
		}
		nftnl_set_set_u32(ns, NFTNL_SET_FAMILY, NFPROTO_INET);
		nftnl_set_set_str(ns, NFTNL_SET_TABLE, NFT_TABLE_NAME);
		nftnl_set_set_str(ns, NFTNL_SET_NAME, nft_set_name(id));
		if (set_id)
			nftnl_set_set_u32(ns, NFTNL_SET_ID, set_id);
		if (nft_encode_elems(ns, elems + off, chunk, timeout_ms) < 0) {
			nftnl_set_free(ns);
			b->failed = true;
			return;
		}
		nlh = batch_msg(s, b, type, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0,
				chunk * 96);
		if (nlh) {
			nftnl_set_elems_nlmsg_build_payload(nlh, ns);
			batch_commit_msg(b, nlh);
			memcpy(p.addr, elems[off].first, sizeof(p.addr));
			addr_format(&p, first);
			batch_label(b, "%s %zu element(s) %s set %s (first %s)",
				    type == NFT_MSG_NEWSETELEM ? "adding" : "deleting", chunk,
				    type == NFT_MSG_NEWSETELEM ? "to" : "from", nft_set_name(id),
				    first);
		}
		nftnl_set_free(ns);
	}
}

/*
 * One transaction that creates the table with everything in it; with
 * replace, it first creates the table if missing and deletes it, so any old
 * table is replaced atomically.
 */
static int apply_batch(struct nft_sock *s, const struct nft_ruleset *rs, bool replace,
		       struct shield_error *err)
{
	struct batch b = {0};
	uint32_t set_ids[NFT_SET_COUNT] = {0};
	int r;

	batch_begin(s, &b);
	if (replace) {
		add_table_msg(s, &b, NFT_MSG_NEWTABLE, NLM_F_CREATE);
		add_table_msg(s, &b, NFT_MSG_DELTABLE, 0);
	}
	add_table_msg(s, &b, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_EXCL);

	for (int i = 0; i < NFT_SET_COUNT; i++) {
		const struct nft_set *set = &rs->sets[i];
		struct nftnl_set *ns;
		struct nlmsghdr *nlh;

		if (!set->present)
			continue;
		set_ids[i] = (uint32_t)i + 1;
		ns = nft_encode_set(i, set, set_ids[i]);
		if (!ns) {
			b.failed = true;
			break;
		}
		nlh = batch_msg(s, &b, NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL, 512);
		if (nlh) {
			nftnl_set_nlmsg_build_payload(nlh, ns);
			batch_commit_msg(&b, nlh);
			batch_label(&b, "creating set %s", nft_set_name(i));
		}
		nftnl_set_free(ns);
		/* Static allow elements get an explicit timeout of 0: they never expire. */
		if (set->n_elems)
			add_elems_msgs(s, &b, NFT_MSG_NEWSETELEM, i, set->elems, set->n_elems,
				       (set->flags & NFT_SET_TIMEOUT) ? 0 : UINT64_MAX, set_ids[i]);
	}
	for (int c = 0; c < NFT_CHAIN_COUNT; c++) {
		const struct nft_chain *chain = &rs->chains[c];
		struct nftnl_chain *nc;
		struct nlmsghdr *nlh;

		if (!chain->present)
			continue;
		nc = nft_encode_chain(c, chain);
		if (!nc) {
			b.failed = true;
			break;
		}
		nlh = batch_msg(s, &b, NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL, 512);
		if (nlh) {
			nftnl_chain_nlmsg_build_payload(nlh, nc);
			batch_commit_msg(&b, nlh);
			batch_label(&b, "creating chain %s", nft_chain_name(c));
		}
		nftnl_chain_free(nc);
		for (size_t i = 0; i < chain->n_rules; i++) {
			struct nftnl_rule *nr = nft_encode_rule(c, &chain->rules[i], set_ids);
			char text[NFT_RULE_TEXT_MAX];

			if (!nr) {
				b.failed = true;
				break;
			}
			nlh = batch_msg(s, &b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, 2048);
			if (nlh) {
				nftnl_rule_nlmsg_build_payload(nlh, nr);
				batch_commit_msg(&b, nlh);
				nft_rule_render(&chain->rules[i], text, sizeof(text));
				batch_label(&b, "rule %zu of chain %s (%.100s)", i + 1,
					    nft_chain_name(c), text);
			}
			nftnl_rule_free(nr);
		}
	}
	batch_end(s, &b);
	r = batch_send(s, &b, "applying the ruleset", err);
	batch_free(&b);
	return r;
}

static int get_table(struct nft_sock *s);

int nft_apply_ruleset(struct nft_sock *s, const struct nft_ruleset *rs, struct shield_error *err)
{
	/* A hook commits into a fresh namespace: creating the table alone spares the
	 * transaction the RCU grace period a table deletion costs (~10 ms here).
	 * Only a table that is there already is replaced. */
	int r = get_table(s);

	if (r < 0 && r != -ENOENT)
		return shield_error_set(err, r, "looking for the table %s %s: %s",
					NFT_TABLE_FAMILY_NAME, NFT_TABLE_NAME, strerror(-r));
	return apply_batch(s, rs, r == 0, err);
}

int nft_delete_table(struct nft_sock *s, struct shield_error *err)
{
	struct batch b = {0};
	int r;

	batch_begin(s, &b);
	add_table_msg(s, &b, NFT_MSG_DELTABLE, 0);
	batch_end(s, &b);
	r = batch_send(s, &b, "deleting the table", err);
	batch_free(&b);
	return r;
}

static int elems_to_ranges(enum nft_set_id set, const struct addr_prefix *p, size_t n,
			   struct nft_elem **out, struct shield_error *err)
{
	struct nft_elem *e = calloc(n ? n : 1, sizeof(*e));

	if (!e)
		return shield_error_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (p[i].family != nft_set_family(set)) {
			char text[ADDR_TEXT_MAX];

			addr_format(&p[i], text);
			free(e);
			return shield_error_set(err, -EINVAL, "%s does not belong in set %s", text,
						nft_set_name(set));
		}
		nft_elem_from_prefix(&p[i], &e[i]);
	}
	*out = e;
	return 0;
}

int nft_elems_add(struct nft_sock *s, enum nft_set_id set, const struct addr_prefix *elems,
		  size_t n, uint64_t timeout_ms, struct shield_error *err)
{
	_cleanup_free_ struct nft_elem *ranges = NULL;
	struct batch b = {0};
	int r;

	if (n == 0)
		return 0;
	r = elems_to_ranges(set, elems, n, &ranges, err);
	if (r < 0)
		return r;
	batch_begin(s, &b);
	add_elems_msgs(s, &b, NFT_MSG_NEWSETELEM, set, ranges, n,
		       timeout_ms == NFT_TIMEOUT_SET_DEFAULT ? UINT64_MAX : timeout_ms, 0);
	batch_end(s, &b);
	r = batch_send(s, &b, "adding elements", err);
	batch_free(&b);
	return r;
}

/* Keep the ranges the set holds exactly (a delete of an absent element fails the transaction). */
static int keep_present(struct nft_sock *s, enum nft_set_id set, struct nft_elem *ranges, size_t n,
			size_t *kept, struct shield_error *err)
{
	struct nft_set current = {0};
	int r = nft_elems_list(s, set, &current, err);

	*kept = 0;
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		size_t len = ranges[i].family == AF_INET ? 4 : 16;

		for (size_t j = 0; j < current.n_elems; j++) {
			if (memcmp(current.elems[j].first, ranges[i].first, len) == 0 &&
			    memcmp(current.elems[j].last, ranges[i].last, len) == 0) {
				ranges[(*kept)++] = ranges[i];
				break;
			}
		}
	}
	free(current.elems);
	return 0;
}

int nft_elems_delete(struct nft_sock *s, enum nft_set_id set, const struct addr_prefix *elems,
		     size_t n, struct shield_error *err)
{
	_cleanup_free_ struct nft_elem *ranges = NULL;
	struct batch b = {0};
	size_t kept = 0;
	int r;

	if (n == 0)
		return 0;
	r = elems_to_ranges(set, elems, n, &ranges, err);
	if (r < 0)
		return r;
	/* Deleting an absent element fails the whole transaction: send only present ones. */
	r = keep_present(s, set, ranges, n, &kept, err);
	if (r < 0 || kept == 0)
		return r;
	batch_begin(s, &b);
	add_elems_msgs(s, &b, NFT_MSG_DELSETELEM, set, ranges, kept, UINT64_MAX, 0);
	batch_end(s, &b);
	r = batch_send(s, &b, "deleting elements", err);
	batch_free(&b);
	return r;
}

int nft_elems_update(struct nft_sock *s, const struct nft_elems_op *ops, size_t n_ops,
		     struct shield_error *err)
{
	struct nft_elem *ranges[NFT_ELEMS_OPS_MAX] = {0};
	size_t counts[NFT_ELEMS_OPS_MAX] = {0};
	struct batch b = {0};
	bool any = false;
	int r = 0;

	if (n_ops > NFT_ELEMS_OPS_MAX)
		return shield_error_set(err, -E2BIG, "more than %d element operations",
					NFT_ELEMS_OPS_MAX);
	for (size_t i = 0; i < n_ops && r >= 0; i++) {
		if (!ops[i].n)
			continue;
		ranges[i] = calloc(ops[i].n, sizeof(*ranges[i]));
		if (!ranges[i]) {
			r = shield_error_set(err, -ENOMEM, "out of memory");
			break;
		}
		for (size_t j = 0; j < ops[i].n; j++) {
			if (ops[i].elems[j].family != nft_set_family(ops[i].set))
				r = shield_error_set(err, -EINVAL,
						     "an element of the wrong family "
						     "for set %s",
						     nft_set_name(ops[i].set));
			ranges[i][j] = ops[i].elems[j];
		}
		counts[i] = ops[i].n;
		if (r >= 0 && !ops[i].add)
			r = keep_present(s, ops[i].set, ranges[i], ops[i].n, &counts[i], err);
		any = any || counts[i];
	}
	if (r >= 0 && any) {
		batch_begin(s, &b);
		for (size_t i = 0; i < n_ops; i++) {
			if (!counts[i])
				continue;
			add_elems_msgs(s, &b, ops[i].add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
				       ops[i].set, ranges[i], counts[i],
				       !ops[i].add || ops[i].timeout_ms == NFT_TIMEOUT_SET_DEFAULT
					       ? UINT64_MAX
					       : ops[i].timeout_ms,
				       0);
		}
		batch_end(s, &b);
		r = batch_send(s, &b, "updating elements", err);
		batch_free(&b);
	}
	for (size_t i = 0; i < n_ops; i++)
		free(ranges[i]);
	return r;
}

/* ---- dumps ------------------------------------------------------------ */

/* Whether buf holds the end (NLMSG_DONE or an error/ACK) of request seq. */
static bool holds_end(const char *buf, size_t n, uint32_t seq)
{
	int left = (int)n;

	for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, left);
	     nlh = mnl_nlmsg_next(nlh, &left))
		if (nlh->nlmsg_seq == seq &&
		    (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR))
			return true;
	return false;
}

/*
 * An interrupted dump (NLM_F_DUMP_INTR) still sends the rest of its parts:
 * read them up to its end and drop them, so the next request on this
 * socket reads its own answers, not this one's leftovers.
 */
static int drain_request(struct nft_sock *s, uint32_t seq, size_t n)
{
	while (!holds_end(s->rbuf, n, seq)) {
		ssize_t got = recv_answer(s);

		if (got < 0)
			return (int)got;
		n = (size_t)got;
	}
	return 0;
}

/*
 * Send one request and run cb over every answer until NLMSG_DONE or the
 * ACK. -EINTR: the dump was interrupted (NLM_F_DUMP_INTR, the ruleset
 * changed while it ran); its remaining parts are drained, so the caller
 * may simply dump again.
 */
static int request(struct nft_sock *s, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	uint32_t seq = nlh->nlmsg_seq;
	int r;

	if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0)
		return negative_errno();
	for (;;) {
		ssize_t n = recv_answer(s);

		if (n < 0)
			return (int)n;
		r = mnl_cb_run(s->rbuf, (size_t)n, seq, s->portid, cb, data);
		if (r < 0 && errno == EINTR) {
			s->dump_restarts++;
			r = drain_request(s, seq, (size_t)n);
			return r < 0 ? r : -EINTR;
		}
		if (r < 0)
			return negative_errno();
		if (r == MNL_CB_STOP)
			return 0;
	}
}

static struct nlmsghdr *request_hdr(struct nft_sock *s, char *buf, uint16_t type, uint16_t flags)
{
	return nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, flags, s->seq++);
}

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_gen *gen = nftnl_gen_alloc();

	if (!gen)
		return MNL_CB_ERROR;
	if (nftnl_gen_nlmsg_parse(nlh, gen) == 0)
		*(uint32_t *)data = nftnl_gen_get_u32(gen, NFTNL_GEN_ID);
	nftnl_gen_free(gen);
	return MNL_CB_OK;
}

static int get_genid(struct nft_sock *s, uint32_t *id)
{
	char buf[256];
	struct nlmsghdr *nlh =
		nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK, s->seq++);

	return request(s, nlh, gen_cb, id);
}

struct dump_ctx {
	struct nft_ruleset *rs;
	int error;
};

static void note_foreign(struct nft_ruleset *rs, const char *kind, const char *name)
{
	size_t len = strlen(rs->foreign);

	rs->n_foreign++;
	if (len + strlen(kind) + strlen(name) + 4 < sizeof(rs->foreign))
		snprintf(rs->foreign + len, sizeof(rs->foreign) - len, "%s%s %s", len ? ", " : "",
			 kind, name);
}

static bool ours(uint32_t family, const char *table)
{
	return family == NFPROTO_INET && table && strcmp(table, NFT_TABLE_NAME) == 0;
}

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *ctx = data;
	struct nftnl_set *ns = nftnl_set_alloc();
	const char *name;
	int id;

	if (!ns)
		return MNL_CB_ERROR;
	if (nftnl_set_nlmsg_parse(nlh, ns) < 0) {
		nftnl_set_free(ns);
		ctx->error = -EPROTO;
		return MNL_CB_ERROR;
	}
	if (ours(nftnl_set_get_u32(ns, NFTNL_SET_FAMILY), nftnl_set_get_str(ns, NFTNL_SET_TABLE))) {
		name = nftnl_set_get_str(ns, NFTNL_SET_NAME);
		id = name ? nft_set_lookup(name) : -ENOENT;
		if (id < 0)
			note_foreign(ctx->rs, "set", name ? name : "?");
		else
			nft_decode_set(ns, &ctx->rs->sets[id]);
	}
	nftnl_set_free(ns);
	return MNL_CB_OK;
}

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *ctx = data;
	struct nftnl_chain *nc = nftnl_chain_alloc();

	if (!nc)
		return MNL_CB_ERROR;
	if (nftnl_chain_nlmsg_parse(nlh, nc) < 0) {
		nftnl_chain_free(nc);
		ctx->error = -EPROTO;
		return MNL_CB_ERROR;
	}
	if (ours(nftnl_chain_get_u32(nc, NFTNL_CHAIN_FAMILY),
		 nftnl_chain_get_str(nc, NFTNL_CHAIN_TABLE))) {
		const char *name = nftnl_chain_get_str(nc, NFTNL_CHAIN_NAME);
		int found = nft_chain_lookup(name);

		if (found < 0)
			note_foreign(ctx->rs, "chain", name ? name : "?");
		else
			nft_decode_chain(nc, &ctx->rs->chains[found]);
	}
	nftnl_chain_free(nc);
	return MNL_CB_OK;
}

#define DUMP_RULES_MAX 100000

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *ctx = data;
	struct nftnl_rule *nr = nftnl_rule_alloc();

	if (!nr)
		return MNL_CB_ERROR;
	if (nftnl_rule_nlmsg_parse(nlh, nr) < 0) {
		nftnl_rule_free(nr);
		ctx->error = -EPROTO;
		return MNL_CB_ERROR;
	}
	if (ours(nftnl_rule_get_u32(nr, NFTNL_RULE_FAMILY),
		 nftnl_rule_get_str(nr, NFTNL_RULE_TABLE))) {
		int id = nft_chain_lookup(nftnl_rule_get_str(nr, NFTNL_RULE_CHAIN));
		struct nft_chain *c = id >= 0 ? &ctx->rs->chains[id] : NULL;
		struct nft_rule rule;

		/* Rules of foreign chains are not decoded: the chain is reported already. */
		if (c && c->present) {
			if (c->n_rules >= DUMP_RULES_MAX) {
				ctx->error = -E2BIG;
				nftnl_rule_free(nr);
				return MNL_CB_ERROR;
			}
			nft_decode_rule(nr, &rule);
			if (nft_chain_add_rule(c, &rule) < 0) {
				ctx->error = -ENOMEM;
				nftnl_rule_free(nr);
				return MNL_CB_ERROR;
			}
		}
	}
	nftnl_rule_free(nr);
	return MNL_CB_OK;
}

/*
 * Elements arrive over several messages, and a range's start and end may
 * come in different ones: gather them all, then pair them up.
 */
struct elem_collect {
	struct nft_raw_elems acc;
	int family;
	int error;
};

static int elem_collect_cb(const struct nlmsghdr *nlh, void *data)
{
	struct elem_collect *ctx = data;

	/* Decoded in place: a dump of 10,000 addresses is 20,000 interval ends. */
	ctx->error = nft_raw_elems_parse(nlh, ctx->family, &ctx->acc);
	return ctx->error ? MNL_CB_ERROR : MNL_CB_OK;
}

static int dump_elems(struct nft_sock *s, enum nft_set_id id, struct nft_set *out)
{
	char buf[512];
	struct nftnl_set *ns = nftnl_set_alloc();
	struct elem_collect ctx = {.family = nft_set_family(id)};
	struct nlmsghdr *nlh;
	int r;

	if (!ns)
		return -ENOMEM;
	nftnl_set_set_u32(ns, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_str(ns, NFTNL_SET_TABLE, NFT_TABLE_NAME);
	nftnl_set_set_str(ns, NFTNL_SET_NAME, nft_set_name(id));
	nlh = request_hdr(s, buf, NFT_MSG_GETSETELEM, NLM_F_DUMP);
	nftnl_set_elems_nlmsg_build_payload(nlh, ns);
	nftnl_set_free(ns);
	r = request(s, nlh, elem_collect_cb, &ctx);
	if (r >= 0 && ctx.error)
		r = ctx.error;
	if (r >= 0)
		return nft_raw_elems_finish(&ctx.acc, ctx.family, out);
	free(ctx.acc.raw);
	return r;
}

/* Whether shield's table is there: 0, -ENOENT, or another -errno. */
static int get_table(struct nft_sock *s)
{
	char buf[512];
	struct nlmsghdr *nlh;
	struct nftnl_table *t = nft_encode_table();

	if (!t)
		return -ENOMEM;
	nlh = request_hdr(s, buf, NFT_MSG_GETTABLE, NLM_F_ACK);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	return request(s, nlh, NULL, NULL);
}

static int dump_once(struct nft_sock *s, struct nft_ruleset *rs)
{
	struct dump_ctx ctx = {.rs = rs};
	char buf[512];
	struct nlmsghdr *nlh;
	int r;

	memset(rs, 0, sizeof(*rs));
	r = get_table(s);
	if (r == -ENOENT)
		return 0; /* no table: inactive */
	if (r < 0)
		return r;
	rs->table_present = true;

	nlh = request_hdr(s, buf, NFT_MSG_GETSET, NLM_F_DUMP);
	r = request(s, nlh, set_cb, &ctx);
	if (r >= 0)
		r = ctx.error;
	if (r < 0)
		return r;
	for (int i = 0; i < NFT_SET_COUNT; i++) {
		if (!rs->sets[i].present)
			continue;
		r = dump_elems(s, i, &rs->sets[i]);
		if (r < 0)
			return r;
	}
	nlh = request_hdr(s, buf, NFT_MSG_GETCHAIN, NLM_F_DUMP);
	r = request(s, nlh, chain_cb, &ctx);
	if (r >= 0)
		r = ctx.error;
	if (r < 0)
		return r;
	nlh = request_hdr(s, buf, NFT_MSG_GETRULE, NLM_F_DUMP);
	{
		struct nftnl_rule *nr = nftnl_rule_alloc();

		if (!nr)
			return -ENOMEM;
		nftnl_rule_set_str(nr, NFTNL_RULE_TABLE, NFT_TABLE_NAME);
		nftnl_rule_nlmsg_build_payload(nlh, nr);
		nftnl_rule_free(nr);
	}
	r = request(s, nlh, rule_cb, &ctx);
	if (r >= 0)
		r = ctx.error;
	return r;
}

int nft_dump_ruleset(struct nft_sock *s, struct nft_ruleset *rs, struct shield_error *err)
{
	int r = 0;

	for (int attempt = 0; attempt < NFT_DUMP_RETRIES; attempt++) {
		uint32_t before = 0, after = 0;

		r = get_genid(s, &before);
		if (r >= 0)
			r = dump_once(s, rs);
		if (r >= 0)
			r = get_genid(s, &after);
		if (r >= 0 && before == after)
			return 0;
		if (r >= 0)
			s->dump_restarts++;
		nft_ruleset_free(rs);
		if (r < 0 && r != -EINTR)
			break;
		r = -EAGAIN; /* the ruleset changed during the dump: dump again */
	}
	return shield_error_set(err, r, "dumping table %s %s: %s", NFT_TABLE_FAMILY_NAME,
				NFT_TABLE_NAME,
				r == -EAGAIN ? "the ruleset kept changing" : strerror(-r));
}

int nft_dump_ruleset_in(int nsfd, struct nft_ruleset *rs, struct shield_error *err)
{
	_cleanup_nft_sock_ struct nft_sock *s = NULL;
	int r = nft_sock_open_in(nsfd, &s, err);

	return r < 0 ? r : nft_dump_ruleset(s, rs, err);
}

int nft_elems_list(struct nft_sock *s, enum nft_set_id set, struct nft_set *out,
		   struct shield_error *err)
{
	int r = -EINTR;

	/*
	 * The kernel does not flag element dumps as interrupted the way it
	 * flags table, chain, rule and set dumps (NLM_F_DUMP_INTR), and an
	 * interval's start and end may come in different parts: a dump only
	 * counts when the generation was the same before and after it, else it
	 * is done again.
	 */
	for (int attempt = 0; attempt < NFT_DUMP_RETRIES && r == -EINTR; attempt++) {
		uint32_t before = 0, after = 0;

		memset(out, 0, sizeof(*out));
		out->present = true;
		r = get_genid(s, &before);
		if (r >= 0)
			r = dump_elems(s, set, out);
		if (r >= 0)
			r = get_genid(s, &after);
		if (r >= 0 && before != after) {
			s->dump_restarts++;
			r = -EINTR;
		}
		if (r < 0) {
			free(out->elems);
			memset(out, 0, sizeof(*out));
		}
	}
	if (r < 0)
		return shield_error_set(err, r, "listing set %s: %s", nft_set_name(set),
					r == -ENOENT  ? "no such set (is the shield table there?)"
					: r == -EINTR ? "the set kept changing during the dump"
						      : strerror(-r));
	return 0;
}

uint64_t nft_sock_dump_restarts(const struct nft_sock *s)
{
	return s->dump_restarts;
}

int nft_verify_table(struct nft_sock *s, const struct nft_ruleset *expected,
		     struct shield_error *err)
{
	struct nft_ruleset actual = {0};
	int r = nft_dump_ruleset(s, &actual, err);

	if (r >= 0) {
		r = nft_ruleset_verify(expected, &actual, err);
		if (r < 0)
			shield_error_prefix(err,
					    "applied, but the kernel's table does not verify: ");
	}
	nft_ruleset_free(&actual);
	return r;
}

int nft_apply_verified(struct nft_sock *s, const struct nft_ruleset *rs, struct shield_error *err)
{
	int r = nft_apply_ruleset(s, rs, err);

	return r < 0 ? r : nft_verify_table(s, rs, err);
}
