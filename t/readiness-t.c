/* SPDX-License-Identifier: MIT */
/*
 * What the kernel is allowed to do to an event loop, on every backend
 * (lib/readiness.c is where a readiness backend answers it):
 *
 * - report readiness for an fd that has nothing by the time the operation
 *   runs (two reads woken by one write, two recvs by one datagram, two
 *   sends by room that the first fills again): the others go back to
 *   waiting, never to a lost or doubled completion, nor to a busy loop;
 * - interrupt the wait with a signal, every 100 us: each costs one more
 *   wait, nothing else (timers keep their time, pending reads stay);
 * - see an fd closed behind the loop's back (close(2), not xev_close):
 *   what waits on it ends with -EBADF where the backend can see it, and is
 *   cancellable everywhere; an idle registration of it never spins;
 * - and, in a churn of many pipes (reads queued, cancelled, fds closed
 *   with xev_close and their numbers reused), every read gets exactly the
 *   bytes the model expects, once.
 *
 * And what a busy loop may save: a socket the loop's own sends keep
 * filling is received from at once, with no wait between (counted in a
 * fault-injection build, where the library counts its system calls), yet
 * a receive never overtakes one already waiting, one that finds nothing
 * still completes later, and an operation waiting on another fd is seen
 * while the loop is kept busy.
 *
 * And a try that fails without cause (injected) on an fd whose error
 * stays reported (stuck: the kernel reports it once per watch) is tried
 * again, not left waiting for readiness that came already.
 *
 * And a send with room is made at once, by send(2), on io_uring too
 * where its sends would cut the loop's waits short; a TCP socket watched
 * edge-triggered (epoll) loses nothing that no new data will announce.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "tap.h"
#include "net.h"
#include "backend.h" /* a readiness loop's slots: is it edge-triggered? */

#ifdef XEV_FAULT_INJECTION
#include "fault.h"
#endif

#define GLOBAL_CHECKS 0
#define PER_BACKEND 32

static double thread_cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Runs the (ticking) loop for ms; the CPU time it took. */
static double idle_cpu_ms(struct tl *t, int ms)
{
	double cpu = thread_cpu_ms();
	int64_t end = mono_ms() + ms;

	while (mono_ms() < end)
		xev_loop_run(&t->loop, XEV_RUN_ONCE);
	return thread_cpu_ms() - cpu;
}

/* ---- one report, two waiters -------------------------------------- */

static void check_two_reads(xev_backend b, const char *bn)
{
	struct tl t;
	struct tl_op o[2];
	char buf[2][16];
	int p[2], first, other, r;
	double cpu;

	tl_init(&t, b, NULL);
	make_pipe(p);
	for (int i = 0; i < 2; i++) {
		tl_op_init(&o[i]);
		xev_read(&t.loop, &o[i].c, p[0], buf[i], sizeof buf[i], &o[i].r, tl_rec_cb);
	}
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	if (write(p[1], "abcde", 5) != 5)
		bail("write");
	WAIT_FOR(&t, o[0].r.calls || o[1].r.calls);
	cpu = idle_cpu_ms(&t, 100);
	first = o[0].r.calls ? 0 : 1;
	other = 1 - first;
	ok(o[first].r.calls == 1 && o[first].r.result == 5 && memcmp(buf[first], "abcde", 5) == 0,
	   "%s: two reads parked, one write: one read gets all 5 bytes (%d calls, %d)", bn, o[first].r.calls,
	   o[first].r.result);
	ok(o[other].r.calls == 0 && !dead(&o[other].c),
	   "%s: ... the other found nothing and waits again: no result, still active (%d calls, %d)", bn,
	   o[other].r.calls, o[other].r.result);
	ok(cpu < 25.0, "%s: ... without spinning (%.1f ms CPU in 100 ms)", bn, cpu);
	if (write(p[1], "xyz", 3) != 3)
		bail("write");
	r = tl_result_of(&t, &o[other]);
	ok(r == 3 && memcmp(buf[other], "xyz", 3) == 0 && o[first].r.calls == 1,
	   "%s: ... and the next write completes it with the new bytes (%d)", bn, r);
	close(p[0]);
	close(p[1]);
	tl_deinit(&t);
}

static void check_two_recvs(xev_backend b, const char *bn)
{
	struct tl t;
	struct tl_op o[2];
	struct sockaddr_in ra, sa;
	char buf[2][16];
	int rfd, sfd, first, other;
	double cpu;

	tl_init(&t, b, NULL);
	rfd = loopback_bound(SOCK_DGRAM, &ra);
	sfd = loopback_bound(SOCK_DGRAM, &sa);
	for (int i = 0; i < 2; i++) {
		tl_op_init(&o[i]);
		xev_recv(&t.loop, &o[i].c, rfd, buf[i], sizeof buf[i], 0, &o[i].r, tl_rec_cb);
	}
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	if (sendto(sfd, "one", 3, 0, (struct sockaddr *)&ra, sizeof ra) != 3)
		bail("sendto");
	WAIT_FOR(&t, o[0].r.calls || o[1].r.calls);
	cpu = idle_cpu_ms(&t, 100);
	first = o[0].r.calls ? 0 : 1;
	other = 1 - first;
	ok(o[first].r.result == 3 && o[other].r.calls == 0 && !dead(&o[other].c) && cpu < 25.0,
	   "%s: two recvs, one datagram: one gets it, the other waits on, no spin (%d, %d calls, %.1f ms CPU)",
	   bn, o[first].r.result, o[other].r.calls, cpu);
	if (sendto(sfd, "second", 6, 0, (struct sockaddr *)&ra, sizeof ra) != 6)
		bail("sendto");
	first = tl_result_of(&t, &o[other]);
	ok(first == 6 && memcmp(buf[other], "second", 6) == 0, "%s: ... the next datagram completes the other (%d)",
	   bn, first);
	close(rfd);
	close(sfd);
	tl_deinit(&t);
}

