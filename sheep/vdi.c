// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * VDI metadata: the vdi_inuse / vdi_deleted bitmaps (section 5.2 of the
 * protocol notes), name lookup (5.4), VID allocation by linear probing
 * (5.3), NEW_VDI (6.3), DEL_VDI (6.5) and the reference semantics of
 * data_vdi_id updates (6.8).
 *
 * The bitmaps are never persisted: they are rebuilt from the stored inodes
 * at start-up, as upstream does, so they cannot disagree with the inodes
 * after a crash.  Inodes are created atomically by the store.
 *
 * References: instead of upstream's generational reference counts, an
 * object (X, i) is deleted when an index entry stops pointing at X and no
 * stored inode has data_vdi_id[i] == X any more (a scan of the live inodes).
 *
 * Thread context: workers, always with vdi->lock held (see sheep.h).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sheep.h"

#define INDEX_BYTES (SD_INODE_INDEX_END - SD_INODE_HEADER_SIZE)
#define BTREE_MAGIC 0x6274

int sheep_errno_to_res(int err)
{
	switch (err) {
	case 0: return SD_RES_SUCCESS;
	case -ENOENT: return SD_RES_NO_OBJ;
	case -ENOSPC:
	case -EDQUOT: return SD_RES_NO_SPACE;
	case -EINVAL: return SD_RES_INVALID_PARMS;
	case -ENOMEM: return SD_RES_NO_MEM;
	default: return SD_RES_EIO;
	}
}

static void set_bit(uint8_t *bm, uint32_t n)
{
	bm[n / 8] |= (uint8_t)(1u << (n % 8));
}

static int test_bit(const uint8_t *bm, uint32_t n)
{
	return (bm[n / 8] >> (n % 8)) & 1;
}

int sheep_vdi_test_inuse(const struct sheep_vdi *vdi, uint32_t vid)
{
	return vid < SD_NR_VDIS && test_bit(vdi->inuse, vid);
}

int sheep_vdi_test_deleted(const struct sheep_vdi *vdi, uint32_t vid)
{
	return vid < SD_NR_VDIS && test_bit(vdi->deleted, vid);
}

/* First clear bit in [start, end), or end. */
static uint32_t next_zero(const uint8_t *bm, uint32_t start, uint32_t end)
{
	uint32_t n = start;

	while (n < end) {
		if (n % 64 == 0 && end - n >= 64) {
			uint64_t w;

			memcpy(&w, bm + n / 8, 8);
			if (w == UINT64_MAX) {
				n += 64;
				continue;
			}
		}
		if (!test_bit(bm, n))
			return n;
		n++;
	}
	return end;
}

int sheep_vdi_read_header(struct sheep_store *st, uint32_t vid, struct sd_inode_header *h)
{
	return sheep_store_read(st, sd_vid_to_vdi_oid(vid), h, sizeof(*h), 0);
}

static int add_vid(struct sheep_vdi *vdi, uint32_t vid)
{
	size_t i;

	for (i = 0; i < vdi->nr_vids; i++)
		if (vdi->vids[i] == vid)
			return 0;
	if (vdi->nr_vids == vdi->cap_vids) {
		size_t cap = vdi->cap_vids ? vdi->cap_vids * 2 : 64;
		uint32_t *n = realloc(vdi->vids, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		vdi->vids = n;
		vdi->cap_vids = cap;
	}
	vdi->vids[vdi->nr_vids++] = vid;
	return 0;
}

int sheep_vdi_init(struct sheep_vdi *vdi, struct sheep_store *st)
{
	memset(vdi, 0, sizeof(*vdi));
	vdi->store = st;
	vdi->inuse = calloc(1, SD_VDI_BITMAP_SIZE);
	vdi->deleted = calloc(1, SD_VDI_BITMAP_SIZE);
	vdi->snapshot = calloc(1, SD_VDI_BITMAP_SIZE);
	if (!vdi->inuse || !vdi->deleted || !vdi->snapshot) {
		free(vdi->inuse);
		free(vdi->deleted);
		free(vdi->snapshot);
		return -ENOMEM;
	}
	pthread_mutex_init(&vdi->lock, NULL);
	{
		pthread_rwlockattr_t attr;

		/* a snapshot must not starve behind a stream of writes */
		pthread_rwlockattr_init(&attr);
		pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&vdi->io_lock, &attr);
		pthread_rwlockattr_destroy(&attr);
	}
	return 0;
}

