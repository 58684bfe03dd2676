/* SPDX-License-Identifier: MIT */
/*
 * Where a loop sleeps (loop.c, wait_for_events; lib/futex.c), and that a
 * notify wakes it there.  A loop with nothing in its backend (an async
 * wait, a timer) sleeps on a futex where the build has one (Linux), and in
 * the backend otherwise; a loop with an operation in the kernel's hands
 * (a receive on an empty socket) always sleeps in the backend, since only
 * the backend can report it; XEV_NO_FUTEX keeps every loop in the backend.
 * A notifier thread watches the loop's `sleeping` word until the loop is
 * asleep, records where, and notifies: a wake-up sent the wrong way would
 * leave the loop asleep, which the watchdog reports as a failure.
 * Every check runs on every backend.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "tap.h"

#define PER_BACKEND 11

#ifdef XEV_USE_FUTEX
#define IDLE_SLEEP XEV__SLEEP_FUTEX
#else
#define IDLE_SLEEP XEV__SLEEP_BACKEND
#endif

static void on_sigusr1(int sig) { (void)sig; }

struct watch {
	xev_loop *loop;
	xev_watcher *w;
	pthread_t loop_thread;
	atomic_int seen;     /* the loop's sleeping word once it slept */
	atomic_int done, rescued;
};

/* Waits (up to 5 s) for the loop to sleep, notes where, notifies; if the
 * loop is not done 5 s later the wake-up was lost: SIGUSR1 ends its wait
 * (EINTR) and `rescued` says so. */
static void *watch_main(void *arg)
{
	struct watch *wa = arg;
	struct xev__loop *l = xev__loop(wa->loop);
	int64_t t0 = mono_ms();
	int s;

	while ((s = atomic_load(&l->sleeping)) == XEV__SLEEP_AWAKE && mono_ms() - t0 < 5000)
		sleep_ms(1);
	/* Asleep for real, not just about to look at the flag again. */
	sleep_ms(20);
	atomic_store(&wa->seen, atomic_load(&l->sleeping));
	if (wa->w)
		xev_async_notify(wa->w);
	t0 = mono_ms();
	while (!atomic_load(&wa->done)) {
		sleep_ms(5);
		if (mono_ms() - t0 > 5000) {
			atomic_store(&wa->rescued, 1);
			pthread_kill(wa->loop_thread, SIGUSR1);
			sleep_ms(100);
		}
	}
	return NULL;
}

static xev_cb_action count_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c;
	if (result >= 0)
		atomic_fetch_add((atomic_int *)ud, 1);
	return XEV_DISARM;
}

/* Runs the loop ONCE while a watcher thread notifies w (if any) once the
 * loop sleeps; returns where it slept, -1 when the wake-up was lost. */
static int sleep_and_wake(xev_loop *loop, xev_watcher *w, atomic_int *calls)
{
	struct watch wa = { .loop = loop, .w = w, .loop_thread = pthread_self() };
	pthread_t th;
	int rc;

	atomic_init(&wa.seen, -1);
	atomic_init(&wa.done, 0);
	atomic_init(&wa.rescued, 0);
	if (pthread_create(&th, NULL, watch_main, &wa) != 0)
		bail("pthread_create failed");
	rc = xev_loop_run(loop, XEV_RUN_ONCE);
	atomic_store(&wa.done, 1);
	pthread_join(th, NULL);
	if (rc != 0 || atomic_load(&wa.rescued) || atomic_load(calls) != 1)
		return -1;
	return atomic_load(&wa.seen);
}

/* Pool work that ends once its loop sleeps: the pool's wake-up is then
 * all that can end the wait. */
struct pool_job {
	atomic_int calls; /* first: count_cb counts through it */
	xev_loop *loop;
};

static void end_once_asleep(void *arg)
{
	struct xev__loop *l = xev__loop(((struct pool_job *)arg)->loop);
	int64_t t0 = mono_ms();

	while (atomic_load(&l->sleeping) == XEV__SLEEP_AWAKE && mono_ms() - t0 < 5000)
		sleep_ms(1);
	sleep_ms(100); /* after watch_main has seen where it sleeps */
}

