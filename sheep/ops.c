// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The opcode table and the request handlers.  Handlers run on worker
 * threads; they fill req->rsp and req->rdata and return an SD_RES_* code.
 * VDI metadata (bitmaps, inode headers and indexes, the format config) is
 * only touched with g_sheep.vdi.lock held, which serialises NEW/DEL/
 * GET_INFO/LOCK, inode writes and MAKE_FS against each other.  Data object
 * I/O runs without that lock, in parallel.  The admin ops live in admin.c.
 *
 * Object stripes: every change of a data object (WRITE, CREATE_AND_WRITE,
 * DISCARD, REMOVE) holds its oid's stripe lock shared; EXT_CMP_WRITE_OBJ
 * holds it exclusively from the read of the index entry to the index
 * update, so nothing changes the object between its compare and its
 * write.  Lock order: stripe, then vdi.lock, then vdi.io_lock.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <nettle/sha1.h>

#include "sheep.h"
#include "sheep_ops.h"

struct sheep_server g_sheep;

/* ---- helpers ---- */

uint64_t sheep_now_encoded(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return ((uint64_t)tv.tv_sec << 32) | ((uint64_t)tv.tv_usec * 1000);
}

static void vdi_lock(void)
{
	pthread_mutex_lock(&g_sheep.vdi.lock);
}

static void vdi_unlock(void)
{
	pthread_mutex_unlock(&g_sheep.vdi.lock);
}

static uint8_t default_shift(void)
{
	uint8_t s;

	vdi_lock();
	s = g_sheep.cfg.block_size_shift;
	vdi_unlock();
	return s ? s : SD_DEFAULT_BLOCK_SIZE_SHIFT;
}

/* Size an object of this oid has (or gets when created). */
static uint64_t object_size(uint64_t oid)
{
	struct sd_inode_header h;

	if (sd_is_vdi_obj(oid))
		return SD_INODE_SIZE;
	if (oid & SD_VDI_ATTR_BIT)
		return SD_ATTR_OBJ_SIZE;
	if (oid & (SD_VDI_BTREE_BIT | SD_LEDGER_BIT))
		return SD_INODE_DATA_INDEX_SIZE;
	if (!sheep_vdi_read_header(&g_sheep.store, sd_oid_to_vid(oid), &h) &&
	    h.block_size_shift >= SD_MIN_BLOCK_SIZE_SHIFT &&
	    h.block_size_shift <= SD_MAX_BLOCK_SIZE_SHIFT)
		return UINT64_C(1) << h.block_size_shift;
	return UINT64_C(1) << default_shift();
}

/* Data objects of a snapshot are read-only (section 6.2). */
/* Caller holds io_lock shared. */
static int check_readonly(uint64_t oid)
{
	if (sd_is_data_obj(oid) && sheep_vdi_is_snapshot(&g_sheep.vdi, sd_oid_to_vid(oid)))
		return SD_RES_READONLY;
	return SD_RES_SUCCESS;
}

#define NR_OBJ_STRIPES 64

static pthread_rwlock_t g_obj_stripes[NR_OBJ_STRIPES] = {
	[0 ... NR_OBJ_STRIPES - 1] = PTHREAD_RWLOCK_INITIALIZER,
};

static pthread_rwlock_t *obj_stripe(uint64_t oid)
{
	return &g_obj_stripes[(oid * UINT64_C(0x9e3779b97f4a7c15)) >> 58];
}

/*
 * The object's stripe lock for a reader on the event-loop thread (the
 * inline read): never waits; 0 when taken, else the read goes to a worker.
 * A COMPARE AND WRITE holds it exclusively, so no read sees half of one.
 */
int sheep_obj_tryrdlock(uint64_t oid)
{
	return pthread_rwlock_tryrdlock(obj_stripe(oid));
}

void sheep_obj_unlock(uint64_t oid)
{
	pthread_rwlock_unlock(obj_stripe(oid));
}

static int is_inode_oid(uint64_t oid)
{
	return (oid & SD_OID_KIND_MASK) == SD_VDI_BIT && !sd_oid_to_idx(oid) && sd_oid_to_vid(oid);
}

/* ---- object I/O (6.2) ---- */

/* Coherence (coh.c): TGT-flagged I/O of an invalidated participant fails. */
static int check_coherent(const struct sheep_request *req)
{
	if (!(req->hdr.flags & SD_FLAG_CMD_TGT))
		return SD_RES_SUCCESS;
	return sheep_coh_check(sd_oid_to_vid(req->hdr.obj.oid), req->client);
}

