// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The request engine: a pool of non-blocking connections to one sheep,
 * many requests pipelined on each (id = sequence number, replies matched by
 * id in any order), a pending queue capped by max_inflight, per-request
 * timeouts, background reconnect with backoff and resend of whatever a
 * dead connection carried.  Everything is driven from sdl_service(), which
 * the application calls when the epoll fd is readable; the epoll set holds
 * the sockets, a timerfd (deadlines) and an eventfd (deferred work).
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "sdl_priv.h"

#define SDL_TAG_TIMER	0
#define SDL_TAG_EVENT	1
#define SDL_TAG_CONN	2

#define SDL_BACKOFF_MIN_MS	50
#define SDL_BACKOFF_MAX_MS	2000
#define SDL_MAX_IOV		64

uint64_t sdl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void sdl_log(struct sd_cluster *c, int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!c->log_cb)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	c->log_cb(level, buf, c->log_opaque);
}

void sdl_set_err(struct sd_cluster *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
	if (c->log_cb)
		c->log_cb(LOG_ERR, c->errmsg, c->log_opaque);
}

void sdl_init_hdr(struct sd_req *hdr, uint8_t opcode, uint16_t flags, uint32_t len)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->proto_ver = opcode >= 0x80 ? SD_SHEEP_PROTO_VER : SD_PROTO_VER;
	hdr->opcode = opcode;
	hdr->flags = flags;
	hdr->data_length = len;
}

static int sdl_ep_ctl(struct sd_cluster *c, int op, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };

	return epoll_ctl(c->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

void sdl_signal(struct sd_cluster *c)
{
	uint64_t one = 1;

	if (c->efd_signaled)
		return;
	if (write(c->efd, &one, sizeof(one)) == sizeof(one))
		c->efd_signaled = 1;
}

static int sdl_resolve(struct sd_cluster *c)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char port[8];
	int ret;

	if (c->addr.is_unix) {
		struct sockaddr_un *un = (struct sockaddr_un *)&c->sa[0];

		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, c->addr.path, strlen(c->addr.path) + 1);
		c->salen[0] = sizeof(*un);
		c->nr_sa = 1;
		return 0;
	}
	snprintf(port, sizeof(port), "%u", c->addr.port);
	ret = getaddrinfo(c->addr.host, port, &hints, &res);
	if (ret)
		return ret == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
	for (ai = res; ai && c->nr_sa < 4; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(c->sa[0]))
			continue;
		memcpy(&c->sa[c->nr_sa], ai->ai_addr, ai->ai_addrlen);
		c->salen[c->nr_sa++] = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	return c->nr_sa ? 0 : -EHOSTUNREACH;
}

static void sdl_opts_apply(struct sd_cluster_opts *dst, const struct sd_cluster_opts *src)
{
	sd_cluster_opts_init(dst);
	if (!src)
		return;
	if (src->struct_size >= offsetof(struct sd_cluster_opts, max_inflight) + sizeof(unsigned)) {
		if (src->nr_connections)
			dst->nr_connections = src->nr_connections;
		if (src->connect_timeout_ms)
			dst->connect_timeout_ms = src->connect_timeout_ms;
		if (src->io_timeout_ms)
			dst->io_timeout_ms = src->io_timeout_ms;
		if (src->retry_timeout_ms)
			dst->retry_timeout_ms = src->retry_timeout_ms;
		if (src->max_inflight)
			dst->max_inflight = src->max_inflight;
	}
	if (dst->nr_connections > 64)
		dst->nr_connections = 64;
}

