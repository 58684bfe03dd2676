/* SPDX-License-Identifier: MIT */
/*
 * The ABI shared with the original libxev's header: sizes, alignments,
 * enum values, callback types.  Built from two translation units that both
 * include xev.h (the original's `const size_t` sizes broke that link).
 */
#include <stdalign.h>
#include <stddef.h>

#include "tap.h"

size_t abi_second_tu_loop_size(void);

/* The sizes are constant expressions: usable as array bounds. */
unsigned char loop_storage[XEV_SIZEOF_LOOP];
unsigned char completion_storage[XEV_SIZEOF_COMPLETION];

/* ... of type size_t, as the original's are (printf's %zu, sizeof, and
 * bindings that map them to usize rely on it). */
#define IS_SIZE_T(x) _Generic((x), size_t: 1, default: 0)
_Static_assert(IS_SIZE_T(XEV_SIZEOF_LOOP) && IS_SIZE_T(XEV_SIZEOF_COMPLETION) &&
		       IS_SIZE_T(XEV_SIZEOF_WATCHER) && IS_SIZE_T(XEV_SIZEOF_THREADPOOL) &&
		       IS_SIZE_T(XEV_SIZEOF_THREADPOOL_BATCH) && IS_SIZE_T(XEV_SIZEOF_THREADPOOL_TASK) &&
		       IS_SIZE_T(XEV_SIZEOF_THREADPOOL_CONFIG) && IS_SIZE_T(XEV_SIZEOF_LOOP_OPTIONS),
	       "XEV_SIZEOF_* have type size_t");

static xev_cb_action timer_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	(void)l, (void)c, (void)result, (void)ud;
	return XEV_DISARM;
}

static void task_cb(xev_threadpool_task *t) { (void)t; }

int main(void)
{
	xev_timer_cb tcb = timer_cb;
	xev_async_cb acb = timer_cb;
	xev_cb cb = timer_cb;
	xev_task_cb kcb = task_cb;

	plan(35);
	is_int(sizeof(xev_loop), 512, "sizeof(xev_loop) == 512");
	is_int(sizeof(xev_completion), 320, "sizeof(xev_completion) == 320");
	is_int(sizeof(xev_watcher), 256, "sizeof(xev_watcher) == 256");
	is_int(sizeof(xev_threadpool), 64, "sizeof(xev_threadpool) == 64");
	is_int(sizeof(xev_threadpool_config), 64, "sizeof(xev_threadpool_config) == 64");
	is_int(sizeof(xev_threadpool_batch), 24, "sizeof(xev_threadpool_batch) == 24");
	is_int(sizeof(xev_threadpool_task), 24, "sizeof(xev_threadpool_task) == 24");
	is_int(sizeof(xev_loop_options), 64, "sizeof(xev_loop_options) == 64");
	is_int(alignof(xev_loop), alignof(max_align_t), "xev_loop aligned like max_align_t");
	is_int(alignof(xev_completion), alignof(max_align_t), "xev_completion aligned like max_align_t");
	is_int(alignof(xev_watcher), alignof(max_align_t), "xev_watcher aligned like max_align_t");
	is_int(alignof(xev_threadpool), alignof(max_align_t), "xev_threadpool aligned like max_align_t");
	is_int(alignof(xev_threadpool_config), alignof(max_align_t),
	       "xev_threadpool_config aligned like max_align_t");
	is_int(alignof(xev_threadpool_batch), alignof(void *), "xev_threadpool_batch pointer-aligned");
	is_int(alignof(xev_threadpool_task), alignof(void *), "xev_threadpool_task pointer-aligned");
	is_int(XEV_SIZEOF_LOOP + XEV_SIZEOF_COMPLETION + XEV_SIZEOF_WATCHER, 1088,
	       "XEV_SIZEOF_* are the original's values");
	is_int(XEV_SIZEOF_THREADPOOL + XEV_SIZEOF_THREADPOOL_CONFIG, 128, "thread pool sizes");
	is_int(XEV_SIZEOF_THREADPOOL_BATCH + XEV_SIZEOF_THREADPOOL_TASK, 48, "batch and task sizes");
	is_int(sizeof loop_storage + sizeof completion_storage, 832, "sizes bound static arrays");
	is_int(abi_second_tu_loop_size(), sizeof(xev_loop), "a second translation unit agrees");
	is_int(sizeof XEV_SIZEOF_LOOP, sizeof(size_t), "sizeof XEV_SIZEOF_LOOP == sizeof(size_t)");
	{
		/* -Wformat (on in this build) checks %zu against the type. */
		char line[32];
		snprintf(line, sizeof line, "%zu %zu", XEV_SIZEOF_LOOP, XEV_SIZEOF_THREADPOOL_TASK);
		ok(strcmp(line, "512 24") == 0, "printf(\"%%zu\", XEV_SIZEOF_*) prints them (%s)", line);
	}
	is_int(XEV_DISARM, 0, "XEV_DISARM == 0");
	is_int(XEV_REARM, 1, "XEV_REARM == 1");
	is_int(XEV_RUN_NO_WAIT, 0, "XEV_RUN_NO_WAIT == 0");
	is_int(XEV_RUN_ONCE, 1, "XEV_RUN_ONCE == 1");
	is_int(XEV_RUN_UNTIL_DONE, 2, "XEV_RUN_UNTIL_DONE == 2");
	is_int(XEV_COMPLETION_DEAD, 0, "XEV_COMPLETION_DEAD == 0");
	is_int(XEV_COMPLETION_ACTIVE, 1, "XEV_COMPLETION_ACTIVE == 1");
	is_int(XEV_BACKEND_AUTO, 0, "XEV_BACKEND_AUTO == 0");
	is_int(XEV_BACKEND_IO_URING, 1, "XEV_BACKEND_IO_URING == 1");
	is_int(XEV_BACKEND_EPOLL, 2, "XEV_BACKEND_EPOLL == 2");
	is_int(XEV_BACKEND_KQUEUE * 10 + XEV_BACKEND_POLL, 34, "XEV_BACKEND_KQUEUE == 3, POLL == 4");
	ok(tcb == acb && acb == cb, "timer, async and generic callbacks share one type");
	ok(kcb != NULL, "xev_task_cb takes a task pointer");
	return done_testing();
}
