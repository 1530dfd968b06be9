/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libsheepdog context of the plugin: one sd_cluster + one sd_vdi per
 * nbdkit process, a mutex that every library call holds, and a service
 * thread that drives the library's event loop (sdnbd.h explains the model).
 *
 * Why a mutex and not a queue handed to the service thread: libsheepdog
 * is not thread-safe per handle, but it needs no particular thread, only
 * one at a time.  A worker that holds the mutex submits directly (the
 * library queues and sends, and wakes its own fd for anything deferred),
 * which saves the hand-over and a context switch per request; the service
 * thread holds the mutex only while sd_cluster_service() runs, never
 * while it sleeps in poll().  Completion callbacks run with the mutex held
 * and signal the waiting worker's own condition variable.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <sheepdog/sheepdog.h>

#include "sdnbd.h"

struct sdnbd_ctx {
	pthread_mutex_t lock; /* every call into the library */
	struct sd_cluster *c;
	struct sd_vdi *vdi;
	int shared;	   /* opened SD_VDI_SHARED */
	void *zeros;	   /* one object of zeros, for zero without trim */
	uint32_t obj_size; /* sd_vdi_object_size() */
	int stop_fd;	   /* eventfd: the service thread returns */
	pthread_t thread;
	int running; /* the thread was started */
};

/* One worker's wait: its submitted parts still pending, the first error. */
struct sdnbd_wait {
	pthread_cond_t cond;
	unsigned pending;
	int ret;
};

static void sdnbd_log_cb(int level, const char *msg, void *opaque)
{
	(void)opaque;
	if (level <= LOG_ERR)
		nbdkit_error("%s", msg);
	else if (level <= LOG_WARNING)
		nbdkit_error("warning: %s", msg);
	else
		nbdkit_debug("%s", msg);
}

struct sdnbd_ctx *sdnbd_ctx_open(const struct sdnbd_config *cfg)
{
	const char *addr = sdnbd_config_addr(cfg);
	struct sd_cluster_opts opts;
	struct sdnbd_ctx *x;
	char what[300] = "";
	int err;

	x = calloc(1, sizeof(*x));
	if (!x) {
		nbdkit_error("out of memory");
		return NULL;
	}
	x->stop_fd = -1;
	sd_cluster_opts_init(&opts);
	opts.nr_connections = cfg->nr_conns;
	x->c = sd_connect_opts(addr, &opts);
	if (!x->c) {
		nbdkit_error("cannot connect to sheep at %s: %s", addr, strerror(errno));
		goto free_x;
	}
	x->vdi = sd_vdi_open_flags(x->c, cfg->vdi, cfg->snapid, cfg->tag[0] ? cfg->tag : NULL,
				   sdnbd_config_open_flags(cfg));
	if (!x->vdi) {
		err = errno;
		if (cfg->tag[0])
			snprintf(what, sizeof(what), "snapshot '%s' of ", cfg->tag);
		else if (cfg->snapid)
			snprintf(what, sizeof(what), "snapshot id %" PRIu32 " of ", cfg->snapid);
		nbdkit_error("cannot open %svdi '%s' at %s: %s (%s)", what, cfg->vdi, addr,
			     strerror(err), sd_cluster_errmsg(x->c));
		goto disconnect;
	}
	x->shared = !!(sdnbd_config_open_flags(cfg) & SD_VDI_SHARED);
	x->obj_size = sd_vdi_object_size(x->vdi);
	x->zeros = calloc(1, x->obj_size);
	x->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (!x->zeros || x->stop_fd < 0) {
		nbdkit_error("cannot set up the vdi's context: %s", strerror(errno));
		goto close_vdi;
	}
	pthread_mutex_init(&x->lock, NULL);
	/* from here on: the open's own failures are in the message above */
	sd_set_log_cb(x->c, sdnbd_log_cb, NULL);
	nbdkit_debug("vdi '%s' (id %" PRIx32 ") at %s: %" PRIu64 " bytes, %" PRIu32
		     "-byte objects%s%s",
		     cfg->vdi, sd_vdi_id(x->vdi), addr, sd_vdi_size(x->vdi), x->obj_size,
		     sd_vdi_is_readonly(x->vdi) ? ", read-only snapshot" : "",
		     x->shared ? ", shared" : "");
	return x;

close_vdi:
	if (x->stop_fd >= 0)
		close(x->stop_fd);
	free(x->zeros);
	sd_vdi_close(x->vdi);
disconnect:
	sd_disconnect(x->c);
free_x:
	free(x);
	return NULL;
}

