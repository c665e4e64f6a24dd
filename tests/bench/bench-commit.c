/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-commit STATE_DIR NFT_FILE RUNS OUT_DIR [SHIELD_BIN [SEND_TIME_SO]]:
 * benchmark 1, ruleset commit. In a network namespace of its own, RUNS
 * times, in turn
 * (the order alternates from run to run):
 *   a  our one netlink batch: socket open, nft_apply_ruleset (the table
 *      with its sets, 50 static elements, chains and rules in one
 *      transaction), socket close; timed in this process;
 *   b  `nft -f NFT_FILE` (the same ruleset, from `shield preview`), fork to
 *      exit; with SEND_TIME_SO (bench-send-time.so) preloaded into it, the
 *      time nft spends in its netlink calls goes to OUT_DIR/b-kernel.ns;
 *   c  `shield apply --state-dir STATE_DIR --netns ...` (with SHIELD_BIN):
 *      a whole process that loads the bundle, commits and verifies, fork
 *      to exit; context for a process-to-process view.
 * Every run starts without the table (deleted, untimed) as a container's
 * new namespace does, and is checked (untimed) by dumping the table and
 * comparing it with the bundle's ruleset: `nft -f` has to have produced
 * what we commit, but for the static elements' timers (verify_nft).
 * Nanoseconds go to OUT_DIR/{a,b,c}.ns, one line per run, the part of a
 * spent in its netlink sendto and recvmsg calls (bench-util.h) to
 * OUT_DIR/a-kernel.ns, and the number of static elements that expire
 * after `nft -f` to OUT_DIR/nft-expiring. Exit 1 when anything fails, 77
 * without privileges.
 */
#include <netinet/in.h>
#include <fcntl.h>

#define BENCH_WRAP_NETLINK
#include "bench-util.h"
#include "shield/bundle-rules.h"
#include "shield/nft-netlink.h"

static struct nft_ruleset rs;

static void delete_table(void)
{
	_cleanup_nft_sock_ struct nft_sock *s = NULL;
	struct shield_error err = {0};
	int r;

	if (nft_sock_open(&s, &err) < 0)
		bench_fail("%s", err.msg);
	r = nft_delete_table(s, &err);
	if (r < 0 && r != -ENOENT)
		bench_fail("deleting the table: %s", err.msg);
}

static void verify(const char *variant)
{
	_cleanup_nft_sock_ struct nft_sock *s = NULL;
	struct shield_error err = {0};

	if (nft_sock_open(&s, &err) < 0 || nft_verify_table(s, &rs, &err) < 0)
		bench_fail("%s: the table is not the bundle's ruleset: %s", variant, err.msg);
}

/*
 * After `nft -f`: the table is the bundle's ruleset but for the static
 * elements' timers. nft's syntax has no element that never expires in a
 * set with a default timeout (`timeout 0s` is read as "the default"), so
 * the static allow elements nft loads expire with the set's timeout; they
 * are counted into *expiring.
 */
static void verify_nft(size_t *expiring)
{
	_cleanup_nft_sock_ struct nft_sock *s = NULL;
	struct shield_error err = {0};
	struct nft_ruleset dump = {0};

	if (nft_sock_open(&s, &err) < 0 || nft_dump_ruleset(s, &dump, &err) < 0)
		bench_fail("nft -f: dumping the table: %s", err.msg);
	*expiring = 0;
	for (int i = 0; i < NFT_SET_COUNT; i++) {
		for (size_t j = 0; j < dump.sets[i].n_elems; j++) {
			struct nft_elem *e = &dump.sets[i].elems[j];

			if (e->has_expiration || e->expires_ms || (e->has_timeout && e->timeout_ms))
				(*expiring)++;
			e->has_expiration = e->has_timeout = false;
			e->expires_ms = e->timeout_ms = 0;
		}
	}
	if (nft_ruleset_verify(&rs, &dump, &err) < 0)
		bench_fail("nft -f: the table is not the bundle's ruleset: %s", err.msg);
	nft_ruleset_free(&dump);
}

static uint64_t run_a(void)
{
	struct shield_error err = {0};
	struct nft_sock *s = NULL;
	uint64_t t0 = bench_now_ns(), t1;

	bench_kernel_ns = 0;
	bench_kernel_count = true;
	if (nft_sock_open(&s, &err) < 0 || nft_apply_ruleset(s, &rs, &err) < 0)
		bench_fail("our commit: %s", err.msg);
	nft_sock_close(s);
	t1 = bench_now_ns();
	bench_kernel_count = false;
	return t1 - t0;
}

