// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Administration calls (synchronous), following what dog sends for the same
 * commands (protocol fact sheet 8.2, 6.3-6.5).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "sdl_priv.h"

#define SDL_DEL_BATCH 128

static int sdl_check_result(struct sd_cluster *c, const char *what, const char *name,
			    uint32_t result)
{
	if (result == SD_RES_SUCCESS)
		return 0;
	sdl_set_err(&c->e, "%s %s: %s", what, name, sd_strerror((int)result));
	return sd_result_to_errno((int)result);
}

/* NEW_VDI with the name as payload; *vid gets the reply's vdi_id. */
static int sdl_new_vdi(struct sd_cluster *c, const char *name, uint64_t size, uint32_t base,
		       uint32_t snapid, uint8_t copies, uint8_t copy_policy, uint8_t shift,
		       uint32_t *vid)
{
	struct sdc_vdi_name buf;
	struct sdl_req req;
	int ret;

	ret = sdc_pack_vdi_name(&buf, name, NULL);
	if (ret) {
		sdl_set_err(&c->e, "invalid vdi name");
		return ret;
	}
	memset(&req, 0, sizeof(req));
	/* NEW_VDI carries the name field only */
	sdl_init_hdr(&req.hdr, SD_OP_NEW_VDI, SD_FLAG_CMD_WRITE, sizeof(buf.name));
	req.hdr.vdi.vdi_size = size;
	req.hdr.vdi.base_vdi_id = base;
	req.hdr.vdi.snapid = snapid;
	req.hdr.vdi.copies = copies;
	req.hdr.vdi.copy_policy = copy_policy;
	req.hdr.vdi.store_policy = SD_STORE_POLICY_FLAT;
	req.hdr.vdi.block_size_shift = shift;
	req.wbuf = buf.name;
	ret = sdl_run_req(&c->e, &req, 0);
	if (ret < 0) {
		sdl_set_err(&c->e, "creating %s: %s", name, strerror(-ret));
		return ret;
	}
	ret = sdl_check_result(c, "creating", name, req.rsp.result);
	if (!ret && vid)
		*vid = req.rsp.vdi.vdi_id;
	return ret;
}

static int sdl_default_shift(struct sd_cluster *c, uint8_t *shift)
{
	struct sdl_req req;
	int ret;

	memset(&req, 0, sizeof(req));
	sdl_init_hdr(&req.hdr, SD_OP_GET_CLUSTER_DEFAULT, 0, 0);
	ret = sdl_run_req(&c->e, &req, 0);
	if (ret < 0)
		return ret;
	*shift = SD_DEFAULT_BLOCK_SIZE_SHIFT;
	if (req.rsp.result == SD_RES_SUCCESS && req.rsp.cluster_default.block_size_shift)
		*shift = req.rsp.cluster_default.block_size_shift;
	return 0;
}

static int sdl_prealloc(struct sd_cluster *c, const char *name)
{
	struct sd_vdi *vdi;
	uint64_t i, n;
	int ret = 0;

	vdi = sd_vdi_open(c, name, 0, NULL);
	if (!vdi)
		return -errno;
	n = sd_count_data_objs(vdi->size, vdi->shift);
	for (i = 0; i < n && !ret; i++) {
		uint32_t idx = (uint32_t)i;

		if (vdi->index[idx])
			continue;
		ret = sdl_write_obj_sync(c, sd_vid_to_data_oid(vdi->vid, idx), NULL, 0, 0,
					 SD_OP_CREATE_AND_WRITE_OBJ, 0);
		if (!ret) {
			vdi->index[idx] = vdi->vid;
			ret = sdl_write_obj_sync(c, sd_vid_to_vdi_oid(vdi->vid), &vdi->index[idx],
						 4, sd_inode_index_offset(idx), SD_OP_WRITE_OBJ, 0);
		}
	}
	sd_vdi_close(vdi);
	return ret;
}

