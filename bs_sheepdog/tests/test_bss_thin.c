/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of bss_thin.c (UNMAP, WRITE SAME, Block Limits VPD) and of
 * bss_sbc.c's GET LBA STATUS from the allocation map, against stubs of tgt
 * core and a fake libsheepdog that holds every request until the test
 * completes it.
 *
 * Checks: every WRITE SAME and UNMAP field and limit check with its sense;
 * LBDATA/PBDATA stamping (the LBA, not the byte offset); which library
 * requests a command becomes (one discard or one write per object, a
 * shared zero or pattern buffer, no request for 0-block descriptors), in
 * steps of at most 16, each started by the last completion of the one
 * before, never completing inside the handler; the flush with WCE=0;
 * errors and residuals; B0 with thin provisioning on and off; GET LBA
 * STATUS descriptors from runs of the map, cut at the allocation length.
 */
#include "../bss.h"
#include "../../tests/unit/sdl_check.h"
#include "bss_tgt_stub.h"

int g_check_failed;

/* ---- fake libsheepdog ---------------------------------------------------- */

enum { FAKE_READ, FAKE_WRITE, FAKE_FLUSH, FAKE_DISCARD };

struct fake_req {
	int type;
	void *buf;
	size_t count;
	uint64_t offset;
	sd_aio_cb cb;
	void *opaque;
	int done;
};

#define FAKE_MAX 1024
#define OBJ	 (4u << 20)
static struct fake_req g_req[FAKE_MAX];
static int g_nr_req;
static int g_refuse;
static char g_vdi_obj;
static struct sd_vdi *const g_vdi = (struct sd_vdi *)&g_vdi_obj;
static uint8_t g_map[64]; /* allocated objects of the fake vdi */
static uint64_t g_vdi_size;

static int fake_submit(int type, void *buf, size_t count, uint64_t offset, sd_aio_cb cb,
		       void *opaque)
{
	struct fake_req *r;

	if (g_refuse) {
		int ret = g_refuse;

		g_refuse = 0;
		return ret;
	}
	if (g_nr_req == FAKE_MAX)
		return -ENOMEM;
	r = &g_req[g_nr_req++];
	memset(r, 0, sizeof(*r));
	r->type = type;
	r->buf = buf;
	r->count = count;
	r->offset = offset;
	r->cb = cb;
	r->opaque = opaque;
	return 0;
}

int sd_vdi_aio_read(struct sd_vdi *vdi, void *buf, size_t count, uint64_t offset, sd_aio_cb cb,
		    void *opaque)
{
	return fake_submit(FAKE_READ, buf, count, offset, cb, opaque);
}

int sd_vdi_aio_write(struct sd_vdi *vdi, const void *buf, size_t count, uint64_t offset,
		     unsigned flags, sd_aio_cb cb, void *opaque)
{
	CHECK(vdi == g_vdi);
	CHECK(flags == 0);
	return fake_submit(FAKE_WRITE, (void *)buf, count, offset, cb, opaque);
}

int sd_vdi_aio_flush(struct sd_vdi *vdi, sd_aio_cb cb, void *opaque)
{
	return fake_submit(FAKE_FLUSH, NULL, 0, 0, cb, opaque);
}

int sd_vdi_aio_discard(struct sd_vdi *vdi, size_t count, uint64_t offset, sd_aio_cb cb,
		       void *opaque)
{
	CHECK(vdi == g_vdi);
	return fake_submit(FAKE_DISCARD, NULL, count, offset, cb, opaque);
}

uint32_t sd_vdi_object_size(const struct sd_vdi *vdi)
{
	return OBJ;
}

int sd_vdi_allocated(const struct sd_vdi *vdi, uint64_t offset, uint64_t *run)
{
	uint64_t idx, end;

	if (offset >= g_vdi_size)
		return -EINVAL;
	idx = offset / OBJ;
	for (end = idx + 1; end * OBJ < g_vdi_size && g_map[end] == g_map[idx]; end++)
		;
	end *= OBJ;
	*run = (end < g_vdi_size ? end : g_vdi_size) - offset;
	return g_map[idx];
}

static void fake_complete(int i, int ret)
{
	CHECK(i < g_nr_req && !g_req[i].done);
	if (i >= g_nr_req || g_req[i].done)
		return;
	g_req[i].done = 1;
	g_req[i].cb(g_vdi, ret, g_req[i].opaque);
}

/* Complete every request still out, oldest first, until none is left. */
static void fake_complete_all(void)
{
	int i;

	for (i = 0; i < g_nr_req; i++)
		if (!g_req[i].done)
			fake_complete(i, 0);
}

/* ---- fixtures ------------------------------------------------------------ */

static struct scsi_lu *g_lu;
static struct bss_lu *g_blu;
static int g_core_b0_calls;

static void core_b0(struct scsi_lu *lu, void *arg)
{
	struct vpd *pg = lu->attrs.lu_vpd[PCODE_OFFSET(0xb0)];

	g_core_b0_calls++;
	pg->data[1] = 128;
	put_unaligned_be32(lu->attrs.thinprovisioning ? 0xffffffff : 0, pg->data + 16);
	put_unaligned_be32(lu->attrs.thinprovisioning ? 0xffffffff : 0, pg->data + 20);
}

