/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests: --backing-store parsing, --bsopts parsing, stable ids. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../bss_config.h"
#include "../../tests/unit/sdl_check.h"

int g_check_failed;

static void test_path_ok(void)
{
	struct bss_path p;
	char err[256];

	CHECK(bss_parse_path("unix:/var/lib/sheepdog/sock:vol0", &p, err, sizeof(err)) == 0);
	CHECK(!strcmp(p.addr, "unix:/var/lib/sheepdog/sock"));
	CHECK(!strcmp(p.vdi, "vol0"));
	CHECK(p.snapid == 0 && p.tag[0] == '\0' && !bss_path_is_snapshot(&p));

	CHECK(bss_parse_path("tcp:127.0.0.1:7000:vol0", &p, err, sizeof(err)) == 0);
	CHECK(!strcmp(p.addr, "127.0.0.1:7000"));
	CHECK(!strcmp(p.vdi, "vol0"));

	/* 5-digit ports are not truncated (the built-in client's bug). */
	CHECK(bss_parse_path("tcp:localhost:17000:v", &p, err, sizeof(err)) == 0);
	CHECK(!strcmp(p.addr, "localhost:17000"));

	CHECK(bss_parse_path("tcp:[::1]:65535:v", &p, err, sizeof(err)) == 0);
	CHECK(!strcmp(p.addr, "[::1]:65535"));
	CHECK(!strcmp(p.vdi, "v"));

	CHECK(bss_parse_path("tcp:h:7000:vol:42", &p, err, sizeof(err)) == 0);
	CHECK(p.snapid == 42 && p.tag[0] == '\0' && bss_path_is_snapshot(&p));

	CHECK(bss_parse_path("unix:/s:vol:monday", &p, err, sizeof(err)) == 0);
	CHECK(p.snapid == 0 && !strcmp(p.tag, "monday") && bss_path_is_snapshot(&p));

	/* A tag may itself contain ':' (everything after the vdi name). */
	CHECK(bss_parse_path("unix:/s:vol:2024-01-01T10:00", &p, err, sizeof(err)) == 0);
	CHECK(!strcmp(p.tag, "2024-01-01T10:00"));

	/* Several sheep addresses: '+'-joined, the scheme carries over. */
	CHECK(bss_parse_path("tcp:h1:7000+h2:7001:vol:snap", &p, err, sizeof(err)) == 0);
	CHECK(!strcmp(p.addr, "h1:7000,h2:7001"));
	CHECK(!strcmp(p.vdi, "vol") && !strcmp(p.tag, "snap"));
	CHECK(bss_parse_path("tcp:[::1]:7000+[fe80::2]:7000+10.0.0.3:7002:v", &p, err,
			     sizeof(err)) == 0);
	CHECK(!strcmp(p.addr, "[::1]:7000,[fe80::2]:7000,10.0.0.3:7002"));
	CHECK(bss_parse_path("unix:/a/sock+/b/sock:v", &p, err, sizeof(err)) == 0);
	CHECK(!strcmp(p.addr, "unix:/a/sock,unix:/b/sock"));
	CHECK(bss_parse_path("tcp:h:7000+unix:/s+tcp:g:1:v:3", &p, err, sizeof(err)) == 0);
	CHECK(!strcmp(p.addr, "h:7000,unix:/s,g:1") && p.snapid == 3);
	CHECK(bss_parse_path("unix:/s+tcp:[::1]:7000:v", &p, err, sizeof(err)) == 0);
	CHECK(!strcmp(p.addr, "unix:/s,[::1]:7000"));
}

