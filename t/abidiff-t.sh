#!/bin/sh
# SPDX-License-Identifier: MIT
#
# TAP test: the ABI of the built shared library against the committed
# baseline abi/libxev.abi (abidw from abigail-tools, public types only).
# An incompatible change fails the first check; any change at all fails
# the second, so that an intended one comes with a new baseline (make
# abi-baseline) and a -version-info bump (HACKING) in the same commit.
# Skipped without abidiff, without a shared library, or when it was built
# without debug information (no types to compare).  POSIX sh only.

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-$top_builddir}
so=$top_builddir/lib/.libs/libxev.so
base=$top_srcdir/abi/libxev.abi

skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}
command -v abidiff >/dev/null 2>&1 || skip_all "abidiff not installed (Debian: abigail-tools)"
[ -f "$so" ] || skip_all "no shared library (--disable-shared)"
if grep -q '^#define XEV_FAULT_INJECTION' "$top_builddir/config.h" 2>/dev/null; then
	skip_all "a fault-injection build exports the tests' controls (xev__fault_*)"
fi
if command -v readelf >/dev/null 2>&1 && ! readelf -S "$so" | grep -q '\.debug_info'; then
	skip_all "libxev.so has no debug information (build with -g)"
fi

out=$(mktemp "${TMPDIR:-/tmp}/abidiff-t.XXXXXX") || {
	echo "Bail out! cannot create a temporary file"
	exit 1
}
trap 'rm -f "$out"' 0

echo "1..2"
abidiff --headers-dir2 "$top_srcdir/include" "$base" "$so" >"$out" 2>&1
rc=$?
# abidiff's status is a bit set: 1 error, 2 usage, 4 change, 8 incompatible.
if [ $((rc & 11)) -eq 0 ]; then
	echo "ok 1 - no incompatible ABI change against abi/libxev.abi"
else
	echo "not ok 1 - no incompatible ABI change against abi/libxev.abi (abidiff status $rc)"
	sed 's/^/# /' "$out"
fi
if [ "$rc" -eq 0 ]; then
	echo "ok 2 - the ABI is exactly the baseline's"
else
	echo "not ok 2 - the ABI is exactly the baseline's (abidiff status $rc): if intended, run"
	echo "#   make abi-baseline, and bump -version-info as HACKING says"
	[ $((rc & 11)) -eq 0 ] && sed 's/^/# /' "$out"
fi
