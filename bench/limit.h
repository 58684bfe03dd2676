/* SPDX-License-Identifier: MIT */
/*
 * What the limit programs share (bench/README, "Limit programs"): the
 * workloads' messages, the loopback TCP pair of ping-pongs, and, for the
 * io_uring ones (LIMIT_URING defined before including this), setting up a
 * ring, a multishot receive and one submit-and-wait round; for the epoll
 * ones (LIMIT_EPOLL), waiting for readiness and trying first.  No event
 * library: these programs are the ceiling our xev-* programs are measured
 * against.
 */
#ifndef XEV_BENCH_LIMIT_H
#define XEV_BENCH_LIMIT_H

#include "bench.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdint.h>

/* ping-udp1 and ping-pongs: the same "PING\n" as bench/xev-ping-*.c. */
#define LIMIT_PING "PING\n"
#define LIMIT_PING_LEN 5

/* udp-pummel-1v1: the same 45-byte datagram as bench/xev-udp-pummel-1v1.c. */
#define LIMIT_TEXT "RANG TANG DING DONG I AM THE JAPANESE SANDMAN"
#define LIMIT_TEXT_LEN (sizeof LIMIT_TEXT - 1)

static inline void limit_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
		bench_fail("TCP_NODELAY: %s", strerror(errno));
}

/* ping-pongs' listener, on 127.0.0.1 and a port the kernel picks (*sa). */
static inline int limit_tcp_listen(struct sockaddr_in *sa)
{
	socklen_t len = sizeof *sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)sa, sizeof *sa) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)sa, &len) < 0)
		bench_fail("listen: %s", strerror(errno));
	return fd;
}

/* Both ends of ping-pongs' connection get TCP_NODELAY, as in ours;
 * flags: SOCK_NONBLOCK or 0. */
static inline int limit_tcp_connect(const struct sockaddr_in *sa, int flags)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (const struct sockaddr *)sa, sizeof *sa) < 0)
		bench_fail("connect: %s", strerror(errno));
	limit_nodelay(fd);
	if ((flags & SOCK_NONBLOCK) && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		bench_fail("O_NONBLOCK: %s", strerror(errno));
	return fd;
}

static inline int limit_tcp_accept(int lfd, int flags)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | flags);

	if (fd < 0)
		bench_fail("accept4: %s", strerror(errno));
	limit_nodelay(fd);
	return fd;
}

#ifdef LIMIT_URING
#include <liburing.h>

/*
 * A ring of a few entries with the best setup flags this kernel accepts,
 * tried in this order; the name of the set it got goes to *how.  A
 * SINGLE_ISSUER ring must be set up by the thread that submits to it.
 * DEFER_TASKRUN runs completion work only when the owner waits for it
 * (io_uring_enter with GETEVENTS) rather than interrupting it.
 */
static inline void limit_ring_init(struct io_uring *ring, const char **how)
{
	static const struct {
		unsigned flags;
		const char *name;
	} sets[] = {
		{ IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN,
		  "single-issuer+defer-taskrun+coop-taskrun" },
		{ IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN, "single-issuer+coop-taskrun" },
		{ IORING_SETUP_COOP_TASKRUN, "coop-taskrun" },
		{ 0, "no setup flags" },
	};
	int rc = -EINVAL;

	for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
		struct io_uring_params p;

		memset(&p, 0, sizeof p);
		p.flags = sets[i].flags;
		rc = io_uring_queue_init_params(8, ring, &p);
		if (rc == 0) {
			*how = sets[i].name;
			return;
		}
		if (rc != -EINVAL)
			break;
	}
	bench_fail("io_uring_queue_init_params: %s", strerror(-rc));
}

/*
 * Registers the ring's own fd (io_uring_enter then skips looking it up)
 * and the sockets as fixed files 0..n-1 (each operation skips looking its
 * socket up).  Returns the flags every SQE then takes.
 */
static inline unsigned char limit_ring_files(struct io_uring *ring, const int *fds, unsigned n)
{
	int rc;

	/* An old kernel refuses: the ring works as well, a little slower. */
	(void)io_uring_register_ring_fd(ring);
	rc = io_uring_register_files(ring, fds, n);
	if (rc < 0)
		bench_fail("io_uring_register_files: %s", strerror(-rc));
	return IOSQE_FIXED_FILE;
}

static inline struct io_uring_sqe *limit_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		bench_fail("submission queue full");
	return sqe;
}

/* After io_uring_prep_*(), which clears the SQE's flags: flags (those of
 * limit_ring_files, IOSQE_IO_LINK...) and a tag for limit_ring_round. */
