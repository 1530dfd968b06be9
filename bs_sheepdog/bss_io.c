/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bs_sheepdog data path: SCSI commands -> libsheepdog async requests ->
 * completion on tgtd's main loop.
 *
 * tgt core has already done the SBC checks (reservations, write protect,
 * LBA range, PI bits) and set cmd->offset / cmd->tl in bytes when
 * bs_cmd_submit runs (sbc_rw, sbc_verify, sbc_sync_cache).  Each command gets
 * one bss_aiocb; it is marked async and completed later with
 * target_cmd_io_done(), from the library callback (run by
 * sd_cluster_service() in the LU's pool's event handler, bss_pool.c) or, if
 * the library refused
 * the submit, from the LU's scheduled "done" event: completing inside
 * bs_cmd_submit would race with core, which still touches the command after
 * the submit returns (target_cmd_perform).
 */
#include "bss.h"

enum bss_phase {
	BSS_PH_READ,	     /* READ 6..16 */
	BSS_PH_WRITE,	     /* WRITE 6..16 */
	BSS_PH_WRITE_VERIFY, /* WRITE AND VERIFY: write, then BSS_PH_COMPARE */
	BSS_PH_COMPARE,	     /* read-back done: compare with the data-out buffer */
	BSS_PH_COMPARE_SAME, /* VERIFY BYTCHK=11b: every block vs one block */
	BSS_PH_FLUSH,	     /* SYNCHRONIZE CACHE */
};

struct bss_aiocb *bss_acb_get(struct bss_lu *blu, struct scsi_cmd *cmd)
{
	struct bss_aiocb *acb;

	if (!list_empty(&blu->free_acbs)) {
		acb = list_first_entry(&blu->free_acbs, struct bss_aiocb, entry);
		list_del(&acb->entry);
		blu->nr_free--;
	} else {
		acb = malloc(sizeof(*acb));
		if (!acb)
			return NULL;
	}
	memset(acb, 0, sizeof(*acb));
	INIT_LIST_HEAD(&acb->entry);
	INIT_LIST_HEAD(&acb->cache_entry);
	INIT_LIST_HEAD(&acb->admit_entry);
	acb->blu = blu;
	acb->cmd = cmd;
	return acb;
}

static void bss_acb_put(struct bss_lu *blu, struct bss_aiocb *acb)
{
	free(acb->tmp);
	acb->tmp = NULL;
	if (blu->nr_free < BSS_ACB_CACHE) {
		list_add(&acb->entry, &blu->free_acbs);
		blu->nr_free++;
	} else {
		free(acb);
	}
}

void bss_acb_cache_free(struct bss_lu *blu)
{
	struct bss_aiocb *acb, *next;

	list_for_each_entry_safe(acb, next, &blu->free_acbs, entry) {
		list_del(&acb->entry);
		free(acb);
	}
	blu->nr_free = 0;
}

void bss_acb_begin(struct bss_aiocb *acb)
{
	struct bss_lu *blu = acb->blu;

	if (acb->cmd) /* NULL: a detached PRE-FETCH (bss_caw.c) */
		set_cmd_async(acb->cmd);
	if (++blu->nr_inflight > blu->peak_inflight)
		blu->peak_inflight = blu->nr_inflight;
	list_add_tail(&acb->entry, &blu->inflight);
}

/* Sense with COMMAND-SPECIFIC INFORMATION (seg >= 0) and a sense-key
 * specific field (sks != 0), fixed or descriptor format as the LU says. */
