/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The gateway object cache's pure helpers (bss_cache_util.c): no tgt
 * dependency, no allocation, any thread.  The cache itself is bss_cache.c
 * (its entry points are in bss.h).
 */
#ifndef BSS_CACHE_H
#define BSS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define BSS_CACHE_CHUNK	   4096u      /* dirty-tracking granularity */
#define BSS_CACHE_WPIECE   16384u     /* largest write into a unit file */
#define BSS_CACHE_MAX_UNIT (4u << 20) /* a unit is min(object size, this) */
#define BSS_CACHE_BM_WORDS (BSS_CACHE_MAX_UNIT / BSS_CACHE_CHUNK / 64)
#define BSS_CACHE_MAGIC	   "bss-cache"
#define BSS_CACHE_VERSION  1u

/* Bits [first, last] set; bit i's value; number of bits set among nbits. */

void bss_bm_set(uint64_t *bm, unsigned int first, unsigned int last);
int bss_bm_test(const uint64_t *bm, unsigned int i);
unsigned int bss_bm_count(const uint64_t *bm, unsigned int nbits);
/* The first run of set bits at or after *pos among nbits: 1 with the run
 * in *pos, *len; 0 if there is none. */
int bss_bm_next_run(const uint64_t *bm, unsigned int nbits, unsigned int *pos, unsigned int *len);

/* "<16 hex digits of ctime>-<vdi, [A-Za-z0-9._-] kept, others %XX>" in
 * out (cut to fit outlen, always NUL-terminated; outlen >= 20). */
void bss_cache_dir_name(uint64_t ctime, const char *vdi, char *out, size_t outlen);

/* The `state` file: text lines "bss-cache", "version 1", "unit N",
 * "vdi NAME", "boot_id ID", "clean 0|1". */
struct bss_cache_state {
	uint32_t unit; /* bytes */
	char vdi[256];
	char boot_id[64];
	unsigned int clean; /* 1: closed cleanly, nothing dirty */
};
/* Bytes written (without NUL) or -ENOSPC. */
int bss_cache_state_format(const struct bss_cache_state *st, char *buf, size_t len);
/* buf NUL-terminated.  0, or -EINVAL if any field is missing or bad. */
int bss_cache_state_parse(const char *buf, struct bss_cache_state *st);

#endif
