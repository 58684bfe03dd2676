/* SPDX-License-Identifier: MIT */
/*
 * UDP echo on 127.0.0.1:  udp-echo [port]   (default 7000; 0 = any free
 * port) sends every datagram back to where it came from, until SIGINT or
 * SIGTERM.  udp-echo --test echoes datagrams to itself from a second
 * socket on the same loop and checks every reply.
 *
 * Shows: one xev_recvmsg completion rearmed with the same msghdr for every
 * datagram (each rearm restores msg_namelen, msg_controllen and msg_flags,
 * which the kernel overwrote), and replies with xev_sendmsg.  Each reply
 * has its own copy of the datagram and of the source address, so the
 * receive is rearmed at once while replies are still being sent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xev.h>

#include "loop-socket.h"

#define MAX_DGRAM 65536 /* more than any UDP payload over IPv4 */
#define REPLIES 8

struct reply {
	xev_completion c; /* dead: the slot is free */
	struct sockaddr_in to;
	struct iovec iov;
	struct msghdr msg;
	char buf[MAX_DGRAM];
};

struct echo {
	int fd, closing, failed;
	unsigned long dropped;
	xev_watcher stop; /* async: notified to shut down */
	xev_completion recv_c, stop_c, cancel_c;
	struct sockaddr_in from;
	struct iovec iov;
	struct msghdr msg;
	char buf[MAX_DGRAM];
	struct reply replies[REPLIES];
};

static xev_cb_action on_sent(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	(void)loop, (void)c, (void)userdata;
	if (result < 0)
		fprintf(stderr, "udp-echo: sendmsg: %s\n", strerror(-result));
	return XEV_DISARM; /* the reply slot is free again */
}

static struct reply *free_reply(struct echo *e)
{
	for (int i = 0; i < REPLIES; i++)
		if (xev_completion_state(&e->replies[i].c) == XEV_COMPLETION_DEAD)
			return &e->replies[i];
	return NULL;
}

static xev_cb_action on_recv(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct echo *e = userdata;
	struct reply *r;

	if (result < 0) { /* -ECANCELED by on_stop, or an error: end */
		if (result != -ECANCELED) { /* then stop waiting for a signal too */
			fprintf(stderr, "udp-echo: recvmsg: %s\n", strerror(-result));
			e->failed = 1;
			xev_cancel(loop, &e->cancel_c, &e->stop_c, NULL, NULL);
		}
		e->closing = 1;
		xev_close(loop, c, e->fd, NULL, NULL);
		return XEV_DISARM;
	}
	if (!(r = free_reply(e))) { /* every reply still in flight: drop this one, as UDP may */
		e->dropped++;
		return XEV_REARM;
	}
	memcpy(r->buf, e->buf, (size_t)result);
	r->iov.iov_len = (size_t)result;
	r->to = e->from;
	r->msg.msg_namelen = e->msg.msg_namelen; /* as recvmsg set it */
	xev_sendmsg(loop, &r->c, e->fd, &r->msg, 0, r, on_sent);
	return XEV_REARM; /* same msghdr, same buffer: the next datagram */
}

static xev_cb_action on_stop(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct echo *e = userdata;

	(void)c, (void)result;
	if (!e->closing) /* on_recv may have met an error first */
		xev_cancel(loop, &e->cancel_c, &e->recv_c, NULL, NULL); /* on_recv closes */
	return XEV_DISARM;
}

