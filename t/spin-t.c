/* SPDX-License-Identifier: MIT */
/*
 * Spinning before a wait (lib/spin.c, compiled in here), on a clock the
 * test drives: 1 us per reading, with the news raised at a chosen reading
 * and, for news that comes late, the clock jumped past the spin's end.
 * Checked: who spins at all (only a loop whose last wait brought news and
 * that waits for other threads, not on the CPU of the thread that
 * signalled it); that news already there ends the spin at once and
 * changes nothing; that a spin lasts its budget, or the wait's timeout
 * when shorter; and the back-off: a spin without news in time, or whose
 * clock jumped (preempted), makes the next 2, 4, ... 1024 waits sleep
 * without spinning, and news found while spinning undoes it; and
 * XEV_NO_SPIN.
 */
#include "../lib/spin.c"

#include <string.h>

#include "tap.h"

static struct xev__loop L;
static struct xev__completion waiter; /* an async wait, as far as spin.c sees */

static int64_t fake_now;
static long clock_calls;
static long news_at_call;   /* reading that raises the news, 0: never */
static long jump_at_call;   /* reading that jumps the clock by news_jump */
static int64_t news_jump;

int64_t xev__clock_ns(void)
{
	clock_calls++;
	if (clock_calls == news_at_call)
		atomic_store(&L.async_pending, 1);
	if (clock_calls == jump_at_call)
		fake_now += news_jump;
	fake_now += 1000;
	return fake_now;
}

/* A loop whose last wait brought news, waiting on an async watcher, with
 * no back-off, and nobody's CPU known. */
static void reset(void)
{
	memset(&L, 0, sizeof L);
	atomic_init(&L.async_pending, 0);
	atomic_init(&L.signal_cpu, -1);
	L.async_waits.head = L.async_waits.tail = &waiter;
	L.news_last = true;
	clock_calls = 0;
	news_at_call = jump_at_call = 0;
	news_jump = 0;
}

/* One wait: did it spin (read the clock), and was there news. */
static bool wait_once(int64_t timeout, bool *spun)
{
	long before = clock_calls;
	bool news = xev__spin_for_news(&L, timeout);
	*spun = clock_calls != before;
	atomic_store(&L.async_pending, 0);
	return news;
}

static void check_who_spins(void)
{
	bool spun, news;

	reset();
	L.news_last = false;
	ok(!wait_once(-1, &spun) && !spun, "a loop whose last wait brought no news does not spin");
	reset();
	L.async_waits.head = L.async_waits.tail = NULL;
	ok(!wait_once(-1, &spun) && !spun, "nor one that waits for no other thread");
	reset();
	L.async_waits.head = L.async_waits.tail = NULL;
	L.offloaded.head = L.offloaded.tail = &waiter;
	ok(!wait_once(-1, &spun) && spun, "one waiting for pool work does");

	reset();
	atomic_store(&L.async_pending, 1);
	L.spin_shift = 3;
	news = wait_once(-1, &spun);
	ok(news && clock_calls == 2 && L.spin_skip == 0,
	   "news already there ends the spin at its first look (%ld clock readings)", clock_calls);
	ok(L.spin_shift == 3, "and leaves the back-off as it was (shift %u)", (unsigned)L.spin_shift);
	reset();
	news_at_call = 10;
	news = wait_once(-1, &spun);
	ok(news && clock_calls == 11 && L.spin_shift == 0 && L.spin_skip == 0,
	   "news raised 9 us in is found in time, with no back-off (%ld readings)", clock_calls);
}

/* Clock readings of one wait without news: one at the start, then one
 * per microsecond until the end. */
static long readings_without_news(int64_t timeout)
{
	bool spun;

	reset();
	return wait_once(timeout, &spun) ? -1 : clock_calls;
}

