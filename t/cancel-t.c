/* SPDX-License-Identifier: MIT */
/*
 * xev_cancel: every kind of operation cancelled while pending (read on an
 * empty pipe, write on a full one, recv, send on a full socket, recvmsg,
 * sendmsg, accept, connect, poll, timer, async wait, queued xev_work),
 * then cancelled again once finished; targets that finished normally,
 * were never started, are zeroed or NULL; targets queued in the same tick
 * as the cancel (in either order); targets that finished in the same tick
 * with their callback still pending; data arriving as a pending read is
 * cancelled; a target on another loop; a cancel of a cancel (queued,
 * finished, cancelled in the tick it was queued); two cancels of one
 * target; the descriptor still works afterwards; XEV_REARM returned on
 * -ECANCELED (the operation is queued again).  Every callback is
 * counted, so a lost or doubled completion fails.  Every check runs on
 * every backend.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tap.h"
#include "net.h"

#define GLOBAL_CHECKS 0
#define PER_BACKEND 147

/* What one completion saw. */
struct rec {
	int calls;
	int result;
	int not_dead;      /* callbacks in which the completion did not read DEAD */
	int rearm;         /* return XEV_REARM this many more times */
	int is_fd;         /* the result is a new fd: close it */
	int fds_got;       /* how many it got */
	atomic_int fn_runs; /* xev_work: its fn ran */
};

static int ncb; /* every callback of the process */

static void rec_reset(struct rec *r)
{
	r->calls = 0;
	r->result = 12345;
	r->not_dead = 0;
	r->rearm = 0;
	r->is_fd = 0;
	r->fds_got = 0;
	atomic_store(&r->fn_runs, 0);
}

static xev_cb_action rec_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct rec *r = ud;
	(void)l;
	r->calls++;
	r->result = result;
	if (xev_completion_state(c) != XEV_COMPLETION_DEAD)
		r->not_dead++;
	if (r->is_fd && result >= 0) {
		r->fds_got++;
		close(result);
	}
	ncb++;
	if (r->rearm > 0) {
		r->rearm--;
		return XEV_REARM;
	}
	return XEV_DISARM;
}

/* Runs l a few times without blocking, for what should stay pending. */
static void run_idle(xev_loop *l)
{
	for (int i = 0; i < 3; i++) {
		xev_loop_run(l, XEV_RUN_NO_WAIT);
		sleep_ms(1);
	}
}

/* --- Descriptors ------------------------------------------------------- */

/* Reads everything there is from a non-blocking fd. */
static long drain(int fd)
{
	char b[4096];
	long n = 0;
	ssize_t k;
	while ((k = read(fd, b, sizeof b)) > 0)
		n += k;
	return n;
}

/* --- Work ------------------------------------------------------------- */

static xev_threadpool pool1; /* one worker */
static atomic_int blk_started, blk_release;

static void count_fn(void *ud)
{
	struct rec *r = ud;
	atomic_fetch_add(&r->fn_runs, 1);
}

/* Holds the pool's only worker until released. */
static void block_fn(void *ud)
{
	struct rec *r = ud;
	int64_t end = mono_ms() + 10000;
	atomic_fetch_add(&r->fn_runs, 1);
	atomic_store(&blk_started, 1);
	while (!atomic_load(&blk_release) && mono_ms() < end)
		sleep_ms(1);
}

/* Occupies pool1's worker with blocker on loop l. */
static void start_blocker(xev_loop *l, xev_completion *c, struct rec *r)
{
	atomic_store(&blk_started, 0);
	atomic_store(&blk_release, 0);
	rec_reset(r);
	xev_work(l, c, &pool1, block_fn, r, rec_cb);
	xev_loop_run(l, XEV_RUN_NO_WAIT);
	if (!wait_flag(&blk_started))
		bail("the pool's worker never started the blocking work");
}

/* --- Pending targets, one kind at a time ------------------------------ */

enum kind {
	K_READ, K_WRITE, K_RECV, K_SEND, K_RECVMSG, K_SENDMSG, K_ACCEPT, K_CONNECT,
	K_POLL, K_TIMER, K_ASYNC, K_WORK, NKINDS
};

static const char *const kind_name[NKINDS] = {
	"read on an empty pipe", "write on a full pipe", "recv", "send on a full socket", "recvmsg",
	"sendmsg on a full socket", "accept with no client", "connect to a full listener",
	"poll", "timer", "async wait", "xev_work queued behind a running one",
};

struct ctx {
	xev_backend b;
	const char *bn;
	xev_loop loop;
	int fd[2];           /* pipe or socket pair */
	int lfd, filler, cfd; /* listener, a client filling its queue, the connecting socket */
	struct sockaddr_in la;
	long filled;
	char buf[4096], wbuf[4096];
	struct iovec iov;
	struct msghdr msg;
	struct sockaddr_in peer;
	socklen_t peerlen;
	xev_watcher w;
	xev_completion blk;
	struct rec rblk;
};

