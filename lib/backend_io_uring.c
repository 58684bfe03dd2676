/* SPDX-License-Identifier: MIT */
/*
 * The io_uring backend.  One io_uring_enter per tick both submits what was
 * queued and waits, with the nearest timer as the wait's timeout (passed as
 * an argument where the kernel allows it, so no timeout SQE is spent).
 * Other threads wake the ring through an eventfd under a multishot poll.
 * Every fd operation is one SQE whose user_data is its completion; the
 * kernel holds it until its CQE is reaped.
 */
#include "backend.h"

#include <liburing.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#ifndef XEV_USE_EVENTFD
#error "the io_uring backend wakes its ring through an eventfd (configure enables both)"
#endif

struct uring_state {
	struct io_uring ring;
	struct xev__wakeup wake; /* an eventfd, never drained (arm_wake) */
	uint64_t wake_buf;       /* target of the read on the wake-up eventfd */
	bool wake_armed;         /* a wait on the wake-up eventfd is in the kernel */
	bool wake_by_read;       /* multishot poll refused: one read per wake-up */
	bool ext_arg;            /* kernel takes a wait timeout without an SQE */
	uint32_t inflight;       /* completions the kernel holds */
	struct xev__list active; /* those completions */
};
XEV__STATE_FITS(struct uring_state);

static struct uring_state *uring_of(struct xev__loop *l)
{
	return XEV__BACKEND_STATE(l, struct uring_state);
}

/* A cancellation was sent for it: the kernel's -EINTR means -ECANCELED. */
#define F_CANCEL_SENT XEV__F_BACKEND_0

/* user_data of our own SQEs; completions are pointers, never this small. */
#define WAKE_TAG ((uint64_t)1)
#define INTERNAL_TAG ((uint64_t)2) /* deinit's cancellations */
#define MAX_TAG ((uint64_t)4096)
#define DEFAULT_ENTRIES 256u

static int setup_ring(struct io_uring *ring, uint32_t entries, unsigned *features)
{
	/* COOP_TASKRUN spares us interrupts for completions: we always enter
	 * the kernel to collect them anyway.  Older kernels reject it. */
	static const unsigned flag_sets[] = {
		/* SUBMIT_ALL: one bad request does not hold back the rest. */
		IORING_SETUP_CLAMP | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
			IORING_SETUP_SUBMIT_ALL,
		IORING_SETUP_CLAMP | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_CLAMP,
		0,
	};
	int rc = -EINVAL;

	for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		p.flags = flag_sets[i];
		rc = XEV__SYS_NEG(URING_SETUP, io_uring_queue_init_params(entries, ring, &p));
		if (rc == 0) {
			*features = p.features;
			return 0;
		}
		if (rc != -EINVAL)
			break;
	}
	return rc;
}

static int uring_probe(void)
{
	struct io_uring ring;
	unsigned features;
	int rc = setup_ring(&ring, 2, &features);
	if (rc == 0)
		io_uring_queue_exit(&ring);
	return rc;
}

static int uring_init(struct xev__loop *l, const struct xev__options *o)
{
	struct uring_state *u = uring_of(l);
	unsigned features = 0;
	int rc;

	rc = setup_ring(&u->ring, o->entries ? o->entries : DEFAULT_ENTRIES, &features);
	if (rc < 0)
		return rc;
	u->ext_arg = (features & IORING_FEAT_EXT_ARG) != 0;
	/* Blocking reads: where multishot poll is refused, the kernel's own
	 * read of it must wait rather than say EAGAIN. */
	rc = xev__wakeup_open(&u->wake, false);
	if (rc < 0) {
		io_uring_queue_exit(&u->ring);
		return rc;
	}
	u->wake_armed = false;
	u->wake_by_read = false;
	u->inflight = 0;
	u->active.head = u->active.tail = NULL;
	return 0;
}

/* An SQE, flushing the queue to the kernel if it is full. */
static struct io_uring_sqe *get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = XEV__SYS_PTR(URING_SQE, io_uring_get_sqe(ring));
	while (!sqe) {
		int rc = XEV__SYS_NEG(URING_ENTER, io_uring_submit(ring));
		if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
			return NULL;
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}

/* The completion a CQE finishes, which the kernel no longer holds; NULL
 * for our own requests and liburing's timeout (old kernels). */
static struct xev__completion *completion_of(struct uring_state *u, struct io_uring_cqe *cqe)
{
	struct xev__completion *c;

