// SPDX-License-Identifier: GPL-2.0-or-later
/* The cluster handle: construction, the event-loop hooks and raw requests. */
#include <errno.h>
#include <string.h>

#include "sdl_priv.h"

void sd_cluster_opts_init(struct sd_cluster_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->struct_size = sizeof(*opts);
	opts->nr_connections = 4;
	opts->connect_timeout_ms = 5000;
	opts->io_timeout_ms = 30000;
	opts->retry_timeout_ms = 60000;
	opts->max_inflight = 512;
}

struct sd_cluster *sdl_connect_transport(const char *addr, const struct sd_cluster_opts *opts,
					 const struct sdl_transport *tp, void *tp_priv)
{
	struct sd_cluster *c;
	int err = 0;

	c = sdl_cluster_new(addr, opts, tp, tp_priv, &err);
	if (!c) {
		errno = -err;
		return NULL;
	}
	err = sdl_cluster_connect(c);
	if (err) {
		sdl_cancel_all(c, -ECANCELED);
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
	if (!c)
		return -EINVAL;
	if (c->nr_vdis) {
		sdl_set_err(c, "%u vdis are still open", c->nr_vdis);
		return -EBUSY;
	}
	c->in_service++;
	sdl_cancel_all(c, -ECANCELED);
	c->in_service--;
	sdl_run_completions(c);
	sdl_cluster_free(c);
	return 0;
}

const char *sd_cluster_errmsg(const struct sd_cluster *c)
{
	return c->errmsg[0] ? c->errmsg : "no error";
}

void sd_set_log_cb(struct sd_cluster *c, sd_log_cb cb, void *opaque)
{
	c->log_cb = cb;
	c->log_opaque = opaque;
}

int sd_cluster_fd(const struct sd_cluster *c)
{
	return c->epfd;
}

int sd_cluster_service(struct sd_cluster *c)
{
	return sdl_service(c);
}

int sd_run_sdreq(struct sd_cluster *c, struct sd_req *hdr, void *data)
{
	struct sdl_req req;
	int ret;

	memset(&req, 0, sizeof(req));
	req.hdr = *hdr;
	if (hdr->flags & SD_FLAG_CMD_WRITE)
		req.wbuf = data;
	if (!(hdr->flags & SD_FLAG_CMD_WRITE) || (hdr->flags & SD_FLAG_CMD_PIGGYBACK)) {
		req.rbuf = data;
		req.rlen = data ? hdr->data_length : 0;
	}
	ret = sdl_run_req(c, &req);
	if (ret < 0) {
		sdl_set_err(c, "%s: %s", sd_opcode_name(hdr->opcode) ? sd_opcode_name(hdr->opcode)
			    : "request", strerror(-ret));
		return ret;
	}
	memcpy(hdr, &req.rsp, sizeof(*hdr));
	return (int)req.rsp.result;
}
