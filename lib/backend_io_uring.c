/* SPDX-License-Identifier: MIT */
/*
 * The io_uring backend.  One io_uring_enter per tick both submits what was
 * queued and waits, with the nearest timer as the wait's timeout (passed as
 * an argument where the kernel allows it, so no timeout SQE is spent).
 * Other threads wake the ring through an eventfd under a multishot poll.
 * Every fd operation is one SQE whose user_data is its completion; the
 * kernel holds it until its CQE is reaped.
 *
 * Sends may instead be made at once with send(2), as the readiness
 * backends make them (direct_send), where the ring costs more: a send in
 * the ring finishes during the enter that was to sleep, which then
 * returns at once to hand its completion over, and the loop enters again
 * to sleep.  A request-response loop (an echo, a ping-pong) paid two
 * enters and an io_uring request per turn where one send(2) and one enter
 * do.  Where the enter had other work that finished at once (a loop
 * talking to itself), the send rode along for free, and the ring stays.
 *
 * Where the kernel has them (6.1), the ring is single-issuer with deferred
 * task work: completions are run when this loop enters the kernel to wait,
 * in one batch, instead of interrupting it as they happen.  Such a ring
 * belongs to one thread, and a loop may be created on one thread and run
 * on another, so the ring starts disabled and the first xev_loop_run
 * enables it, making its thread the owner (xev(7), "Threads": the loop's
 * thread is the one that runs it).
 */
#include "backend.h"

#include <liburing.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
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
	bool send_addr_refused;  /* the kernel wants sendmsg for every message */
	bool single_issuer;      /* only the owner may enter the kernel */
	bool enabled;            /* by the first run; owner is its thread */
	/* Sends made at once (direct_send): */
	bool direct;             /* sends cut waits short: make them at once */
	bool direct_spent;       /* this tick's send tried at once already */
	bool ring_sends;         /* XEV_URING_RING_SENDS: never at once */
	bool writers_queued;     /* a send or write is in the SQ, not yet submitted */
	bool reaped_writer;      /* the last reap had a send's or write's CQE */
	bool reaped_other;       /* and one of anything else */
	uint8_t probe;           /* sends made at once since the ring was tried */
	uint64_t owner;          /* this_thread() of the owner */
	uint32_t entries;        /* asked for, to set the ring up again */
	uint32_t inflight;       /* completions the kernel holds */
	uint32_t writers;        /* of those, sends and writes */
	struct xev__list active; /* those completions */
};
XEV__STATE_FITS(struct uring_state);

static struct uring_state *uring_of(struct xev__loop *l)
{
	return XEV__BACKEND_STATE(l, struct uring_state);
}

/* A cancellation was sent for it: the kernel's -EINTR means -ECANCELED. */
#define F_CANCEL_SENT XEV__F_BACKEND_0
/* A sendmsg put in the ring as a send with an address. */
#define F_SENT_TO_ADDRESS XEV__F_BACKEND_1
/* The kernel dropped it at least once: u.io.drops counts how often. */
#define F_DROPPED XEV__F_BACKEND_2
/* Fault builds: submitted as a no-op whose completion plays a drop. */
#define F_FAKE_DROP XEV__F_BACKEND_3

/* The kernel's values (6.0, 6.1), for a liburing older than its kernel:
 * a kernel without them refuses them, and the ring falls back. */
#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

/* user_data of our own SQEs; completions are pointers, never this small. */
#define WAKE_TAG ((uint64_t)1)
#define INTERNAL_TAG ((uint64_t)2) /* deinit's cancellations */
#define MAX_TAG ((uint64_t)4096)
#define DEFAULT_ENTRIES 256u

#define DEFERRED (IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED)

/* Tests take the older ring with XEV_URING_NO_DEFER=1. */
static bool deferred_refused_by_env(void)
{
	return xev__env_flag("XEV_URING_NO_DEFER");
}

