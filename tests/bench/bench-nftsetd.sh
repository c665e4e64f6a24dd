#!/usr/bin/env bash
# nftsetd at scale: BENCH_CONTAINERS (default 200) namespaces shielded with
# `shield attach`, each with its real dnsmasq, watched by one nftsetd.
# Reports
#   - RSS: nftsetd with an empty registry, then with every namespace
#     attached (after a few resync periods), and the difference per
#     container;
#   - idle wake-ups: the context switches of nftsetd over BENCH_IDLE_S
#     (default 30) seconds with nothing happening, per second (the loop
#     wakes once per --resync period for all containers together);
#   - throughput: 100,000 dnsmasq-format blocked-query lines appended to one
#     container's live log at once, and the time until nftsetd has read them
#     all (log lines/s, blocked_query events/s written to events.jsonl).
#
#   sudo tests/bench/bench-nftsetd.sh           (after cmake --build --preset release or dev)
#   ctest --test-dir build/dev -L bench -R nftsetd -V
#
# No number is asserted; it fails only when something fails functionally.
# Everything it creates (namespaces, dnsmasq processes, files) is removed.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"

N=${BENCH_CONTAINERS:-200}
IDLE_S=${BENCH_IDLE_S:-30}
LINES=100000
NFTSETD_BIN=${NFTSETD_BIN:-$(dirname "$SHIELD_BIN")/../nftsetd/nftsetd}
[[ $N =~ ^[1-9][0-9]*$ ]] || die "BENCH_CONTAINERS must be a positive number, not '$N'"
[[ $IDLE_S =~ ^[1-9][0-9]*$ ]] || die "BENCH_IDLE_S must be a positive number, not '$IDLE_S'"

require_root
require_cmd ip nft dnsmasq socat jq python3
require_shield
[[ -x $NFTSETD_BIN ]] || skip_or_fail "nftsetd not found at NFTSETD_BIN=$NFTSETD_BIN"
unset SHIELD_DNSMASQ

init_shield_dirs
export SHIELD_RUNTIME_DIR=$TMP/run
SOCK=$TMP/nftsetd.sock
NLOG=$TMP/nftsetd.log
write_profile bench "allowed.bench.shield.test" "198.18.2.1"

