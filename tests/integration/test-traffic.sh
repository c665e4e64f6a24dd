#!/usr/bin/env bash
# Traffic acceptance test: real connections from a client namespace that
# carries shield's ruleset to test hosts in a second namespace, in every
# mode. "Refused" always means rejected at once (a tcp reset for TCP, an
# ICMP admin-prohibited style error for the rest), never a silent drop that
# only times out. A blocking TCP connect (busybox nc's kind) must fail with
# "Connection refused" in well under a second, in every mode that rejects.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

require_root
require_cmd ip nft socat dig dnsmasq python3 timeout
require_shield
init_shield_dirs
topo_setup

C=$CLIENT_NS
P=$(netns_path "$C")
DIR=$TMP/bundle
# A server on the client's own loopback: lo traffic is accepted in every mode.
LO_PORT=9000
start_tcp_server "$C" 127.0.0.1 "$LO_PORT"

# Static allowlist: one public v4 host, the v4 host that deny.list also
# names, one public v6 host. Nothing private.
write_profile traffic \
	'allowed.shield.test' \
	"$PUB_ALLOWED" \
	"$PUB_DENIED" \
	"$PUB6_ALLOWED"

# -------------------------------------------------- baseline, no firewall
# Every target answers before shield is applied, so a refusal below is the
# firewall's doing and not a missing server.
for a in $PUB_ALLOWED $PUB_OTHER $PUB_DENIED $PRIV_HOST $GW_HOST $PUB6_ALLOWED $PUB6_OTHER $PRIV6_HOST; do
	check "baseline: $a:$TCP_PORT reachable without shield" expect_connect "$C" "$a" "$TCP_PORT"
done
check "baseline: $GW_HOST:$GW_PORT reachable without shield" expect_connect "$C" "$GW_HOST" "$GW_PORT"
check "baseline: DNS upstream answers" \
	dns_expect_answer "$C" "$DNS_UPSTREAM" "$DNS_NAME_ALLOWED" A "$PUB_ALLOWED"

# --------------------------------------------------------------- prepare
run_capture shield prepare traffic --state-dir "$DIR" --profiles traffic \
	--upstream-dns "$DNS_UPSTREAM" --loopback-ports "$GW_PORT" --gateway "$GW_HOST"
[[ $RC == 0 ]] || die "shield prepare failed ($RC): $ERR"
printf '%s\n' "$PUB_DENIED" >"$DIR/deny.list"

# apply_mode MODE: apply, then forget neighbour caches so that IPv6 has to
# pass neighbour discovery through the new ruleset.
apply_mode() {
	run_capture shield apply --netns "$P" --state-dir "$DIR" --mode "$1"
	if [[ $RC != 0 ]]; then
		say "    shield apply --mode $1 failed ($RC): $ERR"
		return 1
	fi
	topo_flush_neigh
}

# -------------------------------------------------------------------- up
check "up: apply" apply_mode up
check "up: allowlisted $PUB_ALLOWED reachable" expect_connect "$C" "$PUB_ALLOWED" "$TCP_PORT"
check "up: non-allowlisted $PUB_OTHER refused" expect_refused "$C" "$PUB_OTHER" "$TCP_PORT"
check "up: allowlisted but denied $PUB_DENIED refused (deny wins)" expect_refused "$C" "$PUB_DENIED" "$TCP_PORT"
check "up: private $PRIV_HOST refused" expect_refused "$C" "$PRIV_HOST" "$TCP_PORT"
check "up: allowlisted IPv6 $PUB6_ALLOWED reachable (neighbour discovery passes)" \
	expect_connect "$C" "$PUB6_ALLOWED" "$TCP_PORT"
check "up: non-allowlisted IPv6 $PUB6_OTHER refused" expect_refused "$C" "$PUB6_OTHER" "$TCP_PORT"
check "up: private IPv6 $PRIV6_HOST refused" expect_refused "$C" "$PRIV6_HOST" "$TCP_PORT"
check "up: blocking connect to non-allowlisted $PUB_OTHER refused at once" \
	expect_refused_blocking "$C" "$PUB_OTHER" "$TCP_PORT"
