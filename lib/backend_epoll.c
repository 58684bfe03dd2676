/* SPDX-License-Identifier: MIT */
/*
 * The epoll backend.  Timers come from the loop's heap as the wait timeout
 * (nanoseconds through epoll_pwait2 where the kernel has it, milliseconds
 * rounded up otherwise); other threads wake it through an eventfd.
 */
#include "internal.h"

#include <limits.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256

static int epoll_probe(void)
{
	int fd = epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int epoll_init(struct xev__loop *l, const struct xev__options *o)
{
	struct xev__epoll_state *e = &l->b.epoll;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	int rc;

	(void)o;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0)
		return -errno;
	l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->wake_fd < 0)
		goto fail;
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, l->wake_fd, &ev) < 0)
		goto fail;
#ifdef HAVE_EPOLL_PWAIT2
	e->have_pwait2 = true;
#endif
	return 0;
fail:
	rc = -errno;
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	l->wake_fd = -1;
	close(e->epfd);
	return rc;
}

static void epoll_deinit(struct xev__loop *l)
{
	close(l->b.epoll.epfd);
	close(l->wake_fd);
	l->wake_fd = -1;
}

static int wait_events(struct xev__loop *l, struct epoll_event *evs, int64_t timeout_ns)
{
	struct xev__epoll_state *e = &l->b.epoll;
	int ms;

#ifdef HAVE_EPOLL_PWAIT2
	if (e->have_pwait2 && timeout_ns > 0) {
		struct timespec ts = {
			.tv_sec = timeout_ns / 1000000000,
			.tv_nsec = timeout_ns % 1000000000,
		};
		int n = epoll_pwait2(e->epfd, evs, MAX_EVENTS, &ts, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		e->have_pwait2 = false; /* glibc has it, the kernel does not */
	}
#endif
	if (timeout_ns < 0)
		ms = -1;
	else if (timeout_ns >= (int64_t)INT_MAX * 1000000)
		ms = INT_MAX;
	else /* round up: waking early would only spin */
		ms = (int)((timeout_ns + 999999) / 1000000);
	return epoll_wait(e->epfd, evs, MAX_EVENTS, ms);
}

static int epoll_wait_backend(struct xev__loop *l, int64_t timeout_ns)
{
	struct epoll_event evs[MAX_EVENTS];
	int n = wait_events(l, evs, timeout_ns);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		if (evs[i].data.ptr == NULL) {
			uint64_t v;
			/* One read resets the counter: it is not a semaphore. */
			while (read(l->wake_fd, &v, sizeof(v)) < 0 && errno == EINTR)
				;
		}
	}
	return 0;
}

static void epoll_wake(struct xev__loop *l)
{
	uint64_t one = 1;
	ssize_t n;
	do
		n = write(l->wake_fd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
}

const struct xev__backend xev__backend_epoll = {
	.name = "epoll",
	.id = XEV_BACKEND_EPOLL,
	.probe = epoll_probe,
	.init = epoll_init,
	.deinit = epoll_deinit,
	.wait = epoll_wait_backend,
	.wake = epoll_wake,
};