static struct vpd *g_b0_pg;

static void lu_setup(int thin)
{
	g_lu = bss_stub_lu_new(g_vdi, 64ULL << 20, "test");
	g_vdi_size = g_lu->size;
	g_b0_pg = calloc(1, sizeof(struct vpd) + BLOCK_LIMITS_VPD_LEN);
	g_b0_pg->size = BLOCK_LIMITS_VPD_LEN;
	g_b0_pg->vpd_update = core_b0;
	g_lu->attrs.lu_vpd[PCODE_OFFSET(0xb0)] = g_b0_pg;
	g_blu = bss_lu_of(g_lu);
	bss_stub_reset(1);
	g_nr_req = 0;
	g_core_b0_calls = 0;
	memset(g_map, 0, sizeof(g_map));
	bss_thin_init(g_lu, thin);
}

static void lu_teardown(void)
{
	CHECK(g_blu->nr_inflight == 0);
	CHECK(list_empty(&g_blu->inflight));
	CHECK(list_empty(&g_blu->done));
	CHECK(list_empty(&g_blu->ranges));
	bss_acb_cache_free(g_blu);
	bss_thin_exit(g_lu);
	free(g_b0_pg);
	free(g_lu);
}

struct tcmd {
	struct scsi_cmd cmd;
	uint8_t cdb[16];
	uint8_t *data;
};

/* A command with out_len bytes of data-out (or in_len of data-in). */
static struct tcmd *cmd_new(const uint8_t *cdb, int cdb_len, uint32_t out_len, uint32_t in_len)
{
	struct tcmd *t = calloc(1, sizeof(*t));
	uint32_t len = out_len ? out_len : in_len;

	memcpy(t->cdb, cdb, (size_t)cdb_len);
	t->cmd.scb = t->cdb;
	t->cmd.scb_len = cdb_len;
	t->cmd.dev = g_lu;
	t->data = calloc(1, len ? len : 1);
	if (out_len) {
		scsi_set_out_buffer(&t->cmd, t->data);
		scsi_set_out_length(&t->cmd, out_len);
	}
	if (in_len) {
		scsi_set_in_buffer(&t->cmd, t->data);
		scsi_set_in_length(&t->cmd, in_len);
	}
	return t;
}

static void cmd_free(struct tcmd *t)
{
	free(t->data);
	free(t);
}

/* Run the LU's handler for the command's opcode, as scsi_cmd_perform does. */
static int perform(struct tcmd *t)
{
	uint8_t op = t->cdb[0];
	int ret;

	g_stub.in_submit = 1;
	if (op == SERVICE_ACTION_IN)
		ret = g_lu->dev_type_template.ops[op].service_actions[1].cmd_perform(0, &t->cmd);
	else
		ret = g_lu->dev_type_template.ops[op].cmd_perform(0, &t->cmd);
	g_stub.in_submit = 0;
	return ret;
}

static void run_sched(void)
{
	if (g_stub.sched) {
		struct event_data *ev = g_stub.sched;

		g_stub.sched = NULL;
		ev->sched_handler(ev);
	}
}

static void ws16(uint8_t *cdb, uint8_t flags, uint64_t lba, uint32_t nlb)
{
	memset(cdb, 0, 16);
	cdb[0] = WRITE_SAME_16;
	cdb[1] = flags;
	put_unaligned_be64(lba, &cdb[2]);
	put_unaligned_be32(nlb, &cdb[10]);
}

static void ws10(uint8_t *cdb, uint8_t flags, uint32_t lba, uint16_t nlb)
{
	memset(cdb, 0, 10);
	cdb[0] = WRITE_SAME;
	cdb[1] = flags;
	put_unaligned_be32(lba, &cdb[2]);
	put_unaligned_be16(nlb, &cdb[7]);
}

/* ---- pure checks --------------------------------------------------------- */

