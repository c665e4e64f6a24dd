/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-set-dump RUNS OUT_DIR SIZE...: benchmark 5, set dump + diff. For
 * each SIZE, in a network namespace of its own with shield's ruleset (mode
 * up), allow_v4 holds SIZE learnt addresses (with the set's 30 min
 * timeout) and a shadow (shadow.h, what nftsetd keeps per container) knows
 * them from dnsmasq log lines, as after SIZE answers. Then RUNS times, in
 * turn (order alternating):
 *   a     nft_elems_list on a socket already open (nftsetd keeps one per
 *         namespace) + shadow_kernel_set: the dump decoded and diffed;
 *   once  the same with the socket opened and closed around it;
 *   b     an `nft -j list set inet terok_shield allow_v4` process, its JSON
 *         parsed (jansson) into the same struct nft_set, + the same
 *         shadow_kernel_set: only the dump and parse differ.
 * Each diff must find nothing (no event, no repair), and b's parse the
 * same elements as a's dump. Nanoseconds per run go to
 * OUT_DIR/SIZE-{a,once,b}.ns, and a's time in its netlink sendto and
 * recvmsg calls (the kernel's dump, bench-util.h) to
 * OUT_DIR/SIZE-a-kernel.ns. Exit 1 when anything fails, 77 without
 * privileges.
 */
#include <netinet/in.h>
#include <jansson.h>

#define BENCH_WRAP_NETLINK
#include "bench-util.h"
#include "shield/nft-netlink.h"
#include "shield/shadow.h"

/* Element i: 198.18.0.0 + 13 i, never two adjacent (no merged ranges). */
static struct addr_prefix elem_addr(size_t i)
{
	return bench_addr_v4((uint32_t)(13 * i));
}

static struct shadow_now clock_now(void)
{
	struct timespec ts;
	struct shadow_now now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now.mono_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	clock_gettime(CLOCK_REALTIME, &ts);
	now.wall_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	return now;
}

/* The shadow of a container whose dnsmasq answered h<i>.shield.test with address i. */
static struct shadow *make_shadow(size_t n, const struct nft_ruleset_params *params)
{
	static struct strlist domains = STRLIST_INIT, denied = STRLIST_INIT;
	struct shadow_output out = {0};
	struct shadow_config cfg = {0};
	struct shadow_now now = clock_now();
	struct shield_error err = {0};
	struct shadow *s = NULL;

	if (!domains.n && strlist_add(&domains, "shield.test") < 0)
		bench_fail("out of memory");
	cfg.container = "bench";
	cfg.ruleset = *params;
	cfg.domains = &domains;
	cfg.denied = &denied;
	cfg.dnsmasq_pid = 100;
	cfg.repair = true;
	if (shadow_new(&cfg, &s, &err) < 0)
		bench_fail("shadow_new: %s", err.msg);
	for (size_t i = 0; i < n; i++) {
		struct addr_prefix p = elem_addr(i);
		char addr[ADDR_TEXT_MAX], line[256];
		struct dnsmasq_log_rec rec;

		addr_format(&p, addr);
		for (int k = 0; k < 3; k++) {
			if (k == 0)
				snprintf(
					line, sizeof(line),
					"Nov 25 22:51:20 dnsmasq[100]: %zu 127.0.0.1/4000 query[A] "
					"h%zu.shield.test from 127.0.0.1",
					i + 1, i);
			else if (k == 1)
				snprintf(line, sizeof(line),
					 "Nov 25 22:51:20 dnsmasq[100]: %zu 127.0.0.1/4000 nftset "
					 "add "
					 "4 inet terok_shield allow_v4 %s shield.test",
					 i + 1, addr);
			else
				snprintf(line, sizeof(line),
					 "Nov 25 22:51:20 dnsmasq[100]: %zu 127.0.0.1/4000 reply "
					 "h%zu.shield.test is %s",
					 i + 1, i, addr);
			if (dnsmasq_log_parse_line(line, strlen(line), &rec) < 0 ||
			    shadow_log_record(s, &rec, &now, &out) < 0)
				bench_fail("feeding the shadow: %s", line);
		}
	}
	if (shadow_tick(s, &now, &out) < 0)
		bench_fail("shadow_tick: out of memory");
	shadow_output_free(&out);
	return s;
}

/* Decode `nft -j list set` output into set (elements in the order listed). */
static void parse_json(const char *text, struct nft_set *set)
{
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr), *items, *item;
	size_t i;

	if (!root)
		bench_fail("nft -j output: %s (line %d)", jerr.text, jerr.line);
	memset(set, 0, sizeof(*set));
	set->present = true;
	items = json_object_get(root, "nftables");
	json_array_foreach(items, i, item)
	{
		json_t *js = json_object_get(item, "set"), *elems, *e;
		size_t j;

		if (!js)
			continue;
		set->timeout_ms =
			(uint64_t)json_integer_value(json_object_get(js, "timeout")) * 1000;
		elems = json_object_get(js, "elem");
		json_array_foreach(elems, j, e)
		{
			json_t *obj = json_object_get(e, "elem"),
			       *val = obj ? json_object_get(obj, "val") : e;
			struct addr_prefix p;
			struct nft_elem ne;
			const char *t = json_string_value(val);

			if (!t || addr_parse(t, strlen(t), &p, NULL) < 0)
				bench_fail("nft -j output: an element that is not an address");
			nft_elem_from_prefix(&p, &ne);
			if (obj && json_object_get(obj, "timeout")) {
				ne.has_timeout = true;
				ne.timeout_ms = (uint64_t)json_integer_value(
							json_object_get(obj, "timeout")) *
						1000;
			}
			if (obj && json_object_get(obj, "expires")) {
				ne.has_expiration = true;
				ne.expires_ms = (uint64_t)json_integer_value(
							json_object_get(obj, "expires")) *
						1000;
			}
			if (nft_set_add_elem(set, &ne) < 0)
				bench_fail("out of memory");
		}
	}
	json_decref(root);
}

