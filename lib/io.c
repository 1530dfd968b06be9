// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The vdi data path: split a user request into per-object parts, send
 * them through the engine, allocate objects on first write (one create per
 * object at a time, COW from the owner recorded in the index), persist
 * index changes in batched inode writes before acknowledging, and recover
 * from READONLY / INODE_INVALIDATED through a reload of the inode (vdi.c).
 */
#include <errno.h>
#include <string.h>
#include <syslog.h>

#include "sdl_io.h"

#define SDL_IO_FLAGS (SD_FLAG_CMD_TGT)

static void sdl_part_start(struct sdl_part *p);
static void sdl_iupd_submit(struct sd_vdi *vdi, uint32_t start, uint32_t end,
			    struct sdl_list *waiters);

static void sdl_vdi_need_kick(struct sd_vdi *vdi)
{
	sdl_want_kick(&vdi->c->e);
}

void sdl_run_completions(struct sd_cluster *c)
{
	struct sdl_list local, *n;

	sdl_list_init(&local);
	sdl_list_splice_tail(&c->done_acbs, &local);
	while ((n = sdl_list_pop(&local))) {
		struct sdl_acb *acb = sdl_container_of(n, struct sdl_acb, link);
		struct sd_vdi *vdi = acb->vdi;
		sd_aio_cb cb = acb->cb;
		void *opaque = acb->opaque;
		int ret = acb->ret;

		sdl_free(acb->zbuf);
		sdl_free(acb);
		vdi->nr_acbs--;
		/* sd_vdi_aio_close: the caller has let go of the handle */
		if (cb && !vdi->closing)
			cb(vdi, ret, opaque);
	}
	if (!sdl_list_empty(&c->done_acbs))
		sdl_signal(&c->e);
}

static void sdl_acb_complete(struct sdl_acb *acb)
{
	struct sd_cluster *c = acb->vdi->c;

	sdl_list_add_tail(&acb->link, &c->done_acbs);
	if (!c->e.in_service)
		sdl_signal(&c->e);
}

static void sdl_part_done(struct sdl_part *p, int ret)
{
	struct sdl_acb *acb = p->acb;

	p->stage = SDL_PS_DONE;
	if (ret && !acb->ret)
		acb->ret = ret;
	if (--acb->nr_pending)
		return;
	if (acb->fua_state == 1 && !acb->ret) {
		acb->fua_state = 2;
		acb->nr_pending = 1;
		sdl_part_start(&acb->parts[acb->nr_parts - 1]);
		return;
	}
	sdl_acb_complete(acb);
}

static struct sdl_part *sdl_find_busy(struct sd_vdi *vdi, uint32_t idx)
{
	struct sdl_list *n;

	for (n = vdi->creates.next; n != &vdi->creates; n = n->next) {
		struct sdl_part *p = sdl_container_of(n, struct sdl_part, blink);

		if (p->idx == idx)
			return p;
	}
	return NULL;
}

/* Give up ownership of the index entry; waiters start over. */
static void sdl_release_busy(struct sdl_part *p)
{
	struct sdl_list w, *n;

	if (!p->busy)
		return;
	p->busy = 0;
	sdl_list_del(&p->blink);
	sdl_list_init(&w);
	sdl_list_splice_tail(&p->bwaiters, &w);
	while ((n = sdl_list_pop(&w))) {
		struct sdl_part *q = sdl_container_of(n, struct sdl_part, wlink);

		sdl_part_start(q);
	}
}

static void sdl_take_busy(struct sdl_part *p)
{
	struct sd_vdi *vdi = p->acb->vdi;

	p->busy = 1;
	sdl_list_add_tail(&p->blink, &vdi->creates);
}

static void sdl_park_for_reload(struct sdl_part *p, int mode)
{
	struct sd_vdi *vdi = p->acb->vdi;

	if (mode > vdi->reload_want)
		vdi->reload_want = mode;
	p->stage = SDL_PS_WAIT_RELOAD;
	sdl_list_add_tail(&p->wlink, &vdi->reload_waiters);
	sdl_vdi_need_kick(vdi);
}

static void sdl_add_dirty(struct sdl_part *p)
{
	struct sd_vdi *vdi = p->acb->vdi;
	struct sdl_list *n;

	p->stage = SDL_PS_DIRTY;
	/* keep the list sorted by index; writes are mostly sequential */
	for (n = vdi->dirty.prev; n != &vdi->dirty; n = n->prev) {
		struct sdl_part *q = sdl_container_of(n, struct sdl_part, wlink);

		if (q->idx <= p->idx)
			break;
	}
	sdl_list_insert(&p->wlink, n, n->next);
	sdl_vdi_need_kick(vdi);
}

static void sdl_part_req_done(struct sdl_req *req, int ret);

