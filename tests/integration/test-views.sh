#!/usr/bin/env bash
# The read-side commands against real namespaces, nftables and dnsmasq:
# `shield status`, `rules`, `logs` and `profiles`. Two "containers" are
# network namespaces shielded with `shield attach` (the world's client
# namespace and a second one); the podman side is tests/e2e's
# test-shield-views.sh. Here podman is out of the picture
# (SHIELD_PODMAN names nothing), so names resolve through the registry and
# the state root, and the --state-dir forms are used as well.
# shellcheck disable=SC2016 # single-quoted scripts and jq filters expand later, on purpose
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

require_root
require_cmd ip nft dnsmasq dig jq
require_shield
init_shield_dirs
topo_build
topo_start_dns

export SHIELD_RUNTIME_DIR=$TMP/run
export SHIELD_PODMAN=$TMP/no-podman-here
unset SHIELD_DNSMASQ
A_NS=$CLIENT_NS
new_netns b
B_NS=$NS_NAME
A=$STATE_ROOT/containers/alpha
B=$STATE_ROOT/containers/beta

# jqe FILTER [ARGS]: jqe on stdin, quiet (the verdict is the exit status).
jqe() { jq -e "$@" >/dev/null; }

# out_is RC_WANT PATTERN: the last run_capture exited RC_WANT and OUT matches PATTERN (glob).
out_is() {
	# shellcheck disable=SC2053 # $2 is a glob pattern on purpose
	[[ $RC == "$1" && $OUT == $2 ]] && return 0
	say "    expected exit $1 and output matching '$2'; got exit $RC:"
	say "    stdout: $OUT"
	say "    stderr: $ERR"
	return 1
}
err_has() {
	[[ $ERR == *"$1"* ]] && return 0
	say "    expected stderr to contain '$1'; got (exit $RC): $ERR"
	return 1
}

# ------------------------------------------------------------------ profiles
say "# profiles"
write_profile web "$DNS_NAME_ALLOWED" "$DNS_NAME_OTHER" "$PUB_ALLOWED" "$PUB6_ALLOWED"
write_profile small "# small: one name, three addresses" "$DNS_NAME_ALLOWED" \
	198.18.1.10 198.18.1.11 198.18.2.0/24
write_profile base "# base: my own base" base.shield.test

run_capture shield profiles
check "profiles lists the bundled and the user profiles" \
	bash -c '[[ $1 == 0 && $2 == *"dev-python "*bundled* && $2 == *"small "*user*" 1 "*" 3 "*"one name, three addresses"* ]]' _ "$RC" "$OUT"
check "profiles says a user profile shadows the bundled one" \
	grep -Eq '^base +user, shadows bundled +1 +0 +my own base$' <<<"$OUT"
check "profiles names both directories" \
	bash -c '[[ $1 == *"user profiles: $2/profiles"* && $1 == *"bundled profiles: $3/profiles"* ]]' _ "$OUT" "$CONFIG_DIR" "$SHIELD_DATA_DIR"
run_capture shield profiles --json
check "profiles --json: the shadowing and the counts" \
	jqe '(.profiles[] | select(.name == "base") | .source == "user" and .shadows_bundled and .domains == 1)
		and (.profiles[] | select(.name == "dev-node") | .source == "bundled" and (.shadows_bundled | not))
		and (.profiles[] | select(.name == "small") | .ips == 3)' <<<"$OUT"
run_capture shield profiles --show small
check "profiles --show prints the entries, domains first, as a profile file" \
	bash -c '[[ $1 == 0 && $(grep -v "^#" <<<"$2") == "$3"$'"'"'\n198.18.1.10\n198.18.1.11\n198.18.2.0/24'"'"' ]]' _ "$RC" "$OUT" "$DNS_NAME_ALLOWED"
check "profiles --show output reads back as the same profile" \
	bash -c 'printf "%s\n" "$1" >"$2/profiles/copy.txt" && diff <("$3" --config-dir "$2" profiles --show copy | grep -v "^#") <(grep -v "^#" <<<"$1")' \
	_ "$OUT" "$CONFIG_DIR" "$SHIELD_BIN"
run_capture shield profiles --show base
check "profiles --show says where the profile is and what it shadows" \
	out_is 0 "# profile base: user file $CONFIG_DIR/profiles/base.txt (shadows the bundled one)"*base.shield.test
