/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the data path (bss_io.c, bss_sbc.c) against stubs of the tgt
 * core functions it calls and a fake libsheepdog that holds every request
 * until the test completes it, in any order, with any result.
 *
 * Checks: one completion per command, never from inside submit; sense for
 * each error class and direction; FUA selection (FUA bit, WRITE(6), WCE=0,
 * WRITE AND VERIFY); write-then-read-back-then-compare with the INFORMATION
 * offset; BYTCHK=11b; refused submits completed from the scheduled event;
 * an LU without a vdi; zero-length commands; many commands in flight
 * completed out of order; what submit returns when it cannot start a
 * command (malloc failures, as core's callers read it); SYNCHRONIZE CACHE
 * without a transfer length; GET LBA STATUS; COMPARE AND WRITE (core's
 * checks in the replaced handler, match, MISCOMPARE offset with nothing
 * written, exclusive range: overlapping commands wait for it and it waits
 * for them), ORWRITE, PRE-FETCH (windowed reads, IMMED detached, read-only
 * LU).
 */
#include "../bss.h"
#include "../../tests/unit/sdl_check.h"
#include "bss_tgt_stub.h"

int g_check_failed;

/* ---- fake libsheepdog ---------------------------------------------------- */

enum { FAKE_READ, FAKE_WRITE, FAKE_FLUSH, FAKE_CAW };

struct fake_req {
	int type;
	void *buf;
	size_t count;
	uint64_t offset;
	unsigned int flags;
	sd_aio_cb cb;
	void *opaque;
	int done;
	uint64_t *miscompare; /* FAKE_CAW */
};

#define FAKE_MAX 256
static struct fake_req g_req[FAKE_MAX];
static int g_nr_req;
static int g_refuse; /* next submit fails with this */
static char g_vdi_obj;
static struct sd_vdi *const g_vdi = (struct sd_vdi *)&g_vdi_obj;

static int fake_submit(int type, void *buf, size_t count, uint64_t offset, unsigned int flags,
		       sd_aio_cb cb, void *opaque)
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
	r->flags = flags;
	r->cb = cb;
	r->opaque = opaque;
	return 0;
}

int sd_vdi_aio_read(struct sd_vdi *vdi, void *buf, size_t count, uint64_t offset, sd_aio_cb cb,
		    void *opaque)
{
	CHECK(vdi == g_vdi);
	return fake_submit(FAKE_READ, buf, count, offset, 0, cb, opaque);
}

int sd_vdi_aio_write(struct sd_vdi *vdi, const void *buf, size_t count, uint64_t offset,
		     unsigned flags, sd_aio_cb cb, void *opaque)
{
	CHECK(vdi == g_vdi);
	return fake_submit(FAKE_WRITE, (void *)buf, count, offset, flags, cb, opaque);
}

/* bss_ats.c: the sheep's compare-and-write, its probe, the LU's shape */
static int g_probe_ret;
static int g_nr_probes;

int sd_vdi_aio_cmp_write(struct sd_vdi *vdi, const void *buf, size_t count, uint64_t offset,
			 unsigned flags, uint64_t *miscompare, sd_aio_cb cb, void *opaque)
{
	int ret;

	CHECK(vdi == g_vdi);
	ret = fake_submit(FAKE_CAW, (void *)buf, count, offset, flags, cb, opaque);
	if (!ret)
		g_req[g_nr_req - 1].miscompare = miscompare;
	return ret;
}

int sd_vdi_cmp_write(struct sd_vdi *vdi, const void *buf, size_t count, uint64_t offset,
		     uint64_t *miscompare)
{
	CHECK(vdi == g_vdi && !buf && !count && !offset && !miscompare);
	g_nr_probes++;
	return g_probe_ret;
}

uint32_t sd_vdi_object_size(const struct sd_vdi *vdi)
{
	return 4u << 20;
}

int sd_vdi_is_readonly(const struct sd_vdi *vdi)
{
	return 0;
}

int sd_vdi_aio_flush(struct sd_vdi *vdi, sd_aio_cb cb, void *opaque)
{
	CHECK(vdi == g_vdi);
	return fake_submit(FAKE_FLUSH, NULL, 0, 0, 0, cb, opaque);
}

/* Every object allocated (bss_sbc.c's GET LBA STATUS; test_bss_thin.c
 * tests real maps). */
int sd_vdi_allocated(const struct sd_vdi *vdi, uint64_t offset, uint64_t *run)
{
	if (run)
		*run = (64ULL << 20) - offset;
	return 1;
}

static void fake_complete(int i, int ret)
{
	CHECK(i < g_nr_req && !g_req[i].done);
	if (i >= g_nr_req || g_req[i].done)
		return;
	g_req[i].done = 1;
	g_req[i].cb(g_vdi, ret, g_req[i].opaque);
}

/* Complete a read with every byte set to c. */
static void fake_complete_fill(int i, int c)
{
	if (i < g_nr_req && g_req[i].type == FAKE_READ)
		memset(g_req[i].buf, c, g_req[i].count);
	fake_complete(i, 0);
}

/* ---- fixtures ------------------------------------------------------------ */

static struct scsi_lu *g_lu;
static struct bss_lu *g_blu;

static void lu_setup(void)
{
	g_lu = bss_stub_lu_new(g_vdi, 64ULL << 20, "test");
	g_blu = bss_lu_of(g_lu);
	bss_stub_reset(1);
	g_nr_req = 0;
}

static void lu_teardown(void)
{
	CHECK(g_blu->nr_inflight == 0);
	CHECK(list_empty(&g_blu->inflight));
	CHECK(list_empty(&g_blu->done));
	bss_acb_cache_free(g_blu);
	free(g_lu);
}

struct tcmd {
	struct scsi_cmd cmd;
	uint8_t cdb[16];
	uint8_t *data;
};

static struct tcmd *cmd_new(const uint8_t *cdb, int cdb_len, uint64_t lba, uint32_t blocks,
			    int write)
{
	struct tcmd *t = calloc(1, sizeof(*t));
	size_t len = (size_t)blocks << 9;

	memcpy(t->cdb, cdb, (size_t)cdb_len);
	t->cmd.scb = t->cdb;
	t->cmd.scb_len = cdb_len;
	t->cmd.dev = g_lu;
	t->cmd.offset = lba << 9;
	t->cmd.tl = (uint32_t)len;
	t->data = calloc(1, len ? len : 1);
	if (write) {
		scsi_set_out_buffer(&t->cmd, t->data);
		scsi_set_out_length(&t->cmd, (uint32_t)len);
	} else {
		scsi_set_in_buffer(&t->cmd, t->data);
		scsi_set_in_length(&t->cmd, (uint32_t)len);
	}
	return t;
}

