/* SPDX-License-Identifier: MIT */
/*
 * TCP on 127.0.0.1: accept (non-blocking, close-on-exec, peer address)
 * and connect (success, refused, already connected); an echo of 1 MiB
 * per client with 100 clients on one loop; accept rearmed for 1000
 * connections (and *addrlen restored); EPIPE without SIGPIPE from xev_send and xev_sendmsg with
 * SIGPIPE at its default disposition; EMFILE from accept while the loop
 * keeps serving an established connection; recv/send flags (MSG_PEEK,
 * MSG_OOB with xev_poll POLLPRI).  Every check runs on every backend.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "tap.h"
#include "net.h"

#define GLOBAL_CHECKS 0
#define PER_BACKEND 42
#define NCLI 100
#define ECHO_BYTES (1 << 20)
#define CHUNK 65536
#define NACCEPT 1000

/* A connected pair through the loop: *cfd the client, *sfd the accepted. */
static int tcp_pair(struct tl *t, int lfd, const struct sockaddr_in *a, int *cfd, int *sfd)
{
	struct tl_op oc, oa;
	int rc, fd;

	tl_op_init(&oc);
	tl_op_init(&oa);
	*cfd = tcp_socket();
	xev_accept(&t->loop, &oa.c, lfd, NULL, NULL, &oa.r, tl_rec_cb);
	xev_connect(&t->loop, &oc.c, *cfd, (const struct sockaddr *)a, sizeof *a, &oc.r, tl_rec_cb);
	rc = tl_result_of(t, &oc);
	fd = tl_result_of(t, &oa);
	*sfd = fd;
	if (rc != 0 || fd < 0) {
		diag("tcp_pair: connect %d, accept %d", rc, fd);
		return -1;
	}
	return 0;
}

static void close_pair(int a, int b)
{
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
}

/* ---- accept and connect --------------------------------------------- */

