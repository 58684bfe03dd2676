/* SPDX-License-Identifier: MIT */
/*
 * A tiny TAP producer for the tests, plus the loop over backends every
 * test uses.  Output goes to stdout for automake's tap-driver.sh.
 */
#ifndef XEV_TAP_H
#define XEV_TAP_H

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "xev.h"
#include "backends.h" /* lib/: the backend list and capabilities */

#define TAP_STR_(x) #x
#define TAP_STR(x) TAP_STR_(x)

static int tap_run, tap_plan;

static inline void diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	fputs("\n", stdout);
	va_end(ap);
	fflush(stdout);
}

/* Announces n checks and arms a watchdog: a hung test dies of SIGALRM,
 * which the driver reports as an error. */
static inline void plan(int n)
{
	const char *s = getenv("XEV_TEST_TIMEOUT");
	tap_plan = n;
	printf("1..%d\n", n);
	fflush(stdout);
	alarm(s ? (unsigned)atoi(s) : 120);
}

static inline int ok_(int cond, const char *where, const char *fmt, ...)
{
	va_list ap;
	printf("%sok %d - ", cond ? "" : "not ", ++tap_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		diag("failed at %s", where);
	fflush(stdout);
	return cond;
}

/* ok(cond, "name %s", ...): the name is a printf format. */
#define ok(cond, ...) ok_(!!(cond), __FILE__ ":" TAP_STR(__LINE__), __VA_ARGS__)

#define is_int(got, want, ...)                                                        \
	do {                                                                          \
		long long got_ = (long long)(got), want_ = (long long)(want);         \
		if (!ok(got_ == want_, __VA_ARGS__))                                  \
			diag("got %lld, want %lld", got_, want_);                     \
	} while (0)

static inline void skip(int n, const char *why)
{
	while (n-- > 0)
		printf("ok %d # SKIP %s\n", ++tap_run, why);
	fflush(stdout);
}

static inline void skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	exit(0);
}

static inline void bail(const char *why)
{
	printf("Bail out! %s\n", why);
	exit(255);
}

/* The exit status: 0 when every planned check ran. */
static inline int done_testing(void)
{
	if (tap_run != tap_plan)
		diag("planned %d checks, ran %d", tap_plan, tap_run);
	return tap_run == tap_plan ? 0 : 1;
}

/* The backends a test runs on, in the library's own order (lib/backends.h),
 * skipping the ones not usable here, and what each can do: tests ask
 * tap_caps(b) & XEV__CAP_..., never which backend b is. */
#define TAP_BACKEND_ID(name, id, caps) id,
#define TAP_BACKEND_CAPS(name, id, caps) caps,
static const xev_backend tap_backends[] = { XEV__BACKENDS(TAP_BACKEND_ID) };
static const unsigned tap_backend_caps[] = { XEV__BACKENDS(TAP_BACKEND_CAPS) };
#define TAP_NBACKENDS ((int)(sizeof(tap_backends) / sizeof(tap_backends[0])))

static inline unsigned tap_caps(xev_backend b)
{
	for (int i = 0; i < TAP_NBACKENDS; i++)
		if (tap_backends[i] == b)
			return tap_backend_caps[i];
	return 0;
}

/* Is libkqueue (kqueue emulated on Linux, for tests) in this process? */
static inline int tap_libkqueue(void)
{
	void *self = dlopen(NULL, RTLD_LAZY); /* the program and what it loaded */
	int found = self && dlsym(self, "libkqueue_drain_pending_close") != NULL;

	if (self)
		dlclose(self);
	return found;
}

/* The backend XEV_BACKEND_AUTO should pick here, refused (if not AUTO)
 * taken as refused by the kernel: the first usable one in tap_backends
 * order, except that a kqueue emulated by libkqueue is never picked.
 * XEV_BACKEND_AUTO when there is none.  (Which backend AUTO picks is the
 * one question about ids, not capabilities.) */
