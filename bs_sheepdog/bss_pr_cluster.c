/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cluster PR state store: one LU's persistent reservation state kept in
 * sheepdog vdi attributes, so that every gateway exporting the vdi reads
 * and changes the same state (bsopt shared=1).  Written against a small
 * attribute table (struct bss_pr_attr_ops) so the unit test runs it over a
 * fake; bss_pr_attrs.c supplies the libsheepdog one.
 *
 * Layout, under a key prefix P ("bss.pr" for a working vdi, one per
 * snapshot otherwise):
 *
 *   P.<N>     state version N (N >= 1, decimal): u64 N big-endian, then
 *             the state blob (bss_pr_store.c).  Created with an exclusive
 *             create and never re-created: once a key has existed it
 *             exists for ever.  Pruned versions keep only the 8-byte
 *             version (the value is replaced, the key stays).
 *   P.head    u64 N, a hint: the newest version some writer committed.
 *             Replaced, not compare-and-swapped, so it may lag or even
 *             step back (a slow writer); nothing depends on it being
 *             exact.
 *   version 0 is the empty state and has no key.
 *
 * Compare and swap: commit(expect = N) creates P.<N+1> exclusively.  Sheep
 * (ours and upstream) applies that create atomically against every other
 * attribute request of the vdi, so of two writers racing from N exactly
 * one wins; the loser gets EEXIST -> -ESTALE, reloads and re-runs the
 * rules.  The winner then writes the head hint and prunes P.<N+1-KEEP>.
 *
 * Why pruning replaces instead of deleting: if P.<K> could disappear, a
 * reader holding version K-1 would find P.<K> "absent", take K-1 for the
 * newest and could even create P.<K> again, forking the history.  With
 * keys that never go away, "P.<N+1> does not exist" proves N is the newest
 * version at the moment of the lookup, and no reader can race with
 * pruning into a wrong state: a pruned value says so and the reader moves
 * on to newer keys.  Deleting would not give the space back either: sheep
 * keeps a deleted attribute's object as a tombstone for its probe chain.
 * Each commit therefore costs one attribute object for the life of the
 * vdi (they go with it).
 *
 * validate_async: the same lookup without waiting (the per-command check
 * of bss_pr_tgt.c).
 *
 * load: start at the head hint (0 if absent), read that version (skipping
 * forward KEEP at a time while versions are pruned), then read N+1, N+2,
 * ... until one does not exist.  validate(N): one lookup of P.<N+1>
 * (GET_VDI_ATTR without reading the value): absent -> N is current.
 *
 * load_async / commit_async: the same steps, each get or set waited for
 * through the table's get_async / set_async.
 *
 * Thread context: tgtd's main thread.
 */
#include "bss_pr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEP	       8    /* versions kept whole behind the newest */
#define MAX_PROBES     4096 /* keys one load may look at */
#define VERSION_BYTES  8
#define CLUSTER_KEYLEN 96
#define VAL_BYTES      (VERSION_BYTES + BSS_PR_BLOB_MAX)

struct cluster_store {
	struct bss_pr_store base;
	const struct bss_pr_attr_ops *ops;
	void *priv;
	char prefix[CLUSTER_KEYLEN - 24];
	uint8_t val[VAL_BYTES]; /* the synchronous calls' */
};

static void put_u64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void key_of(const struct cluster_store *cs, uint64_t n, char *key)
{
	snprintf(key, CLUSTER_KEYLEN, "%s.%" PRIu64, cs->prefix, n);
}

/*
 * One load, as steps shared by the synchronous and the asynchronous call:
 * load_step() takes the answer of the last get and names the next key to
 * get (1), or ends the load (0, or a negative errno).
 */
struct load_walk {
	uint8_t *val; /* VERSION_BYTES + BSS_PR_BLOB_MAX: each get's value */
	size_t get_size;
	uint8_t *buf; /* the caller's */
	size_t size;
	size_t *len;
	uint64_t *version;
	uint64_t c, n; /* c: the key being read; n: the newest read whole */
	int stage;     /* 0: not started, 1: the head hint asked, 2: versions */
	int probes, jumped;
	size_t blob_len;
};

