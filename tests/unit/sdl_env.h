/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The environment of libsheepdog's data-path unit tests (test_lib_io,
 * test_lib_reload, test_lib_loop): one fake sheep (sdl_fake.c) with one
 * vdi, a handle on it, completion records and the loops that drive them.
 */
#ifndef SDL_ENV_H
#define SDL_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "sdl_fake.h"

#define SHIFT 20
#define OBJ   (1u << SHIFT)
#define ALL   (~UINT64_C(0))

struct env {
	struct fake f;
	struct sd_cluster *c;
	struct sd_vdi *v;
	uint32_t vid;
};

struct rec {
	int calls;
	int ret;
	int in_submit;
};

/* Non-zero while a SUBMIT() runs: a callback then counts in in_submit. */
extern int g_in_submit;

#define SUBMIT(expr) \
	({ \
		int _r; \
		g_in_submit = 1; \
		_r = (expr); \
		g_in_submit = 0; \
		_r; \
	})

/* Completion callback for a struct rec (opaque). */
void rec_cb(struct sd_vdi *v, int ret, void *opaque);
/* A fake with vdi `name` of size (unless e->vid is set), a handle, the
 * vdi open (env_open: "v", e zeroed first). */
void env_setup(struct env *e, const char *name, uint64_t size);
void env_open(struct env *e, uint64_t size);
/* env_open of a one-object vdi "v" whose object 0 is allocated, through a
 * handle with options o; 0, or -1 (checks failed) if nothing opened. */
int env_open_opts(struct env *e, const struct sd_cluster_opts *o);
/* Close, disconnect, free the fake; nothing allocated may be left. */
void env_close(struct env *e);
/* Serve everything (newest first) until r has completed. */
void drive(struct env *e, struct rec *r);
/* Requests with this opcode the fake holds. */
int count_op(struct fake *f, uint8_t op);
/* A byte pattern of seed. */
void fill(char *buf, size_t len, unsigned seed);
/* Like an application's event loop (tgtd's): sd_cluster_service only when
 * sd_cluster_fd() is readable, until r completes or for at most ms. */
void pump_on_events(struct env *e, const struct rec *r, int ms);

#endif
