/* SPDX-License-Identifier: MIT */
/*
 * ping-pongs, libuv side: one TCP connection over loopback, one 5-byte ping
 * in flight, the server echoing from its own loop in its own thread.  Every
 * round trip crosses both loops once each way, so the figure is dominated
 * by per-event latency in libuv (read dispatch, uv_write, wakeups) rather
 * than by throughput.
 */
#include "uv-bench.h"

#include <stddef.h>
#include <uv.h>

#define PING "PING\n"
#define PING_LEN 5
#define READ_SIZE 4096

/*
 * Server.  A read lands in a buffer that travels with its write request and
 * comes back to a free list when the write completes: the bytes are echoed
 * without a copy, and no malloc happens once the list is warm.
 */
struct echo_req {
	uv_write_t req;
	struct echo_req *next;
	char buf[READ_SIZE];
};

static struct {
	uv_loop_t loop;
	uv_tcp_t listener;
	uv_tcp_t conn;
	struct echo_req *free_reqs;
	uv_sem_t ready;      /* posted with the port filled in */
	uv_sem_t accepted;   /* posted once the connection is read-armed */
	int port;
} srv;

static struct echo_req *echo_req_get(void)
{
	struct echo_req *r = srv.free_reqs;

	if (r) {
		srv.free_reqs = r->next;
		return r;
	}
	r = malloc(sizeof(*r));
	if (!r)
		bench_fail("out of memory");
	return r;
}

static void echo_req_put(struct echo_req *r)
{
	r->next = srv.free_reqs;
	srv.free_reqs = r;
}

static void srv_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct echo_req *r = echo_req_get();

	(void)h, (void)suggested;
	*buf = uv_buf_init(r->buf, READ_SIZE);
}

static void srv_written(uv_write_t *req, int status)
{
	if (status < 0 && status != UV_ECANCELED)
		bench_fail("server write: %s", uv_strerror(status));
	echo_req_put((struct echo_req *)req);
}

static void srv_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct echo_req *r = NULL;
	uv_buf_t out;

	if (buf->base)
		r = (struct echo_req *)(buf->base - offsetof(struct echo_req, buf));
	if (nread > 0) {
		out = uv_buf_init(buf->base, (unsigned int)nread);
		check(uv_write(&r->req, s, &out, 1, srv_written), "server uv_write");
		return;
	}
	if (r)
		echo_req_put(r);
	if (nread == UV_EOF)
		uv_close((uv_handle_t *)&srv.conn, NULL);
	else if (nread < 0)
		bench_fail("server read: %s", uv_strerror((int)nread));
}

static void srv_connection(uv_stream_t *l, int status)
{
	check(status, "listen");
	check(uv_tcp_init(&srv.loop, &srv.conn), "uv_tcp_init");
	check(uv_accept(l, (uv_stream_t *)&srv.conn), "uv_accept");
	check(uv_tcp_nodelay(&srv.conn, 1), "uv_tcp_nodelay");
	check(uv_read_start((uv_stream_t *)&srv.conn, srv_alloc, srv_read), "uv_read_start");
	/* One connection only: stop accepting. */
	uv_close((uv_handle_t *)&srv.listener, NULL);
	uv_sem_post(&srv.accepted);
}

static void srv_main(void *arg)
{
	struct sockaddr_in addr;
	struct sockaddr_storage name;
	int namelen = sizeof(name);

	(void)arg;
	bench_pin(1);
	check(uv_loop_init(&srv.loop), "uv_loop_init");
	check(uv_tcp_init(&srv.loop, &srv.listener), "uv_tcp_init");
	check(uv_ip4_addr("127.0.0.1", 0, &addr), "uv_ip4_addr");
	check(uv_tcp_bind(&srv.listener, (const struct sockaddr *)&addr, 0), "uv_tcp_bind");
	check(uv_listen((uv_stream_t *)&srv.listener, 1, srv_connection), "uv_listen");
	check(uv_tcp_getsockname(&srv.listener, (struct sockaddr *)&name, &namelen), "uv_tcp_getsockname");
	srv.port = ntohs(((struct sockaddr_in *)&name)->sin_port);
	uv_sem_post(&srv.ready);

	check(uv_run(&srv.loop, UV_RUN_DEFAULT), "server uv_run");
	check(uv_loop_close(&srv.loop), "server uv_loop_close");
	while (srv.free_reqs) {
		struct echo_req *r = srv.free_reqs;
		srv.free_reqs = r->next;
		free(r);
	}
}

