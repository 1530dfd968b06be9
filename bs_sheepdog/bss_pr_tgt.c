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
 * All of it runs on tgtd's main thread, synchronously inside
 * scsi_cmd_perform().
 */
#include "bss.h"
#include "bss_pr.h"

#include "driver.h"

#define BSS_PR_IN      0x5e
#define BSS_PR_OUT     0x5f
#define BSS_RESERVE6   0x16
#define BSS_RELEASE6   0x17
#define BSS_PR_RETRIES 4
#define BSS_PR_RTPI    1 /* tgtd gives a target one port */

typedef int (*bss_perform_fn)(int host_no, struct scsi_cmd *cmd);

struct bss_pr_lu {
	struct bss_pr_store *store;
	char owner[512 + SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN + 32]; /* vdi it is for */
	int loaded;
	uint64_t version;	       /* store version of `cur` */
	struct bss_pr_state cur;       /* last loaded or committed state */
	struct bss_pr_state work;      /* scratch for PR OUT */
	uint8_t blob[BSS_PR_BLOB_MAX]; /* scratch for the store */
	bss_perform_fn orig[NR_SCSI_OPCODES];
};

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

/* Refresh `cur` from the store (a no-op while the version is unchanged). */
static int bss_pr_load(struct bss_lu *blu)
{
	struct bss_pr_lu *pl = blu->pr;
	uint64_t version;
	size_t len;
	int ret;

	if (!pl->store) /* a failed bss_pr_attach on a path update */
		return -ENODEV;
	ret = pl->store->ops->load(pl->store, pl->blob, sizeof(pl->blob), &len, &version);
	if (ret)
		return ret;
	if (pl->loaded && version == pl->version)
		return 0;
	if (!len)
		bss_pr_state_init(&pl->cur);
	else if (bss_pr_decode(pl->blob, len, &pl->cur))
		return -EIO;
	pl->version = version;
	pl->loaded = 1;
	return 0;
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

static int bss_pr_in_cmd(int host_no, struct scsi_cmd *cmd)
{
	struct bss_lu *blu = bss_lu_of(cmd->dev);
	struct bss_pr_nexus n;
	struct bss_pr_result r;
	struct bss_pr_cmd c;
	int ret;

	(void)host_no;
	ret = bss_pr_load(blu);
	if (ret)
		return bss_pr_fail(blu, cmd, "load", ret);
	bss_pr_nexus_of(cmd->dev, cmd->cmd_itn_id, &n);
	bss_pr_cmd_init(cmd, &c, &n);
	bss_pr_in(&blu->pr->cur, &c, &r);
	return bss_pr_finish(cmd, &r);
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
 * PR OUT: load, apply, commit-if-unchanged; a concurrent writer (another
 * gateway, with a cluster store) makes the commit fail with -ESTALE and the
 * command is redone on the newer state.
 */
static int bss_pr_out_cmd(int host_no, struct scsi_cmd *cmd)
{
	struct bss_lu *blu = bss_lu_of(cmd->dev);
	struct bss_pr_lu *pl = blu->pr;
	struct bss_pr_nexus n;
	struct bss_pr_result r;
	struct bss_pr_cmd c;
	uint64_t version;
	unsigned int i;
	size_t len;
	int ret = 0, tries;

	(void)host_no;
	bss_pr_nexus_of(cmd->dev, cmd->cmd_itn_id, &n);
	bss_pr_cmd_init(cmd, &c, &n);
	for (tries = 0; tries < BSS_PR_RETRIES; tries++) {
		ret = bss_pr_load(blu);
		if (ret)
			return bss_pr_fail(blu, cmd, "load", ret);
		pl->work = pl->cur;
		bss_pr_out(&pl->work, &c, &r);
		if (!r.changed)
			return bss_pr_finish(cmd, &r);
		len = bss_pr_encode(&pl->work, pl->blob);
		ret = pl->store->ops->commit(pl->store, pl->blob, len, pl->version, &version);
		if (ret != -ESTALE)
			break;
	}
	if (ret)
		return bss_pr_fail(blu, cmd, "commit", ret);

	/* pl->cur is still the state before the command: UAs name it. */
	for (i = 0; i < r.nr_ua; i++)
		bss_pr_ua(cmd->dev, &pl->cur.regs[r.ua[i].reg].nexus, r.ua[i].asc);
	if (r.aborts)
		dprintf("%s: PREEMPT AND ABORT: tasks of the preempted nexuses are not aborted "
			"(no abort path into tgt)\n",
			blu->label);
	pl->cur = pl->work;
	pl->version = version;
	return bss_pr_finish(cmd, &r);
}

/* RESERVE(6)/RELEASE(6) with compatible reservation handling (5.13.3). */
static int bss_pr_reserve6(int host_no, struct scsi_cmd *cmd)
{
	struct bss_lu *blu = bss_lu_of(cmd->dev);
	struct scsi_lu *lu = cmd->dev;
	struct bss_pr_nexus n;
	int ret;

	(void)host_no;
	ret = bss_pr_load(blu);
	if (ret)
		return bss_pr_fail(blu, cmd, "load", ret);
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

/* 1 if `cmd` must end in RESERVATION CONFLICT before its handler runs. */
static int bss_pr_access_conflict(struct bss_lu *blu, struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->dev;
	uint8_t op = cmd->scb[0];
	struct bss_pr_nexus n;

	if (lu->reserve_id) {
		/* SPC-2 5.5.1: with a RESERVE in force, PR IN and OUT conflict
		 * whoever sends them. */
		if (op == BSS_PR_IN || op == BSS_PR_OUT)
			return 1;
		if (lu->reserve_id != cmd->cmd_itn_id && bss_pr_scsi2_conflict(cmd->scb))
			return 1;
	}
	/*
	 * The cached state, not a store load per command: every change made
	 * through this LU updates it.  A store shared between gateways will
	 * need a way to learn of other gateways' commits (docs/design.md).
	 */
	if ((!blu->pr->loaded && bss_pr_load(blu)) || !blu->pr->cur.type)
		return 0;
	bss_pr_nexus_of(lu, cmd->cmd_itn_id, &n);
	return bss_pr_conflict(&blu->pr->cur, &n, cmd->scb);
}

static int bss_pr_perform(int host_no, struct scsi_cmd *cmd)
{
	struct bss_lu *blu = bss_lu_of(cmd->dev);

	if (bss_pr_access_conflict(blu, cmd)) {
		scsi_set_in_resid_by_actual(cmd, 0);
		return SAM_STAT_RESERVATION_CONFLICT;
	}
	return blu->pr->orig[cmd->scb[0]](host_no, cmd);
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
	snprintf(buf, size, "%s %s %" PRIu32 " %s", blu->path.addr, blu->path.vdi, blu->path.snapid,
		 blu->path.tag);
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
	}
	if (!pl) {
		pl = calloc(1, sizeof(*pl));
		if (!pl)
			return -ENOMEM;
		blu->pr = pl;
	}
	if (!pl->store) {
		pl->store = bss_pr_mem_store_create();
		if (!pl->store)
			return -ENOMEM;
		pl->loaded = 0;
		memcpy(pl->owner, owner, sizeof(owner));
	}

	bss_pr_sa_tables();
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

	if (!blu->pr)
		return;
	if (blu->pr->store)
		blu->pr->store->ops->destroy(blu->pr->store);
	free(blu->pr);
	blu->pr = NULL;
}
