/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-set-writes N BATCH EVERY RUNS SINGLES FILL OUT_DIR: benchmark 4, set
 * element writes, in a network namespace of its own with shield's ruleset
 * (mode up; allow_v4 an interval set with a 30 min default timeout, as a
 * learnt DNS answer gets it).
 *
 * Bulk, RUNS times, the three in turn (order alternating), each into an
 * empty allow_v4 (the table is re-created, untimed, before each), adding N
 * addresses spread over 198.18.0.0/15:
 *   a  nft_elems_add in batches of BATCH on one socket (open included);
 *   b  `nft add element inet terok_shield allow_v4 { ADDR }`, one process
 *      per address. Each such process reads the set it adds to first, so
 *      its cost grows with the set and N of them take minutes: every
 *      EVERYth address goes in through nft (timed), the EVERY-1 after it
 *      through one untimed netlink batch, so the set grows exactly as with
 *      N processes; the total is the sum of the timed ones times EVERY (a
 *      stratified estimate; EVERY 1 times every one of them);
 *   c  `nft -f FILE`, FILE one `add element` of all N addresses.
 * After each, allow_v4 must hold exactly N elements.
 *
 * Single address, what one DNS answer or one repair costs, SINGLES times
 * each in turn, into allow_v4 holding FILL elements (at most N):
 *   s-open  nft_elems_add of one address on a socket already open
 *           (nftsetd's repair, the hook's socket);
 *   s-once  socket open + nft_elems_add + close (`shield allow`'s write);
 *   s-nft   an `nft add element` process;
 *   s-lib   libnftables' nft_run_cmd_from_buffer("add element ...") in this
 *           process, what dnsmasq's nftset= does for each answer (skipped
 *           when libnftables.so.1 cannot be loaded).
 * Nanoseconds per run (bulk: the whole N) go to OUT_DIR/NAME.ns, every
 * timed `nft add element` of b to OUT_DIR/b-each.ns, and a's time in the
 * kernel (its sendto and recvmsg calls, bench-util.h) to
 * OUT_DIR/a-kernel.ns. Exit 1 when anything fails, 77 without privileges.
 */
#include <netinet/in.h>
#include <dlfcn.h>

#define BENCH_WRAP_NETLINK
#include "bench-util.h"
#include "shield/nft-netlink.h"

static size_t n_addrs;
static struct addr_prefix *addrs;
static struct nft_ruleset rs;

/* Address i of the bulk: 198.18.0.0 + 13 i, never two adjacent (no merged ranges). */
static struct addr_prefix bulk_addr(size_t i)
{
	return bench_addr_v4((uint32_t)(13 * i));
}

/* Single address i: 198.18.0.0 + 13 i + 6, between the bulk's. */
static struct addr_prefix single_addr(size_t i)
{
	return bench_addr_v4((uint32_t)(13 * i + 6));
}

static struct nft_sock *sock_open(void)
{
	struct shield_error err = {0};
	struct nft_sock *s = NULL;

	if (nft_sock_open(&s, &err) < 0)
		bench_fail("%s", err.msg);
	return s;
}

/* A fresh table: allow_v4 empty. */
static void reset_table(void)
{
	_cleanup_nft_sock_ struct nft_sock *s = sock_open();
	struct shield_error err = {0};
	int r = nft_delete_table(s, &err);

	if ((r < 0 && r != -ENOENT) || nft_apply_ruleset(s, &rs, &err) < 0)
		bench_fail("re-creating the table: %s", err.msg);
}

static void add(struct nft_sock *s, const struct addr_prefix *p, size_t n)
{
	struct shield_error err = {0};

	if (nft_elems_add(s, NFT_SET_ALLOW_V4, p, n, NFT_TIMEOUT_SET_DEFAULT, &err) < 0)
		bench_fail("nft_elems_add: %s", err.msg);
}

