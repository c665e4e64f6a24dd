#!/usr/bin/env bash
# nftsetd under the real systemd-journald, and its sd_notify readiness.
#
# systemd is not PID 1 here, but its journald runs by hand: in a mount
# namespace of its own (unshare -m) with a tmpfs on /run (the host's
# /run/netns bound back in, so nftsetd finds the test's namespace) and on
# /var/log/journal, /lib/systemd/systemd-journald listens on
# /run/systemd/journal/{socket,stdout} as under systemd, and journalctl
# reads back what it stored (-o json). nftsetd watches one namespace
# shielded with `shield attach` (real dnsmasq, real kernel).
#
# 1. nftsetd started as systemd starts a service (stderr a journal stream,
#    systemd-cat; JOURNAL_STREAM naming it): each message is a native
#    journal entry (_TRANSPORT=journal, none on the stream) with PRIORITY,
#    SYSLOG_IDENTIFIER, CODE_FILE/LINE/FUNC; the attach carries
#    SHIELD_CONTAINER, SHIELD_CONTAINER_ID, SHIELD_STATE_DIR; an element
#    added with nft from outside is a warning (PRIORITY 4) with
#    SHIELD_EVENT_KIND=drift.unexplained, SHIELD_IP and SHIELD_SET.
#    NOTIFY_SOCKET: READY=1 comes once the socket answers and the entry is
#    attached (a receiver asks for the report the moment READY=1 arrives),
#    STOPPING=1 on SIGTERM.
# 2. Without JOURNAL_STREAM the same messages go to stderr as "<N>message"
#    lines, which journald's stream reads as priority N (_TRANSPORT=stdout,
#    no CODE_FILE).
# 3. JOURNAL_STREAM names stderr but the journal's socket is not there:
#    the messages fall back to stderr, none lost.
# shellcheck disable=SC2016 # jq filters and bash -c scripts are single-quoted on purpose
set -euo pipefail

readonly JOURNALD=${SHIELD_JOURNALD:-/lib/systemd/systemd-journald}

# ---- inside the mount namespace (the test runs itself with --journal-ns TMP)
if [[ ${1:-} == --journal-ns ]]; then
	tmp=$2
	shift 2
	mkdir -p "$tmp/hostrun"
	mount --rbind /run "$tmp/hostrun"
	mount -t tmpfs -o mode=0755 tmpfs /run
	mkdir /run/netns
	mount --rbind "$tmp/hostrun/netns" /run/netns
	[[ ! -d /var/log/journal ]] || mount -t tmpfs tmpfs /var/log/journal
	"$JOURNALD" >"$tmp/journald.log" 2>&1 &
	jpid=$!
	pid=
	trap '[[ -z $pid ]] || kill "$pid" 2>/dev/null; kill "$jpid" 2>/dev/null; exit 1' TERM INT
	for ((i = 0; i < 100; i++)); do
		[[ -S /run/systemd/journal/socket && -S /run/systemd/journal/stdout ]] && break
		sleep 0.1
	done
	[[ -S /run/systemd/journal/stdout ]] || {
		echo "journald did not come up" >"$tmp/ns.failed"
		kill "$jpid"
		exit 1
	}
	touch "$tmp/ns.journald-up"
	# run_step NAME STREAM(native|plain|fallback) ARGS...: nftsetd until TMP/NAME.stop exists.
	run_step() {
		local name=$1 how=$2 rc=0
		shift 2
		case $how in
		native)
			systemd-cat -t nftsetd bash -c \
				'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$@"' _ "$@" &
			;;
		plain)
			systemd-cat -t nftsetd env -u JOURNAL_STREAM "$@" &
			;;
		fallback)
			mv /run/systemd/journal/socket /run/systemd/journal/socket.away
			: >"$tmp/$name.stderr"
			bash -c 'exec 2>>"$0"; JOURNAL_STREAM=$(stat -L -c %d:%i "$0") exec "$@"' \
				"$tmp/$name.stderr" "$@" &
			;;
		esac
		pid=$!
		echo "$pid" >"$tmp/$name.pid"
		while [[ ! -e $tmp/$name.stop ]] && kill -0 "$pid" 2>/dev/null; do
			sleep 0.1
		done
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" || rc=$?
		pid=
		echo "$rc" >"$tmp/$name.rc"
		[[ $how != fallback ]] || mv /run/systemd/journal/socket.away /run/systemd/journal/socket
	}
	nft=("$@")
	run_step native native env NOTIFY_SOCKET="$tmp/notify" "${nft[@]}"
	run_step plain plain "${nft[@]}"
	run_step fallback fallback "${nft[@]}"
	journalctl --directory=/run/log/journal -o json --no-pager >"$tmp/journal.json" 2>"$tmp/journalctl.err" ||
		true
	kill "$jpid"
	wait "$jpid" || true
	touch "$tmp/ns.done"
	exit 0
