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

/* One GET_VDI_ATTR; *oid set on success.  0 or -errno. */
static int attr_request(struct sd_cluster *c, const struct sd_vdi_attr *a, uint16_t flags,
			uint64_t *oid)
{
	struct sdl_req req;
	int ret;

	memset(&req, 0, sizeof(req));
	sdl_init_hdr(&req.hdr, SD_OP_GET_VDI_ATTR, SD_FLAG_CMD_WRITE | flags, sizeof(*a));
	req.wbuf = a;
	ret = sdl_run_req(&c->e, &req, 0);
	if (ret < 0) {
		sdl_set_err(&c->e, "attribute %s of %s: %s", a->key, a->name, strerror(-ret));
		return ret;
	}
	if (req.rsp.result != SD_RES_SUCCESS) {
		sdl_set_err(&c->e, "attribute %s of %s: %s", a->key, a->name,
			    sd_strerror((int)req.rsp.result));
		return sd_result_to_errno((int)req.rsp.result);
	}
	*oid = sd_vid_to_attr_oid(req.rsp.vdi.vdi_id, req.rsp.vdi.attr_id);
	return 0;
}

int sd_vdi_getattr(struct sd_cluster *c, const char *name, const char *key, void *buf, size_t len)
{
	struct sd_vdi_attr *a, *got = NULL;
	struct sdl_req req;
	uint64_t oid;
	int ret;

	ret = sdl_sync_allowed(&c->e, "sd_vdi_getattr");
	if (ret)
		return ret;
	a = attr_record(c, name, key, NULL, 0);
	if (!a)
		return -errno;
	ret = attr_request(c, a, 0, &oid);
	if (ret)
		goto out;
	got = sdl_malloc(sizeof(*got));
	if (!got) {
		sdl_set_err(&c->e, "attribute: out of memory");
		ret = -ENOMEM;
		goto out;
	}
	memset(&req, 0, sizeof(req));
	sdl_init_hdr(&req.hdr, SD_OP_READ_OBJ, 0, sizeof(*got));
	req.hdr.obj.oid = oid;
	req.rbuf = got;
	req.rlen = sizeof(*got);
	ret = sdl_run_req(&c->e, &req, 0);
	if (!ret && req.rsp.result != SD_RES_SUCCESS)
		ret = sd_result_to_errno((int)req.rsp.result);
	/* deleted (or replaced by another key) between the two requests */
	if (!ret && (strncmp(got->name, a->name, sizeof(a->name)) ||
		     strncmp(got->key, a->key, sizeof(a->key)) || got->tag[0] || got->snap_id ||
		     got->value_len > sizeof(got->value)))
		ret = -ENOENT;
	if (ret) {
		sdl_set_err(&c->e, "reading attribute %s of %s: %s", key, name, strerror(-ret));
		goto out;
	}
	if (len && got->value_len)
		memcpy(buf, got->value, len < got->value_len ? len : got->value_len);
	ret = (int)got->value_len;
out:
	sdl_free(got);
	sdl_free(a);
	return ret;
}

int sd_vdi_setattr(struct sd_cluster *c, const char *name, const char *key, const void *value,
		   size_t len, unsigned flags)
{
	uint16_t wire = 0;
	struct sd_vdi_attr *a;
	uint64_t oid;
	int ret;

	ret = sdl_sync_allowed(&c->e, "sd_vdi_setattr");
	if (ret)
		return ret;
	if (flags & ~(unsigned)(SD_ATTR_EXCL | SD_ATTR_DELETE) ||
	    (flags & SD_ATTR_EXCL && flags & SD_ATTR_DELETE)) {
		sdl_set_err(&c->e, "attribute: invalid flags 0x%x", flags);
		return -EINVAL;
	}
	if (flags & SD_ATTR_DELETE) {
		value = NULL;
		len = 0;
		wire = SD_FLAG_CMD_DEL;
	} else {
		wire = SD_FLAG_CMD_CREAT | (flags & SD_ATTR_EXCL ? SD_FLAG_CMD_EXCL : 0);
	}
	a = attr_record(c, name, key, value, len);
	if (!a)
		return -errno;
	ret = attr_request(c, a, wire, &oid);
	sdl_free(a);
	return ret;
}
