// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libsheepdog and the caller's event loop, against the fake sheep
 * (tests/unit/sdl_fake.c): errors and a read-only open, an unreachable
 * sheep, the callback contract (no sync call from a callback; I/O a
 * callback starts goes out in the same round), a bounded open, and the
 * close that never waits (sd_vdi_aio_close).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdl_check.h"
#include "sdl_env.h"

int g_check_failed;

static void test_errors_and_readonly_open(void)
{
	struct env e;
	struct rec r = { 0 };
	char buf[16];
	struct fake_req *q;
	struct sd_vdi *snap;

	env_open(&e, 2 * OBJ);
	e.f.auto_serve = 1;
	CHECK_EQ(sd_vdi_write(e.v, "x", 1, 0), 0);
	e.f.auto_serve = 0;
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, 16, 0, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	q = fake_find(&e.f, SD_OP_READ_OBJ, ALL);
	if (q)
		fake_reply(&e.f, q, SD_RES_NO_SPACE, NULL, 0);
	fake_pump(&e.f, e.c, 50);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, -ENOSPC);
	CHECK(strstr(sd_cluster_errmsg(e.c), "READ_OBJ") != NULL);
	/* a snapshot opened by id is read-only */
	fake_vdi_snapshot(&e.f, "v");
	e.f.auto_serve = 1;
	snap = sd_vdi_open(e.c, "v", 1, NULL);
	CHECK(snap != NULL);
	if (snap) {
		CHECK(sd_vdi_is_readonly(snap));
		CHECK_EQ(sd_vdi_aio_write(snap, buf, 1, 0, 0, rec_cb, &r), -EROFS);
		CHECK_EQ(sd_vdi_aio_discard(snap, 1, 0, rec_cb, &r), -EROFS);
		CHECK_EQ(sd_vdi_read(snap, buf, 1, 0), 0);
		CHECK_EQ(buf[0], 'x');
		CHECK_EQ(sd_vdi_close(snap), 0);
	}
	CHECK(sd_vdi_open(e.c, "nope", 0, NULL) == NULL && errno == ENOENT);
	/* hyper volumes (B-tree index) are refused, and the lock is released */
	{
		uint32_t hv = fake_vdi_create(&e.f, "hyper", OBJ, 0);
		int rel = e.f.nr_releases;

		((struct sd_inode_header *)fake_obj(&e.f, sd_vid_to_vdi_oid(hv))->data)
			->store_policy = SD_STORE_POLICY_BTREE;
		CHECK(sd_vdi_open(e.c, "hyper", 0, NULL) == NULL && errno == ENOTSUP);
		CHECK_EQ(e.f.nr_releases, rel + 1);
	}
	/* NO_OBJ on the inode (a snapshot in progress) is retried, bounded */
	e.f.noobj_inode_reads = 3;
	snap = sd_vdi_open(e.c, "v", 0, NULL);
	CHECK(snap != NULL);
	CHECK_EQ(e.f.noobj_inode_reads, 0);
	if (snap)
		CHECK_EQ(sd_vdi_close(snap), 0);
	e.f.noobj_inode_reads = 1000;
	CHECK(sd_vdi_open(e.c, "v", 0, NULL) == NULL && errno == ENOENT);
	e.f.noobj_inode_reads = 0;
	CHECK_EQ(sd_disconnect(e.c), -EBUSY);
	env_close(&e);
}

/* The cluster goes away: requests fail after the retry window, close is quick. */
static void test_unreachable(void)
{
	struct sd_cluster_opts o;
	struct env e;
	struct rec r = { 0 };
	char buf[16];
	uint64_t t0;
	int i;

	sd_cluster_opts_init(&o);
	o.retry_timeout_ms = 400;
	if (env_open_opts(&e, &o))
		return;
	e.f.refuse = 1;
	fake_kill_all(&e.f);
	t0 = sdl_now_ms();
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, sizeof(buf), 0, rec_cb, &r)), 0);
	for (i = 0; i < 500 && !r.calls; i++)
		fake_pump(&e.f, e.c, 10);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, -ENOTCONN);
	CHECK(sdl_now_ms() - t0 >= 350);
	CHECK_EQ(r.in_submit, 0);
	t0 = sdl_now_ms();
	CHECK_EQ(sd_vdi_close(e.v), 0);
	e.v = NULL;
	CHECK(sdl_now_ms() - t0 < 300);
	e.f.refuse = 0;
	env_close(&e);
}

