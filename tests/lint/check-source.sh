#!/usr/bin/env bash
# Source checks (STYLE.md "Build and checks"): no banned libc calls, and every
# C file formatted as .clang-format says. Fails with the offending lines.
set -euo pipefail
cd "${SHIELD_SOURCE_DIR:-$(dirname "$0")/../..}"

mapfile -t files < <(git ls-files -co --exclude-standard -- '*.c' '*.h' 2>/dev/null ||
	find shared helper nftsetd tests -name '*.[ch]')
status=0

banned='\b(sprintf|vsprintf|strcpy|strcat|atoi|atol|strtok|system|popen|gets)[[:space:]]*\('
if grep -nE "$banned" "${files[@]}"; then
	echo "check-source: banned functions above (use snprintf, memcpy with lengths, strtoul, strtok_r-free splitting, fork/exec)" >&2
	status=1
fi

if ! command -v clang-format >/dev/null 2>&1; then
	echo "check-source: clang-format is not installed" >&2
	exit 1
fi
for f in "${files[@]}"; do
	if ! clang-format --dry-run -Werror "$f" 2>/dev/null; then
		echo "check-source: $f is not formatted (run: clang-format -i $f)" >&2
		status=1
	fi
done

# A script with a #! line is meant to be run as the README and the usage
# comments say (tests/bench/run-benchmarks.sh, tests/run-all.sh): it must
# be executable in git, not only through ctest's `bash SCRIPT`.
while IFS= read -r f; do
	[[ -f $f ]] || continue
	head -c 2 "$f" | grep -q '^#!' || continue
	if ! git ls-files -s -- "$f" | grep -q '^100755'; then
		echo "check-source: $f has a #! line but is not executable (run: chmod +x $f; git add $f)" >&2
		status=1
	fi
done < <(git ls-files -- '*.sh' .ci 2>/dev/null)
exit "$status"
