/* SPDX-License-Identifier: MIT */
/*
 * The timer queue: sorted lists ("runs") and an intrusive pairing heap
 * for the timers due soon, and a timing wheel of intrusive lists for the
 * rest, all keyed on (deadline, start order).
 *
 * Most timers are started in deadline order: a program's timeouts mostly
 * share one duration, and a burst of timers started one after the other
 * (the million-timers benchmark) ascends.  Such a timer is appended to
 * the loop's run and later taken from its head, both O(1), and the
 * memory is walked in order.
 *
 * Any other timer goes to the wheel: a ring of 1024 slots of one tick
 * (2^20 ns, about 1 ms) for the timers due within about a second, and
 * three levels of 64 slots, each slot 64 times wider than those below,
 * reaching about 78 hours; later ones go to the heap.  Putting a timer
 * there touches the timer and the one before it in its slot's list (a
 * slot has CHAINS), nothing else.  A slot is emptied when its time comes,
 * into the slots below or, for the ring, onto the first run whose end it
 * can follow (the wheel has three more, since a slot brings its timers in
 * start order, which is deadline order for each timeout a program uses)
 * or into the heap.  The heap thus holds few timers: a pairing heap over
 * a million timers, each in its own 320-byte completion, touches a page
 * of the caller's memory at every step of a pop, and took 3.6 times
 * libev's CPU for a million timers in random order (bench/README).
 *
 * Removal is O(1), or amortised O(log n) from the heap.  The next timer
 * is the earliest of the runs' heads, the heap's root and the wheel's
 * first slot, which is emptied until the answer is exact.  The wheel is
 * one allocation per loop, made by the first timer that does not fit on
 * the loop's run; without it every timer goes to that run or the heap,
 * so nothing fails for want of it.  Nodes live in the completions.
 */
#include "internal.h"

#include <stdlib.h>

#define DL(c) ((c)->u.timer.deadline)

#define TICK_SHIFT 20 /* ns: a tick is about 1 ms */
/* Level 0 reaches about a second ahead, so that the common timeouts are
 * never moved from a slot to another; the three above it, 64 slots each,
 * reach 2^28 ticks, about 78 hours. */
#define LEVEL0_BITS 10
#define UPPER_BITS 6
#define LEVELS 4
#define REACH_BITS (LEVEL0_BITS + UPPER_BITS * (LEVELS - 1))
#define NSLOTS ((1u << LEVEL0_BITS) + (LEVELS - 1) * (1u << UPPER_BITS))

/* Runs besides the loop's own, for the timers a slot brings that do not
 * fit on the end of it: a slot's timers come in start order, which is
 * deadline order for each of the timeouts a program uses. */
#define EXTRA_RUNS 3

/* A slot's timers are dealt in turn onto this many lists, so that
 * emptying it walks as many at once: each step to the next timer is a
 * miss in the caller's memory, and the misses of different lists overlap
 * where those of one list cannot.  Taken in turn again, they come out in
 * the order they went in, but where some were removed in between. */
#define CHAINS 4

struct xev__wheel {
	uint64_t cur;                /* every timer in the wheel is due after this tick */
	struct xev__run runs[EXTRA_RUNS];
	uint64_t count;
	uint64_t used[NSLOTS / 64];  /* bit g: slot g has timers */
	uint8_t turn[NSLOTS];        /* the list of slot g its next timer goes to */
	struct xev__list slot[NSLOTS][CHAINS];
};

/* The tick bit where a level's slot number begins. */
static unsigned shift_of(unsigned level)
{
	return level == 0 ? 0 : LEVEL0_BITS + UPPER_BITS * (level - 1);
}

/* The level's first slot in slot[] and used[]. */
static unsigned base_of(unsigned level)
{
	return level == 0 ? 0 : (1u << LEVEL0_BITS) + (1u << UPPER_BITS) * (level - 1);
}

static bool slot_used(const struct xev__wheel *w, unsigned g)
{
	return w->used[g / 64] >> (g % 64) & 1;
}

static uint64_t tick_of(int64_t deadline)
{
	return deadline <= 0 ? 0 : (uint64_t)deadline >> TICK_SHIFT;
}

/* Is a due before b?  Ties go to the one started first. */
static bool before(const struct xev__completion *a, const struct xev__completion *b)
{
	return DL(a) < DL(b) || (DL(a) == DL(b) && a->u.timer.seq < b->u.timer.seq);
}

/* Joins two roots; the one due first becomes the parent. */
static struct xev__completion *meld(struct xev__completion *a, struct xev__completion *b)
{
	if (before(b, a)) {
		struct xev__completion *t = a;
		a = b;
		b = t;
	}
	b->u.timer.prev = a;
	b->u.timer.sibling = a->u.timer.child;
	if (a->u.timer.child)
		a->u.timer.child->u.timer.prev = b;
	a->u.timer.child = b;
	return a;
}

