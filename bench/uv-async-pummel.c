/* SPDX-License-Identifier: MIT */
/*
 * async-pummel-<T>, libuv side: T threads hammer uv_async_send on one
 * handle of the main loop.  Sends coalesce, so the figure is how many
 * callbacks per second the loop delivers under a storm of notifications:
 * the cost of the wakeup path and of senders contending on the handle.
 */
#include "uv-bench.h"

#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

static uv_loop_t loop;
static uv_async_t handle;
static atomic_bool stop;
static atomic_long left;   /* threads that have stopped sending */
static long target, callbacks, nthreads;
static double t1;

static void pummel(void *arg)
{
	bench_pin((int)(intptr_t)arg);
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		uv_async_send(&handle);
	atomic_fetch_add_explicit(&left, 1, memory_order_release);
}

static void on_async(uv_async_t *a)
{
	if (++callbacks < target)
		return;
	t1 = bench_now();
	atomic_store_explicit(&stop, 1, memory_order_relaxed);
	/* No sender may touch the handle once it is closing. */
	while (atomic_load_explicit(&left, memory_order_acquire) != nthreads)
		;
	uv_close((uv_handle_t *)a, NULL);
}

int main(int argc, char **argv)
{
	uv_thread_t *threads;
	double t0;
	struct bench_usage u;
	char name[32];

	target = 1000000;
	nthreads = bench_args(argc, argv, &target, 1);
	bench_pin(0);
	threads = calloc((size_t)nthreads, sizeof(*threads));
	if (!threads)
		bench_fail("out of memory");
	check(uv_loop_init(&loop), "uv_loop_init");
	check(uv_async_init(&loop, &handle, on_async), "uv_async_init");

	bench_usage_start(&u);
	t0 = bench_now();
	for (long i = 0; i < nthreads; i++)
		check(uv_thread_create(&threads[i], pummel, (void *)(intptr_t)(i + 1)), "uv_thread_create");
	check(uv_run(&loop, UV_RUN_DEFAULT), "uv_run");
	for (long i = 0; i < nthreads; i++)
		check(uv_thread_join(&threads[i]), "uv_thread_join");
	check(uv_loop_close(&loop), "uv_loop_close");
	free(threads);

	if (callbacks != target)
		bench_fail("%ld of %ld callbacks", callbacks, target);
	snprintf(name, sizeof name, "async-pummel-%ld", nthreads);
	bench_note("threads %ld", nthreads);
	bench_note("callbacks %ld", callbacks);
	bench_note("elapsed %.3f s", t1 - t0);
	bench_report_ops(name, "libuv", (double)target / (t1 - t0), "callbacks/s", (double)callbacks, &u);
	return 0;
}
