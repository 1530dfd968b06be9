// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libsheepdog request engine against the fake sheep: pipelining and id
 * matching, request timeouts, reconnect with resend, failure after the
 * retry window, retryable results, cancellation, connect errors, and
 * failover between the addresses of a list.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sdl_check.h"
#include "sdl_fake.h"

int g_check_failed;

#define ALL (~UINT64_C(0))

struct rreq {
	struct sdl_req req;
	int calls;
	int ret;
	char buf[64];
};

static void rreq_done(struct sdl_req *req, int ret)
{
	struct rreq *r = sdl_container_of(req, struct rreq, req);

	r->calls++;
	r->ret = ret;
}

static void rreq_init(struct rreq *r, uint64_t oid)
{
	memset(r, 0, sizeof(*r));
	sdl_init_hdr(&r->req.hdr, SD_OP_READ_OBJ, 0, sizeof(r->buf));
	r->req.hdr.obj.oid = oid;
	r->req.rbuf = r->buf;
	r->req.rlen = sizeof(r->buf);
	r->req.done = rreq_done;
}

static struct sd_cluster *connect_opts(struct fake *f, unsigned nconn, unsigned io_ms,
				       unsigned retry_ms)
{
	struct sd_cluster_opts o;

	sd_cluster_opts_init(&o);
	o.nr_connections = nconn;
	o.io_timeout_ms = io_ms;
	o.retry_timeout_ms = retry_ms;
	o.connect_timeout_ms = 500;
	return fake_connect(f, &o);
}

static void pump_until(struct fake *f, struct sd_cluster *c, const int *flag, int ms)
{
	uint64_t end = sdl_now_ms() + (uint64_t)ms;

	while (!*flag && sdl_now_ms() < end)
		fake_pump(f, c, 20);
}

static void dbg_log(int level, const char *msg, void *opaque)
{
	if (getenv("SDL_DEBUG"))
		fprintf(stderr, "lib: %s\n", msg);
}

static void wait_held(struct fake *f, struct sd_cluster *c, int n, int ms)
{
	uint64_t end = sdl_now_ms() + (uint64_t)ms;

	while (fake_nr_held(f) < n && sdl_now_ms() < end)
		fake_pump(f, c, 20);
}

static void test_pipelining(void)
{
	struct fake f;
	struct sd_cluster *c;
	struct rreq r[6];
	struct fake_obj *o;
	int i, conn_used[FAKE_MAX_CONNS] = { 0 }, nconn = 0;

	fake_init(&f, 20);
	for (i = 0; i < 6; i++) {
		o = fake_obj_create(&f, 100 + i, 64);
		memset(o->data, 'A' + i, 64);
	}
	c = connect_opts(&f, 2, 5000, 5000);
	CHECK(c != NULL);
	if (!c)
		return;
	for (i = 0; i < 6; i++) {
		rreq_init(&r[i], 100 + i);
		sdl_req_submit(&c->e, &r[i].req);
		CHECK_EQ(r[i].calls, 0);
	}
	fake_pump(&f, c, 50);
	CHECK_EQ(fake_nr_held(&f), 6);
	for (i = 0; i < 6; i++) {
		struct fake_req *q = fake_held(&f, i);
		int j;

		for (j = i + 1; j < 6; j++)
			CHECK(q->hdr.id != fake_held(&f, j)->hdr.id);
		if (!conn_used[q->conn]++)
			nconn++;
	}
	CHECK_EQ(nconn, 2); /* spread over the pool, several per connection */
	/* answer newest first: replies are matched by id */
	CHECK_EQ(fake_serve_all(&f), 6);
	fake_pump(&f, c, 50);
	for (i = 0; i < 6; i++) {
		CHECK_EQ(r[i].calls, 1);
		CHECK_EQ(r[i].ret, 0);
		CHECK_EQ(r[i].req.rsp.result, SD_RES_SUCCESS);
		CHECK_EQ(r[i].buf[0], 'A' + i);
		CHECK_EQ(r[i].buf[63], 'A' + i);
	}
	CHECK_EQ(sd_disconnect(c), 0);
	fake_fini(&f);
	CHECK_EQ(sdl_alloc_live(), 0);
}

