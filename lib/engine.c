// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The request engine: a pool of non-blocking connections to a sheep (or
 * to the addresses of a list, connection i on address i mod n, moving to
 * the next one when it fails),
 * many requests pipelined on each (id = sequence number, replies matched by
 * id in any order), a pending queue capped by max_inflight, per-request
 * timeouts, background reconnect with backoff and resend of whatever a
 * dead connection carried.  Everything is driven from a service round
 * (sdl_engine_poll/dispatch/arm_timer, run by cluster.c's round when the
 * application calls sd_cluster_service() on a readable epoll fd, or by the
 * wait loop of a sync call); the epoll set holds the sockets, a timerfd
 * (deadlines) and an eventfd (deferred work).  Nothing here knows of vdis
 * or user requests: requests come back to their owners through ->done.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "sdl_engine.h"

#define SDL_TAG_TIMER 0
#define SDL_TAG_EVENT 1
#define SDL_TAG_CONN  2

#define SDL_BACKOFF_MIN_MS 50
#define SDL_BACKOFF_MAX_MS 2000
#define SDL_MAX_IOV	   64

uint64_t sdl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void sdl_log(struct sdl_engine *e, int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!e->log_cb)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	e->log_cb(level, buf, e->log_opaque);
}

void sdl_set_err(struct sdl_engine *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->errmsg, sizeof(e->errmsg), fmt, ap);
	va_end(ap);
	if (e->log_cb)
		e->log_cb(LOG_ERR, e->errmsg, e->log_opaque);
}

void sdl_init_hdr(struct sd_req *hdr, uint8_t opcode, uint16_t flags, uint32_t len)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->proto_ver = opcode >= 0x80 ? SD_SHEEP_PROTO_VER : SD_PROTO_VER;
	hdr->opcode = opcode;
	hdr->flags = flags;
	hdr->data_length = len;
}