/* Two sends wait for room on a full socket; the room the reader makes is
 * taken by the first, and the second finds the buffer full again. */
static void check_two_sends(xev_backend b, const char *bn)
{
	enum { LEN = 64 * 1024 };
	static char out[2][LEN], rx[4 * LEN];
	struct tl t;
	struct tl_op o[2];
	int s[2], fifo = (tap_caps(b) & XEV__CAP_FD_ORDER) != 0, same = 1;
	long filled, got = 0, want;
	int64_t end;
	double cpu;

	tl_init(&t, b, NULL);
	make_socketpair(s);
	memset(out[0], 'A', LEN);
	memset(out[1], 'B', LEN);
	filled = fill(s[0], 1);
	for (int i = 0; i < 2; i++) {
		tl_op_init(&o[i]);
		xev_send(&t.loop, &o[i].c, s[0], out[i], LEN, 0, &o[i].r, tl_rec_cb);
	}
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	/* A little room (only filler is there yet), then a moment for the
	 * loop to use it. */
	for (long left = 2048; left > 0;) {
		ssize_t n = read(s[1], rx, (size_t)left);
		if (n <= 0)
			break;
		left -= n;
		filled -= n;
	}
	cpu = idle_cpu_ms(&t, 100);
	ok(cpu < 25.0 && o[0].r.calls <= 1 && o[1].r.calls <= 1,
	   "%s: two sends on a full socket given a little room: no spin, no stray result (%.1f ms CPU)", bn, cpu);
	/* Now read everything: both complete, and the bytes are theirs. */
	for (end = mono_ms() + 5000; mono_ms() < end;) {
		ssize_t n = recv(s[1], rx + got, sizeof rx - (size_t)got, MSG_DONTWAIT);
		if (n > 0) {
			got += n;
			continue;
		}
		if (o[0].r.calls && o[1].r.calls && got >= filled + o[0].r.result + o[1].r.result)
			break;
		xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	}
	want = filled + (long)o[0].r.result + o[1].r.result;
	for (long k = 0; k < got && k < want; k++) {
		char c = k < filled ? 'j' : (!fifo || k < filled + o[0].r.result) ? 0 : 'B';
		if (k >= filled && !fifo)
			continue;
		if (k >= filled && k < filled + o[0].r.result)
			c = 'A';
		same &= rx[k] == c;
	}
	ok(o[0].r.calls == 1 && o[1].r.calls == 1 && o[0].r.result > 0 && o[1].r.result > 0 && got == want &&
		   same,
	   "%s: ... then drained: each send completes once, the peer gets exactly their %ld bytes%s (%ld)", bn,
	   want - filled, fifo ? ", the first's before the second's" : "", got - filled);
	close(s[0]);
	close(s[1]);
	tl_deinit(&t);
}

/* ---- a signal every 100 us ------------------------------------------ */

static atomic_int storm_on;
static atomic_long storm_sent;
static void on_storm(int sig) { (void)sig; }

