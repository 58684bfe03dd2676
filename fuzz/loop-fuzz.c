/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: each input byte is one step of a program of timer
 * run/reset/cancel, async notify/wait/cancel and non-blocking loop runs
 * on a small set of completions, checked against a model of what the
 * loop owes.  Any divergence aborts, which libFuzzer reports with the
 * input that caused it.  What the model holds the loop to:
 *
 *  - a timer calls back exactly once per start (a reset of an active
 *    timer is not a new start), never before its deadline in loop time,
 *    and timers firing in one run do so in deadline order;
 *  - a timer due at once (0 ms) has called back after the next run;
 *  - a cancelled timer calls back with -ECANCELED, and then its cancel
 *    completion reports 0; if the timer fired first (result 0), the
 *    cancel reports -ENOENT;
 *  - an async wait completes with 0 only when a notification is there to
 *    consume, and a wait with a notification pending completes;
 *  - at the end, after cancelling the waits, nothing is left and every
 *    completion is back with its owner.
 *
 * Build and run (clang only, it needs -fsanitize=fuzzer):
 *   make fuzz                      fixed seed, bounded, every backend
 *   fuzz/loop-fuzz fuzz/corpus     open-ended, XEV_BACKEND picks one
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xev.h>

#define NT 8
#define NA 2
#define MAX_STEPS 4096

struct tmr {
	xev_completion c, cancel;
	int active;       /* started, not called back yet */
	int cancelled;    /* a cancel was queued for this start */
	int cancel_busy;  /* our cancel completion has not called back */
	int due_now;      /* started or reset with 0 ms */
	int last_result;  /* of the timer's callback after the cancel */
	int64_t deadline; /* loop time of the latest start or reset */
	long starts, calls;
};

struct asy {
	xev_watcher w;
	xev_completion c, cancel;
	int waiting;      /* a wait is queued or active */
	int pending;      /* a notification no wait has consumed yet */
	long waits, calls;
};

static struct tmr tm[NT];
static struct asy as[NA];
static xev_watcher tw;
static int64_t last_fired; /* deadline of the last timer fired in this run */

static void fail(const char *what, int i)
{
	fprintf(stderr, "loop-fuzz: model diverged: %s (%d)\n", what, i);
	abort();
}

static xev_cb_action on_timer(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct tmr *t = ud;
	int i = (int)(t - tm);

	(void)c;
	if (!t->active)
		fail("a timer called back while not started", i);
	if (result == 0) {
		if (xev_loop_now(l) < t->deadline)
			fail("a timer fired before its deadline", i);
		if (t->deadline < last_fired)
			fail("timers fired out of deadline order", i);
		last_fired = t->deadline;
	} else if (result != -ECANCELED || !t->cancelled) {
		fail("a timer called back with a wrong result", i);
	}
	t->last_result = result;
	t->active = 0;
	t->calls++;
	return XEV_DISARM;
}

static xev_cb_action on_timer_cancel(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct tmr *t = ud;
	int i = (int)(t - tm);

	(void)l, (void)c;
	if (t->active)
		fail("a timer cancel finished before the timer called back", i);
	if (result != (t->last_result == -ECANCELED ? 0 : -ENOENT))
		fail("a timer cancel reported a result the timer contradicts", i);
	t->cancel_busy = 0;
	t->cancelled = 0;
	return XEV_DISARM;
}

static xev_cb_action on_async(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct asy *a = ud;
	int i = (int)(a - as);

	(void)l, (void)c;
	if (!a->waiting)
		fail("an async wait called back while not waiting", i);
	if (result == 0) {
		if (!a->pending)
			fail("an async wait completed without a notification", i);
		a->pending = 0;
	} else if (result != -ECANCELED) {
		fail("an async wait called back with a wrong result", i);
	}
	a->waiting = 0;
	a->calls++;
	return XEV_DISARM;
}

static void timer_start(xev_loop *loop, struct tmr *t, uint64_t ms)
{
	if (t->active || t->cancel_busy)
		return;
	t->active = 1;
	t->starts++;
	t->due_now = ms == 0;
	t->deadline = xev_loop_now(loop) + (int64_t)ms;
	xev_timer_run(&tw, loop, &t->c, ms, t, on_timer);
}

/* Reset uses the cancel completion when the timer is active, so only
 * while that completion is ours. */
static void timer_reset(xev_loop *loop, struct tmr *t, uint64_t ms)
{
	if (t->cancel_busy || xev_completion_state(&t->cancel) != XEV_COMPLETION_DEAD)
		return;
	if (!t->active) {
		t->active = 1;
		t->starts++;
	}
	t->due_now = ms == 0;
	t->deadline = xev_loop_now(loop) + (int64_t)ms;
	xev_timer_reset(&tw, loop, &t->c, &t->cancel, ms, t, on_timer);
}

