/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the cluster PR state store (bss_pr_cluster.c) over a fake
 * attribute table: several stores on one fake stand for several gateways
 * on one vdi.
 *
 * Checks: empty load; commit then load and validate from another store;
 * compare and swap between two stores (the loser gets -ESTALE, reloads the
 * winner's state, then wins); the head hint (written, stale behind pruned
 * versions, missing, naming a version that never existed, malformed);
 * pruning keeps every key and a reader holding a pruned version still sees
 * that a newer one exists; a reader racing with pruning (the version it
 * reads is pruned between two of its lookups) ends on the newest state;
 * table errors come back as they are (never as "nothing stored"), a
 * failed exclusive create is not -ESTALE; a value under the wrong key is
 * -EIO; the probe bound.
 */
#include "../bss_pr.h"
#include "../../tests/unit/sdl_check.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int g_check_failed;

#define FAKE_KEYS 256
#define VAL_MAX	  (8 + BSS_PR_BLOB_MAX)

struct fake_attr {
	char key[96];
	uint8_t val[VAL_MAX];
	size_t len;
};

/* The fake vdi's attributes, plus fault and race hooks. */
static struct fake_attr g_attrs[FAKE_KEYS];
static unsigned int g_nr_attrs;
static int g_fail_get, g_fail_exists, g_fail_set; /* errno to return, 0: none */
static unsigned int g_gets, g_exists, g_sets;
/* After this many gets, run g_hook once (a concurrent gateway). */
static unsigned int g_hook_at;
static void (*g_hook)(void);

static struct fake_attr *fake_find(const char *key)
{
	unsigned int i;

	for (i = 0; i < g_nr_attrs; i++)
		if (!strcmp(g_attrs[i].key, key))
			return &g_attrs[i];
	return NULL;
}

static int fake_get(void *priv, const char *key, void *buf, size_t size)
{
	struct fake_attr *a;

	(void)priv;
	g_gets++;
	if (g_hook && g_gets == g_hook_at) {
		void (*h)(void) = g_hook;

		g_hook = NULL;
		h();
	}
	if (g_fail_get)
		return -g_fail_get;
	a = fake_find(key);
	if (!a)
		return -ENOENT;
	memcpy(buf, a->val, a->len < size ? a->len : size);
	return (int)a->len;
}

static int fake_exists(void *priv, const char *key)
{
	(void)priv;
	g_exists++;
	if (g_fail_exists)
		return -g_fail_exists;
	return fake_find(key) ? 0 : -ENOENT;
}

static int fake_set(void *priv, const char *key, const void *val, size_t len, int excl)
{
	struct fake_attr *a;

	(void)priv;
	g_sets++;
	if (g_fail_set)
		return -g_fail_set;
	if (len > VAL_MAX)
		return -EINVAL;
	a = fake_find(key);
	if (a && excl)
		return -EEXIST;
	if (!a) {
		if (g_nr_attrs == FAKE_KEYS)
			return -EMFILE;
		a = &g_attrs[g_nr_attrs++];
		snprintf(a->key, sizeof(a->key), "%s", key);
	}
	memcpy(a->val, val, len);
	a->len = len;
	return 0;
}

/*
 * The asynchronous table: calls queue up and run (through the synchronous
 * fake) when the test pumps, first in first out; a destroy cancels them.
 */
struct fake_call {
	int is_set;
	char key[96];
	void *buf;
	size_t size;
	uint8_t val[VAL_MAX];
	size_t len;
	int excl;
	bss_pr_done_fn cb;
	void *opaque;
};

#define FAKE_CALLS 8
static struct fake_call g_calls[FAKE_CALLS];
static unsigned int g_nr_calls, g_max_calls;
static int g_fail_submit; /* errno the next async submit returns, 0: none */

