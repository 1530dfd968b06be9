// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libsheepdog data path against the fake sheep (tests/unit/sdl_fake.c):
 * split/merge at object boundaries, reply order, holes, allocation races,
 * COW, batched inode updates, READONLY/INODE_INVALIDATED reloads, discard,
 * FUA, the allocation map (sd_vdi_allocated), the callback contract and
 * allocation-failure injection.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl_check.h"
#include "sdl_fake.h"

int g_check_failed;

#define SHIFT 20
#define OBJ   (1u << SHIFT)
#define ALL   (~UINT64_C(0))

struct env {
	struct fake f;
	struct sd_cluster *c;
	struct sd_vdi *v;
	uint32_t vid;
};

struct rec {
	int calls;
	int ret;
	int in_submit;
};

static int g_in_submit;

static void rec_cb(struct sd_vdi *v, int ret, void *opaque)
{
	struct rec *r = opaque;

	r->calls++;
	r->ret = ret;
	if (g_in_submit)
		r->in_submit++;
}

#define SUBMIT(expr) \
	({ \
		int _r; \
		g_in_submit = 1; \
		_r = (expr); \
		g_in_submit = 0; \
		_r; \
	})

static void env_setup(struct env *e, const char *name, uint64_t size)
{
	struct sd_cluster_opts o;

	sd_cluster_opts_init(&o);
	o.io_timeout_ms = 5000;
	o.retry_timeout_ms = 5000;
	if (!e->f.shift)
		fake_init(&e->f, SHIFT);
	if (!e->vid)
		e->vid = fake_vdi_create(&e->f, name, size, 0);
	e->f.auto_serve = 1;
	e->c = fake_connect(&e->f, &o);
	CHECK(e->c != NULL);
	e->v = e->c ? sd_vdi_open(e->c, name, 0, NULL) : NULL;
	CHECK(e->v != NULL);
	e->f.auto_serve = 0;
}

static void env_open(struct env *e, uint64_t size)
{
	memset(e, 0, sizeof(*e));
	env_setup(e, "v", size);
}

static void env_close(struct env *e)
{
	e->f.auto_serve = 1;
	if (e->v)
		CHECK_EQ(sd_vdi_close(e->v), 0);
	if (e->c)
		CHECK_EQ(sd_disconnect(e->c), 0);
	fake_fini(&e->f);
	CHECK_EQ(sdl_alloc_live(), 0);
}

/* Serve everything (newest first) until rec has completed. */
static void drive(struct env *e, struct rec *r)
{
	int i;

	for (i = 0; i < 50 && !r->calls; i++) {
		fake_pump(&e->f, e->c, 50);
		fake_serve_all(&e->f);
	}
	fake_pump(&e->f, e->c, 20);
}

static int count_op(struct fake *f, uint8_t op)
{
	int n = 0, i;

	for (i = 0; i < fake_nr_held(f); i++)
		if (fake_held(f, i)->hdr.opcode == op)
			n++;
	return n;
}

static void fill(char *buf, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (char)((i * 31 + seed) & 0xff);
}

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

static void test_readonly_reload_cow(void)
{
	struct env e;
	struct rec r = { 0 }, r2 = { 0 };
	char w[64], w2[64], *rd = malloc(OBJ);
	struct fake_req *q;
	uint32_t old, nvid;
	int i, n;

	env_open(&e, 2 * OBJ);
	old = e.vid;
	memset(w, 'o', sizeof(w));
	e.f.auto_serve = 1;
	CHECK_EQ(sd_vdi_write(e.v, w, sizeof(w), 0), 0);
	e.f.auto_serve = 0;
	/* a snapshot is taken underneath */
	nvid = fake_vdi_snapshot(&e.f, "v");
	memset(w, 'n', sizeof(w));
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, w, sizeof(w), 10, 0, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	q = fake_find(&e.f, SD_OP_WRITE_OBJ, sd_vid_to_data_oid(old, 0));
	CHECK(q != NULL);
	if (q)
		fake_serve(&e.f, q); /* READONLY */
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(fake_nr_held(&e.f), 1);
	CHECK(fake_find(&e.f, SD_OP_GET_VDI_INFO, ALL) != NULL);
	/* a request during the reload waits for it */
	memset(w2, 'm', sizeof(w2));
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, w2, sizeof(w2), 100, 0, rec_cb, &r2)), 0);
	fake_pump(&e.f, e.c, 30);
	CHECK_EQ(fake_nr_held(&e.f), 1);
	q = fake_find(&e.f, SD_OP_GET_VDI_INFO, ALL);
	if (q)
		fake_serve(&e.f, q);
	fake_pump(&e.f, e.c, 50);
	q = fake_find(&e.f, SD_OP_READ_OBJ, sd_vid_to_vdi_oid(nvid));
	CHECK(q != NULL);
	/* a new working vid: its whole index is read and compared */
	if (q)
		CHECK_EQ(q->hdr.data_length, SD_INODE_INDEX_END);
	/* the new inode is not there yet twice: the reload retries */
	e.f.noobj_inode_reads = 2;
	for (i = 0, n = 0; i < 200 && n < 3; i++) {
		q = fake_find(&e.f, SD_OP_READ_OBJ, sd_vid_to_vdi_oid(nvid));
		if (q) {
			fake_serve(&e.f, q);
			n++;
		}
		fake_pump(&e.f, e.c, 20);
	}
	CHECK_EQ(e.f.noobj_inode_reads, 0);
	CHECK_EQ(n, 3);
	/* exactly one COW create into the new vid; the other write waits on it */
	CHECK_EQ(count_op(&e.f, SD_OP_CREATE_AND_WRITE_OBJ), 1);
	q = fake_find(&e.f, SD_OP_CREATE_AND_WRITE_OBJ, sd_vid_to_data_oid(nvid, 0));
	CHECK(q != NULL);
	if (q) {
		CHECK(q->hdr.flags & SD_FLAG_CMD_COW);
		CHECK(q->hdr.obj.cow_oid == sd_vid_to_data_oid(old, 0));
	}
	drive(&e, &r);
	drive(&e, &r2);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);
	CHECK_EQ(r2.calls, 1);
	CHECK_EQ(r2.ret, 0);
	CHECK_EQ(sd_vdi_id(e.v), nvid);
	CHECK_EQ(fake_index(&e.f, nvid)[0], nvid);
	CHECK_EQ(fake_index(&e.f, old)[0], old);
	/* the snapshot keeps the old data, the vdi has the new */
	CHECK(fake_obj(&e.f, sd_vid_to_data_oid(old, 0))->data[10] == 'o');
	e.f.auto_serve = 1;
	CHECK_EQ(sd_vdi_read(e.v, rd, 200, 0), 0);
	CHECK(rd[0] == 'o' && rd[9] == 'o' && rd[10] == 'n' && rd[73] == 'n' && rd[74] == 0);
	CHECK(rd[100] == 'm' && rd[163] == 'm' && rd[164] == 0);
	env_close(&e);
	free(rd);
}

