/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The gateway object cache (--bsopts cache=writethrough|writeback): unit
 * files in a per-LU directory on the gateway's local file system; see
 * docs/design.md "Gateway object cache" for the rules and the on-disk
 * layout.  Everything runs on tgtd's main thread; file I/O is inline
 * (pread/pwrite into the page cache), sheep I/O is libsheepdog's async
 * calls completed from the LU's fd handler.
 *
 * Who owns what: the cache owns its units (struct bss_cunit) and every
 * library request it sends for them (fills and flushes); a command owns its
 * acb as everywhere else and waits on a unit (fill or drop: u->waiters;
 * flush: a struct bss_fwait) without owning it.  Every command completion
 * of this file goes through bss_acb_defer(), so none happens inside
 * bs_cmd_submit.
 *
 * The gate keeps cached commands and the commands that go around the cache
 * (UNMAP, WRITE SAME, COMPARE AND WRITE, ORWRITE, VERIFY, WRITE AND
 * VERIFY, PRE-FETCH, EXTENDED COPY) apart: a bypass command waits until no
 * cached command is in flight, then flushes and drops the units of its
 * range (its whole LU if it has no range), and cached commands wait while a
 * bypass command is in flight.  FIFO, so neither side starves.
 */
#include "bss.h"
#include "bss_cache.h"
#include "mapbuf.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BSS_CACHE_OWNER_KEY	 "bss.cache.owner"
#define BSS_CACHE_MAX_FLUSH	 8	     /* background unit flushes in flight */
#define BSS_CACHE_FLUSH_MEM	 (32u << 20) /* flush buffers in flight, about */
#define BSS_CACHE_WORK_SEC	 1
#define BSS_CACHE_NOFILL_SEC	 5 /* after the cache directory ran out of room */
/* close gives up on a sheep that completed no fill or flush for this long */
#define BSS_CACHE_CLOSE_STALL_MS 1000

enum bss_cunit_state {
	BSS_CU_FETCHING, /* fill from the sheep in flight; commands wait */
	BSS_CU_READY,	 /* the file holds the unit */
	BSS_CU_BROKEN,	 /* a file error: flush what is dirty, then drop */
};

struct bss_cunit {
	struct bss_cache *c;
	struct list_head hash; /* on c->buckets[] */
	struct list_head lru;  /* on c->lru, least recently used first */
	uint64_t idx;
	int fd;
	int state;
	int disk_dirty;			  /* its byte in `dirty` is 1 */
	unsigned int nr_dirty;		  /* chunks set in bm */
	uint64_t bm[BSS_CACHE_BM_WORDS];  /* dirty chunks */
	uint64_t fbm[BSS_CACHE_BM_WORDS]; /* chunks of the flush in flight */
	time_t dirty_since;
	int flushing;
	unsigned int flush_pending; /* library writes of the flush still out */
	int flush_err;
	uint64_t flush_started, flush_done; /* flush sequence numbers */
	uint32_t fill_len;
	uint64_t flush_len; /* bytes of the flush buffer */
	unsigned int kick_gen;
	void *buf;		  /* fill or flush buffer */
	struct list_head waiters; /* acbs (cache_entry): fill, drop */
	struct list_head fwaits;  /* struct bss_fwait */
};

/* A command waiting for a unit's flush number `target` to complete. */
struct bss_fwait {
	struct list_head entry;
	struct bss_aiocb *acb;
	uint64_t target;
	void (*done)(struct bss_aiocb *acb, int err);
};

struct bss_cache {
	struct bss_lu *blu;
	int mode;
	char dir[PATH_MAX];
	int dir_fd, lock_fd, dirty_fd, state_fd;
	uint32_t unit;
	unsigned int nchunks;
	uint64_t max_units, nr_units;
	uint64_t dirty_bytes;
	struct list_head *buckets;
	unsigned int nbuckets;
	struct list_head lru;
	unsigned int nr_active, nr_bypass, nr_through, nr_flushing, nr_fills;
	uint64_t flush_bytes;	    /* of the flush buffers in flight */
	struct list_head gate_wait; /* acbs (cache_entry), FIFO */
	struct tgt_work work;
	int work_armed;
	struct event_data kick_ev; /* scheduled bss_cache_kick */
	int kick_capped;	   /* a kick stopped at a cap of flushes in flight */
	unsigned int kick_gen;
	time_t nofill_until;
	int owner_set;
	char owner[SD_MAX_VDI_ATTR_VALUE_LEN];
	struct bss_cache_state st;
	unsigned int nr_file_errors;
	unsigned int nr_flush_errors;
	uint64_t nr_completions; /* fills and flush writes completed (close's progress) */
};

static void bss_cache_start(struct bss_aiocb *acb);
static void bss_flush_start(struct bss_cache *c, struct bss_cunit *u);
static void bss_gate_drain(struct bss_cache *c);

static time_t bss_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static uint64_t bss_vdi_size(struct bss_cache *c)
{
	return sd_vdi_size(c->blu->vdi);
}

/* Bytes of unit idx inside the vdi (the last one may be short). */
static uint32_t bss_unit_len(struct bss_cache *c, uint64_t idx)
{
	uint64_t base = idx * c->unit, size = bss_vdi_size(c);

	if (base >= size)
		return 0;
	return size - base < c->unit ? (uint32_t)(size - base) : c->unit;
}

static struct bss_cunit *bss_unit_find(struct bss_cache *c, uint64_t idx)
{
	struct bss_cunit *u;

	list_for_each_entry(u, &c->buckets[idx & (c->nbuckets - 1)], hash)
		if (u->idx == idx)
			return u;
	return NULL;
}

static void bss_unit_touch(struct bss_cache *c, struct bss_cunit *u)
{
	list_del(&u->lru);
	list_add_tail(&u->lru, &c->lru);
}

static void bss_unit_path(uint64_t idx, char *out, size_t len)
{
	snprintf(out, len, "u/%016" PRIx64, idx);
}

/* Its byte in `dirty`: written before a write that dirties the unit
 * completes, cleared once a flush left nothing dirty. */
static int bss_unit_mark(struct bss_cache *c, struct bss_cunit *u, int dirty)
{
	uint8_t b = (uint8_t)dirty;

	if (pwrite(c->dirty_fd, &b, 1, (off_t)u->idx) != 1)
		return errno ? -errno : -EIO;
	u->disk_dirty = dirty;
	return 0;
}

static void bss_file_error(struct bss_cache *c, const char *what, uint64_t idx, int err)
{
	if (++c->nr_file_errors <= 10 || c->nr_file_errors % 1000 == 0)
		eprintf("%s: sheepdog: cache: %s unit %" PRIx64 " in %s: %s (%u file errors)\n",
			c->blu->label, what, idx, c->dir, strerror(-err), c->nr_file_errors);
}

