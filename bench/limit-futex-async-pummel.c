/* SPDX-License-Identifier: MIT */
/*
 * async-pummel-N with no event library, the limit for
 * bench/xev-async-pummel.c: N threads raise one flag as fast as they can,
 * and the main thread counts how often it finds the flag raised, sleeping
 * on its futex word (limit-futex.h) when it is not.  Raises coalesce as
 * notifications of one async watcher do: only the one that finds the flag
 * down bumps the word, and wakes the main thread if it sleeps.
 */
#include "limit-futex.h"

#include <pthread.h>
#include <stdlib.h>

static struct waiter main_w;
static atomic_int raised, stop, running;

static void raise_flag(void)
{
	/* A read-modify-write even when the flag is up, as a notify does. */
	if (!atomic_exchange(&raised, 1))
		notify(&main_w);
}

static void *pummel(void *arg)
{
	bench_pin((int)(intptr_t)arg);
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		raise_flag();
	atomic_fetch_sub(&running, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	long want = 1000000, nthreads, callbacks = 0;
	pthread_t *th;
	struct bench_usage u;
	uint32_t seen = 0;
	double t0, t1;
	char name[48];

	nthreads = bench_args(argc, argv, &want, 1);
	bench_pin(0);
	th = calloc((size_t)nthreads, sizeof *th);
	if (!th)
		bench_fail("setup");
	atomic_init(&main_w.signal_cpu, -1);
	atomic_store(&running, (int)nthreads);

	bench_usage_start(&u);
	t0 = bench_now();
	bench_start_roles(th, nthreads, pummel);
	while (callbacks < want) {
		/* seen is from before the look at the flag: a raise after it
		 * has moved the word, and the wait returns at once. */
		if (!atomic_load(&raised))
			seen = wait_news(&main_w, seen);
		if (atomic_exchange(&raised, 0))
			callbacks++;
	}
	atomic_store(&stop, 1);
	while (atomic_load(&running))
		sched_yield();
	t1 = bench_now();
	for (long i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);

	snprintf(name, sizeof name, "async-pummel-%ld", nthreads);
	bench_note("%ld callbacks with %ld threads in %.3f s; %ld FUTEX_WAIT, %ld FUTEX_WAKE", callbacks,
		   nthreads, t1 - t0, main_w.waits, atomic_load(&wakes_sent));
	bench_report_ops(name, "limit-futex", (double)callbacks / (t1 - t0), "callbacks/s", (double)callbacks, &u);
	free(th);
	return 0;
}