/* Binds 127.0.0.1:port and starts receiving; returns the port or -errno. */
static int echo_open(struct echo *e, xev_loop *loop, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	socklen_t len = sizeof sa;
	int err;

	memset(e, 0, sizeof *e); /* zeroed reply completions read DEAD: free */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((e->fd = loop_socket(SOCK_DGRAM)) < 0)
		return -errno;
	if (bind(e->fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    getsockname(e->fd, (struct sockaddr *)&sa, &len) < 0) {
		err = -errno;
		close(e->fd);
		return err;
	}
	for (int i = 0; i < REPLIES; i++) {
		struct reply *r = &e->replies[i];
		r->iov.iov_base = r->buf;
		r->msg = (struct msghdr){ .msg_name = &r->to, .msg_iov = &r->iov, .msg_iovlen = 1 };
	}
	e->iov = (struct iovec){ .iov_base = e->buf, .iov_len = sizeof e->buf };
	e->msg = (struct msghdr){
		.msg_name = &e->from, .msg_namelen = sizeof e->from, .msg_iov = &e->iov, .msg_iovlen = 1
	};
	xev_async_init(&e->stop);
	xev_async_wait(&e->stop, loop, &e->stop_c, e, on_stop);
	xev_recvmsg(loop, &e->recv_c, e->fd, &e->msg, 0, e, on_recv);
	return ntohs(sa.sin_port);
}

/*
 * --test: a client socket connected to the echo sends TEST_COUNT datagrams
 * of varied sizes, TEST_WINDOW at a time (fewer than REPLIES, so the echo
 * never has to drop one), and checks each reply.  The first 4 bytes of
 * a datagram are its number; the rest derive from it.
 */
#define TEST_COUNT 2000
#define TEST_WINDOW 4

struct tester {
	struct echo *e;
	int fd, failed;
	unsigned sent, received;
	xev_watcher timer;
	xev_completion recv_c, timer_c, cancel_c;
	xev_completion send_c[TEST_WINDOW];
	char out[TEST_WINDOW][1500], in[MAX_DGRAM];
};

static size_t test_fill(char *buf, unsigned seq)
{
	size_t len = 4 + (seq * 997u) % 1400;

	memcpy(buf, &seq, 4);
	for (size_t i = 4; i < len; i++)
		buf[i] = (char)(seq + i * 7);
	return len;
}

static xev_cb_action test_fail(xev_loop *loop, struct tester *t, const char *why)
{
	fprintf(stderr, "udp-echo --test: datagram %u: %s\n", t->received, why);
	t->failed = 1;
	xev_loop_stop(loop); /* main closes the sockets */
	return XEV_DISARM;
}

static xev_cb_action on_test_sent(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	(void)c;
	return result < 0 ? test_fail(loop, userdata, strerror(-result)) : XEV_DISARM;
}

static void test_send(xev_loop *loop, struct tester *t)
{
	for (int i = 0; i < TEST_WINDOW; i++) {
		if (xev_completion_state(&t->send_c[i]) == XEV_COMPLETION_ACTIVE)
			continue;
		size_t len = test_fill(t->out[i], t->sent++);
		xev_send(loop, &t->send_c[i], t->fd, t->out[i], len, 0, t, on_test_sent);
		return;
	}
	test_fail(loop, t, "no free send completion");
}

static xev_cb_action on_test_recv(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct tester *t = userdata;
	char expect[1500];
	unsigned seq;

	if (result < 0)
		return test_fail(loop, t, strerror(-result));
	memcpy(&seq, t->in, 4);
	if (result < 4 || seq >= t->sent || (size_t)result != test_fill(expect, seq) ||
	    memcmp(t->in, expect, (size_t)result) != 0)
		return test_fail(loop, t, "reply differs from what was sent");
	if (++t->received == TEST_COUNT) { /* all back: close, stop the echo, and the watchdog */
		xev_close(loop, c, t->fd, NULL, NULL);
		xev_async_notify(&t->e->stop);
		xev_timer_cancel(&t->timer, loop, &t->timer_c, &t->cancel_c, NULL, NULL);
		return XEV_DISARM;
	}
	if (t->sent < TEST_COUNT)
		test_send(loop, t);
	return XEV_REARM;
}

static xev_cb_action on_watchdog(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	(void)c;
	return result == 0 ? test_fail(loop, userdata, "no reply for 10 s") : XEV_DISARM;
}

static int test_start(struct tester *t, struct echo *e, xev_loop *loop, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	memset(t, 0, sizeof *t);
	t->e = e;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t->fd = loop_socket(SOCK_DGRAM);
	if (t->fd < 0 || connect(t->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		return -errno;
	xev_recv(loop, &t->recv_c, t->fd, t->in, sizeof t->in, 0, t, on_test_recv);
	for (int i = 0; i < TEST_WINDOW; i++)
		test_send(loop, t);
	xev_timer_init(&t->timer);
	xev_timer_run(&t->timer, loop, &t->timer_c, 10000, t, on_watchdog);
	return 0;
}

static xev_watcher *stop_watcher;

static void on_signal(int signo)
{
	(void)signo;
	xev_async_notify(stop_watcher);
}

int main(int argc, char **argv)
{
	static struct echo e;
	static struct tester t;
	struct sigaction sa = { .sa_handler = on_signal };
	int test = argc == 2 && strcmp(argv[1], "--test") == 0;
	char *end = NULL;
	long port = argc > 1 && !test ? strtol(argv[1], &end, 10) : test ? 0 : 7000;
	xev_loop loop;
	int rc;

	if (argc > 2 || (end && (*end || end == argv[1] || port < 0 || port > 65535))) {
		fprintf(stderr, "usage: udp-echo [port] | udp-echo --test\n");
		return 2;
	}
	if ((rc = xev_loop_init(&loop)) < 0 || (rc = echo_open(&e, &loop, (int)port)) < 0 ||
	    (test && (rc = test_start(&t, &e, &loop, rc)) < 0)) {
		fprintf(stderr, "udp-echo: %s\n", strerror(-rc));
		return 1;
	}
	if (!test) {
		printf("listening on 127.0.0.1:%d\n", rc);
		fflush(stdout);
		stop_watcher = &e.stop;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
	}

	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);

	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (test)
		printf("udp-echo --test: %u of %d datagrams echoed on %s, %lu dropped\n", t.received,
		       TEST_COUNT, xev_backend_name(xev_loop_backend(&loop)), e.dropped);
	xev_loop_deinit(&loop); /* after a failed test, it ends what was left running */
	xev_async_deinit(&e.stop);
	if (t.failed) {
		close(t.fd);
		if (!e.closing)
			close(e.fd);
	}
	return rc < 0 || e.failed || t.failed || (test && t.received != TEST_COUNT);
}
