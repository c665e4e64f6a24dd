# shellcheck shell=bash disable=SC2034 # failed is read by the script that sources this
# Sourced by the lint scripts (check-man.sh, check-units.sh) after they set
# LINT_NAME: problem records a failure and goes on (the script ends with
# its own summary), missing ends the script as a skip (77), or as a failure
# under SHIELD_REQUIRE_ALL_TESTS=1 (CI), when a tool or binary it needs is
# absent.
: "${LINT_NAME:?set LINT_NAME before sourcing lib-lint.sh}"
failed=0

problem() {
	printf '%s: %s\n' "$LINT_NAME" "$*" >&2
	failed=1
}

missing() {
	if [[ ${SHIELD_REQUIRE_ALL_TESTS:-0} == 1 ]]; then
		printf '%s: %s (SHIELD_REQUIRE_ALL_TESTS=1: a skip is a failure)\n' "$LINT_NAME" "$*" >&2
		exit 1
	fi
	printf '%s: SKIP: %s\n' "$LINT_NAME" "$*" >&2
	exit 77
}
