#!/usr/bin/env bash
# nftsetd's Prometheus metrics against the real nftsetd, real dnsmasq and the
# real kernel (namespaces shielded with `shield attach`), on its socket
# (`shield metrics`) and over HTTP (--metrics-listen 127.0.0.1:0):
#
#   - `promtool check metrics` (Prometheus' own parser and linter) accepts
#     both answers, also with a container name full of \, " and a newline;
#   - the values follow real events: a blocked query, an allowed answer (set
#     size), a rotation, `nft add element` from outside (drift.unexplained,
#     open then resolved), `nft delete element` of a static entry (drift.missing
#     and a repair), a subscriber, dnsmasq killed (dnsmasq_up 0, dnsmasq.down);
#   - the hook's setup times come from audit.jsonl, each entry counted once
#     however often it is scraped, a new setup (a second attach) counted
#     when it lands;
#   - the HTTP side with curl and raw sockets: 200 for GET/HEAD /metrics
#     (HTTP/1.1 and 1.0), 404, 405 with Allow, 505, 431 for an oversized
#     header, 408 for a client that never finishes its request (served
#     others meanwhile), a flood of idle connections that cannot lock a
#     scrape out, and a clean exit (0) with connections open;
#   - --metrics-listen refuses a non-loopback address without
#     --metrics-allow-remote, and serves one with it (inside a test namespace).
# shellcheck disable=SC2016 # jq filters and python scripts are single-quoted on purpose
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib-watch.sh
source "$(dirname "$0")/lib-watch.sh"

require_root
require_cmd ip nft dnsmasq dig jq socat curl promtool python3
require_shield
require_nftsetd

init_tmp
watch_env_init
topo_build
# rot.shield.test comes from a hosts file the test rewrites (SIGHUP); TTL 0,
# so web's dnsmasq asks upstream every time and sees the answer change.
UP_HOSTS=$TMP/upstream.hosts
echo "198.18.1.20 rot.shield.test" >"$UP_HOSTS"
topo_start_dns --addn-hosts="$UP_HOSTS"
init_shield_dirs

readonly STATIC=198.18.5.5 ALIEN=198.18.9.9
write_profile m "$DNS_NAME_ALLOWED" rot.shield.test "$STATIC"
attach_bundle web "$CLIENT_NS" --profiles m
new_netns two
TWO_NS=$NS_NAME
attach_bundle two "$TWO_NS" --profiles m
WEB_DIR=$STATE_ROOT/containers/web

start_nftsetd --resync 1 --metrics-listen 127.0.0.1:0
wait_containers 2 || die "nftsetd did not attach both namespaces"
PORT=$(sed -nE 's|.*metrics served on http://127\.0\.0\.1:([0-9]+)/metrics.*|\1|p' "$TMP/nftsetd.log" | tail -n 1)
[[ $PORT =~ ^[0-9]+$ ]] || die "nftsetd did not log its metrics port: $(cat "$TMP/nftsetd.log")"
URL=http://127.0.0.1:$PORT/metrics
say "    (metrics on $URL)"

# ------------------------------------------------------------------ helpers

# scrape: the socket's metrics (shield metrics) into $TMP/m.txt.
scrape() { shield metrics >"$TMP/m.txt"; }
# val SERIES-PREFIX: the value of the one sample whose line starts with the
# prefix (name{labels up to where they differ}), from a fresh scrape.
val() {
	scrape || return 1
	awk -v k="$1" 'index($0, k) == 1 { print $NF; n++ } END { exit n != 1 }' "$TMP/m.txt"
}
# val_is PREFIX WANT: a fresh scrape has that value (said otherwise).
val_is() {
	local v
	v=$(val "$1") || { say "    no single sample $1 in:"; grep -F "${1%%\{*}" "$TMP/m.txt" | sed 's/^/      /' >&2; return 1; }
	[[ $v == "$2" ]] && return 0
	say "    $1 is $v, expected $2"
	return 1
}
# wait_val PREFIX WANT: until it has that value (up to 30 s).
wait_val() {
	local i
	for ((i = 0; i < 300; i++)); do
		[[ $(val "$1" 2>/dev/null) == "$2" ]] && return 0
		sleep 0.1
	done
	val_is "$1" "$2"
}
# promtool_ok FILE: Prometheus' parser and linter accept it.
promtool_ok() {
	local out rc=0
	out=$(promtool check metrics <"$1" 2>&1) || rc=$?
	[[ $rc == 0 && -z $out ]] && return 0
	say "    promtool check metrics (exit $rc): $out"
	return 1
}
q() { in_ns "$CLIENT_NS" dig +short +tries=1 +time=2 @127.0.0.1 "$1" A 2>/dev/null || true; }
W='{container="web",'

