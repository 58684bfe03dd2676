/* SPDX-License-Identifier: MIT */
/*
 * The epoll backend.  Timers come from the loop's heap as the wait timeout
 * (nanoseconds through epoll_pwait2 where the kernel has it, milliseconds
 * rounded up otherwise); other threads wake it through an eventfd.
 *
 * A readiness backend emulates completions: an operation that cannot
 * finish now parks on its descriptor's slot and is retried when epoll
 * reports the descriptor ready.  Each slot is registered level-triggered
 * with the union of what its parked operations want.  Registrations stay
 * after the last operation finished, so a rearmed read costs no
 * epoll_ctl; a registration nobody wants is dropped when it next fires.
 *
 * The kernel keys registrations by open file, the caller thinks in fd
 * numbers, and fds are closed and reused behind our back.  So a new
 * operation on a slot with nothing parked re-asserts the registration
 * (EPOLL_CTL_MOD, or ADD when the kernel has none), and every ADD bumps a
 * generation carried in the event: an event of an older generation comes
 * from a file whose fd was closed while a duplicate kept it open.  It
 * cannot be removed by fd number, so the epoll set is rebuilt.
 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define WAKE_DATA UINT64_MAX

static int epoll_probe(void)
{
	int fd = epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int add_wake_fd(struct xev__loop *l)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = WAKE_DATA };
	return epoll_ctl(l->b.epoll.epfd, EPOLL_CTL_ADD, l->wake_fd, &ev) < 0 ? -errno : 0;
}

static int epoll_init(struct xev__loop *l, const struct xev__options *o)
{
	struct xev__epoll_state *e = &l->b.epoll;
	int rc;

	(void)o;
	e->fds = NULL;
	e->nfds = 0;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0)
		return -errno;
	l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->wake_fd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = add_wake_fd(l);
	if (rc < 0)
		goto fail;
#ifdef HAVE_EPOLL_PWAIT2
	e->have_pwait2 = true;
#endif
	return 0;
fail:
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	l->wake_fd = -1;
	close(e->epfd);
	return rc;
}

static void epoll_deinit(struct xev__loop *l)
{
	struct xev__epoll_state *e = &l->b.epoll;

	for (uint32_t fd = 0; fd < e->nfds; fd++) {
		struct xev__completion *c;
		while ((c = xev__list_pop(&e->fds[fd].waiters)))
			c->state = XEV__DEAD;
	}
	free(e->fds);
	e->fds = NULL;
	e->nfds = 0;
	close(e->epfd);
	close(l->wake_fd);
	l->wake_fd = -1;
}

/* The slot of fd, growing the table (by doubling) to reach it. */
static struct xev__fdslot *slot_of(struct xev__loop *l, int fd)
{
	struct xev__epoll_state *e = &l->b.epoll;
	struct xev__fdslot *t;
	size_t n;

	if ((uint32_t)fd < e->nfds)
		return &e->fds[fd];
	n = e->nfds ? e->nfds : 64;
	while (n <= (size_t)fd)
		n *= 2;
	t = realloc(e->fds, n * sizeof(*t));
	if (!t)
		return NULL;
	/* The lists hold no pointer back to their slot: moving is fine. */
	memset(t + e->nfds, 0, (n - e->nfds) * sizeof(*t));
	e->fds = t;
	e->nfds = (uint32_t)n;
	return &t[fd];
}

/* The slot of fd if the table reaches it, else NULL: nothing of ours. */
static struct xev__fdslot *known_slot(struct xev__loop *l, int fd)
{
	return fd >= 0 && (uint32_t)fd < l->b.epoll.nfds ? &l->b.epoll.fds[fd] : NULL;
}

/* What the operations parked on s wait for. */
static uint32_t wanted(const struct xev__fdslot *s)
{
	uint32_t m = 0;
	for (struct xev__completion *c = s->waiters.head; c; c = c->next)
		m |= c->u.io.wants;
	return m;
}

static uint64_t event_data(int fd, uint32_t gen)
{
	return (uint32_t)fd | (uint64_t)gen << 32;
}

static int ctl(struct xev__loop *l, int op, int fd, struct xev__fdslot *s, uint32_t mask)
{
	struct epoll_event ev = { .events = mask | (s->edge ? EPOLLET : 0),
				  .data.u64 = event_data(fd, s->gen) };
	return epoll_ctl(l->b.epoll.epfd, op, fd, &ev) < 0 ? -errno : 0;
}

