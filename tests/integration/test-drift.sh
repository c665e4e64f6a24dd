#!/usr/bin/env bash
# Drift and rotation end to end: namespaces shielded with `shield attach`
# (real dnsmasq, real kernel), the real nftsetd, `shield watch --json` as
# the subscriber and `shield drift` as the operator's report. Each drift
# kind is caused the way it happens on a host and must show up as its
# event, in the report, and (where nftsetd repairs) in the kernel again:
#
#   rotation           the test DNS changes a name's answer
#   blocked_query      a query for a name no allowlist covers
#   drift.unexplained  `nft add element ... allow_v4 { 198.18.9.9 }` from outside
#   drift.missing      `nft delete element` of a static entry (repaired)
#   drift.stale_answer dnsmasq re-forwards a name shortly before its element
#                      expires: the re-add does not refresh the element, the
#                      new answer is cached past the expiry and served (repaired)
#   dnsmasq.down       dnsmasq killed (the event's time within 1 s of the kill)
#   ruleset.tampered   chain policy changed; table deleted
#
# `shield drift --json` is checked against the events (each check's count
# equals the events of its kind in the bundle's events.jsonl, its open
# events are events that were emitted, open iff it has open events), exit 3
# while drift is open and 0 when clean; and without nftsetd, the one-shot
# report (bundle + whole log + kernel dump), marked "source":"one-shot".
# shellcheck disable=SC2016 # jq filters and bash -c scripts are single-quoted on purpose
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib-watch.sh
source "$(dirname "$0")/lib-watch.sh"

require_root
require_cmd ip nft dnsmasq dig jq socat
require_shield
require_nftsetd

init_tmp
watch_env_init
topo_build
# The upstream knows rot.shield.test from a hosts file the test rewrites
# (SIGHUP re-reads it), and gives every answer a TTL of 60 s so that
# shield's dnsmasq caches it (up to its cap, half the set timeout).
UP_HOSTS=$TMP/upstream.hosts
echo "198.18.1.20 rot.shield.test" >"$UP_HOSTS"
topo_start_dns --addn-hosts="$UP_HOSTS" --local-ttl=60
init_shield_dirs

# web: a 10 s set timeout (dnsmasq caps its cache at 5 s); quiet: nothing
# ever happens in it (its own namespace, no link, default timeout).
readonly STATIC=198.18.5.5
readonly ALIEN=198.18.9.9
write_profile drift allowed.shield.test rot.shield.test "$STATIC"
attach_bundle web "$CLIENT_NS" --profiles drift --set-timeout 10s
new_netns quiet
QUIET_NS=$NS_NAME
attach_bundle quiet "$QUIET_NS" --profiles drift
WEB_DIR=$STATE_ROOT/containers/web

# q NAME [TYPE]: ask web's dnsmasq (127.0.0.1 in its namespace); the answer's addresses.
q() {
	in_ns "$CLIENT_NS" dig +short +tries=1 +time=2 @127.0.0.1 "$1" "${2:-A}" 2>/dev/null || true
}
# in_set NS SET ADDR: the kernel's set holds ADDR (nft as the oracle). The
# listing is taken whole first: nft writes it in many small writes, so in
# `nft ... | grep -q` (pipefail) grep can exit at the match before nft's last
# write, nft dies of SIGPIPE and the pipeline fails although ADDR is there
# (how "not repaired away" flaked, the element's timeout aside).
in_set() {
	local out
	out=$(in_ns "$1" nft list set inet terok_shield "$2" 2>/dev/null) || return 1
	grep -qE "[ {]$3( |,|$)" <<<"$out"
}
# report_has NAME FILTER: nftsetd's report for NAME ("" = all) satisfies FILTER.
report_has() {
	report "$1" | jq -e "$2" >/dev/null 2>&1
}
# ev_count_is FILE FILTER N: exactly N events of FILE match.
ev_count_is() {
	local n
	n=$(ev_count "$1" "$2")
	[[ $n == "$3" ]] && return 0
	say "    $n events match ($2), expected $3"
	return 1
}
# at_least FILE FILTER N: N or more events of FILE match (quiet, for wait loops).
at_least() {
	(($(ev_count "$1" "$2") >= $3))
}
# rotated_to ADDR: web's dnsmasq answers rot.shield.test with ADDR (slowly polled).
rotated_to() {
	[[ $(q rot.shield.test) == "$1" ]] && return 0
	sleep 0.4
	return 1
}
# marker_seen: a blocked query for marker.invalid reached both unfiltered-enough streams.
marker_seen() {
	q marker.invalid >/dev/null
	grep -q marker.invalid "$STREAM" && grep -q marker.invalid "$WEB_STREAM"
}
# no_timer NS SET ADDR: ADDR is in SET with no timeout and no expiry.
no_timer() {
	local out
	out=$(in_ns "$1" nft list set inet terok_shield "$2") || return 1
	grep -qE "[ {]$3( |,|$)" <<<"$out" && ! grep -qE "$3 (timeout|expires)" <<<"$out"
}
# has_timer NS SET ADDR: ADDR is in SET and expires.
has_timer() {
	local out
	out=$(in_ns "$1" nft list set inet terok_shield "$2")
	grep -qE "$3 (timeout [0-9a-z]+ )?expires" <<<"$out" && return 0
	say "    $3 is not in $2 with a timer: $(tr -s '\n\t' '  ' <<<"$out")"
	return 1
}

