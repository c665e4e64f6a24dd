#!/usr/bin/env bash
# `shield drift` and `shield watch` with many watched containers: 100
# namespaces shielded with `shield attach` (each with its own dnsmasq),
# watched by the real nftsetd. nftsetd's report answer is one line that
# grows with every container (~850 bytes each), so with 100 it is past the
# 64 KiB cap of request and event lines: the client must read it whole (its
# own cap is 64 MiB). Checked: the raw report is over 64 KiB; `shield drift
# --json` lists every container, all clean, exit 0; the text report counts
# them all; one element added from outside in one namespace makes exactly
# that container unclean (exit 3); and `shield watch` in a terminal (tmux)
# shows the live view of all of them instead of "report failed".
#
# SHIELD_MANY_NAMESPACES overrides the 100 (fewer than ~80 no longer
# crosses 64 KiB, and the test says so).
# shellcheck disable=SC2016 # jq filters are single-quoted on purpose
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib-watch.sh
source "$(dirname "$0")/lib-watch.sh"

N=${SHIELD_MANY_NAMESPACES:-100}
[[ $N =~ ^[1-9][0-9]*$ ]] || die "SHIELD_MANY_NAMESPACES must be a positive number, not '$N'"
readonly LINE_MAX=65536
readonly ALIEN=198.18.9.9

require_root
require_cmd ip nft dnsmasq jq socat tmux
require_shield
require_nftsetd

init_tmp
watch_env_init
init_shield_dirs
write_profile many allowed.shield.test other.shield.test 198.18.5.5 2001:db8:5::5

say "attaching $N namespaces ..."
NS_OF=()
for ((i = 0; i < N; i++)); do
	new_netns "m$i"
	NS_OF+=("$NS_NAME")
	attach_bundle "m$i" "$NS_NAME" --profiles many
done
start_nftsetd
check "nftsetd watches all $N" wait_containers "$N"

# The filters below may name the number of namespaces as $n.
DRIFT_JQ_ARGS=(--argjson n "$N")
# report_over_line_max: nftsetd's raw report line is longer than 64 KiB.
report_over_line_max() {
	local bytes
	bytes=$(report "" | wc -c)
	say "    nftsetd's report for $N containers: $bytes bytes"
	((bytes > LINE_MAX + 1))
}
# The names m0 .. m(N-1), sorted as jq sorts them.
EXPECTED_NAMES=$(for ((i = 0; i < N; i++)); do echo "m$i"; done | jq -R . | jq -cs 'sort')

check "the report for $N containers is one line over 64 KiB (what this test is about)" \
	report_over_line_max
check "shield drift --json: every one of the $N containers, all clean, from nftsetd, exit 0" \
	drift_is 0 "(.containers | length) == \$n and ([.containers[].name] | sort) == $EXPECTED_NAMES and .source == \"nftsetd\" and all(.containers[]; .clean)" --json
check "shield drift (text): exit 0, the header counts all $N" \
	drift_is 0 ''
check "... the text report names the last container and says it is clean" \
	bash -c 'grep -q "nftsetd report generated .*, $2 containers$" "$1" && grep -q "^m$(($2 - 1))  " "$1"' _ "$TMP/drift.out" "$N"

# One element from outside in one namespace: that container, and only it, has drift.
VICTIM=m$((N / 2))
in_ns "${NS_OF[$((N / 2))]}" nft add element inet terok_shield allow_v4 "{ $ALIEN }"
victim_open() {
	report "$VICTIM" | jq -e '.containers[0].clean == false' >/dev/null 2>&1
}
wait_until 300 victim_open || say "    nftsetd never reported $VICTIM unclean"
check "one element added from outside: exit 3, exactly $VICTIM unclean, its open drift.unexplained names $ALIEN" \
	drift_is 3 "(.containers | length) == \$n and ([.containers[] | select(.clean | not) | .name] == [\"$VICTIM\"]) and (.containers[] | select(.name == \"$VICTIM\") | .checks[] | select(.kind == \"drift.unexplained\") | .state == \"open\" and any(.open[]; .ip == \"$ALIEN\"))" --json

# ----------------------------------------------------- shield watch, in tmux
TMUX_SOCK=$TMP/tmux.sock
t() { tmux -S "$TMUX_SOCK" "$@"; }
t -f /dev/null new-session -d -s w -x 120 -y 40 "env -i PATH=$PATH TERM=screen HOME=$TMP PS1='$ ' bash --norc --noprofile"
_PIDS_STARTED+=("$(t display-message -p '#{pid}')")
screen() { t capture-pane -p -t w; }
screen_has() { # (taken whole: `screen | grep -q` could fail under pipefail)
	local s
	s=$(screen)
	grep -qE -- "$1" <<<"$s"
}
ENV="SHIELD_RUNTIME_DIR=$(printf %q "$RUN") SHIELD_PODMAN=$(printf %q "$SHIELD_PODMAN")"
WATCH="$ENV $(printf %q "$SHIELD_BIN") --config-dir $(printf %q "$CONFIG_DIR") --state-root $(printf %q "$STATE_ROOT") watch"
t send-keys -t w -l "$WATCH; echo watch-exit=\$?" && t send-keys -t w Enter
watch_shows_all() {
	wait_until 150 screen_has "^shield watch · $N containers · nftsetd live" && return 0
	say "    the screen never showed the live view of $N containers; it shows:"
	screen | sed 's/^/      | /' >&2
	return 1
}
check "shield watch on a terminal: the live view of all $N containers, no 'report failed'" \
	watch_shows_all
t send-keys -t w q
check "shield watch: q quits, exit 0" wait_until 100 screen_has '^watch-exit=0$'

stop_nftsetd
check "nftsetd exits 0 on SIGTERM" test "$NFTSETD_RC" = 0
stop_all_dnsmasq
finish
