/* SPDX-License-Identifier: MIT */
/*
 * The epoll backend, on the readiness core (readiness.c), which decides
 * what each fd's interest is; this file only tells epoll.  Timers come
 * from the loop's heap as the wait timeout (nanoseconds through
 * epoll_pwait2 where the kernel has it, milliseconds rounded up
 * otherwise).  Poll bits and epoll bits are the same numbers on Linux.
 *
 * epoll keys registrations by open file, the core thinks in fd numbers,
 * and fds are closed and reused behind our back.  Every EPOLL_CTL_ADD
 * bumps a generation carried in the event: an event of an older
 * generation comes from a file whose fd was closed while a duplicate kept
 * it open.  It cannot be removed by fd number, so the epoll set is
 * rebuilt.  A stuck slot (an error no operation clears) is registered
 * edge-triggered, so that it is reported once per EPOLL_CTL_MOD; so is a
 * TCP socket whose receives keep emptying it (readiness.c).
 */
#include "backend.h"

#include <limits.h>
#include <poll.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define WAKE_DATA UINT64_MAX

_Static_assert(EPOLLIN == POLLIN && EPOLLOUT == POLLOUT && EPOLLPRI == POLLPRI &&
		       EPOLLERR == POLLERR && EPOLLHUP == POLLHUP && EPOLLRDNORM == POLLRDNORM &&
		       EPOLLRDBAND == POLLRDBAND && EPOLLWRNORM == POLLWRNORM &&
		       EPOLLWRBAND == POLLWRBAND,
	       "epoll and poll(2) bits differ: translate them");
#ifdef POLLRDHUP
_Static_assert(EPOLLRDHUP == POLLRDHUP, "epoll and poll(2) bits differ: translate them");
#endif

struct epoll_state {
	struct xev__rd core; /* first: the readiness core's */
	int epfd;
	bool have_pwait2;
};
XEV__STATE_FITS(struct epoll_state);

static struct epoll_state *epoll_of(struct xev__loop *l)
{
	return XEV__BACKEND_STATE(l, struct epoll_state);
}

static int epoll_probe(void)
{
	int fd = epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/*
 * An eventfd wake-up is registered edge-triggered and never read: every
 * write to it queues an event of its own, and its counter would take
 * centuries of writes to fill, so a read after each wake-up would only
 * cost a system call.  A pipe must be drained, or it fills and its writes
 * stop making events.
 */
#ifdef XEV_USE_EVENTFD
#define WAKE_EVENTS (EPOLLIN | EPOLLET)
#else
#define WAKE_EVENTS EPOLLIN
#endif

static int add_wake_fd(struct xev__loop *l, int epfd)
{
	struct epoll_event ev = { .events = WAKE_EVENTS, .data.u64 = WAKE_DATA };
	int fd = epoll_of(l)->core.wake.rfd;
	return XEV__SYS(EPOLL_CTL, epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)) < 0 ? -errno : 0;
}

static uint64_t event_data(int fd, uint32_t gen)
{
	return (uint32_t)fd | (uint64_t)gen << 32;
}

/* An edge-triggered slot (readiness.c) also hears of urgent data and of
 * the peer's shutdown, which end edge-triggering. */
#define EDGE_EVENTS (EPOLLET | EPOLLPRI | EPOLLRDHUP)

static int ctl(struct xev__loop *l, int op, int fd, struct xev__fdslot *s, uint32_t mask)
{
	struct epoll_event ev = { .events = mask | (s->edge ? EDGE_EVENTS : s->stuck ? EPOLLET : 0),
				  .data.u64 = event_data(fd, s->priv) };
	return XEV__SYS(EPOLL_CTL, epoll_ctl(epoll_of(l)->epfd, op, fd, &ev)) < 0 ? -errno : 0;
}

/* Registers fd for want, whatever the kernel had for it before. */
static int epoll_watch(struct xev__loop *l, int fd, struct xev__fdslot *s, uint32_t want, bool fresh)
{
	int rc = -ENOENT;

	(void)fresh; /* MOD finds out: ENOENT when the file is not the one we added */
	if (s->registered)
		rc = ctl(l, EPOLL_CTL_MOD, fd, s, want);
	if (rc == -ENOENT) {
		s->priv++; /* a new generation */
		rc = ctl(l, EPOLL_CTL_ADD, fd, s, want);
		if (rc == -EEXIST) /* registered by an earlier life of the slot */
			rc = ctl(l, EPOLL_CTL_MOD, fd, s, want);
	}
	return rc;
}

/* Failure means the fd was closed or reused: nothing of ours is left
 * there that we could name. */
