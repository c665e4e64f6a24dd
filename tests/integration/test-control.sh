#!/usr/bin/env bash
# shield allow / deny / up / down / block against the real kernel, real
# dnsmasq and real traffic, on namespaces shielded with `shield attach`:
# IP and domain changes take effect at once (a denied domain's learnt
# addresses leave the sets and stay out after the next lookup), files and
# kernel sets agree after every change (also after allow→deny→allow and 50
# concurrent commands), modes switch and survive a restart, two namespaces
# never touch each other, and bad input changes nothing.

# Conditions are written in single quotes and evaluated by `expect` when the
# check runs, so the variables they name are read there:
# shellcheck disable=SC2016,SC2034
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

require_root
require_cmd ip nft dnsmasq dig socat jq sha256sum pgrep python3
require_shield
init_shield_dirs
topo_setup
# The registry of this test only. No podman here (tests/e2e has it): a NAME
# is found in the registry of attached namespaces.
export SHIELD_RUNTIME_DIR=$TMP/run
export SHIELD_PODMAN=$TMP/no-podman-here
REG=$SHIELD_RUNTIME_DIR/containers

WEB=$STATE_ROOT/containers/web
DB=$STATE_ROOT/containers/db
WEB_NS=$CLIENT_NS
WEB_NETNS=$(netns_path "$WEB_NS")

# A second client namespace for "db", linked to the hosts namespace
# (198.19.2.2 -> 198.19.2.1), so it reaches the same hosts and DNS.
new_netns c2
DB_NS=$NS_NAME
DB_NETNS=$(netns_path "$DB_NS")
ip link add c2 netns "$DB_NS" type veth peer name h2 netns "$HOSTS_NS" || die "veth for db"
ip -n "$DB_NS" addr add 198.19.2.2/24 dev c2
ip -n "$HOSTS_NS" addr add 198.19.2.1/24 dev h2
ip -n "$DB_NS" link set c2 up
ip -n "$HOSTS_NS" link set h2 up
ip -n "$DB_NS" route add default via 198.19.2.1

write_profile webp "$DNS_NAME_ALLOWED"
write_profile dbp "$DNS_NAME_ALLOWED" "$PUB_DENIED"
shield prepare web --profiles webp --upstream-dns "$DNS_UPSTREAM" -q >/dev/null || die "prepare web"
shield prepare db --profiles dbp --upstream-dns "$DNS_UPSTREAM" -q >/dev/null || die "prepare db"
shield attach --netns "$WEB_NETNS" web >/dev/null || die "attach web"
shield attach --netns "$DB_NETNS" db >/dev/null || die "attach db"

# ------------------------------------------------------------------ helpers

# expect_true WHAT-FAILED CONDITION...: evaluate a condition in this shell.
expect() {
	if eval "$1"; then
		return 0
	fi
	say "    not true: $1"
	[[ -z ${RC:-} ]] || say "    (last command: exit $RC, stdout \"$OUT\", stderr \"$ERR\")"
	return 1
}

mode_is() { [[ $(shield rules --netns "$1" | head -1) == "mode: $2" ]]; }

# audit_count BUNDLE ACTION DEST: entries of that action for that destination.
audit_count() { jq -s --arg a "$2" --arg d "$3" '[.[] | select(.action == $a and .dest == $d)] | length' "$1/audit.jsonl"; }

resolve() { in_ns "$1" dig +short +tries=1 +time="$NET_TIMEOUT" @127.0.0.1 "$2" A 2>&1 || true; }

# A process has exited (a zombie counts: PID 1 here reaps late).
gone() {
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)
	[[ -z $state || $state == Z ]] || { say "    process $1 still runs (state $state)"; return 1; }
}

DB_BEFORE=$(bundle_snapshot "$DB" "$DB_NS")

# ---------------------------------------------------------------- addresses

check "before: a non-allowlisted host is refused" expect_refused "$WEB_NS" "$PUB_OTHER" "$TCP_PORT"
run_capture shield allow web "$PUB_OTHER"
check "allow IP prints what changed" expect_out "allowed $PUB_OTHER for web"
check "allow IP: reachable at once" expect_connect "$WEB_NS" "$PUB_OTHER" "$TCP_PORT"
check "allow IP: live.allowed holds it" has_line "$WEB/live.allowed" "$PUB_OTHER"
check "allow IP: a static (never expiring) element" set_static_has "$WEB_NS" allow_v4 "$PUB_OTHER"
check "allow IP: files and kernel agree" files_kernel_agree "$WEB" "$WEB_NS"

