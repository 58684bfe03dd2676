/* SPDX-License-Identifier: MIT */
/*
 * Spinning before sleeping.  Waking a thread through the kernel costs tens
 * of microseconds on a virtual machine, more than most callbacks take.  A
 * loop that is about to sleep while it waits for another thread (an async
 * wait, work on a thread pool), and whose last look at its flag found news
 * from one (loop.c, collect_events), watches the flag for up to SPIN_NS
 * first.  When the news comes in
 * that time, neither thread makes a system call: the notifier sees an
 * awake loop and only sets the flag (loop.c, xev__loop_signal), and the
 * loop goes on without having slept.
 *
 * Spinning must not cost more than it saves:
 * - It lasts about what a sleep and a wake-up cost in CPU (some 18 us of
 *   system time on the VM of bench/README), so that a spin in vain
 *   costs at most twice what sleeping at once would have.
 * - Only a loop fed by other threads spins, and only while they keep it
 *   busy: a wait that ended without their news stops it.  A loop that
 *   serves sockets, with an async watcher for the day it shuts down, never
 *   spins.
 * - Not when the thread that signalled last ran on this CPU: it cannot run
 *   while we spin, so its news would only come when the scheduler preempts
 *   the spin.  (Where the system does not say which CPU a thread runs on,
 *   the back-off below is all there is.)
 * - A spin that finds nothing in time, or finds the news only after the
 *   spinner was preempted (the clock jumped between two looks), doubles
 *   the number of waits that then sleep without spinning, up to 1024;
 *   news found while spinning spins every wait again.  News that was
 *   there at once says nothing either way.
 */
#include "internal.h"

#include <sched.h>

#define SPIN_NS 20000
#define SPIN_SHIFT_MAX 10
#define SPIN_GAP_NS 10000
#define SPIN_NEVER UINT8_MAX /* spin_shift of a loop that never spins */

void xev__spin_init(struct xev__loop *l)
{
	if (xev__env_flag("XEV_NO_SPIN"))
		l->spin_shift = SPIN_NEVER;
}

/* The CPU the caller runs on, -1 where the system does not say. */
static int current_cpu(void)
{
#ifdef HAVE_SCHED_GETCPU
	return sched_getcpu();
#else
	return -1;
#endif
}

void xev__spin_note_signaller(struct xev__loop *l)
{
	atomic_store_explicit(&l->signal_cpu, current_cpu(), memory_order_relaxed);
}

static bool shares_cpu_with_signaller(struct xev__loop *l)
{
	int cpu = current_cpu();
	return cpu >= 0 && cpu == atomic_load_explicit(&l->signal_cpu, memory_order_relaxed);
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* What a spin found. */
enum spin_result {
	SPIN_NOTHING,   /* no news within the budget */
	SPIN_AT_ONCE,   /* news already there: the spin tells nothing */
	SPIN_IN_TIME,   /* news while spinning: a sleep and a wake-up saved */
	SPIN_LATE,      /* news, but the spinner was preempted meanwhile, most
			 * likely by the very thread it waited for, which shares
			 * its CPU: the spin only delayed that thread */
};

static enum spin_result news_within(struct xev__loop *l, int64_t budget)
{
	int64_t last = xev__clock_ns(), until = last + budget, now;
	bool preempted = false;

	for (bool first = true;; first = false) {
		bool news = false;

		for (int i = 0; i < 32 && !news; i++) {
			news = atomic_load_explicit(&l->async_pending, memory_order_relaxed);
			cpu_relax();
		}
		now = xev__clock_ns();
		/* Far longer between two looks at the clock than 32 pauses
		 * take: the spinner did not run all along. */
		preempted |= now - last > SPIN_GAP_NS;
		last = now;
		if (news && first)
			return SPIN_AT_ONCE;
		if (news)
			return preempted || now >= until ? SPIN_LATE : SPIN_IN_TIME;
		if (now >= until)
			return SPIN_NOTHING;
	}
}

static bool worth_spinning(struct xev__loop *l)
{
	if (l->spin_shift == SPIN_NEVER)
		return false;
	/* news_last is asked first, inline (xev__spin_for_news). */
	if (!xev__loop_may_be_signalled(l))
		return false;
	if (shares_cpu_with_signaller(l))
		return false;
	if (l->spin_skip > 0) {
		l->spin_skip--;
		return false;
	}
	return true;
}

bool xev__spin_for_news_slow(struct xev__loop *l, int64_t timeout)
{
	enum spin_result r;

	if (!worth_spinning(l))
		return false;
	r = news_within(l, timeout > 0 && timeout < SPIN_NS ? timeout : SPIN_NS);
	if (r == SPIN_AT_ONCE)
		return true;
	if (r == SPIN_IN_TIME) {
		l->spin_shift = 0;
		return true;
	}
	if (l->spin_shift < SPIN_SHIFT_MAX)
		l->spin_shift++;
	l->spin_skip = (uint16_t)(1u << l->spin_shift);
	return r == SPIN_LATE;
}
