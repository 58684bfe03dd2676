/* SPDX-License-Identifier: MIT */
/*
 * Load for an echo server, to measure its throughput:
 *
 *   echo-load PORT [clients] [MiB-per-client] [chunk]   against 127.0.0.1:PORT
 *   echo-load --self [clients] [MiB-per-client] [chunk] against tcp-echo.c's
 *                                  server, run on a second thread and loop
 *
 * Defaults: 100 clients, 1 MiB each, 64 KiB chunks (a "k" or "m" suffix
 * is accepted).  Every client connects, then sends and receives at the
 * same time (sending everything first would deadlock once both socket
 * buffers are full) and checks every byte that comes back.  It prints one
 * line on stdout:
 *   echo <backend> <MiB/s> MiB/s (<clients> clients x <n> MiB)
 * where MiB/s counts the payload once (each byte also travels back) over
 * the time from the first connect to the last byte back.
 * XEV_BACKEND selects the backend of both loops.  Exit status 1 on any
 * error or mismatch.
 */
#define TCP_ECHO_NO_MAIN
#include "tcp-echo.c" /* struct server, server_open, server_deinit */

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/*
 * The bytes client `id` sends at stream offset `o` are
 * pattern[(id * 7919 + o) % PERIOD]: a client sends straight out of the
 * table, and checks what it receives with one memcmp.  The table is a
 * chunk longer than PERIOD so that any chunk starting below PERIOD is
 * contiguous; the prime period keeps chunks from lining up with it.
 */
#define PERIOD 1048573

struct load {
	xev_loop loop;
	struct sockaddr_in addr;
	uint64_t bytes; /* per client, each way */
	size_t chunk;
	unsigned char *pattern;
	int failed;
};

struct client {
	struct load *ld;
	int id, fd;
	uint64_t sent, received;
	xev_completion send_c, recv_c;
	unsigned char *buf; /* chunk bytes for what comes back */
};

static const unsigned char *expected(struct client *cl, uint64_t off)
{
	return cl->ld->pattern + (cl->id * 7919ull + off) % PERIOD;
}

static xev_cb_action client_fail(xev_loop *loop, struct client *cl, const char *what, int result)
{
	fprintf(stderr, "echo-load: client %d: %s%s%s\n", cl->id, what, result ? ": " : "",
		result ? strerror(-result) : "");
	cl->ld->failed = 1;
	xev_loop_stop(loop); /* main closes the sockets */
	return XEV_DISARM;
}

/* Whichever of send and receive finishes last closes the socket. */
static xev_cb_action client_done(xev_loop *loop, struct client *cl, xev_completion *c)
{
	if (cl->sent == cl->ld->bytes && cl->received == cl->ld->bytes) {
		xev_close(loop, c, cl->fd, NULL, NULL);
		cl->fd = -1;
	}
	return XEV_DISARM;
}

static xev_cb_action on_sent(xev_loop *loop, xev_completion *c, int result, void *userdata);

static void send_more(xev_loop *loop, struct client *cl)
{
	uint64_t left = cl->ld->bytes - cl->sent;
	size_t len = left < cl->ld->chunk ? (size_t)left : cl->ld->chunk;

	xev_send(loop, &cl->send_c, cl->fd, expected(cl, cl->sent), len, 0, cl, on_sent);
}

static xev_cb_action on_sent(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct client *cl = userdata;

	if (result < 0)
		return client_fail(loop, cl, "send", result);
	cl->sent += (uint64_t)result; /* a short send just means the next starts earlier */
	if (cl->sent < cl->ld->bytes) {
		send_more(loop, cl);
		return XEV_DISARM;
	}
	return client_done(loop, cl, c);
}

static xev_cb_action on_received(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct client *cl = userdata;

	if (result <= 0)
		return client_fail(loop, cl, result ? "recv" : "server closed early", result);
	if (cl->received + (uint64_t)result > cl->ld->bytes ||
	    memcmp(cl->buf, expected(cl, cl->received), (size_t)result) != 0)
		return client_fail(loop, cl, "echoed bytes differ from those sent", 0);
	cl->received += (uint64_t)result;
	if (cl->received < cl->ld->bytes)
		return XEV_REARM; /* same buffer, same length: the next piece */
	return client_done(loop, cl, c);
}

static xev_cb_action on_connected(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct client *cl = userdata;

	(void)c;
	if (result < 0)
		return client_fail(loop, cl, "connect", result);
	xev_recv(loop, &cl->recv_c, cl->fd, cl->buf, cl->ld->chunk, 0, cl, on_received);
	send_more(loop, cl);
	return XEV_DISARM;
}

