#!/usr/bin/env bash
# Golden ruleset test: for every mode and several bundles, what `shield apply`
# commits in a real network namespace, listed by the independent oracle
# `nft list table inet terok_shield`, is byte-identical to `shield preview`;
# applying twice changes nothing; `shield rules` reports the right mode, and
# never a clean mode for a tampered table.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

require_root
require_cmd ip nft cmp diff
require_shield
init_shield_dirs

MODES=(up down down-all block)

# "down-all" is asked for with a dash and reported with an underscore.
reported_mode() { printf '%s\n' "${1//-/_}"; }

# A profile with domains, static IPv4/IPv6 hosts and CIDRs (one of them also
# in deny.list, so effective IPs = profile − deny.list is visible).
write_profile golden \
	'# golden test profile' \
	'example.com' \
	'api.example.org' \
	"$PUB_ALLOWED" \
	"$PUB_DENIED" \
	'198.18.2.0/24' \
	"$PUB6_ALLOWED" \
	'2001:db8:2::/48' \
	'10.9.0.0/16'
write_profile domains-only 'example.com'

# Bundles: NAME and the prepare arguments after NAME.
declare -A CASE_ARGS=(
	[static]="--profiles golden --upstream-dns $DNS_UPSTREAM"
	[ports-gw]="--profiles golden --upstream-dns $DNS_UPSTREAM --loopback-ports 80:443 --gateway 198.18.1.1"
	[ports-slirp]="--profiles golden --upstream-dns 10.0.2.3 --loopback-ports 8080"
	[ports-pasta]="--profiles golden --upstream-dns 169.254.1.1 --loopback-ports 3000:8080"
	[upstream-v6]="--profiles golden --upstream-dns 2001:db8:53::1"
	[ports-v6]="--profiles golden --upstream-dns fd00:53::1 --loopback-ports 8080 --gateway fd00:53::2"
	[no-static]="--profiles domains-only --upstream-dns $DNS_UPSTREAM --dns-policy open --set-timeout 2h"
)
CASES=(static ports-gw ports-slirp ports-pasta upstream-v6 ports-v6 no-static)

# The output chain's block of a listing.
output_chain() { awk '/^\tchain output \{/ { p = 1 } p { print } p && /^\t\}/ { exit }' "$1"; }

# Mode-specific content of a listing, so that preview and apply cannot agree
# on a wrong ruleset unnoticed.
check_mode_content() {
	local mode=$1 list=$2 out
	out=$(output_chain "$list")
	local bad=0
	_has() { [[ $out == *"$1"* ]] || { say "    $mode: output chain lacks '$1'"; bad=1; }; }
	_lacks() { [[ $out != *"$1"* ]] || { say "    $mode: output chain has '$1'"; bad=1; }; }
	_has 'oifname "lo" accept'
	_has 'ct state established,related accept'
	case $mode in
	up)
		_has 'policy drop;'
		_has 'TEROK_SHIELD_BLOCKED: '
		_has '@deny_v4'
		_has '@allow_v4'
		_has '@allow_v6'
		_has 'TEROK_SHIELD_ALLOWED: '
		_has 'TEROK_SHIELD_DENIED: '
		_has 'TEROK_SHIELD_PRIVATE: '
		_has 'dport 53'
		_has 'admin-prohibited'
		;;
	down)
		_has 'policy accept;'
		_has '@deny_v4'
		_has 'TEROK_SHIELD_BYPASS: '
		_has 'TEROK_SHIELD_PRIVATE: '
		;;
	down-all)
		_has 'policy accept;'
		_has '@deny_v4'
		_has 'TEROK_SHIELD_BYPASS: '
		_lacks 'TEROK_SHIELD_PRIVATE: '
		;;
	block)
		_has 'policy drop;'
		_has 'TEROK_SHIELD_BLOCKED: '
		_lacks '@allow_v4'
		_lacks '@deny_v4'
		_lacks 'dport 53'
		_lacks 'TEROK_SHIELD_ALLOWED: '
		;;
	esac
	[[ $bad == 0 ]]
}

