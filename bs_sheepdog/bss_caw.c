/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * COMPARE AND WRITE, ORWRITE 16 and PRE-FETCH 10/16 for sheepdog LUNs.
 *
 * COMPARE AND WRITE (ATS) and ORWRITE are read-modify-write: each holds
 * its byte range exclusively (bss_acb_start(acb, 1)) from before the read
 * until the write is back, so no other command of this gateway on an
 * overlapping block runs in between (plain reads and writes hold shared
 * ranges, see bss_range.c).  Steps: read the range into acb->tmp; then
 * compare (CAW: MISCOMPARE with the offset of the first differing byte, or
 * write the second half of the data-out buffer) or OR the data-out buffer
 * into it (ORWRITE) and write it back.
 *
 * Core routes COMPARE AND WRITE to spc_illegal_op for every backing store,
 * and rejects PRE-FETCH on read-only LUNs as if it wrote; bss_caw_override()
 * replaces both handlers in the LU's own copy of the SBC template, keeping
 * core's checks (SCSI-2 reservation, offline, PI, write protect, LBA
 * range; persistent reservations are checked by core before any handler,
 * through the opcode's pr_conflict_bits, which it also sets right for
 * COMPARE AND WRITE and ORWRITE).  ORWRITE keeps core's sbc_rw.
 *
 * COMPARE AND WRITE across gateways (bsopt shared=1, the default): when
 * the sheep has the EXT_CMP_WRITE_OBJ extension (probed at bs_open) and
 * the range lies in one object, the compare and the write are one
 * sd_vdi_aio_cmp_write, atomic in the sheep against every other gateway
 * (bss_ats.c, blu->caw_start); the local exclusive range is still held,
 * for the order against this gateway's own commands.  Otherwise (shared=0,
 * a cluster without the extension, logged at bs_open; a range across an
 * object boundary) the read-compare-write above runs: atomic within this
 * gateway only.
 *
 * PRE-FETCH: there is no cache in the gateway, so the useful work is to
 * read the range through sheep (warming its page cache) in rounds of at
 * most BSS_PREFETCH_WINDOW reads of BSS_PREFETCH_CHUNK bytes, into one
 * scratch buffer, at most BSS_PREFETCH_MAX bytes per command.  Status is
 * GOOD, never CONDITION MET (SBC: GOOD when the blocks could not all be
 * kept in a cache).  IMMED=0: GOOD once the reads are back (a read error
 * fails the command).  IMMED=1: GOOD as soon as the CDB is valid; the reads
 * go on detached from the command (an acb with cmd NULL), at most
 * BSS_PREFETCH_BG_MAX per LU (beyond that the command is answered without
 * reading), and stop when the LU closes.  No range lock: nothing is
 * written and the data is thrown away.
 *
 * Main thread only, like the rest of the data path.
 */
#include "bss.h"

#define BSS_PR_WRITE_BITS   (PR_WE_FA | PR_EA_FA | PR_WE_FN | PR_EA_FN)
#define BSS_CAW_MAX_BLOCKS  128 /* core's Block Limits VPD default */
#define BSS_PREFETCH_CHUNK  (1U << 20)
#define BSS_PREFETCH_WINDOW 4
#define BSS_PREFETCH_MAX    (64ULL << 20)
#define BSS_PREFETCH_BG_MAX 4

/* Complete a replaced core handler synchronously with sense. */
static int bss_check(struct scsi_cmd *cmd, unsigned char key, uint16_t asc)
{
	cmd->offset = 0;
	scsi_set_in_resid_by_actual(cmd, 0);
	scsi_set_out_resid_by_actual(cmd, 0);
	sense_data_build(cmd, key, asc);
	return SAM_STAT_CHECK_CONDITION;
}

/* MAXIMUM COMPARE AND WRITE LENGTH as the LU advertises it (VPD B0). */
static unsigned int bss_caw_max_blocks(struct scsi_lu *lu)
{
	struct vpd *b0 = lu->attrs.lu_vpd[PCODE_OFFSET(0xb0)];

	return b0 && b0->data[1] ? b0->data[1] : BSS_CAW_MAX_BLOCKS;
}