static void setup(struct ctx *x, enum kind k)
{
	tap_loop_init(&x->loop, x->b);
	x->fd[0] = x->fd[1] = x->lfd = x->filler = x->cfd = -1;
	x->filled = 0;
	memset(x->wbuf, 'w', sizeof x->wbuf);
	switch (k) {
	case K_READ:
	case K_POLL:
		make_pipe(x->fd);
		break;
	case K_WRITE:
		make_pipe(x->fd);
		x->filled = fill(x->fd[1], 0);
		break;
	case K_RECV:
	case K_RECVMSG:
		make_socketpair(x->fd);
		break;
	case K_SEND:
	case K_SENDMSG:
		make_socketpair(x->fd);
		x->filled = fill(x->fd[0], 1);
		break;
	case K_ACCEPT:
		x->lfd = tcp_listener(&x->la, 16);
		break;
	case K_CONNECT:
		/* Backlog 0 holds one connection; once it is taken the
		 * kernel drops further SYNs, so the next connect waits. */
		x->lfd = tcp_listener(&x->la, 0);
		x->filler = tcp_client(&x->la);
		x->cfd = tcp_socket();
		break;
	case K_ASYNC:
		xev_async_init(&x->w);
		break;
	case K_WORK:
		start_blocker(&x->loop, &x->blk, &x->rblk);
		break;
	default:
		break;
	}
}

static void teardown(struct ctx *x, enum kind k)
{
	if (k == K_WORK) {
		/* In case a check failed before the blocker was let go. */
		atomic_store(&blk_release, 1);
		if (!dead(&x->blk))
			run_until(&x->loop, &ncb, ncb + 1);
	}
	if (k == K_ASYNC)
		xev_async_deinit(&x->w);
	xev_loop_deinit(&x->loop);
	for (int i = 0; i < 2; i++)
		if (x->fd[i] >= 0)
			close(x->fd[i]);
	if (x->lfd >= 0)
		close(x->lfd);
	if (x->filler >= 0)
		close(x->filler);
	if (x->cfd >= 0)
		close(x->cfd);
}

static void start(struct ctx *x, enum kind k, xev_completion *c, struct rec *r)
{
	xev_loop *l = &x->loop;

	switch (k) {
	case K_READ:
		xev_read(l, c, x->fd[0], x->buf, sizeof x->buf, r, rec_cb);
		break;
	case K_WRITE:
		xev_write(l, c, x->fd[1], x->wbuf, sizeof x->wbuf, r, rec_cb);
		break;
	case K_RECV:
		xev_recv(l, c, x->fd[0], x->buf, sizeof x->buf, 0, r, rec_cb);
		break;
	case K_SEND:
		xev_send(l, c, x->fd[0], x->wbuf, sizeof x->wbuf, 0, r, rec_cb);
		break;
	case K_RECVMSG:
		msg_init(&x->msg, &x->iov, x->buf, sizeof x->buf, NULL, 0);
		xev_recvmsg(l, c, x->fd[0], &x->msg, 0, r, rec_cb);
		break;
	case K_SENDMSG:
		msg_init(&x->msg, &x->iov, x->wbuf, sizeof x->wbuf, NULL, 0);
		xev_sendmsg(l, c, x->fd[0], &x->msg, 0, r, rec_cb);
		break;
	case K_ACCEPT:
		r->is_fd = 1;
		x->peerlen = sizeof x->peer;
		xev_accept(l, c, x->lfd, (struct sockaddr *)&x->peer, &x->peerlen, r, rec_cb);
		break;
	case K_CONNECT:
		xev_connect(l, c, x->cfd, (struct sockaddr *)&x->la, sizeof x->la, r, rec_cb);
		break;
	case K_POLL:
		xev_poll(l, c, x->fd[0], POLLIN, r, rec_cb);
		break;
	case K_TIMER:
		xev_timer_run(NULL, l, c, 100000, r, rec_cb);
		break;
	case K_ASYNC:
		xev_async_wait(&x->w, l, c, r, rec_cb);
		break;
	case K_WORK:
		xev_work(l, c, &pool1, count_fn, r, rec_cb);
		break;
	default:
		break;
	}
}

/* After the cancellation: the descriptor (or watcher, or pool) still
 * works.  One check. */