static void test_ws_checks(void)
{
	static const struct {
		uint8_t flags;
		uint32_t out_len;
		int thin, ok;
		uint16_t asc;
	} cases[] = {
		{ 0x00, 512, 0, 1, 0 },	      { 0x08, 512, 1, 1, 0 }, /* UNMAP, thin */
		{ 0x08, 512, 0, 0, 0x2400 },			      /* UNMAP, not thin */
		{ 0x10, 512, 1, 0, 0x2400 },			      /* ANCHOR */
		{ 0x18, 512, 1, 0, 0x2400 },			      /* ANCHOR + UNMAP */
		{ 0x20, 512, 1, 0, 0x2400 },			      /* WRPROTECT */
		{ 0xe0, 512, 1, 0, 0x2400 },			      /* WRPROTECT */
		{ 0x06, 512, 1, 0, 0x2400 },			      /* LBDATA + PBDATA */
		{ 0x02, 512, 1, 1, 0 },				      /* LBDATA */
		{ 0x04, 512, 1, 1, 0 },				      /* PBDATA */
		{ 0x00, 256, 1, 0, 0x1a00 },			      /* half a block */
		{ 0x00, 1024, 1, 0, 0x1a00 },			      /* two blocks */
		{ 0x00, 0, 1, 0, 0x1a00 },			      /* none, no NDOB */
		{ 0x01, 0, 1, 1, 0 },				      /* NDOB */
		{ 0x09, 0, 1, 1, 0 },				      /* NDOB + UNMAP */
	};
	struct bss_sense s;
	struct bss_ws ws;
	uint8_t cdb[16];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret;

		ws16(cdb, cases[i].flags, 5, 7);
		ret = bss_ws_check_cdb(cdb, cases[i].thin, &ws, &s);
		if (!ret)
			ret = bss_ws_check_range(&ws, cases[i].out_len, 9, 1000, 100, &s);
		if (cases[i].ok) {
			CHECK_EQ(ret, 0);
		} else {
			CHECK_EQ(ret, -1);
			CHECK_EQ(s.key, 0x05);
			CHECK_EQ(s.asc, cases[i].asc);
		}
	}
	ws16(cdb, 0x0b, 0x1122334455667788ull, 0xa0b0c0d0);
	CHECK_EQ(bss_ws_check_cdb(cdb, 1, &ws, &s), 0);
	CHECK(ws.lba == 0x1122334455667788ull && ws.nlb == 0xa0b0c0d0);
	CHECK(ws.unmap && ws.lbdata && !ws.pbdata && ws.ndob);
	/* WRITE SAME (10): 4-byte LBA, 2-byte count, byte 1 bit 0 is not NDOB */
	ws10(cdb, 0x01, 0xfffffffe, 0xffff);
	CHECK_EQ(bss_ws_check_cdb(cdb, 1, &ws, &s), 0);
	CHECK(ws.lba == 0xfffffffe && ws.nlb == 0xffff && !ws.ndob);
	CHECK_EQ(bss_ws_check_range(&ws, 0, 9, UINT64_MAX, UINT64_MAX, &s), -1);
	CHECK_EQ(s.asc, 0x1a00);

	/* ranges: 1000 blocks, at most 100 per command */
	ws.lba = 990, ws.nlb = 10;
	CHECK_EQ(bss_ws_check_range(&ws, 512, 9, 1000, 100, &s), 0);
	CHECK_EQ(ws.count, 10);
	ws.lba = 990, ws.nlb = 11;
	CHECK_EQ(bss_ws_check_range(&ws, 512, 9, 1000, 100, &s), -1);
	CHECK_EQ(s.asc, 0x2100);
	ws.lba = 990, ws.nlb = 0; /* 0 blocks: to the end */
	CHECK_EQ(bss_ws_check_range(&ws, 512, 9, 1000, 100, &s), 0);
	CHECK_EQ(ws.count, 10);
	ws.lba = 0, ws.nlb = 0; /* to the end: 1000 > 100 */
	CHECK_EQ(bss_ws_check_range(&ws, 512, 9, 1000, 100, &s), -1);
	CHECK_EQ(s.asc, 0x2400);
	ws.lba = 1000, ws.nlb = 0;
	CHECK_EQ(bss_ws_check_range(&ws, 512, 9, 1000, 100, &s), -1);
	CHECK_EQ(s.asc, 0x2100);
	ws.lba = UINT64_MAX, ws.nlb = 2; /* no overflow */
	CHECK_EQ(bss_ws_check_range(&ws, 512, 9, 1000, 100, &s), -1);
	CHECK_EQ(s.asc, 0x2100);
	ws.lba = 0, ws.nlb = 101;
	CHECK_EQ(bss_ws_check_range(&ws, 512, 9, 1000, 100, &s), -1);
	CHECK_EQ(s.asc, 0x2400);
	ws.lba = 0, ws.nlb = 100;
	CHECK_EQ(bss_ws_check_range(&ws, 512, 9, 1000, 100, &s), 0);
}

static void test_ws_fill(void)
{
	uint8_t block[512], buf[4 * 512];
	int i;

	for (i = 0; i < 512; i++)
		block[i] = (uint8_t)(i + 1);
	bss_ws_fill(buf, block, 512, 0x100000002ull, 4, 1, 0);
	for (i = 0; i < 4; i++) {
		CHECK_EQ(bss_get_be(buf + 512 * i, 4), 2 + i); /* low 4 bytes of the LBA */
		CHECK(!memcmp(buf + 512 * i + 4, block + 4, 508));
	}
	bss_ws_fill(buf, block, 512, 0x100000002ull, 4, 0, 1);
	for (i = 0; i < 4; i++) {
		CHECK_EQ(bss_get_be(buf + 512 * i, 8), 0x100000002ull + i);
		CHECK(!memcmp(buf + 512 * i + 8, block + 8, 504));
	}
	bss_ws_fill(buf, NULL, 512, 7, 4, 1, 0); /* NDOB + LBDATA */
	CHECK_EQ(bss_get_be(buf + 512 * 3, 4), 10);
	CHECK_EQ(buf[512 * 3 + 4], 0);
	bss_ws_fill(buf, block, 512, 7, 4, 0, 0);
	CHECK(!memcmp(buf + 512 * 3, block, 512));
}

