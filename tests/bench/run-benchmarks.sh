#!/usr/bin/env bash
# Run shield's benchmarks (issue 7) and write BENCHMARKS.md at the top of
# the tree: the machine, the date, the commit, a summary table of every
# target, then each benchmark's section (tests/bench/bench-N-NAME.sh, N 1-9,
# in order; see lib-bench.sh for what a benchmark writes).
#
#   sudo tests/bench/run-benchmarks.sh                  every benchmark
#   sudo BENCH_ONLY="1 4" tests/bench/run-benchmarks.sh  a subset, by number
#
# As root: it installs what is missing (.ci/install-deps; BENCH_NO_DEPS=1
# skips that), builds the release preset (optimised, no sanitizers) and runs
# each benchmark with the release binaries. A benchmark that cannot run
# (tool missing, the original's source absent) says so in its section with
# verdict "not run"; one that fails says so with verdict "failed" and its
# log; the runner goes on either way and exits non-zero at the end if any
# benchmark failed. Each benchmark's log (stderr: progress, failures) is in
# build/release/bench/N-NAME.log next to its raw fragment.
#
# Environment: BENCH_ONLY (numbers), BENCH_RUNS (repetitions, for every
# benchmark; each has its own default), BENCH_TIMEOUT (seconds a benchmark
# may take before it ends itself through its cleanup, default 1800),
# BENCH_RESULT (the file written, default BENCHMARKS.md at the top of the
# tree), BENCH_NO_DEPS=1, BENCH_NO_BUILD=1 (use build/release as it is).
# Anything else a benchmark reads (BENCH_EVERY, BENCH_SIZES, ...) passes
# through.
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=$(pwd)

say() { printf 'run-benchmarks: %s\n' "$*" >&2; }

[[ $(id -u) == 0 ]] || {
	say "run as root: the benchmarks build network namespaces and nftables rulesets"
	exit 1
}
ONLY=${BENCH_ONLY:-1 2 3 4 5 6 7 8 9}
for n in $ONLY; do
	[[ $n =~ ^[1-9]$ ]] || {
		say "BENCH_ONLY takes benchmark numbers 1-9, not '$n'"
		exit 2
	}
done
TIMEOUT=${BENCH_TIMEOUT:-1800}
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || {
	say "BENCH_TIMEOUT must be a number of seconds, not '$TIMEOUT'"
	exit 2
}
RESULT=${BENCH_RESULT:-$SRC/BENCHMARKS.md}

if [[ ${BENCH_NO_DEPS:-0} != 1 ]]; then
	.ci/install-deps
fi
BUILD=$SRC/build/release
if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
	say "building the release preset ..."
	cmake --preset release >/dev/null
	cmake --build --preset release -j "$(nproc)" >/dev/null
fi
export SHIELD_SOURCE_DIR=$SRC SHIELD_DATA_DIR=$SRC
export SHIELD_BIN=$BUILD/helper/shield
export SHIELD_HOOK_BIN=$BUILD/helper/shield-hook
export NFTSETD_BIN=$BUILD/nftsetd/nftsetd
export BENCH_BIN_DIR=$BUILD/tests/bench
export BENCH_TIME_BIN=$BENCH_BIN_DIR/bench-time
export SHIELD_TEST_TIMEOUT=$TIMEOUT
for b in "$SHIELD_BIN" "$SHIELD_HOOK_BIN" "$NFTSETD_BIN" "$BENCH_TIME_BIN"; do
	[[ -x $b ]] || {
		say "$b is missing: the release build did not produce it"
		exit 1
	}
done

OUT=$BUILD/bench
rm -rf "$OUT"
mkdir -p "$OUT"
export BENCH_OUT=$OUT

# ------------------------------------------------------------- the machine

