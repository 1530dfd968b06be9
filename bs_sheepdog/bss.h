/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bs_sheepdog private header: per-LU state and the split between the control
 * path (bss_main.c: bs_init/bs_open/bs_close/bs_exit, registration) and the
 * data path (bss_io.c: bs_cmd_submit and completions).
 *
 * Threading: tgtd is single-threaded for everything the module does.  Every
 * function here runs on tgtd's main thread: bs_* ops from tgtd's dispatch or
 * tgtadm handling, completions from the epoll callback registered on the
 * library's fd (sd_cluster_service() runs the libsheepdog callbacks) or from
 * the LU's scheduled "done" event.  No locks, no threads.
 *
 * Ownership: tgt owns struct scsi_lu and the private area behind it
 * (struct bss_lu, zeroed by tgt, lifetime bs_init..bs_exit).  The module
 * borrows each scsi_cmd from bss_cmd_submit() until it calls
 * target_cmd_io_done() for it, exactly once.  Each in-flight command has one
 * struct bss_aiocb owned by the LU (on `inflight` or `done`, recycled through
 * `free_acbs`).
 */
#ifndef BSS_H
#define BSS_H

#include "bss_tgt.h"
#include <sheepdog/sheepdog.h>

#include "bss_config.h"
#include "bss_sense.h"

/* A byte range of an LU held by a command (bss_range.c). */
struct bss_range {
	struct list_head entry; /* on bss_lu.ranges, FIFO: granted and waiting */
	uint64_t start, end;	/* bytes, [start, end) */
	int excl;		/* exclusive (read-modify-write) or shared */
	int granted;
	void (*granted_cb)(struct bss_range *r); /* a waiter's grant */
	/* Another LU's command holding this range (EXTENDED COPY): the LU is
	 * being closed, the range is off its list already, and requests the
	 * holder has out on the LU's vdi will never call back. */
	void (*closed_cb)(struct bss_range *r);
};

/*
 * Round-robin admission of the commands of several LUs (bss_io.c): at most
 * max acbs in the library at a time; the others wait on their own LU's
 * queue and a freed slot goes to the next waiting LU in turn.  Each
 * connection pool (bss_pool.c) has one for the LUs sharing it.
 */
struct bss_admit {
	unsigned int admitted, max;
	struct list_head waiting_lus;
};
void bss_admit_init(struct bss_admit *a, unsigned int max);

struct bss_aiocb;
struct bss_xcopy_lu;
/* The next thing a command does: submit library requests, or finish. */
typedef void (*bss_step_fn)(struct bss_aiocb *acb, int err);

/* One SCSI command in the module. */
struct bss_aiocb {
	struct list_head entry; /* on bss_lu.inflight / done / free_acbs */
	struct bss_lu *blu;
	struct scsi_cmd *cmd;
	int phase;	    /* enum bss_phase (bss_io.c) */
	int is_write;	    /* the current phase writes (for sense) */
	uint64_t offset;    /* bytes */
	size_t length;	    /* bytes */
	void *buf;	    /* data buffer of the first step */
	unsigned int flags; /* SD_AIO_* of the first step */
	void *tmp;	    /* verify read-back buffer, malloc'ed */
	int err;	    /* deferred completion: negative errno */

	/* Admission (struct bss_admit): the slots it holds one of (NULL:
	 * none yet), its place on the LU's wait queue and the range mode
	 * bss_acb_start was given while it waits. */
	struct bss_admit *admit;
	struct list_head admit_entry;
	int admit_excl;

	/* Runs once the range is granted (bss_acb_start). */
	void (*start)(struct bss_aiocb *acb);
	struct bss_range range;
	int locked; /* range is on blu->ranges */

	/* Fan-out of one step (bss_step_*): library requests still out, the
	 * first error among them, and what runs when the last one is back. */
	unsigned int pending;
	int step_err;
	bss_step_fn step_done;