struct sd_cluster *sdl_cluster_new(const char *addr, const struct sd_cluster_opts *opts,
				   const struct sdl_transport *tp, void *tp_priv, int *err)
{
	struct sd_cluster *c;
	const char *why = NULL;
	unsigned i;
	int ret;

	c = sdl_calloc(1, sizeof(*c));
	if (!c) {
		*err = -ENOMEM;
		return NULL;
	}
	c->epfd = c->tfd = c->efd = -1;
	sdl_list_init(&c->pending);
	sdl_list_init(&c->delayed);
	sdl_list_init(&c->done_acbs);
	sdl_list_init(&c->vdis);
	sdl_opts_apply(&c->opts, opts);
	c->tp = tp;
	c->tp_priv = tp_priv;
	c->next_id = 1;
	ret = sdc_parse_addr(addr, &c->addr, &why);
	if (ret)
		goto fail;
	sdc_addr_str(&c->addr, c->addr_str, sizeof(c->addr_str));
	ret = sdl_resolve(c);
	if (ret)
		goto fail;
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	c->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->epfd < 0 || c->tfd < 0 || c->efd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = sdl_ep_ctl(c, EPOLL_CTL_ADD, c->tfd, EPOLLIN, SDL_TAG_TIMER);
	if (!ret)
		ret = sdl_ep_ctl(c, EPOLL_CTL_ADD, c->efd, EPOLLIN, SDL_TAG_EVENT);
	if (ret)
		goto fail;
	c->conns = sdl_calloc(c->opts.nr_connections, sizeof(*c->conns));
	if (!c->conns) {
		ret = -ENOMEM;
		goto fail;
	}
	c->nr_conns = c->opts.nr_connections;
	for (i = 0; i < c->nr_conns; i++) {
		struct sdl_conn *conn = &c->conns[i];

		conn->c = c;
		conn->no = i;
		conn->fd = -1;
		conn->state = SDL_CONN_DOWN;
		conn->sa_idx = (int)(i % (unsigned)c->nr_sa);
		sdl_list_init(&conn->sendq);
		sdl_list_init(&conn->inflight);
		conn->ibuf = sdl_malloc(SDL_IBUF_SIZE);
		if (!conn->ibuf) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	return c;
fail:
	sdl_cluster_free(c);
	*err = ret;
	return NULL;
}

void sdl_cluster_free(struct sd_cluster *c)
{
	unsigned i;

	if (!c)
		return;
	for (i = 0; c->conns && i < c->nr_conns; i++) {
		if (c->conns[i].fd >= 0)
			c->tp->close(c->tp_priv, c->conns[i].fd);
		sdl_free(c->conns[i].ibuf);
	}
	sdl_free(c->conns);
	if (c->epfd >= 0)
		close(c->epfd);
	if (c->tfd >= 0)
		close(c->tfd);
	if (c->efd >= 0)
		close(c->efd);
	sdl_free(c);
}

/* ---- connections ---- */

static void sdl_conn_backoff(struct sdl_conn *conn, uint64_t now)
{
	conn->next_attempt_ms = now + conn->backoff_ms;
	conn->backoff_ms = conn->backoff_ms ? conn->backoff_ms * 2 : SDL_BACKOFF_MIN_MS;
	if (conn->backoff_ms > SDL_BACKOFF_MAX_MS)
		conn->backoff_ms = SDL_BACKOFF_MAX_MS;
}

static void sdl_conn_close_fd(struct sdl_conn *conn)
{
	struct sd_cluster *c = conn->c;

	if (conn->fd < 0)
		return;
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, conn->fd, NULL);
	c->tp->close(c->tp_priv, conn->fd);
	conn->fd = -1;
}

static void sdl_conn_up(struct sdl_conn *conn)
{
	conn->state = SDL_CONN_UP;
	conn->rhdr_got = 0;
	conn->in_payload = 0;
	conn->rreq = NULL;
	conn->ipos = conn->ilen = 0;
	conn->send_off = 0;
	sdl_log(conn->c, LOG_DEBUG, "connection %u to %s up", conn->no, conn->c->addr_str);
}

static void sdl_conn_connect_failed(struct sdl_conn *conn, int err, uint64_t now)
{
	struct sd_cluster *c = conn->c;

	sdl_conn_close_fd(conn);
	conn->state = SDL_CONN_DOWN;
	conn->last_err = err;
	conn->nr_failures++;
	conn->sa_idx = (conn->sa_idx + 1) % c->nr_sa;
	sdl_conn_backoff(conn, now);
	sdl_log(c, LOG_DEBUG, "connection %u to %s failed: %s", conn->no, c->addr_str,
		strerror(-err));
}

static void sdl_conn_start(struct sdl_conn *conn, uint64_t now)
{
	struct sd_cluster *c = conn->c;
	int inprog = 0, fd, ret;

	fd = c->tp->connect(c->tp_priv, (const struct sockaddr *)&c->sa[conn->sa_idx],
			    c->salen[conn->sa_idx], &inprog);
	if (fd < 0) {
		sdl_conn_connect_failed(conn, fd, now);
		return;
	}
	conn->fd = fd;
	conn->want_out = inprog;
	ret = sdl_ep_ctl(c, EPOLL_CTL_ADD, fd, inprog ? EPOLLOUT : EPOLLIN,
			 SDL_TAG_CONN + conn->no);
	if (ret) {
		sdl_conn_connect_failed(conn, ret, now);
		return;
	}
	if (inprog) {
		conn->state = SDL_CONN_CONNECTING;
		conn->connect_deadline_ms = now + c->opts.connect_timeout_ms;
	} else {
		sdl_conn_up(conn);
	}
}

