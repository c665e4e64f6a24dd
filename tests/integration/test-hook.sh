#!/usr/bin/env bash
# shield-hook and shield attach/detach against the real kernel and real
# dnsmasq, without podman: the hook is fed the OCI state podman would give
# it, for a "container" that is a process living in the world's client
# namespace. Covers both stages, the registry, the audit log, the dnsmasq
# identity checks (a PID file naming another process is never signalled),
# and the fail-closed matrix: every bad input exits non-zero with one line
# on stderr and leaves no dnsmasq and no registry entry behind.
# shellcheck disable=SC2016 # single-quoted scripts and jq filters expand later, on purpose
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

require_root
require_cmd ip nft socat dig dnsmasq jq
require_shield
SHIELD_HOOK_BIN=${SHIELD_HOOK_BIN:-$(dirname "$SHIELD_BIN")/shield-hook}
[[ -x $SHIELD_HOOK_BIN ]] || skip_or_fail "shield-hook not found at SHIELD_HOOK_BIN=$SHIELD_HOOK_BIN"
init_shield_dirs
topo_setup

C=$CLIENT_NS
BUNDLE=$STATE_ROOT/containers/web
export SHIELD_RUNTIME_DIR=$TMP/run
REG=$SHIELD_RUNTIME_DIR/containers
ID=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
unset SHIELD_DNSMASQ

write_profile hooktest "$DNS_NAME_ALLOWED" "$PUB6_ALLOWED"
shield prepare web --profiles hooktest --upstream-dns "$DNS_UPSTREAM" >/dev/null ||
	die "shield prepare failed"

# The "container": a process in the client namespace, as podman's init would be.
start_bg ip netns exec "$C" sleep 600
CPID=$LAST_PID
want_ns=$(readlink "$(netns_path "$C")" 2>/dev/null || stat -L -c 'net:[%i]' "$(netns_path "$C")")
for _ in $(seq 50); do
	[[ $(readlink "/proc/$CPID/ns/net") == "$want_ns" ]] && break
	sleep 0.05
done
[[ $(readlink "/proc/$CPID/ns/net") == "$want_ns" ]] || die "the container process never entered $C"

# state_json [PID] [STATE_DIR] [VERSION]: the OCI state podman passes.
state_json() {
	local pid=${1:-$CPID} dir=${2:-$BUNDLE} version=${3:-1}
	jq -cn --arg id "$ID" --argjson pid "$pid" --arg dir "$dir" --arg v "$version" \
		'{ociVersion: "1.0.2-dev", id: $id, status: "creating", pid: $pid,
		  bundle: "/var/lib/containers/storage/overlay-containers/x/userdata",
		  annotations: {"io.container.manager": "libpod", "terok.shield.profiles": "hooktest",
		                "terok.shield.state_dir": $dir, "terok.shield.version": $v,
		                "terok.shield.name": "web"}}'
}

