/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Thin provisioning: UNMAP, WRITE SAME (10) and (16), and the Block Limits
 * VPD page (B0h) that announces their limits.
 *
 * The LU's thin-provisioning state is tgt's own lu->attrs.thinprovisioning:
 * the bsopt `thin` sets it when the LU is created (bss_thin_init), and
 * `tgtadm --op update --params thin_provisioning=N` may flip it later; core
 * then re-runs the B0 and B2 updaters and READ CAPACITY (16) reads the flag
 * itself, so B0, B2 (core's: LBPU, LBPWS, LBPWS10, LBPRZ), LBPME/LBPRZ and
 * what these handlers accept always agree.
 *
 * UNMAP and WRITE SAME replace core's handlers for this LU (each LU owns a
 * copy of the SBC template): core's UNMAP answers GOOD with sense and a
 * bogus residual, and its WRITE SAME ignores NDOB, the write-same limit and
 * stamps LBDATA/PBDATA with the byte offset.  Each handler makes every
 * check core made (SCSI-2 reservation, ANCHOR, offline, write protect,
 * parameter list and LBA range) and answers errors synchronously; a
 * command that passes is marked async and runs in steps of at most
 * BSS_THIN_WINDOW library requests (bss_step_*), each step started by the
 * completion of the one before, so memory and requests in flight stay
 * bounded whatever the range.  A step never completes the command inside
 * the handler (core still touches it afterwards).
 *
 * Data path, per object-aligned piece of the range:
 *   - UNMAP, and WRITE SAME with UNMAP=1 (whatever its block holds, as LIO
 *     and tcmu-runner do): sd_vdi_aio_discard: whole objects leave the index (sheep deletes
 *     objects no inode references any more), partial ones are zeroed where
 *     allocated, holes cost no request.  Unmapped blocks read as zeros
 *     (LBPRZ=1).
 *   - WRITE SAME of zeros without UNMAP: one write per piece from the LU's
 *     shared zero buffer (one object-sized request per whole object);
 *     the blocks end up mapped, as SBC wants of a write.
 *   - WRITE SAME of another block: one pattern buffer shared by every
 *     piece (its content does not depend on the position).
 *   - WRITE SAME with LBDATA or PBDATA: pieces of at most BSS_STAMP_PIECE
 *     bytes, each with its own slice of a buffer of BSS_THIN_WINDOW slices,
 *     every block stamped with its LBA (LBDATA: low 4 bytes, PBDATA: all 8
 *     bytes, logical blocks being the physical blocks here).
 * With the write cache off (WCE=0) a final flush makes the result durable.
 *
 * Main thread only, like everything in the module.
 */
#include "bss.h"

#define BSS_THIN_WINDOW	    16		 /* library requests per step */
#define BSS_STAMP_PIECE	    (1u << 20)	 /* bytes per stamped WRITE SAME request */
#define BSS_WS_MAX_BYTES    (1ull << 30) /* MAXIMUM WRITE SAME LENGTH, bytes */
#define BSS_UNMAP_MAX_BYTES (1ull << 29) /* MAXIMUM UNMAP LBA COUNT, bytes */
#define BSS_UNMAP_MAX_DESC  256		 /* MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT */

enum bss_ws_mode {
	BSS_WS_DISCARD,
	BSS_WS_ZERO,
	BSS_WS_PATTERN,
	BSS_WS_STAMP,
	BSS_THIN_UNMAP, /* UNMAP: pos is the next descriptor */
};

#define BSS_PR_WRITE_BITS (PR_WE_FA | PR_EA_FA | PR_WE_FN | PR_EA_FN)

void bss_thin_limits(const struct scsi_lu *lu, struct bss_thin_limits *l)
{
	const struct bss_lu *blu = bss_lu_of((struct scsi_lu *)lu);
	unsigned int shift = lu->blk_shift;
	uint32_t obj = blu->vdi ? sd_vdi_object_size(blu->vdi) : 0;

	memset(l, 0, sizeof(*l));
	/* tgt keeps every transfer length in bytes in 32 bits */
	l->max_xfer = UINT32_MAX >> shift;
	l->max_ws = BSS_WS_MAX_BYTES >> shift;
	if (!lu->attrs.thinprovisioning)
		return;
	l->max_unmap_lbas = (uint32_t)(BSS_UNMAP_MAX_BYTES >> shift);
	l->max_unmap_desc = BSS_UNMAP_MAX_DESC;
	l->unmap_gran = obj >> shift;
}