void sheep_vdi_destroy(struct sheep_vdi *vdi)
{
	free(vdi->inuse);
	free(vdi->deleted);
	free(vdi->snapshot);
	free(vdi->vids);
	pthread_mutex_destroy(&vdi->lock);
	pthread_rwlock_destroy(&vdi->io_lock);
	vdi->inuse = vdi->deleted = vdi->snapshot = NULL;
	vdi->vids = NULL;
}

void sheep_vdi_reset(struct sheep_vdi *vdi)
{
	memset(vdi->inuse, 0, SD_VDI_BITMAP_SIZE);
	memset(vdi->deleted, 0, SD_VDI_BITMAP_SIZE);
	pthread_rwlock_wrlock(&vdi->io_lock);
	memset(vdi->snapshot, 0, SD_VDI_BITMAP_SIZE);
	pthread_rwlock_unlock(&vdi->io_lock);
	vdi->nr_vids = 0;
}

int sheep_vdi_is_snapshot(const struct sheep_vdi *vdi, uint32_t vid)
{
	return vid < SD_NR_VDIS && test_bit(vdi->snapshot, vid);
}

int sheep_vdi_refresh_snapshot(struct sheep_vdi *vdi, uint32_t vid)
{
	struct sd_inode_header h;
	int r = sheep_vdi_read_header(vdi->store, vid, &h);

	if (r)
		return r;
	if (sd_inode_is_snapshot(&h))
		set_bit(vdi->snapshot, vid);
	else
		vdi->snapshot[vid / 8] &= (uint8_t) ~(1u << (vid % 8));
	return 0;
}

static int rebuild_one(void *arg, uint32_t vid)
{
	struct sheep_vdi *vdi = arg;
	struct sd_inode_header h;
	int r = sheep_vdi_read_header(vdi->store, vid, &h);

	if (r) {
		sheep_warn("cannot read inode %06x: %s, ignoring it", vid, strerror(-r));
		return 0;
	}
	set_bit(vdi->inuse, vid);
	if (!h.name[0])
		set_bit(vdi->deleted, vid);
	if (sd_inode_is_snapshot(&h))
		set_bit(vdi->snapshot, vid);
	return add_vid(vdi, vid);
}

/*
 * A snapshot cut short by a crash: a working inode whose parent is a working
 * inode of the same name (sheep_vdi_create makes the new working inode
 * durable before it marks the old one).  Finish it: the parent becomes the
 * snapshot, taken at the child's creation time.
 */
static int finish_snapshot(void *arg, uint32_t vid)
{
	struct sheep_vdi *vdi = arg;
	struct sd_inode_header h, p;
	int r;

	if (test_bit(vdi->deleted, vid) || test_bit(vdi->snapshot, vid) ||
	    sheep_vdi_read_header(vdi->store, vid, &h) || !h.parent_vdi_id ||
	    h.parent_vdi_id >= SD_NR_VDIS || !test_bit(vdi->inuse, h.parent_vdi_id) ||
	    test_bit(vdi->deleted, h.parent_vdi_id) || test_bit(vdi->snapshot, h.parent_vdi_id) ||
	    sheep_vdi_read_header(vdi->store, h.parent_vdi_id, &p) ||
	    memcmp(h.name, p.name, sizeof(h.name)))
		return 0;
	r = sheep_store_write(vdi->store, sd_vid_to_vdi_oid(h.parent_vdi_id), &h.create_time,
			      sizeof(h.create_time), offsetof(struct sd_inode_header, snap_ctime));
	if (r)
		return r;
	sheep_info("finished the snapshot of %.*s cut short: %06x is the snapshot, %06x working",
		   (int)sizeof(h.name), h.name, h.parent_vdi_id, vid);
	set_bit(vdi->snapshot, h.parent_vdi_id);
	return 0;
}

int sheep_vdi_rebuild(struct sheep_vdi *vdi)
{
	int r;

	sheep_vdi_reset(vdi);
	r = sheep_store_for_each_inode(vdi->store, rebuild_one, vdi);
	if (!r)
		r = sheep_store_for_each_inode(vdi->store, finish_snapshot, vdi);
	return r;
}

/* ---- lookup (5.3, 5.4) ---- */

struct lookup {
	int res;	      /* SUCCESS, NO_VDI, NO_TAG, FULL_VDI */
	uint32_t vid;	      /* the match */
	uint32_t free_vid;    /* first free slot after the chain */
	uint32_t next_snapid; /* snap_id for a new working VDI of this name */
};

