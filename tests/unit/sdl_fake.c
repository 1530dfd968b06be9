// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sdl_fake.h"

static int fake_tp_connect(void *priv, const struct sockaddr *sa, socklen_t salen, int *in_progress)
{
	struct fake *f = priv;
	unsigned port = 0;
	int sv[2], i;

	*in_progress = 0;
	if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in))
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (f->refuse || (f->refuse_port && port == f->refuse_port))
		return -ECONNREFUSED;
	for (i = 0; i < FAKE_MAX_CONNS; i++)
		if (f->conns[i].fd < 0)
			break;
	if (i == FAKE_MAX_CONNS)
		return -EMFILE;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	f->conns[i].fd = sv[1];
	f->conns[i].inlen = 0;
	f->conns[i].outlen = f->conns[i].outoff = 0;
	f->conns[i].port = port;
	if (i >= f->nr_conns)
		f->nr_conns = i + 1;
	f->nr_connects++;
	return sv[0];
}

/* In auto mode the fake answers from inside the library's own I/O calls. */
static void fake_auto(struct fake *f)
{
	fake_io(f);
	if (f->auto_serve) {
		while (f->held)
			fake_serve(f, f->held);
		fake_io(f);
	}
}

static ssize_t fake_tp_send(void *priv, int fd, const struct iovec *iov, int iovcnt)
{
	struct fake *f = priv;
	ssize_t n;

	if (f->fail_send) {
		f->fail_send--;
		return -EPIPE;
	}
	n = sdl_socket_transport.send(priv, fd, iov, iovcnt);
	fake_auto(f);
	return n;
}

static ssize_t fake_tp_recv(void *priv, int fd, void *buf, size_t len)
{
	fake_auto(priv);
	return sdl_socket_transport.recv(priv, fd, buf, len);
}

static void fake_tp_close(void *priv, int fd)
{
	close(fd);
}

const struct sdl_transport fake_transport = {
	.connect = fake_tp_connect,
	.send = fake_tp_send,
	.recv = fake_tp_recv,
	.close = fake_tp_close,
};

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p) {
		perror("realloc");
		abort();
	}
	return p;
}

void fake_init(struct fake *f, unsigned shift)
{
	int i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < FAKE_MAX_CONNS; i++)
		f->conns[i].fd = -1;
	f->shift = shift;
}

void fake_fini(struct fake *f)
{
	int i;

	for (i = 0; i < FAKE_MAX_CONNS; i++) {
		if (f->conns[i].fd >= 0)
			close(f->conns[i].fd);
		free(f->conns[i].in);
		free(f->conns[i].out);
	}
	while (f->held)
		fake_drop(f, f->held);
	for (i = 0; i < f->nr_objs; i++)
		free(f->objs[i].data);
	memset(f, 0, sizeof(*f));
}

struct sd_cluster *fake_connect(struct fake *f, const struct sd_cluster_opts *opts)
{
	return fake_connect_addr(f, "127.0.0.1:7000", opts);
}

struct sd_cluster *fake_connect_addr(struct fake *f, const char *addr,
				     const struct sd_cluster_opts *opts)
{
	return sdl_connect_transport(addr, opts, &fake_transport, f);
}

uint32_t fake_obj_size(const struct fake *f)
{
	return UINT32_C(1) << f->shift;
}

/* ---- byte movement ---- */