/* Core's B0 content (MAXIMUM COMPARE AND WRITE LENGTH, the optimal transfer
 * params) plus the limits this module enforces. */
static void bss_vpd_b0_update(struct scsi_lu *lu, void *arg)
{
	struct bss_lu *blu = bss_lu_of(lu);
	struct vpd *pg = lu->attrs.lu_vpd[PCODE_OFFSET(0xb0)];
	struct bss_thin_limits l;
	uint8_t *d;

	if (blu->core_vpd_b0)
		blu->core_vpd_b0(lu, arg);
	if (!pg || pg->size < 40)
		return;
	bss_thin_limits(lu, &l);
	d = pg->data;  /* page byte n is d[n - 4] */
	d[0] &= ~0x01; /* WSNZ=0: WRITE SAME of 0 blocks runs to the last LBA */
	put_unaligned_be32(l.max_xfer, d + 4);
	put_unaligned_be32(l.max_unmap_lbas, d + 16);
	put_unaligned_be32(l.max_unmap_desc, d + 20);
	put_unaligned_be32(l.unmap_gran, d + 24);
	/* UGAVALID with alignment 0: objects start at LBA 0 */
	put_unaligned_be32(l.unmap_gran ? 0x80000000u : 0, d + 28);
	put_unaligned_be64(l.max_ws, d + 32);
}

int bss_ws_check_cdb(const uint8_t *cdb, int thin, struct bss_ws *ws, struct bss_sense *s)
{
	int is16 = cdb[0] == WRITE_SAME_16;
	uint8_t f = cdb[1];

	memset(ws, 0, sizeof(*ws));
	s->key = BSS_KEY_ILLEGAL_REQUEST;
	s->asc = BSS_ASC_INVALID_FIELD_CDB;
	if (is16) {
		ws->lba = bss_get_be(&cdb[2], 8);
		ws->nlb = bss_get_be(&cdb[10], 4);
		ws->ndob = f & 0x01;
	} else {
		ws->lba = bss_get_be(&cdb[2], 4);
		ws->nlb = bss_get_be(&cdb[7], 2);
	}
	ws->unmap = !!(f & 0x08);
	ws->pbdata = !!(f & 0x04);
	ws->lbdata = !!(f & 0x02);
	/* no protection information; no anchored LBAs (ANC_SUP=0) */
	if (f & 0xe0 || f & 0x10)
		return -1;
	if (ws->unmap && !thin)
		return -1;
	if (ws->pbdata && ws->lbdata)
		return -1;
	return 0;
}

int bss_ws_check_range(struct bss_ws *ws, uint32_t out_len, unsigned int blk_shift,
		       uint64_t nr_blocks, uint64_t max_ws, struct bss_sense *s)
{
	s->key = BSS_KEY_ILLEGAL_REQUEST;
	/* one block of data-out, or none with NDOB */
	if (!ws->ndob && out_len != (1u << blk_shift)) {
		s->asc = BSS_ASC_PARAM_LIST_LENGTH;
		return -1;
	}
	s->asc = BSS_ASC_LBA_OUT_OF_RANGE;
	if (ws->lba >= nr_blocks)
		return -1;
	/* 0 blocks (WSNZ=0): from the LBA to the last one */
	ws->count = ws->nlb ? ws->nlb : nr_blocks - ws->lba;
	if (ws->count > max_ws) {
		s->asc = BSS_ASC_INVALID_FIELD_CDB;
		return -1;
	}
	if (ws->count > nr_blocks - ws->lba)
		return -1;
	return 0;
}

void bss_ws_fill(uint8_t *buf, const uint8_t *block, size_t blksize, uint64_t lba, uint64_t nblocks,
		 int lbdata, int pbdata)
{
	uint64_t i;

	for (i = 0; i < nblocks; i++, buf += blksize) {
		if (block)
			memcpy(buf, block, blksize);
		else
			memset(buf, 0, blksize);
		if (lbdata)
			put_unaligned_be32((uint32_t)(lba + i), buf);
		else if (pbdata)
			put_unaligned_be64(lba + i, buf);
	}
}

