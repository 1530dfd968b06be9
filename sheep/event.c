// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The event loop: one epoll thread owns the listeners, every connection and
 * the reply queues.  It reads frames (header, then payload), validates what
 * needs no disk, queues the request to the worker pool and immediately reads
 * the next frame; replies go out in completion order with the request's id
 * and opcode.  Sockets are non-blocking; partial reads and writes resume on
 * the next readiness event.
 *
 * Lifetime: a connection is refcounted.  The loop holds one reference while
 * the socket is open and every in-flight request holds one, so a connection
 * closed (by the peer or by us) with requests in flight is only freed when
 * the last of them completes; their replies are then dropped.
 *
 * Bad input: a header whose payload exceeds the op's cap closes the
 * connection (we will not buffer it); every other malformed request is read
 * completely and answered with an error, keeping the stream in sync.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <inttypes.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sheep.h"

#define RBUF_SIZE	  (64u * 1024)
#define MAX_QUEUED	  1024 /* per connection: stop reading beyond this */
#define NR_WORKERS	  32
#define SHUTDOWN_GRACE_MS 5000
#define INLINE_READ_MAX	  (256u * 1024) /* bigger reads go to the workers */

struct ev_handler {
	int fd;
	void (*cb)(struct ev_handler *h, uint32_t events);
};

struct sheep_conn {
	struct ev_handler ev;
	int refcnt;
	int closed;	 /* socket closed; replies are dropped */
	int eof;	 /* peer stopped sending: answer what is queued, then close */
	uint32_t events; /* current epoll mask */
	char peer[64];
	uint64_t client;		/* EXT_HELLO id (coh.c), 0: anonymous */
	struct sheep_conn *prev, *next; /* all open connections */

	/* input */
	char *rbuf;
	size_t rstart, rend;
	struct sd_req hdr;
	int have_hdr;
	char *payload;
	size_t pay_cap, pay_got;

	/* output and accounting */
	struct sheep_request *sq_head, *sq_tail;
	unsigned nr_queued; /* in flight + waiting to be sent */
	int flush_queued;   /* on g_flush_list (holds a reference) */
	struct sheep_conn *flush_next;
};

static int g_epfd = -1;
static struct ev_handler g_listen[2] = { { .fd = -1 }, { .fd = -1 } };
static struct ev_handler g_work_ev = { .fd = -1 };
static struct ev_handler g_sig_ev = { .fd = -1 };
static struct sheep_conn *g_conns;
static unsigned g_inflight; /* requests queued to workers */
static int g_stop;	    /* signal received */
static const char *g_unix_path;
/*
 * Connections with new replies, written once per loop iteration (one
 * writev for all the replies a batch of completions produced).
 */
static struct sheep_conn *g_flush_list;

static void conn_close(struct sheep_conn *c);
static void conn_read(struct sheep_conn *c);

static int ev_add(struct ev_handler *h, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = h };

	return epoll_ctl(g_epfd, EPOLL_CTL_ADD, h->fd, &e) < 0 ? -errno : 0;
}

static void conn_set_events(struct sheep_conn *c, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = &c->ev };

	if (c->closed || c->events == events)
		return;
	if (epoll_ctl(g_epfd, EPOLL_CTL_MOD, c->ev.fd, &e) < 0)
		sheep_err("epoll_ctl %s: %s", c->peer, strerror(errno));
	c->events = events;
}

static void conn_update_events(struct sheep_conn *c)
{
	uint32_t ev = 0;

	if (c->nr_queued < MAX_QUEUED && !c->eof)
		ev |= EPOLLIN;
	/* queued for flush_list_run: it writes first and asks for EPOLLOUT if needed */
	if (c->sq_head && !c->flush_queued)
		ev |= EPOLLOUT;
	conn_set_events(c, ev);
}

static void request_free(struct sheep_request *req)
{
	free(req->data);
	free(req->rdata);
	free(req);
}

static void conn_put(struct sheep_conn *c)
{
	if (--c->refcnt)
		return;
	free(c->rbuf);
	free(c->payload);
	free(c);
}

/* ---- output ---- */

#define MAX_IOV 64

