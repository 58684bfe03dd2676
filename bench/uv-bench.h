/* SPDX-License-Identifier: MIT */
/* What the libuv programs share, on top of bench.h. */
#ifndef XEV_UV_BENCH_H
#define XEV_UV_BENCH_H

#include <uv.h>

#include "bench.h"

/* libuv returns negative error codes: any of them ends the run. */
static inline void check(int r, const char *what)
{
	if (r < 0)
		bench_fail("%s: %s", what, uv_strerror(r));
}

/* Says how big libuv's pool is: 4 unless UV_THREADPOOL_SIZE says. */
static inline void bench_uv_pool_note(void)
{
	const char *pool = getenv("UV_THREADPOOL_SIZE");

	if (pool)
		bench_note("pool size UV_THREADPOOL_SIZE=%s", pool);
	else
		bench_note("pool size 4 (libuv default)");
}

#endif
