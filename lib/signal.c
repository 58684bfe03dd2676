/* SPDX-License-Identifier: MIT */
/*
 * Signal watchers.  A signal belongs to the process, not to a loop, so the
 * first watcher of a signal installs one process-wide handler; the handler
 * fires every watcher of that signal the way xev_async_notify does (a flag,
 * and the loop's wake-up if the loop sleeps).  That works
 * whichever thread the kernel picks to run the handler, which signalfd
 * cannot promise: it only sees a signal that every thread blocks, and a
 * library cannot make every thread of a program block anything.
 *
 * The registry (which watchers want which signal, and what the program had
 * installed before us) is shared by every thread and by the handler.  It is
 * guarded by a spin lock that ordinary code takes with every signal blocked
 * in its thread, so the handler can never interrupt a holder on the same
 * thread; on other threads it waits for a section that only makes a
 * sigaction call or relinks a list.
 */
#include "internal.h"

#include <pthread.h>
#include <string.h>

struct sigslot {
	unsigned users;          /* watchers (and SIGCHLD fallbacks) of it */
	bool reblock;            /* it was blocked in the installing thread */
	struct sigaction old;    /* what the program had */
	struct xev__sigsub *head;
};

static struct sigslot slots[NSIG];
static atomic_flag registry = ATOMIC_FLAG_INIT;

_Static_assert(ATOMIC_INT_LOCK_FREE == 2 && ATOMIC_POINTER_LOCK_FREE == 2,
	       "the signal handler needs lock-free atomics");

static void spin_lock(void)
{
	while (atomic_flag_test_and_set_explicit(&registry, memory_order_acquire))
		;
}

static void spin_unlock(void)
{
	atomic_flag_clear_explicit(&registry, memory_order_release);
}

/*
 * fork() copies the lock as it is at that instant: held by another thread
 * then, it would stay held in the child for good, and the child's first
 * signal init, or the handler, would spin with every signal blocked.  The
 * forking thread takes it across fork(), so both sides start with it free
 * and the registry whole.
 */
static pthread_once_t fork_handlers_once = PTHREAD_ONCE_INIT;
static sigset_t fork_saved; /* the forking thread's mask; it holds the lock */

static void before_fork(void)
{
	xev__signal_registry_lock(&fork_saved);
}

static void after_fork(void)
{
	xev__signal_registry_unlock(&fork_saved);
}

static void install_fork_handlers(void)
{
	pthread_atfork(before_fork, after_fork, after_fork);
}

void xev__signal_registry_lock(sigset_t *saved)
{
	sigset_t all;
	pthread_once(&fork_handlers_once, install_fork_handlers);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, saved);
	spin_lock();
}

void xev__signal_registry_unlock(const sigset_t *saved)
{
	spin_unlock();
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}

static void on_signal(int signo, siginfo_t *info, void *ctx);

/* The program's own SIGCHLD handler still runs: it may be reaping children
 * we do not watch, and our fallback must not take that away.  A program that
 * saved our handler and put it back would make us call ourselves forever. */
static void chain(const struct sigaction *old, int signo, siginfo_t *info, void *ctx)
{
	if (old->sa_flags & SA_SIGINFO) {
		if (old->sa_sigaction && old->sa_sigaction != on_signal)
			old->sa_sigaction(signo, info, ctx);
	} else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(signo);
	}
}

static void on_signal(int signo, siginfo_t *info, void *ctx)
{
	int saved_errno = errno;
	struct sigaction old;

	/* Every signal is blocked while this runs (sa_mask), so no holder of
	 * the lock is suspended beneath us on this thread. */
	spin_lock();
	for (struct xev__sigsub *s = slots[signo].head; s; s = s->next)
		xev__async_fire(&s->a);
	old = slots[signo].old;
	spin_unlock();
	if (signo == SIGCHLD)
		chain(&old, signo, info, ctx);
	errno = saved_errno;
}