static int submit(struct tcmd *t)
{
	int ret;

	g_stub.in_submit = 1;
	ret = bss_cmd_submit(&t->cmd);
	g_stub.in_submit = 0;
	return ret;
}

static void cmd_free(struct tcmd *t)
{
	free(t->data);
	free(t);
}

/* ---- tests --------------------------------------------------------------- */

static const uint8_t cdb_read10[10] = { READ_10 };
static const uint8_t cdb_write10[10] = { WRITE_10 };
static const uint8_t cdb_write10_fua[10] = { WRITE_10, 0x08 };
static const uint8_t cdb_write6_bit3[6] = { WRITE_6, 0x08 }; /* LBA bits, not FUA */
static const uint8_t cdb_wv10[10] = { WRITE_VERIFY };
static const uint8_t cdb_sync10[10] = { SYNCHRONIZE_CACHE };

static void test_read_ok(void)
{
	struct tcmd *t;

	lu_setup();
	t = cmd_new(cdb_read10, 10, 8191, 4, 0); /* across the 4 MiB boundary */
	CHECK(submit(t) == 0);
	CHECK(cmd_async(&t->cmd));
	CHECK(g_nr_req == 1 && g_req[0].type == FAKE_READ);
	CHECK(g_req[0].offset == 8191ULL * 512 && g_req[0].count == 2048);
	CHECK(g_req[0].buf == t->data);
	CHECK(g_stub.done_calls == 0);
	fake_complete(0, 0);
	CHECK(g_stub.done_calls == 1 && g_stub.last_done == &t->cmd &&
	      t->cmd.result == SAM_STAT_GOOD);
	CHECK(g_stub.done_in_submit == 0);
	cmd_free(t);
	lu_teardown();
}

static void test_errors(void)
{
	static const struct {
		int write, err, key, asc;
	} cases[] = {
		{ 0, -EIO, MEDIUM_ERROR, 0x1100 },
		{ 1, -EIO, MEDIUM_ERROR, 0x0c00 },
		{ 1, -ENOSPC, DATA_PROTECT, 0x2707 },
		{ 1, -EROFS, DATA_PROTECT, 0x2700 },
		{ 0, -ETIMEDOUT, ABORTED_COMMAND, 0x0801 },
		{ 1, -ENOTCONN, ABORTED_COMMAND, 0x0800 },
		{ 0, -ENOMEM, HARDWARE_ERROR, 0x4400 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tcmd *t;

		lu_setup();
		t = cmd_new(cases[i].write ? cdb_write10 : cdb_read10, 10, 0, 8, cases[i].write);
		CHECK(submit(t) == 0);
		fake_complete(0, cases[i].err);
		CHECK(g_stub.done_calls == 1 && t->cmd.result == SAM_STAT_CHECK_CONDITION);
		CHECK(sense_key(&t->cmd) == cases[i].key);
		CHECK(sense_asc(&t->cmd) == cases[i].asc);
		CHECK(g_blu->nr_errors == 1);
		cmd_free(t);
		lu_teardown();
	}
}

static void test_fua(void)
{
	struct tcmd *a, *b, *c, *d;

	lu_setup();
	a = cmd_new(cdb_write10, 10, 0, 1, 1);
	b = cmd_new(cdb_write10_fua, 10, 0, 1, 1);
	c = cmd_new(cdb_write6_bit3, 6, 0, 1, 1);
	CHECK(submit(a) == 0 && submit(b) == 0 && submit(c) == 0);
	CHECK(g_req[0].flags == 0);
	CHECK(g_req[1].flags == SD_AIO_FUA);
	CHECK(g_req[2].flags == 0);
	/* Write cache disabled (WCE=0): every write is FUA. */
	g_stub.caching_pg->mode_data[0] = 0x10;
	d = cmd_new(cdb_write10, 10, 0, 1, 1);
	CHECK(submit(d) == 0);
	CHECK(g_req[3].flags == SD_AIO_FUA);
	fake_complete(2, 0);
	fake_complete(0, 0);
	fake_complete(3, 0);
	fake_complete(1, 0);
	CHECK(g_stub.done_calls == 4);
	cmd_free(a);
	cmd_free(b);
	cmd_free(c);
	cmd_free(d);
	lu_teardown();
}

static void test_write_verify(void)
{
	struct tcmd *t;

	lu_setup();
	t = cmd_new(cdb_wv10, 10, 100, 2, 1);
	memset(t->data, 0x5a, 1024);
	CHECK(submit(t) == 0);
	CHECK(g_req[0].type == FAKE_WRITE && g_req[0].flags == SD_AIO_FUA);
	fake_complete(0, 0);
	CHECK(g_stub.done_calls == 0); /* now reading back */
	CHECK(g_nr_req == 2 && g_req[1].type == FAKE_READ);
	CHECK(g_req[1].offset == 100 * 512 && g_req[1].count == 1024);
	CHECK(g_req[1].buf != t->data);
	memset(g_req[1].buf, 0x5a, 1024);
	fake_complete(1, 0);
	CHECK(g_stub.done_calls == 1 && t->cmd.result == SAM_STAT_GOOD);
	cmd_free(t);

	/* Read-back differs at byte 777: MISCOMPARE, INFORMATION 777. */
	t = cmd_new(cdb_wv10, 10, 100, 2, 1);
	memset(t->data, 0x5a, 1024);
	CHECK(submit(t) == 0);
	fake_complete(2, 0);
	memset(g_req[3].buf, 0x5a, 1024);
	((uint8_t *)g_req[3].buf)[777] = 0;
	fake_complete(3, 0);
	CHECK(g_stub.done_calls == 2 && t->cmd.result == SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&t->cmd) == MISCOMPARE && sense_asc(&t->cmd) == 0x1d00);
	CHECK((t->cmd.sense_buffer[0] & 0x80) && bss_get_be(&t->cmd.sense_buffer[3], 4) == 777);
	cmd_free(t);

	/* The write fails: WRITE ERROR, no read-back. */
	t = cmd_new(cdb_wv10, 10, 100, 2, 1);
	CHECK(submit(t) == 0);
	fake_complete(4, -EIO);
	CHECK(g_nr_req == 5);
	CHECK(sense_key(&t->cmd) == MEDIUM_ERROR && sense_asc(&t->cmd) == 0x0c00);
	cmd_free(t);

	/* The read-back fails: UNRECOVERED READ ERROR. */
	t = cmd_new(cdb_wv10, 10, 100, 2, 1);
	CHECK(submit(t) == 0);
	fake_complete(5, 0);
	fake_complete(6, -EIO);
	CHECK(sense_key(&t->cmd) == MEDIUM_ERROR && sense_asc(&t->cmd) == 0x1100);
	cmd_free(t);
	lu_teardown();
}

