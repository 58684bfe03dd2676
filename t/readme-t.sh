#!/bin/sh
# SPDX-License-Identifier: MIT
#
# TAP test: the README's "Using it" program is a complete one.  The first
# ```c block after that heading is compiled as a newcomer would, with
# -Wall -Wextra -Werror, linked against the built library (through
# libtool, so that it works for any build), and run: it must print the
# timer's line and exit 0.  POSIX sh only.

top_srcdir=${top_srcdir:-.}
top_builddir=${top_builddir:-.}
CC=${CC:-cc}

skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}
command -v "${CC%% *}" >/dev/null 2>&1 || skip_all "no C compiler ($CC)"

tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/readme-t.XXXXXX") || {
	echo "Bail out! cannot create a temporary directory"
	exit 1
}
trap 'rm -rf "$tmpdir"' 0
trap 'exit 1' HUP INT PIPE TERM

echo "1..3"
awk '/^## Using it/ { sect = 1; next }
     sect && /^## / { exit }
     sect && /^```c$/ { code = 1; next }
     code && /^```$/ { exit }
     code { print }' "$top_srcdir/README.md" >"$tmpdir/prog.c"

# shellcheck disable=SC2086 # CC, CFLAGS and LDFLAGS are word lists
if [ -s "$tmpdir/prog.c" ] &&
	"$top_builddir/libtool" --tag=CC --mode=link $CC $CFLAGS -Wall -Wextra -Werror \
		-I"$top_srcdir/include" -o "$tmpdir/prog" "$tmpdir/prog.c" \
		"$top_builddir/lib/libxev.la" $LDFLAGS >"$tmpdir/cc.log" 2>&1; then
	echo "ok 1 - the README's example compiles and links with -Wall -Wextra -Werror"
else
	echo "not ok 1 - the README's example compiles and links with -Wall -Wextra -Werror"
	sed 's/^/# /' "$tmpdir/cc.log"
	[ -s "$tmpdir/prog.c" ] || echo "# no \`\`\`c block under \"## Using it\" in README.md"
	echo "ok 2 # SKIP not built"
	echo "ok 3 # SKIP not built"
	exit 0
fi
"$top_builddir/libtool" --mode=execute "$tmpdir/prog" >"$tmpdir/out" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
	echo "ok 2 - it runs and exits 0"
else
	echo "not ok 2 - it runs and exits 0 (exit $rc)"
fi
sed 's/^/# /' "$tmpdir/out"
if grep -q '^tick: [0-9]* ms after the start, on [a-z_]*, result 0$' "$tmpdir/out"; then
	echo "ok 3 - it prints the timer's callback line, result 0"
else
	echo "not ok 3 - it prints the timer's callback line, result 0"
fi