static void followup(struct ctx *x, enum kind k, struct rec *rt)
{
	xev_loop *l = &x->loop;
	xev_completion c;
	struct rec r;
	const char *bn = x->bn, *kn = kind_name[k];
	long left;
	int fd;

	rec_reset(&r);
	switch (k) {
	case K_READ:
	case K_RECV:
	case K_RECVMSG:
		if (write(x->fd[1], "hello", 5) != 5)
			bail("write failed");
		if (k == K_READ)
			xev_read(l, &c, x->fd[0], x->buf, sizeof x->buf, &r, rec_cb);
		else if (k == K_RECV)
			xev_recv(l, &c, x->fd[0], x->buf, sizeof x->buf, 0, &r, rec_cb);
		else
			xev_recvmsg(l, &c, x->fd[0], &x->msg, 0, &r, rec_cb);
		run_until(l, &ncb, ncb + 1);
		ok(r.calls == 1 && r.result == 5 && memcmp(x->buf, "hello", 5) == 0,
		   "%s: %s: afterwards a new operation on the fd gets the data (%d calls, result %d)", bn, kn,
		   r.calls, r.result);
		break;
	case K_WRITE:
	case K_SEND:
	case K_SENDMSG:
		left = drain(x->fd[k == K_WRITE ? 0 : 1]);
		if (k == K_WRITE)
			xev_write(l, &c, x->fd[1], "hello", 5, &r, rec_cb);
		else if (k == K_SEND)
			xev_send(l, &c, x->fd[0], "hello", 5, 0, &r, rec_cb);
		else {
			x->iov.iov_base = (void *)"hello";
			x->iov.iov_len = 5;
			xev_sendmsg(l, &c, x->fd[0], &x->msg, 0, &r, rec_cb);
		}
		run_until(l, &ncb, ncb + 1);
		ok(left == x->filled && r.calls == 1 && r.result == 5,
		   "%s: %s: nothing was sent by the cancelled one (%ld of %ld bytes found), a new one sends 5 (%d)",
		   bn, kn, left, x->filled, r.result);
		break;
	case K_ACCEPT:
		fd = tcp_client(&x->la);
		r.is_fd = 1;
		x->peerlen = sizeof x->peer;
		xev_accept(l, &c, x->lfd, (struct sockaddr *)&x->peer, &x->peerlen, &r, rec_cb);
		run_until(l, &ncb, ncb + 1);
		ok(r.calls == 1 && r.fds_got == 1 && rt->fds_got == 0,
		   "%s: %s: a new accept gets the next client (%d calls, result %d)", bn, kn, r.calls, r.result);
		close(fd);
		break;
	case K_CONNECT:
		/* The kernel keeps connecting: cancelling only stops waiting. */
		xev_connect(l, &c, x->cfd, (struct sockaddr *)&x->la, sizeof x->la, &r, rec_cb);
		run_until(l, &ncb, ncb + 1);
		ok(r.calls == 1 && r.result == -EALREADY,
		   "%s: %s: the socket is still connecting: a new connect gets -EALREADY (%d calls, result %d)", bn,
		   kn, r.calls, r.result);
		break;
	case K_POLL:
		if (write(x->fd[1], "x", 1) != 1)
			bail("write failed");
		xev_poll(l, &c, x->fd[0], POLLIN, &r, rec_cb);
		run_until(l, &ncb, ncb + 1);
		ok(r.calls == 1 && r.result == POLLIN, "%s: %s: a new poll on the fd gets POLLIN (%d calls, result %d)",
		   bn, kn, r.calls, r.result);
		break;
	case K_TIMER:
		xev_timer_run(NULL, l, &c, 1, &r, rec_cb);
		run_until(l, &ncb, ncb + 1);
		ok(r.calls == 1 && r.result == 0, "%s: %s: a new 1 ms timer fires with 0 (%d calls, result %d)", bn, kn,
		   r.calls, r.result);
		break;
	case K_ASYNC: {
		/* A notify now must not reach the cancelled wait; it still
		 * completes the next wait ("notify first"). */
		xev_async_notify(&x->w);
		run_idle(l);
		xev_async_wait(&x->w, l, &c, &r, rec_cb);
		run_until(l, &ncb, ncb + 1);
		ok(rt->calls == 1 && r.calls == 1 && r.result == 0,
		   "%s: %s: a notify wakes the next wait, not the cancelled one (%d, %d calls; result %d)", bn, kn,
		   rt->calls, r.calls, r.result);
		break;
	}
	case K_WORK:
		atomic_store(&blk_release, 1);
		run_until(l, &ncb, ncb + 1);
		xev_work(l, &c, &pool1, count_fn, &r, rec_cb);
		run_until(l, &ncb, ncb + 1);
		ok(x->rblk.calls == 1 && x->rblk.result == 0 && atomic_load(&rt->fn_runs) == 0 && r.calls == 1 &&
			   r.result == 0 && atomic_load(&r.fn_runs) == 1,
		   "%s: %s: its fn never ran; the running one completes with 0; the pool takes new work", bn, kn);
		break;
	default:
		break;
	}
}