/* 0 and *flags_out, or -errno: the first set of flags the kernel takes. */
static int setup_ring(struct io_uring *ring, uint32_t entries, unsigned *features, unsigned *flags_out)
{
	/* COOP_TASKRUN spares us interrupts for completions: we always enter
	 * the kernel to collect them anyway.  Older kernels reject it. */
	static const unsigned flag_sets[] = {
		/* Completions run in a batch when we wait (6.1). */
		IORING_SETUP_CLAMP | DEFERRED | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
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
		if ((flag_sets[i] & DEFERRED) && deferred_refused_by_env())
			continue;
		rc = XEV__SYS_NEG(URING_SETUP, io_uring_queue_init_params(entries, ring, &p));
		if (rc == 0) {
			*features = p.features;
			*flags_out = flag_sets[i];
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
	unsigned features, flags;
	int rc = setup_ring(&ring, 2, &features, &flags);
	if (rc == 0)
		io_uring_queue_exit(&ring);
	return rc;
}

/*
 * Does the kernel take a destination address on a send?  Linux 6.0 does,
 * and came with IORING_OP_SEND_ZC, which the probe can see; older kernels
 * may ignore the address instead of refusing it, so they are never asked.
 * Asked once per process.
 */
static bool kernel_sends_to_address(struct io_uring *ring)
{
#if HAVE_DECL_IO_URING_PREP_SEND_SET_ADDR
	static atomic_int known = -1;
	int yes = atomic_load_explicit(&known, memory_order_relaxed);

	if (yes < 0) {
		struct io_uring_probe *p = io_uring_get_probe_ring(ring);
		yes = p && io_uring_opcode_supported(p, IORING_OP_SEND_ZC);
		if (p)
			io_uring_free_probe(p);
		atomic_store_explicit(&known, yes, memory_order_relaxed);
	}
	return yes;
#else
	(void)ring;
	return false;
#endif
}

static int uring_init(struct xev__loop *l, const struct xev__options *o)
{
	struct uring_state *u = uring_of(l);
	unsigned features = 0, flags = 0;
	int rc;

	u->entries = o->entries ? o->entries : DEFAULT_ENTRIES;
	rc = setup_ring(&u->ring, u->entries, &features, &flags);
	if (rc < 0)
		return rc;
	u->ext_arg = (features & IORING_FEAT_EXT_ARG) != 0;
	u->single_issuer = (flags & IORING_SETUP_SINGLE_ISSUER) != 0;
	u->enabled = !(flags & IORING_SETUP_R_DISABLED);
	/* Blocking reads: where multishot poll is refused, the kernel's own
	 * read of it must wait rather than say EAGAIN. */
	rc = xev__wakeup_open(&u->wake, false);
	if (rc < 0) {
		io_uring_queue_exit(&u->ring);
		return rc;
	}
	u->wake_armed = false;
	u->wake_by_read = false;
	u->send_addr_refused = !kernel_sends_to_address(&u->ring);
	u->inflight = 0;
	u->writers = 0;
	u->writers_queued = false;
	u->direct = false;
	u->direct_spent = false;
	u->probe = 0;
	u->ring_sends = xev__env_flag("XEV_URING_RING_SENDS");
	u->active.head = u->active.tail = NULL;
	return 0;
}

/*
 * A number for the calling thread that no other thread of the process
 * ever gets.  The kernel knows the ring's owner by its task; pthread_t
 * and thread ids are both reused once a thread is gone, and a loop is
 * often run by a thread that replaced the one that ran it before.
 */
static uint64_t this_thread(void)
{
	static atomic_uint_fast64_t last;
	static _Thread_local uint64_t mine;

	if (XEV__UNLIKELY(mine == 0))
		mine = atomic_fetch_add_explicit(&last, 1, memory_order_relaxed) + 1;
	return mine;
}

/* The thread that runs the loop first owns a single-issuer ring: it
 * enables it, before its first entry into the kernel.  0 or -errno. */
static int own(struct uring_state *u)
{
	if (XEV__LIKELY(u->enabled))
		return 0;
	if (syscall(__NR_io_uring_register, u->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
		return -errno;
	u->enabled = true;
	u->owner = this_thread();
	return 0;
}

/* An SQE, flushing the queue to the kernel if it is full. */
static struct io_uring_sqe *get_sqe(struct uring_state *u)
{
	struct io_uring *ring = &u->ring;
	struct io_uring_sqe *sqe = XEV__SYS_PTR(URING_SQE, io_uring_get_sqe(ring));
	while (!sqe) {
		int rc = own(u);
		if (rc == 0)
			rc = XEV__SYS_NEG(URING_ENTER, io_uring_submit(ring));
		if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
			return NULL;
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}

/* Sends and writes keep their order on a stream: one tried at once must
 * not overtake one the ring still holds.  By op, not xev__io_kind: the
 * ring holds cancellations too, which have no fd operation. */
static bool is_writer(const struct xev__completion *c)
{
	return c->op == XEV__OP_SEND || c->op == XEV__OP_SENDMSG || c->op == XEV__OP_WRITE;
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
	if (is_writer(c))
		u->writers--;
	return c;
}

/* The completions the kernel posted, for a loop going away: nobody will
 * see them, nor a connection one of them accepted. */
static void retire_posted(struct uring_state *u)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;

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
		struct io_uring_sqe *sqe = get_sqe(u);
		if (!sqe)
			break;
		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)c, 0);
		io_uring_sqe_set_data64(sqe, INTERNAL_TAG);
	}
	if (u->wake_armed) {
		struct io_uring_sqe *sqe = get_sqe(u);
		if (sqe) {
			io_uring_prep_cancel64(sqe, WAKE_TAG, 0);
			io_uring_sqe_set_data64(sqe, INTERNAL_TAG);
		}
	}
	/* Cancellation is prompt; the bound only guards against a kernel
	 * that cannot interrupt an operation. */
	while ((u->inflight > 0 || u->wake_armed) && rounds++ < 500) {
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 10000000 };

		io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
		retire_posted(u);
	}
}

