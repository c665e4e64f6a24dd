# shellcheck shell=bash
# shellcheck disable=SC2034 # globals (addresses, dirs, RC/OUT/ERR) are for the tests that source this
# Helpers for shield's end-to-end tests: real podman containers in the
# network world of tests/integration/lib.sh. Source it after lib.sh:
#
#   source "$(dirname "$0")/../integration/lib.sh"
#   source "$(dirname "$0")/lib-podman.sh"
#
# Nothing here touches the machine's podman setup: every podman call gets a
# containers.conf of the test's own (CONTAINERS_CONF), its own storage, run
# and tmp dirs, network config dir and hooks dir, all under the test's TMP.
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

# Containers' scratch names (for `podman run --name`).
readonly CTR_PREFIX=${RUN_PREFIX}ctr

SHIELD_HOOK_BIN=${SHIELD_HOOK_BIN:-$(dirname "$SHIELD_BIN")/shield-hook}
export SHIELD_HOOK_BIN
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
# (e.g. SHIELD_DNSMASQ=/path). podman would pass its own environment if the
# descriptor had none.
write_hooks_dir() {
	local dir=$1 rt=$2 stage env e
	shift 2
	mkdir -p "$dir"
	env=$(_json_str "SHIELD_RUNTIME_DIR=$rt"),$(_json_str "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	for e in "$@"; do
		env+=,$(_json_str "$e")
	done
	for stage in createRuntime poststop; do
		printf '{"version":"1.0.0","hook":{"path":%s,"args":["shield-hook",%s],"env":[%s]},"when":{"annotations":{"^terok\\\\.shield\\\\.profiles$":".*"}},"stages":[%s]}\n' \
			"$(_json_str "$SHIELD_HOOK_BIN")" "$(_json_str "$stage")" "$env" "$(_json_str "$stage")" \
			>"$dir/shield-$stage.json"
	done
	chmod 0755 "$dir"
	chmod 0644 "$dir"/*.json
}

# ------------------------------------------------------------ rootful podman

# podman_setup: the private podman config for rootful runs, the busybox
# rootfs, hooks dir ROOT_HOOKS with SHIELD_RUNTIME_DIR=ROOT_RUNTIME_DIR.
podman_setup() {
	[[ -n ${TMP:-} ]] || init_tmp
	# The rootless user must be able to walk into TMP (to its own subdir).
	chmod 0711 "$TMP"
	PODMAN_DIR=$TMP/podman
	mkdir -m 0700 "$PODMAN_DIR"
	# Readable by the rootless user too (TMP is 0711).
	PODMAN_CONF=$TMP/containers.conf
	cat >"$PODMAN_CONF" <<-'EOF'
		# shield e2e tests: runc (crun refuses the hybrid cgroup setup here),
		# no default ulimits (no CAP_SYS_RESOURCE in the sandbox), cgroupfs,
		# events to a file (no journald).
		[containers]
		default_ulimits = []
		[engine]
		runtime = "runc"
		cgroup_manager = "cgroupfs"
		events_logger = "file"
	EOF
	chmod 0644 "$PODMAN_CONF"
	mkdir -m 0700 "$PODMAN_DIR"/{root,runroot,tmp,net,runc}
	ROOTFS=$PODMAN_DIR/rootfs
	make_rootfs "$ROOTFS"
	ROOT_RUNTIME_DIR=$PODMAN_DIR/runtime
	mkdir -m 0700 "$ROOT_RUNTIME_DIR"
	ROOT_HOOKS=$PODMAN_DIR/hooks
	write_hooks_dir "$ROOT_HOOKS" "$ROOT_RUNTIME_DIR"
	_PODMAN_ROOT_READY=1
}

# podman_root ARGS...: rootful podman with the test's config, storage and
# hooks (ROOT_HOOKS; override per call: ROOT_HOOKS=DIR podman_root ...).
podman_root() {
	CONTAINERS_CONF=$PODMAN_CONF podman \
		--root "$PODMAN_DIR/root" --runroot "$PODMAN_DIR/runroot" \
		--tmpdir "$PODMAN_DIR/tmp" --network-config-dir "$PODMAN_DIR/net" \
		--runtime runc --runtime-flag "root=$PODMAN_DIR/runc" \
		--cgroup-manager cgroupfs --events-backend file \
		--hooks-dir "$ROOT_HOOKS" "$@"
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
	USER_RUNTIME_DIR=$USER_DIR/runtime
	# USER_WORK: a dir the user owns, for bundles and scratch files.
	USER_WORK=$USER_DIR/work
	USER_ROOTFS=$USER_DIR/rootfs
	make_rootfs "$USER_ROOTFS" "$ROOTLESS_USER"
	USER_HOOKS=$USER_DIR/hooks
	write_hooks_dir "$USER_HOOKS" "$USER_RUNTIME_DIR"
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
		LANG=C.UTF-8 CONTAINERS_CONF="$PODMAN_CONF" "$@"
}

# podman_user ARGS...: rootless podman as the test user (hooks USER_HOOKS;
# override per call: USER_HOOKS=DIR podman_user ...).
podman_user() {
	as_user_in_world podman --cgroup-manager cgroupfs --events-backend file \
		--runtime runc --hooks-dir "$USER_HOOKS" "$@"
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

# in_container_netns NAME CMD...: a host command inside the container's
# network namespace (as host root; also works for rootless containers).
in_container_netns() {
	local name=$1 pid
	shift
	pid=$(container_pid "$name") || {
		say "    no running container $name"
		return 1
	}
	nsenter -t "$pid" -n "$@"
}

# wait_for TIMEOUT_S CMD...: poll CMD every 0.1 s until it succeeds.
wait_for() {
	local t=$1 i
	shift
	for ((i = 0; i < t * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

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
		userdel "$ROOTLESS_USER" >/dev/null 2>&1 ||
			say "cleanup: userdel $ROOTLESS_USER failed"
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
trap _podman_cleanup EXIT
