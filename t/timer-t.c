/* SPDX-License-Identifier: MIT */
/*
 * Timers: one-shot firing and its lower bound, deadline order within a
 * tick, XEV_REARM counted from the loop time when the callback returns,
 * xev_timer_reset (active, dead, from its own callback, expired but not yet
 * called back), xev_timer_cancel (active, fired, never started, expired,
 * other loop), NULL callbacks, saturating deadlines, a million timers, and
 * a tick with a thousand due: all fire in it, but not a timer its callbacks
 * start or reset to 0 ms, and a stop half way leaves the rest first.
 * Every check runs on every backend.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

#define GLOBAL_CHECKS 3
#define PER_BACKEND 49
#define MANY 200
#define MILLION 1000000

/* What a timer saw: calls by the "old" and the "new" callback, results,
 * the loop time of each call. */
struct rec {
	int calls, old_calls, new_calls;
	int result;
	int64_t at[16];
	int rearms;        /* XEV_REARM this many more times */
	int busy_ms;       /* busy-wait, then xev_loop_update_now, before returning */
	int64_t returned[16]; /* loop time when the callback returned */
	/* for reset / cancel from inside a callback */
	xev_watcher *w;
	xev_completion *other, *other_cancel;
	struct rec *other_ud;
	uint64_t other_ms;
	int64_t acted_at;
};

static void note(xev_loop *l, struct rec *r, int result)
{
	if (r->calls < 16)
		r->at[r->calls] = xev_loop_now(l);
	r->result = result;
	r->calls++;
}

static xev_cb_action old_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct rec *r = ud;
	(void)c;
	note(l, r, result);
	r->old_calls++;
	return XEV_DISARM;
}

static xev_cb_action new_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct rec *r = ud;
	(void)c;
	note(l, r, result);
	r->new_calls++;
	return XEV_DISARM;
}

static xev_cb_action rearm_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct rec *r = ud;
	int i = r->calls;
	(void)c;
	note(l, r, result);
	if (r->busy_ms) {
		busy_wait_ms(r->busy_ms);
		xev_loop_update_now(l);
	}
	if (i < 16)
		r->returned[i] = xev_loop_now(l);
	return r->rearms-- > 0 ? XEV_REARM : XEV_DISARM;
}

/* Resets its own completion the first time it runs. */
static xev_cb_action self_reset_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct rec *r = ud;
	note(l, r, result);
	if (r->calls == 1) {
		r->acted_at = xev_loop_now(l);
		xev_timer_reset(r->w, l, c, r->other_cancel, r->other_ms, r, self_reset_cb);
	}
	return XEV_DISARM;
}

/* Resets another timer (which expired in the same tick). */
static xev_cb_action reset_other_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct rec *r = ud;
	(void)c;
	note(l, r, result);
	r->acted_at = xev_loop_now(l);
	xev_timer_reset(r->w, l, r->other, r->other_cancel, r->other_ms, r->other_ud, new_cb);
	return XEV_DISARM;
}

/* Cancels another timer (expired in the same tick) and stops the run, so
 * the other's callback is still pending when the cancel is processed. */
static xev_cb_action cancel_other_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct rec *r = ud;
	(void)c;
	note(l, r, result);
	xev_timer_cancel(r->w, l, r->other, r->other_cancel, r->other_ud, new_cb);
	xev_loop_stop(l);
	return XEV_DISARM;
}

/* Order of many timers: userdata is the timer's next_ms. */
struct order {
	int n, bad;
	uint64_t last;
	int results_bad;
	unsigned char *fired;   /* per completion */
	xev_completion *base;
};
static struct order ord;

static xev_cb_action order_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	uint64_t ms = (uint64_t)(uintptr_t)ud;
	(void)l;
	if (ord.n > 0 && ms < ord.last)
		ord.bad++;
	if (result != 0)
		ord.results_bad++;
	ord.last = ms;
	ord.n++;
	ord.fired[c - ord.base]++;
	return XEV_DISARM;
}

static int64_t loop_now_fresh(xev_loop *l)
{
	xev_loop_update_now(l);
	return xev_loop_now(l);
}