static void test_inode_invalidated(void)
{
	struct env e;
	struct rec r = { 0 };
	char buf[32];
	struct fake_req *q;
	struct fake_obj *o;

	memset(&e, 0, sizeof(e));
	fake_init(&e.f, SHIFT);
	e.vid = fake_vdi_create(&e.f, "v", 2 * OBJ, 0);
	env_setup(&e, "v", 0);
	/* someone else allocated object 1 meanwhile; our index does not know */
	o = fake_obj_create(&e.f, sd_vid_to_data_oid(e.vid, 1), OBJ);
	memset(o->data, 'x', OBJ);
	fake_index(&e.f, e.vid)[1] = e.vid;
	e.f.auto_serve = 1;
	CHECK_EQ(sd_vdi_read(e.v, buf, sizeof(buf), OBJ), 0);
	CHECK_EQ(buf[0], 0); /* stale index: a hole */
	e.f.auto_serve = 0;
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, buf, 8, 0, 0, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	q = fake_find(&e.f, SD_OP_CREATE_AND_WRITE_OBJ, ALL);
	CHECK(q != NULL);
	if (q)
		fake_reply(&e.f, q, SD_RES_INODE_INVALIDATED, NULL, 0);
	fake_pump(&e.f, e.c, 50);
	q = fake_find(&e.f, SD_OP_GET_VDI_INFO, ALL);
	CHECK(q != NULL);
	if (q)
		fake_serve(&e.f, q);
	fake_pump(&e.f, e.c, 50);
	q = fake_find(&e.f, SD_OP_READ_OBJ, sd_vid_to_vdi_oid(e.vid));
	CHECK(q && q->hdr.data_length == SD_INODE_INDEX_END && q->hdr.obj.offset == 0);
	drive(&e, &r);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);
	e.f.auto_serve = 1;
	CHECK_EQ(sd_vdi_read(e.v, buf, sizeof(buf), OBJ), 0);
	CHECK_EQ(buf[0], 'x'); /* the full reload brought the new index */
	env_close(&e);
}

/*
 * SD_VDI_SHARED: a read of a cached hole asks the sheep first (one TGT
 * byte of the inode); INODE_INVALIDATED brings the index through the
 * refresh read, then the real read goes to the object another gateway
 * allocated.  The same read without the flag answers zeros from the cache.
 */
