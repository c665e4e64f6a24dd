#!/usr/bin/env bash
# The bash completion (packaging/completion/shield.bash) against the real
# dev-build shield on PATH: it is sourced into this shell, and each case sets
# COMP_WORDS, COMP_CWORD, COMP_LINE and COMP_POINT as bash does for a typed
# line (words split at blanks, ':' and '=') and calls the completion
# function. Commands, their options, profile names (bundled and the user's,
# also inside a ':' list and after '='), file and directory values, and the
# name of a namespace shielded with `shield attach` (from `shield status
# --json`); with no container, no registry and no podman it offers nothing
# and prints nothing. Every case compares the exact list offered.
# shellcheck disable=SC2016 # single-quoted bash -c scripts expand later, on purpose
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

require_root
require_cmd ip nft dnsmasq timeout tmux
require_shield
init_shield_dirs

COMPLETION=$SHIELD_SOURCE_DIR/packaging/completion/shield.bash
[[ -r $COMPLETION ]] || die "no completion at $COMPLETION"

# As an operator has it: `shield` on PATH is the binary under test; the
# settings come from the environment (the completion runs shield itself).
PATH=$(dirname "$SHIELD_BIN"):$PATH
export SHIELD_CONFIG_DIR=$CONFIG_DIR SHIELD_STATE_ROOT=$STATE_ROOT
export SHIELD_RUNTIME_DIR=$TMP/run      # not there yet: no registry at all
export SHIELD_PODMAN=$TMP/no-podman-here # and no podman
[[ $(type -P shield) == "$SHIELD_BIN" ]] || die "shield on PATH is $(type -P shield), not $SHIELD_BIN"

# shellcheck source=packaging/completion/shield.bash
source "$COMPLETION"
[[ $(complete -p shield) == "complete -F _shield shield" ]] || die "the completion did not register for shield"

