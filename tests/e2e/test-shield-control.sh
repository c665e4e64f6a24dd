#!/usr/bin/env bash
# shield allow / deny / up / down / block / status by container NAME (and
# ID) with real rootful podman: the command finds the container through
# `podman inspect` (its annotations name the bundle, its PID the network
# namespace), the change takes effect at once in the running container and
# still holds after `podman stop` + `podman start`. Then, with a second
# container: block lets nothing through (DNS included), down lets public
# hosts through but not deny.list nor (without --all) the private ranges,
# and `shield status NAME` says each mode; a change to one container leaves
# the other's bundle files and kernel sets as they were; 50 concurrent
# allow/deny commands end with files, kernel sets, dnsmasq and registry in
# agreement. A stopped container gets bundle changes with a note and no
# kernel step; unknown containers, containers without shield and invalid
# targets are refused with a clear message and change nothing.

# Conditions in single quotes are evaluated (eval) when the check runs:
# shellcheck disable=SC2016,SC2034,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib-scenarios.sh
source "$(dirname "$0")/lib-scenarios.sh"

require_cmd jq python3 pgrep sha256sum
scenario_world root

mode_is() { # mode_is NAME MODE: the kernel's table in the container's netns
	local ns
	ns=$(ctr_netns "$1") || return 1
	[[ $(shield rules --netns "$ns" | head -1) == "mode: $2" ]] && return 0
	say "    $1 is not in mode $2: $(shield rules --netns "$ns" | head -1)"
	return 1
}
status_is() { # status_is NAME WORD: `shield status NAME` prints WORD and exits 0
	run_capture shield_op status "$1"
	[[ $RC == 0 && $OUT == "$2" ]] && return 0
	say "    shield status $1: exit $RC, \"$OUT\" (want \"$2\"), stderr \"$ERR\""
	return 1
}
pod_stop_start() {
	pod stop -t 0 "$1" >/dev/null 2>&1 || say "    podman stop $1 failed"
	pod start "$1" >/dev/null 2>&1 || say "    podman start $1 failed"
	wait_running "$1"
}
agree() { # agree NAME BUNDLE: its bundle's files and its kernel sets agree
	local ns
	ns=$(ctr_netns "$1") || return 1
	files_kernel_agree "$2" "$ns"
}
snap() { # snap NAME BUNDLE: bundle_snapshot of a running container
	bundle_snapshot "$2" "$(ctr_netns "$1")"
}
# unchanged WHAT BEFORE NAME BUNDLE: snap NAME BUNDLE is still BEFORE.
unchanged() {
	local now
	now=$(snap "$3" "$4")
	[[ $now == "$2" ]] && return 0
	say "    $1 changed:"
	diff <(printf '%s\n' "$2") <(printf '%s\n' "$now") | sed 's/^/      /' >&2 || true
	return 1
}
no_dnsmasq_for() { # no_dnsmasq_for BUNDLE: no dnsmasq runs with its configuration
	! pgrep -r R,S,D -f -- "--conf-file=$1/dnsmasq.conf" >/dev/null && return 0
	say "    a dnsmasq runs for $1: $(pgrep -a -r R,S,D -f -- "--conf-file=$1/dnsmasq.conf")"
	return 1
}

# ------------------------------------------------------------ a running container

N=web
mode_profile ctlweb "$DNS_NAME_ALLOWED" "$PUB_DENIED"
shield_prepare "$N" ctlweb
WEB_B=$BUNDLE
shield_run
check "podman runs the shielded container" running "$N"
_is_running "$N" || finish
ID=$(container_id "$N")

check "before: a bare address not allowlisted is refused" expect_blocked "$N" "$PUB_OTHER"
run_capture shield_op allow "$N" "$PUB_OTHER"
check "allow IP by NAME" expect_out "allowed $PUB_OTHER for $N"
check "allow IP: reachable at once" expect_fetch "$N" "$PUB_OTHER" "$PUB_OTHER"
run_capture shield_op deny "$N" "$PUB_OTHER"
check "deny IP by NAME" expect_out "denied $PUB_OTHER for $N"
check "deny IP: refused at once" expect_blocked "$N" "$PUB_OTHER"
run_capture shield_op allow "${ID:0:12}" "$PUB_OTHER" --json
check "allow IP by short ID (--json names the container and its full id)" \
	eval '[[ $RC == 0 ]] && jq -e --arg id "$ID" --arg n "$N" ".container == \$n and .id == \$id and .changed and .kernel == \"updated\"" <<<"$OUT" >/dev/null'
