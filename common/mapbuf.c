/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "mapbuf.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

/* the mapping's length, in front of the block (keeps it 64-aligned) */
#define SDC_MAP_HDR 64

void *sdc_map_alloc(size_t len)
{
	size_t maplen = SDC_MAP_HDR + len;
	char *p;

	if (len > SIZE_MAX - SDC_MAP_HDR)
		return NULL;
	p = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	memcpy(p, &maplen, sizeof(maplen));
	return p + SDC_MAP_HDR;
}

void sdc_map_free(void *buf)
{
	char *p = buf;
	size_t maplen;

	if (!p)
		return;
	p -= SDC_MAP_HDR;
	memcpy(&maplen, p, sizeof(maplen));
	munmap(p, maplen);
}
