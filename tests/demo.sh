#!/usr/bin/env bash
# shield demo: a real podman container under shield, in a throwaway network
# world of its own, watched by nftsetd.
#
#   tests/demo.sh                 (as root)
#
# On Debian 12, as root: installs what is missing (.ci/install-deps), builds
# shield, shield-hook and nftsetd (preset dev), then
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
#    shield-hook) and `shield check`, starts nftsetd, the watcher, on the
#    demo's own registry ($DEMO/run: SHIELD_RUNTIME_DIR, also in the
#    environment of the demo's hook descriptors) with `shield watch --json`
#    subscribed to its events, then `shield prepare` (the podman arguments)
#    and `shield run`, which starts the container in the client namespace
#    (--network ns:/run/netns/...) with the hook committing and verifying
#    the firewall in its namespace, starting its dnsmasq and registering it
#    for nftsetd; every setting at its default (mode up, strict DNS);
#  - shows the container fetching the allowed name, failing to resolve the
#    blocked one, refused a bare address, the live nftables table and the
#    registry entry; then the watcher's side: the events `shield watch
#    --json` received (the container attached, the blocked query), `shield
#    drift demo` (the domain with its addresses, the blocked queries, every
#    check ok, exit 0), and drift provoked from the host (`nft add element`
#    into allow_v4: the container now reaches the address, nftsetd reports
#    drift.unexplained naming nft, `shield drift` exits 3, and is clean
#    again once the element is deleted);
#  - once the container is gone, the events nftsetd filed in the bundle's
#    events.jsonl and the audit log; nftsetd stops on SIGTERM.
#
# Everything is removed at the end, also on Ctrl-C or failure: nftsetd and
# the subscriber, the container, the namespaces and the demo's temp dir
# (the registry with it); /run/shield is not touched. SHIELD_BIN=path
# (shield-hook next to it, nftsetd in ../nftsetd/ or NFTSETD_BIN) skips the
# build.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ $(id -u) != 0 ]]; then
	echo "demo: needs root (network namespaces, nftables, rootful podman): run it as root" >&2
	exit 1
fi

"$ROOT/.ci/install-deps"
if [[ -z ${SHIELD_BIN:-} ]]; then
	echo "demo: building shield, shield-hook and nftsetd (cmake --preset dev) ..."
	(cd "$ROOT" && cmake --preset dev >/dev/null &&
		cmake --build --preset dev -j "$(nproc)" --target shield-cli shield-hook nftsetd >/dev/null)
	SHIELD_BIN=$ROOT/build/dev/helper/shield
fi
NFTSETD_BIN=${NFTSETD_BIN:-$(dirname "$SHIELD_BIN")/../nftsetd/nftsetd}
export SHIELD_BIN SHIELD_SOURCE_DIR=$ROOT SHIELD_DATA_DIR=$ROOT

# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
# shellcheck source=tests/e2e/lib-podman.sh
source "$ROOT/tests/e2e/lib-podman.sh"
require_podman
require_hook
require_cmd ss
[[ -x $NFTSETD_BIN ]] || die "nftsetd not found at NFTSETD_BIN=$NFTSETD_BIN (build it first)"

