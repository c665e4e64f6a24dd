#!/usr/bin/env bash
# The read-side commands with real rootful podman: `shield status NAME`
# (up, then inactive after podman stop; error for a container podman runs
# with shield's annotations but without the hook), the `status` listing
# (registered and stopped containers), `rules NAME` (the live table of the
# container's namespace) and `logs NAME` (the hook's setup and teardown
# entries), and "not shielded" for a container podman runs without shield.
# shellcheck disable=SC2016 # single-quoted scripts and jq filters expand later, on purpose
# shellcheck disable=SC2119 # shield_run takes extra podman options, none here
set -euo pipefail
# shellcheck source=tests/e2e/lib-scenarios.sh
source "$(dirname "$0")/lib-scenarios.sh"

scenario_world root

out_is() {
	[[ $RC == "$1" && $OUT == "$2" ]] && return 0
	say "    expected exit $1 and output '$2'; got exit $RC: $OUT / $ERR"
	return 1
}

N=views-root
say "# status, rules and logs of a running container"
mode_profile vw "$DNS_NAME_ALLOWED" "$PUB_DENIED"
shield_prepare "$N" vw
shield_run
check "podman runs the shielded container" running "$N"
_is_running "$N" || finish
ID=$(container_id "$N")
DPID=$(bundle_dnsmasq_pid "$BUNDLE")

run_capture shield_op status "$N"
check "status NAME: up" out_is 0 up
run_capture shield_op status "${ID:0:12}"
check "status ID (short): up" out_is 0 up
run_capture shield_op status "$N" --json
check "status --json: podman's container, registered, dnsmasq alive, table verified" \
	jq -e --arg id "$ID" --argjson p "$DPID" --arg b "$BUNDLE" '
		.id == $id and .name == "'"$N"'" and .source == "podman" and .status == "up" and
		.running and .registered and .dnsmasq.pid == $p and .dnsmasq.alive and
		.table_verified and .state_dir == $b and (.netns | test("^/proc/[0-9]+/ns/net$")) and
		.domains == 1 and .ips == 1' <<<"$OUT"
run_capture shield_op status
check "status lists it with its counts and dnsmasq" \
	grep -Eq "^$N +${ID:0:12} +up +strict +1 +1 +alive \($DPID\)\$" <<<"$OUT"

run_capture shield_op rules "$N"
in_container_netns "$N" nft list table inet terok_shield >"$TMP/live.nft"
printf '%s\n' "$OUT" | sed '1,3d' >"$TMP/rules.nft"
check "rules NAME: mode up" bash -c '[[ $(head -1 <<<"$1") == "mode: up" ]]' _ "$OUT"
check "rules NAME: the container's live table" assert_same_file "tables" "$TMP/live.nft" "$TMP/rules.nft"

run_capture shield_op logs "$N"
check "logs NAME: the hook's setup entry" grep -Eq "^[^ ]+ $N +setup +- podman: mode up" <<<"$OUT"

if "$SHIELD_BIN" down --help >/dev/null 2>&1; then
	run_capture shield_op down "$N"
	run_capture shield_op status "$N"
	check "after shield down: down" out_is 0 down
	run_capture shield_op up "$N"
	run_capture shield_op status "$N"
	check "after shield up: up" out_is 0 up
fi

say "# stopped"
RC=0
OUT=$(pod stop -t 0 "$N" 2>&1) || RC=$?
check "podman stop succeeds" podman_ok
run_capture shield_op status "$N"
check "status NAME after podman stop: inactive" out_is 0 inactive
run_capture shield_op status
check "status lists the stopped container as inactive (from podman, no registry entry)" \
	grep -Eq "^$N +${ID:0:12} +inactive +strict +1 +1 +-\$" <<<"$OUT"
run_capture shield_op rules "$N"
check "rules NAME of a stopped container: inactive" \
	bash -c '[[ $1 == 0 && $(head -1 <<<"$2") == "mode: inactive" && $2 == *"not running"* ]]' _ "$RC" "$OUT"
run_capture shield_op logs "$N"
check "logs NAME: the poststop teardown entry" grep -Eq "^[^ ]+ $N +teardown " <<<"$OUT"
pod rm -f -t 0 "$N" >/dev/null 2>&1 || true

say "# not shielded, unknown, and shielded without the hook"
mode_network plain
RC=0
OUT=$(pod run -d --name plain --network "$NETWORK" --rootfs "$ROOTFS" /bin/sleep 3600 2>&1) || RC=$?
check "a plain container runs" podman_ok
run_capture shield_op status plain
check "status of a container without shield: exit 1, not shielded" \
	bash -c '[[ $1 == 1 && $2 == "shield: status: plain: not shielded"* ]]' _ "$RC" "$ERR"
run_capture shield_op rules plain
check "rules of it: not shielded" bash -c '[[ $1 == 1 && $2 == *"plain: not shielded"* ]]' _ "$RC" "$ERR"
pod rm -f -t 0 plain >/dev/null 2>&1 || true
run_capture shield_op status no-such-container
check "status of an unknown container: exit 1" \
	bash -c '[[ $1 == 1 && $2 == *"no container \"no-such-container\""* ]]' _ "$RC" "$ERR"

# podman started with shield's annotations but a hooks dir without shield's hook:
# it runs without its firewall, and status must say so.
N2=views-nohook
mode_profile vw "$DNS_NAME_ALLOWED"
shield_prepare "$N2" vw
mkdir -p "$TMP/nohooks"
write_containers_conf "$TMP/nohooks.containers.conf" "$TMP/nohooks"
RC=0
OUT=$(ROOT_HOOKS=$TMP/nohooks pod run -d "${SHIELD_ARGS[@]}" --rootfs "$ROOTFS" /bin/sleep 3600 2>&1) || RC=$?
check "podman runs it without the hook" podman_ok
run_capture shield_op status "$N2"
check "status: error, running without its registry entry" \
	bash -c '[[ $1 == 0 && $2 == error && $3 == *"running without a registry entry"* ]]' _ "$RC" "$OUT" "$ERR"
run_capture shield_op status
check "the listing shows it as an error too" grep -Eq "^$N2 +[0-9a-f]{12} +error " <<<"$OUT"
ROOT_HOOKS=$TMP/nohooks pod rm -f -t 0 "$N2" >/dev/null 2>&1 || true
finish