static void test_shared_probe(void)
{
	struct env e;
	struct rec r = { 0 };
	char buf[32];
	struct fake_req *q;
	struct fake_obj *o;

	memset(&e, 0, sizeof(e));
	fake_init(&e.f, SHIFT);
	e.vid = fake_vdi_create(&e.f, "v", 3 * OBJ, 0);
	e.f.auto_serve = 1;
	e.c = fake_connect(&e.f, NULL);
	CHECK(e.c != NULL);
	CHECK(sd_vdi_open_flags(e.c, "v", 0, NULL, 0x80) == NULL);
	e.v = sd_vdi_open_flags(e.c, "v", 0, NULL, SD_VDI_SHARED);
	CHECK(e.v != NULL);
	CHECK(e.f.nr_hellos > 0 && e.f.last_client != 0);
	e.f.auto_serve = 0;
	o = fake_obj_create(&e.f, sd_vid_to_data_oid(e.vid, 1), OBJ);
	memset(o->data, 'x', OBJ);
	fake_index(&e.f, e.vid)[1] = e.vid;

	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, sizeof(buf), OBJ, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(fake_nr_held(&e.f), 1);
	q = fake_find(&e.f, SD_OP_READ_OBJ, sd_vid_to_vdi_oid(e.vid));
	CHECK(q && q->hdr.data_length == 1 && (q->hdr.flags & SD_FLAG_CMD_TGT));
	if (q)
		fake_reply(&e.f, q, SD_RES_INODE_INVALIDATED, NULL, 0);
	fake_pump(&e.f, e.c, 50);
	q = fake_find(&e.f, SD_OP_GET_VDI_INFO, ALL);
	CHECK(q != NULL);
	if (q)
		fake_serve(&e.f, q);
	fake_pump(&e.f, e.c, 50);
	/* the refresh read, exactly upstream's shape */
	q = fake_find(&e.f, SD_OP_READ_OBJ, sd_vid_to_vdi_oid(e.vid));
	CHECK(q && q->hdr.data_length == SD_INODE_INDEX_END && q->hdr.obj.offset == 0 &&
	      (q->hdr.flags & SD_FLAG_CMD_TGT));
	drive(&e, &r);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);
	CHECK_EQ(buf[0], 'x');
	CHECK_EQ(buf[31], 'x');

	/* a hole that stays a hole: probe, then zeros */
	memset(buf, 1, sizeof(buf));
	r.calls = 0;
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, sizeof(buf), 0, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(count_op(&e.f, SD_OP_READ_OBJ), 1);
	drive(&e, &r);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(buf[0], 0);
	/* our own object: no probe */
	e.f.auto_serve = 1;
	CHECK_EQ(sd_vdi_write(e.v, "y", 1, 0), 0);
	e.f.auto_serve = 0;
	r.calls = 0;
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, 1, 0, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	q = fake_find(&e.f, SD_OP_READ_OBJ, ALL);
	CHECK(q && q->hdr.obj.oid == sd_vid_to_data_oid(e.vid, 0));
	drive(&e, &r);
	CHECK_EQ(buf[0], 'y');

	/* a partial discard of a cached hole that another gateway allocated */
	CHECK_EQ(sd_vdi_allocated(e.v, 2 * OBJ, NULL), 0);
	o = fake_obj_create(&e.f, sd_vid_to_data_oid(e.vid, 2), OBJ);
	memset(o->data, 'z', OBJ);
	fake_index(&e.f, e.vid)[2] = e.vid;
	r.calls = 0;
	CHECK_EQ(SUBMIT(sd_vdi_aio_discard(e.v, 512, 2 * OBJ + 512, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	q = fake_find(&e.f, SD_OP_READ_OBJ, sd_vid_to_vdi_oid(e.vid));
	CHECK(q && q->hdr.data_length == 1);
	if (q)
		fake_reply(&e.f, q, SD_RES_INODE_INVALIDATED, NULL, 0);
	drive(&e, &r);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);
	e.f.auto_serve = 1;
	CHECK_EQ(sd_vdi_read(e.v, buf, 4, 2 * OBJ + 510), 0);
	CHECK(buf[0] == 'z' && buf[1] == 'z' && buf[2] == 0 && buf[3] == 0);
	env_close(&e);
}

/*
 * The sheep restarts (or forgot us after a long outage) while a probe of a
 * cached hole is in flight, and another gateway allocates that object
 * meanwhile.  The HELLO of the new connection says SD_EXT_HELLO_NEW: the
 * vdi re-joins (RELEASE, then LOCK_VDI SHARED, then the refresh read) and
 * the read returns the other gateway's data, though the resent probe was
 * answered SUCCESS (a non-participant passes the sheep's check).  A
 * reconnect the sheep remembers re-joins nothing.
 */
static void test_shared_rejoin(void)
{
	struct sd_cluster_opts o;
	struct env e;
	struct rec r = { 0 };
	char buf[32];
	struct fake_req *q;
	struct fake_obj *obj;
	int i, releases;

	memset(&e, 0, sizeof(e));
	fake_init(&e.f, SHIFT);
	e.vid = fake_vdi_create(&e.f, "v", 3 * OBJ, 0);
	e.f.auto_serve = 1;
	sd_cluster_opts_init(&o);
	o.nr_connections = 2;
	e.c = fake_connect(&e.f, &o);
	CHECK(e.c != NULL);
	e.v = sd_vdi_open_flags(e.c, "v", 0, NULL, SD_VDI_SHARED);
	CHECK(e.v != NULL);
	CHECK_EQ(e.f.nr_shared_locks, 1);
	e.f.auto_serve = 0;

	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, sizeof(buf), OBJ, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	q = fake_find(&e.f, SD_OP_READ_OBJ, sd_vid_to_vdi_oid(e.vid));
	CHECK(q && q->hdr.data_length == 1);
	/* sheep restarts; the other gateway allocates the object */
	e.f.hello_flags = SD_EXT_HELLO_NEW;
	fake_kill_all(&e.f);
	obj = fake_obj_create(&e.f, sd_vid_to_data_oid(e.vid, 1), OBJ);
	memset(obj->data, 'x', OBJ);
	fake_index(&e.f, e.vid)[1] = e.vid;
	releases = e.f.nr_releases;
	/* the new sheep answers the resent probe first: SUCCESS */
	for (i = 0; i < 100 && !r.calls; i++) {
		fake_pump(&e.f, e.c, 20);
		q = fake_find(&e.f, SD_OP_READ_OBJ, sd_vid_to_vdi_oid(e.vid));
		if (q && q->hdr.data_length == 1) {
			fake_serve(&e.f, q);
			continue;
		}
		/* the re-join goes in order: release, lock, refresh read */
		q = fake_find(&e.f, SD_OP_LOCK_VDI, ALL);
		if (q) {
			CHECK_EQ(e.f.nr_releases, releases + 1);
			CHECK_EQ(q->hdr.vdi.type, SD_LOCK_TYPE_SHARED);
		}
		fake_serve_all(&e.f);
	}
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);
	CHECK_EQ(e.f.nr_shared_locks, 2);
	CHECK_EQ(e.f.nr_releases, releases + 1);
	CHECK_EQ(buf[0], 'x');
	CHECK_EQ(buf[31], 'x');

	/* a reconnect the sheep remembers: no re-join */
	e.f.hello_flags = 0;
	fake_kill_all(&e.f);
	e.f.auto_serve = 1;
	CHECK_EQ(sd_vdi_read(e.v, buf, sizeof(buf), 2 * OBJ), 0);
	CHECK_EQ(e.f.nr_shared_locks, 2);
	CHECK_EQ(e.f.nr_releases, releases + 1);
	CHECK_EQ(buf[0], 0);

	/*
	 * A re-join that fails fails the I/O waiting for it (a hole: it
	 * needs the probe), and is retried before the next.
	 */
	e.f.hello_flags = SD_EXT_HELLO_NEW;
	fake_kill_all(&e.f);
	e.f.auto_serve = 0;
	r.calls = 0;
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, sizeof(buf), 2 * OBJ, rec_cb, &r)), 0);
	for (i = 0; i < 100 && !r.calls; i++) {
		fake_pump(&e.f, e.c, 20);
		q = fake_find(&e.f, SD_OP_LOCK_VDI, ALL);
		if (q)
			fake_reply(&e.f, q, SD_RES_SYSTEM_ERROR, NULL, 0);
		else
			fake_serve_all(&e.f);
	}
	CHECK_EQ(r.calls, 1);
	CHECK(r.ret < 0);
	CHECK_EQ(e.f.nr_shared_locks, 2);
	e.f.auto_serve = 1;
	e.f.hello_flags = 0; /* it knows us now */
	memset(buf, 1, sizeof(buf));
	CHECK_EQ(sd_vdi_read(e.v, buf, sizeof(buf), 2 * OBJ), 0);
	CHECK_EQ(e.f.nr_shared_locks, 3);
	CHECK_EQ(buf[0], 0);
	env_close(&e);
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

