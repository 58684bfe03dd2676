/* SPDX-License-Identifier: MIT */
/*
 * What every benchmark program shares, whichever library it drives.
 *
 * A program prints exactly one line on stdout,
 *     <bench> <library> <figure> <unit> ops=<N> user_ns=<U> sys_ns=<S>
 * (bench_report_ops below) and its details on stderr as "# " lines, so
 * that bench/run can collect figures from many runs with nothing but a
 * shell.  Counts can be scaled down with -n (the smoke test runs every
 * program that way); the default is the workload's own count.
 */
#ifndef XEV_BENCH_H
#define XEV_BENCH_H

/* accept4, SOCK_CLOEXEC and friends, whatever the compiler's -std. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <pthread.h>
#include <sched.h>
#endif

/* macOS has no SOCK_CLOEXEC; the benchmarks exec nothing, so none is
 * needed there. */
#ifndef SOCK_CLOEXEC
#define SOCK_CLOEXEC 0
#endif

/* Wall-clock seconds on the monotonic clock. */
static inline double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds (user + system, every thread) this process has used. */
static inline double bench_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* A "# " line on stderr, after prefix. */
static inline void bench_vnote(const char *prefix, const char *fmt, va_list ap)
{
	fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static inline void bench_note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bench_vnote("# ", fmt, ap);
	va_end(ap);
}

/* Prints why and exits 1: a benchmark that went wrong has no figure. */
static inline void bench_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	bench_vnote("# FAILED: ", fmt, ap);
	va_end(ap);
	exit(1);
}

/*
 * The delay of the i-th timer of the timer workload, in ms: 2 + i / 1000,
 * the original's (deadlines ascend in start order, 1000 to a millisecond);
 * with BENCH_TIMER_ORDER=random, 2 to 1001 ms in a fixed pseudo-random
 * order, the same for every library, so that a timer queue cannot take
 * them in order.
 */
static inline uint64_t bench_timer_ms(long i)
{
	static int random_order = -1;
	static uint64_t x = 0x2545f4914f6cdd1dull;

	if (random_order < 0) {
		const char *o = getenv("BENCH_TIMER_ORDER");
		random_order = o && strcmp(o, "random") == 0;
		if (o && !random_order && strcmp(o, "ascending") != 0)
			bench_fail("BENCH_TIMER_ORDER=%s: ascending or random", o);
		if (random_order)
			bench_note("timer order: random");
	}
	if (!random_order)
		return (uint64_t)(2 + i / 1000);
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return 2 + x % 1000;
}

/*
 * Zeroed memory whose pages are all mapped already, so that first-touch
 * page faults are not charged to whatever writes there first.  The
 * volatile stores matter: a compiler may turn malloc + memset(0) into
 * calloc, which maps fresh zero pages without touching them.
 *
 * BENCH_UNTOUCHED=1 leaves the pages unmapped instead (calloc), as a
 * program that allocates its timers as it goes would have them: their
 * faults are then charged to the timed part, to whichever library
 * writes the memory first, in proportion to how much of it it writes.
 */
static inline void *bench_alloc_touched(size_t size)
{
	const char *untouched = getenv("BENCH_UNTOUCHED");
	volatile char *p;
	long page = sysconf(_SC_PAGESIZE);

	if (untouched && *untouched && strcmp(untouched, "0") != 0) {
		void *fresh = calloc(1, size);
		if (!fresh)
			bench_fail("out of memory (%zu bytes)", size);
		bench_note("memory: %zu bytes, not touched before the clock starts", size);
		return fresh;
	}
	p = malloc(size);
	if (!p)
		bench_fail("out of memory (%zu bytes)", size);
	for (size_t off = 0; off < size; off += (size_t)page)
		p[off] = 1;
	memset((void *)p, 0, size);
	return (void *)p;
}

/* A UDP socket bound to 127.0.0.1 on a port the kernel picks, so that
 * runs never collide; *addr gets its address.  flags: SOCK_NONBLOCK etc. */
static inline int bench_udp_socket(struct sockaddr_in *addr, int flags)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | flags, 0);

	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)addr, sizeof(*addr)) < 0 ||
	    getsockname(fd, (struct sockaddr *)addr, &len) < 0)
		bench_fail("UDP socket on 127.0.0.1: %s", strerror(errno));
	return fd;
}

/*
 * What a measured window cost the whole process (every thread): take a
 * snapshot before it with bench_usage_start(), then report with
 * bench_report_ops(), which prints the figure line with three more
 * fields, "ops=N user_ns=U sys_ns=S": the operations the window did
 * (what the figure counts: round trips, datagrams, callbacks...) and the
 * user and system CPU nanoseconds per operation.  bench/run reads them.
 * Rates print as integers, durations in seconds.
 */
struct bench_usage {
	double user, sys; /* seconds */
};

