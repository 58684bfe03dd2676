/* SPDX-License-Identifier: MIT */
/*
 * udp-pummel-1v1 on raw epoll, the limit for bench/xev-udp-pummel-1v1.c:
 * a sender and a receiver socket, non-blocking, 45-byte datagrams over
 * loopback, one send outstanding, 1,000,000 sends; datagrams received per
 * second.  Each operation is tried first and waited for only when it
 * would block (epoll_wait calls counted on stderr); the sender joins the
 * set only if a send ever does.
 */
#define LIMIT_EPOLL
#include "limit.h"

int main(int argc, char **argv)
{
	static char buf[65536];
	struct limit_epoll e;
	struct limit_fd rf = { 0, 0 }, sf = { 0, 0 };
	struct sockaddr_in to;
	struct bench_usage usage;
	long want = 1000000, sent = 0, received = 0;
	double t0, t1;

	bench_args(argc, argv, &want, 0);
	limit_epoll_init(&e);
	rf.fd = bench_udp_socket(&to, SOCK_NONBLOCK);
	sf.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (sf.fd < 0)
		bench_fail("socket: %s", strerror(errno));
	limit_epoll_add(&e, &rf, EPOLLIN);

	bench_usage_start(&usage);
	t0 = bench_now();
	while (sent < want) {
		ssize_t r;

		limit_epoll_send(&e, &sf, LIMIT_TEXT, LIMIT_TEXT_LEN, &to);
		sent++;
		r = limit_epoll_recv(&e, &rf, buf, sizeof buf);
		if (r != (ssize_t)LIMIT_TEXT_LEN || memcmp(buf, LIMIT_TEXT, LIMIT_TEXT_LEN) != 0)
			bench_fail("recv: %zd (%s) after %ld received", r,
				   r < 0 ? strerror(errno) : "wrong datagram", received);
		received++;
	}
	t1 = bench_now();

	bench_note("%ld sent, %ld received in %.3f s, %ld epoll_wait", sent, received, t1 - t0, e.waits);
	bench_report_ops("udp-pummel-1v1", "limit-epoll", (double)received / (t1 - t0), "datagrams/s",
			 (double)received, &usage);
	close(rf.fd);
	close(sf.fd);
	close(e.ep);
	return 0;
}
