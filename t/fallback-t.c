/* SPDX-License-Identifier: MIT */
/*
 * XEV_BACKEND_AUTO falls back to the next usable backend in AUTO order
 * (tap_auto_pick: today epoll) when the kernel refuses io_uring.  A child
 * process installs a seccomp filter that makes io_uring_setup fail (EPERM
 * as a container runtime would, ENOSYS as an old kernel would), then
 * reports what the loop chose.
 */
#include "config.h"

#ifndef XEV_HAVE_IO_URING
#include "tap.h"

int main(void)
{
	skip_all("no io_uring in this build: nothing to fall back from");
}
#else
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "tap.h"

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif

#if defined(__x86_64__)
#define AUDIT_ARCH_SELF AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_SELF AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define AUDIT_ARCH_SELF AUDIT_ARCH_I386
#endif

#define CHECKS 6

#ifdef AUDIT_ARCH_SELF
static int refuse_io_uring(int err)
{
	struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_SELF, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (unsigned)err),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(insns) / sizeof(insns[0]), .filter = insns };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -errno;
	return 0;
}

/*
 * In the child: refuse io_uring with err, then exit with a code that
 * encodes what happened: 10 + the AUTO backend, 50 for an explicit
 * io_uring init that did not fail with -err, 60 if io_uring still looked
 * available, 70 if the filter could not be installed.
 */
static int child(int err)
{
	xev_loop loop;
	xev_loop_options o;
	xev_backend got;
	int rc;

	if (refuse_io_uring(err) < 0)
		return 70;
	if (xev_backend_available(XEV_BACKEND_IO_URING))
		return 60;
	xev_loop_options_init(&o);
	xev_loop_options_set_backend(&o, XEV_BACKEND_IO_URING);
	rc = xev_loop_init_with_options(&loop, &o);
	if (rc != -err) {
		if (rc == 0)
			xev_loop_deinit(&loop);
		return 50;
	}
	if (xev_loop_init(&loop) < 0)
		return 9;
	got = xev_loop_backend(&loop);
	xev_loop_deinit(&loop);
	return 10 + (int)got;
}

static int run_child(int err)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bail("fork failed");
	if (pid == 0)
		_exit(child(err));
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}
#endif

int main(void)
{
	plan(CHECKS);
	unsetenv("XEV_BACKEND");
#ifndef AUDIT_ARCH_SELF
	skip(CHECKS, "no seccomp architecture constant for this CPU");
#else
	/* Where the kernel refuses io_uring already (or it is not built),
	 * an explicit init cannot fail with the errno the filter gives. */
	if (!xev_backend_available(XEV_BACKEND_IO_URING)) {
		skip(CHECKS, "io_uring not usable here: nothing to refuse");
		return done_testing();
	}
	if (tap_auto_pick(XEV_BACKEND_IO_URING) == XEV_BACKEND_AUTO) {
		skip(CHECKS, "no other backend AUTO may pick is usable here");
		return done_testing();
	}
	{
		static const int errs[] = { EPERM, ENOSYS, EACCES };
		/* The child's other backends are the parent's: the filter
		 * refuses io_uring_setup and nothing else. */
		xev_backend want = tap_auto_pick(XEV_BACKEND_IO_URING);
		for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
			int code = run_child(errs[i]);
			const char *name = errs[i] == EPERM ? "EPERM" : errs[i] == ENOSYS ? "ENOSYS" : "EACCES";
			if (code == 70) {
				skip(2, "seccomp filters not allowed here");
				continue;
			}
			ok(code != 50 && code != 60, "io_uring refused with %s: explicit io_uring init gives -%s",
			   name, name);
			is_int(code, 10 + (int)want, "io_uring refused with %s: AUTO falls back to %s, the next usable",
			       name, xev_backend_name(want));
		}
	}
#endif
	return done_testing();
}
#endif /* XEV_HAVE_IO_URING */
