/* SPDX-License-Identifier: MIT */
/*
 * xev_work: fn runs on a pool worker, then cb on the loop's thread with 0;
 * 1000 works in flight on one loop; two loops on two threads sharing one
 * pool; a NULL, uninitialised or shut-down pool; a NULL fn; XEV_REARM;
 * cancellation of a queued and of a running work; XEV_RUN_UNTIL_DONE
 * waits for work; regular-file operations on a loop whose options name a
 * pool (a backend without XEV__CAP_NATIVE_FILES does them there, one
 * with it in the kernel), and the other fd
 * operations on such a loop.  Every check runs on every backend.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "tap.h"
#include "net.h"

#define GLOBAL_CHECKS 0
#define PER_BACKEND 32
#define MANY 1000
#define PER_LOOP 500

/* Which loop's thread this is: 0 for none (a pool worker). */
static _Thread_local int loop_id;

/* What one work saw. */
struct witem {
	atomic_int fn_runs;
	atomic_int fn_on_loop_thread; /* fn ran on a thread that runs a loop */
	atomic_int fn_done;           /* fn returned (set last thing in fn) */
	int sleep_ms;                 /* fn sleeps this long first */
	atomic_int *hold;             /* fn waits until *hold is set */
	atomic_int started;
	int owner;                    /* loop_id whose thread must run cb */
	int calls, result, rearm;
	int cb_wrong_thread;          /* cb ran on another thread than owner's */
	int cb_before_fn_done;        /* cb ran while fn had not returned */
	int not_dead;
};

static void witem_init(struct witem *w, int owner)
{
	memset(w, 0, sizeof *w);
	atomic_init(&w->fn_runs, 0);
	atomic_init(&w->fn_on_loop_thread, 0);
	atomic_init(&w->fn_done, 0);
	atomic_init(&w->started, 0);
	w->owner = owner;
	w->result = 12345;
}

static void work_fn(void *ud)
{
	struct witem *w = ud;
	atomic_store(&w->fn_done, 0);
	atomic_store(&w->started, 1);
	atomic_fetch_add(&w->fn_runs, 1);
	if (loop_id)
		atomic_fetch_add(&w->fn_on_loop_thread, 1);
	if (w->hold) {
		int64_t end = mono_ms() + 10000;
		while (!atomic_load(w->hold) && mono_ms() < end)
			sleep_ms(1);
	}
	if (w->sleep_ms)
		sleep_ms(w->sleep_ms);
	atomic_store(&w->fn_done, 1);
}

/* Per thread: the two-loop check calls back on two threads at once. */
static _Thread_local int ncb;

static xev_cb_action work_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct witem *w = ud;
	(void)l;
	w->calls++;
	w->result = result;
	if (loop_id != w->owner)
		w->cb_wrong_thread++;
	if (!atomic_load(&w->fn_done))
		w->cb_before_fn_done++;
	if (xev_completion_state(c) != XEV_COMPLETION_DEAD)
		w->not_dead++;
	ncb++;
	if (w->rearm > 0) {
		w->rearm--;
		return XEV_REARM;
	}
	return XEV_DISARM;
}

static xev_threadpool pool4, pool1, pool_down;

/* Queues w on pool1, held until *release is set, and waits until the
 * pool's only worker runs it: the pool is then busy. */
static void hold_worker(xev_loop *l, xev_completion *c, struct witem *w, atomic_int *release)
{
	witem_init(w, 1);
	w->hold = release;
	xev_work(l, c, &pool1, work_fn, w, work_cb);
	xev_loop_run(l, XEV_RUN_NO_WAIT);
	if (!wait_flag(&w->started))
		bail("the pool never started the work");
}

