/* SPDX-License-Identifier: MIT */
/*
 * Runs a command with a time limit, like timeout(1):
 *     timeout [-k KILL_AFTER_MS] [-s SIGNAL] MS COMMAND [ARG...]
 * After MS ms COMMAND gets SIGNAL (default TERM), and SIGKILL KILL_AFTER_MS
 * later (default 1000) if still there; 0 disables either.  SIGINT and
 * SIGTERM sent to timeout are passed on.  Exit status: COMMAND's, 128 + n
 * if signal n killed it (as shells say), 124 if the time ran out, 125 for
 * timeout's own errors, 126/127 if COMMAND could not be run.
 *
 * Shows: a process watcher (the child's end arrives as a callback, already
 * reaped), signal watchers (signals handled as ordinary callbacks on the
 * loop), one timer completion queued twice, and ending XEV_RUN_UNTIL_DONE
 * by cancelling whatever still waits.
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xev.h>

extern char **environ;

static const int forwarded[2] = { SIGINT, SIGTERM };

struct job {
	pid_t pid;
	int sig;          /* sent when the time is up */
	uint64_t kill_ms; /* then SIGKILL this much later; 0: never */
	int timed_out;
	int ended;        /* the child is gone: its pid may already be someone else's */
	int status;       /* its wait status, or a negative errno */
	xev_watcher child, timer, sigs[2];
	xev_completion child_c, timer_c, sig_c[2], cancel_c[3];
};

static xev_cb_action on_timer(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct job *j = userdata;

	/* Cancelled, or expired in the very tick the child ended (the
	 * cancellation comes too late then): either way, nobody to signal. */
	if (result < 0 || j->ended)
		return XEV_DISARM;
	if (j->timed_out) { /* the grace period is over too */
		kill(j->pid, SIGKILL);
		return XEV_DISARM;
	}
	j->timed_out = 1;
	kill(j->pid, j->sig);
	if (j->kill_ms > 0 && j->sig != SIGKILL) /* the same completion, a new delay */
		xev_timer_run(&j->timer, loop, c, j->kill_ms, j, on_timer);
	return XEV_DISARM;
}

/*
 * From a terminal, Ctrl-C reaches the child anyway (same process group);
 * passing it on matters when only timeout is signalled: kill(1), a
 * supervisor, a shell script's background job.
 */
static xev_cb_action on_signal(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct job *j = userdata;

	(void)loop, (void)c;
	if (result < 0 || j->ended)
		return XEV_DISARM;
	kill(j->pid, result); /* result is the signal number */
	return XEV_REARM;     /* and wait for the next one */
}

static xev_cb_action on_child(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct job *j = userdata;

	(void)c;
	j->ended = 1;
	j->status = result;
	if (result < 0)
		fprintf(stderr, "timeout: waiting for the child: %s\n", strerror(-result));
	/* The loop runs until nothing is active: take back what still waits.
	 * Cancelling what is no longer active is harmless (-ENOENT). */
	xev_timer_cancel(&j->timer, loop, &j->timer_c, &j->cancel_c[0], NULL, NULL);
	for (int i = 0; i < 2; i++)
		xev_cancel(loop, &j->cancel_c[i + 1], &j->sig_c[i], NULL, NULL);
	return XEV_DISARM; /* never XEV_REARM: it would complete again, forever */
}

/* A number of milliseconds, or -1 if s is not one. */
static long long parse_ms(const char *s)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	return end == s || *end || v < 0 || errno ? -1 : v;
}

/* "TERM", "SIGTERM" or "15"; -1 if unknown. */
static int parse_signal(const char *s)
{
	static const struct { const char *name; int sig; } names[] = {
		{ "HUP", SIGHUP },   { "INT", SIGINT },   { "QUIT", SIGQUIT }, { "KILL", SIGKILL },
		{ "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "ALRM", SIGALRM }, { "TERM", SIGTERM },
	};
	long long n = parse_ms(s);

	if (n >= 0)
		return n > 0 && n < NSIG ? (int)n : -1;
	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(s, names[i].name) == 0)
			return names[i].sig;
	return -1;
}

static int usage(void)
{
	fprintf(stderr, "usage: timeout [-k KILL_AFTER_MS] [-s SIGNAL] MS COMMAND [ARG...]\n");
	return 125;
}

/* The status a shell would report for the child, or timeout(1)'s codes. */
static int exit_code(const struct job *j)
{
	if (j->status < 0)
		return 125;
	if (j->timed_out)
		return 124;
	if (WIFSIGNALED(j->status))
		return 128 + WTERMSIG(j->status);
	return WEXITSTATUS(j->status);
}

int main(int argc, char **argv)
{
	static struct job j; /* zeroed: a never-queued completion reads DEAD */
	long long ms, kill_ms = 1000;
	xev_loop loop;
	int opt, rc, code = 125;

	j.sig = SIGTERM;
	while ((opt = getopt(argc, argv, "+k:s:")) != -1) { /* +: COMMAND's options are its own */
		if (opt == 'k' && (kill_ms = parse_ms(optarg)) >= 0)
			continue;
		if (opt == 's' && (j.sig = parse_signal(optarg)) > 0)
			continue;
		return usage();
	}
	if (argc - optind < 2 || (ms = parse_ms(argv[optind])) < 0)
		return usage();
	j.kill_ms = (uint64_t)kill_ms;

	if ((rc = xev_loop_init(&loop)) < 0) {
		fprintf(stderr, "timeout: xev_loop_init: %s\n", strerror(-rc));
		return 125;
	}
	xev_timer_init(&j.timer);
	/* Before spawning: a signal arriving in between is then recorded for
	 * the wait below instead of killing us and leaving the child behind.
	 * The child still starts with these signals at their defaults: exec
	 * resets caught signals. */
	for (int i = 0; i < 2; i++) {
		if ((rc = xev_signal_init(&j.sigs[i], forwarded[i])) < 0) {
			fprintf(stderr, "timeout: xev_signal_init: %s\n", strerror(-rc));
			goto out;
		}
	}
	if ((rc = posix_spawnp(&j.pid, argv[optind + 1], NULL, NULL, argv + optind + 1, environ))) {
		fprintf(stderr, "timeout: %s: %s\n", argv[optind + 1], strerror(rc));
		code = rc == ENOENT ? 127 : 126; /* what shells say */
		goto out;
	}
	if ((rc = xev_process_init(&j.child, j.pid)) < 0) {
		fprintf(stderr, "timeout: xev_process_init: %s\n", strerror(-rc));
		kill(j.pid, SIGKILL); /* rather than leave it running unwatched */
		waitpid(j.pid, NULL, 0);
		goto out;
	}

	xev_process_wait(&j.child, &loop, &j.child_c, &j, on_child);
	for (int i = 0; i < 2; i++)
		xev_signal_wait(&j.sigs[i], &loop, &j.sig_c[i], &j, on_signal);
	if (ms > 0)
		xev_timer_run(&j.timer, &loop, &j.timer_c, (uint64_t)ms, &j, on_timer);
	if ((rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE)) < 0)
		fprintf(stderr, "timeout: xev_loop_run: %s\n", strerror(-rc));
	else
		code = exit_code(&j);

out:
	/* The loop first: if xev_loop_run failed, waits may still be queued on
	 * the watchers, and deinitialising the loop abandons them.  Watchers
	 * never initialised (an early error) are ignored. */
	xev_loop_deinit(&loop);
	xev_process_deinit(&j.child);
	for (int i = 0; i < 2; i++)
		xev_signal_deinit(&j.sigs[i]);
	xev_timer_deinit(&j.timer);
	return code;
}
