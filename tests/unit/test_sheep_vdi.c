// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of sheep's VDI metadata (sheep/vdi.c): VID allocation by
 * linear probing (hash collisions, wrap-around), lookup by name, tag and
 * snapid, snapshot/clone, deletion, reference-based reclamation of data
 * objects, bitmap rebuild after a restart, and a crash in the middle of a
 * NEW_VDI leaving a consistent state.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sheep.h"
#include "sdl_check.h"
#include "sheep_fixture.h"

int g_check_failed;

#define OBJ_SHIFT 22

/* Simulate a restart: drop the in-memory state and rebuild it from disk. */
static void restart(void)
{
	sheep_vdi_destroy(&g_vdi);
	sheep_store_close(&g_st);
	CHECK(sheep_store_open(&g_st, g_dir, 1) == 0);
	CHECK(sheep_vdi_init(&g_vdi, &g_st) == 0);
	CHECK(sheep_vdi_rebuild(&g_vdi) == 0);
}

static int create(const char *name, uint32_t base, uint32_t snapid, uint32_t *vid)
{
	struct sheep_vdi_create_args a = {
		.name = name,
		.size = 64ull << 20,
		.base_vid = base,
		.snapid = snapid,
		.copies = 1,
		.block_size_shift = OBJ_SHIFT,
		.now = 0x100000000ull,
	};

	return sheep_vdi_create(&g_vdi, &a, vid);
}

static uint32_t lookup(const char *name, const char *tag, uint32_t snapid, int *res)
{
	uint32_t vid = 0;

	*res = sheep_vdi_lookup(&g_vdi, name, tag, snapid, &vid);
	return vid;
}

static void test_alloc_and_lookup(void)
{
	char a[32], b[32];
	uint32_t va = 0, vb = 0, vt = 0, free_vid = 0;
	int res;

	sheep_fixture_setup("test_sheep_vdi");
	CHECK(create("test", 0, 0, &vt) == SD_RES_SUCCESS);
	CHECK(vt == 0x7c2b25); /* the protocol notes' test vector */
	CHECK(create("test", 0, 0, &vt) == SD_RES_VDI_EXIST);
	CHECK(lookup("nosuch", "", 0, &res) == 0 && res == SD_RES_NO_VDI);

	sheep_fixture_collision(a, b, sizeof(a));
	CHECK(create(a, 0, 0, &va) == SD_RES_SUCCESS);
	CHECK(va == sd_hash_vdi(a));
	CHECK(sheep_vdi_alloc_vid(&g_vdi, b, &free_vid) == SD_RES_SUCCESS && free_vid == va + 1);
	CHECK(create(b, 0, 0, &vb) == SD_RES_SUCCESS);
	CHECK(vb == va + 1); /* linear probing */
	CHECK(lookup(a, "", 0, &res) == va && res == SD_RES_SUCCESS);
	CHECK(lookup(b, NULL, 0, &res) == vb && res == SD_RES_SUCCESS);
	CHECK(sheep_vdi_test_inuse(&g_vdi, va) && sheep_vdi_test_inuse(&g_vdi, vb));

	/* deleting the chain head keeps the chain walkable */
	CHECK(sheep_vdi_delete(&g_vdi, va) == SD_RES_SUCCESS);
	CHECK(sheep_vdi_test_deleted(&g_vdi, va) && sheep_vdi_test_inuse(&g_vdi, va));
	CHECK(lookup(a, "", 0, &res) == 0 && res == SD_RES_NO_VDI);
	CHECK(lookup(b, "", 0, &res) == vb && res == SD_RES_SUCCESS);

	/* everything survives a restart (bitmaps rebuilt from inodes) */
	restart();
	CHECK(sheep_vdi_test_deleted(&g_vdi, va) && sheep_vdi_test_inuse(&g_vdi, va));
	CHECK(!sheep_vdi_test_deleted(&g_vdi, vb) && sheep_vdi_test_inuse(&g_vdi, vb));
	CHECK(lookup(b, "", 0, &res) == vb && res == SD_RES_SUCCESS);
	CHECK(lookup("test", "", 0, &res) == 0x7c2b25 && res == SD_RES_SUCCESS);
	/* a re-created a lands after the chain, not on its deleted slot */
	CHECK(create(a, 0, 0, &va) == SD_RES_SUCCESS && va == vb + 1);
	sheep_fixture_teardown();
}