/* May this thread enter the kernel for the ring? */
static bool may_enter(const struct uring_state *u)
{
	return !u->single_issuer || !u->enabled || u->owner == this_thread();
}

static void uring_deinit(struct xev__loop *l)
{
	struct uring_state *u = uring_of(l);
	struct xev__completion *c;

	/* Only the thread that ran the loop can take back what the kernel
	 * holds.  On any other, what it already posted is read, and the rest
	 * is cancelled by the kernel as the ring closes (a single-issuer
	 * ring keeps it until then even if that thread has exited).  A ring
	 * never enabled holds nothing. */
	if (u->enabled && may_enter(u))
		reclaim_inflight(l);
	else if (u->enabled)
		retire_posted(u);
	while ((c = xev__list_pop(&u->active)))
		c->state = XEV__DEAD;
	io_uring_queue_exit(&u->ring);
	xev__wakeup_close(&u->wake);
}

/*
 * A sendmsg of one buffer to an address, without control data, as a send
 * with an address: the kernel then copies and checks neither a msghdr nor
 * an iovec, which is a few percent of a UDP round trip.  Should a kernel
 * that has the probe's answer refuse the address all the same (-EINVAL),
 * the message goes again as a sendmsg, and so do all later ones.  false:
 * not done.
 */
static bool send_to_address(struct uring_state *u, struct io_uring_sqe *sqe, struct xev__completion *c)
{
#if HAVE_DECL_IO_URING_PREP_SEND_SET_ADDR
	const struct msghdr *m = c->u.io.buf;

	c->flags &= (uint16_t)~F_SENT_TO_ADDRESS;
	/* A NULL msghdr or iovec is the kernel's to refuse (-EFAULT). */
	if (u->send_addr_refused || !m || m->msg_iovlen != 1 || !m->msg_iov || m->msg_controllen != 0 ||
	    !m->msg_name || m->msg_namelen == 0 || m->msg_namelen > UINT16_MAX)
		return false;
	io_uring_prep_send(sqe, c->u.io.fd, m->msg_iov[0].iov_base, m->msg_iov[0].iov_len, c->u.io.flags);
	io_uring_prep_send_set_addr(sqe, m->msg_name, (uint16_t)m->msg_namelen);
	c->flags |= F_SENT_TO_ADDRESS;
	return true;
#else
	(void)u, (void)sqe, (void)c;
	return false;
#endif
}

/* Puts c in an SQE. */
static void prep(struct uring_state *u, struct io_uring_sqe *sqe, struct xev__completion *c)
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
		if (!send_to_address(u, sqe, c))
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
	if (is_writer(c)) {
		u->writers++;
		u->writers_queued = true;
	}
}

/* Every so many sends made at once, one goes through the ring again, to
 * see whether it would still cut the wait short (sends_cut_wait). */