/*
 * Client.  The ping buffer is constant, so a write request only has to live
 * until its callback; they are recycled through a free list because the
 * pong can in principle be read before the previous write's callback ran.
 */
struct ping_req {
	uv_write_t req;
	struct ping_req *next;
};

static struct {
	uv_loop_t loop;
	uv_tcp_t sock;
	uv_connect_t connect;
	struct ping_req *free_reqs;
	char buf[READ_SIZE];
	long n, done;
	size_t got;          /* bytes of the current pong seen so far */
	double t0, t1;
	struct bench_usage u; /* taken with t0 */
} cli;

static void cli_written(uv_write_t *req, int status)
{
	struct ping_req *r = (struct ping_req *)req;

	check(status, "client write");
	r->next = cli.free_reqs;
	cli.free_reqs = r;
}

static void cli_send(void)
{
	static const uv_buf_t ping = { .base = (char *)PING, .len = PING_LEN };
	struct ping_req *r = cli.free_reqs;

	if (r) {
		cli.free_reqs = r->next;
	} else if (!(r = malloc(sizeof(*r)))) {
		bench_fail("out of memory");
	}
	check(uv_write(&r->req, (uv_stream_t *)&cli.sock, &ping, 1, cli_written), "client uv_write");
}

static void cli_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h, (void)suggested;
	*buf = uv_buf_init(cli.buf, READ_SIZE);
}

static void cli_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	if (nread < 0)
		bench_fail("client read: %s", uv_strerror((int)nread));
	for (ssize_t i = 0; i < nread; i++) {
		if (buf->base[i] != PING[cli.got])
			bench_fail("wrong data in pong %ld", cli.done);
		if (++cli.got < PING_LEN)
			continue;
		cli.got = 0;
		if (++cli.done == cli.n) {
			cli.t1 = bench_now();
			if (i + 1 != nread)
				bench_fail("extra data after the last pong");
			uv_close((uv_handle_t *)s, NULL);
			return;
		}
		cli_send();
	}
}

static void cli_connected(uv_connect_t *req, int status)
{
	check(status, "connect");
	check(uv_tcp_nodelay(&cli.sock, 1), "uv_tcp_nodelay");
	check(uv_read_start(req->handle, cli_alloc, cli_read), "uv_read_start");
	/* Setup ends when the server side is read-armed too. */
	uv_sem_wait(&srv.accepted);
	bench_usage_start(&cli.u);
	cli.t0 = bench_now();
	cli_send();
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr;
	uv_thread_t thread;
	double elapsed;

	cli.n = 500001;
	bench_args(argc, argv, &cli.n, 0);
	bench_pin(0);

	check(uv_sem_init(&srv.ready, 0), "uv_sem_init");
	check(uv_sem_init(&srv.accepted, 0), "uv_sem_init");
	check(uv_thread_create(&thread, srv_main, NULL), "uv_thread_create");
	uv_sem_wait(&srv.ready);

	check(uv_loop_init(&cli.loop), "uv_loop_init");
	check(uv_tcp_init(&cli.loop, &cli.sock), "uv_tcp_init");
	check(uv_ip4_addr("127.0.0.1", srv.port, &addr), "uv_ip4_addr");
	check(uv_tcp_connect(&cli.connect, &cli.sock, (const struct sockaddr *)&addr, cli_connected), "uv_tcp_connect");
	check(uv_run(&cli.loop, UV_RUN_DEFAULT), "uv_run");
	check(uv_thread_join(&thread), "uv_thread_join");

	if (cli.done != cli.n)
		bench_fail("%ld of %ld round trips", cli.done, cli.n);
	elapsed = cli.t1 - cli.t0;
	bench_note("elapsed %.3f s", elapsed);
	bench_note("round trips %ld", cli.done);
	bench_report_ops("ping-pongs", "libuv", (double)cli.n / elapsed, "roundtrips/s", (double)cli.done, &cli.u);

	check(uv_loop_close(&cli.loop), "uv_loop_close");
	while (cli.free_reqs) {
		struct ping_req *r = cli.free_reqs;
		cli.free_reqs = r->next;
		free(r);
	}
	uv_sem_destroy(&srv.ready);
	uv_sem_destroy(&srv.accepted);
	return 0;
}
