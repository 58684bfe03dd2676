/* SPDX-License-Identifier: MIT */
/*
 * The thread pool: one FIFO of intrusive tasks under a mutex, workers
 * started lazily up to max_threads.  The public xev_threadpool holds a
 * pointer to state allocated once by xev_threadpool_init (a mutex and a
 * condition variable do not fit in its 64 bytes); scheduling never
 * allocates.
 */
#include "internal.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct task {
	struct task *next;
	xev_task_cb cb;
};

struct batch {
	size_t len;
	struct task *head, *tail;
};

struct config {
	uint32_t magic;
	uint32_t stack_size;
	uint32_t max_threads;
};
#define CONFIG_MAGIC 0x78657663u /* "xevc" */

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t work;      /* idle workers wait here */
	struct task *head, *tail;
	uint32_t max_threads;
	uint32_t started;
	uint32_t idle;
	bool shutdown;
	size_t stack_size;
	pthread_t threads[];
};

struct pool_handle {
	uint32_t magic;
	struct pool *p;
};
#define POOL_MAGIC 0x78657670u /* "xevp" */

_Static_assert(sizeof(struct task) <= sizeof(xev_threadpool_task), "task");
_Static_assert(sizeof(struct batch) <= sizeof(xev_threadpool_batch), "batch");
_Static_assert(sizeof(struct config) <= sizeof(xev_threadpool_config), "config");
_Static_assert(sizeof(struct pool_handle) <= sizeof(xev_threadpool), "pool");

static struct task *task_of(xev_threadpool_task *t) { return (struct task *)(void *)t; }
static struct batch *batch_of(xev_threadpool_batch *b) { return (struct batch *)(void *)b; }
static struct config *config_of(xev_threadpool_config *c) { return (struct config *)(void *)c; }
static struct pool_handle *handle_of(xev_threadpool *p) { return (struct pool_handle *)(void *)p; }

void xev_threadpool_config_init(xev_threadpool_config *config)
{
	if (!config)
		return;
	memset(config, 0, sizeof(*config));
	config_of(config)->magic = CONFIG_MAGIC;
}

void xev_threadpool_config_set_stack_size(xev_threadpool_config *config, uint32_t v)
{
	if (config)
		config_of(config)->stack_size = v;
}

void xev_threadpool_config_set_max_threads(xev_threadpool_config *config, uint32_t v)
{
	if (config)
		config_of(config)->max_threads = v;
}

void xev_threadpool_task_init(xev_threadpool_task *t, xev_task_cb cb)
{
	if (!t)
		return;
	memset(t, 0, sizeof(*t));
	task_of(t)->cb = cb;
}

void xev_threadpool_batch_init(xev_threadpool_batch *b)
{
	if (b)
		memset(b, 0, sizeof(*b));
}

void xev_threadpool_batch_push_task(xev_threadpool_batch *b, xev_threadpool_task *t)
{
	struct batch *q = batch_of(b);
	struct task *k = task_of(t);

	if (!b || !t)
		return;
	k->next = NULL;
	if (q->tail)
		q->tail->next = k;
	else
		q->head = k;
	q->tail = k;
	q->len++;
}

void xev_threadpool_batch_push_batch(xev_threadpool_batch *b, xev_threadpool_batch *other)
{
	struct batch *q = batch_of(b), *o = batch_of(other);

	if (!b || !other || q == o || !o->head)
		return;
	if (q->tail)
		q->tail->next = o->head;
	else
		q->head = o->head;
	q->tail = o->tail;
	q->len += o->len;
	memset(o, 0, sizeof(*o));
}

static uint32_t cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (uint32_t)n : 1;
}

int xev_threadpool_init(xev_threadpool *pool, xev_threadpool_config *config)
{
	struct config defaults = { .magic = CONFIG_MAGIC };
	const struct config *c = config ? config_of(config) : &defaults;
	struct pool_handle *h = handle_of(pool);
	uint32_t max;
	struct pool *p;
	int rc;

	if (!pool || c->magic != CONFIG_MAGIC)
		return -EINVAL;
	max = c->max_threads ? c->max_threads : cpu_count();
	if (max > 4096)
		return -EINVAL;
	p = XEV__SYS_PTR(ALLOC, calloc(1, sizeof(*p) + max * sizeof(pthread_t)));
	if (!p)
		return -ENOMEM;
	rc = pthread_mutex_init(&p->mu, NULL);
	if (rc) {
		free(p);
		return -rc;
	}
	rc = pthread_cond_init(&p->work, NULL);
	if (rc) {
		pthread_mutex_destroy(&p->mu);
		free(p);
		return -rc;
	}
	p->max_threads = max;
	p->stack_size = c->stack_size;
	if (p->stack_size && p->stack_size < (size_t)PTHREAD_STACK_MIN)
		p->stack_size = (size_t)PTHREAD_STACK_MIN;
	memset(pool, 0, sizeof(*pool));
	h->magic = POOL_MAGIC;
	h->p = p;
	return 0;
}

