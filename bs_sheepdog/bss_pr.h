/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Persistent reservations (SPC-4 5.13, PERSISTENT RESERVE IN/OUT) and their
 * interplay with SCSI-2 RESERVE/RELEASE(6), for the module's LUNs.  tgt core
 * has its own PR code (spc.c); the module replaces it per LU (bss_pr_tgt.c)
 * because core's gets several SPC rules wrong (see docs/design.md).
 *
 * Three layers, each usable without the next:
 *
 *   rules (bss_pr.c)     pure functions of (state, I_T nexus, CDB, data-out)
 *                        -> (new state, status/sense, data-in, unit
 *                        attentions).  No tgt, no I/O; unit-tested in
 *                        bs_sheepdog/tests/test_bss_pr.c.
 *   state store          the whole state as one bounded blob with a store
 *   (bss_pr_store.c)     version: load, and commit-if-version-unchanged
 *                        (compare and swap).  Two implementations: in memory
 *   (bss_pr_cluster.c)   (shared=0) and in vdi attributes shared by every
 *                        gateway of the vdi (shared=1).
 *   tgt plumbing         per-LU handler swap, I_T nexus naming from the
 *   (bss_pr_tgt.c)       iSCSI session, sense and unit attentions.
 *
 * I_T nexus identity is by name, never by tgtd-local ids, so that a state
 * written by one gateway means the same thing to another: the initiator
 * port name ("<iSCSI name>,i,0x<ISID>") plus the target port name
 * ("<target iSCSI name>,t,0x<TPGT>").
 *
 * Thread context: tgtd's main thread only (no locks).
 */
#ifndef BSS_PR_H
#define BSS_PR_H

#include <stddef.h>
#include <stdint.h>

/* SAM status codes the rules return. */
#define BSS_PR_GOOD	0x00
#define BSS_PR_CHECK	0x02
#define BSS_PR_CONFLICT 0x18

/* Sense: ILLEGAL REQUEST with these ASC/ASCQ; UA additional sense codes. */
#define BSS_PR_KEY_ILLEGAL_REQUEST	   0x05
#define BSS_PR_ASC_PARAM_LIST_LENGTH	   0x1a00
#define BSS_PR_ASC_INVALID_FIELD_CDB	   0x2400
#define BSS_PR_ASC_INVALID_FIELD_PARAM	   0x2600
#define BSS_PR_ASC_INVALID_RELEASE	   0x2604
#define BSS_PR_ASC_RESERVATIONS_PREEMPTED  0x2a03
#define BSS_PR_ASC_RESERVATIONS_RELEASED   0x2a04
#define BSS_PR_ASC_REGISTRATIONS_PREEMPTED 0x2a05
#define BSS_PR_ASC_INSUFFICIENT_REG	   0x5504

/* Reservation types (SPC-4 table 170); 0 = no reservation. */
#define BSS_PR_WE    0x1
#define BSS_PR_EA    0x3
#define BSS_PR_WE_RO 0x5
#define BSS_PR_EA_RO 0x6
#define BSS_PR_WE_AR 0x7
#define BSS_PR_EA_AR 0x8

/*
 * Bounds of the serialised state: an iSCSI name is at most 223 bytes, plus
 * ",i,0x" and 12 hex digits of ISID (or ",t,0x" and the TPGT), plus NUL.
 */
#define BSS_PR_PORT_LEN 256
#define BSS_PR_MAX_REGS 32

struct bss_pr_nexus {
	char initiator[BSS_PR_PORT_LEN]; /* initiator port name */
	char target[BSS_PR_PORT_LEN];	 /* target port name */
};

struct bss_pr_reg {
	uint64_t key;
	struct bss_pr_nexus nexus;
};

/*
 * The whole PR state of one logical unit.  `holder` is the index of the
 * reservation holder's registration for the types with one holder; for the
 * all-registrants types every registration holds the reservation and
 * `holder` is -1.  type == 0: no persistent reservation.
 */
struct bss_pr_state {
	uint32_t generation; /* PRgeneration (SPC-4 6.15.2) */
	uint8_t type;
	uint8_t scope;
	int holder;
	unsigned int nr_regs;
	struct bss_pr_reg regs[BSS_PR_MAX_REGS];
	/* not a PR field: LOGICAL UNIT RESETs any gateway published (it
	 * travels with the state so that every gateway's per-command check
	 * sees it; bss_pr_tgt.c, docs/design.md "LUN reset across gateways").
	 * Only changes matter (it wraps); the rules copy it untouched. */
	uint32_t resets;
};

/* Empty state: no registrations, no reservation, generation 0. */
void bss_pr_state_init(struct bss_pr_state *st);

/* Index of the registration of `n`, or -1. */
int bss_pr_find(const struct bss_pr_state *st, const struct bss_pr_nexus *n);

