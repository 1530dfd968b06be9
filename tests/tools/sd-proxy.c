// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd-proxy: a TCP proxy for tests and benchmarks that adds a fixed one-way
 * delay to each direction and breaks connections on command.  This kernel
 * has no netem; the proxy stands in for a network between a gateway and a
 * sheep.
 *
 *   sd-proxy --listen [HOST:]PORT --target HOST:PORT [--delay MS]
 *            [--control PATH]
 *       Every client accepted on HOST:PORT (default host 127.0.0.1) gets its
 *       own connection to the target.  Bytes read from one side at time t
 *       are written to the other at t + MS milliseconds (decimal, e.g. 0.1),
 *       in order; each direction is delayed separately, so a round trip
 *       costs 2 * MS.  There is no throughput cap: every read is queued
 *       with its own due time.  At most 4 MiB wait toward one side: beyond
 *       that the other side is not read, so a slow receiver slows the sender
 *       (TCP back-pressure) instead of growing the proxy.  An EOF from one
 *       side becomes shutdown(SHUT_WR) toward the other once the bytes queued
 *       before it are written.  A target that cannot be reached resets the
 *       client's connection.  Prints "ready" on stdout once listening.
 *   sd-proxy --control PATH --send "CMD"
 *       Sends one command to a running proxy's control socket, prints the
 *       reply; exit 0 unless the reply is "error: ..." or the socket cannot
 *       be reached (1).
 *
 * Control commands (one per line on the UNIX socket PATH; each gets one
 * reply line):
 *   delay MS          the delay of chunks read from now on (earlier ones keep
 *                     theirs; a chunk never leaves before the one read before
 *                     it on the same direction)                 -> ok
 *   cut               every current connection pair: FIN to both sides now
 *                     (queued bytes are discarded), then whatever they still
 *                     send is read and dropped until they close  -> ok
 *   reset             every current connection pair: RST to both sides -> ok
 *   blackhole on|off  while on, every byte read from either side is dropped,
 *                     and so are the bytes queued when it is turned on (a
 *                     network that loses everything); an EOF is held until
 *                     off.  Connections stay open: after off, bytes read from
 *                     then on are forwarded again               -> ok
 *   refuse on|off     while on, new clients are accepted and reset at once
 *                                                               -> ok
 *   stats             one line: conns= accepted= refused= up_bytes=
 *                     down_bytes= up_chunks= down_chunks= dropped_bytes=
 *                     queued_bytes= delay_ms= blackhole= refuse=  ("up" is
 *                     client to target; a chunk is one read)
 *   anything else     -> error: ...
 *
 * One thread, one epoll loop, non-blocking sockets with TCP_NODELAY; a
 * CLOCK_MONOTONIC timerfd wakes the loop when the earliest queued chunk is
 * due (a min-heap of directions keyed by their first chunk's due time).
 * Killing the process closes every connection at once (a dead sheep);
 * SIGSTOP freezes it (a hung one).  SIGTERM and SIGINT reset every
 * connection (as `reset`), remove the control socket and exit 0.
 *
 * Exit status: 0 on SIGTERM/SIGINT, 1 on a runtime error (cannot bind...),
 * 2 on bad arguments.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_LIMIT	(4u << 20) /* bytes queued toward one side before its peer is not read */
#define READ_SIZE	65536
#define READS_PER_EVENT 16 /* then let other connections run */
#define MAX_IOV		64
#define MAX_DELAY_MS	60000.0
#define CTL_LINE_MAX	256
#define SEND_TIMEOUT_MS 10000
#define CUT_LINGER_NS	(5ull * 1000000000ull) /* a cut pair is closed this long after at most */

enum ev_kind { EV_LISTEN, EV_CTL_LISTEN, EV_CTL, EV_TIMER, EV_SIGNAL, EV_SIDE };

/* The first member of everything registered with epoll. */
struct ev {
	enum ev_kind kind;
};

/* Bytes read in one go, waiting for their due time. */
struct chunk {
	struct chunk *next;
	uint64_t due; /* CLOCK_MONOTONIC ns */
	size_t len, off;
	unsigned char data[];
};

struct pair;

/* One socket of a pair: side 0 is the client, side 1 the target. */
struct side {
	struct ev ev;
	struct pair *pair;
	int idx;
	int fd;
	uint32_t events; /* registered with epoll */
	bool in_epoll;
};

/* One direction: reads side `idx`, writes side 1 - idx. */
struct dir {
	struct pair *pair;
	int idx;
	struct chunk *head, *tail;
	size_t queued;
	bool eof;	  /* the source sent FIN */
	bool shut;	  /* shutdown(SHUT_WR) done on the destination */
	bool want_out;	  /* the destination's buffer is full: wait for EPOLLOUT */
	uint64_t eof_due; /* when the EOF may be forwarded (the delay applies to FIN too) */
	int heap_idx;	  /* in the timer heap, or -1 */
	uint64_t wake;	  /* heap key */
};

struct pair {
	struct pair *prev, *next;
	struct side side[2];
	struct dir dir[2]; /* dir[0]: client to target, dir[1]: target to client */
	bool connecting;
	bool dead; /* closed, freed at the end of the loop iteration */
	bool cut;  /* FIN sent to both: only reading and dropping until they close */
	uint64_t cut_deadline;
};

struct ctl {
	struct ev ev;
	int fd;
	size_t len;
	char buf[CTL_LINE_MAX];
};

static struct {
	int epfd, tfd, lfd, cfd, sfd;
	const char *ctl_path;
	struct addrinfo *target;
	uint64_t delay_ns;
	double delay_ms;
	bool blackhole, refuse;
	struct pair *pairs; /* live pairs, a doubly linked list */
	struct pair *dead;  /* closed pairs, linked by next */
	struct dir **heap;
	size_t heap_len, heap_cap;
	uint64_t armed; /* the timerfd's expiry, 0 when disarmed */
	/* stats */
	uint64_t conns, accepted, refused, bytes[2], chunks[2], dropped, queued;
} g = { .epfd = -1, .tfd = -1, .lfd = -1, .cfd = -1, .sfd = -1 };

static struct ev g_listen_ev = { EV_LISTEN }, g_ctl_listen_ev = { EV_CTL_LISTEN },
		 g_timer_ev = { EV_TIMER }, g_signal_ev = { EV_SIGNAL };

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void vlogmsg(const char *fmt, va_list ap)
{
	fprintf(stderr, "sd-proxy: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlogmsg(fmt, ap);
	va_end(ap);
	if (g.ctl_path && g.cfd >= 0)
		unlink(g.ctl_path);
	exit(1);
}

static void logmsg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlogmsg(fmt, ap);
	va_end(ap);
}

static void usage(const char *why, int status)
{
	FILE *f = status ? stderr : stdout;

	if (why)
		fprintf(stderr, "sd-proxy: %s\n", why);
	fprintf(f,
		"usage: sd-proxy --listen [HOST:]PORT --target HOST:PORT [--delay MS] [--control PATH]\n"
		"       sd-proxy --control PATH --send \"delay MS|cut|reset|blackhole on|off|refuse on|off|stats\"\n");
	exit(status);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A delay in milliseconds: decimal, 0 to MAX_DELAY_MS.  0 or -EINVAL. */
static int parse_delay(const char *s, double *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < 0 || v > MAX_DELAY_MS)
		return -EINVAL;
	*ms = v;
	return 0;
}

static void set_delay(double ms)
{
	g.delay_ms = ms;
	g.delay_ns = (uint64_t)llround(ms * 1e6);
}

/*
 * Splits "HOST:PORT", "[V6]:PORT" or (when default_host is set) "PORT" and
 * resolves it.  Returns NULL with *why set on error.
 */
static struct addrinfo *resolve(const char *spec, const char *default_host, bool passive,
				const char **why)
{
	char host[256], *port;
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	char *end;
	unsigned long p;
	size_t hl;
	int rc;

	if (!colon) {
		if (!default_host) {
			*why = "expected HOST:PORT";
			return NULL;
		}
		snprintf(host, sizeof(host), "%s", default_host);
		port = (char *)spec;
	} else {
		hl = (size_t)(colon - spec);
		if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
			spec++;
			hl -= 2;
		}
		if (hl == 0 || hl >= sizeof(host)) {
			*why = "bad host";
			return NULL;
		}
		memcpy(host, spec, hl);
		host[hl] = '\0';
		port = (char *)colon + 1;
	}
	errno = 0;
	p = strtoul(port, &end, 10);
	if (errno || end == port || *end || p == 0 || p > 65535) {
		*why = "bad port (1-65535)";
		return NULL;
	}
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc) {
		*why = gai_strerror(rc);
		return NULL;
	}
	return res;
}

