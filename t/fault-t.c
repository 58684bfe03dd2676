/* SPDX-License-Identifier: MIT */
/*
 * The kernel says no.  A workload with something of every kind in flight
 * (timers, an async watcher notified from pool work, pool work, a pipe
 * with its read end on a high fd so the fd table grows, a regular file,
 * a TCP connection from connect/accept to close, a child process, a
 * signal, a poll) runs while the library's own system calls fail on
 * purpose (lib/fault.h, configure --enable-fault-injection), on every
 * backend.  The rule checked, against a model of what was submitted:
 *
 *   every submitted operation gets exactly one callback, with its real
 *   result or a negative errno the fault explains; a fault the library
 *   hides (EINTR, a spurious EAGAIN, a busy ring) changes no result at
 *   all; the same loop then serves a clean workload exactly; no fd is
 *   left behind (memory: the ASan and valgrind jobs).
 *
 * Per site and errno: the first call fails, a call half way through
 * fails (in the long form: each call of a workload in turn), every third call fails, and (unless the library hides that
 * errno by trying again) every call fails, until the loop has failed 50
 * runs in a row, when the shortage ends.  Then random faults at every site
 * at once (short here, long in make stress).  Three conditions need no
 * injection and run on every build: a storm of real signals every
 * ~100 us through whole workloads, thousands of operations queued in one
 * tick on a ring of 4 entries (submission queue exhausted, completion
 * queue overflowing), and a thread pool that can start no thread.
 */
#define _GNU_SOURCE
#include "net.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#ifdef XEV_FAULT_INJECTION
#include "fault.h"
#define NSITES XEV__FAULT_NSITES
#else
#define NSITES 0
#endif

/* A point per site, one for random faults, one for a rebuilt epoll set;
 * then three more. */
#define PER_BACKEND ((NSITES ? NSITES + 4 : 0) + 3)
#define MSG 100
#define PIPE_BYTES 1000
#define FILE_BYTES 4096
#define HIGH_FD 300

static int full;

/* ---- the model ------------------------------------------------------ */

enum kind {
	K_TIMER, K_ASYNC, K_WORK, K_PIPE_W, K_PIPE_R, K_PWRITE, K_PREAD, K_ACCEPT, K_CONNECT,
	K_CSEND, K_SRECV, K_SSEND, K_CRECV, K_CLOSE, K_PROC, K_SIG, K_POLL, K_CANCEL, K_NKINDS
};
static const char *const kind_name[] = { "timer", "async", "work", "pipe write", "pipe read",
					 "pwrite", "pread", "accept", "connect", "client send",
					 "server recv", "server send", "client recv", "close",
					 "process", "signal", "poll", "cancel" };

struct op {
	xev_completion c;
	struct wl *w;
	enum kind kind;
	int inflight;
};

/* What a fault allows a callback to see. */
struct allow {
	int hidden;        /* nothing may differ from a clean run */
	int err;           /* the errno injected; -1: any the sites have */
};

#define NOPS 48

/* One workload on one loop. */
struct wl {
	xev_loop *loop;
	xev_threadpool *pool;
	const struct allow *allow;
	struct op ops[NOPS];
	int nops;
	int submitted, called, dups, wrong, outstanding, run_errors;
	uint64_t injected_before_heal;
	char first_wrong[160];
	/* the pieces */
	xev_watcher timers[3], async, proc, sig;
	int async_ok, proc_ok, sig_ok;
	pid_t pid;
	int pipe_w, pipe_r, file, lfd, cfd, sfd, sp[2];
	char pipe_out[PIPE_BYTES], pipe_in[4096], file_out[FILE_BYTES], file_in[FILE_BYTES];
	char c_out[MSG], c_in[MSG], s_in[MSG];
	struct sockaddr_in addr;
	int accept_tries;
	struct op *client_op, *accept_op, *first_timer;
	xev_watcher guard_w;
	xev_completion guard_c;
	int guard_live;
};

static const int consequences[] = { ECANCELED, ECONNRESET, EPIPE, ENOTCONN, 0 };

static int errno_in(int e, const int *list)
{
	for (; *list; list++)
		if (*list == e)
			return 1;
	return 0;
}

static int any_site_errno(int e)
{
#ifdef XEV_FAULT_INJECTION
	for (int s = 0; s < NSITES; s++)
		if (errno_in(e, xev__fault_site_errnos(s)))
			return 1;
#else
	(void)e;
#endif
	return 0;
}

/* May result (not the operation's success) be seen under this fault? */
static int allowed_failure(const struct wl *w, int result, int eof_ok)
{
	const struct allow *a = w->allow;

	if (a->hidden)
		return 0;
	if (result == 0)
		return eof_ok; /* the peer gave up: end of file */
	if (result > 0)
		return 0;
	if (errno_in(-result, consequences))
		return 1;
	return a->err < 0 ? any_site_errno(-result) : -result == a->err;
}

static void wrong(struct wl *w, struct op *o, int result, const char *why)
{
	if (!w->wrong++)
		snprintf(w->first_wrong, sizeof w->first_wrong, "%s: result %d (%s)", kind_name[o->kind],
			 result, why);
}

/* Judges a callback: success, or a failure the fault explains. */
static int judge(struct wl *w, struct op *o, int result, int success, int eof_ok)
{
	if (success)
		return 1;
	if (!allowed_failure(w, result, eof_ok)) {
		wrong(w, o, result, result < 0 ? strerror(-result) : "wrong value");
		return 0;
	}
	return 0;
}