/* sd_aio_run_sdreq's callback: a struct rec. */
static void sdreq_rec_cb(struct sd_cluster *c, int ret, void *opaque)
{
	(void)c;
	rec_cb(NULL, ret, opaque);
}

/*
 * The path to the sheep loses everything (a blackhole: connections are
 * accepted and stay open, nothing is answered, not even the HELLO).  A
 * connection whose HELLO is out counts as up but takes no request, and
 * with two connections lost at different times one of them is always in
 * that state.  Requests submitted then must still fail within the io
 * timeout (a HELLO's) plus the retry window, as they do when nothing
 * connects, and not wait for as long as the path is gone.
 */
static void test_blackhole_hello(void)
{
	struct sd_cluster_opts o;
	struct env e;
	struct rec r = { 0 }, rq = { 0 };
	struct sd_req hdr;
	char buf[16];
	uint64_t t0, ms;
	int i, k, seen;

	sd_cluster_opts_init(&o);
	o.nr_connections = 3;
	o.io_timeout_ms = 300;
	o.retry_timeout_ms = 400;
	if (env_open_opts(&e, &o))
		return;
	e.f.auto_serve = 1;
	for (i = 0; i < 100 && e.f.nr_connects < 3; i++)
		fake_pump(&e.f, e.c, 5);
	CHECK_EQ(e.f.nr_connects, 3);
	e.f.auto_serve = 0;
	e.f.blackhole = 1;
	seen = e.f.nr_seen;
	/* each connection is lost and replaced at once, 100 ms apart, so
	 * their HELLOs time out (and are sent again) at different times */
	for (k = 0; k < 3; k++) {
		fake_kill_conn(&e.f, k);
		for (i = 0; i < 100 && e.f.nr_connects < 4 + k; i++)
			fake_pump(&e.f, e.c, 5);
		CHECK_EQ(e.f.nr_connects, 4 + k);
		t0 = sdl_now_ms();
		while (k < 2 && sdl_now_ms() - t0 < 100)
			fake_pump(&e.f, e.c, 10);
	}
	CHECK(sdl_engine_up(&e.c->e));
	t0 = sdl_now_ms();
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, sizeof(buf), 0, rec_cb, &r)), 0);
	/* a raw request (bs_sheepdog's reservation lookups) is held the same */
	memset(&hdr, 0, sizeof(hdr));
	hdr.opcode = SD_OP_GET_CLUSTER_DEFAULT;
	CHECK_EQ(sd_aio_run_sdreq(e.c, &hdr, NULL, sdreq_rec_cb, &rq), 0);
	/* timeout + retry = 700 ms; 3 s stands for "as long as the path is gone" */
	for (i = 0; i < 3000 && !(r.calls && rq.calls); i++)
		pump_on_events(&e, r.calls ? &rq : &r, 1);
	ms = sdl_now_ms() - t0;
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(rq.calls, 1);
	CHECK(r.ret == -ENOTCONN || r.ret == -ETIMEDOUT);
	CHECK(rq.ret == -ENOTCONN || rq.ret == -ETIMEDOUT);
	/* the whole retry window, and not much more than timeout + retry */
	CHECK(ms >= 400);
	CHECK(ms < 1200);
	CHECK_EQ(e.f.nr_seen, seen);
	/* the path returns: the next HELLOs are answered and I/O works again
	 * (a read may still fail while every connection is in its reconnect
	 * backoff, longer than this retry window) */
	e.f.blackhole = 0;
	e.f.auto_serve = 1;
	t0 = sdl_now_ms();
	while (sd_vdi_read(e.v, buf, sizeof(buf), 0) && sdl_now_ms() - t0 < 5000)
		;
	CHECK(sdl_now_ms() - t0 < 5000);
	env_close(&e);
}

/*
 * An idle handle (nothing due: no timer armed) and requests submitted from
 * the application's loop, outside any service round, that the sheep never
 * answers over a connection that stays open (a path that drops
 * everything).  Only a timer can notice: the io timeout must fire for
 * them, the connection be replaced and the requests resent.  The loop is
 * tgtd's: the library is serviced only when its fd is readable.  (This
 * hung bs_sheepdog's reservation lookups for good after a long
 * blackhole: their handle has no other traffic.)
 */
