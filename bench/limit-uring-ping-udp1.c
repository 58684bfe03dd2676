/* SPDX-License-Identifier: MIT */
/*
 * ping-udp1 on raw io_uring, the limit for bench/xev-ping-udp1.c: one UDP
 * socket pinging itself over loopback, one datagram in flight, the next
 * ping after both the send completed and the pong arrived.  Each round
 * trip is one io_uring_enter: the send and the receive after it are
 * submitted together and both complete in that call (the loopback
 * delivers the datagram before the send returns).
 */
#define LIMIT_URING
#include "limit.h"

int main(int argc, char **argv)
{
	static char buf[65536];
	struct io_uring ring;
	struct sockaddr_in self;
	struct bench_usage usage;
	const char *how;
	long want = 500001, done = 0;
	double t0, t1;
	int fd;
	unsigned char flags;

	bench_args(argc, argv, &want, 0);
	limit_ring_init(&ring, &how);
	fd = bench_udp_socket(&self, 0);
	flags = limit_ring_files(&ring, &fd, 1);

	bench_usage_start(&usage);
	t0 = bench_now();
	while (done < want) {
		limit_ring_sendrecv(&ring, flags, 0, 0, &self, LIMIT_PING, LIMIT_PING_LEN, buf, sizeof buf);
		done++;
	}
	t1 = bench_now();

	bench_note("ring: %s, fixed file, registered ring fd", how);
	bench_note("%ld round trips in %.3f s", done, t1 - t0);
	bench_report_ops("ping-udp1", "limit-uring", (double)done / (t1 - t0), "roundtrips/s", (double)done,
			 &usage);
	io_uring_queue_exit(&ring);
	close(fd);
	return 0;
}