/* fn on a worker, cb on the loop thread after fn, with 0. */
static void check_basic(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_completion c;
	struct witem w;
	int rc;

	tap_loop_init(&loop, b);
	loop_id = 1;
	witem_init(&w, 1);
	w.sleep_ms = 20; /* so that a cb not waiting for fn would show */
	xev_work(&loop, &c, &pool4, work_fn, &w, work_cb);
	is_int(xev_completion_state(&c), XEV_COMPLETION_ACTIVE, "%s: a queued work is active", bn);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	is_int(rc, 0, "%s: xev_loop_run(UNTIL_DONE) with one work: 0", bn);
	is_int(w.result, 0, "%s: the work's callback gets 0", bn);
	ok(w.calls == 1 && atomic_load(&w.fn_runs) == 1 && w.not_dead == 0 && dead(&c),
	   "%s: fn and cb ran once each, DEAD inside cb and after (%d, %d)", bn, atomic_load(&w.fn_runs), w.calls);
	is_int(atomic_load(&w.fn_on_loop_thread), 0, "%s: fn ran on a pool worker, not on the loop's thread", bn);
	is_int(w.cb_wrong_thread, 0, "%s: cb ran on the loop's thread", bn);
	is_int(w.cb_before_fn_done, 0, "%s: cb ran after fn had returned (it saw fn's last write)", bn);

	/* fn NULL: the callback still comes, with 0. */
	witem_init(&w, 1);
	xev_work(&loop, &c, &pool4, NULL, &w, work_cb);
	atomic_store(&w.fn_done, 1);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && w.calls == 1 && w.result == 0 && w.cb_wrong_thread == 0,
	   "%s: fn NULL: cb still runs once, on the loop thread, with 0 (%d calls, result %d)", bn, w.calls,
	   w.result);

	/* XEV_REARM runs fn again. */
	witem_init(&w, 1);
	w.rearm = 3;
	xev_work(&loop, &c, &pool4, work_fn, &w, work_cb);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && atomic_load(&w.fn_runs) == 4 && w.calls == 4 && w.result == 0 && w.cb_before_fn_done == 0 &&
		   dead(&c),
	   "%s: cb returning XEV_REARM 3 times: fn and cb ran 4 times each (%d, %d), result 0", bn,
	   atomic_load(&w.fn_runs), w.calls);

	/* UNTIL_DONE waits for a slow fn. */
	witem_init(&w, 1);
	w.sleep_ms = 60;
	{
		int64_t t0 = mono_ms(), el;
		xev_work(&loop, &c, &pool4, work_fn, &w, work_cb);
		rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
		el = mono_ms() - t0;
		ok(rc == 0 && w.calls == 1 && w.result == 0 && w.cb_before_fn_done == 0 && el >= 60,
		   "%s: UNTIL_DONE returns only once a 60 ms work has called back (%d calls, %lld ms)", bn, w.calls,
		   (long long)el);
	}
	loop_id = 0;
	xev_loop_deinit(&loop);
}

/* Pools that cannot take work. */
static void check_bad_pools(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_completion c[3];
	xev_threadpool zeroed;
	struct witem w[3];
	int rc;

	tap_loop_init(&loop, b);
	loop_id = 1;
	memset(&zeroed, 0, sizeof zeroed);
	for (int i = 0; i < 3; i++) {
		witem_init(&w[i], 1);
		atomic_store(&w[i].fn_done, 1);
	}
	xev_work(&loop, &c[0], NULL, work_fn, &w[0], work_cb);
	xev_work(&loop, &c[1], &zeroed, work_fn, &w[1], work_cb);
	xev_work(&loop, &c[2], &pool_down, work_fn, &w[2], work_cb);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	sleep_ms(2);
	is_int(w[0].result, -EINVAL, "%s: pool NULL: cb gets -EINVAL", bn);
	is_int(w[1].result, -EINVAL, "%s: pool never initialised (zeroed): cb gets -EINVAL", bn);
	is_int(w[2].result, -ECANCELED, "%s: pool already shut down: cb gets -ECANCELED", bn);
	ok(rc == 0 && w[0].calls == 1 && w[1].calls == 1 && w[2].calls == 1 && atomic_load(&w[0].fn_runs) == 0 &&
		   atomic_load(&w[1].fn_runs) == 0 && atomic_load(&w[2].fn_runs) == 0,
	   "%s: ... each called once, fn never ran (%d %d %d calls)", bn, w[0].calls, w[1].calls, w[2].calls);
	loop_id = 0;
	xev_loop_deinit(&loop);
}

