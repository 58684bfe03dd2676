/* SPDX-License-Identifier: MIT */
/*
 * One round of "xev_loop_deinit with every kind of operation in flight",
 * shared by t/deinit-t (each detail checked once) and
 * t/stress/deinit-storm-t (hundreds of rounds, fds and memory counted):
 * one_round() sets up a loop with every operation kind pending, queued or
 * just completed, deinitialises it and reports what it saw.
 */
#ifndef XEV_T_DEINIT_ROUND_H
#define XEV_T_DEINIT_ROUND_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before any include"
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tap.h"
#include "net.h"

enum op {
	/* Submitted by one XEV_RUN_NO_WAIT run. */
	D_READ, D_POLL, D_WRITE, D_RECV, D_RECVMSG, D_SEND, D_SENDMSG, D_ACCEPT, D_ACCEPT_ARRIVED,
	D_STOPPER, D_ACCEPT_READY, D_CONNECT, D_TIMER, D_ASYNC, D_WORK_RUN, D_WORK_QUEUED, D_PREAD,
	D_PWRITE,
	/* Queued after that run: never submitted. */
	D_Q_READ, D_Q_WRITE, D_Q_ACCEPT, D_Q_TIMER, D_Q_WORK, D_Q_CANCEL,
	NOPS
};

static const char *const op_name[NOPS] = {
	"read on an empty pipe", "poll on the same pipe", "write on a full pipe", "recv", "recvmsg",
	"send on a full socket", "sendmsg on a full socket", "accept with no client",
	"accept whose client arrived after submission", "poll that stopped the run",
	"accept completed, callback held back", "connect to a full listener", "timer", "async wait",
	"running xev_work", "queued xev_work", "pread on a file", "pwrite on a file",
	"queued read", "queued write", "queued accept", "timer added after the run", "queued xev_work",
	"queued cancel",
};

/* Operations allowed to finish before deinit (the others must be in flight). */
static int may_finish(int i)
{
	return i == D_STOPPER || i == D_PREAD || i == D_PWRITE;
}

static int ncb;

struct rec {
	int calls, result, is_fd, stop;
};

static xev_cb_action rec_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct rec *r = ud;
	(void)c;
	r->calls++;
	r->result = result;
	if (r->is_fd && result >= 0)
		close(result);
	if (r->stop)
		xev_loop_stop(l);
	ncb++;
	return XEV_DISARM;
}

static xev_threadpool pool1; /* one worker */

/* The running work: holds the worker until deinit has been called, plus
 * a margin, so the queued one is still queued when deinit takes it back. */
static atomic_int w1_started, w1_finished, deinit_called, wq_runs;
static int w1_margin_ms;

static void w1_fn(void *ud)
{
	int64_t end = mono_ms() + 10000;
	(void)ud;
	atomic_store(&w1_started, 1);
	while (!atomic_load(&deinit_called) && mono_ms() < end)
		sleep_ms(1);
	sleep_ms(w1_margin_ms);
	atomic_store(&w1_finished, 1);
}

static void wq_fn(void *ud)
{
	(void)ud;
	atomic_fetch_add(&wq_runs, 1);
}

/* What one round found. */
struct outcome {
	int early[NOPS];    /* callbacks before deinit */
	int dead[NOPS];     /* DEAD after deinit */
	int during;         /* callbacks during deinit */
	int later;          /* callbacks after deinit */
	int w1_done;        /* the running work had returned when deinit did */
	int wq_ran;         /* the queued work ran */
	int second_ok;      /* a second deinit left the process's new fds alone */
	int fd_diff;        /* fds after - before */
	int stopped_first;  /* the stopper ran and the held-back accept did not */
};

