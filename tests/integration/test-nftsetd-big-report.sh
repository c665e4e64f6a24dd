#!/usr/bin/env bash
# A report larger than the socket buffers reaches a client whole, also one
# that ends its side of the connection once it sent the request (socat
# does, as `shield drift` scripts and lib-watch's `report` use it): one
# namespace shielded with a profile of 4,500 domains, whose report (every
# domain is listed) is several hundred KB. nftsetd used to close the
# connection at the client's EOF and cut the answer at about 220 KB.
# shellcheck disable=SC2016 # jq filters are single-quoted on purpose
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/lib-watch.sh
source "$(dirname "$0")/lib-watch.sh"

N=4500
require_root
require_cmd ip nft dnsmasq jq socat python3
require_shield
require_nftsetd

init_tmp
watch_env_init
init_shield_dirs
mapfile -t domains < <(awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "d%05d.big-report-padding-label-xxxxxxxx.shield.test\n", i }')
write_profile big "${domains[@]}"
new_netns big
attach_bundle big "$NS_NAME" --profiles big
start_nftsetd
check "nftsetd watches the container" wait_containers 1

# The client that half-closes: socat, as `report` runs it.
report "" >"$TMP/half.json" || true
# A client that keeps its side open until the answer ended.
python3 - "$SOCK" >"$TMP/open.json" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"request":"report"}\n')
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
sys.stdout.buffer.write(data)
EOF
size=$(wc -c <"$TMP/open.json")
say "report: $size bytes (socat got $(wc -c <"$TMP/half.json"))"
check "the report is larger than the socket buffers (over 300 KB)" test "$size" -gt 300000
for f in open half; do
	check "the report read by the $f client lists all $N domains" \
		jq -e --argjson n "$N" '.containers[0].domains | length == $n' "$TMP/$f.json"
done
stop_nftsetd
check "nftsetd stops cleanly" test "$NFTSETD_RC" = 0
stop_all_dnsmasq
finish
