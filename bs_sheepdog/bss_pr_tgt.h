/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The tgt side of persistent reservations, shared by its three files:
 *   bss_pr_tgt.c    the LU's PR state (load, apply, unit attentions), the
 *                   PR IN/OUT and RESERVE/RELEASE(6) handlers, the check of
 *                   every other command (bss_pr_perform) and its
 *                   asynchronous validation (shared=1), attach and free;
 *   bss_pr_job.c    PR commands run as jobs, without holding tgtd's loop
 *                   (shared=1);
 *   bss_pr_reset.c  LOGICAL UNIT RESET noticed and published to the other
 *                   gateways (shared=1).
 * The rules themselves are bss_pr.c's (bss_pr.h); the stores are
 * bss_pr_store.c's and bss_pr_cluster.c's.  Everything here runs on tgtd's
 * main thread.
 */
#ifndef BSS_PR_TGT_H
#define BSS_PR_TGT_H

#include "bss.h"
#include "bss_pr.h"

#define BSS_PR_IN	      0x5e
#define BSS_PR_OUT	      0x5f
#define BSS_RESERVE6	      0x16
#define BSS_RELEASE6	      0x17
#define BSS_PR_RETRIES	      16 /* lost compare-and-swaps, then HARDWARE ERROR */
#define BSS_PR_RTPI	      1	 /* tgtd gives a target one port */
#define BSS_INQUIRY	      0x12
#define BSS_REQ_SENSE	      0x03
#define BSS_REPORT_LUNS	      0xa0
#define BSS_PREVENT	      0x1e
/*
 * How long a command no reservation can conflict (TEST UNIT READY ...)
 * waits for the lookup that would show another gateway's LUN reset before
 * it runs without it: a sheep that does not answer must not hold TURs for
 * the whole retry window.
 */
#define BSS_PR_UA_WAIT_SEC    2
/*
 * How long a LOGICAL UNIT RESET's response waits for the reset to be
 * published to the other gateways (shared=1) before it goes anyway; the
 * publication goes on behind it, within the LU's timeouts.
 */
#define BSS_PR_RESET_WAIT_SEC 2
/*
 * Reservation lookups out at once per LU (shared=1).  One would serve the
 * most commands per lookup (CPU), but a command arriving while it is out
 * waits up to a whole round trip for the next; with a few out the wait is
 * about a fraction of a round trip (docs/performance.md, "CPU per I/O").
 */
#define BSS_PR_LOOKUPS	      2

/*
 * In itn_lu->prevent, outside PREVENT_MASK: "this nexus was marked since
 * the LU's last reset".  Core clears the whole field on LOGICAL UNIT
 * RESET (target_mgmt_request) and reads only PREVENT_REMOVAL from it
 * (lu_prevent_removal); PREVENT ALLOW's handler overwrites it.
 */
#define BSS_PR_MARK 0x100

typedef int (*bss_perform_fn)(int host_no, struct scsi_cmd *cmd);

struct bss_pr_lu {
	struct bss_pr_store *store;
	char owner[512 + SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN + 32]; /* vdi it is for */
	int loaded;
	uint64_t version;	 /* store version of `cur` */
	struct bss_pr_state cur; /* last loaded or committed state */
	/* Scratch of the synchronous paths and of a changed state's unit
	 * attentions (bss_pr_scratch): 33 KiB, allocated on first use, so
	 * that the LUs that never need it (most of hundreds) do not pay. */
	struct bss_pr_state *work;
	uint8_t *blob; /* BSS_PR_BLOB_MAX bytes, after work */
	bss_perform_fn orig[NR_SCSI_OPCODES];

	/* shared=1: commands whose validation answered, run by check_ev */
	struct list_head checks;
	struct event_data check_ev;
	/*
	 * shared=1: a validation lookup serves every command that arrived
	 * before it was sent (its bss_pr_batch).  At most BSS_PR_LOOKUPS are
	 * out; commands arriving meanwhile wait in `waiting` for the next
	 * one, sent as soon as one answers.
	 */
	struct list_head waiting;
	int nr_out;
	uint64_t nr_checked, nr_lookups; /* logged when the LU goes */
	uint64_t nr_jobs;		 /* PR commands run as bss_pr_job */

	/* LUN reset detection: the nexuses marked with BSS_PR_MARK */
	struct list_head entry; /* on g_pr_lus */
	struct bss_lu *blu;
	uint64_t *marked;
	unsigned int nr_marked, marked_cap;
	int reset_ua;		    /* a load raised another gateway's reset: answer with it */
	struct list_head publishes; /* bss_pr_publish in flight (shared=1) */
	struct list_head jobs;	    /* bss_pr_job: PR IN/OUT, RESERVE/RELEASE(6) */

	/* shared=1: the load of a state not cached yet or found changed by a
	 * lookup, without holding tgtd's loop; the commands waiting for it */
	int reloading;
	struct list_head reload_waiters; /* bss_pr_check */
	struct event_data reload_ev;
	int reload_ret;
	size_t reload_len;
	uint64_t reload_version;
	uint8_t *reload_blob; /* BSS_PR_BLOB_MAX bytes while reloading */
};

