/* SPDX-License-Identifier: MIT */
/*
 * Process watchers: a child's exit status (exit, killed by a signal,
 * stopped and continued first), the child reaped by the wait, a child
 * that was already a zombie at init, 100 children at once, an unrelated
 * child left alone, pids that are not our children, no fd to spare (the
 * pidfd path says -EMFILE, the fallback needs none), cancel (the child is
 * not reaped and a later wait gets the status; a cancel racing the exit
 * has a consistent outcome), the status remembered for a second wait and
 * given to two waits, the SIGCHLD disposition and mask (touched only by
 * the fallback, restored exactly), SIGCHLD ignored, someone else reaping
 * the child first, loop deinit with a wait in flight (no fd leaked, the
 * child still reapable, the watcher usable with another loop).
 *
 * The whole set runs twice per backend: with the pidfd path, and with
 * the SIGCHLD fallback forced by XEV_NO_PIDFD=1 at init time.  If the
 * kernel refuses pidfd_open here, or the library was configured with
 * --disable-pidfd, the first pass is a fallback pass too and is checked as
 * such.
 *
 * Every child arms alarm(20) first, so that none outlives a failed test
 * for long; every wait on the loop is bounded by a 5 s guard timer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h" /* XEV_USE_PIDFD: the library has the pidfd path */
#include "guard.h"
#include "sigaction.h"

#define GLOBAL_CHECKS 0
#define PER_MODE 59
#define PER_BACKEND (2 * PER_MODE)
#define NKIDS 100

/* ---- the mode of this pass ------------------------------------------ */

static int kernel_pidfd; /* pidfd_open works on this machine */
static int mode_fb;      /* this pass forces the fallback (XEV_NO_PIDFD=1) */
static int expect_fb;    /* the library is expected to use the fallback */
static char mn[64];      /* "<backend>/<mode>", the prefix of every check */

/* xev_process_init in the mode of this pass: XEV_NO_PIDFD set to 1 for
 * the fallback, unset otherwise; unset again afterwards. */
static int pinit(xev_watcher *w, pid_t pid)
{
	int rc;
	if (mode_fb)
		setenv("XEV_NO_PIDFD", "1", 1);
	else
		unsetenv("XEV_NO_PIDFD");
	rc = xev_process_init(w, pid);
	unsetenv("XEV_NO_PIDFD");
	return rc;
}

static void pinit_or_bail(xev_watcher *w, pid_t pid)
{
	if (pinit(w, pid) != 0)
		bail("xev_process_init failed");
}

/* ---- children ------------------------------------------------------- */

/* A child that exits with code after delay_ms.  With go not NULL it
 * first waits for a byte (or EOF) on a pipe whose write end is returned
 * in *go (release it with go_kid).  code < 0: pause() until killed. */
static pid_t spawn(int code, int delay_ms, int *go)
{
	int p[2] = { -1, -1 };
	pid_t pid;

#ifdef HAVE_PIPE2
	if (go && pipe2(p, O_CLOEXEC) < 0)
		bail("pipe2 failed");
#else
	if (go && (pipe(p) < 0 || fcntl(p[0], F_SETFD, FD_CLOEXEC) < 0 || fcntl(p[1], F_SETFD, FD_CLOEXEC) < 0))
		bail("pipe failed");
#endif
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bail("fork failed");
	if (pid == 0) {
		char ch;
		alarm(20);
		if (go) {
			close(p[1]);
			while (read(p[0], &ch, 1) < 0 && errno == EINTR)
				;
		}
		if (delay_ms > 0)
			sleep_ms(delay_ms);
		if (code < 0)
			for (;;)
				pause();
		_exit(code);
	}
	if (go) {
		close(p[0]);
		*go = p[1];
	}
	return pid;
}

static void go_kid(int *go)
{
	if (*go >= 0) {
		if (write(*go, "g", 1) != 1)
			bail("write to a child's pipe failed");
		close(*go);
		*go = -1;
	}
}

/* 1: pid is a zombie child (exited, not reaped); 0: still running;
 * -1: not (or no longer) our child.  Does not reap. */
static int zombie_state(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return -1;
	return si.si_pid == pid ? 1 : 0;
}

/* Waits (5 s at most, without reaping) until pid has exited; 1 if it is
 * a zombie then. */
static int wait_zombie(pid_t pid)
{
	int64_t end = mono_ms() + 5000;
	int z;
	while ((z = zombie_state(pid)) == 0 && mono_ms() < end)
		sleep_ms(1);
	return z == 1;
}

