/* SPDX-License-Identifier: MIT */
/*
 * Every backend the library knows, in the order XEV_BACKEND_AUTO tries
 * them, with what each can do.  This is the one list: lib/registry.c reads
 * it for names, AUTO order and capabilities, and the tests read it (t/tap.h)
 * so that they ask what a backend does, never which one it is.  Which of
 * them a build has is configure's business (XEV__BUILT_BACKENDS in
 * config.h); nothing here depends on it.
 *
 *   X(name, public id, capabilities)
 */
#ifndef XEV_BACKENDS_H
#define XEV_BACKENDS_H

/* What a backend can do, as far as a caller can tell. */
enum xev__cap {
	/* It waits for readiness and performs each operation itself with a
	 * plain system call (lib/readiness.c): a cancel is decided by the
	 * loop before the operation is tried, never raced in the kernel. */
	XEV__CAP_READINESS = 1u << 0,
	/* Several operations queued on one descriptor are served in the
	 * order they were queued. */
	XEV__CAP_FD_ORDER = 1u << 1,
	/* The kernel performs regular-file I/O itself: no thread pool is
	 * involved, and a positioned read or write on a stream is taken as
	 * a plain one (io_uring ignores the offset there). */
	XEV__CAP_NATIVE_FILES = 1u << 2,
	/* An fd closed with close(2) while an operation waits on it ends that
	 * operation with -EBADF (others keep waiting: the kernel holds the
	 * file, or silently drops its registration). */
	XEV__CAP_SEES_CLOSE = 1u << 3,
	/* xev_poll can wait for POLLPRI (urgent data).  Without it a wait
	 * for POLLPRI alone ends with -EOPNOTSUPP. */
	XEV__CAP_POLL_URGENT = 1u << 4,
};

#define XEV__BACKENDS(X)                                                              \
	X(io_uring, XEV_BACKEND_IO_URING, XEV__CAP_NATIVE_FILES | XEV__CAP_POLL_URGENT)       \
	X(epoll, XEV_BACKEND_EPOLL, XEV__CAP_READINESS | XEV__CAP_FD_ORDER | XEV__CAP_POLL_URGENT) \
	X(kqueue, XEV_BACKEND_KQUEUE, XEV__CAP_READINESS | XEV__CAP_FD_ORDER)                 \
	X(poll, XEV_BACKEND_POLL,                                                     \
	  XEV__CAP_READINESS | XEV__CAP_FD_ORDER | XEV__CAP_SEES_CLOSE | XEV__CAP_POLL_URGENT)

#endif /* XEV_BACKENDS_H */
