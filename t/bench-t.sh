#!/bin/sh
# SPDX-License-Identifier: MIT
#
# TAP test: every benchmark program of ours runs on every backend with a
# small count, succeeds (each checks its own counts and data), and prints
# exactly the one line bench/run parses: "<bench> <library> <figure> <unit>".
# Figures are not judged here: speed is measured by `make bench`, never by
# a timed test.  POSIX sh only.

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-$(dirname "$0")/..}
b=$top_builddir/bench

# The backends this build has (configure's XEV_BACKENDS, which make check
# exports); run by hand without it, every backend lib/backends.h names, one
# the build lacks being skipped like one the kernel refuses.
backends=${XEV_BACKENDS:-}
[ -n "$backends" ] ||
	backends=$(sed -n 's/^[[:space:]]*X(\([A-Za-z0-9_]*\),.*/\1/p' "$top_srcdir/lib/backends.h")
# shellcheck disable=SC2086 # a word list
set -- $backends
nbackends=$#
if [ "$nbackends" -eq 0 ]; then
	echo "Bail out! no backend list: XEV_BACKENDS unset and nothing in $top_srcdir/lib/backends.h"
	exit 1
fi
tmp=$(mktemp "${TMPDIR:-/tmp}/bench-t.XXXXXX") || {
	echo "Bail out! cannot create a temporary file"
	exit 1
}
trap 'rm -f "$tmp" "$tmp.err"' 0
trap 'exit 1' HUP INT PIPE TERM

# program operand count expected-name unit
cases='million-timers - 3000 million-timers s
ping-pongs - 300 ping-pongs roundtrips/s
ping-udp1 - 300 ping-udp1 roundtrips/s
udp-pummel-1v1 - 3000 udp-pummel-1v1 datagrams/s
async 1 2000 async1 pings/s
async 2 2000 async2 pings/s
async 8 2000 async8 pings/s
async-pummel 1 2000 async-pummel-1 callbacks/s
async-pummel 4 2000 async-pummel-4 callbacks/s
threadpool-work - 5000 threadpool-work tasks/s'
per_backend=$(echo "$cases" | wc -l)

n=0
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; sed 's/^/# /' "$tmp.err"; fi
}

# The one line, and nothing else, in the expected form.
check_line() { # file name library unit
	[ "$(wc -l <"$1")" -eq 1 ] &&
		grep -Eq "^$2 $3 [0-9]+(\\.[0-9]+)? $(echo "$4" | sed 's|/|\\/|g')\$" "$1"
}

echo "1..$((nbackends * per_backend + 1))"
for backend in $backends; do
	XEV_BACKEND=$backend "$b/xev-million-timers" -n 1 >"$tmp" 2>"$tmp.err"
	if grep -q 'FAILED: xev_loop_init' "$tmp.err"; then
		i=0
		while [ "$i" -lt "$per_backend" ]; do
			n=$((n + 1))
			echo "ok $n # SKIP $backend: backend not usable here"
			i=$((i + 1))
		done
		continue
	fi
	echo "$cases" | {
		while read -r prog operand count name unit; do
			[ "$operand" = - ] && operand=
			# shellcheck disable=SC2086 # operand is empty or one word
			XEV_BACKEND=$backend "$b/xev-$prog" -n "$count" $operand >"$tmp" 2>"$tmp.err"
			rc=$?
			[ "$rc" = 0 ] && check_line "$tmp" "$name" "xev-$backend" "$unit"
			ok $? "$backend: xev-$prog -n $count $operand: exit $rc, one line '$name xev-$backend <figure> $unit'"
		done
		echo "$n" >"$tmp.n"
	}
	n=$(cat "$tmp.n")
	rm -f "$tmp.n"
done
"$b/xev-threadpool-batch" -n 5000 >"$tmp" 2>"$tmp.err"
rc=$?
[ "$rc" = 0 ] && check_line "$tmp" threadpool-batch xev tasks/s
ok $? "xev-threadpool-batch -n 5000: exit $rc, one line 'threadpool-batch xev <figure> tasks/s'"