static void test_errors_and_readonly_open(void)
{
	struct env e;
	struct rec r = { 0 };
	char buf[16];
	struct fake_req *q;
	struct sd_vdi *snap;

	env_open(&e, 2 * OBJ);
	e.f.auto_serve = 1;
	CHECK_EQ(sd_vdi_write(e.v, "x", 1, 0), 0);
	e.f.auto_serve = 0;
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, 16, 0, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	q = fake_find(&e.f, SD_OP_READ_OBJ, ALL);
	if (q)
		fake_reply(&e.f, q, SD_RES_NO_SPACE, NULL, 0);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, -ENOSPC);
	CHECK(strstr(sd_cluster_errmsg(e.c), "READ_OBJ") != NULL);
	/* a snapshot opened by id is read-only */
	fake_vdi_snapshot(&e.f, "v");
	e.f.auto_serve = 1;
	snap = sd_vdi_open(e.c, "v", 1, NULL);
	CHECK(snap != NULL);
	if (snap) {
		CHECK(sd_vdi_is_readonly(snap));
		CHECK_EQ(sd_vdi_aio_write(snap, buf, 1, 0, 0, rec_cb, &r), -EROFS);
		CHECK_EQ(sd_vdi_aio_discard(snap, 1, 0, rec_cb, &r), -EROFS);
		CHECK_EQ(sd_vdi_read(snap, buf, 1, 0), 0);
		CHECK_EQ(buf[0], 'x');
		CHECK_EQ(sd_vdi_close(snap), 0);
	}
	CHECK(sd_vdi_open(e.c, "nope", 0, NULL) == NULL && errno == ENOENT);
	/* hyper volumes (B-tree index) are refused, and the lock is released */
	{
		uint32_t hv = fake_vdi_create(&e.f, "hyper", OBJ, 0);
		int rel = e.f.nr_releases;

		((struct sd_inode_header *)fake_obj(&e.f, sd_vid_to_vdi_oid(hv))->data)
			->store_policy = SD_STORE_POLICY_BTREE;
		CHECK(sd_vdi_open(e.c, "hyper", 0, NULL) == NULL && errno == ENOTSUP);
		CHECK_EQ(e.f.nr_releases, rel + 1);
	}
	/* NO_OBJ on the inode (a snapshot in progress) is retried, bounded */
	e.f.noobj_inode_reads = 3;
	snap = sd_vdi_open(e.c, "v", 0, NULL);
	CHECK(snap != NULL);
	CHECK_EQ(e.f.noobj_inode_reads, 0);
	if (snap)
		CHECK_EQ(sd_vdi_close(snap), 0);
	e.f.noobj_inode_reads = 1000;
	CHECK(sd_vdi_open(e.c, "v", 0, NULL) == NULL && errno == ENOENT);
	e.f.noobj_inode_reads = 0;
	CHECK_EQ(sd_disconnect(e.c), -EBUSY);
	env_close(&e);
}

/*
 * The snapshot lands between our create and our inode update: the update
 * goes to the old (now snapshot) inode and the new working inode lacks the
 * entry.  The next reload notices and writes it into the new inode.
 */
static void test_snapshot_race_repair(void)
{
	struct env e;
	struct rec r = { 0 };
	char w[32], rd[32];
	struct fake_req *q;
	uint32_t old, nvid;
	int i;

	env_open(&e, 4 * OBJ);
	old = e.vid;
	memset(w, 'a', sizeof(w));
	e.f.auto_serve = 1;
	CHECK_EQ(sd_vdi_write(e.v, w, sizeof(w), 0), 0); /* object 0 allocated */
	e.f.auto_serve = 0;
	memset(w, 'b', sizeof(w));
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, w, sizeof(w), 2 * OBJ, 0, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	q = fake_find(&e.f, SD_OP_CREATE_AND_WRITE_OBJ, sd_vid_to_data_oid(old, 2));
	CHECK(q != NULL);
	if (q)
		fake_serve(&e.f, q);
	fake_pump(&e.f, e.c, 50);
	q = fake_find(&e.f, SD_OP_WRITE_OBJ, sd_vid_to_vdi_oid(old));
	CHECK(q != NULL);
	nvid = fake_vdi_snapshot(&e.f, "v"); /* copies index[2] == 0 */
	if (q)
		fake_serve(&e.f, q); /* lands in the snapshot only */
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);
	CHECK_EQ(fake_index(&e.f, nvid)[2], 0);
	/* the next write meets READONLY; the reload repairs the index */
	memset(&r, 0, sizeof(r));
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, w, 8, 100, 0, rec_cb, &r)), 0);
	for (i = 0; i < 50 && !r.calls; i++) {
		fake_pump(&e.f, e.c, 20);
		fake_serve_all(&e.f);
	}
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);
	CHECK_EQ(sd_vdi_id(e.v), nvid);
	CHECK_EQ(fake_index(&e.f, nvid)[2], old);
	CHECK_EQ(fake_index(&e.f, nvid)[0], nvid);
	e.f.auto_serve = 1;
	CHECK_EQ(sd_vdi_read(e.v, rd, sizeof(rd), 2 * OBJ), 0);
	CHECK(!memcmp(rd, w, sizeof(rd)));
	env_close(&e);
}