# The subscriber and nftsetd stop first, then the container goes (its
# poststop hook stops its dnsmasq), then lib-podman.sh's and lib.sh's
# cleanup: mounts, processes, namespaces, TMP (the registry with it).
WATCH_PID=
NFTSETD_PID=
_demo_cleanup() {
	local rc=$? p
	set +e
	# A Ctrl-C now (the demo ending as it is pressed) must not cut the cleanup short.
	trap '' INT TERM
	for p in $WATCH_PID $NFTSETD_PID; do
		kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	[[ -z ${CONTAINERS_STORAGE_CONF:-} ]] || podman rm --all --force --time 0 >/dev/null 2>&1
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

# ------------------------------------------------------------------ nftsetd

heading "nftsetd, the watcher, and a subscriber: shield watch --json"
# The demo's own registry instead of /run/shield: shield and nftsetd find
# it by SHIELD_RUNTIME_DIR, the hook in its descriptors' environment (podman
# runs hooks with that environment only).
export SHIELD_RUNTIME_DIR=$TMP/run
mkdir -m 0700 "$SHIELD_RUNTIME_DIR"
REGISTRY_DIR=$SHIELD_RUNTIME_DIR/containers
SOCK=$SHIELD_RUNTIME_DIR/nftsetd.sock
HOOK_ENV=("SHIELD_RUNTIME_DIR=$SHIELD_RUNTIME_DIR" "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
for f in "$HOOKS"/shield-*.json; do
	jq '.hook.env = $ARGS.positional' "$f" --args "${HOOK_ENV[@]}" >"$f.new"
	mv "$f.new" "$f"
done
echo "  the demo's registry: \$DEMO/run; its hook descriptors get \"env\": [\"SHIELD_RUNTIME_DIR=\$DEMO/run\", \"PATH=...\"]"
shown export SHIELD_RUNTIME_DIR="$SHIELD_RUNTIME_DIR"
shown nftsetd "&"
start_bg "$NFTSETD_BIN" 2>"$TMP/nftsetd.log"
NFTSETD_PID=$LAST_PID
_nftsetd_up() { [[ -S $SOCK ]] && shield drift --json 2>/dev/null | jq -e '.source == "nftsetd"' >/dev/null; }
wait_for 5 _nftsetd_up || {
	indent <"$TMP/nftsetd.log"
	die "nftsetd did not come up"
}
STREAM=$TMP/watch.jsonl
shown shield watch --json ">" "$STREAM" "&"
start_bg "$SHIELD_BIN" --config-dir "$CONFIG_DIR" --state-root "$STATE_ROOT" watch --json \
	>"$STREAM" 2>"$TMP/watch.err"
WATCH_PID=$LAST_PID
# Subscribed once its connection to the socket is there.
_subscribed() { ss -xpn 2>/dev/null | grep -q "pid=$WATCH_PID,"; }
wait_for 5 _subscribed || die "shield watch did not connect to nftsetd: $(cat "$TMP/watch.err")"
echo "  nftsetd (pid $NFTSETD_PID) follows the registry \$DEMO/run/containers with inotify"
echo "  and serves \$DEMO/run/nftsetd.sock; nothing is shielded yet."
echo "  shield watch (pid $WATCH_PID) prints each event nftsetd sends as a JSON line."

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
# stream_has JQ-CONDITION: an event the subscriber printed matches (the first one in EV).
stream_has() {
	EV=$(jq -c -R "fromjson? | select(type == \"object\") | select($1)" "$STREAM" 2>/dev/null | head -n 1)
	[[ -n $EV ]]
}
if wait_for 5 stream_has '.kind == "watch.attached" and .container == "demo"'; then
	good "nftsetd attached to it as the hook registered it (watch.attached)"
else
	bad "nftsetd did not attach to the container"
fi
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

heading "The registry entry: what the watcher (nftsetd) follows"
REG=$REGISTRY_DIR/$CID.json
shown cat "$REG"
if [[ -f $REG ]]; then
	indent <"$REG"
else
	bad "no registry entry at $(demo_path "$REG")"
fi

# ------------------------------------------------------------------ watcher

heading "What shield watch --json received meanwhile"
if wait_for 5 stream_has ".kind == \"blocked_query\" and .domain == \"$DNS_NAME_OTHER\""; then
	indent <"$STREAM"
	good "the blocked query for $DNS_NAME_OTHER, read from dnsmasq's query log as it was written"
else
	indent <"$STREAM"
	bad "no blocked_query event for $DNS_NAME_OTHER"
fi
echo "  One event per name and second: the report below counts every blocked query"
echo "  (nslookup's and wget's). The fetched name raised no event: the allowlist"
echo "  explains its answers. The bare address never reached DNS: the firewall"
echo "  alone refused it."

# drift_report: show and run `shield drift demo`; exit status in DRIFT_RC.
drift_report() {
	shown shield drift demo
	DRIFT_RC=0
	shield drift demo >"$TMP/drift.out" 2>&1 || DRIFT_RC=$?
	sed "s|$TMP|\$DEMO|g" "$TMP/drift.out" | indent
	echo "  (exit $DRIFT_RC)"
}
heading "shield drift demo: the watcher's report"
drift_report
if [[ $DRIFT_RC == 0 ]] && grep -q "^nftsetd report" "$TMP/drift.out"; then
	good "from nftsetd: the domain with the addresses dnsmasq added, the blocked queries, every check ok"
else
	bad "expected nftsetd's report, clean (exit 0)"
fi

heading "Drift: the host adds $PUB_OTHER to allow_v4 behind shield's back"
shown nsenter -t "$PID" -n nft add element inet terok_shield allow_v4 "{ $PUB_OTHER }"
nsenter -t "$PID" -n nft add element inet terok_shield allow_v4 "{ $PUB_OTHER }"
ctr timeout 5 wget -q -O - "http://$PUB_OTHER/"
if [[ $CTR_RC == 0 && $CTR_OUT == "hello from other"* ]]; then
	good "the container reaches it now, though nothing in its allowlist says it may"
else
	bad "expected the page of $PUB_OTHER through the added element"
fi
if wait_for 5 stream_has ".kind == \"drift.unexplained\" and .ip == \"$PUB_OTHER\""; then
	indent <<<"$EV"
	good "shield watch: drift.unexplained, naming the process that wrote it: $(jq -r '"\(.comm)[\(.pid)]"' <<<"$EV")"
else
	bad "no drift.unexplained event for $PUB_OTHER"
fi
drift_report
if [[ $DRIFT_RC == 3 ]] && grep -q "OPEN  drift.unexplained" "$TMP/drift.out"; then
	good "shield drift: the open check and its event, exit 3"
else
	bad "expected shield drift to report the open drift.unexplained with exit 3"
fi
shown nsenter -t "$PID" -n nft delete element inet terok_shield allow_v4 "{ $PUB_OTHER }"
nsenter -t "$PID" -n nft delete element inet terok_shield allow_v4 "{ $PUB_OTHER }"
_drift_clean() { shield drift demo >/dev/null 2>&1; }
if wait_for 5 _drift_clean; then
	good "the element is gone: shield drift demo exits 0 again (the event stays counted)"
else
	bad "shield drift demo still reports drift after the element was deleted"
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
if wait_for 5 stream_has '.kind == "watch.detached" and .container == "demo"'; then
	good "nftsetd let it go (watch.detached)"
else
	bad "nftsetd did not detach from the container"
fi

heading "The events nftsetd filed: \$DEMO/state/containers/demo/events.jsonl"
indent <"$BUNDLE/events.jsonl"

heading "The audit log: \$DEMO/state/containers/demo/audit.jsonl"
indent <"$BUNDLE/audit.jsonl"

heading "nftsetd and the subscriber stop"
shown kill -TERM "$WATCH_PID" "$NFTSETD_PID"
kill -TERM "$WATCH_PID"
rc=0
wait "$WATCH_PID" || rc=$?
kill -TERM "$NFTSETD_PID"
nrc=0
wait "$NFTSETD_PID" || nrc=$?
if [[ $rc == 0 && $nrc == 0 ]]; then
	good "both exit 0 on SIGTERM"
else
	bad "shield watch exited $rc, nftsetd $nrc"
	indent <"$TMP/nftsetd.log"
fi

echo
printf '\033[1m%s\033[0m in %d s after the build; the world, podman storage and files are removed now.\n' \
	"$([[ ${FAILED:-0} == 0 ]] && echo Done || echo "Done, with ${FAILED} unexpected results")" \
	"$((($(ms_now) - T0 + 500) / 1000))"
[[ ${FAILED:-0} == 0 ]]
