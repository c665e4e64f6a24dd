#!/usr/bin/env bash
# Benchmark 2, the hook, createRuntime to exit: the OCI state parsed and
# validated, the ruleset committed (and, for shield-hook, verified),
# dnsmasq started in the container's network namespace and ready (its first
# process exits once its socket is bound; every run is then checked to
# answer a query). Three variants, interleaved, the order alternating:
#
#   (a) shield-hook createRuntime;
#   (b) the same steps the way the original does them, as a shell script:
#       nsenter + `nft -f -` of the ruleset `shield preview` prints, then
#       dnsmasq through nsenter, then its PID file read and the process
#       checked (command line and network namespace);
#   (c) the original's own hook, terok-shield's resources/nft_hook.py
#       (stdlib-only Python, with its sibling _oci_state.py), run with
#       Debian's python3 (/usr/bin/python3; SHIELD_BENCH_PYTHON overrides)
#       from a temp dir outside the tree, on a state dir of its own holding
#       the same ruleset (ruleset.nft) and dnsmasq.conf.
#
#   sudo SHIELD_BENCH_ORIGINAL=DIR tests/bench/bench-2-hook.sh
#
# SHIELD_BENCH_ORIGINAL says where the original is: a directory holding
# nft_hook.py and _oci_state.py, or a git checkout (bare or not) of
# terok-shield, from which the two files are taken (`git show
# HEAD:src/terok_shield/resources/...`) into this run's temp dir. Nothing of
# it is kept. Without it, (c) is not run and the section says so.
#
# Targets (issue 7): (a) >= 6x faster than (c), >= 3x faster than (b)
# (medians of the per-pair ratios), under 9 ms median. BENCH_RUNS (default
# 30) runs of each. See lib-bench.sh for BENCH_OUT and the output. It fails
# only when a run fails functionally (a hook's non-zero exit, no table, no
# dnsmasq, no answer); everything it creates is removed.
set -euo pipefail
# shellcheck source=tests/bench/lib-bench.sh
source "$(dirname "$0")/lib-bench.sh"

bench_section 2 "Hook, createRuntime to exit"
RUNS=$(bench_runs 30)
SHIELD_HOOK_BIN=${SHIELD_HOOK_BIN:-$(dirname "$SHIELD_BIN")/shield-hook}
require_root
require_cmd ip nft nsenter dnsmasq dig
require_shield
bench_require_bin "$SHIELD_HOOK_BIN" "$BENCH_TIME_BIN"

# ---------------------------------------------------------------- the original

ORIG_NOTE=
ORIG=
# Debian's, as podman would run the hook's #!/usr/bin/env python3 with a
# system PATH (not a python3 earlier in root's PATH, e.g. a pyenv shim).
PYTHON=${SHIELD_BENCH_PYTHON:-/usr/bin/python3}
if [[ -z ${SHIELD_BENCH_ORIGINAL:-} ]]; then
	ORIG_NOTE="(c) was not run: SHIELD_BENCH_ORIGINAL is not set. Point it at a directory holding terok-shield's \`nft_hook.py\` and \`_oci_state.py\` (from \`src/terok_shield/resources/\`), or at a git checkout of terok-shield (https://github.com/terok-ai/terok-shield), e.g. \`sudo SHIELD_BENCH_ORIGINAL=\$HOME/terok-shield tests/bench/run-benchmarks.sh\`."
elif [[ ! -x $PYTHON ]]; then
	ORIG_NOTE="(c) was not run: no python3 at $PYTHON (the original's hook needs it; SHIELD_BENCH_PYTHON names another)."
