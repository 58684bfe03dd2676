/* SPDX-License-Identifier: MIT */
/*
 * Stress: many loopback TCP connections, all open at once, echoing for a
 * few seconds; nothing may be lost, duplicated, reordered or delivered to
 * the wrong connection.
 *
 * The server ends live in this process, the client ends in a child it
 * forks, each side on its own loop of the backend under test.  Two
 * processes, because RLIMIT_NOFILE is per process: N connections cost
 * each side N descriptors, where one process would need 2 x N, and the
 * hard limit can only be raised with CAP_SYS_RESOURCE, which containers
 * often drop.  It also puts the two loops on two CPUs, each one thread
 * with an operation pending on nearly every one of its descriptors: what
 * a busy server looks like, and more than an io_uring ring of 256 entries
 * or an epoll wait of 256 events takes in one go.
 *
 * Everything goes through the library: accepts stay posted on the
 * listener (several at once, each rearmed), the clients connect with
 * xev_connect from non-blocking sockets, the data moves with
 * xev_send/xev_recv, each end of a connection is closed with xev_close.
 * Both loops tick every 10 ms, so that a lost completion fails a check
 * after a bounded wait rather than hanging the test.  Connects are
 * started at most a window ahead of the accepts (the server publishes its
 * count): a SYN that finds the accept queue full, which somaxconn caps,
 * is dropped and retried a second later, which would measure the kernel's
 * retransmit timer, not the loop.
 *
 * Once every client is connected, each sends one message per round, of a
 * length and content that depend on its id and on the round (so a byte
 * that went to the wrong connection or came back from an old round
 * shows), and starts the next round once the whole echo came back.  The
 * server echoes whatever it reads, into a buffer shorter than the longest
 * message, and TCP may cut the stream anywhere: both ends see short reads
 * and must resume them.  When the time is up each client closes after its
 * round, and the server closes its end on end of file.
 *
 * What must hold: every connection is established and all of them are
 * open at the same moment (the peak of open ends is N on both sides);
 * every echoed byte equals what was sent (0 wrong) and the server read
 * and wrote exactly what the clients sent and got back; every connection
 * made at least one round trip; every end is closed through the loop;
 * after xev_loop_deinit each process has exactly the descriptors it had
 * before.
 *
 * The soft RLIMIT_NOFILE is raised as far as needed (the hard one too,
 * where allowed); when N does not fit, the test runs with the N that
 * does and says so in its check names.
 *
 * XEV_STRESS=full (make stress): 10,000 connections echoing for 5 s.
 * The default, for make check: 1,000 connections for 1 s.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include "config.h"
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif

#include "../tap.h"
#include "../net.h"

#define PER_BACKEND 7
#define MSGMAX 300    /* longest message; lengths run 1..MSGMAX */
#define SRVBUF 97     /* the server reads less than a long message */
#define ACCEPTORS 64  /* accepts kept posted on the listener */
#define FD_SLACK 64   /* descriptors besides the connections, per process */
/* Limits for a run that went wrong; a good one takes a fraction. */
#define CONNECT_MS 10000
#define CLOSE_MS 5000
#define LINGER_MS 2000 /* for the server's last ends once the client left */

/* The first failure of a side, for a diag line. */
struct failures {
	int count, first;
	char op[48];
};

static void fail(struct failures *f, const char *op, int result)
{
	if (f->count++ == 0) {
		f->first = result;
		snprintf(f->op, sizeof f->op, "%s", op);
	}
}

/* What the two processes tell each other, in a shared mapping. */
struct report {
	atomic_int accepted; /* server -> client: paces the connects */
	atomic_int done;     /* the client filled in what follows */
	int connected, peak, closed, leftovers, fds_before, fds_after;
	long long rounds, sent, rcvd, wrong;
	long min_rounds, max_rounds;
	int64_t connect_ms, echo_ms, close_ms;
	struct failures fail;
};

static int nconn, echo_ms, window;
static const char *scale_note = "";

/* ---- the messages --------------------------------------------------- */

static uint32_t mix(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352dU;
	x ^= x >> 15;
	x *= 0x846ca68bU;
	x ^= x >> 16;
	return x;
}