static void test_verify(void)
{
	uint8_t cdb[10] = { VERIFY_10, 0x02 };
	uint8_t same[10] = { VERIFY_10, 0x06 };
	struct tcmd *t;

	lu_setup();
	put_unaligned_be16(4, &cdb[7]);
	t = cmd_new(cdb, 10, 8, 4, 1);
	t->cmd.tl = 0; /* core's sbc_verify leaves tl alone */
	memset(t->data, 7, 2048);
	CHECK(submit(t) == 0);
	CHECK(g_req[0].type == FAKE_READ && g_req[0].count == 2048 && g_req[0].offset == 4096);
	memset(g_req[0].buf, 7, 2048);
	((uint8_t *)g_req[0].buf)[2047] = 8;
	fake_complete(0, 0);
	CHECK(sense_key(&t->cmd) == MISCOMPARE && bss_get_be(&t->cmd.sense_buffer[3], 4) == 2047);
	cmd_free(t);

	/* BYTCHK=11b: one block of data-out against each of 4 blocks. */
	put_unaligned_be16(4, &same[7]);
	t = cmd_new(same, 10, 8, 1, 1);
	memset(t->data, 9, 512);
	CHECK(submit(t) == 0);
	CHECK(g_req[1].count == 2048);
	memset(g_req[1].buf, 9, 2048);
	((uint8_t *)g_req[1].buf)[1536 + 3] = 0;
	fake_complete(1, 0);
	CHECK(sense_key(&t->cmd) == MISCOMPARE && bss_get_be(&t->cmd.sense_buffer[3], 4) == 1539);
	cmd_free(t);
	lu_teardown();
}

static void test_refused_submit(void)
{
	struct tcmd *t, *s;

	lu_setup();
	t = cmd_new(cdb_read10, 10, 0, 8, 0);
	g_refuse = -ENOMEM;
	CHECK(submit(t) == 0);
	CHECK(cmd_async(&t->cmd));
	CHECK(g_stub.done_calls == 0); /* never from inside submit */
	CHECK(g_stub.sched == &g_blu->done_ev);
	g_stub.sched->sched_handler(g_stub.sched);
	CHECK(g_stub.done_calls == 1 && t->cmd.result == SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&t->cmd) == HARDWARE_ERROR && sense_asc(&t->cmd) == 0x4400);
	cmd_free(t);

	/* SYNCHRONIZE CACHE refused with -EIO: WRITE ERROR (a flush writes). */
	s = cmd_new(cdb_sync10, 10, 0, 0, 0);
	g_refuse = -EIO;
	CHECK(submit(s) == 0);
	g_stub.sched->sched_handler(g_stub.sched);
	CHECK(sense_key(&s->cmd) == MEDIUM_ERROR && sense_asc(&s->cmd) == 0x0c00);
	cmd_free(s);
	lu_teardown();
}

static void test_no_vdi_and_zero_length(void)
{
	struct tcmd *t;

	lu_setup();
	t = cmd_new(cdb_read10, 10, 0, 0, 0); /* transfer length 0 */
	CHECK(submit(t) == 0);
	CHECK(!cmd_async(&t->cmd) && g_nr_req == 0 && g_stub.done_calls == 0);
	cmd_free(t);

	g_blu->opened = 0;
	g_blu->vdi = NULL;
	t = cmd_new(cdb_sync10, 10, 0, 0, 0);
	CHECK(submit(t) == 0);
	CHECK(g_nr_req == 0 && g_stub.done_calls == 0);
	g_stub.sched->sched_handler(g_stub.sched);
	CHECK(sense_key(&t->cmd) == NOT_READY && sense_asc(&t->cmd) == 0x3a00);
	cmd_free(t);
	lu_teardown();
}

static void test_many_out_of_order(void)
{
	struct tcmd *t[200];
	int i, done = 0;

	lu_setup();
	for (i = 0; i < 200; i++) {
		t[i] = cmd_new(i % 2 ? cdb_write10 : cdb_read10, 10, (uint64_t)i * 8, 8, i % 2);
		CHECK(submit(t[i]) == 0);
	}
	CHECK(g_nr_req == 200 && g_blu->nr_inflight == 200 && g_blu->peak_inflight == 200);
	/* Complete in a scrambled order (7 is coprime with 200). */
	for (i = 0; i < 200; i++) {
		int k = (i * 7) % 200;

		fake_complete(k, 0);
		done++;
		CHECK(g_stub.done_calls == done && g_stub.last_done == &t[k]->cmd);
	}
	CHECK(g_blu->nr_free == 200); /* every acb recycled */
	for (i = 0; i < 200; i++)
		cmd_free(t[i]);
	lu_teardown();
}

/* tgt's sbc_sync_cache() fails the command only for these returns; any
 * other value, -1 and negative errnos included, becomes GOOD. */
static int sync_cache_fails(int ret)
{
	return ret == EROFS || ret == EINVAL || ret == EBADF || ret == EIO;
}

static void test_submit_failures(void)
{
	static const uint8_t cdb_unmap[10] = { 0x42 }; /* not in the module's map */
	uint8_t verify[10] = { VERIFY_10, 0x02 };
	struct tcmd *t;
	int ret;

	lu_setup();
	/* No acb for a SYNCHRONIZE CACHE: the return must make core answer
	 * HARDWARE ERROR, not GOOD, and nothing may be left in flight. */
	t = cmd_new(cdb_sync10, 10, 0, 0, 0);
	g_stub.malloc_fail = 1;
	ret = submit(t);
	CHECK_EQ(ret, BSS_SUBMIT_FAILED);
	CHECK(sync_cache_fails(ret));
	CHECK(!cmd_async(&t->cmd) && g_nr_req == 0 && g_stub.done_calls == 0 &&
	      g_stub.sched == NULL);
	CHECK_EQ(g_blu->nr_inflight, 0);
	cmd_free(t);

	/* The same for a READ (core's sbc_rw fails on any non-zero value). */
	t = cmd_new(cdb_read10, 10, 0, 8, 0);
	g_stub.malloc_fail = 1;
	CHECK_EQ(submit(t), BSS_SUBMIT_FAILED);
	CHECK(!cmd_async(&t->cmd) && g_nr_req == 0 && g_stub.done_calls == 0);
	cmd_free(t);

	/* One completed READ leaves an acb in the cache; a VERIFY then gets
	 * it but not its read-back buffer: the acb goes back to the cache. */
	t = cmd_new(cdb_read10, 10, 0, 8, 0);
	CHECK(submit(t) == 0);
	fake_complete(0, 0);
	cmd_free(t);
	CHECK_EQ(g_blu->nr_free, 1);
	put_unaligned_be16(1, &verify[7]);
	t = cmd_new(verify, 10, 0, 1, 1);
	t->cmd.tl = 0;
	g_stub.malloc_fail = 1;
	CHECK_EQ(submit(t), BSS_SUBMIT_FAILED);
	CHECK(!cmd_async(&t->cmd) && g_nr_req == 1 && g_stub.done_calls == 1);
	CHECK_EQ(g_blu->nr_free, 1);
	cmd_free(t);

	/* An opcode outside the map never reaches a healthy module; if it
	 * does, it fails the same way. */
	t = cmd_new(cdb_unmap, 10, 0, 0, 0);
	CHECK_EQ(submit(t), BSS_SUBMIT_FAILED);
	CHECK(!cmd_async(&t->cmd) && g_nr_req == 1);
	cmd_free(t);
	g_stub.malloc_fail = 0;
	lu_teardown();
}