/* 7 checks per kind. */
static void check_pending(xev_backend b, const char *bn, enum kind k)
{
	struct ctx *x = calloc(1, sizeof *x);
	xev_completion t, cn, cn2;
	struct rec rt, rc, rc2;
	const char *kn = kind_name[k];
	int base;

	if (!x)
		bail("out of memory");
	/* xev_cancel looks at its target when called: never garbage. */
	xev_completion_zero(&t);
	xev_completion_zero(&cn);
	xev_completion_zero(&cn2);
	x->b = b;
	x->bn = bn;
	setup(x, k);
	rec_reset(&rt);
	rec_reset(&rc);
	rec_reset(&rc2);
	start(x, k, &t, &rt);
	run_idle(&x->loop);
	if (k == K_CONNECT && rt.calls) {
		char why[160];
		diag("%s: the connect completed at once with %d: cannot keep one pending here", bn, rt.result);
		snprintf(why, sizeof why, "%s: no pending connect on this host", bn);
		skip(7, why);
		teardown(x, k);
		free(x);
		return;
	}
	is_int(rt.calls, 0, "%s: %s: pending before the cancel", bn, kn);

	base = ncb;
	xev_cancel(&x->loop, &cn, &t, &rc, rec_cb);
	run_until(&x->loop, &ncb, base + 2);
	is_int(rt.result, -ECANCELED, "%s: %s: cancelled: the target gets -ECANCELED", bn, kn);
	is_int(rc.result, 0, "%s: %s: cancelled: the canceller gets 0", bn, kn);
	ok(rt.calls == 1 && rc.calls == 1 && rt.not_dead == 0 && rc.not_dead == 0 && dead(&t) && dead(&cn),
	   "%s: %s: cancelled: each called exactly once, DEAD inside and after (%d, %d calls)", bn, kn, rt.calls,
	   rc.calls);

	/* Already finished: its callback ran. */
	base = ncb;
	xev_cancel(&x->loop, &cn2, &t, &rc2, rec_cb);
	run_until(&x->loop, &ncb, base + 1);
	is_int(rc2.result, -ENOENT, "%s: %s: cancelling it again once finished: -ENOENT", bn, kn);
	ok(rt.calls == 1 && rc2.calls == 1, "%s: %s: ... and the target is not called again (%d, %d calls)", bn, kn,
	   rt.calls, rc2.calls);

	followup(x, k, &rt);
	teardown(x, k);
	free(x);
}

/* --- Finished, never started, zeroed, NULL, other loop ---------------- */

static void check_not_active(xev_backend b, const char *bn)
{
	xev_loop loop, loop2;
	xev_completion t, cn, z;
	struct rec rt, rc;
	int p[2], base;
	char buf[16];

	tap_loop_init(&loop, b);
	tap_loop_init(&loop2, b);
	make_pipe(p);

	/* A read that completed normally. */
	rec_reset(&rt);
	if (write(p[1], "abc", 3) != 3)
		bail("write failed");
	xev_read(&loop, &t, p[0], buf, sizeof buf, &rt, rec_cb);
	run_until(&loop, &ncb, ncb + 1);
	rec_reset(&rc);
	xev_cancel(&loop, &cn, &t, &rc, rec_cb);
	run_until(&loop, &ncb, ncb + 1);
	ok(rt.calls == 1 && rt.result == 3 && rc.calls == 1 && rc.result == -ENOENT,
	   "%s: cancel of a read that completed (3 bytes): -ENOENT, read not called again (%d calls, cancel %d)", bn,
	   rt.calls, rc.result);

	/* A timer that fired. */
	rec_reset(&rt);
	xev_timer_run(NULL, &loop, &t, 0, &rt, rec_cb);
	run_until(&loop, &ncb, ncb + 1);
	rec_reset(&rc);
	xev_cancel(&loop, &cn, &t, &rc, rec_cb);
	run_until(&loop, &ncb, ncb + 1);
	ok(rt.calls == 1 && rt.result == 0 && rc.calls == 1 && rc.result == -ENOENT,
	   "%s: cancel of a timer that fired: -ENOENT, timer not called again (%d calls, cancel %d)", bn, rt.calls,
	   rc.result);

	/* A work that finished. */
	rec_reset(&rt);
	xev_work(&loop, &t, &pool1, count_fn, &rt, rec_cb);
	run_until(&loop, &ncb, ncb + 1);
	rec_reset(&rc);
	xev_cancel(&loop, &cn, &t, &rc, rec_cb);
	run_until(&loop, &ncb, ncb + 1);
	ok(rt.calls == 1 && rt.result == 0 && atomic_load(&rt.fn_runs) == 1 && rc.calls == 1 && rc.result == -ENOENT,
	   "%s: cancel of a work that finished: -ENOENT, not run or called again (%d calls, cancel %d)", bn, rt.calls,
	   rc.result);

	/* A zeroed completion: never started. */
	xev_completion_zero(&z);
	rec_reset(&rc);
	xev_cancel(&loop, &cn, &z, &rc, rec_cb);
	run_until(&loop, &ncb, ncb + 1);
	ok(rc.calls == 1 && rc.result == -ENOENT && dead(&z),
	   "%s: cancel of a zeroed (never started) completion: -ENOENT (%d calls, result %d)", bn, rc.calls,
	   rc.result);

	/* NULL. */
	rec_reset(&rc);
	xev_cancel(&loop, &cn, NULL, &rc, rec_cb);
	run_until(&loop, &ncb, ncb + 1);
	ok(rc.calls == 1 && rc.result == -ENOENT, "%s: cancel of NULL: -ENOENT (%d calls, result %d)", bn, rc.calls,
	   rc.result);

	/* A completion queued on another loop. */
	rec_reset(&rt);
	xev_read(&loop2, &t, p[0], buf, sizeof buf, &rt, rec_cb);
	run_idle(&loop2);
	rec_reset(&rc);
	xev_cancel(&loop, &cn, &t, &rc, rec_cb);
	run_until(&loop, &ncb, ncb + 1);
	run_idle(&loop2);
	ok(rc.calls == 1 && rc.result == -EINVAL && rt.calls == 0 && !dead(&t),
	   "%s: cancel of a read pending on another loop: -EINVAL, the read stays pending (cancel %d, read %d calls)",
	   bn, rc.result, rt.calls);
	base = ncb;
	rec_reset(&rc);
	xev_cancel(&loop2, &cn, &t, &rc, rec_cb);
	run_until(&loop2, &ncb, base + 2);
	ok(rt.calls == 1 && rt.result == -ECANCELED && rc.calls == 1 && rc.result == 0,
	   "%s: ... its own loop cancels it: -ECANCELED and 0 (%d, %d)", bn, rt.result, rc.result);

	close(p[0]);
	close(p[1]);
	xev_loop_deinit(&loop);
	xev_loop_deinit(&loop2);
}

