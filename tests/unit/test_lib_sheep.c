// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libsheepdog against a real sheep (driven by tests/bats/lib_sheep.bats):
 *   test_lib_sheep ADDR      ADDR as for sd_connect (host:port or unix:PATH)
 *   test_lib_sheep ADDR --read|--write NAME OFFSET LENGTH
 *                            copy a range of a vdi to stdout / from stdin
 *   test_lib_sheep ADDR --bench NAME SECONDS read|write QD
 *                            4 KiB random I/O at queue depth QD; prints IOPS
 *   test_lib_sheep ADDR --soak NAME SECONDS
 *                            keep 32 async writes in flight for SECONDS
 *                            (the test restarts sheep meanwhile), then
 *                            verify every byte; prints "soak OK <n>"
 *   test_lib_sheep ADDR --attr NAME
 *                            sd_vdi_setattr/getattr on vdi NAME (which must
 *                            exist and have no attributes): create, replace,
 *                            exclusive, delete, binary and limit values,
 *                            errors, and the asynchronous calls (8 exclusive
 *                            creates racing in flight: exactly one wins);
 *                            leaves key "from-lib" = "lib-value" and prints
 *                            "attr OK"
 *   test_lib_sheep ADDR --caw NAME
 *                            sd_vdi_cmp_write on vdi NAME (which must exist,
 *                            empty, at least 3 objects): probe, a hole
 *                            compared as zeros, miscompare offsets, limits,
 *                            copy-on-write from a snapshot; leaves a zero
 *                            counter at object 1 + 4096; prints "caw OK"
 *   test_lib_sheep ADDR --caw-hammer NAME OFFSET
 *                            300 compare-and-swap increments of the 64-bit
 *                            counter at OFFSET (run several at once)
 * Uses only the public API.  The cluster must be formatted and empty of
 * the vdis named here.  Exit status 0 when every check passed.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <sheepdog/sheepdog.h>

#include "sdl_check.h"

int g_check_failed;

/* sdl_check.h's CHECK, then the handle's last error (a local c is in scope). */
#define CHECK_C(cond) \
	do { \
		int _before = g_check_failed; \
		CHECK(cond); \
		if (g_check_failed != _before) \
			fprintf(stderr, "  last error: %s\n", c ? sd_cluster_errmsg(c) : "-"); \
	} while (0)

#define MIB	(1024u * 1024u)
#define NR_AIO	64
#define AIO_LEN (64 * 1024)

static struct sd_cluster *c;

struct aio_state {
	int pending;
	int errors;
};

static struct aio_state g_soak;

static void aio_cb(struct sd_vdi *vdi, int ret, void *opaque)
{
	struct aio_state *s = opaque;

	s->pending--;
	if (ret)
		s->errors++;
}

static void aio_wait(struct aio_state *s)
{
	int i;

	for (i = 0; i < 3000 && s->pending > 0; i++) {
		struct pollfd pfd = { .fd = sd_cluster_fd(c), .events = POLLIN };

		poll(&pfd, 1, 10);
		sd_cluster_service(c);
	}
}

static void fill(char *buf, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (char)((i * 131 + seed * 7 + (i >> 12)) & 0xff);
}

static int find_vdi(const struct sd_vdi_info *v, int n, const char *name, int snap, const char *tag)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(v[i].name, name) && v[i].is_snapshot == snap &&
		    (!tag || !strcmp(v[i].tag, tag)))
			return i;
	return -1;
}

/* --read / --write: move one range between a vdi and stdio. */
static int copy_mode(const char *addr, const char *mode, const char *name, uint64_t off, size_t len)
{
	struct sd_vdi *v;
	char *buf = malloc(len ? len : 1);
	int ret;

	c = sd_connect(addr);
	if (!c || !buf)
		return 1;
	v = sd_vdi_open(c, name, 0, NULL);
	if (!v) {
		fprintf(stderr, "open %s: %s\n", name, sd_cluster_errmsg(c));
		return 1;
	}
	if (!strcmp(mode, "--read")) {
		ret = sd_vdi_read(v, buf, len, off);
		if (!ret && fwrite(buf, 1, len, stdout) != len)
			ret = -EIO;
	} else {
		ret = fread(buf, 1, len, stdin) == len ? sd_vdi_write(v, buf, len, off) : -EIO;
	}
	if (ret)
		fprintf(stderr, "%s: %s\n", mode, sd_cluster_errmsg(c));
	if (sd_vdi_close(v) || sd_disconnect(c))
		ret = -EIO;
	free(buf);
	return ret ? 1 : 0;
}

/* --soak: writes keep flowing while sheep goes away and comes back. */
static unsigned char *g_busy;

static void soak_cb(struct sd_vdi *vdi, int ret, void *opaque)
{
	g_busy[(uintptr_t)opaque] = 0;
	g_soak.pending--;
	if (ret) {
		g_soak.errors++;
		fprintf(stderr, "soak write: %s\n", strerror(-ret));
	}
}