#define DIRECT_PROBE 64

/*
 * Where sends cut the loop's waits short, the first send of a tick is
 * tried at once, while the ring holds no send or write (it would be
 * overtaken): a socket usually has room.  Only the first: a burst of
 * sends costs the ring one enter, and as many send(2) calls would cost
 * more.  MSG_WAITALL stays with the ring, which retries a partial send
 * where send(2) would return it.  true: finished (c completes with its
 * result); false: the ring's (no room, -EAGAIN).
 */
static bool direct_send(struct xev__loop *l, struct xev__completion *c)
{
	struct uring_state *u = uring_of(l);
	int r;

	if (!u->direct || (c->op != XEV__OP_SEND && c->op != XEV__OP_SENDMSG) || u->direct_spent ||
	    u->writers > 0 || (c->u.io.flags & MSG_WAITALL))
		return false;
	if (++u->probe == DIRECT_PROBE) {
		u->probe = 0;
		return false;
	}
	u->direct_spent = true;
	r = xev__io_perform(c);
	if (r == -EAGAIN)
		return false;
	xev__complete(l, c, r);
	return true;
}

#ifdef XEV_FAULT_INJECTION
/* t/fault-t's stand-in for a kernel that drops work (see redo_dropped):
 * the operation is not made, and a no-op brings back its completion,
 * which reap then sees as dropped. */
static bool fake_drop(struct io_uring_sqe *sqe, struct xev__completion *c)
{
	if (xev__io_kind(c) == XEV__OP_CONNECT || !xev__fault_fail(XEV__FS_URING_DROP))
		return false;
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data(sqe, c);
	c->flags |= F_FAKE_DROP;
	return true;
}

static int fake_result(struct xev__completion *c, int res)
{
	if (!(c->flags & F_FAKE_DROP))
		return res;
	c->flags &= (uint16_t)~F_FAKE_DROP;
	return -ECANCELED;
}
#else
#define fake_drop(sqe, c) false
#define fake_result(c, res) (res)
#endif

static void uring_submit(struct xev__loop *l, struct xev__completion *c)
{
	struct uring_state *u = uring_of(l);
	struct io_uring_sqe *sqe;

	if (direct_send(l, c))
		return;
	sqe = get_sqe(u);

	if (!sqe) {
		xev__complete(l, c, -EBUSY);
		return;
	}
	if (!fake_drop(sqe, c))
		prep(u, sqe, c);
	hold(u, c);
}

/*
 * What the kernel cannot do without blocking (a transfer on a regular
 * file or a device, a shutdown, a close that flushes) goes to its worker
 * threads.  When it cannot start one (the process at RLIMIT_NPROC, or
 * signals arriving while it tries: Linux 6.11 gives up after 3 tries),
 * it completes the work it queued with -ECANCELED, never having started
 * it.  The caller cancelled nothing, so nothing is reported: the work is
 * submitted again.  A connect is not: it started before it waited.
 */
static bool dropped_by_kernel(const struct xev__completion *c, int res)
{
	return res == -ECANCELED && c->op != XEV__OP_CANCEL && !(c->flags & F_CANCEL_SENT) &&
	       xev__io_kind(c) != XEV__OP_CONNECT;
}

/* Dropped again and again: the kernel has no thread for it.  Work that
 * a readiness backend does without waiting is done the same way; other
 * work could block the loop's thread, and fails with -EAGAIN, as work
 * for a thread pool that cannot start a thread does. */
static void finish_without_ring(struct xev__loop *l, struct xev__completion *c)
{
	switch (xev__io_kind(c)) {
	case XEV__OP_READ:
	case XEV__OP_WRITE:
	case XEV__OP_PREAD:
	case XEV__OP_PWRITE:
		/* A file readiness backends cannot wait for, which they
		 * transfer without waiting. */
		if (xev__rd_check_pollable(c->u.io.fd) == -EPERM) {
			xev__io_file(l, c);
			return;
		}
		break;
	case XEV__OP_SHUTDOWN:
	case XEV__OP_CLOSE:
		xev__complete(l, c, xev__io_perform(c));
		return;
	}
	xev__complete(l, c, -EAGAIN);
}