static int fake_queue(int is_set, const char *key, void *buf, size_t size, const void *val,
		      size_t len, int excl, bss_pr_done_fn cb, void *opaque)
{
	struct fake_call *f;

	if (g_fail_submit) {
		int e = g_fail_submit;

		g_fail_submit = 0;
		return -e;
	}
	if (g_nr_calls == FAKE_CALLS || len > VAL_MAX)
		return -ENOMEM;
	f = &g_calls[g_nr_calls++];
	if (g_nr_calls > g_max_calls)
		g_max_calls = g_nr_calls;
	f->is_set = is_set;
	snprintf(f->key, sizeof(f->key), "%s", key);
	f->buf = buf;
	f->size = size;
	if (len)
		memcpy(f->val, val, len);
	f->len = len;
	f->excl = excl;
	f->cb = cb;
	f->opaque = opaque;
	return 0;
}

static int fake_get_async(void *priv, const char *key, void *buf, size_t size, bss_pr_done_fn cb,
			  void *opaque)
{
	(void)priv;
	return fake_queue(0, key, buf, size, NULL, 0, 0, cb, opaque);
}

static int fake_set_async(void *priv, const char *key, const void *val, size_t len, int excl,
			  bss_pr_done_fn cb, void *opaque)
{
	(void)priv;
	return fake_queue(1, key, NULL, 0, val, len, excl, cb, opaque);
}

/* Run the oldest queued call; 0 if there was none. */
static int fake_pump_one(void)
{
	struct fake_call f;
	int ret;

	if (!g_nr_calls)
		return 0;
	f = g_calls[0];
	memmove(&g_calls[0], &g_calls[1], --g_nr_calls * sizeof(g_calls[0]));
	ret = f.is_set ? fake_set(NULL, f.key, f.val, f.len, f.excl)
		       : fake_get(NULL, f.key, f.buf, f.size);
	f.cb(f.opaque, ret);
	return 1;
}

static int g_destroyed;

static void fake_destroy(void *priv)
{
	(void)priv;
	g_destroyed++;
	/* like sd_disconnect: what is queued completes with -ECANCELED */
	while (g_nr_calls) {
		struct fake_call f = g_calls[0];

		memmove(&g_calls[0], &g_calls[1], --g_nr_calls * sizeof(g_calls[0]));
		f.cb(f.opaque, -ECANCELED);
	}
}

static const struct bss_pr_attr_ops g_fake_ops = {
	.get = fake_get,
	.exists = fake_exists,
	.set = fake_set,
	.get_async = fake_get_async,
	.set_async = fake_set_async,
	.destroy = fake_destroy,
};

/* 1: load and commit go through load_async / commit_async (do_load,
 * do_commit), every test runs both ways. */
static int g_async;

struct async_result {
	int calls;
	int ret;
};

static void async_done(void *opaque, int ret)
{
	struct async_result *r = opaque;

	r->calls++;
	r->ret = ret;
}

/* Pump until nothing is queued (a commit's best-effort steps included). */
static void fake_pump_all(void)
{
	int n = 0;

	while (fake_pump_one())
		CHECK(++n < 10000);
}

/* An asynchronous call submitted (ret): pumped to its end, its answer. */
static int async_finish(int ret, struct async_result *r)
{
	if (ret)
		return ret;
	CHECK_EQ(r->calls, 0); /* never from inside the call */
	fake_pump_all();
	CHECK_EQ(r->calls, 1);
	return r->ret;
}

static int do_load(struct bss_pr_store *s, uint8_t *buf, size_t size, size_t *len,
		   uint64_t *version)
{
	struct async_result r = { 0, 0 };

	if (!g_async)
		return s->ops->load(s, buf, size, len, version);
	return async_finish(s->ops->load_async(s, buf, size, len, version, async_done, &r), &r);
}

static int do_commit(struct bss_pr_store *s, const uint8_t *buf, size_t len, uint64_t expect,
		     uint64_t *version)
{
	struct async_result r = { 0, 0 };

	if (!g_async)
		return s->ops->commit(s, buf, len, expect, version);
	return async_finish(s->ops->commit_async(s, buf, len, expect, version, async_done, &r), &r);
}

static void fake_reset(void)
{
	g_nr_attrs = 0;
	g_fail_get = g_fail_exists = g_fail_set = 0;
	g_gets = g_exists = g_sets = 0;
	g_hook = NULL;
	g_hook_at = 0;
	g_nr_calls = 0;
	g_fail_submit = 0;
}

