/* SPDX-License-Identifier: MIT */
/*
 * threadpool-batch: all tasks handed to the pool up front, in batches of
 * 1000, with no loop involved.  This measures the pool alone: taking work
 * off its queue and spreading it over the workers.
 */
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <xev.h>

#define BATCH 1000

static atomic_long ran;
static long want;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_ran = PTHREAD_COND_INITIALIZER;
static int finished;

static void task(xev_threadpool_task *t)
{
	(void)t;
	/* The last one tells the main thread; that happens once. */
	if (atomic_fetch_add_explicit(&ran, 1, memory_order_acq_rel) + 1 == want) {
		pthread_mutex_lock(&mu);
		finished = 1;
		pthread_cond_signal(&all_ran);
		pthread_mutex_unlock(&mu);
	}
}

int main(int argc, char **argv)
{
	xev_threadpool_config cfg;
	xev_threadpool pool;
	xev_threadpool_task *tasks;
	double t0, t1;
	struct bench_usage u;

	want = 1000000;
	bench_args(argc, argv, &want, 0);
	bench_pin_process();
	tasks = malloc((size_t)want * sizeof *tasks);
	xev_threadpool_config_init(&cfg);
	if (!tasks || xev_threadpool_init(&pool, &cfg) < 0)
		bench_fail("setup");
	for (long i = 0; i < want; i++)
		xev_threadpool_task_init(&tasks[i], task);
	bench_note("pool: default size (%ld online processors)", sysconf(_SC_NPROCESSORS_ONLN));

	bench_usage_start(&u);
	t0 = bench_now();
	for (long i = 0; i < want; i += BATCH) {
		xev_threadpool_batch b;
		xev_threadpool_batch_init(&b);
		for (long j = i; j < i + BATCH && j < want; j++)
			xev_threadpool_batch_push_task(&b, &tasks[j]);
		xev_threadpool_schedule(&pool, &b);
	}
	pthread_mutex_lock(&mu);
	while (!finished)
		pthread_cond_wait(&all_ran, &mu);
	pthread_mutex_unlock(&mu);
	t1 = bench_now();

	bench_note("%ld tasks in %.3f s", atomic_load(&ran), t1 - t0);
	bench_report_ops("threadpool-batch", "xev", (double)want / (t1 - t0), "tasks/s", (double)want, &u);
	xev_threadpool_shutdown(&pool);
	xev_threadpool_deinit(&pool);
	free(tasks);
	return 0;
}
