/* SPDX-License-Identifier: MIT */
/*
 * Signal watchers: one callback per kill (rearmed), a delivery to another
 * thread (pthread_kill, and kill(getpid()) from another thread) waking a
 * loop blocked in the kernel, every watcher of a signal firing, two waits
 * on one watcher sharing deliveries, loops in two threads each getting
 * only their own signal, coalescing and deliveries remembered from init
 * on, the signal mask and the previous disposition restored exactly (and
 * the program's handler not called while watchers exist), SIGCHLD's
 * handler chained, cancel, bad signal numbers and bad watchers, deinit
 * with a delivery not consumed, loop deinit with a wait in flight.
 *
 * SIGUSR1 and SIGUSR2 get a counting handler of the test's own first
 * ("stray"): it is what every watcher must restore, and a delivery that
 * reached no watcher shows in its counts instead of killing the test.
 * Every blocking run is bounded by a 5 s guard timer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guard.h"
#include "sigaction.h"

#ifdef __GLIBC__
#define GLIBC_RESERVED 2
#else
#define GLIBC_RESERVED 0
#endif
#define GLOBAL_CHECKS (15 + GLIBC_RESERVED)
#define PER_BACKEND 33
#define SELF_KILLS 20

/* ---- handlers of the test's own ------------------------------------- */

static volatile sig_atomic_t stray[NSIG];

static void stray_h(int sig)
{
	stray[sig]++;
}

static void set_action(int sig, void (*h)(int), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = h;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) < 0)
		bail("sigaction failed");
}

static void set_stray(void)
{
	set_action(SIGUSR1, stray_h, SA_RESTART);
	set_action(SIGUSR2, stray_h, SA_RESTART);
}

static int blocked(int sig)
{
	sigset_t cur;
	sigemptyset(&cur);
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	return sigismember(&cur, sig) == 1;
}

static void start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	if (pthread_create(t, NULL, fn, arg) != 0)
		bail("pthread_create failed");
}

/* ---- records and a loop whose waits are bounded ---------------------- */

struct rec {
	int calls, result, rearm, bad; /* bad: calls whose result was not want */
	int want;
};

static _Thread_local int ncb; /* callbacks on this thread (cancel_wait runs on loop threads) */

static void rec_init(struct rec *r, int want, int rearm)
{
	memset(r, 0, sizeof *r);
	r->result = INT_MIN;
	r->want = want;
	r->rearm = rearm;
}

static xev_cb_action rec_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct rec *r = ud;
	(void)l, (void)c;
	r->calls++;
	ncb++;
	r->result = result;
	if (result != r->want)
		r->bad++;
	return r->rearm && result >= 0 ? XEV_REARM : XEV_DISARM;
}

static void run_idle(struct ctx *x)
{
	for (int i = 0; i < 3; i++)
		xev_loop_run(&x->loop, XEV_RUN_NO_WAIT);
}

/* Cancels c (a wait left active) and runs until both callbacks ran. */
static void cancel_wait(struct ctx *x, xev_completion *c)
{
	xev_completion cc;
	struct rec rc;
	if (dead(c))
		return;
	rec_init(&rc, 0, 0);
	xev_cancel(&x->loop, &cc, c, &rc, rec_cb);
	wait_for(x, &rc.calls, 1);
	for (int i = 0; i < 100 && !dead(c); i++)
		xev_loop_run(&x->loop, XEV_RUN_NO_WAIT);
}

static void sig_init_or_bail(xev_watcher *w, int sig)
{
	if (xev_signal_init(w, sig) != 0)
		bail("xev_signal_init failed");
}

/* ---- the checks ------------------------------------------------------ */

