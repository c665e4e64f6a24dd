#!/usr/bin/env bash
# The end-to-end test world itself, with plain containers (no shield): a
# rootful container in a namespace of the test and a rootless one (test
# user, slirp4netns) reach the test host by IP and by name through the
# test's DNS, reach nothing outside the world, and podman runs the hooks of
# the test's hooks dir with the descriptor's environment. If this fails,
# every other e2e result is meaningless.
set -euo pipefail
# shellcheck source=tests/e2e/lib-podman.sh
source "$(dirname "$0")/lib-podman.sh"

require_podman
require_rootless
topo_setup
podman_setup
podman_user_setup

# A hook that records its arguments, environment and stdin, in place of
# shield-hook: proves podman runs the descriptors of the test's hooks dir.
make_probe_hook() { # make_probe_hook PATH OUTDIR
	cat >"$1" <<-EOF
		#!/bin/sh
		out=$2/\$1.\$\$
		{ echo "argv0=\$0 args=\$*"; echo "uid=\$(id -u)"; env | sort; echo "stdin:"; cat; echo; } >"\$out.tmp" 2>&1
		mv "\$out.tmp" "\$out"
	EOF
	chmod 0755 "$1"
}

# probe_ok OUTDIR: both stages ran, with our env only and the OCI state.
probe_ok() {
	local d=$1 f ok=0
	for stage in createRuntime poststop; do
		f=$(find "$d" -name "$stage.*" ! -name '*.tmp' | head -n1)
		if [[ -z $f ]]; then
			say "    the $stage hook did not run"
			ok=1
			continue
		fi
		grep -qx "SHIELD_RUNTIME_DIR=$2" "$f" || {
			say "    $stage: SHIELD_RUNTIME_DIR missing: $(cat "$f")"
			ok=1
		}
		grep -qx "PROBE_EXTRA=yes" "$f" || {
			say "    $stage: extra env missing"
			ok=1
		}
		if grep -q '^CONTAINERS_CONF=' "$f"; then
			say "    $stage: the hook saw podman's environment"
			ok=1
		fi
		grep -q '"terok.shield.profiles":"probe"' "$f" || {
			say "    $stage: no annotations on stdin: $(cat "$f")"
			ok=1
		}
	done
	grep -q '"pid":[1-9]' "$(find "$d" -name 'createRuntime.*' | head -n1)" 2>/dev/null || {
		say "    createRuntime: no pid in the OCI state"
		ok=1
	}
	return "$ok"
}

