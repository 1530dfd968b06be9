/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * LOGICAL UNIT RESET of a module LU, noticed and (shared=1) published to
 * the other gateways of its vdi; bss_pr_tgt.h says how the PR files divide
 * the work.
 */
#include "bss_pr_tgt.h"

#include "driver.h"

LIST_HEAD(g_pr_lus);
/* the iSCSI driver's TMF completion, which bss_pr_tmf_done wraps */
static int (*g_tmf_done_orig)(struct mgmt_req *mreq);

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
void bss_pr_publishes_cancel(struct bss_pr_lu *pl)
{
	while (!list_empty(&pl->publishes))
		bss_pr_publish_end(list_first_entry(&pl->publishes, struct bss_pr_publish, entry),
				   -ECANCELED);
}

/* Every command: mark a new nexus; a marked one without the mark saw a
 * reset whose TMF completion was not seen (a transport not wrapped). */
void bss_pr_mark(struct bss_lu *blu, struct it_nexus_lu_info *itl)
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
void bss_pr_tmf_hook(struct scsi_lu *lu)
{
	struct tgt_driver *drv = tgt_drivers[lu->tgt->lid];

	if (g_tmf_done_orig || strcmp(drv->name, "iscsi") || !drv->mgmt_end_notify)
		return;
	g_tmf_done_orig = drv->mgmt_end_notify;
	drv->mgmt_end_notify = bss_pr_tmf_done;
}
