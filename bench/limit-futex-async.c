/* SPDX-License-Identifier: MIT */
/*
 * asyncN with no event library, the limit for bench/xev-async.c: N worker
 * threads ping-pong with the main thread, 1,000,000 pings in all, each
 * ping a notification there and one back.  Every thread sleeps on a futex
 * word of its own (limit-futex.h); the main thread finds which workers
 * pinged through a flag per worker, as a loop finds which async watcher
 * fired.  Without the spin limit-futex.h makes before sleeping, the
 * cross-CPU rows would measure a wake-up that this program, like ours,
 * knows how to avoid.
 */
#include "limit-futex.h"

#include <pthread.h>

struct pair {
	struct waiter worker;
	atomic_bool pinged;     /* the worker's news for the main thread */
	long main_seen, worker_seen, want;
	int role;
	pthread_t th;
};

static struct waiter main_w;

static void ping_main(struct pair *p)
{
	atomic_store_explicit(&p->pinged, true, memory_order_release);
	notify(&main_w);
}

static void *worker_main(void *arg)
{
	struct pair *p = arg;
	uint32_t seen = atomic_load(&p->worker.seq);

	bench_pin(p->role);
	/* Kick off: the main side answers with the first ping. */
	ping_main(p);
	while (p->worker_seen < p->want) {
		seen = wait_news(&p->worker, seen);
		/* The last ping needs no answer: the main side has counted it. */
		if (++p->worker_seen < p->want)
			ping_main(p);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long total = 1000000, nthreads, done = 0, seen_total = 0, waits;
	struct pair *pairs;
	struct bench_usage u;
	uint32_t seen = 0;
	double t0, t1;
	char name[48];

	nthreads = bench_args(argc, argv, &total, 1);
	bench_pin(0);
	if (total < nthreads)
		bench_fail("fewer pings than threads");
	pairs = calloc((size_t)nthreads, sizeof *pairs);
	if (!pairs)
		bench_fail("setup");
	for (long i = 0; i < nthreads; i++) {
		pairs[i].role = (int)i + 1;
		pairs[i].want = total / nthreads + (i < total % nthreads);
		atomic_init(&pairs[i].worker.signal_cpu, -1);
	}
	atomic_init(&main_w.signal_cpu, -1);

	bench_usage_start(&u);
	t0 = bench_now();
	for (long i = 0; i < nthreads; i++)
		if (pthread_create(&pairs[i].th, NULL, worker_main, &pairs[i]) != 0)
			bench_fail("pthread_create");
	while (done < nthreads) {
		seen = wait_news(&main_w, seen);
		for (long i = 0; i < nthreads; i++) {
			struct pair *p = &pairs[i];

			if (!atomic_exchange_explicit(&p->pinged, false, memory_order_acquire))
				continue;
			notify(&p->worker);
			if (++p->main_seen == p->want)
				done++;
		}
	}
	for (long i = 0; i < nthreads; i++)
		pthread_join(pairs[i].th, NULL);
	t1 = bench_now();

	waits = main_w.waits;
	for (long i = 0; i < nthreads; i++) {
		if (pairs[i].main_seen != pairs[i].want || pairs[i].worker_seen != pairs[i].want)
			bench_fail("pair %ld: %ld and %ld of %ld pings", i, pairs[i].main_seen,
				   pairs[i].worker_seen, pairs[i].want);
		seen_total += pairs[i].main_seen;
		waits += pairs[i].worker.waits;
	}
	snprintf(name, sizeof name, "async%ld", nthreads);
	bench_note("%ld pings over %ld threads in %.3f s; %ld FUTEX_WAIT, %ld FUTEX_WAKE", seen_total, nthreads,
		   t1 - t0, waits, atomic_load(&wakes_sent));
	bench_report_ops(name, "limit-futex", (double)seen_total / (t1 - t0), "pings/s", (double)seen_total, &u);
	free(pairs);
	return 0;
}