has_token() { # has_token WANT TEXT
	[[ $2 == *"$1"* ]] && return 0
	say "    expected '$1'; got: ${2:-<nothing>}"
	return 1
}
fails_with() { # fails_with RC OUT: nc ran, failed, got no token
	if [[ $1 != 0 && $2 =~ (can\'t connect|timed out) && $2 != *shield-token* ]]; then
		return 0
	fi
	say "    expected a failure; got rc=$1: $2"
	return 1
}
no_default_route() {
	local r
	r=$(ip -n "$1" route show default)
	[[ -z $r ]] && return 0
	say "    $1 has a default route: $r"
	return 1
}
only_world_links() { # the hosts namespace links to the test's namespaces only
	local links
	links=$(ip -n "$HOSTS_NS" -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort | tr '\n' ' ')
	[[ $links =~ ^(h0 |hc[0-9]+ |lo )+$ ]] && return 0
	say "    unexpected links in $HOSTS_NS: $links"
	return 1
}
upstream_saw() { # upstream_saw NAME CLIENT: the test DNS got a query for NAME from CLIENT
	grep -q "query\[A\] $1 from $2" "$TMP/upstream-dns.log" && return 0
	say "    the test DNS logged no query for $1 from $2:"
	sed 's/^/      /' "$TMP/upstream-dns.log" >&2
	return 1
}

# Run in the container with HOST, PORT, NAME and DNS (server, or empty for
# resolv.conf) in its environment.
# shellcheck disable=SC2016 # expanded by the container's shell
PROBE_SCRIPT='
	echo "tcp: $(nc -w 3 "$HOST" "$PORT" </dev/null 2>&1)"
	echo "dns: $(nslookup "$NAME" $DNS 2>&1 | tr "\n" " ")"
	echo "byname: $(nc -w 3 "$NAME" "$PORT" </dev/null 2>&1)"
	o=$(nc -w 2 192.0.2.1 80 </dev/null 2>&1); echo "outside: rc=$? $o" | tr "\n" " "; echo
	echo "uid: $(tr -s " " </proc/self/uid_map | tr "\n" ";")"
'
PROBE_ENV=(--env "HOST=$PUB_ALLOWED" --env "PORT=$TCP_PORT" --env "NAME=$DNS_NAME_ALLOWED")
line_of() { sed -n "s/^$1: //p" <<<"$2"; }

check_world() { # check_world MODE OUT
	local mode=$1 out=$2
	check "$mode: TCP to the test host by IP" has_token "shield-token $PUB_ALLOWED" "$(line_of tcp "$out")"
	check "$mode: the test DNS resolves the test name" has_token "$PUB_ALLOWED" "$(line_of dns "$out")"
	check "$mode: TCP to the test host by name" has_token "shield-token $PUB_ALLOWED" "$(line_of byname "$out")"
	local o
	o=$(line_of outside "$out")
	o=${o#rc=}
	check "$mode: an address outside the world is unreachable" fails_with "${o%% *}" "$o"
}

# ---------------------------------------------------------------- rootful
say "# rootful (runc, --network ns:)"
client_ns_new r1
RNS=$NS_NAME
check "rootful: the container namespace's only way out is the hosts namespace" only_world_links
check "rootful: the hosts namespace has no default route" no_default_route "$HOSTS_NS"

t0=$(ms_now)
podman_root run --rm --network none --rootfs "$ROOTFS" /bin/true || die "rootful podman run failed"
T_ROOT=$(($(ms_now) - t0))

RC=0
OUT=$(podman_root run --rm --network "ns:$(netns_path "$RNS")" --dns "$DNS_UPSTREAM" \
	"${PROBE_ENV[@]}" --env DNS= --rootfs "$ROOTFS" /bin/sh -c "$PROBE_SCRIPT" 2>&1) || RC=$?
say "$OUT"
check "rootful: podman run succeeded" test "$RC" = 0
check_world rootful "$OUT"
check "rootful: the name was looked up at the test DNS from the container's namespace" \
	upstream_saw "$DNS_NAME_ALLOWED" "$CNS_ADDR"

PROBE_DIR=$TMP/probe-root
mkdir -m 0700 "$PROBE_DIR"
make_probe_hook "$TMP/probe-hook" "$PROBE_DIR"
SHIELD_HOOK_BIN=$TMP/probe-hook write_hooks_dir "$TMP/probe-hooks" "$ROOT_RUNTIME_DIR" PROBE_EXTRA=yes
ROOT_HOOKS=$TMP/probe-hooks podman_root run --rm --network none --annotation terok.shield.profiles=probe \
	--rootfs "$ROOTFS" /bin/true || say "    podman run with the probe hook failed"
check "rootful: podman runs the test's hooks with the descriptor's environment" \
	probe_ok "$PROBE_DIR" "$ROOT_RUNTIME_DIR"

# ---------------------------------------------------------------- rootless
say "# rootless ($ROOTLESS_USER, slirp4netns from $SLIRP_NS)"
check "rootless: the slirp host namespace has no default route" no_default_route "$SLIRP_NS"

t0=$(ms_now)
podman_user run --rm --network none --rootfs "$USER_ROOTFS" /bin/true || die "rootless podman run failed"
T_USER_FIRST=$(($(ms_now) - t0))
t0=$(ms_now)
podman_user run --rm --network slirp4netns --rootfs "$USER_ROOTFS" /bin/true || die "rootless podman run (slirp4netns) failed"
T_USER=$(($(ms_now) - t0))

RC=0
OUT=$(podman_user run --rm --network slirp4netns "${PROBE_ENV[@]}" --env DNS=10.0.2.3 \
	--rootfs "$USER_ROOTFS" /bin/sh -c "$PROBE_SCRIPT" 2>&1) || RC=$?
say "$OUT"
check "rootless: podman run succeeded" test "$RC" = 0
check_world rootless "$OUT"
check "rootless: slirp4netns's forwarder 10.0.2.3 asked the test DNS from the slirp host namespace" \
	upstream_saw "$DNS_NAME_ALLOWED" "$CLIENT_V4"
check "rootless: the container runs in a user namespace of the test user" \
	has_token " 0 $ROOTLESS_UID 1" "$(line_of uid "$OUT")"

PROBE_DIR=$TMP/probe-user
mkdir -m 0700 "$PROBE_DIR"
chown "$ROOTLESS_USER:" "$PROBE_DIR"
cp "$TMP/probe-hook" "$USER_DIR/probe-hook"
make_probe_hook "$USER_DIR/probe-hook" "$PROBE_DIR"
SHIELD_HOOK_BIN=$USER_DIR/probe-hook write_hooks_dir "$USER_DIR/probe-hooks" "$USER_RUNTIME_DIR" PROBE_EXTRA=yes
USER_HOOKS=$USER_DIR/probe-hooks podman_user run --rm --network none --annotation terok.shield.profiles=probe \
	--rootfs "$USER_ROOTFS" /bin/true || say "    rootless podman run with the probe hook failed"
check "rootless: podman runs the test's hooks with the descriptor's environment" \
	probe_ok "$PROBE_DIR" "$USER_RUNTIME_DIR"

say ""
say "timing: rootful podman run --rm: ${T_ROOT} ms; rootless: ${T_USER_FIRST} ms (first, network none), ${T_USER} ms (slirp4netns)"
finish