static void test_flush(void)
{
	static const uint8_t cdb_sync16_immed[16] = { SYNCHRONIZE_CACHE_16, 0x02 };
	struct bss_aiocb *acb;
	struct tcmd *a, *b;
	int n = 0;

	lu_setup();
	/* Core's sbc_sync_cache() sets neither cmd->tl nor a buffer: no data
	 * moves, yet each command sends one flush and completes with it. */
	a = cmd_new(cdb_sync10, 10, 0, 0, 0);
	b = cmd_new(cdb_sync16_immed, 16, 0, 0, 0);
	CHECK(submit(a) == 0 && submit(b) == 0);
	CHECK(cmd_async(&a->cmd) && cmd_async(&b->cmd));
	CHECK(g_nr_req == 2 && g_req[0].type == FAKE_FLUSH && g_req[1].type == FAKE_FLUSH);
	list_for_each_entry(acb, &g_blu->inflight, entry) {
		CHECK_EQ(acb->length, 0); /* what the error log reports */
		CHECK(acb->is_write);
		n++;
	}
	CHECK_EQ(n, 2);
	CHECK_EQ(g_stub.done_calls, 0);
	fake_complete(1, 0);
	CHECK(g_stub.done_calls == 1 && g_stub.last_done == &b->cmd &&
	      b->cmd.result == SAM_STAT_GOOD);
	/* A flush that fails at sheep fails the command (never GOOD). */
	fake_complete(0, -ETIMEDOUT);
	CHECK(g_stub.done_calls == 2 && a->cmd.result == SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&a->cmd) == ABORTED_COMMAND && sense_asc(&a->cmd) == 0x0801);
	cmd_free(a);
	cmd_free(b);
	lu_teardown();
}

static int core_rc16(int host_no, struct scsi_cmd *cmd)
{
	return 1;
}

static int core_get_lba_status(int host_no, struct scsi_cmd *cmd)
{
	return 2;
}

static void test_get_lba_status(void)
{
	struct service_action orig[] = {
		{ SAI_READ_CAPACITY_16, core_rc16 },
		{ SAI_GET_LBA_STATUS, core_get_lba_status },
		{ 0, NULL },
	};
	uint8_t cdb[16] = { SERVICE_ACTION_IN, SAI_GET_LBA_STATUS };
	struct service_action *sa;
	struct tcmd *t;

	lu_setup();
	g_lu->dev_type_template.ops[SERVICE_ACTION_IN].service_actions = orig;
	bss_sbc_override(g_lu);
	sa = g_lu->dev_type_template.ops[SERVICE_ACTION_IN].service_actions;
	CHECK(sa != orig);
	CHECK(sa[0].service_action == SAI_READ_CAPACITY_16 &&
	      sa[0].cmd_perform == orig[0].cmd_perform);
	CHECK(sa[1].service_action == SAI_GET_LBA_STATUS &&
	      sa[1].cmd_perform != orig[1].cmd_perform);
	CHECK(sa[2].cmd_perform == NULL);

	put_unaligned_be64(100, &cdb[2]);
	put_unaligned_be32(32, &cdb[10]);
	t = cmd_new(cdb, 16, 0, 1, 0);
	CHECK(sa[1].cmd_perform(0, &t->cmd) == SAM_STAT_GOOD);
	CHECK(bss_get_be(&t->data[0], 4) == 20);
	CHECK(bss_get_be(&t->data[8], 8) == 100);
	CHECK(bss_get_be(&t->data[16], 4) == (64u << 11) - 100);
	CHECK(t->data[20] == 0);
	cmd_free(t);

	put_unaligned_be64(UINT64_C(1) << 63, &cdb[2]); /* offset would overflow */
	t = cmd_new(cdb, 16, 0, 1, 0);
	CHECK(sa[1].cmd_perform(0, &t->cmd) == SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&t->cmd) == ILLEGAL_REQUEST && sense_asc(&t->cmd) == 0x2100);
	cmd_free(t);
	lu_teardown();
}

static int g_granted[8];

static void range_granted(struct bss_range *r)
{
	g_granted[r->start / 100]++;
}

/* Ranges: shared ones overlap freely, an exclusive one waits for every
 * overlapping range ahead of it and blocks overlapping ones behind it
 * (FIFO), disjoint ranges never wait. */
static void test_range_lock(void)
{
	struct bss_range r[8];

	lu_setup();
	memset(g_granted, 0, sizeof(g_granted));
	CHECK(bss_range_lock(g_blu, &r[0], 0, 150, 0, range_granted) == 1);   /* [0,150) sh */
	CHECK(bss_range_lock(g_blu, &r[1], 100, 100, 0, range_granted) == 1); /* [100,200) sh */
	CHECK(bss_range_lock(g_blu, &r[2], 200, 50, 1, range_granted) == 1);  /* disjoint ex */
	CHECK(bss_range_lock(g_blu, &r[3], 300, 100, 1, range_granted) == 1); /* disjoint ex */
	CHECK(bss_range_lock(g_blu, &r[4], 400, 100, 1, range_granted) == 1); /* adjacent: ok */
	CHECK(bss_range_lock(g_blu, &r[5], 500, 10, 1, range_granted) == 1);
	bss_range_unlock(g_blu, &r[5]);
	CHECK(bss_range_lock(g_blu, &r[5], 500, 10, 1, range_granted) == 1);
	bss_range_unlock(g_blu, &r[5]);
	bss_range_unlock(g_blu, &r[2]);
	bss_range_unlock(g_blu, &r[3]);
	bss_range_unlock(g_blu, &r[4]);

	/* exclusive [140,160) overlaps both shared ones */
	CHECK(bss_range_lock(g_blu, &r[6], 140, 20, 1, range_granted) == 0);
	/* a shared one behind it that overlaps it waits too (no starvation) */
	CHECK(bss_range_lock(g_blu, &r[7], 150, 5, 0, range_granted) == 0);
	/* ... a shared one that does not overlap it does not */
	CHECK(bss_range_lock(g_blu, &r[5], 500, 10, 0, range_granted) == 1);
	bss_range_unlock(g_blu, &r[0]);
	CHECK(g_granted[1] == 0 && r[6].granted == 0);
	bss_range_unlock(g_blu, &r[1]);
	CHECK(g_granted[1] == 1 && r[6].granted == 1);
	CHECK(r[7].granted == 0);
	bss_range_unlock(g_blu, &r[6]);
	CHECK(r[7].granted == 1);
	bss_range_unlock(g_blu, &r[7]);
	bss_range_unlock(g_blu, &r[5]);
	CHECK(list_empty(&g_blu->ranges) && g_blu->nr_excl_ranges == 0);
	lu_teardown();
}