static struct op *new_op(struct wl *w, enum kind k)
{
	struct op *o;

	if (w->nops == NOPS)
		bail("fault-t: NOPS too small");
	o = &w->ops[w->nops++];
	memset(o, 0, sizeof *o);
	o->w = w;
	o->kind = k;
	o->inflight = 1;
	w->submitted++;
	w->outstanding++;
	return o;
}

/* Every callback starts here: exactly once per submission. */
static struct op *arrive(void *ud)
{
	struct op *o = ud;
	struct wl *w = o->w;

	if (!o->inflight) {
		w->dups++;
		return o;
	}
	o->inflight = 0;
	w->called++;
	w->outstanding--;
	return o;
}

static xev_cb_action on_close(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct op *o = arrive(ud);
	(void)l, (void)c;
	/* The descriptor is gone either way (Linux frees it on EIO too). */
	judge(o->w, o, result, result == 0, 0);
	return XEV_DISARM;
}

static void close_fd(struct wl *w, int *fd)
{
	struct op *o;

	if (*fd < 0)
		return;
	o = new_op(w, K_CLOSE);
	xev_close(w->loop, &o->c, *fd, o, on_close);
	*fd = -1;
}

static xev_cb_action on_cancel(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct op *o = arrive(ud);
	(void)l, (void)c;
	judge(o->w, o, result, result == 0 || result == -ENOENT, 0);
	return XEV_DISARM;
}

static void cancel_op(struct wl *w, struct op *t)
{
	struct op *o;

	if (!t || !t->inflight)
		return;
	o = new_op(w, K_CANCEL);
	xev_cancel(w->loop, &o->c, &t->c, o, on_cancel);
}

/* ---- timers, async, work, signal ------------------------------------ */

static xev_cb_action on_timer(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct op *o = arrive(ud);
	struct wl *w = o->w;
	(void)l, (void)c;
	judge(w, o, result, result == 0, 0);
	if (o == w->first_timer && w->sig_ok)
		kill(getpid(), SIGUSR2);
	return XEV_DISARM;
}

static xev_cb_action on_async(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct op *o = arrive(ud);
	(void)l, (void)c;
	judge(o->w, o, result, result == 0, 0);
	return XEV_DISARM;
}

static void work_fn(void *ud)
{
	struct op *o = ud;
	xev_async_notify(&o->w->async);
}

static xev_cb_action on_work(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct op *o = arrive(ud);
	struct wl *w = o->w;
	(void)l, (void)c;
	/* Not run (no thread could start): the notice comes from here. */
	if (!judge(w, o, result, result == 0, 0))
		xev_async_notify(&w->async);
	return XEV_DISARM;
}

static xev_cb_action on_signal(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct op *o = arrive(ud);
	(void)l, (void)c;
	judge(o->w, o, result, result == SIGUSR2, 0);
	return XEV_DISARM;
}

static xev_cb_action on_proc(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct op *o = arrive(ud);
	(void)l, (void)c;
	judge(o->w, o, result, result >= 0 && WIFEXITED(result) && WEXITSTATUS(result) == 3, 0);
	return XEV_DISARM;
}

static xev_cb_action on_poll(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct op *o = arrive(ud);
	(void)l, (void)c;
	judge(o->w, o, result, result > 0 && (result & POLLOUT), 0);
	return XEV_DISARM;
}

/* ---- the pipe and the file ------------------------------------------ */

static xev_cb_action on_pipe_w(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct op *o = arrive(ud);
	struct wl *w = o->w;
	(void)l, (void)c;
	judge(w, o, result, result == PIPE_BYTES, 0);
	close_fd(w, &w->pipe_w); /* the reader sees the data, or the end */
	return XEV_DISARM;
}

static xev_cb_action on_pipe_r(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct op *o = arrive(ud);
	struct wl *w = o->w;
	(void)l, (void)c;
	/* A pipe write of at most PIPE_BUF bytes arrives whole. */
	judge(w, o, result, result == PIPE_BYTES && !memcmp(w->pipe_in, w->pipe_out, PIPE_BYTES), 1);
	close_fd(w, &w->pipe_r);
	return XEV_DISARM;
}

static xev_cb_action on_pread(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct op *o = arrive(ud);
	struct wl *w = o->w;
	(void)l, (void)c;
	judge(w, o, result, result == FILE_BYTES && !memcmp(w->file_in, w->file_out, FILE_BYTES), 0);
	return XEV_DISARM;
}

static xev_cb_action on_pwrite(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct op *o = arrive(ud);
	struct wl *w = o->w;
	(void)l, (void)c;
	if (judge(w, o, result, result == FILE_BYTES, 0)) {
		struct op *r = new_op(w, K_PREAD);
		xev_pread(w->loop, &r->c, w->file, w->file_in, FILE_BYTES, 0, r, on_pread);
	}
	return XEV_DISARM;
}

/* ---- TCP: connect, accept, a round trip, close ---------------------- */

static xev_cb_action on_crecv(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct op *o = arrive(ud);
	struct wl *w = o->w;
	(void)l, (void)c;
	w->client_op = NULL;
	judge(w, o, result, result == MSG && !memcmp(w->c_in, w->c_out, MSG), 1);
	close_fd(w, &w->cfd);
	return XEV_DISARM;
}

