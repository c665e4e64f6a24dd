/* SPDX-License-Identifier: Apache-2.0 */
/* podman-args: network modes, upstream choice, run arguments, refusals, quoting. */
#include "unit-helpers.h"

#include "shield/podman-args.h"

/* ------------------------------------------------------------- helpers */

static void assert_addr(const struct addr_prefix *a, const char *want)
{
	char text[ADDR_TEXT_MAX];

	addr_format(a, text);
	assert_string_equal(text, want);
}

/* Check an argv given as one string of words split at '|'. */
static int check_words(const char *words, size_t *image, struct shield_error *err)
{
	char *copy = strdup(words), *argv[32], *next;
	size_t n = 0;
	int r;

	assert_non_null(copy);
	for (char *w = copy; w; w = next) {
		next = strchr(w, '|');
		if (next)
			*next++ = '\0';
		assert_true(n < 32);
		argv[n++] = w;
	}
	r = podman_args_check(argv, n, image, err);
	free(copy);
	return r;
}

/* Refused (-EPERM), the message naming needle. */
static void assert_refused(const char *words, const char *needle)
{
	struct shield_error err = {0};
	size_t image = 99;

	if (check_words(words, &image, &err) != -EPERM)
		fail_msg("\"%s\" was not refused (%s)", words, err.msg);
	assert_msg_contains(&err, needle);
	assert_msg_printable(&err);
}

/* Accepted, the image at index want. */
static void assert_accepted(const char *words, size_t want)
{
	struct shield_error err = {0};
	size_t image = 99;

	if (check_words(words, &image, &err) != 0)
		fail_msg("\"%s\" was refused: %s", words, err.msg);
	if (image != want)
		fail_msg("\"%s\": image at %zu, expected %zu", words, image, want);
}

/* ------------------------------------------------------- network modes */

static void test_net_defaults(void **state)
{
	struct shield_error err = {0};
	struct podman_net net;

	(void)state;
	/* Rootful: bridge with the host's nameservers. */
	assert_int_equal(podman_net_parse(NULL, false, 4, &net, &err), 0);
	assert_int_equal(net.kind, PODMAN_NET_BRIDGE);
	assert_true(net.host_resolver);
	assert_int_equal(net.upstream.family, 0);
	assert_int_equal(podman_net_parse("private", false, 5, &net, &err), 0);
	assert_int_equal(net.kind, PODMAN_NET_BRIDGE);

	/* Rootless: slirp4netns before podman 5 (and when the version is unknown), then pasta. */
	assert_int_equal(podman_net_parse(NULL, true, 4, &net, &err), 0);
	assert_int_equal(net.kind, PODMAN_NET_SLIRP4NETNS);
	assert_addr(&net.upstream, "10.0.2.3");
	assert_addr(&net.gateway_v4, "10.0.2.2");
	assert_int_equal(podman_net_parse(NULL, true, 0, &net, &err), 0);
	assert_int_equal(net.kind, PODMAN_NET_SLIRP4NETNS);
	assert_int_equal(podman_net_parse("private", true, 5, &net, &err), 0);
	assert_int_equal(net.kind, PODMAN_NET_PASTA);
	assert_addr(&net.upstream, "169.254.1.1");
	assert_addr(&net.gateway_v4, "169.254.1.2");
}