run_capture shield profiles --show nope
check "profiles --show of an unknown profile: exit 1 naming it and the known ones" \
	bash -c '[[ $1 == 1 && -z $2 && $3 == "shield: profiles: unknown profile \"nope\" (known: base, copy, dev-node, "* ]]' _ "$RC" "$OUT" "$ERR"
run_capture shield profiles --show ../etc/passwd
check "profiles --show refuses a path as a name" \
	bash -c '[[ $1 == 1 && $2 == *"invalid profile name"* ]]' _ "$RC" "$ERR"
rm -f "$CONFIG_DIR/profiles/copy.txt"

# ------------------------------------------------------------ two containers
say "# two attached namespaces"
shield prepare alpha --profiles web --upstream-dns "$DNS_UPSTREAM" -q >/dev/null || die "prepare alpha"
shield prepare beta --profiles small --upstream-dns "$DNS_UPSTREAM" -q >/dev/null || die "prepare beta"
shield attach --netns "$(netns_path "$A_NS")" alpha >/dev/null || die "attach alpha"
shield attach --netns "$(netns_path "$B_NS")" beta >/dev/null || die "attach beta"
A_PID=$(cat "$A/dnsmasq.pid")
B_PID=$(cat "$B/dnsmasq.pid")

run_capture shield status
check "status lists both with mode, policy, counts and dnsmasq alive" \
	bash -c 'grep -Eq "^alpha +alpha +up +strict +2 +2 +alive \($2\)$" <<<"$1" &&
		grep -Eq "^beta +beta +up +strict +1 +3 +alive \($3\)$" <<<"$1" && [[ $4 == 0 ]]' _ "$OUT" "$A_PID" "$B_PID" "$RC"
run_capture shield status --json
check "status --json: every field for both" \
	jqe --argjson ap "$A_PID" --arg a "$A" --arg ans "$(netns_path "$A_NS")" '
		(.containers | length) == 2 and
		(.containers[0] | .name == "alpha" and .status == "up" and .mode == "up" and
			.kernel_mode == "up" and .dns_policy == "strict" and .domains == 2 and .ips == 2 and
			.dnsmasq.pid == $ap and .dnsmasq.alive and .table_verified and .running and
			.registered and .state_dir == $a and .netns == $ans and .source == "attach" and
			.reason == null and .last_start_failed == false) and
		(.containers[1] | .name == "beta" and .ips == 3)' <<<"$OUT"
run_capture shield status alpha
check "status NAME prints the mode as one word" out_is 0 up
run_capture shield status --state-dir "$B"
check "status --state-dir DIR prints the mode as one word" out_is 0 up
run_capture shield status --state-dir "$B" --netns "$(netns_path "$B_NS")" --json
check "status --state-dir --netns --json" \
	jqe '.status == "up" and .table_verified and .dnsmasq.alive' <<<"$OUT"

# ---------------------------------------------------------------------- rules
say "# rules"
nft_list_table "$A_NS" >"$TMP/a-table.nft"
run_capture shield rules alpha
check "rules NAME: the kernel's mode first" bash -c '[[ $(head -1 <<<"$1") == "mode: up" && $2 == 0 ]]' _ "$OUT" "$RC"
check "rules NAME: which namespace and the bundle's mode" \
	bash -c '[[ $(sed -n 2p <<<"$1") == "container: alpha (network namespace $2; bundle mode up)" ]]' _ "$OUT" "$(netns_path "$A_NS")"
printf '%s\n' "$OUT" | sed '1,3d' >"$TMP/a-rules.nft"
check "rules NAME: the live table as nft lists it" assert_same_file "tables" "$TMP/a-table.nft" "$TMP/a-rules.nft"
run_capture shield rules --state-dir "$B" --json
check "rules --state-dir --json: mode, sets and table" \
	jqe '.container == "beta" and .mode == "up" and .bundle_mode == "up" and .table_present and
		.sets.allow_v4 == 3 and (.table | startswith("table inet terok_shield {"))' <<<"$OUT"
run_capture shield rules --netns "$(netns_path "$A_NS")"
check "rules --netns PATH (the plumbing form) still works" \
	bash -c '[[ $1 == 0 && $(head -1 <<<"$2") == "mode: up" && $2 == *"table inet terok_shield"* ]]' _ "$RC" "$OUT"