static void set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Close so that the peer gets RST, not FIN. */
static void close_rst(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* ---- the timer heap: directions whose first chunk is not yet due ---- */

static void heap_swap(size_t a, size_t b)
{
	struct dir *t = g.heap[a];

	g.heap[a] = g.heap[b];
	g.heap[b] = t;
	g.heap[a]->heap_idx = (int)a;
	g.heap[b]->heap_idx = (int)b;
}

static void heap_up(size_t i)
{
	while (i > 0 && g.heap[(i - 1) / 2]->wake > g.heap[i]->wake) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < g.heap_len && g.heap[l]->wake < g.heap[m]->wake)
			m = l;
		if (r < g.heap_len && g.heap[r]->wake < g.heap[m]->wake)
			m = r;
		if (m == i)
			return;
		heap_swap(i, m);
		i = m;
	}
}

static void heap_remove(struct dir *d)
{
	size_t i = (size_t)d->heap_idx;

	if (d->heap_idx < 0)
		return;
	d->heap_idx = -1;
	g.heap_len--;
	if (i == g.heap_len)
		return;
	g.heap[i] = g.heap[g.heap_len];
	g.heap[i]->heap_idx = (int)i;
	heap_up(i);
	heap_down((size_t)g.heap[i]->heap_idx);
}