/* Waits (5 s at most) until pid is stopped. */
static int wait_stopped(pid_t pid)
{
	int64_t end = mono_ms() + 5000;
	siginfo_t si;
	do {
		memset(&si, 0, sizeof si);
		if (waitid(P_PID, (id_t)pid, &si, WSTOPPED | WNOHANG | WNOWAIT) < 0)
			return 0;
		if (si.si_pid == pid && si.si_code == CLD_STOPPED)
			return 1;
		sleep_ms(1);
	} while (mono_ms() < end);
	return 0;
}

/* 1 if pid is no longer our child to wait for: reaped. */
static int reaped(pid_t pid)
{
	int st;
	errno = 0;
	return waitpid(pid, &st, WNOHANG) == -1 && errno == ECHILD;
}

/* The application reaps pid itself (5 s at most); its status, or -1. */
static int reap(pid_t pid)
{
	int64_t end = mono_ms() + 5000;
	int st;
	pid_t r;
	while ((r = waitpid(pid, &st, WNOHANG)) == 0 && mono_ms() < end)
		sleep_ms(1);
	return r == pid ? st : -1;
}

/* Kills and reaps a child a failed check may have left behind. */
static void cleanup_kid(pid_t pid)
{
	if (pid > 0 && zombie_state(pid) >= 0) {
		kill(pid, SIGKILL);
		reap(pid);
	}
}

static int exited_with(int st, int code)
{
	return st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == code;
}

/* ---- a loop whose waits are bounded --------------------------------- */

struct rec {
	int calls, result, state_in;
};

static int ncb; /* every callback of rec_cb, for waiting on several */

static void rec_init(struct rec *r)
{
	r->calls = 0;
	r->result = INT_MIN;
	r->state_in = -1;
}

static xev_cb_action rec_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct rec *r = ud;
	(void)l;
	r->calls++;
	ncb++;
	r->result = result;
	r->state_in = (int)xev_completion_state(c);
	return XEV_DISARM;
}

/* Runs the loop without blocking for about ms milliseconds. */
static void spin_loop(struct ctx *x, int ms)
{
	int64_t end = mono_ms() + ms;
	while (mono_ms() < end) {
		xev_loop_run(&x->loop, XEV_RUN_NO_WAIT);
		sleep_ms(1);
	}
}

/* A timer that releases a child (go >= 0) or sends it a signal. */
struct trigger {
	xev_completion c;
	int *go;
	pid_t pid;
	int sig;
	int fired;
};

static xev_cb_action trigger_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct trigger *t = ud;
	(void)l, (void)c, (void)result;
	t->fired++;
	if (t->go)
		go_kid(t->go);
	if (t->sig)
		kill(t->pid, t->sig);
	return XEV_DISARM;
}

static void trigger_at(struct ctx *x, struct trigger *t, int ms, int *go, pid_t pid, int sig)
{
	memset(t, 0, sizeof *t);
	t->go = go;
	t->pid = pid;
	t->sig = sig;
	xev_timer_run(&x->tw, &x->loop, &t->c, (uint64_t)ms, t, trigger_cb);
}

/* ---- SIGCHLD disposition -------------------------------------------- */

static void set_chld(void (*h)(int), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = h;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (h != SIG_DFL && h != SIG_IGN)
		sigaddset(&sa.sa_mask, SIGUSR1);
	if (sigaction(SIGCHLD, &sa, NULL) < 0)
		bail("sigaction SIGCHLD failed");
}

static volatile sig_atomic_t app_chld_calls;

static void app_chld(int sig)
{
	(void)sig;
	app_chld_calls++;
}

static int chld_blocked(void)
{
	sigset_t cur;
	sigemptyset(&cur);
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	return sigismember(&cur, SIGCHLD) == 1;
}

/* ---- the checks ------------------------------------------------------ */

