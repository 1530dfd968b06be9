/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of EXTENDED COPY / RECEIVE COPY RESULTS (bss_xcopy.c) with
 * the data path (bss_io.c, bss_range.c) against stubs of tgt core: two LUs
 * on one fake target, reachable through a fake tgt_drivers[], each with a
 * fake vdi in memory; the fake libsheepdog holds every request until the
 * test completes it (the data moves then).
 *
 * Checks: a copy of more than one batch moves the right bytes with a full
 * window of reads then writes, never completes inside the handler, and
 * COPY STATUS reports it; a read error mid-copy gives COPY ABORTED with the
 * segment number; the source LU closed between steps aborts with COPY
 * TARGET DEVICE NOT REACHABLE; so does a source or destination LU closed
 * while the copy's requests to it are out (they never call back: the
 * closing LU adopts the copy's buffer, which they may still fill) or while
 * the copy waits for a range of it; out of memory is HARDWARE ERROR
 * answered synchronously; a same-LU overlapping copy runs backwards.
 */
#include "../bss.h"
#include "../../tests/unit/sdl_check.h"
#include "bss_tgt_stub.h"

#include "driver.h"

int g_check_failed;

struct vpd *alloc_vpd(uint16_t size)
{
	struct vpd *v = calloc(1, sizeof(*v) + size);

	if (v)
		v->size = size;
	return v;
}

/* ---- fake libsheepdog: one in-memory vdi per LU --------------------------- */

#define LU_SIZE (40U << 20)

struct sd_vdi {
	uint8_t *mem;
};

struct fake_req {
	int write;
	struct sd_vdi *vdi;
	uint8_t *buf;
	size_t count;
	uint64_t offset;
	sd_aio_cb cb;
	void *opaque;
	int done;
};

#define FAKE_MAX 256
static struct fake_req g_req[FAKE_MAX];
static int g_nr_req;

static int fake_submit(int write, struct sd_vdi *vdi, void *buf, size_t count, uint64_t offset,
		       sd_aio_cb cb, void *opaque)
{
	struct fake_req *r;

	CHECK(offset + count <= LU_SIZE);
	if (g_nr_req == FAKE_MAX)
		return -ENOMEM;
	r = &g_req[g_nr_req++];
	memset(r, 0, sizeof(*r));
	r->write = write;
	r->vdi = vdi;
	r->buf = buf;
	r->count = count;
	r->offset = offset;
	r->cb = cb;
	r->opaque = opaque;
	return 0;
}

/* Linked in with bss_sbc.c (GET LBA STATUS) and bss_caw.c; never reached
 * by the copy tests. */
int sd_vdi_allocated(const struct sd_vdi *vdi, uint64_t offset, uint64_t *run)
{
	(void)vdi;
	if (run)
		*run = 0;
	(void)offset;
	return 1;
}

int sd_vdi_aio_read(struct sd_vdi *vdi, void *buf, size_t count, uint64_t offset, sd_aio_cb cb,
		    void *opaque)
{
	return fake_submit(0, vdi, buf, count, offset, cb, opaque);
}

int sd_vdi_aio_write(struct sd_vdi *vdi, const void *buf, size_t count, uint64_t offset,
		     unsigned flags, sd_aio_cb cb, void *opaque)
{
	return fake_submit(1, vdi, (void *)buf, count, offset, cb, opaque);
}

int sd_vdi_aio_flush(struct sd_vdi *vdi, sd_aio_cb cb, void *opaque)
{
	return -EINVAL;
}

/* bss_reap.c's: what a closing LU adopted, freed by the test. */
static void *g_adopted[4];
static int g_nr_adopted;

void bss_reap_adopt(struct bss_lu *blu, void *p, void (*release)(void *p))
{
	(void)blu;
	CHECK(release == free);
	CHECK(g_nr_adopted < 4);
	if (g_nr_adopted < 4)
		g_adopted[g_nr_adopted++] = p;
}

/* The library drains a closing vdi's requests without their callbacks:
 * the data still moves, into or out of the adopted buffer. */
