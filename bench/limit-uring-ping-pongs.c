/* SPDX-License-Identifier: MIT */
/*
 * ping-pongs on raw io_uring, the limit for bench/xev-ping-pongs.c: TCP
 * over loopback, a server thread with a ring of its own echoing, the main
 * thread sending "PING\n" and waiting for it back, one in flight, 500,001
 * round trips.  Each side keeps one multishot receive armed, and makes one
 * io_uring_enter per round trip: it submits its send (the ping, the echo)
 * and sleeps in the same call until the other side's message is in.
 */
#define LIMIT_URING
#include "limit.h"

#include <pthread.h>

enum { SEND, RECV };

struct server {
	int lfd, fd;
	const char *how;
	long echoed; /* bytes */
};

/* Echoes what came in, one send at a time, as ours does: bytes that come
 * in while a send is in flight wait in out behind it. */
static void *server_main(void *arg)
{
	static char out[8192];
	struct server *s = arg;
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct limit_mrecv m;
	unsigned char flags;
	size_t sending = 0;
	int res[2] = { 0, 0 };

	bench_pin(1);
	/* A single-issuer ring belongs to the thread that sets it up. */
	limit_ring_init(&ring, &s->how);
	s->fd = limit_tcp_accept(s->lfd, 0);
	flags = limit_ring_files(&ring, &s->fd, 1);
	limit_mrecv_init(&ring, &m, 0, flags, RECV, out, sizeof out);
	for (;;) {
		size_t len = m.len;
		unsigned tags;

		limit_mrecv_arm(&ring, &m);
		/* With a send in flight, its completion and the next data. */
		tags = limit_ring_round(&ring, sending ? 2 : 1, res, &m);
		if (tags & 1u << SEND) {
			if (res[SEND] != (int)sending)
				bench_fail("server send: %d of %zu bytes", res[SEND], sending);
			memmove(out, out + sending, m.len - sending);
			m.len -= sending;
			len -= sending;
			sending = 0;
		}
		if (tags & 1u << RECV) {
			if (res[RECV] < 0)
				bench_fail("server recv: %s", strerror(-res[RECV]));
			if (res[RECV] == 0 && m.len == len)
				break; /* the client hung up */
			s->echoed += (long)(m.len - len);
		}
		if (!sending && m.len) {
			sending = m.len;
			sqe = limit_sqe(&ring);
			io_uring_prep_send(sqe, 0, out, sending, MSG_WAITALL);
			limit_mark(sqe, flags, SEND);
		}
	}
	io_uring_queue_exit(&ring);
	return NULL;
}

int main(int argc, char **argv)
{
	static struct server s;
	static char buf[4096];
	struct sockaddr_in sa;
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	struct limit_mrecv m;
	struct bench_usage usage;
	pthread_t th;
	const char *how;
	long want = 500001, done = 0;
	double t0, t1;
	int fd, res[2];
	unsigned char flags;

	bench_args(argc, argv, &want, 0);
	bench_pin(0);
	limit_ring_init(&ring, &how);
	s.lfd = limit_tcp_listen(&sa);
	if (pthread_create(&th, NULL, server_main, &s) != 0)
		bench_fail("pthread_create");
	fd = limit_tcp_connect(&sa, 0);
	flags = limit_ring_files(&ring, &fd, 1);
	limit_mrecv_init(&ring, &m, 0, flags, RECV, buf, sizeof buf);

	bench_usage_start(&usage);
	t0 = bench_now();
	while (done < want) {
		unsigned tags = 0;

		limit_mrecv_arm(&ring, &m);
		sqe = limit_sqe(&ring);
		io_uring_prep_send(sqe, 0, LIMIT_PING, LIMIT_PING_LEN, MSG_WAITALL);
		limit_mark(sqe, flags, SEND);
		/* The send's completion and the pong's, or a part of it. */
		tags = limit_ring_round(&ring, 2, res, &m);
		while (!(tags & 1u << SEND) || m.len < LIMIT_PING_LEN) {
			if (res[RECV] <= 0 && (tags & 1u << RECV))
				break;
			limit_mrecv_arm(&ring, &m);
			tags |= limit_ring_round(&ring, 1, res, &m);
		}
		if (res[SEND] != LIMIT_PING_LEN || m.len != LIMIT_PING_LEN ||
		    memcmp(buf, LIMIT_PING, LIMIT_PING_LEN) != 0)
			bench_fail("send %d, recv %d (%zu bytes) after %ld round trips", res[SEND], res[RECV],
				   m.len, done);
		m.len = 0;
		done++;
	}
	t1 = bench_now();

	/* The ring holds the socket too (a fixed file): the server sees the
	 * end of the stream only when both let go of it. */
	io_uring_queue_exit(&ring);
	close(fd);
	pthread_join(th, NULL);
	if (s.echoed != done * LIMIT_PING_LEN)
		bench_fail("%ld round trips, %ld bytes echoed", done, s.echoed);
	bench_note("rings: client %s, server %s", how, s.how);
	bench_note("fixed files, registered ring fds, multishot receives into provided buffers");
	bench_note("%ld round trips in %.3f s", done, t1 - t0);
	bench_report_ops("ping-pongs", "limit-uring", (double)done / (t1 - t0), "roundtrips/s", (double)done,
			 &usage);
	close(s.fd);
	close(s.lfd);
	return 0;
}
