/* SPDX-License-Identifier: MIT */
/*
 * The readiness core: completions on top of "this fd is ready", shared by
 * every readiness backend (epoll, kqueue, poll).  backend.h has the
 * contract; the rules live here once:
 *
 * - Each fd has a slot: the operations parked on it, oldest first, and the
 *   interest the kernel was given, the union of what they wait for.  When
 *   the fd is reported ready they are tried in that order, and one that
 *   finds nothing (another process took the data, the buffer filled
 *   again) stops the later ones waiting for the same thing: they go back
 *   to waiting, never to a lost completion.
 * - Sends and writes are tried at once, since a socket usually has room;
 *   connects start at once and finish through a second connect.  A
 *   receive is tried at once only where the last one on its fd found its
 *   data while the loop was busy (a socket the loop's own sends fill, or
 *   one data keeps coming to); one that finds nothing turns that off and
 *   parks.
 * - Interest stays registered after the last operation finished, so a
 *   rearmed read costs the kernel nothing; interest nobody wants is
 *   dropped when it next fires.
 * - Fds are closed and reused behind the library's back, so a new
 *   operation on an idle slot re-asserts the interest (the backend decides
 *   what the kernel needs for that), and a report that the fd is not open
 *   (POLLNVAL) ends what waits on it with -EBADF.
 * - Regular files cannot be waited for: the backend says so (-EPERM) and
 *   the operation goes to the thread pool (xev__io_file).
 * - An error no operation clears (an ICMP error on an IP_RECVERR socket's
 *   error queue while a recv finds nothing) would be reported for as long
 *   as it lasts, spinning the loop: the slot turns "stuck", and the
 *   backend reports it once per watch from then on, and watches it again
 *   every few ms while operations wait, in case a try failed for a reason
 *   of its own while what it waits for was already there.
 * - xev_close forgets the fd: what waits on it can never be woken, so it
 *   ends with -EBADF.
 * - A TCP socket whose receives keep emptying it (each came back short)
 *   is watched edge-triggered where the backend can (epoll; "edge"
 *   below): with a level-triggered interest the kernel looks at the
 *   socket once more after each report, only to find it empty, which was
 *   some 5% of a ping-pong's CPU (bench/README).  Once a receive emptied
 *   it, every byte that comes makes a new report, so nothing waits for
 *   data that came already.  Anything that breaks that ends it, and the
 *   kernel, given the interest level-triggered again, looks afresh: a
 *   receive that filled its buffer, found nothing or failed, the end of
 *   the stream, urgent data, an error, any operation but a receive.
 */
#include "backend.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* A non-blocking connect is in progress. */
#define F_CONNECTING XEV__F_BACKEND_0

/* What an error or hang-up report means: every waiter should look. */
#define FAILED (POLLERR | POLLHUP)

/* The poll(2) events xev_poll can ask for. */
#ifdef POLLRDHUP
#define POLL_RDHUP POLLRDHUP
#else
#define POLL_RDHUP 0
#endif
#define POLL_EVENTS \
	(POLLIN | POLLPRI | POLLOUT | POLLRDNORM | POLLRDBAND | POLLWRNORM | POLLWRBAND | POLL_RDHUP)

/* Receives in a row that emptied a TCP socket before it is watched
 * edge-triggered; twice as many each time that ends, up to the most, so
 * that a stream whose receives alternate short and full does not switch
 * back and forth (each switch is an epoll_ctl). */
#define EDGE_AFTER 8
#define EDGE_AFTER_MOST 128
/* What ends edge-triggering when the kernel reports it: the data that
 * follows urgent data, or the end of the stream, may be there with no
 * new report to come. */
#define EDGE_BREAKERS (POLLPRI | POLL_RDHUP | FAILED)

int xev__rd_init(struct xev__loop *l, const struct xev__rd_hooks *hooks, bool wakeup)
{
	struct xev__rd *rd = xev__rd(l);

	rd->hooks = hooks;
	rd->slots = NULL;
	rd->nslots = 0;
	rd->parked = 0;
	rd->busy = false;
	rd->any_stuck = false;
	rd->wake.rfd = rd->wake.wfd = -1;
	return wakeup ? xev__wakeup_open(&rd->wake, true) : 0;
}

/* The waiters lists change only through these, which keep the count
 * xev__rd_skip_poll relies on. */
