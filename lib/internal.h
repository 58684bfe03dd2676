/* SPDX-License-Identifier: MIT */
/*
 * The real layouts behind the opaque public types.  Nothing here is
 * installed; every symbol declared here is hidden (xev__ prefix).
 */
#ifndef XEV_INTERNAL_H
#define XEV_INTERNAL_H

#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "xev.h"
#include "fault.h"

#define XEV__HIDDEN __attribute__((visibility("hidden")))
#define XEV__LIKELY(x) __builtin_expect(!!(x), 1)
#define XEV__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define XEV__CONTAINER_OF(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

struct xev__loop;
struct xev__completion;

/* What a completion asks for.  0 is "nothing": a zeroed completion. */
enum xev__op {
	XEV__OP_NONE = 0,
	XEV__OP_TIMER,
	XEV__OP_ASYNC_WAIT,
	XEV__OP_CANCEL,
	/* File descriptor operations: the backend performs these. */
	XEV__OP_READ,
	XEV__OP_WRITE,
	XEV__OP_PREAD,
	XEV__OP_PWRITE,
	XEV__OP_RECV,
	XEV__OP_SEND,
	XEV__OP_RECVMSG,
	XEV__OP_SENDMSG,
	XEV__OP_ACCEPT,
	XEV__OP_CONNECT,
	XEV__OP_SHUTDOWN,
	XEV__OP_CLOSE,
	XEV__OP_POLL,
	/* A child's end: a poll of its pidfd, or a wait for SIGCHLD. */
	XEV__OP_PROCESS,
	/* A function run on a thread pool. */
	XEV__OP_WORK,
	XEV__OP_SIGNAL_WAIT,
};

#define XEV__NOPS (XEV__OP_SIGNAL_WAIT + 1)

/*
 * One kind of operation: how the loop starts, stops, repeats and finishes
 * it (loop.c holds the table, xev__ops, indexed by enum xev__op).
 */
struct xev__opkind {
	const char *call; /* the public function that queues it, for messages */
	/* Starts a submitted (QUEUED) completion; NULL: an fd operation, for
	 * the backend (xev__fd_submit). */
	void (*submit)(struct xev__loop *l, struct xev__completion *c);
	/* Stops an ACTIVE one: the canceller's result, or XEV__PENDING when
	 * the backend will give it later. */
	int (*cancel)(struct xev__loop *l, struct xev__completion *t,
		      struct xev__completion *canceller);
	/* Puts it back to work after XEV_REARM; NULL: queued like new. */
	void (*rearm)(struct xev__loop *l, struct xev__completion *c);
	/* With XEV__F_SETTLE, before its callback: false when it is not
	 * finished after all and went back to work. */
	bool (*settle)(struct xev__loop *l, struct xev__completion *c);
};
extern const struct xev__opkind xev__ops[XEV__NOPS] XEV__HIDDEN;

/*
 * Where a completion is.  Everything but DEAD reads as
 * XEV_COMPLETION_ACTIVE through the public API.
 */
enum xev__state {
	XEV__DEAD = 0,
	XEV__QUEUED,  /* on loop->submissions, waiting for the next run */
	XEV__ACTIVE,  /* in the timer heap, on an async list, or in the kernel */
	XEV__READY,   /* result known, on loop->ready, callback not yet run */
};

/* Flags of a completion.  The loop's own are the low byte; the high one
 * belongs to whichever backend holds the completion. */
enum {
	/* Cancelled while QUEUED: complete with -ECANCELED when submitted. */
	XEV__F_CANCELED = 1u << 0,
	/* Reset while READY: go back into the heap instead of calling back. */
	XEV__F_RESET = 1u << 1,
	/* Queued again by XEV_REARM: same fd, same arguments. */
	XEV__F_REARMED = 1u << 2,
	/* Its kind's settle hook runs before its callback. */
	XEV__F_SETTLE = 1u << 3,
	/* On a thread pool (loop->offloaded). */
	XEV__F_OFFLOADED = 1u << 4,
	/* A cancel that already stopped its queued target: result 0. */
	XEV__F_DECIDED = 1u << 5,
	/* A timer on loop->run (the sorted list), not in the heap. */
	XEV__F_IN_RUN = 1u << 6,
	/* A timer in a bucket of the loop's wheel (heap.c). */
	XEV__F_IN_WHEEL = 1u << 7,
	/* Backend-private: each backend names these for its own use. */
	XEV__F_BACKEND_0 = 1u << 8,
	XEV__F_BACKEND_1 = 1u << 9,
	XEV__F_BACKEND_2 = 1u << 10,
	XEV__F_BACKEND_3 = 1u << 11,
};

