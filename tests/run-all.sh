#!/usr/bin/env bash
# Build shield with a CMake preset and run its tests: unit, integration
# (needs root: network namespaces, nftables, dnsmasq) and the fuzz corpus
# replay; benchmarks (label "bench") never run here. The package tests
# (label "package", dev preset only: they build their own release binaries)
# build shield's .deb, install it into /usr, run the podman tests on it and
# purge it; they refuse to run when a shield package is already installed.
#
#   tests/run-all.sh [PRESET [CTEST-ARGS...]]     PRESET: dev (default), asan-ubsan, fuzz
#
# Run it as root: it installs what is missing (.ci/install-deps), and the
# integration, e2e and package tests need root.
#
# Environment: SHIELD_WERROR=ON makes warnings errors (CI sets it);
# SHIELD_REQUIRE_ALL_TESTS=1 turns every skipped test (not root, tool
# missing) into a failure (CI sets it too).
set -euo pipefail
cd "$(dirname "$0")/.."

# As root (the README's test command on a fresh Debian 12): install what
# the build and the tests need first; quick when everything is there.
if [[ $(id -u) == 0 ]]; then
	.ci/install-deps
fi

preset=${1:-dev}
shift || true
jobs=$(nproc)

cmake --preset "$preset" -DSHIELD_WERROR="${SHIELD_WERROR:-OFF}"
cmake --build --preset "$preset" -j "$jobs"
# --no-tests=error: a filter or glob that matches nothing is a failure, not a pass.
# The package tests once, with the dev preset, not again with every build.
exclude='^(bench|package)$'
[[ $preset != dev ]] || exclude='^bench$'
ctest --preset "$preset" -LE "$exclude" --no-tests=error -j "$jobs" "$@"
