/* SPDX-License-Identifier: Apache-2.0 */
/* shield: the operator CLI. Parses global options and hands over to a command. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *summary;
} commands[] = {
	{"prepare", cmd_prepare, "write a container's state bundle from profiles"},
	{"preview", cmd_preview, "print a bundle's ruleset in nft syntax"},
	{"apply", cmd_apply, "commit and verify a bundle's ruleset in a network namespace"},
	{"rules", cmd_rules, "the live table of a container (or namespace), and its mode"},
	{"run", cmd_run, "prepare a bundle and exec podman run with shield's arguments"},
	{"attach", cmd_attach, "shield a network namespace podman does not manage"},
	{"detach", cmd_detach, "stop shielding a namespace attached with 'attach'"},
	{"setup", cmd_setup, "install the OCI hook descriptors for podman"},
	{"check", cmd_check, "report whether this host can run shielded containers"},
	{"allow", cmd_allow, "allow a domain or IP/CIDR for a container, now and after restarts"},
	{"deny", cmd_deny, "deny a domain or IP/CIDR for a container, now and after restarts"},
	{"up", cmd_up, "firewall in mode up: only the allowlist passes"},
	{"down", cmd_down,
	 "firewall in mode down: all but the deny list (and private ranges) passes"},
	{"block", cmd_block, "firewall in mode block: nothing passes, DNS included"},
	{"status", cmd_status, "the mode and health of shielded containers"},
	{"logs", cmd_logs, "audit entries of shielded containers, in time order"},
	{"profiles", cmd_profiles, "list the allowlist profiles, or show one"},
	{"watch", cmd_watch, "follow nftsetd's events live (a view on a terminal, else JSON)"},
	{"drift", cmd_drift, "report drift between allowlists, DNS answers and the kernel"},
	{"metrics", cmd_metrics, "nftsetd's Prometheus metrics (per container and its own)"},
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: shield [OPTIONS] COMMAND [ARGS]\n"
		     "\n"
		     "Per-container egress firewalling for podman.\n"
		     "\n"
		     "Options:\n"
		     "  --config-dir DIR   user configuration (profiles in DIR/profiles) "
		     "[$SHIELD_CONFIG_DIR]\n"
		     "  --state-root DIR   where state bundles live (DIR/containers/NAME) "
		     "[$SHIELD_STATE_ROOT]\n"
		     "  -h, --help         show this help\n"
		     "  --version          show the version\n"
		     "\n"
		     "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nRun 'shield COMMAND --help' for a command's options.\n");
}

/* Defaults follow the XDG layout for users and FHS paths for root, as podman does. */
static const char *default_dir(const char *env_xdg, const char *home_suffix, const char *root_path)
{
	static char buf[2][4096];
	static int slot;
	const char *xdg = getenv(env_xdg), *home = getenv("HOME");
	char *out = buf[slot++ % 2];

	if (geteuid() == 0)
		return root_path;
	if (xdg && xdg[0] == '/')
		snprintf(out, sizeof(buf[0]), "%s/shield", xdg);
	else if (home && home[0] == '/')
		snprintf(out, sizeof(buf[0]), "%s/%s/shield", home, home_suffix);
	else
		return root_path;
	return out;
}

int main(int argc, char **argv)
{
	enum { OPT_CONFIG_DIR = 256, OPT_STATE_ROOT, OPT_VERSION };
	static const struct option opts[] = {
		{"config-dir", required_argument, NULL, OPT_CONFIG_DIR},
		{"state-root", required_argument, NULL, OPT_STATE_ROOT},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, OPT_VERSION},
		{0},
	};
	struct cli cli = {.command = "shield"};
	const char *env;
	int c;

	signal(SIGPIPE, SIG_IGN);
	cli.config_dir = (env = getenv("SHIELD_CONFIG_DIR")) && *env
				 ? env
				 : default_dir("XDG_CONFIG_HOME", ".config", "/etc/shield");
	cli.state_root = (env = getenv("SHIELD_STATE_ROOT")) && *env
				 ? env
				 : default_dir("XDG_STATE_HOME", ".local/state", "/var/lib/shield");
	cli.data_dir = (env = getenv("SHIELD_DATA_DIR")) && *env ? env : SHIELD_DATADIR;

	/* "+": stop at the command name; its options are its own. */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG_DIR:
			cli.config_dir = optarg;
			break;
		case OPT_STATE_ROOT:
			cli.state_root = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("shield %s\n", SHIELD_VERSION);
			return 0;
		default:
			fprintf(stderr, "Try 'shield --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) != 0)
			continue;
		cli.command = commands[i].name;
		argc -= optind;
		argv += optind;
		opterr = 0; /* commands word their own option errors */
		optind = 0; /* 0 makes glibc reinitialise getopt for the command's own options */
		return commands[i].run(&cli, argc, argv);
	}
	fprintf(stderr, "shield: unknown command \"%s\"\nTry 'shield --help'.\n", argv[optind]);
	return EXIT_USAGE;
}
