/* SPDX-License-Identifier: MIT */
/*
 * The fault plan (fault.h).  Sites are reached from the loop's thread,
 * pool workers and signal handlers, so everything here is lock-free
 * atomics: no lock a handler could deadlock on, no allocation.
 */
#include "internal.h"

#ifndef XEV_FAULT_INJECTION
#error "fault.c is built only with --enable-fault-injection"
#endif

#define XEV__FAULT_NAME(name, label, ...) label,
static const char *const site_names[] = { XEV__FAULT_SITES(XEV__FAULT_NAME) };

#define XEV__FAULT_ERRS(name, label, ...) static const int errs_##name[] = { __VA_ARGS__, 0 };
XEV__FAULT_SITES(XEV__FAULT_ERRS)
#define XEV__FAULT_ERRS_REF(name, label, ...) errs_##name,
static const int *const site_errs[] = { XEV__FAULT_SITES(XEV__FAULT_ERRS_REF) };

static _Atomic int plan_on;
static _Atomic int plan_site, plan_err;
static _Atomic uint32_t plan_after, plan_every, plan_permille, plan_limit;
static _Atomic uint64_t plan_seed, draws;
static _Atomic uint64_t calls[XEV__FAULT_NSITES], injected[XEV__FAULT_NSITES];
static _Atomic uint64_t injected_total;

void xev__fault_set(const struct xev__fault_plan *p)
{
	atomic_store(&plan_on, 0);
	for (int i = 0; i < XEV__FAULT_NSITES; i++) {
		atomic_store(&calls[i], 0);
		atomic_store(&injected[i], 0);
	}
	atomic_store(&injected_total, 0);
	atomic_store(&draws, 0);
	if (!p)
		return;
	atomic_store(&plan_site, p->site);
	atomic_store(&plan_err, p->err);
	atomic_store(&plan_after, p->after);
	atomic_store(&plan_every, p->every);
	atomic_store(&plan_permille, p->permille);
	atomic_store(&plan_limit, p->limit);
	atomic_store(&plan_seed, p->seed);
	atomic_store(&plan_on, 1);
}

uint64_t xev__fault_calls(int site)
{
	return site >= 0 && site < XEV__FAULT_NSITES ? atomic_load(&calls[site]) : 0;
}

uint64_t xev__fault_injected(int site)
{
	return site >= 0 && site < XEV__FAULT_NSITES ? atomic_load(&injected[site]) : 0;
}

const char *xev__fault_site_name(int site)
{
	return site >= 0 && site < XEV__FAULT_NSITES ? site_names[site] : NULL;
}

const int *xev__fault_site_errnos(int site)
{
	return site >= 0 && site < XEV__FAULT_NSITES ? site_errs[site] : NULL;
}

/* A well-mixed 64-bit number from a counter (splitmix64). */
static uint64_t mix(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static uint64_t draw(void)
{
	return mix(atomic_load_explicit(&plan_seed, memory_order_relaxed) ^
		   (atomic_fetch_add_explicit(&draws, 1, memory_order_relaxed) << 1));
}

static bool due(uint64_t n)
{
	uint32_t after = atomic_load_explicit(&plan_after, memory_order_relaxed);
	uint32_t every = atomic_load_explicit(&plan_every, memory_order_relaxed);
	uint32_t permille = atomic_load_explicit(&plan_permille, memory_order_relaxed);

	if (permille)
		return n > after && draw() % 1000 < permille;
	if (n <= after)
		return false;
	return every ? (n - after - 1) % every == 0 : n == (uint64_t)after + 1;
}

bool xev__fault_fail(enum xev__fault_site site)
{
	uint64_t n = atomic_fetch_add_explicit(&calls[site], 1, memory_order_relaxed) + 1;
	int want = atomic_load_explicit(&plan_site, memory_order_relaxed);
	uint32_t limit;
	int err;

	if (!atomic_load_explicit(&plan_on, memory_order_acquire))
		return false;
	if (want >= 0 && want != (int)site)
		return false;
	if (!due(n))
		return false;
	limit = atomic_load_explicit(&plan_limit, memory_order_relaxed);
	if (limit && atomic_fetch_add(&injected_total, 1) >= limit)
		return false;
	err = atomic_load_explicit(&plan_err, memory_order_relaxed);
	if (!err) {
		const int *e = site_errs[site];
		size_t k = 0;
		while (e[k])
			k++;
		err = e[draw() % k];
	}
	atomic_fetch_add_explicit(&injected[site], 1, memory_order_relaxed);
	errno = err;
	return true;
}
