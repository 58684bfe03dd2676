/* SPDX-License-Identifier: MIT */
/* A program outside the tree that uses the installed library (.ci/consumer). */
#include <stdio.h>
#include <xev.h>

static xev_cb_action fired(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c;
	*(int *)ud = result == 0;
	return XEV_DISARM;
}

int main(void)
{
	xev_loop loop;
	xev_watcher w;
	xev_completion c;
	int ok = 0;

	if (xev_loop_init(&loop) < 0 || xev_timer_init(&w) < 0)
		return 1;
	xev_timer_run(&w, &loop, &c, 1, &ok, fired);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	printf("consumer: timer %s on %s\n", ok ? "fired" : "did not fire",
	       xev_backend_name(xev_loop_backend(&loop)));
	xev_loop_deinit(&loop);
	return !ok;
}
