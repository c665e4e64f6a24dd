# shellcheck shell=bash
# shellcheck disable=SC2034 # globals (RC, OUT, ERR, addresses) are for the tests that source this
# Common helpers for shield's integration tests (and tests/demo.sh).
#
# Source it from a `set -euo pipefail` bash script. It builds a private
# network world out of network namespaces: no test traffic ever leaves the
# machine, and everything it creates (namespaces, processes, temp dirs) is
# torn down by an EXIT/INT/TERM trap, also when a test fails half-way.
#
# World (topo_build):
#
#   client netns  ──veth──  hosts netns
#   (shield's ruleset)      one link holding every test host as an address:
#   198.18.1.1/24             198.18.1.2   public, allowlisted
#   10.9.0.100/24             198.18.1.3   public, not allowlisted
#   2001:db8:1::1/64          198.18.1.4   public, allowlisted and in deny.list
#   fd00:1::1/64              198.18.1.53  upstream DNS (dnsmasq)
#                             10.9.0.2     private
#                             10.9.0.1     gateway (loopback-port tests)
#                             2001:db8:1::2 public v6, allowlisted
#                             2001:db8:1::3 public v6, not allowlisted
#                             fd00:1::2    private v6
#
# Every host answers TCP on $TCP_PORT (and the gateway also on $GW_PORT) with
# one line "shield-token ADDR" (':' written as '_'), so a test knows it reached the right host.

# Sourced once: lib-podman.sh sources it too.
[[ -z ${_SHIELD_LIB_SH:-} ]] || return 0
_SHIELD_LIB_SH=1

# Addresses of the world (see above).
readonly PUB_ALLOWED=198.18.1.2
readonly PUB_OTHER=198.18.1.3
readonly PUB_DENIED=198.18.1.4
readonly DNS_UPSTREAM=198.18.1.53
readonly PRIV_HOST=10.9.0.2
readonly GW_HOST=10.9.0.1
readonly PUB6_ALLOWED=2001:db8:1::2
readonly PUB6_OTHER=2001:db8:1::3
readonly PRIV6_HOST=fd00:1::2
readonly CLIENT_V4=198.18.1.1
readonly CLIENT_PRIV_V4=10.9.0.100
readonly CLIENT_V6=2001:db8:1::1
readonly CLIENT_PRIV_V6=fd00:1::1
readonly TCP_PORT=8080
readonly GW_PORT=8081
# Names the upstream DNS server answers (topo_start_dns).
readonly DNS_NAME_ALLOWED=allowed.shield.test # A 198.18.1.2, AAAA 2001:db8:1::2
readonly DNS_NAME_OTHER=other.shield.test     # A 198.18.1.3

# Connect / DNS timeout in seconds. Rejections arrive at once; this only
# bounds a packet that was silently dropped, which the helpers report as a
# failure of its own kind (dropped instead of rejected).
readonly NET_TIMEOUT=3

SHIELD_SOURCE_DIR=${SHIELD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SHIELD_DATA_DIR=${SHIELD_DATA_DIR:-$SHIELD_SOURCE_DIR}
SHIELD_BIN=${SHIELD_BIN:-$SHIELD_SOURCE_DIR/build/dev/helper/shield}
export SHIELD_SOURCE_DIR SHIELD_DATA_DIR SHIELD_BIN

TEST_NAME=$(basename "${0%.sh}")
RUN_PREFIX="shtest-$$-"

# What the cleanup trap tears down.
_NETNS_CREATED=()
_PIDS_STARTED=()
_TMPDIRS=()

# ---------------------------------------------------------------- reporting

say() { printf '%s\n' "$*" >&2; }

# Abort the whole test at once (setup errors, broken preconditions).
die() {
	say "FATAL [$TEST_NAME]: $*"
	exit 1
}

# Missing precondition: a skip (exit 77) normally, a failure in CI.
skip_or_fail() {
	if [[ ${SHIELD_REQUIRE_ALL_TESTS:-0} == 1 ]]; then
		die "$* (SHIELD_REQUIRE_ALL_TESTS=1: a skip is a failure)"
	fi
	say "SKIP [$TEST_NAME]: $*"
	exit 77
}

require_root() {
	[[ $(id -u) == 0 ]] || skip_or_fail "needs root (network namespaces, nftables)"
}

require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip_or_fail "needs command '$c'"
	done
}

