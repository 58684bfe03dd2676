/* SPDX-License-Identifier: MIT */
/*
 * libxev: a proactor event loop (io_uring, epoll, kqueue, poll).
 *
 * The types below are opaque: their sizes are part of the ABI shared with
 * the original libxev's C header, so programs can place them on the stack
 * or embed them, but their contents belong to the library.  Every function
 * is documented in its own manual page; xev(7) is the overview.
 */
#ifndef XEV_H
#define XEV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && !defined(__GNUC__)
#define XEV_API
#elif defined(__GNUC__) || defined(__clang__)
#define XEV_API __attribute__((visibility("default")))
#else
#define XEV_API
#endif

/* The sizes as plain literals, for the types below. */
#define XEV__SIZE_LOOP 512
#define XEV__SIZE_COMPLETION 320
#define XEV__SIZE_WATCHER 256
#define XEV__SIZE_THREADPOOL 64
#define XEV__SIZE_THREADPOOL_BATCH 24
#define XEV__SIZE_THREADPOOL_TASK 24
#define XEV__SIZE_THREADPOOL_CONFIG 64
#define XEV__SIZE_LOOP_OPTIONS 64

#ifndef XEV_SIZES_AS_OBJECTS
/*
 * The sizes have type size_t, as in the original header, but are macros
 * (constant expressions) rather than the original's objects, so that they
 * can bound arrays in C and C++ and two translation units including this
 * header still link.
 */
#define XEV_SIZEOF_LOOP ((size_t)XEV__SIZE_LOOP)
#define XEV_SIZEOF_COMPLETION ((size_t)XEV__SIZE_COMPLETION)
#define XEV_SIZEOF_WATCHER ((size_t)XEV__SIZE_WATCHER)
#define XEV_SIZEOF_THREADPOOL ((size_t)XEV__SIZE_THREADPOOL)
#define XEV_SIZEOF_THREADPOOL_BATCH ((size_t)XEV__SIZE_THREADPOOL_BATCH)
#define XEV_SIZEOF_THREADPOOL_TASK ((size_t)XEV__SIZE_THREADPOOL_TASK)
#define XEV_SIZEOF_THREADPOOL_CONFIG ((size_t)XEV__SIZE_THREADPOOL_CONFIG)
#define XEV_SIZEOF_LOOP_OPTIONS ((size_t)XEV__SIZE_LOOP_OPTIONS)
#else
/*
 * For binding generators, which do not evaluate the casts above (bindgen
 * emits nothing for them): typed constants, as the original declares
 * them, which bindgen turns into `pub const XEV_SIZEOF_LOOP: usize`.  Not
 * for C programs: in C these are not constant expressions.
 */
static const size_t XEV_SIZEOF_LOOP = XEV__SIZE_LOOP;
static const size_t XEV_SIZEOF_COMPLETION = XEV__SIZE_COMPLETION;
static const size_t XEV_SIZEOF_WATCHER = XEV__SIZE_WATCHER;
static const size_t XEV_SIZEOF_THREADPOOL = XEV__SIZE_THREADPOOL;
static const size_t XEV_SIZEOF_THREADPOOL_BATCH = XEV__SIZE_THREADPOOL_BATCH;
static const size_t XEV_SIZEOF_THREADPOOL_TASK = XEV__SIZE_THREADPOOL_TASK;
static const size_t XEV_SIZEOF_THREADPOOL_CONFIG = XEV__SIZE_THREADPOOL_CONFIG;
static const size_t XEV_SIZEOF_LOOP_OPTIONS = XEV__SIZE_LOOP_OPTIONS;
#endif

#if (defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L) || \
	(defined(__cplusplus) && __cplusplus >= 201103L)
typedef max_align_t XEV_ALIGN_T;
#else
typedef long double XEV_ALIGN_T;
#endif

