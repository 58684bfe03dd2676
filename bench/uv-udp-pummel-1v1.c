/* SPDX-License-Identifier: MIT */
/*
 * udp-pummel-1v1, libuv side: one sender and one receiver on one loop,
 * each send started from the previous send's completion callback.  The
 * figure counts datagrams received, so it measures how fast libuv can keep
 * a send queue moving while draining the receiver, with loss (if any)
 * charged against it.
 */
#include "uv-bench.h"

#include <uv.h>

#define MSG "RANG TANG DING DONG I AM THE JAPANESE SANDMAN"
#define MSG_LEN 45
#define RECV_SIZE 65536

_Static_assert(sizeof(MSG) - 1 == MSG_LEN, "the datagram is 45 bytes");

static uv_loop_t loop;
static uv_udp_t sender, receiver;
static uv_udp_send_t send_req;
static struct sockaddr_storage dest;
static char recv_buf[RECV_SIZE];
static long n, sent, received;
static double t0, t1;

static void on_sent(uv_udp_send_t *req, int status);

static void send_one(void)
{
	static const uv_buf_t msg = { .base = (char *)MSG, .len = MSG_LEN };

	check(uv_udp_send(&send_req, &sender, &msg, 1, (const struct sockaddr *)&dest, on_sent), "uv_udp_send");
}

static void on_sent(uv_udp_send_t *req, int status)
{
	(void)req;
	check(status, "send");
	if (++sent == n) {
		t1 = bench_now();
		uv_stop(&loop);
		return;
	}
	send_one();
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h, (void)suggested;
	*buf = uv_buf_init(recv_buf, RECV_SIZE);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from, unsigned flags)
{
	(void)h;
	if (nread < 0)
		bench_fail("recv: %s", uv_strerror((int)nread));
	if (nread == 0 && !from)
		return;   /* nothing more to read this time round */
	if (nread != MSG_LEN || memcmp(buf->base, MSG, MSG_LEN) != 0 || (flags & UV_UDP_PARTIAL))
		bench_fail("wrong datagram after %ld", received);
	received++;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr;
	int namelen = sizeof(dest);
	double elapsed;
	struct bench_usage u;

	n = 1000000;
	bench_args(argc, argv, &n, 0);

	check(uv_loop_init(&loop), "uv_loop_init");
	check(uv_udp_init(&loop, &receiver), "uv_udp_init");
	check(uv_ip4_addr("127.0.0.1", 0, &addr), "uv_ip4_addr");
	check(uv_udp_bind(&receiver, (const struct sockaddr *)&addr, 0), "uv_udp_bind");
	check(uv_udp_getsockname(&receiver, (struct sockaddr *)&dest, &namelen), "uv_udp_getsockname");
	check(uv_udp_recv_start(&receiver, on_alloc, on_recv), "uv_udp_recv_start");
	/* Create the sender's socket now; libuv binds it to an ephemeral port
	 * on its first send, as the kernel would for a plain sendto. */
	check(uv_udp_init_ex(&loop, &sender, AF_INET), "uv_udp_init_ex");

	bench_usage_start(&u);
	t0 = bench_now();
	send_one();
	check(uv_run(&loop, UV_RUN_DEFAULT), "uv_run");
	if (sent != n)
		bench_fail("%ld of %ld datagrams sent", sent, n);
	elapsed = t1 - t0;
	/* Before the teardown, which is no part of the window. */
	bench_report_ops("udp-pummel-1v1", "libuv", (double)received / elapsed, "datagrams/s", (double)received, &u);

	uv_close((uv_handle_t *)&sender, NULL);
	uv_close((uv_handle_t *)&receiver, NULL);
	check(uv_run(&loop, UV_RUN_DEFAULT), "uv_run (close)");
	check(uv_loop_close(&loop), "uv_loop_close");

	bench_note("sent %ld", sent);
	bench_note("received %ld", received);
	bench_note("elapsed %.3f s", elapsed);
	return 0;
}
