#!/usr/bin/env bash
# The podman side of the CLI, without running a container: `shield prepare`
# prints podman arguments that survive the shell and JSON, `shield run`
# refuses the podman options shield manages (exit 2, one message naming the
# option, nothing written, podman not started) and otherwise execs podman
# with shield's arguments followed by the user's, `shield setup` writes
# valid hook descriptors idempotently and `shield check` reports what is
# missing. podman is a script ($SHIELD_PODMAN) that records its argv: the
# thing under test is shield's argv; real podman runs are the e2e tests'.
# shellcheck disable=SC2016 # jq filters are single-quoted on purpose
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

require_cmd jq
require_shield
init_shield_dirs
write_profile web example.com 198.18.1.2

SHIELD_HOOK_BIN=${SHIELD_HOOK_BIN:-$(dirname "$SHIELD_BIN")/shield-hook}
[[ -x $SHIELD_HOOK_BIN ]] || skip_or_fail "shield-hook not found at SHIELD_HOOK_BIN=$SHIELD_HOOK_BIN"

# A podman that records its argv (NUL-separated) and answers --version and info.
ARGV_FILE=$TMP/podman-argv
FAKE_PODMAN=$TMP/bin/podman
mkdir -p "$TMP/bin"
cat >"$FAKE_PODMAN" <<EOF
#!/bin/sh
case "\$1" in
--version) echo "podman version 4.3.1"; exit 0 ;;
info) printf '%s\n' '{"host":{"networkBackend":"netavark","ociRuntime":{"name":"runc"},"security":{"rootless":false},"slirp4netns":{"executable":"/usr/bin/slirp4netns"}},"version":{"Version":"4.3.1"}}'; exit 0 ;;
esac
printf '%s\0' "\$@" >"$ARGV_FILE"
EOF
printf '#!/bin/sh\necho "podman version 5.2.2"\n' >"$TMP/bin/podman5"
chmod +x "$FAKE_PODMAN" "$TMP/bin/podman5"
export SHIELD_PODMAN=$FAKE_PODMAN

# Hooks where the tests' podman reads them (a containers.conf of the test's own).
HOOKS=$TMP/hooks
printf '[engine]\nhooks_dir = ["%s"]\n' "$HOOKS" >"$TMP/containers.conf"
export CONTAINERS_CONF=$TMP/containers.conf

NS_OPTS=(--network ns:/run/netns/shield-test --upstream-dns 198.18.1.53)

# ------------------------------------------------------------- helpers

# jqe ARGS...: jq -e, quiet (its exit status is the check).
jqe() { jq -e "$@" >/dev/null; }

# outcome RC [NEEDLE]: the last run_capture exited RC and, if given, the
# first line of its stderr holds NEEDLE.
outcome() {
	if [[ $RC != "$1" ]]; then
		say "    exit $RC, expected $1; stderr: $ERR"
		return 1
	fi
	if [[ -n ${2:-} && $(head -n1 <<<"$ERR") != *"$2"* ]]; then
		say "    stderr does not say \"$2\": $ERR"
		return 1
	fi
}

# stderr_lines N: the last run_capture printed N lines on stderr.
stderr_lines() {
	local n=0
	[[ -z $ERR ]] || n=$(wc -l <<<"$ERR")
	[[ $n == "$1" ]] && return 0
	say "    $n lines on stderr, expected $1: $ERR"
	return 1
}

# out_has TEXT / out_lacks TEXT: the last run_capture's stdout.
out_has() {
	[[ $OUT == *"$1"* ]] && return 0
	say "    stdout lacks \"$1\": $OUT"
	return 1
}
out_lacks() {
	[[ $OUT != *"$1"* ]] && return 0
	say "    stdout has \"$1\": $OUT"
	return 1
}

# absent PATH...: none of them exists (nothing was written).
absent() {
	local p
	for p in "$@"; do
		[[ ! -e $p ]] || {
			say "    $p exists"
			return 1
		}
	done
}