static void check_accept_connect(xev_backend b, const char *bn)
{
	struct tl t;
	struct sockaddr_in la, za, ca;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof ss, calen = sizeof ca;
	struct sockaddr_in *peer = (struct sockaddr_in *)&ss;
	struct tl_op oa, oc;
	int lfd, zfd, cfd, afd, fl, fdfl;
	char buf[8];

	tl_init(&t, b, NULL);
	lfd = tcp_listener(&la, 16);

	tl_op_init(&oa);
	tl_op_init(&oc);
	memset(&ss, 0xab, sizeof ss);
	cfd = tcp_socket();
	oc.r.rearm = 1; /* the rearm finds the socket connected */
	xev_accept(&t.loop, &oa.c, lfd, (struct sockaddr *)&ss, &sslen, &oa.r, tl_rec_cb);
	xev_connect(&t.loop, &oc.c, cfd, (struct sockaddr *)&la, sizeof la, &oc.r, tl_rec_cb);
	WAIT_FOR(&t, oc.r.calls >= 2);
	is_int(oc.r.first, 0, "%s: xev_connect to a listening socket: 0", bn);
	afd = tl_result_of(&t, &oa);
	ok(afd >= 0, "%s: xev_accept returns a new fd (%d)", bn, afd);
	fl = afd >= 0 ? fcntl(afd, F_GETFL) : -1;
	fdfl = afd >= 0 ? fcntl(afd, F_GETFD) : -1;
	ok(fl >= 0 && (fl & O_NONBLOCK), "%s: the accepted socket is non-blocking", bn);
	ok(fdfl >= 0 && (fdfl & FD_CLOEXEC), "%s: the accepted socket is close-on-exec", bn);
	is_int(sslen, sizeof(struct sockaddr_in), "%s: accept sets addrlen to sizeof(struct sockaddr_in)", bn);
	getsockname(cfd, (struct sockaddr *)&ca, &calen);
	ok(peer->sin_family == AF_INET && peer->sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
		   peer->sin_port == ca.sin_port,
	   "%s: accept fills addr with the client's address (port %d, client's %d)", bn, ntohs(peer->sin_port),
	   ntohs(ca.sin_port));
	ok(afd >= 0 && write(cfd, "hi", 2) == 2 && (sleep_ms(5), read(afd, buf, sizeof buf)) == 2,
	   "%s: the accepted socket is the client's peer", bn);

	ok(oc.r.calls == 2 && oc.r.result == -EISCONN,
	   "%s: the connect rearmed on the connected socket: -EISCONN (%d calls, %d)", bn, oc.r.calls,
	   oc.r.result);
	close_pair(cfd, afd);

	/* NULL addr and addrlen. */
	tl_op_init(&oa);
	tl_op_init(&oc);
	cfd = tcp_socket();
	xev_accept(&t.loop, &oa.c, lfd, NULL, NULL, &oa.r, tl_rec_cb);
	xev_connect(&t.loop, &oc.c, cfd, (struct sockaddr *)&la, sizeof la, &oc.r, tl_rec_cb);
	tl_result_of(&t, &oc);
	afd = tl_result_of(&t, &oa);
	ok(afd >= 0, "%s: xev_accept with NULL addr and addrlen works (%d)", bn, afd);
	close_pair(cfd, afd);

	/* A port bound but not listening refuses. */
	zfd = loopback_bound(SOCK_STREAM, &za);
	cfd = tcp_socket();
	tl_op_init(&oc);
	xev_connect(&t.loop, &oc.c, cfd, (struct sockaddr *)&za, sizeof za, &oc.r, tl_rec_cb);
	is_int(tl_result_of(&t, &oc), -ECONNREFUSED, "%s: xev_connect to a closed port: -ECONNREFUSED", bn);
	close(cfd);

	/* accept on a socket that does not listen. */
	tl_op_init(&oa);
	xev_accept(&t.loop, &oa.c, zfd, NULL, NULL, &oa.r, tl_rec_cb);
	is_int(tl_result_of(&t, &oa), -EINVAL, "%s: xev_accept on a socket that is not listening: -EINVAL", bn);
	close(zfd);

	close(lfd);
	tl_deinit(&t);
}

/* ---- echo: NCLI clients x ECHO_BYTES on one loop --------------------- */

struct echo;

struct srv {
	struct echo *e;
	int fd, closed;
	size_t have, sent;
	xev_completion cr, cw, cc;
	unsigned char buf[CHUNK];
};

struct cli {
	struct echo *e;
	int idx, fd, connected, shut, eof, closed;
	size_t sent, rcvd;
	xev_completion cconn, cw, cr, csh, ccl;
	unsigned char rbuf[CHUNK];
};

struct echo {
	int lfd;
	xev_completion ca;
	int nacc, accerr, nconn, errors, bad, srv_closed, cli_closed;
	size_t total;
	const unsigned char *pat;
	struct srv srv[NCLI];
	struct cli cli[NCLI];
};

static xev_cb_action srv_recv_cb(xev_loop *l, xev_completion *c, int result, void *ud);

static xev_cb_action srv_close_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct srv *s = ud;
	(void)l, (void)c;
	if (result != 0)
		s->e->errors++;
	s->closed = 1;
	s->e->srv_closed++;
	return XEV_DISARM;
}

static xev_cb_action srv_send_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct srv *s = ud;
	if (result <= 0) {
		s->e->errors++;
		xev_close(l, &s->cc, s->fd, s, srv_close_cb);
		return XEV_DISARM;
	}
	s->sent += (size_t)result;
	if (s->sent < s->have)
		xev_send(l, c, s->fd, s->buf + s->sent, s->have - s->sent, 0, s, srv_send_cb);
	else
		xev_recv(l, &s->cr, s->fd, s->buf, CHUNK, 0, s, srv_recv_cb);
	return XEV_DISARM;
}

