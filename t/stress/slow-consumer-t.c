/* SPDX-License-Identifier: MIT */
/*
 * Stress: a producer pushes a long byte stream with big writes (256 KiB
 * to 1 MiB each) into a connection whose kernel buffers hold a few KiB,
 * while a slow consumer reads it back in small pieces (1 byte to 4 KiB)
 * and keeps pausing on timers.  Nearly every write therefore completes
 * short, or waits for room first, and the producer has to send the rest
 * itself: the API reports short writes as write(2) does, and XEV_REARM
 * would repeat the same bytes, so the rest goes out as a new operation
 * queued on the same completion from its callback.
 *
 * Every byte of the stream is a function of its offset (a hash of the
 * offset), so the consumer can check each one: a lost, duplicated or
 * reordered piece shifts what follows and shows as wrong bytes, and
 * bytes past the end or a missing end-of-file show in the count.
 *
 * Variants, each on every backend:
 *   pipe               xev_write -> xev_read, one loop (pipe of 4 KiB)
 *   tcp                xev_send  -> xev_recv, one loop (127.0.0.1)
 *   unix, reader thread  xev_write on a socket -> xev_read, the consumer
 *                      on a second loop in its own thread
 *   tcp, reader thread   xev_send -> xev_recv, the same
 * Checks per variant: every byte arrived, then end-of-file; no byte
 * wrong; some writes were short (else the test proved nothing, and it
 * says so by failing); no callback saw an error, and no write a result
 * of 0 or more than it asked; as many fds are open after as before (the
 * loops, the connection and the closes leave nothing behind).
 *
 * A lost completion must fail checks rather than hang: the loops tick
 * every 50 ms, and a side that makes no progress for STALL_MS gives up.
 *
 * XEV_STRESS=full (make stress) sends 256 MiB per variant; the default
 * is 16 MiB so that make check stays quick.  Fixed seeds: a failure repeats
 * as far as the scheduling lets it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, F_SETPIPE_SZ, accept4 where there are */
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "../tap.h"
#include "../net.h"

#define CHECKS 5
#define NVARIANTS 4
#define PER_BACKEND (NVARIANTS * CHECKS)

#define KIB 1024u
#define MIB (1024u * 1024u)
#define WRITE_MIN (256 * KIB)
#define WRITE_MAX (1 * MIB)
/* The producer's window on the stream: a write never crosses it. */
#define WINDOW (2 * WRITE_MAX)
#define READ_MAX (4 * KIB)
/* Small enough that no single write of WRITE_MIN can ever fit whole. */
#define SOCK_BUF (8 * KIB)
#define PIPE_BUF_SZ (4 * KIB)
#define STALL_MS 5000
#define TICK_MS 50

static uint64_t stream_len;
/* One pause in this many lasts a millisecond rather than a tick: fewer at
 * full length, where they would otherwise take most of the time. */
static uint32_t long_pause_every;

/* ---- the stream ----------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The n bytes of the stream from offset off: each 8-byte word is a hash
 * of its index, so no stretch repeats another. */
static void gen(unsigned char *d, uint64_t seed, uint64_t off, size_t n)
{
	while (n > 0) {
		uint64_t w = mix64(seed ^ (off >> 3));
		for (unsigned k = (unsigned)(off & 7); k < 8 && n > 0; k++, n--, off++)
			*d++ = (unsigned char)(w >> (k * 8));
	}
}