	if (cqe->user_data == WAKE_TAG) {
		if (cqe->res == -EINVAL && !u->wake_by_read)
			u->wake_by_read = true; /* a kernel before 5.13 */
		u->wake_armed = (cqe->flags & IORING_CQE_F_MORE) != 0;
	}
	if (cqe->user_data < MAX_TAG || cqe->user_data == LIBURING_UDATA_TIMEOUT)
		return NULL;
	c = (struct xev__completion *)(uintptr_t)cqe->user_data;
	xev__list_unlink(&u->active, c);
	u->inflight--;
	return c;
}

/*
 * Takes back everything the kernel holds before the ring goes: buffers
 * and completions are the caller's memory, and the ring's own teardown is
 * asynchronous.  Each is cancelled and its CQE awaited; a connection
 * accepted meanwhile is closed, since nobody will ever see it.
 */
static void reclaim_inflight(struct xev__loop *l)
{
	struct uring_state *u = uring_of(l);
	struct io_uring_cqe *cqe;
	int rounds = 0;

	for (struct xev__completion *c = u->active.head; c; c = c->next) {
		struct io_uring_sqe *sqe = get_sqe(&u->ring);
		if (!sqe)
			break;
		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)c, 0);
		io_uring_sqe_set_data64(sqe, INTERNAL_TAG);
	}
	if (u->wake_armed) {
		struct io_uring_sqe *sqe = get_sqe(&u->ring);
		if (sqe) {
			io_uring_prep_cancel64(sqe, WAKE_TAG, 0);
			io_uring_sqe_set_data64(sqe, INTERNAL_TAG);
		}
	}
	/* Cancellation is prompt; the bound only guards against a kernel
	 * that cannot interrupt an operation. */
	while ((u->inflight > 0 || u->wake_armed) && rounds++ < 500) {
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 10000000 };
		unsigned head, seen = 0;

		io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
		io_uring_for_each_cqe(&u->ring, head, cqe) {
			struct xev__completion *c = completion_of(u, cqe);
			seen++;
			if (!c)
				continue;
			if (c->op == XEV__OP_ACCEPT && cqe->res >= 0)
				close(cqe->res);
			c->state = XEV__DEAD;
		}
		io_uring_cq_advance(&u->ring, seen);
	}
}

static void uring_deinit(struct xev__loop *l)
{
	struct uring_state *u = uring_of(l);
	struct xev__completion *c;

	reclaim_inflight(l);
	while ((c = xev__list_pop(&u->active)))
		c->state = XEV__DEAD;
	io_uring_queue_exit(&u->ring);
	xev__wakeup_close(&u->wake);
}

/* Puts c in an SQE. */
static void prep(struct io_uring_sqe *sqe, struct xev__completion *c)
{
	struct xev__io_op *io = &c->u.io;
	unsigned len = (unsigned)io->len;

	switch (xev__io_kind(c)) {
	case XEV__OP_READ:
		io_uring_prep_read(sqe, io->fd, io->buf, len, (uint64_t)-1);
		break;
	case XEV__OP_WRITE:
		io_uring_prep_write(sqe, io->fd, io->buf, len, (uint64_t)-1);
		break;
	case XEV__OP_PREAD:
		io_uring_prep_read(sqe, io->fd, io->buf, len, io->offset);
		break;
	case XEV__OP_PWRITE:
		io_uring_prep_write(sqe, io->fd, io->buf, len, io->offset);
		break;
	case XEV__OP_RECV:
		io_uring_prep_recv(sqe, io->fd, io->buf, io->len, io->flags);
		break;
	case XEV__OP_SEND:
		io_uring_prep_send(sqe, io->fd, io->buf, io->len, io->flags);
		break;
	case XEV__OP_RECVMSG:
		io_uring_prep_recvmsg(sqe, io->fd, io->buf, (unsigned)io->flags);
		break;
	case XEV__OP_SENDMSG:
		io_uring_prep_sendmsg(sqe, io->fd, io->buf, (unsigned)io->flags);
		break;
	case XEV__OP_ACCEPT:
		io_uring_prep_accept(sqe, io->fd, io->buf, io->addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		break;
	case XEV__OP_CONNECT:
		io_uring_prep_connect(sqe, io->fd, io->buf, (socklen_t)io->len);
		break;
	case XEV__OP_SHUTDOWN:
		io_uring_prep_shutdown(sqe, io->fd, io->flags);
		break;
	case XEV__OP_CLOSE:
		io_uring_prep_close(sqe, io->fd);
		break;
	case XEV__OP_POLL:
		io_uring_prep_poll_add(sqe, io->fd, (unsigned)io->flags);
		break;
	}
	io_uring_sqe_set_data(sqe, c);
}

/* The kernel now holds c. */
static void hold(struct uring_state *u, struct xev__completion *c)
{
	c->state = XEV__ACTIVE;
	xev__list_push(&u->active, c);
	u->inflight++;
}

static void uring_submit(struct xev__loop *l, struct xev__completion *c)
{
	struct uring_state *u = uring_of(l);
	struct io_uring_sqe *sqe = get_sqe(&u->ring);

	if (!sqe) {
		xev__complete(l, c, -EBUSY);
		return;
	}
	prep(sqe, c);
	hold(u, c);
}

static int uring_cancel(struct xev__loop *l, struct xev__completion *t,
			struct xev__completion *canceller)
{
	struct uring_state *u = uring_of(l);
	struct io_uring_sqe *sqe = get_sqe(&u->ring);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)t, 0);
	io_uring_sqe_set_data(sqe, canceller);
	t->flags |= F_CANCEL_SENT;
	hold(u, canceller);
	return XEV__PENDING;
}

