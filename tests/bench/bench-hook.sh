#!/usr/bin/env bash
# Hook latency: shield-hook createRuntime, from exec to exit (ruleset
# committed and verified, dnsmasq started and ready), next to the same work
# done the way the original tool's shell-level approach does it: `nft -f`
# through nsenter, dnsmasq through nsenter, then wait for its PID file and
# check the process. Both on this machine, in this run, interleaved A/B/A/B
# so that noise hits both alike.
#
#   sudo tests/bench/bench-hook.sh              (after cmake --build --preset dev)
#   ctest --test-dir build/dev -L bench -V      (the test presets exclude label bench)
#
# Environment: BENCH_RUNS (default 30), SHIELD_BIN / SHIELD_HOOK_BIN (the
# build under test; the dev preset is a Debug build, the release preset an
# optimised one), BENCH_TIME_BIN (the timer, tests/bench/bench-time.c).
#
# It prints a Markdown table (min/median/max ms per variant and the ratio of
# the medians, b/a) with the machine's context. No timing is asserted: it
# fails only when a run fails functionally (a non-zero exit, no dnsmasq, no
# table). Everything it creates (namespace, processes, files) is removed.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"

RUNS=${BENCH_RUNS:-30}
SHIELD_HOOK_BIN=${SHIELD_HOOK_BIN:-$(dirname "$SHIELD_BIN")/shield-hook}
BENCH_TIME_BIN=${BENCH_TIME_BIN:-$SHIELD_SOURCE_DIR/build/dev/tests/bench/bench-time}
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive number, not '$RUNS'"

require_root
require_cmd ip nft nsenter dnsmasq
require_shield
[[ -x $SHIELD_HOOK_BIN ]] || skip_or_fail "shield-hook not found at SHIELD_HOOK_BIN=$SHIELD_HOOK_BIN (build it first)"
[[ -x $BENCH_TIME_BIN ]] || skip_or_fail "bench-time not found at BENCH_TIME_BIN=$BENCH_TIME_BIN (build it first)"

# ---------------------------------------------------------------- the set-up

init_shield_dirs
RUNTIME_DIR=$TMP/run
mkdir -m 0700 "$RUNTIME_DIR"

# A network namespace with a long-lived process in it: the "container".
new_netns b
NS=$NS_NAME
start_bg ip netns exec "$NS" sleep 1000000
PID=$LAST_PID
for _ in $(seq 50); do
	[[ $(stat -L -c %i "/proc/$PID/ns/net" 2>/dev/null) == "$(stat -L -c %i "$(netns_path "$NS")")" ]] && break
	sleep 0.05
done
[[ $(stat -L -c %i "/proc/$PID/ns/net" 2>/dev/null) == "$(stat -L -c %i "$(netns_path "$NS")")" ]] ||
	die "process $PID did not enter namespace $NS"
NSPATH=/proc/$PID/ns/net

# A profile of 50 domains and 50 static addresses (40 IPv4, 10 IPv6).
{
	echo "# bench: 50 domains, 50 addresses"
	for i in $(seq 1 50); do echo "d$i.bench.shield.test"; done
	for i in $(seq 1 40); do echo "198.18.2.$i"; done
	for i in $(seq 1 10); do echo "2001:db8:2::$i"; done
} >"$CONFIG_DIR/profiles/bench.txt"
BUNDLE=$TMP/bundle
shield prepare bench --state-dir "$BUNDLE" --upstream-dns "$DNS_UPSTREAM" --profiles bench \
	--quiet >/dev/null || die "shield prepare failed"

# The OCI state podman gives the hook on stdin (both variants read it).
STATE=$TMP/state.json
cat >"$STATE" <<EOF
{"ociVersion":"1.0.2","id":"shield-bench-$$","status":"created","pid":$PID,"bundle":"$TMP","annotations":{"terok.shield.profiles":"bench","terok.shield.state_dir":"$BUNDLE","terok.shield.name":"bench","terok.shield.version":"1"}}
EOF

# (b)'s ruleset: shield's own, in nft syntax, replacing any table of that
# name in the same transaction (declare it, delete it, define it).
RULESET=$TMP/ruleset.nft
{
	echo "table inet terok_shield"
	echo "delete table inet terok_shield"
	shield preview --state-dir "$BUNDLE" --mode up
} >"$RULESET"

# (b): a careful shell hook. It reads the OCI state on stdin like (a), loads
# the ruleset with nft -f and starts dnsmasq, both through nsenter, then
# waits for dnsmasq's PID file and checks that it names a dnsmasq with this
# bundle's configuration in this namespace.
SHELL_HOOK=$TMP/shell-hook.sh
cat >"$SHELL_HOOK" <<'EOF'
#!/bin/sh
set -eu
state=$(cat)
pid=$(printf '%s\n' "$state" | sed -n 's/.*"pid":\([0-9][0-9]*\).*/\1/p')
dir=$(printf '%s\n' "$state" | sed -n 's/.*"terok\.shield\.state_dir":"\([^"]*\)".*/\1/p')
[ -n "$pid" ] && [ -n "$dir" ] || { echo "shell hook: bad OCI state" >&2; exit 1; }
ns=/proc/$pid/ns/net
nsenter --net="$ns" nft -f "$1"
rm -f "$dir/dnsmasq.pid"
nsenter --net="$ns" dnsmasq --conf-file="$dir/dnsmasq.conf"
i=0
while [ ! -s "$dir/dnsmasq.pid" ]; do
	i=$((i + 1))
	[ "$i" -le 500 ] || { echo "shell hook: dnsmasq wrote no PID file" >&2; exit 1; }
	sleep 0.01
