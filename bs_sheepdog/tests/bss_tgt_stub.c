/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Stubs of tgt core for the module's unit tests: see bss_tgt_stub.h. */
#include "bss_tgt_stub.h"

int is_debug;
struct bss_tgt_stub g_stub;

static union {
	struct mode_pg pg;
	uint8_t raw[sizeof(struct mode_pg) + 20];
} g_caching_page;

void bss_stub_reset(int caching_page)
{
	memset(&g_stub, 0, sizeof(g_stub));
	if (caching_page) {
		g_stub.caching_pg = &g_caching_page.pg;
		g_stub.caching_pg->mode_data[0] = 0x14; /* WCE set */
	}
}

void log_error(const char *fmt, ...)
{
	(void)fmt;
}

void log_debug(const char *fmt, ...)
{
	(void)fmt;
}

void log_warning(const char *fmt, ...)
{
	(void)fmt;
}

void target_cmd_io_done(struct scsi_cmd *cmd, int result)
{
	g_stub.done_calls++;
	if (g_stub.in_submit)
		g_stub.done_in_submit++;
	cmd->result = result;
	g_stub.last_done = cmd;
}

/* Fixed-format sense, as tgt builds it. */
void sense_data_build(struct scsi_cmd *cmd, uint8_t key, uint16_t asc)
{
	memset(cmd->sense_buffer, 0, 18);
	cmd->sense_buffer[0] = 0x70;
	cmd->sense_buffer[2] = key;
	cmd->sense_buffer[7] = 0xa;
	cmd->sense_buffer[12] = (asc >> 8) & 0xff;
	cmd->sense_buffer[13] = asc & 0xff;
	cmd->sense_len = 18;
}

void sense_data_build_with_info(struct scsi_cmd *cmd, uint8_t key, uint16_t asc, uint64_t info)
{
	sense_data_build(cmd, key, asc);
	cmd->sense_buffer[0] |= 0x80;
	put_unaligned_be32((uint32_t)info, &cmd->sense_buffer[3]);
}

struct mode_pg *find_mode_page(struct scsi_lu *lu, uint8_t pcode, uint8_t subpcode)
{
	(void)lu;
	return pcode == 0x08 && subpcode == 0 ? g_stub.caching_pg : NULL;
}

void tgt_add_sched_event(struct event_data *evt)
{
	g_stub.sched = evt;
}

void tgt_remove_sched_event(struct event_data *evt)
{
	if (g_stub.sched == evt)
		g_stub.sched = NULL;
}

int device_reserved(struct scsi_cmd *cmd)
{
	(void)cmd;
	return g_stub.reserved;
}

uint32_t scsi_rw_count(uint8_t *scb)
{
	switch (scb[0]) {
	case VERIFY_10: return (uint32_t)bss_get_be(&scb[7], 2);
	case VERIFY_12: return (uint32_t)bss_get_be(&scb[6], 4);
	case VERIFY_16: return (uint32_t)bss_get_be(&scb[10], 4);
	}
	return 0;
}

/* The tests link with -Wl,--wrap=malloc. */
void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);

void *__wrap_malloc(size_t size)
{
	if (g_stub.malloc_fail > 0) {
		g_stub.malloc_fail--;
		errno = ENOMEM;
		return NULL;
	}
	return __real_malloc(size);
}

/* Linked in with the data path; the tests never reach it. */
int sd_cluster_service(struct sd_cluster *c)
{
	(void)c;
	return 0;
}

struct scsi_lu *bss_stub_lu_new(struct sd_vdi *vdi, uint64_t size, const char *label)
{
	struct scsi_lu *lu = calloc(1, sizeof(struct scsi_lu) + sizeof(struct bss_lu));
	struct bss_lu *blu = bss_lu_of(lu);

	lu->blk_shift = 9;
	lu->size = size;
	lu->dev_type_template.type = TYPE_DISK;
	blu->lu = lu;
	blu->vdi = vdi;
	blu->opened = 1;
	blu->cluster_fd = -1;
	INIT_LIST_HEAD(&blu->inflight);
	INIT_LIST_HEAD(&blu->done);
	INIT_LIST_HEAD(&blu->free_acbs);
	INIT_LIST_HEAD(&blu->ranges);
	blu->done_ev.sched_handler = bss_done_event_cb;
	blu->done_ev.data = blu;
	snprintf(blu->label, sizeof(blu->label), "%s", label);
	return lu;
}

int sense_key(const struct scsi_cmd *cmd)
{
	return cmd->sense_buffer[2] & 0x0f;
}

int sense_asc(const struct scsi_cmd *cmd)
{
	return cmd->sense_buffer[12] << 8 | cmd->sense_buffer[13];
}

/* REPORT SUPPORTED OPERATION CODES (bss_sbc.c) reaches these; the unit
 * tests do not send it. */
int spc_illegal_op(int host_no, struct scsi_cmd *cmd)
{
	(void)host_no;
	(void)cmd;
	return SAM_STAT_CHECK_CONDITION;
}

int is_bs_support_opcode(struct backingstore_template *bst, int op)
{
	(void)bst;
	(void)op;
	return 1;
}

int get_scsi_command_size(unsigned char op)
{
	static const int size[8] = { 6, 10, 10, 0, 16, 12, 0, 0 };

	return size[op >> 5];
}

const unsigned char *get_scsi_cdb_usage_data(unsigned char op, unsigned char sa)
{
	static const unsigned char usage[16];

	(void)op;
	(void)sa;
	return usage;
}

/* The LUs of these tests have no cache (blu->cache NULL): bss_io.c's
 * hooks into bss_cache.c never get past their NULL checks. */
int bss_cache_submit(struct bss_aiocb *acb)
{
	(void)acb;
	abort();
}

int bss_cache_gate(struct bss_aiocb *acb, int excl)
{
	(void)acb;
	(void)excl;
	abort();
}

void bss_cache_leave(struct bss_aiocb *acb)
{
	(void)acb;
}
