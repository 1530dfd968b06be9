// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libsheepdog's inode reloads against the fake sheep (tests/unit/sdl_fake.c):
 * READONLY and INODE_INVALIDATED recovery with COW, snapshots racing with
 * creates, flush and close, shared-mode probes and re-joins, and
 * sd_vdi_refresh (growth, during a reload, repeated, a deleted vdi,
 * allocation failures).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl_check.h"
#include "sdl_priv.h"
#include "sdl_env.h"

int g_check_failed;

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
	/* a new working vid: its index is read and compared (not shared:
	 * the header and the first 4,096 entries, as at open) */
	if (q)
		CHECK_EQ(q->hdr.data_length, SD_INODE_HEADER_SIZE + 4096 * 4);
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

/*
 * The handle keeps the part of the index its vdi's size needs, not the
 * format's 2^20 entries (what it reads is test_open_reads' and
 * test_reload_reads' business).  A resize elsewhere grows
 * it (an index past one page here), the new range is addressable; a
 * snapshot underneath (a full reload of the new vid) brings the entries
 * another writer put at the far end, and COW works across the range.
 */
static void test_partial_index(void)
{
	const uint32_t big = 3000; /* 12,000 bytes of index */
	struct env e;
	char w[64], rd[64], far[64];
	uint32_t old, nvid;

	env_open(&e, 4 * OBJ);
	CHECK_EQ(e.v->nr_idx, 4);
	old = e.vid;
	e.f.auto_serve = 1;
	fill(w, sizeof(w), 1);
	CHECK_EQ(sd_vdi_write(e.v, w, sizeof(w), 3 * OBJ), 0);
	/* resized elsewhere; another writer's object at the far end */
	inode_of(&e.f, old)->vdi_size = (uint64_t)big * OBJ;
	fill(far, sizeof(far), 2);
	memcpy(fake_obj_create(&e.f, sd_vid_to_data_oid(old, big - 1), OBJ)->data, far,
	       sizeof(far));
	fake_index(&e.f, old)[big - 1] = old;
	CHECK_EQ(sd_vdi_refresh(e.v), 0);
	CHECK_EQ(sd_vdi_size(e.v), (uint64_t)big * OBJ);
	CHECK_EQ(e.v->nr_idx, big);
	/* the new range: our write lands in it and reads back */
	fill(w, sizeof(w), 3);
	CHECK_EQ(sd_vdi_write(e.v, w, sizeof(w), (uint64_t)(big - 2) * OBJ + 8), 0);
	CHECK_EQ(fake_index(&e.f, old)[big - 2], old);
	CHECK_EQ(sd_vdi_read(e.v, rd, sizeof(rd), (uint64_t)(big - 2) * OBJ + 8), 0);
	CHECK(!memcmp(rd, w, sizeof(w)));
	/* a snapshot underneath: the write meets READONLY, the full reload of
	 * the new vid takes every entry of the range, the write COWs */
	nvid = fake_vdi_snapshot(&e.f, "v");
	fill(w, sizeof(w), 4);
	CHECK_EQ(sd_vdi_write(e.v, w, sizeof(w), 3 * OBJ + 100), 0);
	CHECK_EQ(sd_vdi_id(e.v), nvid);
	CHECK_EQ(e.v->nr_idx, big);
	CHECK_EQ(fake_index(&e.f, nvid)[3], nvid);
	CHECK_EQ(sd_vdi_read(e.v, rd, sizeof(rd), 3 * OBJ + 100), 0);
	CHECK(!memcmp(rd, w, sizeof(w)));
	fill(w, sizeof(w), 1);
	CHECK_EQ(sd_vdi_read(e.v, rd, sizeof(rd), 3 * OBJ), 0);
	CHECK(!memcmp(rd, w, sizeof(w)));
	CHECK_EQ(sd_vdi_read(e.v, rd, sizeof(rd), (uint64_t)(big - 1) * OBJ), 0);
	CHECK(!memcmp(rd, far, sizeof(far)));
	env_close(&e);
}