static void test_net_modes(void **state)
{
	struct shield_error err = {0};
	struct podman_net net;

	(void)state;
	assert_int_equal(podman_net_parse("slirp4netns", false, 4, &net, &err), 0);
	assert_addr(&net.upstream, "10.0.2.3");
	assert_int_equal(
		podman_net_parse("slirp4netns:allow_host_loopback=true", true, 4, &net, &err), 0);
	assert_addr(&net.upstream, "10.0.2.3");
	/* cidr= moves both: gateway at base + 2, DNS at base + 3. */
	assert_int_equal(
		podman_net_parse("slirp4netns:mtu=1500,cidr=10.5.0.0/24", true, 4, &net, &err), 0);
	assert_addr(&net.upstream, "10.5.0.3");
	assert_addr(&net.gateway_v4, "10.5.0.2");
	assert_int_equal(podman_net_parse("slirp4netns:cidr=10.5.0.0/30", true, 4, &net, &err),
			 -EINVAL);
	assert_msg_contains(&err, "cidr");
	assert_int_equal(podman_net_parse("slirp4netns:cidr=fd00::/64", true, 4, &net, &err),
			 -EINVAL);

	/* pasta: its DNS forwarder from podman 5 on, the host's nameservers before. */
	assert_int_equal(podman_net_parse("pasta", true, 5, &net, &err), 0);
	assert_addr(&net.upstream, "169.254.1.1");
	assert_int_equal(podman_net_parse("pasta:--ipv4-only", true, 0, &net, &err), 0);
	assert_addr(&net.upstream, "169.254.1.1");
	assert_int_equal(podman_net_parse("pasta", true, 4, &net, &err), 0);
	assert_true(net.host_resolver);
	assert_int_equal(net.upstream.family, 0);

	assert_int_equal(podman_net_parse("bridge", true, 4, &net, &err), 0);
	assert_int_equal(net.kind, PODMAN_NET_BRIDGE);
	assert_true(net.host_resolver);
	assert_int_equal(podman_net_parse("podman", false, 4, &net, &err), 0);
	assert_int_equal(net.kind, PODMAN_NET_BRIDGE);
	assert_int_equal(podman_net_parse("bridge:ip=10.88.0.9", false, 4, &net, &err), 0);
	assert_int_equal(net.kind, PODMAN_NET_BRIDGE);

	assert_int_equal(podman_net_parse("ns:/run/netns/x", false, 4, &net, &err), 0);
	assert_int_equal(net.kind, PODMAN_NET_NS);
	assert_false(net.host_resolver);
	assert_int_equal(podman_net_parse("mynet", false, 4, &net, &err), 0);
	assert_int_equal(net.kind, PODMAN_NET_NAMED);
	assert_int_equal(podman_net_parse("a,b", false, 4, &net, &err), 0);
	assert_int_equal(net.kind, PODMAN_NET_NAMED);
	/* A name that merely starts like a mode is a network name. */
	assert_int_equal(podman_net_parse("bridged", false, 4, &net, &err), 0);
	assert_int_equal(net.kind, PODMAN_NET_NAMED);
}

static void test_net_refused(void **state)
{
	struct shield_error err = {0};
	struct podman_net net;

	(void)state;
	assert_int_equal(podman_net_parse("host", false, 4, &net, &err), -EINVAL);
	assert_msg_contains(&err, "host's network namespace");
	assert_int_equal(podman_net_parse("none", true, 4, &net, &err), -EINVAL);
	assert_msg_contains(&err, "nothing to firewall");
	assert_int_equal(podman_net_parse("container:web", false, 4, &net, &err), -EINVAL);
	assert_msg_contains(&err, "another container");
	assert_int_equal(podman_net_parse("", false, 4, &net, &err), -EINVAL);
	assert_int_equal(podman_net_parse("ns:", false, 4, &net, &err), -EINVAL);
	assert_int_equal(podman_net_parse("slirp", true, 4, &net, &err), -EINVAL);
	assert_msg_contains(&err, "slirp4netns");
	assert_int_equal(podman_net_parse("container:\n", false, 4, &net, &err), -EINVAL);
	assert_msg_printable(&err);
}

/* ----------------------------------------------------------- resolv.conf */

