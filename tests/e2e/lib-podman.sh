# shellcheck shell=bash
# shellcheck disable=SC2034 # globals (addresses, dirs, RC/OUT/ERR) are for the tests that source this
# Helpers for shield's end-to-end tests: real podman containers in the
# network world of tests/integration/lib.sh, which it sources:
#
#   source "$(dirname "$0")/lib-podman.sh"
#
# (tests of shield itself source lib-scenarios.sh, which sources this).
#
# Nothing here touches the machine's podman setup: every podman call gets a
# containers.conf of the test's own (CONTAINERS_CONF), its own storage, run
# and tmp dirs, network config dir and hooks dir, all under the test's TMP
# (only runc's per-container state lives in /run/runc/ID while a rootful
# container exists; see podman_setup). Rootless podman keeps everything in
# the test user's home and XDG_RUNTIME_DIR, both under TMP.
# Containers run from a busybox root filesystem the test builds from
# /usr/bin/busybox (busybox-static) with --rootfs; nothing is pulled.
#
# Networks (no test traffic ever leaves the machine):
#
# - rootful: `--network ns:/run/netns/NS`, where NS is a namespace of the
#   test. client_ns_new makes one per container: a veth pair to the hosts
#   namespace of lib.sh's world, 198.19.N.2/24 with a default route to
#   198.19.N.1 (the hosts side), so the container reaches the test hosts
#   198.18.1.x, the upstream DNS 198.18.1.53, and nothing else.
#
# - rootless: a test user (shtest-PID-u, with subordinate ids, removed at
#   exit) runs podman with slirp4netns. The podman command itself runs in
#   lib.sh's client namespace (nsenter --net), whose only link leads to the
#   hosts namespace and which has no default route, so the connections
#   slirp4netns opens on the container's behalf originate there and reach the
#   test hosts only. It also runs in a private mount namespace (unshare -m) in
#   which the test's resolv.conf ("nameserver 198.18.1.53") is bind-mounted
#   over /etc/resolv.conf, so slirp4netns's DNS forwarder 10.0.2.3 forwards
#   to the test's DNS, and a tun device node of mode 0666 is bind-mounted
#   over /dev/net/tun (slirp4netns opens it inside the user namespace,
#   where the real 0600 node is out of reach); the machine's /dev/net/tun
#   and /etc/resolv.conf are never changed. Not `ip netns exec`: it remounts
#   /sys, which hides the cgroup mounts runc needs.
#
# Call podman_setup once (after topo_setup), then podman_user_setup for
# rootless tests. `pod` runs podman in the mode PODMAN_MODE (root|user).

[[ -z ${_SHIELD_LIB_PODMAN_SH:-} ]] || return 0
_SHIELD_LIB_PODMAN_SH=1
# Testing an installed package (tests/package): SHIELD_DATA_DIR set but
# empty makes shield use the profiles where it was installed (lib.sh would
# make it the source tree), and SHIELD_E2E_HOOKS_DIR=system makes rootful
# podman read the system hooks dir (podman_setup).
_E2E_DATA_DIR_EMPTY=0
[[ ${SHIELD_DATA_DIR-unset} != "" ]] || _E2E_DATA_DIR_EMPTY=1
# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
((_E2E_DATA_DIR_EMPTY == 0)) || SHIELD_DATA_DIR=

SHIELD_HOOK_BIN=${SHIELD_HOOK_BIN:-$(dirname "$SHIELD_BIN")/shield-hook}
# Absolute: hook descriptors need it, and the test user runs them too.
SHIELD_BIN=$(realpath -m -- "$SHIELD_BIN")
SHIELD_HOOK_BIN=$(realpath -m -- "$SHIELD_HOOK_BIN")
export SHIELD_BIN SHIELD_HOOK_BIN
BUSYBOX=${SHIELD_BUSYBOX:-/usr/bin/busybox}
PODMAN_MODE=root

_PODMAN_ROOT_READY=0
_PODMAN_USER_READY=0
ROOTLESS_USER=
_ROOTLESS_USER_CREATED=0
_CLIENT_NS_COUNT=0

# ------------------------------------------------------------ preconditions

# Everything an e2e test needs; skips (or fails in CI) otherwise.
require_podman() {
	require_root
	require_cmd ip nft podman runc nsenter unshare dnsmasq dig socat
	[[ -x $BUSYBOX ]] || skip_or_fail "needs busybox at $BUSYBOX (busybox-static)"
	if ldd "$BUSYBOX" >/dev/null 2>&1; then
		skip_or_fail "$BUSYBOX is dynamically linked; the test rootfs needs busybox-static"
	fi
}

require_rootless() {
	require_cmd runuser useradd userdel slirp4netns newuidmap newgidmap mknod
}

require_hook() {
	require_shield
	[[ -x $SHIELD_HOOK_BIN ]] || skip_or_fail "shield-hook not found at SHIELD_HOOK_BIN=$SHIELD_HOOK_BIN (build it first)"
}

# ------------------------------------------------------------ root filesystem