static void *storm_main(void *arg)
{
	pthread_t target = *(pthread_t *)arg;
	struct timespec ts = { 0, 100000 };

	while (atomic_load(&storm_on)) {
		pthread_kill(target, SIGUSR2);
		atomic_fetch_add(&storm_sent, 1);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void check_eintr_storm(xev_backend b, const char *bn)
{
	struct sigaction sa, old;
	xev_loop loop;
	xev_watcher tw;
	xev_completion tc;
	struct tl_rec tr, rr;
	struct tl_op o;
	pthread_t self = pthread_self(), storm;
	char buf[8];
	int p[2], bad_rc = 0, runs = 0;
	int64_t t0, fired_after;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_storm; /* no SA_RESTART: every wait sees EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, &old);
	tap_loop_init(&loop, b);
	make_pipe(p);
	tl_rec_init(&tr);
	tl_rec_init(&rr);
	tl_op_init(&o);
	xev_read(&loop, &o.c, p[0], buf, sizeof buf, &rr, tl_rec_cb);
	xev_timer_init(&tw);
	atomic_store(&storm_on, 1);
	atomic_store(&storm_sent, 0);
	if (pthread_create(&storm, NULL, storm_main, &self) != 0)
		bail("pthread_create");
	t0 = mono_ms();
	xev_loop_update_now(&loop); /* timers count from the loop's time */
	xev_timer_run(&tw, &loop, &tc, 100, &tr, tl_rec_cb);
	while (!tr.calls && mono_ms() - t0 < 5000) {
		if (xev_loop_run(&loop, XEV_RUN_ONCE) < 0)
			bad_rc++;
		runs++;
	}
	fired_after = mono_ms() - t0;
	ok(tr.calls == 1 && tr.result == 0 && fired_after >= 100 && fired_after < 1000 && bad_rc == 0,
	   "%s: under a signal every 100 us (%ld sent): a 100 ms timer fires once after %lld ms, run never fails "
	   "(%d runs)",
	   bn, (long)atomic_load(&storm_sent), (long long)fired_after, runs);
	ok(rr.calls == 0 && !dead(&o.c), "%s: ... a read with nothing to read stays pending through it", bn);
	if (write(p[1], "ok", 2) != 2)
		bail("write");
	t0 = mono_ms();
	while (!rr.calls && mono_ms() - t0 < 5000)
		xev_loop_run(&loop, XEV_RUN_ONCE);
	atomic_store(&storm_on, 0);
	pthread_join(storm, NULL);
	ok(rr.calls == 1 && rr.result == 2 && memcmp(buf, "ok", 2) == 0,
	   "%s: ... and completes once with the data when it comes, still under the storm (%d)", bn, rr.result);
	xev_loop_deinit(&loop);
	xev_timer_deinit(&tw);
	close(p[0]);
	close(p[1]);
	sigaction(SIGUSR2, &old, NULL);
}

/* ---- fds closed behind the loop's back ------------------------------- */

static void check_closed_behind(xev_backend b, const char *bn)
{
	struct tl t;
	struct tl_op o, o2;
	char buf[8];
	int p[2], q[2], r;
	double cpu;

	tl_init(&t, b, NULL);
	make_pipe(p);
	tl_op_init(&o);
	xev_read(&t.loop, &o.c, p[0], buf, sizeof buf, &o.r, tl_rec_cb);
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	close(p[0]); /* not xev_close: the loop is not told */
	if (tap_caps(b) & XEV__CAP_SEES_CLOSE) {
		r = tl_result_of(&t, &o);
		ok(r == -EBADF, "%s: a read parked on an fd closed behind the loop's back ends with -EBADF (%d)", bn,
		   r);
	} else {
		/* The kernel keeps the file (io_uring) or drops the
		 * registration (epoll, kqueue): the read waits, and is
		 * cancelled like any other. */
		WAIT_FOR_MS(&t, o.r.calls, 50);
		xev_cancel(&t.loop, &o.cc, &o.c, &o.rc, tl_rec_cb);
		WAIT_FOR(&t, o.r.calls && o.rc.calls);
		ok(o.r.calls == 1 && (o.r.result == -ECANCELED || o.r.result == -EBADF),
		   "%s: a read parked on an fd closed behind the loop's back is cancelled once (%d)", bn,
		   o.r.result);
	}
	close(p[1]);

	/* A read that completed leaves the fd watched for the next one;
	 * the fd is then closed: nothing may keep reporting it. */
	make_pipe(q);
	tl_op_init(&o2);
	xev_read(&t.loop, &o2.c, q[0], buf, sizeof buf, &o2.r, tl_rec_cb);
	if (write(q[1], "x", 1) != 1)
		bail("write");
	r = tl_result_of(&t, &o2);
	close(q[0]);
	close(q[1]);
	cpu = idle_cpu_ms(&t, 100);
	ok(r == 1 && cpu < 25.0,
	   "%s: an fd closed behind the loop's back after its read completed: no spin (%.1f ms CPU in 100 ms)",
	   bn, cpu);
	tl_deinit(&t);
}

/* ---- churn ---------------------------------------------------------- */

#define NPIPES 48
#define STEPS 3000

struct cpipe {
	int rfd, wfd;
	unsigned next_w, next_r; /* byte sequence numbers */
	xev_completion c, cc, cclose;
	unsigned char buf[4];
	int pending, cancelling, closing;
	int calls, bad, wrong;
};

static struct cpipe pipes[NPIPES];
static int churn_callbacks;

static xev_cb_action churn_read_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct cpipe *cp = ud;
	(void)l, (void)c;
	churn_callbacks++;
	cp->calls++;
	if (!cp->pending)
		cp->bad++; /* a second callback */
	cp->pending = 0;
	if (result > 0) {
		for (int i = 0; i < result; i++)
			if (cp->buf[i] != (unsigned char)(cp->next_r++ * 131u))
				cp->wrong++;
	} else if (result != -ECANCELED) {
		cp->wrong++;
	}
	return XEV_DISARM;
}

static xev_cb_action churn_cancel_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct cpipe *cp = ud;
	(void)l, (void)c, (void)result;
	cp->cancelling = 0;
	return XEV_DISARM;
}

static xev_cb_action churn_close_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct cpipe *cp = ud;
	(void)l, (void)c;
	if (result != 0)
		cp->wrong++;
	cp->closing = 0;
	return XEV_DISARM;
}

static unsigned next_rand(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 16) & 0x7fff;
}

static void churn_open(struct cpipe *cp)
{
	int p[2];
	make_pipe(p);
	cp->rfd = p[0];
	cp->wfd = p[1];
	cp->next_w = cp->next_r = 0;
}

