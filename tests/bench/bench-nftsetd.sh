#!/usr/bin/env bash
# nftsetd at scale: one nftsetd watching BENCH_CONTAINERS namespaces (default
# "50 200": first 50, then 150 more) shielded with `shield attach`, each with
# its real dnsmasq, on the real kernel. For each size it reports
#   - memory: the RSS (VmRSS) of an nftsetd started with every container
#     registered, once it reports them all and a periodic dump of all of
#     them has run, per container (the growth over nftsetd with an empty
#     registry, divided by the containers);
#   - the size of a full report (one line, every container);
#   - idle cost: wake-ups (voluntary context switches of all its threads)
#     and CPU time over BENCH_IDLE_S (default 15) seconds with nothing
#     happening (the loop wakes once per --resync period, 5 s, for all);
#   - a burst: BENCH_EVENTS (default 20,000) blocked queries spread over all
#     containers, written into their dnsmasq.log files at once as dnsmasq
#     writes them (two lines each, templates from a real query of this run,
#     every name different; one process writes them all, one write per
#     container, back to back): the time until nftsetd has counted every
#     blocked_query event (then checked in the containers' events.jsonl),
#     events/s, nftsetd's CPU time, and how
#     many of them each of BENCH_SUBSCRIBERS (default 1; 0 for nftsetd
#     alone) `shield watch --json` subscribers received (nftsetd pauses
#     reading the logs while a subscriber is behind, so a subscriber that
#     reads gets them all);
#   - one busy log: 100,000 synthetic blocked-query lines appended to one
#     container's log at once, lines/s until nftsetd has read them all (no
#     subscriber connected: nftsetd alone);
#   - RSS after all of it.
#
#   sudo tests/bench/bench-nftsetd.sh     (after cmake --build --preset release, or dev)
#   ctest --test-dir build/release -L bench -R nftsetd -V   (the test presets exclude label bench)
#
# NFTSETD_BIN and SHIELD_BIN pick the binaries (default: the dev build; ctest
# passes its own). No number is asserted: it fails only when something does
# not work (an attach fails, events go missing). Everything it creates
# (namespaces, dnsmasq processes, files) is removed.
# shellcheck disable=SC2016 # jq filters are single-quoted on purpose
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=tests/integration/lib-watch.sh
source "$(dirname "$0")/../integration/lib-watch.sh"

SIZES=${BENCH_CONTAINERS:-50 200}
EVENTS=${BENCH_EVENTS:-20000}
IDLE_S=${BENCH_IDLE_S:-15}
SUBSCRIBERS=${BENCH_SUBSCRIBERS:-1}
LINES=100000
prev=0
for n in $SIZES; do
	if [[ ! $n =~ ^[1-9][0-9]*$ ]] || ((n <= prev)); then
		die "BENCH_CONTAINERS must be growing positive numbers, not '$SIZES'"
	fi
	prev=$n
done
for v in EVENTS IDLE_S; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v must be a positive number, not '${!v}'"
done
[[ $SUBSCRIBERS =~ ^[0-9]+$ ]] || die "BENCH_SUBSCRIBERS must be a number, not '$SUBSCRIBERS'"

require_root
require_cmd ip nft dnsmasq dig jq socat python3
require_shield
require_nftsetd
unset SHIELD_DNSMASQ

