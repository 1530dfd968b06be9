// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target: the inode header decoder (common/inode.c,
 * sdc_inode_decode), which the library and dog run on every inode a sheep
 * returns before sizing anything from it.  The input is the header (missing
 * bytes are zero).  Checks the contract of codec.h: a decoded geometry is
 * in range and consistent with vdi_size, whatever the header says.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "codec.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sd_inode_header h;
	struct sdc_inode_geom g;
	struct fuzz_in in = { data, size };
	int r;

	fuzz_take(&in, &h, sizeof(h));
	memset(&g, 0, sizeof(g));
	r = sdc_inode_decode(&h, &g);
	assert(r == 0 || r == -ENOTSUP || r == -EINVAL || r == -EFBIG);
	if (r == 0 || r == -EFBIG) {
		assert(g.shift >= SD_MIN_BLOCK_SIZE_SHIFT && g.shift <= SD_MAX_BLOCK_SIZE_SHIFT);
		assert(g.obj_size == UINT32_C(1) << g.shift);
		assert(g.nr_objs <= SD_INODE_DATA_INDEX);
	}
	if (r == 0) {
		/* the objects cover the size, and no whole object more */
		assert(g.nr_objs * g.obj_size >= h.vdi_size);
		assert(!g.nr_objs || (g.nr_objs - 1) * g.obj_size < h.vdi_size);
	}
	if (r == -EFBIG)
		assert(h.vdi_size > (uint64_t)SD_INODE_DATA_INDEX * g.obj_size);
	if (sdc_inode_names_ok(&h))
		assert(strlen(h.name) < sizeof(h.name) && strlen(h.tag) < sizeof(h.tag));
	return 0;
}
