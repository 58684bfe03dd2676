/* SPDX-License-Identifier: MIT */
/*
 * million-timers, libuv side: N one-shot uv_timer_t started before the loop
 * runs, timer i due 2 + i/1000 ms later.  The last deadline sets a floor on
 * the total (10.001 s for 10 M), so what is measured is what libuv adds to
 * it: the time to start the timers (its timer heap) and how late the last
 * one fires.
 */
#include "uv-bench.h"

#include <uv.h>

static long fired;

static void on_timer(uv_timer_t *t)
{
	(void)t;
	fired++;
}

int main(int argc, char **argv)
{
	long n = 10000000;
	uv_timer_t *ts;
	uv_loop_t loop;
	double t0, t1, t2, c0, c2;
	struct bench_usage u;

	bench_args(argc, argv, &n, 0);
	check(uv_loop_init(&loop), "uv_loop_init");
	/* First-touch page faults would otherwise be charged to the library. */
	ts = bench_alloc_touched((size_t)n * sizeof(*ts));
	/* Deadlines count from the loop's cached time: make it now. */
	uv_update_time(&loop);

	bench_usage_start(&u);
	c0 = bench_cpu();
	t0 = bench_now();
	/* uv_timer_init is part of starting a libuv timer (it links the handle
	 * into the loop), as ev_timer_init is for libev. */
	for (long i = 0; i < n; i++) {
		uv_timer_init(&loop, &ts[i]);
		check(uv_timer_start(&ts[i], on_timer, bench_timer_ms(i), 0), "uv_timer_start");
	}
	t1 = bench_now();
	check(uv_run(&loop, UV_RUN_DEFAULT), "uv_run");
	t2 = bench_now();
	c2 = bench_cpu();

	if (fired != n)
		bench_fail("%ld of %ld timers fired", fired, n);
	bench_note("init %.3f s", t1 - t0);
	bench_note("dispatch %.3f s", t2 - t1);
	bench_note("total %.3f s", t2 - t0);
	bench_note("cpu %.3f s", c2 - c0);
	bench_note("fired %ld", fired);
	bench_report_ops("million-timers", "libuv", t2 - t0, "s", (double)fired, &u);

	/* A fired one-shot timer is still a handle of the loop until closed. */
	for (long i = 0; i < n; i++)
		uv_close((uv_handle_t *)&ts[i], NULL);
	check(uv_run(&loop, UV_RUN_DEFAULT), "uv_run (close)");
	check(uv_loop_close(&loop), "uv_loop_close");
	free(ts);
	return 0;
}
