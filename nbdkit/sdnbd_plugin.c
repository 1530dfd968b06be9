/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbdkit-sheepdog-plugin: a Sheepdog vdi as an NBD export.
 *
 *   nbdkit sheepdog vdi=NAME [address=HOST:PORT[,...]] [snapshot=TAG|ID]
 *                   [shared=BOOL] [connections=N]
 *
 * Lifecycle (nbdkit-plugin(3)): the parameters are checked in
 * config_complete; get_ready connects and opens the vdi, so a bad address
 * or an unknown vdi stops nbdkit at startup with a message and exit status
 * 1, before it forks; after_fork starts the service thread (threads do not
 * survive nbdkit's fork); cleanup closes the vdi.  Every NBD connection
 * shares the one vdi handle (sdnbd.h), hence the multi-conn answer below.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "config.h"
#include "sdnbd.h"

/*
 * PARALLEL: nbdkit may run any number of requests of any connection at
 * once; sdnbd_loop.c serialises the library calls themselves under one
 * mutex but not the wait for the sheep, so requests overlap on the wire.
 */
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static struct sdnbd_config g_cfg;
static struct sdnbd_ctx *g_ctx;

static void sdnbd_load(void)
{
	sdnbd_config_init(&g_cfg);
}

static int sdnbd_config(const char *key, const char *value)
{
	char err[512];

	if (sdnbd_config_set(&g_cfg, key, value, err, sizeof(err))) {
		nbdkit_error("%s", err);
		return -1;
	}
	return 0;
}

static int sdnbd_config_complete(void)
{
	char err[512];

	if (sdnbd_config_check(&g_cfg, err, sizeof(err))) {
		nbdkit_error("%s", err);
		return -1;
	}
	return 0;
}

static int sdnbd_get_ready(void)
{
	g_ctx = sdnbd_ctx_open(&g_cfg);
	return g_ctx ? 0 : -1;
}

static int sdnbd_after_fork(void)
{
	return sdnbd_ctx_start(g_ctx);
}

static void sdnbd_cleanup(void)
{
	sdnbd_ctx_close(g_ctx);
	g_ctx = NULL;
}

/* Every connection uses the process's one vdi handle. */
static void *sdnbd_open(int readonly)
{
	(void)readonly;
	return g_ctx;
}

static int64_t sdnbd_get_size(void *h)
{
	return (int64_t)sdnbd_ctx_size(h);
}

static int sdnbd_can_write(void *h)
{
	return !sdnbd_ctx_readonly(h);
}

static int sdnbd_can_true(void *h)
{
	(void)h;
	return 1;
}

static int sdnbd_can_fua(void *h)
{
	(void)h;
	return NBDKIT_FUA_NATIVE;
}

static int sdnbd_is_rotational(void *h)
{
	(void)h;
	return 0;
}

/*
 * Multi-conn: every connection goes through the same sd_vdi, so a write
 * completed on one is read by all the others at once, and FLUSH_VDI makes
 * the whole vdi durable whichever connection sent it.
 */
static int sdnbd_can_multi_conn(void *h)
{
	(void)h;
	return 1;
}

/* Report errno for nbdkit's reply and a line for its log. */
static int sdnbd_fail(const char *what, int ret, uint32_t count, uint64_t offset)
{
	nbdkit_error("%s of %" PRIu32 " bytes at %" PRIu64 ": %s", what, count, offset,
		     strerror(-ret));
	nbdkit_set_error(-ret);
	return -1;
}

static unsigned sdnbd_flags(uint32_t flags)
{
	return (flags & NBDKIT_FLAG_FUA) ? SDNBD_FUA : 0;
}

static int sdnbd_pread(void *h, void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
	int ret = sdnbd_read(h, buf, count, offset);

	return ret ? sdnbd_fail("read", ret, count, offset) : 0;
}

static int sdnbd_pwrite(void *h, const void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
	int ret = sdnbd_write(h, buf, count, offset, sdnbd_flags(flags));

	return ret ? sdnbd_fail("write", ret, count, offset) : 0;
}

static int sdnbd_flush_cb(void *h, uint32_t flags)
{
	int ret = sdnbd_flush(h);

	return ret ? sdnbd_fail("flush", ret, 0, 0) : 0;
}

static int sdnbd_trim(void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
	int ret = sdnbd_discard(h, count, offset, sdnbd_flags(flags));

	return ret ? sdnbd_fail("trim", ret, count, offset) : 0;
}

static int sdnbd_zero_cb(void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
	int may_trim = !!(flags & NBDKIT_FLAG_MAY_TRIM);
	int ret;

	/*
	 * Fast only as a discard: whole objects leave the index, partial
	 * ones are zeroed where allocated, holes cost nothing.  Without
	 * may_trim the objects must end up allocated, which means writing
	 * zeros: not fast, so a client asking for fast zero is told so.
	 */
	if ((flags & NBDKIT_FLAG_FAST_ZERO) && !may_trim) {
		nbdkit_set_error(ENOTSUP);
		return -1;
	}
	ret = sdnbd_zero(h, count, offset, may_trim, sdnbd_flags(flags));
	return ret ? sdnbd_fail("zero", ret, count, offset) : 0;
}

static int sdnbd_add_extent(void *opaque, uint64_t offset, uint64_t length, uint32_t type)
{
	return nbdkit_add_extent(opaque, offset, length, type);
}

static int sdnbd_extents_cb(void *h, uint32_t count, uint64_t offset, uint32_t flags,
			    struct nbdkit_extents *extents)
{
	/*
	 * A hole reads as zeros, but a shared handle's map may miss what
	 * another gateway allocated since it last read the index (the
	 * library checks with the sheep before it reads such an object, the
	 * map does not): there a hole is not promised to be zero, so that a
	 * client never skips copying data it has not read.
	 */
	uint32_t hole = NBDKIT_EXTENT_HOLE;
	int ret;

	if (!sdnbd_ctx_shared(h))
		hole |= NBDKIT_EXTENT_ZERO;
	ret = sdnbd_extents(h, offset, count, !!(flags & NBDKIT_FLAG_REQ_ONE), hole,
			    sdnbd_add_extent, extents);
	if (ret == 1)
		return -1; /* nbdkit_add_extent said why */
	return ret ? sdnbd_fail("extents", ret, count, offset) : 0;
}

static struct nbdkit_plugin plugin = {
	.name = "sheepdog",
	.longname = "Sheepdog vdi (libsheepdog)",
	.version = PACKAGE_VERSION,
	.description = "export a Sheepdog vdi (volume) or snapshot over NBD",
	.load = sdnbd_load,
	.config = sdnbd_config,
	.config_complete = sdnbd_config_complete,
	.config_help =
		"vdi=NAME                 (required) the vdi to export\n"
		"address=HOST:PORT[,...]  sheep(s) to connect to (default " SDNBD_DEFAULT_ADDR ")\n"
		"snapshot=TAG|ID          export this snapshot, read-only\n"
		"shared=BOOL              other gateways may write the vdi too "
		"(default true;\n"
		"                         false: open it exclusively)\n"
		"connections=N            sheep connections (1-64, default 4)",
	.magic_config_key = "vdi",
	.get_ready = sdnbd_get_ready,
	.after_fork = sdnbd_after_fork,
	.cleanup = sdnbd_cleanup,
	.open = sdnbd_open,
	.get_size = sdnbd_get_size,
	.can_write = sdnbd_can_write,
	.can_flush = sdnbd_can_true,
	.can_trim = sdnbd_can_true,
	.can_zero = sdnbd_can_true,
	.can_fast_zero = sdnbd_can_true,
	.can_fua = sdnbd_can_fua,
	.can_extents = sdnbd_can_true,
	.can_multi_conn = sdnbd_can_multi_conn,
	.is_rotational = sdnbd_is_rotational,
	.pread = sdnbd_pread,
	.pwrite = sdnbd_pwrite,
	.flush = sdnbd_flush_cb,
	.trim = sdnbd_trim,
	.zero = sdnbd_zero_cb,
	.extents = sdnbd_extents_cb,
	.errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN(plugin)