static void *sdnbd_service_main(void *arg)
{
	struct sdnbd_ctx *x = arg;
	struct pollfd p[2] = { { .fd = sd_cluster_fd(x->c), .events = POLLIN },
			       { .fd = x->stop_fd, .events = POLLIN } };
	const struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };
	int ret;

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno != EINTR)
				nanosleep(&pause, NULL); /* ENOMEM: try again */
			continue;
		}
		if (p[1].revents)
			break;
		if (!p[0].revents)
			continue;
		pthread_mutex_lock(&x->lock);
		ret = sd_cluster_service(x->c);
		pthread_mutex_unlock(&x->lock);
		if (ret < 0) {
			/* a broken handle (e.g. its epoll out of memory):
			 * say so and keep serving rather than spin */
			nbdkit_error("sheepdog: servicing the cluster: %s", strerror(-ret));
			nanosleep(&pause, NULL);
		}
	}
	return NULL;
}

int sdnbd_ctx_start(struct sdnbd_ctx *x)
{
	int ret = pthread_create(&x->thread, NULL, sdnbd_service_main, x);

	if (ret) {
		nbdkit_error("cannot start the sheepdog service thread: %s", strerror(ret));
		return -1;
	}
	x->running = 1;
	return 0;
}

void sdnbd_ctx_close(struct sdnbd_ctx *x)
{
	uint64_t one = 1;
	int ret;

	if (!x)
		return;
	if (x->running) {
		if (write(x->stop_fd, &one, sizeof(one)) != sizeof(one))
			nbdkit_error("cannot stop the sheepdog service thread: %s",
				     strerror(errno));
		else
			pthread_join(x->thread, NULL);
	}
	/* nbdkit closed every connection: no worker calls in any more */
	ret = sd_vdi_close(x->vdi);
	if (ret)
		nbdkit_error("closing vdi '%s': %s", sd_vdi_name(x->vdi), strerror(-ret));
	ret = sd_disconnect(x->c);
	if (ret)
		nbdkit_error("disconnecting from sheep: %s", strerror(-ret));
	pthread_mutex_destroy(&x->lock);
	close(x->stop_fd);
	free(x->zeros);
	free(x);
}

uint64_t sdnbd_ctx_size(const struct sdnbd_ctx *x)
{
	return sd_vdi_size(x->vdi);
}

int sdnbd_ctx_readonly(const struct sdnbd_ctx *x)
{
	return sd_vdi_is_readonly(x->vdi);
}

int sdnbd_ctx_shared(const struct sdnbd_ctx *x)
{
	return x->shared;
}

/* ---- the hand-over: submit under the mutex, sleep until done ---------- */

/* Runs in the service thread, mutex held. */
static void sdnbd_done_cb(struct sd_vdi *vdi, int ret, void *opaque)
{
	struct sdnbd_wait *w = opaque;

	(void)vdi;
	if (ret && !w->ret)
		w->ret = ret;
	if (--w->pending == 0)
		pthread_cond_signal(&w->cond);
}

/* Count a submitted part, or keep the submit's error (its callback never runs). */
static int sdnbd_add(struct sdnbd_wait *w, int submitted)
{
	if (submitted) {
		if (!w->ret)
			w->ret = submitted;
		return submitted;
	}
	w->pending++;
	return 0;
}

static void sdnbd_begin(struct sdnbd_ctx *x, struct sdnbd_wait *w)
{
	pthread_cond_init(&w->cond, NULL);
	w->pending = 0;
	w->ret = 0;
	pthread_mutex_lock(&x->lock);
}

/* Sleep until every submitted part completed (mutex released meanwhile). */
static void sdnbd_wait_all(struct sdnbd_ctx *x, struct sdnbd_wait *w)
{
	while (w->pending)
		pthread_cond_wait(&w->cond, &x->lock);
}

