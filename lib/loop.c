/* SPDX-License-Identifier: MIT */
/*
 * The loop: queues, the run modes, backend selection, cached time.
 *
 * One tick of xev_loop_run: resolve what was queued (cancellations), ask
 * the backend to submit and wait (bounded by the nearest timer), refresh
 * the cached time, move expired timers and notified async waits to the
 * ready list, then run the callbacks of everything that was ready when the
 * dispatch began.
 */
#include "backend.h"

#include <limits.h>
#include <sched.h>
#include <stdio.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_MS INT64_C(1000000)

int64_t xev__clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * INT64_C(1000000000) + ts.tv_nsec;
}

/* XEV_BACKEND=name: 0 and *out set, or -EINVAL for a name we do not know. */
static int backend_from_env(xev_backend *out)
{
	const char *s = getenv("XEV_BACKEND");
	if (!s || !*s) {
		*out = XEV_BACKEND_AUTO;
		return 0;
	}
	if (strcmp(s, "auto") == 0) {
		*out = XEV_BACKEND_AUTO;
		return 0;
	}
	for (unsigned i = 0; xev__backend_nth(i) != XEV_BACKEND_AUTO; i++) {
		xev_backend b = xev__backend_nth(i);
		if (strcmp(s, xev_backend_name(b)) == 0) {
			*out = b;
			return 0;
		}
	}
	return -EINVAL;
}

void xev_loop_options_init(xev_loop_options *o)
{
	struct xev__options *opt = (struct xev__options *)(void *)o;
	if (!o)
		return;
	memset(o, 0, sizeof(*o));
	opt->magic = XEV__OPTIONS_MAGIC;
}

void xev_loop_options_set_backend(xev_loop_options *o, xev_backend b)
{
	if (o)
		((struct xev__options *)(void *)o)->backend = (uint32_t)b;
}

void xev_loop_options_set_entries(xev_loop_options *o, uint32_t entries)
{
	if (o)
		((struct xev__options *)(void *)o)->entries = entries;
}

void xev_loop_options_set_threadpool(xev_loop_options *o, xev_threadpool *pool)
{
	if (o)
		((struct xev__options *)(void *)o)->pool = pool;
}

static int start_backend(struct xev__loop *l, xev_backend b, const struct xev__options *o)
{
	const struct xev__backend *be = xev__backend_hooks(b);
	int rc;

	if (!be)
		return -ENOSYS;
	rc = be->init(l, o);
	if (rc < 0)
		return rc;
	l->be = be;
	l->backend_id = (uint8_t)b;
	return 0;
}

int xev_loop_init_with_options(xev_loop *loop, const xev_loop_options *opts)
{
	struct xev__loop *l = xev__loop(loop);
	const struct xev__options *o = (const struct xev__options *)(const void *)opts;
	struct xev__options defaults = { .magic = XEV__OPTIONS_MAGIC };
	xev_backend want;
	int rc;

	if (!loop)
		return -EINVAL;
	if (!o)
		o = &defaults;
	if (o->magic != XEV__OPTIONS_MAGIC || o->backend > (uint32_t)XEV_BACKEND_POLL)
		return -EINVAL;

	memset(l, 0, sizeof(*l));
	l->pool = o->pool;
	atomic_init(&l->sleeping, XEV__SLEEP_AWAKE);
	l->futex_ok = !xev__env_flag("XEV_NO_FUTEX");
	atomic_init(&l->async_pending, 0);
	atomic_init(&l->signal_cpu, -1);
	xev__spin_init(l);
	atomic_init(&l->remote_done, NULL);
	atomic_init(&l->remote_busy, 0);

	want = (xev_backend)o->backend;
	if (want == XEV_BACKEND_AUTO) {
		rc = backend_from_env(&want);
		if (rc < 0)
			return rc;
	}
	if (want != XEV_BACKEND_AUTO) {
		rc = start_backend(l, want, o);
	} else {
		/* The first backend the kernel accepts; io_uring may be built
		 * in and still be refused (sysctl, seccomp, old kernel). */
		rc = -ENOSYS;
		for (unsigned i = 0; xev__backend_nth(i) != XEV_BACKEND_AUTO; i++) {
			xev_backend b = xev__backend_nth(i);
			const struct xev__backend *be = xev__backend_hooks(b);
			if (!be || be->explicit_only)
				continue;
			rc = start_backend(l, b, o);
			if (rc == 0)
				break;
		}
	}
	if (rc < 0)
		return rc;
	l->now = xev__clock_ns();
	l->magic = XEV__LOOP_MAGIC;
	return 0;
}

