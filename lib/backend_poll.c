/* SPDX-License-Identifier: MIT */
/*
 * The poll(2) backend: the portable fallback, on the readiness core
 * (readiness.c).  One struct pollfd per watched fd, the union of its
 * waiters' interest, in an array the kernel reads on every wait; entry 0
 * is the wake-up, left out of the wait while no other thread may use it.
 * A slot's priv is its entry's index, so adding an fd is
 * an append and removing one moves the last entry into its place: both
 * O(1).  While the results of a wait are being handed to the core the
 * array keeps its shape (removals only mark the entry; it is compacted
 * afterwards), so no result is skipped or seen twice.
 *
 * poll(2) has no registrations to go stale: a closed fd reads POLLNVAL,
 * which the core turns into -EBADF for what waits on it.  It cannot wait
 * for regular files either, but says they are always ready rather than
 * refusing them, so fstat(2) finds them when an fd is first watched.  It
 * has no edge-triggered mode: a stuck fd (an error no operation clears)
 * is left out of the array after each report, and put back by the next
 * watch or, failing that, every XEV__STUCK_RECHECK_MS, so the loop neither
 * spins nor loses new data there for long.
 */
#include "backend.h"

#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

struct poll_state {
	struct xev__rd core; /* first: the readiness core's */
	struct pollfd *fds;  /* [0] the wake-up, then the watched fds */
	uint32_t nfds, cap;
	uint32_t left_out;   /* stuck fds out of the array until rechecked */
	bool dispatching;    /* handing results to the core: no moves */
	bool holes;          /* removals to compact after dispatching */
	int64_t recheck_at;  /* when the left-out fds are put back, ns */
};
XEV__STATE_FITS(struct poll_state);

static struct poll_state *poll_of(struct xev__loop *l)
{
	return XEV__BACKEND_STATE(l, struct poll_state);
}

static int poll_probe(void)
{
	return 0; /* POSIX: always there */
}

/* poll(2) skips negative fds: an entry left out keeps its fd as ~fd. */
static int fd_of(const struct pollfd *p)
{
	return p->fd < 0 ? ~p->fd : p->fd;
}

/* Is entry i the one its fd's slot names (not a removed one)? */
static bool live(struct xev__loop *l, uint32_t i)
{
	struct xev__fdslot *s = xev__rd_slot(l, fd_of(&poll_of(l)->fds[i]));
	return s && s->priv == i;
}

static int append(struct poll_state *p, int fd)
{
	if (p->nfds == p->cap) {
		uint32_t n = p->cap * 2;
		struct pollfd *t = XEV__SYS_PTR(ALLOC, realloc(p->fds, n * sizeof(*t)));
		if (!t)
			return -ENOMEM;
		p->fds = t;
		p->cap = n;
	}
	p->fds[p->nfds] = (struct pollfd){ .fd = fd };
	return (int)p->nfds++;
}

static void poll_unwatch(struct xev__loop *l, int fd, struct xev__fdslot *s);

static int poll_watch(struct xev__loop *l, int fd, struct xev__fdslot *s, uint32_t want, bool fresh)
{
	struct poll_state *p = poll_of(l);
	struct pollfd *e;

	if (fresh) {
		int rc = xev__rd_check_pollable(fd);
		if (rc < 0) {
			/* Not watched at all from here on, as the core will
			 * believe: no entry may outlive it. */
			if (s->registered)
				poll_unwatch(l, fd, s);
			return rc;
		}
	}
	if (!s->registered) {
		int i = append(p, fd);
		if (i < 0)
			return i;
		s->priv = (uint32_t)i;
	}
	e = &p->fds[s->priv];
	if (e->fd < 0) /* back from being left out */
		p->left_out--;
	e->fd = fd;
	e->events = (short)want;
	return 0;
}

/* Moves the last entry into i's place. */
static void swap_remove(struct xev__loop *l, uint32_t i)
{
	struct poll_state *p = poll_of(l);
	uint32_t last = --p->nfds;

	if (i != last) {
		p->fds[i] = p->fds[last];
		xev__rd_slot(l, fd_of(&p->fds[i]))->priv = i;
	}
}

static void poll_unwatch(struct xev__loop *l, int fd, struct xev__fdslot *s)
{
	struct poll_state *p = poll_of(l);
	struct pollfd *e = &p->fds[s->priv];

	(void)fd;
	if (e->fd < 0)
		p->left_out--;
	if (p->dispatching) {
		/* Out of the slot's hands; the array keeps its shape. */
		e->fd = ~fd_of(e);
		e->events = 0;
		s->priv = 0;
		p->holes = true;
		return;
	}
	s->priv = 0;
	swap_remove(l, (uint32_t)(e - p->fds));
}

static const struct xev__rd_hooks poll_hooks = {
	.watch = poll_watch,
	.unwatch = poll_unwatch,
};