/*
 * Creates of one object are serialised (by oid hash) so that "exists?"
 * and the create cannot interleave with another gateway's create.
 */
#define NR_CREATE_LOCKS 64
static pthread_mutex_t g_create_locks[NR_CREATE_LOCKS] = { [0 ... NR_CREATE_LOCKS - 1] =
								   PTHREAD_MUTEX_INITIALIZER };

static pthread_mutex_t *create_lock(uint64_t oid)
{
	return &g_create_locks[(oid ^ (oid >> 32)) % NR_CREATE_LOCKS];
}

static int op_create_and_write(struct sheep_request *req)
{
	const struct sd_req *h = &req->hdr;
	uint64_t oid = h->obj.oid, cow = 0, size;
	int r;

	/* inodes only come into being through NEW_VDI, keeping the bitmaps true */
	if (!oid || sd_is_vdi_obj(oid))
		return SD_RES_INVALID_PARMS;
	if (h->flags & SD_FLAG_CMD_COW) {
		cow = h->obj.cow_oid;
		if (!cow || cow == oid)
			return SD_RES_INVALID_PARMS;
	}
	size = object_size(oid);
	if (h->obj.offset > size || h->data_length > size - h->obj.offset)
		return SD_RES_INVALID_PARMS;
	r = check_coherent(req);
	if (r)
		return r;
	pthread_rwlock_rdlock(obj_stripe(oid));
	pthread_rwlock_rdlock(&g_sheep.vdi.io_lock);
	r = check_readonly(oid);
	if (!r) {
		uint64_t cur;

		pthread_mutex_lock(create_lock(oid));
		/*
		 * Another gateway created it first (both saw a hole): writing
		 * the payload keeps its data, where a re-create (zero fill or
		 * a copy of cow_oid) would lose it.  Upstream re-creates.
		 */
		if (!sheep_store_size(&g_sheep.store, oid, &cur))
			r = h->data_length ? sheep_store_write(&g_sheep.store, oid, req->data,
							       h->data_length, h->obj.offset)
					   : 0;
		else
			r = sheep_store_create(&g_sheep.store, oid, size, cow, req->data,
					       h->data_length, h->obj.offset);
		pthread_mutex_unlock(create_lock(oid));
	}
	pthread_rwlock_unlock(&g_sheep.vdi.io_lock);
	pthread_rwlock_unlock(obj_stripe(oid));
	if (r > 0)
		return r;
	if (r)
		sheep_debug("create %016" PRIx64 " failed: %s", oid, strerror(-r));
	return sheep_errno_to_res(r);
}

static int op_read_obj(struct sheep_request *req)
{
	const struct sd_req *h = &req->hdr;
	uint64_t size;
	int r;

	/*
	 * sheep_store_read checks the range itself (NO_OBJ before
	 * INVALID_PARMS, as here); the stat only guards big allocations.
	 */
	if (h->data_length > SD_DATA_OBJ_SIZE) {
		r = sheep_store_size(&g_sheep.store, h->obj.oid, &size);
		if (r)
			return sheep_errno_to_res(r);
		if (h->obj.offset > size || h->data_length > size - h->obj.offset)
			return SD_RES_INVALID_PARMS;
	}
	req->rdata = malloc(h->data_length ? h->data_length : 1);
	if (!req->rdata)
		return SD_RES_NO_MEM;
	if (is_inode_oid(h->obj.oid) && !h->obj.offset && h->data_length == SD_INODE_INDEX_END) {
		/*
		 * The refresh read (6.7): always served, and makes the reader
		 * current.  Under the vdi lock, as index writes are, so no
		 * change slips in between the read and the validation.
		 */
		vdi_lock();
		r = sheep_store_read(&g_sheep.store, h->obj.oid, req->rdata, h->data_length, 0);
		if (!r)
			sheep_coh_validate(sd_oid_to_vid(h->obj.oid), req->client);
		vdi_unlock();
	} else {
		r = check_coherent(req);
		if (r)
			return r;
		/* shared with writes: a COMPARE AND WRITE is never seen half done */
		pthread_rwlock_rdlock(obj_stripe(h->obj.oid));
		r = sheep_store_read(&g_sheep.store, h->obj.oid, req->rdata, h->data_length,
				     h->obj.offset);
		pthread_rwlock_unlock(obj_stripe(h->obj.oid));
	}
	if (r)
		return sheep_errno_to_res(r);
	req->rsp.data_length = h->data_length;
	return SD_RES_SUCCESS;
}

/*
 * A write to an inode outside its index (tag, size, ...), vdi lock held.
 * If it may touch snap_ctime, data writes are held off while it happens
 * and the snapshot bit is re-derived.
 */
