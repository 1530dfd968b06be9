/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * READ DEFECT DATA (10) and (12) for the module's LUNs.  A vdi has no
 * medium, so no defects: both lists are valid and empty, in the format the
 * initiator asked for.  tgt core has no handler for either opcode (they
 * answer INVALID OPERATION CODE on every store); the module installs one in
 * the LU's own copy of the device-type template (docs/tgt-backing-store.md
 * section 8), as bss_sbc.c does for GET LBA STATUS.
 *
 * Runs on tgtd's main thread, synchronously (scsi_cmd_perform).
 */
#include "bss.h"

#define BSS_READ_DEFECT_DATA_12 0xb7

static int bss_read_defect_data(int host_no, struct scsi_cmd *cmd)
{
	const uint8_t *scb = cmd->scb;
	int is12 = scb[0] == BSS_READ_DEFECT_DATA_12;
	uint32_t alloc_len = (uint32_t)(is12 ? bss_get_be(&scb[6], 4) : bss_get_be(&scb[7], 2));
	uint32_t len = is12 ? 8 : 4;
	uint8_t data[8];

	/*
	 * Byte 1 of the header has the CDB's REQ_PLIST, REQ_GLIST and list
	 * format bits in the same places as PLISTV, GLISTV and the returned
	 * format: the requested lists are valid, and the list length (bytes
	 * 2-3, or 4-7 for the 12-byte CDB) is 0.
	 */
	memset(data, 0, sizeof(data));
	data[1] = (is12 ? scb[1] : scb[2]) & 0x1f;
	if (len > alloc_len)
		len = alloc_len;
	if (len > scsi_get_in_length(cmd))
		len = scsi_get_in_length(cmd);
	memcpy(scsi_get_in_buffer(cmd), data, len);
	scsi_set_in_resid_by_actual(cmd, len);
	return SAM_STAT_GOOD;
}

void bss_defect_override(struct scsi_lu *lu)
{
	if (lu->dev_type_template.type != TYPE_DISK)
		return;
	lu->dev_type_template.ops[READ_DEFECT_DATA].cmd_perform = bss_read_defect_data;
	lu->dev_type_template.ops[BSS_READ_DEFECT_DATA_12].cmd_perform = bss_read_defect_data;
}