static void check_fire(xev_backend b, const char *bn, xev_watcher *w)
{
	xev_loop loop;
	xev_completion c, cs[MANY];
	struct rec r = { 0 };
	int64_t t0, w0, wall;
	uint64_t ms[MANY];
	unsigned char fired[MANY];
	unsigned seed = 12345;
	int once = 1, rc;

	tap_loop_init(&loop, b);
	w0 = mono_ms();
	t0 = loop_now_fresh(&loop);
	xev_timer_run(w, &loop, &c, 25, &r, old_cb);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	wall = mono_ms() - w0;
	ok(rc == 0 && r.calls == 1 && r.result == 0, "%s: a 25 ms timer fires once with result 0", bn);
	ok(r.at[0] - t0 >= 25, "%s: not before its time: loop time +%lld ms >= 25", bn, (long long)(r.at[0] - t0));
	ok(wall >= 25, "%s: not before its time: wall clock +%lld ms >= 25", bn, (long long)wall);
	is_int(xev_completion_state(&c), XEV_COMPLETION_DEAD, "%s: the fired timer is dead", bn);

	/* MANY timers, shuffled deadlines 0..20 ms, all due in one tick. */
	for (int i = 0; i < MANY; i++)
		ms[i] = (uint64_t)(i % 21);
	for (int i = MANY - 1; i > 0; i--) {
		int j;
		uint64_t t;
		seed = seed * 1103515245u + 12345u;
		j = (int)((seed >> 8) % (unsigned)(i + 1));
		t = ms[i], ms[i] = ms[j], ms[j] = t;
	}
	memset(&ord, 0, sizeof ord);
	memset(fired, 0, sizeof fired);
	ord.fired = fired;
	ord.base = cs;
	xev_loop_update_now(&loop);
	for (int i = 0; i < MANY; i++)
		xev_timer_run(w, &loop, &cs[i], ms[i], (void *)(uintptr_t)ms[i], order_cb);
	busy_wait_ms(30);
	rc = xev_loop_run(&loop, XEV_RUN_ONCE);
	for (int i = 0; i < MANY; i++)
		if (fired[i] != 1)
			once = 0;
	ok(rc == 0 && ord.n == MANY && once && ord.results_bad == 0,
	   "%s: %d timers expiring in one tick all fire once, result 0 (%d fired)", bn, MANY, ord.n);
	ok(ord.bad == 0, "%s: they fire in deadline order (%d inversions)", bn, ord.bad);

	/* NULL callback: allowed, acts like XEV_DISARM. */
	xev_timer_run(w, &loop, &c, 1, NULL, NULL);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && xev_completion_state(&c) == XEV_COMPLETION_DEAD, "%s: a timer with a NULL callback fires", bn);

	/* The watcher argument is not used: NULL works too. */
	memset(&r, 0, sizeof r);
	xev_timer_run(NULL, &loop, &c, 1, &r, old_cb);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && r.calls == 1, "%s: xev_timer_run with a NULL watcher works", bn);

	/* A huge next_ms saturates: it never fires and does not wrap. */
	{
		/* big stays in the heap until the deinit below. */
		static xev_completion big;
		xev_completion small;
		struct rec rb = { 0 }, rs = { 0 };
		xev_timer_run(w, &loop, &big, UINT64_MAX, &rb, old_cb);
		xev_timer_run(w, &loop, &small, 5, &rs, old_cb);
		xev_loop_run(&loop, XEV_RUN_NO_WAIT);
		rc = xev_loop_run(&loop, XEV_RUN_ONCE);
		ok(rc == 0 && rs.calls == 1 && rb.calls == 0 && xev_completion_state(&big) == XEV_COMPLETION_ACTIVE,
		   "%s: next_ms UINT64_MAX does not fire (and does not wrap)", bn);
	}
	xev_loop_deinit(&loop);
}

