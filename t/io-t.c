/* SPDX-License-Identifier: MIT */
/*
 * Pipes and regular files: round trips (once and with rearm), a read
 * waiting for its data, two reads served in order, pread/pwrite at
 * offsets and read/write at the file position (with and without a thread
 * pool in the loop options), pread rearm, short reads and writes, EBADF
 * and ESPIPE, xev_poll readiness, xev_close, xev_shutdown, and calls
 * with a NULL loop or completion.  Every check runs on every backend.
 */
#define _GNU_SOURCE /* pipe2, F_SETPIPE_SZ where there are */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "tap.h"
#include "net.h"

#define GLOBAL_CHECKS 3
#define FILE_CHECKS 19
#define PER_BACKEND (44 + 2 * FILE_CHECKS)
#define ROUND_TRIPS 1000
#define STREAM_TOTAL (256 * 1024)

/* ---- pipes ---------------------------------------------------------- */

struct rt {
	int rfd, wfd;
	xev_completion cw[2];
	uint32_t wval[2], rval;
	int n, bad, werr;
};

static xev_cb_action rt_write_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct rt *s = ud;
	(void)l, (void)c;
	if (result != 4)
		s->werr++;
	return XEV_DISARM;
}

/* Checks the value, writes the next one, reads again (rearm). */
static xev_cb_action rt_read_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct rt *s = ud;
	int k;
	(void)c;
	if (result != 4 || s->rval != (uint32_t)s->n * 2654435761u)
		s->bad++;
	s->rval = 0;
	if (++s->n >= ROUND_TRIPS || result <= 0)
		return XEV_DISARM;
	k = s->n & 1; /* the other write completion may still await its callback */
	s->wval[k] = (uint32_t)s->n * 2654435761u;
	xev_write(l, &s->cw[k], s->wfd, &s->wval[k], 4, s, rt_write_cb);
	return XEV_REARM;
}

