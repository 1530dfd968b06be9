// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libsheepdog's data path against the fake sheep (tests/unit/sdl_fake.c):
 * split/merge at object boundaries, reply order, holes, allocation races,
 * compare-and-write, COW, batched inode updates, flush, FUA and discard,
 * the allocation map (sd_vdi_allocated) and allocation-failure injection.
 * Reloads and refresh are test_lib_reload, the caller's loop test_lib_loop.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl_check.h"
#include "sdl_env.h"

int g_check_failed;

static void test_split_merge(void)
{
	struct env e;
	struct rec r = { 0 };
	struct fake_req *q;
	char *w = malloc(3 * OBJ), *rd = malloc(4 * OBJ), *expect = calloc(1, 4 * OBJ);

	env_open(&e, 4 * OBJ);
	/* 1 object, unaligned, inside object 0 */
	fill(w, OBJ, 1);
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, w, 1000, 4097, 0, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(fake_nr_held(&e.f), 1);
	q = fake_held(&e.f, 0);
	CHECK_EQ(q->hdr.opcode, SD_OP_CREATE_AND_WRITE_OBJ);
	CHECK(q->hdr.obj.oid == sd_vid_to_data_oid(e.vid, 0));
	CHECK_EQ(q->hdr.obj.offset, 4097);
	CHECK_EQ(q->hdr.data_length, 1000);
	drive(&e, &r);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);
	memcpy(expect + 4097, w, 1000);

	/* 2 objects: 50 bytes on each side of the 0/1 boundary */
	memset(&r, 0, sizeof(r));
	fill(w, 100, 2);
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, w, 100, OBJ - 50, 0, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(fake_nr_held(&e.f), 2);
	q = fake_find(&e.f, SD_OP_WRITE_OBJ, sd_vid_to_data_oid(e.vid, 0));
	CHECK(q && q->hdr.obj.offset == OBJ - 50 && q->hdr.data_length == 50);
	CHECK(q && !memcmp(q->data, w, 50));
	q = fake_find(&e.f, SD_OP_CREATE_AND_WRITE_OBJ, sd_vid_to_data_oid(e.vid, 1));
	CHECK(q && q->hdr.obj.offset == 0 && q->hdr.data_length == 50);
	CHECK(q && !memcmp(q->data, w + 50, 50));
	drive(&e, &r);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);
	memcpy(expect + OBJ - 50, w, 100);

	/* 3 objects: tail of 0, all of 1, head of 2 */
	memset(&r, 0, sizeof(r));
	fill(w, OBJ + 20, 3);
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, w, OBJ + 20, OBJ - 10, 0, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(fake_nr_held(&e.f), 3);
	q = fake_find(&e.f, SD_OP_WRITE_OBJ, sd_vid_to_data_oid(e.vid, 0));
	CHECK(q && q->hdr.obj.offset == OBJ - 10 && q->hdr.data_length == 10);
	q = fake_find(&e.f, SD_OP_WRITE_OBJ, sd_vid_to_data_oid(e.vid, 1));
	CHECK(q && q->hdr.obj.offset == 0 && q->hdr.data_length == OBJ);
	CHECK(q && !memcmp(q->data, w + 10, OBJ));
	q = fake_find(&e.f, SD_OP_CREATE_AND_WRITE_OBJ, sd_vid_to_data_oid(e.vid, 2));
	CHECK(q && q->hdr.obj.offset == 0 && q->hdr.data_length == 10);
	drive(&e, &r);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);
	memcpy(expect + OBJ - 10, w, OBJ + 20);

	/* read back 3 objects unaligned, and all 4 */
	memset(&r, 0, sizeof(r));
	memset(rd, 0x55, 4 * OBJ);
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, rd, 2 * OBJ + 7, 3, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(count_op(&e.f, SD_OP_READ_OBJ), 3);
	drive(&e, &r);
	CHECK_EQ(r.calls, 1);
	CHECK(!memcmp(rd, expect + 3, 2 * OBJ + 7));
	memset(&r, 0, sizeof(r));
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, rd, 4 * OBJ, 0, rec_cb, &r)), 0);
	drive(&e, &r);
	CHECK_EQ(r.ret, 0);
	CHECK(!memcmp(rd, expect, 4 * OBJ));
	CHECK_EQ(r.in_submit, 0);
	/* beyond the end */
	CHECK_EQ(sd_vdi_aio_read(e.v, rd, 2, 4 * OBJ - 1, rec_cb, &r), -EINVAL);
	env_close(&e);
	free(w);
	free(rd);
	free(expect);
}