/* A child that already exited (a zombie) when the watcher is made. */
static void check_zombie_exit(xev_backend b)
{
	struct ctx x;
	xev_watcher w;
	xev_completion c;
	struct rec r;
	pid_t pid;
	int n0, n1, n2, rc;

	ctx_init(&x, b);
	pid = spawn(7, 0, NULL);
	if (!wait_zombie(pid))
		bail("child did not exit");
	n0 = tap_count_fds();
	rc = pinit(&w, pid);
	n1 = tap_count_fds();
	is_int(rc, 0, "%s: xev_process_init on a child that already exited (a zombie): 0", mn);
	is_int(n1 - n0, expect_fb ? 0 : 1, "%s: the watcher holds %s", mn,
	       expect_fb ? "no fd (fallback)" : "one fd (its pidfd)");
	ok(zombie_state(pid) == 1, "%s: init does not reap the child", mn);
	rec_init(&r);
	xev_process_wait(&w, &x.loop, &c, &r, rec_cb);
	wait_for(&x, &r.calls, 1);
	ok(r.calls == 1 && exited_with(r.result, 7) && r.state_in == XEV_COMPLETION_DEAD && dead(&c),
	   "%s: _exit(7): the wait completes once, WIFEXITED, WEXITSTATUS 7 (%d calls, status 0x%x)", mn, r.calls,
	   r.result);
	ok(reaped(pid), "%s: _exit(7): the child was reaped by the wait (waitpid WNOHANG: ECHILD)", mn);
	xev_process_deinit(&w);
	n2 = tap_count_fds();
	xev_process_deinit(&w);
	xev_process_deinit(NULL);
	is_int(n2, n0, "%s: xev_process_deinit closes what init opened (a second deinit, and NULL, are harmless)",
	       mn);
	ctx_deinit(&x);
	cleanup_kid(pid);
}

/* The child exits while the loop is blocked waiting for it. */
static void check_later_exit(xev_backend b)
{
	struct ctx x;
	xev_watcher w;
	xev_completion c;
	struct rec r;
	struct trigger t;
	int go;
	pid_t pid;
	int64_t t0;

	ctx_init(&x, b);
	pid = spawn(9, 0, &go);
	pinit_or_bail(&w, pid);
	rec_init(&r);
	xev_process_wait(&w, &x.loop, &c, &r, rec_cb);
	trigger_at(&x, &t, 20, &go, 0, 0);
	t0 = mono_ms();
	wait_for(&x, &r.calls, 1);
	ok(r.calls == 1 && exited_with(r.result, 9) && !x.fired && t.fired == 1,
	   "%s: a child exiting while the loop blocks wakes it: exit status 9 (%d calls, status 0x%x, %lld ms)", mn,
	   r.calls, r.result, (long long)(mono_ms() - t0));
	ok(reaped(pid), "%s: ... and the child was reaped", mn);
	xev_process_deinit(&w);
	ctx_deinit(&x);
	go_kid(&go);
	cleanup_kid(pid);
}

/* Stopped and continued (no completion), then killed by SIGTERM. */
static void check_killed(xev_backend b)
{
	struct ctx x;
	xev_watcher w;
	xev_completion c;
	struct rec r;
	struct trigger t;
	pid_t pid;

	ctx_init(&x, b);
	pid = spawn(-1, 0, NULL);
	pinit_or_bail(&w, pid);
	rec_init(&r);
	xev_process_wait(&w, &x.loop, &c, &r, rec_cb);
	xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
	kill(pid, SIGSTOP);
	if (!wait_stopped(pid))
		bail("child did not stop");
	spin_loop(&x, 30);
	kill(pid, SIGCONT);
	spin_loop(&x, 30);
	ok(r.calls == 0 && !dead(&c), "%s: a child stopped (SIGSTOP) then continued: the wait does not complete", mn);
	trigger_at(&x, &t, 20, NULL, pid, SIGTERM);
	wait_for(&x, &r.calls, 1);
	ok(r.calls == 1 && r.result >= 0 && WIFSIGNALED(r.result) && WTERMSIG(r.result) == SIGTERM,
	   "%s: a child killed by SIGTERM: WIFSIGNALED, WTERMSIG == SIGTERM (%d calls, status 0x%x)", mn, r.calls,
	   r.result);
	ok(reaped(pid), "%s: ... and the killed child was reaped", mn);
	xev_process_deinit(&w);
	ctx_deinit(&x);
	cleanup_kid(pid);
}

/* 100 children at once, some exiting at once, some after a delay. */
static struct {
	xev_watcher w[NKIDS];
	xev_completion c[NKIDS];
	struct rec r[NKIDS];
	pid_t pid[NKIDS];
} k;