run_capture shield rules nosuch
check "rules of an unknown container: exit 1 naming it" \
	bash -c '[[ $1 == 1 && $2 == "shield: rules: no container \"nosuch\""* ]]' _ "$RC" "$ERR"

# ------------------------------------------------------------ a mode change
say "# mode changes show in status"
if "$SHIELD_BIN" down --help >/dev/null 2>&1; then
	run_capture shield down alpha
	check "shield down alpha" out_is 0 "*"
	run_capture shield status alpha
	check "after 'shield down' status says down" out_is 0 down
	run_capture shield status
	check "status: down with the open DNS policy dnsmasq now runs" \
		grep -Eq '^alpha +alpha +down +open ' <<<"$OUT"
	run_capture shield up alpha
	run_capture shield status alpha
	check "after 'shield up' status says up again" out_is 0 up
fi
if "$SHIELD_BIN" allow --help >/dev/null 2>&1; then
	shield allow beta 198.18.1.20 >/dev/null || die "allow beta"
	shield deny beta "$DNS_NAME_ALLOWED" >/dev/null || die "deny beta"
	run_capture shield status
	check "after allow/deny the counts are the effective lists" \
		grep -Eq '^beta +beta +up +strict +0 +4 +alive ' <<<"$OUT"
	run_capture shield status beta
	check "and the kernel still holds exactly the bundle's ruleset" out_is 0 up
	B_PID=$(cat "$B/dnsmasq.pid")
fi
run_capture shield apply --netns "$(netns_path "$A_NS")" --state-dir "$A" --mode down-all
check "apply --mode down-all" out_is 0 "applied mode down_all *"
run_capture shield status alpha
check "after apply --mode down-all status says down_all" out_is 0 down_all
run_capture shield rules alpha
check "rules: mode down_all" bash -c '[[ $(head -1 <<<"$1") == "mode: down_all" ]]' _ "$OUT"
run_capture shield apply --netns "$(netns_path "$A_NS")" --state-dir "$A" --mode block
run_capture shield status alpha
check "after apply --mode block status says block" out_is 0 block
run_capture shield apply --netns "$(netns_path "$A_NS")" --state-dir "$A" --mode up
run_capture shield status alpha
check "and up again" out_is 0 up

# ------------------------------------------------------------------ errors
say "# error"
# Another mode's table without the bundle knowing: the kernel no longer holds the bundle's mode.
shield preview --state-dir "$A" --mode down >"$TMP/down.nft"
ip netns exec "$A_NS" nft -f - <<<"delete table inet terok_shield" || die "nft delete"
ip netns exec "$A_NS" nft -f "$TMP/down.nft" || die "nft -f down"
run_capture shield status alpha
check "a table in another mode than the bundle's: error" out_is 0 error
check "... and stderr says the table is not the bundle's mode" err_has "alpha: error: the kernel's table is not what the bundle's mode requires"
shield apply --netns "$(netns_path "$A_NS")" --state-dir "$A" >/dev/null
run_capture shield status alpha
check "re-applied: up again" out_is 0 up

ip netns exec "$B_NS" nft add rule inet terok_shield output accept
run_capture shield status beta --json
check "a tampered table: error, with the rule named" \
	jqe '.status == "error" and .table_verified == false and .kernel_mode == "error" and
		(.table_error | contains("unexpected rule"))' <<<"$OUT"
run_capture shield rules beta
check "rules of a tampered table: mode error" bash -c '[[ $(head -1 <<<"$1") == "mode: error" ]]' _ "$OUT"
shield apply --netns "$(netns_path "$B_NS")" --state-dir "$B" >/dev/null

A_PID=$(cat "$A/dnsmasq.pid") # up/down restart dnsmasq
kill "$A_PID"
wait_for 5 bash -c '! grep -q dnsmasq "/proc/$1/comm" 2>/dev/null || grep -q "^State:.Z" "/proc/$1/status"' _ "$A_PID" || true
run_capture shield status alpha
check "dnsmasq killed: status error" out_is 0 error
check "... and stderr says dnsmasq is not running" err_has "alpha: error: its dnsmasq is not running"
run_capture shield status
check "status: alpha error with dnsmasq dead, beta untouched" \
	bash -c 'grep -Eq "^alpha +alpha +error +strict +2 +2 +dead$" <<<"$1" &&
		grep -Eq "^beta +beta +up " <<<"$1" && grep -q "^alpha: error: its dnsmasq is not running" <<<"$1"' _ "$OUT"