static void test_out_of_order(void)
{
	struct env e;
	struct rec r = { 0 };
	char *buf = malloc(3 * OBJ), *expect = malloc(3 * OBJ);
	struct fake_req *q0, *q1, *q2;
	int i;

	memset(&e, 0, sizeof(e));
	fake_init(&e.f, SHIFT);
	e.vid = fake_vdi_create(&e.f, "v", 3 * OBJ, 0);
	for (i = 0; i < 3; i++) {
		struct fake_obj *o = fake_obj_create(&e.f, sd_vid_to_data_oid(e.vid, i), OBJ);

		fill(o->data, OBJ, 10 + i);
		memcpy(expect + i * OBJ, o->data, OBJ);
		fake_index(&e.f, e.vid)[i] = e.vid;
	}
	env_setup(&e, "v", 0);
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, 3 * OBJ - 200, 100, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(fake_nr_held(&e.f), 3);
	q0 = fake_find(&e.f, SD_OP_READ_OBJ, sd_vid_to_data_oid(e.vid, 0));
	q1 = fake_find(&e.f, SD_OP_READ_OBJ, sd_vid_to_data_oid(e.vid, 1));
	q2 = fake_find(&e.f, SD_OP_READ_OBJ, sd_vid_to_data_oid(e.vid, 2));
	CHECK(q0 && q1 && q2);
	if (q0 && q1 && q2) {
		CHECK(q0->hdr.id != q1->hdr.id && q1->hdr.id != q2->hdr.id);
		fake_serve(&e.f, q2);
		fake_pump(&e.f, e.c, 30);
		fake_serve(&e.f, q0);
		fake_pump(&e.f, e.c, 30);
		CHECK_EQ(r.calls, 0);
		fake_serve(&e.f, q1);
		fake_pump(&e.f, e.c, 30);
	}
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);
	CHECK(!memcmp(buf, expect + 100, 3 * OBJ - 200));
	env_close(&e);
	free(buf);
	free(expect);
}

static void test_holes(void)
{
	struct env e;
	struct rec r = { 0 };
	char *buf = malloc(3 * OBJ), *expect = calloc(1, 4 * OBJ);
	struct fake_obj *o;

	memset(&e, 0, sizeof(e));
	fake_init(&e.f, SHIFT);
	e.vid = fake_vdi_create(&e.f, "v", 4 * OBJ, 0);
	o = fake_obj_create(&e.f, sd_vid_to_data_oid(e.vid, 0), OBJ);
	fill(o->data, OBJ, 7);
	memcpy(expect, o->data, OBJ);
	o = fake_obj_create(&e.f, sd_vid_to_data_oid(e.vid, 2), OBJ);
	fill(o->data, OBJ, 9);
	memcpy(expect + 2 * OBJ, o->data, OBJ);
	fake_index(&e.f, e.vid)[0] = e.vid;
	fake_index(&e.f, e.vid)[2] = e.vid;
	env_setup(&e, "v", 0);

	/* allocated, hole, allocated: 2 reads, zeros in the middle */
	memset(buf, 0xaa, 3 * OBJ);
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, 2 * OBJ, OBJ / 2, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(fake_nr_held(&e.f), 2);
	CHECK(!fake_find(&e.f, SD_OP_READ_OBJ, sd_vid_to_data_oid(e.vid, 1)));
	drive(&e, &r);
	CHECK_EQ(r.calls, 1);
	CHECK(!memcmp(buf, expect + OBJ / 2, 2 * OBJ));

	/* the classic tgt bug: a hole after an allocated object */
	memset(&r, 0, sizeof(r));
	memset(buf, 0xaa, 3 * OBJ);
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, OBJ + 4096, OBJ - 4096, rec_cb, &r)), 0);
	drive(&e, &r);
	CHECK_EQ(r.ret, 0);
	CHECK(!memcmp(buf, expect + OBJ - 4096, OBJ + 4096));

	/* pure hole: no round trip at all, still completes from service */
	memset(&r, 0, sizeof(r));
	memset(buf, 0xaa, 3 * OBJ);
	CHECK_EQ(sd_vdi_aio_read(e.v, buf, 2 * OBJ, 3 * OBJ - 10, rec_cb, &r), -EINVAL);
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, OBJ, 3 * OBJ, rec_cb, &r)), 0);
	CHECK_EQ(r.calls, 0);
	CHECK_EQ(fake_nr_held(&e.f), 0);
	fake_pump(&e.f, e.c, 20);
	CHECK_EQ(fake_nr_held(&e.f), 0);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.in_submit, 0);
	CHECK(!memcmp(buf, expect + 3 * OBJ, OBJ));
	env_close(&e);
	free(buf);
	free(expect);
}

