/* SPDX-License-Identifier: MIT */
/*
 * threadpool-work: tiny tasks through xev_work, 1024 in flight, each
 * completion queueing the next.  The task does almost nothing, so this
 * measures the round trip loop -> pool -> loop: handing work over, waking
 * a worker, and getting the result back to the loop thread.
 */
#include "bench.h"

#include <stdatomic.h>
#include <xev.h>

#define IN_FLIGHT 1024

static atomic_long ran;
static long queued, completed, want;
static int failed;
static xev_threadpool pool;

static void task(void *ud)
{
	(void)ud;
	atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed);
}

static xev_cb_action on_done(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c, (void)ud;
	if (result < 0) {
		failed = 1;
		return XEV_DISARM;
	}
	completed++;
	if (queued < want) {
		queued++;
		return XEV_REARM;
	}
	return XEV_DISARM;
}

int main(int argc, char **argv)
{
	static xev_completion cs[IN_FLIGHT];
	xev_threadpool_config cfg;
	xev_loop loop;
	double t0, t1;
	struct bench_usage u;
	char lib[32];

	want = 1000000;
	bench_args(argc, argv, &want, 0);
	bench_pin_process();
	xev_threadpool_config_init(&cfg);
	if (xev_threadpool_init(&pool, &cfg) < 0 || xev_loop_init(&loop) < 0)
		bench_fail("setup");
	bench_note("pool: default size (%ld online processors)", sysconf(_SC_NPROCESSORS_ONLN));

	bench_usage_start(&u);
	t0 = bench_now();
	for (int i = 0; i < IN_FLIGHT && queued < want; i++, queued++)
		xev_work(&loop, &cs[i], &pool, task, NULL, on_done);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	t1 = bench_now();

	if (failed || completed != want || atomic_load(&ran) != want)
		bench_fail("%ld of %ld tasks completed, %ld ran", completed, want, atomic_load(&ran));
	snprintf(lib, sizeof lib, "xev-%s", xev_backend_name(xev_loop_backend(&loop)));
	bench_note("%ld tasks in %.3f s", completed, t1 - t0);
	bench_report_ops("threadpool-work", lib, (double)completed / (t1 - t0), "tasks/s", (double)completed, &u);
	xev_loop_deinit(&loop);
	xev_threadpool_shutdown(&pool);
	xev_threadpool_deinit(&pool);
	return 0;
}