check "up: blocking connect to denied $PUB_DENIED refused at once" \
	expect_refused_blocking "$C" "$PUB_DENIED" "$TCP_PORT"
check "up: blocking connect to private $PRIV_HOST refused at once" \
	expect_refused_blocking "$C" "$PRIV_HOST" "$TCP_PORT"
check "up: blocking connect to non-allowlisted IPv6 $PUB6_OTHER refused at once" \
	expect_refused_blocking "$C" "$PUB6_OTHER" "$TCP_PORT"
check "up: blocking connect to private IPv6 $PRIV6_HOST refused at once" \
	expect_refused_blocking "$C" "$PRIV6_HOST" "$TCP_PORT"
check "up: DNS (udp) to the upstream answers" \
	dns_expect_answer "$C" "$DNS_UPSTREAM" "$DNS_NAME_ALLOWED" A "$PUB_ALLOWED"
check "up: DNS (tcp) to the upstream answers" \
	dns_expect_answer "$C" "$DNS_UPSTREAM" "$DNS_NAME_ALLOWED" AAAA "$PUB6_ALLOWED" +tcp
check "up: DNS (udp) to a host that is not the upstream refused" \
	dns_expect_refused "$C" "$PUB_OTHER" "$DNS_NAME_ALLOWED"
check "up: loopback inside the netns reachable" expect_connect "$C" 127.0.0.1 "$LO_PORT"
check "up: loopback port $GW_HOST:$GW_PORT reachable" expect_connect "$C" "$GW_HOST" "$GW_PORT"
check "up: other port $GW_HOST:$TCP_PORT of the gateway refused" expect_refused "$C" "$GW_HOST" "$TCP_PORT"

# Allowlisting private hosts through live.allowed makes them reachable.
printf '%s\n' "$PRIV_HOST" "$PRIV6_HOST" >"$DIR/live.allowed"
check "up+live: re-apply with private hosts in live.allowed" apply_mode up
check "up+live: allowlisted private $PRIV_HOST reachable" expect_connect "$C" "$PRIV_HOST" "$TCP_PORT"
check "up+live: allowlisted private IPv6 $PRIV6_HOST reachable" expect_connect "$C" "$PRIV6_HOST" "$TCP_PORT"
check "up+live: profile host $PUB_ALLOWED still reachable" expect_connect "$C" "$PUB_ALLOWED" "$TCP_PORT"
check "up+live: $PUB_OTHER still refused" expect_refused "$C" "$PUB_OTHER" "$TCP_PORT"
check "up+live: denied $PUB_DENIED still refused" expect_refused "$C" "$PUB_DENIED" "$TCP_PORT"

# A CIDR in deny.list wins over a host allowlisted inside it.
printf '%s\n' "$PUB_DENIED" "$PRIV6_HOST/64" >"$DIR/deny.list"
check "up+deny cidr: re-apply with fd00:1::/64 in deny.list" apply_mode up
check "up+deny cidr: $PRIV6_HOST refused although in live.allowed" expect_refused "$C" "$PRIV6_HOST" "$TCP_PORT"
check "up+deny cidr: $PRIV_HOST still reachable" expect_connect "$C" "$PRIV_HOST" "$TCP_PORT"

# Back to the plain bundle for the other modes.
: >"$DIR/live.allowed"
printf '%s\n' "$PUB_DENIED" >"$DIR/deny.list"