/* The same race, noticed by a flush (no write follows), and by close. */
static void test_snapshot_race_flush_close(void)
{
	struct env e;
	struct rec r = { 0 };
	char w[32];
	struct fake_req *q;
	uint32_t old, nvid;
	int pass, i;

	for (pass = 0; pass < 2; pass++) {
		env_open(&e, 4 * OBJ);
		old = e.vid;
		memset(w, 'c', sizeof(w));
		memset(&r, 0, sizeof(r));
		CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, w, sizeof(w), OBJ, 0, rec_cb, &r)), 0);
		fake_pump(&e.f, e.c, 50);
		q = fake_find(&e.f, SD_OP_CREATE_AND_WRITE_OBJ, ALL);
		if (q)
			fake_serve(&e.f, q);
		fake_pump(&e.f, e.c, 50);
		q = fake_find(&e.f, SD_OP_WRITE_OBJ, sd_vid_to_vdi_oid(old));
		CHECK(q != NULL);
		nvid = fake_vdi_snapshot(&e.f, "v");
		if (q)
			fake_serve(&e.f, q);
		fake_pump(&e.f, e.c, 50);
		CHECK_EQ(r.calls, 1);
		CHECK_EQ(fake_index(&e.f, nvid)[1], 0);
		if (pass == 0) {
			memset(&r, 0, sizeof(r));
			CHECK_EQ(SUBMIT(sd_vdi_aio_flush(e.v, rec_cb, &r)), 0);
			for (i = 0; i < 50 && !r.calls; i++) {
				fake_pump(&e.f, e.c, 20);
				fake_serve_all(&e.f);
			}
			CHECK_EQ(r.calls, 1);
			CHECK_EQ(r.ret, 0);
			CHECK_EQ(sd_vdi_id(e.v), nvid);
			/* a second flush needs no lookup */
			memset(&r, 0, sizeof(r));
			CHECK_EQ(SUBMIT(sd_vdi_aio_flush(e.v, rec_cb, &r)), 0);
			fake_pump(&e.f, e.c, 50);
			CHECK_EQ(fake_nr_held(&e.f), 1);
			CHECK(fake_find(&e.f, SD_OP_FLUSH_VDI, ALL) != NULL);
			fake_serve_all(&e.f);
			fake_pump(&e.f, e.c, 50);
			CHECK_EQ(r.calls, 1);
		}
		/* pass 1: close notices it */
		e.f.auto_serve = 1;
		CHECK_EQ(sd_vdi_close(e.v), 0);
		e.v = NULL;
		CHECK_EQ(fake_index(&e.f, nvid)[1], old);
		env_close(&e);
	}
}

/*
 * Many writes in flight when a snapshot is taken: one reload, not one per
 * READONLY reply, and every write lands in the new vid.
 */
static void test_readonly_burst(void)
{
	struct env e;
	struct rec r[8];
	char w[8][64], rd[64];
	struct fake_req *q;
	uint32_t old, nvid;
	int i, lookups = 0, done;

	env_open(&e, 8 * OBJ);
	old = e.vid;
	e.f.auto_serve = 1;
	for (i = 0; i < 8; i++)
		CHECK_EQ(sd_vdi_write(e.v, "z", 1, (uint64_t)i * OBJ), 0);
	e.f.auto_serve = 0;
	nvid = fake_vdi_snapshot(&e.f, "v");
	memset(r, 0, sizeof(r));
	for (i = 0; i < 8; i++) {
		memset(w[i], 'A' + i, sizeof(w[i]));
		CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, w[i], sizeof(w[i]), (uint64_t)i * OBJ + 10, 0,
						 rec_cb, &r[i])),
			 0);
	}
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(count_op(&e.f, SD_OP_WRITE_OBJ), 8);
	/* answer one READONLY, let the reload finish, then the other seven */
	q = fake_find(&e.f, SD_OP_WRITE_OBJ, ALL);
	if (q)
		fake_serve(&e.f, q);
	for (i = 0; i < 20; i++) {
		fake_pump(&e.f, e.c, 20);
		while ((q = fake_find(&e.f, SD_OP_GET_VDI_INFO, ALL))) {
			lookups++;
			fake_serve(&e.f, q);
		}
		q = fake_find(&e.f, SD_OP_READ_OBJ, sd_vid_to_vdi_oid(nvid));
		if (q)
			fake_serve(&e.f, q);
	}
	CHECK_EQ(sd_vdi_id(e.v), nvid);
	for (i = 0; i < 100; i++) {
		int j;

		fake_pump(&e.f, e.c, 20);
		while ((q = fake_find(&e.f, SD_OP_GET_VDI_INFO, ALL))) {
			lookups++;
			fake_serve(&e.f, q);
		}
		fake_serve_all(&e.f);
		for (j = 0, done = 0; j < 8; j++)
			done += r[j].calls;
		if (done == 8)
			break;
	}
	CHECK_EQ(lookups, 1);
	for (i = 0; i < 8; i++) {
		CHECK_EQ(r[i].calls, 1);
		CHECK_EQ(r[i].ret, 0);
		CHECK_EQ(fake_index(&e.f, nvid)[i], nvid);
		CHECK_EQ(fake_index(&e.f, old)[i], old);
	}
	e.f.auto_serve = 1;
	for (i = 0; i < 8; i++) {
		CHECK_EQ(sd_vdi_read(e.v, rd, sizeof(rd), (uint64_t)i * OBJ + 10), 0);
		CHECK(!memcmp(rd, w[i], sizeof(rd)));
	}
	env_close(&e);
}

/* A server that answers READONLY for ever: the write fails, it does not spin. */
static void test_readonly_forever(void)
{
	struct env e;
	struct rec r = { 0 };
	char w[16] = "x";
	struct fake_req *q;
	int i, n = 0;

	env_open(&e, OBJ);
	e.f.auto_serve = 1;
	CHECK_EQ(sd_vdi_write(e.v, w, sizeof(w), 0), 0);
	e.f.auto_serve = 0;
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, w, sizeof(w), 0, 0, rec_cb, &r)), 0);
	for (i = 0; i < 500 && !r.calls; i++) {
		fake_pump(&e.f, e.c, 10);
		while ((q = fake_held(&e.f, 0))) {
			if (q->hdr.opcode == SD_OP_WRITE_OBJ && sd_is_data_obj(q->hdr.obj.oid)) {
				fake_reply(&e.f, q, SD_RES_READONLY, NULL, 0);
				n++;
			} else {
				fake_serve(&e.f, q); /* GET_VDI_INFO: same vid again */
			}
		}
	}
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, -EROFS);
	CHECK(n > 5 && n < 40);
	env_close(&e);
}