static int poll_init(struct xev__loop *l, const struct xev__options *o)
{
	struct poll_state *p = poll_of(l);
	int rc;

	(void)o;
	p->cap = 64;
	p->fds = XEV__SYS_PTR(ALLOC, malloc(p->cap * sizeof(*p->fds)));
	if (!p->fds)
		return -ENOMEM;
	rc = xev__rd_init(l, &poll_hooks, true);
	if (rc < 0) {
		free(p->fds);
		return rc;
	}
	p->fds[0] = (struct pollfd){ .fd = p->core.wake.rfd, .events = POLLIN };
	p->nfds = 1;
	p->left_out = 0;
	p->dispatching = false;
	p->holes = false;
	p->recheck_at = 0;
	return 0;
}

static void poll_deinit(struct xev__loop *l)
{
	struct poll_state *p = poll_of(l);

	xev__rd_deinit(l);
	free(p->fds);
	p->fds = NULL;
	p->nfds = p->cap = 0;
}

/* Drops the entries removed while dispatching. */
static void compact(struct xev__loop *l)
{
	struct poll_state *p = poll_of(l);

	for (uint32_t i = p->nfds; i-- > 1;)
		if (!live(l, i))
			swap_remove(l, i);
	p->holes = false;
}

/* Puts the stuck fds left out back into the array, for one report. */
static void recheck_left_out(struct xev__loop *l)
{
	struct poll_state *p = poll_of(l);

	for (uint32_t i = 1; i < p->nfds; i++)
		if (p->fds[i].fd < 0 && live(l, i))
			p->fds[i].fd = ~p->fds[i].fd;
	p->left_out = 0;
}

/* The poll(2) timeout for timeout_ns: whole milliseconds, rounded up
 * (waking early would only spin), capped by the stuck fds' recheck. */
static int timeout_ms(struct poll_state *p, int64_t timeout_ns)
{
	int64_t ms;

	if (timeout_ns <= 0)
		ms = timeout_ns < 0 ? -1 : 0;
	else if (timeout_ns >= (int64_t)INT_MAX * 1000000)
		ms = INT_MAX;
	else
		ms = (timeout_ns + 999999) / 1000000;
	if (p->left_out) {
		int64_t until = (p->recheck_at - xev__clock_ns() + 999999) / 1000000;
		if (until < 0)
			until = 0;
		if (ms < 0 || until < ms)
			ms = until;
	}
	return (int)ms;
}

/* Hands each reported fd to the core. */
static void dispatch(struct xev__loop *l, int n)
{
	struct poll_state *p = poll_of(l);
	uint32_t end = p->nfds;

	if (p->fds[0].revents) {
		xev__wakeup_drain(&p->core.wake);
		n--;
	}
	p->dispatching = true;
	for (uint32_t i = 1; i < end && n > 0; i++) {
		struct pollfd *e = &p->fds[i];
		uint32_t revents = (unsigned short)e->revents;
		struct xev__fdslot *s;
		int fd;

		if (!revents)
			continue;
		n--;
		e->revents = 0;
		if (e->fd < 0 || !live(l, i))
			continue; /* left out or removed since the poll */
		fd = e->fd;
		s = xev__rd_slot(l, fd);
		if (s->stuck) {
			/* Once per watch: out until watched again. */
			e->fd = ~fd;
			p->left_out++;
		}
		xev__rd_ready(l, fd, s, revents, 0);
	}
	p->dispatching = false;
	if (p->holes)
		compact(l);
}

/* Puts the stuck fds back for a look when their recheck is due. */
static void recheck_if_due(struct xev__loop *l)
{
	struct poll_state *p = poll_of(l);
	int64_t now = xev__clock_ns();

	if (now >= p->recheck_at) {
		recheck_left_out(l);
		p->recheck_at = now + XEV__STUCK_RECHECK_MS * INT64_C(1000000);
	}
}

static int poll_wait(struct xev__loop *l, int64_t timeout_ns)
{
	struct poll_state *p = poll_of(l);
	/* The clock is read only when an interruption could need it. */
	int64_t deadline = timeout_ns > 0 ? xev__clock_ns() + timeout_ns : 0;
	struct pollfd *first;
	nfds_t nfds;
	int n;

	if (xev__rd_skip_poll(l, timeout_ns) && !p->left_out)
		return 0;
	if (p->left_out)
		recheck_if_due(l);
	/* The wake-up is polled only while another thread may use it: a
	 * loop of sockets alone spares the kernel an fd each wait. */
	if (xev__loop_may_be_signalled(l)) {
		first = p->fds;
		nfds = p->nfds;
	} else {
		p->fds[0].revents = 0;
		first = p->fds + 1;
		nfds = p->nfds - 1;
	}
	while ((n = XEV__SYS(POLL, poll(first, nfds, timeout_ms(p, timeout_ns)))) < 0 && errno == EINTR) {
		/* Interrupted: wait again for what is left of the time. */
		if (timeout_ns > 0) {
			int64_t now = xev__clock_ns();
			timeout_ns = deadline > now ? deadline - now : 0;
		}
	}
	if (n < 0)
		return -errno;
	if (n > 0)
		dispatch(l, n);
	return 0;
}

const struct xev__backend xev__backend_poll = {
	.id = XEV_BACKEND_POLL,
	.probe = poll_probe,
	.init = poll_init,
	.deinit = poll_deinit,
	.wait = poll_wait,
	.submit = xev__rd_submit,
	.cancel = xev__rd_cancel,
	.wake = xev__rd_wake,
	.idle = xev__rd_idle,
};
