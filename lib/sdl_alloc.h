/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libsheepdog allocation wrapper (alloc.c), the bottom layer: every library
 * allocation goes through it so tests can fail the nth one.
 */
#ifndef SDL_ALLOC_H
#define SDL_ALLOC_H

#include <stddef.h>

void *sdl_malloc(size_t size);
void *sdl_calloc(size_t n, size_t size);
/* Like realloc(3); a failure leaves p as it was. */
void *sdl_realloc(void *p, size_t size);
void sdl_free(void *p);
/* A large transient buffer (mapped: unmapped again by sdl_free_big). */
void *sdl_malloc_big(size_t size);
void sdl_free_big(void *p);
/*
 * Tests: make the nth allocation from now fail (1 = the next one); 0 turns
 * injection off.  sdl_alloc_live() counts blocks currently allocated
 * through the wrapper, sdl_alloc_calls() counts calls since start.
 */
void sdl_alloc_fail_nth(long nth);
long sdl_alloc_live(void);
long sdl_alloc_calls(void);
/* Number of failures injected so far. */
long sdl_alloc_injected(void);

#endif