static void pad_name(char dst[SD_MAX_VDI_LEN], const char *src)
{
	size_t n = strnlen(src, SD_MAX_VDI_LEN - 1);

	memset(dst, 0, SD_MAX_VDI_LEN);
	memcpy(dst, src, n);
}

/* Returns 0 to continue, 1 when the lookup is decided. */
static int lookup_check(struct sheep_vdi *vdi, uint32_t v, const char *name, const char *tag,
			uint32_t snapid, int *seen, struct lookup *lk)
{
	struct sd_inode_header h;
	int want_tag = tag[0] || snapid;

	if (!test_bit(vdi->inuse, v) && !test_bit(vdi->deleted, v))
		return 0;
	if (sheep_vdi_read_header(vdi->store, v, &h))
		return 0;
	if (memcmp(h.name, name, SD_MAX_VDI_LEN))
		return 0;
	if (!*seen)
		lk->next_snapid = h.snap_id + 1;
	*seen = 1;
	if (!want_tag) {
		lk->res = sd_inode_is_snapshot(&h) ? SD_RES_NO_VDI : SD_RES_SUCCESS;
		lk->vid = v;
		return 1;
	}
	if (!sd_inode_is_snapshot(&h))
		return 0;
	if ((tag[0] && !memcmp(h.tag, tag, SD_MAX_VDI_TAG_LEN)) ||
	    (snapid && h.snap_id == snapid)) {
		lk->res = SD_RES_SUCCESS;
		lk->vid = v;
		return 1;
	}
	return 0;
}

static void do_lookup(struct sheep_vdi *vdi, const char *name_in, const char *tag_in,
		      uint32_t snapid, struct lookup *lk)
{
	char name[SD_MAX_VDI_LEN], tag[SD_MAX_VDI_TAG_LEN];
	uint32_t left, right, v;
	int seen = 0;

	pad_name(name, name_in);
	pad_name(tag, tag_in ? tag_in : "");
	memset(lk, 0, sizeof(*lk));
	left = sd_hash_vdi(name);
	right = next_zero(vdi->inuse, left, SD_NR_VDIS);
	if (right == SD_NR_VDIS) {
		right = next_zero(vdi->inuse, 1, left);
		if (right == left) {
			lk->res = SD_RES_FULL_VDI;
			return;
		}
	}
	lk->free_vid = right;
	lk->res = SD_RES_NO_VDI;
	if (left == right)
		return;
	/* scan the chain [left, right) from the highest VID down */
	if (right > left) {
		for (v = right; v-- > left;)
			if (lookup_check(vdi, v, name, tag, snapid, &seen, lk))
				return;
	} else {
		for (v = right; v-- > 1;)
			if (lookup_check(vdi, v, name, tag, snapid, &seen, lk))
				return;
		for (v = SD_NR_VDIS; v-- > left;)
			if (lookup_check(vdi, v, name, tag, snapid, &seen, lk))
				return;
	}
	if ((tag[0] || snapid) && seen)
		lk->res = SD_RES_NO_TAG;
}

int sheep_vdi_lookup(struct sheep_vdi *vdi, const char *name, const char *tag, uint32_t snapid,
		     uint32_t *vid)
{
	struct lookup lk;

	do_lookup(vdi, name, tag, snapid, &lk);
	if (lk.res == SD_RES_SUCCESS)
		*vid = lk.vid;
	return lk.res;
}

int sheep_vdi_alloc_vid(struct sheep_vdi *vdi, const char *name, uint32_t *vid)
{
	struct lookup lk;

	do_lookup(vdi, name, NULL, 0, &lk);
	if (lk.res == SD_RES_FULL_VDI)
		return lk.res;
	*vid = lk.free_vid;
	return SD_RES_SUCCESS;
}

/* ---- references (6.8) ---- */

/*
 * Entries [first, first + count) of some inode changed from old[] to new[]
 * (new NULL = all zero).  Delete every object (old[k], first + k) that no
 * stored inode references any more.  Best effort: failures are logged.
 */