static void sdl_part_send(struct sdl_part *p, uint8_t opcode, uint64_t oid, uint64_t cow_oid)
{
	struct sd_vdi *vdi = p->acb->vdi;
	struct sd_req *h = &p->req.hdr;
	uint16_t flags = vdi->nolock ? 0 : SDL_IO_FLAGS;
	uint32_t len = p->len;

	if (opcode == SD_OP_WRITE_OBJ || opcode == SD_OP_CREATE_AND_WRITE_OBJ ||
	    opcode == SD_OP_EXT_CMP_WRITE_OBJ)
		flags |= SD_FLAG_CMD_WRITE;
	if (cow_oid)
		flags |= SD_FLAG_CMD_COW;
	/*
	 * The sheep checks coherence per (vid of the object, client).  An
	 * ancestor's object (a clone's or a snapshotted vdi's inherited
	 * data) is immutable, and whether our index still points at it is
	 * our own vid's question, which the probe of our inode asks
	 * (sdl_part_needs_probe).  Flagged, the read would be checked
	 * against the ancestor vid's participant of this client, which
	 * another handle on the same connections may own and leave stale
	 * (a clone and its base in one gateway pool): no flag.
	 */
	if (opcode == SD_OP_READ_OBJ && sd_oid_to_vid(oid) != vdi->vid)
		flags &= (uint16_t)~SD_FLAG_CMD_TGT;
	if (opcode == SD_OP_FLUSH_VDI)
		len = 0;
	else if (opcode == SD_OP_EXT_CMP_WRITE_OBJ)
		len *= 2; /* compare bytes, then write bytes */
	sdl_init_hdr(h, opcode, flags, len);
	h->obj.oid = oid;
	h->obj.cow_oid = cow_oid;
	h->obj.copies = vdi->hdr->nr_copies;
	h->obj.copy_policy = vdi->hdr->copy_policy;
	h->obj.offset = p->off;
	p->req.wbuf = (flags & SD_FLAG_CMD_WRITE) ? p->buf : NULL;
	p->req.rbuf = opcode == SD_OP_READ_OBJ ? p->buf : NULL;
	p->req.rlen = opcode == SD_OP_READ_OBJ ? p->len : 0;
	p->req.done = sdl_part_req_done;
	p->req.priv = p;
	p->is_create = opcode == SD_OP_CREATE_AND_WRITE_OBJ;
	p->stage = SDL_PS_SENT;
	p->gen = vdi->reload_gen;
	sdl_req_submit(&vdi->c->e, &p->req);
}

/*
 * Shared vdi: may the cached index entry `owner` of p be trusted as it is?
 * A hole or an ancestor's object may have become ours through another
 * gateway's write; our own entries are safe (only a discard, snapshot or
 * delete takes them away, and then the sheep refuses our I/O on them).
 */
static int sdl_part_needs_probe(const struct sdl_part *p, uint32_t owner)
{
	const struct sd_vdi *vdi = p->acb->vdi;

	if (!vdi->shared || vdi->readonly || p->probed)
		return 0;
	if (p->kind == SDL_PK_READ)
		return owner != vdi->vid;
	return p->kind == SDL_PK_DISCARD && !owner;
}

/*
 * The probe: one byte of our inode, TGT-flagged.  INODE_INVALIDATED sends
 * the part through a full reload; success means our index is current.
 */
static void sdl_part_probe(struct sdl_part *p)
{
	struct sd_vdi *vdi = p->acb->vdi;
	struct sd_req *h = &p->req.hdr;

	sdl_init_hdr(h, SD_OP_READ_OBJ, SD_FLAG_CMD_TGT, 1);
	h->obj.oid = sd_vid_to_vdi_oid(vdi->vid);
	h->obj.copies = vdi->hdr->nr_copies;
	h->obj.copy_policy = vdi->hdr->copy_policy;
	p->req.wbuf = NULL;
	p->req.rbuf = p->probe_byte;
	p->req.rlen = 1;
	p->req.done = sdl_part_req_done;
	p->req.priv = p;
	p->is_create = 0;
	p->probing = 1;
	p->join_gen = vdi->join_gen;
	p->stage = SDL_PS_SENT;
	p->gen = vdi->reload_gen;
	sdl_req_submit(&vdi->c->e, &p->req);
}