static void test_idle_submit_deadline(void)
{
	struct sd_cluster_opts o;
	struct env e;
	struct rec r = { 0 }, rq = { 0 };
	struct sd_req hdr;
	char buf[16];
	uint64_t t0, ms;
	int i, connects;

	sd_cluster_opts_init(&o);
	o.nr_connections = 1;
	o.io_timeout_ms = 300;
	o.retry_timeout_ms = 2000;
	if (env_open_opts(&e, &o))
		return;
	/* idle: nothing is due (a timer armed for the open's requests has
	 * fired and found nothing) */
	t0 = sdl_now_ms();
	while (sdl_now_ms() - t0 < 500) {
		struct rec none = { 0 };

		pump_on_events(&e, &none, 10);
	}
	CHECK_EQ(e.c->e.timer_at_ms, 0);
	connects = e.f.nr_connects;
	t0 = sdl_now_ms();
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, sizeof(buf), 0, rec_cb, &r)), 0);
	memset(&hdr, 0, sizeof(hdr));
	hdr.opcode = SD_OP_GET_CLUSTER_DEFAULT;
	CHECK_EQ(sd_aio_run_sdreq(e.c, &hdr, NULL, sdreq_rec_cb, &rq), 0);
	/* the fake holds both; after the timeout they come again on a new
	 * connection, and are answered there */
	for (i = 0; i < 3000 && !(r.calls && rq.calls); i++) {
		pump_on_events(&e, r.calls ? &rq : &r, 1);
		if (e.f.nr_connects > connects)
			fake_serve_all(&e.f);
	}
	ms = sdl_now_ms() - t0;
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(rq.calls, 1);
	CHECK_EQ(r.ret, 0);
	CHECK_EQ(rq.ret, 0);
	CHECK_EQ(e.f.nr_connects, connects + 1);
	CHECK(ms >= 300);
	CHECK(ms < 1500);
	env_close(&e);
}

/* What a completion callback saw when it tried the sync calls. */
struct reentry {
	struct env *e;
	int calls;
	int open_errno;
	int opened;
	int inflight_before, inflight_after;
	int create_msg_ok;
	int read_ret, write_ret, close_ret, create_ret, sdreq_ret, disconnect_ret, list_ret;
	int seen_before, seen_after;
	char msg[256];
};

static void reentry_cb(struct sd_vdi *v, int ret, void *opaque)
{
	struct reentry *r = opaque;
	struct sd_vdi_info *info = NULL;
	struct sd_req hdr;
	struct sd_vdi *v2;
	char buf[512];

	r->calls++;
	r->seen_before = r->e->f.nr_seen;
	errno = 0;
	v2 = sd_vdi_open(r->e->c, "v", 0, NULL);
	r->open_errno = errno;
	r->opened = v2 != NULL;
	snprintf(r->msg, sizeof(r->msg), "%s", sd_cluster_errmsg(r->e->c));
	r->inflight_before = r->e->c->e.nr_inflight + (int)sdl_list_empty(&r->e->c->e.pending);
	r->read_ret = sd_vdi_read(v, buf, sizeof(buf), 0);
	r->write_ret = sd_vdi_write(v, buf, sizeof(buf), 0);
	r->inflight_after = r->e->c->e.nr_inflight + (int)sdl_list_empty(&r->e->c->e.pending);
	r->close_ret = sd_vdi_close(v);
	r->create_ret = sd_vdi_create(r->e->c, "other", OBJ);
	r->create_msg_ok = strstr(sd_cluster_errmsg(r->e->c), "sd_vdi_create") != NULL;
	memset(&hdr, 0, sizeof(hdr));
	hdr.opcode = SD_OP_GET_CLUSTER_DEFAULT;
	r->sdreq_ret = sd_run_sdreq(r->e->c, &hdr, NULL);
	r->list_ret = sd_vdi_list(r->e->c, &info);
	free(info);
	r->disconnect_ret = sd_disconnect(r->e->c);
	r->seen_after = r->e->f.nr_seen;
}

/*
 * A sync call from a completion callback fails with -EDEADLK, sends
 * nothing and leaves a message saying why; the handle keeps working.
 */
