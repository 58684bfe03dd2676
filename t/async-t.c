/* SPDX-License-Identifier: MIT */
/*
 * Async wake-ups: notify before and after the wait, coalescing, wake-ups
 * from other threads (a loop blocked with and without a timer pending, a
 * notify storm from four threads, a ping-pong between two loops), the
 * wait keeping UNTIL_DONE alive, cancelling a wait, bad watchers.
 * Every loop check runs on every backend.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "tap.h"

#define GLOBAL_CHECKS 6
#define PER_BACKEND 22
#define STORM_THREADS 4
#define STORM_NOTIFIES 100000
#define ROUND_TRIPS 10000

static void start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	if (pthread_create(t, NULL, fn, arg) != 0)
		bail("pthread_create failed");
}

/* What a wait saw. */
struct rec {
	atomic_int calls;
	int result;
	int rearm;         /* return XEV_REARM */
	int state_inside;
	atomic_int *flag;  /* copied to flag_seen at the first call */
	int flag_seen;
};

static xev_cb_action rec_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct rec *r = ud;
	(void)l;
	if (atomic_load(&r->calls) == 0) {
		r->state_inside = (int)xev_completion_state(c);
		if (r->flag)
			r->flag_seen = atomic_load(r->flag);
	}
	r->result = result;
	atomic_fetch_add(&r->calls, 1);
	return r->rearm ? XEV_REARM : XEV_DISARM;
}

static void rec_init(struct rec *r)
{
	memset(r, 0, sizeof *r);
	atomic_init(&r->calls, 0);
}

/*
 * A lost wake-up would leave a loop blocked for good.  To fail instead of
 * hanging, a watchdog interrupts the blocked thread with SIGUSR1 (a no-op
 * handler without SA_RESTART): the wait returns EINTR, the loop looks at
 * its notification flags again, and the test records the rescue.
 */
static void on_sigusr1(int sig) { (void)sig; }

static void install_rescue_signal(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigusr1;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	sigaction(SIGUSR1, &sa, NULL);
}

/*
 * Notifies w after delay_ms, with `notified` set first.  If the loop has
 * not reported `done` 5 s later the wake-up was lost: interrupt the loop's
 * thread so the test fails instead of hanging, and say so in `rescued`.
 */
struct notifier {
	xev_watcher *w;
	pthread_t loop_thread;
	int delay_ms;
	atomic_int notified, done, rescued;
	int rc;
};

static void *notifier_main(void *arg)
{
	struct notifier *n = arg;
	int64_t t0;

	sleep_ms(n->delay_ms);
	atomic_store(&n->notified, 1);
	n->rc = xev_async_notify(n->w);
	t0 = mono_ms();
	while (!atomic_load(&n->done)) {
		sleep_ms(5);
		if (mono_ms() - t0 > 5000) {
			atomic_store(&n->rescued, 1);
			pthread_kill(n->loop_thread, SIGUSR1);
			sleep_ms(100);
		}
	}
	return NULL;
}

static void notifier_init(struct notifier *n, xev_watcher *w, int delay_ms)
{
	memset(n, 0, sizeof *n);
	n->w = w;
	n->loop_thread = pthread_self();
	n->delay_ms = delay_ms;
	atomic_init(&n->notified, 0);
	atomic_init(&n->done, 0);
	atomic_init(&n->rescued, 0);
}

static xev_cb_action tick_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c, (void)result, (void)ud;
	return XEV_REARM;
}

