/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shield drift [NAME|ID | --state-dir DIR] [--json]: the operator's drift
 * report. Asks nftsetd; when nftsetd is not running, says so on stderr and
 * computes the report once itself (drift-oneshot.c), marked "source":
 * "one-shot". Exit 0 when every container is clean, 3 when a check is open,
 * 1 on error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-target.h"
#include "cli.h"
#include "drift-oneshot.h"
#include "nftsetd-client.h"
#include "report-text.h"

#define EXIT_DRIFT 3

static void drift_usage(FILE *out)
{
	fprintf(out,
		"Usage: shield drift [NAME|ID | --state-dir DIR [--netns PATH]] [--json]\n"
		"\n"
		"Report, per shielded container (or the one named), every drift check\n"
		"(drift.unexplained, drift.missing, drift.denied_present, drift.stale_answer,\n"
		"ruleset.tampered, dnsmasq.down, log.gap) with its state, how many events it\n"
		"had and the events still open, plus each domain's current addresses.\n"
		"The report comes from nftsetd; when nftsetd is not running, shield says so\n"
		"and computes it once from the bundle, the whole query log and a dump of the\n"
		"kernel's table (\"source\": \"one-shot\").\n"
		"\n"
		"Options:\n" CLI_TARGET_HELP "  --json             the report as JSON\n"
		"  -h, --help         show this help\n"
		"\n"
		"Exit status: 0 every container clean, 3 drift open, 1 error.\n");
}

/* Whether every container of the report is clean. */
static bool report_clean(json_t *report)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(report, "containers"), i, c)
	{
		if (!report_container_clean(c))
			return false;
	}
	return true;
}

int cmd_drift(struct cli *cli, int argc, char **argv)
{
	struct cli_target_opts o = {0};
	struct cli_target t = CLI_TARGET_INIT;
	struct shield_error err = {0};
	const char *source = "nftsetd";
	json_t *report = NULL;
	char path[PATH_MAX];
	bool clean, not_running = false;
	int r;

	r = cli_target_parse(cli, argc, argv, &o, 0, 0, CLI_TARGET_NAME_OPTIONAL, drift_usage);
	if (r >= 0)
		return r;
	r = 0;
	if (o.name || o.state_dir)
		r = cli_target_resolve(cli, &o, 0, &t, &err);
	if (r >= 0)
		r = nftsetd_socket_path(path, sizeof(path), &err);
	if (r >= 0) {
		r = nftsetd_report(path, nftsetd_selector(&t), &report, &err);
		not_running = r == -ENOENT;
	}
	if (not_running) {
		/* The message names the socket and how to start nftsetd. */
		fprintf(stderr, "shield: drift: %s; computing a one-shot report instead\n",
			err.msg);
		shield_error_clear(&err);
		source = "one-shot";
		r = 0;
		if (o.name || o.state_dir) {
			/* Again, now to enter the namespace (rootless: through podman unshare). */
			cli_target_free(&t);
			r = cli_target_resolve(cli, &o, CLI_TARGET_ENTER, &t, &err);
		}
		if (r >= 0)
			r = drift_oneshot(o.name || o.state_dir ? &t : NULL, &report, &err);
	}
	/* nftsetd names a container by what it was asked (an id): say which one that is. */
	if (r == -EPROTO && t.name)
		shield_error_prefix(&err, "%s: ", t.name);
	cli_target_free(&t);
	if (r < 0)
		return cli_fail(cli, &err);
	if (!json_object_get(report, "source"))
		json_object_set_new(report, "source", json_string(source));
	clean = report_clean(report);
	if (o.json) {
		if (cli_print_json(report, JSON_INDENT(2)) < 0) {
			shield_error_set(&err, -ENOMEM, "out of memory");
			return cli_fail(cli, &err);
		}
	} else {
		report_print(stdout, report, source);
		json_decref(report);
	}
	if (fflush(stdout) != 0) {
		shield_error_set(&err, negative_errno(), "writing the report: %s",
				 shield_strerror(errno));
		return cli_fail(cli, &err);
	}
	return clean ? 0 : EXIT_DRIFT;
}