/* The cluster goes away: requests fail after the retry window, close is quick. */
static void test_unreachable(void)
{
	struct sd_cluster_opts o;
	struct env e;
	struct rec r = { 0 };
	char buf[16];
	uint64_t t0;
	int i;

	memset(&e, 0, sizeof(e));
	fake_init(&e.f, SHIFT);
	e.vid = fake_vdi_create(&e.f, "v", OBJ, 0);
	fake_obj_create(&e.f, sd_vid_to_data_oid(e.vid, 0), OBJ);
	fake_index(&e.f, e.vid)[0] = e.vid;
	sd_cluster_opts_init(&o);
	o.retry_timeout_ms = 400;
	e.f.auto_serve = 1;
	e.c = fake_connect(&e.f, &o);
	CHECK(e.c != NULL);
	if (!e.c)
		return;
	e.v = sd_vdi_open(e.c, "v", 0, NULL);
	CHECK(e.v != NULL);
	e.f.auto_serve = 0;
	e.f.refuse = 1;
	fake_kill_all(&e.f);
	t0 = sdl_now_ms();
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, sizeof(buf), 0, rec_cb, &r)), 0);
	for (i = 0; i < 500 && !r.calls; i++)
		fake_pump(&e.f, e.c, 10);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, -ENOTCONN);
	CHECK(sdl_now_ms() - t0 >= 350);
	CHECK_EQ(r.in_submit, 0);
	t0 = sdl_now_ms();
	CHECK_EQ(sd_vdi_close(e.v), 0);
	e.v = NULL;
	CHECK(sdl_now_ms() - t0 < 300);
	e.f.refuse = 0;
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

/* What a completion callback saw when it tried the sync calls. */
struct reentry {
	struct env *e;
	int calls;
	int open_errno;
	int opened;
	int inflight_before, inflight_after;
	int create_msg_ok;
	int read_ret, write_ret, close_ret, create_ret, sdreq_ret, disconnect_ret, list_ret;
	int seen_before, seen_after;
	char msg[256];
};

static void reentry_cb(struct sd_vdi *v, int ret, void *opaque)
{
	struct reentry *r = opaque;
	struct sd_vdi_info *info = NULL;
	struct sd_req hdr;
	struct sd_vdi *v2;
	char buf[512];

	r->calls++;
	r->seen_before = r->e->f.nr_seen;
	errno = 0;
	v2 = sd_vdi_open(r->e->c, "v", 0, NULL);
	r->open_errno = errno;
	r->opened = v2 != NULL;
	snprintf(r->msg, sizeof(r->msg), "%s", sd_cluster_errmsg(r->e->c));
	r->inflight_before = r->e->c->e.nr_inflight + (int)sdl_list_empty(&r->e->c->e.pending);
	r->read_ret = sd_vdi_read(v, buf, sizeof(buf), 0);
	r->write_ret = sd_vdi_write(v, buf, sizeof(buf), 0);
	r->inflight_after = r->e->c->e.nr_inflight + (int)sdl_list_empty(&r->e->c->e.pending);
	r->close_ret = sd_vdi_close(v);
	r->create_ret = sd_vdi_create(r->e->c, "other", OBJ);
	r->create_msg_ok = strstr(sd_cluster_errmsg(r->e->c), "sd_vdi_create") != NULL;
	memset(&hdr, 0, sizeof(hdr));
	hdr.opcode = SD_OP_GET_CLUSTER_DEFAULT;
	r->sdreq_ret = sd_run_sdreq(r->e->c, &hdr, NULL);
	r->list_ret = sd_vdi_list(r->e->c, &info);
	free(info);
	r->disconnect_ret = sd_disconnect(r->e->c);
	r->seen_after = r->e->f.nr_seen;
}

/*
 * A sync call from a completion callback fails with -EDEADLK, sends
 * nothing and leaves a message saying why; the handle keeps working.
 */
static void test_sync_from_callback(void)
{
	struct env e;
	struct reentry r;
	char buf[512];
	int i;

	env_open(&e, 4 * OBJ);
	memset(&r, 0, sizeof(r));
	r.e = &e;
	e.f.auto_serve = 1;
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, sizeof(buf), 0, reentry_cb, &r)), 0);
	for (i = 0; i < 40 && !r.calls; i++)
		fake_pump(&e.f, e.c, 50);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.opened, 0);
	CHECK_EQ(r.open_errno, EDEADLK);
	CHECK(strstr(r.msg, "sd_vdi_open") != NULL);
	CHECK(strstr(r.msg, "completion callback") != NULL);
	CHECK_EQ(r.read_ret, -EDEADLK);
	CHECK_EQ(r.write_ret, -EDEADLK);
	CHECK_EQ(r.inflight_after, r.inflight_before);
	CHECK_EQ(r.close_ret, -EDEADLK);
	CHECK_EQ(r.create_ret, -EDEADLK);
	CHECK(r.create_msg_ok);
	CHECK_EQ(r.sdreq_ret, -EDEADLK);
	CHECK_EQ(r.list_ret, -EDEADLK);
	CHECK_EQ(r.disconnect_ret, -EDEADLK);
	CHECK_EQ(r.seen_after, r.seen_before);
	/* outside a callback the same calls work again */
	CHECK_EQ(sd_vdi_read(e.v, buf, sizeof(buf), 0), 0);
	env_close(&e);
}