int sd_vdi_create_opts(struct sd_cluster *c, const char *name, uint64_t size,
		       const struct sd_vdi_create_opts *opts)
{
	struct sd_vdi_create_opts o;
	int ret;

	ret = sdl_sync_allowed(&c->e, "sd_vdi_create");
	if (ret)
		return ret;
	memset(&o, 0, sizeof(o));
	if (opts &&
	    opts->struct_size >= offsetof(struct sd_vdi_create_opts, prealloc) + sizeof(int))
		o = *opts;
	if (!name || !*name || strlen(name) >= SD_MAX_VDI_LEN) {
		sdl_set_err(&c->e, "invalid vdi name");
		return -EINVAL;
	}
	if (o.block_size_shift && (o.block_size_shift < SD_MIN_BLOCK_SIZE_SHIFT ||
				   o.block_size_shift > SD_MAX_BLOCK_SIZE_SHIFT)) {
		sdl_set_err(&c->e, "block_size_shift must be %d..%d", SD_MIN_BLOCK_SIZE_SHIFT,
			    SD_MAX_BLOCK_SIZE_SHIFT);
		return -EINVAL;
	}
	if (o.nr_copies > SD_MAX_COPIES) {
		sdl_set_err(&c->e, "at most %d copies", SD_MAX_COPIES);
		return -EINVAL;
	}
	if (!size) {
		sdl_set_err(&c->e, "vdi size must be positive");
		return -EINVAL;
	}
	{
		uint8_t shift = o.block_size_shift;

		if (!shift) {
			ret = sdl_default_shift(c, &shift);
			if (ret)
				return ret;
		}
		if (size > sd_max_flat_vdi_size(shift)) {
			sdl_set_err(&c->e, "%s: size %llu exceeds the flat-index limit %llu", name,
				    (unsigned long long)size,
				    (unsigned long long)sd_max_flat_vdi_size(shift));
			return -EINVAL;
		}
	}
	ret = sdl_new_vdi(c, name, size, 0, 0, o.nr_copies, 0, o.block_size_shift, NULL);
	if (ret || !o.prealloc)
		return ret;
	return sdl_prealloc(c, name);
}

int sd_vdi_create(struct sd_cluster *c, const char *name, uint64_t size)
{
	return sd_vdi_create_opts(c, name, size, NULL);
}

int sd_vdi_delete(struct sd_cluster *c, const char *name, const char *tag)
{
	struct sdc_vdi_name buf;
	char *inode;
	struct sd_inode_header *h;
	struct sdc_inode_geom geom;
	uint32_t *index, vid;
	uint64_t n, i;
	struct sdl_req req;
	int ret, any = 0;

	ret = sdl_sync_allowed(&c->e, "sd_vdi_delete");
	if (ret)
		return ret;
	ret = sdl_vdi_lookup(c, SD_OP_GET_VDI_INFO, name, 0, tag, &vid, 0);
	if (ret)
		return ret;
	inode = sdl_malloc(SD_INODE_INDEX_END);
	if (!inode) {
		sdl_set_err(&c->e, "out of memory");
		return -ENOMEM;
	}
	h = (struct sd_inode_header *)inode;
	index = (uint32_t *)(inode + SD_INODE_HEADER_SIZE);
	ret = sdl_read_obj_sync(c, sd_vid_to_vdi_oid(vid), inode, SD_INODE_INDEX_END, 0, 1, 0);
	if (ret)
		goto out;
	/* release the objects first, in batches, as dog does */
	/* -EFBIG leaves the whole flat index to release; a bad header, nothing */
	ret = sdc_inode_decode(h, &geom);
	n = !ret || ret == -EFBIG ? geom.nr_objs : 0;
	ret = 0;
	for (i = 0; i < n && !ret;) {
		uint64_t start, end;

		if (!index[i]) {
			i++;
			continue;
		}
		start = i;
		end = i + SDL_DEL_BATCH < n ? i + SDL_DEL_BATCH : n;
		memset(&index[start], 0, (size_t)(end - start) * 4);
		ret = sdl_write_obj_sync(c, sd_vid_to_vdi_oid(vid), &index[start],
					 (uint32_t)(end - start) * 4,
					 sd_inode_index_offset((uint32_t)start), SD_OP_WRITE_OBJ,
					 0);
		any = 1;
		i = end;
	}
	if (!ret && !any)
		ret = sdl_write_obj_sync(c, sd_vid_to_vdi_oid(vid), NULL, 0, SD_INODE_HEADER_SIZE,
					 SD_OP_WRITE_OBJ, 0);
	if (ret)
		goto out;
	/* name and tag were checked by the lookup above */
	ret = sdc_pack_vdi_name(&buf, name, tag);
	if (ret)
		goto out;
	memset(&req, 0, sizeof(req));
	sdl_init_hdr(&req.hdr, SD_OP_DEL_VDI, SD_FLAG_CMD_WRITE, sizeof(buf));
	req.wbuf = &buf;
	ret = sdl_run_req(&c->e, &req, 0);
	if (ret < 0)
		sdl_set_err(&c->e, "deleting %s: %s", name, strerror(-ret));
	else
		ret = sdl_check_result(c, "deleting", name, req.rsp.result);
out:
	sdl_free(inode);
	return ret;
}

