/* SPDX-License-Identifier: MIT */
/*
 * The wake-up primitive (backend.h): a descriptor another thread, or a
 * signal handler, makes readable to end the loop's wait.  An eventfd is
 * one descriptor and never fills; a pipe is the portable stand-in, its
 * write end non-blocking so that a notifier never waits: when the pipe is
 * full a wake-up is already pending, and that is all a write would say.
 */
#include "backend.h"

#include <unistd.h>
#ifdef XEV_USE_EVENTFD
#include <sys/eventfd.h>
#endif

int xev__wakeup_open(struct xev__wakeup *w, bool nonblocking_read)
{
#ifdef XEV_USE_EVENTFD
	int fd = XEV__SYS(WAKEUP_OPEN, eventfd(0, EFD_CLOEXEC | (nonblocking_read ? EFD_NONBLOCK : 0)));
	if (fd < 0)
		return -errno;
	w->rfd = w->wfd = fd;
	return 0;
#else
	int p[2], rc;

	/* pipe2() is not everywhere yet (macOS); a loop is set up rarely,
	 * and a fork in that window leaks only to an exec'd child. */
	if (XEV__SYS(WAKEUP_OPEN, pipe(p)) < 0)
		return -errno;
	rc = xev__fd_set_flags(p[0], nonblocking_read);
	if (rc == 0)
		rc = xev__fd_set_flags(p[1], true);
	if (rc < 0) {
		close(p[0]);
		close(p[1]);
		return rc;
	}
	w->rfd = p[0];
	w->wfd = p[1];
	return 0;
#endif
}

void xev__wakeup_close(struct xev__wakeup *w)
{
	if (w->wfd >= 0 && w->wfd != w->rfd)
		close(w->wfd);
	if (w->rfd >= 0)
		close(w->rfd);
	w->rfd = w->wfd = -1;
}

void xev__wakeup_signal(const struct xev__wakeup *w)
{
#ifdef XEV_USE_EVENTFD
	uint64_t one = 1;
#else
	char one = 1;
#endif
	ssize_t n;

	/* EAGAIN: a full pipe, a wake-up is pending already. */
	do
		n = XEV__SYS(WAKEUP_WRITE, write(w->wfd, &one, sizeof(one)));
	while (n < 0 && errno == EINTR);
}

void xev__wakeup_drain(const struct xev__wakeup *w)
{
#ifdef XEV_USE_EVENTFD
	uint64_t v;
	/* One read resets the counter: it is not a semaphore. */
	while (XEV__SYS(WAKEUP_READ, read(w->rfd, &v, sizeof(v))) < 0 && errno == EINTR)
		;
#else
	char buf[64];
	ssize_t n;
	do
		n = XEV__SYS(WAKEUP_READ, read(w->rfd, buf, sizeof(buf)));
	while (n == (ssize_t)sizeof(buf) || (n < 0 && errno == EINTR));
#endif
}