static inline xev_backend tap_auto_pick(xev_backend refused)
{
	for (int i = 0; i < TAP_NBACKENDS; i++) {
		xev_backend b = tap_backends[i];
		if (b == refused)
			continue;
		if (b == XEV_BACKEND_KQUEUE && tap_libkqueue())
			continue;
		if (xev_backend_available(b))
			return b;
	}
	return XEV_BACKEND_AUTO;
}

/* XEV_TEST_BACKENDS="epoll" (names separated by commas or blanks) limits
 * the run to those backends: make check-valgrind uses it, valgrind not
 * knowing every io_uring wake-up path. */
static inline int tap_backend_selected(const char *bn)
{
	const char *sel = getenv("XEV_TEST_BACKENDS");
	size_t len = strlen(bn);

	if (!sel || !*sel)
		return 1;
	for (const char *p = sel; (p = strstr(p, bn)); p += len) {
		int starts = p == sel || strchr(", \t", p[-1]);
		int ends = p[len] == '\0' || strchr(", \t", p[len]);
		if (starts && ends)
			return 1;
	}
	return 0;
}

/* Runs run(b, name) on every backend, in order.  A backend not usable
 * here gets per_backend skips instead, so that the plan holds anywhere;
 * a run that did not make exactly per_backend checks is reported, since
 * the plan would then be off on every host. */
static inline void tap_each_backend(int per_backend, void (*run)(xev_backend b, const char *bn))
{
	for (int i = 0; i < TAP_NBACKENDS; i++) {
		xev_backend b = tap_backends[i];
		const char *bn = xev_backend_name(b);
		int before = tap_run;
		if (!xev_backend_available(b)) {
			char why[64];
			snprintf(why, sizeof why, "%s: backend not usable here", bn);
			skip(per_backend, why);
			continue;
		}
		if (!tap_backend_selected(bn)) {
			char why[64];
			snprintf(why, sizeof why, "%s: not in XEV_TEST_BACKENDS", bn);
			skip(per_backend, why);
			continue;
		}
		run(b, bn);
		if (tap_run - before != per_backend)
			diag("%s ran %d checks, PER_BACKEND is %d", bn, tap_run - before, per_backend);
	}
}

/* Initialises a loop on backend b, with pool (if not NULL) in its
 * options, bailing out if that fails. */
static inline void tap_loop_init_pool(xev_loop *loop, xev_backend b, xev_threadpool *pool)
{
	xev_loop_options o;
	int rc;
	xev_loop_options_init(&o);
	xev_loop_options_set_backend(&o, b);
	if (pool)
		xev_loop_options_set_threadpool(&o, pool);
	rc = xev_loop_init_with_options(loop, &o);
	if (rc < 0) {
		char why[128];
		snprintf(why, sizeof why, "xev_loop_init on %s: %d", xev_backend_name(b), rc);
		bail(why);
	}
}

static inline void tap_loop_init(xev_loop *loop, xev_backend b)
{
	tap_loop_init_pool(loop, b, NULL);
}

/* Counts this process's open file descriptors: /proc/self/fd where there
 * is one (the directory's own fd left out), else every number below the
 * descriptor limit, asked one by one. */
static inline int tap_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	struct rlimit rl;
	int n = 0, max;

	if (d) {
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				n++;
		closedir(d);
		return n - 1;
	}
	max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 1048576
		      ? (int)rl.rlim_cur
		      : 65536;
	for (int fd = 0; fd < max; fd++)
		n += fcntl(fd, F_GETFD) != -1;
	return n;
}

/* CLOCK_MONOTONIC in ms, for lower bounds on elapsed time. */
static inline int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Spins (without sleeping) for more than ms milliseconds. */
static inline void busy_wait_ms(int64_t ms)
{
	int64_t end = mono_ms() + ms + 1;
	while (mono_ms() < end)
		;
}

static inline void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0)
		;
}

#endif /* XEV_TAP_H */