static xev_cb_action srv_recv_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct srv *s = ud;
	(void)c;
	if (result > 0) {
		s->have = (size_t)result;
		s->sent = 0;
		xev_send(l, &s->cw, s->fd, s->buf, s->have, 0, s, srv_send_cb);
		return XEV_DISARM;
	}
	if (result < 0)
		s->e->errors++;
	xev_close(l, &s->cc, s->fd, s, srv_close_cb);
	return XEV_DISARM;
}

static xev_cb_action echo_accept_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct echo *e = ud;
	struct srv *s;
	(void)c;
	if (result < 0) {
		e->accerr = result;
		return XEV_DISARM;
	}
	if (e->nacc >= NCLI) {
		close(result);
		e->errors++;
		return XEV_DISARM;
	}
	s = &e->srv[e->nacc++];
	s->e = e;
	s->fd = result;
	xev_recv(l, &s->cr, s->fd, s->buf, CHUNK, 0, s, srv_recv_cb);
	return e->nacc < NCLI ? XEV_REARM : XEV_DISARM;
}

static xev_cb_action cli_close_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct cli *k = ud;
	(void)l, (void)c;
	if (result != 0)
		k->e->errors++;
	k->closed = 1;
	k->e->cli_closed++;
	return XEV_DISARM;
}

static void cli_maybe_close(xev_loop *l, struct cli *k)
{
	if (k->shut && k->eof)
		xev_close(l, &k->ccl, k->fd, k, cli_close_cb);
}

static xev_cb_action cli_shut_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct cli *k = ud;
	(void)c;
	if (result != 0)
		k->e->errors++;
	k->shut = 1;
	cli_maybe_close(l, k);
	return XEV_DISARM;
}

static xev_cb_action cli_send_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct cli *k = ud;
	if (result <= 0) {
		k->e->errors++;
		return XEV_DISARM;
	}
	k->sent += (size_t)result;
	if (k->sent < ECHO_BYTES)
		xev_send(l, c, k->fd, k->e->pat + k->idx + k->sent, ECHO_BYTES - k->sent, 0, k, cli_send_cb);
	else
		xev_shutdown(l, &k->csh, k->fd, SHUT_WR, k, cli_shut_cb);
	return XEV_DISARM;
}

static xev_cb_action cli_recv_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct cli *k = ud;
	(void)c;
	if (result > 0) {
		if (k->rcvd + (size_t)result > ECHO_BYTES ||
		    memcmp(k->rbuf, k->e->pat + k->idx + k->rcvd, (size_t)result) != 0)
			k->e->bad++;
		k->rcvd += (size_t)result;
		k->e->total += (size_t)result;
		return XEV_REARM;
	}
	if (result < 0)
		k->e->errors++;
	k->eof = result == 0 ? 1 : -1;
	cli_maybe_close(l, k);
	return XEV_DISARM;
}

static xev_cb_action cli_connect_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct cli *k = ud;
	(void)c;
	if (result != 0) {
		k->e->errors++;
		return XEV_DISARM;
	}
	k->connected = 1;
	k->e->nconn++;
	xev_send(l, &k->cw, k->fd, k->e->pat + k->idx, ECHO_BYTES, 0, k, cli_send_cb);
	xev_recv(l, &k->cr, k->fd, k->rbuf, CHUNK, 0, k, cli_recv_cb);
	return XEV_DISARM;
}