static int write_inode_header(uint64_t oid, const void *data, uint32_t len, uint32_t off)
{
	const uint32_t lo = offsetof(struct sd_inode_header, snap_ctime), hi = lo + 8;
	int touches = off < hi && (uint64_t)off + len > lo;
	int r;

	if (touches)
		pthread_rwlock_wrlock(&g_sheep.vdi.io_lock);
	r = sheep_store_write(&g_sheep.store, oid, data, len, off);
	if (touches) {
		sheep_vdi_refresh_snapshot(&g_sheep.vdi, sd_oid_to_vid(oid));
		pthread_rwlock_unlock(&g_sheep.vdi.io_lock);
	}
	return sheep_errno_to_res(r);
}

static int op_write_obj(struct sheep_request *req)
{
	const struct sd_req *h = &req->hdr;
	uint64_t oid = h->obj.oid;
	uint32_t off = h->obj.offset, len = h->data_length;
	int r;

	r = check_coherent(req);
	if (r)
		return r;
	if (sd_is_vdi_obj(oid)) {
		if (!is_inode_oid(oid))
			return SD_RES_INVALID_PARMS;
		vdi_lock();
		if (off >= SD_INODE_HEADER_SIZE && off <= SD_INODE_INDEX_END &&
		    len <= SD_INODE_INDEX_END - off) {
			r = sheep_vdi_write_index(&g_sheep.vdi, sd_oid_to_vid(oid), req->data, len,
						  off);
			/* the writer becomes MODIFIED, every other participant INVALIDATED */
			if (!r)
				sheep_coh_index_written(sd_oid_to_vid(oid), req->client,
							!!(h->flags & SD_FLAG_CMD_TGT));
		} else
			r = write_inode_header(oid, req->data, len, off);
		vdi_unlock();
		return r;
	}
	pthread_rwlock_rdlock(obj_stripe(oid));
	pthread_rwlock_rdlock(&g_sheep.vdi.io_lock);
	r = check_readonly(oid);
	if (!r)
		r = sheep_errno_to_res(sheep_store_write(&g_sheep.store, oid, req->data, len, off));
	pthread_rwlock_unlock(&g_sheep.vdi.io_lock);
	pthread_rwlock_unlock(obj_stripe(oid));
	return r;
}

static int op_remove_obj(struct sheep_request *req)
{
	uint64_t oid = req->hdr.obj.oid;
	int r;

	if (sd_is_vdi_obj(oid))
		return SD_RES_INVALID_PARMS;
	pthread_rwlock_rdlock(obj_stripe(oid));
	r = sheep_errno_to_res(sheep_store_remove(&g_sheep.store, oid));
	pthread_rwlock_unlock(obj_stripe(oid));
	return r;
}

static int op_discard_obj(struct sheep_request *req)
{
	uint64_t oid = req->hdr.obj.oid;
	uint32_t vid = sd_oid_to_vid(oid), idx = sd_oid_to_idx(oid), entry, zero = 0;
	int r;

	if (!sd_is_data_obj(oid) || idx >= SD_INODE_DATA_INDEX)
		return SD_RES_INVALID_PARMS;
	pthread_rwlock_rdlock(obj_stripe(oid));
	vdi_lock();
	r = sheep_store_read(&g_sheep.store, sd_vid_to_vdi_oid(vid), &entry, 4,
			     sd_inode_index_offset(idx));
	if (r)
		r = sheep_errno_to_res(r);
	else if (entry)
		r = sheep_vdi_write_index(&g_sheep.vdi, vid, &zero, 4, sd_inode_index_offset(idx));
	/* the index changed under every participant: all must refresh */
	if (!r && entry)
		sheep_coh_invalidate_all(vid);
	vdi_unlock();
	pthread_rwlock_unlock(obj_stripe(oid));
	return r;
}

/*
 * Compare [off, off + len) of what the vdi holds at index entry `entry`
 * (0: a hole, zeros; another vid: that vdi's object) with cmp.  Returns
 * SD_RES_SUCCESS when equal, EXT_MISCOMPARE with *at set, or an error.
 * io_lock held shared.
 */
static int cmp_obj_range(uint64_t oid, uint32_t entry, const uint8_t *cmp, uint32_t len,
			 uint32_t off, uint64_t *at)
{
	uint8_t *cur;
	uint32_t i;
	int r = 0;

	cur = calloc(1, len);
	if (!cur)
		return SD_RES_NO_MEM;
	if (entry)
		r = sheep_store_read(&g_sheep.store, sd_vid_to_data_oid(entry, sd_oid_to_idx(oid)),
				     cur, len, off);
	if (r) {
		free(cur);
		return sheep_errno_to_res(r);
	}
	for (i = 0; i < len && cur[i] == cmp[i]; i++)
		;
	free(cur);
	if (i == len)
		return SD_RES_SUCCESS;
	*at = i;
	return SD_RES_EXT_MISCOMPARE;
}

