#!/usr/bin/env bash
# The generated dnsmasq.conf against real dnsmasq and the real kernel: an
# allowlisted name resolves through the container's dnsmasq, which adds the
# answer to allow_v4/allow_v6 (with the set timeout) so the host becomes
# reachable; a denied subdomain of an allowed domain gets NXDOMAIN and never
# reaches the sets; under the strict policy other names get NXDOMAIN (logged
# as such); under the open policy they resolve but stay blocked.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

require_root
require_cmd ip nft dnsmasq dig socat
require_shield
init_shield_dirs
topo_build
topo_start_servers
readonly SUB_NAME=sub.$DNS_NAME_ALLOWED
topo_start_dns --address="/$SUB_NAME/$PUB_OTHER"

BUNDLE=$STATE_ROOT/containers/dns
write_profile dnsonly "$DNS_NAME_ALLOWED"
shield prepare dns --profiles dnsonly --upstream-dns "$DNS_UPSTREAM" >/dev/null ||
	die "prepare failed"
printf '%s\n' "$SUB_NAME" >"$BUNDLE/denied.domains"
chmod 0600 "$BUNDLE/denied.domains"
# Preparing again keeps the live lists and writes the deny into dnsmasq.conf.
shield prepare dns --profiles dnsonly --upstream-dns "$DNS_UPSTREAM" >/dev/null ||
	die "second prepare failed"
shield apply --netns "$(netns_path "$CLIENT_NS")" dns >/dev/null || die "apply failed"

conf_has() { grep -qxF "$1" "$BUNDLE/dnsmasq.conf" || { say "    dnsmasq.conf lacks: $1"; return 1; }; }
check "dnsmasq.conf: strict policy forwards only the allowed domain" \
	conf_has "server=/$DNS_NAME_ALLOWED/$DNS_UPSTREAM"
check "dnsmasq.conf: the denied subdomain is answered locally" conf_has "address=/$SUB_NAME/"

# start_client_dnsmasq: dnsmasq inside the client namespace with the bundle's config.
start_client_dnsmasq() {
	start_bg ip netns exec "$CLIENT_NS" dnsmasq -k --conf-file="$BUNDLE/dnsmasq.conf" \
		--user=root --group=root
	CLIENT_DNS_PID=$LAST_PID
	for _ in $(seq 50); do
		# The answer taken whole: `dig | grep -q` fails under pipefail when grep
		# exits before dig's last write.
		if [[ $(ip netns exec "$CLIENT_NS" dig +tries=1 +time=1 @127.0.0.1 nothing.invalid A \
			2>/dev/null) == *'status:'* ]]; then
			return 0
		fi
		kill -0 "$CLIENT_DNS_PID" 2>/dev/null || break
		sleep 0.1
	done
	die "the container's dnsmasq did not start"
}
stop_client_dnsmasq() {
	kill "$CLIENT_DNS_PID" 2>/dev/null || true
	wait "$CLIENT_DNS_PID" 2>/dev/null || true
}

set_has() { # set_has SET ADDR: ADDR is an element, with an expiry (learnt from DNS)
	local line
	line=$(in_ns "$CLIENT_NS" nft list set inet terok_shield "$1" | tr ',{}' '\n' | awk -v a="$2" '$1 == a')
	[[ $line == *expires* ]] && return 0
	say "    $1: expected $2 with an expiry, got: ${line:-<absent>}"
	return 1
}
set_lacks() {
	if in_ns "$CLIENT_NS" nft list set inet terok_shield "$1" | tr ',{}' '\n' | awk -v a="$2" '$1 == a { f = 1 } END { exit !f }'; then
		say "    $1: $2 must not be in the set"
		return 1
	fi
}
dns_status() { # dns_status NAME TYPE WANT_STATUS
	local out
	out=$(in_ns "$CLIENT_NS" dig +tries=1 +time="$NET_TIMEOUT" @127.0.0.1 "$1" "$2" 2>&1) || true
	[[ $out == *"status: $3"* ]] && return 0
	say "    expected $3 for $1 $2; got: $out"
	return 1
}

check "before any lookup the allowed host is refused" expect_refused "$CLIENT_NS" "$PUB_ALLOWED" "$TCP_PORT"

start_client_dnsmasq
check "allowed name resolves through the container's dnsmasq (A)" \
	dns_expect_answer "$CLIENT_NS" 127.0.0.1 "$DNS_NAME_ALLOWED" A "$PUB_ALLOWED"
check "allowed name resolves (AAAA)" \
	dns_expect_answer "$CLIENT_NS" 127.0.0.1 "$DNS_NAME_ALLOWED" AAAA "$PUB6_ALLOWED"
check "dnsmasq added the A answer to allow_v4, with the set timeout" set_has allow_v4 "$PUB_ALLOWED"
check "dnsmasq added the AAAA answer to allow_v6" set_has allow_v6 "$PUB6_ALLOWED"
topo_flush_neigh
check "the resolved host is now reachable (IPv4)" expect_connect "$CLIENT_NS" "$PUB_ALLOWED" "$TCP_PORT"
check "the resolved host is now reachable (IPv6)" expect_connect "$CLIENT_NS" "$PUB6_ALLOWED" "$TCP_PORT"
mode_is() { [[ $(shield rules --netns "$(netns_path "$CLIENT_NS")" | head -1) == "mode: $1" ]]; }
check "shield rules still reports up with dynamic elements" mode_is up

check "denied subdomain of an allowed domain gets NXDOMAIN" dns_status "$SUB_NAME" A NXDOMAIN
check "denied subdomain's address never reaches allow_v4" set_lacks allow_v4 "$PUB_OTHER"
check "denied subdomain's host stays refused" expect_refused "$CLIENT_NS" "$PUB_OTHER" "$TCP_PORT"

check "strict policy: a name outside the allowlist gets NXDOMAIN" dns_status "$DNS_NAME_OTHER" A NXDOMAIN
check "strict policy: dnsmasq logs the refusal" \
	grep -q "config $DNS_NAME_OTHER is NXDOMAIN" "$BUNDLE/dnsmasq.log"
check "query log records the nftset additions" grep -q "nftset add" "$BUNDLE/dnsmasq.log"
check "query log carries query serials (log-queries=extra)" \
	grep -qE "dnsmasq\[[0-9]+\]: [0-9]+ 127\.0\.0\.1/[0-9]+ query\[A\] $DNS_NAME_ALLOWED" "$BUNDLE/dnsmasq.log"
stop_client_dnsmasq

# The open policy forwards everything, but only allowlisted answers reach the sets.
shield prepare dns --profiles dnsonly --upstream-dns "$DNS_UPSTREAM" --dns-policy open >/dev/null ||
	die "prepare --dns-policy open failed"
check "dnsmasq.conf: open policy forwards everything" conf_has "server=$DNS_UPSTREAM"
start_client_dnsmasq
check "open policy: a name outside the allowlist resolves" \
	dns_expect_answer "$CLIENT_NS" 127.0.0.1 "$DNS_NAME_OTHER" A "$PUB_OTHER"
check "open policy: its address is not added to the sets" set_lacks allow_v4 "$PUB_OTHER"
check "open policy: its host stays refused in up" expect_refused "$CLIENT_NS" "$PUB_OTHER" "$TCP_PORT"
check "open policy: the denied subdomain still gets NXDOMAIN" dns_status "$SUB_NAME" A NXDOMAIN
stop_client_dnsmasq

finish