static void test_resolv_first_usable(void **state)
{
	struct addr_prefix a;
	bool loop = true;
	const char *t;

	(void)state;
	t = "# generated\nsearch example.com\nnameserver 192.0.2.1\nnameserver 192.0.2.2\n";
	assert_int_equal(podman_resolv_nameserver(t, strlen(t), &a, &loop), 0);
	assert_addr(&a, "192.0.2.1");
	assert_false(loop);

	/* Loopback ones skipped (and reported), tabs, comments after the address. */
	t = "nameserver 127.0.0.53\nnameserver\t::1\noptions edns0\nnameserver\t198.51.100.7 # x\n";
	assert_int_equal(podman_resolv_nameserver(t, strlen(t), &a, &loop), 0);
	assert_addr(&a, "198.51.100.7");
	assert_true(loop);

	/* IPv4 preferred over an earlier IPv6; no trailing newline. */
	t = "nameserver 2001:db8::53\nnameserver 203.0.113.9";
	assert_int_equal(podman_resolv_nameserver(t, strlen(t), &a, NULL), 0);
	assert_addr(&a, "203.0.113.9");
	t = "nameserver fe80::1\nnameserver fe80::2%eth0\nnameserver 2001:db8::53\n";
	assert_int_equal(podman_resolv_nameserver(t, strlen(t), &a, NULL), 0);
	assert_addr(&a, "2001:db8::53");
	t = "nameserver 10.0.0.1;comment\n";
	assert_int_equal(podman_resolv_nameserver(t, strlen(t), &a, NULL), 0);
	assert_addr(&a, "10.0.0.1");
}

static void test_resolv_none(void **state)
{
	struct addr_prefix a;
	bool loop = false;
	const char *t;

	(void)state;
	assert_int_equal(podman_resolv_nameserver("", 0, &a, &loop), -ENOENT);
	assert_false(loop);
	t = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n";
	assert_int_equal(podman_resolv_nameserver(t, strlen(t), &a, &loop), -ENOENT);
	assert_true(loop);
	/* Not a nameserver line: commented, indented, misspelt, bad address, zone. */
	t = "#nameserver 192.0.2.1\n nameserver 192.0.2.2\nnameservers 192.0.2.3\n"
	    "nameserver 192.0.2.300\nnameserver fe80::1%eth0\nnameserver\n";
	assert_int_equal(podman_resolv_nameserver(t, strlen(t), &a, &loop), -ENOENT);
	assert_false(loop);
}

static void test_upstream_pick(void **state)
{
	struct shield_error err = {0};
	struct podman_net net;
	struct addr_prefix a;

	(void)state;
	/* The mode's own. */
	assert_int_equal(podman_net_parse(NULL, true, 4, &net, &err), 0);
	assert_int_equal(podman_upstream_pick(NULL, &net, NULL, NULL, &a, &err), 0);
	assert_addr(&a, "10.0.2.3");

	/* Bridge: the host's, systemd-resolved's servers behind its stub. */
	assert_int_equal(podman_net_parse("bridge", false, 4, &net, &err), 0);
	assert_int_equal(
		podman_upstream_pick("bridge", &net, "nameserver 192.0.2.53\n", NULL, &a, &err), 0);
	assert_addr(&a, "192.0.2.53");
	assert_int_equal(podman_upstream_pick("bridge", &net, "nameserver 127.0.0.53\n",
					      "nameserver 198.51.100.1\n", &a, &err),
			 0);
	assert_addr(&a, "198.51.100.1");
	assert_int_equal(
		podman_upstream_pick("bridge", &net, "nameserver 127.0.0.53\n", NULL, &a, &err),
		-ENOENT);
	assert_msg_contains(&err, "only loopback");
	assert_msg_contains(&err, "--upstream-dns");
	assert_int_equal(podman_upstream_pick("bridge", &net, "nameserver 127.0.0.53\n",
					      "nameserver 127.0.0.1\n", &a, &err),
			 -ENOENT);
	assert_msg_contains(&err, "/run/systemd/resolve/resolv.conf");
	/* The resolved file is only for a stub: a host without any nameserver is an error. */
	assert_int_equal(podman_upstream_pick("bridge", &net, "search x\n",
					      "nameserver 198.51.100.1\n", &a, &err),
			 -ENOENT);
	assert_int_equal(podman_upstream_pick(NULL, &net, NULL, NULL, &a, &err), -ENOENT);
	assert_msg_contains(&err, "/etc/resolv.conf");

	/* Modes that name no DNS server. */
	assert_int_equal(podman_net_parse("ns:/run/netns/x", false, 4, &net, &err), 0);
	assert_int_equal(podman_upstream_pick("ns:/run/netns/x", &net, "nameserver 192.0.2.53\n",
					      NULL, &a, &err),
			 -EDESTADDRREQ);
	assert_msg_contains(&err, "ns:/run/netns/x");
	assert_msg_contains(&err, "--upstream-dns");
	assert_int_equal(podman_net_parse("mynet", false, 4, &net, &err), 0);
	assert_int_equal(
		podman_upstream_pick("mynet", &net, "nameserver 192.0.2.53\n", NULL, &a, &err),
		-EDESTADDRREQ);
	assert_msg_contains(&err, "mynet");
}