/*
 * EXT_CMP_WRITE_OBJ (proto.h).  The object's stripe is held exclusively
 * throughout, so no write, create or discard of it (which hold it shared)
 * and no other compare-and-write can come between the read of the index
 * entry, the compare, the write and the index update.
 */
static int op_cmp_write_obj(struct sheep_request *req)
{
	const struct sd_req *h = &req->hdr;
	uint64_t oid = h->obj.oid, size, at = 0;
	uint32_t vid = sd_oid_to_vid(oid), idx = sd_oid_to_idx(oid);
	uint32_t off = h->obj.offset, len = h->data_length / 2, entry = 0;
	const uint8_t *cmp = req->data;
	int r, created = 0;

	if (!h->data_length)
		return SD_RES_SUCCESS; /* the probe */
	if (!sd_is_data_obj(oid) || idx >= SD_INODE_DATA_INDEX || (h->data_length & 1) ||
	    len > SD_EXT_CMP_WRITE_MAX)
		return SD_RES_INVALID_PARMS;
	size = object_size(oid);
	if (off > size || len > size - off)
		return SD_RES_INVALID_PARMS;
	pthread_rwlock_wrlock(obj_stripe(oid));
	vdi_lock();
	r = sheep_store_read(&g_sheep.store, sd_vid_to_vdi_oid(vid), &entry, 4,
			     sd_inode_index_offset(idx));
	vdi_unlock();
	if (r) {
		r = sheep_errno_to_res(r);
		goto out;
	}
	pthread_rwlock_rdlock(&g_sheep.vdi.io_lock);
	r = check_readonly(oid);
	if (!r)
		r = cmp_obj_range(oid, entry, cmp, len, off, &at);
	if (!r && entry == vid) {
		r = sheep_errno_to_res(sheep_store_write(&g_sheep.store, oid, cmp + len, len, off));
	} else if (!r) {
		/* a hole or the parent's object: this write creates ours */
		r = sheep_store_create(&g_sheep.store, oid, size,
				       entry ? sd_vid_to_data_oid(entry, idx) : 0, cmp + len, len,
				       off);
		r = r > 0 ? r : sheep_errno_to_res(r);
		created = !r;
	}
	pthread_rwlock_unlock(&g_sheep.vdi.io_lock);
	if (created) {
		vdi_lock();
		r = sheep_vdi_write_index(&g_sheep.vdi, vid, &vid, 4, sd_inode_index_offset(idx));
		vdi_unlock();
	}
out:
	pthread_rwlock_unlock(obj_stripe(oid));
	if (r == SD_RES_EXT_MISCOMPARE)
		req->rsp.obj.offset = at;
	return r;
}

static int op_exist(struct sheep_request *req)
{
	uint64_t size;

	return sheep_errno_to_res(sheep_store_size(&g_sheep.store, req->hdr.obj.oid, &size));
}

static int op_flush_vdi(struct sheep_request *req)
{
	if (g_sheep.store.nosync)
		return sheep_errno_to_res(sheep_store_sync(&g_sheep.store));
	return SD_RES_SUCCESS;
}

/*
 * GET_HASH: SHA-1 of the whole object, as long as its kind makes it (a
 * data object is as long as its vdi's objects).  tgt_epoch is ignored: a
 * single node keeps no stale copies of older epochs.
 */
static int op_get_hash(struct sheep_request *req)
{
	const uint32_t chunk = 1u << 20;
	uint64_t oid = req->hdr.obj.oid, size, want, off;
	struct sha1_ctx ctx;
	uint32_t len;
	void *buf;
	int r;

	r = sheep_store_size(&g_sheep.store, oid, &size);
	if (r)
		return sheep_errno_to_res(r);
	want = object_size(oid);
	if (size != want) {
		/* a short object cannot be read whole: upstream's read fails too */
		sheep_err("object %016" PRIx64 " has %" PRIu64 " bytes, expected %" PRIu64, oid,
			  size, want);
		return SD_RES_EIO;
	}
	buf = malloc(chunk);
	if (!buf)
		return SD_RES_NO_MEM;
	sha1_init(&ctx);
	for (off = 0; off < size; off += len) {
		len = size - off < chunk ? (uint32_t)(size - off) : chunk;
		r = sheep_store_read(&g_sheep.store, oid, buf, len, off);
		if (r)
			break;
		sha1_update(&ctx, len, buf);
	}
	free(buf);
	if (r) {
		sheep_err("object %016" PRIx64 " unreadable at %" PRIu64 ": %s", oid, off,
			  strerror(-r));
		return r == -ENOENT ? SD_RES_NO_OBJ : SD_RES_EIO;
	}
	sha1_digest(&ctx, sizeof(req->rsp.hash.digest), req->rsp.hash.digest);
	return SD_RES_SUCCESS;
}