/* ---- read-modify-write: CAW and ORWRITE ------------------------------- */

static void bss_rmw_write_done(struct bss_aiocb *acb, int err)
{
	if (err)
		bss_acb_fail(acb, err);
	else
		bss_acb_finish(acb, SAM_STAT_GOOD);
}

static void bss_rmw_write(struct bss_aiocb *acb, const void *data)
{
	acb->is_write = 1;
	bss_step_begin(acb, bss_rmw_write_done);
	bss_step_add(acb, sd_vdi_aio_write(acb->blu->vdi, data, acb->length, acb->offset,
					   acb->flags, bss_step_cb, acb));
	bss_step_end(acb);
}

static void bss_rmw_read(struct bss_aiocb *acb, bss_step_fn done)
{
	acb->is_write = 0;
	bss_step_begin(acb, done);
	bss_step_add(acb, sd_vdi_aio_read(acb->blu->vdi, acb->tmp, acb->length, acb->offset,
					  bss_step_cb, acb));
	bss_step_end(acb);
}

/* The range is read (under the exclusive lock): compare, then write. */
static void bss_caw_compare(struct bss_aiocb *acb, int err)
{
	const uint8_t *got = acb->tmp, *want = acb->buf;
	size_t i;

	if (err) {
		bss_acb_fail(acb, err);
		return;
	}
	if (memcmp(got, want, acb->length)) {
		for (i = 0; got[i] == want[i]; i++)
			;
		bss_caw_miscompare(acb, i);
		return;
	}
	bss_rmw_write(acb, want + acb->length);
}

void bss_caw_local_start(struct bss_aiocb *acb)
{
	bss_rmw_read(acb, bss_caw_compare);
}

void bss_caw_miscompare(struct bss_aiocb *acb, uint64_t at)
{
	/* INFORMATION: offset of the first differing byte, from the start
	 * of the data-out buffer (SBC COMPARE AND WRITE). */
	sense_data_build_with_info(acb->cmd, MISCOMPARE, ASC_MISCOMPARE_DURING_VERIFY_OPERATION,
				   at);
	bss_acb_finish(acb, SAM_STAT_CHECK_CONDITION);
}

static void bss_orwrite_merge(struct bss_aiocb *acb, int err)
{
	uint8_t *data = acb->tmp;
	const uint8_t *in = acb->buf;
	size_t i;

	if (err) {
		bss_acb_fail(acb, err);
		return;
	}
	for (i = 0; i < acb->length; i++)
		data[i] |= in[i];
	bss_rmw_write(acb, data);
}

static void bss_orwrite_start(struct bss_aiocb *acb)
{
	bss_rmw_read(acb, bss_orwrite_merge);
}

/* A read-modify-write command on [offset, offset + len), data-out buf. */
static int bss_rmw_submit(struct scsi_cmd *cmd, uint64_t offset, size_t len, void *buf,
			  void (*start)(struct bss_aiocb *acb))
{
	struct bss_lu *blu = bss_lu_of(cmd->dev);
	struct bss_aiocb *acb;
	void *tmp;

	tmp = malloc(len);
	if (!tmp)
		return BSS_SUBMIT_FAILED;
	acb = bss_acb_get(blu, cmd);
	if (!acb) {
		free(tmp);
		return BSS_SUBMIT_FAILED;
	}
	acb->is_write = 1;
	acb->offset = offset;
	acb->length = len;
	acb->buf = buf;
	acb->tmp = tmp; /* freed with the acb */
	/* FUA (byte 1 bit 3 in both CDBs) or write cache off: durable write */
	if ((cmd->scb[1] & 0x08) || !bss_write_cache_enabled(cmd->dev))
		acb->flags = SD_AIO_FUA;
	acb->start = start;
	bss_acb_begin(acb);
	bss_acb_start(acb, 1);
	return 0;
}

