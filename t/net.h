/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the tests of the fd operations (io, tcp, udp, cancel,
 * work, deinit): descriptors to operate on, a loop that never blocks for
 * good, a record of what a completion saw, and ways to run a loop until
 * something happened.  Everything bails out on a setup failure, so that a
 * check only ever fails for what it checks.
 */
#ifndef XEV_T_NET_H
#define XEV_T_NET_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before any include: net.h may use pipe2 and F_SETPIPE_SZ"
#endif

#include "config.h" /* what this system has: the helpers below adapt */

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tap.h"

/* ---- descriptors ---------------------------------------------------- */

/* Portable descriptors: close-on-exec always, non-blocking if asked, made
 * so at birth where the system can (SOCK_NONBLOCK, pipe2, accept4) and
 * right after elsewhere.  They bail out on failure. */
static inline void tap_fd_flags(int fd, int nonblock)
{
	int fl = fcntl(fd, F_GETFL);
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fl < 0 ||
	    (nonblock && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
		bail("fcntl failed");
}

static inline int tap_socket(int domain, int type, int nonblock)
{
#if HAVE_DECL_SOCK_NONBLOCK && HAVE_DECL_SOCK_CLOEXEC
	int fd = socket(domain, type | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		bail("socket failed");
#else
	int fd = socket(domain, type, 0);
	if (fd < 0)
		bail("socket failed");
	tap_fd_flags(fd, nonblock);
#endif
	return fd;
}

static inline void tap_socketpair(int domain, int type, int nonblock, int s[2])
{
#if HAVE_DECL_SOCK_NONBLOCK && HAVE_DECL_SOCK_CLOEXEC
	if (socketpair(domain, type | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0, s) < 0)
		bail("socketpair failed");
#else
	if (socketpair(domain, type, 0, s) < 0)
		bail("socketpair failed");
	tap_fd_flags(s[0], nonblock);
	tap_fd_flags(s[1], nonblock);
#endif
}

static inline void tap_pipe(int p[2], int nonblock)
{
#ifdef HAVE_PIPE2
	if (pipe2(p, O_CLOEXEC | (nonblock ? O_NONBLOCK : 0)) < 0)
		bail("pipe2 failed");
#else
	if (pipe(p) < 0)
		bail("pipe failed");
	tap_fd_flags(p[0], nonblock);
	tap_fd_flags(p[1], nonblock);
#endif
}

/* accept(2); -1 (errno set) when nothing is there. */
static inline int tap_accept(int lfd, int nonblock)
{
#ifdef HAVE_ACCEPT4
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0));
#else
	int fd = accept(lfd, NULL, NULL);
	if (fd >= 0)
		tap_fd_flags(fd, nonblock);
	return fd;
#endif
}


/* Non-blocking, as the library expects of every fd it is handed. */
static inline void make_pipe(int p[2])
{
	tap_pipe(p, 1);
}

static inline void make_socketpair(int s[2])
{
	tap_socketpair(AF_UNIX, SOCK_STREAM, 1, s);
}

/* Fills a non-blocking pipe or socket until not even one byte fits, so
 * that a write or send on it stays pending; returns the bytes written.
 * The buffer is made small first, to keep that quick. */
static inline long fill(int fd, int is_sock)
{
	static char junk[4096];
	long n = 0;
	ssize_t k;

	if (is_sock) {
		int sz = 4096;
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	} else {
#ifdef F_SETPIPE_SZ
		fcntl(fd, F_SETPIPE_SZ, 4096);
#endif
	}
	memset(junk, 'j', sizeof junk);
	while ((k = is_sock ? send(fd, junk, sizeof junk, MSG_DONTWAIT) : write(fd, junk, sizeof junk)) > 0)
		n += k;
	while ((k = is_sock ? send(fd, junk, 1, MSG_DONTWAIT) : write(fd, junk, 1)) > 0)
		n += k;
	return n;
}