static void sdl_part_start(struct sdl_part *p)
{
	struct sd_vdi *vdi = p->acb->vdi;
	struct sdl_part *owner_part;
	uint32_t owner;

	p->stage = SDL_PS_IDLE;
	/* a re-join that failed (sheep unreachable) is retried before any I/O */
	if (vdi->reload_want || vdi->reloading || vdi->rejoin) {
		sdl_park_for_reload(p, vdi->rejoin ? SDL_RELOAD_FULL : SDL_RELOAD_NONE);
		return;
	}
	switch (p->kind) {
	case SDL_PK_NOP: sdl_part_done(p, 0); return;
	case SDL_PK_REFRESH:
		if ((int)(vdi->reload_gen - p->gen) >= 0) {
			/* a refresh is no READONLY loop: do not count it */
			vdi->reload_streak = 0;
			sdl_part_done(p, 0);
			return;
		}
		sdl_park_for_reload(p, SDL_RELOAD_HEADER);
		return;
	case SDL_PK_FLUSH:
		/*
		 * A snapshot taken between a create and its inode update
		 * leaves the entry in the snapshot only; look up the working
		 * vid first so the reload can put it back (merge_index).
		 */
		if (vdi->index_changed && !vdi->readonly) {
			sdl_park_for_reload(p, SDL_RELOAD_HEADER);
			return;
		}
		sdl_part_send(p, SD_OP_FLUSH_VDI, sd_vid_to_vdi_oid(vdi->vid), 0);
		return;
	case SDL_PK_READ:
		owner = vdi->index[p->idx];
		if (sdl_part_needs_probe(p, owner)) {
			sdl_part_probe(p);
			return;
		}
		if (!owner) {
			memset(p->buf, 0, p->len);
			sdl_part_done(p, 0);
			return;
		}
		sdl_part_send(p, SD_OP_READ_OBJ, sd_vid_to_data_oid(owner, p->idx), 0);
		return;
	default: break;
	}
	if (p->zero_only) {
		/* a partial discard of a cached hole: still one after the probe? */
		if (vdi->shared && !vdi->readonly && !p->probed) {
			sdl_part_probe(p);
			return;
		}
		if (!vdi->index[p->idx]) {
			sdl_part_done(p, 0);
			return;
		}
	}
	/* writes and discards: one owner of an index entry at a time */
	owner_part = sdl_find_busy(vdi, p->idx);
	if (owner_part) {
		p->stage = SDL_PS_WAIT_BUSY;
		sdl_list_add_tail(&p->wlink, &owner_part->bwaiters);
		return;
	}
	owner = vdi->index[p->idx];
	if (p->kind == SDL_PK_DISCARD) {
		if (sdl_part_needs_probe(p, owner)) {
			sdl_part_probe(p);
			return;
		}
		if (!owner) {
			sdl_part_done(p, 0);
			return;
		}
		sdl_take_busy(p);
		p->old_owner = owner;
		vdi->index[p->idx] = 0;
		sdl_add_dirty(p);
		return;
	}
	if (p->kind == SDL_PK_CAW) {
		/*
		 * Always our own object: the sheep resolves a hole or the
		 * parent's object from its index and records a create there
		 * itself.  Owning the entry keeps our own writes from
		 * creating it at the same time.
		 */
		if (p->len && owner != vdi->vid) {
			sdl_take_busy(p);
			p->old_owner = owner;
		}
		sdl_part_send(p, SD_OP_EXT_CMP_WRITE_OBJ, sd_vid_to_data_oid(vdi->vid, p->idx), 0);
		return;
	}
	if (owner == vdi->vid) {
		sdl_part_send(p, SD_OP_WRITE_OBJ, sd_vid_to_data_oid(owner, p->idx), 0);
		return;
	}
	sdl_take_busy(p);
	p->old_owner = owner;
	sdl_part_send(p, SD_OP_CREATE_AND_WRITE_OBJ, sd_vid_to_data_oid(vdi->vid, p->idx),
		      owner ? sd_vid_to_data_oid(owner, p->idx) : 0);
}

static void sdl_part_fail(struct sdl_part *p, int ret)
{
	sdl_release_busy(p);
	sdl_part_done(p, ret);
}

/* EXT_CMP_WRITE_OBJ failed with sheep result res (not READONLY/INVALIDATED). */
static void sdl_caw_failed(struct sdl_part *p, uint32_t res)
{
	struct sd_vdi *vdi = p->acb->vdi;

	if (res == SD_RES_EXT_MISCOMPARE) {
		if (p->acb->miscompare)
			*p->acb->miscompare = p->req.rsp.obj.offset;
		sdl_part_fail(p, -EILSEQ);
		return;
	}
	/* an upstream sheep: it does not know the opcode */
	if (res == SD_RES_NO_SUPPORT || res == SD_RES_INVALID_PARMS) {
		sdl_set_err(&vdi->c->e, "%s: the cluster has no compare-and-write (%s)", vdi->name,
			    sd_strerror((int)res));
		sdl_part_fail(p, -EOPNOTSUPP);
		return;
	}
	sdl_set_err(&vdi->c->e, "EXT_CMP_WRITE_OBJ of %s (oid %llx): %s", vdi->name,
		    (unsigned long long)p->req.hdr.obj.oid, sd_strerror((int)res));
	sdl_part_fail(p, sd_result_to_errno((int)res));
}

