// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The cluster handle, top layer: construction, the event-loop hooks and raw
 * requests.  One service round is driven from here: the engine moves
 * frames, then the data path kicks its vdis (inode updates, reloads), then
 * the user callbacks run.
 */
#include <errno.h>
#include <string.h>

#include "sdl_priv.h"

/* Passes of kick, dispatch and completions in one round, at most. */
#define SDL_ROUND_PASSES 4

static int sdl_cluster_round(struct sdl_engine *e)
{
	struct sd_cluster *c = sdl_container_of(e, struct sd_cluster, e);
	unsigned pass = 0;
	int ret;

	e->in_service++;
	ret = sdl_engine_poll(e);
	if (!ret) {
		/*
		 * A completion callback that starts I/O may need the vdis
		 * kicked (a write to a new object, a flush that reloads the
		 * inode first): kick again now, not at some later event that
		 * an idle handle may never get.
		 */
		do {
			sdl_vdis_kick(c);
			sdl_engine_dispatch(e);
			e->kick_again = 0;
			sdl_run_completions(c);
		} while (e->kick_again && ++pass < SDL_ROUND_PASSES);
		sdl_vdis_close_progress(c);
		if (e->kick_again)
			sdl_signal(e);
		sdl_engine_arm_timer(e);
	}
	e->in_service--;
	return ret;
}

static void sdl_cluster_forgotten(struct sdl_engine *e)
{
	sdl_vdis_forgotten(sdl_container_of(e, struct sd_cluster, e));
}

static void sdl_cluster_free(struct sd_cluster *c)
{
	sdl_engine_fini(&c->e);
	sdl_free(c);
}

struct sd_cluster *sdl_connect_transport(const char *addr, const struct sd_cluster_opts *opts,
					 const struct sdl_transport *tp, void *tp_priv)
{
	struct sd_cluster *c;
	int err;

	c = sdl_calloc(1, sizeof(*c));
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	sdl_list_init(&c->done_acbs);
	sdl_list_init(&c->vdis);
	err = sdl_engine_init(&c->e, addr, opts, tp, tp_priv);
	if (err) {
		sdl_free(c);
		errno = -err;
		return NULL;
	}
	c->e.round = sdl_cluster_round;
	c->e.forgotten = sdl_cluster_forgotten;
	err = sdl_engine_connect(&c->e);
	if (err) {
		sdl_cancel_all(&c->e, -ECANCELED);
		sdl_cluster_free(c);
		errno = -err;
		return NULL;
	}
	return c;
}

struct sd_cluster *sd_connect_opts(const char *addr, const struct sd_cluster_opts *opts)
{
	return sdl_connect_transport(addr, opts, &sdl_socket_transport, NULL);
}

struct sd_cluster *sd_connect(const char *addr)
{
	return sd_connect_opts(addr, NULL);
}

int sd_disconnect(struct sd_cluster *c)
{
	int ret;

	if (!c)
		return -EINVAL;
	/* freeing the handle under the service round that called us */
	ret = sdl_sync_allowed(&c->e, "sd_disconnect");
	if (ret)
		return ret;
	if (c->nr_vdis) {
		sdl_set_err(&c->e, "%u vdis are still open", c->nr_vdis);
		return -EBUSY;
	}
	c->e.in_service++;
	sdl_cancel_all(&c->e, -ECANCELED);
	sdl_run_completions(c);
	c->e.in_service--;
	sdl_cluster_free(c);
	return 0;
}

const char *sd_cluster_errmsg(const struct sd_cluster *c)
{
	return c->e.errmsg[0] ? c->e.errmsg : "no error";
}

void sd_set_log_cb(struct sd_cluster *c, sd_log_cb cb, void *opaque)
{
	c->e.log_cb = cb;
	c->e.log_opaque = opaque;
}

int sd_cluster_fd(const struct sd_cluster *c)
{
	return c->e.epfd;
}

int sd_cluster_service(struct sd_cluster *c)
{
	return sdl_cluster_round(&c->e);
}

int sd_run_sdreq(struct sd_cluster *c, struct sd_req *hdr, void *data)
{
	struct sdl_req req;
	int ret;

	ret = sdl_sync_allowed(&c->e, "sd_run_sdreq");
	if (ret)
		return ret;
	memset(&req, 0, sizeof(req));
	req.hdr = *hdr;
	if (hdr->flags & SD_FLAG_CMD_WRITE)
		req.wbuf = data;
	if (!(hdr->flags & SD_FLAG_CMD_WRITE) || (hdr->flags & SD_FLAG_CMD_PIGGYBACK)) {
		req.rbuf = data;
		req.rlen = data ? hdr->data_length : 0;
	}
	ret = sdl_run_req(&c->e, &req, 0);
	if (ret < 0) {
		sdl_set_err(&c->e, "%s: %s",
			    sd_opcode_name(hdr->opcode) ? sd_opcode_name(hdr->opcode) : "request",
			    strerror(-ret));
		return ret;
	}
	memcpy(hdr, &req.rsp, sizeof(*hdr));
	return (int)req.rsp.result;
}

/* One sd_aio_run_sdreq: the engine's request and the caller's callback. */
struct sdl_aio_sdreq {
	struct sdl_req req; /* first: the engine hands it back */
	struct sd_cluster *c;
	struct sd_req *hdr;
	sd_req_cb cb;
	void *opaque;
};

static void sdl_aio_sdreq_done(struct sdl_req *req, int ret)
{
	struct sdl_aio_sdreq *a = (struct sdl_aio_sdreq *)req;

	if (ret == 0) {
		memcpy(a->hdr, &req->rsp, sizeof(*a->hdr));
		ret = (int)req->rsp.result;
	}
	a->cb(a->c, ret, a->opaque);
	sdl_free(a);
}

int sd_aio_run_sdreq(struct sd_cluster *c, struct sd_req *hdr, void *data, sd_req_cb cb,
		     void *opaque)
{
	struct sdl_aio_sdreq *a = sdl_malloc(sizeof(*a));

	if (!a) {
		sdl_set_err(&c->e, "sd_aio_run_sdreq: out of memory");
		return -ENOMEM;
	}
	memset(a, 0, sizeof(*a));
	a->c = c;
	a->hdr = hdr;
	a->cb = cb;
	a->opaque = opaque;
	a->req.hdr = *hdr;
	if (hdr->flags & SD_FLAG_CMD_WRITE)
		a->req.wbuf = data;
	if (!(hdr->flags & SD_FLAG_CMD_WRITE) || (hdr->flags & SD_FLAG_CMD_PIGGYBACK)) {
		a->req.rbuf = data;
		a->req.rlen = data ? hdr->data_length : 0;
	}
	a->req.done = sdl_aio_sdreq_done;
	sdl_req_submit(&c->e, &a->req);
	return 0;
}