static xev_cb_action on_csend(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct op *o = arrive(ud);
	struct wl *w = o->w;
	(void)l, (void)c;
	w->client_op = NULL;
	if (judge(w, o, result, result == MSG, 0)) {
		struct op *r = new_op(w, K_CRECV);
		w->client_op = r;
		xev_recv(w->loop, &r->c, w->cfd, w->c_in, MSG, MSG_WAITALL, r, on_crecv);
	} else {
		close_fd(w, &w->cfd); /* the server's recv sees the end */
	}
	return XEV_DISARM;
}

static xev_cb_action on_connect(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct op *o = arrive(ud);
	struct wl *w = o->w;
	(void)l, (void)c;
	w->client_op = NULL;
	if (judge(w, o, result, result == 0, 0)) {
		struct op *s = new_op(w, K_CSEND);
		w->client_op = s;
		xev_send(w->loop, &s->c, w->cfd, w->c_out, MSG, 0, s, on_csend);
	} else {
		/* Nothing will come to accept. */
		cancel_op(w, w->accept_op);
		close_fd(w, &w->cfd);
	}
	return XEV_DISARM;
}

static xev_cb_action on_ssend(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct op *o = arrive(ud);
	struct wl *w = o->w;
	(void)l, (void)c;
	judge(w, o, result, result == MSG, 0);
	close_fd(w, &w->sfd);
	return XEV_DISARM;
}

static xev_cb_action on_srecv(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct op *o = arrive(ud);
	struct wl *w = o->w;
	(void)l, (void)c;
	if (judge(w, o, result, result == MSG, 1)) {
		struct op *s = new_op(w, K_SSEND);
		xev_send(w->loop, &s->c, w->sfd, w->s_in, MSG, 0, s, on_ssend);
	} else {
		close_fd(w, &w->sfd);
	}
	return XEV_DISARM;
}

static void submit_accept(struct wl *w);

static xev_cb_action on_accept(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct op *o = arrive(ud);
	struct wl *w = o->w;
	(void)l, (void)c;
	w->accept_op = NULL;
	if (judge(w, o, result, result >= 0, 0)) {
		struct op *r = new_op(w, K_SRECV);
		w->sfd = result;
		xev_recv(w->loop, &r->c, w->sfd, w->s_in, MSG, MSG_WAITALL, r, on_srecv);
	} else if (result != -ECANCELED && w->cfd >= 0 && ++w->accept_tries < 8) {
		submit_accept(w); /* as a server does: the connection still waits */
	} else {
		cancel_op(w, w->client_op);
	}
	return XEV_DISARM;
}

static void submit_accept(struct wl *w)
{
	struct op *o = new_op(w, K_ACCEPT);
	w->accept_op = o;
	xev_accept(w->loop, &o->c, w->lfd, NULL, NULL, o, on_accept);
}

/* ---- the guard: a lost completion fails a check, never hangs -------- */

/* Ticks while the model has something outstanding, so that
 * XEV_RUN_ONCE never blocks for good. */
static xev_cb_action on_guard(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct wl *w = ud;
	(void)l, (void)c, (void)result;
	return w->outstanding > 0 && w->guard_live ? XEV_REARM : XEV_DISARM;
}

/* ---- one workload --------------------------------------------------- */

static void fork_child(struct wl *w)
{
	w->pid = fork();
	if (w->pid < 0)
		bail("fork failed");
	if (w->pid == 0) {
		struct timespec ts = { 0, 2000000 };
		nanosleep(&ts, NULL);
		_exit(3);
	}
}

