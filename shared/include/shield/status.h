/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one word `shield status NAME` prints for scripts, computed from what
 * the command found out about the container (pure, so every rule is
 * unit-tested): the bundle's mode when everything is as that mode requires,
 * `inactive` when shield is not running for it, `error` when it should be
 * and is not. Rules, in order:
 *
 * 1. Not running (podman: stopped or created; attach: the namespace is gone
 *    or was detached): `error` if the last start failed (a createRuntime or
 *    attach failure in hook-error.log newer than the last "setup" audit
 *    entry), else `inactive`.
 * 2. A running podman container without a registry entry: `error` (the hook
 *    did not shield it: hooks not installed, or its entry was removed).
 * 3. The bundle's configuration cannot be read: `error`.
 * 4. The container's dnsmasq (the registry's PID, checked to be a dnsmasq
 *    with this bundle's configuration in this namespace) is not alive:
 *    `error`.
 * 5. The kernel's table, dumped in the container's namespace, is not
 *    exactly what the bundle's mode requires (nft_verify_table: chains,
 *    policies, rules in order, sets, static elements; missing table
 *    included): `error`.
 * 6. Otherwise the bundle's mode: `up`, `down`, `down_all` or `block`.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "params.h"

struct status_facts {
	bool running;		      /* the container runs / the attached namespace exists */
	bool needs_registry;	      /* podman: a running container must be registered */
	bool registered;	      /* a registry entry describes it */
	bool bundle_ok;		      /* shield.conf and the lists were read */
	enum shield_mode bundle_mode; /* the mode shield.conf records */
	bool dnsmasq_alive;	      /* dnsmasq_is_ours on the registry's PID */
	bool table_checked;	/* the table was dumped and compared (false: could not look) */
	bool table_verified;	/* it is exactly what bundle_mode requires */
	bool last_start_failed; /* see status_last_start_failed */
};

/*
 * The status word (SHIELD_MODE_UP .. SHIELD_MODE_ERROR) and, in *why (may
 * be NULL), a static phrase saying why it is `inactive` or `error` (NULL
 * for a mode).
 */
enum shield_mode status_word(const struct status_facts *f, const char **why);

/*
 * Whether the last start failed (pure): hook-error.log text holds lines
 * "TS STAGE: MESSAGE"; the last one whose STAGE is createRuntime or attach
 * and whose TS is later than last_setup_ns (INT64_MIN: no setup entry) says
 * it did. Its message (cut to fit) goes to msg when it did; lines that do
 * not have that shape are ignored.
 */
bool status_last_start_failed(const char *log, size_t len, int64_t last_setup_ns, char *msg,
			      size_t size);
