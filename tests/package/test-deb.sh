#!/usr/bin/env bash
# shellcheck disable=SC2119 # shield_run takes extra podman options; none here
# shellcheck disable=SC2016 # jq filters and bash -c scripts are single-quoted on purpose
# The Debian package, from source to purge, as an operator meets it:
#
# 1. packaging/build-deb.sh builds shield_*.deb from a clean copy of the
#    tree (its dh_auto_test runs the unit tests; nothing here runs them
#    again), and lintian finds no error in it (its W:/I: lines are printed);
# 2. `apt-get install ./shield_*.deb` puts shield, shield-hook, nftsetd, the
#    profiles, podman's hook descriptors and the man pages where they
#    belong, the descriptors being what `shield setup` writes for the
#    installed hook, and `shield` on a clean PATH is /usr/bin/shield;
# 3. the end-to-end podman tests run against the installed binaries and the
#    installed profiles (SHIELD_DATA_DIR empty): test-shield-rootful with
#    podman reading the package's own descriptors in
#    /usr/share/containers/oci/hooks.d (SHIELD_E2E_HOOKS_DIR=system, the
#    registry in the default /run/shield), the other tests/e2e/test-*.sh as
#    they are (their own descriptors, naming the installed hook);
# 4. here, with podman reading the system hooks dir: `shield check` passes
#    (it reads podman's real hooks_dir settings), a container shielded with
#    a bundled profile and a bundle in the default state root
#    /var/lib/shield reaches its allowed host, and `shield status`,
#    `rules` and `profiles` of the installed tree see it;
#    nftsetd runs from the installed unit, started by hand because systemd
#    is not PID 1 in this sandbox: ExecStart=, CapabilityBoundingSet=,
#    NoNewPrivileges= and UMask= read from the installed nftsetd.service
#    and applied with setpriv, NOTIFY_SOCKET a socket of the test's that
#    receives READY=1 (Type=notify); `shield drift` reports the container
#    through it (clean, then the drift an `nft add element` made) and
#    `shield watch --json` streams that drift; then for real: the host's
#    systemd as PID 1 of a pid and mount namespace of the test's,
#    `systemctl start nftsetd` there (the installed unit, its whole
#    sandbox applied, checked in /proc), a container started there,
#    `shield drift` through it, the drift in `journalctl -u nftsetd` with
#    its SHIELD_* fields, `systemctl stop nftsetd`, the host's cgroups
#    untouched;
# 5. `apt-get purge shield` removes every path `dpkg -L shield` listed (the
#    directories only shield owned too) and the unit's enablement, and
#    leaves the stopped container's bundle and /run/shield alone.
#
# Root; installs into /usr (ctest runs it alone: RUN_SERIAL). Refuses to run
# when a shield package is installed already. Everything it made goes at
# exit, also on failure: its containers, the package (purged), the bundle,
# and /var/lib/shield and /run/shield when they did not exist before.
set -euo pipefail

# The binaries under test are the package's, found the way an operator's
# shell finds them; lib-podman.sh reads these when sourced.
export SHIELD_BIN=/usr/bin/shield SHIELD_HOOK_BIN=/usr/libexec/shield/shield-hook
export SHIELD_DATA_DIR='' SHIELD_E2E_HOOKS_DIR=system
# shellcheck source=tests/e2e/lib-scenarios.sh
source "$(dirname "$0")/../e2e/lib-scenarios.sh"

readonly SRC=$SHIELD_SOURCE_DIR
readonly CLEAN_PATH=/usr/sbin:/usr/bin:/sbin:/bin
readonly SYSTEM_HOOKS=/usr/share/containers/oci/hooks.d
readonly STATE_DEFAULT=/var/lib/shield
readonly RUNTIME_DEFAULT=/run/shield
# Where Debian 12's systemd (pkg-config systemd) keeps units; the package's
# enablement of nftsetd.service (dh_installsystemd, deb-systemd-helper).
readonly SYSTEM_UNIT=/lib/systemd/system/nftsetd.service
readonly USER_UNIT=/usr/lib/systemd/user/nftsetd.service
readonly UNIT_WANTS=/etc/systemd/system/multi-user.target.wants/nftsetd.service
APT_OPTS=(-y -q -o DPkg::Lock::Timeout=300)

require_root
require_cmd git tar dpkg-buildpackage dh dh_auto_configure lintian apt-get dpkg-query cmp \
	systemd-analyze setpriv python3 nsenter ss
# The build dependencies (dpkg-buildpackage would say so too, but later).
for p in debhelper dpkg-dev cmake pkgconf libnftnl-dev libmnl-dev libuv1-dev libjansson-dev libcmocka-dev; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		skip_or_fail "needs the build dependency $p (.ci/install-deps)"
done
# dpkg's state of the shield package: installed, config-files, ...; empty
# or not-installed when dpkg has no trace of it.
shield_pkg_state() { dpkg-query -W -f='${db:Status-Status}' shield 2>/dev/null || true; }
case $(shield_pkg_state) in
"" | not-installed) ;;
*) die "a shield package is on this machine ($(shield_pkg_state)); this test installs and purges its own (apt-get purge shield first)" ;;
esac
for f in "$SHIELD_BIN" "$SHIELD_HOOK_BIN" /usr/sbin/nftsetd; do
	[[ ! -e $f ]] || die "$f exists but no shield package is installed (a source install into /usr?); remove it first"
done

# ------------------------------------------------------------ cleanup