check "allow→deny→allow: reachable" expect_fetch "$N" "$PUB_OTHER" "$PUB_OTHER"
check "allow→deny→allow: three audit entries" \
	eval '[[ $(jq -s --arg d "$PUB_OTHER" "[.[] | select(.dest == \$d and (.action == \"allow\" or .action == \"deny\"))] | length" "$WEB_B/audit.jsonl") == 3 ]]'
check "allow→deny→allow: files and kernel sets agree" agree "$N" "$WEB_B"

check "the profile's static address is reachable" expect_fetch "$N" "$PUB_DENIED" "$PUB_DENIED"
run_capture shield_op deny "$N" "$PUB_DENIED"
check "deny a profile address" expect_out "denied $PUB_DENIED for $N"
check "deny a profile address: refused at once" expect_blocked "$N" "$PUB_DENIED"

# A domain the container already resolved: its learnt address leaves the sets.
check "the allowed name is fetched" expect_fetch "$N" "$DNS_NAME_ALLOWED" "$PUB_ALLOWED" "$PUB6_ALLOWED"
run_capture shield_op deny "$N" "$DNS_NAME_ALLOWED"
check "deny a resolved domain by NAME" \
	eval '[[ $RC == 0 && $OUT == "denied $DNS_NAME_ALLOWED for $N (dnsmasq reloaded, "*" removed from the allow sets)" ]]'
check "deny domain: its address is refused at once" expect_blocked "$N" "$PUB_ALLOWED"
check "deny domain: NXDOMAIN" expect_nxdomain "$N" "$DNS_NAME_ALLOWED"
check "deny domain: fetching the name fails" expect_blocked "$N" "$DNS_NAME_ALLOWED"
check "deny domain: its address stays refused after the lookup" expect_blocked "$N" "$PUB_ALLOWED"
check "deny domain: dnsmasq runs in the container's namespace" expect_dnsmasq_up "$N"
check "deny domain: the registry follows the new dnsmasq" registry_names_dnsmasq "$(registry_entry "$ID")" "$WEB_B"

# ------------------------------------------------------------ podman stop + start

pod_stop_start "$N"
check "after stop + start: the container runs" running "$N"
check "after restart: the allowed address is reachable" expect_fetch "$N" "$PUB_OTHER" "$PUB_OTHER"
check "after restart: the denied profile address is refused" expect_blocked "$N" "$PUB_DENIED"
check "after restart: the denied domain is NXDOMAIN" expect_nxdomain "$N" "$DNS_NAME_ALLOWED"
check "after restart: the denied domain's address is refused" expect_blocked "$N" "$PUB_ALLOWED"

# Modes by NAME, and the mode survives a restart.
run_capture shield_op down "$N"
check "down by NAME" eval '[[ $RC == 0 && $OUT == "$N: mode down (was up), ruleset replaced and verified; dnsmasq reloaded (DNS policy open)" ]]'
check "down: the kernel is in mode down" mode_is "$N" down
check "down: a host not allowlisted passes" expect_fetch "$N" "$PUB_ALLOWED" "$PUB_ALLOWED"
check "down: deny.list still refuses" expect_blocked "$N" "$PUB_DENIED"
pod_stop_start "$N"
check "after restart: still down" mode_is "$N" down
run_capture shield_op up "$N"
check "up by NAME" eval '[[ $RC == 0 && $OUT == "$N: mode up (was down)"* ]]'
check "up: blocked again" expect_blocked "$N" "$PUB_ALLOWED"
check "up: the table is shield preview of the bundle" expect_table_is_preview "$N"

