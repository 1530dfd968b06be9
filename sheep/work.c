// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Worker pool: work items run on N threads; their done steps run on the
 * event-loop thread.  A finished item goes on the done list and the loop is
 * woken through an eventfd (counter semantics, so wakeups never get lost).
 *
 * Thread context: sheep_work_queue from any thread; sheep_work_run_done
 * only on the loop thread.  Work items are owned by the caller; the pool
 * only links them (the `next` field) while queued.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sheep.h"

struct work_list {
	struct sheep_work *head, *tail;
};

static pthread_mutex_t g_work_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_work_cond = PTHREAD_COND_INITIALIZER;
static struct work_list g_pending, g_done;
static pthread_t *g_threads;
static int g_nr_threads;
static int g_work_stop;
static int g_done_fd = -1;

static void list_push(struct work_list *l, struct sheep_work *w)
{
	w->next = NULL;
	if (l->tail)
		l->tail->next = w;
	else
		l->head = w;
	l->tail = w;
}

static struct sheep_work *list_pop(struct work_list *l)
{
	struct sheep_work *w = l->head;

	if (w) {
		l->head = w->next;
		if (!l->head)
			l->tail = NULL;
	}
	return w;
}

static void *worker_main(void *arg)
{
	for (;;) {
		struct sheep_work *w;
		uint64_t one = 1;
		int wake;

		pthread_mutex_lock(&g_work_lock);
		while (!g_pending.head && !g_work_stop)
			pthread_cond_wait(&g_work_cond, &g_work_lock);
		w = list_pop(&g_pending);
		pthread_mutex_unlock(&g_work_lock);
		if (!w)
			return NULL;
		w->fn(w);
		pthread_mutex_lock(&g_work_lock);
		/* the loop drains the whole list per wakeup: only an empty list needs one */
		wake = !g_done.head;
		list_push(&g_done, w);
		pthread_mutex_unlock(&g_work_lock);
		while (wake && write(g_done_fd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
}

int sheep_work_init(int nr)
{
	int i, r;

	g_done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (g_done_fd < 0)
		return -errno;
	g_threads = calloc((size_t)nr, sizeof(*g_threads));
	if (!g_threads)
		return -ENOMEM;
	for (i = 0; i < nr; i++) {
		r = pthread_create(&g_threads[i], NULL, worker_main, NULL);
		if (r) {
			sheep_work_exit();
			return -r;
		}
		g_nr_threads++;
	}
	return g_done_fd;
}

void sheep_work_queue(struct sheep_work *w)
{
	pthread_mutex_lock(&g_work_lock);
	list_push(&g_pending, w);
	pthread_cond_signal(&g_work_cond);
	pthread_mutex_unlock(&g_work_lock);
}

void sheep_work_run_done(void)
{
	struct work_list l;
	struct sheep_work *w;
	uint64_t v;

	while (read(g_done_fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&g_work_lock);
	l = g_done;
	g_done.head = g_done.tail = NULL;
	pthread_mutex_unlock(&g_work_lock);
	while ((w = list_pop(&l)))
		w->done(w);
}

void sheep_work_exit(void)
{
	int i;

	pthread_mutex_lock(&g_work_lock);
	g_work_stop = 1;
	pthread_cond_broadcast(&g_work_cond);
	pthread_mutex_unlock(&g_work_lock);
	for (i = 0; i < g_nr_threads; i++)
		pthread_join(g_threads[i], NULL);
	if (g_done_fd >= 0)
		sheep_work_run_done();
	free(g_threads);
	g_threads = NULL;
	g_nr_threads = 0;
	if (g_done_fd >= 0)
		close(g_done_fd);
	g_done_fd = -1;
}
