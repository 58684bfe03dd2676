/* SPDX-License-Identifier: MIT */
/*
 * The thread pool: configuration and init errors, tasks scheduled
 * concurrently from several threads all run exactly once on worker
 * threads, max_threads bounds concurrency, FIFO order with one worker,
 * batches are moved (not copied), shutdown and deinit drain the queue and
 * refuse new work, tasks may free themselves, stack_size is honoured.
 * The pool has no backend: these checks run once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "tap.h"

#define CHECKS 27
#define SCHED_THREADS 4
#define PER_THREAD 2500
#define NTASKS (SCHED_THREADS * PER_THREAD)

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000L };
	while (nanosleep(&ts, &ts) < 0)
		;
}

/* Waits up to 10 s for *n to reach want. */
static int wait_for(atomic_int *n, int want)
{
	int64_t t0 = mono_ms();
	while (atomic_load(n) < want && mono_ms() - t0 < 10000)
		sleep_us(1000);
	return atomic_load(n) >= want;
}

/* A task with what it saw.  The xev task comes first: the callback gets
 * its address back. */
struct mytask {
	xev_threadpool_task t;
	atomic_int runs;
	int seq;              /* order of scheduling */
	pthread_t scheduler;
	atomic_int on_scheduler;
};

static atomic_int total_runs, running, max_running, order_pos, order_bad;
static long sleep_in_task_us;

static void reset_stats(void)
{
	atomic_store(&total_runs, 0);
	atomic_store(&running, 0);
	atomic_store(&max_running, 0);
	atomic_store(&order_pos, 0);
	atomic_store(&order_bad, 0);
	sleep_in_task_us = 0;
}

static void task_cb(xev_threadpool_task *t)
{
	struct mytask *m = (struct mytask *)(void *)t;
	int cur = atomic_fetch_add(&running, 1) + 1;
	int max = atomic_load(&max_running);

	while (cur > max && !atomic_compare_exchange_weak(&max_running, &max, cur))
		;
	if (pthread_equal(pthread_self(), m->scheduler))
		atomic_fetch_add(&m->on_scheduler, 1);
	if (atomic_fetch_add(&order_pos, 1) != m->seq)
		atomic_fetch_add(&order_bad, 1);
	if (sleep_in_task_us)
		sleep_us(sleep_in_task_us);
	atomic_fetch_sub(&running, 1);
	atomic_fetch_add(&m->runs, 1);
	atomic_fetch_add(&total_runs, 1);
}

static struct mytask *make_tasks(int n)
{
	struct mytask *ts = calloc((size_t)n, sizeof *ts);
	if (!ts)
		bail("out of memory");
	for (int i = 0; i < n; i++) {
		xev_threadpool_task_init(&ts[i].t, task_cb);
		atomic_init(&ts[i].runs, 0);
		atomic_init(&ts[i].on_scheduler, 0);
		ts[i].seq = i;
		ts[i].scheduler = pthread_self();
	}
	return ts;
}

/* Counts tasks whose run count is not `want`. */
static int count_not(struct mytask *ts, int n, int want)
{
	int bad = 0;
	for (int i = 0; i < n; i++)
		if (atomic_load(&ts[i].runs) != want)
			bad++;
	return bad;
}

/* Schedules ts[0..n) in one batch. */
static void schedule_all(xev_threadpool *pool, struct mytask *ts, int n)
{
	xev_threadpool_batch b;
	xev_threadpool_batch_init(&b);
	for (int i = 0; i < n; i++)
		xev_threadpool_batch_push_task(&b, &ts[i].t);
	xev_threadpool_schedule(pool, &b);
}

static int init_pool(xev_threadpool *pool, uint32_t max_threads)
{
	xev_threadpool_config cfg;
	xev_threadpool_config_init(&cfg);
	xev_threadpool_config_set_max_threads(&cfg, max_threads);
	return xev_threadpool_init(pool, &cfg);
}