int main(int argc, char **argv)
{
	struct shield_error err = {0};
	struct bundle_rules b = {0};
	_cleanup_free_ char *text = NULL, *file = NULL;
	_cleanup_close_ int dirfd = -1;
	char netns[64], send_out[4096];
	size_t runs, expiring = 0;
	FILE *out[3], *kernel;
	FILE *f;
	long size;

	if (argc < 5 || argc > 7) {
		fprintf(stderr, "Usage: bench-commit STATE_DIR NFT_FILE RUNS OUT_DIR [SHIELD_BIN "
				"[SEND_TIME_SO]]\n");
		return 2;
	}
	runs = bench_count("RUNS", argv[3], 100000);
	dirfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		bench_fail("%s: %s", argv[1], strerror(errno));
	if (bundle_rules_load(dirfd, &b, &err) < 0 ||
	    bundle_rules_build(&b, SHIELD_MODE_UP, &rs, &err) < 0)
		bench_fail("bundle %s: %s", argv[1], err.msg);
	bundle_rules_free(&b);

	/* The nft input is the same ruleset: what shield preview printed. */
	text = nft_ruleset_render(&rs);
	f = fopen(argv[2], "re");
	if (!text || !f || fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0)
		bench_fail("%s: %s", argv[2], strerror(errno));
	rewind(f);
	file = calloc((size_t)size + 1, 1);
	if (!file || fread(file, 1, (size_t)size, f) != (size_t)size)
		bench_fail("%s: cannot read it", argv[2]);
	fclose(f);
	if (strcmp(file, text) != 0)
		bench_fail("%s is not the bundle's ruleset as nft_ruleset_render prints it",
			   argv[2]);

	bench_private_netns();
	snprintf(netns, sizeof(netns), "/proc/%d/ns/net", (int)getpid());
	char *nft_argv[] = {(char *)"nft", (char *)"-f", argv[2], NULL};
	char *apply_argv[] = {argc > 5 ? argv[5] : NULL,
			      (char *)"apply",
			      (char *)"--state-dir",
			      argv[1],
			      (char *)"--mode",
			      (char *)"up",
			      (char *)"--netns",
			      netns,
			      NULL};

	out[0] = bench_out(argv[4], "a.ns");
	out[1] = bench_out(argv[4], "b.ns");
	out[2] = argc > 5 ? bench_out(argv[4], "c.ns") : NULL;
	kernel = bench_out(argv[4], "a-kernel.ns");
	snprintf(send_out, sizeof(send_out), "%s/b-kernel.ns", argv[4]);
	/* One untimed warm-up of each (page cache, the kernel's first table). */
	for (size_t i = 0; i <= runs; i++) {
		for (int k = 0; k < 3; k++) {
			/* Alternate the order: a b c, then c b a, ... */
			int v = i % 2 ? 2 - k : k;
			uint64_t ns;

			if (!out[v])
				continue;
			delete_table();
			if (v == 0)
				ns = run_a();
			else if (v == 1 && argc > 6 && i > 0) {
				/* Only nft gets the preload (setenv before its fork). */
				if (setenv("LD_PRELOAD", argv[6], 1) < 0 ||
				    setenv("BENCH_SEND_OUT", send_out, 1) < 0)
					bench_fail("setenv: %s", strerror(errno));
				ns = bench_run(nft_argv, NULL);
				unsetenv("LD_PRELOAD");
				unsetenv("BENCH_SEND_OUT");
			} else if (v == 1)
				ns = bench_run(nft_argv, NULL);
			else
				ns = bench_run(apply_argv, NULL);
			if (v == 1)
				verify_nft(&expiring);
			else
				verify(v == 0 ? "our commit" : "shield apply");
			if (i > 0)
				bench_put(out[v], ns);
			if (i > 0 && v == 0)
				bench_put(kernel, bench_kernel_ns);
		}
	}
	for (int v = 0; v < 3; v++)
		if (out[v])
			fclose(out[v]);
	fclose(kernel);
	f = bench_out(argv[4], "nft-expiring");
	fprintf(f, "%zu\n", expiring);
	fclose(f);
	nft_ruleset_free(&rs);
	return 0;
}