static void test_path_bad(void)
{
	static const char *const bad[] = {
		"",
		"vol0",
		"file:/x:vol",
		"unix:",
		"unix:/sock",
		"unix:/sock:",
		"unix::vol",
		"tcp:",
		"tcp:host",
		"tcp:host:7000",
		"tcp:host:7000:",
		"tcp::7000:v",
		"tcp:host::v",
		"tcp:host:0:v",
		"tcp:host:65536:v",
		"tcp:host:70a0:v",
		"tcp:host:-1:v",
		"tcp:[::1:7000:v",
		"tcp:[::1]7000:v",
		"tcp:[]:7000:v",
		"tcp:h:7000:vol:",
		"tcp:h:7000:vol:0",
		"tcp:h:7000:vol:99999999999",
		"tcp:h:12345678901:v",
		"tcp:h1:7000+:v",
		"tcp:h1:7000+",
		"tcp:h1:7000++h2:7000:v",
		"tcp:h1:7000+h2:v",
		"tcp:h1:7000+h2:0:v",
		"tcp:h1+h2:7000:v",
		"tcp:h1:7000,h2:7000:v",
		"unix:/a+:v",
		"unix:/a+unix::v",
		"tcp:a:1+b:2+c:3+d:4+e:5:v",
		"+tcp:h:1:v",
	};
	struct bss_path p;
	char err[256];
	size_t i;
	int ret;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&p, 0x5a, sizeof(p));
		err[0] = '\0';
		ret = bss_parse_path(bad[i], &p, err, sizeof(err));
		if (ret != -EINVAL || !err[0])
			fprintf(stderr, "bad path '%s': returned %d, reason '%s'\n", bad[i], ret,
				err);
		CHECK(ret == -EINVAL);
		CHECK(err[0] != '\0');
	}
	CHECK(bss_parse_path(NULL, &p, err, sizeof(err)) == -EINVAL);

	/* Over-long names are refused, not truncated. */
	{
		char path[600];

		memset(path, 'a', sizeof(path));
		memcpy(path, "unix:/s:", 8);
		path[8 + SD_MAX_VDI_LEN] = '\0';
		CHECK(bss_parse_path(path, &p, err, sizeof(err)) == -EINVAL);
		path[8 + SD_MAX_VDI_LEN - 1] = '\0';
		CHECK(bss_parse_path(path, &p, err, sizeof(err)) == 0);
		CHECK(strlen(p.vdi) == SD_MAX_VDI_LEN - 1);
	}
}

static void test_opts(void)
{
	struct bss_opts o, d;
	char err[256];

	bss_opts_init(&d);
	CHECK(d.conns == 4 && d.timeout_sec == 20 && d.retry_sec == 20 &&
	      d.connect_timeout_sec == 5 && d.max_inflight == 512);

	o = d;
	CHECK(bss_parse_opts(NULL, &o, err, sizeof(err)) == 0);
	CHECK(!memcmp(&o, &d, sizeof(o)));
	CHECK(bss_parse_opts("", &o, err, sizeof(err)) == 0);

	CHECK(bss_parse_opts("conns=8;timeout=5;retry=0;connect_timeout=2;max_inflight=64", &o, err,
			     sizeof(err)) == 0);
	CHECK(o.conns == 8 && o.timeout_sec == 5 && o.retry_sec == 0 &&
	      o.connect_timeout_sec == 2 && o.max_inflight == 64);

	/* refresh: 10 s by default, 0 turns the periodic size check off */
	o = d;
	CHECK(d.refresh_sec == 10);
	CHECK(bss_parse_opts("refresh=0", &o, err, sizeof(err)) == 0 && o.refresh_sec == 0);
	CHECK(bss_parse_opts("refresh=86400", &o, err, sizeof(err)) == 0 && o.refresh_sec == 86400);
	CHECK(bss_parse_opts("refresh=86401", &o, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "refresh") != NULL);

	/* shared: on by default (other gateways may export the vdi) */
	o = d;
	CHECK(d.shared == 1);
	CHECK(bss_parse_opts("shared=0", &o, err, sizeof(err)) == 0 && o.shared == 0);
	CHECK(bss_parse_opts("shared=1", &o, err, sizeof(err)) == 0 && o.shared == 1);
	CHECK(bss_parse_opts("shared=2", &o, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "shared") != NULL);

	o = d;
	CHECK(bss_parse_opts(" conns=2 ;; timeout=7;", &o, err, sizeof(err)) == 0);
	CHECK(o.conns == 2 && o.timeout_sec == 7);

	/* Failures leave *o untouched and say why. */
	o = d;
	CHECK(bss_parse_opts("conns=2;bogus=1", &o, err, sizeof(err)) == -EINVAL);
	CHECK(!memcmp(&o, &d, sizeof(o)));
	CHECK(strstr(err, "unknown option 'bogus'") != NULL);
	CHECK(bss_parse_opts("conns", &o, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "key=value") != NULL);
	CHECK(bss_parse_opts("conns=0", &o, err, sizeof(err)) == -EINVAL);
	CHECK(bss_parse_opts("conns=65", &o, err, sizeof(err)) == -EINVAL);
	CHECK(bss_parse_opts("conns=", &o, err, sizeof(err)) == -EINVAL);
	CHECK(bss_parse_opts("conns=4x", &o, err, sizeof(err)) == -EINVAL);
	CHECK(bss_parse_opts("timeout=0", &o, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "timeout") != NULL);
	CHECK(bss_parse_opts("conns=99999999999999", &o, err, sizeof(err)) == -EINVAL);
	CHECK(bss_parse_opts("Conns=4", &o, err, sizeof(err)) == -EINVAL);
	CHECK(!memcmp(&o, &d, sizeof(o)));
}

