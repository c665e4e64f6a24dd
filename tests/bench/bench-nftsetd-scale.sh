#!/usr/bin/env bash
# nftsetd at scale: memory per watched container and events handled per
# second, with 50 and then 200 namespaces shielded by `shield attach`
# (real dnsmasq each, real kernel), one nftsetd watching them all.
#
#   sudo tests/bench/bench-nftsetd-scale.sh     (after cmake --build --preset dev)
#   ctest --test-dir build/dev -L bench -V      (the test presets exclude label bench)
#
# Memory: nftsetd's RSS (VmRSS) with an empty registry, then with each
# number of containers once it reports them all; per container = the growth
# divided by the containers added.
#
# Events: BENCH_EVENTS blocked queries spread over the containers, written
# into their dnsmasq.log files at once as the lines dnsmasq writes for them
# (templates taken from a real query of this run: "query[A] NAME from ..."
# then "config NAME is NXDOMAIN", each name different), so that what is
# measured is nftsetd (tail, parse, shadow, events.jsonl, socket) and not
# dnsmasq. Time from the first write until every blocked_query event is in
# the containers' events.jsonl; nftsetd's CPU time over the same span; and
# how many of them a `shield watch --json` subscriber received (nftsetd
# drops a subscriber that falls 1 MiB behind).
#
# Environment: BENCH_SCALES (default "50 200"), BENCH_EVENTS (default 20000).
# No timing is asserted: it fails only when something does not work (an
# attach fails, events go missing). Everything it creates is removed.
# shellcheck disable=SC2016 # jq filters are single-quoted on purpose
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=tests/integration/lib-watch.sh
source "$(dirname "$0")/../integration/lib-watch.sh"

SCALES=${BENCH_SCALES:-50 200}
EVENTS=${BENCH_EVENTS:-20000}
[[ $EVENTS =~ ^[1-9][0-9]*$ ]] || die "BENCH_EVENTS must be a positive number, not '$EVENTS'"
for n in $SCALES; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "BENCH_SCALES must be positive numbers, not '$SCALES'"
done

require_root
require_cmd ip nft dnsmasq dig jq socat
require_shield
require_nftsetd

init_tmp
watch_env_init
init_shield_dirs
write_profile bench allowed.shield.test 198.18.5.5

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
TICKS=$(getconf CLK_TCK)

start_nftsetd
sleep 1
RSS0=$(rss_kb "$NFTSETD_PID")
STREAM=$TMP/stream.jsonl
start_bg shield watch --json >"$STREAM" 2>"$TMP/stream.err"

# Real lines of a blocked query, from the first namespace's dnsmasq, as templates.
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
in_ns "${NS_OF[0]}" dig +short +tries=1 +time=2 @127.0.0.1 template.bench.invalid A >/dev/null || true
LOG0=$STATE_ROOT/containers/c0/dnsmasq.log
wait_until 50 grep -q "config template.bench.invalid is NXDOMAIN" "$LOG0" || die "no blocked query line in $LOG0"
TPL_QUERY=$(grep -m1 "query\[A\] template.bench.invalid" "$LOG0")
TPL_CONFIG=$(grep -m1 "config template.bench.invalid is NXDOMAIN" "$LOG0")
[[ -n $TPL_QUERY ]] || die "no query line in $LOG0"
wait_until 100 grep -q template.bench.invalid "$STREAM" || die "the subscriber never saw the template query"

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

ROWS=()
for n in $SCALES; do
	attach_upto "$n"
	wait_containers "$n" || die "nftsetd does not report $n containers"
	sleep 6 # past a periodic dump of everything
	rss=$(rss_kb "$NFTSETD_PID")
	per=$(((rss - RSS0) / n))

	# The load: EVENTS blocked queries, spread evenly.
	each=$(((EVENTS + n - 1) / n))
	total=$((each * n))
	tag="s$n"
	make_lines "$TMP/lines.$tag" "$each" "$tag"
	before=$(grep -c "\.$tag\.bench\.invalid" "$STREAM" || true)
	c0=$(cpu_ticks "$NFTSETD_PID")
	t0=$(date +%s%N)
	for ((i = 0; i < n; i++)); do
		sed "s/\.$tag\.bench/.c$i.$tag.bench/" "$TMP/lines.$tag" >>"$STATE_ROOT/containers/c$i/dnsmasq.log"
	done
	# Handled: the events nftsetd wrote to the containers' events.jsonl.
	got=0
	for ((k = 0; k < 6000; k++)); do
		got=$(cat "$STATE_ROOT"/containers/c*/events.jsonl | grep -c "\"blocked_query\".*\.$tag\.bench\.invalid" || true)
		((got < total)) || break
		sleep 0.05
	done
	t1=$(date +%s%N)
	c1=$(cpu_ticks "$NFTSETD_PID")
	((got >= total)) || die "$n containers: $got of $total events handled"
	sleep 1
	received=$(($(grep -c "\.$tag\.bench\.invalid" "$STREAM" || true) - before))
	if grep -q "nftsetd closed the connection" "$TMP/stream.err"; then
		received="$received (dropped)"
		# A new subscriber for the next round.
		start_bg shield watch --json >>"$STREAM" 2>"$TMP/stream.err"
		sleep 0.5
	fi
	ms=$(((t1 - t0) / 1000000))
	cpu_ms=$(((c1 - c0) * 1000 / TICKS))
	rate=$(awk -v e="$total" -v ms="$ms" 'BEGIN { printf "%.0f", (e * 1000 / (ms > 0 ? ms : 1)) }')
	cpu_rate=$(awk -v e="$total" -v ms="$cpu_ms" 'BEGIN { printf "%.0f", (ms > 0 ? e * 1000 / ms : 0) }')
	ROWS+=("| $n | $rss | $per | $total | $ms | $rate | $cpu_ms | $cpu_rate | $received |")
	say "$n containers: RSS $rss KiB ($per KiB per container), $total events in $ms ms ($rate/s), nftsetd CPU $cpu_ms ms, subscriber received $received"
done
stop_nftsetd
for f in "$RUN"/containers/*.json; do
	kill "$(jq -r .dnsmasq_pid "$f")" 2>/dev/null || true
done

build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$(dirname "$NFTSETD_BIN")/../CMakeCache.txt" 2>/dev/null) || true
cat <<EOF

### nftsetd at scale: memory per watched container, events handled per second

| containers | nftsetd RSS KiB | KiB per container | events | ms until all handled | events/s | nftsetd CPU ms | events per CPU s | received by the subscriber |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
$(printf '%s\n' "${ROWS[@]}")

RSS with an empty registry: $RSS0 KiB. Each event: a blocked query (two log lines, as dnsmasq
writes them) tailed, parsed, judged by the shadow, appended to the container's events.jsonl
(counted there) and sent to one \`shield watch --json\` subscriber; "(dropped)": nftsetd dropped
the subscriber for falling 1 MiB behind during the burst.

Machine: $(nproc) CPUs, kernel $(uname -r), $(dnsmasq --version | head -n 1 | sed 's/  Copyright.*//'), build ${build_type:-unknown}.
EOF