static void check_init(void)
{
	xev_threadpool pool;
	xev_threadpool_config cfg;

	xev_threadpool_config_init(&cfg);
	is_int(xev_threadpool_init(&pool, &cfg), 0, "init with a default config: 0");
	xev_threadpool_deinit(&pool);
	is_int(xev_threadpool_init(&pool, NULL), 0, "init with a NULL config: 0");
	xev_threadpool_deinit(&pool);
	xev_threadpool_deinit(&pool);
	is_int(xev_threadpool_init(&pool, NULL), 0, "a second deinit is a no-op; the pool can be initialised again");
	xev_threadpool_deinit(&pool);

	memset(&cfg, 0, sizeof cfg);
	is_int(xev_threadpool_init(&pool, &cfg), -EINVAL, "init with a zeroed (uninitialised) config: -EINVAL");
	memset(&cfg, 0x5a, sizeof cfg);
	is_int(xev_threadpool_init(&pool, &cfg), -EINVAL, "init with a garbage (uninitialised) config: -EINVAL");
	xev_threadpool_config_init(&cfg);
	xev_threadpool_config_set_max_threads(&cfg, 5000);
	is_int(xev_threadpool_init(&pool, &cfg), -EINVAL, "init with max_threads 5000: -EINVAL");
	is_int(xev_threadpool_init(NULL, NULL), -EINVAL, "init(NULL, NULL): -EINVAL");
}

/* The default max_threads is the number of CPUs. */
static void check_defaults(void)
{
	xev_threadpool pool;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int n = 8 * (int)(ncpu > 0 ? ncpu : 1);
	struct mytask *ts = make_tasks(n);

	reset_stats();
	sleep_in_task_us = 2000;
	if (xev_threadpool_init(&pool, NULL) != 0)
		bail("xev_threadpool_init failed");
	for (int i = 0; i < n; i++)
		schedule_all(&pool, &ts[i], 1);
	xev_threadpool_deinit(&pool);
	ok(count_not(ts, n, 1) == 0 && atomic_load(&max_running) <= ncpu,
	   "default max_threads: %d tasks ran once, at most %d at a time (the CPUs; max seen %d)", n, (int)ncpu,
	   atomic_load(&max_running));
	free(ts);
}

/* SCHED_THREADS threads schedule PER_THREAD tasks each, in batches. */
struct scheduler {
	xev_threadpool *pool;
	struct mytask *ts;
};

static void *scheduler_main(void *arg)
{
	struct scheduler *s = arg;
	int i = 0, size = 1;

	for (int k = 0; k < PER_THREAD; k++)
		s->ts[k].scheduler = pthread_self();
	while (i < PER_THREAD) {
		xev_threadpool_batch b;
		xev_threadpool_batch_init(&b);
		for (int k = 0; k < size && i < PER_THREAD; k++, i++)
			xev_threadpool_batch_push_task(&b, &s->ts[i].t);
		xev_threadpool_schedule(s->pool, &b);
		size = size % 37 + 1;
	}
	return NULL;
}

static void check_concurrent_schedule(void)
{
	xev_threadpool pool;
	struct mytask *ts = make_tasks(NTASKS);
	struct scheduler s[SCHED_THREADS];
	pthread_t th[SCHED_THREADS];
	int on_sched = 0, done;

	reset_stats();
	if (init_pool(&pool, 4) != 0)
		bail("xev_threadpool_init failed");
	for (int i = 0; i < SCHED_THREADS; i++) {
		s[i].pool = &pool;
		s[i].ts = ts + i * PER_THREAD;
		if (pthread_create(&th[i], NULL, scheduler_main, &s[i]) != 0)
			bail("pthread_create failed");
	}
	for (int i = 0; i < SCHED_THREADS; i++)
		pthread_join(th[i], NULL);
	done = wait_for(&total_runs, NTASKS);
	ok(done, "%d tasks scheduled from %d threads: all ran (before deinit)", NTASKS, SCHED_THREADS);
	xev_threadpool_deinit(&pool);
	is_int(count_not(ts, NTASKS, 1), 0, "%d tasks scheduled from %d threads: each ran exactly once", NTASKS,
	       SCHED_THREADS);
	for (int i = 0; i < NTASKS; i++)
		on_sched += atomic_load(&ts[i].on_scheduler);
	is_int(on_sched, 0, "no task ran on the thread that scheduled it");
	ok(atomic_load(&max_running) <= 4, "max_threads 4: at most 4 tasks at a time (max seen %d)",
	   atomic_load(&max_running));
	free(ts);
}