# hook STAGE [JSON]: run shield-hook with JSON (default: state_json) on stdin.
hook() {
	local stage=$1 json
	if [[ $# -ge 2 ]]; then json=$2; else json=$(state_json); fi
	run_capture "$SHIELD_HOOK_BIN" "$stage" < <(printf '%s' "$json")
}

# Our dnsmasq processes (any bundle of this test).
our_dnsmasq() { pgrep -f -- "--conf-file=$STATE_ROOT/" || true; }

hook_ok() {
	[[ $RC == 0 && -z $ERR ]] && return 0
	say "    hook exit $RC, stderr: $ERR"
	return 1
}

# hook_failed PATTERN: exit 1, exactly one stderr line naming the problem,
# no dnsmasq of ours running, no registry entry.
hook_failed() {
	local ok=0
	[[ $RC == 1 ]] || { say "    exit $RC, want 1"; ok=1; }
	[[ $(printf '%s\n' "$ERR" | wc -l) == 1 && $ERR == shield-hook:* ]] ||
		{ say "    stderr is not one 'shield-hook:' line: $ERR"; ok=1; }
	[[ $ERR =~ $1 ]] || { say "    stderr lacks /$1/: $ERR"; ok=1; }
	[[ -z $(our_dnsmasq) ]] || { say "    dnsmasq left running: $(our_dnsmasq)"; ok=1; }
	[[ ! -e $REG/$ID.json ]] || { say "    registry entry left behind"; ok=1; }
	return "$ok"
}

# ------------------------------------------------------------ createRuntime
hook createRuntime
check "createRuntime exits 0 and prints nothing" hook_ok

DPID=$(cat "$BUNDLE/dnsmasq.pid" 2>/dev/null || true)
dnsmasq_is_ours() {
	local ok=0
	[[ -n $DPID && -d /proc/$DPID ]] || { say "    no live dnsmasq in dnsmasq.pid ($DPID)"; return 1; }
	[[ $(readlink "/proc/$DPID/ns/net") == "$want_ns" ]] || { say "    dnsmasq is not in $C"; ok=1; }
	tr '\0' ' ' <"/proc/$DPID/cmdline" | grep -q -- "--conf-file=$BUNDLE/dnsmasq.conf" ||
		{ say "    cmdline: $(tr '\0' ' ' <"/proc/$DPID/cmdline")"; ok=1; }
	# It dropped root but kept the one capability it needs for the sets.
	[[ $(ps -o user= -p "$DPID") != root ]] || { say "    dnsmasq still runs as root"; ok=1; }
	grep -q '^CapEff:.*0000000000001000$' "/proc/$DPID/status" ||
		{ say "    capabilities: $(grep ^Cap "/proc/$DPID/status" | tr '\n' ' ')"; ok=1; }
	return "$ok"
}
check "dnsmasq runs in the container's netns, with our --conf-file, unprivileged but CAP_NET_ADMIN" \
	dnsmasq_is_ours

shield preview --state-dir "$BUNDLE" >"$TMP/preview.txt"
nft_list_table "$C" >"$TMP/live.txt" 2>&1 || true
check "the kernel's table is exactly 'shield preview'" \
	assert_same_file "ruleset" "$TMP/preview.txt" "$TMP/live.txt"

registry_ok() {
	local e=$REG/$ID.json
	[[ -f $e ]] || { say "    no $e"; return 1; }
	[[ $(stat -c %a "$e") == 600 ]] || { say "    mode $(stat -c %a "$e")"; return 1; }
	jq -e --arg id "$ID" --arg dir "$BUNDLE" --argjson pid "$CPID" --argjson d "$DPID" \
		--arg ns "/proc/$CPID/ns/net" --argjson ino "$(stat -L -c %i "/proc/$CPID/ns/net")" \
		'.version == 1 and .id == $id and .name == "web" and .state_dir == $dir and
		 .pid == $pid and .dnsmasq_pid == $d and .netns == $ns and .netns_ino == $ino and
		 .source == "podman"' "$e" >/dev/null || { say "    entry: $(cat "$e")"; return 1; }
}
check "registry entry names the container, its netns and its dnsmasq" registry_ok

audit_has() { # audit_has ACTION COUNT
	local n
	n=$(jq -r --arg a "$1" 'select(.action == $a) | .container' "$BUNDLE/audit.jsonl" 2>/dev/null |
		grep -cx web || true)
	[[ $n == "$2" ]] || { say "    audit.jsonl has $n '$1' entries for web, want $2: $(cat "$BUNDLE/audit.jsonl")"; return 1; }
}
check "audit.jsonl has one setup entry" audit_has setup 1
check "resolv.conf (bind-mounted into the container) is readable by any user" \
	bash -c '[[ $(stat -c %a "$1") == 644 && $(cat "$1") == "nameserver 127.0.0.1" ]]' _ "$BUNDLE/resolv.conf"
check "container.id holds the short id" grep -qx "${ID:0:12}" "$BUNDLE/container.id"

check "the allowed name resolves through the container's dnsmasq" \
	dns_expect_answer "$C" 127.0.0.1 "$DNS_NAME_ALLOWED" A "$PUB_ALLOWED"
check "... and its address is reachable" expect_connect "$C" "$PUB_ALLOWED" "$TCP_PORT"
check "... over IPv6 too (static entry)" expect_connect "$C" "$PUB6_ALLOWED" "$TCP_PORT"
# (dig's output taken whole: dig writes it in several writes, and `dig | grep -q`
# under pipefail fails when grep exits before dig's last write.)
nxdomain() {
	local out
	out=$(ip netns exec "$C" dig +tries=1 +time=2 @127.0.0.1 "$1" A) || return 1
	grep -q 'status: NXDOMAIN' <<<"$out"
}
check "a name no allowlist covers is NXDOMAIN (strict policy)" nxdomain "$DNS_NAME_OTHER"
check "a non-allowlisted address is refused" expect_refused "$C" "$PUB_OTHER" "$TCP_PORT"

# --------------------------------- the bundle as it is now, at every start
# Live changes made while the container was stopped must hold at the next
# start: the hook regenerates dnsmasq.conf and the ruleset from the files.
hook poststop
printf '%s\n' "$PUB_OTHER" >"$BUNDLE/live.allowed"
printf '%s\n' "$DNS_NAME_OTHER" >"$BUNDLE/live.domains"
printf '%s\n' "$PUB6_ALLOWED" >"$BUNDLE/deny.list"
hook createRuntime
check "createRuntime after live edits exits 0" hook_ok
check "a live.allowed address is reachable" expect_connect "$C" "$PUB_OTHER" "$TCP_PORT"
check "a live.domains name resolves" dns_expect_answer "$C" 127.0.0.1 "$DNS_NAME_OTHER" A "$PUB_OTHER"
check "a deny.list address is refused although a profile allows it" \
	expect_refused "$C" "$PUB6_ALLOWED" "$TCP_PORT"
: >"$BUNDLE/live.allowed"
: >"$BUNDLE/live.domains"
: >"$BUNDLE/deny.list"

# A second createRuntime (the hook fired again) replaces, never duplicates.
hook createRuntime
one_dnsmasq() {
	local n
	n=$(our_dnsmasq | wc -l)
	[[ $n == 1 ]] || { say "    $n dnsmasq processes for the bundle: $(our_dnsmasq | tr '\n' ' ')"; return 1; }
}
check "createRuntime again: exit 0" hook_ok
check "... still exactly one dnsmasq" one_dnsmasq
nft_list_table "$C" >"$TMP/live.txt" 2>&1 || true
check "... and one table, exactly the preview" assert_same_file "ruleset" "$TMP/preview.txt" "$TMP/live.txt"

# ----------------------------------------------------------------- poststop
DPID=$(cat "$BUNDLE/dnsmasq.pid")
hook poststop
check "poststop exits 0" hook_ok
# Gone, or a zombie: dnsmasq daemonized, so its reaper is init, not us.
gone() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null || true)
	[[ -z $st || $st == Z* ]] || { say "    pid $1 still running ($st)"; return 1; }
}
check "poststop stopped the dnsmasq" gone "$DPID"
check "poststop removed the registry entry" test ! -e "$REG/$ID.json"
check "poststop removed the PID file" test ! -e "$BUNDLE/dnsmasq.pid"
check "poststop kept the bundle" test -f "$BUNDLE/profile.domains"
check "audit.jsonl has teardown entries" audit_has teardown 2
hook poststop
check "poststop again: exit 0 (harmless)" hook_ok
check "... and audits nothing new" audit_has teardown 2

