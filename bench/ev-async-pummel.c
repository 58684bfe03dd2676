/* SPDX-License-Identifier: MIT */
/*
 * async-pummel-<T>, libev side: how many callbacks one loop gets out of an
 * async watcher that T threads notify as fast as they can.  Notifications
 * arriving while one is pending coalesce, so this measures how cheaply
 * ev_async_send collapses concurrent sends and how fast the loop can go
 * round (wake-up, callback, re-arm), not how many sends were made.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include <ev.h>

#include "ev-bench.h"

#define DEFAULT_C 1000000L

static struct ev_loop *main_loop;
static ev_async async_w;
static atomic_int stop_flag;
static atomic_long threads_in; /* threads that have not left their send loop */
static long target;
static long callbacks;
static double t_end;

static void *pummel_main(void *arg)
{
	bench_pin((int)(intptr_t)arg);
	while (!atomic_load_explicit(&stop_flag, memory_order_relaxed))
		ev_async_send(main_loop, &async_w);
	atomic_fetch_sub_explicit(&threads_in, 1, memory_order_release);
	return NULL;
}

static void async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)revents;
	if (++callbacks < target)
		return;
	t_end = bench_now();
	atomic_store_explicit(&stop_flag, 1, memory_order_relaxed);
	/* No thread may still be inside ev_async_send once the watcher stops. */
	while (atomic_load_explicit(&threads_in, memory_order_acquire) > 0)
		sched_yield();
	ev_async_stop(loop, w);
	ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
	long c = DEFAULT_C;
	long t;
	pthread_t *threads;
	double t0, elapsed;
	struct bench_usage u;
	char name[40];

	t = bench_args(argc, argv, &c, 1);
	bench_pin(0);
	target = c;

	main_loop = ev_default_loop(EVFLAG_AUTO);
	if (!main_loop)
		bench_fail("ev_default_loop failed");
	bench_note("libev %d.%d backend %s", ev_version_major(), ev_version_minor(),
		   backend_name(ev_backend(main_loop)));

	threads = calloc((size_t)t, sizeof(*threads));
	if (!threads)
		bench_fail("out of memory");
	ev_async_init(&async_w, async_cb);
	ev_async_start(main_loop, &async_w);
	atomic_store(&threads_in, t);

	bench_usage_start(&u);
	t0 = bench_now();
	bench_start_roles(threads, t, pummel_main);
	ev_run(main_loop, 0);
	for (long i = 0; i < t; i++)
		if (pthread_join(threads[i], NULL) != 0)
			bench_fail("pthread_join failed");

	if (callbacks != c)
		bench_fail("%ld callbacks, expected %ld", callbacks, c);
	elapsed = t_end - t0;

	bench_note("threads %ld", t);
	bench_note("callbacks %ld", callbacks);
	bench_note("elapsed %.3f s", elapsed);
	snprintf(name, sizeof(name), "async-pummel-%ld", t);
	bench_report_ops(name, bench_ev_library(main_loop), (double)c / elapsed, "callbacks/s", (double)callbacks, &u);
	free(threads);
	ev_loop_destroy(main_loop);
	return 0;
}
