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

#define N 20000

struct ref {
	int64_t deadline;
	uint64_t seq;
	int idx;
};

static struct xev__completion cs[N];
static int state[N]; /* 0 never started, 1 queued, 2 removed, 3 popped */
static uint64_t started_seq[N];
static struct ref refs[N];

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int by_deadline(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;
	if (x->deadline != y->deadline)
		return x->deadline < y->deadline ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* A delay in ns spread over every level: up to 2^k ticks for random k,
 * some beyond the wheel (2^24 ticks), some within one tick. */
static int64_t any_delay(void)
{
	unsigned bits = (unsigned)(next_rand() % 48);
	return (int64_t)(next_rand() & (((uint64_t)1 << bits) - 1));
}

/* One round; returns the number of wrong pops (plus missing ones). */
static int round_of(int order, int *early, int *wheel_used, bool no_wheel)
{
	struct xev__loop l;
	int wrong = 0, nref = 0, popped = 0;

	memset(&l, 0, sizeof l);
	memset(cs, 0, sizeof cs);
	memset(state, 0, sizeof state);
	l.now = (int64_t)1 << 40;
	refuse_calloc = no_wheel;
	for (int i = 0; i < N; i++) {
		int64_t d;
		if (order == 0)
			d = any_delay();
		else if (order == 1)
			d = (int64_t)i * 12345;
		else
			d = (int64_t)(N - i) * 54321;
		cs[i].u.timer.deadline = l.now + d;
		xev__heap_insert(&l, &cs[i]);
		started_seq[i] = cs[i].u.timer.seq;
		state[i] = 1;
		/* Now and then the clock moves and a few timers are removed. */
		if (next_rand() % 500 == 0)
			l.now += any_delay() >> 8;
		if (i > 10 && next_rand() % 7 == 0) {
			int k = (int)(next_rand() % (uint64_t)i);
			if (state[k] == 1) {
				xev__heap_remove(&l, &cs[k]);
				state[k] = 2;
			}
		}
	}
	*wheel_used = l.wheel != NULL;
	for (int i = 0; i < N; i++)
		if (state[i] == 1)
			refs[nref++] = (struct ref){ cs[i].u.timer.deadline, started_seq[i], i };
	qsort(refs, (size_t)nref, sizeof refs[0], by_deadline);
	/* Advance the clock in uneven steps and take what is due. */
	while (popped < nref) {
		struct xev__completion *c = xev__heap_first(&l);
		if (!c) {
			wrong += nref - popped;
			break;
		}
		if (c->u.timer.deadline > l.now) {
			l.now = c->u.timer.deadline - (int64_t)(next_rand() % 3);
			continue;
		}
		c = xev__heap_pop(&l);
		if (c->u.timer.deadline > l.now)
			++*early;
		if (c != &cs[refs[popped].idx])
			wrong++;
		state[c - cs] = 3;
		popped++;
	}
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
			is_int(wrong, 0, "%s%s: %d timers out in (deadline, start) order, removed ones never",
			       orders[o], pass ? ", no wheel" : "", N);
			ok(early == 0 && (pass == 1 ? !used : (o == 1 || used)),
			   "... none early (%d), the wheel %s", early, used ? "used" : "not used");
		}
	}
	return done_testing();
}