# ==================================================== without nftsetd: one-shot

# Something in web's log: a resolved name, added to allow_v4 by dnsmasq.
[[ $(q allowed.shield.test) == "$PUB_ALLOWED" ]] || die "web's dnsmasq does not resolve allowed.shield.test"

ALL_CHECKS='["dnsmasq.down","drift.denied_present","drift.missing","drift.stale_answer","drift.unexplained","log.gap","ruleset.tampered"]'
check "one-shot: clean namespaces exit 0, every check ok, marked source one-shot" \
	drift_is 0 '.source == "one-shot" and .version == 1 and ([.containers[].name] | sort) == ["quiet", "web"] and all(.containers[]; .clean and all(.checks[]; .state == "ok"))' --json
check "one-shot: without nftsetd shield says so on stderr, naming the socket and how to start it" \
	grep -qF "nftsetd is not running (no socket at $SOCK; start it with \`systemctl start nftsetd\` or run \`nftsetd\`)" "$TMP/drift.err"
check "one-shot: every drift kind is a check" \
	jq -e --argjson all "$ALL_CHECKS" 'all(.containers[]; (.checks | map(.kind) | sort) == ($all | sort))' "$TMP/drift.out" >/dev/null
check "one-shot: web's domains show the address dnsmasq added, with time left" \
	jq -e --arg ip "$PUB_ALLOWED" '.containers[] | select(.name == "web") | .domains[] | select(.domain == "allowed.shield.test") | .addresses | any(.ip == $ip and .set == "allow_v4" and .expires_in_ms > 0)' "$TMP/drift.out" >/dev/null
check "one-shot: mode, policy and a live dnsmasq from the bundle and the registry" \
	jq -e --argjson pid "$(registry_field web dnsmasq_pid)" '.containers[] | select(.name == "web") | .mode == "up" and .dns_policy == "strict" and .dnsmasq.pid == $pid and .dnsmasq.alive' "$TMP/drift.out" >/dev/null

# An element nobody explains. An hour's timeout: with the set's 10 s it could
# expire during the checks below on a loaded machine (and the delete after
# them would then fail).
in_ns "$CLIENT_NS" nft add element inet terok_shield allow_v4 "{ 198.18.9.10 timeout 1h }"
check "one-shot: an element added from outside is drift.unexplained, exit 3" \
	drift_is 3 '.source == "one-shot" and (.containers | length) == 1 and .containers[0].clean == false and (.containers[0].checks[] | select(.kind == "drift.unexplained") | .state == "open" and .count == 1 and any(.open[]; .ip == "198.18.9.10"))' web --json
check "one-shot: the text report names the element and says drift is open" \
	drift_is 3 '' web
