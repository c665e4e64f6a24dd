# shellcheck shell=bash
# Common helpers for shield's benchmarks (tests/bench/bench-N-NAME.sh).
#
# Source it from a `set -euo pipefail` bash script, instead of (it sources)
# tests/integration/lib.sh: namespaces, processes and temp dirs are torn
# down by lib.sh's trap, also when a benchmark fails half-way.
#
# A benchmark measures, it asserts no timing: it exits non-zero only when
# what it measures fails functionally (a command errors, a table is
# missing, events are lost). Every comparison is measured side by side in
# one run, interleaved (A1 B1 A2 B2 ...), so the noise of this shared
# machine hits both alike; absolute times are context only.
#
# Output: a Markdown fragment and summary lines.
#   - With BENCH_OUT set (a directory; run-benchmarks.sh sets it) the
#     fragment goes to $BENCH_OUT/N-NAME.md (from the script's name
#     bench-N-NAME.sh) and each verdict adds a line to
#     $BENCH_OUT/summary.tsv: N<TAB>what<TAB>target<TAB>measured<TAB>verdict
#     (verdict: met, missed, report or not run).
#   - Without it the fragment goes to stdout (summary lines to stderr).
# A fragment reads:
#   bench_section 4 "Set element writes"      -> "## 4. Set element writes"
#   bench_reproduce "sudo ..." ["other way"]  -> "Reproduce: `...` or `...`"
#   bench_table variant runs min median max unit   (header + separator)
#   bench_row "nft add element" 200 1.1 1.3 4.0 ms (one row; or
#   bench_stats_row LABEL UNIT FILE [DIVISOR]: the row of a file of numbers)
#   bench_ratio_row LABEL A_FILE B_FILE        (per-pair ratios B/A)
#   bench_verdict 4 "≥ 10×" "23.1× (median)" met "why ..." [what]
#   bench_text "A paragraph of what the numbers mean."
# A requirement that is not there (require_root, require_cmd, a missing
# binary) after bench_section writes the section's "not run" verdict with
# the reason, then skips as lib.sh does (exit 77; a failure under
# SHIELD_REQUIRE_ALL_TESTS=1).
#
# Environment: BENCH_RUNS (repetitions; each script has its default),
# BENCH_OUT (above), BENCH_TIME_BIN (tests/bench/bench-time.c, the timer of
# whole processes), BENCH_BIN_DIR (where the C helpers are; default: the
# timer's directory), SHIELD_BIN etc. as lib.sh.

[[ -z ${_SHIELD_LIB_BENCH_SH:-} ]] || return 0
_SHIELD_LIB_BENCH_SH=1

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

# The C helpers: from the build the runner (or ctest) names, else the
# release build when there is one, else dev.
if [[ -z ${BENCH_BIN_DIR:-} ]]; then
	if [[ -n ${BENCH_TIME_BIN:-} ]]; then
		BENCH_BIN_DIR=$(dirname "$BENCH_TIME_BIN")
	elif [[ -x $SHIELD_SOURCE_DIR/build/release/tests/bench/bench-time ]]; then
		BENCH_BIN_DIR=$SHIELD_SOURCE_DIR/build/release/tests/bench
	else
		BENCH_BIN_DIR=$SHIELD_SOURCE_DIR/build/dev/tests/bench
	fi
fi
BENCH_TIME_BIN=${BENCH_TIME_BIN:-$BENCH_BIN_DIR/bench-time}
export BENCH_BIN_DIR BENCH_TIME_BIN

