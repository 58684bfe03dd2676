/* SPDX-License-Identifier: MIT */
/*
 * TCP echo server on 127.0.0.1:  tcp-echo [port]   (default 7000; 0 = any
 * free port).  It prints "listening on 127.0.0.1:PORT" and echoes every
 * byte back until SIGINT or SIGTERM.
 *
 * Shows: one xev_accept completion rearmed for every connection; per
 * connection a receive and a send completion, the send queued again for
 * the rest after a short write; accepting paused with a timer when the
 * process runs out of descriptors; and a clean shutdown on a signal
 * through an async watcher (xev_async_notify is async-signal-safe, so the
 * handler only notifies; the loop does the work).
 *
 * echo-load.c includes this file with TCP_ECHO_NO_MAIN defined, to run the
 * same server on a second thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xev.h>

#include "loop-socket.h"

#define CONN_BUF (64 * 1024)

struct server {
	xev_loop *loop;
	int fd; /* the listening socket */
	int stopping;
	struct conn *conns; /* open connections, to end them on shutdown */
	xev_watcher stop;   /* async: notified to shut down */
	xev_watcher retry;  /* timer: accept again after running out of fds */
	xev_completion accept_c, retry_c, stop_c, cancel_c;
};

struct conn {
	struct server *srv;
	struct conn *prev, *next;
	int fd;
	size_t len, sent; /* bytes received into buf, bytes of them echoed */
	xev_completion read_c, write_c;
	char buf[CONN_BUF];
};

static xev_cb_action on_closed(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct conn *cn = userdata;

	(void)loop, (void)c, (void)result;
	if (cn->prev)
		cn->prev->next = cn->next;
	else
		cn->srv->conns = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	free(cn);
	return XEV_DISARM;
}

/*
 * A connection has one operation active at a time (receive, then send,
 * then receive...), so the callback that sees the end can reuse its own
 * completion to close: nothing else is pending on the fd.
 */
static xev_cb_action conn_close(struct conn *cn, xev_completion *c)
{
	xev_close(cn->srv->loop, c, cn->fd, cn, on_closed);
	return XEV_DISARM;
}

static xev_cb_action on_write(xev_loop *loop, xev_completion *c, int result, void *userdata);

static xev_cb_action on_read(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct conn *cn = userdata;

	if (result <= 0) /* 0: the client hung up; < 0: an error */
		return conn_close(cn, c);
	cn->len = (size_t)result;
	cn->sent = 0;
	xev_send(loop, &cn->write_c, cn->fd, cn->buf, cn->len, 0, cn, on_write);
	return XEV_DISARM;
}

static xev_cb_action on_write(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct conn *cn = userdata;

	if (result < 0) /* e.g. -EPIPE: xev_send never raises SIGPIPE */
		return conn_close(cn, c);
	cn->sent += (size_t)result;
	if (cn->sent < cn->len) /* short write: send the rest (a rearm would resend it all) */
		xev_send(loop, c, cn->fd, cn->buf + cn->sent, cn->len - cn->sent, 0, cn, on_write);
	else /* all echoed: receive what comes next into the same buffer */
		xev_recv(loop, &cn->read_c, cn->fd, cn->buf, sizeof cn->buf, 0, cn, on_read);
	return XEV_DISARM;
}

static void conn_start(struct server *srv, int fd)
{
	struct conn *cn = malloc(sizeof *cn);

	if (!cn) { /* cannot serve it: hang up */
		close(fd);
		return;
	}
	cn->srv = srv;
	cn->fd = fd;
	cn->prev = NULL;
	cn->next = srv->conns;
	if (cn->next)
		cn->next->prev = cn;
	srv->conns = cn;
	xev_recv(srv->loop, &cn->read_c, fd, cn->buf, sizeof cn->buf, 0, cn, on_read);
}

static xev_cb_action listener_close(struct server *srv, xev_completion *c)
{
	xev_close(srv->loop, c, srv->fd, NULL, NULL);
	return XEV_DISARM;
}

static xev_cb_action on_retry(xev_loop *loop, xev_completion *c, int result, void *userdata);

static xev_cb_action on_accept(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct server *srv = userdata;

	if (srv->stopping) { /* -ECANCELED by on_stop, or a client just before it */
		if (result >= 0)
			close(result);
		return listener_close(srv, c);
	}
	if (result >= 0) {
		conn_start(srv, result); /* result: the new socket, already non-blocking */
		return XEV_REARM;        /* same listener, same arguments: the next client */
	}
	if (result == -ECONNABORTED) /* that client gave up while queued */
		return XEV_REARM;
	/*
	 * Typically out of descriptors (-EMFILE, -ENFILE): accepting again at
	 * once would fail again at once, so pause 100 ms.  The connections we
	 * have are served meanwhile, and closing them frees descriptors.
	 */
	fprintf(stderr, "tcp-echo: accept: %s; retrying in 100 ms\n", strerror(-result));
	xev_timer_run(&srv->retry, loop, &srv->retry_c, 100, srv, on_retry);
	return XEV_DISARM;
}

