#!/usr/bin/env bash
# nftsetd against the real kernel, real dnsmasq and real network namespaces
# shielded with `shield attach` (and one through shield-hook, as podman
# would): discovery of entries present at start and appearing later, a
# query stream turned into events (blocked_query, rotation), kernel drift
# (drift.unexplained naming `nft`, drift.missing repaired, drift.stale_answer
# repaired, ruleset.tampered), dnsmasq.down, detach and a namespace that
# vanished, the socket protocol (report, subscribe, errors, mode 0600), and
# the log tail under stress: kill -9 of nftsetd in the middle of 100,000
# query lines with the log cut to --log-max all along (every line and every
# event exactly once), then truncation and renaming of the log under load.
# The loop must close cleanly: nftsetd exits 0 on SIGTERM only when
# uv_loop_close() returned 0 (it exits 70 if a handle was left open).
#
# The 100,000 lines are synthetic: dnsmasq-format "config NAME is NXDOMAIN"
# lines (what dnsmasq logs for a blocked query under the strict policy)
# appended to the real dnsmasq.log while dnsmasq itself also writes to it.
# Real queries through dnsmasq drive every other check.
# shellcheck disable=SC2016 # single-quoted jq filters and scripts expand later, on purpose
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

require_root
require_cmd ip nft dnsmasq dig socat jq python3
require_shield
NFTSETD_BIN=${NFTSETD_BIN:-$(dirname "$SHIELD_BIN")/../nftsetd/nftsetd}
[[ -x $NFTSETD_BIN ]] || skip_or_fail "nftsetd not found at NFTSETD_BIN=$NFTSETD_BIN"
SHIELD_HOOK_BIN=${SHIELD_HOOK_BIN:-$(dirname "$SHIELD_BIN")/shield-hook}
[[ -x $SHIELD_HOOK_BIN ]] || skip_or_fail "shield-hook not found at SHIELD_HOOK_BIN=$SHIELD_HOOK_BIN"
unset SHIELD_DNSMASQ

init_shield_dirs
topo_build
readonly ROT_NAME=rot.shield.test STALE_NAME=stale.shield.test STATIC_IP=198.18.7.7
# rot: TTL 0, so the container's dnsmasq asks upstream every time (rotation);
# stale: TTL 600, so it answers from its cache (stale answer).
topo_start_dns --address="/$ROT_NAME/$PUB_ALLOWED" --host-record="$STALE_NAME,198.18.1.77,600"

export SHIELD_RUNTIME_DIR=$TMP/run
SOCK=$TMP/nftsetd.sock
export SHIELD_NFTSETD_SOCKET=$SOCK
NLOG=$TMP/nftsetd.log
WEB=$STATE_ROOT/containers/web

# ------------------------------------------------------------------ helpers