/* ---- VDI ops (6.3 - 6.5) ---- */

/* Name (and optional tag) payload: 256 or 512 bytes, each NUL-terminated. */
static int parse_name_tag(const struct sheep_request *req, int tag_ok, const char **name,
			  const char **tag)
{
	const char *p = req->data;
	uint32_t len = req->hdr.data_length;

	if (!p ||
	    (len != SD_MAX_VDI_LEN && (!tag_ok || len != SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN)))
		return SD_RES_INVALID_PARMS;
	if (!memchr(p, 0, SD_MAX_VDI_LEN))
		return SD_RES_INVALID_PARMS;
	*name = p;
	*tag = "";
	if (len > SD_MAX_VDI_LEN) {
		if (!memchr(p + SD_MAX_VDI_LEN, 0, SD_MAX_VDI_TAG_LEN))
			return SD_RES_INVALID_PARMS;
		*tag = p + SD_MAX_VDI_LEN;
	}
	return SD_RES_SUCCESS;
}

static int op_new_vdi(struct sheep_request *req)
{
	const struct sd_req *h = &req->hdr;
	struct sheep_vdi_create_args a = { 0 };
	const char *tag;
	uint32_t vid = 0, cur = 0;
	int r;

	r = parse_name_tag(req, 0, &a.name, &tag);
	if (r)
		return r;
	if (!a.name[0] || h->vdi.store_policy > SD_STORE_POLICY_BTREE)
		return SD_RES_INVALID_PARMS;
	vdi_lock();
	a.size = h->vdi.vdi_size;
	a.base_vid = h->vdi.base_vdi_id;
	a.snapid = h->vdi.snapid;
	a.copies = h->vdi.copies ? h->vdi.copies : g_sheep.cfg.nr_copies;
	a.copy_policy = h->vdi.copies ? h->vdi.copy_policy : g_sheep.cfg.copy_policy;
	/* erasure coding: nr_copies is data + parity strips (section 3.5) */
	if (a.copy_policy)
		a.copies = (uint8_t)((a.copy_policy >> 4) * 2 + (a.copy_policy & 0x0f));
	a.store_policy = h->vdi.store_policy;
	a.block_size_shift = h->vdi.block_size_shift ? h->vdi.block_size_shift
						     : g_sheep.cfg.block_size_shift;
	a.now = sheep_now_encoded();
	if (a.block_size_shift < SD_MIN_BLOCK_SIZE_SHIFT ||
	    a.block_size_shift > SD_MAX_BLOCK_SIZE_SHIFT || a.base_vid >= SD_NR_VDIS ||
	    (a.store_policy == SD_STORE_POLICY_FLAT &&
	     a.size > sd_max_flat_vdi_size(a.block_size_shift)))
		r = SD_RES_INVALID_PARMS;
	else if (a.snapid && !sheep_vdi_lookup(&g_sheep.vdi, a.name, "", 0, &cur)) {
		/*
		 * Snapshot or rollback: the working vdi cur becomes a
		 * snapshot.  Its participants must learn it even if they never
		 * write (upstream only tells writers, through READONLY).
		 */
		r = sheep_vdi_create(&g_sheep.vdi, &a, &vid);
		if (!r)
			sheep_coh_snapshot(cur, vid);
	} else
		r = sheep_vdi_create(&g_sheep.vdi, &a, &vid);
	vdi_unlock();
	if (r)
		return r;
	req->rsp.vdi.vdi_id = vid;
	req->rsp.vdi.copies = a.copies;
	req->rsp.vdi.block_size_shift = a.block_size_shift;
	return SD_RES_SUCCESS;
}

/* GET_VDI_INFO; LOCK_VDI is this plus the shared lock. */
static int op_get_vdi_info(struct sheep_request *req)
{
	struct sd_inode_header ih;
	const char *name, *tag;
	uint32_t vid = 0;
	int r;

	r = parse_name_tag(req, 1, &name, &tag);
	if (r)
		return r;
	vdi_lock();
	r = sheep_vdi_lookup(&g_sheep.vdi, name, tag, req->hdr.vdi.snapid, &vid);
	if (!r && sheep_vdi_read_header(&g_sheep.store, vid, &ih))
		r = SD_RES_EIO;
	vdi_unlock();
	if (r)
		return r;
	req->rsp.vdi.vdi_id = vid;
	req->rsp.vdi.copies = ih.nr_copies;
	req->rsp.vdi.block_size_shift = ih.block_size_shift;
	return SD_RES_SUCCESS;
}