	/* Commands of many steps (bss_thin.c): progress, in bytes (WRITE
	 * SAME) or descriptors (UNMAP), and the number of descriptors. */
	uint64_t pos;
	uint32_t count;

	/* bss_cache.c (cache != none): which side of the cache's gate the
	 * command is on (0 not yet, 1 cache path, 2 bypass), its range lock
	 * mode while it waits there, whether it wrote to the sheep past the
	 * cache, and its place on one of the cache's wait lists. */
	int cache_gate;
	int cache_excl;
	int cache_through;
	unsigned int cache_waits; /* unit flushes still awaited */
	struct list_head cache_entry;
};

struct bss_lu {
	struct scsi_lu *lu;
	/* core's lu->cmd_perform, which bss_lu_cmd_perform wraps (bss_main.c) */
	int (*core_cmd_perform)(int tid, struct scsi_cmd *cmd);
	struct bss_opts opts;
	struct bss_path path;
	/* The shared connection set (bss_pool.c) and, for short, its handle
	 * and fd (serviced by the pool, never registered by the LU). */
	struct bss_pool *pool;
	struct sd_cluster *cluster;
	int cluster_fd;
	struct sd_vdi *vdi;
	struct bss_admit *admit;     /* the pool's slots, or NULL: no cap */
	struct list_head admit_wait; /* acbs waiting for a slot, FIFO */
	struct list_head admit_link; /* on admit->waiting_lus while not empty */
	unsigned int nr_admit_waits; /* acbs that had to wait, for the close log */
	int opened;		     /* bs_open succeeded, bs_close not yet run */

	struct list_head inflight;  /* submitted to libsheepdog */
	struct list_head done;	    /* failed at submit, completed by done_ev */
	struct list_head free_acbs; /* cache, at most BSS_ACB_CACHE entries */
	unsigned int nr_inflight;
	unsigned int peak_inflight; /* high-water mark, logged at close */
	unsigned int nr_free;
	struct event_data done_ev; /* tgt scheduled event draining `done` */

	struct list_head ranges;     /* bss_range, granted and waiting */
	unsigned int nr_excl_ranges; /* exclusive ones among them */
	unsigned int nr_prefetch_bg; /* detached PRE-FETCH acbs (bss_caw.c) */

	/* bss_thin.c: core's B0 updater (called first by ours), and a zero
	 * buffer one object long for WRITE SAME, allocated on first use. */
	void (*core_vpd_b0)(struct scsi_lu *lu, void *arg);
	void *zero_buf;
	size_t zero_len;

	unsigned int nr_errors; /* failed commands, for rate-limited logs */
	char label[48];		/* "tid:lun" for log messages */

	/* Capacity changes (bss_main.c): the size the LU was last given. */
	uint64_t size;
	uint64_t smaller_size;		/* last smaller vdi size logged, or 0 */
	struct tgt_work refresh_work;	/* periodic size check (refresh=SEC) */
	int refresh_armed;		/* refresh_work is on tgt's work list */
	int refreshing;			/* an sd_vdi_aio_refresh is in flight */
	unsigned int nr_refresh_errors; /* failed refreshes in a row */

	struct bss_pr_lu *pr; /* persistent reservations (bss_pr_tgt.c) */

	struct bss_xcopy_lu *xcopy; /* bss_xcopy.c: copy results, lazily */

	/* COMPARE AND WRITE once the range is held: bss_ats.c's through the
	 * sheep (shared=1 and the sheep has the op), or NULL: local. */
	void (*caw_start)(struct bss_aiocb *acb);

	struct bss_cache *cache; /* bss_cache.c, or NULL: cache=none */

	/* bss_reap.c: memory library requests still use at bs_close, freed
	 * when the background close is done */
	struct bss_orphan *orphans;
	unsigned int nr_orphans, max_orphans;
};

#define BSS_ACB_CACHE 256

/*
 * Big-endian field of n bytes from a CDB or data buffer.  Not tgt's
 * get_unaligned_be32(): it shifts a promoted int (p[0] << 24), undefined
 * for bytes >= 0x80 (UBSan aborts on it).
 */
