/* SPDX-License-Identifier: MIT */
/*
 * udp-pummel-1v1: a sender and a receiver on one loop, 45-byte datagrams,
 * one send outstanding.  Throughput of small operations: with nothing to
 * wait for, the library's own cost per operation is most of what is left.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <xev.h>

static const char text[] = "RANG TANG DING DONG I AM THE JAPANESE SANDMAN";
#define TEXT_LEN (sizeof text - 1)

struct pummel {
	xev_loop loop;
	int rfd, sfd;
	struct sockaddr_in to;
	xev_completion send_c, recv_c;
	struct msghdr smsg;
	struct iovec siov;
	char buf[65536];
	long sent, received, want;
	int failed;
};

static xev_cb_action on_sent(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct pummel *p = ud;
	(void)c;
	if (result != (int)TEXT_LEN) {
		p->failed = 1;
		xev_loop_stop(l);
		return XEV_DISARM;
	}
	if (++p->sent < p->want)
		return XEV_REARM;
	xev_loop_stop(l);
	return XEV_DISARM;
}

static xev_cb_action on_recv(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct pummel *p = ud;
	(void)l, (void)c;
	if (result != (int)TEXT_LEN || memcmp(p->buf, text, TEXT_LEN) != 0) {
		p->failed = 1;
		return XEV_DISARM;
	}
	p->received++;
	return XEV_REARM;
}

int main(int argc, char **argv)
{
	static struct pummel p;
	double t0, t1;
	struct bench_usage u;
	char lib[32];

	p.want = 1000000;
	bench_args(argc, argv, &p.want, 0);
	if (xev_loop_init(&p.loop) < 0)
		bench_fail("xev_loop_init");
	p.rfd = bench_udp_socket(&p.to, 0);
	p.sfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (p.sfd < 0)
		bench_fail("socket");
	p.siov.iov_base = (void *)text;
	p.siov.iov_len = TEXT_LEN;
	p.smsg.msg_name = &p.to;
	p.smsg.msg_namelen = sizeof p.to;
	p.smsg.msg_iov = &p.siov;
	p.smsg.msg_iovlen = 1;

	bench_usage_start(&u);
	t0 = bench_now();
	xev_recv(&p.loop, &p.recv_c, p.rfd, p.buf, sizeof p.buf, 0, &p, on_recv);
	xev_sendmsg(&p.loop, &p.send_c, p.sfd, &p.smsg, 0, &p, on_sent);
	xev_loop_run(&p.loop, XEV_RUN_UNTIL_DONE);
	t1 = bench_now();

	if (p.failed || p.sent != p.want)
		bench_fail("%ld of %ld datagrams sent, %ld received", p.sent, p.want, p.received);
	snprintf(lib, sizeof lib, "xev-%s", xev_backend_name(xev_loop_backend(&p.loop)));
	bench_note("%ld sent, %ld received in %.3f s", p.sent, p.received, t1 - t0);
	bench_report_ops("udp-pummel-1v1", lib, (double)p.received / (t1 - t0), "datagrams/s", (double)p.received,
			 &u);
	close(p.rfd);
	close(p.sfd);
	xev_loop_deinit(&p.loop);
	return 0;
}
