/* SPDX-License-Identifier: MIT */
/*
 * UDP on 127.0.0.1: xev_sendmsg/xev_recvmsg with source addresses,
 * recvmsg rearm with one msghdr (msg_namelen and msg_controllen restored:
 * several datagrams from two senders, IP_PKTINFO each time), MSG_TRUNC
 * in msg_flags and as a recv flag, the same restore on an AF_UNIX
 * datagram socket whose senders have addresses of different lengths
 * (none, then a name),
 * xev_recv/xev_send on connected sockets (with ECONNREFUSED), a recv
 * waiting while an ICMP error sits on the error queue (no busy loop),
 * xev_poll on a UDP socket.  Every check runs on every backend.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "tap.h"
#include "net.h"

#define GLOBAL_CHECKS 0
#define PER_BACKEND 37
#define NDGRAMS 6

static int same_addr(const struct sockaddr_in *x, const struct sockaddr_in *y)
{
	return x->sin_family == AF_INET && y->sin_family == AF_INET && x->sin_port == y->sin_port &&
	       x->sin_addr.s_addr == y->sin_addr.s_addr;
}

/* ---- sendmsg/recvmsg with source addresses -------------------------- */

static void check_msg(xev_backend b, const char *bn)
{
	struct tl t;
	struct sockaddr_in ra, aa;
	struct sockaddr_storage from;
	struct iovec siov = { (void *)"hello, udp", 10 }, riov;
	struct msghdr smsg, rmsg;
	struct tl_op os, orv;
	char buf[64];
	int rfd, afd, r;

	tl_init(&t, b, NULL);
	rfd = loopback_bound(SOCK_DGRAM, &ra);
	afd = loopback_bound(SOCK_DGRAM, &aa);

	msg_init(&smsg, &siov, siov.iov_base, siov.iov_len, &ra, sizeof ra);
	memset(&from, 0, sizeof from);
	memset(buf, 0, sizeof buf);
	msg_init(&rmsg, &riov, buf, sizeof buf, &from, sizeof from);
	tl_op_init(&os);
	tl_op_init(&orv);
	xev_recvmsg(&t.loop, &orv.c, rfd, &rmsg, 0, &orv.r, tl_rec_cb);
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	ok(orv.r.calls == 0 && xev_completion_state(&orv.c) == XEV_COMPLETION_ACTIVE,
	   "%s: xev_recvmsg waits for a datagram", bn);
	xev_sendmsg(&t.loop, &os.c, afd, &smsg, 0, &os.r, tl_rec_cb);
	is_int(tl_result_of(&t, &os), 10, "%s: xev_sendmsg of a 10-byte datagram to msg_name: 10", bn);
	r = tl_result_of(&t, &orv);
	is_int(r, 10, "%s: xev_recvmsg receives the 10 bytes", bn);
	ok(memcmp(buf, "hello, udp", 10) == 0, "%s: ... and they are the ones sent", bn);
	is_int(rmsg.msg_namelen, sizeof(struct sockaddr_in), "%s: xev_recvmsg sets msg_namelen to 16", bn);
	ok(same_addr((struct sockaddr_in *)&from, &aa),
	   "%s: xev_recvmsg fills msg_name with the sender's address and port (%d, sender %d)", bn,
	   ntohs(((struct sockaddr_in *)&from)->sin_port), ntohs(aa.sin_port));

	/* NULL msghdr. */
	tl_op_init(&orv);
	xev_recvmsg(&t.loop, &orv.c, rfd, NULL, 0, &orv.r, tl_rec_cb);
	is_int(tl_result_of(&t, &orv), -EFAULT, "%s: xev_recvmsg with a NULL msghdr: -EFAULT", bn);
	tl_op_init(&os);
	xev_sendmsg(&t.loop, &os.c, afd, NULL, 0, &os.r, tl_rec_cb);
	is_int(tl_result_of(&t, &os), -EFAULT, "%s: xev_sendmsg with a NULL msghdr: -EFAULT", bn);

	/* An address the kernel refuses, then a good one again (io_uring:
	 * the first goes as a send with an address, is refused, and is
	 * tried again as a sendmsg; the next is a sendmsg). */
	smsg.msg_namelen = 1;
	tl_op_init(&os);
	xev_sendmsg(&t.loop, &os.c, afd, &smsg, 0, &os.r, tl_rec_cb);
	is_int(tl_result_of(&t, &os), -EINVAL, "%s: xev_sendmsg to a 1-byte address: -EINVAL", bn);
	smsg.msg_namelen = sizeof ra;
	tl_op_init(&os);
	tl_op_init(&orv);
	xev_recvmsg(&t.loop, &orv.c, rfd, &rmsg, 0, &orv.r, tl_rec_cb);
	xev_sendmsg(&t.loop, &os.c, afd, &smsg, 0, &os.r, tl_rec_cb);
	ok(tl_result_of(&t, &os) == 10 && tl_result_of(&t, &orv) == 10,
	   "%s: and then to a good one: sent and received, 10 bytes", bn);

	close(rfd);
	close(afd);
	tl_deinit(&t);
}