/* ---- COMPARE AND WRITE, ORWRITE, PRE-FETCH (bss_caw.c) ------------------ */

static int (*g_caw)(int, struct scsi_cmd *);
static int (*g_prefetch)(int, struct scsi_cmd *);

static void caw_setup(void)
{
	lu_setup();
	g_stub.reserved = 0;
	g_lu->dev_type_template.ops[COMPARE_AND_WRITE].cmd_perform = NULL;
	bss_sbc_override(g_lu);
	g_caw = g_lu->dev_type_template.ops[COMPARE_AND_WRITE].cmd_perform;
	g_prefetch = g_lu->dev_type_template.ops[PRE_FETCH_16].cmd_perform;
}

/* A COMPARE AND WRITE of n blocks at lba with data-out of out_blocks. */
static struct tcmd *caw_new(uint64_t lba, unsigned int n, unsigned int out_blocks, uint8_t flags)
{
	uint8_t cdb[16] = { COMPARE_AND_WRITE, flags };
	struct tcmd *t;

	put_unaligned_be64(lba, &cdb[2]);
	cdb[13] = (uint8_t)n;
	t = cmd_new(cdb, 16, 0, out_blocks, 1);
	t->cmd.offset = 0; /* the handler sets it, core does not */
	t->cmd.tl = 0;
	return t;
}

static int caw_perform(struct tcmd *t)
{
	int ret;

	g_stub.in_submit = 1;
	ret = g_caw(0, &t->cmd);
	g_stub.in_submit = 0;
	return ret;
}

static void test_caw_checks(void)
{
	struct device_type_operations *ops;
	struct tcmd *t;
	size_t i;
	static const struct {
		uint64_t lba;
		unsigned int n, out;
		uint8_t flags;
		int ro, key, asc;
	} cases[] = {
		{ 0, 1, 2, 0x20, 0, ILLEGAL_REQUEST, 0x2400 },		 /* WRPROTECT */
		{ 0, 1, 2, 0, 1, DATA_PROTECT, 0x2700 },		 /* read-only LU */
		{ 0, 129, 258, 0, 0, ILLEGAL_REQUEST, 0x2400 },		 /* > MAX CAW LENGTH */
		{ (64 << 11) - 1, 2, 4, 0, 0, ILLEGAL_REQUEST, 0x2100 }, /* past the end */
		{ UINT64_MAX, 1, 2, 0, 0, ILLEGAL_REQUEST, 0x2100 },	 /* overflow */
		{ 64 << 11, 0, 0, 0, 0, ILLEGAL_REQUEST, 0x2100 },	 /* 0 blocks, past */
		{ 0, 2, 2, 0, 0, ILLEGAL_REQUEST, 0x2400 },		 /* data-out too short */
		{ 0, 1, 3, 0, 0, ILLEGAL_REQUEST, 0x2400 },		 /* data-out too long */
	};

	caw_setup();
	ops = g_lu->dev_type_template.ops;
	CHECK(g_caw != NULL && g_prefetch != NULL);
	CHECK(ops[PRE_FETCH_10].cmd_perform == g_prefetch);
	CHECK_EQ(ops[COMPARE_AND_WRITE].pr_conflict_bits,
		 PR_WE_FA | PR_EA_FA | PR_WE_FN | PR_EA_FN);
	CHECK_EQ(ops[ORWRITE_16].pr_conflict_bits, PR_WE_FA | PR_EA_FA | PR_WE_FN | PR_EA_FN);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		g_lu->attrs.readonly = cases[i].ro;
		t = caw_new(cases[i].lba, cases[i].n, cases[i].out, cases[i].flags);
		CHECK_EQ(caw_perform(t), SAM_STAT_CHECK_CONDITION);
		CHECK(!cmd_async(&t->cmd));
		CHECK_EQ(sense_key(&t->cmd), cases[i].key);
		CHECK_EQ(sense_asc(&t->cmd), cases[i].asc);
		cmd_free(t);
	}
	g_lu->attrs.readonly = 0;
	CHECK_EQ(g_nr_req, 0);

	/* SCSI-2 reservation held by another nexus */
	g_stub.reserved = 1;
	t = caw_new(0, 1, 2, 0);
	CHECK_EQ(caw_perform(t), SAM_STAT_RESERVATION_CONFLICT);
	cmd_free(t);
	g_stub.reserved = 0;

	/* 0 blocks: GOOD without I/O, not async */
	t = caw_new(10, 0, 0, 0);
	CHECK_EQ(caw_perform(t), SAM_STAT_GOOD);
	CHECK(!cmd_async(&t->cmd) && g_nr_req == 0 && g_stub.done_calls == 0);
	cmd_free(t);

	/* the last block is in range */
	t = caw_new((64 << 11) - 1, 1, 2, 0);
	CHECK_EQ(caw_perform(t), SAM_STAT_GOOD);
	CHECK(cmd_async(&t->cmd) && g_nr_req == 1);
	CHECK(g_req[0].offset == (64ULL << 20) - 512 && g_req[0].count == 512);
	fake_complete_fill(0, 0); /* zeros match the zeroed data-out */
	CHECK(g_nr_req == 2 && g_req[1].type == FAKE_WRITE);
	fake_complete(1, 0);
	CHECK(g_stub.done_calls == 1 && t->cmd.result == SAM_STAT_GOOD);
	cmd_free(t);

	/* no acb: HARDWARE ERROR, synchronously */
	t = caw_new(0, 1, 2, 0);
	g_stub.malloc_fail = 1;
	CHECK_EQ(caw_perform(t), SAM_STAT_CHECK_CONDITION);
	CHECK(!cmd_async(&t->cmd) && sense_key(&t->cmd) == HARDWARE_ERROR);
	g_stub.malloc_fail = 0;
	cmd_free(t);
	lu_teardown();
}