/* Forget a clean, idle unit: its file goes. */
static void bss_unit_drop(struct bss_cache *c, struct bss_cunit *u)
{
	char name[32];
	struct bss_aiocb *acb, *next;

	if (u->fd >= 0)
		close(u->fd);
	bss_unit_path(u->idx, name, sizeof(name));
	unlinkat(c->dir_fd, name, 0);
	if (u->disk_dirty)
		bss_unit_mark(c, u, 0);
	list_del(&u->hash);
	list_del(&u->lru);
	c->nr_units--;
	/* commands that waited for it look again: the unit is gone */
	list_for_each_entry_safe(acb, next, &u->waiters, cache_entry) {
		list_del_init(&acb->cache_entry);
		bss_cache_start(acb);
	}
	sdc_map_free(u->buf);
	free(u);
}

static int bss_unit_idle(const struct bss_cunit *u)
{
	return u->state == BSS_CU_READY && !u->nr_dirty && !u->flushing &&
	       list_empty(&u->waiters) && list_empty(&u->fwaits);
}

/* Room for one more unit: reclaim the least recently used clean one if
 * the bound is reached.  1 if there is room. */
static int bss_unit_room(struct bss_cache *c)
{
	struct bss_cunit *u;

	if (c->nr_units < c->max_units)
		return 1;
	list_for_each_entry(u, &c->lru, lru) {
		if (bss_unit_idle(u)) {
			bss_unit_drop(c, u);
			return 1;
		}
	}
	return 0;
}

/*
 * Write into a unit file in pieces of at most BSS_CACHE_WPIECE bytes, each
 * inside one aligned piece.  The page cache sizes the folios it creates for
 * a write after that write: one 4 MiB pwrite (a fill) leaves multi-megabyte
 * folios, and a later 4 KiB write into such a folio costs the kernel a walk
 * over every block of it (ext4 with large folios: 20-33 us per 4 KiB write
 * against 4-5 us into small folios, docs/performance.md).  Small pieces keep
 * every later write cheap for a few syscalls more per fill.
 */
static int bss_unit_write(int fd, const void *buf, size_t n, uint64_t off)
{
	const char *p = buf;

	while (n) {
		size_t piece = BSS_CACHE_WPIECE - (size_t)(off % BSS_CACHE_WPIECE);
		ssize_t put;

		if (piece > n)
			piece = n;
		put = pwrite(fd, p, piece, (off_t)off);
		if (put != (ssize_t)piece)
			return put < 0 ? -errno : -EIO;
		p += piece;
		off += piece;
		n -= piece;
	}
	return 0;
}

/* n bytes at off of a unit file, read or written whole: 0 or -errno. */
static int bss_pio(int fd, void *buf, size_t n, uint64_t off, int write)
{
	ssize_t r;

	if (write)
		return bss_unit_write(fd, buf, n, off);
	r = pread(fd, buf, n, (off_t)off);
	if (r == (ssize_t)n)
		return 0;
	return r < 0 ? -errno : -EIO;
}

/* A new unit file of U bytes, its blocks reserved (so writes into it never
 * meet ENOSPC), read-ahead off (a miss reads what the command asked, in
 * small folios, see bss_unit_write).  fd or negative errno; nothing left
 * behind on failure. */