static void sdl_part_req_done(struct sdl_req *req, int ret)
{
	struct sdl_part *p = req->priv;
	struct sd_vdi *vdi = p->acb->vdi;
	uint32_t res = req->rsp.result;

	if (ret < 0) {
		sdl_set_err(&vdi->c->e, "%s of %s: %s", sd_opcode_name(req->hdr.opcode), vdi->name,
			    strerror(-ret));
		sdl_part_fail(p, ret);
		return;
	}
	if (p->probing) {
		p->probing = 0;
		if (res == SD_RES_SUCCESS) {
			/*
			 * The index is current: now the cached entry may be
			 * used.  Unless the sheep forgot us since the probe
			 * was sent (it may have answered as a non-participant):
			 * start over, after the re-join.
			 */
			p->probed = p->join_gen == vdi->join_gen;
			sdl_part_start(p);
			return;
		}
	}
	if ((res == SD_RES_READONLY || res == SD_RES_INODE_INVALIDATED) &&
	    p->gen != vdi->reload_gen) {
		/* sent before a reload that has happened since: just redo it */
		sdl_release_busy(p);
		sdl_part_start(p);
		return;
	}
	if (res == SD_RES_READONLY && (p->kind == SDL_PK_WRITE || p->kind == SDL_PK_CAW)) {
		/* a snapshot was taken underneath: find the new working vdi */
		sdl_log(&vdi->c->e, LOG_INFO, "%s: vid %x became read-only, reloading", vdi->name,
			vdi->vid);
		vdi->reload_want = vdi->reload_want > SDL_RELOAD_HEADER ? vdi->reload_want
									: SDL_RELOAD_HEADER;
		sdl_release_busy(p);
		sdl_park_for_reload(p, SDL_RELOAD_HEADER);
		return;
	}
	if (res == SD_RES_INODE_INVALIDATED) {
		vdi->reload_want = SDL_RELOAD_FULL;
		sdl_release_busy(p);
		sdl_park_for_reload(p, SDL_RELOAD_FULL);
		return;
	}
	if (p->kind == SDL_PK_FLUSH && res == SD_RES_INVALID_PARMS)
		res = SD_RES_SUCCESS;
	if (p->kind == SDL_PK_CAW && res != SD_RES_SUCCESS) {
		sdl_caw_failed(p, res);
		return;
	}
	if (p->kind == SDL_PK_CAW && p->busy) {
		/* the sheep created our object and recorded it in the inode */
		vdi->index[p->idx] = vdi->vid;
		vdi->index_changed = 1;
		sdl_release_busy(p);
	}
	if (res != SD_RES_SUCCESS) {
		sdl_set_err(&vdi->c->e, "%s of %s (oid %llx): %s", sd_opcode_name(req->hdr.opcode),
			    vdi->name, (unsigned long long)req->hdr.obj.oid, sd_strerror((int)res));
		sdl_part_fail(p, sd_result_to_errno((int)res));
		return;
	}
	if (p->kind == SDL_PK_WRITE && p->is_create) {
		if (sd_oid_to_vid(req->hdr.obj.oid) != vdi->vid) {
			/* created under a vid that was replaced meanwhile: redo */
			sdl_release_busy(p);
			sdl_part_start(p);
			return;
		}
		vdi->index[p->idx] = vdi->vid;
		vdi->reload_streak = 0;
		sdl_add_dirty(p);
		return;
	}
	if (p->kind != SDL_PK_FLUSH)
		vdi->reload_streak = 0;
	sdl_part_done(p, 0);
}

/* ---- inode updates ---- */

struct sdl_iupd {
	struct sdl_req req;
	struct sd_vdi *vdi;
	struct sdl_list waiters;
	uint32_t start, count;
	uint32_t data[];
};

static void sdl_iupd_fail_parts(struct sd_vdi *vdi, struct sdl_list *parts, int ret)
{
	struct sdl_list *n;

	while ((n = sdl_list_pop(parts))) {
		struct sdl_part *p = sdl_container_of(n, struct sdl_part, wlink);

		vdi->index[p->idx] = p->old_owner;
		sdl_part_fail(p, ret);
	}
}

static void sdl_iupd_done(struct sdl_req *req, int ret)
{
	struct sdl_iupd *u = req->priv;
	struct sd_vdi *vdi = u->vdi;
	struct sdl_list *n;

	vdi->nr_iupd--;
	if (!ret && req->rsp.result == SD_RES_INODE_INVALIDATED) {
		/* re-applied after the reload (sdl_vdi_after_reload) */
		while ((n = sdl_list_pop(&u->waiters))) {
			struct sdl_part *p = sdl_container_of(n, struct sdl_part, wlink);

			sdl_add_dirty(p);
		}
		vdi->reload_want = SDL_RELOAD_FULL;
	} else if (ret || req->rsp.result != SD_RES_SUCCESS) {
		if (!ret)
			ret = sd_result_to_errno((int)req->rsp.result);
		sdl_set_err(&vdi->c->e, "inode update of %s: %s", vdi->name, strerror(-ret));
		sdl_iupd_fail_parts(vdi, &u->waiters, ret);
	} else {
		if (!sdl_list_empty(&u->waiters))
			vdi->index_changed = 1;
		vdi->reload_streak = 0;
		while ((n = sdl_list_pop(&u->waiters))) {
			struct sdl_part *p = sdl_container_of(n, struct sdl_part, wlink);

			sdl_release_busy(p);
			sdl_part_done(p, 0);
		}
	}
	sdl_free(u);
	sdl_vdi_need_kick(vdi);
}