static inline void limit_mark(struct io_uring_sqe *sqe, unsigned char flags, uint64_t tag)
{
	sqe->flags = flags;
	sqe->user_data = tag;
}

/*
 * A multishot receive into provided buffers: armed once, it stays armed
 * and completes each time data comes in, with no failed attempt and no
 * poll set up again per message (ping-pongs gains from it; on the UDP
 * workloads, where the receive finds its datagram at once, it costs).
 * The data is copied out to out (cap bytes, len of them used) and the
 * buffer goes back to the kernel at once.
 */
struct limit_mrecv {
	struct io_uring_buf_ring *br;
	char *bufs;
	unsigned nbufs, size;
	int fd; /* a fixed file */
	unsigned char flags;
	uint64_t tag;
	int armed;
	char *out;
	size_t len, cap;
};

static inline void limit_mrecv_init(struct io_uring *ring, struct limit_mrecv *m, int fd, unsigned char flags,
				    uint64_t tag, char *out, size_t cap)
{
	struct io_uring_buf_reg reg;
	void *br;
	int rc;

	memset(m, 0, sizeof *m);
	m->nbufs = 8;
	m->size = 4096;
	if (posix_memalign(&br, (size_t)sysconf(_SC_PAGESIZE), m->nbufs * sizeof(struct io_uring_buf)) != 0 ||
	    !(m->bufs = malloc((size_t)m->nbufs * m->size)))
		bench_fail("out of memory");
	m->br = br;
	memset(&reg, 0, sizeof reg);
	reg.ring_addr = (unsigned long)br;
	reg.ring_entries = m->nbufs;
	reg.bgid = 0;
	rc = io_uring_register_buf_ring(ring, &reg, 0);
	if (rc < 0)
		bench_fail("io_uring_register_buf_ring: %s", strerror(-rc));
	io_uring_buf_ring_init(m->br);
	for (unsigned i = 0; i < m->nbufs; i++)
		io_uring_buf_ring_add(m->br, m->bufs + (size_t)i * m->size, m->size, (unsigned short)i,
				      io_uring_buf_ring_mask(m->nbufs), (int)i);
	io_uring_buf_ring_advance(m->br, (int)m->nbufs);
	m->fd = fd;
	m->flags = flags;
	m->tag = tag;
	m->out = out;
	m->cap = cap;
}

/* Arms the receive again if its last completion said it stopped. */
static inline void limit_mrecv_arm(struct io_uring *ring, struct limit_mrecv *m)
{
	struct io_uring_sqe *sqe;

	if (m->armed)
		return;
	sqe = limit_sqe(ring);
	io_uring_prep_recv_multishot(sqe, m->fd, NULL, 0, 0);
	limit_mark(sqe, m->flags | IOSQE_BUFFER_SELECT, m->tag);
	sqe->buf_group = 0;
	m->armed = 1;
}

/* A completion of the multishot receive: its data to m->out. */
static inline void limit_mrecv_done(struct limit_mrecv *m, const struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE))
		m->armed = 0;
	if (cqe->flags & IORING_CQE_F_BUFFER) {
		unsigned short bid = (unsigned short)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		char *buf = m->bufs + (size_t)bid * m->size;

		if (cqe->res > 0) {
			if ((size_t)cqe->res > m->cap - m->len)
				bench_fail("%d bytes in, room for %zu", cqe->res, m->cap - m->len);
			memcpy(m->out + m->len, buf, (size_t)cqe->res);
			m->len += (size_t)cqe->res;
		}
		io_uring_buf_ring_add(m->br, buf, m->size, bid, io_uring_buf_ring_mask(m->nbufs), 0);
		io_uring_buf_ring_advance(m->br, 1);
	}
}

/*
 * Submits what was prepared and waits until n completions are in, in
 * one io_uring_enter; res[tag] gets the result of each (tags are small
 * indexes), and those of m (if not NULL) go through limit_mrecv_done.
 * Returns the set of tags seen, one bit each.
 */
static inline unsigned limit_ring_round(struct io_uring *ring, unsigned n, int *res, struct limit_mrecv *m)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0, tags = 0;
	int rc = io_uring_submit_and_wait(ring, n);

	if (rc < 0)
		bench_fail("io_uring_submit_and_wait: %s", strerror(-rc));
	io_uring_for_each_cqe(ring, head, cqe) {
		res[cqe->user_data] = cqe->res;
		tags |= 1u << cqe->user_data;
		seen++;
		if (m && cqe->user_data == m->tag)
			limit_mrecv_done(m, cqe);
	}
	io_uring_cq_advance(ring, seen);
	if (seen < n)
		bench_fail("%u completions, %u expected", seen, n);
	return tags;
}