static void test_sync_from_callback(void)
{
	struct env e;
	struct reentry r;
	char buf[512];
	int i;

	env_open(&e, 4 * OBJ);
	memset(&r, 0, sizeof(r));
	r.e = &e;
	e.f.auto_serve = 1;
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, sizeof(buf), 0, reentry_cb, &r)), 0);
	for (i = 0; i < 40 && !r.calls; i++)
		fake_pump(&e.f, e.c, 50);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.opened, 0);
	CHECK_EQ(r.open_errno, EDEADLK);
	CHECK(strstr(r.msg, "sd_vdi_open") != NULL);
	CHECK(strstr(r.msg, "completion callback") != NULL);
	CHECK_EQ(r.read_ret, -EDEADLK);
	CHECK_EQ(r.write_ret, -EDEADLK);
	CHECK_EQ(r.inflight_after, r.inflight_before);
	CHECK_EQ(r.close_ret, -EDEADLK);
	CHECK_EQ(r.create_ret, -EDEADLK);
	CHECK(r.create_msg_ok);
	CHECK_EQ(r.sdreq_ret, -EDEADLK);
	CHECK_EQ(r.list_ret, -EDEADLK);
	CHECK_EQ(r.disconnect_ret, -EDEADLK);
	CHECK_EQ(r.seen_after, r.seen_before);
	/* outside a callback the same calls work again */
	CHECK_EQ(sd_vdi_read(e.v, buf, sizeof(buf), 0), 0);
	env_close(&e);
}

struct chain {
	struct rec first, second;
};

static void chain_cb(struct sd_vdi *v, int ret, void *opaque)
{
	struct chain *ch = opaque;

	rec_cb(v, ret, &ch->first);
	/* the index changed (a new object): the flush reloads the inode
	 * first, which needs the vdis kicked */
	CHECK_EQ(sd_vdi_aio_flush(v, rec_cb, &ch->second), 0);
}

/*
 * I/O that a completion callback starts goes out in the same service
 * round, also when it needs the vdis kicked, on a loop that services the
 * handle only when its fd is readable: nothing else may ever wake it.
 */
static void test_kick_from_callback(void)
{
	struct env e;
	struct chain ch;
	char buf[512];

	env_open(&e, 4 * OBJ);
	memset(&ch, 0, sizeof(ch));
	memset(buf, 7, sizeof(buf));
	e.f.auto_serve = 1;
	CHECK_EQ(SUBMIT(sd_vdi_aio_write(e.v, buf, sizeof(buf), OBJ, 0, chain_cb, &ch)), 0);
	pump_on_events(&e, &ch.first, 2000);
	CHECK_EQ(ch.first.calls, 1);
	CHECK_EQ(ch.first.ret, 0);
	/* well inside the io timeout (5 s), the engine's only timer */
	pump_on_events(&e, &ch.second, 1000);
	CHECK_EQ(ch.second.calls, 1);
	CHECK_EQ(ch.second.ret, 0);
	env_close(&e);
}

/*
 * sd_vdi_open runs on the application's loop: a sheep that never answers
 * the lock, or keeps answering NO_OBJ for the inode, holds it for one
 * connect timeout, not for the io timeout plus the retry window.
 */
static void test_open_bounded(void)
{
	struct sd_cluster_opts o;
	struct sd_cluster *c;
	struct sd_vdi *v;
	struct fake f;
	uint64_t t0;

	fake_init(&f, SHIFT);
	fake_vdi_create(&f, "v", 4 * OBJ, 0);
	sd_cluster_opts_init(&o);
	o.connect_timeout_ms = 300;
	o.io_timeout_ms = 5000;
	o.retry_timeout_ms = 5000;
	f.auto_serve = 1;
	c = fake_connect(&f, &o);
	CHECK(c != NULL);
	if (!c)
		return;
	/* the lock is never answered */
	f.auto_serve = 0;
	t0 = sdl_now_ms();
	errno = 0;
	v = sd_vdi_open(c, "v", 0, NULL);
	CHECK(v == NULL);
	CHECK_EQ(errno, ETIMEDOUT);
	CHECK(sdl_now_ms() - t0 >= 250);
	CHECK(sdl_now_ms() - t0 < 2000);
	CHECK_EQ(c->e.nr_inflight, 0);
	/* the inode stays NO_OBJ: retried, but within the same bound */
	while (fake_nr_held(&f))
		fake_drop(&f, fake_held(&f, 0));
	f.auto_serve = 1;
	f.noobj_inode_reads = 1000;
	t0 = sdl_now_ms();
	v = sd_vdi_open(c, "v", 0, NULL);
	CHECK(v == NULL);
	CHECK_EQ(errno, ETIMEDOUT);
	/* 40 sleeps of 50 ms (2 s) before */
	CHECK(sdl_now_ms() - t0 < 1500);
	f.noobj_inode_reads = 0;
	v = sd_vdi_open(c, "v", 0, NULL);
	CHECK(v != NULL);
	if (v)
		CHECK_EQ(sd_vdi_close(v), 0);
	CHECK_EQ(sd_disconnect(c), 0);
	fake_fini(&f);
	CHECK_EQ(sdl_alloc_live(), 0);
}

