/* SPDX-License-Identifier: MIT */
/*
 * Stress: many timers started with random delays, then reset and
 * cancelled at random between runs of the loop, checked against a model
 * of what must happen: every timer calls back exactly once; a cancelled
 * one with -ECANCELED, any other with 0 and not before the deadline of
 * its last start or reset (in loop time).  Timers started in deadline
 * order and out of it exercise both the sorted list and the heap.
 *
 * XEV_STRESS=full (make stress) runs 1,000,000 timers; the default is
 * 20,000 so that make check stays quick.  Fixed seed: a failure repeats.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>

#include "../tap.h"

#define PER_BACKEND 3
#define MAX_MS 40

struct model {
	int64_t deadline;  /* loop time, ms, of the last start or reset */
	int64_t fired_at;
	int calls, result;
	unsigned char cancelled, done;
};

static struct model *m;
static xev_completion *cs, *cancels, *spare;
static long n;

static xev_cb_action on_timer(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct model *t = ud;
	(void)c;
	t->calls++;
	t->result = result;
	t->fired_at = xev_loop_now(l);
	t->done = 1;
	return XEV_DISARM;
}

static void run(xev_backend b, const char *bn)
{
	xev_loop loop;
	xev_watcher w;
	unsigned seed = 12345;
	long resets = 0, ncancel = 0, wrong = 0, early = 0, rounds = 0;
	int64_t t0 = mono_ms();

	memset(m, 0, (size_t)n * sizeof *m);
	memset(cs, 0, (size_t)n * sizeof *cs);
	memset(cancels, 0, (size_t)n * sizeof *cancels);
	memset(spare, 0, (size_t)n * sizeof *spare);
	tap_loop_init(&loop, b);
	xev_timer_init(&w);
	xev_loop_update_now(&loop);
	for (long i = 0; i < n; i++) {
		/* Every other timer ascends (the sorted list), the rest are random. */
		uint64_t ms = i % 2 ? (uint64_t)(i * MAX_MS / n) : (uint64_t)(rand_r(&seed) % MAX_MS);
		m[i].deadline = xev_loop_now(&loop) + (int64_t)ms;
		xev_timer_run(&w, &loop, &cs[i], ms, &m[i], on_timer);
	}
	/* Random resets and cancels of timers still pending, between runs:
	 * 60 rounds, a twentieth of the timers touched in each. */
	while (rounds < 60) {
		for (long k = 0; k < n / 20; k++) {
			long i = (long)(rand_r(&seed) % (unsigned)n);
			uint64_t ms = (uint64_t)(rand_r(&seed) % MAX_MS);
			if (m[i].done || m[i].cancelled)
				continue;
			if (rand_r(&seed) % 4 == 0) {
				m[i].cancelled = 1;
				ncancel++;
				xev_timer_cancel(&w, &loop, &cs[i], &cancels[i], NULL, NULL);
			} else {
				m[i].deadline = xev_loop_now(&loop) + (int64_t)ms;
				resets++;
				xev_timer_reset(&w, &loop, &cs[i], &spare[i], ms, &m[i], on_timer);
			}
		}
		xev_loop_run(&loop, rounds++ % 2 ? XEV_RUN_NO_WAIT : XEV_RUN_ONCE);
	}
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	for (long i = 0; i < n; i++) {
		if (m[i].calls != 1 || m[i].result != (m[i].cancelled ? -ECANCELED : 0))
			wrong++;
		else if (!m[i].cancelled && m[i].fired_at < m[i].deadline)
			early++;
	}
	ok(wrong == 0, "%s: %ld timers, %ld resets, %ld cancels over %ld runs: each called back once with the "
		       "model's result (%ld wrong)", bn, n, resets, ncancel, rounds, wrong);
	ok(early == 0, "%s: ... no timer fired before the deadline of its last start or reset (%ld early)", bn, early);
	ok(ncancel > 0 && resets > 0, "%s: ... the run did cancel and reset timers (%lld ms)", bn,
	   (long long)(mono_ms() - t0));
	xev_loop_deinit(&loop);
}

int main(void)
{
	const char *mode = getenv("XEV_STRESS");

	n = mode && strcmp(mode, "full") == 0 ? 1000000 : 20000;
	m = malloc((size_t)n * sizeof *m);
	cs = malloc((size_t)n * sizeof *cs);
	cancels = malloc((size_t)n * sizeof *cancels);
	spare = malloc((size_t)n * sizeof *spare);
	if (!m || !cs || !cancels || !spare)
		bail("out of memory");
	plan(TAP_NBACKENDS * PER_BACKEND);
	tap_each_backend(PER_BACKEND, run);
	free(m), free(cs), free(cancels), free(spare);
	return done_testing();
}
