/* SPDX-License-Identifier: MIT */
/*
 * ping-pongs, libev side: round-trip latency over loopback TCP with one
 * 5-byte ping in flight, so that every round trip pays for two loop
 * wake-ups (client and server, each in its own thread) and a read and a
 * write on each side.  Nothing is batched: the figure is the cost of one
 * turn of the loop per message.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <ev.h>

#include "ev-bench.h"

#define DEFAULT_N 500001L
#define READ_SIZE 4096

static const char ping_msg[] = "PING\n";
#define PING_LEN 5

static void set_nodelay(int fd)
{
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		bench_fail("setsockopt TCP_NODELAY: %s", strerror(errno));
}

/* ---- server: its own thread and loop, one connection, echoes ---- */

struct server {
	struct ev_loop *loop;
	int listen_fd;
	int conn_fd;
	ev_io accept_w;
	ev_io read_w;
	ev_io write_w;
	/* Bytes an echo could not write at once; normally always empty. */
	char pending[READ_SIZE];
	size_t pending_len;
	char buf[READ_SIZE];

	/* Hand-shake with the main thread: port known, then connection accepted. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int state; /* 0 starting, 1 listening, 2 accepted */
	unsigned short port;
};

static void server_set_state(struct server *s, int state)
{
	pthread_mutex_lock(&s->mu);
	s->state = state;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void server_wait_state(struct server *s, int state)
{
	pthread_mutex_lock(&s->mu);
	while (s->state < state)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

static void server_close(struct server *s)
{
	ev_io_stop(s->loop, &s->read_w);
	ev_io_stop(s->loop, &s->write_w);
	close(s->conn_fd);
	s->conn_fd = -1;
	ev_break(s->loop, EVBREAK_ALL);
}

/* The socket was full at the last echo: write the rest once it drains. */
static void server_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *s = w->data;
	ssize_t r;

	(void)loop;
	(void)revents;
	r = write(s->conn_fd, s->pending, s->pending_len);
	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		bench_fail("server write: %s", strerror(errno));
	}
	memmove(s->pending, s->pending + r, s->pending_len - (size_t)r);
	s->pending_len -= (size_t)r;
	if (s->pending_len == 0) {
		ev_io_stop(s->loop, &s->write_w);
		ev_io_start(s->loop, &s->read_w);
	}
}

static void server_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *s = w->data;
	ssize_t r, wr;

	(void)loop;
	(void)revents;
	r = read(s->conn_fd, s->buf, sizeof(s->buf));
	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		bench_fail("server read: %s", strerror(errno));
	}
	if (r == 0) {
		server_close(s);
		return;
	}
	wr = write(s->conn_fd, s->buf, (size_t)r);
	if (wr < 0) {
		if (errno != EAGAIN)
			bench_fail("server write: %s", strerror(errno));
		wr = 0;
	}
	if (wr < r) {
		/* Back-pressure: stop reading until the echo is out. */
		memcpy(s->pending, s->buf + wr, (size_t)(r - wr));
		s->pending_len = (size_t)(r - wr);
		ev_io_stop(s->loop, &s->read_w);
		ev_io_start(s->loop, &s->write_w);
	}
}

static void server_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *s = w->data;
	int fd;

	(void)revents;
	fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		bench_fail("accept: %s", strerror(errno));
	}
	/* ONE connection: stop listening. */
	ev_io_stop(loop, &s->accept_w);
	close(s->listen_fd);
	s->listen_fd = -1;

	set_nodelay(fd);
	s->conn_fd = fd;
	ev_io_init(&s->read_w, server_read_cb, fd, EV_READ);
	s->read_w.data = s;
	ev_io_init(&s->write_w, server_write_cb, fd, EV_WRITE);
	s->write_w.data = s;
	ev_io_start(loop, &s->read_w);
	server_set_state(s, 2);
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	bench_pin(1);
	s->loop = ev_loop_new(EVFLAG_AUTO);
	if (!s->loop)
		bench_fail("ev_loop_new failed");

	s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0)
		bench_fail("socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		bench_fail("bind: %s", strerror(errno));
	if (listen(s->listen_fd, 1) < 0)
		bench_fail("listen: %s", strerror(errno));
	if (getsockname(s->listen_fd, (struct sockaddr *)&sa, &len) < 0)
		bench_fail("getsockname: %s", strerror(errno));
	s->port = ntohs(sa.sin_port);

	ev_io_init(&s->accept_w, server_accept_cb, s->listen_fd, EV_READ);
	s->accept_w.data = s;
	ev_io_start(s->loop, &s->accept_w);
	server_set_state(s, 1);

	ev_run(s->loop, 0);
	ev_loop_destroy(s->loop);
	return NULL;
}

