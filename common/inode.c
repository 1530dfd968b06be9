// SPDX-License-Identifier: GPL-2.0-or-later
/* The inode header decoder (codec.h), shared by the library and dog. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "codec.h"

int sdc_inode_decode(const struct sd_inode_header *h, struct sdc_inode_geom *g)
{
	unsigned shift = h->block_size_shift ? h->block_size_shift : SD_DEFAULT_BLOCK_SIZE_SHIFT;
	uint64_t nr;

	if (h->store_policy != SD_STORE_POLICY_FLAT)
		return -ENOTSUP;
	if (shift < SD_MIN_BLOCK_SIZE_SHIFT || shift > SD_MAX_BLOCK_SIZE_SHIFT)
		return -EINVAL;
	/* no (size + obj_size - 1): a vdi_size near 2^64 must not wrap to 0 */
	nr = (h->vdi_size >> shift) + !!(h->vdi_size & ((UINT64_C(1) << shift) - 1));
	g->shift = shift;
	g->obj_size = UINT32_C(1) << shift;
	if (nr > SD_INODE_DATA_INDEX) {
		g->nr_objs = SD_INODE_DATA_INDEX;
		return -EFBIG;
	}
	g->nr_objs = nr;
	return 0;
}

int sdc_inode_names_ok(const struct sd_inode_header *h)
{
	return memchr(h->name, 0, sizeof(h->name)) && memchr(h->tag, 0, sizeof(h->tag));
}