static void heap_schedule(struct dir *d, uint64_t wake)
{
	if (d->heap_idx >= 0) {
		d->wake = wake;
		heap_up((size_t)d->heap_idx);
		heap_down((size_t)d->heap_idx);
		return;
	}
	if (g.heap_len == g.heap_cap) {
		size_t cap = g.heap_cap ? 2 * g.heap_cap : 64;
		struct dir **h = realloc(g.heap, cap * sizeof(*h));

		if (!h)
			die("out of memory");
		g.heap = h;
		g.heap_cap = cap;
	}
	d->wake = wake;
	d->heap_idx = (int)g.heap_len;
	g.heap[g.heap_len++] = d;
	heap_up((size_t)d->heap_idx);
}

/* Arm the timerfd for the earliest wake-up, if it changed. */
static void timer_arm(void)
{
	uint64_t want = g.heap_len ? g.heap[0]->wake : 0;
	struct itimerspec its = { 0 };

	if (want == g.armed)
		return;
	if (want) {
		its.it_value.tv_sec = (time_t)(want / 1000000000ull);
		its.it_value.tv_nsec = (long)(want % 1000000000ull);
	}
	if (timerfd_settime(g.tfd, TFD_TIMER_ABSTIME, &its, NULL))
		die("timerfd_settime: %s", strerror(errno));
	g.armed = want;
}

/* ---- pairs ---- */

static void side_update(struct side *s);

static void chunks_free(struct dir *d)
{
	struct chunk *c, *n;

	for (c = d->head; c; c = n) {
		n = c->next;
		free(c);
	}
	g.queued -= d->queued;
	d->head = d->tail = NULL;
	d->queued = 0;
}

/* Close both sockets (RST when rst) and free the pair at the end of the iteration. */
static void pair_close(struct pair *p, bool rst)
{
	int i;

	if (p->dead)
		return;
	p->dead = true;
	for (i = 0; i < 2; i++) {
		heap_remove(&p->dir[i]);
		chunks_free(&p->dir[i]);
		if (p->side[i].fd >= 0) {
			if (p->side[i].in_epoll)
				epoll_ctl(g.epfd, EPOLL_CTL_DEL, p->side[i].fd, NULL);
			if (rst)
				close_rst(p->side[i].fd);
			else
				close(p->side[i].fd);
			p->side[i].fd = -1;
		}
	}
	if (p->prev)
		p->prev->next = p->next;
	else
		g.pairs = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = NULL;
	p->next = g.dead;
	g.dead = p;
	g.conns--;
}

static void pairs_reap(void)
{
	struct pair *p;

	while ((p = g.dead)) {
		g.dead = p->next;
		free(p);
	}
}