static void *serve(void *arg)
{
	struct server *srv = arg;
	int rc = xev_loop_run(srv->loop, XEV_RUN_UNTIL_DONE);

	if (rc < 0)
		fprintf(stderr, "echo-load: server loop: %s\n", strerror(-rc));
	return NULL;
}

/* "64k", "1m", "4096"; 0 when it is not a size. */
static uint64_t parse_size(const char *s, uint64_t unit)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v <= 0)
		return 0;
	if (*end == 'k' || *end == 'K')
		unit = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		unit = 1024 * 1024, end++;
	return *end ? 0 : (uint64_t)(v * (double)unit);
}

int main(int argc, char **argv)
{
	static struct load ld;
	static struct server srv;
	xev_loop server_loop;
	pthread_t thread;
	struct client *clients;
	struct timespec t0, t1;
	const char *backend;
	int self = argc > 1 && strcmp(argv[1], "--self") == 0;
	int port = argc > 1 && !self ? atoi(argv[1]) : 0;
	int nclients = argc > 2 ? atoi(argv[2]) : 100;
	double mib = argc > 3 ? strtod(argv[3], NULL) : 1;
	uint64_t chunk = argc > 4 ? parse_size(argv[4], 1) : 64 * 1024;
	int started = 0, rc;

	if (argc < 2 || argc > 5 || (!self && (port <= 0 || port > 65535)) || nclients <= 0 ||
	    mib <= 0 || chunk == 0 || chunk > 64 * 1024 * 1024) {
		fprintf(stderr, "usage: echo-load PORT|--self [clients] [MiB-per-client] [chunk]\n");
		return 2;
	}
	ld.bytes = (uint64_t)(mib * 1024 * 1024);
	ld.chunk = (size_t)chunk;
	clients = calloc((size_t)nclients, sizeof *clients);
	ld.pattern = malloc(PERIOD + ld.chunk);
	if (!clients || !ld.pattern)
		return 1;
	for (uint64_t i = 0, x = 88172645463325252ull; i < PERIOD + ld.chunk; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
		ld.pattern[i] = i < PERIOD ? (unsigned char)x : ld.pattern[i - PERIOD];
	}

	if ((rc = xev_loop_init(&ld.loop)) < 0) {
		fprintf(stderr, "echo-load: xev_loop_init: %s\n", strerror(-rc));
		return 1;
	}
	if (self) { /* the server gets its own loop, run by a second thread */
		if ((rc = xev_loop_init(&server_loop)) < 0 ||
		    (rc = port = server_open(&srv, &server_loop, 0)) < 0 ||
		    (rc = -pthread_create(&thread, NULL, serve, &srv)) < 0) {
			fprintf(stderr, "echo-load: server: %s\n", strerror(-rc));
			return 1;
		}
	}
	ld.addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	ld.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < nclients; i++) {
		struct client *cl = &clients[i];
		cl->ld = &ld;
		cl->id = i;
		cl->buf = malloc(ld.chunk);
		cl->fd = loop_socket(SOCK_STREAM);
		started++;
		if (!cl->buf || cl->fd < 0) {
			fprintf(stderr, "echo-load: client %d: %s\n", i, strerror(errno));
			ld.failed = 1;
			break;
		}
		xev_connect(&ld.loop, &cl->send_c, cl->fd, (struct sockaddr *)&ld.addr, sizeof ld.addr,
			    cl, on_connected);
	}
	rc = ld.failed ? 0 : xev_loop_run(&ld.loop, XEV_RUN_UNTIL_DONE);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	backend = xev_backend_name(xev_loop_backend(&ld.loop));
	xev_loop_deinit(&ld.loop); /* after a failure, it ends what was left running */
	for (int i = 0; i < started; i++) {
		if (clients[i].fd >= 0) /* still open only after a failure */
			close(clients[i].fd);
		free(clients[i].buf);
	}
	if (self) {
		xev_async_notify(&srv.stop);
		pthread_join(thread, NULL);
		server_deinit(&srv);
		xev_loop_deinit(&server_loop);
	}
	if (rc < 0) {
		fprintf(stderr, "echo-load: xev_loop_run: %s\n", strerror(-rc));
		ld.failed = 1;
	}
	if (!ld.failed) {
		double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		double total = (double)ld.bytes * nclients / (1024 * 1024);

		printf("echo %s %.1f MiB/s (%d clients x %g MiB)\n",
		       backend, total / secs, nclients, mib);
		fprintf(stderr, "echo-load: %.1f MiB each way in %.3f s, %zu-byte chunks, server %s\n",
			total, secs, ld.chunk, self ? "in a thread" : "on another process");
	}
	free(clients);
	free(ld.pattern);
	return ld.failed;
}
