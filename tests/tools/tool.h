/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tool.h: what the test tools share: a monotonic clock in seconds, the
 * 64-bit mixer behind their pseudo-random streams (and splitmix64's
 * stream itself), and the data pattern of
 * iscsi-io and iscsi-luns (every 512-byte block a function of its block
 * number and a seed, so that any block read back can be checked alone).
 */
#ifndef TOOL_H
#define TOOL_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#define TOOL_PATTERN_BLOCK 512

static inline double tool_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define TOOL_MIX_STEP 0x9e3779b97f4a7c15ULL

/* splitmix64's step: a bijection that spreads every input bit */
static inline uint64_t tool_mix(uint64_t x)
{
	x += TOOL_MIX_STEP;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* splitmix64: the next number of the stream whose state is *state */
static inline uint64_t tool_next(uint64_t *state)
{
	uint64_t x = tool_mix(*state);

	*state += TOOL_MIX_STEP;
	return x;
}

/* One block of the pattern: block number, seed, then a stream of both. */
static inline void tool_pattern_block(unsigned char *p, uint64_t blk, uint64_t seed)
{
	uint64_t s = tool_mix(seed ^ tool_mix(blk));
	uint64_t w[TOOL_PATTERN_BLOCK / 8];
	size_t i;

	w[0] = blk;
	w[1] = seed;
	for (i = 2; i < TOOL_PATTERN_BLOCK / 8; i++) {
		s = tool_mix(s);
		w[i] = s;
	}
	memcpy(p, w, sizeof(w));
}

/* The pattern of [off, off + len), both multiples of the block. */
static inline void tool_pattern_fill(unsigned char *buf, uint64_t off, uint32_t len, uint64_t seed)
{
	uint32_t i;

	for (i = 0; i < len; i += TOOL_PATTERN_BLOCK)
		tool_pattern_block(buf + i, (off + i) / TOOL_PATTERN_BLOCK, seed);
}

#endif