# same_words NAME_A NAME_B: two arrays hold the same words.
same_words() {
	local -n a=$1 b=$2
	local i
	if [[ ${#a[@]} != "${#b[@]}" ]]; then
		say "    ${#a[@]} words, expected ${#b[@]}: $(printf '[%s] ' "${a[@]}")"
		return 1
	fi
	for i in "${!a[@]}"; do
		[[ ${a[i]} == "${b[i]}" ]] || {
			say "    word $i is [${a[i]}], expected [${b[i]}]"
			return 1
		}
	done
}

# argv_is WORD...: the fake podman's recorded argv equals the words.
argv_is() {
	local -a got=() want=("$@")
	[[ -f $ARGV_FILE ]] || {
		say "    podman was not run"
		return 1
	}
	# shellcheck disable=SC2034 # read through a nameref
	mapfile -d '' -t got <"$ARGV_FILE"
	same_words got want
}

# state_of PATH: a fingerprint of a tree.
state_of() {
	{
		find "$1" -printf '%P %y %m %s %T@ %i\n' | sort
		find "$1" -type f -print0 | sort -z | xargs -0r md5sum
	} | md5sum
}

# ------------------------------------------------------------- prepare

# Paths with quotes and shell syntax (the bundle) and spaces (the hooks dir;
# dnsmasq.conf cannot hold a bundle path with blanks) survive the printed line.
ODD="$TMP/it's-\"odd\"-\$HOME;*&|"
ODD_HOOKS="$TMP/hooks dir 'q' \"x\""
ODD_OPTS=(--state-dir "$ODD" --profiles web "${NS_OPTS[@]}" --loopback-ports 8080:9090
	--gateway 10.9.0.1 --hooks-dir "$ODD_HOOKS")
run_capture shield prepare web "${ODD_OPTS[@]}" --json
check "prepare --json: exit 0, nothing on stderr" outcome 0
check "prepare --json: nothing on stderr" stderr_lines 0
JSON=$OUT
check "prepare --json: name and state_dir" \
	jqe --arg d "$ODD" 'keys_unsorted == ["name", "state_dir", "args"] and .name == "web" and .state_dir == $d' <<<"$JSON"
# shellcheck disable=SC2034 # read through a nameref
mapfile -t JARGS < <(jq -r '.args[]' <<<"$JSON")
# shellcheck disable=SC2034 # read through a nameref
EXPECTED_ARGS=(
	--hooks-dir "$ODD_HOOKS"
	--name web --network ns:/run/netns/shield-test
	--annotation terok.shield.profiles=web
	--annotation "terok.shield.state_dir=$ODD"
	--annotation terok.shield.name=web
	--annotation terok.shield.version=1
	--annotation terok.shield.upstream_dns=198.18.1.53
	--annotation terok.shield.dns_tier=dnsmasq
	--annotation terok.shield.loopback_ports=8080:9090
	--cap-drop NET_ADMIN --cap-drop NET_RAW
	--volume "$ODD/resolv.conf:/etc/resolv.conf:ro"
)
check "prepare --json: the podman arguments" same_words JARGS EXPECTED_ARGS
check "prepare: the bundle's resolv.conf points at dnsmasq" \
	grep -qx 'nameserver 127.0.0.1' "$ODD/resolv.conf"

# The default output: one line the shell splits back into the same words.
run_capture shield prepare web "${ODD_OPTS[@]}"
check "prepare: exit 0" outcome 0
check "prepare: one line on stdout" test "$(wc -l <<<"$OUT")" = 1
check "prepare: the summary on stderr" grep -q "^prepared web in " <<<"$ERR"
eval "LINE_ARGS=($OUT)"
check "prepare: the shell-quoted line gives the JSON's words" same_words LINE_ARGS JARGS
run_capture shield prepare web "${ODD_OPTS[@]}" -q
check "prepare -q: no summary" stderr_lines 0

# Network modes pick the upstream DNS.
run_capture shield prepare n1 --state-dir "$TMP/n1" --profiles web --network slirp4netns --json
check "prepare --network slirp4netns: upstream 10.0.2.3" \
	jqe '.args | index("terok.shield.upstream_dns=10.0.2.3") != null' <<<"$OUT"
run_capture shield prepare n2 --state-dir "$TMP/n2" --profiles web \
	--network 'slirp4netns:cidr=10.5.0.0/24' --loopback-ports 80 --json
check "prepare --network slirp4netns:cidr=: upstream at base + 3" \
	jqe '.args | index("terok.shield.upstream_dns=10.5.0.3") != null' <<<"$OUT"
check "prepare --network slirp4netns:cidr=: gateway at base + 2" \
	grep -qx 'gateway_v4=10.5.0.2' "$TMP/n2/shield.conf"
run_capture env SHIELD_PODMAN="$TMP/bin/podman5" "$SHIELD_BIN" --config-dir "$CONFIG_DIR" \
	prepare n3 --state-dir "$TMP/n3" --profiles web --network pasta --json
check "prepare --network pasta with podman 5: upstream 169.254.1.1" \
	jqe '.args | index("terok.shield.upstream_dns=169.254.1.1") != null' <<<"$OUT"
# bridge, and pasta before podman 5 (the fake podman says 4.3.1): the host's nameserver.
HOST_NS=$(awk '$1 == "nameserver" && $2 !~ /^127\./ && $2 ~ /^[0-9.]+$/ { print $2; exit }' \
	/etc/resolv.conf 2>/dev/null || true)
for mode in bridge pasta; do
	run_capture shield prepare "n-$mode" --state-dir "$TMP/n-$mode" --profiles web --network "$mode" --json
	if [[ -n $HOST_NS ]]; then
		check "prepare --network $mode: the host's first nameserver ($HOST_NS)" \
			jqe --arg u "terok.shield.upstream_dns=$HOST_NS" '.args | index($u) != null' <<<"$OUT"
	else
		check "prepare --network $mode without a host nameserver: asks for --upstream-dns" \
			outcome 1 --upstream-dns
	fi
done
run_capture shield prepare n5 --state-dir "$TMP/n5" --profiles web --network ns:/run/netns/x
check "prepare --network ns: without --upstream-dns: exit 2 asking for it" outcome 2 --upstream-dns
check "prepare --network ns: without --upstream-dns: nothing written" absent "$TMP/n5"
for mode in host none container:web; do
	run_capture shield prepare n6 --state-dir "$TMP/n6" --profiles web --network "$mode" --upstream-dns 10.0.2.3
	check "prepare --network $mode: refused, naming it" outcome 1 "$mode"
	check "prepare --network $mode: one line, nothing written" \
		bash -c '[[ $(wc -l <<<"$1") == 1 && ! -e $2 ]]' _ "$ERR" "$TMP/n6"
done
run_capture shield prepare n7 --state-dir "$TMP/a,b" --profiles web "${NS_OPTS[@]}"
check "prepare: a bundle path holding ',' is refused" outcome 1 "holds ','"
check "prepare: ... before anything is written" absent "$TMP/a,b"

# ------------------------------------------------------------- setup

run_capture "$SHIELD_BIN" setup --dir "$HOOKS"
check "setup --dir: exit 0" outcome 0
check "setup --dir: both descriptors installed" test "$(grep -c '^installed ' <<<"$OUT")" = 2
check "setup --dir: podman reads the dir (CONTAINERS_CONF), so no containers.conf lines" \
	out_lacks "hooks_dir"
for stage in createRuntime poststop; do
	f=$HOOKS/shield-$stage.json
	check "setup: the $stage descriptor runs 'shield-hook $stage' for shield's annotation" \
		jqe --arg h "$SHIELD_HOOK_BIN" --arg s "$stage" '
			keys_unsorted == ["version", "hook", "when", "stages"] and
			.version == "1.0.0" and .hook == {"path": $h, "args": ["shield-hook", $s]} and
			.stages == [$s] and .when == {"annotations": {"^terok\\.shield\\.profiles$": ".*"}}' "$f"
	check "setup: the $stage descriptor is 0644" test "$(stat -c %a "$f")" = 644
done
before=$(state_of "$HOOKS")
run_capture "$SHIELD_BIN" setup --dir "$HOOKS"
check "setup again: exit 0" outcome 0
check "setup again: already installed" test "$(grep -c '^already installed ' <<<"$OUT")" = 2
check "setup again: the directory is untouched" test "$(state_of "$HOOKS")" = "$before"
: >"$TMP/empty-containers.conf"
run_capture env CONTAINERS_CONF="$TMP/empty-containers.conf" "$SHIELD_BIN" setup --dir "$TMP/unseen"
check "setup into a dir podman does not read: exit 0" outcome 0
check "setup into a dir podman does not read: says so" out_has "does not read $TMP/unseen"
check "setup into a dir podman does not read: the hooks_dir line to add" \
	out_has "hooks_dir = [\"/usr/share/containers/oci/hooks.d\", \"$TMP/unseen\"]"
run_capture "$SHIELD_BIN" setup --dir "$TMP/h2" --hook relative/shield-hook
check "setup --hook relative: refused" outcome 1 absolute
run_capture "$SHIELD_BIN" setup --dir "$TMP/h2" --hook /etc/passwd
check "setup --hook of a file that is not executable: refused" outcome 1 executable
check "setup refused: nothing written" absent "$TMP/h2"
run_capture "$SHIELD_BIN" setup --user --system
check "setup --user --system: usage error" outcome 2

# ------------------------------------------------------------- run

rm -f "$ARGV_FILE"
run_capture shield run web --state-dir "$TMP/run" --profiles web "${NS_OPTS[@]}" -- \
	--rm -it -e 'GREETING=hello world' --rootfs "$TMP/rootfs dir" sh -c 'echo "$GREETING"' --name x
check "run: exit 0" outcome 0
run_capture shield prepare web --state-dir "$TMP/run" --profiles web "${NS_OPTS[@]}" --json
mapfile -t RUN_ARGS < <(jq -r '.args[]' <<<"$OUT")
check "run: podman run with shield's arguments, then the user's untouched" \
	argv_is run "${RUN_ARGS[@]}" --rm -it -e 'GREETING=hello world' --rootfs "$TMP/rootfs dir" \
	sh -c 'echo "$GREETING"' --name x

# Each managed option, in several spellings: exit 2 and a message naming it,
# no bundle, podman not run. Pairs: the options ('|' between words), a needle.
REFUSED=(
	'--name|x' '--name'
	'--name=x' '--name'
	'--annotation|terok.shield.profiles=all' 'terok.shield'
	'--annotation=a=1,terok.shield.state_dir=/tmp' 'terok.shield'
	'--hooks-dir|/tmp' '--hooks-dir'
	'--hooks-dir=/tmp' '--hooks-dir'
	'--cap-add|NET_ADMIN' 'NET_ADMIN'
	'--cap-add=cap_net_raw' '--cap-add'
	'--cap-add|CHOWN,SYS_ADMIN' '--cap-add'
	'--cap-add=ALL' '--cap-add'
	'--network|host' '--network'
	'--network=bridge' '--network'
	'--net|host' '--net'
	'--dns|1.1.1.1' '--dns'
	'--dns-search=example.com' '--dns-search'
	'--dns-option|ndots:1' '--dns-option'
	'--privileged' '--privileged'
	'--privileged=true' '--privileged'
	'--pod|p1' '--pod'
	'-v|/tmp/x:/etc/resolv.conf' '/etc/resolv.conf'
	'-v/tmp/x:/etc/resolv.conf:ro' '/etc/resolv.conf'
	'-itv|/tmp/x:/etc//resolv.conf' '/etc/resolv.conf'
	'--volume|/tmp/x:/etc/resolv.conf' '--volume'
	'--volume=/tmp/x:/etc/resolv.conf' '--volume'
	'--mount|type=bind,src=/tmp/x,dst=/etc/resolv.conf' '--mount'
	'--mount=type=bind,source=/tmp/x,destination=/etc/resolv.conf' '--mount'
	'--mount|type=bind,src=/tmp/x,target=/etc/resolv.conf,ro' '--mount'
	'--tmpfs|/etc/resolv.conf' '--tmpfs'
)
for ((i = 0; i < ${#REFUSED[@]}; i += 2)); do
	IFS='|' read -r -a opt <<<"${REFUSED[i]}"
	needle=${REFUSED[i + 1]}
	rm -f "$ARGV_FILE"
	run_capture shield run web --state-dir "$TMP/refused-$i" --profiles web "${NS_OPTS[@]}" -- \
		--rm "${opt[@]}" img
	check "run -- ${opt[*]}: exit 2, refused naming $needle" outcome 2 "$needle"
	check "run -- ${opt[*]}: says it is refused" grep -q "is refused: " <<<"$ERR"
	check "run -- ${opt[*]}: nothing written, podman not run" absent "$TMP/refused-$i" "$ARGV_FILE"
done
run_capture shield run web --state-dir "$TMP/allowed" --profiles web "${NS_OPTS[@]}" -- \
	--privileged=false --cap-add SYS_TIME --annotation io.example=1 img
check "run: --privileged=false, a harmless --cap-add, other annotations pass" outcome 0

# Usage errors of run.
for args in "web --state-dir $TMP/u1 --profiles web" "web --state-dir $TMP/u1 --profiles web --" \
	"web --state-dir $TMP/u1 --profiles web -- --frobnicate x img" "web --state-dir $TMP/u1 --json -- img"; do
	# shellcheck disable=SC2086 # split into words on purpose
	run_capture shield run $args
	check "run $args: exit 2" outcome 2
	check "run $args: nothing written" absent "$TMP/u1"
done

# No shield hook where podman looks: refused before anything is written.
printf '[engine]\nhooks_dir = ["%s"]\n' "$TMP/empty-hooks" >"$TMP/no-hooks.conf"
rm -f "$ARGV_FILE"
run_capture env CONTAINERS_CONF="$TMP/no-hooks.conf" "$SHIELD_BIN" --config-dir "$CONFIG_DIR" \
	run web --state-dir "$TMP/nohooks" --profiles web "${NS_OPTS[@]}" -- img
check "run without shield's hook where podman reads hooks: exit 1, saying so" \
	outcome 1 "without its firewall"
check "run without shield's hook: tells to run shield setup" grep -q "shield setup" <<<"$ERR"
check "run without shield's hook: nothing written, podman not run" absent "$TMP/nohooks" "$ARGV_FILE"
run_capture env CONTAINERS_CONF="$TMP/no-hooks.conf" "$SHIELD_BIN" --config-dir "$CONFIG_DIR" \
	run web --state-dir "$TMP/hooksflag" --profiles web "${NS_OPTS[@]}" --hooks-dir "$HOOKS" -- img
check "run --hooks-dir DIR holding the hooks: exit 0" outcome 0
check "run --hooks-dir DIR: podman gets --hooks-dir DIR" \
	bash -c 'tr "\0" "\n" <"$1" | grep -qxF -- "$2"' _ "$ARGV_FILE" "$HOOKS"

# A podman that cannot be found: nothing written.
run_capture env SHIELD_PODMAN="$TMP/no-such-podman" "$SHIELD_BIN" --config-dir "$CONFIG_DIR" \
	run web --state-dir "$TMP/nopodman" --profiles web "${NS_OPTS[@]}" -- img
check "run with a missing podman: exit 1 naming it" outcome 1 no-such-podman
check "run with a missing podman: nothing written" absent "$TMP/nopodman"
check "run: nothing landed in the state root" test -z "$(ls -A "$STATE_ROOT")"

# ------------------------------------------------------------- check

FAKE_DNSMASQ=$TMP/bin/dnsmasq-no-nftset
cat >"$FAKE_DNSMASQ" <<'EOF'
#!/bin/sh
echo "Dnsmasq version 2.85  Copyright (c) 2000-2021 Simon Kelley"
echo "Compile time options: IPv6 GNU-getopt DBus no-UBus i18n IDN2 DHCP DHCPv6 no-Lua TFTP conntrack ipset no-nftset auth DNSSEC loop-detect inotify dumpfile"
EOF
chmod +x "$FAKE_DNSMASQ"
run_capture env SHIELD_DNSMASQ="$FAKE_DNSMASQ" "$SHIELD_BIN" check
check "check with a dnsmasq without nftset: exit 1" outcome 1
check "check: a FAIL line for dnsmasq, with a fix" \
	grep -Eq '^FAIL dnsmasq: .*without nftset.*\(fix: .*nftset' <<<"$OUT"
check "check: podman found (the fake one, 4.3.1)" grep -q '^OK   podman: .*4\.3\.1' <<<"$OUT"
check "check: hooks installed where CONTAINERS_CONF says" \
	grep -qF "OK   hooks: installed in $HOOKS" <<<"$OUT"
check "check: one line per check, each OK or FAIL" \
	test "$(grep -cEv '^(OK  |FAIL) [a-z]+: ' <<<"$OUT")" = 0
run_capture env SHIELD_DNSMASQ="$FAKE_DNSMASQ" "$SHIELD_BIN" check --json
check "check --json: ok false, dnsmasq not ok, with a hint" \
	jqe '.ok == false and (.checks[] | select(.name == "dnsmasq") | .ok == false and (.hint | length > 0))' <<<"$OUT"
check "check --json: every check has name, ok, detail, hint" \
	jqe '.checks | length >= 7 and all(keys_unsorted == ["name", "ok", "detail", "hint"])' <<<"$OUT"
# Stale descriptors: written for another shield-hook, then that hook gone.
cp "$SHIELD_HOOK_BIN" "$TMP/bin/shield-hook-old"
"$SHIELD_BIN" setup --dir "$HOOKS" --hook "$TMP/bin/shield-hook-old" >/dev/null
run_capture "$SHIELD_BIN" check --hook "$SHIELD_HOOK_BIN"
check "check: descriptors for another shield-hook are stale" grep -q '^FAIL hooks: stale: ' <<<"$OUT"
rm "$TMP/bin/shield-hook-old"
run_capture "$SHIELD_BIN" check
check "check: descriptors whose hook is gone FAIL" \
	grep -q '^FAIL hooks: .*not an executable file' <<<"$OUT"

finish