check "one-shot: ... (text: OPEN drift.unexplained, the address, one-shot)" \
	bash -c 'grep -q "OPEN  drift.unexplained" "$1" && grep -q "198.18.9.10" "$1" && grep -q "^one-shot" "$1"' _ "$TMP/drift.out"
in_ns "$CLIENT_NS" nft delete element inet terok_shield allow_v4 "{ 198.18.9.10 }"
check "one-shot: once it is gone web is clean again (asked by --state-dir), exit 0" \
	drift_is 0 '.containers[0].name == "web" and .containers[0].clean' --state-dir "$WEB_DIR" --json
rc=0
shield drift nosuch >/dev/null 2>"$TMP/drift.err" || rc=$?
check "drift of a container nobody knows: exit 1 naming it" \
	bash -c '[[ $1 == 1 ]] && grep -q "nosuch" "$2"' _ "$rc" "$TMP/drift.err"
rc=0
shield watch --json >"$TMP/watch.out" 2>"$TMP/watch.err" || rc=$?
check "watch without nftsetd exits 1 saying nftsetd is not running" \
	bash -c '[[ $1 == 1 ]] && grep -qF "shield: watch: nftsetd is not running (no socket at $2" "$3"' _ "$rc" "$SOCK" "$TMP/watch.err"

# ======================================================= nftsetd and the stream

start_nftsetd --resync 2
check "nftsetd reports both containers" wait_containers 2
STREAM=$TMP/stream.jsonl
start_bg shield watch --json >"$STREAM" 2>"$TMP/stream.err"
WEB_STREAM=$TMP/web-stream.jsonl
start_bg shield watch web --json >"$WEB_STREAM" 2>"$TMP/web-stream.err"
QUIET_STREAM=$TMP/quiet-stream.jsonl
start_bg shield watch --state-dir "$STATE_ROOT/containers/quiet" >"$QUIET_STREAM" 2>"$TMP/quiet-stream.err"
# The subscribers are in once a blocked query in web reaches them.
wait_until 150 marker_seen ||
	die "the subscribers never saw the marker query: $(cat "$TMP/stream.err" "$TMP/web-stream.err")"
check "with nftsetd: both clean at the start, exit 0, the report comes from nftsetd" \
	drift_is 0 '.source == "nftsetd" and (.containers | length) == 2 and all(.containers[]; .clean)' --json

# ------------------------------------------------------------ blocked query
q other.shield.test >/dev/null
check "blocked_query: a query for a name no allowlist covers" \
	ev_wait "$STREAM" '.kind == "blocked_query" and .container == "web" and .domain == "other.shield.test"'
check "blocked_query: counted in the report" \
	report_has web '.containers[0].blocked_queries >= 2'

# ------------------------------------------------------------------ rotation
[[ $(q rot.shield.test) == 198.18.1.20 ]] || die "rot.shield.test does not resolve to 198.18.1.20"
echo "198.18.1.21 rot.shield.test" >"$UP_HOSTS"
kill -HUP "$DNS_PID"
# web's dnsmasq keeps the old answer up to 5 s (its cache cap); ask until the new one comes.
wait_until 30 rotated_to 198.18.1.21 || die "web's dnsmasq never answered the rotated address"
check "rotation: an event naming the domain, the added and the removed address" \
	ev_wait "$STREAM" '.kind == "rotation" and .container == "web" and .domain == "rot.shield.test" and .added == ["198.18.1.21"] and .removed == ["198.18.1.20"]'
check "rotation: the report shows the new address and when the rotation was" \
	report_has web '.containers[0].domains[] | select(.domain == "rot.shield.test") | (.last_rotation | type) == "string" and any(.addresses[]; .ip == "198.18.1.21")'

# -------------------------------------------------------- drift.unexplained
# An hour's timeout: with the set's own 10 s the element could expire before
# the checks below are done on a loaded machine (it did once in CI).
in_ns "$CLIENT_NS" nft add element inet terok_shield allow_v4 "{ $ALIEN timeout 1h }"
check "drift.unexplained: the element added from outside, naming the writer (nft) and its pid" \
	ev_wait "$STREAM" ".kind == \"drift.unexplained\" and .container == \"web\" and .ip == \"$ALIEN\" and .set == \"allow_v4\" and .comm == \"nft\" and (.pid | type) == \"number\""