static void check_pipe(xev_backend b, const char *bn)
{
	struct tl t;
	int p[2];
	static const char out[] = "hello, pipe";
	char in[64], in2[8];
	struct tl_rec w, r, r2;
	xev_completion cw, cr, cr2;
	struct rt s;
	xev_completion crt;

	tl_init(&t, b, NULL);

	/* Write then read, queued in the same tick. */
	make_pipe(p);
	tl_rec_init(&w);
	tl_rec_init(&r);
	memset(in, 0, sizeof in);
	xev_write(&t.loop, &cw, p[1], out, 11, &w, tl_rec_cb);
	xev_read(&t.loop, &cr, p[0], in, sizeof in, &r, tl_rec_cb);
	WAIT_FOR(&t, w.calls && r.calls);
	is_int(w.result, 11, "%s: pipe round trip: write reports 11 bytes", bn);
	is_int(r.result, 11, "%s: pipe round trip: read reports 11 bytes", bn);
	ok(memcmp(in, out, 11) == 0, "%s: pipe round trip: the bytes read are the bytes written", bn);
	ok(w.calls == 1 && r.calls == 1 && w.state_in == XEV_COMPLETION_DEAD &&
		   r.state_in == XEV_COMPLETION_DEAD && xev_completion_state(&cr) == XEV_COMPLETION_DEAD,
	   "%s: pipe round trip: one callback each, dead inside and after", bn);

	/* Many round trips: the read rearms, each callback writes the next. */
	memset(&s, 0, sizeof s);
	s.rfd = p[0];
	s.wfd = p[1];
	s.wval[0] = 0;
	xev_read(&t.loop, &crt, p[0], &s.rval, 4, &s, rt_read_cb);
	xev_write(&t.loop, &s.cw[0], p[1], &s.wval[0], 4, &s, rt_write_cb);
	WAIT_FOR(&t, s.n >= ROUND_TRIPS || s.bad);
	is_int(s.n, ROUND_TRIPS, "%s: %d round trips with a rearmed read", bn, ROUND_TRIPS);
	ok(s.bad == 0 && s.werr == 0, "%s: every round trip carried the right value (%d bad, %d write errors)", bn,
	   s.bad, s.werr);
	/* Flush the last write's callback. */
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);

	/* A read queued before the data exists waits for it. */
	tl_rec_init(&r);
	memset(in, 0, sizeof in);
	xev_read(&t.loop, &cr, p[0], in, sizeof in, &r, tl_rec_cb);
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	ok(r.calls == 0 && xev_completion_state(&cr) == XEV_COMPLETION_ACTIVE,
	   "%s: a read on an empty pipe does not complete and stays active", bn);
	if (write(p[1], "late", 4) != 4)
		diag("write(2) failed: %s", strerror(errno));
	WAIT_FOR(&t, r.calls);
	is_int(r.result, 4, "%s: the waiting read completes with the 4 bytes written later", bn);
	ok(r.calls == 1 && memcmp(in, "late", 4) == 0, "%s: the waiting read got \"late\"", bn);

	/* Two reads queued on one pipe are served in order. */
	tl_rec_init(&r);
	tl_rec_init(&r2);
	memset(in, 0, sizeof in);
	memset(in2, 0, sizeof in2);
	xev_read(&t.loop, &cr, p[0], in, 3, &r, tl_rec_cb);
	xev_read(&t.loop, &cr2, p[0], in2, 3, &r2, tl_rec_cb);
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	if (write(p[1], "abcdef", 6) != 6)
		diag("write(2) failed: %s", strerror(errno));
	WAIT_FOR(&t, r.calls && r2.calls);
	ok(r.result == 3 && r2.result == 3, "%s: two queued reads of 3 get 3 bytes each (%d, %d)", bn, r.result,
	   r2.result);
	if (tap_caps(b) & XEV__CAP_FD_ORDER) {
		ok(memcmp(in, "abc", 3) == 0 && memcmp(in2, "def", 3) == 0,
		   "%s: two queued reads: the first queued gets \"abc\", the second \"def\" (got \"%.3s\", \"%.3s\")",
		   bn, in, in2);
		ok(r.order < r2.order, "%s: two queued reads: callbacks in the order queued", bn);
	} else {
		/* Without XEV__CAP_FD_ORDER (io_uring: the kernel promises no
		 * order among reads waiting on one pipe, documented in
		 * xev_read(3)): only that no byte is lost or read twice. */
		ok((memcmp(in, "abc", 3) == 0 && memcmp(in2, "def", 3) == 0) ||
			   (memcmp(in, "def", 3) == 0 && memcmp(in2, "abc", 3) == 0),
		   "%s: two queued reads get \"abc\" and \"def\" between them (got \"%.3s\", \"%.3s\")", bn, in,
		   in2);
		ok(r.calls == 1 && r2.calls == 1, "%s: two queued reads: each called back once", bn);
	}

	/* Short read: a buffer bigger than what is there. */
	tl_rec_init(&r);
	memset(in, 0, sizeof in);
	if (write(p[1], "xyz", 3) != 3)
		diag("write(2) failed: %s", strerror(errno));
	xev_read(&t.loop, &cr, p[0], in, sizeof in, &r, tl_rec_cb);
	WAIT_FOR(&t, r.calls);
	is_int(r.result, 3, "%s: a 64-byte read with 3 bytes in the pipe returns 3", bn);

	/* End of file: the write end closed. */
	close(p[1]);
	tl_rec_init(&r);
	xev_read(&t.loop, &cr, p[0], in, sizeof in, &r, tl_rec_cb);
	WAIT_FOR(&t, r.calls);
	is_int(r.result, 0, "%s: a read at end of file (write end closed) returns 0", bn);
	close(p[0]);

	tl_deinit(&t);
}

/* A writer that queues the rest of every short write; a reader that
 * rearms with a 1000-byte buffer and checks every byte. */