static void check_churn(xev_backend b, const char *bn)
{
	xev_loop loop;
	unsigned seed = 12345;
	int reopened = 0, cancels = 0, writes = 0, reads = 0;
	int calls = 0, bad = 0, wrong = 0, busy;
	int64_t end;

	tap_loop_init(&loop, b);
	memset(pipes, 0, sizeof pipes);
	churn_callbacks = 0;
	for (int i = 0; i < NPIPES; i++)
		churn_open(&pipes[i]);
	for (int step = 0; step < STEPS; step++) {
		struct cpipe *cp = &pipes[next_rand(&seed) % NPIPES];
		unsigned what = next_rand(&seed) % 10;

		if (cp->closing) {
			/* its xev_close is still queued */
		} else if (what < 4 && !cp->pending) {
			cp->pending = 1;
			reads++;
			xev_read(&loop, &cp->c, cp->rfd, cp->buf, 1 + next_rand(&seed) % 4, cp, churn_read_cb);
		} else if (what < 7) {
			unsigned char v = (unsigned char)(cp->next_w * 131u);
			if (write(cp->wfd, &v, 1) == 1) {
				cp->next_w++;
				writes++;
			}
		} else if (what < 9 && cp->pending && !cp->cancelling) {
			cp->cancelling = 1;
			cancels++;
			xev_cancel(&loop, &cp->cc, &cp->c, cp, churn_cancel_cb);
		} else if (what == 9 && !cp->pending && !cp->cancelling) {
			/* Recycle: the number goes back to the kernel and
			 * comes out again for some other pipe. */
			cp->closing = 1;
			xev_close(&loop, &cp->cclose, cp->rfd, cp, churn_close_cb);
			close(cp->wfd);
			xev_loop_run(&loop, XEV_RUN_NO_WAIT);
			churn_open(cp);
			reopened++;
		}
		xev_loop_run(&loop, XEV_RUN_NO_WAIT);
	}
	/* Settle: cancel what still waits, then let everything finish. */
	for (int i = 0; i < NPIPES; i++)
		if (pipes[i].pending && !pipes[i].cancelling) {
			pipes[i].cancelling = 1;
			xev_cancel(&loop, &pipes[i].cc, &pipes[i].c, &pipes[i], churn_cancel_cb);
		}
	end = mono_ms() + 5000;
	do {
		busy = 0;
		xev_loop_run(&loop, XEV_RUN_NO_WAIT);
		for (int i = 0; i < NPIPES; i++)
			busy |= pipes[i].pending | pipes[i].cancelling | pipes[i].closing;
	} while (busy && mono_ms() < end);
	for (int i = 0; i < NPIPES; i++) {
		calls += pipes[i].calls;
		bad += pipes[i].bad;
		wrong += pipes[i].wrong;
	}
	ok(!busy && calls == reads && bad == 0,
	   "%s: churn of %d pipes (%d reads, %d writes, %d cancels, %d fds recycled): every read called back once "
	   "(%d callbacks)",
	   bn, NPIPES, reads, writes, cancels, reopened, calls);
	is_int(wrong, 0, "%s: ... each with the bytes the model expects, or -ECANCELED", bn);
	xev_loop_deinit(&loop);
	for (int i = 0; i < NPIPES; i++) {
		close(pipes[i].rfd);
		close(pipes[i].wfd);
	}
}

/* ---- a busy socket ------------------------------------------------- */

enum { PINGS = 300 };

struct pinger {
	xev_completion sc, rc;
	int fd;
	uint32_t out, in;
	char buf[16];
	int done, bad;
};

static xev_cb_action ping_sent(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct pinger *p = ud;
	(void)l, (void)c;
	if (result != (int)sizeof p->out)
		p->bad++;
	return XEV_DISARM;
}

static void ping(xev_loop *l, struct pinger *p)
{
	p->out++;
	xev_send(l, &p->sc, p->fd, &p->out, sizeof p->out, 0, p, ping_sent);
}

/* Each pong must be the ping sent last; the next ping goes from here, so
 * its send is queued before the receive is again. */
static xev_cb_action pong(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct pinger *p = ud;
	(void)c;
	memcpy(&p->in, p->buf, sizeof p->in);
	if (result != (int)sizeof p->in || p->in != p->out)
		p->bad++;
	if (++p->done == PINGS)
		return XEV_DISARM;
	ping(l, p);
	return XEV_REARM;
}

#ifdef XEV_FAULT_INJECTION
static uint64_t waits_made(void)
{
	return xev__fault_calls(XEV__FS_EPOLL_WAIT) + xev__fault_calls(XEV__FS_POLL) +
	       xev__fault_calls(XEV__FS_KEVENT) + xev__fault_calls(XEV__FS_URING_ENTER);
}
#endif

/* A socket sending to itself, one datagram in flight: every receive after
 * the first finds its datagram there, so a readiness backend neither
 * waits nor tries in vain, and io_uring enters the kernel once per round
 * trip.  Then a receive that finds nothing must wait on. */
static void check_self_ping(xev_backend b, const char *bn)
{
	struct tl t;
	struct tl_op o;
	struct pinger p;
	struct sockaddr_in a;
	char buf[16];
	int readiness = (tap_caps(b) & XEV__CAP_READINESS) != 0, r;

	memset(&p, 0, sizeof p);
	tl_init(&t, b, NULL);
	p.fd = loopback_bound(SOCK_DGRAM, &a);
	if (connect(p.fd, (struct sockaddr *)&a, sizeof a) < 0)
		bail("connect to itself");
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT); /* the first wait, before counting */
#ifdef XEV_FAULT_INJECTION
	xev__fault_set(NULL);
#endif
	ping(&t.loop, &p);
	xev_recv(&t.loop, &p.rc, p.fd, p.buf, sizeof p.buf, 0, &p, pong);
	WAIT_FOR(&t, p.done == PINGS || p.bad);
	ok(p.done == PINGS && p.bad == 0, "%s: a socket pinging itself %d times: each pong the ping just sent (%d, %d bad)",
	   bn, PINGS, p.done, p.bad);
