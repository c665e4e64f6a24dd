#!/usr/bin/env bash
# nftsetd's subscribers under a burst: BURST_CONTAINERS (50) namespaces
# shielded with `shield attach` (each with its real dnsmasq), one nftsetd,
# and BURST_EACH (500) blocked queries written at once into every
# container's dnsmasq.log: 25,000 events arriving in one moment, several
# MiB of event lines, far more than a subscriber may have queued.
#
#   1. A `shield watch --json` subscriber, held (SIGSTOP) while the burst
#      comes and let go once nftsetd pauses log tailing for it, receives
#      every one of them: its lines are exactly the burst's lines of the
#      containers' events.jsonl (nftsetd pauses log tailing while a
#      subscriber is behind instead of dropping it).
#   2. A subscriber that stops reading is dropped (after holding the tailing
#      for 10 s), while the `shield watch --json` subscriber goes on and
#      receives every event of a second burst; the stopped one, reading
#      again, finds its connection closed.
#
# The lines are synthetic: dnsmasq's "config NAME is NXDOMAIN" lines (what it
# logs for a blocked query under the strict policy), appended to the real
# dnsmasq.log files. Counts only; no timing is asserted (the waits are
# deadlines for a failure to show).
# shellcheck disable=SC2016 # jq filters are single-quoted on purpose
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib-watch.sh
source "$(dirname "$0")/lib-watch.sh"

N=${BURST_CONTAINERS:-50}
EACH=${BURST_EACH:-500}
[[ $N =~ ^[1-9][0-9]*$ ]] || die "BURST_CONTAINERS must be a positive number, not '$N'"
[[ $EACH =~ ^[1-9][0-9]*$ ]] || die "BURST_EACH must be a positive number, not '$EACH'"
TOTAL=$((N * EACH))

require_root
require_cmd ip nft dnsmasq jq socat python3
require_shield
require_nftsetd

init_tmp
watch_env_init
init_shield_dirs
write_profile burst allowed.shield.test 198.18.5.5

say "attaching $N namespaces ..."
for ((i = 0; i < N; i++)); do
	new_netns "u$i"
	attach_bundle "b$i" "$NS_NAME" --profiles burst
done
start_nftsetd -v
check "nftsetd watches all $N" wait_containers "$N"

STREAM=$TMP/stream.jsonl
start_bg "$SHIELD_BIN" watch --json >"$STREAM" 2>"$TMP/watch.err"
WATCH_PID=$LAST_PID
subscribers() { grep -c "subscribed" "$TMP/nftsetd.log" || true; }
# running PID: alive, not a zombie (a child that exited stays one until waited for).
running() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $st != Z* ]]
}
wait_until 100 bash -c '(( $(grep -c subscribed "$1") >= 1 ))' _ "$TMP/nftsetd.log" ||
	die "shield watch --json did not subscribe: $(cat "$TMP/watch.err")"

# burst TAG: EACH blocked queries qJ.bI.TAG.burst.test into every container's log,
# one write per container, all containers one after the other.
cat >"$TMP/burst.py" <<'EOF'
import json, os, sys, time
state, run, n, each, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
stamp = time.strftime("%b %e %H:%M:%S")
chunks = []
for i in range(n):
    with open("%s/containers/b%d.json" % (run, i)) as f:
        pid = json.load(f)["dnsmasq_pid"]
    chunks.append("".join(
        "%s dnsmasq[%d]: %d 127.0.0.1/40000 config q%d.b%d.%s.burst.test is NXDOMAIN\n"
        % (stamp, pid, 500000 + j, j, i, tag) for j in range(each)).encode())
fds = [os.open("%s/b%d/dnsmasq.log" % (state, i), os.O_WRONLY | os.O_APPEND) for i in range(n)]
for fd, data in zip(fds, chunks):
    os.write(fd, data)
for fd in fds:
    os.close(fd)
EOF
burst() { python3 "$TMP/burst.py" "$STATE_ROOT/containers" "$RUN" "$N" "$EACH" "$1"; }