# wait_for CMD...: retry CMD for up to ~60 s. A deadline for a failure to
# show, not a measurement: nothing here asserts how fast anything happened
# (the longest wait: 80,000 log lines read after the restart, its time
# printed as information; asan-ubsan on a loaded machine needs the margin).
wait_for() {
	local _
	for _ in $(seq 600); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

NFTSETD_PID=
start_nftsetd() {
	start_bg "$NFTSETD_BIN" --runtime-dir "$SHIELD_RUNTIME_DIR" --socket "$SOCK" -v "$@" 2>>"$NLOG"
	NFTSETD_PID=$LAST_PID
	# A socket file may be a dead one's: wait for an answer from this one.
	wait_for serving || die "nftsetd does not answer on its socket: $(tail -5 "$NLOG")"
}
serving() {
	kill -0 "$NFTSETD_PID" || return 1
	printf '%s\n' '{"request":"report"}' | socat -t5 - "UNIX-CONNECT:$SOCK" | jq -e .version >/dev/null
}

# stop_nftsetd: SIGTERM and its exit status in NFTSETD_RC.
stop_nftsetd() {
	NFTSETD_RC=0
	kill -TERM "$NFTSETD_PID"
	wait "$NFTSETD_PID" || NFTSETD_RC=$?
	if [[ $NFTSETD_RC != 0 ]]; then
		say "    nftsetd exited $NFTSETD_RC; its log ends with:"
		tail -n 30 "$NLOG" | sed 's/^/    /' >&2
	fi
}

# request JSON: one request line, the answer line on stdout.
request() {
	printf '%s\n' "$1" | socat -t5 - "UNIX-CONNECT:$SOCK"
}
report() { request '{"request":"report"}'; }

# ev_count BUNDLE JQ-CONDITION: events of the bundle's events.jsonl matching.
ev_count() {
	[[ -f $1/events.jsonl ]] || { echo 0; return; }
	jq -c "select($2)" "$1/events.jsonl" | wc -l
}
# has_event BUNDLE JQ-CONDITION [N]: at least N (1) such events.
has_event() { (($(ev_count "$1" "$2") >= ${3:-1})); }
# expect_event BUNDLE JQ-CONDITION: wait for it, say what came instead.
expect_event() {
	if wait_for has_event "$1" "$2"; then
		return 0
	fi
	say "    no event $2 in $1/events.jsonl; it ends with:"
	tail -n 5 "$1/events.jsonl" 2>/dev/null | sed 's/^/    /' >&2 || true
	return 1
}

# Report condition on one container: rep_has NAME JQ-CONDITION (on the container object).
rep_has() {
	report | jq -e --arg n "$1" ".containers[] | select(.name == \$n) | $2" >/dev/null
}

# dig through a namespace's own dnsmasq.
ask() { in_ns "$1" dig +tries=1 +time=3 +short @127.0.0.1 "$2" A >/dev/null 2>&1 || true; }

set_has() { in_ns "$1" nft list set inet terok_shield "$2" | tr ',{}' '\n' | awk -v a="$3" '$1 == a { f = 1 } END { exit !f }'; }

# A subscriber: connects, sends REQUEST, appends every line it receives to FILE.
cat >"$TMP/sub.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
with open(sys.argv[3], "ab", buffering=0) as out:
    for line in s.makefile("rb"):
        out.write(line)
EOF

# A second namespace with only lo (attach needs no network: dnsmasq starts anyway).
new_bare_ns() { new_netns "$1"; }

# ------------------------------------------------- start: discovery at start

write_profile web "$DNS_NAME_ALLOWED" "$ROT_NAME" "$STALE_NAME" "$STATIC_IP"
shield prepare web --profiles web --upstream-dns "$DNS_UPSTREAM" >/dev/null || die "prepare web failed"
shield attach --netns "$(netns_path "$CLIENT_NS")" web >/dev/null || die "attach web failed"

start_nftsetd --resync 1
start_bg python3 "$TMP/sub.py" "$SOCK" '{"request":"subscribe","container":"web"}' "$TMP/sub-web.jsonl"
SUB_PID=$LAST_PID
wait_for grep -q subscribed "$TMP/sub-web.jsonl" || die "the subscriber got no answer"

check "an entry present at start is attached (watch.attached)" \
	expect_event "$WEB" '.kind == "watch.attached" and .container == "web"'
check "the socket is mode 0600" bash -c '[[ $(stat -c %a "$1") == 600 ]]' _ "$SOCK"
check "report: web in mode up, dnsmasq alive, checks listed" \
	rep_has web '(.mode == "up") and (.dnsmasq.alive == true) and (.checks | length >= 6)'
report_header() { report | jq -e '.version == 1 and (.generated | type) == "string"' >/dev/null; }
check "report: version 1 with a generated timestamp" report_header
check "events.jsonl is mode 0600" bash -c '[[ $(stat -c %a "$1") == 600 ]]' _ "$WEB/events.jsonl"

# --------------------------------------------------------- protocol errors
bad_request() {
	local out
	out=$(request "$1")
	jq -e '.error | type == "string"' <<<"$out" >/dev/null && return 0
	say "    request $1 got: $out"
	return 1
}
check "an unknown request gets {\"error\"}" bad_request '{"request":"nope"}'
check "a request that is not JSON gets {\"error\"}" bad_request 'hello'
check "a report for an unknown container gets {\"error\"}" bad_request '{"request":"report","container":"nobody"}'
long_request() {
	local out
	out=$(python3 -c 'import sys; sys.stdout.write("{\"request\":\"report\",\"x\":\"" + "a" * 70000 + "\"}\n")' |
		socat -t5 - "UNIX-CONNECT:$SOCK")
	[[ $out == *'"error"'*65536* ]] && return 0
	say "    got: ${out:0:200}"
	return 1
}
check "a request line over 64 KiB is refused" long_request
check "a report for web by name, id or state_dir" bash -c '
	for w in web "$2"; do
		printf "%s\n" "{\"request\":\"report\",\"container\":\"$w\"}" | socat -t5 - "UNIX-CONNECT:$1" |
			jq -e ".containers | length == 1 and .[0].name == \"web\"" >/dev/null || exit 1
	done' _ "$SOCK" "$WEB"

# --------------------------------------------------------- queries -> events
ask "$CLIENT_NS" "$DNS_NAME_ALLOWED"
check "report: the allowed domain with its address from the log and the kernel" \
	wait_for rep_has web "(.domains[] | select(.domain == \"$DNS_NAME_ALLOWED\") | .addresses[] | select(.ip == \"$PUB_ALLOWED\"))"
ask "$CLIENT_NS" "$DNS_NAME_OTHER"
check "a query for a name outside the allowlist: blocked_query" \
	expect_event "$WEB" ".kind == \"blocked_query\" and .domain == \"$DNS_NAME_OTHER\""

# Rotation: the upstream changes the answer for rot.shield.test.
ask "$CLIENT_NS" "$ROT_NAME"
wait_for set_has "$CLIENT_NS" allow_v4 "$PUB_ALLOWED" || true
kill "$DNS_PID"
wait "$DNS_PID" 2>/dev/null || true
topo_start_dns --address="/$ROT_NAME/$PUB_OTHER" --host-record="$STALE_NAME,198.18.1.77,600"
ask "$CLIENT_NS" "$ROT_NAME"
check "a changed answer: rotation naming the domain, added and removed" \
	expect_event "$WEB" ".kind == \"rotation\" and .domain == \"$ROT_NAME\" and .added == [\"$PUB_OTHER\"] and .removed == [\"$PUB_ALLOWED\"]"

# ----------------------------------------------------------- kernel drift
in_ns "$CLIENT_NS" nft add element inet terok_shield allow_v4 '{ 198.18.9.9 }'
check "an element added by nft from outside: drift.unexplained naming the ip and nft" \
	expect_event "$WEB" '.kind == "drift.unexplained" and .ip == "198.18.9.9" and .comm == "nft" and (.pid > 0)'
check "... exactly one such event" bash -c '[[ $(jq -c "select(.kind == \"drift.unexplained\" and .ip == \"198.18.9.9\")" "$1/events.jsonl" | wc -l) == 1 ]]' _ "$WEB"
in_ns "$CLIENT_NS" nft delete element inet terok_shield allow_v4 '{ 198.18.9.9 }'

in_ns "$CLIENT_NS" nft delete element inet terok_shield allow_v4 "{ $STATIC_IP }"
check "a static entry deleted: drift.missing, repaired" \
	expect_event "$WEB" ".kind == \"drift.missing\" and .ip == \"$STATIC_IP\" and .repaired == true"
check "... and the static entry is back in allow_v4" wait_for set_has "$CLIENT_NS" allow_v4 "$STATIC_IP"

# Stale answer: dnsmasq caches stale.shield.test (TTL 600, capped below the
# 30m set timeout), so an element can only die before the cache does by a
# hand: deleted and added back with a 2 s timeout, it expires in the kernel
# (no notification) while dnsmasq goes on answering from its cache.
ask "$CLIENT_NS" "$STALE_NAME"
check "dnsmasq adds $STALE_NAME's address" wait_for set_has "$CLIENT_NS" allow_v4 198.18.1.77
stale_listed() { rep_has web "(.domains[] | select(.domain == \"$STALE_NAME\") | .addresses[] | select(.ip == \"198.18.1.77\"))"; }
check "nftsetd learns it" wait_for stale_listed
in_ns "$CLIENT_NS" nft delete element inet terok_shield allow_v4 '{ 198.18.1.77 }'
check "a logged answer deleted before its timeout: drift.missing (not repaired: dnsmasq adds it again)" \
	expect_event "$WEB" '.kind == "drift.missing" and .ip == "198.18.1.77" and .domain == "stale.shield.test"'
in_ns "$CLIENT_NS" nft add element inet terok_shield allow_v4 '{ 198.18.1.77 timeout 2s }'
wait_for bash -c '! ip netns exec "$1" nft list set inet terok_shield allow_v4 | grep -q 198.18.1.77' _ "$CLIENT_NS" ||
	say "    the element did not expire"
stale_gone() { ! stale_listed; }
check "nftsetd sees the element expire (no notification: the dumps' timers)" wait_for stale_gone
ask "$CLIENT_NS" "$STALE_NAME"
check "an answer from dnsmasq's cache whose element is gone: drift.stale_answer, repaired" \
	expect_event "$WEB" '.kind == "drift.stale_answer" and .ip == "198.18.1.77" and .repaired == true'
check "... and the element is back" wait_for set_has "$CLIENT_NS" allow_v4 198.18.1.77

# ------------------------------------------------- discovery after the start
new_bare_ns two
TWO_NS=$NS_NAME
TWO=$STATE_ROOT/containers/two
write_profile two "$DNS_NAME_ALLOWED"
shield prepare two --profiles two --upstream-dns "$DNS_UPSTREAM" >/dev/null || die "prepare two failed"
shield attach --netns "$(netns_path "$TWO_NS")" two >/dev/null || die "attach two failed"
check "an entry appearing later is attached" \
	expect_event "$TWO" '.kind == "watch.attached" and .container == "two"'
check "report lists both" wait_for bash -c 'printf "%s\n" "{\"request\":\"report\"}" | socat -t5 - "UNIX-CONNECT:$1" |
	jq -e "[.containers[].name] | sort == [\"two\", \"web\"]" >/dev/null' _ "$SOCK"

TWO_DNSMASQ=$(cat "$TWO/dnsmasq.pid")
KILLED_AT=$(date +%s%3N)
kill -KILL "$TWO_DNSMASQ"
check "dnsmasq killed: dnsmasq.down" expect_event "$TWO" '.kind == "dnsmasq.down"'
DOWN_TS=$(jq -r 'select(.kind == "dnsmasq.down") | .ts' "$TWO/events.jsonl" | head -1)
say "    (dnsmasq.down stamped $(($(date -d "$DOWN_TS" +%s%3N) - KILLED_AT)) ms after the kill; informational)"
check "report: two's dnsmasq not alive, its dnsmasq.down check open" \
	rep_has two '(.dnsmasq.alive == false) and (.clean == false) and
		(.checks[] | select(.kind == "dnsmasq.down") | .state == "open" and .count == 1)'
# A restarted dnsmasq (as `shield allow` does it) rewrites the entry with its pid.
shield attach --netns "$(netns_path "$TWO_NS")" two >/dev/null || die "second attach of two failed"
check "a restarted dnsmasq is taken from the rewritten entry: alive, dnsmasq.down resolved" \
	wait_for rep_has two "(.dnsmasq.alive == true) and (.dnsmasq.pid == $(cat "$TWO/dnsmasq.pid")) and
		(.checks[] | select(.kind == \"dnsmasq.down\") | .state == \"ok\" and .count == 1)"
shield detach two >/dev/null || die "detach two failed"
check "an entry removed: watch.detached" expect_event "$TWO" '.kind == "watch.detached"'
check "... and two is gone from the report" wait_for bash -c 'printf "%s\n" "{\"request\":\"report\"}" | socat -t5 - "UNIX-CONNECT:$1" |
	jq -e "[.containers[].name] == [\"web\"]" >/dev/null' _ "$SOCK"

# A podman-style entry (through shield-hook) whose container process dies
# without a poststop: the namespace is gone, the entry is reported and dropped.
new_bare_ns pod
POD_NS=$NS_NAME
POD=$STATE_ROOT/containers/pod
write_profile pod "$DNS_NAME_ALLOWED"
shield prepare pod --profiles pod --upstream-dns "$DNS_UPSTREAM" >/dev/null || die "prepare pod failed"
start_bg ip netns exec "$POD_NS" sleep 600
POD_PID=$LAST_PID
wait_for bash -c '[[ $(readlink /proc/$1/ns/net) == "$(stat -L -c "net:[%i]" "$2")" ]]' _ "$POD_PID" "$(netns_path "$POD_NS")" ||
	die "the pod process never entered its namespace"
POD_ID=fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210
jq -cn --arg id "$POD_ID" --argjson pid "$POD_PID" --arg dir "$POD" \
	'{ociVersion: "1.0.2-dev", id: $id, status: "creating", pid: $pid, bundle: "/nonexistent",
	  annotations: {"terok.shield.profiles": "pod", "terok.shield.state_dir": $dir,
	                "terok.shield.version": "1", "terok.shield.name": "pod"}}' |
	"$SHIELD_HOOK_BIN" createRuntime || die "shield-hook createRuntime failed"
check "a podman entry (shield-hook) is attached" expect_event "$POD" '.kind == "watch.attached"'
kill -KILL "$POD_PID"
check "its container process gone: reported (watch.detached) and dropped" \
	expect_event "$POD" '.kind == "watch.detached" and (.detail | test("namespace gone"))'
check "... and pod is gone from the report" wait_for bash -c 'printf "%s\n" "{\"request\":\"report\"}" | socat -t5 - "UNIX-CONNECT:$1" |
	jq -e "[.containers[].name] == [\"web\"]" >/dev/null' _ "$SOCK"

kill -HUP "$NFTSETD_PID"
check "SIGHUP rescans the registry and changes nothing that did not change" \
	bash -c 'for _ in $(seq 100); do grep -q "SIGHUP: rescanning" "$1" && break; sleep 0.1; done
		printf "%s\n" "{\"request\":\"report\"}" | socat -t5 - "UNIX-CONNECT:$2" |
		jq -e "[.containers[].name] == [\"web\"]" >/dev/null && grep -q "SIGHUP: rescanning" "$1"' _ "$NLOG" "$SOCK"

# ------------------------------------------------------------ ruleset.tampered
in_ns "$CLIENT_NS" nft add chain inet terok_shield output '{ type filter hook output priority 0; policy accept; }'
check "the output chain's policy changed: ruleset.tampered" expect_event "$WEB" '.kind == "ruleset.tampered"'
check "report: web is not clean, ruleset.tampered open" \
	rep_has web '(.clean == false) and (.checks[] | select(.kind == "ruleset.tampered") | .state == "open")'

# The subscriber saw exactly the lines of web's events.jsonl since it connected.
kill "$SUB_PID"
wait "$SUB_PID" 2>/dev/null || true
same_stream() {
	local first
	first=$(sed -n 2p "$TMP/sub-web.jsonl")
	[[ -n $first ]] || { say "    the subscriber received no event"; return 1; }
	grep -F -x -A100000 -- "$first" "$WEB/events.jsonl" | head -n "$(($(wc -l <"$TMP/sub-web.jsonl") - 1))" >"$TMP/expect.jsonl"
	tail -n +2 "$TMP/sub-web.jsonl" >"$TMP/got.jsonl"
	assert_same_file "subscribed stream and events.jsonl" "$TMP/expect.jsonl" "$TMP/got.jsonl"
}
check "the subscribed stream is exactly events.jsonl's lines" same_stream
check "a subscriber filtered to web got no other container's event" \
	bash -c '! tail -n +2 "$1" | jq -e "select(.container != \"web\")" >/dev/null' _ "$TMP/sub-web.jsonl"

stop_nftsetd
check "SIGTERM: nftsetd exits 0 (uv_loop_close returned 0)" test "$NFTSETD_RC" = 0
check "... and removed its socket" test ! -e "$SOCK"

# ------------------------------------------- 100,000 lines, kill -9, restart
new_bare_ns load
LOAD_NS=$NS_NAME
LOAD=$STATE_ROOT/containers/load
write_profile load "$DNS_NAME_ALLOWED"
shield prepare load --profiles load --upstream-dns "$DNS_UPSTREAM" >/dev/null || die "prepare load failed"
shield attach --netns "$(netns_path "$LOAD_NS")" load >/dev/null || die "attach load failed"
LOAD_DNSMASQ=$(cat "$LOAD/dnsmasq.pid")

# gen FIRST COUNT: dnsmasq-format blocked-query lines blkN.load.test, 500 per write().
cat >"$TMP/gen.py" <<'EOF'
import os, sys, time
path, first, count, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
stamp = time.strftime("%b %e %H:%M:%S")
for i in range(first, first + count, 500):
    os.write(fd, "".join(
        "%s dnsmasq[%s]: %d 127.0.0.1/40000 config blk%d.load.test is NXDOMAIN\n" % (stamp, pid, 900000 + j, j)
        for j in range(i, min(i + 500, first + count))).encode())
    time.sleep(0.004)
EOF

LINES_BEFORE=$(wc -l <"$LOAD/dnsmasq.log")
start_nftsetd --resync 1 --log-max 1M --events-max 256M
check "a stale entry left in the registry is refused at start (its namespace is gone)" \
	wait_for grep -q "not watching pod .*namespace gone" "$NLOG"
expect_event "$LOAD" '.kind == "watch.attached"' || die "load was not attached"
start_bg python3 "$TMP/gen.py" "$LOAD/dnsmasq.log" 0 100000 "$LOAD_DNSMASQ"
GEN_PID=$LAST_PID
blk_events() { grep -c '"kind":"blocked_query".*blk[0-9]*\.load\.test' "$LOAD/events.jsonl" || true; }
wait_for bash -c '(( $(grep -c "blk[0-9]*\.load\.test" "$1/events.jsonl" || true) >= 20000 ))' _ "$LOAD" ||
	die "nftsetd did not keep up with the stream: $(blk_events) events"
kill -KILL "$NFTSETD_PID"
wait "$NFTSETD_PID" 2>/dev/null || true
say "    killed nftsetd with -9 after $(blk_events) of 100000 events"
sleep 0.5 # the stream goes on while nftsetd is away
start_nftsetd --resync 1 --log-max 1M --events-max 256M
RESTARTED_AT=$(date +%s%3N)
check "after a kill -9, the next nftsetd replaces the dead one's socket" \
	grep -q "removed a stale socket" "$NLOG"
wait "$GEN_PID" || die "the line generator failed"
lines_done() { rep_has load ".nftsetd.lines == $((LINES_BEFORE + 100000))"; }
check "after the restart every line is consumed exactly once (lines counter)" wait_for lines_done
say "    (all lines read $(($(date +%s%3N) - RESTARTED_AT)) ms after the restart; informational)"
exactly_once() {
	local n dup
	jq -r 'select(.kind == "blocked_query") | .domain' "$LOAD/events.jsonl" | grep '^blk' | sort >"$TMP/blk.txt"
	n=$(wc -l <"$TMP/blk.txt")
	dup=$(uniq -d "$TMP/blk.txt" | wc -l)
	if [[ $n == 100000 && $dup == 0 && $(uniq "$TMP/blk.txt" | wc -l) == 100000 ]]; then
		return 0
	fi
	say "    $n blocked_query events for the 100000 lines, $dup names more than once"
	return 1
}
check "... and every line's blocked_query event is in events.jsonl exactly once" exactly_once
check "--log-max 1M: the log was cut in place (same inode, at most ~1M + a batch)" bash -c '
	[[ $(stat -c %s "$1/dnsmasq.log") -lt $((3 * 1024 * 1024)) ]]' _ "$LOAD"
check "... several times, without a log.gap (collapse keeps every line)" \
	bash -c '[[ $(jq -c "select(.kind == \"log.gap\")" "$1/events.jsonl" | wc -l) == 0 ]]' _ "$LOAD"
check "... the report counts the cuts since the restart" rep_has load '.nftsetd.cuts >= 1'

# --------------------------------------- truncation and rename under load
start_bg python3 "$TMP/gen.py" "$LOAD/dnsmasq.log" 200000 20000 "$LOAD_DNSMASQ"
GEN_PID=$LAST_PID
wait_for bash -c '(( $(grep -c "blk2[0-9]*\.load\.test" "$1/events.jsonl" || true) >= 2000 ))' _ "$LOAD" || true
truncate -s 0 "$LOAD/dnsmasq.log"
wait "$GEN_PID" || true
check "the log truncated under load: log.gap" \
	expect_event "$LOAD" '.kind == "log.gap" and (.detail | test("cut"))'
printf '%s dnsmasq[%s]: 1 127.0.0.1/4000 config after-truncate.load.test is NXDOMAIN\n' \
	"$(date '+%b %e %H:%M:%S')" "$LOAD_DNSMASQ" >>"$LOAD/dnsmasq.log"
check "... and tailing goes on" expect_event "$LOAD" '.domain == "after-truncate.load.test"'

# Renamed away: dnsmasq keeps writing the file it has open, and nftsetd follows it.
mv "$LOAD/dnsmasq.log" "$LOAD/dnsmasq.log.1"
for i in $(seq 20); do ask "$LOAD_NS" "renamed$i.load.test"; done
check "the log renamed under load: the queries dnsmasq logs after it are still read" \
	expect_event "$LOAD" '.kind == "blocked_query" and .domain == "renamed20.load.test"'
touch "$LOAD/dnsmasq.log"
chmod 0600 "$LOAD/dnsmasq.log"
check "... a new file at the path that dnsmasq does not write: log.gap says so" \
	expect_event "$LOAD" '.kind == "log.gap" and (.detail | test("not the file dnsmasq writes"))'
for i in $(seq 5); do ask "$LOAD_NS" "later$i.load.test"; done
check "... and dnsmasq's lines are still read" \
	expect_event "$LOAD" '.kind == "blocked_query" and .domain == "later5.load.test"'
check "nftsetd survived all of it" kill -0 "$NFTSETD_PID"
in_ns "$LOAD_NS" nft delete table inet terok_shield
check "the table deleted: ruleset.tampered" \
	expect_event "$LOAD" '.kind == "ruleset.tampered" and (.comm == "nft" or (.detail | test("table")))'

stop_nftsetd
check "SIGTERM after the stress: exit 0, the loop closed cleanly" test "$NFTSETD_RC" = 0

# ---------------------------------------------------------------- --no-repair
start_nftsetd --resync 1 --no-repair
in_ns "$CLIENT_NS" nft delete element inet terok_shield allow_v4 "{ $STATIC_IP }"
check "--no-repair: drift.missing reported, not repaired" \
	expect_event "$WEB" ".kind == \"drift.missing\" and .ip == \"$STATIC_IP\" and (.repaired // false) == false"
check "... and the entry stays out of the set" bash -c '! ip netns exec "$1" nft list set inet terok_shield allow_v4 | grep -qw "$2"' _ "$CLIENT_NS" "$STATIC_IP"
stop_nftsetd
check "SIGTERM: exit 0 again" test "$NFTSETD_RC" = 0
check "nftsetd logged with sd-daemon priority prefixes only" bash -c '! grep -v "^<[0-7]>" "$1" | grep -q .' _ "$NLOG"

shield detach web >/dev/null || true
shield detach load >/dev/null || true
finish
