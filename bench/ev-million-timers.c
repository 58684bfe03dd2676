/* SPDX-License-Identifier: MIT */
/*
 * million-timers, libev side: what it costs libev to start N one-shot
 * timers and to fire them all, 1000 per millisecond step, so that both
 * the timer heap's insertion and its expiry paths are under load.  The
 * timers live in one array touched before the clock so that page faults
 * are not counted as timer work.
 */
#include <ev.h>
#include <stdint.h>

#include "ev-bench.h"

#define DEFAULT_N 10000000L

static long fired;
static long total;

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	if (!(revents & EV_TIMER))
		bench_fail("timer callback with revents 0x%x", revents);
	/* The clock stops with the last timer, not when libev notices it is idle. */
	if (++fired == total)
		ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
	long n = DEFAULT_N;
	struct ev_loop *loop;
	ev_timer *timers;
	double cpu0, t0, t1, t2, cpu1;
	struct bench_usage u;

	bench_args(argc, argv, &n, 0);
	total = n;

	loop = bench_ev_default_loop();

	if ((size_t)n > SIZE_MAX / sizeof(*timers))
		bench_fail("count too large: %ld", n);
	/* First-touch page faults would otherwise be charged to the library. */
	timers = bench_alloc_touched((size_t)n * sizeof(*timers));
	/* The memset can take a while; timers must count from now, not from before it. */
	ev_now_update(loop);

	bench_usage_start(&u);
	cpu0 = bench_cpu();
	t0 = bench_now();
	for (long i = 0; i < n; i++) {
		ev_timer_init(&timers[i], timer_cb, (double)bench_timer_ms(i) / 1000.0, 0.);
		ev_timer_start(loop, &timers[i]);
	}
	t1 = bench_now();
	ev_run(loop, 0);
	t2 = bench_now();
	cpu1 = bench_cpu();

	if (fired != n)
		bench_fail("fired %ld of %ld timers", fired, n);

	bench_note("init %.3f s", t1 - t0);
	bench_note("dispatch %.3f s", t2 - t1);
	bench_note("total %.3f s", t2 - t0);
	bench_note("cpu %.3f s", cpu1 - cpu0);
	bench_note("fired %ld", fired);
	bench_report_ops("million-timers", bench_ev_library(loop), t2 - t0, "s", (double)fired, &u);

	free(timers);
	ev_loop_destroy(loop);
	return 0;
}