static int fake_parse(struct fake *f, int i)
{
	int got = 0;

	for (;;) {
		struct sd_req hdr;
		size_t need;
		struct fake_req *r, **pp;

		if (f->conns[i].inlen < SD_REQ_SIZE)
			return got;
		memcpy(&hdr, f->conns[i].in, SD_REQ_SIZE);
		need = SD_REQ_SIZE + ((hdr.flags & SD_FLAG_CMD_WRITE) ? hdr.data_length : 0);
		if (f->conns[i].inlen < need)
			return got;
		r = calloc(1, sizeof(*r));
		if (!r)
			abort();
		r->hdr = hdr;
		r->conn = i;
		if (need > SD_REQ_SIZE) {
			r->data = malloc(need - SD_REQ_SIZE);
			if (!r->data)
				abort();
			memcpy(r->data, f->conns[i].in + SD_REQ_SIZE, need - SD_REQ_SIZE);
		}
		memmove(f->conns[i].in, f->conns[i].in + need, f->conns[i].inlen - need);
		f->conns[i].inlen -= need;
		if (hdr.opcode == SD_OP_EXT_HELLO || (hdr.opcode == SD_OP_GET_CLUSTER_DEFAULT &&
						      hdr.obj.cow_oid == SD_EXT_HELLO_MAGIC)) {
			/* answered at once, as sheep does while parsing; never held */
			f->nr_hellos++;
			f->last_client = hdr.obj.oid;
			fake_reply(f, r, SD_RES_SUCCESS, NULL, 0); /* frees r */
			got++;
			continue;
		}
		f->nr_seen++;
		for (pp = &f->held; *pp; pp = &(*pp)->next)
			;
		*pp = r;
		got++;
	}
}

static void fake_close_conn(struct fake *f, int i)
{
	struct fake_req **pp = &f->held;

	if (f->conns[i].fd >= 0)
		close(f->conns[i].fd);
	f->conns[i].fd = -1;
	f->conns[i].inlen = 0;
	f->conns[i].outlen = f->conns[i].outoff = 0;
	/* requests held on a dead connection can never be answered */
	while (*pp) {
		struct fake_req *r = *pp;

		if (r->conn == i) {
			*pp = r->next;
			free(r->data);
			free(r);
		} else {
			pp = &r->next;
		}
	}
}

/* Returns non-zero if bytes moved. */
int fake_io(struct fake *f)
{
	int i, moved = 0;

	for (i = 0; i < f->nr_conns; i++) {
		if (f->conns[i].fd < 0)
			continue;
		for (;;) {
			ssize_t n;

			if (f->conns[i].incap - f->conns[i].inlen < 65536) {
				f->conns[i].incap = f->conns[i].incap * 2 + 65536;
				f->conns[i].in = xrealloc(f->conns[i].in, f->conns[i].incap);
			}
			n = read(f->conns[i].fd, f->conns[i].in + f->conns[i].inlen,
				 f->conns[i].incap - f->conns[i].inlen);
			if (n > 0) {
				f->conns[i].inlen += (size_t)n;
				moved = 1;
				continue;
			}
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				fake_close_conn(f, i);
				moved = 1;
			}
			break;
		}
		if (f->conns[i].fd < 0)
			continue;
		/* the path loses everything: the connection stays open */
		if (f->blackhole)
			f->conns[i].inlen = 0;
		if (fake_parse(f, i))
			moved = 1;
		while (f->conns[i].outoff < f->conns[i].outlen) {
			ssize_t n = send(f->conns[i].fd, f->conns[i].out + f->conns[i].outoff,
					 f->conns[i].outlen - f->conns[i].outoff,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n <= 0)
				break;
			f->conns[i].outoff += (size_t)n;
			moved = 1;
		}
		if (f->conns[i].outoff == f->conns[i].outlen)
			f->conns[i].outoff = f->conns[i].outlen = 0;
	}
	return moved;
}

void fake_pump(struct fake *f, struct sd_cluster *c, int ms)
{
	uint64_t end = sdl_now_ms() + (uint64_t)ms;
	int quiet = 0;

	while (sdl_now_ms() < end) {
		struct pollfd pfd = { .fd = sd_cluster_fd(c), .events = POLLIN };
		int moved;

		sd_cluster_service(c);
		moved = fake_io(f);
		if (poll(&pfd, 1, 0) > 0)
			moved = 1;
		if (moved) {
			quiet = 0;
			continue;
		}
		if (++quiet > 3)
			break;
		poll(NULL, 0, 1);
	}
	sd_cluster_service(c);
}

int fake_nr_held(const struct fake *f)
{
	int n = 0;
	const struct fake_req *r;

	for (r = f->held; r; r = r->next)
		n++;
	return n;
}