done
dpid=$(cat "$dir/dnsmasq.pid")
case $(tr '\0' ' ' <"/proc/$dpid/cmdline" 2>/dev/null) in
*dnsmasq*"--conf-file=$dir/dnsmasq.conf"*) ;;
*) echo "shell hook: PID $dpid is not our dnsmasq" >&2; exit 1 ;;
esac
[ "$(readlink "/proc/$dpid/ns/net")" = "$(readlink "$ns")" ] ||
	{ echo "shell hook: dnsmasq $dpid is not in the namespace" >&2; exit 1; }
EOF
chmod 0755 "$SHELL_HOOK"

# ---------------------------------------------------------------- one run

# run_a OUT / run_b OUT: one timed run, its time appended to OUT.
run_a() {
	SHIELD_RUNTIME_DIR=$RUNTIME_DIR "$BENCH_TIME_BIN" "$1" "$SHIELD_HOOK_BIN" createRuntime <"$STATE" ||
		die "shield-hook createRuntime failed (exit $?)"
}
run_b() {
	"$BENCH_TIME_BIN" "$1" "$SHELL_HOOK" "$RULESET" <"$STATE" || die "the shell hook failed (exit $?)"
}

# After a run (untimed): the table is there and a dnsmasq of the bundle runs
# in the namespace; then it is stopped, by poststop for (a), by kill for (b),
# and the table deleted, so every run starts as a container's does.
verify_and_stop() {
	local variant=$1 dpid
	dpid=$(cat "$BUNDLE/dnsmasq.pid" 2>/dev/null) || die "$variant: no dnsmasq.pid after the run"
	alive "$dpid" dnsmasq || die "$variant: dnsmasq $dpid is not running"
	[[ $(readlink "/proc/$dpid/ns/net") == "$(readlink "$NSPATH")" ]] ||
		die "$variant: dnsmasq $dpid runs outside the namespace"
	in_ns "$NS" nft list table inet terok_shield >/dev/null 2>&1 || die "$variant: no table after the run"
	if [[ $variant == a ]]; then
		[[ -f $RUNTIME_DIR/containers/shield-bench-$$.json ]] || die "a: no registry entry"
		SHIELD_RUNTIME_DIR=$RUNTIME_DIR "$SHIELD_HOOK_BIN" poststop <"$STATE" ||
			die "shield-hook poststop failed"
	else
		kill "$dpid"
		rm -f "$BUNDLE/dnsmasq.pid"
	fi
	# A container's namespace is new at createRuntime: no table in it.
	in_ns "$NS" nft delete table inet terok_shield || die "$variant: cannot delete the table"
	for _ in $(seq 300); do
		alive "$dpid" dnsmasq || return 0
		sleep 0.01
	done
	die "$variant: dnsmasq $dpid did not stop"
}

# alive PID COMM: PID runs (not a zombie: a daemon's exit is reaped by
# whoever adopted it, maybe late) with that command name.
alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	[[ $stat == "$1 ($2) "* && $stat != *") Z "* ]]
}

# ---------------------------------------------------------------- measure

say "bench-hook: $RUNS runs each, interleaved, after one untimed warm-up of each ..."
run_a "$TMP/warm.a"
verify_and_stop a
run_b "$TMP/warm.b"
verify_and_stop b
for ((i = 0; i < RUNS; i++)); do
	run_a "$TMP/times.a"
	verify_and_stop a
	run_b "$TMP/times.b"
	verify_and_stop b
done

# stats FILE: "min median max" in ms (nanoseconds in FILE, one per line).
stats() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.2f %.2f %.2f\n", v[1] / 1e6, m / 1e6, v[NR] / 1e6 }'
}
read -r a_min a_med a_max < <(stats "$TMP/times.a")
read -r b_min b_med b_max < <(stats "$TMP/times.b")
ratio=$(awk -v a="$a_med" -v b="$b_med" 'BEGIN { printf "%.2f", b / a }')
# The hook's own measure of its work (the audit log's "setup" entries), for reference.
self=$(grep -o '"action":"setup".*; [0-9.]* ms' "$BUNDLE/audit.jsonl" | sed 's/.*; \([0-9.]*\) ms$/\1/' |
	tail -n "$RUNS" | sort -n | awk '{ v[NR] = $1 } END {
		printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')

build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$(dirname "$SHIELD_HOOK_BIN")/../CMakeCache.txt" 2>/dev/null) || true
cat <<EOF

### Hook latency: createRuntime, exec to exit, dnsmasq ready ($RUNS runs each, interleaved)

| variant | min ms | median ms | max ms |
| --- | ---: | ---: | ---: |
| (a) \`shield-hook createRuntime\` (netlink commit + verify, fork/setns/exec dnsmasq, PID check, registry, audit) | $a_min | $a_med | $a_max |
| (b) \`sh\`: \`nsenter nft -f\` + \`nsenter dnsmasq\` + PID file wait + cmdline/netns check | $b_min | $b_med | $b_max |

Ratio of medians (b/a): **$ratio**. The hook's own measure of its work (audit log, median): $self ms.

Bundle: 50 domains (dnsmasq \`server=\`/\`nftset=\` lines), 50 static addresses (40 IPv4, 10 IPv6),
mode up; $(wc -l <"$RULESET") lines of nft input for (b).

Machine: $(uname -sr), $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)),
$(nft --version), $(dnsmasq --version | head -n 1 | sed 's/  Copyright.*//'), $(nsenter --version),
shield-hook build: ${build_type:-unknown} ($SHIELD_HOOK_BIN).
EOF