/*
 * LOCK_VDI: type SHARED makes the connection's client a participant of the
 * vid (coh.c), whatever the cluster flags: coherence between gateways
 * needs no special format.  NORMAL locks are not enforced (as upstream
 * without USE_LOCK); a repeated SHARED lock by one client is counted where
 * upstream answers VDI_LOCKED.  EXT_EXCLUSIVE (proto.h) makes the client
 * the vid's only gateway.
 */
static int op_lock_vdi(struct sheep_request *req)
{
	int r = op_get_vdi_info(req);

	if (r)
		return r;
	if (req->hdr.vdi.type == SD_LOCK_TYPE_SHARED)
		r = sheep_coh_lock_shared(req->rsp.vdi.vdi_id, req->client);
	else if (req->hdr.vdi.type == SD_LOCK_TYPE_EXT_EXCLUSIVE)
		r = sheep_coh_lock_exclusive(req->rsp.vdi.vdi_id, req->client);
	if (r == SD_RES_VDI_LOCKED)
		sheep_info("vdi %" PRIx32 ": %s lock of client %016" PRIx64
			   " refused, held exclusively or shared by another",
			   req->rsp.vdi.vdi_id,
			   req->hdr.vdi.type == SD_LOCK_TYPE_SHARED ? "shared" : "exclusive",
			   req->client);
	return r;
}

static int op_release_vdi(struct sheep_request *req)
{
	if (req->hdr.vdi.type == SD_LOCK_TYPE_SHARED)
		sheep_coh_release(req->hdr.vdi.base_vdi_id, req->client);
	else if (req->hdr.vdi.type == SD_LOCK_TYPE_EXT_EXCLUSIVE)
		sheep_coh_release_exclusive(req->hdr.vdi.base_vdi_id, req->client);
	return SD_RES_SUCCESS;
}

static int op_del_vdi(struct sheep_request *req)
{
	const char *name, *tag;
	uint32_t vid = 0;
	int r;

	r = parse_name_tag(req, 1, &name, &tag);
	if (r)
		return r;
	vdi_lock();
	r = sheep_vdi_lookup(&g_sheep.vdi, name, tag, req->hdr.vdi.snapid, &vid);
	if (!r)
		r = sheep_vdi_delete(&g_sheep.vdi, vid);
	if (!r)
		sheep_coh_invalidate_all(vid);
	if (!r)
		sheep_attr_purge(&g_sheep.vdi, name);
	vdi_unlock();
	if (r)
		return r;
	req->rsp.vdi.vdi_id = vid;
	return SD_RES_SUCCESS;
}

/* GET_VDI_ATTR (section 6.6): the payload is a record, maybe without all its value. */
static int op_get_vdi_attr(struct sheep_request *req)
{
	const struct sd_req *h = &req->hdr;
	uint32_t len = h->data_length, vid, hvid = 0, attr_id = 0;
	struct sd_inode_header ih;
	struct sd_vdi_attr *a;
	unsigned mode = 0;
	int r;

	if (!req->data || len < SD_VDI_ATTR_HEADER_SIZE || len > SD_ATTR_OBJ_SIZE)
		return SD_RES_INVALID_PARMS;
	a = calloc(1, sizeof(*a));
	if (!a)
		return SD_RES_NO_MEM;
	memcpy(a, req->data, len);
	if (!memchr(a->name, 0, sizeof(a->name)) || !memchr(a->tag, 0, sizeof(a->tag)) ||
	    !memchr(a->key, 0, sizeof(a->key)) || a->value_len > len - SD_VDI_ATTR_HEADER_SIZE) {
		free(a);
		return SD_RES_INVALID_PARMS;
	}
	if (h->flags & SD_FLAG_CMD_CREAT)
		mode |= SHEEP_ATTR_CREATE;
	if (h->flags & SD_FLAG_CMD_EXCL)
		mode |= SHEEP_ATTR_EXCL;
	if (h->flags & SD_FLAG_CMD_DEL)
		mode |= SHEEP_ATTR_DELETE;
	vdi_lock();
	r = sheep_vdi_lookup(&g_sheep.vdi, a->name, a->tag, h->vdi.snapid, &vid);
	if (!r && sheep_vdi_read_header(&g_sheep.store, vid, &ih))
		r = SD_RES_EIO;
	if (!r) {
		a->ctime = ih.create_time;
		r = sheep_attr_lookup(&g_sheep.vdi, a, mode, &hvid, &attr_id);
	}
	vdi_unlock();
	free(a);
	/* as upstream: the ids travel back even on failure (e.g. VDI_EXIST) */
	req->rsp.vdi.vdi_id = hvid;
	req->rsp.vdi.attr_id = attr_id;
	if (hvid)
		req->rsp.vdi.copies = ih.nr_copies;
	return r;
}

