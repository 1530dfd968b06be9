// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Vdi handles: open (lock + full inode read), close (drain + release), the
 * asynchronous inode reload used after READONLY / INODE_INVALIDATED, and
 * the small synchronous helpers admin.c shares.
 */
#include <errno.h>
#include <string.h>
#include <syslog.h>

#include "codec.h"
#include "sdl_priv.h"

#define SDL_NOOBJ_RETRIES     40
#define SDL_NOOBJ_DELAY_MS    50
#define SDL_RELOAD_STREAK_MAX 16

static int sdl_name_ok(struct sd_cluster *c, const char *name, const char *tag)
{
	if (!name || !*name || strlen(name) >= SD_MAX_VDI_LEN) {
		sdl_set_err(&c->e, "invalid vdi name");
		return -EINVAL;
	}
	if (tag && strlen(tag) >= SD_MAX_VDI_TAG_LEN) {
		sdl_set_err(&c->e, "snapshot tag too long");
		return -EINVAL;
	}
	return 0;
}

static int sdl_vdi_lookup_type(struct sd_cluster *c, uint8_t opcode, uint8_t type, const char *name,
			       uint32_t snapid, const char *tag, uint32_t *vid,
			       uint64_t deadline_ms)
{
	struct sdc_vdi_name buf;
	struct sdl_req req;
	int ret;

	ret = sdl_name_ok(c, name, tag);
	if (!ret)
		ret = sdc_pack_vdi_name(&buf, name, tag);
	if (ret)
		return ret;
	memset(&req, 0, sizeof(req));
	sdl_init_hdr(&req.hdr, opcode, SD_FLAG_CMD_WRITE, sizeof(buf));
	req.hdr.vdi.snapid = snapid;
	if (opcode == SD_OP_LOCK_VDI)
		req.hdr.vdi.type = type;
	req.wbuf = &buf;
	ret = sdl_run_req(&c->e, &req, deadline_ms);
	if (ret < 0) {
		sdl_set_err(&c->e, "looking up vdi %s: %s", name, strerror(-ret));
		return ret;
	}
	if (req.rsp.result != SD_RES_SUCCESS) {
		sdl_set_err(&c->e, "vdi %s%s%s: %s", name, tag && *tag ? " tag " : "",
			    tag && *tag ? tag : "", sd_strerror((int)req.rsp.result));
		return sd_result_to_errno((int)req.rsp.result);
	}
	*vid = req.rsp.vdi.vdi_id;
	return 0;
}

int sdl_vdi_lookup(struct sd_cluster *c, uint8_t opcode, const char *name, uint32_t snapid,
		   const char *tag, uint32_t *vid, uint64_t deadline_ms)
{
	return sdl_vdi_lookup_type(c, opcode, SD_LOCK_TYPE_SHARED, name, snapid, tag, vid,
				   deadline_ms);
}

int sdl_read_obj_sync(struct sd_cluster *c, uint64_t oid, void *buf, uint32_t len, uint32_t offset,
		      int retry_noobj, uint64_t deadline_ms)
{
	struct sdl_req req;
	int tries = 0, ret;

	for (;;) {
		memset(&req, 0, sizeof(req));
		/*
		 * A whole inode read is the refresh read of the shared lock
		 * (6.7): with the TGT flag it also marks this client current.
		 */
		sdl_init_hdr(&req.hdr, SD_OP_READ_OBJ,
			     sd_is_vdi_obj(oid) && !offset && len == SD_INODE_INDEX_END
				     ? SD_FLAG_CMD_TGT
				     : 0,
			     len);
		req.hdr.obj.oid = oid;
		req.hdr.obj.offset = offset;
		req.rbuf = buf;
		req.rlen = len;
		/* the pause between NO_OBJ retries is the engine's delayed queue */
		ret = sdl_run_req_after(&c->e, &req, tries ? SDL_NOOBJ_DELAY_MS : 0, deadline_ms);
		if (ret < 0) {
			sdl_set_err(&c->e, "reading object %llx: %s", (unsigned long long)oid,
				    strerror(-ret));
			return ret;
		}
		if (req.rsp.result == SD_RES_NO_OBJ && retry_noobj && ++tries < SDL_NOOBJ_RETRIES)
			continue;
		if (req.rsp.result != SD_RES_SUCCESS) {
			sdl_set_err(&c->e, "reading object %llx: %s", (unsigned long long)oid,
				    sd_strerror((int)req.rsp.result));
			return sd_result_to_errno((int)req.rsp.result);
		}
		if (req.rsp.data_length < len)
			memset((char *)buf + req.rsp.data_length, 0, len - req.rsp.data_length);
		return 0;
	}
}

int sdl_write_obj_sync(struct sd_cluster *c, uint64_t oid, const void *buf, uint32_t len,
		       uint32_t offset, uint8_t opcode, uint16_t extra_flags)
{
	struct sdl_req req;
	int ret;

	memset(&req, 0, sizeof(req));
	sdl_init_hdr(&req.hdr, opcode, SD_FLAG_CMD_WRITE | extra_flags, len);
	req.hdr.obj.oid = oid;
	req.hdr.obj.offset = offset;
	req.wbuf = buf;
	ret = sdl_run_req(&c->e, &req, 0);
	if (ret < 0) {
		sdl_set_err(&c->e, "writing object %llx: %s", (unsigned long long)oid,
			    strerror(-ret));
		return ret;
	}
	if (req.rsp.result != SD_RES_SUCCESS) {
		sdl_set_err(&c->e, "writing object %llx: %s", (unsigned long long)oid,
			    sd_strerror((int)req.rsp.result));
		return sd_result_to_errno((int)req.rsp.result);
	}
	return 0;
}