/*
 * A PR IN, PR OUT, RESERVE(6) or RELEASE(6) against a store other gateways
 * write to (shared=1), without holding tgtd's loop: the command is async
 * while its job refreshes the cached state (a lookup, a load if it
 * changed; a PR OUT on a cached state goes straight to its compare and
 * swap) and commits a change, again on a lost race.  Jobs of a LU run one
 * at a time, in arrival order, as the synchronous calls did.  Like the
 * publication of a reset, the library's callbacks only record the answer
 * and schedule `ev`.
 */
enum { BSS_PR_JOB_VALIDATE, BSS_PR_JOB_LOAD, BSS_PR_JOB_COMMIT, BSS_PR_JOB_ANSWER };

struct bss_pr_job {
	struct list_head entry; /* on pl->jobs, the running one first */
	struct bss_pr_lu *pl;
	struct scsi_cmd *cmd;
	struct event_data ev;
	int stage; /* BSS_PR_JOB_*: whose answer `ret` is */
	int ret;
	int status; /* BSS_PR_JOB_ANSWER: the command's */
	int tries;
	size_t len;
	uint64_t version, expect, committed;
	struct bss_pr_nexus n;
	struct bss_pr_cmd c;
	struct bss_pr_result r;
	struct bss_pr_state before, after; /* PR OUT: the state it ran on, its result */
	uint8_t blob[BSS_PR_BLOB_MAX];
};

/*
 * A LOGICAL UNIT RESET's response, held while the reset is published to
 * the other gateways (shared=1), for at most BSS_PR_RESET_WAIT_SEC.  Core
 * frees its mgmt_req as soon as mgmt_end_notify returns; the iSCSI
 * driver's completion reads only `mid` (its task, which holds a reference
 * on the connection and frees itself if that closed meanwhile) and
 * `result`, so a copy answers later.
 */
struct bss_pr_tmf {
	struct mgmt_req mreq;
	unsigned int pending; /* publishes not done */
	int answered;
	struct tgt_work deadline;
};

/*
 * One publication of a reset (shared=1): load the state, bump its reset
 * counter, compare and swap, again on a lost race; without holding tgtd's
 * loop.  The library's callbacks only record the answer and schedule `ev`,
 * which runs the next step from tgtd's loop: a callback may run inside a
 * synchronous store call (PR OUT) that is using the LU's state.
 */
struct bss_pr_publish {
	struct list_head entry; /* on pl->publishes */
	struct bss_pr_lu *pl;
	struct bss_pr_tmf *tmf; /* whose response waits for it, or NULL */
	struct event_data ev;
	int committing; /* the answer in `ret` is the commit's, not the load's */
	int ret;
	int tries;
	size_t len;
	uint64_t version, committed;
	uint64_t started_ms;
	struct bss_pr_state st;
	uint8_t blob[BSS_PR_BLOB_MAX];
};

/* One lookup out and the commands it validates (shared=1). */
struct bss_pr_batch {
	struct list_head cmds;
	struct bss_pr_lu *pl;
};

/* One command waiting for its asynchronous validation (shared=1). */
struct bss_pr_check {
	struct list_head entry; /* on waiting, a batch's cmds, then checks */
	struct bss_lu *blu;
	struct scsi_cmd *cmd;
	int host_no;
	int ret;		  /* validate's answer */
	struct tgt_work deadline; /* only for commands no reservation conflicts */
	int late;		  /* the deadline ran the command: just free */
	int sync;		  /* no lookup could be sent: check_ev validates */
};

/* every LU with PR state (bss_pr_reset.c: a LUN reset names no LU) */
extern struct list_head g_pr_lus;

/* bss_pr_tgt.c */

void bss_pr_nexus_of(struct scsi_lu *lu, uint64_t itn_id, struct bss_pr_nexus *n);
int bss_pr_scratch(struct bss_pr_lu *pl);
int bss_pr_load(struct bss_lu *blu);
int bss_pr_apply(struct bss_lu *blu, const uint8_t *blob, size_t len, uint64_t version);
int bss_pr_fail(struct bss_lu *blu, struct scsi_cmd *cmd, const char *what, int err);
int bss_pr_finish(struct scsi_cmd *cmd, const struct bss_pr_result *r);
void bss_pr_cmd_init(struct scsi_cmd *cmd, struct bss_pr_cmd *c, const struct bss_pr_nexus *n);
int bss_pr_in_run(struct bss_lu *blu, struct scsi_cmd *cmd);
int bss_pr_out_done(struct bss_lu *blu, struct scsi_cmd *cmd, const struct bss_pr_state *before,
		    const struct bss_pr_state *after, uint64_t version,
		    const struct bss_pr_result *r);
int bss_pr_reserve6_run(struct bss_lu *blu, struct scsi_cmd *cmd);

/* bss_pr_job.c */
int bss_pr_job_submit(struct bss_lu *blu, int host_no, struct scsi_cmd *cmd);

/* bss_pr_reset.c */
void bss_pr_mark(struct bss_lu *blu, struct it_nexus_lu_info *itl);
void bss_pr_publishes_cancel(struct bss_pr_lu *pl);
void bss_pr_tmf_hook(struct scsi_lu *lu);

#endif