_INSTALLED=0
_STATE_ROOT_MADE=0
_STATE_CONTAINERS_MADE=0
_RUNTIME_DIR_MADE=0
BUNDLE_KEPT=
BUNDLE_SD=
[[ -e $STATE_DEFAULT ]] || _STATE_ROOT_MADE=1
[[ -e $STATE_DEFAULT/containers ]] || _STATE_CONTAINERS_MADE=1
[[ -e $RUNTIME_DEFAULT ]] || _RUNTIME_DIR_MADE=1

# Before lib-podman.sh's cleanup (and lib.sh's, which removes TMP): the
# containers go while the hook is still installed (their poststop runs it),
# then the package, then what the test left in the default state root and
# runtime dir.
_package_cleanup() {
	local rc=$?
	set +e
	# The systemd namespace first: its pids mean nothing to podman out here.
	! declare -F sd_stop >/dev/null || sd_stop
	if ((_PODMAN_ROOT_READY)); then
		podman_root rm --all --force --time 0 >/dev/null 2>&1
	fi
	if ((_INSTALLED)); then
		say "cleanup: purging the shield package"
		apt-get purge "${APT_OPTS[@]}" shield >/dev/null 2>&1 || say "cleanup: apt-get purge shield failed"
	fi
	[[ -z $BUNDLE_KEPT ]] || rm -rf -- "$BUNDLE_KEPT"
	[[ -z $BUNDLE_SD ]] || rm -rf -- "$BUNDLE_SD"
	((_STATE_CONTAINERS_MADE == 0)) || rmdir -- "$STATE_DEFAULT/containers" 2>/dev/null
	((_STATE_ROOT_MADE == 0)) || rm -rf -- "$STATE_DEFAULT"
	((_RUNTIME_DIR_MADE == 0)) || rm -rf -- "$RUNTIME_DEFAULT"
	_podman_ret "$rc"
	_podman_cleanup
}
trap _package_cleanup EXIT

init_tmp
OUTDIR=$TMP/out
mkdir "$OUTDIR"
t_start=$(date +%s)
elapsed() { printf '%ss' "$(($(date +%s) - t_start))"; }

# ------------------------------------------------------------ 1. build, lint