/*
 * The epoll interest of a side: read while its direction may queue more,
 * write while the direction toward it waits for room (or the target
 * connects).  A side with nothing left to read or write leaves epoll:
 * its EPOLLHUP would otherwise be reported on every wait.
 */
static void side_update(struct side *s)
{
	struct pair *p = s->pair;
	struct dir *rd = &p->dir[s->idx], *wr = &p->dir[1 - s->idx];
	struct epoll_event e = { .data.ptr = &s->ev };
	uint32_t ev = 0;

	if (p->dead)
		return;
	if (p->cut) {
		ev = rd->eof ? 0 : EPOLLIN;
	} else {
		if (!rd->eof && rd->queued < QUEUE_LIMIT)
			ev |= EPOLLIN;
		if (wr->want_out || (s->idx == 1 && p->connecting))
			ev |= EPOLLOUT;
	}
	if (rd->eof && (wr->shut || p->cut)) {
		if (s->in_epoll) {
			epoll_ctl(g.epfd, EPOLL_CTL_DEL, s->fd, NULL);
			s->in_epoll = false;
		}
		return;
	}
	if (s->in_epoll && ev == s->events)
		return;
	e.events = ev;
	if (epoll_ctl(g.epfd, s->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s->fd, &e))
		die("epoll_ctl: %s", strerror(errno));
	s->in_epoll = true;
	s->events = ev;
}

static void pair_update(struct pair *p)
{
	side_update(&p->side[0]);
	side_update(&p->side[1]);
}

/* Both directions ended with FIN forwarded, or a cut pair heard EOF from both: close it. */
static bool pair_finished(struct pair *p)
{
	if (p->dead)
		return true;
	if ((p->cut && p->dir[0].eof && p->dir[1].eof) || (p->dir[0].shut && p->dir[1].shut)) {
		pair_close(p, false);
		return true;
	}
	return false;
}

/*
 * Writes the due chunks of d to its destination, in order, several per
 * writev; forwards a pending EOF once the queue is empty; schedules the
 * timer for the next chunk that is not yet due.
 */
static void dir_flush(struct dir *d)
{
	struct pair *p = d->pair;
	int to = p->side[1 - d->idx].fd;
	struct iovec iov[MAX_IOV];
	uint64_t now;

	if (p->dead)
		return;
	if (p->cut) {
		if (now_ns() >= p->cut_deadline)
			pair_close(p, false);
		else
			heap_schedule(&p->dir[0], p->cut_deadline);
		return;
	}
	if ((d->idx == 0 && p->connecting) || d->want_out)
		return;
	now = now_ns();
	while (d->head && d->head->due <= now) {
		struct chunk *c = d->head;
		size_t total = 0;
		int n = 0;
		ssize_t w;
		size_t wrote;
		struct msghdr mh = { .msg_iov = iov };

		for (; c && c->due <= now && n < MAX_IOV; c = c->next, n++) {
			iov[n].iov_base = c->data + c->off;
			iov[n].iov_len = c->len - c->off;
			total += iov[n].iov_len;
		}
		mh.msg_iovlen = (size_t)n;
		w = sendmsg(to, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				d->want_out = true;
				break;
			}
			/* The destination is gone: the source learns it as a reset. */
			pair_close(p, true);
			return;
		}
		wrote = (size_t)w;
		g.bytes[d->idx] += wrote;
		d->queued -= wrote;
		g.queued -= wrote;
		while (w > 0) {
			c = d->head;
			size_t left = c->len - c->off;

			if ((size_t)w < left) {
				c->off += (size_t)w;
				break;
			}
			w -= (ssize_t)left;
			d->head = c->next;
			free(c);
		}
		if (!d->head)
			d->tail = NULL;
		if (wrote < total) {
			/* A short write: the socket buffer is full. */
			d->want_out = true;
			break;
		}
	}
	if (d->head && !d->want_out && d->head->due > now)
		heap_schedule(d, d->head->due);
	else if (!d->head && d->eof && !d->shut && d->eof_due > now)
		heap_schedule(d, d->eof_due);
	else
		heap_remove(d);
	if (!d->head && d->eof && !d->shut && d->eof_due <= now && !g.blackhole) {
		shutdown(to, SHUT_WR);
		d->shut = true;
	}
	if (pair_finished(p))
		return;
	pair_update(p);
}

