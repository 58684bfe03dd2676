/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: each input byte is one step of a program of timer
 * run/reset/cancel, async notify/wait/cancel, pipe read/write/cancel and
 * non-blocking loop runs on a small set of completions, checked against a model of what the
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
 *  - on a pipe, with one read and one write in flight at a time (some of
 *    them cancelled), the bytes read are the bytes written, in order, and
 *    none is lost: what the reads missed is still in the pipe at the end;
 *    a cancel that reports 0 means the operation got -ECANCELED and moved
 *    no byte, one that reports -ENOENT that it finished with its result;
 *  - at the end, after cancelling the waits, nothing is left and every
 *    completion is back with its owner.
 *
 * Build and run (clang only, it needs -fsanitize=fuzzer):
 *   make fuzz                      fixed seed, bounded, every backend
 *   fuzz/loop-fuzz fuzz/corpus     open-ended, XEV_BACKEND picks one
 */
#define _GNU_SOURCE /* F_SETPIPE_SZ, pipe2 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
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

/* One read or one write on the pipe, and the cancel aimed at it. */
struct pio {
	xev_completion c, cancel;
	int busy;         /* submitted, not called back yet */
	int cancel_busy;  /* the cancel has not called back yet */
	int result;       /* of the operation, once called back */
	int cancel_result;
	size_t len;
	unsigned char buf[16 * 1024];
};

static int pfd[2] = { -1, -1 };
static struct pio rd, wr;
static uint64_t wpos, rpos; /* bytes written to the pipe, read from it */

static unsigned char stream_byte(uint64_t k)
{
	return (unsigned char)(k % 251);
}

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

/* A cancel's report and its target's must agree (for a pipe, which the
 * kernel can always stop): 0 and -ECANCELED, or -ENOENT and a real
 * result.  Checked once both have called back. */
static void check_cancel_pair(struct pio *p, const char *what)
{
	if (p->busy || p->cancel_busy || p->cancel_result == 1)
		return;
	if (p->cancel_result == 0 && p->result != -ECANCELED)
		fail(what, p->result);
	if (p->cancel_result == -ENOENT && p->result == -ECANCELED)
		fail(what, p->result);
	if (p->cancel_result != 0 && p->cancel_result != -ENOENT)
		fail("a cancel reported neither 0 nor -ENOENT", p->cancel_result);
	p->cancel_result = 1; /* checked */
}

static xev_cb_action on_write(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c, (void)ud;
	if (!wr.busy)
		fail("a write called back while not submitted", 0);
	if (result > 0 && (size_t)result <= wr.len)
		wpos += (uint64_t)result;
	else if (result != -ECANCELED)
		fail("a write called back with a wrong result", result);
	wr.busy = 0;
	wr.result = result;
	check_cancel_pair(&wr, "a write and its cancel disagree");
	return XEV_DISARM;
}

static xev_cb_action on_read(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c, (void)ud;
	if (!rd.busy)
		fail("a read called back while not submitted", 0);
	if (result > 0 && (size_t)result <= rd.len) {
		if (rpos + (uint64_t)result > wpos)
			fail("a read returned more bytes than were written", result);
		for (int i = 0; i < result; i++)
			if (rd.buf[i] != stream_byte(rpos + (uint64_t)i))
				fail("a read returned bytes out of order", i);
		rpos += (uint64_t)result;
	} else if (result != -ECANCELED) {
		fail("a read called back with a wrong result", result);
	}
	rd.busy = 0;
	rd.result = result;
	check_cancel_pair(&rd, "a read and its cancel disagree");
	return XEV_DISARM;
}

static xev_cb_action on_io_cancel(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct pio *p = ud;

	(void)l, (void)c;
	if (!p->cancel_busy)
		fail("a cancel called back while not submitted", 0);
	p->cancel_busy = 0;
	p->cancel_result = result;
	check_cancel_pair(p, p == &rd ? "a read and its cancel disagree" : "a write and its cancel disagree");
	return XEV_DISARM;
}