/*
 * One datagram of len bytes from msg to *to through fixed file sfd, and
 * the receive of it into buf on fixed file rfd, submitted together in one
 * io_uring_enter that returns when both are over.  Fails unless both
 * moved len bytes and buf holds msg.
 */
static inline void limit_ring_sendrecv(struct io_uring *ring, unsigned char flags, int sfd, int rfd,
				       const struct sockaddr_in *to, const char *msg, int len, char *buf,
				       size_t size)
{
	struct io_uring_sqe *sqe;
	int res[2];

	sqe = limit_sqe(ring);
	io_uring_prep_send(sqe, sfd, msg, (size_t)len, 0);
	io_uring_prep_send_set_addr(sqe, (const struct sockaddr *)to, sizeof *to);
	limit_mark(sqe, flags, 0);
	sqe = limit_sqe(ring);
	io_uring_prep_recv(sqe, rfd, buf, size, 0);
	limit_mark(sqe, flags, 1);
	if (limit_ring_round(ring, 2, res, NULL) != 3 || res[0] != len || res[1] != len ||
	    memcmp(buf, msg, (size_t)len) != 0)
		bench_fail("send %d, recv %d bytes of %d", res[0], res[1], len);
}
#endif /* LIMIT_URING */

#ifdef LIMIT_EPOLL
#include <sys/epoll.h>

/* One epoll set; waits counts the epoll_wait calls that returned. */
struct limit_epoll {
	int ep;
	long waits;
};

/* A non-blocking socket and what the set waits for on it (0: it is not
 * in the set). */
struct limit_fd {
	int fd;
	uint32_t armed;
};

static inline void limit_epoll_init(struct limit_epoll *e)
{
	e->waits = 0;
	e->ep = epoll_create1(EPOLL_CLOEXEC);
	if (e->ep < 0)
		bench_fail("epoll_create1: %s", strerror(errno));
}

/* Puts f in the set, or changes what the set waits for on it, to events (EPOLLIN or EPOLLOUT). */
static inline void limit_epoll_add(struct limit_epoll *e, struct limit_fd *f, uint32_t events)
{
	struct epoll_event ev = { .events = events | EPOLLET, .data.fd = f->fd };

	if (epoll_ctl(e->ep, f->armed ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, f->fd, &ev) < 0)
		bench_fail("epoll_ctl: %s", strerror(errno));
	f->armed = events;
}

/*
 * Sleeps until f is ready for events (EPOLLIN or EPOLLOUT), first putting
 * it in the set or changing what the set waits for, when it must.  Edge
 * triggered: the callers go back to waiting only after an EAGAIN or a
 * short read, so that no edge is missed, and the kernel never has to
 * poll the socket again to learn it is still ready.
 */
static inline void limit_epoll_wait(struct limit_epoll *e, struct limit_fd *f, uint32_t events)
{
	struct epoll_event ev;

	if (f->armed != events)
		limit_epoll_add(e, f, events);
	while (epoll_wait(e->ep, &ev, 1, -1) < 0)
		if (errno != EINTR)
			bench_fail("epoll_wait: %s", strerror(errno));
	e->waits++;
}

/* Sends all of msg (to *to, if not NULL), waiting when the socket has
 * no room. */
static inline void limit_epoll_send(struct limit_epoll *e, struct limit_fd *f, const char *msg, size_t len,
				    const struct sockaddr_in *to)
{
	while (len) {
		ssize_t r = sendto(f->fd, msg, len, MSG_NOSIGNAL, (const struct sockaddr *)to,
				   to ? sizeof *to : 0);

		if (r > 0) {
			msg += r;
			len -= (size_t)r;
		} else if (r < 0 && errno == EAGAIN) {
			limit_epoll_wait(e, f, EPOLLOUT);
		} else if (r == 0 || errno != EINTR) {
			bench_fail("send: %s", r ? strerror(errno) : "nothing sent");
		}
	}
}

/* Receives what is there, or waits for it when nothing is: returns what
 * recv(2) did, never -1 with EAGAIN or EINTR. */
static inline ssize_t limit_epoll_recv(struct limit_epoll *e, struct limit_fd *f, char *buf, size_t size)
{
	ssize_t r;

	while ((r = recv(f->fd, buf, size, 0)) < 0 && (errno == EAGAIN || errno == EINTR))
		if (errno == EAGAIN)
			limit_epoll_wait(e, f, EPOLLIN);
	return r;
}
#endif /* LIMIT_EPOLL */

#endif