/* kill(getpid(), SIGUSR1) N times, one ONCE run after each. */
static void check_self(xev_backend b, const char *bn)
{
	struct ctx x;
	xev_watcher w;
	xev_completion c;
	struct rec r;
	int rc, bad_at = -1, s0 = stray[SIGUSR1];

	ctx_init(&x, b);
	rc = xev_signal_init(&w, SIGUSR1);
	rec_init(&r, SIGUSR1, 1);
	xev_signal_wait(&w, &x.loop, &c, &r, rec_cb);
	guard(&x);
	for (int i = 0; i < SELF_KILLS; i++) {
		kill(getpid(), SIGUSR1);
		xev_loop_run(&x.loop, XEV_RUN_ONCE);
		if (r.calls != i + 1 || x.fired) {
			bad_at = i;
			break;
		}
	}
	ok(rc == 0 && bad_at < 0,
	   "%s: %d x {kill(getpid(), SIGUSR1); run ONCE}: one callback per kill (rearmed) (first bad: %d, %d calls)",
	   bn, SELF_KILLS, bad_at, r.calls);
	ok(r.bad == 0 && r.result == SIGUSR1, "%s: ... every result is SIGUSR1 (%d)", bn, r.result);
	run_idle(&x);
	ok(r.calls == SELF_KILLS && stray[SIGUSR1] == s0,
	   "%s: ... no callback without a kill, and the program's handler never ran (%d stray)", bn,
	   (int)(stray[SIGUSR1] - s0));
	cancel_wait(&x, &c);
	xev_signal_deinit(&w);
	ctx_deinit(&x);
}