/* Write as much of the reply queue as the socket takes. 0, or -1 if closed. */
static int conn_flush(struct sheep_conn *c)
{
	while (c->sq_head) {
		struct iovec iov[MAX_IOV];
		struct sheep_request *r;
		int n = 0;
		ssize_t w;

		for (r = c->sq_head; r && n < MAX_IOV - 1; r = r->next) {
			size_t off = r->sent;

			if (off < SD_RSP_SIZE) {
				iov[n].iov_base = (char *)&r->rsp + off;
				iov[n++].iov_len = SD_RSP_SIZE - off;
				off = 0;
			} else {
				off -= SD_RSP_SIZE;
			}
			if (r->rsp.data_length > off) {
				iov[n].iov_base = (char *)r->rdata + off;
				iov[n++].iov_len = r->rsp.data_length - off;
			}
		}
		w = writev(c->ev.fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			sheep_info("write to %s: %s, closing", c->peer, strerror(errno));
			conn_close(c);
			return -1;
		}
		while (w > 0 && c->sq_head) {
			struct sheep_request *h = c->sq_head;
			size_t left = SD_RSP_SIZE + h->rsp.data_length - h->sent;

			if ((size_t)w < left) {
				h->sent += (size_t)w;
				break;
			}
			w -= (ssize_t)left;
			c->sq_head = h->next;
			if (!c->sq_head)
				c->sq_tail = NULL;
			c->nr_queued--;
			request_free(h);
		}
	}
	if (c->eof && !c->nr_queued) {
		conn_close(c);
		return -1;
	}
	conn_update_events(c);
	/* frames left buffered while throttled get no new EPOLLIN: resume them */
	if (c->nr_queued < MAX_QUEUED && (c->rstart < c->rend || c->have_hdr))
		conn_read(c);
	return 0;
}

/* Loop thread: write c's replies at the end of this loop iteration. */
static void conn_flush_later(struct sheep_conn *c)
{
	if (c->flush_queued || c->closed)
		return;
	c->flush_queued = 1;
	c->refcnt++;
	c->flush_next = g_flush_list;
	g_flush_list = c;
}

static void flush_list_run(void)
{
	while (g_flush_list) {
		struct sheep_conn *c = g_flush_list;

		g_flush_list = c->flush_next;
		c->flush_queued = 0;
		if (!c->closed)
			conn_flush(c);
		conn_put(c);
	}
}

static void conn_queue_reply(struct sheep_conn *c, struct sheep_request *req)
{
	req->rsp.opcode = req->hdr.opcode;
	req->rsp.id = req->hdr.id;
	req->rsp.epoch = __atomic_load_n(&g_sheep.formatted, __ATOMIC_ACQUIRE) ? 1 : 0;
	req->next = NULL;
	req->sent = 0;
	if (c->sq_tail)
		c->sq_tail->next = req;
	else
		c->sq_head = req;
	c->sq_tail = req;
}

/* Loop thread: a worker finished a request. */
static void request_done(struct sheep_work *w)
{
	struct sheep_request *req = (struct sheep_request *)w;
	struct sheep_conn *c = req->conn;

	g_inflight--;
	if (c->closed) {
		request_free(req);
	} else {
		conn_queue_reply(c, req);
		conn_flush_later(c);
	}
	conn_put(c);
}

static void request_work(struct sheep_work *w)
{
	sheep_op_execute((struct sheep_request *)w);
}

/* ---- input ---- */

/*
 * Read fast path: a data-object READ_OBJ whose bytes are in the page cache
 * is answered right here, without a trip through the worker pool.  Anything
 * else (descriptor not cached, pages not resident, errors) goes to a worker.
 * Returns 1 if req was answered.
 */