static void check_hundred(xev_backend b)
{
	struct ctx x;
	int inits = 0, good = 0, total = 0, st, base = ncb;
	pid_t left;

	ctx_init(&x, b);
	for (int i = 0; i < NKIDS; i++)
		/* Deterministic "random" delays: a third of them, 1..22 ms. */
		k.pid[i] = spawn(i, i % 3 == 0 ? 1 + (i * 37) % 22 : 0, NULL);
	for (int i = 0; i < NKIDS; i++) {
		inits += pinit(&k.w[i], k.pid[i]) == 0;
		rec_init(&k.r[i]);
		xev_process_wait(&k.w[i], &x.loop, &k.c[i], &k.r[i], rec_cb);
	}
	is_int(inits, NKIDS, "%s: %d children: every xev_process_init returns 0", mn, NKIDS);
	wait_for(&x, &ncb, base + NKIDS);
	total = 0;
	for (int i = 0; i < NKIDS; i++) {
		total += k.r[i].calls;
		good += k.r[i].calls == 1 && exited_with(k.r[i].result, i);
	}
	ok(good == NKIDS && total == NKIDS,
	   "%s: %d children: every callback ran exactly once with its child's exit status (%d right, %d calls)", mn,
	   NKIDS, good, total);
	for (int i = 0; i < NKIDS; i++)
		xev_process_deinit(&k.w[i]);
	errno = 0;
	left = waitpid(-1, &st, WNOHANG);
	ok(left == -1 && errno == ECHILD, "%s: %d children: no zombie left (waitpid(-1, WNOHANG): ECHILD, got %d)", mn,
	   NKIDS, (int)left);
	ctx_deinit(&x);
	for (int i = 0; i < NKIDS; i++)
		cleanup_kid(k.pid[i]);
}

/* A child nobody watches exits while a watched one is waited on. */
static void check_unrelated(xev_backend b)
{
	struct ctx x;
	xev_watcher w;
	xev_completion c;
	struct rec r;
	struct trigger tu, tw;
	int gu, gw, st;
	pid_t u, p, got;

	ctx_init(&x, b);
	u = spawn(42, 0, &gu);
	p = spawn(3, 0, &gw);
	pinit_or_bail(&w, p);
	rec_init(&r);
	xev_process_wait(&w, &x.loop, &c, &r, rec_cb);
	trigger_at(&x, &tu, 10, &gu, 0, 0);
	trigger_at(&x, &tw, 60, &gw, 0, 0);
	wait_for(&x, &r.calls, 1);
	ok(r.calls == 1 && exited_with(r.result, 3) && tu.fired == 1,
	   "%s: an unwatched child exits first: the watched one's wait still completes with its status (0x%x)", mn,
	   r.result);
	ok(wait_zombie(u), "%s: ... the unwatched child was not reaped by the library (still a zombie)", mn);
	st = -1;
	got = waitpid(u, &st, 0);
	ok(got == u && exited_with(st, 42),
	   "%s: ... and the application reaps it with waitpid(pid): exit status 42 (0x%x)", mn, st);
	xev_process_deinit(&w);
	ctx_deinit(&x);
	go_kid(&gu);
	go_kid(&gw);
	cleanup_kid(u);
	cleanup_kid(p);
}

/* Pids that are not ours to watch, bad arguments, bad watchers. */
static void check_invalid(xev_backend b)
{
	struct ctx x;
	xev_watcher w, a, z;
	xev_completion c;
	struct sigaction before, after;
	struct rec r;
	pid_t pid;

	query(SIGCHLD, &before);
	is_int(pinit(&w, 1), -ECHILD, "%s: xev_process_init(w, 1) (init, not our child): -ECHILD", mn);
	is_int(pinit(&w, getpid()), -ECHILD, "%s: xev_process_init(w, getpid()): -ECHILD", mn);
	is_int(pinit(&w, 0), -EINVAL, "%s: xev_process_init(w, 0): -EINVAL", mn);
	is_int(pinit(&w, -5), -EINVAL, "%s: xev_process_init(w, -5): -EINVAL", mn);
	is_int(pinit(NULL, getpid()), -EINVAL, "%s: xev_process_init(NULL, pid): -EINVAL", mn);
	pid = spawn(0, 0, NULL);
	reap(pid);
	is_int(pinit(&w, pid), -ECHILD, "%s: xev_process_init on a child already reaped: -ECHILD", mn);

	/* No fd can be opened at all: the pidfd path reports it, the
	 * fallback needs none. */
	pid = spawn(0, 0, NULL);
	wait_zombie(pid);
	{
		struct rlimit lim, none;
		int rc;
		if (getrlimit(RLIMIT_NOFILE, &lim) < 0)
			bail("getrlimit failed");
		none = lim;
		none.rlim_cur = 0;
		if (setrlimit(RLIMIT_NOFILE, &none) < 0)
			bail("setrlimit failed");
		rc = pinit(&w, pid);
		setrlimit(RLIMIT_NOFILE, &lim);
		if (expect_fb)
			is_int(rc, 0, "%s: RLIMIT_NOFILE 0: the fallback needs no fd, init gives 0", mn);
		else
			is_int(rc, -EMFILE, "%s: RLIMIT_NOFILE 0: the pidfd cannot be opened, init gives -EMFILE", mn);
		if (rc == 0)
			xev_process_deinit(&w);
	}
	reap(pid);
	query(SIGCHLD, &after);
	ok(same_action(&before, &after), "%s: after the failed inits the SIGCHLD disposition is unchanged", mn);

	ctx_init(&x, b);
	memset(&z, 0, sizeof z);
	rec_init(&r);
	xev_process_wait(&z, &x.loop, &c, &r, rec_cb);
	wait_for(&x, &r.calls, 1);
	ok(r.calls == 1 && r.result == -EINVAL, "%s: a wait on a zeroed watcher: -EINVAL (%d)", mn, r.result);
	xev_async_init(&a);
	rec_init(&r);
	xev_process_wait(&a, &x.loop, &c, &r, rec_cb);
	wait_for(&x, &r.calls, 1);
	ok(r.calls == 1 && r.result == -EINVAL, "%s: a process wait on an async watcher: -EINVAL (%d)", mn, r.result);
	xev_async_deinit(&a);
	pid = spawn(0, 0, NULL);
	wait_zombie(pid);
	pinit_or_bail(&w, pid);
	xev_process_deinit(&w);
	rec_init(&r);
	xev_process_wait(&w, &x.loop, &c, &r, rec_cb);
	wait_for(&x, &r.calls, 1);
	ok(r.calls == 1 && r.result == -EINVAL && zombie_state(pid) == 1,
	   "%s: a wait on a deinitialised watcher: -EINVAL, the child left alone (%d)", mn, r.result);
	ctx_deinit(&x);
	cleanup_kid(pid);
}

