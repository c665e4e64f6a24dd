/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A container's kernel view: a notification socket in its netns
 * (nft-monitor.h) under a uv_poll_t, whose transactions go to the shadow
 * with their writer; and a command socket (nft-netlink.h) for full dumps
 * (at attach, after lost notifications, after a rule/chain/table change,
 * on the shared timer) and for repairs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shield/nft-monitor.h"
#include "shield/nft-netlink.h"
#include "nftsetd.h"

/*
 * Receive buffers shared by every container (the loop runs one callback at
 * a time): one for the notification sockets, one for the command sockets,
 * which a notification's callback uses for repairs while the datagram is
 * still being read. Two buffers for the loop instead of two per container.
 */
static _Alignas(8) uint8_t monitor_buf[NFT_MONITOR_BUF_SIZE];
static _Alignas(8) uint8_t sock_buf[NFT_SOCK_RECV_BUF];

/* Dump now and hand the table to the shadow. */
void kernel_dump(struct container *c)
{
	struct shield_error err = {0};
	struct nft_ruleset rs = {0};
	struct shadow_output out = {0};
	struct shadow_now now;
	int r;

	if (!c->nft || c->detaching)
		return;
	c->resync_wanted = false;
	daemon_now(&now);
	r = nft_dump_ruleset(c->nft, &rs, &err);
	if (r < 0) {
		nlog_c(c, LOG_PRIO_ERR, "dump of the ruleset failed: %s", err.msg);
		nft_ruleset_free(&rs);
		return;
	}
	c->dumps++;
	r = shadow_kernel_dump(c->shadow, &rs, c->has_rule_writer ? &c->rule_writer : NULL, &now,
			       &out);
	c->has_rule_writer = false;
	if (r < 0)
		nlog_c(c, LOG_PRIO_ERR, "out of memory in the shadow state");
	if (shadow_awaiting_log(c->shadow) > 0 && c->d->n_blocking == 0) {
		/* Answers whose log lines were not read yet: judged once they are. */
		c->resync_wanted = true;
		daemon_want_dump(c->d);
	}
	container_output(c, &out);
	shadow_output_free(&out);
	nft_ruleset_free(&rs);
}

struct txn_ctx {
	struct container *c;
	struct shadow_elem_change *changes;
	size_t cap;
	struct shadow_now now;
	struct shadow_output out;
};

static int on_txn(const struct nft_txn *txn, void *data)
{
	struct txn_ctx *x = data;
	struct container *c = x->c;
	struct shadow_writer w = {.pid = (int32_t)txn->pid};
	size_t n = 0;

	snprintf(w.comm, sizeof(w.comm), "%s", txn->comm);
	if (txn->n_changes > x->cap) {
		struct shadow_elem_change *bigger =
			realloc(x->changes, txn->n_changes * sizeof(*x->changes));

		if (!bigger)
			return -ENOMEM;
		x->changes = bigger;
		x->cap = txn->n_changes;
	}
	for (size_t i = 0; i < txn->n_changes; i++) {
		const struct nft_change *ch = &txn->changes[i];

		switch (ch->kind) {
		case NFT_CHANGE_ELEM_ADD:
		case NFT_CHANGE_ELEM_DEL:
			if (ch->set < 0 || ch->set >= NFT_SET_COUNT)
				break;
			x->changes[n++] = (struct shadow_elem_change){
				.add = ch->kind == NFT_CHANGE_ELEM_ADD,
				.set = (enum nft_set_id)ch->set,
				.elem = ch->elem,
			};
			break;
		default:
			/* Table, chain, rule, set: judged against the mode by a dump. */
			c->rule_writer = w;
			c->has_rule_writer = true;
			c->resync_wanted = true;
			break;
		}
	}
	if (txn->partial)
		c->resync_wanted = true;
	nlog_c(c, LOG_PRIO_DEBUG, "transaction %u by %s[%d]: %zu changes, %zu to elements",
	       txn->gen_id, w.comm[0] ? w.comm : "?", (int)w.pid, txn->n_changes, n);
	if (n > 0) {
		if (shadow_kernel_changes(c->shadow, x->changes, n, &w, &x->now, &x->out) < 0)
			nlog_c(c, LOG_PRIO_ERR, "out of memory in the shadow state");
		container_output(c, &x->out);
	}
	return 0;
}

static void on_monitor(uv_poll_t *h, int status, int events)
{
	struct fdwatch *w = h->data;
	struct container *c = w->c;
	struct shield_error err = {0};
	struct txn_ctx x = {.c = c};
	int r;

	(void)events;
	if (c->detaching)
		return;
	if (status == UV_EBADF) {
		/*
		 * libuv reports POLLERR as EBADF and stops the handle. On a
		 * notification socket the pending error is ENOBUFS, the kernel
		 * dropping notifications: the read below gets it (and clears
		 * it) and resyncs. Poll again; a socket that is really broken
		 * fails that read.
		 */
		status = uv_poll_start(h, UV_READABLE, on_monitor);
	}
	if (status < 0) {
		nlog_c(c, LOG_PRIO_ERR, "notification socket: %s", uv_strerror(status));
		uv_poll_stop(h);
		c->mon_broken = true;
		return;
	}
	daemon_now(&x.now);
	r = nft_monitor_read(c->mon, on_txn, &x, &err);
	free(x.changes);
	shadow_output_free(&x.out);
	if (r == NFT_MONITOR_LOST) {
		struct shadow_output out = {0};

		c->losses++;
		nlog_c(c, LOG_PRIO_WARNING, "nftables notifications were lost: dumping again");
		if (shadow_info(c->shadow, SHIELD_EVENT_NETLINK_RESYNC,
				"the kernel dropped nftables notifications (ENOBUFS): "
				"the sets and rules were dumped again",
				&x.now, &out) >= 0)
			container_output(c, &out);
		shadow_output_free(&out);
		kernel_dump(c);
	} else if (r < 0) {
		nlog_c(c, LOG_PRIO_ERR, "notification socket: %s", err.msg);
		uv_poll_stop(h);
		c->mon_broken = true;
		return;
	}
	if (c->resync_wanted)
		daemon_want_dump(c->d);
}

int kernel_open(struct container *c, struct shield_error *err)
{
	int r;

	/* Subscribe before the first dump, so no change falls between the two. */
	r = nft_monitor_open_shared(c->nsfd, (size_t)c->d->opt.netlink_rcvbuf, monitor_buf, &c->mon,
				    err);
	if (r < 0)
		return r;
	r = nft_sock_open_shared(c->nsfd, sock_buf, &c->nft, err);
	if (r < 0)
		return r;
	c->monw = fdwatch_new(c, nft_monitor_fd(c->mon), false, on_monitor);
	if (!c->monw)
		return shield_error_set(err, -ENOMEM, "notification socket: cannot poll it");
	return 0;
}

/* The timer's look: a broken notification socket is opened again. */
void kernel_check(struct container *c)
{
	struct shield_error err = {0};

	if (!c->mon_broken || c->detaching)
		return;
	nlog_c(c, LOG_PRIO_NOTICE, "opening the notification socket again");
	kernel_close(c);
	c->mon_broken = false;
	if (kernel_open(c, &err) < 0) {
		nlog_c(c, LOG_PRIO_ERR, "%s", err.msg);
		c->mon_broken = true;
	}
}

void kernel_close(struct container *c)
{
	fdwatch_close(c->monw);
	c->monw = NULL;
	nft_monitor_close(c->mon);
	c->mon = NULL;
	nft_sock_close(c->nft);
	c->nft = NULL;
}
