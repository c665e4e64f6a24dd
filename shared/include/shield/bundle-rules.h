/* SPDX-License-Identifier: Apache-2.0 */
/* A bundle read into what its ruleset is built from. */
#pragma once
#include <stddef.h>

#include "addr.h"
#include "bundle.h"
#include "error.h"
#include "nft-ruleset.h"

/* Everything a ruleset is built from, read and validated from an open bundle. */
struct bundle_rules {
	struct bundle_config config;
	struct addr_prefix *allow; /* effective IPs: (profile ∪ live) − deny.list */
	size_t n_allow;
	struct addr_prefix *deny; /* deny.list */
	size_t n_deny;
};

/* Read config, effective IPs and the deny list of the bundle dirfd; on failure b is empty. */
int bundle_rules_load(int dirfd, struct bundle_rules *b, struct shield_error *err);
void bundle_rules_free(struct bundle_rules *b);
/* The ruleset parameters of a loaded bundle in mode (pointers borrowed from b). */
void bundle_rules_params(const struct bundle_rules *b, enum shield_mode mode,
			 struct nft_ruleset_params *p);
/* Build the ruleset of mode for a loaded bundle. */
int bundle_rules_build(const struct bundle_rules *b, enum shield_mode mode, struct nft_ruleset *rs,
		       struct shield_error *err);