static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* Sets up and submits everything; returns with it all in flight. */
static void start(struct wl *w, xev_loop *loop, xev_threadpool *pool, const struct allow *allow)
{
	int p[2], fd, rc;
	struct op *o;

	memset(w, 0, sizeof *w);
	w->loop = loop;
	w->pool = pool;
	w->allow = allow;
	w->pipe_w = w->pipe_r = w->file = w->lfd = w->cfd = w->sfd = w->sp[0] = w->sp[1] = -1;
	for (int i = 0; i < PIPE_BYTES; i++)
		w->pipe_out[i] = (char)('a' + i % 26);
	for (int i = 0; i < FILE_BYTES; i++)
		w->file_out[i] = (char)(i * 7);
	for (int i = 0; i < MSG; i++)
		w->c_out[i] = (char)('A' + i % 26);

	/* the guard, not in the model */
	xev_timer_init(&w->guard_w);
	w->guard_live = 1;
	xev_timer_run(&w->guard_w, loop, &w->guard_c, 20, w, on_guard);

	/* a signal, raised by the first timer */
	rc = xev_signal_init(&w->sig, SIGUSR2);
	if (rc == 0) {
		w->sig_ok = 1;
		o = new_op(w, K_SIG);
		xev_signal_wait(&w->sig, loop, &o->c, o, on_signal);
	} else if (!allowed_failure(w, rc, 0)) {
		w->wrong++;
		snprintf(w->first_wrong, sizeof w->first_wrong, "xev_signal_init: %d", rc);
	}
	for (int i = 0; i < 3; i++) {
		xev_timer_init(&w->timers[i]);
		o = new_op(w, K_TIMER);
		if (i == 0)
			w->first_timer = o;
		xev_timer_run(&w->timers[i], loop, &o->c, (uint64_t)(1 + 2 * i), o, on_timer);
	}

	/* async, notified by pool work */
	xev_async_init(&w->async);
	o = new_op(w, K_ASYNC);
	xev_async_wait(&w->async, loop, &o->c, o, on_async);
	for (int i = 0; i < 2; i++) {
		o = new_op(w, K_WORK);
		xev_work(loop, &o->c, pool, work_fn, o, on_work);
	}

	/* a pipe whose read end is far up the fd table */
	tap_pipe(p, 1);
	fd = fcntl(p[0], F_DUPFD_CLOEXEC, HIGH_FD);
	if (fd < 0)
		bail("F_DUPFD_CLOEXEC failed");
	close(p[0]);
	w->pipe_r = fd;
	w->pipe_w = p[1];
	o = new_op(w, K_PIPE_R);
	xev_read(loop, &o->c, w->pipe_r, w->pipe_in, sizeof w->pipe_in, o, on_pipe_r);
	o = new_op(w, K_PIPE_W);
	xev_write(loop, &o->c, w->pipe_w, w->pipe_out, PIPE_BYTES, o, on_pipe_w);

	/* a regular file */
	w->file = temp_file("fault-t");
	o = new_op(w, K_PWRITE);
	xev_pwrite(loop, &o->c, w->file, w->file_out, FILE_BYTES, 0, o, on_pwrite);

	/* TCP */
	w->lfd = tcp_listener(&w->addr, 8);
	w->cfd = tcp_socket();
	submit_accept(w);
	o = new_op(w, K_CONNECT);
	w->client_op = o;
	xev_connect(loop, &o->c, w->cfd, (struct sockaddr *)&w->addr, sizeof w->addr, o, on_connect);

	/* a poll */
	tap_socketpair(AF_UNIX, SOCK_STREAM, 1, w->sp);
	o = new_op(w, K_POLL);
	xev_poll(loop, &o->c, w->sp[0], POLLOUT, o, on_poll);

	/* a child */
	fork_child(w);
	rc = xev_process_init(&w->proc, w->pid);
	if (rc == 0) {
		w->proc_ok = 1;
		o = new_op(w, K_PROC);
		xev_process_wait(&w->proc, loop, &o->c, o, on_proc);
	} else if (!allowed_failure(w, rc, 0)) {
		w->wrong++;
		snprintf(w->first_wrong, sizeof w->first_wrong, "xev_process_init: %d", rc);
	}
}

static uint64_t injected_now(void);
static void set_plan(const void *plan);

/* Runs until every operation called back (5 s at most).  A wait that
 * keeps failing (a shortage that lasts) makes no progress, by design:
 * after 50 failed runs the shortage ends, and everything must then
 * complete.  Returns the operations still outstanding. */
static int finish(struct wl *w)
{
	int64_t end = mono_ms() + 5000;
	int lost;

	while (w->outstanding > 0 && mono_ms() < end) {
		int rc = xev_loop_run(w->loop, XEV_RUN_ONCE);
		if (rc < 0) {
			if (++w->run_errors == 50) {
				w->injected_before_heal = injected_now();
				set_plan(NULL);
			}
			if (!w->allow->hidden && (w->allow->err < 0 ? any_site_errno(-rc) : -rc == w->allow->err))
				continue;
			if (!w->wrong++)
				snprintf(w->first_wrong, sizeof w->first_wrong, "xev_loop_run: %d", rc);
		}
	}
	lost = w->outstanding;
	if (lost) {
		for (int i = 0; i < w->nops; i++)
			if (w->ops[i].inflight) {
				diag("lost: %s", kind_name[w->ops[i].kind]);
				break;
			}
	}
	return lost;
}

/* What is left after the model is settled: watchers and descriptors. */
static void tidy(struct wl *w)
{
	w->guard_live = 0;
	if (!w->outstanding)
		while (xev_loop_run(w->loop, XEV_RUN_UNTIL_DONE) < 0)
			;
	if (w->sig_ok)
		xev_signal_deinit(&w->sig);
	if (w->proc_ok)
		xev_process_deinit(&w->proc);
	reap(w->pid); /* whether or not the wait reaped it: ECHILD then */
	xev_async_deinit(&w->async);
	for (int i = 0; i < 3; i++)
		xev_timer_deinit(&w->timers[i]);
	xev_timer_deinit(&w->guard_w);
	int *fds[] = { &w->pipe_w, &w->pipe_r, &w->file, &w->lfd, &w->cfd, &w->sfd, &w->sp[0], &w->sp[1] };
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
}

/* ---- a round: faults on, a workload; faults off, a clean one -------- */

struct tally {
	int rounds, submitted, called, dups, wrong, lost, run_errors, fd_leaks, unclean;
	uint64_t injected;
	char first[200];
};

static void note_first(struct tally *t, const char *fmt, const char *what)
{
	if (!t->first[0])
		snprintf(t->first, sizeof t->first, fmt, what);
}

static int init_with_retries(xev_loop *loop, xev_backend b, xev_threadpool *pool)
{
	xev_loop_options o;
	int rc = -1;

	xev_loop_options_init(&o);
	xev_loop_options_set_backend(&o, b);
	xev_loop_options_set_threadpool(&o, pool);
	for (int i = 0; i < 8 && rc < 0; i++)
		rc = xev_loop_init_with_options(loop, &o);
	return rc;
}

static void set_plan(const void *plan)
{
#ifdef XEV_FAULT_INJECTION
	xev__fault_set(plan);
#else
	(void)plan;
#endif
}

static uint64_t injected_now(void)
{
	uint64_t n = 0;
#ifdef XEV_FAULT_INJECTION
	for (int s = 0; s < NSITES; s++)
		n += xev__fault_injected(s);
#endif
	return n;
}

