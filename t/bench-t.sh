#!/bin/sh
# SPDX-License-Identifier: MIT
#
# TAP test: every benchmark program of ours runs on every backend with a
# small count, succeeds (each checks its own counts and data), and prints
# exactly the one line bench/run parses:
#     <bench> <library> <figure> <unit> ops=<N> user_ns=<U> sys_ns=<S>
# with ops= the operations the figure counts.  The threaded ones also run
# pinned (BENCH_PIN=same and split), and bench/run itself runs once on a
# tiny subset, so that its parsing and tables cannot rot either.  Figures
# are not judged here: speed is measured by `make bench`, never by a timed
# test.  POSIX sh only.

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
trap 'rm -rf "$tmp" "$tmp.err" "$tmp.n" "$tmp.usable" "$tmp.fake" "$tmp.stub"' 0
trap 'exit 1' HUP INT PIPE TERM

# program operand count expected-name unit ops
# ops: "=" the count exactly; "<=" at most the count (udp-pummel-1v1
# counts the datagrams received, and a few may still be in flight).
cases='million-timers - 3000 million-timers s =
ping-pongs - 300 ping-pongs roundtrips/s =
ping-udp1 - 300 ping-udp1 roundtrips/s =
udp-pummel-1v1 - 3000 udp-pummel-1v1 datagrams/s <=
async 1 2000 async1 pings/s =
async 2 2000 async2 pings/s =
async 8 2000 async8 pings/s =
async-pummel 1 2000 async-pummel-1 callbacks/s =
async-pummel 4 2000 async-pummel-4 callbacks/s =
threadpool-work - 5000 threadpool-work tasks/s ='
per_backend=$(echo "$cases" | wc -l)

# The pinned runs, on the first usable backend: program operand count
# expected-name unit placements (threadpool-work: its pool's workers can
# only be placed all together, so split must fail).
pinned='ping-pongs - 300 ping-pongs roundtrips/s same split
async 2 2000 async2 pings/s same split
async-pummel 2 2000 async-pummel-2 callbacks/s same split
threadpool-work - 5000 threadpool-work tasks/s same !split'
npinned=$(echo "$pinned" | wc -w)
npinned=$((npinned - 5 * $(echo "$pinned" | wc -l)))

n=0
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; sed 's/^/# /' "$tmp.err"; fi
}
skip() {
	n=$((n + 1))
	echo "ok $n # SKIP $1"
}

# The one line, and nothing else, in the expected form, with ops= equal
# to (or, for "<=", at most) count.
check_line() { # file name library unit count ops-rule
	[ "$(wc -l <"$1")" -eq 1 ] &&
		grep -Eq "^$2 $3 [0-9]+(\\.[0-9]+)? $(echo "$4" | sed 's|/|\\/|g') ops=[0-9]+ user_ns=[0-9]+\\.[0-9] sys_ns=[0-9]+\\.[0-9]\$" "$1" &&
		ops=$(sed 's/.* ops=\([0-9]*\) .*/\1/' "$1") &&
		if [ "$6" = "<=" ]; then [ "$ops" -le "$5" ]; else [ "$ops" -eq "$5" ]; fi
}

echo "1..$((nbackends * per_backend + 1 + npinned + 5 + 2))"
for backend in $backends; do
	XEV_BACKEND=$backend "$b/xev-million-timers" -n 1 >"$tmp" 2>"$tmp.err"
	if grep -q 'FAILED: xev_loop_init' "$tmp.err"; then
		i=0
		while [ "$i" -lt "$per_backend" ]; do
			skip "$backend: backend not usable here"
			i=$((i + 1))
		done
		continue
	fi
	[ -s "$tmp.usable" ] || echo "$backend" >"$tmp.usable"
	echo "$cases" | {
		while read -r prog operand count name unit rule; do
			[ "$operand" = - ] && operand=
			# shellcheck disable=SC2086 # operand is empty or one word
			XEV_BACKEND=$backend "$b/xev-$prog" -n "$count" $operand >"$tmp" 2>"$tmp.err"
			rc=$?
			[ "$rc" = 0 ] && check_line "$tmp" "$name" "xev-$backend" "$unit" "$count" "$rule"
			r=$?
			ops="ops=$count"
			[ "$rule" = = ] || ops="ops<=$count"
			ok $r "$backend: xev-$prog -n $count $operand: exit $rc, one line '$name xev-$backend <figure> $unit $ops user_ns=.. sys_ns=..'"
		done
		echo "$n" >"$tmp.n"
	}
	n=$(cat "$tmp.n")
