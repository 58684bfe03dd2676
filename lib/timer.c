/* SPDX-License-Identifier: MIT */
/*
 * Timers.  They live in the loop's heap in user space on every backend:
 * the kernel only ever sees one deadline, the nearest, as the wait timeout.
 * The watcher holds nothing; it exists for the original's API.
 */
#include "internal.h"

#include <string.h>

int xev_timer_init(xev_watcher *w)
{
	if (!w)
		return -EINVAL;
	memset(w, 0, sizeof(*w));
	((struct xev__timer_watcher *)(void *)w)->magic = XEV__TIMER_MAGIC;
	return 0;
}

void xev_timer_deinit(xev_watcher *w)
{
	if (w)
		((struct xev__timer_watcher *)(void *)w)->magic = 0;
}

static bool usable_loop(xev_loop *loop)
{
	return loop && xev__loop(loop)->magic == XEV__LOOP_MAGIC;
}

void xev_timer_run(xev_watcher *w, xev_loop *loop, xev_completion *c, uint64_t next_ms,
		   void *userdata, xev_timer_cb cb)
{
	(void)w;
	if (!usable_loop(loop) || !c)
		return;
	xev__prepare(xev__loop(loop), xev__comp(c), XEV__OP_TIMER, userdata, cb);
	xev__timer_start(xev__loop(loop), xev__comp(c), next_ms);
}

void xev_timer_reset(xev_watcher *w, xev_loop *loop, xev_completion *c, xev_completion *c_cancel,
		     uint64_t next_ms, void *userdata, xev_timer_cb cb)
{
	struct xev__loop *l = xev__loop(loop);
	struct xev__completion *t = xev__comp(c);

	(void)c_cancel; /* moving a timer within our heap needs no cancellation */
	if (!usable_loop(loop) || !c)
		return;
	if (t->state == XEV__DEAD) {
		xev_timer_run(w, loop, c, next_ms, userdata, cb);
		return;
	}
	/* In use for something else, or on another loop: not ours to touch. */
	if (t->op != XEV__OP_TIMER || t->loop != l) {
		XEV__MISUSE("the completion is in flight as another operation or on another loop");
		return;
	}
	xev__debug_check_thread(l, "xev_timer_reset");
	t->userdata = userdata;
	t->cb = cb ? cb : t->cb;
	xev__timer_restart(l, t, next_ms);
}

void xev_timer_cancel(xev_watcher *w, xev_loop *loop, xev_completion *c, xev_completion *c_cancel,
		      void *userdata, xev_timer_cb cb)
{
	struct xev__completion *k = xev__comp(c_cancel);

	(void)w;
	if (!usable_loop(loop) || !c_cancel)
		return;
	xev__prepare(xev__loop(loop), k, XEV__OP_CANCEL, userdata, cb);
	k->u.cancel.target = c ? xev__comp(c) : NULL;
	xev__add(xev__loop(loop), k);
}

#define NS_PER_MS INT64_C(1000000)

static int64_t deadline_after(struct xev__loop *l, uint64_t ms)
{
	if (ms >= (uint64_t)(INT64_MAX - l->now) / NS_PER_MS)
		return INT64_MAX;
	return l->now + (int64_t)ms * NS_PER_MS;
}

void xev__timer_start(struct xev__loop *l, struct xev__completion *c, uint64_t ms)
{
	c->u.timer.ms = ms;
	c->u.timer.deadline = deadline_after(l, ms);
	c->loop = l;
	c->flags = 0;
	c->result = 0;
	c->state = XEV__ACTIVE;
	l->active++;
	xev__heap_insert(l, c);
}

void xev__timer_restart(struct xev__loop *l, struct xev__completion *c, uint64_t ms)
{
	c->u.timer.ms = ms;
	c->u.timer.deadline = deadline_after(l, ms);
	if (c->state == XEV__ACTIVE) {
		xev__heap_remove(l, c);
		xev__heap_insert(l, c);
	} else if (c->state == XEV__READY) {
		/* Expired, callback not yet run: it goes back instead. */
		c->flags |= XEV__F_RESET | XEV__F_SETTLE;
	}
}

void xev__timer_submit(struct xev__loop *l, struct xev__completion *c)
{
	c->state = XEV__ACTIVE;
	xev__heap_insert(l, c);
}

int xev__timer_cancel(struct xev__loop *l, struct xev__completion *t, struct xev__completion *canceller)
{
	(void)canceller;
	xev__heap_remove(l, t);
	xev__complete(l, t, -ECANCELED);
	return 0;
}

/* XEV_REARM: the same interval, counted from now. */
void xev__timer_rearm(struct xev__loop *l, struct xev__completion *c)
{
	c->u.timer.deadline = deadline_after(l, c->u.timer.ms);
	c->state = XEV__ACTIVE;
	xev__heap_insert(l, c);
}

bool xev__timer_settle(struct xev__loop *l, struct xev__completion *c)
{
	if (!(c->flags & XEV__F_RESET))
		return true;
	c->flags = 0;
	c->state = XEV__ACTIVE;
	xev__heap_insert(l, c);
	return false;
}