static int read_bitmap(struct sheep_request *req, int deleted)
{
	if (req->hdr.data_length != SD_VDI_BITMAP_SIZE)
		return SD_RES_INVALID_PARMS;
	req->rdata = malloc(SD_VDI_BITMAP_SIZE);
	if (!req->rdata)
		return SD_RES_NO_MEM;
	vdi_lock();
	memcpy(req->rdata, deleted ? g_sheep.vdi.deleted : g_sheep.vdi.inuse, SD_VDI_BITMAP_SIZE);
	vdi_unlock();
	req->rsp.data_length = SD_VDI_BITMAP_SIZE;
	return SD_RES_SUCCESS;
}

static int op_read_vdis(struct sheep_request *req)
{
	return read_bitmap(req, 0);
}

static int op_read_del_vdis(struct sheep_request *req)
{
	return read_bitmap(req, 1);
}

static int op_noop(struct sheep_request *req)
{
	return SD_RES_SUCCESS;
}

/* ---- the table ---- */

#define NAME_PAYLOAD (SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN)

static const struct sheep_op g_ops[256] = {
	[SD_OP_CREATE_AND_WRITE_OBJ] = { "CREATE_AND_WRITE_OBJ", 0, 1, SD_MAX_OBJ_SIZE,
					 op_create_and_write },
	[SD_OP_READ_OBJ] = { "READ_OBJ", 0, 0, 0, op_read_obj },
	[SD_OP_WRITE_OBJ] = { "WRITE_OBJ", 0, 1, SD_MAX_OBJ_SIZE, op_write_obj },
	[SD_OP_REMOVE_OBJ] = { "REMOVE_OBJ", 0, 0, 0, op_remove_obj },
	[SD_OP_DISCARD_OBJ] = { "DISCARD_OBJ", 0, 0, 0, op_discard_obj },
	[SD_OP_NEW_VDI] = { "NEW_VDI", 0, 1, NAME_PAYLOAD, op_new_vdi },
	[SD_OP_LOCK_VDI] = { "LOCK_VDI", 0, 1, NAME_PAYLOAD, op_lock_vdi },
	[SD_OP_RELEASE_VDI] = { "RELEASE_VDI", 0, 0, 0, op_release_vdi },
	[SD_OP_GET_VDI_INFO] = { "GET_VDI_INFO", 0, 1, NAME_PAYLOAD, op_get_vdi_info },
	[SD_OP_READ_VDIS] = { "READ_VDIS", 1, 0, 0, op_read_vdis },
	[SD_OP_FLUSH_VDI] = { "FLUSH_VDI", 0, 0, 0, op_flush_vdi },
	[SD_OP_DEL_VDI] = { "DEL_VDI", 0, 1, NAME_PAYLOAD, op_del_vdi },
	[SD_OP_GET_CLUSTER_DEFAULT] = { "GET_CLUSTER_DEFAULT", 1, 0, 0,
					sheep_op_get_cluster_default },
	[SD_OP_GET_NODE_LIST] = { "GET_NODE_LIST", 1, 0, 0, sheep_op_get_node_list },
	[SD_OP_MAKE_FS] = { "MAKE_FS", 1, 1, 256, sheep_op_make_fs },
	[SD_OP_SHUTDOWN] = { "SHUTDOWN", 1, 0, 0, sheep_op_shutdown },
	[SD_OP_STAT_SHEEP] = { "STAT_SHEEP", 0, 0, 0, sheep_op_stat_sheep },
	[SD_OP_STAT_CLUSTER] = { "STAT_CLUSTER", 1, 0, 0, sheep_op_stat_cluster },
	[SD_OP_GET_VDI_ATTR] = { "GET_VDI_ATTR", 0, 1, SD_ATTR_OBJ_SIZE, op_get_vdi_attr },
	[SD_OP_GET_STORE_LIST] = { "GET_STORE_LIST", 1, 0, 0, sheep_op_get_store_list },
	[SD_OP_FLUSH_DEL_CACHE] = { "FLUSH_DEL_CACHE", 0, 0, 0, op_noop },
	[SD_OP_DELETE_CACHE] = { "DELETE_CACHE", 0, 0, 0, op_noop },
	[SD_OP_GET_HASH] = { "GET_HASH", 0, 0, 0, op_get_hash },
	[SD_OP_EXIST] = { "EXIST", 1, 0, 0, op_exist },
	[SD_OP_CLUSTER_INFO] = { "CLUSTER_INFO", 1, 0, 0, sheep_op_cluster_info },
	[SD_OP_READ_DEL_VDIS] = { "READ_DEL_VDIS", 1, 0, 0, op_read_del_vdis },
	[SD_OP_EXT_CMP_WRITE_OBJ] = { "EXT_CMP_WRITE_OBJ", 0, 1, 2 * SD_EXT_CMP_WRITE_MAX,
				      op_cmp_write_obj },
};