done
"$b/xev-threadpool-batch" -n 5000 >"$tmp" 2>"$tmp.err"
rc=$?
[ "$rc" = 0 ] && check_line "$tmp" threadpool-batch xev tasks/s 5000 =
ok $? "xev-threadpool-batch -n 5000: exit $rc, one line 'threadpool-batch xev <figure> tasks/s ops=5000 ...'"

# Pinned: the same line, and the "# pin:" note bench/run looks for; a
# placement that cannot be had must fail instead.  A machine with one
# CPU cannot split, a system other than Linux cannot pin: skipped.
backend=$(cat "$tmp.usable" 2>/dev/null)
echo "$pinned" | {
	while read -r prog operand count name unit placements; do
		[ "$operand" = - ] && operand=
		for pin in $placements; do
			if [ -z "$backend" ]; then
				skip "BENCH_PIN=$pin xev-$prog: no usable backend"
				continue
			fi
			want=ok
			case $pin in !*) pin=${pin#!} want=fail ;; esac
			# shellcheck disable=SC2086 # operand is empty or one word
			BENCH_PIN=$pin XEV_BACKEND=$backend "$b/xev-$prog" -n "$count" $operand >"$tmp" 2>"$tmp.err"
			rc=$?
			if grep -Eq 'FAILED: BENCH_PIN=.*(Linux only|needs two CPUs)' "$tmp.err"; then
				skip "BENCH_PIN=$pin xev-$prog: $(sed -n 's/^# FAILED: //p' "$tmp.err")"
			elif [ "$want" = fail ]; then
				[ "$rc" != 0 ] && [ ! -s "$tmp" ] && grep -q "FAILED: BENCH_PIN=$pin" "$tmp.err"
				ok $? "BENCH_PIN=$pin xev-$prog: fails, no figure (exit $rc)"
			else
				[ "$rc" = 0 ] && check_line "$tmp" "$name" "xev-$backend" "$unit" "$count" = &&
					grep -q "^# pin: $pin" "$tmp.err"
				ok $? "BENCH_PIN=$pin $backend: xev-$prog -n $count $operand: exit $rc, its line and '# pin: $pin'"
			fi
		done
	done
	echo "$n" >"$tmp.n"
}
n=$(cat "$tmp.n")

# bench/run's tables, exactly, on programs that print figures set in
# advance: fake/data names, per program and library, the figure of each
# of three rounds, the user_ns= of each round, the sys_ns=, and whether
# it honours BENCH_PIN.  One fake script stands for every program (its
# name says which), counting its calls to pick the round.  perf and
# strace are replaced by commands that fail, so this is also the path of
# a machine that cannot count system calls: "-" in that column.
fake=$tmp.fake
mkdir "$fake" "$fake/bin" || {
	echo "Bail out! cannot create $fake"
	exit 1
}
for c in perf strace; do
	printf '#!/bin/sh\nexit 1\n' >"$fake/bin/$c"
	chmod +x "$fake/bin/$c"