void sdl_vdi_flush_dirty(struct sd_vdi *vdi)
{
	if (vdi->reload_want || vdi->reloading)
		return;
	while (!sdl_list_empty(&vdi->dirty)) {
		struct sdl_part *first = sdl_container_of(vdi->dirty.next, struct sdl_part, wlink);
		struct sdl_list run, *n;
		uint32_t start = first->idx, end = first->idx;

		sdl_list_init(&run);
		while (!sdl_list_empty(&vdi->dirty)) {
			struct sdl_part *p =
				sdl_container_of(vdi->dirty.next, struct sdl_part, wlink);

			if (p->idx > end + 1)
				break;
			if (p->idx > end)
				end = p->idx;
			sdl_list_del(&p->wlink);
			sdl_list_add_tail(&p->wlink, &run);
		}
		for (n = run.next; n != &run; n = n->next)
			sdl_container_of(n, struct sdl_part, wlink)->stage = SDL_PS_IUPD;
		sdl_iupd_submit(vdi, start, end, &run);
	}
}

/*
 * Write index entries [start, end] of the local copy into the inode; the
 * parts on *waiters (may be empty) complete when it is done.
 */
static void sdl_iupd_submit(struct sd_vdi *vdi, uint32_t start, uint32_t end,
			    struct sdl_list *waiters)
{
	struct sdl_iupd *u;
	uint32_t i;

	u = sdl_malloc(sizeof(*u) + 4u * (end - start + 1));
	if (!u) {
		sdl_set_err(&vdi->c->e, "inode update of %s: out of memory", vdi->name);
		sdl_iupd_fail_parts(vdi, waiters, -ENOMEM);
		return;
	}
	memset(u, 0, sizeof(*u));
	u->vdi = vdi;
	u->start = start;
	u->count = end - start + 1;
	sdl_list_init(&u->waiters);
	sdl_list_splice_tail(waiters, &u->waiters);
	for (i = 0; i < u->count; i++)
		u->data[i] = vdi->index[start + i];
	sdl_init_hdr(&u->req.hdr, SD_OP_WRITE_OBJ,
		     SD_FLAG_CMD_WRITE | (vdi->nolock ? 0 : SDL_IO_FLAGS), 4u * u->count);
	u->req.hdr.obj.oid = sd_vid_to_vdi_oid(vdi->vid);
	u->req.hdr.obj.copies = vdi->hdr->nr_copies;
	u->req.hdr.obj.copy_policy = vdi->hdr->copy_policy;
	u->req.hdr.obj.offset = sd_inode_index_offset(start);
	u->req.wbuf = u->data;
	u->req.done = sdl_iupd_done;
	u->req.priv = u;
	vdi->nr_iupd++;
	sdl_req_submit(&vdi->c->e, &u->req);
}

void sdl_vdi_merge_index(struct sd_vdi *vdi, const uint32_t *srv, uint32_t old_vid)
{
	uint64_t n = sd_count_data_objs(vdi->size, vdi->shift), idx;
	struct sdl_list none;
	int64_t run = -1;

	if (n > SD_INODE_DATA_INDEX)
		n = SD_INODE_DATA_INDEX;
	sdl_list_init(&none);
	for (idx = 0; idx <= n; idx++) {
		int lost = 0;

		if (idx < n) {
			uint32_t i = (uint32_t)idx;

			/*
			 * Our object in the old vid, recorded in the old inode
			 * after the snapshot copied it: the new working inode
			 * lacks it.  Keep ours and write it there (an index
			 * entry owned by a waiting part is redone instead).
			 */
			lost = vdi->index[i] == old_vid && srv[i] != old_vid &&
			       !sdl_find_busy(vdi, i);
			/*
			 * Unless the new working vdi has its own object there:
			 * another gateway wrote it after the snapshot (our old
			 * entry is just stale), and putting ours back would
			 * drop that object.
			 */
			if (srv[i] == vdi->vid)
				lost = 0;
			if (!lost)
				vdi->index[i] = srv[i];
		}
		if (lost && run < 0)
			run = (int64_t)idx;
		if (!lost && run >= 0) {
			sdl_log(&vdi->c->e, LOG_WARNING,
				"%s: restoring index entries %lld-%llu lost to a snapshot",
				vdi->name, (long long)run, (unsigned long long)idx - 1);
			sdl_iupd_submit(vdi, (uint32_t)run, (uint32_t)idx - 1, &none);
			run = -1;
		}
	}
}

void sdl_vdi_release_waiters(struct sd_vdi *vdi, int ret)
{
	struct sdl_list w, *n;

	sdl_list_init(&w);
	sdl_list_splice_tail(&vdi->reload_waiters, &w);
	while ((n = sdl_list_pop(&w))) {
		struct sdl_part *p = sdl_container_of(n, struct sdl_part, wlink);

		if (ret)
			sdl_part_fail(p, ret);
		else
			sdl_part_start(p);
	}
}

