/* SPDX-License-Identifier: MIT */
/*
 * Work on a thread pool, results back on the loop.  Each job embeds its
 * task; a worker computes, then notifies the loop, which collects the
 * finished jobs when it wakes.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <xev.h>

#define JOBS 64

struct job {
	xev_threadpool_task task; /* first, so a task pointer is a job pointer */
	unsigned n;
	unsigned long long result;
	struct app *app;
};

struct app {
	xev_watcher done;
	atomic_uint finished;
	unsigned collected;
	unsigned long long total;
	struct job jobs[JOBS];
};

static void compute(xev_threadpool_task *t)
{
	struct job *j = (struct job *)(void *)t;
	unsigned long long a = 0, b = 1;

	for (unsigned i = 0; i < j->n; i++) { /* fibonacci, slowly */
		unsigned long long next = a + b;
		a = b;
		b = next;
	}
	j->result = a;
	atomic_fetch_add(&j->app->finished, 1);
	xev_async_notify(&j->app->done);
}

static xev_cb_action collect(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct app *app = userdata;
	unsigned now = atomic_load(&app->finished);

	(void)loop, (void)c, (void)result;
	app->collected = now;
	return now < JOBS ? XEV_REARM : XEV_DISARM;
}

int main(void)
{
	static struct app app;
	xev_threadpool pool;
	xev_threadpool_batch batch;
	xev_loop loop;
	xev_completion c;

	if (xev_loop_init(&loop) < 0 || xev_threadpool_init(&pool, NULL) < 0)
		return 1;
	xev_async_init(&app.done);
	xev_threadpool_batch_init(&batch);
	for (unsigned i = 0; i < JOBS; i++) {
		app.jobs[i].n = 10 + i;
		app.jobs[i].app = &app;
		xev_threadpool_task_init(&app.jobs[i].task, compute);
		xev_threadpool_batch_push_task(&batch, &app.jobs[i].task);
	}
	xev_async_wait(&app.done, &loop, &c, &app, collect);
	xev_threadpool_schedule(&pool, &batch);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	for (unsigned i = 0; i < JOBS; i++)
		app.total += app.jobs[i].result;
	printf("%u jobs done, sum of fib(10..%u) = %llu\n", app.collected, 10 + JOBS - 1, app.total);
	xev_threadpool_deinit(&pool);
	xev_async_deinit(&app.done);
	xev_loop_deinit(&loop);
	return app.collected != JOBS;
}
