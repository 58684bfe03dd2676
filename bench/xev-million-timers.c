/* SPDX-License-Identifier: MIT */
/*
 * million-timers: N one-shot timers started before the loop runs, timer i
 * due 2 + i/1000 ms later.  The last deadline sets a floor on the total
 * (10.001 s for 10 M), so what is measured is what the library adds to it:
 * the time to start the timers and how late the last one fires.
 */
#include "bench.h"

#include <xev.h>

static long fired;

static xev_cb_action on_timer(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c, (void)ud;
	if (result == 0)
		fired++;
	return XEV_DISARM;
}

int main(int argc, char **argv)
{
	long n = 10000000;
	xev_completion *cs;
	xev_loop loop;
	xev_watcher w;
	double t0, t1, t2, c0, c2;
	struct bench_usage u;
	char lib[32];

	bench_args(argc, argv, &n, 0);
	if (xev_loop_init(&loop) < 0)
		bench_fail("xev_loop_init");
	/* First-touch page faults would otherwise be charged to the library. */
	cs = bench_alloc_touched((size_t)n * sizeof(*cs));
	xev_loop_update_now(&loop);
	xev_timer_init(&w);

	bench_usage_start(&u);
	c0 = bench_cpu();
	t0 = bench_now();
	for (long i = 0; i < n; i++)
		xev_timer_run(&w, &loop, &cs[i], bench_timer_ms(i), NULL, on_timer);
	t1 = bench_now();
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	t2 = bench_now();
	c2 = bench_cpu();

	if (fired != n)
		bench_fail("%ld of %ld timers fired", fired, n);
	snprintf(lib, sizeof lib, "xev-%s", xev_backend_name(xev_loop_backend(&loop)));
	bench_note("init %.3f s", t1 - t0);
	bench_note("dispatch %.3f s", t2 - t1);
	bench_note("total %.3f s", t2 - t0);
	bench_note("cpu %.3f s", c2 - c0);
	bench_note("fired %ld", fired);
	bench_report_ops("million-timers", lib, t2 - t0, "s", (double)fired, &u);
	xev_loop_deinit(&loop);
	free(cs);
	return 0;
}