struct clients;

struct cli {
	struct clients *cs;
	uint32_t id, seq;
	int fd;
	uint32_t len, sent, rcvd;
	unsigned char connected, send_done, closed, broken;
	long rounds;
	xev_completion cconn, csend, crecv, cclose;
	unsigned char tbuf[MSGMAX], rbuf[MSGMAX];
};

/* Round seq of client id: its length, and its bytes in k->tbuf. */
static void make_message(struct cli *k)
{
	uint32_t s = mix(k->id * 0x9e3779b9U ^ mix(k->seq + 0x632be5abU)) | 1;

	k->len = 1 + mix(k->id + k->seq * 0x85ebca6bU) % MSGMAX;
	for (uint32_t i = 0; i < k->len; i++) {
		s ^= s << 13;
		s ^= s >> 17;
		s ^= s << 5;
		k->tbuf[i] = (unsigned char)(s >> 11);
	}
	k->sent = k->rcvd = 0;
	k->send_done = 0;
}

/* ---- the client process --------------------------------------------- */

struct clients {
	xev_loop *loop;
	struct report *rep;
	struct sockaddr_in la;
	int n, stopping;
	int started, connect_results, connected, open, peak, finished, closed;
	long long rounds, sent, rcvd, wrong;
	struct failures fail;
	struct cli *cli;
};

static xev_cb_action cli_send_cb(xev_loop *l, xev_completion *c, int result, void *ud);
static xev_cb_action cli_recv_cb(xev_loop *l, xev_completion *c, int result, void *ud);

/* A client whose operation failed takes no further part; what it still
 * has pending is reclaimed by xev_loop_deinit, its fd closed after. */
static void cli_break(struct cli *k, const char *op, int result)
{
	fail(&k->cs->fail, op, result);
	if (k->broken)
		return;
	k->broken = 1;
	if (k->connected)
		k->cs->open--;
	k->cs->finished++;
}

static xev_cb_action cli_close_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct cli *k = ud;
	(void)l, (void)c;
	if (result != 0) {
		cli_break(k, "client xev_close", result);
		return XEV_DISARM;
	}
	k->closed = 1;
	k->cs->closed++;
	k->cs->open--;
	k->cs->finished++;
	return XEV_DISARM;
}

static void cli_round(xev_loop *l, struct cli *k)
{
	make_message(k);
	xev_send(l, &k->csend, k->fd, k->tbuf, k->len, 0, k, cli_send_cb);
	xev_recv(l, &k->crecv, k->fd, k->rbuf, k->len, 0, k, cli_recv_cb);
}

/* The round is over once the whole message went out and the whole echo
 * came back, in whichever order the two callbacks run. */
static void cli_maybe_next(xev_loop *l, struct cli *k)
{
	if (!k->send_done || k->rcvd < k->len)
		return;
	k->rounds++;
	k->cs->rounds++;
	if (k->cs->stopping) {
		xev_close(l, &k->cclose, k->fd, k, cli_close_cb);
		return;
	}
	k->seq++;
	cli_round(l, k);
}

static xev_cb_action cli_send_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct cli *k = ud;
	if (k->broken)
		return XEV_DISARM;
	if (result <= 0) {
		cli_break(k, "client xev_send", result);
		return XEV_DISARM;
	}
	k->sent += (uint32_t)result;
	k->cs->sent += result;
	if (k->sent < k->len) {
		/* A short send: the rest is a new operation, not a rearm. */
		xev_send(l, c, k->fd, k->tbuf + k->sent, k->len - k->sent, 0, k, cli_send_cb);
		return XEV_DISARM;
	}
	k->send_done = 1;
	cli_maybe_next(l, k);
	return XEV_DISARM;
}

