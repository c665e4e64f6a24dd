#!/usr/bin/env bash
# Fail-closed: whenever shield-hook cannot shield a container, podman does
# not start it. Each case is a `podman run` that must fail, leave no process
# of the container (no conmon, no dnsmasq, nothing in its namespace), not
# run the container's command (it would create a marker file in a
# bind-mounted dir), and say why: dnsmasq without nftset support, dnsmasq
# exiting at once, the version annotation, a state dir that is a symlink,
# group-writable, under /etc or missing. Then shield-hook run directly with
# crafted OCI state: malformed JSON and a missing pid fail (one line on
# stderr, no dnsmasq), next to a well-formed state that succeeds. A couple of
# cases also with rootless podman.
set -euo pipefail
# shellcheck source=tests/e2e/lib-scenarios.sh
source "$(dirname "$0")/lib-scenarios.sh"

scenario_world both
REAL_DNSMASQ=$(command -v dnsmasq)

# ------------------------------------------------------------ fakes

FAKES=$TMP/fakes
mkdir -m 0755 "$FAKES"
# A dnsmasq built without nftset: its --version says "no-nftset" (a naive
# substring check would accept that); otherwise it is the real dnsmasq, so
# only a version check can tell.
cat >"$FAKES/dnsmasq-nonftset" <<EOF
#!/bin/sh
if [ "\${1:-}" = --version ]; then
	$REAL_DNSMASQ --version | sed 's/\\bnftset\\b/no-nftset/'
	exit 0
fi
exec $REAL_DNSMASQ "\$@"
EOF
# A dnsmasq that passes the version check and exits 1 at once.
cat >"$FAKES/dnsmasq-exits" <<EOF
#!/bin/sh
if [ "\${1:-}" = --version ]; then
	exec $REAL_DNSMASQ --version