/* --bench: 4 KiB random I/O at a fixed queue depth through the library
 * (buffers are shared between requests: data is not checked). */
static struct aio_state g_bench;

static int bench_mode(const char *addr, const char *name, unsigned secs, int wr, unsigned qd)
{
	struct sd_cluster_opts o;
	struct sd_vdi *v;
	struct timespec t0, t1;
	uint64_t nblocks, seed = 88172645463325252ull;
	unsigned long done = 0;
	char *buf;
	double el;

	sd_cluster_opts_init(&o);
	c = sd_connect_opts(addr, &o);
	if (!c || !(v = sd_vdi_open(c, name, 0, NULL)))
		return 1;
	nblocks = sd_vdi_size(v) / 4096;
	buf = malloc((size_t)qd * 4096);
	if (!buf || !qd)
		return 1;
	memset(buf, 0x5a, (size_t)qd * 4096);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = { .fd = sd_cluster_fd(c), .events = POLLIN };

		clock_gettime(CLOCK_MONOTONIC, &t1);
		el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		while (el < secs && g_bench.pending < (int)qd && !g_bench.errors) {
			uint64_t blk;
			char *p = buf + (size_t)g_bench.pending * 4096;
			int ret;

			seed ^= seed << 13;
			seed ^= seed >> 7;
			seed ^= seed << 17;
			blk = seed % nblocks;
			ret = wr ? sd_vdi_aio_write(v, p, 4096, blk * 4096, 0, aio_cb, &g_bench)
				 : sd_vdi_aio_read(v, p, 4096, blk * 4096, aio_cb, &g_bench);
			if (ret)
				return 1;
			g_bench.pending++;
			done++;
		}
		if (el >= secs && !g_bench.pending)
			break;
		if (g_bench.errors)
			break;
		poll(&pfd, 1, 100);
		sd_cluster_service(c);
	}
	aio_wait(&g_bench);
	printf("%s qd %u: %.0f IOPS (%lu in %.2f s, %d errors)\n", wr ? "randwrite" : "randread",
	       qd, (double)done / el, done, el, g_bench.errors);
	sd_vdi_close(v);
	sd_disconnect(c);
	free(buf);
	return g_bench.errors ? 1 : 0;
}

static void soak_log(int level, const char *msg, void *opaque)
{
	if (level <= LOG_WARNING)
		fprintf(stderr, "libsheepdog: %s\n", msg);
}

static int soak_mode(const char *addr, const char *name, unsigned secs)
{
	struct sd_cluster_opts o;
	struct sd_vdi *v;
	uint64_t size, nslots;
	char *img, *rd;
	time_t end;
	unsigned long n = 0, done = 0;

	sd_cluster_opts_init(&o);
	o.io_timeout_ms = 5000;
	o.retry_timeout_ms = 30000;
	c = sd_connect_opts(addr, &o);
	if (!c) {
		fprintf(stderr, "sd_connect %s: %s\n", addr, strerror(errno));
		return 1;
	}
	sd_set_log_cb(c, soak_log, NULL);
	v = sd_vdi_open(c, name, 0, NULL);
	if (!v) {
		fprintf(stderr, "open %s: %s\n", name, sd_cluster_errmsg(c));
		return 1;
	}
	size = sd_vdi_size(v);
	nslots = size / 8192;
	img = calloc(1, size);
	rd = malloc(size);
	g_busy = calloc(1, nslots);
	if (!img || !rd || !g_busy)
		return 1;
	CHECK_C(sd_vdi_read(v, img, size, 0) == 0);
	end = time(NULL) + secs;
	printf("soak started\n");
	fflush(stdout);
	while (time(NULL) < end && !g_soak.errors) {
		struct pollfd pfd = { .fd = sd_cluster_fd(c), .events = POLLIN };

		while (g_soak.pending < 32) {
			/* never two writes in flight on one 8 KiB slot */
			uintptr_t slot = (uintptr_t)((n++ * 2654435761u) % nslots);

			if (g_busy[slot])
				continue;
			fill(img + slot * 8192, 8192, (unsigned)n);
			if (sd_vdi_aio_write(v, img + slot * 8192, 8192, slot * 8192, 0, soak_cb,
					     (void *)slot)) {
				g_soak.errors++;
				break;
			}
			g_busy[slot] = 1;
			g_soak.pending++;
			done++;
		}
		poll(&pfd, 1, 100);
		sd_cluster_service(c);
	}
	aio_wait(&g_soak);
	CHECK_C(g_soak.pending == 0);
	CHECK_C(g_soak.errors == 0);
	CHECK_C(sd_vdi_read(v, rd, size, 0) == 0);
	CHECK_C(!memcmp(rd, img, size));
	CHECK_C(sd_vdi_close(v) == 0);
	CHECK_C(sd_disconnect(c) == 0);
	free(img);
	free(rd);
	free(g_busy);
	printf("soak %s %lu\n", g_check_failed ? "FAILED" : "OK", done);
	return g_check_failed ? 1 : 0;
}

