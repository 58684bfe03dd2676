/* SPDX-License-Identifier: MIT */
/*
 * Operations on file descriptors.  The public functions only record the
 * request in the completion and queue it; the backend performs it on the
 * next run.  The helpers below perform one request with a plain system
 * call, for the readiness backends and for regular files.
 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Sends never raise SIGPIPE: MSG_NOSIGNAL where the system has it; else
 * (macOS) SO_NOSIGPIPE, set on the socket before each send. */
#if HAVE_DECL_MSG_NOSIGNAL
#define NOSIGNAL MSG_NOSIGNAL
#else
#define NOSIGNAL 0
#endif

/* Records the common part of a request; NULL when the call is ignored. */
static struct xev__completion *begin(xev_loop *loop, xev_completion *c, enum xev__op op, int fd,
				     void *userdata, xev_cb cb)
{
	struct xev__loop *l = xev__loop(loop);
	struct xev__completion *k = xev__comp(c);

	if (!loop || !c || l->magic != XEV__LOOP_MAGIC)
		return NULL;
	xev__prepare(l, k, op, userdata, cb);
	memset(&k->u.io, 0, sizeof(k->u.io));
	k->u.io.fd = fd;
	k->u.io.kind = (uint8_t)op;
	return k;
}

static void queue(xev_loop *loop, struct xev__completion *k)
{
	xev__add(xev__loop(loop), k);
}

static size_t clamp_len(size_t len)
{
	if (len > (size_t)SSIZE_MAX)
		return len; /* a negative length cast to size_t: io_check (loop.c) refuses it */
	return len > XEV__MAX_RW ? XEV__MAX_RW : len;
}

void xev_read(xev_loop *loop, xev_completion *c, int fd, void *buf, size_t len, void *userdata,
	      xev_cb cb)
{
	struct xev__completion *k = begin(loop, c, XEV__OP_READ, fd, userdata, cb);
	if (!k)
		return;
	k->u.io.buf = buf;
	k->u.io.len = clamp_len(len);
	queue(loop, k);
}

void xev_write(xev_loop *loop, xev_completion *c, int fd, const void *buf, size_t len,
	       void *userdata, xev_cb cb)
{
	struct xev__completion *k = begin(loop, c, XEV__OP_WRITE, fd, userdata, cb);
	if (!k)
		return;
	k->u.io.buf = (void *)(uintptr_t)buf;
	k->u.io.len = clamp_len(len);
	queue(loop, k);
}

void xev_pread(xev_loop *loop, xev_completion *c, int fd, void *buf, size_t len, uint64_t offset,
	       void *userdata, xev_cb cb)
{
	struct xev__completion *k = begin(loop, c, XEV__OP_PREAD, fd, userdata, cb);
	if (!k)
		return;
	k->u.io.buf = buf;
	k->u.io.len = clamp_len(len);
	k->u.io.offset = offset;
	queue(loop, k);
}

void xev_pwrite(xev_loop *loop, xev_completion *c, int fd, const void *buf, size_t len,
		uint64_t offset, void *userdata, xev_cb cb)
{
	struct xev__completion *k = begin(loop, c, XEV__OP_PWRITE, fd, userdata, cb);
	if (!k)
		return;
	k->u.io.buf = (void *)(uintptr_t)buf;
	k->u.io.len = clamp_len(len);
	k->u.io.offset = offset;
	queue(loop, k);
}

void xev_recv(xev_loop *loop, xev_completion *c, int fd, void *buf, size_t len, int flags,
	      void *userdata, xev_cb cb)
{
	struct xev__completion *k = begin(loop, c, XEV__OP_RECV, fd, userdata, cb);
	if (!k)
		return;
	k->u.io.buf = buf;
	k->u.io.len = clamp_len(len);
	k->u.io.flags = flags;
	queue(loop, k);
}

void xev_send(xev_loop *loop, xev_completion *c, int fd, const void *buf, size_t len, int flags,
	      void *userdata, xev_cb cb)
{
	struct xev__completion *k = begin(loop, c, XEV__OP_SEND, fd, userdata, cb);
	if (!k)
		return;
	k->u.io.buf = (void *)(uintptr_t)buf;
	k->u.io.len = clamp_len(len);
	k->u.io.flags = flags | NOSIGNAL;
	queue(loop, k);
}

void xev_recvmsg(xev_loop *loop, xev_completion *c, int fd, struct msghdr *msg, int flags,
		 void *userdata, xev_cb cb)
{
	struct xev__completion *k = begin(loop, c, XEV__OP_RECVMSG, fd, userdata, cb);
	if (!k)
		return;
	k->u.io.buf = msg;
	k->u.io.flags = flags;
	if (msg) {
		k->u.io.saved_namelen = msg->msg_namelen;
		k->u.io.saved_controllen = msg->msg_controllen;
		k->u.io.saved_msg_flags = msg->msg_flags;
	}
	queue(loop, k);
}

