/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libsheepdog private header of the layers above the engine: the vdi data
 * path (io.c, vdi.c), administration (admin.c) and the handle (cluster.c).
 * The engine below (sdl_engine.h) sees none of this.
 *
 * Threading: everything here belongs to the thread that owns the
 * struct sd_cluster (see sheepdog.h); nothing is locked.
 *
 *   struct sd_cluster  the handle: the engine plus the open vdis and the
 *                      user requests whose callbacks are due.
 *   struct sdl_acb     one user request on a vdi (sdl_io.h); carries its
 *                      per-object parts, each embedding an sdl_req, in the
 *                      same allocation.
 */
#ifndef SDL_PRIV_H
#define SDL_PRIV_H

#include "sdl_engine.h"

struct sd_cluster {
	struct sdl_engine e;	   /* first: the engine knows only this */
	struct sdl_list done_acbs; /* completed, callback not yet run */
	struct sdl_list vdis;
	unsigned nr_vdis;
	int excl_warned; /* SD_VDI_EXCLUSIVE against upstream: said once */
};

/* cluster.c: constructor with an explicit transport (tests use a fake). */
struct sd_cluster *sdl_connect_transport(const char *addr, const struct sd_cluster_opts *opts,
					 const struct sdl_transport *tp, void *tp_priv);

/* ---- vdi.c / io.c ---- */
enum { SDL_RELOAD_NONE, SDL_RELOAD_HEADER, SDL_RELOAD_FULL };

struct sd_vdi {
	struct sdl_list link; /* on cluster->vdis */
	struct sd_cluster *c;
	char name[SD_MAX_VDI_LEN];
	char tag[SD_MAX_VDI_TAG_LEN];
	uint32_t snapid;
	int readonly;
	int shared; /* SD_VDI_SHARED: probe before trusting holes / ancestors */
	int locked; /* holds the shared lock of vid (released on close) */
	/*
	 * SD_VDI_EXCLUSIVE against our sheep: holds (or, after the sheep
	 * forgot it, must take again before any I/O) the exclusive lock of
	 * vid; released on close by the cluster's last such handle of vid.
	 */
	int excl;
	int nolock; /* SD_VDI_NOLOCK: no lock, I/O not TGT-flagged (dog) */
	uint32_t vid;
	/*
	 * The header and the part of the flat index the vdi's size needs
	 * (nr_idx entries, never fewer than that size's objects): a 64 MiB
	 * vdi keeps 16 entries, not the format's 2^20 (vdi.c,
	 * sdl_vdi_index_fit).  Reads of the whole inode land in a transient
	 * buffer first.
	 */
	char *inode;		     /* SD_INODE_HEADER_SIZE + 4 * nr_idx bytes */
	struct sd_inode_header *hdr; /* == inode */
	uint32_t *index;	     /* inode + SD_INODE_HEADER_SIZE */
	uint32_t nr_idx;
	unsigned shift;
	uint32_t obj_size;
	uint64_t size;
	unsigned nr_acbs;		/* outstanding user requests */
	struct sdl_list creates;	/* parts creating an object */
	struct sdl_list dirty;		/* parts waiting for an inode update */
	unsigned nr_iupd;		/* inode updates in flight */
	int reload_want;		/* SDL_RELOAD_* requested */
	int reloading;			/* reload requests in flight */
	struct sdl_list reload_waiters; /* parts to restart after reload */
	struct sdl_reload *reload;
	unsigned reload_streak; /* reloads since a request last succeeded */
	int index_changed;	/* index written since the last reload */
	unsigned reload_gen;	/* reloads completed */
	/*
	 * Shared or exclusive: the sheep forgot our participation (restart,
	 * long outage) or our exclusive lock (all connections lost): the
	 * next reload re-joins (RELEASE + [LOCK_VDI EXCLUSIVE +] LOCK_VDI
	 * SHARED) before its refresh read.  join_gen counts those events; a probe sent before
	 * the last one proves nothing.
	 */
	int rejoin;
	unsigned join_gen;
	/* sd_vdi_aio_close: its SDL_CLOSE_* stage, releases in flight, callback */
	int closing;
	unsigned close_pending;
	sd_aio_cb close_cb;
	void *close_opaque;
};

/*
 * The sheep may have forgotten this handle (sdl_engine.forgotten): every
 * shared vdi re-joins and reloads before it trusts its index again.
 */
void sdl_vdis_forgotten(struct sd_cluster *c);
/* Kick pending work of all vdis (inode updates, reloads); cluster.c runs it each round. */
void sdl_vdis_kick(struct sd_cluster *c);
/* Move sd_vdi_aio_close()s on and run the finished ones' callbacks (each round, last). */
void sdl_vdis_close_progress(struct sd_cluster *c);
/* Run the completion callbacks queued on c->done_acbs (cluster.c, each round). */
void sdl_run_completions(struct sd_cluster *c);
/* vdi.c: start or continue a reload; see io.c for waiters. */
void sdl_vdi_reload_kick(struct sd_vdi *vdi);
void sdl_vdi_reload_done(struct sd_vdi *vdi, int ret);
/* io.c: flush dirty index entries into inode updates. */
void sdl_vdi_flush_dirty(struct sd_vdi *vdi);
/* io.c: restart parts parked on reload_waiters (ret 0) or fail them. */
void sdl_vdi_release_waiters(struct sd_vdi *vdi, int ret);
/*
 * io.c: the vid changed (snapshot): take the new inode's index srv, but keep
 * and re-persist our entries for old_vid objects that it lacks.
 */
void sdl_vdi_merge_index(struct sd_vdi *vdi, const uint32_t *srv, uint32_t old_vid);
/* io.c: a reload replaced the index; re-apply entries not yet persisted. */
void sdl_vdi_after_reload(struct sd_vdi *vdi, uint32_t old_vid);
/* Lock or look up name/snapid/tag into *vid; deadline_ms bounds it (0 = none). */
int sdl_vdi_lookup(struct sd_cluster *c, uint8_t opcode, const char *name, uint32_t snapid,
		   const char *tag, uint32_t *vid, uint64_t deadline_ms);
/*
 * Read an object synchronously.  retry_noobj: NO_OBJ is retried (an inode
 * being written by a snapshot in progress), with the retries spaced by the
 * engine's delayed queue, never by a sleep.  deadline_ms bounds the whole
 * call (0 = the request timeouts alone).
 */
int sdl_read_obj_sync(struct sd_cluster *c, uint64_t oid, void *buf, uint32_t len, uint32_t offset,
		      int retry_noobj, uint64_t deadline_ms);
int sdl_write_obj_sync(struct sd_cluster *c, uint64_t oid, const void *buf, uint32_t len,
		       uint32_t offset, uint8_t opcode, uint16_t extra_flags);

#endif