pkg_version() {
	local v
	v=$(dpkg-query -W -f='${Version}' "$1" 2>/dev/null) || v=
	printf '%s %s' "$1" "${v:-not installed}"
}
started=$(date -u '+%Y-%m-%d %H:%M UTC')
load=$(cut -d' ' -f1-3 /proc/loadavg)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
branch=$(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
[[ -z $(git status --porcelain --untracked-files=no 2>/dev/null) ]] || commit="$commit (with uncommitted changes)"
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
versions=()
for p in nftables libnftnl11 libmnl0 libuv1 libjansson4 dnsmasq-base podman runc python3 gcc; do
	versions+=("$(pkg_version "$p")")
done

# ------------------------------------------------------------------- run

failed=0
for n in $ONLY; do
	scripts=("$SRC"/tests/bench/bench-"$n"-*.sh)
	if [[ ! -e ${scripts[0]} ]]; then
		say "benchmark $n: no tests/bench/bench-$n-*.sh"
		printf '%s\t%s\t%s\t%s\t%s\n' "$n" "benchmark $n" "—" "no script" "not run" >>"$OUT/summary.tsv"
		continue
	fi
	for script in "${scripts[@]}"; do
		name=$(basename "${script%.sh}")
		name=${name#bench-}
		say "benchmark $name ..."
		rc=0
		bash "$script" >"$OUT/$name.stdout" 2>"$OUT/$name.log" || rc=$?
		[[ -s $OUT/$name.stdout ]] || rm -f "$OUT/$name.stdout"
		if [[ $rc == 0 ]]; then
			say "benchmark $name: done"
		elif [[ $rc == 77 ]]; then
			say "benchmark $name: not run ($(tail -n 1 "$OUT/$name.log"))"
			if [[ ! -s $OUT/$name.md ]]; then
				printf '## %s\n\nNot run: %s\n\n' "$name" "$(tail -n 1 "$OUT/$name.log")" >"$OUT/$name.md"
				printf '%s\t%s\t%s\t%s\t%s\n' "$n" "$name" "—" "—" "not run" >>"$OUT/summary.tsv"
			fi
		else
			failed=$((failed + 1))
			say "benchmark $name: FAILED (exit $rc), see $OUT/$name.log"
			[[ -s $OUT/$name.md ]] || printf '## %s\n\n' "$name" >"$OUT/$name.md"
			{
				printf '**Failed** (exit %s); the end of its log:\n\n```\n' "$rc"
				tail -n 15 "$OUT/$name.log"
				printf '```\n\n'
			} >>"$OUT/$name.md"
			printf '%s\t%s\t%s\t%s\t%s\n' "$n" "$name" "—" "exit $rc" "failed" >>"$OUT/summary.tsv"
		fi
	done
done

# ------------------------------------------------------------ BENCHMARKS.md

# A table cell: no line breaks, '|' escaped.
cell() { printf '%s' "$1" | tr '\n' ' ' | sed 's/|/\\|/g'; }

{
	echo "# shield benchmarks"
	echo
	echo "Generated by \`sudo tests/bench/run-benchmarks.sh\` (release build, RelWithDebInfo -O2)"
	echo "on $started, commit $commit on branch $branch. Every comparison is measured"
	echo "side by side in one run, interleaved (A1 B1 A2 B2 ..., the order alternating),"
	echo "and given as min / median / max of the per-pair ratios; absolute times are"
	echo "context only: this machine is shared and noisy (load average at the start: $load)."
	echo "No target was loosened; where one is missed, its section says by how much and why."
	echo
	echo "## Machine"
	echo
	echo "- CPU: $(nproc) cores, $cpu"
	echo "- RAM: $mem"
	echo "- Kernel: $(uname -srm)"
	echo "- OS: $(. /etc/os-release && echo "$PRETTY_NAME")"
	printf -- '- Packages: %s' "${versions[0]}"
	printf ', %s' "${versions[@]:1}"
	echo
	echo
	echo "## Summary"
	echo
	echo "| # | what | target | measured | verdict |"
	echo "| ---: | --- | --- | --- | --- |"
	if [[ -s $OUT/summary.tsv ]]; then
		while IFS=$'\t' read -r n what target measured verdict; do
			echo "| $n | $(cell "$what") | $(cell "$target") | $(cell "$measured") | **$(cell "$verdict")** |"
		done <"$OUT/summary.tsv"
	fi
	echo
	for n in $ONLY; do
		for f in "$OUT/$n"-*.md; do
			[[ -e $f ]] || continue
			cat "$f"
			echo
		done
	done
} >"$RESULT.tmp"
mv "$RESULT.tmp" "$RESULT"
if ((failed)); then
	say "wrote $RESULT; $failed benchmark(s) failed"
	exit 1
fi
say "wrote $RESULT"
