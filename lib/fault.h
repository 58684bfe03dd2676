/* SPDX-License-Identifier: MIT */
/*
 * Fault injection, for tests only (configure --enable-fault-injection;
 * HACKING says why it is ours and not libfiu's preload).  Every system
 * call and allocation the library makes goes through one of the macros
 * below, naming its site.  In a release build they are the call itself;
 * in a fault build a plan set by a test can make the site fail instead,
 * with an errno the real call can return.
 *
 * The sites, with the errnos the kernel (or libc) really gives them under
 * pressure, which is what the campaign (t/fault-t) injects.  Each errno is
 * either hidden by the library (retried, or waited out) or handed to the
 * operation that made the call; xev(7) says which.
 */
#ifndef XEV_FAULT_H
#define XEV_FAULT_H

#include <errno.h>
#include <stdint.h>

#define XEV__FAULT_SITES(X)                                                               \
	X(URING_SETUP, "io_uring_queue_init", ENOMEM, EMFILE, ENFILE, EPERM)              \
	X(URING_ENTER, "io_uring_enter", EINTR, EAGAIN, EBUSY)                            \
	X(URING_SQE, "io_uring_get_sqe (queue full)", EBUSY)                              \
	X(URING_DROP, "io_uring worker thread (work dropped)", ECANCELED)                 \
	X(EPOLL_CREATE, "epoll_create1", EMFILE, ENFILE, ENOMEM)                          \
	X(EPOLL_CTL, "epoll_ctl", ENOMEM, ENOSPC)                                         \
	X(EPOLL_WAIT, "epoll_wait", EINTR)                                                \
	X(POLL, "poll (the wait)", EINTR, EAGAIN, ENOMEM)                                 \
	X(KQUEUE, "kqueue", EMFILE, ENFILE, ENOMEM)                                       \
	X(KEVENT, "kevent", EINTR, ENOMEM)                                                \
	X(WAKEUP_OPEN, "eventfd, pipe", EMFILE, ENFILE, ENOMEM)                           \
	X(WAKEUP_WRITE, "write to the wake-up fd", EINTR)                                 \
	X(WAKEUP_READ, "read of the wake-up fd", EINTR, EAGAIN)                           \
	X(PIDFD_OPEN, "pidfd_open", EMFILE, ENFILE, ENOMEM)                               \
	X(WAITPID, "waitpid", EINTR)                                                      \
	X(SIGACTION, "sigaction", EINVAL)                                                 \
	X(THREAD_CREATE, "pthread_create", EAGAIN)                                        \
	X(ALLOC, "malloc, calloc, realloc", ENOMEM)                                       \
	X(READ, "read", EINTR, EAGAIN, EIO)                                               \
	X(WRITE, "write", EINTR, EAGAIN, EIO, ENOSPC)                                     \
	X(PREAD, "pread", EINTR, EIO)                                                     \
	X(PWRITE, "pwrite", EINTR, EIO, ENOSPC)                                           \
	X(RECV, "recv, recvmsg", EINTR, EAGAIN, ENOMEM, ECONNRESET)                       \
	X(SEND, "send, sendmsg", EINTR, EAGAIN, ENOBUFS, ENOMEM)                          \
	X(ACCEPT, "accept, accept4", EINTR, EAGAIN, ECONNABORTED, EMFILE, ENFILE, ENOBUFS) \
	X(CONNECT, "connect", EINTR, EAGAIN, ENOBUFS)                                     \
	X(CLOSE, "close", EINTR, EIO)                                                     \
	X(POLL_ONE, "poll (xev_poll's look)", EINTR, ENOMEM)                              \
	X(SOCKOPT, "getsockopt", ENOBUFS)                                                 \
	X(FSTAT, "fstat", ENOMEM)

#define XEV__FAULT_ENUM(name, label, ...) XEV__FS_##name,
enum xev__fault_site { XEV__FAULT_SITES(XEV__FAULT_ENUM) XEV__FAULT_NSITES };
#undef XEV__FAULT_ENUM

/* What t/fault-t asks for.  Only tests set a plan. */
struct xev__fault_plan {
	int site;          /* an xev__fault_site, or -1: every site */
	int err;           /* the errno; 0: one of the site's, at random */
	uint32_t after;    /* calls of the site that go through first */
	uint32_t every;    /* then each `every`th call fails; 0: only one */
	uint32_t permille; /* or, if not 0, each call fails with this chance */
	uint32_t limit;    /* at most this many failures; 0: no limit */
	uint64_t seed;     /* for the chance and the random errno */
};

#ifdef XEV_FAULT_INJECTION
#define XEV__FAULT_API __attribute__((visibility("default")))
/* Sets the plan (NULL: no faults) and zeroes the counters. */
XEV__FAULT_API void xev__fault_set(const struct xev__fault_plan *plan);
/* Calls of a site since the last xev__fault_set, and failures made. */
XEV__FAULT_API uint64_t xev__fault_calls(int site);
XEV__FAULT_API uint64_t xev__fault_injected(int site);
XEV__FAULT_API const char *xev__fault_site_name(int site);
/* The errnos of a site, ending with 0. */
XEV__FAULT_API const int *xev__fault_site_errnos(int site);

/* True when this call of site must fail; errno is then set. */
XEV__FAULT_API _Bool xev__fault_fail(enum xev__fault_site site);

/* A call returning -1 and setting errno. */
#define XEV__SYS(site, call) (xev__fault_fail(XEV__FS_##site) ? -1 : (call))
/* A call that fails after it took effect: close(2), which frees the
 * descriptor even when it reports EINTR or EIO. */
#define XEV__SYS_AFTER(site, call) ((call) < 0 ? -1 : xev__fault_fail(XEV__FS_##site) ? -1 : 0)
/* A call returning -errno (liburing). */
#define XEV__SYS_NEG(site, call) (xev__fault_fail(XEV__FS_##site) ? -errno : (call))
/* A call returning an errno (pthreads). */
#define XEV__SYS_ERR(site, call) (xev__fault_fail(XEV__FS_##site) ? errno : (call))
/* A call returning a pointer, NULL on failure. */
#define XEV__SYS_PTR(site, call) (xev__fault_fail(XEV__FS_##site) ? NULL : (call))
#else
#define XEV__SYS(site, call) (call)
#define XEV__SYS_AFTER(site, call) (call)
#define XEV__SYS_NEG(site, call) (call)
#define XEV__SYS_ERR(site, call) (call)
#define XEV__SYS_PTR(site, call) (call)
#endif

#endif