static int bss_unit_file(struct bss_cache *c, uint64_t idx)
{
	char name[32];
	int fd, ret;

	bss_unit_path(idx, name, sizeof(name));
	fd = openat(c->dir_fd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ret = posix_fallocate(fd, 0, c->unit);
	if (ret) {
		close(fd);
		unlinkat(c->dir_fd, name, 0);
		return -ret;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
	return fd;
}

static struct bss_cunit *bss_unit_new(struct bss_cache *c, uint64_t idx, int fd, int state)
{
	struct bss_cunit *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->c = c;
	u->idx = idx;
	u->fd = fd;
	u->state = state;
	INIT_LIST_HEAD(&u->waiters);
	INIT_LIST_HEAD(&u->fwaits);
	list_add(&u->hash, &c->buckets[idx & (c->nbuckets - 1)]);
	list_add_tail(&u->lru, &c->lru);
	c->nr_units++;
	return u;
}

static void bss_cache_kick_soon(struct bss_cache *c)
{
	tgt_add_sched_event(&c->kick_ev);
}

/* A cached command's end: GOOD or the sense for err (a detached
 * PRE-FETCH has no command to fail). */
static void bss_cache_complete(struct bss_aiocb *acb, int err)
{
	if (err && acb->cmd)
		bss_acb_fail(acb, err);
	else
		bss_acb_finish(acb, SAM_STAT_GOOD);
}

/* Complete from the LU's done event, never from the caller's stack. */
static void bss_cache_defer(struct bss_aiocb *acb, int err)
{
	acb->step_done = bss_cache_complete;
	bss_acb_defer(acb, err);
}

/* ---- waiting for unit flushes ---- */

typedef void (*bss_wait_fn)(struct bss_aiocb *acb, int err);

static void bss_wait_put(struct bss_aiocb *acb, int err, bss_wait_fn done)
{
	if (err && !acb->step_err)
		acb->step_err = err;
	if (--acb->cache_waits)
		return;
	done(acb, acb->step_err);
}

/*
 * done(acb, err) once every unit overlapping [start, start + len) (every
 * unit if len is 0) that is dirty or being flushed now has had a flush
 * that covers its present dirty chunks; err is the first flush error.
 * May run done before returning.
 */
static void bss_wait_units(struct bss_aiocb *acb, uint64_t start, uint64_t len, bss_wait_fn done)
{
	struct bss_cache *c = acb->blu->cache;
	struct bss_cunit *u;
	struct bss_fwait *fw;
	int added = 0;

	acb->cache_waits = 1; /* ours, put below */
	acb->step_err = 0;
	list_for_each_entry(u, &c->lru, lru) {
		uint64_t ustart = u->idx * c->unit;

		if (len && (ustart + c->unit <= start || ustart >= start + len))
			continue;
		if (!u->nr_dirty && !u->flushing)
			continue;
		fw = malloc(sizeof(*fw));
		if (!fw) {
			acb->step_err = -ENOMEM;
			continue;
		}
		fw->acb = acb;
		fw->done = done;
		fw->target = u->nr_dirty ? u->flush_started + 1 : u->flush_started;
		list_add_tail(&fw->entry, &u->fwaits);
		acb->cache_waits++;
		added = 1;
	}
	if (added)
		bss_cache_kick_soon(c);
	bss_wait_put(acb, 0, done);
}

/* ---- flushing a unit to the sheep ---- */

static void bss_flush_done(struct bss_cunit *u)
{
	struct bss_cache *c = u->c;
	struct bss_fwait *fw, *next;
	LIST_HEAD(ready);
	int err = u->flush_err;
	unsigned int i, n;

	c->nr_flushing--;
	c->flush_bytes -= u->flush_len;
	u->flush_len = 0;
	u->flushing = 0;
	u->flush_done = u->flush_started;
	sdc_map_free(u->buf);
	u->buf = NULL;
	if (err) {
		/* the chunks are dirty again; the timer retries */
		for (i = 0; i < BSS_CACHE_BM_WORDS; i++)
			u->bm[i] |= u->fbm[i];
		n = bss_bm_count(u->bm, c->nchunks);
		c->dirty_bytes += (uint64_t)(n - u->nr_dirty) * BSS_CACHE_CHUNK;
		u->nr_dirty = n;
		if (!u->dirty_since)
			u->dirty_since = bss_now();
		if (++c->nr_flush_errors <= 10 || c->nr_flush_errors % 1000 == 0)
			eprintf("%s: sheepdog: cache: flushing unit %" PRIx64 " failed: %s (%u "
				"failures; retried)\n",
				c->blu->label, u->idx, strerror(-err), c->nr_flush_errors);
	} else if (!u->nr_dirty && u->disk_dirty) {
		int ret = bss_unit_mark(c, u, 0);

		/* a stale 1 only makes the next open replay a clean unit */
		if (ret)
			bss_file_error(c, "clearing the dirty byte of", u->idx, ret);
	}
	memset(u->fbm, 0, sizeof(u->fbm));

	/* An error fails every waiter. */
	list_for_each_entry_safe(fw, next, &u->fwaits, entry) {
		if (err || fw->target <= u->flush_done) {
			list_del(&fw->entry);
			list_add_tail(&fw->entry, &ready);
		}
	}
	/* An error: the timer retries, not we (a sheep that refuses at once
	 * cannot loop us).  Else kick if someone waits for this unit, or if
	 * a kick stopped at the cap of flushes in flight: a slot is free. */
	if (!err && (!list_empty(&u->fwaits) || u->state == BSS_CU_BROKEN || c->kick_capped)) {
		c->kick_capped = 0;
		bss_cache_kick_soon(c);
	}
	/* u may be dropped by what runs now */
	list_for_each_entry_safe(fw, next, &ready, entry) {
		list_del(&fw->entry);
		bss_wait_put(fw->acb, err, fw->done);
		free(fw);
	}
}

static void bss_flush_put(struct bss_cunit *u)
{
	if (--u->flush_pending == 0)
		bss_flush_done(u);
}

static void bss_flush_cb(struct sd_vdi *vdi, int ret, void *opaque)
{
	struct bss_cunit *u = opaque;

	(void)vdi;
	u->c->nr_completions++;
	if (ret < 0 && !u->flush_err)
		u->flush_err = ret;
	bss_flush_put(u);
}

/* One write of [off, off + n) of the unit (cut at ulen) from buf. */
static void bss_flush_send(struct bss_cunit *u, const char *buf, uint64_t off, uint64_t n,
			   uint32_t ulen)
{
	int ret;

	if (off >= ulen)
		return;
	if (off + n > ulen)
		n = ulen - off;
	ret = sd_vdi_aio_write(u->c->blu->vdi, (void *)buf, n, u->idx * u->c->unit + off, 0,
			       bss_flush_cb, u);
	if (ret < 0) {
		if (!u->flush_err)
			u->flush_err = ret;
		return;
	}
	u->flush_pending++;
}

/* Read [off, off + n) of the unit file (cut at ulen) into buf.  0 or
 * -errno; a failure marks the unit broken. */
static int bss_flush_read(struct bss_cunit *u, char *buf, uint64_t off, uint64_t n, uint32_t ulen)
{
	int ret;

	if (off >= ulen)
		return 0;
	if (off + n > ulen)
		n = ulen - off;
	ret = bss_pio(u->fd, buf, n, off, 0);
	if (!ret)
		return 0;
	bss_file_error(u->c, "reading", u->idx, ret);
	/* the file cannot be trusted: fail the waiters, keep the unit dirty
	 * and broken (never dropped while dirty) */
	u->state = BSS_CU_BROKEN;
	return ret;
}

/* Send the unit's dirty chunks, as coalesced runs, from a snapshot of the
 * file taken now; chunks written meanwhile are dirty again and go with the
 * next flush.  May complete (bss_flush_done) before returning. */
static void bss_flush_start(struct bss_cache *c, struct bss_cunit *u)
{
	uint32_t ulen = bss_unit_len(c, u->idx);
	unsigned int pos = 0, len, first, last, runs = 0, ndirty = 0;
	uint64_t hull_off, hull_len, at;
	int whole;

	memcpy(u->fbm, u->bm, sizeof(u->bm));
	memset(u->bm, 0, sizeof(u->bm));
	ndirty = u->nr_dirty;
	c->dirty_bytes -= (uint64_t)u->nr_dirty * BSS_CACHE_CHUNK;
	u->nr_dirty = 0;
	u->dirty_since = 0;
	u->flushing = 1;
	u->flush_started++;
	u->flush_err = 0;
	u->flush_pending = 1; /* ours, put at the end */
	c->nr_flushing++;

	bss_bm_next_run(u->fbm, c->nchunks, &pos, &len);
	first = pos;
	last = pos + len;
	while (bss_bm_next_run(u->fbm, c->nchunks, &pos, &len)) {
		last = pos + len;
		pos += len;
		runs++;
	}
	hull_off = (uint64_t)first * BSS_CACHE_CHUNK;
	hull_len = (uint64_t)last * BSS_CACHE_CHUNK - hull_off;
	if (hull_off >= ulen) /* the vdi shrank under us: nothing to send */
		goto put;
	/* Scattered small writes (random I/O): one write of the hull costs
	 * the sheep far less than hundreds of 4 KiB ones, and the clean
	 * chunks in between hold what the sheep has (the file holds the
	 * whole unit; nobody else writes the vdi).  A few chunks far apart
	 * go as their own writes, and only they are read from the file. */
	whole = runs > 0 && hull_len <= (uint64_t)ndirty * BSS_CACHE_CHUNK * 16;
	u->flush_len = whole ? hull_len : (uint64_t)ndirty * BSS_CACHE_CHUNK;
	c->flush_bytes += u->flush_len;
	u->buf = sdc_map_alloc(u->flush_len);
	if (!u->buf) {
		u->flush_err = -ENOMEM;
		goto put;
	}
	if (whole) {
		u->flush_err = bss_flush_read(u, u->buf, hull_off, hull_len, ulen);
		if (!u->flush_err)
			bss_flush_send(u, u->buf, hull_off, hull_len, ulen);
		goto put;
	}
	/* every run is read before the first is sent: a read error sends
	 * nothing */
	pos = 0;
	at = 0;
	while (bss_bm_next_run(u->fbm, c->nchunks, &pos, &len)) {
		u->flush_err = bss_flush_read(u, (char *)u->buf + at,
					      (uint64_t)pos * BSS_CACHE_CHUNK,
					      (uint64_t)len * BSS_CACHE_CHUNK, ulen);
		if (u->flush_err)
			goto put;
		at += (uint64_t)len * BSS_CACHE_CHUNK;
		pos += len;
	}
	pos = 0;
	at = 0;
	while (bss_bm_next_run(u->fbm, c->nchunks, &pos, &len)) {
		bss_flush_send(u, (char *)u->buf + at, (uint64_t)pos * BSS_CACHE_CHUNK,
			       (uint64_t)len * BSS_CACHE_CHUNK, ulen);
		at += (uint64_t)len * BSS_CACHE_CHUNK;
		pos += len;
	}
put:
	bss_flush_put(u);
}

/*
 * Start the flushes that are due while their buffers in flight stay under
 * BSS_CACHE_FLUSH_MEM (each holds up to a unit: a SYNCHRONIZE CACHE over
 * hundreds of dirty units must not allocate hundreds of them at once; a
 * flush that ends kicks again).  First the urgent ones: units someone
 * waits for, broken ones, all of them (all, or WCE=0); then in the
 * background, at most BSS_CACHE_MAX_FLUSH in flight, those dirty for
 * cache_age seconds, or every dirty one while more than cache_dirty is
 * dirty.  Drops broken units once clean.  A generation mark
 * visits each unit once per pass, since what a flush start runs may drop
 * units under the walk.
 */
static void bss_cache_kick(struct bss_cache *c, int all)
{
	int wce = bss_write_cache_enabled(c->blu->lu);
	int over = c->dirty_bytes > c->blu->opts.cache_dirty;
	time_t now = bss_now();
	struct bss_cunit *u;
	int urgent, pass;

	for (pass = 0; pass < 2; pass++) {
		c->kick_gen++;
again:
		list_for_each_entry(u, &c->lru, lru) {
			if (u->kick_gen == c->kick_gen)
				continue;
			u->kick_gen = c->kick_gen;
			if (u->state == BSS_CU_BROKEN && !u->nr_dirty && !u->flushing &&
			    list_empty(&u->fwaits)) {
				bss_unit_drop(c, u);
				goto again;
			}
			if (u->flushing || !u->nr_dirty || u->state == BSS_CU_FETCHING)
				continue;
			urgent = all || !wce || u->state == BSS_CU_BROKEN ||
				 !list_empty(&u->fwaits);
			if (pass == 0 ? !urgent
				      : !over && now - u->dirty_since <
							 (time_t)c->blu->opts.cache_age)
				continue;
			if (c->nr_flushing && (c->flush_bytes >= BSS_CACHE_FLUSH_MEM ||
					       (pass && c->nr_flushing >= BSS_CACHE_MAX_FLUSH))) {
				c->kick_capped = 1;
				return;
			}
			bss_flush_start(c, u);
			goto again;
		}
	}
}

static void bss_kick_event_cb(struct event_data *ev)
{
	bss_cache_kick(ev->data, 0);
}

static void bss_cache_work(void *data)
{
	struct bss_cache *c = data;

	c->work_armed = 0;
	if (!c->blu->opened)
		return;
	bss_cache_kick(c, 0);
	add_work(&c->work, BSS_CACHE_WORK_SEC);
	c->work_armed = 1;
}

/* ---- filling a unit from the sheep ---- */

static void bss_fill_cb(struct sd_vdi *vdi, int ret, void *opaque)
{
	struct bss_cunit *u = opaque;
	struct bss_cache *c = u->c;
	struct bss_aiocb *acb, *next;
	LIST_HEAD(waiters);

	(void)vdi;
	c->nr_fills--;
	c->nr_completions++;
	if (!ret) {
		ret = bss_unit_write(u->fd, u->buf, u->fill_len, 0);
		if (ret)
			bss_file_error(c, "filling", u->idx, ret);
	}
	sdc_map_free(u->buf);
	u->buf = NULL;
	if (ret) {
		/* the waiters go to the sheep themselves and meet the error
		 * there (or not: then it was the file) */
		c->nofill_until = bss_now() + BSS_CACHE_NOFILL_SEC;
		bss_unit_drop(c, u);
		return;
	}
	u->state = BSS_CU_READY;
	list_splice_init(&u->waiters, &waiters);
	list_for_each_entry_safe(acb, next, &waiters, cache_entry) {
		list_del_init(&acb->cache_entry);
		bss_cache_start(acb);
	}
}

/* May a miss on this command's units be cached (fill or new file)? */
static int bss_can_fill(struct bss_cache *c, int is_write)
{
	if (is_write && c->mode != BSS_CACHE_WRITEBACK)
		return 0;
	/* a fill racing with a write that went past the cache could cache
	 * the data from before that write */
	if (c->nr_through)
		return 0;
	return !c->nofill_until || bss_now() >= c->nofill_until;
}

/* ---- cached READ and WRITE ---- */

static void bss_break_range(struct bss_cache *c, uint64_t off, uint64_t len)
{
	struct bss_cunit *u;
	uint64_t idx;

	for (idx = off / c->unit; idx * c->unit < off + len; idx++) {
		u = bss_unit_find(c, idx);
		if (u && u->state == BSS_CU_READY)
			u->state = BSS_CU_BROKEN;
	}
	bss_cache_kick_soon(c);
}

/* The units a SYNCHRONIZE CACHE or a FUA write waited for are on the
 * sheep: now make them durable there (the library's flush), then GOOD. */
static void bss_cache_units_flushed(struct bss_aiocb *acb, int err)
{
	if (err) {
		bss_cache_defer(acb, err);
		return;
	}
	bss_step_begin(acb, bss_cache_complete);
	bss_step_add(acb, sd_vdi_aio_flush(acb->blu->vdi, bss_step_cb, acb));
	bss_step_end(acb);
}

static void bss_cache_rw_done(struct bss_aiocb *acb, int err)
{
	struct bss_cache *c = acb->blu->cache;

	if (err) {
		/* write-through: the file may hold what the sheep refused */
		if (acb->is_write && c->mode != BSS_CACHE_WRITEBACK)
			bss_break_range(c, acb->offset, acb->length);
		bss_cache_complete(acb, err);
		return;
	}
	/* FUA or WCE=0 in write-back: the cached part goes to the sheep
	 * before GOOD (the uncached part was sent with SD_AIO_FUA) */
	if (acb->is_write && c->mode == BSS_CACHE_WRITEBACK && (acb->flags & SD_AIO_FUA)) {
		bss_wait_units(acb, acb->offset, acb->length, bss_cache_units_flushed);
		return;
	}
	bss_cache_complete(acb, 0);
}

/* Make sure each unit of the command is cached, or will not be: 0 to go
 * on, 1 if the command now waits on a unit (and runs again later). */
static int bss_cache_prepare(struct bss_aiocb *acb)
{
	struct bss_cache *c = acb->blu->cache;
	uint64_t off = acb->offset, end = off + acb->length, idx;
	struct bss_cunit *u;

	for (idx = off / c->unit; idx * c->unit < end; idx++) {
		uint64_t ustart = idx * c->unit;
		uint32_t ulen = bss_unit_len(c, idx);
		int whole, hole, fd;

		u = bss_unit_find(c, idx);
		if (u) {
			if (u->state == BSS_CU_READY)
				continue;
			list_add_tail(&acb->cache_entry, &u->waiters);
			return 1;
		}
		if (!ulen || !bss_can_fill(c, acb->is_write) || !bss_unit_room(c))
			continue;
		fd = bss_unit_file(c, idx);
		if (fd < 0) {
			eprintf("%s: sheepdog: cache: no room for a unit in %s (%s): I/O goes "
				"straight to the sheep for %d s\n",
				acb->blu->label, c->dir, strerror(-fd), BSS_CACHE_NOFILL_SEC);
			c->nofill_until = bss_now() + BSS_CACHE_NOFILL_SEC;
			continue;
		}
		whole = acb->is_write && off <= ustart && end >= ustart + ulen;
		/* exclusive vdi: nobody else can allocate the object under us */
		hole = sd_vdi_allocated(acb->blu->vdi, ustart, NULL) == 0;
		u = bss_unit_new(c, idx, fd, whole || hole ? BSS_CU_READY : BSS_CU_FETCHING);
		if (!u) {
			close(fd);
			continue;
		}
		if (u->state == BSS_CU_READY)
			continue;
		u->fill_len = ulen;
		u->buf = sdc_map_alloc(ulen);
		if (!u->buf ||
		    sd_vdi_aio_read(acb->blu->vdi, u->buf, ulen, ustart, bss_fill_cb, u) < 0) {
			bss_unit_drop(c, u);
			continue;
		}
		c->nr_fills++;
		list_add_tail(&acb->cache_entry, &u->waiters);
		return 1;
	}
	return 0;
}

/* acb->start of the cached commands (range held); again after a wait. */
static void bss_cache_start(struct bss_aiocb *acb)
{
	struct bss_cache *c = acb->blu->cache;
	struct sd_vdi *vdi = acb->blu->vdi;
	uint64_t off = acb->offset, end = off + acb->length, pos, next, idx;
	int wb = c->mode == BSS_CACHE_WRITEBACK;
	struct bss_cunit *u;
	time_t now = 0;

	if (!acb->length) {
		/* SYNCHRONIZE CACHE: every unit dirty now, then the vdi */
		bss_wait_units(acb, 0, 0, bss_cache_units_flushed);
		return;
	}
	if (bss_cache_prepare(acb))
		return;

	bss_step_begin(acb, bss_cache_rw_done);
	for (pos = off; pos < end; pos = next) {
		char *buf = (char *)acb->buf + (pos - off);
		uint64_t uoff, n;
		int ret;

		idx = pos / c->unit;
		next = (idx + 1) * c->unit < end ? (idx + 1) * c->unit : end;
		n = next - pos;
		uoff = pos - idx * c->unit;
		u = bss_unit_find(c, idx);
		if (u && u->state != BSS_CU_READY)
			u = NULL; /* broken: its dirty data is being flushed */

		if (!acb->is_write) {
			if (u) {
				ret = bss_pio(u->fd, buf, n, uoff, 0);
				if (!ret) {
					bss_unit_touch(c, u);
					continue;
				}
				bss_file_error(c, "reading", idx, ret);
				u->state = BSS_CU_BROKEN;
				bss_cache_kick_soon(c);
				if (u->nr_dirty || u->flushing) {
					/* its newest data is only in that file */
					bss_step_add(acb, -EIO);
					continue;
				}
			}
			bss_step_add(acb, sd_vdi_aio_read(vdi, buf, n, pos, bss_step_cb, acb));
			continue;
		}

		if (u) {
			ret = bss_pio(u->fd, buf, n, uoff, 1);
			if (ret) {
				bss_file_error(c, "writing", idx, ret);
				u->state = BSS_CU_BROKEN;
				bss_cache_kick_soon(c);
			}
			if (wb) {
				unsigned int first = (unsigned int)(uoff / BSS_CACHE_CHUNK);
				unsigned int last =
					(unsigned int)((uoff + n - 1) / BSS_CACHE_CHUNK);
				unsigned int cnt;

				/* Failed or not, the chunks are marked: what the
				 * file holds there goes to the sheep before the
				 * unit is dropped (a failed write leaves its range
				 * undefined, as on a disk; the older dirty data
				 * around it must not be lost). */
				bss_bm_set(u->bm, first, last);
				cnt = bss_bm_count(u->bm, c->nchunks);
				c->dirty_bytes += (uint64_t)(cnt - u->nr_dirty) * BSS_CACHE_CHUNK;
				u->nr_dirty = cnt;
				if (!u->dirty_since)
					u->dirty_since = now ? now : (now = bss_now());
				if (!u->disk_dirty && !ret) {
					ret = bss_unit_mark(c, u, 1);
					if (ret)
						bss_file_error(c, "marking dirty", idx, ret);
				}
				bss_unit_touch(c, u);
				if (ret)
					bss_step_add(acb, ret);
				continue;
			}
			bss_unit_touch(c, u);
		}
		if (!acb->cache_through) {
			acb->cache_through = 1;
			c->nr_through++;
		}
		bss_step_add(acb, sd_vdi_aio_write(vdi, buf, n, pos, acb->flags, bss_step_cb, acb));
	}
	if (acb->is_write && wb && c->dirty_bytes > acb->blu->opts.cache_dirty)
		bss_cache_kick_soon(c);
	bss_step_end(acb);
}

/* ---- the gate ---- */

static void bss_barrier_done(struct bss_aiocb *acb, int err)
{
	struct bss_cache *c = acb->blu->cache;
	struct bss_cunit *u, *next;
	uint64_t start = acb->offset, len = acb->length;

	if (err) {
		bss_cache_defer(acb, err);
		return;
	}
	/* no cached command runs now: drop what the command may change */
	list_for_each_entry_safe(u, next, &c->lru, lru) {
		uint64_t ustart = u->idx * c->unit;

		if (len && (ustart + c->unit <= start || ustart >= start + len))
			continue;
		if (bss_unit_idle(u) || (u->state == BSS_CU_BROKEN && !u->nr_dirty &&
					 !u->flushing && list_empty(&u->fwaits)))
			bss_unit_drop(c, u);
	}
	bss_acb_start(acb, acb->cache_excl);
}

static void bss_admit_bypass(struct bss_cache *c, struct bss_aiocb *acb)
{
	acb->cache_gate = 2;
	c->nr_bypass++;
	bss_wait_units(acb, acb->offset, acb->length, bss_barrier_done);
}

static void bss_gate_drain(struct bss_cache *c)
{
	struct bss_aiocb *acb;

	while (!list_empty(&c->gate_wait)) {
		acb = list_first_entry(&c->gate_wait, struct bss_aiocb, cache_entry);
		if (acb->start == bss_cache_start) {
			if (c->nr_bypass)
				return;
			list_del_init(&acb->cache_entry);
			acb->cache_gate = 1;
			c->nr_active++;
			bss_acb_start(acb, 0);
		} else {
			if (c->nr_active)
				return;
			list_del_init(&acb->cache_entry);
			bss_admit_bypass(c, acb);
		}
	}
}

int bss_cache_gate(struct bss_aiocb *acb, int excl)
{
	struct bss_cache *c = acb->blu->cache;

	acb->cache_excl = excl;
	if (list_empty(&c->gate_wait) && !c->nr_active)
		bss_admit_bypass(c, acb);
	else
		list_add_tail(&acb->cache_entry, &c->gate_wait);
	return 1;
}

void bss_cache_leave(struct bss_aiocb *acb)
{
	struct bss_cache *c = acb->blu->cache;

	if (!c)
		return;
	if (acb->cache_gate == 1)
		c->nr_active--;
	else if (acb->cache_gate == 2)
		c->nr_bypass--;
	acb->cache_gate = 0;
	if (acb->cache_through)
		c->nr_through--;
	acb->cache_through = 0;
	if (!list_empty(&c->gate_wait))
		bss_gate_drain(c);
}

int bss_cache_submit(struct bss_aiocb *acb)
{
	struct bss_cache *c = acb->blu->cache;

	acb->start = bss_cache_start;
	bss_acb_begin(acb);
	if (list_empty(&c->gate_wait) && !c->nr_bypass) {
		acb->cache_gate = 1;
		c->nr_active++;
		bss_acb_start(acb, 0);
	} else {
		list_add_tail(&acb->cache_entry, &c->gate_wait);
	}
	return 0;
}

/* ---- open and close ---- */

static void bss_boot_id(char *out, size_t len)
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	snprintf(out, len, "unknown");
	if (!f)
		return;
	if (fgets(out, (int)len, f))
		out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

static int bss_state_write(struct bss_cache *c, unsigned int clean)
{
	char buf[512];
	int n;

	c->st.clean = clean;
	n = bss_cache_state_format(&c->st, buf, sizeof(buf));
	if (n < 0)
		return n;
	if (pwrite(c->state_fd, buf, (size_t)n, 0) != n || ftruncate(c->state_fd, n) ||
	    fsync(c->state_fd))
		return errno ? -errno : -EIO;
	return 0;
}

/* The whole `dirty` file (*len bytes, malloc'ed; NULL if empty). */
static uint8_t *bss_dirty_read(int fd, size_t *len)
{
	struct stat sb;
	uint8_t *b;

	*len = 0;
	if (fstat(fd, &sb) || sb.st_size <= 0)
		return NULL;
	b = malloc((size_t)sb.st_size);
	if (!b)
		return NULL;
	if (pread(fd, b, (size_t)sb.st_size, 0) != sb.st_size) {
		free(b);
		return NULL;
	}
	*len = (size_t)sb.st_size;
	return b;
}

static size_t bss_count_dirty(const uint8_t *b, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += b[i] != 0;
	return n;
}

/* A killed tgtd left dirty units: write each whole to the sheep (units of
 * the size recorded in `state`), then flush the vdi.  0 or -errno. */
static int bss_cache_replay(struct bss_cache *c, uint32_t unit, const uint8_t *dirty, size_t len)
{
	struct bss_lu *blu = c->blu;
	uint64_t size = sd_vdi_size(blu->vdi);
	unsigned int n = 0;
	char name[32];
	void *buf;
	size_t i;
	int ret = 0;

	buf = malloc(unit);
	if (!buf)
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		uint64_t base = (uint64_t)i * unit, ulen;
		ssize_t got;
		int fd;

		if (!dirty[i] || base >= size)
			continue;
		ulen = size - base < unit ? size - base : unit;
		bss_unit_path(i, name, sizeof(name));
		fd = openat(c->dir_fd, name, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			eprintf("%s: sheepdog: cache: dirty unit %zx of %s has no file: %s\n",
				blu->label, i, c->dir, strerror(-ret));
			break;
		}
		memset(buf, 0, unit);
		got = pread(fd, buf, ulen, 0);
		close(fd);
		if (got < 0) {
			ret = -errno;
			break;
		}
		ret = sd_vdi_write(blu->vdi, buf, ulen, base);
		if (ret)
			break;
		n++;
	}
	free(buf);
	if (!ret)
		ret = sd_vdi_flush(blu->vdi);
	if (ret) {
		eprintf("%s: sheepdog: cache: replaying the dirty units of %s failed: %s; they stay "
			"for the next open\n",
			blu->label, c->dir, strerror(-ret));
		return ret;
	}
	eprintf("%s: sheepdog: cache: replayed %u units from %s\n", blu->label, n, c->dir);
	return 0;
}

/* Start empty: no unit file, nothing dirty. */
static int bss_cache_clear(struct bss_cache *c)
{
	struct dirent *de;
	DIR *d;
	int fd = openat(c->dir_fd, "u", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			unlinkat(fd, de->d_name, 0);
	closedir(d);
	if (ftruncate(c->dirty_fd, 0))
		return -errno;
	return 0;
}

static int bss_mkdirs(const char *path)
{
	char tmp[PATH_MAX];
	char *p;

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Write-back: this gateway's name on the vdi (`bss.cache.owner`), so
 * shared gateways refuse it.  The same owner after a crash takes it over. */
static int bss_owner_take(struct bss_cache *c)
{
	struct bss_lu *blu = c->blu;
	char host[128] = "", cur[SD_MAX_VDI_ATTR_VALUE_LEN];
	int ret;

	gethostname(host, sizeof(host) - 1);
	snprintf(c->owner, sizeof(c->owner), "%s:%s", host, c->dir);
	ret = sd_vdi_setattr(blu->cluster, blu->path.vdi, BSS_CACHE_OWNER_KEY, c->owner,
			     strlen(c->owner), SD_ATTR_EXCL);
	if (ret == -EEXIST) {
		memset(cur, 0, sizeof(cur));
		ret = sd_vdi_getattr(blu->cluster, blu->path.vdi, BSS_CACHE_OWNER_KEY, cur,
				     sizeof(cur) - 1);
		if (ret >= 0 && !strcmp(cur, c->owner)) {
			c->owner_set = 1;
			return 0;
		}
		if (ret >= 0) {
			eprintf("%s: sheepdog: vdi '%s' has write-back data in the cache of "
				"gateway %s: refusing a second write-back cache\n",
				blu->label, blu->path.vdi, cur);
			return -EBUSY;
		}
	}
	if (ret < 0) {
		eprintf("%s: sheepdog: cache: cannot set attribute %s of vdi '%s': %s\n",
			blu->label, BSS_CACHE_OWNER_KEY, blu->path.vdi, strerror(-ret));
		return ret;
	}
	c->owner_set = 1;
	return 0;
}

int bss_cache_shared_check(struct bss_lu *blu)
{
	char cur[SD_MAX_VDI_ATTR_VALUE_LEN];
	int ret;

	if (!blu->opts.shared || sd_vdi_is_readonly(blu->vdi))
		return 0;
	memset(cur, 0, sizeof(cur));
	ret = sd_vdi_getattr(blu->cluster, blu->path.vdi, BSS_CACHE_OWNER_KEY, cur,
			     sizeof(cur) - 1);
	if (ret < 0) /* -ENOENT: no owner; other errors: the open meets them too */
		return 0;
	eprintf("%s: sheepdog: vdi '%s' has write-back data in the cache of gateway %s: a "
		"shared LU cannot export it\n",
		blu->label, blu->path.vdi, cur);
	return -EBUSY;
}

static void bss_cache_free(struct bss_cache *c)
{
	struct bss_cunit *u, *next;

	list_for_each_entry_safe(u, next, &c->lru, lru) {
		struct bss_fwait *fw, *fnext;

		list_for_each_entry_safe(fw, fnext, &u->fwaits, entry)
			free(fw);
		if (u->fd >= 0)
			close(u->fd);
		sdc_map_free(u->buf);
		free(u);
	}
	if (c->dirty_fd >= 0)
		close(c->dirty_fd);
	if (c->state_fd >= 0)
		close(c->state_fd);
	if (c->lock_fd >= 0)
		close(c->lock_fd); /* releases the flock */
	if (c->dir_fd >= 0)
		close(c->dir_fd);
	free(c->buckets);
	free(c);
}

/* Set up the directory; 1: unusable (run as cache=none), 0, or -errno. */
static int bss_cache_setup(struct bss_cache *c, uint64_t cluster)
{
	struct bss_lu *blu = c->blu;
	struct bss_cache_state old;
	char name[128], buf[1024], boot[64];
	uint8_t *dirty;
	size_t dlen, ndirty;
	ssize_t got;
	int ret;

	bss_cache_dir_name(cluster, blu->path.vdi, name, sizeof(name));
	snprintf(c->dir, sizeof(c->dir), "%s/%s", blu->opts.cache_dir, name);
	ret = bss_mkdirs(c->dir);
	if (!ret) {
		c->dir_fd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (c->dir_fd < 0 || (mkdirat(c->dir_fd, "u", 0700) && errno != EEXIST))
			ret = -errno;
	}
	if (!ret) {
		c->lock_fd = openat(c->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (c->lock_fd < 0)
			ret = -errno;
	}
	if (ret) {
		/* dirty data we cannot take care of must not be bypassed */
		int fd = c->dir_fd >= 0 ? openat(c->dir_fd, "dirty", O_RDONLY | O_CLOEXEC) : -1;

		dirty = fd >= 0 ? bss_dirty_read(fd, &dlen) : NULL;
		ndirty = dirty ? bss_count_dirty(dirty, dlen) : 0;
		free(dirty);
		if (fd >= 0)
			close(fd);
		if (ndirty) {
			eprintf("%s: sheepdog: cache directory %s is unusable (%s) and holds %zu "
				"dirty units: not exporting the vdi without them\n",
				blu->label, c->dir, strerror(-ret), ndirty);
			return -EIO;
		}
		eprintf("%s: sheepdog: cache directory %s is unusable (%s): the LU runs without "
			"a cache (cache=none, writes go straight to the sheep)\n",
			blu->label, c->dir, strerror(-ret));
		return 1;
	}
	if (flock(c->lock_fd, LOCK_EX | LOCK_NB)) {
		eprintf("%s: sheepdog: cache directory %s is in use by another LU or tgtd\n",
			blu->label, c->dir);
		return -EBUSY;
	}
	c->dirty_fd = openat(c->dir_fd, "dirty", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	c->state_fd = openat(c->dir_fd, "state", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (c->dirty_fd < 0 || c->state_fd < 0) {
		eprintf("%s: sheepdog: cache directory %s is unusable (%s): the LU runs without "
			"a cache (cache=none, writes go straight to the sheep)\n",
			blu->label, c->dir, strerror(errno));
		return 1;
	}

	if (c->mode == BSS_CACHE_WRITEBACK) {
		ret = bss_owner_take(c);
		if (ret)
			return ret;
	}

	bss_boot_id(boot, sizeof(boot));
	dirty = bss_dirty_read(c->dirty_fd, &dlen);
	ndirty = dirty ? bss_count_dirty(dirty, dlen) : 0;
	got = pread(c->state_fd, buf, sizeof(buf) - 1, 0);
	buf[got > 0 ? got : 0] = '\0';
	ret = 0;
	if (got > 0 && !bss_cache_state_parse(buf, &old)) {
		if (!old.clean && ndirty && strcmp(old.boot_id, boot)) {
			eprintf("%s: sheepdog: WARNING: cache %s was not closed cleanly before "
				"the machine restarted (boot id %s, now %s): its files cannot be "
				"trusted; dropping %zu dirty units (writes acknowledged with "
				"WCE=1 and not yet covered by SYNCHRONIZE CACHE or FUA are lost)\n",
				blu->label, c->dir, old.boot_id, boot, ndirty);
		} else if (ndirty) {
			ret = bss_cache_replay(c, old.unit, dirty, dlen);
		}
	} else if (ndirty) {
		eprintf("%s: sheepdog: cache directory %s holds %zu dirty units but no valid "
			"state file: move it away to discard them\n",
			blu->label, c->dir, ndirty);
		ret = -EIO;
	}
	free(dirty);
	if (ret)
		return ret;

	ret = bss_cache_clear(c);
	if (!ret) {
		c->st.unit = c->unit;
		snprintf(c->st.vdi, sizeof(c->st.vdi), "%s", blu->path.vdi);
		snprintf(c->st.boot_id, sizeof(c->st.boot_id), "%s", boot);
		ret = bss_state_write(c, 0);
	}
	if (ret) {
		eprintf("%s: sheepdog: cache directory %s is unusable (%s): the LU runs without "
			"a cache (cache=none, writes go straight to the sheep)\n",
			blu->label, c->dir, strerror(-ret));
		return 1;
	}
	return 0;
}

int bss_cache_open(struct bss_lu *blu, uint64_t cluster)
{
	const char *mode = blu->opts.cache == BSS_CACHE_WRITEBACK ? "writeback" : "writethrough";
	struct bss_cache *c;
	uint64_t objsize;
	unsigned int i;
	int ret;

	if (blu->opts.cache == BSS_CACHE_NONE)
		return 0;
	if (sd_vdi_is_readonly(blu->vdi)) {
		eprintf("%s: sheepdog: cache=%s ignored: a snapshot is read-only and is not "
			"cached\n",
			blu->label, mode);
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->blu = blu;
	c->mode = (int)blu->opts.cache;
	c->dir_fd = c->lock_fd = c->dirty_fd = c->state_fd = -1;
	objsize = sd_vdi_object_size(blu->vdi);
	c->unit = objsize < BSS_CACHE_MAX_UNIT ? (uint32_t)objsize : BSS_CACHE_MAX_UNIT;
	c->nchunks = c->unit / BSS_CACHE_CHUNK;
	c->max_units = blu->opts.cache_size / c->unit;
	if (!c->max_units)
		c->max_units = 1;
	INIT_LIST_HEAD(&c->lru);
	INIT_LIST_HEAD(&c->gate_wait);
	for (c->nbuckets = 64; c->nbuckets < c->max_units && c->nbuckets < (1u << 20);)
		c->nbuckets <<= 1;
	c->buckets = malloc(c->nbuckets * sizeof(*c->buckets));
	if (!c->buckets) {
		bss_cache_free(c);
		return -ENOMEM;
	}
	for (i = 0; i < c->nbuckets; i++)
		INIT_LIST_HEAD(&c->buckets[i]);

	ret = bss_cache_setup(c, cluster);
	if (ret) {
		if (ret < 0 && c->owner_set)
			sd_vdi_setattr(blu->cluster, blu->path.vdi, BSS_CACHE_OWNER_KEY, NULL, 0,
				       SD_ATTR_DELETE);
		bss_cache_free(c);
		return ret < 0 ? ret : 0;
	}
	tgt_init_sched_event(&c->kick_ev, bss_kick_event_cb, c);
	INIT_LIST_HEAD(&c->work.entry);
	c->work.func = bss_cache_work;
	c->work.data = c;
	add_work(&c->work, BSS_CACHE_WORK_SEC);
	c->work_armed = 1;
	blu->cache = c;
	eprintf("%s: sheepdog: cache=%s in %s: unit %u bytes, at most %" PRIu64
		" units, flush after %u s or %" PRIu64 " dirty bytes\n",
		blu->label, mode, c->dir, c->unit, c->max_units, blu->opts.cache_age,
		blu->opts.cache_dirty);
	return 0;
}

static int bss_cache_busy(struct bss_cache *c)
{
	return c->nr_active || c->nr_bypass || c->nr_fills || c->nr_flushing || c->dirty_bytes ||
	       !list_empty(&c->gate_wait);
}

void bss_cache_close(struct bss_lu *blu)
{
	struct bss_cache *c = blu->cache;
	uint64_t stalled;
	int ret;

	if (!c)
		return;
	if (c->work_armed)
		del_work(&c->work);
	c->work_armed = 0;
	tgt_remove_sched_event(&c->kick_ev);

	/*
	 * Finish what is in flight and flush everything, servicing the
	 * library here (tgtd's loop is not running), for as long as the
	 * sheep makes progress: a LU delete must not wait for a sheep that
	 * is gone or hung.  After BSS_CACHE_CLOSE_STALL_MS without a
	 * completed fill or flush, what is dirty stays in the directory and
	 * is replayed at the next open; the buffers of requests still out
	 * go to the background close (bss_reap.c), which keeps the vdi's
	 * exclusive lock until they are done.
	 */
	stalled = bss_now_ms() + BSS_CACHE_CLOSE_STALL_MS;
	while (bss_cache_busy(c) && bss_now_ms() < stalled) {
		struct pollfd pfd = { .fd = blu->cluster_fd, .events = POLLIN };
		uint64_t before = c->nr_completions;

		if (!c->nr_active && !c->nr_bypass)
			bss_cache_kick(c, 1);
		tgt_remove_sched_event(&c->kick_ev);
		if (blu->cluster_fd >= 0)
			poll(&pfd, 1, 100);
		sd_cluster_service(blu->cluster);
		tgt_remove_sched_event(&blu->done_ev);
		bss_done_event_cb(&blu->done_ev);
		if (c->nr_completions != before)
			stalled = bss_now_ms() + BSS_CACHE_CLOSE_STALL_MS;
	}
	if (bss_cache_busy(c)) {
		struct bss_cunit *u;

		eprintf("%s: sheepdog: cache: the sheep made no progress for %u ms at close: "
			"%" PRIu64 " dirty bytes stay in %s and are replayed at the next open\n",
			blu->label, BSS_CACHE_CLOSE_STALL_MS, c->dirty_bytes, c->dir);
		list_for_each_entry(u, &c->lru, lru) {
			if (u->flushing || u->state == BSS_CU_FETCHING) {
				bss_reap_adopt(blu, u->buf, sdc_map_free);
				u->buf = NULL;
			}
		}
		goto out;
	}
	ret = sd_vdi_flush(blu->vdi);
	if (ret) {
		eprintf("%s: sheepdog: cache: flushing vdi '%s' at close: %s; the cache stays "
			"marked unclean\n",
			blu->label, blu->path.vdi, strerror(-ret));
		goto out;
	}
	ret = bss_state_write(c, 1);
	if (ret)
		eprintf("%s: sheepdog: cache: marking %s clean: %s\n", blu->label, c->dir,
			strerror(-ret));
	if (c->owner_set) {
		ret = sd_vdi_setattr(blu->cluster, blu->path.vdi, BSS_CACHE_OWNER_KEY, NULL, 0,
				     SD_ATTR_DELETE);
		if (ret && ret != -ENOENT)
			eprintf("%s: sheepdog: cache: deleting attribute %s of vdi '%s': %s\n",
				blu->label, BSS_CACHE_OWNER_KEY, blu->path.vdi, strerror(-ret));
	}
out:
	/* a flush that ended in the last service round scheduled a kick */
	tgt_remove_sched_event(&c->kick_ev);
	blu->cache = NULL;
	bss_cache_free(c);
}