else
	init_tmp
	ORIG=$TMP/original
	mkdir -m 0700 "$ORIG"
	if [[ -f $SHIELD_BENCH_ORIGINAL/nft_hook.py && -f $SHIELD_BENCH_ORIGINAL/_oci_state.py ]]; then
		cp "$SHIELD_BENCH_ORIGINAL/nft_hook.py" "$SHIELD_BENCH_ORIGINAL/_oci_state.py" "$ORIG/"
		ORIG_FROM="the files SHIELD_BENCH_ORIGINAL names"
	elif git --git-dir="$SHIELD_BENCH_ORIGINAL" rev-parse --verify -q HEAD >/dev/null 2>&1 ||
		git --git-dir="$SHIELD_BENCH_ORIGINAL/.git" rev-parse --verify -q HEAD >/dev/null 2>&1; then
		gd=$SHIELD_BENCH_ORIGINAL
		git --git-dir="$gd" rev-parse --verify -q HEAD >/dev/null 2>&1 || gd=$SHIELD_BENCH_ORIGINAL/.git
		for f in nft_hook.py _oci_state.py; do
			git --git-dir="$gd" show "HEAD:src/terok_shield/resources/$f" >"$ORIG/$f" ||
				die "SHIELD_BENCH_ORIGINAL=$SHIELD_BENCH_ORIGINAL: no src/terok_shield/resources/$f at HEAD"
		done
		ORIG_FROM="terok-shield commit $(git --git-dir="$gd" rev-parse --short=12 HEAD) (a checkout SHIELD_BENCH_ORIGINAL names)"
	else
		die "SHIELD_BENCH_ORIGINAL=$SHIELD_BENCH_ORIGINAL holds neither nft_hook.py and _oci_state.py nor a git checkout of terok-shield"
	fi
	# The bundle version its hook insists on (the annotation terok.shield.version).
	ORIG_VERSION=$(sed -n 's/^BUNDLE_VERSION = \([0-9][0-9]*\).*/\1/p' "$ORIG/_oci_state.py")
	[[ -n $ORIG_VERSION ]] || die "no BUNDLE_VERSION in the original's _oci_state.py"
fi

# ---------------------------------------------------------------- the set-up

init_shield_dirs
RUNTIME_DIR=$TMP/run
mkdir -m 0700 "$RUNTIME_DIR"

# A network namespace with a long-lived process in it: the "container".
new_netns b
NS=$NS_NAME
start_bg nsenter --net="$(netns_path "$NS")" sleep 1000000
PID=$LAST_PID
# same_netns PID NSFILE: PID's network namespace is NSFILE's.
same_netns() { [[ $(stat -L -c %i "/proc/$1/ns/net" 2>/dev/null) == "$(stat -L -c %i "$2")" ]]; }
wait_for 10 same_netns "$PID" "$(netns_path "$NS")" || die "process $PID did not enter namespace $NS"
NSPATH=/proc/$PID/ns/net

# A profile of 50 domains and 50 static addresses (40 IPv4, 10 IPv6).
{
	echo "# bench: 50 domains, 50 addresses"
	for i in $(seq 1 50); do echo "d$i.bench.shield.test"; done
	for i in $(seq 1 40); do echo "198.18.2.$i"; done
	for i in $(seq 1 10); do echo "2001:db8:2::$i"; done
} >"$CONFIG_DIR/profiles/bench.txt"
BUNDLE=$TMP/bundle
shield prepare bench --state-dir "$BUNDLE" --upstream-dns "$DNS_UPSTREAM" --profiles bench \
	--quiet >/dev/null || die "shield prepare failed"

# The OCI state podman gives the hook on stdin.
STATE=$TMP/state.json
cat >"$STATE" <<EOF
{"ociVersion":"1.0.2","id":"shield-bench-$$","status":"created","pid":$PID,"bundle":"$TMP","annotations":{"terok.shield.profiles":"bench","terok.shield.state_dir":"$BUNDLE","terok.shield.name":"bench","terok.shield.version":"1"}}
EOF

# (b) and (c) load shield's own ruleset in nft syntax; a namespace is new at
# createRuntime, so there is no table to replace (each run deletes it after).
RULESET=$TMP/ruleset.nft
shield preview --state-dir "$BUNDLE" --mode up >"$RULESET" || die "shield preview failed"

# (b): a careful shell hook. It reads the OCI state on stdin, loads the
# ruleset with `nft -f -` and starts dnsmasq, both through nsenter, then reads
# dnsmasq's PID file (dnsmasq's first process exits once the daemon is
# ready and has written it) and checks that it names a dnsmasq with this
# bundle's configuration in this namespace.
SHELL_HOOK=$TMP/shell-hook.sh
cat >"$SHELL_HOOK" <<'EOF'
#!/bin/sh
set -eu
state=$(cat)
pid=$(printf '%s\n' "$state" | sed -n 's/.*"pid":\([0-9][0-9]*\).*/\1/p')
dir=$(printf '%s\n' "$state" | sed -n 's/.*"terok\.shield\.state_dir":"\([^"]*\)".*/\1/p')
[ -n "$pid" ] && [ -n "$dir" ] || { echo "shell hook: bad OCI state" >&2; exit 1; }
nsenter -n -t "$pid" -- nft -f - <"$1"
rm -f "$dir/dnsmasq.pid"
nsenter -n -t "$pid" -- dnsmasq --conf-file="$dir/dnsmasq.conf"
[ -s "$dir/dnsmasq.pid" ] || { echo "shell hook: dnsmasq wrote no PID file" >&2; exit 1; }
dpid=$(cat "$dir/dnsmasq.pid")
case $(tr '\0' ' ' <"/proc/$dpid/cmdline" 2>/dev/null) in
*dnsmasq*"--conf-file=$dir/dnsmasq.conf"*) ;;
*) echo "shell hook: PID $dpid is not our dnsmasq" >&2; exit 1 ;;
esac
[ "$(readlink "/proc/$dpid/ns/net")" = "$(readlink "/proc/$pid/ns/net")" ] ||
	{ echo "shell hook: dnsmasq $dpid is not in the namespace" >&2; exit 1; }
