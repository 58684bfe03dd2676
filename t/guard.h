/* SPDX-License-Identifier: MIT */
/*
 * A loop with a guard timer, for tests that wait for something outside
 * the loop (a child, a signal).  wait_for re-arms the guard to 5 s, so a
 * lost completion fails a check instead of hanging the test, while the
 * loop still blocks in the kernel between events: nothing ticks, so a
 * lost wake-up shows.
 */
#ifndef XEV_T_GUARD_H
#define XEV_T_GUARD_H

#include "tap.h"

struct ctx {
	xev_loop loop;
	xev_watcher tw;
	xev_completion gc, gcc;
	int fired;
};

static inline int dead(xev_completion *c)
{
	return xev_completion_state(c) == XEV_COMPLETION_DEAD;
}

static inline xev_cb_action guard_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct ctx *x = ud;
	(void)l, (void)c;
	if (result == 0)
		x->fired++;
	return XEV_DISARM;
}

static inline void ctx_init(struct ctx *x, xev_backend b)
{
	tap_loop_init(&x->loop, b);
	xev_timer_init(&x->tw);
	xev_completion_zero(&x->gc);
	xev_completion_zero(&x->gcc);
	x->fired = 0;
}

static inline void ctx_deinit(struct ctx *x)
{
	xev_loop_deinit(&x->loop);
	xev_timer_deinit(&x->tw);
}

/* (Re)arms the 5 s guard. */
static inline void guard(struct ctx *x)
{
	x->fired = 0;
	xev_timer_reset(&x->tw, &x->loop, &x->gc, &x->gcc, 5000, x, guard_cb);
}

/* Runs the loop (ONCE, blocking) until *count reaches want or the guard
 * fires, then a few more times without waiting so that a late duplicate
 * would show.  1 if reached. */
static inline int wait_for(struct ctx *x, const int *count, int want)
{
	guard(x);
	while (*count < want && !x->fired)
		xev_loop_run(&x->loop, XEV_RUN_ONCE);
	for (int i = 0; i < 3; i++)
		xev_loop_run(&x->loop, XEV_RUN_NO_WAIT);
	return *count >= want;
}

#endif