int bss_unmap_check(const uint8_t *param, uint32_t len, uint64_t nr_blocks,
		    const struct bss_thin_limits *l, uint32_t *ndesc, uint64_t *first,
		    uint64_t *end, struct bss_sense *s)
{
	uint64_t total = 0, lba, nlb;
	uint32_t n, bd_len, i;

	*ndesc = 0;
	*first = UINT64_MAX;
	*end = 0;
	s->key = BSS_KEY_ILLEGAL_REQUEST;
	if (len < 8) {
		s->asc = BSS_ASC_PARAM_LIST_LENGTH;
		return -1;
	}
	/* An incomplete last descriptor is ignored (SBC), so is anything the
	 * block descriptor data length leaves out. */
	bd_len = (uint32_t)bss_get_be(&param[2], 2);
	if (bd_len > len - 8)
		bd_len = len - 8;
	n = bd_len / 16;
	s->asc = BSS_ASC_INVALID_FIELD_PARAM;
	if (n > l->max_unmap_desc)
		return -1;
	for (i = 0; i < n; i++) {
		lba = bss_get_be(&param[8 + 16 * i], 8);
		nlb = bss_get_be(&param[8 + 16 * i + 8], 4);
		if (!nlb)
			continue; /* not an error, whatever the LBA */
		if (lba >= nr_blocks || nlb > nr_blocks - lba) {
			s->asc = BSS_ASC_LBA_OUT_OF_RANGE;
			return -1;
		}
		total += nlb;
		if (lba < *first)
			*first = lba;
		if (lba + nlb > *end)
			*end = lba + nlb;
	}
	if (total > l->max_unmap_lbas)
		return -1;
	*ndesc = n;
	if (!total)
		*first = *end = 0;
	return 0;
}

/* The LU's zero buffer, one object long, allocated on first use. */
static void *bss_zero_buf(struct bss_lu *blu)
{
	size_t len = sd_vdi_object_size(blu->vdi);

	if (blu->zero_buf && blu->zero_len >= len)
		return blu->zero_buf;
	free(blu->zero_buf);
	blu->zero_buf = calloc(1, len);
	blu->zero_len = blu->zero_buf ? len : 0;
	return blu->zero_buf;
}

static int bss_write_cache_on(struct scsi_lu *lu)
{
	struct mode_pg *pg = find_mode_page(lu, 0x08, 0);

	return pg ? !!(pg->mode_data[0] & 0x04) : 1;
}

/* Send the final flush if one is due; 1 if it went out (or was refused:
 * the step still ends through bss_step_end). */
static int bss_thin_flush_step(struct bss_aiocb *acb, bss_step_fn done)
{
	if (!(acb->flags & SD_AIO_FUA))
		return 0;
	acb->flags &= ~SD_AIO_FUA;
	bss_step_begin(acb, done);
	bss_step_add(acb, sd_vdi_aio_flush(acb->blu->vdi, bss_step_cb, acb));
	bss_step_end(acb);
	return 1;
}

/* Next piece of [pos, end): up to the object boundary and max bytes. */
static uint64_t bss_piece(uint64_t pos, uint64_t end, uint32_t obj, uint64_t max)
{
	uint64_t len = obj - (pos & (obj - 1));

	if (len > end - pos)
		len = end - pos;
	if (len > max)
		len = max;
	return len;
}

/* Bytes per stamped request, and per slice of the stamping buffer. */
static size_t bss_stamp_slice(uint64_t length)
{
	return length < BSS_STAMP_PIECE ? (size_t)length : BSS_STAMP_PIECE;
}

