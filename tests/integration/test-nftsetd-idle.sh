#!/usr/bin/env bash
# nftsetd costs nothing while nothing happens: 200 namespaces shielded with
# `shield attach` (each with its own dnsmasq), watched by one nftsetd, which
# then sits idle for ~10 s. Its wakeups are counted (voluntary context
# switches of all its threads, from /proc/PID/task/*/status): at most about
# one per second overall, whatever the number of containers (their timers
# are one timer). A count, not a timing.
#
# SHIELD_IDLE_NAMESPACES overrides the 200 (e.g. for a quick local run).
# shellcheck disable=SC2016 # jq filters are single-quoted on purpose
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib-watch.sh
source "$(dirname "$0")/lib-watch.sh"

N=${SHIELD_IDLE_NAMESPACES:-200}
IDLE_S=10
[[ $N =~ ^[1-9][0-9]*$ ]] || die "SHIELD_IDLE_NAMESPACES must be a positive number, not '$N'"

require_root
require_cmd ip nft dnsmasq jq socat
require_shield
require_nftsetd

init_tmp
watch_env_init
init_shield_dirs
write_profile idle allowed.shield.test other.shield.test 198.18.5.5 2001:db8:5::5

# -------------------------------------------------------------- the namespaces
say "attaching $N namespaces ..."
t0=$(date +%s%N)
for ((i = 0; i < N; i++)); do
	new_netns "i$i"
	attach_bundle "n$i" "$NS_NAME" --profiles idle
done
t1=$(date +%s%N)
dnsmasq_kb=0
for f in "$RUN"/containers/*.json; do
	pid=$(jq -r .dnsmasq_pid "$f")
	kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
	dnsmasq_kb=$((dnsmasq_kb + kb))
done
say "attached $N namespaces in $(((t1 - t0) / 1000000)) ms; their dnsmasqs hold $((dnsmasq_kb / 1024)) MiB RSS in all ($((dnsmasq_kb / N)) KiB each)"
check "$N registry entries" test "$(find "$RUN/containers" -name '*.json' | wc -l)" = "$N"

# ------------------------------------------------------------------- nftsetd
start_nftsetd
# all_clean: the report lists all N containers, each clean.
all_clean() {
	report "" | jq -e --argjson n "$N" '(.containers | length) == $n and all(.containers[]; .clean)' >/dev/null
}
check "nftsetd watches all $N" wait_containers "$N"
check "all $N are clean" all_clean

# switches PID: "voluntary involuntary threads" summed over every thread of PID.
switches() {
	local v=0 n=0 t=0 f a b
	for f in /proc/"$1"/task/*/status; do
		a=$(awk '/^voluntary_ctxt_switches:/ { print $2 }' "$f" 2>/dev/null) || continue
		b=$(awk '/^nonvoluntary_ctxt_switches:/ { print $2 }' "$f" 2>/dev/null) || continue
		v=$((v + ${a:-0}))
		n=$((n + ${b:-0}))
		t=$((t + 1))
	done
	echo "$v $n $t"
}
# cpu_ticks PID: utime + stime of the whole process, in clock ticks.
cpu_ticks() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# Settle: the attach work and the first periodic dumps are over.
sleep 6
read -r v0 n0 th0 < <(switches "$NFTSETD_PID")
c0=$(cpu_ticks "$NFTSETD_PID")
s0=$(date +%s%N)
sleep "$IDLE_S"
read -r v1 n1 th1 < <(switches "$NFTSETD_PID")
c1=$(cpu_ticks "$NFTSETD_PID")
s1=$(date +%s%N)
secs=$(((s1 - s0 + 999999999) / 1000000000))
wakeups=$((v1 - v0))
rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$NFTSETD_PID/status")
say "idle ${secs} s with $N containers: $wakeups wakeups (voluntary switches), $((n1 - n0)) involuntary, threads $th0 -> $th1, $((c1 - c0)) CPU ticks, RSS $rss KiB ($((rss / N)) KiB per container)"

check "idle: at most one wakeup per second overall ($wakeups in ${secs} s, $N containers)" \
	test "$wakeups" -le "$secs"
check "idle: no thread appeared meanwhile (no per-container threads)" test "$th1" -le "$th0"
check "still clean after the idle period" all_clean

stop_nftsetd
check "nftsetd exits 0 on SIGTERM" test "$NFTSETD_RC" = 0
stop_all_dnsmasq
finish