static void add_waiter(struct xev__loop *l, struct xev__fdslot *s, struct xev__completion *c)
{
	xev__list_push(&s->waiters, c);
	xev__rd(l)->parked++;
}

static void drop_waiter(struct xev__loop *l, struct xev__fdslot *s, struct xev__completion *c)
{
	xev__list_unlink(&s->waiters, c);
	xev__rd(l)->parked--;
}

static struct xev__completion *pop_waiter(struct xev__loop *l, struct xev__fdslot *s)
{
	struct xev__completion *c = s->waiters.head;

	if (c)
		drop_waiter(l, s, c);
	return c;
}

void xev__rd_deinit(struct xev__loop *l)
{
	struct xev__rd *rd = xev__rd(l);

	for (uint32_t fd = 0; fd < rd->nslots; fd++) {
		struct xev__completion *c;
		while ((c = pop_waiter(l, &rd->slots[fd])))
			c->state = XEV__DEAD;
	}
	free(rd->slots);
	rd->slots = NULL;
	rd->nslots = 0;
	xev__wakeup_close(&rd->wake);
}

void xev__rd_wake(struct xev__loop *l)
{
	xev__wakeup_signal(&xev__rd(l)->wake);
}

bool xev__rd_skip_poll(struct xev__loop *l, int64_t timeout_ns)
{
	struct xev__rd *rd = xev__rd(l);

	/* Busy: callbacks are waiting to run, which is why it does not
	 * sleep.  A loop run with XEV_RUN_NO_WAIT does not sleep either, but
	 * what it receives came while it was away: not busy. */
	rd->busy = timeout_ns == 0 && l->ready.head;
	return timeout_ns == 0 && rd->parked == 0;
}

bool xev__rd_idle(struct xev__loop *l)
{
	return xev__rd(l)->parked == 0;
}

/* The slot of fd, growing the table (by doubling) to reach it. */
static struct xev__fdslot *slot_of(struct xev__loop *l, int fd)
{
	struct xev__rd *rd = xev__rd(l);
	struct xev__fdslot *t;
	size_t n;

	if ((uint32_t)fd < rd->nslots)
		return &rd->slots[fd];
	n = rd->nslots ? rd->nslots : 64;
	while (n <= (size_t)fd)
		n *= 2;
	t = XEV__SYS_PTR(ALLOC, realloc(rd->slots, n * sizeof(*t)));
	if (!t)
		return NULL;
	/* The lists hold no pointer back to their slot: moving is fine. */
	memset(t + rd->nslots, 0, (n - rd->nslots) * sizeof(*t));
	rd->slots = t;
	rd->nslots = (uint32_t)n;
	return &t[fd];
}

/* What the operations parked on s wait for. */
static uint32_t wanted(const struct xev__fdslot *s)
{
	uint32_t m = 0;
	for (struct xev__completion *c = s->waiters.head; c; c = c->next)
		m |= c->u.io.wants;
	return m;
}

/* Gives the kernel `want` for fd, recording what it has. */
static int watch(struct xev__loop *l, int fd, struct xev__fdslot *s, uint32_t want, bool fresh)
{
	int rc;

	if (fresh) {
		/* Perhaps another file now: it has to show its own state. */
		s->stuck = false;
		s->err = 0;
		s->shorts = 0;
		s->edge_after = 0;
	}
	/* Edge-triggering is for receives alone. */
	if (fresh || want != POLLIN || s->stuck)
		s->edge = false;
	rc = xev__rd(l)->hooks->watch(l, fd, s, want, fresh);
	s->registered = rc == 0;
	s->mask = rc == 0 ? want : 0;
	return rc;
}

static void unwatch(struct xev__loop *l, int fd, struct xev__fdslot *s)
{
	if (s->registered)
		xev__rd(l)->hooks->unwatch(l, fd, s);
	s->registered = false;
	s->stuck = false;
	s->err = 0;
	s->mask = 0;
	s->edge = false;
	s->shorts = 0;
}

/* Takes the socket error the kernel reported for s, if any. */
static int take_err(struct xev__fdslot *s)
{
	int err = s->err;
	s->err = 0;
	return err;
}

/* Drops what the interest in fd has beyond what its waiters want. */
static void trim(struct xev__loop *l, int fd, struct xev__fdslot *s)
{
	uint32_t want = wanted(s);

	if (!want) {
		unwatch(l, fd, s);
		return;
	}
	/* Failure leaves it as it was: extra reports only cost a wake-up. */
	if (xev__rd(l)->hooks->watch(l, fd, s, want, false) == 0)
		s->mask = want;
}

