// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of sheep's inode coherence between gateways (sheep/coh.c and
 * its hooks in sheep/ops.c): the participant state machine of the shared
 * lock (join, MODIFIED / SHARED / INVALIDATED, refresh read, counted
 * locks, detach and forget on the last connection's close), and through
 * the op handlers on a real store: INODE_INVALIDATED on TGT-flagged I/O,
 * the refresh read, invalidation by a snapshot, and CREATE_AND_WRITE_OBJ
 * on an object that another gateway created meanwhile (a write, no
 * zero-fill); the exclusive lock (SD_LOCK_TYPE_EXT_EXCLUSIVE) against
 * shared participants, its release on the holder's last close, its move
 * on a snapshot, and the fencing of other clients' I/O while it is held.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sheep.h"
#include "sdl_check.h"

int g_check_failed;

static uint64_t g_fake_ms;

static uint64_t fake_clock(void)
{
	return g_fake_ms;
}

#define A 0x1111u
#define B 0x2222u

static void test_states(void)
{
	const uint32_t vid = 0x42;

	sheep_coh_reset();
	CHECK_EQ(sheep_coh_state(vid, A), -1);
	CHECK_EQ(sheep_coh_lock_shared(vid, A), SD_RES_SUCCESS);
	CHECK_EQ(sheep_coh_state(vid, A), SHEEP_COH_MODIFIED);
	/* someone is MODIFIED: the newcomer must refresh first */
	CHECK_EQ(sheep_coh_lock_shared(vid, B), SD_RES_SUCCESS);
	CHECK_EQ(sheep_coh_state(vid, B), SHEEP_COH_INVALIDATED);
	CHECK_EQ(sheep_coh_check(vid, B), SD_RES_INODE_INVALIDATED);
	CHECK_EQ(sheep_coh_check(vid, A), SD_RES_SUCCESS);
	sheep_coh_validate(vid, B);
	CHECK_EQ(sheep_coh_state(vid, A), SHEEP_COH_SHARED);
	CHECK_EQ(sheep_coh_state(vid, B), SHEEP_COH_SHARED);

	/* a participant's index write */
	sheep_coh_index_written(vid, A, 1);
	CHECK_EQ(sheep_coh_state(vid, A), SHEEP_COH_MODIFIED);
	CHECK_EQ(sheep_coh_state(vid, B), SHEEP_COH_INVALIDATED);
	/* an INVALIDATED participant's refresh leaves nobody MODIFIED */
	sheep_coh_validate(vid, B);
	CHECK_EQ(sheep_coh_state(vid, A), SHEEP_COH_SHARED);
	CHECK_EQ(sheep_coh_state(vid, B), SHEEP_COH_SHARED);
	/* B writes: A learns */
	sheep_coh_index_written(vid, B, 1);
	CHECK_EQ(sheep_coh_state(vid, A), SHEEP_COH_INVALIDATED);
	CHECK_EQ(sheep_coh_state(vid, B), SHEEP_COH_MODIFIED);
	/* a refresh by a non-participant makes the writer SHARED, A stays stale */
	sheep_coh_validate(vid, 0x9999);
	CHECK_EQ(sheep_coh_state(vid, A), SHEEP_COH_INVALIDATED);
	CHECK_EQ(sheep_coh_state(vid, B), SHEEP_COH_SHARED);
	sheep_coh_validate(vid, A);
	/* an index change by a non-participant (or untagged): everybody refreshes */
	sheep_coh_index_written(vid, 0x9999, 1);
	CHECK_EQ(sheep_coh_state(vid, A), SHEEP_COH_INVALIDATED);
	CHECK_EQ(sheep_coh_state(vid, B), SHEEP_COH_INVALIDATED);
	sheep_coh_validate(vid, A);
	sheep_coh_validate(vid, B);
	sheep_coh_index_written(vid, A, 0);
	CHECK_EQ(sheep_coh_state(vid, A), SHEEP_COH_INVALIDATED);
	sheep_coh_validate(vid, A);
	sheep_coh_validate(vid, B);
	/* a snapshot */
	sheep_coh_invalidate_all(vid);
	CHECK_EQ(sheep_coh_state(vid, A), SHEEP_COH_INVALIDATED);
	CHECK_EQ(sheep_coh_state(vid, B), SHEEP_COH_INVALIDATED);

	/* locks are counted per client; other vids are separate */
	CHECK_EQ(sheep_coh_lock_shared(vid, A), SD_RES_SUCCESS);
	sheep_coh_release(vid, A);
	CHECK(sheep_coh_state(vid, A) >= 0);
	sheep_coh_release(vid, A);
	CHECK_EQ(sheep_coh_state(vid, A), -1);
	CHECK_EQ(sheep_coh_state(vid + 1, B), -1);
	sheep_coh_release(vid, B);
	CHECK_EQ(sheep_coh_state(vid, B), -1);
	/* the anonymous participant (tgt's client) is one like any other */
	CHECK_EQ(sheep_coh_lock_shared(vid, 0), SD_RES_SUCCESS);
	CHECK_EQ(sheep_coh_state(vid, 0), SHEEP_COH_MODIFIED);
	sheep_coh_release(vid, 0);
	CHECK_EQ(sheep_coh_state(vid, 0), -1);
}

static void test_detach(void)
{
	const uint32_t vid = 0x43;

	sheep_coh_reset();
	sheep_coh_set_clock(fake_clock);
	g_fake_ms = 1000;
	/* 1: new to this sheep (its HELLO says so), 0: another connection */
	CHECK_EQ(sheep_coh_conn_add(A), 1);
	CHECK_EQ(sheep_coh_conn_add(A), 0);
	CHECK_EQ(sheep_coh_conn_add(B), 1);
	CHECK_EQ(sheep_coh_lock_shared(vid, A), SD_RES_SUCCESS);
	CHECK_EQ(sheep_coh_lock_shared(vid, B), SD_RES_SUCCESS);
	sheep_coh_validate(vid, B);
	/* one of A's two connections closes: nothing happens */
	sheep_coh_conn_del(A);
	CHECK_EQ(sheep_coh_state(vid, A), SHEEP_COH_SHARED);
	/* the last one: A may have missed changes while away */
	sheep_coh_conn_del(A);
	CHECK_EQ(sheep_coh_state(vid, A), SHEEP_COH_INVALIDATED);
	/* a detached client's refresh does not count; back, it does */
	sheep_coh_validate(vid, A);
	CHECK_EQ(sheep_coh_state(vid, A), SHEEP_COH_INVALIDATED);
	/* back after all its connections closed: told to re-join */
	CHECK_EQ(sheep_coh_conn_add(A), 1);
	sheep_coh_validate(vid, A);
	CHECK_EQ(sheep_coh_state(vid, A), SHEEP_COH_SHARED);
	/* B dies: forgotten two minutes later, at the next lock of the vid */
	sheep_coh_conn_del(B);
	g_fake_ms += 119999;
	CHECK_EQ(sheep_coh_lock_shared(vid, 0x3333), SD_RES_SUCCESS);
	CHECK_EQ(sheep_coh_state(vid, B), SHEEP_COH_INVALIDATED);
	g_fake_ms += 1;
	CHECK_EQ(sheep_coh_lock_shared(vid, 0x3333), SD_RES_SUCCESS);
	CHECK_EQ(sheep_coh_state(vid, B), -1);
	CHECK(sheep_coh_state(vid, A) >= 0);
	sheep_coh_conn_del(A);
	sheep_coh_set_clock(NULL);
	sheep_coh_reset();
}

/*
 * A gateway forgotten after a long outage comes back: its HELLO says new,
 * and its re-join (RELEASE + LOCK SHARED) makes it a participant again
 * that the next index write invalidates; the re-join counts once whether
 * or not the sheep still had the old participation.
 */
static void test_forgotten_rejoin(void)
{
	const uint32_t vid = 0x44;

	sheep_coh_reset();
	sheep_coh_set_clock(fake_clock);
	g_fake_ms = 5000;
	CHECK_EQ(sheep_coh_conn_add(A), 1);
	CHECK_EQ(sheep_coh_conn_add(B), 1);
	CHECK_EQ(sheep_coh_lock_shared(vid, A), SD_RES_SUCCESS);
	CHECK_EQ(sheep_coh_lock_shared(vid, B), SD_RES_SUCCESS);
	sheep_coh_validate(vid, B);
	sheep_coh_conn_del(B);
	g_fake_ms += 120000;
	CHECK_EQ(sheep_coh_lock_shared(vid, A), SD_RES_SUCCESS); /* gc */
	sheep_coh_release(vid, A);
	CHECK_EQ(sheep_coh_state(vid, B), -1);
	/* the hole: a forgotten client's I/O passes the check */
	CHECK_EQ(sheep_coh_check(vid, B), SD_RES_SUCCESS);
	CHECK_EQ(sheep_coh_conn_add(B), 1);
	sheep_coh_release(vid, B);
	CHECK_EQ(sheep_coh_lock_shared(vid, B), SD_RES_SUCCESS);
	sheep_coh_validate(vid, B);
	sheep_coh_index_written(vid, A, 1);
	CHECK_EQ(sheep_coh_check(vid, B), SD_RES_INODE_INVALIDATED);
	/* B's connection blips (not forgotten yet): the re-join keeps one ref */
	sheep_coh_conn_del(B);
	CHECK_EQ(sheep_coh_conn_add(B), 1);
	sheep_coh_release(vid, B);
	CHECK_EQ(sheep_coh_lock_shared(vid, B), SD_RES_SUCCESS);
	sheep_coh_release(vid, B); /* B closes the vdi: gone */
	CHECK_EQ(sheep_coh_state(vid, B), -1);
	sheep_coh_conn_del(A);
	sheep_coh_conn_del(B);
	sheep_coh_set_clock(NULL);
	sheep_coh_reset();
}

/*
 * The exclusive lock: refused while another client is an attached
 * participant or holds it; while held, shared locks and TGT-flagged I/O
 * of other clients are refused; released by its holder, or by the
 * holder's last connection closing; a dead participant does not block it.
 */
static void test_exclusive(void)
{
	const uint32_t vid = 0x45, snap_new = 0x46;
	const uint64_t C = 0x3333u;

	sheep_coh_reset();
	sheep_coh_set_clock(fake_clock);
	g_fake_ms = 1000;
	CHECK_EQ(sheep_coh_conn_add(A), 1);
	CHECK_EQ(sheep_coh_conn_add(B), 1);
	/* only a client with an identity and a connection */
	CHECK_EQ(sheep_coh_lock_exclusive(vid, 0), SD_RES_INVALID_PARMS);
	CHECK_EQ(sheep_coh_lock_exclusive(vid, C), SD_RES_NETWORK_ERROR);
	CHECK_EQ(sheep_coh_exclusive(vid), 0);

	/* exclusive first: others' shared and exclusive locks are refused */
	CHECK_EQ(sheep_coh_lock_exclusive(vid, A), SD_RES_SUCCESS);
	CHECK_EQ(sheep_coh_exclusive(vid), A);
	CHECK_EQ(sheep_coh_lock_exclusive(vid, A), SD_RES_SUCCESS); /* idempotent */
	CHECK_EQ(sheep_coh_lock_shared(vid, B), SD_RES_VDI_LOCKED);
	CHECK_EQ(sheep_coh_lock_shared(vid, 0), SD_RES_VDI_LOCKED);
	CHECK_EQ(sheep_coh_lock_exclusive(vid, B), SD_RES_VDI_LOCKED);
	CHECK_EQ(sheep_coh_state(vid, B), -1);
	/* the holder may also be a participant (its vdi handle is one) */
	CHECK_EQ(sheep_coh_lock_shared(vid, A), SD_RES_SUCCESS);
	CHECK_EQ(sheep_coh_check(vid, A), SD_RES_SUCCESS);
	/* fencing: another client's I/O, participant or not */
	CHECK_EQ(sheep_coh_check(vid, B), SD_RES_VDI_LOCKED);
	CHECK_EQ(sheep_coh_check(vid, 0), SD_RES_VDI_LOCKED);
	CHECK_EQ(sheep_coh_check(vid + 1, B), SD_RES_SUCCESS);
	/* a release by someone else does nothing; the holder's frees it (not counted) */
	sheep_coh_release_exclusive(vid, B);
	CHECK_EQ(sheep_coh_exclusive(vid), A);
	sheep_coh_release_exclusive(vid, A);
	CHECK_EQ(sheep_coh_exclusive(vid), 0);
	CHECK(sheep_coh_state(vid, A) >= 0); /* the participation is separate */

	/* shared first: an attached participant blocks the exclusive lock */
	CHECK_EQ(sheep_coh_lock_shared(vid, B), SD_RES_SUCCESS);
	CHECK_EQ(sheep_coh_lock_exclusive(vid, A), SD_RES_VDI_LOCKED);
	sheep_coh_release(vid, B);
	CHECK_EQ(sheep_coh_lock_exclusive(vid, A), SD_RES_SUCCESS);
	sheep_coh_release_exclusive(vid, A);
	/* the anonymous participant (tgt's built-in client) blocks it too */
	CHECK_EQ(sheep_coh_lock_shared(vid, 0), SD_RES_SUCCESS);
	CHECK_EQ(sheep_coh_lock_exclusive(vid, A), SD_RES_VDI_LOCKED);
	sheep_coh_release(vid, 0);

	/* a dead shared gateway does not; back, it is refused and fenced */
	CHECK_EQ(sheep_coh_lock_shared(vid, B), SD_RES_SUCCESS);
	sheep_coh_conn_del(B);
	CHECK_EQ(sheep_coh_lock_exclusive(vid, A), SD_RES_SUCCESS);
	CHECK_EQ(sheep_coh_conn_add(B), 1);
	CHECK_EQ(sheep_coh_check(vid, B), SD_RES_VDI_LOCKED);
	sheep_coh_release(vid, B); /* its re-join: release, then lock */
	CHECK_EQ(sheep_coh_lock_shared(vid, B), SD_RES_VDI_LOCKED);

	/* a snapshot moves the lock to the new working vid */
	sheep_coh_snapshot(vid, snap_new);
	CHECK_EQ(sheep_coh_exclusive(vid), 0);
	CHECK_EQ(sheep_coh_exclusive(snap_new), A);
	CHECK_EQ(sheep_coh_lock_shared(vid, B), SD_RES_SUCCESS); /* the snapshot is free */
	sheep_coh_release(vid, B);
	CHECK_EQ(sheep_coh_lock_shared(snap_new, B), SD_RES_VDI_LOCKED);

	/* a holder that missed the snapshot releases the vid it opened: the lock goes */
	CHECK_EQ(sheep_coh_lock_shared(vid, A), SD_RES_SUCCESS); /* keeps vid's entry */
	sheep_coh_release_exclusive(vid, B);
	CHECK_EQ(sheep_coh_exclusive(snap_new), A);
	sheep_coh_release_exclusive(vid, A);
	CHECK_EQ(sheep_coh_exclusive(snap_new), 0);
	CHECK_EQ(sheep_coh_lock_exclusive(snap_new, A), SD_RES_SUCCESS);
	sheep_coh_release(vid, A);

	/* the holder's last connection closes: released at once, not after the detach time */
	CHECK_EQ(sheep_coh_conn_add(A), 0);
	sheep_coh_conn_del(A);
	CHECK_EQ(sheep_coh_exclusive(snap_new), A); /* one connection left */
	sheep_coh_conn_del(A);
	CHECK_EQ(sheep_coh_exclusive(snap_new), 0);
	CHECK_EQ(sheep_coh_lock_exclusive(snap_new, B), SD_RES_SUCCESS);
	/* A's participation of vid is detached, INVALIDATED: it does not block B */
	CHECK_EQ(sheep_coh_conn_add(A), 1);
	CHECK_EQ(sheep_coh_lock_exclusive(snap_new, A), SD_RES_VDI_LOCKED);
	sheep_coh_conn_del(B);
	CHECK_EQ(sheep_coh_lock_exclusive(snap_new, A), SD_RES_SUCCESS);
	sheep_coh_conn_del(A);
	CHECK_EQ(sheep_coh_exclusive(snap_new), 0);
	sheep_coh_set_clock(NULL);
	sheep_coh_reset();
}

/* ---- through the op handlers, on a real store ---- */

static char g_dir[256];
static uint64_t g_cow; /* cow_oid of the next run() */

static int run(uint8_t opcode, uint64_t client, uint16_t flags, uint64_t oid, uint32_t off,
	       void *data, uint32_t len, struct sheep_request *out)
{
	struct sheep_request req;
	int r;

	memset(&req, 0, sizeof(req));
	req.hdr.proto_ver = SD_PROTO_VER;
	req.hdr.opcode = opcode;
	req.hdr.flags = flags | (data ? SD_FLAG_CMD_WRITE : 0);
	req.hdr.data_length = len;
	req.hdr.obj.oid = oid;
	req.hdr.obj.offset = off;
	req.hdr.obj.cow_oid = g_cow;
	g_cow = 0;
	req.data = data;
	req.client = client;
	CHECK_EQ(sheep_op_precheck(&req.hdr, sheep_op_get(opcode)), SD_RES_SUCCESS);
	sheep_op_execute(&req);
	r = (int)req.rsp.result;
	if (out)
		*out = req;
	else
		free(req.rdata);
	return r;
}

static uint32_t new_vdi(const char *name, uint32_t base, uint32_t snapid)
{
	struct sheep_request req;
	char buf[SD_MAX_VDI_LEN] = { 0 };

	memset(&req, 0, sizeof(req));
	strcpy(buf, name);
	req.hdr.proto_ver = SD_PROTO_VER;
	req.hdr.opcode = SD_OP_NEW_VDI;
	req.hdr.flags = SD_FLAG_CMD_WRITE;
	req.hdr.data_length = sizeof(buf);
	req.hdr.vdi.vdi_size = 64ull << 20;
	req.hdr.vdi.base_vdi_id = base;
	req.hdr.vdi.snapid = snapid;
	req.data = buf;
	sheep_op_execute(&req);
	CHECK_EQ(req.rsp.result, SD_RES_SUCCESS);
	return req.rsp.vdi.vdi_id;
}

static int lock_type(uint8_t opcode, uint8_t type, const char *name, uint64_t client, uint32_t *vid)
{
	struct sheep_request req;
	char buf[SD_MAX_VDI_LEN] = { 0 };

	memset(&req, 0, sizeof(req));
	strcpy(buf, name);
	req.hdr.proto_ver = SD_PROTO_VER;
	req.hdr.opcode = opcode;
	req.hdr.flags = opcode == SD_OP_RELEASE_VDI ? 0 : SD_FLAG_CMD_WRITE;
	req.hdr.data_length = opcode == SD_OP_RELEASE_VDI ? 0 : sizeof(buf);
	req.hdr.vdi.type = type;
	req.hdr.vdi.base_vdi_id = *vid;
	req.data = opcode == SD_OP_RELEASE_VDI ? NULL : buf;
	req.client = client;
	sheep_op_execute(&req);
	if (opcode == SD_OP_LOCK_VDI)
		*vid = req.rsp.vdi.vdi_id;
	return (int)req.rsp.result;
}

static int lock(uint8_t opcode, const char *name, uint64_t client, uint32_t *vid)
{
	return lock_type(opcode, SD_LOCK_TYPE_SHARED, name, client, vid);
}

static void setup_server(void)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/test_sheep_coh.XXXXXX");
	if (!mkdtemp(g_dir) || sheep_store_open(&g_sheep.store, g_dir, 1) ||
	    sheep_vdi_init(&g_sheep.vdi, &g_sheep.store) || sheep_vdi_rebuild(&g_sheep.vdi)) {
		fprintf(stderr, "setup failed\n");
		exit(1);
	}
	g_sheep.cfg.ctime = 1;
	g_sheep.cfg.nr_copies = 1;
	g_sheep.cfg.block_size_shift = SD_DEFAULT_BLOCK_SIZE_SHIFT;
	g_sheep.formatted = 1;
}