static void *worker(void *arg)
{
	struct pool *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct task *t = p->head;
		if (t) {
			p->head = t->next;
			if (!p->head)
				p->tail = NULL;
			pthread_mutex_unlock(&p->mu);
			/* The task may be reused or freed by its callback. */
			if (t->cb)
				t->cb((xev_threadpool_task *)(void *)t);
			pthread_mutex_lock(&p->mu);
			continue;
		}
		/* Queued work is drained before a shut-down pool's workers go. */
		if (p->shutdown)
			break;
		p->idle++;
		pthread_cond_wait(&p->work, &p->mu);
		p->idle--;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Called with the lock held; a failure leaves the work to running workers
 * or to the next schedule. */
static void start_worker(struct pool *p)
{
	pthread_attr_t attr;
	sigset_t all, mask;

	if (pthread_attr_init(&attr))
		return;
	if (p->stack_size) {
		size_t page = (size_t)sysconf(_SC_PAGESIZE);
		size_t sz = (p->stack_size + page - 1) / page * page;
		pthread_attr_setstacksize(&attr, sz);
	}
	/* Workers start with every signal blocked, so the program's signals
	 * go to its own threads: one that blocks SIGINT to sigwait(2) for it
	 * must not see a worker die of it instead. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &mask);
	if (XEV__SYS_ERR(THREAD_CREATE, pthread_create(&p->threads[p->started], &attr, worker, p)) == 0)
		p->started++;
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	pthread_attr_destroy(&attr);
}

/* Appends a list of n tasks; the caller holds the lock.  Wakes as many
 * idle workers as there are new tasks and starts more while tasks
 * outnumber the idle ones and the limit allows. */
static void enqueue_locked(struct pool *p, struct task *head, struct task *tail, size_t n)
{
	size_t wake;

	if (p->tail)
		p->tail->next = head;
	else
		p->head = head;
	p->tail = tail;
	tail->next = NULL;
	wake = n < p->idle ? n : p->idle;
	if (wake == 1)
		pthread_cond_signal(&p->work);
	else if (wake > 1)
		pthread_cond_broadcast(&p->work);
	for (size_t extra = n - wake; extra > 0 && p->started < p->max_threads; extra--)
		start_worker(p);
}

void xev_threadpool_schedule(xev_threadpool *pool, xev_threadpool_batch *batch)
{
	struct pool_handle *h = handle_of(pool);
	struct batch *b = batch_of(batch);
	struct pool *p;

	if (!pool || !batch || h->magic != POOL_MAGIC || !b->head)
		return;
	p = h->p;
	pthread_mutex_lock(&p->mu);
	if (!p->shutdown)
		enqueue_locked(p, b->head, b->tail, b->len);
	pthread_mutex_unlock(&p->mu);
	memset(b, 0, sizeof(*b));
}

/* Takes k out of the queue if it is there; the caller holds the lock. */
static bool unlink_locked(struct pool *p, struct task *k)
{
	struct task *prev = NULL, *cur;

	for (cur = p->head; cur && cur != k; cur = cur->next)
		prev = cur;
	if (!cur)
		return false;
	if (prev)
		prev->next = cur->next;
	else
		p->head = cur->next;
	if (p->tail == cur)
		p->tail = prev;
	cur->next = NULL;
	return true;
}

/* One task, with an answer: 0, -EINVAL (not a pool), -ECANCELED (shut
 * down), -EAGAIN (the pool has no worker and none could be started: the
 * task would wait for one forever, so it is not taken). */
int xev__pool_push(xev_threadpool *pool, xev_threadpool_task *t)
{
	struct pool_handle *h = handle_of(pool);
	struct task *k = task_of(t);
	struct pool *p;
	int rc = 0;

	if (!pool || h->magic != POOL_MAGIC)
		return -EINVAL;
	p = h->p;
	pthread_mutex_lock(&p->mu);
	if (p->shutdown) {
		rc = -ECANCELED;
	} else {
		enqueue_locked(p, k, k, 1);
		if (p->started == 0) {
			unlink_locked(p, k);
			rc = -EAGAIN;
		}
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/* Takes t back if no worker has started it; true if it did. */
bool xev__pool_remove(xev_threadpool *pool, xev_threadpool_task *t)
{
	struct pool_handle *h = handle_of(pool);
	struct pool *p;
	bool found;

	if (!pool || h->magic != POOL_MAGIC)
		return false;
	p = h->p;
	pthread_mutex_lock(&p->mu);
	found = unlink_locked(p, task_of(t));
	pthread_mutex_unlock(&p->mu);
	return found;
}

void xev_threadpool_shutdown(xev_threadpool *pool)
{
	struct pool_handle *h = handle_of(pool);
	struct pool *p;

	if (!pool || h->magic != POOL_MAGIC)
		return;
	p = h->p;
	pthread_mutex_lock(&p->mu);
	p->shutdown = true;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
}

void xev_threadpool_deinit(xev_threadpool *pool)
{
	struct pool_handle *h = handle_of(pool);
	struct pool *p;

	if (!pool || h->magic != POOL_MAGIC)
		return;
	xev_threadpool_shutdown(pool);
	p = h->p;
	/* No new worker can start once shutdown is set. */
	for (uint32_t i = 0; i < p->started; i++)
		pthread_join(p->threads[i], NULL);
	/* If no worker could ever be started, what was accepted still runs:
	 * here, rather than never. */
	while (p->head) {
		struct task *t = p->head;
		p->head = t->next;
		if (t->cb)
			t->cb((xev_threadpool_task *)(void *)t);
	}
	p->tail = NULL;
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->mu);
	free(p);
	h->magic = 0;
	h->p = NULL;
}
