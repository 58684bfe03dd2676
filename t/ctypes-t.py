# SPDX-License-Identifier: MIT
#
# TAP test: the shared library as a binding sees it.  Python's ctypes loads
# it and calls it through the C ABI alone: no header, no macros, every
# function declared here with its argument and return types, the opaque
# objects allocated from sizes written below.  Run by t/ctypes-t.sh as
#
#   python3 t/ctypes-t.py path/to/libxev.so
#
# with XEV_BACKENDS (space-separated names) naming the backends to try; all
# four when it is unset or empty.  A backend xev_backend_available() refuses
# has its checks skipped.  Failures are "not ok" lines: the exit status is 0
# once the plan is printed.

import ctypes
import errno
import os
import signal
import sys
import threading
import time

from ctypes import CFUNCTYPE, c_int, c_uint32, c_uint64, c_void_p

# The opaque sizes of the original libxev's C header (part of the ABI we
# share with it, SPEC.md section 2); LOOP_OPTIONS is ours.  A binding
# hard-codes them exactly like this.
XEV_SIZEOF_LOOP = 512
XEV_SIZEOF_COMPLETION = 320
XEV_SIZEOF_WATCHER = 256
XEV_SIZEOF_THREADPOOL = 64
XEV_SIZEOF_THREADPOOL_CONFIG = 64
XEV_SIZEOF_THREADPOOL_BATCH = 24
XEV_SIZEOF_THREADPOOL_TASK = 24
XEV_SIZEOF_LOOP_OPTIONS = 64  # ours, not the original's

# Enum values (xev_backend, xev_run_mode_t, xev_cb_action).
BACKENDS = {"io_uring": 1, "epoll": 2, "kqueue": 3, "poll": 4}
DEFAULT_BACKENDS = ["io_uring", "epoll", "kqueue", "poll"]
XEV_RUN_UNTIL_DONE = 2
XEV_DISARM = 0

# Callback types: xev_timer_cb / xev_async_cb and xev_task_cb.
XEV_CB = CFUNCTYPE(c_int, c_void_p, c_void_p, c_int, c_void_p)
XEV_TASK_CB = CFUNCTYPE(None, c_void_p)

# The objects want max_align_t (32 bytes on x86-64 with gcc); a ctypes
# buffer promises less, so each is cut out of a larger one at 64 bytes.
ALIGN = 64

PER_BACKEND = 5


class Opaque:
    """size bytes at an ALIGN-byte boundary, zero-filled, alive with self."""

    def __init__(self, size):
        self._raw = (ctypes.c_char * (size + ALIGN))()
        base = ctypes.addressof(self._raw)
        self.addr = base + (-base % ALIGN)
        self.size = size


def declare(lib):
    """argtypes and restype of every function used: the C ABI, spelled out."""
    protos = {
        "xev_loop_init": (c_int, [c_void_p]),
        "xev_loop_init_with_options": (c_int, [c_void_p, c_void_p]),
        "xev_loop_deinit": (None, [c_void_p]),
        "xev_loop_run": (c_int, [c_void_p, c_int]),
        "xev_loop_update_now": (None, [c_void_p]),
        "xev_loop_backend": (c_int, [c_void_p]),
        "xev_loop_options_init": (None, [c_void_p]),
        "xev_loop_options_set_backend": (None, [c_void_p, c_int]),
        "xev_backend_available": (c_int, [c_int]),
        "xev_completion_zero": (None, [c_void_p]),
        "xev_timer_init": (c_int, [c_void_p]),
        "xev_timer_deinit": (None, [c_void_p]),
        "xev_timer_run": (None, [c_void_p, c_void_p, c_void_p, c_uint64, c_void_p, XEV_CB]),
        "xev_async_init": (c_int, [c_void_p]),
        "xev_async_deinit": (None, [c_void_p]),
        "xev_async_notify": (c_int, [c_void_p]),
        "xev_async_wait": (None, [c_void_p, c_void_p, c_void_p, c_void_p, XEV_CB]),
        "xev_threadpool_config_init": (None, [c_void_p]),
        "xev_threadpool_config_set_max_threads": (None, [c_void_p, c_uint32]),
        "xev_threadpool_init": (c_int, [c_void_p, c_void_p]),
        "xev_threadpool_deinit": (None, [c_void_p]),
        "xev_threadpool_shutdown": (None, [c_void_p]),
        "xev_threadpool_schedule": (None, [c_void_p, c_void_p]),
        "xev_threadpool_task_init": (None, [c_void_p, XEV_TASK_CB]),
        "xev_threadpool_batch_init": (None, [c_void_p]),
        "xev_threadpool_batch_push_task": (None, [c_void_p, c_void_p]),
    }
    for name, (restype, argtypes) in protos.items():
        f = getattr(lib, name)
        f.restype = restype
        f.argtypes = argtypes