/* One worker: one task at a time, in FIFO order. */
static void check_max_threads(void)
{
	xev_threadpool pool;
	struct mytask *ts = make_tasks(60);

	reset_stats();
	sleep_in_task_us = 300;
	if (init_pool(&pool, 1) != 0)
		bail("xev_threadpool_init failed");
	for (int i = 0; i < 60; i += 10)
		schedule_all(&pool, &ts[i], 10);
	xev_threadpool_deinit(&pool);
	ok(count_not(ts, 60, 1) == 0 && atomic_load(&max_running) == 1,
	   "max_threads 1: every task ran, one at a time (max seen %d)", atomic_load(&max_running));
	is_int(atomic_load(&order_bad), 0, "max_threads 1: tasks run in the order they were scheduled (FIFO)");
	free(ts);

	ts = make_tasks(60);
	reset_stats();
	sleep_in_task_us = 1000;
	if (init_pool(&pool, 3) != 0)
		bail("xev_threadpool_init failed");
	for (int i = 0; i < 60; i += 5)
		schedule_all(&pool, &ts[i], 5);
	xev_threadpool_deinit(&pool);
	ok(count_not(ts, 60, 1) == 0 && atomic_load(&max_running) <= 3,
	   "max_threads 3: every task ran, at most 3 at a time (max seen %d)", atomic_load(&max_running));
	free(ts);
}

/* Workers of a one-thread pool: every task sees the same thread. */
static pthread_t seen_thread;
static atomic_int seen_set, seen_other;

static void same_thread_cb(xev_threadpool_task *t)
{
	int expected = 0;
	if (atomic_compare_exchange_strong(&seen_set, &expected, 1))
		seen_thread = pthread_self();
	else if (!pthread_equal(seen_thread, pthread_self()))
		atomic_fetch_add(&seen_other, 1);
	task_cb(t);
}

static void check_single_worker_thread(void)
{
	xev_threadpool pool;
	struct mytask *ts = make_tasks(40);

	reset_stats();
	atomic_store(&seen_set, 0);
	atomic_store(&seen_other, 0);
	for (int i = 0; i < 40; i++)
		xev_threadpool_task_init(&ts[i].t, same_thread_cb);
	if (init_pool(&pool, 1) != 0)
		bail("xev_threadpool_init failed");
	for (int i = 0; i < 40; i++) {
		schedule_all(&pool, &ts[i], 1);
		if (i % 10 == 9) /* let the worker go idle now and then */
			wait_for(&total_runs, i + 1);
	}
	xev_threadpool_deinit(&pool);
	ok(count_not(ts, 40, 1) == 0 && atomic_load(&seen_other) == 0,
	   "max_threads 1: every task runs on the same worker thread");
	free(ts);
}

/* Workers block every signal, even when the scheduling thread blocks
 * none: the program's signals must not land on a worker. */
static atomic_int mask_checked, mask_open;

static void mask_cb(xev_threadpool_task *t)
{
	sigset_t now;
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	if (!sigismember(&now, SIGINT) || !sigismember(&now, SIGUSR1) || !sigismember(&now, SIGCHLD))
		atomic_fetch_add(&mask_open, 1);
	atomic_fetch_add(&mask_checked, 1);
	task_cb(t);
}

static void check_worker_signal_mask(void)
{
	xev_threadpool pool;
	struct mytask *ts = make_tasks(8);
	sigset_t none, old;

	reset_stats();
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, &old);
	for (int i = 0; i < 8; i++)
		xev_threadpool_task_init(&ts[i].t, mask_cb);
	if (init_pool(&pool, 4) != 0)
		bail("xev_threadpool_init failed");
	schedule_all(&pool, ts, 8);
	wait_for(&total_runs, 8);
	xev_threadpool_deinit(&pool);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	ok(atomic_load(&mask_checked) == 8 && atomic_load(&mask_open) == 0,
	   "workers run with SIGINT, SIGUSR1 and SIGCHLD blocked");
	free(ts);
}