static void test_caw_match_and_miscompare(void)
{
	struct tcmd *t;

	caw_setup();
	/* 3 blocks across the 4 MiB object boundary, FUA */
	t = caw_new(8191, 3, 6, 0x08);
	memset(t->data, 'A', 1536);
	memset(t->data + 1536, 'B', 1536);
	CHECK_EQ(caw_perform(t), SAM_STAT_GOOD);
	CHECK(cmd_async(&t->cmd) && g_stub.done_calls == 0 && g_stub.done_in_submit == 0);
	CHECK(g_nr_req == 1 && g_req[0].type == FAKE_READ);
	CHECK(g_req[0].offset == 8191ULL * 512 && g_req[0].count == 1536);
	memset(g_req[0].buf, 'A', 1536);
	fake_complete(0, 0);
	CHECK(g_nr_req == 2 && g_req[1].type == FAKE_WRITE && g_req[1].flags == SD_AIO_FUA);
	CHECK(g_req[1].offset == 8191ULL * 512 && g_req[1].count == 1536);
	CHECK(g_req[1].buf == t->data + 1536);
	CHECK_EQ(g_stub.done_calls, 0);
	fake_complete(1, 0);
	CHECK(g_stub.done_calls == 1 && t->cmd.result == SAM_STAT_GOOD);
	cmd_free(t);

	/* differs at byte 1000: MISCOMPARE, INFORMATION 1000, nothing written */
	t = caw_new(8191, 3, 6, 0);
	memset(t->data, 'A', 1536);
	CHECK_EQ(caw_perform(t), SAM_STAT_GOOD);
	memset(g_req[2].buf, 'A', 1536);
	((uint8_t *)g_req[2].buf)[1000] = 'C';
	fake_complete(2, 0);
	CHECK_EQ(g_nr_req, 3);
	CHECK(g_stub.done_calls == 2 && t->cmd.result == SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&t->cmd) == MISCOMPARE && sense_asc(&t->cmd) == 0x1d00);
	CHECK((t->cmd.sense_buffer[0] & 0x80) && bss_get_be(&t->cmd.sense_buffer[3], 4) == 1000);
	cmd_free(t);

	/* first byte differs: INFORMATION 0 (still VALID) */
	t = caw_new(0, 1, 2, 0);
	memset(t->data, 'A', 512);
	CHECK_EQ(caw_perform(t), SAM_STAT_GOOD);
	fake_complete_fill(3, 0);
	CHECK(sense_key(&t->cmd) == MISCOMPARE && (t->cmd.sense_buffer[0] & 0x80));
	CHECK_EQ(bss_get_be(&t->cmd.sense_buffer[3], 4), 0);
	cmd_free(t);

	/* the read fails: UNRECOVERED READ ERROR; the write fails: WRITE ERROR */
	t = caw_new(0, 1, 2, 0);
	CHECK_EQ(caw_perform(t), SAM_STAT_GOOD);
	fake_complete(4, -EIO);
	CHECK(sense_key(&t->cmd) == MEDIUM_ERROR && sense_asc(&t->cmd) == 0x1100);
	cmd_free(t);
	t = caw_new(0, 1, 2, 0);
	CHECK_EQ(caw_perform(t), SAM_STAT_GOOD);
	fake_complete_fill(5, 0);
	fake_complete(6, -EIO);
	CHECK(sense_key(&t->cmd) == MEDIUM_ERROR && sense_asc(&t->cmd) == 0x0c00);
	cmd_free(t);

	/* the read refused at submit: completed from the done event */
	t = caw_new(0, 1, 2, 0);
	g_refuse = -ENOMEM;
	CHECK_EQ(caw_perform(t), SAM_STAT_GOOD);
	CHECK(cmd_async(&t->cmd) && g_stub.done_calls == 5);
	g_stub.sched->sched_handler(g_stub.sched);
	CHECK(g_stub.done_calls == 6 && sense_key(&t->cmd) == HARDWARE_ERROR);
	cmd_free(t);
	CHECK(list_empty(&g_blu->ranges));
	lu_teardown();
}

/* The exclusive range: a WRITE submitted after a CAW on overlapping blocks
 * waits until the CAW is done; a disjoint one does not; a CAW submitted
 * after an overlapping WRITE waits for that WRITE. */
/* shared=1 and the sheep's op (bss_ats.c): one request, same sense */
static void test_caw_cluster(void)
{
	struct tcmd *t;

	caw_setup();
	/* shared=0 does not ask; a sheep without the op: local */
	g_blu->opts.shared = 0;
	g_nr_probes = 0;
	bss_caw_probe(g_lu);
	CHECK(g_nr_probes == 0 && g_blu->caw_start == NULL);
	g_blu->opts.shared = 1;
	g_probe_ret = -EOPNOTSUPP;
	bss_caw_probe(g_lu);
	CHECK(g_nr_probes == 1 && g_blu->caw_start == NULL);
	g_probe_ret = 0;
	bss_caw_probe(g_lu);
	CHECK(g_nr_probes == 2 && g_blu->caw_start != NULL);

	/* one block, FUA: one compare-and-write, the data-out buffer as is */
	t = caw_new(100, 1, 2, 0x08);
	memset(t->data, 'A', 1024);
	CHECK_EQ(caw_perform(t), SAM_STAT_GOOD);
	CHECK(g_nr_req == 1 && g_req[0].type == FAKE_CAW && g_req[0].buf == t->data);
	CHECK(g_req[0].offset == 100 * 512 && g_req[0].count == 512 &&
	      g_req[0].flags == SD_AIO_FUA);
	CHECK(!list_empty(&g_blu->ranges)); /* the local range is held meanwhile */
	fake_complete(0, 0);
	CHECK(g_stub.done_calls == 1 && t->cmd.result == SAM_STAT_GOOD);
	cmd_free(t);

	/* MISCOMPARE: INFORMATION from the sheep's offset */
	t = caw_new(100, 2, 4, 0);
	CHECK_EQ(caw_perform(t), SAM_STAT_GOOD);
	CHECK(g_nr_req == 2 && g_req[1].type == FAKE_CAW && g_req[1].miscompare);
	*g_req[1].miscompare = 700;
	fake_complete(1, -EILSEQ);
	CHECK(g_stub.done_calls == 2 && t->cmd.result == SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&t->cmd) == MISCOMPARE && sense_asc(&t->cmd) == 0x1d00);
	CHECK((t->cmd.sense_buffer[0] & 0x80) && bss_get_be(&t->cmd.sense_buffer[3], 4) == 700);
	cmd_free(t);

	/* across the 4 MiB object boundary: the local read-compare-write */
	t = caw_new(8191, 2, 4, 0);
	CHECK_EQ(caw_perform(t), SAM_STAT_GOOD);
	CHECK(g_nr_req == 3 && g_req[2].type == FAKE_READ);
	fake_complete_fill(2, 0);
	CHECK(g_nr_req == 4 && g_req[3].type == FAKE_WRITE);
	fake_complete(3, 0);
	CHECK(g_stub.done_calls == 3 && t->cmd.result == SAM_STAT_GOOD);
	cmd_free(t);

	/* other errors as usual */
	t = caw_new(100, 1, 2, 0);
	CHECK_EQ(caw_perform(t), SAM_STAT_GOOD);
	fake_complete(4, -EIO);
	CHECK(g_stub.done_calls == 4 && t->cmd.result == SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&t->cmd) != MISCOMPARE);
	cmd_free(t);

	/* the sheep lost the op: redone locally, and the LU stays local */
	t = caw_new(100, 1, 2, 0);
	CHECK_EQ(caw_perform(t), SAM_STAT_GOOD);
	CHECK(g_nr_req == 6 && g_req[5].type == FAKE_CAW);
	fake_complete(5, -EOPNOTSUPP);
	CHECK(g_blu->caw_start == NULL && g_stub.done_calls == 4);
	CHECK(g_nr_req == 7 && g_req[6].type == FAKE_READ);
	fake_complete_fill(6, 0);
	CHECK(g_nr_req == 8 && g_req[7].type == FAKE_WRITE);
	fake_complete(7, 0);
	CHECK(g_stub.done_calls == 5 && t->cmd.result == SAM_STAT_GOOD);
	cmd_free(t);
	CHECK(list_empty(&g_blu->ranges));
	lu_teardown();
}