static void check_echo(xev_backend b, const char *bn, const unsigned char *pat)
{
	struct tl t;
	struct sockaddr_in la;
	struct echo *e = calloc(1, sizeof *e);
	int64_t t0;
	int ends_ok = 1;

	if (!e)
		bail("out of memory");
	tl_init(&t, b, NULL);
	e->pat = pat;
	e->lfd = tcp_listener(&la, 128);
	xev_accept(&t.loop, &e->ca, e->lfd, NULL, NULL, e, echo_accept_cb);
	for (int i = 0; i < NCLI; i++) {
		struct cli *k = &e->cli[i];
		k->e = e;
		k->idx = i;
		k->fd = tcp_socket();
		xev_connect(&t.loop, &k->cconn, k->fd, (struct sockaddr *)&la, sizeof la, k, cli_connect_cb);
	}
	t0 = mono_ms();
	WAIT_FOR_MS(&t, (e->cli_closed == NCLI && e->srv_closed == NCLI) || e->accerr, 30000);
	diag("%s: echo of %d x %d bytes took %lld ms", bn, NCLI, ECHO_BYTES, (long long)(mono_ms() - t0));
	is_int(e->nacc, NCLI, "%s: echo: %d connections accepted (rearmed accept)", bn, NCLI);
	is_int(e->nconn, NCLI, "%s: echo: %d clients connected", bn, NCLI);
	is_int(e->total, (long long)NCLI * ECHO_BYTES, "%s: echo: %d x 1 MiB came back", bn, NCLI);
	is_int(e->bad, 0, "%s: echo: every chunk came back unchanged and in order", bn);
	is_int(e->errors + (e->accerr != 0), 0, "%s: echo: no operation failed", bn);
	for (int i = 0; i < NCLI; i++)
		if (e->cli[i].eof != 1 || e->cli[i].rcvd != ECHO_BYTES || !e->cli[i].closed)
			ends_ok = 0;
	ok(ends_ok && e->srv_closed == NCLI,
	   "%s: echo: each client read its whole 1 MiB, then end of file; all %d fds closed by xev_close", bn,
	   2 * NCLI);
	tl_deinit(&t);
	/* What the loop did not close (on failure). */
	for (int i = 0; i < NCLI; i++) {
		if (!e->cli[i].closed)
			close(e->cli[i].fd);
		if (i < e->nacc && !e->srv[i].closed)
			close(e->srv[i].fd);
	}
	close(e->lfd);
	free(e);
}

/* ---- accept rearm: NACCEPT connections -------------------------------- */

/* Clients are non-blocking connects on the same loop, INFLIGHT at a time;
 * each closes its socket as soon as it is connected and starts the next
 * (so fd numbers are reused under the loop's feet, as servers see). */
#define INFLIGHT 64

struct many;

struct slot {
	struct many *m;
	int fd;
	xev_completion c;
};

struct many {
	struct sockaddr_in la, addr;
	socklen_t len;
	int n, err, extra, addr_bad, started, connected, cerr;
	int fds[NACCEPT];
	struct slot slots[INFLIGHT];
};

static xev_cb_action many_connect_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct slot *s = ud;
	struct many *m = s->m;
	if (result == 0)
		m->connected++;
	else
		m->cerr++;
	close(s->fd);
	s->fd = -1;
	if (m->started < NACCEPT) {
		m->started++;
		s->fd = tcp_socket();
		xev_connect(l, c, s->fd, (struct sockaddr *)&m->la, sizeof m->la, s, many_connect_cb);
	}
	return XEV_DISARM;
}