run_capture shield allow web "$PUB_OTHER"
check "allow again: no output, exit 0" expect_out ""

run_capture shield deny web "$PUB_OTHER"
check "deny IP prints what changed" expect_out "denied $PUB_OTHER for web"
check "deny IP: refused at once" expect_refused "$WEB_NS" "$PUB_OTHER" "$TCP_PORT"
check "deny IP: a blocking connect is refused at once" expect_refused_blocking "$WEB_NS" "$PUB_OTHER" "$TCP_PORT"
check "deny IP: deny.list holds it, live.allowed not" \
	expect 'has_line "$WEB/deny.list" "$PUB_OTHER" && lacks_line "$WEB/live.allowed" "$PUB_OTHER"'
check "deny IP: files and kernel agree" files_kernel_agree "$WEB" "$WEB_NS"
run_capture shield deny web "$PUB_OTHER"
check "deny again: no output, exit 0" expect_out ""

run_capture shield allow web "$PUB_OTHER" --json
check "allow after deny (--json): changed, kernel updated" \
	expect '[[ $RC == 0 ]] && jq -e --arg t "$PUB_OTHER" '\''.container == "web" and .action == "allow" and .target == $t and .kind == "ip" and .changed and .running and .kernel == "updated" and (.files | index("deny.list") and index("live.allowed"))'\'' <<<"$OUT" >/dev/null'
check "allow→deny→allow: reachable" expect_connect "$WEB_NS" "$PUB_OTHER" "$TCP_PORT"
check "allow→deny→allow: allowed in the files" \
	expect 'has_line "$WEB/live.allowed" "$PUB_OTHER" && lacks_line "$WEB/deny.list" "$PUB_OTHER"'
check "allow→deny→allow: files and kernel agree" files_kernel_agree "$WEB" "$WEB_NS"
check "allow→deny→allow: three audit entries" \
	expect '[[ $(audit_count "$WEB" allow "$PUB_OTHER") == 2 && $(audit_count "$WEB" deny "$PUB_OTHER") == 1 ]]'

run_capture shield allow web "$PUB6_OTHER"
check "allow IPv6" expect_out "allowed $PUB6_OTHER for web"
topo_flush_neigh
check "allow IPv6: reachable" expect_connect "$WEB_NS" "$PUB6_OTHER" "$TCP_PORT"
run_capture shield deny --state-dir "$WEB" "$PUB6_OTHER"
check "deny IPv6 through --state-dir (the registry gives the namespace)" expect_out "denied $PUB6_OTHER for web"
check "deny IPv6: refused" expect_refused "$WEB_NS" "$PUB6_OTHER" "$TCP_PORT"
check "IPv6: files and kernel agree" files_kernel_agree "$WEB" "$WEB_NS"

# A learnt element of an address that is then allowed becomes static.
resolve "$WEB_NS" "$DNS_NAME_ALLOWED" >/dev/null
check "precondition: dnsmasq learnt $PUB_ALLOWED" set_learnt_has "$WEB_NS" allow_v4 "$PUB_ALLOWED"
run_capture shield allow web "$PUB_ALLOWED"
check "allow a learnt address: it no longer expires" \
	expect 'set_static_has "$WEB_NS" allow_v4 "$PUB_ALLOWED" && ! set_learnt_has "$WEB_NS" allow_v4 "$PUB_ALLOWED"'
run_capture shield deny web "$PUB_ALLOWED"
check "deny it: gone from the allow set" \
	expect '! set_static_has "$WEB_NS" allow_v4 "$PUB_ALLOWED" && ! set_learnt_has "$WEB_NS" allow_v4 "$PUB_ALLOWED" && files_kernel_agree "$WEB" "$WEB_NS"'
run_capture shield allow web "$PUB_ALLOWED"
check "allow it back" expect_out "allowed $PUB_ALLOWED for web"