static void bss_ws_step(struct bss_aiocb *acb, int err)
{
	struct bss_lu *blu = acb->blu;
	struct scsi_cmd *cmd = acb->cmd;
	struct sd_vdi *vdi = blu->vdi;
	unsigned int shift = cmd->dev->blk_shift;
	uint64_t end = acb->offset + acb->length, len;
	uint32_t obj = sd_vdi_object_size(vdi);
	int i, ret;

	if (err) {
		bss_acb_fail(acb, err);
		return;
	}
	if (acb->pos >= end) {
		if (!bss_thin_flush_step(acb, bss_ws_step))
			bss_acb_finish(acb, SAM_STAT_GOOD);
		return;
	}
	bss_step_begin(acb, bss_ws_step);
	for (i = 0; i < BSS_THIN_WINDOW && acb->pos < end; i++) {
		switch (acb->phase) {
		case BSS_WS_DISCARD:
			len = bss_piece(acb->pos, end, obj, UINT64_MAX);
			ret = sd_vdi_aio_discard(vdi, len, acb->pos, bss_step_cb, acb);
			break;
		case BSS_WS_ZERO:
			len = bss_piece(acb->pos, end, obj, UINT64_MAX);
			ret = sd_vdi_aio_write(vdi, blu->zero_buf, len, acb->pos, 0, bss_step_cb,
					       acb);
			break;
		case BSS_WS_PATTERN:
			len = bss_piece(acb->pos, end, obj, UINT64_MAX);
			ret = sd_vdi_aio_write(vdi, acb->tmp, len, acb->pos, 0, bss_step_cb, acb);
			break;
		default: {
			size_t slice = bss_stamp_slice(acb->length);
			uint8_t *buf = (uint8_t *)acb->tmp + (size_t)i * slice;

			len = bss_piece(acb->pos, end, obj, slice);
			bss_ws_fill(buf, acb->buf, (size_t)1 << shift, acb->pos >> shift,
				    len >> shift, cmd->scb[1] & 0x02, cmd->scb[1] & 0x04);
			ret = sd_vdi_aio_write(vdi, buf, len, acb->pos, 0, bss_step_cb, acb);
			break;
		}
		}
		bss_step_add(acb, ret);
		acb->pos += len;
	}
	bss_step_end(acb);
}

static void bss_ws_start(struct bss_aiocb *acb)
{
	bss_ws_step(acb, 0);
}

static int bss_all_zero(const uint8_t *p, size_t len)
{
	return !len || (p[0] == 0 && !memcmp(p, p + 1, len - 1));
}

static int bss_thin_sense(struct scsi_cmd *cmd, uint8_t key, uint16_t asc)
{
	cmd->offset = 0;
	scsi_set_in_resid_by_actual(cmd, 0);
	scsi_set_out_resid_by_actual(cmd, 0);
	sense_data_build(cmd, key, asc);
	return SAM_STAT_CHECK_CONDITION;
}

static int bss_thin_offline(struct scsi_lu *lu)
{
	return lu->attrs.removable && !lu->attrs.online;
}