static void test_max_inflight(void)
{
	struct sd_cluster_opts o;
	struct fake f;
	struct sd_cluster *c;
	struct rreq r[10];
	int i, rounds = 0, done = 0;

	fake_init(&f, 20);
	for (i = 0; i < 10; i++)
		memset(fake_obj_create(&f, 300 + i, 64)->data, '0' + i, 64);
	sd_cluster_opts_init(&o);
	o.nr_connections = 2;
	o.max_inflight = 3;
	c = fake_connect(&f, &o);
	CHECK(c != NULL);
	if (!c)
		return;
	for (i = 0; i < 10; i++) {
		rreq_init(&r[i], 300 + i);
		sdl_req_submit(&c->e, &r[i].req);
	}
	while (done < 10 && rounds++ < 50) {
		fake_pump(&f, c, 20);
		CHECK(fake_nr_held(&f) <= 3); /* the cap holds */
		fake_serve_all(&f);
		fake_pump(&f, c, 20);
		for (i = 0, done = 0; i < 10; i++)
			done += r[i].calls;
	}
	for (i = 0; i < 10; i++) {
		CHECK_EQ(r[i].calls, 1);
		CHECK_EQ(r[i].buf[0], '0' + i);
	}
	CHECK_EQ(f.nr_seen, 10);
	CHECK_EQ(sd_disconnect(c), 0);
	fake_fini(&f);
}

static void test_timeout(void)
{
	struct fake f;
	struct sd_cluster *c;
	struct rreq r;
	uint64_t t0;
	int connects;

	fake_init(&f, 20);
	c = connect_opts(&f, 1, 150, 700);
	CHECK(c != NULL);
	if (!c)
		return;
	connects = f.nr_connects;
	rreq_init(&r, 42);
	t0 = sdl_now_ms();
	sdl_req_submit(&c->e, &r.req);
	fake_pump(&f, c, 30);
	CHECK_EQ(fake_nr_held(&f), 1);
	/* never answered: the connection is declared dead and the request resent */
	pump_until(&f, c, &r.calls, 400);
	CHECK_EQ(r.calls, 0);
	CHECK(f.nr_connects > connects);
	CHECK(f.nr_seen >= 2); /* resent on the new connection */
	pump_until(&f, c, &r.calls, 5000);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, -ETIMEDOUT);
	CHECK(sdl_now_ms() - t0 >= 700);
	CHECK(sdl_now_ms() - t0 < 4000);
	fake_pump(&f, c, 20);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(sd_disconnect(c), 0);
	fake_fini(&f);
}

static void test_reconnect_resend(void)
{
	struct fake f;
	struct sd_cluster *c;
	struct rreq r[3];
	int i, connects;

	fake_init(&f, 20);
	for (i = 0; i < 3; i++)
		memset(fake_obj_create(&f, 200 + i, 64)->data, 'a' + i, 64);
	c = connect_opts(&f, 2, 5000, 5000);
	CHECK(c != NULL);
	if (!c)
		return;
	sd_set_log_cb(c, dbg_log, NULL);
	for (i = 0; i < 3; i++) {
		rreq_init(&r[i], 200 + i);
		sdl_req_submit(&c->e, &r[i].req);
	}
	fake_pump(&f, c, 50);
	CHECK_EQ(fake_nr_held(&f), 3);
	connects = f.nr_connects;
	fake_kill_all(&f); /* the server drops every connection */
	CHECK_EQ(fake_nr_held(&f), 0);
	wait_held(&f, c, 3, 1000);
	fake_pump(&f, c, 50);
	CHECK(f.nr_connects >= connects + 2);
	CHECK_EQ(fake_nr_held(&f), 3); /* all three resent */
	for (i = 0; i < 3; i++)
		CHECK_EQ(r[i].calls, 0);
	fake_serve_all(&f);
	fake_pump(&f, c, 50);
	for (i = 0; i < 3; i++) {
		CHECK_EQ(r[i].calls, 1);
		CHECK_EQ(r[i].ret, 0);
		CHECK_EQ(r[i].buf[5], 'a' + i);
	}
	/* a send error is handled the same way */
	rreq_init(&r[0], 200);
	f.fail_send = 1;
	sdl_req_submit(&c->e, &r[0].req);
	fake_pump(&f, c, 200);
	CHECK_EQ(fake_nr_held(&f), 1);
	fake_serve_all(&f);
	fake_pump(&f, c, 50);
	CHECK_EQ(r[0].calls, 1);
	CHECK_EQ(r[0].ret, 0);
	CHECK_EQ(sd_disconnect(c), 0);
	fake_fini(&f);
}

