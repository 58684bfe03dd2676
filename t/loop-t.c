/* SPDX-License-Identifier: MIT */
/*
 * The loop: backend selection and names, option and environment handling,
 * init/deinit (fds released, completions dead, no callbacks), the three run
 * modes, -EBUSY and -EINVAL, xev_loop_stop, the cached clock and the
 * completion states.  Every loop check runs on every backend.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <time.h>

#include "tap.h"

#define GLOBAL_CHECKS 16
/* Per backend in tap_backends, usable here or not (check_env). */
#define LISTED_CHECKS 4
#define ENV_CHECKS (5 + TAP_NBACKENDS * LISTED_CHECKS)
#define PER_BACKEND 43

/* Counts its calls in *(int *)userdata. */
static xev_cb_action count_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c, (void)result;
	++*(int *)ud;
	return XEV_DISARM;
}

/* Records the order in which timers fire; each has an id. */
struct order {
	int n;
	int ids[16];
	int stop_at; /* call xev_loop_stop when n reaches this */
	int rearms;  /* how many times the "rearm" timer still asks for XEV_REARM */
};

struct tmr {
	struct order *o;
	int id;
};

static xev_cb_action order_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct tmr *t = ud;
	(void)c, (void)result;
	if (t->o->n < 16)
		t->o->ids[t->o->n] = t->id;
	t->o->n++;
	if (t->o->n == t->o->stop_at)
		xev_loop_stop(l);
	return XEV_DISARM;
}

static xev_cb_action rearm_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct order *o = ud;
	(void)l, (void)c, (void)result;
	o->n++;
	return o->rearms-- > 0 ? XEV_REARM : XEV_DISARM;
}

/* Calls xev_loop_run from inside a callback of the same loop. */
struct nested {
	int rc[3];
	int calls;
};

static xev_cb_action nested_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct nested *n = ud;
	(void)c, (void)result;
	n->calls++;
	n->rc[0] = xev_loop_run(l, XEV_RUN_NO_WAIT);
	n->rc[1] = xev_loop_run(l, XEV_RUN_ONCE);
	n->rc[2] = xev_loop_run(l, XEV_RUN_UNTIL_DONE);
	return XEV_DISARM;
}

/* Looks at the cached clock around a busy wait. */
struct clockcheck {
	int64_t before, after_busy, after_update;
	int calls;
	int state_inside;
};

static xev_cb_action clock_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct clockcheck *k = ud;
	(void)result;
	k->calls++;
	k->state_inside = (int)xev_completion_state(c);
	k->before = xev_loop_now(l);
	busy_wait_ms(20);
	k->after_busy = xev_loop_now(l);
	xev_loop_update_now(l);
	k->after_update = xev_loop_now(l);
	return XEV_DISARM;
}

static int fd_is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

static void check_global(void)
{
	static const char *names[] = { "auto", "io_uring", "epoll", "kqueue", "poll" };
	xev_loop_options o;
	xev_loop loop;

	for (int b = XEV_BACKEND_AUTO; b <= XEV_BACKEND_POLL; b++) {
		const char *n = xev_backend_name((xev_backend)b);
		ok(n && strcmp(n, names[b]) == 0, "xev_backend_name(%d) is \"%s\"", b, names[b]);
	}
	ok(xev_backend_name((xev_backend)99) == NULL, "xev_backend_name(99) is NULL");
	ok(xev_backend_name((xev_backend)-1) == NULL, "xev_backend_name(-1) is NULL");
	is_int(xev_backend_available(XEV_BACKEND_AUTO), 0, "xev_backend_available(AUTO) is 0");

	memset(&o, 0, sizeof o);
	is_int(xev_loop_init_with_options(&loop, &o), -EINVAL, "zeroed (uninitialised) options: -EINVAL");
	memset(&o, 0xa5, sizeof o);
	is_int(xev_loop_init_with_options(&loop, &o), -EINVAL, "garbage (uninitialised) options: -EINVAL");
	xev_loop_options_init(&o);
	xev_loop_options_set_backend(&o, (xev_backend)77);
	is_int(xev_loop_init_with_options(&loop, &o), -EINVAL, "backend value out of range: -EINVAL");
	is_int(xev_loop_init(NULL), -EINVAL, "xev_loop_init(NULL): -EINVAL");
	is_int(xev_loop_init_with_options(NULL, NULL), -EINVAL, "xev_loop_init_with_options(NULL, NULL): -EINVAL");

	memset(&loop, 0, sizeof loop);
	is_int(xev_loop_run(&loop, XEV_RUN_NO_WAIT), -EINVAL, "run on an uninitialised loop: -EINVAL");
	is_int(xev_loop_backend(&loop), XEV_BACKEND_AUTO, "xev_loop_backend of an uninitialised loop: AUTO");
	is_int(xev_loop_now(&loop), 0, "xev_loop_now of an uninitialised loop: 0");
}

