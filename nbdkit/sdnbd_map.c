/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The extent walk: an allocation map turned into NBD block status. */
#include <errno.h>

#include "sdnbd.h"

int sdnbd_map(uint64_t offset, uint64_t count, int req_one, uint32_t hole_type,
	      sdnbd_allocated_fn allocated, void *aopaque, sdnbd_add_fn add, void *addopaque)
{
	uint64_t pos = offset, end = offset + count, run, len;
	int a;

	/* each pass advances by at least one byte: at most count passes,
	 * in practice one per change of state (runs are whole objects) */
	while (pos < end) {
		run = 0;
		a = allocated(aopaque, pos, &run);
		if (a < 0)
			return a;
		if (!run)
			return -EIO;
		len = run < end - pos ? run : end - pos;
		if (add(addopaque, pos, len, a ? 0 : hole_type))
			return 1;
		if (req_one)
			break;
		pos += len;
	}
	return 0;
}