/* ------------------------------------------------------- run arguments */

struct build_fixture {
	struct strlist profiles;
	struct addr_prefix up;
	struct port_list ports;
	struct podman_args_params p;
};

static int build_setup(void **state)
{
	struct build_fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(strlist_add(&f->profiles, "dev-standard"), 0);
	assert_int_equal(strlist_add(&f->profiles, "extra"), 0);
	assert_int_equal(addr_parse_host("10.0.2.3", 8, &f->up, NULL), 0);
	f->p.name = "web";
	f->p.state_dir = "/var/lib/shield/containers/web";
	f->p.profiles = &f->profiles;
	f->p.upstream = &f->up;
	f->p.loopback_ports = &f->ports;
	*state = f;
	return 0;
}

static int build_teardown(void **state)
{
	struct build_fixture *f = *state;

	strlist_free(&f->profiles);
	free(f);
	return 0;
}

static void test_build_args(void **state)
{
	struct build_fixture *f = *state;
	struct shield_error err = {0};
	struct strlist out = STRLIST_INIT;
	char *line;

	assert_int_equal(podman_args_build(&f->p, &out, &err), 0);
	line = strlist_join(&out, "|");
	assert_string_equal(
		line, "--name|web|"
		      "--annotation|terok.shield.profiles=dev-standard:extra|"
		      "--annotation|terok.shield.state_dir=/var/lib/shield/containers/web|"
		      "--annotation|terok.shield.name=web|"
		      "--annotation|terok.shield.version=1|"
		      "--annotation|terok.shield.upstream_dns=10.0.2.3|"
		      "--annotation|terok.shield.dns_tier=dnsmasq|"
		      "--cap-drop|NET_ADMIN|--cap-drop|NET_RAW|"
		      "--volume|/var/lib/shield/containers/web/resolv.conf:/etc/resolv.conf:ro");
	free(line);
	strlist_free(&out);

	/* Network, loopback ports, hooks dir. */
	assert_int_equal(port_list_parse("8080:443", &f->ports, &err), 0);
	f->p.network = "slirp4netns:allow_host_loopback=true";
	f->p.hooks_dir = "/home/u/.local/share/containers/oci/hooks.d";
	assert_int_equal(podman_args_build(&f->p, &out, &err), 0);
	line = strlist_join(&out, "|");
	assert_string_equal(
		line, "--hooks-dir|/home/u/.local/share/containers/oci/hooks.d|"
		      "--name|web|"
		      "--network|slirp4netns:allow_host_loopback=true|"
		      "--annotation|terok.shield.profiles=dev-standard:extra|"
		      "--annotation|terok.shield.state_dir=/var/lib/shield/containers/web|"
		      "--annotation|terok.shield.name=web|"
		      "--annotation|terok.shield.version=1|"
		      "--annotation|terok.shield.upstream_dns=10.0.2.3|"
		      "--annotation|terok.shield.dns_tier=dnsmasq|"
		      "--annotation|terok.shield.loopback_ports=8080:443|"
		      "--cap-drop|NET_ADMIN|--cap-drop|NET_RAW|"
		      "--volume|/var/lib/shield/containers/web/resolv.conf:/etc/resolv.conf:ro");
	free(line);
	strlist_free(&out);
}

