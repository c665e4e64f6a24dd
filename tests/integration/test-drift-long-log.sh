#!/usr/bin/env bash
# `shield drift` one-shot (no nftsetd) over a long query log: a namespace
# shielded with `shield attach` (real dnsmasq, real kernel) resolves a name
# for real, then 200,000 synthetic dnsmasq-format lines are appended to its
# dnsmasq.log as dnsmasq writes them: 10,000 answers (8,000 IPv4 and 2,000
# IPv6 addresses, each name asked three times, so two of every three
# "nftset add" lines re-add an element the replay already holds) for
# subdomains of an allowlisted domain, and 40,000 blocked queries. The
# kernel holds what those lines say dnsmasq added, except one address, and
# one element nobody logged is added from outside.
#
# The one-shot report replays the whole log and must come out exact: every
# logged address under its domain, 40,000 blocked queries, exactly one
# drift.missing (the address the kernel lacks) and one drift.unexplained
# (the element from outside), every other check ok, exit 3. A correctness
# check, not a timing one (the time it took is printed).
# shellcheck disable=SC2016 # jq filters are single-quoted on purpose
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib-watch.sh
source "$(dirname "$0")/lib-watch.sh"

require_root
require_cmd ip nft dnsmasq dig jq python3
require_shield

readonly N_V4=8000 N_V6=2000 ASKED=3 N_BLOCKED=40000
readonly MISSING=198.19.16.225 # answer number 4321: logged, absent from the kernel
readonly ALIEN=198.18.9.9      # in the kernel, logged by nobody

init_tmp
watch_env_init
topo_build
topo_start_dns
init_shield_dirs
write_profile long allowed.shield.test bulk.shield.test 198.18.5.5
attach_bundle web "$CLIENT_NS" --profiles long
WEB_DIR=$STATE_ROOT/containers/web
PID=$(registry_field web dnsmasq_pid)

# One real answer, logged by dnsmasq and added by it to allow_v4.
[[ $(in_ns "$CLIENT_NS" dig +short +tries=1 +time=2 @127.0.0.1 "$DNS_NAME_ALLOWED" A) == "$PUB_ALLOWED" ]] ||
	die "web's dnsmasq does not resolve $DNS_NAME_ALLOWED"

# The synthetic lines, and the nft script that puts their addresses into
# the sets (with the set's default timeout, as dnsmasq's adds get it).
python3 - "$WEB_DIR/dnsmasq.log" "$TMP/elements.nft" "$PID" "$N_V4" "$N_V6" "$ASKED" "$N_BLOCKED" "$MISSING" <<'EOF'
import ipaddress, sys, time

log, nft, pid, n4, n6, asked, nblocked, missing = sys.argv[1:]
n4, n6, asked, nblocked = int(n4), int(n6), int(asked), int(nblocked)
t = time.localtime()
p = "%s %2d %s dnsmasq[%s]: " % (time.strftime("%b", t), t.tm_mday, time.strftime("%H:%M:%S", t), pid)
base4 = int(ipaddress.IPv4Address("198.19.0.0"))
addrs = [str(ipaddress.IPv4Address(base4 + 1 + i)) for i in range(n4)]
addrs += ["2001:db8:7::%x" % (i + 1) for i in range(n6)]
lines, serial = [], 1000
for rnd in range(asked):
    for i, a in enumerate(addrs):
        serial += 1
        v6 = ":" in a
        name = "h%d.bulk.shield.test" % i
        c = "%d 127.0.0.1/%d " % (serial, 20000 + serial % 40000)
        lines.append(p + c + "query[%s] %s from 127.0.0.1" % ("AAAA" if v6 else "A", name))
        lines.append(p + c + "forwarded %s to 198.18.1.53" % name)
        lines.append(p + c + "nftset add %s inet terok_shield %s %s bulk.shield.test"
                     % ("6" if v6 else "4", "allow_v6" if v6 else "allow_v4", a))
        lines.append(p + c + "reply %s is %s" % (name, a))