/*
 * Like an application's event loop (tgtd's): sd_cluster_service only when
 * sd_cluster_fd() is readable, for at most ms.
 */
static void pump_on_events(struct env *e, const struct rec *r, int ms)
{
	uint64_t end = sdl_now_ms() + (uint64_t)ms;

	while (!r->calls && sdl_now_ms() < end) {
		struct pollfd pfd = { .fd = sd_cluster_fd(e->c), .events = POLLIN };

		fake_io(&e->f);
		if (poll(&pfd, 1, 1) > 0)
			sd_cluster_service(e->c);
	}
}

struct chain {
	struct rec first, second;
};

static void chain_cb(struct sd_vdi *v, int ret, void *opaque)
{
	struct chain *ch = opaque;

	rec_cb(v, ret, &ch->first);
	/* the index changed (a new object): the flush reloads the inode
	 * first, which needs the vdis kicked */
	CHECK_EQ(sd_vdi_aio_flush(v, rec_cb, &ch->second), 0);
}

/*
 * I/O that a completion callback starts goes out in the same service
 * round, also when it needs the vdis kicked, on a loop that services the
 * handle only when its fd is readable: nothing else may ever wake it.
 */
static void test_kick_from_callback(void)
{
	struct env e;
	struct chain ch;
	char buf[512];

	env_open(&e, 4 * OBJ);
	memset(&ch, 0, sizeof(ch));
	memset(buf, 7, sizeof(buf));
	e.f.auto_serve = 1;
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, buf, sizeof(buf), OBJ, 0, chain_cb, &ch)), 0);
	pump_on_events(&e, &ch.first, 2000);
	CHECK_EQ(ch.first.calls, 1);
	CHECK_EQ(ch.first.ret, 0);
	/* well inside the io timeout (5 s), the engine's only timer */
	pump_on_events(&e, &ch.second, 1000);
	CHECK_EQ(ch.second.calls, 1);
	CHECK_EQ(ch.second.ret, 0);
	env_close(&e);
}

/*
 * sd_vdi_open runs on the application's loop: a sheep that never answers
 * the lock, or keeps answering NO_OBJ for the inode, holds it for one
 * connect timeout, not for the io timeout plus the retry window.
 */
static void test_open_bounded(void)
{
	struct sd_cluster_opts o;
	struct sd_cluster *c;
	struct sd_vdi *v;
	struct fake f;
	uint64_t t0;

	fake_init(&f, SHIFT);
	fake_vdi_create(&f, "v", 4 * OBJ, 0);
	sd_cluster_opts_init(&o);
	o.connect_timeout_ms = 300;
	o.io_timeout_ms = 5000;
	o.retry_timeout_ms = 5000;
	f.auto_serve = 1;
	c = fake_connect(&f, &o);
	CHECK(c != NULL);
	if (!c)
		return;
	/* the lock is never answered */
	f.auto_serve = 0;
	t0 = sdl_now_ms();
	errno = 0;
	v = sd_vdi_open(c, "v", 0, NULL);
	CHECK(v == NULL);
	CHECK_EQ(errno, ETIMEDOUT);
	CHECK(sdl_now_ms() - t0 >= 250);
	CHECK(sdl_now_ms() - t0 < 2000);
	CHECK_EQ(c->e.nr_inflight, 0);
	/* the inode stays NO_OBJ: retried, but within the same bound */
	while (fake_nr_held(&f))
		fake_drop(&f, fake_held(&f, 0));
	f.auto_serve = 1;
	f.noobj_inode_reads = 1000;
	t0 = sdl_now_ms();
	v = sd_vdi_open(c, "v", 0, NULL);
	CHECK(v == NULL);
	CHECK_EQ(errno, ETIMEDOUT);
	/* 40 sleeps of 50 ms (2 s) before */
	CHECK(sdl_now_ms() - t0 < 1500);
	f.noobj_inode_reads = 0;
	v = sd_vdi_open(c, "v", 0, NULL);
	CHECK(v != NULL);
	if (v)
		CHECK_EQ(sd_vdi_close(v), 0);
	CHECK_EQ(sd_disconnect(c), 0);
	fake_fini(&f);
	CHECK_EQ(sdl_alloc_live(), 0);
}

static struct sd_inode_header *inode_of(struct fake *f, uint32_t vid)
{
	return (struct sd_inode_header *)fake_obj(f, sd_vid_to_vdi_oid(vid))->data;
}

/*
 * sd_vdi_aio_refresh: a resize done elsewhere becomes the handle's size;
 * range checks follow it; the callback never runs inside the submit.
 */
static void test_refresh_grow(void)
{
	struct env e;
	struct rec r = { 0 }, rd = { 0 };
	char buf[512];

	env_open(&e, 4 * OBJ);
	CHECK_EQ(sd_vdi_aio_read(e.v, buf, sizeof(buf), 4 * OBJ, rec_cb, &rd), -EINVAL);
	inode_of(&e.f, e.vid)->vdi_size = 8 * OBJ;
	CHECK_EQ(SUBMIT(sd_vdi_aio_refresh(e.v, rec_cb, &r)), 0);
	CHECK_EQ(r.calls, 0);
	CHECK_EQ(sd_vdi_size(e.v), 4 * OBJ);
	drive(&e, &r);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);
	CHECK_EQ(r.in_submit, 0);
	CHECK_EQ(sd_vdi_size(e.v), 8 * OBJ);
	/* beyond the old end: a hole, read as zeros */
	memset(buf, 'x', sizeof(buf));
	CHECK_EQ(sd_vdi_aio_read(e.v, buf, sizeof(buf), 7 * OBJ, rec_cb, &rd), 0);
	drive(&e, &rd);
	CHECK_EQ(rd.ret, 0);
	CHECK_EQ(buf[0], 0);
	CHECK_EQ(sd_vdi_aio_read(e.v, buf, 1, 8 * OBJ, rec_cb, &rd), -EINVAL);
	/* the synchronous form, with nothing changed */
	e.f.auto_serve = 1;
	CHECK_EQ(sd_vdi_refresh(e.v), 0);
	CHECK_EQ(sd_vdi_size(e.v), 8 * OBJ);
	env_close(&e);
}

