/* SPDX-License-Identifier: MIT */
/*
 * threadpool-work, libuv side: tiny tasks through uv_queue_work with at
 * most 1024 in flight, each completion queueing the next.  The tasks do
 * next to nothing, so the figure is the round trip through libuv's pool:
 * queueing under its mutex, waking a worker, and handing the completion
 * back to the loop through its internal async handle.
 */
#include "uv-bench.h"

#include <stdatomic.h>
#include <uv.h>

#define IN_FLIGHT 1024

static uv_loop_t loop;
static uv_work_t reqs[IN_FLIGHT];
static atomic_long ran;
static long n, queued, completed;
static double t1;

static void work(uv_work_t *req)
{
	(void)req;
	atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed);
}

static void after_work(uv_work_t *req, int status)
{
	check(status, "work");
	if (++completed == n) {
		t1 = bench_now();
		return;
	}
	if (queued < n) {
		queued++;
		check(uv_queue_work(&loop, req, work, after_work), "uv_queue_work");
	}
}

int main(int argc, char **argv)
{
	double t0;
	struct bench_usage u;

	n = 1000000;
	bench_args(argc, argv, &n, 0);
	bench_pin_process();
	check(uv_loop_init(&loop), "uv_loop_init");

	bench_usage_start(&u);
	t0 = bench_now();
	for (long i = 0; i < n && i < IN_FLIGHT; i++) {
		queued++;
		check(uv_queue_work(&loop, &reqs[i], work, after_work), "uv_queue_work");
	}
	check(uv_run(&loop, UV_RUN_DEFAULT), "uv_run");

	if (completed != n || atomic_load(&ran) != n)
		bench_fail("%ld completions, %ld tasks run, of %ld", completed, atomic_load(&ran), n);
	check(uv_loop_close(&loop), "uv_loop_close");
	bench_uv_pool_note();
	bench_note("tasks %ld", completed);
	bench_note("elapsed %.3f s", t1 - t0);
	bench_report_ops("threadpool-work", "libuv", (double)n / (t1 - t0), "tasks/s", (double)completed, &u);
	return 0;
}
