#!/bin/sh
# SPDX-License-Identifier: MIT
#
# TAP test: every function the built library exports has its own manual
# page, no page documents a function that is gone, every page's SYNOPSIS
# shows its function, and the pages are clean under mandoc's lint.
#
# Automake runs it from the build directory with top_builddir, top_srcdir
# and MANDOC in the environment; under "make distcheck" the sources (and
# so the pages) are in a different, read-only tree from the library.
# POSIX sh only: it must work with dash.

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-$top_builddir}
NM=${NM:-nm}
mandir=$top_srcdir/man
tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/man-t.XXXXXX") || {
	echo "Bail out! cannot create a temporary directory"
	exit 1
}
tmp=$tmpdir/t
trap 'rm -rf "$tmpdir"' 0
trap 'exit 1' HUP INT PIPE TERM

# The symbols come from the shared library when there is one, because
# that is what a program links against; with --disable-shared only the
# archive exists, and there the hidden xev__ internals are listed as well,
# hence the stricter pattern (it is the one the link uses for exports).
so=$top_builddir/lib/.libs/libxev.so
ar=$top_builddir/lib/.libs/libxev.a
if [ -f "$so" ]; then
	"$NM" -D --defined-only "$so" >"$tmp.nm" 2>"$tmp.err" || {
		echo "Bail out! $NM -D failed on $so: $(cat "$tmp.err")"
		exit 1
	}
	pattern='^xev_'
elif [ -f "$ar" ]; then
	"$NM" --defined-only "$ar" >"$tmp.nm" 2>"$tmp.err" || {
		echo "Bail out! $NM failed on $ar: $(cat "$tmp.err")"
		exit 1
	}
	pattern='^xev_[a-z]'
else
	echo "Bail out! neither $so nor $ar exists: build the library first"
	exit 1
fi
# Lines are "address type name"; the archive adds member names and blank
# lines, which have fewer fields.  Keep the functions (T).
# A fault-injection build (testing only) also exports the tests' controls.
fault='^$'
if grep -q '^#define XEV_FAULT_INJECTION' "$top_builddir/config.h" 2>/dev/null; then
	fault='^xev__fault_'
fi
awk 'NF >= 2 && $(NF - 1) == "T" { print $NF }' "$tmp.nm" | grep "$pattern" | grep -v "$fault" |
	LC_ALL=C sort -u >"$tmp.syms"

ls "$mandir" >"$tmp.ls" 2>/dev/null || {
	echo "Bail out! no man directory at $mandir"
	exit 1
}
grep '\.3$' "$tmp.ls" | sed 's/\.3$//' | LC_ALL=C sort -u >"$tmp.pages"

# Some wc pad the count with blanks; arithmetic wants a bare number.
nsyms=$(wc -l <"$tmp.syms" | tr -d ' \t')
npages=$(wc -l <"$tmp.pages" | tr -d ' \t')
if [ "$nsyms" -eq 0 ]; then
	echo "Bail out! no exported xev_ function found in the library"
	exit 1
fi
echo "1..$((nsyms + 1 + npages + 1))"

n=0
result() { # result <0 if passed> <description>
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
	fi
}

# One page per exported function.
while read -r sym; do
	test -f "$mandir/$sym.3"
	result $? "$sym has man/$sym.3"
done <"$tmp.syms"

# No page for a function the library no longer exports.
LC_ALL=C comm -13 "$tmp.syms" "$tmp.pages" >"$tmp.stale"
if [ -s "$tmp.stale" ]; then
	sed 's/^/# not exported: man\//; s/$/.3/' "$tmp.stale"
fi
test ! -s "$tmp.stale"
result $? "every man/*.3 page names an exported function"

# The SYNOPSIS (up to the next section) shows the call itself: "name(".
while read -r page; do
	awk '/^\.SH/ { in_syn = ($2 == "SYNOPSIS") } in_syn' \
		"$mandir/$page.3" | grep -F "$page(" >/dev/null
	result $? "SYNOPSIS of man/$page.3 shows $page()"
done <"$tmp.pages"

# Lint: not a single warning.  MANDOC may be a path or a command name.
if [ -z "${MANDOC:-}" ] || ! command -v "$MANDOC" >/dev/null 2>&1; then
	n=$((n + 1))
	echo "ok $n # SKIP mandoc not found"
else
	"$MANDOC" -Tlint -Wwarning "$mandir"/*.3 "$mandir"/*.7 >"$tmp.lint" 2>&1
	rc=$?
	if [ -s "$tmp.lint" ]; then
		sed 's/^/# /' "$tmp.lint"
		[ "$rc" -ne 0 ] || rc=1
	fi
	result "$rc" "mandoc -Tlint -Wwarning man/*.[37] is silent"
fi

# A failure is reported by its "not ok" line; a non-zero exit status would
# make the TAP driver add an ERROR on top of it.
exit 0