static void test_build_refuses_paths(void **state)
{
	struct build_fixture *f = *state;
	struct shield_error err = {0};
	struct strlist out = STRLIST_INIT;

	f->p.state_dir = "relative/web";
	assert_int_equal(podman_args_build(&f->p, &out, &err), -EINVAL);
	assert_msg_contains(&err, "absolute");
	strlist_free(&out);
	f->p.state_dir = "/tmp/a,b";
	assert_int_equal(podman_args_build(&f->p, &out, &err), -EINVAL);
	assert_msg_contains(&err, "\"/tmp/a,b\"");
	assert_msg_contains(&err, "','");
	strlist_free(&out);
	f->p.state_dir = "/tmp/a:b";
	assert_int_equal(podman_args_build(&f->p, &out, &err), -EINVAL);
	assert_msg_contains(&err, "':'");
	strlist_free(&out);
	f->p.state_dir = "/tmp/a\nb";
	assert_int_equal(podman_args_build(&f->p, &out, &err), -EINVAL);
	assert_msg_printable(&err);
	strlist_free(&out);
	/* Spaces and quotes travel fine. */
	f->p.state_dir = "/tmp/my 'odd' \"dir\"";
	assert_int_equal(podman_args_build(&f->p, &out, &err), 0);
	strlist_free(&out);
	f->p.hooks_dir = "hooks";
	assert_int_equal(podman_args_build(&f->p, &out, &err), -EINVAL);
	assert_msg_contains(&err, "--hooks-dir");
	strlist_free(&out);
	f->p.hooks_dir = "/h,x";
	assert_int_equal(podman_args_build(&f->p, &out, &err), -EINVAL);
	strlist_free(&out);
}

/* ----------------------------------------------------- user's podman args */

static void test_check_accepts(void **state)
{
	(void)state;
	assert_accepted("alpine", 0);
	assert_accepted("alpine|sh|-c|--name x", 0); /* the command is not looked at */
	assert_accepted("--rm|-it|alpine|sh", 2);
	assert_accepted("--rm|--rootfs|/tmp/root|sh", 2);
	assert_accepted("-e|FOO=1|--env=BAR=2|-eBAZ=3|-v|/data:/data:ro|img", 6);
	assert_accepted("-itv|/a:/b|img", 2);
	assert_accepted("-dit|img", 1);
	assert_accepted("-d=false|img", 1);
	assert_accepted("--cap-add|CHOWN|--cap-add=SYS_TIME,NET_BIND_SERVICE|img", 3);
	assert_accepted("--cap-drop|ALL|img", 2);
	assert_accepted("--annotation|io.example=1|--annotation=a=terok.shield.x|img", 3);
	assert_accepted("--privileged=false|img", 1);
	assert_accepted("--userns=keep-id|--userns|host|img", 3);
	assert_accepted("--mount|type=bind,src=/a,dst=/etc/hosts|img", 2);
	assert_accepted("--mount=type=bind,src=/etc/resolv.conf,dst=/x|img", 1);
	assert_accepted("-v|/etc/resolv.conf:/host-resolv.conf|img", 2);
	assert_accepted("-v|/etc:/etc2|-v|named:/etc|img", 4);
	assert_accepted("--tmpfs|/tmp:rw|img", 2);
	assert_accepted("--volumes-from|other|img", 2);
	assert_accepted("--some-new-flag=value|img", 1); /* self-contained: podman judges it */
	assert_accepted("--log-level|debug|--runtime|runc|img", 4);
	assert_accepted("--|img|--name|x", 1);
	assert_accepted("-|x", 0);
}

static void test_check_refuses_managed(void **state)
{
	(void)state;
	assert_refused("--name|x|img", "--name");
	assert_refused("--name=x|img", "shield names the container");
	assert_refused("--hooks-dir|/x|img", "--hooks-dir");
	assert_refused("--hooks-dir=/x|img", "shield setup");
	assert_refused("--network|host|img", "--network");
	assert_refused("--network=none|img", "before '--'");
	assert_refused("--net|host|img", "--net");
	assert_refused("--net=container:x|img", "--net");
	assert_refused("--dns|1.1.1.1|img", "--dns");
	assert_refused("--dns=1.1.1.1|img", "dnsmasq");
	assert_refused("--dns-search|example.com|img", "--dns-search");
	assert_refused("--dns-option=ndots:1|img", "--dns-option");
	assert_refused("--dns-opt|ndots:1|img", "--dns-opt");
	assert_refused("--privileged|img", "--privileged");
	assert_refused("--privileged=true|img", "NET_ADMIN and NET_RAW");
	assert_refused("--privileged=1|img", "--privileged");
	assert_refused("--pod|mypod|img", "pod");
	assert_refused("--pod=new:p|img", "network namespace");
	assert_refused("--pod-id-file|/x|img", "--pod-id-file");
	/* Only shield's own annotations, in every field of the value. */
	assert_refused("--annotation|terok.shield.profiles=x|img", "terok.shield.*");
	assert_refused("--annotation=terok.shield.state_dir=/tmp|img", "--annotation");
	assert_refused("--annotation|a=b,terok.shield.name=x|img", "terok.shield");
	assert_refused("--annotation|\"terok.shield.x=y\"|img", "terok.shield");
	assert_refused("--annotation| terok.shield.x=y|img", "terok.shield");
	assert_refused("--annotation|TEROK.SHIELD.x=y|img", "terok.shield");
}