static void sdl_release_vid(struct sd_cluster *c, uint32_t vid, uint8_t type)
{
	struct sdl_req req;

	/* an unreachable cluster would hold close for a whole retry window
	 * just to drop a lock that only matters to a running sheep */
	if (!sdl_engine_up(&c->e)) {
		sdl_log(&c->e, LOG_WARNING, "not releasing vid %x: no connection to %s", vid,
			c->e.addr_str);
		return;
	}
	memset(&req, 0, sizeof(req));
	sdl_init_hdr(&req.hdr, SD_OP_RELEASE_VDI, 0, 0);
	req.hdr.vdi.base_vdi_id = vid;
	req.hdr.vdi.type = type;
	if (sdl_run_req(&c->e, &req, sdl_now_ms() + c->e.opts.connect_timeout_ms) < 0)
		sdl_log(&c->e, LOG_WARNING, "releasing vid %x failed", vid);
}

/* Another open handle of c holding vid exclusively (the lock is per client, not counted). */
static int sdl_other_excl(struct sd_cluster *c, const struct sd_vdi *vdi, uint32_t vid)
{
	struct sdl_list *n;

	for (n = c->vdis.next; n != &c->vdis; n = n->next) {
		const struct sd_vdi *v = sdl_container_of(n, struct sd_vdi, link);

		if (v != vdi && v->excl && v->vid == vid)
			return 1;
	}
	return 0;
}

static int sdl_ext_known(void *arg)
{
	return ((const struct sdl_engine *)arg)->ext != 0;
}

/*
 * SD_VDI_EXCLUSIVE at open: 1 when the exclusive lock of name's working
 * vid is ours (*vid), 0 when the sheep cannot enforce it (upstream),
 * else -errno (-EBUSY: another gateway has the vdi).
 */
static int sdl_vdi_lock_excl(struct sd_cluster *c, const char *name, uint32_t *vid,
			     uint64_t deadline_ms)
{
	int ret;

	/* the first HELLO's answer says which sheep this is */
	ret = sdl_wait_until(&c->e, sdl_ext_known, &c->e, deadline_ms);
	if (ret) {
		sdl_set_err(&c->e, "opening %s: the sheep did not answer: %s", name,
			    strerror(-ret));
		return ret;
	}
	if (c->e.ext != 1) {
		if (!c->excl_warned)
			sdl_log(&c->e, LOG_WARNING,
				"%s: the sheep has no exclusive lock (upstream sheepdog): exclusive "
				"access cannot be enforced, other gateways may open the vdi",
				name);
		c->excl_warned = 1;
		return 0;
	}
	ret = sdl_vdi_lookup_type(c, SD_OP_LOCK_VDI, SD_LOCK_TYPE_EXT_EXCLUSIVE, name, 0, NULL, vid,
				  deadline_ms);
	if (ret == -EBUSY)
		sdl_set_err(&c->e, "vdi '%s' is open by another gateway (exclusive open refused)",
			    name);
	return ret ? ret : 1;
}

static int sdl_vdi_apply_header(struct sd_vdi *vdi)
{
	const struct sd_inode_header *h = vdi->hdr;
	struct sdc_inode_geom g;
	int ret = sdc_inode_decode(h, &g);

	if (ret == -ENOTSUP) {
		sdl_set_err(&vdi->c->e, "%s is a hyper volume (B-tree index), not supported",
			    vdi->name);
		return -ENOTSUP;
	}
	if (ret == -EINVAL) {
		sdl_set_err(&vdi->c->e, "%s: bad block_size_shift %u", vdi->name,
			    h->block_size_shift);
		return -EIO;
	}
	/* -EFBIG: the size is clamped to the flat index below */
	vdi->shift = g.shift;
	vdi->obj_size = g.obj_size;
	vdi->size = h->vdi_size;
	if (vdi->size > sd_max_flat_vdi_size(g.shift))
		vdi->size = sd_max_flat_vdi_size(g.shift);
	return 0;
}

/*
 * Room for the index entries a vdi of the size in header h needs, the new
 * ones zero: 0, or -ENOMEM with the handle as it was (called before the
 * header is taken, so that a failed reload changes nothing).  A header
 * sdl_vdi_apply_header refuses needs nothing.  Never shrinks: a smaller
 * size only ever means fewer entries are looked at.
 */
static int sdl_vdi_index_fit(struct sd_vdi *vdi, const struct sd_inode_header *h)
{
	struct sdc_inode_geom g;
	uint64_t size, n;
	char *p;
	int ret = sdc_inode_decode(h, &g);

	if (ret && ret != -EFBIG)
		return 0;
	size = h->vdi_size < sd_max_flat_vdi_size(g.shift) ? h->vdi_size
							   : sd_max_flat_vdi_size(g.shift);
	n = sd_count_data_objs(size, g.shift);
	if (n > SD_INODE_DATA_INDEX)
		n = SD_INODE_DATA_INDEX;
	if (n <= vdi->nr_idx && vdi->index)
		return 0;
	p = sdl_realloc(vdi->inode, SD_INODE_HEADER_SIZE + (size_t)n * sizeof(uint32_t));
	if (!p) {
		sdl_set_err(&vdi->c->e, "%s: out of memory for its index (%llu entries)", vdi->name,
			    (unsigned long long)n);
		return -ENOMEM;
	}
	memset(p + SD_INODE_HEADER_SIZE + (size_t)vdi->nr_idx * sizeof(uint32_t), 0,
	       (size_t)(n - vdi->nr_idx) * sizeof(uint32_t));
	vdi->inode = p;
	vdi->hdr = (struct sd_inode_header *)p;
	vdi->index = (uint32_t *)(p + SD_INODE_HEADER_SIZE);
	vdi->nr_idx = (uint32_t)n;
	return 0;
}

