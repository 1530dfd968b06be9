// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "fullio.h"

static ssize_t io_step(int fd, enum sdc_io_op op, char *p, size_t len, uint64_t off)
{
	switch (op) {
	case SDC_IO_READ: return read(fd, p, len);
	case SDC_IO_SEND: return send(fd, p, len, MSG_NOSIGNAL);
	case SDC_IO_PREAD: return pread(fd, p, len, (off_t)off);
	case SDC_IO_PWRITE: return pwrite(fd, p, len, (off_t)off);
	}
	errno = EINVAL;
	return -1;
}

int sdc_full_io(int fd, enum sdc_io_op op, void *buf, size_t len, uint64_t off, int eof_err)
{
	char *p = buf;

	while (len) {
		ssize_t n = io_step(fd, op, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return eof_err;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}