# ------------------------------------------------ format: promtool, both ways
check "shield metrics prints the socket's metrics" scrape
check "promtool check metrics accepts the socket's answer" promtool_ok "$TMP/m.txt"
http_get() { curl -sS -o "$TMP/h.txt" -D "$TMP/h.hdr" "$URL"; }
check "GET /metrics answers 200" http_get
check "promtool check metrics accepts the HTTP answer" promtool_ok "$TMP/h.txt"
series() { grep -v '^#' "$1" | sed -E 's/ [^ ]+$//' | grep -v '^shield_metrics_scrapes_total$' | sort; }
same_series() {
	scrape
	http_get
	diff <(series "$TMP/m.txt") <(series "$TMP/h.txt") >&2
}
check "socket and HTTP carry the same series" same_series
content_type() { tr -d '\r' <"$TMP/h.hdr" | grep -qx 'Content-Type: text/plain; version=0.0.4; charset=utf-8'; }
check "Content-Type: text/plain; version=0.0.4" content_type
check "two containers watched" val_is "shield_watched_containers " 2
check "build info names the version" val_is "shield_nftsetd_build_info{version=\"$("$NFTSETD_BIN" --version | cut -d' ' -f2)\"} " 1
check "every check kind has a drift counter for web" bash -c '[[ $(grep -c "^shield_drift_events_total{container=\"web\"," "$1") == 7 ]]' _ "$TMP/m.txt"

# ------------------------------------------------- hook times from audit.jsonl
check "web's setup entry: one observation in the hook histogram" val_is "shield_hook_duration_seconds_count$W" 1
scrape
scrape
check "... still one after more scrapes (audit.jsonl is followed, not recounted)" val_is "shield_hook_duration_seconds_count$W" 1
check "... the +Inf bucket holds it" val_is "shield_hook_duration_seconds_bucket${W}id=\"$(registry_field web id)\",le=\"+Inf\"} " 1
sum_positive() { awk '$1 > 0 { ok = 1 } END { exit !ok }' <<<"$(val "shield_hook_duration_seconds_sum$W")"; }
check "... its sum is the time audit.jsonl says (> 0)" sum_positive
shield attach --netns "$(netns_path "$CLIENT_NS")" web >/dev/null || die "second attach of web failed"
check "a second setup (attach again) is counted when it lands: 2" wait_val "shield_hook_duration_seconds_count$W" 2
# A line being written (no newline yet) waits for its end.
printf '%s' '{"ts":"2026-11-26T00:00:00.000+00:00","container":"web","action":"setup","detail":"podman: mode up; 7.5 ms"}' >>"$WEB_DIR/audit.jsonl"
check "a setup line without its newline yet is not counted" val_is "shield_hook_duration_seconds_count$W" 2
printf '\n' >>"$WEB_DIR/audit.jsonl"
check "... and is once it ends: 3" val_is "shield_hook_duration_seconds_count$W" 3