/* Initialises with options (NULL: xev_loop_init), returns rc; *got is the
 * backend chosen (AUTO on failure).  The loop is torn down again. */
static int init_with(const xev_loop_options *o, xev_backend *got)
{
	xev_loop loop;
	int rc = o ? xev_loop_init_with_options(&loop, o) : xev_loop_init(&loop);
	*got = XEV_BACKEND_AUTO;
	if (rc == 0) {
		*got = xev_loop_backend(&loop);
		xev_loop_deinit(&loop);
	}
	return rc;
}

/* "XEV_BACKEND=name: " for check names; "" when unset. */
static const char *env_tag(char *buf, size_t size)
{
	const char *e = getenv("XEV_BACKEND");
	if (!e)
		return "";
	snprintf(buf, size, "XEV_BACKEND=%s: ", e);
	return buf;
}

/* Every backend of the list, usable here or not: explicitly in the
 * options, and named by XEV_BACKEND (xev_loop_init, then options with
 * AUTO).  A usable one is used; any other fails (-ENOSYS if it is not
 * built, the kernel's errno if it refuses: the two cannot be told apart
 * from here) rather than falling back, and leaks no fd. */
static void check_listed(xev_backend b)
{
	const char *bn = xev_backend_name(b);
	int avail = xev_backend_available(b);
	const char *how = avail ? "usable here" : "not usable here";
	xev_loop_options o;
	xev_backend got;
	int rc, fds0;

	unsetenv("XEV_BACKEND");
	fds0 = tap_count_fds();
	xev_loop_options_init(&o);
	xev_loop_options_set_backend(&o, b);
	rc = init_with(&o, &got);
	if (avail)
		ok(rc == 0 && got == b, "%s (%s): explicit in the options: the loop uses it (%d, %s)", bn, how, rc,
		   xev_backend_name(got));
	else
		ok(rc < 0, "%s (%s): explicit in the options: init fails with a negative errno (%d)", bn, how, rc);
	is_int(tap_count_fds(), fds0, "%s (%s): explicit init%s leaves no fd behind", bn, how,
	       avail ? " and deinit" : " that failed");

	setenv("XEV_BACKEND", bn, 1);
	rc = init_with(NULL, &got);
	if (avail)
		ok(rc == 0 && got == b, "XEV_BACKEND=%s (%s): xev_loop_init uses it (%d, %s)", bn, how, rc,
		   xev_backend_name(got));
	else
		ok(rc < 0, "XEV_BACKEND=%s (%s): xev_loop_init fails with a negative errno, no fallback (%d, %s)", bn,
		   how, rc, xev_backend_name(got));
	xev_loop_options_init(&o);
	rc = init_with(&o, &got);
	if (avail)
		ok(rc == 0 && got == b, "XEV_BACKEND=%s (%s): options with AUTO use it (%d, %s)", bn, how, rc,
		   xev_backend_name(got));
	else
		ok(rc < 0, "XEV_BACKEND=%s (%s): options with AUTO fail with a negative errno, no fallback (%d, %s)",
		   bn, how, rc, xev_backend_name(got));
	unsetenv("XEV_BACKEND");
}

