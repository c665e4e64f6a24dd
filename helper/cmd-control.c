/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shield allow / deny / up / down / block: change a shielded container
 * while it runs (and its bundle, so the change survives a restart). The
 * work is libshield's control.c; this file resolves the container, prints
 * what changed and words the errors.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-target.h"
#include "cli.h"
#include "shield/control.h"
#include "shield/dnsmasq-proc.h"

static void allow_deny_usage(FILE *out, const char *command)
{
	bool allow = strcmp(command, "allow") == 0;

	fprintf(out,
		"Usage: shield %s (NAME|ID | --state-dir DIR [--netns PATH]) TARGET [--json]\n"
		"\n",
		command);
	if (allow)
		fprintf(out,
			"Allow TARGET for a container, now and after every restart. TARGET is a\n"
			"domain (its subdomains included; \"*.example.com\" means the same) or an\n"
			"IP address or CIDR. The bundle is changed first (live.domains or\n"
			"live.allowed; a previous deny of TARGET is lifted), then the running\n"
			"container: an address goes into the allow set at once, never expiring; "
			"for\n"
			"a domain dnsmasq is restarted with the new list.\n");
	else
		fprintf(out,
			"Deny TARGET for a container, now and after every restart; a deny wins "
			"over\n"
			"any allow. The bundle is changed first (denied.domains or deny.list; a "
			"live\n"
			"allow of TARGET is dropped), then the running container: an address "
			"leaves\n"
			"the allow set and joins the deny set; for a domain dnsmasq is restarted\n"
			"(answering NXDOMAIN for it) and the addresses it had added for the "
			"domain\n"
			"leave the allow set, unless a still-allowed domain's answer or a static\n"
			"entry explains them.\n");
	fprintf(out,
		"\n"
		"Prints what changed (nothing when it was already so). A container that is\n"
		"not running gets the bundle change only, with a note on stderr.\n"
		"\nOptions:\n" CLI_TARGET_HELP "  --json             print the result as JSON\n"
		"  -h, --help         show this help\n");
}

static void allow_usage(FILE *out)
{
	allow_deny_usage(out, "allow");
}

static void deny_usage(FILE *out)
{
	allow_deny_usage(out, "deny");
}

static void mode_usage(FILE *out, const char *command)
{
	fprintf(out, "Usage: shield %s (NAME|ID | --state-dir DIR [--netns PATH])%s [--json]\n\n",
		command, strcmp(command, "down") == 0 ? " [--all]" : "");
	if (strcmp(command, "up") == 0)
		fprintf(out,
			"Put the firewall in mode up: only the allowlist, DNS to the upstream and\n"
			"the loopback ports pass; dnsmasq runs with the bundle's DNS policy.\n");
	else if (strcmp(command, "down") == 0)
		fprintf(out,
			"Put the firewall in mode down: everything passes and is logged, except "
			"the\n"
			"deny list and (without --all) the private ranges; dnsmasq forwards every\n"
			"name (DNS policy open).\n");
	else
		fprintf(out, "Put the firewall in mode block: nothing passes, DNS included (only\n"
			     "loopback, established connections and IPv6 neighbour discovery).\n");
	fprintf(out,
		"\n"
		"The mode is recorded in the bundle (shield.conf), so a restart keeps it. In\n"
		"a running container the ruleset is replaced in one transaction and verified;\n"
		"addresses dnsmasq had learnt are kept, with the time they had left.\n"
		"\nOptions:\n" CLI_TARGET_HELP);
	if (strcmp(command, "down") == 0)
		fprintf(out, "  --all              let the private ranges through as well\n");
	fprintf(out, "  --json             print the result as JSON\n"
		     "  -h, --help         show this help\n");
}

/* Everything a control command needs about its container. */
static int open_ctx(const struct cli *cli, const struct cli_target_opts *o, struct cli_target *t,
		    struct control_ctx *ctx, struct shield_error *err)
{
	int r = cli_target_resolve(cli, o, CLI_TARGET_ENTER, t, err);

	if (r < 0)
		return r;
	*ctx = (struct control_ctx){
		.name = t->name,
		.state_dir = t->state_dir,
		.dirfd = t->dirfd,
		.nsfd = t->running ? t->nsfd : -1,
		.runtime_dir = t->runtime_dir,
		.entry = t->has_entry ? &t->entry : NULL,
	};
	return dnsmasq_binary(&ctx->dnsmasq, err);
}