static inline int fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* A regular file for pread/pwrite, already unlinked so that a test that
 * dies leaves nothing behind; name tells whose it was. */
static inline int temp_file(const char *name)
{
	const char *dir = getenv("TMPDIR");
	char path[512];
	int fd;

	snprintf(path, sizeof path, "%s/%s.XXXXXX", dir && *dir ? dir : "/tmp", name);
	fd = mkstemp(path);
	if (fd < 0)
		bail("mkstemp failed");
	tap_fd_flags(fd, 0);
	unlink(path);
	return fd;
}

/* ---- sockets on 127.0.0.1 ------------------------------------------- */

static inline int tcp_socket(void)
{
	return tap_socket(AF_INET, SOCK_STREAM, 1);
}

/* A non-blocking socket of type (SOCK_STREAM or SOCK_DGRAM) bound to
 * 127.0.0.1 on a port the kernel picks (port 0: tests may run in
 * parallel); its address in *a. */
static inline int loopback_bound(int type, struct sockaddr_in *a)
{
	int fd = tap_socket(AF_INET, type, 1);
	socklen_t len = sizeof *a;

	memset(a, 0, sizeof *a);
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)a, sizeof *a) < 0 || getsockname(fd, (struct sockaddr *)a, &len) < 0)
		bail("bind 127.0.0.1:0 failed");
	return fd;
}

/* A listening TCP socket on 127.0.0.1; its address in *a.  Backlog 0
 * holds one connection: once that is taken the kernel drops further
 * SYNs, so a next connect stays pending. */
static inline int tcp_listener(struct sockaddr_in *a, int backlog)
{
	int fd = loopback_bound(SOCK_STREAM, a);
	if (listen(fd, backlog) < 0)
		bail("listen failed");
	return fd;
}

/* A blocking connect, done before the loop is involved; on loopback it
 * returns once the connection waits in the listener's queue. */
static inline int tcp_client(const struct sockaddr_in *a)
{
	int fd = tap_socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (const struct sockaddr *)a, sizeof *a) < 0)
		bail("cannot connect to 127.0.0.1");
	return fd;
}

/* ---- a ticking loop ------------------------------------------------- */

/* A loop with a 10 ms tick, so that XEV_RUN_ONCE never blocks for good
 * and a lost completion fails a check instead of hanging the test. */
struct tl {
	xev_loop loop;
	xev_watcher tw;
	xev_completion tc;
};

static inline xev_cb_action tl_tick_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c, (void)result, (void)ud;
	return XEV_REARM;
}

/* pool, if not NULL, goes in the loop options. */
static inline void tl_init(struct tl *t, xev_backend b, xev_threadpool *pool)
{
	tap_loop_init_pool(&t->loop, b, pool);
	if (xev_timer_init(&t->tw) != 0)
		bail("xev_timer_init failed");
	xev_timer_run(&t->tw, &t->loop, &t->tc, 10, NULL, tl_tick_cb);
}

static inline void tl_deinit(struct tl *t)
{
	xev_loop_deinit(&t->loop);
	xev_timer_deinit(&t->tw);
}

/* Runs the loop until cond holds, for at most ms milliseconds. */
#define WAIT_FOR_MS(t, cond, ms)                                            \
	do {                                                                \
		int64_t d_ = mono_ms() + (ms);                              \
		while (!(cond) && mono_ms() < d_)                           \
			xev_loop_run(&(t)->loop, XEV_RUN_ONCE);             \
	} while (0)
#define WAIT_FOR(t, cond) WAIT_FOR_MS(t, cond, 5000)

/* ---- what a completion saw ------------------------------------------ */

/* What one completion saw, as tl_rec_cb records it.  For the tests on a
 * ticking loop; tl_ keeps clear of the tests that keep records of their
 * own. */