/* A thread blocked in read(2), the target of pthread_kill. */
static void *victim_main(void *arg)
{
	int fd = *(int *)arg;
	char ch;
	while (read(fd, &ch, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

struct kicker {
	pthread_t target;
	int directed; /* pthread_kill(target) or kill(getpid()) */
	int delay_ms;
};

static void *kicker_main(void *arg)
{
	struct kicker *k = arg;
	sleep_ms(k->delay_ms);
	if (k->directed)
		pthread_kill(k->target, SIGUSR1);
	else
		kill(getpid(), SIGUSR1);
	return NULL;
}

static void check_threads(xev_backend b, const char *bn)
{
	struct ctx x;
	xev_watcher w;
	xev_completion c;
	struct rec r;
	pthread_t victim, kt;
	struct kicker k;
	int p[2], s0 = stray[SIGUSR1];
	int64_t t0;

	if (pipe(p) < 0)
		bail("pipe failed");
	start_thread(&victim, victim_main, &p[0]);
	ctx_init(&x, b);
	sig_init_or_bail(&w, SIGUSR1);
	for (int directed = 1; directed >= 0; directed--) {
		rec_init(&r, SIGUSR1, 0);
		xev_signal_wait(&w, &x.loop, &c, &r, rec_cb);
		xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
		k.target = victim;
		k.directed = directed;
		k.delay_ms = 50;
		start_thread(&kt, kicker_main, &k);
		guard(&x);
		t0 = mono_ms();
		while (r.calls == 0 && !x.fired)
			xev_loop_run(&x.loop, XEV_RUN_ONCE);
		pthread_join(kt, NULL);
		run_idle(&x);
		ok(r.calls == 1 && r.result == SIGUSR1 && !x.fired && stray[SIGUSR1] == s0,
		   "%s: %s while the loop blocks in ONCE: it wakes, result SIGUSR1 (%d calls, %lld ms%s)", bn,
		   directed ? "pthread_kill(SIGUSR1) to another thread (blocked in read)"
			    : "kill(getpid(), SIGUSR1) from another thread",
		   r.calls, (long long)(mono_ms() - t0), x.fired ? ", guard fired" : "");
		cancel_wait(&x, &c);
	}
	xev_signal_deinit(&w);
	ctx_deinit(&x);
	close(p[1]);
	pthread_join(victim, NULL);
	close(p[0]);
}

/* Every watcher of a signal fires; two waits on one watcher share. */
static void check_two(xev_backend b, const char *bn)
{
	struct ctx x;
	xev_watcher w1, w2;
	xev_completion c1, c2;
	struct rec r1, r2;
	int base;

	ctx_init(&x, b);
	sig_init_or_bail(&w1, SIGUSR1);
	sig_init_or_bail(&w2, SIGUSR1);
	rec_init(&r1, SIGUSR1, 0);
	rec_init(&r2, SIGUSR1, 0);
	xev_signal_wait(&w1, &x.loop, &c1, &r1, rec_cb);
	xev_signal_wait(&w2, &x.loop, &c2, &r2, rec_cb);
	xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
	base = ncb;
	kill(getpid(), SIGUSR1);
	wait_for(&x, &ncb, base + 2);
	ok(r1.calls == 1 && r2.calls == 1 && r1.result == SIGUSR1 && r2.result == SIGUSR1,
	   "%s: two watchers of SIGUSR1 on one loop: one kill completes both (%d, %d calls)", bn, r1.calls, r2.calls);
	xev_signal_deinit(&w2);

	/* Two waits on the same watcher: one delivery, one completion. */
	rec_init(&r1, SIGUSR1, 0);
	rec_init(&r2, SIGUSR1, 0);
	xev_signal_wait(&w1, &x.loop, &c1, &r1, rec_cb);
	xev_signal_wait(&w1, &x.loop, &c2, &r2, rec_cb);
	xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
	base = ncb;
	kill(getpid(), SIGUSR1);
	wait_for(&x, &ncb, base + 1);
	ok(r1.calls + r2.calls == 1, "%s: two waits on one watcher: one kill completes one of them (%d, %d calls)", bn,
	   r1.calls, r2.calls);
	kill(getpid(), SIGUSR1);
	wait_for(&x, &ncb, base + 2);
	ok(r1.calls == 1 && r2.calls == 1 && r1.result == SIGUSR1 && r2.result == SIGUSR1,
	   "%s: ... a second kill completes the other (%d, %d calls)", bn, r1.calls, r2.calls);
	cancel_wait(&x, &c1);
	cancel_wait(&x, &c2);
	xev_signal_deinit(&w1);
	ctx_deinit(&x);
}

/* Loops in two threads, each waiting for its own signal. */
struct lt {
	xev_backend b;
	int sig;
	xev_watcher aw; /* async: stops the loop */
	atomic_int ready, count, bad, stop;
	int init_rc, guard_fired, last;
};

static xev_cb_action lt_sig_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct lt *t = ud;
	(void)l, (void)c;
	if (result == -ECANCELED)
		return XEV_DISARM; /* the cancel at the end */
	t->last = result;
	if (result != t->sig)
		atomic_fetch_add(&t->bad, 1);
	atomic_fetch_add(&t->count, 1);
	return result >= 0 ? XEV_REARM : XEV_DISARM;
}

static xev_cb_action lt_stop_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct lt *t = ud;
	(void)l, (void)c, (void)result;
	atomic_store(&t->stop, 1);
	return XEV_DISARM;
}

static void *lt_main(void *arg)
{
	struct lt *t = arg;
	struct ctx x;
	xev_watcher w;
	xev_completion sc, ac;

	ctx_init(&x, t->b);
	t->init_rc = xev_signal_init(&w, t->sig);
	xev_signal_wait(&w, &x.loop, &sc, t, lt_sig_cb);
	xev_async_wait(&t->aw, &x.loop, &ac, t, lt_stop_cb);
	xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
	guard(&x);
	atomic_store(&t->ready, 1);
	while (!atomic_load(&t->stop) && !x.fired)
		xev_loop_run(&x.loop, XEV_RUN_ONCE);
	t->guard_fired = x.fired;
	cancel_wait(&x, &sc);
	cancel_wait(&x, &ac);
	xev_signal_deinit(&w);
	ctx_deinit(&x);
	return NULL;
}

static int wait_atomic(atomic_int *v, int want)
{
	int64_t end = mono_ms() + 5000;
	while (atomic_load(v) < want && mono_ms() < end)
		sleep_ms(1);
	return atomic_load(v) >= want;
}

static void check_loops_in_threads(xev_backend b, const char *bn)
{
	struct lt t[2];
	pthread_t th[2];
	int s1 = stray[SIGUSR1], s2 = stray[SIGUSR2];

	for (int i = 0; i < 2; i++) {
		memset(&t[i], 0, sizeof t[i]);
		t[i].b = b;
		t[i].sig = i ? SIGUSR2 : SIGUSR1;
		atomic_init(&t[i].ready, 0);
		atomic_init(&t[i].count, 0);
		atomic_init(&t[i].bad, 0);
		atomic_init(&t[i].stop, 0);
		xev_async_init(&t[i].aw);
		start_thread(&th[i], lt_main, &t[i]);
	}
	wait_atomic(&t[0].ready, 1);
	wait_atomic(&t[1].ready, 1);
	kill(getpid(), SIGUSR1);
	wait_atomic(&t[0].count, 1);
	sleep_ms(30);
	kill(getpid(), SIGUSR2);
	wait_atomic(&t[1].count, 1);
	sleep_ms(30);
	for (int i = 0; i < 2; i++)
		xev_async_notify(&t[i].aw);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		xev_async_deinit(&t[i].aw);
	}
	ok(t[0].init_rc == 0 && atomic_load(&t[0].count) == 1 && atomic_load(&t[0].bad) == 0 && !t[0].guard_fired,
	   "%s: loop A in thread A waits for SIGUSR1, loop B in thread B for SIGUSR2: A gets SIGUSR1 once and "
	   "nothing else (%d calls)",
	   bn, atomic_load(&t[0].count));
	ok(t[1].init_rc == 0 && atomic_load(&t[1].count) == 1 && atomic_load(&t[1].bad) == 0 && !t[1].guard_fired &&
		   stray[SIGUSR1] == s1 && stray[SIGUSR2] == s2,
	   "%s: ... and B gets SIGUSR2 once and nothing else (%d calls)", bn, atomic_load(&t[1].count));
}

