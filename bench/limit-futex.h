/* SPDX-License-Identifier: MIT */
/*
 * What the futex limit programs share (limit-futex-async.c, limit-futex-
 * async-pummel.c): a thread that sleeps on a futex word of its own, the
 * cheapest sleep and wake-up Linux has.  A notifier bumps the word and
 * calls FUTEX_WAKE only when the owner said it was going to sleep.  A
 * thread woken from another CPU spins for its next news for up to 20 us
 * before it sleeps, as our loops do (bench/README, "Spinning before
 * sleeping"); where the news comes from its own CPU a spin could only keep
 * the notifier from running, so it sleeps at once.
 */
#ifndef XEV_BENCH_LIMIT_FUTEX_H
#define XEV_BENCH_LIMIT_FUTEX_H

#include "bench.h"

#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SPIN_NS 20000

struct waiter {
	_Atomic uint32_t seq;   /* the futex word: bumped by every notification */
	atomic_int sleeping;    /* set while the owner may be in FUTEX_WAIT */
	atomic_int signal_cpu;  /* where the last notifier ran */
	long waits, wakes;      /* system calls, for the stderr note */
};

/* FUTEX_WAKE calls made, for the stderr note. */
static atomic_long wakes_sent;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static inline void notify(struct waiter *w)
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

static inline bool spin_for(struct waiter *w, uint32_t seen)
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
static inline uint32_t wait_news(struct waiter *w, uint32_t seen)
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

#endif