static xev_cb_action many_accept_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct many *m = ud;
	(void)l, (void)c;
	if (result < 0) {
		m->err = result;
		return XEV_DISARM;
	}
	if (m->n >= NACCEPT) {
		m->extra++;
		close(result);
		return XEV_DISARM;
	}
	m->fds[m->n++] = result;
	if (m->len != sizeof m->addr || m->addr.sin_family != AF_INET || m->addr.sin_port == 0 ||
	    m->addr.sin_addr.s_addr != htonl(INADDR_LOOPBACK))
		m->addr_bad++;
	/* As a shorter address would leave them: the rearm restores *addrlen. */
	memset(&m->addr, 0, sizeof m->addr);
	m->len = 0;
	return m->n < NACCEPT ? XEV_REARM : XEV_DISARM;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static void check_accept_many(xev_backend b, const char *bn)
{
	struct tl t;
	struct many *m = calloc(1, sizeof *m);
	int lfd, distinct = 1, nonblock = 0;
	xev_completion ca;

	if (!m)
		bail("out of memory");
	tl_init(&t, b, NULL);
	lfd = tcp_listener(&m->la, NACCEPT + 24);
	m->len = sizeof m->addr;
	xev_accept(&t.loop, &ca, lfd, (struct sockaddr *)&m->addr, &m->len, m, many_accept_cb);
	for (int i = 0; i < INFLIGHT; i++) {
		struct slot *s = &m->slots[i];
		s->m = m;
		m->started++;
		s->fd = tcp_socket();
		xev_connect(&t.loop, &s->c, s->fd, (struct sockaddr *)&m->la, sizeof m->la, s, many_connect_cb);
	}
	WAIT_FOR_MS(&t, (m->n >= NACCEPT && m->connected + m->cerr >= NACCEPT) || m->err, 20000);
	is_int(m->connected, NACCEPT, "%s: %d non-blocking connects succeed (%d failed)", bn, NACCEPT, m->cerr);
	is_int(m->n, NACCEPT, "%s: a rearmed accept accepted %d connections (err %d)", bn, NACCEPT, m->err);
	ok(m->n > 0 && m->addr_bad == 0,
	   "%s: accept rearm restores *addrlen: each got a 16-byte 127.0.0.1 peer address (%d bad)", bn,
	   m->addr_bad);
	for (int i = 0; i < m->n; i++)
		if (fcntl(m->fds[i], F_GETFL) & O_NONBLOCK)
			nonblock++;
	qsort(m->fds, (size_t)m->n, sizeof m->fds[0], cmp_int);
	for (int i = 0; i < m->n; i++)
		if (m->fds[i] < 0 || (i > 0 && m->fds[i] == m->fds[i - 1]))
			distinct = 0;
	ok(distinct && nonblock == m->n && m->extra == 0,
	   "%s: the %d accepted fds are distinct, open and non-blocking (%d non-blocking)", bn, m->n, nonblock);
	tl_deinit(&t);
	for (int i = 0; i < m->n; i++)
		close(m->fds[i]);
	for (int i = 0; i < INFLIGHT; i++)
		if (m->slots[i].fd >= 0)
			close(m->slots[i].fd);
	close(lfd);
	free(m);
}

/* ---- EPIPE without SIGPIPE ------------------------------------------- */

/* Sends until the send fails (the first ones may still be accepted while
 * the peer's RST is on its way); returns the error and counts sends. */
static int send_until_error(struct tl *t, int fd, int use_msg, int *sends)
{
	static const char data[] = "data for a peer that went away";
	struct iovec iov = { (void *)data, sizeof data };
	struct msghdr msg;
	struct tl_op o;

	msg_init(&msg, &iov, iov.iov_base, iov.iov_len, NULL, 0);
	*sends = 0;
	for (int i = 0; i < 100; i++) {
		int r;
		tl_op_init(&o);
		if (use_msg)
			xev_sendmsg(&t->loop, &o.c, fd, &msg, 0, &o.r, tl_rec_cb);
		else
			xev_send(&t->loop, &o.c, fd, data, sizeof data, 0, &o.r, tl_rec_cb);
		r = tl_result_of(t, &o);
		(*sends)++;
		if (r < 0)
			return r;
		sleep_ms(1);
	}
	return 0;
}