/* Coalescing, and deliveries remembered from init on. */
static void check_coalesce(xev_backend b, const char *bn)
{
	struct ctx x;
	xev_watcher w;
	xev_completion c;
	struct rec r;

	ctx_init(&x, b);
	sig_init_or_bail(&w, SIGUSR1);
	rec_init(&r, SIGUSR1, 1);
	xev_signal_wait(&w, &x.loop, &c, &r, rec_cb);
	xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
	for (int i = 0; i < 5; i++)
		kill(getpid(), SIGUSR1);
	wait_for(&x, &r.calls, 1);
	diag("%s: 5 kills before the run: %d callbacks", bn, r.calls);
	ok(r.calls >= 1 && r.calls <= 5 && r.bad == 0,
	   "%s: 5 kills before the loop runs: between 1 and 5 callbacks, all SIGUSR1 (%d)", bn, r.calls);
	is_int(r.calls, 1, "%s: ... coalesced into exactly one callback, as documented", bn);
	cancel_wait(&x, &c);

	/* Delivered after init, before any wait: the first wait gets it. */
	kill(getpid(), SIGUSR1);
	run_idle(&x);
	rec_init(&r, SIGUSR1, 0);
	xev_signal_wait(&w, &x.loop, &c, &r, rec_cb);
	xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
	ok(r.calls == 1 && r.result == SIGUSR1,
	   "%s: a delivery made when no wait was queued completes the next wait at once (NO_WAIT) (%d calls)", bn,
	   r.calls);
	cancel_wait(&x, &c);
	xev_signal_deinit(&w);

	/* Right after init, before anything else. */
	sig_init_or_bail(&w, SIGUSR1);
	kill(getpid(), SIGUSR1);
	kill(getpid(), SIGUSR1);
	rec_init(&r, SIGUSR1, 0);
	xev_signal_wait(&w, &x.loop, &c, &r, rec_cb);
	xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
	run_idle(&x);
	ok(r.calls == 1 && r.result == SIGUSR1,
	   "%s: two kills between init and the first wait: that wait completes once at once (%d calls)", bn,
	   r.calls);
	cancel_wait(&x, &c);
	xev_signal_deinit(&w);
	ctx_deinit(&x);
}

/* The mask and the previous disposition, restored exactly. */
static volatile sig_atomic_t h_calls;

static void h_info(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)si, (void)uc;
	h_calls++;
}