static void check_basic(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_watcher w, w2, bad, tw;
	xev_completion c, c2, guard;
	struct rec r, r2, g;
	int rc, nrc = 0;

	xev_timer_init(&tw);
	xev_async_init(&w);
	tap_loop_init(&loop, b);

	/* Notify first, then wait.  A 5 s guard timer keeps a lost
	 * notification from hanging the test. */
	rec_init(&r);
	rec_init(&g);
	xev_timer_run(&tw, &loop, &guard, 5000, &g, rec_cb);
	rc = xev_async_notify(&w);
	xev_async_wait(&w, &loop, &c, &r, rec_cb);
	xev_loop_run(&loop, XEV_RUN_ONCE);
	ok(rc == 0 && atomic_load(&r.calls) == 1 && r.result == 0 && atomic_load(&g.calls) == 0,
	   "%s: notify before wait: the wait completes once with 0", bn);
	ok(r.state_inside == XEV_COMPLETION_DEAD && xev_completion_state(&c) == XEV_COMPLETION_DEAD,
	   "%s: the wait is dead in its callback and after it", bn);

	/* Wait, then notify from the same thread. */
	rec_init(&r);
	xev_async_wait(&w, &loop, &c, &r, rec_cb);
	xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	ok(atomic_load(&r.calls) == 0 && xev_completion_state(&c) == XEV_COMPLETION_ACTIVE,
	   "%s: an async wait without notify does not complete and stays active", bn);
	rc = xev_async_notify(&w);
	xev_loop_run(&loop, XEV_RUN_ONCE);
	ok(rc == 0 && atomic_load(&r.calls) == 1 && r.result == 0 && atomic_load(&g.calls) == 0,
	   "%s: wait then notify (same thread): completes once with 0", bn);

	/* Many notifies before the loop runs: one callback. */
	rec_init(&r);
	r.rearm = 1;
	xev_async_wait(&w, &loop, &c, &r, rec_cb);
	for (int i = 0; i < 100; i++)
		nrc |= xev_async_notify(&w);
	xev_loop_run(&loop, XEV_RUN_ONCE);
	for (int i = 0; i < 3; i++)
		xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	ok(nrc == 0 && atomic_load(&r.calls) == 1, "%s: 100 notifies before the run coalesce into one callback (%d)",
	   bn, atomic_load(&r.calls));
	xev_async_notify(&w);
	xev_loop_run(&loop, XEV_RUN_ONCE);
	ok(atomic_load(&r.calls) == 2 && atomic_load(&g.calls) == 0,
	   "%s: the rearmed wait completes again on the next notify", bn);
	xev_loop_deinit(&loop);

	/* Two watchers on one loop: only the notified one completes. */
	tap_loop_init(&loop, b);
	xev_async_init(&w2);
	rec_init(&r);
	rec_init(&r2);
	xev_async_wait(&w, &loop, &c, &r, rec_cb);
	xev_async_wait(&w2, &loop, &c2, &r2, rec_cb);
	xev_async_notify(&w2);
	xev_loop_run(&loop, XEV_RUN_ONCE);
	xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	ok(atomic_load(&r.calls) == 0 && atomic_load(&r2.calls) == 1 &&
		   xev_completion_state(&c) == XEV_COMPLETION_ACTIVE,
	   "%s: two watchers on one loop: only the notified one completes", bn);
	xev_loop_deinit(&loop);
	xev_async_deinit(&w2);

	/* A NULL callback is allowed. */
	tap_loop_init(&loop, b);
	xev_async_wait(&w, &loop, &c, NULL, NULL);
	xev_async_notify(&w);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && xev_completion_state(&c) == XEV_COMPLETION_DEAD, "%s: a wait with a NULL callback completes",
	   bn);

	/* A watcher that was never initialised. */
	memset(&bad, 0, sizeof bad);
	rec_init(&r);
	xev_async_wait(&bad, &loop, &c, &r, rec_cb);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && atomic_load(&r.calls) == 1 && r.result == -EINVAL,
	   "%s: a wait on an uninitialised watcher calls back with -EINVAL (%d)", bn, r.result);
	xev_loop_deinit(&loop);
	xev_async_deinit(&w);
}

