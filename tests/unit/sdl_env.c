// SPDX-License-Identifier: GPL-2.0-or-later
/* The environment of libsheepdog's data-path unit tests: see sdl_env.h. */
#include <poll.h>
#include <string.h>

#include "sdl_check.h"
#include "sdl_env.h"

int g_in_submit;

void rec_cb(struct sd_vdi *v, int ret, void *opaque)
{
	struct rec *r = opaque;

	r->calls++;
	r->ret = ret;
	if (g_in_submit)
		r->in_submit++;
}

static void env_setup_opts(struct env *e, const char *name, uint64_t size,
			   const struct sd_cluster_opts *o)
{
	if (!e->f.shift)
		fake_init(&e->f, SHIFT);
	if (!e->vid)
		e->vid = fake_vdi_create(&e->f, name, size, 0);
	e->f.auto_serve = 1;
	e->c = fake_connect(&e->f, o);
	CHECK(e->c != NULL);
	e->v = e->c ? sd_vdi_open(e->c, name, 0, NULL) : NULL;
	CHECK(e->v != NULL);
	e->f.auto_serve = 0;
}

void env_setup(struct env *e, const char *name, uint64_t size)
{
	struct sd_cluster_opts o;

	sd_cluster_opts_init(&o);
	o.io_timeout_ms = 5000;
	o.retry_timeout_ms = 5000;
	env_setup_opts(e, name, size, &o);
}

int env_open_opts(struct env *e, const struct sd_cluster_opts *o)
{
	memset(e, 0, sizeof(*e));
	fake_init(&e->f, SHIFT);
	e->vid = fake_vdi_create(&e->f, "v", OBJ, 0);
	fake_obj_create(&e->f, sd_vid_to_data_oid(e->vid, 0), OBJ);
	fake_index(&e->f, e->vid)[0] = e->vid;
	env_setup_opts(e, "v", OBJ, o);
	return e->v ? 0 : -1;
}

void env_open(struct env *e, uint64_t size)
{
	memset(e, 0, sizeof(*e));
	env_setup(e, "v", size);
}

void env_close(struct env *e)
{
	e->f.auto_serve = 1;
	if (e->v)
		CHECK_EQ(sd_vdi_close(e->v), 0);
	if (e->c)
		CHECK_EQ(sd_disconnect(e->c), 0);
	fake_fini(&e->f);
	CHECK_EQ(sdl_alloc_live(), 0);
}

void drive(struct env *e, struct rec *r)
{
	int i;

	for (i = 0; i < 50 && !r->calls; i++) {
		fake_pump(&e->f, e->c, 50);
		fake_serve_all(&e->f);
	}
	fake_pump(&e->f, e->c, 20);
}

int count_op(struct fake *f, uint8_t op)
{
	int n = 0, i;

	for (i = 0; i < fake_nr_held(f); i++)
		if (fake_held(f, i)->hdr.opcode == op)
			n++;
	return n;
}

void fill(char *buf, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (char)((i * 31 + seed) & 0xff);
}

void pump_on_events(struct env *e, const struct rec *r, int ms)
{
	uint64_t end = sdl_now_ms() + (uint64_t)ms;

	while (!r->calls && sdl_now_ms() < end) {
		struct pollfd pfd = { .fd = sd_cluster_fd(e->c), .events = POLLIN };

		fake_io(&e->f);
		if (poll(&pfd, 1, 1) > 0)
			sd_cluster_service(e->c);
	}
}