# Allow a domain whose address a denied domain shares: the allowed one wins for it.
check "before: the rotating name is NXDOMAIN" expect_nxdomain "$N" "$ROT_NAME"
run_capture shield_op allow "$N" "$ROT_NAME"
check "allow domain by NAME" expect_out "allowed $ROT_NAME for $N (dnsmasq reloaded)"
check "allow domain: resolves at once" expect_resolves "$N" "$ROT_NAME" "$PUB_ALLOWED"
check "allow domain: its host is reachable by name" expect_fetch "$N" "$ROT_NAME" "$PUB_ALLOWED"
check "allow domain: the denied domain stays NXDOMAIN" expect_nxdomain "$N" "$DNS_NAME_ALLOWED"
check "allow domain: the registry follows the new dnsmasq" registry_names_dnsmasq "$(registry_entry "$ID")" "$WEB_B"

# ------------------------------------------------------------ a stopped container

# Each change goes to the bundle with a note; nothing is started for it.
pod stop -t 0 "$N" >/dev/null 2>&1 || true
run_capture shield_op deny "$N" "$PUB_OTHER"
check "stopped: deny IP changes the bundle, with a note, exit 0" \
	eval '[[ $RC == 0 && $OUT == "denied $PUB_OTHER for $N" && $ERR == "shield: deny: $N is not running: the change applies at its next start" ]]'
check "stopped: deny.list holds it" has_line "$WEB_B/deny.list" "$PUB_OTHER"
run_capture shield_op allow "$N" "$DNS_NAME_ALLOWED"
check "stopped: allow domain changes the bundle only, with the note" \
	eval '[[ $RC == 0 && $OUT == "allowed $DNS_NAME_ALLOWED for $N" && $ERR == "shield: allow: $N is not running: the change applies at its next start" ]]'
check "stopped: the domain left denied.domains" lacks_line "$WEB_B/denied.domains" "$DNS_NAME_ALLOWED"
run_capture shield_op down "$N"
check "stopped: down is recorded, with the note" \
	eval '[[ $RC == 0 && $OUT == "$N: mode down (was up)" && $ERR == *"$N is not running"* ]] && grep -qx mode=down "$WEB_B/shield.conf"'
check "stopped: no dnsmasq was started for it" no_dnsmasq_for "$WEB_B"
check "stopped: no registry entry was written for it" expect_unregistered "$ID"
check "stopped: status says inactive" status_is "$N" inactive
pod start "$N" >/dev/null 2>&1 || true
wait_running "$N" || true
check "the next start applies the mode" mode_is "$N" down
check "the next start applies the address (deny.list refuses in down too)" expect_blocked "$N" "$PUB_OTHER"
check "the next start: files and kernel sets agree" agree "$N" "$WEB_B"
run_capture shield_op up "$N"
check "up after the restart" eval '[[ $RC == 0 && $OUT == "$N: mode up (was down)"* ]]'
check "the domain allowed while stopped is fetched" expect_fetch "$N" "$DNS_NAME_ALLOWED" "$PUB_ALLOWED" "$PUB6_ALLOWED"
check "the allowed domain holds after the restart too" expect_fetch "$N" "$ROT_NAME" "$PUB_ALLOWED"

# ------------------------------------------------------------ modes and status

# A second container: a domain (its host is learnt on lookup) and a static
# private address allowlisted; the other private host is not.
say "# block, up, down, down --all and status, on a second container"
D=db
mode_profile ctldb "$DNS_NAME_OTHER" "$GW_HOST"
shield_prepare "$D" ctldb
DB_B=$BUNDLE
shield_run
check "podman runs the second shielded container" running "$D"
_is_running "$D" || finish
DB_ID=$(container_id "$D")
WEB_SNAP=$(snap "$N" "$WEB_B")

check "db up: status up" status_is "$D" up
check "db up: its domain's host is fetched by name" expect_fetch "$D" "$DNS_NAME_OTHER" "$PUB_OTHER"
check "db up: its static private address passes" expect_fetch "$D" "$GW_HOST" "$GW_HOST"
check "db up: a host not allowlisted is refused" expect_blocked "$D" "$PUB_ALLOWED"
run_capture shield_op deny "$D" "$PUB_DENIED"
check "db: deny an address" expect_out "denied $PUB_DENIED for $D"