struct fake_req *fake_held(struct fake *f, int n)
{
	struct fake_req *r;

	for (r = f->held; r && n; r = r->next)
		n--;
	return r;
}

struct fake_req *fake_find(struct fake *f, uint8_t opcode, uint64_t oid)
{
	struct fake_req *r;

	for (r = f->held; r; r = r->next)
		if (r->hdr.opcode == opcode && (oid == ~UINT64_C(0) || r->hdr.obj.oid == oid))
			return r;
	return NULL;
}

static void fake_unlink(struct fake *f, struct fake_req *r)
{
	struct fake_req **pp;

	for (pp = &f->held; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			return;
		}
	}
}

void fake_drop(struct fake *f, struct fake_req *r)
{
	fake_unlink(f, r);
	free(r->data);
	free(r);
}

void fake_reply(struct fake *f, struct fake_req *r, uint32_t result, const void *data, uint32_t len)
{
	struct sd_rsp rsp;
	int i = r->conn;

	memset(&rsp, 0, sizeof(rsp));
	rsp.opcode = r->hdr.opcode;
	rsp.id = r->hdr.id;
	rsp.epoch = 1;
	rsp.result = result;
	rsp.data_length = data ? len : 0;
	if (r->hdr.opcode == SD_OP_LOCK_VDI || r->hdr.opcode == SD_OP_GET_VDI_INFO)
		rsp.vdi.vdi_id = len; /* see fake_serve: len carries the vid */
	if (rsp.opcode == SD_OP_LOCK_VDI || rsp.opcode == SD_OP_GET_VDI_INFO)
		rsp.data_length = 0;
	if (rsp.opcode == SD_OP_EXT_HELLO ||
	    (rsp.opcode == SD_OP_GET_CLUSTER_DEFAULT && r->hdr.obj.cow_oid == SD_EXT_HELLO_MAGIC))
		rsp.hello.flags = f->hello_flags;
	if (rsp.opcode == SD_OP_EXT_CMP_WRITE_OBJ && !data)
		rsp.obj.offset = len; /* the first differing byte of a MISCOMPARE */
	if (rsp.opcode == SD_OP_GET_CLUSTER_DEFAULT && r->hdr.obj.cow_oid == SD_EXT_HELLO_MAGIC &&
	    !f->no_ext)
		rsp.obj.offset = SD_EXT_HELLO_ACK; /* as our sheep: the extensions are known */
	fake_send_raw(f, i, &rsp, SD_RSP_SIZE);
	if (rsp.data_length)
		fake_send_raw(f, i, data, rsp.data_length);
	fake_drop(f, r);
}

void fake_send_raw(struct fake *f, int i, const void *buf, size_t len)
{
	size_t need;

	if (i < 0 || i >= f->nr_conns || f->conns[i].fd < 0)
		return;
	need = f->conns[i].outlen + len;
	if (need > f->conns[i].outcap) {
		f->conns[i].outcap = need * 2;
		f->conns[i].out = xrealloc(f->conns[i].out, f->conns[i].outcap);
	}
	memcpy(f->conns[i].out + f->conns[i].outlen, buf, len);
	f->conns[i].outlen += len;
}

void fake_kill_conn(struct fake *f, int i)
{
	if (i < f->nr_conns && f->conns[i].fd >= 0)
		fake_close_conn(f, i);
}

void fake_kill_all(struct fake *f)
{
	int i;

	for (i = 0; i < f->nr_conns; i++)
		fake_kill_conn(f, i);
}

/* ---- object model ---- */

struct fake_obj *fake_obj(struct fake *f, uint64_t oid)
{
	int i;

	for (i = 0; i < f->nr_objs; i++)
		if (f->objs[i].oid == oid)
			return &f->objs[i];
	return NULL;
}

struct fake_obj *fake_obj_create(struct fake *f, uint64_t oid, uint32_t len)
{
	struct fake_obj *o = fake_obj(f, oid);