static uint8_t *unmap_param(uint8_t *p, int n, const uint64_t *lba, const uint32_t *nlb)
{
	int i;

	memset(p, 0, 8 + 16 * (size_t)n);
	put_unaligned_be16((uint16_t)(6 + 16 * n), &p[0]);
	put_unaligned_be16((uint16_t)(16 * n), &p[2]);
	for (i = 0; i < n; i++) {
		put_unaligned_be64(lba[i], &p[8 + 16 * i]);
		put_unaligned_be32(nlb[i], &p[16 + 16 * i]);
	}
	return p;
}

static void test_unmap_checks(void)
{
	struct bss_thin_limits l = { .max_unmap_lbas = 100, .max_unmap_desc = 3 };
	uint64_t lba[4] = { 10, 990, 1000, 5 }, first, end;
	uint32_t nlb[4] = { 5, 10, 0, 20 }, n;
	struct bss_sense s;
	uint8_t p[8 + 16 * 5];

	unmap_param(p, 3, lba, nlb);
	CHECK_EQ(bss_unmap_check(p, 56, 1000, &l, &n, &first, &end, &s), 0);
	CHECK(n == 3 && first == 10 && end == 1000); /* LBA 1000 + 0 blocks: fine */
	CHECK_EQ(bss_unmap_check(p, 7, 1000, &l, &n, &first, &end, &s), -1);
	CHECK_EQ(s.asc, 0x1a00);
	/* 8 bytes: a header and no descriptor */
	CHECK_EQ(bss_unmap_check(p, 8, 1000, &l, &n, &first, &end, &s), 0);
	CHECK(n == 0 && first == 0 && end == 0);
	/* the transfer cuts the second descriptor: it is ignored */
	CHECK_EQ(bss_unmap_check(p, 8 + 16 + 15, 1000, &l, &n, &first, &end, &s), 0);
	CHECK(n == 1 && first == 10 && end == 15);
	/* so does a block descriptor data length that is not a multiple of 16 */
	put_unaligned_be16(16 + 8, &p[2]);
	CHECK_EQ(bss_unmap_check(p, 56, 1000, &l, &n, &first, &end, &s), 0);
	CHECK_EQ(n, 1);
	/* four descriptors, three allowed */
	unmap_param(p, 4, lba, nlb);
	CHECK_EQ(bss_unmap_check(p, 72, 1000, &l, &n, &first, &end, &s), -1);
	CHECK_EQ(s.asc, 0x2600);
	/* beyond the end, including by overflow */
	lba[1] = 991;
	unmap_param(p, 2, lba, nlb);
	CHECK_EQ(bss_unmap_check(p, 40, 1000, &l, &n, &first, &end, &s), -1);
	CHECK_EQ(s.asc, 0x2100);
	lba[1] = UINT64_MAX - 2;
	unmap_param(p, 2, lba, nlb);
	CHECK_EQ(bss_unmap_check(p, 40, 1000, &l, &n, &first, &end, &s), -1);
	CHECK_EQ(s.asc, 0x2100);
	/* 101 blocks in all, 100 allowed (overlaps count twice) */
	lba[0] = 0, nlb[0] = 60, lba[1] = 50, nlb[1] = 41;
	unmap_param(p, 2, lba, nlb);
	CHECK_EQ(bss_unmap_check(p, 40, 1000, &l, &n, &first, &end, &s), -1);
	CHECK_EQ(s.asc, 0x2600);
	nlb[1] = 40;
	unmap_param(p, 2, lba, nlb);
	CHECK_EQ(bss_unmap_check(p, 40, 1000, &l, &n, &first, &end, &s), 0);
	CHECK(first == 0 && end == 90);
}

/* ---- handlers ------------------------------------------------------------ */

