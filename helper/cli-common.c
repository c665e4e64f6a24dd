/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_fail(const struct cli *cli, const struct shield_error *err)
{
	fprintf(stderr, "shield: %s: %s\n", cli->command, err && err->msg[0] ? err->msg : "failed");
	return EXIT_USER;
}

int cli_usage_error(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "shield: %s: ", cli->command);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'shield %s --help'.\n", cli->command);
	return EXIT_USAGE;
}

int cli_bad_option(const struct cli *cli, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";

	if (optopt > 0 && optopt < 128 && isalnum(optopt))
		return cli_usage_error(cli, "option '-%c' is unknown or needs a value", optopt);
	return cli_usage_error(cli, "option '%s' is unknown or needs a value", arg);
}

int cli_check_name(const char *name, struct shield_error *err)
{
	char quoted[SHIELD_QUOTE_MAX], bad[8];
	size_t len = strlen(name);

	if (len == 0 || len > 127)
		return shield_error_set(err, -EINVAL, "container name must be 1 to 127 characters");
	if (!isalnum((unsigned char)name[0]))
		return shield_error_set(err, -EINVAL,
					"container name %s must start with a letter or digit",
					shield_quote(name, len, quoted));
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (!isalnum(ch) && ch != '_' && ch != '.' && ch != '-')
			return shield_error_set(err, -EINVAL,
						"container name %s may hold only letters, "
						"digits, '_', '.' and '-' (not %s)",
						shield_quote(name, len, quoted),
						shield_quote_char(ch, bad));
	}
	return 0;
}

char *cli_bundle_path(const struct cli *cli, const char *state_dir, const char *name)
{
	char *path;

	if (state_dir)
		return strdup(state_dir);
	if (asprintf(&path, "%s/containers/%s", cli->state_root, name) < 0)
		return NULL;
	return path;
}

void cli_bundle_free(struct cli_bundle *b)
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

int cli_bundle_load(int dirfd, struct cli_bundle *b, struct shield_error *err)
{
	_cleanup_strlist_ struct strlist allow = STRLIST_INIT;
	_cleanup_strlist_ struct strlist deny = STRLIST_INIT;
	int r;

	memset(b, 0, sizeof(*b));
	bundle_config_init(&b->config);
	r = bundle_read_config(dirfd, &b->config, err);
	if (r >= 0)
		r = bundle_effective_ips(dirfd, &allow, err);
	if (r >= 0)
		r = bundle_read_list(dirfd, BUNDLE_DENY_LIST, &deny, err);
	if (r >= 0)
		r = parse_prefixes(&allow, &b->allow, &b->n_allow, err);
	if (r >= 0)
		r = parse_prefixes(&deny, &b->deny, &b->n_deny, err);
	if (r < 0)
		cli_bundle_free(b);
	return r;
}

int cli_bundle_ruleset(const struct cli_bundle *b, enum shield_mode mode, struct nft_ruleset *rs,
		       struct shield_error *err)
{
	struct nft_ruleset_params p = {
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

	return nft_ruleset_build(&p, rs, err);
}
