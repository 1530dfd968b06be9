/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One set of stubs of the tgt core functions that bss_io.c, bss_sbc.c,
 * bss_caw.c, bss_thin.c and bss_xcopy.c call, shared by the module's unit
 * tests (test_bss_io.c, test_bss_thin.c, test_bss_xcopy.c). Each test keeps
 * its own fake libsheepdog (they differ) and links with -Wl,--wrap=malloc.
 *
 * What the stubs do and record, in g_stub:
 *   target_cmd_io_done()  sets cmd->result, counts done_calls, records the
 *                         command in last_done, and counts done_in_submit
 *                         when the test has set in_submit (a completion from
 *                         inside the handler or submit, which must not be);
 *   tgt_add_sched_event() records the event in sched (the test runs it);
 *   tgt_remove_sched_event() clears sched if it is that event;
 *   device_reserved()     returns reserved (a SCSI-2 reservation conflict);
 *   find_mode_page()      returns caching_pg for the Caching page (0x08/0),
 *                         NULL otherwise (NULL: bss reads it as WCE=1);
 *   malloc()              fails malloc_fail of the next calls with ENOMEM;
 *   sense_data_build*()   build fixed-format sense as tgt does, with the
 *                         VALID bit and INFORMATION for the _with_info one;
 *   scsi_rw_count()       the VERIFY(10/12/16) transfer length, else 0;
 *   log_*()               do nothing.
 */
#ifndef BSS_TGT_STUB_H
#define BSS_TGT_STUB_H

#include "../bss.h"

struct bss_tgt_stub {
	int in_submit;		    /* set by the test around a call into the module */
	int done_calls;		    /* target_cmd_io_done() calls */
	int done_in_submit;	    /* of which while in_submit was set */
	struct scsi_cmd *last_done; /* the last command completed */
	struct event_data *sched;   /* the last scheduled event, until removed */
	int reserved;		    /* what device_reserved() returns */
	int malloc_fail;	    /* fail this many of the next malloc() calls */
	struct mode_pg *caching_pg; /* what find_mode_page(0x08, 0) returns */
};

extern struct bss_tgt_stub g_stub;

/*
 * Clear g_stub; with caching_page, find_mode_page() then returns a Caching
 * page with WCE set (g_stub.caching_pg->mode_data[0] == 0x14), else NULL.
 */
void bss_stub_reset(int caching_page);

/*
 * A scsi_lu with its bss_lu behind it (calloc'ed; free() the scsi_lu):
 * 512-byte blocks, size bytes, a disk, opened on vdi, its lists empty and
 * its done event set up as bss_main.c does.
 */
struct scsi_lu *bss_stub_lu_new(struct sd_vdi *vdi, uint64_t size, const char *label);

/* Sense key and ASC/ASCQ of a command's fixed-format sense. */
int sense_key(const struct scsi_cmd *cmd);
int sense_asc(const struct scsi_cmd *cmd);

#endif
