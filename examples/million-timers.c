/* SPDX-License-Identifier: MIT */
/*
 * N one-shot timers, each with its own completion, timer i due after
 * 2 + i/1000 ms: the original libxev's million-timers workload.  Prints
 * the time to start them all, to dispatch them, and the total.  The
 * completions are touched before the clock starts: on a VM a first-touch
 * page fault can cost more than starting the timer that lives there.
 *   million-timers [N]      (default 1000000; XEV_BACKEND picks the backend)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <xev.h>

static unsigned long fired;

static xev_cb_action on_timer(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c, (void)ud;
	if (result == 0)
		fired++;
	return XEV_DISARM;
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time (user + system) this process has used so far. */
static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	xev_completion *cs = malloc(n * sizeof(*cs));
	xev_loop loop;
	xev_watcher w;
	double t0, t1, t2, c1, c2;

	if (!cs || xev_loop_init(&loop) < 0)
		return 1;
	memset(cs, 0, n * sizeof(*cs));
	/* Timers count from the loop's cached time: refresh it after the
	 * memset, or they would all be due early. */
	xev_loop_update_now(&loop);
	xev_timer_init(&w);
	t0 = seconds();
	for (unsigned long i = 0; i < n; i++)
		xev_timer_run(&w, &loop, &cs[i], 2 + i / 1000, NULL, on_timer);
	t1 = seconds();
	c1 = cpu_seconds();
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	t2 = seconds();
	c2 = cpu_seconds();
	printf("million-timers %s timers=%lu fired=%lu init=%.3fs dispatch=%.3fs "
	       "total=%.3fs dispatch-cpu=%.3fs\n",
	       xev_backend_name(xev_loop_backend(&loop)), n, fired, t1 - t0, t2 - t1, t2 - t0,
	       c2 - c1);
	xev_loop_deinit(&loop);
	free(cs);
	return fired != n;
}