run_capture shield status alpha --json
check "status --json: dnsmasq not alive" jqe '.status == "error" and .dnsmasq.alive == false and .table_verified' <<<"$OUT"

# ------------------------------------------------- inactive, failed start
say "# inactive and a failed start"
shield detach beta >/dev/null || die "detach beta"
run_capture shield status beta
check "a detached namespace: inactive" out_is 0 inactive
run_capture shield status
check "status no longer lists the detached one" bash -c '! grep -q "^beta " <<<"$1"' _ "$OUT"

shield prepare gamma --profiles small --upstream-dns "$DNS_UPSTREAM" -q >/dev/null || die "prepare gamma"
printf '#!/bin/sh\necho "Dnsmasq version 2.90 (no nftset)"\n' >"$TMP/dnsmasq-nonft"
chmod 0755 "$TMP/dnsmasq-nonft"
new_netns g
G_NS=$NS_NAME
run_capture env SHIELD_DNSMASQ="$TMP/dnsmasq-nonft" "$SHIELD_BIN" --config-dir "$CONFIG_DIR" \
	--state-root "$STATE_ROOT" attach --netns "$(netns_path "$G_NS")" gamma
check "attach with a dnsmasq without nftset fails" out_is 1 ""
run_capture shield status gamma
check "the last start failed: error" out_is 0 error
check "... saying so" err_has "gamma: error: the last start failed"
run_capture shield status gamma --json
check "status --json: last_start_failed and the hook error" \
	jqe '.status == "error" and .last_start_failed and (.last_error | contains("attach:"))' <<<"$OUT"
shield attach --netns "$(netns_path "$G_NS")" gamma >/dev/null || die "attach gamma"
run_capture shield status gamma
check "a successful start since: up" out_is 0 up

run_capture shield status nosuch
check "status of an unknown container: exit 1 naming it" \
	bash -c '[[ $1 == 1 && -z $2 && $3 == "shield: status: no container \"nosuch\""* ]]' _ "$RC" "$OUT" "$ERR"

# ----------------------------------------------------------------------- logs
say "# logs"
# Entries from "later" than anything real, interleaved across two bundles, one clock at +01:00.
printf '%s\n' '{"ts":"2099-01-01T00:00:01.000+00:00","container":"alpha","action":"allow","dest":"one.test"}' \
	'{"ts":"2099-01-01T00:00:03.000+00:00","container":"alpha","action":"deny","dest":"198.18.1.3","detail":"three"}' \
	'this is not json' >>"$A/audit.jsonl"
printf '%s\n' '{"ts":"2099-01-01T01:00:02.000+01:00","container":"beta","action":"allow","dest":"two.test"}' \
	'{"ts":"2099-01-01T00:00:04.000+00:00","container":"beta\u001b[2J","action":"deny","dest":"four.test"}' >>"$B/audit.jsonl"
run_capture shield logs -n 4
check "logs -n 4: the last four across both bundles, in time order" \
	bash -c '[[ $1 == 0 ]] && diff <(awk "{print \$2, \$3, \$4}" <<<"$2") - <<<"alpha allow one.test