static int fake_drain_silently(void)
{
	int i, n = 0;

	for (i = 0; i < g_nr_req; i++) {
		struct fake_req *r = &g_req[i];

		if (r->done)
			continue;
		r->done = 1;
		n++;
		if (r->write)
			memcpy(r->vdi->mem + r->offset, r->buf, r->count);
		else
			memcpy(r->buf, r->vdi->mem + r->offset, r->count);
	}
	while (g_nr_adopted)
		free(g_adopted[--g_nr_adopted]);
	return n;
}

/* Complete every pending request (in reverse order), with ret for the
 * first one; returns how many there were. */
static int fake_complete_all(int ret)
{
	int i, n = 0, first = 1;

	for (i = g_nr_req - 1; i >= 0; i--) {
		struct fake_req *r = &g_req[i];

		if (r->done)
			continue;
		r->done = 1;
		n++;
		if (first && ret) {
			first = 0;
			r->cb(r->vdi, ret, r->opaque);
			continue;
		}
		if (r->write)
			memcpy(r->vdi->mem + r->offset, r->buf, r->count);
		else
			memcpy(r->buf, r->vdi->mem + r->offset, r->count);
		r->cb(r->vdi, 0, r->opaque);
	}
	return n;
}

static int fake_pending(int write)
{
	int i, n = 0;

	for (i = 0; i < g_nr_req; i++)
		n += !g_req[i].done && g_req[i].write == write;
	return n;
}

/* ---- fixtures: target 1 with LU 1 and LU 2 ------------------------------- */

static int fake_inquiry(int host_no, struct scsi_cmd *cmd)
{
	return SAM_STAT_GOOD;
}

static struct backingstore_template g_bst = { .bs_cmd_submit = bss_cmd_submit };
static struct tgt_driver g_drv;
struct tgt_driver *tgt_drivers[2] = { &g_drv, NULL };
static struct target g_tgt;
static struct scsi_lu *g_lu[2];
static struct sd_vdi g_vdis[2];

static void lu_setup(void)
{
	int i;

	INIT_LIST_HEAD(&g_drv.target_list);
	INIT_LIST_HEAD(&g_tgt.device_list);
	list_add_tail(&g_tgt.lld_siblings, &g_drv.target_list);
	for (i = 0; i < 2; i++) {
		char label[8];
		struct scsi_lu *lu;
		struct vpd *v = alloc_vpd(12);

		snprintf(label, sizeof(label), "lu%d", i + 1);
		g_vdis[i].mem = calloc(1, LU_SIZE);
		lu = bss_stub_lu_new(&g_vdis[i], LU_SIZE, label);
		lu->lun = (uint64_t)i + 1;
		lu->bst = &g_bst;
		lu->dev_type_template.ops[INQUIRY].cmd_perform = fake_inquiry;
		/* NAA designator 0x60000000000000 | lun */
		v->data[0] = 0x01;
		v->data[1] = 0x03;
		v->data[3] = 8;
		v->data[4] = 0x60;
		v->data[11] = (uint8_t)(i + 1);
		lu->attrs.lu_vpd[PCODE_OFFSET(0x83)] = v;
		list_add_tail(&lu->device_siblings, &g_tgt.device_list);
		bss_xcopy_override(lu);
		g_lu[i] = lu;
	}
	bss_stub_reset(0);
	g_nr_req = 0;
}

static void lu_teardown(void)
{
	int i, j;

	for (i = 0; i < 2; i++) {
		struct bss_lu *blu = bss_lu_of(g_lu[i]);

		CHECK(blu->nr_inflight == 0);
		CHECK(list_empty(&blu->ranges));
		bss_acb_cache_free(blu);
		bss_xcopy_lu_free(blu);
		for (j = 0; j < (int)ARRAY_SIZE(g_lu[i]->attrs.lu_vpd); j++)
			free(g_lu[i]->attrs.lu_vpd[j]);
		free(g_vdis[i].mem);
		free(g_lu[i]);
	}
}