/* Registers fd for mask, whatever the kernel had for it before. */
static int assert_registration(struct xev__loop *l, int fd, struct xev__fdslot *s, uint32_t mask)
{
	int rc = -ENOENT;

	if (s->registered)
		rc = ctl(l, EPOLL_CTL_MOD, fd, s, mask);
	if (rc == -ENOENT) {
		s->gen++;
		s->edge = false;
		rc = ctl(l, EPOLL_CTL_ADD, fd, s, mask);
		if (rc == -EEXIST) /* registered by an earlier life of the slot */
			rc = ctl(l, EPOLL_CTL_MOD, fd, s, mask);
	}
	s->registered = rc == 0;
	s->mask = rc == 0 ? mask : 0;
	return rc;
}

/* Removes the registration of fd.  Failure means the fd was closed or
 * reused: nothing of ours is left there that we could name. */
static void unregister(struct xev__loop *l, int fd, struct xev__fdslot *s)
{
	if (s->registered)
		ctl(l, EPOLL_CTL_DEL, fd, s, 0);
	s->registered = false;
	s->edge = false;
	s->mask = 0;
}

/* Drops what the registration of s has beyond what its waiters want. */
static void trim_registration(struct xev__loop *l, int fd, struct xev__fdslot *s)
{
	uint32_t want = wanted(s);

	if (!want) {
		unregister(l, fd, s);
		return;
	}
	if (ctl(l, EPOLL_CTL_MOD, fd, s, want) == 0)
		s->mask = want;
}

/* Which readiness each operation waits for. */
static uint32_t wants_of(struct xev__completion *c)
{
	switch (c->op) {
	case XEV__OP_READ:
	case XEV__OP_RECV:
	case XEV__OP_RECVMSG:
	case XEV__OP_ACCEPT:
	case XEV__OP_PROCESS: /* a pidfd is readable once the child ended */
		return EPOLLIN;
	case XEV__OP_POLL:
		/* poll(2) and epoll share the bit values on Linux. */
		return (uint32_t)c->u.io.flags & (EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDNORM |
						  EPOLLRDBAND | EPOLLWRNORM | EPOLLWRBAND |
						  EPOLLRDHUP);
	default:
		return EPOLLOUT;
	}
}

