#!/usr/bin/env bash
# Build shield with a CMake preset and run its tests: unit, integration
# (needs root: network namespaces, nftables, dnsmasq) and the fuzz corpus
# replay; benchmarks (label "bench") never run here, nor the package tests
# (label "package": they install shield's .deb into /usr; run them with
# `ctest --test-dir build/dev -L package`, as CI does).
#
#   sudo tests/run-all.sh [PRESET [CTEST-ARGS...]]     PRESET: dev (default), asan-ubsan, fuzz
#
# Environment: SHIELD_WERROR=ON makes warnings errors (CI sets it);
# SHIELD_REQUIRE_ALL_TESTS=1 turns every skipped test (not root, tool
# missing) into a failure (CI sets it too).
set -euo pipefail
cd "$(dirname "$0")/.."

preset=${1:-dev}
shift || true
jobs=$(nproc)

cmake --preset "$preset" -DSHIELD_WERROR="${SHIELD_WERROR:-OFF}"
cmake --build --preset "$preset" -j "$jobs"
# --no-tests=error: a filter or glob that matches nothing is a failure, not a pass.
ctest --preset "$preset" -LE '^(bench|package)$' --no-tests=error -j "$jobs" "$@"