init_tmp
watch_env_init
init_shield_dirs
write_profile bench allowed.shield.test 198.18.5.5

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
TICKS=$(getconf CLK_TCK)
# switches PID: voluntary and involuntary context switches summed over its threads.
switches() {
	local v=0 n=0 f a b
	for f in /proc/"$1"/task/*/status; do
		a=$(awk '/^voluntary_ctxt_switches:/ { print $2 }' "$f" 2>/dev/null) || continue
		b=$(awk '/^nonvoluntary_ctxt_switches:/ { print $2 }' "$f" 2>/dev/null) || continue
		v=$((v + ${a:-0}))
		n=$((n + ${b:-0}))
	done
	echo "$v $n"
}
now_ns() { date +%s%N; }
# running PID: alive, not a zombie (a child that exited stays one until waited for).
running() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $st != Z* ]]
}
trap 'rc=$?; stop_all_dnsmasq; (exit "$rc"); _cleanup' EXIT

start_nftsetd
sleep 1
RSS0=$(rss_kb "$NFTSETD_PID")

# ------------------------------------------------------------- the namespaces
attached=0
attach_upto() {
	local i
	for ((i = attached; i < $1; i++)); do
		new_netns "b$i"
		attach_bundle "c$i" "$NS_NAME" --profiles bench
		NS_OF[i]=$NS_NAME
	done
	attached=$1
}
declare -a NS_OF
attach_upto 1

# Real lines of a blocked query, from the first namespace's dnsmasq, as templates.
in_ns "${NS_OF[0]}" dig +short +tries=1 +time=2 @127.0.0.1 template.bench.invalid A >/dev/null || true
LOG0=$STATE_ROOT/containers/c0/dnsmasq.log
wait_until 50 grep -q "config template.bench.invalid is NXDOMAIN" "$LOG0" || die "no blocked query line in $LOG0"
TPL_QUERY=$(grep -m1 "query\[A\] template.bench.invalid" "$LOG0")
TPL_CONFIG=$(grep -m1 "config template.bench.invalid is NXDOMAIN" "$LOG0")
[[ -n $TPL_QUERY ]] || die "no query line in $LOG0"

# SUBSCRIBERS `shield watch --json` clients, each into $TMP/stream.S; started
# and known to be subscribed (each saw a query made after it connected).
SUB_PIDS=()
start_subscribers() {
	local s ready=ready$1.bench.invalid
	for ((s = 0; s < SUBSCRIBERS; s++)); do
		start_bg "$SHIELD_BIN" watch --json >>"$TMP/stream.$s" 2>"$TMP/stream.$s.err"
		SUB_PIDS[s]=$LAST_PID
	done
	((SUBSCRIBERS > 0)) || return 0
	sleep 0.5
	in_ns "${NS_OF[0]}" dig +short +tries=1 +time=2 @127.0.0.1 "$ready" A >/dev/null || true
	for ((s = 0; s < SUBSCRIBERS; s++)); do
		wait_until 100 grep -q "$ready" "$TMP/stream.$s" ||
			die "subscriber $s is not subscribed: $(cat "$TMP/stream.$s.err")"
	done
}
stop_subscribers() {
	local pid
	for pid in "${SUB_PIDS[@]+"${SUB_PIDS[@]}"}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	SUB_PIDS=()
}

# make_lines FILE COUNT TAG: COUNT blocked queries for distinct names, as dnsmasq logs them.
make_lines() {
	awk -v q="$TPL_QUERY" -v c="$TPL_CONFIG" -v n="$2" -v tag="$3" 'BEGIN {
		for (i = 1; i <= n; i++) {
			name = "q" i "." tag ".bench.invalid"
			a = q; b = c
			sub(/ [0-9]+ 127\.0\.0\.1\/[0-9]+ /, " " (100000 + i) " 127.0.0.1/40000 ", a)
			sub(/ [0-9]+ 127\.0\.0\.1\/[0-9]+ /, " " (100000 + i) " 127.0.0.1/40000 ", b)
			sub(/template\.bench\.invalid/, name, a)
			sub(/template\.bench\.invalid/, name, b)
			print a; print b
		}
	}' >"$1"
}
c_lines() { report "c$1" | jq '.containers[0].nftsetd.lines'; }
c_blocked() { report "c$1" | jq '.containers[0].blocked_queries'; }
all_blocked() { report "" | jq '[.containers[].blocked_queries] | add'; }

ROWS=()
for n in $SIZES; do
	say "attaching up to $n namespaces ..."
	attach_upto "$n"
	wait_containers "$n" || die "nftsetd does not report $n containers"
	# A fresh nftsetd finds them all at start: its memory is theirs, not the last round's.
	stop_nftsetd
	[[ $NFTSETD_RC == 0 ]] || die "nftsetd exited $NFTSETD_RC: $(tail -5 "$TMP/nftsetd.log")"
	start_nftsetd
	wait_containers "$n" || die "nftsetd does not report $n containers after its restart"
	sleep 6 # past a periodic dump of everything
	rss=$(rss_kb "$NFTSETD_PID")
	per=$(((rss - RSS0) / n))
	report_bytes=$(report "" | wc -c)

	# Idle.
	read -r v0 p0 < <(switches "$NFTSETD_PID")
	c0=$(cpu_ticks "$NFTSETD_PID")
	sleep "$IDLE_S"
	c1=$(cpu_ticks "$NFTSETD_PID")
	read -r v1 p1 < <(switches "$NFTSETD_PID")
	wakeups=$((v1 - v0))
	idle_cpu_ms=$(((c1 - c0) * 1000 / TICKS))

	# The burst: EVENTS blocked queries over every container, with the subscribers.
	start_subscribers "$n"
	each=$(((EVENTS + n - 1) / n))
	total=$((each * n))
	tag="s$n"
	make_lines "$TMP/lines.$tag" "$each" "$tag"
	for ((i = 0; i < n; i++)); do
		sed "s/\.$tag\.bench/.c$i.$tag.bench/" "$TMP/lines.$tag" >"$TMP/lines.$tag.c$i"
	done
	blocked_before=$(all_blocked)
	c0=$(cpu_ticks "$NFTSETD_PID")
	t0=$(now_ns)
	# One process appends every container's lines, one write each, back to back.
	python3 - "$STATE_ROOT/containers" "$TMP/lines.$tag" "$n" <<'EOF'
import os, sys
state, lines, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = []
for i in range(n):
    with open("%s.c%d" % (lines, i), "rb") as f:
        data.append(f.read())
for i in range(n):
    fd = os.open("%s/c%d/dnsmasq.log" % (state, i), os.O_WRONLY | os.O_APPEND)
    os.write(fd, data[i])
    os.close(fd)
EOF
	# Done when nftsetd's counters say so (one report; the events are written
	# in the same turn as they are counted), checked in events.jsonl after.
	got=0
	for ((k = 0; k < 6000; k++)); do
		got=$(($(all_blocked) - blocked_before))
		((got < total)) || break
		sleep 0.02
	done
	t1=$(now_ns)
	c1=$(cpu_ticks "$NFTSETD_PID")
	filed=$(cat "$STATE_ROOT"/containers/c*/events.jsonl | grep -c "\"blocked_query\".*\.$tag\.bench\.invalid" || true)
	((got >= total && filed == total)) || die "$n containers: $got of $total events counted, $filed filed"
	burst_ms=$(((t1 - t0) / 1000000))
	burst_cpu_ms=$(((c1 - c0) * 1000 / TICKS))
	# What the subscribers received (they may still be copying: wait for them, a while).
	received=()
	for ((s = 0; s < SUBSCRIBERS; s++)); do
		wait_until 300 bash -c '(( $(grep -c "\"blocked_query\".*\.$2\.bench\.invalid" "$1" || true) >= $3 ))' \
			_ "$TMP/stream.$s" "$tag" "$total" || true
		r=$(grep -c "\"blocked_query\".*\.$tag\.bench\.invalid" "$TMP/stream.$s" || true)
		running "${SUB_PIDS[s]}" || r="$r (dropped)"
		received+=("$r")
	done
	((SUBSCRIBERS > 0)) || received=("-")
	stop_subscribers

	# One busy log: LINES synthetic lines into c0's.
	python3 - "$TMP/busy.txt" "$LINES" "$(registry_field c0 dnsmasq_pid)" "$tag" <<'EOF'