/* The result the caller sees for a CQE. */
static int result_of(struct xev__completion *c, int res)
{
	if (c->op == XEV__OP_CANCEL)
		/* Already running: the kernel interrupts it; it completes soon. */
		return res == -EALREADY ? 0 : res;
	if (res == -EINTR && (c->flags & F_CANCEL_SENT))
		return -ECANCELED;
	return res;
}

/*
 * Other threads wake the ring by writing the eventfd.  A multishot poll
 * posts a CQE for every write and stays armed, so a wake-up costs no new
 * SQE and no read: the counter is never drained (it would take centuries
 * of writes to fill), and the poll fires on each write, not on the level.
 * Kernels without multishot poll get a read per wake-up instead.
 */
static void arm_wake(struct xev__loop *l)
{
	struct uring_state *u = uring_of(l);
	struct io_uring_sqe *sqe = get_sqe(&u->ring);
	if (!sqe)
		return;
	if (u->wake_by_read)
		io_uring_prep_read(sqe, u->wake.rfd, &u->wake_buf, sizeof(u->wake_buf), 0);
	else
		io_uring_prep_poll_multishot(sqe, u->wake.rfd, POLLIN);
	io_uring_sqe_set_data64(sqe, WAKE_TAG);
	u->wake_armed = true;
}

static void reap(struct xev__loop *l)
{
	struct uring_state *u = uring_of(l);
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;

	io_uring_for_each_cqe(&u->ring, head, cqe) {
		struct xev__completion *c = completion_of(u, cqe);

		seen++;
		if (c)
			xev__complete(l, c, result_of(c, cqe->res));
	}
	io_uring_cq_advance(&u->ring, seen);
}

/* Without a wait, enter the kernel only to submit or to run completions
 * that COOP_TASKRUN left pending. */
static bool needs_enter(struct io_uring *ring)
{
	unsigned flags = IO_URING_READ_ONCE(*ring->sq.kflags);
	return io_uring_sq_ready(ring) || (flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW));
}

static int uring_wait(struct xev__loop *l, int64_t timeout_ns)
{
	struct uring_state *u = uring_of(l);
	struct io_uring_cqe *cqe;
	int rc;

	if (!u->wake_armed)
		arm_wake(l);
	if (timeout_ns == 0) {
		rc = needs_enter(&u->ring) ? XEV__SYS_NEG(URING_ENTER, io_uring_submit_and_get_events(&u->ring)) : 0;
	} else if (timeout_ns < 0) {
		rc = XEV__SYS_NEG(URING_ENTER, io_uring_submit_and_wait(&u->ring, 1));
	} else {
		struct __kernel_timespec ts = {
			.tv_sec = timeout_ns / 1000000000,
			.tv_nsec = timeout_ns % 1000000000,
		};
		rc = XEV__SYS_NEG(URING_ENTER, io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL));
	}
	reap(l);
	if (rc == -ETIME || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY)
		rc = 0;
	return rc < 0 ? rc : 0;
}

static void uring_wake(struct xev__loop *l)
{
	xev__wakeup_signal(&uring_of(l)->wake);
}

const struct xev__backend xev__backend_io_uring = {
	.id = XEV_BACKEND_IO_URING,
	.probe = uring_probe,
	.init = uring_init,
	.deinit = uring_deinit,
	.wait = uring_wait,
	.submit = uring_submit,
	.cancel = uring_cancel,
	.wake = uring_wake,
};