static void check_epipe(xev_backend b, const char *bn)
{
	struct tl t;
	struct sockaddr_in la;
	int lfd, cfd, sfd, r, sends;
	struct sigaction sa;
	sigset_t pend;
	struct tl_op o;
	struct iovec iov = { (void *)"x", 1 };
	struct msghdr msg;

	tl_init(&t, b, NULL);
	lfd = tcp_listener(&la, 16);

	for (int use_msg = 0; use_msg < 2; use_msg++) {
		const char *fn = use_msg ? "xev_sendmsg" : "xev_send";

		/* The peer shuts down and closes. */
		if (tcp_pair(&t, lfd, &la, &cfd, &sfd) == 0) {
			shutdown(sfd, SHUT_RDWR);
			close(sfd);
			sfd = -1;
			r = send_until_error(&t, cfd, use_msg, &sends);
			ok(r == -EPIPE || r == -ECONNRESET,
			   "%s: %s to a peer that closed: -EPIPE or -ECONNRESET (got %d after %d sends)", bn, fn, r,
			   sends);
		} else {
			ok(0, "%s: %s to a peer that closed: no connection", bn, fn);
		}
		close_pair(cfd, sfd);

		/* Our own write side shut down: EPIPE at once. */
		if (tcp_pair(&t, lfd, &la, &cfd, &sfd) == 0) {
			shutdown(cfd, SHUT_WR);
			tl_op_init(&o);
			msg_init(&msg, &iov, iov.iov_base, iov.iov_len, NULL, 0);
			if (use_msg)
				xev_sendmsg(&t.loop, &o.c, cfd, &msg, 0, &o.r, tl_rec_cb);
			else
				xev_send(&t.loop, &o.c, cfd, "x", 1, 0, &o.r, tl_rec_cb);
			is_int(tl_result_of(&t, &o), -EPIPE, "%s: %s after shutdown(SHUT_WR): -EPIPE", bn, fn);
		} else {
			ok(0, "%s: %s after shutdown(SHUT_WR): no connection", bn, fn);
		}
		close_pair(cfd, sfd);
	}
	/* Still alive, SIGPIPE still at its default, none pending. */
	sigaction(SIGPIPE, NULL, &sa);
	sigpending(&pend);
	ok(sa.sa_handler == SIG_DFL && !sigismember(&pend, SIGPIPE),
	   "%s: the process survived with SIGPIPE at SIG_DFL, and no SIGPIPE is pending", bn);
	close(lfd);
	tl_deinit(&t);
}

/* ---- EMFILE during accept -------------------------------------------- */

static int under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");
	return p && strstr(p, "vgpreload") != NULL;
}

struct echo1 {
	xev_completion cs;
	int fd;
	char buf[64];
	int calls, result;
};

/* Server side of the established connection: echoes what it reads. */
static xev_cb_action echo1_srv_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct echo1 *s = ud;
	(void)c;
	s->calls++;
	s->result = result;
	if (result > 0)
		xev_send(l, &s->cs, s->fd, s->buf, (size_t)result, 0, NULL, NULL);
	return XEV_DISARM;
}

