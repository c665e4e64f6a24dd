#!/usr/bin/env bash
# nftsetd's log rotation where the filesystem cannot collapse a file's head:
# a state bundle on a tmpfs this test mounts (and unmounts), one namespace
# shielded with `shield attach` (real dnsmasq writing the bundle's
# dnsmasq.log), nftsetd with the smallest --log-max (64K). tmpfs has no
# FALLOC_FL_COLLAPSE_RANGE, so past the limit nftsetd reads the log to its
# end and truncates it, with a log.gap event (lines written in between
# could be lost).
#
#   - 30 steps of 1,000 blocked-query lines (about 75 KiB each, 2.2 MiB in
#     all), each step read before the next: after every step the log is cut
#     back to at most --log-max, the report counts the cuts, each cut is a
#     log.gap, and no line is lost (nothing was written during a cut);
#   - then a stream of lines written while nftsetd cuts: the log ends
#     bounded, and tailing goes on (a query dnsmasq itself logs after it,
#     appended to the truncated file, is read).
# Counts and sizes only; no timing is asserted.
# shellcheck disable=SC2016 # jq filters are single-quoted on purpose
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib-watch.sh
source "$(dirname "$0")/lib-watch.sh"

require_root
require_cmd ip nft dnsmasq dig jq socat python3 mount umount
require_shield
require_nftsetd

init_tmp
watch_env_init
init_shield_dirs
# The state root on a tmpfs of its own; unmounted however the test ends,
# after what holds files on it (nftsetd, dnsmasq) is gone.
mount -t tmpfs -o size=64m,mode=0700 shield-test-tmpfs "$STATE_ROOT" || die "cannot mount a tmpfs on $STATE_ROOT"
MOUNTED=1
NFTSETD_PID=
tmpfs_cleanup() {
	set +e
	[[ -z $NFTSETD_PID ]] || kill "$NFTSETD_PID" 2>/dev/null
	shield detach tm >/dev/null 2>&1
	[[ -z $NFTSETD_PID ]] || wait "$NFTSETD_PID" 2>/dev/null
	if [[ $MOUNTED == 1 ]]; then
		umount "$STATE_ROOT" 2>/dev/null || umount -l "$STATE_ROOT"
		MOUNTED=0
	fi
}
# set +e first: under errexit, (exit "$rc") with rc != 0 would end the trap before _cleanup.
trap 'rc=$?; set +e; tmpfs_cleanup; (exit "$rc"); _cleanup' EXIT
check "the state root is a tmpfs" test "$(stat -f -c %T "$STATE_ROOT")" = tmpfs

write_profile tm allowed.shield.test 198.18.5.5
new_netns t
TM_NS=$NS_NAME
attach_bundle tm "$TM_NS" --profiles tm
TM=$STATE_ROOT/containers/tm
LOG=$TM/dnsmasq.log
EVENTS=$TM/events.jsonl
LOG_MAX=$((64 * 1024))
DNSMASQ_PID=$(cat "$TM/dnsmasq.pid")
check "dnsmasq.log is on the tmpfs" test "$(stat -f -c %T "$LOG")" = tmpfs

start_nftsetd --log-max 64K --events-max 32M
check "tm is attached" ev_wait "$EVENTS" '.kind == "watch.attached"'

# lines FIRST COUNT: dnsmasq-format blocked-query lines blkN.tm.test, in one write.
cat >"$TMP/lines.py" <<'EOF'
import os, sys, time
path, first, count, pid, pace = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
stamp = time.strftime("%b %e %H:%M:%S")
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
step = count if pace == 0 else 200
for i in range(first, first + count, step):
    os.write(fd, "".join(
        "%s dnsmasq[%s]: %d 127.0.0.1/40000 config blk%d.tm.test is NXDOMAIN\n" % (stamp, pid, 900000 + j, j)
        for j in range(i, min(i + step, first + count))).encode())
    if pace:
        time.sleep(pace)
EOF
lines_now() { report tm | jq '.containers[0].nftsetd.lines'; }
cuts_now() { report tm | jq '.containers[0].nftsetd.cuts'; }
lines_at() { [[ $(lines_now) == "$1" ]]; }

# ------------------------------------------------------ step by step
STEPS=30
bounded=0 max=0
expected=$(lines_now)
for ((k = 0; k < STEPS; k++)); do
	python3 "$TMP/lines.py" "$LOG" $((k * 1000)) 1000 "$DNSMASQ_PID" 0
	expected=$((expected + 1000))
	wait_until 300 lines_at "$expected" || { say "    step $k: $(lines_now) lines read, $expected expected"; break; }
	size=$(stat -c %s "$LOG")
	((size > max)) && max=$size
	((size <= LOG_MAX)) && bounded=$((bounded + 1))
done
say "    $STEPS steps of ~75 KiB: the log at most $max bytes after a step; $(cuts_now) cuts"
check "after each of the $STEPS steps the log is back within --log-max ($max bytes at most)" \
	test "$bounded" = "$STEPS"
check "every line read once (the lines counter)" lines_at "$expected"
check "the report counts a cut per step" test "$(cuts_now)" -ge "$STEPS"
check "the cuts are log.gap events saying why" \
	test "$(ev_count "$EVENTS" '.kind == "log.gap" and (.detail | test("cannot cut the head"))')" -ge "$STEPS"
check "nftsetd said the filesystem cannot collapse" grep -q "cannot collapse dnsmasq.log" "$TMP/nftsetd.log"
every_line_once() {
	local n
	n=$(ev_select "$EVENTS" '.kind == "blocked_query" and (.domain | test("^blk[0-9]+\\.tm\\.test$"))' |
		jq -r .domain | sort -u | wc -l)
	[[ $n == $((STEPS * 1000)) ]] && return 0
	say "    $n distinct blocked names, $((STEPS * 1000)) written"
	return 1
}
check "every line's blocked_query event is there" every_line_once

# ---------------------------------------------- a stream while cutting
python3 "$TMP/lines.py" "$LOG" 100000 20000 "$DNSMASQ_PID" 0.002
in_ns "$TM_NS" dig +short +tries=1 +time=3 @127.0.0.1 after-stream.tm.test A >/dev/null 2>&1 || true
check "after the stream, a query dnsmasq logs into the truncated file is read" \
	ev_wait "$EVENTS" '.kind == "blocked_query" and .domain == "after-stream.tm.test"' 300
# within_max: the log is at most --log-max (nftsetd cuts it right after the
# read that wrote the event above, so the cut may trail the event a little).
within_max() { (($(stat -c %s "$LOG") <= LOG_MAX)); }
wait_until 100 within_max || true
size=$(stat -c %s "$LOG")
say "    the log holds $size bytes after the stream ($(cuts_now) cuts)"
check "... and the log ends within --log-max" test "$size" -le "$LOG_MAX"
check "... with no hole: it is text from its first byte" \
	bash -c '! head -c 4096 "$1" | tr -d "\n[:print:]" | grep -q .' _ "$LOG"
check "nftsetd survived all of it" kill -0 "$NFTSETD_PID"

stop_nftsetd
check "SIGTERM: nftsetd exits 0 (uv_loop_close returned 0)" test "$NFTSETD_RC" = 0
NFTSETD_PID=
shield detach tm >/dev/null || true
umount "$STATE_ROOT" && MOUNTED=0
check "the tmpfs is unmounted" bash -c '! mountpoint -q "$1"' _ "$STATE_ROOT"
finish