/* A loop blocked in the kernel is woken by a notify from another thread. */
static void check_cross_thread(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_watcher w, tw;
	xev_completion c, tc;
	struct rec r, rt;
	struct notifier n;
	pthread_t th;
	int64_t t0;
	int rc;

	xev_async_init(&w);
	xev_timer_init(&tw);
	tap_loop_init(&loop, b);

	/* Nothing but the wait: only the notify can end ONCE. */
	rec_init(&r);
	notifier_init(&n, &w, 50);
	r.flag = &n.notified;
	xev_async_wait(&w, &loop, &c, &r, rec_cb);
	start_thread(&th, notifier_main, &n);
	rc = xev_loop_run(&loop, XEV_RUN_ONCE);
	atomic_store(&n.done, 1);
	pthread_join(th, NULL);
	ok(rc == 0 && n.rc == 0 && atomic_load(&r.calls) == 1 && r.result == 0 && r.flag_seen == 1 &&
		   !atomic_load(&n.rescued),
	   "%s: a notify from another thread wakes a loop blocked in ONCE (no timer)%s", bn,
	   atomic_load(&n.rescued) ? " [wake-up lost]" : "");

	/* Blocked with a 10 s timer pending. */
	rec_init(&r);
	rec_init(&rt);
	notifier_init(&n, &w, 50);
	r.flag = &n.notified;
	xev_timer_run(&tw, &loop, &tc, 10000, &rt, rec_cb);
	xev_async_wait(&w, &loop, &c, &r, rec_cb);
	start_thread(&th, notifier_main, &n);
	t0 = mono_ms();
	rc = xev_loop_run(&loop, XEV_RUN_ONCE);
	atomic_store(&n.done, 1);
	pthread_join(th, NULL);
	ok(rc == 0 && atomic_load(&r.calls) == 1 && r.flag_seen == 1 && atomic_load(&rt.calls) == 0 &&
		   !atomic_load(&n.rescued) && mono_ms() - t0 < 5000,
	   "%s: a notify from another thread wakes a loop blocked with a 10 s timer pending", bn);
	xev_loop_deinit(&loop);

	/* The wait keeps UNTIL_DONE running until the notify. */
	tap_loop_init(&loop, b);
	rec_init(&r);
	notifier_init(&n, &w, 100);
	r.flag = &n.notified;
	xev_async_wait(&w, &loop, &c, &r, rec_cb);
	start_thread(&th, notifier_main, &n);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	atomic_store(&n.done, 1);
	pthread_join(th, NULL);
	ok(rc == 0 && atomic_load(&r.calls) == 1 && r.flag_seen == 1 && !atomic_load(&n.rescued),
	   "%s: an async wait keeps UNTIL_DONE running until it is notified", bn);
	xev_loop_deinit(&loop);
	xev_async_deinit(&w);
}

/* Four threads notify as fast as they can while the callback rearms. */
struct storm {
	xev_watcher *w;
	atomic_int *finished;
	atomic_int *bad_rc;
};

static void *storm_main(void *arg)
{
	struct storm *s = arg;
	int bad = 0;
	for (int i = 0; i < STORM_NOTIFIES; i++)
		if (xev_async_notify(s->w) != 0)
			bad++;
	atomic_fetch_add(s->bad_rc, bad);
	atomic_fetch_add(s->finished, 1);
	return NULL;
}

static void check_storm(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_watcher w, tw;
	xev_completion c, tc;
	struct rec r;
	struct storm s[STORM_THREADS];
	pthread_t th[STORM_THREADS];
	atomic_int finished, bad_rc;
	int c1, c2, c3;
	int64_t t0;

	atomic_init(&finished, 0);
	atomic_init(&bad_rc, 0);
	xev_async_init(&w);
	xev_timer_init(&tw);
	tap_loop_init(&loop, b);
	rec_init(&r);
	r.rearm = 1;
	xev_async_wait(&w, &loop, &c, &r, rec_cb);
	/* A 20 ms tick bounds every ONCE below, whatever happens. */
	xev_timer_run(&tw, &loop, &tc, 20, NULL, tick_cb);
	for (int i = 0; i < STORM_THREADS; i++) {
		s[i].w = &w;
		s[i].finished = &finished;
		s[i].bad_rc = &bad_rc;
		start_thread(&th[i], storm_main, &s[i]);
	}
	while (atomic_load(&finished) < STORM_THREADS)
		xev_loop_run(&loop, XEV_RUN_ONCE);
	for (int i = 0; i < STORM_THREADS; i++)
		pthread_join(th[i], NULL);
	/* Consume what the threads left pending. */
	xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	c1 = atomic_load(&r.calls);
	ok(atomic_load(&bad_rc) == 0 && c1 >= 1 && r.result == 0,
	   "%s: %d threads x %d notifies: every notify returns 0, %d callbacks", bn, STORM_THREADS, STORM_NOTIFIES,
	   c1);

	xev_async_notify(&w);
	t0 = mono_ms();
	while (atomic_load(&r.calls) == c1 && mono_ms() - t0 < 5000)
		xev_loop_run(&loop, XEV_RUN_ONCE);
	c2 = atomic_load(&r.calls);
	is_int(c2 - c1, 1, "%s: after the threads are joined, a final notify gives exactly one more callback", bn);
	for (int i = 0; i < 3; i++)
		xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	c3 = atomic_load(&r.calls);
	is_int(c3, c2, "%s: and no callback follows without a notify", bn);
	xev_loop_deinit(&loop);
	xev_async_deinit(&w);
}