/* Queue n bytes read from d's source now, forwarding at once when nothing waits. */
static void dir_push(struct dir *d, const unsigned char *buf, size_t n, uint64_t now)
{
	struct pair *p = d->pair;
	uint64_t due = now + g.delay_ns;
	struct chunk *c;

	g.chunks[d->idx]++;
	if (!d->head && g.delay_ns == 0 && !d->want_out && !(d->idx == 0 && p->connecting)) {
		ssize_t w = send(p->side[1 - d->idx].fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			pair_close(p, true);
			return;
		}
		if (w > 0) {
			g.bytes[d->idx] += (uint64_t)w;
			buf += w;
			n -= (size_t)w;
		}
		if (n == 0)
			return;
		d->want_out = true;
	}
	/* Never before the chunk read earlier (the delay may have shrunk). */
	if (d->tail && d->tail->due > due)
		due = d->tail->due;
	c = malloc(sizeof(*c) + n);
	if (!c)
		die("out of memory");
	c->next = NULL;
	c->due = due;
	c->len = n;
	c->off = 0;
	memcpy(c->data, buf, n);
	if (d->tail)
		d->tail->next = c;
	else
		d->head = c;
	d->tail = c;
	d->queued += n;
	g.queued += n;
	if (d->head == c && !d->want_out)
		dir_flush(d);
}

/*
 * Reads d's source.  With hup the peer has closed both ways: read what it
 * sent regardless of the queue limit (bounded by its socket buffer), or
 * its EPOLLHUP would be reported again and again.
 */
static void dir_read(struct dir *d, bool hup)
{
	static unsigned char buf[READ_SIZE];
	struct pair *p = d->pair;
	int fd = p->side[d->idx].fd;
	int i;

	for (i = 0; (i < READS_PER_EVENT || hup) && !p->dead && !d->eof; i++) {
		ssize_t n;

		if (!hup && !p->cut && d->queued >= QUEUE_LIMIT)
			break;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			if (g.blackhole || p->cut) {
				g.dropped += (uint64_t)n;
				continue;
			}
			dir_push(d, buf, (size_t)n, now_ns());
		} else if (n == 0) {
			d->eof = true;
			d->eof_due = now_ns() + g.delay_ns;
			if (d->tail && d->tail->due > d->eof_due)
				d->eof_due = d->tail->due;
			if (p->cut)
				pair_finished(p);
			else
				dir_flush(d);
		} else if (errno == EINTR) {
			continue;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			break;
		} else {
			/* The source reset or failed: so does its peer. */
			pair_close(p, true);
			return;
		}
	}
	if (!p->dead)
		pair_update(p);
}

static void pair_connected(struct pair *p)
{
	p->connecting = false;
	dir_flush(&p->dir[0]);
	if (!p->dead)
		pair_update(p);
}

static void side_event(struct side *s, uint32_t events)
{
	struct pair *p = s->pair;
	int err = 0;
	socklen_t len = sizeof(err);

	if (p->dead)
		return;
	if (s->idx == 1 && p->connecting) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			logmsg("cannot connect to the target: %s; resetting the client",
			       strerror(err));
			pair_close(p, true);
			return;
		}
		pair_connected(p);
		return;
	}
	if (events & EPOLLERR) {
		pair_close(p, true);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP))
		dir_read(&p->dir[s->idx], (events & EPOLLHUP) != 0);
	if (p->dead)
		return;
	if (events & EPOLLOUT) {
		struct dir *d = &p->dir[1 - s->idx];

		d->want_out = false;
		dir_flush(d);
	}
}

