/* SPDX-License-Identifier: MIT */
/*
 * The kqueue backend (FreeBSD, macOS, NetBSD, OpenBSD; on Linux,
 * libkqueue, for tests), on the readiness core (readiness.c), which decides
 * what each fd's interest is; this file only tells kqueue: one knote per fd
 * and filter, EVFILT_READ for the poll(2) read bits, EVFILT_WRITE for the
 * write bits.  Timers come from the loop's heap as the kevent timeout.
 *
 * Kernels differ, and libkqueue differs from them (shared/vendor/README);
 * the rules here hold on every side:
 * - Changes go in with EV_RECEIPT, an event list as long as the change
 *   list and a zero timeout, and the receipts are read whatever kevent
 *   returns: an error reaches the operation that caused it, at once.
 * - An existing knote is never added again (libkqueue refuses that
 *   without EV_CLEAR): filters are added and deleted one by one, and a
 *   knote whose flags change is deleted first.
 * - close() may leave an fd's knotes behind (libkqueue) and the number
 *   comes back for another file: the core marks an operation on an idle
 *   fd "fresh", and its filters are then deleted and added anew.
 *   xev_close has them deleted before it closes.
 * - Deletes may fail with ENOENT or EBADF for a closed fd: both mean gone.
 * - A stuck fd (an error no operation clears) gets EV_CLEAR knotes,
 *   added again by every watch: reported once per watch and then only
 *   on new readiness, as the core asks.
 * - EV_EOF with an error in fflags: the error has been taken off the
 *   socket (libkqueue reads SO_ERROR; we read it too, so that a BSD kernel
 *   does not report it twice), so it is handed to the core to give to the
 *   next operation.  On anything but a socket fflags is not an error
 *   (libkqueue says EIO for a pipe) and is ignored.
 * - Wake-ups: EVFILT_USER, added at init with EV_CLEAR and triggered with
 *   the same (null) udata, where kevent is the kernel's: a system call, safe
 *   in the signal handler that wakes loops.  libkqueue's kevent takes
 *   user-space locks, so there, and where EVFILT_USER is missing, the
 *   wake-up primitive's read end is an EVFILT_READ knote instead
 *   (XEV_KQUEUE_USER_WAKE=1 makes libkqueue builds use EVFILT_USER, for
 *   tests that send no signals).
 * - Process waits: EVFILT_PROC with NOTE_EXIT, one knote per pid however
 *   many waits; ESRCH when adding means the child already ended.  The loop
 *   reaps (process.c); nothing here calls waitpid.
 */
#include "backend.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/event.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_EVENTS 256

#ifdef HAVE_LIBKQUEUE_DRAIN_PENDING_CLOSE
/* Exported by libkqueue for deterministic teardown, not in its header. */
extern void libkqueue_drain_pending_close(void);
#endif

#if HAVE_DECL_EVFILT_USER
#define HAVE_USER_WAKE 1
#endif

#ifdef NOTE_EXITSTATUS
#define EXIT_NOTES (NOTE_EXIT | NOTE_EXITSTATUS)
#else
#define EXIT_NOTES NOTE_EXIT
#endif

/* What the read and write filters stand for.  Urgent data (POLLPRI) and
 * the band bits have no filter every kqueue has: not watched. */
#ifdef POLLRDHUP
#define READ_BITS (POLLIN | POLLRDNORM | POLLRDHUP)
#else
#define READ_BITS (POLLIN | POLLRDNORM)
#endif
#define WRITE_BITS (POLLOUT | POLLWRNORM)

/* slot->priv: the knotes are EV_CLEAR (the slot was stuck). */
#define PRIV_CLEAR 1u

struct kqueue_state {
	struct xev__rd core;    /* first: the readiness core's */
	int kq;
	bool user_wake;         /* EVFILT_USER, else core.wake under EVFILT_READ */
	struct xev__list exits; /* process waits the kernel holds */
};
XEV__STATE_FITS(struct kqueue_state);

static struct kqueue_state *kq_of(struct xev__loop *l)
{
	return XEV__BACKEND_STATE(l, struct kqueue_state);
}

static int new_kqueue(void)
{
	int kq = XEV__SYS(KQUEUE, kqueue()), rc;

	if (kq < 0)
		return -errno;
	/* A kqueue is not inherited across fork(); an exec'd program must
	 * not get it either. */
	rc = xev__fd_set_flags(kq, false);
	if (rc < 0) {
		close(kq);
		return rc;
	}
	return kq;
}

