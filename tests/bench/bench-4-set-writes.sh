#!/usr/bin/env bash
# Benchmark 4, set element writes, in a private network namespace with
# shield's ruleset (tests/bench/bench-set-writes.c):
#   - 10,000 addresses added to allow_v4 (empty at the start of each run)
#     by nft_elems_add in batches of BENCH_BATCH (default 1,000) on one
#     socket, by one `nft add element` process per address, and by `nft -f`
#     of one file adding all of them; interleaved, BENCH_RUNS (default 5)
#     runs. The per-address path costs minutes per run (each nft process
#     reads the whole set first), so by default every BENCH_EVERY-th (50)
#     address goes through nft, timed, and the others through an untimed
#     batch in between: the set grows exactly as with 10,000 processes, and
#     the total is the timed sum times BENCH_EVERY. BENCH_EVERY=1 runs all
#     10,000 processes.
#   - single-address latency, BENCH_SINGLES (default 200) of each in turn,
#     into a set of BENCH_FILL (default 1,000) learnt addresses: our add on
#     an open socket, with a socket of its own, an `nft add element`
#     process, and libnftables in-process (what dnsmasq does per answer).
# Every run is checked: the set holds exactly the addresses added.
#
#   sudo tests/bench/bench-4-set-writes.sh   (after cmake --build --preset release)
#
# Target (issue 7): >= 10x the per-address `nft` path. See lib-bench.sh.
set -euo pipefail
# shellcheck source=tests/bench/lib-bench.sh
source "$(dirname "$0")/lib-bench.sh"

bench_section 4 "Set element writes"
RUNS=$(bench_runs 5)
N=10000
BATCH=${BENCH_BATCH:-1000}
EVERY=${BENCH_EVERY:-50}
SINGLES=${BENCH_SINGLES:-200}
FILL=${BENCH_FILL:-1000}
for v in BATCH EVERY SINGLES FILL; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v must be a positive number, not '${!v}'"
done
require_root
require_cmd nft
bench_require_bin "$BENCH_BIN_DIR/bench-set-writes"

init_tmp
say "bench-4: $RUNS bulk runs of $N addresses (nft per address: one in $EVERY timed), $SINGLES single adds of each kind ..."
"$BENCH_BIN_DIR/bench-set-writes" "$N" "$BATCH" "$EVERY" "$RUNS" "$SINGLES" "$FILL" "$TMP" ||
	die "bench-set-writes failed (exit $?)"

read -r _ ratio_b _ < <(bench_ratio_pairs "$TMP/a.ns" "$TMP/b.ns")
read -r _ ratio_c _ < <(bench_ratio_pairs "$TMP/a.ns" "$TMP/c.ns")
read -r _ a_med _ < <(bench_stats_file "$TMP/a.ns" 1e6)
read -r _ ak_med _ < <(bench_stats_file "$TMP/a-kernel.ns" 1e6)
# One nft process near the start of a run (set nearly empty) and near its
# end (set nearly full): the medians of the first and last tenth of each
# run's timed processes.
per_run=$(((N + EVERY - 1) / EVERY))
awk -v p="$per_run" '{ i = (NR - 1) % p } i < p / 10 { print > "'"$TMP"'/b-early.ns" }
	i >= p - p / 10 { print > "'"$TMP"'/b-late.ns" }' "$TMP/b-each.ns"
[[ -s $TMP/b-early.ns && -s $TMP/b-late.ns ]] || cp "$TMP/b-each.ns" "$TMP/b-early.ns"
[[ -s $TMP/b-late.ns ]] || cp "$TMP/b-each.ns" "$TMP/b-late.ns"
read -r _ each_early _ < <(bench_stats_file "$TMP/b-early.ns" 1e6)
read -r _ each_late _ < <(bench_stats_file "$TMP/b-late.ns" 1e6)
read -r _ s_open _ < <(bench_stats_file "$TMP/s-open.ns" 1e3)
read -r _ s_nft _ < <(bench_stats_file "$TMP/s-nft.ns" 1e3)
read -r _ single_ratio _ < <(bench_ratio_pairs "$TMP/s-open.ns" "$TMP/s-nft.ns")
per_elem=$(awk -v m="$a_med" -v n="$N" 'BEGIN { printf "%.1f", m * 1000 / n }')
sampled="one address in $EVERY timed, the total extrapolated (×$EVERY)"
[[ $EVERY == 1 ]] && sampled="all $N processes timed"

