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
 * REPORT SUPPORTED OPERATION CODES, one-command forms (reporting options
 * 001b and 002b): core's answers an opcode with no service actions asked
 * for with 002b (or one with service actions asked for with 001b) with
 * INVALID FIELD IN CDB but no field pointer, which initiators cannot tell
 * from "this command is not supported" (libiscsi reads it so); it fills
 * the CDB USAGE DATA with 0xff instead of the operation code in byte 0 and
 * the service action in its field; it has no usage data at all for the
 * opcodes the module adds (EXTENDED COPY, RECEIVE COPY RESULTS, READ
 * DEFECT DATA); and it refuses an unsupported opcode instead of answering
 * SUPPORT 001b.  The module answers the one-command forms itself and
 * leaves the "all commands" form to core, whose list it agrees with.
 *
 * Runs on tgtd's main thread, synchronously (scsi_cmd_perform).
 */
#include "bss.h"

#define BSS_MAX_SAI 8

static struct service_action g_bss_sai[BSS_MAX_SAI + 1];
static struct service_action g_bss_mi[BSS_MAX_SAI + 1];
static int (*g_core_rsoc)(int host_no, struct scsi_cmd *cmd);

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

/* INVALID FIELD IN CDB pointing at CDB byte `byte`, bit `bit` (bit < 0:
 * no bit pointer). */
static int bss_invalid_cdb_field(struct scsi_cmd *cmd, unsigned int byte, int bit)
{
	uint8_t sks = 0xc0 | (bit >= 0 ? 0x08 | (bit & 7) : 0);

	scsi_set_in_resid_by_actual(cmd, 0);
	bss_sense_build(cmd, ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, -1, sks, byte);
	return SAM_STAT_CHECK_CONDITION;
}

/* CDB usage data core does not know: the opcodes the module adds. */
static int bss_own_usage(uint8_t op, uint8_t *u)
{
	static const uint8_t xcopy[16] = { 0x83, 0x1f, 0,    0,	   0,	 0,    0, 0,
					   0,	 0,    0xff, 0xff, 0xff, 0xff, 0, 0x07 };
	static const uint8_t rcr[16] = { 0x84, 0x1f, 0xff, 0,	 0,    0,    0, 0,
					 0,    0,    0xff, 0xff, 0xff, 0xff, 0, 0x07 };
	static const uint8_t rdd10[10] = { 0x37, 0, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0x07 };
	static const uint8_t rdd12[12] = {
		0xb7, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x07
	};

	switch (op) {
	case 0x83: memcpy(u, xcopy, sizeof(xcopy)); return 1;
	case 0x84: memcpy(u, rcr, sizeof(rcr)); return 1;
	case 0x37: memcpy(u, rdd10, sizeof(rdd10)); return 1;
	case 0xb7: memcpy(u, rdd12, sizeof(rdd12)); return 1;
	}
	return 0;
}

/* Byte 1 of the CDB holds the service action of every opcode with service
 * actions an SBC LU has (SERVICE ACTION IN/OUT, MAINTENANCE IN/OUT,
 * PERSISTENT RESERVE IN/OUT), in its low 5 bits. */