static inline void bench_usage_start(struct bench_usage *u)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	u->user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	u->sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static inline void bench_report_ops(const char *bench, const char *library, double figure, const char *unit,
				    double ops, const struct bench_usage *start)
{
	struct bench_usage now;

	bench_usage_start(&now);
	if (ops < 1)
		ops = 1;
	if (strcmp(unit, "s") == 0)
		printf("%s %s %.3f %s", bench, library, figure, unit);
	else
		printf("%s %s %.0f %s", bench, library, figure, unit);
	printf(" ops=%.0f user_ns=%.1f sys_ns=%.1f\n", ops, (now.user - start->user) * 1e9 / ops,
	       (now.sys - start->sys) * 1e9 / ops);
	fflush(stdout);
}

/*
 * Where the threads of a threaded workload run, from BENCH_PIN:
 *   unset or empty  wherever the scheduler puts them
 *   same            every thread on one CPU
 *   split           the loop (or main) thread on one CPU, every other
 *                   thread on another, spread over the rest in turn
 * Wake-up-bound workloads measure the operating system's cross-CPU
 * wake-up as much as the library, so bench/run runs them both ways to
 * tell the two apart.  "CPU 0" and "CPU 1" are the first and second CPUs
 * the process may use, so that taskset or a cpuset around the whole run
 * still holds.
 *
 * bench_pin(role) places the calling thread: role 0 is the loop or main
 * thread, 1, 2... the others.  Call bench_pin(0) in main before starting
 * any thread: a thread inherits its creator's CPUs, so the set read later
 * would be the pinned one.  Role 0 says on stderr where it went ("# pin:"),
 * which bench/run takes as proof that the program honours BENCH_PIN.
 */
static inline const char *bench_pin_mode(void)
{
	const char *how = getenv("BENCH_PIN");

	if (!how || !*how)
		return NULL;
	if (strcmp(how, "same") != 0 && strcmp(how, "split") != 0)
		bench_fail("BENCH_PIN=%s: same, split or unset", how);
	return how;
}

static inline void bench_pin(int role)
{
	const char *how = bench_pin_mode();

	if (!how)
		return;
#ifdef __linux__
	/* The CPUs the process could use before anything was pinned; filled
	 * by role 0 before any other thread exists, read-only after. */
	static int cpus[CPU_SETSIZE], ncpus;
	cpu_set_t set;
	int cpu, err;

	if (role == 0 && ncpus == 0) {
		if (sched_getaffinity(0, sizeof set, &set) < 0)
			bench_fail("sched_getaffinity: %s", strerror(errno));
		for (int i = 0; i < CPU_SETSIZE; i++)
			if (CPU_ISSET(i, &set))
				cpus[ncpus++] = i;
	}
	if (ncpus == 0)
		bench_fail("bench_pin(%d) before bench_pin(0)", role);
	if (strcmp(how, "split") == 0 && ncpus < 2)
		bench_fail("BENCH_PIN=split needs two CPUs; this process may use CPU %d only", cpus[0]);
	if (strcmp(how, "same") == 0 || role == 0)
		cpu = cpus[0];
	else
		cpu = cpus[1 + (role - 1) % (ncpus - 1)];
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
	if (err)
		bench_fail("pthread_setaffinity_np(CPU %d): %s", cpu, strerror(err));
	if (role == 0) {
		if (strcmp(how, "same") == 0)
			bench_note("pin: same, every thread on CPU %d", cpu);
		else
			bench_note("pin: split, loop thread on CPU %d, the others on CPU %d%s", cpu, cpus[1],
				   ncpus > 2 ? " and up" : "");
	}
#else
	(void)role;
	bench_fail("BENCH_PIN=%s: thread placement is implemented on Linux only", how);
#endif
}

/*
 * The same for a program whose other threads belong to a thread pool it
 * does not create (ours, libuv's): they cannot be placed one by one, so
 * "same" pins the whole process, by pinning the main thread before the
 * pool starts any worker (workers inherit it).  "split" cannot be done
 * and fails rather than print a figure for a placement that did not
 * happen.  Call it first thing in main.
 */
static inline void bench_pin_process(void)
{
	const char *how = bench_pin_mode();

	if (how && strcmp(how, "same") != 0)
		bench_fail("BENCH_PIN=%s: the pool's workers are not ours to place; same only", how);
	bench_pin(0);
}

/* Starts n threads running fn, each given its role for bench_pin (1 to
 * n) as its argument: the notifiers of the async-pummel programs. */
static inline void bench_start_roles(pthread_t *th, long n, void *(*fn)(void *))
{
	for (long i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, fn, (void *)(intptr_t)(i + 1)) != 0)
			bench_fail("pthread_create failed");
}

/*
 * Options common to every program: -n COUNT overrides the workload's count;
 * one optional operand (a thread count for the async workloads).  Returns
 * the operand, or dflt_arg when there is none.
 */
static inline long bench_args(int argc, char **argv, long *count, long dflt_arg)
{
	int opt;
	char *end;

	while ((opt = getopt(argc, argv, "n:")) != -1) {
		if (opt != 'n')
			bench_fail("usage: %s [-n COUNT] [ARG]", argv[0]);
		*count = strtol(optarg, &end, 10);
		if (*end || *count <= 0)
			bench_fail("bad count: %s", optarg);
	}
	if (optind < argc) {
		long v = strtol(argv[optind], &end, 10);
		if (*end || v <= 0)
			bench_fail("bad operand: %s", argv[optind]);
		return v;
	}
	return dflt_arg;
}

#endif
