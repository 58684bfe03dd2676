/* SPDX-License-Identifier: MIT */
/*
 * async<T>, libev side: the cost of waking a loop from another thread,
 * measured as strict ping-pong between the main loop and T worker loops.
 * Each pair has exactly one notification in flight, so ev_async_send never
 * coalesces and every ping is a full cross-thread wake-up (eventfd write,
 * epoll wake-up, callback) in each direction.
 */
#include <pthread.h>
#include <stdatomic.h>

#include <ev.h>

#include "ev-bench.h"

#define DEFAULT_P 1000000L

struct pair {
	struct ev_loop *main_loop;
	/* Published by the worker before its first notification. */
	struct ev_loop *_Atomic worker_loop;
	ev_async main_side;   /* on the main loop, notified by the worker */
	ev_async worker_side; /* on the worker's loop, notified by main */
	long per_pair;
	long main_count;      /* touched by the main thread only */
	long worker_count;    /* touched by the worker thread only */
	int role;             /* for bench_pin */
	pthread_t thread;
};

static long pairs_left;
static long main_total;

static void main_side_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct pair *p = w->data;

	(void)revents;
	main_total++;
	p->main_count++;
	/* Main's last ping still goes out: the worker needs P/T of its own. */
	ev_async_send(atomic_load_explicit(&p->worker_loop, memory_order_acquire), &p->worker_side);
	if (p->main_count == p->per_pair) {
		ev_async_stop(loop, w);
		if (--pairs_left == 0)
			ev_break(loop, EVBREAK_ALL);
	}
}

static void worker_side_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct pair *p = w->data;

	(void)revents;
	if (++p->worker_count == p->per_pair) {
		ev_async_stop(loop, w);
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	ev_async_send(p->main_loop, &p->main_side);
}

static void *worker_main(void *arg)
{
	struct pair *p = arg;
	struct ev_loop *loop;

	bench_pin(p->role);
	loop = ev_loop_new(EVFLAG_AUTO);
	if (!loop)
		bench_fail("ev_loop_new failed");
	ev_async_init(&p->worker_side, worker_side_cb);
	p->worker_side.data = p;
	ev_async_start(loop, &p->worker_side);
	atomic_store_explicit(&p->worker_loop, loop, memory_order_release);

	/* Loop ready: tell the main side to start the ping-pong. */
	ev_async_send(p->main_loop, &p->main_side);
	ev_run(loop, 0);
	/* The loop is destroyed by main after the join: main may still be inside
	 * its last ev_async_send to it when this thread gets here. */
	return NULL;
}

int main(int argc, char **argv)
{
	long total = DEFAULT_P;
	long t, per_pair;
	struct ev_loop *loop;
	struct pair *pairs;
	double t0, t1, elapsed;
	struct bench_usage u;
	char name[32];

	t = bench_args(argc, argv, &total, 1);
	bench_pin(0);
	per_pair = total / t;
	if (per_pair < 1)
		bench_fail("%ld pings cannot be shared by %ld threads", total, t);

	loop = ev_default_loop(EVFLAG_AUTO);
	if (!loop)
		bench_fail("ev_default_loop failed");

	pairs = calloc((size_t)t, sizeof(*pairs));
	if (!pairs)
		bench_fail("out of memory");
	for (long i = 0; i < t; i++) {
		struct pair *p = &pairs[i];
		p->main_loop = loop;
		p->per_pair = per_pair;
		p->role = (int)i + 1;
		ev_async_init(&p->main_side, main_side_cb);
		p->main_side.data = p;
		ev_async_start(loop, &p->main_side);
	}
	pairs_left = t;

	bench_usage_start(&u);
	t0 = bench_now();
	for (long i = 0; i < t; i++)
		if (pthread_create(&pairs[i].thread, NULL, worker_main, &pairs[i]) != 0)
			bench_fail("pthread_create failed");
	ev_run(loop, 0);
	for (long i = 0; i < t; i++)
		if (pthread_join(pairs[i].thread, NULL) != 0)
			bench_fail("pthread_join failed");
	t1 = bench_now();
	elapsed = t1 - t0;

	bench_note("libev %d.%d backend %s (main), %s (workers)", ev_version_major(),
		   ev_version_minor(), backend_name(ev_backend(loop)),
		   backend_name(ev_backend(atomic_load(&pairs[0].worker_loop))));
	for (long i = 0; i < t; i++) {
		struct pair *p = &pairs[i];
		if (p->main_count != per_pair || p->worker_count != per_pair)
			bench_fail("pair %ld: %ld main-side and %ld worker-side pings, expected %ld",
				   i, p->main_count, p->worker_count, per_pair);
		ev_loop_destroy(atomic_load(&p->worker_loop));
	}
	if (main_total != per_pair * t)
		bench_fail("%ld main-side callbacks, expected %ld", main_total, per_pair * t);

	bench_note("threads %ld, pings per thread %ld", t, per_pair);
	if (total % t != 0)
		bench_note("%ld pings do not divide among %ld threads: %ld run", total, t,
			   per_pair * t);
	bench_note("main-side callbacks %ld", main_total);
	bench_note("elapsed %.3f s", elapsed);
	snprintf(name, sizeof(name), "async%ld", t);
	bench_report_ops(name, bench_ev_library(loop), (double)main_total / elapsed, "pings/s", (double)main_total, &u);
	free(pairs);
	ev_loop_destroy(loop);
	return 0;
}
