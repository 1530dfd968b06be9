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
 * way on tgt's rdwr store).  The LUN does not advertise thin provisioning
 * (LBPME=0), so every LBA is mapped: one descriptor from the requested LBA
 * to the end, with the range check done without overflow.
 *
 * Runs on tgtd's main thread, synchronously (scsi_cmd_perform).
 */
#include "bss.h"

#define BSS_MAX_SAI 8

static struct service_action g_bss_sai[BSS_MAX_SAI + 1];

static int bss_get_lba_status(int host_no, struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->dev;
	uint64_t nr_blocks = lu->size >> lu->blk_shift, lba, count;
	uint32_t alloc_len, len;
	uint8_t data[24];
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

	count = nr_blocks - lba;
	if (count > UINT32_MAX)
		count = UINT32_MAX;
	memset(data, 0, sizeof(data));
	put_unaligned_be32(sizeof(data) - 4, &data[0]); /* PARAMETER DATA LENGTH */
	put_unaligned_be64(lba, &data[8]);
	put_unaligned_be32((uint32_t)count, &data[16]);
	data[20] = 0; /* mapped */

	len = alloc_len < sizeof(data) ? alloc_len : (uint32_t)sizeof(data);
	memcpy(scsi_get_in_buffer(cmd), data, len);
	scsi_set_in_resid_by_actual(cmd, len);
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