/* A connection died: requeue what it carried (front of pending, in order). */
static void sdl_conn_fail(struct sdl_conn *conn, int err)
{
	struct sd_cluster *c = conn->c;
	uint64_t now = sdl_now_ms();
	struct sdl_list tmp, *n;

	sdl_log(c, LOG_WARNING, "connection %u to %s lost (%s), %u requests to resend",
		conn->no, c->addr_str, strerror(-err), conn->nr_reqs);
	sdl_conn_close_fd(conn);
	sdl_list_init(&tmp);
	sdl_list_splice_tail(&conn->inflight, &tmp);
	sdl_list_splice_tail(&conn->sendq, &tmp);
	for (n = tmp.next; n != &tmp; n = n->next) {
		struct sdl_req *req = sdl_container_of(n, struct sdl_req, link);

		req->conn = NULL;
		req->last_err = err;
		if (!req->retry_until_ms)
			req->retry_until_ms = now + c->opts.retry_timeout_ms;
		c->nr_inflight--;
	}
	sdl_list_splice_front(&tmp, &c->pending);
	conn->nr_reqs = 0;
	conn->broken = 0;
	conn->want_out = 0;
	conn->state = SDL_CONN_DOWN;
	conn->last_err = err;
	conn->rreq = NULL;
	sdl_conn_backoff(conn, now);
}

static uint32_t sdl_req_wlen(const struct sdl_req *req)
{
	return (req->hdr.flags & SD_FLAG_CMD_WRITE) ? req->hdr.data_length : 0;
}

static void sdl_conn_want_out(struct sdl_conn *conn, int on)
{
	if (conn->want_out == on || conn->fd < 0)
		return;
	if (!sdl_ep_ctl(conn->c, EPOLL_CTL_MOD, conn->fd, on ? EPOLLIN | EPOLLOUT : EPOLLIN,
			SDL_TAG_CONN + conn->no))
		conn->want_out = on;
}

/* Send as much of the send queue as the socket takes.  0 or -errno. */
static int sdl_conn_flush(struct sdl_conn *conn)
{
	struct sd_cluster *c = conn->c;
	struct iovec iov[SDL_MAX_IOV];

	while (!sdl_list_empty(&conn->sendq)) {
		struct sdl_list *n;
		size_t skip = conn->send_off;
		int cnt = 0;
		ssize_t sent;

		for (n = conn->sendq.next; n != &conn->sendq && cnt < SDL_MAX_IOV - 1;
		     n = n->next) {
			struct sdl_req *req = sdl_container_of(n, struct sdl_req, link);
			uint32_t wlen = sdl_req_wlen(req);

			if (skip < SD_REQ_SIZE) {
				iov[cnt].iov_base = (char *)&req->hdr + skip;
				iov[cnt++].iov_len = SD_REQ_SIZE - skip;
				skip = 0;
			} else {
				skip -= SD_REQ_SIZE;
			}
			if (wlen) {
				iov[cnt].iov_base = (char *)req->wbuf + skip;
				iov[cnt++].iov_len = wlen - skip;
			}
			skip = 0;
		}
		sent = c->tp->send(c->tp_priv, conn->fd, iov, cnt);
		if (sent == -EAGAIN) {
			sdl_conn_want_out(conn, 1);
			return 0;
		}
		if (sent < 0)
			return (int)sent;
		while (sent > 0) {
			struct sdl_req *req = sdl_container_of(conn->sendq.next, struct sdl_req,
							       link);
			size_t left = SD_REQ_SIZE + sdl_req_wlen(req) - conn->send_off;

			if ((size_t)sent < left) {
				conn->send_off += (size_t)sent;
				break;
			}
			sent -= (ssize_t)left;
			conn->send_off = 0;
			sdl_list_del(&req->link);
			sdl_list_add_tail(&req->link, &conn->inflight);
		}
	}
	sdl_conn_want_out(conn, 0);
	return 0;
}

