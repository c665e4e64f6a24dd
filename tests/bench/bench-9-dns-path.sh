#!/usr/bin/env bash
# Benchmark 9 (issue 7): what the DNS path costs. Queries per second and
# latency through a container's dnsmasq as shield configures it (`shield
# attach`: query log, nftset, NXDOMAIN for what is not allowed, nftsetd
# tailing the log) against a plain dnsmasq (no log, no nftset, same
# upstream, same cache size), each in a network namespace of its own, both
# forwarding to this benchmark's own DNS server (a dnsmasq in a hosts
# namespace over veths and a bridge; nothing leaves the machine). dnsperf
# (Debian's) asks 127.0.0.1 inside each namespace; runs are interleaved
# (shield, plain, shield, plain, ...), BENCH_RUNS times (default 3), each
# BENCH_DNS_S seconds (default 4), for three loads:
#   - cached: 100 allowed names asked over and over, as fast as dnsperf
#     can (up to 100 queries outstanding): answered from dnsmasq's cache;
#   - cached at BENCH_DNS_RATE (default 2,000) queries/s: the latency of a
#     machine that is not saturated;
#   - new names: every query a name never asked before, as fast as
#     dnsperf can: dnsmasq forwards it upstream and (shield) adds the
#     answer to the nftset and logs it.
# Report only (no target): it is dnsmasq's cost, but operators will ask.
#
#   sudo tests/bench/bench-9-dns-path.sh     (after cmake --build --preset release)
#
# It fails only when something does not work (an attach, a dnsmasq that
# does not answer, dnsperf losing most queries). Everything it creates is
# removed.
# shellcheck disable=SC2016 # bash -c scripts expand their own arguments
set -euo pipefail
# shellcheck source=tests/bench/lib-bench.sh
source "$(dirname "$0")/lib-bench.sh"
# shellcheck source=tests/integration/lib-watch.sh
source "$(dirname "$0")/../integration/lib-watch.sh"

DNS_S=${BENCH_DNS_S:-4}
DNS_RATE=${BENCH_DNS_RATE:-2000}

bench_section 9 "DNS path cost: shield's dnsmasq against a plain one"
bench_reproduce "sudo tests/bench/bench-9-dns-path.sh"

RUNS=$(bench_runs 3)
for v in DNS_S DNS_RATE; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "BENCH_$v must be a positive number, not '${!v}'"
done
require_root
require_cmd ip nft dnsmasq dig jq socat dnsperf
require_shield
require_nftsetd
unset SHIELD_DNSMASQ

init_tmp
watch_env_init
init_shield_dirs
write_profile bench load.shield.test
# set +e first: under errexit, (exit "$rc") with rc != 0 would end the trap before _cleanup.
trap 'rc=$?; set +e; stop_all_dnsmasq; (exit "$rc"); _cleanup' EXIT

# The hosts namespace: a bridge and the upstream, authoritative for every
# name under load.shield.test (TTL 300, so the answers are cached), no log.
new_netns up
UP_NS=$NS_NAME
ip -n "$UP_NS" link add br0 address 02:00:00:ff:00:01 type bridge
ip -n "$UP_NS" addr add "$DNS_UPSTREAM/15" dev br0
ip -n "$UP_NS" link set br0 up
start_bg ip netns exec "$UP_NS" dnsmasq -k --conf-file=/dev/null \
	--no-resolv --no-hosts --no-poll --bind-interfaces \
	--listen-address="$DNS_UPSTREAM" --port 53 --user=root --group=root \
	--pid-file="$TMP/upstream-dns.pid" --cache-size=0 --local-ttl=300 \
	--address=/load.shield.test/198.18.5.5

# link_ns NS I: a veth from NS to the bridge, 198.19.0.I/15.
link_ns() {
	ip link add eth0 netns "$1" type veth peer name "v$2" netns "$UP_NS" ||
		die "cannot create the veth pair of $1"
	ip -n "$1" addr add "198.19.0.$2/15" dev eth0
	ip -n "$1" link set eth0 up
	ip -n "$UP_NS" link set "v$2" master br0 up
}

