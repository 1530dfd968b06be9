// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sheepfs: the service thread that owns libsheepdog (see sheepfs.h).
 *
 * Why one thread and not a lock around the library: the library pipelines
 * requests (one user request becomes per-object requests over a pool of
 * connections), but only while the application keeps submitting and
 * servicing.  A mutex held across each sync call would serialise FUSE's
 * workers, one request on the wire at a time; a single-threaded FUSE (-s)
 * likewise.  With a service thread that submits async I/O and polls the
 * library's one fd, the reads and writes of every worker are in flight
 * together, and no library call ever runs on two threads.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <syslog.h>
#include <unistd.h>

#include "sheepfs.h"

struct sfs_state g_sfs = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake_fd = -1,
};

static void lib_log_cb(int level, const char *msg, void *opaque)
{
	(void)opaque;
	if (level <= LOG_WARNING)
		sfs_log(level, "libsheepdog: %s", msg);
}

static struct sd_cluster *connect_to(const char *addr)
{
	struct sd_cluster *c = sd_connect_opts(addr, &g_sfs.opts);
	int err;

	if (!c) {
		err = errno;
		sfs_log(LOG_ERR, "cannot connect to sheep at %s: %s", addr, strerror(err));
		errno = err;
		return NULL;
	}
	sd_set_log_cb(c, lib_log_cb, NULL);
	return c;
}

int sfs_connect(const char *addr)
{
	struct sd_cluster *c = connect_to(addr);

	if (!c)
		return -errno;
	g_sfs.cluster = c;
	snprintf(g_sfs.addr, sizeof(g_sfs.addr), "%s", addr);
	return 0;
}

/* Wake the worker that queued call (any thread but the one holding the lock). */
static void call_complete(struct sfs_call *call, int ret)
{
	pthread_mutex_lock(&g_sfs.lock);
	call->ret = ret;
	call->done = true;
	pthread_cond_signal(&call->cond);
	pthread_mutex_unlock(&g_sfs.lock);
}

static void io_done(struct sfs_call *call, int ret)
{
	if (ret < 0)
		sfs_log(LOG_ERR, "volume %s: %s of %zu bytes at %llu failed: %s", call->vol->name,
			call->kind == SFS_READ	  ? "read"
			: call->kind == SFS_WRITE ? "write"
						  : "flush",
			call->count, (unsigned long long)call->offset, strerror(-ret));
	call_complete(call, ret);
}

static void io_cb(struct sd_vdi *vdi, int ret, void *opaque)
{
	(void)vdi;
	io_done(opaque, ret);
}

static void dispatch(struct sfs_call *call)
{
	struct sd_vdi *vdi = call->vol ? call->vol->handle : NULL;
	int ret;

	switch (call->kind) {
	case SFS_READ:
		ret = sd_vdi_aio_read(vdi, call->buf, call->count, call->offset, io_cb, call);
		break;
	case SFS_WRITE:
		ret = sd_vdi_aio_write(vdi, call->buf, call->count, call->offset, 0, io_cb, call);
		break;
	case SFS_FLUSH: ret = sd_vdi_aio_flush(vdi, io_cb, call); break;
	default:
		ret = call->fn(call);
		call_complete(call, ret);
		return;
	}
	if (ret < 0)
		io_done(call, ret);
}

/* Take the whole queue (the wake-up counter is reset with it). */
static struct sfs_call *take_queue(bool *stop)
{
	struct sfs_call *q;
	uint64_t n;