static void check_env(void)
{
	const char *saved = getenv("XEV_BACKEND");
	char *copy = saved ? strdup(saved) : NULL;
	xev_backend auto_want = tap_auto_pick(XEV_BACKEND_AUTO);
	xev_backend two[2] = { XEV_BACKEND_AUTO, XEV_BACKEND_AUTO };
	int navail = 0;
	char tag[64];
	xev_loop_options o;
	xev_backend got;
	int rc;

	for (int i = 0; i < TAP_NBACKENDS; i++) {
		check_listed(tap_backends[i]);
		if (xev_backend_available(tap_backends[i]) && navail < 2)
			two[navail++] = tap_backends[i];
	}

	/* AUTO, from no XEV_BACKEND and from XEV_BACKEND=auto. */
	for (int i = 0; i < 2; i++) {
		if (i == 0)
			unsetenv("XEV_BACKEND");
		else
			setenv("XEV_BACKEND", "auto", 1);
		rc = init_with(NULL, &got);
		if (auto_want != XEV_BACKEND_AUTO)
			ok(rc == 0 && got == auto_want, "%sAUTO picks %s (%d, %s)",
			   i ? env_tag(tag, sizeof tag) : "no XEV_BACKEND: ", xev_backend_name(auto_want), rc,
			   xev_backend_name(got));
		else
			ok(rc < 0, "%sno backend AUTO may pick is usable: init fails (%d)",
			   i ? env_tag(tag, sizeof tag) : "no XEV_BACKEND: ", rc);
	}

	/* An explicit backend in the options wins over XEV_BACKEND naming
	 * another, both ways round. */
	if (navail == 2) {
		for (int i = 0; i < 2; i++) {
			setenv("XEV_BACKEND", xev_backend_name(two[1 - i]), 1);
			xev_loop_options_init(&o);
			xev_loop_options_set_backend(&o, two[i]);
			rc = init_with(&o, &got);
			ok(rc == 0 && got == two[i], "%sexplicit %s in the options wins (%d, %s)",
			   env_tag(tag, sizeof tag), xev_backend_name(two[i]), rc, xev_backend_name(got));
		}
	} else {
		skip(2, "explicit backend over XEV_BACKEND: needs two usable backends");
	}

	setenv("XEV_BACKEND", "no-such-backend", 1);
	rc = init_with(NULL, &got);
	is_int(rc, -EINVAL, "XEV_BACKEND=no-such-backend: -EINVAL");

	if (copy)
		setenv("XEV_BACKEND", copy, 1);
	else
		unsetenv("XEV_BACKEND");
	free(copy);
}

static void check_init_deinit(xev_backend b, const char *bn)
{
	xev_loop_options o;
	xev_loop loop;
	int fds0, fds1, fds2, rc, bad, p[2];

	fds0 = tap_count_fds();
	xev_loop_options_init(&o);
	xev_loop_options_set_backend(&o, b);
	rc = xev_loop_init_with_options(&loop, &o);
	is_int(rc, 0, "%s: xev_loop_init_with_options succeeds", bn);
	if (rc != 0)
		bail("cannot initialise a loop on an available backend");
	is_int(xev_loop_backend(&loop), b, "%s: xev_loop_backend reports it", bn);
	fds1 = tap_count_fds();
	ok(fds1 > fds0, "%s: the loop holds kernel fds (%d -> %d)", bn, fds0, fds1);
	xev_loop_deinit(&loop);
	fds2 = tap_count_fds();
	is_int(fds2, fds0, "%s: deinit closes every fd it opened", bn);
	is_int(xev_loop_backend(&loop), XEV_BACKEND_AUTO, "%s: xev_loop_backend after deinit is AUTO", bn);
	is_int(xev_loop_run(&loop, XEV_RUN_NO_WAIT), -EINVAL, "%s: run after deinit: -EINVAL", bn);

	/* A second deinit must not close fds that now belong to others. */
	if (pipe(p) < 0)
		bail("pipe failed");
	xev_loop_deinit(&loop);
	ok(fd_is_open(p[0]) && fd_is_open(p[1]), "%s: a second deinit is a no-op (reused fds stay open)", bn);
	close(p[0]);
	close(p[1]);

	bad = 0;
	fds0 = tap_count_fds();
	for (int i = 0; i < 100; i++) {
		if (xev_loop_init_with_options(&loop, &o) != 0) {
			bad++;
			continue;
		}
		if (xev_loop_backend(&loop) != b)
			bad++;
		xev_loop_deinit(&loop);
	}
	fds1 = tap_count_fds();
	ok(bad == 0 && fds1 == fds0, "%s: 100 init/deinit cycles succeed and leak no fd (%d failures, %d -> %d fds)",
	   bn, bad, fds0, fds1);
}