/* A write from where the stream is now: one at a time, so the bytes it
 * takes are the next ones whatever its length turns out to be. */
static void pipe_write(xev_loop *loop, unsigned arg)
{
	if (wr.busy || wr.cancel_busy)
		return;
	wr.len = ((size_t)arg + 1) * 1024;
	for (size_t i = 0; i < wr.len; i++)
		wr.buf[i] = stream_byte(wpos + i);
	wr.busy = 1;
	wr.cancel_result = 1;
	xev_write(loop, &wr.c, pfd[1], wr.buf, wr.len, NULL, on_write);
}

static void pipe_read(xev_loop *loop, unsigned arg)
{
	if (rd.busy || rd.cancel_busy)
		return;
	rd.len = ((size_t)arg + 1) * 256;
	rd.busy = 1;
	rd.cancel_result = 1;
	xev_read(loop, &rd.c, pfd[0], rd.buf, rd.len, NULL, on_read);
}

static void pipe_cancel(xev_loop *loop, struct pio *p)
{
	if (!p->busy || p->cancel_busy)
		return;
	p->cancel_busy = 1;
	xev_cancel(loop, &p->cancel, &p->c, p, on_io_cancel);
}

/* What no read took is still in the pipe, in order: nothing was lost,
 * nothing read twice. */
static void check_pipe_rest(void)
{
	unsigned char b[4096];
	ssize_t n;

	while ((n = read(pfd[0], b, sizeof b)) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (b[i] != stream_byte(rpos + (uint64_t)i))
				fail("the bytes left in the pipe are not the ones owed", (int)i);
		rpos += (uint64_t)n;
	}
	if (rpos != wpos)
		fail("bytes written were lost", (int)(wpos - rpos));
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

static bool async_owed(int i)
{
	return as[i].waiting && as[i].pending;
}

static bool read_owed(int i)
{
	(void)i;
	return rd.busy && !rd.cancel_busy && wpos > rpos;
}

/* A wait with a notification to consume must end, and so must a read
 * with bytes in the pipe; a wake-up may take a moment to arrive (io_uring
 * posts it as a completion), so poll for up to a second rather than
 * block: a lost wake-up must not hang the fuzzer. */
static void run_until_paid(xev_loop *loop, bool (*owed)(int), int i, const char *what)
{
	struct timespec nap = { 0, 100000 };

	for (int n = 0; owed(i) && n < 10000; n++) {
		run_no_wait(loop);
		if (owed(i))
			nanosleep(&nap, NULL);
	}
	if (owed(i))
		fail(what, i);
}

static void check_pending_waits_end(xev_loop *loop)
{
	for (int i = 0; i < NA; i++)
		run_until_paid(loop, async_owed, i, "an async wait with a notification pending never completed");
	run_until_paid(loop, read_owed, 0, "a read with bytes waiting in the pipe never completed");
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
	if (pipe2(pfd, O_NONBLOCK | O_CLOEXEC) != 0) {
		xev_loop_deinit(&loop);
		return 0;
	}
	fcntl(pfd[1], F_SETPIPE_SZ, 4096); /* small: writes go short or wait */
	rd.busy = rd.cancel_busy = wr.busy = wr.cancel_busy = 0;
	wpos = rpos = 0;
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

		switch (op) {
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
		case 6:
			pipe_write(&loop, arg);
			break;
		case 7:
			pipe_read(&loop, arg);
			break;
		case 8:
			pipe_cancel(&loop, arg & 1 ? &rd : &wr);
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
	pipe_cancel(&loop, &rd);
	pipe_cancel(&loop, &wr);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	if (rd.busy || wr.busy || rd.cancel_busy || wr.cancel_busy)
		fail("a pipe operation or its cancel never called back", 0);
	check_pipe_rest();
	close(pfd[0]);
	close(pfd[1]);

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