static uint32_t rnd(uint32_t *s)
{
	/* xorshift32: any fixed, cheap sequence will do. */
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* ---- producer -------------------------------------------------------- */

struct producer {
	xev_loop *loop;
	xev_completion c;
	int fd, use_send, fd_open;
	uint64_t seed;
	unsigned char *win; /* the stream from offset base, WINDOW bytes */
	uint64_t base, pos; /* pos: bytes the kernel took so far */
	size_t asked;       /* length of the operation in flight */
	size_t left;        /* of the current big write, not yet taken */
	uint32_t rng;
	long writes, shorts, errors;
	int bad_result; /* the first result that was wrong, and for what */
	size_t bad_asked;
	int close_result, done;
	int64_t last_progress;
};

static xev_cb_action on_write(xev_loop *l, xev_completion *c, int r, void *ud);
static xev_cb_action on_write_close(xev_loop *l, xev_completion *c, int r, void *ud);

static void p_queue(struct producer *p)
{
	const unsigned char *src;

	if (p->left == 0) {
		/* A new big write: first slide the window so that it fits. */
		if (p->pos - p->base >= WINDOW / 2) {
			memmove(p->win, p->win + WINDOW / 2, WINDOW / 2);
			p->base += WINDOW / 2;
			gen(p->win + WINDOW / 2, p->seed, p->base + WINDOW / 2, WINDOW / 2);
		}
		p->left = WRITE_MIN + rnd(&p->rng) % (WRITE_MAX - WRITE_MIN + 1);
		if (p->left > stream_len - p->pos)
			p->left = (size_t)(stream_len - p->pos);
	}
	src = p->win + (p->pos - p->base);
	p->asked = p->left;
	if (p->use_send)
		xev_send(p->loop, &p->c, p->fd, src, p->asked, 0, p, on_write);
	else
		xev_write(p->loop, &p->c, p->fd, src, p->asked, p, on_write);
}

/* Closing the write end is how the consumer learns the stream ended;
 * it is done on errors too, so that the consumer stops soon. */
static void p_close(struct producer *p)
{
	xev_close(p->loop, &p->c, p->fd, p, on_write_close);
}

static xev_cb_action on_write(xev_loop *l, xev_completion *c, int r, void *ud)
{
	struct producer *p = ud;

	(void)l, (void)c;
	p->writes++;
	p->last_progress = mono_ms();
	if (r <= 0 || (size_t)r > p->asked) {
		/* 0 for a non-empty write, or more than asked, is as wrong as
		 * an error: neither may happen on a pipe or stream socket. */
		if (p->errors++ == 0) {
			p->bad_result = r;
			p->bad_asked = p->asked;
		}
		p_close(p);
		return XEV_DISARM;
	}
	if ((size_t)r < p->asked)
		p->shorts++;
	p->pos += (uint64_t)r;
	p->left -= (size_t)r;
	if (p->pos == stream_len)
		p_close(p);
	else
		p_queue(p);
	return XEV_DISARM;
}

static xev_cb_action on_write_close(xev_loop *l, xev_completion *c, int r, void *ud)
{
	struct producer *p = ud;

	(void)l, (void)c;
	p->close_result = r;
	p->fd_open = 0;
	p->done = 1;
	p->last_progress = mono_ms();
	return XEV_DISARM;
}

static void p_start(struct producer *p, xev_loop *loop, int fd, int use_send, uint64_t seed)
{
	unsigned char *win = p->win;

	memset(p, 0, sizeof *p);
	p->win = win;
	p->loop = loop;
	p->fd = fd;
	p->fd_open = 1;
	p->use_send = use_send;
	p->seed = seed;
	p->rng = (uint32_t)seed | 1;
	p->last_progress = mono_ms();
	gen(p->win, seed, 0, WINDOW);
	p_queue(p);
}

/* ---- consumer -------------------------------------------------------- */

struct consumer {
	xev_loop *loop;
	xev_completion c, tc;
	xev_watcher tw;
	int fd, use_recv, fd_open;
	uint64_t seed;
	unsigned char buf[READ_MAX], want[READ_MAX];
	size_t len; /* of every read in this burst (rearmed as is) */
	int burst;  /* reads left before the next pause */
	uint32_t rng;
	uint64_t got, wrong, first_wrong;
	long reads, pauses, long_pauses, errors;
	int first_error, eof, close_result, done;
	int64_t last_progress;
};

static xev_cb_action on_read(xev_loop *l, xev_completion *c, int r, void *ud);
static xev_cb_action on_read_close(xev_loop *l, xev_completion *c, int r, void *ud);

static void c_queue(struct consumer *k)
{
	/* Sizes from 1 byte up, with pauses from 1 to 32 reads apart. */
	k->len = 1 + rnd(&k->rng) % READ_MAX;
	k->burst = 1 + (int)(rnd(&k->rng) % 32);
	if (k->use_recv)
		xev_recv(k->loop, &k->c, k->fd, k->buf, k->len, 0, k, on_read);
	else
		xev_read(k->loop, &k->c, k->fd, k->buf, k->len, k, on_read);
}

static void c_check(struct consumer *k, size_t n)
{
	gen(k->want, k->seed, k->got, n);
	if (memcmp(k->buf, k->want, n) == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (k->buf[i] == k->want[i])
			continue;
		if (k->wrong++ == 0)
			k->first_wrong = k->got + i;
	}
}

static xev_cb_action on_pause(xev_loop *l, xev_completion *c, int r, void *ud)
{
	struct consumer *k = ud;

	(void)l, (void)c;
	if (r != 0 && k->errors++ == 0)
		k->first_error = r;
	k->last_progress = mono_ms();
	c_queue(k);
	return XEV_DISARM;
}

static xev_cb_action on_read(xev_loop *l, xev_completion *c, int r, void *ud)
{
	struct consumer *k = ud;

	(void)c;
	k->last_progress = mono_ms();
	if (r <= 0) {
		if (r == 0)
			k->eof = 1;
		else if (k->errors++ == 0)
			k->first_error = r;
		xev_close(l, &k->c, k->fd, k, on_read_close);
		return XEV_DISARM;
	}
	k->reads++;
	c_check(k, (size_t)r);
	k->got += (uint64_t)r;
	if (--k->burst > 0)
		return XEV_REARM; /* the same buffer and length: fine for reads */
	/* Mostly a pause of one tick, now and then a whole millisecond: the
	 * writer's buffer fills up either way, and its writes must wait. */
	k->pauses++;
	if (rnd(&k->rng) % long_pause_every == 0) {
		k->long_pauses++;
		xev_timer_run(&k->tw, l, &k->tc, 1, k, on_pause);
	} else {
		xev_timer_run(&k->tw, l, &k->tc, 0, k, on_pause);
	}
	return XEV_DISARM;
}

static xev_cb_action on_read_close(xev_loop *l, xev_completion *c, int r, void *ud)
{
	struct consumer *k = ud;

	(void)l, (void)c;
	k->close_result = r;
	k->fd_open = 0;
	k->done = 1;
	return XEV_DISARM;
}

static void c_start(struct consumer *k, xev_loop *loop)
{
	k->loop = loop;
	k->last_progress = mono_ms();
	c_queue(k);
}

static void c_init(struct consumer *k, int fd, int use_recv, uint64_t seed)
{
	memset(k, 0, sizeof *k);
	k->fd = fd;
	k->fd_open = 1;
	k->use_recv = use_recv;
	k->seed = seed;
	k->rng = (uint32_t)(seed >> 32) | 1;
	k->first_wrong = UINT64_MAX;
	if (xev_timer_init(&k->tw) != 0)
		bail("xev_timer_init failed");
}

/* ---- loops ----------------------------------------------------------- */

/* A rearming timer, so that XEV_RUN_ONCE returns now and then even when
 * a completion got lost, and the stall checks get to run. */
struct ticker {
	xev_watcher w;
	xev_completion c;
};

static xev_cb_action on_tick(xev_loop *l, xev_completion *c, int r, void *ud)
{
	(void)l, (void)c, (void)r, (void)ud;
	return XEV_REARM;
}

static void ticker_start(struct ticker *t, xev_loop *loop)
{
	memset(t, 0, sizeof *t);
	if (xev_timer_init(&t->w) != 0)
		bail("xev_timer_init failed");
	xev_timer_run(&t->w, loop, &t->c, TICK_MS, NULL, on_tick);
}

static int stalled(int64_t last_progress)
{
	return mono_ms() - last_progress > STALL_MS;
}

struct reader {
	struct consumer *k;
	xev_backend b;
	atomic_int quit;   /* set by the producer's side when it gives up */
	atomic_int exited; /* the reader's loop is gone */
	int run_errors;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	struct consumer *k = rd->k;
	xev_loop loop;
	struct ticker tk;

	tap_loop_init(&loop, rd->b);
	ticker_start(&tk, &loop);
	c_start(k, &loop);
	while (!k->done && !atomic_load(&rd->quit) && !stalled(k->last_progress))
		if (xev_loop_run(&loop, XEV_RUN_ONCE) < 0)
			rd->run_errors++;
	/* Deinit takes back whatever is still in flight after a failure. */
	xev_loop_deinit(&loop);
	xev_timer_deinit(&tk.w);
	atomic_store(&rd->exited, 1);
	return NULL;
}

/* ---- connections with small buffers ---------------------------------- */

static void small_bufs(int fd)
{
	int sz = SOCK_BUF;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz) < 0)
		bail("setsockopt SO_SNDBUF/SO_RCVBUF failed");
}

