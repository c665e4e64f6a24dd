#!/usr/bin/env bash
# shield with rootful podman (runc), each container in a network namespace
# of the test world: an allowed name resolves and is fetched, blocked names
# and addresses are refused at once, the live table is `shield preview`,
# DNS rotation needs no shield action, strict and open DNS policies, stop +
# start re-applies the bundle with live edits, poststop cleans up and never
# signals a process a forged PID file names, and an image whose
# /etc/resolv.conf is a symlink to a host path leaves that host file alone.
set -euo pipefail
# shellcheck source=tests/e2e/lib-scenarios.sh
source "$(dirname "$0")/lib-scenarios.sh"

scenario_world root
scenario_core
scenario_open_policy
scenario_restart
scenario_pidfile_impostor
scenario_resolv_symlink
scenario_shield_run
finish