struct round {
	xev_loop loop;
	xev_completion c[NOPS];
	struct rec r[NOPS];
	int pa[2], pb[2], pc[2], s1[2], s2[2];
	int l1, l2, l2c, l3, l3c, l4, l4f, cs, file;
	struct sockaddr_in a1, a2, a3, a4;
	char rbuf[6][64], wbuf[4096], fbuf[16];
	struct iovec riov, siov;
	struct msghdr rmsg, smsg;
	struct sockaddr_in peer[3];
	socklen_t peerlen[3];
	xev_watcher w;
};

static void queue_op(struct round *x, int i)
{
	xev_loop *l = &x->loop;
	xev_completion *c = &x->c[i];
	struct rec *r = &x->r[i];

	switch (i) {
	case D_READ:
		xev_read(l, c, x->pa[0], x->rbuf[0], sizeof x->rbuf[0], r, rec_cb);
		break;
	case D_POLL:
		xev_poll(l, c, x->pa[0], POLLIN, r, rec_cb);
		break;
	case D_WRITE:
	case D_Q_WRITE:
		xev_write(l, c, x->pb[1], x->wbuf, sizeof x->wbuf, r, rec_cb);
		break;
	case D_RECV:
		xev_recv(l, c, x->s1[0], x->rbuf[1], sizeof x->rbuf[1], 0, r, rec_cb);
		break;
	case D_RECVMSG:
		msg_init(&x->rmsg, &x->riov, x->rbuf[2], sizeof x->rbuf[2], NULL, 0);
		xev_recvmsg(l, c, x->s1[0], &x->rmsg, 0, r, rec_cb);
		break;
	case D_SEND:
		xev_send(l, c, x->s2[0], x->wbuf, sizeof x->wbuf, 0, r, rec_cb);
		break;
	case D_SENDMSG:
		msg_init(&x->smsg, &x->siov, x->wbuf, sizeof x->wbuf, NULL, 0);
		xev_sendmsg(l, c, x->s2[0], &x->smsg, 0, r, rec_cb);
		break;
	case D_ACCEPT:
	case D_Q_ACCEPT:
		r->is_fd = 1;
		x->peerlen[0] = sizeof x->peer[0];
		xev_accept(l, c, x->l1, (struct sockaddr *)&x->peer[0], &x->peerlen[0], r, rec_cb);
		break;
	case D_ACCEPT_ARRIVED:
		r->is_fd = 1;
		x->peerlen[1] = sizeof x->peer[1];
		xev_accept(l, c, x->l2, (struct sockaddr *)&x->peer[1], &x->peerlen[1], r, rec_cb);
		break;
	case D_STOPPER:
		r->stop = 1;
		xev_poll(l, c, x->pc[0], POLLIN, r, rec_cb);
		break;
	case D_ACCEPT_READY:
		r->is_fd = 1;
		xev_accept(l, c, x->l3, NULL, NULL, r, rec_cb);
		break;
	case D_CONNECT:
		xev_connect(l, c, x->cs, (struct sockaddr *)&x->a4, sizeof x->a4, r, rec_cb);
		break;
	case D_TIMER:
	case D_Q_TIMER:
		xev_timer_run(NULL, l, c, 100000, r, rec_cb);
		break;
	case D_ASYNC:
		xev_async_wait(&x->w, l, c, r, rec_cb);
		break;
	case D_WORK_RUN:
		xev_work(l, c, &pool1, w1_fn, r, rec_cb);
		break;
	case D_WORK_QUEUED:
	case D_Q_WORK:
		xev_work(l, c, &pool1, wq_fn, r, rec_cb);
		break;
	case D_PREAD:
		xev_pread(l, c, x->file, x->fbuf, 5, 2, r, rec_cb);
		break;
	case D_PWRITE:
		xev_pwrite(l, c, x->file, "abcde", 5, 5, r, rec_cb);
		break;
	case D_Q_READ:
		xev_read(l, c, x->pa[0], x->rbuf[3], sizeof x->rbuf[3], r, rec_cb);
		break;
	case D_Q_CANCEL:
		xev_cancel(l, c, &x->c[D_READ], r, rec_cb);
		break;
	}
}