/* Cancel: the child is not reaped, a later wait gets the status. */
static void check_cancel(xev_backend b)
{
	struct ctx x;
	xev_watcher w;
	xev_completion c, cc;
	struct rec r, rc;
	int go, base;
	pid_t pid;

	/* A pending wait on a running child. */
	ctx_init(&x, b);
	pid = spawn(5, 0, &go);
	pinit_or_bail(&w, pid);
	rec_init(&r);
	rec_init(&rc);
	xev_process_wait(&w, &x.loop, &c, &r, rec_cb);
	xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
	base = ncb;
	xev_cancel(&x.loop, &cc, &c, &rc, rec_cb);
	wait_for(&x, &ncb, base + 2);
	is_int(r.result, -ECANCELED, "%s: cancel of a pending process wait: the wait gets -ECANCELED", mn);
	ok(rc.calls == 1 && rc.result == 0 && r.calls == 1, "%s: ... the canceller gets 0 (%d), each called once", mn,
	   rc.result);
	go_kid(&go);
	ok(wait_zombie(pid), "%s: ... the child then exits: it stays a zombie (not reaped, waitid WNOWAIT sees it)", mn);
	rec_init(&r);
	xev_process_wait(&w, &x.loop, &c, &r, rec_cb);
	wait_for(&x, &r.calls, 1);
	ok(r.calls == 1 && exited_with(r.result, 5), "%s: ... a new wait after the cancel gets its status (0x%x)", mn,
	   r.result);
	ok(reaped(pid), "%s: ... and reaps it", mn);
	xev_process_deinit(&w);
	cleanup_kid(pid);

	/* A zombie: the wait and its cancel queued in the same tick. */
	pid = spawn(6, 0, NULL);
	wait_zombie(pid);
	pinit_or_bail(&w, pid);
	rec_init(&r);
	rec_init(&rc);
	xev_process_wait(&w, &x.loop, &c, &r, rec_cb);
	base = ncb;
	xev_cancel(&x.loop, &cc, &c, &rc, rec_cb);
	wait_for(&x, &ncb, base + 2);
	ok(r.calls == 1 && r.result == -ECANCELED && rc.calls == 1 && rc.result == 0,
	   "%s: a wait on a zombie cancelled in the same tick: -ECANCELED and canceller 0 (%d, %d)", mn, r.result,
	   rc.result);
	ok(zombie_state(pid) == 1, "%s: ... the zombie was not reaped (waitid WNOWAIT sees it)", mn);
	rec_init(&r);
	xev_process_wait(&w, &x.loop, &c, &r, rec_cb);
	wait_for(&x, &r.calls, 1);
	ok(r.calls == 1 && exited_with(r.result, 6) && reaped(pid),
	   "%s: ... a second wait gets its status (0x%x) and reaps it", mn, r.result);
	xev_process_deinit(&w);
	cleanup_kid(pid);

	/* A pending wait whose child has just exited, the loop not having
	 * looked yet: the cancel and the exit race.  Either the cancel wins
	 * (-ECANCELED, canceller 0, the child left a zombie) or the exit does
	 * (its status, canceller -ENOENT, reaped): never a mix. */
	pid = spawn(10, 0, &go);
	pinit_or_bail(&w, pid);
	rec_init(&r);
	rec_init(&rc);
	xev_process_wait(&w, &x.loop, &c, &r, rec_cb);
	xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
	go_kid(&go);
	wait_zombie(pid);
	base = ncb;
	xev_cancel(&x.loop, &cc, &c, &rc, rec_cb);
	wait_for(&x, &ncb, base + 2);
	{
		int z = zombie_state(pid);
		int cancelled = r.result == -ECANCELED && rc.result == 0 && z == 1;
		int exited = exited_with(r.result, 10) && rc.result == -ENOENT && z == -1;
		diag("%s: cancel racing a child's exit: wait %d, canceller %d, %s", mn, r.result, rc.result,
		     z == 1 ? "zombie" : z == -1 ? "reaped" : "running");
		ok(r.calls == 1 && rc.calls == 1 && (cancelled || exited),
		   "%s: cancel of a wait whose child just exited: a consistent outcome (%s)", mn,
		   cancelled ? "cancelled, child not reaped" : exited ? "status, reaped, cancel too late" : "inconsistent");
	}
	if (r.result == -ECANCELED) {
		rec_init(&r);
		xev_process_wait(&w, &x.loop, &c, &r, rec_cb);
		wait_for(&x, &r.calls, 1);
	}
	xev_process_deinit(&w);
	ctx_deinit(&x);
	cleanup_kid(pid);
}