int xev_loop_init(xev_loop *loop)
{
	return xev_loop_init_with_options(loop, NULL);
}

xev_backend xev_loop_backend(xev_loop *loop)
{
	struct xev__loop *l = xev__loop(loop);
	if (!loop || l->magic != XEV__LOOP_MAGIC)
		return XEV_BACKEND_AUTO;
	return (xev_backend)l->backend_id;
}

/* Marks every completion of a list dead.  An accepted connection nobody
 * will see is closed rather than leaked. */
static void kill_list(struct xev__list *q)
{
	struct xev__completion *c;
	while ((c = xev__list_pop(q))) {
		if (c->state == XEV__READY && c->op == XEV__OP_ACCEPT && c->result >= 0)
			close(c->result);
		c->state = XEV__DEAD;
	}
}

void xev_loop_deinit(xev_loop *loop)
{
	struct xev__loop *l = xev__loop(loop);

	if (!loop || l->magic != XEV__LOOP_MAGIC)
		return;
	XEV__MISUSE_IF(l->running, "called while xev_loop_run is executing on this loop "
				   "(stop the run and deinitialise after it returns)");
	if (l->signal_handler_seen) {
		/* A signal handler running on another thread may hold this
		 * loop; once we have the registry it has let go, and no later
		 * one can find the loop. */
		sigset_t saved;
		xev__signal_registry_lock(&saved);
		xev__async_loop_gone(l);
		xev__signal_registry_unlock(&saved);
	} else {
		xev__async_loop_gone(l);
	}
	xev__offload_loop_gone(l);
	kill_list(&l->submissions);
	kill_list(&l->ready);
	xev__heap_kill(l);
	/* A notifier whose wake-up this loop already consumed may still be
	 * on its way out of xev__loop_signal, about to write the wake-up fd. */
	while (atomic_load(&l->signalling))
		sched_yield();
	/* The backend takes back what the kernel holds, then closes. */
	l->be->deinit(l);
	l->active = 0;
	l->magic = 0;
}

int64_t xev_loop_now(xev_loop *loop)
{
	struct xev__loop *l = xev__loop(loop);
	if (!loop || l->magic != XEV__LOOP_MAGIC)
		return 0;
	return l->now / NS_PER_MS;
}

void xev_loop_update_now(xev_loop *loop)
{
	struct xev__loop *l = xev__loop(loop);
	if (loop && l->magic == XEV__LOOP_MAGIC)
		l->now = xev__clock_ns();
}

void xev_loop_stop(xev_loop *loop)
{
	struct xev__loop *l = xev__loop(loop);
	if (loop && l->magic == XEV__LOOP_MAGIC)
		l->stopped = true;
}

void xev__add(struct xev__loop *l, struct xev__completion *c)
{
	c->loop = l;
	c->state = XEV__QUEUED;
	c->flags = 0;
	c->result = 0;
	l->active++;
	xev__list_push(&l->submissions, c);
}

void xev__complete(struct xev__loop *l, struct xev__completion *c, int result)
{
	c->result = result;
	c->state = XEV__READY;
	xev__list_push(&l->ready, c);
}

/* Finds and stops the target of a cancellation; returns the canceller's
 * result, or XEV__PENDING when the backend will give it later. */