/* A backend's cancel hook returns this when the canceller's result will
 * come later, from the kernel. */
#define XEV__PENDING 1

/* The longest transfer in one call, on every system: Linux performs no
 * more (MAX_RW_COUNT) and macOS refuses more than INT_MAX, so one limit
 * gives the same short result everywhere instead of an error on some. */
#define XEV__MAX_RW ((size_t)0x7ffff000)

/* A doubly linked intrusive list; the loop's queues are made of these. */
struct xev__list {
	struct xev__completion *head, *tail;
};

/* A list of timers in (deadline, start) order, linked through their
 * timer ops' sibling and prev. */
struct xev__run {
	struct xev__completion *head, *tail;
};

struct xev__timer_op {
	int64_t deadline;     /* absolute, loop clock, ns */
	uint64_t ms;          /* as asked, for rearm */
	uint64_t seq;         /* start order, which breaks deadline ties */
	uint16_t bucket;      /* its slot in the wheel, or which run it is on */
	/* Pairing heap links: first child, next sibling, and the left
	 * sibling or (for a first child) the parent. */
	struct xev__completion *child, *sibling, *prev;
};

struct xev__async_op {
	struct xev__async *w;
};

struct xev__cancel_op {
	struct xev__completion *target;
};

/* Every fd operation, xev_work and process waits. */
struct xev__io_op {
	/* Buffer, msghdr or sockaddr; a process wait's watcher.  First, so
	 * that it shares its place with xev__async_op.w: a process wait is an
	 * async wait when no pidfd drives it. */
	void *buf;
	int fd;
	int flags;                /* send/recv flags, shutdown's how, poll's events */
	/* The fd operation a backend performs: the op itself, or, for a
	 * process wait on a pidfd, XEV__OP_POLL.  Read through xev__io_kind. */
	uint8_t kind;
	/* io_uring: times the kernel dropped it, once F_DROPPED says so. */
	uint8_t drops;
	size_t len;               /* buffer length; connect's addrlen */
	uint64_t offset;          /* pread/pwrite */
	socklen_t *addrlen;       /* accept */
	/* What rearm restores: accept's *addrlen, recvmsg's msg_namelen,
	 * msg_controllen and msg_flags as they were when queued. */
	socklen_t saved_namelen;
	int saved_msg_flags;
	size_t saved_controllen;
	uint32_t wants;           /* readiness backends: the poll(2) events it waits for */
	void (*fn)(void *);       /* xev_work */
	xev_threadpool *pool;     /* where it is offloaded */
	xev_threadpool_task task; /* its pool task */
	struct xev__completion *remote_next; /* loop->remote_done link */
};

struct xev__completion {
	struct xev__completion *next, *prev; /* the list it is on */
	struct xev__loop *loop;
	xev_cb cb;
	void *userdata;
	int32_t result;
	uint8_t op;    /* enum xev__op */
	uint8_t state; /* enum xev__state */
	uint16_t flags;
	union {
		struct xev__timer_op timer;
		struct xev__async_op async;
		struct xev__cancel_op cancel;
		struct xev__io_op io;
	} u;
};

/* What a backend performs for c, an fd operation: XEV__OP_READ ..
 * XEV__OP_POLL. */
static inline unsigned xev__io_kind(const struct xev__completion *c)
{
	return c->u.io.kind;
}

/* An async watcher. */
struct xev__async {
	uint32_t magic;
	/* What a wait on it completes with: 0, or the signal's number. */
	int32_t fired_result;
	/* Set by notify, consumed by the loop that waits on this watcher. */
	atomic_int pending;
	/* The loop a wait is queued on, or NULL. */
	_Atomic(struct xev__loop *) loop;
	/* Waits on it still active; loop is cleared when the last ends. */
	uint32_t waiters;
};
#define XEV__ASYNC_MAGIC 0x78657661u /* "xeva" */

/*
 * A watcher the process-wide signal handler notifies (signal.c): an async
 * header the handler fires, on the registry list of its signal.  Signal
 * watchers are exactly this; process watchers without a pidfd embed one
 * for SIGCHLD.
 */
struct xev__sigsub {
	struct xev__async a;
	int signo;
	struct xev__sigsub *next, *prev;
};
#define XEV__SIGNAL_MAGIC 0x78657673u /* "xevs" */

struct xev__process {
	struct xev__sigsub sub; /* sub.a.magic identifies the watcher */
	pid_t pid;
	int pidfd;              /* -1: the SIGCHLD fallback */
	int status;             /* once settled: wait status or -errno */
	bool settled;
};
#define XEV__PROCESS_MAGIC 0x78657670u /* "xevp" */