static int bss_rsoc_one(struct scsi_cmd *cmd, uint8_t opt, uint8_t op, uint16_t sa, int rctd,
			uint32_t alloc_len)
{
	struct device_type_operations *ops = cmd->dev->dev_type_template.ops;
	struct service_action *a;
	uint8_t buf[4 + 32 + 12], *u = &buf[4];
	int supported, len = 0;
	uint32_t n;

	supported = ops[op].cmd_perform != spc_illegal_op &&
		    is_bs_support_opcode(cmd->dev->bst, op);
	if (supported && opt == 1 && ops[op].service_actions)
		return bss_invalid_cdb_field(cmd, 3, -1); /* it has service actions */
	if (supported && opt == 2 && !ops[op].service_actions)
		return bss_invalid_cdb_field(cmd, 3, -1); /* it has none */
	if (supported && opt == 2) {
		for (a = ops[op].service_actions; a->cmd_perform; a++)
			if (a->service_action == sa)
				break;
		supported = a->cmd_perform != NULL;
	}

	memset(buf, 0, sizeof(buf));
	if (supported) {
		len = get_scsi_command_size(op);
		if (len > 32)
			len = 32;
		if (!bss_own_usage(op, u))
			memcpy(u, get_scsi_cdb_usage_data(op, (uint8_t)sa), (size_t)len);
		u[0] = op;
		if (opt == 2)
			u[1] = (uint8_t)((u[1] & ~0x1f) | (sa & 0x1f));
		buf[1] = 0x03; /* SUPPORT: supported as the standard says */
		put_unaligned_be16((uint16_t)len, &buf[2]);
		if (rctd) {
			buf[1] |= 0x80; /* CTDP: a command timeouts descriptor follows */
			put_unaligned_be16(0x0a, &buf[4 + len]);
			len += 12;
		}
	} else {
		buf[1] = 0x01; /* SUPPORT: not supported; CDB SIZE 0 */
	}
	n = 4 + (uint32_t)len;
	if (n > alloc_len)
		n = alloc_len;
	memcpy(scsi_get_in_buffer(cmd), buf, n);
	scsi_set_in_resid_by_actual(cmd, n);
	return SAM_STAT_GOOD;
}

static int bss_rsoc(int host_no, struct scsi_cmd *cmd)
{
	uint8_t opt = cmd->scb[2] & 0x07;
	uint32_t alloc_len = (uint32_t)bss_get_be(&cmd->scb[6], 4);

	if (opt == 0)
		return g_core_rsoc(host_no, cmd);
	if (scsi_get_in_length(cmd) < alloc_len)
		return bss_invalid_cdb_field(cmd, 6, -1);
	if (opt > 2)
		return bss_invalid_cdb_field(cmd, 2, 2);
	return bss_rsoc_one(cmd, opt, cmd->scb[3], (uint16_t)bss_get_be(&cmd->scb[4], 2),
			    cmd->scb[2] & 0x80, alloc_len);
}

/*
 * A copy of core's service action table orig with the handler of service
 * action sa replaced by fn, in copy (BSS_MAX_SAI + 1 entries, shared by
 * every LU: core's tables are global too); *core receives the handler it
 * replaced.  NULL if orig is too long or lacks sa.
 */
static struct service_action *bss_sa_table(struct service_action *orig, struct service_action *copy,
					   uint32_t sa, int (*fn)(int, struct scsi_cmd *),
					   int (**core)(int, struct scsi_cmd *))
{
	int i, found = 0;

	if (copy[0].cmd_perform)
		return copy;
	for (i = 0; orig[i].cmd_perform; i++) {
		if (i == BSS_MAX_SAI)
			return NULL;
		copy[i] = orig[i];
		if (orig[i].service_action == sa) {
			if (core)
				*core = orig[i].cmd_perform;
			copy[i].cmd_perform = fn;
			found = 1;
		}
	}
	if (!found) {
		memset(copy, 0, sizeof(*copy) * (BSS_MAX_SAI + 1));
		return NULL;
	}
	return copy;
}

/* Put table (from bss_sa_table) on opcode op of the LU, once. */
static void bss_sa_install(struct scsi_lu *lu, uint8_t op, struct service_action *copy, uint32_t sa,
			   int (*fn)(int, struct scsi_cmd *), int (**core)(int, struct scsi_cmd *))
{
	struct device_type_operations *o = &lu->dev_type_template.ops[op];
	struct service_action *table;

	if (!o->service_actions || o->service_actions == copy)
		return;
	table = bss_sa_table(o->service_actions, copy, sa, fn, core);
	if (table)
		o->service_actions = table;
}

void bss_sbc_override(struct scsi_lu *lu)
{
	if (lu->dev_type_template.type != TYPE_DISK)
		return;
	bss_caw_override(lu);
	bss_sa_install(lu, SERVICE_ACTION_IN, g_bss_sai, SAI_GET_LBA_STATUS, bss_get_lba_status,
		       NULL);
	bss_sa_install(lu, MAINT_PROTOCOL_IN, g_bss_mi, MPI_REPORT_SUPPORTED_OPCODES, bss_rsoc,
		       &g_core_rsoc);
}
