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
exit "$status"