# The burst's events: in the containers' events.jsonl (filed) and in the stream (received).
filed() { cat "$STATE_ROOT"/containers/b*/events.jsonl | grep -F ".$1.burst.test\"" | grep -c '"kind":"blocked_query"' || true; }
received() { grep -F ".$1.burst.test\"" "$STREAM" | grep -c '"kind":"blocked_query"' || true; }
all_filed() { (($(filed "$1") >= TOTAL)); }
all_received() { (($(received "$1") >= TOTAL)); }
# same_lines TAG: the stream holds exactly the burst's lines of events.jsonl (sorted, as
# the containers' files interleave in the stream).
same_lines() {
	cat "$STATE_ROOT"/containers/b*/events.jsonl | grep -F ".$1.burst.test\"" | sort >"$TMP/filed.$1"
	grep -F ".$1.burst.test\"" "$STREAM" | sort >"$TMP/received.$1"
	say "    $(wc -l <"$TMP/filed.$1") events filed, $(wc -l <"$TMP/received.$1") received"
	assert_same_file "events.jsonl and the subscriber's stream" "$TMP/filed.$1" "$TMP/received.$1"
}

# ------------------------------------------------- 1: a subscriber that reads
# The subscriber is held (SIGSTOP) while the burst comes, so it is behind
# whatever the machine's speed (a fast one kept up, and tailing never had
# to wait); it goes on (SIGCONT) as soon as nftsetd says tailing waits, well
# within the 10 s after which a subscriber holding things back is dropped.
kill -STOP "$WATCH_PID"
burst one
check "burst 1: nftsetd made log tailing wait for the subscriber (it was behind)" \
	wait_until 300 grep -q "log tailing waits" "$TMP/nftsetd.log"
kill -CONT "$WATCH_PID"
check "burst 1: all $TOTAL events filed in events.jsonl" wait_until 1200 all_filed one
check "burst 1: the subscriber received all $TOTAL" wait_until 600 all_received one
check "burst 1: its lines are exactly the events.jsonl lines" same_lines one
check "burst 1: no subscriber was dropped" bash -c '! grep -q dropped "$1"' _ "$TMP/nftsetd.log"
check "burst 1: shield watch --json still runs" running "$WATCH_PID"

# ------------------------------------- 2: a subscriber that stops reading
# It subscribes, reads nothing until SIGUSR1, then reads to the end: EOF if
# nftsetd closed it, a timeout if not.
cat >"$TMP/stuck.py" <<'EOF'
import signal, socket, sys
go = []
signal.signal(signal.SIGUSR1, lambda *a: go.append(1))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b'{"request":"subscribe"}\n')
while not go:
    signal.pause()
s.settimeout(30)
got = 0
try:
    while True:
        b = s.recv(65536)
        if not b:
            print("closed after %d bytes" % got)
            sys.exit(0)
        got += len(b)
except socket.timeout:
    print("still open after %d bytes" % got)
    sys.exit(1)
EOF
before=$(subscribers)
start_bg python3 "$TMP/stuck.py" "$SOCK" >"$TMP/stuck.out" 2>&1
STUCK_PID=$LAST_PID
wait_until 100 bash -c '(( $(grep -c subscribed "$1") > $2 ))' _ "$TMP/nftsetd.log" "$before" ||
	die "the second subscriber did not subscribe"
burst two
check "burst 2: all $TOTAL events filed in events.jsonl" wait_until 1200 all_filed two
check "burst 2: the reading subscriber received all $TOTAL" wait_until 600 all_received two
check "burst 2: its lines are exactly the events.jsonl lines" same_lines two
check "burst 2: the subscriber that stopped reading was dropped" \
	wait_until 300 grep -q "subscriber read too little for 10 s.*dropped" "$TMP/nftsetd.log"
kill -USR1 "$STUCK_PID"
STUCK_RC=0
wait "$STUCK_PID" || STUCK_RC=$?
say "    stopped subscriber: $(cat "$TMP/stuck.out")"
check "... reading again, it finds the connection closed by nftsetd" \
	bash -c '[[ $1 == 0 ]] && grep -q "^closed after" "$2"' _ "$STUCK_RC" "$TMP/stuck.out"
check "... and only one subscriber was dropped" \
	test "$(grep -c "subscriber.*dropped" "$TMP/nftsetd.log")" = 1
check "burst 2: shield watch --json still runs" running "$WATCH_PID"
check "every line read once: each container's lines counter covers both bursts" \
	bash -c 'printf "%s\n" "{\"request\":\"report\"}" | socat -t5 - "UNIX-CONNECT:$1" |
		jq -e --argjson e "$2" "all(.containers[]; .nftsetd.lines >= \$e)" >/dev/null' _ "$SOCK" "$((2 * EACH))"

kill "$WATCH_PID" 2>/dev/null || true
stop_nftsetd
check "SIGTERM: nftsetd exits 0 (uv_loop_close returned 0)" test "$NFTSETD_RC" = 0
stop_all_dnsmasq
finish