/* Index entries an open without SD_VDI_SHARED reads with the header. */
#define SDL_OPEN_INDEX 4096

/* Bytes of an inode from its start to the end of its first n index entries. */
static uint32_t sdl_inode_bytes(uint32_t n)
{
	return SD_INODE_HEADER_SIZE + n * (uint32_t)sizeof(uint32_t);
}

/*
 * The first read of an inode with its index (at open, in a full reload):
 * with SD_VDI_SHARED the whole inode, the refresh read that makes this
 * client current in the shared-lock protocol.  Otherwise only what the
 * handle keeps: the header and the index its size needs, in one read of
 * at least SDL_OPEN_INDEX entries (16 GiB of 4 MiB objects) and the rest
 * in a second one (an open of a 64 MiB vdi moves 21,048 bytes, not 4 MiB).
 */
static uint32_t sdl_index_first_read(const struct sd_vdi *vdi)
{
	if (vdi->shared)
		return SD_INODE_INDEX_END;
	return sdl_inode_bytes(vdi->nr_idx > SDL_OPEN_INDEX ? vdi->nr_idx : SDL_OPEN_INDEX);
}

struct sd_vdi *sd_vdi_open(struct sd_cluster *c, const char *name, uint32_t snapid, const char *tag)
{
	return sd_vdi_open_flags(c, name, snapid, tag, 0);
}