/* --- Same tick: the target and the cancel both queued before the run --- */

/* order 0: the target queued first (the natural order); 1: the cancel
 * first.  Either way the target completes with -ECANCELED without being
 * performed (a write writes nothing, a read leaves the data, an accept
 * leaves the client in the queue) and the canceller gets 0, even when
 * the target could have finished at once.  3 checks per kind. */
enum same { S_WRITE, S_READ, S_ACCEPT, S_TIMER, S_ASYNC, S_WORK, NSAME };
static const char *const same_name[NSAME] = {
	"write on an empty pipe", "read on a pipe with data", "accept with a client waiting", "timer of 0 ms",
	"async wait already notified", "xev_work",
};

static void check_same_tick(xev_backend b, const char *bn, enum same k, int order)
{
	xev_loop loop;
	xev_completion t, cn;
	struct rec rt, rc;
	xev_watcher w;
	struct sockaddr_in la;
	int p[2] = { -1, -1 }, lfd = -1, cl = -1, base, performed = 0;
	char buf[16];
	const char *on = order ? "cancel queued first" : "target queued first";
	const char *kn = same_name[k];

	tap_loop_init(&loop, b);
	/* With the cancel first, t is not started yet when xev_cancel
	 * looks at it: it must not be garbage. */
	xev_completion_zero(&t);
	xev_completion_zero(&cn);
	rec_reset(&rt);
	rec_reset(&rc);
	if (k == S_WRITE || k == S_READ)
		make_pipe(p);
	if (k == S_READ && write(p[1], "abc", 3) != 3)
		bail("write failed");
	if (k == S_ACCEPT) {
		lfd = tcp_listener(&la, 16);
		cl = tcp_client(&la);
	}
	if (k == S_ASYNC) {
		xev_async_init(&w);
		xev_async_notify(&w);
	}
	if (order)
		xev_cancel(&loop, &cn, &t, &rc, rec_cb);
	switch (k) {
	case S_WRITE:
		xev_write(&loop, &t, p[1], "hello", 5, &rt, rec_cb);
		break;
	case S_READ:
		xev_read(&loop, &t, p[0], buf, sizeof buf, &rt, rec_cb);
		break;
	case S_ACCEPT:
		rt.is_fd = 1;
		xev_accept(&loop, &t, lfd, NULL, NULL, &rt, rec_cb);
		break;
	case S_TIMER:
		xev_timer_run(NULL, &loop, &t, 0, &rt, rec_cb);
		break;
	case S_ASYNC:
		xev_async_wait(&w, &loop, &t, &rt, rec_cb);
		break;
	default:
		/* On an idle pool: it must not even reach a worker. */
		xev_work(&loop, &t, &pool1, count_fn, &rt, rec_cb);
		break;
	}
	if (!order)
		xev_cancel(&loop, &cn, &t, &rc, rec_cb);
	base = ncb;
	run_until(&loop, &ncb, base + 2);

	switch (k) {
	case S_WRITE:
		performed = drain(p[0]) != 0;
		break;
	case S_READ:
		performed = drain(p[0]) != 3;
		break;
	case S_ACCEPT: {
		int fd = tap_accept(lfd, 0);
		performed = rt.fds_got != 0 || fd < 0;
		if (fd >= 0)
			close(fd);
		break;
	}
	case S_WORK:
		sleep_ms(5);
		performed = atomic_load(&rt.fn_runs) != 0;
		break;
	default:
		performed = rt.result == 0;
		break;
	}
	is_int(rt.result, -ECANCELED, "%s: %s, %s in the same tick: the target gets -ECANCELED", bn, kn, on);
	is_int(rc.result, 0, "%s: %s, %s in the same tick: the canceller gets 0", bn, kn, on);
	ok(!performed && rt.calls == 1 && rc.calls == 1 && dead(&t) && dead(&cn),
	   "%s: %s, %s in the same tick: not performed, each called once (%s; %d, %d calls)", bn, kn, on,
	   performed ? "performed" : "not performed", rt.calls, rc.calls);

	if (k == S_ASYNC)
		xev_async_deinit(&w);
	xev_loop_deinit(&loop);
	if (p[0] >= 0) {
		close(p[0]);
		close(p[1]);
	}
	if (cl >= 0)
		close(cl);
	if (lfd >= 0)
		close(lfd);
}