static void check_restore(xev_backend b, const char *bn)
{
	struct ctx x;
	xev_watcher w;
	xev_completion c;
	struct rec r;
	struct sigaction sa, q0, q1, q2;
	sigset_t s, old;
	int in, out, h0;

	/* The mask. */
	sigemptyset(&s);
	sigaddset(&s, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &s, &old);
	sig_init_or_bail(&w, SIGUSR2);
	in = blocked(SIGUSR2);
	xev_signal_deinit(&w);
	out = blocked(SIGUSR2);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	ok(!in, "%s: SIGUSR2 blocked in the thread: xev_signal_init unblocks it", bn);
	ok(out, "%s: ... and xev_signal_deinit blocks it again", bn);

	/* The disposition: an SA_SIGINFO handler with flags and a mask. */
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = h_info;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGHUP);
	if (sigaction(SIGUSR2, &sa, NULL) < 0)
		bail("sigaction failed");
	query(SIGUSR2, &q0);
	h_calls = 0;
	ctx_init(&x, b);
	sig_init_or_bail(&w, SIGUSR2);
	query(SIGUSR2, &q1);
	ok(handler_of(&q1) != (void *)h_info && q1.sa_handler != SIG_DFL && q1.sa_handler != SIG_IGN,
	   "%s: while a watcher of SIGUSR2 exists its disposition is the library's handler", bn);
	rec_init(&r, SIGUSR2, 0);
	xev_signal_wait(&w, &x.loop, &c, &r, rec_cb);
	xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
	h0 = h_calls;
	kill(getpid(), SIGUSR2);
	wait_for(&x, &r.calls, 1);
	ok(r.calls == 1 && r.result == SIGUSR2 && h_calls == h0,
	   "%s: ... a kill reaches the watcher and does NOT call the program's previous handler (%d calls of it)", bn,
	   (int)(h_calls - h0));
	xev_signal_deinit(&w);
	query(SIGUSR2, &q2);
	ok(same_action(&q0, &q2),
	   "%s: after deinit sigaction gives back the program's handler, same flags and mask (flags 0x%x, was 0x%x)",
	   bn, (unsigned)q2.sa_flags, (unsigned)q0.sa_flags);
	h0 = h_calls;
	kill(getpid(), SIGUSR2);
	ok(h_calls == h0 + 1 && r.calls == 1, "%s: ... and a kill calls it again, once (%d)", bn, (int)(h_calls - h0));
	ctx_deinit(&x);
	set_stray();
}

/* SIGCHLD: the previous handler is chained. */
static volatile sig_atomic_t chld_calls;

static void chld_h(int sig)
{
	(void)sig;
	chld_calls++;
}

static void check_sigchld(xev_backend b, const char *bn)
{
	struct ctx x;
	xev_watcher w;
	xev_completion c;
	struct rec r;
	struct sigaction q0, q1;
	int c0;

	set_action(SIGCHLD, chld_h, SA_RESTART);
	query(SIGCHLD, &q0);
	ctx_init(&x, b);
	sig_init_or_bail(&w, SIGCHLD);
	rec_init(&r, SIGCHLD, 0);
	xev_signal_wait(&w, &x.loop, &c, &r, rec_cb);
	xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
	c0 = chld_calls;
	kill(getpid(), SIGCHLD);
	wait_for(&x, &r.calls, 1);
	ok(r.calls == 1 && r.result == SIGCHLD && chld_calls == c0 + 1,
	   "%s: a watcher of SIGCHLD gets it, and the program's SIGCHLD handler is still called (chained) (%d)", bn,
	   (int)(chld_calls - c0));
	xev_signal_deinit(&w);
	query(SIGCHLD, &q1);
	ok(same_action(&q0, &q1), "%s: ... after deinit SIGCHLD's handler is the program's again", bn);
	ctx_deinit(&x);
	set_action(SIGCHLD, SIG_DFL, 0);
}

static void check_cancel(xev_backend b, const char *bn)
{
	struct ctx x;
	xev_watcher w;
	xev_completion c, cc;
	struct rec r, rc;
	int base;

	ctx_init(&x, b);
	sig_init_or_bail(&w, SIGUSR1);
	rec_init(&r, -ECANCELED, 0);
	rec_init(&rc, 0, 0);
	xev_signal_wait(&w, &x.loop, &c, &r, rec_cb);
	xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
	base = ncb;
	xev_cancel(&x.loop, &cc, &c, &rc, rec_cb);
	wait_for(&x, &ncb, base + 2);
	ok(r.calls == 1 && r.result == -ECANCELED && dead(&c),
	   "%s: cancel of a pending signal wait: the wait gets -ECANCELED (%d)", bn, r.result);
	ok(rc.calls == 1 && rc.result == 0, "%s: ... and the canceller 0 (%d)", bn, rc.result);
	rec_init(&r, SIGUSR1, 0);
	xev_signal_wait(&w, &x.loop, &c, &r, rec_cb);
	xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
	kill(getpid(), SIGUSR1);
	wait_for(&x, &r.calls, 1);
	ok(r.calls == 1 && r.result == SIGUSR1, "%s: ... the watcher still works: a new wait gets the next kill", bn);
	xev_signal_deinit(&w);
	ctx_deinit(&x);
}