EOF
chmod 0755 "$SHELL_HOOK"

# (c): a state dir of the original's shape (root's, 0700): ruleset.nft and a
# dnsmasq.conf of its own (the same configuration, with its PID file and log
# in that dir), and the OCI state with the bundle version it wants.
if [[ -n $ORIG ]]; then
	ORIG_SD=$TMP/orig-state
	shield prepare bench-orig --state-dir "$ORIG_SD" --upstream-dns "$DNS_UPSTREAM" --profiles bench \
		--quiet >/dev/null || die "shield prepare (for the original's state dir) failed"
	shield preview --state-dir "$ORIG_SD" --mode up >"$ORIG_SD/ruleset.nft" || die "shield preview failed"
	# The same configuration as (a)'s, but for the paths.
	sed "s#$BUNDLE/#$ORIG_SD/#g" "$BUNDLE/dnsmasq.conf" >"$ORIG_SD/dnsmasq.conf"
	chmod 0600 "$ORIG_SD/dnsmasq.conf" "$ORIG_SD/ruleset.nft"
	ORIG_STATE=$TMP/orig-state.json
	cat >"$ORIG_STATE" <<EOF
{"ociVersion":"1.0.2","id":"shield-bench-orig-$$","status":"created","pid":$PID,"bundle":"$TMP","annotations":{"terok.shield.state_dir":"$ORIG_SD","terok.shield.version":"$ORIG_VERSION"}}
EOF
fi

# ---------------------------------------------------------------- one run

# run_X OUT: one timed run, its time (ns) appended to OUT.
run_a() {
	SHIELD_RUNTIME_DIR=$RUNTIME_DIR bench_time "$1" "$SHIELD_HOOK_BIN" createRuntime <"$STATE" ||
		die "shield-hook createRuntime failed (exit $?)"
}
run_b() {
	bench_time "$1" "$SHELL_HOOK" "$RULESET" <"$STATE" || die "the shell hook failed (exit $?)"
}
run_c() {
	bench_time "$1" "$PYTHON" "$ORIG/nft_hook.py" createRuntime <"$ORIG_STATE" ||
		die "the original's hook failed (exit $?): $(tail -n 3 "$ORIG_SD/hook-error.log" 2>/dev/null)"
}

# alive PID COMM: PID runs (not a zombie: a daemon's exit is reaped by
# whoever adopted it, maybe late) with that command name.
alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	[[ $stat == "$1 ($2) "* && $stat != *") Z "* ]]
}
gone() { ! alive "$@"; }

# After a run (untimed): the table is there, a dnsmasq of the variant's
# state dir runs in the namespace and answers (a name outside the allow
# list: NXDOMAIN from dnsmasq itself); then it is stopped (poststop for
# (a), kill for the others) and the table deleted, so that every run starts
# as a container's does.
verify_and_stop() {
	local variant=$1 dir=$BUNDLE dpid out
	[[ $variant != c ]] || dir=$ORIG_SD
	dpid=$(cat "$dir/dnsmasq.pid" 2>/dev/null) || die "$variant: no dnsmasq.pid after the run"
	alive "$dpid" dnsmasq || die "$variant: dnsmasq $dpid is not running"
	[[ $(readlink "/proc/$dpid/ns/net") == "$(readlink "$NSPATH")" ]] ||
		die "$variant: dnsmasq $dpid runs outside the namespace"
	in_ns "$NS" nft list table inet terok_shield >/dev/null 2>&1 || die "$variant: no table after the run"
	out=$(in_ns "$NS" dig +time=2 +tries=3 @127.0.0.1 not-allowed.example A 2>&1) || true
	[[ $out == *"status: NXDOMAIN"* ]] || die "$variant: dnsmasq does not answer: $out"
	case $variant in
	a)
		[[ -f $RUNTIME_DIR/containers/shield-bench-$$.json ]] || die "a: no registry entry"
		SHIELD_RUNTIME_DIR=$RUNTIME_DIR "$SHIELD_HOOK_BIN" poststop <"$STATE" ||
			die "shield-hook poststop failed"
		;;
	*)
		kill "$dpid"
		rm -f "$dir/dnsmasq.pid"
		;;
	esac
	in_ns "$NS" nft delete table inet terok_shield || die "$variant: cannot delete the table"
	wait_for 10 gone "$dpid" dnsmasq || die "$variant: dnsmasq $dpid did not stop"
}