static void test_check_refuses_caps(void **state)
{
	static const char *const caps[] = {
		"NET_ADMIN",  "CAP_NET_ADMIN", "net_admin",	  "cap_net_raw",    "NET_RAW",
		"ALL",	      "all",	       "SYS_ADMIN",	  "SYS_MODULE",	    "SYS_RAWIO",
		"SYS_PTRACE", "BPF",	       "CHOWN,NET_ADMIN", "CHOWN, net_raw", "\"NET_ADMIN\"",
	};
	char words[128];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(caps); i++) {
		snprintf(words, sizeof(words), "--cap-add|%s|img", caps[i]);
		assert_refused(words, "--cap-add");
		snprintf(words, sizeof(words), "--cap-add=%s|img", caps[i]);
		assert_refused(words, "rewrite, bypass or step around its firewall");
	}
	assert_refused("-it|--cap-add|SYS_TIME|--cap-add|NET_ADMIN|img", "NET_ADMIN");
}

static void test_check_refuses_resolv_mounts(void **state)
{
	static const char *const volumes[] = {
		"/x:/etc/resolv.conf",
		"/x:/etc/resolv.conf:ro",
		"/x:/etc/resolv.conf:ro,z",
		"named:/etc/resolv.conf",
		"/etc/resolv.conf",
		"/x://etc//resolv.conf/",
		"/x:/etc/./resolv.conf",
		"/x:/etc/ssl/../resolv.conf",
		"/x:/../etc/resolv.conf",
		"/x:/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/../../../../../../../../../../../../../../"
		"../"
		"../../../etc/resolv.conf",
	};
	char words[512];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(volumes); i++) {
		snprintf(words, sizeof(words), "-v|%s|img", volumes[i]);
		assert_refused(words, "/etc/resolv.conf is shield's");
		snprintf(words, sizeof(words), "--volume|%s|img", volumes[i]);
		assert_refused(words, "--volume");
		snprintf(words, sizeof(words), "--volume=%s|img", volumes[i]);
		assert_refused(words, "--volume");
		snprintf(words, sizeof(words), "-v%s|img", volumes[i]);
		assert_refused(words, "-v");
		snprintf(words, sizeof(words), "-v=%s|img", volumes[i]);
		assert_refused(words, "-v");
		snprintf(words, sizeof(words), "-itv|%s|img", volumes[i]);
		assert_refused(words, "-v");
		snprintf(words, sizeof(words), "-itv%s|img", volumes[i]);
		assert_refused(words, "-v");
	}
	assert_refused("--mount|type=bind,source=/x,destination=/etc/resolv.conf|img", "--mount");
	assert_refused("--mount=type=bind,src=/x,dst=/etc/resolv.conf,ro|img", "--mount");
	assert_refused("--mount|type=bind,src=/x,target=/etc//resolv.conf|img", "--mount");
	assert_refused("--mount|type=volume,target=/etc/resolv.conf|img", "--mount");
	assert_refused("--mount|type=bind,src=/x,\"dst=/etc/resolv.conf\"|img", "--mount");
	assert_refused("--mount|type=bind, src=/x, Destination=/etc/resolv.conf|img", "--mount");
	assert_refused("--tmpfs|/etc/resolv.conf|img", "--tmpfs");
	assert_refused("--tmpfs=/etc/resolv.conf:rw,size=1k|img", "--tmpfs");
	/* A refusal after other options, and after a value that looks like an option. */
	assert_refused("--rm|-e|--name|-v|/x:/etc/resolv.conf|img", "-v");
}