# --------------------------------------------------------- values follow events
BLOCKED0=$(val "shield_blocked_queries_total$W")
q nope.shield.test >/dev/null
q nope.shield.test >/dev/null
check "two blocked queries (one event, repeats counted too): +2" wait_val "shield_blocked_queries_total$W" $((BLOCKED0 + 2))
check "allow_v4 holds the static entry" val_is "shield_set_elements${W}id=\"$(registry_field web id)\",set=\"allow_v4\"} " 1
q "$DNS_NAME_ALLOWED" >/dev/null
check "an allowed answer: allow_v4 holds 2" wait_val "shield_set_elements${W}id=\"$(registry_field web id)\",set=\"allow_v4\"} " 2
check "allowed domains: 2 (the profile's third entry is an address)" val_is "shield_allowed_domains$W" 2
log_read() { (($(val "shield_log_bytes_read_total$W") > 0 && $(val "shield_log_lines_read_total$W") > 0)); }
check "log bytes and lines read > 0" log_read

q rot.shield.test >/dev/null
echo "198.18.1.21 rot.shield.test" >"$UP_HOSTS"
kill -HUP "$(cat "$TMP/upstream-dns.pid")"
rot_changed() { [[ $(q rot.shield.test) == 198.18.1.21 ]]; }
wait_until 100 rot_changed || say "    the upstream did not change its answer"
check "a changed answer: rotations 1" wait_val "shield_rotations_total$W" 1

ID=$(registry_field web id)
in_ns "$CLIENT_NS" nft add element inet terok_shield allow_v4 "{ $ALIEN }"
# counted_as_events KIND: the counter equals the events of that kind in events.jsonl.
counted_as_events() {
	local n
	n=$(ev_count "$WEB_DIR/events.jsonl" ".kind == \"$1\"")
	val_is "shield_drift_events_total${W}id=\"$ID\",kind=\"$1\"} " "$n" && return 0
	ev_select "$WEB_DIR/events.jsonl" ".kind == \"$1\"" | sed 's/^/      /' >&2
	return 1
}
check "nft add element: a drift.unexplained event" ev_wait "$WEB_DIR/events.jsonl" ".kind == \"drift.unexplained\" and .ip == \"$ALIEN\""
check "... counted (the counter equals the events of its kind)" counted_as_events drift.unexplained
check "... and open" val_is "shield_drift_open${W}id=\"$ID\",kind=\"drift.unexplained\"} " 1
in_ns "$CLIENT_NS" nft delete element inet terok_shield allow_v4 "{ $ALIEN }"
check "... resolved once it is gone: open 0" wait_val "shield_drift_open${W}id=\"$ID\",kind=\"drift.unexplained\"} " 0
check "... the count stays" counted_as_events drift.unexplained

check "no repair yet" val_is "shield_repairs_total$W" 0
in_ns "$CLIENT_NS" nft delete element inet terok_shield allow_v4 "{ $STATIC }"
check "a static entry deleted: a drift.missing event" ev_wait "$WEB_DIR/events.jsonl" ".kind == \"drift.missing\" and .ip == \"$STATIC\""
check "... counted" counted_as_events drift.missing
check "... and repaired: repairs 1" wait_val "shield_repairs_total$W" 1

check "no subscriber" val_is "shield_subscribers " 0
# The binary itself (the shield function would leave it running when its subshell is killed).
start_bg "$SHIELD_BIN" watch --json >/dev/null
WATCH_PID=$LAST_PID
check "shield watch running: subscribers 1" wait_val "shield_subscribers " 1
kill "$WATCH_PID"
wait "$WATCH_PID" 2>/dev/null || true
check "... gone: 0" wait_val "shield_subscribers " 0

T='{container="two",'
check "two's dnsmasq up" val_is "shield_dnsmasq_up$T" 1
kill -KILL "$(registry_field two dnsmasq_pid)"
check "two's dnsmasq killed: dnsmasq_up 0" wait_val "shield_dnsmasq_up$T" 0
check "... dnsmasq.down counted and open" val_is "shield_drift_open${T}id=\"$(registry_field two id)\",kind=\"dnsmasq.down\"} " 1
check "... web's dnsmasq still up" val_is "shield_dnsmasq_up$W" 1
check "promtool still accepts the socket's answer" promtool_ok "$TMP/m.txt"