/*
 * INODE_INVALIDATED across a partial index larger than a page: another
 * gateway allocated the far-end object; the reload (the whole inode read
 * into a transient buffer) brings that entry into the kept range, and the
 * handle still keeps exactly the entries its size needs.
 */
static void test_partial_index_invalidated(void)
{
	const uint32_t big = 3000;
	struct env e;
	struct rec r = { 0 };
	char buf[32], far[32];
	struct fake_req *q;

	memset(&e, 0, sizeof(e));
	fake_init(&e.f, SHIFT);
	e.vid = fake_vdi_create(&e.f, "v", (uint64_t)big * OBJ, 0);
	env_setup(&e, "v", 0);
	CHECK_EQ(e.v->nr_idx, big);
	fill(far, sizeof(far), 5);
	memcpy(fake_obj_create(&e.f, sd_vid_to_data_oid(e.vid, big - 1), OBJ)->data, far,
	       sizeof(far));
	fake_index(&e.f, e.vid)[big - 1] = e.vid;
	e.f.auto_serve = 1;
	CHECK_EQ(sd_vdi_read(e.v, buf, sizeof(buf), (uint64_t)(big - 1) * OBJ), 0);
	CHECK_EQ(buf[0], 0); /* stale index: a hole */
	e.f.auto_serve = 0;
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, buf, 8, 0, 0, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	q = fake_find(&e.f, SD_OP_CREATE_AND_WRITE_OBJ, ALL);
	CHECK(q != NULL);
	if (q)
		fake_reply(&e.f, q, SD_RES_INODE_INVALIDATED, NULL, 0);
	e.f.auto_serve = 1;
	drive(&e, &r);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);
	CHECK_EQ(e.v->nr_idx, big);
	CHECK_EQ(sd_vdi_read(e.v, buf, sizeof(buf), (uint64_t)(big - 1) * OBJ), 0);
	CHECK(!memcmp(buf, far, sizeof(far)));
	CHECK_EQ(fake_index(&e.f, e.vid)[0], e.vid); /* the write went on */
	env_close(&e);
}

/* An object of the fake's vdi at index idx, filled by seed (copied to far). */
static void far_object(struct env *e, uint32_t idx, char *far, size_t len, int seed)
{
	fill(far, len, seed);
	memcpy(fake_obj_create(&e->f, sd_vid_to_data_oid(e->vid, idx), OBJ)->data, far, len);
	fake_index(&e->f, e->vid)[idx] = e->vid;
}

/* Connect and open "v" with flags, every request served: 0, or -1 (closed). */
static int open_served(struct env *e, unsigned flags)
{
	e->f.auto_serve = 1;
	e->c = fake_connect(&e->f, NULL);
	CHECK(e->c != NULL);
	e->v = e->c ? sd_vdi_open_flags(e->c, "v", 0, NULL, flags) : NULL;
	CHECK(e->v != NULL);
	if (e->v)
		return 0;
	env_close(e);
	return -1;
}

/*
 * What an open reads of the inode: without SD_VDI_SHARED only the header
 * and the index its size needs (one read up to 4,096 entries, a second
 * beyond); with it the whole inode, the shared lock's refresh read.
 */
static void test_open_reads(void)
{
	static const struct {
		uint32_t objs;
		unsigned flags;
		int reads;
		uint64_t bytes;
	} cases[] = {
		{ 16, 0, 1, SD_INODE_HEADER_SIZE + 4096 * 4 },
		{ 4096, 0, 1, SD_INODE_HEADER_SIZE + 4096 * 4 },
		{ 5000, 0, 2, SD_INODE_HEADER_SIZE + 5000 * 4 },
		{ 16, SD_VDI_SHARED, 1, SD_INODE_INDEX_END },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct env e;
		char far[32], rd[32];
		uint32_t last = cases[i].objs - 1;

		memset(&e, 0, sizeof(e));
		fake_init(&e.f, SHIFT);
		e.vid = fake_vdi_create(&e.f, "v", (uint64_t)cases[i].objs * OBJ, 0);
		far_object(&e, last, far, sizeof(far), 7);
		if (open_served(&e, cases[i].flags))
			continue;
		CHECK_EQ(e.f.nr_inode_reads, cases[i].reads);
		CHECK_EQ(e.f.inode_read_bytes, cases[i].bytes);
		CHECK_EQ(e.v->nr_idx, cases[i].objs);
		/* the last entry came with it (from the second read past 4,096) */
		CHECK_EQ(sd_vdi_read(e.v, rd, sizeof(rd), (uint64_t)last * OBJ), 0);
		CHECK(!memcmp(rd, far, sizeof(far)));
		env_close(&e);
	}
}

