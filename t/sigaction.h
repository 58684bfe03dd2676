/* SPDX-License-Identifier: MIT */
/*
 * Comparing signal dispositions: a watcher's deinit must give back the
 * sigaction the program had, and the tests check that field by field.
 */
#ifndef XEV_T_SIGACTION_H
#define XEV_T_SIGACTION_H

#include <signal.h>
#include <string.h>

static inline void query(int sig, struct sigaction *sa)
{
	memset(sa, 0, sizeof *sa);
	sigaction(sig, NULL, sa);
}

/* The handler field, whichever of the two SA_SIGINFO selects. */
static inline void *handler_of(const struct sigaction *sa)
{
	return sa->sa_flags & SA_SIGINFO ? (void *)sa->sa_sigaction : (void *)sa->sa_handler;
}

static inline int same_mask(const sigset_t *a, const sigset_t *b)
{
	for (int s = 1; s < NSIG; s++)
		if (sigismember(a, s) != sigismember(b, s))
			return 0;
	return 1;
}

/* SA_RESTORER is the C library's business: glibc adds it to every action
 * it installs, so a disposition the kernel still had from exec (flags 0)
 * reads with SA_RESTORER once anybody restored it through sigaction(3).
 * It changes nothing the program can see; every other flag must match. */
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

static inline int same_action(const struct sigaction *a, const struct sigaction *b)
{
	return handler_of(a) == handler_of(b) && (a->sa_flags & ~SA_RESTORER) == (b->sa_flags & ~SA_RESTORER) &&
	       same_mask(&a->sa_mask, &b->sa_mask);
}

#endif