struct stream {
	int rfd, wfd;
	unsigned char *src;
	size_t off_w, off_r, asked;
	xev_completion cw, cr, cc;
	unsigned char rbuf[1000];
	int bad, werr, rerr, nwrites, nshort, eof, closed;
};

static xev_cb_action close_wend_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct stream *s = ud;
	(void)l, (void)c;
	s->closed = result == 0 ? 1 : -1;
	return XEV_DISARM;
}

static xev_cb_action stream_write_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct stream *s = ud;
	if (result <= 0 || (size_t)result > s->asked) {
		s->werr++;
		return XEV_DISARM;
	}
	s->nwrites++;
	if ((size_t)result < s->asked)
		s->nshort++;
	s->off_w += (size_t)result;
	if (s->off_w < STREAM_TOTAL) {
		s->asked = STREAM_TOTAL - s->off_w;
		xev_write(l, c, s->wfd, s->src + s->off_w, s->asked, s, stream_write_cb);
	} else {
		xev_close(l, &s->cc, s->wfd, s, close_wend_cb);
	}
	return XEV_DISARM;
}

static xev_cb_action stream_read_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct stream *s = ud;
	(void)l, (void)c;
	if (result < 0) {
		s->rerr++;
		return XEV_DISARM;
	}
	if (result == 0) {
		s->eof = 1;
		return XEV_DISARM;
	}
	if (s->off_r + (size_t)result > STREAM_TOTAL ||
	    memcmp(s->rbuf, s->src + s->off_r, (size_t)result) != 0)
		s->bad++;
	s->off_r += (size_t)result;
	return XEV_REARM;
}

static void check_short_writes(xev_backend b, const char *bn)
{
	struct tl t;
	int p[2];
	char chunk[512], small[100], drain[4096];
	struct tl_rec w;
	xev_completion cw;
	struct stream *s;

	tl_init(&t, b, NULL);

	/* A full pipe: the write waits until there is room. */
	make_pipe(p);
#ifdef F_SETPIPE_SZ
	if (fcntl(p[1], F_SETPIPE_SZ, 4096) < 0)
		diag("F_SETPIPE_SZ: %s", strerror(errno));
#endif
	memset(chunk, 'f', sizeof chunk);
	while (write(p[1], chunk, sizeof chunk) > 0)
		;
	while (write(p[1], chunk, 1) > 0)
		;
	memset(small, 's', sizeof small);
	tl_rec_init(&w);
	xev_write(&t.loop, &cw, p[1], small, sizeof small, &w, tl_rec_cb);
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	ok(w.calls == 0 && xev_completion_state(&cw) == XEV_COMPLETION_ACTIVE,
	   "%s: a write to a full pipe waits", bn);
	while (read(p[0], drain, sizeof drain) > 0)
		;
	WAIT_FOR(&t, w.calls);
	is_int(w.result, (int)sizeof small, "%s: once drained, the waiting write completes with 100", bn);
	while (read(p[0], drain, sizeof drain) > 0)
		;
	close(p[0]);
	close(p[1]);

	/* 256 KiB through a 4 KiB pipe. */
	s = calloc(1, sizeof *s);
	if (!s || !(s->src = malloc(STREAM_TOTAL)))
		bail("out of memory");
	for (size_t i = 0; i < STREAM_TOTAL; i++)
		s->src[i] = (unsigned char)((i * 7) ^ (i >> 9));
	make_pipe(p);
#ifdef F_SETPIPE_SZ
	if (fcntl(p[1], F_SETPIPE_SZ, 4096) < 0)
		diag("F_SETPIPE_SZ: %s", strerror(errno));
#endif
	s->rfd = p[0];
	s->wfd = p[1];
	s->asked = STREAM_TOTAL;
	xev_read(&t.loop, &s->cr, p[0], s->rbuf, sizeof s->rbuf, s, stream_read_cb);
	xev_write(&t.loop, &s->cw, p[1], s->src, STREAM_TOTAL, s, stream_write_cb);
	WAIT_FOR(&t, (s->eof && s->closed) || s->werr || s->rerr);
	diag("%s: %d writes, %d short", bn, s->nwrites, s->nshort);
	is_int(s->off_w, STREAM_TOTAL, "%s: short writes: the writer got all of 256 KiB out (%d write errors)", bn,
	       s->werr);
	is_int(s->off_r, STREAM_TOTAL, "%s: short writes: the reader got 256 KiB", bn);
	ok(s->bad == 0 && s->rerr == 0 && s->eof && s->closed == 1,
	   "%s: short writes: every byte arrived in order, then end of file (%d bad)", bn, s->bad);
	tl_deinit(&t);
	close(p[0]);
	if (!s->closed)
		close(p[1]);
	free(s->src);
	free(s);
}