/* Replaces core's spc_illegal_op for COMPARE AND WRITE (0x89). */
static int bss_caw_perform(int host_no, struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->dev;
	struct bss_lu *blu = bss_lu_of(lu);
	uint64_t nr_blocks = lu->size >> lu->blk_shift;
	uint64_t lba = bss_get_be(&cmd->scb[2], 8);
	unsigned int n = cmd->scb[13];
	size_t len = (size_t)n << lu->blk_shift;

	(void)host_no;
	if (device_reserved(cmd))
		return SAM_STAT_RESERVATION_CONFLICT;
	if (lu->attrs.removable && !lu->attrs.online)
		return bss_check(cmd, NOT_READY, ASC_MEDIUM_NOT_PRESENT);
	/* WRPROTECT: the LU has no protection information */
	if (cmd->scb[1] & 0xe0)
		return bss_check(cmd, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	if (lu->attrs.readonly || lu->attrs.swp)
		return bss_check(cmd, DATA_PROTECT, ASC_WRITE_PROTECT);
	if (n > bss_caw_max_blocks(lu))
		return bss_check(cmd, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	if (lba >= nr_blocks || n > nr_blocks - lba)
		return bss_check(cmd, ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	/* Verify data then write data, N blocks each: anything else is a
	 * CDB that does not describe the data-out buffer. */
	if (scsi_get_out_length(cmd) != 2 * len)
		return bss_check(cmd, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB);
	cmd->offset = lba << lu->blk_shift;
	cmd->tl = (uint32_t)len;
	/* SBC: zero blocks is not an error and transfers nothing. */
	if (!n)
		return SAM_STAT_GOOD;
	/* shared=1 with the sheep's extension: bss_ats.c */
	if (bss_rmw_submit(cmd, cmd->offset, len, scsi_get_out_buffer(cmd),
			   blu->caw_start ? blu->caw_start : bss_caw_local_start))
		return bss_check(cmd, HARDWARE_ERROR, ASC_INTERNAL_TGT_FAILURE);
	return SAM_STAT_GOOD;
}

int bss_orwrite_submit(struct scsi_cmd *cmd)
{
	uint32_t out = scsi_get_out_length(cmd);
	size_t len = cmd->tl < out ? cmd->tl : out;

	/* Core's sbc_rw checked it; zero blocks: core answers GOOD. */
	if (!len)
		return 0;
	return bss_rmw_submit(cmd, cmd->offset, len, scsi_get_out_buffer(cmd), bss_orwrite_start);
}

/* ---- PRE-FETCH --------------------------------------------------------- */

static void bss_prefetch_round(struct bss_aiocb *acb);

static void bss_prefetch_end(struct bss_aiocb *acb, int err)
{
	if (!acb->cmd) {
		/* detached (IMMED): errors go nowhere, the command is done */
		acb->blu->nr_prefetch_bg--;
		bss_acb_finish(acb, SAM_STAT_GOOD);
	} else if (err) {
		bss_acb_fail(acb, err);
	} else {
		bss_acb_finish(acb, SAM_STAT_GOOD);
	}
}

static void bss_prefetch_done(struct bss_aiocb *acb, int err)
{
	/* A closing LU stops the reads: what was read is all the "cache"
	 * gets, which GOOD allows. */
	if (err || !acb->length || !acb->blu->opened)
		bss_prefetch_end(acb, err);
	else
		bss_prefetch_round(acb);
}

/* acb->offset/length: what is left to read; all reads share acb->tmp. */
static void bss_prefetch_round(struct bss_aiocb *acb)
{
	unsigned int i;
	size_t n;

	bss_step_begin(acb, bss_prefetch_done);
	for (i = 0; i < BSS_PREFETCH_WINDOW && acb->length; i++) {
		n = acb->length < BSS_PREFETCH_CHUNK ? acb->length : BSS_PREFETCH_CHUNK;
		bss_step_add(acb, sd_vdi_aio_read(acb->blu->vdi, acb->tmp, n, acb->offset,
						  bss_step_cb, acb));
		acb->offset += n;
		acb->length -= n;
	}
	bss_step_end(acb);
}

int bss_prefetch_submit(struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->dev;
	struct bss_lu *blu = bss_lu_of(lu);
	int immed = cmd->scb[1] & 0x02;
	uint64_t lba, n, offset, len;
	struct bss_aiocb *acb;
	void *tmp;

	/* From the CDB: core's cmd->tl is 32 bits of bytes. */
	if (cmd->scb[0] == PRE_FETCH_10) {
		lba = bss_get_be(&cmd->scb[2], 4);
		n = bss_get_be(&cmd->scb[7], 2);
	} else {
		lba = bss_get_be(&cmd->scb[2], 8);
		n = bss_get_be(&cmd->scb[10], 4);
	}
	offset = lba << lu->blk_shift;
	if (offset >= lu->size)
		return 0;
	/* PREFETCH LENGTH 0: every block up to the end of the LU. */
	len = n ? n << lu->blk_shift : lu->size - offset;
	if (len > lu->size - offset)
		len = lu->size - offset;
	if (len > BSS_PREFETCH_MAX)
		len = BSS_PREFETCH_MAX;
	if (immed && (blu->nr_prefetch_bg >= BSS_PREFETCH_BG_MAX || !blu->opened))
		return 0;

	tmp = malloc(len < BSS_PREFETCH_CHUNK ? len : BSS_PREFETCH_CHUNK);
	if (!tmp)
		return immed ? 0 : BSS_SUBMIT_FAILED;
	acb = bss_acb_get(blu, immed ? NULL : cmd);
	if (!acb) {
		free(tmp);
		return immed ? 0 : BSS_SUBMIT_FAILED;
	}
	acb->offset = offset;
	acb->length = len;
	acb->tmp = tmp;
	if (immed)
		blu->nr_prefetch_bg++;
	bss_acb_begin(acb);
	if (!blu->opened)
		bss_acb_defer(acb, -ENODEV);
	else
		bss_prefetch_round(acb);
	/* IMMED: core answers GOOD now, the acb reads on without it. */
	return 0;
}

/* Replaces core's sbc_rw for PRE-FETCH 10/16: the same checks except write
 * protect (a read-only snapshot LUN may be pre-fetched). */
static int bss_prefetch_perform(int host_no, struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->dev;
	uint64_t nr_blocks = lu->size >> lu->blk_shift, lba, n;

	(void)host_no;
	if (device_reserved(cmd))
		return SAM_STAT_RESERVATION_CONFLICT;
	if (lu->attrs.removable && !lu->attrs.online)
		return bss_check(cmd, NOT_READY, ASC_MEDIUM_NOT_PRESENT);
	if (cmd->scb[0] == PRE_FETCH_10) {
		lba = bss_get_be(&cmd->scb[2], 4);
		n = bss_get_be(&cmd->scb[7], 2);
	} else {
		lba = bss_get_be(&cmd->scb[2], 8);
		n = bss_get_be(&cmd->scb[10], 4);
	}
	if (lba >= nr_blocks || n > nr_blocks - lba)
		return bss_check(cmd, ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
	/* No vdi (a failed --params path=): as a READ, also with IMMED */
	if (!bss_lu_of(lu)->opened)
		return bss_check(cmd, NOT_READY, ASC_MEDIUM_NOT_PRESENT);
	cmd->offset = lba << lu->blk_shift;
	cmd->tl = 0; /* nothing is transferred */
	if (bss_cmd_submit(cmd))
		return bss_check(cmd, HARDWARE_ERROR, ASC_INTERNAL_TGT_FAILURE);
	return SAM_STAT_GOOD;
}

void bss_caw_override(struct scsi_lu *lu)
{
	struct device_type_operations *ops = lu->dev_type_template.ops;

	if (lu->dev_type_template.type != TYPE_DISK)
		return;
	ops[COMPARE_AND_WRITE].cmd_perform = bss_caw_perform;
	/* Core leaves 0x89 without conflict bits and gives ORWRITE a read's;
	 * both write, as WRITE does. */
	ops[COMPARE_AND_WRITE].pr_conflict_bits = BSS_PR_WRITE_BITS;
	ops[ORWRITE_16].pr_conflict_bits = BSS_PR_WRITE_BITS;
	ops[PRE_FETCH_10].cmd_perform = bss_prefetch_perform;
	ops[PRE_FETCH_16].cmd_perform = bss_prefetch_perform;
}