static struct bss_pr_store *store(void)
{
	return bss_pr_cluster_store_create(&g_fake_ops, NULL, "bss.pr");
}

/* A small blob naming its version, for content checks. */
static size_t blob_of(uint64_t n, uint8_t *buf)
{
	return (size_t)snprintf((char *)buf, 32, "state-%" PRIu64, n);
}

static uint8_t g_buf[BSS_PR_BLOB_MAX];

/* load from s: 0 and the version and blob, checked against `want`. */
static void check_load(struct bss_pr_store *s, uint64_t want)
{
	uint8_t expect[32];
	uint64_t v = 12345;
	size_t len = 999;

	CHECK_EQ(do_load(s, g_buf, sizeof(g_buf), &len, &v), 0);
	CHECK_EQ(v, want);
	if (!want) {
		CHECK_EQ(len, 0);
		return;
	}
	CHECK_EQ(len, blob_of(want, expect));
	CHECK(!memcmp(g_buf, expect, len));
}

static void commit_n(struct bss_pr_store *s, uint64_t from, uint64_t to)
{
	uint8_t b[32];
	uint64_t v;

	for (; from < to; from++) {
		CHECK_EQ(do_commit(s, b, blob_of(from + 1, b), from, &v), 0);
		CHECK_EQ(v, from + 1);
	}
}

static void test_empty(void)
{
	struct bss_pr_store *s;

	fake_reset();
	s = store();
	CHECK(s != NULL);
	check_load(s, 0);
	CHECK_EQ(s->ops->validate(s, 0), 0);
	s->ops->destroy(s);
	CHECK_EQ(g_destroyed, 1);
	g_destroyed = 0;
	CHECK(bss_pr_cluster_store_create(&g_fake_ops, NULL, "") == NULL);
}

static void test_commit_load_validate(void)
{
	struct bss_pr_store *a, *b;
	struct fake_attr *h;

	fake_reset();
	a = store();
	b = store();
	commit_n(a, 0, 1);
	/* the other gateway: its version 0 is stale, it loads version 1 */
	CHECK_EQ(b->ops->validate(b, 0), 1);
	check_load(b, 1);
	CHECK_EQ(b->ops->validate(b, 1), 0);
	h = fake_find("bss.pr.head");
	CHECK(h && h->len == 8 && h->val[7] == 1);
	CHECK(fake_find("bss.pr.1") != NULL);
	a->ops->destroy(a);
	b->ops->destroy(b);
	g_destroyed = 0;
}

static void test_cas(void)
{
	struct bss_pr_store *a, *b;
	uint64_t va, vb, v;
	size_t len;

	fake_reset();
	a = store();
	b = store();
	commit_n(a, 0, 3);
	CHECK_EQ(do_load(a, g_buf, sizeof(g_buf), &len, &va), 0);
	CHECK_EQ(do_load(b, g_buf, sizeof(g_buf), &len, &vb), 0);
	CHECK_EQ(va, 3);
	CHECK_EQ(vb, 3);
	/* both commit from version 3: exactly one wins */
	CHECK_EQ(do_commit(a, (const uint8_t *)"from-a", 6, va, &v), 0);
	CHECK_EQ(v, 4);
	CHECK_EQ(do_commit(b, (const uint8_t *)"from-b", 6, vb, &v), -ESTALE);
	/* the loser reloads the winner's state and commits on top of it */
	CHECK_EQ(b->ops->validate(b, vb), 1);
	CHECK_EQ(do_load(b, g_buf, sizeof(g_buf), &len, &vb), 0);
	CHECK_EQ(vb, 4);
	CHECK(len == 6 && !memcmp(g_buf, "from-a", 6));
	CHECK_EQ(do_commit(b, (const uint8_t *)"from-b", 6, vb, &v), 0);
	CHECK_EQ(v, 5);
	CHECK_EQ(do_load(a, g_buf, sizeof(g_buf), &len, &va), 0);
	CHECK(va == 5 && len == 6 && !memcmp(g_buf, "from-b", 6));
	a->ops->destroy(a);
	b->ops->destroy(b);
	g_destroyed = 0;
}