static int install(int signo, struct sigslot *slot)
{
	struct sigaction sa;

	if (XEV__SYS(SIGACTION, sigaction(signo, NULL, &slot->old)) < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigfillset(&sa.sa_mask);
	/* A program handler that did not ask for stops still does not get
	 * them; with no program handler, stops would only wake us up. */
	if (signo == SIGCHLD &&
	    (slot->old.sa_flags & SA_NOCLDSTOP || (!(slot->old.sa_flags & SA_SIGINFO) &&
						  slot->old.sa_handler == SIG_DFL)))
		sa.sa_flags |= SA_NOCLDSTOP;
	return XEV__SYS(SIGACTION, sigaction(signo, &sa, NULL)) < 0 ? -errno : 0;
}

/* Is s (a watcher about to be initialised) still registered?  Clearing a
 * registered watcher would corrupt the list the handler walks.  Only the
 * registry is read: the watcher may be uninitialised memory. */
bool xev__signal_registered(const struct xev__sigsub *s)
{
	bool found = false;
	sigset_t saved;

	xev__signal_registry_lock(&saved);
	for (int signo = 1; signo < NSIG && !found; signo++)
		for (struct xev__sigsub *k = slots[signo].head; k && !found; k = k->next)
			found = k == s;
	xev__signal_registry_unlock(&saved);
	return found;
}

/* Adds s to the watchers of signo, installing the handler for the first. */
int xev__signal_subscribe(struct xev__sigsub *s, int signo)
{
	struct sigslot *slot = &slots[signo];
	sigset_t saved;
	int rc = 0;

	xev__signal_registry_lock(&saved);
	if (slot->users == 0) {
		rc = install(signo, slot);
		/* A blocked signal would never reach the handler from this
		 * thread; unblocked here, it is blocked again by the last
		 * deinit (saved is the mask the unlock puts back). */
		slot->reblock = rc == 0 && sigismember(&saved, signo) == 1;
		if (slot->reblock)
			sigdelset(&saved, signo);
	}
	if (rc == 0) {
		slot->users++;
		s->signo = signo;
		s->prev = NULL;
		s->next = slot->head;
		if (slot->head)
			slot->head->prev = s;
		slot->head = s;
	}
	xev__signal_registry_unlock(&saved);
	return rc;
}

/* Removes s; the last watcher gives the program back what it had. */
void xev__signal_unsubscribe(struct xev__sigsub *s)
{
	struct sigslot *slot = &slots[s->signo];
	sigset_t saved;

	xev__signal_registry_lock(&saved);
	if (s->prev)
		s->prev->next = s->next;
	else
		slot->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	if (--slot->users == 0) {
		sigaction(s->signo, &slot->old, NULL);
		if (slot->reblock)
			sigaddset(&saved, s->signo);
		slot->reblock = false;
	}
	/* After this no handler still holds the loop this watcher named. */
	atomic_store(&s->a.loop, NULL);
	xev__signal_registry_unlock(&saved);
}

static struct xev__sigsub *signal_of(xev_watcher *w)
{
	return (struct xev__sigsub *)(void *)w;
}

/* Signals a watcher cannot sensibly take: the kernel refuses a handler for
 * SIGKILL and SIGSTOP, and a handler that returns from a real fault runs
 * the faulting instruction again, forever. */
static bool watchable(int signo)
{
	switch (signo) {
	case SIGKILL:
	case SIGSTOP:
	case SIGSEGV:
	case SIGBUS:
	case SIGFPE:
	case SIGILL:
		return false;
	default:
		return signo > 0 && signo < NSIG;
	}
}

int xev_signal_init(xev_watcher *w, int signo)
{
	struct xev__sigsub *s = signal_of(w);
	int rc;

	if (!w || !watchable(signo))
		return -EINVAL;
	if (xev__signal_registered(s))
		return -EBUSY;
	memset(w, 0, sizeof(*w));
	atomic_init(&s->a.pending, 0);
	atomic_init(&s->a.loop, NULL);
	s->a.fired_result = signo; /* what each wait completes with */
	rc = xev__signal_subscribe(s, signo);
	if (rc < 0)
		return rc;
	s->a.magic = XEV__SIGNAL_MAGIC;
	return 0;
}

void xev_signal_deinit(xev_watcher *w)
{
	struct xev__sigsub *s = signal_of(w);

	if (!w || s->a.magic != XEV__SIGNAL_MAGIC)
		return;
	s->a.magic = 0;
	xev__signal_unsubscribe(s);
}

void xev_signal_wait(xev_watcher *w, xev_loop *loop, xev_completion *c, void *userdata,
		     xev_cb cb)
{
	xev__async_wait_on(w ? &signal_of(w)->a : NULL, XEV__SIGNAL_MAGIC, XEV__OP_SIGNAL_WAIT, loop,
			   c, userdata, cb);
}