struct tl_rec {
	int calls;
	int first;    /* the result of the first call */
	int result;   /* of the last call */
	int order;    /* position among all callbacks (tl_rec_order) */
	int state_in; /* xev_completion_state inside the callback */
	int rearm;    /* return XEV_REARM this many more times */
};

static int tl_rec_order;

static inline void tl_rec_init(struct tl_rec *r)
{
	memset(r, 0, sizeof *r);
	r->result = INT_MIN;
	r->state_in = -1;
}

static inline xev_cb_action tl_rec_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct tl_rec *r = ud;
	(void)l;
	if (r->calls++ == 0)
		r->first = result;
	r->result = result;
	r->order = ++tl_rec_order;
	r->state_in = (int)xev_completion_state(c);
	if (r->rearm > 0) {
		r->rearm--;
		return XEV_REARM;
	}
	return XEV_DISARM;
}

/* One operation with its own completion, and one to cancel it with, so
 * that one that never completes cannot disturb the next. */
struct tl_op {
	xev_completion c, cc;
	struct tl_rec r, rc;
};

static inline void tl_op_init(struct tl_op *o)
{
	xev_completion_zero(&o->c);
	xev_completion_zero(&o->cc);
	tl_rec_init(&o->r);
	tl_rec_init(&o->rc);
}

/* Runs o to its callback; one that did not complete in 5 s is cancelled
 * and reported as INT_MIN (or INT_MIN + calls if it completed twice). */
static inline int tl_result_of(struct tl *t, struct tl_op *o)
{
	WAIT_FOR(t, o->r.calls);
	if (o->r.calls == 0) {
		xev_cancel(&t->loop, &o->cc, &o->c, &o->rc, tl_rec_cb);
		WAIT_FOR(t, o->rc.calls && o->r.calls);
		return INT_MIN;
	}
	return o->r.calls == 1 ? o->r.result : INT_MIN + o->r.calls;
}

/* ---- running a plain loop ------------------------------------------- */

/* Runs l without blocking until *count (the test's count of callbacks)
 * reaches want or 5 s pass, then a few more times so that a late
 * duplicate would show.  1 if reached. */
static inline int run_until(xev_loop *l, const int *count, int want)
{
	int64_t end = mono_ms() + 5000;
	while (*count < want && mono_ms() < end) {
		int before = *count;
		if (xev_loop_run(l, XEV_RUN_NO_WAIT) < 0)
			break;
		if (*count == before)
			sleep_ms(1);
	}
	for (int i = 0; i < 3; i++)
		xev_loop_run(l, XEV_RUN_NO_WAIT);
	return *count >= want;
}

/* ---- thread pools ---------------------------------------------------- */

/* A msghdr for one buffer, with an address (name may be NULL). */
static inline void msg_init(struct msghdr *m, struct iovec *iov, void *buf, size_t len, void *name,
			    socklen_t namelen)
{
	memset(m, 0, sizeof *m);
	iov->iov_base = buf;
	iov->iov_len = len;
	m->msg_iov = iov;
	m->msg_iovlen = 1;
	m->msg_name = name;
	m->msg_namelen = namelen;
}

/* A pool of at most max_threads workers.  With one, a work that holds
 * that worker keeps everything else queued. */
static inline void pool_init(xev_threadpool *pool, uint32_t max_threads)
{
	xev_threadpool_config cfg;
	xev_threadpool_config_init(&cfg);
	xev_threadpool_config_set_max_threads(&cfg, max_threads);
	if (xev_threadpool_init(pool, &cfg) != 0)
		bail("xev_threadpool_init failed");
}

/* Waits (5 s at most) for a pool worker to set *f; returns it. */
static inline int wait_flag(atomic_int *f)
{
	int64_t end = mono_ms() + 5000;
	while (!atomic_load(f) && mono_ms() < end)
		sleep_ms(1);
	return atomic_load(f);
}

static inline int dead(xev_completion *c)
{
	return xev_completion_state(c) == XEV_COMPLETION_DEAD;
}

#endif /* XEV_T_NET_H */
