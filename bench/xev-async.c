/* SPDX-License-Identifier: MIT */
/*
 * asyncN: N worker threads, each with its own loop, ping-pong with the
 * main loop through async watchers.  Every ping wakes a loop that is
 * usually asleep, so this measures the cross-thread wake-up path: the
 * notify, the kernel wake-up, and the loop noticing which watcher fired.
 */
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <xev.h>

struct pair {
	xev_loop *main_loop;
	xev_loop loop;                /* the worker's */
	xev_watcher main_side;        /* waited on by the main loop */
	xev_watcher worker_side;      /* waited on by the worker's loop */
	xev_completion main_c, worker_c;
	long main_seen, worker_seen, want;
	pthread_t th;
	int role; /* for bench_pin */
	int failed;
};

static atomic_long pairs_done;

static xev_cb_action on_main(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct pair *p = ud;
	(void)l, (void)c;
	if (result < 0 || xev_async_notify(&p->worker_side) < 0) {
		p->failed = 1;
		atomic_fetch_add(&pairs_done, 1);
		return XEV_DISARM;
	}
	if (++p->main_seen < p->want)
		return XEV_REARM;
	atomic_fetch_add(&pairs_done, 1);
	return XEV_DISARM;
}

static xev_cb_action on_worker(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct pair *p = ud;
	(void)l, (void)c;
	if (result < 0) {
		p->failed = 1;
		return XEV_DISARM;
	}
	/* The last ping needs no answer: the main side has counted it. */
	if (++p->worker_seen < p->want && xev_async_notify(&p->main_side) < 0)
		p->failed = 1;
	return p->worker_seen < p->want ? XEV_REARM : XEV_DISARM;
}

static void *worker_main(void *arg)
{
	struct pair *p = arg;
	bench_pin(p->role);
	xev_async_wait(&p->worker_side, &p->loop, &p->worker_c, p, on_worker);
	/* Kick off: the main side answers with the first ping. */
	if (xev_async_notify(&p->main_side) < 0)
		p->failed = 1;
	xev_loop_run(&p->loop, XEV_RUN_UNTIL_DONE);
	return NULL;
}

int main(int argc, char **argv)
{
	long total = 1000000, nthreads;
	struct pair *pairs;
	xev_loop loop;
	double t0, t1;
	struct bench_usage u;
	char name[48], lib[32];
	long seen = 0;

	nthreads = bench_args(argc, argv, &total, 1);
	bench_pin(0);
	if (total < nthreads)
		bench_fail("fewer pings than threads");
	pairs = calloc((size_t)nthreads, sizeof *pairs);
	if (!pairs || xev_loop_init(&loop) < 0)
		bench_fail("setup");
	for (long i = 0; i < nthreads; i++) {
		struct pair *p = &pairs[i];
		p->main_loop = &loop;
		p->role = (int)i + 1;
		p->want = total / nthreads + (i < total % nthreads);
		if (xev_loop_init(&p->loop) < 0 || xev_async_init(&p->main_side) < 0 ||
		    xev_async_init(&p->worker_side) < 0)
			bench_fail("setup");
		xev_async_wait(&p->main_side, &loop, &p->main_c, p, on_main);
	}

	bench_usage_start(&u);
	t0 = bench_now();
	for (long i = 0; i < nthreads; i++)
		if (pthread_create(&pairs[i].th, NULL, worker_main, &pairs[i]) != 0)
			bench_fail("pthread_create");
	while (atomic_load(&pairs_done) < nthreads)
		xev_loop_run(&loop, XEV_RUN_ONCE);
	for (long i = 0; i < nthreads; i++)
		pthread_join(pairs[i].th, NULL);
	t1 = bench_now();

	for (long i = 0; i < nthreads; i++) {
		if (pairs[i].failed || pairs[i].main_seen != pairs[i].want)
			bench_fail("pair %ld: %ld of %ld pings", i, pairs[i].main_seen, pairs[i].want);
		seen += pairs[i].main_seen;
	}
	snprintf(name, sizeof name, "async%ld", nthreads);
	snprintf(lib, sizeof lib, "xev-%s", xev_backend_name(xev_loop_backend(&loop)));
	bench_note("%ld pings over %ld threads in %.3f s", seen, nthreads, t1 - t0);
	bench_report_ops(name, lib, (double)seen / (t1 - t0), "pings/s", (double)seen, &u);
	for (long i = 0; i < nthreads; i++) {
		xev_async_deinit(&pairs[i].main_side);
		xev_async_deinit(&pairs[i].worker_side);
		xev_loop_deinit(&pairs[i].loop);
	}
	xev_loop_deinit(&loop);
	free(pairs);
	return 0;
}
