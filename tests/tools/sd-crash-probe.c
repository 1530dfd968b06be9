// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd-crash-probe: drives sd-crash.so in its own tests
 * (tests/bats/sheep_powerloss.bats).  Runs its arguments as steps in DIR,
 * each step exactly one call the shim counts:
 *
 *   new NAME          create NAME (O_CREAT|O_EXCL)
 *   w NAME OFF TEXT   pwrite TEXT at OFF
 *   ds NAME           fdatasync NAME
 *   dirsync           fsync DIR
 *   mv OLD NEW        rename
 *   rm NAME           unlink
 *   trunc NAME LEN    ftruncate
 *
 * so SD_CRASH_AT=K cuts the power just before step K.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int dfd;

static int open_name(const char *name, int flags)
{
	int fd = openat(dfd, name, flags | O_CLOEXEC, 0644);

	if (fd < 0) {
		perror(name);
		exit(1);
	}
	return fd;
}

static void check(int r, const char *what)
{
	if (r < 0) {
		perror(what);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	int i = 2, fd;

	if (argc < 2) {
		fprintf(stderr, "usage: sd-crash-probe DIR STEP...\n");
		return 2;
	}
	dfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	check(dfd, argv[1]);
	while (i < argc) {
		const char *s = argv[i++];

		if (!strcmp(s, "new") && i < argc) {
			close(open_name(argv[i++], O_RDWR | O_CREAT | O_EXCL));
		} else if (!strcmp(s, "w") && i + 2 < argc) {
			fd = open_name(argv[i], O_RDWR);
			check((int)pwrite(fd, argv[i + 2], strlen(argv[i + 2]),
					  strtoll(argv[i + 1], NULL, 0)),
			      "pwrite");
			close(fd);
			i += 3;
		} else if (!strcmp(s, "ds") && i < argc) {
			fd = open_name(argv[i++], O_RDONLY);
			check(fdatasync(fd), "fdatasync");
			close(fd);
		} else if (!strcmp(s, "dirsync")) {
			check(fsync(dfd), "fsync dir");
		} else if (!strcmp(s, "mv") && i + 1 < argc) {
			check(renameat(dfd, argv[i], dfd, argv[i + 1]), "rename");
			i += 2;
		} else if (!strcmp(s, "rm") && i < argc) {
			check(unlinkat(dfd, argv[i++], 0), "unlink");
		} else if (!strcmp(s, "trunc") && i + 1 < argc) {
			fd = open_name(argv[i], O_RDWR);
			check(ftruncate(fd, strtoll(argv[i + 1], NULL, 0)), "ftruncate");
			close(fd);
			i += 2;
		} else {
			fprintf(stderr, "sd-crash-probe: bad step %s\n", s);
			return 2;
		}
	}
	return 0;
}