/* Which readiness each operation waits for. */
static uint32_t wants_of(struct xev__completion *c)
{
	switch (xev__io_kind(c)) {
	case XEV__OP_READ:
	case XEV__OP_RECV:
	case XEV__OP_RECVMSG:
	case XEV__OP_ACCEPT:
		return POLLIN;
	case XEV__OP_POLL:
		return (uint32_t)c->u.io.flags & POLL_EVENTS;
	default:
		return POLLOUT;
	}
}

/* One attempt after readiness; -EAGAIN: not yet. */
static int attempt(struct xev__completion *c, uint32_t revents)
{
	if (xev__io_kind(c) == XEV__OP_POLL)
		return (int)(revents & (c->u.io.wants | FAILED));
	if (c->flags & F_CONNECTING) {
		int err = 0, r;
		socklen_t len = sizeof(err);
		if (XEV__SYS(SOCKOPT, getsockopt(c->u.io.fd, SOL_SOCKET, SO_ERROR, &err, &len)) < 0)
			return -errno;
		if (err)
			return -err;
		if (!(revents & (POLLOUT | FAILED)))
			return -EAGAIN;
		/* Asking again moves the socket to "connected", as a blocking
		 * connect (and io_uring's) leaves it: a later connect then
		 * says EISCONN. */
		r = xev__io_perform(c);
		if (r == -EALREADY || r == -EINPROGRESS)
			return -EAGAIN;
		return r == -EISCONN ? 0 : r;
	}
	if (XEV__UNLIKELY(xev__io_kind(c) == XEV__OP_CONNECT)) {
		/* Parked before it started (a full AF_UNIX backlog said
		 * EAGAIN): this try may be the start. */
		int r = xev__io_perform(c);
		if (r == -EINPROGRESS) {
			c->flags |= F_CONNECTING;
			return -EAGAIN;
		}
		return r;
	}
	return xev__io_perform(c);
}

/* Things the kernel cannot wait for: regular files, directories, some
 * devices. */
