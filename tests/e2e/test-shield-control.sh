#!/usr/bin/env bash
# shield allow / deny / down / up by container NAME (and ID) with real
# rootful podman: the command finds the container through `podman inspect`
# (its annotations name the bundle, its PID the network namespace), the
# change takes effect at once in the running container and still holds
# after `podman stop` + `podman start`; a stopped container gets the bundle
# change with a note; unknown containers and containers without shield are
# refused with a clear message.

# Conditions in single quotes are evaluated (eval) when the check runs:
# shellcheck disable=SC2016,SC2034,SC2119
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=tests/e2e/lib-podman.sh
source "$(dirname "$0")/lib-podman.sh"
# shellcheck source=tests/e2e/lib-scenarios.sh
source "$(dirname "$0")/lib-scenarios.sh"

scenario_world
PODMAN_MODE=root

# The shield CLI as an operator runs it: podman is the test's (its storage
# and containers.conf), found through SHIELD_PODMAN.
ctl() {
	CONTAINERS_CONF=$ROOT_HOOKS.containers.conf SHIELD_PODMAN=$(podman_root_wrapper) \
		SHIELD_RUNTIME_DIR=$ROOT_RUNTIME_DIR shield "$@"
}

expect_out() { # expect_out WANT: the last run_capture exited 0 with exactly WANT on stdout
	[[ $RC == 0 && $OUT == "$1" ]] && return 0
	say "    expected exit 0 and \"$1\"; got exit $RC, stdout \"$OUT\", stderr \"$ERR\""
	return 1
}
expect_fail() { # expect_fail NEEDLE: exit 1 with NEEDLE on stderr, nothing on stdout
	[[ $RC == 1 && $ERR == *"$1"* && -z $OUT ]] && return 0
	say "    expected exit 1 and \"$1\"; got exit $RC, stdout \"$OUT\", stderr \"$ERR\""
	return 1
}
has_line() { grep -qxF -- "$2" "$1" 2>/dev/null; }
mode_is() { # mode_is NAME MODE: the kernel's table in the container's netns
	local pid
	pid=$(container_pid "$1") || return 1
	[[ $(shield rules --netns "/proc/$pid/ns/net" | head -1) == "mode: $2" ]] && return 0
	say "    $1 is not in mode $2: $(shield rules --netns "/proc/$pid/ns/net" | head -1)"
	return 1
}
registry_follows_dnsmasq() { # the registry names the dnsmasq the bundle's PID file names
	local reg
	reg=$(jq -r .dnsmasq_pid "$(registry_entry "$1")" 2>/dev/null) || true
	[[ -n $reg && $reg == "$(bundle_dnsmasq_pid "$BUNDLE")" ]] && comm_is "$reg" dnsmasq && return 0
	say "    registry dnsmasq_pid $reg, dnsmasq.pid $(bundle_dnsmasq_pid "$BUNDLE")"
	return 1
}
pod_stop_start() {
	pod stop -t 0 "$1" >/dev/null 2>&1 || say "    podman stop $1 failed"
	pod start "$1" >/dev/null 2>&1 || say "    podman start $1 failed"
	wait_running "$1"
}

# ------------------------------------------------------------ a running container

N=web
mode_profile ctlweb "$DNS_NAME_ALLOWED" "$PUB_DENIED"
shield_prepare "$N" ctlweb
shield_run
check "podman runs the shielded container" running "$N"
_is_running "$N" || finish
ID=$(container_id "$N")

check "before: a bare address not allowlisted is refused" expect_blocked "$N" "$PUB_OTHER"
run_capture ctl allow "$N" "$PUB_OTHER"
check "allow IP by NAME" expect_out "allowed $PUB_OTHER for $N"
check "allow IP: reachable at once" expect_fetch "$N" "$PUB_OTHER" "$PUB_OTHER"
run_capture ctl deny "$N" "$PUB_OTHER"
check "deny IP by NAME" expect_out "denied $PUB_OTHER for $N"
check "deny IP: refused at once" expect_blocked "$N" "$PUB_OTHER"
run_capture ctl allow "${ID:0:12}" "$PUB_OTHER" --json
check "allow IP by short ID (--json names the container and its full id)" \
	eval '[[ $RC == 0 ]] && jq -e --arg id "$ID" --arg n "$N" ".container == \$n and .id == \$id and .changed and .kernel == \"updated\"" <<<"$OUT" >/dev/null'
check "allow→deny→allow: reachable" expect_fetch "$N" "$PUB_OTHER" "$PUB_OTHER"
check "allow→deny→allow: three audit entries" \
	eval '[[ $(jq -s --arg d "$PUB_OTHER" "[.[] | select(.dest == \$d and (.action == \"allow\" or .action == \"deny\"))] | length" "$BUNDLE/audit.jsonl") == 3 ]]'

check "the profile's static address is reachable" expect_fetch "$N" "$PUB_DENIED" "$PUB_DENIED"
run_capture ctl deny "$N" "$PUB_DENIED"
check "deny a profile address" expect_out "denied $PUB_DENIED for $N"
check "deny a profile address: refused at once" expect_blocked "$N" "$PUB_DENIED"

# A domain the container already resolved: its learnt address leaves the sets.
check "the allowed name is fetched" expect_fetch "$N" "$DNS_NAME_ALLOWED" "$PUB_ALLOWED" "$PUB6_ALLOWED"
run_capture ctl deny "$N" "$DNS_NAME_ALLOWED"
check "deny a resolved domain by NAME" \
	eval '[[ $RC == 0 && $OUT == "denied $DNS_NAME_ALLOWED for $N (dnsmasq reloaded, "*" removed from the allow sets)" ]]'
