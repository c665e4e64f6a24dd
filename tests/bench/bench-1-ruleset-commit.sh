#!/usr/bin/env bash
# Benchmark 1, ruleset commit: shield's ruleset of a container in mode up
# with 50 static elements (40 IPv4, 10 IPv6), committed into a namespace
# without a table (as at createRuntime) by our one netlink batch, next to
# `nft -f` of the same ruleset as `shield preview` prints it, and (context)
# `shield apply`, a whole process that loads the bundle, commits and
# verifies. Interleaved, BENCH_RUNS (default 40) runs of each, in one
# private network namespace (tests/bench/bench-commit.c); every run is
# checked: the table the kernel holds afterwards is exactly the bundle's
# ruleset, also after `nft -f`.
#
#   sudo tests/bench/bench-1-ruleset-commit.sh   (after cmake --build --preset release)
#
# Target (issue 7): our batch >= 15x faster than nft -f (median of the
# per-pair ratios). See lib-bench.sh for BENCH_OUT and the output.
set -euo pipefail
# shellcheck source=tests/bench/lib-bench.sh
source "$(dirname "$0")/lib-bench.sh"

bench_section 1 "Ruleset commit"
RUNS=$(bench_runs 40)
require_root
require_cmd nft
require_shield
bench_require_bin "$BENCH_BIN_DIR/bench-commit"
[[ -f $BENCH_BIN_DIR/bench-send-time.so ]] || skip_or_fail "bench-send-time.so not found in $BENCH_BIN_DIR (build the release preset first)"

init_shield_dirs
{
	echo "# bench: 50 static addresses"
	for i in $(seq 1 40); do echo "198.18.2.$i"; done
	for i in $(seq 1 10); do echo "2001:db8:2::$i"; done
} >"$CONFIG_DIR/profiles/bench.txt"
BUNDLE=$TMP/bundle
shield prepare bench --state-dir "$BUNDLE" --upstream-dns "$DNS_UPSTREAM" --profiles bench \
	--quiet >/dev/null || die "shield prepare failed"
shield preview --state-dir "$BUNDLE" --mode up >"$TMP/ruleset.nft" || die "shield preview failed"
n_elems=$(grep -oE '(198\.18\.2\.[0-9]+|2001:db8:2::[0-9a-f]+)' "$TMP/ruleset.nft" | sort -u | wc -l)
[[ $n_elems == 50 ]] || die "the preview holds $n_elems static elements, not 50"
n_lines=$(wc -l <"$TMP/ruleset.nft")

say "bench-1: $RUNS runs of each, interleaved ..."
mkdir "$TMP/out"
"$BENCH_BIN_DIR/bench-commit" "$BUNDLE" "$TMP/ruleset.nft" "$RUNS" "$TMP/out" "$SHIELD_BIN" \
	"$BENCH_BIN_DIR/bench-send-time.so" || die "bench-commit failed (exit $?)"

read -r _ ratio_med _ < <(bench_ratio_pairs "$TMP/out/a.ns" "$TMP/out/b.ns")
read -r _ proc_med _ < <(bench_ratio_pairs "$TMP/out/c.ns" "$TMP/out/b.ns")
read -r _ a_med _ < <(bench_stats_file "$TMP/out/a.ns" 1e3)
read -r _ k_med _ < <(bench_stats_file "$TMP/out/a-kernel.ns" 1e3)
read -r _ b_med _ < <(bench_stats_file "$TMP/out/b.ns" 1e3)
read -r _ bk_med _ < <(bench_stats_file "$TMP/out/b-kernel.ns" 1e3)
# No userspace can commit faster than the kernel runs the transaction, and
# nft -f waits for the same kernel work: the best ratio any tool could show.
ceiling=$(awk -v b="$b_med" -v k="$k_med" 'BEGIN { printf "%.1f", b / k }')
k_share=$(awk -v a="$a_med" -v k="$k_med" 'BEGIN { printf "%.0f", 100 * k / a }')
expiring=$(cat "$TMP/out/nft-expiring")