static xev_cb_action cli_recv_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct cli *k = ud;
	if (k->broken)
		return XEV_DISARM;
	if (result <= 0) {
		/* 0: the server hung up in the middle of a round. */
		cli_break(k, "client xev_recv", result == 0 ? -EPIPE : result);
		return XEV_DISARM;
	}
	if ((uint32_t)result > k->len - k->rcvd) {
		cli_break(k, "client xev_recv, more than asked for", result);
		return XEV_DISARM;
	}
	for (uint32_t i = k->rcvd; i < k->rcvd + (uint32_t)result; i++)
		k->cs->wrong += k->rbuf[i] != k->tbuf[i];
	k->rcvd += (uint32_t)result;
	k->cs->rcvd += result;
	if (k->rcvd < k->len) {
		xev_recv(l, c, k->fd, k->rbuf + k->rcvd, k->len - k->rcvd, 0, k, cli_recv_cb);
		return XEV_DISARM;
	}
	cli_maybe_next(l, k);
	return XEV_DISARM;
}

static xev_cb_action cli_connect_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct cli *k = ud;
	struct clients *cs = k->cs;
	(void)l, (void)c;
	cs->connect_results++;
	if (result != 0) {
		cli_break(k, "xev_connect", result);
		return XEV_DISARM;
	}
	k->connected = 1;
	cs->connected++;
	if (++cs->open > cs->peak)
		cs->peak = cs->open;
	return XEV_DISARM;
}

/* Starts connects while the window allows; they go out on the next tick. */
static void start_connects(struct clients *cs)
{
	while (cs->started < cs->n && cs->started - atomic_load(&cs->rep->accepted) < window) {
		struct cli *k = &cs->cli[cs->started++];
		k->fd = socket(AF_INET, SOCK_STREAM, 0);
		if (k->fd >= 0)
			tap_fd_flags(k->fd, 1);
		if (k->fd < 0) {
			cs->connect_results++;
			cli_break(k, "socket", -errno);
			continue;
		}
		xev_connect(cs->loop, &k->cconn, k->fd, (struct sockaddr *)&cs->la, sizeof cs->la, k,
			    cli_connect_cb);
	}
}

/* The child: connects, echoes, closes, reports in rep; never returns. */
static void client_process(xev_backend b, const struct sockaddr_in *la, struct report *rep)
{
	struct clients *cs = calloc(1, sizeof *cs);
	struct tl t;
	int64_t t0, t_conn, t_stop;
	const char *s = getenv("XEV_TEST_TIMEOUT");

#ifdef PR_SET_PDEATHSIG
	prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
	/* The parent's watchdog is not inherited. */
	alarm(s ? (unsigned)atoi(s) : 120);
	if (!cs || !(cs->cli = calloc((size_t)nconn, sizeof *cs->cli)))
		_exit(3);
	cs->rep = rep;
	cs->la = *la;
	cs->n = nconn;
	for (int i = 0; i < nconn; i++) {
		cs->cli[i].cs = cs;
		cs->cli[i].id = (uint32_t)i;
		cs->cli[i].fd = -1;
	}
	/* A first loop makes what a backend keeps for the whole process (a
	 * forked child's libkqueue sets up its threads and descriptors
	 * again): the count starts after it. */
	tl_init(&t, b, NULL);
	tl_deinit(&t);
	rep->fds_before = tap_count_fds();
	tl_init(&t, b, NULL);
	cs->loop = &t.loop;

	t0 = mono_ms();
	while (cs->connect_results < cs->n && mono_ms() < t0 + CONNECT_MS) {
		start_connects(cs);
		xev_loop_run(&t.loop, XEV_RUN_ONCE);
	}
	/* Everyone connected (or failed): now all echo at once. */
	t_conn = mono_ms();
	for (int i = 0; i < cs->started; i++)
		if (cs->cli[i].connected && !cs->cli[i].broken)
			cli_round(&t.loop, &cs->cli[i]);
	while (mono_ms() < t_conn + echo_ms)
		xev_loop_run(&t.loop, XEV_RUN_ONCE);
	cs->stopping = 1;
	t_stop = mono_ms();
	while (cs->finished < cs->started && mono_ms() < t_stop + CLOSE_MS)
		xev_loop_run(&t.loop, XEV_RUN_ONCE);
	rep->connect_ms = t_conn - t0;
	rep->echo_ms = t_stop - t_conn;
	rep->close_ms = mono_ms() - t_stop;
	tl_deinit(&t);

	for (int i = 0; i < cs->n; i++) {
		struct cli *k = &cs->cli[i];
		if (k->fd >= 0 && !k->closed) {
			close(k->fd);
			rep->leftovers++;
		}
		if (i == 0 || k->rounds < rep->min_rounds)
			rep->min_rounds = k->rounds;
		if (k->rounds > rep->max_rounds)
			rep->max_rounds = k->rounds;
	}
	rep->fds_after = tap_count_fds();
	rep->connected = cs->connected;
	rep->peak = cs->peak;
	rep->closed = cs->closed;
	rep->rounds = cs->rounds;
	rep->sent = cs->sent;
	rep->rcvd = cs->rcvd;
	rep->wrong = cs->wrong;
	rep->fail = cs->fail;
	free(cs->cli);
	free(cs);
	atomic_store(&rep->done, 1);
	/* Not exit(): the parent's stdio and atexit handlers are its own. */
	_exit(0);
}