static void test_b0(void)
{
	struct vpd *pg;
	uint8_t *d;

	lu_setup(1);
	pg = g_lu->attrs.lu_vpd[PCODE_OFFSET(0xb0)];
	d = pg->data;
	CHECK(pg->vpd_update != core_b0);
	CHECK(g_core_b0_calls >= 1);
	CHECK_EQ(g_lu->attrs.thinprovisioning, 1);
	CHECK_EQ(d[1], 128);				    /* core's CAW length kept */
	CHECK_EQ(d[0] & 1, 0);				    /* WSNZ */
	CHECK_EQ(bss_get_be(d + 4, 4), UINT32_MAX >> 9);    /* max transfer */
	CHECK_EQ(bss_get_be(d + 16, 4), 1u << 20);	    /* max unmap LBAs */
	CHECK_EQ(bss_get_be(d + 20, 4), 256);		    /* descriptors */
	CHECK_EQ(bss_get_be(d + 24, 4), OBJ >> 9);	    /* granularity */
	CHECK_EQ(bss_get_be(d + 28, 4), 0x80000000u);	    /* UGAVALID, 0 */
	CHECK_EQ(bss_get_be(d + 32, 8), (1ull << 30) >> 9); /* max write same */
	/* tgtadm --params thin_provisioning=0: core flips the flag and runs
	 * the updater, which is now ours */
	g_lu->attrs.thinprovisioning = 0;
	pg->vpd_update(g_lu, NULL);
	CHECK_EQ(bss_get_be(d + 16, 4), 0);
	CHECK_EQ(bss_get_be(d + 20, 4), 0);
	CHECK_EQ(bss_get_be(d + 24, 4), 0);
	CHECK_EQ(bss_get_be(d + 28, 4), 0);
	CHECK_EQ(bss_get_be(d + 32, 8), (1ull << 30) >> 9);
	/* the handlers follow the flag */
	CHECK(g_lu->dev_type_template.ops[UNMAP].cmd_perform != NULL);
	CHECK_EQ(g_lu->dev_type_template.ops[UNMAP].pr_conflict_bits,
		 PR_WE_FA | PR_EA_FA | PR_WE_FN | PR_EA_FN);
	CHECK_EQ(g_lu->dev_type_template.ops[WRITE_SAME_16].pr_conflict_bits,
		 PR_WE_FA | PR_EA_FA | PR_WE_FN | PR_EA_FN);
	lu_teardown();

	lu_setup(0); /* bsopt thin=0 */
	CHECK_EQ(g_lu->attrs.thinprovisioning, 0);
	CHECK_EQ(bss_get_be(g_lu->attrs.lu_vpd[PCODE_OFFSET(0xb0)]->data + 16, 4), 0);
	lu_teardown();
}

/* Zeros without UNMAP: one write per object from one shared zero buffer,
 * 16 per step, the next step from the last completion of the one before. */
static void test_ws_zero_steps(void)
{
	uint8_t cdb[16];
	struct tcmd *t;
	int i;

	lu_setup(1);
	/* 40 objects minus half a block-aligned megabyte at each end */
	ws16(cdb, 0, 2048, (uint32_t)((40ull * OBJ - 2 * 2048 * 512) >> 9));
	g_lu->size = 64ull * OBJ;
	t = cmd_new(cdb, 16, 512, 0);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK(cmd_async(&t->cmd));
	CHECK_EQ(g_stub.done_calls, 0);
	CHECK_EQ(g_nr_req, 16);
	CHECK(g_req[0].type == FAKE_WRITE && g_req[0].offset == 2048 * 512);
	CHECK_EQ(g_req[0].count, OBJ - 2048 * 512);
	CHECK(g_req[1].offset == OBJ && g_req[1].count == OBJ);
	for (i = 1; i < 16; i++)
		CHECK(g_req[i].buf == g_req[0].buf);
	for (i = 0; i < (int)OBJ; i += 4096)
		CHECK_EQ(((uint8_t *)g_req[0].buf)[i], 0);
	for (i = 0; i < 15; i++)
		fake_complete(i, 0);
	CHECK_EQ(g_nr_req, 16); /* the step waits for its last request */
	fake_complete(15, 0);
	CHECK_EQ(g_nr_req, 32);
	for (i = 16; i < 32; i++)
		fake_complete(i, 0);
	CHECK_EQ(g_nr_req, 40);
	CHECK_EQ(g_req[39].offset, 39ull * OBJ);
	CHECK_EQ(g_req[39].count, OBJ - 2048 * 512);
	CHECK_EQ(g_stub.done_calls, 0);
	for (i = 32; i < 40; i++)
		fake_complete(i, 0);
	CHECK_EQ(g_stub.done_calls, 1);
	CHECK_EQ(t->cmd.result, SAM_STAT_GOOD);
	CHECK_EQ(g_stub.done_in_submit, 0);
	cmd_free(t);
	lu_teardown();
}