# A PID file naming another process is never signalled.
start_bg sleep 600
OTHER=$LAST_PID
echo "$OTHER" >"$BUNDLE/dnsmasq.pid"
hook poststop
check "poststop with a PID file naming an unrelated process: exit 0" hook_ok
check "... that process is alive" kill -0 "$OTHER"
check "... and the stale PID file is gone" test ! -e "$BUNDLE/dnsmasq.pid"
# podman runs poststop hooks with an empty environment (no SHIELD_RUNTIME_DIR,
# no XDG_RUNTIME_DIR): the bundle says where the start put the registry entry.
hook createRuntime
DPID=$(cat "$BUNDLE/dnsmasq.pid")
check "createRuntime records the registry location in the bundle" \
	grep -qx "$SHIELD_RUNTIME_DIR" "$BUNDLE/registry.dir"
run_capture env -i "$SHIELD_HOOK_BIN" poststop < <(state_json)
check "poststop with an empty environment: exit 0" hook_ok
check "... stopped the dnsmasq" gone "$DPID"
check "... and removed the registry entry" test ! -e "$REG/$ID.json"

# A forged PID file while our dnsmasq runs: the unrelated process is left
# alone, and ours is still stopped, found through the registry entry.
hook createRuntime
DPID=$(cat "$BUNDLE/dnsmasq.pid")
echo "$OTHER" >"$BUNDLE/dnsmasq.pid"
hook poststop
check "poststop with a forged PID file while dnsmasq runs: exit 0" hook_ok
check "... the unrelated process is alive" kill -0 "$OTHER"
check "... our dnsmasq is stopped all the same (pid from the registry)" gone "$DPID"
check "... and the registry entry is gone" test ! -e "$REG/$ID.json"
# Not even another dnsmasq: the upstream test server is one, with another config.
echo "$DNS_PID" >"$BUNDLE/dnsmasq.pid"
hook poststop
check "poststop with a PID file naming another dnsmasq leaves it running" kill -0 "$DNS_PID"