static void check_emfile(xev_backend b, const char *bn)
{
	static const char ping[] = "ping during EMFILE";
	struct tl t;
	struct sockaddr_in la;
	struct rlimit old, low;
	struct tl_op oa, oc, os, orc;
	struct echo1 srv;
	char rbuf[64];
	int lfd, c1, s1, c2, probe, afd = -1;
	xev_completion csrv;

	if (under_valgrind()) {
		/* Valgrind keeps its own RLIMIT_NOFILE: the kernel (io_uring's
		 * accept) never sees the lowered limit. */
		skip(8, "valgrind virtualises RLIMIT_NOFILE");
		return;
	}
	tl_init(&t, b, NULL);
	lfd = tcp_listener(&la, 16);
	if (tcp_pair(&t, lfd, &la, &c1, &s1) < 0) {
		close_pair(c1, s1);
		close(lfd);
		tl_deinit(&t);
		skip(8, "no connection for the EMFILE test");
		return;
	}
	c2 = tcp_socket();

	/* Every descriptor number below the limit is in use. */
	probe = dup(1);
	close(probe);
	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = (rlim_t)probe;
	if (probe < 0 || setrlimit(RLIMIT_NOFILE, &low) < 0) {
		close_pair(c1, s1);
		close(c2);
		close(lfd);
		tl_deinit(&t);
		skip(8, "cannot lower RLIMIT_NOFILE");
		return;
	}

	/* A pending connection, an accept that cannot get an fd, and an echo
	 * on the established connection, all in the same ticks. */
	tl_op_init(&oa);
	tl_op_init(&oc);
	tl_op_init(&os);
	tl_op_init(&orc);
	memset(&srv, 0, sizeof srv);
	srv.fd = s1;
	memset(rbuf, 0, sizeof rbuf);
	xev_connect(&t.loop, &oc.c, c2, (struct sockaddr *)&la, sizeof la, &oc.r, tl_rec_cb);
	xev_accept(&t.loop, &oa.c, lfd, NULL, NULL, &oa.r, tl_rec_cb);
	xev_recv(&t.loop, &csrv, s1, srv.buf, sizeof srv.buf, 0, &srv, echo1_srv_cb);
	xev_send(&t.loop, &os.c, c1, ping, sizeof ping, 0, &os.r, tl_rec_cb);
	xev_recv(&t.loop, &orc.c, c1, rbuf, sizeof rbuf, 0, &orc.r, tl_rec_cb);
	is_int(tl_result_of(&t, &oc), 0, "%s: EMFILE: connect to the listener still succeeds", bn);
	afd = tl_result_of(&t, &oa);
	is_int(afd, -EMFILE, "%s: EMFILE: xev_accept with no descriptor left: -EMFILE", bn);
	is_int(tl_result_of(&t, &os), (int)sizeof ping, "%s: EMFILE: the established connection still sends", bn);
	is_int(tl_result_of(&t, &orc), (int)sizeof ping, "%s: EMFILE: and its echo comes back through the loop", bn);
	ok(srv.calls == 1 && memcmp(rbuf, ping, sizeof ping) == 0, "%s: EMFILE: the echo is intact", bn);
	if (afd >= 0)
		close(afd);

	/* Room again: the pending connection is accepted. */
	setrlimit(RLIMIT_NOFILE, &old);
	tl_op_init(&oa);
	xev_accept(&t.loop, &oa.c, lfd, NULL, NULL, &oa.r, tl_rec_cb);
	afd = tl_result_of(&t, &oa);
	ok(afd >= 0, "%s: EMFILE: with the limit raised again, accept works (%d)", bn, afd);
	ok(afd >= 0 && write(c2, "z", 1) == 1 && (sleep_ms(5), read(afd, rbuf, 1)) == 1 && rbuf[0] == 'z',
	   "%s: EMFILE: the connection accepted afterwards is the one that waited", bn);
	/* And the established one still echoes. */
	tl_op_init(&os);
	tl_op_init(&orc);
	memset(rbuf, 0, sizeof rbuf);
	xev_recv(&t.loop, &csrv, s1, srv.buf, sizeof srv.buf, 0, &srv, echo1_srv_cb);
	xev_send(&t.loop, &os.c, c1, "again", 5, 0, &os.r, tl_rec_cb);
	xev_recv(&t.loop, &orc.c, c1, rbuf, sizeof rbuf, 0, &orc.r, tl_rec_cb);
	ok(tl_result_of(&t, &orc) == 5 && memcmp(rbuf, "again", 5) == 0,
	   "%s: EMFILE: after it, the first connection still echoes", bn);
	if (afd >= 0)
		close(afd);
	close_pair(c1, s1);
	close(c2);
	close(lfd);
	tl_deinit(&t);
}

/* ---- flags ------------------------------------------------------------ */

