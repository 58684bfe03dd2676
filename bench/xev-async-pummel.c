/* SPDX-License-Identifier: MIT */
/*
 * async-pummel-N: N threads notify one async watcher as fast as they can.
 * Notifications coalesce, so what is measured is how many callbacks the
 * loop gets through while being hammered from other cores: the price of
 * a notify that finds the loop awake, and of re-arming the wait.
 */
#include "bench.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <xev.h>

static xev_watcher notifier;
static atomic_int stop, running;
static long callbacks, want;
static int failed;

static xev_cb_action on_async(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c, (void)ud;
	if (result < 0) {
		failed = 1;
		atomic_store(&stop, 1);
		return XEV_DISARM;
	}
	if (++callbacks < want)
		return XEV_REARM;
	atomic_store(&stop, 1);
	while (atomic_load(&running))
		sched_yield();
	return XEV_DISARM;
}

static void *pummel(void *arg)
{
	bench_pin((int)(intptr_t)arg);
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		if (xev_async_notify(&notifier) < 0)
			break;
	atomic_fetch_sub(&running, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	long nthreads;
	pthread_t *th;
	xev_loop loop;
	xev_completion c;
	double t0, t1;
	struct bench_usage u;
	char name[48], lib[32];

	want = 1000000;
	nthreads = bench_args(argc, argv, &want, 1);
	bench_pin(0);
	th = calloc((size_t)nthreads, sizeof *th);
	if (!th || xev_loop_init(&loop) < 0 || xev_async_init(&notifier) < 0)
		bench_fail("setup");
	xev_async_wait(&notifier, &loop, &c, NULL, on_async);
	atomic_store(&running, (int)nthreads);

	bench_usage_start(&u);
	t0 = bench_now();
	bench_start_roles(th, nthreads, pummel);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	t1 = bench_now();
	for (long i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);

	if (failed || callbacks != want)
		bench_fail("%ld of %ld callbacks", callbacks, want);
	snprintf(name, sizeof name, "async-pummel-%ld", nthreads);
	snprintf(lib, sizeof lib, "xev-%s", xev_backend_name(xev_loop_backend(&loop)));
	bench_note("%ld callbacks with %ld threads in %.3f s", callbacks, nthreads, t1 - t0);
	bench_report_ops(name, lib, (double)callbacks / (t1 - t0), "callbacks/s", (double)callbacks, &u);
	xev_async_deinit(&notifier);
	xev_loop_deinit(&loop);
	free(th);
	return 0;
}