# ------------------------------------------------------- the environment
# dnsmasq gets a pinned PATH and nothing of the caller's environment.
mkdir -p "$TMP/wrap"
cat >"$TMP/wrap/dnsmasq" <<EOF
#!/bin/sh
[ "\$1" = --version ] || env >"$TMP/dnsmasq-env.txt"
exec /usr/sbin/dnsmasq "\$@"
EOF
chmod 0755 "$TMP/wrap/dnsmasq"
SHIELD_DNSMASQ=$TMP/wrap/dnsmasq LD_LIBRARY_PATH=/nonexistent SHIELD_TEST_SECRET=1 hook createRuntime
check "createRuntime through a wrapper dnsmasq: exit 0" hook_ok
env_clean() {
	[[ -f $TMP/dnsmasq-env.txt ]] || { say "    the wrapper never ran"; return 1; }
	if grep -Eq '^(LD_|SHIELD_)' "$TMP/dnsmasq-env.txt" ||
		! grep -qx 'PATH=/usr/sbin:/usr/bin:/sbin:/bin' "$TMP/dnsmasq-env.txt"; then
		say "    dnsmasq's environment: $(tr '\n' ' ' <"$TMP/dnsmasq-env.txt")"
		return 1
	fi
}
check "dnsmasq runs with a pinned PATH and no LD_*/caller variables" env_clean
hook poststop

# --------------------------------------------------------- fail-closed matrix
# Each case: exit 1, one line on stderr naming the problem, nothing running.
rm -f "$BUNDLE/hook-error.log"
hook createRuntime '{"id": "x", "pid": 1'
check "malformed JSON is refused" hook_failed 'not valid JSON'
hook createRuntime "$(state_json | jq -c 'del(.pid)')"
check "missing pid is refused" hook_failed 'no container pid'
hook createRuntime '["not", "an", "object"]'
check "a JSON array is refused" hook_failed 'not a JSON object'
hook createRuntime ''
check "empty stdin is refused" hook_failed 'empty input'
hook createRuntime "$(state_json | jq -c 'del(.annotations["terok.shield.state_dir"])')"
check "a missing state_dir annotation is refused" hook_failed 'terok.shield.state_dir is missing'
hook createRuntime "$(state_json "$CPID" "$BUNDLE" 7)"
check "a version mismatch is refused" hook_failed 'terok.shield.version is "7"'
check "... and recorded in hook-error.log" grep -q 'createRuntime: annotation terok.shield.version' \
	"$BUNDLE/hook-error.log"
hook createRuntime "$(state_json | jq -c 'del(.annotations["terok.shield.version"])')"
check "a missing version annotation is refused" hook_failed 'terok.shield.version is missing'
hook createRuntime "$(state_json 999999999)"
check "a pid without a process is refused" hook_failed '/proc/999999999/ns/net'
hook prestart
check "an unsupported stage is refused" hook_failed 'unsupported hook stage "prestart"'

ln -s "$BUNDLE" "$TMP/link"
hook createRuntime "$(state_json "$CPID" "$TMP/link")"
check "a state_dir that is a symlink is refused" hook_failed 'symlink'
hook createRuntime "$(state_json "$CPID" /etc)"
check "a state_dir under /etc is refused" hook_failed 'under the system directory /etc'
ln -s /etc/ssl "$TMP/etc-link"
hook createRuntime "$(state_json "$CPID" "$TMP/etc-link/private")"
check "a state_dir resolving under /etc is refused" hook_failed 'resolves to "/etc/ssl/private"'
hook createRuntime "$(state_json "$CPID" "$TMP/missing")"
check "a missing state_dir is refused" hook_failed 'No such file or directory'
hook createRuntime "$(state_json "$CPID" relative/dir)"
check "a relative state_dir is refused" hook_failed 'must be absolute'
chmod 0770 "$BUNDLE"
hook createRuntime
check "a group-writable state_dir is refused" hook_failed 'writable'
chmod 0700 "$BUNDLE"

