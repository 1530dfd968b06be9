// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target: libsheepdog's reply decoding, the path from bytes a sheep
 * sends to a completed request: the engine's framing (header, id match,
 * payload kept or skipped), then each request kind's own checks (reads,
 * writes across objects, copy-on-write creates, flush, discard,
 * compare-and-write, the inode refresh).  A vdi is opened on the fake sheep
 * of the unit tests (tests/unit/sdl_fake.c); the first input byte chooses
 * which asynchronous requests are submitted; then the input is a list of
 * records, each [which held request, 48-byte reply header, payload], sent
 * raw on the connection that request went out on (the id is patched to the
 * request's own so records reach the per-kind decoders; index 255 keeps
 * the input's id, any id).  The reply header's data_length is the input's:
 * a lying length desynchronises the stream as a hostile sheep would.
 * Finally every connection is cut, the fake serves the re-sent requests
 * correctly, and every request must complete exactly once with nothing
 * leaked (sdl_alloc_live()).
 */
#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sdl_alloc.h"
#include "sdl_fake.h"

#define SHIFT	 20
#define OBJ	 (1u << SHIFT)
#define NR_KINDS 7
#define BUF	 8192
#define MAX_RECS 64
#define GUARD	 (128u * 1024) /* after each read buffer: must stay untouched */

int g_check_failed; /* sdl_fake.c's CHECKs */

struct done {
	int calls;
	int ret;
};

static void done_cb(struct sd_vdi *v, int ret, void *opaque)
{
	struct done *d = opaque;

	d->calls++;
	d->ret = ret;
}

/*
 * Move bytes both ways and service the library until nothing moves, without
 * sleeping: the socketpairs deliver at once (fake_pump() waits for quiet,
 * which costs milliseconds per call: too slow for a fuzzer).
 */
static void pump_fast(struct fake *f, struct sd_cluster *c)
{
	int i;

	for (i = 0; i < 64; i++) {
		struct pollfd pfd = { .fd = sd_cluster_fd(c), .events = POLLIN };

		sd_cluster_service(c);
		if (!fake_io(f) && poll(&pfd, 1, 0) <= 0)
			break;
	}
}

static int pending(int submitted, const struct done *d)
{
	int k;

	for (k = 0; k < NR_KINDS; k++)
		if ((submitted & (1 << k)) && !d[k].calls)
			return 1;
	return 0;
}

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_lib_reply: %s\n", what);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *rbuf[2], wbuf[BUF];
	static const size_t rlen[2] = { 4096, BUF };
	struct fuzz_in in = { data, size };
	struct sd_cluster_opts o;
	struct done d[NR_KINDS];
	struct sd_cluster *c;
	struct sd_vdi *v;
	struct fake f;
	uint64_t miscompare = 0;
	uint32_t vid;
	uint8_t mask;
	int i, recs, submitted = 0;

	memset(&f, 0, sizeof(f));
	memset(d, 0, sizeof(d));
	for (i = 0; i < 2; i++) {
		if (!rbuf[i])
			rbuf[i] = malloc(BUF + GUARD);
		if (!rbuf[i])
			fail("out of memory");
		memset(rbuf[i], 0xa5, BUF + GUARD);
	}
	sd_cluster_opts_init(&o);
	/* short: a reply that never comes must not stall the fuzzer */
	o.io_timeout_ms = 200;
	o.retry_timeout_ms = 200;
	o.nr_connections = 1;
	fake_init(&f, SHIFT);
	vid = fake_vdi_create(&f, "v", 8 * (uint64_t)OBJ, 0);
	/* object 0 exists: reads of it go to the sheep (holes are read locally) */
	fake_obj_create(&f, sd_vid_to_data_oid(vid, 0), OBJ);
	fake_index(&f, vid)[0] = vid;
	f.auto_serve = 1;
	c = fake_connect(&f, &o);
	if (!c)
		fail("connect");
	v = sd_vdi_open(c, "v", 0, NULL);
	if (!v)
		fail("open");
	f.auto_serve = 0;
	memset(wbuf, 0x5a, sizeof(wbuf));

	mask = fuzz_u8(&in);
	for (i = 0; i < NR_KINDS; i++) {
		int r = 0;

		if (!(mask & (1u << i)))
			continue;
		switch (i) {
		case 0: r = sd_vdi_aio_read(v, rbuf[0], rlen[0], 8192, done_cb, &d[i]); break;
		case 1:
			r = sd_vdi_aio_read(v, rbuf[1], rlen[1], OBJ - BUF / 2, done_cb, &d[i]);
			break;
		case 2:
			r = sd_vdi_aio_write(v, wbuf, BUF, 3 * (uint64_t)OBJ - 100, 0, done_cb,
					     &d[i]);
			break;
		case 3: r = sd_vdi_aio_flush(v, done_cb, &d[i]); break;
		case 4: r = sd_vdi_aio_discard(v, OBJ, 4 * (uint64_t)OBJ, done_cb, &d[i]); break;
		case 5:
			r = sd_vdi_aio_cmp_write(v, wbuf, 1024, 512, 0, &miscompare, done_cb,
						 &d[i]);
			break;
		case 6: r = sd_vdi_aio_refresh(v, done_cb, &d[i]); break;
		}
		if (r == 0)
			submitted |= 1 << i;
	}
	pump_fast(&f, c);

	for (recs = 0; recs < MAX_RECS && in.left >= 1 + SD_RSP_SIZE; recs++) {
		struct fake_req *q;
		struct sd_rsp rsp;
		uint8_t which = fuzz_u8(&in);
		size_t plen;
		int conn = 0;

		fuzz_take(&in, &rsp, SD_RSP_SIZE);
		q = which < 255 && fake_nr_held(&f) ? fake_held(&f, which % fake_nr_held(&f))
						    : NULL;
		if (q) {
			rsp.id = q->hdr.id;
			conn = q->conn;
			fake_drop(&f, q);
		}
		plen = rsp.data_length < in.left ? rsp.data_length : in.left;
		fake_send_raw(&f, conn, &rsp, SD_RSP_SIZE);
		fake_send_raw(&f, conn, in.p, plen);
		in.p += plen;
		in.left -= plen;
		pump_fast(&f, c);
	}

	/*
	 * Answer what is held; if that is not enough (a lying length left the
	 * library waiting for payload), cut every connection: the library
	 * re-sends and the fake answers right.  Bounded by the retry delays
	 * and timeouts (200 ms) and the library's own reload retries (2 s).
	 */
	f.auto_serve = 1;
	fake_serve_all(&f);
	pump_fast(&f, c);
	if (pending(submitted, d))
		fake_kill_all(&f);
	for (i = 0; i < 5000 && pending(submitted, d); i++) {
		pump_fast(&f, c);
		fake_serve_all(&f);
		pump_fast(&f, c);
		if (pending(submitted, d))
			poll(NULL, 0, 1);
	}
	for (i = 0; i < NR_KINDS; i++) {
		if ((submitted & (1 << i)) && d[i].calls != 1)
			fprintf(stderr, "request kind %d: %d calls\n", i, d[i].calls),
				fail("a request did not complete exactly once");
		if (!(submitted & (1 << i)) && d[i].calls)
			fail("a callback ran for a request whose submit failed");
	}
	/* no reply, however long, is written beyond the caller's buffer */
	for (i = 0; i < 2; i++) {
		size_t k;

		for (k = rlen[i]; k < BUF + GUARD; k++)
			if ((unsigned char)rbuf[i][k] != 0xa5)
				fprintf(stderr, "read buffer %d: byte %zu written\n", i, k),
					fail("a reply overflowed a read buffer");
	}
	if (sd_vdi_close(v) || sd_disconnect(c))
		fail("close");
	fake_fini(&f);
	if (sdl_alloc_live() != 0)
		fail("the library leaked");
	if (g_check_failed)
		fail("the fake sheep's checks failed");
	return 0;
}
