# shellcheck shell=bash
# shellcheck disable=SC2034 # globals are for the tests that source this
# shellcheck disable=SC2119 # shield_run takes extra podman options; the scenarios give none
# The acceptance scenarios of shield with real podman, in the mode
# PODMAN_MODE (root: runc, a namespace of the test per container; user:
# the test user, slirp4netns). The e2e tests of shield start with
#
#   set -euo pipefail
#   source "$(dirname "$0")/lib-scenarios.sh"   # lib-podman.sh and lib.sh too
#   scenario_world root|user|both
#
# and then run the scenarios they want (test-shield-rootful.sh,
# test-shield-rootless.sh) or their own checks.

[[ -z ${_SHIELD_LIB_SCENARIOS_SH:-} ]] || return 0
_SHIELD_LIB_SCENARIOS_SH=1
# shellcheck source=tests/e2e/lib-podman.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib-podman.sh"

# A name whose address the test DNS changes (rotation): served from a hosts
# file that scenario_world writes and dns_rotate rewrites.
readonly ROT_NAME=rot.shield.test

# scenario_world root|user|both: the network world with the rotating name,
# podman for root (and for the test user with user or both), shield's dirs;
# PODMAN_MODE root (root, both) or user.
scenario_world() {
	local rootless=0
	case ${1:-} in
	root) PODMAN_MODE=root ;;
	user) PODMAN_MODE=user rootless=1 ;;
	both) PODMAN_MODE=root rootless=1 ;;
	*) die "scenario_world: say root, user or both, not '${1:-}'" ;;
	esac
	require_podman
	require_hook
	((rootless == 0)) || require_rootless
	init_tmp
	topo_build
	topo_start_servers
	ROT_HOSTS=$TMP/rotating.hosts
	printf '%s %s\n' "$PUB_ALLOWED" "$ROT_NAME" >"$ROT_HOSTS"
	topo_start_dns --addn-hosts="$ROT_HOSTS"
	podman_setup
	((rootless == 0)) || podman_user_setup
	shield_setup
}

# dns_rotate ADDR: the test DNS answers ROT_NAME with ADDR from now on.
dns_rotate() {
	printf '%s %s\n' "$1" "$ROT_NAME" >"$ROT_HOSTS.new"
	mv "$ROT_HOSTS.new" "$ROT_HOSTS"
	kill -HUP "$DNS_PID"
	wait_for 5 _upstream_answers "$ROT_NAME" "$1" || die "the test DNS did not pick up $ROT_NAME -> $1"
}
_upstream_answers() { # _upstream_answers NAME ADDR
	[[ $(ip netns exec "$HOSTS_NS" dig +short +tries=1 +time=1 "@$DNS_UPSTREAM" "$1" A 2>/dev/null) == "$2" ]]
}

# bundle_add FILE LINE: append LINE to the bundle list FILE (0600, owned by
# the bundle's owner), as an operator editing the bundle would.
bundle_add() {
	local f=$BUNDLE/$1
	printf '%s\n' "$2" >>"$f"
	chmod 0600 "$f"
	chown --reference="$BUNDLE" "$f"
}

# The container's /etc/resolv.conf names only 127.0.0.1.
resolver_is_local() {
	local out
	out=$(pod exec "$1" cat /etc/resolv.conf 2>&1) || true
	if [[ $(grep -v '^#' <<<"$out" | grep .) == "nameserver 127.0.0.1" ]]; then
		return 0
	fi
	say "    /etc/resolv.conf in $1: $out"
	return 1
}

# An audit.jsonl line was written for the start.
audit_written() {
	[[ -s $BUNDLE/audit.jsonl ]] && return 0
	say "    $BUNDLE/audit.jsonl is missing or empty"
	return 1
}

# The last podman command (RC, OUT) succeeded.
podman_ok() {
	[[ $RC == 0 ]] && return 0
	say "    podman failed (exit $RC): $OUT"
	return 1
}

running() {
	_is_running "$1" && return 0
	say "    container $1 is not running (state: $(container_state "$1")); podman said: $OUT"
	return 1
}

# ------------------------------------------------------------ scenarios

