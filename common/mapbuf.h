/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Buffers of megabytes that must go back to the system when freed: each is
 * a private anonymous mapping of its own, its length kept in front of it.
 * glibc's malloc keeps freed blocks this size in its heap once its mmap
 * threshold has grown past them (it grows with every large free), so a
 * daemon that allocates and frees them by the thousand (the library's
 * inode reloads, the gateway cache's unit buffers) would only ever grow.
 * Not installed.
 */
#ifndef SD_COMMON_MAPBUF_H
#define SD_COMMON_MAPBUF_H

#include <stddef.h>

/* len bytes, zero-filled, aligned to 64; NULL if the mapping failed. */
void *sdc_map_alloc(size_t len);
/* NULL is ignored. */
void sdc_map_free(void *buf);

#endif
