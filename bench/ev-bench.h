/* SPDX-License-Identifier: MIT */
/* What the libev programs share, on top of bench.h. */
#ifndef XEV_EV_BENCH_H
#define XEV_EV_BENCH_H

#include <ev.h>

#include "bench.h"

/* The name of a libev backend, for the stderr notes and the library field. */
static inline const char *backend_name(unsigned int b)
{
	switch (b) {
	case EVBACKEND_SELECT: return "select";
	case EVBACKEND_POLL: return "poll";
	case EVBACKEND_EPOLL: return "epoll";
	case EVBACKEND_KQUEUE: return "kqueue";
	case EVBACKEND_DEVPOLL: return "devpoll";
	case EVBACKEND_PORT: return "port";
	case EVBACKEND_LINUXAIO: return "linuxaio";
	case EVBACKEND_IOURING: return "io_uring";
	default: return "unknown";
	}
}

/*
 * The library field of the stdout line: "libev-<backend>" (libev-epoll,
 * libev-poll), from the loop the figure is about, so that bench/run can
 * tell a run under LIBEV_FLAGS=2 (EVBACKEND_POLL) from the default one.
 */
static inline const char *bench_ev_library(struct ev_loop *loop)
{
	static char lib[32];

	snprintf(lib, sizeof(lib), "libev-%s", backend_name(ev_backend(loop)));
	return lib;
}

/* The default loop, whose backend the notes name. */
static inline struct ev_loop *bench_ev_default_loop(void)
{
	struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);

	if (!loop)
		bench_fail("ev_default_loop failed");
	bench_note("libev %d.%d backend %s", ev_version_major(), ev_version_minor(),
		   backend_name(ev_backend(loop)));
	return loop;
}

#endif