/*
 * A get of version c answered ret: the blob length (>= 0), -EAGAIN if it
 * was pruned, -ENOENT if it never existed, -EIO if the value is not
 * version c, other negative errnos from the table.
 */
static int version_answer(const struct load_walk *w, int ret)
{
	if (ret < 0)
		return ret;
	if (ret < VERSION_BYTES || ret > VAL_BYTES || get_u64(w->val) != w->c)
		return -EIO;
	return ret == VERSION_BYTES ? -EAGAIN : ret - VERSION_BYTES;
}

static int load_step(struct cluster_store *cs, struct load_walk *w, int ret, char *key)
{
	switch (w->stage) {
	case 0:
		w->stage = 1;
		w->c = 1;
		w->get_size = VERSION_BYTES;
		snprintf(key, CLUSTER_KEYLEN, "%s.head", cs->prefix);
		return 1;
	case 1:
		w->stage = 2;
		w->get_size = VAL_BYTES;
		if (ret == VERSION_BYTES && get_u64(w->val))
			w->c = get_u64(w->val);
		else if (ret != -ENOENT && ret < 0)
			return ret;
		/* a malformed hint is ignored: the versions themselves decide */
		break;
	default:
		ret = version_answer(w, ret);
		if (ret >= 0) {
			if ((size_t)ret > w->size)
				return -EOVERFLOW;
			memcpy(w->buf, w->val + VERSION_BYTES, (size_t)ret);
			w->blob_len = (size_t)ret;
			w->n = w->c++;
			w->jumped = 0;
		} else if (ret == -EAGAIN) {
			/* pruned by the commit of c + KEEP, which exists */
			w->c += KEEP;
			w->jumped = 1;
		} else if (ret != -ENOENT) {
			return ret;
		} else if (w->jumped) {
			return -EIO; /* c - KEEP was pruned, yet c never existed */
		} else if (w->n + 1 == w->c) {
			/* c never existed: n is the newest (0: empty) */
			*w->len = w->n ? w->blob_len : 0;
			*w->version = w->n;
			return 0;
		} else {
			/* the hint names a version that never existed: ignore it */
			w->c = 1;
			w->n = 0;
		}
		break;
	}
	if (++w->probes > MAX_PROBES)
		return -ELOOP;
	key_of(cs, w->c, key);
	return 1;
}

static void load_walk_init(struct load_walk *w, uint8_t *val, uint8_t *buf, size_t size,
			   size_t *len, uint64_t *version)
{
	memset(w, 0, sizeof(*w));
	w->val = val;
	w->buf = buf;
	w->size = size;
	w->len = len;
	w->version = version;
}

static int cluster_load(struct bss_pr_store *s, uint8_t *buf, size_t size, size_t *len,
			uint64_t *version)
{
	struct cluster_store *cs = (struct cluster_store *)s;
	char key[CLUSTER_KEYLEN];
	struct load_walk w;
	int ret = 0;

	load_walk_init(&w, cs->val, buf, size, len, version);
	while ((ret = load_step(cs, &w, ret, key)) == 1)
		ret = cs->ops->get(cs->priv, key, cs->val, w.get_size);
	return ret;
}

/*
 * One commit, as steps: the exclusive create of P.<expect + 1> (the
 * compare and swap), then, best effort, the head hint and the pruning of
 * P.<n - KEEP>.  commit_step() takes the answer of the last set and names
 * the next one (1: key, length, excl; the value is in w->val), or ends
 * (0).  The commit's result is w->result from the first answer on.
 */
struct commit_walk {
	uint8_t *val;
	size_t set_len;
	int excl;
	uint64_t n;
	uint64_t *version;
	int stage;
	int result;
};

static int commit_step(struct cluster_store *cs, struct commit_walk *w, int ret, char *key)
{
	switch (w->stage++) {
	case 0: /* the value is in w->val already */
		key_of(cs, w->n, key);
		w->excl = 1;
		return 1;
	case 1:
		w->result = ret == -EEXIST ? -ESTALE : ret;
		if (ret)
			return 0;
		*w->version = w->n;
		snprintf(key, CLUSTER_KEYLEN, "%s.head", cs->prefix);
		w->set_len = VERSION_BYTES;
		w->excl = 0;
		return 1;
	case 2:
		if (w->n <= KEEP)
			return 0;
		put_u64(w->val, w->n - KEEP);
		key_of(cs, w->n - KEEP, key);
		return 1;
	default: return 0;
	}
}