static void check_batches(void)
{
	xev_threadpool pool;
	xev_threadpool_batch a, b;
	struct mytask *ts = make_tasks(8);

	reset_stats();
	if (init_pool(&pool, 1) != 0)
		bail("xev_threadpool_init failed");
	xev_threadpool_batch_init(&a);
	xev_threadpool_batch_init(&b);
	for (int i = 0; i < 5; i++)
		xev_threadpool_batch_push_task(&a, &ts[i].t);
	for (int i = 5; i < 8; i++)
		xev_threadpool_batch_push_task(&b, &ts[i].t);
	xev_threadpool_batch_push_batch(&a, &b);
	xev_threadpool_schedule(&pool, &a);
	ok(wait_for(&total_runs, 8) && count_not(ts, 8, 1) == 0,
	   "push_batch then schedule: all 8 tasks of both batches run once");
	is_int(atomic_load(&order_bad), 0, "push_batch appends: the tasks run in order (one worker)");
	/* Both batches are empty now: b was moved into a, a into the pool. */
	xev_threadpool_schedule(&pool, &b);
	xev_threadpool_schedule(&pool, &a);
	sleep_us(20000);
	xev_threadpool_deinit(&pool);
	ok(count_not(ts, 8, 1) == 0 && atomic_load(&total_runs) == 8,
	   "the moved-from and the scheduled batch are left empty: scheduling them again runs nothing");
	free(ts);
}

static void check_shutdown(void)
{
	xev_threadpool pool;
	struct mytask *ts = make_tasks(210);

	reset_stats();
	sleep_in_task_us = 200;
	if (init_pool(&pool, 2) != 0)
		bail("xev_threadpool_init failed");
	schedule_all(&pool, ts, 200);
	xev_threadpool_shutdown(&pool);
	schedule_all(&pool, ts + 200, 10);
	xev_threadpool_deinit(&pool);
	is_int(count_not(ts, 200, 1), 0, "shutdown then deinit: the 200 tasks queued before shutdown all ran once");
	is_int(count_not(ts + 200, 10, 0), 0, "tasks scheduled after shutdown never run");
	free(ts);

	/* deinit without shutdown waits for every queued task. */
	ts = make_tasks(50);
	reset_stats();
	sleep_in_task_us = 1000;
	if (init_pool(&pool, 1) != 0)
		bail("xev_threadpool_init failed");
	schedule_all(&pool, ts, 50);
	xev_threadpool_deinit(&pool);
	ok(count_not(ts, 50, 1) == 0, "deinit without shutdown: every queued task ran before it returned (%d)",
	   atomic_load(&total_runs));
	free(ts);
}

/* Tasks that free their own memory. */
static atomic_int freed;

struct heap_task {
	xev_threadpool_task t;
	char payload[1000];
};

static void free_self_cb(xev_threadpool_task *t)
{
	struct heap_task *h = (struct heap_task *)(void *)t;
	memset(h->payload, 0xee, sizeof h->payload);
	free(h);
	atomic_fetch_add(&freed, 1);
}

static void check_free_self(void)
{
	xev_threadpool pool;
	xev_threadpool_batch b;

	atomic_init(&freed, 0);
	if (init_pool(&pool, 2) != 0)
		bail("xev_threadpool_init failed");
	for (int round = 0; round < 10; round++) {
		xev_threadpool_batch_init(&b);
		for (int i = 0; i < 100; i++) {
			struct heap_task *h = malloc(sizeof *h);
			if (!h)
				bail("out of memory");
			xev_threadpool_task_init(&h->t, free_self_cb);
			xev_threadpool_batch_push_task(&b, &h->t);
		}
		xev_threadpool_schedule(&pool, &b);
	}
	xev_threadpool_deinit(&pool);
	is_int(atomic_load(&freed), 1000, "1000 tasks that free their own memory in their callback all ran");
}

