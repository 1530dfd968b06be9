// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Handle options: the defaults and how a caller's struct is read (what 0
 * means per field is documented in sheepdog.h).  Bottom layer beside
 * alloc.c: the engine reads the result, nothing here calls up.
 */
#include <stddef.h>
#include <string.h>

#include "sdl_engine.h"

#define SDL_MAX_CONNS 64

void sd_cluster_opts_init(struct sd_cluster_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->struct_size = sizeof(*opts);
	opts->nr_connections = 4;
	opts->connect_timeout_ms = 5000;
	opts->io_timeout_ms = 30000;
	opts->retry_timeout_ms = 60000;
	opts->max_inflight = 512;
}

/* Is field (offset, size) inside what the caller says it filled? */
#define SDL_OPT_GIVEN(src, field) \
	((src)->struct_size >= offsetof(struct sd_cluster_opts, field) + sizeof((src)->field))

void sdl_opts_apply(struct sd_cluster_opts *dst, const struct sd_cluster_opts *src)
{
	sd_cluster_opts_init(dst);
	if (!src)
		return;
	/* 0 means "the default" for these: none of them can work as 0 */
	if (SDL_OPT_GIVEN(src, nr_connections) && src->nr_connections)
		dst->nr_connections = src->nr_connections;
	if (SDL_OPT_GIVEN(src, connect_timeout_ms) && src->connect_timeout_ms)
		dst->connect_timeout_ms = src->connect_timeout_ms;
	if (SDL_OPT_GIVEN(src, io_timeout_ms) && src->io_timeout_ms)
		dst->io_timeout_ms = src->io_timeout_ms;
	if (SDL_OPT_GIVEN(src, max_inflight) && src->max_inflight)
		dst->max_inflight = src->max_inflight;
	/* 0 is a real value here: no retry window */
	if (SDL_OPT_GIVEN(src, retry_timeout_ms))
		dst->retry_timeout_ms = src->retry_timeout_ms;
	if (dst->nr_connections > SDL_MAX_CONNS)
		dst->nr_connections = SDL_MAX_CONNS;
}