static void check_rearm(xev_backend b, const char *bn, xev_watcher *w)
{
	xev_loop loop;
	xev_completion c;
	struct rec r = { 0 };
	int64_t t0;
	int short_gaps = 0, rc;

	tap_loop_init(&loop, b);
	r.rearms = 4;
	t0 = loop_now_fresh(&loop);
	xev_timer_run(w, &loop, &c, 10, &r, rearm_cb);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && r.calls == 5 && r.result == 0, "%s: XEV_REARM 4 times: 5 calls, result 0 (%d)", bn, r.calls);
	for (int i = 0; i < 5 && i < r.calls; i++) {
		int64_t from = i == 0 ? t0 : r.returned[i - 1];
		if (r.at[i] - from < 10) {
			diag("%s: call %d at %lld, %lld ms after the previous return", bn, i, (long long)r.at[i],
			     (long long)(r.at[i] - from));
			short_gaps++;
		}
	}
	ok(short_gaps == 0, "%s: each rearmed call comes >= next_ms after the previous one", bn);
	is_int(xev_completion_state(&c), XEV_COMPLETION_DEAD, "%s: dead after the last call disarms", bn);

	/* A rearmed timer does not fire again in the same tick. */
	memset(&r, 0, sizeof r);
	r.rearms = 1;
	xev_timer_run(w, &loop, &c, 100, &r, rearm_cb);
	xev_loop_run(&loop, XEV_RUN_ONCE);
	xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	ok(r.calls == 1 && xev_completion_state(&c) == XEV_COMPLETION_ACTIVE,
	   "%s: a rearmed 100 ms timer does not fire again at once (%d calls)", bn, r.calls);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && r.calls == 2 && r.at[1] - r.returned[0] >= 100, "%s: it fires again 100 ms later (+%lld ms)",
	   bn, (long long)(r.at[1] - r.returned[0]));

	/* 0 ms and XEV_REARM: once per tick, not a busy loop inside one. */
	memset(&r, 0, sizeof r);
	r.rearms = 1000;
	xev_timer_run(w, &loop, &c, 0, &r, rearm_cb);
	xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	is_int(r.calls, 1, "%s: a rearming 0 ms timer fires once per NO_WAIT run", bn);
	xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	is_int(r.calls, 2, "%s: and once more in the next run", bn);
	xev_loop_deinit(&loop);

	/* Counted from the loop time when the callback returns: the callback
	 * busy-waits 30 ms and refreshes the loop time. */
	tap_loop_init(&loop, b);
	memset(&r, 0, sizeof r);
	r.rearms = 2;
	r.busy_ms = 30;
	xev_timer_run(w, &loop, &c, 20, &r, rearm_cb);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	short_gaps = 0;
	for (int i = 1; i < r.calls && i < 3; i++)
		if (r.at[i] - r.returned[i - 1] < 20) {
			diag("%s: call %d %lld ms after the previous callback returned", bn, i,
			     (long long)(r.at[i] - r.returned[i - 1]));
			short_gaps++;
		}
	ok(rc == 0 && r.calls == 3 && short_gaps == 0,
	   "%s: XEV_REARM counts next_ms from the loop time when the callback returns", bn);
	xev_loop_deinit(&loop);
}