static inline uint64_t bss_get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

static inline struct bss_lu *bss_lu_of(struct scsi_lu *lu)
{
	return (struct bss_lu *)((char *)lu + sizeof(*lu));
}

/* bss_io.c: data path. */

/*
 * tgt's bs_cmd_submit (main thread).  Returns:
 *   0                  the command is either complete already (not marked
 *                      async: transfer length 0, PRE-FETCH with IMMED; core
 *                      answers GOOD)
 *                      or marked async and completed later, exactly once,
 *                      with target_cmd_io_done(), never from inside this call;
 *   BSS_SUBMIT_FAILED  nothing was started and the command is not async
 *                      (out of memory, an opcode outside the module's map):
 *                      core answers HARDWARE ERROR / INTERNAL TARGET FAILURE.
 * BSS_SUBMIT_FAILED is EIO, a positive errno, because that is what tgt
 * expects here: every core caller fails the command on any non-zero value,
 * but sbc_sync_cache() only on EROFS, EINVAL, EBADF or EIO; a negative
 * errno or -1 would turn a failed SYNCHRONIZE CACHE into GOOD.
 */
#define BSS_SUBMIT_FAILED EIO
int bss_cmd_submit(struct scsi_cmd *cmd);

/* bs_close: the LU's acbs still waiting for a slot go on at once, past the
 * cap (they find the LU closed and fail); blu->admit is NULL after. */
void bss_admit_forget(struct bss_lu *blu);
/* An admitted acb is done: its slot goes to the next waiting LU. */
void bss_admit_release(struct bss_admit *a);

/*
 * bss_pool.c: connection sets shared by the LUs with the same sheep
 * addresses, connection options and pool= name.  bss_pool_get: a reference
 * for blu (NULL + errno if a new handle cannot connect); bss_pool_lu_put
 * gives it back; bss_pool_hold/bss_pool_put: references of the background
 * closes.  Whoever services a pool holds a reference meanwhile.
 */
enum bss_pool_kind { BSS_POOL_IO, BSS_POOL_PR };
struct bss_pool;
struct bss_pool *bss_pool_get(struct bss_lu *blu, int kind);
void bss_pool_hold(struct bss_pool *p);
void bss_pool_put(struct bss_pool *p);
void bss_pool_lu_put(struct bss_pool *p);
struct sd_cluster *bss_pool_cluster(const struct bss_pool *p);
int bss_pool_fd(const struct bss_pool *p);
struct bss_admit *bss_pool_admit(struct bss_pool *p);
/* An I/O pool's reference also holds blu's vdi name in it (no second LU of
 * that vdi joins the pool) until this, at the end of the close. */
void bss_pool_vdi_put(struct bss_pool *p, const char *vdi);
/* The cluster's identity once a LU of the pool read it: 1 + *ctime, or 0. */
int bss_pool_ctime(const struct bss_pool *p, uint64_t *ctime);
void bss_pool_set_ctime(struct bss_pool *p, uint64_t ctime);

/* CLOCK_MONOTONIC in milliseconds (bss_reap.c). */
uint64_t bss_now_ms(void);

/* bss_reap.c: LU delete's background close of the vdi and cluster handles. */
void bss_reap_start(struct bss_lu *blu);
/* Keep p until blu's background close is done, then release(p). */
struct bss_orphan {
	void *p;
	void (*release)(void *p);
};
void bss_reap_adopt(struct bss_lu *blu, void *p, void (*release)(void *p));
/* bss_open: finish the background closes of addr's vdi first (bounded). */
void bss_reap_wait(const char *addr, const char *vdi, unsigned timeout_ms);
/* Free the background closes that are done (after a pool's service round). */
void bss_reap_collect(void);

/* Scheduled-event handler: completes acbs parked on blu->done. */
void bss_done_event_cb(struct event_data *ev);

/* Free the acb cache (bs_exit). */
void bss_acb_cache_free(struct bss_lu *blu);