static xev_cb_action on_retry(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct server *srv = userdata;

	(void)result;
	if (srv->stopping) /* -ECANCELED, by on_stop */
		return listener_close(srv, c);
	xev_accept(loop, &srv->accept_c, srv->fd, NULL, NULL, srv, on_accept);
	return XEV_DISARM;
}

static xev_cb_action on_stop(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct server *srv = userdata;
	int accepting = xev_completion_state(&srv->accept_c) == XEV_COMPLETION_ACTIVE;

	(void)c, (void)result;
	srv->stopping = 1;
	/* The accept, or the timer that would restart it, ends with
	 * -ECANCELED and its callback closes the listener. */
	xev_cancel(loop, &srv->cancel_c, accepting ? &srv->accept_c : &srv->retry_c, NULL, NULL);
	/* shutdown(2) ends each connection's pending receive with end of file
	 * (or its send with -EPIPE), so every one closes itself as usual. */
	for (struct conn *cn = srv->conns; cn; cn = cn->next)
		shutdown(cn->fd, SHUT_RDWR);
	return XEV_DISARM; /* with nothing left active, xev_loop_run returns */
}

/* Listens on 127.0.0.1:port; returns the port bound or a negative errno. */
static int server_open(struct server *srv, xev_loop *loop, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	socklen_t len = sizeof sa;
	int one = 1, err;

	memset(srv, 0, sizeof *srv); /* zeroed completions read DEAD in on_stop */
	srv->loop = loop;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv->fd = loop_socket(SOCK_STREAM);
	if (srv->fd < 0)
		return -errno;
	setsockopt(srv->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(srv->fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(srv->fd, SOMAXCONN) < 0 ||
	    getsockname(srv->fd, (struct sockaddr *)&sa, &len) < 0) {
		err = -errno;
		close(srv->fd);
		return err;
	}
	xev_timer_init(&srv->retry);
	xev_async_init(&srv->stop);
	xev_accept(loop, &srv->accept_c, srv->fd, NULL, NULL, srv, on_accept);
	xev_async_wait(&srv->stop, loop, &srv->stop_c, srv, on_stop);
	return ntohs(sa.sin_port);
}

/* After xev_loop_run returned: everything is closed and freed already. */
static void server_deinit(struct server *srv)
{
	xev_async_deinit(&srv->stop);
	xev_timer_deinit(&srv->retry);
}

#ifndef TCP_ECHO_NO_MAIN
static xev_watcher *stop_watcher;

static void on_signal(int signo)
{
	(void)signo;
	xev_async_notify(stop_watcher);
}

int main(int argc, char **argv)
{
	static struct server srv;
	struct sigaction sa = { .sa_handler = on_signal };
	xev_loop loop;
	char *end;
	long port = argc > 1 ? strtol(argv[1], &end, 10) : 7000;
	int rc;

	if (argc > 2 || (argc > 1 && (*end || end == argv[1] || port < 0 || port > 65535))) {
		fprintf(stderr, "usage: tcp-echo [port]\n");
		return 2;
	}
	if ((rc = xev_loop_init(&loop)) < 0) {
		fprintf(stderr, "tcp-echo: xev_loop_init: %s\n", strerror(-rc));
		return 1;
	}
	if ((rc = server_open(&srv, &loop, (int)port)) < 0) {
		fprintf(stderr, "tcp-echo: listen: %s\n", strerror(-rc));
		xev_loop_deinit(&loop);
		return 1;
	}
	printf("listening on 127.0.0.1:%d\n", rc);
	fflush(stdout);
	fprintf(stderr, "tcp-echo: %s backend; SIGINT or SIGTERM stops it\n",
		xev_backend_name(xev_loop_backend(&loop)));
	stop_watcher = &srv.stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);

	signal(SIGINT, SIG_DFL); /* before the watcher it notifies goes */
	signal(SIGTERM, SIG_DFL);
	server_deinit(&srv);
	xev_loop_deinit(&loop);
	if (rc < 0)
		fprintf(stderr, "tcp-echo: xev_loop_run: %s\n", strerror(-rc));
	return rc < 0;
}
#endif