check "deny domain: its address is refused at once" expect_blocked "$N" "$PUB_ALLOWED"
check "deny domain: NXDOMAIN" expect_nxdomain "$N" "$DNS_NAME_ALLOWED"
check "deny domain: fetching the name fails" expect_blocked "$N" "$DNS_NAME_ALLOWED"
check "deny domain: its address stays refused after the lookup" expect_blocked "$N" "$PUB_ALLOWED"
check "deny domain: dnsmasq runs in the container's namespace" expect_dnsmasq_up "$N"
check "deny domain: the registry follows the new dnsmasq" registry_follows_dnsmasq "$ID"

# ------------------------------------------------------------ podman stop + start

pod_stop_start "$N"
check "after stop + start: the container runs" running "$N"
check "after restart: the allowed address is reachable" expect_fetch "$N" "$PUB_OTHER" "$PUB_OTHER"
check "after restart: the denied profile address is refused" expect_blocked "$N" "$PUB_DENIED"
check "after restart: the denied domain is NXDOMAIN" expect_nxdomain "$N" "$DNS_NAME_ALLOWED"
check "after restart: the denied domain's address is refused" expect_blocked "$N" "$PUB_ALLOWED"

# Modes by NAME, and the mode survives a restart.
run_capture ctl down "$N"
check "down by NAME" eval '[[ $RC == 0 && $OUT == "$N: mode down (was up), ruleset replaced and verified; dnsmasq reloaded (DNS policy open)" ]]'
check "down: the kernel is in mode down" mode_is "$N" down
check "down: a host not allowlisted passes" expect_fetch "$N" "$PUB_ALLOWED" "$PUB_ALLOWED"
check "down: deny.list still refuses" expect_blocked "$N" "$PUB_DENIED"
pod_stop_start "$N"
check "after restart: still down" mode_is "$N" down
run_capture ctl up "$N"
check "up by NAME" eval '[[ $RC == 0 && $OUT == "$N: mode up (was down)"* ]]'
check "up: blocked again" expect_blocked "$N" "$PUB_ALLOWED"
check "up: the table is shield preview of the bundle" expect_table_is_preview "$N"

# Allow a domain whose address a denied domain shares: the allowed one wins for it.
check "before: the rotating name is NXDOMAIN" expect_nxdomain "$N" "$ROT_NAME"
run_capture ctl allow "$N" "$ROT_NAME"
check "allow domain by NAME" expect_out "allowed $ROT_NAME for $N (dnsmasq reloaded)"
check "allow domain: resolves at once" expect_resolves "$N" "$ROT_NAME" "$PUB_ALLOWED"
check "allow domain: its host is reachable by name" expect_fetch "$N" "$ROT_NAME" "$PUB_ALLOWED"
check "allow domain: the denied domain stays NXDOMAIN" expect_nxdomain "$N" "$DNS_NAME_ALLOWED"
check "allow domain: the registry follows the new dnsmasq" registry_follows_dnsmasq "$ID"

# ------------------------------------------------------------ a stopped container

pod stop -t 0 "$N" >/dev/null 2>&1 || true
run_capture ctl deny "$N" "$PUB_OTHER"
check "stopped: bundle changed, with a note, exit 0" \
	eval '[[ $RC == 0 && $OUT == "denied $PUB_OTHER for $N" && $ERR == "shield: deny: $N is not running: the change applies at its next start" ]]'
check "stopped: deny.list holds it" has_line "$BUNDLE/deny.list" "$PUB_OTHER"
pod start "$N" >/dev/null 2>&1 || true
wait_running "$N" || true
check "the next start applies it" expect_blocked "$N" "$PUB_OTHER"
check "the allowed domain holds after the restart too" expect_fetch "$N" "$ROT_NAME" "$PUB_ALLOWED"

# ------------------------------------------------------------ refusals

BEFORE=$(cat "$BUNDLE"/*.allowed "$BUNDLE"/*.domains "$BUNDLE"/deny.list 2>/dev/null | sha256sum)
run_capture ctl allow nosuch-container "$PUB_OTHER"
check "unknown container" expect_fail 'no container "nosuch-container": podman knows no container'
run_capture ctl allow "$N" 198.18.1.256
check "invalid address" expect_fail 'invalid address "198.18.1.256"'
run_capture ctl deny "$N" 'no_such..domain'
check "invalid domain" expect_fail '"no_such..domain" is neither an IP/CIDR nor a valid domain'
check "refusals changed no bundle file" \
	eval '[[ $(cat "$BUNDLE"/*.allowed "$BUNDLE"/*.domains "$BUNDLE"/deny.list 2>/dev/null | sha256sum) == "$BEFORE" ]]'

mode_network plain
RC=0
OUT=$(pod run -d --name plain --network "$NETWORK" --rootfs "$(mode_rootfs)" /bin/sleep 3600 2>&1) || RC=$?
check "a container without shield runs" running plain
run_capture ctl allow plain "$PUB_OTHER"
check "a container without shield: not shielded" expect_fail "plain: not shielded"
check "and nothing was written for it" test ! -e "$STATE_ROOT/containers/plain"

pod rm -f -t 0 plain "$N" >/dev/null 2>&1 || true
finish