# Static elements: in the allow sets (minus deny.list), deny.list in the deny sets.
check_static_elements() {
	local list=$1 sets
	sets=$(awk '/^\tset (allow|deny)_v[46] \{/ { p = 1 } p { print } p && /^\t\}/ { p = 0 }' "$list")
	local allow4 allow6 deny4 deny6
	allow4=$(awk '/set allow_v4/ { p = 1 } p { print } p && /^\t\}/ { exit }' <<<"$sets")
	allow6=$(awk '/set allow_v6/ { p = 1 } p { print } p && /^\t\}/ { exit }' <<<"$sets")
	deny4=$(awk '/set deny_v4/ { p = 1 } p { print } p && /^\t\}/ { exit }' <<<"$sets")
	deny6=$(awk '/set deny_v6/ { p = 1 } p { print } p && /^\t\}/ { exit }' <<<"$sets")
	local bad=0 e
	for e in "$PUB_ALLOWED" 198.18.2.0/24 10.9.0.0/16; do
		grep -qwF -- "$e" <<<"$allow4" || { say "    allow_v4 lacks $e"; bad=1; }
	done
	for e in "$PUB6_ALLOWED" 2001:db8:2::/48; do
		grep -qwF -- "$e" <<<"$allow6" || { say "    allow_v6 lacks $e"; bad=1; }
	done
	grep -qwF -- "$PUB_DENIED" <<<"$allow4" && { say "    allow_v4 holds the denied $PUB_DENIED"; bad=1; }
	grep -qwF -- "$PUB_DENIED" <<<"$deny4" || { say "    deny_v4 lacks $PUB_DENIED"; bad=1; }
	grep -qwF -- 2001:db8:1::4 <<<"$deny6" || { say "    deny_v6 lacks 2001:db8:1::4"; bad=1; }
	grep -q 'expires' <<<"$sets" && { say "    a static element expires"; bad=1; }
	grep -q 'flags interval,timeout' <<<"$allow4" || { say "    allow_v4 is not an interval,timeout set"; bad=1; }
	[[ $bad == 0 ]]
}

# `shield rules` output for a netns whose table is the listing in FILE.
check_rules_output() {
	local path=$1 mode=$2 list=$3 want=$TMP/rules-want
	{
		printf 'mode: %s\n\n' "$(reported_mode "$mode")"
		cat "$list"
	} >"$want"
	local rc=0
	shield rules --netns "$path" >"$TMP/rules-got" 2>"$TMP/rules-err" || rc=$?
	[[ $rc == 0 ]] || { say "    shield rules exit $rc: $(cat "$TMP/rules-err")"; return 1; }
	assert_same_file "shield rules output" "$want" "$TMP/rules-got"
}

# rules_mode PATH: the mode `shield rules` reports (first line).
rules_mode() {
	local line
	line=$(shield rules --netns "$1" 2>/dev/null | head -n 1) || true
	printf '%s\n' "${line#mode: }"
}

# expect_rules_mode PATH MODE
expect_rules_mode() {
	local got
	got=$(rules_mode "$1")
	[[ $got == "$2" ]] && return 0
	say "    shield rules reports '$got', expected '$2'"
	return 1
}

# rules_prints_table PATH: `shield rules` succeeds and shows the table.
rules_prints_table() {
	run_capture shield rules --netns "$1"
	[[ $RC == 0 && $OUT == *"table inet terok_shield {"* ]] && return 0
	say "    shield rules exit $RC, output: $OUT $ERR"
	return 1
}

# Apply and list; returns non-zero with the error shown if apply fails.
apply_and_list() {
	local path=$1 dir=$2 mode=$3 ns=$4 out=$5
	run_capture shield apply --netns "$path" --state-dir "$dir" --mode "$mode"
	if [[ $RC != 0 ]]; then
		say "    shield apply --mode $mode exit $RC: $ERR"
		return 1
	fi
	if ! nft_list_table "$ns" >"$out" 2>"$TMP/nft-err"; then
		say "    no table after apply: $(cat "$TMP/nft-err")"
		rm -f "$out"
		return 1
	fi
}

# ------------------------------------------------------------ the cases

for case in "${CASES[@]}"; do
	dir=$TMP/bundles/$case
	mkdir -p "$TMP/bundles"
	# shellcheck disable=SC2086 # CASE_ARGS holds whitespace-separated words
	run_capture shield prepare "$case" --state-dir "$dir" ${CASE_ARGS[$case]}
	check "$case: prepare" test "$RC" = 0
	if [[ $RC != 0 ]]; then
		say "    prepare: $ERR"
		continue
	fi
	[[ $case == no-static ]] || printf '%s\n' "$PUB_DENIED" 2001:db8:1::4 >"$dir/deny.list"

	new_netns "g-$case"
	ns=$NS_NAME
	path=$(netns_path "$ns")

	for mode in "${MODES[@]}"; do
		list=$TMP/$case-$mode.list
		check "$case/$mode: apply" apply_and_list "$path" "$dir" "$mode" "$ns" "$list" || true
		[[ -s $list ]] || continue

		shield preview --state-dir "$dir" >"$TMP/$case-$mode.preview" 2>"$TMP/err" || true
		check "$case/$mode: nft list == shield preview (mode from the bundle)" \
			assert_same_file "listing vs preview" "$TMP/$case-$mode.preview" "$list"
		shield preview --state-dir "$dir" --mode "$mode" >"$TMP/$case-$mode.preview-m" 2>"$TMP/err" || true
		check "$case/$mode: nft list == shield preview --mode $mode" \
			assert_same_file "listing vs preview --mode" "$TMP/$case-$mode.preview-m" "$list"
		check "$case/$mode: ruleset content fits the mode" check_mode_content "$mode" "$list"
		if [[ $mode != block && $case != no-static ]]; then
			check "$case/$mode: static elements in allow/deny sets, none expiring" \
				check_static_elements "$list"
		fi
		check "$case/$mode: shield rules reports $(reported_mode "$mode") and the table" \
			check_rules_output "$path" "$mode" "$list"

		# Apply again: the table is replaced, not added to.
		list2=$TMP/$case-$mode.list2
		check "$case/$mode: second apply" apply_and_list "$path" "$dir" "$mode" "$ns" "$list2" || true
		check "$case/$mode: second apply lists exactly the same (no duplicates)" \
			assert_same_file "first vs second listing" "$list" "$list2"
		check "$case/$mode: one table in the netns" \
			test "$(in_ns "$ns" nft list tables | grep -c 'terok_shield')" = 1
	done