/* ---- client: main thread, default loop ---- */

struct client {
	int fd;
	ev_io read_w;
	long target;
	long done;
	size_t got; /* bytes of the current pong received so far */
	char buf[READ_SIZE];
	char pong[PING_LEN];
	double t_start, t_end;
	struct bench_usage u; /* taken with t_start */
};

static void client_send(struct client *c)
{
	ssize_t r = write(c->fd, ping_msg, PING_LEN);
	/* One 5-byte ping in flight never fills a socket buffer. */
	if (r != PING_LEN)
		bench_fail("client write: %zd (%s)", r, r < 0 ? strerror(errno) : "short");
}

static void client_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = w->data;
	ssize_t r;

	(void)revents;
	r = read(c->fd, c->buf, sizeof(c->buf));
	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		bench_fail("client read: %s", strerror(errno));
	}
	if (r == 0)
		bench_fail("server closed the connection after %ld round trips", c->done);
	if (c->got + (size_t)r > PING_LEN)
		bench_fail("got %zu bytes for a %d-byte ping", c->got + (size_t)r, PING_LEN);
	memcpy(c->pong + c->got, c->buf, (size_t)r);
	c->got += (size_t)r;
	if (c->got < PING_LEN)
		return;
	if (memcmp(c->pong, ping_msg, PING_LEN) != 0)
		bench_fail("wrong pong data");
	c->got = 0;
	if (++c->done == c->target) {
		c->t_end = bench_now();
		ev_io_stop(loop, &c->read_w);
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	client_send(c);
}

int main(int argc, char **argv)
{
	long n = DEFAULT_N;
	struct server *srv;
	struct client cl;
	struct ev_loop *loop;
	struct sockaddr_in sa;
	pthread_t th;
	double elapsed;

	bench_args(argc, argv, &n, 0);
	bench_pin(0);

	loop = bench_ev_default_loop();

	srv = calloc(1, sizeof(*srv));
	if (!srv)
		bench_fail("out of memory");
	srv->conn_fd = -1;
	pthread_mutex_init(&srv->mu, NULL);
	pthread_cond_init(&srv->cv, NULL);
	if (pthread_create(&th, NULL, server_main, srv) != 0)
		bench_fail("pthread_create failed");
	server_wait_state(srv, 1);

	memset(&cl, 0, sizeof(cl));
	cl.target = n;
	cl.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cl.fd < 0)
		bench_fail("socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(srv->port);
	/* Connecting is setup, not measured: a plain blocking connect will do. */
	if (connect(cl.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		bench_fail("connect: %s", strerror(errno));
	{
		int fl = fcntl(cl.fd, F_GETFL);
		if (fl < 0 || fcntl(cl.fd, F_SETFL, fl | O_NONBLOCK) < 0)
			bench_fail("fcntl O_NONBLOCK: %s", strerror(errno));
	}
	set_nodelay(cl.fd);
	server_wait_state(srv, 2);

	ev_io_init(&cl.read_w, client_read_cb, cl.fd, EV_READ);
	cl.read_w.data = &cl;
	ev_io_start(loop, &cl.read_w);

	bench_usage_start(&cl.u);
	cl.t_start = bench_now();
	client_send(&cl);
	ev_run(loop, 0);

	if (cl.done != n)
		bench_fail("%ld of %ld round trips", cl.done, n);
	elapsed = cl.t_end - cl.t_start;
	bench_report_ops("ping-pongs", bench_ev_library(loop), (double)n / elapsed, "roundtrips/s", (double)cl.done,
			 &cl.u);

	close(cl.fd);
	if (pthread_join(th, NULL) != 0)
		bench_fail("pthread_join failed");
	pthread_mutex_destroy(&srv->mu);
	pthread_cond_destroy(&srv->cv);
	free(srv);

	bench_note("elapsed %.3f s", elapsed);
	bench_note("round trips %ld", cl.done);
	ev_loop_destroy(loop);
	return 0;
}