static void check_reset(xev_backend b, const char *bn, xev_watcher *w)
{
	xev_loop loop;
	xev_completion c, cc, c2, cc2;
	struct rec ro = { 0 }, rn = { 0 }, ra = { 0 };
	int64_t t_reset;
	int rc;

	tap_loop_init(&loop, b);

	/* Active timer: moved, new callback and userdata, old arming silent. */
	xev_completion_zero(&c);
	xev_completion_zero(&cc);
	xev_timer_run(w, &loop, &c, 20, &ro, old_cb);
	xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	t_reset = xev_loop_now(&loop);
	xev_timer_reset(w, &loop, &c, &cc, 60, &rn, new_cb);
	ok(xev_completion_state(&c) == XEV_COMPLETION_ACTIVE && xev_completion_state(&cc) == XEV_COMPLETION_DEAD,
	   "%s: reset of an active timer: still active, c_cancel stays dead", bn);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && ro.calls == 0, "%s: reset: the old arming never calls back", bn);
	ok(rn.calls == 1 && rn.new_calls == 1 && rn.result == 0,
	   "%s: reset: fires once with the new callback and userdata, result 0", bn);
	ok(rn.calls == 1 && rn.at[0] - t_reset >= 60, "%s: reset: fires at the new time (+%lld ms >= 60)", bn,
	   (long long)(rn.at[0] - t_reset));
	is_int(xev_completion_state(&cc), XEV_COMPLETION_DEAD, "%s: reset: c_cancel is dead after the run", bn);

	/* NULL callback keeps the old one; the userdata is replaced. */
	memset(&ro, 0, sizeof ro);
	memset(&rn, 0, sizeof rn);
	xev_timer_run(w, &loop, &c, 5, &ro, old_cb);
	xev_timer_reset(w, &loop, &c, &cc, 10, &rn, NULL);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && ro.calls == 0 && rn.calls == 1 && rn.old_calls == 1,
	   "%s: reset with a NULL callback keeps the old callback, new userdata", bn);

	/* Dead (zeroed) timer: like xev_timer_run. */
	memset(&rn, 0, sizeof rn);
	xev_completion_zero(&c);
	t_reset = loop_now_fresh(&loop);
	xev_timer_reset(w, &loop, &c, &cc, 15, &rn, new_cb);
	is_int(xev_completion_state(&c), XEV_COMPLETION_ACTIVE, "%s: reset of a zeroed timer starts it", bn);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && rn.new_calls == 1 && rn.at[0] - t_reset >= 15,
	   "%s: reset of a zeroed timer fires once, after next_ms", bn);

	/* Reset of a timer that already fired (dead again): same. */
	memset(&rn, 0, sizeof rn);
	xev_timer_reset(w, &loop, &c, &cc, 1, &rn, new_cb);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && rn.new_calls == 1, "%s: reset of a fired timer runs it again", bn);

	/* From inside the timer's own callback. */
	memset(&ra, 0, sizeof ra);
	ra.w = w;
	ra.other_cancel = &cc;
	ra.other_ms = 20;
	xev_completion_zero(&c);
	xev_timer_run(w, &loop, &c, 1, &ra, self_reset_cb);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && ra.calls == 2 && ra.at[1] - ra.acted_at >= 20,
	   "%s: reset from the timer's own callback fires once more, next_ms later (%d calls)", bn, ra.calls);

	/* Expired, callback not yet run: timer A's callback resets timer B,
	 * both due in the same tick. */
	memset(&ra, 0, sizeof ra);
	memset(&ro, 0, sizeof ro);
	memset(&rn, 0, sizeof rn);
	xev_completion_zero(&c2);
	xev_completion_zero(&cc2);
	ra.w = w;
	ra.other = &c2;
	ra.other_cancel = &cc2;
	ra.other_ud = &rn;
	ra.other_ms = 40;
	xev_loop_update_now(&loop);
	xev_timer_run(w, &loop, &c, 1, &ra, reset_other_cb);
	xev_timer_run(w, &loop, &c2, 2, &ro, old_cb);
	busy_wait_ms(10);
	rc = xev_loop_run(&loop, XEV_RUN_ONCE);
	ok(rc == 0 && ra.calls == 1 && ro.calls == 0 && rn.calls == 0 &&
		   xev_completion_state(&c2) == XEV_COMPLETION_ACTIVE,
	   "%s: reset of an expired timer before its callback: no call in that tick, still active", bn);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && ro.calls == 0 && rn.calls == 1 && rn.new_calls == 1,
	   "%s: ... it fires once, with the new callback and userdata (old %d, new %d)", bn, ro.calls, rn.calls);
	ok(rn.calls == 1 && rn.at[0] - ra.acted_at >= 40, "%s: ... next_ms after the reset (+%lld ms >= 40)", bn,
	   (long long)(rn.at[0] - ra.acted_at));
	xev_loop_deinit(&loop);
}