/* The error of a change that did not (wholly) happen. */
static int control_fail(const struct cli *cli, const struct cli_target *t,
			const struct control_result *res, const char *what,
			const struct shield_error *err)
{
	if (res->files_hold)
		fprintf(stderr,
			"shield: %s: %s: the bundle holds the change (%s), but applying it to the "
			"running container failed: %s; it takes effect at the next start, or run "
			"the command again\n",
			cli->command, t->name ? t->name : "?", res->files, err->msg);
	else if (t->name)
		fprintf(stderr, "shield: %s: %s: %s%s%s\n", cli->command, t->name, what,
			what[0] ? ": " : "", err->msg);
	else
		return cli_fail(cli, err);
	return EXIT_USER;
}

static const char *kernel_word(const struct cli_target *t, const struct control_result *res)
{
	if (!t->running)
		return "skipped";
	if (res->repaired)
		return "repaired";
	return res->kernel ? (res->changed ? "updated" : "unchanged") : "unchanged";
}

static json_t *files_json(const char *files)
{
	json_t *a = json_array();
	const char *p = files;

	while (a && *p) {
		size_t n = strcspn(p, " ");

		json_array_append_new(a, json_stringn(p, n));
		p += n;
		p += strspn(p, " ");
	}
	return a;
}

static int print_allow_deny(const struct cli *cli, const struct cli_target_opts *o,
			    const struct cli_target *t, enum control_action a,
			    const struct control_target *target, const struct control_result *res)
{
	if (o->json) {
		json_t *root = json_pack(
			"{s:s, s:s?, s:s, s:s, s:s, s:b, s:o, s:b, s:s, s:{s:b, s:i}, s:I, s:s?}",
			"container", t->name, "id", t->id, "action", control_action_name(a),
			"target", target->text, "kind", target->is_ip ? "ip" : "domain", "changed",
			res->changed, "files", files_json(res->files), "running", t->running,
			"kernel", kernel_word(t, res), "dnsmasq", "restarted",
			res->dnsmasq_restarted, "pid", (int)res->dnsmasq_pid, "removed",
			(json_int_t)res->n_removed, "still_denied",
			res->still_denied[0] ? res->still_denied : NULL);

		if (cli_print_json(root, JSON_COMPACT) < 0)
			return EXIT_USER;
	} else if (res->changed) {
		printf("%s %s for %s", a == CONTROL_ALLOW ? "allowed" : "denied", target->text,
		       t->name);
		if (res->dnsmasq_restarted && res->n_removed)
			printf(" (dnsmasq reloaded, %zu learnt address%s removed from the allow "
			       "sets)",
			       res->n_removed, res->n_removed == 1 ? "" : "es");
		else if (res->dnsmasq_restarted)
			printf(" (dnsmasq reloaded)");
		else if (res->n_removed)
			printf(" (%zu learnt address%s removed from the allow sets)",
			       res->n_removed, res->n_removed == 1 ? "" : "es");
		printf("\n");
	} else if (res->repaired) {
		printf("%s was already %s for %s in the bundle; the kernel's sets did not match: "
		       "repaired\n",
		       target->text, a == CONTROL_ALLOW ? "allowed" : "denied", t->name);
	}
	if (res->changed && !t->running)
		cli_target_not_running_note(cli, t);
	if (res->still_denied[0])
		fprintf(stderr, "shield: %s: note: %s stays refused for %s: deny.list holds %s\n",
			cli->command, target->text, t->name, res->still_denied);
	return fflush(stdout) == 0 ? 0 : EXIT_USER;
}

static int allow_deny(struct cli *cli, int argc, char **argv, enum control_action a)
{
	struct cli_target_opts o = {0};
	struct cli_target t = CLI_TARGET_INIT;
	struct control_target target;
	struct control_result res = {0};
	struct control_ctx ctx;
	struct shield_error err = {0};
	int r = cli_target_parse(cli, argc, argv, &o, 1, 1, 0,
				 a == CONTROL_ALLOW ? allow_usage : deny_usage);

	if (r >= 0)
		return r;
	/* A bad TARGET is refused before anything is looked up or written. */
	r = control_target_parse(o.args[0], &target, &err);
	if (r < 0)
		return cli_fail(cli, &err);
	for (int tries = 0;; tries++) {
		r = open_ctx(cli, &o, &t, &ctx, &err);
		if (r < 0) {
			cli_target_free(&t);
			return cli_fail(cli, &err);
		}
		r = control_allow_deny(&ctx, a, &target, &res, &err);
		if (r != -ESTALE || tries == CONTROL_STALE_RETRIES)
			break;
		/* A start or stop came in between: find the container again. */
		cli_target_free(&t);
		shield_error_clear(&err);
	}
	if (r < 0)
		r = control_fail(cli, &t, &res, "", &err);
	else
		r = print_allow_deny(cli, &o, &t, a, &target, &res);
	cli_target_free(&t);
	return r;
}