static void test_caw_lock_order(void)
{
	struct tcmd *caw, *w1, *w2, *r, *caw2;

	caw_setup();
	caw = caw_new(100, 2, 4, 0);
	CHECK_EQ(caw_perform(caw), SAM_STAT_GOOD);
	CHECK(g_nr_req == 1 && g_req[0].type == FAKE_READ);

	w1 = cmd_new(cdb_write10, 10, 101, 8, 1); /* overlaps block 101 */
	CHECK(submit(w1) == 0 && cmd_async(&w1->cmd));
	r = cmd_new(cdb_read10, 10, 99, 2, 0); /* overlaps block 100 */
	CHECK(submit(r) == 0);
	w2 = cmd_new(cdb_write10, 10, 102, 8, 1); /* adjacent, disjoint */
	CHECK(submit(w2) == 0);
	CHECK(g_nr_req == 2 && g_req[1].type == FAKE_WRITE && g_req[1].offset == 102 * 512);

	fake_complete_fill(0, 0); /* zeros match: the CAW writes */
	CHECK(g_nr_req == 3 && g_req[2].type == FAKE_WRITE && g_req[2].offset == 100 * 512);
	CHECK(g_req[2].buf == caw->data + 1024);
	fake_complete(2, 0);
	CHECK(g_stub.done_calls == 1 && g_stub.last_done != &w1->cmd &&
	      caw->cmd.result == SAM_STAT_GOOD);
	/* released: the waiting WRITE and READ go now, in order */
	CHECK(g_nr_req == 5 && g_req[3].type == FAKE_WRITE && g_req[3].offset == 101 * 512);
	CHECK(g_req[4].type == FAKE_READ && g_req[4].offset == 99 * 512);

	/* a CAW behind the overlapping WRITE w1 (still out) waits for it */
	caw2 = caw_new(108, 1, 2, 0);
	CHECK_EQ(caw_perform(caw2), SAM_STAT_GOOD);
	CHECK_EQ(g_nr_req, 5);
	fake_complete(4, 0);
	fake_complete(1, 0);
	CHECK_EQ(g_nr_req, 5);
	fake_complete(3, 0); /* w1 done: caw2 reads */
	CHECK(g_nr_req == 6 && g_req[5].type == FAKE_READ && g_req[5].offset == 108 * 512);
	fake_complete_fill(5, 0);
	fake_complete(6, 0);
	CHECK(g_stub.done_calls == 5 && caw2->cmd.result == SAM_STAT_GOOD);
	CHECK(list_empty(&g_blu->ranges) && g_blu->nr_excl_ranges == 0);
	cmd_free(caw);
	cmd_free(caw2);
	cmd_free(w1);
	cmd_free(w2);
	cmd_free(r);
	lu_teardown();
}

static void test_orwrite(void)
{
	uint8_t cdb[16] = { ORWRITE_16, 0 };
	struct tcmd *t, *w;
	uint8_t *got;

	caw_setup();
	t = cmd_new(cdb, 16, 50, 2, 1);
	memset(t->data, 0x5a, 1024);
	t->data[3] = 0x01;
	CHECK(submit(t) == 0 && cmd_async(&t->cmd));
	CHECK(g_nr_req == 1 && g_req[0].type == FAKE_READ && g_req[0].count == 1024);
	CHECK(g_req[0].offset == 50 * 512);
	/* an overlapping WRITE waits for the exclusive range */
	w = cmd_new(cdb_write10, 10, 51, 1, 1);
	CHECK(submit(w) == 0 && g_nr_req == 1);
	memset(g_req[0].buf, 0xa0, 1024);
	fake_complete(0, 0);
	CHECK(g_nr_req == 2 && g_req[1].type == FAKE_WRITE && g_req[1].count == 1024);
	CHECK(g_req[1].flags == 0);
	got = g_req[1].buf;
	CHECK(got[0] == 0xfa && got[3] == 0xa1 && got[1023] == 0xfa);
	fake_complete(1, 0);
	CHECK(g_stub.done_calls == 1 && t->cmd.result == SAM_STAT_GOOD);
	CHECK(g_nr_req == 3); /* the WRITE went */
	fake_complete(2, 0);
	cmd_free(t);
	cmd_free(w);

	/* FUA; a failed read */
	cdb[1] = 0x08;
	t = cmd_new(cdb, 16, 0, 1, 1);
	CHECK(submit(t) == 0);
	fake_complete(3, 0);
	CHECK(g_req[4].flags == SD_AIO_FUA);
	fake_complete(4, 0);
	cmd_free(t);
	t = cmd_new(cdb, 16, 0, 1, 1);
	CHECK(submit(t) == 0);
	fake_complete(5, -EIO);
	CHECK(sense_key(&t->cmd) == MEDIUM_ERROR && sense_asc(&t->cmd) == 0x1100);
	cmd_free(t);
	lu_teardown();
}

static struct tcmd *prefetch_new(int op16, uint64_t lba, uint32_t n, int immed)
{
	uint8_t cdb[16] = { op16 ? PRE_FETCH_16 : PRE_FETCH_10, immed ? 0x02 : 0 };
	struct tcmd *t;

	if (op16) {
		put_unaligned_be64(lba, &cdb[2]);
		put_unaligned_be32(n, &cdb[10]);
	} else {
		put_unaligned_be32((uint32_t)lba, &cdb[2]);
		put_unaligned_be16((uint16_t)n, &cdb[7]);
	}
	t = cmd_new(cdb, op16 ? 16 : 10, 0, 0, 0);
	return t;
}

static int prefetch_perform(struct tcmd *t)
{
	int ret;

	g_stub.in_submit = 1;
	ret = g_prefetch(0, &t->cmd);
	g_stub.in_submit = 0;
	return ret;
}

