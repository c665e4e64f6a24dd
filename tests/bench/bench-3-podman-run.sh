#!/usr/bin/env bash
# Benchmark 3, podman run overhead: `podman run --rm` of a busybox root
# filesystem whose command (/bin/true) exits at once, with shield (the
# arguments `shield prepare --json` gives: annotations that make podman run
# shield-hook at createRuntime and poststop, resolv.conf, capability drops)
# and without, interleaved, the order alternating.
#
#   sudo tests/bench/bench-3-podman-run.sh
#
# podman is set up as the e2e tests do (tests/e2e/lib-podman.sh): rootful,
# runc, a containers.conf of the run's own (CONTAINERS_CONF) naming its hooks
# dir, private storage, a rootfs made from busybox-static (--rootfs; nothing
# is pulled). Both variants use the same --internal network (netavark, no
# DNS server, no route out), made by a podman that runs in a network
# namespace of the benchmark, so its bridge and firewall rules live there
# and go with it.
#
# Target (issue 7): <= +15% wall time (median of the per-pair ratios).
# BENCH_RUNS (default 20) runs of each. See lib-bench.sh for BENCH_OUT and
# the output. It fails only when a run fails functionally (podman's non-zero
# exit, no shield set-up and teardown in the audit log, a dnsmasq left);
# everything it creates is removed.
set -euo pipefail
# shellcheck source=tests/bench/lib-bench.sh
source "$(dirname "$0")/lib-bench.sh"
# shellcheck source=tests/e2e/lib-podman.sh
source "$(dirname "$0")/../e2e/lib-podman.sh"

bench_section 3 "podman run overhead"
RUNS=$(bench_runs 20)
require_podman
require_hook
require_cmd jq
bench_require_bin "$BENCH_TIME_BIN"

# ---------------------------------------------------------------- the set-up

podman_setup
shield_setup
# podman itself runs in this namespace: the network's bridge is made here.
new_netns p
PODNS=$(netns_path "$NS_NAME")
NET=${RUN_PREFIX}net
# in_podns CMD...: CMD in that namespace.
in_podns() { nsenter --net="$PODNS" "$@"; }
podman_root_argv
in_podns "${PODMAN_ROOT_ARGV[@]}" network create --internal --disable-dns \
	--subnet 10.89.213.0/24 "$NET" >/dev/null || die "podman network create failed"

# A profile of 50 domains and 50 static addresses, as in benchmark 2.
{
	echo "# bench: 50 domains, 50 addresses"
	for i in $(seq 1 50); do echo "d$i.bench.shield.test"; done
	for i in $(seq 1 40); do echo "198.18.2.$i"; done
	for i in $(seq 1 10); do echo "2001:db8:2::$i"; done
} >"$CONFIG_DIR/profiles/bench.txt"
BUNDLE=$STATE_ROOT/containers/bench3
json=$(shield_cli prepare bench3 --state-dir "$BUNDLE" --network "$NET" --upstream-dns "$DNS_UPSTREAM" \
	--profiles bench --json --quiet) || die "shield prepare failed"