/* MANY works in flight on one loop. */
static void check_many(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_completion *cs = calloc(MANY, sizeof *cs);
	struct witem *ws = calloc(MANY, sizeof *ws);
	int fn_bad = 0, cb_bad = 0, thread_bad = 0, rc;
	int64_t t0;

	if (!cs || !ws)
		bail("out of memory");
	tap_loop_init(&loop, b);
	loop_id = 1;
	for (int i = 0; i < MANY; i++) {
		witem_init(&ws[i], 1);
		xev_work(&loop, &cs[i], &pool4, work_fn, &ws[i], work_cb);
	}
	t0 = mono_ms();
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	for (int i = 0; i < MANY; i++) {
		if (atomic_load(&ws[i].fn_runs) != 1)
			fn_bad++;
		if (ws[i].calls != 1 || ws[i].result != 0 || ws[i].cb_before_fn_done || !dead(&cs[i]))
			cb_bad++;
		if (ws[i].cb_wrong_thread || atomic_load(&ws[i].fn_on_loop_thread))
			thread_bad++;
	}
	is_int(rc, 0, "%s: %d works in flight: UNTIL_DONE returns 0 (%lld ms)", bn, MANY, (long long)(mono_ms() - t0));
	is_int(fn_bad, 0, "%s: %d works: each fn ran exactly once", bn, MANY);
	is_int(cb_bad, 0, "%s: %d works: each cb ran exactly once, after its fn, with 0", bn, MANY);
	is_int(thread_bad, 0, "%s: %d works: fn on workers, cb on the loop thread", bn, MANY);
	loop_id = 0;
	xev_loop_deinit(&loop);
	free(cs);
	free(ws);
}

/* Two loops on two threads, one pool. */
struct lthread {
	xev_backend b;
	int id;
	xev_completion *cs;
	struct witem *ws;
	int rc;
};

static void *loop_main(void *arg)
{
	struct lthread *t = arg;
	xev_loop loop;

	loop_id = t->id;
	tap_loop_init(&loop, t->b);
	for (int i = 0; i < PER_LOOP; i++) {
		witem_init(&t->ws[i], t->id);
		if (i % 7 == 0)
			t->ws[i].rearm = 1;
		xev_work(&loop, &t->cs[i], &pool4, work_fn, &t->ws[i], work_cb);
	}
	t->rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	xev_loop_deinit(&loop);
	return NULL;
}

static void check_two_loops(xev_backend b, const char *bn)
{
	struct lthread t[2];
	pthread_t th[2];
	int bad_once = 0, bad_thread = 0;

	for (int i = 0; i < 2; i++) {
		t[i].b = b;
		t[i].id = 10 + i;
		t[i].cs = calloc(PER_LOOP, sizeof *t[i].cs);
		t[i].ws = calloc(PER_LOOP, sizeof *t[i].ws);
		t[i].rc = -1;
		if (!t[i].cs || !t[i].ws)
			bail("out of memory");
	}
	for (int i = 0; i < 2; i++)
		if (pthread_create(&th[i], NULL, loop_main, &t[i]) != 0)
			bail("pthread_create failed");
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < PER_LOOP; k++) {
			struct witem *w = &t[i].ws[k];
			int want = k % 7 == 0 ? 2 : 1;
			if (atomic_load(&w->fn_runs) != want || w->calls != want || w->result != 0 || w->cb_before_fn_done)
				bad_once++;
			if (w->cb_wrong_thread || atomic_load(&w->fn_on_loop_thread))
				bad_thread++;
		}
	ok(t[0].rc == 0 && t[1].rc == 0, "%s: two loops on two threads sharing a pool: both runs return 0 (%d, %d)",
	   bn, t[0].rc, t[1].rc);
	is_int(bad_once, 0, "%s: two loops, %d works each (some rearmed): every fn and cb ran as often as asked", bn,
	       PER_LOOP);
	is_int(bad_thread, 0, "%s: two loops: each cb ran on its own loop's thread, no fn on a loop thread", bn);
	for (int i = 0; i < 2; i++) {
		free(t[i].cs);
		free(t[i].ws);
	}
}

