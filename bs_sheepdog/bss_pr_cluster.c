/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cluster PR state store: one LU's persistent reservation state kept in
 * sheepdog vdi attributes, so that every gateway exporting the vdi reads
 * and changes the same state (bsopt shared=1).  Written against a small
 * attribute table (struct bss_pr_attr_ops) so the unit test runs it over a
 * fake; bss_pr_tgt.c supplies the libsheepdog one.
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
 * Thread context: tgtd's main thread; every call is synchronous on the
 * attribute table.
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

struct cluster_store {
	struct bss_pr_store base;
	const struct bss_pr_attr_ops *ops;
	void *priv;
	char prefix[CLUSTER_KEYLEN - 24];
	uint8_t val[VERSION_BYTES + BSS_PR_BLOB_MAX];
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
 * Read version n into cs->val: the blob length (>= 0), -EAGAIN if it was
 * pruned, -ENOENT if it never existed, -EIO if the value is not version n,
 * other negative errnos from the table.
 */
static int read_version(struct cluster_store *cs, uint64_t n)
{
	char key[CLUSTER_KEYLEN];
	int ret;

	key_of(cs, n, key);
	ret = cs->ops->get(cs->priv, key, cs->val, sizeof(cs->val));
	if (ret < 0)
		return ret;
	if (ret < VERSION_BYTES || ret > (int)sizeof(cs->val) || get_u64(cs->val) != n)
		return -EIO;
	return ret == VERSION_BYTES ? -EAGAIN : ret - VERSION_BYTES;
}

static int cluster_load(struct bss_pr_store *s, uint8_t *buf, size_t size, size_t *len,
			uint64_t *version)
{
	struct cluster_store *cs = (struct cluster_store *)s;
	char key[CLUSTER_KEYLEN];
	uint8_t head[VERSION_BYTES];
	uint64_t c = 1, n = 0; /* c: next key to read; n: newest read whole */
	int ret, probes = 0, jumped = 0;
	size_t blob_len = 0;

	snprintf(key, sizeof(key), "%s.head", cs->prefix);
	ret = cs->ops->get(cs->priv, key, head, sizeof(head));
	if (ret == VERSION_BYTES && get_u64(head))
		c = get_u64(head);
	else if (ret != -ENOENT && ret < 0)
		return ret;
	/* a malformed hint is ignored: the versions themselves decide */

	for (;;) {
		if (++probes > MAX_PROBES)
			return -ELOOP;
		ret = read_version(cs, c);
		if (ret >= 0) {
			if ((size_t)ret > size)
				return -EOVERFLOW;
			memcpy(buf, cs->val + VERSION_BYTES, (size_t)ret);
			blob_len = (size_t)ret;
			n = c++;
			jumped = 0;
			continue;
		}
		if (ret == -EAGAIN) {
			/* pruned by the commit of c + KEEP, which exists */
			c += KEEP;
			jumped = 1;
			continue;
		}
		if (ret != -ENOENT)
			return ret;
		if (jumped)
			return -EIO; /* c - KEEP was pruned, yet c never existed */
		if (n + 1 == c)
			break; /* c never existed: n is the newest (0: empty) */
		/* the hint names a version that never existed: ignore it */
		c = 1;
		n = 0;
	}
	*len = n ? blob_len : 0;
	*version = n;
	return 0;
}

static int cluster_commit(struct bss_pr_store *s, const uint8_t *buf, size_t len, uint64_t expect,
			  uint64_t *version)
{
	struct cluster_store *cs = (struct cluster_store *)s;
	char key[CLUSTER_KEYLEN];
	uint64_t n = expect + 1;
	int ret;

	if (len > BSS_PR_BLOB_MAX)
		return -EINVAL;
	put_u64(cs->val, n);
	memcpy(cs->val + VERSION_BYTES, buf, len);
	key_of(cs, n, key);
	ret = cs->ops->set(cs->priv, key, cs->val, VERSION_BYTES + len, 1);
	if (ret == -EEXIST)
		return -ESTALE;
	if (ret)
		return ret;
	*version = n;

	/* Best effort from here: the state is committed. */
	snprintf(key, sizeof(key), "%s.head", cs->prefix);
	cs->ops->set(cs->priv, key, cs->val, VERSION_BYTES, 0);
	if (n > KEEP) {
		put_u64(cs->val, n - KEEP);
		key_of(cs, n - KEEP, key);
		cs->ops->set(cs->priv, key, cs->val, VERSION_BYTES, 0);
	}
	return 0;
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
