// SPDX-License-Identifier: GPL-2.0-or-later
/* Codec unit tests: hash vectors from the protocol sheet, oid helpers,
 * result names, errno mapping and address parsing. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sheepdog/sheepdog.h>
#include "codec.h"
#include "net.h"
#include "sdl_check.h"

int g_check_failed;

static void test_hash(void)
{
	static const struct {
		const char *name;
		uint64_t fnv;
		uint32_t vid;
	} v[] = {
		{ "test", 0xf9e6e6ef197c2b25ull, 0x7c2b25 },
		{ "alice", 0x508b2abb65a03907ull, 0xa03907 },
		{ "vdi0", 0x6ee8c6010685ba7eull, 0x85ba7e },
		{ "a", 0xaf63dc4c8601ec8cull, 0x01ec8c },
		{ "sheepdog", 0x13bf55c45f3807beull, 0x3807be },
		{ "volume1", 0xadc7dcb6ba8d7f9aull, 0x8d7f9a },
	};
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		CHECK(sd_fnv1a_64(v[i].name, strlen(v[i].name), SD_FNV1A_64_INIT) == v[i].fnv);
		CHECK(sd_hash_vdi(v[i].name) == v[i].vid);
	}
	/* the empty name hashes to the offset basis; VID 0 is never returned */
	CHECK(sd_hash_vdi("") == (uint32_t)(SD_FNV1A_64_INIT & 0xffffff));
}

static void test_oids(void)
{
	uint32_t vid = 0x7c2b25;

	CHECK(sd_vid_to_vdi_oid(vid) == 0x807c2b2500000000ull);
	CHECK(sd_vid_to_data_oid(vid, 5) == 0x007c2b2500000005ull);
	CHECK(sd_vid_to_attr_oid(vid, 0x1234) == 0x207c2b2500001234ull);
	CHECK(sd_oid_to_vid(0x807c2b2500000000ull) == vid);
	CHECK(sd_oid_to_idx(0x007c2b2500000005ull) == 5);
	CHECK(sd_is_vdi_obj(sd_vid_to_vdi_oid(vid)));
	CHECK(!sd_is_vdi_obj(sd_vid_to_data_oid(vid, 1)));
	CHECK(sd_is_data_obj(sd_vid_to_data_oid(vid, 1)));
	CHECK(!sd_is_data_obj(0x087c2b2500000005ull)); /* ledger */
	CHECK(!sd_is_data_obj(0x107c2b2500000000ull)); /* btree */
	CHECK(!sd_is_data_obj(0x407c2b2500000003ull)); /* vmstate */
	CHECK(sd_inode_index_offset(0) == 4664);
	CHECK(sd_inode_index_offset(SD_INODE_DATA_INDEX) == 4198968);
	CHECK(sd_count_data_objs(0, 22) == 0);
	CHECK(sd_count_data_objs(1, 22) == 1);
	CHECK(sd_count_data_objs(4u << 20, 22) == 1);
	CHECK(sd_count_data_objs((4u << 20) + 1, 22) == 2);
	CHECK(sd_max_flat_vdi_size(22) == (4ull << 40));
}

static void test_results(void)
{
	CHECK(!strcmp(sd_strerror(SD_RES_SUCCESS), "Success"));
	CHECK(!strcmp(sd_strerror(SD_RES_NO_VDI), "No VDI found"));
	CHECK(!strcmp(sd_strerror(0x1B), "Invalid error code"));
	CHECK(sd_strerror(-1) != NULL);
	CHECK(!strcmp(sd_opcode_name(SD_OP_READ_OBJ), "READ_OBJ"));
	CHECK(sd_opcode_name(0x7f) == NULL);
	CHECK(sd_result_to_errno(SD_RES_SUCCESS) == 0);
	CHECK(sd_result_to_errno(SD_RES_READONLY) == -EROFS);
	CHECK(sd_result_to_errno(SD_RES_NO_TAG) == -ENOENT);
	CHECK(sd_result_to_errno(SD_RES_NO_SPACE) == -ENOSPC);
	CHECK(sd_result_to_errno(SD_RES_HALT) == -EAGAIN);
	CHECK(sd_result_to_errno(0x55) == -EIO);
}