static void set_head(uint64_t n)
{
	uint8_t h[8];
	int i;

	for (i = 7; i >= 0; i--, n >>= 8)
		h[i] = (uint8_t)n;
	CHECK_EQ(fake_set(NULL, "bss.pr.head", h, 8, 0), 0);
}

static void test_prune_and_head(void)
{
	struct bss_pr_store *a, *b;
	struct fake_attr *k;
	unsigned int nr;

	fake_reset();
	a = store();
	b = store();
	commit_n(a, 0, 30);
	/* every version keeps its key; all but the newest 8 are pruned */
	for (nr = 1; nr <= 30; nr++) {
		char key[32];

		snprintf(key, sizeof(key), "bss.pr.%u", nr);
		k = fake_find(key);
		CHECK(k != NULL);
		if (k)
			CHECK_EQ(k->len, nr <= 22 ? 8 : 8 + blob_of(nr, g_buf));
	}
	check_load(b, 30);
	/* a gateway holding a pruned version still learns there is a newer */
	CHECK_EQ(b->ops->validate(b, 5), 1);
	/* a head hint behind pruned versions (a slow writer stepped it back) */
	set_head(3);
	check_load(b, 30);
	/* a hint naming a version that never existed */
	set_head(99);
	check_load(b, 30);
	/* a malformed hint, and none */
	CHECK_EQ(fake_set(NULL, "bss.pr.head", "xx", 2, 0), 0);
	check_load(b, 30);
	k = fake_find("bss.pr.head");
	k->key[0] = 0;
	check_load(b, 30);
	a->ops->destroy(a);
	b->ops->destroy(b);
	g_destroyed = 0;
}

static struct bss_pr_store *g_racer;

static void race_commits(void)
{
	commit_n(g_racer, 10, 25);
}

static void test_reader_races_pruning(void)
{
	struct bss_pr_store *a, *b;
	unsigned int at;

	/* For each point of b's load, another gateway commits 15 versions
	 * (pruning the one b is reading): b ends on version 25 every time. */
	for (at = 1; at <= 4; at++) {
		fake_reset();
		a = store();
		b = store();
		commit_n(a, 0, 10);
		g_racer = a;
		g_hook = race_commits;
		g_hook_at = at;
		/* get 1: the head; 2: version 10 (pruned by then); 3: 11 */
		check_load(b, at <= 3 ? 25 : 10);
		/* at 4 the commits come after b's load (at its next get) */
		CHECK_EQ(b->ops->validate(b, 10), at <= 3);
		check_load(b, 25);
		CHECK_EQ(b->ops->validate(b, 25), 0);
		a->ops->destroy(a);
		b->ops->destroy(b);
	}
	g_destroyed = 0;
}

static void test_errors(void)
{
	struct bss_pr_store *a;
	uint64_t v = 77;
	size_t len;

	fake_reset();
	a = store();
	commit_n(a, 0, 2);
	g_fail_get = EIO;
	CHECK_EQ(do_load(a, g_buf, sizeof(g_buf), &len, &v), -EIO);
	g_fail_get = ETIMEDOUT;
	CHECK_EQ(do_load(a, g_buf, sizeof(g_buf), &len, &v), -ETIMEDOUT);
	g_fail_get = 0;
	g_fail_exists = ECONNREFUSED;
	CHECK_EQ(a->ops->validate(a, 2), -ECONNREFUSED);
	g_fail_exists = 0;
	g_fail_set = ENOSPC;
	CHECK_EQ(do_commit(a, (const uint8_t *)"x", 1, 2, &v), -ENOSPC);
	g_fail_set = 0;
	CHECK_EQ(v, 77);
	check_load(a, 2);
	/* too small a buffer */
	CHECK_EQ(do_load(a, g_buf, 2, &len, &v), -EOVERFLOW);
	/* a value that is not the version its key names */
	fake_find("bss.pr.2")->val[7] = 9;
	CHECK_EQ(do_load(a, g_buf, sizeof(g_buf), &len, &v), -EIO);
	fake_find("bss.pr.2")->val[7] = 2;
	/* the newest pruned: only a broken writer does that */
	fake_find("bss.pr.2")->len = 8;
	set_head(2);
	CHECK_EQ(do_load(a, g_buf, sizeof(g_buf), &len, &v), -EIO);
	a->ops->destroy(a);
	g_destroyed = 0;
}