done

# ------------------------------------------------------------ shield rules

dir=$TMP/bundles/static
new_netns rules
ns=$NS_NAME
path=$(netns_path "$ns")

run_capture shield rules --netns "$path"
check "rules: netns without the table → exit 0" test "$RC" = 0
check "rules: netns without the table → exactly 'mode: inactive'" test "$OUT" = "mode: inactive"

# A foreign table must survive apply (shield replaces only its own table).
in_ns "$ns" nft add table inet someone_else
in_ns "$ns" nft add chain inet someone_else keep
check "rules: apply up on a netns with another table" \
	apply_and_list "$path" "$dir" up "$ns" "$TMP/rules-up.list"
check "rules: the other table survives apply" \
	in_ns "$ns" nft list table inet someone_else
check "rules: clean up → up" expect_rules_mode "$path" up

# Elements come and go (dnsmasq adds answers): that is not tampering.
in_ns "$ns" nft add element inet terok_shield allow_v4 '{ 198.18.9.9 }'
in_ns "$ns" nft add element inet terok_shield allow_v6 '{ 2001:db8:9::9 }'
check "rules: added dynamic elements → still up" expect_rules_mode "$path" up

# reapply_up: back to a clean table (and prove apply repairs tampering).
reapply_up() {
	apply_and_list "$path" "$dir" up "$ns" "$TMP/re.list" &&
		assert_same_file "re-applied listing vs the first one" "$TMP/static-up.list" "$TMP/re.list" &&
		expect_rules_mode "$path" up
}

# last_rule_handle CHAIN: handle of the chain's last rule.
last_rule_handle() {
	in_ns "$ns" nft -a list chain inet terok_shield "$1" |
		awk '/# handle [0-9]+$/ && !/chain / { h = $NF } END { print h }'
}

tamper_cases=(
	"an extra accept rule appended:nft add rule inet terok_shield output ip daddr $PUB_OTHER accept"
	"an extra accept rule inserted first:nft insert rule inet terok_shield output ip daddr $PUB_OTHER accept"
	"the output policy changed to accept:nft add chain inet terok_shield output { policy accept ; }"
	"an extra chain:nft add chain inet terok_shield sneaky"
	"the input chain flushed:nft flush chain inet terok_shield input"
	"an output rule deleted:DELETE-LAST-OUTPUT"
)
for t in "${tamper_cases[@]}"; do
	what=${t%%:*}
	cmd=${t#*:}
	check "tamper ($what): re-apply up restores the clean table" reapply_up
	if [[ $cmd == DELETE-LAST-OUTPUT ]]; then
		h=$(last_rule_handle output)
		in_ns "$ns" nft delete rule inet terok_shield output handle "$h"
	else
		# shellcheck disable=SC2086 # the nft command line is word-split on purpose
		in_ns "$ns" $cmd
	fi
	check "tamper ($what): shield rules → error" expect_rules_mode "$path" error
	check "tamper ($what): shield rules still exits 0 and prints the table" rules_prints_table "$path"
done

# Tampering in another mode must not be reported as that mode either.
check "tamper (down): apply down" apply_and_list "$path" "$dir" down "$ns" "$TMP/t-down.list"
in_ns "$ns" nft add rule inet terok_shield output ip daddr "$PUB_OTHER" accept
check "tamper (down, extra rule): shield rules → error" expect_rules_mode "$path" error

check "table deleted: re-apply up" reapply_up
in_ns "$ns" nft delete table inet terok_shield
check "table deleted: shield rules → inactive" expect_rules_mode "$path" inactive

finish