typedef struct { XEV_ALIGN_T _pad; uint8_t data[XEV__SIZE_LOOP - sizeof(XEV_ALIGN_T)]; } xev_loop;
typedef struct { XEV_ALIGN_T _pad; uint8_t data[XEV__SIZE_COMPLETION - sizeof(XEV_ALIGN_T)]; } xev_completion;
typedef struct { XEV_ALIGN_T _pad; uint8_t data[XEV__SIZE_WATCHER - sizeof(XEV_ALIGN_T)]; } xev_watcher;
typedef struct { XEV_ALIGN_T _pad; uint8_t data[XEV__SIZE_THREADPOOL - sizeof(XEV_ALIGN_T)]; } xev_threadpool;
typedef struct { XEV_ALIGN_T _pad; uint8_t data[XEV__SIZE_THREADPOOL_CONFIG - sizeof(XEV_ALIGN_T)]; } xev_threadpool_config;
typedef struct { XEV_ALIGN_T _pad; uint8_t data[XEV__SIZE_LOOP_OPTIONS - sizeof(XEV_ALIGN_T)]; } xev_loop_options;
/* Pointer-aligned: 24 bytes cannot hold a max_align_t plus padding. */
typedef struct { void *_pad; uint8_t data[XEV__SIZE_THREADPOOL_BATCH - sizeof(void *)]; } xev_threadpool_batch;
typedef struct { void *_pad; uint8_t data[XEV__SIZE_THREADPOOL_TASK - sizeof(void *)]; } xev_threadpool_task;

typedef enum { XEV_DISARM = 0, XEV_REARM = 1 } xev_cb_action;

typedef enum {
	XEV_RUN_NO_WAIT = 0,
	XEV_RUN_ONCE = 1,
	XEV_RUN_UNTIL_DONE = 2
} xev_run_mode_t;

typedef enum {
	XEV_COMPLETION_DEAD = 0,
	XEV_COMPLETION_ACTIVE = 1
} xev_completion_state_t;

typedef enum {
	XEV_BACKEND_AUTO = 0,
	XEV_BACKEND_IO_URING,
	XEV_BACKEND_EPOLL,
	XEV_BACKEND_KQUEUE,
	XEV_BACKEND_POLL
} xev_backend;

typedef void (*xev_task_cb)(xev_threadpool_task *t);
typedef xev_cb_action (*xev_timer_cb)(xev_loop *l, xev_completion *c, int result, void *userdata);
typedef xev_cb_action (*xev_async_cb)(xev_loop *l, xev_completion *c, int result, void *userdata);
typedef xev_cb_action (*xev_cb)(xev_loop *loop, xev_completion *c, int result, void *userdata);

/* Loop. */
XEV_API int xev_loop_init(xev_loop *loop);
XEV_API void xev_loop_deinit(xev_loop *loop);
XEV_API int xev_loop_run(xev_loop *loop, xev_run_mode_t mode);
XEV_API int64_t xev_loop_now(xev_loop *loop);
XEV_API void xev_loop_update_now(xev_loop *loop);
XEV_API void xev_loop_stop(xev_loop *loop);

XEV_API void xev_loop_options_init(xev_loop_options *o);
XEV_API void xev_loop_options_set_backend(xev_loop_options *o, xev_backend b);
XEV_API void xev_loop_options_set_entries(xev_loop_options *o, uint32_t entries);
XEV_API void xev_loop_options_set_threadpool(xev_loop_options *o, xev_threadpool *pool);
XEV_API int xev_loop_init_with_options(xev_loop *loop, const xev_loop_options *o);
XEV_API xev_backend xev_loop_backend(xev_loop *loop);
XEV_API const char *xev_backend_name(xev_backend b);
XEV_API int xev_backend_available(xev_backend b);

/* Completions. */
XEV_API void xev_completion_zero(xev_completion *c);
XEV_API xev_completion_state_t xev_completion_state(xev_completion *c);

/* Thread pool. */
XEV_API void xev_threadpool_config_init(xev_threadpool_config *config);
XEV_API void xev_threadpool_config_set_stack_size(xev_threadpool_config *config, uint32_t v);
XEV_API void xev_threadpool_config_set_max_threads(xev_threadpool_config *config, uint32_t v);
XEV_API int xev_threadpool_init(xev_threadpool *pool, xev_threadpool_config *config);
XEV_API void xev_threadpool_deinit(xev_threadpool *pool);
XEV_API void xev_threadpool_shutdown(xev_threadpool *pool);
XEV_API void xev_threadpool_schedule(xev_threadpool *pool, xev_threadpool_batch *batch);
XEV_API void xev_threadpool_task_init(xev_threadpool_task *t, xev_task_cb cb);
XEV_API void xev_threadpool_batch_init(xev_threadpool_batch *b);
XEV_API void xev_threadpool_batch_push_task(xev_threadpool_batch *b, xev_threadpool_task *t);
XEV_API void xev_threadpool_batch_push_batch(xev_threadpool_batch *b, xev_threadpool_batch *other);

/* Timers. */
XEV_API int xev_timer_init(xev_watcher *w);
XEV_API void xev_timer_deinit(xev_watcher *w);
XEV_API void xev_timer_run(xev_watcher *w, xev_loop *loop, xev_completion *c, uint64_t next_ms,
			   void *userdata, xev_timer_cb cb);