# The core: allowed name resolves and is fetched; blocked names and bare IPs
# are refused at once; the live table is `shield preview`; rotation.
scenario_core() {
	local m=$PODMAN_MODE n=core-$PODMAN_MODE id
	say "# $m: allow, refuse, the table, rotation"
	mode_profile web "$DNS_NAME_ALLOWED" "$ROT_NAME"
	shield_prepare "$n" web
	shield_run
	check "$m: podman runs the shielded container" running "$n"
	_is_running "$n" || return 0
	id=$(container_id "$n")
	check "$m: the live table is shield preview, byte for byte" expect_table_is_preview "$n"
	check "$m: dnsmasq runs in the container's network namespace" expect_dnsmasq_up "$n"
	check "$m: the container is registered" expect_registered "$id"
	check "$m: the start is audited" audit_written
	check "$m: the container's resolver is 127.0.0.1" resolver_is_local "$n"
	check "$m: before any lookup the allowed host's address is refused" expect_blocked "$n" "$PUB_ALLOWED"
	check "$m: the allowed name resolves" expect_resolves "$n" "$DNS_NAME_ALLOWED" "$PUB_ALLOWED"
	check "$m: the allowed name is fetched" expect_fetch "$n" "$DNS_NAME_ALLOWED" "$PUB_ALLOWED" "$PUB6_ALLOWED"
	check "$m: after the lookup its address is reachable" expect_fetch "$n" "$PUB_ALLOWED" "$PUB_ALLOWED"
	check "$m: a blocked name gets NXDOMAIN (strict policy)" expect_nxdomain "$n" "$DNS_NAME_OTHER"
	check "$m: fetching a blocked name is refused at once" expect_blocked "$n" "$DNS_NAME_OTHER"
	check "$m: a bare public address not allowlisted is refused at once" expect_blocked "$n" "$PUB_OTHER"
	check "$m: a private address is refused at once" expect_blocked "$n" "$PRIV_HOST"

	# Rotation: the test DNS moves ROT_NAME to another host; the next lookup
	# makes it reachable with no shield action.
	check "$m: the rotating name resolves to its first host" expect_fetch "$n" "$ROT_NAME" "$PUB_ALLOWED"
	check "$m: before the rotation the new host is refused" expect_blocked "$n" "$PUB_OTHER"
	dns_rotate "$PUB_OTHER"
	check "$m: after the rotation the name reaches the new host" expect_fetch "$n" "$ROT_NAME" "$PUB_OTHER"
	check "$m: and the new host's address is reachable" expect_fetch "$n" "$PUB_OTHER" "$PUB_OTHER"
	dns_rotate "$PUB_ALLOWED"
	pod rm -f -t 0 "$n" >/dev/null 2>&1 || true
}

# --dns-policy open: other names resolve, their hosts stay refused.
scenario_open_policy() {
	local m=$PODMAN_MODE n=open-$PODMAN_MODE
	say "# $m: --dns-policy open"
	mode_profile web "$DNS_NAME_ALLOWED"
	shield_prepare "$n" web --dns-policy open
	shield_run
	check "$m/open: podman runs the shielded container" running "$n"
	_is_running "$n" || return 0
	check "$m/open: the live table is shield preview" expect_table_is_preview "$n"
	check "$m/open: a name not allowlisted resolves" expect_resolves "$n" "$DNS_NAME_OTHER" "$PUB_OTHER"
	check "$m/open: but fetching it is refused at once" expect_blocked "$n" "$DNS_NAME_OTHER"
	check "$m/open: the allowed name is fetched" expect_fetch "$n" "$DNS_NAME_ALLOWED" "$PUB_ALLOWED" "$PUB6_ALLOWED"
	pod rm -f -t 0 "$n" >/dev/null 2>&1 || true
}