static uint32_t find_high_name(char *name, size_t len)
{
	uint32_t i;

	for (i = 0;; i++) {
		snprintf(name, len, "w%u", i);
		if (sd_hash_vdi(name) >= SD_NR_VDIS - 4)
			return sd_hash_vdi(name);
	}
}

static void test_wraparound(void)
{
	char name[32];
	uint32_t h, v, vid = 0;
	int res;

	sheep_fixture_setup("test_sheep_vdi");
	h = find_high_name(name, sizeof(name));
	/* occupy [h, 2^24) so the probe must wrap to VID 1 */
	for (v = h; v < SD_NR_VDIS; v++)
		g_vdi.inuse[v / 8] |= (uint8_t)(1u << (v % 8));
	CHECK(create(name, 0, 0, &vid) == SD_RES_SUCCESS && vid == 1);
	CHECK(lookup(name, "", 0, &res) == 1 && res == SD_RES_SUCCESS);
	sheep_fixture_teardown();
}

static void test_snapshot_clone(void)
{
	uint32_t v1 = 0, v2 = 0, v3 = 0, c = 0, got;
	struct sd_inode_header h;
	char tag[SD_MAX_VDI_TAG_LEN] = "snap-one";
	int res;

	sheep_fixture_setup("test_sheep_vdi");
	CHECK(create("alice", 0, 0, &v1) == SD_RES_SUCCESS && v1 == 0xa03907);
	/* dog writes the tag into the working inode, then asks for the snapshot */
	CHECK(sheep_store_write(&g_st, sd_vid_to_vdi_oid(v1), tag, sizeof(tag), 256) == 0);
	CHECK(create("alice", v1, 1, &v2) == SD_RES_SUCCESS);
	CHECK(v2 == v1 + 1);
	CHECK(sheep_vdi_read_header(&g_st, v1, &h) == 0 && sd_inode_is_snapshot(&h) &&
	      h.snap_id == 1);
	CHECK(sheep_vdi_read_header(&g_st, v2, &h) == 0 && !sd_inode_is_snapshot(&h) &&
	      h.snap_id == 2 && h.parent_vdi_id == v1 && !h.tag[0]);
	CHECK(sheep_vdi_is_snapshot(&g_vdi, v1) && !sheep_vdi_is_snapshot(&g_vdi, v2));
	restart();
	CHECK(sheep_vdi_is_snapshot(&g_vdi, v1) && !sheep_vdi_is_snapshot(&g_vdi, v2));
	CHECK(lookup("alice", "", 0, &res) == v2 && res == SD_RES_SUCCESS);
	CHECK(lookup("alice", "snap-one", 0, &res) == v1 && res == SD_RES_SUCCESS);
	CHECK(lookup("alice", "", 1, &res) == v1 && res == SD_RES_SUCCESS);
	CHECK(lookup("alice", "nope", 0, &res) == 0 && res == SD_RES_NO_TAG);
	CHECK(lookup("alice", "", 7, &res) == 0 && res == SD_RES_NO_TAG);
	CHECK(lookup("bob", "snap-one", 0, &res) == 0 && res == SD_RES_NO_VDI);
	/* snapshot of a name without a working vdi */
	CHECK(create("bob", 0, 1, &got) == SD_RES_NO_VDI);

	/* clone from the snapshot */
	CHECK(create("alice-clone", v1, 0, &c) == SD_RES_SUCCESS);
	CHECK(sheep_vdi_read_header(&g_st, c, &h) == 0 && h.parent_vdi_id == v1 && h.snap_id == 1 &&
	      !sd_inode_is_snapshot(&h));

	/* delete the working vdi: only the snapshot is left, a new one continues the family */
	CHECK(sheep_vdi_delete(&g_vdi, v2) == SD_RES_SUCCESS);
	CHECK(lookup("alice", "", 0, &res) == 0 && res == SD_RES_NO_VDI);
	CHECK(lookup("alice", "", 1, &res) == v1 && res == SD_RES_SUCCESS);
	CHECK(create("alice", 0, 0, &v3) == SD_RES_SUCCESS);
	CHECK(sheep_vdi_read_header(&g_st, v3, &h) == 0 && h.snap_id == 2);
	sheep_fixture_teardown();
}