static void not_pollable(struct xev__loop *l, struct xev__completion *c)
{
	switch (xev__io_kind(c)) {
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

/* Is this stream socket TCP (edge-triggering's rules hold for it)?
 * Asked once, when it is first watched for a receive; not knowing means
 * no. */
static bool is_tcp(int fd)
{
#ifdef SO_PROTOCOL
	int proto = 0;
	socklen_t len = sizeof proto;

	return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 && proto == IPPROTO_TCP;
#else
	(void)fd;
	return false;
#endif
}

/*
 * io_uring refuses at once a read of a write-only fd, a recv on a pipe or
 * an accept on a socket that does not listen; waiting for readiness that
 * may never come would hang them here instead.  Checked when the fd is
 * first watched, which is once for most descriptors, not on every wait;
 * a receive's also says whether s may be watched edge-triggered.
 */
static int check_fd_kind(struct xev__loop *l, struct xev__completion *c, struct xev__fdslot *s)
{
	int fd = c->u.io.fd, v = 0, flags;
	socklen_t len = sizeof v;

	s->tcp = false;

	switch (xev__io_kind(c)) {
	case XEV__OP_READ:
		flags = fcntl(fd, F_GETFL);
		if (flags < 0)
			return -errno;
		return (flags & O_ACCMODE) == O_WRONLY ? -EBADF : 0;
	case XEV__OP_RECV:
	case XEV__OP_RECVMSG:
		if (XEV__SYS(SOCKOPT, getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len)) < 0)
			return -errno;
		s->tcp = v == SOCK_STREAM && xev__rd(l)->hooks->edge_ok && is_tcp(fd);
		return 0;
	case XEV__OP_ACCEPT:
#ifdef SO_ACCEPTCONN
		if (XEV__SYS(SOCKOPT, getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len)) < 0)
			return -errno;
		return v ? 0 : -EINVAL;
#else
		/* Not listening shows when the accept is tried. */
		return getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0 ? -errno : 0;
#endif
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
	bool fresh;
	int rc = 0;

	if (!s) {
		xev__complete(l, c, -ENOMEM);
		return;
	}
	if (!s->registered && (rc = check_fd_kind(l, c, s)) < 0) {
		xev__complete(l, c, rc);
		return;
	}
	c->u.io.wants = wants_of(c);
	if (XEV__UNLIKELY(xev__rd(l)->hooks->watchable)) {
		c->u.io.wants &= xev__rd(l)->hooks->watchable;
		if (!c->u.io.wants) {
			xev__complete(l, c, -EOPNOTSUPP);
			return;
		}
	}
	need = s->mask | c->u.io.wants;
	/* With operations parked the registration is known to be live; a
	 * rearm repeats one on the same, still open, fd.  Otherwise the fd
	 * may have been closed and reused since it was watched.  A stuck
	 * slot is watched again for every wait: the kernel looks at the
	 * readiness once more then, which it would not report otherwise. */
	fresh = !s->registered || (!s->waiters.head && !(c->flags & XEV__F_REARMED));
	if (fresh && s->registered)
		s->tcp = false; /* perhaps another file now, of a kind not checked */
	if (XEV__UNLIKELY(s->err) && !fresh && xev__io_kind(c) != XEV__OP_POLL) {
		xev__complete(l, c, -take_err(s));
		return;
	}
	if (fresh || need != s->mask || s->stuck)
		rc = watch(l, fd, s, need, fresh);
	if (rc == -EPERM) {
		not_pollable(l, c);
		return;
	}
	if (rc < 0) {
		xev__complete(l, c, rc);
		return;
	}
	c->state = XEV__ACTIVE;
	add_waiter(l, s, c);
}

/* Ends every operation parked on s with result. */
static void fail_waiters(struct xev__loop *l, struct xev__fdslot *s, int result)
{
	struct xev__completion *c;

	while ((c = pop_waiter(l, s)))
		xev__complete(l, c, result);
}

/* A receive on s came back with r: did it empty a TCP socket?  Only a
 * short read of plain data says so: a full one may have left more, a
 * peek left it all, and nothing, an error or the end of the stream say
 * nothing of what comes next. */
static void note_receive(struct xev__fdslot *s, struct xev__completion *c, int r)
{
	bool emptied = s->tcp && xev__io_kind(c) == XEV__OP_RECV && r > 0 && (size_t)r < c->u.io.len &&
		       !(c->u.io.flags & (MSG_PEEK | MSG_OOB));

	if (!emptied)
		s->shorts = 0;
	else if (s->shorts < UINT8_MAX)
		s->shorts++;
}

/* Watches s edge-triggered, or level-triggered again, as its receives
 * now call for.  Going back to level makes the kernel look at the socket
 * afresh, so what came without a report is reported now. */
static void settle_edge_slow(struct xev__loop *l, int fd, struct xev__fdslot *s)
{
	unsigned after = s->edge_after ? s->edge_after : EDGE_AFTER;
	bool edge = s->tcp && s->shorts >= after && s->registered && !s->stuck && s->mask == POLLIN;
	int rc;

	if (edge == s->edge)
		return;
	if (!edge && after < EDGE_AFTER_MOST)
		s->edge_after = (uint8_t)(after * 2);
	s->edge = edge;
	rc = watch(l, fd, s, s->mask, false);
	if (rc < 0) /* as a wait that could not start */
		fail_waiters(l, s, rc);
}

/* Called for every receive on a TCP socket: most change nothing (a
 * level-triggered socket far from EDGE_AFTER short receives). */
static inline void settle_edge(struct xev__loop *l, int fd, struct xev__fdslot *s)
{
	if (s->edge || s->shorts >= EDGE_AFTER)
		settle_edge_slow(l, fd, s);
}

/* xev_close: the slot forgets the fd, and what waits on it can never be
 * woken again, so it ends with -EBADF rather than hang. */
static void forget_fd(struct xev__loop *l, int fd)
{
	struct xev__fdslot *s = xev__rd_slot(l, fd);

	if (!s)
		return;
	unwatch(l, fd, s);
	fail_waiters(l, s, -EBADF);
	s->recv_first = false;
}

int xev__rd_check_pollable(int fd)
{
	struct stat st;

	if (XEV__SYS(FSTAT, fstat(fd, &st)) < 0)
		return -errno;
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode))
		return -EPERM;
	return 0;
}

/* An operation tried at once must not overtake one already waiting on
 * the fd for the same readiness, nor an error the kernel already took
 * off the socket for the next operation. */