static void on_accept(void)
{
	for (;;) {
		int c = accept4(g.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), u, i;
		struct pair *p;

		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				logmsg("accept: %s", strerror(errno));
			return;
		}
		g.accepted++;
		if (g.refuse) {
			g.refused++;
			close_rst(c);
			continue;
		}
		u = socket(g.target->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (u < 0) {
			logmsg("socket: %s", strerror(errno));
			close_rst(c);
			continue;
		}
		set_nodelay(c);
		set_nodelay(u);
		p = calloc(1, sizeof(*p));
		if (!p)
			die("out of memory");
		for (i = 0; i < 2; i++) {
			p->side[i].ev.kind = EV_SIDE;
			p->side[i].pair = p;
			p->side[i].idx = i;
			p->dir[i].pair = p;
			p->dir[i].idx = i;
			p->dir[i].heap_idx = -1;
		}
		p->side[0].fd = c;
		p->side[1].fd = u;
		p->next = g.pairs;
		if (g.pairs)
			g.pairs->prev = p;
		g.pairs = p;
		g.conns++;
		if (connect(u, g.target->ai_addr, g.target->ai_addrlen) == 0) {
			pair_update(p);
		} else if (errno == EINPROGRESS) {
			p->connecting = true;
			pair_update(p);
		} else {
			logmsg("cannot connect to the target: %s; resetting the client",
			       strerror(errno));
			pair_close(p, true);
		}
	}
}

