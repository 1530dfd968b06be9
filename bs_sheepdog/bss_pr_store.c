/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PR state as a blob, and the in-memory state store.
 *
 * Blob layout (big-endian), at most BSS_PR_BLOB_MAX bytes, so it fits one
 * sheepdog vdi attribute value (64 KiB) when a cluster store keeps it:
 *
 *   0  "BSPR"        magic
 *   4  u16 1         format version
 *   6  u16 0         reserved
 *   8  u32           PRgeneration
 *   12 u8            type (0: no reservation)
 *   13 u8            scope
 *   14 u8            holder index, 0xff for none / all-registrants
 *   15 u8            number of registrations (<= BSS_PR_MAX_REGS)
 *   16 u32           LUN resets published by the gateways (0 in blobs of
 *                    gateways that predate it: they ignored these bytes)
 *   20 4 bytes 0     reserved
 *   24 per registration: u64 key, u16 n + n bytes initiator port name,
 *                        u16 m + m bytes target port name (no NULs)
 *
 * decode accepts exactly this (nothing after the last registration, names
 * shorter than BSS_PR_PORT_LEN, a holder only for the one-holder types, no
 * nexus registered twice) and nothing else.
 */
#include "bss_pr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BLOB_MAGIC   "BSPR"
#define BLOB_VERSION 1
#define BLOB_HDR     24

static void wr_be(uint8_t *p, uint64_t v, int n)
{
	while (n--) {
		p[n] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t rd_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

static size_t wr_name(uint8_t *p, const char *s)
{
	size_t n = strnlen(s, BSS_PR_PORT_LEN - 1);

	wr_be(p, n, 2);
	memcpy(p + 2, s, n);
	return 2 + n;
}

size_t bss_pr_encode(const struct bss_pr_state *st, uint8_t *buf)
{
	size_t off = BLOB_HDR;
	unsigned int i;

	memset(buf, 0, BLOB_HDR);
	memcpy(buf, BLOB_MAGIC, 4);
	wr_be(buf + 4, BLOB_VERSION, 2);
	wr_be(buf + 8, st->generation, 4);
	buf[12] = st->type;
	buf[13] = st->scope;
	buf[14] = st->holder < 0 ? 0xff : (uint8_t)st->holder;
	buf[15] = (uint8_t)st->nr_regs;
	wr_be(buf + 16, st->resets, 4);
	for (i = 0; i < st->nr_regs; i++) {
		wr_be(buf + off, st->regs[i].key, 8);
		off += 8;
		off += wr_name(buf + off, st->regs[i].nexus.initiator);
		off += wr_name(buf + off, st->regs[i].nexus.target);
	}
	return off;
}

static int rd_name(const uint8_t *buf, size_t len, size_t *off, char *out)
{
	size_t n;

	if (len - *off < 2)
		return -EINVAL;
	n = (size_t)rd_be(buf + *off, 2);
	*off += 2;
	if (n >= BSS_PR_PORT_LEN || len - *off < n || memchr(buf + *off, 0, n))
		return -EINVAL;
	memcpy(out, buf + *off, n);
	out[n] = 0;
	*off += n;
	return 0;
}

int bss_pr_decode(const uint8_t *buf, size_t len, struct bss_pr_state *st)
{
	size_t off = BLOB_HDR;
	unsigned int i, t;
	int one_holder;

	bss_pr_state_init(st);
	if (len < BLOB_HDR || memcmp(buf, BLOB_MAGIC, 4) || rd_be(buf + 4, 2) != BLOB_VERSION)
		return -EINVAL;
	st->generation = (uint32_t)rd_be(buf + 8, 4);
	st->type = buf[12];
	st->scope = buf[13];
	st->nr_regs = buf[15];
	st->resets = (uint32_t)rd_be(buf + 16, 4);
	t = st->type;
	if (st->nr_regs > BSS_PR_MAX_REGS || st->scope != 0)
		goto bad;
	if (t && t != BSS_PR_WE && t != BSS_PR_EA && t != BSS_PR_WE_RO && t != BSS_PR_EA_RO &&
	    t != BSS_PR_WE_AR && t != BSS_PR_EA_AR)
		goto bad;
	one_holder = t && t != BSS_PR_WE_AR && t != BSS_PR_EA_AR;
	if (one_holder ? buf[14] >= st->nr_regs : buf[14] != 0xff)
		goto bad;
	if (t && !st->nr_regs)
		goto bad;
	st->holder = one_holder ? buf[14] : -1;
	for (i = 0; i < st->nr_regs; i++) {
		struct bss_pr_reg *reg = &st->regs[i];

		if (len - off < 8)
			goto bad;
		reg->key = rd_be(buf + off, 8);
		off += 8;
		if (rd_name(buf, len, &off, reg->nexus.initiator) ||
		    rd_name(buf, len, &off, reg->nexus.target))
			goto bad;
		if (bss_pr_find(st, &reg->nexus) != (int)i) /* registered twice */
			goto bad;
	}
	if (off != len)
		goto bad;
	return 0;
bad:
	bss_pr_state_init(st);
	return -EINVAL;
}

/* ---- in-memory store ----------------------------------------------------- */

struct mem_store {
	struct bss_pr_store base;
	uint8_t *blob;
	size_t len;
	uint64_t version;
};

static int mem_load(struct bss_pr_store *s, uint8_t *buf, size_t size, size_t *len,
		    uint64_t *version)
{
	struct mem_store *m = (struct mem_store *)s;

	if (m->len > size)
		return -EOVERFLOW;
	if (m->len)
		memcpy(buf, m->blob, m->len);
	*len = m->len;
	*version = m->version;
	return 0;
}

static int mem_commit(struct bss_pr_store *s, const uint8_t *buf, size_t len, uint64_t expect,
		      uint64_t *version)
{
	struct mem_store *m = (struct mem_store *)s;
	uint8_t *copy;

	if (expect != m->version)
		return -ESTALE;
	if (len > BSS_PR_BLOB_MAX)
		return -EINVAL;
	copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, buf, len);
	free(m->blob);
	m->blob = copy;
	m->len = len;
	*version = ++m->version;
	return 0;
}

static void mem_destroy(struct bss_pr_store *s)
{
	struct mem_store *m = (struct mem_store *)s;

	free(m->blob);
	free(m);
}

static const struct bss_pr_store_ops g_mem_store_ops = {
	.name = "memory",
	.load = mem_load,
	.commit = mem_commit,
	.destroy = mem_destroy,
};

struct bss_pr_store *bss_pr_mem_store_create(void)
{
	struct mem_store *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->base.ops = &g_mem_store_ops;
	return &m->base;
}