static void test_alloc_race(void)
{
	struct env e;
	struct rec r1 = { 0 }, r2 = { 0 };
	char a[512], b[512], rd[OBJ / 4];
	struct fake_req *q;

	env_open(&e, 8 * OBJ);
	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, a, sizeof(a), 3 * OBJ + 1024, 0, rec_cb, &r1)), 0);
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, b, sizeof(b), 3 * OBJ + 8192, 0, rec_cb, &r2)), 0);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(fake_nr_held(&e.f), 1);
	CHECK_EQ(count_op(&e.f, SD_OP_CREATE_AND_WRITE_OBJ), 1);
	q = fake_find(&e.f, SD_OP_CREATE_AND_WRITE_OBJ, sd_vid_to_data_oid(e.vid, 3));
	CHECK(q != NULL);
	if (q)
		fake_serve(&e.f, q);
	fake_pump(&e.f, e.c, 50);
	/* the inode update goes out before anything is acknowledged */
	CHECK_EQ(fake_nr_held(&e.f), 1);
	q = fake_find(&e.f, SD_OP_WRITE_OBJ, sd_vid_to_vdi_oid(e.vid));
	CHECK(q != NULL);
	if (q) {
		CHECK_EQ(q->hdr.obj.offset, SD_INODE_HEADER_SIZE + 4 * 3);
		CHECK_EQ(q->hdr.data_length, 4);
		CHECK_EQ(*(uint32_t *)q->data, e.vid);
	}
	CHECK_EQ(r1.calls + r2.calls, 0);
	if (q)
		fake_serve(&e.f, q);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(r1.calls, 1);
	CHECK_EQ(r1.ret, 0);
	CHECK_EQ(r2.calls, 0);
	/* the waiter now writes the existing object */
	CHECK_EQ(fake_nr_held(&e.f), 1);
	CHECK(fake_find(&e.f, SD_OP_WRITE_OBJ, sd_vid_to_data_oid(e.vid, 3)) != NULL);
	CHECK_EQ(count_op(&e.f, SD_OP_CREATE_AND_WRITE_OBJ), 0);
	drive(&e, &r2);
	CHECK_EQ(r2.calls, 1);
	CHECK_EQ(r2.ret, 0);
	e.f.auto_serve = 1;
	CHECK_EQ(sd_vdi_read(e.v, rd, sizeof(rd), 3 * OBJ), 0);
	CHECK(!memcmp(rd + 1024, a, sizeof(a)));
	CHECK(!memcmp(rd + 8192, b, sizeof(b)));
	CHECK(rd[0] == 0 && rd[4096] == 0);
	CHECK_EQ(r1.in_submit + r2.in_submit, 0);
	env_close(&e);
}

/* Reply to the one held EXT_CMP_WRITE_OBJ with res (len: see fake_reply). */
static void caw_reply(struct env *e, uint32_t res, uint32_t len)
{
	struct fake_req *q;

	fake_pump(&e->f, e->c, 50);
	q = fake_find(&e->f, SD_OP_EXT_CMP_WRITE_OBJ, ALL);
	CHECK(q != NULL);
	if (q)
		fake_reply(&e->f, q, res, NULL, len);
	fake_pump(&e->f, e->c, 50);
}

/*
 * A sheep that answers the disguised HELLO without the ack (upstream,
 * which crashes on extension opcodes): compare-and-write is refused at
 * submit and no EXT_CMP_WRITE_OBJ frame ever leaves the library.
 */
static void test_cmp_write_upstream(void)
{
	struct env e;
	struct rec r1 = { 0 };
	char buf[1024];
	uint64_t at = 0;

	memset(&e, 0, sizeof(e));
	fake_init(&e.f, SHIFT);
	e.f.no_ext = 1;
	env_setup(&e, "v", 8 * OBJ);
	memset(buf, 0, sizeof(buf));
	CHECK(e.f.nr_hellos >= 1);
	CHECK_EQ(sd_vdi_aio_cmp_write(e.v, buf, 512, 0, 0, &at, rec_cb, &r1), -EOPNOTSUPP);
	CHECK_EQ(sd_vdi_aio_cmp_write(e.v, NULL, 0, 0, 0, &at, rec_cb, &r1), -EOPNOTSUPP);
	fake_pump(&e.f, e.c, 20);
	CHECK_EQ(count_op(&e.f, SD_OP_EXT_CMP_WRITE_OBJ), 0);
	CHECK_EQ(r1.calls, 0);
	env_close(&e);
}