struct xev__timer_watcher {
	uint32_t magic;
};
#define XEV__TIMER_MAGIC 0x78657674u /* "xevt" */

struct xev__options {
	uint32_t magic;
	uint32_t backend; /* xev_backend; checked at init */
	uint32_t entries;
	xev_threadpool *pool;
};
#define XEV__OPTIONS_MAGIC 0x7865766fu /* "xevo" */

struct xev__backend;

/* Room in the loop for the state of whichever backend it uses; each
 * backend asserts that its state fits (xev__backend_state). */
#define XEV__BACKEND_STATE_SIZE 288

struct xev__loop {
	uint32_t magic;
	uint8_t backend_id;  /* xev_backend in use */
	bool running;
	bool stopped;
	bool woke_last;    /* the last tick's wait was allowed to block */
	const struct xev__backend *be;
	int64_t now;                     /* cached monotonic clock, ns */
	uint64_t active;                 /* completions not DEAD */
	struct xev__list submissions;    /* QUEUED, in order */
	struct xev__list ready;          /* READY, in order */
	struct xev__list async_waits;    /* ACTIVE async waits */
	struct xev__completion *timers;  /* pairing heap root */
	struct xev__run run;             /* timers in deadline order (heap.c) */
	struct xev__wheel *wheel;        /* far timers, by time slot (heap.c) */
	uint64_t ntimers;
	uint64_t timer_seq;              /* timers started so far */
	/* The timers due when the loop last looked, not all called back
	 * yet (loop.c, expire_timers): due by expire_now and started before
	 * timer expire_seq; 0 when none are left. */
	int64_t expire_now;
	uint64_t expire_seq;
	xev_threadpool *pool;
	atomic_int sleeping;             /* XEV__SLEEP_*: where the loop blocks, if it does */
	atomic_int async_pending;        /* a watcher was notified or pool work finished */
	atomic_int signalling;           /* other threads inside xev__loop_signal */
	atomic_int signal_cpu;           /* where the last of them ran, -1 unknown */
	struct xev__list offloaded;      /* ACTIVE on a thread pool */
	_Atomic(struct xev__completion *) remote_done; /* finished there (a stack) */
	atomic_uint remote_busy;         /* pool tasks that may still touch the loop */
	bool signal_handler_seen;        /* the signal handler may know this loop */
	pthread_t run_thread;            /* in xev_loop_run, for debug checks */
	/* Spinning before a wait (spin.c). */
	bool news_last;                  /* the last look at the flag found news */
	uint8_t spin_shift;              /* spins in a row that found none in time */
	uint16_t spin_skip;              /* waits left to go straight to sleep */
	bool futex_ok;                   /* may sleep on a futex (futex.c) */
	/* The backend's own state (xev__backend_state). */
	union {
		max_align_t align;
		unsigned char bytes[XEV__BACKEND_STATE_SIZE];
	} b;
};
#define XEV__LOOP_MAGIC 0x7865766cu /* "xevl" */

/* Where a loop's thread sleeps (loop.sleeping), so that a notifier knows
 * how to wake it. */
enum {
	XEV__SLEEP_AWAKE = 0,
	XEV__SLEEP_BACKEND, /* in the backend's wait: its wake hook */
	XEV__SLEEP_FUTEX,   /* on async_pending (futex.c) */
};

/* May another thread signal l (xev__loop_signal)?  Only while a wait on
 * an async watcher, or work on a thread pool, is in the loop's hands: a
 * notify of a watcher nobody waits on only sets its flag. */
static inline bool xev__loop_may_be_signalled(const struct xev__loop *l)
{
	return l->async_waits.head || l->offloaded.head;
}

/* The real types fit in the public ones. */
_Static_assert(sizeof(struct xev__loop) <= sizeof(xev_loop), "xev_loop too small");
_Static_assert(alignof(struct xev__loop) <= alignof(xev_loop), "xev_loop misaligned");
_Static_assert(sizeof(struct xev__completion) <= sizeof(xev_completion), "xev_completion too small");
_Static_assert(alignof(struct xev__completion) <= alignof(xev_completion), "xev_completion misaligned");
_Static_assert(sizeof(struct xev__async) <= sizeof(xev_watcher), "xev_watcher too small");
_Static_assert(sizeof(struct xev__process) <= sizeof(xev_watcher), "xev_watcher too small");
_Static_assert(sizeof(struct xev__options) <= sizeof(xev_loop_options), "options too small");