mapfile -t SHIELD_ARGS < <(jq -r '.args[]' <<<"$json") || die "cannot read podman arguments from: $json"
((${#SHIELD_ARGS[@]} > 0)) || die "shield prepare --json gave no podman arguments: $json"

# ---------------------------------------------------------------- one run

# run_X OUT: one timed `podman run --rm` (fork to exit), its time (ns)
# appended to OUT. (a) without shield, (b) with.
run_a() {
	bench_time "$1" nsenter --net="$PODNS" "${PODMAN_ROOT_ARGV[@]}" run --rm --network "$NET" \
		--rootfs "$ROOTFS" /bin/true || die "podman run (without shield) failed (exit $?)"
}
run_b() {
	bench_time "$1" nsenter --net="$PODNS" "${PODMAN_ROOT_ARGV[@]}" run --rm "${SHIELD_ARGS[@]}" \
		--rootfs "$ROOTFS" /bin/true || die "podman run (with shield) failed (exit $?)"
}

# count ACTION: the audit log's entries of that action.
count() {
	local n
	n=$(grep -c "\"action\":\"$1\"" "$BUNDLE/audit.jsonl" 2>/dev/null) || true
	printf '%s\n' "${n:-0}"
}

# After a run (untimed): no container is left; with shield, the hook set
# the container up (a new "setup" audit entry) and let it go (a new
# "teardown": its dnsmasq stopped), and no registry entry or dnsmasq is left.
SETUPS=0
TEARDOWNS=0
verify() {
	local left
	left=$(in_podns "${PODMAN_ROOT_ARGV[@]}" ps -aq) || die "podman ps failed"
	[[ -z $left ]] || die "$1: containers left after podman run --rm: $left"
	if [[ $1 == b ]]; then
		SETUPS=$((SETUPS + 1))
		TEARDOWNS=$((TEARDOWNS + 1))
		[[ $(count setup) == "$SETUPS" ]] || die "b: shield-hook did not set the container up (audit: $(count setup) setups, want $SETUPS)"
		# podman runs poststop after run --rm returns in some versions: wait for it.
		wait_for 10 teardowns_are "$TEARDOWNS" ||
			die "b: shield-hook did not let the container go (audit: $(count teardown) teardowns, want $TEARDOWNS)"
		[[ -z $(find "$ROOT_RUNTIME_DIR/containers" -name '*.json' 2>/dev/null) ]] ||
			die "b: registry entries left: $(ls "$ROOT_RUNTIME_DIR/containers")"
	fi
}
teardowns_are() { [[ $(count teardown) == "$1" ]]; }

# ---------------------------------------------------------------- measure

say "bench-3: $RUNS runs of each, interleaved, after one untimed warm-up of each ..."
load_before=$(cut -d' ' -f1 /proc/loadavg)
run_a "$TMP/warm.a"
verify a
run_b "$TMP/warm.b"
verify b
for ((i = 0; i < RUNS; i++)); do
	if ((i % 2 == 0)); then order=(a b); else order=(b a); fi
	for v in "${order[@]}"; do
		"run_$v" "$TMP/times.$v"
		verify "$v"
	done
done

# ---------------------------------------------------------------- report

load_after=$(cut -d' ' -f1 /proc/loadavg)

grep -o '"action":"setup".*; [0-9.]* ms' "$BUNDLE/audit.jsonl" | sed 's/.*; \([0-9.]*\) ms$/\1/' |
	tail -n "$RUNS" >"$TMP/self.b"
read -r _ r_med _ < <(bench_ratio_pairs "$TMP/times.a" "$TMP/times.b")
read -r _ a_med _ < <(bench_stats_file "$TMP/times.a" 1e6)
read -r _ b_med _ < <(bench_stats_file "$TMP/times.b" 1e6)
read -r _ h_med _ < <(bench_stats_file "$TMP/self.b")
paste "$TMP/times.a" "$TMP/times.b" | awk '{ print ($2 - $1) / 1e6 }' >"$TMP/diff"
read -r d_min d_med d_max < <(bench_stats_file "$TMP/diff")
overhead=$(awk -v r="$r_med" 'BEGIN { printf "%+.1f", (r - 1) * 100 }')

bench_reproduce "sudo BENCH_ONLY=3 tests/bench/run-benchmarks.sh" "sudo tests/bench/bench-3-podman-run.sh"
bench_text "\`podman run --rm\` of a busybox root filesystem (busybox-static, \`--rootfs\`, nothing pulled)" \
	"whose command, \`/bin/true\`, exits at once: rootful $(podman --version | sed 's/^podman version /podman /'), runc," \
	"the run's own containers.conf naming the hooks dir (as \`shield setup\` would) and storage," \
	"the same \`--internal\` network for both (netavark, no DNS server). (a) without shield; (b) with" \
	"the arguments \`shield prepare --json\` gives (the annotations that run shield-hook at" \
	"createRuntime and poststop, resolv.conf, capability drops) for a bundle of 50 domains and" \
	"50 static addresses. $RUNS runs of each, interleaved (the order alternating), after one untimed" \
	"warm-up of each; after every run (b)'s audit log shows one more set-up and teardown and no" \
	"dnsmasq or registry entry is left. Load average (1 min) at the start of the runs:" \
	"$load_before, at the end: $load_after (2 cores)."
bench_table variant runs min median max unit
bench_stats_row "(a) \`podman run --rm\` without shield" ms "$TMP/times.a" 1e6
bench_stats_row "(b) \`podman run --rm\` with shield (createRuntime + poststop hooks)" ms "$TMP/times.b" 1e6
bench_row "difference (b) − (a), per pair" "$RUNS" "$d_min" "$d_med" "$d_max" ms
bench_stats_row "context: shield-hook's own measure of its createRuntime work (audit log)" ms "$TMP/self.b"
bench_ratio_row "ratio (b) / (a), per pair" "$TMP/times.a" "$TMP/times.b"
bench_end_table

if bench_le "$r_med" 1.15; then verdict=met; else verdict=missed; fi
why="A container's start and removal cost podman ${a_med} ms median here without shield and ${b_med} ms with it; shield adds the createRuntime hook (its own measure: ${h_med} ms median, most of it dnsmasq's start; see benchmark 2), the poststop hook (stopping dnsmasq), a bind mount of resolv.conf and the annotations podman matches against the hooks dir."
[[ $verdict == met ]] || why+=" Missed by $(awk -v r="$r_med" 'BEGIN { printf "%.1f", (r - 1.15) * 100 }') percentage points: the hooks' fixed cost (${d_med} ms median per pair) against a podman run of ${a_med} ms."
bench_verdict 3 "≤ +15% wall time" "${overhead}% (median of per-pair ratios ${r_med}×; ${d_med} ms)" "$verdict" "$why"
