/* SPDX-License-Identifier: MIT */
/*
 * Stress: xev_loop_deinit with every kind of operation in flight (the
 * round of t/deinit-t: reads, writes, sends and receives pending in the
 * kernel, accepts, a connect, poll, timer, async wait, running and queued
 * xev_work, file I/O, operations queued but never submitted), over and
 * over, alternately with and without a thread pool in the loop options.
 * A leak of one descriptor or one allocation per round would be lost in
 * a single round's noise; over hundreds it cannot hide: the process must
 * end with exactly the fds and the malloc'd bytes it had after the first
 * round (which pays for lazy one-time set-up such as the pool's worker).
 *
 * XEV_STRESS=full (make stress) runs 1,000 rounds per backend; the
 * default is 200.
 */
#define _GNU_SOURCE
#include "config.h"

#ifdef HAVE_MALLINFO2
#include <malloc.h>
#endif

#include "../deinit-round.h"

#define PER_BACKEND 7

static int rounds;

/* Bytes malloc has handed out and not got back (glibc's mallinfo2), and
 * why they cannot be accounted for here, or NULL when they can. */
#ifdef HAVE_MALLINFO2
static size_t malloc_in_use(void)
{
	return mallinfo2().uordblks;
}

/* libkqueue (the kqueue backend on Linux) allocates and frees on a thread
 * of its own, whenever it likes: with it in the process, malloc's totals
 * are not the library's to account for. */
static const char *malloc_uncounted(void)
{
	if (tap_libkqueue())
		return "libkqueue in this process allocates on a thread of its own: malloc totals not checked";
	return NULL;
}
#else
static size_t malloc_in_use(void)
{
	return 0;
}

static const char *malloc_uncounted(void)
{
	return "no mallinfo2() in this C library: malloc totals not checked";
}
#endif

static void run(xev_backend b, const char *bn)
{
	struct outcome o;
	int fds, not_dead = 0, early = 0, during = 0, later = 0, leaks = 0, w1 = 0, second = 0;
	size_t mem;
	int64_t t0;

	/* Asked first: looking (dlopen) allocates too. */
	const char *uncounted = malloc_uncounted();

	one_round(b, 1, 0, &o); /* the pool's worker starts here, once */
	fds = tap_count_fds();
	mem = malloc_in_use();
	t0 = mono_ms();
	for (int r = 0; r < rounds; r++) {
		one_round(b, r % 2, 0, &o);
		for (int i = 0; i < NOPS; i++) {
			not_dead += !o.dead[i];
			early += !may_finish(i) && o.early[i];
		}
		during += o.during;
		later += o.later;
		leaks += o.fd_diff != 0;
		w1 += !o.w1_done;
		second += !o.second_ok;
	}
	diag("%s: %d rounds in %lld ms", bn, rounds, (long long)(mono_ms() - t0));
	is_int(not_dead, 0, "%s: %d rounds of %d operation kinds: every completion DEAD after deinit", bn, rounds,
	       NOPS);
	is_int(early + during + later, 0,
	       "%s: %d rounds: no callback of a pending operation before, during or after deinit", bn, rounds);
	is_int(leaks, 0, "%s: %d rounds: no round leaked an fd", bn, rounds);
	is_int(w1, 0, "%s: %d rounds: deinit always waited for the running work", bn, rounds);
	is_int(second, 0, "%s: %d rounds: the second deinit never closed anything", bn, rounds);
	is_int(tap_count_fds(), fds, "%s: after %d rounds the process has the %d fds it had", bn, rounds, fds);
	if (uncounted)
		skip(1, uncounted);
	else
		is_int(malloc_in_use(), mem, "%s: after %d rounds malloc holds the %zu bytes it held", bn, rounds,
		       mem);
}

int main(void)
{
	const char *mode = getenv("XEV_STRESS");

	rounds = mode && strcmp(mode, "full") == 0 ? 1000 : 200;
	plan(TAP_NBACKENDS * PER_BACKEND);
	pool_init(&pool1, 1);
	tap_each_backend(PER_BACKEND, run);
	xev_threadpool_deinit(&pool1);
	return done_testing();
}