/* ---- regular files -------------------------------------------------- */

struct prr {
	int fd, calls, bad;
	char buf[5];
};

/* Sees the version of offset 100 written before it, then writes the next. */
static xev_cb_action pread_rearm_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct prr *s = ud;
	char want[16], next[16];
	(void)l, (void)c;
	snprintf(want, sizeof want, "V%04d", s->calls & 1023);
	if (result != 5 || memcmp(s->buf, want, 5) != 0)
		s->bad++;
	s->calls++;
	if (s->calls >= 4)
		return XEV_DISARM;
	snprintf(next, sizeof next, "V%04d", s->calls & 1023);
	if (pwrite(s->fd, next, 5, 100) != 5)
		s->bad++;
	memset(s->buf, 0, sizeof s->buf);
	return XEV_REARM;
}

struct rrr {
	int calls;
	char all[8];
	char buf[2];
};

static xev_cb_action read_rearm_cb(xev_loop *l, xev_completion *c, int result, void *ud)
{
	struct rrr *s = ud;
	(void)l, (void)c;
	if (result == 2)
		memcpy(s->all + 2 * s->calls, s->buf, 2);
	s->calls++;
	return s->calls < 3 && result == 2 ? XEV_REARM : XEV_DISARM;
}

static void check_file(xev_backend b, const char *bn, xev_threadpool *pool)
{
	const char *tag = pool ? " (thread pool)" : "";
	struct tl t;
	int fd = temp_file("xev-io-t");
	struct tl_rec w, w2, r;
	xev_completion cw, cw2, cr;
	char in[64], got[16];
	struct stat st;
	struct prr pr;
	struct rrr rr;

	tl_init(&t, b, pool);

	tl_rec_init(&w);
	tl_rec_init(&w2);
	xev_pwrite(&t.loop, &cw, fd, "0123456789", 10, 0, &w, tl_rec_cb);
	xev_pwrite(&t.loop, &cw2, fd, "ABCDE", 5, 100, &w2, tl_rec_cb);
	WAIT_FOR(&t, w.calls && w2.calls);
	is_int(w.result, 10, "%s%s: pwrite of 10 bytes at offset 0", bn, tag);
	is_int(w2.result, 5, "%s%s: pwrite of 5 bytes at offset 100", bn, tag);
	ok(fstat(fd, &st) == 0 && st.st_size == 105, "%s%s: the file is 105 bytes long", bn, tag);

	tl_rec_init(&r);
	memset(in, 0, sizeof in);
	xev_pread(&t.loop, &cr, fd, in, 5, 100, &r, tl_rec_cb);
	WAIT_FOR(&t, r.calls);
	is_int(r.result, 5, "%s%s: pread of 5 at offset 100", bn, tag);
	ok(memcmp(in, "ABCDE", 5) == 0, "%s%s: pread at 100 reads \"ABCDE\" (got \"%.5s\")", bn, tag, in);

	tl_rec_init(&r);
	memset(in, 0, sizeof in);
	xev_pread(&t.loop, &cr, fd, in, 4, 3, &r, tl_rec_cb);
	WAIT_FOR(&t, r.calls);
	ok(r.result == 4 && memcmp(in, "3456", 4) == 0, "%s%s: pread of 4 at offset 3 reads \"3456\" (%d)", bn, tag,
	   r.result);
	is_int(lseek(fd, 0, SEEK_CUR), 0, "%s%s: pread/pwrite leave the file position at 0", bn, tag);

	/* Short preads. */
	tl_rec_init(&r);
	xev_pread(&t.loop, &cr, fd, in, 10, 103, &r, tl_rec_cb);
	WAIT_FOR(&t, r.calls);
	is_int(r.result, 2, "%s%s: pread of 10 at offset 103 of a 105-byte file returns 2", bn, tag);
	tl_rec_init(&r);
	xev_pread(&t.loop, &cr, fd, in, 10, 105, &r, tl_rec_cb);
	WAIT_FOR(&t, r.calls);
	is_int(r.result, 0, "%s%s: pread at end of file returns 0", bn, tag);
	tl_rec_init(&r);
	xev_pread(&t.loop, &cr, fd, in, 10, (uint64_t)INT64_MAX + 1, &r, tl_rec_cb);
	WAIT_FOR(&t, r.calls);
	is_int(r.result, -EINVAL, "%s%s: pread at an offset beyond INT64_MAX: -EINVAL", bn, tag);

	/* read/write use and move the file position. */
	tl_rec_init(&w);
	xev_write(&t.loop, &cw, fd, "xyz", 3, &w, tl_rec_cb);
	WAIT_FOR(&t, w.calls);
	is_int(w.result, 3, "%s%s: write of 3 bytes to the file", bn, tag);
	memset(got, 0, sizeof got);
	ok(lseek(fd, 0, SEEK_CUR) == 3 && pread(fd, got, 10, 0) == 10 && memcmp(got, "xyz3456789", 10) == 0,
	   "%s%s: the write went to the file position (0) and moved it to 3", bn, tag);
	tl_rec_init(&r);
	memset(in, 0, sizeof in);
	xev_read(&t.loop, &cr, fd, in, 4, &r, tl_rec_cb);
	WAIT_FOR(&t, r.calls);
	is_int(r.result, 4, "%s%s: read of 4 at the file position", bn, tag);
	ok(memcmp(in, "3456", 4) == 0 && lseek(fd, 0, SEEK_CUR) == 7,
	   "%s%s: the read got \"3456\" from position 3 and moved it to 7 (got \"%.4s\")", bn, tag, in);

	/* A rearmed read continues at the file position. */
	memset(&rr, 0, sizeof rr);
	lseek(fd, 0, SEEK_SET);
	xev_read(&t.loop, &cr, fd, rr.buf, 2, &rr, read_rearm_cb);
	WAIT_FOR(&t, rr.calls >= 3);
	ok(rr.calls == 3 && memcmp(rr.all, "xyz345", 6) == 0,
	   "%s%s: a read rearmed twice reads on: \"xyz345\" (got \"%.6s\", %d calls)", bn, tag, rr.all, rr.calls);

	/* A rearmed pread reads the same offset again. */
	memset(&pr, 0, sizeof pr);
	pr.fd = fd;
	if (pwrite(fd, "V0000", 5, 100) != 5)
		diag("pwrite(2) failed");
	xev_pread(&t.loop, &cr, fd, pr.buf, 5, 100, &pr, pread_rearm_cb);
	WAIT_FOR(&t, pr.calls >= 4);
	is_int(pr.calls, 4, "%s%s: a pread rearmed 3 times runs 4 times", bn, tag);
	is_int(pr.bad, 0, "%s%s: each rearmed pread re-read offset 100 and saw its latest content", bn, tag);

	/* xev_poll on a regular file: always ready. */
	tl_rec_init(&r);
	xev_poll(&t.loop, &cr, fd, POLLIN | POLLOUT, &r, tl_rec_cb);
	WAIT_FOR(&t, r.calls);
	is_int(r.result, POLLIN | POLLOUT, "%s%s: xev_poll on a regular file: POLLIN|POLLOUT at once", bn, tag);

	/* A 1 MiB write and read back. */
	{
		enum { BIG = 1 << 20 };
		unsigned char *src = malloc(BIG), *dst = malloc(BIG);
		if (!src || !dst)
			bail("out of memory");
		for (size_t i = 0; i < BIG; i++)
			src[i] = (unsigned char)(i * 131 + (i >> 12));
		memset(dst, 0, BIG);
		tl_rec_init(&w);
		xev_pwrite(&t.loop, &cw, fd, src, BIG, 4096, &w, tl_rec_cb);
		WAIT_FOR(&t, w.calls);
		tl_rec_init(&r);
		xev_pread(&t.loop, &cr, fd, dst, BIG, 4096, &r, tl_rec_cb);
		WAIT_FOR(&t, r.calls);
		ok(w.result == BIG && r.result == BIG && memcmp(src, dst, BIG) == 0,
		   "%s%s: 1 MiB pwrite then pread at 4096: same bytes (%d, %d)", bn, tag, w.result, r.result);
		free(src);
		free(dst);
	}

	tl_deinit(&t);
	close(fd);
}