/* ---- recvmsg rearm: two senders, one msghdr -------------------------- */

struct rearm_rx {
	struct msghdr msg;
	struct iovec iov;
	struct sockaddr_storage from;
	union {
		char buf[256];
		size_t align; /* cmsghdr alignment */
	} ctl;
	char data[32];
	int n, err;
	int port[NDGRAMS], namelen[NDGRAMS], pktinfo[NDGRAMS], trunc[NDGRAMS], len[NDGRAMS];
	char payload[NDGRAMS][4];
};

static xev_cb_action rearm_rx_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct rearm_rx *x = ud;
	struct cmsghdr *cm;
	int i = x->n;
	(void)l, (void)c;
	if (result < 0 || i >= NDGRAMS) {
		x->err = result < 0 ? result : -1;
		return XEV_DISARM;
	}
	x->len[i] = result;
	x->namelen[i] = (int)x->msg.msg_namelen;
	x->port[i] = ntohs(((struct sockaddr_in *)&x->from)->sin_port);
	memcpy(x->payload[i], x->data, 3);
	x->trunc[i] = (x->msg.msg_flags & MSG_TRUNC) != 0;
	for (cm = CMSG_FIRSTHDR(&x->msg); cm; cm = CMSG_NXTHDR(&x->msg, cm))
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(cm), sizeof pi);
			x->pktinfo[i] = pi.ipi_addr.s_addr == htonl(INADDR_LOOPBACK);
		}
	x->n++;
	/* Leave the msghdr as a shorter address and a smaller control
	 * message would have (and forget the old address): the rearm must
	 * restore what was queued. */
	memset(&x->from, 0, sizeof x->from);
	memset(x->data, 0, sizeof x->data);
	x->msg.msg_namelen = 0;
	x->msg.msg_controllen = 0;
	x->msg.msg_flags = MSG_TRUNC;
	return x->n < NDGRAMS ? XEV_REARM : XEV_DISARM;
}

static void rearm_rx_init(struct rearm_rx *x)
{
	memset(x, 0, sizeof *x);
	msg_init(&x->msg, &x->iov, x->data, sizeof x->data, &x->from, sizeof x->from);
	x->msg.msg_control = x->ctl.buf;
	x->msg.msg_controllen = sizeof x->ctl.buf;
}