/* --- Finished in the same tick, callback still pending --------------- */

/* Two operations finish in one tick; the first callback cancels the
 * other and stops the run, so the other's callback is still due: it
 * keeps its real result and the canceller gets -ENOENT. */
static struct {
	xev_completion c[2], cn;
	struct rec r[2], rc;
	int first;
} pr;

static xev_cb_action first_cancels_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	int me = c == &pr.c[0] ? 0 : 1;
	rec_cb(l, c, result, ud);
	if (pr.first < 0) {
		pr.first = me;
		xev_cancel(l, &pr.cn, &pr.c[1 - me], &pr.rc, rec_cb);
		xev_loop_stop(l);
	}
	return XEV_DISARM;
}

static void check_ready_target(xev_backend b, const char *bn)
{
	xev_loop loop;
	int p[2][2], other, base;
	char buf[2][16];

	for (int timers = 0; timers < 2; timers++) {
		const char *what = timers ? "timer of 0 ms" : "read on a pipe with data";
		tap_loop_init(&loop, b);
		pr.first = -1;
		rec_reset(&pr.rc);
		for (int i = 0; i < 2; i++) {
			rec_reset(&pr.r[i]);
			if (timers) {
				xev_timer_run(NULL, &loop, &pr.c[i], 0, &pr.r[i], first_cancels_cb);
				continue;
			}
			make_pipe(p[i]);
			if (write(p[i][1], "abc", 3) != 3)
				bail("write failed");
			xev_read(&loop, &pr.c[i], p[i][0], buf[i], sizeof buf[i], &pr.r[i], first_cancels_cb);
		}
		base = ncb;
		if (timers)
			busy_wait_ms(2);
		for (int i = 0; i < 100 && ncb == base; i++)
			xev_loop_run(&loop, XEV_RUN_ONCE);
		other = pr.first < 0 ? 0 : 1 - pr.first;
		ok(ncb == base + 1 && pr.r[other].calls == 0,
		   "%s: two %ss finish in one tick; the first callback cancels the other and stops (other: %d calls)",
		   bn, what, pr.r[other].calls);
		run_until(&loop, &ncb, base + 3);
		ok(pr.r[other].calls == 1 && pr.r[other].result == (timers ? 0 : 3),
		   "%s: %s finished, callback pending: it keeps its real result (%d, %d calls)", bn, what,
		   pr.r[other].result, pr.r[other].calls);
		ok(pr.rc.calls == 1 && pr.rc.result == -ENOENT && pr.r[1 - other].calls == 1,
		   "%s: %s finished, callback pending: the canceller gets -ENOENT (%d, %d calls)", bn, what,
		   pr.rc.result, pr.rc.calls);
		xev_loop_deinit(&loop);
		if (!timers)
			for (int i = 0; i < 2; i++) {
				close(p[i][0]);
				close(p[i][1]);
			}
	}
}

/* A read pending in the kernel; data arrives just before the cancel is
 * submitted.  A readiness backend (XEV__CAP_READINESS) resolves the
 * cancel before it tries the read: -ECANCELED and the data stays.  Any
 * other (io_uring) may see either first; both answers must be
 * consistent, and nothing is lost or doubled. */
