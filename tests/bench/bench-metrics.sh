#!/usr/bin/env bash
# What a metrics scrape costs nftsetd: BENCH_CONTAINERS (default "10 200")
# namespaces shielded with `shield attach` (real dnsmasq, real kernel), one
# nftsetd with --metrics-listen 127.0.0.1:0. For each size it reports
#   - the size of an answer (bytes, lines, bytes per container);
#   - BENCH_SCRAPES (default 200) scrapes back to back over the socket and
#     over HTTP (one Python client, a new connection each, as Prometheus
#     does): wall time per scrape, and nftsetd's CPU time per scrape (from
#     /proc/PID/stat, so the client's own cost is not in it);
#   - audit.jsonl followed, not re-read: 100,000 audit lines (one "setup"
#     each 100) appended to one bundle, then the scrapes that read them (at
#     most 4 MiB per container per scrape) and the one after, whose cost is
#     back to that of the idle scrape.
# No number is asserted: it fails only when something does not work. Run:
#   sudo tests/bench/bench-metrics.sh      (after a build; release for numbers)
#   ctest --test-dir build/release -L bench -R metrics -V
# shellcheck disable=SC2016 # python scripts are single-quoted on purpose
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=tests/integration/lib-watch.sh
source "$(dirname "$0")/../integration/lib-watch.sh"

SIZES=${BENCH_CONTAINERS:-10 200}
SCRAPES=${BENCH_SCRAPES:-200}
require_root
require_cmd ip nft dnsmasq jq socat python3
require_shield
require_nftsetd

init_tmp
watch_env_init
init_shield_dirs
write_profile b allowed.shield.test other.shield.test 198.18.5.5 2001:db8:5::5

cat >"$TMP/scrape.py" <<'EOF'
# scrape.py MODE TARGET N: N scrapes back to back ("unix" PATH or "http" PORT),
# a new connection each; prints "bytes total_seconds".
import socket, sys, time
mode, target, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
size = 0
t0 = time.monotonic()
for _ in range(n):
    if mode == "unix":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(target)
        s.sendall(b'{"request":"metrics"}\n')
    else:
        s = socket.create_connection(("127.0.0.1", int(target)))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n")
    data = bytearray()
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        data += b
    s.close()
    size = len(data)
t1 = time.monotonic()
print(size, t1 - t0)
EOF

cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

# measure LABEL MODE TARGET N: one line of results.
measure() {
	local c0 c1 out bytes secs
	c0=$(cpu_ticks "$NFTSETD_PID")
	out=$(python3 "$TMP/scrape.py" "$2" "$3" "$4")
	c1=$(cpu_ticks "$NFTSETD_PID")
	read -r bytes secs <<<"$out"
	awk -v l="$1" -v n="$4" -v b="$bytes" -v s="$secs" -v c=$((c1 - c0)) -v hz="$HZ" 'BEGIN {
		printf "    %-34s %5d scrapes: %8.3f ms wall each, nftsetd CPU %7.3f ms each (%d bytes)\n",
			l, n, s * 1000 / n, c * 1000 / hz / n, b }' >&2
}

n=0
for size in $SIZES; do
	[[ $size =~ ^[1-9][0-9]*$ ]] || die "BENCH_CONTAINERS: '$size' is not a number"
	while ((n < size)); do
		new_netns "m$n"
		attach_bundle "m$n" "$NS_NAME" --profiles b
		n=$((n + 1))
	done
	[[ -z ${NFTSETD_PID:-} ]] || stop_nftsetd
	: >"$TMP/nftsetd.log"
	# --resync 3600: no periodic dump of every namespace falls into a measurement.
	start_nftsetd --metrics-listen 127.0.0.1:0 --resync 3600
	wait_containers "$n" || die "nftsetd does not watch all $n"
	PORT=$(sed -nE 's|.*metrics served on http://127\.0\.0\.1:([0-9]+)/metrics.*|\1|p' "$TMP/nftsetd.log" | tail -n 1)
	sleep 2 # the attach dumps are over
	shield metrics >"$TMP/m.txt"
	say ""
	say "$n containers: one answer is $(wc -c <"$TMP/m.txt") bytes, $(wc -l <"$TMP/m.txt") lines, $(($(wc -c <"$TMP/m.txt") / n)) bytes per container"
	measure "socket" unix "$SOCK" "$SCRAPES"
	measure "HTTP GET /metrics" http "$PORT" "$SCRAPES"
done

# -------------------------------------------------- audit.jsonl followed
AUDIT=$STATE_ROOT/containers/m0/audit.jsonl
python3 - "$AUDIT" <<'EOF'
import sys
with open(sys.argv[1], "a") as f:
    for i in range(100000):
        if i % 100 == 0:
            f.write('{"ts":"2026-11-26T00:00:00.000+00:00","container":"m0","action":"setup","detail":"podman: mode up, 31 rules, 2 static elements, verified; dnsmasq pid 1; %d.5 ms"}\n' % (i % 50))
        else:
            f.write('{"ts":"2026-11-26T00:00:00.000+00:00","container":"m0","action":"allowed","dest":"example%d.shield.test"}\n' % i)
EOF
say ""
say "audit.jsonl of one of $n containers grew by $(($(stat -c %s "$AUDIT") / 1024)) KiB (100,000 lines, 1,000 setup entries):"
for i in 1 2 3 4; do
	measure "scrape $i after the growth" unix "$SOCK" 1
done
count=$(shield metrics | awk 'index($0, "shield_hook_duration_seconds_count{container=\"m0\",") == 1 { print $NF }')
say "    m0's hook histogram counts $count setups (1 from the attach + 1000 appended)"
[[ $count == 1001 ]] || die "the hook histogram of m0 counts $count setups, not 1001"
measure "idle again" unix "$SOCK" "$SCRAPES"

stop_nftsetd
stop_all_dnsmasq
[[ $NFTSETD_RC == 0 ]] || die "nftsetd exited $NFTSETD_RC"
say ""
say "bench-metrics: done"
