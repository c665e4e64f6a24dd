#!/usr/bin/env bash
# shield demo: a real podman container under shield, in a throwaway network
# world of its own.
#
#   sudo tests/demo.sh
#
# On Debian 12, as root: installs what is missing (.ci/install-deps), builds
# shield and shield-hook (preset dev), then
#
#  - builds the network world of tests/integration/lib.sh: a "client"
#    namespace (the container's network) whose only link leads to a "hosts"
#    namespace holding a test DNS server and two web hosts,
#    allowed.shield.test and other.shield.test. No traffic leaves the
#    machine: the client namespace has no route anywhere else;
#  - sets podman up privately: a containers.conf (runc, no default ulimits,
#    hooks_dir = the demo's hooks dir) and a storage.conf in the demo's temp
#    dir, named by CONTAINERS_CONF and CONTAINERS_STORAGE_CONF
#    (/etc/containers is never touched), and a busybox root filesystem from
#    busybox-static (--rootfs; nothing is pulled);
#  - runs `shield setup --dir` (the hook descriptors, running this build's
#    shield-hook), `shield check`, `shield prepare` (the podman arguments)
#    and `shield run`, which starts the container in the client namespace
#    (--network ns:/run/netns/...) with the hook committing and verifying
#    the firewall in its namespace and starting its dnsmasq;
#  - shows the container fetching the allowed name, failing to resolve the
#    blocked one, refused a bare address, the live nftables table, the
#    registry entry and, once the container is gone, the audit log.
#
# Everything is removed at the end, also on Ctrl-C or failure. The one
# thing outside the demo's temp dir is the hook's registry entry in
# /run/shield/containers (removed by the poststop hook; the directories too
# if the demo made them). SHIELD_BIN=path (shield-hook next to it) skips the
# build.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ $(id -u) != 0 ]]; then
	echo "demo: needs root (network namespaces, nftables, rootful podman): sudo $0" >&2
	exit 1
fi

"$ROOT/.ci/install-deps"
if [[ -z ${SHIELD_BIN:-} ]]; then
	echo "demo: building shield and shield-hook (cmake --preset dev) ..."
	(cd "$ROOT" && cmake --preset dev >/dev/null &&
		cmake --build --preset dev -j "$(nproc)" --target shield-cli shield-hook >/dev/null)
	SHIELD_BIN=$ROOT/build/dev/helper/shield
fi
export SHIELD_BIN SHIELD_SOURCE_DIR=$ROOT SHIELD_DATA_DIR=$ROOT

# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
# shellcheck source=tests/e2e/lib-podman.sh
source "$ROOT/tests/e2e/lib-podman.sh"
require_podman
require_hook

# The hook's registry, for root (and those of its directories the demo makes).
REGISTRY_DIR=/run/shield/containers
REGISTRY_NEW=()
for d in /run/shield/containers /run/shield; do
	[[ -d $d ]] || REGISTRY_NEW+=("$d")
done

# The container goes first (its poststop hook stops its dnsmasq), then
# lib-podman.sh's and lib.sh's cleanup: mounts, processes, namespaces, TMP.
_demo_cleanup() {
	local rc=$? d
	set +e
	[[ -z ${CONTAINERS_STORAGE_CONF:-} ]] || podman rm --all --force --time 0 >/dev/null 2>&1
	for d in "${REGISTRY_NEW[@]}"; do rmdir "$d" 2>/dev/null; done
	_demo_ret "$rc"
	_podman_cleanup
}
_demo_ret() { return "$1"; }
trap _demo_cleanup EXIT