static int cancel_target(struct xev__loop *l, struct xev__completion *t,
			 struct xev__completion *canceller)
{
	if (!t || t->state == XEV__DEAD)
		return -ENOENT;
	if (t->loop != l || t->op >= XEV__NOPS)
		return -EINVAL;
	switch (t->state) {
	case XEV__QUEUED:
		t->flags |= XEV__F_CANCELED;
		return 0;
	case XEV__READY:
		return -ENOENT; /* it finished first; it keeps its result */
	case XEV__ACTIVE:
		return xev__ops[t->op].cancel(l, t, canceller);
	default:
		return -EINVAL;
	}
}

void xev__cancel_submit(struct xev__loop *l, struct xev__completion *c)
{
	int r = (c->flags & XEV__F_DECIDED) ? 0 : cancel_target(l, c->u.cancel.target, c);
	if (r != XEV__PENDING)
		xev__complete(l, c, r);
}

/* Requests answered without the kernel, the same way on every backend:
 * 0 or the result the operation ends with. */
static int io_check(struct xev__completion *c)
{
	struct xev__io_op *io = &c->u.io;
	unsigned kind = xev__io_kind(c);

	if (io->fd < 0)
		return -EBADF;
	if (kind >= XEV__OP_READ && kind <= XEV__OP_SEND && io->len > XEV__MAX_RW)
		return -EINVAL;
	if ((kind == XEV__OP_PREAD || kind == XEV__OP_PWRITE) && io->offset > (uint64_t)INT64_MAX)
		return -EINVAL; /* io_uring would take -1 as "the file position" */
	if ((kind == XEV__OP_RECVMSG || kind == XEV__OP_SENDMSG) && !io->buf)
		return -EFAULT;
	return 0;
}

/* Rearm repeats the arguments as they were queued, not as the kernel left
 * them: a rearmed accept or recvmsg sees its original buffer sizes. */
static void io_restore(struct xev__completion *c)
{
	struct xev__io_op *io = &c->u.io;

	if (c->op == XEV__OP_ACCEPT && io->addrlen) {
		*io->addrlen = io->saved_namelen;
	} else if (c->op == XEV__OP_RECVMSG && io->buf) {
		struct msghdr *m = io->buf;
		m->msg_namelen = io->saved_namelen;
		m->msg_controllen = io->saved_controllen;
		m->msg_flags = io->saved_msg_flags;
	}
}

/* An fd operation goes to the backend, unless the loop can answer it. */
void xev__fd_submit(struct xev__loop *l, struct xev__completion *c)
{
	int r = io_check(c);

	if (r < 0) {
		xev__complete(l, c, r);
		return;
	}
	io_restore(c);
	l->be->submit(l, c);
}

int xev__fd_cancel(struct xev__loop *l, struct xev__completion *t, struct xev__completion *canceller)
{
	if (t->flags & XEV__F_OFFLOADED)
		return xev__offload_cancel(l, t, canceller);
	return l->be->cancel(l, t, canceller);
}

/* A zeroed completion: nothing to start or stop. */
static void submit_invalid(struct xev__loop *l, struct xev__completion *c)
{
	xev__complete(l, c, -EINVAL);
}

static int cancel_invalid(struct xev__loop *l, struct xev__completion *t, struct xev__completion *canceller)
{
	(void)l, (void)t, (void)canceller;
	return -EINVAL;
}

#define FD_OP(op_, call_) [op_] = { .call = call_, .cancel = xev__fd_cancel }