static void add_workload(struct tally *t, struct wl *w, int lost)
{
	t->submitted += w->submitted;
	t->called += w->called;
	t->dups += w->dups;
	t->wrong += w->wrong;
	t->lost += lost;
	t->run_errors += w->run_errors;
	if (w->wrong)
		note_first(t, "%s", w->first_wrong);
	if (w->dups)
		note_first(t, "%s", "a callback ran twice");
	if (lost)
		note_first(t, "%s", "a completion was lost");
}

static void round_(struct tally *t, xev_backend b, const void *plan, const struct allow *allow)
{
	static const struct allow clean = { 1, 0 };
	xev_threadpool pool;
	xev_threadpool_config cfg;
	xev_loop loop;
	struct wl *w = calloc(1, sizeof *w);
	int fds0 = tap_count_fds(), rc = -1, lost;

	if (!w)
		bail("calloc failed");
	t->rounds++;
	set_plan(plan);
	xev_threadpool_config_init(&cfg);
	xev_threadpool_config_set_max_threads(&cfg, 2);
	for (int i = 0; i < 8 && rc < 0; i++)
		rc = xev_threadpool_init(&pool, &cfg);
	if (rc == 0) {
		rc = init_with_retries(&loop, b, &pool);
		if (rc < 0)
			xev_threadpool_deinit(&pool);
	}
	if (rc < 0) {
		/* A shortage that outlasts every try: set-up says so with the
		 * fault's errno, leaves nothing behind, and works once the
		 * shortage is over. */
		t->injected += injected_now();
		set_plan(NULL);
		if (!allowed_failure(&(struct wl){ .allow = allow }, rc, 0) || tap_count_fds() != fds0) {
			t->unclean++;
			note_first(t, "%s", "set-up failed with an errno the fault does not explain, or leaked");
		}
		pool_init(&pool, 2);
		if (init_with_retries(&loop, b, &pool) < 0)
			bail("xev_loop_init fails with no fault");
		goto clean;
	}
	start(w, &loop, &pool, allow);
	lost = finish(w);
	t->injected += w->injected_before_heal ? w->injected_before_heal : injected_now();
	set_plan(NULL);
	add_workload(t, w, lost);
	if (lost) {
		/* Deinit marks what is left dead; nothing more to learn. */
		tidy(w);
		xev_loop_deinit(&loop);
		xev_threadpool_deinit(&pool);
		free(w);
		return;
	}
	tidy(w);
clean:
	/* The same loop, the fault gone: everything exact. */
	start(w, &loop, &pool, &clean);
	lost = finish(w);
	if (w->wrong || w->dups || lost)
		t->unclean++;
	add_workload(t, w, lost);
	tidy(w);
	xev_loop_deinit(&loop);
	xev_threadpool_deinit(&pool);
	free(w);
	if (tap_count_fds() != fds0) {
		t->fd_leaks++;
		note_first(t, "%s", "descriptors left behind");
	}
}

static int tally_ok(const struct tally *t)
{
	return t->submitted == t->called && !t->dups && !t->wrong && !t->lost && !t->fd_leaks &&
	       !t->unclean;
}

static void report(const char *bn, const char *what, const struct tally *t, int fds0)
{
	ok(tally_ok(t),
	   "%s: %s: %d rounds, %llu faults, %d operations, %d callbacks, %d twice, %d wrong, "
	   "%d lost, %d run errors, fds %d->%d%s%s",
	   bn, what, t->rounds, (unsigned long long)t->injected, t->submitted, t->called, t->dups,
	   t->wrong, t->lost, t->run_errors, fds0, tap_count_fds(), t->first[0] ? ": first: " : "",
	   t->first);
}

/* ---- injection per site --------------------------------------------- */

#ifdef XEV_FAULT_INJECTION
/* Does the library hide this fault from every caller? */
static int hidden(int site, int e)
{
	if (e == EINTR || site == XEV__FS_URING_ENTER || site == XEV__FS_URING_SQE)
		return 1;
	if (e == EAGAIN)
		return site == XEV__FS_READ || site == XEV__FS_WRITE || site == XEV__FS_RECV ||
		       site == XEV__FS_SEND || site == XEV__FS_ACCEPT || site == XEV__FS_CONNECT ||
		       site == XEV__FS_WAKEUP_READ;
	return 0;
}

/* The error a caller may see for this fault: dropped work the kernel
 * never gets done ends with -EAGAIN (xev(7)). */
static int seen_as(int site, int e)
{
	return site == XEV__FS_URING_DROP ? EAGAIN : e;
}

static uint64_t calls_per_round[NSITES];

static const char *errno_name(int e)
{
	switch (e) {
	case EINTR: return "EINTR";
	case EAGAIN: return "EAGAIN";
	case EBUSY: return "EBUSY";
	case ECANCELED: return "ECANCELED";
	case ENOMEM: return "ENOMEM";
	case EMFILE: return "EMFILE";
	case ENFILE: return "ENFILE";
	case EPERM: return "EPERM";
	case ENOSPC: return "ENOSPC";
	case EINVAL: return "EINVAL";
	case EIO: return "EIO";
	case ECONNRESET: return "ECONNRESET";
	case ECONNABORTED: return "ECONNABORTED";
	case ENOBUFS: return "ENOBUFS";
	default: return "E?";
	}
}

