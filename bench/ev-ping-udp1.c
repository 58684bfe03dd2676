/* SPDX-License-Identifier: MIT */
/*
 * ping-udp1, libev side: the per-message cost of the loop itself, with no
 * second thread to wake: one UDP socket pings its own address and the next
 * ping leaves only once the previous one has come back, so every round
 * trip is one send, one readiness wake-up and one receive on one thread.
 */
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <ev.h>

#include "ev-bench.h"

#define DEFAULT_N 500001L
#define RECV_SIZE (64 * 1024)

static const char ping_msg[] = "PING\n";
#define PING_LEN 5

struct pinger {
	int fd;
	struct sockaddr_in addr;
	ev_io read_w;
	ev_io write_w;
	long target;
	long done;
	double t_start, t_end;
	char buf[RECV_SIZE];
};

/*
 * A readiness loop sends directly; only if the socket says it is full does
 * the send wait for writability.  Either way the pong can only be answered
 * after the send has gone out.
 */
static void pinger_send(struct ev_loop *loop, struct pinger *p)
{
	ssize_t r = sendto(p->fd, ping_msg, PING_LEN, 0, (struct sockaddr *)&p->addr,
			   sizeof(p->addr));
	if (r == PING_LEN)
		return;
	if (r < 0 && (errno == EAGAIN || errno == EINTR || errno == ENOBUFS)) {
		ev_io_start(loop, &p->write_w);
		return;
	}
	bench_fail("sendto: %zd (%s)", r, r < 0 ? strerror(errno) : "short");
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pinger *p = w->data;

	(void)revents;
	ev_io_stop(loop, w);
	pinger_send(loop, p);
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct pinger *p = w->data;
	ssize_t r;

	(void)revents;
	r = recv(p->fd, p->buf, sizeof(p->buf), 0);
	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		bench_fail("recv: %s", strerror(errno));
	}
	if (r != PING_LEN || memcmp(p->buf, ping_msg, PING_LEN) != 0)
		bench_fail("wrong datagram (%zd bytes) after %ld round trips", r, p->done);
	/* A pong can only arrive after its ping went out, so this one is complete. */
	if (++p->done == p->target) {
		p->t_end = bench_now();
		ev_io_stop(loop, &p->read_w);
		ev_io_stop(loop, &p->write_w);
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	pinger_send(loop, p);
}

int main(int argc, char **argv)
{
	long n = DEFAULT_N;
	struct ev_loop *loop;
	struct pinger *p;
	double elapsed;
	struct bench_usage u;

	bench_args(argc, argv, &n, 0);

	loop = bench_ev_default_loop();

	p = calloc(1, sizeof(*p));
	if (!p)
		bench_fail("out of memory");
	p->target = n;
	p->fd = bench_udp_socket(&p->addr, SOCK_NONBLOCK);

	ev_io_init(&p->read_w, read_cb, p->fd, EV_READ);
	p->read_w.data = p;
	ev_io_init(&p->write_w, write_cb, p->fd, EV_WRITE);
	p->write_w.data = p;
	ev_io_start(loop, &p->read_w);

	bench_usage_start(&u);
	p->t_start = bench_now();
	pinger_send(loop, p);
	ev_run(loop, 0);

	if (p->done != n)
		bench_fail("%ld of %ld round trips", p->done, n);
	elapsed = p->t_end - p->t_start;

	close(p->fd);
	bench_note("elapsed %.3f s", elapsed);
	bench_note("round trips %ld", p->done);
	bench_report_ops("ping-udp1", bench_ev_library(loop), (double)n / elapsed, "roundtrips/s", (double)p->done, &u);
	free(p);
	ev_loop_destroy(loop);
	return 0;
}