static void check_rearm(xev_backend b, const char *bn)
{
	struct tl t;
	struct sockaddr_in ra, aa, ba;
	struct rearm_rx x;
	xev_completion c;
	int rfd, afd, bfd, one = 1, src_ok = 1, names_ok = 1, ctl_ok = 1, order_ok = 1, flags_ok = 1;

	tl_init(&t, b, NULL);
	rfd = loopback_bound(SOCK_DGRAM, &ra);
	afd = loopback_bound(SOCK_DGRAM, &aa);
	bfd = loopback_bound(SOCK_DGRAM, &ba);
	if (setsockopt(rfd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0)
		diag("IP_PKTINFO: %s", strerror(errno));
	rearm_rx_init(&x);
	xev_recvmsg(&t.loop, &c, rfd, &x.msg, 0, &x, rearm_rx_cb);
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	for (int i = 0; i < NDGRAMS; i++) {
		char p[4];
		snprintf(p, sizeof p, "%c%d", i % 2 ? 'B' : 'A', i);
		if (sendto(i % 2 ? bfd : afd, p, 3, 0, (struct sockaddr *)&ra, sizeof ra) != 3)
			diag("sendto: %s", strerror(errno));
	}
	WAIT_FOR(&t, x.n >= NDGRAMS || x.err);
	is_int(x.n, NDGRAMS, "%s: a rearmed xev_recvmsg received %d datagrams from two senders (err %d)", bn,
	       NDGRAMS, x.err);
	for (int i = 0; i < x.n; i++) {
		int want = ntohs(i % 2 ? ba.sin_port : aa.sin_port);
		char p[4];
		snprintf(p, sizeof p, "%c%d", i % 2 ? 'B' : 'A', i);
		if (x.port[i] != want) {
			src_ok = 0;
			diag("datagram %d: source port %d, want %d", i, x.port[i], want);
		}
		if (x.namelen[i] != (int)sizeof(struct sockaddr_in))
			names_ok = 0;
		if (!x.pktinfo[i])
			ctl_ok = 0;
		if (x.len[i] != 3 || memcmp(x.payload[i], p, 3) != 0)
			order_ok = 0;
		if (x.trunc[i])
			flags_ok = 0;
	}
	ok(x.n > 0 && order_ok, "%s: recvmsg rearm: the datagrams arrive whole and in order", bn);
	ok(x.n > 0 && src_ok, "%s: recvmsg rearm: each reports its own sender's address", bn);
	ok(x.n > 0 && names_ok, "%s: recvmsg rearm: msg_namelen is restored each time (always 16)", bn);
	ok(x.n > 0 && ctl_ok, "%s: recvmsg rearm: msg_controllen is restored (IP_PKTINFO every time)", bn);
	ok(x.n > 0 && flags_ok, "%s: recvmsg rearm: msg_flags comes from each receive (no stale MSG_TRUNC)", bn);
	close(rfd);
	close(afd);
	close(bfd);
	tl_deinit(&t);
}

/* ---- the same on AF_UNIX datagrams: address lengths differ ------------ */

struct unix_rx {
	struct msghdr msg;
	struct iovec iov;
	struct sockaddr_un from;
	char data[16];
	int n;
	socklen_t namelen[2];
	char path[2][sizeof(((struct sockaddr_un *)0)->sun_path)];
};

static xev_cb_action unix_rx_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct unix_rx *x = ud;
	(void)l, (void)c;
	if (result < 0 || x->n >= 2)
		return XEV_DISARM;
	x->namelen[x->n] = x->msg.msg_namelen;
	memcpy(x->path[x->n], x->from.sun_path, sizeof x->path[0]);
	memset(&x->from, 0, sizeof x->from);
	x->n++;
	return x->n < 2 ? XEV_REARM : XEV_DISARM;
}

static void check_unix(xev_backend b, const char *bn)
{
	struct tl t;
	struct sockaddr_un ra, na;
	socklen_t ralen, nalen;
	struct unix_rx x;
	xev_completion c;
	int rfd, ufd, nfd;

	tl_init(&t, b, NULL);
	rfd = tap_socket(AF_UNIX, SOCK_DGRAM, 1);
	ufd = tap_socket(AF_UNIX, SOCK_DGRAM, 1); /* unnamed */
	nfd = tap_socket(AF_UNIX, SOCK_DGRAM, 1);
	memset(&ra, 0, sizeof ra);
	memset(&na, 0, sizeof na);
	ra.sun_family = na.sun_family = AF_UNIX;
	/* Names in the file system (abstract ones are Linux's alone), short
	 * enough for every sun_path. */
	snprintf(ra.sun_path, sizeof ra.sun_path, "%s/xu%d-%dr", "/tmp", (int)getpid(), (int)b);
	snprintf(na.sun_path, sizeof na.sun_path, "%s/xu%d-%ds", "/tmp", (int)getpid(), (int)b);
	unlink(ra.sun_path);
	unlink(na.sun_path);
	ralen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(ra.sun_path) + 1);
	nalen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(na.sun_path) + 1);
	if (bind(rfd, (struct sockaddr *)&ra, ralen) < 0 || bind(nfd, (struct sockaddr *)&na, nalen) < 0)
		bail("AF_UNIX datagram sockets");
	memset(&x, 0, sizeof x);
	msg_init(&x.msg, &x.iov, x.data, sizeof x.data, &x.from, sizeof x.from);
	/* First from the unnamed sender (no address: msg_namelen 0), then
	 * the named one: unless the rearm restores msg_namelen, the kernel
	 * copies none of the second name. */
	if (sendto(ufd, "u", 1, 0, (struct sockaddr *)&ra, ralen) != 1 ||
	    sendto(nfd, "n", 1, 0, (struct sockaddr *)&ra, ralen) != 1)
		diag("sendto: %s", strerror(errno));
	xev_recvmsg(&t.loop, &c, rfd, &x.msg, 0, &x, unix_rx_cb);
	WAIT_FOR(&t, x.n >= 2);
	ok(x.n == 2 && x.namelen[0] == 0,
	   "%s: AF_UNIX: a datagram from an unnamed sender comes with msg_namelen 0 (%d)", bn, (int)x.namelen[0]);
	/* Kernels differ on whether the name's length counts its NUL. */
	ok(x.n == 2 && x.namelen[1] >= nalen - 1 && strcmp(x.path[1], na.sun_path) == 0,
	   "%s: AF_UNIX: the rearmed recvmsg still gets the next sender's whole name (%d bytes, want %d)", bn,
	   (int)x.namelen[1], (int)nalen);
	close(rfd);
	close(ufd);
	close(nfd);
	unlink(ra.sun_path);
	unlink(na.sun_path);
	tl_deinit(&t);
}

