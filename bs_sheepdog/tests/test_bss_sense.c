/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests: libsheepdog errno -> SCSI sense mapping. */
#include <errno.h>
#include <stdio.h>

#include "../bss_sense.h"
#include "../../tests/unit/sdl_check.h"

int g_check_failed;

static void expect(int err, int is_write, uint8_t key, uint16_t asc)
{
	struct bss_sense s = bss_errno_to_sense(err, is_write);

	if (s.key != key || s.asc != asc)
		fprintf(stderr, "errno %d write %d: got %x/%04x, want %x/%04x\n", err, is_write,
			s.key, s.asc, key, asc);
	CHECK(s.key == key && s.asc == asc);
}

int main(void)
{
	expect(-EIO, 0, 0x03, 0x1100); /* MEDIUM ERROR / UNRECOVERED READ ERROR */
	expect(-EIO, 1, 0x03, 0x0c00); /* MEDIUM ERROR / WRITE ERROR */
	expect(-EPROTO, 0, 0x03, 0x1100);
	expect(-EPROTO, 1, 0x03, 0x0c00);
	expect(-EROFS, 1, 0x07, 0x2700);  /* DATA PROTECT / WRITE PROTECTED */
	expect(-ENOSPC, 1, 0x07, 0x2707); /* DATA PROTECT / SPACE ALLOC FAILED WP */
	expect(-ENOMEM, 0, 0x04, 0x4400); /* HARDWARE ERROR / INTERNAL TGT FAILURE */
	expect(-ENOMEM, 1, 0x04, 0x4400);
	expect(-ETIMEDOUT, 0, 0x0b, 0x0801); /* ABORTED COMMAND / LU COMM TIME-OUT */
	expect(-ETIMEDOUT, 1, 0x0b, 0x0801);
	expect(-ENOTCONN, 1, 0x0b, 0x0800); /* ABORTED COMMAND / LU COMM FAILURE */
	expect(-ECONNREFUSED, 0, 0x0b, 0x0800);
	expect(-ECONNRESET, 0, 0x0b, 0x0800);
	expect(-EAGAIN, 0, 0x0b, 0x0800);
	expect(-ECANCELED, 1, 0x0b, 0x0800);
	expect(-EINVAL, 0, 0x05, 0x2100);
	expect(-ENOENT, 0, 0x02, 0x3a00);
	expect(-ENODEV, 1, 0x02, 0x3a00);
	if (g_check_failed) {
		fprintf(stderr, "test_bss_sense: %d check(s) failed\n", g_check_failed);
		return 1;
	}
	printf("test_bss_sense: ok\n");
	return 0;
}