# podman stop + start: poststop stops dnsmasq and deregisters; the start
# re-applies the bundle as it is now, with edits made while stopped.
scenario_restart() {
	local m=$PODMAN_MODE n=restart-$PODMAN_MODE id pid1
	say "# $m: stop, edit the bundle, start"
	mode_profile rs "$DNS_NAME_ALLOWED" "$PUB_DENIED"
	shield_prepare "$n" rs
	shield_run
	check "$m/restart: podman runs the shielded container" running "$n"
	_is_running "$n" || return 0
	id=$(container_id "$n")
	pid1=$(bundle_dnsmasq_pid "$BUNDLE")
	check "$m/restart: the profile's static address is reachable" expect_fetch "$n" "$PUB_DENIED" "$PUB_DENIED"
	check "$m/restart: another address is refused" expect_blocked "$n" "$PUB_OTHER"
	check "$m/restart: another name gets NXDOMAIN" expect_nxdomain "$n" "$DNS_NAME_OTHER"

	RC=0
	OUT=$(pod stop -t 0 "$n" 2>&1) || RC=$?
	check "$m/restart: podman stop succeeds" podman_ok
	check "$m/restart: poststop stopped dnsmasq" wait_for 5 dnsmasq_gone "$pid1"
	check "$m/restart: poststop removed the registry entry" expect_unregistered "$id"
	if [[ -n $CTR_NS ]]; then
		check "$m/restart: nothing runs in the stopped container's namespace" ns_empty "$CTR_NS"
	fi

	bundle_add live.allowed "$PUB_OTHER"
	bundle_add deny.list "$PUB_DENIED"
	bundle_add live.domains "$DNS_NAME_OTHER"
	bundle_add denied.domains "$DNS_NAME_ALLOWED"
	RC=0
	OUT=$(pod start "$n" 2>&1) || RC=$?
	check "$m/restart: podman start succeeds" podman_ok
	check "$m/restart: the container runs again" wait_running "$n"
	_is_running "$n" || return 0
	check "$m/restart: dnsmasq is back" expect_dnsmasq_up "$n"
	check "$m/restart: the container is registered again" expect_registered "$id"
	check "$m/restart: the live table is shield preview of the edited bundle" expect_table_is_preview "$n"
	check "$m/restart: live.allowed is in effect" expect_fetch "$n" "$PUB_OTHER" "$PUB_OTHER"
	check "$m/restart: deny.list beats the profile" expect_blocked "$n" "$PUB_DENIED"
	check "$m/restart: live.domains is in effect" expect_resolves "$n" "$DNS_NAME_OTHER" "$PUB_OTHER"
	check "$m/restart: denied.domains is in effect" expect_nxdomain "$n" "$DNS_NAME_ALLOWED"
	pid1=$(bundle_dnsmasq_pid "$BUNDLE")
	RC=0
	OUT=$(pod rm -f -t 0 "$n" 2>&1) || RC=$?
	check "$m/restart: after podman rm no dnsmasq is left" wait_for 5 dnsmasq_gone "$pid1"
	check "$m/restart: after podman rm no registry entry is left" expect_unregistered "$id"
}

# A PID file pointing at an unrelated process (named dnsmasq, in the same
# namespace, same owner) is never signalled by poststop.
scenario_pidfile_impostor() {
	local m=$PODMAN_MODE n=pidfile-$PODMAN_MODE id real imp
	say "# $m: poststop and a PID file naming another process"
	mode_profile web "$DNS_NAME_ALLOWED"
	shield_prepare "$n" web
	shield_run
	check "$m/pidfile: podman runs the shielded container" running "$n"
	_is_running "$n" || return 0
	id=$(container_id "$n")
	real=$(bundle_dnsmasq_pid "$BUNDLE")
	mkdir -p "$TMP/impostor"
	cp "$(command -v sleep)" "$TMP/impostor/dnsmasq"
	chmod 0755 "$TMP/impostor" "$TMP/impostor/dnsmasq"
	if [[ $PODMAN_MODE == user ]]; then
		start_bg setpriv --reuid="$ROOTLESS_UID" --regid="$(id -g "$ROOTLESS_USER")" --clear-groups \
			"$TMP/impostor/dnsmasq" 600
	else
		start_bg ip netns exec "$CTR_NS" "$TMP/impostor/dnsmasq" 600
	fi
	imp=$LAST_PID
	wait_for 10 comm_is "$imp" dnsmasq || true
	printf '%s\n' "$imp" >"$BUNDLE/dnsmasq.pid"
	RC=0
	OUT=$(pod stop -t 0 "$n" 2>&1) || RC=$?
	check "$m/pidfile: podman stop succeeds" podman_ok
	sleep 0.3
	check "$m/pidfile: the process the PID file names was not signalled" kill -0 "$imp"
	check "$m/pidfile: poststop removed the registry entry" expect_unregistered "$id"
	if [[ $(cat "/proc/$real/comm" 2>/dev/null) == dnsmasq ]]; then
		say "    note: the container's real dnsmasq ($real) still runs after poststop (the PID file named another process)"
	else
		say "    note: poststop stopped the container's real dnsmasq ($real) despite the PID file"
	fi
	kill "$imp" 2>/dev/null || true
	pod rm -f -t 0 "$n" >/dev/null 2>&1 || true
}