void xev_sendmsg(xev_loop *loop, xev_completion *c, int fd, const struct msghdr *msg, int flags,
		 void *userdata, xev_cb cb)
{
	struct xev__completion *k = begin(loop, c, XEV__OP_SENDMSG, fd, userdata, cb);
	if (!k)
		return;
	k->u.io.buf = (void *)(uintptr_t)msg;
	k->u.io.flags = flags | NOSIGNAL;
	queue(loop, k);
}

void xev_accept(xev_loop *loop, xev_completion *c, int fd, struct sockaddr *addr,
		socklen_t *addrlen, void *userdata, xev_cb cb)
{
	struct xev__completion *k = begin(loop, c, XEV__OP_ACCEPT, fd, userdata, cb);
	if (!k)
		return;
	/* accept(2) wants both or neither. */
	k->u.io.buf = addrlen ? addr : NULL;
	k->u.io.addrlen = addr ? addrlen : NULL;
	if (k->u.io.addrlen)
		k->u.io.saved_namelen = *addrlen;
	queue(loop, k);
}

void xev_connect(xev_loop *loop, xev_completion *c, int fd, const struct sockaddr *addr,
		 socklen_t addrlen, void *userdata, xev_cb cb)
{
	struct xev__completion *k = begin(loop, c, XEV__OP_CONNECT, fd, userdata, cb);
	if (!k)
		return;
	k->u.io.buf = (void *)(uintptr_t)addr;
	k->u.io.len = addrlen;
	queue(loop, k);
}

void xev_shutdown(xev_loop *loop, xev_completion *c, int fd, int how, void *userdata, xev_cb cb)
{
	struct xev__completion *k = begin(loop, c, XEV__OP_SHUTDOWN, fd, userdata, cb);
	if (!k)
		return;
	k->u.io.flags = how;
	queue(loop, k);
}

void xev_close(xev_loop *loop, xev_completion *c, int fd, void *userdata, xev_cb cb)
{
	struct xev__completion *k = begin(loop, c, XEV__OP_CLOSE, fd, userdata, cb);
	if (k)
		queue(loop, k);
}

void xev_poll(xev_loop *loop, xev_completion *c, int fd, short events, void *userdata, xev_cb cb)
{
	struct xev__completion *k = begin(loop, c, XEV__OP_POLL, fd, userdata, cb);
	if (!k)
		return;
	k->u.io.flags = (unsigned short)events;
	queue(loop, k);
}

/* A queued cancel that had stopped its queued target is itself cancelled:
 * the target goes ahead after all. */
static void undo_decided(struct xev__completion *cancel)
{
	struct xev__completion *t = cancel->u.cancel.target;

	cancel->flags &= (uint16_t)~XEV__F_DECIDED;
	if (t && t->state == XEV__QUEUED)
		t->flags &= (uint16_t)~XEV__F_CANCELED;
}

void xev_cancel(xev_loop *loop, xev_completion *c, xev_completion *target, void *userdata,
		xev_cb cb)
{
	struct xev__loop *l = xev__loop(loop);
	struct xev__completion *k = xev__comp(c);
	struct xev__completion *t = target ? xev__comp(target) : NULL;

	if (!loop || !c || l->magic != XEV__LOOP_MAGIC)
		return;
	xev__prepare(l, k, XEV__OP_CANCEL, userdata, cb);
	k->u.cancel.target = t;
	xev__add(l, k);
	/* A target not yet submitted is stopped now, before the run that
	 * would otherwise perform it first. */
	if (t && t->loop == l && t->state == XEV__QUEUED && !(t->flags & XEV__F_CANCELED)) {
		t->flags |= XEV__F_CANCELED;
		k->flags |= XEV__F_DECIDED;
		/* Cancelling such a cancel takes its decision back. */
		if (t->op == XEV__OP_CANCEL && (t->flags & XEV__F_DECIDED))
			undo_decided(t);
	}
}

void xev_work(xev_loop *loop, xev_completion *c, xev_threadpool *pool, void (*fn)(void *),
	      void *userdata, xev_cb cb)
{
	struct xev__completion *k = begin(loop, c, XEV__OP_WORK, -1, userdata, cb);
	if (!k)
		return;
	k->u.io.fn = fn;
	k->u.io.pool = pool;
	queue(loop, k);
}

static int result_of(ssize_t n)
{
	return n < 0 ? -errno : (int)n;
}