# comp LINE: complete LINE (the cursor at its end) as bash would: GOT is what
# is offered, sorted, one per line; COMP_ERR what the completion printed on stderr.
comp() {
	local line=$1 tok
	COMP_WORDS=()
	for tok in $line; do
		while [[ -n $tok ]]; do
			[[ $tok =~ ^([:=]+|[^:=]+)(.*)$ ]] || die "cannot split '$tok'"
			COMP_WORDS+=("${BASH_REMATCH[1]}")
			tok=${BASH_REMATCH[2]}
		done
	done
	[[ $line == *' ' ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE=$line
	COMP_POINT=${#line}
	COMPREPLY=()
	_shield 2>"$TMP/comp.err" || die "the completion function failed on '$line'"
	COMP_ERR=$(cat "$TMP/comp.err")
	GOT=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort)
}

# offers LINE WORD...: completing LINE offers exactly these words, quietly.
offers() {
	local line=$1 want
	shift
	comp "$line"
	want=$(printf '%s\n' "$@" | sed '/^$/d' | sort)
	[[ $GOT == "$want" && -z $COMP_ERR ]] && return 0
	say "    completing '$line'"
	say "    want: $(tr '\n' ' ' <<<"$want")"
	say "    got:  $(tr '\n' ' ' <<<"$GOT")"
	[[ -z $COMP_ERR ]] || say "    stderr: $COMP_ERR"
	return 1
}

# What the binary says, to compare against (not through the completion's parser).
mapfile -t COMMANDS < <("$SHIELD_BIN" --help | sed -n '/^Commands:/,/^$/p' | awk '/^  [a-z]/ {print $1}')
[[ ${#COMMANDS[@]} -ge 19 ]] || die "only ${#COMMANDS[@]} commands in 'shield --help'"
mapfile -t ALLOW_OPTS < <("$SHIELD_BIN" allow --help | sed -n '/^Options:/,$p' | grep -oE '^  (-[a-z], )?--[a-z-]+' | grep -oE -- '-{1,2}[a-z-]+')
mapfile -t BUNDLED < <(cd "$SHIELD_DATA_DIR/profiles" && for f in *.txt; do echo "${f%.txt}"; done)
[[ ${#BUNDLED[@]} -ge 5 ]] || die "only ${#BUNDLED[@]} bundled profiles in $SHIELD_DATA_DIR/profiles"

# ------------------------------------------------------------------- commands
say "# commands and options"
check "every command of 'shield --help' completes from an empty word" offers "shield " "${COMMANDS[@]}"
check "a prefix narrows: 'al' is allow" offers "shield al" allow
check "a prefix shared by two: 'd' is deny, detach, down, drift" offers "shield d" deny detach down drift
check "the global options" offers "shield --" --config-dir --state-root --help --version
check "after a global option and its value, the commands again" offers "shield --config-dir $CONFIG_DIR pre" prepare preview
check "allow's options, as 'shield allow --help' lists them" offers "shield allow -" "${ALLOW_OPTS[@]}"
check "an option prefix: allow --st is --state-dir" offers "shield allow --st" --state-dir
check "down has --all, up has not" \
	bash -c '[[ $1 == *--all* && $2 != *--all* ]]' _ "$(comp "shield down --a" && echo "$GOT")" "$(comp "shield up --a" && echo "$GOT")"
check "logs' short options too" offers "shield logs -" -f -n -h --follow --lines --state-dir --json --help
check "--mode offers the modes" offers "shield preview --mode d" down down-all
check "--dns-policy offers strict and open" offers "shield prepare web --dns-policy " strict open

# ------------------------------------------------------------------- profiles
say "# profile names"
check "--profiles offers the bundled profiles" offers "shield run web --profiles " "${BUNDLED[@]}"
check "--profiles: a prefix narrows" offers "shield prepare web --profiles dev-" dev-node dev-python dev-standard
check "--profiles: the last name of a ':' list (bash replaces only the part after ':')" \
	offers "shield prepare web --profiles base:dev-p" dev-python
check "--profiles=NAME (bash replaces only the part after '=')" offers "shield prepare web --profiles=nv" nvidia-hpc
check "profiles --show offers the profile names" offers "shield profiles --show d" dev-node dev-python dev-standard
write_profile mine "# mine: the user's own" mine.shield.test
check "a user profile in the config dir is offered too" offers "shield profiles --show m" mine
OTHER_CONFIG=$TMP/other-config
mkdir -p "$OTHER_CONFIG/profiles"
write_profile_to() { printf '%s\n' "$2" >"$OTHER_CONFIG/profiles/$1.txt"; }
write_profile_to theirs theirs.shield.test
check "--config-dir on the line: its profiles, not the environment's" \
	offers "shield --config-dir $OTHER_CONFIG profiles --show " "${BUNDLED[@]}" theirs
check "--config-dir=DIR on the line works the same" \
	offers "shield --config-dir=$OTHER_CONFIG run web --profiles th" theirs

# ------------------------------------------------------------ files and dirs
say "# files and directories"
mkdir -p "$TMP/dirs/alpha.d" "$TMP/dirs/beta.d"
: >"$TMP/dirs/afile"
check "--state-dir offers directories only" offers "shield allow --state-dir $TMP/dirs/" "$TMP/dirs/alpha.d" "$TMP/dirs/beta.d"
check "--state-root (global) offers directories" offers "shield --state-root $TMP/dirs/al" "$TMP/dirs/alpha.d"
check "--config-dir (global) offers directories" offers "shield --config-dir $TMP/dirs/b" "$TMP/dirs/beta.d"
check "setup --dir offers directories" offers "shield setup --dir $TMP/dirs/a" "$TMP/dirs/alpha.d"
check "--netns offers files" offers "shield attach --netns $TMP/dirs/a" "$TMP/dirs/afile" "$TMP/dirs/alpha.d"
check "setup --hook offers files" offers "shield setup --hook $TMP/dirs/af" "$TMP/dirs/afile"
check "--state-dir=DIR (bash replaces only the part after '=')" offers "shield status --state-dir=$TMP/dirs/b" "$TMP/dirs/beta.d"

# ------------------------------------------------------------- no container
say "# no container, no registry, no podman"
[[ ! -e $SHIELD_RUNTIME_DIR ]] || die "$SHIELD_RUNTIME_DIR exists already"
check "allow NAME offers nothing, quietly" offers "shield allow "
check "status offers nothing, quietly" offers "shield status "
check "a name prefix offers nothing either" offers "shield drift w"
check "after run NAME ... -- the words are podman's: nothing from shield" offers "shield run web --profiles base -- --rm"

# ------------------------------------------------------ a shielded namespace
say "# a namespace shielded with shield attach"
new_netns comp
shield prepare comptest --profiles mine --upstream-dns "$DNS_UPSTREAM" -q >/dev/null || die "prepare comptest"
shield attach --netns "$(netns_path "$NS_NAME")" comptest >/dev/null || die "attach comptest"
check "shield status --json lists it (what the completion reads)" \
	bash -c '"$1" status --json | grep -q "\"name\": \"comptest\""' _ "$SHIELD_BIN"
check "allow offers its name" offers "shield allow " comptest
check "a prefix of its name completes it, for deny" offers "shield deny comp" comptest
for c in up down block status rules logs watch drift detach; do
	check "$c offers its name" offers "shield $c com" comptest
done
check "a global option and its value before the command do not hide it" offers "shield --state-root $STATE_ROOT allow c" comptest
check "after NAME comes TARGET: no names" offers "shield allow comptest "
check "with --state-dir there is no NAME to offer" offers "shield allow --state-dir $STATE_ROOT/containers/comptest "
check "prepare names a new container: no names" offers "shield prepare "
check "profiles takes no NAME: nothing" offers "shield profiles "
shield detach comptest >/dev/null || die "detach comptest"
check "once detached it is no longer offered" offers "shield allow "

# ------------------------------------------------------ in a real bash
# The cases above set COMP_WORDS as bash would; here bash itself does it:
# an interactive bash in a tmux pane, a line typed and Tab pressed.
say "# Tab in an interactive bash (tmux)"
shield attach --netns "$(netns_path "$NS_NAME")" comptest >/dev/null || die "attach comptest again"
TMUX_SOCK=$TMP/tmux.sock
t() { tmux -S "$TMUX_SOCK" "$@"; }
t -f /dev/null new-session -d -s c -x 200 -y 20 \
	"env -i PATH=$PATH TERM=screen HOME=$TMP PS1='$ ' SHIELD_CONFIG_DIR=$CONFIG_DIR SHIELD_STATE_ROOT=$STATE_ROOT SHIELD_RUNTIME_DIR=$SHIELD_RUNTIME_DIR SHIELD_PODMAN=$SHIELD_PODMAN SHIELD_DATA_DIR=$SHIELD_DATA_DIR bash --norc --noprofile"
_PIDS_STARTED+=("$(t display-message -p '#{pid}')")
t send-keys -t c -l "source $COMPLETION" && t send-keys -t c Enter
# last_line_is TEXT: the pane's last non-empty line is "$ TEXT" (tmux drops trailing blanks).
last_line_is() {
	local want="\$ $1"
	[[ $(t capture-pane -p -t c | sed '/^$/d' | tail -n 1) == "${want% }" ]]
}
# tab_completes TYPED WANT: typing TYPED and Tab leaves the line WANT.
tab_completes() {
	local ok=0
	wait_for 5 last_line_is "" || true # the prompt, empty
	t send-keys -t c -l "$1" && t send-keys -t c Tab
	wait_for 5 last_line_is "$2" || ok=1
	if ((ok)); then
		say "    typed '$1' and Tab; want '$ $2', the pane shows:"
		t capture-pane -p -t c | sed '/^$/d' | tail -n 3 | sed 's/^/      | /' >&2
	fi
	t send-keys -t c C-c
	return "$ok"
}
check "Tab: a command" tab_completes "shield al" "shield allow"
check "Tab: an option of allow" tab_completes "shield allow --st" "shield allow --state-dir"
check "Tab: a profile after ':'" tab_completes "shield prepare web --profiles base:dev-py" "shield prepare web --profiles base:dev-python"
check "Tab: a directory after '='" tab_completes "shield status --state-dir=$TMP/dirs/be" "shield status --state-dir=$TMP/dirs/beta.d"
check "Tab: the attached namespace's name" tab_completes "shield deny comp" "shield deny comptest"
t kill-server
shield detach comptest >/dev/null || die "detach comptest"

finish