say "# build (packaging/build-deb.sh)"
t0=$(date +%s)
"$SRC/packaging/build-deb.sh" "$OUTDIR" >"$TMP/build.log" 2>&1 || {
	tail -n 60 "$TMP/build.log" >&2
	die "packaging/build-deb.sh failed (the end of its log is above)"
}
say "    built in $(($(date +%s) - t0)) s: $(cd "$OUTDIR" && echo *)"
grep -E '^(100% tests passed|[0-9]+% tests passed)' "$TMP/build.log" >&2 || true
shopt -s nullglob
debs=("$OUTDIR"/shield_*.deb)
shopt -u nullglob
((${#debs[@]} == 1)) || die "expected one shield_*.deb in $OUTDIR, got: ${debs[*]:-none}"
DEB=${debs[0]}
say "    $(basename "$DEB"): $(stat -c %s "$DEB") bytes, installed size $(dpkg-deb -f "$DEB" Installed-Size) KiB"
say "    Depends: $(dpkg-deb -f "$DEB" Depends)"

unit_tests_ran() {
	grep -qE '^100% tests passed, 0 tests failed out of [1-9]' "$TMP/build.log" && return 0
	say "    the build log shows no passing unit test run (dh_auto_test)"
	return 1
}
check "the package build ran the unit tests (dh_auto_test, label unit)" unit_tests_ran

depends_has() {
	local dep
	dep=$(dpkg-deb -f "$DEB" Depends)
	[[ ", $dep," == *", $1"[\ ,]* ]] && return 0
	say "    Depends lacks $1: $dep"
	return 1
}
for d in dnsmasq-base podman libnftnl11 libmnl0 libuv1 libjansson4 libc6; do
	check "the package depends on $d" depends_has "$d"
done

say "# lintian"
LINTIAN=$(lintian --display-info --pedantic --show-overrides "$DEB" 2>&1) || true
printf '%s\n' "$LINTIAN" | grep -E '^[EWIPXO]:' >&2 || say "    (lintian printed no tags)"
no_lintian_errors() {
	! grep -q '^E:' <<<"$LINTIAN" && return 0
	say "    lintian found errors (E: lines above)"
	return 1
}
check "lintian finds no error in the package" no_lintian_errors

# ------------------------------------------------------------ 2. install

say "# install (apt-get install ./$(basename "$DEB"))"
_INSTALLED=1
(cd "$OUTDIR" && DEBIAN_FRONTEND=noninteractive apt-get install "${APT_OPTS[@]}" \
	--no-install-recommends "./$(basename "$DEB")") >"$TMP/apt.log" 2>&1 || {
	cat "$TMP/apt.log" >&2
	die "apt-get install of the package failed"
}
mapfile -t LISTED < <(dpkg -L shield | grep '^/' | grep -vx '/\.')
say "    dpkg -L shield lists ${#LISTED[@]} paths:"
printf '      %s\n' "${LISTED[@]}" >&2

listed() {
	local p
	for p in "${LISTED[@]}"; do
		[[ $p == "$1" ]] && return 0
	done
	say "    dpkg -L shield does not list $1"
	return 1
}
executable() {
	[[ -f $1 && -x $1 ]] && listed "$1" && return 0
	say "    $1 is not an executable file of the package"
	return 1
}
check "the package installs /usr/bin/shield" executable /usr/bin/shield
check "the package installs /usr/libexec/shield/shield-hook" executable /usr/libexec/shield/shield-hook
check "the package installs /usr/sbin/nftsetd" executable /usr/sbin/nftsetd
for f in "$SRC"/profiles/*.txt; do
	p=/usr/share/shield/profiles/${f##*/}
	check "the package installs the profile $p" listed "$p"
done
for f in "$SRC"/man/*.[1-9]; do
	n=${f##*/}
	check "the package installs the man page $n" listed "/usr/share/man/man${n##*.}/$n.gz"
done
# Bash completion, when the build installs one (CMake decides; the package
# takes whatever `cmake --install` puts in place).
if grep -rqs 'bash-completion/completions' --include=CMakeLists.txt "$SRC"; then
	check "the package installs the bash completion" listed /usr/share/bash-completion/completions/shield
fi
for s in createRuntime poststop; do
	check "the package installs $SYSTEM_HOOKS/shield-$s.json" listed "$SYSTEM_HOOKS/shield-$s.json"
done
check "the package installs nftsetd's system unit $SYSTEM_UNIT" listed "$SYSTEM_UNIT"
check "the package installs nftsetd's user unit $USER_UNIT" listed "$USER_UNIT"
# dh_installsystemd's postinst enables it (and would start it under a
# running systemd); the user unit is enabled by no one but each user.
check "the install enables nftsetd.service ($UNIT_WANTS)" test -L "$UNIT_WANTS"
check "... and not the user unit for every user" test ! -e /etc/systemd/user/default.target.wants/nftsetd.service
# analyze_silent ARGS...: systemd-analyze ARGS exits 0 and prints nothing.
analyze_silent() {
	local out rc=0
	out=$(XDG_RUNTIME_DIR=$TMP systemd-analyze "$@" 2>&1) || rc=$?
	[[ $rc == 0 && -z $out ]] && return 0
	say "    systemd-analyze $* (exit $rc): $out"
	return 1
}
installed_units_verify() {
	analyze_silent verify "$SYSTEM_UNIT" && analyze_silent --user verify "$USER_UNIT"
}
check "systemd-analyze verify is silent on the installed units (their binaries and man pages installed)" installed_units_verify
# One source of truth: the descriptors are what `shield setup` writes now
# for the installed hook.
descriptors_are_setups() {
	local d=$TMP/setup-hooks s
	"$SHIELD_BIN" setup --dir "$d" --hook "$SHIELD_HOOK_BIN" >/dev/null || return 1
	for s in createRuntime poststop; do
		assert_same_file "shield-$s.json: the package's and shield setup's" \
			"$d/shield-$s.json" "$SYSTEM_HOOKS/shield-$s.json" || return 1
	done
}
check "the package's hook descriptors are byte for byte what shield setup writes" descriptors_are_setups
shield_on_clean_path() {
	local got
	got=$(env -i PATH="$CLEAN_PATH" bash -c 'command -v shield') || true
	[[ $got == /usr/bin/shield ]] && return 0
	say "    command -v shield on PATH=$CLEAN_PATH: '${got}'"
	return 1
}
check "shield on a clean PATH is /usr/bin/shield" shield_on_clean_path
man_page_reads() {
	local out
	out=$(env -i PATH="$CLEAN_PATH" MANWIDTH=80 man -P cat "$1" 2>&1) && [[ -n $out ]] && return 0
	say "    man $1: $out"
	return 1
}
if command -v man >/dev/null 2>&1; then
	check "man shield finds the installed page" man_page_reads shield
fi
say "    ($(elapsed) so far)"

# ------------------------------------------------------------ 3. e2e tests

# run_e2e SCRIPT [VAR=VALUE...]: one e2e test as a child, against the
# installed binaries, nothing of the build tree on PATH.
run_e2e() {
	local script=$1 name log rc=0 t
	shift
	name=$(basename "$script" .sh)
	log=$TMP/$name${1:+-${1%%=*}}.log
	t=$(date +%s)
	env -i PATH="$CLEAN_PATH" HOME=/root LANG=C.UTF-8 \
		SHIELD_REQUIRE_ALL_TESTS="${SHIELD_REQUIRE_ALL_TESTS:-0}" \
		SHIELD_BIN="$SHIELD_BIN" SHIELD_HOOK_BIN="$SHIELD_HOOK_BIN" NFTSETD_BIN=/usr/sbin/nftsetd \
		SHIELD_SOURCE_DIR="$SRC" SHIELD_DATA_DIR= "$@" \
		bash "$script" >"$log" 2>&1 || rc=$?
	if ((rc != 0)); then
		cat "$log" >&2
		say "    $name $* failed (exit $rc; its output is above)"
		return 1
	fi
	say "    $name $*: $(tail -n 1 "$log") ($(($(date +%s) - t)) s)"
}
say "# end-to-end tests against the installed package"
check "e2e test-shield-rootful with podman reading the package's descriptors" \
	run_e2e "$SRC/tests/e2e/test-shield-rootful.sh" SHIELD_E2E_HOOKS_DIR=system
for script in "$SRC"/tests/e2e/test-*.sh; do
	[[ $script != */test-shield-rootful.sh ]] || continue # ran just above
	check "e2e $(basename "$script" .sh) with the installed binaries" run_e2e "$script"
done
say "    ($(elapsed) so far)"

# ------------------------------------------------------------ nftsetd from its unit

# drift_is RUNNER NAME RC FILTER: `RUNNER drift --json NAME` (RUNNER: a
# function running the installed shield) exits RC and its report passes the
# jq FILTER (with $n = NAME); says what it got otherwise.
drift_is() {
	local runner=$1 name=$2 rc=$3 filter=$4
	run_capture "$runner" drift --json "$name"
	[[ $RC == "$rc" ]] && jq -e --arg n "$name" "$filter" <<<"$OUT" >/dev/null && return 0
	say "    shield drift --json $name: exit $RC (wanted $rc): $(head -c 2000 <<<"$OUT") $ERR"
	return 1
}

# unit_get KEY: the value of the last KEY= in the [Service] section of the
# installed system unit (what systemd would use; no drop-ins here).
unit_get() {
	awk -v k="$1" '/^\[/ { sec = $0; next }
		sec == "[Service]" && index($0, k "=") == 1 { v = substr($0, length(k) + 2) }
		END { print v }' "$SYSTEM_UNIT"
}

# start_unit_nftsetd: nftsetd as systemd would start it from the installed
# unit, by hand, because systemd is not PID 1 in this sandbox: a clean
# environment, the unit's ExecStart=, its CapabilityBoundingSet= as the
# bounding set (and, as root, so the permitted and effective sets) with no
# inheritable ones, NoNewPrivileges=, UMask=, RuntimeDirectory= and
# StateDirectory= made as systemd makes them, and NOTIFY_SOCKET a datagram
# socket of the test's (Type=notify): each message it receives is a line
# of $TMP/notify.log, newlines as '|'. UNIT_PID is nftsetd.
start_unit_nftsetd() {
	local exec caps bset="-all" c nnp umask_v
	exec=$(unit_get ExecStart)
	caps=$(unit_get CapabilityBoundingSet)
	nnp=$(unit_get NoNewPrivileges)
	umask_v=$(unit_get UMask)
	say "    installed unit: Type=$(unit_get Type) ExecStart=$exec CapabilityBoundingSet=$caps NoNewPrivileges=$nnp UMask=$umask_v"
	[[ -n $exec && -n $caps ]] || die "no ExecStart= or CapabilityBoundingSet= in $SYSTEM_UNIT"
	for c in $caps; do
		c=${c,,}
		bset+=",+${c#cap_}"
	done
	UNIT_CAPS=$caps
	[[ -d $RUNTIME_DEFAULT ]] || mkdir -m "$(unit_get RuntimeDirectoryMode)" "$RUNTIME_DEFAULT"
	[[ -d $STATE_DEFAULT ]] || mkdir -m "$(unit_get StateDirectoryMode)" "$STATE_DEFAULT"
	start_bg python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    msg = s.recv(65536).decode()
    with open(sys.argv[2], "a") as f:
        f.write(msg.replace("\n", "|") + "\n")
' "$TMP/notify" "$TMP/notify.log"
	wait_for 10 test -S "$TMP/notify" || die "the notification socket did not come up"
	local setpriv_args=(--bounding-set "$bset" --inh-caps -all)
	[[ $nnp != yes ]] || setpriv_args+=(--no-new-privs)
	# shellcheck disable=SC2086 # ExecStart= is words, as systemd splits it (no quoting in ours)
	start_bg env -i PATH="$CLEAN_PATH" NOTIFY_SOCKET="$TMP/notify" \
		bash -c 'umask "$1"; shift; exec setpriv "$@"' _ "${umask_v:-0022}" \
		"${setpriv_args[@]}" $exec 2>"$TMP/nftsetd-unit.log"
	UNIT_PID=$LAST_PID
}

# cap_mask CAP...: the capability mask (hex, as /proc/PID/status shows it).
cap_mask() {
	python3 -c '
import sys
nums = {"CAP_NET_ADMIN": 12, "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21}
m = 0
for c in sys.argv[1:]:
    m |= 1 << nums[c]
print("%016x" % m)' "$@"
}

unit_nftsetd_checks() {
	say "# nftsetd started by hand from the installed unit (systemd is not PID 1 here)"
	start_unit_nftsetd
	check "nftsetd from the unit says READY=1 (Type=notify)" wait_for 60 grep -q '^READY=1|' "$TMP/notify.log"
	say "    notify: $(tr '\n' ' ' <"$TMP/notify.log")"
	runs_confined() {
		local st want
		st=$(cat "/proc/$UNIT_PID/status") || return 1
		# shellcheck disable=SC2086 # the capabilities are words
		want=$(cap_mask $UNIT_CAPS)
		grep -qx "CapBnd:	$want" <<<"$st" && grep -qx "CapEff:	$want" <<<"$st" &&
			grep -qx "NoNewPrivs:	1" <<<"$st" && return 0
		say "    nftsetd ($UNIT_PID) runs with: $(grep -E '^(Cap|NoNewPrivs)' <<<"$st" | tr '\n' ' ') (wanted $want)"
		return 1
	}
	check "it runs with the unit's capability bounding set only, and no new privileges" runs_confined
	check "shield drift reports the container through nftsetd: clean (exit 0)" wait_for 30 \
		drift_is op "$N" 0 '.source == "nftsetd" and ([.containers[].name] == [$n]) and .containers[0].clean'
	start_bg env -i PATH="$CLEAN_PATH" HOME=/root SHIELD_PODMAN="$(podman_root_wrapper)" \
		"$SHIELD_BIN" watch --json "$N" >"$TMP/watch.jsonl" 2>"$TMP/watch.err"
	local watch_pid=$LAST_PID
	# The watch connected (an established connection on the socket)...
	watch_connected() { [[ $(ss -xH state established src "$RUNTIME_DEFAULT/nftsetd.sock" 2>/dev/null) == *nftsetd.sock* ]]; }
	wait_for 30 watch_connected || say "    (shield watch did not connect within 30 s)"
	local ns ips=(198.18.9.9)
	ns=$(ctr_netns "$N") && nsenter --net="$ns" nft add element inet terok_shield allow_v4 '{ 198.18.9.9 }'
	check "shield drift then exits 3 with the element nft added (drift.unexplained open)" wait_for 30 \
		drift_is op "$N" 3 '.source == "nftsetd" and (.containers[0].checks[] | select(.kind == "drift.unexplained") |
			.state == "open" and any(.open[]; .ip == "198.18.9.9"))'
	watch_saw() {
		jq -e -s --arg ip "$1" 'any(.[]; .kind == "drift.unexplained" and .ip == $ip)' "$TMP/watch.jsonl" >/dev/null 2>&1
	}
	# ...but connected is not yet subscribed: should the first element have
	# come in between, another one is added (a few times at most).
	watch_streams_drift() {
		local i
		for i in 9 10 11; do
			wait_for 10 watch_saw "198.18.9.$i" && return 0
			ips+=("198.18.9.$((i + 1))")
			nsenter --net="$ns" nft add element inet terok_shield allow_v4 "{ 198.18.9.$((i + 1)) }"
		done
		say "    shield watch --json wrote: $(head -c 2000 "$TMP/watch.jsonl") $(cat "$TMP/watch.err")"
		return 1
	}
	check "shield watch --json streams the drift.unexplained event from nftsetd" watch_streams_drift
	kill "$watch_pid" 2>/dev/null || true
	for ip in "${ips[@]}"; do
		nsenter --net="$ns" nft delete element inet terok_shield allow_v4 "{ $ip }" || true
	done
	kill -TERM "$UNIT_PID"
	local rc=0
	wait "$UNIT_PID" || rc=$?
	check "SIGTERM (systemctl stop): nftsetd exits 0" test "$rc" = 0
	check "... after STOPPING=1" grep -qx 'STOPPING=1' "$TMP/notify.log"
	unit_log_clean() {
		! grep -v '^<[0-7]>' "$TMP/nftsetd-unit.log" | grep -q . && ! grep -q '^<[0-3]>' "$TMP/nftsetd-unit.log" && return 0
		say "    nftsetd's log has errors or lines without a priority:"
		sed 's/^/      /' "$TMP/nftsetd-unit.log" >&2
		return 1
	}
	check "nftsetd logged no error under the unit's confinement" unit_log_clean
}

# ------------------------------------------------------------ nftsetd under a real systemd

# systemd is not PID 1 of this machine, but the host's /lib/systemd/systemd
# runs as PID 1 of a pid and mount namespace of the test's, so
# `systemctl start nftsetd` there is the real thing: the unit's whole
# sandbox applied by systemd, Type=notify waited for, the journal. What it
# sees: a tmpfs on /run (the host's /run/netns and /run/shield bound back
# in), on /var/log/journal and on /sys/fs/cgroup with the host's
# hierarchies bound in (systemd remounts that tmpfs read-only: the host's
# would make the host's /sys/fs/cgroup read-only for everyone), and it
# starts in a child cgroup of the test's own in every hierarchy (removed
# at the end), under which it makes its own, as in a container. SYSTEMD_UNIT_PATH is a directory of
# the test's: the installed nftsetd.service itself (a link to it), the
# host's journald units, and empty sysinit/basic/shutdown targets, so
# nothing else of the host's is started. Processes in that pid namespace
# number pids otherwise than the host, so the container nftsetd watches is
# started there too (podman through nsenter). unshare ignores SIGTERM while
# its child runs: the cleanup kills that PID 1 itself (SD_PID).

# sd_exec CMD...: CMD in the namespace of that systemd (its mounts, its pids).
sd_exec() { nsenter -t "$SD_PID" -m -p -- "$@"; }

SD_PID=
SD_CGROUPS=()
# sd_cgroups_make: a child cgroup of this shell's in every hierarchy but
# cpuset (whose children need cpus and mems before they take a process).
sd_cgroups_make() {
	local ctrl path h
	while IFS=: read -r _ ctrl path; do
		case $ctrl in
		"") # cgroup2: beside v1 (hybrid, as here) or alone (Debian 12's default)
			h=/sys/fs/cgroup/unified
			[[ -e $h/cgroup.procs ]] || h=/sys/fs/cgroup
			;;
		name=systemd) h=/sys/fs/cgroup/systemd ;;
		cpuset) continue ;;
		*) h=/sys/fs/cgroup/$ctrl ;;
		esac
		[[ -d $h ]] || continue
		mkdir "$h${path%/}/${RUN_PREFIX}systemd" && SD_CGROUPS+=("$h${path%/}/${RUN_PREFIX}systemd")
	done </proc/self/cgroup
}
# sd_stop: PID 1 of the namespace killed (everything in it dies), its cgroups removed.
sd_stop() {
	local c
	[[ -z ${SD_PID:-} ]] || kill -KILL "$SD_PID" 2>/dev/null
	for c in ${SD_CGROUPS[@]+"${SD_CGROUPS[@]}"}; do
		wait_for 10 bash -c '[[ -z $(find "$1" -name cgroup.procs -exec cat {} +) ]]' _ "$c" >/dev/null 2>&1
		find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
		[[ ! -d $c ]] || say "    cannot remove the cgroup $c"
	done
	SD_PID=
	SD_CGROUPS=()
}

