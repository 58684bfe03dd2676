/* SPDX-License-Identifier: MIT */
/*
 * udp-pummel-1v1 on raw io_uring, the limit for
 * bench/xev-udp-pummel-1v1.c: a sender and a receiver socket, 45-byte
 * datagrams over loopback, one send outstanding, 1,000,000 sends;
 * datagrams received per second.  Each send goes in one io_uring_enter
 * with the receive of the datagram it delivers.
 */
#define LIMIT_URING
#include "limit.h"

enum { SEND, RECV };

int main(int argc, char **argv)
{
	static char buf[65536];
	struct io_uring ring;
	struct sockaddr_in to;
	struct bench_usage usage;
	const char *how;
	long want = 1000000, sent = 0, received = 0;
	double t0, t1;
	int fds[2];
	unsigned char flags;

	bench_args(argc, argv, &want, 0);
	limit_ring_init(&ring, &how);
	fds[RECV] = bench_udp_socket(&to, 0);
	fds[SEND] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fds[SEND] < 0)
		bench_fail("socket: %s", strerror(errno));
	flags = limit_ring_files(&ring, fds, 2);

	bench_usage_start(&usage);
	t0 = bench_now();
	while (sent < want) {
		limit_ring_sendrecv(&ring, flags, SEND, RECV, &to, LIMIT_TEXT, (int)LIMIT_TEXT_LEN, buf,
				    sizeof buf);
		sent++;
		received++;
	}
	t1 = bench_now();

	bench_note("ring: %s, fixed files, registered ring fd", how);
	bench_note("%ld sent, %ld received in %.3f s", sent, received, t1 - t0);
	bench_report_ops("udp-pummel-1v1", "limit-uring", (double)received / (t1 - t0), "datagrams/s",
			 (double)received, &usage);
	io_uring_queue_exit(&ring);
	close(fds[0]);
	close(fds[1]);
	return 0;
}