/* A parameter list: CSCD 0 = LU 1, CSCD 1 = LU 2, one segment. */
static uint32_t make_list(uint8_t *p, uint8_t list_id, int src, int dst, uint16_t blocks,
			  uint64_t slba, uint64_t dlba)
{
	int i;

	memset(p, 0, 16 + 64 + 28);
	p[0] = list_id;
	p[3] = 64;
	p[11] = 28;
	for (i = 0; i < 2; i++) {
		uint8_t *d = p + 16 + 32 * i;

		d[0] = 0xe4;
		d[4] = 0x01;
		d[5] = 0x03;
		d[7] = 8;
		d[8] = 0x60;
		d[15] = (uint8_t)(i + 1);
		d[30] = 0x02; /* 512-byte blocks */
	}
	p += 16 + 64;
	p[0] = 0x02;
	p[3] = 0x18;
	p[5] = (uint8_t)src;
	p[7] = (uint8_t)dst;
	put_unaligned_be16(blocks, &p[10]);
	put_unaligned_be64(slba, &p[12]);
	put_unaligned_be64(dlba, &p[20]);
	return 16 + 64 + 28;
}

struct tcmd {
	struct scsi_cmd cmd;
	uint8_t cdb[16];
	uint8_t data[1024];
};

static struct tcmd *xcopy_cmd(struct scsi_lu *lu, uint8_t list_id, int src, int dst,
			      uint16_t blocks, uint64_t slba, uint64_t dlba)
{
	struct tcmd *t = calloc(1, sizeof(*t));
	uint32_t len = make_list(t->data, list_id, src, dst, blocks, slba, dlba);

	t->cdb[0] = BSS_OP_EXTENDED_COPY;
	put_unaligned_be32(len, &t->cdb[10]);
	t->cmd.scb = t->cdb;
	t->cmd.scb_len = 16;
	t->cmd.dev = lu;
	t->cmd.cmd_itn_id = 7;
	scsi_set_out_buffer(&t->cmd, t->data);
	scsi_set_out_length(&t->cmd, len);
	return t;
}

static int perform(struct tcmd *t)
{
	int ret;

	g_stub.in_submit = 1;
	ret = t->cmd.dev->dev_type_template.ops[t->cdb[0]].cmd_perform(0, &t->cmd);
	g_stub.in_submit = 0;
	return ret;
}

static void fill(int lu, uint64_t off, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		g_vdis[lu].mem[off + i] = (uint8_t)((off + i) * 7 + (off + i) / 4096);
}

/* ---- tests --------------------------------------------------------------- */

static void test_copy_two_batches(void)
{
	struct tcmd *t, *r;
	int n, steps = 0;

	lu_setup();
	fill(0, 0, LU_SIZE);
	/* 65535 blocks (32 MiB - 512) from LU 1 byte 1 MiB to LU 2 byte 512 */
	t = xcopy_cmd(g_lu[1], 1, 0, 1, 0xffff, 2048, 1);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK_EQ(g_stub.done_calls, 0);
	CHECK_EQ(fake_pending(0), 16); /* a full window of reads */
	while ((n = fake_complete_all(0)) > 0) {
		CHECK(n <= 16);
		steps++;
	}
	CHECK_EQ(steps, 4); /* 16 MiB, 16 MiB - 512: read + write each */
	CHECK_EQ(g_stub.done_calls, 1);
	CHECK_EQ(g_stub.done_in_submit, 0);
	CHECK_EQ(t->cmd.result, SAM_STAT_GOOD);
	CHECK(!memcmp(g_vdis[1].mem + 512, g_vdis[0].mem + (1 << 20), 0xffffU * 512));
	CHECK(g_vdis[1].mem[0] == 0 && g_vdis[1].mem[512 + 0xffffU * 512] == 0);

	/* COPY STATUS on the same nexus: done, 1 segment, the bytes */
	r = calloc(1, sizeof(*r));
	r->cdb[0] = BSS_OP_RECEIVE_COPY_RESULTS;
	r->cdb[2] = 1;
	put_unaligned_be32(sizeof(r->data), &r->cdb[10]);
	r->cmd.scb = r->cdb;
	r->cmd.dev = g_lu[1];
	r->cmd.cmd_itn_id = 7;
	scsi_set_in_buffer(&r->cmd, r->data);
	scsi_set_in_length(&r->cmd, sizeof(r->data));
	CHECK_EQ(perform(r), SAM_STAT_GOOD);
	CHECK_EQ(r->data[4], 1);
	CHECK_EQ(bss_get_be(&r->data[5], 2), 1);
	CHECK_EQ(bss_get_be(&r->data[8], 4), 0xffffU * 512);
	/* another nexus does not see it */
	r->cmd.cmd_itn_id = 8;
	CHECK_EQ(perform(r), SAM_STAT_CHECK_CONDITION);
	free(r);
	free(t);
	lu_teardown();
}