void sdl_vdi_after_reload(struct sd_vdi *vdi, uint32_t old_vid)
{
	struct sdl_list w, *n;

	sdl_list_init(&w);
	sdl_list_splice_tail(&vdi->dirty, &w);
	while ((n = sdl_list_pop(&w))) {
		struct sdl_part *p = sdl_container_of(n, struct sdl_part, wlink);

		if (vdi->vid == old_vid) {
			vdi->index[p->idx] = p->kind == SDL_PK_DISCARD ? 0 : vdi->vid;
			sdl_add_dirty(p);
			continue;
		}
		/* the change went to the old (now snapshot) vdi: redo it */
		vdi->index[p->idx] = p->old_owner;
		sdl_release_busy(p);
		sdl_park_for_reload(p, SDL_RELOAD_NONE);
	}
}

/* ---- submission ---- */

static struct sdl_acb *sdl_acb_new(struct sd_vdi *vdi, unsigned nr_parts, sd_aio_cb cb,
				   void *opaque)
{
	struct sdl_acb *acb;
	unsigned i;

	/* sd_vdi_aio_close() was called: the handle takes nothing new */
	if (vdi->closing) {
		errno = EBADF;
		return NULL;
	}
	acb = sdl_malloc(sizeof(*acb) + nr_parts * sizeof(struct sdl_part));
	if (!acb) {
		errno = ENOMEM;
		return NULL;
	}
	memset(acb, 0, sizeof(*acb));
	sdl_list_init(&acb->link);
	acb->vdi = vdi;
	acb->cb = cb;
	acb->opaque = opaque;
	acb->nr_parts = nr_parts;
	for (i = 0; i < nr_parts; i++) {
		struct sdl_part *p = &acb->parts[i];

		memset(p, 0, sizeof(*p));
		p->acb = acb;
		sdl_list_init(&p->wlink);
		sdl_list_init(&p->blink);
		sdl_list_init(&p->bwaiters);
	}
	return acb;
}

static void sdl_acb_start(struct sdl_acb *acb, unsigned nr_active)
{
	unsigned i;

	acb->vdi->nr_acbs++;
	acb->nr_pending = nr_active;
	if (!nr_active) {
		sdl_acb_complete(acb);
		return;
	}
	for (i = 0; i < nr_active; i++)
		sdl_part_start(&acb->parts[i]);
}

static int sdl_check_range(struct sd_vdi *vdi, size_t count, uint64_t offset)
{
	if (offset > vdi->size || count > vdi->size - offset) {
		sdl_set_err(&vdi->c->e, "%s: range %llu+%zu beyond size %llu", vdi->name,
			    (unsigned long long)offset, count, (unsigned long long)vdi->size);
		return -EINVAL;
	}
	return 0;
}

/* Submit-time checks shared by every request that modifies the vdi. */
static int sdl_check_write(struct sd_vdi *vdi, size_t count, uint64_t offset)
{
	if (vdi->readonly) {
		sdl_set_err(&vdi->c->e, "%s is a read-only snapshot", vdi->name);
		return -EROFS;
	}
	return sdl_check_range(vdi, count, offset);
}

static unsigned sdl_nr_objs(struct sd_vdi *vdi, size_t count, uint64_t offset)
{
	if (!count)
		return 0;
	return (unsigned)(((offset + count - 1) >> vdi->shift) - (offset >> vdi->shift) + 1);
}

/* Split [offset, offset+count) into parts of the given kind. */
static void sdl_acb_split(struct sdl_acb *acb, int kind, char *buf, size_t count, uint64_t offset)
{
	struct sd_vdi *vdi = acb->vdi;
	unsigned i = 0;

	while (count) {
		struct sdl_part *p = &acb->parts[i++];
		uint32_t off = (uint32_t)(offset & (vdi->obj_size - 1));
		size_t len = vdi->obj_size - off;

		if (len > count)
			len = count;
		p->kind = (uint8_t)kind;
		p->idx = (uint32_t)(offset >> vdi->shift);
		p->off = off;
		p->len = (uint32_t)len;
		p->buf = buf;
		if (buf)
			buf += len;
		offset += len;
		count -= len;
	}
}

int sd_vdi_aio_read(struct sd_vdi *vdi, void *buf, size_t count, uint64_t offset, sd_aio_cb cb,
		    void *opaque)
{
	struct sdl_acb *acb;
	unsigned n;
	int ret;

	ret = sdl_check_range(vdi, count, offset);
	if (ret)
		return ret;
	n = sdl_nr_objs(vdi, count, offset);
	acb = sdl_acb_new(vdi, n, cb, opaque);
	if (!acb)
		return -errno;
	sdl_acb_split(acb, SDL_PK_READ, buf, count, offset);
	sdl_acb_start(acb, n);
	return 0;
}

