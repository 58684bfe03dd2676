/* SPDX-License-Identifier: MIT */
/*
 * xev.h under -std=c99 -pedantic, where max_align_t does not exist: the
 * sizes must still be the ABI's, and a loop must work.
 */
#include <stdio.h>

#include "xev.h"

static int n;

static void check(int cond, const char *name)
{
	printf("%sok %d - %s\n", cond ? "" : "not ", ++n, name);
}

static xev_cb_action fired(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l;
	(void)c;
	*(int *)ud = result + 1;
	return XEV_DISARM;
}

int main(void)
{
	xev_loop loop;
	xev_watcher w;
	xev_completion c;
	int got = 0;

	printf("1..5\n");
	check(sizeof(xev_loop) == 512 && sizeof(xev_completion) == 320 &&
		      sizeof(xev_watcher) == 256,
	      "C99: loop, completion and watcher sizes");
	check(sizeof(xev_threadpool) == 64 && sizeof(xev_threadpool_config) == 64 &&
		      sizeof(xev_loop_options) == 64,
	      "C99: pool, config and options sizes");
	check(sizeof(xev_threadpool_batch) == 24 && sizeof(xev_threadpool_task) == 24,
	      "C99: batch and task sizes");
	check(xev_loop_init(&loop) == 0, "C99: xev_loop_init");
	xev_timer_init(&w);
	xev_timer_run(&w, &loop, &c, 1, &got, fired);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	xev_loop_deinit(&loop);
	check(got == 1, "C99: a timer fires with result 0");
	return 0;
}