fi
echo "dnsmasq-exits: failing on purpose" >&2
exit 1
EOF
chmod 0755 "$FAKES"/*
"$FAKES/dnsmasq-nonftset" --version | grep -q 'no-nftset' || die "the no-nftset fake is broken"

# Hooks dirs that point shield-hook at the fakes, per mode.
write_hooks_dir "$TMP/hooks-nonftset" "$ROOT_RUNTIME_DIR" "SHIELD_DNSMASQ=$FAKES/dnsmasq-nonftset"
write_hooks_dir "$TMP/hooks-exits" "$ROOT_RUNTIME_DIR" "SHIELD_DNSMASQ=$FAKES/dnsmasq-exits"
write_hooks_dir "$USER_DIR/hooks-exits" "$USER_RUNTIME_DIR" "SHIELD_DNSMASQ=$FAKES/dnsmasq-exits"

# ------------------------------------------------------------ helpers

# args_with KEY=VALUE...: SHIELD_ARGS with annotation terok.shield.KEY set
# to VALUE, into ARGS.
args_with() {
	local a kv key found
	ARGS=("${SHIELD_ARGS[@]}")
	for kv in "$@"; do
		key=terok.shield.${kv%%=*}
		found=0
		for a in "${!ARGS[@]}"; do
			case ${ARGS[a]} in
			"$key="*)
				ARGS[a]=terok.shield.$kv
				found=1
				;;
			"--annotation=$key="*)
				ARGS[a]=--annotation=terok.shield.$kv
				found=1
				;;
			esac
		done
		((found)) || die "no annotation $key in: ${SHIELD_ARGS[*]}"
	done
}

# Marker dir bind-mounted at /mark: the container's command creates
# /mark/ran first thing.
new_marker_dir() {
	MARK=$TMP/mark-$1
	if [[ $PODMAN_MODE == user ]]; then
		MARK=$USER_DIR/mark-$1
		mkdir -m 0755 "$MARK"
		chown "$ROOTLESS_USER:" "$MARK"
	else
		mkdir -m 0755 "$MARK"
	fi
}

# try_run NAME ARGS...: `podman run -d` of container NAME (prepared) that
# would mark that it ran, with ARGS (the shield arguments, with --name and
# --network, as the case wants them); RC, OUT as podman left them.
try_run() {
	local name=$1
	shift
	new_marker_dir "$name"
	RC=0
	OUT=$(pod run -d -v "$MARK:/mark" "$@" \
		--rootfs "$(mode_rootfs)" /bin/sh -c 'touch /mark/ran; exec sleep 3600' 2>&1) || RC=$?
}

podman_failed() {
	[[ $RC != 0 ]] && return 0
	say "    podman run succeeded, it must not: $OUT"
	return 1
}
not_running() {
	local st
	st=$(container_state "$1")
	[[ $st != running ]] && return 0
	say "    container $1 is $st"
	return 1
}
command_never_ran() {
	[[ ! -e $MARK/ran ]] && return 0
	say "    the container's command ran (marker $MARK/ran exists)"
	return 1
}
# No conmon, container process or dnsmasq of this test's podman is left.
no_container_process() {
	local pids p left=""
	if [[ $PODMAN_MODE == user ]]; then
		pids=$(_rootless_pids)
	else
		pids=$(pgrep -f -- "$PODMAN_DIR" || true)
	fi
	for p in $pids; do
		# The rootless pause process (catatonit) legitimately stays; a
		# zombie is dead (this sandbox's pid 1 may be slow to reap).
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == catatonit ]] && continue
		is_zombie "$p" && continue
		left+="$p($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-80)) "
	done
	if [[ -n $CTR_NS ]] && ! ns_empty "$CTR_NS"; then
		return 1
	fi
	[[ -z $left ]] && return 0
	say "    processes left: $left"
	return 1
}
says_why() { # says_why REGEX: podman's output carries the hook's reason
	if [[ $OUT =~ shield-hook ]] && [[ $OUT =~ $1 ]]; then
		say "    (${OUT##*stderr: })"
		return 0
	fi
	say "    podman's output lacks the hook's reason (/$1/): $OUT"
	return 1
}
error_logged() { # error_logged DIR: the hook wrote DIR/hook-error.log
	[[ -s $1/hook-error.log ]] && return 0
	say "    no $1/hook-error.log"
	return 1
}

# refused_case WHAT NAME REASON_REGEX [BUNDLE_FOR_LOG]: the checks of one case.
refused_case() {
	local what="$PODMAN_MODE/$1" name=$2 why=$3 logdir=${4:-}
	check "$what: podman run fails" podman_failed
	check "$what: the hook says why" says_why "$why"
	sleep 0.2
	check "$what: the container is not running" not_running "$name"
	check "$what: its command never ran" command_never_ran
	check "$what: no process of it is left" no_container_process
	[[ -z $logdir ]] || check "$what: hook-error.log in the bundle" error_logged "$logdir"
	pod rm -f -t 0 "$name" >/dev/null 2>&1 || true
}

# ------------------------------------------------------------ rootful cases

PODMAN_MODE=root
mode_profile web "$DNS_NAME_ALLOWED"

say "# root: a control run with the same helpers succeeds"
shield_prepare fc-ok web
try_run fc-ok "${SHIELD_ARGS[@]}"
check "root/control: podman run succeeds" podman_ok
check "root/control: the command ran" wait_for 5 test -e "$MARK/ran"
pod rm -f -t 0 fc-ok >/dev/null 2>&1 || true

say "# root: dnsmasq without nftset"
shield_prepare fc-nonftset web
ROOT_HOOKS=$TMP/hooks-nonftset try_run fc-nonftset "${SHIELD_ARGS[@]}"
refused_case "dnsmasq without nftset" fc-nonftset 'nftset' "$BUNDLE"

say "# root: dnsmasq exits at once"
shield_prepare fc-exits web
ROOT_HOOKS=$TMP/hooks-exits try_run fc-exits "${SHIELD_ARGS[@]}"
refused_case "dnsmasq exits at once" fc-exits 'dnsmasq' "$BUNDLE"

say "# root: version annotation mismatch"
shield_prepare fc-version web
args_with version=2
try_run fc-version "${ARGS[@]}"
refused_case "version annotation 2" fc-version 'version' "$BUNDLE"

say "# root: state dir is a symlink"
shield_prepare fc-symlink web
ln -s "$BUNDLE" "$STATE_ROOT/containers/fc-symlink-link"
args_with "state_dir=$STATE_ROOT/containers/fc-symlink-link"
try_run fc-symlink "${ARGS[@]}"
refused_case "state dir a symlink" fc-symlink 'symlink|symbolic link'

say "# root: state dir is group-writable"
shield_prepare fc-gw web
chmod 0770 "$BUNDLE"
try_run fc-gw "${SHIELD_ARGS[@]}"
refused_case "state dir group-writable" fc-gw 'writable'

say "# root: state dir missing"
shield_prepare fc-missing web
args_with "state_dir=$STATE_ROOT/containers/fc-missing-nonexistent"
try_run fc-missing "${ARGS[@]}"
refused_case "state dir missing" fc-missing 'No such file|missing|does not exist|not found'

# A state dir under /etc, without touching the machine's /etc: in a
# private mount namespace a tmpfs covers an existing directory of /etc, the
# bundle is prepared there and podman runs in that namespace.
say "# root: state dir under /etc"
ETC_DIR=/etc/default
[[ -d $ETC_DIR ]] || die "no $ETC_DIR to cover with a tmpfs"
new_marker_dir fc-etc
podman_root_argv
shield_prepare fc-etc web # for the podman arguments; then the bundle in /etc
ETC_BUNDLE=$ETC_DIR/shtest-bundle
args_with "state_dir=$ETC_BUNDLE"
ARGS=("${ARGS[@]//"$BUNDLE/resolv.conf"/"$ETC_BUNDLE/resolv.conf"}")
RC=0
# shellcheck disable=SC2016 # expanded by that sh
OUT=$(unshare --mount --propagation private -- /bin/sh -c '
	mount -t tmpfs -o mode=0755 shtest-etc "$1" || exit 1
	"$2" --config-dir "$3" prepare fc-etc --state-dir "$4" --upstream-dns "$5" --profiles web >/dev/null || exit 1
	shift 5
	exec "$@"' sh "$ETC_DIR" "$SHIELD_BIN" "$CONFIG_DIR" "$ETC_BUNDLE" "$DNS_UPSTREAM" \
	"${PODMAN_ROOT_ARGV[@]}" run -d -v "$MARK:/mark" "${ARGS[@]}" \
	--rootfs "$ROOTFS" /bin/sh -c 'touch /mark/ran; exec sleep 3600' 2>&1) || RC=$?
refused_case "state dir under /etc" fc-etc '/etc'
check "root/state dir under /etc: the machine's $ETC_DIR has no bundle" test ! -e "$ETC_BUNDLE"

# ------------------------------------------------------------ shield-hook directly

say "# shield-hook run directly with crafted OCI state"
shield_prepare fc-direct web
DIRECT_BUNDLE=$BUNDLE
new_netns direct
start_bg ip netns exec "$NS_NAME" sleep 600
DIRECT_PID=$LAST_PID
wait_for 10 comm_is "$DIRECT_PID" sleep || die "the direct-test process did not start"
DIRECT_ID=shtest$$direct
oci_state() { # oci_state [PID-JSON-MEMBER]
	printf '{"ociVersion":"1.0.2","id":"%s","status":"creating",%s"bundle":"/nonexistent","annotations":{"terok.shield.profiles":"web","terok.shield.state_dir":"%s","terok.shield.version":"1","terok.shield.name":"fc-direct"}}' \
		"$DIRECT_ID" "${1:-}" "$DIRECT_BUNDLE"
}
run_hook() { # run_hook STAGE < STDIN
	RC=0
	ERR=$(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin SHIELD_RUNTIME_DIR="$ROOT_RUNTIME_DIR" \
		"$SHIELD_HOOK_BIN" "$1" 2>&1 >/dev/null) || RC=$?
}
hook_failed_one_line() {
	if [[ $RC != 0 && -n $ERR && $(wc -l <<<"$ERR") == 1 && $ERR == shield-hook* ]]; then
		say "    (shield-hook: exit $RC: $ERR)"
		return 0
	fi
	say "    expected a failure with one line on stderr; got exit $RC: ${ERR:-<no message>}"
	return 1
}
no_dnsmasq_for_bundle() {
	local p
	p=$(pgrep -f -- "$DIRECT_BUNDLE" || true)
	if [[ -z $p && ! -e $DIRECT_BUNDLE/dnsmasq.pid ]] && ns_empty_but "$DIRECT_PID"; then
		return 0
	fi
	say "    dnsmasq of the bundle left: pids '$p', pid file: $(cat "$DIRECT_BUNDLE/dnsmasq.pid" 2>/dev/null)"
	return 1
}
ns_empty_but() { # only the given pid in the direct namespace
	local pids
	pids=$(ip netns pids "$NS_NAME" | grep -vx "$1" || true)
	[[ -z $pids ]]
}

run_hook createRuntime <<<'{"ociVersion":"1.0.2","id":"x","pid":'"$DIRECT_PID"',"annotations":{"terok.shield.profiles":'
check "direct: malformed JSON fails with one line on stderr" hook_failed_one_line
check "direct: malformed JSON starts no dnsmasq" no_dnsmasq_for_bundle
check "direct: malformed JSON registers nothing" expect_unregistered x

run_hook createRuntime < <(oci_state)
check "direct: a state without pid fails with one line on stderr" hook_failed_one_line
check "direct: a state without pid starts no dnsmasq" no_dnsmasq_for_bundle
check "direct: a state without pid registers nothing" expect_unregistered "$DIRECT_ID"

# The control: the same state with the pid works, and poststop undoes it.
run_hook createRuntime < <(oci_state "\"pid\":$DIRECT_PID,")
check "direct/control: the state with a pid succeeds" test "$RC" = 0 -a -z "$ERR"
check "direct/control: dnsmasq runs in that namespace" \
	test "$(readlink "/proc/$(bundle_dnsmasq_pid "$DIRECT_BUNDLE")/ns/net" 2>/dev/null)" = \
	"$(readlink "/proc/$DIRECT_PID/ns/net")"
check "direct/control: registered" expect_registered "$DIRECT_ID"
run_hook poststop < <(oci_state "\"pid\":$DIRECT_PID,")
check "direct/control: poststop succeeds" test "$RC" = 0
check "direct/control: poststop leaves no dnsmasq" wait_for 5 no_dnsmasq_for_bundle
check "direct/control: poststop deregisters" expect_unregistered "$DIRECT_ID"
run_hook poststop < <(oci_state "\"pid\":$DIRECT_PID,")
check "direct/control: poststop again is harmless" test "$RC" = 0

# ------------------------------------------------------------ rootless cases

PODMAN_MODE=user
mode_profile web "$DNS_NAME_ALLOWED"

say "# user: dnsmasq exits at once"
shield_prepare fcu-exits web
USER_HOOKS=$USER_DIR/hooks-exits try_run fcu-exits "${SHIELD_ARGS[@]}"
refused_case "dnsmasq exits at once" fcu-exits 'dnsmasq' "$BUNDLE"

say "# user: version annotation mismatch"
shield_prepare fcu-version web
args_with version=0
try_run fcu-version "${ARGS[@]}"
refused_case "version annotation 0" fcu-version 'version' "$BUNDLE"

finish