# ------------------------------------------------------------------ down
check "down: apply" apply_mode down
check "down: non-allowlisted $PUB_OTHER reachable" expect_connect "$C" "$PUB_OTHER" "$TCP_PORT"
check "down: allowlisted $PUB_ALLOWED reachable" expect_connect "$C" "$PUB_ALLOWED" "$TCP_PORT"
check "down: denied $PUB_DENIED still refused" expect_refused "$C" "$PUB_DENIED" "$TCP_PORT"
check "down: private $PRIV_HOST still refused" expect_refused "$C" "$PRIV_HOST" "$TCP_PORT"
check "down: blocking connect to denied $PUB_DENIED refused at once" \
	expect_refused_blocking "$C" "$PUB_DENIED" "$TCP_PORT"
check "down: non-allowlisted IPv6 $PUB6_OTHER reachable" expect_connect "$C" "$PUB6_OTHER" "$TCP_PORT"
check "down: private IPv6 $PRIV6_HOST still refused" expect_refused "$C" "$PRIV6_HOST" "$TCP_PORT"
check "down: DNS to the upstream answers" \
	dns_expect_answer "$C" "$DNS_UPSTREAM" "$DNS_NAME_OTHER" A "$PUB_OTHER"

# -------------------------------------------------------------- down-all
check "down-all: apply" apply_mode down-all
check "down-all: private $PRIV_HOST reachable" expect_connect "$C" "$PRIV_HOST" "$TCP_PORT"
check "down-all: private IPv6 $PRIV6_HOST reachable" expect_connect "$C" "$PRIV6_HOST" "$TCP_PORT"
check "down-all: non-allowlisted $PUB_OTHER reachable" expect_connect "$C" "$PUB_OTHER" "$TCP_PORT"
check "down-all: denied $PUB_DENIED still refused" expect_refused "$C" "$PUB_DENIED" "$TCP_PORT"
check "down-all: blocking connect to denied $PUB_DENIED refused at once" \
	expect_refused_blocking "$C" "$PUB_DENIED" "$TCP_PORT"

# ----------------------------------------------------------------- block
check "block: apply" apply_mode block
check "block: allowlisted $PUB_ALLOWED refused" expect_refused "$C" "$PUB_ALLOWED" "$TCP_PORT"
check "block: allowlisted IPv6 $PUB6_ALLOWED refused" expect_refused "$C" "$PUB6_ALLOWED" "$TCP_PORT"
check "block: $PUB_OTHER refused" expect_refused "$C" "$PUB_OTHER" "$TCP_PORT"
check "block: private $PRIV_HOST refused" expect_refused "$C" "$PRIV_HOST" "$TCP_PORT"
check "block: blocking connect to allowlisted $PUB_ALLOWED refused at once" \
	expect_refused_blocking "$C" "$PUB_ALLOWED" "$TCP_PORT"
check "block: blocking connect to allowlisted IPv6 $PUB6_ALLOWED refused at once" \
	expect_refused_blocking "$C" "$PUB6_ALLOWED" "$TCP_PORT"
check "block: loopback port $GW_HOST:$GW_PORT refused" expect_refused "$C" "$GW_HOST" "$GW_PORT"
check "block: DNS (udp) to the upstream refused" dns_expect_refused "$C" "$DNS_UPSTREAM" "$DNS_NAME_ALLOWED"
check "block: loopback inside the netns reachable" expect_connect "$C" 127.0.0.1 "$LO_PORT"
check "block: DNS (tcp) to the upstream refused" dns_expect_refused "$C" "$DNS_UPSTREAM" "$DNS_NAME_ALLOWED" +tcp

# ------------------------------------------------------------- up again
check "up again: apply" apply_mode up
check "up again: allowlisted $PUB_ALLOWED reachable" expect_connect "$C" "$PUB_ALLOWED" "$TCP_PORT"
check "up again: $PUB_OTHER refused" expect_refused "$C" "$PUB_OTHER" "$TCP_PORT"
check "up again: blocking connect to $PUB_OTHER refused at once" \
	expect_refused_blocking "$C" "$PUB_OTHER" "$TCP_PORT"
check "up again: loopback inside the netns reachable" expect_connect "$C" 127.0.0.1 "$LO_PORT"

finish
