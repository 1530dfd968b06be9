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
 * PR IN/OUT and RESERVE/RELEASE(6) run as jobs (bss_pr_job.c), a LUN
 * reset is published (bss_pr_reset.c) and a state not cached or found
 * changed is loaded (bss_pr_reload_wait) with the store's asynchronous
 * calls; the synchronous ones (bounded by the LU's timeouts) only where the
 * store's connection is not on tgtd's loop.
 *
 * All of it runs on tgtd's main thread.
 */
#include "bss_pr_tgt.h"

#include "driver.h"

static struct service_action g_pr_in_sa[5];
static struct service_action g_pr_out_sa[9];

/*
 * The I_T nexus of `itn_id` by name.  The iSCSI driver's transportid hook
 * returns the initiator name followed by ",i,0x" and the six raw ISID
 * bytes; the target port is the target name with tgtd's portal group tag
 * (1).  A transport without the hook gets a tgtd-local name.
 */
void bss_pr_nexus_of(struct scsi_lu *lu, uint64_t itn_id, struct bss_pr_nexus *n)
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
int bss_pr_scratch(struct bss_pr_lu *pl)
{
	if (pl->work)
		return 0;
	pl->work = malloc(sizeof(*pl->work) + BSS_PR_BLOB_MAX);
	if (!pl->work)
		return -ENOMEM;
	pl->blob = (uint8_t *)(pl->work + 1);
	return 0;
}

int bss_pr_load(struct bss_lu *blu)
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
int bss_pr_apply(struct bss_lu *blu, const uint8_t *blob, size_t len, uint64_t version)
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

int bss_pr_fail(struct bss_lu *blu, struct scsi_cmd *cmd, const char *what, int err)
{
	eprintf("%s: sheepdog: persistent reservation state %s failed: %s\n", blu->label, what,
		strerror(-err));
	scsi_set_in_resid_by_actual(cmd, 0);
	sense_data_build(cmd, HARDWARE_ERROR, ASC_INTERNAL_TGT_FAILURE);
	return SAM_STAT_CHECK_CONDITION;
}

int bss_pr_finish(struct scsi_cmd *cmd, const struct bss_pr_result *r)
{
	if (r->status == BSS_PR_CHECK) {
		scsi_set_in_resid_by_actual(cmd, 0);
		sense_data_build(cmd, r->key, r->asc);
		return SAM_STAT_CHECK_CONDITION;
	}
	scsi_set_in_resid_by_actual(cmd, (int)r->in_done);
	return r->status == BSS_PR_CONFLICT ? SAM_STAT_RESERVATION_CONFLICT : SAM_STAT_GOOD;
}

void bss_pr_cmd_init(struct scsi_cmd *cmd, struct bss_pr_cmd *c, const struct bss_pr_nexus *n)
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
int bss_pr_in_run(struct bss_lu *blu, struct scsi_cmd *cmd)
{
	struct bss_pr_nexus n;
	struct bss_pr_result r;
	struct bss_pr_cmd c;

	bss_pr_nexus_of(cmd->dev, cmd->cmd_itn_id, &n);
	bss_pr_cmd_init(cmd, &c, &n);
	bss_pr_in(&blu->pr->cur, &c, &r);
	return bss_pr_finish(cmd, &r);
}

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
int bss_pr_out_done(struct bss_lu *blu, struct scsi_cmd *cmd, const struct bss_pr_state *before,
		    const struct bss_pr_state *after, uint64_t version,
		    const struct bss_pr_result *r)
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

/* RESERVE(6)/RELEASE(6) with compatible reservation handling (5.13.3). */
int bss_pr_reserve6_run(struct bss_lu *blu, struct scsi_cmd *cmd)
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
