/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libsheepdog data path types (io.c): a user request (acb) and its
 * per-object parts.  One allocation holds the acb and all its parts; each
 * part embeds the sheep request it sends, so the hot path allocates once
 * per user request.  Owned by the vdi's cluster thread.
 */
#ifndef SDL_IO_H
#define SDL_IO_H

#include "sdl_priv.h"

enum sdl_part_kind {
	SDL_PK_READ,
	SDL_PK_WRITE,
	SDL_PK_DISCARD, /* whole object: clear the index entry */
	SDL_PK_FLUSH,
	SDL_PK_NOP,	/* nothing to do (discard of a hole) */
	SDL_PK_REFRESH, /* done once the inode header was re-read (gen) */
	SDL_PK_CAW,	/* EXT_CMP_WRITE_OBJ: buf holds 2 * len bytes */
};

enum sdl_part_stage {
	SDL_PS_IDLE,
	SDL_PS_SENT,
	SDL_PS_WAIT_BUSY, /* another part owns this index */
	SDL_PS_WAIT_RELOAD,
	SDL_PS_DIRTY, /* index entry changed, update not yet sent */
	SDL_PS_IUPD,  /* inode update in flight */
	SDL_PS_DONE,
};

struct sdl_acb;

struct sdl_part {
	struct sdl_req req;
	struct sdl_acb *acb;
	struct sdl_list wlink;	  /* waiters / reload_waiters / dirty / iupd */
	struct sdl_list blink;	  /* on vdi->creates while owning the index */
	struct sdl_list bwaiters; /* parts waiting for this one */
	uint32_t idx;
	uint32_t off, len;
	char *buf;
	uint32_t old_owner; /* index value before our change */
	uint8_t kind;
	uint8_t stage;
	uint8_t busy;	   /* owns the index entry (on creates) */
	uint8_t is_create; /* last request sent was a create */
	uint8_t probing;   /* shared vdi: the inode probe is in flight */
	uint8_t probed;	   /* shared vdi: the index was confirmed current */
	uint8_t zero_only; /* partial discard: zero it only if allocated */
	char probe_byte[1];
	unsigned join_gen; /* vdi->join_gen when the probe was sent */
	unsigned gen;	   /* vdi->reload_gen when last sent; REFRESH: the
			    * reload_gen that completes it */
};

struct sdl_acb {
	struct sdl_list link; /* on cluster->done_acbs */
	struct sd_vdi *vdi;
	sd_aio_cb cb;
	void *opaque;
	int ret;
	unsigned nr_parts;
	unsigned nr_pending;
	int fua_state; /* 0 none, 1 flush pending, 2 flush sent */
	void *zbuf;
	uint64_t *miscompare; /* CAW: where the first differing byte goes */
	struct sdl_part parts[];
};

#endif