static void epoll_unwatch(struct xev__loop *l, int fd, struct xev__fdslot *s)
{
	ctl(l, EPOLL_CTL_DEL, fd, s, 0);
}

static const struct xev__rd_hooks epoll_hooks = {
	.watch = epoll_watch,
	.unwatch = epoll_unwatch,
#ifdef POLLRDHUP
	.edge_ok = true, /* readiness.c needs to hear of the peer's shutdown */
#endif
};

static int epoll_init(struct xev__loop *l, const struct xev__options *o)
{
	struct epoll_state *e = epoll_of(l);
	int rc;

	(void)o;
	e->epfd = XEV__SYS(EPOLL_CREATE, epoll_create1(EPOLL_CLOEXEC));
	if (e->epfd < 0)
		return -errno;
	rc = xev__rd_init(l, &epoll_hooks, true);
	if (rc < 0) {
		close(e->epfd);
		return rc;
	}
	rc = add_wake_fd(l, e->epfd);
	if (rc < 0) {
		xev__rd_deinit(l);
		close(e->epfd);
		return rc;
	}
#ifdef HAVE_EPOLL_PWAIT2
	e->have_pwait2 = true;
#else
	e->have_pwait2 = false;
#endif
	return 0;
}

static void epoll_deinit(struct xev__loop *l)
{
	xev__rd_deinit(l);
	close(epoll_of(l)->epfd);
}

/* Starts over with a fresh epoll set: the old one holds a registration we
 * cannot name any more.  Parked operations are registered again.  The new
 * set replaces the old only once it can wake the loop; until then the old
 * one stays, still able to report what it has (and the stale event, which
 * brings the next try). */
static int rebuild(struct xev__loop *l)
{
	struct epoll_state *e = epoll_of(l);
	int fd = XEV__SYS(EPOLL_CREATE, epoll_create1(EPOLL_CLOEXEC));
	int rc;

	if (fd < 0)
		return -errno;
	rc = add_wake_fd(l, fd);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	close(e->epfd);
	e->epfd = fd;
	xev__rd_rewatch_all(l);
	return 0;
}

static int wait_events(struct epoll_state *e, struct epoll_event *evs, int64_t timeout_ns)
{
	int ms;

#ifdef HAVE_EPOLL_PWAIT2
	if (e->have_pwait2 && timeout_ns > 0) {
		struct timespec ts = {
			.tv_sec = timeout_ns / 1000000000,
			.tv_nsec = timeout_ns % 1000000000,
		};
		int n = XEV__SYS(EPOLL_WAIT, epoll_pwait2(e->epfd, evs, MAX_EVENTS, &ts, NULL));
		if (n >= 0 || errno != ENOSYS)
			return n;
		e->have_pwait2 = false; /* glibc has it, the kernel does not */
	}
#endif
	if (timeout_ns < 0)
		ms = -1;
	else if (timeout_ns >= (int64_t)INT_MAX * 1000000)
		ms = INT_MAX;
	else /* round up: waking early would only spin */
		ms = (int)((timeout_ns + 999999) / 1000000);
	return XEV__SYS(EPOLL_WAIT, epoll_wait(e->epfd, evs, MAX_EVENTS, ms));
}

static int epoll_wait_backend(struct xev__loop *l, int64_t timeout_ns)
{
	struct epoll_state *e = epoll_of(l);
	struct epoll_event evs[MAX_EVENTS];
	bool stale = false;
	int n;

	if (xev__rd_skip_poll(l, timeout_ns))
		return 0;
	timeout_ns = xev__rd_recheck_stuck(l, timeout_ns);
	n = wait_events(e, evs, timeout_ns);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		uint64_t d = evs[i].data.u64;
		int fd = (int)(uint32_t)d;
		struct xev__fdslot *s;

		if (d == WAKE_DATA) {
			if (!(WAKE_EVENTS & EPOLLET))
				xev__wakeup_drain(&e->core.wake);
			continue;
		}
		s = xev__rd_slot(l, fd);
		if (!s || !s->registered || s->priv != (uint32_t)(d >> 32)) {
			stale = true;
			continue;
		}
		xev__rd_ready(l, fd, s, evs[i].events, 0);
	}
	return stale ? rebuild(l) : 0;
}

const struct xev__backend xev__backend_epoll = {
	.id = XEV_BACKEND_EPOLL,
	.probe = epoll_probe,
	.init = epoll_init,
	.deinit = epoll_deinit,
	.wait = epoll_wait_backend,
	.submit = xev__rd_submit,
	.cancel = xev__rd_cancel,
	.wake = xev__rd_wake,
	.idle = xev__rd_idle,
};