static void close_kqueue(int kq)
{
	close(kq);
#ifdef HAVE_LIBKQUEUE_DRAIN_PENDING_CLOSE
	/* libkqueue frees a closed kqueue (its descriptors, its memory) on a
	 * thread of its own, later; a loop's deinit (and a probe) must have
	 * released them on return. */
	libkqueue_drain_pending_close();
#endif
}

static int kqueue_probe(void)
{
	int kq = new_kqueue();

	if (kq < 0)
		return kq;
	close_kqueue(kq);
	return 0;
}

/*
 * Applies n changes (at most 4), each with EV_RECEIPT, without waiting;
 * err[i] gets the errno of change i, 0 if it took.  The receipts are
 * read whatever kevent returns (libkqueue may not count them).  Returns
 * -errno if the call itself failed.
 */
static int apply(int kq, struct kevent *ch, int n, int *err)
{
	struct kevent out[4];
	struct timespec zero = { 0, 0 };

	for (int i = 0; i < n; i++) {
		ch[i].flags |= EV_RECEIPT;
		err[i] = 0;
	}
	unsigned taken = 0;

	memset(out, 0, sizeof(out));
	/* Interrupted, it may not have applied them: again (adding twice
	 * changes nothing; deleting twice says ENOENT, which means gone). */
	while (XEV__SYS(KEVENT, kevent(kq, ch, n, out, n, &zero)) < 0) {
		if (errno != EINTR)
			return -errno;
		memset(out, 0, sizeof(out));
	}
	/* One receipt per change, in order; matched by ident and filter all
	 * the same, a change being able to name the same knote twice. */
	for (int i = 0; i < n; i++) {
		if (!(out[i].flags & EV_ERROR))
			continue;
		for (int j = 0; j < n; j++) {
			int at = (i + j) % n;
			if (!(taken & 1u << at) && out[i].ident == ch[at].ident &&
			    out[i].filter == ch[at].filter) {
				taken |= 1u << at;
				err[at] = (int)out[i].data;
				break;
			}
		}
	}
	return 0;
}

/* What an error adding a knote for an fd means for its operations: the
 * kernel cannot wait for such a file (-EPERM: the core does it another
 * way), or the errno as it is. */
static int add_error(int e)
{
	switch (e) {
	case EINVAL:
	case ENODEV:
	case EPERM:
#ifdef ENOTSUP
	case ENOTSUP:
#endif
#if defined(EOPNOTSUPP) && (!defined(ENOTSUP) || EOPNOTSUPP != ENOTSUP)
	case EOPNOTSUPP:
#endif
		return -EPERM;
	default:
		return -e;
	}
}

/* Deletes fd's read and write knotes; ENOENT and EBADF mean gone already. */
static void delete_both(struct xev__loop *l, int fd)
{
	struct kevent ch[2];
	int err[2];

	EV_SET(&ch[0], (uintptr_t)fd, EVFILT_READ, EV_DELETE, 0, 0, 0);
	EV_SET(&ch[1], (uintptr_t)fd, EVFILT_WRITE, EV_DELETE, 0, 0, 0);
	apply(kq_of(l)->kq, ch, 2, err);
}

/* Appends a change for fd (no side effects inside EV_SET's arguments: it
 * is a macro). */
static void add_change(struct kevent *ch, int *n, int fd, int filter, unsigned flags)
{
	struct kevent *k = &ch[(*n)++];
	EV_SET(k, (uintptr_t)fd, filter, flags, 0, 0, 0);
}

static int kqueue_watch(struct xev__loop *l, int fd, struct xev__fdslot *s, uint32_t want, bool fresh)
{
	bool had_r = s->registered && (s->mask & READ_BITS), had_w = s->registered && (s->mask & WRITE_BITS);
	bool want_r = (want & READ_BITS) != 0, want_w = (want & WRITE_BITS) != 0;
	/* Knotes are added anew when the fd may be another file, or when
	 * they are or must become EV_CLEAR (which adding re-arms). */
	bool renew = fresh || s->stuck || (s->priv & PRIV_CLEAR);
	unsigned add = EV_ADD | (s->stuck ? EV_CLEAR : 0);
	struct kevent ch[4];
	int err[4], n = 0, rc;

	if (fresh && (rc = xev__rd_check_pollable(fd)) < 0) {
		if (s->registered)
			delete_both(l, fd);
		return rc;
	}
	if (renew) {
		add_change(ch, &n, fd, EVFILT_READ, EV_DELETE);
		add_change(ch, &n, fd, EVFILT_WRITE, EV_DELETE);
		had_r = had_w = false;
	}
	if (want_r && !had_r)
		add_change(ch, &n, fd, EVFILT_READ, add);
	else if (!want_r && had_r)
		add_change(ch, &n, fd, EVFILT_READ, EV_DELETE);
	if (want_w && !had_w)
		add_change(ch, &n, fd, EVFILT_WRITE, add);
	else if (!want_w && had_w)
		add_change(ch, &n, fd, EVFILT_WRITE, EV_DELETE);
	if (n == 0)
		return 0;
	rc = apply(kq_of(l)->kq, ch, n, err);
	for (int i = 0; i < n && rc == 0; i++)
		if (err[i] && (ch[i].flags & EV_ADD))
			rc = add_error(err[i]);
	if (rc < 0) {
		/* Nothing stays registered, as the core will believe. */
		delete_both(l, fd);
		return rc;
	}
	s->priv = s->stuck ? PRIV_CLEAR : 0;
	return 0;
}