/*
 * What a reload reads of the inode after a snapshot underneath (READONLY,
 * GET_VDI_INFO names the new working vid, then its inode is read; served
 * reads are counted, not the one refused as stale).  Without
 * SD_VDI_SHARED: the header and the index the handle keeps (at least
 * 4,096 entries) in one read, and a second one for the rest when the vdi
 * was resized larger meanwhile; with it, or when the sheep says the
 * handle's index is stale (INODE_INVALIDATED), the whole inode: the
 * shared-lock protocol's refresh read.
 */
static void test_reload_reads(void)
{
	static const struct {
		uint32_t objs, grown; /* objects at open, and after a resize (0: none) */
		unsigned flags;
		int stale; /* the partial read is answered INODE_INVALIDATED */
		int reads;
		uint64_t bytes;
	} cases[] = {
		{ 16, 0, 0, 0, 1, SD_INODE_HEADER_SIZE + 4096 * 4 },
		{ 5000, 0, 0, 0, 1, SD_INODE_HEADER_SIZE + 5000 * 4 },
		{ 16, 5000, 0, 0, 2, SD_INODE_HEADER_SIZE + 5000 * 4 },
		{ 16, 0, 0, 1, 1, SD_INODE_INDEX_END },
		{ 16, 0, SD_VDI_SHARED, 0, 1, SD_INODE_INDEX_END },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t objs = cases[i].grown ? cases[i].grown : cases[i].objs;
		uint32_t last = objs - 1, nvid;
		struct env e;
		char far[32], rd[32], w[32];

		memset(&e, 0, sizeof(e));
		fake_init(&e.f, SHIFT);
		e.vid = fake_vdi_create(&e.f, "v", (uint64_t)cases[i].objs * OBJ, 0);
		if (open_served(&e, cases[i].flags))
			continue;
		/* elsewhere: maybe a resize, an object at the far end, a snapshot */
		inode_of(&e.f, e.vid)->vdi_size = (uint64_t)objs * OBJ;
		far_object(&e, last, far, sizeof(far), 8);
		nvid = fake_vdi_snapshot(&e.f, "v");
		e.f.nr_inode_reads = 0;
		e.f.inode_read_bytes = 0;
		e.f.stale_partial_reads = cases[i].stale;
		fill(w, sizeof(w), 9);
		CHECK_EQ(sd_vdi_write(e.v, w, sizeof(w), 0), 0);
		CHECK_EQ(sd_vdi_id(e.v), nvid);
		CHECK_EQ(e.f.stale_partial_reads, 0);
		CHECK_EQ(e.f.nr_inode_reads, cases[i].reads);
		CHECK_EQ(e.f.inode_read_bytes, cases[i].bytes);
		CHECK_EQ(e.v->nr_idx, objs);
		CHECK_EQ(sd_vdi_size(e.v), (uint64_t)objs * OBJ);
		/* the far end came with it (past 4,096 entries: a second read if it grew) */
		CHECK_EQ(sd_vdi_read(e.v, rd, sizeof(rd), (uint64_t)last * OBJ), 0);
		CHECK(!memcmp(rd, far, sizeof(far)));
		CHECK_EQ(sd_vdi_read(e.v, rd, sizeof(rd), 0), 0);
		CHECK(!memcmp(rd, w, sizeof(w)));
		env_close(&e);
	}
}

/*
 * Coherence is checked per (vid of the object, client): a read of an
 * ancestor's object goes without the TGT flag (our own inode's probe
 * covers it), so a stale participation of the ancestor's vid held by
 * another handle of the same client (a gateway pool with a clone and its
 * base) cannot refuse it; reads of our own objects stay flagged.
 */