static int sdl_ep_ctl(struct sdl_engine *e, int op, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };

	return epoll_ctl(e->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

void sdl_signal(struct sdl_engine *e)
{
	uint64_t one = 1;

	if (e->efd_signaled)
		return;
	if (write(e->efd, &one, sizeof(one)) == sizeof(one))
		e->efd_signaled = 1;
}

/*
 * Resolve every listed address into sa[]; each gets an equal share of the
 * slots so that a name with many records cannot crowd out the others.
 * Fails only when no address resolves (with the first one's error).
 */
static int sdl_resolve(struct sdl_engine *e)
{
	int per = SDL_MAX_SA / e->nr_addr, i, j, n, first_err = 0;

	e->nr_sa = 0;
	for (i = 0; i < e->nr_addr; i++) {
		n = sdc_resolve(&e->addr[i], &e->sa[e->nr_sa], &e->salen[e->nr_sa], per);
		if (n < 0) {
			if (!first_err)
				first_err = n;
			continue;
		}
		for (j = 0; j < n; j++)
			e->sa_addr[e->nr_sa + j] = i;
		e->nr_sa += n;
	}
	return e->nr_sa ? 0 : first_err;
}

/* The listed address a connection is on (or was last on), for messages. */
static const char *sdl_conn_addr(const struct sdl_conn *conn)
{
	return conn->e->one_str[conn->e->sa_addr[conn->sa_idx]];
}

int sdl_engine_init(struct sdl_engine *e, const char *addr, const struct sd_cluster_opts *opts,
		    const struct sdl_transport *tp, void *tp_priv)
{
	const char *why = NULL;
	unsigned i;
	int ret;

	memset(e, 0, sizeof(*e));
	e->epfd = e->tfd = e->efd = -1;
	sdl_list_init(&e->pending);
	sdl_list_init(&e->delayed);
	sdl_opts_apply(&e->opts, opts);
	e->tp = tp;
	e->tp_priv = tp_priv;
	e->next_id = 1;
	/* unique enough to tell gateways apart; never 0 (anonymous) */
	if (getrandom(&e->client_id, sizeof(e->client_id), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(e->client_id))
		e->client_id = ((uint64_t)getpid() << 32) ^ sdl_now_ms() ^ (uintptr_t)e;
	if (!e->client_id)
		e->client_id = 1;
	ret = sdc_parse_addr_list(addr, e->addr, SDC_MAX_ADDRS, &why);
	if (ret < 0)
		goto fail;
	e->nr_addr = ret;
	snprintf(e->addr_str, sizeof(e->addr_str), "%s", addr);
	for (i = 0; i < (unsigned)e->nr_addr; i++)
		sdc_addr_str(&e->addr[i], e->one_str[i], sizeof(e->one_str[i]));
	ret = sdl_resolve(e);
	if (ret)
		goto fail;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->epfd < 0 || e->tfd < 0 || e->efd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = sdl_ep_ctl(e, EPOLL_CTL_ADD, e->tfd, EPOLLIN, SDL_TAG_TIMER);
	if (!ret)
		ret = sdl_ep_ctl(e, EPOLL_CTL_ADD, e->efd, EPOLLIN, SDL_TAG_EVENT);
	if (ret)
		goto fail;
	e->conns = sdl_calloc(e->opts.nr_connections, sizeof(*e->conns));
	if (!e->conns) {
		ret = -ENOMEM;
		goto fail;
	}
	e->nr_conns = e->opts.nr_connections;
	for (i = 0; i < e->nr_conns; i++) {
		struct sdl_conn *conn = &e->conns[i];

		conn->e = e;
		conn->no = i;
		conn->fd = -1;
		conn->state = SDL_CONN_DOWN;
		conn->sa_idx = (int)(i % (unsigned)e->nr_sa);
		sdl_list_init(&conn->sendq);
		sdl_list_init(&conn->inflight);
		conn->ibuf = sdl_malloc(SDL_IBUF_SIZE);
		if (!conn->ibuf) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	return 0;
fail:
	sdl_engine_fini(e);
	return ret;
}

void sdl_engine_fini(struct sdl_engine *e)
{
	unsigned i;

	for (i = 0; e->conns && i < e->nr_conns; i++) {
		if (e->conns[i].fd >= 0)
			e->tp->close(e->tp_priv, e->conns[i].fd);
		sdl_free(e->conns[i].ibuf);
	}
	sdl_free(e->conns);
	e->conns = NULL;
	e->nr_conns = 0;
	if (e->epfd >= 0)
		close(e->epfd);
	if (e->tfd >= 0)
		close(e->tfd);
	if (e->efd >= 0)
		close(e->efd);
	e->epfd = e->tfd = e->efd = -1;
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
	struct sdl_engine *e = conn->e;

	if (conn->fd < 0)
		return;
	epoll_ctl(e->epfd, EPOLL_CTL_DEL, conn->fd, NULL);
	e->tp->close(e->tp_priv, conn->fd);
	conn->fd = -1;
}

/*
 * Any answer will do: an upstream sheep refuses the opcode (INVALID_PARMS
 * or NO_SUPPORT) and the connection stays anonymous, upstream's semantics.
 */
static void sdl_hello_done(struct sdl_req *req, int ret)
{
	struct sdl_conn *conn = req->priv;
	struct sdl_engine *e = conn->e;

	e->hellos_at[conn->hello_addr]--;
	if (!ret && req->rsp.result == SD_RES_SUCCESS && req->rsp.obj.offset == SD_EXT_HELLO_ACK) {
		e->ext = 1;
		e->hello_ok = 1;
		if ((req->rsp.hello.flags & SD_EXT_HELLO_NEW) && e->forgotten) {
			sdl_log(e, LOG_DEBUG, "connection %u: the sheep did not know us", conn->no);
			e->forgotten(e);
		}
	} else if (!ret) {
		e->ext = -1;
		sdl_log(e, LOG_DEBUG, "connection %u: no client id (%s)", conn->no,
			req->rsp.result == SD_RES_SUCCESS ? "a sheep without the extensions"
							  : sd_strerror((int)req->rsp.result));
	}
	/* the requests held back while the HELLO was out */
	if (!sdl_list_empty(&e->pending))
		sdl_signal(e);
}

static void sdl_conn_up(struct sdl_conn *conn)
{
	struct sdl_engine *e = conn->e;
	struct sdl_req *h = &conn->hello;

	conn->state = SDL_CONN_UP;
	conn->rhdr_got = 0;
	conn->in_payload = 0;
	conn->rreq = NULL;
	conn->ipos = conn->ilen = 0;
	conn->send_off = 0;
	sdl_log(conn->e, LOG_DEBUG, "connection %u to %s up", conn->no, sdl_conn_addr(conn));
	/* the client id goes first: sheep applies it to every later frame */
	memset(h, 0, sizeof(*h));
	sdl_init_hdr(&h->hdr, SD_OP_GET_CLUSTER_DEFAULT, 0, 0);
	h->hdr.obj.oid = e->client_id;
	h->hdr.obj.cow_oid = SD_EXT_HELLO_MAGIC;
	h->hdr.id = e->next_id++;
	h->done = sdl_hello_done;
	h->priv = conn;
	h->conn = conn;
	h->deadline_ms = sdl_now_ms() + e->opts.io_timeout_ms;
	sdl_list_add_tail(&h->link, &conn->sendq);
	conn->nr_reqs++;
	e->nr_inflight++;
	conn->hello_addr = e->sa_addr[conn->sa_idx];
	e->hellos_at[conn->hello_addr]++;
}

/*
 * Move to the next resolved address (the next listed address once this
 * one's records are used up).  level: a lost connection is worth a
 * notice, a refused connect while every address is down is not.
 */
static void sdl_conn_next_addr(struct sdl_conn *conn, int level)
{
	struct sdl_engine *e = conn->e;
	int from = e->sa_addr[conn->sa_idx];

	conn->sa_idx = (conn->sa_idx + 1) % e->nr_sa;
	if (e->nr_addr > 1 && e->sa_addr[conn->sa_idx] != from)
		sdl_log(e, level, "connection %u moves from %s to %s", conn->no, e->one_str[from],
			sdl_conn_addr(conn));
}

static void sdl_conn_connect_failed(struct sdl_conn *conn, int err, uint64_t now)
{
	struct sdl_engine *e = conn->e;

	sdl_conn_close_fd(conn);
	conn->state = SDL_CONN_DOWN;
	conn->last_err = err;
	conn->nr_failures++;
	sdl_log(e, LOG_DEBUG, "connection %u to %s failed: %s", conn->no, sdl_conn_addr(conn),
		strerror(-err));
	sdl_conn_next_addr(conn, LOG_DEBUG);
	sdl_conn_backoff(conn, now);
}

static void sdl_conn_start(struct sdl_conn *conn, uint64_t now)
{
	struct sdl_engine *e = conn->e;
	int inprog = 0, fd, ret;

	fd = e->tp->connect(e->tp_priv, (const struct sockaddr *)&e->sa[conn->sa_idx],
			    e->salen[conn->sa_idx], &inprog);
	if (fd < 0) {
		sdl_conn_connect_failed(conn, fd, now);
		return;
	}
	conn->fd = fd;
	conn->want_out = inprog;
	ret = sdl_ep_ctl(e, EPOLL_CTL_ADD, fd, inprog ? EPOLLOUT : EPOLLIN,
			 SDL_TAG_CONN + conn->no);
	if (ret) {
		sdl_conn_connect_failed(conn, ret, now);
		return;
	}
	if (inprog) {
		conn->state = SDL_CONN_CONNECTING;
		conn->connect_deadline_ms = now + e->opts.connect_timeout_ms;
	} else {
		sdl_conn_up(conn);
	}
}

static struct sdl_conn *sdl_pick_conn(struct sdl_engine *e);

/*
 * A HELLO was lost and no connection can take a request: the queued
 * requests that have not met a failure yet start their retry window now.
 * sdl_check_timers starts it only when no connection is up, and one whose
 * HELLO is out counts as up: while the path loses everything, some
 * connection of the pool is nearly always up in that sense (each is
 * replaced at once when its HELLO times out), and the requests would wait
 * for as long as the path is gone instead of timeout + retry.
 */
static void sdl_pending_window(struct sdl_engine *e, uint64_t now, int err)
{
	struct sdl_list *n;

	if (sdl_pick_conn(e))
		return;
	for (n = e->pending.next; n != &e->pending; n = n->next) {
		struct sdl_req *req = sdl_container_of(n, struct sdl_req, link);

		if (req->retry_until_ms)
			continue;
		req->retry_until_ms = now + e->opts.retry_timeout_ms;
		req->last_err = err;
	}
}

/* A connection died: requeue what it carried (front of pending, in order). */
static void sdl_conn_fail(struct sdl_conn *conn, int err)
{
	struct sdl_engine *e = conn->e;
	uint64_t now = sdl_now_ms();
	struct sdl_list tmp, *n;
	int hello = 0;

	sdl_log(e, LOG_WARNING, "connection %u to %s lost (%s), %u requests to resend", conn->no,
		sdl_conn_addr(conn), strerror(-err), conn->nr_reqs);
	sdl_conn_close_fd(conn);
	/* whatever it carried goes to the other connections at once (pending) */
	if (e->nr_sa > 1)
		sdl_conn_next_addr(conn, LOG_WARNING);
	sdl_list_init(&tmp);
	sdl_list_splice_tail(&conn->inflight, &tmp);
	sdl_list_splice_tail(&conn->sendq, &tmp);
	for (n = tmp.next; n != &tmp; n = n->next) {
		struct sdl_req *req = sdl_container_of(n, struct sdl_req, link);

		hello |= req == &conn->hello;
		req->conn = NULL;
		req->last_err = err;
		if (!req->retry_until_ms)
			req->retry_until_ms = now + e->opts.retry_timeout_ms;
		e->nr_inflight--;
	}
	/*
	 * Not resent: the next connection sends its own.  Its answer is
	 * lost, and it may have said that the sheep forgot us: re-join
	 * (harmless when it had not; never against a sheep that refuses
	 * HELLO, an upstream one).
	 */
	if (hello) {
		sdl_list_del(&conn->hello.link);
		e->hellos_at[conn->hello_addr]--;
		if (e->forgotten && e->hello_ok)
			e->forgotten(e);
	}
	sdl_list_splice_front(&tmp, &e->pending);
	conn->nr_reqs = 0;
	conn->broken = 0;
	conn->want_out = 0;
	conn->state = SDL_CONN_DOWN;
	conn->last_err = err;
	conn->rreq = NULL;
	sdl_conn_backoff(conn, now);
	if (hello)
		sdl_pending_window(e, now, err);
}

static uint32_t sdl_req_wlen(const struct sdl_req *req)
{
	return (req->hdr.flags & SD_FLAG_CMD_WRITE) ? req->hdr.data_length : 0;
}

static void sdl_conn_want_out(struct sdl_conn *conn, int on)
{
	if (conn->want_out == on || conn->fd < 0)
		return;
	if (!sdl_ep_ctl(conn->e, EPOLL_CTL_MOD, conn->fd, on ? EPOLLIN | EPOLLOUT : EPOLLIN,
			SDL_TAG_CONN + conn->no))
		conn->want_out = on;
}

/* Send as much of the send queue as the socket takes.  0 or -errno. */
static int sdl_conn_flush(struct sdl_conn *conn)
{
	struct sdl_engine *e = conn->e;
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
		sent = e->tp->send(e->tp_priv, conn->fd, iov, cnt);
		if (sent == -EAGAIN) {
			sdl_conn_want_out(conn, 1);
			return 0;
		}
		if (sent < 0)
			return (int)sent;
		while (sent > 0) {
			struct sdl_req *req =
				sdl_container_of(conn->sendq.next, struct sdl_req, link);
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
	case SD_RES_KILLED: return 1;
	default: return 0;
	}
}

static unsigned sdl_retry_delay(unsigned retries)
{
	unsigned d = SDL_BACKOFF_MIN_MS << (retries < 6 ? retries : 6);

	return d > SDL_BACKOFF_MAX_MS ? SDL_BACKOFF_MAX_MS : d;
}

static void sdl_finish_reply(struct sdl_conn *conn)
{
	struct sdl_engine *e = conn->e;
	struct sdl_req *req = conn->rreq;
	uint64_t now;

	conn->in_payload = 0;
	conn->rreq = NULL;
	if (!req)
		return;
	sdl_list_del(&req->link);
	conn->nr_reqs--;
	e->nr_inflight--;
	req->conn = NULL;
	memcpy(&req->rsp, &conn->rhdr, sizeof(req->rsp));
	conn->nr_failures = 0;
	conn->backoff_ms = 0;
	if (sdl_result_retryable(req->rsp.result)) {
		now = sdl_now_ms();
		if (!req->retry_until_ms)
			req->retry_until_ms = now + e->opts.retry_timeout_ms;
		if (now < req->retry_until_ms) {
			req->not_before_ms = now + sdl_retry_delay(req->retries++);
			req->last_err = -EAGAIN;
			sdl_list_add_tail(&req->link, &e->delayed);
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
		sdl_log(conn->e, LOG_WARNING, "reply with unknown id %u dropped", conn->rhdr.id);
	else if (req->rbuf)
		conn->rpay_keep = conn->rpay_left < req->rlen ? conn->rpay_left : req->rlen;
	if (!conn->rpay_left)
		sdl_finish_reply(conn);
}

/*
 * Read and dispatch replies until the socket is drained.  0 or -errno.
 * A recv into ibuf that returned less than it asked for emptied the
 * socket's queue: the buffer is dispatched without a second recv that
 * would only say EAGAIN (a syscall per wakeup of small replies); anything
 * that arrives later wakes the level-triggered epoll again.  Large
 * payloads read straight into the caller's buffer keep reading.
 */
static int sdl_conn_read(struct sdl_conn *conn)
{
	struct sdl_engine *e = conn->e;
	int rounds = 0, drained = 0;

	while (conn->state == SDL_CONN_UP) {
		size_t avail;
		ssize_t n;

		if (conn->ipos == conn->ilen) {
			if (drained || ++rounds > 64)
				return 0;
			/*
			 * Large payloads go straight into the caller's buffer.
			 * rpay_pos passes rpay_keep once a reply longer than
			 * the buffer has filled it (the rest is skipped through
			 * ibuf): unsigned, keep - pos would then wrap and aim
			 * recv past the buffer's end.
			 */
			if (conn->in_payload && conn->rreq && conn->rpay_keep > conn->rpay_pos &&
			    conn->rpay_keep - conn->rpay_pos >= SDL_IBUF_SIZE / 2) {
				n = e->tp->recv(e->tp_priv, conn->fd,
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
			n = e->tp->recv(e->tp_priv, conn->fd, conn->ibuf, SDL_IBUF_SIZE);
			if (n == -EAGAIN)
				return 0;
			if (n <= 0)
				return n ? (int)n : -ECONNRESET;
			drained = n < SDL_IBUF_SIZE;
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
			size_t keep = conn->rpay_keep > conn->rpay_pos
					      ? conn->rpay_keep - conn->rpay_pos
					      : 0;

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

static struct sdl_conn *sdl_pick_conn(struct sdl_engine *e)
{
	struct sdl_conn *best = NULL;
	unsigned i;

	for (i = 0; i < e->nr_conns; i++) {
		struct sdl_conn *conn = &e->conns[i];

		if (conn->state != SDL_CONN_UP || conn->broken)
			continue;
		/* a HELLO is out to that sheep: nothing else before its answer */
		if (e->hellos_at[e->sa_addr[conn->sa_idx]])
			continue;
		if (!best || conn->nr_reqs < best->nr_reqs)
			best = conn;
	}
	return best;
}

void sdl_engine_dispatch(struct sdl_engine *e)
{
	uint64_t now = sdl_list_empty(&e->pending) ? 0 : sdl_now_ms();
	struct sdl_list *n = e->pending.next, *next;
	unsigned i;

	for (; n != &e->pending && e->nr_inflight < e->opts.max_inflight; n = next) {
		struct sdl_req *req = sdl_container_of(n, struct sdl_req, link);
		struct sdl_conn *conn;

		next = n->next;
		/*
		 * Past its retry window (with retry 0: back from a dead
		 * connection): not resent, sdl_check_timers fails it.  This
		 * may run from a submit, where ->done must not be called.
		 */
		if (req->retry_until_ms && now >= req->retry_until_ms)
			continue;
		conn = sdl_pick_conn(e);
		if (!conn)
			break;
		sdl_list_del(&req->link);
		req->hdr.id = e->next_id++;
		req->conn = conn;
		req->deadline_ms = now + e->opts.io_timeout_ms;
		sdl_list_add_tail(&req->link, &conn->sendq);
		conn->nr_reqs++;
		e->nr_inflight++;
	}
	for (i = 0; i < e->nr_conns; i++) {
		struct sdl_conn *conn = &e->conns[i];
		int ret;

		if (conn->state != SDL_CONN_UP || conn->broken || sdl_list_empty(&conn->sendq))
			continue;
		ret = sdl_conn_flush(conn);
		if (ret) {
			conn->broken = ret;
			sdl_signal(e);
		}
	}
}

/* Arm the timer for absolute time t (UINT64_MAX: disarm it). */
static void sdl_timer_set(struct sdl_engine *e, uint64_t t)
{
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };

	if (t != UINT64_MAX) {
		if (!t)
			t = 1;
		its.it_value.tv_sec = (time_t)(t / 1000);
		its.it_value.tv_nsec = (long)(t % 1000) * 1000000;
	}
	if (timerfd_settime(e->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		e->timer_at_ms = t == UINT64_MAX ? 0 : t;
}

/*
 * A request sent on a connection from outside a service round (the
 * application's submit): no round may follow to arm the timer for its
 * deadline, and a reply that never comes (a path that drops everything
 * but keeps the connection open) would be waited for for ever.
 */
static void sdl_engine_arm_at(struct sdl_engine *e, uint64_t t)
{
	if (e->timer_at_ms && e->timer_at_ms <= t)
		return;
	sdl_timer_set(e, t);
}

void sdl_req_submit(struct sdl_engine *e, struct sdl_req *req)
{
	sdl_list_init(&req->link);
	req->conn = NULL;
	req->retry_until_ms = 0;
	req->not_before_ms = 0;
	req->last_err = 0;
	req->retries = 0;
	memset(&req->rsp, 0, sizeof(req->rsp));
	sdl_list_add_tail(&req->link, &e->pending);
	sdl_engine_dispatch(e);
	if (!sdl_list_empty(&e->pending))
		sdl_signal(e);
	else if (!e->in_service)
		sdl_engine_arm_at(e, req->deadline_ms);
}

void sdl_req_submit_delayed(struct sdl_engine *e, struct sdl_req *req, unsigned delay_ms)
{
	sdl_list_init(&req->link);
	req->conn = NULL;
	req->retry_until_ms = 0;
	req->last_err = 0;
	req->retries = 0;
	memset(&req->rsp, 0, sizeof(req->rsp));
	req->not_before_ms = sdl_now_ms() + delay_ms;
	sdl_list_add_tail(&req->link, &e->delayed);
	if (!e->in_service)
		sdl_signal(e);
}

static int sdl_any_up(struct sdl_engine *e)
{
	unsigned i;

	for (i = 0; i < e->nr_conns; i++)
		if (e->conns[i].state == SDL_CONN_UP)
			return 1;
	return 0;
}

int sdl_engine_up(struct sdl_engine *e)
{
	return sdl_any_up(e);
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

static void sdl_check_timers(struct sdl_engine *e)
{
	uint64_t now = sdl_now_ms();
	struct sdl_list *n, *next;
	int up;
	unsigned i;

	for (i = 0; i < e->nr_conns; i++) {
		struct sdl_conn *conn = &e->conns[i];

		if (conn->state == SDL_CONN_CONNECTING && now >= conn->connect_deadline_ms)
			sdl_conn_connect_failed(conn, -ETIMEDOUT, now);
		else if (conn->state == SDL_CONN_UP && now >= sdl_conn_deadline(conn))
			sdl_conn_fail(conn, -ETIMEDOUT);
		if (conn->state == SDL_CONN_DOWN && now >= conn->next_attempt_ms)
			sdl_conn_start(conn, now);
	}
	for (n = e->delayed.next; n != &e->delayed; n = next) {
		struct sdl_req *req = sdl_container_of(n, struct sdl_req, link);

		next = n->next;
		if (req->not_before_ms <= now) {
			sdl_list_del(&req->link);
			sdl_list_add_tail(&req->link, &e->pending);
		}
	}
	up = sdl_any_up(e);
	for (n = e->pending.next; n != &e->pending; n = next) {
		struct sdl_req *req = sdl_container_of(n, struct sdl_req, link);

		next = n->next;
		if (!up && !req->retry_until_ms) {
			req->retry_until_ms = now + e->opts.retry_timeout_ms;
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
			next = e->pending.next;
		}
	}
}

void sdl_engine_arm_timer(struct sdl_engine *e)
{
	uint64_t t = UINT64_MAX;
	struct sdl_list *n;
	unsigned i;

	for (i = 0; i < e->nr_conns; i++) {
		struct sdl_conn *conn = &e->conns[i];
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
	for (n = e->delayed.next; n != &e->delayed; n = n->next) {
		struct sdl_req *req = sdl_container_of(n, struct sdl_req, link);

		if (req->not_before_ms < t)
			t = req->not_before_ms;
	}
	for (n = e->pending.next; n != &e->pending; n = n->next) {
		struct sdl_req *req = sdl_container_of(n, struct sdl_req, link);

		if (req->retry_until_ms && req->retry_until_ms < t)
			t = req->retry_until_ms;
	}
	/*
	 * Re-arming costs a syscall per service call; an early expiry only
	 * costs a spurious wakeup, so keep an armed timer that fires no later
	 * than needed.
	 */
	if (t == e->timer_at_ms || (e->timer_at_ms && e->timer_at_ms < t))
		return;
	sdl_timer_set(e, t);
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

int sdl_engine_poll(struct sdl_engine *e)
{
	struct epoll_event ev[32];
	int n, i;
	unsigned k;
	uint64_t v;

	n = epoll_wait(e->epfd, ev, 32, 0);
	if (n < 0 && errno != EINTR)
		return -errno;
	for (i = 0; i < n; i++) {
		uint64_t tag = ev[i].data.u64;

		if (tag == SDL_TAG_TIMER) {
			if (read(e->tfd, &v, sizeof(v)) < 0)
				v = 0;
			e->timer_at_ms = 0;
		} else if (tag == SDL_TAG_EVENT) {
			if (read(e->efd, &v, sizeof(v)) < 0)
				v = 0;
			e->efd_signaled = 0;
		} else if (tag - SDL_TAG_CONN < e->nr_conns) {
			sdl_conn_event(&e->conns[tag - SDL_TAG_CONN], ev[i].events);
		}
	}
	for (k = 0; k < e->nr_conns; k++)
		if (e->conns[k].broken)
			sdl_conn_fail(&e->conns[k], -ENOTCONN);
	sdl_check_timers(e);
	return 0;
}

int sdl_engine_round(struct sdl_engine *e)
{
	int ret;

	e->in_service++;
	ret = sdl_engine_poll(e);
	if (!ret) {
		sdl_engine_dispatch(e);
		sdl_engine_arm_timer(e);
	}
	e->in_service--;
	return ret;
}

void sdl_req_cancel(struct sdl_engine *e, struct sdl_req *req)
{
	struct sdl_conn *conn = req->conn;

	/* half sent: the stream cannot skip it; resend the rest elsewhere */
	if (conn && conn->send_off && conn->sendq.next == &req->link) {
		sdl_conn_fail(conn, -ECANCELED);
		conn = NULL;
	}
	if (conn) {
		if (conn->rreq == req) {
			/* its payload is being received: consume it unseen */
			conn->rreq = NULL;
			conn->rpay_keep = 0;
		}
		conn->nr_reqs--;
		e->nr_inflight--;
	}
	sdl_list_del(&req->link);
	req->conn = NULL;
}

void sdl_cancel_all(struct sdl_engine *e, int ret)
{
	struct sdl_list all, *n;
	unsigned i;

	sdl_list_init(&all);
	for (i = 0; i < e->nr_conns; i++) {
		struct sdl_conn *conn = &e->conns[i];

		sdl_conn_close_fd(conn);
		sdl_list_splice_tail(&conn->inflight, &all);
		sdl_list_splice_tail(&conn->sendq, &all);
		conn->nr_reqs = 0;
		conn->state = SDL_CONN_DOWN;
		conn->rreq = NULL;
	}
	e->nr_inflight = 0;
	sdl_list_splice_tail(&e->pending, &all);
	sdl_list_splice_tail(&e->delayed, &all);
	while ((n = sdl_list_pop(&all))) {
		struct sdl_req *req = sdl_container_of(n, struct sdl_req, link);

		req->conn = NULL;
		req->done(req, ret);
	}
}

void sdl_want_kick(struct sdl_engine *e)
{
	if (e->in_service)
		e->kick_again = 1;
	else
		sdl_signal(e);
}

int sdl_sync_allowed(struct sdl_engine *e, const char *what)
{
	if (!e->in_service)
		return 0;
	sdl_set_err(e,
		    "%s called from a completion callback: a synchronous call there would "
		    "re-enter sd_cluster_service; use the async calls",
		    what);
	return -EDEADLK;
}

/* The upper bound of one sleep: a safety net should a wakeup get lost. */
#define SDL_WAIT_SLICE_MS 200

int sdl_wait_until(struct sdl_engine *e, int (*cond)(void *arg), void *arg, uint64_t deadline_ms)
{
	int ret = sdl_sync_allowed(e, "a synchronous call");

	if (ret)
		return ret;
	while (!cond(arg)) {
		struct pollfd pfd = { .fd = e->epfd, .events = POLLIN };
		int slice = SDL_WAIT_SLICE_MS;

		ret = e->round ? e->round(e) : sdl_engine_round(e);
		if (ret)
			return ret;
		if (cond(arg))
			break;
		if (deadline_ms) {
			uint64_t now = sdl_now_ms();

			if (now >= deadline_ms)
				return -ETIMEDOUT;
			if (deadline_ms - now < (uint64_t)slice)
				slice = (int)(deadline_ms - now);
		}
		if (poll(&pfd, 1, slice) < 0 && errno != EINTR)
			return -errno;
	}
	return 0;
}

static int sdl_flag_set(void *arg)
{
	return *(const int *)arg;
}

int sdl_wait(struct sdl_engine *e, const int *flag, uint64_t deadline_ms)
{
	return sdl_wait_until(e, sdl_flag_set, (void *)flag, deadline_ms);
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

int sdl_run_req_after(struct sdl_engine *e, struct sdl_req *req, unsigned delay_ms,
		      uint64_t deadline_ms)
{
	struct sdl_sync_state st = { 0, 0 };
	int ret;

	/* refuse before submitting: the request lives on the caller's stack */
	ret = sdl_sync_allowed(e, "a synchronous request");
	if (ret)
		return ret;
	req->done = sdl_sync_done;
	req->priv = &st;
	if (delay_ms)
		sdl_req_submit_delayed(e, req, delay_ms);
	else
		sdl_req_submit(e, req);
	ret = sdl_wait(e, &st.done, deadline_ms);
	if (ret && !st.done)
		sdl_req_cancel(e, req);
	return ret ? ret : st.ret;
}

int sdl_run_req(struct sdl_engine *e, struct sdl_req *req, uint64_t deadline_ms)
{
	return sdl_run_req_after(e, req, 0, deadline_ms);
}

/* Connected, or every connection has failed on every address. */
static int sdl_connect_settled(void *arg)
{
	struct sdl_engine *e = arg;
	unsigned i;

	if (sdl_any_up(e))
		return 1;
	for (i = 0; i < e->nr_conns; i++)
		if (!e->conns[i].nr_failures)
			return 0;
	return e->conns[0].nr_failures >= e->nr_sa;
}

int sdl_engine_connect(struct sdl_engine *e)
{
	uint64_t now = sdl_now_ms();
	unsigned i;
	int ret;

	for (i = 0; i < e->nr_conns; i++)
		sdl_conn_start(&e->conns[i], now);
	ret = sdl_wait_until(e, sdl_connect_settled, e, now + e->opts.connect_timeout_ms);
	if (ret)
		return ret;
	if (sdl_any_up(e))
		return 0;
	return e->conns[0].last_err ? e->conns[0].last_err : -ECONNREFUSED;
}