import sys, time
path, count, pid, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
stamp = time.strftime("%b %e %H:%M:%S")
with open(path, "w") as f:
    for j in range(count):
        f.write("%s dnsmasq[%s]: %d 127.0.0.1/40000 config blk%d.%s.busy.invalid is NXDOMAIN\n" % (stamp, pid, 900000 + j, j, tag))
EOF
	lines0=$(c_lines 0)
	blocked0=$(c_blocked 0)
	target=$((lines0 + LINES))
	t0=$(now_ns)
	cat "$TMP/busy.txt" >>"$STATE_ROOT/containers/c0/dnsmasq.log"
	for ((k = 0; k < 6000; k++)); do
		[[ $(c_lines 0) == "$target" ]] && break
		sleep 0.02
	done
	t1=$(now_ns)
	[[ $(c_lines 0) == "$target" ]] || die "nftsetd did not read the $LINES lines"
	busy_ms=$(((t1 - t0) / 1000000))
	busy_events=$(($(c_blocked 0) - blocked0))
	rss_after=$(rss_kb "$NFTSETD_PID")

	rate() { awk -v e="$1" -v ms="$2" 'BEGIN { printf "%.0f", (e * 1000 / (ms > 0 ? ms : 1)) }'; }
	ROWS+=("| $n | $rss | $per | $report_bytes | $wakeups ($(awk -v w="$wakeups" -v s="$IDLE_S" 'BEGIN { printf "%.2f", w / s }')/s, $((p1 - p0)) preempted) | $idle_cpu_ms | $total | $burst_ms | $(rate "$total" "$burst_ms") | $burst_cpu_ms | ${received[*]} | $(rate "$LINES" "$busy_ms") ($busy_events events) | $rss_after |")
	say "$n containers: RSS $rss KiB ($per KiB each), report $report_bytes bytes, idle $wakeups wake-ups and $idle_cpu_ms ms CPU in $IDLE_S s," \
		"burst of $total events in $burst_ms ms (CPU $burst_cpu_ms ms), received ${received[*]}, busy log $(rate "$LINES" "$busy_ms") lines/s"
done
stop_nftsetd
[[ $NFTSETD_RC == 0 ]] || die "nftsetd exited $NFTSETD_RC: $(tail -5 "$TMP/nftsetd.log")"

build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$(dirname "$NFTSETD_BIN")/../CMakeCache.txt" 2>/dev/null) || true
cat <<EOF

### nftsetd at scale ($("$NFTSETD_BIN" --version), build ${build_type:-unknown}, $(nproc) CPUs, kernel $(uname -r))

| containers | RSS KiB | KiB per container | report bytes | idle wake-ups in ${IDLE_S} s | idle CPU ms | burst events | ms until filed | events/s | nftsetd CPU ms | received by each of $SUBSCRIBERS subscriber(s) | one busy log: lines/s | RSS KiB after |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
$(printf '%s\n' "${ROWS[@]}")

RSS with an empty registry: $RSS0 KiB. Burst: each event a blocked query (two log lines, as
dnsmasq writes them) tailed, parsed, judged, appended to its container's events.jsonl (counted
there) and sent to every \`shield watch --json\` subscriber; "(dropped)": nftsetd dropped the
subscriber. Busy log: $LINES blocked-query lines appended to one container's log at once.
$(dnsmasq --version | head -n 1 | sed 's/  Copyright.*//').
EOF