void bss_sense_build(struct scsi_cmd *cmd, uint8_t key, uint16_t asc, int seg, uint8_t sks,
		     unsigned int field)
{
	uint8_t *s = cmd->sense_buffer;

	memset(s, 0, SCSI_SENSE_BUFFERSIZE);
	if (cmd->dev->attrs.sense_format) {
		int n = 8;

		s[0] = 0x72;
		s[1] = key;
		s[2] = asc >> 8;
		s[3] = asc & 0xff;
		if (seg >= 0) {
			s[n] = 0x01; /* command-specific information */
			s[n + 1] = 0x0a;
			put_unaligned_be64((uint64_t)seg, &s[n + 4]);
			n += 12;
		}
		if (sks) {
			s[n] = 0x02; /* sense key specific */
			s[n + 1] = 0x06;
			s[n + 4] = sks;
			put_unaligned_be16((uint16_t)field, &s[n + 5]);
			n += 8;
		}
		s[7] = n - 8;
		cmd->sense_len = n;
		return;
	}
	s[0] = 0x70;
	s[2] = key;
	s[7] = 10;
	if (seg >= 0)
		put_unaligned_be32((uint32_t)seg, &s[8]);
	s[12] = asc >> 8;
	s[13] = asc & 0xff;
	if (sks) {
		s[15] = sks;
		put_unaligned_be16((uint16_t)field, &s[16]);
	}
	cmd->sense_len = 18;
}

/* Hand the command back to core; sense (if any) is already built.  The
 * range goes first: releasing it may start commands that waited for it. */
void bss_acb_finish(struct bss_aiocb *acb, int status)
{
	struct bss_lu *blu = acb->blu;
	struct scsi_cmd *cmd = acb->cmd;
	struct bss_admit *admit;

	list_del(&acb->entry);
	blu->nr_inflight--;
	if (acb->locked) {
		acb->locked = 0;
		bss_range_unlock(blu, &acb->range);
	}
	if (acb->cache_gate || acb->cache_through)
		bss_cache_leave(acb);
	admit = acb->admit;
	bss_acb_put(blu, acb);
	if (cmd)
		target_cmd_io_done(cmd, status);
	/* last: the slot may start another LU's command */
	if (admit)
		bss_admit_release(admit);
}

void bss_acb_fail(struct bss_aiocb *acb, int err)
{
	struct bss_lu *blu = acb->blu;
	struct scsi_cmd *cmd = acb->cmd;
	struct bss_sense s = bss_errno_to_sense(err, acb->is_write);

	/* Log the first failures, then one in a thousand: a dead cluster must
	 * not flood tgtd's log with one line per command. */
	blu->nr_errors++;
	if (blu->nr_errors <= 10 || blu->nr_errors % 1000 == 0)
		eprintf("%s: op 0x%02x offset %" PRIu64 " length %zu failed: %s "
			"(sense %x/%04x, %u errors so far)\n",
			blu->label, cmd->scb[0], acb->offset, acb->length, strerror(-err), s.key,
			s.asc, blu->nr_errors);

	if (!acb->is_write)
		scsi_set_in_resid_by_actual(cmd, 0);
	sense_data_build(cmd, s.key, s.asc);
	bss_acb_finish(acb, SAM_STAT_CHECK_CONDITION);
}

/* First differing byte of buf against the expected data, or -1. */
static int64_t bss_first_mismatch(const struct bss_aiocb *acb, const uint8_t *expect,
				  size_t expect_len)
{
	const uint8_t *got = acb->tmp;
	size_t i;

	if (acb->phase == BSS_PH_COMPARE) {
		if (!memcmp(got, expect, acb->length))
			return -1;
		for (i = 0; i < acb->length; i++)
			if (got[i] != expect[i])
				return (int64_t)i;
		return -1;
	}
	/* BYTCHK=11b: the single data-out block is compared with each block. */
	for (i = 0; i < acb->length; i += expect_len)
		if (memcmp(got + i, expect, expect_len))
			break;
	for (; i < acb->length; i++)
		if (got[i] != expect[i % expect_len])
			return (int64_t)i;
	return -1;
}

static void bss_compare_done(struct bss_aiocb *acb)
{
	struct scsi_cmd *cmd = acb->cmd;
	size_t expect_len = acb->phase == BSS_PH_COMPARE ? acb->length
							 : (size_t)1 << cmd->dev->blk_shift;
	int64_t pos = bss_first_mismatch(acb, scsi_get_out_buffer(cmd), expect_len);

	if (pos < 0) {
		bss_acb_finish(acb, SAM_STAT_GOOD);
		return;
	}
	/* INFORMATION = offset of the first differing byte (SBC VERIFY). */
	sense_data_build_with_info(cmd, MISCOMPARE, ASC_MISCOMPARE_DURING_VERIFY_OPERATION,
				   (uint64_t)pos);
	bss_acb_finish(acb, SAM_STAT_CHECK_CONDITION);
}

