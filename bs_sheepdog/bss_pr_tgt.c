/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Persistent reservations for the module's LUNs: tgt plumbing around the
 * pure rules of bss_pr.c (docs/design.md, "Reservations").
 *
 * tgt core runs its own reservation check, spc_access_check(), before every
 * handler; it reads core's PR list (lu->pr_holder), which stays empty for
 * our LUs because core's PR handlers never run for them.  Instead
 * bss_pr_attach() wraps every handler of the LU's own copy of the device
 * type template with bss_pr_perform(), which checks the command against
 * the module's PR state (and the SCSI-2 reservation) and then calls the
 * handler it replaced.  That check runs where core's would have run: after
 * the LUN and unit attention checks and the opcode map, before the handler.
 * PERSISTENT RESERVE IN/OUT and RESERVE/RELEASE(6) get the module's own
 * handlers.
 *
 * SCSI-2 reservations stay in core's lu->reserve_id (an I_T nexus id of
 * this tgtd): core already drops them on I_T nexus loss and LOGICAL UNIT
 * RESET, and its own checks in sbc_rw() etc. agree with ours.
 *
 * shared=1 (the default): the state lives in the vdi's attributes
 * (bss_pr_cluster.c) on a connection of the LU's own, and another gateway
 * may change it at any time.  bss_pr_perform() then validates the cached
 * state before each command a reservation can conflict: the command is
 * marked async, the lookup goes out, and bss_pr_check_event() (a scheduled
 * event, not the library's callback) has the state reloaded if needed and
 * finishes the command's check.
 * A state loaded from another gateway's commit raises the unit attentions
 * its changes imply for this gateway's nexuses (bss_pr_remote_uas).
 * PR IN/OUT and RESERVE/RELEASE(6) run as jobs (bss_pr_job_*), a LUN
 * reset is published (bss_pr_publish_*) and a state not cached or found
 * changed is loaded (bss_pr_reload_wait) with the store's asynchronous
 * calls; the synchronous ones (bounded by the LU's timeouts) only where the
 * store's connection is not on tgtd's loop.
 *
 * All of it runs on tgtd's main thread.
 */
#include "bss.h"
#include "bss_pr.h"

#include "driver.h"

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

static LIST_HEAD(g_pr_lus);
/* the iSCSI driver's TMF completion, which bss_pr_tmf_done wraps */
static int (*g_tmf_done_orig)(struct mgmt_req *mreq);

static struct service_action g_pr_in_sa[5];
static struct service_action g_pr_out_sa[9];

/*
 * The I_T nexus of `itn_id` by name.  The iSCSI driver's transportid hook
 * returns the initiator name followed by ",i,0x" and the six raw ISID
 * bytes; the target port is the target name with tgtd's portal group tag
 * (1).  A transport without the hook gets a tgtd-local name.
 */
static void bss_pr_nexus_of(struct scsi_lu *lu, uint64_t itn_id, struct bss_pr_nexus *n)
{
	struct target *t = lu->tgt;
	int (*tid_fn)(int, uint64_t, char *, int) = tgt_drivers[t->lid]->transportid;
	char buf[BSS_PR_PORT_LEN + 32];
	int len = tid_fn ? tid_fn(t->tid, itn_id, buf, sizeof(buf)) : 0;
	size_t nl;
	const uint8_t *isid;

	n->initiator[0] = 0;
	if (len > 4 && len <= (int)sizeof(buf)) {
		nl = strnlen(buf + 4, (size_t)len - 4);
		isid = (const uint8_t *)buf + 4 + nl + 1 + 5;
		if (nl < BSS_PR_PORT_LEN - 18 && 4 + nl + 1 + 5 + 6 <= (size_t)len &&
		    !memcmp(buf + 4 + nl + 1, ",i,0x", 5))
			snprintf(n->initiator, sizeof(n->initiator),
				 "%s,i,0x%02x%02x%02x%02x%02x%02x", buf + 4, isid[0], isid[1],
				 isid[2], isid[3], isid[4], isid[5]);
	}
	if (!n->initiator[0])
		snprintf(n->initiator, sizeof(n->initiator), "tgtd-nexus-%" PRIu64, itn_id);
	snprintf(n->target, sizeof(n->target), "%.*s,t,0x1", BSS_PR_PORT_LEN - 8, t->name);
}

static void bss_pr_ua(struct scsi_lu *lu, const struct bss_pr_nexus *who, uint16_t asc);

/*
 * Unit attentions for this gateway's nexuses from a state another gateway
 * committed (`old` -> `cur`): the rules' own UAs reached only the nexuses
 * of the gateway that ran the command.  A registration that disappeared
 * gets RESERVATIONS PREEMPTED when every registration went (CLEAR), else
 * REGISTRATIONS PREEMPTED (PREEMPT, PREEMPT AND ABORT).  A nexus that
 * unregistered itself through another gateway gets one too: the state
 * cannot tell who removed it.
 */
static void bss_pr_remote_uas(struct scsi_lu *lu, const struct bss_pr_state *old,
			      const struct bss_pr_state *cur)
{
	unsigned int i;

	for (i = 0; i < old->nr_regs; i++)
		if (bss_pr_find(cur, &old->regs[i].nexus) < 0)
			bss_pr_ua(lu, &old->regs[i].nexus,
				  cur->nr_regs ? BSS_PR_ASC_REGISTRATIONS_PREEMPTED
					       : BSS_PR_ASC_RESERVATIONS_PREEMPTED);
}

/*
 * Another gateway published a LOGICAL UNIT RESET of the vdi's LU: do for
 * this gateway's nexuses what core did for that gateway's
 * (target_mgmt_request): POWER ON, RESET, OR BUS DEVICE RESET OCCURRED
 * for every nexus, PREVENT ALLOW state and the SCSI-2 reservation gone.
 * Tasks running here are not aborted (SAM lets a reset abort them; the
 * commands of this gateway simply complete).
 */
static void bss_pr_remote_reset(struct bss_lu *blu)
{
	struct scsi_lu *lu = blu->lu;
	struct it_nexus_lu_info *itl;

	list_for_each_entry(itl, &lu->lu_itl_info_list, lu_itl_info_siblings) {
		ua_sense_add_it_nexus(itl->itn_id, lu, ASC_POWERON_RESET);
		itl->prevent &= ~PREVENT_MASK;
	}
	lu->reserve_id = 0;
	blu->pr->reset_ua = 1;
}

/*
 * Refresh `cur` from the store: for a store other gateways write to, one
 * validation of the cached version and a load only when it changed; for
 * the memory store a load (a copy).
 */
static int bss_pr_load_full(struct bss_lu *blu);

/* pl->work and pl->blob: 0, or -ENOMEM. */
static int bss_pr_scratch(struct bss_pr_lu *pl)
{
	if (pl->work)
		return 0;
	pl->work = malloc(sizeof(*pl->work) + BSS_PR_BLOB_MAX);
	if (!pl->work)
		return -ENOMEM;
	pl->blob = (uint8_t *)(pl->work + 1);
	return 0;
}

static int bss_pr_load(struct bss_lu *blu)
{
	struct bss_pr_lu *pl = blu->pr;
	int ret;

	if (!pl->store) /* a failed bss_pr_attach on a path update */
		return -ENODEV;
	if (pl->loaded && pl->store->ops->validate) {
		ret = pl->store->ops->validate(pl->store, pl->version);
		if (ret <= 0)
			return ret;
	}
	return bss_pr_load_full(blu);
}

/*
 * The state the store holds at `version` (its blob): make it `cur`, with
 * the unit attentions another gateway's changes since the cached one imply
 * for this gateway's nexuses.  Not from a library callback (a synchronous
 * store call may be waiting under it).
 */
static int bss_pr_apply(struct bss_lu *blu, const uint8_t *blob, size_t len, uint64_t version)
{
	struct bss_pr_lu *pl = blu->pr;

	struct bss_pr_state *old = NULL;

	if (pl->loaded && version == pl->version)
		return 0;
	/* another gateway changed it: what changed raises unit attentions */
	if (pl->loaded && pl->store->ops->validate) {
		if (bss_pr_scratch(pl))
			return -ENOMEM;
		old = pl->work;
		*old = pl->cur;
	}
	if (!len)
		bss_pr_state_init(&pl->cur);
	else if (bss_pr_decode(blob, len, &pl->cur))
		return -EIO;
	if (old) {
		bss_pr_remote_uas(blu->lu, old, &pl->cur);
		if (old->resets != pl->cur.resets)
			bss_pr_remote_reset(blu);
	}
	pl->version = version;
	pl->loaded = 1;
	return 0;
}

static int bss_pr_load_full(struct bss_lu *blu)
{
	struct bss_pr_lu *pl = blu->pr;
	uint64_t version;
	size_t len;
	int ret;

	if (!pl->store)
		return -ENODEV;
	if (bss_pr_scratch(pl))
		return -ENOMEM;
	ret = pl->store->ops->load(pl->store, pl->blob, BSS_PR_BLOB_MAX, &len, &version);
	return ret ? ret : bss_pr_apply(blu, pl->blob, len, version);
}

static int bss_pr_fail(struct bss_lu *blu, struct scsi_cmd *cmd, const char *what, int err)
{
	eprintf("%s: sheepdog: persistent reservation state %s failed: %s\n", blu->label, what,
		strerror(-err));
	scsi_set_in_resid_by_actual(cmd, 0);
	sense_data_build(cmd, HARDWARE_ERROR, ASC_INTERNAL_TGT_FAILURE);
	return SAM_STAT_CHECK_CONDITION;
}

static int bss_pr_finish(struct scsi_cmd *cmd, const struct bss_pr_result *r)
{
	if (r->status == BSS_PR_CHECK) {
		scsi_set_in_resid_by_actual(cmd, 0);
		sense_data_build(cmd, r->key, r->asc);
		return SAM_STAT_CHECK_CONDITION;
	}
	scsi_set_in_resid_by_actual(cmd, (int)r->in_done);
	return r->status == BSS_PR_CONFLICT ? SAM_STAT_RESERVATION_CONFLICT : SAM_STAT_GOOD;
}

static void bss_pr_cmd_init(struct scsi_cmd *cmd, struct bss_pr_cmd *c,
			    const struct bss_pr_nexus *n)
{
	memset(c, 0, sizeof(*c));
	c->cdb = cmd->scb;
	c->nexus = n;
	c->rel_tgt_port = BSS_PR_RTPI;
	if (scsi_get_data_dir(cmd) == DATA_WRITE || scsi_get_data_dir(cmd) == DATA_BIDIRECTIONAL) {
		c->out = scsi_get_out_buffer(cmd);
		c->out_len = scsi_get_out_length(cmd);
	}
	if (scsi_get_data_dir(cmd) == DATA_READ || scsi_get_data_dir(cmd) == DATA_BIDIRECTIONAL) {
		c->in = scsi_get_in_buffer(cmd);
		c->in_len = scsi_get_in_length(cmd);
	}
}

/* PR IN on the current state. */
static int bss_pr_in_run(struct bss_lu *blu, struct scsi_cmd *cmd)
{
	struct bss_pr_nexus n;
	struct bss_pr_result r;
	struct bss_pr_cmd c;

	bss_pr_nexus_of(cmd->dev, cmd->cmd_itn_id, &n);
	bss_pr_cmd_init(cmd, &c, &n);
	bss_pr_in(&blu->pr->cur, &c, &r);
	return bss_pr_finish(cmd, &r);
}

static int bss_pr_job_submit(struct bss_lu *blu, int host_no, struct scsi_cmd *cmd);

/* PR IN, RESERVE/RELEASE(6): as a job, or `run` on the state loaded here. */
static int bss_pr_state_cmd(int host_no, struct scsi_cmd *cmd,
			    int (*run)(struct bss_lu *blu, struct scsi_cmd *cmd))
{
	struct bss_lu *blu = bss_lu_of(cmd->dev);
	int ret;

	if (bss_pr_job_submit(blu, host_no, cmd) == 0)
		return SAM_STAT_GOOD;
	ret = bss_pr_load(blu);
	if (ret)
		return bss_pr_fail(blu, cmd, "load", ret);
	return run(blu, cmd);
}

static int bss_pr_in_cmd(int host_no, struct scsi_cmd *cmd)
{
	return bss_pr_state_cmd(host_no, cmd, bss_pr_in_run);
}

/* Unit attention `asc` for every I_T nexus of this LU named `who`. */
static void bss_pr_ua(struct scsi_lu *lu, const struct bss_pr_nexus *who, uint16_t asc)
{
	struct it_nexus_lu_info *itl;
	struct bss_pr_nexus n;

	list_for_each_entry(itl, &lu->lu_itl_info_list, lu_itl_info_siblings) {
		bss_pr_nexus_of(lu, itl->itn_id, &n);
		if (!strcmp(n.initiator, who->initiator) && !strcmp(n.target, who->target))
			ua_sense_add_it_nexus(itl->itn_id, lu, asc);
	}
}

/*
 * A PR OUT committed: the unit attentions it raises (naming registrations
 * of `before`, the state it ran on), then its state cached at `version`
 * (unless a load found a newer one meanwhile).
 */
static int bss_pr_out_done(struct bss_lu *blu, struct scsi_cmd *cmd,
			   const struct bss_pr_state *before, const struct bss_pr_state *after,
			   uint64_t version, const struct bss_pr_result *r)
{
	struct bss_pr_lu *pl = blu->pr;
	unsigned int i;

	for (i = 0; i < r->nr_ua; i++)
		bss_pr_ua(cmd->dev, &before->regs[r->ua[i].reg].nexus, r->ua[i].asc);
	if (r->aborts)
		dprintf("%s: PREEMPT AND ABORT: tasks of the preempted nexuses are not aborted "
			"(no abort path into tgt)\n",
			blu->label);
	if (!pl->loaded || pl->version < version) {
		pl->cur = *after;
		pl->version = version;
		pl->loaded = 1;
	}
	return bss_pr_finish(cmd, r);
}

/*
 * PR OUT: load, apply, commit-if-unchanged; a concurrent writer (another
 * gateway, with a cluster store) makes the commit fail with -ESTALE and the
 * command is redone on the newer state.  Asynchronous where the store can
 * (bss_pr_job_*), else here, on tgtd's loop.
 */
static int bss_pr_out_cmd(int host_no, struct scsi_cmd *cmd)
{
	struct bss_lu *blu = bss_lu_of(cmd->dev);
	struct bss_pr_lu *pl = blu->pr;
	struct bss_pr_nexus n;
	struct bss_pr_result r;
	struct bss_pr_cmd c;
	uint64_t version;
	size_t len;
	int ret = 0, tries;

	if (bss_pr_job_submit(blu, host_no, cmd) == 0)
		return SAM_STAT_GOOD;
	bss_pr_nexus_of(cmd->dev, cmd->cmd_itn_id, &n);
	bss_pr_cmd_init(cmd, &c, &n);
	for (tries = 0; tries < BSS_PR_RETRIES; tries++) {
		ret = bss_pr_load(blu);
		if (!ret)
			ret = bss_pr_scratch(pl);
		if (ret)
			return bss_pr_fail(blu, cmd, "load", ret);
		*pl->work = pl->cur;
		bss_pr_out(pl->work, &c, &r);
		if (!r.changed)
			return bss_pr_finish(cmd, &r);
		len = bss_pr_encode(pl->work, pl->blob);
		ret = pl->store->ops->commit(pl->store, pl->blob, len, pl->version, &version);
		if (ret != -ESTALE)
			break;
	}
	if (ret)
		return bss_pr_fail(blu, cmd, "commit", ret);
	return bss_pr_out_done(blu, cmd, &pl->cur, pl->work, version, &r);
}

/* ---- LOGICAL UNIT RESET across gateways ------------------------------- */

/*
 * tgt core handles LOGICAL UNIT RESET itself and tells the backing store
 * nothing; its unit attention reaches only this tgtd's nexuses.  The
 * module notices the reset by a mark core wipes (BSS_PR_MARK in every
 * marked nexus's itn_lu->prevent) and, with shared=1, publishes it as a
 * counter in the cluster PR state, which every gateway's per-command
 * check already looks up (docs/design.md, "LUN reset across gateways").
 */

static int bss_pr_is_marked(const struct bss_pr_lu *pl, uint64_t itn_id)
{
	unsigned int i;

	for (i = 0; i < pl->nr_marked; i++)
		if (pl->marked[i] == itn_id)
			return 1;
	return 0;
}

/* Remember `itn_id` as marked: 0 or -ENOMEM.  Ids of nexuses that are
 * gone are dropped first: tgtd reuses an iSCSI nexus id (the TSIH) after
 * 65535 sessions, and a stale id must not make a new nexus look reset. */
static int bss_pr_remember(struct scsi_lu *lu, struct bss_pr_lu *pl, uint64_t itn_id)
{
	struct it_nexus_lu_info *itl;
	unsigned int i, n = 0;
	uint64_t *m;

	for (i = 0; i < pl->nr_marked; i++)
		list_for_each_entry(itl, &lu->lu_itl_info_list, lu_itl_info_siblings)
			if (itl->itn_id == pl->marked[i]) {
				pl->marked[n++] = pl->marked[i];
				break;
			}
	pl->nr_marked = n;
	if (pl->nr_marked == pl->marked_cap) {
		m = realloc(pl->marked, (pl->marked_cap * 2 + 8) * sizeof(*m));
		if (!m)
			return -ENOMEM;
		pl->marked = m;
		pl->marked_cap = pl->marked_cap * 2 + 8;
	}
	pl->marked[pl->nr_marked++] = itn_id;
	return 0;
}

/* 1 if core reset the LU since the module marked it: a nexus it marked
 * lost the mark (a nexus never marked has none either). */
static int bss_pr_reset_happened(struct scsi_lu *lu, const struct bss_pr_lu *pl)
{
	struct it_nexus_lu_info *itl;

	list_for_each_entry(itl, &lu->lu_itl_info_list, lu_itl_info_siblings)
		if (!(itl->prevent & BSS_PR_MARK) && bss_pr_is_marked(pl, itl->itn_id))
			return 1;
	return 0;
}

/* After a reset: mark every nexus of the LU again, remember exactly them. */
static void bss_pr_mark_all(struct scsi_lu *lu, struct bss_pr_lu *pl)
{
	struct it_nexus_lu_info *itl;

	pl->nr_marked = 0;
	list_for_each_entry(itl, &lu->lu_itl_info_list, lu_itl_info_siblings)
		if (!bss_pr_remember(lu, pl, itl->itn_id))
			itl->prevent |= BSS_PR_MARK;
}

/*
 * Core reset the LU through one of this gateway's nexuses.  shared=1:
 * bump the state's reset counter with the store's compare and swap, so the
 * other gateways' next check of a command raises the unit attention.
 * Synchronous: only where the store has no asynchronous calls (its
 * connection could not be registered with tgtd); else bss_pr_publish_start.
 */
static void bss_pr_reset_publish_sync(struct bss_lu *blu)
{
	struct bss_pr_lu *pl = blu->pr;
	uint64_t version;
	size_t len;
	int ret = 0, tries;

	for (tries = 0; tries < BSS_PR_RETRIES; tries++) {
		ret = bss_pr_load(blu);
		if (!ret)
			ret = bss_pr_scratch(pl);
		if (ret)
			break;
		*pl->work = pl->cur;
		pl->work->resets++;
		len = bss_pr_encode(pl->work, pl->blob);
		ret = pl->store->ops->commit(pl->store, pl->blob, len, pl->version, &version);
		if (ret != -ESTALE)
			break;
	}
	if (ret) {
		eprintf("%s: sheepdog: LUN reset not published to the other gateways: %s\n",
			blu->label, strerror(-ret));
		return;
	}
	dprintf("%s: LUN reset published (%" PRIu32 ")\n", blu->label, pl->work->resets);
	pl->cur = *pl->work;
	pl->version = version;
}

/* Send the TMF's response now (its copy of core's request). */
static void bss_pr_tmf_answer(struct bss_pr_tmf *tmf)
{
	if (tmf->answered)
		return;
	tmf->answered = 1;
	del_work(&tmf->deadline);
	g_tmf_done_orig(&tmf->mreq);
}

static void bss_pr_tmf_deadline(void *data)
{
	struct bss_pr_tmf *tmf = data;

	eprintf("sheepdog: LUN reset: answering after %u s, still publishing it to the other "
		"gateways\n",
		BSS_PR_RESET_WAIT_SEC);
	bss_pr_tmf_answer(tmf);
}

static void bss_pr_publish_end(struct bss_pr_publish *p, int ret)
{
	struct bss_pr_lu *pl = p->pl;
	struct bss_pr_tmf *tmf = p->tmf;
	uint64_t ms = bss_now_ms() - p->started_ms;

	if (ret)
		eprintf("%s: sheepdog: LUN reset not published to the other gateways: %s\n",
			pl->blu->label, strerror(-ret));
	else if (tmf && tmf->answered)
		eprintf("%s: sheepdog: LUN reset published to the other gateways (%" PRIu32
			"), %" PRIu64 " ms after it began, after its response\n",
			pl->blu->label, p->st.resets, ms);
	else
		dprintf("%s: LUN reset published (%" PRIu32 ") in %" PRIu64 " ms\n", pl->blu->label,
			p->st.resets, ms);
	list_del(&p->entry);
	tgt_remove_sched_event(&p->ev);
	free(p);
	if (tmf && !--tmf->pending) {
		bss_pr_tmf_answer(tmf);
		free(tmf);
	}
}

static void bss_pr_publish_cb(void *opaque, int ret)
{
	struct bss_pr_publish *p = opaque;

	p->ret = ret;
	tgt_add_sched_event(&p->ev);
}

/* Submit the load of the current state: 0, or the submit's error. */
static int bss_pr_publish_load(struct bss_pr_publish *p)
{
	struct bss_pr_store *st = p->pl->store;

	p->committing = 0;
	return st->ops->load_async(st, p->blob, sizeof(p->blob), &p->len, &p->version,
				   bss_pr_publish_cb, p);
}

/* Submit the compare and swap of the cached state (version p->version)
 * with its reset counter bumped: 0, or the submit's error. */
static int bss_pr_publish_commit(struct bss_pr_publish *p)
{
	struct bss_pr_lu *pl = p->pl;
	struct bss_pr_store *st = pl->store;

	p->st = pl->cur;
	p->st.resets++;
	p->len = bss_pr_encode(&p->st, p->blob);
	p->committing = 1;
	return st->ops->commit_async(st, p->blob, p->len, p->version, &p->committed,
				     bss_pr_publish_cb, p);
}

/* ev: the load or the commit answered (p->ret); the next step. */
static void bss_pr_publish_event(struct event_data *ev)
{
	struct bss_pr_publish *p = ev->data;
	struct bss_pr_lu *pl = p->pl;
	int ret = p->ret;

	if (!pl->store) /* the store went (a path update): bss_pr_publishes_cancel */
		ret = -ECANCELED;
	if (ret == -ESTALE && ++p->tries < BSS_PR_RETRIES) {
		/* another gateway (or a PR OUT here) committed first */
		ret = bss_pr_publish_load(p);
		if (ret)
			bss_pr_publish_end(p, ret);
		return;
	}
	if (ret) {
		bss_pr_publish_end(p, ret);
		return;
	}
	if (p->committing) {
		/* a synchronous load may have found our version already */
		if (!pl->loaded || pl->version < p->committed) {
			pl->cur = p->st;
			pl->version = p->committed;
			pl->loaded = 1;
		}
		bss_pr_publish_end(p, 0);
		return;
	}
	/* loaded: the unit attentions of others' changes first, as any load */
	if (!pl->loaded || p->version > pl->version) {
		ret = bss_pr_apply(pl->blu, p->blob, p->len, p->version);
		if (ret) {
			bss_pr_publish_end(p, ret);
			return;
		}
	}
	if (pl->version != p->version) {
		/* a synchronous commit came after the load's last lookup */
		p->ret = -ESTALE;
		bss_pr_publish_event(ev);
		return;
	}
	ret = bss_pr_publish_commit(p);
	if (ret)
		bss_pr_publish_end(p, ret);
}

/*
 * Publish a reset of pl's LU (shared=1): 1 if a publication started (tmf,
 * if any, then waits for it), 0 if there was nothing to publish or it was
 * done synchronously.  With a cached state the first step is its compare
 * and swap (one round trip; a lost race loads and tries again), else a
 * load.
 */
static int bss_pr_publish_start(struct bss_pr_lu *pl, struct bss_pr_tmf *tmf)
{
	struct bss_pr_publish *p;
	int ret;

	bss_pr_mark_all(pl->blu->lu, pl);
	if (!pl->store || !pl->store->ops->validate)
		return 0; /* shared=0: nobody else to tell */
	p = pl->store->ops->load_async ? calloc(1, sizeof(*p)) : NULL;
	if (p) {
		p->pl = pl;
		p->started_ms = bss_now_ms();
		tgt_init_sched_event(&p->ev, bss_pr_publish_event, p);
		p->version = pl->version;
		ret = pl->loaded ? bss_pr_publish_commit(p) : bss_pr_publish_load(p);
		if (ret) {
			free(p);
			p = NULL;
		}
	}
	/* the store's connection is not on tgtd's loop, or no memory */
	if (!p) {
		bss_pr_reset_publish_sync(pl->blu);
		return 0;
	}
	p->tmf = tmf;
	list_add_tail(&p->entry, &pl->publishes);
	if (tmf)
		tmf->pending++;
	return 1;
}

/* The store was destroyed (LU gone, path update): what was in flight got
 * -ECANCELED; end it now, not from an event after pl is freed. */
static void bss_pr_publishes_cancel(struct bss_pr_lu *pl)
{
	while (!list_empty(&pl->publishes))
		bss_pr_publish_end(list_first_entry(&pl->publishes, struct bss_pr_publish, entry),
				   -ECANCELED);
}

/* Every command: mark a new nexus; a marked one without the mark saw a
 * reset whose TMF completion was not seen (a transport not wrapped). */
static void bss_pr_mark(struct bss_lu *blu, struct it_nexus_lu_info *itl)
{
	struct bss_pr_lu *pl = blu->pr;

	if (itl->prevent & BSS_PR_MARK)
		return;
	if (bss_pr_is_marked(pl, itl->itn_id))
		bss_pr_publish_start(pl, NULL);
	else if (!bss_pr_remember(blu->lu, pl, itl->itn_id))
		itl->prevent |= BSS_PR_MARK;
}

/*
 * The iSCSI driver's mgmt_end_notify, wrapped: core calls it when a TMF is
 * done, just before the response is queued.  A LOGICAL UNIT RESET names
 * no LU here; the LU is the one whose marks are gone.  With shared=1 its
 * response waits (a bounded time) for the reset's publication, so that an
 * initiator that sends a command to another gateway after the response
 * finds the reset there; tgtd's loop goes on meanwhile.
 */
static int bss_pr_tmf_done(struct mgmt_req *mreq)
{
	struct bss_pr_tmf *tmf = NULL;
	struct bss_pr_lu *pl, *next;

	if (mreq->function != LOGICAL_UNIT_RESET || mreq->result)
		return g_tmf_done_orig(mreq);
	list_for_each_entry_safe(pl, next, &g_pr_lus, entry) {
		if (!pl->blu->lu || !bss_pr_reset_happened(pl->blu->lu, pl))
			continue;
		if (!tmf) {
			tmf = calloc(1, sizeof(*tmf)); /* NULL: answer at once */
			if (tmf) {
				tmf->mreq = *mreq;
				tmf->pending = 1; /* this loop's: a publish may end at once */
				INIT_LIST_HEAD(&tmf->deadline.entry);
				tmf->deadline.func = bss_pr_tmf_deadline;
				tmf->deadline.data = tmf;
			}
		}
		bss_pr_publish_start(pl, tmf);
	}
	if (tmf && --tmf->pending) {
		add_work(&tmf->deadline, BSS_PR_RESET_WAIT_SEC);
		return 0;
	}
	free(tmf);
	return g_tmf_done_orig(mreq);
}

/* Wrap the iSCSI driver's TMF completion once per tgtd (never undone: the
 * module stays loaded).  Other transports rely on bss_pr_mark alone. */
static void bss_pr_tmf_hook(struct scsi_lu *lu)
{
	struct tgt_driver *drv = tgt_drivers[lu->tgt->lid];

	if (g_tmf_done_orig || strcmp(drv->name, "iscsi") || !drv->mgmt_end_notify)
		return;
	g_tmf_done_orig = drv->mgmt_end_notify;
	drv->mgmt_end_notify = bss_pr_tmf_done;
}

/* RESERVE(6)/RELEASE(6) with compatible reservation handling (5.13.3). */
static int bss_pr_reserve6_run(struct bss_lu *blu, struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->dev;
	struct bss_pr_nexus n;
	int ret;

	bss_pr_nexus_of(lu, cmd->cmd_itn_id, &n);
	ret = bss_pr_scsi2_allowed(&blu->pr->cur, &n);
	if (ret > 0)
		return SAM_STAT_GOOD;
	if (ret < 0)
		return SAM_STAT_RESERVATION_CONFLICT;
	if (cmd->scb[0] == BSS_RESERVE6) {
		if (lu->reserve_id && lu->reserve_id != cmd->cmd_itn_id)
			return SAM_STAT_RESERVATION_CONFLICT;
		lu->reserve_id = cmd->cmd_itn_id;
	} else if (lu->reserve_id == cmd->cmd_itn_id) {
		lu->reserve_id = 0;
	}
	return SAM_STAT_GOOD;
}

static int bss_pr_reserve6(int host_no, struct scsi_cmd *cmd)
{
	return bss_pr_state_cmd(host_no, cmd, bss_pr_reserve6_run);
}

/* ---- PR commands without holding tgtd's loop (shared=1) --------------- */

static void bss_pr_job_cb(void *opaque, int ret)
{
	struct bss_pr_job *job = opaque;

	job->ret = ret;
	tgt_add_sched_event(&job->ev);
}

/* Submit the job's first step on pl's current cache: 0 or the error. */
static int bss_pr_job_begin(struct bss_pr_job *job);

/* The command is answered: the next job of the LU starts (a job whose
 * first step cannot be submitted fails at once). */
static void bss_pr_job_end(struct bss_pr_job *job, int status)
{
	struct bss_pr_lu *pl = job->pl;
	struct scsi_cmd *cmd = job->cmd;
	int ret;

	list_del(&job->entry);
	tgt_remove_sched_event(&job->ev);
	free(job);
	target_cmd_io_done(cmd, status);
	while (!list_empty(&pl->jobs)) {
		job = list_first_entry(&pl->jobs, struct bss_pr_job, entry);
		ret = job->pl->store ? bss_pr_job_begin(job) : -ECANCELED;
		if (!ret)
			return;
		list_del(&job->entry);
		cmd = job->cmd;
		free(job);
		target_cmd_io_done(cmd, bss_pr_fail(pl->blu, cmd, "load", ret));
	}
}

/* Answer the command from ev, not from inside its handler. */
static void bss_pr_job_answer(struct bss_pr_job *job, int status)
{
	job->stage = BSS_PR_JOB_ANSWER;
	job->status = status;
	tgt_add_sched_event(&job->ev);
}

/* PR OUT on the cached state: its answer, or its compare and swap sent. */
static void bss_pr_job_out(struct bss_pr_job *job)
{
	struct bss_pr_lu *pl = job->pl;
	struct bss_pr_store *st = pl->store;
	int ret;

	job->before = pl->cur;
	job->after = pl->cur;
	bss_pr_out(&job->after, &job->c, &job->r);
	if (!job->r.changed) {
		bss_pr_job_answer(job, bss_pr_finish(job->cmd, &job->r));
		return;
	}
	job->len = bss_pr_encode(&job->after, job->blob);
	job->expect = pl->version;
	job->stage = BSS_PR_JOB_COMMIT;
	ret = st->ops->commit_async(st, job->blob, job->len, job->expect, &job->committed,
				    bss_pr_job_cb, job);
	if (ret)
		bss_pr_job_answer(job, bss_pr_fail(pl->blu, job->cmd, "commit", ret));
}

/* The cache is current: the command runs on it. */
static void bss_pr_job_run(struct bss_pr_job *job)
{
	struct bss_lu *blu = job->pl->blu;
	struct scsi_cmd *cmd = job->cmd;

	switch (cmd->scb[0]) {
	case BSS_PR_IN: bss_pr_job_end(job, bss_pr_in_run(blu, cmd)); break;
	case BSS_PR_OUT: bss_pr_job_out(job); break;
	default: bss_pr_job_end(job, bss_pr_reserve6_run(blu, cmd)); break;
	}
}

static int bss_pr_job_load(struct bss_pr_job *job)
{
	struct bss_pr_store *st = job->pl->store;

	job->stage = BSS_PR_JOB_LOAD;
	return st->ops->load_async(st, job->blob, sizeof(job->blob), &job->len, &job->version,
				   bss_pr_job_cb, job);
}

static int bss_pr_job_begin(struct bss_pr_job *job)
{
	struct bss_pr_lu *pl = job->pl;
	struct bss_pr_store *st = pl->store;

	if (!pl->loaded)
		return bss_pr_job_load(job);
	/* a change is a compare and swap, which a stale cache only loses */
	if (job->cmd->scb[0] == BSS_PR_OUT) {
		bss_pr_job_out(job);
		return 0;
	}
	job->stage = BSS_PR_JOB_VALIDATE;
	return st->ops->validate_async(st, pl->version, bss_pr_job_cb, job);
}

/* ev: the job's lookup, load or commit answered. */
static void bss_pr_job_event(struct event_data *ev)
{
	struct bss_pr_job *job = ev->data;
	struct bss_pr_lu *pl = job->pl;
	struct bss_lu *blu = pl->blu;
	int ret = pl->store ? job->ret : -ECANCELED;

	switch (job->stage) {
	case BSS_PR_JOB_ANSWER: bss_pr_job_end(job, job->status); return;
	case BSS_PR_JOB_VALIDATE:
		if (ret == 0) {
			bss_pr_job_run(job);
			return;
		}
		if (ret > 0)
			ret = bss_pr_job_load(job);
		if (ret)
			bss_pr_job_end(job, bss_pr_fail(blu, job->cmd, "load", ret));
		return;
	case BSS_PR_JOB_LOAD:
		if (!ret && (!pl->loaded || job->version > pl->version))
			ret = bss_pr_apply(blu, job->blob, job->len, job->version);
		if (ret)
			bss_pr_job_end(job, bss_pr_fail(blu, job->cmd, "load", ret));
		else
			bss_pr_job_run(job);
		return;
	default: /* BSS_PR_JOB_COMMIT */
		if (ret == -ESTALE && ++job->tries < BSS_PR_RETRIES) {
			ret = bss_pr_job_load(job); /* another gateway was first */
			if (ret)
				bss_pr_job_end(job, bss_pr_fail(blu, job->cmd, "load", ret));
			return;
		}
		if (ret) {
			bss_pr_job_end(job, bss_pr_fail(blu, job->cmd, "commit", ret));
			return;
		}
		bss_pr_job_end(job, bss_pr_out_done(blu, job->cmd, &job->before, &job->after,
						    job->committed, &job->r));
		return;
	}
}

/*
 * Run cmd (PR IN, PR OUT, RESERVE(6), RELEASE(6)) as a job: 0 and the
 * command is async; a negative errno and nothing started (the store has
 * no asynchronous calls, or its connection is not on tgtd's loop, or no
 * memory): the caller runs it synchronously.
 */
static int bss_pr_job_submit(struct bss_lu *blu, int host_no, struct scsi_cmd *cmd)
{
	struct bss_pr_lu *pl = blu->pr;
	struct bss_pr_store *st = pl->store;
	struct bss_pr_job *job;
	int ret;

	(void)host_no;
	if (!st || !st->ops->validate_async || !st->ops->load_async || !st->ops->commit_async)
		return -EOPNOTSUPP;
	job = calloc(1, sizeof(*job));
	if (!job)
		return -ENOMEM;
	job->pl = pl;
	job->cmd = cmd;
	bss_pr_nexus_of(cmd->dev, cmd->cmd_itn_id, &job->n);
	bss_pr_cmd_init(cmd, &job->c, &job->n);
	tgt_init_sched_event(&job->ev, bss_pr_job_event, job);
	pl->nr_jobs++;
	if (list_empty(&pl->jobs)) {
		list_add_tail(&job->entry, &pl->jobs);
		set_cmd_async(cmd);
		ret = bss_pr_job_begin(job);
		if (ret) {
			clear_cmd_async(cmd);
			list_del(&job->entry);
			free(job);
			pl->nr_jobs--;
			return ret;
		}
		return 0;
	}
	list_add_tail(&job->entry, &pl->jobs);
	set_cmd_async(cmd);
	return 0;
}

/*
 * 1 for the commands a unit attention applies to (all but INQUIRY, REPORT
 * LUNS, REQUEST SENSE, as in core's scsi_cmd_perform): with shared=1 they
 * are checked against the current state even when no reservation can
 * make them conflict, so that another gateway's LUN reset reaches them.
 */
static int bss_pr_ua_checked(const uint8_t *cdb)
{
	return cdb[0] != BSS_INQUIRY && cdb[0] != BSS_REPORT_LUNS && cdb[0] != BSS_REQ_SENSE;
}

/*
 * 1 if `cmd` must end in RESERVATION CONFLICT before its handler runs, 0
 * if it may run, a negative errno if the state could not be read.
 * validate = 0: the cached state was just validated (bss_pr_check_event).
 */
static int bss_pr_access_conflict(struct bss_lu *blu, struct scsi_cmd *cmd, int validate)
{
	struct scsi_lu *lu = cmd->dev;
	uint8_t op = cmd->scb[0];
	struct bss_pr_nexus n;
	int ret;

	if (lu->reserve_id) {
		/* SPC-2 5.5.1: with a RESERVE in force, PR IN and OUT conflict
		 * whoever sends them. */
		if (op == BSS_PR_IN || op == BSS_PR_OUT)
			return 1;
		if (lu->reserve_id != cmd->cmd_itn_id && bss_pr_scsi2_conflict(cmd->scb))
			return 1;
	}
	if (blu->pr->store && blu->pr->store->ops->validate) {
		/*
		 * shared=1: another gateway may have changed the state since
		 * this one last looked (a PREEMPT of this nexus), so every
		 * command a reservation can conflict is checked against the
		 * current version: one lookup, a load only if it changed.
		 */
		if (!bss_pr_ua_checked(cmd->scb))
			return 0;
		ret = validate ? bss_pr_load(blu) : 0;
		if (ret)
			return ret;
		if (!bss_pr_checked(cmd->scb))
			return 0;
	} else if (!blu->pr->loaded && bss_pr_load(blu)) {
		/* the memory store: every change goes through this LU and
		 * updates the cached state */
		return 0;
	}
	if (!blu->pr->cur.type)
		return 0;
	bss_pr_nexus_of(lu, cmd->cmd_itn_id, &n);
	return bss_pr_conflict(&blu->pr->cur, &n, cmd->scb);
}

/* The command's fate once checked: ret as bss_pr_access_conflict's. */
static int bss_pr_run(struct bss_lu *blu, int host_no, struct scsi_cmd *cmd, int ret)
{
	int status;

	if (ret < 0 && !bss_pr_checked(cmd->scb)) {
		/* a command no reservation conflicts was looked up only for
		 * another gateway's LUN reset: it runs (TEST UNIT READY keeps
		 * answering while the cluster is unreachable) */
		ret = 0;
	}
	if (ret < 0) {
		/* never run the command unchecked: the transient sense of an
		 * unreachable cluster (the initiator retries) */
		struct bss_sense s = bss_errno_to_sense(ret, 0);

		if (s.key == BSS_KEY_MEDIUM_ERROR)
			s = (struct bss_sense){ BSS_KEY_HARDWARE_ERROR, 0x4400 };
		blu->nr_errors++;
		if (blu->nr_errors <= 10 || blu->nr_errors % 1000 == 0)
			eprintf("%s: sheepdog: reservation check of op 0x%02x failed: %s\n",
				blu->label, cmd->scb[0], strerror(-ret));
		scsi_set_in_resid_by_actual(cmd, 0);
		sense_data_build(cmd, s.key, s.asc);
		return SAM_STAT_CHECK_CONDITION;
	}
	if (blu->pr->reset_ua && bss_pr_ua_checked(cmd->scb)) {
		/* the check found another gateway's reset: this command is the
		 * first to see it (core checked for unit attentions before) */
		blu->pr->reset_ua = 0;
		if (!ua_sense_del(cmd, 1)) {
			scsi_set_in_resid_by_actual(cmd, 0);
			return SAM_STAT_CHECK_CONDITION;
		}
	}
	if (ret) {
		scsi_set_in_resid_by_actual(cmd, 0);
		return SAM_STAT_RESERVATION_CONFLICT;
	}
	/* the handler runs: core's default data-in length back, which
	 * bss_lu_cmd_perform took away for a unit attention that another
	 * command consumed while this one was queued */
	scsi_set_in_resid(cmd, 0);
	scsi_set_in_transfer_len(cmd, scsi_get_in_length(cmd));
	status = blu->pr->orig[cmd->scb[0]](host_no, cmd);
	if (cmd->scb[0] == BSS_PREVENT) /* its handler overwrote the mark */
		cmd->itn_lu_info->prevent |= BSS_PR_MARK;
	return status;
}

static void bss_pr_batch_cb(void *opaque, int ret);

/* Commands of a batch to check_ev (late ones, already run, are freed). */
static void bss_pr_batch_answer(struct bss_pr_lu *pl, struct list_head *cmds, int ret, int sync)
{
	struct bss_pr_check *chk;

	while (!list_empty(cmds)) {
		chk = list_first_entry(cmds, struct bss_pr_check, entry);
		list_del(&chk->entry);
		if (chk->late) {
			free(chk);
			continue;
		}
		del_work(&chk->deadline);
		chk->ret = ret;
		chk->sync = sync;
		list_add_tail(&chk->entry, &pl->checks);
	}
	tgt_add_sched_event(&pl->check_ev);
}

/*
 * Send a lookup for the commands on `waiting`: they all arrived before it
 * goes out, so its answer is as fresh as a lookup of their own.  0, or a
 * negative errno with the commands left on `waiting`.
 */
static int bss_pr_batch_send(struct bss_pr_lu *pl)
{
	struct bss_pr_batch *b = malloc(sizeof(*b));
	int ret;

	if (!b)
		return -ENOMEM;
	INIT_LIST_HEAD(&b->cmds);
	b->pl = pl;
	ret = pl->store->ops->validate_async(pl->store, pl->version, bss_pr_batch_cb, b);
	if (ret) {
		free(b);
		return ret;
	}
	list_splice_init(&pl->waiting, &b->cmds);
	pl->nr_out++;
	pl->nr_lookups++;
	return 0;
}

/* validate_async's answer (from the store connection's service round):
 * the rest runs from check_ev, where synchronous store calls are allowed.
 * A failed lookup (cluster unreachable past the retry window, or
 * cancelled because the store is going) answers the waiting commands
 * too: a new lookup would make them wait a second whole window, past the
 * initiator's command timeout.  If the next lookup cannot be sent, the
 * waiting commands are validated synchronously by check_ev. */
static void bss_pr_batch_cb(void *opaque, int ret)
{
	struct bss_pr_batch *b = opaque;
	struct bss_pr_lu *pl = b->pl;

	pl->nr_out--;
	if (ret < 0)
		list_splice_init(&pl->waiting, &b->cmds);
	bss_pr_batch_answer(pl, &b->cmds, ret, 0);
	free(b);
	if (!list_empty(&pl->waiting) && bss_pr_batch_send(pl))
		bss_pr_batch_answer(pl, &pl->waiting, 0, 1);
}

static int bss_pr_reload_wait(struct bss_pr_lu *pl, struct bss_pr_check *chk);

/*
 * check_ev: finish the checked commands.  A newer state is loaded first
 * (the command waits for bss_pr_reload_wait's load), then the command conflicts, fails or goes to its
 * handler as bss_pr_perform would have sent it; a handler that completes
 * at once is completed here, one that goes async completes as usual.
 */
static void bss_pr_check_event(struct event_data *ev)
{
	struct bss_pr_lu *pl = ev->data;
	struct bss_pr_check *chk;
	struct scsi_cmd *cmd;
	struct bss_lu *blu;
	int ret, status;

	while (!list_empty(&pl->checks)) {
		chk = list_first_entry(&pl->checks, struct bss_pr_check, entry);
		list_del(&chk->entry);
		blu = chk->blu;
		cmd = chk->cmd;
		ret = chk->ret;
		if (chk->sync) {
			ret = bss_pr_access_conflict(blu, cmd, 1);
		} else if (ret > 0) {
			/* another gateway changed it: load, the command waits */
			if (bss_pr_reload_wait(pl, chk) == 0)
				continue;
			ret = bss_pr_load_full(blu);
		}
		if (ret == 0 && !chk->sync)
			ret = bss_pr_access_conflict(blu, cmd, 0);
		clear_cmd_async(cmd);
		status = bss_pr_run(blu, chk->host_no, cmd, ret);
		free(chk);
		if (!cmd_async(cmd))
			target_cmd_io_done(cmd, status);
	}
}

/* The lookup of a command no reservation conflicts did not answer in
 * time: run the command as if it had found nothing new. */
static void bss_pr_check_deadline(void *data)
{
	struct bss_pr_check *chk = data;
	struct scsi_cmd *cmd = chk->cmd;
	int status;

	chk->late = 1;
	clear_cmd_async(cmd);
	status = bss_pr_run(chk->blu, chk->host_no, cmd, 0);
	if (!cmd_async(cmd))
		target_cmd_io_done(cmd, status);
}

static void bss_pr_reload_cb(void *opaque, int ret)
{
	struct bss_pr_lu *pl = opaque;

	pl->reload_ret = ret;
	tgt_add_sched_event(&pl->reload_ev);
}

/* reload_ev: the load answered; its state is cached (with the unit
 * attentions of what changed) and the waiting commands go to check_ev as
 * checked against it, or with the load's error. */
static void bss_pr_reload_event(struct event_data *ev)
{
	struct bss_pr_lu *pl = ev->data;
	int ret = pl->store ? pl->reload_ret : -ECANCELED;

	pl->reloading = 0;
	if (!ret && (!pl->loaded || pl->reload_version > pl->version))
		ret = bss_pr_apply(pl->blu, pl->reload_blob, pl->reload_len, pl->reload_version);
	free(pl->reload_blob); /* rare: not kept by every LU */
	pl->reload_blob = NULL;
	bss_pr_batch_answer(pl, &pl->reload_waiters, ret, 0);
}

/*
 * chk waits for a load of the state (one load for every command waiting):
 * 0, or a negative errno (no load could be sent: the caller loads
 * synchronously).  A command no reservation conflicts waits at most
 * BSS_PR_UA_WAIT_SEC, as for a lookup.
 */
static int bss_pr_reload_wait(struct bss_pr_lu *pl, struct bss_pr_check *chk)
{
	struct bss_pr_store *st = pl->store;
	int ret;

	if (!pl->reloading) {
		if (!st || !st->ops->load_async)
			return -EOPNOTSUPP;
		pl->reload_blob = malloc(BSS_PR_BLOB_MAX);
		if (!pl->reload_blob)
			return -ENOMEM;
		ret = st->ops->load_async(st, pl->reload_blob, BSS_PR_BLOB_MAX, &pl->reload_len,
					  &pl->reload_version, bss_pr_reload_cb, pl);
		if (ret) {
			free(pl->reload_blob);
			pl->reload_blob = NULL;
			return ret;
		}
		pl->reloading = 1;
	}
	list_add_tail(&chk->entry, &pl->reload_waiters);
	set_cmd_async(chk->cmd);
	if (!bss_pr_checked(chk->cmd->scb))
		add_work(&chk->deadline, BSS_PR_UA_WAIT_SEC);
	return 0;
}

static struct bss_pr_check *bss_pr_check_new(struct bss_lu *blu, int host_no, struct scsi_cmd *cmd)
{
	struct bss_pr_check *chk = malloc(sizeof(*chk));

	if (!chk)
		return NULL;
	chk->blu = blu;
	chk->cmd = cmd;
	chk->host_no = host_no;
	chk->ret = 0;
	chk->late = 0;
	chk->sync = 0;
	INIT_LIST_HEAD(&chk->deadline.entry);
	chk->deadline.func = bss_pr_check_deadline;
	chk->deadline.data = chk;
	return chk;
}

/*
 * Start the asynchronous check of `cmd`: 0 (the command is async now) or
 * a negative errno (nothing started: check synchronously).  With
 * BSS_PR_LOOKUPS lookups out the command waits for the next one (a lookup
 * sent before the command arrived may predate another gateway's change
 * the command must see); at queue depth N that is a few lookups per round
 * trip instead of one per command.
 */
static int bss_pr_check_async(struct bss_lu *blu, int host_no, struct scsi_cmd *cmd)
{
	struct bss_pr_lu *pl = blu->pr;
	struct bss_pr_check *chk = bss_pr_check_new(blu, host_no, cmd);
	int ret;

	if (!chk)
		return -ENOMEM;
	/* fewer than BSS_PR_LOOKUPS out: nothing waits, the command goes
	 * alone (and is checked synchronously if its lookup cannot go) */
	list_add_tail(&chk->entry, &pl->waiting);
	if (pl->nr_out < BSS_PR_LOOKUPS) {
		ret = bss_pr_batch_send(pl);
		if (ret) {
			list_del(&chk->entry);
			free(chk);
			return ret;
		}
	}
	pl->nr_checked++;
	set_cmd_async(cmd);
	if (!bss_pr_checked(cmd->scb))
		add_work(&chk->deadline, BSS_PR_UA_WAIT_SEC);
	return 0;
}

/* A command of a LU with no state cached yet: 0 (async, it waits for the
 * load), or a negative errno (check it synchronously). */
static int bss_pr_first_load(struct bss_lu *blu, int host_no, struct scsi_cmd *cmd)
{
	struct bss_pr_check *chk = bss_pr_check_new(blu, host_no, cmd);
	int ret;

	if (!chk)
		return -ENOMEM;
	ret = bss_pr_reload_wait(blu->pr, chk);
	if (ret) {
		free(chk);
		return ret;
	}
	blu->pr->nr_checked++;
	return 0;
}

static int bss_pr_perform(int host_no, struct scsi_cmd *cmd)
{
	struct bss_lu *blu = bss_lu_of(cmd->dev);
	struct bss_pr_lu *pl = blu->pr;

	bss_pr_mark(blu, cmd->itn_lu_info);
	/*
	 * shared=1: the validation of the cached state is one lookup at
	 * sheep; the command waits for it without holding tgtd's loop.  With
	 * nothing cached yet (the LU's first commands) it waits for a load.
	 */
	if (pl->store && pl->store->ops->validate_async && bss_pr_ua_checked(cmd->scb)) {
		if (pl->loaded && bss_pr_check_async(blu, host_no, cmd) == 0)
			return SAM_STAT_GOOD;
		if (!pl->loaded && bss_pr_first_load(blu, host_no, cmd) == 0)
			return SAM_STAT_GOOD;
	}
	return bss_pr_run(blu, host_no, cmd, bss_pr_access_conflict(blu, cmd, 1));
}

static void bss_pr_sa_tables(void)
{
	unsigned int i;

	if (g_pr_in_sa[0].cmd_perform)
		return;
	/* RSOC lists these: every service action the module implements */
	for (i = 0; i < 4; i++)
		g_pr_in_sa[i] = (struct service_action){ i, bss_pr_in_cmd };
	for (i = 0; i < 8; i++)
		g_pr_out_sa[i] = (struct service_action){ i, bss_pr_out_cmd };
}

/* The vdi the state belongs to: a path update to another vdi drops it. */
static void bss_pr_owner(const struct bss_lu *blu, char *buf, size_t size)
{
	snprintf(buf, size, "%s %s %" PRIu32 " %s %d", blu->path.addr, blu->path.vdi,
		 blu->path.snapid, blu->path.tag, blu->opts.shared);
}

int bss_pr_attach(struct scsi_lu *lu)
{
	struct bss_lu *blu = bss_lu_of(lu);
	struct device_type_operations *ops = lu->dev_type_template.ops;
	char owner[sizeof(blu->pr->owner)];
	struct bss_pr_lu *pl = blu->pr;
	unsigned int op;

	bss_pr_owner(blu, owner, sizeof(owner));
	if (pl && strcmp(pl->owner, owner)) {
		pl->store->ops->destroy(pl->store);
		pl->store = NULL;
		bss_pr_publishes_cancel(pl);
	}
	if (!pl) {
		pl = calloc(1, sizeof(*pl));
		if (!pl)
			return -ENOMEM;
		INIT_LIST_HEAD(&pl->checks);
		INIT_LIST_HEAD(&pl->waiting);
		INIT_LIST_HEAD(&pl->publishes);
		INIT_LIST_HEAD(&pl->jobs);
		INIT_LIST_HEAD(&pl->reload_waiters);
		tgt_init_sched_event(&pl->reload_ev, bss_pr_reload_event, pl);
		tgt_init_sched_event(&pl->check_ev, bss_pr_check_event, pl);
		pl->blu = blu;
		list_add_tail(&pl->entry, &g_pr_lus);
		blu->pr = pl;
	}
	if (!pl->store) {
		pl->store = blu->opts.shared ? bss_pr_cluster_store(blu)
					     : bss_pr_mem_store_create();
		if (!pl->store)
			return errno ? -errno : -ENOMEM;
		pl->loaded = 0;
		memcpy(pl->owner, owner, sizeof(owner));
	}

	bss_pr_sa_tables();
	bss_pr_tmf_hook(lu);
	for (op = 0; op < NR_SCSI_OPCODES; op++) {
		/* invalid opcodes stay core's: RSOC skips spc_illegal_op */
		if (ops[op].cmd_perform == bss_pr_perform || ops[op].cmd_perform == spc_illegal_op)
			continue;
		pl->orig[op] = ops[op].cmd_perform;
		ops[op].cmd_perform = bss_pr_perform;
	}
	pl->orig[BSS_PR_IN] = bss_pr_in_cmd;
	pl->orig[BSS_PR_OUT] = bss_pr_out_cmd;
	pl->orig[BSS_RESERVE6] = bss_pr_reserve6;
	pl->orig[BSS_RELEASE6] = bss_pr_reserve6;
	ops[BSS_PR_IN].service_actions = g_pr_in_sa;
	ops[BSS_PR_OUT].service_actions = g_pr_out_sa;
	return 0;
}

void bss_pr_free(struct scsi_lu *lu)
{
	struct bss_lu *blu = bss_lu_of(lu);

	struct bss_pr_store *st;

	if (!blu->pr)
		return;
	if (blu->pr->nr_checked || blu->pr->nr_jobs)
		eprintf("%s: sheepdog: reservation checks: %" PRIu64 " commands, %" PRIu64
			" lookups; %" PRIu64 " PR commands without waiting on tgtd's loop\n",
			blu->label, blu->pr->nr_checked, blu->pr->nr_lookups, blu->pr->nr_jobs);
	st = blu->pr->store;
	blu->pr->store = NULL;
	if (st)
		st->ops->destroy(st);
	bss_pr_publishes_cancel(blu->pr);
	/* a load the destroy cancelled, and the checks: before the free */
	tgt_remove_sched_event(&blu->pr->reload_ev);
	if (blu->pr->reloading)
		bss_pr_reload_event(&blu->pr->reload_ev);
	tgt_remove_sched_event(&blu->pr->check_ev);
	bss_pr_check_event(&blu->pr->check_ev);
	list_del(&blu->pr->entry);
	free(blu->pr->marked);
	free(blu->pr->work);
	free(blu->pr);
	blu->pr = NULL;
}