/* QEMU-style rebase: NEW_VDI snapid != 0 with base = an older snapshot. */
static void test_rebase(void)
{
	uint32_t v1 = 0, v2 = 0, v3 = 0, e;
	struct sd_inode_header h;
	int res;

	sheep_fixture_setup("test_sheep_vdi");
	CHECK(create("reb", 0, 0, &v1) == SD_RES_SUCCESS);
	CHECK(sheep_vdi_write_index(&g_vdi, v1, &v1, 4, sd_inode_index_offset(2)) == 0);
	CHECK(create("reb", v1, 1, &v2) == SD_RES_SUCCESS); /* snapshot v1 */
	CHECK(sheep_vdi_write_index(&g_vdi, v2, &v2, 4, sd_inode_index_offset(2)) == 0);
	CHECK(create("reb", v1, 1, &v3) == SD_RES_SUCCESS); /* rebase onto v1 */
	CHECK(v3 != v1 && v3 != v2);
	CHECK(sheep_vdi_read_header(&g_st, v2, &h) == 0 && sd_inode_is_snapshot(&h));
	CHECK(sheep_vdi_read_header(&g_st, v3, &h) == 0 && !sd_inode_is_snapshot(&h) &&
	      h.parent_vdi_id == v1 && h.snap_id == 3);
	CHECK(sheep_store_read(&g_st, sd_vid_to_vdi_oid(v3), &e, 4, sd_inode_index_offset(2)) ==
		      0 &&
	      e == v1);
	CHECK(lookup("reb", "", 0, &res) == v3 && res == SD_RES_SUCCESS);
	CHECK(lookup("reb", "", 2, &res) == v2 && res == SD_RES_SUCCESS);
	sheep_fixture_teardown();
}

static int obj_exists(uint32_t vid, uint32_t idx)
{
	uint64_t size;

	return sheep_store_size(&g_st, sd_vid_to_data_oid(vid, idx), &size) == 0;
}

static void test_references(void)
{
	uint32_t a = 0, b = 0, own, zero = 0;
	uint64_t osize = 1ull << OBJ_SHIFT;

	sheep_fixture_setup("test_sheep_vdi");
	CHECK(create("refs", 0, 0, &a) == SD_RES_SUCCESS);
	/* a owns objects 0 and 1 */
	CHECK(sheep_store_create(&g_st, sd_vid_to_data_oid(a, 0), osize, 0, NULL, 0, 0) == 0);
	CHECK(sheep_store_create(&g_st, sd_vid_to_data_oid(a, 1), osize, 0, NULL, 0, 0) == 0);
	CHECK(sheep_vdi_write_index(&g_vdi, a, &a, 4, sd_inode_index_offset(0)) == 0);
	CHECK(sheep_vdi_write_index(&g_vdi, a, &a, 4, sd_inode_index_offset(1)) == 0);
	/* snapshot: b inherits both */
	CHECK(create("refs", a, 1, &b) == SD_RES_SUCCESS);
	/* b COWs object 0 and points its entry at itself: (a,0) is still the snapshot's */
	CHECK(sheep_store_create(&g_st, sd_vid_to_data_oid(b, 0), osize, sd_vid_to_data_oid(a, 0),
				 NULL, 0, 0) == 0);
	CHECK(sheep_vdi_write_index(&g_vdi, b, &b, 4, sd_inode_index_offset(0)) == 0);
	CHECK(obj_exists(a, 0) && obj_exists(b, 0));
	/* dog-style delete of the snapshot: zero its entries, then DEL_VDI */
	{
		uint32_t zeros[2] = { 0, 0 };

		CHECK(sheep_vdi_write_index(&g_vdi, a, zeros, 8, sd_inode_index_offset(0)) == 0);
	}
	CHECK(!obj_exists(a, 0)); /* nobody references (a,0) any more */
	CHECK(obj_exists(a, 1));  /* b still reads it */
	CHECK(obj_exists(b, 0));
	CHECK(sheep_vdi_delete(&g_vdi, a) == SD_RES_SUCCESS);
	CHECK(obj_exists(a, 1));
	/* b drops its inherited entry: now (a,1) goes */
	CHECK(sheep_vdi_write_index(&g_vdi, b, &zero, 4, sd_inode_index_offset(1)) == 0);
	CHECK(!obj_exists(a, 1));
	/* DEL_VDI reclaims what the client left behind */
	CHECK(sheep_vdi_delete(&g_vdi, b) == SD_RES_SUCCESS);
	CHECK(!obj_exists(b, 0));
	CHECK(sheep_store_read(&g_st, sd_vid_to_vdi_oid(b), &own, 4, sd_inode_index_offset(0)) ==
		      0 &&
	      own == 0);
	/* index writes outside the flat array are refused */
	CHECK(sheep_vdi_write_index(&g_vdi, b, &zero, 4, SD_INODE_INDEX_END - 2) ==
	      SD_RES_INVALID_PARMS);
	sheep_fixture_teardown();
}

