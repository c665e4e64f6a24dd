# shellcheck shell=bash
# shellcheck disable=SC2034 # globals (RUN, NFTSETD_PID, ...) are for the tests that source this
# Helpers for the tests of nftsetd, `shield watch` and `shield drift`:
# source it after lib.sh. Everything runs against the real nftsetd binary,
# real dnsmasq and the real kernel; what it starts is cleaned up by lib.sh's
# trap (start_bg, new_netns, init_tmp).

# The nftsetd under test: $NFTSETD_BIN (ctest sets it), else the one built beside shield.
NFTSETD_BIN=${NFTSETD_BIN:-$(cd "$(dirname "$SHIELD_BIN")/.." 2>/dev/null && pwd)/nftsetd/nftsetd}

require_nftsetd() {
	[[ -x $NFTSETD_BIN ]] ||
		skip_or_fail "nftsetd not found at NFTSETD_BIN=$NFTSETD_BIN (build it first)"
}

# A registry of this test's own (RUN, exported as SHIELD_RUNTIME_DIR for shield,
# the hook and nftsetd) and no podman: NAME resolution must find the
# attached namespaces through the registry, never a podman of the machine.
watch_env_init() {
	[[ -n ${TMP:-} ]] || init_tmp
	RUN=$TMP/run
	mkdir -m 0700 "$RUN"
	export SHIELD_RUNTIME_DIR=$RUN
	export SHIELD_PODMAN=$TMP/no-podman
	unset SHIELD_NFTSETD_SOCKET
	SOCK=$RUN/nftsetd.sock
}

# attach_bundle NAME NS [PREPARE-OPTIONS...]: prepare a bundle NAME (profile
# from the caller) and shield namespace NS with it, as `shield attach` does.
attach_bundle() {
	local name=$1 ns=$2
	shift 2
	shield prepare "$name" --upstream-dns "$DNS_UPSTREAM" -q "$@" >/dev/null ||
		die "shield prepare $name failed"
	shield attach --netns "$(netns_path "$ns")" "$name" >/dev/null ||
		die "shield attach $name failed"
}

# The nftsetd socket answers a report request (socat speaks the protocol line).
nftsetd_answers() {
	printf '{"request":"report"}\n' | socat -t2 - "UNIX-CONNECT:$SOCK" 2>/dev/null |
		jq -e '.containers | type == "array"' >/dev/null 2>&1
}

# shellcheck disable=SC2120 # the options are optional
# start_nftsetd [OPTIONS...]: run nftsetd on RUN in the background (its
# stderr in $TMP/nftsetd.log), wait until its socket answers; NFTSETD_PID.
start_nftsetd() {
	start_bg "$NFTSETD_BIN" --runtime-dir "$RUN" "$@" 2>>"$TMP/nftsetd.log"
	NFTSETD_PID=$LAST_PID
	local i
	for ((i = 0; i < 100; i++)); do
		nftsetd_answers && return 0
		kill -0 "$NFTSETD_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$TMP/nftsetd.log" >&2 2>/dev/null || true
	die "nftsetd did not come up (socket $SOCK)"
}

# stop_nftsetd: SIGTERM and wait for it to exit; its exit status in NFTSETD_RC.
stop_nftsetd() {
	NFTSETD_RC=0
	kill -TERM "$NFTSETD_PID" 2>/dev/null || true
	wait "$NFTSETD_PID" || NFTSETD_RC=$?
}

# report [NAME]: nftsetd's report as one JSON document (no one-shot: straight off the socket).
report() {
	local req='{"request":"report"}'
	[[ -z ${1:-} ]] || req=$(jq -cn --arg c "$1" '{request: "report", container: $c}')
	printf '%s\n' "$req" | socat -t5 - "UNIX-CONNECT:$SOCK" 2>/dev/null
}

# wait_containers N: until the report lists N containers (up to ~60 s).
wait_containers() {
	local i
	for ((i = 0; i < 600; i++)); do
		[[ $(report "" | jq '.containers | length' 2>/dev/null) == "$1" ]] && return 0
		sleep 0.1
	done
	say "    nftsetd's report never listed $1 containers: $(report "" | jq -c '[.containers[].name]' 2>/dev/null)"
	return 1
}

# ev_select FILE JQ-CONDITION: the complete event lines of FILE that match,
# compact (a line still being written is skipped).
ev_select() {
	jq -c -R --unbuffered "fromjson? | select(type == \"object\") | select($2)" "$1" 2>/dev/null
}

# ev_count FILE JQ-CONDITION: how many events of FILE match.
ev_count() {
	ev_select "$1" "$2" | wc -l
}

# ev_wait FILE JQ-CONDITION [TRIES]: until an event matches (TRIES x 0.1 s,
# default 150); the first match in EV.
ev_wait() {
	local i tries=${3:-150}
	for ((i = 0; i < tries; i++)); do
		# sed reads to the end: `head` would leave jq a SIGPIPE (pipefail).
		EV=$(ev_select "$1" "$2" | sed -n 1p)
		[[ -n $EV ]] && return 0
		sleep 0.1
	done
	say "    no event matching ($2) in $1 after $((tries / 10)) s; it holds:"
	tail -n 20 "$1" 2>/dev/null | sed 's/^/      /' >&2 || true
	return 1
}

# registry_field NAME FIELD: a field of NAME's registry entry.
registry_field() {
	jq -r ".$2" "$RUN/containers/$1.json"
}

# wait_until TRIES CMD...: run CMD every 0.1 s until it succeeds, at most TRIES times.
wait_until() {
	local i tries=$1
	shift
	for ((i = 0; i < tries; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# stop_all_dnsmasq: stop the dnsmasq of every registry entry at once (many
# namespaces: lib.sh's per-namespace cleanup would wait for each in turn).
stop_all_dnsmasq() {
	local f pids=()
	for f in "$RUN"/containers/*.json; do
		[[ -e $f ]] && pids+=("$(jq -r .dnsmasq_pid "$f")")
	done
	((${#pids[@]} == 0)) || kill "${pids[@]}" 2>/dev/null || true
}

# drift_is RC FILTER ARGS...: `shield drift ARGS` exits RC and (FILTER
# non-empty) its --json output satisfies the jq FILTER, run with the extra
# jq arguments in the array DRIFT_JQ_ARGS (if set). Output kept in
# $TMP/drift.out and $TMP/drift.err.
drift_is() {
	local want=$1 filter=$2 rc=0
	shift 2
	shield drift "$@" >"$TMP/drift.out" 2>"$TMP/drift.err" || rc=$?
	if [[ $rc != "$want" ]]; then
		say "    shield drift $*: exit $rc, expected $want; stderr: $(cat "$TMP/drift.err")"
		return 1
	fi
	[[ -z $filter ]] && return 0
	jq -e ${DRIFT_JQ_ARGS[@]+"${DRIFT_JQ_ARGS[@]}"} "$filter" "$TMP/drift.out" >/dev/null && return 0
	say "    shield drift $*: the report does not satisfy $filter:"
	jq -c . "$TMP/drift.out" 2>/dev/null | head -c 3000 | sed 's/^/      /' >&2 || true
	return 1
}
