/* SPDX-License-Identifier: MIT */
/*
 * udp-pummel-1v1, libev side: datagram throughput when one loop both
 * floods and drains, so the loop has to keep a sender and a receiver busy
 * at once.  The sender has one send outstanding (in a readiness loop: one
 * sendto per writable callback), which is what keeps libraries comparable;
 * the figure counts what actually arrived, not what was sent.
 */
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <ev.h>

#include "ev-bench.h"

#define DEFAULT_N 1000000L
#define RECV_SIZE (64 * 1024)

static const char msg[] = "RANG TANG DING DONG I AM THE JAPANESE SANDMAN";
#define MSG_LEN 45
_Static_assert(sizeof(msg) - 1 == MSG_LEN, "the datagram is 45 bytes");

struct pummel {
	int send_fd, recv_fd;
	struct sockaddr_in dst;
	ev_io send_w, recv_w;
	long target;
	long sent, received;
	double t_end;
	char buf[RECV_SIZE];
};

static void send_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pummel *p = w->data;
	ssize_t r;

	(void)revents;
	r = sendto(p->send_fd, msg, MSG_LEN, 0, (struct sockaddr *)&p->dst, sizeof(p->dst));
	if (r < 0) {
		/* Full socket buffer: try again on the next writable event. */
		if (errno == EAGAIN || errno == EINTR || errno == ENOBUFS)
			return;
		bench_fail("sendto: %s", strerror(errno));
	}
	if (r != MSG_LEN)
		bench_fail("short sendto: %zd", r);
	if (++p->sent == p->target) {
		p->t_end = bench_now();
		ev_io_stop(loop, &p->send_w);
		ev_io_stop(loop, &p->recv_w);
		ev_break(loop, EVBREAK_ALL);
	}
}

static void recv_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pummel *p = w->data;
	ssize_t r;

	(void)loop;
	(void)revents;
	r = recv(p->recv_fd, p->buf, sizeof(p->buf), 0);
	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		bench_fail("recv: %s", strerror(errno));
	}
	if (r != MSG_LEN || memcmp(p->buf, msg, MSG_LEN) != 0)
		bench_fail("wrong datagram (%zd bytes) after %ld received", r, p->received);
	p->received++;
}

int main(int argc, char **argv)
{
	long n = DEFAULT_N;
	struct ev_loop *loop;
	struct pummel *p;
	double t_start, elapsed;
	struct bench_usage u;

	bench_args(argc, argv, &n, 0);

	loop = bench_ev_default_loop();

	p = calloc(1, sizeof(*p));
	if (!p)
		bench_fail("out of memory");
	p->target = n;

	p->recv_fd = bench_udp_socket(&p->dst, SOCK_NONBLOCK);

	/* Unbound: the kernel picks the sender's port on its first sendto. */
	p->send_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->send_fd < 0)
		bench_fail("socket: %s", strerror(errno));

	ev_io_init(&p->recv_w, recv_cb, p->recv_fd, EV_READ);
	p->recv_w.data = p;
	ev_io_init(&p->send_w, send_cb, p->send_fd, EV_WRITE);
	p->send_w.data = p;
	ev_io_start(loop, &p->recv_w);
	ev_io_start(loop, &p->send_w);

	bench_usage_start(&u);
	t_start = bench_now();
	ev_run(loop, 0);

	if (p->sent != n)
		bench_fail("sent %ld of %ld datagrams", p->sent, n);
	/* Datagrams still queued when the last one is sent are not counted (nor lost). */
	if (p->received > p->sent)
		bench_fail("received %ld of %ld sent datagrams", p->received, p->sent);
	elapsed = p->t_end - t_start;

	close(p->send_fd);
	close(p->recv_fd);
	bench_note("sent %ld", p->sent);
	bench_note("received %ld", p->received);
	bench_note("elapsed %.3f s", elapsed);
	bench_report_ops("udp-pummel-1v1", bench_ev_library(loop), (double)p->received / elapsed, "datagrams/s",
			 (double)p->received, &u);
	free(p);
	ev_loop_destroy(loop);
	return 0;
}
