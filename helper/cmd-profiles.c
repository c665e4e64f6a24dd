/* SPDX-License-Identifier: Apache-2.0 */
/* shield profiles: the allowlist profiles there are, and what one holds. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "shield/profile.h"

#define SUMMARY_MAX 160

static void profiles_usage(FILE *out)
{
	fprintf(out, "Usage: shield profiles [--show NAME] [--json]\n"
		     "\n"
		     "List the allowlist profiles: the bundled ones (DATA_DIR/profiles) and\n"
		     "the user's (CONFIG_DIR/profiles), which shadow a bundled profile of the\n"
		     "same name. --show prints one profile's entries, domains first, as a\n"
		     "profile file.\n"
		     "\n"
		     "Options:\n"
		     "  --show NAME        the entries of profile NAME\n"
		     "  --json             print JSON\n"
		     "  -h, --help         show this help\n");
}

/* "DIR/profiles" (malloc'd), or NULL when out of memory. */
static char *profiles_dir(const char *dir)
{
	char *out;

	return asprintf(&out, "%s/profiles", dir) < 0 ? NULL : out;
}

static const char *source_word(const struct profile_info *p)
{
	if (p->user && p->bundled)
		return "user, shadows bundled";
	return p->user ? "user" : "bundled";
}

/* One profile read and parsed: its path, description and lists. */
struct loaded {
	char path[PATH_MAX];
	bool user;
	char summary[SUMMARY_MAX];
	struct strlist domains, ips;
};

static void loaded_free(struct loaded *l)
{
	strlist_free(&l->domains);
	strlist_free(&l->ips);
}

static int load(const struct cli *cli, const char *name, struct loaded *l, struct shield_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = profile_read(name, cli->config_dir, cli->data_dir, &text, &len, l->path, &l->user,
			     err);

	if (r < 0)
		return r;
	profile_summary(name, text, len, l->summary, sizeof(l->summary));
	return profile_parse(name, text, len, &l->domains, &l->ips, err);
}