/* Waits on watchers that are not signal watchers. */
static void check_bad_waits(xev_backend b, const char *bn)
{
	struct ctx x;
	xev_watcher w, a, z;
	xev_completion c;
	struct rec r;

	ctx_init(&x, b);
	xev_async_init(&a);
	rec_init(&r, -EINVAL, 0);
	xev_signal_wait(&a, &x.loop, &c, &r, rec_cb);
	wait_for(&x, &r.calls, 1);
	ok(r.calls == 1 && r.result == -EINVAL, "%s: xev_signal_wait on an async watcher: -EINVAL (%d)", bn, r.result);
	xev_async_deinit(&a);

	sig_init_or_bail(&w, SIGUSR1);
	xev_signal_deinit(&w);
	rec_init(&r, -EINVAL, 0);
	xev_signal_wait(&w, &x.loop, &c, &r, rec_cb);
	wait_for(&x, &r.calls, 1);
	ok(r.calls == 1 && r.result == -EINVAL, "%s: xev_signal_wait on a deinitialised signal watcher: -EINVAL (%d)",
	   bn, r.result);

	memset(&z, 0, sizeof z);
	rec_init(&r, -EINVAL, 0);
	xev_signal_wait(&z, &x.loop, &c, &r, rec_cb);
	wait_for(&x, &r.calls, 1);
	ok(r.calls == 1 && r.result == -EINVAL, "%s: xev_signal_wait on a zeroed watcher: -EINVAL (%d)", bn, r.result);
	ctx_deinit(&x);
}

/* Deinit with a delivery not consumed; the previous SIG_IGN applies. */
static void check_pending_deinit(xev_backend b, const char *bn)
{
	struct ctx x;
	xev_watcher w;
	xev_completion c;
	struct rec r;
	struct sigaction q;

	set_action(SIGUSR2, SIG_IGN, 0);
	ctx_init(&x, b);
	sig_init_or_bail(&w, SIGUSR2);
	kill(getpid(), SIGUSR2);
	kill(getpid(), SIGUSR2);
	xev_signal_deinit(&w);
	query(SIGUSR2, &q);
	ok(q.sa_handler == SIG_IGN,
	   "%s: deinit of the last watcher with a delivery not consumed: no crash, SIGUSR2 is SIG_IGN again", bn);
	kill(getpid(), SIGUSR2);
	ok(1, "%s: ... and a SIGUSR2 after deinit is ignored (the process lives on)", bn);
	sig_init_or_bail(&w, SIGUSR2);
	rec_init(&r, SIGUSR2, 0);
	xev_signal_wait(&w, &x.loop, &c, &r, rec_cb);
	run_idle(&x);
	ok(r.calls == 0 && !dead(&c),
	   "%s: ... a new watcher does not see the delivery dropped at deinit (%d calls)", bn, r.calls);
	cancel_wait(&x, &c);
	xev_signal_deinit(&w);
	ctx_deinit(&x);
	set_stray();
}

/* Loop deinit with a signal wait in flight, then a delivery. */
static void check_loop_deinit(xev_backend b, const char *bn)
{
	struct ctx x;
	xev_watcher w;
	xev_completion c;
	struct rec r;
	int n0, s0 = stray[SIGUSR1];

	n0 = tap_count_fds();
	ctx_init(&x, b);
	sig_init_or_bail(&w, SIGUSR1);
	rec_init(&r, SIGUSR1, 0);
	xev_signal_wait(&w, &x.loop, &c, &r, rec_cb);
	xev_loop_run(&x.loop, XEV_RUN_NO_WAIT);
	ctx_deinit(&x);
	ok(dead(&c) && r.calls == 0, "%s: loop deinit with a signal wait in flight: the completion is DEAD, no callback",
	   bn);
	kill(getpid(), SIGUSR1);
	xev_signal_deinit(&w);
	ok(r.calls == 0 && stray[SIGUSR1] == s0 && tap_count_fds() == n0,
	   "%s: ... a kill afterwards touches nothing, and after the watcher's deinit no fd is left (%d)", bn,
	   tap_count_fds() - n0);
}

static void check_backend(xev_backend b, const char *bn)
{
	check_self(b, bn);
	check_threads(b, bn);
	check_two(b, bn);
	check_loops_in_threads(b, bn);
	check_coalesce(b, bn);
	check_restore(b, bn);
	check_sigchld(b, bn);
	check_cancel(b, bn);
	check_bad_waits(b, bn);
	check_pending_deinit(b, bn);
	check_loop_deinit(b, bn);
}