/* A task that schedules another task. */
static xev_threadpool chain_pool;
static struct mytask chain_second;

static void chain_first_cb(xev_threadpool_task *t)
{
	task_cb(t);
	schedule_all(&chain_pool, &chain_second, 1);
}

static void check_chain(void)
{
	struct mytask first;

	reset_stats();
	memset(&first, 0, sizeof first);
	memset(&chain_second, 0, sizeof chain_second);
	xev_threadpool_task_init(&first.t, chain_first_cb);
	xev_threadpool_task_init(&chain_second.t, task_cb);
	chain_second.seq = 1;
	if (init_pool(&chain_pool, 2) != 0)
		bail("xev_threadpool_init failed");
	schedule_all(&chain_pool, &first, 1);
	ok(wait_for(&total_runs, 2) && atomic_load(&first.runs) == 1 && atomic_load(&chain_second.runs) == 1,
	   "a task may schedule another task from its callback");
	xev_threadpool_deinit(&chain_pool);
}

/* stack_size: the worker's stack really has that size. */
static atomic_long stack_seen;
static atomic_int big_ok;

static void stack_cb(xev_threadpool_task *t)
{
	pthread_attr_t attr;
	size_t size = 0;
	(void)t;
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		pthread_attr_getstacksize(&attr, &size);
		pthread_attr_destroy(&attr);
	}
	atomic_store(&stack_seen, (long)size);
}

static void big_stack_cb(xev_threadpool_task *t)
{
	volatile char big[1 << 20];
	(void)t;
	for (size_t i = 0; i < sizeof big; i += 512)
		big[i] = (char)i;
	big[sizeof big - 1] = 1;
	atomic_store(&big_ok, big[0] == 0 && big[sizeof big - 1] == 1);
}

static void check_stack_size(void)
{
	xev_threadpool pool;
	xev_threadpool_config cfg;
	xev_threadpool_task t;
	xev_threadpool_batch b;
	pthread_attr_t attr;
	size_t def = 0;
	long want, seen;
	int rc;

	/* Ask for twice the default (glibc may hand out a cached stack that
	 * is larger than asked, never smaller). */
	if (pthread_attr_init(&attr) == 0) {
		pthread_attr_getstacksize(&attr, &def);
		pthread_attr_destroy(&attr);
	}
	if (def < 1024 * 1024)
		def = 1024 * 1024;
	want = (long)(2 * def + 100);

	atomic_init(&stack_seen, 0);
	xev_threadpool_config_init(&cfg);
	xev_threadpool_config_set_stack_size(&cfg, (uint32_t)want);
	xev_threadpool_config_set_max_threads(&cfg, 1);
	rc = xev_threadpool_init(&pool, &cfg);
	xev_threadpool_task_init(&t, stack_cb);
	xev_threadpool_batch_init(&b);
	xev_threadpool_batch_push_task(&b, &t);
	xev_threadpool_schedule(&pool, &b);
	xev_threadpool_deinit(&pool);
	seen = atomic_load(&stack_seen);
	ok(rc == 0 && seen >= want, "stack_size twice the default + 100 (%ld): the worker's stack is that big (%ld)",
	   want, seen);

	atomic_init(&big_ok, 0);
	xev_threadpool_config_init(&cfg);
	xev_threadpool_config_set_stack_size(&cfg, 8u * 1024 * 1024);
	rc = xev_threadpool_init(&pool, &cfg);
	xev_threadpool_task_init(&t, big_stack_cb);
	xev_threadpool_batch_init(&b);
	xev_threadpool_batch_push_task(&b, &t);
	xev_threadpool_schedule(&pool, &b);
	xev_threadpool_deinit(&pool);
	ok(rc == 0 && atomic_load(&big_ok), "stack_size 8 MiB: a task can use a 1 MiB array on its stack");
}

int main(void)
{
	plan(CHECKS);
	check_init();
	check_defaults();
	check_concurrent_schedule();
	check_max_threads();
	check_single_worker_thread();
	check_worker_signal_mask();
	check_batches();
	check_shutdown();
	check_free_self();
	check_chain();
	check_stack_size();
	return done_testing();
}
