#!/usr/bin/env bash
# Benchmark 5, set dump + diff, in a private network namespace with
# shield's ruleset (tests/bench/bench-set-dump.c): allow_v4 holds 100,
# 1,000 and 10,000 learnt addresses and a shadow (what nftsetd keeps per
# container) knows them from dnsmasq log lines. Each size, BENCH_RUNS
# (default 30) runs of each in turn: our netlink dump decoded and diffed
# against the shadow (shadow_kernel_set), on nftsetd's open socket and
# (context) on a socket of its own, and an `nft -j list set` process whose
# JSON is parsed (jansson, in C) into the same set structure and diffed
# the same way; only the dump and the parse differ. Every diff must find
# nothing, and nft's list the same elements as our dump.
#
#   sudo tests/bench/bench-5-set-dump.sh   (after cmake --build --preset release)
#
# Target (issue 7): >= 5x faster than nft -j list set + parse, at every
# size (median of per-pair ratios). See lib-bench.sh.
set -euo pipefail
# shellcheck source=tests/bench/lib-bench.sh
source "$(dirname "$0")/lib-bench.sh"

bench_section 5 "Set dump + diff"
RUNS=$(bench_runs 30)
SIZES=${BENCH_SIZES:-100 1000 10000}
require_root
require_cmd nft
bench_require_bin "$BENCH_BIN_DIR/bench-set-dump"

init_tmp
say "bench-5: $RUNS runs of each at sizes $SIZES ..."
# shellcheck disable=SC2086 # one size per word
"$BENCH_BIN_DIR/bench-set-dump" "$RUNS" "$TMP" $SIZES || die "bench-set-dump failed (exit $?)"

bench_reproduce "sudo BENCH_ONLY=5 tests/bench/run-benchmarks.sh" "sudo tests/bench/bench-5-set-dump.sh" # the latter after cmake --build --preset release
bench_text "\`allow_v4\` holds N learnt addresses (30 min timeout), and a shadow state knows them" \
	"from dnsmasq's log lines, as after N answers. One pass = dump the set + decode +" \
	"\`shadow_kernel_set\` (the diff nftsetd runs: unexplained, missing, denied elements," \
	"expiries). $RUNS passes of each way in turn per size, the order alternating, after" \
	"an untimed warm-up; each diff must find nothing, and \`nft\`'s list must hold the" \
	"same elements as our dump."
bench_table variant runs min median max unit
for n in $SIZES; do
	bench_stats_row "$n: netlink dump + diff, nftsetd's open socket" µs "$TMP/$n-a.ns" 1e3
	bench_stats_row "$n: … of which inside the netlink \`sendto\`/\`recvmsg\` calls: the kernel's dump" µs "$TMP/$n-a-kernel.ns" 1e3
	bench_stats_row "$n: netlink dump + diff, socket of its own" µs "$TMP/$n-once.ns" 1e3
	bench_stats_row "$n: \`nft -j list set\` + JSON parse + the same diff" µs "$TMP/$n-b.ns" 1e3
	bench_ratio_row "$n: ratio \`nft -j\` / ours, per pair" "$TMP/$n-a.ns" "$TMP/$n-b.ns"
done
bench_end_table

missed=()
for n in $SIZES; do
	read -r _ r _ < <(bench_ratio_pairs "$TMP/$n-a.ns" "$TMP/$n-b.ns")
	read -r _ a _ < <(bench_stats_file "$TMP/$n-a.ns" 1e3)
	if bench_ge "$r" 5; then verdict=met; else
		verdict=missed
		missed+=("$n")
	fi
	bench_verdict 5 "≥ 5× \`nft -j list set\` + parse" "${r}× (median of per-pair ratios; ours ${a} µs)" \
		"$verdict" "" "Set dump + diff, $n elements"
done
last=${SIZES##* }
read -r _ k_last _ < <(bench_stats_file "$TMP/$last-a-kernel.ns" 1e3)
read -r _ a_last _ < <(bench_stats_file "$TMP/$last-a.ns" 1e3)
bench_text "Where the time goes: at $last elements ${k_last} µs of our ${a_last} µs are the kernel's" \
	"dump (it walks the set, 2 interval ends per address, from its first element again for" \
	"every 32 KiB part it sends, and builds the messages), the same work \`nft\` waits for." \
	"What is ours is decoding the messages (in place, no object per element) and the diff." \
	"\`nft\` adds a process, its cache of the table, JSON output and the JSON parse. The fixed" \
	"cost of a process dominates at 100, so the ratio falls as the set grows."
if ((${#missed[@]})); then
	bench_text "Missed at ${missed[*]} elements: the kernel's dump is the same for both ways and is" \
		"the floor no userspace can go below; what is ours is the decode and the diff."
fi
