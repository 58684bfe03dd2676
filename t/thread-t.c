/* SPDX-License-Identifier: MIT */
/*
 * A loop handed from thread to thread: created on one and run on another
 * with an operation queued before, run by a third once idle, run on after
 * a thread that had an operation in flight exited, run while the thread
 * that owns what is in flight still lives or is gone (-EEXIST on a
 * single-issuer io_uring ring, where only that thread may enter the
 * kernel), and deinitialised on another thread than the one that ran it.  On io_uring
 * the ring is set up disabled and owned by the first thread that runs it,
 * which is what this exercises.  Every check runs on every backend.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/utsname.h>

#include "tap.h"

#define PER_BACKEND 16

/* What a callback saw, and on which thread. */
struct seen {
	int calls;
	int result;
	pthread_t thread;
};

static xev_cb_action seen_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct seen *s = ud;
	(void)l, (void)c;
	s->calls++;
	s->result = result;
	s->thread = pthread_self();
	return XEV_DISARM;
}

static xev_cb_action timer_seen_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	return seen_cb(l, c, result, ud);
}

/* A gate a parked thread waits at until the main thread opens it. */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int open;
};

static void gate_wait(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = 1;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* One loop, one socket pair, and what each step saw. */
struct job {
	xev_loop *loop;
	int sv[2];
	char buf[8];
	xev_completion c;
	/* A timer, here rather than on the stack of a thread that exits: a
	 * loop that failed to run it still holds it. */
	xev_watcher tw;
	xev_completion tc;
	struct seen read, timer;
	int rc;
	struct gate queued; /* the parked thread has its read in flight */
	struct gate resume; /* main is done with the loop meanwhile */
	int finish;         /* then the parked thread runs it to the end */
};

static void *run_until_done(void *arg)
{
	struct job *j = arg;
	if (write(j->sv[1], "x", 1) != 1)
		bail("write to the socket pair failed");
	j->rc = xev_loop_run(j->loop, XEV_RUN_UNTIL_DONE);
	return NULL;
}

static void *run_a_timer(void *arg)
{
	struct job *j = arg;

	if (xev_timer_init(&j->tw) != 0)
		bail("xev_timer_init failed");
	xev_timer_run(&j->tw, j->loop, &j->tc, 1, &j->timer, timer_seen_cb);
	j->rc = xev_loop_run(j->loop, XEV_RUN_UNTIL_DONE);
	xev_timer_deinit(&j->tw);
	return NULL;
}

/* Queues a read and runs the loop once, so that the read is in flight,
 * then leaves it there. */
static void *read_in_flight_then_exit(void *arg)
{
	struct job *j = arg;
	xev_read(j->loop, &j->c, j->sv[0], j->buf, sizeof j->buf, &j->read, seen_cb);
	j->rc = xev_loop_run(j->loop, XEV_RUN_NO_WAIT);
	return NULL;
}

/* The same, but the thread lives on until the gate opens, then, if told
 * to, finishes its read. */
static void *read_in_flight_parked(void *arg)
{
	struct job *j = arg;
	read_in_flight_then_exit(j);
	gate_open(&j->queued);
	gate_wait(&j->resume);
	if (j->finish)
		run_until_done(j);
	return NULL;
}

static void on_thread(void *(*fn)(void *), struct job *j)
{
	pthread_t t;
	if (pthread_create(&t, NULL, fn, j) != 0)
		bail("pthread_create failed");
	pthread_join(t, NULL);
}

/* Does this io_uring loop take a single-issuer ring (Linux 6.1 and the
 * test not told to refuse it)? */
static int single_issuer_ring(xev_backend b)
{
	struct utsname u;
	int major = 0, minor = 0;
	const char *no = getenv("XEV_URING_NO_DEFER");

	if (b != XEV_BACKEND_IO_URING || (no && *no && strcmp(no, "0") != 0))
		return 0;
	if (uname(&u) != 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2)
		return 0;
	return major > 6 || (major == 6 && minor >= 1);
}

static void job_open(struct job *j, xev_loop *loop)
{
	memset(j, 0, sizeof *j);
	j->loop = loop;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, j->sv) != 0)
		bail("socketpair failed");
	pthread_mutex_init(&j->queued.mu, NULL);
	pthread_cond_init(&j->queued.cv, NULL);
	pthread_mutex_init(&j->resume.mu, NULL);
	pthread_cond_init(&j->resume.cv, NULL);
}

static void job_close(struct job *j)
{
	close(j->sv[0]);
	close(j->sv[1]);
	pthread_mutex_destroy(&j->queued.mu);
	pthread_cond_destroy(&j->queued.cv);
	pthread_mutex_destroy(&j->resume.mu);
	pthread_cond_destroy(&j->resume.cv);
}

/* Created here, read queued here, run on one thread; then run by another
 * when idle. */