run_capture shield_op block "$D"
check "block by NAME" eval '[[ $RC == 0 && $OUT == "$D: mode block (was up), ruleset replaced and verified"* ]]'
check "block: status says block" status_is "$D" block
check "block: the kernel is in mode block" mode_is "$D" block
check "block: the learnt host is refused" expect_blocked "$D" "$PUB_OTHER"
check "block: the static address is refused" expect_blocked "$D" "$GW_HOST"
check "block: other hosts are refused" expect_blocked "$D" "$PUB_ALLOWED"
check "block: the private host is refused" expect_blocked "$D" "$PRIV_HOST"
check "block: DNS to the upstream is refused (UDP)" dns_expect_refused "$(ctr_netns "$D")" "$DNS_UPSTREAM" "$DNS_NAME_OTHER"
check "block: DNS to the upstream is refused (TCP)" dns_expect_refused "$(ctr_netns "$D")" "$DNS_UPSTREAM" "$DNS_NAME_OTHER" +tcp
check "block: the allowed name does not resolve in the container" \
	eval 'ctr_lookup "$D" "$DNS_NAME_OTHER"; [[ ! $OUT =~ Address:[[:space:]]*$PUB_OTHER ]] || { say "    $OUT"; false; }'

run_capture shield_op up "$D"
check "up after block" eval '[[ $RC == 0 && $OUT == "$D: mode up (was block)"* ]]'
check "up: status says up" status_is "$D" up
check "up: the domain is fetched again" expect_fetch "$D" "$DNS_NAME_OTHER" "$PUB_OTHER"
check "up: the static address passes again" expect_fetch "$D" "$GW_HOST" "$GW_HOST"
check "up: a host not allowlisted is refused" expect_blocked "$D" "$PUB_ALLOWED"
check "up: files and kernel sets agree" agree "$D" "$DB_B"

run_capture shield_op down "$D"
check "down" eval '[[ $RC == 0 && $OUT == "$D: mode down (was up)"* ]]'
check "down: status says down" status_is "$D" down
check "down: a public host not allowlisted passes" expect_fetch "$D" "$PUB_ALLOWED" "$PUB_ALLOWED"
check "down: deny.list still refuses" expect_blocked "$D" "$PUB_DENIED"
check "down: the private host is refused (no --all)" expect_blocked "$D" "$PRIV_HOST"
check "down: the allowlisted private address passes" expect_fetch "$D" "$GW_HOST" "$GW_HOST"

run_capture shield_op down "$D" --all
check "down --all" eval '[[ $RC == 0 && $OUT == "$D: mode down_all (was down)"* ]]'
check "down --all: status says down_all" status_is "$D" down_all
check "down --all: the private host passes" expect_fetch "$D" "$PRIV_HOST" "$PRIV_HOST"
check "down --all: deny.list still refuses" expect_blocked "$D" "$PUB_DENIED"

run_capture shield_op up "$D"
check "up after down --all" eval '[[ $RC == 0 && $OUT == "$D: mode up (was down_all)"* ]]'
check "up: status up" status_is "$D" up
check "up: the private host is refused again" expect_blocked "$D" "$PRIV_HOST"
check "up: the public host is refused again" expect_blocked "$D" "$PUB_ALLOWED"

# ------------------------------------------------------------ two containers

# db's changes above (block, up, down, down --all, a deny) and the ones
# below left web's bundle and sets alone, and web's next ones leave db's.
run_capture shield_op allow "$D" 198.18.9.0/24
run_capture shield_op allow "$D" "$ROT_NAME"
run_capture shield_op deny "$D" "$DNS_NAME_OTHER"
check "db's allow IP, allow domain, deny domain succeeded" \
	eval 'has_line "$DB_B/live.allowed" 198.18.9.0/24 && has_line "$DB_B/live.domains" "$ROT_NAME" && has_line "$DB_B/denied.domains" "$DNS_NAME_OTHER"'
check "web: none of db's changes reached its bundle or its sets" unchanged "web's bundle or sets" "$WEB_SNAP" "$N" "$WEB_B"

DB_SNAP=$(snap "$D" "$DB_B")
run_capture shield_op allow "$N" 198.18.9.7
run_capture shield_op deny "$N" 198.18.9.8
run_capture shield_op allow "$N" "$DNS_NAME_OTHER"
run_capture shield_op deny "$N" "$ROT_NAME"
run_capture shield_op down "$N" --all
run_capture shield_op block "$N"
run_capture shield_op up "$N"
check "web's changes happened (files and sets agree, the deny holds)" \
	eval 'agree "$N" "$WEB_B" && has_line "$WEB_B/deny.list" 198.18.9.8 && mode_is "$N" up'
