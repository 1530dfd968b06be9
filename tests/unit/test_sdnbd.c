/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbdkit-sheepdog-plugin's pure parts: the parameters (nbdkit/sdnbd_config.c)
 * and the extent walk (nbdkit/sdnbd_map.c) against a stub allocation map.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <sheepdog/sheepdog.h>

#include "../../nbdkit/sdnbd.h"
#include "sdl_check.h"

int g_check_failed;

static char g_err[512];

static int set(struct sdnbd_config *cfg, const char *key, const char *value)
{
	g_err[0] = 0;
	return sdnbd_config_set(cfg, key, value, g_err, sizeof(g_err));
}

static void test_config_defaults(void)
{
	struct sdnbd_config cfg;

	sdnbd_config_init(&cfg);
	CHECK_EQ(sdnbd_config_check(&cfg, g_err, sizeof(g_err)), -1);
	CHECK(strstr(g_err, "vdi=NAME is required") != NULL);
	CHECK_EQ(set(&cfg, "vdi", "vol"), 0);
	CHECK_EQ(sdnbd_config_check(&cfg, g_err, sizeof(g_err)), 0);
	CHECK(!strcmp(sdnbd_config_addr(&cfg), "127.0.0.1:7000"));
	CHECK_EQ(cfg.shared, 1);
	CHECK_EQ(cfg.nr_conns, 0);
	CHECK_EQ(sdnbd_config_open_flags(&cfg), SD_VDI_SHARED);
	CHECK_EQ(set(&cfg, "shared", "false"), 0);
	CHECK_EQ(sdnbd_config_open_flags(&cfg), SD_VDI_EXCLUSIVE);
	CHECK_EQ(set(&cfg, "shared", "ON"), 0);
	CHECK_EQ(cfg.shared, 1);
	CHECK_EQ(set(&cfg, "address", "10.0.0.1:7001,10.0.0.2"), 0);
	CHECK(!strcmp(sdnbd_config_addr(&cfg), "10.0.0.1:7001,10.0.0.2"));
	CHECK_EQ(set(&cfg, "connections", "64"), 0);
	CHECK_EQ(cfg.nr_conns, 64);
}

static void test_config_snapshot(void)
{
	struct sdnbd_config cfg;

	sdnbd_config_init(&cfg);
	CHECK_EQ(set(&cfg, "vdi", "vol"), 0);
	CHECK_EQ(set(&cfg, "snapshot", "12"), 0);
	CHECK_EQ(cfg.snapid, 12);
	CHECK_EQ(cfg.tag[0], 0);
	/* a snapshot, whatever shared= says, takes no lock */
	CHECK_EQ(sdnbd_config_open_flags(&cfg), 0);
	CHECK_EQ(set(&cfg, "snapshot", "x"), -1);
	CHECK(strstr(g_err, "twice") != NULL);

	sdnbd_config_init(&cfg);
	CHECK_EQ(set(&cfg, "snapshot", "before-upgrade"), 0);
	CHECK(!strcmp(cfg.tag, "before-upgrade"));
	CHECK_EQ(cfg.snapid, 0);
	CHECK_EQ(sdnbd_config_open_flags(&cfg), 0);
	/* a tag may start with a digit; only all digits is an id */
	sdnbd_config_init(&cfg);
	CHECK_EQ(set(&cfg, "snapshot", "2024-01"), 0);
	CHECK(!strcmp(cfg.tag, "2024-01"));

	sdnbd_config_init(&cfg);
	CHECK_EQ(set(&cfg, "snapshot", "0"), -1);
	CHECK(strstr(g_err, "snapshot id is 1 to 4294967295") != NULL);
	CHECK_EQ(set(&cfg, "snapshot", "4294967296"), -1);
	CHECK_EQ(set(&cfg, "snapshot", "99999999999999999999999"), -1);
	CHECK_EQ(set(&cfg, "snapshot", "4294967295"), 0);
	CHECK_EQ(cfg.snapid, UINT32_MAX);
}