/* sd_vdi_aio_getattr/setattr: results by slot, counted as they come. */
struct attr_async {
	int ret[16];
	int done;
};

static struct attr_async g_aa;

static void attr_async_cb(struct sd_cluster *cl, int ret, void *opaque)
{
	(void)cl;
	g_aa.ret[(intptr_t)opaque] = ret;
	g_aa.done++;
}

/* Service c until n callbacks ran (at most 10 s). */
static int attr_async_wait(int n)
{
	time_t end = time(NULL) + 10;

	while (g_aa.done < n && time(NULL) < end) {
		struct pollfd pfd = { .fd = sd_cluster_fd(c), .events = POLLIN };

		poll(&pfd, 1, 100);
		sd_cluster_service(c);
	}
	return g_aa.done == n;
}

static void attr_async_checks(const char *name, const char *bin, size_t binlen)
{
	char out[16];
	int i, won = 0, lost = 0;

	memset(&g_aa, 0, sizeof(g_aa));
	memset(out, 0, sizeof(out));
	/* 8 exclusive creates of one key and a read, all in flight at once */
	for (i = 0; i < 8; i++)
		CHECK(sd_vdi_aio_setattr(c, name, "race", &i, sizeof(i), SD_ATTR_EXCL,
					 attr_async_cb, (void *)(intptr_t)i) == 0);
	CHECK(sd_vdi_aio_getattr(c, name, "bin", out, sizeof(out), attr_async_cb,
				 (void *)(intptr_t)8) == 0);
	CHECK(g_aa.done == 0); /* never from inside the call */
	CHECK(attr_async_wait(9));
	for (i = 0; i < 8; i++) {
		won += g_aa.ret[i] == 0;
		lost += g_aa.ret[i] == -EEXIST;
	}
	CHECK(won == 1 && lost == 7);
	CHECK(g_aa.ret[8] == (int)binlen && !memcmp(out, bin, binlen));
	/* the winner's value (copied at submit) is what is stored */
	for (i = 0; i < 8; i++)
		if (g_aa.ret[i] == 0) {
			int v = -1;

			CHECK(sd_vdi_getattr(c, name, "race", &v, sizeof(v)) == (int)sizeof(v));
			CHECK(v == i);
		}
	/* an unknown key and a delete, then submit errors (no callback) */
	CHECK(sd_vdi_aio_getattr(c, name, "nokey", out, sizeof(out), attr_async_cb,
				 (void *)(intptr_t)9) == 0);
	CHECK(sd_vdi_aio_setattr(c, name, "race", NULL, 0, SD_ATTR_DELETE, attr_async_cb,
				 (void *)(intptr_t)10) == 0);
	CHECK(attr_async_wait(11));
	CHECK(g_aa.ret[9] == -ENOENT && g_aa.ret[10] == 0);
	CHECK(sd_vdi_aio_setattr(c, name, "k", "v", 1, 0x80, attr_async_cb, NULL) == -EINVAL);
	CHECK(sd_vdi_aio_getattr(c, name, "", out, sizeof(out), attr_async_cb, NULL) == -EINVAL);
	CHECK(sd_vdi_aio_getattr(c, name, "k", out, sizeof(out), NULL, NULL) == -EINVAL);
	sd_cluster_service(c);
	CHECK(g_aa.done == 11);
}

