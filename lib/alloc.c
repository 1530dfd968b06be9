// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Every allocation of the library goes through here, so tests can make the
 * nth one fail (SQLite-style fault injection) and count leaks.  The counters
 * are thread-local: a handle belongs to one thread, and tests inject faults
 * only in their own thread.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mapbuf.h"
#include "sdl_alloc.h"

static _Thread_local long g_fail_countdown;
static _Thread_local long g_live;
static _Thread_local long g_calls;
static _Thread_local long g_injected;

static int sdl_alloc_should_fail(void)
{
	g_calls++;
	if (g_fail_countdown > 0 && --g_fail_countdown == 0) {
		g_injected++;
		return 1;
	}
	return 0;
}

void *sdl_malloc(size_t size)
{
	void *p;

	if (sdl_alloc_should_fail())
		return NULL;
	p = malloc(size ? size : 1);
	if (p)
		g_live++;
	return p;
}

void *sdl_calloc(size_t n, size_t size)
{
	void *p;

	if (sdl_alloc_should_fail())
		return NULL;
	p = calloc(n ? n : 1, size ? size : 1);
	if (p)
		g_live++;
	return p;
}

void *sdl_realloc(void *p, size_t size)
{
	if (!p)
		return sdl_malloc(size);
	if (sdl_alloc_should_fail())
		return NULL;
	return realloc(p, size ? size : 1);
}

void sdl_free(void *p)
{
	if (!p)
		return;
	g_live--;
	free(p);
}

/*
 * Large transient buffers (an inode reload's 4 MiB) are mapped per use:
 * freed, they go back to the kernel at once.  From malloc, glibc keeps
 * freed multi-megabyte blocks in its heap once its dynamic mmap threshold
 * has grown past them, and the application's RSS keeps the high-water
 * mark of every reload that ever overlapped.
 */
void *sdl_malloc_big(size_t size)
{
	void *p;

	if (sdl_alloc_should_fail())
		return NULL;
	p = sdc_map_alloc(size);
	if (p)
		g_live++;
	return p;
}

void sdl_free_big(void *block)
{
	if (!block)
		return;
	g_live--;
	sdc_map_free(block);
}

void sdl_alloc_fail_nth(long nth)
{
	g_fail_countdown = nth > 0 ? nth : 0;
}

long sdl_alloc_live(void)
{
	return g_live;
}

long sdl_alloc_calls(void)
{
	return g_calls;
}

long sdl_alloc_injected(void)
{
	return g_injected;
}