/* Two loops on two threads bounce a notification back and forth. */
struct pingpong {
	xev_watcher wa, wb; /* loop A waits on wa, loop B on wb */
	xev_loop la, lb;
	xev_completion ca, cb;
	atomic_int pings, pongs, disorder;
	int rc_a, rc_b;
	atomic_int done_a, done_b, abort;
};

static xev_cb_action ping_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct pingpong *p = ud;
	int n = atomic_fetch_add(&p->pings, 1) + 1;
	(void)l, (void)c;
	if (atomic_load(&p->abort))
		return XEV_DISARM;
	if (result != 0 || atomic_load(&p->pongs) != n - 1)
		atomic_fetch_add(&p->disorder, 1);
	xev_async_notify(&p->wb);
	return n < ROUND_TRIPS ? XEV_REARM : XEV_DISARM;
}

static xev_cb_action pong_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct pingpong *p = ud;
	int n = atomic_fetch_add(&p->pongs, 1) + 1;
	(void)l, (void)c;
	if (atomic_load(&p->abort))
		return XEV_DISARM;
	if (result != 0 || atomic_load(&p->pings) != n)
		atomic_fetch_add(&p->disorder, 1);
	if (n < ROUND_TRIPS) {
		xev_async_notify(&p->wa);
		return XEV_REARM;
	}
	return XEV_DISARM;
}

static void *run_a(void *arg)
{
	struct pingpong *p = arg;
	p->rc_a = xev_loop_run(&p->la, XEV_RUN_UNTIL_DONE);
	atomic_store(&p->done_a, 1);
	return NULL;
}

static void *run_b(void *arg)
{
	struct pingpong *p = arg;
	p->rc_b = xev_loop_run(&p->lb, XEV_RUN_UNTIL_DONE);
	atomic_store(&p->done_b, 1);
	return NULL;
}

static void check_pingpong(xev_backend b, const char *bn)
{
	struct pingpong *p = calloc(1, sizeof *p);
	pthread_t ta, tb;
	int rescues = 0, last = -1;
	int64_t t0, last_progress;

	if (!p)
		bail("out of memory");
	atomic_init(&p->pings, 0);
	atomic_init(&p->pongs, 0);
	atomic_init(&p->disorder, 0);
	atomic_init(&p->done_a, 0);
	atomic_init(&p->done_b, 0);
	atomic_init(&p->abort, 0);
	xev_async_init(&p->wa);
	xev_async_init(&p->wb);
	tap_loop_init(&p->la, b);
	tap_loop_init(&p->lb, b);
	xev_async_wait(&p->wa, &p->la, &p->ca, p, ping_cb);
	xev_async_wait(&p->wb, &p->lb, &p->cb, p, pong_cb);
	start_thread(&ta, run_a, p);
	start_thread(&tb, run_b, p);
	xev_async_notify(&p->wa);

	/* Watch for progress.  A lost wake-up stalls both loops for good:
	 * then end the game (abort flag, notify both, interrupt both threads
	 * until they are home) and count it as a failure. */
	t0 = last_progress = mono_ms();
	while (!(atomic_load(&p->done_a) && atomic_load(&p->done_b))) {
		int now = atomic_load(&p->pings) + atomic_load(&p->pongs);
		sleep_ms(5);
		if (now != last) {
			last = now;
			last_progress = mono_ms();
		} else if (mono_ms() - last_progress > 5000) {
			if (!rescues++) {
				diag("%s: ping-pong stalled at %d pings, %d pongs", bn, atomic_load(&p->pings),
				     atomic_load(&p->pongs));
				atomic_store(&p->abort, 1);
				xev_async_notify(&p->wa);
				xev_async_notify(&p->wb);
			}
			if (!atomic_load(&p->done_a))
				pthread_kill(ta, SIGUSR1);
			if (!atomic_load(&p->done_b))
				pthread_kill(tb, SIGUSR1);
		}
		if (mono_ms() - t0 > 60000)
			bail("ping-pong never finished");
	}
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	ok(p->rc_a == 0 && p->rc_b == 0 && rescues == 0,
	   "%s: ping-pong between two loops on two threads: %d round trips, no lost wake-up (%lld ms)", bn,
	   ROUND_TRIPS, (long long)(mono_ms() - t0));
	ok(atomic_load(&p->pings) == ROUND_TRIPS && atomic_load(&p->pongs) == ROUND_TRIPS,
	   "%s: ping-pong: exactly %d callbacks on each side (%d, %d)", bn, ROUND_TRIPS, atomic_load(&p->pings),
	   atomic_load(&p->pongs));
	is_int(atomic_load(&p->disorder), 0, "%s: ping-pong: strict alternation, result 0", bn);
	xev_loop_deinit(&p->la);
	xev_loop_deinit(&p->lb);
	xev_async_deinit(&p->wa);
	xev_async_deinit(&p->wb);
	free(p);
}