static void teardown_server(void)
{
	char cmd[300];

	sheep_vdi_destroy(&g_sheep.vdi);
	sheep_store_close(&g_sheep.store);
	sheep_coh_fini();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", g_dir);
}

static void test_ops(void)
{
	const uint16_t tgt = SD_FLAG_CMD_TGT;
	uint32_t vid = 0, vb = 0, entry, newvid;
	char a[4] = "AAAA", b[4] = "BBBB", c[4] = "CCCC";
	struct sheep_request rd;
	uint64_t data_oid, inode_oid;
	char *inode;

	setup_server();
	vid = new_vdi("v", 0, 0);
	CHECK_EQ(lock(SD_OP_LOCK_VDI, "v", A, &vid), SD_RES_SUCCESS);
	CHECK_EQ(lock(SD_OP_LOCK_VDI, "v", B, &vb), SD_RES_SUCCESS);
	CHECK_EQ(vb, vid);
	data_oid = sd_vid_to_data_oid(vid, 0);
	inode_oid = sd_vid_to_vdi_oid(vid);
	inode = malloc(SD_INODE_INDEX_END);
	CHECK(inode != NULL);
	/* B joined while A was MODIFIED: its first I/O is refused ... */
	CHECK_EQ(run(SD_OP_READ_OBJ, B, tgt, inode_oid, 0, NULL, 1, NULL),
		 SD_RES_INODE_INVALIDATED);
	/* ... except the refresh read, which validates */
	CHECK_EQ(run(SD_OP_READ_OBJ, B, tgt, inode_oid, 0, NULL, SD_INODE_INDEX_END, NULL),
		 SD_RES_SUCCESS);
	CHECK_EQ(run(SD_OP_READ_OBJ, B, tgt, inode_oid, 0, NULL, 1, NULL), SD_RES_SUCCESS);

	/* both gateways see a hole and create object 0, A first */
	CHECK_EQ(run(SD_OP_CREATE_AND_WRITE_OBJ, A, tgt, data_oid, 0, a, 4, NULL), SD_RES_SUCCESS);
	CHECK_EQ(run(SD_OP_CREATE_AND_WRITE_OBJ, B, tgt, data_oid, 8192, b, 4, NULL),
		 SD_RES_SUCCESS);
	/* a COW create on an existing object does not copy (a missing) source either */
	g_cow = sd_vid_to_data_oid(vid, 5);
	CHECK_EQ(run(SD_OP_CREATE_AND_WRITE_OBJ, B, tgt | SD_FLAG_CMD_COW, data_oid, 12288, c, 4,
		     NULL),
		 SD_RES_SUCCESS);
	CHECK_EQ(run(SD_OP_READ_OBJ, B, tgt, data_oid, 0, NULL, 16384, &rd), SD_RES_SUCCESS);
	CHECK(rd.rdata && !memcmp(rd.rdata, "AAAA", 4) &&
	      !memcmp((char *)rd.rdata + 8192, "BBBB", 4) &&
	      !memcmp((char *)rd.rdata + 12288, "CCCC", 4));
	free(rd.rdata);

	/* A records the object in the index: B is told */
	entry = vid;
	CHECK_EQ(run(SD_OP_WRITE_OBJ, A, tgt, inode_oid, sd_inode_index_offset(0), &entry, 4, NULL),
		 SD_RES_SUCCESS);
	CHECK_EQ(run(SD_OP_READ_OBJ, B, tgt, data_oid, 0, NULL, 4, NULL), SD_RES_INODE_INVALIDATED);
	CHECK_EQ(run(SD_OP_WRITE_OBJ, B, tgt, data_oid, 0, b, 4, NULL), SD_RES_INODE_INVALIDATED);
	CHECK_EQ(run(SD_OP_CREATE_AND_WRITE_OBJ, B, tgt, sd_vid_to_data_oid(vid, 1), 0, b, 4, NULL),
		 SD_RES_INODE_INVALIDATED);
	/* untagged I/O (dog) is never refused */
	CHECK_EQ(run(SD_OP_READ_OBJ, B, 0, data_oid, 0, NULL, 4, NULL), SD_RES_SUCCESS);
	/* A goes on writing without telling B again; A is never refused */
	CHECK_EQ(run(SD_OP_WRITE_OBJ, A, tgt, data_oid, 0, a, 4, NULL), SD_RES_SUCCESS);
	CHECK_EQ(run(SD_OP_READ_OBJ, B, tgt, inode_oid, 0, NULL, SD_INODE_INDEX_END, &rd),
		 SD_RES_SUCCESS);
	CHECK(rd.rdata && !memcmp((char *)rd.rdata + sd_inode_index_offset(0), &vid, 4));
	free(rd.rdata);
	CHECK_EQ(run(SD_OP_READ_OBJ, B, tgt, data_oid, 0, NULL, 4, NULL), SD_RES_SUCCESS);

	/* a snapshot invalidates readers that never write */
	newvid = new_vdi("v", vid, 1);
	CHECK(newvid != vid);
	CHECK_EQ(run(SD_OP_READ_OBJ, B, tgt, inode_oid, 0, NULL, 1, NULL),
		 SD_RES_INODE_INVALIDATED);
	CHECK_EQ(run(SD_OP_READ_OBJ, A, tgt, inode_oid, 0, NULL, 1, NULL),
		 SD_RES_INODE_INVALIDATED);
	/* B reads the new working vdi's index: the snapshot's objects are B's to read again */
	CHECK_EQ(run(SD_OP_READ_OBJ, B, tgt, sd_vid_to_vdi_oid(newvid), 0, NULL, SD_INODE_INDEX_END,
		     NULL),
		 SD_RES_SUCCESS);
	CHECK_EQ(run(SD_OP_READ_OBJ, B, tgt, data_oid, 0, NULL, 4, NULL), SD_RES_SUCCESS);
	CHECK_EQ(sheep_coh_state(vid, A), SHEEP_COH_INVALIDATED);

	/* DISCARD_OBJ changes the index: everyone refreshes */
	CHECK_EQ(lock(SD_OP_LOCK_VDI, "v", A, &vb), SD_RES_SUCCESS);
	CHECK_EQ(vb, newvid);
	CHECK_EQ(run(SD_OP_CREATE_AND_WRITE_OBJ, A, tgt, sd_vid_to_data_oid(newvid, 2), 0, a, 4,
		     NULL),
		 SD_RES_SUCCESS);
	entry = newvid;
	CHECK_EQ(run(SD_OP_WRITE_OBJ, A, tgt, sd_vid_to_vdi_oid(newvid), sd_inode_index_offset(2),
		     &entry, 4, NULL),
		 SD_RES_SUCCESS);
	CHECK_EQ(sheep_coh_state(newvid, A), SHEEP_COH_MODIFIED);
	CHECK_EQ(run(SD_OP_DISCARD_OBJ, 0, 0, sd_vid_to_data_oid(newvid, 2), 0, NULL, 0, NULL),
		 SD_RES_SUCCESS);
	CHECK_EQ(sheep_coh_state(newvid, A), SHEEP_COH_INVALIDATED);

	CHECK_EQ(lock(SD_OP_RELEASE_VDI, "v", A, &vid), SD_RES_SUCCESS);
	CHECK_EQ(sheep_coh_state(vid, A), -1);
	CHECK_EQ(sheep_coh_state(vid, B), SHEEP_COH_SHARED);
	free(inode);
	teardown_server();
}

