/* SPDX-License-Identifier: MIT */
/*
 * Stress: 8 threads notify one async watcher as fast as they can while
 * the loop counts its callbacks.  Notifications coalesce, so what must
 * hold is that none is lost: after the last notify of the last thread,
 * the loop still gets a callback that sees every notification made.  The
 * callback rearms itself, so the loop keeps sleeping and waking all along.
 *
 * XEV_STRESS=full (make stress) sends 10,000,000 notifications in all;
 * the default is 400,000 so that make check stays quick.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "../tap.h"

#define THREADS 8
#define PER_BACKEND 3

static xev_watcher w;
static atomic_long sent;
static long per_thread;
static long callbacks, seen_at_last;

static xev_cb_action on_async(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c, (void)ud;
	if (result != 0)
		return XEV_DISARM;
	callbacks++;
	/* Every notify made before the one that woke us is visible now. */
	seen_at_last = atomic_load(&sent);
	return XEV_REARM;
}

static void *notifier(void *arg)
{
	(void)arg;
	for (long i = 0; i < per_thread; i++) {
		atomic_fetch_add_explicit(&sent, 1, memory_order_relaxed);
		if (xev_async_notify(&w) != 0)
			break;
	}
	return NULL;
}

static void run(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_completion c, cc;
	pthread_t th[THREADS];
	long total = per_thread * THREADS;
	int64_t t0, t1, deadline;
	int started = 0;

	tap_loop_init(&loop, b);
	xev_async_init(&w);
	atomic_store(&sent, 0);
	callbacks = seen_at_last = 0;
	xev_async_wait(&w, &loop, &c, NULL, on_async);
	t0 = mono_ms();
	for (int i = 0; i < THREADS; i++)
		started += pthread_create(&th[i], NULL, notifier, NULL) == 0;
	/* Runs until a callback has seen the very last notification, or 30 s. */
	deadline = mono_ms() + 30000;
	while (seen_at_last < total && mono_ms() < deadline)
		xev_loop_run(&loop, XEV_RUN_ONCE);
	t1 = mono_ms();
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	ok(started == THREADS, "%s: %d notifier threads started", bn, THREADS);
	ok(seen_at_last == total,
	   "%s: after the last of %ld notifications a callback saw them all (saw %ld; none lost)", bn, total,
	   seen_at_last);
	ok(callbacks >= 1 && callbacks <= total, "%s: %ld callbacks for %ld notifications (%lld ms, %.0f notifies/s)",
	   bn, callbacks, total, (long long)(t1 - t0), (double)total * 1000.0 / (double)(t1 - t0 + 1));
	xev_cancel(&loop, &cc, &c, NULL, NULL);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	xev_async_deinit(&w);
	xev_loop_deinit(&loop);
}

int main(void)
{
	const char *mode = getenv("XEV_STRESS");
	long total = mode && strcmp(mode, "full") == 0 ? 10000000 : 400000;

	per_thread = total / THREADS;
	plan(TAP_NBACKENDS * PER_BACKEND);
	tap_each_backend(PER_BACKEND, run);
	return done_testing();
}