/* Buffers are set before the handshake, so the window is small from the
 * start; the listener's settings pass on to the accepted socket. */
static void tcp_pair(int *wfd, int *rfd)
{
	struct sockaddr_in a;
	struct pollfd pf;
	int lfd = tcp_listener(&a, 1);
	int cfd = tap_socket(AF_INET, SOCK_STREAM, 0);

	small_bufs(lfd);
	small_bufs(cfd);
	if (connect(cfd, (struct sockaddr *)&a, sizeof a) < 0)
		bail("cannot connect to 127.0.0.1");
	if (fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) | O_NONBLOCK) < 0)
		bail("fcntl O_NONBLOCK failed");
	pf.fd = lfd;
	pf.events = POLLIN;
	if (poll(&pf, 1, 5000) != 1)
		bail("no connection to accept");
	*rfd = tap_accept(lfd, 1);
	if (*rfd < 0)
		bail("accept failed");
	close(lfd);
	*wfd = cfd;
}

enum conn { CONN_PIPE, CONN_TCP, CONN_UNIX };

struct variant {
	const char *name;
	enum conn conn;
	int sock_ops; /* xev_send/xev_recv rather than xev_write/xev_read */
	int threaded;
};

static const struct variant variants[NVARIANTS] = {
	{ "pipe", CONN_PIPE, 0, 0 },
	{ "tcp", CONN_TCP, 1, 0 },
	{ "unix, reader thread", CONN_UNIX, 0, 1 },
	{ "tcp, reader thread", CONN_TCP, 1, 1 },
};