static void expect_elems(const char *variant, size_t want)
{
	_cleanup_nft_sock_ struct nft_sock *s = sock_open();
	struct shield_error err = {0};
	struct nft_set set = {0};

	if (nft_elems_list(s, NFT_SET_ALLOW_V4, &set, &err) < 0)
		bench_fail("%s: listing allow_v4: %s", variant, err.msg);
	if (set.n_elems != want)
		bench_fail("%s: allow_v4 holds %zu elements, not %zu", variant, set.n_elems, want);
	free(set.elems);
}

static uint64_t nft_add_one(const struct addr_prefix *p)
{
	char text[ADDR_TEXT_MAX], elem[ADDR_TEXT_MAX + 8];
	char *argv[] = {(char *)"nft",
			(char *)"add",
			(char *)"element",
			(char *)"inet",
			(char *)"terok_shield",
			(char *)"allow_v4",
			elem,
			NULL};

	addr_format(p, text);
	snprintf(elem, sizeof(elem), "{ %s }", text);
	return bench_run(argv, NULL);
}

static uint64_t run_a(size_t batch)
{
	uint64_t t0 = bench_now_ns(), t1;
	struct nft_sock *s;

	bench_kernel_ns = 0;
	bench_kernel_count = true;
	s = sock_open();
	for (size_t off = 0; off < n_addrs; off += batch)
		add(s, addrs + off, n_addrs - off < batch ? n_addrs - off : batch);
	nft_sock_close(s);
	t1 = bench_now_ns();
	bench_kernel_count = false;
	return t1 - t0;
}

static uint64_t run_b(size_t every, FILE *each)
{
	_cleanup_nft_sock_ struct nft_sock *s = sock_open();
	uint64_t sum = 0;

	for (size_t off = 0; off < n_addrs; off += every) {
		uint64_t ns = nft_add_one(&addrs[off]);

		sum += ns;
		bench_put(each, ns);
		if (off + 1 < n_addrs)
			add(s, addrs + off + 1,
			    (n_addrs - off - 1 < every - 1 ? n_addrs - off - 1 : every - 1));
	}
	return sum * every;
}

static uint64_t run_c(char *file)
{
	char *argv[] = {(char *)"nft", (char *)"-f", file, NULL};

	return bench_run(argv, NULL);
}

/* libnftables, loaded at run time (its headers need not be installed). */
struct nftlib {
	void *(*ctx_new)(uint32_t flags);
	int (*run)(void *ctx, const char *buf);
	void (*ctx_free)(void *ctx);
	void *ctx;
};

static bool nftlib_load(struct nftlib *l)
{
	void *h = dlopen("libnftables.so.1", RTLD_NOW);

	if (!h)
		return false;
	*(void **)&l->ctx_new = dlsym(h, "nft_ctx_new");
	*(void **)&l->run = dlsym(h, "nft_run_cmd_from_buffer");
	*(void **)&l->ctx_free = dlsym(h, "nft_ctx_free");
	if (!l->ctx_new || !l->run || !l->ctx_free)
		return false;
	l->ctx = l->ctx_new(0);
	return l->ctx != NULL;
}