# make_rootfs DIR [OWNER]: a busybox root filesystem (static busybox and
# symlinks for the applets the tests use, empty /etc, /proc, /sys, /dev, /tmp).
make_rootfs() {
	local dir=$1 owner=${2:-} a
	mkdir -p "$dir"/{bin,etc,proc,sys,dev,tmp,run,mnt}
	chmod 1777 "$dir/tmp"
	cp "$BUSYBOX" "$dir/bin/busybox"
	for a in sh ash nc nslookup cat sleep echo ls touch test '[' printf cut awk \
		grep sed date id mkdir rm env kill ps ip true false head tail tr wc; do
		ln -sf busybox "$dir/bin/$a"
	done
	printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$dir/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
	[[ -z $owner ]] || chown -R "$owner:" "$dir"
}

# make_rootfs_resolv_symlink DIR TARGET [OWNER]: like make_rootfs, with
# /etc/resolv.conf a symlink to the absolute path TARGET (an image that
# would lead a naive writer through /proc/PID/root back to the host).
make_rootfs_resolv_symlink() {
	make_rootfs "$1" "${3:-}"
	ln -s "$2" "$1/etc/resolv.conf"
	[[ -z ${3:-} ]] || chown -h "$3:" "$1/etc/resolv.conf"
}

# ------------------------------------------------------------ hooks