fi

# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib-watch.sh
source "$(dirname "$0")/lib-watch.sh"

require_root
require_cmd ip nft dnsmasq jq socat unshare mount systemd-cat journalctl stat python3
require_shield
require_nftsetd
[[ -x $JOURNALD ]] || skip_or_fail "no systemd-journald at $JOURNALD (Debian: package systemd)"

init_tmp
watch_env_init
init_shield_dirs
readonly ROGUE_IP=198.18.9.9
write_profile jn allowed.shield.test 198.18.7.7
new_netns j
J_NS=$NS_NAME
attach_bundle jn "$J_NS" --profiles jn
JN=$STATE_ROOT/containers/jn
JN_ID=$(registry_field jn id)

# The notification receiver: each datagram on a line of its own (newlines
# as '|'); the moment READY=1 arrives it asks nftsetd for its report.
start_bg python3 -c '
import socket, sys
path, log, report, sock = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
while True:
    msg = s.recv(65536).decode()
    if "READY=1" in msg.split("\n"):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(sock)
        c.sendall(b"{\"request\":\"report\"}\n")
        data = b""
        while True:
            b = c.recv(65536)
            if not b:
                break
            data += b
        open(report, "wb").write(data)
    with open(log, "a") as f:
        f.write(msg.replace("\n", "|") + "\n")
' "$TMP/notify" "$TMP/notify.log" "$TMP/ready-report.json" "$SOCK"
wait_until 100 test -S "$TMP/notify" || die "the notification receiver did not bind $TMP/notify"

start_bg unshare -m --propagation private bash "$0" --journal-ns "$TMP" \
	"$NFTSETD_BIN" --runtime-dir "$RUN" -v
NS_PID=$LAST_PID
wait_until 100 test -e "$TMP/ns.journald-up" || die "journald did not start: $(cat "$TMP/ns.failed" "$TMP/journald.log" 2>/dev/null)"
say "    systemd-journald runs in a mount namespace of the test's"

# ---------------------------------------------- 1. native protocol, sd_notify

check "nftsetd says READY=1 to NOTIFY_SOCKET" wait_until 300 grep -q '^READY=1|' "$TMP/notify.log"
check "... after the entry present at start was attached (the report asked at READY=1 lists it)" \
	bash -c 'jq -e --arg id "$1" "[.containers[].id] == [\$id]" "$2" >/dev/null' _ "$JN_ID" "$TMP/ready-report.json"
check "... with a STATUS= line" grep -q '^READY=1|STATUS=watching 1 containers, serving ' "$TMP/notify.log"
check "jn is attached" ev_wait "$JN/events.jsonl" '.kind == "watch.attached"'
in_ns "$J_NS" nft add element inet terok_shield allow_v4 "{ $ROGUE_IP }"
check "an element added from outside: drift.unexplained" \
	ev_wait "$JN/events.jsonl" ".kind == \"drift.unexplained\" and .ip == \"$ROGUE_IP\""
touch "$TMP/native.stop"
check "SIGTERM: nftsetd exits 0" wait_until 300 grep -sqx 0 "$TMP/native.rc"
check "... after STOPPING=1" grep -qx 'STOPPING=1' "$TMP/notify.log"
# The plain run: up once its socket answers, then stopped.
check "the second nftsetd (no JOURNAL_STREAM) comes up" wait_until 300 nftsetd_answers
touch "$TMP/plain.stop"
check "... and exits 0" wait_until 300 grep -sqx 0 "$TMP/plain.rc"
check "the third nftsetd (the journal socket gone) comes up" wait_until 300 nftsetd_answers
touch "$TMP/fallback.stop"
check "... and exits 0" wait_until 300 grep -sqx 0 "$TMP/fallback.rc"
wait_until 300 test -e "$TMP/ns.done" || die "the journal namespace did not finish: $(cat "$TMP/journald.log" 2>/dev/null)"
wait "$NS_PID" || true