/* ---- errors, poll, close, shutdown ------------------------------------ */

/* The next of check_errors' operations, each with its own completion. */
static struct tl_op *op_new(struct tl_op *ops, int *n)
{
	struct tl_op *o = &ops[(*n)++];
	tl_op_init(o);
	return o;
}

static void check_errors(xev_backend b, const char *bn)
{
	struct tl t;
	struct tl_op ops[32], *o;
	int nops = 0;
	char buf[16];
	int p[2], sv[2], closed;
	int fds[2];
	int native = !!(tap_caps(b) & XEV__CAP_NATIVE_FILES);

	tl_init(&t, b, NULL);

	/* A descriptor that was just closed. */
	make_pipe(p);
	close(p[0]);
	close(p[1]);
	closed = p[0];
	for (int i = 0; i < 2; i++) {
		int fd = i == 0 ? closed : -1;
		const char *what = i == 0 ? "a closed fd" : "fd -1";

		o = op_new(ops, &nops);
		xev_read(&t.loop, &o->c, fd, buf, sizeof buf, &o->r, tl_rec_cb);
		is_int(tl_result_of(&t, o), -EBADF, "%s: xev_read on %s: -EBADF", bn, what);
		o = op_new(ops, &nops);
		xev_write(&t.loop, &o->c, fd, "x", 1, &o->r, tl_rec_cb);
		is_int(tl_result_of(&t, o), -EBADF, "%s: xev_write on %s: -EBADF", bn, what);
		o = op_new(ops, &nops);
		xev_pread(&t.loop, &o->c, fd, buf, sizeof buf, 0, &o->r, tl_rec_cb);
		is_int(tl_result_of(&t, o), -EBADF, "%s: xev_pread on %s: -EBADF", bn, what);
		o = op_new(ops, &nops);
		xev_poll(&t.loop, &o->c, fd, POLLIN, &o->r, tl_rec_cb);
		is_int(tl_result_of(&t, o), -EBADF, "%s: xev_poll on %s: -EBADF", bn, what);
	}

	/* pread/pwrite on a pipe (one of its own: a wrong pread may wait on it). */
	/* pread(2) says ESPIPE; a backend whose kernel does file I/O itself
	 * (XEV__CAP_NATIVE_FILES: io_uring) ignores the offset of a stream
	 * and reads or writes it like read(2)/write(2) (documented in
	 * xev_pread(3)).  pwrite goes first so that a pread never waits. */
	make_pipe(fds);
	o = op_new(ops, &nops);
	xev_pwrite(&t.loop, &o->c, fds[1], "x", 1, 0, &o->r, tl_rec_cb);
	is_int(tl_result_of(&t, o), native ? 1 : -ESPIPE, "%s: xev_pwrite on a pipe: %s", bn,
	       native ? "native files: written like write(2)" : "-ESPIPE");
	o = op_new(ops, &nops);
	xev_pread(&t.loop, &o->c, fds[0], buf, sizeof buf, 0, &o->r, tl_rec_cb);
	is_int(tl_result_of(&t, o), native ? 1 : -ESPIPE, "%s: xev_pread on a pipe: %s", bn,
	       native ? "native files: read like read(2)" : "-ESPIPE");
	close(fds[0]);
	close(fds[1]);

	make_pipe(p);
	/* xev_poll readiness. */
	o = op_new(ops, &nops);
	xev_poll(&t.loop, &o->c, p[0], POLLIN, &o->r, tl_rec_cb);
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	ok(o->r.calls == 0 && xev_completion_state(&o->c) == XEV_COMPLETION_ACTIVE,
	   "%s: xev_poll POLLIN on an empty pipe has not completed after NO_WAIT", bn);
	if (write(p[1], "!", 1) != 1)
		diag("write(2) failed");
	is_int(tl_result_of(&t, o), POLLIN, "%s: after a write, xev_poll POLLIN completes with POLLIN", bn);
	if (read(p[0], buf, sizeof buf) != 1)
		diag("read(2) failed");
	o = op_new(ops, &nops);
	xev_poll(&t.loop, &o->c, p[1], POLLOUT, &o->r, tl_rec_cb);
	is_int(tl_result_of(&t, o), POLLOUT, "%s: xev_poll POLLOUT on an empty pipe: POLLOUT", bn);
	o = op_new(ops, &nops);
	xev_poll(&t.loop, &o->c, p[0], POLLIN, &o->r, tl_rec_cb);
	xev_loop_run(&t.loop, XEV_RUN_NO_WAIT);
	close(p[1]);
	is_int(tl_result_of(&t, o), POLLHUP, "%s: xev_poll POLLIN when the write end closes: POLLHUP", bn);

	/* xev_close. */
	o = op_new(ops, &nops);
	xev_close(&t.loop, &o->c, p[0], &o->r, tl_rec_cb);
	is_int(tl_result_of(&t, o), 0, "%s: xev_close of a pipe: 0", bn);
	ok(!fd_is_open(p[0]) && errno == EBADF, "%s: xev_close really closed the fd (F_GETFD fails with EBADF)", bn);
	o = op_new(ops, &nops);
	xev_close(&t.loop, &o->c, p[0], &o->r, tl_rec_cb);
	is_int(tl_result_of(&t, o), -EBADF, "%s: xev_close of a closed fd: -EBADF", bn);
	o = op_new(ops, &nops);
	xev_close(&t.loop, &o->c, -1, &o->r, tl_rec_cb);
	is_int(tl_result_of(&t, o), -EBADF, "%s: xev_close(-1): -EBADF", bn);

	/* xev_shutdown. */
	make_socketpair(sv);
	o = op_new(ops, &nops);
	xev_shutdown(&t.loop, &o->c, sv[0], SHUT_WR, &o->r, tl_rec_cb);
	is_int(tl_result_of(&t, o), 0, "%s: xev_shutdown(SHUT_WR) on a socketpair: 0", bn);
	is_int(read(sv[1], buf, sizeof buf), 0, "%s: after xev_shutdown the peer reads end of file", bn);
	ok(write(sv[1], "ok", 2) == 2 && read(sv[0], buf, sizeof buf) == 2,
	   "%s: SHUT_WR left the other direction open", bn);
	make_pipe(fds);
	o = op_new(ops, &nops);
	xev_shutdown(&t.loop, &o->c, fds[0], SHUT_RDWR, &o->r, tl_rec_cb);
	is_int(tl_result_of(&t, o), -ENOTSOCK, "%s: xev_shutdown on a pipe: -ENOTSOCK", bn);
	close(fds[0]);
	close(fds[1]);
	close(sv[0]);
	close(sv[1]);

	tl_deinit(&t);
}