static int read_inline(struct sheep_conn *c, struct sheep_request *req)
{
	const struct sd_req *h = &req->hdr;

	if (h->opcode != SD_OP_READ_OBJ || (h->flags & SD_FLAG_CMD_WRITE) ||
	    !sd_is_data_obj(h->obj.oid) || !h->data_length || h->data_length > INLINE_READ_MAX)
		return 0;
	/* an invalidated participant gets its INODE_INVALIDATED from a worker */
	if ((h->flags & SD_FLAG_CMD_TGT) &&
	    sheep_coh_check(sd_oid_to_vid(h->obj.oid), req->client) != SD_RES_SUCCESS)
		return 0;
	req->rdata = malloc(h->data_length);
	if (!req->rdata)
		return 0;
	/* a COMPARE AND WRITE in progress on the object: a worker waits for it */
	if (sheep_obj_tryrdlock(h->obj.oid)) {
		free(req->rdata);
		req->rdata = NULL;
		return 0;
	}
	if (sheep_store_read_nowait(&g_sheep.store, h->obj.oid, req->rdata, h->data_length,
				    h->obj.offset)) {
		sheep_obj_unlock(h->obj.oid);
		free(req->rdata);
		req->rdata = NULL;
		return 0;
	}
	sheep_obj_unlock(h->obj.oid);
	req->rsp.result = SD_RES_SUCCESS;
	req->rsp.data_length = h->data_length;
	conn_queue_reply(c, req);
	conn_flush_later(c);
	conn_put(c);
	return 1;
}

/*
 * EXT_HELLO (or its disguised form, GET_CLUSTER_DEFAULT with
 * SD_EXT_HELLO_MAGIC, see proto.h): the client id (obj.oid) applies to
 * every later frame of this connection, so it is taken here, in frame
 * order, not on a worker.
 * Returns the result to reply.
 */
static int hello(struct sheep_conn *c, struct sheep_request *req)
{
	const struct sd_req *h = &req->hdr;
	int new;

	if (h->flags & SD_FLAG_CMD_WRITE)
		return SD_RES_INVALID_PARMS;
	if (h->obj.oid == c->client)
		return SD_RES_SUCCESS;
	new = sheep_coh_conn_add(h->obj.oid);
	if (new < 0)
		return SD_RES_NO_MEM;
	sheep_coh_conn_del(c->client);
	c->client = h->obj.oid;
	/* participations this sheep may have lost (proto.h): the client re-joins */
	if (new)
		req->rsp.hello.flags = SD_EXT_HELLO_NEW;
	sheep_debug("%s: client %016" PRIx64 "%s", c->peer, c->client, new ? " (new)" : "");
	return SD_RES_SUCCESS;
}

static void dispatch(struct sheep_conn *c)
{
	const struct sheep_op *op = sheep_op_get(c->hdr.opcode);
	struct sheep_request *req = calloc(1, sizeof(*req));
	int res, is_hello;

	if (!req) {
		sheep_err("out of memory, closing %s", c->peer);
		conn_close(c);
		return;
	}
	req->hdr = c->hdr;
	req->data = c->payload;
	c->payload = NULL;
	c->pay_cap = c->pay_got = 0;
	c->have_hdr = 0;
	req->conn = c;
	req->client = c->client;
	c->refcnt++;
	c->nr_queued++;
	is_hello = sheep_frame_is_hello(&req->hdr);
	if (is_hello)
		res = hello(c, req);
	else
		res = sheep_op_precheck(&req->hdr, op);
	if (is_hello && res == SD_RES_SUCCESS) {
		req->rsp.result = SD_RES_SUCCESS;
		req->rsp.obj.offset = SD_EXT_HELLO_ACK;
		conn_queue_reply(c, req);
		conn_flush_later(c);
		conn_put(c);
		return;
	}
	if (res != SD_RES_SUCCESS) {
		sheep_debug("%s: opcode 0x%02x id %u rejected: %s", c->peer, req->hdr.opcode,
			    req->hdr.id, sd_strerror(res));
		req->rsp.result = (uint32_t)res;
		conn_queue_reply(c, req);
		conn_put(c);
		return;
	}
	if (read_inline(c, req))
		return;
	req->work.fn = request_work;
	req->work.done = request_done;
	g_inflight++;
	sheep_work_queue(&req->work);
}