/* ---- MSG_TRUNC -------------------------------------------------------- */

struct trunc_rx {
	struct msghdr msg;
	struct iovec iov;
	char data[10];
	int n, len[2], flags[2];
};

static xev_cb_action trunc_rx_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct trunc_rx *x = ud;
	(void)l, (void)c;
	if (x->n >= 2)
		return XEV_DISARM;
	x->len[x->n] = result;
	x->flags[x->n] = x->msg.msg_flags;
	x->n++;
	return x->n < 2 && result >= 0 ? XEV_REARM : XEV_DISARM;
}

static void check_trunc(xev_backend b, const char *bn)
{
	struct tl t;
	struct sockaddr_in ra, aa;
	struct trunc_rx x;
	xev_completion c;
	struct tl_op o;
	char big[100], buf[10];
	int rfd, afd;

	tl_init(&t, b, NULL);
	rfd = loopback_bound(SOCK_DGRAM, &ra);
	afd = loopback_bound(SOCK_DGRAM, &aa);
	memset(big, 'T', sizeof big);
	memset(&x, 0, sizeof x);
	msg_init(&x.msg, &x.iov, x.data, sizeof x.data, NULL, 0);
	if (sendto(afd, big, sizeof big, 0, (struct sockaddr *)&ra, sizeof ra) != (ssize_t)sizeof big ||
	    sendto(afd, "small", 5, 0, (struct sockaddr *)&ra, sizeof ra) != 5)
		diag("sendto: %s", strerror(errno));
	xev_recvmsg(&t.loop, &c, rfd, &x.msg, 0, &x, trunc_rx_cb);
	WAIT_FOR(&t, x.n >= 2);
	is_int(x.len[0], 10, "%s: xev_recvmsg of a 100-byte datagram into 10 bytes: 10", bn);
	ok(x.flags[0] & MSG_TRUNC, "%s: ... with MSG_TRUNC in msg_flags (%#x)", bn, (unsigned)x.flags[0]);
	is_int(x.len[1], 5, "%s: the rearmed xev_recvmsg gets the next, 5-byte datagram", bn);
	ok(x.n == 2 && !(x.flags[1] & MSG_TRUNC), "%s: ... and MSG_TRUNC is clear again (%#x)", bn,
	   (unsigned)x.flags[1]);

	/* MSG_TRUNC as a recv flag: the real length. */
	if (sendto(afd, big, sizeof big, 0, (struct sockaddr *)&ra, sizeof ra) != (ssize_t)sizeof big)
		diag("sendto: %s", strerror(errno));
	tl_op_init(&o);
	xev_recv(&t.loop, &o.c, rfd, buf, sizeof buf, MSG_TRUNC, &o.r, tl_rec_cb);
	is_int(tl_result_of(&t, &o), 100, "%s: xev_recv with MSG_TRUNC into 10 bytes: the datagram's length, 100", bn);
	close(rfd);
	close(afd);
	tl_deinit(&t);
}

/* ---- connected sockets ------------------------------------------------ */