/*
 * The exclusive lock through LOCK_VDI / RELEASE_VDI, and its fencing of
 * another client's TGT-flagged reads, writes and creates; untagged I/O
 * (dog) and the holder's pass.  A snapshot (NEW_VDI) moves it.
 */
static void test_ops_exclusive(void)
{
	const uint8_t excl = SD_LOCK_TYPE_EXT_EXCLUSIVE;
	const uint16_t tgt = SD_FLAG_CMD_TGT;
	char a[4] = "AAAA";
	uint32_t vid, v2 = 0, newvid;
	uint64_t data_oid;

	setup_server();
	CHECK_EQ(sheep_coh_conn_add(A), 1);
	CHECK_EQ(sheep_coh_conn_add(B), 1);
	vid = new_vdi("x", 0, 0);
	data_oid = sd_vid_to_data_oid(vid, 0);
	CHECK_EQ(lock_type(SD_OP_LOCK_VDI, excl, "x", A, &v2), SD_RES_SUCCESS);
	CHECK_EQ(v2, vid);
	CHECK_EQ(lock_type(SD_OP_LOCK_VDI, excl, "nope", A, &v2), SD_RES_NO_VDI);
	CHECK_EQ(lock(SD_OP_LOCK_VDI, "x", A, &v2), SD_RES_SUCCESS);
	CHECK_EQ(lock(SD_OP_LOCK_VDI, "x", B, &v2), SD_RES_VDI_LOCKED);
	CHECK_EQ(lock_type(SD_OP_LOCK_VDI, excl, "x", B, &v2), SD_RES_VDI_LOCKED);
	/* NORMAL stays unenforced */
	CHECK_EQ(lock_type(SD_OP_LOCK_VDI, SD_LOCK_TYPE_NORMAL, "x", B, &v2), SD_RES_SUCCESS);
	CHECK_EQ(run(SD_OP_CREATE_AND_WRITE_OBJ, A, tgt, data_oid, 0, a, 4, NULL), SD_RES_SUCCESS);
	CHECK_EQ(run(SD_OP_CREATE_AND_WRITE_OBJ, B, tgt, sd_vid_to_data_oid(vid, 1), 0, a, 4, NULL),
		 SD_RES_VDI_LOCKED);
	CHECK_EQ(run(SD_OP_WRITE_OBJ, B, tgt, data_oid, 0, a, 4, NULL), SD_RES_VDI_LOCKED);
	CHECK_EQ(run(SD_OP_READ_OBJ, B, tgt, data_oid, 0, NULL, 4, NULL), SD_RES_VDI_LOCKED);
	CHECK_EQ(run(SD_OP_READ_OBJ, 0, tgt, data_oid, 0, NULL, 4, NULL), SD_RES_VDI_LOCKED);
	CHECK_EQ(run(SD_OP_READ_OBJ, B, 0, data_oid, 0, NULL, 4, NULL), SD_RES_SUCCESS);
	CHECK_EQ(run(SD_OP_READ_OBJ, A, tgt, data_oid, 0, NULL, 4, NULL), SD_RES_SUCCESS);
	/* a snapshot: the new working vdi is A's, the snapshot anybody's */
	newvid = new_vdi("x", vid, 1);
	CHECK_EQ(sheep_coh_exclusive(newvid), A);
	CHECK_EQ(sheep_coh_exclusive(vid), 0);
	CHECK_EQ(lock(SD_OP_LOCK_VDI, "x", B, &v2), SD_RES_VDI_LOCKED);
	CHECK_EQ(v2, newvid);
	/* released by the holder only */
	v2 = newvid;
	CHECK_EQ(lock_type(SD_OP_RELEASE_VDI, excl, "x", B, &v2), SD_RES_SUCCESS);
	CHECK_EQ(sheep_coh_exclusive(newvid), A);
	CHECK_EQ(lock_type(SD_OP_RELEASE_VDI, excl, "x", A, &v2), SD_RES_SUCCESS);
	CHECK_EQ(sheep_coh_exclusive(newvid), 0);
	CHECK_EQ(lock(SD_OP_LOCK_VDI, "x", B, &v2), SD_RES_SUCCESS);
	CHECK_EQ(run(SD_OP_READ_OBJ, B, tgt, data_oid, 0, NULL, 4, NULL), SD_RES_SUCCESS);
	sheep_coh_conn_del(A);
	sheep_coh_conn_del(B);
	teardown_server();
}

int main(void)
{
	int passed = 0, failed = 0;

	RUN_TEST(test_states, passed, failed);
	RUN_TEST(test_detach, passed, failed);
	RUN_TEST(test_forgotten_rejoin, passed, failed);
	RUN_TEST(test_exclusive, passed, failed);
	RUN_TEST(test_ops, passed, failed);
	RUN_TEST(test_ops_exclusive, passed, failed);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