	if (!o) {
		if (f->nr_objs == FAKE_MAX_OBJS)
			abort();
		o = &f->objs[f->nr_objs++];
		o->oid = oid;
	} else {
		free(o->data);
	}
	o->len = len;
	o->data = calloc(1, len);
	if (!o->data)
		abort();
	return o;
}

static struct sd_inode_header *fake_inode(struct fake *f, uint32_t vid)
{
	struct fake_obj *o = fake_obj(f, sd_vid_to_vdi_oid(vid));

	return o ? (struct sd_inode_header *)o->data : NULL;
}

uint32_t *fake_index(struct fake *f, uint32_t vid)
{
	struct fake_obj *o = fake_obj(f, sd_vid_to_vdi_oid(vid));

	return o ? (uint32_t *)(o->data + SD_INODE_HEADER_SIZE) : NULL;
}

static uint32_t fake_next_vid(struct fake *f, const char *name)
{
	uint32_t vid = sd_hash_vdi(name);

	while (fake_obj(f, sd_vid_to_vdi_oid(vid)))
		vid++;
	return vid;
}

uint32_t fake_vdi_create(struct fake *f, const char *name, uint64_t size, uint32_t parent)
{
	uint32_t vid = fake_next_vid(f, name);
	struct fake_obj *o = fake_obj_create(f, sd_vid_to_vdi_oid(vid), SD_INODE_INDEX_END);
	struct sd_inode_header *h = (struct sd_inode_header *)o->data;

	if (parent)
		memcpy(o->data, fake_obj(f, sd_vid_to_vdi_oid(parent))->data, SD_INODE_INDEX_END);
	memset(h->name, 0, sizeof(h->name));
	memcpy(h->name, name, strlen(name));
	memset(h->tag, 0, sizeof(h->tag));
	h->vdi_size = size;
	h->snap_ctime = 0;
	h->block_size_shift = (uint8_t)f->shift;
	h->nr_copies = 1;
	h->snap_id = 1;
	h->vdi_id = vid;
	h->parent_vdi_id = parent;
	memcpy(f->vdis[f->nr_vdis].name, name, strlen(name) + 1);
	f->vdis[f->nr_vdis++].vid = vid;
	return vid;
}

uint32_t fake_vdi_snapshot(struct fake *f, const char *name)
{
	int i;

	for (i = 0; i < f->nr_vdis; i++) {
		if (!strcmp(f->vdis[i].name, name)) {
			uint32_t old = f->vdis[i].vid, vid = fake_next_vid(f, name);
			struct fake_obj *o;
			struct sd_inode_header *h;

			fake_inode(f, old)->snap_ctime = 1;
			o = fake_obj_create(f, sd_vid_to_vdi_oid(vid), SD_INODE_INDEX_END);
			memcpy(o->data, fake_obj(f, sd_vid_to_vdi_oid(old))->data,
			       SD_INODE_INDEX_END);
			h = (struct sd_inode_header *)o->data;
			h->snap_ctime = 0;
			h->vdi_id = vid;
			h->parent_vdi_id = old;
			h->snap_id++;
			f->vdis[i].vid = vid;
			return vid;
		}
	}
	return 0;
}

static int fake_readonly(struct fake *f, uint64_t oid)
{
	struct sd_inode_header *h;

	if (!sd_is_data_obj(oid))
		return 0;
	h = fake_inode(f, sd_oid_to_vid(oid));
	return h && sd_inode_is_snapshot(h);
}