# ------------------------------------------------------------------ domains

check "before: the other name is NXDOMAIN (strict policy)" expect '[[ -z $(resolve "$WEB_NS" "$DNS_NAME_OTHER") ]]'
OLD_DNSMASQ=$(jq -r .dnsmasq_pid "$REG/web.json")
run_capture shield allow web "$DNS_NAME_OTHER"
check "allow domain prints what changed" expect_out "allowed $DNS_NAME_OTHER for web (dnsmasq reloaded)"
check "allow domain: live.domains and dnsmasq.conf" \
	expect 'has_line "$WEB/live.domains" "$DNS_NAME_OTHER" && grep -qF "server=/$DNS_NAME_OTHER/" "$WEB/dnsmasq.conf"'
check "allow domain: dnsmasq restarted, the registry follows" registry_names_dnsmasq "$REG/web.json" "$WEB"
check "allow domain: the old dnsmasq is gone" gone "$OLD_DNSMASQ"
check "allow domain: one dnsmasq for the bundle" one_dnsmasq "$WEB"
check "allow domain: resolves at once" expect '[[ $(resolve "$WEB_NS" "$DNS_NAME_OTHER") == "$PUB_OTHER" ]]'

# Deny a domain whose answer dnsmasq already put into allow_v4. Its address
# must not be a static entry too (that would explain it), so the address
# allowed above is denied, learnt again, and its deny lifted by hand.
run_capture shield deny web "$PUB_ALLOWED"
resolve "$WEB_NS" "$DNS_NAME_ALLOWED" >/dev/null
sed -i "/^${PUB_ALLOWED//./\\.}\$/d" "$WEB/deny.list" # hand-edit: neither allowed nor denied statically
run_capture shield allow web "$PUB_OTHER" # any IP command syncs the kernel with the files
check "precondition: $PUB_ALLOWED only learnt" \
	expect 'set_learnt_has "$WEB_NS" allow_v4 "$PUB_ALLOWED" && ! set_static_has "$WEB_NS" deny_v4 "$PUB_ALLOWED"'
check "precondition: reachable" expect_connect "$WEB_NS" "$PUB_ALLOWED" "$TCP_PORT"
run_capture shield deny web "$DNS_NAME_ALLOWED"
check "deny domain prints what changed" \
	expect_out "denied $DNS_NAME_ALLOWED for web (dnsmasq reloaded, 1 learnt address removed from the allow sets)"
check "deny domain: the learnt address is gone at once" expect '! set_learnt_has "$WEB_NS" allow_v4 "$PUB_ALLOWED"'
check "deny domain: refused at once" expect_refused "$WEB_NS" "$PUB_ALLOWED" "$TCP_PORT"
check "deny domain: NXDOMAIN now" expect '[[ -z $(resolve "$WEB_NS" "$DNS_NAME_ALLOWED") ]]'
check "deny domain: still refused after the name was asked again" expect_refused "$WEB_NS" "$PUB_ALLOWED" "$TCP_PORT"
check "deny domain: still not in the sets" expect '! set_learnt_has "$WEB_NS" allow_v4 "$PUB_ALLOWED"'
check "deny domain: denied.domains, answered locally" \
	expect 'has_line "$WEB/denied.domains" "$DNS_NAME_ALLOWED" && grep -qxF "address=/$DNS_NAME_ALLOWED/" "$WEB/dnsmasq.conf"'
check "deny domain: the other allowed domain still resolves" \
	expect '[[ $(resolve "$WEB_NS" "$DNS_NAME_OTHER") == "$PUB_OTHER" ]]'
check "deny domain: the registry follows dnsmasq" registry_names_dnsmasq "$REG/web.json" "$WEB"

run_capture shield allow web "*.$DNS_NAME_ALLOWED"
check "allow *.domain: the same entry as the domain" expect_out "allowed $DNS_NAME_ALLOWED for web (dnsmasq reloaded)"
check "allow→deny→allow domain: resolves and connects" \
	expect '[[ $(resolve "$WEB_NS" "$DNS_NAME_ALLOWED") == "$PUB_ALLOWED" ]] && expect_connect "$WEB_NS" "$PUB_ALLOWED" "$TCP_PORT"'