static void calibrate(xev_backend b)
{
	struct xev__fault_plan count_only = { .site = -1, .permille = 0, .after = UINT32_MAX };
	struct tally t = { 0 };
	static const struct allow clean = { 1, 0 };

	xev__fault_set(&count_only);
	{
		xev_threadpool pool;
		xev_loop loop;
		struct wl *w = calloc(1, sizeof *w);
		pool_init(&pool, 2);
		if (init_with_retries(&loop, b, &pool) < 0 || !w)
			bail("calibration: no loop");
		start(w, &loop, &pool, &clean);
		add_workload(&t, w, finish(w));
		for (int s = 0; s < NSITES; s++)
			calls_per_round[s] = xev__fault_calls(s);
		tidy(w);
		xev_loop_deinit(&loop);
		xev_threadpool_deinit(&pool);
		free(w);
	}
	xev__fault_set(NULL);
}

/* XEV_FAULT_ROUND=N: only random round N, to replay one that failed. */
static int replay = -1;

static void run_site(xev_backend b, const char *bn, int site)
{
	const int *errs = xev__fault_site_errnos(site);
	uint64_t calls = calls_per_round[site];
	struct tally t = { 0 };
	char what[160], list[96] = "";
	int fds0 = tap_count_fds();

	if (replay >= 0) {
		skip(1, "replaying one random round");
		return;
	}

	for (const int *e = errs; *e; e++) {
		struct allow a = { hidden(site, *e), seen_as(site, *e) };
		size_t len = strlen(list);
		/* Short: the first call and one half way.  Long: each call of
		 * a workload in turn (at most 64). */
		uint32_t n = full ? (calls < 64 ? (uint32_t)calls : 64) : (calls > 1 ? 2 : 1);

		snprintf(list + len, sizeof list - len, "%s%s", len ? " " : "", errno_name(*e));
		if (!calls)
			continue;
		for (uint32_t k = 0; k < n; k++) {
			uint32_t after = full ? k : k * (uint32_t)(calls / 2);
			struct xev__fault_plan p = { .site = site, .err = *e, .after = after };
			round_(&t, b, &p, &a);
		}
		struct xev__fault_plan every = { .site = site, .err = *e, .every = 3, .after = 0 };
		round_(&t, b, &every, &a);
		/* A shortage that lasts: every call fails.  Not for what the
		 * library hides by trying again, which no kernel says for
		 * ever. */
		if (!a.hidden) {
			struct xev__fault_plan always = { .site = site, .err = *e, .every = 1 };
			round_(&t, b, &always, &a);
		}
	}
	snprintf(what, sizeof what, "%s (%s), %llu calls a workload", xev__fault_site_name(site), list,
		 (unsigned long long)calls);
	if (!calls) {
		ok(1, "%s: %s: not reached on this backend", bn, what);
		return;
	}
	report(bn, what, &t, fds0);
}

static void run_random(xev_backend b, const char *bn)
{
	struct tally t = { 0 };
	int rounds = full ? 3000 : 40, fds0 = tap_count_fds();
	static const struct allow any = { 0, -1 };
	char what[96];

	for (int i = replay >= 0 ? replay : 0; i < (replay >= 0 ? replay + 1 : rounds); i++) {
		struct xev__fault_plan p = {
			.site = -1,
			.permille = (uint32_t)(5 + (i * 37) % 56),
			.seed = (uint64_t)i * 0x9e3779b97f4a7c15u + (uint64_t)b,
		};
		int bad = t.wrong + t.lost + t.dups + t.unclean + t.fd_leaks;
		round_(&t, b, &p, &any);
		if (t.wrong + t.lost + t.dups + t.unclean + t.fd_leaks != bad)
			diag("%s: random round %d went wrong: XEV_FAULT_ROUND=%d replays it", bn, i, i);
	}
	snprintf(what, sizeof what, "random faults at every site, 0.5-6%% of calls");
	report(bn, what, &t, fds0);
}

/*
 * epoll keys registrations by open file: a descriptor closed behind the
 * loop's back while a duplicate keeps its file open (a forked child's
 * copy, say) stays registered under its old number, and when a new file
 * gets that number its events come back as "stale": the loop rebuilds
 * its epoll set.  Here every epoll_ctl fails while it does, which once
 * left the new set without the loop's wake-up and without the parked
 * operations (found by the random campaign).  The read parked on the new
 * file must still complete once the shortage ends.
 */
static xev_cb_action on_read1(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c;
	*(int *)ud = result;
	return XEV_DISARM;
}