static int attr_mode(const char *addr, const char *name)
{
	char big[SD_MAX_VDI_ATTR_VALUE_LEN + 1], out[SD_MAX_VDI_ATTR_VALUE_LEN + 1];
	char longkey[SD_MAX_VDI_ATTR_KEY_LEN + 1];
	const char bin[] = { 'a', 0, 'b', '\n', (char)0xff };

	c = sd_connect(addr);
	if (!c) {
		fprintf(stderr, "sd_connect %s: %s\n", addr, strerror(errno));
		return 1;
	}
	memset(out, 0, sizeof(out));
	CHECK(sd_vdi_getattr(c, name, "k", out, sizeof(out)) == -ENOENT);
	CHECK(sd_vdi_setattr(c, name, "k", "one", 3, 0) == 0);
	CHECK(sd_vdi_getattr(c, name, "k", out, sizeof(out)) == 3);
	CHECK(!memcmp(out, "one", 3));
	/* replace, then the length alone, then a cut copy */
	CHECK(sd_vdi_setattr(c, name, "k", "second", 6, 0) == 0);
	CHECK(sd_vdi_getattr(c, name, "k", NULL, 0) == 6);
	memset(out, 0, sizeof(out));
	CHECK(sd_vdi_getattr(c, name, "k", out, 3) == 6);
	CHECK(!memcmp(out, "sec", 3) && out[3] == 0);
	/* exclusive create: fails on an existing key, value untouched */
	CHECK(sd_vdi_setattr(c, name, "k", "third", 5, SD_ATTR_EXCL) == -EEXIST);
	CHECK(sd_vdi_getattr(c, name, "k", out, sizeof(out)) == 6);
	CHECK(!memcmp(out, "second", 6));
	CHECK(sd_vdi_setattr(c, name, "x", "", 0, SD_ATTR_EXCL) == 0);
	CHECK(sd_vdi_getattr(c, name, "x", out, sizeof(out)) == 0);
	/* delete; a second delete and a read find nothing; EXCL works again */
	CHECK(sd_vdi_setattr(c, name, "k", NULL, 0, SD_ATTR_DELETE) == 0);
	CHECK(sd_vdi_getattr(c, name, "k", out, sizeof(out)) == -ENOENT);
	CHECK(sd_vdi_setattr(c, name, "k", NULL, 0, SD_ATTR_DELETE) == -ENOENT);
	CHECK(sd_vdi_setattr(c, name, "k", "back", 4, SD_ATTR_EXCL) == 0);
	CHECK(sd_vdi_getattr(c, name, "k", out, sizeof(out)) == 4);
	/* binary values keep every byte; the largest value fits */
	CHECK(sd_vdi_setattr(c, name, "bin", bin, sizeof(bin), 0) == 0);
	CHECK(sd_vdi_getattr(c, name, "bin", out, sizeof(out)) == (int)sizeof(bin));
	CHECK(!memcmp(out, bin, sizeof(bin)));
	memset(big, 'v', sizeof(big));
	CHECK(sd_vdi_setattr(c, name, "big", big, SD_MAX_VDI_ATTR_VALUE_LEN, 0) == 0);
	CHECK(sd_vdi_getattr(c, name, "big", out, sizeof(out)) == SD_MAX_VDI_ATTR_VALUE_LEN);
	CHECK(!memcmp(out, big, SD_MAX_VDI_ATTR_VALUE_LEN));
	/* errors */
	CHECK(sd_vdi_setattr(c, name, "big", big, SD_MAX_VDI_ATTR_VALUE_LEN + 1, 0) == -EINVAL);
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = 0;
	CHECK(sd_vdi_setattr(c, name, longkey, "v", 1, 0) == -EINVAL);
	CHECK(sd_vdi_getattr(c, name, "", out, sizeof(out)) == -EINVAL);
	CHECK(sd_vdi_setattr(c, name, "k", "v", 1, SD_ATTR_EXCL | SD_ATTR_DELETE) == -EINVAL);
	CHECK(sd_vdi_setattr(c, name, "k", "v", 1, 0x80) == -EINVAL);
	CHECK(sd_vdi_setattr(c, "no-such-vdi", "k", "v", 1, 0) == -ENOENT);
	CHECK(sd_vdi_getattr(c, "no-such-vdi", "k", out, sizeof(out)) == -ENOENT);
	attr_async_checks(name, bin, sizeof(bin));
	/* for the bats side: dog must see this one */
	CHECK(sd_vdi_setattr(c, name, "from-lib", "lib-value", 9, 0) == 0);
	CHECK(sd_disconnect(c) == 0);
	printf("attr %s\n", g_check_failed ? "FAILED" : "OK");
	return g_check_failed ? 1 : 0;
}

#define CAW_LEN	   512
#define CAW_ROUNDS 300

/* One compare-and-write: the block holds `from` in every byte, make it `to`. */
static int caw_fill(struct sd_vdi *v, uint64_t off, int from, int to, uint64_t *at)
{
	static char buf[2 * CAW_LEN];

	memset(buf, from, CAW_LEN);
	memset(buf + CAW_LEN, to, CAW_LEN);
	return sd_vdi_cmp_write(v, buf, CAW_LEN, off, at);
}

/* CAW_ROUNDS increments of the counter at off, each by CAS. */
static int caw_hammer(const char *addr, const char *name, uint64_t off)
{
	char buf[2 * CAW_LEN];
	unsigned done = 0, misses = 0;
	struct sd_vdi *v;
	uint64_t val, at;
	int r = 0;

	c = sd_connect(addr);
	if (!c || !(v = sd_vdi_open(c, name, 0, NULL))) {
		fprintf(stderr, "hammer: %s\n", c ? sd_cluster_errmsg(c) : strerror(errno));
		return 1;
	}
	while (done < CAW_ROUNDS && misses < 100000) {
		r = sd_vdi_read(v, buf, CAW_LEN, off);
		if (r)
			break;
		memcpy(&val, buf, sizeof(val));
		val++;
		memcpy(buf + CAW_LEN, buf, CAW_LEN);
		memcpy(buf + CAW_LEN, &val, sizeof(val));
		r = sd_vdi_cmp_write(v, buf, CAW_LEN, off, &at);
		if (r == -EILSEQ) {
			misses++;
			continue;
		}
		if (r)
			break;
		done++;
	}
	sd_vdi_close(v);
	sd_disconnect(c);
	printf("hammer: %u increments, %u miscompares, last %d\n", done, misses, r);
	fflush(stdout);
	return done == CAW_ROUNDS ? 0 : 1;
}