UNEXPLAINED_ID=$(jq -r .id <<<"$EV")
check "drift.unexplained: shield drift exits 3 and lists that event as open" \
	drift_is 3 ".containers[0].checks[] | select(.kind == \"drift.unexplained\") | .state == \"open\" and (.open | map(.id)) == [$UNEXPLAINED_ID]" web --json
check "drift.unexplained: the quiet container stays clean (exit 0)" drift_is 0 '' quiet
sleep 5 # two resync periods: the table is dumped again, twice
check "drift.unexplained: exactly one event for $ALIEN (the periodic dumps add none)" \
	ev_count_is "$STREAM" ".kind == \"drift.unexplained\" and .ip == \"$ALIEN\"" 1
check "drift.unexplained: not repaired away (nftsetd removes nothing)" \
	in_set "$CLIENT_NS" allow_v4 "$ALIEN"
in_ns "$CLIENT_NS" nft delete element inet terok_shield allow_v4 "{ $ALIEN }"
check "drift.unexplained: resolved once the element is gone (state ok, count kept)" \
	wait_until 100 report_has web '.containers[0].checks[] | select(.kind == "drift.unexplained") | .state == "ok" and .open == [] and .count == 1'

# ------------------------------------------------------------- drift.missing
in_ns "$CLIENT_NS" nft delete element inet terok_shield allow_v4 "{ $STATIC }"
check "drift.missing: deleting a static entry is reported, naming it" \
	ev_wait "$STREAM" ".kind == \"drift.missing\" and .container == \"web\" and .ip == \"$STATIC\""
check "drift.missing: the repair is reported" \
	ev_wait "$STREAM" ".kind == \"drift.missing\" and .ip == \"$STATIC\" and .repaired == true"
check "drift.missing: the static entry is back in the kernel's set, with no timer" \
	wait_until 50 no_timer "$CLIENT_NS" allow_v4 "$STATIC"
check "with every drift repaired or gone, web is clean: exit 0" \
	wait_until 100 drift_is 0 '' web

# ------------------------------------------------------- drift.stale_answer
# allowed.shield.test's element lives 10 s; dnsmasq caches answers 5 s. The
# schedule counts from the element's expiry E as the kernel states it
# (nft's "expires"), not from when the test asked: a forward at E - 1 s
# re-adds the element, which refreshes nothing in the kernel, and caches the
# answer until E + 4 s; asked at E + 3 s (past nftsetd's 2 s tolerance)
# dnsmasq answers from its cache an address the kernel no longer holds. Each
# step has a second of margin either side. Up to three rounds, should the
# machine's load upset the schedule anyway.
# sleep_until T0_NS MS: sleep until MS milliseconds after T0_NS.
sleep_until() {
	local now left
	now=$(date +%s%N)
	left=$((($1 + $2 * 1000000 - now) / 1000000))
	((left <= 0)) || sleep "$(awk -v ms="$left" 'BEGIN { printf "%.3f", ms / 1000 }')"
}
# expires_ms NS SET ADDR: the milliseconds ADDR's element in SET has left
# (nft lists e.g. "198.18.1.2 expires 9s870ms"); fails if it has no timer.
expires_ms() {
	in_ns "$1" nft list set inet terok_shield "$2" | tr ',{}' '\n' | awk -v a="$3" '
		$1 == a { for (i = 2; i < NF; i++) if ($i == "expires") e = $(i + 1) }
		END {
			if (e == "") exit 1
			ms = 0
			while (match(e, /^[0-9]+(ms|d|h|m|s)/)) {
				t = substr(e, 1, RLENGTH); n = t + 0; u = substr(t, length(n "") + 1)
				ms += n * (u == "ms" ? 1 : u == "s" ? 1000 : u == "m" ? 60000 : u == "h" ? 3600000 : 86400000)
				e = substr(e, RLENGTH + 1)
			}
			print ms
		}'
}
stale_round() {
	local t0 t1 left before
	before=$(ev_count "$STREAM" '.kind == "drift.stale_answer"')
	in_ns "$CLIENT_NS" nft delete element inet terok_shield allow_v4 "{ $PUB_ALLOWED }" 2>/dev/null || true
	sleep 6 # dnsmasq's cached answer (5 s) is gone: the next query is forwarded and added anew
	[[ $(q allowed.shield.test) == "$PUB_ALLOWED" ]] || return 1
	t0=$(date +%s%N)
	left=$(expires_ms "$CLIENT_NS" allow_v4 "$PUB_ALLOWED") || return 1
	t1=$(date +%s%N)
	t0=$(((t0 + t1) / 2)) # E = t0 + left
	((left > 2000)) || return 1
	sleep_until "$t0" $((left - 1000))
	q allowed.shield.test >/dev/null # forwarded again: re-added, not refreshed
	sleep_until "$t0" $((left + 3000))
	q allowed.shield.test >/dev/null # from the cache: the element expired 3 s ago
	# nftsetd judges a cached answer once the kernel view is current (up to a resync or two).
	wait_until 100 stale_seen "$before"
}
# stale_seen N: more than N drift.stale_answer events on the stream.
stale_seen() {
	(($(ev_count "$STREAM" '.kind == "drift.stale_answer"') > $1))
}
for round in 1 2 3; do
	! stale_round || break
	say "    (stale-answer round $round saw no event; informational)"
