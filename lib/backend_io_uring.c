/* SPDX-License-Identifier: MIT */
/*
 * The io_uring backend.  One io_uring_enter per tick both submits what was
 * queued and waits, with the nearest timer as the wait's timeout (passed as
 * an argument where the kernel allows it, so no timeout SQE is spent).
 * Other threads wake the ring through an eventfd that always has a read
 * outstanding.
 */
#include "internal.h"

#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* user_data of the wake-up read; completions are pointers, never 1. */
#define WAKE_TAG ((uint64_t)1)
#define DEFAULT_ENTRIES 256u

static int setup_ring(struct io_uring *ring, uint32_t entries, unsigned *features)
{
	/* COOP_TASKRUN spares us interrupts for completions: we always enter
	 * the kernel to collect them anyway.  Older kernels reject it. */
	static const unsigned flag_sets[] = {
		IORING_SETUP_CLAMP | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_CLAMP,
		0,
	};
	int rc = -EINVAL;

	for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		p.flags = flag_sets[i];
		rc = io_uring_queue_init_params(entries, ring, &p);
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
	struct xev__uring_state *u = &l->b.uring;
	unsigned features = 0;
	int rc;

	rc = setup_ring(&u->ring, o->entries ? o->entries : DEFAULT_ENTRIES, &features);
	if (rc < 0)
		return rc;
	u->ext_arg = (features & IORING_FEAT_EXT_ARG) != 0;
	l->wake_fd = eventfd(0, EFD_CLOEXEC);
	if (l->wake_fd < 0) {
		rc = -errno;
		io_uring_queue_exit(&u->ring);
		return rc;
	}
	u->wake_armed = false;
	return 0;
}

static void uring_deinit(struct xev__loop *l)
{
	io_uring_queue_exit(&l->b.uring.ring);
	close(l->wake_fd);
	l->wake_fd = -1;
}

/* An SQE, flushing the queue to the kernel if it is full. */
static struct io_uring_sqe *get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	while (!sqe) {
		if (io_uring_submit(ring) < 0)
			return NULL;
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}

static void arm_wake_read(struct xev__loop *l)
{
	struct xev__uring_state *u = &l->b.uring;
	struct io_uring_sqe *sqe = get_sqe(&u->ring);
	if (!sqe)
		return;
	io_uring_prep_read(sqe, l->wake_fd, &u->wake_buf, sizeof(u->wake_buf), 0);
	io_uring_sqe_set_data64(sqe, WAKE_TAG);
	u->wake_armed = true;
}

static void reap(struct xev__loop *l)
{
	struct xev__uring_state *u = &l->b.uring;
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;

	io_uring_for_each_cqe(&u->ring, head, cqe) {
		seen++;
		if (cqe->user_data == WAKE_TAG)
			u->wake_armed = false;
		/* Anything else is liburing's own timeout (old kernels). */
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
	struct xev__uring_state *u = &l->b.uring;
	struct io_uring_cqe *cqe;
	int rc;

	if (!u->wake_armed)
		arm_wake_read(l);
	if (timeout_ns == 0) {
		rc = needs_enter(&u->ring) ? io_uring_submit_and_get_events(&u->ring) : 0;
	} else if (timeout_ns < 0) {
		rc = io_uring_submit_and_wait(&u->ring, 1);
	} else {
		struct __kernel_timespec ts = {
			.tv_sec = timeout_ns / 1000000000,
			.tv_nsec = timeout_ns % 1000000000,
		};
		rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
	}
	reap(l);
	if (rc == -ETIME || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY)
		rc = 0;
	return rc < 0 ? rc : 0;
}

static void uring_wake(struct xev__loop *l)
{
	uint64_t one = 1;
	ssize_t n;
	do
		n = write(l->wake_fd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
}

const struct xev__backend xev__backend_io_uring = {
	.name = "io_uring",
	.id = XEV_BACKEND_IO_URING,
	.probe = uring_probe,
	.init = uring_init,
	.deinit = uring_deinit,
	.wait = uring_wait,
	.wake = uring_wake,
};