static void test_retry_window(void)
{
	struct fake f;
	struct sd_cluster *c;
	struct rreq r, r2;
	uint64_t t0;

	fake_init(&f, 20);
	c = connect_opts(&f, 2, 5000, 400);
	CHECK(c != NULL);
	if (!c)
		return;
	rreq_init(&r, 1);
	sdl_req_submit(&c->e, &r.req);
	fake_pump(&f, c, 30);
	CHECK_EQ(fake_nr_held(&f), 1);
	f.refuse = 1;
	fake_kill_all(&f);
	t0 = sdl_now_ms();
	/* queued while the cluster is unreachable: accepted, fails later */
	rreq_init(&r2, 2);
	sdl_req_submit(&c->e, &r2.req);
	pump_until(&f, c, &r.calls, 5000);
	pump_until(&f, c, &r2.calls, 5000);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, -ENOTCONN);
	CHECK_EQ(r2.calls, 1);
	CHECK_EQ(r2.ret, -ENOTCONN);
	CHECK(sdl_now_ms() - t0 >= 350);
	CHECK(sdl_now_ms() - t0 < 4000);
	/* the server comes back: the handle recovers by itself */
	f.refuse = 0;
	rreq_init(&r, 3);
	fake_obj_create(&f, 3, 64);
	sdl_req_submit(&c->e, &r.req);
	wait_held(&f, c, 1, 3000);
	fake_serve_all(&f);
	pump_until(&f, c, &r.calls, 500);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);
	CHECK_EQ(sd_disconnect(c), 0);
	fake_fini(&f);
}

static void test_retryable_result(void)
{
	struct fake f;
	struct sd_cluster *c;
	struct rreq r;
	struct fake_req *q;

	fake_init(&f, 20);
	memset(fake_obj_create(&f, 9, 64)->data, 'q', 64);
	c = connect_opts(&f, 1, 5000, 5000);
	CHECK(c != NULL);
	if (!c)
		return;
	rreq_init(&r, 9);
	sdl_req_submit(&c->e, &r.req);
	fake_pump(&f, c, 30);
	q = fake_find(&f, SD_OP_READ_OBJ, 9);
	CHECK(q != NULL);
	if (q)
		fake_reply(&f, q, SD_RES_HALT, NULL, 0);
	fake_pump(&f, c, 20);
	CHECK_EQ(r.calls, 0);
	CHECK_EQ(fake_nr_held(&f), 0);
	wait_held(&f, c, 1, 1000);
	CHECK_EQ(fake_nr_held(&f), 1); /* retried after a backoff */
	q = fake_find(&f, SD_OP_READ_OBJ, 9);
	if (q)
		fake_reply(&f, q, SD_RES_NETWORK_ERROR, NULL, 0);
	wait_held(&f, c, 1, 1000);
	fake_serve_all(&f);
	pump_until(&f, c, &r.calls, 500);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);
	CHECK_EQ(r.req.rsp.result, SD_RES_SUCCESS);
	CHECK_EQ(r.buf[0], 'q');
	CHECK_EQ(sd_disconnect(c), 0);
	fake_fini(&f);
}

static void test_cancel_and_sync(void)
{
	struct fake f;
	struct sd_cluster *c;
	struct rreq r;
	struct sd_req hdr;
	char buf[64];

	fake_init(&f, 20);
	memset(fake_obj_create(&f, 77, 64)->data, 's', 64);
	c = connect_opts(&f, 1, 5000, 5000);
	CHECK(c != NULL);
	if (!c)
		return;
	/* raw synchronous request */
	f.auto_serve = 1;
	sdl_init_hdr(&hdr, SD_OP_READ_OBJ, 0, sizeof(buf));
	hdr.obj.oid = 77;
	CHECK_EQ(sd_run_sdreq(c, &hdr, buf), SD_RES_SUCCESS);
	CHECK_EQ(((struct sd_rsp *)&hdr)->data_length, 64);
	CHECK_EQ(buf[10], 's');
	hdr.obj.oid = 78;
	hdr.opcode = SD_OP_READ_OBJ;
	hdr.data_length = sizeof(buf);
	CHECK_EQ(sd_run_sdreq(c, &hdr, buf), SD_RES_NO_OBJ);
	f.auto_serve = 0;
	/* disconnect cancels what is pending */
	rreq_init(&r, 77);
	sdl_req_submit(&c->e, &r.req);
	fake_pump(&f, c, 30);
	CHECK_EQ(sd_disconnect(c), 0);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, -ECANCELED);
	fake_fini(&f);
	CHECK_EQ(sdl_alloc_live(), 0);
}