int cmd_allow(struct cli *cli, int argc, char **argv)
{
	return allow_deny(cli, argc, argv, CONTROL_ALLOW);
}

int cmd_deny(struct cli *cli, int argc, char **argv)
{
	return allow_deny(cli, argc, argv, CONTROL_DENY);
}

static int print_mode(const struct cli *cli, const struct cli_target_opts *o,
		      const struct cli_target *t, const struct control_result *res)
{
	if (o->json) {
		json_t *root = json_pack(
			"{s:s, s:s?, s:s, s:s, s:b, s:o, s:b, s:s, s:s, s:{s:b, s:i}, s:I}",
			"container", t->name, "id", t->id, "mode", shield_mode_name(res->mode),
			"previous", shield_mode_name(res->old_mode), "changed", res->changed,
			"files", files_json(res->files), "running", t->running, "kernel",
			kernel_word(t, res), "dns_policy", dns_policy_name(res->dns_policy),
			"dnsmasq", "restarted", res->dnsmasq_restarted, "pid",
			(int)res->dnsmasq_pid, "carried", (json_int_t)res->n_carried);

		if (cli_print_json(root, JSON_COMPACT) < 0)
			return EXIT_USER;
	} else if (res->changed) {
		printf("%s: mode %s (was %s)", t->name, shield_mode_name(res->mode),
		       shield_mode_name(res->old_mode));
		if (res->kernel)
			printf(", ruleset replaced and verified");
		if (res->dnsmasq_restarted)
			printf("; dnsmasq reloaded (DNS policy %s)",
			       dns_policy_name(res->dns_policy));
		printf("\n");
	} else if (res->repaired) {
		printf("%s: mode %s was recorded but the kernel did not hold it: ruleset replaced "
		       "and verified\n",
		       t->name, shield_mode_name(res->mode));
	}
	if (res->changed && !t->running)
		cli_target_not_running_note(cli, t);
	return fflush(stdout) == 0 ? 0 : EXIT_USER;
}

static int mode_command(struct cli *cli, int argc, char **argv, enum shield_mode mode)
{
	enum { OPT_ALL = CLI_TARGET_OPT_END };
	static const struct option opts[] = {
		CLI_TARGET_OPTIONS,
		{"all", no_argument, NULL, OPT_ALL},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct cli_target_opts o = {0};
	struct cli_target t = CLI_TARGET_INIT;
	struct control_result res = {0};
	struct control_ctx ctx;
	struct shield_error err = {0};
	bool all = false;
	char what[64];
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cli_target_option(&o, c))
			continue;
		if (c == OPT_ALL && mode == SHIELD_MODE_DOWN) {
			all = true;
		} else if (c == 'h') {
			mode_usage(stdout, cli->command);
			return 0;
		} else {
			return cli_bad_option(cli, argv);
		}
	}
	r = cli_target_finish(cli, argc, argv, &o, 0, 0, 0);
	if (r >= 0)
		return r;
	if (all)
		mode = SHIELD_MODE_DOWN_ALL;
	for (int tries = 0;; tries++) {
		r = open_ctx(cli, &o, &t, &ctx, &err);
		if (r < 0) {
			cli_target_free(&t);
			return cli_fail(cli, &err);
		}
		r = control_set_mode(&ctx, mode, &res, &err);
		if (r != -ESTALE || tries == CONTROL_STALE_RETRIES)
			break;
		cli_target_free(&t);
		shield_error_clear(&err);
	}
	if (r < 0) {
		snprintf(what, sizeof(what), "switching to mode %s failed%s",
			 shield_mode_name(mode),
			 res.kernel || res.files_hold ? "" : " (nothing changed)");
		r = control_fail(cli, &t, &res, what, &err);
	} else {
		r = print_mode(cli, &o, &t, &res);
	}
	cli_target_free(&t);
	return r;
}

int cmd_up(struct cli *cli, int argc, char **argv)
{
	return mode_command(cli, argc, argv, SHIELD_MODE_UP);
}

int cmd_down(struct cli *cli, int argc, char **argv)
{
	return mode_command(cli, argc, argv, SHIELD_MODE_DOWN);
}

int cmd_block(struct cli *cli, int argc, char **argv)
{
	return mode_command(cli, argc, argv, SHIELD_MODE_BLOCK);
}
