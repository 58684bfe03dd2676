#!/bin/sh
# SPDX-License-Identifier: MIT
#
# TAP test: what a binding generator makes of xev.h.  bindgen (Debian's
# package of that name) cannot evaluate the casts of the XEV_SIZEOF_*
# macros; with XEV_SIZES_AS_OBJECTS defined the header declares them as
# size_t constants instead, as the original header does, and bindgen
# gives each its value with type size_t (usize).  Both ways the whole
# header must go through bindgen.  Skipped without bindgen.  POSIX sh.

top_srcdir=${top_srcdir:-.}
hdr=$top_srcdir/include/xev.h

command -v bindgen >/dev/null 2>&1 || {
	echo "1..0 # SKIP bindgen not found"
	exit 0
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bindgen-t.XXXXXX") || {
	echo "Bail out! cannot create a temporary directory"
	exit 1
}
trap 'rm -rf "$tmp"' 0
trap 'exit 1' HUP INT PIPE TERM

echo "1..3"
# Its output, with or without rustfmt on the machine, compared without
# white space.
squeeze() { tr -d ' \t\n' <"$1" >"$1.flat"; }
if bindgen "$hdr" -o "$tmp/plain.rs" >"$tmp/plain.log" 2>&1 && squeeze "$tmp/plain.rs" &&
	grep -q 'pubfnxev_loop_init(' "$tmp/plain.rs.flat"; then
	echo "ok 1 - bindgen translates xev.h (xev_loop_init among its functions)"
else
	echo "not ok 1 - bindgen translates xev.h (xev_loop_init among its functions)"
	sed 's/^/# /' "$tmp/plain.log" | head -n 20
fi
if bindgen "$hdr" -o "$tmp/objects.rs" -- -DXEV_SIZES_AS_OBJECTS >"$tmp/objects.log" 2>&1 &&
	squeeze "$tmp/objects.rs"; then
	: >"$tmp/want"
	for kv in LOOP=512 COMPLETION=320 WATCHER=256 THREADPOOL=64 THREADPOOL_CONFIG=64 \
		THREADPOOL_BATCH=24 THREADPOOL_TASK=24 LOOP_OPTIONS=64; do
		n=${kv%=*} v=${kv#*=}
		grep -Eq "pubconstXEV_SIZEOF_$n:(usize|size_t)=$v;" "$tmp/objects.rs.flat" || echo "XEV_SIZEOF_$n" >>"$tmp/want"
	done
	if [ ! -s "$tmp/want" ]; then
		echo "ok 2 - with XEV_SIZES_AS_OBJECTS every XEV_SIZEOF_* is a size_t constant with the ABI's value"
	else
		echo "not ok 2 - with XEV_SIZES_AS_OBJECTS every XEV_SIZEOF_* is a size_t constant with the ABI's value"
		sed 's/^/# missing or wrong: /' "$tmp/want"
		grep -o 'pubconstXEV_SIZEOF_[A-Z_]*:[a-z_0-9]*=[0-9]*' "$tmp/objects.rs.flat" | sed 's/^/# /'
	fi
else
	echo "not ok 2 - with XEV_SIZES_AS_OBJECTS every XEV_SIZEOF_* is a size_t constant with the ABI's value"
	sed 's/^/# /' "$tmp/objects.log" | head -n 20
fi
# The opaque types are what the original's bindings have: 512 bytes for
# the loop, and so on.
if grep -q 'size_of::<xev_loop>(),512usize,' "$tmp/plain.rs.flat" &&
	grep -q 'size_of::<xev_completion>(),320usize,' "$tmp/plain.rs.flat"; then
	echo "ok 3 - bindgen's layout tests see xev_loop as 512 and xev_completion as 320 bytes"
else
	echo "not ok 3 - bindgen's layout tests see xev_loop as 512 and xev_completion as 320 bytes"
	grep -Eo 'size_of::<xev_(loop|completion)>\(\),[0-9a-z]*' "$tmp/plain.rs.flat" | sed 's/^/# /'
fi
