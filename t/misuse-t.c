/* SPDX-License-Identifier: MIT */
/*
 * Misuse that must give a clear error, never a crash or a lost
 * completion: invalid descriptors, lengths that are negative numbers cast
 * to size_t, notify on a watcher that was deinitialised, cancel of
 * another loop's completion.  Each comes back as a negative errno in the
 * callback (or the return value), and nothing was read, written or left
 * pending.
 *
 * Misuse the library cannot report through a result (a completion
 * submitted while it is in flight, a loop touched from another thread
 * while it runs, deinit from a callback, a watcher deinitialised under a
 * wait, a reset of a completion busy with something else) is undefined in
 * a normal build; built with --enable-debug the library aborts with a
 * message naming the call.  Those checks run each case in a child and
 * expect SIGABRT and the message; without --enable-debug they skip.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "tap.h"
#include "net.h"

#define NEG ((size_t)-5) /* what a length of -5 becomes as a size_t */
#define PER_BACKEND 20
#define DEBUG_CHECKS 6

/* Submits one operation with c and runs t until it calls back. */
typedef void (*submit_fn)(xev_loop *l, xev_completion *c, int fd, void *buf, void *ud, xev_cb cb);

static void sub_read(xev_loop *l, xev_completion *c, int fd, void *buf, void *ud, xev_cb cb)
{
	xev_read(l, c, fd, buf, 16, ud, cb);
}
static void sub_write(xev_loop *l, xev_completion *c, int fd, void *buf, void *ud, xev_cb cb)
{
	xev_write(l, c, fd, buf, 16, ud, cb);
}
static void sub_recv(xev_loop *l, xev_completion *c, int fd, void *buf, void *ud, xev_cb cb)
{
	xev_recv(l, c, fd, buf, 16, 0, ud, cb);
}
static void sub_send(xev_loop *l, xev_completion *c, int fd, void *buf, void *ud, xev_cb cb)
{
	xev_send(l, c, fd, buf, 16, 0, ud, cb);
}
static void sub_poll(xev_loop *l, xev_completion *c, int fd, void *buf, void *ud, xev_cb cb)
{
	(void)buf;
	xev_poll(l, c, fd, POLLIN, ud, cb);
}
static void sub_accept(xev_loop *l, xev_completion *c, int fd, void *buf, void *ud, xev_cb cb)
{
	(void)buf;
	xev_accept(l, c, fd, NULL, NULL, ud, cb);
}

static int result_of(struct tl *t, submit_fn fn, int fd)
{
	struct tl_op o;
	char buf[16] = "0123456789abcdef";

	tl_op_init(&o);
	fn(&t->loop, &o.c, fd, buf, &o.r, tl_rec_cb);
	return tl_result_of(t, &o);
}

/* A descriptor number that is certainly closed: one just closed. */
static int closed_fd(void)
{
	int fd = dup(0);
	if (fd < 0)
		bail("dup failed");
	close(fd);
	return fd;
}

static void bad_descriptors(struct tl *t, const char *bn)
{
	static const struct {
		const char *name;
		submit_fn fn;
	} ops[] = { { "read", sub_read }, { "write", sub_write }, { "recv", sub_recv },
		    { "send", sub_send }, { "poll", sub_poll },   { "accept", sub_accept } };
	int p[2];

	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		int neg = result_of(t, ops[i].fn, -1);
		int gone = result_of(t, ops[i].fn, closed_fd());
		ok(neg == -EBADF && gone == -EBADF, "%s: %s on fd -1 and on a closed fd: -EBADF (%d, %d)", bn,
		   ops[i].name, neg, gone);
	}
	make_pipe(p);
	is_int(result_of(t, sub_accept, p[0]), -ENOTSOCK, "%s: accept on a pipe: -ENOTSOCK", bn);
	is_int(result_of(t, sub_recv, p[0]), -ENOTSOCK, "%s: recv on a pipe: -ENOTSOCK", bn);
	is_int(result_of(t, sub_read, p[1]), -EBADF, "%s: read on the write end of a pipe: -EBADF", bn);
	close(p[0]);
	close(p[1]);
	p[0] = tcp_socket();
	is_int(result_of(t, sub_accept, p[0]), -EINVAL, "%s: accept on a socket that does not listen: -EINVAL", bn);
	close(p[0]);
}

/* A negative length must not be taken as "up to 2 GiB": that would let
 * the kernel write past a small buffer. */
