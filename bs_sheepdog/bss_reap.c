/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The background close of a deleted LU's library handles: LU delete (and
 * target delete) must not wait for a sheep that is gone or hung.
 *
 * bss_close hands the LU's vdi handle and its reference on the LU's
 * connection pool (bss_pool.c) to a reaper entry and returns; the entry
 * owns them from then on (the LU's memory is freed by tgt right after
 * bs_exit).  sd_vdi_aio_close() drains whatever library work is still
 * pending (a size refresh, an inode reload: tgt deletes a LU only when no
 * command is active in it), releases the vdi's locks and frees the vdi
 * handle; the pool's event handler services the connections meanwhile,
 * and after the round in which the close completed frees the entry, which
 * drops its pool reference (the last one disconnects).  How long that
 * takes is bounded by the library's request timeout and retry window
 * (timeout= and retry=), and nothing waits for it.
 * The callbacks of library requests still pending then do not run (the
 * library drops them once the close has begun); memory those requests
 * still use (a detached PRE-FETCH's buffer, a cache flush given up on) is
 * adopted by the entry and freed when the close is done.
 *
 * A LU opened on a vdi that a reaper entry is still closing (delete and
 * re-create, a path change) first finishes that close, for at most its
 * connect timeout: an exclusive lock (cache=writeback) still held by the
 * old handle would refuse the new one.
 */
#include "bss.h"

#include <poll.h>
#include <time.h>

struct bss_reap {
	struct list_head link; /* on bss_reaps, then bss_reaps_done */
	struct bss_pool *pool;
	int closed; /* sd_vdi_aio_close's callback ran */
	uint64_t started_ms;
	char label[48];
	char addr[512];
	char vdi[SD_MAX_VDI_LEN];
	struct bss_orphan *orphans; /* bss_reap_adopt()ed: released when the close is done */
	unsigned int nr_orphans;
};

static LIST_HEAD(bss_reaps);
static LIST_HEAD(bss_reaps_done);

static void bss_orphans_free(struct bss_orphan *orphans, unsigned int n)
{
	while (n--)
		orphans[n].release(orphans[n].p);
	free(orphans);
}

void bss_reap_adopt(struct bss_lu *blu, void *p, void (*release)(void *p))
{
	if (!p)
		return;
	if (blu->nr_orphans == blu->max_orphans) {
		unsigned int max = blu->max_orphans ? 2 * blu->max_orphans : 16;
		struct bss_orphan *o = realloc(blu->orphans, max * sizeof(*o));

		/* never freed is the safe way to lose it */
		if (!o) {
			eprintf("%s: sheepdog: out of memory at close: leaking a buffer\n",
				blu->label);
			return;
		}
		blu->orphans = o;
		blu->max_orphans = max;
	}
	blu->orphans[blu->nr_orphans].p = p;
	blu->orphans[blu->nr_orphans].release = release;
	blu->nr_orphans++;
}

uint64_t bss_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void bss_reap_closed(struct sd_vdi *vdi, int ret, void *opaque)
{
	struct bss_reap *r = opaque;

	(void)vdi;
	if (ret && ret != -ECANCELED)
		eprintf("%s: sheepdog: releasing vdi '%s': %s\n", r->label, r->vdi, strerror(-ret));
	r->closed = 1;
	list_del(&r->link);
	list_add_tail(&r->link, &bss_reaps_done);
}

/* The close is done: drop the pool (not from inside its service round). */
static void bss_reap_free(struct bss_reap *r)
{
	eprintf("%s: sheepdog: released vdi '%s' (%" PRIu64 " ms after the LU was deleted)\n",
		r->label, r->vdi, bss_now_ms() - r->started_ms);
	list_del(&r->link);
	bss_orphans_free(r->orphans, r->nr_orphans);
	bss_pool_vdi_put(r->pool, r->vdi);
	bss_pool_put(r->pool);
	free(r);
}

void bss_reap_collect(void)
{
	while (!list_empty(&bss_reaps_done))
		bss_reap_free(list_first_entry(&bss_reaps_done, struct bss_reap, link));
}

/* Service r's pool here until r is closed or deadline_ms; 1 if it was. */
static int bss_reap_finish(struct bss_reap *r, uint64_t deadline_ms)
{
	struct bss_pool *pool = r->pool;
	int fd = bss_pool_fd(pool);

	bss_pool_hold(pool);
	while (!r->closed) {
		uint64_t now = bss_now_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (now >= deadline_ms)
			break;
		poll(&pfd, 1, (int)(deadline_ms - now < 100 ? deadline_ms - now : 100));
		sd_cluster_service(bss_pool_cluster(pool));
	}
	/* r itself may be gone after this (it is on the done list if closed) */
	if (r->closed) {
		bss_reap_collect();
		bss_pool_put(pool);
		return 1;
	}
	bss_pool_put(pool);
	return 0;
}

void bss_reap_start(struct bss_lu *blu)
{
	struct bss_reap *r = calloc(1, sizeof(*r));
	int ret;

	/* no memory: close here, waiting as bs_close always could */
	if (!r) {
		eprintf("%s: sheepdog: closing vdi '%s' in the foreground (out of memory)\n",
			blu->label, blu->path.vdi);
		goto sync_close;
	}
	ret = sd_vdi_aio_close(blu->vdi, bss_reap_closed, r);
	if (ret) {
		eprintf("%s: sheepdog: closing vdi '%s': %s\n", blu->label, blu->path.vdi,
			strerror(-ret));
		free(r);
		goto sync_close;
	}
	r->pool = blu->pool;
	r->started_ms = bss_now_ms();
	snprintf(r->label, sizeof(r->label), "%s", blu->label);
	snprintf(r->addr, sizeof(r->addr), "%s", blu->path.addr);
	snprintf(r->vdi, sizeof(r->vdi), "%s", blu->path.vdi);
	r->orphans = blu->orphans;
	r->nr_orphans = blu->nr_orphans;
	blu->orphans = NULL;
	blu->nr_orphans = blu->max_orphans = 0;
	list_add_tail(&r->link, &bss_reaps);
	/* the handle and the LU's pool reference are r's now */
	bss_pool_hold(r->pool);
	bss_pool_lu_put(blu->pool);
	blu->pool = NULL;
	blu->cluster_fd = -1;
	blu->vdi = NULL;
	blu->cluster = NULL;
	return;

sync_close:
	ret = sd_vdi_close(blu->vdi);
	if (ret)
		eprintf("%s: sheepdog: closing vdi '%s': %s\n", blu->label, blu->path.vdi,
			strerror(-ret));
	blu->vdi = NULL;
	bss_pool_vdi_put(blu->pool, blu->path.vdi);
	bss_pool_lu_put(blu->pool);
	blu->pool = NULL;
	blu->cluster = NULL;
	blu->cluster_fd = -1;
	bss_orphans_free(blu->orphans, blu->nr_orphans);
	blu->orphans = NULL;
	blu->nr_orphans = blu->max_orphans = 0;
}

void bss_reap_wait(const char *addr, const char *vdi, unsigned timeout_ms)
{
	uint64_t deadline = bss_now_ms() + timeout_ms;
	struct bss_reap *r;

	/* from the top each time: a finish moves and frees other entries */
	for (;;) {
		struct bss_reap *found = NULL;

		list_for_each_entry(r, &bss_reaps, link) {
			if (!strcmp(r->addr, addr) && !strcmp(r->vdi, vdi)) {
				found = r;
				break;
			}
		}
		if (!found)
			return;
		if (!bss_reap_finish(found, deadline)) {
			eprintf("%s: sheepdog: vdi '%s' is still being released by a deleted LU "
				"after %u ms; opening it anyway\n",
				found->label, vdi, timeout_ms);
			return;
		}
	}
}