# ------------------------------------------- a name that needs every escape
# Names shield writes are [A-Za-z0-9_.-], but a registry entry is JSON any
# writer may fill: the label value is escaped, whatever the name holds.
ODD=$'q"uo\\te\nx\xc3\xa9'
jq --arg n "$ODD" '.name = $n' "$RUN/containers/$(registry_field two id).json" >"$TMP/entry.json"
mv "$TMP/entry.json" "$RUN/containers/$(registry_field two id).json"
kill -HUP "$NFTSETD_PID"
odd_label() { scrape && grep -qF 'shield_dnsmasq_up{container="q\"uo\\te\nx'$'\xc3\xa9''",' "$TMP/m.txt"; }
check "a name with \\, \" and a newline is escaped in the label" wait_until 300 odd_label
check "promtool accepts it (socket)" promtool_ok "$TMP/m.txt"
http_get
check "promtool accepts it (HTTP)" promtool_ok "$TMP/h.txt"

# --------------------------------------------------------------- socket errors
metrics_for_one() {
	local out
	out=$(printf '%s\n' '{"request":"metrics","container":"web"}' | socat -t5 - "UNIX-CONNECT:$SOCK")
	jq -e '.error | test("container")' <<<"$out" >/dev/null
}
check "a metrics request naming a container gets {\"error\"}" metrics_for_one

# ------------------------------------------------------------------- HTTP side
status_of() { curl -sS -o /dev/null -w '%{http_code}' "$@"; }
http_is() {
	local want=$1 got
	shift
	got=$(status_of "$@") || true
	[[ $got == "$want" ]] && return 0
	say "    curl $*: $got, expected $want"
	return 1
}
check "GET / is 404" http_is 404 "http://127.0.0.1:$PORT/"
check "GET /metricsx is 404" http_is 404 "http://127.0.0.1:$PORT/metricsx"
check "GET /metrics?x=1 is 200" http_is 200 "$URL?x=1"
check "POST /metrics is 405" http_is 405 -X POST --data x "$URL"
allow_header() { curl -sS -o /dev/null -D - -X DELETE "$URL" | tr -d '\r' | grep -qx 'Allow: GET, HEAD'; }
check "... with Allow: GET, HEAD" allow_header
head_ok() {
	local hdr
	hdr=$(curl -sS -I "$URL" | tr -d '\r')
	[[ $hdr == "HTTP/1.1 200 OK"* && $hdr == *$'\nContent-Length: '[1-9]* ]]
}
check "HEAD /metrics: 200 with a Content-Length" head_ok
check "a 10 KiB header is 431" http_is 431 -H "X-Big: $(printf 'a%.0s' {1..10240})" "$URL"

# raw REQUEST: send it on a fresh connection, print the whole answer.
cat >"$TMP/raw.py" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
sys.stdout.buffer.write(data)
EOF
raw_status() {
	local out
	python3 "$TMP/raw.py" "$PORT" "$1" >"$TMP/raw.out" || true
	out=$(tr -d '\r' <"$TMP/raw.out" | sed -n 1p)
	[[ $out == "HTTP/1.1 $2 "* ]] && return 0
	say "    $1: got '$out', expected $2"
	return 1
}
check "HTTP/1.0 GET /metrics is 200" raw_status 'GET /metrics HTTP/1.0\r\n\r\n' 200
check "bare LFs are fine" raw_status 'GET /metrics HTTP/1.1\nHost: x\n\n' 200
check "HTTP/2.0 is 505" raw_status 'GET /metrics HTTP/2.0\r\n\r\n' 505
check "a request line that is not HTTP is 400" raw_status 'hello there\r\n\r\n' 400
raw_body() {
	python3 "$TMP/raw.py" "$PORT" 'GET /metrics HTTP/1.0\r\n\r\n' >"$TMP/raw.txt"
	python3 - "$TMP/raw.txt" <<'EOF'
import sys
data = open(sys.argv[1], "rb").read()
head, _, body = data.partition(b"\r\n\r\n")
length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
sys.exit(0 if length and length[0] == len(body) and body.startswith(b"# HELP") else 1)
EOF
}
check "Content-Length is the body's length" raw_body

