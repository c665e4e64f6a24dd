/* SPDX-License-Identifier: Apache-2.0 */
/* A bundle read into what its ruleset is built from (see bundle-rules.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shield/bundle-rules.h"

void bundle_rules_free(struct bundle_rules *b)
{
	bundle_config_free(&b->config);
	free(b->allow);
	free(b->deny);
	memset(b, 0, sizeof(*b));
}

/* Parse a list of canonical addresses read from the bundle. */
static int parse_prefixes(const struct strlist *l, struct addr_prefix **out, size_t *n,
			  struct shield_error *err)
{
	struct addr_prefix *p = calloc(l->n ? l->n : 1, sizeof(*p));

	if (!p)
		return shield_error_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < l->n; i++) {
		int r = addr_parse(l->items[i], strlen(l->items[i]), &p[i], err);

		if (r < 0) {
			free(p);
			return r;
		}
	}
	*out = p;
	*n = l->n;
	return 0;
}

int bundle_rules_load(int dirfd, struct bundle_rules *b, struct shield_error *err)
{
	_cleanup_strlist_ struct strlist allow = STRLIST_INIT;
	_cleanup_strlist_ struct strlist deny = STRLIST_INIT;
	int r;

	memset(b, 0, sizeof(*b));
	bundle_config_init(&b->config);
	r = bundle_read_config(dirfd, &b->config, err);
	if (r >= 0)
		r = bundle_effective_ips(dirfd, &allow, &deny, err);
	if (r >= 0)
		r = parse_prefixes(&allow, &b->allow, &b->n_allow, err);
	if (r >= 0)
		r = parse_prefixes(&deny, &b->deny, &b->n_deny, err);
	if (r < 0)
		bundle_rules_free(b);
	return r;
}

void bundle_rules_params(const struct bundle_rules *b, enum shield_mode mode,
			 struct nft_ruleset_params *p)
{
	*p = (struct nft_ruleset_params){
		.mode = mode,
		.upstream = b->config.upstream,
		.loopback_ports = b->config.loopback_ports,
		.gateway_v4 = b->config.gateway_v4,
		.gateway_v6 = b->config.gateway_v6,
		.set_timeout = b->config.set_timeout,
		.allow = b->allow,
		.n_allow = b->n_allow,
		.deny = b->deny,
		.n_deny = b->n_deny,
	};
}

int bundle_rules_build(const struct bundle_rules *b, enum shield_mode mode, struct nft_ruleset *rs,
		       struct shield_error *err)
{
	struct nft_ruleset_params p;

	bundle_rules_params(b, mode, &p);
	return nft_ruleset_build(&p, rs, err);
}