# ---------------------------------------------------------------- measure

VARIANTS=(a b)
[[ -z $ORIG ]] || VARIANTS+=(c)
say "bench-2: $RUNS runs of each of ${VARIANTS[*]}, interleaved, after one untimed warm-up of each ..."
load_before=$(cut -d' ' -f1 /proc/loadavg)
for v in "${VARIANTS[@]}"; do
	"run_$v" "$TMP/warm.$v"
	verify_and_stop "$v"
done
for ((i = 0; i < RUNS; i++)); do
	order=("${VARIANTS[@]}")
	# Every other round in reverse: no variant always follows another.
	((i % 2 == 0)) || mapfile -t order < <(printf '%s\n' "${VARIANTS[@]}" | tac)
	for v in "${order[@]}"; do
		"run_$v" "$TMP/times.$v"
		verify_and_stop "$v"
	done
done

# ---------------------------------------------------------------- report

load_after=$(cut -d' ' -f1 /proc/loadavg)

read -r _ a_med _ < <(bench_stats_file "$TMP/times.a" 1e6)
a_median=$(bench_median "$TMP/times.a" 1e6)
read -r _ rb_med _ < <(bench_ratio_pairs "$TMP/times.a" "$TMP/times.b")
# The hook's own measure of its work (its audit entries), for context.
grep -o '"action":"setup".*; [0-9.]* ms' "$BUNDLE/audit.jsonl" | sed 's/.*; \([0-9.]*\) ms$/\1/' |
	tail -n "$RUNS" >"$TMP/self.a"
# dnsmasq alone: its start, from exec to its first process's exit (ready),
# in the same namespace, for context (where the hook's time goes).
for ((i = 0; i < RUNS && i < 15; i++)); do
	rm -f "$BUNDLE/dnsmasq.pid"
	bench_time "$TMP/dnsmasq.alone" nsenter --net="$NSPATH" dnsmasq --conf-file="$BUNDLE/dnsmasq.conf" ||
		die "dnsmasq alone failed to start"
	dpid=$(cat "$BUNDLE/dnsmasq.pid")
	kill "$dpid"
	wait_for 10 gone "$dpid" dnsmasq || die "dnsmasq $dpid did not stop"
done
rm -f "$BUNDLE/dnsmasq.pid"
read -r _ d_med _ < <(bench_stats_file "$TMP/dnsmasq.alone" 1e6)
# What (a) takes beyond dnsmasq's own start (medians).
beyond=$(awk -v a="$a_median" -v d="$(bench_median "$TMP/dnsmasq.alone" 1e6)" 'BEGIN { printf "%.1f", a - d }')

build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$(dirname "$SHIELD_HOOK_BIN")/../CMakeCache.txt" 2>/dev/null) || true
bench_reproduce "sudo SHIELD_BENCH_ORIGINAL=DIR BENCH_ONLY=2 tests/bench/run-benchmarks.sh" \
	"sudo SHIELD_BENCH_ORIGINAL=DIR tests/bench/bench-2-hook.sh"
bench_text "createRuntime, from the hook's exec to its exit, for a bundle of 50 domains (dnsmasq" \
	"\`server=\`/\`nftset=\` lines) and 50 static addresses (40 IPv4, 10 IPv6), mode up, into a" \
	"network namespace without a table, as at a container's start. $RUNS runs of each variant," \
	"interleaved (the order reversed every other round), after one untimed warm-up of each." \
	"After every run (untimed) the table is there, the variant's dnsmasq runs in the namespace" \
	"and answers a query; then it is stopped and the table deleted." \
	"shield-hook build: ${build_type:-unknown}. DIR: where terok-shield's source is (see below)." \
	"Load average (1 min) at the start of the runs: $load_before, at the end: $load_after (2 cores)."