bench_reproduce "sudo BENCH_ONLY=4 tests/bench/run-benchmarks.sh" "sudo tests/bench/bench-4-set-writes.sh" # the latter after cmake --build --preset release
bench_text "$N IPv4 addresses (spread over 198.18.0.0/15, none adjacent) added to \`allow_v4\`" \
	"(an interval set with a 30 min default timeout, as a learnt answer gets it), empty at" \
	"the start of each run; $RUNS runs of each way, interleaved, the order alternating." \
	"After each run the set is listed and must hold exactly $N elements."
bench_table variant runs min median max unit
bench_stats_row "\`nft_elems_add\`, batches of $BATCH, one socket" ms "$TMP/a.ns" 1e6
bench_stats_row "… of which inside its netlink \`sendto\`/\`recvmsg\` calls: the kernel's work" ms "$TMP/a-kernel.ns" 1e6
bench_stats_row "\`nft add element\`, one process per address ($sampled)" ms "$TMP/b.ns" 1e6
bench_stats_row "\`nft -f\` of one file adding all $N" ms "$TMP/c.ns" 1e6
bench_ratio_row "ratio per-address \`nft\` / batches, per pair" "$TMP/a.ns" "$TMP/b.ns"
bench_ratio_row "ratio \`nft -f\` / batches, per pair" "$TMP/a.ns" "$TMP/c.ns"
bench_end_table

bench_text "Single address, what one DNS answer or one repair costs: $SINGLES of each in turn" \
	"into \`allow_v4\` holding $FILL learnt addresses."
bench_table variant runs min median max unit
bench_stats_row "\`nft_elems_add\` of 1 on an open socket (nftsetd's repair)" µs "$TMP/s-open.ns" 1e3
bench_stats_row "socket open + \`nft_elems_add\` + close (\`shield allow\`'s write)" µs "$TMP/s-once.ns" 1e3
bench_stats_row "\`nft add element\` process" µs "$TMP/s-nft.ns" 1e3
if [[ -s $TMP/s-lib.ns ]]; then
	bench_stats_row "libnftables in-process \`add element\` (what dnsmasq's nftset= does per answer)" µs "$TMP/s-lib.ns" 1e3
fi
bench_ratio_row "ratio \`nft add element\` / open socket, per pair" "$TMP/s-open.ns" "$TMP/s-nft.ns"
bench_end_table

if bench_ge "$ratio_b" 10; then verdict=met; else verdict=missed; fi
bench_verdict 4 "≥ 10× the per-address \`nft\` path" "${ratio_b}× (median of per-pair ratios, $N addresses)" "$verdict" \
	"Batches cost ${per_elem} µs per address (${a_med} ms for $N): one transaction per $BATCH elements; ${ak_med} ms of it is the kernel inserting into the interval set (two tree nodes per address) and building the element notifications a listener such as nftsetd gets. An \`nft add element\` process costs ${each_early} ms while the set is nearly empty and ${each_late} ms when it nearly holds $N (medians of the first and last tenth of each run): before adding, nft reads the set it adds to (for an interval set, to check overlaps), so the per-address path grows with the set and $N of them take minutes. \`nft -f\` of one file is the fast way to use nft: ${ratio_c}× the batches' time (one process that parses and evaluates $N addresses, then the same kernel work in one transaction). One address on an open socket costs ${s_open} µs against ${s_nft} µs for an \`nft add element\` process (${single_ratio}×)."
