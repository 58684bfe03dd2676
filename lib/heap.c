/* SPDX-License-Identifier: MIT */
/*
 * The timer queue: a sorted list in front of an intrusive pairing heap,
 * both keyed on the deadline.
 *
 * Most timers are started in deadline order: a program's timeouts mostly
 * share one duration, and a burst of timers started one after the other
 * (the million-timers benchmark) ascends.  Such a timer is appended to
 * the sorted list ("the run") and later taken from its head, both O(1),
 * and the memory is walked in order.  Any other timer goes into the heap,
 * where insertion is O(1) and removal of the minimum or of an arbitrary
 * (cancelled, reset) timer is amortised O(log n).  The next timer is the
 * earlier of the two heads.  Nodes live in the completions, so neither
 * ever allocates.
 */
#include "internal.h"

#define DL(c) ((c)->u.timer.deadline)

/* Joins two roots; the earlier deadline becomes the parent. */
static struct xev__completion *meld(struct xev__completion *a, struct xev__completion *b)
{
	if (DL(b) < DL(a)) {
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

/* The run links its timers through sibling (next) and prev. */
static void run_append(struct xev__loop *l, struct xev__completion *c)
{
	c->flags |= XEV__F_IN_RUN;
	c->u.timer.prev = l->run_tail;
	if (l->run_tail)
		l->run_tail->u.timer.sibling = c;
	else
		l->run_head = c;
	l->run_tail = c;
}

static void run_unlink(struct xev__loop *l, struct xev__completion *c)
{
	struct xev__completion *prev = c->u.timer.prev, *next = c->u.timer.sibling;

	if (prev)
		prev->u.timer.sibling = next;
	else
		l->run_head = next;
	if (next)
		next->u.timer.prev = prev;
	else
		l->run_tail = prev;
	c->u.timer.sibling = c->u.timer.prev = NULL;
	c->flags &= (uint16_t)~XEV__F_IN_RUN;
}

void xev__heap_insert(struct xev__loop *l, struct xev__completion *c)
{
	c->u.timer.child = c->u.timer.sibling = c->u.timer.prev = NULL;
	l->ntimers++;
	if (!l->run_tail || DL(c) >= DL(l->run_tail)) {
		run_append(l, c);
		return;
	}
	c->flags &= (uint16_t)~XEV__F_IN_RUN;
	l->timers = l->timers ? meld(l->timers, c) : c;
}

/* The timer due first, or NULL; ties go to the run, which keeps them in
 * the order they were started. */
struct xev__completion *xev__heap_first(const struct xev__loop *l)
{
	if (!l->run_head)
		return l->timers;
	if (!l->timers || DL(l->run_head) <= DL(l->timers))
		return l->run_head;
	return l->timers;
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

	if (!top)
		return NULL;
	if (top == l->run_head)
		run_unlink(l, top);
	else
		heap_pop_root(l);
	l->ntimers--;
	return top;
}

void xev__heap_remove(struct xev__loop *l, struct xev__completion *c)
{
	struct xev__completion *sub;

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