/* Every fd operation with a NULL completion: ignored, nothing queued. */
static void queue_all(xev_loop *loop, xev_completion *c, int fd, struct tl_rec *r)
{
	static char buf[4];
	static struct msghdr msg;
	static struct sockaddr_storage ss;
	static socklen_t sl = sizeof ss;

	xev_read(loop, c, fd, buf, 1, r, tl_rec_cb);
	xev_write(loop, c, fd, buf, 1, r, tl_rec_cb);
	xev_pread(loop, c, fd, buf, 1, 0, r, tl_rec_cb);
	xev_pwrite(loop, c, fd, buf, 1, 0, r, tl_rec_cb);
	xev_recv(loop, c, fd, buf, 1, 0, r, tl_rec_cb);
	xev_send(loop, c, fd, buf, 1, 0, r, tl_rec_cb);
	xev_recvmsg(loop, c, fd, &msg, 0, r, tl_rec_cb);
	xev_sendmsg(loop, c, fd, &msg, 0, r, tl_rec_cb);
	xev_accept(loop, c, fd, (struct sockaddr *)&ss, &sl, r, tl_rec_cb);
	xev_connect(loop, c, fd, (struct sockaddr *)&ss, sizeof ss, r, tl_rec_cb);
	xev_shutdown(loop, c, fd, SHUT_RDWR, r, tl_rec_cb);
	xev_close(loop, c, fd, r, tl_rec_cb);
	xev_poll(loop, c, fd, POLLIN, r, tl_rec_cb);
}

