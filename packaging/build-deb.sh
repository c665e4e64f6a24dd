#!/usr/bin/env bash
# Build shield's Debian package from a clean copy of this tree:
#
#   packaging/build-deb.sh [OUTDIR]     (default: the current directory)
#
# Copies the files git knows of (tracked, and untracked but not ignored:
# `git ls-files -co --exclude-standard`, so no build/ directory comes along)
# to a temporary directory, puts packaging/debian at debian/, runs
# `dpkg-buildpackage -us -uc -b` there and moves the .deb (and the -dbgsym
# .deb), .buildinfo and .changes to OUTDIR. The temporary directory is
# removed, also on failure.
# DEB_BUILD_OPTIONS passes through (e.g. nocheck, parallel=N; parallel
# defaults to the number of CPUs).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-.}
mkdir -p "$out"
out=$(cd "$out" && pwd)

for tool in git tar dpkg-buildpackage dh; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "build-deb: $tool not found (apt-get install git dpkg-dev debhelper)" >&2
		exit 1
	}
done

work=$(mktemp -d "${TMPDIR:-/tmp}/shield-deb.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
tree=$work/shield
mkdir "$tree"

# The files of the tree as git sees them (deleted-but-tracked ones skipped).
while IFS= read -r -d '' f; do
	if [[ -e $src/$f || -L $src/$f ]]; then printf '%s\0' "$f"; fi
done < <(git -C "$src" ls-files -z -co --exclude-standard) |
	tar -C "$src" --null -T - -cf - | tar -C "$tree" -xf -
rm -rf "$tree/debian"
cp -a "$tree/packaging/debian" "$tree/debian"

export DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-parallel=$(nproc)}
(cd "$tree" && dpkg-buildpackage -us -uc -b)

shopt -s nullglob
# shield-dbgsym: the detached debug symbols dh_strip makes (listed in the .changes).
built=("$work"/shield_*.deb "$work"/shield-dbgsym_*.deb "$work"/shield_*.buildinfo "$work"/shield_*.changes)
((${#built[@]} > 0)) || {
	echo "build-deb: dpkg-buildpackage made no package" >&2
	exit 1
}
mv -f -- "${built[@]}" "$out/"
for f in "${built[@]}"; do
	echo "build-deb: $out/${f##*/}"
done