const struct xev__opkind xev__ops[XEV__NOPS] = {
	[XEV__OP_NONE] = { .call = "xev_*", .submit = submit_invalid, .cancel = cancel_invalid },
	[XEV__OP_TIMER] = { .call = "xev_timer_run", .submit = xev__timer_submit,
			    .cancel = xev__timer_cancel, .rearm = xev__timer_rearm,
			    .settle = xev__timer_settle },
	[XEV__OP_ASYNC_WAIT] = { .call = "xev_async_wait", .submit = xev__async_submit,
				 .cancel = xev__async_cancel, .rearm = xev__async_submit },
	/* Only io_uring holds a cancel (ACTIVE): the kernel is asked. */
	[XEV__OP_CANCEL] = { .call = "xev_cancel", .submit = xev__cancel_submit,
			     .cancel = xev__fd_cancel },
	FD_OP(XEV__OP_READ, "xev_read"),
	FD_OP(XEV__OP_WRITE, "xev_write"),
	FD_OP(XEV__OP_PREAD, "xev_pread"),
	FD_OP(XEV__OP_PWRITE, "xev_pwrite"),
	FD_OP(XEV__OP_RECV, "xev_recv"),
	FD_OP(XEV__OP_SEND, "xev_send"),
	FD_OP(XEV__OP_RECVMSG, "xev_recvmsg"),
	FD_OP(XEV__OP_SENDMSG, "xev_sendmsg"),
	FD_OP(XEV__OP_ACCEPT, "xev_accept"),
	FD_OP(XEV__OP_CONNECT, "xev_connect"),
	FD_OP(XEV__OP_SHUTDOWN, "xev_shutdown"),
	FD_OP(XEV__OP_CLOSE, "xev_close"),
	FD_OP(XEV__OP_POLL, "xev_poll"),
	/* A poll of the child's pidfd, or an async wait for SIGCHLD; its
	 * settle step reaps the child. */
	[XEV__OP_PROCESS] = { .call = "xev_process_wait", .submit = xev__process_submit,
			      .cancel = xev__process_cancel, .settle = xev__process_settle },
	[XEV__OP_WORK] = { .call = "xev_work", .submit = xev__work_submit,
			   .cancel = xev__offload_cancel },
	[XEV__OP_SIGNAL_WAIT] = { .call = "xev_signal_wait", .submit = xev__async_submit,
				  .cancel = xev__async_cancel, .rearm = xev__async_submit },
};

/* Hands everything queued since the last tick to where it waits. */
static void submit_queued(struct xev__loop *l)
{
	struct xev__completion *c;

	while ((c = xev__list_pop(&l->submissions))) {
		void (*submit)(struct xev__loop *, struct xev__completion *) = xev__ops[c->op].submit;

		if (c->flags & XEV__F_CANCELED)
			xev__complete(l, c, -ECANCELED);
		else if (submit)
			submit(l, c);
		else
			xev__fd_submit(l, c);
	}
}

/* Puts a completion whose callback asked for XEV_REARM back to work:
 * timers and waits at once, operations through the next submission. */
static void rearm(struct xev__loop *l, struct xev__completion *c)
{
	void (*at_once)(struct xev__loop *, struct xev__completion *) = xev__ops[c->op].rearm;

	if (at_once) {
		c->loop = l;
		c->flags = 0;
		l->active++;
		at_once(l, c);
		return;
	}
	xev__add(l, c);
	c->flags |= XEV__F_REARMED;
}

/*
 * Timers due when the loop looks are all called back in that tick, but
 * taken out of the queue a few at a time, each few called back before
 * the next are taken: a timer is then still in the cache, and its page in
 * the TLB, when its callback runs.  Taking a tick's timers out all at
 * once and calling them back after walked them twice, the second time
 * from memory when there are many (10 k per tick with 10 M timers in
 * random order: 35% of the CPU).
 *
 * Which timers fire in the tick does not change: those due at the time
 * the loop looked (expire_now) and started before (expire_seq).  A timer
 * started or reset by a callback is due no earlier than that time, and
 * after the others of the same deadline, so it comes after all of them
 * in the queue; the check on its number leaves it for the next tick, as
 * before.  A cancel is queued and handled after the tick, when they have
 * all fired.
 */
#define EXPIRE_BATCH 64