static void check_null(xev_backend b, const char *bn)
{
	xev_loop loop;
	struct tl_rec r;
	int p[2], rc;
	char buf[4];

	tap_loop_init(&loop, b);
	make_pipe(p);
	if (write(p[1], "zz", 2) != 2)
		diag("write(2) failed");
	tl_rec_init(&r);
	queue_all(&loop, NULL, p[0], &r);
	rc = xev_loop_run(&loop, XEV_RUN_UNTIL_DONE);
	ok(rc == 0 && r.calls == 0, "%s: fd operations with a NULL completion are ignored (run %d, %d callbacks)",
	   bn, rc, r.calls);
	ok(fd_is_open(p[0]) && read(p[0], buf, sizeof buf) == 2,
	   "%s: the ignored calls did not read or close the pipe", bn);
	xev_loop_deinit(&loop);
	close(p[0]);
	close(p[1]);
}

/* The pool named in the loop options of the second check_file. */
static xev_threadpool file_pool;

static void check_backend(xev_backend b, const char *bn)
{
	int fds0 = tap_count_fds();

	check_pipe(b, bn);
	check_short_writes(b, bn);
	check_file(b, bn, NULL);
	check_file(b, bn, &file_pool);
	check_errors(b, bn);
	check_null(b, bn);
	is_int(tap_count_fds(), fds0, "%s: no fd leaked", bn);
}

int main(void)
{
	xev_loop zl;
	xev_completion c;
	struct tl_rec r;
	int p[2];

	plan(GLOBAL_CHECKS + TAP_NBACKENDS * PER_BACKEND);

	/* NULL and uninitialised loops. */
	make_pipe(p);
	tl_rec_init(&r);
	xev_completion_zero(&c);
	queue_all(NULL, &c, p[0], &r);
	ok(xev_completion_state(&c) == XEV_COMPLETION_DEAD && r.calls == 0,
	   "fd operations on a NULL loop are ignored");
	memset(&zl, 0, sizeof zl);
	queue_all(&zl, &c, p[0], &r);
	ok(xev_completion_state(&c) == XEV_COMPLETION_DEAD && r.calls == 0,
	   "fd operations on an uninitialised loop are ignored");
	ok(fd_is_open(p[0]), "the ignored xev_close did not close the fd");
	close(p[0]);
	close(p[1]);

	if (xev_threadpool_init(&file_pool, NULL) != 0)
		bail("xev_threadpool_init failed");
	tap_each_backend(PER_BACKEND, check_backend);
	xev_threadpool_shutdown(&file_pool);
	xev_threadpool_deinit(&file_pool);
	return done_testing();
}