check "allow→deny→allow domain: the profile entry counts again" \
	expect 'lacks_line "$WEB/denied.domains" "$DNS_NAME_ALLOWED" && grep -qF "nftset=/$DNS_NAME_ALLOWED/" "$WEB/dnsmasq.conf"'
check "allow→deny→allow domain: audited" \
	expect '[[ $(audit_count "$WEB" deny "$DNS_NAME_ALLOWED") == 1 && $(audit_count "$WEB" allow "$DNS_NAME_ALLOWED") == 1 ]]'
run_capture shield allow web "$DNS_NAME_ALLOWED"
check "allow a profile domain that is not denied: nothing" expect_out ""

# --------------------------------------------------------------------- modes

run_capture shield deny web "$PUB_OTHER"
run_capture shield down web
check "down prints the switch" \
	expect_out "web: mode down (was up), ruleset replaced and verified; dnsmasq reloaded (DNS policy open)"
check "down: the kernel is in mode down" mode_is "$WEB_NETNS" down
check "down: a non-allowlisted public host passes" expect_connect "$WEB_NS" "$PUB_DENIED" "$TCP_PORT"
check "down: deny.list still refuses" expect_refused "$WEB_NS" "$PUB_OTHER" "$TCP_PORT"
check "down: private ranges still refused" expect_refused "$WEB_NS" "$PRIV_HOST" "$TCP_PORT"
check "down: shield.conf records it" grep -qx "mode=down" "$WEB/shield.conf"
check "down: dnsmasq forwards everything" expect '! grep -qF "address=/#/" "$WEB/dnsmasq.conf"'
run_capture shield down web
check "down again: nothing" expect_out ""
run_capture shield down web --all --json
check "down --all (--json)" \
	expect '[[ $RC == 0 ]] && jq -e '\''.mode == "down_all" and .previous == "down" and .dns_policy == "open" and .dnsmasq.restarted'\'' <<<"$OUT" >/dev/null'
check "down --all: private ranges pass" expect_connect "$WEB_NS" "$PRIV_HOST" "$TCP_PORT"
check "down --all: deny.list still refuses" expect_refused "$WEB_NS" "$PUB_OTHER" "$TCP_PORT"

# The mode survives a restart (detach + attach is what a container restart does to it).
shield detach web >/dev/null
shield attach --netns "$WEB_NETNS" web >/dev/null
check "a restart keeps mode down_all" mode_is "$WEB_NETNS" down_all

run_capture shield block web
check "block prints the switch" \
	expect '[[ $RC == 0 && $OUT == "web: mode block (was down_all), ruleset replaced and verified"* ]]'
check "block: the allowlisted host is refused" expect_refused "$WEB_NS" "$PUB_ALLOWED" "$TCP_PORT"
check "block: other hosts are refused" expect_refused "$WEB_NS" "$PUB_DENIED" "$TCP_PORT"
check "block: DNS to the upstream is refused" dns_expect_refused "$WEB_NS" "$DNS_UPSTREAM" "$DNS_NAME_ALLOWED"
check "block: the kernel is in mode block" mode_is "$WEB_NETNS" block
# In block there are no sets: an IP change goes to the bundle, the next mode takes it.
run_capture shield allow web "$PRIV_HOST"
check "allow in block: bundle only" expect_out "allowed $PRIV_HOST for web"

run_capture shield up web
check "up prints the switch" \
	expect_out "web: mode up (was block), ruleset replaced and verified; dnsmasq reloaded (DNS policy strict)"
check "up: a non-allowlisted host is refused again" expect_refused "$WEB_NS" "$PUB_DENIED" "$TCP_PORT"
check "up: the address allowed in block is in" expect_connect "$WEB_NS" "$PRIV_HOST" "$TCP_PORT"
check "up: the allowlisted name resolves and connects" \
	expect '[[ $(resolve "$WEB_NS" "$DNS_NAME_ALLOWED") == "$PUB_ALLOWED" ]] && expect_connect "$WEB_NS" "$PUB_ALLOWED" "$TCP_PORT"'