class Tap:
    def __init__(self, planned):
        self.n = 0
        self.planned = planned
        print("1..%d" % planned, flush=True)

    def ok(self, passed, name, diag=None):
        self.n += 1
        print("%s %d - %s" % ("ok" if passed else "not ok", self.n, name), flush=True)
        if not passed and diag:
            for line in str(diag).splitlines():
                print("# " + line, flush=True)

    def skip(self, why):
        self.n += 1
        print("ok %d # SKIP %s" % (self.n, why), flush=True)


def run_until_done(lib, loop):
    # A lost wake-up would block here for ever: SIGALRM's default action
    # ends the process instead (the driver then reports the test as failed).
    signal.alarm(60)
    try:
        return lib.xev_loop_run(loop.addr, XEV_RUN_UNTIL_DONE)
    finally:
        signal.alarm(0)


def check_loop(lib, bid, loop):
    opts = Opaque(XEV_SIZEOF_LOOP_OPTIONS)
    lib.xev_loop_options_init(opts.addr)
    lib.xev_loop_options_set_backend(opts.addr, bid)
    rc = lib.xev_loop_init_with_options(loop.addr, opts.addr)
    if rc != 0:
        return False, "xev_loop_init_with_options: %d (%s)" % (rc, os.strerror(-rc))
    got = lib.xev_loop_backend(loop.addr)
    return got == bid, "xev_loop_backend: %d, expected %d" % (got, bid)


def check_timer(lib, loop, keep):
    w = Opaque(XEV_SIZEOF_WATCHER)
    c = Opaque(XEV_SIZEOF_COMPLETION)
    ud = 0x5EED
    calls = []

    def on_timer(l, comp, result, userdata):
        calls.append((l, comp, result, userdata, time.monotonic()))
        return XEV_DISARM

    cb = XEV_CB(on_timer)
    keep.append(cb)
    rc = lib.xev_timer_init(w.addr)
    if rc != 0:
        return False, "xev_timer_init: %d" % rc
    lib.xev_completion_zero(c.addr)
    # The deadline counts from the loop's cached time: refresh it after t0
    # so that the elapsed time measured here cannot be short.
    t0 = time.monotonic()
    lib.xev_loop_update_now(loop.addr)
    lib.xev_timer_run(w.addr, loop.addr, c.addr, 10, ud, cb)
    rc = run_until_done(lib, loop)
    lib.xev_timer_deinit(w.addr)
    if rc != 0:
        return False, "xev_loop_run: %d" % rc
    if len(calls) != 1:
        return False, "callback ran %d times" % len(calls)
    l, comp, result, userdata, t1 = calls[0]
    if (l, comp, result, userdata) != (loop.addr, c.addr, 0, ud):
        return False, "callback got (%r, %r, %r, %r), expected (%r, %r, 0, %r)" % (
            l, comp, result, userdata, loop.addr, c.addr, ud)
    # Some slack for the float arithmetic; the loop's clock is
    # CLOCK_MONOTONIC, as is time.monotonic on Linux.
    elapsed = t1 - t0
    return elapsed >= 0.009, "fired after %.1f ms" % (elapsed * 1000)


def check_async(lib, loop, keep):
    w = Opaque(XEV_SIZEOF_WATCHER)
    c = Opaque(XEV_SIZEOF_COMPLETION)
    ud = 0xA5
    calls = []
    notified = []

    def on_async(l, comp, result, userdata):
        calls.append((l, comp, result, userdata))
        return XEV_DISARM

    cb = XEV_CB(on_async)
    keep.append(cb)
    rc = lib.xev_async_init(w.addr)
    if rc != 0:
        return False, "xev_async_init: %d" % rc
    lib.xev_completion_zero(c.addr)
    lib.xev_async_wait(w.addr, loop.addr, c.addr, ud, cb)

    def notifier():
        time.sleep(0.02)
        notified.append(lib.xev_async_notify(w.addr))

    th = threading.Thread(target=notifier)
    th.start()
    rc = run_until_done(lib, loop)
    th.join()
    lib.xev_async_deinit(w.addr)
    if rc != 0:
        return False, "xev_loop_run: %d" % rc
    if notified != [0]:
        return False, "xev_async_notify: %r" % notified
    if len(calls) != 1:
        return False, "callback ran %d times" % len(calls)
    if calls[0] != (loop.addr, c.addr, 0, ud):
        return False, "callback got %r" % (calls[0],)
    return True, None


