/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * EXTENDED COPY (LID1) and RECEIVE COPY RESULTS for the module's LUNs: the
 * gateway is the copy manager.  Block -> block copies between LUNs this tgtd
 * exports through bs_sheepdog (or within one), done through libsheepdog on
 * tgtd's main thread, without the data crossing the network to the
 * initiator (ESXi's clone/migrate offload, "VAAI XCOPY").
 *
 * Installed per LU (bss_xcopy_override, from bs_open): core has
 * spc_illegal_op at 0x83/0x84, and INQUIRY is wrapped to set the 3PC bit.
 *
 * EXTENDED COPY runs in two parts:
 *   1. Synchronous, inside the replaced core handler: parameter list checks
 *      (SPC-4 6.4), CSCD (target) descriptors 0xE4 resolved to LUs by the
 *      designator they name (a designator of the LU's VPD page 0x83: the
 *      NAA from the vdi, see bss_set_identity), capacity and write-protect
 *      checks for every segment.  Errors answer at once; no data moved.
 *   2. Asynchronous: the command gets an acb (state and buffer in acb->tmp)
 *      and copies each segment in batches of up to BSS_XCOPY_WINDOW chunks
 *      of BSS_XCOPY_CHUNK bytes: one step reads every chunk of the batch
 *      from the source vdi (all in flight at once), the next writes them
 *      to the destination vdi, and its completion starts the next batch.
 *      A shared range is held on the source LU while the reads are out and
 *      on the destination LU while the writes are out; a copy within one
 *      LU whose destination overlaps the source from above runs backwards,
 *      like memmove.
 *
 * Other LUs are looked up again before every step (tgtd's targets and
 * devices, through tgt_drivers[]): a copy target deleted or closed
 * mid-copy aborts the copy (COPY ABORTED / COPY TARGET DEVICE NOT
 * REACHABLE) and no pointer to it is kept across steps.  A range is only
 * held on a LU while requests to it are in flight (or while it waits for
 * a command of that LU to release an exclusive range).  bs_close does not
 * wait for those requests (the sheep may be hung): it takes the range
 * back (bss_range_close), the copy aborts the same way at once, and the
 * closing LU adopts the copy's buffer until its library requests are
 * drained (bss_reap.c), so a range never outlives its LU.
 *
 * Each LU keeps BSS_XCOPY_RECS records of recent copies per I_T nexus and
 * list identifier (LIST ID USAGE 00b) for RECEIVE COPY RESULTS; the same
 * number bounds the copies running at once on the LU.
 *
 * Main thread only.
 */
#include "bss.h"

#include "driver.h"

#define BSS_XCOPY_CHUNK	    (1U << 20) /* bytes per library request */
#define BSS_XCOPY_WINDOW    16	       /* chunk requests in flight per copy */
#define BSS_XCOPY_MAX_CSCD  16	       /* CSCD (target) descriptors */
#define BSS_XCOPY_MAX_SEGS  64	       /* segment descriptors */
#define BSS_XCOPY_MAX_LIST  4096       /* descriptor list length, bytes */
#define BSS_XCOPY_RECS	    32	       /* held results = copies running, per LU */
#define BSS_XCOPY_SENSE_MAX 32

#define BSS_XCOPY_HDR	   16
#define BSS_XCOPY_CSCD_LEN 32
#define BSS_XCOPY_B2B_LEN  28

/* Sense keys and ASC/ASCQ not in tgt's scsi.h. */
#define BSS_KEY_COPY_ABORTED	  0x0a
#define BSS_ASC_NONE		  0x0000
#define BSS_ASC_UNREACHABLE_TGT	  0x0804
#define BSS_ASC_TGT_NOT_REACHABLE 0x0d02
#define BSS_ASC_TOO_MANY_CSCD	  0x2606
#define BSS_ASC_UNSUPP_CSCD_TYPE  0x2607
#define BSS_ASC_TOO_MANY_SEGS	  0x2608
#define BSS_ASC_UNSUPP_SEG_TYPE	  0x2609
#define BSS_ASC_INEXACT_SEGMENT	  0x260a

/* Sense-key specific byte 15: SKSV, C/D (field pointer), SD (segment pointer). */
#define BSS_SKS_PARAM 0x80
#define BSS_SKS_CDB   0xc0
#define BSS_SKS_SEG   0xa0 /* field pointer relative to the segment descriptor */

enum { BSS_XC_RUNNING = 0, BSS_XC_GOOD = 1, BSS_XC_FAILED = 2 };

/* A copy RECEIVE COPY RESULTS can ask about (one per nexus and list id). */
struct bss_xcopy_rec {
	int used;
	int held; /* LIST ID USAGE 00b: visible to RECEIVE COPY RESULTS */
	uint64_t itn_id;
	uint8_t list_id;
	uint8_t status; /* BSS_XC_* */
	uint16_t segs_done;
	uint64_t bytes;
	uint64_t seq; /* age, for eviction */
	uint8_t sense[BSS_XCOPY_SENSE_MAX];
	uint8_t sense_len;
};

struct bss_xcopy_lu {
	struct bss_xcopy_rec recs[BSS_XCOPY_RECS];
	uint64_t seq;
	unsigned int running;
	unsigned int copies;
	uint64_t bytes;
	unsigned int peak_reqs; /* most chunk requests one step had in flight */
};

struct bss_xcopy_seg {
	unsigned int off; /* of the descriptor in the parameter list */
	uint16_t src, dst;
	uint64_t src_off, dst_off, len; /* bytes */
};

/* One EXTENDED COPY in flight; lives in acb->tmp (freed with the acb). */
struct bss_xcopy {
	struct bss_aiocb *acb;
	struct bss_xcopy_rec *rec;
	const uint8_t *params; /* the command's data-out buffer */
	unsigned int nseg, cur;
	const uint8_t *cscd[BSS_XCOPY_MAX_CSCD];
	struct bss_xcopy_seg seg[BSS_XCOPY_MAX_SEGS];
	uint64_t done;		      /* bytes of seg[cur] copied */
	uint64_t b_src, b_dst, b_len; /* the batch in flight */
	struct bss_lu *held;	      /* LU whose range `range` is on, or NULL */
	struct bss_range range;
	void (*granted)(struct bss_xcopy *xc);
	size_t bufsize;
	uint8_t buf[];
};

static int (*g_core_inquiry)(int host_no, struct scsi_cmd *cmd);

static struct bss_xcopy_lu *bss_xcopy_lu_get(struct bss_lu *blu)
{
	if (!blu->xcopy)
		blu->xcopy = calloc(1, sizeof(*blu->xcopy));
	return blu->xcopy;
}

void bss_xcopy_lu_free(struct bss_lu *blu)
{
	struct bss_xcopy_lu *x = blu->xcopy;

	if (!x)
		return;
	if (x->copies)
		eprintf("%s: xcopy: %u copies, %" PRIu64 " bytes, at most %u chunk requests "
			"in flight\n",
			blu->label, x->copies, x->bytes, x->peak_reqs);
	free(x);
	blu->xcopy = NULL;
}

static struct bss_xcopy_rec *bss_xcopy_rec_find(struct bss_xcopy_lu *x, uint64_t itn_id,
						uint8_t list_id)
{
	int i;

	for (i = 0; i < BSS_XCOPY_RECS; i++) {
		struct bss_xcopy_rec *r = &x->recs[i];

		if (r->used && r->held && r->itn_id == itn_id && r->list_id == list_id)
			return r;
	}
	return NULL;
}

/* A record for a new copy: the same nexus+list id's old one, a free one,
 * or the oldest finished one.  NULL if every record is a running copy. */
static struct bss_xcopy_rec *bss_xcopy_rec_new(struct bss_xcopy_lu *x, uint64_t itn_id,
					       uint8_t list_id, int held)
{
	struct bss_xcopy_rec *r = held ? bss_xcopy_rec_find(x, itn_id, list_id) : NULL;
	int i;

	for (i = 0; !r && i < BSS_XCOPY_RECS; i++)
		if (!x->recs[i].used)
			r = &x->recs[i];
	for (i = 0; i < BSS_XCOPY_RECS; i++) {
		struct bss_xcopy_rec *e = &x->recs[i];

		if (!r && e->status != BSS_XC_RUNNING)
			r = e;
		else if (r && r->used && e->status != BSS_XC_RUNNING && e->seq < r->seq)
			r = e;
	}
	if (!r || (r->used && r->status == BSS_XC_RUNNING))
		return NULL;
	memset(r, 0, sizeof(*r));
	r->used = 1;
	r->held = held;
	r->itn_id = itn_id;
	r->list_id = list_id;
	r->status = BSS_XC_RUNNING;
	r->seq = ++x->seq;
	return r;
}

/* Is lu one of ours, open, with a VPD 0x83 designator equal to the one a
 * CSCD descriptor names (bytes 4..27 of the descriptor)? */
static int bss_xcopy_lu_matches(struct scsi_lu *lu, const uint8_t *d)
{
	struct vpd *pg = lu->attrs.lu_vpd[PCODE_OFFSET(0x83)];
	unsigned int off, len = d[3];

	if (!pg)
		return 0;
	for (off = 0; off + 4 <= pg->size; off += 4 + pg->data[off + 3]) {
		const uint8_t *p = &pg->data[off];

		if (off + 4 + p[3] > pg->size)
			break;
		if ((p[0] & 0x0f) == (d[0] & 0x0f) && (p[1] & 0x3f) == (d[1] & 0x3f) &&
		    p[3] == len && !memcmp(p + 4, d + 4, len))
			return 1;
	}
	return 0;
}

/*
 * The open bs_sheepdog LU a CSCD descriptor names, among every target's
 * devices, or NULL (LUs of other backing stores cannot be reached through
 * the library and are not looked at).
 */
static struct scsi_lu *bss_xcopy_resolve(const uint8_t *cscd)
{
	const uint8_t *d = cscd + 4;
	struct target *t;
	struct scsi_lu *lu;
	int i;

	/* LU association only; the designator must fit the descriptor. */
	if ((d[1] & 0x30) || d[3] == 0 || d[3] > 20)
		return NULL;
	for (i = 0; tgt_drivers[i]; i++) {
		list_for_each_entry(t, &tgt_drivers[i]->target_list, lld_siblings) {
			list_for_each_entry(lu, &t->device_list, device_siblings) {
				/* Ours and open first: tgtd frees a LU's VPD
				 * pages (lu_exit) before its bs_close, which
				 * completes our requests, which look here. */
				if (!lu->bst || lu->bst->bs_cmd_submit != bss_cmd_submit ||
				    !bss_lu_of(lu)->opened)
					continue;
				if (bss_xcopy_lu_matches(lu, d))
					return lu;
			}
		}
	}
	return NULL;
}

/* The write cache bit of a LU's caching mode page (WCE=0: write through). */
static int bss_xcopy_wce(struct scsi_lu *lu)
{
	struct mode_pg *pg = find_mode_page(lu, 0x08, 0);

	return pg ? !!(pg->mode_data[0] & 0x04) : 1;
}

/* Parse and check the parameter list (part 1).  0, or the SCSI status with
 * sense built.  On success xc->seg[] holds byte ranges on resolved LUs. */
static int bss_xcopy_parse(struct scsi_cmd *cmd, struct bss_xcopy *xc, const uint8_t *p,
			   uint32_t len)
{
	uint32_t tdl, sdl, inl, off, end, i;
	unsigned int ncscd = 0, nseg = 0;

	if (len < BSS_XCOPY_HDR)
		goto len_err;
	tdl = (uint32_t)bss_get_be(p + 2, 2);
	sdl = (uint32_t)bss_get_be(p + 8, 4);
	inl = (uint32_t)bss_get_be(p + 12, 4);
	/* LIST ID USAGE 01b is reserved; 11b needs list id 0 (SPC-4). */
	if (((p[1] >> 3) & 3) == 1 || (((p[1] >> 3) & 3) == 3 && p[0])) {
		bss_sense_build(cmd, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARMS, -1, BSS_SKS_PARAM,
				((p[1] >> 3) & 3) == 1 ? 1 : 0);
		return SAM_STAT_CHECK_CONDITION;
	}
	if ((uint64_t)tdl + sdl > BSS_XCOPY_MAX_LIST)
		goto len_err;
	if (inl) {
		bss_sense_build(cmd, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARMS, -1, BSS_SKS_PARAM,
				12);
		return SAM_STAT_CHECK_CONDITION;
	}
	if ((uint64_t)BSS_XCOPY_HDR + tdl + sdl > len)
		goto len_err;

	/* CSCD descriptors: only identification descriptors (0xE4). */
	end = BSS_XCOPY_HDR + tdl;
	for (off = BSS_XCOPY_HDR; off < end; off += BSS_XCOPY_CSCD_LEN) {
		const uint8_t *d = p + off;

		if (d[0] != 0xe4) {
			bss_sense_build(cmd, ILLEGAL_REQUEST, BSS_ASC_UNSUPP_CSCD_TYPE, -1,
					BSS_SKS_PARAM, off);
			return SAM_STAT_CHECK_CONDITION;
		}
		if (ncscd == BSS_XCOPY_MAX_CSCD) {
			bss_sense_build(cmd, ILLEGAL_REQUEST, BSS_ASC_TOO_MANY_CSCD, -1, 0, 0);
			return SAM_STAT_CHECK_CONDITION;
		}
		if (off + BSS_XCOPY_CSCD_LEN > end)
			goto len_err;
		/* LU ID TYPE other than LUN (SPC-3: reserved values and proxy
		 * tokens), or a peripheral type other than block. */
		if ((d[1] >> 6) || (d[1] & 0x1f)) {
			bss_sense_build(cmd, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARMS, -1,
					BSS_SKS_PARAM, off + 1);
			return SAM_STAT_CHECK_CONDITION;
		}
		xc->cscd[ncscd++] = d;
	}

	/* Segment descriptors: block -> block (0x02). */
	end += sdl;
	for (; off < end; nseg++) {
		const uint8_t *d = p + off;
		uint32_t dlen;

		if (off + 4 > end)
			goto len_err;
		dlen = 4 + (uint32_t)bss_get_be(d + 2, 2);
		if (d[0] != 0x02) {
			bss_sense_build(cmd, ILLEGAL_REQUEST, BSS_ASC_UNSUPP_SEG_TYPE, -1,
					BSS_SKS_PARAM, off);
			return SAM_STAT_CHECK_CONDITION;
		}
		if (nseg == BSS_XCOPY_MAX_SEGS) {
			bss_sense_build(cmd, ILLEGAL_REQUEST, BSS_ASC_TOO_MANY_SEGS, -1, 0, 0);
			return SAM_STAT_CHECK_CONDITION;
		}
		if (dlen != BSS_XCOPY_B2B_LEN) {
			bss_sense_build(cmd, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARMS, -1,
					BSS_SKS_PARAM, off + 2);
			return SAM_STAT_CHECK_CONDITION;
		}
		if (off + dlen > end)
			goto len_err;
		xc->seg[nseg].off = off;
		xc->seg[nseg].src = (uint16_t)bss_get_be(d + 4, 2);
		xc->seg[nseg].dst = (uint16_t)bss_get_be(d + 6, 2);
		off += dlen;
	}
	xc->nseg = nseg;

	/* Every segment against the LUs it names (SPC-4 "errors detected
	 * during processing of segment descriptors": COPY ABORTED with the
	 * segment number in COMMAND-SPECIFIC INFORMATION). */
	for (i = 0; i < nseg; i++) {
		struct bss_xcopy_seg *s = &xc->seg[i];
		const uint8_t *d = p + s->off;
		struct scsi_lu *slu, *dlu;
		uint64_t nblk = bss_get_be(d + 10, 2), slba = bss_get_be(d + 12, 8);
		uint64_t dlba = bss_get_be(d + 20, 8), sbs, dbs, bytes;
		uint32_t sdl_bs, ddl_bs;

		if (s->src >= ncscd || s->dst >= ncscd || (xc->cscd[s->src][1] & 0x20) ||
		    (xc->cscd[s->dst][1] & 0x20)) {
			bss_sense_build(cmd, BSS_KEY_COPY_ABORTED, BSS_ASC_UNREACHABLE_TGT, (int)i,
					BSS_SKS_SEG, s->src >= ncscd ? 4 : 6);
			return SAM_STAT_CHECK_CONDITION;
		}
		slu = bss_xcopy_resolve(xc->cscd[s->src]);
		dlu = bss_xcopy_resolve(xc->cscd[s->dst]);
		if (!slu || !dlu) {
			bss_sense_build(cmd, BSS_KEY_COPY_ABORTED, BSS_ASC_TGT_NOT_REACHABLE,
					(int)i, BSS_SKS_SEG, !slu ? 4 : 6);
			return SAM_STAT_CHECK_CONDITION;
		}
		sbs = 1ULL << slu->blk_shift;
		dbs = 1ULL << dlu->blk_shift;
		/* A DISK BLOCK LENGTH other than the LU's. */
		sdl_bs = (uint32_t)bss_get_be(xc->cscd[s->src] + 29, 3);
		ddl_bs = (uint32_t)bss_get_be(xc->cscd[s->dst] + 29, 3);
		if ((sdl_bs && sdl_bs != sbs) || (ddl_bs && ddl_bs != dbs)) {
			bss_sense_build(
				cmd, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_PARMS, -1, BSS_SKS_PARAM,
				(unsigned int)(xc->cscd[sdl_bs && sdl_bs != sbs ? s->src : s->dst] -
					       p) +
					29);
			return SAM_STAT_CHECK_CONDITION;
		}
		/* DC=1: the count is in destination blocks. */
		bytes = nblk * ((d[1] & 0x02) ? dbs : sbs);
		if (bytes % sbs || bytes % dbs) {
			bss_sense_build(cmd, BSS_KEY_COPY_ABORTED, BSS_ASC_INEXACT_SEGMENT, (int)i,
					BSS_SKS_SEG, 10);
			return SAM_STAT_CHECK_CONDITION;
		}
		/* Beyond the end of either LU: COPY ABORTED, with the segment
		 * pointer on the LBA field that is out of range. */
		if (slba > (slu->size >> slu->blk_shift) ||
		    bytes / sbs > (slu->size >> slu->blk_shift) - slba ||
		    dlba > (dlu->size >> dlu->blk_shift) ||
		    bytes / dbs > (dlu->size >> dlu->blk_shift) - dlba) {
			int src_bad = slba > (slu->size >> slu->blk_shift) ||
				      bytes / sbs > (slu->size >> slu->blk_shift) - slba;

			bss_sense_build(cmd, BSS_KEY_COPY_ABORTED, BSS_ASC_NONE, (int)i,
					BSS_SKS_SEG, src_bad ? 12 : 20);
			return SAM_STAT_CHECK_CONDITION;
		}
		if (dlu->attrs.readonly && bytes) {
			bss_sense_build(cmd, DATA_PROTECT, ASC_WRITE_PROTECT, (int)i, 0, 0);
			return SAM_STAT_CHECK_CONDITION;
		}
		s->src_off = slba * sbs;
		s->dst_off = dlba * dbs;
		s->len = bytes;
	}
	return 0;

len_err:
	bss_sense_build(cmd, ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERR, -1, 0, 0);
	return SAM_STAT_CHECK_CONDITION;
}

static void bss_xcopy_next(struct bss_xcopy *xc);

static void bss_xcopy_unhold(struct bss_xcopy *xc)
{
	if (xc->held) {
		bss_range_unlock(xc->held, &xc->range);
		xc->held = NULL;
	}
}

static void bss_xcopy_end(struct bss_xcopy *xc, int status)
{
	struct bss_aiocb *acb = xc->acb;
	struct scsi_cmd *cmd = acb->cmd;
	struct bss_xcopy_lu *x = acb->blu->xcopy;
	struct bss_xcopy_rec *r = xc->rec;

	bss_xcopy_unhold(xc);
	x->running--;
	x->copies++;
	r->status = status == SAM_STAT_GOOD ? BSS_XC_GOOD : BSS_XC_FAILED;
	r->segs_done = (uint16_t)xc->cur;
	if (status != SAM_STAT_GOOD) {
		r->sense_len = (uint8_t)(cmd->sense_len < BSS_XCOPY_SENSE_MAX
						 ? cmd->sense_len
						 : BSS_XCOPY_SENSE_MAX);
		memcpy(r->sense, cmd->sense_buffer, r->sense_len);
	}
	if (!r->held)
		r->used = 0;
	bss_acb_finish(acb, status);
}

/* A library error while copying segment cur: COPY ABORTED with the ASC the
 * error maps to (read or write), or DATA PROTECT for a write-protect. */
static void bss_xcopy_fail(struct bss_xcopy *xc, int err, int is_write)
{
	struct bss_sense s = bss_errno_to_sense(err, is_write);
	struct bss_lu *blu = xc->acb->blu;

	blu->nr_errors++;
	if (blu->nr_errors <= 10 || blu->nr_errors % 1000 == 0)
		eprintf("%s: xcopy segment %u: %s failed: %s\n", blu->label, xc->cur,
			is_write ? "write" : "read", strerror(-err));
	bss_sense_build(xc->acb->cmd, s.key == DATA_PROTECT ? DATA_PROTECT : BSS_KEY_COPY_ABORTED,
			s.asc, (int)xc->cur, 0, 0);
	bss_xcopy_end(xc, SAM_STAT_CHECK_CONDITION);
}

static void bss_xcopy_unreachable(struct bss_xcopy *xc, int dst)
{
	bss_sense_build(xc->acb->cmd, BSS_KEY_COPY_ABORTED, BSS_ASC_TGT_NOT_REACHABLE, (int)xc->cur,
			BSS_SKS_SEG, dst ? 6 : 4);
	bss_xcopy_end(xc, SAM_STAT_CHECK_CONDITION);
}

static void bss_xcopy_granted(struct bss_range *r)
{
	struct bss_xcopy *xc = container_of(r, struct bss_xcopy, range);

	xc->granted(xc);
}

static void bss_xcopy_write(struct bss_xcopy *xc);

/*
 * The LU xc holds a range on is being closed (bss_range_close; the range is
 * off its list): the copy aborts.  If the range was granted, the step's
 * requests to that LU's vdi are out; they will never call back but may
 * still fill or read xc->buf, so the closing LU adopts xc, freed when its
 * background close is done (bss_reap.c), and the acb lets go of it.
 */
static void bss_xcopy_closed(struct bss_range *r)
{
	struct bss_xcopy *xc = container_of(r, struct bss_xcopy, range);
	struct bss_lu *blu = xc->held;
	int dst = xc->granted == bss_xcopy_write;

	xc->held = NULL;
	if (r->granted) {
		r->granted = 0;
		xc->acb->tmp = NULL;
		bss_reap_adopt(blu, xc, free);
	}
	eprintf("%s: xcopy segment %u: its %s LU (%s) was deleted: copy aborted\n",
		xc->acb->blu->label, xc->cur, dst ? "destination" : "source", blu->label);
	bss_xcopy_unreachable(xc, dst);
}

/* Hold [off, off + len) of blu shared, then run fn (now or when granted). */
static void bss_xcopy_hold(struct bss_xcopy *xc, struct bss_lu *blu, uint64_t off, uint64_t len,
			   void (*fn)(struct bss_xcopy *xc))
{
	int granted;

	xc->held = blu;
	xc->granted = fn;
	granted = bss_range_lock(blu, &xc->range, off, len, 0, bss_xcopy_granted);
	xc->range.closed_cb = bss_xcopy_closed;
	if (granted)
		fn(xc);
}

static void bss_xcopy_account(struct bss_xcopy *xc, unsigned int n)
{
	struct bss_xcopy_lu *x = xc->acb->blu->xcopy;

	if (n > x->peak_reqs)
		x->peak_reqs = n;
}

static void bss_xcopy_write_done(struct bss_aiocb *acb, int err)
{
	struct bss_xcopy *xc = acb->tmp;

	bss_xcopy_unhold(xc);
	if (err) {
		bss_xcopy_fail(xc, err, 1);
		return;
	}
	xc->done += xc->b_len;
	xc->rec->bytes += xc->b_len;
	acb->blu->xcopy->bytes += xc->b_len;
	bss_xcopy_next(xc);
}

static void bss_xcopy_write(struct bss_xcopy *xc)
{
	struct bss_aiocb *acb = xc->acb;
	struct sd_vdi *vdi = xc->held->vdi;
	unsigned int flags = bss_xcopy_wce(xc->held->lu) ? 0 : SD_AIO_FUA, n = 0;
	uint64_t pos;

	bss_step_begin(acb, bss_xcopy_write_done);
	for (pos = 0; pos < xc->b_len; pos += BSS_XCOPY_CHUNK, n++) {
		size_t len = xc->b_len - pos < BSS_XCOPY_CHUNK ? xc->b_len - pos : BSS_XCOPY_CHUNK;

		bss_step_add(acb, sd_vdi_aio_write(vdi, xc->buf + pos, len, xc->b_dst + pos, flags,
						   bss_step_cb, acb));
	}
	bss_xcopy_account(xc, n);
	bss_step_end(acb);
}

static void bss_xcopy_read_done(struct bss_aiocb *acb, int err)
{
	struct bss_xcopy *xc = acb->tmp;
	struct scsi_lu *dlu;

	bss_xcopy_unhold(xc);
	if (err) {
		bss_xcopy_fail(xc, err, 0);
		return;
	}
	dlu = bss_xcopy_resolve(xc->cscd[xc->seg[xc->cur].dst]);
	if (!dlu) {
		bss_xcopy_unreachable(xc, 1);
		return;
	}
	bss_xcopy_hold(xc, bss_lu_of(dlu), xc->b_dst, xc->b_len, bss_xcopy_write);
}

static void bss_xcopy_read(struct bss_xcopy *xc)
{
	struct bss_aiocb *acb = xc->acb;
	struct sd_vdi *vdi = xc->held->vdi;
	unsigned int n = 0;
	uint64_t pos;

	bss_step_begin(acb, bss_xcopy_read_done);
	for (pos = 0; pos < xc->b_len; pos += BSS_XCOPY_CHUNK, n++) {
		size_t len = xc->b_len - pos < BSS_XCOPY_CHUNK ? xc->b_len - pos : BSS_XCOPY_CHUNK;

		bss_step_add(acb, sd_vdi_aio_read(vdi, xc->buf + pos, len, xc->b_src + pos,
						  bss_step_cb, acb));
	}
	bss_xcopy_account(xc, n);
	bss_step_end(acb);
}

/* The next batch: read it from the source, then write it (memmove order). */
static void bss_xcopy_next(struct bss_xcopy *xc)
{
	struct bss_xcopy_seg *s;
	struct scsi_lu *slu;
	uint64_t rest, skip;
	int backward;

	while (xc->cur < xc->nseg && xc->done == xc->seg[xc->cur].len) {
		xc->cur++;
		xc->done = 0;
	}
	xc->rec->segs_done = (uint16_t)xc->cur;
	if (xc->cur == xc->nseg) {
		bss_xcopy_end(xc, SAM_STAT_GOOD);
		return;
	}
	s = &xc->seg[xc->cur];
	slu = bss_xcopy_resolve(xc->cscd[s->src]);
	if (!slu) {
		bss_xcopy_unreachable(xc, 0);
		return;
	}
	rest = s->len - xc->done;
	xc->b_len = rest < xc->bufsize ? rest : xc->bufsize;
	backward = s->src == s->dst && s->dst_off > s->src_off && s->dst_off < s->src_off + s->len;
	skip = backward ? rest - xc->b_len : xc->done;
	xc->b_src = s->src_off + skip;
	xc->b_dst = s->dst_off + skip;
	bss_xcopy_hold(xc, bss_lu_of(slu), xc->b_src, xc->b_len, bss_xcopy_read);
}

/* acb->start: the command is async from here on. */
static void bss_xcopy_start(struct bss_aiocb *acb)
{
	bss_xcopy_next(acb->tmp);
}

/* EXTENDED COPY (LID1), replacing core's spc_illegal_op for our LUs. */
static int bss_extended_copy(int host_no, struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->dev;
	struct bss_lu *blu = bss_lu_of(lu);
	uint32_t plen = (uint32_t)bss_get_be(&cmd->scb[10], 4);
	struct bss_xcopy_lu *x;
	struct bss_xcopy parsed, *xc = NULL;
	struct bss_aiocb *acb;
	uint64_t maxlen = 0;
	unsigned int i;
	int ret;

	(void)host_no;
	if (cmd->scb[1] & 0x1f) { /* LID4 service actions */
		bss_sense_build(cmd, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, -1, BSS_SKS_CDB, 1);
		return SAM_STAT_CHECK_CONDITION;
	}
	if (plen == 0)
		return SAM_STAT_GOOD;
	if (!blu->opened) {
		sense_data_build(cmd, NOT_READY, ASC_MEDIUM_NOT_PRESENT);
		return SAM_STAT_CHECK_CONDITION;
	}
	if (plen > scsi_get_out_length(cmd))
		plen = scsi_get_out_length(cmd);

	x = bss_xcopy_lu_get(blu);
	if (!x)
		goto nomem;
	memset(&parsed, 0, sizeof(parsed));
	ret = bss_xcopy_parse(cmd, &parsed, scsi_get_out_buffer(cmd), plen);
	for (i = 0; i < parsed.nseg; i++)
		if (parsed.seg[i].len > maxlen)
			maxlen = parsed.seg[i].len;

	if (plen >= BSS_XCOPY_HDR) {
		const uint8_t *p = scsi_get_out_buffer(cmd);
		int held = ((p[1] >> 3) & 3) == 0;
		struct bss_xcopy_rec *r = held ? bss_xcopy_rec_find(x, cmd->cmd_itn_id, p[0])
					       : NULL;

		if (r && r->status == BSS_XC_RUNNING) {
			sense_data_build(cmd, ILLEGAL_REQUEST, ASC_OP_IN_PROGRESS);
			return SAM_STAT_CHECK_CONDITION;
		}
		if (ret) {
			/* Keep the failure for FAILED SEGMENT DETAILS. */
			if (held && (r = bss_xcopy_rec_new(x, cmd->cmd_itn_id, p[0], 1))) {
				r->status = BSS_XC_FAILED;
				r->sense_len = (uint8_t)(cmd->sense_len < BSS_XCOPY_SENSE_MAX
								 ? cmd->sense_len
								 : BSS_XCOPY_SENSE_MAX);
				memcpy(r->sense, cmd->sense_buffer, r->sense_len);
			}
			return ret;
		}
		if (x->running == BSS_XCOPY_RECS)
			return SAM_STAT_TASK_SET_FULL;
		r = bss_xcopy_rec_new(x, cmd->cmd_itn_id, p[0], held);
		if (!r)
			return SAM_STAT_TASK_SET_FULL;
		if (!maxlen) {
			/* Nothing to move: done here, never async (completing
			 * inside a core handler is not allowed). */
			r->status = BSS_XC_GOOD;
			r->segs_done = (uint16_t)parsed.nseg;
			if (!held)
				r->used = 0;
			return SAM_STAT_GOOD;
		}

		if (maxlen > (uint64_t)BSS_XCOPY_WINDOW * BSS_XCOPY_CHUNK)
			maxlen = (uint64_t)BSS_XCOPY_WINDOW * BSS_XCOPY_CHUNK;
		xc = malloc(sizeof(*xc) + maxlen);
		acb = xc ? bss_acb_get(blu, cmd) : NULL;
		if (!acb) {
			r->used = 0;
			goto nomem;
		}
		memcpy(xc, &parsed, sizeof(*xc));
		xc->acb = acb;
		xc->rec = r;
		xc->params = p;
		xc->bufsize = maxlen;
		x->running++;
		acb->tmp = xc;
		acb->start = bss_xcopy_start;
		bss_acb_begin(acb);
		bss_acb_start(acb, 0); /* length 0: no range of the LU itself */
		return SAM_STAT_GOOD;
	}
	return ret;

nomem:
	free(xc);
	sense_data_build(cmd, HARDWARE_ERROR, ASC_INTERNAL_TGT_FAILURE);
	return SAM_STAT_CHECK_CONDITION;
}

static void bss_xcopy_put(struct scsi_cmd *cmd, const uint8_t *data, uint32_t avail)
{
	uint32_t alloc = (uint32_t)bss_get_be(&cmd->scb[10], 4);
	uint32_t n = avail < alloc ? avail : alloc;

	if (n > scsi_get_in_length(cmd))
		n = scsi_get_in_length(cmd);
	memcpy(scsi_get_in_buffer(cmd), data, n);
	scsi_set_in_resid_by_actual(cmd, n);
}

/* RECEIVE COPY RESULTS (LID1 service actions), replacing spc_illegal_op. */
static int bss_receive_copy_results(int host_no, struct scsi_cmd *cmd)
{
	struct bss_xcopy_lu *x = bss_xcopy_lu_get(bss_lu_of(cmd->dev));
	struct bss_xcopy_rec *r;
	uint8_t d[60 + BSS_XCOPY_SENSE_MAX];
	uint8_t sa = cmd->scb[1] & 0x1f;

	(void)host_no;
	if (!x) {
		scsi_set_in_resid_by_actual(cmd, 0);
		sense_data_build(cmd, HARDWARE_ERROR, ASC_INTERNAL_TGT_FAILURE);
		return SAM_STAT_CHECK_CONDITION;
	}
	memset(d, 0, sizeof(d));
	switch (sa) {
	case 0x03: /* OPERATING PARAMETERS: the limits enforced above */
		put_unaligned_be32(44 + 2 - 4, &d[0]);
		d[4] = 0x01; /* SNLID: list ids held per nexus */
		put_unaligned_be16(BSS_XCOPY_MAX_CSCD, &d[8]);
		put_unaligned_be16(BSS_XCOPY_MAX_SEGS, &d[10]);
		put_unaligned_be32(BSS_XCOPY_MAX_LIST, &d[12]);
		/* a block -> block segment counts at most 0xffff blocks */
		put_unaligned_be32((0xffffULL << cmd->dev->blk_shift) > UINT32_MAX
					   ? UINT32_MAX
					   : (uint32_t)(0xffffULL << cmd->dev->blk_shift),
				   &d[16]);
		put_unaligned_be16(BSS_XCOPY_RECS, &d[34]); /* total concurrent copies */
		d[36] = BSS_XCOPY_RECS;			    /* maximum concurrent copies */
		d[37] = (uint8_t)cmd->dev->blk_shift;	    /* data segment granularity */
		d[43] = 2;				    /* implemented descriptor codes */
		d[44] = 0x02;
		d[45] = 0xe4;
		bss_xcopy_put(cmd, d, 46);
		return SAM_STAT_GOOD;
	case 0x00: /* COPY STATUS */
	case 0x04: /* FAILED SEGMENT DETAILS */
		r = bss_xcopy_rec_find(x, cmd->cmd_itn_id, cmd->scb[2]);
		if (!r || (sa == 0x04 && r->status == BSS_XC_RUNNING))
			break;
		if (sa == 0x00) {
			put_unaligned_be32(8, &d[0]);
			d[4] = r->status;
			put_unaligned_be16(r->segs_done, &d[5]);
			if (r->bytes <= UINT32_MAX) {
				d[7] = 0x00; /* bytes */
				put_unaligned_be32((uint32_t)r->bytes, &d[8]);
			} else {
				d[7] = 0xf2; /* mebibytes */
				put_unaligned_be32((uint32_t)(r->bytes >> 20), &d[8]);
			}
			bss_xcopy_put(cmd, d, 12);
			return SAM_STAT_GOOD;
		}
		if (r->status == BSS_XC_GOOD) {
			bss_xcopy_put(cmd, d, 60); /* AVAILABLE DATA 0: nothing failed */
			return SAM_STAT_GOOD;
		}
		put_unaligned_be32(56 + r->sense_len, &d[0]);
		d[56] = SAM_STAT_CHECK_CONDITION;
		put_unaligned_be16(r->sense_len, &d[58]);
		memcpy(&d[60], r->sense, r->sense_len);
		bss_xcopy_put(cmd, d, 60 + r->sense_len);
		return SAM_STAT_GOOD;
	default: /* RECEIVE DATA: nothing is ever held */ break;
	}
	scsi_set_in_resid_by_actual(cmd, 0);
	bss_sense_build(cmd, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, -1, BSS_SKS_CDB,
			sa == 0x00 || sa == 0x04 ? 2 : 1);
	return SAM_STAT_CHECK_CONDITION;
}

/* Core's INQUIRY, then the 3PC bit (third-party copy) in standard data. */
static int bss_xcopy_inquiry(int host_no, struct scsi_cmd *cmd)
{
	int ret = g_core_inquiry(host_no, cmd);
	uint32_t alloc = (uint32_t)bss_get_be(&cmd->scb[3], 2);

	if (ret == SAM_STAT_GOOD && !(cmd->scb[1] & 0x01) && alloc > 5 &&
	    scsi_get_in_length(cmd) > 5)
		((uint8_t *)scsi_get_in_buffer(cmd))[5] |= 0x08;
	return ret;
}

/*
 * VPD page 0x8F (Third-party Copy), LID1 only: supported commands, the
 * parameter data and general copy operations limits of OPERATING
 * PARAMETERS, supported descriptor codes, no CSCD descriptor IDs.  Core
 * serves the page (INQUIRY) and frees it with the LU's other pages.
 */
#define BSS_VPD_8F_LEN 96

static void bss_xcopy_vpd(struct scsi_lu *lu)
{
	struct vpd **pg = &lu->attrs.lu_vpd[PCODE_OFFSET(0x8f)];
	uint64_t seglen = 0xffffULL << lu->blk_shift;
	uint8_t *d;

	if (*pg)
		return;
	*pg = alloc_vpd(BSS_VPD_8F_LEN);
	if (!*pg)
		return; /* the page is optional: INQUIRY just lacks it */
	d = (*pg)->data;
	/* Supported commands: EXTENDED COPY LID1; RECEIVE COPY RESULTS
	 * COPY STATUS, OPERATING PARAMETERS, FAILED SEGMENT DETAILS. */
	put_unaligned_be16(0x0001, &d[0]);
	put_unaligned_be16(12, &d[2]);
	d[4] = 8;
	d[5] = BSS_OP_EXTENDED_COPY;
	d[6] = 1;
	d[7] = 0x00;
	d[8] = BSS_OP_RECEIVE_COPY_RESULTS;
	d[9] = 3;
	d[10] = 0x00;
	d[11] = 0x03;
	d[12] = 0x04;
	d += 16;
	/* Parameter data */
	put_unaligned_be16(0x0008, &d[0]);
	put_unaligned_be16(28, &d[2]);
	put_unaligned_be16(BSS_XCOPY_MAX_CSCD, &d[8]);
	put_unaligned_be16(BSS_XCOPY_MAX_SEGS, &d[10]);
	put_unaligned_be32(BSS_XCOPY_MAX_LIST, &d[12]);
	d += 32;
	/* Supported descriptors */
	put_unaligned_be16(0x0080, &d[0]);
	put_unaligned_be16(4, &d[2]);
	d[4] = 2;
	d[5] = 0x02;
	d[6] = 0xe4;
	d += 8;
	/* Supported CSCD descriptor IDs: none */
	put_unaligned_be16(0x0081, &d[0]);
	put_unaligned_be16(4, &d[2]);
	d += 8;
	/* General copy operations */
	put_unaligned_be16(0x8001, &d[0]);
	put_unaligned_be16(28, &d[2]);
	put_unaligned_be32(BSS_XCOPY_RECS, &d[4]);
	put_unaligned_be32(BSS_XCOPY_RECS, &d[8]);
	put_unaligned_be32(seglen > UINT32_MAX ? UINT32_MAX : (uint32_t)seglen, &d[12]);
	d[16] = (uint8_t)lu->blk_shift;
}

void bss_xcopy_override(struct scsi_lu *lu)
{
	struct device_type_operations *ops = lu->dev_type_template.ops;

	if (lu->dev_type_template.type != TYPE_DISK)
		return;
	bss_xcopy_vpd(lu);
	/*
	 * Core's handler, taken once, from the first LU's pristine template:
	 * on a re-open (tgtadm --params path=) this LU's INQUIRY is the
	 * reservation check's wrapper (bss_pr_attach) around
	 * bss_xcopy_inquiry, and chaining to that would recurse until tgtd's
	 * stack overflows.
	 */
	if (!g_core_inquiry)
		g_core_inquiry = ops[INQUIRY].cmd_perform;
	ops[INQUIRY].cmd_perform = bss_xcopy_inquiry;
	ops[BSS_OP_EXTENDED_COPY].cmd_perform = bss_extended_copy;
	ops[BSS_OP_EXTENDED_COPY].pr_conflict_bits = PR_WE_FA | PR_EA_FA | PR_WE_FN | PR_EA_FN;
	ops[BSS_OP_RECEIVE_COPY_RESULTS].cmd_perform = bss_receive_copy_results;
	ops[BSS_OP_RECEIVE_COPY_RESULTS].pr_conflict_bits = PR_EA_FA | PR_EA_FN;
}