/* Asked three times a tick: a loop without timers (a server of sockets)
 * should not pay for a look at the timer queue's parts each time. */
static struct xev__completion *first_timer(struct xev__loop *l)
{
	return l->ntimers ? xev__heap_first(l) : NULL;
}

/* Takes up to max of the tick's due timers out, onto the end of the
 * ready list; expire_seq is 0 once none is left. */
static void expire_ready(struct xev__loop *l, unsigned max)
{
	struct xev__completion *t;

	/* The first is known: taking it out need not look for it again
	 * (with the wheel in use, that is a scan of its slots). */
	while ((t = first_timer(l)) && t->u.timer.deadline <= l->expire_now &&
	       t->u.timer.seq < l->expire_seq) {
		if (max-- == 0)
			return;
		xev__heap_remove(l, t);
		xev__complete(l, t, 0);
	}
	l->expire_seq = 0;
}

/* The same onto the end of *to: the ready list or a list of dispatch's. */
static void expire_onto(struct xev__loop *l, struct xev__list *to, unsigned max)
{
	struct xev__list later; /* made by callbacks: the next dispatch's */

	if (to == &l->ready) {
		expire_ready(l, max);
		return;
	}
	later = l->ready;
	l->ready = *to;
	expire_ready(l, max);
	*to = l->ready;
	l->ready = later;
}

/* What is left of the tick's due timers, onto the end of *to: where the
 * tick ends before its callbacks have all run. */
static void expire_rest(struct xev__loop *l, struct xev__list *to)
{
	if (l->expire_seq)
		expire_onto(l, to, UINT_MAX);
}

/* A new look: the first few due timers after what is ready already. */
static void expire_timers(struct xev__loop *l)
{
	expire_rest(l, &l->ready);
	l->expire_now = l->now;
	l->expire_seq = l->timer_seq;
	expire_ready(l, EXPIRE_BATCH);
}

/* Runs the callbacks of what was ready when it started, and of the rest
 * of the tick's due timers; returns how many. */
static unsigned dispatch(struct xev__loop *l)
{
	struct xev__list batch = l->ready;
	struct xev__completion *c;
	unsigned n = 0;

	l->ready.head = l->ready.tail = NULL;
	for (;;) {
		xev_cb_action action;

		c = xev__list_pop(&batch);
		if (!c) {
			if (!l->expire_seq)
				break;
			expire_onto(l, &batch, EXPIRE_BATCH);
			continue;
		}
		/* Not finished after all (a timer reset after it expired, a
		 * child not yet reapable): it went back to work. */
		if (XEV__UNLIKELY(c->flags & XEV__F_SETTLE) && !xev__ops[c->op].settle(l, c))
			continue;
		c->state = XEV__DEAD;
		l->active--;
		n++;
		action = c->cb(xev__pub_loop(l), xev__pub(c), c->result, c->userdata);
		/* After XEV_DISARM the completion is the caller's again: it may
		 * be freed or already queued for something else. */
		if (action == XEV_REARM && c->state == XEV__DEAD)
			rearm(l, c);
		if (l->stopped)
			break;
	}
	/* Stopped half way: the rest go first next time, the tick's due
	 * timers among them. */
	expire_rest(l, &batch);
	if (batch.head) {
		if (l->ready.head) {
			batch.tail->next = l->ready.head;
			l->ready.head->prev = batch.tail;
			batch.tail = l->ready.tail;
		}
		l->ready = batch;
	}
	return n;
}

static int64_t wait_timeout(struct xev__loop *l, xev_run_mode_t mode)
{
	struct xev__completion *next;
	int64_t t;

	if (mode == XEV_RUN_NO_WAIT || l->ready.head)
		return 0;
	next = first_timer(l);
	if (!next)
		return -1;
	t = next->u.timer.deadline - xev__clock_ns();
	return t > 0 ? t : 0;
}

