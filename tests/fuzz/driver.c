// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Replay driver: without libFuzzer, a fuzz target is this main() plus its
 * LLVMFuzzerTestOneInput.  With no arguments it runs every file of
 * $SD_TOP_SRCDIR/tests/fuzz/{corpus,regress}/FUZZ_NAME/ (a unit test of
 * `make check`, so the ASan and valgrind phases replay the corpora too);
 * with arguments, each file named.  Exit 0 when every input returned, 1 if
 * none was found (a corpus that went missing must not pass silently).
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#ifndef FUZZ_NAME
#error "FUZZ_NAME must name the corpus folder of the target"
#endif

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f) {
		perror(path);
		return -1;
	}
	for (;;) {
		if (len == cap) {
			uint8_t *nb = realloc(buf, cap ? cap * 2 : 4096);

			if (!nb) {
				free(buf);
				fclose(f);
				return -1;
			}
			buf = nb;
			cap = cap ? cap * 2 : 4096;
		}
		n = fread(buf + len, 1, cap - len, f);
		if (!n)
			break;
		len += n;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of dir, in name order; returns the count or -1. */
static int run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t nr = 0, i;
	int done = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char **nn;

		if (e->d_name[0] == '.')
			continue;
		nn = realloc(names, (nr + 1) * sizeof(*names));
		if (!nn)
			break;
		names = nn;
		names[nr] = strdup(e->d_name);
		if (names[nr])
			nr++;
	}
	closedir(d);
	qsort(names, nr, sizeof(*names), cmp_names);
	for (i = 0; i < nr; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (run_file(path) == 0)
			done++;
		else
			done = -1000000;
		free(names[i]);
	}
	free(names);
	return done;
}

int main(int argc, char **argv)
{
	const char *top = getenv("SD_TOP_SRCDIR");
	char dir[4096];
	int i, nr = 0, r;

	if (argc > 1) {
		for (i = 1; i < argc; i++)
			if (run_file(argv[i]))
				return 1;
		printf("%s: %d inputs\n", FUZZ_NAME, argc - 1);
		return 0;
	}
	if (!top)
		top = ".";
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", top, FUZZ_NAME);
	r = run_dir(dir);
	if (r <= 0) {
		fprintf(stderr, "%s: no corpus in %s\n", FUZZ_NAME, dir);
		return 1;
	}
	nr += r;
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/regress/%s", top, FUZZ_NAME);
	r = run_dir(dir);
	if (r < 0)
		return 1;
	nr += r;
	printf("%s: %d inputs replayed\n", FUZZ_NAME, nr);
	return 0;
}
