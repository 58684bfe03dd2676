/* SPDX-License-Identifier: MIT */
/*
 * Copies a file:  file-copy SRC DST
 *
 * Shows: xev_pread and xev_pwrite with several chunks in flight, each
 * chunk reading a range and writing it at the same offset, queueing a new
 * write for the rest after a short one.  The loop gets a thread pool so
 * that on epoll, which cannot wait for regular files, the reads and writes
 * run on workers instead of blocking the loop (io_uring does them itself).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xev.h>

#define CHUNKS 4
#define CHUNK_SIZE (128 * 1024)

struct copy {
	int in, out;
	uint64_t size; /* of SRC when we started */
	uint64_t next; /* start of the first range no chunk has taken */
	int failed;
};

struct chunk {
	struct copy *cp;
	uint64_t off, end; /* what is left of the chunk's range */
	size_t len, done;  /* bytes read into buf, bytes of them written */
	xev_completion c;  /* a chunk reads, then writes: one completion */
	char buf[CHUNK_SIZE];
};

static xev_cb_action on_read(xev_loop *loop, xev_completion *c, int result, void *userdata);

/* Reads the rest of the chunk's range, or takes the next free range. */
static void chunk_next(xev_loop *loop, struct chunk *k)
{
	struct copy *cp = k->cp;

	if (k->off == k->end) {
		if (cp->failed || cp->next == cp->size)
			return; /* nothing left: this chunk is done */
		k->off = cp->next;
		k->end = cp->size - k->off < CHUNK_SIZE ? cp->size : k->off + CHUNK_SIZE;
		cp->next = k->end;
	}
	xev_pread(loop, &k->c, cp->in, k->buf, k->end - k->off, k->off, k, on_read);
}

static xev_cb_action chunk_fail(struct chunk *k, const char *what, uint64_t off, int result)
{
	fprintf(stderr, "file-copy: %s at offset %llu: %s\n", what, (unsigned long long)off,
		result ? strerror(-result) : "unexpected end of file");
	k->cp->failed = 1; /* the other chunks stop after their current operation */
	return XEV_DISARM;
}

static xev_cb_action on_write(xev_loop *loop, xev_completion *c, int result, void *userdata);

static xev_cb_action on_read(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct chunk *k = userdata;

	if (result <= 0) /* 0: SRC shrank while we copied it */
		return chunk_fail(k, "read", k->off, result);
	k->len = (size_t)result; /* maybe less than asked: write it, read the rest after */
	k->done = 0;
	xev_pwrite(loop, c, k->cp->out, k->buf, k->len, k->off, k, on_write);
	return XEV_DISARM;
}

static xev_cb_action on_write(xev_loop *loop, xev_completion *c, int result, void *userdata)
{
	struct chunk *k = userdata;

	if (result <= 0)
		return chunk_fail(k, "write", k->off + k->done, result ? result : -EIO);
	k->done += (size_t)result;
	if (k->done < k->len) { /* short write: queue the rest (a rearm would write it all again) */
		xev_pwrite(loop, c, k->cp->out, k->buf + k->done, k->len - k->done,
			   k->off + k->done, k, on_write);
		return XEV_DISARM;
	}
	k->off += k->len; /* all that was read is written: read on */
	chunk_next(loop, k);
	return XEV_DISARM;
}

int main(int argc, char **argv)
{
	static struct chunk chunks[CHUNKS];
	struct copy cp = { .in = -1, .out = -1 };
	xev_threadpool pool;
	xev_loop_options opts;
	xev_loop loop;
	struct stat st;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: file-copy SRC DST\n");
		return 2;
	}
	if ((cp.in = open(argv[1], O_RDONLY | O_CLOEXEC)) < 0 || fstat(cp.in, &st) < 0) {
		fprintf(stderr, "file-copy: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (!S_ISREG(st.st_mode)) { /* its size would mean nothing */
		fprintf(stderr, "file-copy: %s: not a regular file\n", argv[1]);
		close(cp.in);
		return 1;
	}
	if ((cp.out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 0777)) < 0) {
		fprintf(stderr, "file-copy: %s: %s\n", argv[2], strerror(errno));
		close(cp.in);
		return 1;
	}
	cp.size = (uint64_t)st.st_size;

	xev_loop_options_init(&opts);
	xev_loop_options_set_threadpool(&opts, &pool);
	if ((rc = xev_threadpool_init(&pool, NULL)) < 0 ||
	    (rc = xev_loop_init_with_options(&loop, &opts)) < 0) {
		fprintf(stderr, "file-copy: xev_loop_init: %s\n", strerror(-rc));
		return 1;
	}
	for (int i = 0; i < CHUNKS; i++) {
		chunks[i].cp = &cp;
		chunk_next(&loop, &chunks[i]);
	}
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	xev_loop_deinit(&loop);
	xev_threadpool_deinit(&pool); /* after the loop that uses it */
	if (rc < 0)
		fprintf(stderr, "file-copy: xev_loop_run: %s\n", strerror(-rc));
	if (close(cp.out) < 0) { /* where NFS reports a failed write */
		fprintf(stderr, "file-copy: %s: %s\n", argv[2], strerror(errno));
		cp.failed = 1;
	}
	close(cp.in);
	return rc < 0 || cp.failed;
}
