/* SPDX-License-Identifier: MIT */
/*
 * xev_loop_deinit with every kind of operation in flight: read, write on a
 * full pipe, recv, send on a full socket, recvmsg, sendmsg, accept with no
 * client, accept whose client arrived after it was submitted, accept that
 * completed but whose callback was held back, connect (pending), poll,
 * timer, async wait, xev_work (running and queued), pread/pwrite on a
 * regular file, and operations queued but never submitted.  Afterwards
 * every completion reads DEAD, no callback ran during deinit (nor later),
 * the running work had returned, the queued one never ran, and once the
 * test's own descriptors are closed the process has exactly the fds it
 * had before: nothing leaked, accepted connections included; with and
 * without a pool in the loop options.  Also: deinit of an idle loop, of a
 * zeroed loop, and a second deinit.  t/stress/deinit-storm-t repeats the
 * round hundreds of times, counting fds and memory.
 */
#define _GNU_SOURCE
#include "deinit-round.h"

#define GLOBAL_CHECKS 0
#define PER_BACKEND (NOPS + 9 + 3)

static void check_detailed(xev_backend b, const char *bn)
{
	struct outcome o;
	int early = 0;
	char list[512] = "";
	/* A backend without XEV__CAP_NATIVE_FILES does files on the pool:
	 * the detailed round has a pool in the options there. */
	int on_pool = !(tap_caps(b) & XEV__CAP_NATIVE_FILES);

	one_round(b, on_pool, 50, &o);
	for (int i = 0; i < NOPS; i++)
		ok(o.dead[i], "%s: after deinit: %s reads DEAD", bn, op_name[i]);
	for (int i = 0; i < NOPS; i++)
		if (!may_finish(i) && o.early[i]) {
			early++;
			snprintf(list + strlen(list), sizeof list - strlen(list), " %s;", op_name[i]);
		}
	ok(early == 0, "%s: before deinit, none of the pending operations had called back (%d:%s)", bn, early, list);
	ok(o.stopped_first, "%s: the accept that completed was held back by a stopping callback", bn);
	is_int(o.during, 0, "%s: no callback ran during deinit", bn);
	ok(o.w1_done, "%s: deinit returned after the running work's fn had returned", bn);
	is_int(o.wq_ran, 0, "%s: the queued work's fn never ran (taken back from the pool)", bn);
	ok(o.second_ok, "%s: a second deinit is a no-op (fds opened since stay open)", bn);
	is_int(o.later, 0, "%s: no callback after deinit (async notify, a new loop in the same memory)", bn);
	is_int(o.fd_diff, 0, "%s: every op kind in flight at deinit: no fd leaked (accepted connections included)", bn);
	{
		/* Once more the other way: without a pool where files would
		 * go on it, with one where they are native. */
		struct outcome p;
		int dead_all = 1;
		one_round(b, !on_pool, 5, &p);
		for (int i = 0; i < NOPS; i++)
			dead_all &= p.dead[i];
		ok(dead_all && p.during == 0 && p.later == 0 && p.fd_diff == 0 && p.w1_done,
		   "%s: the same %s a pool in the loop options (%s): all DEAD, no callback, no leak", bn,
		   on_pool ? "without" : "with", on_pool ? "files on the pool" : "native files");
	}
}

static xev_cb_action timer_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c, (void)ud, (void)result;
	ncb++;
	return XEV_DISARM;
}

static void check_idle(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_completion c;
	int before = tap_count_fds(), base;

	tap_loop_init(&loop, b);
	ok(tap_count_fds() > before, "%s: an initialised loop holds fds (%d more)", bn, tap_count_fds() - before);
	xev_loop_deinit(&loop);
	is_int(tap_count_fds(), before, "%s: deinit of a loop with nothing in flight releases its fds", bn);

	tap_loop_init(&loop, b);
	base = ncb;
	xev_timer_run(NULL, &loop, &c, 1, NULL, timer_cb);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	xev_loop_deinit(&loop);
	xev_loop_deinit(&loop);
	memset(&loop, 0, sizeof loop);
	xev_loop_deinit(&loop); /* never initialised: ignored */
	ok(ncb == base + 1 && tap_count_fds() == before,
	   "%s: deinit after a run, twice, and of a zeroed loop: nothing leaks, nothing breaks", bn);
}

static void check_backend(xev_backend b, const char *bn)
{
	check_detailed(b, bn);
	check_idle(b, bn);
}

int main(void)
{
	plan(GLOBAL_CHECKS + TAP_NBACKENDS * PER_BACKEND);
	pool_init(&pool1, 1);
	tap_each_backend(PER_BACKEND, check_backend);
	xev_threadpool_deinit(&pool1);
	return done_testing();
}