/* ---- the server, in this process ------------------------------------ */

struct server;

struct srv {
	struct server *sv;
	int fd;
	uint32_t have, sent;
	unsigned char closed, broken;
	xev_completion crecv, csend, cclose;
	unsigned char buf[SRVBUF];
};

struct acceptor {
	struct server *sv;
	xev_completion c, cc;
};

struct server {
	xev_loop *loop;
	struct report *rep;
	int n, accepted, extra, open, peak, finished, closed;
	long long rcvd, sent;
	struct failures fail;
	struct srv *srv;
	struct acceptor acc[ACCEPTORS];
};

static xev_cb_action srv_recv_cb(xev_loop *l, xev_completion *c, int result, void *ud);

static void srv_end(struct srv *s, int closed)
{
	s->closed = (unsigned char)closed;
	s->broken = (unsigned char)!closed;
	s->sv->closed += closed;
	s->sv->open--;
	s->sv->finished++;
}

static xev_cb_action srv_close_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct srv *s = ud;
	(void)l, (void)c;
	if (result != 0)
		fail(&s->sv->fail, "server xev_close", result);
	srv_end(s, result == 0);
	return XEV_DISARM;
}

static xev_cb_action srv_send_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct srv *s = ud;
	if (result <= 0) {
		fail(&s->sv->fail, "server xev_send", result);
		srv_end(s, 0);
		return XEV_DISARM;
	}
	s->sent += (uint32_t)result;
	s->sv->sent += result;
	if (s->sent < s->have)
		xev_send(l, c, s->fd, s->buf + s->sent, s->have - s->sent, 0, s, srv_send_cb);
	else
		xev_recv(l, &s->crecv, s->fd, s->buf, SRVBUF, 0, s, srv_recv_cb);
	return XEV_DISARM;
}

static xev_cb_action srv_recv_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct srv *s = ud;
	(void)c;
	if (result < 0) {
		fail(&s->sv->fail, "server xev_recv", result);
		srv_end(s, 0);
		return XEV_DISARM;
	}
	if (result == 0) {
		/* The client closes only after its last round. */
		xev_close(l, &s->cclose, s->fd, s, srv_close_cb);
		return XEV_DISARM;
	}
	s->sv->rcvd += result;
	s->have = (uint32_t)result;
	s->sent = 0;
	xev_send(l, &s->csend, s->fd, s->buf, s->have, 0, s, srv_send_cb);
	return XEV_DISARM;
}

static void cancel_acceptors(struct server *sv)
{
	for (int i = 0; i < ACCEPTORS; i++)
		if (xev_completion_state(&sv->acc[i].c) == XEV_COMPLETION_ACTIVE &&
		    xev_completion_state(&sv->acc[i].cc) == XEV_COMPLETION_DEAD)
			xev_cancel(sv->loop, &sv->acc[i].cc, &sv->acc[i].c, NULL, NULL);
}