static void test_addr(void)
{
	struct sdc_addr a;
	const char *why;
	char s[160];

	CHECK(!sdc_parse_addr("127.0.0.1:7001", &a, &why) && !a.is_unix && a.port == 7001 &&
	      !strcmp(a.host, "127.0.0.1"));
	CHECK(!sdc_parse_addr("localhost", &a, &why) && a.port == 7000);
	CHECK(!sdc_parse_addr("[::1]:7002", &a, &why) && a.port == 7002 && !strcmp(a.host, "::1"));
	sdc_addr_str(&a, s, sizeof(s));
	CHECK(!strcmp(s, "[::1]:7002"));
	CHECK(!sdc_parse_addr("unix:/tmp/x/sock", &a, &why) && a.is_unix &&
	      !strcmp(a.path, "/tmp/x/sock"));
	CHECK(!sdc_parse_addr("/var/run/sock", &a, &why) && a.is_unix);
	CHECK(sdc_parse_addr("", &a, &why) == -EINVAL);
	CHECK(sdc_parse_addr("host:", &a, &why) == -EINVAL);
	CHECK(sdc_parse_addr("host:0", &a, &why) == -EINVAL);
	CHECK(sdc_parse_addr("host:65536", &a, &why) == -EINVAL);
	CHECK(sdc_parse_addr("host:12x", &a, &why) == -EINVAL);
	CHECK(sdc_parse_addr("::1", &a, &why) == -EINVAL);
	CHECK(sdc_parse_addr("[::1", &a, &why) == -EINVAL);
	CHECK(sdc_parse_addr("unix:", &a, &why) == -EINVAL);
	CHECK(sdc_parse_addr(":7000", &a, &why) == -EINVAL);
}

static void test_pack_vdi_name(void)
{
	struct sdc_vdi_name p;
	char long_name[SD_MAX_VDI_LEN + 1];

	memset(&p, 0xff, sizeof(p));
	CHECK(sdc_pack_vdi_name(&p, "vol", NULL) == 0);
	CHECK(!strcmp(p.name, "vol") && p.name[SD_MAX_VDI_LEN - 1] == 0);
	CHECK(p.tag[0] == 0 && p.tag[SD_MAX_VDI_TAG_LEN - 1] == 0);
	CHECK(sdc_pack_vdi_name(&p, "vol", "snap1") == 0);
	CHECK(!strcmp(p.tag, "snap1") && p.tag[6] == 0);
	CHECK(sdc_pack_vdi_name(&p, "", NULL) == -EINVAL);
	CHECK(sdc_pack_vdi_name(&p, NULL, NULL) == -EINVAL);
	memset(long_name, 'a', SD_MAX_VDI_LEN);
	long_name[SD_MAX_VDI_LEN] = 0;
	CHECK(sdc_pack_vdi_name(&p, long_name, NULL) == -EINVAL);
	long_name[SD_MAX_VDI_LEN - 1] = 0;
	CHECK(sdc_pack_vdi_name(&p, long_name, NULL) == 0);
	CHECK(sdc_pack_vdi_name(&p, "vol", long_name) == 0);
	long_name[SD_MAX_VDI_LEN - 1] = 'a';
	CHECK(sdc_pack_vdi_name(&p, "vol", long_name) == -EINVAL);
}

int main(void)
{
	test_pack_vdi_name();
	test_hash();
	test_oids();
	test_results();
	test_addr();
	if (g_check_failed)
		fprintf(stderr, "%d check(s) failed\n", g_check_failed);
	return g_check_failed ? 1 : 0;
}