static bool must_queue(const struct xev__fdslot *s, uint32_t events)
{
	return (wanted(s) & events) || XEV__UNLIKELY(s->err);
}

/* Sends and writes are tried at once: a socket usually has room. */
static void try_then_park(struct xev__loop *l, struct xev__completion *c)
{
	struct xev__fdslot *s = xev__rd_slot(l, c->u.io.fd);
	int r;

	if (s && must_queue(s, POLLOUT)) {
		park(l, c);
		return;
	}
	/* A file the kernel cannot wait for: the pool writes it. */
	if (l->pool && xev__io_kind(c) == XEV__OP_WRITE && xev__rd_check_pollable(c->u.io.fd) == -EPERM) {
		xev__io_file(l, c);
		return;
	}
	r = xev__io_perform(c);
	if (r == -EAGAIN)
		park(l, c);
	else
		xev__complete(l, c, r);
}

/*
 * A receive where the last one on its fd found data while the loop was
 * busy: most likely there is more (a datagram the loop's own send
 * queued, a stream that keeps coming), and trying costs one system call
 * where parking costs a wait and then the same call.  Never ahead of a
 * reader already waiting, nor of an error waiting for its operation.
 */
static void receive(struct xev__loop *l, struct xev__completion *c)
{
	struct xev__fdslot *s = xev__rd_slot(l, c->u.io.fd);
	int r;

	if (!s || !s->recv_first || s->stuck || must_queue(s, POLLIN)) {
		park(l, c);
		return;
	}
	r = xev__io_perform(c);
	if (r == -EAGAIN) {
		s->recv_first = false;
		s->shorts = 0; /* perhaps a spurious one: the kernel must look */
		settle_edge(l, c->u.io.fd, s);
		park(l, c);
	} else {
		note_receive(s, c, r);
		settle_edge(l, c->u.io.fd, s);
		xev__complete(l, c, r);
	}
}

static void start_connect(struct xev__loop *l, struct xev__completion *c)
{
	int r = xev__io_perform(c);

	if (r == -EINPROGRESS) {
		c->flags |= F_CONNECTING;
		park(l, c);
	} else if (r == -EAGAIN) {
		park(l, c); /* a full AF_UNIX backlog: try again when writable */
	} else {
		xev__complete(l, c, r);
	}
}

void xev__rd_submit(struct xev__loop *l, struct xev__completion *c)
{
	switch (xev__io_kind(c)) {
	case XEV__OP_PREAD:
	case XEV__OP_PWRITE:
		xev__io_file(l, c);
		break;
	case XEV__OP_SHUTDOWN:
		xev__complete(l, c, xev__io_perform(c));
		break;
	case XEV__OP_CLOSE:
		forget_fd(l, c->u.io.fd);
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
	case XEV__OP_RECV:
	case XEV__OP_RECVMSG:
		receive(l, c);
		break;
	default:
		park(l, c);
		break;
	}
}

int xev__rd_cancel(struct xev__loop *l, struct xev__completion *t, struct xev__completion *canceller)
{
	struct xev__fdslot *s = xev__rd_slot(l, t->u.io.fd);

	(void)canceller;
	if (!s)
		return -ENOENT;
	/* Its interest is trimmed lazily, when it next fires. */
	drop_waiter(l, s, t);
	xev__complete(l, t, -ECANCELED);
	return 0;
}

static void note_stuck(struct xev__loop *l)
{
	struct xev__rd *rd = xev__rd(l);

	if (!rd->any_stuck) {
		rd->any_stuck = true;
		rd->stuck_at = xev__clock_ns() + XEV__STUCK_RECHECK_MS * INT64_C(1000000);
	}
}

/* Watches each stuck slot again, for one more report of what it has;
 * false when none is left. */
static bool rewatch_stuck(struct xev__loop *l)
{
	struct xev__rd *rd = xev__rd(l);
	bool any = false;
	int rc;

	for (uint32_t fd = 0; fd < rd->nslots; fd++) {
		struct xev__fdslot *s = &rd->slots[fd];

		if (!s->stuck)
			continue;
		if (!s->waiters.head) {
			/* Its next operation watches it afresh, level-triggered. */
			unwatch(l, (int)fd, s);
			continue;
		}
		any = true;
		rc = watch(l, (int)fd, s, wanted(s), false);
		if (rc < 0) /* as a wait that could not start */
			fail_waiters(l, s, rc);
	}
	return any;
}