/* sd_aio_run_sdreq: the callback runs once, from a service round, with
 * the sheep result and the reply header; disconnect cancels it. */
struct aio_sdreq {
	int calls, ret;
	struct sd_cluster *c;
};

static void aio_sdreq_cb(struct sd_cluster *c, int ret, void *opaque)
{
	struct aio_sdreq *a = opaque;

	a->calls++;
	a->ret = ret;
	a->c = c;
}

static void test_aio_sdreq(void)
{
	struct aio_sdreq a = { 0, 0, NULL };
	struct fake f;
	struct sd_cluster *c;
	struct sd_req hdr, hdr2;
	char buf[64];

	fake_init(&f, 20);
	memset(fake_obj_create(&f, 77, 64)->data, 'a', 64);
	c = connect_opts(&f, 1, 5000, 5000);
	CHECK(c != NULL);
	if (!c)
		return;
	f.auto_serve = 1;
	sdl_init_hdr(&hdr, SD_OP_READ_OBJ, 0, sizeof(buf));
	hdr.obj.oid = 77;
	CHECK_EQ(sd_aio_run_sdreq(c, &hdr, buf, aio_sdreq_cb, &a), 0);
	CHECK_EQ(a.calls, 0); /* never from inside the submit */
	pump_until(&f, c, &a.calls, 1000);
	CHECK_EQ(a.calls, 1);
	CHECK_EQ(a.ret, SD_RES_SUCCESS);
	CHECK(a.c == c);
	CHECK_EQ(((struct sd_rsp *)&hdr)->data_length, 64);
	CHECK_EQ(buf[5], 'a');
	a.calls = 0;
	sdl_init_hdr(&hdr, SD_OP_READ_OBJ, 0, sizeof(buf));
	hdr.obj.oid = 78;
	CHECK_EQ(sd_aio_run_sdreq(c, &hdr, buf, aio_sdreq_cb, &a), 0);
	pump_until(&f, c, &a.calls, 1000);
	CHECK_EQ(a.calls, 1);
	CHECK_EQ(a.ret, SD_RES_NO_OBJ);
	/* pending at disconnect: -ECANCELED, exactly once */
	f.auto_serve = 0;
	a.calls = 0;
	sdl_init_hdr(&hdr2, SD_OP_READ_OBJ, 0, sizeof(buf));
	hdr2.obj.oid = 77;
	CHECK_EQ(sd_aio_run_sdreq(c, &hdr2, buf, aio_sdreq_cb, &a), 0);
	fake_pump(&f, c, 30);
	CHECK_EQ(sd_disconnect(c), 0);
	CHECK_EQ(a.calls, 1);
	CHECK_EQ(a.ret, -ECANCELED);
	fake_fini(&f);
	CHECK_EQ(sdl_alloc_live(), 0);
}

static void test_connect_errors(void)
{
	struct fake f;
	struct sd_cluster *c;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	char addr[64];
	int fd;

	fake_init(&f, 20);
	f.refuse = 1;
	errno = 0;
	c = fake_connect(&f, NULL);
	CHECK(c == NULL);
	CHECK_EQ(errno, ECONNREFUSED);
	fake_fini(&f);

	/* the real transport: a port nobody listens on */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_EQ(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	close(fd);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sin.sin_port));
	errno = 0;
	c = sd_connect(addr);
	CHECK(c == NULL);
	CHECK_EQ(errno, ECONNREFUSED);
	c = sd_connect("unix:/nonexistent/sock");
	CHECK(c == NULL);
	CHECK_EQ(errno, ENOENT);
	c = sd_connect("host:notaport");
	CHECK(c == NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(sdl_alloc_live(), 0);
}

/*
 * Sixteen requests queued while the only connection is down leave the send
 * queue in one sendmsg when it comes back: each must reach the sheep exactly
 * once, move to the in-flight list, and complete once.  (GCC 12.2 at -O2
 * without -fno-strict-aliasing hoisted the send-queue head out of the loop
 * that retires fully sent requests, so the second request was sent again;
 * see lib/local.mk.)
 */
