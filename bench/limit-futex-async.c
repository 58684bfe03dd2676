/* SPDX-License-Identifier: MIT */
/*
 * asyncN with no event library, the limit for bench/xev-async.c: N worker
 * threads ping-pong with the main thread, 1,000,000 pings in all, each
 * ping a notification there and one back.  Every thread sleeps on a futex
 * word of its own, the cheapest sleep and wake-up Linux has: a notifier
 * bumps the word and calls FUTEX_WAKE only when the other side said it
 * was going to sleep; the main thread finds which workers pinged through
 * a flag per worker, as a loop finds which async watcher fired.
 *
 * A thread woken from another CPU spins for its next news for up to
 * 20 us before it sleeps, as our loops do (bench/README, "Spinning before
 * sleeping"); where the news comes from its own CPU a spin could only
 * keep the notifier from running, so it sleeps at once.  Without the
 * spin the cross-CPU rows would measure a wake-up that this program, like
 * ours, knows how to avoid.
 */
#include "bench.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>

#define SPIN_NS 20000

struct waiter {
	_Atomic uint32_t seq;   /* the futex word: bumped by every notification */
	atomic_int sleeping;    /* set while the owner may be in FUTEX_WAIT */
	atomic_int signal_cpu;  /* where the last notifier ran */
	long waits, wakes;      /* system calls, for the stderr note */
};

struct pair {
	struct waiter worker;
	atomic_bool pinged;     /* the worker's news for the main thread */
	long main_seen, worker_seen, want;
	int role;
	pthread_t th;
};

static struct waiter main_w;
static atomic_long wakes_sent;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static void notify(struct waiter *w)
{
	atomic_store_explicit(&w->signal_cpu, sched_getcpu(), memory_order_relaxed);
	/* seq_cst on both sides (here: bump, then look; the owner: say it
	 * sleeps, then look) so that one of the two sees the other. */
	atomic_fetch_add(&w->seq, 1);
	if (atomic_load(&w->sleeping)) {
		syscall(SYS_futex, &w->seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
		atomic_fetch_add_explicit(&wakes_sent, 1, memory_order_relaxed);
	}
}

static bool spin_for(struct waiter *w, uint32_t seen)
{
	double end = bench_now() + SPIN_NS / 1e9;

	do {
		for (int i = 0; i < 64; i++) {
			if (atomic_load_explicit(&w->seq, memory_order_acquire) != seen)
				return true;
			cpu_relax();
		}
	} while (bench_now() < end);
	return false;
}

/* Waits until the word moves past seen; returns its new value. */
static uint32_t wait_news(struct waiter *w, uint32_t seen)
{
	uint32_t now = atomic_load_explicit(&w->seq, memory_order_acquire);

	if (now != seen)
		return now;
	if (atomic_load_explicit(&w->signal_cpu, memory_order_relaxed) != sched_getcpu() && spin_for(w, seen))
		return atomic_load_explicit(&w->seq, memory_order_acquire);
	atomic_store(&w->sleeping, 1);
	while ((now = atomic_load(&w->seq)) == seen) {
		w->waits++;
		syscall(SYS_futex, &w->seq, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
	}
	atomic_store(&w->sleeping, 0);
	return now;
}

static void ping_main(struct pair *p)
{
	atomic_store_explicit(&p->pinged, true, memory_order_release);
	notify(&main_w);
}

static void *worker_main(void *arg)
{
	struct pair *p = arg;
	uint32_t seen = atomic_load(&p->worker.seq);

	bench_pin(p->role);
	/* Kick off: the main side answers with the first ping. */
	ping_main(p);
	while (p->worker_seen < p->want) {
		seen = wait_news(&p->worker, seen);
		/* The last ping needs no answer: the main side has counted it. */
		if (++p->worker_seen < p->want)
			ping_main(p);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long total = 1000000, nthreads, done = 0, seen_total = 0, waits;
	struct pair *pairs;
	struct bench_usage u;
	uint32_t seen = 0;
	double t0, t1;
	char name[48];

	nthreads = bench_args(argc, argv, &total, 1);
	bench_pin(0);
	if (total < nthreads)
		bench_fail("fewer pings than threads");
	pairs = calloc((size_t)nthreads, sizeof *pairs);
	if (!pairs)
		bench_fail("setup");
	for (long i = 0; i < nthreads; i++) {
		pairs[i].role = (int)i + 1;
		pairs[i].want = total / nthreads + (i < total % nthreads);
		atomic_init(&pairs[i].worker.signal_cpu, -1);
	}
	atomic_init(&main_w.signal_cpu, -1);

	bench_usage_start(&u);
	t0 = bench_now();
	for (long i = 0; i < nthreads; i++)
		if (pthread_create(&pairs[i].th, NULL, worker_main, &pairs[i]) != 0)
			bench_fail("pthread_create");
	while (done < nthreads) {
		seen = wait_news(&main_w, seen);
		for (long i = 0; i < nthreads; i++) {
			struct pair *p = &pairs[i];

			if (!atomic_exchange_explicit(&p->pinged, false, memory_order_acquire))
				continue;
			notify(&p->worker);
			if (++p->main_seen == p->want)
				done++;
		}
	}
	for (long i = 0; i < nthreads; i++)
		pthread_join(pairs[i].th, NULL);
	t1 = bench_now();

	waits = main_w.waits;
	for (long i = 0; i < nthreads; i++) {
		if (pairs[i].main_seen != pairs[i].want || pairs[i].worker_seen != pairs[i].want)
			bench_fail("pair %ld: %ld and %ld of %ld pings", i, pairs[i].main_seen,
				   pairs[i].worker_seen, pairs[i].want);
		seen_total += pairs[i].main_seen;
		waits += pairs[i].worker.waits;
	}
	snprintf(name, sizeof name, "async%ld", nthreads);
	bench_note("%ld pings over %ld threads in %.3f s; %ld FUTEX_WAIT, %ld FUTEX_WAKE", seen_total, nthreads,
		   t1 - t0, waits, atomic_load(&wakes_sent));
	bench_report_ops(name, "limit-futex", (double)seen_total / (t1 - t0), "pings/s", (double)seen_total, &u);
	free(pairs);
	return 0;
}