/* What needs no system call: due timers, wake-ups from other threads.
 * The clock is read after a wait only: a tick that did not wait follows
 * one that did, a few callbacks ago, and its read bought nothing (the
 * clock reads of a ping-pong were 9% of the loop's user time under perf,
 * half of them in such ticks). */
static void collect_events(struct xev__loop *l, bool waited)
{
	if (waited)
		l->now = xev__clock_ns();
	expire_timers(l);
	l->news_last = atomic_load_explicit(&l->async_pending, memory_order_relaxed) &&
		       atomic_exchange(&l->async_pending, 0);
	if (l->news_last) {
		xev__async_scan(l);
		xev__offload_drain(l);
	}
}

/* Nothing the backend could report is pending: only other threads,
 * signals or the clock can end this wait, and a futex is the cheaper
 * sleep for that (futex.c).  The backend's wait is skipped then, which is
 * why its idle hook must count everything it would report. */
static bool sleep_on_futex(struct xev__loop *l)
{
#ifdef XEV_USE_FUTEX
	return l->futex_ok && l->be->idle && l->be->idle(l);
#else
	(void)l;
	return false;
#endif
}

/*
 * Blocks in the backend, or on a futex when the backend has nothing to
 * report.  `sleeping` tells other threads which wake-up a notify must
 * send; while the loop is awake they only set flags, which we look at
 * right after the wait, so an awake loop costs them no syscall.
 * A loop fed by other threads may first spin for their news (spin.c):
 * news found then makes the wait a poll that does not block.
 */
static int wait_for_events(struct xev__loop *l, int64_t timeout)
{
	bool in_backend = true;
	int rc = 0;

	if (timeout != 0 && xev__spin_for_news(l, timeout))
		timeout = 0;
	if (timeout != 0) {
		int where = sleep_on_futex(l) ? XEV__SLEEP_FUTEX : XEV__SLEEP_BACKEND;

		atomic_store(&l->sleeping, where);
		if (atomic_load(&l->async_pending)) {
			timeout = 0;
		}
#ifdef XEV_USE_FUTEX
		else if (where == XEV__SLEEP_FUTEX) {
			xev__futex_wait(&l->async_pending, timeout);
			in_backend = false;
		}
#endif
	}
	if (in_backend)
		rc = l->be->wait(l, timeout);
	atomic_store_explicit(&l->sleeping, XEV__SLEEP_AWAKE, memory_order_relaxed);
	collect_events(l, true);
	return rc == -EINTR ? 0 : rc;
}


int xev_loop_run(xev_loop *loop, xev_run_mode_t mode)
{
	struct xev__loop *l = xev__loop(loop);
	int rc = 0;

	if (!loop || l->magic != XEV__LOOP_MAGIC)
		return -EINVAL;
	if (mode != XEV_RUN_NO_WAIT && mode != XEV_RUN_ONCE && mode != XEV_RUN_UNTIL_DONE)
		return -EINVAL;
	if (l->running)
		return -EBUSY;
	l->running = true;
	l->run_thread = pthread_self();
	l->stopped = false;
	for (;;) {
		unsigned n;

		submit_queued(l);
		if (l->active == 0 && mode != XEV_RUN_NO_WAIT)
			break;
		/* The loop just woke from a wait and its callbacks started
		 * work that finished on submission (a send with room): run
		 * it before asking the kernel again, which would only cost a
		 * system call to learn nothing new.  Only then: a loop that is
		 * busy polls every tick, so a chain of such work (a send
		 * rearmed over and over) cannot outpace the I/O it competes
		 * with, nor starve timers and wake-ups.  (A readiness backend
		 * skips that poll while no operation waits for readiness:
		 * then there is no I/O to compete with.) */
		if (l->ready.head && l->woke_last) {
			l->woke_last = false;
			collect_events(l, false);
		} else {
			int64_t timeout = wait_timeout(l, mode);
			rc = wait_for_events(l, timeout);
			l->woke_last = timeout != 0;
			if (rc < 0) {
				/* The due timers wait their turn, as ready. */
				expire_rest(l, &l->ready);
				break;
			}
		}
		n = dispatch(l);
		if (l->stopped || mode == XEV_RUN_NO_WAIT || (mode == XEV_RUN_ONCE && n > 0))
			break;
	}
	l->running = false;
	return rc;
}

