/* SPDX-License-Identifier: MIT */
/*
 * ping-pongs: TCP round trips over loopback between two loops in two
 * threads, one "PING\n" in flight.  Each round trip is two wake-ups of a
 * sleeping loop, so this measures the latency of the library's path from
 * the kernel to a callback and back, not throughput.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <xev.h>

#define PING "PING\n"
#define PING_LEN 5

struct server {
	xev_loop loop;
	int lfd, fd;
	xev_completion accept_c, recv_c, send_c;
	char buf[4096];
	/* Bytes read but not yet written back, when a read lands while a
	 * write is still in flight (not with one ping in flight, but an echo
	 * server must not drop them). */
	char out[8192];
	size_t out_len, sending;
	int failed;
};

struct client {
	xev_loop loop;
	int fd;
	xev_completion recv_c, send_c;
	char buf[4096];
	size_t got;
	long done, want;
	int sent, ponged, failed;
};

static void set_nodelay(int fd)
{
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
		bench_fail("TCP_NODELAY");
}

static xev_cb_action server_sent(xev_loop *l, xev_completion *c, int result, void *ud);

static void server_flush(struct server *s)
{
	if (s->sending || !s->out_len)
		return;
	s->sending = s->out_len;
	xev_send(&s->loop, &s->send_c, s->fd, s->out, s->out_len, 0, s, server_sent);
}

static xev_cb_action server_sent(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct server *s = ud;
	(void)l, (void)c;
	if (result < 0) {
		s->failed = 1;
		return XEV_DISARM;
	}
	memmove(s->out, s->out + result, s->out_len - (size_t)result);
	s->out_len -= (size_t)result;
	s->sending = 0;
	server_flush(s);
	return XEV_DISARM;
}

static xev_cb_action server_read(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct server *s = ud;
	(void)l, (void)c;
	if (result <= 0) {
		if (result < 0)
			s->failed = 1;
		return XEV_DISARM; /* the client hung up: the loop runs dry */
	}
	if (s->out_len + (size_t)result > sizeof s->out) {
		s->failed = 1;
		return XEV_DISARM;
	}
	memcpy(s->out + s->out_len, s->buf, (size_t)result);
	s->out_len += (size_t)result;
	server_flush(s);
	return XEV_REARM;
}

static xev_cb_action server_accepted(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct server *s = ud;
	(void)l, (void)c;
	if (result < 0) {
		s->failed = 1;
		return XEV_DISARM;
	}
	s->fd = result;
	set_nodelay(s->fd);
	xev_recv(&s->loop, &s->recv_c, s->fd, s->buf, sizeof s->buf, 0, s, server_read);
	return XEV_DISARM;
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	bench_pin(1);
	xev_accept(&s->loop, &s->accept_c, s->lfd, NULL, NULL, s, server_accepted);
	xev_loop_run(&s->loop, XEV_RUN_UNTIL_DONE);
	return NULL;
}

static xev_cb_action client_sent(xev_loop *l, xev_completion *c, int result, void *ud);

static void client_ping(struct client *k)
{
	k->sent = k->ponged = 0;
	xev_send(&k->loop, &k->send_c, k->fd, PING, PING_LEN, 0, k, client_sent);
}

/* The next ping goes when both halves of this one are over. */
static void client_step(struct client *k)
{
	if (!k->sent || !k->ponged)
		return;
	if (++k->done < k->want)
		client_ping(k);
}

static xev_cb_action client_sent(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct client *k = ud;
	(void)l, (void)c;
	if (result != PING_LEN) {
		k->failed = 1;
		return XEV_DISARM;
	}
	k->sent = 1;
	client_step(k);
	return XEV_DISARM;
}

static xev_cb_action client_read(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct client *k = ud;
	(void)l, (void)c;
	if (result <= 0 || k->got + (size_t)result > PING_LEN) {
		k->failed = 1;
		return XEV_DISARM;
	}
	k->got += (size_t)result;
	if (k->got < PING_LEN)
		return XEV_REARM;
	if (memcmp(k->buf, PING, PING_LEN) != 0) {
		k->failed = 1;
		return XEV_DISARM;
	}
	k->got = 0;
	k->ponged = 1;
	client_step(k);
	return k->done < k->want ? XEV_REARM : XEV_DISARM;
}

int main(int argc, char **argv)
{
	static struct server s;
	static struct client k;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof sa;
	pthread_t th;
	double t0, t1;
	struct bench_usage u;
	char lib[32];

	k.want = 500001;
	bench_args(argc, argv, &k.want, 0);
	bench_pin(0);
	if (xev_loop_init(&s.loop) < 0 || xev_loop_init(&k.loop) < 0)
		bench_fail("xev_loop_init");
	s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s.lfd < 0 || bind(s.lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(s.lfd, 1) < 0 ||
	    getsockname(s.lfd, (struct sockaddr *)&sa, &salen) < 0)
		bench_fail("listen");
	if (pthread_create(&th, NULL, server_main, &s) != 0)
		bench_fail("pthread_create");
	k.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (k.fd < 0 || connect(k.fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		bench_fail("connect");
	set_nodelay(k.fd);

	bench_usage_start(&u);
	t0 = bench_now();
	client_ping(&k);
	xev_recv(&k.loop, &k.recv_c, k.fd, k.buf, PING_LEN, 0, &k, client_read);
	xev_loop_run(&k.loop, XEV_RUN_UNTIL_DONE);
	t1 = bench_now();

	close(k.fd);
	pthread_join(th, NULL);
	if (k.failed || s.failed || k.done != k.want)
		bench_fail("%ld of %ld round trips (client %s, server %s)", k.done, k.want,
			   k.failed ? "failed" : "ok", s.failed ? "failed" : "ok");
	snprintf(lib, sizeof lib, "xev-%s", xev_backend_name(xev_loop_backend(&k.loop)));
	bench_note("%ld round trips in %.3f s", k.done, t1 - t0);
	bench_report_ops("ping-pongs", lib, (double)k.done / (t1 - t0), "roundtrips/s", (double)k.done, &u);
	close(s.fd);
	close(s.lfd);
	xev_loop_deinit(&k.loop);
	xev_loop_deinit(&s.loop);
	return 0;
}