# The fragment's name: bench-4-set-writes.sh -> 4-set-writes.md.
BENCH_NAME=${TEST_NAME#bench-}
BENCH_FRAG=
if [[ -n ${BENCH_OUT:-} ]]; then
	mkdir -p "$BENCH_OUT" || die "cannot create BENCH_OUT=$BENCH_OUT"
	BENCH_FRAG=$BENCH_OUT/$BENCH_NAME.md
fi
_BENCH_N=
_BENCH_TITLE=

# ------------------------------------------------------------------ numbers

# bench_runs DEFAULT: the repetitions, BENCH_RUNS or DEFAULT (a positive
# integer, or die).
bench_runs() {
	local n=${BENCH_RUNS:-$1}
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive number, not '$n'"
	printf '%s\n' "$n"
}

# The awk function that prints a number for a table: 3 significant digits
# at least, no exponent, no useless decimals (12345, 123, 12.3, 1.23, 0.0123).
_BENCH_AWK_FMT='
function fmt(x,   a) {
	a = x < 0 ? -x : x
	if (a >= 100) return sprintf("%.0f", x)
	if (a >= 10) return sprintf("%.1f", x)
	if (a >= 1) return sprintf("%.2f", x)
	if (a == 0) return "0"
	return sprintf("%.3g", x)
}
function stats(n,   m) {
	# v[1..n] sorted ascending
	m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	return fmt(v[1]) " " fmt(m) " " fmt(v[n])
}'

# bench_stats NUMBER...: "min median max" (the median of an even count is
# the mean of the middle two), formatted for a table.
bench_stats() {
	(($# > 0)) || die "bench_stats: no numbers"
	printf '%s\n' "$@" | bench_stats_file /dev/stdin
}

# bench_stats_file FILE [DIVISOR]: "min median max" of the numbers in FILE
# (one per line), each divided by DIVISOR (e.g. 1e6: nanoseconds to ms).
bench_stats_file() {
	local div=${2:-1}
	sort -g "$1" | awk -v d="$div" "$_BENCH_AWK_FMT"'
		NF { v[++n] = $1 / d }
		END { if (!n) exit 1; print stats(n) }' || die "bench_stats: no numbers in $1"
}

# bench_ratio_pairs A_FILE B_FILE: "min median max" of the per-pair ratios
# B_i / A_i (line i of each file: run i of variant A and of variant B,
# measured back to back). With A the faster, each ratio says how many times
# faster A was in that pair.
bench_ratio_pairs() {
	paste "$1" "$2" | awk '
		NF == 2 && $1 > 0 { print $2 / $1; next }
		NF { bad = 1 }
		END { exit bad }' | sort -g | awk "$_BENCH_AWK_FMT"'
		{ v[++n] = $1 }
		END { if (!n) exit 1; print stats(n) }' ||
		die "bench_ratio_pairs: $1 and $2 are not pairs of positive numbers"
	[[ $(wc -l <"$1") == "$(wc -l <"$2")" ]] ||
		die "bench_ratio_pairs: $1 and $2 hold different run counts"
}

# bench_median FILE [DIVISOR]: the median alone, unformatted (for a
# verdict's comparison).
bench_median() {
	local div=${2:-1}
	sort -g "$1" | awk -v d="$div" 'NF { v[++n] = $1 / d } END {
		if (!n) exit 1
		printf "%.6g\n", n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }' ||
		die "bench_median: no numbers in $1"
}

# bench_ge X Y: true when the number X >= Y; bench_le likewise.
bench_ge() { awk -v x="$1" -v y="$2" 'BEGIN { exit !(x + 0 >= y + 0) }'; }
bench_le() { awk -v x="$1" -v y="$2" 'BEGIN { exit !(x + 0 <= y + 0) }'; }

# bench_time OUT CMD...: run CMD, append its time (ns, fork to exit) to
# OUT; CMD's exit status is returned.
bench_time() {
	[[ -x $BENCH_TIME_BIN ]] || die "bench-time not found at BENCH_TIME_BIN=$BENCH_TIME_BIN (build it first)"
	"$BENCH_TIME_BIN" "$@"
}

# bench_require_bin PATH...: the C helpers this benchmark drives are built.
bench_require_bin() {
	local b
	for b in "$@"; do
		[[ -x $b ]] || skip_or_fail "$(basename "$b") not found at $b (build the release preset first: cmake --build --preset release)"
	done
}

# ----------------------------------------------------------------- fragment

# Append lines to the fragment (stdout when there is no BENCH_OUT).
_bench_emit() {
	if [[ -n $BENCH_FRAG ]]; then
		printf '%s\n' "$@" >>"$BENCH_FRAG"
	else
		printf '%s\n' "$@"
	fi
}

# bench_section N TITLE: start the fragment (a new file) with "## N. TITLE".
bench_section() {
	_BENCH_N=$1
	_BENCH_TITLE=$2
	[[ -z $BENCH_FRAG ]] || : >"$BENCH_FRAG"
	_bench_emit "## $1. $2" ""
}

# bench_reproduce COMMAND...: the line that says how to reproduce it (each
# COMMAND a way to, in backticks, joined by "or").
bench_reproduce() {
	local line="Reproduce: \`$1\`" c
	shift
	for c in "$@"; do line+=" or \`$c\`"; done
	_bench_emit "$line" ""
}

# bench_text LINE...: a paragraph (then a blank line).
bench_text() { _bench_emit "$@" ""; }

# bench_table HEADER...: a table's header and separator (the first column
# left-aligned, the others right-aligned); end the table with bench_text
# or bench_end_table.
bench_table() {
	local h=("$@") sep="| ---" i
	for ((i = 1; i < ${#h[@]}; i++)); do sep+=" | ---:"; done
	_bench_emit "$(printf '| %s ' "${h[@]}")|" "$sep |"
}

# bench_row CELL...: one row.
bench_row() { _bench_emit "$(printf '| %s ' "$@")|"; }

# bench_end_table: the blank line after a table.
bench_end_table() { _bench_emit ""; }

# bench_stats_row LABEL UNIT FILE [DIVISOR]: the row "LABEL | runs | min |
# median | max | UNIT" of the numbers in FILE (for a table with the header
# variant, runs, min, median, max, unit).
bench_stats_row() {
	local label=$1 unit=$2 file=$3 div=${4:-1} n mn md mx
	n=$(grep -c . "$file") || true
	read -r mn md mx < <(bench_stats_file "$file" "$div")
	bench_row "$label" "$n" "$mn" "$md" "$mx" "$unit"
}

# bench_ratio_row LABEL A_FILE B_FILE: the row of the per-pair ratios B/A
# (same columns as bench_stats_row, unit ×).
bench_ratio_row() {
	local label=$1 n mn md mx
	n=$(grep -c . "$2") || true
	read -r mn md mx < <(bench_ratio_pairs "$2" "$3")
	bench_row "$label" "$n" "$mn" "$md" "$mx" "×"
}

# bench_verdict N TARGET MEASURED VERDICT WHY [WHAT]: the target line of
# the fragment and one summary line. VERDICT: met, missed, report (a figure
# with no target) or "not run". WHAT (default: the section's title) names
# the line in the summary, for a benchmark with several targets.
bench_verdict() {
	local n=$1 target=$2 measured=$3 verdict=$4 why=$5 what=${6:-$_BENCH_TITLE}
	case $verdict in
	met | missed | report | "not run") ;;
	*) die "bench_verdict: verdict must be met, missed, report or 'not run', not '$verdict'" ;;
	esac
	_bench_emit "**${what}** — target: ${target}; measured: ${measured}; verdict: **${verdict}**."
	[[ -z $why ]] || _bench_emit "$why"
	_bench_emit ""
	local line
	line=$(printf '%s\t%s\t%s\t%s\t%s' "$n" "$what" "$target" "$measured" "$verdict")
	if [[ -n ${BENCH_OUT:-} ]]; then
		printf '%s\n' "$line" >>"$BENCH_OUT/summary.tsv"
	else
		say "summary: $line"
	fi
}

# A missing requirement after bench_section: say so in the fragment
# ("not run" and the reason), then skip as lib.sh does.
eval "_bench_lib_skip_or_fail() $(declare -f skip_or_fail | tail -n +2)"
skip_or_fail() {
	if [[ -n $_BENCH_N ]]; then
		bench_verdict "$_BENCH_N" "—" "—" "not run" "Not run: $*."
		_BENCH_N=
	fi
	_bench_lib_skip_or_fail "$@"
}