/* libsheepdog completion, from sd_cluster_service() on the main thread. */
static void bss_aio_cb(struct sd_vdi *vdi, int ret, void *opaque)
{
	struct bss_aiocb *acb = opaque;

	if (ret < 0) {
		bss_acb_fail(acb, ret);
		return;
	}

	switch (acb->phase) {
	case BSS_PH_WRITE_VERIFY:
		acb->tmp = malloc(acb->length);
		if (!acb->tmp) {
			bss_acb_fail(acb, -ENOMEM);
			return;
		}
		acb->phase = BSS_PH_COMPARE;
		acb->is_write = 0;
		ret = sd_vdi_aio_read(vdi, acb->tmp, acb->length, acb->offset, bss_aio_cb, acb);
		if (ret < 0)
			bss_acb_fail(acb, ret);
		return;
	case BSS_PH_COMPARE:
	case BSS_PH_COMPARE_SAME: bss_compare_done(acb); return;
	default: bss_acb_finish(acb, SAM_STAT_GOOD); return;
	}
}

/* The caching mode page's WCE bit (tgt default 1; tgt-admin can clear it). */
int bss_write_cache_enabled(struct scsi_lu *lu)
{
	struct mode_pg *pg = find_mode_page(lu, 0x08, 0);

	return pg ? !!(pg->mode_data[0] & 0x04) : 1;
}

static int bss_submit_acb(struct bss_aiocb *acb, void *buf, unsigned int flags)
{
	struct sd_vdi *vdi = acb->blu->vdi;

	switch (acb->phase) {
	case BSS_PH_READ:
	case BSS_PH_COMPARE:
	case BSS_PH_COMPARE_SAME:
		return sd_vdi_aio_read(vdi, buf, acb->length, acb->offset, bss_aio_cb, acb);
	case BSS_PH_WRITE:
	case BSS_PH_WRITE_VERIFY:
		return sd_vdi_aio_write(vdi, buf, acb->length, acb->offset, flags, bss_aio_cb, acb);
	case BSS_PH_FLUSH: return sd_vdi_aio_flush(vdi, bss_aio_cb, acb);
	}
	return -EINVAL;
}

/* acb->start of the plain commands: one library request. */
static void bss_start_one(struct bss_aiocb *acb)
{
	int ret = bss_submit_acb(acb, acb->buf, acb->flags);

	/* Refused up front (e.g. -ENOMEM, -EROFS): complete with the precise
	 * sense from the main loop, never from here. */
	if (ret < 0)
		bss_acb_defer(acb, ret);
}

void bss_acb_defer(struct bss_aiocb *acb, int err)
{
	struct bss_lu *blu = acb->blu;

	acb->err = err;
	list_del(&acb->entry);
	list_add_tail(&acb->entry, &blu->done);
	tgt_add_sched_event(&blu->done_ev);
}

void bss_done_event_cb(struct event_data *ev)
{
	struct bss_lu *blu = ev->data;
	struct bss_aiocb *acb;
	bss_step_fn fn;

	while (!list_empty(&blu->done)) {
		acb = list_first_entry(&blu->done, struct bss_aiocb, entry);
		list_del(&acb->entry);
		list_add_tail(&acb->entry, &blu->inflight);
		fn = acb->step_done;
		acb->step_done = NULL;
		if (fn)
			fn(acb, acb->err);
		else
			bss_acb_fail(acb, acb->err);
	}
}

static void bss_range_granted(struct bss_range *r)
{
	struct bss_aiocb *acb = container_of(r, struct bss_aiocb, range);

	acb->start(acb);
}

/* bss_acb_start once the command holds a slot of the LU's pool. */
static void bss_acb_go(struct bss_aiocb *acb, int excl)
{
	struct bss_lu *blu = acb->blu;

	/* No vdi: a failed `--params path=` left the LU without one, and
	 * core still sends commands to an offline, non-removable LU. */
	if (!blu->opened) {
		bss_acb_defer(acb, -ENODEV);
		return;
	}
	/* a cached LU: commands around the cache pass its gate first */
	if (blu->cache && !acb->cache_gate && bss_cache_gate(acb, excl))
		return;
	if (!acb->length) {
		acb->start(acb);
		return;
	}
	acb->locked = 1;
	if (bss_range_lock(blu, &acb->range, acb->offset, acb->length, excl, bss_range_granted))
		acb->start(acb);
}