# The shield binary under test; a test cannot run without it.
require_shield() {
	[[ -x $SHIELD_BIN ]] || skip_or_fail "shield binary not found at SHIELD_BIN=$SHIELD_BIN (build it first)"
}

# Checks: `check "what" command args...` runs one assertion, prints ok/FAIL
# and counts; a failed check does not stop the test, so one run reports
# every failure. Assertion helpers print why they failed and return 1.
CHECKS_OK=0
CHECKS_FAILED=0
FAILED_NAMES=()

check() {
	local what=$1
	shift
	if "$@"; then
		CHECKS_OK=$((CHECKS_OK + 1))
		say "ok   - $what"
	else
		CHECKS_FAILED=$((CHECKS_FAILED + 1))
		FAILED_NAMES+=("$what")
		say "FAIL - $what"
	fi
}

# Print the summary and exit with the verdict; call it last.
finish() {
	local n
	say ""
	say "$TEST_NAME: $CHECKS_OK checks ok, $CHECKS_FAILED failed"
	for n in "${FAILED_NAMES[@]}"; do
		say "  failed: $n"
	done
	[[ $CHECKS_FAILED == 0 && $CHECKS_OK -gt 0 ]] || exit 1
	exit 0
}

# ------------------------------------------------------------------ cleanup

