/* SPDX-License-Identifier: MIT */
/*
 * autopkgtest (debian/tests/build-and-run): built against the installed
 * libxev-dev through pkg-config.  For every backend id this machine allows
 * (xev_backend_available), a loop initialised with that backend in its
 * options runs a 1 ms timer to completion, then a loop initialised with
 * AUTO and XEV_BACKEND=<name> must pick the same backend.  Prints one line
 * per backend id; fails if any step fails or no backend can be used.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xev.h>

static xev_cb_action fired(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c;
	*(int *)ud = result == 0 ? 1 : -1;
	return XEV_DISARM;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One loop with options backend b (AUTO when via_env), one 1 ms timer. */
static int run_timer(xev_backend b, int via_env, const char *name)
{
	xev_loop_options o;
	xev_loop loop;
	xev_watcher w;
	xev_completion c;
	const char *how = via_env ? "AUTO with XEV_BACKEND" : "options";
	int done = 0, rc;
	double t0;

	xev_loop_options_init(&o);
	xev_loop_options_set_backend(&o, via_env ? XEV_BACKEND_AUTO : b);
	if (via_env && setenv("XEV_BACKEND", name, 1) < 0) {
		perror("setenv");
		return -1;
	}
	rc = xev_loop_init_with_options(&loop, &o);
	if (via_env)
		unsetenv("XEV_BACKEND");
	if (rc < 0) {
		printf("%s: loop init (%s) failed: %s\n", name, how, strerror(-rc));
		return -1;
	}
	if (xev_loop_backend(&loop) != b) {
		printf("%s: loop init (%s) gave backend %s\n", name, how,
		       xev_backend_name(xev_loop_backend(&loop)));
		xev_loop_deinit(&loop);
		return -1;
	}
	rc = xev_timer_init(&w);
	if (rc < 0) {
		printf("%s: timer init failed: %s\n", name, strerror(-rc));
		xev_loop_deinit(&loop);
		return -1;
	}
	t0 = now_ms();
	xev_timer_run(&w, &loop, &c, 1, &done, fired);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	if (rc < 0 || done != 1) {
		printf("%s: 1 ms timer (%s): run %s, timer %s\n", name, how,
		       rc < 0 ? strerror(-rc) : "ok",
		       done == 0 ? "never fired" : done < 0 ? "fired with an error" : "fired");
		xev_timer_deinit(&w);
		xev_loop_deinit(&loop);
		return -1;
	}
	if (!via_env)
		printf("%s: loop with the backend in its options ran a 1 ms timer (%.1f ms)\n",
		       name, now_ms() - t0);
	else
		printf("%s: loop with AUTO and XEV_BACKEND=%s ran a 1 ms timer\n", name, name);
	xev_timer_deinit(&w);
	xev_loop_deinit(&loop);
	return 0;
}

int main(void)
{
	int usable = 0, failed = 0;

	unsetenv("XEV_BACKEND");
	for (int id = XEV_BACKEND_IO_URING; id <= XEV_BACKEND_POLL; id++) {
		xev_backend b = (xev_backend)id;
		const char *name = xev_backend_name(b);

		if (!name)
			name = "(unnamed)";
		if (!xev_backend_available(b)) {
			printf("%s: not available here, skipped\n", name);
			continue;
		}
		usable++;
		if (run_timer(b, 0, name) < 0 || run_timer(b, 1, name) < 0)
			failed++;
	}
	if (usable == 0) {
		printf("no backend is available\n");
		return 1;
	}
	printf("%d backend(s) usable, %d failed\n", usable, failed);
	return failed != 0;
}
