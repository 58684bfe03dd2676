/* SPDX-License-Identifier: MIT */
/*
 * ping-udp1, libuv side: one UDP socket pinging itself over loopback, one
 * datagram in flight.  No second thread and no copy between sockets worth
 * speaking of, so the figure is the cost of one libuv send (with its
 * completion callback) plus one receive, round after round on one loop.
 */
#include "uv-bench.h"

#include <uv.h>

#define PING "PING\n"
#define PING_LEN 5
#define RECV_SIZE 65536

static uv_loop_t loop;
static uv_udp_t sock;
static uv_udp_send_t send_req;
static struct sockaddr_storage self;
static char recv_buf[RECV_SIZE];
static long n, pongs;
static int sending, pong_seen;   /* the current ping's two halves */
static double t0, t1;

static void on_sent(uv_udp_send_t *req, int status);

static void send_ping(void)
{
	static const uv_buf_t ping = { .base = (char *)PING, .len = PING_LEN };

	sending = 1;
	pong_seen = 0;
	check(uv_udp_send(&send_req, &sock, &ping, 1, (const struct sockaddr *)&self, on_sent), "uv_udp_send");
}

/* The next ping goes out once both the send completed and the pong is in. */
static void round_done(void)
{
	if (pongs == n) {
		t1 = bench_now();
		uv_close((uv_handle_t *)&sock, NULL);
		return;
	}
	send_ping();
}

static void on_sent(uv_udp_send_t *req, int status)
{
	(void)req;
	check(status, "send");
	sending = 0;
	if (pong_seen)
		round_done();
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h, (void)suggested;
	*buf = uv_buf_init(recv_buf, RECV_SIZE);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from, unsigned flags)
{
	(void)h, (void)from;
	if (nread < 0)
		bench_fail("recv: %s", uv_strerror((int)nread));
	if (nread == 0 && !from)
		return;   /* nothing more to read this time round */
	if (nread != PING_LEN || memcmp(buf->base, PING, PING_LEN) != 0 || (flags & UV_UDP_PARTIAL))
		bench_fail("wrong datagram after %ld pongs", pongs);
	if (pong_seen)
		bench_fail("two pongs for one ping");
	pong_seen = 1;
	pongs++;
	if (!sending)
		round_done();
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr;
	int namelen = sizeof(self);
	double elapsed;
	struct bench_usage u;

	n = 500001;
	bench_args(argc, argv, &n, 0);

	check(uv_loop_init(&loop), "uv_loop_init");
	check(uv_udp_init(&loop, &sock), "uv_udp_init");
	check(uv_ip4_addr("127.0.0.1", 0, &addr), "uv_ip4_addr");
	check(uv_udp_bind(&sock, (const struct sockaddr *)&addr, 0), "uv_udp_bind");
	check(uv_udp_getsockname(&sock, (struct sockaddr *)&self, &namelen), "uv_udp_getsockname");
	check(uv_udp_recv_start(&sock, on_alloc, on_recv), "uv_udp_recv_start");

	bench_usage_start(&u);
	t0 = bench_now();
	send_ping();
	check(uv_run(&loop, UV_RUN_DEFAULT), "uv_run");

	if (pongs != n)
		bench_fail("%ld of %ld round trips", pongs, n);
	elapsed = t1 - t0;
	bench_note("elapsed %.3f s", elapsed);
	bench_note("round trips %ld", pongs);
	bench_report_ops("ping-udp1", "libuv", (double)n / elapsed, "roundtrips/s", (double)pongs, &u);
	check(uv_loop_close(&loop), "uv_loop_close");
	return 0;
}