/*
 * Turns a list of siblings into one heap: meld them in pairs left to
 * right, then fold the pairs right to left.  Iterative, because the list
 * can hold millions of timers after a burst of ascending insertions.
 */
static struct xev__completion *merge_siblings(struct xev__completion *first)
{
	struct xev__completion *pairs = NULL, *root;

	while (first) {
		struct xev__completion *a = first, *b = a->u.timer.sibling, *m;
		if (!b) {
			a->u.timer.prev = NULL;
			a->u.timer.sibling = pairs;
			pairs = a;
			break;
		}
		first = b->u.timer.sibling;
		a->u.timer.sibling = a->u.timer.prev = NULL;
		b->u.timer.sibling = b->u.timer.prev = NULL;
		m = meld(a, b);
		m->u.timer.sibling = pairs;
		pairs = m;
	}
	if (!pairs)
		return NULL;
	root = pairs;
	pairs = pairs->u.timer.sibling;
	root->u.timer.sibling = NULL;
	while (pairs) {
		struct xev__completion *next = pairs->u.timer.sibling;
		pairs->u.timer.sibling = NULL;
		root = meld(root, pairs);
		pairs = next;
	}
	root->u.timer.prev = NULL;
	return root;
}

/* Run 0 is the loop's, the others the wheel's. */
static struct xev__run *run_at(struct xev__loop *l, unsigned i)
{
	return i == 0 ? &l->run : &l->wheel->runs[i - 1];
}

static unsigned runs_in_use(const struct xev__loop *l)
{
	return l->wheel ? 1 + EXTRA_RUNS : 1;
}

/* A run links its timers through sibling (next) and prev. */
static void run_append(struct xev__loop *l, unsigned i, struct xev__completion *c)
{
	struct xev__run *r = run_at(l, i);

	c->flags |= XEV__F_IN_RUN;
	c->u.timer.bucket = (uint16_t)i;
	c->u.timer.prev = r->tail;
	if (r->tail)
		r->tail->u.timer.sibling = c;
	else
		r->head = c;
	r->tail = c;
}

static void run_unlink(struct xev__loop *l, struct xev__completion *c)
{
	struct xev__run *r = run_at(l, c->u.timer.bucket);
	struct xev__completion *prev = c->u.timer.prev, *next = c->u.timer.sibling;

	if (prev)
		prev->u.timer.sibling = next;
	else
		r->head = next;
	if (next)
		next->u.timer.prev = prev;
	else
		r->tail = prev;
	c->u.timer.sibling = c->u.timer.prev = NULL;
	c->flags &= (uint16_t)~XEV__F_IN_RUN;
}

static bool run_takes(const struct xev__run *r, const struct xev__completion *c)
{
	return !r->tail || !before(c, r->tail);
}

/* Onto the first run it can end, or into the heap. */
static void near_insert(struct xev__loop *l, struct xev__completion *c)
{
	c->u.timer.child = c->u.timer.sibling = c->u.timer.prev = NULL;
	for (unsigned i = 0, n = runs_in_use(l); i < n; i++)
		if (run_takes(run_at(l, i), c)) {
			run_append(l, i, c);
			return;
		}
	c->flags &= (uint16_t)~XEV__F_IN_RUN;
	l->timers = l->timers ? meld(l->timers, c) : c;
}

/*
 * Into the wheel, if it reaches that far, else into the heap.  Level 0
 * is a ring: a timer less than 1024 ticks ahead takes the slot of its
 * tick modulo 1024, so that every timer due within about a second is
 * placed once and never moved.  A later one goes to the upper level of
 * the highest bit in which its tick and the current one differ, whose
 * slots tell them apart.
 */
static void place(struct xev__loop *l, struct xev__completion *c)
{
	struct xev__wheel *w = l->wheel;
	uint64_t t = tick_of(DL(c));
	unsigned g, k;

	if (t <= w->cur || t - w->cur >= (uint64_t)1 << REACH_BITS) {
		near_insert(l, c);
		return;
	}
	if (t - w->cur < (1u << LEVEL0_BITS)) {
		g = (unsigned)(t & ((1u << LEVEL0_BITS) - 1));
	} else {
		unsigned high = (unsigned)(63 - __builtin_clzll(t ^ w->cur));
		unsigned level = 1 + (high - LEVEL0_BITS) / UPPER_BITS;
		g = base_of(level) + (unsigned)(t >> shift_of(level) & ((1u << UPPER_BITS) - 1));
	}
	k = w->turn[g]++ % CHAINS;
	c->flags = (uint16_t)((c->flags & ~XEV__F_IN_RUN) | XEV__F_IN_WHEEL);
	c->u.timer.bucket = (uint16_t)(g * CHAINS + k);
	xev__list_push(&w->slot[g][k], c);
	w->used[g / 64] |= (uint64_t)1 << (g % 64);
	w->count++;
}