static void check_created_here_run_there(xev_backend b, const char *bn)
{
	xev_loop loop;
	struct job j;

	tap_loop_init(&loop, b);
	job_open(&j, &loop);
	xev_read(&loop, &j.c, j.sv[0], j.buf, sizeof j.buf, &j.read, seen_cb);
	on_thread(run_until_done, &j);
	is_int(j.rc, 0, "%s: a loop created on one thread runs on another: 0", bn);
	ok(j.read.calls == 1 && j.read.result == 1,
	   "%s: the read queued before it ran completes there (calls %d, result %d)", bn, j.read.calls,
	   j.read.result);
	ok(j.read.calls == 1 && !pthread_equal(j.read.thread, pthread_self()),
	   "%s: its callback runs on the thread that runs the loop", bn);

	j.timer.calls = 0;
	on_thread(run_a_timer, &j);
	is_int(j.rc, 0, "%s: an idle loop runs on a third thread: 0", bn);
	is_int(j.timer.calls, 1, "%s: the timer it started there fires", bn);

	/* And back on this one. */
	j.timer.calls = 0;
	run_a_timer(&j);
	ok(j.rc == 0 && j.timer.calls == 1, "%s: and on the thread that created it (rc %d, calls %d)", bn,
	   j.rc, j.timer.calls);
	xev_loop_deinit(&loop);
	job_close(&j);
}

/*
 * A thread that exits with a read in flight.  On a single-issuer io_uring
 * ring only that thread could have completed it: the loop cannot move on
 * (-EEXIST) and is left for deinit, which releases all.  Elsewhere the
 * read completes on the thread that runs the loop now (on an older
 * io_uring ring the kernel may cancel it, since it went with its thread).
 */
static void check_owner_exited(xev_backend b, const char *bn)
{
	xev_loop loop;
	struct job j;
	int rc, single = single_issuer_ring(b);

	tap_loop_init(&loop, b);
	job_open(&j, &loop);
	on_thread(read_in_flight_then_exit, &j);
	ok(j.rc == 0 && j.read.calls == 0, "%s: a thread leaves a read in flight (rc %d, calls %d)", bn, j.rc,
	   j.read.calls);
	if (write(j.sv[1], "y", 1) != 1)
		bail("write to the socket pair failed");
	rc = xev_loop_run(&loop, single ? XEV_RUN_NO_WAIT : XEV_RUN_UNTIL_DONE);
	is_int(rc, single ? -EEXIST : 0, "%s: after it exited, another thread runs the loop: %d", bn,
	       single ? -EEXIST : 0);
	if (single)
		is_int(j.read.calls, 0, "%s: its read stays with it, for deinit", bn);
	else
		ok(j.read.calls == 1 && (j.read.result == 1 || (b == XEV_BACKEND_IO_URING && j.read.result == -ECANCELED)),
		   "%s: its read completes on the thread that runs the loop now (calls %d, result %d)", bn,
		   j.read.calls, j.read.result);
	xev_loop_deinit(&loop);
	is_int(xev_completion_state(&j.c), XEV_COMPLETION_DEAD, "%s: then deinit: completion dead", bn);
	job_close(&j);
}

/*
 * The thread that has a read in flight lives on while another runs the
 * loop: a single-issuer ring refuses (-EEXIST) and is left as it was; the
 * owner then finishes its read.
 */
static void check_owner_alive(xev_backend b, const char *bn)
{
	xev_loop loop;
	struct job j;
	pthread_t t;
	int rc, want = single_issuer_ring(b) ? -EEXIST : 0;

	tap_loop_init(&loop, b);
	job_open(&j, &loop);
	if (pthread_create(&t, NULL, read_in_flight_parked, &j) != 0)
		bail("pthread_create failed");
	gate_wait(&j.queued);
	rc = xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	is_int(rc, want, "%s: run while another thread owns what is in flight: %d", bn, want);
	is_int(j.read.calls, 0, "%s: the read is still in flight", bn);
	j.finish = 1;
	gate_open(&j.resume);
	pthread_join(t, NULL);
	ok(j.rc == 0 && j.read.calls == 1 && j.read.result == 1,
	   "%s: and its owner then completes it (rc %d, calls %d, result %d)", bn, j.rc, j.read.calls,
	   j.read.result);
	xev_loop_deinit(&loop);
	job_close(&j);
}

/* Deinit on another thread than the one that ran the loop, with a read in
 * flight: the completion reads DEAD, every descriptor is released. */
static void check_deinit_elsewhere(xev_backend b, const char *bn)
{
	xev_loop loop;
	struct job j;
	pthread_t t;
	int fds = tap_count_fds();

	tap_loop_init(&loop, b);
	job_open(&j, &loop);
	if (pthread_create(&t, NULL, read_in_flight_parked, &j) != 0)
		bail("pthread_create failed");
	gate_wait(&j.queued);
	xev_loop_deinit(&loop);
	is_int(xev_completion_state(&j.c), XEV_COMPLETION_DEAD,
	       "%s: deinit on another thread, read in flight: completion dead", bn);
	gate_open(&j.resume);
	pthread_join(t, NULL);
	is_int(j.read.calls, 0, "%s: and its callback never runs", bn);
	job_close(&j);
	is_int(tap_count_fds(), fds, "%s: every descriptor released", bn);
}

static void check_backend(xev_backend b, const char *bn)
{
	check_created_here_run_there(b, bn);
	check_owner_exited(b, bn);
	check_owner_alive(b, bn);
	check_deinit_elsewhere(b, bn);
}

int main(void)
{
	plan(TAP_NBACKENDS * PER_BACKEND);
	tap_each_backend(PER_BACKEND, check_backend);
	return done_testing();
}
