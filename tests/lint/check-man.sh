#!/usr/bin/env bash
# The man pages in man/: mandoc's lint and man-db/groff's warnings must be
# silent on every page, every page must be installed, and the pages must
# keep up with the binaries: each command `shield --help` lists has its own
# item in shield(1), each option of a command's `--help` is in that item,
# the global options are documented, every SHIELD_* variable the code reads
# is under ENVIRONMENT, and shield-hook(1) and nftsetd(8) name every stage
# and option of their binaries' usage. Exit 77 when mandoc or man is
# missing (a failure with SHIELD_REQUIRE_ALL_TESTS=1).
set -euo pipefail

SRC=${SHIELD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SHIELD_BIN=${SHIELD_BIN:-$SRC/build/dev/helper/shield}
SHIELD_HOOK_BIN=${SHIELD_HOOK_BIN:-$SRC/build/dev/helper/shield-hook}
NFTSETD_BIN=${NFTSETD_BIN:-$SRC/build/dev/nftsetd/nftsetd}
MAN=$SRC/man

LINT_NAME=check-man
# shellcheck source=tests/lint/lib-lint.sh
source "$SRC/tests/lint/lib-lint.sh"

command -v mandoc >/dev/null || missing "needs mandoc (apt-get install mandoc)"
command -v man >/dev/null || missing "needs man (apt-get install man-db groff-base)"
for bin in "$SHIELD_BIN" "$SHIELD_HOOK_BIN" "$NFTSETD_BIN"; do
	[[ -x $bin ]] || missing "binary $bin not built"
done

shopt -s nullglob
pages=("$MAN"/*.[1-9])
[[ ${#pages[@]} -gt 0 ]] || problem "no man pages in $MAN"

# ------------------------------------------------------------- lint, render
for page in "${pages[@]}"; do
	name=${page##*/}
	# mandoc: style is not checked (-W warning), anything from warnings up fails.
	out=$(mandoc -T lint -W warning "$page" 2>&1) || true
	[[ -z $out ]] || problem "mandoc -T lint on $name:"$'\n'"$out"
	# man-db through groff, as an operator's `man` renders it; any warning fails.
	out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null) || true
	[[ -z $out ]] || problem "man --warnings -l $name:"$'\n'"$out"
	# Installed by CMake, into the section its name says.
	sect=${name##*.}
	grep -Eq "man/$name([^A-Za-z0-9_.-]|\$).*CMAKE_INSTALL_MANDIR\}/man$sect\)" \
		"$SRC/CMakeLists.txt" "$SRC"/*/CMakeLists.txt ||
		problem "$name is not installed into man$sect by any CMakeLists.txt"
done

# ------------------------------------------------- shield(1) against the code
page=$MAN/shield.1
help=$("$SHIELD_BIN" --help)

# The commands of `shield --help` (the lines under "Commands:").
commands=()
while read -r cmd _; do
	commands+=("$cmd")
done < <(sed -n '/^Commands:/,/^$/{/^  [a-z]/p}' <<<"$help")
[[ ${#commands[@]} -ge 10 ]] || problem "found only ${#commands[@]} commands in 'shield --help'"
cmd_alt=$(
	IFS='|'
	printf '%s' "${commands[*]}"
)

# section CMD: the lines of CMD's item in shield(1), from ".It Cm CMD ..." to
# the next command's item or section heading. A list item naming a mode word
# (".It Cm up , Cm down ...", in status) is not a command's item: a command's
# name is followed by its arguments, never by a comma.
section() {
	awk -v cmd="$1" -v alt="$cmd_alt" '
		function starts(line, c) { return line ~ ("^\\.It Cm (" c ")( [^,].*)?$") }
		/^\.Sh / { inside = 0 }
		starts($0, alt) { inside = starts($0, cmd) }
		inside' "$page"
}

# options HELP: each option of a --help text's "Options:" lines, one per line
# ("--long", and "-x" for a short form).
options() {
	sed -n '/^Options:/,$p' <<<"$1" |
		sed -nE 's/^  (-[A-Za-z]), (--[a-z0-9-]+).*/\1\n\2/p; s/^  (--[a-z0-9-]+).*/\1/p'
}

# has_flag TEXT OPT: mdoc spells --opt "Fl -opt" and -x "Fl x".
has_flag() {
	grep -Eq "Fl ${2#-}([^A-Za-z0-9-]|\$)" <<<"$1"
}

for cmd in "${commands[@]}"; do
	text=$(section "$cmd")
	if [[ -z $text ]]; then
		problem "shield(1) has no item '.It Cm $cmd' for the command '$cmd' of 'shield --help'"
		continue
	fi
	chelp=$("$SHIELD_BIN" "$cmd" --help) || problem "'shield $cmd --help' failed"
	n=0
	while read -r opt; do
		n=$((n + 1))
		# Every command takes -h/--help: shield(1) says so once, under the global options.
		[[ $opt == -h || $opt == --help ]] && continue
		has_flag "$text" "$opt" || problem "shield(1): '$cmd' takes $opt ('shield $cmd --help') but its item does not name it"
	done < <(options "$chelp")
	[[ $n -gt 0 ]] || problem "no options found in 'shield $cmd --help'"
done

# The global options, documented before the commands.
globals=$(sed '/^\.Sh COMMANDS/,$d' "$page")
while read -r opt; do
	has_flag "$globals" "$opt" || problem "shield(1): the global option $opt ('shield --help') is not documented"
done < <(options "$help")
grep -q 'prints that command.s usage and options' <<<"$globals" ||
	problem "shield(1) no longer says that every command takes --help"

# Every SHIELD_* variable the shield binary's code reads, under ENVIRONMENT.
environment=$(sed -n '/^\.Sh ENVIRONMENT/,/^\.Sh /p' "$page")
while read -r var; do
	grep -Eq "^\.It Ev $var( |\$)" <<<"$environment" ||
		problem "shield(1): $var is read by the code but not under ENVIRONMENT"
done < <(grep -ohE '"SHIELD_[A-Z_]+"' "$SRC"/helper/*.c "$SRC"/shared/src/*.c | tr -d '"' | sort -u)

# --------------------------------------- shield-hook(1) and nftsetd(8) too
hook_usage=$("$SHIELD_HOOK_BIN" 2>&1 </dev/null) || true
stages=$(sed -nE 's/^Usage: shield-hook ([A-Za-z|]+).*/\1/p' <<<"$hook_usage" | tr '|' ' ')
[[ -n $stages ]] || problem "no stages in shield-hook's usage: $hook_usage"
hook_synopsis=$(sed -n '/^\.Sh SYNOPSIS/,/^\.Sh DESCRIPTION/p' "$MAN/shield-hook.1")
for stage in $stages; do
	grep -Eq "^\.Cm (.* )?$stage( |\$)" <<<"$hook_synopsis" ||
		problem "shield-hook(1): the SYNOPSIS does not name the stage $stage"
done
while read -r opt; do
	has_flag "$(cat "$MAN/nftsetd.8")" "$opt" ||
		problem "nftsetd(8) does not document $opt ('nftsetd --help')"
done < <(sed -nE 's/^  (-[A-Za-z]), (--[a-z0-9-]+).*/\1\n\2/p; s/^  (--[a-z0-9-]+).*/\1/p' <<<"$("$NFTSETD_BIN" --help)")

if [[ $failed != 0 ]]; then
	echo "check-man: FAILED" >&2
	exit 1
fi
echo "check-man: ${#pages[@]} pages lint clean, ${#commands[@]} commands and their options documented"