static int caw_mode(const char *addr, const char *name)
{
	char *rd = malloc(8192), *big = calloc(2, SD_EXT_CMP_WRITE_MAX + 1);
	struct sd_vdi *v, *snap;
	uint64_t at, obj;

	c = sd_connect(addr);
	if (!c || !rd || !big || !(v = sd_vdi_open(c, name, 0, NULL))) {
		fprintf(stderr, "setup: %s\n", c ? sd_cluster_errmsg(c) : strerror(errno));
		return 1;
	}
	obj = sd_vdi_object_size(v);
	/* the probe touches nothing */
	CHECK_C(sd_vdi_cmp_write(v, NULL, 0, 0, NULL) == 0);
	CHECK(sd_vdi_allocated(v, 0, NULL) == 0);
	/* a hole compares as zeros; the sheep creates the object */
	CHECK_C(caw_fill(v, 512, 0, 'A', &at) == 0);
	CHECK(sd_vdi_allocated(v, 0, NULL) == 1);
	CHECK_C(sd_vdi_read(v, rd, CAW_LEN, 512) == 0);
	CHECK(rd[0] == 'A' && rd[CAW_LEN - 1] == 'A');
	/* stale compare: nothing written, offset of the first difference */
	at = 99;
	CHECK(caw_fill(v, 512, 0, 'B', &at) == -EILSEQ);
	CHECK(at == 0);
	{
		char buf[2 * CAW_LEN];

		memset(buf, 'A', 2 * CAW_LEN);
		buf[100] = 'x';
		CHECK(sd_vdi_cmp_write(v, buf, CAW_LEN, 512, &at) == -EILSEQ);
		CHECK(at == 100);
	}
	CHECK_C(sd_vdi_read(v, rd, CAW_LEN, 512) == 0);
	CHECK(rd[0] == 'A' && rd[CAW_LEN - 1] == 'A');
	/* an existing object */
	CHECK_C(caw_fill(v, 512, 'A', 'B', &at) == 0);
	CHECK_C(sd_vdi_read(v, rd, 2 * CAW_LEN, 0) == 0);
	CHECK(rd[0] == 0 && rd[CAW_LEN] == 'B' && rd[2 * CAW_LEN - 1] == 'B');
	/* limits: one object, 1 MiB, inside the vdi */
	CHECK(sd_vdi_cmp_write(v, big, CAW_LEN, obj - CAW_LEN / 2, &at) == -EXDEV);
	CHECK(sd_vdi_cmp_write(v, big, SD_EXT_CMP_WRITE_MAX + 1, 0, &at) == -EINVAL);
	CHECK(sd_vdi_cmp_write(v, big, CAW_LEN, sd_vdi_size(v), &at) == -EINVAL);
	CHECK(sd_vdi_cmp_write(v, big, SD_EXT_CMP_WRITE_MAX, obj, &at) == 0);
	/* copy-on-write: object 2 written, snapshotted, then compared through
	 * the handle (which follows the new working vdi on READONLY) */
	memset(rd, 'P', 8192);
	CHECK_C(sd_vdi_write(v, rd, 8192, 2 * obj) == 0);
	CHECK_C(sd_vdi_snapshot(c, name, "caw-snap") == 0);
	CHECK(caw_fill(v, 2 * obj + 1024, 'Q', 'R', &at) == -EILSEQ);
	CHECK(at == 0);
	CHECK_C(caw_fill(v, 2 * obj + 1024, 'P', 'Q', &at) == 0);
	CHECK_C(sd_vdi_read(v, rd, 8192, 2 * obj) == 0);
	CHECK(rd[0] == 'P' && rd[1023] == 'P' && rd[1024] == 'Q' && rd[1024 + CAW_LEN - 1] == 'Q' &&
	      rd[1024 + CAW_LEN] == 'P' && rd[8191] == 'P');
	snap = sd_vdi_open(c, name, 0, "caw-snap");
	CHECK_C(snap != NULL);
	if (snap) {
		CHECK_C(sd_vdi_read(snap, rd, 8192, 2 * obj) == 0);
		CHECK(rd[1024] == 'P' && rd[8191] == 'P');
		CHECK(caw_fill(snap, 2 * obj, 'P', 'S', &at) == -EROFS);
		sd_vdi_close(snap);
	}
	/*
	 * The counter of --caw-hammer (object 1, offset 4096), allocated
	 * before the hammers open the vdi: a client's reads of a hole another
	 * client filled (or of an object another client copied from the
	 * snapshot) are answered from its own copy of the index (zeros, the
	 * snapshot's data) until it reloads the inode, which is coherence
	 * between clients, not this op.
	 */
	memset(rd, 0, CAW_LEN);
	CHECK_C(sd_vdi_write(v, rd, CAW_LEN, obj + 4096) == 0);
	sd_vdi_close(v);
	CHECK_C(sd_disconnect(c) == 0);
	free(rd);
	free(big);
	printf("caw %s\n", g_check_failed ? "FAILED" : "OK");
	return g_check_failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	const uint64_t size = 16 * (uint64_t)MIB;
	char *img, *rd, *snapimg, *buf;
	struct aio_state st = { 0, 0 };
	struct sd_vdi *v, *snap, *cl;
	struct sd_vdi_info *info = NULL;
	uint32_t vid0, obj;
	int i, n;

	if (argc == 7 && !strcmp(argv[2], "--bench"))
		return bench_mode(argv[1], argv[3], (unsigned)strtoul(argv[4], NULL, 0),
				  !strcmp(argv[5], "write"), (unsigned)strtoul(argv[6], NULL, 0));
	if (argc == 4 && !strcmp(argv[2], "--attr"))
		return attr_mode(argv[1], argv[3]);
	if (argc == 4 && !strcmp(argv[2], "--caw"))
		return caw_mode(argv[1], argv[3]);
	if (argc == 5 && !strcmp(argv[2], "--caw-hammer"))
		return caw_hammer(argv[1], argv[3], strtoull(argv[4], NULL, 0));
	if (argc == 5 && !strcmp(argv[2], "--soak"))
		return soak_mode(argv[1], argv[3], (unsigned)strtoul(argv[4], NULL, 0));
	if (argc == 6)
		return copy_mode(argv[1], argv[2], argv[3], strtoull(argv[4], NULL, 0),
				 strtoul(argv[5], NULL, 0));
	img = calloc(1, size);
	rd = malloc(size);
	if (argc != 2 || !img || !rd) {
		fprintf(stderr, "usage: %s ADDR\n", argv[0]);
		return 2;
	}
	c = sd_connect(argv[1]);
	if (!c) {
		fprintf(stderr, "sd_connect %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	/* create, list */
	CHECK_C(sd_vdi_create(c, "lt", size) == 0);
	CHECK_C(sd_vdi_create(c, "lt", size) == -EEXIST);
	n = sd_vdi_list(c, &info);
	CHECK_C(n >= 1 && find_vdi(info, n, "lt", 0, NULL) >= 0);
	free(info);
	v = sd_vdi_open(c, "lt", 0, NULL);
	CHECK_C(v != NULL);
	if (!v)
		return 1;
	obj = sd_vdi_object_size(v);
	CHECK_C(sd_vdi_size(v) == size);
	CHECK_C(obj == 4 * MIB);
	CHECK_C(!sd_vdi_is_readonly(v));
	vid0 = sd_vdi_id(v);

	/* sync write/read across object boundaries, unaligned */
	buf = malloc(obj + 2000);
	fill(buf, obj + 2000, 1);
	CHECK_C(sd_vdi_write(v, buf, obj + 2000, obj - 1000) == 0);
	memcpy(img + obj - 1000, buf, obj + 2000);
	CHECK_C(sd_vdi_read(v, rd, size, 0) == 0);
	CHECK_C(!memcmp(rd, img, size));
	/* a hole after an allocated object reads as zeros at the right place */
	CHECK_C(sd_vdi_read(v, rd, obj + 4096, obj + obj / 2) == 0);
	CHECK_C(!memcmp(rd, img + obj + obj / 2, obj + 4096));

	/* 64 outstanding async writes across the whole vdi, then reads */
	for (i = 0; i < NR_AIO; i++) {
		uint64_t off = (uint64_t)i * (3 * (uint64_t)obj / NR_AIO) +
			       (uint64_t)(i * 977) % 4096;

		fill(img + off, AIO_LEN, 100 + i);
		if (sd_vdi_aio_write(v, img + off, AIO_LEN, off, i % 8 ? 0 : SD_AIO_FUA, aio_cb,
				     &st) == 0)
			st.pending++;
		else
			st.errors++;
	}
	CHECK_C(st.pending == NR_AIO);
	aio_wait(&st);
	CHECK_C(st.pending == 0 && st.errors == 0);
	memset(rd, 0, size);
	for (i = 0; i < 16; i++) {
		if (sd_vdi_aio_read(v, rd + (size_t)i * MIB, MIB, (uint64_t)i * MIB, aio_cb, &st) ==
		    0)
			st.pending++;
	}
	aio_wait(&st);
	CHECK_C(st.pending == 0 && st.errors == 0);
	CHECK_C(!memcmp(rd, img, size));
	CHECK_C(sd_vdi_flush(v) == 0);

	/* 32 concurrent first writes into one unallocated object: one create,
	 * everything lands */
	for (i = 0; i < 32; i++) {
		uint64_t off = 3 * (uint64_t)obj + (uint64_t)i * 8192 + 512;

		fill(img + off, 4096, 300 + i);
		if (sd_vdi_aio_write(v, img + off, 4096, off, 0, aio_cb, &st) == 0)
			st.pending++;
	}
	CHECK_C(st.pending == 32);
	aio_wait(&st);
	CHECK_C(st.pending == 0 && st.errors == 0);
	CHECK_C(sd_vdi_read(v, rd, size, 0) == 0);
	CHECK_C(!memcmp(rd, img, size));

	/* snapshot from another handle while 32 writes are in flight */
	{
		struct sd_cluster *c2 = sd_connect(argv[1]);
		struct sd_vdi *bv;
		char *bimg = calloc(1, size), *brd = malloc(size);
		unsigned char busy[2048] = { 0 };
		struct aio_state bs = { 0, 0 };
		unsigned long k = 0, sent = 0;
		int snapped = 0;

		CHECK_C(c2 != NULL);
		CHECK_C(sd_vdi_create(c, "burst", size) == 0);
		bv = sd_vdi_open(c, "burst", 0, NULL);
		CHECK_C(bv != NULL);
		/* 2000 writes into 2048 slots, none reused: no overlapping writes */
		while (bv && c2 && bimg && brd && sent < 2000 && !bs.errors) {
			struct pollfd pfd = { .fd = sd_cluster_fd(c), .events = POLLIN };

			while (bs.pending < 32 && sent < 2000) {
				unsigned slot = (unsigned)((k++ * 2654435761u) % (size / 8192));

				if (busy[slot])
					continue;
				busy[slot] = 1;
				fill(bimg + (size_t)slot * 8192, 8192, (unsigned)k);
				if (sd_vdi_aio_write(bv, bimg + (size_t)slot * 8192, 8192,
						     (uint64_t)slot * 8192, 0, aio_cb, &bs))
					bs.errors++;
				else
					bs.pending++;
				sent++;
			}
			if (sent >= 1000 && !snapped) {
				CHECK_C(sd_vdi_snapshot(c2, "burst", "mid") == 0);
				snapped = 1;
			}
			poll(&pfd, 1, 100);
			sd_cluster_service(c);
		}
		aio_wait(&bs);
		CHECK_C(snapped && bs.pending == 0 && bs.errors == 0);
		if (bv) {
			CHECK_C(sd_vdi_read(bv, brd, size, 0) == 0);
			CHECK_C(!memcmp(brd, bimg, size));
			CHECK_C(sd_vdi_close(bv) == 0);
		}
		/* and what a fresh open (the server's inode) says */
		bv = sd_vdi_open(c, "burst", 0, NULL);
		CHECK_C(bv != NULL);
		if (bv) {
			CHECK_C(sd_vdi_read(bv, brd, size, 0) == 0);
			CHECK_C(!memcmp(brd, bimg, size));
			CHECK_C(sd_vdi_close(bv) == 0);
		}
		if (c2)
			CHECK_C(sd_disconnect(c2) == 0);
		free(bimg);
		free(brd);
	}

	/* snapshot while open, then write: the handle follows (COW) */
	snapimg = malloc(size);
	memcpy(snapimg, img, size);
	CHECK_C(sd_vdi_snapshot(c, "lt", "s1") == 0);
	CHECK_C(sd_vdi_snapshot(c, "lt", "s1") == -EEXIST);
	fill(buf, 3000, 9);
	CHECK_C(sd_vdi_write(v, buf, 3000, obj - 1500) == 0);
	memcpy(img + obj - 1500, buf, 3000);
	CHECK_C(sd_vdi_id(v) != vid0);
	CHECK_C(sd_vdi_read(v, rd, size, 0) == 0);
	CHECK_C(!memcmp(rd, img, size));
	snap = sd_vdi_open(c, "lt", 0, "s1");
	CHECK_C(snap != NULL);
	if (snap) {
		CHECK_C(sd_vdi_is_readonly(snap));
		CHECK_C(sd_vdi_id(snap) == vid0);
		CHECK_C(sd_vdi_read(snap, rd, size, 0) == 0);
		CHECK_C(!memcmp(rd, snapimg, size));
		CHECK_C(sd_vdi_write(snap, buf, 10, 0) == -EROFS);
		CHECK_C(sd_vdi_close(snap) == 0);
	}

	/* clone the snapshot, write the clone, parent untouched */
	CHECK_C(sd_vdi_clone(c, "lt", 0, "s1", "lt-clone") == 0);
	cl = sd_vdi_open(c, "lt-clone", 0, NULL);
	CHECK_C(cl != NULL);
	if (cl) {
		CHECK_C(sd_vdi_read(cl, rd, size, 0) == 0);
		CHECK_C(!memcmp(rd, snapimg, size));
		fill(buf, 5000, 11);
		CHECK_C(sd_vdi_write(cl, buf, 5000, 2 * obj - 100) == 0);
		CHECK_C(sd_vdi_read(cl, rd, 5000, 2 * obj - 100) == 0);
		CHECK_C(!memcmp(rd, buf, 5000));
		CHECK_C(sd_vdi_close(cl) == 0);
	}
	snap = sd_vdi_open(c, "lt", 1, NULL);
	CHECK_C(snap != NULL);
	if (snap) {
		CHECK_C(sd_vdi_read(snap, rd, size, 0) == 0);
		CHECK_C(!memcmp(rd, snapimg, size));
		CHECK_C(sd_vdi_close(snap) == 0);
	}

	/* discard: a whole object and a partial range */
	CHECK_C(sd_vdi_discard(v, obj, obj) == 0);
	memset(img + obj, 0, obj);
	CHECK_C(sd_vdi_discard(v, 100, 10) == 0);
	memset(img + 10, 0, 100);
	CHECK_C(sd_vdi_read(v, rd, size, 0) == 0);
	CHECK_C(!memcmp(rd, img, size));
	CHECK_C(sd_vdi_read(v, rd, 10, size - 10) == 0);
	CHECK_C(sd_vdi_read(v, rd, 0, size) == 0);
	CHECK_C(sd_vdi_read(v, rd, 11, size - 10) == -EINVAL);

	CHECK_C(sd_vdi_close(v) == 0);
	n = sd_vdi_list(c, &info);
	CHECK_C(n >= 3);
	CHECK_C(find_vdi(info, n, "lt", 1, "s1") >= 0);
	CHECK_C(find_vdi(info, n, "lt-clone", 0, NULL) >= 0);
	free(info);

	/* resize, delete */
	CHECK_C(sd_vdi_resize(c, "lt", size * 2) == 0);
	CHECK_C(sd_vdi_resize(c, "lt", size) == -EINVAL);
	v = sd_vdi_open(c, "lt", 0, NULL);
	CHECK_C(v && sd_vdi_size(v) == size * 2);
	if (v)
		CHECK_C(sd_vdi_close(v) == 0);
	CHECK_C(sd_vdi_delete(c, "lt-clone", NULL) == 0);
	CHECK_C(sd_vdi_open(c, "lt-clone", 0, NULL) == NULL && errno == ENOENT);
	CHECK_C(sd_vdi_delete(c, "nosuch", NULL) == -ENOENT);
	/* deleting the snapshot leaves the working vdi's data alone */
	CHECK_C(sd_vdi_delete(c, "lt", "s1") == 0);
	v = sd_vdi_open(c, "lt", 0, NULL);
	CHECK_C(v != NULL);
	if (v) {
		CHECK_C(sd_vdi_read(v, rd, size, 0) == 0);
		CHECK_C(!memcmp(rd, img, size));
		CHECK_C(sd_vdi_close(v) == 0);
	}
	CHECK_C(sd_vdi_open(c, "lt", 0, "s1") == NULL && errno == ENOENT);
	/* options: 1 MiB objects, preallocated */
	{
		struct sd_vdi_create_opts co = { .struct_size = sizeof(co) };

		co.block_size_shift = 20;
		co.prealloc = 1;
		CHECK_C(sd_vdi_create_opts(c, "pre", 3 * MIB, &co) == 0);
		co.block_size_shift = 19;
		CHECK_C(sd_vdi_create_opts(c, "bad", 3 * MIB, &co) == -EINVAL);
		CHECK_C(sd_vdi_create(c, "huge", (uint64_t)4 << 40 << 1) == -EINVAL);
		v = sd_vdi_open(c, "pre", 0, NULL);
		CHECK_C(v != NULL);
		if (v) {
			CHECK_C(sd_vdi_object_size(v) == MIB);
			CHECK_C(sd_vdi_read(v, rd, 3 * MIB, 0) == 0);
			for (i = 0; i < (int)(3 * MIB) && !rd[i]; i++)
				;
			CHECK_C(i == (int)(3 * MIB));
			fill(buf, 3000, 21);
			CHECK_C(sd_vdi_write(v, buf, 3000, MIB - 1500) == 0);
			CHECK_C(sd_vdi_read(v, rd, 3000, MIB - 1500) == 0);
			CHECK_C(!memcmp(rd, buf, 3000));
			CHECK_C(sd_vdi_close(v) == 0);
		}
	}
	CHECK_C(sd_disconnect(c) == 0);
	c = NULL;
	free(img);
	free(rd);
	free(snapimg);
	free(buf);
	printf("%s\n", g_check_failed ? "FAILED" : "OK");
	return g_check_failed ? 1 : 0;
}