static void check_race(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_completion t, cn;
	struct rec rt, rc;
	int p[2], base, got_data, cancelled;
	int readiness = !!(tap_caps(b) & XEV__CAP_READINESS);
	long left;
	char buf[16];

	tap_loop_init(&loop, b);
	make_pipe(p);
	rec_reset(&rt);
	rec_reset(&rc);
	xev_read(&loop, &t, p[0], buf, sizeof buf, &rt, rec_cb);
	run_idle(&loop);
	if (write(p[1], "hello", 5) != 5)
		bail("write failed");
	base = ncb;
	xev_cancel(&loop, &cn, &t, &rc, rec_cb);
	run_until(&loop, &ncb, base + 2);
	left = drain(p[0]);
	got_data = rt.result == 5 && (rc.result == -ENOENT || rc.result == 0) && left == 0;
	cancelled = rt.result == -ECANCELED && rc.result == 0 && left == 5;
	diag("%s: data then cancel of a pending read: read %d, cancel %d, %ld bytes left", bn, rt.result, rc.result,
	     left);
	ok(rt.calls == 1 && rc.calls == 1 && (readiness ? cancelled : (got_data || cancelled)),
	   "%s: data arrives as a pending read is cancelled: %s, once each (%s)", bn,
	   readiness ? "readiness backend, the cancel wins and the data stays" : "a consistent outcome",
	   cancelled ? "cancelled, data kept" : got_data ? "read the data, cancel too late" : "inconsistent");
	xev_loop_deinit(&loop);
	close(p[0]);
	close(p[1]);
}

/* --- Cancel of a cancel ------------------------------------------------ */

static void check_cancel_cancel(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_completion t, c1, c2, c3;
	struct rec rt, r1, r2, r3;
	int p[2], base;
	char buf[16];

	tap_loop_init(&loop, b);
	make_pipe(p);
	/* c2 names c1 before c1 is queued: c1 must not be garbage. */
	xev_completion_zero(&c1);
	xev_completion_zero(&c2);
	xev_completion_zero(&c3);
	rec_reset(&rt);
	rec_reset(&r1);
	rec_reset(&r2);
	rec_reset(&r3);
	xev_read(&loop, &t, p[0], buf, sizeof buf, &rt, rec_cb);
	run_idle(&loop);

	/* c2 cancels c1, queued before it in the same tick. */
	xev_cancel(&loop, &c2, &c1, &r2, rec_cb);
	xev_cancel(&loop, &c1, &t, &r1, rec_cb);
	base = ncb;
	run_until(&loop, &ncb, base + 2);
	run_idle(&loop);
	is_int(r1.result, -ECANCELED, "%s: a cancel cancelled before it ran gets -ECANCELED", bn);
	is_int(r2.result, 0, "%s: ... its canceller gets 0", bn);
	ok(r1.calls == 1 && r2.calls == 1 && rt.calls == 0 && !dead(&t),
	   "%s: ... each called once, and its target is untouched, still pending (%d calls)", bn, rt.calls);

	base = ncb;
	xev_cancel(&loop, &c3, &t, &r3, rec_cb);
	run_until(&loop, &ncb, base + 2);
	ok(rt.calls == 1 && rt.result == -ECANCELED && r3.calls == 1 && r3.result == 0,
	   "%s: ... a new cancel still stops the read: -ECANCELED and 0 (%d, %d)", bn, rt.result, r3.result);

	/* c1 has finished: cancelling it finds nothing. */
	rec_reset(&r2);
	xev_cancel(&loop, &c2, &c3, &r2, rec_cb);
	run_until(&loop, &ncb, ncb + 1);
	ok(r2.calls == 1 && r2.result == -ENOENT && r3.calls == 1,
	   "%s: cancel of a finished cancel: -ENOENT, it is not called again (%d)", bn, r2.result);

	/* A read, its cancel c1 and c2 cancelling c1, all queued before one
	 * run (the natural order).  c1 is a target queued in the same tick as
	 * its canceller: it gets -ECANCELED without being performed, so the
	 * read is left alone. */
	rec_reset(&rt);
	rec_reset(&r1);
	rec_reset(&r2);
	rec_reset(&r3);
	xev_read(&loop, &t, p[0], buf, sizeof buf, &rt, rec_cb);
	xev_cancel(&loop, &c1, &t, &r1, rec_cb);
	xev_cancel(&loop, &c2, &c1, &r2, rec_cb);
	base = ncb;
	run_until(&loop, &ncb, base + 2);
	run_idle(&loop);
	diag("%s: read, cancel, cancel of the cancel in one tick: read %d (%d calls), cancel %d, outer cancel %d", bn,
	     rt.calls ? rt.result : 0, rt.calls, r1.result, r2.result);
	is_int(r1.result, -ECANCELED, "%s: a cancel cancelled in the tick it was queued gets -ECANCELED", bn);
	is_int(r2.result, 0, "%s: ... its canceller gets 0", bn);
	ok(r1.calls == 1 && r2.calls == 1 && rt.calls == 0 && !dead(&t),
	   "%s: ... and, never performed, it had no effect: the read is still pending (read: %d calls, result %d)",
	   bn, rt.calls, rt.result);
	if (!dead(&t)) {
		base = ncb;
		xev_cancel(&loop, &c3, &t, &r3, rec_cb);
		run_until(&loop, &ncb, base + 2);
	}

	/* Two cancels of one target in the same tick: one does it (0), the
	 * other finds it done (-ENOENT); the target is called once.  First
	 * with the target queued in that tick too, then already pending.
	 * Without XEV__CAP_READINESS (io_uring) both cancellations of a
	 * pending target reach the kernel together, and the kernel answers 0
	 * to both (the request is still found while its -ECANCELED is on its
	 * way): accepted there.  A readiness backend decides both itself. */
	for (int pending = 0; pending < 2; pending++) {
		int both_ok;
		rec_reset(&rt);
		rec_reset(&r1);
		rec_reset(&r2);
		xev_read(&loop, &t, p[0], buf, sizeof buf, &rt, rec_cb);
		if (pending)
			run_idle(&loop);
		xev_cancel(&loop, &c1, &t, &r1, rec_cb);
		xev_cancel(&loop, &c2, &t, &r2, rec_cb);
		base = ncb;
		run_until(&loop, &ncb, base + 3);
		both_ok = pending && !(tap_caps(b) & XEV__CAP_READINESS) && r1.result == 0 && r2.result == 0;
		ok(rt.calls == 1 && rt.result == -ECANCELED && r1.calls == 1 && r2.calls == 1 &&
			   ((r1.result == 0 && r2.result == -ENOENT) || (r1.result == -ENOENT && r2.result == 0) ||
			    both_ok),
		   "%s: two cancels of a %s read in one tick: read -ECANCELED once, cancels 0 and -ENOENT (%d, %d, %d)",
		   bn, pending ? "pending" : "queued", rt.result, r1.result, r2.result);
	}

	xev_loop_deinit(&loop);
	close(p[0]);
	close(p[1]);
}