int64_t xev__rd_recheck_stuck_slow(struct xev__loop *l, int64_t timeout_ns)
{
	struct xev__rd *rd = xev__rd(l);
	int64_t now, until;

	now = xev__clock_ns();
	if (now >= rd->stuck_at) {
		rd->any_stuck = rewatch_stuck(l);
		rd->stuck_at = now + XEV__STUCK_RECHECK_MS * INT64_C(1000000);
		if (!rd->any_stuck)
			return timeout_ns;
	}
	until = rd->stuck_at - now;
	return timeout_ns < 0 || until < timeout_ns ? until : timeout_ns;
}

/* Retries what is parked on fd, oldest first, as far as revents allows. */
void xev__rd_ready(struct xev__loop *l, int fd, struct xev__fdslot *s, uint32_t revents, int err)
{
	bool failed = revents & FAILED;
	bool inexact = xev__rd(l)->hooks->inexact;
	uint32_t blocked = 0;
	uint32_t want = wanted(s);
	bool progress = false;
	struct xev__completion *c, *next;

	if (XEV__UNLIKELY(err))
		s->err = err;
	if (s->edge && (revents & EDGE_BREAKERS))
		s->shorts = 0;
	if (revents & POLLNVAL) {
		/* Closed behind our back: nothing will ever be ready. */
		unwatch(l, fd, s);
		fail_waiters(l, s, -EBADF);
		return;
	}
	for (c = s->waiters.head; c; c = next) {
		uint32_t w = c->u.io.wants;
		bool ask_poll = inexact && xev__io_kind(c) == XEV__OP_POLL;
		int r;

		next = c->next;
		if (!(revents & w) && !failed && !ask_poll)
			continue;
		if (xev__io_kind(c) != XEV__OP_POLL && (w & blocked))
			continue; /* an earlier one found nothing: so would this */
		if (XEV__UNLIKELY(s->err) && xev__io_kind(c) != XEV__OP_POLL)
			/* Gone from the socket: this operation would have
			 * been the one to see it. */
			r = -take_err(s);
		else if (ask_poll)
			r = xev__io_perform(c); /* poll(2), not waiting */
		else
			r = attempt(c, revents);
		if (r == -EAGAIN) {
			/* Woken for nothing, or a try that failed for a reason
			 * of its own: only level-triggering looks again. */
			s->shorts = 0;
			blocked |= w;
			continue;
		}
		drop_waiter(l, s, c);
		if (xev__io_kind(c) == XEV__OP_RECV || xev__io_kind(c) == XEV__OP_RECVMSG) {
			s->recv_first = xev__rd(l)->busy;
			note_receive(s, c, r);
		}
		xev__complete(l, c, r);
		progress = true;
	}
	/* An error condition the operations cannot clear stays reported for
	 * as long as it lasts: the loop would spin.  Reported once per watch
	 * from now on, and then only new readiness, or a new wait, wakes the
	 * waiters, which is all they wait for. */
	if (failed && !progress && s->waiters.head && !s->stuck) {
		s->stuck = true;
		note_stuck(l);
		watch(l, fd, s, s->mask, false);
	} else if (s->stuck && !failed && s->registered) {
		/* The error is gone (its queue was read): level again. */
		s->stuck = false;
		watch(l, fd, s, s->mask, false);
	}
	if (s->tcp && s->registered)
		settle_edge(l, fd, s);
	/* Level-triggered: what nobody waited for fires again and again, and
	 * so would writability nobody waits for any more.  Readability stays
	 * registered for the next read, usually a rearm. */
	if (want == 0 || (revents & ~want & ~(uint32_t)FAILED) || ((s->mask & POLLOUT) && !(wanted(s) & POLLOUT)))
		trim(l, fd, s);
}

void xev__rd_rewatch_all(struct xev__loop *l)
{
	struct xev__rd *rd = xev__rd(l);

	for (uint32_t i = 0; i < rd->nslots; i++) {
		struct xev__fdslot *s = &rd->slots[i];
		int rc;

		s->registered = false;
		s->mask = 0;
		if (!s->waiters.head)
			continue;
		rc = watch(l, (int)i, s, wanted(s), true);
		if (rc < 0)
			fail_waiters(l, s, rc);
	}
}
