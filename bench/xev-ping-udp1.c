/* SPDX-License-Identifier: MIT */
/*
 * ping-udp1: one UDP socket pinging itself over loopback, one datagram in
 * flight.  The send and the receive of each round trip complete in the
 * same loop, so this measures the cost of an operation's trip through the
 * library (submission, completion, callback) rather than a thread wake-up.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <xev.h>

#define PING "PING\n"
#define PING_LEN 5

struct pinger {
	xev_loop loop;
	int fd;
	struct sockaddr_in self;
	xev_completion send_c, recv_c;
	struct msghdr smsg;
	struct iovec siov;
	char buf[65536];
	long done, want;
	int sent, ponged, failed;
};

static xev_cb_action on_sent(xev_loop *l, xev_completion *c, int result, void *ud);

static void ping(struct pinger *p)
{
	p->sent = p->ponged = 0;
	xev_sendmsg(&p->loop, &p->send_c, p->fd, &p->smsg, 0, p, on_sent);
}

/* The next ping goes when both halves of this one are over. */
static void step(struct pinger *p)
{
	if (p->sent && p->ponged && ++p->done < p->want)
		ping(p);
}

static xev_cb_action on_sent(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct pinger *p = ud;
	(void)l, (void)c;
	if (result != PING_LEN) {
		p->failed = 1;
		return XEV_DISARM;
	}
	p->sent = 1;
	step(p);
	return XEV_DISARM;
}

static xev_cb_action on_recv(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct pinger *p = ud;
	(void)l, (void)c;
	if (result != PING_LEN || memcmp(p->buf, PING, PING_LEN) != 0) {
		p->failed = 1;
		return XEV_DISARM;
	}
	p->ponged = 1;
	step(p);
	return p->done < p->want ? XEV_REARM : XEV_DISARM;
}

int main(int argc, char **argv)
{
	static struct pinger p;
	double t0, t1;
	struct bench_usage u;
	char lib[32];

	p.want = 500001;
	bench_args(argc, argv, &p.want, 0);
	if (xev_loop_init(&p.loop) < 0)
		bench_fail("xev_loop_init");
	p.fd = bench_udp_socket(&p.self, 0);
	p.siov.iov_base = (void *)PING;
	p.siov.iov_len = PING_LEN;
	p.smsg.msg_name = &p.self;
	p.smsg.msg_namelen = sizeof p.self;
	p.smsg.msg_iov = &p.siov;
	p.smsg.msg_iovlen = 1;

	bench_usage_start(&u);
	t0 = bench_now();
	xev_recv(&p.loop, &p.recv_c, p.fd, p.buf, sizeof p.buf, 0, &p, on_recv);
	ping(&p);
	xev_loop_run(&p.loop, XEV_RUN_UNTIL_DONE);
	t1 = bench_now();

	if (p.failed || p.done != p.want)
		bench_fail("%ld of %ld round trips", p.done, p.want);
	snprintf(lib, sizeof lib, "xev-%s", xev_backend_name(xev_loop_backend(&p.loop)));
	bench_note("%ld round trips in %.3f s", p.done, t1 - t0);
	bench_report_ops("ping-udp1", lib, (double)p.done / (t1 - t0), "roundtrips/s", (double)p.done, &u);
	close(p.fd);
	xev_loop_deinit(&p.loop);
	return 0;
}