static void check_backend(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_watcher w, tw;
	xev_completion c, rc_, tc;
	atomic_int calls, recvd, fired;
	int sv[2], where;
	char buf[8];
	int64_t t0;
	/* kqueue has no idle hook: it may wait for processes on its own. */
	int idle_sleep = b == XEV_BACKEND_KQUEUE ? XEV__SLEEP_BACKEND : IDLE_SLEEP;

	xev_async_init(&w);
	xev_timer_init(&tw);
	tap_loop_init(&loop, b);

	/* Only an async wait: nothing for the backend. */
	atomic_init(&calls, 0);
	xev_async_wait(&w, &loop, &c, &calls, count_cb);
	where = sleep_and_wake(&loop, &w, &calls);
	ok(where >= 0, "%s: an idle loop is woken by a notify", bn);
	is_int(where, idle_sleep, "%s: an idle loop sleeps %s", bn,
	       idle_sleep == XEV__SLEEP_FUTEX ? "on its futex" : "in the backend");

	/* A receive parked on an empty socket: the backend must wait. */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		bail("socketpair failed");
	atomic_init(&recvd, 0);
	atomic_init(&calls, 0);
	xev_recv(&loop, &rc_, sv[0], buf, sizeof buf, 0, &recvd, count_cb);
	xev_async_wait(&w, &loop, &c, &calls, count_cb);
	where = sleep_and_wake(&loop, &w, &calls);
	ok(where >= 0 && atomic_load(&recvd) == 0, "%s: a loop waiting for a receive is woken by a notify", bn);
	is_int(where, XEV__SLEEP_BACKEND, "%s: ... and it slept in the backend", bn);
	/* The same, woken by the thread pool: a backend that listens for
	 * wake-ups only while another thread may send one must count work
	 * on a pool among those. */
	{
		xev_threadpool pool;
		xev_threadpool_config cfg;
		xev_completion wc;
		struct pool_job job = { .loop = &loop };

		xev_threadpool_config_init(&cfg);
		if (xev_threadpool_init(&pool, &cfg) != 0)
			bail("xev_threadpool_init failed");
		atomic_init(&job.calls, 0);
		xev_work(&loop, &wc, &pool, end_once_asleep, &job, count_cb);
		where = sleep_and_wake(&loop, NULL, &job.calls);
		ok(where >= 0 && atomic_load(&recvd) == 0,
		   "%s: a loop waiting for a receive is woken by work its pool finished", bn);
		is_int(where, XEV__SLEEP_BACKEND, "%s: ... and it slept in the backend", bn);
		xev_threadpool_shutdown(&pool);
		xev_threadpool_deinit(&pool);
	}
	/* The receive is still there, and still reported. */
	if (write(sv[1], "x", 1) != 1)
		bail("write failed");
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	is_int(atomic_load(&recvd), 1, "%s: the receive completes after the wake-up", bn);
	close(sv[0]);
	close(sv[1]);

	/* Only a timer: an idle sleep must end at its deadline. */
	atomic_init(&fired, 0);
	xev_timer_run(&tw, &loop, &tc, 30, &fired, count_cb);
	t0 = mono_ms();
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(atomic_load(&fired) == 1 && mono_ms() - t0 >= 29 && mono_ms() - t0 < 2000,
	   "%s: an idle loop wakes for its timer (%lld ms for 30)", bn, (long long)(mono_ms() - t0));
	xev_loop_deinit(&loop);

	/* XEV_NO_FUTEX: loops set up afterwards sleep in the backend. */
	setenv("XEV_NO_FUTEX", "1", 1);
	tap_loop_init(&loop, b);
	unsetenv("XEV_NO_FUTEX");
	atomic_init(&calls, 0);
	xev_async_wait(&w, &loop, &c, &calls, count_cb);
	where = sleep_and_wake(&loop, &w, &calls);
	ok(where >= 0, "%s: XEV_NO_FUTEX: an idle loop is woken by a notify", bn);
	is_int(where, XEV__SLEEP_BACKEND, "%s: XEV_NO_FUTEX: ... and it slept in the backend", bn);
	xev_loop_deinit(&loop);

	/* A loop initialised with the switch off again uses the futex. */
	tap_loop_init(&loop, b);
	atomic_init(&calls, 0);
	xev_async_wait(&w, &loop, &c, &calls, count_cb);
	where = sleep_and_wake(&loop, &w, &calls);
	is_int(where, idle_sleep, "%s: without XEV_NO_FUTEX the next loop sleeps where it did", bn);
	xev_loop_deinit(&loop);
	xev_async_deinit(&w);
}

int main(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigusr1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	/* A spin would find the notify before the loop sleeps. */
	setenv("XEV_NO_SPIN", "1", 1);
	plan(TAP_NBACKENDS * PER_BACKEND);
	tap_each_backend(PER_BACKEND, check_backend);
	return done_testing();
}
