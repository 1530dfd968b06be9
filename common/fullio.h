/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one "move every byte" loop, shared by the socket helpers (net.c) and
 * sheep's object store (pread/pwrite at an offset).  Not installed.
 */
#ifndef SD_COMMON_FULLIO_H
#define SD_COMMON_FULLIO_H

#include <stddef.h>
#include <stdint.h>

enum sdc_io_op {
	SDC_IO_READ,   /* read(2) */
	SDC_IO_SEND,   /* send(2) with MSG_NOSIGNAL: no SIGPIPE on a dead peer */
	SDC_IO_PREAD,  /* pread(2) at off */
	SDC_IO_PWRITE, /* pwrite(2) at off */
};

/*
 * Transfer exactly len bytes between fd and buf (off advances for the
 * positioned ops, ignored otherwise), retrying short transfers and EINTR.
 * Returns 0, -errno, or eof_err when a transfer moves nothing (end of file,
 * peer closed) before len bytes are done.
 */
int sdc_full_io(int fd, enum sdc_io_op op, void *buf, size_t len, uint64_t off, int eof_err);

#endif