static void test_send_batch(void)
{
	struct fake f;
	struct sd_cluster *c;
	struct rreq r[16];
	int i, j, done = 0, ids_distinct = 1;

	fake_init(&f, 20);
	for (i = 0; i < 16; i++)
		memset(fake_obj_create(&f, 500 + i, 64)->data, 'a' + i, 64);
	c = connect_opts(&f, 1, 5000, 5000);
	CHECK(c != NULL);
	if (!c)
		return;
	f.refuse = 1;
	fake_kill_all(&f);
	fake_pump(&f, c, 30);
	CHECK(!sdl_engine_up(&c->e));
	for (i = 0; i < 16; i++) {
		rreq_init(&r[i], 500 + i);
		sdl_req_submit(&c->e, &r[i].req);
	}
	CHECK_EQ(f.nr_seen, 0);
	f.refuse = 0;
	wait_held(&f, c, 16, 3000);
	fake_pump(&f, c, 30);
	CHECK_EQ(f.nr_seen, 16); /* no request sent twice */
	CHECK_EQ(fake_nr_held(&f), 16);
	for (i = 0; i < fake_nr_held(&f); i++)
		for (j = i + 1; j < fake_nr_held(&f); j++)
			if (fake_held(&f, i)->hdr.id == fake_held(&f, j)->hdr.id ||
			    fake_held(&f, i)->hdr.obj.oid == fake_held(&f, j)->hdr.obj.oid)
				ids_distinct = 0;
	CHECK(ids_distinct);
	CHECK(sdl_list_empty(&c->e.conns[0].sendq));
	CHECK_EQ(c->e.conns[0].nr_reqs, 16);
	CHECK_EQ(c->e.nr_inflight, 16);
	fake_serve_all(&f);
	for (i = 0; i < 100 && done < 16; i++) {
		fake_pump(&f, c, 20);
		for (j = 0, done = 0; j < 16; j++)
			done += r[j].calls;
	}
	for (i = 0; i < 16; i++) {
		CHECK_EQ(r[i].calls, 1);
		CHECK_EQ(r[i].ret, 0);
		CHECK_EQ(r[i].buf[0], 'a' + i);
		CHECK_EQ(r[i].buf[63], 'a' + i);
	}
	CHECK(sdl_list_empty(&c->e.conns[0].inflight));
	CHECK_EQ(c->e.nr_inflight, 0);
	CHECK_EQ(f.nr_seen, 16);
	CHECK_EQ(sd_disconnect(c), 0);
	fake_fini(&f);
	CHECK_EQ(sdl_alloc_live(), 0);
}

/* A request callback that tries a sync request from inside the round. */
struct nested {
	struct rreq outer;
	struct sd_cluster *c;
	int inner_ret;
	int seen_before, seen_after;
	struct fake *f;
};

static void nested_done(struct sdl_req *req, int ret)
{
	struct nested *n = sdl_container_of(req, struct nested, outer.req);
	struct rreq inner;

	n->outer.calls++;
	n->outer.ret = ret;
	n->seen_before = n->f->nr_seen;
	rreq_init(&inner, 101);
	n->inner_ret = sdl_run_req(&n->c->e, &inner.req, sdl_now_ms() + 2000);
	fake_io(n->f);
	n->seen_after = n->f->nr_seen;
}

static void test_sync_in_callback(void)
{
	struct fake f;
	struct sd_cluster *c;
	struct nested n;

	fake_init(&f, 20);
	fake_obj_create(&f, 100, 64);
	fake_obj_create(&f, 101, 64);
	c = connect_opts(&f, 1, 5000, 5000);
	CHECK(c != NULL);
	if (!c)
		return;
	f.auto_serve = 1;
	memset(&n, 0, sizeof(n));
	rreq_init(&n.outer, 100);
	n.outer.req.done = nested_done;
	n.c = c;
	n.f = &f;
	sdl_req_submit(&c->e, &n.outer.req);
	pump_until(&f, c, &n.outer.calls, 2000);
	CHECK_EQ(n.outer.calls, 1);
	CHECK_EQ(n.inner_ret, -EDEADLK);
	CHECK(strstr(sd_cluster_errmsg(c), "completion callback") != NULL);
	CHECK_EQ(n.seen_after, n.seen_before);
	CHECK_EQ(c->e.nr_inflight, 0);
	CHECK_EQ(sd_disconnect(c), 0);
	fake_fini(&f);
	CHECK_EQ(sdl_alloc_live(), 0);
}

/*
 * A sync request with a deadline gives up when it passes, and the engine
 * forgets the request (it lived on the caller's stack): the late reply is
 * dropped and the next request works.
 */