/* Bad signal numbers and watchers, with no loop involved. */
/* ---- fork while another thread uses the registry ------------------------ */

static atomic_int churn_stop;

static void *churn_main(void *arg)
{
	xev_watcher w;
	(void)arg;
	while (!atomic_load(&churn_stop)) {
		if (xev_signal_init(&w, SIGUSR2) == 0)
			xev_signal_deinit(&w);
	}
	return NULL;
}

/* fork() copies the registry's lock as it is at that instant; a copy
 * taken by the other thread would never be released in the child, whose
 * next signal init (or signal) would spin forever. */
static void check_fork(void)
{
	enum { FORKS = 300 };
	pthread_t th;
	int hung = 0, failed = 0;

	atomic_store(&churn_stop, 0);
	start_thread(&th, churn_main, NULL);
	for (int i = 0; i < FORKS; i++) {
		int status;
		pid_t pid = fork();
		if (pid < 0)
			bail("fork failed");
		if (pid == 0) {
			xev_watcher w;
			if (xev_signal_init(&w, SIGUSR1) != 0)
				_exit(2);
			xev_signal_deinit(&w);
			_exit(0);
		}
		/* A stuck child spins with every signal blocked: SIGKILL it. */
		for (int64_t end = mono_ms() + 2000; waitpid(pid, &status, WNOHANG) == 0;) {
			if (mono_ms() > end) {
				kill(pid, SIGKILL);
				waitpid(pid, &status, 0);
				hung++;
				break;
			}
			sleep_ms(1);
		}
		failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
		if (hung > 2)
			break; /* enough to tell; do not spend the test's time limit */
	}
	atomic_store(&churn_stop, 1);
	pthread_join(th, NULL);
	ok(failed == 0, "%d forks while another thread inits and deinits signal watchers: every child could init "
			"one (%d hung, %d failed)",
	   FORKS, hung, failed);
}

static void check_global(void)
{
	static const struct {
		int sig;
		const char *name;
	} bad[] = {
		{ 0, "0" },           { -1, "-1" },           { NSIG, "NSIG (65)" },
		{ SIGKILL, "SIGKILL" }, { SIGSTOP, "SIGSTOP" }, { SIGSEGV, "SIGSEGV" },
		{ SIGBUS, "SIGBUS" },   { SIGFPE, "SIGFPE" },   { SIGILL, "SIGILL" },
#ifdef __GLIBC__
		{ 32, "32 (reserved by glibc)" }, { 33, "33 (reserved by glibc)" },
#endif
	};
	xev_watcher w, z;
	struct sigaction q0, q1;

	is_int(xev_signal_init(NULL, SIGUSR1), -EINVAL, "xev_signal_init(NULL, SIGUSR1): -EINVAL");
	query(SIGSEGV, &q0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		is_int(xev_signal_init(&w, bad[i].sig), -EINVAL, "xev_signal_init(w, %s): -EINVAL", bad[i].name);
	query(SIGSEGV, &q1);
	ok(same_action(&q0, &q1), "SIGSEGV's disposition is untouched by the refused init");
#ifdef SIGRTMAX
	query(SIGRTMAX, &q0);
	is_int(xev_signal_init(&w, SIGRTMAX), 0, "xev_signal_init(w, SIGRTMAX = %d): 0", SIGRTMAX);
	xev_signal_deinit(&w);
	query(SIGRTMAX, &q1);
	if (!ok(same_action(&q0, &q1), "... its deinit restores SIGRTMAX's disposition"))
		diag("before: handler %p flags 0x%x; after: handler %p flags 0x%x", handler_of(&q0),
		     (unsigned)q0.sa_flags, handler_of(&q1), (unsigned)q1.sa_flags);
#else
	skip(2, "no real-time signals here (SIGRTMAX)");
#endif
	xev_signal_deinit(&w);
	xev_signal_deinit(NULL);
	memset(&z, 0, sizeof z);
	xev_signal_deinit(&z);
	ok(1, "xev_signal_deinit twice, on NULL and on a zeroed watcher: harmless");
}

int main(void)
{
	plan(GLOBAL_CHECKS + TAP_NBACKENDS * PER_BACKEND);
	alarm(30);
	set_stray();
	set_action(SIGCHLD, SIG_DFL, 0);
	check_global();
	check_fork();
	tap_each_backend(PER_BACKEND, check_backend);
	return done_testing();
}