struct sd_vdi *sd_vdi_open_flags(struct sd_cluster *c, const char *name, uint32_t snapid,
				 const char *tag, unsigned flags)
{
	struct sd_vdi *vdi;
	uint64_t deadline;
	uint32_t excl_vid = 0, len;
	char *buf = NULL;
	int ret, locked = 0, excl = 0;

	ret = sdl_sync_allowed(&c->e, "sd_vdi_open");
	if (!ret && (flags & ~(SD_VDI_SHARED | SD_VDI_EXCLUSIVE | SD_VDI_NOLOCK))) {
		sdl_set_err(&c->e, "sd_vdi_open_flags: unknown flags %#x", flags);
		ret = -EINVAL;
	}
	/* what a write-back cache holds back, other gateways cannot read */
	if (!ret && (flags & SD_VDI_SHARED) && (flags & SD_VDI_EXCLUSIVE)) {
		sdl_set_err(
			&c->e,
			"sd_vdi_open_flags: SD_VDI_SHARED and SD_VDI_EXCLUSIVE exclude each other");
		ret = -EINVAL;
	}
	if (!ret && (flags & SD_VDI_NOLOCK) && (flags & (SD_VDI_SHARED | SD_VDI_EXCLUSIVE))) {
		sdl_set_err(&c->e, "sd_vdi_open_flags: SD_VDI_NOLOCK takes no lock: not with "
				   "SD_VDI_SHARED or SD_VDI_EXCLUSIVE");
		ret = -EINVAL;
	}
	if (!ret && (flags & SD_VDI_EXCLUSIVE) && (snapid || (tag && *tag))) {
		sdl_set_err(&c->e, "sd_vdi_open_flags: SD_VDI_EXCLUSIVE is for the working vdi, "
				   "a snapshot is read-only");
		ret = -EINVAL;
	}
	if (!ret)
		ret = sdl_name_ok(c, name, tag);
	if (ret) {
		errno = -ret;
		return NULL;
	}
	vdi = sdl_calloc(1, sizeof(*vdi));
	if (!vdi) {
		sdl_set_err(&c->e, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	vdi->c = c;
	sdl_list_init(&vdi->link);
	sdl_list_init(&vdi->creates);
	sdl_list_init(&vdi->dirty);
	sdl_list_init(&vdi->reload_waiters);
	memcpy(vdi->name, name, strlen(name));
	if (tag)
		memcpy(vdi->tag, tag, strlen(tag));
	vdi->snapid = snapid;
	vdi->shared = !!(flags & SD_VDI_SHARED);
	vdi->nolock = !!(flags & SD_VDI_NOLOCK);
	/* room for the whole inode (mapped: only what is read is touched) */
	vdi->inode = sdl_malloc(SD_INODE_HEADER_SIZE);
	buf = sdl_malloc_big(SD_INODE_INDEX_END);
	if (!vdi->inode || !buf) {
		sdl_set_err(&c->e, "out of memory");
		ret = -ENOMEM;
		goto fail;
	}
	vdi->hdr = (struct sd_inode_header *)vdi->inode;
	/* open runs on the application's loop (tgtd's): every wait in it is
	 * bounded by one connect timeout, not by the retry window */
	deadline = sdl_now_ms() + c->e.opts.connect_timeout_ms;
	/* exclusive first: of two gateways opening at once, one wins */
	if (flags & SD_VDI_EXCLUSIVE) {
		ret = sdl_vdi_lock_excl(c, name, &excl_vid, deadline);
		if (ret < 0)
			goto fail;
		excl = ret;
	}
	ret = sdl_vdi_lookup(c, (flags & SD_VDI_NOLOCK) ? SD_OP_GET_VDI_INFO : SD_OP_LOCK_VDI, name,
			     snapid, tag, &vdi->vid, deadline);
	if (flags & SD_VDI_NOLOCK) {
		if (ret)
			goto fail;
	} else if (ret == -EBUSY && c->e.ext == 1) {
		/* our sheep refuses a shared lock only for an exclusive holder */
		sdl_set_err(&c->e, "vdi '%s' is open exclusively by another gateway", name);
		goto fail;
	} else if (ret == -EBUSY && vdi->shared) {
		/*
		 * Upstream with USE_LOCK: this sheep node is a participant
		 * already (another gateway on it).  Coherence is per node
		 * there; go on as that node's second user.
		 */
		sdl_log(&c->e, LOG_WARNING, "%s: shared lock held by this sheep node already",
			name);
		ret = sdl_vdi_lookup(c, SD_OP_GET_VDI_INFO, name, snapid, tag, &vdi->vid, deadline);
		if (ret)
			goto fail;
	} else if (ret) {
		goto fail;
	} else {
		locked = 1;
	}
	vdi->locked = locked;
	/* a snapshot taken since moved our exclusive lock to this vid */
	if (excl)
		excl_vid = vdi->vid;
	vdi->excl = excl;
	len = sdl_index_first_read(vdi);
	ret = sdl_read_obj_sync(c, sd_vid_to_vdi_oid(vdi->vid), buf, len, 0, 1, deadline);
	if (ret)
		goto fail;
	ret = sdl_vdi_index_fit(vdi, (const struct sd_inode_header *)buf);
	if (ret)
		goto fail;
	if (len < sdl_inode_bytes(vdi->nr_idx)) {
		uint32_t end = sdl_inode_bytes(vdi->nr_idx);

		ret = sdl_read_obj_sync(c, sd_vid_to_vdi_oid(vdi->vid), buf + len, end - len, len,
					1, deadline);
		if (ret)
			goto fail;
	}
	memcpy(vdi->inode, buf, SD_INODE_HEADER_SIZE);
	ret = sdl_vdi_apply_header(vdi);
	if (ret)
		goto fail;
	memcpy(vdi->index, buf + SD_INODE_HEADER_SIZE, (size_t)vdi->nr_idx * sizeof(uint32_t));
	sdl_free_big(buf);
	vdi->readonly = snapid || vdi->tag[0] || sd_inode_is_snapshot(vdi->hdr);
	sdl_list_add_tail(&vdi->link, &c->vdis);
	c->nr_vdis++;
	sdl_log(&c->e, LOG_INFO, "opened %s (vid %x, %llu bytes, %u-byte objects%s%s)", name,
		vdi->vid, (unsigned long long)vdi->size, vdi->obj_size,
		vdi->readonly ? ", read-only" : "",
		vdi->shared ? ", shared" : (vdi->excl ? ", exclusive" : ""));
	return vdi;
fail:
	if (excl && !sdl_other_excl(c, vdi, excl_vid))
		sdl_release_vid(c, excl_vid, SD_LOCK_TYPE_EXT_EXCLUSIVE);
	if (locked)
		sdl_release_vid(c, vdi->vid, SD_LOCK_TYPE_SHARED);
	sdl_free_big(buf);
	sdl_free(vdi->inode);
	sdl_free(vdi);
	errno = -ret;
	return NULL;
}

static int sdl_vdi_busy(const struct sd_vdi *vdi)
{
	return vdi->nr_acbs || vdi->nr_iupd || vdi->reloading || vdi->reload || vdi->reload_want ||
	       !sdl_list_empty(&vdi->dirty);
}

static int sdl_vdi_idle(void *arg)
{
	return !sdl_vdi_busy(arg);
}

static int sdl_vdi_drain(struct sd_vdi *vdi)
{
	return sdl_wait_until(&vdi->c->e, sdl_vdi_idle, vdi, 0);
}

/* The handle's last step: off the cluster's list and freed. */
static void sdl_vdi_free(struct sd_vdi *vdi)
{
	sdl_list_del(&vdi->link);
	vdi->c->nr_vdis--;
	sdl_free(vdi->inode);
	sdl_free(vdi);
}

/* As before a flush: index entries a snapshot swallowed go back. */
static int sdl_vdi_close_reload_wanted(struct sd_vdi *vdi)
{
	if (!vdi->index_changed || vdi->readonly || !sdl_engine_up(&vdi->c->e))
		return 0;
	vdi->reload_want = SDL_RELOAD_HEADER;
	return 1;
}

int sd_vdi_close(struct sd_vdi *vdi)
{
	struct sd_cluster *c;
	int ret;

	if (!vdi)
		return -EINVAL;
	c = vdi->c;
	if (vdi->closing) {
		sdl_set_err(&c->e, "%s: sd_vdi_aio_close() is already closing it", vdi->name);
		return -EBUSY;
	}
	ret = sdl_sync_allowed(&c->e, "sd_vdi_close");
	if (ret)
		return ret;
	ret = sdl_vdi_drain(vdi);
	if (ret)
		return ret;
	if (sdl_vdi_close_reload_wanted(vdi)) {
		sdl_signal(&c->e);
		ret = sdl_vdi_drain(vdi);
		if (ret)
			return ret;
	}
	if (vdi->excl && !sdl_other_excl(c, vdi, vdi->vid))
		sdl_release_vid(c, vdi->vid, SD_LOCK_TYPE_EXT_EXCLUSIVE);
	if (vdi->locked)
		sdl_release_vid(c, vdi->vid, SD_LOCK_TYPE_SHARED);
	sdl_vdi_free(vdi);
	return 0;
}

/*
 * sd_vdi_aio_close: the same steps as sd_vdi_close, moved on by every
 * service round (sdl_vdis_close_progress) instead of a wait:
 *   DRAIN    the vdi's requests, inode updates and reloads finish (each
 *            bounded by the request timeout and retry window);
 *   RELOAD   the header reload of sd_vdi_close, when the index changed;
 *   RELEASE  the lock releases, sent together; skipped while no
 *            connection is up (a dead sheep keeps nothing: ours drops a
 *            vanished client's locks itself);
 * then the handle is freed and the callback runs with vdi NULL.
 */
enum { SDL_CLOSE_NONE, SDL_CLOSE_DRAIN, SDL_CLOSE_RELOAD, SDL_CLOSE_RELEASE };

/*
 * RELEASE_VDI in the background: of a vid this handle moved away from
 * (closing NULL), or of a closing handle's lock, which counts it in
 * close_pending until the answer (or the failure) is in.
 */
struct sdl_release {
	struct sdl_req req;
	struct sd_vdi *closing;
};

static void sdl_release_done(struct sdl_req *req, int ret)
{
	struct sdl_release *r = req->priv;
	struct sd_vdi *vdi = r->closing;

	if (vdi) {
		if (ret < 0 || req->rsp.result != SD_RES_SUCCESS)
			sdl_log(&vdi->c->e, LOG_WARNING, "%s: releasing vid %x at close: %s",
				vdi->name, req->hdr.vdi.base_vdi_id,
				ret < 0 ? strerror(-ret) : sd_strerror((int)req->rsp.result));
		vdi->close_pending--;
	}
	sdl_free(r);
}

static void sdl_release_async(struct sd_cluster *c, uint32_t vid, uint8_t type,
			      struct sd_vdi *closing)
{
	struct sdl_release *r = sdl_calloc(1, sizeof(*r));

	if (!r) {
		sdl_log(&c->e, LOG_WARNING, "not releasing vid %x: out of memory", vid);
		return;
	}
	r->closing = closing;
	sdl_init_hdr(&r->req.hdr, SD_OP_RELEASE_VDI, 0, 0);
	r->req.hdr.vdi.base_vdi_id = vid;
	r->req.hdr.vdi.type = type;
	r->req.done = sdl_release_done;
	r->req.priv = r;
	if (closing)
		closing->close_pending++;
	sdl_req_submit(&c->e, &r->req);
}

static void sdl_close_start_release(struct sd_vdi *vdi)
{
	struct sd_cluster *c = vdi->c;

	vdi->closing = SDL_CLOSE_RELEASE;
	if ((vdi->excl || vdi->locked) && !sdl_engine_up(&c->e)) {
		sdl_log(&c->e, LOG_WARNING, "%s: not releasing vid %x: no connection to %s",
			vdi->name, vdi->vid, c->e.addr_str);
		return;
	}
	if (vdi->excl && !sdl_other_excl(c, vdi, vdi->vid))
		sdl_release_async(c, vdi->vid, SD_LOCK_TYPE_EXT_EXCLUSIVE, vdi);
	if (vdi->locked)
		sdl_release_async(c, vdi->vid, SD_LOCK_TYPE_SHARED, vdi);
}

/* One step of a closing vdi; 1 when it is done. */
static int sdl_vdi_close_step(struct sd_vdi *vdi)
{
	switch (vdi->closing) {
	case SDL_CLOSE_DRAIN:
		if (sdl_vdi_busy(vdi))
			return 0;
		if (sdl_vdi_close_reload_wanted(vdi)) {
			vdi->closing = SDL_CLOSE_RELOAD;
			/* the kick that starts it comes with the next round */
			sdl_signal(&vdi->c->e);
			return 0;
		}
		sdl_close_start_release(vdi);
		break;
	case SDL_CLOSE_RELOAD:
		if (sdl_vdi_busy(vdi))
			return 0;
		sdl_close_start_release(vdi);
		break;
	default: break;
	}
	return !vdi->close_pending;
}

void sdl_vdis_close_progress(struct sd_cluster *c)
{
	struct sdl_list done, *n, *next;

	sdl_list_init(&done);
	for (n = c->vdis.next; n != &c->vdis; n = next) {
		struct sd_vdi *vdi = sdl_container_of(n, struct sd_vdi, link);

		next = n->next;
		if (!vdi->closing || !sdl_vdi_close_step(vdi))
			continue;
		sdl_list_del(&vdi->link);
		sdl_list_add_tail(&vdi->link, &done);
	}
	/* releases just submitted go out with this round */
	sdl_engine_dispatch(&c->e);
	/* callbacks last: they may open or close other vdis of c */
	while ((n = sdl_list_pop(&done))) {
		struct sd_vdi *vdi = sdl_container_of(n, struct sd_vdi, link);
		sd_aio_cb cb = vdi->close_cb;
		void *opaque = vdi->close_opaque;

		sdl_vdi_free(vdi);
		if (cb)
			cb(NULL, 0, opaque);
	}
}

int sd_vdi_aio_close(struct sd_vdi *vdi, sd_aio_cb cb, void *opaque)
{
	if (!vdi)
		return -EINVAL;
	if (vdi->closing) {
		sdl_set_err(&vdi->c->e, "%s: already closing", vdi->name);
		return -EBUSY;
	}
	vdi->closing = SDL_CLOSE_DRAIN;
	vdi->close_cb = cb;
	vdi->close_opaque = opaque;
	/* the next round moves it on, even on an idle handle */
	sdl_signal(&vdi->c->e);
	return 0;
}

uint64_t sd_vdi_size(const struct sd_vdi *vdi)
{
	return vdi->size;
}

uint32_t sd_vdi_id(const struct sd_vdi *vdi)
{
	return vdi->vid;
}

uint32_t sd_vdi_object_size(const struct sd_vdi *vdi)
{
	return vdi->obj_size;
}

int sd_vdi_is_readonly(const struct sd_vdi *vdi)
{
	return vdi->readonly;
}

const char *sd_vdi_name(const struct sd_vdi *vdi)
{
	return vdi->name;
}

/* ---- asynchronous reload ---- */

enum {
	SDL_RL_RELEASE,
	SDL_RL_LOCK_EXCL,
	SDL_RL_LOCK,
	SDL_RL_LOCK_NEW,
	SDL_RL_READ,
	SDL_RL_READ_MORE
};

struct sdl_reload {
	struct sdl_req req;
	struct sd_vdi *vdi;
	int stage;
	int mode;
	int tries;
	uint32_t new_vid;
	int locked_new;	   /* shared lock of new_vid taken */
	int rejoin;	   /* vdi->rejoin: the old vid released, LOCK_VDI joins again */
	unsigned join_gen; /* vdi->join_gen when it started */
	int whole;	   /* a full read must be the whole inode (below) */
	uint32_t got;	   /* bytes of the inode in buf */
	struct sdc_vdi_name names;
	char *buf;
};

static void sdl_reload_finish(struct sd_vdi *vdi, int ret)
{
	struct sdl_reload *r = vdi->reload;

	vdi->reload = NULL;
	if (r) {
		sdl_free_big(r->buf);
		sdl_free(r);
	}
	sdl_vdi_reload_done(vdi, ret);
}

void sdl_vdi_reload_done(struct sd_vdi *vdi, int ret)
{
	vdi->reloading = 0;
	if (ret)
		sdl_log(&vdi->c->e, LOG_ERR, "reloading %s failed: %s", vdi->name, strerror(-ret));
	sdl_vdi_release_waiters(vdi, ret);
	sdl_want_kick(&vdi->c->e);
}

/* Read [r->got, r->got + len) of the new vid's inode into buf, as `stage`. */
static void sdl_reload_send_range(struct sdl_reload *r, int stage, uint32_t len)
{
	r->stage = stage;
	memset(&r->req.hdr, 0, sizeof(r->req.hdr));
	sdl_init_hdr(&r->req.hdr, SD_OP_READ_OBJ, SD_FLAG_CMD_TGT, len);
	r->req.hdr.obj.oid = sd_vid_to_vdi_oid(r->new_vid);
	r->req.hdr.obj.offset = r->got;
	r->req.wbuf = NULL;
	r->req.rbuf = r->buf + r->got;
	r->req.rlen = len;
}

/*
 * What a reload reads of the inode.  A header reload: the header.  A full
 * one (the index too) reads as an open does (sdl_index_first_read), and
 * the whole inode where it must be the shared-lock protocol's refresh
 * read: after INODE_INVALIDATED and on a re-join (r->whole).  The rest of
 * a larger index follows as SDL_RL_READ_MORE.
 */
static void sdl_reload_send_read(struct sdl_reload *r)
{
	uint32_t len = SD_INODE_HEADER_SIZE;

	if (r->mode == SDL_RELOAD_FULL)
		len = r->whole ? SD_INODE_INDEX_END : sdl_index_first_read(r->vdi);
	r->got = 0;
	sdl_reload_send_range(r, SDL_RL_READ, len);
}

static void sdl_reload_req_done(struct sdl_req *req, int ret)
{
	struct sdl_reload *r = req->priv;
	struct sd_vdi *vdi = r->vdi;
	uint32_t res = req->rsp.result, old_vid;

	if (ret < 0) {
		sdl_reload_finish(vdi, ret);
		return;
	}
	if (r->stage == SDL_RL_RELEASE || (r->stage == SDL_RL_LOCK_EXCL && res == SD_RES_SUCCESS)) {
		/*
		 * Whatever the sheep still had of us is gone: join afresh,
		 * the exclusive lock first (by name: a snapshot may have
		 * replaced the vid meanwhile), then the participation.
		 */
		r->stage = r->stage == SDL_RL_RELEASE && vdi->excl ? SDL_RL_LOCK_EXCL : SDL_RL_LOCK;
		sdl_init_hdr(&r->req.hdr, SD_OP_LOCK_VDI, SD_FLAG_CMD_WRITE, sizeof(r->names));
		r->req.hdr.vdi.type = r->stage == SDL_RL_LOCK_EXCL ? SD_LOCK_TYPE_EXT_EXCLUSIVE
								   : SD_LOCK_TYPE_SHARED;
		r->req.wbuf = &r->names;
		r->req.rbuf = NULL;
		r->req.rlen = 0;
		sdl_req_submit(&vdi->c->e, &r->req);
		return;
	}
	if (r->stage == SDL_RL_LOCK_EXCL && res == SD_RES_VDI_LOCKED) {
		/* never write next to another gateway's write-back cache (logged at LOG_ERR) */
		sdl_set_err(&vdi->c->e,
			    "%s: another gateway opened the vdi while the sheep had forgotten our "
			    "exclusive lock; its I/O fails until that gateway closes it",
			    vdi->name);
		sdl_reload_finish(vdi, -EBUSY);
		return;
	}
	if (r->stage == SDL_RL_LOCK || r->stage == SDL_RL_LOCK_EXCL) {
		if (res != SD_RES_SUCCESS) {
			sdl_set_err(&vdi->c->e, "reload of %s: %s", vdi->name,
				    res == SD_RES_VDI_LOCKED && vdi->c->e.ext == 1
					    ? "open exclusively by another gateway"
					    : sd_strerror((int)res));
			sdl_reload_finish(vdi, sd_result_to_errno((int)res));
			return;
		}
		r->new_vid = req->rsp.vdi.vdi_id;
		/* a new working vdi: compare its whole index with ours */
		if (r->new_vid != vdi->vid)
			r->mode = SDL_RELOAD_FULL;
		/* a re-join locked the working vid itself */
		r->locked_new = r->rejoin;
		if (r->new_vid != vdi->vid && vdi->shared && vdi->locked && !r->rejoin) {
			/*
			 * Join the new vid's participants before reading its
			 * index, so no change made after the read goes untold.
			 */
			r->stage = SDL_RL_LOCK_NEW;
			sdl_init_hdr(&r->req.hdr, SD_OP_LOCK_VDI, SD_FLAG_CMD_WRITE,
				     sizeof(r->names));
			r->req.hdr.vdi.type = SD_LOCK_TYPE_SHARED;
			r->req.wbuf = &r->names;
			r->req.rbuf = NULL;
			r->req.rlen = 0;
			sdl_req_submit(&vdi->c->e, &r->req);
			return;
		}
		sdl_reload_send_read(r);
		sdl_req_submit(&vdi->c->e, &r->req);
		return;
	}
	if (r->stage == SDL_RL_LOCK_NEW) {
		if (res == SD_RES_SUCCESS) {
			r->new_vid = req->rsp.vdi.vdi_id;
			r->locked_new = 1;
		} else if (res != SD_RES_VDI_LOCKED) {
			sdl_set_err(&vdi->c->e, "reload of %s: %s", vdi->name,
				    sd_strerror((int)res));
			sdl_reload_finish(vdi, sd_result_to_errno((int)res));
			return;
		}
		sdl_reload_send_read(r);
		sdl_req_submit(&vdi->c->e, &r->req);
		return;
	}
	if (res == SD_RES_INODE_INVALIDATED && (r->mode != SDL_RELOAD_FULL || !r->whole)) {
		/* our index is stale too: only the whole (refresh) read is served */
		r->mode = SDL_RELOAD_FULL;
		r->whole = 1;
		sdl_reload_send_read(r);
		sdl_req_submit(&vdi->c->e, &r->req);
		return;
	}
	if (res == SD_RES_NO_OBJ && ++r->tries < SDL_NOOBJ_RETRIES) {
		/* the new inode of a snapshot in progress is not written yet */
		sdl_reload_send_read(r);
		sdl_req_submit_delayed(&vdi->c->e, &r->req, SDL_NOOBJ_DELAY_MS);
		return;
	}
	if (res != SD_RES_SUCCESS) {
		sdl_set_err(&vdi->c->e, "reload of %s: %s", vdi->name, sd_strerror((int)res));
		sdl_reload_finish(vdi, sd_result_to_errno((int)res));
		return;
	}
	if (req->rsp.data_length < r->req.rlen) {
		sdl_set_err(&vdi->c->e,
			    "reload of %s: the sheep sent %u of the %u inode bytes asked for",
			    vdi->name, req->rsp.data_length, r->req.rlen);
		sdl_reload_finish(vdi, -EIO);
		return;
	}
	r->got += r->req.rlen;
	if (((struct sd_inode_header *)r->buf)->store_policy != SD_STORE_POLICY_FLAT) {
		sdl_reload_finish(vdi, -ENOTSUP);
		return;
	}
	/* deleting a vdi clears its inode's name: a snapshot deleted under us */
	if (!((struct sd_inode_header *)r->buf)->name[0]) {
		sdl_set_err(&vdi->c->e, "reload of %s: vid %x was deleted", vdi->name, r->new_vid);
		sdl_reload_finish(vdi, -ENOENT);
		return;
	}
	/* a larger vdi (resized): room for its new range first */
	if (sdl_vdi_index_fit(vdi, (const struct sd_inode_header *)r->buf)) {
		sdl_reload_finish(vdi, -ENOMEM);
		return;
	}
	if (r->mode == SDL_RELOAD_FULL && r->got < sdl_inode_bytes(vdi->nr_idx)) {
		/* the rest of a larger index */
		sdl_reload_send_range(r, SDL_RL_READ_MORE, sdl_inode_bytes(vdi->nr_idx) - r->got);
		sdl_req_submit(&vdi->c->e, &r->req);
		return;
	}
	old_vid = vdi->vid;
	vdi->reload_gen++;
	memcpy(vdi->inode, r->buf, SD_INODE_HEADER_SIZE);
	vdi->vid = r->new_vid;
	ret = sdl_vdi_apply_header(vdi);
	if (r->mode == SDL_RELOAD_FULL && old_vid != vdi->vid)
		sdl_vdi_merge_index(vdi, (const uint32_t *)(r->buf + SD_INODE_HEADER_SIZE),
				    old_vid);
	else if (r->mode == SDL_RELOAD_FULL)
		memcpy(vdi->index, r->buf + SD_INODE_HEADER_SIZE,
		       (size_t)vdi->nr_idx * sizeof(uint32_t));
	if (old_vid != vdi->vid)
		sdl_log(&vdi->c->e, LOG_INFO, "%s: now writing to vid %x (was %x)", vdi->name,
			vdi->vid, old_vid);
	if (old_vid != vdi->vid && vdi->locked && vdi->shared && !r->rejoin) {
		sdl_release_async(vdi->c, old_vid, SD_LOCK_TYPE_SHARED, NULL);
		vdi->locked = r->locked_new;
	}
	/* re-joined and refreshed; forgotten again meanwhile: once more */
	if (r->rejoin && r->join_gen == vdi->join_gen)
		vdi->rejoin = 0;
	sdl_vdi_after_reload(vdi, old_vid);
	/*
	 * A sheep that keeps answering READONLY / INODE_INVALIDATED although
	 * the reload changed nothing would make the waiters spin for ever.
	 */
	if (!ret && ++vdi->reload_streak > SDL_RELOAD_STREAK_MAX) {
		sdl_set_err(&vdi->c->e, "%s: %u reloads in a row did not help, giving up",
			    vdi->name, vdi->reload_streak);
		vdi->reload_streak = 0;
		ret = r->mode == SDL_RELOAD_HEADER ? -EROFS : -EIO;
	}
	sdl_reload_finish(vdi, ret);
}

void sdl_vdi_reload_kick(struct sd_vdi *vdi)
{
	struct sdl_reload *r;
	int mode = vdi->reload_want;

	if (!mode || vdi->reloading || vdi->nr_iupd)
		return;
	vdi->reload_want = SDL_RELOAD_NONE;
	vdi->reloading = 1;
	vdi->index_changed = 0;
	r = sdl_calloc(1, sizeof(*r));
	/* full size: a header reload becomes a full one when the vid changed */
	if (r)
		r->buf = sdl_malloc_big(SD_INODE_INDEX_END);
	if (!r || !r->buf) {
		sdl_free(r);
		sdl_set_err(&vdi->c->e, "reload of %s: out of memory", vdi->name);
		sdl_vdi_reload_done(vdi, -ENOMEM);
		return;
	}
	vdi->reload = r;
	r->vdi = vdi;
	r->mode = mode;
	/* asked for in full: INODE_INVALIDATED, or a re-join (below) */
	r->whole = mode == SDL_RELOAD_FULL;
	r->req.done = sdl_reload_req_done;
	r->req.priv = r;
	if (vdi->readonly) {
		r->new_vid = vdi->vid;
		sdl_reload_send_read(r);
	} else if (vdi->rejoin) {
		r->rejoin = 1;
		r->join_gen = vdi->join_gen;
		r->mode = SDL_RELOAD_FULL;
		r->whole = 1;
		sdc_pack_vdi_name(&r->names, vdi->name, NULL);
		/*
		 * Release first so that the LOCK_VDI below counts once
		 * whether the sheep still had our participation or not.
		 */
		r->stage = SDL_RL_RELEASE;
		sdl_init_hdr(&r->req.hdr, SD_OP_RELEASE_VDI, 0, 0);
		r->req.hdr.vdi.base_vdi_id = vdi->vid;
		r->req.hdr.vdi.type = SD_LOCK_TYPE_SHARED;
	} else {
		r->stage = SDL_RL_LOCK;
		/* the name was checked at open: this cannot fail */
		sdc_pack_vdi_name(&r->names, vdi->name, NULL);
		/*
		 * GET_VDI_INFO, not LOCK_VDI: with the cluster lock on, a
		 * second shared lock from the same node is refused, and
		 * reloads also run on flush and close.
		 */
		sdl_init_hdr(&r->req.hdr, SD_OP_GET_VDI_INFO, SD_FLAG_CMD_WRITE, sizeof(r->names));
		r->req.wbuf = &r->names;
	}
	sdl_req_submit(&vdi->c->e, &r->req);
}

void sdl_vdis_forgotten(struct sd_cluster *c)
{
	struct sdl_list *n;

	for (n = c->vdis.next; n != &c->vdis; n = n->next) {
		struct sd_vdi *vdi = sdl_container_of(n, struct sd_vdi, link);

		/* a closing handle re-joins nothing: it is about to leave */
		if ((!vdi->shared && !vdi->excl) || !vdi->locked || vdi->readonly || vdi->closing)
			continue;
		sdl_log(&c->e, LOG_INFO, "%s: the sheep lost our %s lock, re-joining", vdi->name,
			vdi->excl ? "exclusive" : "shared");
		vdi->rejoin = 1;
		vdi->join_gen++;
		vdi->reload_want = SDL_RELOAD_FULL;
	}
	sdl_want_kick(&c->e);
}

void sdl_vdis_kick(struct sd_cluster *c)
{
	struct sdl_list *n;

	for (n = c->vdis.next; n != &c->vdis; n = n->next) {
		struct sd_vdi *vdi = sdl_container_of(n, struct sd_vdi, link);

		sdl_vdi_flush_dirty(vdi);
		sdl_vdi_reload_kick(vdi);
	}
}
