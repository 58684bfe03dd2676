/* SPDX-License-Identifier: MIT */
/*
 * Sleeping on a futex.  A loop that waits for nothing its backend could
 * report (no operation in the kernel's hands or parked on a descriptor:
 * only other threads' news, signals and timers) sleeps on its own
 * async_pending word rather than in the backend, and whoever raises the
 * word wakes it with FUTEX_WAKE (loop.c, wait_for_events and
 * xev__loop_signal).  That wake-up is the cheapest the kernel has: an
 * eventfd write reaches a sleeping loop through a poll wake-up and then
 * io_uring's task work or epoll's ready list (bench/README, "Sleeping on
 * a futex").
 *
 * The word is the flag itself, so a notifier that raises it between the
 * loop's last look and FUTEX_WAIT makes the kernel refuse the sleep:
 * no wake-up can be lost.  Linux only; elsewhere the backend sleeps.
 */
#include "internal.h"

#ifdef XEV_USE_FUTEX
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void xev__futex_wait(atomic_int *word, int64_t timeout_ns)
{
	struct timespec ts, *tsp = NULL;

	if (timeout_ns >= 0) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000);
		ts.tv_nsec = (long)(timeout_ns % 1000000000);
		tsp = &ts;
	}
	/* Early returns (a signal, the word already raised, the timeout)
	 * are all the same to the caller: it looks at the word next. */
	(void)syscall(SYS_futex, (void *)word, FUTEX_WAIT_PRIVATE, 0, tsp, NULL, 0);
}

/* Async-signal-safe: a system call and nothing else. */
void xev__futex_wake(atomic_int *word)
{
	(void)syscall(SYS_futex, (void *)word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
#endif