static void test_opt_ident(void)
{
	struct bss_opts o;
	char err[256], long_ident[80];

	bss_opts_init(&o);
	CHECK(o.ident[0] == '\0');
	CHECK(bss_parse_opts("conns=2;ident=old-vol0 ;thin=0", &o, err, sizeof(err)) == 0);
	CHECK(!strcmp(o.ident, "old-vol0") && o.conns == 2 && o.thin == 0);
	CHECK(bss_parse_opts("ident=", &o, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "ident") != NULL);
	memset(long_ident, 'x', sizeof(long_ident));
	memcpy(long_ident, "ident=", 6);
	long_ident[6 + 64] = '\0';
	CHECK(bss_parse_opts(long_ident, &o, err, sizeof(err)) == -EINVAL);
	long_ident[6 + 63] = '\0';
	CHECK(bss_parse_opts(long_ident, &o, err, sizeof(err)) == 0);
	CHECK(strlen(o.ident) == 63);
}

static void test_opt_pool(void)
{
	struct bss_opts o;
	char err[256];

	bss_opts_init(&o);
	CHECK(o.pool[0] == '\0');
	CHECK(bss_parse_opts("pool=db-1.a_b ;conns=2", &o, err, sizeof(err)) == 0);
	CHECK(!strcmp(o.pool, "db-1.a_b") && o.conns == 2);
	/* empty, too long, a character outside the set: refused, unchanged */
	CHECK(bss_parse_opts("pool=", &o, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "pool needs 1..31") != NULL);
	CHECK(bss_parse_opts("pool=abcdefghijklmnopqrstuvwxyz0123456", &o, err, sizeof(err)) ==
	      -EINVAL);
	CHECK(bss_parse_opts("pool=a/b", &o, err, sizeof(err)) == -EINVAL);
	CHECK(bss_parse_opts("pool=a b", &o, err, sizeof(err)) == -EINVAL);
	CHECK(!strcmp(o.pool, "db-1.a_b"));
	CHECK(bss_parse_opts("pool=abcdefghijklmnopqrstuvwxyz01234", &o, err, sizeof(err)) == 0);
	CHECK(strlen(o.pool) == 31);
}

static void test_ids(void)
{
	char sn1[BSS_SN_LEN + 1], id1[BSS_ID_LEN + 1], sn2[BSS_SN_LEN + 1], id2[BSS_ID_LEN + 1];
	uint64_t naa1, naa2;
	size_t i;

	bss_make_ids("vol0", 0, 0, sn1, id1, &naa1);
	bss_make_ids("vol0", 0, 0, sn2, id2, &naa2);
	CHECK(!strcmp(sn1, sn2) && !strcmp(id1, id2) && naa1 == naa2); /* stable */
	CHECK(strlen(sn1) == BSS_SN_LEN && strlen(id1) == BSS_ID_LEN);
	CHECK((naa1 >> 60) == 0);	 /* tgt ORs the NAA type into the top nibble */
	for (i = 3; i < BSS_ID_LEN; i++) /* tgt derives NAA-6 from hex digits */
		CHECK((id1[i] >= '0' && id1[i] <= '9') || (id1[i] >= 'a' && id1[i] <= 'f'));

	bss_make_ids("vol1", 0, 0, sn2, id2, &naa2);
	CHECK(strcmp(sn1, sn2) && strcmp(id1, id2) && naa1 != naa2);
	bss_make_ids("vol0", 0x1234, 0, sn2, id2, &naa2); /* a snapshot differs */
	CHECK(strcmp(sn1, sn2) && strcmp(id1, id2) && naa1 != naa2);

	/* cluster 0 keeps the ids of earlier releases: FNV-1a of name + vid */
	bss_make_ids("vol0", 0, 0, sn1, id1, &naa1);
	CHECK(!strcmp(sn1, "77fcfbbf17204efe"));
	/* the same vdi name in two clusters: different; same cluster: same */
	bss_make_ids("vol0", 0, UINT64_C(0x5f00000012345678), sn1, id1, &naa1);
	bss_make_ids("vol0", 0, UINT64_C(0x5f00000012345679), sn2, id2, &naa2);
	CHECK(strcmp(sn1, sn2) && strcmp(id1, id2) && naa1 != naa2);
	bss_make_ids("vol0", 0, UINT64_C(0x5f00000012345678), sn2, id2, &naa2);
	CHECK(!strcmp(sn1, sn2) && !strcmp(id1, id2) && naa1 == naa2);
	bss_make_ids("vol0", 7, UINT64_C(0x5f00000012345678), sn2, id2, &naa2);
	CHECK(strcmp(sn1, sn2) && strcmp(id1, id2) && naa1 != naa2);
	bss_make_ids("vol0", 0, 0, sn2, id2, &naa2);
	CHECK(strcmp(sn1, sn2) && strcmp(id1, id2) && naa1 != naa2);
}

