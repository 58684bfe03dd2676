/* SPDX-License-Identifier: MIT */
/*
 * Work on a thread pool: xev_work, and regular files on readiness
 * backends.  The completion carries its own pool task, so nothing is
 * allocated.  A worker that finishes pushes the completion on the loop's
 * lock-free stack and wakes the loop the way an async notify does; the
 * loop pops the whole stack after its next wait.
 *
 * remote_busy counts tasks that may still touch the loop: the worker
 * drops it as its very last access, and xev_loop_deinit waits for zero,
 * so a loop is never freed under a worker's feet.
 */
#include "internal.h"

#include <time.h>

static struct xev__completion *of_task(xev_threadpool_task *t)
{
	return XEV__CONTAINER_OF((void *)t, struct xev__completion, u.io.task);
}

static void run_on_worker(xev_threadpool_task *t)
{
	struct xev__completion *c = of_task(t);
	struct xev__loop *l = c->loop;
	struct xev__completion *head;

	if (c->op == XEV__OP_WORK) {
		if (c->u.io.fn)
			c->u.io.fn(c->userdata);
		c->result = 0;
	} else {
		c->result = xev__io_perform(c);
	}
	/* From the push on, c may be completed and freed by the loop. */
	head = atomic_load_explicit(&l->remote_done, memory_order_relaxed);
	do
		c->u.io.remote_next = head;
	while (!atomic_compare_exchange_weak_explicit(&l->remote_done, &head, c,
						      memory_order_release, memory_order_relaxed));
	xev__loop_signal(l);
	atomic_fetch_sub_explicit(&l->remote_busy, 1, memory_order_release);
}

void xev__work_submit(struct xev__loop *l, struct xev__completion *c)
{
	xev__offload(l, c, c->u.io.pool);
}

void xev__offload(struct xev__loop *l, struct xev__completion *c, xev_threadpool *pool)
{
	int rc;

	c->u.io.pool = pool;
	xev_threadpool_task_init(&c->u.io.task, run_on_worker);
	c->state = XEV__ACTIVE;
	c->flags |= XEV__F_OFFLOADED;
	xev__list_push(&l->offloaded, c);
	atomic_fetch_add_explicit(&l->remote_busy, 1, memory_order_relaxed);
	rc = xev__pool_push(pool, &c->u.io.task);
	if (rc == 0)
		return;
	atomic_fetch_sub_explicit(&l->remote_busy, 1, memory_order_relaxed);
	xev__list_unlink(&l->offloaded, c);
	c->flags &= (uint16_t)~XEV__F_OFFLOADED;
	/* A file operation still gets done when the pool is gone or cannot
	 * start a thread: here, as without a pool. */
	xev__complete(l, c, c->op == XEV__OP_WORK ? rc : xev__io_perform(c));
}

/* Takes c back from its pool if no worker has started it. */
static bool take_back(struct xev__loop *l, struct xev__completion *c)
{
	if (!xev__pool_remove(c->u.io.pool, &c->u.io.task))
		return false;
	atomic_fetch_sub_explicit(&l->remote_busy, 1, memory_order_relaxed);
	xev__list_unlink(&l->offloaded, c);
	c->flags &= (uint16_t)~XEV__F_OFFLOADED;
	return true;
}

/* Cancels c if no worker took it yet; otherwise it finishes on its own. */
int xev__offload_cancel(struct xev__loop *l, struct xev__completion *c,
			struct xev__completion *canceller)
{
	(void)canceller;
	if (!take_back(l, c))
		return -ENOENT;
	xev__complete(l, c, -ECANCELED);
	return 0;
}

/* Takes what the workers finished, oldest first. */
static struct xev__completion *take_done(struct xev__loop *l)
{
	struct xev__completion *c, *rev = NULL;

	c = atomic_exchange_explicit(&l->remote_done, NULL, memory_order_acquire);
	while (c) {
		struct xev__completion *next = c->u.io.remote_next;
		c->u.io.remote_next = rev;
		rev = c;
		c = next;
	}
	return rev;
}

void xev__offload_drain(struct xev__loop *l)
{
	struct xev__completion *c = take_done(l), *next;

	for (; c; c = next) {
		next = c->u.io.remote_next;
		xev__list_unlink(&l->offloaded, c);
		c->flags &= (uint16_t)~XEV__F_OFFLOADED;
		xev__complete(l, c, c->result);
	}
}

/* Deinit: unqueue what no worker took, wait for the ones running. */
void xev__offload_loop_gone(struct xev__loop *l)
{
	struct xev__completion *c, *next;

	for (c = l->offloaded.head; c; c = next) {
		next = c->next;
		if (take_back(l, c))
			c->state = XEV__DEAD;
	}
	while (atomic_load_explicit(&l->remote_busy, memory_order_acquire) > 0) {
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 100000 };
		nanosleep(&ts, NULL);
	}
	take_done(l);
	while ((c = xev__list_pop(&l->offloaded))) {
		c->flags &= (uint16_t)~XEV__F_OFFLOADED;
		c->state = XEV__DEAD;
	}
}
