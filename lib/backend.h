/* SPDX-License-Identifier: MIT */
/*
 * What a backend is, for the loop and for the backends themselves: the
 * hook table each lib/backend_*.c defines, its state inside the loop, the
 * wake-up primitive, and the readiness core (lib/readiness.c) that epoll,
 * kqueue and poll are built on.  HACKING says how to add a backend.
 */
#ifndef XEV_BACKEND_H
#define XEV_BACKEND_H

#include "internal.h"
#include "backends.h"

/* The hooks of one backend.  Each lib/backend_NAME.c defines one, named
 * xev__backend_NAME; lib/registry.c finds those configure built. */
struct xev__backend {
	xev_backend id;
	/* Is the kernel willing?  Called by xev_backend_available(). */
	int (*probe)(void);
	/* Sets up kernel resources, its wake-up included. */
	int (*init)(struct xev__loop *l, const struct xev__options *o);
	/* Takes back what the kernel holds (those completions become DEAD)
	 * and releases everything init set up. */
	void (*deinit)(struct xev__loop *l);
	/* Submits what is pending and waits up to timeout_ns (-1: forever,
	 * 0: do not block) for the kernel; puts finished completions on
	 * loop->ready.  0, or a negative errno the loop returns. */
	int (*wait)(struct xev__loop *l, int64_t timeout_ns);
	/* Starts an fd operation (xev__io_kind(c) != 0): hands it to the
	 * kernel (state ACTIVE) or completes it at once. */
	void (*submit)(struct xev__loop *l, struct xev__completion *c);
	/* Stops an ACTIVE fd operation: the canceller's result, or
	 * XEV__PENDING when the backend will complete the canceller. */
	int (*cancel)(struct xev__loop *l, struct xev__completion *target,
		      struct xev__completion *canceller);
	/* Interrupts a wait from another thread (or a signal handler). */
	void (*wake)(struct xev__loop *l);
	/* Optional: true when nothing is queued for the kernel nor held by
	 * it that a wait could report, so the loop may sleep without the
	 * backend (futex.c) until another thread, a signal or a timer. */
	bool (*idle)(struct xev__loop *l);
	/* Optional: waits in the kernel for process pid to end (kqueue's
	 * EVFILT_PROC), then completes c with 0; the loop reaps.  c is ACTIVE
	 * until then and is stopped by .cancel, taken back by .deinit. */
	void (*exit_wait)(struct xev__loop *l, struct xev__completion *c, pid_t pid);
	/* Only when asked for by name: AUTO passes it by (kqueue emulated
	 * on Linux, which is for tests). */
	bool explicit_only;
};

/* The registry (registry.c): the hooks of backend b if this build has
 * it, else NULL. */
XEV__HIDDEN const struct xev__backend *xev__backend_hooks(xev_backend b);
/* The i-th backend in AUTO order, XEV_BACKEND_AUTO past the end. */
XEV__HIDDEN xev_backend xev__backend_nth(unsigned i);

/* A backend's state lives in the loop: XEV__BACKEND_STATE(l, type), after
 * XEV__STATE_FITS(type) at file scope. */