done
check "drift.stale_answer: a cached answer whose element expired, naming domain and address" \
	ev_wait "$STREAM" ".kind == \"drift.stale_answer\" and .container == \"web\" and .domain == \"allowed.shield.test\" and .ip == \"$PUB_ALLOWED\"" 10
check "drift.stale_answer: repaired (reported so)" \
	ev_wait "$STREAM" ".kind == \"drift.stale_answer\" and .ip == \"$PUB_ALLOWED\" and .repaired == true" 30
check "drift.stale_answer: the address is back in the set, expiring (the set timeout)" \
	wait_until 30 has_timer "$CLIENT_NS" allow_v4 "$PUB_ALLOWED"

# ------------------------------------------------------------- dnsmasq.down
DNSMASQ_PID=$(registry_field web dnsmasq_pid)
t_kill=$(date +%s.%N)
kill -KILL "$DNSMASQ_PID"
check "dnsmasq.down: reported on the stream" \
	ev_wait "$STREAM" '.kind == "dnsmasq.down" and .container == "web"'
t_event=$(date -d "$(jq -r .ts <<<"$EV")" +%s.%N)
check "dnsmasq.down: the event's time is within 1 s of the kill (kill $t_kill, event $t_event)" \
	awk -v k="$t_kill" -v e="$t_event" 'BEGIN { exit !(e - k >= -0.01 && e - k <= 1.0) }'
check "dnsmasq.down: open in the report, dnsmasq not alive, exit 3" \
	drift_is 3 '.containers[0] | .dnsmasq.alive == false and (.checks[] | select(.kind == "dnsmasq.down") | .state == "open")' web --json

# --------------------------------------------------------- ruleset.tampered
in_ns "$CLIENT_NS" nft chain inet terok_shield output "{ policy accept ; }"
check "ruleset.tampered: a changed chain policy" \
	ev_wait "$STREAM" '.kind == "ruleset.tampered" and .container == "web"'
shield apply --netns "$(netns_path "$CLIENT_NS")" --state-dir "$WEB_DIR" --mode up >/dev/null
check "ruleset.tampered: resolved once shield applies the bundle's ruleset again" \
	wait_until 100 report_has web '.containers[0].checks[] | select(.kind == "ruleset.tampered") | .state == "ok" and .count == 1'
in_ns "$CLIENT_NS" nft delete table inet terok_shield
check "ruleset.tampered: deleting the table is a second event" \
	wait_until 100 at_least "$STREAM" '.kind == "ruleset.tampered" and .container == "web"' 2
check "shield drift (all): exit 3 while web's drift is open" drift_is 3 ''
check "shield drift (all): the text marks web's open checks and says drift is open" \
	bash -c 'grep -q "OPEN  ruleset.tampered" "$1" && grep -q "OPEN  dnsmasq.down" "$1" && grep -q "^drift open" "$1"' _ "$TMP/drift.out"