beta allow two.test
alpha deny 198.18.1.3
beta\\x1b[2J deny four.test"' _ "$RC" "$OUT"
check "logs: TS CONTAINER ACTION DEST DETAIL" \
	grep -Eq '^2099-01-01T00:00:03\.000\+00:00 alpha +deny +198\.18\.1\.3 three$' <<<"$OUT"
check "logs: a malformed line is skipped with a counted warning" err_has "$A/audit.jsonl: skipped 1 malformed line"
check "logs: control characters in an entry are escaped" bash -c '! grep -q $'"'"'\x1b'"'"' <<<"$1"' _ "$OUT"
run_capture shield logs -n 2
check "logs -n 2: two lines" bash -c '[[ $(wc -l <<<"$1") == 2 && $1 == *four.test* ]]' _ "$OUT"
run_capture shield logs
check "logs: 20 by default, older entries (the attach setups) included" \
	bash -c '(( $(wc -l <<<"$1") >= 8 && $(wc -l <<<"$1") <= 20 )) && grep -q " setup " <<<"$1"' _ "$OUT"
# Instants (offsets applied), as date reads ISO 8601.
instants() { while read -r ts _; do date -u -d "$ts" +%s.%N; done; }
in_time_order() { diff <(instants <<<"$1") <(instants <<<"$1" | sort -n -s); }
check "logs: every line in time order" in_time_order "$OUT"
run_capture shield logs alpha -n all
check "logs NAME: that container's entries only" \
	bash -c '[[ $1 == 0 ]] && ! grep -q "beta" <<<"$2" && grep -q "one.test" <<<"$2"' _ "$RC" "$OUT"
run_capture shield logs --state-dir "$B" -n 1 --json
check "logs --state-dir --json: one JSON object per line" \
	jqe --arg b "$B" '.container == "beta\u001b[2J" and .action == "deny" and .state_dir == $b' <<<"$OUT"
run_capture shield logs -n nope
check "logs -n with a bad count: usage error" out_is 2 ""
run_capture shield logs nosuch
check "logs of an unknown container: exit 1" bash -c '[[ $1 == 1 && $2 == *"no container \"nosuch\""* ]]' _ "$RC" "$ERR"

say "# logs --follow"
start_bg "$SHIELD_BIN" --config-dir "$CONFIG_DIR" --state-root "$STATE_ROOT" logs --follow -n 1 \
	>"$TMP/follow.out" 2>"$TMP/follow.err"
FOLLOW_PID=$LAST_PID
check "logs --follow prints the last entry first" wait_for 10 grep -q "four.test" "$TMP/follow.out"
printf '%s\n' '{"ts":"2099-01-01T00:00:05.000+00:00","container":"alpha","action":"allow","dest":"appended.test"}' >>"$A/audit.jsonl"
check "logs --follow prints an entry appended afterwards" wait_for 10 grep -q "appended.test" "$TMP/follow.out"
{
	printf 'garbage\n'
	printf '%s' '{"ts":"2099-01-01T00:00:06.000+00:00","container":"beta","action":"allow",'
} >>"$B/audit.jsonl"
sleep 0.2 # let the follower see the first half alone (it must keep it until the rest comes)
printf '%s\n' '"dest":"in-two-writes.test"}' >>"$B/audit.jsonl"
check "logs --follow: a line written in two parts is printed once whole" \
	wait_for 10 grep -q "in-two-writes.test" "$TMP/follow.out"
check "logs --follow: a malformed line is a warning, not the end" \
	grep -q "$B/audit.jsonl: skipped 1 malformed line" "$TMP/follow.err"
# A new container: its bundle appears in the state root, then its audit entry.
shield prepare delta --profiles small --upstream-dns "$DNS_UPSTREAM" -q >/dev/null || die "prepare delta"
new_netns d
shield attach --netns "$(netns_path "$NS_NAME")" delta >/dev/null || die "attach delta"
check "logs --follow picks up a container started after it" \
	wait_for 10 grep -Eq '^[^ ]+ delta +setup ' "$TMP/follow.out"
kill -INT "$FOLLOW_PID"
FOLLOW_RC=0
wait "$FOLLOW_PID" || FOLLOW_RC=$?
check "logs --follow ends cleanly on SIGINT (exit 0)" test "$FOLLOW_RC" = 0
check "logs --follow printed each entry once" \
	bash -c '[[ $(grep -c appended.test "$1") == 1 && $(grep -c four.test "$1") == 1 ]]' _ "$TMP/follow.out"
start_bg "$SHIELD_BIN" --config-dir "$CONFIG_DIR" --state-root "$STATE_ROOT" logs alpha --follow -n 1 \
	>"$TMP/follow2.out" 2>&1
FOLLOW_PID=$LAST_PID
wait_for 10 grep -q "appended.test" "$TMP/follow2.out" || true
kill -TERM "$FOLLOW_PID"
FOLLOW_RC=0
wait "$FOLLOW_PID" || FOLLOW_RC=$?
check "logs NAME --follow ends cleanly on SIGTERM (exit 0)" test "$FOLLOW_RC" = 0

for n in alpha gamma delta; do
	shield detach "$n" >/dev/null 2>&1 || true
done
finish