static void check_cancel(xev_backend b, const char *bn, xev_watcher *w)
{
	xev_loop loop, loop2;
	xev_completion c, cc, c2;
	struct rec rt = { 0 }, rk = { 0 }, ra = { 0 };
	int64_t w0;
	int rc;

	tap_loop_init(&loop, b);

	/* Active timer. */
	xev_completion_zero(&cc);
	xev_timer_run(w, &loop, &c, 10000, &rt, old_cb);
	xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	xev_timer_cancel(w, &loop, &c, &cc, &rk, new_cb);
	is_int(xev_completion_state(&cc), XEV_COMPLETION_ACTIVE, "%s: a queued cancel is active", bn);
	w0 = mono_ms();
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && rt.calls == 1 && rt.result == -ECANCELED,
	   "%s: cancel: the timer's callback runs once with -ECANCELED (%d)", bn, rt.result);
	ok(rk.calls == 1 && rk.result == 0, "%s: cancel: the cancel callback runs once with 0 (%d)", bn, rk.result);
	ok(mono_ms() - w0 < 5000, "%s: cancel: the run did not wait for the 10 s timer", bn);
	ok(xev_completion_state(&c) == XEV_COMPLETION_DEAD && xev_completion_state(&cc) == XEV_COMPLETION_DEAD,
	   "%s: cancel: both completions dead afterwards", bn);

	/* Timer that already fired. */
	memset(&rt, 0, sizeof rt);
	memset(&rk, 0, sizeof rk);
	xev_timer_run(w, &loop, &c, 1, &rt, old_cb);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	xev_timer_cancel(w, &loop, &c, &cc, &rk, new_cb);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && rt.calls == 1 && rt.result == 0 && rk.calls == 1 && rk.result == -ENOENT,
	   "%s: cancel of a timer that already fired: -ENOENT (%d)", bn, rk.result);

	/* Never started (zeroed). */
	memset(&rk, 0, sizeof rk);
	xev_completion_zero(&c);
	xev_timer_cancel(w, &loop, &c, &cc, &rk, new_cb);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && rk.calls == 1 && rk.result == -ENOENT, "%s: cancel of a zeroed timer: -ENOENT (%d)", bn,
	   rk.result);

	/* NULL target. */
	memset(&rk, 0, sizeof rk);
	xev_timer_cancel(w, &loop, NULL, &cc, &rk, new_cb);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && rk.calls == 1 && rk.result == -ENOENT, "%s: cancel of NULL: -ENOENT (%d)", bn, rk.result);

	/* Expired, callback pending: A cancels B and stops the run. */
	memset(&ra, 0, sizeof ra);
	memset(&rt, 0, sizeof rt);
	memset(&rk, 0, sizeof rk);
	ra.w = w;
	ra.other = &c2;
	ra.other_cancel = &cc;
	ra.other_ud = &rk;
	xev_loop_update_now(&loop);
	xev_timer_run(w, &loop, &c, 1, &ra, cancel_other_cb);
	xev_timer_run(w, &loop, &c2, 2, &rt, old_cb);
	busy_wait_ms(10);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && ra.calls == 1 && rt.calls == 1 && rt.result == 0 && rk.calls == 1 && rk.result == -ENOENT,
	   "%s: cancel of an expired timer whose callback is pending: it gets 0, the cancel -ENOENT (%d, %d)", bn,
	   rt.result, rk.result);

	/* A timer of another loop. */
	memset(&rt, 0, sizeof rt);
	memset(&rk, 0, sizeof rk);
	tap_loop_init(&loop2, b);
	xev_timer_run(w, &loop2, &c2, 10000, &rt, old_cb);
	xev_timer_cancel(w, &loop, &c2, &cc, &rk, new_cb);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && rk.calls == 1 && rk.result == -EINVAL, "%s: cancel of another loop's timer: -EINVAL (%d)", bn,
	   rk.result);
	xev_loop_run(&loop2, XEV_RUN_NO_WAIT);
	ok(rt.calls == 0 && xev_completion_state(&c2) == XEV_COMPLETION_ACTIVE,
	   "%s: ... and that timer is untouched", bn);
	xev_loop_deinit(&loop2);
	xev_loop_deinit(&loop);
}

static void check_million(xev_backend b, const char *bn, xev_watcher *w, xev_completion *cs, unsigned char *fired)
{
	xev_loop loop;
	int64_t t0;
	int once = 1, rc;

	memset(&ord, 0, sizeof ord);
	memset(fired, 0, MILLION);
	memset(cs, 0, (size_t)MILLION * sizeof *cs);
	ord.fired = fired;
	ord.base = cs;
	tap_loop_init(&loop, b);
	t0 = mono_ms();
	for (int i = 0; i < MILLION; i++)
		xev_timer_run(w, &loop, &cs[i], (uint64_t)(i % 50), (void *)(uintptr_t)(i % 50), order_cb);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	for (int i = 0; i < MILLION; i++)
		if (fired[i] != 1) {
			once = 0;
			break;
		}
	ok(rc == 0 && ord.n == MILLION && once && ord.results_bad == 0,
	   "%s: 1,000,000 timers all fire exactly once with result 0 (%d calls, %lld ms)", bn, ord.n,
	   (long long)(mono_ms() - t0));
	ok(ord.bad == 0, "%s: 1,000,000 timers fire in non-decreasing deadline order (%d inversions)", bn, ord.bad);
	xev_loop_deinit(&loop);
}

/* Timers started out of order, then cancelled and reset: the queue keeps
 * timers started in deadline order in a sorted list and the rest in a
 * heap, and a timer must leave whichever one holds it. */
#define MIXED 300
static struct {
	int calls[MIXED], results[MIXED];
	int inversions, n;
	uint64_t last;
} mix;