void bss_admit_init(struct bss_admit *a, unsigned int max)
{
	a->admitted = 0;
	a->max = max;
	INIT_LIST_HEAD(&a->waiting_lus);
}

/* The slot goes to blu's first waiting acb, which goes on. */
static void bss_admit_hand(struct bss_admit *a, struct bss_lu *blu)
{
	struct bss_aiocb *acb = list_first_entry(&blu->admit_wait, struct bss_aiocb, admit_entry);

	list_del_init(&acb->admit_entry);
	list_del(&blu->admit_link);
	/* round robin: a LU with more waiting goes to the back of the line */
	if (!list_empty(&blu->admit_wait))
		list_add_tail(&blu->admit_link, &a->waiting_lus);
	a->admitted++;
	acb->admit = a;
	bss_acb_go(acb, acb->admit_excl);
}

void bss_admit_release(struct bss_admit *a)
{
	a->admitted--;
	if (!list_empty(&a->waiting_lus))
		bss_admit_hand(a, list_first_entry(&a->waiting_lus, struct bss_lu, admit_link));
}

void bss_admit_forget(struct bss_lu *blu)
{
	while (!list_empty(&blu->admit_wait))
		bss_admit_hand(blu->admit, blu);
	blu->admit = NULL;
}

void bss_acb_start(struct bss_aiocb *acb, int excl)
{
	struct bss_lu *blu = acb->blu;
	struct bss_admit *a = blu->admit;

	/* Once per command (the cache's gate starts it again): a slot, or a
	 * place on the LU's wait queue; FIFO within the LU. */
	if (a && !acb->admit) {
		if (a->admitted >= a->max || !list_empty(&blu->admit_wait)) {
			if (list_empty(&blu->admit_wait))
				list_add_tail(&blu->admit_link, &a->waiting_lus);
			list_add_tail(&acb->admit_entry, &blu->admit_wait);
			acb->admit_excl = excl;
			blu->nr_admit_waits++;
			return;
		}
		a->admitted++;
		acb->admit = a;
	}
	bss_acb_go(acb, excl);
}

void bss_step_begin(struct bss_aiocb *acb, bss_step_fn done)
{
	acb->pending = 1; /* held until bss_step_end */
	acb->step_err = 0;
	acb->step_done = done;
}

void bss_step_add(struct bss_aiocb *acb, int submit_ret)
{
	if (submit_ret < 0) {
		if (!acb->step_err)
			acb->step_err = submit_ret;
		return;
	}
	acb->pending++;
}

static void bss_step_put(struct bss_aiocb *acb, int from_end)
{
	bss_step_fn fn;

	if (--acb->pending)
		return;
	if (from_end) {
		/* nothing is out: finish from the main loop, not from here */
		bss_acb_defer(acb, acb->step_err);
		return;
	}
	fn = acb->step_done;
	acb->step_done = NULL;
	fn(acb, acb->step_err);
}

void bss_step_end(struct bss_aiocb *acb)
{
	bss_step_put(acb, 1);
}

void bss_step_cb(struct sd_vdi *vdi, int ret, void *opaque)
{
	struct bss_aiocb *acb = opaque;

	(void)vdi;
	if (ret < 0 && !acb->step_err)
		acb->step_err = ret;
	bss_step_put(acb, 0);
}

/* Length in bytes the backend moves: what core validated (cmd->tl) clamped
 * to the buffer the initiator gave us (residuals are core's business). */
static size_t bss_xfer_len(struct scsi_cmd *cmd, int write)
{
	uint32_t buflen = write ? scsi_get_out_length(cmd) : scsi_get_in_length(cmd);

	return cmd->tl < buflen ? cmd->tl : buflen;
}