J=$TMP/journal.json
say "    journalctl read $(wc -l <"$J") entries ($(cat "$TMP/journalctl.err"))"
NATIVE_PID=$(cat "$TMP/native.pid")
PLAIN_PID=$(cat "$TMP/plain.pid")
# jsel PID FILTER: the entries of nftsetd PID (as journald saw it) matching FILTER, compact.
jsel() {
	jq -c --arg pid "$1" "select(._PID == \$pid) | select($2)" "$J"
}
has_entry() {
	local got
	got=$(jsel "$1" "$2")
	[[ -n $got ]] && return 0
	say "    no journal entry of pid $1 with $2; its entries:"
	jsel "$1" 'true' | jq -c '{PRIORITY, MESSAGE, _TRANSPORT, SHIELD_EVENT_KIND}' | tail -n 20 | sed 's/^/      /' >&2
	return 1
}
no_entry() {
	local got
	got=$(jsel "$1" "$2")
	[[ -z $got ]] && return 0
	say "    journal entries of pid $1 with $2:"
	printf '%s\n' "$got" | head -c 2000 | sed 's/^/      /' >&2
	return 1
}
check "native: the start-up notice, PRIORITY 5, SYSLOG_IDENTIFIER nftsetd, CODE_FILE/LINE/FUNC" \
	has_entry "$NATIVE_PID" '._TRANSPORT == "journal" and .PRIORITY == "5" and .SYSLOG_IDENTIFIER == "nftsetd" and
		(.MESSAGE | startswith("nftsetd ") and contains(" watching ")) and
		(.CODE_FILE | endswith("main.c")) and .CODE_FUNC == "main" and (.CODE_LINE | test("^[0-9]+$"))'
check "native: the attach, PRIORITY 6, with SHIELD_CONTAINER, SHIELD_CONTAINER_ID, SHIELD_STATE_DIR" \
	has_entry "$NATIVE_PID" "._TRANSPORT == \"journal\" and .PRIORITY == \"6\" and (.MESSAGE | startswith(\"attached jn \")) and
		.SHIELD_CONTAINER == \"jn\" and .SHIELD_CONTAINER_ID == \"$JN_ID\" and .SHIELD_STATE_DIR == \"$JN\""
check "native: the drift, a warning with SHIELD_EVENT_KIND, SHIELD_IP, SHIELD_SET, SHIELD_CONTAINER" \
	has_entry "$NATIVE_PID" "._TRANSPORT == \"journal\" and .PRIORITY == \"4\" and
		.SHIELD_EVENT_KIND == \"drift.unexplained\" and .SHIELD_IP == \"$ROGUE_IP\" and
		.SHIELD_SET == \"allow_v4\" and .SHIELD_CONTAINER == \"jn\" and
		(.MESSAGE | startswith(\"jn: drift.unexplained $ROGUE_IP in allow_v4 by nft[\"))"
check "native: debug messages (-v) at PRIORITY 7" has_entry "$NATIVE_PID" '.PRIORITY == "7"'
check "native: the clean stop, PRIORITY 6" has_entry "$NATIVE_PID" '.PRIORITY == "6" and .MESSAGE == "stopped cleanly"'
check "native: nothing came through the stream instead" no_entry "$NATIVE_PID" '._TRANSPORT != "journal"'

check "plain: the start-up notice through the stream, <5> read as PRIORITY 5" \
	has_entry "$PLAIN_PID" '._TRANSPORT == "stdout" and .PRIORITY == "5" and .SYSLOG_IDENTIFIER == "nftsetd" and
		(.MESSAGE | startswith("nftsetd ") and contains(" watching "))'
check "plain: the attach at PRIORITY 6, no structured fields" \
	has_entry "$PLAIN_PID" '._TRANSPORT == "stdout" and .PRIORITY == "6" and (.MESSAGE | startswith("attached jn ")) and
		.SHIELD_CONTAINER == null and .CODE_FILE == null'
check "plain: no native entry" no_entry "$PLAIN_PID" '._TRANSPORT == "journal"'

check "fallback: with the journal socket gone the messages are on stderr as <N> lines" \
	bash -c 'grep -q "^<5>nftsetd .* watching " "$1" && grep -q "^<6>attached jn " "$1" && grep -qx "<6>stopped cleanly" "$1"' \
	_ "$TMP/fallback.stderr"
finish