static void test_cmp_write(void)
{
	struct env e;
	struct rec r1 = { 0 }, r2 = { 0 }, r3 = { 0 }, r4 = { 0 }, r5 = { 0 }, r6 = { 0 };
	char buf[1024], w[512];
	struct fake_req *q;
	uint64_t at = 0;

	env_open(&e, 8 * OBJ);
	memset(buf, 0, 512);
	memset(buf + 512, 'c', 512);
	memset(w, 'w', sizeof(w));
	/* submit errors: the range, 1 MiB, one object */
	CHECK_EQ(sd_vdi_aio_cmp_write(e.v, buf, 512, 8 * OBJ, 0, &at, rec_cb, &r1), -EINVAL);
	CHECK_EQ(sd_vdi_aio_cmp_write(e.v, buf, SD_EXT_CMP_WRITE_MAX + 1, 0, 0, &at, rec_cb, &r1),
		 -EINVAL);
	CHECK_EQ(sd_vdi_aio_cmp_write(e.v, buf, 512, OBJ - 256, 0, &at, rec_cb, &r1), -EXDEV);
	/* a hole: sent to our own object, the entry owned meanwhile */
	CHECK_EQ(SUBMIT(sd_vdi_aio_cmp_write(e.v, buf, 512, 3 * OBJ + 512, 0, &at, rec_cb, &r1)),
		 0);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(fake_nr_held(&e.f), 1);
	q = fake_find(&e.f, SD_OP_EXT_CMP_WRITE_OBJ, sd_vid_to_data_oid(e.vid, 3));
	CHECK(q != NULL);
	if (q) {
		CHECK_EQ(q->hdr.data_length, 1024);
		CHECK_EQ(q->hdr.obj.offset, 512);
		CHECK(q->hdr.flags & SD_FLAG_CMD_WRITE);
		CHECK(!(q->hdr.flags & SD_FLAG_CMD_COW));
		CHECK(q->data && !memcmp(q->data, buf, sizeof(buf)));
	}
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, w, sizeof(w), 3 * OBJ + 8192, 0, rec_cb, &r2)), 0);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(fake_nr_held(&e.f), 1); /* the write waits for the entry */
	/* what the sheep does: create the object, record it in the index */
	fake_obj_create(&e.f, sd_vid_to_data_oid(e.vid, 3), OBJ);
	fake_index(&e.f, e.vid)[3] = e.vid;
	caw_reply(&e, SD_RES_SUCCESS, 0);
	CHECK_EQ(r1.calls, 1);
	CHECK_EQ(r1.ret, 0);
	CHECK_EQ(sd_vdi_allocated(e.v, 3 * OBJ, NULL), 1);
	/* the sheep recorded the entry: the waiter writes in place, no
	 * create and no inode update */
	CHECK_EQ(fake_nr_held(&e.f), 1);
	CHECK(fake_find(&e.f, SD_OP_WRITE_OBJ, sd_vid_to_data_oid(e.vid, 3)) != NULL);
	drive(&e, &r2);
	CHECK_EQ(r2.ret, 0);
	CHECK_EQ(count_op(&e.f, SD_OP_WRITE_OBJ), 0);
	/* miscompare: -EILSEQ and the offset from the reply */
	CHECK_EQ(SUBMIT(sd_vdi_aio_cmp_write(e.v, buf, 512, 3 * OBJ, SD_AIO_FUA, &at, rec_cb, &r3)),
		 0);
	caw_reply(&e, SD_RES_EXT_MISCOMPARE, 77);
	CHECK_EQ(r3.calls, 1);
	CHECK_EQ(r3.ret, -EILSEQ);
	CHECK_EQ(at, 77);
	CHECK_EQ(count_op(&e.f, SD_OP_FLUSH_VDI), 0);
	/* an upstream sheep: either answer means "absent" */
	CHECK_EQ(SUBMIT(sd_vdi_aio_cmp_write(e.v, buf, 512, 0, 0, NULL, rec_cb, &r4)), 0);
	caw_reply(&e, SD_RES_INVALID_PARMS, 0);
	CHECK_EQ(r4.ret, -EOPNOTSUPP);
	CHECK_EQ(sd_vdi_allocated(e.v, 0, NULL), 0);
	CHECK_EQ(SUBMIT(sd_vdi_aio_cmp_write(e.v, NULL, 0, 0, 0, NULL, rec_cb, &r5)), 0);
	fake_pump(&e.f, e.c, 50);
	q = fake_find(&e.f, SD_OP_EXT_CMP_WRITE_OBJ, ALL);
	CHECK(q != NULL && q->hdr.data_length == 0);
	caw_reply(&e, SD_RES_NO_SUPPORT, 0);
	CHECK_EQ(r5.ret, -EOPNOTSUPP);
	/* the probe on our sheep; other errors map as usual */
	CHECK_EQ(SUBMIT(sd_vdi_aio_cmp_write(e.v, NULL, 0, 0, 0, NULL, rec_cb, &r6)), 0);
	caw_reply(&e, SD_RES_SUCCESS, 0);
	CHECK_EQ(r6.ret, 0);
	r6.calls = 0;
	CHECK_EQ(SUBMIT(sd_vdi_aio_cmp_write(e.v, buf, 512, 3 * OBJ, 0, &at, rec_cb, &r6)), 0);
	caw_reply(&e, SD_RES_EIO, 0);
	CHECK_EQ(r6.ret, -EIO);
	CHECK_EQ(r1.in_submit + r2.in_submit + r3.in_submit + r4.in_submit + r5.in_submit +
			 r6.in_submit,
		 0);
	env_close(&e);
}