const struct sheep_op *sheep_op_get(uint8_t opcode)
{
	return g_ops[opcode].handler ? &g_ops[opcode] : NULL;
}

/* an opcode we lack may still carry a payload: read it to stay in sync */
#define UNKNOWN_OP_MAX_PAYLOAD (64u * 1024 + 1024)

int64_t sheep_frame_payload_len(const struct sd_req *hdr)
{
	const struct sheep_op *op = sheep_op_get(hdr->opcode);
	uint32_t cap = op && op->max_payload ? op->max_payload : UNKNOWN_OP_MAX_PAYLOAD;

	if (!(hdr->flags & SD_FLAG_CMD_WRITE))
		return 0;
	return hdr->data_length > cap ? -1 : (int64_t)hdr->data_length;
}

int sheep_frame_is_hello(const struct sd_req *hdr)
{
	return hdr->opcode == SD_OP_EXT_HELLO ||
	       (hdr->opcode == SD_OP_GET_CLUSTER_DEFAULT && hdr->obj.cow_oid == SD_EXT_HELLO_MAGIC);
}

/*
 * A client that keeps sending an opcode we lack would otherwise flood the
 * log: say it once per opcode value for the life of the process.
 */
static void log_unknown_opcode(uint8_t opcode)
{
	static uint64_t seen[256 / 64];
	uint64_t bit = UINT64_C(1) << (opcode % 64);

	if (__atomic_fetch_or(&seen[opcode / 64], bit, __ATOMIC_RELAXED) & bit)
		return;
	sheep_warn("unsupported opcode 0x%02x: answering NO_SUPPORT (logged once)", opcode);
}

int sheep_op_precheck(const struct sd_req *hdr, const struct sheep_op *op)
{
	if (hdr->opcode >= 0x80 ? hdr->proto_ver != SD_SHEEP_PROTO_VER
				: hdr->proto_ver > SD_PROTO_VER)
		return SD_RES_VER_MISMATCH;
	if (!op) {
		log_unknown_opcode(hdr->opcode);
		return SD_RES_NO_SUPPORT;
	}
	if (__atomic_load_n(&g_sheep.shutting_down, __ATOMIC_ACQUIRE))
		return SD_RES_SHUTDOWN;
	if (!op->force && !__atomic_load_n(&g_sheep.formatted, __ATOMIC_ACQUIRE))
		return SD_RES_WAIT_FOR_FORMAT;
	/* payload shape: required with WRITE, forbidden without a use for it */
	if (op->needs_payload && !(hdr->flags & SD_FLAG_CMD_WRITE))
		return SD_RES_INVALID_PARMS;
	if (!op->needs_payload && (hdr->flags & SD_FLAG_CMD_WRITE) && hdr->data_length)
		return SD_RES_INVALID_PARMS;
	return SD_RES_SUCCESS;
}

void sheep_op_execute(struct sheep_request *req)
{
	const struct sheep_op *op = sheep_op_get(req->hdr.opcode);
	int r;

	r = op->handler(req);
	req->rsp.result = (uint32_t)r;
	if (r != SD_RES_SUCCESS) {
		free(req->rdata);
		req->rdata = NULL;
		req->rsp.data_length = 0;
		sheep_debug("%s id %u: %s", op->name, req->hdr.id, sd_strerror(r));
	}
	/* never send more than the client asked for: it would desynchronise it */
	if (req->rsp.data_length >
	    ((req->hdr.flags & SD_FLAG_CMD_WRITE) ? 0 : req->hdr.data_length)) {
		sheep_err("%s reply of %u bytes exceeds the request's %u", op->name,
			  req->rsp.data_length, req->hdr.data_length);
		abort();
	}
}