/* A complete header is in c->hdr: decide how much payload to read. */
static int header_done(struct sheep_conn *c)
{
	int64_t len = sheep_frame_payload_len(&c->hdr);

	c->have_hdr = 1;
	c->pay_got = 0;
	if (len < 0) {
		sheep_warn("%s: opcode 0x%02x payload of %u bytes exceeds its cap, closing",
			   c->peer, c->hdr.opcode, c->hdr.data_length);
		return -1;
	}
	if (!len)
		return 0;
	/* grow as bytes arrive: a bogus length cannot make us allocate up front */
	c->pay_cap = c->hdr.data_length < RBUF_SIZE ? c->hdr.data_length : RBUF_SIZE;
	c->payload = malloc(c->pay_cap);
	if (!c->payload)
		return -1;
	return 0;
}

static int payload_reserve(struct sheep_conn *c)
{
	size_t want = c->hdr.data_length;
	size_t cap;
	char *p;

	if (c->pay_cap > c->pay_got || c->pay_cap == want)
		return 0;
	cap = c->pay_cap * 2 < want ? c->pay_cap * 2 : want;
	p = realloc(c->payload, cap);
	if (!p)
		return -1;
	c->payload = p;
	c->pay_cap = cap;
	return 0;
}

static int frame_needs_payload(const struct sheep_conn *c)
{
	return (c->hdr.flags & SD_FLAG_CMD_WRITE) && c->pay_got < c->hdr.data_length;
}

/* Consume buffered bytes into frames. 0 to go on, -1 if the conn closed. */
static int conn_parse(struct sheep_conn *c)
{
	while (c->rstart < c->rend && c->nr_queued < MAX_QUEUED && !c->closed) {
		size_t avail = c->rend - c->rstart;

		if (!c->have_hdr) {
			if (avail < SD_REQ_SIZE)
				return 0;
			memcpy(&c->hdr, c->rbuf + c->rstart, SD_REQ_SIZE);
			c->rstart += SD_REQ_SIZE;
			if (header_done(c)) {
				conn_close(c);
				return -1;
			}
		} else if (frame_needs_payload(c)) {
			size_t n;

			if (payload_reserve(c)) {
				conn_close(c);
				return -1;
			}
			n = c->pay_cap - c->pay_got;
			if (n > avail)
				n = avail;
			memcpy(c->payload + c->pay_got, c->rbuf + c->rstart, n);
			c->pay_got += n;
			c->rstart += n;
		}
		if (c->have_hdr && !frame_needs_payload(c))
			dispatch(c);
	}
	/* a header-only frame may complete without further bytes */
	if (c->have_hdr && !frame_needs_payload(c) && c->nr_queued < MAX_QUEUED && !c->closed)
		dispatch(c);
	return c->closed ? -1 : 0;
}

static void conn_read(struct sheep_conn *c)
{
	/*
	 * A short read drained the socket: stop there instead of paying a
	 * read() for EAGAIN.  Level-triggered epoll reports later bytes (and
	 * EOF) again.
	 */
	int drained = 0;

	for (;;) {
		size_t want;
		ssize_t n;

		if (conn_parse(c))
			return;
		if (c->nr_queued >= MAX_QUEUED || drained)
			break;
		if (c->rstart == c->rend)
			c->rstart = c->rend = 0;
		if (c->have_hdr && frame_needs_payload(c) && c->rstart == c->rend &&
		    c->hdr.data_length - c->pay_got >= RBUF_SIZE) {
			/* big payload: read straight into the request buffer */
			if (payload_reserve(c)) {
				conn_close(c);
				return;
			}
			want = c->pay_cap - c->pay_got;
			n = read(c->ev.fd, c->payload + c->pay_got, want);
			if (n > 0) {
				drained = (size_t)n < want;
				c->pay_got += (size_t)n;
				continue;
			}
		} else {
			if (c->rstart > 0 && c->rend == RBUF_SIZE) {
				memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
				c->rend -= c->rstart;
				c->rstart = 0;
			}
			want = RBUF_SIZE - c->rend;
			n = read(c->ev.fd, c->rbuf + c->rend, want);
			if (n > 0) {
				drained = (size_t)n < want;
				c->rend += (size_t)n;
				continue;
			}
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n == 0 && (c->have_hdr || c->rstart != c->rend)) {
			sheep_warn("%s closed the connection mid-frame", c->peer);
		} else if (n == 0 && c->nr_queued) {
			/* half-close: the replies still go out */
			c->eof = 1;
			break;
		} else if (n < 0)
			sheep_info("read from %s: %s", c->peer, strerror(errno));
		conn_close(c);
		return;
	}
	conn_update_events(c);
}

