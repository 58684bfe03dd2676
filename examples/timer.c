/* SPDX-License-Identifier: MIT */
/*
 * A timer that fires three times, 100 ms apart, then lets the loop end.
 * Build: cc timer.c $(pkg-config --cflags --libs xev)
 */
#include <stdio.h>
#include <xev.h>

struct ticks {
	int left;
};

static xev_cb_action on_tick(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct ticks *t = userdata;

	(void)c;
	if (result < 0) {
		fprintf(stderr, "timer: error %d\n", result);
		return XEV_DISARM;
	}
	printf("tick at %lld ms, %d to go\n", (long long)xev_loop_now(loop), --t->left);
	return t->left > 0 ? XEV_REARM : XEV_DISARM;
}

int main(void)
{
	xev_loop loop;
	xev_watcher w;
	xev_completion c;
	struct ticks t = { 3 };
	int rc;

	if ((rc = xev_loop_init(&loop)) < 0) {
		fprintf(stderr, "xev_loop_init: error %d\n", rc);
		return 1;
	}
	printf("libxev timer demo on the %s backend\n",
	       xev_backend_name(xev_loop_backend(&loop)));
	xev_timer_init(&w);
	xev_timer_run(&w, &loop, &c, 100, &t, on_tick);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	xev_timer_deinit(&w);
	xev_loop_deinit(&loop);
	return rc < 0 || t.left != 0;
}