static int sdl_result_retryable(uint32_t result)
{
	switch (result) {
	case SD_RES_SHUTDOWN:
	case SD_RES_HALT:
	case SD_RES_WAIT_FOR_JOIN:
	case SD_RES_NETWORK_ERROR:
	case SD_RES_KILLED:
		return 1;
	default:
		return 0;
	}
}

static unsigned sdl_retry_delay(unsigned retries)
{
	unsigned d = SDL_BACKOFF_MIN_MS << (retries < 6 ? retries : 6);

	return d > SDL_BACKOFF_MAX_MS ? SDL_BACKOFF_MAX_MS : d;
}

static void sdl_finish_reply(struct sdl_conn *conn)
{
	struct sd_cluster *c = conn->c;
	struct sdl_req *req = conn->rreq;
	uint64_t now;

	conn->in_payload = 0;
	conn->rreq = NULL;
	if (!req)
		return;
	sdl_list_del(&req->link);
	conn->nr_reqs--;
	c->nr_inflight--;
	req->conn = NULL;
	memcpy(&req->rsp, &conn->rhdr, sizeof(req->rsp));
	conn->nr_failures = 0;
	conn->backoff_ms = 0;
	if (sdl_result_retryable(req->rsp.result)) {
		now = sdl_now_ms();
		if (!req->retry_until_ms)
			req->retry_until_ms = now + c->opts.retry_timeout_ms;
		if (now < req->retry_until_ms) {
			req->not_before_ms = now + sdl_retry_delay(req->retries++);
			req->last_err = -EAGAIN;
			sdl_list_add_tail(&req->link, &c->delayed);
			return;
		}
	}
	req->done(req, 0);
}

static struct sdl_req *sdl_conn_find(struct sdl_conn *conn, uint32_t id)
{
	struct sdl_list *n;

	for (n = conn->inflight.next; n != &conn->inflight; n = n->next) {
		struct sdl_req *req = sdl_container_of(n, struct sdl_req, link);

		if (req->hdr.id == id)
			return req;
	}
	return NULL;
}

static void sdl_begin_reply(struct sdl_conn *conn)
{
	struct sdl_req *req = sdl_conn_find(conn, conn->rhdr.id);

	conn->rhdr_got = 0;
	conn->in_payload = 1;
	conn->rreq = req;
	conn->rpay_left = conn->rhdr.data_length;
	conn->rpay_pos = 0;
	conn->rpay_keep = 0;
	if (!req)
		sdl_log(conn->c, LOG_WARNING, "reply with unknown id %u dropped", conn->rhdr.id);
	else if (req->rbuf)
		conn->rpay_keep = conn->rpay_left < req->rlen ? conn->rpay_left : req->rlen;
	if (!conn->rpay_left)
		sdl_finish_reply(conn);
}

/* Read and dispatch replies until the socket is drained.  0 or -errno. */
static int sdl_conn_read(struct sdl_conn *conn)
{
	struct sd_cluster *c = conn->c;
	int rounds = 0;

	while (conn->state == SDL_CONN_UP) {
		size_t avail;
		ssize_t n;

		if (conn->ipos == conn->ilen) {
			if (++rounds > 64)
				return 0;
			/* large payloads go straight into the caller's buffer */
			if (conn->in_payload && conn->rreq &&
			    conn->rpay_keep - conn->rpay_pos >= SDL_IBUF_SIZE / 2) {
				n = c->tp->recv(c->tp_priv, conn->fd,
						(char *)conn->rreq->rbuf + conn->rpay_pos,
						conn->rpay_keep - conn->rpay_pos);
				if (n == -EAGAIN)
					return 0;
				if (n <= 0)
					return n ? (int)n : -ECONNRESET;
				conn->rpay_pos += (uint32_t)n;
				conn->rpay_left -= (uint32_t)n;
				if (!conn->rpay_left)
					sdl_finish_reply(conn);
				continue;
			}
			n = c->tp->recv(c->tp_priv, conn->fd, conn->ibuf, SDL_IBUF_SIZE);
			if (n == -EAGAIN)
				return 0;
			if (n <= 0)
				return n ? (int)n : -ECONNRESET;
			conn->ipos = 0;
			conn->ilen = (size_t)n;
		}
		avail = conn->ilen - conn->ipos;
		if (!conn->in_payload) {
			size_t take = SD_RSP_SIZE - conn->rhdr_got;

			if (take > avail)
				take = avail;
			memcpy((char *)&conn->rhdr + conn->rhdr_got, conn->ibuf + conn->ipos, take);
			conn->ipos += take;
			conn->rhdr_got += take;
			if (conn->rhdr_got == SD_RSP_SIZE)
				sdl_begin_reply(conn);
		} else {
			size_t take = conn->rpay_left < avail ? conn->rpay_left : avail;
			size_t keep = conn->rpay_keep > conn->rpay_pos ?
				      conn->rpay_keep - conn->rpay_pos : 0;

			if (keep > take)
				keep = take;
			if (keep)
				memcpy((char *)conn->rreq->rbuf + conn->rpay_pos,
				       conn->ibuf + conn->ipos, keep);
			conn->rpay_pos += (uint32_t)take;
			conn->rpay_left -= (uint32_t)take;
			conn->ipos += take;
			if (!conn->rpay_left)
				sdl_finish_reply(conn);
		}
	}
	return 0;
}