/*
 * Sense data with COMMAND-SPECIFIC INFORMATION (seg >= 0) and a sense-key
 * specific field (sks: its first byte, e.g. 0xc0 | bit pointer for a CDB
 * field; 0 for none) pointing at byte `field`, in the fixed or descriptor
 * format the LU uses (tgt's sense_data_build has neither).
 */
void bss_sense_build(struct scsi_cmd *cmd, uint8_t key, uint16_t asc, int seg, uint8_t sks,
		     unsigned int field);

/* A zeroed acb for cmd (from the LU's cache), or NULL.  cmd may be NULL
 * for work detached from any command (a PRE-FETCH with IMMED): begin and
 * finish then leave tgt alone; such an acb must never reach
 * bss_acb_fail. */
struct bss_aiocb *bss_acb_get(struct bss_lu *blu, struct scsi_cmd *cmd);
/* Mark cmd async and put acb on blu->inflight: from here on the command
 * ends exactly once, through bss_acb_finish/bss_acb_fail/bss_acb_defer. */
void bss_acb_begin(struct bss_aiocb *acb);

/*
 * Run acb->start once [offset, offset + length) is held, shared or
 * exclusive (excl).  The acb must be on blu->inflight and the command
 * marked async.  start runs now or, if an overlapping exclusive range is
 * held or waited for, from the completion that releases it; the range is
 * released when the command finishes.  length 0 takes no range.
 */
void bss_acb_start(struct bss_aiocb *acb, int excl);

/*
 * Fan-out: bss_step_begin(acb, done); for each library request pass
 * bss_step_cb as callback and acb as opaque, then account its submit
 * return with bss_step_add(acb, ret); then bss_step_end(acb).  done(acb,
 * err) runs once, after every accepted request completed, with the first
 * error (submit or completion) or 0; never from inside bss_step_end (it is
 * deferred to the LU's done event when nothing was accepted), so a step
 * may be started from bs_cmd_submit or from a replaced core handler.
 */
void bss_step_begin(struct bss_aiocb *acb, bss_step_fn done);
void bss_step_add(struct bss_aiocb *acb, int submit_ret);
void bss_step_end(struct bss_aiocb *acb);
void bss_step_cb(struct sd_vdi *vdi, int ret, void *opaque);

/* Complete with GOOD, or with the sense for a negative errno. */
void bss_acb_finish(struct bss_aiocb *acb, int status);
void bss_acb_fail(struct bss_aiocb *acb, int err);
/* Complete from the LU's done event (never inside bs_cmd_submit): with
 * acb->step_done(acb, err) if set, else as bss_acb_fail(acb, err). */
void bss_acb_defer(struct bss_aiocb *acb, int err);

/* bss_range.c: 1 if granted now, 0 if r waits (granted_cb runs later). */
int bss_range_lock(struct bss_lu *blu, struct bss_range *r, uint64_t start, uint64_t len, int excl,
		   void (*granted)(struct bss_range *r));
void bss_range_unlock(struct bss_lu *blu, struct bss_range *r);
/* bs_close: hand every range with a closed_cb (granted or waiting) back to
 * its holder; the other ranges stay (the LU is about to be freed). */
void bss_range_close(struct bss_lu *blu);

/* The caching mode page's WCE bit (1 if the page is missing). */
int bss_write_cache_enabled(struct scsi_lu *lu);

/* bss_caw.c: COMPARE AND WRITE, ORWRITE 16, PRE-FETCH 10/16.  The submits
 * are bss_cmd_submit's for those opcodes (same returns); bss_caw_override
 * replaces core's COMPARE AND WRITE and PRE-FETCH handlers and fixes the
 * reservation conflict bits of COMPARE AND WRITE and ORWRITE in the LU's
 * own SBC template (called by bss_sbc_override). */