check "up: files and kernel agree" files_kernel_agree "$WEB" "$WEB_NS"
check "mode changes are audited" \
	expect '[[ $(jq -s '\''[.[] | select(.action == "down" or .action == "up" or .action == "block")] | length'\'' "$WEB/audit.jsonl") == 4 ]]'

# Learnt elements survive a mode switch, with the time they had left.
resolve "$WEB_NS" "$DNS_NAME_ALLOWED" >/dev/null
run_capture shield down web
check "down keeps what dnsmasq learnt" set_learnt_has "$WEB_NS" allow_v4 "$PUB_ALLOWED"
run_capture shield up web
check "up keeps it too" set_learnt_has "$WEB_NS" allow_v4 "$PUB_ALLOWED"

# A tampered table is repaired by the next mode command, even with the mode unchanged.
in_ns "$WEB_NS" nft flush chain inet terok_shield output
run_capture shield up web
check "up on a tampered table repairs it" \
	expect '[[ $RC == 0 && $OUT == *"kernel did not hold it"* ]] && mode_is "$WEB_NETNS" up'

# The kernel step fails (someone deleted the table): the bundle keeps the
# change, the command says so and exits 1; the next command repairs.
in_ns "$WEB_NS" nft delete table inet terok_shield
run_capture shield allow web "$PUB6_ALLOWED"
check "kernel step failed: exit 1, the bundle holds the change, the message says what holds" \
	expect '[[ $RC == 1 && -z $OUT && $ERR == "shield: allow: web: the bundle holds the change (live.allowed), but applying it to the running container failed: "*"no such set"*"; it takes effect at the next start, or run the command again" ]] && has_line "$WEB/live.allowed" "$PUB6_ALLOWED"'
check "kernel step failed: audited as such" \
	expect '[[ $(jq -rs --arg d "$PUB6_ALLOWED" '\''[.[] | select(.dest == $d)] | last | .detail'\'' "$WEB/audit.jsonl") == *"the kernel update failed"* ]]'
run_capture shield up web
check "the next mode command puts the table back, with the change" \
	expect '[[ $RC == 0 ]] && mode_is "$WEB_NETNS" up && files_kernel_agree "$WEB" "$WEB_NS"'

# ---------------------------------------------------------- two namespaces

check "db: none of web's changes reached its bundle or its table" \
	expect '[[ $(bundle_snapshot "$DB" "$DB_NS") == "$DB_BEFORE" ]]'
WEB_BEFORE=$(bundle_snapshot "$WEB" "$WEB_NS")
run_capture shield allow db 10.9.0.0/24
check "db: allow a private CIDR" expect_out "allowed 10.9.0.0/24 for db"
check "db: the private host is reachable" expect_connect "$DB_NS" "$PRIV_HOST" "$TCP_PORT"
run_capture shield deny db "$PRIV_HOST"
check "db: deny one host of the allowed CIDR" expect_refused "$DB_NS" "$PRIV_HOST" "$TCP_PORT"
run_capture shield deny db 10.9.0.0/16
run_capture shield allow db "$PRIV_HOST"
check "db: allowing a host a denied CIDR covers says it stays refused" \
	expect '[[ $RC == 0 && $OUT == "allowed $PRIV_HOST for db" && $ERR == *"$PRIV_HOST stays refused for db: deny.list holds 10.9.0.0/16"* ]]'
check "db: and it is" expect_refused "$DB_NS" "$PRIV_HOST" "$TCP_PORT"
run_capture shield allow db 10.9.0.0/16
check "db: lifting the CIDR deny opens it" expect_connect "$DB_NS" "$PRIV_HOST" "$TCP_PORT"
check "db: files and kernel agree" files_kernel_agree "$DB" "$DB_NS"
run_capture shield deny db "$DNS_NAME_ALLOWED"
run_capture shield block db
check "web: none of db's changes reached its bundle or its table" \
	expect '[[ $(bundle_snapshot "$WEB" "$WEB_NS") == "$WEB_BEFORE" ]]'
run_capture shield up db

# ----------------------------------------------------------------- bad input