	if (read(g_sfs.wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		sfs_log(LOG_ERR, "eventfd read: %s", strerror(errno));
	pthread_mutex_lock(&g_sfs.lock);
	q = g_sfs.queue;
	g_sfs.queue = NULL;
	g_sfs.queue_tail = &g_sfs.queue;
	*stop = g_sfs.stop;
	pthread_mutex_unlock(&g_sfs.lock);
	return q;
}

static void *service_main(void *arg)
{
	bool stop = false;

	(void)arg;
	while (!stop) {
		struct pollfd pfd[2] = {
			{ .fd = g_sfs.wake_fd, .events = POLLIN },
			{ .fd = sd_cluster_fd(g_sfs.cluster), .events = POLLIN },
		};
		struct sfs_call *q, *next;
		int ret;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			sfs_log(LOG_ERR, "poll: %s", strerror(errno));
			break;
		}
		if (pfd[1].revents) {
			ret = sd_cluster_service(g_sfs.cluster);
			if (ret < 0)
				sfs_log(LOG_ERR, "sd_cluster_service: %s", strerror(-ret));
		}
		if (pfd[0].revents)
			for (q = take_queue(&stop); q; q = next) {
				next = q->next;
				dispatch(q);
			}
	}
	/* unmount: calls still queued cannot be answered (FUSE is gone) */
	sfs_volume_close_all();
	sd_disconnect(g_sfs.cluster);
	g_sfs.cluster = NULL;
	return NULL;
}

int sfs_service_start(void)
{
	int ret;

	g_sfs.queue = NULL;
	g_sfs.queue_tail = &g_sfs.queue;
	g_sfs.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (g_sfs.wake_fd < 0)
		return -errno;
	ret = pthread_create(&g_sfs.thread, NULL, service_main, NULL);
	if (ret) {
		close(g_sfs.wake_fd);
		g_sfs.wake_fd = -1;
		return -ret;
	}
	g_sfs.thread_started = true;
	return 0;
}

static void wake(void)
{
	uint64_t one = 1;

	if (write(g_sfs.wake_fd, &one, sizeof(one)) < 0)
		sfs_log(LOG_ERR, "eventfd write: %s", strerror(errno));
}

void sfs_service_stop(void)
{
	if (!g_sfs.thread_started) {
		/* never started (mount failed): the handle is main's */
		if (g_sfs.cluster)
			sd_disconnect(g_sfs.cluster);
		g_sfs.cluster = NULL;
		return;
	}
	pthread_mutex_lock(&g_sfs.lock);
	g_sfs.stop = true;
	pthread_mutex_unlock(&g_sfs.lock);
	wake();
	pthread_join(g_sfs.thread, NULL);
	g_sfs.thread_started = false;
	close(g_sfs.wake_fd);
	g_sfs.wake_fd = -1;
}

int sfs_call_run(struct sfs_call *call)
{
	pthread_cond_init(&call->cond, NULL);
	call->done = false;
	call->next = NULL;
	pthread_mutex_lock(&g_sfs.lock);
	*g_sfs.queue_tail = call;
	g_sfs.queue_tail = &call->next;
	pthread_mutex_unlock(&g_sfs.lock);
	wake();
	pthread_mutex_lock(&g_sfs.lock);
	while (!call->done)
		pthread_cond_wait(&call->cond, &g_sfs.lock);
	pthread_mutex_unlock(&g_sfs.lock);
	pthread_cond_destroy(&call->cond);
	return call->ret;
}

int sfs_control(int (*fn)(struct sfs_call *), const char *arg, char **text, size_t *len)
{
	struct sfs_call call;
	int ret;

	memset(&call, 0, sizeof(call));
	call.kind = SFS_CONTROL;
	call.fn = fn;
	call.arg = arg;
	ret = sfs_call_run(&call);
	if (text) {
		*text = call.text;
		*len = call.text_len;
	} else {
		free(call.text);
	}
	return ret;
}

/*
 * config/sheep_info: connect to another sheep and move every attached
 * volume over.  The new connection and all the volumes' new handles are
 * opened first, so a failure leaves the old connection in place.  The old
 * handles are then closed, which waits for their pending requests (bounded
 * by the library's request timeout and retry window); I/O queued meanwhile
 * waits and then goes to the new handles.
 */
int sfs_reconnect_cb(struct sfs_call *call)
{
	struct sd_cluster *c, *old = g_sfs.cluster;
	struct sfs_volume *v;
	struct sd_vdi **handles;
	unsigned n = 0, i;
	int ret;

	if (!call->arg[0] || strlen(call->arg) >= sizeof(g_sfs.addr)) {
		sfs_log(LOG_ERR, "config/sheep_info: expected HOST:PORT, got '%s'", call->arg);
		return -EINVAL;
	}
	c = connect_to(call->arg);
	if (!c)
		return errno == EINVAL ? -EINVAL : -EIO;
	pthread_mutex_lock(&g_sfs.lock);
	for (v = g_sfs.volumes; v; v = v->next)
		n++;
	pthread_mutex_unlock(&g_sfs.lock);
	handles = calloc(n ? n : 1, sizeof(*handles));
	if (!handles) {
		sd_disconnect(c);
		return -ENOMEM;
	}
	/* the volume list changes only on this thread: no lock needed to walk it here */
	ret = sfs_volume_reopen_all(c, handles, n);
	if (ret < 0) {
		free(handles);
		sd_disconnect(c);
		return ret;
	}
	for (v = g_sfs.volumes, i = 0; v; v = v->next, i++) {
		struct sd_vdi *h = v->handle;

		v->handle = handles[i];
		ret = sd_vdi_close(h);
		if (ret < 0)
			sfs_log(LOG_WARNING, "volume %s: closing it on %s: %s", v->name, g_sfs.addr,
				strerror(-ret));
	}
	free(handles);
	ret = sd_disconnect(old);
	if (ret < 0)
		sfs_log(LOG_WARNING, "disconnecting from %s: %s", g_sfs.addr, strerror(-ret));
	sfs_log(LOG_INFO, "reconnected from %s to %s (%u volumes)", g_sfs.addr, call->arg, n);
	g_sfs.cluster = c;
	snprintf(g_sfs.addr, sizeof(g_sfs.addr), "%s", call->arg);
	return 0;
}

int sfs_io_errno(int ret)
{
	if (ret >= 0)
		return ret;
	switch (ret) {
	case -EROFS:
	case -ENOSPC:
	case -EINVAL:
	case -ENOMEM:
	case -ENOENT:
	case -EBUSY: return ret;
	default: return -EIO;
	}
}