int bss_cmd_submit(struct scsi_cmd *cmd)
{
	struct scsi_lu *lu = cmd->dev;
	struct bss_lu *blu = bss_lu_of(lu);
	uint8_t op = cmd->scb[0];
	struct bss_aiocb *acb;
	unsigned int flags = 0;
	void *buf = NULL;
	size_t blksize = (size_t)1 << lu->blk_shift;
	int phase, is_write = 0;
	size_t len = 0;

	switch (op) {
	case READ_6:
	case READ_10:
	case READ_12:
	case READ_16:
		phase = BSS_PH_READ;
		len = bss_xfer_len(cmd, 0);
		buf = scsi_get_in_buffer(cmd);
		break;
	case WRITE_6:
	case WRITE_10:
	case WRITE_12:
	case WRITE_16:
		phase = BSS_PH_WRITE;
		is_write = 1;
		len = bss_xfer_len(cmd, 1);
		buf = scsi_get_out_buffer(cmd);
		/* WRITE(6) has no FUA bit; the others carry it in byte 1. */
		if ((op != WRITE_6 && (cmd->scb[1] & 0x08)) || !bss_write_cache_enabled(lu))
			flags |= SD_AIO_FUA;
		break;
	case WRITE_VERIFY:
	case WRITE_VERIFY_12:
	case WRITE_VERIFY_16:
		/* The verify reads the medium, so the write must be on it. */
		phase = BSS_PH_WRITE_VERIFY;
		is_write = 1;
		len = bss_xfer_len(cmd, 1);
		buf = scsi_get_out_buffer(cmd);
		flags |= SD_AIO_FUA;
		break;
	case VERIFY_10:
	case VERIFY_12:
	case VERIFY_16:
		/* Core answers BYTCHK=0 itself and, unlike sbc_rw, leaves
		 * cmd->tl unset: take the length from the CDB. */
		len = (size_t)scsi_rw_count(cmd->scb) << lu->blk_shift;
		if ((cmd->scb[1] & 0x06) == 0x06) {
			phase = BSS_PH_COMPARE_SAME;
			if (scsi_get_out_length(cmd) < blksize)
				len = 0;
		} else {
			phase = BSS_PH_COMPARE;
			if (len > scsi_get_out_length(cmd))
				len = scsi_get_out_length(cmd);
		}
		break;
	case SYNCHRONIZE_CACHE:
	case SYNCHRONIZE_CACHE_16:
		/* The range is ignored: sheep flushes the whole vdi.  IMMED is
		 * honoured by simply completing after the flush.  No data moves
		 * (len stays 0), yet the flush is always sent. */
		phase = BSS_PH_FLUSH;
		is_write = 1; /* a failed flush is a failed write */
		break;
	case ORWRITE_16: return bss_orwrite_submit(cmd);
	case PRE_FETCH_10:
	case PRE_FETCH_16: return bss_prefetch_submit(cmd);
	default:
		eprintf("%s: unexpected opcode 0x%02x reached the backend\n", blu->label, op);
		return BSS_SUBMIT_FAILED;
	}

	/* A data transfer of length 0 moves nothing: core answers GOOD. */
	if (len == 0 && phase != BSS_PH_FLUSH)
		return 0;

	acb = bss_acb_get(blu, cmd);
	if (!acb)
		return BSS_SUBMIT_FAILED;
	acb->phase = phase;
	acb->is_write = is_write;
	acb->offset = cmd->offset;
	acb->length = len;

	if (phase == BSS_PH_COMPARE || phase == BSS_PH_COMPARE_SAME) {
		acb->tmp = malloc(len);
		if (!acb->tmp) {
			bss_acb_put(blu, acb);
			return BSS_SUBMIT_FAILED;
		}
		buf = acb->tmp;
	}

	acb->buf = buf;
	acb->flags = flags;
	if (blu->cache && (phase == BSS_PH_READ || phase == BSS_PH_WRITE || phase == BSS_PH_FLUSH))
		return bss_cache_submit(acb);
	acb->start = bss_start_one;
	bss_acb_begin(acb);
	/* Plain reads and writes share their range; SYNCHRONIZE CACHE has
	 * none (length 0). */
	bss_acb_start(acb, 0);
	return 0;
}