/* Start a commit walk: the value P.<expect + 1> gets into val. */
static int commit_walk_init(struct commit_walk *w, uint8_t *val, const uint8_t *buf, size_t len,
			    uint64_t expect, uint64_t *version)
{
	if (len > BSS_PR_BLOB_MAX)
		return -EINVAL;
	memset(w, 0, sizeof(*w));
	w->val = val;
	w->n = expect + 1;
	w->version = version;
	w->set_len = VERSION_BYTES + len;
	put_u64(val, w->n);
	memcpy(val + VERSION_BYTES, buf, len);
	return 0;
}

static int cluster_commit(struct bss_pr_store *s, const uint8_t *buf, size_t len, uint64_t expect,
			  uint64_t *version)
{
	struct cluster_store *cs = (struct cluster_store *)s;
	char key[CLUSTER_KEYLEN];
	struct commit_walk w;
	int ret = commit_walk_init(&w, cs->val, buf, len, expect, version);

	if (ret)
		return ret;
	while (commit_step(cs, &w, ret, key) == 1)
		ret = cs->ops->set(cs->priv, key, w.val, w.set_len, w.excl);
	return w.result;
}

/*
 * load_async and commit_async: the same walks, one get or set in flight
 * at a time, in a call of their own (its own value buffer: a synchronous
 * call may run on the store between two steps).  A commit's caller hears
 * its result after the compare and swap; the best-effort steps go on
 * without it, and stop at the first error (a store being destroyed
 * cancels them).
 */
struct cluster_async {
	struct cluster_store *cs;
	struct load_walk load;
	struct commit_walk commit;
	int is_commit;
	int told; /* the caller's cb ran */
	bss_pr_done_fn cb;
	void *opaque;
	char key[CLUSTER_KEYLEN];
	uint8_t val[VAL_BYTES];
};

static void cluster_async_next(void *opaque, int ret);

/* The caller's callback, once. */
static void cluster_async_tell(struct cluster_async *a, int ret)
{
	if (!a->told) {
		a->told = 1;
		a->cb(a->opaque, ret);
	}
}

/* The table's answer (ret) to a's last get or set: a's next one, or its
 * end (a freed). */
static void cluster_async_next(void *opaque, int ret)
{
	struct cluster_async *a = opaque;
	struct cluster_store *cs = a->cs;
	int r;

	if (a->is_commit) {
		if (a->commit.stage >= 2 && ret < 0)
			goto end; /* best effort: stop at the first error */
		r = commit_step(cs, &a->commit, ret, a->key);
		if (a->commit.stage == 2)
			cluster_async_tell(a, a->commit.result);
		if (r != 1)
			goto end;
		r = cs->ops->set_async(cs->priv, a->key, a->val, a->commit.set_len, a->commit.excl,
				       cluster_async_next, a);
		if (r)
			goto end;
		return;
	}
	r = load_step(cs, &a->load, ret, a->key);
	if (r == 1) {
		r = cs->ops->get_async(cs->priv, a->key, a->val, a->load.get_size,
				       cluster_async_next, a);
		if (!r)
			return;
	}
	cluster_async_tell(a, r);
end:
	free(a);
}

static struct cluster_async *cluster_async_new(struct cluster_store *cs, bss_pr_done_fn cb,
					       void *opaque)
{
	struct cluster_async *a;

	if (!cs->ops->get_async || !cs->ops->set_async)
		return NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->cs = cs;
	a->cb = cb;
	a->opaque = opaque;
	return a;
}