BEFORE=$(bundle_snapshot "$WEB" "$WEB_NS")
run_capture shield allow web 198.18.1.300
check "invalid IP refused, naming it" expect_fail 1 'invalid address "198.18.1.300"'
run_capture shield deny web 198.18.1.0/33
check "invalid CIDR refused" expect_fail 1 '"198.18.1.0/33"'
run_capture shield allow web 'bad..name.test'
check "invalid domain refused, naming it" expect_fail 1 '"bad..name.test" is neither an IP/CIDR nor a valid domain'
run_capture shield deny web 'a/b.test'
check "a domain with '/' refused" expect_fail 1 '"a/b.test"'
run_capture shield allow nosuch "$PUB_OTHER"
check "unknown container" expect_fail 1 'no container "nosuch"'
mkdir -m 0700 "$TMP/not-a-bundle"
run_capture shield allow --state-dir "$TMP/not-a-bundle" "$PUB_OTHER"
check "a directory that is no bundle" expect_fail 1 "upstream.dns"
run_capture shield allow --state-dir "$TMP/missing" "$PUB_OTHER"
check "a missing bundle" expect_fail 1 "$TMP/missing"
run_capture shield allow --state-dir "$WEB" --netns /nonexistent "$PUB_OTHER"
check "a missing namespace" expect_fail 1 "/nonexistent"
check "bad input changed nothing" expect '[[ $(bundle_snapshot "$WEB" "$WEB_NS") == "$BEFORE" ]]'
run_capture shield allow
check "usage: no arguments" expect_fail 2 "give a container NAME"
run_capture shield allow web
check "usage: no TARGET" expect_fail 2 "give a container NAME (or --state-dir DIR) and then one more argument"
run_capture shield allow web a.test b.test
check "usage: two TARGETs" expect_fail 2 "too many arguments"
run_capture shield allow web --netns "$WEB_NETNS" a.test
check "usage: --netns without --state-dir" expect_fail 2 "--netns goes with --state-dir"
run_capture shield allow web --state-dir "$WEB" a.test
check "usage: NAME and --state-dir" expect_fail 2 "not both"
run_capture shield up web extra
check "usage: up takes no TARGET" expect_fail 2 "too many arguments"
run_capture shield up web --all
check "usage: --all is down's" expect_fail 2 "'--all'"
check "usage errors changed nothing" expect '[[ $(bundle_snapshot "$WEB" "$WEB_NS") == "$BEFORE" ]]'

# A stopped (detached) container: the bundle changes, the kernel is left, a note says so.
shield detach db >/dev/null
DB_TABLE=$(nft_list_table "$DB_NS")
run_capture shield allow db "$PUB_OTHER"
check "stopped: bundle changed, note on stderr, exit 0" \
	expect '[[ $RC == 0 && $OUT == "allowed $PUB_OTHER for db" && $ERR == "shield: allow: db is not running: the change applies at its next start" ]]'
check "stopped: live.allowed holds it" has_line "$DB/live.allowed" "$PUB_OTHER"
run_capture shield deny --state-dir "$DB" "$DNS_NAME_OTHER"
check "stopped, by --state-dir: domain denied in the bundle" \
	expect '[[ $RC == 0 && $ERR == *"db is not running"* ]] && has_line "$DB/denied.domains" "$DNS_NAME_OTHER"'
run_capture shield down db
check "stopped: down recorded, with the note" \
	expect '[[ $RC == 0 && $OUT == "db: mode down (was up)" && $ERR == *"db is not running"* ]]'
check "stopped: the namespace was not touched" expect '[[ $(nft_list_table "$DB_NS") == "$DB_TABLE" ]]'
check "stopped: no dnsmasq was started" expect '! pgrep -r R,S,D -f -- "--conf-file=$DB/dnsmasq.conf" >/dev/null'
shield attach --netns "$DB_NETNS" db >/dev/null
check "the next start applies the changes (mode down, the allowed address)" \
	expect 'mode_is "$DB_NETNS" down && files_kernel_agree "$DB" "$DB_NS"'
run_capture shield up db

