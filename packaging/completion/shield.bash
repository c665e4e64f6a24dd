# bash completion for shield(1)                             -*- shell-script -*-
# shellcheck shell=bash
#
# Installed as BASH_COMPLETION_DIR/completions/shield (bash-completion loads
# it on demand); it needs nothing from bash-completion, so `source` it to use
# it without. Nothing here knows shield's commands or options: they come from
# the binary's own --help (the "Commands:" and "Options:" lines), so the
# completion follows the binary it completes for. Container names come from
# `shield status --json`, profile names from `shield profiles --json`, both
# with the global options typed on the line (--config-dir, --state-root);
# when either fails (no podman, no registry) there is simply nothing to offer.

# _shield_words: the line as shield sees it. bash splits words at ':' and '='
# (COMP_WORDBREAKS), so `--profiles base:dev` or `--state-dir=DIR` arrive as
# several words; those not separated by blanks in COMP_LINE are joined again.
# Sets _shield_w (the words), _shield_cword (the index of the word being
# completed), and _shield_strip: how many characters of that joined word lie
# before the part bash will replace, to cut off the front of each reply.
_shield_words() {
	local line=${COMP_LINE-} rest w trimmed i glue
	rest=${line:0:${COMP_POINT:-${#line}}}
	_shield_w=()
	_shield_cword=0
	for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
		w=${COMP_WORDS[i]}
		glue=0
		if [[ -n $line && -n $rest ]]; then
			trimmed=${rest#"${rest%%[![:space:]]*}"}
			[[ ${#trimmed} == "${#rest}" && $i -gt 0 ]] && glue=1
			rest=${trimmed#"$w"}
		fi
		if ((glue)); then
			_shield_w[${#_shield_w[@]} - 1]+=$w
		else
			_shield_w+=("$w")
		fi
		((i == COMP_CWORD)) && _shield_cword=$((${#_shield_w[@]} - 1))
	done
	((${#_shield_w[@]} > _shield_cword)) || _shield_w+=("")
	_shield_strip=$((${#_shield_w[_shield_cword]} - ${#COMP_WORDS[COMP_CWORD]}))
}

# _shield_options HELP: the options of a --help text's "Options:" section into
# _shield_opts (all of them: --long, and -x where there is a short form) and
# _shield_argopts (those taking a value: an upper-case word follows them).
_shield_options() {
	local line in=0 re='^  (-[A-Za-z], )?(--[a-z0-9][a-z0-9-]*)( [A-Z][A-Z0-9_:|.]*)?( |$)'
	_shield_opts=()
	_shield_argopts=()
	while IFS= read -r line; do
		[[ $line == Options:* ]] && in=1 && continue
		if ((in == 0)) || ! [[ $line =~ $re ]]; then
			continue
		fi
		_shield_opts+=("${BASH_REMATCH[2]}")
		[[ -n ${BASH_REMATCH[1]} ]] && _shield_opts+=("${BASH_REMATCH[1]%, }")
		if [[ -n ${BASH_REMATCH[3]} ]]; then
			_shield_argopts+=("${BASH_REMATCH[2]}")
			[[ -n ${BASH_REMATCH[1]} ]] && _shield_argopts+=("${BASH_REMATCH[1]%, }")
		fi
	done <<<"$1"
}

# _shield_json_names FIELD: the string values of "FIELD": keys in JSON on stdin
# (jansson's indented output: one key per line). A container without a name
# ("name": null) is offered by its id.
_shield_json_names() {
	local line want_id=0 re='^ *"(name|id)": ("([^"\\]*)"|null)'
	while IFS= read -r line; do
		[[ $line =~ $re ]] || continue
		if [[ ${BASH_REMATCH[1]} == name ]]; then
			want_id=0
			if [[ ${BASH_REMATCH[2]} == null ]]; then
				want_id=1
			else
				printf '%s\n' "${BASH_REMATCH[3]}"
			fi
		elif ((want_id)) && [[ -n ${BASH_REMATCH[3]} ]]; then
			printf '%s\n' "${BASH_REMATCH[3]}"
			want_id=0
		fi
	done
}

# _shield_run ARGS...: the shield binary with the global options of the line,
# quiet, not waiting on a terminal, and given up after 5 s (a podman that hangs).
_shield_run() {
	timeout 5 "$_shield_bin" "${_shield_globals[@]}" "$@" </dev/null 2>/dev/null
}

_shield_has() {
	local x want=$1
	shift
	for x; do [[ $x == "$want" ]] && return 0; done
	return 1
}

# _shield_values OPTION PARTIAL: the candidates for OPTION's value.
_shield_values() {
	local opt=$1 cur=$2 head names
	case $opt in
	--state-dir | --config-dir | --state-root | --dir | --hooks-dir)
		_shield_files=1
		compgen -d -- "$cur"
		;;
	--netns | --hook)
		_shield_files=1
		compgen -f -- "$cur"
		;;
	--profiles)
		# A ':'-separated list: complete its last name, keep the ones before.
		head=""
		[[ $cur == *:* ]] && head=${cur%:*}:
		names=$(_shield_run profiles --json | _shield_json_names)
		compgen -P "$head" -W "$names" -- "${cur##*:}"
		;;
	--show)
		compgen -W "$(_shield_run profiles --json | _shield_json_names)" -- "$cur"
		;;
	--mode) compgen -W "up down down-all block" -- "$cur" ;;
	--dns-policy) compgen -W "strict open" -- "$cur" ;;
	--network) compgen -W "slirp4netns pasta bridge ns:" -- "$cur" ;;
	-n | --lines) compgen -W "all" -- "$cur" ;;
	esac
}

_shield() {
	local cur prev w i cmd="" cmd_i=0 help usage positional=0 state_dir=0 opt
	local -a _shield_w _shield_opts _shield_argopts _shield_globals=()
	local _shield_cword _shield_strip _shield_bin _shield_files=0

	COMPREPLY=()
	_shield_bin=${COMP_WORDS[0]}
	[[ $_shield_bin == \~/* ]] && _shield_bin=$HOME/${_shield_bin:2}
	if [[ $_shield_bin == */* ]]; then
		[[ -x $_shield_bin ]] || return 0
	else
		_shield_bin=$(type -P "$_shield_bin") || return 0
	fi
	_shield_words
	cur=${_shield_w[_shield_cword]}
	prev=""
	((_shield_cword > 0)) && prev=${_shield_w[_shield_cword - 1]}

	# The global options, up to the command.
	help=$("$_shield_bin" --help 2>/dev/null) || return 0
	_shield_options "$help"
	for ((i = 1; i < _shield_cword; i++)); do
		w=${_shield_w[i]}
		if _shield_has "$w" "${_shield_argopts[@]}"; then
			opt=${_shield_w[i + 1]-}
			_shield_globals+=("$w" "${opt/#\~\//$HOME/}")
			i=$((i + 1))
		elif [[ $w == -* ]]; then
			[[ $w == --*=* ]] && _shield_globals+=("${w/=\~\//=$HOME/}")
		else
			cmd=$w
			cmd_i=$i
			break
		fi
	done

	if [[ -z $cmd ]]; then
		if _shield_has "$prev" "${_shield_argopts[@]}"; then
			mapfile -t COMPREPLY < <(_shield_values "$prev" "$cur")
		elif [[ $cur == --*=* ]] && _shield_has "${cur%%=*}" "${_shield_argopts[@]}"; then
			mapfile -t COMPREPLY < <(_shield_values "${cur%%=*}" "${cur#*=}" | sed "s|^|${cur%%=*}=|")
		elif [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "${_shield_opts[*]}" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "$(sed -n '/^Commands:/,/^$/{s/^  \([a-z][a-z-]*\) .*/\1/p}' <<<"$help")" -- "$cur")
		fi
	else
		# After `run NAME ... --` the words are podman's.
		if [[ $cmd == run ]]; then
			for ((i = cmd_i + 1; i < _shield_cword; i++)); do
				if [[ ${_shield_w[i]} == -- ]]; then
					compopt -o default 2>/dev/null || true
					return 0
				fi
			done
		fi
		help=$(_shield_run "$cmd" --help) || return 0
		usage=$(head -n 1 <<<"$help")
		_shield_options "$help"
		# What is on the line already: positional words, and whether --state-dir names the bundle.
		for ((i = cmd_i + 1; i < _shield_cword; i++)); do
			w=${_shield_w[i]}
			if _shield_has "$w" "${_shield_argopts[@]}"; then
				[[ $w == --state-dir ]] && state_dir=1
				i=$((i + 1))
			elif [[ $w == --state-dir=* ]]; then
				state_dir=1
			elif [[ $w != -* ]]; then
				positional=$((positional + 1))
			fi
		done
		if _shield_has "$prev" "${_shield_argopts[@]}"; then
			mapfile -t COMPREPLY < <(_shield_values "$prev" "$cur")
		elif [[ $cur == --*=* ]] && _shield_has "${cur%%=*}" "${_shield_argopts[@]}"; then
			opt=${cur%%=*}
			mapfile -t COMPREPLY < <(_shield_values "$opt" "${cur#*=}" | sed "s|^|$opt=|")
			_shield_files=0
		elif [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "${_shield_opts[*]}" -- "$cur")
		elif ((positional == 0 && !state_dir)) && [[ $cmd != prepare && $cmd != run ]] &&
			[[ " $(sed -E 's/--[a-z-]+ [A-Z]+//g; s/[^A-Z]+/ /g' <<<"$usage") " == *" NAME "* ]]; then
			# The container: a shielded one (prepare and run name a new one).
			mapfile -t COMPREPLY < <(compgen -W "$(_shield_run status --json | _shield_json_names)" -- "$cur")
		fi
	fi

	# bash replaces only its own last word: cut what lies before it.
	if ((_shield_strip > 0)); then
		for i in "${!COMPREPLY[@]}"; do
			COMPREPLY[i]=${COMPREPLY[i]:_shield_strip}
		done
	elif ((_shield_files)); then
		compopt -o filenames 2>/dev/null || true
	fi
	return 0
}

complete -F _shield shield