/* 1 if `n` holds the persistent reservation (any registrant for *_AR). */
int bss_pr_is_holder(const struct bss_pr_state *st, const struct bss_pr_nexus *n);

/* ---- rules (bss_pr.c) ---------------------------------------------------- */

/* One PERSISTENT RESERVE IN/OUT command as the rules see it. */
struct bss_pr_cmd {
	const uint8_t *cdb;
	const uint8_t *out; /* data-out (PR OUT parameter list), may be NULL */
	size_t out_len;	    /* bytes actually received */
	uint8_t *in;	    /* data-in buffer, may be NULL */
	size_t in_len;	    /* its size */
	const struct bss_pr_nexus *nexus;
	uint16_t rel_tgt_port; /* relative target port identifier of nexus */
};

struct bss_pr_result {
	int status;	/* BSS_PR_GOOD / _CHECK / _CONFLICT */
	uint8_t key;	/* sense key if _CHECK */
	uint16_t asc;	/* ASC << 8 | ASCQ if _CHECK */
	size_t in_done; /* data-in bytes written */
	int changed;	/* the state was modified (commit it) */
	int aborts;	/* PREEMPT AND ABORT: tasks of the preempted nexuses */
	unsigned int nr_ua;
	struct {
		int reg;      /* index into the state *before* the command */
		uint16_t asc; /* RESERVATIONS RELEASED / PREEMPTED, ... */
	} ua[BSS_PR_MAX_REGS];
};

/*
 * PERSISTENT RESERVE IN (all four service actions).  Reads `st` only.
 */
void bss_pr_in(const struct bss_pr_state *st, const struct bss_pr_cmd *c, struct bss_pr_result *r);

/*
 * PERSISTENT RESERVE OUT.  Modifies `st` in place (r->changed says whether
 * it did); r->ua[].reg index `before`, a copy of `st` taken by the caller
 * before the call, where the unit attentions' nexuses are named.
 * APTPL=1 is rejected (REPORT CAPABILITIES says PTPL_C=0): the state lives
 * as long as the LU's store (see bss_pr_store.c).
 */
void bss_pr_out(struct bss_pr_state *st, const struct bss_pr_cmd *c, struct bss_pr_result *r);

/*
 * Access check of any other command (SPC-4 table 66, SBC-3 table 13) from
 * nexus `n` against the persistent reservation: 1 = RESERVATION CONFLICT.
 * PERSISTENT RESERVE OUT is checked by bss_pr_out itself; RESERVE/RELEASE
 * by bss_pr_scsi2_allowed.
 */
int bss_pr_conflict(const struct bss_pr_state *st, const struct bss_pr_nexus *n,
		    const uint8_t *cdb);

/*
 * 1 if a persistent reservation can make `cdb` conflict for some nexus
 * (bss_pr_conflict may return 1), 0 for the commands every reservation
 * allows: whether the command needs the current state at all.
 */
int bss_pr_checked(const uint8_t *cdb);

/*
 * RESERVE(6)/RELEASE(6) under SPC-4 5.13.3 (compatible reservation
 * handling, CRH=1): returns
 *   1  GOOD, do nothing (`n` holds the persistent reservation, or is
 *      registered under a registrants-only / all-registrants one);
 *   -1 RESERVATION CONFLICT (registrations exist);
 *   0  process as SPC-2 (the SCSI-2 reservation itself).
 */
int bss_pr_scsi2_allowed(const struct bss_pr_state *st, const struct bss_pr_nexus *n);

/*
 * Commands exempt from a SCSI-2 reservation held by another I_T nexus
 * (INQUIRY, REQUEST SENSE, REPORT LUNS, RELEASE, PREVENT ALLOW with
 * PREVENT=0): returns 1 if `cdb` conflicts with it.
 */
int bss_pr_scsi2_conflict(const uint8_t *cdb);

/* ---- state store (bss_pr_store.c) ----------------------------------------- */

/*
 * Serialised state: a versioned, bounded, big-endian blob (layout in
 * bss_pr_store.c).  encode returns the length (<= BSS_PR_BLOB_MAX);
 * decode returns 0 or -EINVAL for anything malformed, never reading past
 * `len`.
 */
#define BSS_PR_BLOB_MAX (24 + BSS_PR_MAX_REGS * (8 + 2 * (2 + BSS_PR_PORT_LEN)))
size_t bss_pr_encode(const struct bss_pr_state *st, uint8_t *buf);
int bss_pr_decode(const uint8_t *buf, size_t len, struct bss_pr_state *st);

