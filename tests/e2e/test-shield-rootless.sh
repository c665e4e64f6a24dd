#!/usr/bin/env bash
# shield with rootless podman: a test user with subordinate ids runs podman
# with slirp4netns from the world's client namespace (see lib-podman.sh),
# shield-hook runs in its user namespace, the bundle belongs to the user and
# dnsmasq forwards to slirp4netns's 10.0.2.3, which forwards to the test
# DNS. Same acceptance as the rootful test: allowed name resolved and
# fetched, blocked names and addresses refused at once, live table ==
# `shield preview`, rotation, strict and open policies, stop + start with
# bundle edits, poststop cleanup, forged PID file, resolv.conf symlink image.
set -euo pipefail
# shellcheck source=tests/e2e/lib-scenarios.sh
source "$(dirname "$0")/lib-scenarios.sh"

scenario_world user
scenario_core
scenario_open_policy
scenario_restart
scenario_pidfile_impostor
scenario_resolv_symlink
scenario_shield_run
finish