done
cat >"$fake/data" <<'END'
xev-ping-udp1 xev-epoll ping-udp1 roundtrips/s 100,110,90 10,30,20 7 pin
xev-ping-udp1 xev-poll ping-udp1 roundtrips/s 80,80,80 40,40,40 7 pin
uv-ping-udp1 libuv ping-udp1 roundtrips/s 95,94,96 1,1,1 1 pin
ev-ping-udp1 libev-epoll ping-udp1 roundtrips/s 50,50,50 1,1,1 1 pin
ev-ping-udp1 libev-poll ping-udp1 roundtrips/s 40,40,40 1,1,1 1 pin
limit-uring-ping-udp1 limit-uring ping-udp1 roundtrips/s 200,200,200 1,1,1 1 nopin
limit-epoll-ping-udp1 limit-epoll ping-udp1 roundtrips/s 125,125,125 1,1,1 1 nopin
xev-million-timers xev-epoll million-timers s 10.000,10.000,10.000 1,1,1 1 pin
xev-million-timers xev-poll million-timers s 10.500,10.500,10.500 1,1,1 1 pin
uv-million-timers libuv million-timers s 12.000,12.000,12.000 1,1,1 1 pin
xev-ping-pongs xev-epoll ping-pongs roundtrips/s 300,300,300 1,1,1 1 pin
xev-ping-pongs xev-poll ping-pongs roundtrips/s 250,250,250 1,1,1 1 pin
limit-uring-ping-pongs limit-uring ping-pongs roundtrips/s 600,600,600 1,1,1 1 nopin
END
cat >"$fake/fake" <<'END'
#!/bin/sh
d=${0%/*} p=${0##*/}
case $p in
xev-*) lib=xev-$XEV_BACKEND ;;
uv-*) lib=libuv ;;
ev-*) lib=libev-epoll && [ "${LIBEV_FLAGS:-}" = 2 ] && lib=libev-poll ;;
*) lib=$(echo "$p" | cut -d- -f1,2) ;;
esac
# shellcheck disable=SC2046 # one line of words
set -- $(grep "^$p $lib " "$d/data")
[ $# -eq 8 ] || exit 1
calls=$d/$p.$lib.${BENCH_PIN:-}
i=$(cat "$calls" 2>/dev/null || echo 0)
echo $((i + 1)) >"$calls"
f=$((i % 3 + 1))
[ -n "${BENCH_PIN:-}" ] && [ "$8" = pin ] && echo "# pin: $BENCH_PIN" >&2
echo "$3 $2 $(echo "$5" | cut -d, -f$f) $4 ops=1000 user_ns=$(echo "$6" | cut -d, -f$f) sys_ns=$7"
END
chmod +x "$fake/fake"
cut -d' ' -f1 "$fake/data" | sort -u | while read -r p; do
	ln -s fake "$fake/$p"
done
PATH=$fake/bin:$PATH BENCH_ROUNDS=3 BENCH_BACKENDS='epoll poll' BENCH_PIN_RUNS=same BENCH_SYSCALLS='' \
	BENCH_ONLY='' BENCH_ARGS='' BENCH_EV_POLL='' BENCH_BASELINE='' sh "$top_srcdir/bench/run" "$fake" >"$tmp" 2>"$tmp.err"
rc=$?
sed 's/^/output: /' "$tmp" >>"$tmp.err"
# A table line with these fields (extended regexes), whatever the spaces.
row() { # fields
	grep -Eq "^ *$(echo "$*" | sed 's/ /  */g') *\$" "$tmp"
}
[ "$rc" = 0 ] &&
	row 'workload xev-epoll xev-poll libuv libev-epoll libev-poll limit-uring limit-epoll unit' &&
	row 'ping-udp1 100 80 95 50 40 200 125 roundtrips/s' &&
	row 'million-timers 10\.000 10\.500 12\.000 - - - - s' &&
	row 'ping-pongs@same 300 250 - - - - - roundtrips/s'
ok $? "bench/run on fake programs: the medians table"
[ "$rc" = 0 ] &&
	row 'workload ours spread ours/best-other poll/libev-poll of-limit after/base' &&
	row 'ping-udp1 xev-epoll 20% 1\.05~ 2\.00 0\.50 -' &&
	row 'million-timers xev-epoll 0% 1\.20 - - -' &&
	row 'ping-pongs xev-epoll 0% - - 0\.50 -' &&
	row 'ping-pongs@same xev-epoll 0% - - - -' &&
	grep -q '^~: ' "$tmp"
ok $? "bench/run on fake programs: spread, ratios ('~' within the spread, seconds inverted), of-limit"
[ "$rc" = 0 ] &&
	row 'workload library median \(min-max\) spread user_ns/op sys_ns/op syscalls/op' &&
	row 'ping-udp1 xev-epoll 100 \(90-110\) 20% 20 7 -' &&
	row 'xev-poll 80 \(80-80\) 0% 40 7 -' &&
	row 'libuv 95 \(94-96\) 2% 1 1 -' &&
	row 'limit-uring 200 \(200-200\) 0% 1 1 -' &&
	row 'ping-pongs@same xev-epoll 300 \(300-300\) 0% 1 1 -' &&
	! grep -Eq '^ping-pongs@same limit-uring ' "$tmp" &&
	grep -q 'limit-uring-ping-pongs ignores BENCH_PIN' "$tmp.err"
ok $? "bench/run on fake programs: per-operation table; a program that ignores BENCH_PIN has no pinned figure"
[ "$rc" = 0 ] &&
	grep -q '^# thread workloads also pinned: same; syscalls counted with: off; limits: ' "$tmp" &&
	grep -q '^# neither perf .* nor strace -c counts here: no syscalls/op' "$tmp.err" &&
	! grep -Eq '^# system calls per operation|^[^ ]+ [^ ]+ syscalls/op' "$tmp"
ok $? "bench/run without a working perf or strace: no counting runs, syscalls/op '-'"
# Each round starts one program further on, so that none always runs
# first: the first ping-udp1 figure of rounds 1, 2 and 3.
firsts=$(awk '/^# round /{ r = $3; next } r && /^ping-udp1 / && !seen[r]++ { print $2 }' "$tmp" | tr '\n' ' ')
[ "$rc" = 0 ] && [ "$firsts" = "xev-epoll xev-poll libuv " ]
ok $? "bench/run on fake programs: each round starts one program further on ($firsts)"
rm -rf "$fake"

# bench/run end to end on our programs, on two rows (one, where threads
# cannot be pinned): its figures and tables.  System calls are counted
# with whatever counts here (perf, else strace, else nothing), then with
# perf out of the way (strace, else nothing); the column must hold what
# the header says was used.
real_run() { # PATH-prefix
	rows='ping-udp1' pinned_row=''
	if BENCH_PIN=same XEV_BACKEND=$backend "$b/xev-async" -n 10 >/dev/null 2>&1; then
		rows='ping-udp1|async1@same' pinned_row=async1@same
	fi
	PATH=$1$PATH BENCH_ROUNDS=1 BENCH_ONLY="^($rows)\$" BENCH_ARGS='-n 300' BENCH_BACKENDS=$backend \
		BENCH_EV_POLL=0 BENCH_PIN_RUNS=same BENCH_SYSCALLS='' BENCH_BASELINE='' \
		sh "$top_srcdir/bench/run" "$b" >"$tmp" 2>"$tmp.err"
	rc=$?
	counted=$(sed -n 's/^# thread workloads.*; syscalls counted with: \([a-z]*\).*/\1/p' "$tmp")
	# A thread row's count is the difference of two runs whose threads
	# meet differently: on a loaded machine it can come out below zero,
	# or be missing if one of the counted runs failed; ping-udp1's holds
	# the test to a real count.
	sc='[0-9]+\.[0-9]{2}'
	[ "$counted" = off ] && sc='-'
	# shellcheck disable=SC2015 # the last group runs when any test failed
	[ "$rc" = 0 ] && [ -n "$counted" ] &&
		grep -Eq "^ping-udp1 xev-$backend [0-9]+ roundtrips/s ops=300 user_ns=[0-9.]+ sys_ns=[0-9.]+\$" "$tmp" &&
		grep -Eq '^workload +xev-' "$tmp" &&
		grep -Eq '^workload +ours +spread +ours/best-other +poll/libev-poll +of-limit +after/base$' "$tmp" &&
		grep -Eq "^ping-udp1 +xev-$backend +0% " "$tmp" &&
		grep -Eq '^workload +library +median \(min-max\) +spread +user_ns/op +sys_ns/op +syscalls/op$' "$tmp" &&
		grep -Eq "^ping-udp1 +xev-$backend +[0-9]+ \\([0-9]+-[0-9]+\\) +0% +[0-9]+ +[0-9]+ +$sc\$" "$tmp" &&
		{ [ "$counted" = off ] || ! grep -Eq "^ping-udp1 +xev-$backend .* 0\\.00\$" "$tmp"; } &&
		{ [ -z "$pinned_row" ] || grep -Eq "^$pinned_row +xev-$backend +[0-9]+ \\(.* +(-?$sc|-)\$" "$tmp"; } ||
		{ [ "$rc" != 0 ] || rc=1; sed 's/^/output: /' "$tmp" >>"$tmp.err"; }
}
if [ -z "$backend" ]; then
	skip "bench/run: no usable backend"
	skip "bench/run: no usable backend"
else
	real_run ''
	ok "$rc" "bench/run: ${rows#*|}${pinned_row:+ and ping-udp1} on $backend, syscalls counted with ${counted:-?}"
	stub=$tmp.stub
	mkdir "$stub" && printf '#!/bin/sh\nexit 1\n' >"$stub/perf" && chmod +x "$stub/perf"
	real_run "$stub:"
	rm -rf "$stub"
	[ "$counted" != perf ] || rc=1
	ok "$rc" "bench/run with perf failing: syscalls counted with ${counted:-?} (strace, or off without it)"
fi
