/* SPDX-License-Identifier: MIT */
/*
 * Async wake-ups.  A watcher is two words shared between threads: a
 * pending flag and the loop a wait is queued on.  notify sets the flag and,
 * only when it was clear and that loop is blocked in the kernel, writes the
 * loop's wake-up fd: a burst of notifies, or notifies to a loop that is busy
 * running callbacks, cost no syscall.  The loop consumes the flag after
 * every wait, so a notify is never lost, and one made before the wait was
 * queued still completes it.
 */
#include "internal.h"

#include <string.h>

static struct xev__async *async_of(xev_watcher *w)
{
	return (struct xev__async *)(void *)w;
}

int xev_async_init(xev_watcher *w)
{
	struct xev__async *a = async_of(w);
	if (!w)
		return -EINVAL;
	memset(w, 0, sizeof(*w));
	a->magic = XEV__ASYNC_MAGIC;
	atomic_init(&a->pending, 0);
	atomic_init(&a->loop, NULL);
	return 0;
}

void xev_async_deinit(xev_watcher *w)
{
	struct xev__async *a = async_of(w);
	if (!w || a->magic != XEV__ASYNC_MAGIC)
		return;
	XEV__MISUSE_IF(a->waiters > 0, "the watcher still has a wait queued on a loop "
				       "(cancel it and let its callback run first)");
	atomic_store(&a->loop, NULL);
	a->magic = 0;
}

int xev_async_notify(xev_watcher *w)
{
	struct xev__async *a = async_of(w);

	if (!w || a->magic != XEV__ASYNC_MAGIC)
		return -EINVAL;
	xev__async_fire(a);
	return 0;
}

/* Async-signal-safe: the signal handler fires watchers with it too. */
void xev__async_fire(struct xev__async *a)
{
	struct xev__loop *l;

	/* Always a read-modify-write, even when the flag is already set: it
	 * orders the caller's earlier writes before the loop's consumption of
	 * the flag, so the woken callback sees them. */
	if (atomic_exchange(&a->pending, 1))
		return; /* coalesced with a notify not yet consumed */
	l = atomic_load(&a->loop);
	if (l)
		xev__loop_signal(l);
}

void xev_async_wait(xev_watcher *w, xev_loop *loop, xev_completion *c, void *userdata,
		    xev_async_cb cb)
{
	xev__async_wait_on(w ? async_of(w) : NULL, XEV__ASYNC_MAGIC, XEV__OP_ASYNC_WAIT, loop, c,
			   userdata, cb);
}

/* Starts a wait on a watcher with an async header of the given kind. */
void xev__async_wait_on(struct xev__async *a, uint32_t magic, enum xev__op op, xev_loop *loop,
			xev_completion *c, void *userdata, xev_cb cb)
{
	struct xev__completion *k = xev__comp(c);
	struct xev__loop *l = xev__loop(loop);

	if (!loop || l->magic != XEV__LOOP_MAGIC || !c)
		return;
	xev__prepare(l, k, op, userdata, cb);
	k->u.async.w = a;
	k->loop = l;
	k->flags = 0;
	k->result = 0;
	l->active++;
	if (!a || a->magic != magic) {
		xev__complete(l, k, -EINVAL);
		return;
	}
	if (op == XEV__OP_SIGNAL_WAIT)
		l->signal_handler_seen = true;
	xev__async_submit(l, k);
}

/* Starts waiting: from here on a notify signals this loop. */
void xev__async_submit(struct xev__loop *l, struct xev__completion *c)
{
	c->state = XEV__ACTIVE;
	xev__list_push(&l->async_waits, c);
	xev__async_listen(l, c->u.async.w);
}

/* A wait on a starts: from here on a notify of a signals l.  The loop
 * looks at a's pending flag before its next wait, since a notify may have
 * come before the wait was queued. */
void xev__async_listen(struct xev__loop *l, struct xev__async *a)
{
	a->waiters++;
	atomic_store(&a->loop, l);
	atomic_store(&l->async_pending, 1);
}

void xev__async_scan(struct xev__loop *l)
{
	struct xev__completion *c = l->async_waits.head, *next;

	for (; c; c = next) {
		struct xev__async *a = c->u.async.w;
		next = c->next;
		if (!atomic_load(&a->pending) || !atomic_exchange(&a->pending, 0))
			continue;
		xev__list_unlink(&l->async_waits, c);
		xev__async_release(a);
		xev__complete(l, c, a->fired_result);
	}
}

int xev__async_cancel(struct xev__loop *l, struct xev__completion *t, struct xev__completion *canceller)
{
	(void)canceller;
	xev__list_unlink(&l->async_waits, t);
	xev__async_release(t->u.async.w);
	xev__complete(l, t, -ECANCELED);
	return 0;
}

void xev__async_loop_gone(struct xev__loop *l)
{
	struct xev__completion *c;
	while ((c = xev__list_pop(&l->async_waits))) {
		xev__async_release(c->u.async.w);
		c->state = XEV__DEAD;
	}
}

/* A wait on a has ended.  Once none is left, a notify only sets the flag:
 * the loop may be gone by the time the watcher is notified again. */
void xev__async_release(struct xev__async *a)
{
	if (a->waiters > 0 && --a->waiters == 0)
		atomic_store(&a->loop, NULL);
}
