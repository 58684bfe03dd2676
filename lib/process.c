/* SPDX-License-Identifier: MIT */
/*
 * Process watchers, built from primitive operations: no backend knows what
 * a process is, nor reaps one.  Where the backend can wait in the kernel
 * for a pid to end (kqueue's EVFILT_PROC), a wait is that.  Otherwise, with
 * a pidfd, it is an ordinary poll of it for POLLIN, which the kernel
 * reports when the child ends.  Either way waitpid() then reaps that
 * child alone.  Without one (old kernel, seccomp, --disable-pidfd or
 * XEV_NO_PIDFD) the watcher joins the SIGCHLD registry of signal.c and a
 * wait is an async wait the handler fires; after each SIGCHLD the loop
 * asks waitpid() about the pids it watches, never about "any child": the
 * application's other children stay its own.  The reaping is the wait's
 * settle step, run by the loop before the callback.
 *
 * Either way the watcher keeps the outcome once it has it, so any number of
 * waits, before or after the child ended, all see the same status.
 */
#include "backend.h"

#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(XEV_USE_PIDFD) && !HAVE_DECL_SYS_PIDFD_OPEN
#include <sys/pidfd.h>
#endif

static struct xev__process *process_of(xev_watcher *w)
{
	return (struct xev__process *)(void *)w;
}

/* With SIGCHLD ignored the kernel reaps children itself: no status will
 * ever exist to report. */
static bool children_auto_reaped(void)
{
	struct sigaction sa;

	if (sigaction(SIGCHLD, NULL, &sa) < 0)
		return false;
	if (sa.sa_flags & SA_NOCLDWAIT)
		return true;
	return !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_IGN;
}

/* The caller's child that has not been reaped: 0, else -ECHILD. */
static int check_child(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	/* WNOWAIT: only look, the status stays for the wait. */
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return -errno;
	return 0;
}

/* Tests force the SIGCHLD path with XEV_NO_PIDFD=1. */
static bool pidfd_refused_by_env(void)
{
	return xev__env_flag("XEV_NO_PIDFD");
}

#ifdef XEV_USE_PIDFD
static int sys_pidfd_open(pid_t pid)
{
#if HAVE_DECL_SYS_PIDFD_OPEN
	return (int)XEV__SYS(PIDFD_OPEN, syscall(SYS_pidfd_open, pid, 0));
#else
	return XEV__SYS(PIDFD_OPEN, pidfd_open(pid, 0));
#endif
}
#endif

/* A pidfd for pid (always close-on-exec), -1 when the SIGCHLD path must
 * do, or -errno. */
static int open_pidfd(pid_t pid)
{
	if (pidfd_refused_by_env())
		return -1;
#ifdef XEV_USE_PIDFD
	int fd = sys_pidfd_open(pid);
	if (fd >= 0)
		return fd;
	/* No such system call, or a sandbox that forbids it. */
	if (errno == ENOSYS || errno == EPERM || errno == EACCES)
		return -1;
	return -errno;
#else
	(void)pid;
	return -1;
#endif
}

int xev_process_init(xev_watcher *w, pid_t pid)
{
	struct xev__process *p = process_of(w);
	int rc, fd;

	if (!w || pid <= 0)
		return -EINVAL;
	if (xev__signal_registered(&p->sub))
		return -EBUSY;
	memset(w, 0, sizeof(*w));
	if (children_auto_reaped())
		return -ECHILD;
	rc = check_child(pid);
	if (rc < 0)
		return rc;
	fd = open_pidfd(pid);
	if (fd < -1)
		return fd;
	atomic_init(&p->sub.a.pending, 0);
	atomic_init(&p->sub.a.loop, NULL);
	p->pid = pid;
	p->pidfd = fd;
	if (fd < 0) {
		rc = xev__signal_subscribe(&p->sub, SIGCHLD);
		if (rc < 0)
			return rc;
	}
	p->sub.a.magic = XEV__PROCESS_MAGIC;
	return 0;
}

void xev_process_deinit(xev_watcher *w)
{
	struct xev__process *p = process_of(w);

	if (!w || p->sub.a.magic != XEV__PROCESS_MAGIC)
		return;
	p->sub.a.magic = 0;
	if (p->pidfd >= 0)
		close(p->pidfd);
	else
		xev__signal_unsubscribe(&p->sub);
	p->pidfd = -1;
}