/* The status is remembered; two waits on one watcher both get it. */
static void check_again(xev_backend b)
{
	struct ctx x;
	xev_watcher w;
	xev_completion c1, c2;
	struct rec r1, r2;
	int base;
	pid_t pid;
	int go;

	ctx_init(&x, b);
	pid = spawn(11, 0, &go);
	pinit_or_bail(&w, pid);
	rec_init(&r1);
	rec_init(&r2);
	base = ncb;
	xev_process_wait(&w, &x.loop, &c1, &r1, rec_cb);
	xev_process_wait(&w, &x.loop, &c2, &r2, rec_cb);
	xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
	go_kid(&go);
	wait_for(&x, &ncb, base + 2);
	ok(r1.calls == 1 && r2.calls == 1 && exited_with(r1.result, 11) && exited_with(r2.result, 11),
	   "%s: two completions waiting on one watcher both get the status (0x%x, 0x%x)", mn, r1.result, r2.result);
	ok(reaped(pid), "%s: ... and the child was reaped", mn);
	rec_init(&r1);
	xev_process_wait(&w, &x.loop, &c1, &r1, rec_cb);
	wait_for(&x, &r1.calls, 1);
	ok(r1.calls == 1 && exited_with(r1.result, 11),
	   "%s: a wait after completion on the same watcher gets the same status (0x%x)", mn, r1.result);
	xev_process_deinit(&w);
	ctx_deinit(&x);
	cleanup_kid(pid);
}

/* The SIGCHLD disposition: set by the fallback only, restored exactly
 * by the last deinit; an application handler still runs. */