static void test_ws_modes(void)
{
	uint8_t cdb[16];
	struct tcmd *t;
	int i;

	lu_setup(1);
	/* UNMAP=1 with zeros: discards, one per object piece */
	ws16(cdb, 0x08, 8191, 2);
	t = cmd_new(cdb, 16, 512, 0);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK_EQ(g_nr_req, 2);
	CHECK(g_req[0].type == FAKE_DISCARD && g_req[0].offset == 8191 * 512 &&
	      g_req[0].count == 512);
	CHECK(g_req[1].type == FAKE_DISCARD && g_req[1].offset == OBJ && g_req[1].count == 512);
	fake_complete_all();
	CHECK(g_stub.done_calls == 1 && t->cmd.result == SAM_STAT_GOOD);
	cmd_free(t);

	/* NDOB + UNMAP: discards too, no data-out needed */
	ws16(cdb, 0x09, 0, 8);
	t = cmd_new(cdb, 16, 0, 0);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK(g_req[2].type == FAKE_DISCARD && g_req[2].count == 4096);
	fake_complete_all();
	CHECK(g_stub.done_calls == 2 && t->cmd.result == SAM_STAT_GOOD);
	cmd_free(t);

	/* UNMAP=1 with a non-zero block: unmapped all the same */
	ws10(cdb, 0x08, 0, 3);
	t = cmd_new(cdb, 10, 512, 0);
	memset(t->data, 0xab, 512);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK(g_req[3].type == FAKE_DISCARD && g_req[3].count == 1536);
	fake_complete_all();
	CHECK(g_stub.done_calls == 3 && t->cmd.result == SAM_STAT_GOOD);
	cmd_free(t);

	/* LBDATA: every block carries its LBA */
	ws10(cdb, 0x02, 8190, 4);
	t = cmd_new(cdb, 10, 512, 0);
	memset(t->data, 0xcd, 512);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK_EQ(g_nr_req, 6);
	CHECK(g_req[4].offset == 8190 * 512 && g_req[4].count == 1024);
	CHECK(g_req[5].offset == OBJ && g_req[5].count == 1024);
	CHECK_EQ(bss_get_be(g_req[4].buf, 4), 8190);
	CHECK_EQ(bss_get_be((uint8_t *)g_req[4].buf + 512, 4), 8191);
	CHECK_EQ(bss_get_be(g_req[5].buf, 4), 8192);
	CHECK_EQ(bss_get_be((uint8_t *)g_req[5].buf + 512, 4), 8193);
	CHECK_EQ(((uint8_t *)g_req[5].buf)[511], 0xcd);
	fake_complete_all();
	CHECK(g_stub.done_calls == 4 && t->cmd.result == SAM_STAT_GOOD);
	cmd_free(t);

	/* WCE=0: a flush after the data */
	g_stub.caching_pg->mode_data[0] = 0x10;
	ws16(cdb, 0, 0, 1);
	t = cmd_new(cdb, 16, 512, 0);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK_EQ(g_nr_req, 7);
	fake_complete(6, 0);
	CHECK(g_nr_req == 8 && g_req[7].type == FAKE_FLUSH);
	CHECK_EQ(g_stub.done_calls, 4);
	fake_complete(7, -EIO);
	CHECK(g_stub.done_calls == 5 && t->cmd.result == SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&t->cmd) == MEDIUM_ERROR && sense_asc(&t->cmd) == 0x0c00);
	cmd_free(t);
	g_stub.caching_pg->mode_data[0] = 0x14;

	/* a failing piece fails the command after the step's other requests */
	ws16(cdb, 0, 0, (uint32_t)(3 * (OBJ >> 9)));
	t = cmd_new(cdb, 16, 512, 0);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK_EQ(g_nr_req, 11);
	fake_complete(9, -ENOSPC);
	fake_complete(8, 0);
	CHECK_EQ(g_stub.done_calls, 5);
	fake_complete(10, 0);
	CHECK(g_stub.done_calls == 6 && t->cmd.result == SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&t->cmd) == DATA_PROTECT && sense_asc(&t->cmd) == 0x2707);
	cmd_free(t);

	/* refused at submit: completed from the scheduled event, not inside */
	ws16(cdb, 0x08, 0, 1);
	t = cmd_new(cdb, 16, 512, 0);
	g_refuse = -EROFS;
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK_EQ(g_stub.done_calls, 6);
	run_sched();
	CHECK(g_stub.done_calls == 7 && sense_key(&t->cmd) == DATA_PROTECT &&
	      sense_asc(&t->cmd) == 0x2700);
	cmd_free(t);
	for (i = 0; i < g_nr_req; i++)
		CHECK(g_req[i].done);
	CHECK_EQ(g_stub.done_in_submit, 0);
	lu_teardown();
}

static void test_ws_errors(void)
{
	uint8_t cdb[16];
	struct tcmd *t;

	lu_setup(1);
	/* read-only LU (snapshot): DATA PROTECT, after the CDB checks but
	 * before the data-out one (libiscsi ReadOnly sends no block) */
	g_lu->attrs.readonly = 1;
	ws16(cdb, 0x08, 0, 1);
	t = cmd_new(cdb, 16, 512, 0);
	CHECK_EQ(perform(t), SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&t->cmd) == DATA_PROTECT && sense_asc(&t->cmd) == 0x2700);
	CHECK_EQ(scsi_get_out_resid(&t->cmd), 512);
	cmd_free(t);
	t = cmd_new(cdb, 16, 0, 0);
	CHECK_EQ(perform(t), SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&t->cmd) == DATA_PROTECT && sense_asc(&t->cmd) == 0x2700);
	cmd_free(t);
	ws16(cdb, 0x10, 0, 1);
	t = cmd_new(cdb, 16, 512, 0);
	CHECK_EQ(perform(t), SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&t->cmd) == ILLEGAL_REQUEST && sense_asc(&t->cmd) == 0x2400);
	cmd_free(t);
	g_lu->attrs.readonly = 0;

	/* beyond the end, and the write-same limit */
	ws16(cdb, 0, 131072 - 1, 2);
	t = cmd_new(cdb, 16, 512, 0);
	CHECK_EQ(perform(t), SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&t->cmd) == ILLEGAL_REQUEST && sense_asc(&t->cmd) == 0x2100);
	cmd_free(t);
	g_lu->size = 4ull << 30;
	ws16(cdb, 0, 0, 0); /* 0 blocks: all 4 GiB, over the 1 GiB limit */
	t = cmd_new(cdb, 16, 512, 0);
	CHECK_EQ(perform(t), SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&t->cmd) == ILLEGAL_REQUEST && sense_asc(&t->cmd) == 0x2400);
	cmd_free(t);
	ws16(cdb, 0x08, (4ull << 21) - 8, 0); /* 0 blocks: the last 8 */
	t = cmd_new(cdb, 16, 512, 0);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK(g_nr_req == 1 && g_req[0].offset == (4ull << 30) - 4096 && g_req[0].count == 4096);
	fake_complete_all();
	CHECK(g_stub.done_calls == 1 && t->cmd.result == SAM_STAT_GOOD);
	cmd_free(t);

	/* SCSI-2 reservation held by another nexus */
	g_stub.reserved = 1;
	ws16(cdb, 0, 0, 1);
	t = cmd_new(cdb, 16, 512, 0);
	CHECK_EQ(perform(t), SAM_STAT_RESERVATION_CONFLICT);
	cmd_free(t);
	g_stub.reserved = 0;

	/* no vdi (a failed path change): NOT READY, from the event */
	g_blu->opened = 0;
	g_blu->vdi = NULL;
	ws16(cdb, 0, 0, 1);
	t = cmd_new(cdb, 16, 512, 0);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	run_sched();
	CHECK(g_stub.done_calls == 2 && sense_key(&t->cmd) == NOT_READY &&
	      sense_asc(&t->cmd) == 0x3a00);
	cmd_free(t);
	lu_teardown();
}