int sd_vdi_snapshot(struct sd_cluster *c, const char *name, const char *tag)
{
	struct sd_inode_header h;
	char tagbuf[SD_MAX_VDI_TAG_LEN];
	uint32_t vid, dummy;
	int ret;

	ret = sdl_sync_allowed(&c->e, "sd_vdi_snapshot");
	if (ret)
		return ret;
	ret = sdl_vdi_lookup(c, SD_OP_GET_VDI_INFO, name, 0, NULL, &vid, 0);
	if (ret)
		return ret;
	if (tag && *tag) {
		ret = sdl_vdi_lookup(c, SD_OP_GET_VDI_INFO, name, 0, tag, &dummy, 0);
		if (!ret) {
			sdl_set_err(&c->e, "%s already has a snapshot tagged %s", name, tag);
			return -EEXIST;
		}
		if (ret != -ENOENT)
			return ret;
	}
	ret = sdl_read_obj_sync(c, sd_vid_to_vdi_oid(vid), &h, sizeof(h), 0, 1, 0);
	if (ret)
		return ret;
	if (h.store_policy != SD_STORE_POLICY_FLAT) {
		sdl_set_err(&c->e, "%s: snapshots of hyper volumes are not supported", name);
		return -ENOTSUP;
	}
	memset(tagbuf, 0, sizeof(tagbuf));
	if (tag)
		memcpy(tagbuf, tag, strlen(tag));
	ret = sdl_write_obj_sync(c, sd_vid_to_vdi_oid(vid), tagbuf, sizeof(tagbuf),
				 offsetof(struct sd_inode_header, tag), SD_OP_WRITE_OBJ, 0);
	if (ret)
		return ret;
	return sdl_new_vdi(c, name, h.vdi_size, vid, 1, h.nr_copies, h.copy_policy,
			   h.block_size_shift, NULL);
}

int sd_vdi_clone(struct sd_cluster *c, const char *srcname, uint32_t snapid, const char *srctag,
		 const char *dstname)
{
	struct sd_inode_header h;
	uint32_t vid;
	int ret;

	ret = sdl_sync_allowed(&c->e, "sd_vdi_clone");
	if (ret)
		return ret;
	if (!snapid && (!srctag || !*srctag)) {
		sdl_set_err(&c->e, "clone needs a snapshot of %s (tag or id)", srcname);
		return -EINVAL;
	}
	if (!dstname || !*dstname || strlen(dstname) >= SD_MAX_VDI_LEN) {
		sdl_set_err(&c->e, "invalid vdi name");
		return -EINVAL;
	}
	ret = sdl_vdi_lookup(c, SD_OP_GET_VDI_INFO, srcname, snapid, srctag, &vid, 0);
	if (ret)
		return ret;
	ret = sdl_read_obj_sync(c, sd_vid_to_vdi_oid(vid), &h, sizeof(h), 0, 1, 0);
	if (ret)
		return ret;
	if (!sd_inode_is_snapshot(&h)) {
		sdl_set_err(&c->e, "%s is not a snapshot", srcname);
		return -EINVAL;
	}
	return sdl_new_vdi(c, dstname, h.vdi_size, vid, 0, h.nr_copies, h.copy_policy,
			   h.block_size_shift, NULL);
}

int sd_vdi_resize(struct sd_cluster *c, const char *name, uint64_t new_size)
{
	struct sd_inode_header h;
	struct sdc_inode_geom g;
	uint32_t vid;
	int ret;

	ret = sdl_sync_allowed(&c->e, "sd_vdi_resize");
	if (ret)
		return ret;
	ret = sdl_vdi_lookup(c, SD_OP_GET_VDI_INFO, name, 0, NULL, &vid, 0);
	if (ret)
		return ret;
	ret = sdl_read_obj_sync(c, sd_vid_to_vdi_oid(vid), &h, sizeof(h), 0, 1, 0);
	if (ret)
		return ret;
	/* a hyper volume has no flat-index limit; a bad shift, no size at all */
	ret = sdc_inode_decode(&h, &g);
	if (ret == -EINVAL) {
		sdl_set_err(&c->e, "%s: bad block_size_shift %u", name, h.block_size_shift);
		return -EIO;
	}
	if (new_size < h.vdi_size) {
		sdl_set_err(&c->e, "%s: shrinking is not supported", name);
		return -EINVAL;
	}
	if (ret != -ENOTSUP && new_size > sd_max_flat_vdi_size(g.shift)) {
		sdl_set_err(&c->e, "%s: %llu exceeds the flat-index limit", name,
			    (unsigned long long)new_size);
		return -EINVAL;
	}
	h.vdi_size = new_size;
	return sdl_write_obj_sync(c, sd_vid_to_vdi_oid(vid), &h, sizeof(h), 0, SD_OP_WRITE_OBJ, 0);
}

