/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The attribute table the cluster reservation store (bss_pr_cluster.c)
 * works on, over libsheepdog, for one LU with shared=1: synchronous and
 * asynchronous gets and sets of the vdi's attributes, and the header-only
 * lookup of the per-command check.  bss_pr_tgt.c uses
 * the store through bss_pr_cluster_store().
 *
 * Main thread only.
 */
#include "bss.h"
#include "bss_pr.h"

/*
 * The cluster store's attribute table on libsheepdog: a reservation pool
 * (bss_pool.c: one socket shared by every LU's store with the same sheep
 * addresses and timeouts), not the I/O pool, so that its synchronous
 * requests never run I/O completions from inside a SCSI handler.
 *
 * The handle outlives the store: at destroy the calls still out are
 * answered -ECANCELED at once and detached; the library's late answer
 * then frees only the call (a get lands in the call's own buffer).
 */
struct bss_pr_attrs {
	struct bss_pool *pool;
	struct sd_cluster *cluster;
	int fd; /* the pool's, serviced by it, or -1 */
	char vdi[SD_MAX_VDI_LEN];
	struct list_head calls; /* asynchronous calls still out */
};

/* An asynchronous attribute call's callback (bss_pr_attr_call_done). */
struct bss_pr_attr_call {
	struct list_head entry; /* on bss_pr_attrs.calls; empty: detached */
	bss_pr_done_fn cb;
	void *opaque;
	void *buf; /* a get's destination (its value lands in val first) */
	size_t size;
	unsigned char *val; /* a get's own buffer, size bytes, after the call */
};

/* One asynchronous lookup: the header-only record and its reply header. */
struct bss_pr_lookup {
	struct bss_pr_attr_call call; /* first: bss_pr_attr_call_done frees it */
	struct sd_req hdr;
	uint8_t rec[SD_VDI_ATTR_HEADER_SIZE];
};

static int bss_pr_attr_get(void *priv, const char *key, void *buf, size_t size)
{
	struct bss_pr_attrs *a = priv;

	return sd_vdi_getattr(a->cluster, a->vdi, key, buf, size);
}

static int bss_pr_attr_set(void *priv, const char *key, const void *val, size_t len, int excl)
{
	struct bss_pr_attrs *a = priv;

	return sd_vdi_setattr(a->cluster, a->vdi, key, val, len, excl ? SD_ATTR_EXCL : 0);
}

/* One GET_VDI_ATTR without CREAT and without reading the value: one round
 * trip, the header-only record (the shortest payload sheep accepts). */
static int bss_pr_attr_exists(void *priv, const char *key)
{
	struct bss_pr_attrs *a = priv;
	static struct sd_vdi_attr rec;
	struct sd_req hdr;
	int ret;

	memset(&rec, 0, SD_VDI_ATTR_HEADER_SIZE);
	snprintf(rec.name, sizeof(rec.name), "%s", a->vdi);
	snprintf(rec.key, sizeof(rec.key), "%s", key);
	memset(&hdr, 0, sizeof(hdr));
	hdr.proto_ver = SD_SHEEP_PROTO_VER; /* GET_VDI_ATTR is 0x89 */
	hdr.opcode = SD_OP_GET_VDI_ATTR;
	hdr.flags = SD_FLAG_CMD_WRITE;
	hdr.data_length = SD_VDI_ATTR_HEADER_SIZE;
	ret = sd_run_sdreq(a->cluster, &hdr, &rec);
	if (ret < 0)
		return ret;
	return ret == SD_RES_SUCCESS ? 0 : sd_result_to_errno(ret);
}

/* The library's callback of an asynchronous attribute call (the call
 * first in what opaque points to) turned into the table's; freed. */
static void bss_pr_attr_call_done(struct sd_cluster *c, int ret, void *opaque)
{
	struct bss_pr_attr_call *call = opaque;
	bss_pr_done_fn cb = call->cb;
	void *cb_opaque = call->opaque;
	int detached = list_empty(&call->entry);

	(void)c;
	list_del(&call->entry);
	if (!detached && call->buf && ret >= 0)
		memcpy(call->buf, call->val, call->size);
	free(call);
	if (!detached)
		cb(cb_opaque, ret);
}

static void bss_pr_lookup_cb(struct sd_cluster *c, int ret, void *opaque)
{
	/* a raw request answers the sheep's result code */
	bss_pr_attr_call_done(c, ret > 0 ? sd_result_to_errno(ret) : ret, opaque);
}