static void test_unmap_handler(void)
{
	uint64_t lba[20];
	uint32_t nlb[20];
	uint8_t cdb[10] = { UNMAP }, p[8 + 16 * 20];
	struct tcmd *t;
	int i;

	lu_setup(1);
	for (i = 0; i < 20; i++) {
		lba[i] = (uint64_t)i * 100;
		nlb[i] = i == 3 ? 0 : 10;
	}
	unmap_param(p, 20, lba, nlb);
	put_unaligned_be16(sizeof(p), &cdb[7]);
	t = cmd_new(cdb, 10, sizeof(p), 0);
	memcpy(t->data, p, sizeof(p));
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK(cmd_async(&t->cmd));
	CHECK_EQ(scsi_get_out_resid(&t->cmd), 0);
	/* 16 discards in the first step, the 0-block descriptor skipped */
	CHECK_EQ(g_nr_req, 16);
	CHECK(g_req[0].type == FAKE_DISCARD && g_req[0].offset == 0 && g_req[0].count == 5120);
	CHECK_EQ(g_req[3].offset, 400 * 512);
	for (i = 0; i < 16; i++)
		fake_complete(i, 0);
	CHECK_EQ(g_nr_req, 19);
	fake_complete_all();
	CHECK(g_stub.done_calls == 1 && t->cmd.result == SAM_STAT_GOOD);
	cmd_free(t);

	/* the initiator sends more than the parameter list: underflow
	 * residual of the difference, the rest ignored */
	unmap_param(p, 1, lba, nlb);
	put_unaligned_be16(24, &cdb[7]);
	t = cmd_new(cdb, 10, 512, 0);
	memcpy(t->data, p, 24);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK_EQ(scsi_get_out_resid(&t->cmd), 512 - 24);
	fake_complete_all();
	CHECK(g_stub.done_calls == 2 && t->cmd.result == SAM_STAT_GOOD);
	cmd_free(t);

	/* parameter list length 0: GOOD, nothing sent; 1..7: error */
	put_unaligned_be16(0, &cdb[7]);
	t = cmd_new(cdb, 10, 0, 0);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK(!cmd_async(&t->cmd));
	cmd_free(t);
	put_unaligned_be16(7, &cdb[7]);
	t = cmd_new(cdb, 10, 7, 0);
	CHECK_EQ(perform(t), SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&t->cmd) == ILLEGAL_REQUEST && sense_asc(&t->cmd) == 0x1a00);
	cmd_free(t);

	/* only 0-block descriptors: GOOD without a request */
	nlb[0] = 0;
	lba[0] = 131072;
	unmap_param(p, 1, lba, nlb);
	put_unaligned_be16(24, &cdb[7]);
	t = cmd_new(cdb, 10, 24, 0);
	memcpy(t->data, p, 24);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK(!cmd_async(&t->cmd) && g_nr_req == 20);
	cmd_free(t);

	/* ANCHOR; read-only; thin provisioning off (INVALID OPERATION CODE) */
	cdb[1] = 0x01;
	t = cmd_new(cdb, 10, 24, 0);
	CHECK_EQ(perform(t), SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&t->cmd) == ILLEGAL_REQUEST && sense_asc(&t->cmd) == 0x2400);
	cmd_free(t);
	cdb[1] = 0;
	g_lu->attrs.readonly = 1;
	t = cmd_new(cdb, 10, 24, 0);
	CHECK_EQ(perform(t), SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&t->cmd) == DATA_PROTECT && sense_asc(&t->cmd) == 0x2700);
	cmd_free(t);
	g_lu->attrs.readonly = 0;
	g_lu->attrs.thinprovisioning = 0;
	t = cmd_new(cdb, 10, 24, 0);
	CHECK_EQ(perform(t), SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&t->cmd) == ILLEGAL_REQUEST && sense_asc(&t->cmd) == 0x2000);
	cmd_free(t);
	g_lu->attrs.thinprovisioning = 1;

	/* a failing discard fails the command */
	lba[0] = 0, nlb[0] = 1;
	unmap_param(p, 1, lba, nlb);
	t = cmd_new(cdb, 10, 24, 0);
	memcpy(t->data, p, 24);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	fake_complete(20, -ETIMEDOUT);
	CHECK(g_stub.done_calls == 3 && sense_key(&t->cmd) == ABORTED_COMMAND &&
	      sense_asc(&t->cmd) == 0x0801);
	cmd_free(t);
	CHECK_EQ(g_stub.done_in_submit, 0);
	lu_teardown();
}