/* The public sizes are the ABI: they never change. */
_Static_assert(sizeof(xev_loop) == 512, "ABI: xev_loop");
_Static_assert(sizeof(xev_completion) == 320, "ABI: xev_completion");
_Static_assert(sizeof(xev_watcher) == 256, "ABI: xev_watcher");
_Static_assert(sizeof(xev_threadpool) == 64, "ABI: xev_threadpool");
_Static_assert(sizeof(xev_threadpool_config) == 64, "ABI: xev_threadpool_config");
_Static_assert(sizeof(xev_threadpool_batch) == 24, "ABI: xev_threadpool_batch");
_Static_assert(sizeof(xev_threadpool_task) == 24, "ABI: xev_threadpool_task");
_Static_assert(sizeof(xev_loop_options) == 64, "ABI: xev_loop_options");

static inline struct xev__loop *xev__loop(xev_loop *l) { return (struct xev__loop *)(void *)l; }
static inline struct xev__completion *xev__comp(xev_completion *c)
{
	return (struct xev__completion *)(void *)c;
}
static inline xev_completion *xev__pub(struct xev__completion *c) { return (xev_completion *)(void *)c; }
static inline xev_loop *xev__pub_loop(struct xev__loop *l) { return (xev_loop *)(void *)l; }

/* list.c-free intrusive list helpers: O(1) push, pop and unlink. */
static inline void xev__list_push(struct xev__list *q, struct xev__completion *c)
{
	c->next = NULL;
	c->prev = q->tail;
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
}

static inline void xev__list_unlink(struct xev__list *q, struct xev__completion *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		q->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		q->tail = c->prev;
	c->next = c->prev = NULL;
}

static inline struct xev__completion *xev__list_pop(struct xev__list *q)
{
	struct xev__completion *c = q->head;
	if (c)
		xev__list_unlink(q, c);
	return c;
}

/* Timer queue (heap.c). */
XEV__HIDDEN void xev__heap_insert(struct xev__loop *l, struct xev__completion *c);
XEV__HIDDEN void xev__heap_remove(struct xev__loop *l, struct xev__completion *c);
XEV__HIDDEN struct xev__completion *xev__heap_pop(struct xev__loop *l);
XEV__HIDDEN struct xev__completion *xev__heap_first(struct xev__loop *l);
XEV__HIDDEN void xev__heap_kill(struct xev__loop *l);

/*
 * --enable-debug: misuse the library can see but not report through a
 * result (a completion submitted while still in flight, a loop touched
 * from another thread while it runs, a watcher deinitialised under a
 * wait) aborts with a message naming the call, instead of corrupting a
 * queue that fails much later, somewhere else.  Without it the checks
 * compile to nothing.
 */
#ifdef XEV_DEBUG
#define XEV__MISUSE(what) xev__misuse(__func__, (what))
#else
#define XEV__MISUSE(what) ((void)0)
#endif
#define XEV__MISUSE_IF(cond, what) ((cond) ? XEV__MISUSE(what) : (void)0)
XEV__HIDDEN _Noreturn void xev__misuse(const char *fn, const char *what);
XEV__HIDDEN void xev__debug_check_thread(struct xev__loop *l, const char *fn);

/* Loop internals (loop.c). */
XEV__HIDDEN int64_t xev__clock_ns(void);
/* An environment switch: set, not empty and not "0". */
static inline bool xev__env_flag(const char *name)
{
	const char *s = getenv(name);
	return s && *s && strcmp(s, "0") != 0;
}
/* spin.c: true when news from another thread came while the loop spun
 * before a wait of timeout ns (-1: none), which then need not block.
 * Only a loop whose last look found news spins: inline, so that one that
 * had none (a server of sockets) pays no call to learn it. */
XEV__HIDDEN bool xev__spin_for_news_slow(struct xev__loop *l, int64_t timeout);
static inline bool xev__spin_for_news(struct xev__loop *l, int64_t timeout)
{
	return l->news_last && xev__spin_for_news_slow(l, timeout);
}
/* For xev__loop_signal: where the signalling thread runs. */
XEV__HIDDEN void xev__spin_note_signaller(struct xev__loop *l);
/* For loop init: XEV_NO_SPIN turns spinning off. */
XEV__HIDDEN void xev__spin_init(struct xev__loop *l);
#ifdef XEV_USE_FUTEX
/* futex.c: sleep while *word is 0, at most timeout_ns (-1: no limit);
 * wake a thread sleeping so.  Linux only: declared only where built, so
 * that a use outside #ifdef XEV_USE_FUTEX fails to compile, not to link
 * (and only in builds without optimisation). */