static void crash_at(void *arg, enum sheep_fault_point p)
{
	if ((int)p == *(int *)arg)
		_exit(77);
}

/* A crash during a snapshot leaves a working vdi, the old inode intact and bitmaps consistent. */
static void test_crash_during_new_vdi(void)
{
	int point;

	for (point = SHEEP_FAULT_TMP_OPEN; point < SHEEP_FAULT_NR; point++) {
		uint32_t v1 = 0, v, vid = 0;
		struct sd_inode_header h;
		int status, res;
		pid_t pid;

		sheep_fixture_setup("test_sheep_vdi");
		CHECK(create("crashy", 0, 0, &v1) == SD_RES_SUCCESS);
		CHECK(sheep_vdi_write_index(&g_vdi, v1, &v1, 4, sd_inode_index_offset(9)) == 0);
		pid = fork();
		if (pid == 0) {
			g_st.fault_cb = crash_at;
			g_st.fault_arg = &point;
			_exit(create("crashy", v1, 1, &vid) ? 1 : 0);
		}
		CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 77);
		restart();
		/* the old inode is complete, whatever happened */
		CHECK(sheep_vdi_read_header(&g_st, v1, &h) == 0 && !strcmp(h.name, "crashy"));
		CHECK(sheep_store_read(&g_st, sd_vid_to_vdi_oid(v1), &v, 4,
				       sd_inode_index_offset(9)) == 0 &&
		      v == v1);
		v = lookup("crashy", "", 0, &res);
		if (point >= SHEEP_FAULT_RENAMED) {
			CHECK(res == SD_RES_SUCCESS && v == v1 + 1);
			CHECK(sheep_vdi_test_inuse(&g_vdi, v1 + 1));
			CHECK(sheep_store_read(&g_st, sd_vid_to_vdi_oid(v1 + 1), &v, 4,
					       sd_inode_index_offset(9)) == 0 &&
			      v == v1);
			/* the cut-short snapshot was finished at the restart */
			CHECK(lookup("crashy", "", 1, &res) == v1 && res == SD_RES_SUCCESS);
			CHECK(sheep_vdi_is_snapshot(&g_vdi, v1));
		} else {
			/*
			 * The new working inode never appeared: no snapshot, the
			 * old inode is still the working one (the old order marked
			 * it first and left the vdi with no working inode).
			 */
			CHECK(res == SD_RES_SUCCESS && v == v1);
			CHECK(!sheep_vdi_is_snapshot(&g_vdi, v1));
			CHECK(!sheep_vdi_test_inuse(&g_vdi, v1 + 1));
		}
		sheep_fixture_teardown();
	}
}

int main(void)
{
	sheep_log_open(NULL, SHEEP_LOG_ERR, 1);
	test_alloc_and_lookup();
	test_wraparound();
	test_snapshot_clone();
	test_rebase();
	test_references();
	test_crash_during_new_vdi();
	if (g_check_failed) {
		fprintf(stderr, "test_sheep_vdi: %d failure(s)\n", g_check_failed);
		return 1;
	}
	printf("test_sheep_vdi: ok\n");
	return 0;
}