static void check_disposition(xev_backend b)
{
	struct ctx x;
	xev_watcher w1, w2;
	xev_completion c;
	struct rec r;
	struct sigaction q0, q1, q2, q3;
	pid_t p1, p2;
	int go, calls0;

	/* SIG_DFL; two watchers, the last deinit restores. */
	set_chld(SIG_DFL, 0);
	query(SIGCHLD, &q0);
	p1 = spawn(0, 0, NULL);
	p2 = spawn(0, 0, NULL);
	wait_zombie(p1);
	wait_zombie(p2);
	pinit_or_bail(&w1, p1);
	pinit_or_bail(&w2, p2);
	query(SIGCHLD, &q1);
	if (expect_fb)
		ok(q1.sa_handler != SIG_DFL && q1.sa_handler != SIG_IGN,
		   "%s: SIGCHLD was SIG_DFL: while watchers exist it has a handler", mn);
	else
		ok(same_action(&q0, &q1), "%s: SIGCHLD was SIG_DFL: the pidfd path leaves it SIG_DFL", mn);
	xev_process_deinit(&w1);
	query(SIGCHLD, &q2);
	ok(expect_fb ? same_action(&q1, &q2) : same_action(&q0, &q2),
	   "%s: after the first of two deinits, SIGCHLD is still %s", mn,
	   expect_fb ? "the library's handler" : "SIG_DFL");
	xev_process_deinit(&w2);
	query(SIGCHLD, &q3);
	ok(q3.sa_handler == SIG_DFL && same_action(&q0, &q3),
	   "%s: after the last deinit, SIGCHLD is SIG_DFL again, same flags and mask", mn);
	ok(zombie_state(p1) == 1 && zombie_state(p2) == 1 && exited_with(reap(p1), 0) && exited_with(reap(p2), 0),
	   "%s: deinit reaps nothing: the application reaps both children", mn);
	cleanup_kid(p1);
	cleanup_kid(p2);

	/* A handler of the application's own. */
	ctx_init(&x, b);
	set_chld(app_chld, SA_RESTART);
	query(SIGCHLD, &q0);
	app_chld_calls = 0;
	p1 = spawn(4, 0, &go);
	pinit_or_bail(&w1, p1);
	query(SIGCHLD, &q1);
	if (expect_fb)
		ok(handler_of(&q1) != (void *)app_chld && q1.sa_handler != SIG_DFL && q1.sa_handler != SIG_IGN,
		   "%s: SIGCHLD had the application's handler: while the watcher exists it is the library's", mn);
	else
		ok(same_action(&q0, &q1), "%s: SIGCHLD had the application's handler: the pidfd path leaves it", mn);
	rec_init(&r);
	xev_process_wait(&w1, &x.loop, &c, &r, rec_cb);
	xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
	calls0 = app_chld_calls;
	go_kid(&go);
	wait_for(&x, &r.calls, 1);
	ok(r.calls == 1 && exited_with(r.result, 4) && app_chld_calls > calls0,
	   "%s: the wait completes and the application's SIGCHLD handler is still called (%d calls, 0x%x)", mn,
	   (int)(app_chld_calls - calls0), r.result);
	xev_process_deinit(&w1);
	query(SIGCHLD, &q2);
	ok(same_action(&q0, &q2), "%s: after deinit SIGCHLD is the application's handler, same flags and mask", mn);
	calls0 = app_chld_calls;
	kill(getpid(), SIGCHLD);
	ok(app_chld_calls == calls0 + 1, "%s: ... and a SIGCHLD calls it exactly once (%d)",
	   mn, (int)(app_chld_calls - calls0));
	set_chld(SIG_DFL, 0);
	ctx_deinit(&x);
	cleanup_kid(p1);

	/* SIGCHLD blocked in this thread. */
	{
		sigset_t s, old;
		int blocked_in, blocked_out;
		ctx_init(&x, b);
		sigemptyset(&s);
		sigaddset(&s, SIGCHLD);
		pthread_sigmask(SIG_BLOCK, &s, &old);
		p1 = spawn(8, 0, &go);
		pinit_or_bail(&w1, p1);
		blocked_in = chld_blocked();
		if (expect_fb)
			ok(!blocked_in, "%s: SIGCHLD blocked in the thread: the fallback init unblocks it", mn);
		else
			ok(blocked_in, "%s: SIGCHLD blocked in the thread: the pidfd path leaves it blocked", mn);
		rec_init(&r);
		xev_process_wait(&w1, &x.loop, &c, &r, rec_cb);
		xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
		go_kid(&go);
		wait_for(&x, &r.calls, 1);
		ok(r.calls == 1 && exited_with(r.result, 8),
		   "%s: SIGCHLD blocked before init: the wait still completes (0x%x)", mn, r.result);
		xev_process_deinit(&w1);
		blocked_out = chld_blocked();
		ok(blocked_out, "%s: after deinit SIGCHLD is blocked in the thread again", mn);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		ctx_deinit(&x);
		cleanup_kid(p1);
	}

	/* SIGCHLD ignored: the kernel reaps, there is no status to get. */
	set_chld(SIG_IGN, 0);
	p1 = spawn(0, 0, &go);
	is_int(pinit(&w1, p1), -ECHILD, "%s: SIGCHLD set to SIG_IGN: xev_process_init gives -ECHILD", mn);
	query(SIGCHLD, &q1);
	ok(q1.sa_handler == SIG_IGN, "%s: ... and SIGCHLD stays SIG_IGN", mn);
	set_chld(SIG_DFL, SA_NOCLDWAIT);
	is_int(pinit(&w1, p1), -ECHILD, "%s: SIGCHLD with SA_NOCLDWAIT: xev_process_init gives -ECHILD", mn);
	set_chld(SIG_DFL, 0);
	go_kid(&go);
	if (!exited_with(reap(p1), 0))
		diag("%s: the child of the SIG_IGN check was not reapable", mn);
	cleanup_kid(p1);
}