/* Cancelling works on a one-worker pool. */
static void check_cancel(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_completion blk, t, cn;
	struct witem wb, wt, wc;
	atomic_int release;
	int base;

	tap_loop_init(&loop, b);
	loop_id = 1;
	atomic_init(&release, 0);

	/* Cancel of a running work: too late. */
	hold_worker(&loop, &blk, &wb, &release);
	witem_init(&wc, 1);
	atomic_store(&wc.fn_done, 1);
	base = ncb;
	xev_cancel(&loop, &cn, &blk, &wc, work_cb);
	run_until(&loop, &ncb, base + 1);
	ok(wc.calls == 1 && wc.result == -ENOENT && wb.calls == 0,
	   "%s: cancel of a running work: canceller -ENOENT at once, the work goes on (%d, %d calls)", bn, wc.result,
	   wb.calls);

	/* Cancel of a work queued behind it. */
	witem_init(&wt, 1);
	xev_work(&loop, &t, &pool1, work_fn, &wt, work_cb);
	xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	witem_init(&wc, 1);
	atomic_store(&wc.fn_done, 1);
	base = ncb;
	xev_cancel(&loop, &cn, &t, &wc, work_cb);
	run_until(&loop, &ncb, base + 2);
	is_int(wt.result, -ECANCELED, "%s: cancel of a queued work: its cb gets -ECANCELED", bn);
	ok(wc.calls == 1 && wc.result == 0 && wt.calls == 1 && dead(&t),
	   "%s: cancel of a queued work: canceller 0, each called once (%d, %d calls)", bn, wc.calls, wt.calls);

	atomic_store(&release, 1);
	run_until(&loop, &ncb, base + 3);
	sleep_ms(5);
	xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	ok(wb.calls == 1 && wb.result == 0 && atomic_load(&wb.fn_runs) == 1 && wb.cb_before_fn_done == 0,
	   "%s: the running work whose cancel failed completes with 0, once (%d calls, result %d)", bn, wb.calls,
	   wb.result);
	ok(atomic_load(&wt.fn_runs) == 0 && wt.calls == 1,
	   "%s: the cancelled work's fn never ran, its cb not called again (%d runs)", bn, atomic_load(&wt.fn_runs));
	loop_id = 0;
	xev_loop_deinit(&loop);
}

struct frec {
	int calls, result;
};

static xev_cb_action file_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct frec *r = ud;
	(void)l;
	(void)c;
	r->calls++;
	r->result = result;
	ncb++;
	return XEV_DISARM;
}

