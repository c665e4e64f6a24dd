#!/usr/bin/env bash
# packaging/rpm/shield.spec parses (`rpmspec -P`, Debian's rpm package) and
# agrees with the tree: its Version is the CMake project version (and the
# Debian changelog's), and its %files lists the binaries, the profiles, the
# hook descriptors and every man page of man/ at Fedora's paths. Fedora's
# cmake macros are not defined here (rpmspec leaves them as they are);
# bash_completions_dir gets Fedora's value so %files expands fully.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../integration/lib.sh"

require_cmd rpmspec
readonly SPEC=$SHIELD_SOURCE_DIR/packaging/rpm/shield.spec
init_tmp

parses() {
	run_capture rpmspec -P --define 'bash_completions_dir /usr/share/bash-completion/completions' \
		--define '_unitdir /usr/lib/systemd/system' --define '_userunitdir /usr/lib/systemd/user' "$SPEC"
	[[ $RC == 0 ]] && return 0
	say "    rpmspec -P failed (exit $RC): $ERR"
	return 1
}
check "rpmspec -P parses packaging/rpm/shield.spec" parses
PARSED=$OUT
[[ -n $PARSED ]] || finish

cmake_version=$(sed -n 's/^project(shield VERSION \([0-9.]*\).*/\1/p' "$SHIELD_SOURCE_DIR/CMakeLists.txt")
deb_version=$(sed -n '1s/^shield (\([^)]*\)).*/\1/p' "$SHIELD_SOURCE_DIR/packaging/debian/changelog")
spec_version=$(awk '$1 == "Version:" { print $2 }' <<<"$PARSED")
same_version() {
	[[ -n $cmake_version && $spec_version == "$cmake_version" && $deb_version == "$cmake_version" ]] && return 0
	say "    versions: CMake '$cmake_version', spec '$spec_version', debian/changelog '$deb_version'"
	return 1
}
check "the spec, debian/changelog and CMake agree on the version" same_version

# The %files section as rpmspec expanded it.
# It ends at the next section; %dir, %license, %doc and %config are entries.
FILES=$(awk '/^%files/ { on = 1; next }
	/^%(changelog|package|description|prep|build|install|check|pre|post|preun|postun|files)/ { on = 0 }
	on' <<<"$PARSED")
in_files() {
	grep -qxF -- "$1" <<<"$FILES" && return 0
	say "    %files lacks $1; it has: $(tr '\n' ' ' <<<"$FILES")"
	return 1
}
for p in /usr/bin/shield /usr/libexec/shield/shield-hook /usr/sbin/nftsetd /usr/share/shield/ \
	/usr/share/containers/oci/hooks.d/shield-createRuntime.json \
	/usr/share/containers/oci/hooks.d/shield-poststop.json \
	/usr/share/bash-completion/completions/shield \
	/usr/lib/systemd/system/nftsetd.service /usr/lib/systemd/user/nftsetd.service; do
	check "%files lists $p" in_files "$p"
done
check "%files installs LICENSE with %license" in_files "%license LICENSE"
for f in "$SHIELD_SOURCE_DIR"/man/*.[1-9]; do
	n=${f##*/}
	check "%files lists the man page $n" in_files "/usr/share/man/man${n##*.}/$n*"
done
builds_with() {
	grep -qxF -- "$1" <<<"$PARSED" && return 0
	say "    the spec lacks the line: $1"
	return 1
}
check "%build configures with the hook descriptors (SHIELD_INSTALL_HOOKS=ON)" builds_with '%cmake -DSHIELD_INSTALL_HOOKS=ON -DSHIELD_UNIT_TESTS_ONLY=ON -DSHIELD_BENCH=OFF '"\\"
check "%build puts the units in Fedora's unit dirs" builds_with '       -DSHIELD_SYSTEMD_SYSTEM_UNIT_DIR=/usr/lib/systemd/system -DSHIELD_SYSTEMD_USER_UNIT_DIR=/usr/lib/systemd/user'
# The scriptlets of a package with a service (Fedora's packaging guidelines).
scriptlet_has() {
	awk -v sec="$1" '$1 ~ /^%(prep|build|install|check|pre|post|preun|postun|files|changelog|description|package)$/ {
		on = ($1 == sec); next } on' <<<"$PARSED" | grep -qxF -- "$2" && return 0
	say "    $1 lacks the line $2"
	return 1
}
check "%post has %systemd_post nftsetd.service" scriptlet_has %post '%systemd_post nftsetd.service'
check "%preun has %systemd_preun nftsetd.service" scriptlet_has %preun '%systemd_preun nftsetd.service'
check "%postun has %systemd_postun_with_restart nftsetd.service" scriptlet_has %postun '%systemd_postun_with_restart nftsetd.service'
check "%check runs the unit tests only" builds_with '%ctest -- -L unit'
finish