XEV__HIDDEN void xev__futex_wait(atomic_int *word, int64_t timeout_ns);
XEV__HIDDEN void xev__futex_wake(atomic_int *word);
#endif
XEV__HIDDEN void xev__add(struct xev__loop *l, struct xev__completion *c);
XEV__HIDDEN void xev__complete(struct xev__loop *l, struct xev__completion *c, int result);
XEV__HIDDEN void xev__prepare(struct xev__loop *l, struct xev__completion *c, enum xev__op op,
			      void *userdata, xev_cb cb);
XEV__HIDDEN void xev__loop_signal(struct xev__loop *l);
XEV__HIDDEN void xev__fd_submit(struct xev__loop *l, struct xev__completion *c);
XEV__HIDDEN int xev__fd_cancel(struct xev__loop *l, struct xev__completion *t,
			       struct xev__completion *canceller);

/* Timers (timer.c). */
XEV__HIDDEN void xev__timer_start(struct xev__loop *l, struct xev__completion *c, uint64_t ms);
XEV__HIDDEN void xev__timer_restart(struct xev__loop *l, struct xev__completion *c, uint64_t ms);
XEV__HIDDEN void xev__timer_submit(struct xev__loop *l, struct xev__completion *c);
XEV__HIDDEN int xev__timer_cancel(struct xev__loop *l, struct xev__completion *t,
				  struct xev__completion *canceller);
XEV__HIDDEN void xev__timer_rearm(struct xev__loop *l, struct xev__completion *c);
XEV__HIDDEN bool xev__timer_settle(struct xev__loop *l, struct xev__completion *c);

/* Async waits (async.c), which signal and SIGCHLD waits are too. */
XEV__HIDDEN void xev__async_submit(struct xev__loop *l, struct xev__completion *c);
XEV__HIDDEN int xev__async_cancel(struct xev__loop *l, struct xev__completion *t,
				  struct xev__completion *canceller);
XEV__HIDDEN void xev__async_scan(struct xev__loop *l);
XEV__HIDDEN void xev__async_loop_gone(struct xev__loop *l);
XEV__HIDDEN void xev__async_fire(struct xev__async *a);
XEV__HIDDEN void xev__async_listen(struct xev__loop *l, struct xev__async *a);
XEV__HIDDEN void xev__async_release(struct xev__async *a);
XEV__HIDDEN void xev__async_wait_on(struct xev__async *a, uint32_t magic, enum xev__op op,
				    xev_loop *loop, xev_completion *c, void *userdata, xev_cb cb);

/* Signals (signal.c): the registry the process-wide handler reads. */
XEV__HIDDEN int xev__signal_subscribe(struct xev__sigsub *s, int signo);
XEV__HIDDEN void xev__signal_unsubscribe(struct xev__sigsub *s);
XEV__HIDDEN bool xev__signal_registered(const struct xev__sigsub *s);
XEV__HIDDEN void xev__signal_registry_lock(sigset_t *saved);
XEV__HIDDEN void xev__signal_registry_unlock(const sigset_t *saved);

/* Processes (process.c). */
XEV__HIDDEN void xev__process_submit(struct xev__loop *l, struct xev__completion *c);
XEV__HIDDEN int xev__process_cancel(struct xev__loop *l, struct xev__completion *t,
				    struct xev__completion *canceller);
XEV__HIDDEN bool xev__process_settle(struct xev__loop *l, struct xev__completion *c);

/* Cancellation (ops.c). */
XEV__HIDDEN void xev__cancel_submit(struct xev__loop *l, struct xev__completion *c);

/* Fd operations (ops.c). */
XEV__HIDDEN int xev__io_perform(struct xev__completion *c);
XEV__HIDDEN int xev__fd_set_flags(int fd, bool nonblocking);
XEV__HIDDEN void xev__io_file(struct xev__loop *l, struct xev__completion *c);

/* Thread pool offload (offload.c, threadpool.c). */
XEV__HIDDEN void xev__offload(struct xev__loop *l, struct xev__completion *c, xev_threadpool *pool);
XEV__HIDDEN void xev__work_submit(struct xev__loop *l, struct xev__completion *c);
XEV__HIDDEN int xev__offload_cancel(struct xev__loop *l, struct xev__completion *c,
				    struct xev__completion *canceller);
XEV__HIDDEN void xev__offload_drain(struct xev__loop *l);
XEV__HIDDEN void xev__offload_loop_gone(struct xev__loop *l);
XEV__HIDDEN int xev__pool_push(xev_threadpool *pool, xev_threadpool_task *t);
XEV__HIDDEN bool xev__pool_remove(xev_threadpool *pool, xev_threadpool_task *t);

#endif /* XEV_INTERNAL_H */
