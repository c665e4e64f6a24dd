/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shield metrics: nftsetd's Prometheus metrics, as its socket serves them
 * (the same text as GET /metrics with --metrics-listen), on stdout. For a
 * node exporter's textfile collector, a cron job, or a look by hand.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nftsetd-client.h"

static void metrics_usage(FILE *out)
{
	fprintf(out, "Usage: shield metrics\n"
		     "\n"
		     "Print nftsetd's metrics in the Prometheus text format (0.0.4): per\n"
		     "shielded container its allowed domains, set sizes, rotations, drift events\n"
		     "by kind, repairs, blocked queries, whether dnsmasq is up, netlink resyncs,\n"
		     "and the hook's setup times; nftsetd's own numbers too. nftsetd must be\n"
		     "running (there is no one-shot fallback: the counters are nftsetd's).\n"
		     "\n"
		     "Options:\n"
		     "  -h, --help         show this help\n"
		     "\n"
		     "nftsetd's socket: $SHIELD_NFTSETD_SOCKET, else RUNTIME_DIR/nftsetd.sock.\n");
}

int cmd_metrics(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct shield_error err = {0};
	_cleanup_free_ char *text = NULL;
	char path[PATH_MAX];
	size_t len = 0;
	int c, r;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			metrics_usage(stdout);
			return 0;
		default:
			return cli_bad_option(cli, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument \"%s\"", argv[optind]);
	r = nftsetd_socket_path(path, sizeof(path), &err);
	if (r >= 0)
		r = nftsetd_metrics(path, &text, &len, &err);
	if (r < 0)
		return cli_fail(cli, &err);
	if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
		shield_error_set(&err, negative_errno(), "writing the metrics: %s",
				 shield_strerror(errno));
		return cli_fail(cli, &err);
	}
	return 0;
}