int sd_vdi_aio_write(struct sd_vdi *vdi, const void *buf, size_t count, uint64_t offset,
		     unsigned flags, sd_aio_cb cb, void *opaque)
{
	struct sdl_acb *acb;
	unsigned n, fua = !!(flags & SD_AIO_FUA);
	int ret;

	ret = sdl_check_write(vdi, count, offset);
	if (ret)
		return ret;
	n = sdl_nr_objs(vdi, count, offset);
	acb = sdl_acb_new(vdi, n + fua, cb, opaque);
	if (!acb)
		return -errno;
	sdl_acb_split(acb, SDL_PK_WRITE, (char *)buf, count, offset);
	if (fua) {
		acb->parts[n].kind = SDL_PK_FLUSH;
		acb->fua_state = 1;
		if (!n) {
			acb->fua_state = 2;
			n = 1;
		}
	}
	sdl_acb_start(acb, n);
	return 0;
}

int sd_vdi_aio_cmp_write(struct sd_vdi *vdi, const void *buf, size_t count, uint64_t offset,
			 unsigned flags, uint64_t *miscompare, sd_aio_cb cb, void *opaque)
{
	unsigned fua = count && (flags & SD_AIO_FUA);
	struct sdl_acb *acb;
	int ret;

	ret = sdl_check_write(vdi, count, offset);
	if (ret)
		return ret;
	if (count > SD_EXT_CMP_WRITE_MAX) {
		sdl_set_err(&vdi->c->e, "%s: compare-and-write of %zu bytes, at most %u", vdi->name,
			    count, (unsigned)SD_EXT_CMP_WRITE_MAX);
		return -EINVAL;
	}
	if (vdi->c->e.ext != 1) {
		/* never sent to a sheep that did not ack the HELLO (proto.h) */
		sdl_set_err(&vdi->c->e, "%s: the sheep has no compare-and-write extension",
			    vdi->name);
		return -EOPNOTSUPP;
	}
	if (sdl_nr_objs(vdi, count, offset) > 1) {
		sdl_set_err(&vdi->c->e,
			    "%s: compare-and-write at %llu+%zu crosses an object boundary",
			    vdi->name, (unsigned long long)offset, count);
		return -EXDEV;
	}
	acb = sdl_acb_new(vdi, 1 + fua, cb, opaque);
	if (!acb)
		return -errno;
	acb->miscompare = miscompare;
	if (count)
		sdl_acb_split(acb, SDL_PK_CAW, (char *)buf, count, offset);
	else
		acb->parts[0].kind = SDL_PK_CAW; /* the probe: idx 0, no data */
	if (fua) {
		acb->parts[1].kind = SDL_PK_FLUSH;
		acb->fua_state = 1;
	}
	sdl_acb_start(acb, 1);
	return 0;
}

int sd_vdi_aio_flush(struct sd_vdi *vdi, sd_aio_cb cb, void *opaque)
{
	struct sdl_acb *acb;

	acb = sdl_acb_new(vdi, 1, cb, opaque);
	if (!acb)
		return -errno;
	acb->parts[0].kind = SDL_PK_FLUSH;
	sdl_acb_start(acb, 1);
	return 0;
}

int sd_vdi_aio_refresh(struct sd_vdi *vdi, sd_aio_cb cb, void *opaque)
{
	struct sdl_acb *acb;

	acb = sdl_acb_new(vdi, 1, cb, opaque);
	if (!acb)
		return -errno;
	acb->parts[0].kind = SDL_PK_REFRESH;
	/*
	 * Done after the next reload that starts from now on: a reload
	 * already in flight may have read the inode before the caller's
	 * reason to refresh, so it does not count.
	 */
	acb->parts[0].gen = vdi->reload_gen + 1u + (vdi->reloading ? 1u : 0u);
	sdl_acb_start(acb, 1);
	return 0;
}

int sd_vdi_aio_discard(struct sd_vdi *vdi, size_t count, uint64_t offset, sd_aio_cb cb,
		       void *opaque)
{
	struct sdl_acb *acb;
	uint32_t zlen = 0;
	unsigned n, i;
	int ret;

	ret = sdl_check_write(vdi, count, offset);
	if (ret)
		return ret;
	n = sdl_nr_objs(vdi, count, offset);
	acb = sdl_acb_new(vdi, n, cb, opaque);
	if (!acb)
		return -errno;
	sdl_acb_split(acb, SDL_PK_DISCARD, NULL, count, offset);
	for (i = 0; i < n; i++) {
		struct sdl_part *p = &acb->parts[i];
		uint64_t obj_start = (uint64_t)p->idx << vdi->shift;
		int whole = p->off == 0 &&
			    (p->len == vdi->obj_size || obj_start + p->len >= vdi->size);

		if (whole)
			continue;
		/* partial object: zero it, but only where something is allocated */
		p->kind = SDL_PK_WRITE;
		if (!vdi->index[p->idx] && !vdi->shared) {
			p->kind = SDL_PK_NOP;
			continue;
		}
		/* shared: another gateway may have allocated it (probe first) */
		p->zero_only = !vdi->index[p->idx];
		if (p->len > zlen)
			zlen = p->len;
	}
	if (zlen) {
		acb->zbuf = sdl_calloc(1, zlen);
		if (!acb->zbuf) {
			sdl_free(acb);
			return -ENOMEM;
		}
		for (i = 0; i < n; i++)
			if (acb->parts[i].kind == SDL_PK_WRITE)
				acb->parts[i].buf = acb->zbuf;
	}
	sdl_acb_start(acb, n);
	return 0;
}