int main(int argc, char **argv)
{
	struct nft_ruleset_params params = {.mode = SHIELD_MODE_UP, .set_timeout = 1800};
	struct shield_error err = {0};
	size_t batch, every, runs, singles, fill;
	char file[4096];
	struct nftlib lib = {0};
	bool have_lib;
	FILE *out[3], *each, *s_out[4], *f, *kernel;

	if (argc != 8) {
		fprintf(stderr,
			"Usage: bench-set-writes N BATCH EVERY RUNS SINGLES FILL OUT_DIR\n");
		return 2;
	}
	n_addrs = bench_count("N", argv[1], 10000); /* 13 N stays in 198.18.0.0/15 */
	batch = bench_count("BATCH", argv[2], n_addrs);
	every = bench_count("EVERY", argv[3], n_addrs);
	runs = bench_count("RUNS", argv[4], 10000);
	singles = bench_count("SINGLES", argv[5], n_addrs / 4);
	fill = bench_count("FILL", argv[6], n_addrs);
	addrs = calloc(n_addrs, sizeof(*addrs));
	if (!addrs)
		bench_fail("out of memory");
	for (size_t i = 0; i < n_addrs; i++)
		addrs[i] = bulk_addr(i);
	addr_parse("198.18.1.53", 11, &params.upstream, NULL);
	if (nft_ruleset_build(&params, &rs, &err) < 0)
		bench_fail("%s", err.msg);

	/* c's input: one add element of all N. */
	snprintf(file, sizeof(file), "%s/elements.nft", argv[7]);
	f = fopen(file, "we");
	if (!f)
		bench_fail("%s: %s", file, strerror(errno));
	fputs("add element inet terok_shield allow_v4 { ", f);
	for (size_t i = 0; i < n_addrs; i++) {
		char text[ADDR_TEXT_MAX];

		addr_format(&addrs[i], text);
		fprintf(f, "%s%s", i ? ", " : "", text);
	}
	if (fputs(" }\n", f) < 0 || fclose(f) != 0)
		bench_fail("%s: %s", file, strerror(errno));

	bench_private_netns();
	out[0] = bench_out(argv[7], "a.ns");
	out[1] = bench_out(argv[7], "b.ns");
	out[2] = bench_out(argv[7], "c.ns");
	each = bench_out(argv[7], "b-each.ns");
	kernel = bench_out(argv[7], "a-kernel.ns");
	for (size_t i = 0; i < runs; i++) {
		for (int k = 0; k < 3; k++) {
			int v = i % 2 ? 2 - k : k;
			uint64_t ns;

			reset_table();
			ns = v == 0 ? run_a(batch) : v == 1 ? run_b(every, each) : run_c(file);
			expect_elems(v == 0   ? "batches"
				     : v == 1 ? "nft add element"
					      : "nft -f",
				     n_addrs);
			bench_put(out[v], ns);
			if (v == 0)
				bench_put(kernel, bench_kernel_ns);
		}
	}
	fclose(kernel);
	for (int v = 0; v < 3; v++)
		fclose(out[v]);
	fclose(each);

	/* Single addresses into a set of N. */
	have_lib = nftlib_load(&lib);
	s_out[0] = bench_out(argv[7], "s-open.ns");
	s_out[1] = bench_out(argv[7], "s-once.ns");
	s_out[2] = bench_out(argv[7], "s-nft.ns");
	s_out[3] = have_lib ? bench_out(argv[7], "s-lib.ns") : NULL;
	reset_table();
	{
		_cleanup_nft_sock_ struct nft_sock *s = sock_open();

		add(s, addrs, fill);
		for (size_t i = 0; i < singles; i++) {
			for (int v = 0; v < 4; v++) {
				struct addr_prefix p = single_addr(i * 4 + (size_t)v);
				uint64_t t0 = bench_now_ns(), ns;

				if (v == 0) {
					add(s, &p, 1);
					ns = bench_now_ns() - t0;
				} else if (v == 1) {
					struct nft_sock *once = sock_open();

					add(once, &p, 1);
					nft_sock_close(once);
					ns = bench_now_ns() - t0;
				} else if (v == 2) {
					ns = nft_add_one(&p);
				} else if (have_lib) {
					char text[ADDR_TEXT_MAX], cmd[128];

					addr_format(&p, text);
					snprintf(cmd, sizeof(cmd),
						 "add element inet terok_shield allow_v4 { %s }",
						 text);
					t0 = bench_now_ns();
					if (lib.run(lib.ctx, cmd) != 0)
						bench_fail("libnftables: %s failed", cmd);
					ns = bench_now_ns() - t0;
				} else {
					continue;
				}
				bench_put(s_out[v], ns);
			}
		}
		expect_elems("single addresses", fill + (have_lib ? 4 : 3) * singles);
	}
	for (int v = 0; v < 4; v++)
		if (s_out[v])
			fclose(s_out[v]);
	if (have_lib)
		lib.ctx_free(lib.ctx);
	nft_ruleset_free(&rs);
	free(addrs);
	return 0;
}