/* The kernel's own tries and ours, 3 each, outlast a storm of signals
 * every 20 us (1 worker in 150 not started, measured on 6.18). */
#define MAX_RESUBMITS 3

static void redo_dropped(struct xev__loop *l, struct xev__completion *c)
{
	if (!(c->flags & F_DROPPED)) {
		c->flags |= F_DROPPED;
		c->u.io.drops = 0;
	}
	if (c->u.io.drops++ < MAX_RESUBMITS)
		uring_submit(l, c);
	else
		finish_without_ring(l, c);
}

static int uring_cancel(struct xev__loop *l, struct xev__completion *t,
			struct xev__completion *canceller)
{
	struct uring_state *u = uring_of(l);
	struct io_uring_sqe *sqe = get_sqe(u);

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
	struct io_uring_sqe *sqe = get_sqe(u);
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
		int res;

		seen++;
		if (c && is_writer(c))
			u->reaped_writer = true;
		else
			u->reaped_other = true;
		if (!c)
			continue;
		res = fake_result(c, cqe->res);
		if (XEV__UNLIKELY(res == -EINVAL && (c->flags & F_SENT_TO_ADDRESS))) {
			u->send_addr_refused = true;
			uring_submit(l, c);
		} else if (XEV__UNLIKELY(dropped_by_kernel(c, res))) {
			redo_dropped(l, c);
		} else {
			xev__complete(l, c, result_of(c, res));
		}
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

/*
 * A loop that another thread ran, run by this one: the kernel lets only
 * the ring's owner in.  The completions the kernel already posted can be
 * read from any thread, and a ring with nothing else in it is replaced by
 * a new one this thread owns.  Anything still in flight belongs to the
 * other thread, which alone can complete it, even if it has exited (the
 * kernel does not cancel a single-issuer ring's requests with their
 * thread): -EEXIST, and the loop is unchanged.
 */
static int hand_over(struct xev__loop *l)
{
	struct uring_state *u = uring_of(l);
	struct io_uring fresh;
	unsigned features = 0, flags = 0;
	int rc;

	reap(l);
	if (u->inflight > 0 || io_uring_sq_ready(&u->ring))
		return -EEXIST;
	rc = setup_ring(&fresh, u->entries, &features, &flags);
	if (rc < 0)
		return rc;
	io_uring_queue_exit(&u->ring);
	u->ring = fresh;
	u->single_issuer = (flags & IORING_SETUP_SINGLE_ISSUER) != 0;
	u->enabled = !(flags & IORING_SETUP_R_DISABLED);
	u->wake_armed = false;
	return own(u);
}

/*
 * After a wait that submitted sends or writes: did they cut it short?
 * They did when their completions were all it returned, and the loop
 * will enter again to sleep; a send made at once would have let this
 * enter sleep.  When other completions came too, the sends rode along
 * for free, and making them at once would only add system calls.
 */
static void sends_cut_wait(struct uring_state *u, bool submitted_writers)
{
	if (submitted_writers && !u->ring_sends)
		u->direct = u->reaped_writer && !u->reaped_other;
}

static int uring_wait(struct xev__loop *l, int64_t timeout_ns)
{
	struct uring_state *u = uring_of(l);
	struct io_uring_cqe *cqe;
	bool submitted_writers = u->writers_queued;
	int rc;

	rc = XEV__UNLIKELY(!may_enter(u)) ? hand_over(l) : own(u);
	if (rc < 0)
		return rc;
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
	u->writers_queued = false;
	u->reaped_writer = u->reaped_other = false;
	reap(l);
	if (timeout_ns != 0)
		sends_cut_wait(u, submitted_writers);
	u->direct_spent = false;
	if (rc == -ETIME || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY)
		rc = 0;
	return rc < 0 ? rc : 0;
}

static void uring_wake(struct xev__loop *l)
{
	xev__wakeup_signal(&uring_of(l)->wake);
}

/* The wake-up's own poll aside, the ring holds nothing and has nothing
 * to hand in or out. */
static bool uring_idle(struct xev__loop *l)
{
	struct uring_state *u = uring_of(l);
	return u->inflight == 0 && u->wake_armed && !io_uring_sq_ready(&u->ring) && !io_uring_cq_ready(&u->ring);
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
	.idle = uring_idle,
};
