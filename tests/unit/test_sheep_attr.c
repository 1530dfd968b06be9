// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests of sheep's vdi attributes (sheep/attr.c): the attribute oid
 * (name hash, FNV-1a of the record's key fields as start id), probing past
 * a slot held by another record, exclusive create, replace in place,
 * tombstones on delete, persistence, and removal with the last vdi of a
 * name (tombstones only while another name of the same hash has some).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sheep.h"
#include "sdl_check.h"
#include "sheep_fixture.h"

int g_check_failed;

static uint32_t create(const char *name)
{
	struct sheep_vdi_create_args a = {
		.name = name,
		.size = 64ull << 20,
		.copies = 1,
		.block_size_shift = 22,
		.now = 0x100000000ull,
	};
	uint32_t vid = 0;

	CHECK(sheep_vdi_create(&g_vdi, &a, &vid) == SD_RES_SUCCESS);
	return vid;
}

/* A zeroed record (static: 66 KiB) for (name, key) with a text value. */
static struct sd_vdi_attr *rec(const char *name, const char *key, const char *value)
{
	static struct sd_vdi_attr a;

	memset(&a, 0, sizeof(a));
	snprintf(a.name, sizeof(a.name), "%s", name);
	snprintf(a.key, sizeof(a.key), "%s", key);
	a.value_len = (uint32_t)strlen(value);
	memcpy(a.value, value, a.value_len);
	return &a;
}

/* The start id, computed here from the layout, independently of attr.c. */
static uint32_t start_id(const char *name, const char *key)
{
	struct sd_vdi_attr *a = rec(name, key, "");
	uint32_t snap = 0;
	uint64_t h;

	h = sd_fnv1a_64(a->name, 256, SD_FNV1A_64_INIT);
	h = sd_fnv1a_64(a->tag, 256, h);
	h = sd_fnv1a_64(&snap, 4, h);
	h = sd_fnv1a_64(a->key, 256, h);
	return (uint32_t)h;
}

static int op(const char *name, const char *key, const char *value, unsigned mode, uint32_t *id)
{
	uint32_t hvid = 0;
	int r;

	r = sheep_attr_lookup(&g_vdi, rec(name, key, value), mode, &hvid, id);
	CHECK(hvid == sd_hash_vdi(name));
	return r;
}

static void read_rec(const char *name, uint32_t id, struct sd_vdi_attr *out)
{
	CHECK(sheep_store_read(&g_st, sd_vid_to_attr_oid(sd_hash_vdi(name), id), out, sizeof(*out),
			       0) == 0);
}

static int count_attr_objs(void *arg, uint64_t oid)
{
	if ((oid & SD_OID_KIND_MASK) == SD_VDI_ATTR_BIT)
		++*(int *)arg;
	return 0;
}

static int nr_attr_objs(void)
{
	int n = 0;

	CHECK(sheep_store_for_each_oid(&g_st, count_attr_objs, &n) == 0);
	return n;
}

static void test_probe_excl_delete(void)
{
	static struct sd_vdi_attr got;
	uint32_t s = start_id("a", "k"), id = 0;

	sheep_fixture_setup("test_sheep_attr");
	create("a");
	/* another record squats on k's first slot: k goes to the next one */
	CHECK(sheep_store_create(&g_st, sd_vid_to_attr_oid(sd_hash_vdi("a"), s), SD_ATTR_OBJ_SIZE,
				 0, rec("a", "squatter", "s"), SD_ATTR_OBJ_SIZE, 0) == 0);
	CHECK(op("a", "k", "", 0, &id) == SD_RES_NO_OBJ);
	CHECK(op("a", "k", "v1", SHEEP_ATTR_CREATE, &id) == SD_RES_SUCCESS && id == s + 1);
	CHECK(op("a", "k", "", 0, &id) == SD_RES_SUCCESS && id == s + 1);
	read_rec("a", s + 1, &got);
	CHECK(!strcmp(got.key, "k") && got.value_len == 2 && !memcmp(got.value, "v1", 2));
	/* exclusive: refused, value kept; replace: same slot, new value */
	CHECK(op("a", "k", "x", SHEEP_ATTR_CREATE | SHEEP_ATTR_EXCL, &id) == SD_RES_VDI_EXIST);
	CHECK(op("a", "k", "v2", SHEEP_ATTR_CREATE, &id) == SD_RES_SUCCESS && id == s + 1);
	read_rec("a", s + 1, &got);
	CHECK(got.value_len == 2 && !memcmp(got.value, "v2", 2));
	CHECK(!strcmp(got.key, "k") && !strcmp(got.name, "a"));
	/* the squatter is untouched */
	read_rec("a", s, &got);
	CHECK(!strcmp(got.key, "squatter"));
	/* delete leaves a tombstone; a new create probes past it */
	CHECK(op("a", "k", "", SHEEP_ATTR_DELETE, &id) == SD_RES_SUCCESS && id == s + 1);
	read_rec("a", s + 1, &got);
	CHECK(got.name[0] == '\0');
	CHECK(op("a", "k", "", 0, &id) == SD_RES_NO_OBJ);
	CHECK(op("a", "k", "", SHEEP_ATTR_DELETE, &id) == SD_RES_NO_OBJ);
	CHECK(op("a", "k", "v3", SHEEP_ATTR_CREATE | SHEEP_ATTR_EXCL, &id) == SD_RES_SUCCESS &&
	      id == s + 2);
	/* a garbage record without a single NUL is probed past, not over-read */
	memset(&got, 'x', sizeof(got));
	got.value_len = 0;
	CHECK(sheep_store_create(&g_st, sd_vid_to_attr_oid(sd_hash_vdi("a"), start_id("a", "g")),
				 SD_ATTR_OBJ_SIZE, 0, &got, SD_ATTR_OBJ_SIZE, 0) == 0);
	CHECK(op("a", "g", "v", SHEEP_ATTR_CREATE, &id) == SD_RES_SUCCESS &&
	      id == start_id("a", "g") + 1);
	/* all of it is on disk */
	sheep_vdi_destroy(&g_vdi);
	sheep_store_close(&g_st);
	CHECK(sheep_store_open(&g_st, g_dir, 1) == 0);
	CHECK(sheep_vdi_init(&g_vdi, &g_st) == 0);
	CHECK(sheep_vdi_rebuild(&g_vdi) == 0);
	CHECK(op("a", "k", "", 0, &id) == SD_RES_SUCCESS && id == s + 2);
	sheep_fixture_teardown();
}

static void test_purge(void)
{
	char x[32], y[32];
	uint32_t vx, vy, id = 0;

	sheep_fixture_collision(x, y, sizeof(x));
	sheep_fixture_setup("test_sheep_attr");
	vx = create(x);
	vy = create(y);
	CHECK(op(x, "k1", "x1", SHEEP_ATTR_CREATE, &id) == SD_RES_SUCCESS);
	CHECK(op(x, "k2", "x2", SHEEP_ATTR_CREATE, &id) == SD_RES_SUCCESS);
	CHECK(op(y, "k1", "y1", SHEEP_ATTR_CREATE, &id) == SD_RES_SUCCESS);
	CHECK(nr_attr_objs() == 3);
	/* a live vdi of the name remains: nothing goes */
	sheep_attr_purge(&g_vdi, x);
	CHECK(op(x, "k1", "", 0, &id) == SD_RES_SUCCESS);
	/* x goes while y (same hash) has attributes: x's become tombstones */
	CHECK(sheep_vdi_delete(&g_vdi, vx) == SD_RES_SUCCESS);
	sheep_attr_purge(&g_vdi, x);
	CHECK(nr_attr_objs() == 3);
	CHECK(op(x, "k1", "", 0, &id) == SD_RES_NO_OBJ);
	CHECK(op(y, "k1", "", 0, &id) == SD_RES_SUCCESS);
	/* the last one goes: every object under the hash is removed */
	CHECK(sheep_vdi_delete(&g_vdi, vy) == SD_RES_SUCCESS);
	sheep_attr_purge(&g_vdi, y);
	CHECK(nr_attr_objs() == 0);
	sheep_fixture_teardown();
}

int main(void)
{
	sheep_log_open(NULL, SHEEP_LOG_ERR, 1);
	test_probe_excl_delete();
	test_purge();
	if (g_check_failed) {
		fprintf(stderr, "test_sheep_attr: %d failure(s)\n", g_check_failed);
		return 1;
	}
	printf("test_sheep_attr: ok\n");
	return 0;
}