static xev_cb_action mixed_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	uint64_t ms = (uint64_t)(uintptr_t)ud >> 16;
	int i = (int)((uintptr_t)ud & 0xffff);
	(void)l, (void)c;
	mix.calls[i]++;
	mix.results[i] = result;
	if (result == 0) {
		if (mix.n++ > 0 && ms < mix.last)
			mix.inversions++;
		mix.last = ms;
	}
	return XEV_DISARM;
}

static void *mixed_ud(int i, uint64_t ms)
{
	return (void *)(uintptr_t)(ms << 16 | (uint64_t)i);
}

static void check_mixed(xev_backend b, const char *bn, xev_watcher *w)
{
	static xev_completion cs[MIXED], cc[MIXED];
	xev_loop loop;
	int wrong = 0;

	memset(&mix, 0, sizeof mix);
	tap_loop_init(&loop, b);
	for (int i = 0; i < MIXED; i++) {
		uint64_t ms = (uint64_t)(i * 37 % 60);
		xev_timer_run(w, &loop, &cs[i], ms, mixed_ud(i, ms), mixed_cb);
	}
	for (int i = 0; i < MIXED; i++) {
		uint64_t ms = (uint64_t)(i * 37 % 60) + 7;
		if (i % 5 == 0)
			xev_timer_cancel(w, &loop, &cs[i], &cc[i], NULL, NULL);
		else if (i % 3 == 0)
			xev_timer_reset(w, &loop, &cs[i], &cc[i], ms, mixed_ud(i, ms), mixed_cb);
	}
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	for (int i = 0; i < MIXED; i++)
		if (mix.calls[i] != 1 || mix.results[i] != (i % 5 == 0 ? -ECANCELED : 0))
			wrong++;
	ok(wrong == 0, "%s: %d timers started out of order, every 5th cancelled, every 3rd reset: each called back once, "
		       "cancelled ones with -ECANCELED (%d wrong)", bn, MIXED, wrong);
	ok(mix.inversions == 0 && mix.n == MIXED - MIXED / 5,
	   "%s: ... the others fire in non-decreasing order of their final deadlines (%d fired, %d inversions)", bn,
	   mix.n, mix.inversions);
	xev_loop_deinit(&loop);
}

/* A tick with many timers due: what its callbacks do to the queue. */
#define TICK 1000
static struct {
	xev_watcher *w;
	xev_loop *loop;
	int act_at;          /* the callback that acts: ord.n before it */
	int stop;            /* it stops the loop, else it starts and resets */
	xev_completion z, zc, *r;
	struct rec zr, rr;
	int z_seen_at, r_seen_at; /* ord.n when they were called back */
	int read_seen_at, read_result;
} tk;

static xev_cb_action tick_read_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c, (void)ud;
	tk.read_seen_at = ord.n;
	tk.read_result = result;
	return XEV_DISARM;
}

static xev_cb_action tick_late_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c;
	note(l, ud, result);
	if (ud == &tk.zr)
		tk.z_seen_at = ord.n;
	else
		tk.r_seen_at = ord.n;
	return XEV_DISARM;
}

static xev_cb_action tick_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	bool act = ord.n == tk.act_at;

	order_cb(l, c, result, ud);
	if (!act)
		return XEV_DISARM;
	if (tk.stop) {
		xev_loop_stop(l);
	} else {
		xev_timer_run(tk.w, l, &tk.z, 0, &tk.zr, tick_late_cb);
		xev_timer_reset(tk.w, l, tk.r, &tk.zc, 0, &tk.rr, tick_late_cb);
	}
	return XEV_DISARM;
}

/* Starts TICK timers due 0..20 ms from now in a scrambled order, and
 * waits until they are all due. */
static void start_tick(xev_loop *loop, xev_watcher *w, xev_completion *cs, unsigned char *fired)
{
	memset(&ord, 0, sizeof ord);
	memset(fired, 0, TICK);
	ord.fired = fired;
	ord.base = cs;
	xev_loop_update_now(loop);
	for (int i = 0; i < TICK; i++) {
		uint64_t ms = (uint64_t)(i * 13 % 21);
		xev_timer_run(w, loop, &cs[i], ms, (void *)(uintptr_t)ms, tick_cb);
	}
	busy_wait_ms(30);
}