# _json_str STRING: STRING as a JSON string (the tests' paths and values
# hold no control characters).
_json_str() {
	local s=${1//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}

# write_hooks_dir DIR RUNTIME_DIR [VAR=VALUE...]: OCI hook descriptors (one
# per stage) running $SHIELD_HOOK_BIN createRuntime / poststop for
# containers with the terok.shield.profiles annotation, with the
# environment SHIELD_RUNTIME_DIR=RUNTIME_DIR, PATH and the extra variables
# (e.g. SHIELD_DNSMASQ=/path). RUNTIME_DIR "-" leaves SHIELD_RUNTIME_DIR and
# PATH out, as `shield setup` does: the hook then finds the registry on its
# own (createRuntime sees podman's XDG_RUNTIME_DIR; podman runs poststop with
# an empty environment, and the hook reads the location from the bundle).
write_hooks_dir() {
	local dir=$1 rt=$2 stage env="" e
	shift 2
	mkdir -p "$dir"
	if [[ $rt != - ]]; then
		set -- "SHIELD_RUNTIME_DIR=$rt" "PATH=/usr/sbin:/usr/bin:/sbin:/bin" "$@"
	fi
	for e in "$@"; do
		env+=${env:+,}$(_json_str "$e")
	done
	# No "env" key at all without variables: an empty list would be an empty environment.
	[[ -z $env ]] || env=',"env":['$env']'
	for stage in createRuntime poststop; do
		printf '{"version":"1.0.0","hook":{"path":%s,"args":["shield-hook",%s]%s},"when":{"annotations":{"^terok\\\\.shield\\\\.profiles$":".*"}},"stages":[%s]}\n' \
			"$(_json_str "$SHIELD_HOOK_BIN")" "$(_json_str "$stage")" "$env" "$(_json_str "$stage")" \
			>"$dir/shield-$stage.json"
	done
	chmod 0755 "$dir"
	chmod 0644 "$dir"/*.json
	write_containers_conf "$dir.containers.conf" "$dir"
}

# write_containers_conf FILE [HOOKS_DIR]: the tests' containers.conf: runc
# (crun refuses the hybrid cgroup setup here), no default ulimits (no
# CAP_SYS_RESOURCE in the sandbox), cgroupfs, events to a file (no
# journald), and hooks_dir = [HOOKS_DIR]: podman reads the hooks from its
# configuration, as with `shield setup`, so every podman command (start,
# restart, conmon's cleanup) finds them; `--hooks-dir` would be forgotten.
write_containers_conf() {
	local f=$1 hooks=${2:-}
	{
		printf '[containers]\ndefault_ulimits = []\n[engine]\n'
		printf 'runtime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
		[[ -z $hooks ]] || printf 'hooks_dir = [%s]\n' "$(_json_str "$hooks")"
	} >"$f"
	chmod 0644 "$f"
}

# ------------------------------------------------------------ rootful podman

# podman_setup: the private podman config for rootful runs, the busybox
# rootfs, hooks dir ROOT_HOOKS with SHIELD_RUNTIME_DIR=ROOT_RUNTIME_DIR
# (and its containers.conf ROOT_HOOKS.containers.conf); with
# SHIELD_E2E_HOOKS_DIR=system, a containers.conf naming the system hooks dir
# /usr/share/containers/oci/hooks.d instead and ROOT_RUNTIME_DIR=/run/shield.
podman_setup() {
	[[ -n ${TMP:-} ]] || init_tmp
	# The rootless user must be able to walk into TMP (to its own subdir).
	chmod 0711 "$TMP"
	PODMAN_DIR=$TMP/podman
	mkdir -m 0700 "$PODMAN_DIR"
	# runc keeps its per-container state in /run/runc/ID (removed with the
	# container): a --runtime-flag root=DIR would not reach the cleanup
	# process conmon starts when a container exits (podman does not pass
	# runtime flags to it), so that cleanup would miss runc's state.
	mkdir -m 0700 "$PODMAN_DIR"/{root,runroot,tmp,net}
	ROOTFS=$PODMAN_DIR/rootfs
	make_rootfs "$ROOTFS"
	ROOT_HOOKS=$PODMAN_DIR/hooks
	case ${SHIELD_E2E_HOOKS_DIR:-} in
	"")
		ROOT_RUNTIME_DIR=$PODMAN_DIR/runtime
		mkdir -m 0700 "$ROOT_RUNTIME_DIR"
		write_hooks_dir "$ROOT_HOOKS" "$ROOT_RUNTIME_DIR"
		;;
	system)
		# The installed package's descriptors, as podman reads them by
		# default; they set no SHIELD_RUNTIME_DIR, so the hook keeps its
		# registry in the default /run/shield.
		ROOT_RUNTIME_DIR=/run/shield
		write_containers_conf "$ROOT_HOOKS.containers.conf" /usr/share/containers/oci/hooks.d
		;;
	*) die "SHIELD_E2E_HOOKS_DIR: say system or nothing, not '$SHIELD_E2E_HOOKS_DIR'" ;;
	esac
	_PODMAN_ROOT_READY=1
}

# podman_root ARGS...: rootful podman with the test's config, storage and
# hooks (the containers.conf of ROOT_HOOKS; another hooks dir per call:
# ROOT_HOOKS=DIR podman_root ...).
podman_root() {
	podman_root_argv
	"${PODMAN_ROOT_ARGV[@]}" "$@"
}

# podman_root_wrapper: a podman executable (script) with podman_root's
# storage options, for `shield run` ($SHIELD_PODMAN); CONTAINERS_CONF comes
# from the environment. Prints its path.
podman_root_wrapper() {
	local w=$PODMAN_DIR/podman-wrapper
	if [[ ! -x $w ]]; then
		podman_root_argv
		{
			printf '#!/bin/sh\nexec'
			printf ' %q' "${PODMAN_ROOT_ARGV[@]:2}"
			printf ' "$@"\n'
		} >"$w"
		chmod 0755 "$w"
	fi
	printf '%s\n' "$w"
}

# podman_root_argv: that command line in PODMAN_ROOT_ARGV (for exec).
podman_root_argv() {
	PODMAN_ROOT_ARGV=(env CONTAINERS_CONF="$ROOT_HOOKS.containers.conf" podman
		--root "$PODMAN_DIR/root" --runroot "$PODMAN_DIR/runroot"
		--tmpdir "$PODMAN_DIR/tmp" --network-config-dir "$PODMAN_DIR/net"
		--runtime runc
		--cgroup-manager cgroupfs --events-backend file)
}

# client_ns_new SUFFIX: a namespace for one rootful container (NS_NAME),
# linked to the hosts namespace: 198.19.N.2/24, default route via
# 198.19.N.1. Sets CNS_ADDR to the container side address.
client_ns_new() {
	local n
	_CLIENT_NS_COUNT=$((_CLIENT_NS_COUNT + 1))
	n=$_CLIENT_NS_COUNT
	((n < 250)) || die "too many client namespaces"
	new_netns "$1"
	ip link add "c$n" netns "$NS_NAME" type veth peer name "hc$n" netns "$HOSTS_NS" ||
		die "cannot create the veth pair for $NS_NAME"
	ip -n "$NS_NAME" addr add "198.19.$n.2/24" dev "c$n"
	ip -n "$HOSTS_NS" addr add "198.19.$n.1/24" dev "hc$n"
	ip -n "$NS_NAME" link set "c$n" up
	ip -n "$HOSTS_NS" link set "hc$n" up
	ip -n "$NS_NAME" route add default via "198.19.$n.1"
	CNS_ADDR=198.19.$n.2
}

# ------------------------------------------------------------ rootless podman

# podman_user_setup: the test user with subordinate ids, its dirs under
# TMP/user, a rootfs it owns, its hooks dir USER_HOOKS (SHIELD_RUNTIME_DIR=
# USER_RUNTIME_DIR), and the tun node and resolv.conf podman_user mounts.
# Needs topo_build (slirp4netns runs in CLIENT_NS).
podman_user_setup() {
	((_PODMAN_ROOT_READY)) || podman_setup
	[[ -n ${CLIENT_NS:-} ]] || die "podman_user_setup needs the world (topo_build) first"
	ROOTLESS_USER=${RUN_PREFIX}u
	USER_DIR=$TMP/user
	mkdir -m 0755 "$USER_DIR"
	useradd --no-create-home --home-dir "$USER_DIR/home" --shell /usr/sbin/nologin \
		--user-group "$ROOTLESS_USER" || die "useradd $ROOTLESS_USER failed"
	_ROOTLESS_USER_CREATED=1
	# useradd allocates subordinate ids when /etc/subuid exists; make sure.
	if ! grep -q "^$ROOTLESS_USER:" /etc/subuid 2>/dev/null ||
		! grep -q "^$ROOTLESS_USER:" /etc/subgid 2>/dev/null; then
		die "useradd gave $ROOTLESS_USER no subordinate ids (/etc/subuid, /etc/subgid)"
	fi
	ROOTLESS_UID=$(id -u "$ROOTLESS_USER")
	mkdir -m 0700 "$USER_DIR/home" "$USER_DIR/xdg" "$USER_DIR/runtime"
	mkdir -m 0755 "$USER_DIR/work"
	chown "$ROOTLESS_USER:" "$USER_DIR/home" "$USER_DIR/xdg" "$USER_DIR/runtime" "$USER_DIR/work"
	USER_XDG=$USER_DIR/xdg
	# The registry where the hook puts it by itself for rootless podman:
	# $XDG_RUNTIME_DIR/shield (the descriptors carry no SHIELD_RUNTIME_DIR).
	USER_RUNTIME_DIR=$USER_XDG/shield
	# USER_WORK: a dir the user owns, for bundles and scratch files.
	USER_WORK=$USER_DIR/work
	USER_ROOTFS=$USER_DIR/rootfs
	make_rootfs "$USER_ROOTFS" "$ROOTLESS_USER"
	USER_HOOKS=$USER_DIR/hooks
	write_hooks_dir "$USER_HOOKS" -
	# Root-only: the tun node and the slirp host's resolv.conf.
	local priv=$TMP/user-mounts
	mkdir -m 0700 "$priv"
	mknod -m 0666 "$priv/tun" c 10 200 || die "mknod tun failed"
	_USER_TUN=$priv/tun
	printf 'nameserver %s\n' "$DNS_UPSTREAM" >"$priv/resolv.conf"
	chmod 0644 "$priv/resolv.conf"
	_USER_RESOLV=$priv/resolv.conf
	SLIRP_NS=$CLIENT_NS
	_PODMAN_USER_READY=1
}

# as_user_in_world CMD...: CMD as the test user, in the slirp host
# namespace with the private mounts described at the top.
as_user_in_world() {
	# shellcheck disable=SC2016 # expanded by that sh
	nsenter --net="/run/netns/$SLIRP_NS" unshare --mount --propagation private -- \
		/bin/sh -c 'mount --make-rshared / && mount --bind "$1" /dev/net/tun &&
			mount --bind "$2" /etc/resolv.conf && shift 2 && exec "$@"' \
		sh "$_USER_TUN" "$_USER_RESOLV" \
		runuser -u "$ROOTLESS_USER" -- env -i HOME="$USER_DIR/home" \
		XDG_RUNTIME_DIR="$USER_XDG" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 CONTAINERS_CONF="$USER_HOOKS.containers.conf" "$@"
}

# podman_user ARGS...: rootless podman as the test user (hooks: the
# containers.conf of USER_HOOKS; per call: USER_HOOKS=DIR podman_user ...).
podman_user() {
	as_user_in_world podman --cgroup-manager cgroupfs --events-backend file \
		--runtime runc "$@"
}

# podman_user_wrapper: the same for the test user's podman (run it inside
# as_user_in_world). Prints its path.
podman_user_wrapper() {
	local w=$USER_DIR/podman-wrapper
	if [[ ! -x $w ]]; then
		printf '#!/bin/sh\nexec podman --cgroup-manager cgroupfs --events-backend file --runtime runc "$@"\n' >"$w"
		chmod 0755 "$w"
	fi
	printf '%s\n' "$w"
}

# ------------------------------------------------------------ mode-generic

# pod ARGS...: podman in the mode PODMAN_MODE (root or user).
pod() {
	case $PODMAN_MODE in
	root) podman_root "$@" ;;
	user) podman_user "$@" ;;
	*) die "PODMAN_MODE must be root or user, not '$PODMAN_MODE'" ;;
	esac
}

# The rootfs for the current mode.
mode_rootfs() {
	if [[ $PODMAN_MODE == user ]]; then printf '%s\n' "$USER_ROOTFS"; else printf '%s\n' "$ROOTFS"; fi
}

# container_pid NAME: the pid of the container's init, as the host sees it
# (rootless podman shares the host's pid namespace).
container_pid() {
	local pid
	pid=$(pod inspect --format '{{.State.Pid}}' "$1" 2>/dev/null) || return 1
	[[ $pid =~ ^[1-9][0-9]*$ ]] || return 1
	printf '%s\n' "$pid"
}

# container_id NAME
container_id() {
	pod inspect --format '{{.Id}}' "$1"
}

# container_state NAME: created, running, exited, ... (empty if none)
container_state() {
	pod inspect --format '{{.State.Status}}' "$1" 2>/dev/null || true
}

# ctr_netns NAME: the network namespace file of a running container
# (/proc/PID/ns/net), for lib.sh's in_ns and the helpers built on it.
ctr_netns() {
	local pid
	pid=$(container_pid "$1") || {
		say "    no running container $1"
		return 1
	}
	printf '/proc/%s/ns/net\n' "$pid"
}

# in_container_netns NAME CMD...: a host command inside the container's
# network namespace (as host root; also works for rootless containers).
in_container_netns() {
	local name=$1 ns
	shift
	ns=$(ctr_netns "$name") || return 1
	in_ns "$ns" "$@"
}

# is_zombie PID: the process is dead but not reaped yet (or gone).
is_zombie() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	[[ ${stat%% *} == Z ]]
}

# comm_is PID NAME: process PID runs, with that command name.
comm_is() { [[ $(cat "/proc/$1/comm" 2>/dev/null) == "$2" ]]; }

_is_running() { [[ $(container_state "$1") == running ]]; }

# wait_running NAME: up to 10 s.
wait_running() {
	wait_for 10 _is_running "$1" || {
		say "    container $1 is not running (state: $(container_state "$1"))"
		return 1
	}
}

# ctr_exec NAME CMD...: run CMD in the container (podman exec), output in
# OUT (stdout and stderr), status in RC.
ctr_exec() {
	RC=0
	OUT=$(pod exec "$@" 2>&1) || RC=$?
}

# ms_now: monotonic-enough wall clock in milliseconds.
ms_now() {
	local s=${EPOCHREALTIME/./}
	printf '%s\n' "$((s / 1000))"
}

# ------------------------------------------------------------ shield

# shield_cli ARGS...: the shield CLI as the owner of the mode's bundles:
# root with CONFIG_DIR/STATE_ROOT (lib.sh's `shield`), or the test user with
# USER_CONFIG_DIR/USER_STATE_ROOT.
shield_cli() {
	if [[ $PODMAN_MODE == user ]]; then
		runuser -u "$ROOTLESS_USER" -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			HOME="$USER_DIR/home" XDG_RUNTIME_DIR="$USER_XDG" \
			SHIELD_DATA_DIR="$SHIELD_DATA_DIR" SHIELD_RUNTIME_DIR="$USER_RUNTIME_DIR" \
			"$SHIELD_BIN" --config-dir "$USER_CONFIG_DIR" --state-root "$USER_STATE_ROOT" "$@"
	else
		SHIELD_RUNTIME_DIR=$ROOT_RUNTIME_DIR shield "$@"
	fi
}

# shield_op ARGS...: the shield CLI as an operator of the mode's containers
# runs it, finding them through the test's podman ($SHIELD_PODMAN: its
# storage and containers.conf): root with CONFIG_DIR/STATE_ROOT and the
# rootful registry, or the test user in the world (podman unshare runs
# there) with USER_CONFIG_DIR/USER_STATE_ROOT and the registry in its
# XDG_RUNTIME_DIR (USER_RUNTIME_DIR).
shield_op() {
	if [[ $PODMAN_MODE == user ]]; then
		as_user_in_world env SHIELD_PODMAN="$(podman_user_wrapper)" SHIELD_DATA_DIR="$SHIELD_DATA_DIR" \
			"$SHIELD_BIN" --config-dir "$USER_CONFIG_DIR" --state-root "$USER_STATE_ROOT" "$@"
	else
		CONTAINERS_CONF=$ROOT_HOOKS.containers.conf SHIELD_PODMAN=$(podman_root_wrapper) shield_cli "$@"
	fi
}

# shield_setup: config dirs and state roots for both modes (after
# podman_setup, and podman_user_setup for rootless tests).
shield_setup() {
	init_shield_dirs
	mkdir -m 0700 "$STATE_ROOT/containers"
	if ((_PODMAN_USER_READY)); then
		USER_CONFIG_DIR=$USER_DIR/config
		USER_STATE_ROOT=$USER_DIR/state
		mkdir -m 0700 "$USER_CONFIG_DIR" "$USER_CONFIG_DIR/profiles" "$USER_STATE_ROOT" \
			"$USER_STATE_ROOT/containers"
		chown -R "$ROOTLESS_USER:" "$USER_CONFIG_DIR" "$USER_STATE_ROOT"
	fi
}

# mode_profile NAME LINE...: a user profile for the current mode.
mode_profile() {
	local name=$1 f
	shift
	if [[ $PODMAN_MODE == user ]]; then
		f=$USER_CONFIG_DIR/profiles/$name.txt
		printf '%s\n' "$@" >"$f"
		chown "$ROOTLESS_USER:" "$f"
	else
		write_profile "$name" "$@"
	fi
}

# The upstream DNS a shielded container's dnsmasq forwards to: the test DNS
# directly (rootful), slirp4netns's forwarder (rootless).
mode_upstream() {
	if [[ $PODMAN_MODE == user ]]; then printf '10.0.2.3\n'; else printf '%s\n' "$DNS_UPSTREAM"; fi
}
mode_state_root() {
	if [[ $PODMAN_MODE == user ]]; then printf '%s\n' "$USER_STATE_ROOT"; else printf '%s\n' "$STATE_ROOT"; fi
}
mode_runtime_dir() {
	if [[ $PODMAN_MODE == user ]]; then printf '%s\n' "$USER_RUNTIME_DIR"; else printf '%s\n' "$ROOT_RUNTIME_DIR"; fi
}

# Whether `shield prepare` prints podman arguments as JSON (--json).
_prepare_has_json() {
	"$SHIELD_BIN" prepare --help 2>&1 | grep -q -- '--json'
}

# shield_prepare NAME PROFILES [PREPARE-OPTIONS...]: a network for a new
# container NAME (mode_network), its bundle in the mode's state root
# (BUNDLE), and the podman arguments that run it under shield, --name and
# --network included (SHIELD_ARGS): from `shield prepare --json` when the
# CLI has it, else the documented ones built here. Rootless, the upstream
# DNS is left to shield (slirp4netns's 10.0.2.3); rootful it is the test DNS.
shield_prepare() {
	local name=$1 profiles=$2 json up=()
	shift 2
	mode_network "$name"
	BUNDLE=$(mode_state_root)/containers/$name
	[[ $PODMAN_MODE == user ]] || up=(--upstream-dns "$DNS_UPSTREAM")
	if _prepare_has_json; then
		json=$(shield_cli prepare "$name" --state-dir "$BUNDLE" --network "$NETWORK" "${up[@]}" \
			--profiles "$profiles" --json --quiet "$@") || die "shield prepare $name failed"
		mapfile -t SHIELD_ARGS < <(jq -r '.args[]' <<<"$json") ||
			die "cannot read podman arguments from: $json"
		((${#SHIELD_ARGS[@]} > 0)) || die "shield prepare --json gave no podman arguments: $json"
	else
		[[ $PODMAN_MODE == root ]] || up=(--upstream-dns 10.0.2.3)
		shield_cli prepare "$name" --state-dir "$BUNDLE" "${up[@]}" \
			--profiles "$profiles" "$@" >/dev/null || die "shield prepare $name failed"
		SHIELD_ARGS=(--name "$name" --network "$NETWORK"
			--annotation "terok.shield.profiles=$profiles"
			--annotation "terok.shield.state_dir=$BUNDLE"
			--annotation "terok.shield.version=1"
			--annotation "terok.shield.name=$name"
			--cap-drop NET_ADMIN --cap-drop NET_RAW
			-v "$BUNDLE/resolv.conf:/etc/resolv.conf:ro")
	fi
}

# mode_network NAME: the --network value for a new container of the mode
# (NETWORK): a fresh namespace of the world (rootful; CTR_NS names it) or
# slirp4netns.
mode_network() {
	if [[ $PODMAN_MODE == user ]]; then
		CTR_NS=
		NETWORK=slirp4netns
	else
		client_ns_new "n-$1"
		CTR_NS=$NS_NAME
		NETWORK=ns:$(netns_path "$CTR_NS")
	fi
}

# shield_run [PODMAN-RUN-OPTIONS...]: start the container of the last
# shield_prepare detached, sleeping (so the test can exec into it);
# podman's status in RC, its output in OUT.
shield_run() {
	RC=0
	OUT=$(pod run -d "${SHIELD_ARGS[@]}" "$@" --rootfs "$(mode_rootfs)" /bin/sleep 3600 2>&1) || RC=$?
}

# ------------------------------------------------------------ probes

# Run in the container: connect to $1:$2, print "rc=N ms=N out=TEXT"
# (elapsed time from /proc/uptime, 10 ms resolution).
# shellcheck disable=SC2016 # expanded by the container's shell
readonly _PROBE_CONNECT='
a=$(cut -d" " -f1 /proc/uptime)
out=$(nc -w 5 "$1" "$2" </dev/null 2>&1)
rc=$?
b=$(cut -d" " -f1 /proc/uptime)
echo "rc=$rc ms=$(awk -v a="$a" -v b="$b" "BEGIN { printf \"%d\", (b - a) * 1000 }") out=$(echo $out)"
'

# ctr_connect NAME HOST [PORT]: connect from inside the container; sets
# PROBE_RC, PROBE_MS, PROBE_OUT.
ctr_connect() {
	local line
	line=$(pod exec "$1" /bin/sh -c "$_PROBE_CONNECT" sh "$2" "${3:-$TCP_PORT}" 2>&1) || true
	if [[ $line =~ ^rc=([0-9]+)\ ms=([0-9]+)\ out=(.*)$ ]]; then
		PROBE_RC=${BASH_REMATCH[1]}
		PROBE_MS=${BASH_REMATCH[2]}
		PROBE_OUT=${BASH_REMATCH[3]}
	else
		PROBE_RC=255
		PROBE_MS=0
		PROBE_OUT="podman exec failed: $line"
	fi
}

# expect_fetch NAME HOST WANT_ADDR...: the container reaches HOST (an
# address or a name) and gets the token of one of WANT_ADDR.
expect_fetch() {
	local name=$1 host=$2 a
	shift 2
	ctr_connect "$name" "$host"
	for a in "$@"; do
		[[ $PROBE_OUT == *"$(_token "$a")"* ]] && return 0
	done
	say "    expected $host to answer from $name (as $*); got rc=$PROBE_RC: ${PROBE_OUT:-<nothing>}"
	return 1
}

# Refusal latency. The firewall rejects TCP with a reset and everything else
# with icmpx admin-prohibited. busybox nc in the container connects
# blocking: with an ICMP error alone the kernel would get it while connect()
# holds the socket, keep it as a soft error, and nc would learn it only on
# the first SYN retransmission, ~1 s later (TCP_TIMEOUT_INIT); a reset fails
# the connect at once ("Connection refused"), as it does socat's non-blocking
# connect in the container's netns. A refusal takes a few ms (measured in the
# container, podman exec not included), so 500 ms leaves room for a loaded
# machine; a drop would take nc's whole -w timeout (5 s).
readonly REFUSE_MS=500
readonly REFUSE_MS_IN_CTR=500

# expect_blocked NAME HOST: the connection from the container fails fast
# (under REFUSE_MS_IN_CTR) as a refusal (or, for a name, as not resolved),
# no token, no timeout; for an address also from the container's netns
# with a non-blocking connect under REFUSE_MS.
expect_blocked() {
	local name=$1 host=$2
	ctr_connect "$name" "$host"
	if [[ $PROBE_OUT == *shield-token* || $PROBE_RC == 0 ]]; then
		say "    expected $host to be refused from $name; it answered: $PROBE_OUT"
		return 1
	fi
	if [[ $PROBE_OUT == *"podman exec failed"* ]]; then
		say "    $PROBE_OUT"
		return 1
	fi
	if ((PROBE_MS >= REFUSE_MS_IN_CTR)); then
		say "    $host from $name: refused only after $PROBE_MS ms (want < $REFUSE_MS_IN_CTR): $PROBE_OUT"
		return 1
	fi
	if [[ ! $PROBE_OUT =~ (No route to host|Permission denied|Connection refused|bad address|unreachable) ]]; then
		say "    $host from $name: failed, but not as a refusal: $PROBE_OUT"
		return 1
	fi
	say "    ($host from $name: refused in $PROBE_MS ms: $PROBE_OUT)"
	if [[ $host =~ ^[0-9.]+$|: ]]; then
		expect_refused_netns "$name" "$host" || return 1
	fi
	return 0
}

# expect_refused_netns NAME ADDR [PORT]: a non-blocking connect (socat) from
# the container's network namespace is rejected in under REFUSE_MS.
expect_refused_netns() {
	local name=$1 addr=$2 port=${3:-$TCP_PORT} out rc=0 t0 ms pid
	pid=$(container_pid "$name") || {
		say "    no running container $name"
		return 1
	}
	t0=$(ms_now)
	out=$(nsenter -t "$pid" -n socat -T5 - "TCP:$(_sock_addr "$addr"):$port,connect-timeout=5" \
		</dev/null 2>&1) || rc=$?
	ms=$(($(ms_now) - t0))
	if [[ $rc == 0 || $out == *shield-token* ]]; then
		say "    expected $addr:$port to be refused in the netns of $name; it connected: $out"
		return 1
	fi
	if [[ ! $out =~ (Connection refused|No route to host|Permission denied|prohibited) ]]; then
		say "    $addr:$port in the netns of $name: not a firewall reject: $out"
		return 1
	fi
	if ((ms >= REFUSE_MS)); then
		say "    $addr:$port in the netns of $name: rejected only after $ms ms (want < $REFUSE_MS)"
		return 1
	fi
	say "    ($addr in the netns of $name: rejected in $ms ms)"
}

# ctr_lookup NAME DNSNAME: nslookup in the container through its resolver
# (/etc/resolv.conf); output in OUT.
ctr_lookup() {
	OUT=$(pod exec "$1" nslookup -type=a "$2" 2>&1) || true
}

expect_resolves() { # expect_resolves NAME DNSNAME ADDR
	ctr_lookup "$1" "$2"
	[[ $OUT =~ Address:[[:space:]]*$3($|[[:space:]]) ]] && return 0
	say "    expected $2 to resolve to $3 in $1; got: $OUT"
	return 1
}

expect_nxdomain() { # expect_nxdomain NAME DNSNAME
	ctr_lookup "$1" "$2"
	[[ $OUT == *NXDOMAIN* ]] && return 0
	say "    expected NXDOMAIN for $2 in $1; got: $OUT"
	return 1
}

# expect_table_is_preview NAME [MODE]: `nft list table inet terok_shield`
# in the container's netns is byte-identical to `shield preview` of BUNDLE.
expect_table_is_preview() {
	local name=$1 mode=${2:-up} f=$TMP/table.$1
	shield_cli preview --state-dir "$BUNDLE" --mode "$mode" >"$f.want" 2>&1 || {
		say "    shield preview failed: $(cat "$f.want")"
		return 1
	}
	in_container_netns "$name" nft list table inet terok_shield >"$f.got" 2>&1 || {
		say "    nft list table failed in $name: $(cat "$f.got")"
		return 1
	}
	assert_same_file "shield preview and the live table of $name" "$f.want" "$f.got"
}

# bundle_dnsmasq_pid DIR: the pid in DIR/dnsmasq.pid (empty if none).
bundle_dnsmasq_pid() {
	local p
	p=$(cat "$1/dnsmasq.pid" 2>/dev/null) || true
	[[ $p =~ ^[0-9]+$ ]] && printf '%s\n' "$p"
	return 0
}

# expect_dnsmasq_up NAME: the bundle's dnsmasq runs in the container's netns.
expect_dnsmasq_up() {
	local name=$1 pid cpid
	pid=$(bundle_dnsmasq_pid "$BUNDLE")
	if [[ -z $pid ]]; then
		say "    no pid in $BUNDLE/dnsmasq.pid"
		return 1
	fi
	if [[ $(cat "/proc/$pid/comm" 2>/dev/null) != dnsmasq ]]; then
		say "    pid $pid from dnsmasq.pid is not a running dnsmasq"
		return 1
	fi
	cpid=$(container_pid "$name") || {
		say "    container $name is not running"
		return 1
	}
	if [[ $(readlink "/proc/$pid/ns/net") != "$(readlink "/proc/$cpid/ns/net")" ]]; then
		say "    dnsmasq $pid does not run in the network namespace of $name"
		return 1
	fi
}

# dnsmasq_gone PID: no dnsmasq with that pid any more.
dnsmasq_gone() {
	[[ -z $1 ]] && return 0
	[[ $(cat "/proc/$1/comm" 2>/dev/null) != dnsmasq ]] && return 0
	say "    dnsmasq $1 still runs"
	return 1
}

# Registry entry of container ID in the mode's runtime dir.
registry_entry() { printf '%s/containers/%s.json\n' "$(mode_runtime_dir)" "$1"; }

expect_registered() {
	[[ -f $(registry_entry "$1") ]] && return 0
	say "    no registry entry $(registry_entry "$1")"
	return 1
}
expect_unregistered() {
	[[ ! -e $(registry_entry "$1") ]] && return 0
	say "    registry entry $(registry_entry "$1") is still there"
	return 1
}

# ns_empty NS: no process runs in the namespace.
ns_empty() {
	local pids
	pids=$(ip netns pids "$1" 2>/dev/null) || true
	[[ -z $pids ]] && return 0
	say "    processes left in $1: $(for p in $pids; do printf '%s(%s) ' "$p" "$(cat "/proc/$p/comm" 2>/dev/null)"; done)"
	return 1
}

# ------------------------------------------------------------ cleanup

# Pids of every process in user namespace NSID (a "user:[N]" link).
_userns_pids() {
	local p
	for p in /proc/[0-9]*; do
		[[ $(readlink "$p/ns/user" 2>/dev/null) == "$1" ]] && printf '%s\n' "${p#/proc/}"
	done
	return 0
}

# Every process that belongs to the test user: its own (by uid) and every
# process in the user namespaces those live in (containers, dnsmasq under
# a subordinate uid).
_rootless_pids() {
	local pids p ns nss=()
	pids=$(ps -o pid= -u "$ROOTLESS_UID" 2>/dev/null | tr -d ' ') || true
	for p in $pids; do
		ns=$(readlink "/proc/$p/ns/user" 2>/dev/null) || continue
		[[ $ns == "$(readlink /proc/1/ns/user)" ]] && continue
		[[ " ${nss[*]} " == *" $ns "* ]] || nss+=("$ns")
	done
	{
		# shellcheck disable=SC2086 # one pid per word
		printf '%s\n' $pids
		for ns in "${nss[@]}"; do _userns_pids "$ns"; done
	} | sort -u | grep . || true
}

_podman_cleanup() {
	local rc=$? pids m
	set +e
	if ((_PODMAN_ROOT_READY)); then
		podman_root rm --all --force --time 0 >/dev/null 2>&1
	fi
	if ((_PODMAN_USER_READY)); then
		podman_user rm --all --force --time 0 >/dev/null 2>&1
	fi
	# Whatever still runs in the test's namespaces (containers podman could
	# not remove, dnsmasq, servers) goes now, before the wait below: a
	# container dying later would make its conmon start `podman container
	# cleanup`, which mounts the storage again after the unmounting below.
	local sig
	for sig in TERM KILL; do
		for m in "${_NETNS_CREATED[@]}"; do
			pids=$(ip netns pids "$m" 2>/dev/null)
			# shellcheck disable=SC2086 # one pid per word
			[[ -z $pids ]] || kill -"$sig" $pids 2>/dev/null
		done
		[[ $sig == KILL ]] || sleep 0.2
	done
	# Then podman's own processes (conmon, cleanup commands: everything
	# naming the test's dirs) finish, or are killed.
	if [[ -n ${TMP:-} ]]; then
		wait_for 10 _no_pids_naming "$TMP/" 2>/dev/null || {
			pids=$(_pids_naming "$TMP/")
			say "cleanup: killing what still runs with $TMP: $pids"
			# shellcheck disable=SC2086
			kill -KILL $pids 2>/dev/null
		}
	fi
	if ((_ROOTLESS_USER_CREATED)); then
		for _ in 1 2 3; do
			pids=$(_rootless_pids)
			[[ -z $pids ]] && break
			# shellcheck disable=SC2086 # one pid per word
			kill $pids 2>/dev/null
			sleep 0.3
		done
		pids=$(_rootless_pids)
		# shellcheck disable=SC2086
		[[ -z $pids ]] || kill -KILL $pids 2>/dev/null
		sleep 0.1
		# userdel refuses while the user has processes; an unreaped zombie
		# counts, so retry, then force (everything of it was killed above).
		if ! userdel "$ROOTLESS_USER" >/dev/null 2>&1; then
			sleep 1
			userdel "$ROOTLESS_USER" >/dev/null 2>&1 ||
				userdel --force "$ROOTLESS_USER" ||
				say "cleanup: userdel $ROOTLESS_USER failed"
		fi
	fi
	# Nothing may stay mounted under TMP before lib.sh removes it.
	if [[ -n ${TMP:-} ]]; then
		while read -r m; do
			umount -l "$m" 2>/dev/null
		done < <(awk -v t="$TMP/" 'index($2, t) == 1 { print $2 }' /proc/self/mounts | sort -r)
	fi
	_podman_ret "$rc"
	_cleanup
}
_podman_ret() { return "$1"; }

# Live (not zombie) processes whose command line contains STRING.
_pids_naming() {
	local p
	for p in $(pgrep -f -- "$1"); do
		is_zombie "$p" || printf '%s\n' "$p"
	done
}
_no_pids_naming() { [[ -z $(_pids_naming "$1") ]]; }
trap _podman_cleanup EXIT