static void test_read_error(void)
{
	struct tcmd *t;

	lu_setup();
	t = xcopy_cmd(g_lu[0], 2, 0, 1, 64, 0, 0);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK_EQ(fake_complete_all(-EIO), 1);
	CHECK_EQ(g_stub.done_calls, 1);
	CHECK_EQ(t->cmd.result, SAM_STAT_CHECK_CONDITION);
	CHECK_EQ(sense_key(&t->cmd), 0x0a);
	CHECK_EQ(sense_asc(&t->cmd), 0x1100);
	CHECK_EQ(bss_get_be(&t->cmd.sense_buffer[8], 4), 0); /* segment 0 */
	CHECK_EQ(fake_pending(1), 0);
	free(t);
	lu_teardown();
}

static void test_source_gone(void)
{
	struct tcmd *t;

	lu_setup();
	/* 17 MiB: the second batch looks the source up again */
	t = xcopy_cmd(g_lu[1], 3, 0, 1, 34816, 0, 40000);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK_EQ(fake_complete_all(0), 16); /* reads */
	bss_lu_of(g_lu[0])->opened = 0;	    /* bs_close started */
	CHECK_EQ(fake_complete_all(0), 16); /* writes */
	CHECK_EQ(g_stub.done_calls, 1);
	CHECK_EQ(sense_key(&t->cmd), 0x0a);
	CHECK_EQ(sense_asc(&t->cmd), 0x0d02);
	CHECK_EQ(fake_pending(0) + fake_pending(1), 0);
	free(t);
	lu_teardown();
}

/* COPY ABORTED, COPY TARGET DEVICE NOT REACHABLE, segment 0, the SKS
 * pointing at the segment's source (4) or destination (6) field. */
static void check_unreachable(struct tcmd *t, unsigned int field)
{
	CHECK_EQ(t->cmd.result, SAM_STAT_CHECK_CONDITION);
	CHECK_EQ(sense_key(&t->cmd), 0x0a);
	CHECK_EQ(sense_asc(&t->cmd), 0x0d02);
	CHECK_EQ(bss_get_be(&t->cmd.sense_buffer[8], 4), 0);
	CHECK_EQ(t->cmd.sense_buffer[15], 0xa0);
	CHECK_EQ(bss_get_be(&t->cmd.sense_buffer[16], 2), field);
}

/* bs_close of a LU while another LU's copy has requests out on it: the
 * copy aborts at once, not when (if ever) the sheep answers. */
static void test_lu_closed_mid_step(void)
{
	struct tcmd *t;
	int dst;

	for (dst = 0; dst < 2; dst++) {
		lu_setup();
		/* LU 2 copies from LU 1 to LU 1; the LU closed is LU 1 */
		t = xcopy_cmd(g_lu[1], 4, 0, 0, 34816, 0, 40000);
		CHECK_EQ(perform(t), SAM_STAT_GOOD);
		if (dst)
			CHECK_EQ(fake_complete_all(0), 16); /* reads back: writes out */
		CHECK_EQ(fake_pending(dst), 16);
		bss_lu_of(g_lu[0])->opened = 0;
		bss_range_close(bss_lu_of(g_lu[0]));
		CHECK_EQ(g_stub.done_calls, 1);
		check_unreachable(t, dst ? 6 : 4);
		CHECK_EQ(g_nr_adopted, 1); /* the copy's state and buffer */
		CHECK(list_empty(&bss_lu_of(g_lu[0])->ranges));
		CHECK_EQ(bss_lu_of(g_lu[1])->nr_inflight, 0);
		CHECK_EQ(fake_drain_silently(), 16);
		bss_lu_of(g_lu[0])->opened = 1;
		free(t);
		lu_teardown();
	}
}