static void check_budget(void)
{
	long n;

	n = readings_without_news(-1);
	ok(n == SPIN_NS / 1000 + 1, "without news a spin lasts %d us (%ld clock readings)",
	   SPIN_NS / 1000, n);
	n = readings_without_news(SPIN_NS * 2);
	ok(n == SPIN_NS / 1000 + 1, "a longer timeout does not make it longer (%ld)", n);
	n = readings_without_news(5000);
	ok(n == 6, "a 5 us timeout makes it 5 us (%ld readings)", n);
}

static void check_backoff(void)
{
	bool spun, shape_ok = true;
	int skipped = 0;

	reset();
	/* Each spin that finds nothing doubles the waits skipped after it. */
	for (unsigned shift = 1; shift <= SPIN_SHIFT_MAX + 2; shift++) {
		unsigned want = 1u << (shift < SPIN_SHIFT_MAX ? shift : SPIN_SHIFT_MAX);
		wait_once(-1, &spun);
		if (!spun || L.spin_skip != want)
			shape_ok = false;
		for (unsigned i = 0; i < want; i++) {
			wait_once(-1, &spun);
			skipped += !spun;
		}
	}
	ok(shape_ok, "spins without news skip 2, 4, ... then 1024 waits each");
	ok(skipped == 2 + 4 + 8 + 16 + 32 + 64 + 128 + 256 + 512 + 1024 * 3,
	   "and those waits do not spin (%d skipped)", skipped);

	news_at_call = clock_calls + 3;
	ok(wait_once(-1, &spun) && spun && L.spin_shift == 0 && L.spin_skip == 0,
	   "news in time undoes the back-off");

	reset();
	/* Raised at the 5th reading, seen after a 10 ms preemption. */
	news_at_call = 5;
	jump_at_call = 6;
	news_jump = INT64_C(10000000);
	ok(wait_once(-1, &spun) && L.spin_shift == 1 && L.spin_skip == 2,
	   "late news (the spinner preempted) ends the wait's sleep but backs off");

	reset();
	/* A 15 us gap between two looks, the news still inside 20 us. */
	news_at_call = 3;
	jump_at_call = 4;
	news_jump = 15000;
	ok(wait_once(-1, &spun) && L.spin_shift == 1 && L.spin_skip == 2,
	   "so does news within the budget after a gap between two looks at the clock");
}

static void check_same_cpu(void)
{
#ifdef HAVE_SCHED_GETCPU
	bool spun = true, stayed = false;

	/* A migration between the two readings would spoil the check:
	 * retry until the thread stays put. */
	for (int i = 0; i < 100 && !stayed; i++) {
		int cpu;
		reset();
		xev__spin_note_signaller(&L);
		cpu = atomic_load(&L.signal_cpu);
		wait_once(-1, &spun);
		stayed = cpu >= 0 && sched_getcpu() == cpu;
	}
	ok(stayed && !spun && L.spin_skip == 0,
	   "no spin when the thread that signalled last ran on this CPU, and no back-off");
	reset();
	atomic_store(&L.signal_cpu, sched_getcpu() + 1);
	ok(!wait_once(-1, &spun) && spun, "a spin when it ran on another");
#else
	skip(2, "the system does not say which CPU a thread runs on");
#endif
}

static void check_env(void)
{
	bool spun;

	reset();
	setenv("XEV_NO_SPIN", "1", 1);
	xev__spin_init(&L);
	ok(!wait_once(-1, &spun) && !spun && L.spin_skip == 0, "XEV_NO_SPIN=1: the loop never spins");
	reset();
	setenv("XEV_NO_SPIN", "0", 1);
	xev__spin_init(&L);
	ok(!wait_once(-1, &spun) && spun, "XEV_NO_SPIN=0 leaves spinning on");
	unsetenv("XEV_NO_SPIN");
}

int main(void)
{
	plan(18);
	check_who_spins();
	check_budget();
	check_backoff();
	check_same_cpu();
	check_env();
	return done_testing();
}