static void check_tick(xev_backend b, const char *bn, xev_watcher *w)
{
	static xev_completion cs[TICK];
	static unsigned char fired[TICK];
	xev_loop loop;
	xev_completion rd;
	char byte;
	int rc, p[2];

	tap_loop_init(&loop, b);
	memset(&tk, 0, sizeof tk);
	tk.w = w;
	tk.act_at = 0;
	for (int i = 0; i < TICK; i++)
		if (i * 13 % 21 == 20)
			tk.r = &cs[i]; /* the last started of those due last */
	start_tick(&loop, w, cs, fired);
	rc = xev_loop_run(&loop, XEV_RUN_ONCE);
	ok(rc == 0 && ord.n == TICK - 1 && ord.bad == 0 && tk.zr.calls == 0 && tk.rr.calls == 0,
	   "%s: %d timers due in one tick: one run calls back all but the one reset to 0 ms, in deadline order "
	   "(%d, %d inversions); neither it nor a 0 ms timer started by the first callback fires in that tick "
	   "(%d, %d calls)",
	   bn, TICK, ord.n, ord.bad, tk.rr.calls, tk.zr.calls);
	rc = xev_loop_run(&loop, XEV_RUN_ONCE);
	ok(rc == 0 && tk.zr.calls == 1 && tk.rr.calls == 1 && tk.zr.result == 0 && tk.rr.result == 0 &&
		   ord.n == TICK - 1,
	   "%s: ... both fire in the next (%d, %d calls)", bn, tk.zr.calls, tk.rr.calls);

	memset(&tk, 0, sizeof tk);
	tk.w = w;
	tk.act_at = 99;
	tk.stop = 1;
	tk.read_seen_at = -1;
	if (pipe(p) < 0)
		bail("pipe");
	xev_read(&loop, &rd, p[0], &byte, 1, NULL, tick_read_cb);
	start_tick(&loop, w, cs, fired);
	rc = xev_loop_run(&loop, XEV_RUN_ONCE);
	ok(rc == 0 && ord.n == 100, "%s: a callback stops the loop at the 100th of %d due timers: 100 called back (%d)",
	   bn, TICK, ord.n);
	xev_timer_run(w, &loop, &tk.z, 0, &tk.zr, tick_late_cb);
	if (write(p[1], "x", 1) != 1)
		bail("write");
	busy_wait_ms(2);
	rc = xev_loop_run(&loop, XEV_RUN_ONCE);
	ok(rc == 0 && ord.n == TICK && ord.bad == 0 && tk.zr.calls == 1 && tk.z_seen_at == TICK &&
		   tk.read_result == 1 && tk.read_seen_at == TICK,
	   "%s: ... the next run calls back the other %d, in order, before a timer started and a read that "
	   "completed since (%d, %d inversions, they after %d and %d)",
	   bn, TICK - 100, ord.n, ord.bad, tk.z_seen_at, tk.read_seen_at);
	close(p[0]);
	close(p[1]);
	xev_loop_deinit(&loop);
}

/* Allocated once by main for check_million, and the watcher every
 * backend's checks use. */
static xev_watcher tw;
static xev_completion *million_cs;
static unsigned char *million_fired;

static void check_backend(xev_backend b, const char *bn)
{
	check_fire(b, bn, &tw);
	check_rearm(b, bn, &tw);
	check_reset(b, bn, &tw);
	check_cancel(b, bn, &tw);
	check_mixed(b, bn, &tw);
	check_million(b, bn, &tw, million_cs, million_fired);
	check_tick(b, bn, &tw);
}

int main(void)
{
	xev_loop zl;
	xev_completion c;

	plan(GLOBAL_CHECKS + TAP_NBACKENDS * PER_BACKEND);
	is_int(xev_timer_init(NULL), -EINVAL, "xev_timer_init(NULL): -EINVAL");
	is_int(xev_timer_init(&tw), 0, "xev_timer_init: 0");
	memset(&zl, 0, sizeof zl);
	xev_completion_zero(&c);
	xev_timer_run(&tw, &zl, &c, 1, NULL, NULL);
	is_int(xev_completion_state(&c), XEV_COMPLETION_DEAD, "xev_timer_run on an uninitialised loop is ignored");

	million_cs = malloc((size_t)MILLION * sizeof *million_cs);
	million_fired = malloc(MILLION);
	if (!million_cs || !million_fired)
		bail("out of memory");
	tap_each_backend(PER_BACKEND, check_backend);
	free(million_cs);
	free(million_fired);
	xev_timer_deinit(&tw);
	return done_testing();
}