start_nftsetd
new_netns shield
SHIELD_NS=$NS_NAME
link_ns "$SHIELD_NS" 1
attach_bundle c0 "$SHIELD_NS" --profiles bench
wait_containers 1 || die "nftsetd does not report the container"

new_netns plain
PLAIN_NS=$NS_NAME
link_ns "$PLAIN_NS" 2
# The plain dnsmasq: what an operator would run without shield, with the
# upstream and cache size of shield's (dnsmasq's default, 150).
cache=$(sed -n 's/^cache-size=//p' "$STATE_ROOT/containers/c0/dnsmasq.conf")
start_bg ip netns exec "$PLAIN_NS" dnsmasq -k --conf-file=/dev/null \
	--no-resolv --no-hosts --no-poll --bind-interfaces --listen-address=127.0.0.1 --port 53 \
	--user=nobody --pid-file="$TMP/plain.pid" --server="$DNS_UPSTREAM" ${cache:+--cache-size="$cache"}
for ns in "$SHIELD_NS" "$PLAIN_NS"; do
	wait_until 100 bash -c '[[ $(ip netns exec "$1" dig +short +tries=1 +time=1 @127.0.0.1 p0.load.shield.test A) == 198.18.5.5 ]]' _ "$ns" ||
		die "the dnsmasq in $ns does not answer"
done

# The query files: 100 cached names; per run, names never asked before.
for ((k = 0; k < 100; k++)); do echo "p$k.load.shield.test A"; done >"$TMP/cached.txt"
# new_names FILE TAG: 200,000 names under TAG (more than a run asks).
new_names() {
	awk -v t="$2" 'BEGIN { for (i = 0; i < 200000; i++) printf "n%d.%s.load.shield.test A\n", i, t }' >"$1"
}

# perf_run NS FILE TAG [DNSPERF OPTIONS...]: one dnsperf run; appends the
# queries/s to $TMP/TAG.qps and the average latency (µs) to $TMP/TAG.lat.
perf_run() {
	local ns=$1 file=$2 tag=$3 out qps lat lost sent
	shift 3
	out=$(ip netns exec "$ns" dnsperf -s 127.0.0.1 -d "$file" -l "$DNS_S" "$@" 2>&1) ||
		die "dnsperf in $ns failed: $out"
	qps=$(awk '/Queries per second:/ { print $4 }' <<<"$out")
	lat=$(awk '/Average Latency \(s\):/ { printf "%.1f", $4 * 1e6 }' <<<"$out")
	sent=$(awk '/Queries sent:/ { print $3 }' <<<"$out")
	lost=$(awk '/Queries lost:/ { print $3 }' <<<"$out")
	[[ -n $qps && -n $lat && -n $sent ]] || die "no figures in dnsperf's output: $out"
	((lost * 10 <= sent)) || die "dnsperf in $ns lost $lost of $sent queries: $out"
	echo "$qps" >>"$TMP/$tag.qps"
	echo "$lat" >>"$TMP/$tag.lat"
	say "  $tag: $qps q/s, $lat µs average, $lost of $sent lost"
}

PERF=0
if command -v perf >/dev/null && perf stat -x, -e task-clock -- true >/dev/null 2>&1; then
	PERF=1
fi
# Warm both caches.
for ns in "$SHIELD_NS" "$PLAIN_NS"; do
	ip netns exec "$ns" dnsperf -s 127.0.0.1 -d "$TMP/cached.txt" -n 1 >/dev/null 2>&1 || true
