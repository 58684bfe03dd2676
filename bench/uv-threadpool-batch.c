/* SPDX-License-Identifier: MIT */
/*
 * threadpool-batch, libuv side: all N tiny tasks queued with uv_queue_work
 * before the loop runs.  With the queue never empty, the figure is the
 * pool's raw throughput: workers contending on libuv's one queue mutex and
 * completions batched back to the loop through its internal async handle.
 */
#include "uv-bench.h"

#include <stdatomic.h>
#include <uv.h>

static atomic_long ran;
static long completed;

static void work(uv_work_t *req)
{
	(void)req;
	atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed);
}

static void after_work(uv_work_t *req, int status)
{
	(void)req;
	check(status, "work");
	completed++;
}

int main(int argc, char **argv)
{
	long n = 1000000;
	uv_work_t *reqs;
	uv_loop_t loop;
	double t0, t1;
	struct bench_usage u;

	bench_args(argc, argv, &n, 0);
	bench_pin_process();
	check(uv_loop_init(&loop), "uv_loop_init");
	reqs = malloc((size_t)n * sizeof(*reqs));
	if (!reqs)
		bench_fail("out of memory");
	/* First-touch page faults would otherwise be charged to the library. */
	memset(reqs, 0, (size_t)n * sizeof(*reqs));

	bench_usage_start(&u);
	t0 = bench_now();
	for (long i = 0; i < n; i++)
		check(uv_queue_work(&loop, &reqs[i], work, after_work), "uv_queue_work");
	check(uv_run(&loop, UV_RUN_DEFAULT), "uv_run");
	t1 = bench_now();

	if (completed != n || atomic_load(&ran) != n)
		bench_fail("%ld completions, %ld tasks run, of %ld", completed, atomic_load(&ran), n);
	/* Before freeing the requests, which is no part of the window. */
	bench_report_ops("threadpool-batch", "libuv", (double)n / (t1 - t0), "tasks/s", (double)completed, &u);
	check(uv_loop_close(&loop), "uv_loop_close");
	free(reqs);
	bench_uv_pool_note();
	bench_note("tasks %ld", completed);
	bench_note("elapsed %.3f s", t1 - t0);
	return 0;
}
