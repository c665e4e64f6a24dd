#!/usr/bin/env bash
# `shield watch` in a real terminal: tmux runs it in a pane, the test causes
# events (a DNS answer, an element added from outside) and reads the screen
# with capture-pane. The view must show the domain with its address and time
# left and the open drift, follow a resize (SIGWINCH) without wrapping, and
# give the terminal back on Ctrl-C and on q: main screen with what was on it
# before, cursor visible, the same stty settings, exit 0.
# shellcheck disable=SC2016 # jq filters are single-quoted on purpose
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib-watch.sh
source "$(dirname "$0")/lib-watch.sh"

require_root
require_cmd ip nft dnsmasq dig jq socat tmux
require_shield
require_nftsetd

init_tmp
watch_env_init
topo_build
topo_start_dns
init_shield_dirs
write_profile tty allowed.shield.test 198.18.5.5
attach_bundle web "$CLIENT_NS" --profiles tty
start_nftsetd
wait_containers 1 || die "nftsetd does not report web"

# ------------------------------------------------------------------ tmux
TMUX_SOCK=$TMP/tmux.sock
t() { tmux -S "$TMUX_SOCK" "$@"; }
t -f /dev/null new-session -d -s w -x 120 -y 40 "env -i PATH=$PATH TERM=screen HOME=$TMP PS1='$ ' bash --norc --noprofile"
_PIDS_STARTED+=("$(t display-message -p '#{pid}')")
# Resizing a window nobody is attached to needs a manual window size.
t set-option -g window-size manual

# screen: the pane's text now.
screen() { t capture-pane -p -t w; }
# screen_has REGEX...: every extended regex matches some line of the screen.
screen_has() {
	local s re
	s=$(screen)
	for re in "$@"; do
		grep -qE -- "$re" <<<"$s" || return 1
	done
}
# wait_screen WHAT REGEX...: until the screen shows them all (up to ~15 s).
wait_screen() {
	local what=$1
	shift
	wait_until 150 screen_has "$@" && return 0
	say "    the screen never showed $what; it shows:"
	screen | sed 's/^/      | /' >&2
	return 1
}
pane() { t display-message -p -t w "$1"; }
# type_line TEXT: type a line into the pane's shell.
type_line() { t send-keys -t w -l "$1" && t send-keys -t w Enter; }

ENV="SHIELD_RUNTIME_DIR=$(printf %q "$RUN") SHIELD_PODMAN=$(printf %q "$SHIELD_PODMAN")"
WATCH="$ENV $(printf %q "$SHIELD_BIN") --config-dir $(printf %q "$CONFIG_DIR") --state-root $(printf %q "$STATE_ROOT") watch"

type_line "stty -g >$TMP/stty.before; echo before-watch-marker"
wait_until 150 test -s "$TMP/stty.before" || die "the pane's shell does not run commands"
type_line "$WATCH; echo watch-exit=\$?"
check "the view comes up on the alternate screen with the container and its mode" \
	wait_screen "the header and web's line" '^shield watch · 1 container · nftsetd live' '^web  mode up · dns strict · dnsmasq pid [0-9]+ alive · no drift'
check "alternate screen on, cursor hidden while it runs" \
	bash -c '[[ $1 == 1 && $2 == 0 ]]' _ "$(pane '#{alternate_on}')" "$(pane '#{cursor_flag}')"

# A DNS answer: the domain with its address, set and time left appears.
in_ns "$CLIENT_NS" dig +short +tries=1 +time=2 @127.0.0.1 allowed.shield.test A >/dev/null
check "a resolved name appears: domain, address, set, time left" \
	wait_screen "allowed.shield.test with 198.18.1.2" "allowed\.shield\.test +$PUB_ALLOWED +allow_v4 +(29m|30m)[0-9]{2}s"

# Drift from outside: the open item with its writer, and the container flagged.
in_ns "$CLIENT_NS" nft add element inet terok_shield allow_v4 "{ 198.18.9.9 }"
check "drift from outside appears: DRIFT OPEN, the open item naming the address and nft" \
	wait_screen "the open drift" '^web .*DRIFT OPEN' '^  open: [0-9:]{8} drift\.unexplained 198\.18\.9\.9 allow_v4 by nft\[[0-9]+\]'
check "the recent events list it with the container" \
	screen_has '^  [0-9:]{8} web drift\.unexplained 198\.18\.9\.9'

# A narrower terminal (SIGWINCH): redrawn for it, lines cut, not wrapped.
t resize-window -t w -x 60 -y 30
check "after a resize to 60 columns: the header is cut at the edge, nothing wraps" \
	wait_screen "a 60-column redraw" '^shield watch · 1 container · nftsetd live' '^web  mode up'
check "... no header continuation on the second row, the domain row still there" \
	bash -c 's=$(tmux -S "$1" capture-pane -p -t w); [[ $(sed -n 2p <<<"$s") == "" ]] && ! grep -q "quits" <<<"$s" && grep -q "^  allowed.shield.test" <<<"$s"' _ "$TMUX_SOCK"
t resize-window -t w -x 120 -y 40
check "back to 120 columns: the whole header again" \
	wait_screen "the full header" 'q or Ctrl-C quits$'

# Ctrl-C: the terminal as it was.
t send-keys -t w C-c
check "Ctrl-C: shield watch exits 0" wait_screen "watch-exit=0" '^watch-exit=0$'
check "Ctrl-C: back on the main screen, cursor visible" \
	bash -c '[[ $1 == 0 && $2 == 1 ]]' _ "$(pane '#{alternate_on}')" "$(pane '#{cursor_flag}')"
check "Ctrl-C: what was on the screen before is there again" screen_has '^before-watch-marker$'
type_line "stty -g >$TMP/stty.after; echo typed-after-marker"
check "Ctrl-C: typing echoes again (line mode and echo back)" \
	wait_screen "the typed command and its output" '^\$ stty -g >.*; echo typed-after-marker$' '^typed-after-marker$'
check "Ctrl-C: the terminal settings are exactly those from before (stty -g)" \
	assert_same_file "stty settings" "$TMP/stty.before" "$TMP/stty.after"

# q quits as well.
t send-keys -t w C-l
type_line "$WATCH; echo watch-exit-q=\$?"
wait_screen "the view again" '^shield watch ·' >/dev/null || true
t send-keys -t w q
check "q: shield watch exits 0 and gives the screen back" \
	wait_screen "watch-exit-q=0" '^watch-exit-q=0$'
check "q: main screen, cursor visible" \
	bash -c '[[ $1 == 0 && $2 == 1 ]]' _ "$(pane '#{alternate_on}')" "$(pane '#{cursor_flag}')"

# When nftsetd goes away, the view ends with a message instead of a stale screen.
type_line "$WATCH; echo watch-exit-gone=\$?"
wait_screen "the view again" '^shield watch ·' >/dev/null || true
stop_nftsetd
check "nftsetd stopping: the view ends, says why, exits 1, terminal restored" \
	wait_screen "the message" 'shield: watch: nftsetd closed the connection' '^watch-exit-gone=1$'
check "... main screen, cursor visible" \
	bash -c '[[ $1 == 0 && $2 == 1 ]]' _ "$(pane '#{alternate_on}')" "$(pane '#{cursor_flag}')"

t kill-server 2>/dev/null || true
finish