static void conn_event(struct ev_handler *h, uint32_t events)
{
	struct sheep_conn *c = (struct sheep_conn *)h;

	c->refcnt++;
	if (events & (EPOLLHUP | EPOLLERR))
		conn_close(c);
	else if (events & EPOLLIN)
		conn_read(c);
	if (!c->closed && (events & EPOLLOUT))
		conn_flush(c);
	conn_put(c);
}

static void conn_close(struct sheep_conn *c)
{
	struct sheep_request *r;

	if (c->closed)
		return;
	c->closed = 1;
	sheep_coh_conn_del(c->client);
	c->client = 0;
	epoll_ctl(g_epfd, EPOLL_CTL_DEL, c->ev.fd, NULL);
	close(c->ev.fd);
	sheep_debug("closed %s", c->peer);
	while ((r = c->sq_head)) {
		c->sq_head = r->next;
		request_free(r);
	}
	c->sq_tail = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		g_conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	conn_put(c);
}

static void accept_event(struct ev_handler *h, uint32_t events)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct sheep_conn *c;
		int fd, one = 1;

		fd = accept4(h->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				sheep_warn("accept: %s", strerror(errno));
			return;
		}
		c = calloc(1, sizeof(*c));
		if (c)
			c->rbuf = malloc(RBUF_SIZE);
		if (!c || !c->rbuf) {
			sheep_err("out of memory, refusing a connection");
			if (c)
				free(c);
			close(fd);
			continue;
		}
		if (ss.ss_family == AF_UNIX) {
			snprintf(c->peer, sizeof(c->peer), "unix:%d", fd);
		} else {
			char host[48], serv[8];

			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv,
					sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV))
				snprintf(host, sizeof(host), "?");
			snprintf(c->peer, sizeof(c->peer), "%s:%s", host, serv);
		}
		c->ev.fd = fd;
		c->ev.cb = conn_event;
		c->refcnt = 1;
		c->events = EPOLLIN;
		if (ev_add(&c->ev, EPOLLIN)) {
			close(fd);
			free(c->rbuf);
			free(c);
			continue;
		}
		c->next = g_conns;
		if (g_conns)
			g_conns->prev = c;
		g_conns = c;
		sheep_debug("accepted %s", c->peer);
	}
}

static void work_event(struct ev_handler *h, uint32_t events)
{
	sheep_work_run_done();
}

static void signal_event(struct ev_handler *h, uint32_t events)
{
	struct signalfd_siginfo si;

	while (read(h->fd, &si, sizeof(si)) == sizeof(si)) {
		sheep_info("signal %u received, exiting", si.ssi_signo);
		g_stop = 1;
	}
}

/* ---- set-up ---- */

