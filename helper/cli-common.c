/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	_cleanup_free_ char *cwd = NULL;
	char *path;
	int n;

	if (state_dir && state_dir[0] == '/')
		return strdup(state_dir);
	if (!state_dir && cli->state_root[0] == '/')
		n = asprintf(&path, "%s/containers/%s", cli->state_root, name);
	else if (!(cwd = getcwd(NULL, 0)))
		return NULL;
	else if (state_dir)
		n = asprintf(&path, "%s/%s", cwd, state_dir);
	else
		n = asprintf(&path, "%s/%s/containers/%s", cwd, cli->state_root, name);
	return n < 0 ? NULL : path;
}

int cli_print_json(json_t *root, size_t flags)
{
	char *text = root ? json_dumps(root, flags | JSON_PRESERVE_ORDER) : NULL;

	json_decref(root);
	if (!text)
		return -ENOMEM;
	puts(text);
	free(text);
	return 0;
}