_cleanup() {
	local rc=$? ns pid pids
	set +e
	# Once here, a Ctrl-C must not leave half the world behind: ignored.
	trap - EXIT
	trap '' INT TERM
	for pid in "${_PIDS_STARTED[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for ns in "${_NETNS_CREATED[@]}"; do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		if [[ -n $pids ]]; then
			# shellcheck disable=SC2086 # one pid per word
			kill $pids 2>/dev/null
			sleep 0.2
			pids=$(ip netns pids "$ns" 2>/dev/null)
			# shellcheck disable=SC2086
			[[ -z $pids ]] || kill -KILL $pids 2>/dev/null
		fi
		ip netns del "$ns" 2>/dev/null
	done
	for pid in "${_PIDS_STARTED[@]}"; do
		wait "$pid" 2>/dev/null
	done
	for d in "${_TMPDIRS[@]}"; do
		rm -rf -- "$d"
	done
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ctest ends a test that passes its TIMEOUT with SIGKILL, which no trap sees:
# its namespaces, dnsmasqs and users would stay behind (and CI's leftovers
# step would report them on top of the timeout). With SHIELD_TEST_TIMEOUT
# (ctest's TIMEOUT, tests/CMakeLists.txt sets it) a watchdog ends the test
# itself at four fifths of it, through the trap above: it terminates the
# test's children (what hangs may be a foreground command, which holds the
# trap back) and the test. Tracked like any background process, so the
# cleanup stops it.
_watchdog() {
	local after=$1 test_pid=$2 s p
	trap 'kill "$s" 2>/dev/null; exit 0' TERM
	sleep "$after" &
	s=$!
	wait "$s" || exit 0
	trap '' TERM
	say "FATAL [$TEST_NAME]: still running after $after s; ending it (and cleaning up) before ctest's timeout kills it"
	kill -TERM "$test_pid" 2>/dev/null
	for p in $(pgrep -P "$test_pid"); do
		[[ $p == "$BASHPID" ]] || kill -TERM "$p" 2>/dev/null
	done
	exit 0
}
if [[ ${SHIELD_TEST_TIMEOUT:-} =~ ^[1-9][0-9]*$ ]]; then
	_watchdog $((SHIELD_TEST_TIMEOUT * 4 / 5)) $$ &
	_PIDS_STARTED+=("$!")
fi

# Set TMP once per test (its own directory for scratch files and logs).
# Callers that need it run `init_tmp` first (not in a subshell).
init_tmp() {
	TMP=$(mktemp -d "/tmp/${RUN_PREFIX}XXXXXX")
	_TMPDIRS+=("$TMP")
}

# wait_for TIMEOUT_S CMD...: poll CMD every 0.1 s until it succeeds (only
# the last attempt's stderr is shown).
wait_for() {
	local t=$1 i
	shift
	for ((i = 0; i < t * 10; i++)); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	"$@"
}

# Start a background command, tracked for cleanup; its pid in LAST_PID.
start_bg() {
	"$@" &
	LAST_PID=$!
	_PIDS_STARTED+=("$LAST_PID")
}

# hold_bundle_lock DIR: one process (LOCK_PID) holds DIR/shield.lock, as a
# shield allow/deny/up/down would, until it is killed (bash locks fd 9 with
# flock(1), then becomes sleep, so killing LOCK_PID releases the lock).
# shellcheck disable=SC2016 # the scripts expand $1 themselves
hold_bundle_lock() {
	start_bg bash -c 'exec 9<>"$1" && flock -x 9 && exec sleep 600' _ "$1/shield.lock"
	LOCK_PID=$LAST_PID
	wait_for 10 bash -c '! flock -n "$1" true' _ "$1/shield.lock" ||
		die "the holder never took $1/shield.lock"
}
# release_bundle_lock: end hold_bundle_lock's holder, then wait for BG_PID
# (the command that waited for the lock, when one was started).
release_bundle_lock() {
	kill "$LOCK_PID"
	wait "$LOCK_PID" 2>/dev/null || true
	[[ -z ${BG_PID:-} ]] || wait "$BG_PID" 2>/dev/null || true
}

# ---------------------------------------------------------- netns and world

# Create a namespace "shtest-PID-SUFFIX" with lo up; prints nothing, sets
# NS_NAME. Not in a subshell, or cleanup will not know it.
new_netns() {
	NS_NAME="${RUN_PREFIX}$1"
	ip netns add "$NS_NAME" || die "ip netns add $NS_NAME failed"
	_NETNS_CREATED+=("$NS_NAME")
	ip -n "$NS_NAME" link set lo up
}

# Path of a namespace for `shield --netns`.
netns_path() { printf '/run/netns/%s\n' "$1"; }

# in_ns NS CMD...: run a command inside a network namespace: NS is a name
# of this test's (ip netns exec) or a namespace file such as a podman
# container's /proc/PID/ns/net (nsenter).
in_ns() {
	local ns=$1
	shift
	if [[ $ns == /* ]]; then
		nsenter --net="$ns" "$@"
	else
		ip netns exec "$ns" "$@"
	fi
}

# Build the client/hosts world; sets CLIENT_NS and HOSTS_NS.
topo_build() {
	new_netns c
	CLIENT_NS=$NS_NAME
	new_netns h
	HOSTS_NS=$NS_NAME
	ip link add c0 netns "$CLIENT_NS" type veth peer name h0 netns "$HOSTS_NS" ||
		die "cannot create the veth pair"
	local a
	for a in "$CLIENT_V4/24" "$CLIENT_PRIV_V4/24"; do
		ip -n "$CLIENT_NS" addr add "$a" dev c0
	done
	for a in "$CLIENT_V6/64" "$CLIENT_PRIV_V6/64"; do
		ip -n "$CLIENT_NS" addr add "$a" dev c0 nodad
	done
	for a in $PUB_ALLOWED $PUB_OTHER $PUB_DENIED $DNS_UPSTREAM; do
		ip -n "$HOSTS_NS" addr add "$a/24" dev h0
	done
	for a in $PRIV_HOST $GW_HOST; do
		ip -n "$HOSTS_NS" addr add "$a/24" dev h0
	done
	for a in $PUB6_ALLOWED $PUB6_OTHER; do
		ip -n "$HOSTS_NS" addr add "$a/64" dev h0 nodad
	done
	ip -n "$HOSTS_NS" addr add "$PRIV6_HOST/64" dev h0 nodad
	ip -n "$CLIENT_NS" link set c0 up
	ip -n "$HOSTS_NS" link set h0 up
}

# The line a host answers with: socat's address syntax splits on ':', so an
# IPv6 address appears with '_' instead.
_token() { printf 'shield-token %s\n' "${1//:/_}"; }

# Bracket an IPv6 address for socat.
_sock_addr() {
	if [[ $1 == *:* ]]; then printf '[%s]\n' "$1"; else printf '%s\n' "$1"; fi
}

# A TCP server on ADDR:PORT in NS answering "shield-token ADDR".
start_tcp_server() {
	local ns=$1 addr=$2 port=$3 listen=TCP4-LISTEN
	[[ $addr == *:* ]] && listen=TCP6-LISTEN
	start_bg ip netns exec "$ns" socat "$listen:$port,bind=$(_sock_addr "$addr"),fork,reuseaddr" \
		"SYSTEM:echo $(_token "$addr")" 2>>"$TMP/servers.log"
	_wait_tcp "$ns" "$addr" "$port" || die "TCP server $addr:$port did not come up"
}

# Wait until ADDR:PORT answers from inside NS itself (up to ~5 s).
_wait_tcp() {
	local ns=$1 addr=$2 port=$3
	for _ in $(seq 50); do
		if ip netns exec "$ns" socat -T1 - "TCP:$(_sock_addr "$addr"):$port,connect-timeout=1" \
			</dev/null 2>/dev/null | grep -q "shield-token"; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# Every test host's TCP server.
topo_start_servers() {
	local a
	for a in $PUB_ALLOWED $PUB_OTHER $PUB_DENIED $PRIV_HOST $GW_HOST $PUB6_ALLOWED $PUB6_OTHER $PRIV6_HOST; do
		start_tcp_server "$HOSTS_NS" "$a" "$TCP_PORT"
	done
	start_tcp_server "$HOSTS_NS" "$GW_HOST" "$GW_PORT"
}

# The upstream DNS server: dnsmasq in the hosts namespace on 198.18.1.53:53,
# answering only its own records (never the machine's resolver). Extra
# dnsmasq options may be given as arguments.
# shellcheck disable=SC2120 # the extra options are optional
topo_start_dns() {
	start_bg ip netns exec "$HOSTS_NS" dnsmasq -k --conf-file=/dev/null \
		--no-resolv --no-hosts --no-poll --bind-interfaces \
		--listen-address="$DNS_UPSTREAM" --port 53 \
		--user=root --group=root \
		--pid-file="$TMP/upstream-dns.pid" \
		--log-facility="$TMP/upstream-dns.log" --log-queries \
		--host-record="$DNS_NAME_ALLOWED,$PUB_ALLOWED,$PUB6_ALLOWED" \
		--address="/$DNS_NAME_OTHER/$PUB_OTHER" \
		"$@"
	DNS_PID=$LAST_PID
	for _ in $(seq 50); do
		if ip netns exec "$HOSTS_NS" dig +short +tries=1 +time=1 "@$DNS_UPSTREAM" \
			"$DNS_NAME_ALLOWED" A 2>/dev/null | grep -qx "$PUB_ALLOWED"; then
			return 0
		fi
		kill -0 "$DNS_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$TMP/upstream-dns.log" >&2 2>/dev/null || true
	die "upstream dnsmasq did not answer"
}

# The whole world: namespaces, servers, DNS.
topo_setup() {
	[[ -n ${TMP:-} ]] || init_tmp
	topo_build
	topo_start_servers
	# shellcheck disable=SC2119 # no extra dnsmasq options here
	topo_start_dns
}

# Forget neighbour entries on both sides, so the next IPv6 exchange needs
# neighbour discovery through the firewall again.
topo_flush_neigh() {
	ip -n "$CLIENT_NS" neigh flush all 2>/dev/null || true
	ip -n "$HOSTS_NS" neigh flush all 2>/dev/null || true
}

# ------------------------------------------------------------ traffic probes

# expect_connect NS ADDR PORT: connects and reads the host's token.
expect_connect() {
	local ns=$1 addr=$2 port=$3 out
	out=$(in_ns "$ns" socat -T"$NET_TIMEOUT" - \
		"TCP:$(_sock_addr "$addr"):$port,connect-timeout=$NET_TIMEOUT" </dev/null 2>&1) || true
	if [[ $out == *"$(_token "$addr")"* ]]; then
		return 0
	fi
	say "    expected $addr:$port to answer from $ns; got: ${out:-<nothing>}"
	return 1
}

# expect_refused NS ADDR PORT: the connection fails at once with an
# ICMP-reject-style error (the firewall rejects), not a timeout (a drop)
# and not a success.
expect_refused() {
	local ns=$1 addr=$2 port=$3 out rc=0
	out=$(in_ns "$ns" socat -T"$NET_TIMEOUT" - \
		"TCP:$(_sock_addr "$addr"):$port,connect-timeout=$NET_TIMEOUT" </dev/null 2>&1) || rc=$?
	if [[ $out == *"shield-token"* ]]; then
		say "    expected $addr:$port to be refused from $ns, but it connected: $out"
		return 1
	fi
	if [[ $rc != 0 && $out =~ (No route to host|Permission denied|Connection refused|prohibited) ]]; then
		return 0
	fi
	if [[ $out == *"timed out"* ]]; then
		say "    expected $addr:$port to be rejected from $ns; it timed out (dropped, not rejected): $out"
	else
		say "    expected $addr:$port to be rejected from $ns; got rc=$rc: ${out:-<nothing>}"
	fi
	return 1
}

# expect_refused_blocking NS ADDR PORT: a blocking connect() without a
# timeout (what busybox nc does) fails with "Connection refused" (the
# firewall's tcp reset) within REFUSE_BLOCKING_MS, measured inside the
# client process. With an ICMP reject alone such a connect() only fails at
# the first SYN retransmission, ~1 s later: the kernel gets the locally
# generated error while connect() holds the socket and keeps it as a soft
# error. A refusal takes a few ms, so the bound is two orders of magnitude
# away from it and does not flake on a loaded machine. The outer timeout
# only ends a connect that was dropped instead (its SYN retries run for
# minutes).
readonly REFUSE_BLOCKING_MS=500
expect_refused_blocking() {
	local ns=$1 addr=$2 port=$3 out rc=0 ms
	out=$(timeout 10 ip netns exec "$ns" python3 -c '
import os, socket, sys, time
addr, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
start = time.monotonic()
try:
    s.connect((addr, port))  # blocking, no timeout
except OSError as e:
    print("%s after %.1f ms" % (os.strerror(e.errno), (time.monotonic() - start) * 1000))
    sys.exit(0)
print("connected")
sys.exit(1)
' "$addr" "$port" 2>&1) || rc=$?
	if [[ $rc == 124 ]]; then
		say "    blocking connect to $addr:$port from $ns hung for 10 s (dropped, not rejected)"
		return 1
	fi
	if [[ $rc != 0 || ! $out =~ ^Connection\ refused\ after\ ([0-9]+)\.[0-9]\ ms$ ]]; then
		say "    expected a blocking connect to $addr:$port from $ns to be refused at once; got: ${out:-<nothing>} (rc=$rc)"
		return 1
	fi
	ms=${BASH_REMATCH[1]}
	if ((ms >= REFUSE_BLOCKING_MS)); then
		say "    blocking connect to $addr:$port from $ns: $out, expected under $REFUSE_BLOCKING_MS ms"
		return 1
	fi
	say "    blocking connect to $addr:$port: $out"
}

# dns_expect_answer NS SERVER NAME TYPE WANT: SERVER answers NAME with WANT
# (over UDP; add "+tcp" as a 6th argument for TCP).
dns_expect_answer() {
	local ns=$1 server=$2 name=$3 type=$4 want=$5 proto=${6:-+notcp} out
	out=$(in_ns "$ns" dig "$proto" +tries=1 +time="$NET_TIMEOUT" +noall +answer +comments \
		"@$server" "$name" "$type" 2>&1) || true
	if awk -v t="$type" -v w="$want" '$4 == t && $5 == w { f = 1 } END { exit !f }' <<<"$out"; then
		return 0
	fi
	say "    expected $server to answer $name $type $want from $ns; got: ${out:-<nothing>}"
	return 1
}

# dns_expect_refused NS SERVER NAME [+tcp]: the query fails at once with the
# firewall's reject ("communications error ...: host unreachable" over UDP,
# "connection refused" over TCP), not a timeout and not an answer.
dns_expect_refused() {
	local ns=$1 server=$2 name=$3 proto=${4:-+notcp} out
	out=$(in_ns "$ns" dig "$proto" +tries=1 +time="$NET_TIMEOUT" "@$server" "$name" A 2>&1) || true
	if [[ $out == *"ANSWER SECTION"* || $out == *"status: "* ]]; then
		say "    expected DNS to $server to be refused from $ns, but it answered: $out"
		return 1
	fi
	# icmpx admin-prohibited reads "host unreachable" (IPv4) or "permission
	# denied" (IPv6) in dig. Over UDP "connection refused" is a port
	# unreachable: no DNS server there, which says nothing about the
	# firewall. Over TCP it is the firewall's tcp reset (the servers these
	# tests ask all listen on TCP 53; test-traffic checks it answers first).
	if [[ $out =~ (host unreachable|permission denied|prohibited) ]]; then
		return 0
	fi
	if [[ $proto == +tcp && $out == *"connection refused"* ]]; then
		return 0
	fi
	if [[ $out == *"timed out"* ]]; then
		say "    expected DNS to $server to be rejected from $ns; it timed out (dropped, not rejected)"
	else
		say "    expected DNS to $server to be rejected from $ns; got: $out"
	fi
	return 1
}

# ----------------------------------------------------------------- shield

# Run the shield CLI with this test's config dir and state root.
shield() {
	"$SHIELD_BIN" --config-dir "$CONFIG_DIR" --state-root "$STATE_ROOT" "$@"
}

# A config dir with profiles and a state root, under TMP.
init_shield_dirs() {
	[[ -n ${TMP:-} ]] || init_tmp
	CONFIG_DIR=$TMP/config
	STATE_ROOT=$TMP/state
	mkdir -m 0700 "$CONFIG_DIR" "$STATE_ROOT"
	mkdir -m 0700 "$CONFIG_DIR/profiles"
}

# write_profile NAME LINE...: a user profile CONFIG_DIR/profiles/NAME.txt.
write_profile() {
	local name=$1
	shift
	printf '%s\n' "$@" >"$CONFIG_DIR/profiles/$name.txt"
}

# run_capture CMD...: run, keeping stdout in OUT, stderr in ERR, exit in RC.
run_capture() {
	RC=0
	"$@" >"$TMP/.out" 2>"$TMP/.err" || RC=$?
	OUT=$(cat "$TMP/.out")
	ERR=$(cat "$TMP/.err")
}

# The table as nft lists it inside NS (empty output if absent).
nft_list_table() {
	in_ns "$1" nft list table inet terok_shield
}

# Whether NS has shield's table.
has_table() {
	in_ns "$1" nft list table inet terok_shield >/dev/null 2>&1
}

# assert_same_file WHAT EXPECTED_FILE ACTUAL_FILE: byte-identical, diff otherwise.
assert_same_file() {
	local what=$1
	if cmp -s "$2" "$3"; then
		return 0
	fi
	say "    $what differ (--- $2, +++ $3):"
	diff -u "$2" "$3" | sed 's/^/    /' >&2 || true
	return 1
}

# ------------------------------------------- bundle files and kernel sets
# For the tests of allow/deny/up/down/block (integration and e2e): what a
# bundle's files imply, what the kernel holds, and snapshots of both. NS is
# anything in_ns takes (a namespace of the test, or /proc/PID/ns/net).

# The four sets of shield's table.
readonly SHIELD_SETS="allow_v4 allow_v6 deny_v4 deny_v6"

# kernel_static NS SET: the static (never expiring) elements of a set, one
# per line, sorted (a CIDR as ADDR/LEN).
kernel_static() {
	in_ns "$1" nft -j list set inet terok_shield "$2" | jq -r '
		def txt: if type == "string" then .
			elif .prefix then "\(.prefix.addr)/\(.prefix.len)"
			else tojson end;
		[.nftables[] | select(.set) | .set.elem // [] | .[] |
		 if type == "object" and .elem then
			(if .elem.expires then empty else (.elem.val | txt) end)
		 else txt end] | sort | .[]'
}

# kernel_learnt NS SET: the elements dnsmasq learnt (with an expiry), sorted.
kernel_learnt() {
	in_ns "$1" nft -j list set inet terok_shield "$2" | jq -r '
		[.nftables[] | select(.set) | .set.elem // [] | .[] |
		 select(type == "object" and .elem and .elem.expires) | .elem.val] | sort | .[]'
}

set_static_has() { [[ $'\n'$(kernel_static "$1" "$2")$'\n' == *$'\n'"$3"$'\n'* ]]; }
set_learnt_has() { [[ $'\n'$(kernel_learnt "$1" "$2")$'\n' == *$'\n'"$3"$'\n'* ]]; }

# bundle_expected BUNDLE allow|deny: the static elements a bundle implies,
# computed here with Python's ipaddress (not with shield's code): "allow" =
# (profile.allowed ∪ live.allowed) − deny.list, "deny" = deny.list, each
# without entries another one contains (an interval set holds no overlaps).
# One element per line, sorted.
bundle_expected() {
	python3 - "$1" "$2" <<'PY'
import ipaddress, sys
def read(name):
    try:
        with open(f"{sys.argv[1]}/{name}") as f:
            return {l.strip() for l in f if l.strip() and not l.startswith("#")}
    except FileNotFoundError:
        return set()
deny = read("deny.list")
want = deny if sys.argv[2] == "deny" else (read("profile.allowed") | read("live.allowed")) - deny
nets = {ipaddress.ip_network(x) for x in want}
keep = [n for n in nets if not any(o != n and o.version == n.version and n.subnet_of(o) for o in nets)]
def text(n):
    return str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n)
print("\n".join(sorted(text(n) for n in keep)))
PY
}

# files_kernel_agree BUNDLE NS: the kernel's sets hold exactly the static
# elements the bundle's files imply (learnt elements aside).
files_kernel_agree() {
	local b=$1 ns=$2 want_allow want_deny got_allow got_deny
	want_allow=$(bundle_expected "$b" allow)
	want_deny=$(bundle_expected "$b" deny)
	got_allow=$(cat <(kernel_static "$ns" allow_v4) <(kernel_static "$ns" allow_v6) | sort)
	got_deny=$(cat <(kernel_static "$ns" deny_v4) <(kernel_static "$ns" deny_v6) | sort)
	if [[ $want_allow == "$got_allow" && $want_deny == "$got_deny" ]]; then
		return 0
	fi
	say "    files and kernel differ in $ns:"
	say "      allow: bundle [${want_allow//$'\n'/ }] kernel [${got_allow//$'\n'/ }]"
	say "      deny:  bundle [${want_deny//$'\n'/ }] kernel [${got_deny//$'\n'/ }]"
	return 1
}

# bundle_snapshot BUNDLE NS: everything a bundle and its namespace hold that
# a change to another container must not touch: the bundle's files
# (checksums), each set's static and learnt elements, and the table
# (learnt elements count down: their remaining time is no change).
bundle_snapshot() {
	local b=$1 ns=$2 f s
	for f in profile.domains live.domains denied.domains profile.allowed live.allowed deny.list \
		shield.conf dnsmasq.conf audit.jsonl dnsmasq.pid; do
		printf '%s ' "$f"
		sha256sum <"$b/$f" 2>/dev/null || echo missing
	done
	for s in $SHIELD_SETS; do
		printf 'set %s static: %s\n' "$s" "$(kernel_static "$ns" "$s" 2>/dev/null | tr '\n' ' ' || echo absent)"
		printf 'set %s learnt: %s\n' "$s" "$(kernel_learnt "$ns" "$s" 2>/dev/null | tr '\n' ' ' || echo absent)"
	done
	nft_list_table "$ns" 2>&1 | sed -E 's/ expires [0-9hms]+//g'
}

# one_dnsmasq BUNDLE: exactly one dnsmasq runs for the bundle (zombies aside).
one_dnsmasq() {
	local n
	n=$(pgrep -r R,S,D -f -- "--conf-file=$1/dnsmasq.conf" | wc -l)
	[[ $n == 1 ]] || { say "    $n dnsmasq processes for $1"; return 1; }
}

# registry_names_dnsmasq ENTRY BUNDLE: the registry entry file ENTRY names
# the dnsmasq the bundle's PID file names, and that dnsmasq runs.
registry_names_dnsmasq() {
	local reg pid
	reg=$(jq -r .dnsmasq_pid "$1" 2>/dev/null) || true
	pid=$(cat "$2/dnsmasq.pid" 2>/dev/null) || true
	if [[ -n $pid && $pid == "$reg" && $(cat "/proc/$pid/comm" 2>/dev/null) == dnsmasq ]]; then
		return 0
	fi
	say "    dnsmasq.pid ${pid:-none}, registry dnsmasq_pid ${reg:-none} ($1)"
	return 1
}

has_line() { grep -qxF -- "$2" "$1" 2>/dev/null; }
lacks_line() { ! grep -qxF -- "$2" "$1" 2>/dev/null; }

# expect_out WANT: the last run_capture exited 0 and printed exactly WANT
# (stdout), nothing on stderr.
expect_out() {
	if [[ $RC == 0 && $OUT == "$1" && -z $ERR ]]; then
		return 0
	fi
	say "    expected exit 0 and \"$1\"; got exit $RC, stdout \"$OUT\", stderr \"$ERR\""
	return 1
}

# expect_fail CODE NEEDLE: the last run_capture exited CODE with NEEDLE on
# stderr, nothing on stdout.
expect_fail() {
	if [[ $RC == "$1" && $ERR == *"$2"* && -z $OUT ]]; then
		return 0
	fi
	say "    expected exit $1 and \"$2\" on stderr; got exit $RC, stdout \"$OUT\", stderr \"$ERR\""
	return 1
}

# race_allow_deny NAME CMD...: 50 commands at once on container NAME, each
# `CMD... allow|deny NAME TARGET` (CMD: `shield`, or an e2e test's
# `shield_op`): allow and deny of ten addresses 198.18.7.1-10 and of two
# domains race0/race1.shield.test. Each one's output goes to
# TMP/race.I.out and .err; RACE_FAILED counts those that exited non-zero.
race_allow_deny() {
	local name=$1 i action target pids=() p
	shift
	for i in $(seq 50); do
		case $((i % 7)) in
		0) action=allow target=race$((i % 2)).shield.test ;;
		1) action=deny target=race$((i % 2)).shield.test ;;
		2 | 4) action=deny target=198.18.7.$((i % 10 + 1)) ;;
		*) action=allow target=198.18.7.$((i % 10 + 1)) ;;
		esac
		"$@" "$action" "$name" "$target" >"$TMP/race.$i.out" 2>"$TMP/race.$i.err" &
		pids+=($!)
	done
	RACE_FAILED=0
	for p in "${pids[@]}"; do
		wait "$p" || RACE_FAILED=$((RACE_FAILED + 1))
	done
	((RACE_FAILED == 0)) || cat "$TMP"/race.*.err >&2
}

# race_domains_agree BUNDLE: after race_allow_deny, each race domain is in
# dnsmasq.conf as its list says (denied: answered locally; allowed: forwarded).
race_domains_agree() {
	local b=$1 d
	for d in race0.shield.test race1.shield.test; do
		if has_line "$b/denied.domains" "$d"; then
			grep -qxF "address=/$d/" "$b/dnsmasq.conf" || { say "    $d: denied, not in dnsmasq.conf"; return 1; }
		elif has_line "$b/live.domains" "$d"; then
			grep -qF "server=/$d/" "$b/dnsmasq.conf" || { say "    $d: allowed, not in dnsmasq.conf"; return 1; }
		fi
	done
}

# race_audited BUNDLE: one audit entry per change the race commands printed.
race_audited() {
	local printed audited
	printed=$(cat "$TMP"/race.*.out | grep -c .) || true
	audited=$(jq -s '[.[] | select((.action == "allow" or .action == "deny") and
		((.dest | startswith("198.18.7.")) or (.dest | startswith("race"))))] | length' "$1/audit.jsonl")
	[[ $printed == "$audited" ]] && return 0
	say "    the race commands printed $printed changes; the audit log has $audited"
	return 1
}