static int listen_tcp(const char *addr, unsigned port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res, *ai;
	char serv[8];
	int fd = -1, r, one = 1;

	snprintf(serv, sizeof(serv), "%u", port);
	hints.ai_family = addr ? AF_UNSPEC : AF_INET6;
	r = getaddrinfo(addr, serv, &hints, &res);
	if (r && !addr) {
		hints.ai_family = AF_INET;
		r = getaddrinfo(NULL, serv, &hints, &res);
	}
	if (r) {
		sheep_err("cannot resolve bind address %s: %s", addr ? addr : "(any)",
			  gai_strerror(r));
		return -EINVAL;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6) {
			int zero = 0;

			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		}
		if (!bind(fd, ai->ai_addr, ai->ai_addrlen) && !listen(fd, 128)) {
			if (ai->ai_family == AF_INET) {
				struct sockaddr_in *sin = (struct sockaddr_in *)ai->ai_addr;

				memcpy(g_sheep.node_addr + 12, &sin->sin_addr, 4);
			} else {
				struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ai->ai_addr;

				memcpy(g_sheep.node_addr, &s6->sin6_addr, 16);
			}
			break;
		}
		r = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		sheep_err("cannot listen on %s port %u: %s", addr ? addr : "(any)", port,
			  strerror(r ? -r : EADDRNOTAVAIL));
		return r ? r : -EADDRNOTAVAIL;
	}
	/* a wildcard or IPv4-mapped address is reported as something reachable */
	{
		static const uint8_t zero12[12];
		uint8_t *a = g_sheep.node_addr;
		int v4 = !memcmp(a, zero12, 10) &&
			 ((a[10] == 0 && a[11] == 0) || (a[10] == 0xff && a[11] == 0xff));

		if (v4)
			memset(a, 0, 12);
		if (!memcmp(a, zero12, 12) && !a[12] && !a[13] && !a[14] && !a[15]) {
			a[12] = 127;
			a[15] = 1;
		}
	}
	g_sheep.node_port = (uint16_t)port;
	return fd;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		sheep_err("UNIX socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path); /* stale: we hold the store lock */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 128) < 0) {
		int r = -errno;

		sheep_err("cannot listen on %s: %s", path, strerror(-r));
		close(fd);
		return r;
	}
	return fd;
}

int sheep_event_init(const struct sheep_listen_opts *o)
{
	sigset_t set;
	int fd, i;

	g_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (g_epfd < 0)
		return -errno;
	fd = listen_tcp(o->bind_addr, o->port);
	if (fd < 0)
		return fd;
	g_listen[0].fd = fd;
	fd = listen_unix(o->unix_path);
	if (fd < 0)
		return fd;
	g_unix_path = o->unix_path;
	g_listen[1].fd = fd;
	for (i = 0; i < 2; i++) {
		g_listen[i].cb = accept_event;
		if (ev_add(&g_listen[i], EPOLLIN))
			return -errno;
	}
	/* signals arrive on the loop; block them before workers inherit the mask */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	g_sig_ev.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	g_sig_ev.cb = signal_event;
	if (g_sig_ev.fd < 0 || ev_add(&g_sig_ev, EPOLLIN))
		return -errno;
	fd = sheep_work_init(NR_WORKERS);
	if (fd < 0)
		return fd;
	g_work_ev.fd = fd;
	g_work_ev.cb = work_event;
	return ev_add(&g_work_ev, EPOLLIN);
}

void sheep_event_stop_listening(void)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (g_listen[i].fd < 0)
			continue;
		epoll_ctl(g_epfd, EPOLL_CTL_DEL, g_listen[i].fd, NULL);
		close(g_listen[i].fd);
		g_listen[i].fd = -1;
	}
	if (g_unix_path) {
		unlink(g_unix_path);
		g_unix_path = NULL;
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int replies_pending(void)
{
	struct sheep_conn *c;

	for (c = g_conns; c; c = c->next)
		if (c->sq_head)
			return 1;
	return 0;
}

int sheep_event_loop(void)
{
	int64_t deadline = 0;

	for (;;) {
		struct epoll_event evs[64];
		int i, n, timeout = -1;

		if (g_stop)
			break;
		if (__atomic_load_n(&g_sheep.shutting_down, __ATOMIC_ACQUIRE)) {
			if (!deadline) {
				sheep_event_stop_listening();
				deadline = now_ms() + SHUTDOWN_GRACE_MS;
			}
			if ((!g_inflight && !replies_pending()) || now_ms() > deadline)
				break;
			timeout = 100;
		}
		n = epoll_wait(g_epfd, evs, 64, timeout);
		if (n < 0 && errno != EINTR) {
			sheep_err("epoll_wait: %s", strerror(errno));
			return -1;
		}
		for (i = 0; i < n; i++) {
			struct ev_handler *h = evs[i].data.ptr;

			h->cb(h, evs[i].events);
		}
		flush_list_run();
	}
	/* orderly exit: no new input, let running work finish, drop replies */
	sheep_event_stop_listening();
	while (g_conns)
		conn_close(g_conns);
	sheep_work_exit();
	close(g_epfd);
	return 0;
}
