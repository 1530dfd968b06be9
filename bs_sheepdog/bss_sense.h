/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Map libsheepdog errors to SCSI sense data.  Pure, no tgt dependency
 * (unit-tested in bs_sheepdog/tests/test_bss_sense.c); thread context: any.
 *
 * The table (key / ASC+ASCQ):
 *   -EIO, and anything not listed   read:  MEDIUM ERROR / UNRECOVERED READ ERROR 0x1100
 *                                   write: MEDIUM ERROR / WRITE ERROR 0x0C00
 *   -EROFS (snapshot, read-only)    DATA PROTECT / WRITE PROTECTED 0x2700
 *   -ENOSPC                         DATA PROTECT / SPACE ALLOCATION FAILED
 *                                   WRITE PROTECT 0x2707
 *   -ENOMEM                         HARDWARE ERROR / INTERNAL TARGET FAILURE 0x4400
 *   -ETIMEDOUT (a sheep request     ABORTED COMMAND / LOGICAL UNIT
 *    outlived its timeout)          COMMUNICATION TIME-OUT 0x0801
 *   -ENOTCONN, -ECONNREFUSED,       ABORTED COMMAND / LOGICAL UNIT
 *    -ECONNRESET, -EPIPE, -EAGAIN,  COMMUNICATION FAILURE 0x0800
 *    -EHOSTUNREACH, -ENETUNREACH,
 *    -ECANCELED (cluster unreachable past the retry window, or the LUN
 *    was closed with the command pending)
 *   -EINVAL (range the cluster      ILLEGAL REQUEST / LBA OUT OF RANGE 0x2100
 *    refused, e.g. vdi shrank)
 *   -ENOENT (vdi deleted under us), NOT READY / MEDIUM NOT PRESENT 0x3A00
 *    -ENODEV (no vdi open, or the
 *    cluster is not formatted)
 *
 * Why ABORTED COMMAND for an unreachable cluster: it is the "transient,
 * retry the command" signal that initiators act on (Linux retries it, ESXi
 * too), whereas NOT READY with a non-0x04xx ASC makes Linux fail the I/O at
 * once.  The library already retried for the whole `retry` window.
 */
#ifndef BSS_SENSE_H
#define BSS_SENSE_H

#include <stdint.h>

/* SPC sense keys and ASC/ASCQ values used by the module. */
#define BSS_KEY_NOT_READY	0x02
#define BSS_KEY_MEDIUM_ERROR	0x03
#define BSS_KEY_HARDWARE_ERROR	0x04
#define BSS_KEY_ILLEGAL_REQUEST 0x05
#define BSS_KEY_DATA_PROTECT	0x07
#define BSS_KEY_ABORTED_COMMAND 0x0b
#define BSS_KEY_MISCOMPARE	0x0e

#define BSS_ASC_COMM_FAILURE	      0x0800
#define BSS_ASC_COMM_TIMEOUT	      0x0801
#define BSS_ASC_WRITE_ERROR	      0x0c00
#define BSS_ASC_UNRECOVERED_READ      0x1100
#define BSS_ASC_MISCOMPARE_VERIFY     0x1d00
#define BSS_ASC_PARAM_LIST_LENGTH     0x1a00
#define BSS_ASC_LBA_OUT_OF_RANGE      0x2100
#define BSS_ASC_INVALID_FIELD_CDB     0x2400
#define BSS_ASC_INVALID_FIELD_PARAM   0x2600
#define BSS_ASC_WRITE_PROTECTED	      0x2700
#define BSS_ASC_SPACE_ALLOC_FAILED_WP 0x2707
#define BSS_ASC_MEDIUM_NOT_PRESENT    0x3a00
#define BSS_ASC_INTERNAL_TGT_FAILURE  0x4400

struct bss_sense {
	uint8_t key;
	uint16_t asc; /* ASC << 8 | ASCQ, as tgt's sense_data_build() takes it */
};

/* err: a negative errno from libsheepdog; is_write: the failed part wrote. */
struct bss_sense bss_errno_to_sense(int err, int is_write);

#endif