static void test_sync_deadline(void)
{
	struct fake f;
	struct sd_cluster *c;
	struct rreq r, r2;
	uint64_t t0;
	int ret;

	fake_init(&f, 20);
	fake_obj_create(&f, 100, 64);
	c = connect_opts(&f, 1, 5000, 5000);
	CHECK(c != NULL);
	if (!c)
		return;
	rreq_init(&r, 100);
	t0 = sdl_now_ms();
	ret = sdl_run_req(&c->e, &r.req, t0 + 300);
	CHECK_EQ(ret, -ETIMEDOUT);
	CHECK(sdl_now_ms() - t0 >= 300);
	CHECK(sdl_now_ms() - t0 < 2000);
	CHECK_EQ(c->e.nr_inflight, 0);
	CHECK_EQ(c->e.conns[0].nr_reqs, 0);
	CHECK(sdl_list_empty(&c->e.conns[0].inflight));
	memset(&r, 0xa5, sizeof(r)); /* the engine must not touch it again */
	CHECK_EQ(fake_serve_all(&f), 1);
	f.auto_serve = 1;
	rreq_init(&r2, 100);
	CHECK_EQ(sdl_run_req(&c->e, &r2.req, sdl_now_ms() + 2000), 0);
	CHECK_EQ(r2.req.rsp.result, SD_RES_SUCCESS);
	CHECK_EQ(sd_disconnect(c), 0);
	fake_fini(&f);
	CHECK_EQ(sdl_alloc_live(), 0);
}

/*
 * retry_timeout_ms = 0 after sd_cluster_opts_init(): no retry window.  A
 * request fails at its first transport error, and a retryable result is
 * handed back as is, at once (it used to mean the 60 s default).
 */
static void test_retry_zero(void)
{
	struct fake f;
	struct sd_cluster *c;
	struct fake_req *q;
	struct rreq r, r2;
	uint64_t t0;

	fake_init(&f, 20);
	fake_obj_create(&f, 1, 64);
	c = connect_opts(&f, 1, 5000, 0);
	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_EQ(c->e.opts.retry_timeout_ms, 0);
	/* a retryable result: no resend */
	rreq_init(&r, 1);
	sdl_req_submit(&c->e, &r.req);
	wait_held(&f, c, 1, 2000);
	q = fake_held(&f, 0);
	CHECK(q != NULL);
	if (q)
		fake_reply(&f, q, SD_RES_SHUTDOWN, NULL, 0);
	t0 = sdl_now_ms();
	pump_until(&f, c, &r.calls, 3000);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, 0);
	CHECK_EQ(r.req.rsp.result, SD_RES_SHUTDOWN);
	CHECK(sdl_now_ms() - t0 < 1000);
	CHECK_EQ(fake_nr_held(&f), 0);
	/* a transport error: the request in flight and one queued after it */
	rreq_init(&r, 1);
	sdl_req_submit(&c->e, &r.req);
	wait_held(&f, c, 1, 2000);
	f.refuse = 1;
	fake_kill_all(&f);
	t0 = sdl_now_ms();
	rreq_init(&r2, 1);
	sdl_req_submit(&c->e, &r2.req);
	pump_until(&f, c, &r.calls, 3000);
	pump_until(&f, c, &r2.calls, 3000);
	CHECK_EQ(r.calls, 1);
	CHECK_EQ(r.ret, -ENOTCONN);
	CHECK_EQ(r2.calls, 1);
	CHECK_EQ(r2.ret, -ENOTCONN);
	CHECK(sdl_now_ms() - t0 < 1000);
	CHECK_EQ(sd_disconnect(c), 0);
	fake_fini(&f);
	CHECK_EQ(sdl_alloc_live(), 0);
}

/* What 0 and a short struct_size mean for the other fields. */
static void test_opts_zero(void)
{
	struct sd_cluster_opts d, o, got;

	sd_cluster_opts_init(&d);
	sdl_opts_apply(&got, NULL);
	CHECK(memcmp(&got, &d, sizeof(d)) == 0);
	/* 0 in the others: the defaults */
	memset(&o, 0, sizeof(o));
	o.struct_size = sizeof(o);
	o.retry_timeout_ms = 1234;
	sdl_opts_apply(&got, &o);
	CHECK_EQ(got.nr_connections, d.nr_connections);
	CHECK_EQ(got.connect_timeout_ms, d.connect_timeout_ms);
	CHECK_EQ(got.io_timeout_ms, d.io_timeout_ms);
	CHECK_EQ(got.max_inflight, d.max_inflight);
	CHECK_EQ(got.retry_timeout_ms, 1234);
	/* struct_size 0: nothing is read, not even a 0 retry */
	o.struct_size = 0;
	o.retry_timeout_ms = 0;
	o.nr_connections = 9;
	sdl_opts_apply(&got, &o);
	CHECK(memcmp(&got, &d, sizeof(d)) == 0);
	/* a shorter (older) struct: fields beyond it take their defaults */
	sd_cluster_opts_init(&o);
	o.struct_size = offsetof(struct sd_cluster_opts, io_timeout_ms);
	o.connect_timeout_ms = 777;
	o.io_timeout_ms = 888;
	o.retry_timeout_ms = 0;
	sdl_opts_apply(&got, &o);
	CHECK_EQ(got.connect_timeout_ms, 777);
	CHECK_EQ(got.io_timeout_ms, d.io_timeout_ms);
	CHECK_EQ(got.retry_timeout_ms, d.retry_timeout_ms);
	/* the pool is capped */
	sd_cluster_opts_init(&o);
	o.nr_connections = 1000;
	sdl_opts_apply(&got, &o);
	CHECK_EQ(got.nr_connections, 64);
}

