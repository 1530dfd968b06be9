/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Per-LU replacements of tgt core SBC handlers (docs/tgt-backing-store.md
 * section 8: each LU owns a copy of the device-type template, so a backing
 * store may swap a handler for its own LUs only).
 *
 * GET LBA STATUS: core answers it with lseek(SEEK_DATA/SEEK_HOLE) on lu->fd,
 * which a network backing store does not have, and its LBA range check
 * (LBA << blk_shift >= size) overflows for huge LBAs, so a request far
 * beyond the end gets GOOD (libiscsi GetLBAStatus.BeyondEol fails the same
 * way on tgt's rdwr store).  Here the answer comes from the vdi's
 * allocation map (sd_vdi_allocated: the library's in-memory index, no
 * request): from the requested LBA, one descriptor per run of allocated
 * ("mapped") or unallocated ("deallocated") objects, as many as the
 * allocation length holds, the last one ending at the last LBA.  That is
 * what UNMAP and WRITE SAME change (bss_thin.c).  With thin provisioning
 * off (LBPME=0) every LBA is mapped: one descriptor to the end.
 *
 * Runs on tgtd's main thread, synchronously (scsi_cmd_perform).
 */
#include "bss.h"

#define BSS_MAX_SAI 8

static struct service_action g_bss_sai[BSS_MAX_SAI + 1];

/* Descriptor i (LBA, blocks, provisioning status) into the data-in buffer,
 * cut at the allocation length. */
static void bss_lba_desc(uint8_t *buf, uint32_t alloc_len, unsigned int i, uint64_t lba,
			 uint32_t blocks, int deallocated)
{
	uint32_t off = 8 + 16 * i;
	uint8_t d[16];

	if (off >= alloc_len)
		return;
	memset(d, 0, sizeof(d));
	put_unaligned_be64(lba, &d[0]);
	put_unaligned_be32(blocks, &d[8]);
	d[12] = deallocated ? 1 : 0;
	memcpy(buf + off, d, alloc_len - off < 16 ? alloc_len - off : 16);
}

static int bss_get_lba_status(int host_no, struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->dev;
	struct bss_lu *blu = bss_lu_of(lu);
	uint64_t nr_blocks = lu->size >> lu->blk_shift, lba, count, run;
	uint32_t alloc_len, max_desc;
	unsigned int n = 0;
	uint8_t *buf, hdr[8];
	int state;
	unsigned char key;
	uint16_t asc;

	if (lu->attrs.removable && !lu->attrs.online) {
		key = NOT_READY;
		asc = ASC_MEDIUM_NOT_PRESENT;
		goto sense;
	}
	lba = bss_get_be(&cmd->scb[2], 8);
	if (lba >= nr_blocks) {
		key = ILLEGAL_REQUEST;
		asc = ASC_LBA_OUT_OF_RANGE;
		goto sense;
	}
	alloc_len = (uint32_t)bss_get_be(&cmd->scb[10], 4);
	if (alloc_len < 4 || scsi_get_in_length(cmd) < alloc_len) {
		key = ILLEGAL_REQUEST;
		asc = ASC_INVALID_FIELD_IN_CDB;
		goto sense;
	}
	if (lu->attrs.thinprovisioning && !blu->opened) {
		key = NOT_READY;
		asc = ASC_MEDIUM_NOT_PRESENT;
		goto sense;
	}

	/* At least one descriptor, even if the allocation length cuts it. */
	max_desc = alloc_len >= 24 ? (alloc_len - 8) / 16 : 1;
	buf = scsi_get_in_buffer(cmd);
	while (lba < nr_blocks && n < max_desc) {
		count = nr_blocks - lba;
		state = 1;
		if (lu->attrs.thinprovisioning) {
			state = sd_vdi_allocated(blu->vdi, lba << lu->blk_shift, &run);
			if (state < 0) /* the vdi is shorter than the LU */
				break;
			if ((run >> lu->blk_shift) < count)
				count = run >> lu->blk_shift;
		}
		if (!count)
			break;
		if (count > UINT32_MAX)
			count = UINT32_MAX;
		bss_lba_desc(buf, alloc_len, n++, lba, (uint32_t)count, !state);
		lba += count;
	}

	memset(hdr, 0, sizeof(hdr));
	put_unaligned_be32(4 + 16 * n, &hdr[0]); /* PARAMETER DATA LENGTH */
	memcpy(buf, hdr, alloc_len < 8 ? alloc_len : 8);
	scsi_set_in_resid_by_actual(cmd, alloc_len < 8 + 16 * n ? alloc_len : 8 + 16 * n);
	return SAM_STAT_GOOD;

sense:
	scsi_set_in_resid_by_actual(cmd, 0);
	sense_data_build(cmd, key, asc);
	return SAM_STAT_CHECK_CONDITION;
}

/* Core's SERVICE ACTION IN (16) table with GET LBA STATUS replaced. */
static struct service_action *bss_sai_table(struct service_action *orig)
{
	int i, found = 0;

	if (g_bss_sai[0].cmd_perform)
		return g_bss_sai;
	for (i = 0; orig[i].cmd_perform; i++) {
		if (i == BSS_MAX_SAI)
			return NULL;
		g_bss_sai[i] = orig[i];
		if (orig[i].service_action == SAI_GET_LBA_STATUS) {
			g_bss_sai[i].cmd_perform = bss_get_lba_status;
			found = 1;
		}
	}
	if (!found) {
		memset(g_bss_sai, 0, sizeof(g_bss_sai));
		return NULL;
	}
	return g_bss_sai;
}

void bss_sbc_override(struct scsi_lu *lu)
{
	struct device_type_operations *op;
	struct service_action *table;

	if (lu->dev_type_template.type != TYPE_DISK)
		return;
	bss_caw_override(lu);
	op = &lu->dev_type_template.ops[SERVICE_ACTION_IN];
	if (!op->service_actions || op->service_actions == g_bss_sai)
		return;
	table = bss_sai_table(op->service_actions);
	if (table)
		op->service_actions = table;
}