static void wake_sleeper(struct xev__loop *l)
{
	switch (atomic_load(&l->sleeping)) {
	case XEV__SLEEP_BACKEND:
		l->be->wake(l);
		break;
#ifdef XEV_USE_FUTEX
	case XEV__SLEEP_FUTEX:
		xev__futex_wake(&l->async_pending);
		break;
#endif
	default:
		break;
	}
}

/* Another thread has news for l: whoever flips async_pending from 0 wakes
 * the loop if it sleeps; the loop re-checks the flag after announcing its
 * sleep, so an awake loop costs the caller no system call. */
void xev__loop_signal(struct xev__loop *l)
{
	/* Counted from before the flag is raised: a loop that sees the flag,
	 * finishes and is deinitialised waits for this call to leave, so the
	 * wake-up is never written to a descriptor closed (or reused) under
	 * it. */
	atomic_fetch_add(&l->signalling, 1);
	xev__spin_note_signaller(l);
	if (atomic_exchange(&l->async_pending, 1) == 0)
		wake_sleeper(l);
	atomic_fetch_sub(&l->signalling, 1);
}

/* A callback for completions queued without one. */
static xev_cb_action noop_cb(xev_loop *l, xev_completion *c, int r, void *ud)
{
	(void)l, (void)c, (void)r, (void)ud;
	return XEV_DISARM;
}

_Noreturn void xev__misuse(const char *fn, const char *what)
{
	fprintf(stderr, "libxev: %s: %s\n", fn, what);
	fflush(stderr);
	abort();
}

#ifdef XEV_DEBUG
static void check_submission(struct xev__loop *l, struct xev__completion *c, enum xev__op op)
{
	const char *fn = (size_t)op < XEV__NOPS ? xev__ops[op].call : "xev_*";
	xev__debug_check_thread(l, fn);
	/* Only a completion that names this very loop, in a state and for
	 * an operation that exist, is judged: memory never used as one may
	 * hold anything, a pointer to this loop included. */
	if (c->loop == l && c->state >= XEV__QUEUED && c->state <= XEV__READY && c->op != XEV__OP_NONE &&
	    c->op < XEV__NOPS)
		xev__misuse(fn, "the completion is still queued or in flight on this loop "
				"(reuse it only from its callback or once it reads XEV_COMPLETION_DEAD)");
}
#endif

/* Only the thread running a loop may touch it while it runs. */
void xev__debug_check_thread(struct xev__loop *l, const char *fn)
{
#ifdef XEV_DEBUG
	if (l->running && !pthread_equal(l->run_thread, pthread_self()))
		xev__misuse(fn, "called from another thread while xev_loop_run runs this loop "
				"(of the calls on a loop only xev_async_notify is thread-safe)");
#else
	(void)l, (void)fn;
#endif
}

void xev__prepare(struct xev__loop *l, struct xev__completion *c, enum xev__op op, void *userdata,
		  xev_cb cb)
{
#ifdef XEV_DEBUG
	check_submission(l, c, op);
#else
	(void)l;
#endif
	c->op = (uint8_t)op;
	c->userdata = userdata;
	c->cb = cb ? cb : noop_cb;
	c->next = c->prev = NULL;
}

void xev_completion_zero(xev_completion *c)
{
	if (c)
		memset(c, 0, sizeof(*c));
}

xev_completion_state_t xev_completion_state(xev_completion *c)
{
	if (!c)
		return XEV_COMPLETION_DEAD;
	return xev__comp(c)->state == XEV__DEAD ? XEV_COMPLETION_DEAD : XEV_COMPLETION_ACTIVE;
}