/* A callback that submits another request (a resend opportunity). */
struct chain {
	struct rreq r;
	struct sd_cluster *c;
	struct rreq next;
};

static void chain_done(struct sdl_req *req, int ret)
{
	struct chain *ch = sdl_container_of(req, struct chain, r.req);

	ch->r.calls++;
	ch->r.ret = ret;
	rreq_init(&ch->next, 3);
	sdl_req_submit(&ch->c->e, &ch->next.req);
}

/*
 * retry 0 with several connections: a request carried by a connection that
 * dies fails, even when a callback of the same round submits and so
 * dispatches the queue while the request is back on it.
 */
static void test_retry_zero_no_resend(void)
{
	struct fake f;
	struct sd_cluster *c;
	struct fake_req *q1, *q2;
	struct chain ch;
	struct rreq r1;
	int i, resent = 0;

	fake_init(&f, 20);
	fake_obj_create(&f, 1, 64);
	fake_obj_create(&f, 2, 64);
	fake_obj_create(&f, 3, 64);
	c = connect_opts(&f, 2, 5000, 0);
	CHECK(c != NULL);
	if (!c)
		return;
	rreq_init(&r1, 1);
	memset(&ch, 0, sizeof(ch));
	rreq_init(&ch.r, 2);
	ch.r.req.done = chain_done;
	ch.c = c;
	sdl_req_submit(&c->e, &r1.req);
	sdl_req_submit(&c->e, &ch.r.req);
	wait_held(&f, c, 2, 2000);
	q1 = fake_find(&f, SD_OP_READ_OBJ, 1);
	q2 = fake_find(&f, SD_OP_READ_OBJ, 2);
	CHECK(q1 && q2 && q1->conn != q2->conn);
	if (!q1 || !q2 || q1->conn == q2->conn)
		goto out;
	/* r1's connection dies first, then r2's reply arrives on the other */
	fake_kill_conn(&f, q1->conn);
	fake_serve(&f, q2);
	fake_io(&f);
	for (i = 0; i < 20 && !(r1.calls && ch.next.calls); i++) {
		fake_pump(&f, c, 20);
		while ((q1 = fake_find(&f, SD_OP_READ_OBJ, ALL)) != NULL) {
			if (q1->hdr.obj.oid == 1)
				resent++;
			fake_serve(&f, q1);
		}
	}
	CHECK_EQ(ch.r.calls, 1);
	CHECK_EQ(ch.r.ret, 0);
	CHECK_EQ(r1.calls, 1);
	CHECK_EQ(r1.ret, -ENOTCONN);
	CHECK_EQ(resent, 0);
out:
	fake_pump(&f, c, 50);
	CHECK_EQ(sd_disconnect(c), 0);
	fake_fini(&f);
}

/* Server ends of live connections to port; how many. */
static int conns_on(const struct fake *f, unsigned port)
{
	int i, n = 0;

	for (i = 0; i < f->nr_conns; i++)
		if (f->conns[i].fd >= 0 && f->conns[i].port == port)
			n++;
	return n;
}

static void kill_port(struct fake *f, unsigned port)
{
	int i;

	for (i = 0; i < f->nr_conns; i++)
		if (f->conns[i].fd >= 0 && f->conns[i].port == port)
			fake_kill_conn(f, i);
}

/*
 * Two addresses: the pool is spread over both; when one dies (reset, or
 * silent past the io timeout) what its connections carried is answered
 * through the other, each request exactly once, and the connections move
 * there.  A dead first address does not stop the handle from opening.
 */
