/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * COMPARE AND WRITE (ATS) atomic across gateways: the compare and the
 * write are one sd_vdi_aio_cmp_write, which the sheep executes under the
 * object's exclusive lock (its EXT_CMP_WRITE_OBJ extension), so two
 * gateways exporting one vdi cannot both succeed against the same old
 * data.  bss_caw.c parses the command, takes the local exclusive range
 * (the order against this gateway's own commands) and runs
 * blu->caw_start, which bss_caw_probe sets to bss_ats_start when the LU
 * has shared=1 (the default) and the sheep answered the probe.
 *
 * Not atomic across gateways, and said so: a range across an object
 * boundary (one sheep request covers one object; an ATS of one block
 * never crosses one), shared=0, or a cluster without the extension (logged
 * at bs_open, see docs/upstream.md).  Those take bss_caw.c's local
 * read-compare-write.  A sheep that stops knowing the op (an upstream
 * sheep started on the same address) answers -EOPNOTSUPP: nothing was
 * written, so the command is redone locally and the LU stays local.
 *
 * Main thread only, like the rest of the data path.
 */
#include "bss.h"

static void bss_ats_done(struct bss_aiocb *acb, int err)
{
	struct bss_lu *blu = acb->blu;

	if (err == -EILSEQ) {
		bss_caw_miscompare(acb, acb->pos);
	} else if (err == -EOPNOTSUPP) {
		eprintf("%s: sheepdog: the sheep has no compare-and-write extension any more: "
			"COMPARE AND WRITE of vdi '%s' is now atomic within this gateway only\n",
			blu->label, blu->path.vdi);
		blu->caw_start = NULL;
		bss_caw_local_start(acb);
	} else if (err) {
		bss_acb_fail(acb, err);
	} else {
		bss_acb_finish(acb, SAM_STAT_GOOD);
	}
}

static void bss_ats_start(struct bss_aiocb *acb)
{
	struct bss_lu *blu = acb->blu;
	uint64_t obj = sd_vdi_object_size(blu->vdi);

	if (acb->length > SD_EXT_CMP_WRITE_MAX ||
	    acb->offset / obj != (acb->offset + acb->length - 1) / obj) {
		bss_caw_local_start(acb);
		return;
	}
	acb->is_write = 1;
	acb->pos = 0; /* the miscompare offset */
	bss_step_begin(acb, bss_ats_done);
	bss_step_add(acb, sd_vdi_aio_cmp_write(blu->vdi, acb->buf, acb->length, acb->offset,
					       acb->flags, &acb->pos, bss_step_cb, acb));
	bss_step_end(acb);
}

void bss_caw_probe(struct scsi_lu *lu)
{
	struct bss_lu *blu = bss_lu_of(lu);
	int ret;

	blu->caw_start = NULL;
	if (!blu->opts.shared || sd_vdi_is_readonly(blu->vdi))
		return;
	/* count 0: asks whether the sheep has the op, touches nothing */
	ret = sd_vdi_cmp_write(blu->vdi, NULL, 0, 0, NULL);
	if (!ret) {
		blu->caw_start = bss_ats_start;
		return;
	}
	eprintf("%s: sheepdog: the sheep at %s has no compare-and-write extension (%s): "
		"COMPARE AND WRITE (ATS) of vdi '%s' is atomic within this gateway only, "
		"not against other gateways exporting it\n",
		blu->label, blu->path.addr, strerror(-ret), blu->path.vdi);
}