static int cluster_load_async(struct bss_pr_store *s, uint8_t *buf, size_t size, size_t *len,
			      uint64_t *version, bss_pr_done_fn cb, void *opaque)
{
	struct cluster_store *cs = (struct cluster_store *)s;
	struct cluster_async *a = cluster_async_new(cs, cb, opaque);
	int ret;

	if (!a)
		return cs->ops->get_async ? -ENOMEM : -EOPNOTSUPP;
	load_walk_init(&a->load, a->val, buf, size, len, version);
	/* the first step only names the head hint's key */
	ret = load_step(cs, &a->load, 0, a->key);
	if (ret == 1)
		ret = cs->ops->get_async(cs->priv, a->key, a->val, a->load.get_size,
					 cluster_async_next, a);
	if (ret)
		free(a);
	return ret;
}

static int cluster_commit_async(struct bss_pr_store *s, const uint8_t *buf, size_t len,
				uint64_t expect, uint64_t *version, bss_pr_done_fn cb, void *opaque)
{
	struct cluster_store *cs = (struct cluster_store *)s;
	struct cluster_async *a = cluster_async_new(cs, cb, opaque);
	int ret;

	if (!a)
		return cs->ops->set_async ? -ENOMEM : -EOPNOTSUPP;
	a->is_commit = 1;
	ret = commit_walk_init(&a->commit, a->val, buf, len, expect, version);
	if (!ret && commit_step(cs, &a->commit, 0, a->key) == 1)
		ret = cs->ops->set_async(cs->priv, a->key, a->val, a->commit.set_len,
					 a->commit.excl, cluster_async_next, a);
	if (ret)
		free(a);
	return ret;
}

static int cluster_validate(struct bss_pr_store *s, uint64_t version)
{
	struct cluster_store *cs = (struct cluster_store *)s;
	char key[CLUSTER_KEYLEN];
	int ret;

	key_of(cs, version + 1, key);
	ret = cs->ops->exists(cs->priv, key);
	if (ret == -ENOENT)
		return 0;
	return ret < 0 ? ret : 1;
}

/* validate_async: the lookup's answer turned into validate's. */
struct cluster_check {
	bss_pr_done_fn cb;
	void *opaque;
};

static void cluster_check_done(void *opaque, int ret)
{
	struct cluster_check *ck = opaque;
	bss_pr_done_fn cb = ck->cb;
	void *cb_opaque = ck->opaque;

	free(ck);
	cb(cb_opaque, ret == -ENOENT ? 0 : ret < 0 ? ret : 1);
}

static int cluster_validate_async(struct bss_pr_store *s, uint64_t version, bss_pr_done_fn cb,
				  void *opaque)
{
	struct cluster_store *cs = (struct cluster_store *)s;
	struct cluster_check *ck;
	char key[CLUSTER_KEYLEN];
	int ret;

	if (!cs->ops->exists_async)
		return -EOPNOTSUPP;
	ck = malloc(sizeof(*ck));
	if (!ck)
		return -ENOMEM;
	ck->cb = cb;
	ck->opaque = opaque;
	key_of(cs, version + 1, key);
	ret = cs->ops->exists_async(cs->priv, key, cluster_check_done, ck);
	if (ret)
		free(ck);
	return ret;
}

static void cluster_destroy(struct bss_pr_store *s)
{
	struct cluster_store *cs = (struct cluster_store *)s;

	if (cs->ops->destroy)
		cs->ops->destroy(cs->priv);
	free(cs);
}

static const struct bss_pr_store_ops g_cluster_store_ops = {
	.name = "cluster",
	.load = cluster_load,
	.commit = cluster_commit,
	.validate = cluster_validate,
	.validate_async = cluster_validate_async,
	.load_async = cluster_load_async,
	.commit_async = cluster_commit_async,
	.destroy = cluster_destroy,
};

struct bss_pr_store *bss_pr_cluster_store_create(const struct bss_pr_attr_ops *ops, void *priv,
						 const char *prefix)
{
	struct cluster_store *cs;

	if (!prefix[0] || strlen(prefix) >= sizeof(cs->prefix)) {
		errno = EINVAL;
		return NULL;
	}
	cs = calloc(1, sizeof(*cs));
	if (!cs)
		return NULL;
	cs->base.ops = &g_cluster_store_ops;
	cs->ops = ops;
	cs->priv = priv;
	memcpy(cs->prefix, prefix, strlen(prefix) + 1);
	return &cs->base;
}