# A client that never finishes its request: 408 after the timeout, and
# scrapes are served in the meantime.
cat >"$TMP/slow.py" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=60)
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
open(sys.argv[2], "wb").write(data or b"EOF")
EOF
start_bg python3 "$TMP/slow.py" "$PORT" "$TMP/slow.out"
SLOW_PID=$LAST_PID
check "while a slow client holds a connection, GET /metrics is served" http_is 200 "$URL"
slow_done() { [[ -s $TMP/slow.out ]]; }
slow_408() {
	wait_until 400 slow_done || { say "    the slow client was never answered"; return 1; }
	head -c 30 "$TMP/slow.out" | grep -q '^HTTP/1.1 408 '
}
check "... and it gets 408 and the connection closes" slow_408
wait "$SLOW_PID" 2>/dev/null || true

# Idle connections past the limit close the oldest: a scrape still gets in.
cat >"$TMP/flood.py" <<'EOF'
import socket, sys, time
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(24)]
open(sys.argv[2], "w").write("open\n")
time.sleep(120)
EOF
start_bg python3 "$TMP/flood.py" "$PORT" "$TMP/flood.out"
FLOOD_PID=$LAST_PID
flood_open() { [[ -s $TMP/flood.out ]]; }
wait_until 100 flood_open || say "    the idle connections did not open"
check "24 idle connections open: GET /metrics still served" http_is 200 "$URL"
check "... nftsetd said it closed the oldest" grep -q 'closing the oldest' "$TMP/nftsetd.log"

# A clean exit with connections still open (the flood's).
stop_nftsetd
check "nftsetd exits 0 on SIGTERM with HTTP connections open (every handle closed)" test "$NFTSETD_RC" = 0
kill "$FLOOD_PID" 2>/dev/null || true
wait "$FLOOD_PID" 2>/dev/null || true
not_running() {
	local rc=0
	shield metrics >/dev/null 2>"$TMP/nr.err" || rc=$?
	[[ $rc == 1 ]] && grep -q 'not running' "$TMP/nr.err"
}
check "shield metrics without nftsetd: exit 1, not running" not_running

# ------------------------------------------------------ non-loopback addresses
refused() {
	local rc=0
	"$NFTSETD_BIN" --runtime-dir "$RUN" --metrics-listen 0.0.0.0:0 2>"$TMP/ref.err" || rc=$?
	[[ $rc == 2 ]] && grep -q 'not a loopback address.*--metrics-allow-remote' "$TMP/ref.err" && return 0
	say "    exit $rc: $(cat "$TMP/ref.err")"
	return 1
}
check "--metrics-listen 0.0.0.0:0 is refused (exit 2) without --metrics-allow-remote" refused
# With it, in the hosts namespace (the address is that namespace's own; the
# shielded client could not reach it: its firewall passes only DNS there).
mkdir -m 0700 "$TMP/run2"
start_bg ip netns exec "$HOSTS_NS" "$NFTSETD_BIN" --runtime-dir "$TMP/run2" \
	--metrics-listen "$DNS_UPSTREAM:0" --metrics-allow-remote 2>"$TMP/remote.log"
REMOTE_PID=$LAST_PID
remote_port() { sed -nE 's|.*metrics served on http://[0-9.]+:([0-9]+)/metrics.*|\1|p' "$TMP/remote.log"; }
remote_up() { [[ -n $(remote_port) ]]; }
wait_until 100 remote_up || say "    $(cat "$TMP/remote.log")"
check "--metrics-allow-remote: started, with a warning" grep -q 'not a loopback address: reachable beyond this host' "$TMP/remote.log"
remote_get() { in_ns "$HOSTS_NS" curl -sS -o /dev/null -w '%{http_code}' "http://$DNS_UPSTREAM:$(remote_port)/metrics" | grep -qx 200; }
check "... and served on that address" remote_get
kill "$REMOTE_PID"
wait "$REMOTE_PID" 2>/dev/null || true

finish