static void test_cow_from_parent(void)
{
	struct env e;
	struct rec r = { 0 };
	char w[100], *rd = malloc(OBJ), *expect = malloc(OBJ);
	struct fake_obj *o;
	struct fake_req *q;
	uint32_t base;

	memset(&e, 0, sizeof(e));
	fake_init(&e.f, SHIFT);
	base = fake_vdi_create(&e.f, "base", 2 * OBJ, 0);
	o = fake_obj_create(&e.f, sd_vid_to_data_oid(base, 1), OBJ);
	fill(o->data, OBJ, 5);
	memcpy(expect, o->data, OBJ);
	fake_index(&e.f, base)[1] = base;
	fake_vdi_snapshot(&e.f, "base");
	e.vid = fake_vdi_create(&e.f, "clone", 2 * OBJ, base);
	env_setup(&e, "clone", 0);

	/* reads of inherited objects go to the owner */
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, rd, 64, OBJ, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	CHECK(fake_find(&e.f, SD_OP_READ_OBJ, sd_vid_to_data_oid(base, 1)) != NULL);
	drive(&e, &r);
	CHECK(!memcmp(rd, expect, 64));

	memset(&r, 0, sizeof(r));
	memset(w, 'W', sizeof(w));
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, w, sizeof(w), OBJ + 300, 0, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	q = fake_find(&e.f, SD_OP_CREATE_AND_WRITE_OBJ, sd_vid_to_data_oid(e.vid, 1));
	CHECK(q != NULL);
	if (q) {
		CHECK(q->hdr.flags & SD_FLAG_CMD_COW);
		CHECK(q->hdr.obj.cow_oid == sd_vid_to_data_oid(base, 1));
		CHECK_EQ(q->hdr.obj.offset, 300);
	}
	drive(&e, &r);
	CHECK_EQ(r.ret, 0);
	memcpy(expect + 300, w, sizeof(w));
	e.f.auto_serve = 1;
	CHECK_EQ(sd_vdi_read(e.v, rd, OBJ, OBJ), 0);
	CHECK(!memcmp(rd, expect, OBJ));
	/* the parent's object is untouched */
	CHECK(fake_obj(&e.f, sd_vid_to_data_oid(base, 1))->data[300] != 'W');
	CHECK_EQ(fake_index(&e.f, e.vid)[1], e.vid);
	CHECK_EQ(fake_index(&e.f, base)[1], base);
	env_close(&e);
	free(rd);
	free(expect);
}