# ------------------------------------------- the report against the events
# validate_report: for every container and check of nftsetd's report, its
# count is the number of events of that kind in the bundle's events.jsonl
# (every event nftsetd wrote), its open events were emitted (their ids are
# on the stream), and it is open exactly when it has open events.
validate_report() {
	local name
	for name in web quiet; do
		ev_select "$STATE_ROOT/containers/$name/events.jsonl" 'true' >"$TMP/all.$name.jsonl"
	done
	ev_select "$STREAM" 'true' >"$TMP/seen.jsonl"
	report "" >"$TMP/report.json"
	jq -r --slurpfile seen "$TMP/seen.jsonl" --slurpfile web "$TMP/all.web.jsonl" \
		--slurpfile quiet "$TMP/all.quiet.jsonl" '
		.containers[] as $c | ($c.name) as $n
		| (if $n == "web" then $web else $quiet end) as $all
		| $c.checks[] as $k
		| ($all | map(select(.kind == $k.kind))) as $mine
		| ($k.open | map(.id)) as $open
		| ($seen | map(select(.container == $n and .kind == $k.kind) | .id)) as $ids
		| select($k.count != ($mine | length) or ($open - $ids | length) > 0
			or (($k.state == "open") != (($k.open | length) > 0)))
		| "\($n) \($k.kind): state \($k.state), count \($k.count) vs \($mine | length) in events.jsonl, open \($open) vs emitted \($ids)"' \
		"$TMP/report.json" >"$TMP/mismatch" || {
		say "    cannot validate the report: $(head -c 500 "$TMP/report.json")"
		return 1
	}
	[[ -s $TMP/mismatch ]] || return 0
	sed 's/^/    /' "$TMP/mismatch" >&2
	return 1
}
# every_event_filed: the stream's web events are all in web's events.jsonl, and no id twice there.
every_event_filed() {
	ev_select "$STREAM" '.container == "web"' | jq -c .id | sort >"$TMP/ids.stream"
	ev_select "$WEB_DIR/events.jsonl" 'true' | jq -c .id | sort >"$TMP/ids.file"
	[[ -s $TMP/ids.stream && -z $(comm -23 "$TMP/ids.stream" "$TMP/ids.file") && -z $(uniq -d "$TMP/ids.file") ]]
}
sleep 3 # over a resync period: nothing is in flight
check "shield drift --json agrees with the events: counts, open events, states" validate_report
check "clean is false exactly where a check is open" \
	report_has "" 'all(.containers[]; .clean == all(.checks[]; .state == "ok"))'
check "every web event on the stream is in web's events.jsonl, and none twice" every_event_filed
check "shield watch web: only web's events" \
	bash -c '[[ $(grep -c . "$1") -gt 0 ]] && ! grep -v "\"container\":\"web\"" "$1" | grep -q .' _ "$WEB_STREAM"
check "shield watch --state-dir (quiet): none of web's events" \
	ev_count_is "$QUIET_STREAM" '.container == "web"' 0
check "shield watch --json: one event object per line (kind, ts, id, container)" \
	ev_count_is "$STREAM" '(.kind | type) != "string" or (.ts | type) != "string" or (.id | type) != "number" or (.container | type) != "string"' 0

# ============================================= one-shot after nftsetd stopped
stop_nftsetd
check "nftsetd exits 0 on SIGTERM" test "$NFTSETD_RC" = 0
check "a subscriber ends when nftsetd goes away, saying so" \
	wait_until 50 grep -q "nftsetd closed the connection" "$TMP/stream.err"
check "one-shot after nftsetd: web's killed dnsmasq and deleted table are open, exit 3" \
	drift_is 3 '.source == "one-shot" and (.containers[] | select(.name == "web") | (.checks | map(select(.state == "open") | .kind)) as $o | ($o | index("dnsmasq.down")) != null and ($o | index("ruleset.tampered")) != null)' --json
check "one-shot after nftsetd: quiet is clean, exit 0" \
	drift_is 0 '.source == "one-shot" and .containers[0].name == "quiet" and .containers[0].clean' quiet --json

finish
