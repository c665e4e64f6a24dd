#!/usr/bin/env bash
# nftsetd's systemd units (packaging/systemd/*.service.in), offline:
#
# - `systemd-analyze verify` (system unit) and `systemd-analyze --user
#   verify` (user unit) print nothing and exit 0, with ExecStart= naming the
#   nftsetd under test (as CMake's configure_file names the installed one)
#   and the man pages of man/ for Documentation= (systemd runs `man` on
#   them). verify only warns about an unknown or malformed directive, so any
#   output fails; a unit broken on purpose shows that it does (else this
#   check would prove nothing).
# - `systemd-analyze security --offline=true` of the system unit: its
#   overall exposure is at most UNIT_EXPOSURE_MAX (a regression in the
#   sandboxing raises it; not a timing) and is printed, with the user
#   unit's for information.
# - the system unit's CapabilityBoundingSet= is the three capabilities
#   nftsetd was found to need (tests/integration/test-nftsetd.sh under
#   setpriv): adding one must be a decision, made here too.
#
# Exit 77 when systemd-analyze or man is missing (a failure with
# SHIELD_REQUIRE_ALL_TESTS=1). systemd need not run (it is not PID 1 here).
set -euo pipefail

SRC=${SHIELD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
NFTSETD_BIN=${NFTSETD_BIN:-$SRC/build/dev/nftsetd/nftsetd}
readonly UNIT_EXPOSURE_MAX=${UNIT_EXPOSURE_MAX:-3.0}
readonly CAPS_WANTED="CAP_NET_ADMIN CAP_SYS_ADMIN CAP_SYS_PTRACE"

LINT_NAME=check-units
# shellcheck source=tests/lint/lib-lint.sh
source "$SRC/tests/lint/lib-lint.sh"
command -v systemd-analyze >/dev/null || missing "needs systemd-analyze (apt-get install systemd)"
command -v man >/dev/null || missing "needs man (apt-get install man-db)"
[[ -x $NFTSETD_BIN ]] || missing "nftsetd not built at $NFTSETD_BIN"

TMP=$(mktemp -d /tmp/check-units-XXXXXX)
trap 'rm -rf -- "$TMP"' EXIT
mkdir -p "$TMP/system" "$TMP/user" "$TMP/man" "$TMP/xdg"
chmod 0700 "$TMP/xdg"
# The pages where man finds them: MANPATH/manN/NAME.N.
for page in "$SRC"/man/*.[1-9]; do
	mkdir -p "$TMP/man/man${page##*.}"
	ln -s "$page" "$TMP/man/man${page##*.}/"
done
sbindir=$(cd "$(dirname "$NFTSETD_BIN")" && pwd)
# configure_file's @ONLY substitution, with the nftsetd under test.
configure() {
	sed "s#@SHIELD_UNIT_SBINDIR@#$sbindir#g" "$1" >"$2"
	! grep -n '@[A-Z_]*@' "$2" || problem "$1: a @VARIABLE@ that CMake does not substitute"
}
configure "$SRC/packaging/systemd/nftsetd.service.in" "$TMP/system/nftsetd.service"
configure "$SRC/packaging/systemd/user/nftsetd.service.in" "$TMP/user/nftsetd.service"
grep -q "^ExecStart=$sbindir/nftsetd\$" "$TMP/system/nftsetd.service" ||
	problem "the system unit's ExecStart= is not the installed nftsetd (@SHIELD_UNIT_SBINDIR@/nftsetd)"

# verify_quiet WHAT ARGS...: systemd-analyze ARGS exits 0 and prints nothing.
verify_quiet() {
	local what=$1 out rc=0
	shift
	out=$(MANPATH=$TMP/man XDG_RUNTIME_DIR=$TMP/xdg systemd-analyze "$@" 2>&1) || rc=$?
	if [[ $rc != 0 || -n $out ]]; then
		problem "$what: systemd-analyze $* (exit $rc):"
		printf '%s\n' "$out" | sed 's/^/    /' >&2
		return 1
	fi
	printf 'check-units: %s: systemd-analyze verify is silent\n' "$what" >&2
}
verify_quiet "system unit" verify "$TMP/system/nftsetd.service" || true
verify_quiet "user unit" --user verify "$TMP/user/nftsetd.service" || true

# The check fails a broken unit: a misspelt value and an unknown key.
sed -e 's/^ProtectSystem=strict$/ProtectSystem=strickt/' -e '/^\[Service\]$/a NoSuchKey=1' \
	"$TMP/system/nftsetd.service" >"$TMP/system/broken.service"
out=$(MANPATH=$TMP/man systemd-analyze verify "$TMP/system/broken.service" 2>&1) || true
[[ $out == *strickt* && $out == *NoSuchKey* ]] ||
	problem "systemd-analyze verify said nothing about a broken unit (this check would prove nothing): $out"

# exposure WHAT ARGS...: the overall exposure systemd-analyze security prints.
exposure() {
	local out
	out=$(XDG_RUNTIME_DIR=$TMP/xdg systemd-analyze "$@" 2>&1) || true
	sed -nE 's/.*Overall exposure level for [^:]*: ([0-9]+\.[0-9]+).*/\1/p' <<<"$out"
}
score=$(exposure security --offline=true "$TMP/system/nftsetd.service")
if [[ -z $score ]]; then
	problem "systemd-analyze security --offline=true printed no exposure level for the system unit"
else
	printf 'check-units: system unit: systemd-analyze security exposure %s (at most %s)\n' \
		"$score" "$UNIT_EXPOSURE_MAX" >&2
	awk -v s="$score" -v m="$UNIT_EXPOSURE_MAX" 'BEGIN { exit !(s <= m) }' ||
		problem "the system unit's exposure $score is above $UNIT_EXPOSURE_MAX: its sandboxing got weaker"
	# --threshold makes systemd-analyze itself fail above the bound.
	systemd-analyze security --offline=true --threshold="$(awk -v m="$UNIT_EXPOSURE_MAX" 'BEGIN { printf "%d", m * 10 }')" \
		"$TMP/system/nftsetd.service" >/dev/null 2>&1 ||
		problem "systemd-analyze security --threshold fails the system unit"
fi
uscore=$(exposure --user security --offline=true "$TMP/user/nftsetd.service")
printf 'check-units: user unit: systemd-analyze security exposure %s (for information: a user manager cannot mount or drop capabilities it never had)\n' \
	"${uscore:-unknown}" >&2

caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$TMP/system/nftsetd.service")
[[ $caps == "$CAPS_WANTED" ]] ||
	problem "the system unit's CapabilityBoundingSet= is '$caps', not '$CAPS_WANTED'"

if ((failed)); then
	exit 1
fi
printf 'check-units: ok\n' >&2