/* ---- allocation map ---- */

int sd_vdi_allocated(const struct sd_vdi *vdi, uint64_t offset, uint64_t *run)
{
	uint64_t nr = sd_count_data_objs(vdi->size, vdi->shift), idx, end;
	int mapped;

	if (offset >= vdi->size)
		return -EINVAL;
	if (nr > SD_INODE_DATA_INDEX)
		nr = SD_INODE_DATA_INDEX;
	idx = offset >> vdi->shift;
	mapped = idx < nr && vdi->index[idx] != 0;
	for (end = idx + 1; end < nr && (vdi->index[end] != 0) == mapped; end++)
		;
	if (run) {
		end <<= vdi->shift;
		*run = (end < vdi->size ? end : vdi->size) - offset;
	}
	return mapped;
}

/* ---- synchronous wrappers ---- */

struct sdl_sync_io {
	int done;
	int ret;
};

static void sdl_sync_io_cb(struct sd_vdi *vdi, int ret, void *opaque)
{
	struct sdl_sync_io *s = opaque;

	s->ret = ret;
	s->done = 1;
}

static int sdl_sync_finish(struct sd_vdi *vdi, int ret, struct sdl_sync_io *s)
{
	if (ret)
		return ret;
	ret = sdl_wait(&vdi->c->e, &s->done, 0);
	return ret ? ret : s->ret;
}

/*
 * Each wrapper checks before its submit: the sync state lives on the
 * caller's stack and a request sent from a callback could never be waited
 * for there.
 */
int sd_vdi_read(struct sd_vdi *vdi, void *buf, size_t count, uint64_t offset)
{
	struct sdl_sync_io s = { 0, 0 };
	int ret = sdl_sync_allowed(&vdi->c->e, "sd_vdi_read");

	if (!ret)
		ret = sdl_sync_finish(
			vdi, sd_vdi_aio_read(vdi, buf, count, offset, sdl_sync_io_cb, &s), &s);
	return ret;
}

int sd_vdi_write(struct sd_vdi *vdi, const void *buf, size_t count, uint64_t offset)
{
	struct sdl_sync_io s = { 0, 0 };
	int ret = sdl_sync_allowed(&vdi->c->e, "sd_vdi_write");

	if (!ret)
		ret = sdl_sync_finish(
			vdi, sd_vdi_aio_write(vdi, buf, count, offset, 0, sdl_sync_io_cb, &s), &s);
	return ret;
}

int sd_vdi_cmp_write(struct sd_vdi *vdi, const void *buf, size_t count, uint64_t offset,
		     uint64_t *miscompare)
{
	struct sdl_sync_io s = { 0, 0 };
	int ret = sdl_sync_allowed(&vdi->c->e, "sd_vdi_cmp_write");

	if (!ret)
		ret = sdl_sync_finish(vdi,
				      sd_vdi_aio_cmp_write(vdi, buf, count, offset, 0, miscompare,
							   sdl_sync_io_cb, &s),
				      &s);
	return ret;
}

int sd_vdi_flush(struct sd_vdi *vdi)
{
	struct sdl_sync_io s = { 0, 0 };
	int ret = sdl_sync_allowed(&vdi->c->e, "sd_vdi_flush");

	if (!ret)
		ret = sdl_sync_finish(vdi, sd_vdi_aio_flush(vdi, sdl_sync_io_cb, &s), &s);
	return ret;
}

int sd_vdi_refresh(struct sd_vdi *vdi)
{
	struct sdl_sync_io s = { 0, 0 };
	int ret = sdl_sync_allowed(&vdi->c->e, "sd_vdi_refresh");

	if (!ret)
		ret = sdl_sync_finish(vdi, sd_vdi_aio_refresh(vdi, sdl_sync_io_cb, &s), &s);
	return ret;
}

int sd_vdi_discard(struct sd_vdi *vdi, size_t count, uint64_t offset)
{
	struct sdl_sync_io s = { 0, 0 };
	int ret = sdl_sync_allowed(&vdi->c->e, "sd_vdi_discard");

	if (!ret)
		ret = sdl_sync_finish(
			vdi, sd_vdi_aio_discard(vdi, count, offset, sdl_sync_io_cb, &s), &s);
	return ret;
}