static int sdnbd_end(struct sdnbd_ctx *x, struct sdnbd_wait *w)
{
	sdnbd_wait_all(x, w);
	pthread_mutex_unlock(&x->lock);
	pthread_cond_destroy(&w->cond);
	return w->ret;
}

/* A flush after a discard or zero that asked for FUA (mutex held). */
static void sdnbd_fua_flush(struct sdnbd_ctx *x, struct sdnbd_wait *w, unsigned flags)
{
	if (!(flags & SDNBD_FUA))
		return;
	sdnbd_wait_all(x, w);
	if (!w->ret)
		sdnbd_add(w, sd_vdi_aio_flush(x->vdi, sdnbd_done_cb, w));
}

int sdnbd_read(struct sdnbd_ctx *x, void *buf, uint32_t count, uint64_t offset)
{
	struct sdnbd_wait w;

	sdnbd_begin(x, &w);
	sdnbd_add(&w, sd_vdi_aio_read(x->vdi, buf, count, offset, sdnbd_done_cb, &w));
	return sdnbd_end(x, &w);
}

int sdnbd_write(struct sdnbd_ctx *x, const void *buf, uint32_t count, uint64_t offset,
		unsigned flags)
{
	struct sdnbd_wait w;

	sdnbd_begin(x, &w);
	sdnbd_add(&w, sd_vdi_aio_write(x->vdi, buf, count, offset,
				       (flags & SDNBD_FUA) ? SD_AIO_FUA : 0, sdnbd_done_cb, &w));
	return sdnbd_end(x, &w);
}

int sdnbd_flush(struct sdnbd_ctx *x)
{
	struct sdnbd_wait w;

	sdnbd_begin(x, &w);
	sdnbd_add(&w, sd_vdi_aio_flush(x->vdi, sdnbd_done_cb, &w));
	return sdnbd_end(x, &w);
}

int sdnbd_discard(struct sdnbd_ctx *x, uint32_t count, uint64_t offset, unsigned flags)
{
	struct sdnbd_wait w;

	sdnbd_begin(x, &w);
	if (!sdnbd_add(&w, sd_vdi_aio_discard(x->vdi, count, offset, sdnbd_done_cb, &w)))
		sdnbd_fua_flush(x, &w, flags);
	return sdnbd_end(x, &w);
}

int sdnbd_zero(struct sdnbd_ctx *x, uint32_t count, uint64_t offset, int may_trim, unsigned flags)
{
	uint64_t pos = offset, end = offset + count, len;
	struct sdnbd_wait w;

	if (may_trim)
		return sdnbd_discard(x, count, offset, flags);
	/* object-aligned writes of the shared zero buffer, all in flight at
	 * once; the library bounds what it sends (max_inflight) */
	sdnbd_begin(x, &w);
	while (pos < end) {
		len = x->obj_size - pos % x->obj_size;
		if (len > end - pos)
			len = end - pos;
		if (sdnbd_add(&w,
			      sd_vdi_aio_write(x->vdi, x->zeros, len, pos, 0, sdnbd_done_cb, &w)))
			break;
		pos += len;
	}
	/* FUA: one flush after all of them, not one per object */
	if (!w.ret)
		sdnbd_fua_flush(x, &w, flags);
	return sdnbd_end(x, &w);
}

struct sdnbd_map_arg {
	struct sd_vdi *vdi;
};

static int sdnbd_allocated(void *opaque, uint64_t offset, uint64_t *run)
{
	struct sdnbd_map_arg *a = opaque;

	return sd_vdi_allocated(a->vdi, offset, run);
}

int sdnbd_extents(struct sdnbd_ctx *x, uint64_t offset, uint32_t count, int req_one,
		  uint32_t hole_type, sdnbd_add_fn add, void *opaque)
{
	struct sdnbd_map_arg a = { .vdi = x->vdi };
	int ret;

	/* the map is the handle's in-memory index, which completions
	 * change: read it under the mutex */
	pthread_mutex_lock(&x->lock);
	ret = sdnbd_map(offset, count, req_one, hole_type, sdnbd_allocated, &a, add, opaque);
	pthread_mutex_unlock(&x->lock);
	return ret;
}
