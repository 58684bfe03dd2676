// SPDX-License-Identifier: MIT
// xev.h from C++: extern "C" linkage and the ABI sizes.
#include <cstddef>
#include <cstdio>
#include <type_traits>

#include "xev.h"

static int n;

static void check(bool cond, const char *name)
{
	std::printf("%sok %d - %s\n", cond ? "" : "not ", ++n, name);
}

static_assert(sizeof(xev_loop) == XEV_SIZEOF_LOOP, "loop");
static_assert(sizeof(xev_completion) == XEV_SIZEOF_COMPLETION, "completion");
static_assert(sizeof(xev_threadpool_task) == XEV_SIZEOF_THREADPOOL_TASK, "task");
static_assert(std::is_same<decltype(XEV_SIZEOF_LOOP), std::size_t>::value, "XEV_SIZEOF_* are size_t");
static unsigned char storage[XEV_SIZEOF_WATCHER]; // a constant expression in C++ too

extern "C" xev_cb_action fired(xev_loop *, xev_completion *, int result, void *ud)
{
	*static_cast<int *>(ud) = result + 1;
	return XEV_DISARM;
}

int main()
{
	xev_loop loop;
	xev_watcher w;
	xev_completion c;
	int got = 0;

	std::printf("1..3\n");
	storage[XEV_SIZEOF_WATCHER - 1] = 1;
	check(sizeof(xev_watcher) == 256 && sizeof(xev_threadpool_batch) == 24 && sizeof storage == 256 &&
		      storage[255] == 1,
	      "C++: sizes");
	check(xev_loop_init(&loop) == 0, "C++: xev_loop_init");
	xev_timer_init(&w);
	xev_timer_run(&w, &loop, &c, 1, &got, fired);
	xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	xev_loop_deinit(&loop);
	check(got == 1, "C++: a timer fires with result 0");
	return 0;
}