/* Cancelling an async wait with the timer's cancel machinery. */
static void check_cancel(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_watcher w;
	xev_completion c, cc;
	struct rec r, rk;
	int rc;

	xev_async_init(&w);
	tap_loop_init(&loop, b);
	rec_init(&r);
	rec_init(&rk);
	xev_async_wait(&w, &loop, &c, &r, rec_cb);
	xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	xev_completion_zero(&cc);
	xev_timer_cancel(NULL, &loop, &c, &cc, &rk, rec_cb);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && atomic_load(&r.calls) == 1 && r.result == -ECANCELED,
	   "%s: cancel of a pending async wait: the wait gets -ECANCELED (%d)", bn, r.result);
	ok(atomic_load(&rk.calls) == 1 && rk.result == 0, "%s: ... and the canceller 0 (%d)", bn, rk.result);
	ok(xev_completion_state(&c) == XEV_COMPLETION_DEAD && xev_completion_state(&cc) == XEV_COMPLETION_DEAD,
	   "%s: ... both dead afterwards", bn);

	/* The watcher is still usable: a notify with no wait is kept for
	 * the next wait. */
	rec_init(&r);
	xev_async_notify(&w);
	xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	xev_async_wait(&w, &loop, &c, &r, rec_cb);
	rc = xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	ok(rc == 0 && atomic_load(&r.calls) == 1 && r.result == 0,
	   "%s: after the cancel, a notify then a new wait completes it", bn);
	xev_loop_deinit(&loop);
	xev_async_deinit(&w);
}

static void check_backend(xev_backend b, const char *bn)
{
	check_basic(b, bn);
	check_cross_thread(b, bn);
	check_storm(b, bn);
	check_pingpong(b, bn);
	check_cancel(b, bn);
}

int main(void)
{
	xev_watcher w;

	plan(GLOBAL_CHECKS + TAP_NBACKENDS * PER_BACKEND);
	install_rescue_signal();
	is_int(xev_async_init(NULL), -EINVAL, "xev_async_init(NULL): -EINVAL");
	is_int(xev_async_notify(NULL), -EINVAL, "xev_async_notify(NULL): -EINVAL");
	memset(&w, 0, sizeof w);
	is_int(xev_async_notify(&w), -EINVAL, "notify on a never initialised (zeroed) watcher: -EINVAL");
	is_int(xev_async_init(&w), 0, "xev_async_init: 0");
	is_int(xev_async_notify(&w), 0, "notify with no wait queued: 0");
	xev_async_deinit(&w);
	is_int(xev_async_notify(&w), -EINVAL, "notify on a deinitialised watcher: -EINVAL");

	tap_each_backend(PER_BACKEND, check_backend);
	return done_testing();
}