static void test_config_refused(void)
{
	struct sdnbd_config cfg;
	char big[400];

	sdnbd_config_init(&cfg);
	CHECK_EQ(set(&cfg, "vdi", ""), -1);
	CHECK(strstr(g_err, "vdi= needs a value") != NULL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	CHECK_EQ(set(&cfg, "vdi", big), -1);
	CHECK(strstr(g_err, "at most 255") != NULL);
	CHECK_EQ(cfg.vdi[0], 0);
	CHECK_EQ(set(&cfg, "vdi", "a"), 0);
	CHECK_EQ(set(&cfg, "vdi", "b"), -1);
	CHECK(strstr(g_err, "vdi= given twice ('a', then 'b')") != NULL);
	CHECK_EQ(set(&cfg, "snapshot", big), -1);
	CHECK_EQ(set(&cfg, "shared", "maybe"), -1);
	CHECK(strstr(g_err, "shared=maybe") != NULL);
	CHECK_EQ(set(&cfg, "connections", "0"), -1);
	CHECK_EQ(set(&cfg, "connections", "65"), -1);
	CHECK_EQ(set(&cfg, "connections", "-1"), -1);
	CHECK_EQ(set(&cfg, "connections", "4x"), -1);
	CHECK(strstr(g_err, "expected 1 to 64") != NULL);
	CHECK_EQ(set(&cfg, "address", ""), -1);
	CHECK_EQ(set(&cfg, "adress", "h"), -1);
	CHECK(strstr(g_err, "unknown parameter 'adress'") != NULL);
}

/* A stub map: 4-byte "objects", allocated where g_map has '1'. */
static const char *g_map;
static int g_map_err;

static int stub_allocated(void *opaque, uint64_t offset, uint64_t *run)
{
	uint64_t n = strlen(g_map), i = offset / 4, j;

	(void)opaque;
	if (g_map_err)
		return g_map_err;
	if (i >= n)
		return -EINVAL;
	for (j = i; j < n && g_map[j] == g_map[i]; j++)
		;
	*run = j * 4 - offset;
	return g_map[i] == '1';
}

struct ext {
	uint64_t off, len;
	uint32_t type;
};
static struct ext g_ext[16];
static int g_next, g_add_fail;

static int stub_add(void *opaque, uint64_t offset, uint64_t length, uint32_t type)
{
	(void)opaque;
	if (g_add_fail || g_next == 16)
		return -1;
	g_ext[g_next++] = (struct ext){ offset, length, type };
	return 0;
}

static int map(uint64_t off, uint64_t count, int req_one)
{
	g_next = 0;
	return sdnbd_map(off, count, req_one, 3, stub_allocated, NULL, stub_add, NULL);
}

static void test_map(void)
{
	g_map = "0011100";
	/* whole vdi: hole, data, hole */
	CHECK_EQ(map(0, 28, 0), 0);
	CHECK_EQ(g_next, 3);
	CHECK_EQ(g_ext[0].off, 0);
	CHECK_EQ(g_ext[0].len, 8);
	CHECK_EQ(g_ext[0].type, 3);
	CHECK_EQ(g_ext[1].off, 8);
	CHECK_EQ(g_ext[1].len, 12);
	CHECK_EQ(g_ext[1].type, 0);
	CHECK_EQ(g_ext[2].off, 20);
	CHECK_EQ(g_ext[2].len, 8);
	CHECK_EQ(g_ext[2].type, 3);
	/* unaligned start and end, clipped to the range */
	CHECK_EQ(map(5, 10, 0), 0);
	CHECK_EQ(g_next, 2);
	CHECK_EQ(g_ext[0].off, 5);
	CHECK_EQ(g_ext[0].len, 3);
	CHECK_EQ(g_ext[1].off, 8);
	CHECK_EQ(g_ext[1].len, 7);
	CHECK_EQ(g_ext[1].type, 0);
	/* req_one: the first extent only */
	CHECK_EQ(map(0, 28, 1), 0);
	CHECK_EQ(g_next, 1);
	CHECK_EQ(g_ext[0].len, 8);
	/* one byte */
	CHECK_EQ(map(27, 1, 0), 0);
	CHECK_EQ(g_next, 1);
	CHECK_EQ(g_ext[0].len, 1);
	CHECK_EQ(g_ext[0].type, 3);
}

static void test_map_errors(void)
{
	g_map = "01";
	g_map_err = -EINVAL;
	CHECK_EQ(map(0, 8, 0), -EINVAL);
	CHECK_EQ(g_next, 0);
	g_map_err = 0;
	g_add_fail = 1;
	CHECK_EQ(map(0, 8, 0), 1);
	g_add_fail = 0;
}

static int zero_run(void *opaque, uint64_t offset, uint64_t *run)
{
	(void)opaque;
	(void)offset;
	*run = 0;
	return 1;
}

/* A map that never advances is refused, not looped on. */
static void test_map_stuck(void)
{
	g_next = 0;
	CHECK_EQ(sdnbd_map(0, 8, 0, 3, zero_run, NULL, stub_add, NULL), -EIO);
	CHECK_EQ(g_next, 0);
}

int main(void)
{
	int passed = 0, failed = 0;

	RUN_TEST(test_config_defaults, passed, failed);
	RUN_TEST(test_config_snapshot, passed, failed);
	RUN_TEST(test_config_refused, passed, failed);
	RUN_TEST(test_map, passed, failed);
	RUN_TEST(test_map_errors, passed, failed);
	RUN_TEST(test_map_stuck, passed, failed);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