/* ---- queueing ---- */

static struct sdl_conn *sdl_pick_conn(struct sd_cluster *c)
{
	struct sdl_conn *best = NULL;
	unsigned i;

	for (i = 0; i < c->nr_conns; i++) {
		struct sdl_conn *conn = &c->conns[i];

		if (conn->state != SDL_CONN_UP || conn->broken)
			continue;
		if (!best || conn->nr_reqs < best->nr_reqs)
			best = conn;
	}
	return best;
}

static void sdl_dispatch(struct sd_cluster *c)
{
	uint64_t now = 0;
	unsigned i;

	while (!sdl_list_empty(&c->pending) && c->nr_inflight < c->opts.max_inflight) {
		struct sdl_conn *conn = sdl_pick_conn(c);
		struct sdl_req *req;

		if (!conn)
			break;
		if (!now)
			now = sdl_now_ms();
		req = sdl_container_of(sdl_list_pop(&c->pending), struct sdl_req, link);
		req->hdr.id = c->next_id++;
		req->conn = conn;
		req->deadline_ms = now + c->opts.io_timeout_ms;
		sdl_list_add_tail(&req->link, &conn->sendq);
		conn->nr_reqs++;
		c->nr_inflight++;
	}
	for (i = 0; i < c->nr_conns; i++) {
		struct sdl_conn *conn = &c->conns[i];
		int ret;

		if (conn->state != SDL_CONN_UP || conn->broken || sdl_list_empty(&conn->sendq))
			continue;
		ret = sdl_conn_flush(conn);
		if (ret) {
			conn->broken = ret;
			sdl_signal(c);
		}
	}
}

void sdl_req_submit(struct sd_cluster *c, struct sdl_req *req)
{
	sdl_list_init(&req->link);
	req->conn = NULL;
	req->retry_until_ms = 0;
	req->not_before_ms = 0;
	req->last_err = 0;
	req->retries = 0;
	memset(&req->rsp, 0, sizeof(req->rsp));
	sdl_list_add_tail(&req->link, &c->pending);
	sdl_dispatch(c);
	if (!sdl_list_empty(&c->pending))
		sdl_signal(c);
}

void sdl_req_submit_delayed(struct sd_cluster *c, struct sdl_req *req, unsigned delay_ms)
{
	sdl_list_init(&req->link);
	req->conn = NULL;
	req->retry_until_ms = 0;
	req->last_err = 0;
	req->retries = 0;
	memset(&req->rsp, 0, sizeof(req->rsp));
	req->not_before_ms = sdl_now_ms() + delay_ms;
	sdl_list_add_tail(&req->link, &c->delayed);
	if (!c->in_service)
		sdl_signal(c);
}

static int sdl_any_up(struct sd_cluster *c)
{
	unsigned i;

	for (i = 0; i < c->nr_conns; i++)
		if (c->conns[i].state == SDL_CONN_UP)
			return 1;
	return 0;
}

int sdl_cluster_up(struct sd_cluster *c)
{
	return sdl_any_up(c);
}

static uint64_t sdl_conn_deadline(struct sdl_conn *conn)
{
	uint64_t d = UINT64_MAX;
	struct sdl_req *req;

	if (!sdl_list_empty(&conn->inflight)) {
		req = sdl_container_of(conn->inflight.next, struct sdl_req, link);
		d = req->deadline_ms;
	}
	if (!sdl_list_empty(&conn->sendq)) {
		req = sdl_container_of(conn->sendq.next, struct sdl_req, link);
		if (req->deadline_ms < d)
			d = req->deadline_ms;
	}
	return d;
}