fake_dnsmasq() { # fake_dnsmasq NAME BODY: a script standing in for dnsmasq
	mkdir -p "$TMP/$1"
	printf '#!/bin/sh\n%s\n' "$2" >"$TMP/$1/dnsmasq"
	chmod 0755 "$TMP/$1/dnsmasq"
	printf '%s\n' "$TMP/$1/dnsmasq"
}
NONFT=$(fake_dnsmasq nonft 'echo "Dnsmasq version 2.90  Compile time options: IPv6 GNU-getopt no-nftset"')
SHIELD_DNSMASQ=$NONFT hook createRuntime
check "dnsmasq without nftset support is refused" hook_failed 'without nftset support'
EXITS=$(fake_dnsmasq exits '[ "$1" = --version ] && { echo "Dnsmasq version 2.90 nftset"; exit 0; }
echo "dnsmasq: cannot open log" >&2; exit 5')
SHIELD_DNSMASQ=$EXITS hook createRuntime
check "dnsmasq that exits at once is refused, with its message" \
	hook_failed 'dnsmasq failed to start \(exit status 5\): "dnsmasq: cannot open log"'
NOPID=$(fake_dnsmasq nopid '[ "$1" = --version ] && echo "Dnsmasq version 2.90 nftset"; exit 0')
SHIELD_DNSMASQ=$NOPID hook createRuntime
check "dnsmasq that writes no PID file is refused" hook_failed 'without writing dnsmasq.pid'
HANGS=$(fake_dnsmasq hangs '[ "$1" = --version ] && { echo "Dnsmasq version 2.90 nftset"; exit 0; }
exec sleep 60.'"$$")
SHIELD_DNSMASQ=$HANGS hook createRuntime
check "dnsmasq that never finishes starting is killed and refused" hook_failed 'did not finish within'
# The sleep's argument carries this test's PID, so another test's sleep never matches.
check "... and its process is gone" bash -c "! pgrep -f '^sleep 60\\.$$\$' >/dev/null"
# A passed nftset check is remembered per binary (path, inode, size, times):
# the same path holding another binary is checked again.
SWAP=$(fake_dnsmasq swap 'exec /usr/sbin/dnsmasq "$@"')
SHIELD_DNSMASQ=$SWAP hook createRuntime
check "a wrapper dnsmasq with nftset starts" hook_ok
check "... and its passed check is remembered next to the registry" \
	grep -q "^$SWAP dev=" "$SHIELD_RUNTIME_DIR/dnsmasq-nftset.checked"
hook poststop
printf '#!/bin/sh\necho "Dnsmasq version 2.90  Compile time options: IPv6 no-nftset"\n' >"$SWAP.new"
chmod 0755 "$SWAP.new"
mv "$SWAP.new" "$SWAP"
SHIELD_DNSMASQ=$SWAP hook createRuntime
check "the same path now holding a dnsmasq without nftset is checked again and refused" \
	hook_failed 'without nftset support'
SHIELD_DNSMASQ=relative/dnsmasq hook createRuntime
check "a relative SHIELD_DNSMASQ is refused" hook_failed 'SHIELD_DNSMASQ must be an absolute path'
# Port 53 taken in the container's netns: the real dnsmasq cannot bind.
start_bg ip netns exec "$C" socat TCP4-LISTEN:53,bind=127.0.0.1,fork /dev/null
PORT_PID=$LAST_PID
# listening53: socat holds 127.0.0.1:53 in the container's namespace.
listening53() { [[ -n $(ip netns exec "$C" ss -Hltn 'sport = :53' 2>/dev/null) ]]; }
wait_for 10 listening53 || die "socat did not start listening on port 53"
hook createRuntime
check "real dnsmasq failing to bind is refused with its message" hook_failed 'Address already in use'
kill "$PORT_PID"
wait "$PORT_PID" 2>/dev/null || true
# Ten of the failures above came after the bundle was trusted (version on).
check "hook-error.log is 0600 with one line per failure in a trusted bundle" \
	bash -c '[[ $(stat -c %a "$1") == 600 && $(wc -l <"$1") == 10 ]]' _ "$BUNDLE/hook-error.log"

# A failure at start removes an entry an earlier start of the same id left.
hook createRuntime
check "createRuntime works again after the failures" hook_ok
SHIELD_DNSMASQ=$EXITS hook createRuntime
check "a failed restart leaves no registry entry and no dnsmasq" hook_failed 'failed to start'

# ---------------------------------------------------------- the bundle lock
# shield allow/deny/up/down hold shield.lock across their file and kernel
# steps; both stages wait for it, so a change made while a container starts
# or stops is either read by the hook or applied after it. The hook takes
# ~20 ms: still running and not done after a second means it waited.
state_json >"$TMP/state.json"
# hook_in_bg STAGE: run the hook in the background on the saved state (BG_PID, HOOK_RC_FILE).
hook_in_bg() {
	HOOK_RC_FILE=$TMP/hook-$1.rc
	rm -f "$HOOK_RC_FILE"
	start_bg bash -c '"$1" "$2" <"$3" >/dev/null 2>&1; echo $? >"$4"' _ \
		"$SHIELD_HOOK_BIN" "$1" "$TMP/state.json" "$HOOK_RC_FILE"
	BG_PID=$LAST_PID
}
# release_lock: end the holder; the waiting hook then finishes with exit 0.
release_lock() {
	release_bundle_lock
	[[ $(cat "$HOOK_RC_FILE" 2>/dev/null) == 0 ]] && return 0
	say "    hook exit $(cat "$HOOK_RC_FILE" 2>/dev/null), hook-error.log: $(tail -1 "$BUNDLE/hook-error.log")"
	return 1
}
hold_bundle_lock "$BUNDLE"
hook_in_bg createRuntime
sleep 1
check "createRuntime waits while shield.lock is held: no registry entry, no dnsmasq yet" \
	bash -c '[[ ! -e $1 && -z $2 && -z $(cat "$3" 2>/dev/null) ]]' _ "$REG/$ID.json" "$(our_dnsmasq)" "$HOOK_RC_FILE"
check "... and starts once it is released (exit 0)" release_lock
check "... registry entry and dnsmasq are there" \
	bash -c '[[ -e $1 && -n $2 ]]' _ "$REG/$ID.json" "$(our_dnsmasq)"
hold_bundle_lock "$BUNDLE"
hook_in_bg poststop
sleep 1
check "poststop waits while shield.lock is held: dnsmasq still runs, entry still there" \
	bash -c '[[ -e $1 && -n $2 && -z $(cat "$3" 2>/dev/null) ]]' _ "$REG/$ID.json" "$(our_dnsmasq)" "$HOOK_RC_FILE"
check "... and stops it once the lock is released (exit 0)" release_lock
check "... no registry entry and no dnsmasq left" \
	bash -c '[[ ! -e $1 && -z $2 ]]' _ "$REG/$ID.json" "$(our_dnsmasq)"

# --------------------------------------------------- attach and detach
# The same two stages for a namespace podman does not manage.
run_capture shield attach --netns "$(netns_path "$C")" web
check "attach exits 0 and says what it did" \
	bash -c '[[ $1 == 0 && $2 == "attached web to "*"verified; dnsmasq pid "* ]]' _ "$RC" "$OUT"
check "attach: the allowed name resolves and connects" \
	dns_expect_answer "$C" 127.0.0.1 "$DNS_NAME_ALLOWED" A "$PUB_ALLOWED"
check "attach: registry entry with source attach" \
	jq -e --arg ns "$(netns_path "$C")" '.source == "attach" and .pid == 0 and .netns == $ns' "$REG/web.json"
APID=$(cat "$BUNDLE/dnsmasq.pid")
run_capture shield detach web
check "detach stops dnsmasq and removes the entry" \
	bash -c '[[ $1 == 0 && $2 == "detached web: dnsmasq pid $3 stopped, registry entry removed" ]]' \
	_ "$RC" "$OUT" "$APID"
check "detach keeps the ruleset (the namespace stays closed)" has_table "$C"
run_capture shield detach web --netns "$(netns_path "$C")"
check "detach --netns also deletes the table" \
	bash -c '[[ $1 == 0 && $2 == *"shield table deleted"* ]]' _ "$RC" "$OUT"
check "... and the table is gone" bash -c '! ip netns exec "$1" nft list table inet terok_shield 2>/dev/null' _ "$C"
run_capture shield attach --netns /nonexistent web
check "attach to a missing namespace fails with a clear error" \
	bash -c '[[ $1 == 1 && $2 == "shield: attach: cannot open network namespace /nonexistent"* ]]' _ "$RC" "$ERR"
check "... and leaves nothing running" test -z "$(our_dnsmasq)"

finish