static int sdl_read_bitmap(struct sd_cluster *c, uint8_t opcode, uint8_t *bm)
{
	struct sdl_req req;
	int ret;

	memset(&req, 0, sizeof(req));
	sdl_init_hdr(&req.hdr, opcode, 0, SD_VDI_BITMAP_SIZE);
	req.rbuf = bm;
	req.rlen = SD_VDI_BITMAP_SIZE;
	ret = sdl_run_req(&c->e, &req, 0);
	if (ret < 0) {
		sdl_set_err(&c->e, "reading the vdi bitmap: %s", strerror(-ret));
		return ret;
	}
	if (req.rsp.data_length < SD_VDI_BITMAP_SIZE)
		memset(bm + req.rsp.data_length, 0, SD_VDI_BITMAP_SIZE - req.rsp.data_length);
	return sdl_check_result(c, "reading", "the vdi bitmap", req.rsp.result);
}

int sd_vdi_list(struct sd_cluster *c, struct sd_vdi_info **out)
{
	uint8_t *inuse, *deleted = NULL;
	struct sd_vdi_info *arr = NULL, *tmp;
	size_t nr = 0, cap = 0;
	uint32_t vid;
	int ret;

	*out = NULL;
	ret = sdl_sync_allowed(&c->e, "sd_vdi_list");
	if (ret)
		return ret;
	inuse = sdl_malloc(SD_VDI_BITMAP_SIZE);
	deleted = sdl_malloc(SD_VDI_BITMAP_SIZE);
	if (!inuse || !deleted) {
		sdl_set_err(&c->e, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	ret = sdl_read_bitmap(c, SD_OP_READ_VDIS, inuse);
	if (!ret)
		ret = sdl_read_bitmap(c, SD_OP_READ_DEL_VDIS, deleted);
	if (ret)
		goto out;
	for (vid = 1; vid < SD_NR_VDIS; vid++) {
		struct sd_inode_header h;
		struct sd_vdi_info *v;

		if (!(inuse[vid / 8] & (1u << (vid % 8))) || (deleted[vid / 8] & (1u << (vid % 8))))
			continue;
		ret = sdl_read_obj_sync(c, sd_vid_to_vdi_oid(vid), &h, sizeof(h), 0, 0, 0);
		if (ret == -ENOENT) {
			ret = 0;
			continue;
		}
		if (ret)
			goto out;
		if (!h.name[0])
			continue;
		if (nr == cap) {
			cap = cap ? cap * 2 : 16;
			tmp = sdl_malloc(cap * sizeof(*arr));
			if (!tmp) {
				sdl_set_err(&c->e, "out of memory");
				ret = -ENOMEM;
				goto out;
			}
			if (nr)
				memcpy(tmp, arr, nr * sizeof(*arr));
			sdl_free(arr);
			arr = tmp;
		}
		v = &arr[nr++];
		memset(v, 0, sizeof(*v));
		memcpy(v->name, h.name, sizeof(v->name));
		v->name[sizeof(v->name) - 1] = '\0';
		memcpy(v->tag, h.tag, sizeof(v->tag));
		v->tag[sizeof(v->tag) - 1] = '\0';
		v->vid = vid;
		v->snap_id = h.snap_id;
		v->parent_vid = h.parent_vdi_id;
		v->size = h.vdi_size;
		v->create_time = h.create_time;
		v->is_snapshot = sd_inode_is_snapshot(&h);
		v->nr_copies = h.nr_copies;
		v->block_size_shift = h.block_size_shift;
	}
	/* the caller frees with free(): hand over a plain malloc'ed copy */
	if (nr) {
		*out = malloc(nr * sizeof(*arr));
		if (!*out) {
			sdl_set_err(&c->e, "out of memory");
			ret = -ENOMEM;
			goto out;
		}
		memcpy(*out, arr, nr * sizeof(*arr));
	}
	ret = (int)nr;
out:
	sdl_free(arr);
	sdl_free(inuse);
	sdl_free(deleted);
	return ret;
}