static int bss_pr_attr_exists_async(void *priv, const char *key, bss_pr_done_fn cb, void *opaque)
{
	struct bss_pr_attrs *a = priv;
	struct bss_pr_lookup *l;
	struct sd_vdi_attr *rec;
	int ret;

	if (a->fd < 0)
		return -ENOTCONN;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	rec = (struct sd_vdi_attr *)l->rec; /* only the header is touched */
	snprintf(rec->name, sizeof(rec->name), "%s", a->vdi);
	snprintf(rec->key, sizeof(rec->key), "%s", key);
	l->hdr.proto_ver = SD_SHEEP_PROTO_VER;
	l->hdr.opcode = SD_OP_GET_VDI_ATTR;
	l->hdr.flags = SD_FLAG_CMD_WRITE;
	l->hdr.data_length = SD_VDI_ATTR_HEADER_SIZE;
	l->call.cb = cb;
	l->call.opaque = opaque;
	ret = sd_aio_run_sdreq(a->cluster, &l->hdr, l->rec, bss_pr_lookup_cb, l);
	if (ret)
		free(l);
	else
		list_add_tail(&l->call.entry, &a->calls);
	return ret;
}

/* buf, size: a get's destination, or NULL, 0. */
static struct bss_pr_attr_call *bss_pr_attr_call_new(struct bss_pr_attrs *a, bss_pr_done_fn cb,
						     void *opaque, void *buf, size_t size)
{
	struct bss_pr_attr_call *call;

	if (a->fd < 0) { /* nothing would service the connection */
		errno = ENOTCONN;
		return NULL;
	}
	call = malloc(sizeof(*call) + size);
	if (!call) {
		errno = ENOMEM;
		return NULL;
	}
	INIT_LIST_HEAD(&call->entry);
	call->cb = cb;
	call->opaque = opaque;
	call->buf = buf;
	call->size = size;
	call->val = (unsigned char *)(call + 1);
	return call;
}

/* A submit's answer for call: freed if the library refused it. */
static int bss_pr_attr_call_sent(struct bss_pr_attrs *a, struct bss_pr_attr_call *call, int ret)
{
	if (ret)
		free(call);
	else
		list_add_tail(&call->entry, &a->calls);
	return ret;
}

static int bss_pr_attr_get_async(void *priv, const char *key, void *buf, size_t size,
				 bss_pr_done_fn cb, void *opaque)
{
	struct bss_pr_attrs *a = priv;
	struct bss_pr_attr_call *call = bss_pr_attr_call_new(a, cb, opaque, buf, size);

	if (!call)
		return -errno;
	return bss_pr_attr_call_sent(a, call,
				     sd_vdi_aio_getattr(a->cluster, a->vdi, key, call->val, size,
							bss_pr_attr_call_done, call));
}

static int bss_pr_attr_set_async(void *priv, const char *key, const void *val, size_t len, int excl,
				 bss_pr_done_fn cb, void *opaque)
{
	struct bss_pr_attrs *a = priv;
	struct bss_pr_attr_call *call = bss_pr_attr_call_new(a, cb, opaque, NULL, 0);

	if (!call)
		return -errno;
	return bss_pr_attr_call_sent(a, call,
				     sd_vdi_aio_setattr(a->cluster, a->vdi, key, val, len,
							excl ? SD_ATTR_EXCL : 0,
							bss_pr_attr_call_done, call));
}

static void bss_pr_attr_destroy(void *priv)
{
	struct bss_pr_attrs *a = priv;

	/* the pending calls are answered -ECANCELED now, as a disconnect
	 * would, and detached: their late answers free only themselves */
	while (!list_empty(&a->calls)) {
		struct bss_pr_attr_call *call =
			list_first_entry(&a->calls, struct bss_pr_attr_call, entry);

		list_del_init(&call->entry);
		call->cb(call->opaque, -ECANCELED);
	}
	bss_pool_lu_put(a->pool);
	free(a);
}

static const struct bss_pr_attr_ops g_pr_attr_ops = {
	.get = bss_pr_attr_get,
	.exists = bss_pr_attr_exists,
	.exists_async = bss_pr_attr_exists_async,
	.set = bss_pr_attr_set,
	.get_async = bss_pr_attr_get_async,
	.set_async = bss_pr_attr_set_async,
	.destroy = bss_pr_attr_destroy,
};

/* The LU's cluster store; NULL + errno (connect failed, no memory). */
struct bss_pr_store *bss_pr_cluster_store(struct bss_lu *blu)
{
	struct bss_pr_store *st;
	struct bss_pr_attrs *a;
	char prefix[64];
	int err;

	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	snprintf(a->vdi, sizeof(a->vdi), "%s", blu->path.vdi);
	INIT_LIST_HEAD(&a->calls);
	a->pool = bss_pool_get(blu, BSS_POOL_PR);
	if (!a->pool) {
		err = errno;
		free(a);
		errno = err;
		return NULL;
	}
	a->cluster = bss_pool_cluster(a->pool);
	a->fd = bss_pool_fd(a->pool);
	/* attributes follow the vdi's name: a snapshot gets keys of its own */
	if (bss_path_is_snapshot(&blu->path))
		snprintf(prefix, sizeof(prefix), "bss.pr.snap.%08" PRIx32, sd_vdi_id(blu->vdi));
	else
		snprintf(prefix, sizeof(prefix), "bss.pr");
	st = bss_pr_cluster_store_create(&g_pr_attr_ops, a, prefix);
	if (!st) {
		err = errno;
		bss_pr_attr_destroy(a);
		errno = err;
	}
	return st;
}