/*
 * Asynchronous calls only: two commits in flight from one version (one
 * wins), the caller told at the compare and swap with the best-effort
 * steps still to come, a destroy cancelling a load and a commit's
 * remaining steps (each callback once), a submit failing mid-walk.
 */
static void test_async_only(void)
{
	struct async_result ra = { 0, 0 }, rb = { 0, 0 };
	struct bss_pr_store *a, *b;
	uint64_t va = 0, vb = 0, v;
	size_t len;

	fake_reset();
	a = store();
	b = store();
	g_async = 1;
	commit_n(a, 0, 9);
	g_async = 0;
	CHECK_EQ(a->ops->commit_async(a, (const uint8_t *)"a", 1, 9, &va, async_done, &ra), 0);
	CHECK_EQ(b->ops->commit_async(b, (const uint8_t *)"b", 1, 9, &vb, async_done, &rb), 0);
	CHECK(fake_pump_one() && fake_pump_one()); /* both compare and swaps */
	CHECK(ra.calls == 1 && ra.ret == 0 && va == 10);
	CHECK(rb.calls == 1 && rb.ret == -ESTALE && vb == 0);
	CHECK_EQ(g_nr_calls, 1); /* a's head hint; then its pruning */
	CHECK(fake_pump_one() && fake_pump_one() && !fake_pump_one());
	CHECK_EQ(fake_find("bss.pr.2")->len, 8);
	CHECK_EQ(ra.calls, 1);
	CHECK_EQ(do_load(b, g_buf, sizeof(g_buf), &len, &v), 0);
	CHECK(v == 10 && len == 1 && g_buf[0] == 'a');

	/* a destroy with a load in flight, and with a commit's head step */
	ra.calls = 0;
	CHECK_EQ(b->ops->load_async(b, g_buf, sizeof(g_buf), &len, &v, async_done, &ra), 0);
	CHECK(fake_pump_one()); /* the head hint: the version read is next */
	b->ops->destroy(b);
	CHECK(ra.calls == 1 && ra.ret == -ECANCELED);
	ra.calls = 0;
	CHECK_EQ(a->ops->commit_async(a, (const uint8_t *)"a", 1, 10, &va, async_done, &ra), 0);
	CHECK(fake_pump_one());
	CHECK(ra.calls == 1 && ra.ret == 0 && va == 11);
	a->ops->destroy(a); /* cancels the head step: no second callback */
	CHECK_EQ(ra.calls, 1);
	CHECK_EQ(g_nr_calls, 0);

	/* the second get cannot be submitted: the load ends with that error */
	a = store();
	ra.calls = 0;
	CHECK_EQ(a->ops->load_async(a, g_buf, sizeof(g_buf), &len, &v, async_done, &ra), 0);
	g_fail_submit = ENOMEM;
	CHECK(fake_pump_one() && !fake_pump_one());
	CHECK(ra.calls == 1 && ra.ret == -ENOMEM);
	g_fail_submit = EAGAIN;
	CHECK_EQ(a->ops->load_async(a, g_buf, sizeof(g_buf), &len, &v, async_done, &ra), -EAGAIN);
	CHECK_EQ(ra.calls, 1);
	a->ops->destroy(a);
	g_destroyed = 0;
	/* one call in flight per walk */
	CHECK_EQ(g_max_calls, 2);
}

int main(void)
{
	int passed = 0, failed = 0;

	for (g_async = 0; g_async < 2; g_async++) {
		if (g_async)
			printf("-- again, through load_async and commit_async\n");
		RUN_TEST(test_empty, passed, failed);
		RUN_TEST(test_commit_load_validate, passed, failed);
		RUN_TEST(test_cas, passed, failed);
		RUN_TEST(test_prune_and_head, passed, failed);
		RUN_TEST(test_reader_races_pruning, passed, failed);
		RUN_TEST(test_errors, passed, failed);
	}
	g_async = 0;
	RUN_TEST(test_async_only, passed, failed);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