static void check_run_modes(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_watcher w;
	xev_completion c_long, c_now, c_short, cs[4], c_rearm;
	int n_long = 0, n_now = 0, n_short = 0, rc;
	int64_t t0, dt;
	struct order o = { 0 };
	struct tmr ts[3];
	struct nested nest = { { 1, 1, 1 }, 0 };

	xev_timer_init(&w);
	tap_loop_init(&loop, b);

	t0 = mono_ms();
	rc = xev_loop_run(&loop, XEV_RUN_ONCE);
	ok(rc == 0 && mono_ms() - t0 < 2000, "%s: ONCE on an empty loop returns 0 at once", bn);
	t0 = mono_ms();
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && mono_ms() - t0 < 2000, "%s: UNTIL_DONE on an empty loop returns 0 at once", bn);
	is_int(xev_loop_run(&loop, XEV_RUN_NO_WAIT), 0, "%s: NO_WAIT on an empty loop returns 0", bn);

	/* NO_WAIT with a 10 s timer pending. */
	xev_timer_run(&w, &loop, &c_long, 10000, &n_long, count_cb);
	t0 = mono_ms();
	rc = xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	dt = mono_ms() - t0;
	ok(rc == 0 && dt < 2000, "%s: NO_WAIT with a 10 s timer pending returns 0 promptly (%lld ms)", bn,
	   (long long)dt);
	ok(n_long == 0 && xev_completion_state(&c_long) == XEV_COMPLETION_ACTIVE,
	   "%s: NO_WAIT: the 10 s timer has not fired and is still active", bn);

	/* NO_WAIT does run what is ready. */
	xev_timer_run(&w, &loop, &c_now, 0, &n_now, count_cb);
	rc = xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	ok(rc == 0 && n_now == 1 && n_long == 0, "%s: NO_WAIT runs a 0 ms timer (and only it)", bn);

	/* ONCE: returns after at least one callback, not after all. */
	xev_timer_run(&w, &loop, &c_short, 10, &n_short, count_cb);
	t0 = mono_ms();
	rc = xev_loop_run(&loop, XEV_RUN_ONCE);
	dt = mono_ms() - t0;
	ok(rc == 0 && n_short == 1 && n_long == 0 && xev_completion_state(&c_long) == XEV_COMPLETION_ACTIVE,
	   "%s: ONCE returns after the 10 ms timer, the 10 s one still active", bn);
	ok(dt < 5000, "%s: ONCE did not wait for the 10 s timer (%lld ms)", bn, (long long)dt);

	/* Invalid mode; the pending timer is untouched. */
	is_int(xev_loop_run(&loop, (xev_run_mode_t)3), -EINVAL, "%s: run mode 3: -EINVAL", bn);
	ok(xev_loop_run(&loop, (xev_run_mode_t)-1) == -EINVAL && n_long == 0,
	   "%s: run mode -1: -EINVAL, nothing run", bn);
	xev_loop_deinit(&loop);
	ok(n_long == 0 && xev_completion_state(&c_long) == XEV_COMPLETION_DEAD,
	   "%s: deinit with a 10 s timer pending: dead, no callback", bn);

	/* UNTIL_DONE: until nothing is active (timers and a rearming one). */
	tap_loop_init(&loop, b);
	for (int i = 0; i < 3; i++) {
		ts[i].o = &o;
		ts[i].id = i;
		xev_timer_run(&w, &loop, &cs[i], (uint64_t)(1 + 5 * i), &ts[i], order_cb);
	}
	{
		struct order r = { 0 };
		r.rearms = 3;
		xev_timer_run(&w, &loop, &c_rearm, 2, &r, rearm_cb);
		rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
		ok(rc == 0 && o.n == 3 && r.n == 4,
		   "%s: UNTIL_DONE runs until nothing is active (3 timers, 1 rearmed 3 times: %d, %d)", bn, o.n,
		   r.n);
	}
	ok(xev_completion_state(&cs[0]) == XEV_COMPLETION_DEAD && xev_completion_state(&cs[1]) == XEV_COMPLETION_DEAD &&
		   xev_completion_state(&cs[2]) == XEV_COMPLETION_DEAD &&
		   xev_completion_state(&c_rearm) == XEV_COMPLETION_DEAD,
	   "%s: after UNTIL_DONE every completion is dead", bn);

	/* Run from inside a callback: -EBUSY for every mode. */
	xev_timer_run(&w, &loop, &cs[3], 0, &nest, nested_cb);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && nest.calls == 1 && nest.rc[0] == -EBUSY && nest.rc[1] == -EBUSY && nest.rc[2] == -EBUSY,
	   "%s: xev_loop_run from a callback of the same loop: -EBUSY (%d, %d, %d)", bn, nest.rc[0], nest.rc[1],
	   nest.rc[2]);
	xev_loop_deinit(&loop);
}