static void check_flags(xev_backend b, const char *bn)
{
	struct tl t;
	struct sockaddr_in la;
	struct tl_op o, o2;
	char buf[64], oob = 0;
	int lfd, cfd, sfd, r;

	tl_init(&t, b, NULL);
	lfd = tcp_listener(&la, 16);
	if (tcp_pair(&t, lfd, &la, &cfd, &sfd) < 0) {
		close_pair(cfd, sfd);
		close(lfd);
		tl_deinit(&t);
		skip(7, "no connection for the flags test");
		return;
	}
	tl_op_init(&o);
	xev_send(&t.loop, &o.c, cfd, "peekdata", 8, 0, &o.r, tl_rec_cb);
	is_int(tl_result_of(&t, &o), 8, "%s: xev_send of 8 bytes", bn);
	tl_op_init(&o);
	memset(buf, 0, sizeof buf);
	xev_recv(&t.loop, &o.c, sfd, buf, 4, MSG_PEEK, &o.r, tl_rec_cb);
	r = tl_result_of(&t, &o);
	ok(r == 4 && memcmp(buf, "peek", 4) == 0, "%s: xev_recv MSG_PEEK of 4: \"peek\" (%d)", bn, r);
	tl_op_init(&o);
	memset(buf, 0, sizeof buf);
	xev_recv(&t.loop, &o.c, sfd, buf, sizeof buf, 0, &o.r, tl_rec_cb);
	r = tl_result_of(&t, &o);
	is_int(r, 8, "%s: MSG_PEEK left the data: the next xev_recv gets all 8 bytes", bn);
	ok(memcmp(buf, "peekdata", 8) == 0, "%s: ... and they are \"peekdata\"", bn);

	/* Urgent data: xev_send MSG_OOB, then xev_poll POLLPRI.  (The poll is
	 * queued after the byte is there: an io_uring poll for POLLPRI armed
	 * before TCP urgent data arrives is never woken, a kernel matter.) */
	tl_op_init(&o);
	tl_op_init(&o2);
	xev_send(&t.loop, &o.c, cfd, "!", 1, MSG_OOB, &o.r, tl_rec_cb);
	is_int(tl_result_of(&t, &o), 1, "%s: xev_send MSG_OOB of 1 byte", bn);
	sleep_ms(5);
	xev_poll(&t.loop, &o2.c, sfd, POLLPRI, &o2.r, tl_rec_cb);
	r = tl_result_of(&t, &o2);
	if (tap_caps(b) & XEV__CAP_POLL_URGENT)
		ok(r > 0 && (r & POLLPRI), "%s: xev_poll POLLPRI reports the urgent byte (revents %#x)", bn,
		   (unsigned)r);
	else
		is_int(r, -EOPNOTSUPP, "%s: xev_poll POLLPRI alone, which this backend cannot wait for: -EOPNOTSUPP",
		       bn);
	ok(recv(sfd, &oob, 1, MSG_OOB) == 1 && oob == '!', "%s: the byte was sent out of band", bn);

	close_pair(cfd, sfd);
	close(lfd);
	tl_deinit(&t);
}

/* Set up once by main: the bytes the echo clients send, and whether
 * RLIMIT_NOFILE leaves room for NACCEPT connections. */
static unsigned char *echo_pat;
static int many_ok;

static void check_backend(xev_backend b, const char *bn)
{
	int fds0 = tap_count_fds();
	int64_t t0 = mono_ms();

	check_accept_connect(b, bn);
	check_echo(b, bn, echo_pat);
	if (many_ok)
		check_accept_many(b, bn);
	else
		skip(4, "RLIMIT_NOFILE too low for 1000 connections");
	check_epipe(b, bn);
	check_emfile(b, bn);
	check_flags(b, bn);
	is_int(tap_count_fds(), fds0, "%s: no fd leaked", bn);
	diag("%s: %lld ms", bn, (long long)(mono_ms() - t0));
}

int main(void)
{
	struct rlimit rl;
	sigset_t set;
	uint32_t x = 2463534242u;

	plan(GLOBAL_CHECKS + TAP_NBACKENDS * PER_BACKEND);

	/* SIGPIPE at its default disposition, unblocked: a send that raised
	 * it would kill this test. */
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_UNBLOCK, &set, NULL);

	/* Room for NACCEPT accepted sockets. */
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < 4096 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	many_ok = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= NACCEPT + 100;

	echo_pat = malloc(ECHO_BYTES + NCLI);
	if (!echo_pat)
		bail("out of memory");
	for (size_t i = 0; i < ECHO_BYTES + NCLI; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		echo_pat[i] = (unsigned char)x;
	}

	tap_each_backend(PER_BACKEND, check_backend);
	free(echo_pat);
	return done_testing();
}
