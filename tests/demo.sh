#!/usr/bin/env bash
# shield demo: builds shield, makes a throwaway network world out of two
# network namespaces (a "container" and the hosts it may or may not reach),
# applies shield's ruleset in the container's namespace for each mode and
# shows which connections get through. Everything is removed at the end,
# also on Ctrl-C. Nothing leaves the machine.
#
#   sudo tests/demo.sh
#
# SHIELD_BIN=path uses an already built shield instead of building one.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [[ $(id -u) != 0 ]]; then
	echo "demo: needs root (network namespaces, nftables): sudo $0" >&2
	exit 1
fi

"$ROOT/.ci/install-deps"
if [[ -z ${SHIELD_BIN:-} ]]; then
	echo "demo: building shield (cmake --preset dev) ..."
	(cd "$ROOT" && cmake --preset dev >/dev/null && cmake --build --preset dev -j "$(nproc)" --target shield-cli >/dev/null)
	SHIELD_BIN=$ROOT/build/dev/helper/shield
fi
export SHIELD_BIN SHIELD_SOURCE_DIR=$ROOT SHIELD_DATA_DIR=$ROOT

# shellcheck source=tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }

# probe LABEL ADDR PORT: try one TCP connection from the container.
probe() {
	local label=$1 addr=$2 port=$3 out rc=0 shown=$2
	[[ $addr == *:* ]] && shown="[$addr]"
	out=$(ip netns exec "$CLIENT_NS" socat -T"$NET_TIMEOUT" - \
		"TCP:$shown:$port,connect-timeout=$NET_TIMEOUT" </dev/null 2>&1) || rc=$?
	if [[ $rc == 0 && $out == *shield-token* ]]; then
		printf '  %-42s %-22s \033[32mconnected\033[0m\n' "$label" "$shown:$port"
	else
		out=${out##*: }
		printf '  %-42s %-22s \033[31mrefused\033[0m (%s)\n' "$label" "$shown:$port" "$out"
	fi
}

# dns_probe LABEL: one query to the upstream resolver from the container.
dns_probe() {
	local out
	out=$(ip netns exec "$CLIENT_NS" dig +tries=1 +time="$NET_TIMEOUT" +short \
		"@$DNS_UPSTREAM" "$DNS_NAME_ALLOWED" A 2>&1 | head -n 1) || true
	if [[ $out == "$PUB_ALLOWED" ]]; then
		printf '  %-42s %-22s \033[32manswered\033[0m (%s)\n' "$1" "$DNS_UPSTREAM:53" "$out"
	else
		printf '  %-42s %-22s \033[31mrefused\033[0m (%s)\n' "$1" "$DNS_UPSTREAM:53" "${out#;; }"
	fi
}

show_all() {
	probe "allowlisted public host" "$PUB_ALLOWED" "$TCP_PORT"
	probe "public host not on the allowlist" "$PUB_OTHER" "$TCP_PORT"
	probe "allowlisted, but also in deny.list" "$PUB_DENIED" "$TCP_PORT"
	probe "private host (10.x)" "$PRIV_HOST" "$TCP_PORT"
	probe "allowlisted public IPv6 host" "$PUB6_ALLOWED" "$TCP_PORT"
	probe "IPv6 host not on the allowlist" "$PUB6_OTHER" "$TCP_PORT"
	dns_probe "DNS query to the upstream resolver"
}

bold "1. A throwaway world: namespace $RUN_PREFIX""c (the container) and $RUN_PREFIX""h (its hosts)"
init_shield_dirs
topo_setup
echo "  hosts: $PUB_ALLOWED $PUB_OTHER $PUB_DENIED $PRIV_HOST $PUB6_ALLOWED $PUB6_OTHER, DNS $DNS_UPSTREAM"

bold "2. Without shield, the container reaches everything"
show_all

bold "3. shield prepare: the bundled default profile (dev-standard) plus a demo profile"
write_profile demo "# demo hosts (the bundled profiles name real domains, unreachable here)" \
	"$PUB_ALLOWED" "$PUB_DENIED" "$PUB6_ALLOWED"
BUNDLE=$TMP/bundle
shield prepare demo --state-dir "$BUNDLE" --profiles dev-standard:demo --upstream-dns "$DNS_UPSTREAM"
printf '%s\n' "$PUB_DENIED" >"$BUNDLE/deny.list"
echo "  state bundle: $BUNDLE"
echo "  profile.allowed: $(tr '\n' ' ' <"$BUNDLE/profile.allowed")  deny.list: $(cat "$BUNDLE/deny.list")"
echo "  profile.domains: $(wc -l <"$BUNDLE/profile.domains") domains from dev-standard"

P=$(netns_path "$CLIENT_NS")
step=4
for mode in up down down-all block; do
	bold "$step. shield apply --mode $mode"
	step=$((step + 1))
	shield apply --netns "$P" --state-dir "$BUNDLE" --mode "$mode"
	topo_flush_neigh
	echo "  $(shield rules --netns "$P" | head -n 1)"
	show_all
done

bold "$step. Domain allowlisting: the bundle's dnsmasq answers inside the container's namespace"
step=$((step + 1))
write_profile demo-dns "$DNS_NAME_ALLOWED"
DNS_BUNDLE=$TMP/bundle-dns
shield prepare demo-dns --state-dir "$DNS_BUNDLE" --profiles demo-dns --upstream-dns "$DNS_UPSTREAM"
shield apply --netns "$P" --state-dir "$DNS_BUNDLE" --mode up
topo_flush_neigh
probe "$DNS_NAME_ALLOWED, before any lookup" "$PUB_ALLOWED" "$TCP_PORT"
start_bg ip netns exec "$CLIENT_NS" dnsmasq -k --conf-file="$DNS_BUNDLE/dnsmasq.conf" --user=root --group=root
for _ in $(seq 50); do
	in_ns "$CLIENT_NS" dig +tries=1 +time=1 @127.0.0.1 probe.invalid 2>/dev/null | grep -q 'status:' && break
	sleep 0.1
done
for name in "$DNS_NAME_ALLOWED" "$DNS_NAME_OTHER"; do
	echo "  dig @127.0.0.1 $name: $(in_ns "$CLIENT_NS" dig +tries=1 +time=2 +noall +comments +answer @127.0.0.1 "$name" A |
		awk '/status:/ { sub(/,.*/, "", $6); st = $6 } $4 == "A" { a = $5 } END { print st, a }')"
done
echo "  allow_v4 now: $(in_ns "$CLIENT_NS" nft list set inet terok_shield allow_v4 | grep -o 'elements = {[^}]*}')"
probe "$DNS_NAME_ALLOWED, after the lookup" "$PUB_ALLOWED" "$TCP_PORT"
probe "$DNS_NAME_OTHER (NXDOMAIN, not allowed)" "$PUB_OTHER" "$TCP_PORT"
kill "$LAST_PID" 2>/dev/null || true

bold "$step. The ruleset of mode up, as 'shield preview' prints it (the output chain)"
shield preview --state-dir "$BUNDLE" --mode up |
	awk '/^\tchain output \{/ { p = 1 } p { print } p && /^\t\}/ { exit }'

bold "Done: namespaces, servers and files are removed now."
echo "Not in this demo yet: launching a podman container (the OCI hook) and the"
echo "watcher's report (nftsetd); they arrive with their own issues."
