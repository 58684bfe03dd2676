/* SPDX-License-Identifier: MIT */
/*
 * Another thread wakes the loop through an async watcher.  The worker
 * produces numbers; the loop sums them whenever it is woken.  Several
 * notifies may coalesce into one wake-up, so the loop drains everything
 * each time rather than counting wake-ups.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <xev.h>

#define COUNT 100000

struct shared {
	xev_watcher async;
	atomic_long produced; /* last number the worker published */
	long consumed;
	long sum;
};

static void *producer(void *arg)
{
	struct shared *s = arg;
	for (long i = 1; i <= COUNT; i++) {
		atomic_store(&s->produced, i);
		xev_async_notify(&s->async);
	}
	return NULL;
}

static xev_cb_action on_wake(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct shared *s = userdata;
	long upto = atomic_load(&s->produced);

	(void)loop, (void)c;
	if (result < 0)
		return XEV_DISARM;
	for (; s->consumed < upto; s->consumed++)
		s->sum += s->consumed + 1;
	return s->consumed < COUNT ? XEV_REARM : XEV_DISARM;
}

int main(void)
{
	struct shared s = { .consumed = 0 };
	xev_loop loop;
	xev_completion c;
	pthread_t t;

	if (xev_loop_init(&loop) < 0 || xev_async_init(&s.async) < 0)
		return 1;
	atomic_init(&s.produced, 0);
	xev_async_wait(&s.async, &loop, &c, &s, on_wake);
	pthread_create(&t, NULL, producer, &s);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	pthread_join(t, NULL);
	printf("summed 1..%d = %ld on %s\n", COUNT, s.sum,
	       xev_backend_name(xev_loop_backend(&loop)));
	xev_async_deinit(&s.async);
	xev_loop_deinit(&loop);
	return s.sum != (long)COUNT * (COUNT + 1) / 2;
}