/* One attempt after readiness; -EAGAIN: not yet. */
static int attempt(struct xev__completion *c, uint32_t revents)
{
	if (c->op == XEV__OP_POLL)
		return (int)(revents & (c->u.io.wants | EPOLLERR | EPOLLHUP));
	if (c->flags & XEV__F_CONNECTING) {
		int err = 0, r;
		socklen_t len = sizeof(err);
		if (getsockopt(c->u.io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			return -errno;
		if (err)
			return -err;
		if (!(revents & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return -EAGAIN;
		/* Asking again moves the socket to "connected", as a blocking
		 * connect (and io_uring's) leaves it: a later connect then
		 * says EISCONN. */
		r = xev__io_perform(c);
		if (r == -EALREADY || r == -EINPROGRESS)
			return -EAGAIN;
		return r == -EISCONN ? 0 : r;
	}
	return xev__io_perform(c);
}

/* Things epoll cannot wait for: regular files, directories, some devices. */
static void not_pollable(struct xev__loop *l, struct xev__completion *c)
{
	switch (c->op) {
	case XEV__OP_READ:
	case XEV__OP_WRITE:
		xev__io_file(l, c);
		break;
	case XEV__OP_POLL:
		/* Always ready, as poll(2) says of them. */
		xev__complete(l, c, (int)(c->u.io.wants & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM)));
		break;
	default:
		/* Not a socket: let the system call say so. */
		xev__complete(l, c, xev__io_perform(c));
		break;
	}
}

/*
 * io_uring refuses at once a read of a write-only fd, a recv on a pipe or
 * an accept on a socket that does not listen; waiting for readiness that
 * may never come would hang them here instead.  Checked when the fd is
 * registered, which is once for most descriptors, not on every wait.
 */
static int check_fd_kind(struct xev__completion *c)
{
	int fd = c->u.io.fd, v = 0, flags;
	socklen_t len = sizeof v;

	switch (c->op) {
	case XEV__OP_READ:
		flags = fcntl(fd, F_GETFL);
		if (flags < 0)
			return -errno;
		return (flags & O_ACCMODE) == O_WRONLY ? -EBADF : 0;
	case XEV__OP_RECV:
	case XEV__OP_RECVMSG:
		return getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0 ? -errno : 0;
	case XEV__OP_ACCEPT:
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0)
			return -errno;
		return v ? 0 : -EINVAL;
	default:
		return 0;
	}
}

/* Waits for c's fd to become ready for it. */
static void park(struct xev__loop *l, struct xev__completion *c)
{
	int fd = c->u.io.fd;
	struct xev__fdslot *s = slot_of(l, fd);
	uint32_t need;
	int rc = 0;

	if (!s) {
		xev__complete(l, c, -ENOMEM);
		return;
	}
	if (!s->registered && (rc = check_fd_kind(c)) < 0) {
		xev__complete(l, c, rc);
		return;
	}
	c->u.io.wants = wants_of(c);
	need = s->mask | c->u.io.wants;
	/* With operations parked the registration is known to be live; a
	 * rearm repeats one on the same, still open, fd.  Otherwise the fd
	 * may have been closed and reused since we registered it.  An
	 * edge-triggered registration is asserted for every wait: the
	 * kernel looks at the readiness again then, which an edge that
	 * already went by would not report. */
	if (!s->registered || need != s->mask || s->edge ||
	    (!s->waiters.head && !(c->flags & XEV__F_REARMED)))
		rc = assert_registration(l, fd, s, need);
	if (rc == -EPERM) {
		not_pollable(l, c);
		return;
	}
	if (rc < 0) {
		xev__complete(l, c, rc);
		return;
	}
	c->state = XEV__ACTIVE;
	xev__list_push(&s->waiters, c);
}

/* xev_close: the slot forgets the fd, and what waits on it can never be
 * woken again, so it ends with -EBADF rather than hang. */
static void forget_fd(struct xev__loop *l, int fd)
{
	struct xev__fdslot *s = known_slot(l, fd);
	struct xev__completion *c;

	if (!s)
		return;
	unregister(l, fd, s);
	while ((c = xev__list_pop(&s->waiters)))
		xev__complete(l, c, -EBADF);
}

/* A descriptor epoll cannot wait for, so the pool should write to it. */
static bool is_file(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
}

/* Sends and writes are tried at once: a socket usually has room. */
static void try_then_park(struct xev__loop *l, struct xev__completion *c)
{
	struct xev__fdslot *s = known_slot(l, c->u.io.fd);
	int r;

	/* Must not overtake a write already waiting on the fd. */
	if (s && (wanted(s) & EPOLLOUT)) {
		park(l, c);
		return;
	}
	if (l->pool && c->op == XEV__OP_WRITE && is_file(c->u.io.fd)) {
		xev__io_file(l, c);
		return;
	}
	r = xev__io_perform(c);
	if (r == -EAGAIN)
		park(l, c);
	else
		xev__complete(l, c, r);
}

static void start_connect(struct xev__loop *l, struct xev__completion *c)
{
	int r = xev__io_perform(c);

	if (r == -EINPROGRESS) {
		c->flags |= XEV__F_CONNECTING;
		park(l, c);
	} else if (r == -EAGAIN) {
		park(l, c); /* a full AF_UNIX backlog: try again when writable */
	} else {
		xev__complete(l, c, r);
	}
}

static void epoll_submit(struct xev__loop *l, struct xev__completion *c)
{
	int fd = c->u.io.fd;

	switch (c->op) {
	case XEV__OP_PREAD:
	case XEV__OP_PWRITE:
		xev__io_file(l, c);
		break;
	case XEV__OP_SHUTDOWN:
		xev__complete(l, c, xev__io_perform(c));
		break;
	case XEV__OP_CLOSE:
		forget_fd(l, fd);
		xev__complete(l, c, xev__io_perform(c));
		break;
	case XEV__OP_CONNECT:
		start_connect(l, c);
		break;
	case XEV__OP_WRITE:
	case XEV__OP_SEND:
	case XEV__OP_SENDMSG:
		try_then_park(l, c);
		break;
	default:
		park(l, c);
		break;
	}
}

static int epoll_cancel(struct xev__loop *l, struct xev__completion *t,
			struct xev__completion *canceller)
{
	struct xev__fdslot *s = known_slot(l, t->u.io.fd);

	(void)canceller;
	if (!s)
		return -ENOENT;
	/* Its registration is trimmed lazily, when it next fires. */
	xev__list_unlink(&s->waiters, t);
	xev__complete(l, t, -ECANCELED);
	return 0;
}

/* Retries what is parked on fd, oldest first, as far as revents allows. */
static void on_ready(struct xev__loop *l, int fd, struct xev__fdslot *s, uint32_t revents)
{
	bool failed = revents & (EPOLLERR | EPOLLHUP);
	uint32_t blocked = 0;
	uint32_t want = wanted(s);
	bool progress = false;
	struct xev__completion *c, *next;

	for (c = s->waiters.head; c; c = next) {
		uint32_t w = c->u.io.wants;
		int r;

		next = c->next;
		if (!(revents & w) && !failed)
			continue;
		if (c->op != XEV__OP_POLL && (w & blocked))
			continue; /* an earlier one found nothing: so would this */
		r = attempt(c, revents);
		if (r == -EAGAIN) {
			blocked |= w;
			continue;
		}
		xev__list_unlink(&s->waiters, c);
		xev__complete(l, c, r);
		progress = true;
	}
	/* An error condition that the operations cannot clear (an ICMP
	 * error queued for MSG_ERRQUEUE, say, while a recv finds no data)
	 * stays reported by a level-triggered registration: the loop would
	 * spin.  Edge-triggered, it is reported once more, and then only
	 * new readiness wakes the waiters, which is all they wait for. */
	if (failed && !progress && s->waiters.head && !s->edge) {
		s->edge = true;
		ctl(l, EPOLL_CTL_MOD, fd, s, s->mask);
	}
	/* Level-triggered: what nobody waited for fires again and again, and
	 * so would writability nobody waits for any more.  Readability stays
	 * registered for the next read, usually a rearm. */
	if (want == 0 || (revents & ~want & ~(uint32_t)(EPOLLERR | EPOLLHUP)) ||
	    (s->mask & ~wanted(s) & EPOLLOUT))
		trim_registration(l, fd, s);
}

/* Starts over with a fresh epoll set: the old one holds a registration we
 * cannot name any more.  Parked operations are registered again. */
static int rebuild(struct xev__loop *l)
{
	struct xev__epoll_state *e = &l->b.epoll;
	int fd = epoll_create1(EPOLL_CLOEXEC);

	if (fd < 0)
		return -errno;
	close(e->epfd);
	e->epfd = fd;
	if (add_wake_fd(l) < 0)
		return -errno;
	for (uint32_t i = 0; i < e->nfds; i++) {
		struct xev__fdslot *s = &e->fds[i];
		struct xev__completion *c;
		int rc;

		s->registered = false;
		s->mask = 0;
		if (!s->waiters.head)
			continue;
		rc = assert_registration(l, (int)i, s, wanted(s));
		if (rc == 0)
			continue;
		while ((c = xev__list_pop(&s->waiters)))
			xev__complete(l, c, rc);
	}
	return 0;
}

static int wait_events(struct xev__loop *l, struct epoll_event *evs, int64_t timeout_ns)
{
	struct xev__epoll_state *e = &l->b.epoll;
	int ms;

#ifdef HAVE_EPOLL_PWAIT2
	if (e->have_pwait2 && timeout_ns > 0) {
		struct timespec ts = {
			.tv_sec = timeout_ns / 1000000000,
			.tv_nsec = timeout_ns % 1000000000,
		};
		int n = epoll_pwait2(e->epfd, evs, MAX_EVENTS, &ts, NULL);
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
	return epoll_wait(e->epfd, evs, MAX_EVENTS, ms);
}

static int epoll_wait_backend(struct xev__loop *l, int64_t timeout_ns)
{
	struct epoll_event evs[MAX_EVENTS];
	bool stale = false;
	int n = wait_events(l, evs, timeout_ns);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		uint64_t d = evs[i].data.u64;
		uint32_t fd = (uint32_t)d;
		struct xev__fdslot *s;

		if (d == WAKE_DATA) {
			uint64_t v;
			/* One read resets the counter: it is not a semaphore. */
			while (read(l->wake_fd, &v, sizeof(v)) < 0 && errno == EINTR)
				;
			continue;
		}
		s = known_slot(l, (int)fd);
		if (!s || !s->registered || s->gen != (uint32_t)(d >> 32)) {
			stale = true;
			continue;
		}
		on_ready(l, (int)fd, s, evs[i].events);
	}
	if (stale)
		return rebuild(l);
	return 0;
}

static void epoll_wake(struct xev__loop *l)
{
	uint64_t one = 1;
	ssize_t n;
	do
		n = write(l->wake_fd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
}

const struct xev__backend xev__backend_epoll = {
	.name = "epoll",
	.id = XEV_BACKEND_EPOLL,
	.probe = epoll_probe,
	.init = epoll_init,
	.deinit = epoll_deinit,
	.wait = epoll_wait_backend,
	.submit = epoll_submit,
	.cancel = epoll_cancel,
	.wake = epoll_wake,
};
