#!/bin/sh
# SPDX-License-Identifier: MIT
#
# TAP test: a binding's view.  t/ctypes-t.py loads the built shared library
# with Python's ctypes and calls it through the C ABI alone (no header, the
# sizes and enum values written in the script, every function declared
# with its types), on each backend of XEV_BACKENDS: a loop, a timer, an
# async notification from another thread, a thread-pool task, a negative
# errno.  It prints the TAP itself.  Skipped without python3, without a
# shared library (--disable-shared), or with a sanitized one.  POSIX sh
# only.

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-$(dirname "$0")/..}
so=$top_builddir/lib/.libs/libxev.so

command -v python3 >/dev/null 2>&1 || {
	echo "1..0 # SKIP python3 not found"
	exit 0
}
[ -f "$so" ] || {
	echo "1..0 # SKIP no shared library built"
	exit 0
}
# A sanitized library needs its runtime loaded first, which python3 is not.
case " ${CFLAGS:-} " in
*-fsanitize=*)
	echo "1..0 # SKIP the library is built with sanitizers (CFLAGS): python3 cannot load it"
	exit 0
	;;
esac
# XEV_BACKENDS (configure's list, which make check exports) passes through
# the environment; unset or empty, the script tries all four.
exec python3 "$top_srcdir/t/ctypes-t.py" "$so"