static void test_inode_update_batched(void)
{
	struct env e;
	struct rec r = { 0 }, r2 = { 0 }, r3 = { 0 };
	char *w = malloc(3 * OBJ);
	struct fake_req *q;
	int i;

	env_open(&e, 16 * OBJ);
	fill(w, 3 * OBJ, 4);
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, w, 3 * OBJ, 4 * OBJ, 0, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(count_op(&e.f, SD_OP_CREATE_AND_WRITE_OBJ), 3);
	fake_serve_all(&e.f);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(fake_nr_held(&e.f), 1);
	q = fake_find(&e.f, SD_OP_WRITE_OBJ, sd_vid_to_vdi_oid(e.vid));
	CHECK(q != NULL);
	if (q) {
		CHECK_EQ(q->hdr.obj.offset, SD_INODE_HEADER_SIZE + 4 * 4);
		CHECK_EQ(q->hdr.data_length, 12);
		for (i = 0; i < 3; i++)
			CHECK_EQ(((uint32_t *)q->data)[i], e.vid);
	}
	CHECK_EQ(r.calls, 0);
	drive(&e, &r);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);
	for (i = 4; i < 7; i++)
		CHECK_EQ(fake_index(&e.f, e.vid)[i], e.vid);

	/* two requests on non-adjacent objects: one update each */
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, w, 10, 8 * OBJ, 0, rec_cb, &r2)), 0);
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, w, 10, 10 * OBJ, 0, rec_cb, &r3)), 0);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(count_op(&e.f, SD_OP_CREATE_AND_WRITE_OBJ), 2);
	fake_serve_all(&e.f);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(count_op(&e.f, SD_OP_WRITE_OBJ), 2);
	drive(&e, &r2);
	drive(&e, &r3);
	CHECK_EQ(r2.calls + r3.calls, 2);
	/* two adjacent first writes from different requests coalesce */
	memset(&r2, 0, sizeof(r2));
	memset(&r3, 0, sizeof(r3));
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, w, 10, 12 * OBJ, 0, rec_cb, &r2)), 0);
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, w, 10, 13 * OBJ, 0, rec_cb, &r3)), 0);
	fake_pump(&e.f, e.c, 50);
	fake_serve_all(&e.f);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(fake_nr_held(&e.f), 1);
	q = fake_find(&e.f, SD_OP_WRITE_OBJ, sd_vid_to_vdi_oid(e.vid));
	CHECK(q && q->hdr.data_length == 8 && q->hdr.obj.offset == SD_INODE_HEADER_SIZE + 48);
	drive(&e, &r2);
	drive(&e, &r3);
	CHECK_EQ(r2.calls + r3.calls, 2);
	env_close(&e);
	free(w);
}