static void negative_lengths(struct tl *t, const char *bn)
{
	struct tl_op o;
	char buf[16], more[8];
	int p[2], s[2], f = temp_file("misuse-t");
	int r;

	make_pipe(p);
	make_socketpair(s);
	if (write(p[1], "data", 4) != 4 || send(s[1], "data", 4, 0) != 4)
		bail("cannot prime the pipe and the socket");

	tl_op_init(&o);
	xev_read(&t->loop, &o.c, p[0], buf, NEG, &o.r, tl_rec_cb);
	r = tl_result_of(t, &o);
	ok(r == -EINVAL && read(p[0], more, sizeof more) == 4,
	   "%s: read of length -5: -EINVAL, the 4 bytes waiting were not consumed (%d)", bn, r);

	tl_op_init(&o);
	xev_recv(&t->loop, &o.c, s[0], buf, NEG, 0, &o.r, tl_rec_cb);
	r = tl_result_of(t, &o);
	ok(r == -EINVAL && recv(s[0], more, sizeof more, MSG_DONTWAIT) == 4,
	   "%s: recv of length -5: -EINVAL, nothing consumed (%d)", bn, r);

	tl_op_init(&o);
	xev_write(&t->loop, &o.c, p[1], buf, NEG, &o.r, tl_rec_cb);
	r = tl_result_of(t, &o);
	ok(r == -EINVAL && read(p[0], more, sizeof more) < 0 && errno == EAGAIN,
	   "%s: write of length -5: -EINVAL, nothing written (%d)", bn, r);

	tl_op_init(&o);
	xev_send(&t->loop, &o.c, s[1], buf, NEG, 0, &o.r, tl_rec_cb);
	r = tl_result_of(t, &o);
	ok(r == -EINVAL && recv(s[0], more, sizeof more, MSG_DONTWAIT) < 0 && errno == EAGAIN,
	   "%s: send of length -5: -EINVAL, nothing sent (%d)", bn, r);

	tl_op_init(&o);
	xev_pwrite(&t->loop, &o.c, f, buf, NEG, 0, &o.r, tl_rec_cb);
	r = tl_result_of(t, &o);
	ok(r == -EINVAL && lseek(f, 0, SEEK_END) == 0, "%s: pwrite of length -5: -EINVAL, the file stays empty (%d)",
	   bn, r);

	if (pwrite(f, "file", 4, 0) != 4)
		bail("cannot write the temporary file");
	tl_op_init(&o);
	xev_pread(&t->loop, &o.c, f, buf, NEG, 0, &o.r, tl_rec_cb);
	is_int(tl_result_of(t, &o), -EINVAL, "%s: pread of length -5: -EINVAL", bn);

	close(p[0]), close(p[1]), close(s[0]), close(s[1]), close(f);
}

static xev_cb_action count_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c, (void)result;
	++*(int *)ud;
	return XEV_DISARM;
}

static void watchers_and_loops(struct tl *t, xev_backend b, const char *bn)
{
	xev_watcher w;
	xev_loop other;
	xev_completion c, cc;
	struct tl_op o;
	int p[2], calls = 0;

	xev_async_init(&w);
	xev_async_deinit(&w);
	is_int(xev_async_notify(&w), -EINVAL, "%s: notify on a deinitialised async watcher: -EINVAL", bn);
	memset(&w, 0, sizeof w);
	is_int(xev_async_notify(&w), -EINVAL, "%s: notify on a zeroed watcher: -EINVAL", bn);

	/* A cancel must not reach into another loop's queues. */
	tap_loop_init(&other, b);
	make_pipe(p);
	xev_read(&other, &c, p[0], &calls, 1, &calls, count_cb);
	xev_loop_run(&other, XEV_RUN_NO_WAIT);
	tl_op_init(&o);
	xev_cancel(&t->loop, &o.c, &c, &o.r, tl_rec_cb);
	ok(tl_result_of(t, &o) == -EINVAL && calls == 0 && !dead(&c),
	   "%s: cancel of another loop's read: -EINVAL, the read still pending", bn);
	xev_cancel(&other, &cc, &c, NULL, NULL);
	run_until(&other, &calls, 1);
	xev_loop_deinit(&other);
	close(p[0]);
	close(p[1]);
}

static void run(xev_backend b, const char *bn)
{
	struct tl t;
	int fds = tap_count_fds();

	tl_init(&t, b, NULL);
	bad_descriptors(&t, bn);
	negative_lengths(&t, bn);
	watchers_and_loops(&t, b, bn);
	tl_deinit(&t);
	is_int(tap_count_fds(), fds, "%s: no descriptor leaked", bn);
}

/* ---- --enable-debug: misuse that aborts with a message ------------------ */

static int pipe_fds[2];
static xev_loop dloop;
static xev_completion dc, dc2;
static char dbuf[8];