T0=$(ms_now)
STEP=0
heading() {
	STEP=$((STEP + 1))
	printf '\n\033[1m%d. %s\033[0m\n' "$STEP" "$*"
}
good() { printf '  \033[32m%s\033[0m\n' "$*"; }
bad() {
	printf '  \033[31m%s\033[0m\n' "$*"
	FAILED=$((${FAILED:-0} + 1))
}
indent() { sed 's/^/    /'; }
# shown CMD...: print a command line as typed, the demo's dir as $DEMO.
shown() {
	local line
	line=$(printf '%s ' "$@")
	line=${line//$TMP/\$DEMO}
	line=${line//$SHIELD_BIN/shield}
	printf '  \033[36m$ %s\033[0m\n' "${line% }"
}
# demo_path: a path with the demo's dir written $DEMO.
demo_path() { printf '%s\n' "${1//$TMP/\$DEMO}"; }

# ------------------------------------------------------------------ world

heading "A throwaway world: network namespaces, a DNS server and two web hosts"
init_shield_dirs
topo_setup
# busybox httpd on port 80 of each web address; each page names the host
# and the address it was fetched from.
for host in "allowed $PUB_ALLOWED" "allowed [$PUB6_ALLOWED]" "other $PUB_OTHER"; do
	read -r name addr <<<"$host"
	www=$TMP/www-${addr//[^0-9a-f]/_}
	mkdir -p "$www"
	echo "hello from $name.shield.test at $addr" >"$www/index.html"
	start_bg ip netns exec "$HOSTS_NS" busybox httpd -f -p "$addr:80" -h "$www"
done
for addr in "$PUB_ALLOWED" "[$PUB6_ALLOWED]" "$PUB_OTHER"; do
	wait_for 5 in_ns "$HOSTS_NS" busybox wget -q -O /dev/null "http://$addr/" ||
		die "the web host $addr did not come up"
done
cat <<EOF
  $CLIENT_NS  the container's network: $CLIENT_V4, $CLIENT_V6, no default route
  $HOSTS_NS  its only neighbour:
    $DNS_UPSTREAM                DNS server, knows the two names below and nothing else
    $PUB_ALLOWED, $PUB6_ALLOWED  http://$DNS_NAME_ALLOWED/  (the allowlist names it)
    $PUB_OTHER                 http://$DNS_NAME_OTHER/    (not allowlisted)
EOF

# ------------------------------------------------------------------ podman

heading "podman, privately: its own configuration, storage and hooks dir"
PODMAN_DIR=$TMP/podman
mkdir -m 0700 "$PODMAN_DIR" "$PODMAN_DIR"/{root,runroot,tmp,net}
ROOTFS=$PODMAN_DIR/rootfs
make_rootfs "$ROOTFS"
# busybox 1.35's `wget -T` crashes, so `timeout` bounds wget instead.
ln -s busybox "$ROOTFS/bin/wget"
ln -s busybox "$ROOTFS/bin/timeout"
HOOKS=$TMP/hooks
cat >"$TMP/containers.conf" <<EOF
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$PODMAN_DIR/tmp"
hooks_dir = ["$HOOKS"]
[network]
network_config_dir = "$PODMAN_DIR/net"
EOF
cat >"$TMP/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$PODMAN_DIR/root"
runroot = "$PODMAN_DIR/runroot"
EOF
export CONTAINERS_CONF=$TMP/containers.conf CONTAINERS_STORAGE_CONF=$TMP/storage.conf
cat <<EOF
  CONTAINERS_CONF=\$DEMO/containers.conf  (runc, no default ulimits, hooks_dir = ["\$DEMO/hooks"])
  CONTAINERS_STORAGE_CONF=\$DEMO/storage.conf
  image: --rootfs \$DEMO/podman/rootfs, a static busybox; nothing is pulled
  \$DEMO=$TMP
  shield = $SHIELD_BIN --config-dir \$DEMO/config --state-root \$DEMO/state
EOF
shown shield setup --dir "$HOOKS"
shield setup --dir "$HOOKS" 2>&1 | sed "s|$TMP|\$DEMO|g" | indent
shown shield check
shield check 2>&1 | indent || bad "shield check failed"

# ------------------------------------------------------------------ prepare

heading "shield prepare: the state bundle and the podman arguments"
write_profile demo "# the demo's allowlist" "$DNS_NAME_ALLOWED"
BUNDLE=$STATE_ROOT/containers/demo
PREP=(demo --profiles demo --network "ns:$(netns_path "$CLIENT_NS")" --upstream-dns "$DNS_UPSTREAM")
echo "  profile 'demo' (\$DEMO/config/profiles/demo.txt): $DNS_NAME_ALLOWED"
shown shield prepare "${PREP[@]}"
args=$(shield prepare "${PREP[@]}" --quiet)
# One option per line, with its value.
sed -e "s|$TMP|\$DEMO|g" -e 's/ --/\n--/g' <<<"$args" | indent
echo "  bundle \$DEMO/state/containers/demo: $(cd "$BUNDLE" && echo *)"

# ------------------------------------------------------------------ run

heading "shield run: podman starts the container, shield-hook shields it"
RUN=(-d --rootfs "$ROOTFS" /bin/sleep 300)
shown shield run "${PREP[@]}" -- "${RUN[@]}"
t=$(ms_now)
if ! out=$(shield run "${PREP[@]}" --quiet -- "${RUN[@]}" 2>&1); then
	bad "podman did not start the container:"
	indent <<<"$out"
	[[ ! -s $BUNDLE/hook-error.log ]] || indent <"$BUNDLE/hook-error.log"
	exit 1
fi
podman_ms=$(($(ms_now) - t))
_demo_running() { [[ $(podman inspect --format '{{.State.Status}}' demo 2>/dev/null) == running ]]; }
wait_for 10 _demo_running || die "the container does not run"
CID=$(podman inspect --format '{{.Id}}' demo)
PID=$(podman inspect --format '{{.State.Pid}}' demo)
DNSMASQ_PID=$(bundle_dnsmasq_pid "$BUNDLE")
printf '  container %.12s running, %d ms after shield run started\n' "$CID" "$podman_ms"
echo "  its dnsmasq: pid $DNSMASQ_PID, in the container's network namespace, forwarding to $DNS_UPSTREAM"
shield preview --state-dir "$BUNDLE" >"$TMP/preview.nft"
nsenter --net="/proc/$PID/ns/net" nft list table inet terok_shield >"$TMP/live.nft"
if cmp -s "$TMP/preview.nft" "$TMP/live.nft"; then
	good "its nftables table is what 'shield preview' prints, byte for byte ($(wc -l <"$TMP/live.nft") lines)"
else
	bad "its nftables table differs from 'shield preview':"
	diff -u "$TMP/preview.nft" "$TMP/live.nft" | indent || true
fi

# ------------------------------------------------------------------ inside

# ctr CMD...: run CMD in the container, show it and its output; status in
# CTR_RC, output in CTR_OUT, elapsed time in CTR_MS.
ctr() {
	local t
	shown podman exec demo "$@"
	t=$(ms_now)
	CTR_RC=0
	CTR_OUT=$(podman exec demo "$@" 2>&1) || CTR_RC=$?
	CTR_MS=$(($(ms_now) - t))
	[[ -z $CTR_OUT ]] || indent <<<"$CTR_OUT"
}

heading "In the container: the allowed name resolves and answers"
ctr nslookup "$DNS_NAME_ALLOWED"
ctr timeout 5 wget -q -O - "http://$DNS_NAME_ALLOWED/"
if [[ $CTR_RC == 0 && $CTR_OUT == "hello from allowed"* ]]; then
	good "fetched: dnsmasq added the A and AAAA answers to allow_v4 and allow_v6 as it answered"
else
	bad "expected the page of $DNS_NAME_ALLOWED"
fi

heading "In the container: the blocked name does not resolve"
ctr nslookup -type=a "$DNS_NAME_OTHER"
ctr timeout 5 wget -q -O - "http://$DNS_NAME_OTHER/"
if [[ $CTR_RC != 0 && $CTR_OUT == *"bad address"* ]]; then
	good "NXDOMAIN from the container's dnsmasq: strict DNS forwards allowlisted names only"
else
	bad "expected NXDOMAIN"
fi

heading "In the container: a bare address that is not allowlisted is refused"
ctr timeout 5 wget -q -O - "http://$PUB_OTHER/"
if [[ $CTR_RC != 0 && $CTR_OUT =~ (Connection refused|No route to host|Permission denied) ]]; then
	good "refused (podman exec and wget took $CTR_MS ms)"
else
	bad "expected a refusal"
fi
# The same connection, non-blocking, from the container's network namespace.
shown nsenter --net=/proc/"$PID"/ns/net socat - "TCP:$PUB_OTHER:80"
t=$(ms_now)
out=$(nsenter --net="/proc/$PID/ns/net" socat -T5 - "TCP:$PUB_OTHER:80,connect-timeout=5" </dev/null 2>&1) || true
ms=$(($(ms_now) - t))
indent <<<"socat: ${out##* E }"
if [[ $out =~ (Connection refused|No route to host|Permission denied) ]]; then
	good "refused in $ms ms"
else
	bad "expected a refusal"
fi
cat <<EOF
  The firewall rejects at once and drops nothing silently: TCP with a
  reset, everything else with icmpx admin-prohibited. The reset matters for
  a blocking connect(), like busybox wget's: an ICMP error alone would reach
  it only at its first SYN retry, ~1 s later (the error arrives while the
  socket is still busy sending, and the kernel keeps it as a soft error);
  a reset fails it at once with "Connection refused".
EOF

# ------------------------------------------------------------------ host side

heading "The firewall: nft list table inet terok_shield in the container's netns"
shown nsenter --net=/proc/"$PID"/ns/net nft list table inet terok_shield
# Abridged: no blank lines; empty sets, the private-range rejects and the
# input chain one line each.
nsenter --net="/proc/$PID/ns/net" nft list table inet terok_shield | awk '
	/^$/ { next }
	/^\tset / { set = $0; body = ""; next }
	set != "" && /^\t}/ {
		if (body ~ /elements/) printf "%s\n%s\t}\n", set, body
		else print set " ... }    (empty)"
		set = ""; next }
	set != "" { body = body $0 "\n"; next }
	/PRIVATE/ { if (!priv++) print "\t\t(10/8, 172.16/12, 192.168/16, 169.254/16, fc00::/7, fe80::/10: reject, PRIVATE)"; next }
	/^\tchain input/ { skip = 1; print "\tchain input { policy drop; lo, established and neighbour discovery accepted }"; next }
	skip && /^\t}/ { skip = 0; next }
	!skip' | indent

heading "The registry entry: what the watcher (nftsetd) will follow"
REG=$REGISTRY_DIR/$CID.json
shown cat "$REG"
if [[ -f $REG ]]; then
	indent <"$REG"
else
	bad "no registry entry at $(demo_path "$REG")"
fi

heading "The container goes: its poststop hook stops dnsmasq and deregisters it"
shown podman rm --force --time 0 demo
podman rm --force --time 0 demo >/dev/null
_demo_gone() { [[ ! -e $REG ]] && { ! comm_is "$DNSMASQ_PID" dnsmasq || is_zombie "$DNSMASQ_PID"; }; }
if wait_for 5 _demo_gone; then
	good "dnsmasq $DNSMASQ_PID has exited and the registry entry is gone"
else
	bad "dnsmasq $DNSMASQ_PID or the registry entry is still there"
fi

heading "The audit log: \$DEMO/state/containers/demo/audit.jsonl"
indent <"$BUNDLE/audit.jsonl"

echo
echo "The watcher's report (nftsetd; shield watch, shield drift) comes with a later version."
printf '\033[1m%s\033[0m in %d s after the build; the world, podman storage and files are removed now.\n' \
	"$([[ ${FAILED:-0} == 0 ]] && echo Done || echo "Done, with ${FAILED} unexpected results")" \
	"$((($(ms_now) - T0 + 500) / 1000))"
[[ ${FAILED:-0} == 0 ]]
