#!/usr/bin/env bash
# shield allow / deny / down / up by container NAME with rootless podman
# (slirp4netns): the command runs as the container's user, finds the
# container through that user's `podman inspect`, and re-executes itself
# through `podman unshare` to enter the container's network namespace; the
# change takes effect at once and holds after `podman stop` + `podman start`.

# Conditions in single quotes are evaluated (eval) when the check runs:
# shellcheck disable=SC2016,SC2034,SC2119
set -euo pipefail
# shellcheck source=tests/e2e/lib-scenarios.sh
source "$(dirname "$0")/lib-scenarios.sh"

scenario_world user

N=ctl-user
mode_profile ctlweb "$DNS_NAME_ALLOWED"
shield_prepare "$N" ctlweb
shield_run
check "rootless podman runs the shielded container" running "$N"
_is_running "$N" || finish
ID=$(container_id "$N")

check "before: a bare address not allowlisted is refused" expect_blocked "$N" "$PUB_OTHER"
run_capture shield_op allow "$N" "$PUB_OTHER"
check "allow IP by NAME (through podman unshare)" expect_out "allowed $PUB_OTHER for $N"
check "allow IP: reachable at once" expect_fetch "$N" "$PUB_OTHER" "$PUB_OTHER"
# The re-exec is what let it in: with the loop guard already set it stops.
RC=0
ERR=$(as_user_in_world env SHIELD_UNSHARED=1 SHIELD_PODMAN="$(podman_user_wrapper)" \
	SHIELD_DATA_DIR="$SHIELD_DATA_DIR" "$SHIELD_BIN" --config-dir "$USER_CONFIG_DIR" \
	--state-root "$USER_STATE_ROOT" deny "$N" "$PUB_OTHER" 2>&1 >/dev/null) || RC=$?
check "with SHIELD_UNSHARED already set, no second re-exec: a clear error" \
	eval '[[ $RC == 1 && $ERR == *"still outside podman'"'"'s user namespace after '"'"'podman unshare'"'"'"* ]]'
check "allow IP: the bundle stays the user's" eval '[[ $(stat -c %U "$BUNDLE/live.allowed") == "$ROOTLESS_USER" ]]'

check "the allowed name is fetched" expect_fetch "$N" "$DNS_NAME_ALLOWED" "$PUB_ALLOWED" "$PUB6_ALLOWED"
run_capture shield_op deny "$N" "$DNS_NAME_ALLOWED"
check "deny a resolved domain by NAME" \
	eval '[[ $RC == 0 && $OUT == "denied $DNS_NAME_ALLOWED for $N (dnsmasq reloaded, "*" removed from the allow sets)" ]]'
check "deny domain: NXDOMAIN" expect_nxdomain "$N" "$DNS_NAME_ALLOWED"
check "deny domain: its address is refused at once" expect_blocked "$N" "$PUB_ALLOWED"
check "deny domain: dnsmasq runs in the container's namespace" expect_dnsmasq_up "$N"
check "deny domain: the registry names the new dnsmasq" registry_names_dnsmasq "$(registry_entry "$ID")" "$BUNDLE"

run_capture shield_op down "$N"
check "down by NAME" eval '[[ $RC == 0 && $OUT == "$N: mode down (was up), ruleset replaced and verified; dnsmasq reloaded (DNS policy open)" ]]'
check "down: a host not allowlisted passes" expect_fetch "$N" "$PUB_ALLOWED" "$PUB_ALLOWED"
run_capture shield_op up "$N"
check "up by NAME" eval '[[ $RC == 0 && $OUT == "$N: mode up (was down)"* ]]'
check "up: the table is shield preview of the bundle" expect_table_is_preview "$N"

pod stop -t 0 "$N" >/dev/null 2>&1 || true
run_capture shield_op deny "$N" "$PUB_OTHER"
check "stopped: bundle only, with the note" \
	eval '[[ $RC == 0 && $OUT == "denied $PUB_OTHER for $N" && $ERR == *"$N is not running: the change applies at its next start" ]]'
pod start "$N" >/dev/null 2>&1 || true
check "after start: the container runs" wait_running "$N"
check "after restart: the denied domain is NXDOMAIN" expect_nxdomain "$N" "$DNS_NAME_ALLOWED"
check "after restart: the address denied while stopped is refused" expect_blocked "$N" "$PUB_OTHER"

pod rm -f -t 0 "$N" >/dev/null 2>&1 || true
finish