check "db: none of web's changes reached its bundle or its sets" unchanged "db's bundle or sets" "$DB_SNAP" "$D" "$DB_B"
check "db still works as before" expect_fetch "$D" "$GW_HOST" "$GW_HOST"

# ------------------------------------------------------------ race

# 50 commands at once on web by NAME (each one through podman inspect):
# allow/deny of ten addresses and two domains. They serialise on the bundle
# lock; at the end files, sets, dnsmasq and registry agree.
DB_SNAP=$(snap "$D" "$DB_B")
race_allow_deny "$N" shield_op
check "race: all 50 commands succeeded" test "$RACE_FAILED" = 0
check "race: files and kernel sets agree" agree "$N" "$WEB_B"
check "race: exactly one dnsmasq for the bundle" one_dnsmasq "$WEB_B"
check "race: the registry names that dnsmasq" registry_names_dnsmasq "$(registry_entry "$ID")" "$WEB_B"
BUNDLE=$WEB_B check "race: it runs in the container's namespace" expect_dnsmasq_up "$N"
check "race: the domain lists agree with dnsmasq.conf" race_domains_agree "$WEB_B"
check "race: one audit entry per change printed" race_audited "$WEB_B"
check "race: db untouched" unchanged "db's bundle or sets" "$DB_SNAP" "$D" "$DB_B"
check "race: web still resolves its allowed domain" expect_fetch "$N" "$DNS_NAME_ALLOWED" "$PUB_ALLOWED" "$PUB6_ALLOWED"

# ------------------------------------------------------------ refusals

# refused NEEDLE CMD...: CMD exits 1 naming NEEDLE (nothing on stdout), and
# web's bundle files and kernel sets are as they were.
refused() {
	local needle=$1 before
	shift
	before=$(snap "$N" "$WEB_B")
	run_capture "$@"
	expect_fail 1 "$needle" || return 1
	unchanged "web's bundle or sets" "$before" "$N" "$WEB_B"
}
check "unknown container (allow)" refused 'no container "nosuch-container": podman knows no container' \
	shield_op allow nosuch-container "$PUB_OTHER"
check "unknown container (deny domain)" refused 'no container "nosuch-container"' \
	shield_op deny nosuch-container "$DNS_NAME_OTHER"
check "unknown container (block)" refused 'no container "nosuch-container"' shield_op block nosuch-container
check "unknown container: no bundle was made for it" test ! -e "$STATE_ROOT/containers/nosuch-container"
check "invalid address" refused 'invalid address "198.18.1.256"' shield_op allow "$N" 198.18.1.256
check "invalid CIDR" refused '"198.18.1.0/33"' shield_op deny "$N" 198.18.1.0/33
check "invalid IPv6 address" refused '"2001:db8::g"' shield_op allow "$N" 2001:db8::g
check "invalid domain" refused '"no_such..domain" is neither an IP/CIDR nor a valid domain' \
	shield_op deny "$N" 'no_such..domain'
check "a domain with '/'" refused '"a/b.test"' shield_op allow "$N" a/b.test

mode_network plain
PLAIN_NS=$CTR_NS
RC=0
OUT=$(pod run -d --name plain --network "$NETWORK" --rootfs "$(mode_rootfs)" /bin/sleep 3600 2>&1) || RC=$?
check "a container without shield runs" running plain
check "a container without shield: allow is refused, not shielded" refused "plain: not shielded" \
	shield_op allow plain "$PUB_OTHER"
check "a container without shield: deny domain is refused" refused "plain: not shielded" \
	shield_op deny plain "$DNS_NAME_OTHER"
check "a container without shield: down is refused" refused "plain: not shielded" shield_op down plain --all
check "and nothing was written for it" test ! -e "$STATE_ROOT/containers/plain"
check "and its namespace got no shield table" eval '! has_table "$PLAIN_NS"'

pod rm -f -t 0 plain "$N" "$D" >/dev/null 2>&1 || true
finish