static int core_rc16(int host_no, struct scsi_cmd *cmd)
{
	return 1;
}

static void test_get_lba_status_map(void)
{
	struct service_action orig[] = {
		{ SAI_READ_CAPACITY_16, NULL },
		{ SAI_GET_LBA_STATUS, NULL },
		{ 0, NULL },
	};
	uint8_t cdb[16] = { SERVICE_ACTION_IN, SAI_GET_LBA_STATUS };
	const uint64_t per = OBJ >> 9;
	struct tcmd *t;
	uint8_t *d;

	lu_setup(1);
	orig[0].cmd_perform = core_rc16;
	orig[1].cmd_perform = core_rc16;
	g_lu->dev_type_template.ops[SERVICE_ACTION_IN].service_actions = orig;
	bss_sbc_override(g_lu);
	/* 16 objects: 2 and 3 allocated, 5 allocated, the rest holes */
	g_map[2] = g_map[3] = g_map[5] = 1;
	put_unaligned_be64(per + 8, &cdb[2]);
	put_unaligned_be32(8 + 16 * 3, &cdb[10]);
	t = cmd_new(cdb, 16, 0, 8 + 16 * 3);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	d = t->data;
	CHECK_EQ(bss_get_be(d, 4), 4 + 16 * 3);
	CHECK_EQ(bss_get_be(d + 8, 8), per + 8); /* deallocated to the end of object 1 */
	CHECK_EQ(bss_get_be(d + 16, 4), per - 8);
	CHECK_EQ(d[20], 1);
	CHECK_EQ(bss_get_be(d + 24, 8), 2 * per); /* mapped: objects 2-3 */
	CHECK_EQ(bss_get_be(d + 32, 4), 2 * per);
	CHECK_EQ(d[36], 0);
	CHECK_EQ(bss_get_be(d + 40, 8), 4 * per); /* deallocated: object 4 */
	CHECK_EQ(bss_get_be(d + 48, 4), per);
	CHECK_EQ(d[52], 1);
	CHECK_EQ(scsi_get_in_resid(&t->cmd), 0);
	cmd_free(t);

	/* a big allocation length: every run to the end, no more */
	put_unaligned_be64(0, &cdb[2]);
	put_unaligned_be32(4096, &cdb[10]);
	t = cmd_new(cdb, 16, 0, 4096);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	d = t->data;
	CHECK_EQ(bss_get_be(d, 4), 4 + 16 * 5);
	CHECK_EQ(bss_get_be(d + 8 + 16 * 4, 8), 6 * per);
	CHECK_EQ(bss_get_be(d + 8 + 16 * 4 + 8, 4), 10 * per);
	CHECK_EQ(d[8 + 16 * 4 + 12], 1);
	CHECK_EQ(scsi_get_in_resid(&t->cmd), 4096 - 88);
	cmd_free(t);

	/* allocation length 16: the first descriptor cut short */
	put_unaligned_be32(16, &cdb[10]);
	t = cmd_new(cdb, 16, 0, 16);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK_EQ(bss_get_be(t->data, 4), 20);
	CHECK_EQ(bss_get_be(t->data + 8, 8), 0);
	CHECK_EQ(scsi_get_in_resid(&t->cmd), 0);
	cmd_free(t);

	/* thin provisioning off: all mapped, one descriptor */
	g_lu->attrs.thinprovisioning = 0;
	put_unaligned_be32(64, &cdb[10]);
	t = cmd_new(cdb, 16, 0, 64);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK_EQ(bss_get_be(t->data, 4), 20);
	CHECK_EQ(bss_get_be(t->data + 16, 4), 16 * per);
	CHECK_EQ(t->data[20], 0);
	cmd_free(t);
	lu_teardown();
}

int main(void)
{
	int passed = 0, failed = 0;

	RUN_TEST(test_ws_checks, passed, failed);
	RUN_TEST(test_ws_fill, passed, failed);
	RUN_TEST(test_unmap_checks, passed, failed);
	RUN_TEST(test_b0, passed, failed);
	RUN_TEST(test_ws_zero_steps, passed, failed);
	RUN_TEST(test_ws_modes, passed, failed);
	RUN_TEST(test_ws_errors, passed, failed);
	RUN_TEST(test_unmap_handler, passed, failed);
	RUN_TEST(test_get_lba_status_map, passed, failed);
	printf("test_bss_thin: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