/* --- XEV_REARM on -ECANCELED ------------------------------------------ */

/* A callback that returns XEV_REARM on -ECANCELED queues the same
 * operation again: it is pending anew and completes normally later. */
static void check_rearm(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_completion t, cn;
	struct rec rt, rc;
	int p[2], base;
	char buf[16];

	tap_loop_init(&loop, b);
	make_pipe(p);
	rec_reset(&rt);
	rec_reset(&rc);
	rt.rearm = 1;
	xev_read(&loop, &t, p[0], buf, sizeof buf, &rt, rec_cb);
	run_idle(&loop);
	base = ncb;
	xev_cancel(&loop, &cn, &t, &rc, rec_cb);
	run_until(&loop, &ncb, base + 2);
	run_idle(&loop);
	ok(rt.calls == 1 && rt.result == -ECANCELED && rc.calls == 1 && rc.result == 0,
	   "%s: cancel of a read whose callback rearms: -ECANCELED once, canceller 0 (%d, %d)", bn, rt.result,
	   rc.result);
	is_int(xev_completion_state(&t), XEV_COMPLETION_ACTIVE,
	       "%s: XEV_REARM returned on -ECANCELED queues the read again: it is active", bn);
	if (write(p[1], "hello", 5) != 5)
		bail("write failed");
	run_until(&loop, &ncb, base + 3);
	ok(rt.calls == 2 && rt.result == 5 && dead(&t),
	   "%s: ... and the rearmed read gets the data later (%d calls, result %d)", bn, rt.calls, rt.result);
	xev_loop_deinit(&loop);
	close(p[0]);
	close(p[1]);
}

static void check_backend(xev_backend b, const char *bn)
{
	for (int k = 0; k < NKINDS; k++)
		check_pending(b, bn, (enum kind)k);
	check_not_active(b, bn);
	for (int k = 0; k < NSAME; k++)
		for (int order = 0; order < 2; order++)
			check_same_tick(b, bn, (enum same)k, order);
	check_ready_target(b, bn);
	check_race(b, bn);
	check_cancel_cancel(b, bn);
	check_rearm(b, bn);
}

int main(void)
{
	plan(GLOBAL_CHECKS + TAP_NBACKENDS * PER_BACKEND);
	pool_init(&pool1, 1);
	tap_each_backend(PER_BACKEND, check_backend);
	xev_threadpool_deinit(&pool1);
	return done_testing();
}
