#!/usr/bin/env bash
# Bad input is refused with exit 1 and one line on stderr that names the bad
# thing, and nothing is written or applied: no bundle directory appears, an
# existing bundle keeps its bytes, a namespace gets no table and an existing
# table stays as it was. Usage errors (unknown option, missing argument)
# exit 2.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

require_root
require_cmd ip nft
require_shield
init_shield_dirs

UP=198.18.1.53
write_profile good example.com 198.18.1.2 2001:db8:1::2
write_profile other example.org

# ------------------------------------------------------------- helpers

# state_of PATH: a fingerprint of a path and everything under it (names,
# types, modes, sizes, mtimes, contents); "absent" if it does not exist.
state_of() {
	if [[ ! -e $1 && ! -L $1 ]]; then
		echo absent
		return
	fi
	{
		find "$1" -printf '%P %y %m %s %T@\n' | sort
		find "$1" -type f -print0 | sort -z | xargs -0r md5sum
	} | md5sum
}

# expect_user_error NEEDLE_REGEX CMD...: exit 1, exactly one non-empty line
# on stderr, matching NEEDLE_REGEX (extended regex).
expect_user_error() {
	local needle=$1
	shift
	run_capture "$@"
	local ok=0 lines
	lines=$(printf '%s' "$ERR" | grep -c '' || true)
	if [[ $RC != 1 ]]; then
		say "    exit $RC, expected 1 (stderr: $ERR)"
		ok=1
	fi
	if [[ $lines != 1 || -z $ERR ]]; then
		say "    expected exactly one line on stderr, got $lines: $ERR"
		ok=1
	fi
	if ! grep -Eq -- "$needle" <<<"$ERR"; then
		say "    stderr does not name the bad input (/$needle/): $ERR"
		ok=1
	fi
	return "$ok"
}

# expect_usage_error CMD...: exit 2.
expect_usage_error() {
	run_capture "$@"
	[[ $RC == 2 ]] && return 0
	say "    exit $RC, expected 2 (usage error); stderr: $ERR"
	return 1
}

# unchanged WHAT BEFORE PATH: the fingerprint of PATH is still BEFORE.
unchanged() {
	local now
	now=$(state_of "$3")
	[[ $now == "$2" ]] && return 0
	say "    $1 changed: $3"
	ls -laR "$3" >&2 2>/dev/null || true
	return 1
}

no_table() {
	has_table "$1" || return 0
	say "    netns $1 has a terok_shield table"
	return 1
}

# Regex-quote a literal for grep -E.
re_quote() { sed -e 's/[][\.*^$?+(){}|/]/\\&/g' <<<"$1"; }

# A good bundle to compare against and to break.
GOOD=$TMP/good-bundle
run_capture shield prepare good --state-dir "$GOOD" --profiles good --upstream-dns "$UP"
[[ $RC == 0 ]] || die "preparing the good bundle failed ($RC): $ERR"

