#!/usr/bin/env bash
# nftsetd when the kernel drops nftables notifications: one namespace
# shielded with `shield attach` (real dnsmasq, real kernel), nftsetd with a
# small notification receive buffer (--netlink-rcvbuf 4K) and no periodic
# dump to speak of (--resync 3600). nftsetd is stopped (SIGSTOP) while many
# nft transactions are committed in the namespace, the last one adding an
# element to allow_v4 that nothing explains; its notification cannot reach
# the full socket. After SIGCONT nftsetd reads ENOBUFS: a netlink.resync
# event, a full dump, and the drift that the lost transactions made is
# reported all the same (drift.unexplained for the element, after the
# resync). Counts and event order only; no timing is asserted.
# shellcheck disable=SC2016 # jq filters are single-quoted on purpose
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib-watch.sh
source "$(dirname "$0")/lib-watch.sh"

require_root
require_cmd ip nft dnsmasq jq socat
require_shield
require_nftsetd

init_tmp
watch_env_init
init_shield_dirs
readonly STATIC_IP=198.18.7.7 ROGUE_IP=198.18.9.9
write_profile rs allowed.shield.test "$STATIC_IP"
new_netns r
RS_NS=$NS_NAME
attach_bundle rs "$RS_NS" --profiles rs
RS=$STATE_ROOT/containers/rs
EVENTS=$RS/events.jsonl

check "--netlink-rcvbuf refuses a size below 4K" \
	bash -c '! "$1" --netlink-rcvbuf 1K --runtime-dir "$2" 2>"$3" && grep -q "netlink-rcvbuf.*at least 4096" "$3"' \
	_ "$NFTSETD_BIN" "$RUN" "$TMP/usage.err"

start_nftsetd --netlink-rcvbuf 4K --resync 3600
check "rs is attached" ev_wait "$EVENTS" '.kind == "watch.attached"'
# A change nftsetd does see first, so the socket is known to work.
in_ns "$RS_NS" nft add element inet terok_shield allow_v4 '{ 198.18.9.1 }'
check "a notification that fits: drift.unexplained named by it (nft)" \
	ev_wait "$EVENTS" '.kind == "drift.unexplained" and .ip == "198.18.9.1" and .comm == "nft"'
in_ns "$RS_NS" nft delete element inet terok_shield allow_v4 '{ 198.18.9.1 }'
check "no netlink.resync so far" bash -c '[[ $(jq -c "select(.kind == \"netlink.resync\")" "$1" | wc -l) == 0 ]]' _ "$EVENTS"
# The delete's notification is handled before nftsetd is stopped.
wait_until 100 bash -c '! printf "%s\n" "{\"request\":\"report\"}" | socat -t5 - "UNIX-CONNECT:$1" |
	jq -e ".containers[0].checks[] | select(.kind == \"drift.unexplained\") | .state == \"open\"" >/dev/null' _ "$SOCK" ||
	say "    the first drift item did not close"

# ------------------------------------------------- lost notifications
kill -STOP "$NFTSETD_PID"
# Many transactions in the namespace: a table of its own with a set of 2,000
# elements (one transaction, thousands of notifications), then 20 more
# transactions on it, then the element nothing explains, last.
{
	echo 'add table inet filler'
	echo 'add set inet filler s { type ipv4_addr; }'
	for ((i = 0; i < 2000; i++)); do
		echo "add element inet filler s { 10.$((i / 250)).$((i % 250)).1 }"
	done
} >"$TMP/filler.nft"
in_ns "$RS_NS" nft -f "$TMP/filler.nft" || die "nft -f filler failed"
for ((i = 0; i < 20; i++)); do
	in_ns "$RS_NS" nft add element inet filler s "{ 10.200.$i.1 }"
done
in_ns "$RS_NS" nft add element inet terok_shield allow_v4 "{ $ROGUE_IP }"
kill -CONT "$NFTSETD_PID"

check "SIGCONT: the kernel dropped notifications, nftsetd says so (netlink.resync)" \
	ev_wait "$EVENTS" '.kind == "netlink.resync"'
# sed reads to the end: `head` could leave jq a SIGPIPE, and under pipefail
# and set -e a second netlink.resync would end the test here.
RESYNC_ID=$(ev_select "$EVENTS" '.kind == "netlink.resync"' | sed -n 1p | jq .id)
check "... and the element the lost transactions added is reported after the resync dump" \
	ev_wait "$EVENTS" ".kind == \"drift.unexplained\" and .ip == \"$ROGUE_IP\" and .id > $RESYNC_ID"
check "... exactly once" test "$(ev_count "$EVENTS" ".kind == \"drift.unexplained\" and .ip == \"$ROGUE_IP\"")" = 1
check "the report counts the loss and shows the drift open" bash -c '
	printf "%s\n" "{\"request\":\"report\",\"container\":\"rs\"}" | socat -t5 - "UNIX-CONNECT:$1" |
		jq -e --arg ip "$2" ".containers[0] | .nftsetd.losses >= 1 and .nftsetd.dumps >= 2 and .clean == false and
			(.checks[] | select(.kind == \"drift.unexplained\") | .state == \"open\" and any(.open[]; .ip == \$ip))" >/dev/null' \
	_ "$SOCK" "$ROGUE_IP"
check "nftsetd logged the loss" grep -q "notifications were lost: dumping again" "$TMP/nftsetd.log"

# After the resync the socket works as before: a delete is seen by its notification.
in_ns "$RS_NS" nft delete element inet terok_shield allow_v4 "{ $ROGUE_IP }"
drift_closed() {
	printf '%s\n' '{"request":"report","container":"rs"}' | socat -t5 - "UNIX-CONNECT:$SOCK" |
		jq -e '.containers[0].checks[] | select(.kind == "drift.unexplained") | .state == "ok"' >/dev/null
}
check "... the element deleted again: the drift item closes (notifications flow again)" wait_until 100 drift_closed

stop_nftsetd
check "SIGTERM: nftsetd exits 0 (uv_loop_close returned 0)" test "$NFTSETD_RC" = 0
shield detach rs >/dev/null || true
finish