report() { printf '%s\n' '{"request":"report"}' | socat -t10 - "UNIX-CONNECT:$SOCK"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# Voluntary context switches: each one is the loop going to sleep (a wake-up
# follows); involuntary ones are preemptions by other work on the machine.
switches() { awk '/^voluntary_ctxt_switches:/ { print $2 }' "/proc/$1/status"; }
# CPU time (user + system) in ms.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$1/stat"; }
preempted() { awk '/^nonvoluntary_ctxt_switches:/ { print $2 }' "/proc/$1/status"; }
now_ms() { date +%s%3N; }

NFTSETD_PID=
start_nftsetd() {
	start_bg "$NFTSETD_BIN" --runtime-dir "$SHIELD_RUNTIME_DIR" --socket "$SOCK" 2>>"$NLOG"
	NFTSETD_PID=$LAST_PID
	for _ in $(seq 600); do
		report 2>/dev/null | jq -e .version >/dev/null 2>&1 && return 0
		kill -0 "$NFTSETD_PID" || break
		sleep 0.1
	done
	die "nftsetd does not answer: $(tail -5 "$NLOG")"
}
stop_nftsetd() {
	kill -TERM "$NFTSETD_PID"
	wait "$NFTSETD_PID" || die "nftsetd did not exit 0: $(tail -5 "$NLOG")"
}
# Stop every dnsmasq first: the namespaces then go away quickly.
stop_all() {
	local i
	for i in $(seq "$N"); do
		shield detach "b$i" >/dev/null 2>&1 || true
	done
}
trap 'rc=$?; stop_all; (exit "$rc"); _cleanup' EXIT

# ---------------------------------------------------------------- baseline
start_nftsetd
sleep 2
RSS0=$(rss_kb "$NFTSETD_PID")
stop_nftsetd

say "attaching $N namespaces..."
for i in $(seq "$N"); do
	new_netns "b$i"
	shield prepare "b$i" --profiles bench --upstream-dns 198.18.1.53 -q >/dev/null ||
		die "prepare b$i failed"
	shield attach --netns "$(netns_path "$NS_NAME")" "b$i" >/dev/null || die "attach b$i failed"
done

start_nftsetd
for _ in $(seq 600); do
	[[ $(report | jq '.containers | length') == "$N" ]] && break
	sleep 0.1
done
[[ $(report | jq '.containers | length') == "$N" ]] || die "nftsetd did not attach all $N"
sleep 12 # a few resync periods (5 s): every container dumped at least twice
RSSN=$(rss_kb "$NFTSETD_PID")
REPORT_BYTES=$(report | wc -c)

# --------------------------------------------------------------- idle wake-ups
S0=$(switches "$NFTSETD_PID")
P0=$(preempted "$NFTSETD_PID")
C0=$(cpu_ms "$NFTSETD_PID")
sleep "$IDLE_S"
C1=$(cpu_ms "$NFTSETD_PID")
S1=$(switches "$NFTSETD_PID")
P1=$(preempted "$NFTSETD_PID")

# ------------------------------------------------------------------ throughput
B1=$STATE_ROOT/containers/b1
DPID=$(cat "$B1/dnsmasq.pid")
python3 - "$TMP/lines.txt" "$LINES" "$DPID" <<'EOF'
import sys, time
path, count, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stamp = time.strftime("%b %e %H:%M:%S")
with open(path, "w") as f:
    for j in range(count):
        f.write("%s dnsmasq[%s]: %d 127.0.0.1/40000 config blk%d.bench.test is NXDOMAIN\n" % (stamp, pid, 900000 + j, j))
EOF
BEFORE=$(report | jq '.containers[] | select(.name == "b1") | .nftsetd.lines')
BLOCKED0=$(report | jq '.containers[] | select(.name == "b1") | .blocked_queries')
TARGET=$((BEFORE + LINES))
T0=$(now_ms)
cat "$TMP/lines.txt" >>"$B1/dnsmasq.log"
for _ in $(seq 6000); do
	[[ $(report | jq '.containers[] | select(.name == "b1") | .nftsetd.lines') == "$TARGET" ]] && break
	sleep 0.02
done
T1=$(now_ms)
[[ $(report | jq '.containers[] | select(.name == "b1") | .nftsetd.lines') == "$TARGET" ]] ||
	die "nftsetd did not read the $LINES lines"
# events.jsonl rotates at 4M (the default --events-max): count with the report.
EVENTS=$(($(report | jq '.containers[] | select(.name == "b1") | .blocked_queries') - BLOCKED0))
RSSL=$(rss_kb "$NFTSETD_PID")
stop_nftsetd

MS=$((T1 - T0 > 0 ? T1 - T0 : 1))
cat <<EOF

## nftsetd, $N namespaces ($(uname -r), $(nproc) CPUs, $("$NFTSETD_BIN" --version))

| measure | value |
| --- | --- |
| RSS, empty registry | ${RSS0} KiB |
| RSS, $N containers attached | ${RSSN} KiB |
| RSS per container | $(((RSSN - RSS0) / N)) KiB |
| report of all containers (one line) | $REPORT_BYTES bytes |
| idle wake-ups (voluntary context switches) over ${IDLE_S} s | $((S1 - S0)) ($(awk -v n=$((S1 - S0)) -v s="$IDLE_S" 'BEGIN { printf "%.2f", n / s }')/s; also $((P1 - P0)) preemptions) |
| CPU time while idle (a dump of every namespace each 5 s) | $((C1 - C0)) ms over ${IDLE_S} s |
| $LINES log lines read in | ${MS} ms ($((LINES * 1000 / MS)) lines/s) |
| blocked_query events written | $EVENTS ($((EVENTS * 1000 / MS)) events/s) |
| RSS after the burst | ${RSSL} KiB |
EOF