static void check_connected(xev_backend b, const char *bn)
{
	struct tl t;
	struct sockaddr_in ra, aa, ca, za;
	struct tl_op o, o2;
	char buf[32];
	int rfd, afd, cfd, zfd, r;

	tl_init(&t, b, NULL);
	rfd = loopback_bound(SOCK_DGRAM, &ra);
	afd = loopback_bound(SOCK_DGRAM, &aa);
	cfd = loopback_bound(SOCK_DGRAM, &ca);
	tl_op_init(&o);
	tl_op_init(&o2);
	xev_connect(&t.loop, &o.c, afd, (struct sockaddr *)&ra, sizeof ra, &o.r, tl_rec_cb);
	xev_connect(&t.loop, &o2.c, rfd, (struct sockaddr *)&aa, sizeof aa, &o2.r, tl_rec_cb);
	r = tl_result_of(&t, &o);
	ok(r == 0 && tl_result_of(&t, &o2) == 0, "%s: xev_connect of two UDP sockets to each other: 0 (%d, %d)", bn, r,
	   o2.r.result);

	/* A stranger's datagram is filtered out by the connected socket. */
	if (sendto(cfd, "intruder", 8, 0, (struct sockaddr *)&ra, sizeof ra) != 8)
		diag("sendto: %s", strerror(errno));
	tl_op_init(&o);
	xev_send(&t.loop, &o.c, afd, "conn", 4, 0, &o.r, tl_rec_cb);
	is_int(tl_result_of(&t, &o), 4, "%s: xev_send on a connected UDP socket: 4", bn);
	tl_op_init(&o);
	memset(buf, 0, sizeof buf);
	xev_recv(&t.loop, &o.c, rfd, buf, sizeof buf, 0, &o.r, tl_rec_cb);
	r = tl_result_of(&t, &o);
	ok(r == 4 && memcmp(buf, "conn", 4) == 0,
	   "%s: xev_recv on the connected peer gets \"conn\", not the stranger's datagram (%d, \"%.8s\")", bn, r,
	   buf);

	/* The other way. */
	tl_op_init(&o);
	tl_op_init(&o2);
	memset(buf, 0, sizeof buf);
	xev_recv(&t.loop, &o2.c, afd, buf, sizeof buf, 0, &o2.r, tl_rec_cb);
	xev_send(&t.loop, &o.c, rfd, "back", 4, 0, &o.r, tl_rec_cb);
	r = tl_result_of(&t, &o);
	ok(r == 4 && tl_result_of(&t, &o2) == 4 && memcmp(buf, "back", 4) == 0,
	   "%s: and back: xev_send 4, xev_recv \"back\"", bn);

	/* Connected to a port nobody listens on: the ICMP error comes back
	 * on the next receive. */
	zfd = loopback_bound(SOCK_DGRAM, &za);
	close(zfd);
	tl_op_init(&o);
	xev_connect(&t.loop, &o.c, cfd, (struct sockaddr *)&za, sizeof za, &o.r, tl_rec_cb);
	tl_result_of(&t, &o);
	tl_op_init(&o);
	xev_send(&t.loop, &o.c, cfd, "anyone?", 7, 0, &o.r, tl_rec_cb);
	is_int(tl_result_of(&t, &o), 7, "%s: xev_send to a closed UDP port: 7 (sent)", bn);
	tl_op_init(&o);
	xev_recv(&t.loop, &o.c, cfd, buf, sizeof buf, 0, &o.r, tl_rec_cb);
	is_int(tl_result_of(&t, &o), -ECONNREFUSED, "%s: the next xev_recv: -ECONNREFUSED", bn);

	close(rfd);
	close(afd);
	close(cfd);
	tl_deinit(&t);
}

/* ---- an error that a recv cannot clear ----------------------------------- */

/* With IP_RECVERR an ICMP error waits on the socket's error queue until
 * recvmsg(MSG_ERRQUEUE) takes it, and until then the socket polls as
 * POLLERR while a plain recv finds nothing: a readiness backend that
 * retried the recv on every report would spin at 100% CPU. */
