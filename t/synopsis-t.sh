#!/bin/sh
# SPDX-License-Identifier: MIT
#
# TAP test: the prototype each man/*.3 page shows in its SYNOPSIS is the
# one xev.h declares.  The page is rendered with mandoc, the declarations
# of its function and of the callback types it shows are taken from the
# SYNOPSIS, and a C11 compiler sees them after #include <xev.h>: a
# redeclaration that differs from the header's is an error ("conflicting
# types"), parameter names aside.  Skipped without mandoc or a compiler.
# POSIX sh only.

top_srcdir=${top_srcdir:-.}
mandir=$top_srcdir/man
MANDOC=${MANDOC:-mandoc}
CC=${CC:-cc}

skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}
command -v "$MANDOC" >/dev/null 2>&1 || skip_all "mandoc not found"
command -v "${CC%% *}" >/dev/null 2>&1 || skip_all "no C compiler ($CC)"

tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/synopsis-t.XXXXXX") || {
	echo "Bail out! cannot create a temporary directory"
	exit 1
}
trap 'rm -rf "$tmpdir"' 0
trap 'exit 1' HUP INT PIPE TERM

ls "$mandir"/*.3 >"$tmpdir/pages" 2>/dev/null || {
	echo "Bail out! no man/*.3 pages in $mandir"
	exit 1
}
echo "1..$(wc -l <"$tmpdir/pages" | tr -d ' \t')"

n=0
while read -r page; do
	n=$((n + 1))
	name=$(basename "$page" .3)
	c=$tmpdir/$name.c
	# The SYNOPSIS as text (overstrike removed), joined into one line and
	# cut at each ";": keep the function's declaration and the typedefs
	# of function types (an enum's typedef cannot be repeated in C).
	"$MANDOC" -Tascii "$page" 2>/dev/null | sed 's/.\x08//g' |
		awk '/^[A-Z]/ { in_syn = ($1 == "SYNOPSIS"); next } in_syn && !/#include/' |
		tr '\n' ' ' | tr ';' '\n' |
		awk -v fn="$name(" 'index($0, fn) || (/typedef/ && /\(\*/ && !/\{/) { print $0 ";" }' \
			>"$tmpdir/decls"
	if ! grep -qF "$name(" "$tmpdir/decls"; then
		echo "not ok $n - man/$name.3: no declaration of $name() found in its SYNOPSIS"
		continue
	fi
	{
		echo "#include <xev.h>"
		cat "$tmpdir/decls"
	} >"$c"
	# shellcheck disable=SC2086 # CC may carry flags
	if $CC -std=c11 -fsyntax-only -I"$top_srcdir/include" "$c" >"$tmpdir/err" 2>&1; then
		echo "ok $n - man/$name.3: the SYNOPSIS prototype matches xev.h"
	else
		echo "not ok $n - man/$name.3: the SYNOPSIS prototype matches xev.h"
		sed 's/^/# /' "$c" "$tmpdir/err"
	fi
done <"$tmpdir/pages"
