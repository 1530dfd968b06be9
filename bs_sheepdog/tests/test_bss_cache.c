/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the cache's pure helpers (bss_cache_util.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../bss_cache.h"
#include "../../tests/unit/sdl_check.h"

int g_check_failed;

static void test_runs(void)
{
	uint64_t bm[BSS_CACHE_BM_WORDS];
	unsigned int pos = 0, len = 0;

	memset(bm, 0, sizeof(bm));
	CHECK(!bss_bm_next_run(bm, 1024, &pos, &len));
	CHECK(bss_bm_count(bm, 1024) == 0);
	bss_bm_set(bm, 3, 5);
	bss_bm_set(bm, 63, 64); /* across a word */
	bss_bm_set(bm, 1023, 1023);
	CHECK(bss_bm_count(bm, 1024) == 6);
	CHECK(bss_bm_test(bm, 3) && bss_bm_test(bm, 5) && !bss_bm_test(bm, 6));
	pos = 0;
	CHECK(bss_bm_next_run(bm, 1024, &pos, &len) && pos == 3 && len == 3);
	pos += len;
	CHECK(bss_bm_next_run(bm, 1024, &pos, &len) && pos == 63 && len == 2);
	pos += len;
	CHECK(bss_bm_next_run(bm, 1024, &pos, &len) && pos == 1023 && len == 1);
	pos += len;
	CHECK(!bss_bm_next_run(bm, 1024, &pos, &len));
	/* nbits bounds the walk (a unit smaller than 4 MiB) */
	pos = 0;
	CHECK(bss_bm_next_run(bm, 64, &pos, &len) && pos == 3);
	pos = 6;
	CHECK(bss_bm_next_run(bm, 64, &pos, &len) && pos == 63 && len == 1);
}

static void test_dir_name(void)
{
	char out[64];

	bss_cache_dir_name(0x1234, "vol-1.a_b", out, sizeof(out));
	CHECK(!strcmp(out, "0000000000001234-vol-1.a_b"));
	bss_cache_dir_name(1, "a/b c", out, sizeof(out));
	CHECK(!strcmp(out, "0000000000000001-a%2fb%20c"));
	/* a leading '.' is escaped: never ".", ".." or a hidden name */
	bss_cache_dir_name(1, "..", out, sizeof(out));
	CHECK(!strcmp(out, "0000000000000001-%2e."));
	/* cut to fit, NUL-terminated */
	bss_cache_dir_name(1, "abcdefghijklmnopqrstuvwxyz", out, 24);
	CHECK(strlen(out) < 24 && !strncmp(out, "0000000000000001-abc", 20));
}

static void test_state(void)
{
	struct bss_cache_state st = { .unit = 4u << 20, .clean = 1 }, got;
	char buf[512];
	int n;

	snprintf(st.vdi, sizeof(st.vdi), "vol");
	snprintf(st.boot_id, sizeof(st.boot_id), "abcd-ef");
	n = bss_cache_state_format(&st, buf, sizeof(buf));
	CHECK(n > 0 && (size_t)n == strlen(buf));
	CHECK(bss_cache_state_parse(buf, &got) == 0);
	CHECK(got.unit == st.unit && got.clean == 1 && !strcmp(got.vdi, "vol") &&
	      !strcmp(got.boot_id, "abcd-ef"));
	CHECK(bss_cache_state_format(&st, buf, 10) == -ENOSPC);

	CHECK(bss_cache_state_parse("", &got) == -EINVAL);
	CHECK(bss_cache_state_parse("bss-cache\nversion 2\nunit 4096\nvdi v\nboot_id b\nclean 0\n",
				    &got) == -EINVAL);
	CHECK(bss_cache_state_parse("bss-cache\nversion 1\nunit 4095\nvdi v\nboot_id b\nclean 0\n",
				    &got) == -EINVAL);
	CHECK(bss_cache_state_parse("bss-cache\nversion 1\nunit 4096\nvdi v\nclean 0\n", &got) ==
	      -EINVAL);
	CHECK(bss_cache_state_parse("bss-cache\nversion 1\nunit 4096\nvdi v\nboot_id b\nclean 2\n",
				    &got) == -EINVAL);
	CHECK(bss_cache_state_parse("bss-cache\nversion 1\nunit 8192\nvdi v\nboot_id b\nclean 0\n",
				    &got) == 0 &&
	      got.unit == 8192 && got.clean == 0);
}

int main(void)
{
	int passed = 0, failed = 0;

	RUN_TEST(test_runs, passed, failed);
	RUN_TEST(test_dir_name, passed, failed);
	RUN_TEST(test_state, passed, failed);
	printf("test_bss_cache: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