# An image whose /etc/resolv.conf is a symlink to an absolute host path:
# the host file stays as it was; the container's resolver is 127.0.0.1.
scenario_resolv_symlink() {
	local m=$PODMAN_MODE n=symlink-$PODMAN_MODE host before after rootfs
	say "# $m: an image with /etc/resolv.conf -> an absolute host path"
	host=$TMP/host-resolv-$m.conf
	printf 'nameserver 192.0.2.53 # the host file, must not change\n' >"$host"
	chmod 0644 "$host"
	before=$(stat -c '%s %Y %i' "$host")$(sha256sum <"$host")
	rootfs=$TMP/rootfs-symlink-$m
	if [[ $PODMAN_MODE == user ]]; then
		rootfs=$USER_DIR/rootfs-symlink
		make_rootfs_resolv_symlink "$rootfs" "$host" "$ROOTLESS_USER"
	else
		make_rootfs_resolv_symlink "$rootfs" "$host"
	fi
	mode_profile web "$DNS_NAME_ALLOWED"
	shield_prepare "$n" web
	RC=0
	OUT=$(pod run -d "${SHIELD_ARGS[@]}" --rootfs "$rootfs" /bin/sleep 3600 2>&1) || RC=$?
	check "$m/symlink: podman runs the shielded container" running "$n"
	if _is_running "$n"; then
		check "$m/symlink: the container's resolver is 127.0.0.1" resolver_is_local "$n"
		check "$m/symlink: the allowed name resolves" expect_resolves "$n" "$DNS_NAME_ALLOWED" "$PUB_ALLOWED"
	fi
	pod rm -f -t 0 "$n" >/dev/null 2>&1 || true
	after=$(stat -c '%s %Y %i' "$host")$(sha256sum <"$host")
	check "$m/symlink: the host file the image's symlink names is unchanged" test "$before" = "$after"
}

# `shield run` itself: it writes the bundle, checks that podman will run the
# hook (podman's hooks_dir from the test's containers.conf) and execs
# podman run with shield's arguments and ours.
scenario_shield_run() {
	local m=$PODMAN_MODE n=run-$PODMAN_MODE up=()
	say "# $m: shield run"
	mode_profile web "$DNS_NAME_ALLOWED"
	mode_network "$n"
	BUNDLE=$(mode_state_root)/containers/$n
	# Rootless, the upstream is left to shield (slirp4netns's forwarder).
	[[ $PODMAN_MODE == user ]] || up=(--upstream-dns "$DNS_UPSTREAM")
	RC=0
	OUT=$(shield_op run "$n" --network "$NETWORK" "${up[@]}" --profiles web -q -- \
		-d --rootfs "$(mode_rootfs)" /bin/sleep 3600 2>&1) || RC=$?
	check "$m/run: shield run succeeds" podman_ok
	check "$m/run: the container runs" running "$n"
	_is_running "$n" || return 0
	check "$m/run: it is named as asked and its bundle is where asked" test -f "$BUNDLE/dnsmasq.conf"
	check "$m/run: the live table is shield preview" expect_table_is_preview "$n"
	check "$m/run: dnsmasq runs in its network namespace" expect_dnsmasq_up "$n"
	check "$m/run: the allowed name is fetched" expect_fetch "$n" "$DNS_NAME_ALLOWED" "$PUB_ALLOWED" "$PUB6_ALLOWED"
	check "$m/run: a bare address not allowlisted is refused at once" expect_blocked "$n" "$PUB_OTHER"
	pod rm -f -t 0 "$n" >/dev/null 2>&1 || true
}
