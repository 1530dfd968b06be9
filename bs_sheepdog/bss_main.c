/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bs_sheepdog control path: the backing-store template registered with tgtd
 * under the name "sheepdog" (a module registers after tgtd's built-ins and
 * list_add()s at the head, so it shadows the built-in client), LU setup and
 * teardown.
 *
 * All ops run on tgtd's main thread:
 *   bs_init  (tgtadm --op new): parse --bsopts.  Fails -> tgtadm fails.
 *   bs_open  (tgtadm --op new / --params path=): parse the path, connect and
 *            open the vdi.  May block, bounded by connect_timeout and the
 *            library's request timeout; after it nothing waits on the network
 *            on this thread (the library reconnects from its event loop).
 *   bs_close (LU delete, path change): flushes a cache (bss_cache.c), then
 *            hands the vdi and cluster handles to the background close
 *            (bss_reap.c) and returns: it never waits for the sheep.
 *   bs_exit  after bs_close, or after a failed bs_open: frees caches.
 *   refresh_work (tgt's work timer, every refresh=SEC): starts an async
 *            re-read of the vdi's size; its callback (from the library's
 *            fd) applies a larger size.  See "Capacity changes" below.
 * Errors are logged with eprintf (tgtd's log); tgtadm itself only prints
 * "invalid request".
 */
#include "bss.h"
#include "clusterfmt.h"

static void bss_refresh_work(void *data);

/*
 * tgt core queues a UNIT ATTENTION per event and never coalesces them: a
 * target whose LUNs are added or deleted 100 times queues 100 REPORTED
 * LUNS DATA HAS CHANGED for every nexus of every other LUN, and each of
 * the nexus's next commands gets one.  An initiator retries a command
 * after a unit attention only a few times (Linux: 5) and then fails it.
 * The device server may keep one of identical conditions (SPC-4,
 * "Unit attention condition"), and LIO does: pending ones identical to an
 * earlier pending one of the nexus are dropped before core reports one.
 */
static void bss_ua_coalesce(struct it_nexus_lu_info *itl)
{
	struct list_head *head = &itl->pending_ua_sense_list;
	struct ua_sense *a, *b, *next;

	if (list_empty(head) || head->next->next == head)
		return;
	list_for_each_entry(a, head, ua_sense_siblings) {
		b = list_entry(a->ua_sense_siblings.next, struct ua_sense, ua_sense_siblings);
		for (; &b->ua_sense_siblings != head; b = next) {
			next = list_entry(b->ua_sense_siblings.next, struct ua_sense,
					  ua_sense_siblings);
			if (b->ua_sense_len == a->ua_sense_len &&
			    !memcmp(b->ua_sense_buffer, a->ua_sense_buffer,
				    (size_t)a->ua_sense_len)) {
				list_del(&b->ua_sense_siblings);
				free(b);
			}
		}
	}
}

/*
 * tgt core answers a pending UNIT ATTENTION itself (scsi_cmd_perform), but
 * leaves the command's data-in length at the whole allocation length, so
 * iSCSI sends the never-written data buffer (tgtd heap memory) along with
 * the CHECK CONDITION.  A command that will get the unit attention moves
 * no data: the length goes to 0 here, before core's check, and comes back
 * in bss_pr_cmd's wrapper if a handler runs after all (the command was
 * queued and another one consumed the unit attention first).
 */
static int bss_lu_cmd_perform(int tid, struct scsi_cmd *cmd)
{
	struct bss_lu *blu = bss_lu_of(cmd->dev);
	uint8_t op = cmd->scb[0];

	if (cmd->itn_lu_info) {
		bss_ua_coalesce(cmd->itn_lu_info);
		if (!list_empty(&cmd->itn_lu_info->pending_ua_sense_list) && op != INQUIRY &&
		    op != REPORT_LUNS && op != REQUEST_SENSE && cmd->dev->lun == cmd->dev_id)
			scsi_set_in_resid_by_actual(cmd, 0);
	}
	return blu->core_cmd_perform(tid, cmd);
}

static tgtadm_err bss_init(struct scsi_lu *lu, char *bsopts)
{
	struct bss_lu *blu = bss_lu_of(lu);
	char err[256];

	memset(blu, 0, sizeof(*blu));
	blu->lu = lu;
	blu->cluster_fd = -1;
	INIT_LIST_HEAD(&blu->inflight);
	INIT_LIST_HEAD(&blu->done);
	INIT_LIST_HEAD(&blu->free_acbs);
	INIT_LIST_HEAD(&blu->ranges);
	INIT_LIST_HEAD(&blu->admit_wait);
	tgt_init_sched_event(&blu->done_ev, bss_done_event_cb, blu);
	INIT_LIST_HEAD(&blu->refresh_work.entry);
	blu->refresh_work.func = bss_refresh_work;
	blu->refresh_work.data = blu;
	snprintf(blu->label, sizeof(blu->label), "tid %d lun %" PRIu64, lu->tgt->tid, lu->lun);

	bss_opts_init(&blu->opts);
	if (bss_parse_opts(bsopts, &blu->opts, err, sizeof(err))) {
		eprintf("%s: sheepdog: %s\n", blu->label, err);
		return TGTADM_INVALID_REQUEST;
	}
	bss_thin_init(lu, blu->opts.thin);
	blu->core_cmd_perform = lu->cmd_perform;
	lu->cmd_perform = bss_lu_cmd_perform;
	return TGTADM_SUCCESS;
}

/* sdc_stat_cluster's request runner: one synchronous request on the LU's pool */
static int bss_stat_exec(void *ctx, struct sd_req *req, void *buf, size_t len, struct sd_rsp *rsp)
{
	int ret;

	(void)len; /* req->data_length is len */
	ret = sd_run_sdreq(ctx, req, buf);
	if (ret < 0)
		return ret;
	memcpy(rsp, req, sizeof(*rsp));
	return 0;
}

/*
 * The cluster's identity: its creation time (set by `dog cluster format`,
 * shown by `dog cluster info` as "Cluster created at"), from the first
 * record STAT_CLUSTER returns; upstream sheep answers it the same way.
 * Asked as dog asks (sdc_stat_cluster), for one record.
 * 0 (ctime in *ctime), or -errno with the reason logged.
 */
static int bss_cluster_ctime(struct bss_lu *blu, uint64_t *ctime)
{
	struct sd_epoch_log log;
	struct sd_rsp rsp;
	unsigned rec_nodes;
	void *logs = NULL;
	size_t len = 0;
	int ret;

	/* one cluster per pool: the first LU's answer serves the others */
	if (bss_pool_ctime(blu->pool, ctime))
		return 0;

	ret = sdc_stat_cluster(bss_stat_exec, blu->cluster, 64, 1, &logs, &len, &rec_nodes, &rsp);
	if (!ret && rsp.result != SD_RES_SUCCESS)
		ret = rsp.result;
	else if (!ret && len < sizeof(log))
		ret = SD_RES_INVALID_PARMS; /* no record */
	if (!ret) {
		memcpy(&log, logs, sizeof(log));
		*ctime = log.ctime;
		bss_pool_set_ctime(blu->pool, log.ctime);
	}
	free(logs);
	if (ret) {
		eprintf("%s: sheepdog: cannot read the cluster's identity (STAT_CLUSTER) at %s: "
			"%s; --bsopts ident=TEXT names the device without it\n",
			blu->label, blu->path.addr, ret < 0 ? strerror(-ret) : sd_strerror(ret));
		return ret < 0 ? ret : sd_result_to_errno(ret);
	}
	return 0;
}

/*
 * Give the LU the vdi's identity, so every gateway of the cluster shows
 * the same device (and another cluster's vdi of the same name another).
 */
static void bss_set_identity(struct scsi_lu *lu, struct bss_lu *blu, uint64_t cluster)
{
	struct vpd **vpd = lu->attrs.lu_vpd;
	uint32_t snapvid = sd_vdi_is_readonly(blu->vdi) ? sd_vdi_id(blu->vdi) : 0;
	char sn[BSS_SN_LEN + 1], id[BSS_ID_LEN + 1];
	uint64_t naa;

	if (blu->opts.ident[0])
		bss_make_ids(blu->opts.ident, snapvid, 0, sn, id, &naa);
	else
		bss_make_ids(blu->path.vdi, snapvid, cluster, sn, id, &naa);
	snprintf(lu->attrs.scsi_sn, sizeof(lu->attrs.scsi_sn), "%s", sn);
	snprintf(lu->attrs.scsi_id, sizeof(lu->attrs.scsi_id), "%s", id);
	lu->attrs.numeric_id = naa;
	if (vpd[PCODE_OFFSET(0x80)] && vpd[PCODE_OFFSET(0x80)]->vpd_update)
		vpd[PCODE_OFFSET(0x80)]->vpd_update(lu, lu->attrs.scsi_sn);
	if (vpd[PCODE_OFFSET(0x83)] && vpd[PCODE_OFFSET(0x83)]->vpd_update)
		vpd[PCODE_OFFSET(0x83)]->vpd_update(lu, lu->attrs.scsi_id);
}

/*
 * Capacity changes.  `dog vdi resize` only rewrites the inode header, so
 * the gateway learns of it by re-reading the header: every refresh=SEC
 * seconds (sd_vdi_aio_refresh, async, from tgt's work timer), or when the
 * admin re-opens the LU (`tgtadm --op update --mode logicalunit --params
 * online=0,path=SAME`: core closes and re-opens it).  A larger size goes
 * into lu->size, which core's READ CAPACITY and LBA range checks read, and
 * every I_T nexus of the LU gets the unit attention CAPACITY DATA HAS
 * CHANGED, so initiators re-read the capacity.
 *
 * Sheep refuses to shrink a vdi: a smaller size on a refresh means the
 * name now belongs to another vdi (deleted and re-created).  The LU keeps
 * the capacity its initiators were told, logs the new size once, and
 * commands beyond the vdi's new end fail in the library's range check with
 * ILLEGAL REQUEST / LBA OUT OF RANGE.  A re-open takes whatever size the
 * vdi has (the admin chose it) and raises the same unit attention if it
 * differs.
 */
#define BSS_ASC_CAPACITY_CHANGED 0x2a09

static void bss_capacity_changed(struct scsi_lu *lu)
{
	struct it_nexus_lu_info *itn_lu;

	list_for_each_entry(itn_lu, &lu->lu_itl_info_list, lu_itl_info_siblings)
		ua_sense_add_it_nexus(itn_lu->itn_id, lu, BSS_ASC_CAPACITY_CHANGED);
}

static void bss_apply_size(struct bss_lu *blu, uint64_t size)
{
	struct scsi_lu *lu = blu->lu;

	if (size == blu->size)
		return;
	if (size < blu->size) {
		if (size != blu->smaller_size)
			eprintf("%s: sheepdog: vdi '%s' is now %" PRIu64 " bytes, less than the "
				"%" PRIu64
				" exported (re-created?): keeping the exported capacity; "
				"commands beyond the vdi's end fail\n",
				blu->label, blu->path.vdi, size, blu->size);
		blu->smaller_size = size;
		return;
	}
	eprintf("%s: sheepdog: vdi '%s' grew from %" PRIu64 " to %" PRIu64
		" bytes: CAPACITY DATA HAS CHANGED\n",
		blu->label, blu->path.vdi, blu->size, size);
	blu->size = size;
	blu->smaller_size = 0;
	lu->size = size;
	bss_capacity_changed(lu);
}

/* libsheepdog completion of a refresh (main thread, sd_cluster_service). */
static void bss_refresh_cb(struct sd_vdi *vdi, int ret, void *opaque)
{
	struct bss_lu *blu = opaque;

	blu->refreshing = 0;
	/* bss_close drains the LU's requests: nothing to apply any more */
	if (!blu->opened)
		return;
	if (ret < 0) {
		if (++blu->nr_refresh_errors <= 3 || blu->nr_refresh_errors % 100 == 0)
			eprintf("%s: sheepdog: re-reading the size of vdi '%s': %s (%u in a row)\n",
				blu->label, blu->path.vdi, strerror(-ret), blu->nr_refresh_errors);
		return;
	}
	blu->nr_refresh_errors = 0;
	bss_apply_size(blu, sd_vdi_size(vdi));
}

/* tgt's work timer (main thread): one refresh at a time, then re-arm. */
static void bss_refresh_work(void *data)
{
	struct bss_lu *blu = data;

	blu->refresh_armed = 0;
	if (!blu->opened)
		return;
	if (!blu->refreshing && sd_vdi_aio_refresh(blu->vdi, bss_refresh_cb, blu) == 0)
		blu->refreshing = 1;
	add_work(&blu->refresh_work, blu->opts.refresh_sec);
	blu->refresh_armed = 1;
}

static void bss_refresh_stop(struct bss_lu *blu)
{
	if (blu->refresh_armed)
		del_work(&blu->refresh_work);
	blu->refresh_armed = 0;
}

static int bss_open(struct scsi_lu *lu, char *path, int *fd, uint64_t *size)
{
	struct bss_lu *blu = bss_lu_of(lu);
	unsigned int vflags = 0;
	uint64_t cluster = 0;
	char err[256];
	int ret;

	if (bss_parse_path(path, &blu->path, err, sizeof(err))) {
		eprintf("%s: sheepdog: bad backing store '%s': %s\n", blu->label, path, err);
		return -EINVAL;
	}
	/* a deleted LU of this vdi may still be releasing it */
	bss_reap_wait(blu->path.addr, blu->path.vdi, blu->opts.connect_timeout_sec * 1000);

	blu->pool = bss_pool_get(blu, BSS_POOL_IO);
	if (!blu->pool) {
		ret = -errno;
		eprintf("%s: sheepdog: cannot connect to sheep at %s: %s\n", blu->label,
			blu->path.addr, strerror(-ret));
		return ret;
	}
	blu->cluster = bss_pool_cluster(blu->pool);
	blu->cluster_fd = bss_pool_fd(blu->pool);
	blu->admit = bss_pool_admit(blu->pool);

	/* The vdi's open flags, all decided here.  shared=1: other gateways
	 * may write the vdi too (coherent index).  shared=0 (implied by any
	 * cache=): this gateway is the only one. */
	if (blu->opts.shared)
		vflags |= SD_VDI_SHARED;
	/* a cache holds what other gateways cannot see: on our sheep the
	 * working vdi is opened exclusively (upstream cannot enforce it; the
	 * library logs that once).  Snapshots are read-only: no lock. */
	else if (blu->opts.cache && !blu->path.tag[0] && !blu->path.snapid)
		vflags |= SD_VDI_EXCLUSIVE;
	blu->vdi = sd_vdi_open_flags(blu->cluster, blu->path.vdi, blu->path.snapid,
				     blu->path.tag[0] ? blu->path.tag : NULL, vflags);
	if (!blu->vdi) {
		char what[SD_MAX_VDI_TAG_LEN + 32] = "";

		ret = -errno;
		if (blu->path.tag[0])
			snprintf(what, sizeof(what), "snapshot '%s' of ", blu->path.tag);
		else if (blu->path.snapid)
			snprintf(what, sizeof(what), "snapshot id %" PRIu32 " of ",
				 blu->path.snapid);
		eprintf("%s: sheepdog: cannot open %svdi '%s' at %s: %s (%s)\n", blu->label, what,
			blu->path.vdi, blu->path.addr, strerror(-ret),
			sd_cluster_errmsg(blu->cluster));
		goto disconnect;
	}
	/* the cache's directory is named after the cluster too */
	if (!blu->opts.ident[0] || blu->opts.cache) {
		ret = bss_cluster_ctime(blu, &cluster);
		if (ret)
			goto close_vdi;
	}

	if (sd_vdi_is_readonly(blu->vdi))
		lu->attrs.readonly = 1;
	bss_set_identity(lu, blu, cluster);
	bss_caw_probe(lu);
	bss_sbc_override(lu);
	bss_thin_refresh(lu);
	bss_defect_override(lu);
	bss_xcopy_override(lu);
	/* last: it wraps the handlers installed above */
	ret = bss_pr_attach(lu);
	if (ret) {
		eprintf("%s: sheepdog: cannot set up reservations (%s store): %s\n", blu->label,
			blu->opts.shared ? "cluster" : "memory", strerror(-ret));
		goto close_vdi;
	}
	/* a write-back gateway's dirty data is invisible to shared ones */
	ret = bss_cache_shared_check(blu);
	if (!ret)
		ret = bss_cache_open(blu, cluster);
	if (ret)
		goto close_vdi;

	/*
	 * There is no file: core's only user of lu->fd, GET LBA STATUS, is
	 * replaced by bss_sbc_override().  -1, not 0: lseek on fd 0 would
	 * make core's version spin if it ever ran.
	 */
	*fd = -1;
	*size = sd_vdi_size(blu->vdi);
	blu->opened = 1;
	/* a re-open (--params path=) after a resize: core sets lu->size */
	if (blu->size && *size != blu->size) {
		eprintf("%s: sheepdog: re-opened with %" PRIu64 " bytes (was %" PRIu64
			"): CAPACITY DATA HAS CHANGED\n",
			blu->label, *size, blu->size);
		bss_capacity_changed(lu);
	}
	blu->size = *size;
	blu->smaller_size = 0;
	blu->nr_refresh_errors = 0;
	/* snapshots never change size */
	if (blu->opts.refresh_sec && !sd_vdi_is_readonly(blu->vdi)) {
		add_work(&blu->refresh_work, blu->opts.refresh_sec);
		blu->refresh_armed = 1;
	}
	eprintf("%s: sheepdog: exported vdi '%s'%s%s at %s, %" PRIu64 " bytes, object %u "
		"bytes, vid %" PRIx32 "%s\n",
		blu->label, blu->path.vdi, blu->path.tag[0] ? " tag " : "", blu->path.tag,
		blu->path.addr, *size, sd_vdi_object_size(blu->vdi), sd_vdi_id(blu->vdi),
		sd_vdi_is_readonly(blu->vdi) ? ", read-only snapshot" : "");
	return 0;

close_vdi:
	sd_vdi_close(blu->vdi);
	blu->vdi = NULL;
disconnect:
	blu->admit = NULL;
	bss_pool_vdi_put(blu->pool, blu->path.vdi);
	bss_pool_lu_put(blu->pool);
	blu->pool = NULL;
	blu->cluster = NULL;
	blu->cluster_fd = -1;
	return ret;
}

static void bss_close(struct scsi_lu *lu)
{
	struct bss_lu *blu = bss_lu_of(lu);
	struct bss_aiocb *acb, *next;

	if (!blu->opened)
		return;
	blu->opened = 0;
	bss_refresh_stop(blu);
	bss_admit_forget(blu);

	/* Commands refused at submit: complete them now, not after free. */
	tgt_remove_sched_event(&blu->done_ev);
	bss_done_event_cb(&blu->done_ev);
	/* the cache flushes everything first (bounded by the timeouts) */
	bss_cache_close(blu);
	/* other LUs' copies reading or writing here abort now (bss_xcopy.c) */
	bss_range_close(blu);

	/* Detached PRE-FETCHes (bss_caw.c) are all that can still be in
	 * flight (tgt deletes a LU with no active command): their reads
	 * finish in the background, without their callbacks. */
	list_for_each_entry_safe(acb, next, &blu->inflight, entry) {
		if (acb->cmd)
			continue;
		list_del(&acb->entry);
		blu->nr_inflight--;
		blu->nr_prefetch_bg--;
		if (acb->admit)
			bss_admit_release(acb->admit);
		acb->admit = NULL;
		bss_reap_adopt(blu, acb->tmp, free);
		bss_reap_adopt(blu, acb, free);
	}
	/* the rest waits for the sheep: in the background (bss_reap.c) */
	bss_reap_start(blu);
	if (blu->nr_inflight)
		eprintf("%s: sheepdog: %u commands still in flight after close\n", blu->label,
			blu->nr_inflight);
	eprintf("%s: sheepdog: closed vdi '%s' (at most %u commands were in flight, %u failed, "
		"%u waited for a slot of the pool); releasing it in the background\n",
		blu->label, blu->path.vdi, blu->peak_inflight, blu->nr_errors, blu->nr_admit_waits);
	if (bss_path_is_snapshot(&blu->path))
		lu->attrs.readonly = 0;
}

static void bss_exit(struct scsi_lu *lu)
{
	struct bss_lu *blu = bss_lu_of(lu);

	tgt_remove_sched_event(&blu->done_ev);
	bss_refresh_stop(blu);
	bss_acb_cache_free(blu);
	bss_pr_free(lu);
	bss_thin_exit(lu);
	bss_xcopy_lu_free(blu);
}

static struct backingstore_template bss_template = {
	.bs_name = "sheepdog",
	.bs_datasize = sizeof(struct bss_lu),
	.bs_open = bss_open,
	.bs_close = bss_close,
	.bs_init = bss_init,
	.bs_exit = bss_exit,
	.bs_cmd_submit = bss_cmd_submit,
	.bs_oflags_supported = 0,
};

/*
 * Called by tgtd's bs_init() after dlopen (the only exported symbol).
 * The map lists every opcode core must reach for an SBC disk: opcodes
 * missing from it get INVALID OPERATION CODE before any handler runs.
 * COMPARE AND WRITE reaches the module's own handler (bss_caw.c), not
 * core's spc_illegal_op; UNMAP and WRITE SAME go to the module's own
 * handlers (bss_thin.c), not to bs_cmd_submit.
 */
void register_bs_module(void)
{
	unsigned char opcodes[] = {
		ALLOW_MEDIUM_REMOVAL,
		COMPARE_AND_WRITE,
		BSS_OP_EXTENDED_COPY,
		BSS_OP_RECEIVE_COPY_RESULTS,
		FORMAT_UNIT,
		INQUIRY,
		MAINT_PROTOCOL_IN,
		MODE_SELECT,
		MODE_SELECT_10,
		MODE_SENSE,
		MODE_SENSE_10,
		ORWRITE_16,
		PERSISTENT_RESERVE_IN,
		PERSISTENT_RESERVE_OUT,
		PRE_FETCH_10,
		PRE_FETCH_16,
		READ_10,
		READ_12,
		READ_16,
		READ_6,
		READ_CAPACITY,
		READ_DEFECT_DATA,
		0xb7, /* READ DEFECT DATA (12): tgt's scsi.h has no name for it */
		RELEASE,
		REPORT_LUNS,
		REQUEST_SENSE,
		RESERVE,
		SEND_DIAGNOSTIC,
		SERVICE_ACTION_IN,
		START_STOP,
		SYNCHRONIZE_CACHE,
		SYNCHRONIZE_CACHE_16,
		TEST_UNIT_READY,
		UNMAP,
		VERIFY_10,
		VERIFY_12,
		VERIFY_16,
		WRITE_10,
		WRITE_12,
		WRITE_16,
		WRITE_6,
		WRITE_VERIFY,
		WRITE_VERIFY_12,
		WRITE_VERIFY_16,
		WRITE_SAME,
		WRITE_SAME_16,
	};

	bs_create_opcode_map(&bss_template, opcodes, ARRAY_SIZE(opcodes));
	register_backingstore_template(&bss_template);
	eprintf("bs_sheepdog: registered backing store 'sheepdog' (%s %s, replaces the "
		"built-in client)\n",
		PACKAGE_NAME, PACKAGE_VERSION);
}
