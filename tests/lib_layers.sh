#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Fail if a libsheepdog object file references a symbol defined in a higher
# layer than its own (layer order: lib/layers.txt), or if an object of the
# library is missing from that list.  Usage: lib_layers.sh [LAYERS OBJDIR]
set -u
top_src=${SD_TOP_SRCDIR:-$(dirname "$0")/..}
top_build=${SD_TOP_BUILDDIR:-.}
layers=${1:-$top_src/lib/layers.txt}
objdir=${2:-$top_build/lib/.libs}
prefix=libsheepdog_internal_la-

command -v nm >/dev/null || { echo "nm not found"; exit 77; }
[ -r "$layers" ] || { echo "no layer list $layers"; exit 99; }
ls "$objdir/$prefix"*.o >/dev/null 2>&1 || { echo "no objects in $objdir"; exit 99; }

tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

# file -> layer number
grep -v '^[[:space:]]*#' "$layers" | grep -v '^[[:space:]]*$' |
	awk '{ for (i = 1; i <= NF; i++) print $i, NR }' > "$tmp/layer"

fail=0
: > "$tmp/defs"
for o in "$objdir/$prefix"*.o; do
	f=$(basename "$o" .o); f=${f#"$prefix"}
	if ! grep -q "^$f " "$tmp/layer"; then
		echo "FAIL: lib/$f.c is not in $layers"
		fail=1
		continue
	fi
	nm --defined-only "$o" | awk -v f="$f" '$2 ~ /^[TDBRVW]$/ { print $3, f }' >> "$tmp/defs"
done

for o in "$objdir/$prefix"*.o; do
	f=$(basename "$o" .o); f=${f#"$prefix"}
	mine=$(awk -v f="$f" '$1 == f { print $2 }' "$tmp/layer")
	[ -n "$mine" ] || continue
	for sym in $(nm --undefined-only "$o" | awk '{ print $2 }'); do
		owner=$(awk -v s="$sym" '$1 == s { print $2; exit }' "$tmp/defs")
		[ -n "$owner" ] || continue
		theirs=$(awk -v f="$owner" '$1 == f { print $2 }' "$tmp/layer")
		if [ "$theirs" -gt "$mine" ]; then
			echo "FAIL: lib/$f.c (layer $mine) calls up: $sym in lib/$owner.c (layer $theirs)"
			fail=1
		fi
	done
done
# Types follow the same order: below the data path only sdl_engine.h (and
# what it includes) is visible, so struct sd_vdi and acbs cannot be used.
for f in alloc opts transport engine; do
	if grep -n '#include "sdl_\(priv\|io\)\.h"' "$top_src/lib/$f.c"; then
		echo "FAIL: lib/$f.c includes a header of the layers above the engine"
		fail=1
	fi
done

[ $fail = 0 ] && echo "PASS: every reference in libsheepdog goes down or sideways ($layers)"
exit $fail