static void test_failover(void)
{
	const char *two = "127.0.0.1:7000,127.0.0.1:7001";
	struct sd_cluster_opts o;
	struct sd_cluster *c;
	struct fake f;
	struct rreq r[4];
	uint64_t t0;
	int i;

	fake_init(&f, 20);
	for (i = 0; i < 4; i++)
		memset(fake_obj_create(&f, 300 + i, 64)->data, 'k' + i, 64);
	sd_cluster_opts_init(&o);
	o.nr_connections = 2;
	o.io_timeout_ms = 300;
	o.retry_timeout_ms = 5000;
	o.connect_timeout_ms = 500;

	/* first address refused: the handle opens on the second */
	f.refuse_port = 7000;
	c = fake_connect_addr(&f, two, &o);
	CHECK(c != NULL);
	if (!c)
		return;
	sd_set_log_cb(c, dbg_log, NULL);
	fake_pump(&f, c, 200);
	CHECK_EQ(conns_on(&f, 7000), 0);
	CHECK_EQ(conns_on(&f, 7001), 2);
	CHECK_EQ(sd_disconnect(c), 0);

	/* both up, then 7000's connection is reset with requests on it */
	f.refuse_port = 0;
	c = fake_connect_addr(&f, two, &o);
	CHECK(c != NULL);
	if (!c)
		return;
	sd_set_log_cb(c, dbg_log, NULL);
	fake_pump(&f, c, 50);
	CHECK_EQ(conns_on(&f, 7000), 1);
	CHECK_EQ(conns_on(&f, 7001), 1);
	for (i = 0; i < 4; i++) {
		rreq_init(&r[i], 300 + i);
		sdl_req_submit(&c->e, &r[i].req);
	}
	wait_held(&f, c, 4, 500);
	CHECK_EQ(fake_nr_held(&f), 4);
	f.refuse_port = 7000;
	kill_port(&f, 7000);
	t0 = sdl_now_ms();
	wait_held(&f, c, 4, 1000);
	CHECK_EQ(fake_nr_held(&f), 4);
	CHECK(sdl_now_ms() - t0 < 200); /* resent at once, no timeout waited for */
	fake_serve_all(&f);
	fake_pump(&f, c, 100);
	for (i = 0; i < 4; i++) {
		CHECK_EQ(r[i].calls, 1);
		CHECK_EQ(r[i].ret, 0);
		CHECK_EQ(r[i].buf[7], 'k' + i);
	}
	CHECK_EQ(conns_on(&f, 7000), 0);
	CHECK_EQ(conns_on(&f, 7001), 2);

	/* 7001 goes silent (its requests are never answered): io timeout */
	f.refuse_port = 7001;
	for (i = 0; i < 2; i++) {
		rreq_init(&r[i], 300 + i);
		sdl_req_submit(&c->e, &r[i].req);
	}
	wait_held(&f, c, 2, 500);
	while (fake_nr_held(&f))
		fake_drop(&f, fake_held(&f, 0));
	wait_held(&f, c, 2, 2000);
	CHECK_EQ(fake_nr_held(&f), 2);
	fake_serve_all(&f);
	fake_pump(&f, c, 100);
	for (i = 0; i < 2; i++) {
		CHECK_EQ(r[i].calls, 1);
		CHECK_EQ(r[i].ret, 0);
	}
	CHECK_EQ(conns_on(&f, 7000), 2);
	CHECK_EQ(sd_disconnect(c), 0);
	fake_fini(&f);
}

int main(void)
{
	int passed = 0, failed = 0;

	RUN_TEST(test_pipelining, passed, failed);
	RUN_TEST(test_max_inflight, passed, failed);
	RUN_TEST(test_timeout, passed, failed);
	RUN_TEST(test_reconnect_resend, passed, failed);
	RUN_TEST(test_retry_window, passed, failed);
	RUN_TEST(test_retryable_result, passed, failed);
	RUN_TEST(test_cancel_and_sync, passed, failed);
	RUN_TEST(test_aio_sdreq, passed, failed);
	RUN_TEST(test_connect_errors, passed, failed);
	RUN_TEST(test_send_batch, passed, failed);
	RUN_TEST(test_sync_in_callback, passed, failed);
	RUN_TEST(test_sync_deadline, passed, failed);
	RUN_TEST(test_retry_zero, passed, failed);
	RUN_TEST(test_retry_zero_no_resend, passed, failed);
	RUN_TEST(test_opts_zero, passed, failed);
	RUN_TEST(test_failover, passed, failed);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
