/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * PR IN, PR OUT, RESERVE(6) and RELEASE(6) as jobs against a store other
 * gateways write to (shared=1), without holding tgtd's loop; bss_pr_tgt.h
 * says how the PR files divide the work.
 */
#include "bss_pr_tgt.h"

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
int bss_pr_job_submit(struct bss_lu *blu, int host_no, struct scsi_cmd *cmd)
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