static bool slot_empty(const struct xev__wheel *w, unsigned g)
{
	for (unsigned k = 0; k < CHAINS; k++)
		if (w->slot[g][k].head)
			return false;
	return true;
}

static void wheel_unlink(struct xev__wheel *w, struct xev__completion *c)
{
	unsigned g = c->u.timer.bucket / CHAINS;

	xev__list_unlink(&w->slot[g][c->u.timer.bucket % CHAINS], c);
	if (slot_empty(w, g)) {
		w->used[g / 64] &= ~((uint64_t)1 << (g % 64));
		w->turn[g] = 0;
	}
	c->flags &= (uint16_t)~XEV__F_IN_WHEEL;
	w->count--;
}

/* Made by the first timer that does not join the run; NULL if there is
 * no memory for it, and the heap takes everything. */
static struct xev__wheel *wheel_of(struct xev__loop *l)
{
	if (XEV__UNLIKELY(!l->wheel)) {
		l->wheel = XEV__SYS_PTR(ALLOC, calloc(1, sizeof(*l->wheel)));
		if (!l->wheel)
			return NULL;
		l->wheel->cur = tick_of(l->now);
	}
	return l->wheel;
}

void xev__heap_insert(struct xev__loop *l, struct xev__completion *c)
{
	struct xev__wheel *w;

	c->u.timer.seq = l->timer_seq++;
	l->ntimers++;
	if (run_takes(&l->run, c) || !(w = wheel_of(l))) {
		near_insert(l, c);
		return;
	}
	/* An empty wheel starts from now, so that a timer goes to the
	 * level its distance calls for. */
	if (w->count == 0 && tick_of(l->now) > w->cur)
		w->cur = tick_of(l->now);
	place(l, c);
}

/* The first slot in use in the ring at or after slot p, going round;
 * -1 if there is none. */
static int ring_next(const struct xev__wheel *w, unsigned p)
{
	const unsigned words = (1u << LEVEL0_BITS) / 64;
	uint64_t bits = w->used[p / 64] & (~(uint64_t)0 << (p % 64));

	for (unsigned i = 0, word = p / 64; i <= words; i++) {
		if (bits)
			return (int)(word * 64 + (unsigned)__builtin_ctzll(bits));
		word = (word + 1) % words;
		bits = w->used[word];
	}
	return -1;
}

/*
 * The tick at which the first slot with timers begins: the ring's first
 * after the current tick, or the first of the lowest upper level in use
 * (slots in use there all come after the current tick's slot, and begin
 * after every slot of the upper levels below), whichever is earlier.  The
 * wheel must not be empty.
 */
static uint64_t first_slot_tick(const struct xev__wheel *w)
{
	const unsigned mask = (1u << LEVEL0_BITS) - 1;
	uint64_t first = UINT64_MAX;
	int r = ring_next(w, (unsigned)(w->cur + 1) & mask);

	if (r >= 0)
		first = w->cur + (((unsigned)r - (unsigned)w->cur) & mask);
	for (unsigned level = 1; level < LEVELS; level++) {
		uint64_t bits = w->used[base_of(level) / 64];
		if (bits) {
			unsigned shift = shift_of(level), span = shift + UPPER_BITS;
			uint64_t start = (w->cur >> span << span) | (uint64_t)__builtin_ctzll(bits) << shift;
			return start < first ? start : first;
		}
	}
	return first;
}

/* Empties a slot, placing its timers again, in the order they came. */
static void empty_slot(struct xev__loop *l, unsigned g)
{
	struct xev__wheel *w = l->wheel;
	struct xev__completion *at[CHAINS];
	bool more = true;

	for (unsigned k = 0; k < CHAINS; k++) {
		at[k] = w->slot[g][k].head;
		w->slot[g][k].head = w->slot[g][k].tail = NULL;
		if (at[k])
			__builtin_prefetch(at[k], 1);
	}
	w->used[g / 64] &= ~((uint64_t)1 << (g % 64));
	w->turn[g] = 0;
	while (more) {
		more = false;
		for (unsigned k = 0; k < CHAINS; k++) {
			struct xev__completion *c = at[k];
			if (!c)
				continue;
			/* The slot's timers lie anywhere in the caller's
			 * memory: ask for the list's next now, wanted once
			 * the other lists have had their turn. */
			at[k] = c->next;
			if (at[k]) {
				__builtin_prefetch(at[k], 1);
				more = true;
			}
			w->count--;
			c->next = c->prev = NULL;
			c->flags &= (uint16_t)~XEV__F_IN_WHEEL;
			place(l, c);
		}
	}
}