/* WRITE SAME (10) and (16), replacing core's sbc_rw for this LU. */
static int bss_write_same(int host_no, struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->dev;
	struct bss_lu *blu = bss_lu_of(lu);
	unsigned int shift = lu->blk_shift;
	size_t blksize = (size_t)1 << shift;
	struct bss_thin_limits l;
	struct bss_aiocb *acb;
	struct bss_sense s;
	struct bss_ws ws;
	const uint8_t *block = NULL;
	void *tmp = NULL;
	int mode, ok = 1;

	if (device_reserved(cmd))
		return SAM_STAT_RESERVATION_CONFLICT;
	if (bss_thin_offline(lu))
		return bss_thin_sense(cmd, NOT_READY, ASC_MEDIUM_NOT_PRESENT);
	if (bss_ws_check_cdb(cmd->scb, lu->attrs.thinprovisioning, &ws, &s))
		return bss_thin_sense(cmd, s.key, s.asc);
	if (lu->attrs.readonly || lu->attrs.swp)
		return bss_thin_sense(cmd, DATA_PROTECT, ASC_WRITE_PROTECT);
	bss_thin_limits(lu, &l);
	if (bss_ws_check_range(&ws, scsi_get_out_length(cmd), shift, lu->size >> shift, l.max_ws,
			       &s))
		return bss_thin_sense(cmd, s.key, s.asc);

	if (!ws.ndob)
		block = scsi_get_out_buffer(cmd);
	else if (scsi_get_out_length(cmd))
		scsi_set_out_resid_by_actual(cmd, 0); /* NDOB: nothing is used */
	/* UNMAP=1 unmaps whatever the block holds, as LIO and tcmu-runner do
	 * and libiscsi's UnmapUntilEnd expects: with LBPRZ=1 the blocks then
	 * read as zeros. */
	if (ws.unmap)
		mode = BSS_WS_DISCARD;
	else if (ws.lbdata || ws.pbdata)
		mode = BSS_WS_STAMP;
	else if (!block || bss_all_zero(block, blksize))
		mode = BSS_WS_ZERO;
	else
		mode = BSS_WS_PATTERN;

	/* Buffers first: nothing to undo if one is missing.  Without a vdi
	 * the command fails in bss_acb_start (NOT READY) and needs none. */
	if (blu->opened && mode != BSS_WS_DISCARD) {
		uint32_t obj = sd_vdi_object_size(blu->vdi);
		size_t plen = (ws.count << shift) < obj ? (size_t)(ws.count << shift) : obj;

		if (mode == BSS_WS_ZERO)
			ok = bss_zero_buf(blu) != NULL;
		else if (mode == BSS_WS_PATTERN)
			ok = (tmp = malloc(plen)) != NULL;
		else
			ok = (tmp = malloc(BSS_THIN_WINDOW * bss_stamp_slice(ws.count << shift))) !=
			     NULL;
		if (tmp && mode == BSS_WS_PATTERN)
			bss_ws_fill(tmp, block, blksize, 0, plen >> shift, 0, 0);
	}
	acb = ok ? bss_acb_get(blu, cmd) : NULL;
	if (!acb) {
		free(tmp);
		return bss_thin_sense(cmd, HARDWARE_ERROR, ASC_INTERNAL_TGT_FAILURE);
	}
	acb->phase = mode;
	acb->is_write = 1;
	acb->offset = ws.lba << shift;
	acb->length = ws.count << shift;
	acb->pos = acb->offset;
	acb->buf = (void *)block;
	acb->tmp = tmp;
	if (!bss_write_cache_on(lu))
		acb->flags = SD_AIO_FUA;
	acb->start = bss_ws_start;
	bss_acb_begin(acb);
	bss_acb_start(acb, 0);
	return SAM_STAT_GOOD;
}

static void bss_unmap_step(struct bss_aiocb *acb, int err)
{
	struct bss_lu *blu = acb->blu;
	unsigned int shift = acb->cmd->dev->blk_shift;
	const uint8_t *d;
	uint64_t lba, nlb;
	int n = 0;

	if (err) {
		bss_acb_fail(acb, err);
		return;
	}
	if (acb->pos >= acb->count) {
		if (!bss_thin_flush_step(acb, bss_unmap_step))
			bss_acb_finish(acb, SAM_STAT_GOOD);
		return;
	}
	bss_step_begin(acb, bss_unmap_step);
	for (; n < BSS_THIN_WINDOW && acb->pos < acb->count; acb->pos++) {
		d = (const uint8_t *)acb->buf + 16 * acb->pos;
		lba = bss_get_be(d, 8);
		nlb = bss_get_be(d + 8, 4);
		if (!nlb)
			continue;
		bss_step_add(acb, sd_vdi_aio_discard(blu->vdi, (size_t)(nlb << shift), lba << shift,
						     bss_step_cb, acb));
		n++;
	}
	bss_step_end(acb);
}

static void bss_unmap_start(struct bss_aiocb *acb)
{
	bss_unmap_step(acb, 0);
}