/*
 * sd_vdi_aio_close never waits: a request in flight keeps the handle until
 * it completes (its callback dropped), then the lock is released and the
 * close's callback runs with vdi NULL.  With the sheep gone, it completes
 * without a release and without waiting for the retry window.
 */
static void test_aio_close(void)
{
	struct sd_cluster_opts o;
	struct rec r = { 0 }, rc = { 0 }, late = { 0 };
	struct fake_req *q;
	struct env e;
	char buf[16] = { 0 }; /* also the fake's reply payload: valgrind */
	uint64_t t0;
	int rel;

	env_open(&e, 2 * OBJ);
	e.f.auto_serve = 1;
	CHECK_EQ(sd_vdi_write(e.v, "x", 1, 0), 0);
	e.f.auto_serve = 0;
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, sizeof(buf), 0, rec_cb, &r)), 0);
	fake_pump(&e.f, e.c, 50);
	q = fake_find(&e.f, SD_OP_READ_OBJ, ALL);
	CHECK(q != NULL);
	if (!q)
		return;
	rel = e.f.nr_releases;
	CHECK_EQ(sd_vdi_aio_close(e.v, rec_cb, &rc), 0);
	CHECK_EQ(sd_vdi_aio_close(e.v, rec_cb, &rc), -EBUSY);
	CHECK_EQ(SUBMIT(sd_vdi_aio_read(e.v, buf, sizeof(buf), 0, rec_cb, &late)), -EBADF);
	CHECK_EQ(sd_vdi_close(e.v), -EBUSY);
	CHECK_EQ(sd_disconnect(e.c), -EBUSY);
	/* the read is still held: nothing is released yet */
	pump_on_events(&e, &rc, 200);
	CHECK_EQ(rc.calls, 0);
	CHECK_EQ(e.f.nr_releases, rel);
	e.f.auto_serve = 1;
	fake_reply(&e.f, q, SD_RES_SUCCESS, buf, sizeof(buf));
	pump_on_events(&e, &rc, 2000);
	CHECK_EQ(rc.calls, 1);
	CHECK_EQ(rc.ret, 0);
	CHECK_EQ(rc.in_submit, 0);
	CHECK_EQ(r.calls, 0);
	CHECK_EQ(late.calls, 0);
	CHECK_EQ(e.f.nr_releases, rel + 1);
	e.v = NULL;
	env_close(&e);

	/* the sheep is gone: no release, no retry window */
	memset(&rc, 0, sizeof(rc));
	sd_cluster_opts_init(&o);
	o.retry_timeout_ms = 5000;
	if (env_open_opts(&e, &o))
		return;
	e.f.refuse = 1;
	fake_kill_all(&e.f);
	fake_pump(&e.f, e.c, 50);
	rel = e.f.nr_releases;
	t0 = sdl_now_ms();
	CHECK_EQ(sd_vdi_aio_close(e.v, rec_cb, &rc), 0);
	pump_on_events(&e, &rc, 3000);
	CHECK_EQ(rc.calls, 1);
	CHECK(sdl_now_ms() - t0 < 1000);
	CHECK_EQ(e.f.nr_releases, rel);
	e.v = NULL;
	e.f.refuse = 0;
	env_close(&e);
}

int main(void)
{
	int passed = 0, failed = 0;

	RUN_TEST(test_errors_and_readonly_open, passed, failed);
	RUN_TEST(test_unreachable, passed, failed);
	RUN_TEST(test_blackhole_hello, passed, failed);
	RUN_TEST(test_idle_submit_deadline, passed, failed);
	RUN_TEST(test_sync_from_callback, passed, failed);
	RUN_TEST(test_kick_from_callback, passed, failed);
	RUN_TEST(test_open_bounded, passed, failed);
	RUN_TEST(test_aio_close, passed, failed);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