bench_table variant runs min median max unit
bench_stats_row "(a) \`shield-hook createRuntime\`: OCI state, bundle checks, netlink commit + verify, dnsmasq fork/exec + PID/cmdline/netns check, registry, audit" ms "$TMP/times.a" 1e6
bench_stats_row "(b) \`sh\`: \`nsenter nft -f -\` + \`nsenter dnsmasq\` + PID file, cmdline and netns check" ms "$TMP/times.b" 1e6
if [[ -n $ORIG ]]; then
	bench_stats_row "(c) the original's hook: \`python3 nft_hook.py createRuntime\` (nsenter + \`nft -f -\`, nsenter + dnsmasq, PID file and cmdline check)" ms "$TMP/times.c" 1e6
fi
bench_stats_row "context: (a)'s own measure of its work (audit log, from lock to registry)" ms "$TMP/self.a"
bench_stats_row "context: dnsmasq alone with this configuration, exec to ready, through nsenter" ms "$TMP/dnsmasq.alone" 1e6
bench_ratio_row "ratio (b) / (a), per pair" "$TMP/times.a" "$TMP/times.b"
if [[ -n $ORIG ]]; then
	bench_ratio_row "ratio (c) / (a), per pair" "$TMP/times.a" "$TMP/times.c"
fi
bench_end_table

where="Where (a)'s time goes: its own exec and start (about 1 ms here, mostly the kernel's exec and page faults, which cost microseconds each in this VM), reading the bundle and writing dnsmasq.conf (kept as it is when unchanged), then dnsmasq's start, which is most of it: dnsmasq alone takes ${d_med} ms median here to become ready (a Debian dnsmasq maps 22 libraries, daemonizes with two forks and sets up its nftset context before it reports ready). The ruleset's commit and verify (one netlink batch and one dump, in the container's namespace, which shield-hook enters for good) and the registry run while dnsmasq starts; what follows its readiness is the PID file, cmdline and namespace check, the registry entry and the audit line. (a)'s median is ${beyond} ms above dnsmasq's alone."
if bench_le "$a_median" 9; then verdict=met; else verdict=missed; fi
why=$where
if [[ $verdict == missed ]]; then
	why+=" Missed by $(awk -v m="$a_median" 'BEGIN { printf "%.1f", m - 9 }') ms ($(awk -v m="$a_median" 'BEGIN { printf "%.0f", 100 * (m - 9) / 9 }')%): dnsmasq's own start (${d_med} ms alone here, more with the hook running beside it on 2 shared cores) leaves little for the rest; on this shared machine a busy neighbour lengthens every step. Open question for the issue: whether the target should count dnsmasq's own start, which shield cannot make faster."
fi
bench_verdict 2 "< 9 ms median" "${a_med} ms median" "$verdict" "$why" "Hook latency (shield-hook createRuntime)"

if bench_ge "$rb_med" 3; then verdict=met; else verdict=missed; fi
why="The shell steps pay for a shell, two nsenter processes, nft's process with libnftables' parse and cache, and the same dnsmasq start."
[[ $verdict == met ]] || why+=" Missed by $(awk -v r="$rb_med" 'BEGIN { printf "%.2f", 3 / r }')×: both variants wait for dnsmasq's start (${d_med} ms alone), which bounds the ratio: with nothing else in (a), (b) / (a) could be at most about (b)'s median over dnsmasq's start."
bench_verdict 2 "≥ 3× faster than the shell steps" "${rb_med}× (median of per-pair ratios)" "$verdict" "$why" "Hook vs the shell steps (nsenter + nft -f + nsenter dnsmasq)"

if [[ -n $ORIG ]]; then
	read -r _ rc_med _ < <(bench_ratio_pairs "$TMP/times.a" "$TMP/times.c")
	read -r _ c_med _ < <(bench_stats_file "$TMP/times.c" 1e6)
	if bench_ge "$rc_med" 6; then verdict=met; else verdict=missed; fi
	why="The original's hook, $ORIG_FROM, run as \`$PYTHON nft_hook.py createRuntime\` from a temp dir ($("$PYTHON" --version 2>&1)): ${c_med} ms median, of which Python's own start and imports (json, subprocess, pathlib, pwd, shutil) are a large part, then the same nsenter + nft and nsenter + dnsmasq processes as (b), through subprocess."
	[[ $verdict == met ]] || why+=" Missed by $(awk -v r="$rc_med" 'BEGIN { printf "%.2f", 6 / r }')×; both wait for the same dnsmasq start (${d_med} ms alone)."
	bench_verdict 2 "≥ 6× faster than the original's hook" "${rc_med}× (median of per-pair ratios)" "$verdict" "$why" "Hook vs the original's nft_hook.py"
else
	bench_verdict 2 "≥ 6× faster than the original's hook" "—" "not run" "$ORIG_NOTE" "Hook vs the original's nft_hook.py"
fi