systemd_boot() {
	local d=$TMP/sd t
	mkdir -p "$d/units" "$d/hostrun"
	for t in sysinit basic shutdown; do
		printf '[Unit]\nDescription=%s (empty, for the test)\nDefaultDependencies=no\n' "$t" >"$d/units/$t.target"
	done
	printf '[Unit]\nDescription=shield test\nDefaultDependencies=no\nWants=systemd-journald.service\n' \
		>"$d/units/shield-test.target"
	ln -s "$SYSTEM_UNIT" "$d/units/nftsetd.service"
	cp /lib/systemd/system/systemd-journald.service /lib/systemd/system/systemd-journald.socket \
		/lib/systemd/system/systemd-journald-dev-log.socket "$d/units/"
	cat >"$d/boot.sh" <<-'BOOT'
		set -e
		d=$1
		mount --rbind /run "$d/hostrun"
		mount -t tmpfs -o mode=0755 tmpfs /run
		mkdir -m 0755 /run/netns
		mkdir -m 0700 /run/shield
		mount --rbind "$d/hostrun/netns" /run/netns
		mount --bind "$d/hostrun/shield" /run/shield
		# With cgroup v1 hierarchies (hybrid, as here) /sys/fs/cgroup is a
		# tmpfs systemd remounts read-only: its own, with the host's
		# hierarchies bound in. A cgroup2-only host's is used as it is.
		cg=$(awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts)
		if awk '$3 == "cgroup" { found = 1 } END { exit !found }' /proc/self/mounts; then
			mkdir -p "$d/hostcg"
			mount --rbind /sys/fs/cgroup "$d/hostcg"
			mount -t tmpfs -o mode=0755 tmpfs /sys/fs/cgroup
			for mp in $cg; do
				mkdir -p "$mp"
				mount --bind "$d/hostcg/${mp#/sys/fs/cgroup/}" "$mp"
			done
		fi
		[ ! -d /var/log/journal ] || mount -t tmpfs tmpfs /var/log/journal
		exec env -i container=shield-test SYSTEMD_UNIT_PATH="$d/units" \
			/lib/systemd/systemd --system --unit=shield-test.target
	BOOT
	sd_cgroups_make
	((${#SD_CGROUPS[@]} > 0)) || die "no cgroup made for the namespace's systemd"
	# shellcheck disable=SC2016 # expanded by that bash
	start_bg bash -c 'd=$1; shift; for c; do echo $$ >"$c/cgroup.procs"; done
		exec unshare --pid --mount --propagation private --mount-proc --kill-child bash "$d/boot.sh" "$d"' \
		_ "$d" "${SD_CGROUPS[@]}" >"$d/boot.log" 2>&1
	local unshare_pid=$LAST_PID
	wait_for 30 pgrep -P "$unshare_pid" >/dev/null || die "no PID 1 under unshare: $(cat "$d/boot.log")"
	SD_PID=$(pgrep -P "$unshare_pid")
	sd_up() {
		local st
		st=$(sd_exec systemctl is-system-running 2>/dev/null) || true
		[[ $st == running || $st == degraded ]]
	}
	wait_for 60 sd_up || die "systemd in the namespace did not come up: $(sd_exec systemctl is-system-running 2>&1) $(cat "$d/boot.log")"
	say "    systemd $(sd_exec systemctl --version | sed -n 1p | cut -d' ' -f2) is PID 1 of the namespace (host pid $SD_PID): $(sd_exec systemctl is-system-running 2>&1)"
}

real_systemd_checks() {
	say "# nftsetd started by a real systemd (PID 1 of a namespace of the test's)"
	[[ -x /lib/systemd/systemd ]] || {
		skip_or_fail "no /lib/systemd/systemd to run as PID 1 of a namespace"
		return 0
	}
	# The container's namespace first: the systemd namespace gets /run/netns as it is at boot.
	local N2=${RUN_PREFIX}sd ns2 hp
	UNIT_CAPS=$(unit_get CapabilityBoundingSet)
	shield_prepare "$N2" base:web
	BUNDLE_SD=$BUNDLE
	ns2=/run/netns/$CTR_NS
	systemd_boot
	start_nftsetd_real() {
		run_capture sd_exec systemctl start nftsetd.service
		[[ $RC == 0 ]] && [[ $(sd_exec systemctl is-active nftsetd.service) == active ]] && return 0
		say "    systemctl start nftsetd: exit $RC $ERR; $(sd_exec systemctl status --no-pager nftsetd.service 2>&1)"
		return 1
	}
	check "systemctl start nftsetd: active (Type=notify: it returned once READY=1 came)" start_nftsetd_real
	check "... its StatusText= is nftsetd's STATUS=" bash -c \
		'[[ $(nsenter -t "$1" -m -p -- systemctl show -P StatusText nftsetd.service) == "watching "*" containers, serving /run/shield/nftsetd.sock" ]]' _ "$SD_PID"
	check "... from the installed unit file" bash -c \
		'[[ $(readlink -f "$(nsenter -t "$1" -m -p -- systemctl show -P FragmentPath nftsetd.service)") == "$(readlink -f "$2")" ]]' _ "$SD_PID" "$SYSTEM_UNIT"
	hp=$(pgrep -x -f /usr/sbin/nftsetd | sed -n 1p) || true
	sandboxed() {
		local st mi want
		st=$(cat "/proc/$hp/status") && mi=$(cat "/proc/$hp/mountinfo") || return 1
		# shellcheck disable=SC2086 # the capabilities are words
		want=$(cap_mask $UNIT_CAPS)
		grep -qx "CapBnd:	$want" <<<"$st" && grep -qx "CapEff:	$want" <<<"$st" &&
			grep -qx "NoNewPrivs:	1" <<<"$st" && grep -qx "Seccomp:	2" <<<"$st" &&
			awk '$5 == "/" { root = $6 } $5 == "/var/lib/shield" { state = $6 } $5 == "/run/shield" { run = $6 }
				END { exit !(root ~ /^ro/ && state ~ /^rw/ && run ~ /^rw/) }' <<<"$mi" && return 0
		say "    nftsetd (host pid $hp): $(grep -E '^(Cap|NoNewPrivs|Seccomp)' <<<"$st" | tr '\n' ' ')"
		awk '$5 == "/" || $5 ~ /shield/ { print "      " $5, $6 }' <<<"$mi" >&2
		return 1
	}
	check "systemd applied the unit's sandbox: capabilities, no new privileges, a seccomp filter, / read-only, the state and runtime dirs writable" sandboxed
	run_sd_container() {
		podman_root_argv
		run_capture sd_exec "${PODMAN_ROOT_ARGV[@]}" run -d "${SHIELD_ARGS[@]}" --rootfs "$ROOTFS" /bin/sleep 3600
		[[ $RC == 0 ]] && return 0
		say "    podman run $N2 in the namespace: exit $RC: $OUT $ERR"
		return 1
	}
	check "a shielded container started with podman in that namespace" run_sd_container
	# shield_in: the CLI as an operator runs it there.
	shield_in() {
		sd_exec env -i PATH="$CLEAN_PATH" HOME=/root SHIELD_PODMAN="$(podman_root_wrapper)" \
			"$SHIELD_BIN" --config-dir "$CONFIG_DIR" "$@"
	}
	check "shield drift reports it through the systemd-started nftsetd: clean" wait_for 60 \
		drift_is shield_in "$N2" 0 '.source == "nftsetd" and ([.containers[].name] | index($n)) != null and
			(.containers[] | select(.name == $n) | .clean)'
	nsenter --net="$ns2" nft add element inet terok_shield allow_v4 '{ 198.18.9.9 }' || true
	check "an element added with nft: shield drift exits 3, drift.unexplained open" wait_for 30 \
		drift_is shield_in "$N2" 3 '.source == "nftsetd" and (.containers[] | select(.name == $n) | .checks[] |
			select(.kind == "drift.unexplained") | .state == "open" and any(.open[]; .ip == "198.18.9.9"))'
	journal_has_drift() {
		local j
		j=$(sd_exec journalctl -u nftsetd.service -o json --no-pager SHIELD_EVENT_KIND=drift.unexplained 2>&1) || true
		jq -e -s --arg n "$N2" 'any(.[]; ._TRANSPORT == "journal" and .PRIORITY == "4" and .SHIELD_CONTAINER == $n and
			.SHIELD_IP == "198.18.9.9" and .SHIELD_SET == "allow_v4" and ._SYSTEMD_UNIT == "nftsetd.service")' \
			<<<"$j" >/dev/null 2>&1 && return 0
		say "    journalctl -u nftsetd SHIELD_EVENT_KIND=drift.unexplained: $(head -c 2000 <<<"$j")"
		return 1
	}
	check "journalctl -u nftsetd SHIELD_EVENT_KIND=drift.unexplained: a warning naming the container, ip and set" \
		wait_for 30 journal_has_drift
	nsenter --net="$ns2" nft delete element inet terok_shield allow_v4 '{ 198.18.9.9 }' || true
	run_capture sd_exec systemctl stop nftsetd.service
	check "systemctl stop nftsetd: inactive, not failed (it exited 0)" bash -c \
		'[[ $(nsenter -t "$1" -m -p -- systemctl is-active nftsetd.service) == inactive ]]' _ "$SD_PID"
	journal_clean_stop() {
		sd_exec journalctl -u nftsetd.service -o cat --no-pager 2>/dev/null | grep -qx 'stopped cleanly' && return 0
		say "    nftsetd's journal: $(sd_exec journalctl -u nftsetd.service --no-pager 2>&1 | tail -n 20)"
		return 1
	}
	check "... its journal ends with 'stopped cleanly'" journal_clean_stop
	sd_exec "${PODMAN_ROOT_ARGV[@]}" stop -t 0 "$N2" >/dev/null 2>&1 || true
	sd_exec "${PODMAN_ROOT_ARGV[@]}" rm -f "$N2" >/dev/null 2>&1 || true
	sd_exec systemctl poweroff >/dev/null 2>&1 || true
	wait_for 30 bash -c '! kill -0 "$1" 2>/dev/null' _ "$SD_PID" >/dev/null 2>&1 ||
		say "    the namespace's systemd did not power off; killed"
	sd_stop
	host_cgroup_rw() {
		[[ $(awk '$5 == "/sys/fs/cgroup" { print substr($6, 1, 2) }' /proc/self/mountinfo) == rw ]] && return 0
		say "    the host's /sys/fs/cgroup is not read-write any more"
		return 1
	}
	check "the host's /sys/fs/cgroup is untouched (read-write, the test's cgroups gone)" host_cgroup_rw
}

# ------------------------------------------------------------ 4. operator's view

say "# shield check, status, rules, profiles from the installed tree"
scenario_world root
# The bundle in the default state root, where an operator's would live.
[[ -d $STATE_DEFAULT ]] || mkdir -m 0700 "$STATE_DEFAULT"
[[ -d $STATE_DEFAULT/containers ]] || mkdir -m 0700 "$STATE_DEFAULT/containers"
# shellcheck disable=SC2034 # lib.sh's shield (shield_prepare) reads it
STATE_ROOT=$STATE_DEFAULT
N=${RUN_PREFIX}pkg
BUNDLE_KEPT=$STATE_DEFAULT/containers/$N

# The CLI as an operator runs it: clean environment, podman's real
# configuration files for hooks_dir (no CONTAINERS_CONF in shield's own
# environment), the test's podman storage through SHIELD_PODMAN.
op() {
	env -i PATH="$CLEAN_PATH" HOME=/root SHIELD_PODMAN="$(podman_root_wrapper)" \
		"$SHIELD_BIN" --config-dir "$CONFIG_DIR" "$@"
}
check_passes() {
	run_capture op check
	printf '%s\n' "$OUT" | sed 's/^/    /' >&2
	[[ $RC == 0 ]] && grep -q "^OK   hooks: installed in $SYSTEM_HOOKS" <<<"$OUT" && return 0
	say "    shield check exited $RC: $ERR"
	return 1
}
check "shield check passes, the hooks found in $SYSTEM_HOOKS through podman's own settings" check_passes

profiles_installed() {
	run_capture op profiles --json
	[[ $RC == 0 ]] && jq -e '[.. | strings | select(startswith("/usr/share/shield/profiles/"))] | length > 0' \
		<<<"$OUT" >/dev/null && return 0
	run_capture op profiles
	[[ $RC == 0 && $OUT == *"/usr/share/shield/profiles"* ]] && return 0
	say "    shield profiles (exit $RC) does not show /usr/share/shield/profiles: $OUT $ERR"
	return 1
}
check "shield profiles lists the installed bundled profiles" profiles_installed

write_profile web "$DNS_NAME_ALLOWED"
shield_prepare "$N" base:web
check "the bundle is in the default state root" test -f "$BUNDLE/shield.conf"
bundled_domain_in_bundle() {
	grep -rqs 'pool.ntp.org' "$BUNDLE" && return 0
	say "    no domain of the bundled profile base in $BUNDLE"
	return 1
}
check "the bundle holds the installed profile base's domains" bundled_domain_in_bundle
shield_run
check "podman runs the shielded container with the package's hook" running "$N"
if _is_running "$N"; then
	check "the container reaches its allowed host" expect_fetch "$N" "$DNS_NAME_ALLOWED" "$PUB_ALLOWED" "$PUB6_ALLOWED"
	check "and is refused another" expect_blocked "$N" "$PUB_OTHER"
	check "the hook registered it in $RUNTIME_DEFAULT" expect_registered "$(container_id "$N")"
	status_up() {
		run_capture op status "$N"
		[[ $RC == 0 && $OUT == up ]] && return 0
		say "    shield status $N: exit $RC: $OUT $ERR"
		return 1
	}
	check "shield status NAME says up" status_up
	rules_show_table() {
		run_capture op rules "$N"
		[[ $RC == 0 && $OUT == *"table inet terok_shield"* ]] && return 0
		say "    shield rules $N: exit $RC: $OUT $ERR"
		return 1
	}
	check "shield rules NAME prints the live table" rules_show_table
	unit_nftsetd_checks
fi
podman_root stop -t 0 "$N" >/dev/null 2>&1 || true
check "the container is stopped" test "$(container_state "$N")" = exited
real_systemd_checks

# ------------------------------------------------------------ 5. purge

say "# purge"
owned_only_by_shield=()
for p in "${LISTED[@]}"; do
	[[ -d $p && ! -L $p ]] || continue
	owners=$(dpkg-query -S "$p" 2>/dev/null | awk -F': ' -v p="$p" '$2 == p { print $1 }')
	[[ $owners == shield ]] && owned_only_by_shield+=("$p")
done
say "    directories only shield owns: ${owned_only_by_shield[*]}"
DEBIAN_FRONTEND=noninteractive apt-get purge "${APT_OPTS[@]}" shield >"$TMP/purge.log" 2>&1 || {
	cat "$TMP/purge.log" >&2
	die "apt-get purge shield failed"
}
_INSTALLED=0
all_gone() {
	local p left=()
	for p in "${LISTED[@]}"; do
		# A directory, or a link to one that the system owns (/lib on merged /usr).
		if [[ -d $p ]]; then
			[[ " ${owned_only_by_shield[*]} " != *" $p "* ]] && continue
		fi
		[[ -e $p || -L $p ]] && left+=("$p")
	done
	((${#left[@]} == 0)) && return 0
	say "    left after the purge: ${left[*]}"
	return 1
}
check "the purge removes every file and every directory only shield owned" all_gone
check "the purge removes nftsetd.service's enablement ($UNIT_WANTS)" test ! -e "$UNIT_WANTS" -a ! -L "$UNIT_WANTS"
no_helper_state() {
	local left
	left=$(find /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-user-helper-enabled \
		-name 'nftsetd.service*' 2>/dev/null) || true
	[[ -z $left ]] && return 0
	say "    deb-systemd-helper still has: $left"
	return 1
}
check "... and deb-systemd-helper's state of it" no_helper_state
not_known() {
	local st
	st=$(shield_pkg_state)
	[[ $st == "" || $st == not-installed ]] && return 0
	say "    dpkg still has shield, in state $st"
	return 1
}
check "dpkg knows no shield package any more (purged, not just removed)" not_known
check "the stopped container's bundle survives the purge" test -f "$BUNDLE/shield.conf"
check "$RUNTIME_DEFAULT survives the purge" test -d "$RUNTIME_DEFAULT"
say "    total: $(elapsed)"
finish