static void on_timer(void)
{
	uint64_t ticks, now;

	if (read(g.tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		die("timerfd read: %s", strerror(errno));
	g.armed = 0; /* expired (or about to be re-armed) */
	now = now_ns();
	while (g.heap_len && g.heap[0]->wake <= now) {
		struct dir *d = g.heap[0];

		heap_remove(d);
		dir_flush(d);
	}
}

/* ---- control ---- */

static void all_pairs(void (*fn)(struct pair *))
{
	struct pair *p, *n;

	for (p = g.pairs; p; p = n) {
		n = p->next;
		fn(p);
	}
}

static void do_reset(struct pair *p)
{
	pair_close(p, true);
}

static void do_cut(struct pair *p)
{
	int i;

	if (p->cut)
		return;
	if (p->connecting) {
		pair_close(p, false);
		return;
	}
	p->cut = true;
	p->cut_deadline = now_ns() + CUT_LINGER_NS;
	for (i = 0; i < 2; i++) {
		heap_remove(&p->dir[i]);
		chunks_free(&p->dir[i]);
		p->dir[i].want_out = false;
		shutdown(p->side[i].fd, SHUT_WR);
	}
	/* Drop whatever they still send until both close (EOF), or the deadline. */
	heap_schedule(&p->dir[0], p->cut_deadline);
	if (!pair_finished(p))
		pair_update(p);
}

static void do_blackhole_on(struct pair *p)
{
	int i;

	for (i = 0; i < 2; i++) {
		g.dropped += p->dir[i].queued;
		heap_remove(&p->dir[i]);
		chunks_free(&p->dir[i]);
	}
}

static void do_blackhole_off(struct pair *p)
{
	if (p->cut)
		return;
	dir_flush(&p->dir[0]);
	if (!p->dead)
		dir_flush(&p->dir[1]);
}

static int on_off(const char *arg, bool *v)
{
	if (!strcmp(arg, "on"))
		*v = true;
	else if (!strcmp(arg, "off"))
		*v = false;
	else
		return -EINVAL;
	return 0;
}

/* Runs one control command; writes the reply line (no newline) into out. */
static void ctl_command(char *line, char *out, size_t outlen)
{
	char *cmd = strtok(line, " \t\r"), *arg = strtok(NULL, " \t\r"),
	     *extra = strtok(NULL, " \t\r");
	double ms;
	bool v;

	if (!cmd) {
		snprintf(out, outlen, "error: empty command");
		return;
	}
	if (!strcmp(cmd, "delay")) {
		if (!arg || extra || parse_delay(arg, &ms)) {
			snprintf(out, outlen, "error: usage: delay MS (0 to %.0f, decimal)",
				 MAX_DELAY_MS);
			return;
		}
		set_delay(ms);
	} else if (!strcmp(cmd, "cut") || !strcmp(cmd, "reset") || !strcmp(cmd, "stats")) {
		if (arg) {
			snprintf(out, outlen, "error: %s takes no argument", cmd);
			return;
		}
		if (!strcmp(cmd, "stats")) {
			snprintf(out, outlen,
				 "conns=%" PRIu64 " accepted=%" PRIu64 " refused=%" PRIu64
				 " up_bytes=%" PRIu64 " down_bytes=%" PRIu64 " up_chunks=%" PRIu64
				 " down_chunks=%" PRIu64 " dropped_bytes=%" PRIu64
				 " queued_bytes=%" PRIu64 " delay_ms=%g blackhole=%s refuse=%s",
				 g.conns, g.accepted, g.refused, g.bytes[0], g.bytes[1],
				 g.chunks[0], g.chunks[1], g.dropped, g.queued, g.delay_ms,
				 g.blackhole ? "on" : "off", g.refuse ? "on" : "off");
			return;
		}
		all_pairs(!strcmp(cmd, "cut") ? do_cut : do_reset);
	} else if (!strcmp(cmd, "blackhole") || !strcmp(cmd, "refuse")) {
		if (!arg || extra || on_off(arg, &v)) {
			snprintf(out, outlen, "error: usage: %s on|off", cmd);
			return;
		}
		if (!strcmp(cmd, "refuse")) {
			g.refuse = v;
		} else if (v != g.blackhole) {
			g.blackhole = v;
			all_pairs(v ? do_blackhole_on : do_blackhole_off);
		}
	} else {
		snprintf(out, outlen, "error: unknown command '%s'", cmd);
		return;
	}
	snprintf(out, outlen, "ok");
}

static void ctl_close(struct ctl *c)
{
	epoll_ctl(g.epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

static void on_ctl(struct ctl *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
		char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* EOF: a last line without a newline still counts. */
			if (n == 0 && c->len > 0 && c->len < sizeof(c->buf)) {
				c->buf[c->len++] = '\n';
				n = 0;
			} else {
				ctl_close(c);
				return;
			}
		}
		c->len += (size_t)n;
		while ((nl = memchr(c->buf, '\n', c->len))) {
			char reply[512];
			size_t used = (size_t)(nl - c->buf) + 1;

			*nl = '\0';
			ctl_command(c->buf, reply, sizeof(reply) - 1);
			strcat(reply, "\n");
			/* Replies are short: a fresh UNIX socket always has room. */
			if (send(c->fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
				ctl_close(c);
				return;
			}
			memmove(c->buf, c->buf + used, c->len - used);
			c->len -= used;
		}
		if (c->len == sizeof(c->buf)) {
			send(c->fd, "error: line too long\n", 21, MSG_NOSIGNAL | MSG_DONTWAIT);
			ctl_close(c);
			return;
		}
	}
}

static void on_ctl_accept(void)
{
	for (;;) {
		int fd = accept4(g.cfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ctl *c;
		struct epoll_event e = { .events = EPOLLIN };

		if (fd < 0)
			return;
		c = calloc(1, sizeof(*c));
		if (!c)
			die("out of memory");
		c->ev.kind = EV_CTL;
		c->fd = fd;
		e.data.ptr = &c->ev;
		if (epoll_ctl(g.epfd, EPOLL_CTL_ADD, fd, &e))
			die("epoll_ctl: %s", strerror(errno));
	}
}

/* ---- setup ---- */

static void epoll_add(int fd, struct ev *ev)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = ev };

	if (epoll_ctl(g.epfd, EPOLL_CTL_ADD, fd, &e))
		die("epoll_ctl: %s", strerror(errno));
}

static int listen_tcp(const char *spec)
{
	const char *why;
	struct addrinfo *a = resolve(spec, "127.0.0.1", true, &why);
	int fd, one = 1;

	if (!a) {
		fprintf(stderr, "sd-proxy: --listen %s: %s\n", spec, why);
		usage(NULL, 2);
	}
	fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, a->ai_addr, a->ai_addrlen))
		die("cannot bind %s: %s", spec, strerror(errno));
	if (listen(fd, 128))
		die("cannot listen on %s: %s", spec, strerror(errno));
	freeaddrinfo(a);
	return fd;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		die("control socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	/* A socket left by an earlier, killed proxy; anything else is kept. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("cannot bind control socket %s: %s", path, strerror(errno));
	if (listen(fd, 16))
		die("cannot listen on control socket %s: %s", path, strerror(errno));
	return fd;
}

/* --send: one command, print the reply. */
static int send_command(const char *path, const char *cmd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char reply[1024];
	size_t len = 0;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "sd-proxy: control socket path too long: %s\n", path);
		return 1;
	}
	if (strchr(cmd, '\n')) {
		fprintf(stderr, "sd-proxy: one command per --send\n");
		return 2;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "sd-proxy: cannot connect to control socket %s: %s\n", path,
			strerror(errno));
		return 1;
	}
	if (dprintf(fd, "%s\n", cmd) < 0 || shutdown(fd, SHUT_WR)) {
		fprintf(stderr, "sd-proxy: cannot send to %s: %s\n", path, strerror(errno));
		return 1;
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, SEND_TIMEOUT_MS) <= 0) {
			fprintf(stderr, "sd-proxy: no reply from %s\n", path);
			return 1;
		}
		n = read(fd, reply + len, sizeof(reply) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(reply) - 1)
			break;
	}
	close(fd);
	reply[len] = '\0';
	if (len == 0) {
		fprintf(stderr, "sd-proxy: empty reply from %s\n", path);
		return 1;
	}
	fputs(reply, stdout);
	if (reply[len - 1] != '\n')
		putchar('\n');
	return strncmp(reply, "error", 5) ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "target", required_argument, NULL, 't' },
		{ "delay", required_argument, NULL, 'd' },
		{ "control", required_argument, NULL, 'c' },
		{ "send", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_spec = NULL, *target_spec = NULL, *send_cmd = NULL, *why;
	double ms = 0;
	bool have_delay = false;
	sigset_t sigs;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'l': listen_spec = optarg; break;
		case 't': target_spec = optarg; break;
		case 'c': g.ctl_path = optarg; break;
		case 's': send_cmd = optarg; break;
		case 'd':
			if (parse_delay(optarg, &ms))
				usage("--delay: expected milliseconds, 0 to 60000 (e.g. 0.5)", 2);
			have_delay = true;
			break;
		case 'h': usage(NULL, 0); break;
		default: usage(NULL, 2);
		}
	}
	if (optind < argc)
		usage("unexpected argument", 2);
	if (send_cmd) {
		if (!g.ctl_path || listen_spec || target_spec || have_delay)
			usage("--send takes only --control PATH", 2);
		return send_command(g.ctl_path, send_cmd);
	}
	if (!listen_spec || !target_spec)
		usage("--listen and --target are required", 2);
	g.target = resolve(target_spec, NULL, false, &why);
	if (!g.target) {
		fprintf(stderr, "sd-proxy: --target %s: %s\n", target_spec, why);
		usage(NULL, 2);
	}
	set_delay(ms);

	signal(SIGPIPE, SIG_IGN);
	/*
	 * Delayed bytes live in one malloc'd chunk per read (up to 64 KiB) and
	 * the queues drain and refill all the time: without these glibc gives
	 * the top of the heap back after each drain and every new chunk
	 * page-faults its memory in again, which made the proxy CPU-bound at
	 * a tenth of its delay-0 rate.
	 */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	/* Wake-ups at the due time, not up to 50 us later. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);

	g.epfd = epoll_create1(EPOLL_CLOEXEC);
	g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	g.sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (g.epfd < 0 || g.tfd < 0 || g.sfd < 0)
		die("epoll/timerfd/signalfd: %s", strerror(errno));
	g.lfd = listen_tcp(listen_spec);
	epoll_add(g.lfd, &g_listen_ev);
	epoll_add(g.tfd, &g_timer_ev);
	epoll_add(g.sfd, &g_signal_ev);
	if (g.ctl_path) {
		g.cfd = listen_unix(g.ctl_path);
		epoll_add(g.cfd, &g_ctl_listen_ev);
	}
	printf("ready\n");
	fflush(stdout);

	for (;;) {
		struct epoll_event evs[64];
		int n, i;

		timer_arm();
		n = epoll_wait(g.epfd, evs, 64, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (i = 0; i < n; i++) {
			struct ev *ev = evs[i].data.ptr;

			switch (ev->kind) {
			case EV_LISTEN: on_accept(); break;
			case EV_CTL_LISTEN: on_ctl_accept(); break;
			case EV_CTL: on_ctl((struct ctl *)ev); break;
			case EV_TIMER: on_timer(); break;
			case EV_SIDE: side_event((struct side *)ev, evs[i].events); break;
			case EV_SIGNAL:
				/* A proxy that is told to go resets what it carries. */
				all_pairs(do_reset);
				pairs_reap();
				if (g.ctl_path)
					unlink(g.ctl_path);
				return 0;
			}
		}
		pairs_reap();
	}
}