/* The copy waits for a range of the LU being closed: it aborts, and
 * nothing is out that could use its buffer. */
static void test_lu_closed_while_waiting(void)
{
	struct bss_range excl;
	struct tcmd *t;

	lu_setup();
	CHECK_EQ(bss_range_lock(bss_lu_of(g_lu[0]), &excl, 0, 1 << 20, 1, NULL), 1);
	t = xcopy_cmd(g_lu[1], 5, 0, 1, 64, 0, 0);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK_EQ(fake_pending(0), 0);
	bss_lu_of(g_lu[0])->opened = 0;
	bss_range_close(bss_lu_of(g_lu[0]));
	CHECK_EQ(g_stub.done_calls, 1);
	check_unreachable(t, 4);
	CHECK_EQ(g_nr_adopted, 0);
	/* a range with no closed hook stays (its LU is about to be freed) */
	CHECK(!list_empty(&bss_lu_of(g_lu[0])->ranges));
	bss_range_unlock(bss_lu_of(g_lu[0]), &excl);
	bss_lu_of(g_lu[0])->opened = 1;
	free(t);
	lu_teardown();
}

static void test_nomem_and_checks(void)
{
	struct tcmd *t;

	lu_setup();
	t = xcopy_cmd(g_lu[0], 4, 0, 1, 8, 0, 0);
	g_stub.malloc_fail = 1;
	CHECK_EQ(perform(t), SAM_STAT_CHECK_CONDITION);
	g_stub.malloc_fail = 0;
	CHECK_EQ(sense_key(&t->cmd), HARDWARE_ERROR);
	CHECK_EQ(g_nr_req, 0);
	free(t);

	/* beyond the end of LU 2, checked before anything moves */
	t = xcopy_cmd(g_lu[0], 4, 0, 1, 8, 0, LU_SIZE / 512 - 4);
	CHECK_EQ(perform(t), SAM_STAT_CHECK_CONDITION);
	CHECK_EQ(sense_key(&t->cmd), 0x0a);
	CHECK_EQ(t->cmd.sense_buffer[15], 0xa0);
	CHECK_EQ(t->cmd.sense_buffer[17], 20);
	CHECK_EQ(g_nr_req, 0);
	free(t);

	/* read-only destination */
	g_lu[1]->attrs.readonly = 1;
	t = xcopy_cmd(g_lu[0], 4, 0, 1, 8, 0, 0);
	CHECK_EQ(perform(t), SAM_STAT_CHECK_CONDITION);
	CHECK_EQ(sense_key(&t->cmd), DATA_PROTECT);
	free(t);
	CHECK_EQ(g_stub.done_calls, 0);
	lu_teardown();
}

static void test_overlap_backwards(void)
{
	struct tcmd *t;
	uint8_t *want = malloc(0xffffU * 512);
	int n;

	lu_setup();
	fill(0, 0, LU_SIZE);
	/* within LU 1, destination 1 MiB above the source: memmove */
	memcpy(want, g_vdis[0].mem, 0xffffU * 512);
	t = xcopy_cmd(g_lu[0], 5, 0, 0, 0xffff, 0, 2048);
	CHECK_EQ(perform(t), SAM_STAT_GOOD);
	CHECK_EQ(g_req[0].offset, 0xffffU * 512 - (16U << 20)); /* the last batch first */
	while ((n = fake_complete_all(0)) > 0)
		;
	CHECK_EQ(t->cmd.result, SAM_STAT_GOOD);
	CHECK(!memcmp(g_vdis[0].mem + (1 << 20), want, 0xffffU * 512));
	free(want);
	free(t);
	lu_teardown();
}

int main(void)
{
	int passed = 0, failed = 0;

	RUN_TEST(test_copy_two_batches, passed, failed);
	RUN_TEST(test_read_error, passed, failed);
	RUN_TEST(test_source_gone, passed, failed);
	RUN_TEST(test_lu_closed_mid_step, passed, failed);
	RUN_TEST(test_lu_closed_while_waiting, passed, failed);
	RUN_TEST(test_nomem_and_checks, passed, failed);
	RUN_TEST(test_overlap_backwards, passed, failed);
	printf("test_bss_xcopy: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