int bss_orwrite_submit(struct scsi_cmd *cmd);
int bss_prefetch_submit(struct scsi_cmd *cmd);
void bss_caw_override(struct scsi_lu *lu);
/* COMPARE AND WRITE's local read-compare-write (the exclusive range held),
 * and its MISCOMPARE completion (at: first differing byte). */
void bss_caw_local_start(struct bss_aiocb *acb);
void bss_caw_miscompare(struct bss_aiocb *acb, uint64_t at);
/* bss_ats.c (bs_open, after the vdi is open): with shared=1, ask the sheep
 * for its compare-and-write extension and set blu->caw_start; without it,
 * log what the LU does not guarantee and keep the local lock. */
void bss_caw_probe(struct scsi_lu *lu);

/* bss_sbc.c: per-LU replacement of core's GET LBA STATUS (bs_open). */
void bss_sbc_override(struct scsi_lu *lu);

/*
 * bss_pr_tgt.c: persistent reservations and RESERVE/RELEASE(6) for the LU
 * (bs_open).  Wraps every handler of the LU's template with the
 * reservation check, so call it after every other handler override.  The
 * state survives a path update to the same vdi; bss_pr_free (bs_exit)
 * drops it (shared=0) or the connection to it (shared=1: it stays in the
 * vdi's attributes).  0, -ENOMEM, or why the cluster store could not
 * connect.
 */
int bss_pr_attach(struct scsi_lu *lu);
void bss_pr_free(struct scsi_lu *lu);
/* bss_pr_attrs.c: the LU's cluster store (shared=1) on a connection of its
 * own; NULL + errno (connect failed, no memory). */
struct bss_pr_store;
struct bss_pr_store *bss_pr_cluster_store(struct bss_lu *blu);

/*
 * bss_thin.c: thin provisioning, UNMAP, WRITE SAME (10/16), VPD B0.
 * bss_thin_init (bs_init): replace core's UNMAP and WRITE SAME handlers and
 * B0 updater for this LU, and set its thin-provisioning flag (tgtadm's
 * thin_provisioning= param may change it later).  bss_thin_refresh
 * (bs_open): B0 again, now that the object size is known.  bss_thin_exit
 * (bs_exit): free the zero buffer.
 */
void bss_thin_init(struct scsi_lu *lu, int thin);
void bss_thin_refresh(struct scsi_lu *lu);
void bss_thin_exit(struct scsi_lu *lu);

/* The limits B0 announces and the handlers enforce, in logical blocks
 * (0: none, or thin provisioning off for the UNMAP ones). */
struct bss_thin_limits {
	uint32_t max_xfer;	 /* MAXIMUM TRANSFER LENGTH */
	uint32_t max_unmap_lbas; /* MAXIMUM UNMAP LBA COUNT */
	uint32_t max_unmap_desc; /* MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT */
	uint32_t unmap_gran;	 /* OPTIMAL UNMAP GRANULARITY: one object */
	uint64_t max_ws;	 /* MAXIMUM WRITE SAME LENGTH */
};
void bss_thin_limits(const struct scsi_lu *lu, struct bss_thin_limits *l);

/* A parsed WRITE SAME (10/16) CDB. */
struct bss_ws {
	uint64_t lba, nlb; /* as in the CDB */
	uint64_t count;	   /* blocks written: nlb, or to the end if nlb is 0 */
	int unmap, lbdata, pbdata, ndob;
};
/*
 * The checks of a WRITE SAME, split where write protection is checked in
 * between (a write-protected LU answers DATA PROTECT whatever the data-out
 * and the range).  0, or -1 with the sense in *s:
 * bss_ws_check_cdb: WRPROTECT, ANCHOR, UNMAP without thin provisioning,
 * LBDATA with PBDATA -> INVALID FIELD IN CDB.  bss_ws_check_range:
 * data-out not one block (NDOB=0) -> PARAMETER LIST LENGTH ERROR; LBA or
 * LBA + count beyond nr_blocks -> LBA OUT OF RANGE; count > max_ws ->
 * INVALID FIELD IN CDB; sets ws->count.
 */