static void test_check_bad_usage(void **state)
{
	struct shield_error err = {0};
	size_t image;

	(void)state;
	assert_int_equal(check_words("--frobnicate|img", &image, &err), -EINVAL);
	assert_msg_contains(&err, "--frobnicate");
	assert_msg_contains(&err, "--frobnicate=VALUE");
	assert_int_equal(check_words("-Z|img", &image, &err), -EINVAL);
	assert_msg_contains(&err, "-Z");
	assert_int_equal(check_words("-itZ|img", &image, &err), -EINVAL);
	assert_msg_contains(&err, "-Z");
	assert_int_equal(check_words("--rm", &image, &err), -EINVAL);
	assert_msg_contains(&err, "no image");
	assert_int_equal(check_words("-e", &image, &err), -EINVAL);
	assert_msg_contains(&err, "needs a value");
	assert_int_equal(check_words("--env", &image, &err), -EINVAL);
	assert_msg_contains(&err, "--env needs a value");
	assert_int_equal(check_words("-e|X=1", &image, &err), -EINVAL);
	assert_msg_contains(&err, "no image");
	assert_int_equal(check_words("--", &image, &err), -EINVAL);
	assert_int_equal(check_words("--\x01\xff", &image, &err), -EINVAL);
	assert_msg_printable(&err);
	assert_int_equal(podman_args_check(NULL, 0, &image, &err), -EINVAL);
}

/* ----------------------------------------------------------------- quoting */

static void assert_quoted(const char *word, const char *want)
{
	char *q = podman_shell_quote(word);

	assert_non_null(q);
	assert_string_equal(q, want);
	free(q);
}

static void test_quote(void **state)
{
	struct strlist words = STRLIST_INIT;
	char *line;

	(void)state;
	assert_quoted("--name", "--name");
	assert_quoted("terok.shield.profiles=a:b", "terok.shield.profiles=a:b");
	assert_quoted("/var/lib/x/resolv.conf:/etc/resolv.conf:ro",
		      "/var/lib/x/resolv.conf:/etc/resolv.conf:ro");
	assert_quoted("", "''");
	assert_quoted("a b", "'a b'");
	assert_quoted("it's", "'it'\\''s'");
	assert_quoted("'", "''\\'''");
	assert_quoted("$HOME `x` \"y\" \\z *?[]~#&;|<>(){}!",
		      "'$HOME `x` \"y\" \\z *?[]~#&;|<>(){}!'");
	assert_quoted("a\nb", "'a\nb'");

	assert_int_equal(strlist_add(&words, "--annotation"), 0);
	assert_int_equal(strlist_add(&words, "terok.shield.state_dir=/tmp/my 'odd' dir"), 0);
	assert_int_equal(strlist_add(&words, "--cap-drop"), 0);
	line = podman_shell_join(&words);
	assert_string_equal(
		line, "--annotation 'terok.shield.state_dir=/tmp/my '\\''odd'\\'' dir' --cap-drop");
	free(line);
	strlist_free(&words);
	line = podman_shell_join(&words);
	assert_string_equal(line, "");
	free(line);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_net_defaults),
		cmocka_unit_test(test_net_modes),
		cmocka_unit_test(test_net_refused),
		cmocka_unit_test(test_resolv_first_usable),
		cmocka_unit_test(test_resolv_none),
		cmocka_unit_test(test_upstream_pick),
		cmocka_unit_test_setup_teardown(test_build_args, build_setup, build_teardown),
		cmocka_unit_test_setup_teardown(test_build_refuses_paths, build_setup,
						build_teardown),
		cmocka_unit_test(test_check_accepts),
		cmocka_unit_test(test_check_refuses_managed),
		cmocka_unit_test(test_check_refuses_caps),
		cmocka_unit_test(test_check_refuses_resolv_mounts),
		cmocka_unit_test(test_check_bad_usage),
		cmocka_unit_test(test_quote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
