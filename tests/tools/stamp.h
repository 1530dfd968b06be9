/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * stamp.h: the block format of the reliability checkers (issue 12).
 *
 * Every 512-byte block a checker writes says which block it is, which write
 * put it there and whether it arrived whole:
 *
 *   off   0  u64  STAMP_MAGIC
 *   off   8  u64  lba          the 512-byte block number on the volume
 *   off  16  u64  generation   the checker's write that wrote it (>= 1)
 *   off  24  u64  seed         the run's seed
 *   off  32  ...  filler       a function of (lba, generation, seed)
 *   off 504  u64  checksum     FNV-1a 64 of bytes 0..503
 *
 * all little-endian.  A block of nothing but zeros is generation 0: never
 * written.  stamp_check() tells a block's generation, or that the block is
 * torn or foreign (wrong magic, lba, seed, filler or checksum): a torn block
 * is always a failure, since a 512-byte block is written whole or not at all
 * (SCSI's atomicity unit here).
 *
 * Which generation a block may legally hold is the checker's business (it
 * knows what it sent, what was acknowledged and what was flushed); the rule
 * the checkers use, for a block whose writes never overlap in time:
 * with a the generation of the last acknowledged write of the block (0 if
 * none) and U the generations of its writes issued after that one and never
 * acknowledged, the block must hold a or one of U.  Where only flushed writes
 * are promised (a write-back cache that lost its dirty data, a power loss),
 * a is the last write acknowledged before the last successful flush, and
 * every write issued after it, acknowledged or not, joins U.
 */
#ifndef SD_TESTS_STAMP_H
#define SD_TESTS_STAMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define STAMP_BLOCK 512
#define STAMP_MAGIC UINT64_C(0x3150414d54534453) /* "SDSTAMP1" */

enum stamp_verdict {
	STAMP_OK,      /* *gen holds the block's generation (0: zeros) */
	STAMP_TORN,    /* checksum or filler wrong: a partial block */
	STAMP_FOREIGN, /* intact, but another block's, run's or no stamp */
};

static inline void stamp_put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t stamp_get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline uint64_t stamp_fnv(const unsigned char *p, size_t len)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * UINT64_C(0x100000001b3);
	return h;
}

/* The filler's bytes: a xorshift stream keyed by the header. */
static inline void stamp_filler(unsigned char *p, uint64_t lba, uint64_t gen, uint64_t seed)
{
	uint64_t x = (lba * UINT64_C(0x9e3779b97f4a7c15)) ^ (gen << 17) ^ seed;

	x |= 1;
	for (int off = 32; off < 504; off += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		stamp_put64(p + off, x);
	}
}

/* Fill one 512-byte block; gen must be >= 1. */
static inline void stamp_fill(unsigned char *blk, uint64_t lba, uint64_t gen, uint64_t seed)
{
	stamp_put64(blk, STAMP_MAGIC);
	stamp_put64(blk + 8, lba);
	stamp_put64(blk + 16, gen);
	stamp_put64(blk + 24, seed);
	stamp_filler(blk, lba, gen, seed);
	stamp_put64(blk + 504, stamp_fnv(blk, 504));
}

static inline enum stamp_verdict stamp_check(const unsigned char *blk, uint64_t lba, uint64_t seed,
					     uint64_t *gen)
{
	unsigned char want[STAMP_BLOCK];
	bool zero = true;

	for (int i = 0; i < STAMP_BLOCK && zero; i++)
		zero = blk[i] == 0;
	if (zero) {
		*gen = 0;
		return STAMP_OK;
	}
	if (stamp_get64(blk + 504) != stamp_fnv(blk, 504))
		return STAMP_TORN;
	if (stamp_get64(blk) != STAMP_MAGIC || stamp_get64(blk + 8) != lba ||
	    stamp_get64(blk + 24) != seed || stamp_get64(blk + 16) == 0)
		return STAMP_FOREIGN;
	*gen = stamp_get64(blk + 16);
	stamp_fill(want, lba, *gen, seed);
	return memcmp(want, blk, STAMP_BLOCK) ? STAMP_TORN : STAMP_OK;
}

#endif