static void release_refs(struct sheep_vdi *vdi, const uint32_t *old, const uint32_t *new,
			 uint32_t first, uint32_t count)
{
	uint32_t *cand, *buf = NULL, k;
	size_t i, nr = 0;

	cand = calloc(count, sizeof(*cand));
	if (!cand) {
		sheep_err("out of memory: objects of index %u+%u not reclaimed", first, count);
		return;
	}
	for (k = 0; k < count; k++) {
		if (old[k] && old[k] != (new ? new[k] : 0)) {
			cand[k] = old[k];
			nr++;
		}
	}
	if (!nr)
		goto out;
	buf = malloc((size_t)count * 4);
	if (!buf) {
		sheep_err("out of memory: objects of index %u+%u not reclaimed", first, count);
		goto out;
	}
	for (i = 0; i < vdi->nr_vids && nr; i++) {
		if (sheep_store_read(vdi->store, sd_vid_to_vdi_oid(vdi->vids[i]), buf, count * 4,
				     sd_inode_index_offset(first)))
			continue;
		for (k = 0; k < count; k++) {
			if (cand[k] && buf[k] == cand[k]) {
				cand[k] = 0;
				nr--;
			}
		}
	}
	for (k = 0; k < count && nr; k++) {
		uint64_t oid;
		int r;

		if (!cand[k])
			continue;
		oid = sd_vid_to_data_oid(cand[k], first + k);
		r = sheep_store_remove(vdi->store, oid);
		if (r && r != -ENOENT)
			sheep_warn("cannot remove unreferenced object %016" PRIx64 ": %s", oid,
				   strerror(-r));
		else
			sheep_debug("removed unreferenced object %016" PRIx64, oid);
		nr--;
	}
out:
	free(buf);
	free(cand);
}

int sheep_vdi_write_index(struct sheep_vdi *vdi, uint32_t vid, const void *data, uint32_t len,
			  uint32_t off)
{
	uint64_t oid = sd_vid_to_vdi_oid(vid);
	uint32_t first, last, count;
	uint32_t *old = NULL, *new = NULL;
	int r;

	if (off < SD_INODE_HEADER_SIZE || off > SD_INODE_INDEX_END ||
	    len > SD_INODE_INDEX_END - off)
		return SD_RES_INVALID_PARMS;
	if (!len)
		return sheep_errno_to_res(sheep_store_write(vdi->store, oid, data, 0, off));
	first = (off - SD_INODE_HEADER_SIZE) / 4;
	last = (off + len - 1 - SD_INODE_HEADER_SIZE) / 4;
	count = last - first + 1;
	old = malloc((size_t)count * 4);
	new = malloc((size_t)count * 4);
	if (!old || !new) {
		r = SD_RES_NO_MEM;
		goto out;
	}
	r = sheep_store_read(vdi->store, oid, old, count * 4, sd_inode_index_offset(first));
	if (!r)
		r = sheep_store_write(vdi->store, oid, data, len, off);
	if (!r)
		r = sheep_store_read(vdi->store, oid, new, count * 4, sd_inode_index_offset(first));
	if (r) {
		r = sheep_errno_to_res(r);
		goto out;
	}
	release_refs(vdi, old, new, first, count);
	r = SD_RES_SUCCESS;
out:
	free(old);
	free(new);
	return r;
}

/* ---- NEW_VDI (6.3) ---- */

static int read_index(struct sheep_vdi *vdi, uint32_t vid, uint32_t *idx)
{
	return sheep_store_read(vdi->store, sd_vid_to_vdi_oid(vid), idx, INDEX_BYTES,
				SD_INODE_HEADER_SIZE);
}