/* UNMAP, replacing core's sbc_unmap for this LU. */
static int bss_unmap(int host_no, struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->dev;
	struct bss_lu *blu = bss_lu_of(lu);
	unsigned int shift = lu->blk_shift;
	uint32_t plen = (uint32_t)bss_get_be(&cmd->scb[7], 2), out_len, len, ndesc;
	struct bss_thin_limits l;
	struct bss_aiocb *acb;
	struct bss_sense s;
	uint64_t first, end;
	uint8_t *param;

	if (device_reserved(cmd))
		return SAM_STAT_RESERVATION_CONFLICT;
	if (cmd->scb[1] & 0x01) /* ANCHOR: ANC_SUP=0 */
		return bss_thin_sense(cmd, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	if (bss_thin_offline(lu))
		return bss_thin_sense(cmd, NOT_READY, ASC_MEDIUM_NOT_PRESENT);
	if (!lu->attrs.thinprovisioning)
		return bss_thin_sense(cmd, ILLEGAL_REQUEST, ASC_INVALID_OP_CODE);
	if (lu->attrs.readonly || lu->attrs.swp)
		return bss_thin_sense(cmd, DATA_PROTECT, ASC_WRITE_PROTECT);

	/* The parameter list is what both the CDB and the transfer hold; an
	 * initiator sending more or less than the CDB says gets the
	 * difference as residual. */
	out_len = scsi_get_out_length(cmd);
	len = plen < out_len ? plen : out_len;
	if (plen != out_len)
		scsi_set_out_resid_by_actual(cmd, plen);
	if (!plen)
		return SAM_STAT_GOOD; /* nothing to do (SBC: not an error) */
	param = scsi_get_out_buffer(cmd);
	bss_thin_limits(lu, &l);
	if (bss_unmap_check(param, len, lu->size >> shift, &l, &ndesc, &first, &end, &s))
		return bss_thin_sense(cmd, s.key, s.asc);
	if (first == end)
		return SAM_STAT_GOOD; /* only 0-block descriptors */

	acb = bss_acb_get(blu, cmd);
	if (!acb)
		return bss_thin_sense(cmd, HARDWARE_ERROR, ASC_INTERNAL_TGT_FAILURE);
	acb->phase = BSS_THIN_UNMAP;
	acb->is_write = 1;
	/* One range over every descriptor: a COMPARE AND WRITE in it must
	 * not see half of the UNMAP. */
	acb->offset = first << shift;
	acb->length = (end - first) << shift;
	acb->buf = param + 8;
	acb->count = ndesc;
	acb->pos = 0;
	if (!bss_write_cache_on(lu))
		acb->flags = SD_AIO_FUA;
	acb->start = bss_unmap_start;
	bss_acb_begin(acb);
	bss_acb_start(acb, 0);
	return SAM_STAT_GOOD;
}

void bss_thin_init(struct scsi_lu *lu, int thin)
{
	struct bss_lu *blu = bss_lu_of(lu);
	struct device_type_operations *ops = lu->dev_type_template.ops;
	struct vpd *b0 = lu->attrs.lu_vpd[PCODE_OFFSET(0xb0)];
	struct vpd *b2 = lu->attrs.lu_vpd[PCODE_OFFSET(0xb2)];

	if (lu->dev_type_template.type != TYPE_DISK)
		return;
	ops[WRITE_SAME].cmd_perform = bss_write_same;
	ops[WRITE_SAME_16].cmd_perform = bss_write_same;
	ops[UNMAP].cmd_perform = bss_unmap;
	/* Core leaves these 0: under a write-exclusive reservation another
	 * initiator could unmap or overwrite the LU.  They write. */
	ops[WRITE_SAME].pr_conflict_bits = BSS_PR_WRITE_BITS;
	ops[WRITE_SAME_16].pr_conflict_bits = BSS_PR_WRITE_BITS;
	ops[UNMAP].pr_conflict_bits = BSS_PR_WRITE_BITS;

	lu->attrs.thinprovisioning = !!thin;
	if (b0 && b0->vpd_update != bss_vpd_b0_update) {
		blu->core_vpd_b0 = b0->vpd_update;
		b0->vpd_update = bss_vpd_b0_update;
	}
	bss_thin_refresh(lu);
	if (b2 && b2->vpd_update)
		b2->vpd_update(lu, NULL);
}

void bss_thin_refresh(struct scsi_lu *lu)
{
	struct vpd *b0 = lu->attrs.lu_vpd[PCODE_OFFSET(0xb0)];

	if (b0 && b0->vpd_update == bss_vpd_b0_update)
		bss_vpd_b0_update(lu, NULL);
}

void bss_thin_exit(struct scsi_lu *lu)
{
	struct bss_lu *blu = bss_lu_of(lu);

	free(blu->zero_buf);
	blu->zero_buf = NULL;
	blu->zero_len = 0;
}