static void run_rebuild(xev_backend b, const char *bn)
{
	struct xev__fault_plan fail_ctl = { .site = XEV__FS_EPOLL_CTL, .err = ENOMEM, .every = 1 };
	xev_loop loop;
	xev_completion c1, c2;
	int a[2], bp[2], keep, r1 = INT_MIN, r2 = INT_MIN, errors = 0, fds0 = tap_count_fds();
	char buf1[8], buf2[8];
	int64_t end;

	if (replay >= 0) {
		skip(1, "replaying one random round");
		return;
	}
	tap_loop_init(&loop, b);
	tap_pipe(a, 1);
	keep = dup(a[0]);
	xev_read(&loop, &c1, a[0], buf1, sizeof buf1, &r1, on_read1);
	if (write(a[1], "x", 1) != 1)
		bail("write failed");
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	/* Behind the loop's back; the file stays open through keep. */
	close(a[0]);
	tap_pipe(bp, 1);
	if (bp[0] != a[0]) {
		if (dup2(bp[0], a[0]) < 0)
			bail("dup2 failed");
		close(bp[0]);
		bp[0] = a[0];
	}
	xev_read(&loop, &c2, bp[0], buf2, sizeof buf2, &r2, on_read1);
	xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	/* An event of the old file: stale, on epoll. */
	xev__fault_set(&fail_ctl);
	if (write(a[1], "y", 1) != 1)
		bail("write failed");
	for (int i = 0; i < 5; i++)
		errors += xev_loop_run(&loop, XEV_RUN_NO_WAIT) < 0;
	xev__fault_set(NULL);
	if (write(bp[1], "z", 1) != 1)
		bail("write failed");
	end = mono_ms() + 2000;
	while (r2 == INT_MIN && mono_ms() < end)
		xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	ok(r1 == 1 && r2 == 1 && buf2[0] == 'z',
	   "%s: a stale registration, its set rebuilt while every epoll_ctl fails: %d failed runs, "
	   "then the read parked on the new file gets %d (1)",
	   bn, errors, r2);
	xev_loop_deinit(&loop);
	close(keep);
	close(a[1]);
	close(bp[0]);
	close(bp[1]);
	if (tap_count_fds() != fds0)
		diag("%s: rebuild scenario left descriptors", bn);
}
#endif

/* ---- conditions that need no injection ------------------------------ */

static pthread_t storm_target;
static atomic_int storm_on;
static atomic_long storm_sent;

static void on_urg(int sig)
{
	(void)sig;
}