static xev_cb_action accept_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct acceptor *a = ud;
	struct server *sv = a->sv;
	struct srv *s;
	(void)c;
	if (result == -ECANCELED)
		return XEV_DISARM;
	if (result < 0) {
		fail(&sv->fail, "xev_accept", result);
		return XEV_DISARM;
	}
	if (sv->accepted >= sv->n) {
		sv->extra++;
		fail(&sv->fail, "xev_accept, more connections than clients", result);
		close(result);
		return XEV_DISARM;
	}
	s = &sv->srv[sv->accepted++];
	atomic_store(&sv->rep->accepted, sv->accepted);
	s->sv = sv;
	s->fd = result;
	if (++sv->open > sv->peak)
		sv->peak = sv->open;
	xev_recv(l, &s->crecv, s->fd, s->buf, SRVBUF, 0, s, srv_recv_cb);
	if (sv->accepted < sv->n)
		return XEV_REARM;
	/* All in: the other accepts would wait for good. */
	cancel_acceptors(sv);
	return XEV_DISARM;
}

/* ---- one backend ---------------------------------------------------- */

static void run(xev_backend b, const char *bn)
{
	struct server *sv;
	struct report *rep;
	struct sockaddr_in la;
	struct tl t;
	int lfd, fds_before, fds_after, leftovers = 0, status = -1, reaped = 0;
	int64_t t0, limit;
	pid_t pid;

	rep = mmap(NULL, sizeof *rep, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rep == MAP_FAILED)
		bail("mmap failed");
	memset(rep, 0, sizeof *rep);
	atomic_init(&rep->accepted, 0);
	atomic_init(&rep->done, 0);
	fds_before = tap_count_fds();
	lfd = tcp_listener(&la, 4096);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bail("fork failed");
	if (pid == 0) {
		close(lfd);
		client_process(b, &la, rep);
	}

	/* Allocated after the fork, so that the child has nothing of ours
	 * to leak. */
	sv = calloc(1, sizeof *sv);
	if (!sv || !(sv->srv = calloc((size_t)nconn, sizeof *sv->srv)))
		bail("out of memory");
	sv->rep = rep;
	sv->n = nconn;
	for (int i = 0; i < nconn; i++)
		sv->srv[i].fd = -1;
	tl_init(&t, b, NULL);
	sv->loop = &t.loop;
	for (int i = 0; i < ACCEPTORS; i++) {
		sv->acc[i].sv = sv;
		xev_accept(&t.loop, &sv->acc[i].c, lfd, NULL, NULL, &sv->acc[i], accept_cb);
	}
	/* Serves until the client process is gone and every end it left
	 * behind is closed. */
	t0 = mono_ms();
	limit = t0 + CONNECT_MS + echo_ms + CLOSE_MS + LINGER_MS;
	while (mono_ms() < limit) {
		xev_loop_run(&t.loop, XEV_RUN_ONCE);
		if (!reaped && waitpid(pid, &status, WNOHANG) == pid) {
			reaped = 1;
			if (limit > mono_ms() + LINGER_MS)
				limit = mono_ms() + LINGER_MS;
		}
		if (reaped && sv->finished == sv->accepted)
			break;
	}
	if (!reaped) {
		diag("%s: the client process did not finish in time: killed", bn);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	cancel_acceptors(sv);
	for (int i = 0; i < 3; i++)
		xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	tl_deinit(&t);
	for (int i = 0; i < nconn; i++) {
		if (sv->srv[i].fd >= 0 && !sv->srv[i].closed) {
			close(sv->srv[i].fd);
			leftovers++;
		}
	}
	close(lfd);
	fds_after = tap_count_fds();

	diag("%s: connected in %lld ms, echoed for %lld ms, closed in %lld ms", bn, (long long)rep->connect_ms,
	     (long long)rep->echo_ms, (long long)rep->close_ms);
	if (!atomic_load(&rep->done))
		diag("%s: the client process did not report (wait status 0x%x)", bn, status);
	if (rep->fail.count)
		diag("%s: %d client operations failed; the first: %s gave %d", bn, rep->fail.count, rep->fail.op,
		     rep->fail.first);
	if (sv->fail.count)
		diag("%s: %d server operations failed; the first: %s gave %d", bn, sv->fail.count, sv->fail.op,
		     sv->fail.first);

	ok(rep->connected == nconn && sv->accepted == nconn && sv->extra == 0,
	   "%s: %d connections made through the loops (%d connected, %d accepted, in %lld ms)%s", bn, nconn,
	   rep->connected, sv->accepted, (long long)rep->connect_ms, scale_note);
	ok(rep->peak == nconn && sv->peak == nconn,
	   "%s: %d connections held at once (peak open: %d client ends, %d server ends)", bn, nconn, rep->peak,
	   sv->peak);
	ok(rep->wrong == 0 && rep->rcvd > 0 && rep->sent == rep->rcvd && sv->rcvd == rep->sent &&
		   sv->sent == rep->sent,
	   "%s: %lld round trips, %.1f MB echoed in %.1f s, %lld bytes wrong (server read %lld, wrote %lld of "
	   "%lld sent, %lld came back)",
	   bn, rep->rounds, (double)rep->rcvd / 1e6, (double)rep->echo_ms / 1000.0, rep->wrong, sv->rcvd,
	   sv->sent, rep->sent, rep->rcvd);
	ok(atomic_load(&rep->done) && rep->min_rounds >= 1,
	   "%s: every connection made at least one round trip (fewest %ld, most %ld)", bn, rep->min_rounds,
	   rep->max_rounds);
	ok(rep->fail.count == 0 && sv->fail.count == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "%s: no operation failed on either side (%d client, %d server), the client process exited 0", bn,
	   rep->fail.count, sv->fail.count);
	ok(rep->closed == nconn && sv->closed == nconn && rep->leftovers == 0 && leftovers == 0,
	   "%s: every end closed by xev_close (%d client ends, %d server ends; %d and %d left over)", bn,
	   rep->closed, sv->closed, rep->leftovers, leftovers);
	ok(atomic_load(&rep->done) && rep->fds_after == rep->fds_before && fds_after == fds_before,
	   "%s: after xev_loop_deinit each process has the fds it had before (server %d of %d, client %d of %d)",
	   bn, fds_after, fds_before, rep->fds_after, rep->fds_before);

	munmap(rep, sizeof *rep);
	free(sv->srv);
	free(sv);
}

/* ---- setup ---------------------------------------------------------- */

/* Makes room for want connections (one fd each per process); returns how
 * many fit. */
static int room_for(int want)
{
	struct rlimit rl, up;
	rlim_t need = (rlim_t)want + FD_SLACK;
	long fit;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return want;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return want;
	up = rl;
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) {
		up.rlim_cur = need;
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			diag("RLIMIT_NOFILE raised from %llu to %llu", (unsigned long long)rl.rlim_cur,
			     (unsigned long long)need);
	} else {
		/* Raising the hard limit takes CAP_SYS_RESOURCE (and need
		 * within fs.nr_open); failing that, the soft one goes up to
		 * the hard one. */
		up.rlim_cur = up.rlim_max = need;
		if (setrlimit(RLIMIT_NOFILE, &up) == 0) {
			diag("RLIMIT_NOFILE raised to %llu (the hard limit was %llu)", (unsigned long long)need,
			     (unsigned long long)rl.rlim_max);
		} else {
			up.rlim_cur = up.rlim_max = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &up);
		}
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return want;
	fit = (long)rl.rlim_cur - FD_SLACK;
	return fit > 0 ? (int)fit : 1;
}

/* The accept queue holds min(backlog, somaxconn) connections. */
static int accept_queue(void)
{
	FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
	int n = 128;
	if (f) {
		if (fscanf(f, "%d", &n) != 1 || n < 1)
			n = 128;
		fclose(f);
	}
	return n < 4096 ? n : 4096;
}

int main(void)
{
	static char note[96];
	const char *mode = getenv("XEV_STRESS");
	int full = mode && strcmp(mode, "full") == 0;
	int want = full ? 10000 : 1000;

	echo_ms = full ? 5000 : 1000;
	plan(TAP_NBACKENDS * PER_BACKEND);
	nconn = room_for(want);
	if (nconn < want) {
		diag("RLIMIT_NOFILE cannot hold %d connections: running %d", want, nconn);
		snprintf(note, sizeof note, " (scaled down from %d: RLIMIT_NOFILE)", want);
		scale_note = note;
	}
	window = accept_queue();
	if (window > 1024)
		window = 1024;
	tap_each_backend(PER_BACKEND, run);
	return done_testing();
}