static json_t *json_strlist(const struct strlist *l)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < l->n; i++)
		if (json_array_append_new(a, json_string(l->items[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static int show(const struct cli *cli, const char *name, bool json)
{
	struct shield_error err = {0};
	struct loaded l = {0};
	_cleanup_free_ struct profile_info *cat = NULL;
	bool shadows = false;
	size_t n = 0;
	int r = load(cli, name, &l, &err);

	if (r >= 0 && l.user &&
	    profile_catalog(cli->config_dir, cli->data_dir, &cat, &n, &err) >= 0)
		for (size_t i = 0; i < n; i++)
			if (strcmp(cat[i].name, name) == 0)
				shadows = cat[i].bundled;
	if (r < 0) {
		loaded_free(&l);
		return cli_fail(cli, &err);
	}
	if (json) {
		r = cli_print_json(json_pack("{s:s, s:s, s:s, s:b, s:s, s:o*, s:o*}", "name", name,
					     "source", l.user ? "user" : "bundled", "path", l.path,
					     "shadows_bundled", shadows, "description", l.summary,
					     "domains", json_strlist(&l.domains), "ips",
					     json_strlist(&l.ips)),
				   JSON_INDENT(2));
	} else {
		printf("# profile %s: %s %s%s\n", name, l.user ? "user file" : "bundled file",
		       l.path, shadows ? " (shadows the bundled one)" : "");
		if (l.summary[0])
			printf("# %s\n", l.summary);
		printf("# %zu domain%s, %zu address%s\n", l.domains.n, l.domains.n == 1 ? "" : "s",
		       l.ips.n, l.ips.n == 1 ? "" : "es");
		for (size_t i = 0; i < l.domains.n; i++)
			puts(l.domains.items[i]);
		for (size_t i = 0; i < l.ips.n; i++)
			puts(l.ips.items[i]);
	}
	loaded_free(&l);
	if (r < 0) {
		shield_error_set(&err, r, "out of memory");
		return cli_fail(cli, &err);
	}
	return fflush(stdout) == 0 ? 0 : EXIT_USER;
}

static int list(const struct cli *cli, bool json)
{
	struct shield_error err = {0};
	_cleanup_free_ struct profile_info *cat = NULL;
	_cleanup_free_ char *user_dir = profiles_dir(cli->config_dir);
	_cleanup_free_ char *data_dir = profiles_dir(cli->data_dir);
	json_t *root = NULL, *arr = NULL;
	size_t n = 0, width = 4, broken = 0;
	int r;

	if (!user_dir || !data_dir) {
		shield_error_set(&err, -ENOMEM, "out of memory");
		return cli_fail(cli, &err);
	}
	r = profile_catalog(cli->config_dir, cli->data_dir, &cat, &n, &err);
	if (r < 0)
		return cli_fail(cli, &err);
	if (json) {
		arr = json_array();
		root = json_pack("{s:s, s:s, s:o}", "user_dir", user_dir, "bundled_dir", data_dir,
				 "profiles", arr);
		if (!root) {
			shield_error_set(&err, -ENOMEM, "out of memory");
			return cli_fail(cli, &err);
		}
	} else {
		for (size_t i = 0; i < n; i++)
			width = strlen(cat[i].name) > width ? strlen(cat[i].name) : width;
		printf("%-*s  %-21s  %7s  %9s  %s\n", (int)width, "NAME", "SOURCE", "DOMAINS",
		       "ADDRESSES", "DESCRIPTION");
	}
	for (size_t i = 0; i < n; i++) {
		struct shield_error perr = {0};
		struct loaded l = {0};
		int pr = load(cli, cat[i].name, &l, &perr);

		if (pr < 0) {
			broken++;
			fprintf(stderr, "shield: %s: %s\n", cli->command, perr.msg);
		}
		if (json) {
			json_t *o = json_pack("{s:s, s:s, s:b, s:s, s:s}", "name", cat[i].name,
					      "source", cat[i].user ? "user" : "bundled",
					      "shadows_bundled", cat[i].user && cat[i].bundled,
					      "path", l.path, "description", l.summary);

			if (o && pr >= 0)
				pr = json_object_set_new(o, "domains",
							 json_integer((json_int_t)l.domains.n)) <
							     0 ||
						     json_object_set_new(
							     o, "ips",
							     json_integer((json_int_t)l.ips.n)) < 0
					     ? -ENOMEM
					     : 0;
			else if (o)
				pr = json_object_set_new(o, "error", json_string(perr.msg)) < 0
					     ? -ENOMEM
					     : 0;
			if (!o || pr < 0 || json_array_append_new(arr, o) < 0) {
				loaded_free(&l);
				json_decref(root);
				shield_error_set(&err, -ENOMEM, "out of memory");
				return cli_fail(cli, &err);
			}
		} else if (pr < 0) {
			printf("%-*s  %-21s  %7s  %9s  %s\n", (int)width, cat[i].name,
			       source_word(&cat[i]), "-", "-", "(invalid, see above)");
		} else {
			printf("%-*s  %-21s  %7zu  %9zu  %s\n", (int)width, cat[i].name,
			       source_word(&cat[i]), l.domains.n, l.ips.n, l.summary);
		}
		loaded_free(&l);
	}
	if (json) {
		if (cli_print_json(root, JSON_INDENT(2)) < 0) {
			shield_error_set(&err, -ENOMEM, "out of memory");
			return cli_fail(cli, &err);
		}
	} else {
		if (n == 0)
			printf("(no profiles)\n");
		printf("\nuser profiles: %s\nbundled profiles: %s\n", user_dir, data_dir);
	}
	if (fflush(stdout) != 0)
		return EXIT_USER;
	return broken ? EXIT_USER : 0;
}

int cmd_profiles(struct cli *cli, int argc, char **argv)
{
	enum { OPT_SHOW = 256, OPT_JSON };
	static const struct option opts[] = {
		{"show", required_argument, NULL, OPT_SHOW},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *name = NULL;
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_SHOW:
			name = optarg;
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'h':
			profiles_usage(stdout);
			return 0;
		default:
			return cli_bad_option(cli, argv);
		}
	}
	if (optind < argc) {
		char q[SHIELD_QUOTE_MAX];

		return cli_usage_error(cli, "unexpected argument %s (use --show NAME)",
				       shield_quote(argv[optind], strlen(argv[optind]), q));
	}
	return name ? show(cli, name, json) : list(cli, json);
}
