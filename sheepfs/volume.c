// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sheepfs: volume/NAME files, one per attached vdi.  Attach and detach run
 * as control calls on the service thread; reads, writes and fsync go to it
 * as async library requests (service.c).
 *
 * Names written to vdi/mount: "NAME" attaches the working vdi (read-write),
 * "NAME@TAG" the snapshot tagged TAG and "NAME:ID" snapshot number ID (as
 * `dog vdi list` shows it), both read-only.  The file is volume/ followed
 * by exactly what was written.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "sheepfs.h"

int sfs_parse_volume(const char *spec, struct sfs_volume *v)
{
	const char *at = strrchr(spec, '@'), *colon = strrchr(spec, ':');
	size_t nlen = strlen(spec);
	char *end;

	memset(v, 0, sizeof(*v));
	if (!nlen || nlen >= sizeof(v->name) || strchr(spec, '/'))
		return -EINVAL;
	memcpy(v->name, spec, nlen + 1);
	if (at) {
		nlen = (size_t)(at - spec);
		if (!at[1] || strlen(at + 1) >= sizeof(v->tag))
			return -EINVAL;
		memcpy(v->tag, at + 1, strlen(at + 1) + 1);
	} else if (colon) {
		unsigned long id;

		nlen = (size_t)(colon - spec);
		errno = 0;
		id = strtoul(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || !id || id > UINT32_MAX)
			return -EINVAL;
		v->snapid = (uint32_t)id;
	}
	if (!nlen || nlen >= sizeof(v->vdi))
		return -EINVAL;
	memcpy(v->vdi, spec, nlen);
	v->vdi[nlen] = '\0';
	return 0;
}

struct sfs_volume *sfs_volume_find(const char *name)
{
	struct sfs_volume *v;

	for (v = g_sfs.volumes; v; v = v->next)
		if (!strcmp(v->name, name))
			return v;
	return NULL;
}

static struct sd_vdi *open_volume(struct sd_cluster *c, const struct sfs_volume *v)
{
	return sd_vdi_open(c, v->vdi, v->snapid, v->tag[0] ? v->tag : NULL);
}

int sfs_attach_cb(struct sfs_call *call)
{
	struct sfs_volume *v = malloc(sizeof(*v));
	bool dup;
	int ret;

	if (!v)
		return -ENOMEM;
	ret = sfs_parse_volume(call->arg, v);
	if (ret < 0) {
		sfs_log(LOG_ERR, "vdi/mount: '%s' is not NAME, NAME@TAG or NAME:SNAPID", call->arg);
		goto fail;
	}
	pthread_mutex_lock(&g_sfs.lock);
	dup = sfs_volume_find(v->name) != NULL;
	pthread_mutex_unlock(&g_sfs.lock);
	if (dup) {
		sfs_log(LOG_ERR, "vdi/mount: %s is already attached", v->name);
		ret = -EEXIST;
		goto fail;
	}
	v->handle = open_volume(g_sfs.cluster, v);
	if (!v->handle) {
		ret = -errno;
		sfs_log(LOG_ERR, "vdi/mount: cannot attach %s: %s", v->name,
			ret == -ENOENT ? "no such vdi or snapshot"
				       : sd_cluster_errmsg(g_sfs.cluster));
		if (ret != -ENOENT && ret != -EBUSY && ret != -EINVAL)
			ret = -EIO;
		goto fail;
	}
	v->size = sd_vdi_size(v->handle);
	v->readonly = sd_vdi_is_readonly(v->handle);
	pthread_mutex_lock(&g_sfs.lock);
	v->next = g_sfs.volumes;
	g_sfs.volumes = v;
	pthread_mutex_unlock(&g_sfs.lock);
	sfs_log(LOG_INFO, "attached %s (%" PRIu64 " bytes%s)", v->name, v->size,
		v->readonly ? ", read-only" : "");
	return 0;
fail:
	free(v);
	return ret;
}

/* Flush (a working vdi) and close; the handle is gone afterwards. */
static int close_volume(struct sfs_volume *v)
{
	int ret = 0, r;

	if (!v->readonly) {
		ret = sd_vdi_flush(v->handle);
		if (ret < 0)
			sfs_log(LOG_ERR, "volume %s: flush before close: %s", v->name,
				strerror(-ret));
	}
	r = sd_vdi_close(v->handle);
	if (r < 0)
		sfs_log(LOG_ERR, "volume %s: close: %s", v->name, strerror(-r));
	v->handle = NULL;
	return ret < 0 ? ret : r;
}

