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
};

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

	/* Runs once the range is granted (bss_acb_start). */
	void (*start)(struct bss_aiocb *acb);
	struct bss_range range;
	int locked; /* range is on blu->ranges */

	/* Fan-out of one step (bss_step_*): library requests still out, the
	 * first error among them, and what runs when the last one is back. */
	unsigned int pending;
	int step_err;
	bss_step_fn step_done;
};

struct bss_lu {
	struct scsi_lu *lu;
	struct bss_opts opts;
	struct bss_path path;
	struct sd_cluster *cluster;
	struct sd_vdi *vdi;
	int cluster_fd; /* registered with tgt_event_add, or -1 */
	int opened;	/* bs_open succeeded, bs_close not yet run */

	struct list_head inflight;  /* submitted to libsheepdog */
	struct list_head done;	    /* failed at submit, completed by done_ev */
	struct list_head free_acbs; /* cache, at most BSS_ACB_CACHE entries */
	unsigned int nr_inflight;
	unsigned int peak_inflight; /* high-water mark, logged at close */
	unsigned int nr_free;
	struct event_data done_ev; /* tgt scheduled event draining `done` */

	struct list_head ranges;     /* bss_range, granted and waiting */
	unsigned int nr_excl_ranges; /* exclusive ones among them */

	unsigned int nr_errors; /* failed commands, for rate-limited logs */
	char label[48];		/* "tid:lun" for log messages */

	struct bss_xcopy_lu *xcopy; /* bss_xcopy.c: copy results, lazily */
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
 *                      async: transfer length 0, PRE-FETCH; core answers GOOD)
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

/* tgt_event_add() handler for the library's fd. */
void bss_cluster_event_cb(int fd, int events, void *data);

/* Scheduled-event handler: completes acbs parked on blu->done. */
void bss_done_event_cb(struct event_data *ev);

/* Free the acb cache (bs_exit). */
void bss_acb_cache_free(struct bss_lu *blu);

/* A zeroed acb for cmd (from the LU's cache), or NULL. */
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

/* bss_sbc.c: per-LU replacement of core's GET LBA STATUS (bs_open). */
void bss_sbc_override(struct scsi_lu *lu);

/* bss_xcopy.c: EXTENDED COPY (LID1), RECEIVE COPY RESULTS and INQUIRY's
 * 3PC bit for one LU (bs_open); the LU's copy records (bs_exit). */
#define BSS_OP_EXTENDED_COPY	    0x83
#define BSS_OP_RECEIVE_COPY_RESULTS 0x84
void bss_xcopy_override(struct scsi_lu *lu);
void bss_xcopy_lu_free(struct bss_lu *blu);

/* bss_main.c: the operations table; tgtd's bs_init() calls this. */
void register_bs_module(void);

#endif