static void kqueue_unwatch(struct xev__loop *l, int fd, struct xev__fdslot *s)
{
	delete_both(l, fd);
	s->priv = 0;
}

static const struct xev__rd_hooks kqueue_hooks = {
	.watch = kqueue_watch,
	.unwatch = kqueue_unwatch,
	.inexact = true,
	.watchable = READ_BITS | WRITE_BITS,
};

/* Libkqueue builds wake through the primitive unless a test asks. */
static bool use_user_wake(void)
{
#if defined(HAVE_USER_WAKE) && defined(LIBKQUEUE)
	const char *s = getenv("XEV_KQUEUE_USER_WAKE");
	return s && strcmp(s, "1") == 0;
#elif defined(HAVE_USER_WAKE)
	return true;
#else
	return false;
#endif
}

/* The knote that ends a wait when another thread wakes the loop. */
static int add_wake(struct xev__loop *l)
{
	struct kqueue_state *k = kq_of(l);
	struct kevent ch;
	int err, rc;

#ifdef HAVE_USER_WAKE
	if (k->user_wake)
		EV_SET(&ch, 0, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, 0);
	else
#endif
		EV_SET(&ch, (uintptr_t)k->core.wake.rfd, EVFILT_READ, EV_ADD, 0, 0, 0);
	rc = apply(k->kq, &ch, 1, &err);
	return rc < 0 ? rc : -err;
}

static int kqueue_init(struct xev__loop *l, const struct xev__options *o)
{
	struct kqueue_state *k = kq_of(l);
	int rc;

	(void)o;
	k->kq = new_kqueue();
	if (k->kq < 0)
		return k->kq;
	k->user_wake = use_user_wake();
	k->exits.head = k->exits.tail = NULL;
	rc = xev__rd_init(l, &kqueue_hooks, !k->user_wake);
	if (rc == 0)
		rc = add_wake(l);
	if (rc < 0) {
		xev__rd_deinit(l);
		close_kqueue(k->kq);
	}
	return rc;
}

static void kqueue_deinit(struct xev__loop *l)
{
	struct kqueue_state *k = kq_of(l);
	struct xev__completion *c;

	while ((c = xev__list_pop(&k->exits)))
		c->state = XEV__DEAD;
	xev__rd_deinit(l);
	close_kqueue(k->kq);
}

static void kqueue_wake(struct xev__loop *l)
{
	struct kqueue_state *k = kq_of(l);

#ifdef HAVE_USER_WAKE
	if (k->user_wake) {
		struct kevent ch;
		EV_SET(&ch, 0, EVFILT_USER, 0, NOTE_TRIGGER, 0, 0);
		while (XEV__SYS(WAKEUP_WRITE, kevent(k->kq, &ch, 1, NULL, 0, NULL)) < 0 && errno == EINTR)
			;
		return;
	}
#endif
	xev__wakeup_signal(&k->core.wake);
}

/* ---- process waits ------------------------------------------------- */

/* A process wait keeps its pid in u.io.offset (it has no fd). */
static pid_t pid_of(const struct xev__completion *c)
{
	return (pid_t)c->u.io.offset;
}

static bool pid_waited(struct kqueue_state *k, pid_t pid)
{
	for (struct xev__completion *c = k->exits.head; c; c = c->next)
		if (pid_of(c) == pid)
			return true;
	return false;
}

/* The child ended: every wait for it completes, and the loop reaps. */
static void exited(struct xev__loop *l, pid_t pid, int result)
{
	struct kqueue_state *k = kq_of(l);
	struct xev__completion *c, *next;

	for (c = k->exits.head; c; c = next) {
		next = c->next;
		if (pid_of(c) != pid)
			continue;
		xev__list_unlink(&k->exits, c);
		xev__complete(l, c, result);
	}
}

