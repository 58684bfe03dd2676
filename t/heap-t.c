/* SPDX-License-Identifier: MIT */
/*
 * The timer queue itself (lib/heap.c, compiled in here), driven on a
 * loop clock the test sets, so that deadlines hours apart cost nothing:
 * timers started in random, ascending and descending order over every
 * level of the wheel and beyond its reach, some removed, the clock moved
 * on in steps, checked against a sorted model at each step.  Every timer
 * must come out exactly once, none before its deadline, in (deadline,
 * start order) order; removed ones never.  A second round makes the
 * wheel's allocation fail, where the heap takes every timer.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

/* The wheel's one allocation, made to fail on demand. */
static bool refuse_calloc;
static void *test_calloc(size_t n, size_t size)
{
	return refuse_calloc ? NULL : calloc(n, size);
}
#define calloc test_calloc
#include "../lib/heap.c"
#undef calloc
#include "tap.h"

#define N 8000

static struct xev__completion cs[N];
static int state[N]; /* 0 never started, 1 queued, 2 removed, 3 popped */
static uint64_t started_seq[N];

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A delay in ns spread over every level: up to 2^k ticks for random k,
 * some beyond the wheel (2^24 ticks), some within one tick. */
static int64_t any_delay(void)
{
	unsigned bits = (unsigned)(next_rand() % 48);
	return (int64_t)(next_rand() & (((uint64_t)1 << bits) - 1));
}

static int queued[N], nqueued; /* indexes of the timers in the queue */
static int where[N];              /* their place in queued[] */

static void model_add(int i)
{
	where[i] = nqueued;
	queued[nqueued++] = i;
	state[i] = 1;
}

static void model_drop(int i, int to)
{
	int last = queued[--nqueued];
	queued[where[i]] = last;
	where[last] = where[i];
	state[i] = to;
}

/* The model's first: least (deadline, start order); -1 when empty. */
static int model_first(void)
{
	int best = -1;
	for (int k = 0; k < nqueued; k++) {
		int i = queued[k];
		if (best < 0 || cs[i].u.timer.deadline < cs[best].u.timer.deadline ||
		    (cs[i].u.timer.deadline == cs[best].u.timer.deadline && started_seq[i] < started_seq[best]))
			best = i;
	}
	return best;
}

/*
 * One round: half the timers started at once, then starts, removals,
 * looks at the first and pops due timers interleaved, the clock moving
 * to each next deadline (or just short of it).  Returns how many times
 * the queue's first differed from the model's, or a timer was lost.
 */
static int round_of(int order, int *early, int *wheel_used, bool no_wheel)
{
	struct xev__loop l;
	int wrong = 0, started = 0;
	int64_t base;

	memset(&l, 0, sizeof l);
	memset(cs, 0, sizeof cs);
	memset(state, 0, sizeof state);
	nqueued = 0;
	base = l.now = ((int64_t)1 << 40) + ((int64_t)777 << 20) + 12345; /* mid-ring */
	refuse_calloc = no_wheel;
	while (started < N || nqueued > 0) {
		unsigned r = (unsigned)(next_rand() % 10);
		if (started < N && (started < N / 2 || r < 4 || nqueued == 0)) {
			int i = started++;
			int64_t dl;
			if (order == 0)
				dl = l.now + any_delay();
			else if (order == 1)
				dl = base + (int64_t)i * 12345;
			else
				dl = l.now + (int64_t)(N - i) * 54321;
			cs[i].u.timer.deadline = dl > l.now ? dl : l.now;
			xev__heap_insert(&l, &cs[i]);
			started_seq[i] = cs[i].u.timer.seq;
			model_add(i);
		} else if (r < 5) {
			int i = queued[next_rand() % (uint64_t)nqueued];
			xev__heap_remove(&l, &cs[i]);
			model_drop(i, 2);
		} else {
			struct xev__completion *c = xev__heap_first(&l);
			int want = model_first();
			if (!c || c != &cs[want]) {
				wrong++;
				break;
			}
			if (c->u.timer.deadline > l.now) {
				int64_t to = c->u.timer.deadline - (int64_t)(next_rand() % 3);
				l.now = to > l.now ? to : l.now;
				continue;
			}
			if (xev__heap_pop(&l) != c)
				wrong++;
			if (c->u.timer.deadline > l.now)
				++*early;
			model_drop(want, 3);
		}
	}
	*wheel_used = l.wheel != NULL;
	if (xev__heap_first(&l) || l.ntimers != 0)
		wrong++;
	xev__heap_kill(&l);
	return wrong;
}

int main(void)
{
	static const char *orders[] = { "random, over every level and beyond", "ascending", "descending" };

	plan(12);
	alarm(120); /* a slot never emptied loops for ever: fail instead */
	for (int pass = 0; pass < 2; pass++) {
		for (int o = 0; o < 3; o++) {
			int early = 0, used = 0, wrong = round_of(o, &early, &used, pass == 1);
			is_int(wrong, 0, "%s%s: %d timers, started, removed and popped interleaved: first always the model's",
			       orders[o], pass ? ", no wheel" : "", N);
			ok(early == 0 && (pass == 1 ? !used : (o == 1 || used)),
			   "... none early (%d), the wheel %s", early, used ? "used" : "not used");
		}
	}
	return done_testing();
}
