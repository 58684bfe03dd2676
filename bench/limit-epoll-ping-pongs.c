/* SPDX-License-Identifier: MIT */
/*
 * ping-pongs on raw epoll, the limit for bench/xev-ping-pongs.c: TCP over
 * loopback, a server thread with an epoll set of its own echoing, the
 * main thread sending "PING\n" and waiting for it back, one in flight,
 * 500,001 round trips.  Non-blocking sockets, edge-triggered.  A side
 * that has just sent knows its answer cannot be there yet, so it waits
 * before it reads: three system calls per side and round trip (send,
 * epoll_wait, recv), and a recv that fills the buffer is followed by
 * another before the next wait.
 */
#define LIMIT_EPOLL
#include "limit.h"

#include <pthread.h>

struct server {
	int lfd;
	struct limit_fd f;
	long echoed; /* bytes */
	long waits;
};

static void *server_main(void *arg)
{
	static char buf[4096];
	struct server *s = arg;
	struct limit_epoll e;

	bench_pin(1);
	limit_epoll_init(&e);
	s->f.fd = limit_tcp_accept(s->lfd, SOCK_NONBLOCK);
	limit_epoll_add(&e, &s->f, EPOLLIN);
	for (;;) {
		ssize_t r;

		limit_epoll_wait(&e, &s->f, EPOLLIN);
		/* Read until a read comes short: then the socket is empty,
		 * and the next byte in will be an edge. */
		do {
			while ((r = recv(s->f.fd, buf, sizeof buf, 0)) < 0 && errno == EINTR)
				;
			if (r > 0) {
				limit_epoll_send(&e, &s->f, buf, (size_t)r, NULL);
				s->echoed += r;
			}
		} while (r == (ssize_t)sizeof buf);
		if (r == 0)
			break; /* the client hung up */
		if (r < 0 && errno != EAGAIN)
			bench_fail("server recv: %s", strerror(errno));
	}
	s->waits = e.waits;
	close(e.ep);
	return NULL;
}

int main(int argc, char **argv)
{
	static struct server s;
	struct sockaddr_in sa;
	struct limit_epoll e;
	struct limit_fd f = { 0, 0 };
	struct bench_usage usage;
	pthread_t th;
	char buf[64];
	long want = 500001, done = 0;
	double t0, t1;

	bench_args(argc, argv, &want, 0);
	bench_pin(0);
	limit_epoll_init(&e);
	s.lfd = limit_tcp_listen(&sa);
	if (pthread_create(&th, NULL, server_main, &s) != 0)
		bench_fail("pthread_create");
	f.fd = limit_tcp_connect(&sa, SOCK_NONBLOCK);
	limit_epoll_add(&e, &f, EPOLLIN);

	bench_usage_start(&usage);
	t0 = bench_now();
	while (done < want) {
		size_t got = 0;

		limit_epoll_send(&e, &f, LIMIT_PING, LIMIT_PING_LEN, NULL);
		while (got < LIMIT_PING_LEN) {
			ssize_t r;

			limit_epoll_wait(&e, &f, EPOLLIN);
			/* Short (the buffer has room for many pongs), so it
			 * empties the socket; EAGAIN: woken for nothing. */
			while ((r = recv(f.fd, buf + got, sizeof buf - got, 0)) < 0 && errno == EINTR)
				;
			if (r > 0)
				got += (size_t)r;
			else if (r == 0 || errno != EAGAIN)
				bench_fail("recv: %s after %ld round trips",
					   r ? strerror(errno) : "end of stream", done);
		}
		if (got != LIMIT_PING_LEN || memcmp(buf, LIMIT_PING, LIMIT_PING_LEN) != 0)
			bench_fail("wrong pong after %ld round trips", done);
		done++;
	}
	t1 = bench_now();

	close(f.fd);
	pthread_join(th, NULL);
	if (s.echoed != done * LIMIT_PING_LEN)
		bench_fail("%ld round trips, %ld bytes echoed", done, s.echoed);
	bench_note("%ld round trips in %.3f s, epoll_wait: client %ld, server %ld", done, t1 - t0, e.waits,
		   s.waits);
	bench_report_ops("ping-pongs", "limit-epoll", (double)done / (t1 - t0), "roundtrips/s", (double)done,
			 &usage);
	close(s.f.fd);
	close(s.lfd);
	close(e.ep);
	return 0;
}