#ifdef XEV_FAULT_INJECTION
	{
		uint64_t waits = waits_made(), recvs = xev__fault_calls(XEV__FS_RECV);
		if (readiness)
			ok(waits <= 8 && recvs <= PINGS + 2,
			   "%s: ... with no wait between round trips and no receive in vain (%llu waits, %llu "
			   "receives)",
			   bn, (unsigned long long)waits, (unsigned long long)recvs);
		else
			ok(waits <= PINGS + 8 && xev__fault_calls(XEV__FS_SEND) == 0,
			   "%s: ... entering the kernel once per round trip, each send riding along in the ring "
			   "(%llu enters, %llu sends by send(2))",
			   bn, (unsigned long long)waits, (unsigned long long)xev__fault_calls(XEV__FS_SEND));
	}
#else
	(void)readiness;
	skip(1, "system calls are counted in a fault-injection build only");
#endif
	tl_op_init(&o);
	xev_recv(&t.loop, &o.c, p.fd, buf, sizeof buf, 0, &o.r, tl_rec_cb);
	for (int i = 0; i < 3; i++)
		xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	ok(o.r.calls == 0 && !dead(&o.c), "%s: ... then a receive with nothing there waits", bn);
	if (send(p.fd, "late", 4, 0) != 4)
		bail("send");
	r = tl_result_of(&t, &o);
	ok(r == 4 && memcmp(buf, "late", 4) == 0, "%s: ... and the next datagram completes it (%d)", bn, r);
	close(p.fd);
	tl_deinit(&t);
}

/* A receive that found data while the loop was busy (a send of its own
 * had completed) invites the next one to be tried at once; with another
 * receive already waiting on the fd, that one must be served first. */
static void check_receive_order(xev_backend b, const char *bn)
{
	struct tl t;
	struct tl_op o[3], busy;
	char buf[3][16];
	struct sockaddr_in ra, sa;
	int rfd, sfd;

	if (!(tap_caps(b) & XEV__CAP_FD_ORDER)) {
		skip(2, "the kernel orders receives on one fd itself");
		return;
	}
	tl_init(&t, b, NULL);
	rfd = loopback_bound(SOCK_DGRAM, &ra);
	sfd = loopback_bound(SOCK_DGRAM, &sa);
	for (int i = 0; i < 3; i++)
		tl_op_init(&o[i]);
	tl_op_init(&busy);
	for (int i = 0; i < 2; i++)
		xev_recv(&t.loop, &o[i].c, rfd, buf[i], sizeof buf[i], 0, &o[i].r, tl_rec_cb);
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	if (sendto(sfd, "d1", 2, 0, (struct sockaddr *)&ra, sizeof ra) != 2)
		bail("sendto");
	/* A send that completes when tried: the loop has a callback to run
	 * when it looks at the sockets, and d1 is received while busy. */
	if (connect(sfd, (struct sockaddr *)&sa, sizeof sa) < 0)
		bail("connect");
	xev_send(&t.loop, &busy.c, sfd, "b", 1, 0, &busy.r, tl_rec_cb);
	for (int i = 0; i < 3 && !o[0].r.calls; i++)
		xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	if (sendto(sfd, "d2", 2, 0, (struct sockaddr *)&ra, sizeof ra) != 2)
		bail("sendto");
	xev_recv(&t.loop, &o[2].c, rfd, buf[2], sizeof buf[2], 0, &o[2].r, tl_rec_cb);
	for (int i = 0; i < 3; i++)
		xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	ok(o[0].r.result == 2 && memcmp(buf[0], "d1", 2) == 0 && o[1].r.result == 2 && memcmp(buf[1], "d2", 2) == 0 &&
		   o[2].r.calls == 0,
	   "%s: a receive queued behind a waiting one does not take its datagram (%d, %d, %d calls)", bn,
	   o[0].r.result, o[1].r.result, o[2].r.calls);
	if (sendto(sfd, "d3", 2, 0, (struct sockaddr *)&ra, sizeof ra) != 2)
		bail("sendto");
	ok(tl_result_of(&t, &o[2]) == 2 && memcmp(buf[2], "d3", 2) == 0, "%s: ... it takes the next one", bn);
	close(rfd);
	close(sfd);
	tl_deinit(&t);
}

/* A socket whose data comes while the loop sleeps: receiving at once
 * would find nothing, and must not be tried (one receive per datagram). */
static void check_sleepy_socket(xev_backend b, const char *bn)
{
#ifdef XEV_FAULT_INJECTION
	struct tl t;
	struct tl_op o;
	struct sockaddr_in ra, sa;
	char buf[16];
	int rfd, sfd, n = 10;
	uint64_t recvs;

	tl_init(&t, b, NULL);
	tl_op_init(&o);
	o.r.rearm = n - 1;
	rfd = loopback_bound(SOCK_DGRAM, &ra);
	sfd = loopback_bound(SOCK_DGRAM, &sa);
	xev_recv(&t.loop, &o.c, rfd, buf, sizeof buf, 0, &o.r, tl_rec_cb);
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	xev__fault_set(NULL);
	for (int i = 0; i < n; i++) {
		xev_loop_run(&t.loop, XEV_RUN_NO_WAIT); /* the rearmed receive waits */
		if (sendto(sfd, "z", 1, 0, (struct sockaddr *)&ra, sizeof ra) != 1)
			bail("sendto");
		WAIT_FOR(&t, o.r.calls > i);
	}
	recvs = xev__fault_calls(XEV__FS_RECV);
	ok(o.r.calls == n && o.r.result == 1 && recvs <= (uint64_t)n,
	   "%s: %d datagrams that come while the loop sleeps: %d callbacks, %llu receive calls", bn, n, o.r.calls,
	   (unsigned long long)recvs);
	close(rfd);
	close(sfd);
	tl_deinit(&t);
#else
	(void)b, (void)bn;
	skip(1, "system calls are counted in a fault-injection build only");
#endif
}

