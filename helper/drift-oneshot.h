/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `shield drift` without nftsetd: the same report, computed once from what
 * is on the host now. Per container: the bundle (mode, lists, set timeout),
 * the query log since dnsmasq last started, fed through the log parser into
 * a shadow (addresses dnsmasq added replayed as the kernel notifications
 * nftsetd would have seen, at the log's own times), a dump of the table in
 * the container's network namespace, and dnsmasq's liveness; then the
 * shadow's report builder. Nothing is repaired and nothing is written.
 *
 * What it cannot know: set elements from before the log's first line (or
 * before dnsmasq last started) are taken as earlier answers, as nftsetd
 * takes what it finds at attach; a drift that came and went while nobody
 * watched leaves no trace but its log lines.
 */
#pragma once

#include <jansson.h>

#include "cli-target.h"
#include "shield/error.h"

/*
 * The report object ({"version":1,"generated","source":"one-shot",
 * "containers":[...]}) for t (resolved with CLI_TARGET_ENTER: its namespace
 * open), or for every registry entry when t is NULL (an entry whose
 * namespace is gone is left out with a note on stderr).
 */
int drift_oneshot(const struct cli_target *t, json_t **out, struct shield_error *err);