void fake_serve(struct fake *f, struct fake_req *r)
{
	struct sd_req *h = &r->hdr;
	struct fake_obj *o, *src;
	uint32_t len = h->data_length, off = h->obj.offset;
	int i;

	switch (h->opcode) {
	case SD_OP_READ_OBJ:
		if (sd_is_vdi_obj(h->obj.oid) && f->noobj_inode_reads > 0) {
			f->noobj_inode_reads--;
			fake_reply(f, r, SD_RES_NO_OBJ, NULL, 0);
			return;
		}
		if (sd_is_vdi_obj(h->obj.oid) && f->stale_partial_reads > 0 &&
		    (off || len != SD_INODE_INDEX_END)) {
			f->stale_partial_reads--;
			fake_reply(f, r, SD_RES_INODE_INVALIDATED, NULL, 0);
			return;
		}
		o = fake_obj(f, h->obj.oid);
		if (!o) {
			fake_reply(f, r, SD_RES_NO_OBJ, NULL, 0);
			return;
		}
		if ((uint64_t)off + len > o->len) {
			fake_reply(f, r, SD_RES_INVALID_PARMS, NULL, 0);
			return;
		}
		if (sd_is_vdi_obj(h->obj.oid)) {
			f->nr_inode_reads++;
			f->inode_read_bytes += len;
		}
		fake_reply(f, r, SD_RES_SUCCESS, o->data + off, len);
		return;
	case SD_OP_WRITE_OBJ:
	case SD_OP_CREATE_AND_WRITE_OBJ:
		if (fake_readonly(f, h->obj.oid)) {
			fake_reply(f, r, SD_RES_READONLY, NULL, 0);
			return;
		}
		o = fake_obj(f, h->obj.oid);
		if (h->opcode == SD_OP_WRITE_OBJ && !o) {
			fake_reply(f, r, SD_RES_NO_OBJ, NULL, 0);
			return;
		}
		if (h->opcode == SD_OP_CREATE_AND_WRITE_OBJ) {
			src = (h->flags & SD_FLAG_CMD_COW) ? fake_obj(f, h->obj.cow_oid) : NULL;
			if ((h->flags & SD_FLAG_CMD_COW) && !src) {
				fake_reply(f, r, SD_RES_NO_OBJ, NULL, 0);
				return;
			}
			o = fake_obj_create(f, h->obj.oid, fake_obj_size(f));
			if (src)
				memcpy(o->data, src->data, o->len);
		}
		if ((uint64_t)off + len > o->len) {
			fake_reply(f, r, SD_RES_INVALID_PARMS, NULL, 0);
			return;
		}
		if (len)
			memcpy(o->data + off, r->data, len);
		fake_reply(f, r, SD_RES_SUCCESS, NULL, 0);
		return;
	case SD_OP_LOCK_VDI:
	case SD_OP_GET_VDI_INFO:
		if (r->hdr.opcode == SD_OP_LOCK_VDI && r->hdr.vdi.type == SD_LOCK_TYPE_SHARED)
			f->nr_shared_locks++;
		if (r->hdr.opcode == SD_OP_LOCK_VDI &&
		    r->hdr.vdi.type == SD_LOCK_TYPE_EXT_EXCLUSIVE) {
			f->nr_excl_locks++;
			if (f->excl_result) {
				fake_reply(f, r, f->excl_result, NULL, 0);
				return;
			}
		}
		for (i = 0; i < f->nr_vdis; i++) {
			if (!strncmp(f->vdis[i].name, r->data, SD_MAX_VDI_LEN)) {
				fake_reply(f, r, SD_RES_SUCCESS, NULL, f->vdis[i].vid);
				return;
			}
		}
		fake_reply(f, r, SD_RES_NO_VDI, NULL, 0);
		return;
	case SD_OP_FLUSH_VDI: fake_reply(f, r, SD_RES_INVALID_PARMS, NULL, 0); return;
	case SD_OP_RELEASE_VDI:
		f->nr_releases++;
		if (r->hdr.vdi.type == SD_LOCK_TYPE_EXT_EXCLUSIVE)
			f->nr_excl_releases++;
		fake_reply(f, r, SD_RES_SUCCESS, NULL, 0);
		return;
	default: fake_reply(f, r, SD_RES_SUCCESS, NULL, 0); return;
	}
}

int fake_serve_all(struct fake *f)
{
	int n = 0;

	while (f->held) {
		struct fake_req *last = f->held;

		while (last->next)
			last = last->next;
		fake_serve(f, last);
		n++;
	}
	return n;
}