static void timer_cancel(xev_loop *loop, struct tmr *t)
{
	if (!t->active || t->cancel_busy || xev_completion_state(&t->cancel) != XEV_COMPLETION_DEAD)
		return;
	t->cancelled = 1;
	t->cancel_busy = 1;
	xev_timer_cancel(&tw, loop, &t->c, &t->cancel, t, on_timer_cancel);
}

static void async_wait(xev_loop *loop, struct asy *a)
{
	if (a->waiting || xev_completion_state(&a->cancel) != XEV_COMPLETION_DEAD)
		return;
	a->waiting = 1;
	a->waits++;
	xev_async_wait(&a->w, loop, &a->c, a, on_async);
}

static void async_cancel(xev_loop *loop, struct asy *a)
{
	if (a->waiting && xev_completion_state(&a->cancel) == XEV_COMPLETION_DEAD)
		xev_cancel(loop, &a->cancel, &a->c, NULL, NULL);
}

static void run_no_wait(xev_loop *loop)
{
	last_fired = INT64_MIN;
	xev_loop_run(loop, XEV_RUN_NO_WAIT);
	for (int i = 0; i < NT; i++)
		if (tm[i].active && tm[i].due_now && !tm[i].cancel_busy)
			fail("a timer due at once did not fire in the next run", i);
}

/* A wait with a notification to consume must end; a wake-up may take a
 * moment to arrive (io_uring posts it as a completion), so poll for up to
 * a second rather than block: a lost wake-up must not hang the fuzzer. */
static void check_pending_waits_end(xev_loop *loop)
{
	struct timespec nap = { 0, 100000 };

	for (int i = 0; i < NA; i++) {
		for (int n = 0; as[i].waiting && as[i].pending && n < 10000; n++) {
			run_no_wait(loop);
			if (as[i].waiting)
				nanosleep(&nap, NULL);
		}
		if (as[i].waiting && as[i].pending)
			fail("an async wait with a notification pending never completed", i);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A backend this machine cannot use would make every input a no-op:
 * say so and exit 77, which fuzz/run reports as a skip. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	xev_loop loop;
	int rc = xev_loop_init(&loop);

	(void)argc, (void)argv;
	if (rc != 0) {
		fprintf(stderr, "loop-fuzz: no loop on XEV_BACKEND=%s: %d\n",
			getenv("XEV_BACKEND") ? getenv("XEV_BACKEND") : "(default)", rc);
		exit(77);
	}
	xev_loop_deinit(&loop);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	xev_loop loop;

	if (xev_loop_init(&loop) != 0)
		return 0;
	memset(tm, 0, sizeof tm);
	memset(as, 0, sizeof as);
	xev_timer_init(&tw);
	for (int i = 0; i < NA; i++)
		xev_async_init(&as[i].w);

	for (size_t k = 0; k < size && k < MAX_STEPS; k++) {
		uint8_t op = data[k] >> 4, arg = data[k] & 15;
		struct tmr *t = &tm[arg % NT];
		struct asy *a = &as[arg % NA];
		uint64_t ms = arg >= 14 ? 1 : arg >= 12 ? 2 : 0; /* mostly due at once */

		switch (op % 8) {
		case 0:
			timer_start(&loop, t, ms);
			break;
		case 1:
			timer_reset(&loop, t, ms);
			break;
		case 2:
			timer_cancel(&loop, t);
			break;
		case 3:
			a->pending = 1;
			xev_async_notify(&a->w);
			break;
		case 4:
			async_wait(&loop, a);
			break;
		case 5:
			async_cancel(&loop, a);
			break;
		default:
			/* Never XEV_RUN_ONCE: with only an async wait left it
			 * would sleep for good, as it should. */
			run_no_wait(&loop);
			break;
		}
	}
	run_no_wait(&loop);
	check_pending_waits_end(&loop);
	for (int i = 0; i < NA; i++)
		async_cancel(&loop, &as[i]);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);

	for (int i = 0; i < NT; i++) {
		if (tm[i].active || tm[i].calls != tm[i].starts)
			fail("a timer not called back exactly once per start", i);
		if (tm[i].cancel_busy)
			fail("a timer cancel that never called back", i);
	}
	for (int i = 0; i < NA; i++) {
		if (as[i].waiting || as[i].calls != as[i].waits)
			fail("an async wait that never ended", i);
		xev_async_deinit(&as[i].w);
	}
	xev_timer_deinit(&tw);
	xev_loop_deinit(&loop);
	return 0;
}