void xev_process_wait(xev_watcher *w, xev_loop *loop, xev_completion *c, void *userdata,
		      xev_cb cb)
{
	struct xev__loop *l = xev__loop(loop);
	struct xev__completion *k = xev__comp(c);

	if (!loop || !c || l->magic != XEV__LOOP_MAGIC)
		return;
	xev__prepare(l, k, XEV__OP_PROCESS, userdata, cb);
	memset(&k->u.io, 0, sizeof(k->u.io));
	k->u.io.buf = w; /* checked when submitted: it may be deinitialised before */
	k->u.io.fd = -1;
	xev__add(l, k);
}

/* Reaps the child if it ended: its status, -EAGAIN if it still runs, or
 * -ECHILD if someone else reaped it first.  The outcome is kept. */
static int collect(struct xev__process *p)
{
	pid_t r;
	int status = 0;

	if (p->settled)
		return p->status;
	do
		r = XEV__SYS(WAITPID, waitpid(p->pid, &status, WNOHANG));
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return -EAGAIN;
	p->settled = true;
	p->status = r < 0 ? -errno : status;
	return p->status;
}

/* A process wait is one of two primitive operations, and its watcher sits
 * where both look for it: c->u.io.buf for the poll, c->u.async.w for the
 * async wait, the watcher's first member being the async header. */
_Static_assert(offsetof(struct xev__io_op, buf) == 0 && offsetof(struct xev__async_op, w) == 0,
	       "a process wait's watcher must be both the poll's buf and the async wait's watcher");
_Static_assert(offsetof(struct xev__process, sub.a) == 0, "the async header must come first");

/* Waits for the child's end: in the kernel where the backend can (kqueue's
 * EVFILT_PROC), else a poll of its pidfd, else an async wait that SIGCHLD
 * fires.  u.io.kind tells them apart (0 for the async wait). */
static void wait_for_end(struct xev__loop *l, struct xev__completion *c, struct xev__process *p)
{
	if (l->be->exit_wait) {
		c->u.io.kind = XEV__OP_PROCESS;
		c->u.io.fd = -1;
		l->be->exit_wait(l, c, p->pid);
	} else if (p->pidfd >= 0) {
		c->u.io.fd = p->pidfd;
		c->u.io.flags = POLLIN;
		c->u.io.kind = XEV__OP_POLL;
		xev__fd_submit(l, c);
	} else {
		c->u.io.fd = -1;
		c->u.io.kind = 0;
		xev__async_submit(l, c);
	}
}

void xev__process_submit(struct xev__loop *l, struct xev__completion *c)
{
	struct xev__process *p = c->u.io.buf;

	if (!p || p->sub.a.magic != XEV__PROCESS_MAGIC) {
		xev__complete(l, c, -EINVAL);
		return;
	}
	if (p->settled) {
		xev__complete(l, c, p->status);
		return;
	}
	c->flags |= XEV__F_SETTLE;
	if (!l->be->exit_wait && p->pidfd < 0) {
		l->signal_handler_seen = true;
		/* The child may have ended before anyone listened for
		 * SIGCHLD: look once without waiting for one. */
		atomic_store(&p->sub.a.pending, 1);
	}
	wait_for_end(l, c, p);
}

int xev__process_cancel(struct xev__loop *l, struct xev__completion *t, struct xev__completion *canceller)
{
	if (t->u.io.kind)
		return xev__fd_cancel(l, t, canceller); /* the backend holds it */
	return xev__async_cancel(l, t, canceller);
}

/* The wait says the child ended: reap it.  Not yet reapable (a SIGCHLD
 * for another child, say): wait again. */
bool xev__process_settle(struct xev__loop *l, struct xev__completion *c)
{
	struct xev__process *p = c->u.io.buf;
	int r;

	if (c->result < 0)
		return true; /* cancelled, or the wait itself failed */
	r = collect(p);
	if (r == -EAGAIN) {
		wait_for_end(l, c, p);
		return false;
	}
	c->result = r;
	/* Other waits on this watcher have no SIGCHLD of their own coming:
	 * fire it for them, and they find it settled. */
	if (c->u.io.kind == 0 && p->sub.a.waiters > 0) {
		atomic_store(&p->sub.a.pending, 1);
		atomic_store(&l->async_pending, 1);
	}
	return true;
}