/* A socket with data and a hang-up: tries of a receive that fail without
 * cause (a spurious EAGAIN, injected, twice or more in a row) while its
 * fd is reported once per watch (stuck) still end with the data.  The
 * loop is polled, so a lost completion fails here rather than hang. */
static void check_stuck_tries_fail(xev_backend b, const char *bn)
{
#ifdef XEV_FAULT_INJECTION
	struct tl t;
	struct tl_op o;
	struct xev__fault_plan lie = { .site = XEV__FS_RECV, .err = EAGAIN, .every = 1, .limit = 5 };
	char buf[16];
	int sv[2];
	uint64_t lies, recvs;

	tl_init(&t, b, NULL);
	tl_op_init(&o);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		bail("socketpair");
	xev_recv(&t.loop, &o.c, sv[0], buf, sizeof buf, 0, &o.r, tl_rec_cb);
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	if (write(sv[1], "x", 1) != 1)
		bail("write");
	close(sv[1]);
	xev__fault_set(&lie);
	for (int64_t end = mono_ms() + 2000; !o.r.calls && mono_ms() < end; usleep(500))
		xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	lies = xev__fault_injected(XEV__FS_RECV);
	recvs = xev__fault_calls(XEV__FS_RECV);
	xev__fault_set(NULL);
	/* A backend that receives in the kernel (io_uring) makes no recv(2)
	 * to lie about. */
	ok(o.r.calls == 1 && o.r.result == 1 && buf[0] == 'x' && (recvs == 0 || lies == 5),
	   "%s: a receive whose tries fail 5 times without cause on a hung-up socket still gets its byte (%d calls, "
	   "%d, %llu failed)",
	   bn, o.r.calls, o.r.result, (unsigned long long)lies);
	close(sv[0]);
	tl_deinit(&t);
#else
	(void)b, (void)bn;
	skip(1, "failures are injected in a fault-injection build only");
#endif
}

struct chain {
	xev_completion c;
	int fd, sent, bad;
	int sent_when_received;
	struct tl_rec *r;
};

static xev_cb_action chain_sent(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct chain *ch = ud;
	(void)l, (void)c;
	if (result != 1)
		ch->bad++;
	if (ch->r->calls && ch->sent_when_received < 0)
		ch->sent_when_received = ch->sent;
	return ++ch->sent < 5000 ? XEV_REARM : XEV_DISARM;
}

/* A loop kept busy by a send that completes every time it is tried still
 * asks the kernel about the receive waiting on another socket. */
static void check_busy_still_looks(xev_backend b, const char *bn)
{
	struct tl t;
	struct tl_op o;
	struct chain ch;
	struct sockaddr_in ra, sa, ka;
	char buf[16];
	int rfd, sfd, sink;

	tl_init(&t, b, NULL);
	tl_op_init(&o);
	memset(&ch, 0, sizeof ch);
	ch.sent_when_received = -1;
	ch.r = &o.r;
	rfd = loopback_bound(SOCK_DGRAM, &ra);
	sfd = loopback_bound(SOCK_DGRAM, &sa);
	sink = loopback_bound(SOCK_DGRAM, &ka);
	if (connect(sfd, (struct sockaddr *)&ka, sizeof ka) < 0)
		bail("connect");
	ch.fd = sfd;
	xev_recv(&t.loop, &o.c, rfd, buf, sizeof buf, 0, &o.r, tl_rec_cb);
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	xev_send(&t.loop, &ch.c, sfd, "x", 1, 0, &ch, chain_sent);
	if (sendto(sfd, "hello", 5, 0, (struct sockaddr *)&ra, sizeof ra) != 5)
		bail("sendto");
	WAIT_FOR(&t, ch.sent == 5000 || ch.bad);
	ok(ch.bad == 0 && o.r.result == 5 && ch.sent_when_received >= 0 && ch.sent_when_received < 100,
	   "%s: a receive on another fd completes within a few sends of a busy chain of 5000 (after %d)", bn,
	   ch.sent_when_received);
	close(rfd);
	close(sfd);
	close(sink);
	tl_deinit(&t);
}

#ifdef XEV_FAULT_INJECTION
/* A receive that waits on s[0] and a send on it, run once: the send's
 * completion is all the wait returns (on io_uring, the sign that sends
 * cut its waits short).  Then one more send, counted. */
static void send_after_cut_wait(struct tl *t, int s[2], struct tl_op *waiting, uint64_t *waits,
				uint64_t *sends, struct tl_rec *r)
{
	struct tl_op first, o;
	char buf[8];

	tl_op_init(waiting);
	tl_op_init(&first);
	xev_recv(&t->loop, &waiting->c, s[0], buf, sizeof buf, 0, &waiting->r, tl_rec_cb);
	xev_send(&t->loop, &first.c, s[0], "cut", 3, 0, &first.r, tl_rec_cb);
	WAIT_FOR(t, first.r.calls);
	xev__fault_set(NULL);
	tl_op_init(&o);
	xev_send(&t->loop, &o.c, s[0], "ping", 4, 0, &o.r, tl_rec_cb);
	xev_loop_run(&t->loop, XEV_RUN_NO_WAIT);
	*waits = waits_made();
	*sends = xev__fault_calls(XEV__FS_SEND);
	*r = o.r;
}
#endif