static void check_stop(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_watcher w;
	xev_completion cs[5];
	struct order o = { 0 };
	struct tmr ts[5];
	int rc;

	xev_timer_init(&w);
	tap_loop_init(&loop, b);
	for (int i = 0; i < 5; i++) {
		ts[i].o = &o;
		ts[i].id = i;
	}
	o.stop_at = 1;
	for (int i = 0; i < 3; i++)
		xev_timer_run(&w, &loop, &cs[i], (uint64_t)(1 + i), &ts[i], order_cb);
	busy_wait_ms(10); /* all three are due in the first tick */
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && o.n == 1 && o.ids[0] == 0, "%s: xev_loop_stop in the first callback ends the run (%d run)", bn,
	   o.n);
	ok(xev_completion_state(&cs[1]) == XEV_COMPLETION_ACTIVE && xev_completion_state(&cs[2]) == XEV_COMPLETION_ACTIVE,
	   "%s: the due callbacks not run yet are still active", bn);

	/* A timer due now, started after the stop, runs after them. */
	xev_timer_run(&w, &loop, &cs[3], 0, &ts[3], order_cb);
	rc = xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	ok(rc == 0 && o.n == 4 && o.ids[1] == 1 && o.ids[2] == 2 && o.ids[3] == 3,
	   "%s: the next run runs the remaining due callbacks first, in deadline order (%d run)", bn, o.n);

	/* A later run works normally. */
	o.stop_at = 0;
	xev_timer_run(&w, &loop, &cs[4], 5, &ts[4], order_cb);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && o.n == 5 && o.ids[4] == 4, "%s: a later UNTIL_DONE runs normally", bn);

	/* Stop outside a run has no effect on the next run. */
	o.n = 0;
	for (int i = 0; i < 2; i++)
		xev_timer_run(&w, &loop, &cs[i], (uint64_t)(1 + 3 * i), &ts[i], order_cb);
	xev_loop_stop(&loop);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && o.n == 2, "%s: xev_loop_stop outside a run has no effect (%d of 2 ran)", bn, o.n);
	xev_loop_deinit(&loop);
}

static void check_now(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_watcher w;
	xev_completion c;
	struct clockcheck k = { 0 };
	int64_t t0, t1, prev;
	int n = 0, dec = 0;

	xev_timer_init(&w);
	tap_loop_init(&loop, b);
	xev_timer_run(&w, &loop, &c, 0, &k, clock_cb);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(k.calls == 1 && k.after_busy == k.before,
	   "%s: xev_loop_now is cached: unchanged in a callback after a 20 ms busy wait (%lld, %lld)", bn,
	   (long long)k.before, (long long)k.after_busy);
	ok(k.after_update >= k.before + 20, "%s: xev_loop_update_now refreshes it (+%lld ms)", bn,
	   (long long)(k.after_update - k.before));

	xev_loop_update_now(&loop);
	t0 = xev_loop_now(&loop);
	xev_timer_run(&w, &loop, &c, 30, &n, count_cb);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	t1 = xev_loop_now(&loop);
	ok(n == 1 && t1 >= t0 + 30, "%s: xev_loop_now advances across a 30 ms wait (+%lld ms)", bn,
	   (long long)(t1 - t0));

	prev = xev_loop_now(&loop);
	for (int i = 0; i < 300; i++) {
		int64_t cur;
		if (i % 3 == 0)
			xev_loop_update_now(&loop);
		else
			xev_loop_run(&loop, XEV_RUN_NO_WAIT);
		cur = xev_loop_now(&loop);
		if (cur < prev)
			dec++;
		prev = cur;
	}
	is_int(dec, 0, "%s: xev_loop_now never decreases", bn);
	xev_loop_deinit(&loop);
}