def check_threadpool(lib, keep):
    cfg = Opaque(XEV_SIZEOF_THREADPOOL_CONFIG)
    pool = Opaque(XEV_SIZEOF_THREADPOOL)
    task = Opaque(XEV_SIZEOF_THREADPOOL_TASK)
    batch = Opaque(XEV_SIZEOF_THREADPOOL_BATCH)
    ran = []
    done = threading.Event()

    def on_task(t):
        ran.append((t, threading.get_ident()))
        done.set()

    cb = XEV_TASK_CB(on_task)
    keep.append(cb)
    lib.xev_threadpool_config_init(cfg.addr)
    lib.xev_threadpool_config_set_max_threads(cfg.addr, 2)
    rc = lib.xev_threadpool_init(pool.addr, cfg.addr)
    if rc != 0:
        return False, "xev_threadpool_init: %d" % rc
    lib.xev_threadpool_task_init(task.addr, cb)
    lib.xev_threadpool_batch_init(batch.addr)
    lib.xev_threadpool_batch_push_task(batch.addr, task.addr)
    lib.xev_threadpool_schedule(pool.addr, batch.addr)
    fired = done.wait(5)
    lib.xev_threadpool_shutdown(pool.addr)
    lib.xev_threadpool_deinit(pool.addr)
    if not fired:
        return False, "the task did not run within 5 s"
    if len(ran) != 1:
        return False, "the task ran %d times" % len(ran)
    t, ident = ran[0]
    if t != task.addr:
        return False, "callback got task %r, expected %r" % (t, task.addr)
    main = threading.main_thread().ident
    return ident != main, "the task ran on thread %d, the main one is %d" % (ident, main)


def check_errno(lib):
    loop = Opaque(XEV_SIZEOF_LOOP)
    opts = Opaque(XEV_SIZEOF_LOOP_OPTIONS)
    lib.xev_loop_options_init(opts.addr)
    lib.xev_loop_options_set_backend(opts.addr, 77)
    rc = lib.xev_loop_init_with_options(loop.addr, opts.addr)
    if rc != -errno.EINVAL:
        return False, "returned %d, expected %d (-EINVAL)" % (rc, -errno.EINVAL)
    # The convention a binding applies: negate, then it is an errno.
    msg = os.strerror(-rc)
    return msg == os.strerror(errno.EINVAL), "os.strerror(-rc): %r" % msg


def attempt(tap, name, fn, *args):
    try:
        passed, diag = fn(*args)
    except Exception as e:  # a check that raises fails; the plan holds
        passed, diag = False, "%s: %s" % (type(e).__name__, e)
    tap.ok(passed, name, diag)


def main():
    if len(sys.argv) != 2:
        print("Bail out! usage: ctypes-t.py path/to/libxev.so")
        return 1
    names = os.environ.get("XEV_BACKENDS", "").split() or DEFAULT_BACKENDS
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    try:
        lib = ctypes.CDLL(sys.argv[1])
        declare(lib)
    except (OSError, AttributeError) as e:
        print("Bail out! cannot load %s: %s" % (sys.argv[1], e))
        return 1

    tap = Tap(1 + PER_BACKEND * len(names))
    want = ["xev_loop_init", "xev_completion_zero", "xev_threadpool_schedule"]
    missing = [s for s in want if not hasattr(lib, s)]
    tap.ok(not missing, "the library exports " + ", ".join(want),
           "missing: " + ", ".join(missing))

    keep = []  # every callback object the C side may still call
    for name in names:
        bid = BACKENDS.get(name)
        if bid is None:
            for _ in range(PER_BACKEND):
                tap.ok(False, "%s: unknown backend name" % name,
                       "XEV_BACKENDS may name " + ", ".join(DEFAULT_BACKENDS))
            continue
        if not lib.xev_backend_available(bid):
            for _ in range(PER_BACKEND):
                tap.skip("%s: not usable here" % name)
            continue
        loop = Opaque(XEV_SIZEOF_LOOP)
        try:
            passed, diag = check_loop(lib, bid, loop)
        except Exception as e:
            passed, diag = False, "%s: %s" % (type(e).__name__, e)
        tap.ok(passed, "%s: xev_loop_init_with_options gives a loop, xev_loop_backend %d"
               % (name, bid), diag)
        have_loop = passed or lib.xev_loop_backend(loop.addr) != 0
        if have_loop:
            attempt(tap, "%s: a 10 ms timer fires once, result 0, after >= 10 ms" % name,
                    check_timer, lib, loop, keep)
            attempt(tap, "%s: xev_async_notify from another thread wakes the wait once, result 0"
                    % name, check_async, lib, loop, keep)
        else:
            tap.ok(False, "%s: a 10 ms timer fires once (no loop)" % name)
            tap.ok(False, "%s: xev_async_notify from another thread (no loop)" % name)
        attempt(tap, "%s: a thread-pool task runs on a worker thread" % name,
                check_threadpool, lib, keep)
        attempt(tap, "%s: backend 77 gives -EINVAL, os.strerror(-rc) its message" % name,
                check_errno, lib)
        if have_loop:
            lib.xev_loop_deinit(loop.addr)
    # Failures were reported by their "not ok" lines.
    return 0


if __name__ == "__main__":
    sys.exit(main())