static void sdl_check_timers(struct sd_cluster *c)
{
	uint64_t now = sdl_now_ms();
	struct sdl_list *n, *next;
	int up;
	unsigned i;

	for (i = 0; i < c->nr_conns; i++) {
		struct sdl_conn *conn = &c->conns[i];

		if (conn->state == SDL_CONN_CONNECTING && now >= conn->connect_deadline_ms)
			sdl_conn_connect_failed(conn, -ETIMEDOUT, now);
		else if (conn->state == SDL_CONN_UP && now >= sdl_conn_deadline(conn))
			sdl_conn_fail(conn, -ETIMEDOUT);
		if (conn->state == SDL_CONN_DOWN && now >= conn->next_attempt_ms)
			sdl_conn_start(conn, now);
	}
	for (n = c->delayed.next; n != &c->delayed; n = next) {
		struct sdl_req *req = sdl_container_of(n, struct sdl_req, link);

		next = n->next;
		if (req->not_before_ms <= now) {
			sdl_list_del(&req->link);
			sdl_list_add_tail(&req->link, &c->pending);
		}
	}
	up = sdl_any_up(c);
	for (n = c->pending.next; n != &c->pending; n = next) {
		struct sdl_req *req = sdl_container_of(n, struct sdl_req, link);

		next = n->next;
		if (!up && !req->retry_until_ms) {
			req->retry_until_ms = now + c->opts.retry_timeout_ms;
			req->last_err = -ENOTCONN;
		}
		if (req->retry_until_ms && now >= req->retry_until_ms) {
			int err = req->last_err;

			if (!err || err == -EAGAIN)
				err = -ENOTCONN;
			sdl_list_del(&req->link);
			/* a retryable sheep result that outlived the window */
			if (req->last_err == -EAGAIN && req->rsp.result) {
				req->done(req, 0);
				continue;
			}
			req->done(req, err);
			/* done may have queued or removed others: restart */
			next = c->pending.next;
		}
	}
}

static void sdl_arm_timer(struct sd_cluster *c)
{
	uint64_t t = UINT64_MAX;
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };
	struct sdl_list *n;
	unsigned i;

	for (i = 0; i < c->nr_conns; i++) {
		struct sdl_conn *conn = &c->conns[i];
		uint64_t d = UINT64_MAX;

		if (conn->state == SDL_CONN_CONNECTING)
			d = conn->connect_deadline_ms;
		else if (conn->state == SDL_CONN_UP)
			d = sdl_conn_deadline(conn);
		else
			d = conn->next_attempt_ms;
		if (d < t)
			t = d;
	}
	for (n = c->delayed.next; n != &c->delayed; n = n->next) {
		struct sdl_req *req = sdl_container_of(n, struct sdl_req, link);

		if (req->not_before_ms < t)
			t = req->not_before_ms;
	}
	for (n = c->pending.next; n != &c->pending; n = n->next) {
		struct sdl_req *req = sdl_container_of(n, struct sdl_req, link);

		if (req->retry_until_ms && req->retry_until_ms < t)
			t = req->retry_until_ms;
	}
	/*
	 * Re-arming costs a syscall per service call; an early expiry only
	 * costs a spurious wakeup, so keep an armed timer that fires no later
	 * than needed.
	 */
	if (t == c->timer_at_ms || (c->timer_at_ms && c->timer_at_ms < t))
		return;
	if (t != UINT64_MAX) {
		if (!t)
			t = 1;
		its.it_value.tv_sec = (time_t)(t / 1000);
		its.it_value.tv_nsec = (long)(t % 1000) * 1000000;
	}
	if (timerfd_settime(c->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		c->timer_at_ms = t == UINT64_MAX ? 0 : t;
}

static void sdl_conn_event(struct sdl_conn *conn, uint32_t events)
{
	int ret = 0;

	if (conn->state == SDL_CONN_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			sdl_conn_connect_failed(conn, -err, sdl_now_ms());
			return;
		}
		sdl_conn_up(conn);
		conn->want_out = 1;
		sdl_conn_want_out(conn, 0);
		return;
	}
	if (conn->state != SDL_CONN_UP)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		ret = sdl_conn_read(conn);
	/* drained what was readable and the socket is still in error: give up
	 * on it rather than spin on a level-triggered EPOLLERR */
	if (!ret && (events & EPOLLERR) && conn->state == SDL_CONN_UP)
		ret = -ENOTCONN;
	if (!ret && conn->state == SDL_CONN_UP && (events & EPOLLOUT))
		ret = sdl_conn_flush(conn);
	if (ret)
		sdl_conn_fail(conn, ret == -ETIMEDOUT ? ret : -ENOTCONN);
}