static void test_opt_cache(void)
{
	struct bss_opts o;
	char err[256];

	bss_opts_init(&o);
	CHECK(o.cache == BSS_CACHE_NONE && !strcmp(o.cache_dir, "/var/lib/tgt-sheepdog/cache"));
	CHECK(o.cache_size == (UINT64_C(1) << 30) && o.cache_age == 5);
	/* any cache implies exclusive access; dirty bound defaults to half */
	CHECK(bss_parse_opts("cache=writeback", &o, err, sizeof(err)) == 0);
	CHECK(o.cache == BSS_CACHE_WRITEBACK && o.shared == 0 && o.cache_dirty == (1u << 29));
	bss_opts_init(&o);
	CHECK(bss_parse_opts("cache=writeback;shared=1", &o, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "shared=1") != NULL);
	CHECK(bss_parse_opts("cache=writethrough;shared=1", &o, err, sizeof(err)) == -EINVAL);
	CHECK(bss_parse_opts("cache=writeback;shared=0", &o, err, sizeof(err)) == 0);
	bss_opts_init(&o);
	CHECK(bss_parse_opts("cache=none;shared=1", &o, err, sizeof(err)) == 0 && o.shared == 1);
	CHECK(bss_parse_opts("cache=sometimes", &o, err, sizeof(err)) == -EINVAL);
	/* sizes: MiB without a suffix, K/M/G/T/P */
	bss_opts_init(&o);
	CHECK(bss_parse_opts("cache=writethrough;cache_size=64;cache_dirty=8M", &o, err,
			     sizeof(err)) == 0);
	CHECK(o.cache_size == (UINT64_C(64) << 20) && o.cache_dirty == (UINT64_C(8) << 20));
	CHECK(bss_parse_opts("cache_size=2G", &o, err, sizeof(err)) == 0 &&
	      o.cache_size == (UINT64_C(2) << 30));
	bss_opts_init(&o);
	CHECK(bss_parse_opts("cache_size=4096K", &o, err, sizeof(err)) == 0 &&
	      o.cache_size == (UINT64_C(4) << 20));
	CHECK(bss_parse_opts("cache_size=3M", &o, err, sizeof(err)) == -EINVAL);
	CHECK(bss_parse_opts("cache_size=1X", &o, err, sizeof(err)) == -EINVAL);
	CHECK(bss_parse_opts("cache_size=G", &o, err, sizeof(err)) == -EINVAL);
	CHECK(bss_parse_opts("cache_size=2000P", &o, err, sizeof(err)) == -EINVAL);
	bss_opts_init(&o);
	CHECK(bss_parse_opts("cache=writeback;cache_size=8;cache_dirty=16", &o, err, sizeof(err)) ==
	      -EINVAL);
	CHECK(bss_parse_opts("cache_age=0;cache_dir=/tmp/x", &o, err, sizeof(err)) == 0);
	CHECK(o.cache_age == 0 && !strcmp(o.cache_dir, "/tmp/x"));
	CHECK(bss_parse_opts("cache_age=3601", &o, err, sizeof(err)) == -EINVAL);
	CHECK(bss_parse_opts("cache_dir=rel/path", &o, err, sizeof(err)) == -EINVAL);
	CHECK(bss_parse_opts("cache_dir=", &o, err, sizeof(err)) == -EINVAL);
}

int main(void)
{
	int passed = 0, failed = 0;

	RUN_TEST(test_path_ok, passed, failed);
	RUN_TEST(test_path_bad, passed, failed);
	RUN_TEST(test_opts, passed, failed);
	RUN_TEST(test_opt_ident, passed, failed);
	RUN_TEST(test_opt_pool, passed, failed);
	RUN_TEST(test_ids, passed, failed);
	RUN_TEST(test_opt_cache, passed, failed);
	printf("test_bss_config: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