done
for ((r = 0; r < RUNS; r++)); do
	perf_run "$SHIELD_NS" "$TMP/cached.txt" cached-shield
	perf_run "$PLAIN_NS" "$TMP/cached.txt" cached-plain
	perf_run "$SHIELD_NS" "$TMP/cached.txt" rate-shield -Q "$DNS_RATE"
	perf_run "$PLAIN_NS" "$TMP/cached.txt" rate-plain -Q "$DNS_RATE"
	new_names "$TMP/new.txt" "r$r"
	# Where shield's dnsmasq spends its time on new names (the first run,
	# when perf works): its CPU samples by library.
	prof_pid=
	if ((r == 0 && PERF)); then
		perf record -q -o "$TMP/perf.data" -p "$(registry_field c0 dnsmasq_pid)" -- sleep "$(((DNS_S + 1) / 2))" >/dev/null 2>&1 &
		prof_pid=$!
	fi
	perf_run "$SHIELD_NS" "$TMP/new.txt" new-shield
	[[ -z $prof_pid ]] || wait "$prof_pid" || true
	perf_run "$PLAIN_NS" "$TMP/new.txt" new-plain
done
# What shield's dnsmasq did in the new-names runs: every answer in the set.
elems=$(ip netns exec "$SHIELD_NS" nft -j list set inet terok_shield allow_v4 | jq '[.nftables[].set.elem? // empty | length] | add // 0')
stop_nftsetd
[[ $NFTSETD_RC == 0 ]] || die "nftsetd exited $NFTSETD_RC: $(tail -5 "$TMP/nftsetd.log")"

cache_note=${cache:-"the default (150)"}
bench_text "$(dnsmasq --version | head -n 1 | sed 's/  Copyright.*//'); $(dpkg-query -W -f='dnsperf ${Version}' dnsperf 2>/dev/null || echo dnsperf);" \
	"$RUNS interleaved runs of $DNS_S s each; cache size $cache_note for both; shield's dnsmasq with nftsetd tailing its log."
bench_table "load / dnsmasq" runs min median max unit
for load in cached rate new; do
	for who in shield plain; do
		bench_stats_row "$load, $who: queries/s" "q/s" "$TMP/$load-$who.qps"
	done
	for who in shield plain; do
		bench_stats_row "$load, $who: average latency" "µs" "$TMP/$load-$who.lat"
	done
	bench_ratio_row "$load: shield's q/s ÷ plain's" "$TMP/$load-plain.qps" "$TMP/$load-shield.qps"
	bench_ratio_row "$load: shield's latency ÷ plain's" "$TMP/$load-plain.lat" "$TMP/$load-shield.lat"
done
bench_end_table

c_ratio=$(bench_ratio_pairs "$TMP/cached-plain.qps" "$TMP/cached-shield.qps" | awk '{ print $2 }')
n_ratio=$(bench_ratio_pairs "$TMP/new-plain.qps" "$TMP/new-shield.qps" | awk '{ print $2 }')
bench_text "Loads: \"cached\" asks 100 allowed names over and over as fast as dnsperf can (up to 100 outstanding);" \
	"\"rate\" the same names at $DNS_RATE q/s (latency when dnsmasq is not saturated); \"new\" a name never asked" \
	"before in every query, so both forward it upstream and shield's dnsmasq also adds the answer to its nftset" \
	"(allow_v4 held $elems element(s) at the end: every answer is the same address) and logs it." \
	"shield's dnsmasq logs every query (log-queries=extra, three or four lines each) to a file that nftsetd reads," \
	"and matches names against its allowlist (server=/domain/, address=/#/): the cost on cached answers."
if [[ -s $TMP/perf.data ]]; then
	shares=$(perf report -i "$TMP/perf.data" --no-children --sort dso --stdio 2>/dev/null |
		awk '/^ +[0-9.]+%/ && n < 4 { printf "%s%s %s", (n++ ? ", " : ""), $2, $1 }')
	bench_text "On new names, shield's dnsmasq's CPU samples by library (perf record, first run): ${shares:-none}." \
		"dnsmasq adds each answer to its nftset through libnftables (one command per answer, with its parser" \
		"and GMP arithmetic), which is most of what makes a forwarded answer dearer than a plain dnsmasq's." \
		"That is dnsmasq's nftset support, which shield configures but does not run itself."
fi
bench_verdict 9 "— (report only)" "cached: ${c_ratio}× plain's q/s; new names: ${n_ratio}× (medians of per-pair ratios)" report \
	"" "DNS path cost (shield ÷ plain dnsmasq)"