int sdl_service(struct sd_cluster *c)
{
	struct epoll_event ev[32];
	int n, i;
	unsigned k;
	uint64_t v;

	c->in_service++;
	n = epoll_wait(c->epfd, ev, 32, 0);
	if (n < 0 && errno != EINTR) {
		c->in_service--;
		return -errno;
	}
	for (i = 0; i < n; i++) {
		uint64_t tag = ev[i].data.u64;

		if (tag == SDL_TAG_TIMER) {
			if (read(c->tfd, &v, sizeof(v)) < 0)
				v = 0;
			c->timer_at_ms = 0;
		} else if (tag == SDL_TAG_EVENT) {
			if (read(c->efd, &v, sizeof(v)) < 0)
				v = 0;
			c->efd_signaled = 0;
		} else if (tag - SDL_TAG_CONN < c->nr_conns) {
			sdl_conn_event(&c->conns[tag - SDL_TAG_CONN], ev[i].events);
		}
	}
	for (k = 0; k < c->nr_conns; k++)
		if (c->conns[k].broken)
			sdl_conn_fail(&c->conns[k], -ENOTCONN);
	sdl_check_timers(c);
	sdl_vdis_kick(c);
	sdl_dispatch(c);
	sdl_run_completions(c);
	sdl_arm_timer(c);
	c->in_service--;
	return 0;
}

void sdl_cancel_all(struct sd_cluster *c, int ret)
{
	struct sdl_list all, *n;
	unsigned i;

	sdl_list_init(&all);
	for (i = 0; i < c->nr_conns; i++) {
		struct sdl_conn *conn = &c->conns[i];

		sdl_conn_close_fd(conn);
		sdl_list_splice_tail(&conn->inflight, &all);
		sdl_list_splice_tail(&conn->sendq, &all);
		conn->nr_reqs = 0;
		conn->state = SDL_CONN_DOWN;
		conn->rreq = NULL;
	}
	c->nr_inflight = 0;
	sdl_list_splice_tail(&c->pending, &all);
	sdl_list_splice_tail(&c->delayed, &all);
	while ((n = sdl_list_pop(&all))) {
		struct sdl_req *req = sdl_container_of(n, struct sdl_req, link);

		req->conn = NULL;
		req->done(req, ret);
	}
}

int sdl_wait(struct sd_cluster *c, const int *flag)
{
	while (!*flag) {
		struct pollfd pfd = { .fd = c->epfd, .events = POLLIN };
		int ret = sdl_service(c);

		if (ret)
			return ret;
		if (*flag)
			break;
		if (poll(&pfd, 1, 200) < 0 && errno != EINTR)
			return -errno;
	}
	return 0;
}

struct sdl_sync_state {
	int done;
	int ret;
};

static void sdl_sync_done(struct sdl_req *req, int ret)
{
	struct sdl_sync_state *st = req->priv;

	st->ret = ret;
	st->done = 1;
}

int sdl_run_req(struct sd_cluster *c, struct sdl_req *req)
{
	struct sdl_sync_state st = { 0, 0 };
	int ret;

	req->done = sdl_sync_done;
	req->priv = &st;
	sdl_req_submit(c, req);
	ret = sdl_wait(c, &st.done);
	return ret ? ret : st.ret;
}

int sdl_cluster_connect(struct sd_cluster *c)
{
	uint64_t now = sdl_now_ms(), deadline = now + c->opts.connect_timeout_ms;
	unsigned i;

	for (i = 0; i < c->nr_conns; i++)
		sdl_conn_start(&c->conns[i], now);
	for (;;) {
		struct pollfd pfd = { .fd = c->epfd, .events = POLLIN };
		int all_failed = 1, ret;

		if (sdl_any_up(c))
			return 0;
		for (i = 0; i < c->nr_conns; i++)
			if (!c->conns[i].nr_failures)
				all_failed = 0;
		if (all_failed && c->conns[0].nr_failures >= c->nr_sa)
			return c->conns[0].last_err ? c->conns[0].last_err : -ECONNREFUSED;
		now = sdl_now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			return -errno;
		ret = sdl_service(c);
		if (ret)
			return ret;
	}
}