# ------------------------------------------------- a start or stop meanwhile
# A command finds its container, then waits for the bundle lock; a hook
# (which holds that lock too) may start or stop the container in between.
# Under the lock the command reads the registry again and finds the
# container anew when it changed. Here the hook's effect on the registry is
# played by moving db's entry (the kernel and dnsmasq stay as they are).
# lock_waited_on DIR: some process waits for DIR/shield.lock (/proc/locks, "->").
lock_waited_on() {
	local ino
	ino=$(stat -c %i "$1/shield.lock")
	grep -qE -- "-> FLOCK .*:$ino " /proc/locks
}
# bg_command NAME CMD...: run CMD in the background, its exit status and output in $TMP/NAME.*.
bg_command() {
	local name=$1
	shift
	start_bg bash -c '"$@" >"$0.out" 2>"$0.err"; echo $? >"$0.rc"' "$TMP/$name" "$@"
	BG_PID=$LAST_PID
}
db_dnsmasq() { pgrep -f -- "--conf-file=$DB/dnsmasq.conf" || true; }

# Started meanwhile: the command saw no entry ("not running"), the entry is
# there when it gets the lock: the address goes into the kernel too.
mv "$REG/db.json" "$TMP/db.entry"
hold_bundle_lock "$DB"
bg_command started "$SHIELD_BIN" --config-dir "$CONFIG_DIR" --state-root "$STATE_ROOT" allow db 198.18.7.7
wait_for 20 lock_waited_on "$DB" || die "shield allow never waited for db's lock"
mv "$TMP/db.entry" "$REG/db.json"
release_bundle_lock
check "started meanwhile: allow exits 0 and says it allowed the address for db" \
	expect '[[ $(cat "$TMP/started.rc") == 0 && $(cat "$TMP/started.out") == "allowed 198.18.7.7 for db" ]]'
check "started meanwhile: no \"not running\" note" expect '[[ ! -s $TMP/started.err ]]'
check "started meanwhile: the address is in db's kernel set, files and kernel agree" \
	expect 'in_ns "$DB_NS" nft get element inet terok_shield allow_v4 "{ 198.18.7.7 }" >/dev/null 2>&1 && files_kernel_agree "$DB" "$DB_NS"'

# Stopped meanwhile: the command saw db running, db's dnsmasq is stopped and
# its entry gone when it gets the lock: the bundle only, and no dnsmasq is
# started in the namespace of a container that stopped.
hold_bundle_lock "$DB"
bg_command stopped "$SHIELD_BIN" --config-dir "$CONFIG_DIR" --state-root "$STATE_ROOT" allow db meanwhile.shield.test
wait_for 20 lock_waited_on "$DB" || die "shield allow never waited for db's lock"
DB_DNSMASQ=$(jq -r .dnsmasq_pid "$REG/db.json")
kill "$DB_DNSMASQ"
wait_for 10 gone "$DB_DNSMASQ" || die "db's dnsmasq did not stop"
mv "$REG/db.json" "$TMP/db.entry"
release_bundle_lock
check "stopped meanwhile: allow exits 0 with the \"not running\" note" \
	expect '[[ $(cat "$TMP/stopped.rc") == 0 && $(cat "$TMP/stopped.err") == *"db is not running: the change applies at its next start"* ]]'
check "stopped meanwhile: the domain is in db's bundle" grep -qx meanwhile.shield.test "$DB/live.domains"
check "stopped meanwhile: no dnsmasq was started for db" expect '[[ -z $(db_dnsmasq) ]]'
rm -f "$TMP/db.entry"
shield attach --netns "$DB_NETNS" db >/dev/null || die "attach db again"
check "... and the next start serves the domain (dnsmasq.conf names it)" \
	grep -q "meanwhile.shield.test" "$DB/dnsmasq.conf"

# --------------------------------------------------------------------- race

# 50 commands at once on web: allow/deny of ten addresses and two domains.
# They serialise on the bundle lock; at the end files and kernel agree.
race_allow_deny web shield
check "race: all 50 commands succeeded" test "$RACE_FAILED" = 0
check "race: files and kernel sets agree" files_kernel_agree "$WEB" "$WEB_NS"
check "race: one dnsmasq, the one the registry names" \
	expect 'one_dnsmasq "$WEB" && registry_names_dnsmasq "$REG/web.json" "$WEB"'
check "race: the domain lists agree with dnsmasq.conf" race_domains_agree "$WEB"
check "race: one audit entry per change printed" race_audited "$WEB"

shield detach web >/dev/null
shield detach db >/dev/null
finish