bench_reproduce "sudo BENCH_ONLY=1 tests/bench/run-benchmarks.sh" "sudo tests/bench/bench-1-ruleset-commit.sh" # the latter after cmake --build --preset release
bench_text "The ruleset of a container in mode up with 50 static elements (40 IPv4, 10 IPv6;" \
	"$n_lines lines as \`shield preview\` prints them), committed into a network namespace" \
	"that has no table yet, as at createRuntime. $RUNS runs of each, interleaved (the order" \
	"alternates), after one untimed warm-up. After every run the table is dumped and" \
	"compared with the bundle's ruleset (untimed): \`nft -f\` loads the same table, sets," \
	"chains, rules and elements, but for one thing nft's syntax cannot say: an element" \
	"that never expires in a set with a default timeout (\`timeout 0s\` is read as the" \
	"default). After \`nft -f\`, $expiring of the 50 static elements expire with the set's" \
	"30 min; ours never do."
bench_table variant runs min median max unit
bench_stats_row "our netlink batch: socket open, \`nft_apply_ruleset\` (one transaction), close" µs "$TMP/out/a.ns" 1e3
bench_stats_row "… of which inside its netlink \`sendto\`/\`recvmsg\` calls: the kernel's work" µs "$TMP/out/a-kernel.ns" 1e3
bench_stats_row "\`nft -f\` of the \`shield preview\` output (fork to exit)" µs "$TMP/out/b.ns" 1e3
bench_stats_row "… of which inside its \`sendto\`/\`sendmsg\`/\`recvmsg\` calls (a preloaded wrapper; with its cache reads)" µs "$TMP/out/b-kernel.ns" 1e3
bench_stats_row "context: \`shield apply\` (process: load the bundle, commit, verify)" µs "$TMP/out/c.ns" 1e3
bench_ratio_row "ratio \`nft -f\` / our batch, per pair" "$TMP/out/a.ns" "$TMP/out/b.ns"
bench_ratio_row "context: ratio \`nft -f\` / \`shield apply\`, per pair" "$TMP/out/c.ns" "$TMP/out/b.ns"
bench_end_table

if bench_ge "$ratio_med" 15; then verdict=met; else verdict=missed; fi
why="Our commit is one round trip to look for an old table and one batch, one transaction, built straight from the ruleset model: ${a_med} µs, of which ${k_med} µs (${k_share}%) is spent inside the netlink calls, the kernel running the transaction within the \`sendto(2)\` of the batch (parsing ~40 messages, looking up each rule's expression types by name, creating sets, chains and hooks, and building a notification for every object, since a process on the host listens for them: nftsetd does on a shielded host). \`nft -f\` waits for the same kernel work (${bk_med} µs inside its netlink calls, reading its cache included), plus its process, libnftables, the parse, the cache fetch and evaluation: ${b_med} µs."
if [[ $verdict == missed ]]; then
	why+=" The target is missed by $(awk -v r="$ratio_med" 'BEGIN { printf "%.1f", 15 / r }')×: even a commit with no userspace cost at all could be at most ${ceiling}× faster than \`nft -f\` on this kernel (\`nft -f\`'s median over the kernel's share of ours). 15× would need the kernel's part of a 50-element ruleset under $(awk -v b="$b_med" 'BEGIN { printf "%.0f", b / 15 }') µs. Open question for the issue: the target assumed a kernel commit far cheaper than nft's userspace; here it is not."
fi
why+=" For a process against a process: a whole \`shield apply\`, which also reads the bundle and dumps the table back to verify it, against \`nft -f\` alone: ${proc_med}× (median of per-pair ratios)."
bench_verdict 1 "≥ 15× faster than \`nft -f\`" "${ratio_med}× (median of per-pair ratios)" "$verdict" "$why"