for i in range(nblocked):
    serial += 1
    c = "%d 127.0.0.1/%d " % (serial, 20000 + serial % 40000)
    lines.append(p + c + "query[A] b%d.blocked.test from 127.0.0.1" % i)
    lines.append(p + c + "config b%d.blocked.test is NXDOMAIN" % i)
with open(log, "a") as f:
    f.write("\n".join(lines) + "\n")
v4 = [a for a in addrs if ":" not in a and a != missing]
v6 = [a for a in addrs if ":" in a]
with open(nft, "w") as f:
    f.write("add element inet terok_shield allow_v4 { %s }\n" % ", ".join(v4))
    f.write("add element inet terok_shield allow_v6 { %s }\n" % ", ".join(v6))
print(len(lines), file=sys.stderr)
EOF
in_ns "$CLIENT_NS" nft -f "$TMP/elements.nft" || die "cannot add the logged addresses to the sets"
in_ns "$CLIENT_NS" nft add element inet terok_shield allow_v4 "{ $ALIEN }"
say "the log: $(wc -l <"$WEB_DIR/dnsmasq.log") lines, $(($(stat -c %s "$WEB_DIR/dnsmasq.log") / 1024)) KiB"

RC=0
t0=$(date +%s%N)
shield drift web --json >"$TMP/drift.out" 2>"$TMP/drift.err" || RC=$?
t1=$(date +%s%N)
say "the one-shot report took $(((t1 - t0) / 1000000)) ms"

# has FILTER WHAT: the report satisfies the jq FILTER (with $ip, $alien, $n).
has() {
	jq -e --arg ip "$MISSING" --arg alien "$ALIEN" --argjson n $((N_V4 + N_V6)) \
		".containers[0] | $1" "$TMP/drift.out" >/dev/null && return 0
	say "    the report does not satisfy $1; stderr: $(head -c 500 "$TMP/drift.err")"
	jq -c '.containers[0] | del(.domains) ' "$TMP/drift.out" 2>/dev/null | head -c 2000 | sed 's/^/      /' >&2 || true
	return 1
}
check "one-shot over 200,000 lines: exit 3 (drift open), source one-shot, one container" \
	bash -c '[[ $1 == 3 ]] && jq -e ".source == \"one-shot\" and (.containers | length) == 1" "$2" >/dev/null' _ "$RC" "$TMP/drift.out"
check "without nftsetd shield says so on stderr" grep -q "nftsetd is not running" "$TMP/drift.err"
check "every logged address is under bulk.shield.test, each in its set, with time left" \
	has '[.domains[] | select(.domain == "bulk.shield.test") | .addresses[]] | length == $n and (map(select(.set == "allow_v6")) | length) == 2000 and all(.expires_in_ms > 0)'
check "... among them the last IPv4 and the last IPv6 answer" \
	has '[.domains[] | select(.domain == "bulk.shield.test") | .addresses[].ip] | index("198.19.31.64") != null and index("2001:db8:7::7d0") != null'
check "the real answer dnsmasq added is under allowed.shield.test" \
	has '.domains[] | select(.domain == "allowed.shield.test") | .addresses | map(.ip) == ["198.18.1.2"]'
check "40,000 blocked queries counted" has ".blocked_queries == $N_BLOCKED"
check "drift.missing: exactly the logged address the kernel lacks" \
	has '.checks[] | select(.kind == "drift.missing") | .state == "open" and .count == 1 and (.open | map(.ip)) == [$ip]'
check "drift.unexplained: exactly the element nobody logged" \
	has '.checks[] | select(.kind == "drift.unexplained") | .state == "open" and .count == 1 and (.open | map(.ip)) == [$alien]'
check "every other check ok" \
	has '[.checks[] | select(.kind != "drift.missing" and .kind != "drift.unexplained") | .state] | length == 5 and all(. == "ok")'
finish