/* Regular files (and a pipe) on a loop whose options name a pool. */
static void check_files(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_completion c[4], blk, cn;
	struct frec r[4], rc;
	struct witem wb;
	atomic_int release;
	char buf[4][32];
	int fd = temp_file("xev-work-t"), p[2], base;
	/* Files on the pool: the backend has no XEV__CAP_NATIVE_FILES. */
	int on_pool = !(tap_caps(b) & XEV__CAP_NATIVE_FILES);

	tap_loop_init_pool(&loop, b, &pool4);
	loop_id = 1;
	memset(r, 0, sizeof r);
	memset(buf, 0, sizeof buf);
	xev_pwrite(&loop, &c[0], fd, "hello world", 11, 0, &r[0], file_cb);
	base = ncb;
	run_until(&loop, &ncb, base + 1);
	xev_pread(&loop, &c[1], fd, buf[1], 5, 6, &r[1], file_cb);
	xev_write(&loop, &c[2], fd, "HELLO", 5, &r[2], file_cb); /* file position 0 */
	run_until(&loop, &ncb, base + 3);
	xev_read(&loop, &c[3], fd, buf[3], sizeof buf[3], &r[3], file_cb); /* from position 5 */
	run_until(&loop, &ncb, base + 4);
	ok(r[0].calls == 1 && r[0].result == 11 && r[1].calls == 1 && r[1].result == 5 &&
		   memcmp(buf[1], "world", 5) == 0,
	   "%s, loop with a pool: pwrite 11 bytes then pread at offset 6 of a regular file (%d, %d)", bn,
	   r[0].result, r[1].result);
	ok(r[2].calls == 1 && r[2].result == 5 && r[3].calls == 1 && r[3].result == 6 &&
		   memcmp(buf[3], " world", 6) == 0,
	   "%s, loop with a pool: write then read of a regular file at the file position (%d, %d)", bn, r[2].result,
	   r[3].result);

	/* A pipe works as usual on such a loop. */
	make_pipe(p);
	memset(r, 0, sizeof r);
	xev_read(&loop, &c[0], p[0], buf[0], sizeof buf[0], &r[0], file_cb);
	xev_write(&loop, &c[1], p[1], "pipe", 4, &r[1], file_cb);
	base = ncb;
	run_until(&loop, &ncb, base + 2);
	ok(r[0].calls == 1 && r[0].result == 4 && r[1].calls == 1 && r[1].result == 4 &&
		   memcmp(buf[0], "pipe", 4) == 0,
	   "%s, loop with a pool: write and read on a pipe (%d, %d)", bn, r[1].result, r[0].result);
	close(p[0]);
	close(p[1]);
	xev_loop_deinit(&loop);

	/* With the pool's only worker busy, the file operations of a backend
	 * that does files on the pool wait for it (a queued one can be
	 * cancelled); native ones do not. */
	tap_loop_init_pool(&loop, b, &pool1);
	atomic_init(&release, 0);
	hold_worker(&loop, &blk, &wb, &release);
	memset(r, 0, sizeof r);
	memset(&rc, 0, sizeof rc);
	memset(buf, 0, sizeof buf);
	xev_pread(&loop, &c[0], fd, buf[0], 5, 0, &r[0], file_cb);
	xev_pwrite(&loop, &c[1], fd, "XXXXX", 5, 0, &r[1], file_cb);
	for (int i = 0; i < 5; i++) {
		xev_loop_run(&loop, XEV_RUN_NO_WAIT);
		sleep_ms(2);
	}
	if (on_pool)
		ok(r[0].calls == 0 && r[1].calls == 0,
		   "%s, files on the pool: with its only worker busy, file pread/pwrite wait for it (%d, %d calls)", bn,
		   r[0].calls, r[1].calls);
	else
		ok(r[0].calls == 1 && r[0].result == 5 && r[1].calls == 1 && r[1].result == 5,
		   "%s, native files: with the pool's only worker busy, file pread/pwrite still complete (%d, %d)", bn,
		   r[0].result, r[1].result);
	base = ncb;
	xev_cancel(&loop, &cn, &c[1], &rc, file_cb);
	run_until(&loop, &ncb, base + (on_pool ? 2 : 1));
	if (on_pool)
		ok(rc.calls == 1 && rc.result == 0 && r[1].calls == 1 && r[1].result == -ECANCELED,
		   "%s, files on the pool: a file pwrite queued on the busy pool is cancelled: -ECANCELED, "
		   "canceller 0 (%d, %d)",
		   bn, r[1].result, rc.result);
	else
		ok(rc.calls == 1 && rc.result == -ENOENT && r[1].calls == 1,
		   "%s, native files: cancel of the finished file pwrite: -ENOENT, not called again (%d, %d calls)", bn,
		   rc.result, r[1].calls);
	atomic_store(&release, 1);
	run_until(&loop, &ncb, ncb + (on_pool ? 2 : 1));
	{
		char now[6] = { 0 };
		int want = on_pool ? 'H' : 'X';
		if (pread(fd, now, 5, 0) != 5)
			bail("pread failed");
		ok(r[0].calls == 1 && r[0].result == 5 && wb.calls == 1 && wb.result == 0 && now[0] == want,
		   "%s: once the worker is free everything completes once; the file reads \"%s\" (pread %d)", bn, now,
		   r[0].result);
	}
	loop_id = 0;
	xev_loop_deinit(&loop);
	close(fd);
}

static void check_backend(xev_backend b, const char *bn)
{
	check_basic(b, bn);
	check_bad_pools(b, bn);
	check_many(b, bn);
	check_two_loops(b, bn);
	check_cancel(b, bn);
	check_files(b, bn);
}

int main(void)
{
	plan(GLOBAL_CHECKS + TAP_NBACKENDS * PER_BACKEND);
	pool_init(&pool4, 4);
	pool_init(&pool1, 1);
	pool_init(&pool_down, 1);
	xev_threadpool_shutdown(&pool_down);
	tap_each_backend(PER_BACKEND, check_backend);
	xev_threadpool_deinit(&pool_down);
	xev_threadpool_deinit(&pool1);
	xev_threadpool_deinit(&pool4);
	return done_testing();
}