static void one_round(xev_backend b, int with_pool, int margin_ms, struct outcome *o)
{
	struct round *x = calloc(1, sizeof *x);
	xev_threadpool *pool = with_pool ? &pool1 : NULL;
	int before, base, probe[2];

	if (!x)
		bail("out of memory");
	memset(o, 0, sizeof *o);
	before = tap_count_fds();

	tap_loop_init_pool(&x->loop, b, pool);
	make_pipe(x->pa);
	make_pipe(x->pb);
	fill(x->pb[1], 0);
	make_pipe(x->pc);
	if (write(x->pc[1], "x", 1) != 1)
		bail("write failed");
	make_socketpair(x->s1);
	make_socketpair(x->s2);
	fill(x->s2[0], 1);
	x->l1 = tcp_listener(&x->a1, 16);
	x->l2 = tcp_listener(&x->a2, 16);
	x->l3 = tcp_listener(&x->a3, 16);
	x->l3c = tcp_client(&x->a3);
	/* Backlog 0 holds one connection, then SYNs are dropped: a
	 * further connect stays pending. */
	x->l4 = tcp_listener(&x->a4, 0);
	x->l4f = tcp_client(&x->a4);
	x->cs = tcp_socket();
	x->file = temp_file("xev-deinit-t");
	if (write(x->file, "0123456789", 10) != 10)
		bail("write failed");
	xev_async_init(&x->w);
	atomic_store(&w1_started, 0);
	atomic_store(&w1_finished, 0);
	atomic_store(&deinit_called, 0);
	atomic_store(&wq_runs, 0);
	w1_margin_ms = margin_ms;

	for (int i = 0; i < D_Q_READ; i++)
		queue_op(x, i);
	xev_loop_run(&x->loop, XEV_RUN_NO_WAIT);
	o->stopped_first = x->r[D_STOPPER].calls == 1 && x->r[D_ACCEPT_READY].calls == 0;
	wait_flag(&w1_started);
	/* A client for the accept already submitted. */
	x->l2c = tcp_client(&x->a2);
	for (int i = D_Q_READ; i < NOPS; i++)
		queue_op(x, i);
	for (int i = 0; i < NOPS; i++)
		o->early[i] = x->r[i].calls;

	base = ncb;
	atomic_store(&deinit_called, 1);
	xev_loop_deinit(&x->loop);
	o->during = ncb - base;
	o->w1_done = atomic_load(&w1_finished);
	o->wq_ran = atomic_load(&wq_runs);
	for (int i = 0; i < NOPS; i++)
		o->dead[i] = xev_completion_state(&x->c[i]) == XEV_COMPLETION_DEAD;

	/* A second deinit is a no-op: it must not close the loop's old fd
	 * numbers, which the next pipe probably reuses. */
	make_pipe(probe);
	xev_loop_deinit(&x->loop);
	o->second_ok = fd_is_open(probe[0]) && fd_is_open(probe[1]);
	close(probe[0]);
	close(probe[1]);

	/* Nothing of the old loop reaches anybody later: a notify, and a new
	 * loop in the same memory. */
	base = ncb;
	xev_async_notify(&x->w);
	tap_loop_init_pool(&x->loop, b, pool);
	for (int i = 0; i < 3; i++)
		xev_loop_run(&x->loop, XEV_RUN_NO_WAIT);
	xev_loop_deinit(&x->loop);
	o->later = ncb - base;
	xev_async_deinit(&x->w);

	{
		int fds[] = { x->pa[0], x->pa[1], x->pb[0], x->pb[1], x->pc[0], x->pc[1], x->s1[0], x->s1[1],
			      x->s2[0], x->s2[1], x->l1, x->l2, x->l2c, x->l3, x->l3c, x->l4, x->l4f, x->cs,
			      x->file };
		for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
			close(fds[i]);
	}
	o->fd_diff = tap_count_fds() - before;
	free(x);
}


#endif /* XEV_T_DEINIT_ROUND_H */
