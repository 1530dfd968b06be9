/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pure helpers of the gateway object cache (bss_cache.c): chunk bitmaps,
 * the cache directory's name and its state file.  No tgt dependency
 * (unit-tested in bs_sheepdog/tests/test_bss_cache.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bss_cache.h"

void bss_bm_set(uint64_t *bm, unsigned int first, unsigned int last)
{
	unsigned int i;

	for (i = first; i <= last; i++)
		bm[i / 64] |= UINT64_C(1) << (i % 64);
}

int bss_bm_test(const uint64_t *bm, unsigned int i)
{
	return !!(bm[i / 64] & (UINT64_C(1) << (i % 64)));
}

unsigned int bss_bm_count(const uint64_t *bm, unsigned int nbits)
{
	unsigned int i, n = 0;

	for (i = 0; i < (nbits + 63) / 64; i++)
		n += (unsigned int)__builtin_popcountll(bm[i]);
	return n;
}

int bss_bm_next_run(const uint64_t *bm, unsigned int nbits, unsigned int *pos, unsigned int *len)
{
	unsigned int i = *pos, start;

	while (i < nbits && !bss_bm_test(bm, i))
		i++;
	if (i >= nbits)
		return 0;
	start = i;
	while (i < nbits && bss_bm_test(bm, i))
		i++;
	*pos = start;
	*len = i - start;
	return 1;
}

void bss_cache_dir_name(uint64_t ctime, const char *vdi, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t n;

	n = (size_t)snprintf(out, outlen, "%016" PRIx64 "-", ctime);
	for (; *vdi && n + 4 < outlen; vdi++) {
		unsigned char c = (unsigned char)*vdi;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-') {
			/* a leading '.' would hide the directory; "." and ".." would be no name */
			if (c == '.' && out[n - 1] == '-') {
				out[n++] = '%';
				out[n++] = hex[c >> 4];
				out[n++] = hex[c & 15];
				continue;
			}
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
}

int bss_cache_state_format(const struct bss_cache_state *st, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s\nversion %u\nunit %u\nvdi %s\nboot_id %s\nclean %u\n",
			 BSS_CACHE_MAGIC, BSS_CACHE_VERSION, st->unit, st->vdi, st->boot_id,
			 st->clean);

	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

/* The value after "key " on its own line of buf, copied to out. */
static int bss_state_field(const char *buf, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	const char *p = buf, *end;

	while (p && *p) {
		if (!strncmp(p, key, klen) && p[klen] == ' ') {
			p += klen + 1;
			end = strchr(p, '\n');
			if (!end || (size_t)(end - p) >= outlen)
				return -EINVAL;
			memcpy(out, p, (size_t)(end - p));
			out[end - p] = '\0';
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -EINVAL;
}

int bss_cache_state_parse(const char *buf, struct bss_cache_state *st)
{
	char num[32], *end;
	unsigned long v;

	memset(st, 0, sizeof(*st));
	if (strncmp(buf, BSS_CACHE_MAGIC "\n", sizeof(BSS_CACHE_MAGIC)))
		return -EINVAL;
	if (bss_state_field(buf, "version", num, sizeof(num)) ||
	    strtoul(num, NULL, 10) != BSS_CACHE_VERSION)
		return -EINVAL;
	if (bss_state_field(buf, "unit", num, sizeof(num)))
		return -EINVAL;
	v = strtoul(num, &end, 10);
	if (*end || v < BSS_CACHE_CHUNK || v > BSS_CACHE_MAX_UNIT || v % BSS_CACHE_CHUNK)
		return -EINVAL;
	st->unit = (uint32_t)v;
	if (bss_state_field(buf, "vdi", st->vdi, sizeof(st->vdi)) ||
	    bss_state_field(buf, "boot_id", st->boot_id, sizeof(st->boot_id)) ||
	    bss_state_field(buf, "clean", num, sizeof(num)))
		return -EINVAL;
	if (strcmp(num, "0") && strcmp(num, "1"))
		return -EINVAL;
	st->clean = num[0] == '1';
	return 0;
}