/* Someone else reaps the child first. */
static void check_reaped_by_app(xev_backend b)
{
	struct ctx x;
	xev_watcher w;
	xev_completion c;
	struct rec r;
	pid_t pid;

	ctx_init(&x, b);
	pid = spawn(2, 0, NULL);
	wait_zombie(pid);
	pinit_or_bail(&w, pid);
	reap(pid);
	rec_init(&r);
	xev_process_wait(&w, &x.loop, &c, &r, rec_cb);
	wait_for(&x, &r.calls, 1);
	ok(r.calls == 1 && r.result == -ECHILD,
	   "%s: the application reaped the child before the wait: -ECHILD (%d calls, %d)", mn, r.calls, r.result);
	xev_process_deinit(&w);
	ctx_deinit(&x);
}

/* Loop deinit with a process wait in flight. */
static void check_loop_deinit(xev_backend b)
{
	struct ctx x, y;
	xev_watcher w;
	xev_completion c;
	struct rec r;
	int n0, n1, go, st;
	pid_t pid, got;

	pid = spawn(12, 0, &go);
	n0 = tap_count_fds();
	ctx_init(&x, b);
	pinit_or_bail(&w, pid);
	rec_init(&r);
	xev_process_wait(&w, &x.loop, &c, &r, rec_cb);
	xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
	xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
	ctx_deinit(&x);
	ok(dead(&c) && r.calls == 0, "%s: loop deinit with a process wait in flight: the completion is DEAD, no callback",
	   mn);
	xev_process_deinit(&w);
	n1 = tap_count_fds();
	is_int(n1, n0, "%s: ... after the watcher's deinit no fd is left open (loop and watcher)", mn);
	go_kid(&go);
	st = -1;
	got = waitpid(pid, &st, 0);
	ok(got == pid && exited_with(st, 12),
	   "%s: ... the child was not reaped: the application reaps it, exit status 12 (0x%x)", mn, st);
	cleanup_kid(pid);

	/* The watcher stays usable with another loop. */
	ctx_init(&x, b);
	pid = spawn(13, 0, &go);
	pinit_or_bail(&w, pid);
	rec_init(&r);
	xev_process_wait(&w, &x.loop, &c, &r, rec_cb);
	xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
	ctx_deinit(&x);
	ctx_init(&y, b);
	rec_init(&r);
	xev_process_wait(&w, &y.loop, &c, &r, rec_cb);
	xev_loop_run(&y.loop, XEV_RUN_NO_WAIT);
	go_kid(&go);
	wait_for(&y, &r.calls, 1);
	ok(r.calls == 1 && exited_with(r.result, 13) && reaped(pid),
	   "%s: after its loop's deinit, the watcher waits on another loop: status 13, reaped (0x%x)", mn, r.result);
	xev_process_deinit(&w);
	ctx_deinit(&y);
	cleanup_kid(pid);
}

static void run_mode(xev_backend b, const char *bn, int fb)
{
	mode_fb = fb;
	expect_fb = fb || !kernel_pidfd;
	snprintf(mn, sizeof mn, "%s/%s", bn, fb ? "fallback" : kernel_pidfd ? "pidfd" : "pidfd-refused");
	check_zombie_exit(b);
	check_later_exit(b);
	check_killed(b);
	check_unrelated(b);
	check_invalid(b);
	check_cancel(b);
	check_again(b);
	check_disposition(b);
	check_reaped_by_app(b);
	check_loop_deinit(b);
	check_hundred(b);
}

static void check_backend(xev_backend b, const char *bn)
{
	run_mode(b, bn, 0);
	run_mode(b, bn, 1);
}

int main(void)
{
	long fd;

	plan(GLOBAL_CHECKS + TAP_NBACKENDS * PER_BACKEND);
	alarm(30);
	set_chld(SIG_DFL, 0);
	unsetenv("XEV_NO_PIDFD");
#if defined(XEV_USE_PIDFD) && defined(SYS_pidfd_open)
	fd = syscall(SYS_pidfd_open, getpid(), 0);
	kernel_pidfd = fd >= 0;
	if (fd >= 0)
		close((int)fd);
#else
	(void)fd;
#endif
	if (!kernel_pidfd)
		diag("no pidfd here (kernel or --disable-pidfd): the first pass of each backend is checked as a fallback");
	tap_each_backend(PER_BACKEND, check_backend);
	return done_testing();
}
