#!/usr/bin/env bash
# Static allowlist elements never expire (DESIGN.md defect 4: the original
# sent `timeout 0s`, which nft 1.0.6 turns into the set default, so static
# entries silently vanished after 30 minutes). The kernel's own dump, read
# through `nft list set`, must show no "expires" on them, while an element
# added afterwards the usual way does show one, and with a short set
# timeout the dynamic element really goes away while the static ones stay.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

require_root
require_cmd ip nft
require_shield
init_shield_dirs

STATIC_V4=(198.18.1.2 198.18.2.0/24 10.9.0.2)
STATIC_V6=(2001:db8:1::2 2001:db8:2::/48 fd00:1::2)
write_profile expiry example.com "${STATIC_V4[@]}" "${STATIC_V6[@]}"

# list_set NS SET: the set as nft lists it.
list_set() { in_ns "$1" nft list set inet terok_shield "$2"; }

# The element lines of a listing, one element per line ("ADDR [expires ...]").
elements() {
	awk '/elements = \{/ { p = 1 } p { print } p && /\}/ { exit }' |
		sed -e 's/.*elements = {//' -e 's/}.*//' | tr ',' '\n' | sed -e 's/^[[:space:]]*//' -e '/^$/d'
}

# element_line LISTING ADDR: that element's line (empty if absent).
element_line() { elements <<<"$1" | awk -v a="$2" '$1 == a'; }

# has_static_no_expiry LISTING ADDR: present and without a timeout/expiry.
has_static_no_expiry() {
	local line
	line=$(element_line "$1" "$2")
	if [[ -z $line ]]; then
		say "    $2 is not in the set"
		return 1
	fi
	if [[ $line == *expires* ]]; then
		say "    static $2 expires: $line"
		return 1
	fi
	return 0
}

# has_expiring LISTING ADDR: present and expiring.
has_expiring() {
	local line
	line=$(element_line "$1" "$2")
	[[ $line == *expires* ]] && return 0
	say "    expected $2 to show 'expires', got: '${line:-<absent>}'"
	return 1
}

absent() {
	[[ -z $(element_line "$1" "$2") ]] && return 0
	say "    $2 still in the set: $(element_line "$1" "$2")"
	return 1
}

# one_run LABEL TIMEOUT_ARGS...: prepare, apply, check.
prepare_apply() {
	local label=$1 ns
	shift
	new_netns "x-$label"
	ns=$NS_NAME
	run_capture shield prepare "x-$label" --state-dir "$TMP/$label" --profiles expiry \
		--upstream-dns 198.18.1.53 "$@"
	[[ $RC == 0 ]] || die "prepare ($label) failed ($RC): $ERR"
	run_capture shield apply --netns "$(netns_path "$ns")" --state-dir "$TMP/$label" --mode up
	[[ $RC == 0 ]] || die "apply ($label) failed ($RC): $ERR"
	NS=$ns
}

# ------------------------------------------------ default timeout (30m)
prepare_apply default
v4=$(list_set "$NS" allow_v4)
v6=$(list_set "$NS" allow_v6)
check "allow_v4 has the default timeout 30m" grep -Eq '^[[:space:]]*timeout 30m$' <<<"$v4"
for a in "${STATIC_V4[@]}"; do
	check "allow_v4: static $a present, no expires" has_static_no_expiry "$v4" "$a"
done
for a in "${STATIC_V6[@]}"; do
	check "allow_v6: static $a present, no expires" has_static_no_expiry "$v6" "$a"
done

# The control: an element added the way nft adds one does expire.
in_ns "$NS" nft add element inet terok_shield allow_v4 '{ 198.18.9.9 }'
in_ns "$NS" nft add element inet terok_shield allow_v6 '{ 2001:db8:9::9 }'
v4=$(list_set "$NS" allow_v4)
v6=$(list_set "$NS" allow_v6)
check "allow_v4: element added afterwards shows expires (the test sees the difference)" \
	has_expiring "$v4" 198.18.9.9
check "allow_v6: element added afterwards shows expires" has_expiring "$v6" 2001:db8:9::9
for a in "${STATIC_V4[@]}"; do
	check "allow_v4: static $a still without expires next to a dynamic one" has_static_no_expiry "$v4" "$a"
done

# ------------------------------------------- short timeout: real expiry
prepare_apply short --set-timeout 2s
v4=$(list_set "$NS" allow_v4)
check "short: allow_v4 has timeout 2s" grep -Eq '^[[:space:]]*timeout 2s$' <<<"$v4"
in_ns "$NS" nft add element inet terok_shield allow_v4 '{ 198.18.9.9 }'
in_ns "$NS" nft add element inet terok_shield allow_v6 '{ 2001:db8:9::9 }'
sleep 3.5
v4=$(list_set "$NS" allow_v4)
v6=$(list_set "$NS" allow_v6)
check "short: the dynamic v4 element expired after the set timeout" absent "$v4" 198.18.9.9
check "short: the dynamic v6 element expired after the set timeout" absent "$v6" 2001:db8:9::9
for a in "${STATIC_V4[@]}"; do
	check "short: static $a outlived the set timeout" has_static_no_expiry "$v4" "$a"
done
for a in "${STATIC_V6[@]}"; do
	check "short: static $a outlived the set timeout" has_static_no_expiry "$v6" "$a"
done

finish
