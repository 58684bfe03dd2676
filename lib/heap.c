/* SPDX-License-Identifier: MIT */
/*
 * The timer heap: an intrusive pairing heap keyed on the deadline.
 *
 * Insertion is O(1), which is what a program starting millions of timers
 * before its first run needs; removal of the minimum or of an arbitrary
 * (cancelled, reset) timer is amortised O(log n).  The nodes live in the
 * completions, so the heap never allocates.
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

void xev__heap_insert(struct xev__loop *l, struct xev__completion *c)
{
	c->u.timer.child = c->u.timer.sibling = c->u.timer.prev = NULL;
	l->timers = l->timers ? meld(l->timers, c) : c;
	l->ntimers++;
}

struct xev__completion *xev__heap_pop(struct xev__loop *l)
{
	struct xev__completion *top = l->timers;
	if (!top)
		return NULL;
	l->timers = merge_siblings(top->u.timer.child);
	top->u.timer.child = NULL;
	l->ntimers--;
	return top;
}

void xev__heap_remove(struct xev__loop *l, struct xev__completion *c)
{
	struct xev__completion *sub;

	if (c == l->timers) {
		xev__heap_pop(l);
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