/*
 * A reload already in flight when the refresh is submitted may have read
 * the inode before the resize: the refresh waits for one more.
 */
static void test_refresh_during_reload(void)
{
	struct env e;
	struct rec a = { 0 }, b = { 0 };

	env_open(&e, 4 * OBJ);
	CHECK_EQ(SUBMIT(sd_vdi_aio_refresh(e.v, rec_cb, &a)), 0);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(count_op(&e.f, SD_OP_GET_VDI_INFO), 1);
	fake_serve_all(&e.f);
	fake_pump(&e.f, e.c, 50);
	CHECK(fake_find(&e.f, SD_OP_READ_OBJ, sd_vid_to_vdi_oid(e.vid)) != NULL);
	CHECK_EQ(SUBMIT(sd_vdi_aio_refresh(e.v, rec_cb, &b)), 0);
	fake_serve_all(&e.f); /* the first reload reads the old size */
	inode_of(&e.f, e.vid)->vdi_size = 6 * OBJ;
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(a.calls, 1);
	CHECK_EQ(a.ret, 0);
	CHECK_EQ(b.calls, 0);
	CHECK_EQ(sd_vdi_size(e.v), 4 * OBJ);
	CHECK_EQ(count_op(&e.f, SD_OP_GET_VDI_INFO), 1);
	drive(&e, &b);
	CHECK_EQ(b.calls, 1);
	CHECK_EQ(b.ret, 0);
	CHECK_EQ(sd_vdi_size(e.v), 6 * OBJ);
	env_close(&e);
}

/* Many refreshes in a row are no READONLY loop: none gives up. */
static void test_refresh_repeated(void)
{
	struct env e;
	int i;

	env_open(&e, 4 * OBJ);
	e.f.auto_serve = 1;
	for (i = 0; i < 40; i++)
		CHECK_EQ(sd_vdi_refresh(e.v), 0);
	env_close(&e);
}

/* A deleted vdi or snapshot: -ENOENT, and the handle keeps its size. */
static void test_refresh_deleted(void)
{
	struct env e;
	struct sd_vdi *snap;
	uint32_t snapvid;

	env_open(&e, 4 * OBJ);
	e.f.auto_serve = 1;
	snap = sd_vdi_open(e.c, "v", 1, NULL);
	CHECK(snap != NULL);
	if (snap) {
		snapvid = sd_vdi_id(snap);
		CHECK(sd_vdi_is_readonly(snap));
		CHECK_EQ(sd_vdi_refresh(snap), 0);
		memset(inode_of(&e.f, snapvid)->name, 0, SD_MAX_VDI_LEN);
		inode_of(&e.f, snapvid)->vdi_size = 0;
		CHECK_EQ(sd_vdi_refresh(snap), -ENOENT);
		CHECK_EQ(sd_vdi_size(snap), 4 * OBJ);
		CHECK_EQ(sd_vdi_close(snap), 0);
	}
	/* the working vdi's name is gone: GET_VDI_INFO answers NO_VDI */
	e.f.vdis[0].name[0] = '\0';
	CHECK_EQ(sd_vdi_refresh(e.v), -ENOENT);
	CHECK_EQ(sd_vdi_size(e.v), 4 * OBJ);
	memcpy(e.f.vdis[0].name, "v", 2);
	env_close(&e);
}

/* Every allocation of a refresh fails in turn: -ENOMEM, nothing leaks. */
static void test_refresh_alloc_failures(void)
{
	struct env e;
	long n;

	for (n = 1; n < 20; n++) {
		struct rec r = { 0 };
		int ret;

		env_open(&e, 4 * OBJ);
		inode_of(&e.f, e.vid)->vdi_size = 5 * OBJ;
		sdl_alloc_fail_nth(n);
		ret = sd_vdi_aio_refresh(e.v, rec_cb, &r);
		if (!ret)
			drive(&e, &r);
		sdl_alloc_fail_nth(0);
		if (ret) {
			CHECK_EQ(ret, -ENOMEM);
			CHECK_EQ(r.calls, 0);
		} else {
			CHECK_EQ(r.calls, 1);
			CHECK(r.ret == 0 || r.ret == -ENOMEM);
			CHECK_EQ(sd_vdi_size(e.v), r.ret ? 4 * OBJ : 5 * OBJ);
		}
		env_close(&e);
		if (!ret && !r.ret)
			break;
	}
	CHECK(n > 2);
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
	RUN_TEST(test_readonly_reload_cow, passed, failed);
	RUN_TEST(test_inode_invalidated, passed, failed);
	RUN_TEST(test_shared_probe, passed, failed);
	RUN_TEST(test_shared_rejoin, passed, failed);
	RUN_TEST(test_flush_fua_discard, passed, failed);
	RUN_TEST(test_allocated, passed, failed);
	RUN_TEST(test_errors_and_readonly_open, passed, failed);
	RUN_TEST(test_snapshot_race_repair, passed, failed);
	RUN_TEST(test_snapshot_race_flush_close, passed, failed);
	RUN_TEST(test_readonly_burst, passed, failed);
	RUN_TEST(test_readonly_forever, passed, failed);
	RUN_TEST(test_unreachable, passed, failed);
	RUN_TEST(test_alloc_failures, passed, failed);
	RUN_TEST(test_sync_from_callback, passed, failed);
	RUN_TEST(test_kick_from_callback, passed, failed);
	RUN_TEST(test_open_bounded, passed, failed);
	RUN_TEST(test_refresh_grow, passed, failed);
	RUN_TEST(test_refresh_during_reload, passed, failed);
	RUN_TEST(test_refresh_repeated, passed, failed);
	RUN_TEST(test_refresh_deleted, passed, failed);
	RUN_TEST(test_refresh_alloc_failures, passed, failed);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