int sfs_detach_cb(struct sfs_call *call)
{
	struct sfs_volume *v, **pp;
	int ret;

	pthread_mutex_lock(&g_sfs.lock);
	for (pp = &g_sfs.volumes; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, call->arg))
			break;
	v = *pp;
	if (v && v->nr_open) {
		pthread_mutex_unlock(&g_sfs.lock);
		sfs_log(LOG_ERR, "vdi/unmount: %s is open (%u handles)", v->name, v->nr_open);
		return -EBUSY;
	}
	if (v)
		*pp = v->next;
	pthread_mutex_unlock(&g_sfs.lock);
	if (!v) {
		sfs_log(LOG_ERR, "vdi/unmount: %s is not attached", call->arg);
		return -ENOENT;
	}
	ret = close_volume(v);
	sfs_log(LOG_INFO, "detached %s", v->name);
	free(v);
	return ret < 0 ? -EIO : 0;
}

int sfs_volume_reopen_all(struct sd_cluster *c, struct sd_vdi **handles, unsigned max)
{
	struct sfs_volume *v;
	unsigned i = 0;
	int ret;

	for (v = g_sfs.volumes; v && i < max; v = v->next, i++) {
		handles[i] = open_volume(c, v);
		if (!handles[i]) {
			ret = -errno;
			sfs_log(LOG_ERR, "reconnect: cannot open %s there: %s", v->name,
				sd_cluster_errmsg(c));
			while (i--)
				sd_vdi_close(handles[i]);
			return ret == -ENOENT || ret == -EBUSY ? ret : -EIO;
		}
	}
	return 0;
}

void sfs_volume_close_all(void)
{
	struct sfs_volume *v;

	pthread_mutex_lock(&g_sfs.lock);
	v = g_sfs.volumes;
	g_sfs.volumes = NULL;
	pthread_mutex_unlock(&g_sfs.lock);
	while (v) {
		struct sfs_volume *next = v->next;

		close_volume(v);
		sfs_log(LOG_INFO, "detached %s", v->name);
		free(v);
		v = next;
	}
}

static int volume_io(enum sfs_call_kind kind, struct sfs_volume *v, void *buf, size_t count,
		     uint64_t off)
{
	struct sfs_call call;

	memset(&call, 0, sizeof(call));
	call.kind = kind;
	call.vol = v;
	call.buf = buf;
	call.count = count;
	call.offset = off;
	return sfs_io_errno(sfs_call_run(&call));
}

int sfs_volume_read(struct sfs_volume *v, char *buf, size_t count, uint64_t off)
{
	int ret;

	if (off >= v->size || !count)
		return 0;
	if (count > v->size - off)
		count = (size_t)(v->size - off);
	ret = volume_io(SFS_READ, v, buf, count, off);
	return ret < 0 ? ret : (int)count;
}

int sfs_volume_write(struct sfs_volume *v, const char *buf, size_t count, uint64_t off)
{
	int ret;

	if (v->readonly)
		return -EROFS;
	if (!count)
		return 0;
	/* as a block device: no room past the end */
	if (off >= v->size)
		return -ENOSPC;
	if (count > v->size - off)
		count = (size_t)(v->size - off);
	ret = volume_io(SFS_WRITE, v, (void *)buf, count, off);
	return ret < 0 ? ret : (int)count;
}

int sfs_volume_fsync(struct sfs_volume *v)
{
	if (v->readonly)
		return 0;
	return volume_io(SFS_FLUSH, v, NULL, 0, 0);
}

/*
 * truncate: the vdi keeps its size (a volume is a disk, not a file), so
 * only the current size is accepted; anything else is EINVAL, logged.
 * Grow a vdi with `dog vdi resize`, then detach and attach it again.
 */
int sfs_volume_truncate(struct sfs_volume *v, uint64_t size)
{
	if (v->readonly)
		return -EROFS;
	if (size == v->size)
		return 0;
	sfs_log(LOG_ERR,
		"volume %s: cannot change its size to %" PRIu64 " (it is %" PRIu64
		" bytes): resize the vdi with dog",
		v->name, size, v->size);
	return -EINVAL;
}
