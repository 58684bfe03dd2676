/* SPDX-License-Identifier: MIT */
/*
 * What every benchmark program shares, whichever library it drives.
 *
 * A program prints exactly one line on stdout,
 *     <bench> <library> <figure> <unit>
 * and its details on stderr as "# " lines, so that bench/run can collect
 * figures from many runs with nothing but a shell.  Counts can be scaled
 * down with -n (the smoke test runs every program that way); the default
 * is the workload's own count.
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
 * Zeroed memory whose pages are all mapped already, so that first-touch
 * page faults are not charged to whatever writes there first.  The
 * volatile stores matter: a compiler may turn malloc + memset(0) into
 * calloc, which maps fresh zero pages without touching them.
 */
static inline void *bench_alloc_touched(size_t size)
{
	volatile char *p = malloc(size);
	long page = sysconf(_SC_PAGESIZE);

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

/* The one stdout line.  Rates print as integers, durations in seconds. */
static inline void bench_report(const char *bench, const char *library, double figure, const char *unit)
{
	if (strcmp(unit, "s") == 0)
		printf("%s %s %.3f %s\n", bench, library, figure, unit);
	else
		printf("%s %s %.0f %s\n", bench, library, figure, unit);
	fflush(stdout);
}

/*
 * What a measured window cost the whole process (every thread): take a
 * snapshot before it with bench_usage_start(), then report with
 * bench_report_ops(), which prints the figure line with three more
 * fields, "ops=N user_ns=U sys_ns=S": the operations the window did
 * (what the figure counts: round trips, datagrams, callbacks...) and the
 * user and system CPU nanoseconds per operation.  bench/run reads them.
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