/*
 * A PR state store: where one LU's state lives.  `version` is the store's
 * compare-and-swap token (bumped by every commit), not PRgeneration.
 * Both calls are synchronous on the main thread.
 *   load:   copy the blob (at most `size` bytes) to `buf`, its length to
 *           *len (0: nothing stored yet = empty state) and its version to
 *           *version.  0 or a negative errno.
 *   commit: store `buf` if the stored version still equals `expect`, then
 *           *version = the new version.  -ESTALE if another writer
 *           committed first (reload and redo the command), other negative
 *           errnos on failure (nothing stored).
 *   validate: (may be NULL: nobody else commits to the store) 0 if
 *           `version` is still the newest, 1 if a newer one exists
 *           (load it), a negative errno if the store cannot tell.  Cheaper
 *           than load: one lookup for the cluster store.
 *   validate_async: (may be NULL) validate without waiting: 0 and
 *           cb(opaque, ret) runs later exactly once, never from inside the
 *           call, with what validate would return; or a negative errno and
 *           cb never runs.
 *   load_async, commit_async: (may be NULL) load and commit without
 *           waiting: 0 and cb(opaque, ret) runs later exactly once, never
 *           from inside the call, with what load / commit would return (the
 *           outputs are written before it runs; buf and the output
 *           pointers must stay valid until then, commit_async copies its
 *           blob at once); or a negative errno and cb never runs.
 *   destroy: free the store (the state goes with it for the memory store);
 *           pending asynchronous calls' callbacks run first (with an
 *           error).
 */
struct bss_pr_store;
typedef void (*bss_pr_done_fn)(void *opaque, int ret);
struct bss_pr_store_ops {
	const char *name;
	int (*load)(struct bss_pr_store *s, uint8_t *buf, size_t size, size_t *len,
		    uint64_t *version);
	int (*commit)(struct bss_pr_store *s, const uint8_t *buf, size_t len, uint64_t expect,
		      uint64_t *version);
	int (*validate)(struct bss_pr_store *s, uint64_t version);
	int (*validate_async)(struct bss_pr_store *s, uint64_t version, bss_pr_done_fn cb,
			      void *opaque);
	int (*load_async)(struct bss_pr_store *s, uint8_t *buf, size_t size, size_t *len,
			  uint64_t *version, bss_pr_done_fn cb, void *opaque);
	int (*commit_async)(struct bss_pr_store *s, const uint8_t *buf, size_t len, uint64_t expect,
			    uint64_t *version, bss_pr_done_fn cb, void *opaque);
	void (*destroy)(struct bss_pr_store *s);
};

struct bss_pr_store {
	const struct bss_pr_store_ops *ops;
};

/* The in-memory store (per LU, lost with it).  NULL + errno on failure. */
struct bss_pr_store *bss_pr_mem_store_create(void);

/* ---- cluster store (bss_pr_cluster.c) -------------------------------------- */

/*
 * The vdi attributes the cluster store works on (one vdi; keys are
 * NUL-terminated strings).
 *   get:     copy at most `size` bytes of the value of `key` to buf;
 *            returns the value's full length (>= 0), -ENOENT if the key
 *            does not exist, another negative errno on failure.
 *   exists:  0 if `key` exists, -ENOENT if not, another negative errno.
 *   exists_async, get_async, set_async: (may be NULL) the same without
 *            waiting: 0 and cb(opaque, what the synchronous call would
 *            return) runs later, exactly once, never from inside the call
 *            (get_async's buf must stay valid until then; set_async copies
 *            val at once); or a negative errno and cb never runs.  The
 *            store's load_async and commit_async need get_async and
 *            set_async.
 *   set:     excl = 1: create `key` only if it does not exist (-EEXIST
 *            otherwise), atomically against every other call on the vdi,
 *            from any gateway; excl = 0: create or replace.  0 or a
 *            negative errno.
 *   destroy: (may be NULL) called with priv when the store is destroyed.
 */
struct bss_pr_attr_ops {
	int (*get)(void *priv, const char *key, void *buf, size_t size);
	int (*exists)(void *priv, const char *key);
	int (*exists_async)(void *priv, const char *key, bss_pr_done_fn cb, void *opaque);
	int (*set)(void *priv, const char *key, const void *val, size_t len, int excl);
	int (*get_async)(void *priv, const char *key, void *buf, size_t size, bss_pr_done_fn cb,
			 void *opaque);
	int (*set_async)(void *priv, const char *key, const void *val, size_t len, int excl,
			 bss_pr_done_fn cb, void *opaque);
	void (*destroy)(void *priv);
};

/*
 * A store that keeps the state in the attributes under `prefix` (layout
 * and compare-and-swap in bss_pr_cluster.c); `ops` and `priv` are kept
 * (ops must outlive the store; priv goes to ops->destroy).  NULL + errno
 * (EINVAL: prefix empty or longer than 71 bytes; ENOMEM).
 */
struct bss_pr_store *bss_pr_cluster_store_create(const struct bss_pr_attr_ops *ops, void *priv,
						 const char *prefix);

#endif