static void make_conn(enum conn conn, int *wfd, int *rfd)
{
	int p[2];

	switch (conn) {
	case CONN_PIPE:
		make_pipe(p);
#ifdef F_SETPIPE_SZ
		if (fcntl(p[1], F_SETPIPE_SZ, PIPE_BUF_SZ) < 0)
			bail("F_SETPIPE_SZ failed");
#endif
		*rfd = p[0];
		*wfd = p[1];
		break;
	case CONN_UNIX:
		make_socketpair(p);
		small_bufs(p[0]);
		small_bufs(p[1]);
		*rfd = p[0];
		*wfd = p[1];
		break;
	case CONN_TCP:
		tcp_pair(wfd, rfd);
		break;
	}
}

/* ---- one variant ------------------------------------------------------ */

static struct producer prod;
static struct consumer cons;

static void run_variant(xev_backend b, const char *bn, int vi)
{
	const struct variant *v = &variants[vi];
	uint64_t seed = mix64(((uint64_t)b << 8) | (uint64_t)vi);
	xev_loop loop;
	struct ticker tk;
	struct reader rd;
	pthread_t th;
	int fds_before, fds_after, wfd = -1, rfd = -1, run_errors = 0, gave_up = 0;
	int64_t t0, t1;

	fds_before = tap_count_fds();
	make_conn(v->conn, &wfd, &rfd);
	c_init(&cons, rfd, v->sock_ops, seed);
	tap_loop_init(&loop, b);
	ticker_start(&tk, &loop);
	t0 = mono_ms();
	p_start(&prod, &loop, wfd, v->sock_ops, seed);
	if (v->threaded) {
		memset(&rd, 0, sizeof rd);
		rd.k = &cons;
		rd.b = b;
		if (pthread_create(&th, NULL, reader_main, &rd) != 0)
			bail("pthread_create failed");
		/* Until the write end is closed; a reader that ended early
		 * with an error cannot drain the rest, so that ends it too. */
		while (!prod.done && !stalled(prod.last_progress)) {
			if (xev_loop_run(&loop, XEV_RUN_ONCE) < 0)
				run_errors++;
			if (atomic_load(&rd.exited) && !cons.eof)
				break;
		}
		/* Otherwise the reader still has the tail to drain, and stops
		 * at end-of-file or when it stalls itself. */
		gave_up = !prod.done;
		if (gave_up)
			atomic_store(&rd.quit, 1);
		pthread_join(th, NULL);
		run_errors += rd.run_errors;
	} else {
		c_start(&cons, &loop);
		while (!(prod.done && cons.done) && !stalled(prod.last_progress) &&
		       !stalled(cons.last_progress)) {
			if (xev_loop_run(&loop, XEV_RUN_ONCE) < 0)
				run_errors++;
			if (cons.done && !cons.eof)
				break;
		}
		gave_up = !(prod.done && cons.done);
	}
	t1 = mono_ms();
	xev_loop_deinit(&loop);
	xev_timer_deinit(&tk.w);
	xev_timer_deinit(&cons.tw);
	if (prod.fd_open)
		close(wfd);
	if (cons.fd_open)
		close(rfd);
	fds_after = tap_count_fds();

	if (!ok(cons.got == stream_len && cons.eof,
		"%s %s: %llu bytes in order then end-of-file, %.2f s, %.0f MiB/s", bn, v->name,
		(unsigned long long)cons.got, (double)(t1 - t0) / 1000.0,
		(double)cons.got / MIB * 1000.0 / (double)(t1 - t0 + 1)))
		diag("sent %llu of %llu, received %llu, eof %d, %s", (unsigned long long)prod.pos,
		     (unsigned long long)stream_len, (unsigned long long)cons.got, cons.eof,
		     gave_up ? "gave up after no progress for " TAP_STR(STALL_MS) " ms" : "finished");
	if (!ok(cons.wrong == 0,
		"%s %s: %llu bytes wrong, in %ld reads of 1 to %u bytes, %ld pauses (%ld of 1 ms)", bn,
		v->name, (unsigned long long)cons.wrong, cons.reads, READ_MAX, cons.pauses,
		cons.long_pauses))
		diag("first wrong byte at offset %llu", (unsigned long long)cons.first_wrong);
	ok(prod.shorts > 0, "%s %s: %ld short writes of %ld, %.1f KiB taken per write on average", bn,
	   v->name, prod.shorts, prod.writes,
	   prod.writes ? (double)prod.pos / KIB / (double)prod.writes : 0.0);
	if (!ok(prod.errors == 0 && prod.close_result == 0 && cons.errors == 0 &&
			cons.close_result == 0 && run_errors == 0,
		"%s %s: no error results (writes, reads, timers, closes, loop runs)", bn, v->name))
		diag("writer: %ld bad results, the first %d for %zu bytes, close %d; "
		     "reader: %ld errors, the first %d, close %d; %d failed runs",
		     prod.errors, prod.bad_result, prod.bad_asked, prod.close_result, cons.errors,
		     cons.first_error, cons.close_result, run_errors);
	is_int(fds_after, fds_before, "%s %s: %d fds open before and after", bn, v->name, fds_before);
}

static void run(xev_backend b, const char *bn)
{
	for (int i = 0; i < NVARIANTS; i++)
		run_variant(b, bn, i);
}

int main(void)
{
	const char *mode = getenv("XEV_STRESS");
	int full = mode && strcmp(mode, "full") == 0;

	stream_len = full ? 256ull * MIB : 16ull * MIB;
	long_pause_every = full ? 32 : 8;
	prod.win = malloc(WINDOW);
	if (!prod.win)
		bail("out of memory");
	plan(TAP_NBACKENDS * PER_BACKEND);
	tap_each_backend(PER_BACKEND, run);
	free(prod.win);
	return done_testing();
}
