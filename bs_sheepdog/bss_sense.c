/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libsheepdog errno -> SCSI sense; the table is in bss_sense.h. */
#include <errno.h>

#include "bss_sense.h"

struct bss_sense bss_errno_to_sense(int err, int is_write)
{
	struct bss_sense s;

	switch (err) {
	case -EROFS:
		s.key = BSS_KEY_DATA_PROTECT;
		s.asc = BSS_ASC_WRITE_PROTECTED;
		break;
	case -ENOSPC:
		s.key = BSS_KEY_DATA_PROTECT;
		s.asc = BSS_ASC_SPACE_ALLOC_FAILED_WP;
		break;
	case -ENOMEM:
		s.key = BSS_KEY_HARDWARE_ERROR;
		s.asc = BSS_ASC_INTERNAL_TGT_FAILURE;
		break;
	case -ETIMEDOUT:
		s.key = BSS_KEY_ABORTED_COMMAND;
		s.asc = BSS_ASC_COMM_TIMEOUT;
		break;
	case -ENOTCONN:
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -ECONNABORTED:
	case -EPIPE:
	case -EAGAIN:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -ECANCELED:
		s.key = BSS_KEY_ABORTED_COMMAND;
		s.asc = BSS_ASC_COMM_FAILURE;
		break;
	case -EINVAL:
		s.key = BSS_KEY_ILLEGAL_REQUEST;
		s.asc = BSS_ASC_LBA_OUT_OF_RANGE;
		break;
	case -ENOENT:
	case -ENODEV:
		s.key = BSS_KEY_NOT_READY;
		s.asc = BSS_ASC_MEDIUM_NOT_PRESENT;
		break;
	default:
		s.key = BSS_KEY_MEDIUM_ERROR;
		s.asc = is_write ? BSS_ASC_WRITE_ERROR : BSS_ASC_UNRECOVERED_READ;
		break;
	}
	return s;
}