/* Sends are tried at once with send(2) on every backend, and on io_uring
 * too where sends cut its waits short (a request-response loop): one that
 * finds room then costs no wait and no request in the ring.  On io_uring,
 * not while the ring holds a send, which a send made at once would
 * overtake; not where the sends ride along with other work (a loop
 * talking to itself, check_self_ping); and not at all with
 * XEV_URING_RING_SENDS. */
static void check_send_at_once(xev_backend b, const char *bn)
{
#ifdef XEV_FAULT_INJECTION
	struct tl t;
	struct tl_op waiting, held, next;
	struct tl_rec r;
	char sink[65536];
	int s[2];
	uint64_t waits, sends;

	tl_init(&t, b, NULL);
	make_socketpair(s);
	send_after_cut_wait(&t, s, &waiting, &waits, &sends, &r);
	/* A readiness backend polls once, without blocking, for the receive
	 * parked; io_uring need not enter the kernel at all. */
	ok(r.calls == 1 && r.result == 4 && waits == (tap_caps(b) & XEV__CAP_READINESS ? 1u : 0u) && sends == 1,
	   "%s: a send with room is made at once by send(2), not in a wait (%d calls, result %d, %llu waits, "
	   "%llu sends)",
	   bn, r.calls, r.result, (unsigned long long)waits, (unsigned long long)sends);
	if (tap_caps(b) & XEV__CAP_READINESS) {
		skip(2, "a readiness backend makes every send at once, in order (check_two_sends)");
		goto out;
	}
	/* A send the ring holds: no room when it was tried at once. */
	while (recv(s[1], sink, sizeof sink, MSG_DONTWAIT) > 0)
		;
	fill(s[0], 1);
	tl_op_init(&held);
	xev_send(&t.loop, &held.c, s[0], "A", 1, 0, &held.r, tl_rec_cb);
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	while (recv(s[1], sink, sizeof sink, MSG_DONTWAIT) > 0)
		;
	sends = xev__fault_calls(XEV__FS_SEND);
	tl_op_init(&next);
	xev_send(&t.loop, &next.c, s[0], "B", 1, 0, &next.r, tl_rec_cb);
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	sends = xev__fault_calls(XEV__FS_SEND) - sends;
	WAIT_FOR(&t, held.r.calls && next.r.calls);
	ok(held.r.calls == 1 && sends == 0 && held.r.result == 1 && next.r.result == 1,
	   "%s: while the ring holds a send, the next is not tried at once (%llu sends; results %d, %d)", bn,
	   (unsigned long long)sends, held.r.result, next.r.result);
	{
		struct tl t2;
		struct tl_op w2;
		int s2[2];

		setenv("XEV_URING_RING_SENDS", "1", 1);
		tl_init(&t2, b, NULL);
		unsetenv("XEV_URING_RING_SENDS");
		make_socketpair(s2);
		send_after_cut_wait(&t2, s2, &w2, &waits, &sends, &r);
		ok(r.calls == 1 && r.result == 4 && sends == 0 && waits == 1,
		   "%s: ... and with XEV_URING_RING_SENDS=1 every send goes through the ring (%d, %llu sends, "
		   "%llu waits)",
		   bn, r.result, (unsigned long long)sends, (unsigned long long)waits);
		close(s2[0]);
		close(s2[1]);
		tl_deinit(&t2);
	}
out:
	close(s[0]);
	close(s[1]);
	tl_deinit(&t);
#else
	(void)b, (void)bn;
	skip(3, "system calls are counted in a fault-injection build only");
#endif
}

/* ---- edge-triggered TCP receives ----------------------------------- */

struct edge_rx {
	xev_completion c;
	char buf[64];
	size_t got;
	int eof, bad;
};

static xev_cb_action edge_rx_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct edge_rx *rx = ud;
	(void)l, (void)c;
	if (result < 0) {
		rx->bad = result;
		return XEV_DISARM;
	}
	if (result == 0) {
		rx->eof = 1;
		return XEV_DISARM;
	}
	rx->got += (size_t)result;
	return XEV_REARM;
}

/* 1: fd's slot is edge-triggered; 0: not; -1: the backend never is. */
static int slot_edge(struct tl *t, xev_backend b, int fd)
{
	struct xev__loop *l = xev__loop(&t->loop);
	struct xev__fdslot *s;

	if (!(tap_caps(b) & XEV__CAP_READINESS) || !xev__rd(l)->hooks->edge_ok)
		return -1;
	s = xev__rd_slot(l, fd);
	return s && s->edge;
}

/* n messages of 3 bytes, each received (short: it empties the socket)
 * before the next is sent. */
static int short_rounds(struct tl *t, int cfd, struct edge_rx *rx, int n)
{
	for (int i = 0; i < n; i++) {
		size_t want = rx->got + 3;
		if (send(cfd, "abc", 3, 0) != 3)
			bail("send");
		WAIT_FOR_MS(t, rx->got >= want || rx->bad || rx->eof, 2000);
		if (rx->got != want)
			return 0;
	}
	return 1;
}