# --------------------------------------------------- invalid domain names
LABEL64=$(printf 'a%.0s' $(seq 64)).com
L63=$(printf 'b%.0s' $(seq 63))
NAME254=$L63.$L63.$L63.$(printf 'c%.0s' $(seq 62)) # 254 characters, every label valid
[[ ${#NAME254} == 254 ]] || die "test bug: NAME254 has ${#NAME254} characters"

BAD_DOMAINS=(
	'a/b.com'
	'a#b.com'
	'a,b.com'
	'a b.com'
	$'a\tb.com'
	"$LABEL64"
	"$NAME254"
	'-a.com'
	'a-.com'
	'a..com'
)
good_before=$(state_of "$GOOD")
i=0
for d in "${BAD_DOMAINS[@]}"; do
	i=$((i + 1))
	shown=${d//$'\t'/\\t}
	[[ ${#shown} -gt 40 ]] && shown="${shown:0:20}…(${#d} chars)"
	write_profile "bad$i" 'ok.example.com' "$d"
	# The message names the entry (verbatim, tab as \t) or its profile line.
	needle="$(re_quote "$d")|$(re_quote "${d//$'\t'/\\t}")|bad$i(\\.txt)?:2([^0-9]|$)"
	dir=$TMP/bad-domain-$i
	check "domain '$shown': prepare refused, naming it" \
		expect_user_error "$needle" shield prepare "bad$i" --state-dir "$dir" --profiles "bad$i" --upstream-dns "$UP"
	check "domain '$shown': no bundle dir created" test "$(state_of "$dir")" = absent
	check "domain '$shown': existing bundle refused and left unchanged" \
		expect_user_error "$needle" shield prepare good --state-dir "$GOOD" --profiles "good:bad$i" --upstream-dns "$UP"
	check "domain '$shown': existing bundle bytes unchanged" unchanged "bundle" "$good_before" "$GOOD"
	check "domain '$shown': nothing under the state root" test -z "$(ls -A "$STATE_ROOT")"
done

# --------------------------------------------------- malformed IPs/CIDRs
BAD_CIDRS=('10.0.0.0/33' '1.2.3' '::1/129' '10.0.0.1/' '198.18.1.256' '1.2.3.4.5')
new_netns bad-fresh
FRESH=$NS_NAME
new_netns bad-existing
EXISTING=$NS_NAME
run_capture shield apply --netns "$(netns_path "$EXISTING")" --state-dir "$GOOD"
[[ $RC == 0 ]] || die "applying the good bundle failed ($RC): $ERR"
nft_list_table "$EXISTING" >"$TMP/existing.list"

for list in live.allowed deny.list; do
	for c in "${BAD_CIDRS[@]}"; do
		dir=$TMP/cidr-bundle
		rm -rf "$dir"
		cp -a "$GOOD" "$dir"
		printf '%s\n' 198.18.7.7 "$c" >"$dir/$list"
		before=$(state_of "$dir")
		needle="$(re_quote "$c")|$(re_quote "$list"):2([^0-9]|$)"
		check "$list '$c': apply refused, naming it" \
			expect_user_error "$needle" shield apply --netns "$(netns_path "$FRESH")" --state-dir "$dir" --mode up
		check "$list '$c': fresh netns has no table" no_table "$FRESH"
		check "$list '$c': bundle unchanged by the failed apply" unchanged "bundle" "$before" "$dir"
		check "$list '$c': apply over an existing table refused" \
			expect_user_error "$needle" shield apply --netns "$(netns_path "$EXISTING")" --state-dir "$dir" --mode block
		nft_list_table "$EXISTING" >"$TMP/existing.now" 2>&1 || true
		check "$list '$c': the existing table is untouched" \
			assert_same_file "table before vs after the failed apply" "$TMP/existing.list" "$TMP/existing.now"
		check "$list '$c': preview refused too" \
			expect_user_error "$needle" shield preview --state-dir "$dir"
	done
done

# ------------------------------------------------------------- ports
for p in 0 65536 80:0 80:65536 99999 http -1; do
	dir=$TMP/bad-port
	bad=${p#80:}
	check "--loopback-ports $p: prepare refused, naming the port" \
		expect_user_error "(^|[^0-9])$(re_quote "$bad")([^0-9]|$)" \
		shield prepare ports --state-dir "$dir" --profiles good --upstream-dns "$UP" \
		--loopback-ports "$p" --gateway 198.18.1.1
	check "--loopback-ports $p: no bundle dir created" test "$(state_of "$dir")" = absent
done
check "--loopback-ports without --gateway (upstream not slirp/pasta): refused, naming --gateway" \
	expect_user_error 'gateway' shield prepare ports --state-dir "$TMP/no-gw" --profiles good \
	--upstream-dns "$UP" --loopback-ports 8080
check "--loopback-ports without --gateway: no bundle dir created" test "$(state_of "$TMP/no-gw")" = absent

# ------------------------------------------------- other prepare values
declare -A BAD_OPTS=(
	[upstream]="--upstream-dns 198.18.1.300|198\\.18\\.1\\.300"
	[upstream-name]="--upstream-dns dns.example.com|dns\\.example\\.com"
	[gateway]="--gateway 1.2.3.|1\\.2\\.3\\."
	[dns-policy]="--dns-policy lenient|lenient"
	[set-timeout]="--set-timeout 0|timeout|(^|[^0-9])0([^0-9]|$)"
	[set-timeout-long]="--set-timeout 8d|8d"
	[set-timeout-junk]="--set-timeout 30x|30x"
)
for k in "${!BAD_OPTS[@]}"; do
	spec=${BAD_OPTS[$k]}
	opt=${spec%%|*}
	needle=${spec#*|}
	dir=$TMP/bad-$k
	upstream=(--upstream-dns "$UP")
	[[ $opt == --upstream-dns* ]] && upstream=()
	# shellcheck disable=SC2086 # opt is "--option value"
	check "prepare $opt: refused, naming the value" \
		expect_user_error "$needle" shield prepare opts --state-dir "$dir" --profiles good "${upstream[@]}" $opt
	check "prepare $opt: no bundle dir created" test "$(state_of "$dir")" = absent
done

# ------------------------------------------------------------- modes
check "preview --mode sideways: refused, naming it" \
	expect_user_error 'sideways' shield preview --state-dir "$GOOD" --mode sideways
check "preview --mode sideways: prints no ruleset" test -z "$OUT"
before=$(state_of "$GOOD")
check "apply --mode sideways: refused, naming it" \
	expect_user_error 'sideways' shield apply --netns "$(netns_path "$FRESH")" --state-dir "$GOOD" --mode sideways
check "apply --mode sideways: no table" no_table "$FRESH"
check "apply --mode sideways: bundle unchanged" unchanged "bundle" "$before" "$GOOD"
check "apply --mode inactive (a detected state, not a mode): refused" \
	expect_user_error 'inactive' shield apply --netns "$(netns_path "$FRESH")" --state-dir "$GOOD" --mode inactive
check "apply --mode inactive: no table" no_table "$FRESH"

# ----------------------------------------------------------- profiles
check "unknown profile: refused, naming it and listing the known ones" \
	expect_user_error 'nosuch.*good|good.*nosuch' shield prepare p --state-dir "$TMP/p1" --profiles good:nosuch --upstream-dns "$UP"
check "unknown profile: the list names every user profile" grep -q 'other' <<<"$ERR"
check "unknown profile: no bundle dir created" test "$(state_of "$TMP/p1")" = absent
check "profile name with a path: refused" \
	expect_user_error '\.\./good' shield prepare p --state-dir "$TMP/p2" --profiles ../good --upstream-dns "$UP"
check "profile name with a path: no bundle dir created" test "$(state_of "$TMP/p2")" = absent

# ------------------------------------------------------- --netns paths
# A bad --netns must never fall back to the caller's own namespace: shield's
# table in the test runner's namespace would cut the machine off.
root_before=$(nft list table inet terok_shield 2>/dev/null || echo none)
printf 'not a namespace\n' >"$TMP/x"
mkdir "$TMP/dir"
for p in "$TMP/x" /proc/self/ns/pid /proc/self/ns/mnt "$TMP/dir" "$TMP/does-not-exist" /run/netns/"${RUN_PREFIX}nope"; do
	check "--netns $p: apply refused, naming the path" \
		expect_user_error "$(re_quote "$p")" shield apply --netns "$p" --state-dir "$GOOD"
	root_now=$(nft list table inet terok_shield 2>/dev/null || echo none)
	if [[ $root_now != "$root_before" && $root_before == none ]]; then
		nft delete table inet terok_shield 2>/dev/null || true # repair the host at once
	fi
	check "--netns $p: nothing applied in the caller's namespace" test "$root_now" = "$root_before"
	check "--netns $p: rules refused too" \
		expect_user_error "$(re_quote "$p")" shield rules --netns "$p"
done

# ---------------------------------------------------------- state dirs
REAL=$TMP/real-bundle
cp -a "$GOOD" "$REAL"
ln -s "$REAL" "$TMP/link-bundle"
before=$(state_of "$REAL")
check "state dir is a symlink: prepare refused, naming it" \
	expect_user_error 'link-bundle' shield prepare s --state-dir "$TMP/link-bundle" --profiles good --upstream-dns "$UP"
check "state dir is a symlink: apply refused" \
	expect_user_error 'link-bundle' shield apply --netns "$(netns_path "$FRESH")" --state-dir "$TMP/link-bundle"
check "state dir is a symlink: preview refused" \
	expect_user_error 'link-bundle' shield preview --state-dir "$TMP/link-bundle"
check "state dir is a symlink: no table" no_table "$FRESH"
check "state dir is a symlink: target unchanged" unchanged "symlink target" "$before" "$REAL"

ln -s "$TMP/dangling-target" "$TMP/dangling"
check "state dir is a dangling symlink: prepare refused" \
	expect_user_error 'dangling' shield prepare s --state-dir "$TMP/dangling" --profiles good --upstream-dns "$UP"
check "state dir is a dangling symlink: target not created" test "$(state_of "$TMP/dangling-target")" = absent

GW=$TMP/group-writable
cp -a "$GOOD" "$GW"
chmod 0770 "$GW"
before=$(state_of "$GW")
check "state dir 0770: prepare refused, naming it" \
	expect_user_error 'group-writable' shield prepare s --state-dir "$GW" --profiles good --upstream-dns "$UP"
check "state dir 0770: apply refused" \
	expect_user_error 'group-writable' shield apply --netns "$(netns_path "$FRESH")" --state-dir "$GW"
check "state dir 0770: no table" no_table "$FRESH"
check "state dir 0770: unchanged" unchanged "group-writable bundle" "$before" "$GW"

OW=$TMP/other-writable
cp -a "$GOOD" "$OW"
chmod 0707 "$OW"
check "state dir 0707: apply refused" \
	expect_user_error 'other-writable' shield apply --netns "$(netns_path "$FRESH")" --state-dir "$OW"
check "state dir 0707: no table" no_table "$FRESH"

FOREIGN=$TMP/foreign-owner
cp -a "$GOOD" "$FOREIGN"
chown -R 65534:65534 "$FOREIGN"
check "state dir owned by another user: apply refused" \
	expect_user_error 'foreign-owner' shield apply --netns "$(netns_path "$FRESH")" --state-dir "$FOREIGN"
check "state dir owned by another user: no table" no_table "$FRESH"

check "state dir whose parent is missing: prepare refused" \
	expect_user_error 'no-parent' shield prepare s --state-dir "$TMP/no-parent/b" --profiles good --upstream-dns "$UP"
check "state dir whose parent is missing: nothing created" test "$(state_of "$TMP/no-parent")" = absent

check "state dir that is a file: prepare refused" \
	expect_user_error "$(re_quote "$TMP/x")" shield prepare s --state-dir "$TMP/x" --profiles good --upstream-dns "$UP"

# A container name is a path component under the state root: no escaping it.
for n in ../escape ../../escape a/b .. .; do
	check "prepare name '$n' without --state-dir: refused" \
		expect_user_error "$(re_quote "$n")" shield prepare "$n" --profiles good --upstream-dns "$UP"
done
check "bad names: nothing created beside the state root" test "$(state_of "$TMP/escape")" = absent
check "bad names: state root still empty" test -z "$(ls -A "$STATE_ROOT")"

# -------------------------------------------------------- usage errors
check "no command: exit 2" expect_usage_error "$SHIELD_BIN"
check "unknown command: exit 2" expect_usage_error "$SHIELD_BIN" frobnicate
check "unknown option: exit 2" expect_usage_error shield preview --state-dir "$GOOD" --frobnicate
# An ns: network names no DNS server (slirp4netns, pasta and bridge do).
check "prepare --network ns: without --upstream-dns: exit 2" \
	expect_usage_error shield prepare u --state-dir "$TMP/u" --profiles good --network ns:/run/netns/u
check "prepare --network ns: without --upstream-dns: no bundle dir created" test "$(state_of "$TMP/u")" = absent
check "apply without --netns: exit 2" expect_usage_error shield apply --state-dir "$GOOD"
check "--mode without a value: exit 2" expect_usage_error shield preview --state-dir "$GOOD" --mode
# preview, apply, attach and detach share the NAME / --state-dir / --netns parser.
usage_says() { # usage_says NEEDLE CMD...: exit 2 naming what was wrong
	expect_usage_error "${@:2}" || return 1
	[[ $ERR == *"$1"* ]] && return 0
	say "    stderr does not say \"$1\": $ERR"
	return 1
}
check "preview with NAME and --state-dir: exit 2" usage_says "not both" shield preview good --state-dir "$GOOD"
check "preview --netns: exit 2" usage_says "preview does not take --netns" \
	shield preview --state-dir "$GOOD" --netns "$(netns_path "$FRESH")"
check "apply NAME without --netns: exit 2" usage_says "--netns is required" shield apply good
check "apply with two NAMEs: exit 2" usage_says "too many arguments" \
	shield apply --netns "$(netns_path "$FRESH")" good other
check "attach without --netns: exit 2" usage_says "--netns is required" shield attach --state-dir "$GOOD"
check "attach with neither NAME nor --state-dir: exit 2" usage_says "give a container NAME or --state-dir DIR" \
	shield attach --netns "$(netns_path "$FRESH")"
check "attach --json (no such option): exit 2" usage_says "--json" \
	shield attach --json --netns "$(netns_path "$FRESH")" good
check "detach with NAME and --state-dir: exit 2" usage_says "not both" shield detach good --state-dir "$GOOD"
no_table() { ! has_table "$1"; }
check "usage errors left the fresh namespace without a table" no_table "$FRESH"

# ------------------------------------------------------ help, version
help_ok() {
	run_capture "$@"
	[[ $RC == 0 && $OUT == *Usage* ]] && return 0
	say "    exit $RC, stdout: ${OUT:0:200}"
	return 1
}
check "--help: exit 0 with usage" help_ok "$SHIELD_BIN" --help
for cmd in prepare preview apply rules; do
	check "$cmd --help: exit 0 with usage" help_ok "$SHIELD_BIN" "$cmd" --help
done
version_ok() {
	run_capture "$SHIELD_BIN" --version
	[[ $RC == 0 && $OUT =~ [0-9]+\.[0-9]+ ]] && return 0
	say "    exit $RC, stdout: $OUT"
	return 1
}
check "--version: exit 0, prints the version" version_ok

finish