/* Makes tick the current one: the upper slots that begin there are
 * emptied, highest level first, their timers placed again below, and
 * then the ring's slot of the tick, whose timers are due. */
static void advance_to(struct xev__loop *l, uint64_t tick)
{
	struct xev__wheel *w = l->wheel;
	unsigned g;

	w->cur = tick;
	for (unsigned level = LEVELS - 1; level >= 1; level--) {
		unsigned shift = shift_of(level);
		g = base_of(level) + (unsigned)(tick >> shift & ((1u << UPPER_BITS) - 1));
		if (!(tick & (((uint64_t)1 << shift) - 1)) && slot_used(w, g))
			empty_slot(l, g);
	}
	g = (unsigned)(tick & ((1u << LEVEL0_BITS) - 1));
	if (slot_used(w, g))
		empty_slot(l, g);
}

/* The first of the runs' heads and the heap's root. */
static struct xev__completion *near_first(struct xev__loop *l)
{
	struct xev__completion *first = l->timers;

	for (unsigned i = 0, n = runs_in_use(l); i < n; i++) {
		struct xev__completion *h = run_at(l, i)->head;
		if (h && (!first || before(h, first)))
			first = h;
	}
	return first;
}

/* The timer due first, or NULL.  Wheel slots are emptied until none can
 * hold one due before the run's and the heap's first. */
struct xev__completion *xev__heap_first(struct xev__loop *l)
{
	struct xev__completion *first = near_first(l);
	struct xev__wheel *w = l->wheel;

	while (w && w->count > 0) {
		uint64_t t = first_slot_tick(w);
		if (first && tick_of(DL(first)) < t)
			break;
		advance_to(l, t);
		first = near_first(l);
	}
	return first;
}

static void heap_pop_root(struct xev__loop *l)
{
	struct xev__completion *top = l->timers;
	l->timers = merge_siblings(top->u.timer.child);
	top->u.timer.child = NULL;
}

struct xev__completion *xev__heap_pop(struct xev__loop *l)
{
	struct xev__completion *top = xev__heap_first(l);

	if (top)
		xev__heap_remove(l, top);
	return top;
}

void xev__heap_remove(struct xev__loop *l, struct xev__completion *c)
{
	struct xev__completion *sub;

	if (c->flags & XEV__F_IN_WHEEL) {
		wheel_unlink(l->wheel, c);
		l->ntimers--;
		return;
	}
	if (c->flags & XEV__F_IN_RUN) {
		run_unlink(l, c);
		l->ntimers--;
		return;
	}
	if (c == l->timers) {
		heap_pop_root(l);
		l->ntimers--;
		return;
	}
	/* Cut c (with its subtree) out of its sibling list. */
	if (c->u.timer.prev->u.timer.child == c)
		c->u.timer.prev->u.timer.child = c->u.timer.sibling;
	else
		c->u.timer.prev->u.timer.sibling = c->u.timer.sibling;
	if (c->u.timer.sibling)
		c->u.timer.sibling->u.timer.prev = c->u.timer.prev;
	sub = merge_siblings(c->u.timer.child);
	c->u.timer.child = c->u.timer.sibling = c->u.timer.prev = NULL;
	if (sub)
		l->timers = meld(l->timers, sub);
	l->ntimers--;
}

/* Marks every timer dead, without recursion (the heap can be huge), and
 * frees the wheel. */
void xev__heap_kill(struct xev__loop *l)
{
	struct xev__completion *stack = l->timers;
	struct xev__wheel *w = l->wheel;

	for (unsigned g = 0; w && g < NSLOTS; g++) {
		for (unsigned k = 0; k < CHAINS; k++) {
			struct xev__completion *c;
			while ((c = xev__list_pop(&w->slot[g][k]))) {
				c->flags &= (uint16_t)~XEV__F_IN_WHEEL;
				c->state = XEV__DEAD;
			}
		}
	}
	if (stack)
		stack->next = NULL;
	while (stack) {
		struct xev__completion *c = stack, *k;
		stack = c->next;
		for (k = c->u.timer.child; k; k = k->u.timer.sibling) {
			k->next = stack;
			stack = k;
		}
		c->next = c->prev = NULL;
		c->state = XEV__DEAD;
	}
	l->timers = NULL;
	for (unsigned i = 0, n = runs_in_use(l); i < n; i++) {
		struct xev__run *r = run_at(l, i);
		for (struct xev__completion *c = r->head, *next; c; c = next) {
			next = c->u.timer.sibling;
			c->u.timer.sibling = c->u.timer.prev = NULL;
			c->flags &= (uint16_t)~XEV__F_IN_RUN;
			c->next = c->prev = NULL;
			c->state = XEV__DEAD;
		}
		r->head = r->tail = NULL;
	}
	free(w);
	l->wheel = NULL;
	l->ntimers = 0;
}