#if defined(IP_RECVERR) && defined(SOL_IP)
static double thread_cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void check_errqueue(xev_backend b, const char *bn)
{
	struct tl t;
	struct sockaddr_in ra, sa, za;
	struct tl_op o;
	struct pollfd pfd;
	char buf[32];
	int rfd, sfd, zfd, one = 1, r;
	double cpu;
	int64_t end;

	tl_init(&t, b, NULL);
	rfd = loopback_bound(SOCK_DGRAM, &ra);
	sfd = loopback_bound(SOCK_DGRAM, &sa);
	zfd = loopback_bound(SOCK_DGRAM, &za);
	close(zfd);
	if (setsockopt(rfd, SOL_IP, IP_RECVERR, &one, sizeof one) < 0)
		bail("IP_RECVERR");
	if (sendto(rfd, "anyone?", 7, 0, (struct sockaddr *)&za, sizeof za) != 7)
		bail("sendto a closed port");
	pfd = (struct pollfd){ .fd = rfd, .events = POLLIN };
	for (end = mono_ms() + 2000; poll(&pfd, 1, 10) == 0 && mono_ms() < end;)
		;
	tl_op_init(&o);
	xev_recv(&t.loop, &o.c, rfd, buf, sizeof buf, 0, &o.r, tl_rec_cb);
	is_int(tl_result_of(&t, &o), -ECONNREFUSED, "%s: IP_RECVERR socket after an ICMP error: recv -ECONNREFUSED",
	       bn);

	tl_op_init(&o);
	o.r.rearm = 1;
	xev_recv(&t.loop, &o.c, rfd, buf, sizeof buf, 0, &o.r, tl_rec_cb);
	cpu = thread_cpu_ms();
	for (end = mono_ms() + 200; mono_ms() < end;)
		xev_loop_run(&t.loop, XEV_RUN_ONCE);
	cpu = thread_cpu_ms() - cpu;
	pfd = (struct pollfd){ .fd = rfd, .events = POLLIN };
	poll(&pfd, 1, 0);
	ok(o.r.calls == 0 && cpu < 100.0 && (pfd.revents & POLLERR),
	   "%s: the error still queued (POLLERR), a pending recv waits without spinning (%.1f ms CPU in 200 ms)", bn,
	   cpu);

	/* Both arrive before the loop looks: one report for the two, and the
	 * rearm must find the second without a new one. */
	if (sendto(sfd, "one", 3, 0, (struct sockaddr *)&ra, sizeof ra) != 3 ||
	    sendto(sfd, "two", 4, 0, (struct sockaddr *)&ra, sizeof ra) != 4)
		bail("sendto");
	WAIT_FOR(&t, o.r.calls >= 2);
	r = o.r.first;
	ok(r == 3 && o.r.calls == 2 && o.r.result == 4 && memcmp(buf, "two", 4) == 0,
	   "%s: datagrams that arrive then complete it, and its rearm gets the next (%d, %d calls, %d)", bn, r,
	   o.r.calls, o.r.result);
	close(rfd);
	close(sfd);
	tl_deinit(&t);
}
#else
static void check_errqueue(xev_backend b, const char *bn)
{
	(void)b;
	skip(3, "no IP_RECVERR here (an error queue is Linux's)");
	(void)bn;
}
#endif

/* ---- xev_poll ---------------------------------------------------------- */

static void check_poll(xev_backend b, const char *bn)
{
	struct tl t;
	struct sockaddr_in ra, aa;
	struct tl_op o;
	char buf[8];
	int rfd, afd;

	tl_init(&t, b, NULL);
	rfd = loopback_bound(SOCK_DGRAM, &ra);
	afd = loopback_bound(SOCK_DGRAM, &aa);
	tl_op_init(&o);
	xev_poll(&t.loop, &o.c, rfd, POLLIN, &o.r, tl_rec_cb);
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	ok(o.r.calls == 0 && xev_completion_state(&o.c) == XEV_COMPLETION_ACTIVE,
	   "%s: xev_poll POLLIN on an idle UDP socket has not completed after NO_WAIT", bn);
	if (sendto(afd, "p", 1, 0, (struct sockaddr *)&ra, sizeof ra) != 1)
		diag("sendto: %s", strerror(errno));
	is_int(tl_result_of(&t, &o), POLLIN, "%s: after a datagram arrives, xev_poll POLLIN: POLLIN", bn);
	is_int(recv(rfd, buf, sizeof buf, 0), 1, "%s: xev_poll left the datagram for recv", bn);
	tl_op_init(&o);
	xev_poll(&t.loop, &o.c, afd, POLLOUT, &o.r, tl_rec_cb);
	is_int(tl_result_of(&t, &o), POLLOUT, "%s: xev_poll POLLOUT on a UDP socket: POLLOUT at once", bn);
	close(rfd);
	close(afd);
	tl_deinit(&t);
}

static void check_backend(xev_backend b, const char *bn)
{
	int fds0 = tap_count_fds();

	check_msg(b, bn);
	check_rearm(b, bn);
	check_unix(b, bn);
	check_trunc(b, bn);
	check_connected(b, bn);
	check_errqueue(b, bn);
	check_poll(b, bn);
	is_int(tap_count_fds(), fds0, "%s: no fd leaked", bn);
}

int main(void)
{
	plan(GLOBAL_CHECKS + TAP_NBACKENDS * PER_BACKEND);
	tap_each_backend(PER_BACKEND, check_backend);
	return done_testing();
}
