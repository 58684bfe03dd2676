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
