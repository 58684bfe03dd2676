/* SPDX-License-Identifier: MIT */
/*
 * ping-udp1 on raw epoll, the limit for bench/xev-ping-udp1.c: one UDP
 * socket, non-blocking, pinging itself over loopback, one datagram in
 * flight, the next ping after both the send and the pong.  Each
 * operation is tried first and waited for only when it would block: the
 * loopback delivers the datagram before sendto returns, so a round trip
 * is a sendto and a recv, and epoll_wait (counted on stderr) runs only
 * when that does not hold.
 */
#define LIMIT_EPOLL
#include "limit.h"

int main(int argc, char **argv)
{
	static char buf[65536];
	struct limit_epoll e;
	struct limit_fd f = { 0, 0 };
	struct sockaddr_in self;
	struct bench_usage usage;
	long want = 500001, done = 0;
	double t0, t1;

	bench_args(argc, argv, &want, 0);
	limit_epoll_init(&e);
	f.fd = bench_udp_socket(&self, SOCK_NONBLOCK);
	limit_epoll_add(&e, &f, EPOLLIN);

	bench_usage_start(&usage);
	t0 = bench_now();
	while (done < want) {
		ssize_t r;

		limit_epoll_send(&e, &f, LIMIT_PING, LIMIT_PING_LEN, &self);
		r = limit_epoll_recv(&e, &f, buf, sizeof buf);
		if (r != LIMIT_PING_LEN || memcmp(buf, LIMIT_PING, LIMIT_PING_LEN) != 0)
			bench_fail("recv: %zd (%s) after %ld round trips", r,
				   r < 0 ? strerror(errno) : "wrong datagram", done);
		done++;
	}
	t1 = bench_now();

	bench_note("%ld round trips in %.3f s, %ld epoll_wait", done, t1 - t0, e.waits);
	bench_report_ops("ping-udp1", "limit-epoll", (double)done / (t1 - t0), "roundtrips/s", (double)done,
			 &usage);
	close(f.fd);
	close(e.ep);
	return 0;
}