#define XEV__BACKEND_STATE(l, type) ((type *)(void *)(l)->b.bytes)
#define XEV__STATE_FITS(type) \
	_Static_assert(sizeof(type) <= XEV__BACKEND_STATE_SIZE, #type " does not fit in the loop")

/*
 * The wake-up primitive: another thread (or a signal handler) makes a
 * descriptor readable to end a wait.  An eventfd where the system has
 * one (rfd == wfd), otherwise a pipe whose write end never blocks: a full
 * pipe already holds a wake-up.
 */
struct xev__wakeup {
	int rfd, wfd;
};
/* nonblocking_read: reads of rfd say EAGAIN rather than wait (readiness
 * backends); io_uring wants them blocking, its own read waits. */
XEV__HIDDEN int xev__wakeup_open(struct xev__wakeup *w, bool nonblocking_read);
XEV__HIDDEN void xev__wakeup_close(struct xev__wakeup *w);
/* Async-signal-safe. */
XEV__HIDDEN void xev__wakeup_signal(const struct xev__wakeup *w);
/* Consumes every pending wake-up (rfd non-blocking). */
XEV__HIDDEN void xev__wakeup_drain(const struct xev__wakeup *w);

/*
 * The readiness core.  A readiness backend emulates completions: an
 * operation that cannot finish now parks on its descriptor's slot and is
 * tried again when the kernel reports the descriptor ready.  The core owns
 * the slots and every rule about them; a backend supplies only how to tell
 * the kernel what an fd's interest is (watch/unwatch) and how to wait
 * (its .wait hook, which reports each ready fd to xev__rd_ready).
 * Interest and readiness are in poll(2) bits (POLLIN, POLLOUT, ...).
 */
struct xev__fdslot {
	struct xev__list waiters; /* parked operations, oldest first */
	uint32_t mask;            /* the interest the kernel was given */
	uint32_t priv;            /* the backend's (epoll: generation; poll: index) */
	/* A socket error the kernel reported and took off the socket
	 * (kqueue): the next operation on fd ends with it. */
	int err;
	bool registered;          /* the kernel was given mask */
	/* An error no operation clears is pending: the kernel is asked to
	 * report this fd once per watch() call, not for as long as it lasts. */
	bool stuck;
	/* The last receive found its data while the loop was busy (it had
	 * callbacks to run): the next one is tried before it is parked. */
	bool recv_first;
	/* Edge-triggered (readiness.c, "edge"): registered so that the kernel
	 * reports new data only, for a TCP socket whose receives keep
	 * emptying it. */
	bool edge;
	bool tcp;                 /* a TCP socket, seen when first watched for a receive */
	uint8_t shorts;           /* receives in a row that emptied the socket */
	uint8_t edge_after;       /* how many it takes; doubles each time edge ends */
};

struct xev__rd_hooks {
	/*
	 * Makes the kernel report fd when any of `want` (never 0) is ready:
	 * level-triggered, or once per call when s->stuck, or on new data
	 * when s->edge (edge_ok).  s->mask and
	 * s->registered say what it was told before; `fresh` means fd may have
	 * been closed and reused since (a new operation on an idle slot), so
	 * what the kernel holds for it may be stale or gone.  0, or a negative
	 * errno; -EPERM: the kernel cannot wait for this kind of file.
	 */
	int (*watch)(struct xev__loop *l, int fd, struct xev__fdslot *s, uint32_t want, bool fresh);
	/* Stops reporting fd (s->registered was true).  Cannot fail: an fd
	 * the kernel no longer knows is not watched. */
	void (*unwatch)(struct xev__loop *l, int fd, struct xev__fdslot *s);
	/* Its reports say "look", not which poll(2) bits hold (kqueue has a
	 * read and a write filter): xev_poll's results are asked of poll(2). */
	bool inexact;
	/* The poll(2) bits it can wait for; 0: all.  An xev_poll for none of
	 * them ends with -EOPNOTSUPP. */
	uint32_t watchable;
	/* watch() honours s->edge: reports new data only (EPOLLET), with
	 * urgent data, the peer's shutdown, errors and hang-ups (POLLPRI,
	 * POLLRDHUP, POLLERR, POLLHUP) among them. */
	bool edge_ok;
};

/* The first member of every readiness backend's state. */
struct xev__rd {
	const struct xev__rd_hooks *hooks;
	struct xev__wakeup wake;
	uint32_t nslots;            /* size of slots */
	struct xev__fdslot *slots;  /* indexed by fd, grown on demand */
	uint32_t parked;            /* operations in all the slots' waiters */
	bool busy;                  /* this wait does not sleep: callbacks wait */
	bool any_stuck;             /* some slot may be stuck: recheck due at stuck_at */
	int64_t stuck_at;           /* ns, xev__clock_ns */
};
XEV__STATE_FITS(struct xev__rd);

static inline struct xev__rd *xev__rd(struct xev__loop *l)
{
	return XEV__BACKEND_STATE(l, struct xev__rd);
}

/* Backend hooks the core implements for every readiness backend.
 * xev__rd_init opens the wake-up primitive (rd->wake) if asked to; the
 * backend watches its read end, or has a wake-up of its own. */
XEV__HIDDEN int xev__rd_init(struct xev__loop *l, const struct xev__rd_hooks *hooks, bool wakeup);
XEV__HIDDEN void xev__rd_deinit(struct xev__loop *l);
XEV__HIDDEN void xev__rd_submit(struct xev__loop *l, struct xev__completion *c);
XEV__HIDDEN int xev__rd_cancel(struct xev__loop *l, struct xev__completion *t,
			       struct xev__completion *canceller);
XEV__HIDDEN void xev__rd_wake(struct xev__loop *l);
/* For the backend's wait: the slot of fd if the table reaches it, else
 * NULL (nothing of ours); what the kernel reported for it. */
static inline struct xev__fdslot *xev__rd_slot(struct xev__loop *l, int fd)
{
	struct xev__rd *rd = xev__rd(l);
	return fd >= 0 && (uint32_t)fd < rd->nslots ? &rd->slots[fd] : NULL;
}
/* revents: poll(2) bits; err: a socket error the kernel reported with
 * them and took off the socket (kqueue's EV_EOF fflags), else 0: the first
 * operation on fd, waiting now or queued later, ends with it. */
XEV__HIDDEN void xev__rd_ready(struct xev__loop *l, int fd, struct xev__fdslot *s, uint32_t revents,
			       int err);
/* For a backend's watch of a fresh fd, where its kernel would take a
 * regular file, block device or directory (poll and kqueue call them
 * ready, or fire once): -EPERM for those (the core does them another way),
 * 0 otherwise, or fstat's -errno. */
XEV__HIDDEN int xev__rd_check_pollable(int fd);
/*
 * For the start of a backend's wait: true when it need not ask the kernel
 * at all, because it would not sleep (timeout 0) and no operation is
 * parked, so there is nothing the kernel could report that anybody waits
 * for (other threads' wake-ups are flags the loop reads itself).  A busy
 * loop whose sends and receives all finish when tried then makes no
 * system call of its own.  A backend with waits outside the slots (kqueue's
 * process exits) asks only when it has none.  It also notes whether the
 * loop is busy (callbacks waiting to run), which xev__rd_ready reads for
 * the receives it completes during this wait.
 */
XEV__HIDDEN bool xev__rd_skip_poll(struct xev__loop *l, int64_t timeout_ns);
/* The idle hook of a readiness backend: no operation is parked. */
XEV__HIDDEN bool xev__rd_idle(struct xev__loop *l);
/*
 * For an edge-triggered backend's wait (epoll, kqueue), after
 * xev__rd_skip_poll: while a slot is stuck its fd is reported once per
 * watch, and an operation whose try then found nothing waits for new
 * readiness.  Had that try failed for a reason of its own (an EAGAIN
 * with data there, as fault injection makes), what is already there would
 * never be reported again: so every XEV__STUCK_RECHECK_MS the stuck slots
 * with waiters are watched again, and a stuck slot nobody waits on is
 * unwatched.  Returns timeout_ns capped by the next recheck.  (poll looks
 * again as often, its own way.)
 */
XEV__HIDDEN int64_t xev__rd_recheck_stuck_slow(struct xev__loop *l, int64_t timeout_ns);
static inline int64_t xev__rd_recheck_stuck(struct xev__loop *l, int64_t timeout_ns)
{
	/* Inline: every wait asks, and almost never is a slot stuck. */
	return XEV__LIKELY(!xev__rd(l)->any_stuck) ? timeout_ns : xev__rd_recheck_stuck_slow(l, timeout_ns);
}
#define XEV__STUCK_RECHECK_MS 10
/* The kernel forgot every registration (epoll's rebuild): watch again
 * what has operations parked. */
XEV__HIDDEN void xev__rd_rewatch_all(struct xev__loop *l);

#endif /* XEV_BACKEND_H */