static void test_ancestor_reads_unflagged(void)
{
	static const unsigned flags[] = { 0, SD_VDI_SHARED };
	size_t i;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		struct env e;
		struct rec r = { 0 }, r2 = { 0 };
		char buf[32], want[32];
		struct fake_req *q;
		uint32_t base, child;

		memset(&e, 0, sizeof(e));
		fake_init(&e.f, SHIFT);
		base = fake_vdi_create(&e.f, "base", 2 * OBJ, 0);
		fill(want, sizeof(want), 9);
		memcpy(fake_obj_create(&e.f, sd_vid_to_data_oid(base, 0), OBJ)->data, want,
		       sizeof(want));
		fake_index(&e.f, base)[0] = base;
		child = fake_vdi_create(&e.f, "child", 2 * OBJ, base);
		fake_obj_create(&e.f, sd_vid_to_data_oid(child, 1), OBJ);
		fake_index(&e.f, child)[1] = child;
		e.f.auto_serve = 1;
		e.c = fake_connect(&e.f, NULL);
		CHECK(e.c != NULL);
		e.v = e.c ? sd_vdi_open_flags(e.c, "child", 0, NULL, flags[i]) : NULL;
		CHECK(e.v != NULL);
		if (!e.v) {
			env_close(&e);
			continue;
		}
		e.f.auto_serve = 0;
		CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, sizeof(buf), 0, rec_cb, &r)), 0);
		fake_pump(&e.f, e.c, 50);
		/* shared: the probe of our own inode first, flagged */
		q = fake_find(&e.f, SD_OP_READ_OBJ, sd_vid_to_vdi_oid(child));
		CHECK(flags[i] ? q != NULL : q == NULL);
		if (q) {
			CHECK(q->hdr.flags & SD_FLAG_CMD_TGT);
			fake_serve(&e.f, q);
			fake_pump(&e.f, e.c, 50);
		}
		q = fake_find(&e.f, SD_OP_READ_OBJ, sd_vid_to_data_oid(base, 0));
		CHECK(q != NULL);
		if (q) {
			CHECK(!(q->hdr.flags & SD_FLAG_CMD_TGT));
			fake_serve(&e.f, q);
		}
		drive(&e, &r);
		CHECK_EQ(r.ret, 0);
		CHECK(!memcmp(buf, want, sizeof(want)));
		/* our own object: flagged */
		CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, sizeof(buf), OBJ, rec_cb, &r2)), 0);
		fake_pump(&e.f, e.c, 50);
		q = fake_find(&e.f, SD_OP_READ_OBJ, sd_vid_to_data_oid(child, 1));
		CHECK(q != NULL);
		if (q) {
			CHECK(q->hdr.flags & SD_FLAG_CMD_TGT);
			fake_serve(&e.f, q);
		}
		drive(&e, &r2);
		CHECK_EQ(r2.ret, 0);
		env_close(&e);
	}
}

int main(void)
{
	int passed = 0, failed = 0;

	RUN_TEST(test_readonly_reload_cow, passed, failed);
	RUN_TEST(test_inode_invalidated, passed, failed);
	RUN_TEST(test_shared_probe, passed, failed);
	RUN_TEST(test_shared_rejoin, passed, failed);
	RUN_TEST(test_snapshot_race_repair, passed, failed);
	RUN_TEST(test_snapshot_race_flush_close, passed, failed);
	RUN_TEST(test_readonly_burst, passed, failed);
	RUN_TEST(test_readonly_forever, passed, failed);
	RUN_TEST(test_refresh_grow, passed, failed);
	RUN_TEST(test_refresh_during_reload, passed, failed);
	RUN_TEST(test_refresh_repeated, passed, failed);
	RUN_TEST(test_refresh_deleted, passed, failed);
	RUN_TEST(test_refresh_alloc_failures, passed, failed);
	RUN_TEST(test_partial_index, passed, failed);
	RUN_TEST(test_partial_index_invalidated, passed, failed);
	RUN_TEST(test_open_reads, passed, failed);
	RUN_TEST(test_reload_reads, passed, failed);
	RUN_TEST(test_ancestor_reads_unflagged, passed, failed);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