static void diff(struct shadow *sh, const struct nft_set *set, const char *variant)
{
	struct shadow_output out = {0};
	struct shadow_now now = clock_now();

	if (shadow_kernel_set(sh, NFT_SET_ALLOW_V4, set, &now, &out) < 0)
		bench_fail("%s: shadow_kernel_set: out of memory", variant);
	if (out.n_events || out.n_repairs)
		bench_fail("%s: the diff found %zu event(s) (first: kind %d), %zu repair(s)",
			   variant, out.n_events, out.n_events ? (int)out.events[0].kind : -1,
			   out.n_repairs);
	shadow_output_free(&out);
}

static void same_elems(const struct nft_set *a, const struct nft_set *b, size_t want)
{
	if (a->n_elems != want || b->n_elems != want)
		bench_fail("netlink dump: %zu elements, nft -j: %zu, want %zu", a->n_elems,
			   b->n_elems, want);
	for (size_t i = 0; i < want; i++)
		if (memcmp(a->elems[i].first, b->elems[i].first, 4) != 0 ||
		    memcmp(a->elems[i].last, b->elems[i].last, 4) != 0)
			bench_fail("netlink dump and nft -j differ at element %zu", i);
}

static void bench_size(size_t n, size_t runs, const char *dir)
{
	struct nft_ruleset_params params = {.mode = SHIELD_MODE_UP, .set_timeout = 1800};
	char *argv[] = {(char *)"nft",	(char *)"-j",		(char *)"list",	    (char *)"set",
			(char *)"inet", (char *)"terok_shield", (char *)"allow_v4", NULL};
	_cleanup_nft_sock_ struct nft_sock *s = NULL;
	struct shield_error err = {0};
	struct bench_buf json = {0};
	struct nft_ruleset rs;
	struct shadow *sh;
	struct addr_prefix *addrs = calloc(n, sizeof(*addrs));
	char name[64];
	FILE *out[3], *kernel;
	int r;

	if (!addrs)
		bench_fail("out of memory");
	for (size_t i = 0; i < n; i++)
		addrs[i] = elem_addr(i);
	addr_parse("198.18.1.53", 11, &params.upstream, NULL);
	if (nft_ruleset_build(&params, &rs, &err) < 0 || nft_sock_open(&s, &err) < 0)
		bench_fail("%s", err.msg);
	r = nft_delete_table(s, &err);
	if ((r < 0 && r != -ENOENT) || nft_apply_ruleset(s, &rs, &err) < 0 ||
	    nft_elems_add(s, NFT_SET_ALLOW_V4, addrs, n, NFT_TIMEOUT_SET_DEFAULT, &err) < 0)
		bench_fail("filling allow_v4 with %zu: %s", n, err.msg);
	nft_ruleset_free(&rs);
	free(addrs);
	sh = make_shadow(n, &params);

	snprintf(name, sizeof(name), "%zu-a.ns", n);
	out[0] = bench_out(dir, name);
	snprintf(name, sizeof(name), "%zu-once.ns", n);
	out[1] = bench_out(dir, name);
	snprintf(name, sizeof(name), "%zu-b.ns", n);
	out[2] = bench_out(dir, name);
	snprintf(name, sizeof(name), "%zu-a-kernel.ns", n);
	kernel = bench_out(dir, name);
	/* Run 0 is an untimed warm-up of each (and the shadow's first dump). */
	for (size_t i = 0; i <= runs; i++) {
		struct nft_set sets[3] = {0};

		for (int k = 0; k < 3; k++) {
			int v = i % 2 ? 2 - k : k;
			uint64_t t0 = bench_now_ns(), ns;

			if (v == 0) {
				bench_kernel_ns = 0;
				bench_kernel_count = true;
				if (nft_elems_list(s, NFT_SET_ALLOW_V4, &sets[v], &err) < 0)
					bench_fail("nft_elems_list: %s", err.msg);
				bench_kernel_count = false;
				diff(sh, &sets[v], "netlink dump");
			} else if (v == 1) {
				struct nft_sock *once = NULL;

				if (nft_sock_open(&once, &err) < 0 ||
				    nft_elems_list(once, NFT_SET_ALLOW_V4, &sets[v], &err) < 0)
					bench_fail("nft_elems_list: %s", err.msg);
				nft_sock_close(once);
				diff(sh, &sets[v], "netlink dump, own socket");
			} else {
				bench_run(argv, &json);
				parse_json(json.data, &sets[v]);
				diff(sh, &sets[v], "nft -j list set");
			}
			ns = bench_now_ns() - t0;
			if (i > 0)
				bench_put(out[v], ns);
			if (i > 0 && v == 0)
				bench_put(kernel, bench_kernel_ns);
		}
		same_elems(&sets[0], &sets[2], n);
		for (int v = 0; v < 3; v++)
			free(sets[v].elems);
	}
	for (int v = 0; v < 3; v++)
		fclose(out[v]);
	fclose(kernel);
	free(json.data);
	shadow_free(sh);
}

int main(int argc, char **argv)
{
	size_t runs;

	if (argc < 4) {
		fprintf(stderr, "Usage: bench-set-dump RUNS OUT_DIR SIZE...\n");
		return 2;
	}
	runs = bench_count("RUNS", argv[1], 100000);
	bench_private_netns();
	for (int i = 3; i < argc; i++)
		bench_size(bench_count("SIZE", argv[i], 10000), runs, argv[2]);
	return 0;
}
