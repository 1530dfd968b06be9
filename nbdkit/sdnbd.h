/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbdkit-sheepdog-plugin: private header.
 *
 * sdnbd_config.c  parameters (pure: unit-tested by tests/unit/test_sdnbd_config)
 * sdnbd_map.c     the extent walk over an allocation map (pure, unit-tested)
 * sdnbd_loop.c    the libsheepdog context: connect + open, the service thread,
 *                 requests handed over from nbdkit's worker threads
 * sdnbd_plugin.c  nbdkit's callbacks
 *
 * Threads (docs/nbd.md): nbdkit runs the plugin with
 * NBDKIT_THREAD_MODEL_PARALLEL, so its worker threads of every connection
 * call in at once.  One struct sdnbd_ctx per nbdkit process holds the only
 * sd_cluster and sd_vdi; its mutex guards every library call.  A service
 * thread polls sd_cluster_fd() without the mutex and runs
 * sd_cluster_service() with it; a worker submits its request(s) under the
 * mutex and sleeps on its own condition variable until the completion
 * callback (run by the service thread, mutex held) wakes it.  So requests of
 * all connections are pipelined over the library's connection pool.
 */
#ifndef SDNBD_H
#define SDNBD_H

#include <stddef.h>
#include <stdint.h>

/* ---- parameters (sdnbd_config.c) ------------------------------------ */

#define SDNBD_DEFAULT_ADDR "127.0.0.1:7000"
#define SDNBD_MAX_CONNS	   64

struct sdnbd_config {
	char vdi[256];	   /* vdi=NAME (required); "" until given */
	char addr[1024];   /* address=HOST:PORT[,...]; "" means the default */
	uint32_t snapid;   /* snapshot=ID (0: none) */
	char tag[256];	   /* snapshot=TAG ("" : none) */
	int shared;	   /* shared=BOOL: 1 (default) SD_VDI_SHARED, 0 exclusive */
	unsigned nr_conns; /* connections=N: 0 means the library default */
};

/* Defaults: no vdi, default address, working vdi, shared. */
void sdnbd_config_init(struct sdnbd_config *cfg);

/*
 * Apply one key=value.  Returns 0, or -1 with a message for humans in
 * err[errlen] (unknown key, empty or too long value, bad number or
 * boolean, a second vdi= or snapshot=).
 */
int sdnbd_config_set(struct sdnbd_config *cfg, const char *key, const char *value, char *err,
		     size_t errlen);

/* After the last key: 0, or -1 with a message (vdi= missing). */
int sdnbd_config_check(const struct sdnbd_config *cfg, char *err, size_t errlen);

/* The address to connect to (the default when none was given). */
const char *sdnbd_config_addr(const struct sdnbd_config *cfg);

/* The sd_vdi_open_flags() flags the configuration asks for. */
unsigned sdnbd_config_open_flags(const struct sdnbd_config *cfg);

/* ---- extent walk (sdnbd_map.c) --------------------------------------- */

/*
 * allocated(opaque, offset, &run): as sd_vdi_allocated(): 1 allocated, 0 a
 * hole, negative errno; *run bytes from offset keep the answer (> 0).
 * add(opaque, offset, length, type): as nbdkit_add_extent(): 0 or -1.
 */
typedef int (*sdnbd_allocated_fn)(void *opaque, uint64_t offset, uint64_t *run);
typedef int (*sdnbd_add_fn)(void *opaque, uint64_t offset, uint64_t length, uint32_t type);

/*
 * Describe [offset, offset + count) as extents: allocated runs get type 0,
 * holes get hole_type.  req_one: stop after the first extent.  Extents are
 * clipped to the range.  Returns 0, the negative errno of allocated(), -EIO
 * for a run of 0 bytes (a broken map: the walk would not advance), or 1
 * when add() failed.
 */
int sdnbd_map(uint64_t offset, uint64_t count, int req_one, uint32_t hole_type,
	      sdnbd_allocated_fn allocated, void *aopaque, sdnbd_add_fn add, void *addopaque);

/* ---- the library context (sdnbd_loop.c) ------------------------------ */

struct sdnbd_ctx;

/*
 * Connect and open the vdi (synchronously, in the calling thread; no thread
 * started yet).  NULL after nbdkit_error() said why.
 */
struct sdnbd_ctx *sdnbd_ctx_open(const struct sdnbd_config *cfg);
/* Start the service thread (after nbdkit forked).  0 or -1 (reported). */
int sdnbd_ctx_start(struct sdnbd_ctx *x);
/* Stop the thread if it runs, close the vdi, disconnect, free.  NULL: no-op. */
void sdnbd_ctx_close(struct sdnbd_ctx *x);

uint64_t sdnbd_ctx_size(const struct sdnbd_ctx *x);
int sdnbd_ctx_readonly(const struct sdnbd_ctx *x);
int sdnbd_ctx_shared(const struct sdnbd_ctx *x);

/* Request flags. */
#define SDNBD_FUA 0x1u /* durable before completion */

/*
 * The data path, called from nbdkit's worker threads; each blocks until its
 * request completed.  0 or a negative errno.
 * sdnbd_zero(): may_trim: whole objects are freed, partial ones zeroed
 * where allocated (one discard); otherwise zeros are written (objects end
 * up allocated).
 */
int sdnbd_read(struct sdnbd_ctx *x, void *buf, uint32_t count, uint64_t offset);
int sdnbd_write(struct sdnbd_ctx *x, const void *buf, uint32_t count, uint64_t offset,
		unsigned flags);
int sdnbd_flush(struct sdnbd_ctx *x);
int sdnbd_discard(struct sdnbd_ctx *x, uint32_t count, uint64_t offset, unsigned flags);
int sdnbd_zero(struct sdnbd_ctx *x, uint32_t count, uint64_t offset, int may_trim, unsigned flags);
/* Extents of the range from the handle's allocation map (sdnbd_map). */
int sdnbd_extents(struct sdnbd_ctx *x, uint64_t offset, uint32_t count, int req_one,
		  uint32_t hole_type, sdnbd_add_fn add, void *opaque);

#endif
