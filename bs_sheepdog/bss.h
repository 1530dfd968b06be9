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

/* One SCSI command in the module. */
struct bss_aiocb {
	struct list_head entry; /* on bss_lu.inflight / done / free_acbs */
	struct bss_lu *blu;
	struct scsi_cmd *cmd;
	int phase;	 /* enum bss_phase (bss_io.c) */
	int is_write;	 /* the current phase writes (for sense) */
	uint64_t offset; /* bytes */
	size_t length;	 /* bytes */
	void *tmp;	 /* verify read-back buffer, malloc'ed */
	int err;	 /* deferred completion: negative errno */
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

	unsigned int nr_errors; /* failed commands, for rate-limited logs */
	char label[48];		/* "tid:lun" for log messages */

	/* Capacity changes (bss_main.c): the size the LU was last given. */
	uint64_t size;
	uint64_t smaller_size;		/* last smaller vdi size logged, or 0 */
	struct tgt_work refresh_work;	/* periodic size check (refresh=SEC) */
	int refresh_armed;		/* refresh_work is on tgt's work list */
	int refreshing;			/* an sd_vdi_aio_refresh is in flight */
	unsigned int nr_refresh_errors; /* failed refreshes in a row */
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

/* bss_sbc.c: per-LU replacement of core's GET LBA STATUS (bs_open). */
void bss_sbc_override(struct scsi_lu *lu);

/* bss_defect.c: per-LU READ DEFECT DATA (10)/(12), empty lists (bs_open). */
void bss_defect_override(struct scsi_lu *lu);

/* bss_main.c: the operations table; tgtd's bs_init() calls this. */
void register_bs_module(void);

#endif
