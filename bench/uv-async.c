/* SPDX-License-Identifier: MIT */
/*
 * async<T>, libuv side: T ping-pong pairs between the main loop and T
 * worker loops, each ping a uv_async_send answered by the other side's
 * callback.  One ping per pair is in flight, so nothing coalesces: every
 * send is a cross-thread wakeup, and the figure is the cost of
 * uv_async_send plus waking and dispatching a loop that sleeps in the
 * kernel, with T pairs competing for the main loop.
 */
#include "uv-bench.h"

#include <stdatomic.h>
#include <uv.h>

struct pair {
	uv_async_t main_side;     /* on the main loop, sent by the worker */
	uv_async_t worker_side;   /* on the worker's loop, sent by main */
	uv_loop_t loop;           /* the worker's */
	uv_thread_t thread;
	int role; /* for bench_pin */
	long main_count, worker_count;
};

static uv_loop_t main_loop;
static long per_pair;

static void on_main_side(uv_async_t *a)
{
	struct pair *p = a->data;

	check(uv_async_send(&p->worker_side), "uv_async_send");
	/* The worker sends nothing after the ping that brought us here. */
	if (++p->main_count == per_pair)
		uv_close((uv_handle_t *)a, NULL);
}

static void on_worker_side(uv_async_t *a)
{
	struct pair *p = a->data;

	if (++p->worker_count == per_pair) {
		uv_close((uv_handle_t *)a, NULL);
		return;
	}
	check(uv_async_send(&p->main_side), "uv_async_send");
}

static void worker(void *arg)
{
	struct pair *p = arg;

	bench_pin(p->role);
	check(uv_loop_init(&p->loop), "uv_loop_init");
	check(uv_async_init(&p->loop, &p->worker_side, on_worker_side), "uv_async_init");
	p->worker_side.data = p;
	/* Set up: tell the main side to start. */
	check(uv_async_send(&p->main_side), "uv_async_send");
	check(uv_run(&p->loop, UV_RUN_DEFAULT), "worker uv_run");
	check(uv_loop_close(&p->loop), "worker uv_loop_close");
}

int main(int argc, char **argv)
{
	long total = 1000000, t;
	struct pair *pairs;
	double t0, t1;
	struct bench_usage u;
	long main_cbs = 0, worker_cbs = 0;
	char name[32];

	t = bench_args(argc, argv, &total, 1);
	bench_pin(0);
	per_pair = total / t;
	if (per_pair == 0)
		bench_fail("fewer pings (%ld) than threads (%ld)", total, t);
	pairs = calloc((size_t)t, sizeof(*pairs));
	if (!pairs)
		bench_fail("out of memory");
	check(uv_loop_init(&main_loop), "uv_loop_init");
	for (long i = 0; i < t; i++) {
		check(uv_async_init(&main_loop, &pairs[i].main_side, on_main_side), "uv_async_init");
		pairs[i].main_side.data = &pairs[i];
		pairs[i].role = (int)i + 1;
	}

	bench_usage_start(&u);
	t0 = bench_now();
	for (long i = 0; i < t; i++)
		check(uv_thread_create(&pairs[i].thread, worker, &pairs[i]), "uv_thread_create");
	check(uv_run(&main_loop, UV_RUN_DEFAULT), "uv_run");
	for (long i = 0; i < t; i++)
		check(uv_thread_join(&pairs[i].thread), "uv_thread_join");
	t1 = bench_now();

	for (long i = 0; i < t; i++) {
		if (pairs[i].main_count != per_pair || pairs[i].worker_count != per_pair)
			bench_fail("pair %ld: %ld/%ld main, %ld/%ld worker callbacks", i,
				   pairs[i].main_count, per_pair, pairs[i].worker_count, per_pair);
		main_cbs += pairs[i].main_count;
		worker_cbs += pairs[i].worker_count;
	}
	check(uv_loop_close(&main_loop), "uv_loop_close");
	free(pairs);

	snprintf(name, sizeof name, "async%ld", t);
	bench_note("threads %ld", t);
	bench_note("pings %ld main side, %ld worker side", main_cbs, worker_cbs);
	bench_note("elapsed %.3f s", t1 - t0);
	bench_report_ops(name, "libuv", (double)main_cbs / (t1 - t0), "pings/s", (double)main_cbs, &u);
	return 0;
}