static void check_states(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_watcher w, a;
	xev_completion c, t[3], cc, aw, r[3];
	struct clockcheck k = { 0 };
	struct order o = { 0 };
	struct tmr ts[3];
	int n = 0, all_active, fds0, calls_before;

	xev_timer_init(&w);
	memset(&c, 0xff, sizeof c);
	xev_completion_zero(&c);
	is_int(xev_completion_state(&c), XEV_COMPLETION_DEAD, "%s: a zeroed completion is dead", bn);

	tap_loop_init(&loop, b);
	xev_timer_run(&w, &loop, &c, 0, &k, clock_cb);
	is_int(xev_completion_state(&c), XEV_COMPLETION_ACTIVE, "%s: a started timer is active before the run", bn);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(k.calls == 1 && k.state_inside == XEV_COMPLETION_DEAD, "%s: a completion is dead inside its own callback",
	   bn);
	is_int(xev_completion_state(&c), XEV_COMPLETION_DEAD, "%s: dead after its callback disarmed", bn);
	xev_loop_deinit(&loop);

	/* Deinit with everything still active: timers, a queued cancel, an
	 * async wait, timers due whose callbacks did not run (stopped run). */
	fds0 = tap_count_fds();
	tap_loop_init(&loop, b);
	xev_async_init(&a);
	for (int i = 0; i < 3; i++)
		xev_timer_run(&w, &loop, &t[i], (uint64_t)(10000 + i), &n, count_cb);
	o.stop_at = 1;
	for (int i = 0; i < 3; i++) {
		ts[i].o = &o;
		ts[i].id = i;
		xev_timer_run(&w, &loop, &r[i], (uint64_t)(1 + i), &ts[i], order_cb);
	}
	xev_async_wait(&a, &loop, &aw, &n, count_cb);
	busy_wait_ms(10);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE); /* runs r[0], stops */
	xev_completion_zero(&cc);
	xev_timer_cancel(&w, &loop, &t[0], &cc, &n, count_cb);
	all_active = xev_completion_state(&t[0]) && xev_completion_state(&t[1]) && xev_completion_state(&t[2]) &&
		     xev_completion_state(&cc) && xev_completion_state(&aw) && xev_completion_state(&r[1]) &&
		     xev_completion_state(&r[2]);
	ok(all_active && o.n == 1 && n == 0, "%s: before deinit: timers, cancel, async wait, due timers active", bn);
	calls_before = n + o.n;
	xev_loop_deinit(&loop);
	ok(!xev_completion_state(&t[0]) && !xev_completion_state(&t[1]) && !xev_completion_state(&t[2]),
	   "%s: deinit: pending timers are dead", bn);
	is_int(xev_completion_state(&cc), XEV_COMPLETION_DEAD, "%s: deinit: a queued cancel is dead", bn);
	is_int(xev_completion_state(&aw), XEV_COMPLETION_DEAD, "%s: deinit: an async wait is dead", bn);
	ok(!xev_completion_state(&r[1]) && !xev_completion_state(&r[2]),
	   "%s: deinit: expired timers whose callbacks had not run are dead", bn);
	is_int(n + o.n, calls_before, "%s: deinit calls no callback", bn);
	is_int(tap_count_fds(), fds0, "%s: deinit of a loop that ran with active completions leaks no fd", bn);
	is_int(xev_async_notify(&a), 0, "%s: notifying a watcher whose loop is gone is harmless", bn);
	xev_async_deinit(&a);
}

static void check_backend(xev_backend b, const char *bn)
{
	check_init_deinit(b, bn);
	check_run_modes(b, bn);
	check_stop(b, bn);
	check_now(b, bn);
	check_states(b, bn);
}

int main(void)
{
	plan(GLOBAL_CHECKS + ENV_CHECKS + TAP_NBACKENDS * PER_BACKEND);
	check_global();
	check_env();
	tap_each_backend(PER_BACKEND, check_backend);
	return done_testing();
}