static void test_flush_fua_discard(void)
{
	struct env e;
	struct rec r = { 0 }, r2 = { 0 };
	char w[4096], rd[4096];
	struct fake_req *q;

	env_open(&e, 4 * OBJ);
	memset(w, 'f', sizeof(w));
	e.f.auto_serve = 1;
	CHECK_EQ(sd_vdi_write(e.v, w, sizeof(w), 0), 0);
	CHECK_EQ(sd_vdi_write(e.v, w, sizeof(w), OBJ), 0);
	CHECK_EQ(sd_vdi_write(e.v, w, sizeof(w), 2 * OBJ), 0);
	CHECK_EQ(sd_vdi_flush(e.v), 0); /* INVALID_PARMS counts as done */
	e.f.auto_serve = 0;

	/* FUA: the flush goes out only after the write completed */
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, w, 512, 4096, SD_AIO_FUA, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(fake_nr_held(&e.f), 1);
	CHECK(fake_find(&e.f, SD_OP_WRITE_OBJ, sd_vid_to_data_oid(e.vid, 0)) != NULL);
	fake_serve_all(&e.f);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(r.calls, 0);
	q = fake_find(&e.f, SD_OP_FLUSH_VDI, ALL);
	CHECK(q && q->hdr.obj.oid == sd_vid_to_vdi_oid(e.vid));
	if (q)
		fake_reply(&e.f, q, SD_RES_SUCCESS, NULL, 0);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);
	/* a failing flush fails the FUA write */
	memset(&r, 0, sizeof(r));
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, w, 512, 4096, SD_AIO_FUA, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	fake_serve_all(&e.f);
	fake_pump(&e.f, e.c, 50);
	q = fake_find(&e.f, SD_OP_FLUSH_VDI, ALL);
	if (q)
		fake_reply(&e.f, q, SD_RES_EIO, NULL, 0);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, -EIO);

	/* discard: object 1 whole, 100 bytes of object 2, a hole in object 3 */
	memset(&r, 0, sizeof(r));
	memset(&r2, 0, sizeof(r2));
	CHECK_EQ(SUBMIT(sd_vdi_aio_discard(e.v, 100, 3 * OBJ, rec_cb, &r2)), 0);
	CHECK_EQ(SUBMIT(sd_vdi_aio_discard(e.v, OBJ + 100, OBJ, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	q = fake_find(&e.f, SD_OP_WRITE_OBJ, sd_vid_to_data_oid(e.vid, 2));
	CHECK(q && q->hdr.data_length == 100 && q->hdr.obj.offset == 0 && q->data[0] == 0);
	q = fake_find(&e.f, SD_OP_WRITE_OBJ, sd_vid_to_vdi_oid(e.vid));
	CHECK(q && q->hdr.obj.offset == SD_INODE_HEADER_SIZE + 4 && q->hdr.data_length == 4 &&
	      *(uint32_t *)q->data == 0);
	CHECK_EQ(count_op(&e.f, SD_OP_WRITE_OBJ), 2);
	drive(&e, &r);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);
	CHECK_EQ(r2.calls, 1);
	CHECK_EQ(r2.ret, 0);
	CHECK_EQ(fake_index(&e.f, e.vid)[1], 0);
	e.f.auto_serve = 1;
	CHECK_EQ(sd_vdi_read(e.v, rd, sizeof(rd), OBJ), 0);
	CHECK(rd[0] == 0 && rd[4095] == 0);
	CHECK_EQ(sd_vdi_read(e.v, rd, sizeof(rd), 2 * OBJ), 0);
	CHECK(rd[0] == 0 && rd[99] == 0 && rd[100] == 'f');
	CHECK_EQ(r.in_submit + r2.in_submit, 0);
	env_close(&e);
}

/* sd_vdi_allocated(): the in-memory index as runs of objects. */
static void test_allocated(void)
{
	struct env e;
	uint64_t size = 4 * (uint64_t)OBJ + 512, run = 0;
	char w[512];

	env_open(&e, size);
	e.f.auto_serve = 1;
	memset(w, 'a', sizeof(w));
	CHECK_EQ(sd_vdi_allocated(e.v, 0, &run), 0);
	CHECK_EQ(run, size); /* nothing written: one hole to the end */
	CHECK_EQ(sd_vdi_write(e.v, w, sizeof(w), OBJ + 100), 0);
	CHECK_EQ(sd_vdi_write(e.v, w, sizeof(w), 2 * OBJ), 0);
	CHECK_EQ(sd_vdi_write(e.v, w, sizeof(w), 4 * OBJ), 0); /* the short last object */
	CHECK_EQ(sd_vdi_allocated(e.v, 0, &run), 0);
	CHECK_EQ(run, OBJ);
	CHECK_EQ(sd_vdi_allocated(e.v, 5, &run), 0);
	CHECK_EQ(run, OBJ - 5);
	CHECK_EQ(sd_vdi_allocated(e.v, OBJ + 7, &run), 1);
	CHECK_EQ(run, 2 * OBJ - 7);
	CHECK_EQ(sd_vdi_allocated(e.v, 3 * OBJ, &run), 0);
	CHECK_EQ(run, OBJ);
	CHECK_EQ(sd_vdi_allocated(e.v, 4 * OBJ + 1, &run), 1);
	CHECK_EQ(run, 511); /* ends at the vdi's size, not the object's */
	CHECK_EQ(sd_vdi_allocated(e.v, size - 1, NULL), 1);
	CHECK_EQ(sd_vdi_allocated(e.v, size, &run), -EINVAL);
	CHECK_EQ(sd_vdi_allocated(e.v, UINT64_MAX, &run), -EINVAL);
	/* a discard of a whole object shows at once; a partial one does not */
	CHECK_EQ(sd_vdi_discard(e.v, OBJ, OBJ), 0);
	CHECK_EQ(sd_vdi_discard(e.v, 100, 2 * OBJ), 0);
	CHECK_EQ(sd_vdi_allocated(e.v, 0, &run), 0);
	CHECK_EQ(run, 2 * OBJ);
	CHECK_EQ(sd_vdi_allocated(e.v, 2 * OBJ, &run), 1);
	CHECK_EQ(run, OBJ);
	env_close(&e);
}

/* Fail each allocation of a representative write in turn. */
static void test_alloc_failures(void)
{
	long n;
	int injected_runs = 0;

	for (n = 1; n < 200; n++) {
		struct env e;
		struct rec r = { 0 };
		char *w = malloc(2 * OBJ);
		long before;
		int ret;

		memset(&e, 0, sizeof(e));
		fake_init(&e.f, SHIFT);
		e.vid = fake_vdi_create(&e.f, "v", 4 * OBJ, 0);
		fake_obj_create(&e.f, sd_vid_to_data_oid(e.vid, 1), OBJ);
		fake_index(&e.f, e.vid)[1] = e.vid;
		env_setup(&e, "v", 0);
		memset(w, 'z', 2 * OBJ);
		e.f.auto_serve = 1;
		before = sdl_alloc_injected();
		sdl_alloc_fail_nth(n);
		/* objects 0 (new), 1 (own), 2 (new), plus a FUA flush */
		ret = SUBMIT(sd_vdi_aio_write(e.v, w, 2 * OBJ, OBJ / 2, SD_AIO_FUA, rec_cb, &r));
		if (ret) {
			CHECK_EQ(ret, -ENOMEM);
		} else {
			drive(&e, &r);
			CHECK_EQ(r.calls, 1);
			CHECK(r.ret == 0 || r.ret == -ENOMEM);
		}
		fake_pump(&e.f, e.c, 10);
		CHECK_EQ(r.in_submit, 0);
		CHECK(r.calls <= 1);
		sdl_alloc_fail_nth(0);
		if (!ret && !r.ret) {
			char rd[16];

			CHECK_EQ(sd_vdi_read(e.v, rd, sizeof(rd), 2 * OBJ), 0);
			CHECK_EQ(rd[0], 'z');
		}
		env_close(&e);
		free(w);
		if (sdl_alloc_injected() == before)
			break;
		injected_runs++;
	}
	CHECK(injected_runs >= 3);
	CHECK(n < 200);

	/* each allocation of a write that meets a snapshot (reload + COW) */
	for (n = 1; n < 200; n++) {
		struct env e;
		struct rec r = { 0 };
		long before;
		int ret;

		memset(&e, 0, sizeof(e));
		fake_init(&e.f, SHIFT);
		e.vid = fake_vdi_create(&e.f, "v", 2 * OBJ, 0);
		fake_obj_create(&e.f, sd_vid_to_data_oid(e.vid, 0), OBJ);
		fake_index(&e.f, e.vid)[0] = e.vid;
		env_setup(&e, "v", 0);
		fake_vdi_snapshot(&e.f, "v");
		e.f.auto_serve = 1;
		before = sdl_alloc_injected();
		sdl_alloc_fail_nth(n);
		ret = SUBMIT(sd_vdi_aio_write(e.v, "snap", 4, 100, SD_AIO_FUA, rec_cb, &r));
		if (ret) {
			CHECK_EQ(ret, -ENOMEM);
		} else {
			drive(&e, &r);
			CHECK_EQ(r.calls, 1);
			CHECK(r.ret == 0 || r.ret == -ENOMEM);
		}
		sdl_alloc_fail_nth(0);
		CHECK_EQ(r.in_submit, 0);
		/* whatever failed, the handle still works */
		CHECK_EQ(sd_vdi_write(e.v, "ok", 2, 200), 0);
		env_close(&e);
		if (sdl_alloc_injected() == before)
			break;
	}
	fprintf(stderr, "snapshot-write injection points: %ld\n", n - 1);
	CHECK(n > 3 && n < 200);

	/* and each allocation of connect + open */
	for (n = 1; n < 200; n++) {
		struct fake f;
		struct sd_cluster *c;
		struct sd_vdi *v = NULL;
		long before = sdl_alloc_injected();

		fake_init(&f, SHIFT);
		fake_vdi_create(&f, "v", OBJ, 0);
		f.auto_serve = 1;
		sdl_alloc_fail_nth(n);
		c = fake_connect(&f, NULL);
		if (c)
			v = sd_vdi_open(c, "v", 0, NULL);
		sdl_alloc_fail_nth(0);
		CHECK(c || errno == ENOMEM);
		CHECK(!c || v || errno == ENOMEM);
		if (v)
			CHECK_EQ(sd_vdi_close(v), 0);
		if (c)
			CHECK_EQ(sd_disconnect(c), 0);
		fake_fini(&f);
		CHECK_EQ(sdl_alloc_live(), 0);
		if (sdl_alloc_injected() == before)
			break;
	}
	CHECK(n < 200);
}

int main(void)
{
	int passed = 0, failed = 0;

	RUN_TEST(test_split_merge, passed, failed);
	RUN_TEST(test_out_of_order, passed, failed);
	RUN_TEST(test_holes, passed, failed);
	RUN_TEST(test_alloc_race, passed, failed);
	RUN_TEST(test_cow_from_parent, passed, failed);
	RUN_TEST(test_cmp_write_upstream, passed, failed);
	RUN_TEST(test_cmp_write, passed, failed);
	RUN_TEST(test_inode_update_batched, passed, failed);
	RUN_TEST(test_flush_fua_discard, passed, failed);
	RUN_TEST(test_allocated, passed, failed);
	RUN_TEST(test_alloc_failures, passed, failed);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