int bss_ws_check_cdb(const uint8_t *cdb, int thin, struct bss_ws *ws, struct bss_sense *s);
int bss_ws_check_range(struct bss_ws *ws, uint32_t out_len, unsigned int blk_shift,
		       uint64_t nr_blocks, uint64_t max_ws, struct bss_sense *s);
/* nblocks copies of block (zeros if NULL) from LBA lba into buf, the
 * first 4 (lbdata) or 8 (pbdata) bytes of each replaced by its LBA. */
void bss_ws_fill(uint8_t *buf, const uint8_t *block, size_t blksize, uint64_t lba, uint64_t nblocks,
		 int lbdata, int pbdata);
/*
 * An UNMAP parameter list of len bytes (what both the CDB's length and the
 * transfer hold).  0 with *ndesc descriptors to walk and the hull
 * [*first, *end) of their non-empty ranges (both 0 if none), or -1 with the
 * sense: len 1..7 -> PARAMETER LIST LENGTH ERROR; more descriptors or
 * blocks than the limits -> INVALID FIELD IN PARAMETER LIST; a range
 * beyond nr_blocks -> LBA OUT OF RANGE.  Descriptors of 0 blocks are
 * skipped, whatever their LBA; an incomplete last one is ignored.
 */
int bss_unmap_check(const uint8_t *param, uint32_t len, uint64_t nr_blocks,
		    const struct bss_thin_limits *l, uint32_t *ndesc, uint64_t *first,
		    uint64_t *end, struct bss_sense *s);

/* bss_defect.c: per-LU READ DEFECT DATA (10)/(12), empty lists (bs_open). */
void bss_defect_override(struct scsi_lu *lu);

/* bss_xcopy.c: EXTENDED COPY (LID1), RECEIVE COPY RESULTS and INQUIRY's
 * 3PC bit for one LU (bs_open); the LU's copy records (bs_exit). */
#define BSS_OP_EXTENDED_COPY	    0x83
#define BSS_OP_RECEIVE_COPY_RESULTS 0x84
void bss_xcopy_override(struct scsi_lu *lu);
void bss_xcopy_lu_free(struct bss_lu *blu);

/*
 * bss_cache.c: the gateway object cache (--bsopts cache=writethrough|
 * writeback).  All on tgtd's main thread.
 * bss_cache_open (bs_open, after the vdi is open, before the fd is
 * registered): set up blu->cache, replaying dirty units a killed tgtd left
 * (synchronously); 0 (blu->cache may stay NULL: the LU runs as cache=none,
 * logged), or a negative errno: the LU must not open (the directory is
 * locked by another LU, another gateway owns the vdi's cache, the replay
 * failed).  cluster: the cluster's ctime.
 * bss_cache_close (bs_close, before the vdi is closed): wait for the cache's
 * requests, flush every dirty unit, mark the directory clean.
 * bss_cache_submit: READ, WRITE and SYNCHRONIZE CACHE of a cached LU (acb
 * set up as bss_cmd_submit does, not begun); completes like bss_cmd_submit.
 * bss_cache_gate (bss_acb_start, every other command): 1 if the cache took
 * the acb (it flushes and drops the units of the command's range first and
 * calls bss_acb_start again), 0 to go on.  bss_cache_leave (bss_acb_finish).
 * bss_cache_shared_check (bs_open of a shared=1 LU): -EBUSY, logged, if a
 * write-back gateway owns the vdi's cache.
 */
struct bss_cache;
int bss_cache_open(struct bss_lu *blu, uint64_t cluster);
void bss_cache_close(struct bss_lu *blu);
int bss_cache_submit(struct bss_aiocb *acb);
int bss_cache_gate(struct bss_aiocb *acb, int excl);
void bss_cache_leave(struct bss_aiocb *acb);
int bss_cache_shared_check(struct bss_lu *blu);

/* bss_main.c: the operations table; tgtd's bs_init() calls this. */
void register_bs_module(void);

#endif
