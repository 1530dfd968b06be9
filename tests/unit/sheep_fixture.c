// SPDX-License-Identifier: GPL-2.0-or-later
/* The sheep unit tests' store + vdi table fixture (sheep_fixture.h). */
#include <stdio.h>
#include <stdlib.h>

#include "sheep_fixture.h"

char g_dir[256];
struct sheep_store g_st;
struct sheep_vdi g_vdi;

void sheep_fixture_setup(const char *name)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/%s.XXXXXX", name);
	if (!mkdtemp(g_dir) || sheep_store_open(&g_st, g_dir, 1) || sheep_vdi_init(&g_vdi, &g_st) ||
	    sheep_vdi_rebuild(&g_vdi)) {
		fprintf(stderr, "setup failed\n");
		exit(1);
	}
}

void sheep_fixture_teardown(void)
{
	char cmd[300];

	sheep_vdi_destroy(&g_vdi);
	sheep_store_close(&g_st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", g_dir);
}

void sheep_fixture_collision(char *a, char *b, size_t len)
{
	uint32_t *seen = calloc(SD_NR_VDIS, sizeof(*seen)), i;

	if (!seen)
		exit(1);
	for (i = 1;; i++) {
		char name[32];
		uint32_t h;

		snprintf(name, sizeof(name), "n%u", i);
		h = sd_hash_vdi(name);
		if (seen[h]) {
			snprintf(a, len, "n%u", seen[h]);
			snprintf(b, len, "%s", name);
			break;
		}
		seen[h] = i;
	}
	free(seen);
}