static void test_prefetch(void)
{
	struct tcmd *t;
	int i;

	caw_setup();
	g_lu->attrs.readonly = 1; /* a snapshot LUN: PRE-FETCH still works */
	/* 9 MiB + 1 block, IMMED=0: rounds of 4 x 1 MiB, GOOD at the end */
	t = prefetch_new(1, 2048, 18433, 0);
	CHECK_EQ(prefetch_perform(t), SAM_STAT_GOOD);
	CHECK(cmd_async(&t->cmd) && g_stub.done_calls == 0);
	CHECK_EQ(g_nr_req, 4);
	for (i = 0; i < 4; i++)
		CHECK(g_req[i].type == FAKE_READ && g_req[i].count == (1 << 20) &&
		      g_req[i].offset == (1ULL << 20) + ((uint64_t)i << 20));
	CHECK(g_req[0].buf == g_req[3].buf); /* one scratch buffer */
	for (i = 0; i < 4; i++)
		fake_complete(i, 0);
	CHECK_EQ(g_nr_req, 8);
	for (i = 4; i < 8; i++)
		fake_complete(i, 0);
	CHECK(g_nr_req == 10 && g_req[8].count == 1 << 20 && g_req[9].count == 512);
	CHECK(g_req[9].offset == (10ULL << 20));
	fake_complete(8, 0);
	CHECK_EQ(g_stub.done_calls, 0);
	fake_complete(9, 0);
	CHECK(g_stub.done_calls == 1 && t->cmd.result == SAM_STAT_GOOD);
	CHECK(list_empty(&g_blu->ranges));
	cmd_free(t);

	/* PREFETCH LENGTH 0: to the end of the LU, at most 64 MiB */
	t = prefetch_new(0, 0, 0, 0);
	CHECK_EQ(prefetch_perform(t), SAM_STAT_GOOD);
	for (i = 10; i < g_nr_req; i++)
		fake_complete(i, 0);
	while (g_stub.done_calls < 2 && g_nr_req < FAKE_MAX) {
		int from = i;

		for (; i < g_nr_req; i++)
			fake_complete(i, 0);
		if (i == from)
			break;
	}
	CHECK(g_stub.done_calls == 2 && g_nr_req == 10 + 64);
	cmd_free(t);

	/* a read error fails it */
	t = prefetch_new(0, 0, 8, 0);
	CHECK_EQ(prefetch_perform(t), SAM_STAT_GOOD);
	fake_complete(74, -EIO);
	CHECK(g_stub.done_calls == 3 && sense_key(&t->cmd) == MEDIUM_ERROR &&
	      sense_asc(&t->cmd) == 0x1100);
	cmd_free(t);

	/* beyond the end, and overflowing */
	t = prefetch_new(1, (64 << 11) - 1, 2, 0);
	CHECK_EQ(prefetch_perform(t), SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&t->cmd) == ILLEGAL_REQUEST && sense_asc(&t->cmd) == 0x2100);
	cmd_free(t);
	t = prefetch_new(1, UINT64_MAX, 1, 0);
	CHECK_EQ(prefetch_perform(t), SAM_STAT_CHECK_CONDITION);
	cmd_free(t);
	t = prefetch_new(0, 64 << 11, 0, 0);
	CHECK_EQ(prefetch_perform(t), SAM_STAT_CHECK_CONDITION);
	cmd_free(t);
	CHECK_EQ(g_nr_req, 75);

	/* no vdi: NOT READY, with IMMED too */
	g_blu->opened = 0;
	t = prefetch_new(0, 0, 8, 1);
	CHECK_EQ(prefetch_perform(t), SAM_STAT_CHECK_CONDITION);
	CHECK(sense_key(&t->cmd) == NOT_READY && sense_asc(&t->cmd) == 0x3a00);
	cmd_free(t);
	g_blu->opened = 1;
	lu_teardown();
}

static void test_prefetch_immed(void)
{
	struct tcmd *t[6];
	int i;

	caw_setup();
	/* IMMED: GOOD now (not async), the reads go on without the command */
	t[0] = prefetch_new(1, 0, 16384, 1); /* 8 MiB */
	CHECK_EQ(prefetch_perform(t[0]), SAM_STAT_GOOD);
	CHECK(!cmd_async(&t[0]->cmd) && g_nr_req == 4 && g_blu->nr_prefetch_bg == 1);
	for (i = 0; i < 4; i++)
		fake_complete(i, i == 2 ? -EIO : 0); /* an error just ends it */
	CHECK(g_nr_req == 4 && g_blu->nr_prefetch_bg == 0 && g_stub.done_calls == 0);
	CHECK_EQ(g_blu->nr_inflight, 0);

	/* at most 4 detached at once; the fifth is answered without reads */
	for (i = 0; i < 5; i++) {
		t[i + 1 > 5 ? 5 : i + 1] = prefetch_new(0, (uint64_t)i * 8, 8, 1);
		CHECK_EQ(prefetch_perform(t[i + 1 > 5 ? 5 : i + 1]), SAM_STAT_GOOD);
	}
	CHECK(g_nr_req == 8 && g_blu->nr_prefetch_bg == 4);
	/* the LU closes: the next round is not sent */
	fake_complete(4, 0);
	g_blu->opened = 0;
	for (i = 5; i < 8; i++)
		fake_complete(i, 0);
	CHECK(g_nr_req == 8 && g_blu->nr_prefetch_bg == 0 && g_stub.done_calls == 0);
	for (i = 0; i < 6; i++)
		cmd_free(t[i]);
	lu_teardown();
}

int main(void)
{
	int passed = 0, failed = 0;

	RUN_TEST(test_read_ok, passed, failed);
	RUN_TEST(test_errors, passed, failed);
	RUN_TEST(test_fua, passed, failed);
	RUN_TEST(test_write_verify, passed, failed);
	RUN_TEST(test_verify, passed, failed);
	RUN_TEST(test_refused_submit, passed, failed);
	RUN_TEST(test_no_vdi_and_zero_length, passed, failed);
	RUN_TEST(test_many_out_of_order, passed, failed);
	RUN_TEST(test_submit_failures, passed, failed);
	RUN_TEST(test_flush, passed, failed);
	RUN_TEST(test_get_lba_status, passed, failed);
	RUN_TEST(test_range_lock, passed, failed);
	RUN_TEST(test_caw_checks, passed, failed);
	RUN_TEST(test_caw_match_and_miscompare, passed, failed);
	RUN_TEST(test_caw_lock_order, passed, failed);
	RUN_TEST(test_caw_cluster, passed, failed);
	RUN_TEST(test_orwrite, passed, failed);
	RUN_TEST(test_prefetch, passed, failed);
	RUN_TEST(test_prefetch_immed, passed, failed);
	printf("test_bss_io: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