static void *storm(void *arg)
{
	(void)arg;
	while (atomic_load(&storm_on)) {
		struct timespec ts = { 0, 100000 };
		pthread_kill(storm_target, SIGURG);
		atomic_fetch_add(&storm_sent, 1);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void run_storm(xev_backend b, const char *bn)
{
	static const struct allow clean = { 1, 0 };
	struct sigaction sa, old;
	struct tally t = { 0 };
	pthread_t th;
	int fds0 = tap_count_fds(), rounds = full ? 400 : 15;
	char what[96];

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_urg; /* no SA_RESTART: every wait is cut short */
	sigaction(SIGURG, &sa, &old);
	storm_target = pthread_self();
	atomic_store(&storm_on, 1);
	atomic_store(&storm_sent, 0);
	if (pthread_create(&th, NULL, storm, NULL))
		bail("pthread_create failed");
	for (int i = 0; i < rounds; i++)
		round_(&t, b, NULL, &clean);
	atomic_store(&storm_on, 0);
	pthread_join(th, NULL);
	sigaction(SIGURG, &old, NULL);
	snprintf(what, sizeof what, "a signal every 100 us (%ld sent) through every workload",
		 atomic_load(&storm_sent));
	report(bn, what, &t, fds0);
}

/* Thousands of operations queued in one tick on a ring of 4 entries:
 * the submission queue is full every 4, and nearly all of them finish at
 * once, far more than the completion queue holds. */
struct flood {
	xev_completion c;
	int inflight, result;
	int *called, *dups;
};

static xev_cb_action on_flood(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct flood *f = ud;
	(void)l, (void)c;
	if (!f->inflight)
		(*f->dups)++;
	f->inflight = 0;
	f->result = result;
	(*f->called)++;
	return XEV_DISARM;
}

static void run_flood(xev_backend b, const char *bn)
{
	int npoll = full ? 30000 : 3000, nwrite = full ? 20000 : 1000, n = npoll + nwrite;
	struct flood *f = calloc((size_t)n, sizeof *f);
	xev_loop_options o;
	xev_loop loop;
	int sp[2], p[2], called = 0, dups = 0, wrong = 0, fds0 = tap_count_fds(), rc;
	char one = 'x', *sink = malloc((size_t)nwrite);
	ssize_t got = 0, k;

	if (!f || !sink)
		bail("calloc failed");
	xev_loop_options_init(&o);
	xev_loop_options_set_backend(&o, b);
	xev_loop_options_set_entries(&o, 4);
	if (xev_loop_init_with_options(&loop, &o) < 0)
		bail("xev_loop_init failed");
	tap_socketpair(AF_UNIX, SOCK_STREAM, 1, sp);
	tap_pipe(p, 1);
#ifdef F_SETPIPE_SZ
	fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
#endif
	for (int i = 0; i < n; i++) {
		f[i].inflight = 1;
		f[i].called = &called;
		f[i].dups = &dups;
		if (i < npoll)
			xev_poll(&loop, &f[i].c, sp[0], POLLOUT, &f[i], on_flood);
		else
			xev_write(&loop, &f[i].c, p[1], &one, 1, &f[i], on_flood);
	}
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	for (int i = 0; i < n; i++)
		wrong += i < npoll ? !(f[i].result > 0 && (f[i].result & POLLOUT)) : f[i].result != 1;
	while ((k = read(p[0], sink, (size_t)nwrite)) > 0)
		got += k;
	ok(rc == 0 && called == n && !dups && !wrong && got == nwrite,
	   "%s: %d polls and %d writes queued in one tick on a ring of 4: run %d, %d callbacks, "
	   "%d twice, %d wrong, %zd bytes arrived",
	   bn, npoll, nwrite, rc, called, dups, wrong, got);
	close(sp[0]);
	close(sp[1]);
	close(p[0]);
	close(p[1]);
	xev_loop_deinit(&loop);
	free(f);
	free(sink);
	if (tap_count_fds() != fds0)
		diag("%s: flood left descriptors", bn);
}

/* A pool that takes no more work (shut down): work still calls back,
 * and a file operation is done without it.  (A pool that cannot start a
 * thread is the pthread_create site above.) */
static xev_cb_action on_refused(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c;
	*(int *)ud = result;
	return XEV_DISARM;
}

static void nothing(void *ud)
{
	(void)ud;
}

static void run_refused_pool(xev_backend b, const char *bn)
{
	xev_threadpool pool;
	xev_loop loop;
	xev_completion c, r;
	int work = 1, read_r = 1, fd = temp_file("fault-t-pool"), fds0;
	char buf[16];

	pool_init(&pool, 1);
	tap_loop_init_pool(&loop, b, &pool);
	fds0 = tap_count_fds();
	if (pwrite(fd, "0123456789", 10, 0) != 10)
		bail("pwrite failed");
	xev_threadpool_shutdown(&pool);
	xev_work(&loop, &c, &pool, nothing, &work, on_refused);
	xev_read(&loop, &r, fd, buf, sizeof buf, &read_r, on_refused);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(work == -ECANCELED && read_r == 10,
	   "%s: a pool that takes no work: xev_work %d (-ECANCELED), a file read %d (10, done "
	   "without the pool), fds %d->%d",
	   bn, work, read_r, fds0, tap_count_fds());
	xev_loop_deinit(&loop);
	xev_threadpool_deinit(&pool);
	close(fd);
}

#ifdef XEV_FAULT_INJECTION
/*
 * Work the kernel's worker threads drop (io_uring: no thread could be
 * started; completed -ECANCELED, never begun).  Played by the URING_DROP
 * site, which only a ring reaches: elsewhere the same calls must simply
 * succeed.  Once, nobody may notice; for good, a file transfer and a
 * shutdown are still done, and a receive fails with -EAGAIN.
 */
static int dropped_here(uint64_t before)
{
	return xev__fault_injected(XEV__FS_URING_DROP) > before;
}

static void run_dropped(xev_backend b, const char *bn)
{
	struct xev__fault_plan once = { .site = XEV__FS_URING_DROP, .err = ECANCELED };
	struct xev__fault_plan always = { .site = XEV__FS_URING_DROP, .err = ECANCELED, .every = 1 };
	xev_loop loop;
	xev_completion cw, cs, cr;
	int wr = 1, sr = 1, rr = 1, fd = temp_file("fault-t-drop"), sv[2], fds0, reached;
	uint64_t drops_w;
	char out[64], back[64], in[8];

	memset(out, 'd', sizeof out);
	tap_loop_init(&loop, b);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || write(sv[1], "hello", 5) != 5)
		bail("socketpair failed");
	fds0 = tap_count_fds();

	xev__fault_set(&once);
	xev_pwrite(&loop, &cw, fd, out, sizeof out, 0, &wr, on_refused);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	reached = dropped_here(0);
	ok(wr == (int)sizeof out && pread(fd, back, sizeof back, 0) == (ssize_t)sizeof back &&
		   memcmp(out, back, sizeof out) == 0,
	   "%s: a write the kernel dropped once (%s): %d (64), written", bn,
	   reached ? "dropped" : "site not reached", wr);

	xev__fault_set(&always);
	memset(out, 'e', sizeof out);
	xev_pwrite(&loop, &cw, fd, out, sizeof out, 0, &wr, on_refused);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	drops_w = xev__fault_injected(XEV__FS_URING_DROP);
	xev_shutdown(&loop, &cs, sv[0], SHUT_WR, &sr, on_refused);
	xev_recv(&loop, &cr, sv[0], in, sizeof in, 0, &rr, on_refused);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	reached = dropped_here(drops_w);
	xev__fault_set(NULL);
	ok(wr == (int)sizeof out && pread(fd, back, sizeof back, 0) == (ssize_t)sizeof back &&
		   memcmp(out, back, sizeof out) == 0 && (drops_w == 0 || drops_w == 4) && sr == 0 &&
		   rr == (reached ? -EAGAIN : 5) && tap_count_fds() == fds0,
	   "%s: the kernel drops everything (%s): write %d (64) after %llu drops (4 where "
	   "dropped), shutdown %d (0), recv %d (-EAGAIN where dropped, else 5), fds %d->%d",
	   bn, reached ? "dropped" : "site not reached", wr, (unsigned long long)drops_w, sr, rr,
	   fds0, tap_count_fds());
	xev_loop_deinit(&loop);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}
#endif

static void run_backend(xev_backend b, const char *bn)
{
#ifdef XEV_FAULT_INJECTION
	calibrate(b);
	for (int s = 0; s < NSITES; s++)
		run_site(b, bn, s);
	run_random(b, bn);
	run_rebuild(b, bn);
	run_dropped(b, bn);
#endif
	run_storm(b, bn);
	run_flood(b, bn);
	run_refused_pool(b, bn);
}

int main(void)
{
	const char *mode = getenv("XEV_STRESS");

	full = mode && strcmp(mode, "full") == 0;
#ifdef XEV_FAULT_INJECTION
	if (getenv("XEV_FAULT_ROUND"))
		replay = atoi(getenv("XEV_FAULT_ROUND"));
#endif
	signal(SIGPIPE, SIG_IGN);
#ifdef XEV_FAULT_INJECTION
	plan(TAP_NBACKENDS * PER_BACKEND);
#else
	plan(TAP_NBACKENDS * PER_BACKEND);
	diag("built without --enable-fault-injection: only the faults that need no injection");
#endif
	tap_each_backend(PER_BACKEND, run_backend);
	return done_testing();
}