/*
 * A TCP socket whose receives keep emptying it is watched edge-triggered
 * where the backend can (readiness.c): then only new data is reported.
 * What would leave data or the end of the stream behind without a report
 * to come must turn it level-triggered again: a receive that fills its
 * buffer, urgent data (a receive stops short at its mark), the end of
 * the stream arriving with the last data, a try that fails without cause.
 * Each would otherwise leave the next receive waiting for ever (here: 2 s).
 * Every backend must pass; whether a slot is edge-triggered is asked of
 * the readiness ones.
 */
static void check_edge(xev_backend b, const char *bn)
{
	struct tl t;
	struct edge_rx rx;
	struct sockaddr_in a;
	char big[100];
	int lfd, cfd, sfd, one = 1, edge, ok1;
	size_t want;

	tl_init(&t, b, NULL);
	memset(&rx, 0, sizeof rx);
	lfd = tcp_listener(&a, 1);
	cfd = tcp_client(&a);
	sfd = tap_accept(lfd, 1);
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	xev_recv(&t.loop, &rx.c, sfd, rx.buf, sizeof rx.buf, 0, &rx, edge_rx_cb);

	ok1 = short_rounds(&t, cfd, &rx, 12);
	edge = slot_edge(&t, b, sfd);
	ok(ok1 && edge != 0, "%s: 12 receives that each emptied a TCP socket: all in, and it is watched "
			     "edge-triggered where the backend can (%zu bytes, edge %d)",
	   bn, rx.got, edge);

	memset(big, 'f', sizeof big);
	want = rx.got + sizeof big;
	if (send(cfd, big, sizeof big, 0) != (ssize_t)sizeof big)
		bail("send");
	WAIT_FOR_MS(&t, rx.got >= want || rx.bad, 2000);
	edge = slot_edge(&t, b, sfd);
	ok(rx.got == want && edge != 1,
	   "%s: ... 100 bytes to a 64-byte receive: the rest comes with no new data, level-triggered again (%zu of "
	   "%zu, edge %d)",
	   bn, rx.got, want, edge);

	/* Each time it ends, edge-triggering takes twice as many. */
	ok1 = short_rounds(&t, cfd, &rx, 40) && slot_edge(&t, b, sfd) != 0;
	want = rx.got + 4;
	if (send(cfd, "ab", 2, 0) != 2 || send(cfd, "X", 1, MSG_OOB) != 1 || send(cfd, "cd", 2, 0) != 2)
		bail("send");
	WAIT_FOR_MS(&t, rx.got >= want || rx.bad, 2000);
	ok(ok1 && rx.got == want, "%s: ... the data behind urgent data comes too (%zu of %zu)", bn, rx.got, want);

	ok1 = short_rounds(&t, cfd, &rx, 80) && slot_edge(&t, b, sfd) != 0;
#ifdef XEV_FAULT_INJECTION
	{
		struct xev__fault_plan lie = { .site = XEV__FS_RECV, .err = EAGAIN, .limit = 1 };
		want = rx.got + 2;
		xev__fault_set(&lie);
		if (send(cfd, "zz", 2, 0) != 2)
			bail("send");
		WAIT_FOR_MS(&t, rx.got >= want || rx.bad, 2000);
		ok(ok1 && rx.got == want &&
			   (xev__fault_calls(XEV__FS_RECV) == 0 || xev__fault_injected(XEV__FS_RECV) == 1),
		   "%s: ... a receive whose try fails without cause still gets the data (%zu of %zu)", bn, rx.got,
		   want);
		xev__fault_set(NULL);
		ok1 = short_rounds(&t, cfd, &rx, 160) && slot_edge(&t, b, sfd) != 0;
	}
#else
	skip(1, "failures are injected in a fault-injection build only");
#endif
	if (send(cfd, "bye", 3, 0) != 3)
		bail("send");
	shutdown(cfd, SHUT_WR);
	want = rx.got + 3;
	WAIT_FOR_MS(&t, rx.eof || rx.bad, 2000);
	ok(ok1 && rx.got == want && rx.eof, "%s: ... the end of the stream that came with the last data is seen "
					    "(%zu of %zu, eof %d)",
	   bn, rx.got, want, rx.eof);
	if (!rx.eof && !rx.bad) {
		struct tl_op cc;
		tl_op_init(&cc);
		xev_cancel(&t.loop, &cc.c, &rx.c, &cc.r, tl_rec_cb);
		WAIT_FOR(&t, cc.r.calls && (rx.eof || rx.bad));
	}
	close(cfd);
	close(sfd);
	close(lfd);
	tl_deinit(&t);
}

static void check_backend(xev_backend b, const char *bn)
{
	check_two_reads(b, bn);   /* 4 */
	check_two_recvs(b, bn);   /* 2 */
	check_two_sends(b, bn);   /* 2 */
	check_eintr_storm(b, bn); /* 3 */
	check_closed_behind(b, bn); /* 2 */
	check_churn(b, bn);       /* 2 */
	check_self_ping(b, bn);   /* 4 */
	check_receive_order(b, bn); /* 2 */
	check_sleepy_socket(b, bn); /* 1 */
	check_busy_still_looks(b, bn); /* 1 */
	check_stuck_tries_fail(b, bn); /* 1 */
	check_send_at_once(b, bn); /* 3 */
	check_edge(b, bn);        /* 5 */
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	plan(GLOBAL_CHECKS + TAP_NBACKENDS * PER_BACKEND);
	tap_each_backend(PER_BACKEND, check_backend);
	return done_testing();
}