/* Close-on-exec, and non-blocking if asked, for a descriptor made by a
 * call that cannot say so itself (pipe, accept, kqueue); 0 or -errno. */
int xev__fd_set_flags(int fd, bool nonblocking)
{
	int fl;

	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	if (!nonblocking)
		return 0;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* A connection from listening socket fd, non-blocking and close-on-exec
 * from the start where accept4 exists, else set so at once. */
static int accept_nonblocking(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
#ifdef HAVE_ACCEPT4
	return accept4(fd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
	int s = accept(fd, addr, addrlen), rc;

	if (s < 0)
		return -1;
	rc = xev__fd_set_flags(s, true);
	if (rc < 0) {
		close(s);
		errno = -rc;
		return -1;
	}
	return s;
#endif
}

/* Without MSG_NOSIGNAL, the socket itself is told not to raise SIGPIPE. */
static void no_sigpipe(int fd)
{
#if !HAVE_DECL_MSG_NOSIGNAL && HAVE_DECL_SO_NOSIGPIPE
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#else
	(void)fd;
#endif
}

/*
 * One attempt at c with a plain system call; sockets are asked not to
 * block.  -EAGAIN means "wait for readiness and try again".  c has passed
 * io_check (loop.c).  An interrupted call is made again: io_uring never
 * shows EINTR for these, and a caller of a non-blocking call does not
 * expect it; a connect goes on in the background (-EINPROGRESS).
 */
static int perform_once(struct xev__completion *c);

int xev__io_perform(struct xev__completion *c)
{
	int r;

	while ((r = perform_once(c)) == -EINTR && xev__io_kind(c) != XEV__OP_CONNECT)
		;
	return r == -EINTR ? -EINPROGRESS : r;
}

static int perform_once(struct xev__completion *c)
{
	struct xev__io_op *io = &c->u.io;

	switch (xev__io_kind(c)) {
	case XEV__OP_READ:
		return result_of(XEV__SYS(READ, read(io->fd, io->buf, io->len)));
	case XEV__OP_WRITE:
		return result_of(XEV__SYS(WRITE, write(io->fd, io->buf, io->len)));
	case XEV__OP_PREAD:
		return result_of(XEV__SYS(PREAD, pread(io->fd, io->buf, io->len, (off_t)io->offset)));
	case XEV__OP_PWRITE:
		return result_of(XEV__SYS(PWRITE, pwrite(io->fd, io->buf, io->len, (off_t)io->offset)));
	case XEV__OP_RECV:
		return result_of(XEV__SYS(RECV, recv(io->fd, io->buf, io->len, io->flags | MSG_DONTWAIT)));
	case XEV__OP_SEND:
		no_sigpipe(io->fd);
		return result_of(XEV__SYS(SEND, send(io->fd, io->buf, io->len, io->flags | MSG_DONTWAIT)));
	case XEV__OP_RECVMSG:
		return result_of(XEV__SYS(RECV, recvmsg(io->fd, io->buf, io->flags | MSG_DONTWAIT)));
	case XEV__OP_SENDMSG:
		no_sigpipe(io->fd);
		return result_of(XEV__SYS(SEND, sendmsg(io->fd, io->buf, io->flags | MSG_DONTWAIT)));
	case XEV__OP_ACCEPT:
		return result_of(XEV__SYS(ACCEPT, accept_nonblocking(io->fd, io->buf, io->addrlen)));
	case XEV__OP_CONNECT:
		return result_of(XEV__SYS(CONNECT, connect(io->fd, io->buf, (socklen_t)io->len)));
	case XEV__OP_SHUTDOWN:
		return result_of(shutdown(io->fd, io->flags));
	case XEV__OP_CLOSE:
		/* Linux frees the descriptor even when close(2) says EINTR;
		 * calling it again could close another thread's new fd. */
		if (XEV__SYS_AFTER(CLOSE, close(io->fd)) < 0 && errno != EINTR)
			return -errno;
		return 0;
	case XEV__OP_POLL: {
		struct pollfd p = { .fd = io->fd, .events = (short)io->flags };
		int n = XEV__SYS(POLL_ONE, poll(&p, 1, 0));
		if (n < 0)
			return -errno;
		if (p.revents & POLLNVAL)
			return -EBADF;
		return n ? (unsigned short)p.revents : -EAGAIN;
	}
	default:
		return -EINVAL;
	}
}

/*
 * A regular file on a readiness backend, which cannot wait for one: on the
 * loop's thread pool when it has one, else right now, during this tick.
 */
void xev__io_file(struct xev__loop *l, struct xev__completion *c)
{
	if (l->pool) {
		xev__offload(l, c, l->pool);
		return;
	}
	xev__complete(l, c, xev__io_perform(c));
}
