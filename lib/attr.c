// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vdi attributes (GET_VDI_ATTR, protocol fact sheet 6.6): one request looks
 * an attribute up or creates, replaces or deletes it in one step on the
 * server; reading the value is a second request for the attribute object.
 * The full 66320-byte record is always sent, as dog does: upstream sheep
 * copies that much from the payload when it replaces a record.
 */
#include <errno.h>
#include <string.h>

#include "codec.h"
#include "sdl_priv.h"

/* Record for (name, key), value copied in.  NULL with the error set. */
static struct sd_vdi_attr *attr_record(struct sd_cluster *c, const char *name, const char *key,
				       const void *value, size_t len)
{
	struct sdc_vdi_name packed;
	struct sd_vdi_attr *a;

	if (sdc_pack_vdi_name(&packed, name, NULL) || !key || !key[0] ||
	    strlen(key) >= sizeof(a->key) || len > sizeof(a->value) || (len && !value)) {
		sdl_set_err(&c->e, "attribute: invalid vdi name, key or value length");
		errno = EINVAL;
		return NULL;
	}
	a = sdl_calloc(1, sizeof(*a));
	if (!a) {
		sdl_set_err(&c->e, "attribute: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	memcpy(a->name, packed.name, sizeof(a->name));
	memcpy(a->key, key, strlen(key));
	if (len)
		memcpy(a->value, value, len);
	a->value_len = (uint32_t)len;
	return a;
}

/*
 * One attribute call in flight: GET_VDI_ATTR (lookup, create, replace or
 * delete), then for a read the READ_OBJ of the attribute object.  Owned by
 * the engine from submit until the last step's done, which calls back.
 */
struct sdl_attr_op {
	struct sdl_req req;
	struct sd_cluster *c;
	struct sd_vdi_attr *a;	 /* the record sent */
	struct sd_vdi_attr *got; /* read: the record read back, or NULL */
	void *buf;		 /* read: where the value goes */
	size_t len;
	sd_req_cb cb;
	void *opaque;
};

static void sdl_attr_finish(struct sdl_attr_op *op, int ret)
{
	sd_req_cb cb = op->cb;
	struct sd_cluster *c = op->c;
	void *opaque = op->opaque;

	sdl_free(op->got);
	sdl_free(op->a);
	sdl_free(op);
	cb(c, ret, opaque);
}

static void sdl_attr_read_done(struct sdl_req *req, int ret)
{
	struct sdl_attr_op *op = (struct sdl_attr_op *)req;
	struct sd_vdi_attr *got = op->got, *a = op->a;

	if (!ret && req->rsp.result != SD_RES_SUCCESS)
		ret = sd_result_to_errno((int)req->rsp.result);
	/* deleted (or replaced by another key) between the two requests */
	if (!ret && (strncmp(got->name, a->name, sizeof(a->name)) ||
		     strncmp(got->key, a->key, sizeof(a->key)) || got->tag[0] || got->snap_id ||
		     got->value_len > sizeof(got->value)))
		ret = -ENOENT;
	if (ret) {
		sdl_set_err(&op->c->e, "reading attribute %s of %s: %s", a->key, a->name,
			    strerror(-ret));
	} else {
		if (op->len && got->value_len)
			memcpy(op->buf, got->value,
			       op->len < got->value_len ? op->len : got->value_len);
		ret = (int)got->value_len;
	}
	sdl_attr_finish(op, ret);
}

static void sdl_attr_lookup_done(struct sdl_req *req, int ret)
{
	struct sdl_attr_op *op = (struct sdl_attr_op *)req;
	struct sd_cluster *c = op->c;
	uint64_t oid;

	if (!ret && req->rsp.result != SD_RES_SUCCESS)
		ret = sd_result_to_errno((int)req->rsp.result);
	if (ret) {
		sdl_set_err(&c->e, "attribute %s of %s: %s", op->a->key, op->a->name,
			    strerror(-ret));
		sdl_attr_finish(op, ret);
		return;
	}
	if (!op->got) { /* a change: done */
		sdl_attr_finish(op, 0);
		return;
	}
	oid = sd_vid_to_attr_oid(req->rsp.vdi.vdi_id, req->rsp.vdi.attr_id);
	memset(&op->req, 0, sizeof(op->req));
	sdl_init_hdr(&op->req.hdr, SD_OP_READ_OBJ, 0, sizeof(*op->got));
	op->req.hdr.obj.oid = oid;
	op->req.rbuf = op->got;
	op->req.rlen = sizeof(*op->got);
	op->req.done = sdl_attr_read_done;
	sdl_req_submit(&c->e, &op->req);
}

/* Start one attribute call: it takes the record a (freed with the call). */
static struct sdl_attr_op *sdl_attr_submit(struct sd_cluster *c, struct sd_vdi_attr *a,
					   uint16_t flags, void *buf, size_t len, sd_req_cb cb,
					   void *opaque)
{
	struct sdl_attr_op *op = sdl_calloc(1, sizeof(*op));

	if (op && !(flags & (SD_FLAG_CMD_CREAT | SD_FLAG_CMD_DEL))) {
		op->got = sdl_malloc(sizeof(*op->got));
		if (!op->got) {
			sdl_free(op);
			op = NULL;
		}
	}
	if (!op) {
		sdl_free(a);
		sdl_set_err(&c->e, "attribute: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	op->c = c;
	op->a = a;
	op->buf = buf;
	op->len = len;
	op->cb = cb;
	op->opaque = opaque;
	sdl_init_hdr(&op->req.hdr, SD_OP_GET_VDI_ATTR, SD_FLAG_CMD_WRITE | flags, sizeof(*a));
	op->req.wbuf = a;
	op->req.done = sdl_attr_lookup_done;
	sdl_req_submit(&c->e, &op->req);
	return op;
}

static struct sdl_attr_op *sdl_attr_get(struct sd_cluster *c, const char *name, const char *key,
					void *buf, size_t len, sd_req_cb cb, void *opaque)
{
	struct sd_vdi_attr *a = attr_record(c, name, key, NULL, 0);

	return a ? sdl_attr_submit(c, a, 0, buf, len, cb, opaque) : NULL;
}

static struct sdl_attr_op *sdl_attr_set(struct sd_cluster *c, const char *name, const char *key,
					const void *value, size_t len, unsigned flags, sd_req_cb cb,
					void *opaque)
{
	uint16_t wire;
	struct sd_vdi_attr *a;

	if (flags & ~(unsigned)(SD_ATTR_EXCL | SD_ATTR_DELETE) ||
	    (flags & SD_ATTR_EXCL && flags & SD_ATTR_DELETE)) {
		sdl_set_err(&c->e, "attribute: invalid flags 0x%x", flags);
		errno = EINVAL;
		return NULL;
	}
	if (flags & SD_ATTR_DELETE) {
		value = NULL;
		len = 0;
		wire = SD_FLAG_CMD_DEL;
	} else {
		wire = SD_FLAG_CMD_CREAT | (flags & SD_ATTR_EXCL ? SD_FLAG_CMD_EXCL : 0);
	}
	a = attr_record(c, name, key, value, len);
	return a ? sdl_attr_submit(c, a, wire, NULL, 0, cb, opaque) : NULL;
}

int sd_vdi_aio_getattr(struct sd_cluster *c, const char *name, const char *key, void *buf,
		       size_t len, sd_req_cb cb, void *opaque)
{
	if (!cb)
		return -EINVAL;
	return sdl_attr_get(c, name, key, buf, len, cb, opaque) ? 0 : -errno;
}

int sd_vdi_aio_setattr(struct sd_cluster *c, const char *name, const char *key, const void *value,
		       size_t len, unsigned flags, sd_req_cb cb, void *opaque)
{
	if (!cb)
		return -EINVAL;
	return sdl_attr_set(c, name, key, value, len, flags, cb, opaque) ? 0 : -errno;
}

/* The synchronous calls: the asynchronous one, waited for. */
struct sdl_attr_sync {
	int done;
	int ret;
};

static void sdl_attr_sync_done(struct sd_cluster *c, int ret, void *opaque)
{
	struct sdl_attr_sync *st = opaque;

	(void)c;
	st->ret = ret;
	st->done = 1;
}

/* Wait for op (NULL: it did not start); on a failed wait, cancel it. */
static int sdl_attr_wait(struct sd_cluster *c, struct sdl_attr_sync *st, struct sdl_attr_op *op)
{
	int ret;

	if (!op)
		return -errno;
	/* no deadline of its own: every request has the cluster's timeouts */
	ret = sdl_wait(&c->e, &st->done, 0);
	if (ret && !st->done) {
		sdl_req_cancel(&c->e, &op->req);
		sdl_free(op->got);
		sdl_free(op->a);
		sdl_free(op);
	}
	return ret ? ret : st->ret;
}

int sd_vdi_getattr(struct sd_cluster *c, const char *name, const char *key, void *buf, size_t len)
{
	struct sdl_attr_sync st = { 0, 0 };
	int ret = sdl_sync_allowed(&c->e, "sd_vdi_getattr");

	if (ret)
		return ret;
	return sdl_attr_wait(c, &st, sdl_attr_get(c, name, key, buf, len, sdl_attr_sync_done, &st));
}

int sd_vdi_setattr(struct sd_cluster *c, const char *name, const char *key, const void *value,
		   size_t len, unsigned flags)
{
	struct sdl_attr_sync st = { 0, 0 };
	int ret = sdl_sync_allowed(&c->e, "sd_vdi_setattr");

	if (ret)
		return ret;
	return sdl_attr_wait(
		c, &st, sdl_attr_set(c, name, key, value, len, flags, sdl_attr_sync_done, &st));
}