XEV_API void xev_timer_reset(xev_watcher *w, xev_loop *loop, xev_completion *c,
			     xev_completion *c_cancel, uint64_t next_ms, void *userdata,
			     xev_timer_cb cb);
XEV_API void xev_timer_cancel(xev_watcher *w, xev_loop *loop, xev_completion *c,
			      xev_completion *c_cancel, void *userdata, xev_timer_cb cb);

/* Async wake-ups. */
XEV_API int xev_async_init(xev_watcher *w);
XEV_API void xev_async_deinit(xev_watcher *w);
XEV_API int xev_async_notify(xev_watcher *w);
XEV_API void xev_async_wait(xev_watcher *w, xev_loop *loop, xev_completion *c, void *userdata,
			    xev_async_cb cb);

/*
 * Operations on file descriptors and work offload.  Each queues one
 * operation in c; the next xev_loop_run performs it and calls cb with the
 * system call's result (bytes, a new fd, poll revents, 0) or a negative
 * errno.  Returning XEV_REARM repeats it with the same arguments.
 */
XEV_API void xev_read(xev_loop *loop, xev_completion *c, int fd, void *buf, size_t len,
		      void *userdata, xev_cb cb);
XEV_API void xev_write(xev_loop *loop, xev_completion *c, int fd, const void *buf, size_t len,
		       void *userdata, xev_cb cb);
XEV_API void xev_pread(xev_loop *loop, xev_completion *c, int fd, void *buf, size_t len,
		       uint64_t offset, void *userdata, xev_cb cb);
XEV_API void xev_pwrite(xev_loop *loop, xev_completion *c, int fd, const void *buf, size_t len,
			uint64_t offset, void *userdata, xev_cb cb);
XEV_API void xev_recv(xev_loop *loop, xev_completion *c, int fd, void *buf, size_t len,
		      int flags, void *userdata, xev_cb cb);
XEV_API void xev_send(xev_loop *loop, xev_completion *c, int fd, const void *buf, size_t len,
		      int flags, void *userdata, xev_cb cb);
XEV_API void xev_recvmsg(xev_loop *loop, xev_completion *c, int fd, struct msghdr *msg,
			 int flags, void *userdata, xev_cb cb);
XEV_API void xev_sendmsg(xev_loop *loop, xev_completion *c, int fd, const struct msghdr *msg,
			 int flags, void *userdata, xev_cb cb);
XEV_API void xev_accept(xev_loop *loop, xev_completion *c, int fd, struct sockaddr *addr,
			socklen_t *addrlen, void *userdata, xev_cb cb);
XEV_API void xev_connect(xev_loop *loop, xev_completion *c, int fd, const struct sockaddr *addr,
			 socklen_t addrlen, void *userdata, xev_cb cb);
XEV_API void xev_shutdown(xev_loop *loop, xev_completion *c, int fd, int how, void *userdata,
			  xev_cb cb);
XEV_API void xev_close(xev_loop *loop, xev_completion *c, int fd, void *userdata, xev_cb cb);
XEV_API void xev_poll(xev_loop *loop, xev_completion *c, int fd, short events, void *userdata,
		      xev_cb cb);
XEV_API void xev_cancel(xev_loop *loop, xev_completion *c, xev_completion *target,
			void *userdata, xev_cb cb);
XEV_API void xev_work(xev_loop *loop, xev_completion *c, xev_threadpool *pool,
		      void (*fn)(void *userdata), void *userdata, xev_cb cb);

/*
 * Processes and signals.  A process watcher waits for one child to end;
 * the result is its wait status as waitpid(2) gives it, and the child is
 * reaped.  A signal watcher's result is the signal number; deliveries made
 * while nobody waits are remembered (coalesced) for the next wait.
 */
XEV_API int xev_process_init(xev_watcher *w, pid_t pid);
XEV_API void xev_process_wait(xev_watcher *w, xev_loop *loop, xev_completion *c, void *userdata,
			      xev_cb cb);
XEV_API void xev_process_deinit(xev_watcher *w);
XEV_API int xev_signal_init(xev_watcher *w, int signo);
XEV_API void xev_signal_wait(xev_watcher *w, xev_loop *loop, xev_completion *c, void *userdata,
			     xev_cb cb);
XEV_API void xev_signal_deinit(xev_watcher *w);

#ifdef __cplusplus
}
#endif

#endif /* XEV_H */
