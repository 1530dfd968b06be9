/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fixture of the sheep unit tests: a store and its vdi table in a fresh
 * temporary directory, torn down with everything in it.
 */
#ifndef SHEEP_FIXTURE_H
#define SHEEP_FIXTURE_H

#include "sheep.h"

extern char g_dir[256];
extern struct sheep_store g_st;
extern struct sheep_vdi g_vdi;

/* Make /tmp/NAME.XXXXXX, open a store there and rebuild its vdi table; exits on failure. */
void sheep_fixture_setup(const char *name);
/* Close both and remove the directory. */
void sheep_fixture_teardown(void);
/* Two different names "nN" with the same 24-bit name hash (start vid), into a and b. */
void sheep_fixture_collision(char *a, char *b, size_t len);

#endif