static void kqueue_exit_wait(struct xev__loop *l, struct xev__completion *c, pid_t pid)
{
	struct kqueue_state *k = kq_of(l);
	bool known = pid_waited(k, pid);
	struct kevent ch;
	int err = 0, rc = 0;

	c->u.io.offset = (uint64_t)pid;
	c->state = XEV__ACTIVE;
	xev__list_push(&k->exits, c);
	if (known)
		return; /* its knote is there already */
	EV_SET(&ch, (uintptr_t)pid, EVFILT_PROC, EV_ADD | EV_ONESHOT, EXIT_NOTES, 0, 0);
	rc = apply(k->kq, &ch, 1, &err);
	if (rc == 0 && err == ESRCH)
		exited(l, pid, 0); /* ended before we asked: reap it now */
	else if (rc < 0 || err)
		exited(l, pid, rc < 0 ? rc : -err);
}

static int kqueue_cancel(struct xev__loop *l, struct xev__completion *t, struct xev__completion *canceller)
{
	struct kqueue_state *k = kq_of(l);
	pid_t pid;

	if (xev__io_kind(t) != XEV__OP_PROCESS)
		return xev__rd_cancel(l, t, canceller);
	pid = pid_of(t);
	xev__list_unlink(&k->exits, t);
	if (!pid_waited(k, pid)) {
		struct kevent ch;
		int err;
		EV_SET(&ch, (uintptr_t)pid, EVFILT_PROC, EV_DELETE, 0, 0, 0);
		apply(k->kq, &ch, 1, &err);
	}
	xev__complete(l, t, -ECANCELED);
	return 0;
}

/* ---- waiting --------------------------------------------------------- */

/* The socket error EV_EOF carries in fflags, now off the socket, or 0
 * when fd is no socket (then fflags is no socket error). */
static int socket_error(int fd, unsigned fflags)
{
	int e = 0;
	socklen_t len = sizeof(e);

	if (!fflags)
		return 0;
	/* Reading it takes it off a BSD kernel's socket too, as libkqueue
	 * already did: the operation that gets it is the only one. */
	if (XEV__SYS(SOCKOPT, getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len)) < 0)
		return 0;
	return (int)fflags;
}

static void on_event(struct xev__loop *l, const struct kevent *ev)
{
	struct kqueue_state *k = kq_of(l);
	int fd = (int)ev->ident, err = 0;
	uint32_t revents;
	struct xev__fdslot *s;

	switch (ev->filter) {
#ifdef HAVE_USER_WAKE
	case EVFILT_USER:
		return; /* EV_CLEAR: nothing to consume */
#endif
	case EVFILT_PROC:
		if (ev->fflags & NOTE_EXIT)
			exited(l, (pid_t)ev->ident, 0);
		return;
	case EVFILT_READ:
		if (!k->user_wake && fd == k->core.wake.rfd) {
			xev__wakeup_drain(&k->core.wake);
			return;
		}
		revents = POLLIN;
		break;
	case EVFILT_WRITE:
		revents = POLLOUT;
		break;
	default:
		return;
	}
	s = xev__rd_slot(l, fd);
	if (!s || !s->registered)
		return; /* no longer watched: a report of an older knote */
	if (ev->flags & EV_EOF) {
		revents |= POLLHUP;
		err = socket_error(fd, ev->fflags);
	}
	xev__rd_ready(l, fd, s, revents, err);
}

static int kqueue_wait(struct xev__loop *l, int64_t timeout_ns)
{
	struct kevent evs[MAX_EVENTS];
	struct timespec ts, *tsp = NULL;
	int n;

	if (xev__rd_skip_poll(l, timeout_ns) && !kq_of(l)->exits.head)
		return 0;
	timeout_ns = xev__rd_recheck_stuck(l, timeout_ns);
	if (timeout_ns >= 0) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000);
		ts.tv_nsec = (long)(timeout_ns % 1000000000);
		tsp = &ts;
	}
	n = XEV__SYS(KEVENT, kevent(kq_of(l)->kq, NULL, 0, evs, MAX_EVENTS, tsp));
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++)
		on_event(l, &evs[i]);
	return 0;
}

const struct xev__backend xev__backend_kqueue = {
	.id = XEV_BACKEND_KQUEUE,
	.probe = kqueue_probe,
	.init = kqueue_init,
	.deinit = kqueue_deinit,
	.wait = kqueue_wait,
	.submit = xev__rd_submit,
	.cancel = kqueue_cancel,
	.wake = kqueue_wake,
	.exit_wait = kqueue_exit_wait,
#ifdef LIBKQUEUE
	.explicit_only = true, /* an emulation, for tests */
#endif
};