static void *touch_running_loop(void *arg)
{
	(void)arg;
	sleep_ms(50);
	xev_timer_run(NULL, &dloop, &dc2, 1, NULL, NULL);
	return NULL;
}

static xev_cb_action deinit_in_callback(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)c, (void)result, (void)ud;
	xev_loop_deinit(l);
	return XEV_DISARM;
}

static void misuse_case(int which)
{
	xev_watcher w, tw;
	pthread_t th;

	make_pipe(pipe_fds);
	if (xev_loop_init(&dloop) != 0)
		_exit(3);
	xev_timer_init(&tw);
	switch (which) {
	case 0: /* the same completion submitted twice */
		xev_read(&dloop, &dc, pipe_fds[0], dbuf, sizeof dbuf, NULL, NULL);
		xev_read(&dloop, &dc, pipe_fds[0], dbuf, sizeof dbuf, NULL, NULL);
		break;
	case 1: /* still pending in the kernel when submitted again */
		xev_read(&dloop, &dc, pipe_fds[0], dbuf, sizeof dbuf, NULL, NULL);
		xev_loop_run(&dloop, XEV_RUN_NO_WAIT);
		xev_timer_run(&tw, &dloop, &dc, 1, NULL, NULL);
		break;
	case 2: /* another thread, while the loop runs */
		xev_timer_run(&tw, &dloop, &dc, 2000, NULL, NULL);
		if (pthread_create(&th, NULL, touch_running_loop, NULL) != 0)
			_exit(3);
		xev_loop_run(&dloop, XEV_RUN_ONCE);
		break;
	case 3: /* deinit from the loop's own callback */
		xev_timer_run(&tw, &dloop, &dc, 0, NULL, deinit_in_callback);
		xev_loop_run(&dloop, XEV_RUN_ONCE);
		break;
	case 4: /* a watcher deinitialised under a wait */
		xev_async_init(&w);
		xev_async_wait(&w, &dloop, &dc, NULL, NULL);
		xev_loop_run(&dloop, XEV_RUN_NO_WAIT);
		xev_async_deinit(&w);
		break;
	case 5: /* reset of a completion busy as a read */
		xev_read(&dloop, &dc, pipe_fds[0], dbuf, sizeof dbuf, NULL, NULL);
		xev_timer_reset(&tw, &dloop, &dc, &dc2, 1, NULL, NULL);
		break;
	}
	_exit(0); /* not caught: the parent sees exit 0 instead of SIGABRT */
}

/* Runs case which in a child; 1 if it died of SIGABRT saying want. */
static int aborts_saying(int which, const char *want, char *said, size_t len)
{
	int err[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	if (pipe(err) < 0)
		bail("pipe failed");
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bail("fork failed");
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };
		setrlimit(RLIMIT_CORE, &no_core);
		dup2(err[1], 2);
		close(err[0]);
		misuse_case(which);
	}
	close(err[1]);
	while (got < (ssize_t)len - 1 && (n = read(err[0], said + got, len - 1 - (size_t)got)) > 0)
		got += n;
	said[got] = '\0';
	close(err[0]);
	waitpid(pid, &status, 0);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(said, want) != NULL;
}

static void debug_checks(void)
{
	static const struct {
		const char *what, *want;
	} cases[] = {
		{ "a completion submitted twice", "libxev: xev_read: the completion is still queued" },
		{ "a completion reused while in the kernel", "libxev: xev_timer_run: the completion is still" },
		{ "a loop touched from another thread while it runs",
		  "libxev: xev_timer_run: called from another thread" },
		{ "xev_loop_deinit from the loop's callback", "libxev: xev_loop_deinit: called while xev_loop_run" },
		{ "xev_async_deinit under a queued wait", "libxev: xev_async_deinit: the watcher still has a wait" },
		{ "xev_timer_reset of a completion busy as a read",
		  "libxev: xev_timer_reset: the completion is in flight as another operation" },
	};
	char said[512];

#ifndef XEV_DEBUG
	(void)aborts_saying;
	skip(DEBUG_CHECKS, "built without --enable-debug");
	return;
#endif
	for (int i = 0; i < DEBUG_CHECKS; i++) {
		int caught = aborts_saying(i, cases[i].want, said, sizeof said);
		ok(caught, "debug: %s aborts with a message", cases[i].what);
		if (!caught)
			diag("wanted \"%s\", the child said: %s", cases[i].want, said);
	}
}

int main(void)
{
	plan(TAP_NBACKENDS * PER_BACKEND + DEBUG_CHECKS);
	tap_each_backend(PER_BACKEND, run);
	debug_checks();
	return done_testing();
}