int sheep_vdi_create(struct sheep_vdi *vdi, const struct sheep_vdi_create_args *a,
		     uint32_t *new_vid)
{
	struct sd_inode_header h, cur;
	struct lookup lk;
	uint32_t *idx = NULL, parent = a->base_vid, snap_id;
	int r;

	if (!a->name[0] || strnlen(a->name, SD_MAX_VDI_LEN) >= SD_MAX_VDI_LEN)
		return SD_RES_INVALID_PARMS;
	do_lookup(vdi, a->name, NULL, 0, &lk);
	if (lk.res == SD_RES_FULL_VDI)
		return lk.res;
	if (!a->snapid) {
		if (lk.res == SD_RES_SUCCESS)
			return SD_RES_VDI_EXIST;
		snap_id = lk.next_snapid ? lk.next_snapid : 1;
	} else {
		if (lk.res != SD_RES_SUCCESS)
			return lk.res;
		if (sheep_vdi_read_header(vdi->store, lk.vid, &cur))
			return SD_RES_BASE_VDI_READ;
		snap_id = cur.snap_id + 1;
		if (!parent)
			parent = lk.vid;
	}
	idx = calloc(1, INDEX_BYTES);
	if (!idx)
		return SD_RES_NO_MEM;
	/* a snapshot: no write may change the working index until it is one */
	if (a->snapid)
		pthread_rwlock_wrlock(&vdi->io_lock);
	if (parent) {
		if (!sheep_vdi_test_inuse(vdi, parent) || sheep_vdi_test_deleted(vdi, parent) ||
		    read_index(vdi, parent, idx)) {
			r = a->snapid ? SD_RES_BASE_VDI_READ : SD_RES_NO_VDI;
			goto out;
		}
	} else if (a->store_policy == SD_STORE_POLICY_BTREE) {
		uint16_t hdr[2] = { BTREE_MAGIC, 1 };

		memcpy(idx, hdr, sizeof(hdr));
	}
	memset(&h, 0, sizeof(h));
	pad_name(h.name, a->name);
	h.create_time = a->now;
	h.vdi_size = a->size;
	h.copy_policy = a->copy_policy;
	h.store_policy = a->store_policy;
	h.nr_copies = a->copies;
	h.block_size_shift = a->block_size_shift;
	h.snap_id = snap_id;
	h.vdi_id = lk.free_vid;
	h.parent_vdi_id = parent;
	r = sheep_store_create_inode(vdi->store, sd_vid_to_vdi_oid(lk.free_vid), &h, idx,
				     INDEX_BYTES);
	if (r) {
		sheep_err("cannot write inode %06x: %s", lk.free_vid, strerror(-r));
		r = r == -ENOSPC ? SD_RES_NO_SPACE : SD_RES_VDI_WRITE;
		goto out;
	}
	if (a->snapid) {
		/*
		 * The new working inode is durable: only now does the old one
		 * become the snapshot.  The other order left, after a power cut
		 * between the two, a vdi with no working inode at all (found by
		 * tests/bats/sheep_powerloss.bats); a cut here leaves two working
		 * inodes, which sheep_vdi_rebuild() turns into the snapshot.
		 */
		r = sheep_store_write(vdi->store, sd_vid_to_vdi_oid(lk.vid), &a->now,
				      sizeof(a->now), offsetof(struct sd_inode_header, snap_ctime));
		if (r) {
			sheep_store_remove(vdi->store, sd_vid_to_vdi_oid(lk.free_vid));
			r = SD_RES_BASE_VDI_WRITE;
			goto out;
		}
		set_bit(vdi->snapshot, lk.vid);
	}
	set_bit(vdi->inuse, lk.free_vid);
	if (add_vid(vdi, lk.free_vid)) {
		r = SD_RES_NO_MEM;
		goto out;
	}
	*new_vid = lk.free_vid;
	r = SD_RES_SUCCESS;
	sheep_info("%s vdi %s: vid %06x (parent %06x, snap_id %u)",
		   a->snapid ? "snapshot of"
		   : parent  ? "clone"
			     : "created",
		   h.name, lk.free_vid, parent, snap_id);
out:
	if (a->snapid)
		pthread_rwlock_unlock(&vdi->io_lock);
	free(idx);
	return r;
}

/* ---- DEL_VDI (6.5) ---- */

int sheep_vdi_delete(struct sheep_vdi *vdi, uint32_t vid)
{
	struct sd_inode_header h;
	uint32_t *idx;
	int r;

	idx = malloc(INDEX_BYTES);
	if (!idx)
		return SD_RES_NO_MEM;
	r = sheep_vdi_read_header(vdi->store, vid, &h);
	if (!r)
		r = read_index(vdi, vid, idx);
	if (r) {
		free(idx);
		return sheep_errno_to_res(r);
	}
	memset(h.name, 0, sizeof(h.name));
	h.vdi_size = 0;
	r = sheep_store_create_inode(vdi->store, sd_vid_to_vdi_oid(vid), &h, NULL, 0);
	if (r) {
		free(idx);
		return sheep_errno_to_res(r);
	}
	set_bit(vdi->deleted, vid);
	/* reclaim what the client left (a B-tree root is not an index: skip it) */
	if (h.store_policy == SD_STORE_POLICY_FLAT)
		release_refs(vdi, idx, NULL, 0, SD_INODE_DATA_INDEX);
	free(idx);
	sheep_info("deleted vdi %06x", vid);
	return SD_RES_SUCCESS;
}
