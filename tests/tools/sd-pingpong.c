// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd-pingpong: many small messages in flight over TCP, echoed back, to
 * measure a proxy (tests/tools/sd-proxy) or a link: messages per second and
 * round-trip times, with every echoed byte checked.
 *
 *   sd-pingpong echo --listen PORT [--host H]
 *       An echo server on H:PORT (default 127.0.0.1); prints "ready".
 *   sd-pingpong run --port PORT [--host H] [--conns N] [--window W]
 *                   [--size B] [--seconds S] [--timeout S]
 *       N connections (default 1), each keeping W messages of B bytes
 *       (defaults 1 and 64; B >= 24) in flight for S seconds (decimal,
 *       default 1), then waits for the last echoes.  A message carries its
 *       sequence number, its send time and bytes derived from both and the
 *       connection: every echo must be the next message of its connection,
 *       byte for byte, so loss, reordering or corruption is caught.  Prints
 *         messages=N seconds=X msgs_per_s=N rtt_us_min=.. rtt_us_avg=..
 *         rtt_us_p50=.. rtt_us_p99=.. rtt_us_max=..
 *       (percentiles with 1 us resolution below 100 ms).
 *
 * Exit status: 0 ok; 1 setup or other I/O error; 2 usage; 3 a connection
 * got EOF; 4 a connection was reset (ECONNRESET/EPIPE); 5 no echo for
 * --timeout seconds (default 10); 6 an echo differs from what was sent.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HIST_US	 100000 /* 1 us buckets up to 100 ms, then one overflow bucket */
#define ECHO_BUF 65536
#define MSG_MIN	 24

enum { EXIT_IO = 1, EXIT_USAGE = 2, EXIT_EOF = 3, EXIT_RESET = 4, EXIT_STALL = 5, EXIT_DATA = 6 };

static void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

static void die(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sd-pingpong: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(status);
}

static void usage(const char *why)
{
	if (why)
		fprintf(stderr, "sd-pingpong: %s\n", why);
	fprintf(stderr,
		"usage: sd-pingpong echo --listen PORT [--host H]\n"
		"       sd-pingpong run --port PORT [--host H] [--conns N] [--window W] [--size B] [--seconds S] [--timeout S]\n");
	exit(EXIT_USAGE);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned long num(const char *opt, const char *s, unsigned long lo, unsigned long hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "sd-pingpong: %s: expected %lu to %lu\n", opt, lo, hi);
		usage(NULL);
	}
	return v;
}

static double seconds(const char *opt, const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > 86400) {
		fprintf(stderr, "sd-pingpong: %s: expected seconds (e.g. 0.5)\n", opt);
		usage(NULL);
	}
	return v;
}

static struct addrinfo *resolve(const char *host, const char *port, bool passive)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0) },
			*res;
	int rc = getaddrinfo(host, port, &hints, &res);

	if (rc)
		die(EXIT_IO, "%s:%s: %s", host, port, gai_strerror(rc));
	return res;
}

static void epoll_set(int epfd, int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event e = { .events = events, .data.ptr = ptr };

	if (epoll_ctl(epfd, op, fd, &e))
		die(EXIT_IO, "epoll_ctl: %s", strerror(errno));
}

/* ---- echo server ---- */

struct echo_conn {
	int fd;
	size_t len, off; /* bytes in buf not yet echoed: buf[off, len) */
	unsigned char buf[ECHO_BUF];
};

static void echo_close(int epfd, struct echo_conn *c)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* Echo what is readable; while the peer does not take it all, stop reading. */
static void echo_event(int epfd, struct echo_conn *c, uint32_t events)
{
	for (;;) {
		ssize_t n;

		if (c->off < c->len) {
			n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				epoll_set(epfd, EPOLL_CTL_MOD, c->fd, EPOLLOUT, c);
				return;
			}
			if (n < 0) {
				echo_close(epfd, c);
				return;
			}
			c->off += (size_t)n;
			if (c->off < c->len)
				continue;
			c->off = c->len = 0;
			if (events & EPOLLOUT) {
				epoll_set(epfd, EPOLL_CTL_MOD, c->fd, EPOLLIN, c);
				events = EPOLLIN;
			}
		}
		n = recv(c->fd, c->buf, sizeof(c->buf), 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			echo_close(epfd, c);
			return;
		}
		c->len = (size_t)n;
	}
}

static int run_echo(const char *host, const char *port)
{
	struct addrinfo *a = resolve(host, port, true);
	int lfd, epfd, one = 1;

	lfd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die(EXIT_IO, "socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, a->ai_addr, a->ai_addrlen) || listen(lfd, 128))
		die(EXIT_IO, "cannot listen on %s:%s: %s", host, port, strerror(errno));
	freeaddrinfo(a);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die(EXIT_IO, "epoll_create1: %s", strerror(errno));
	epoll_set(epfd, EPOLL_CTL_ADD, lfd, EPOLLIN, NULL);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(epfd, evs, 64, -1), i;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die(EXIT_IO, "epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++) {
			struct echo_conn *c = evs[i].data.ptr;
			int fd;

			if (c) {
				echo_event(epfd, c, evs[i].events);
				continue;
			}
			while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
				c = calloc(1, sizeof(*c));
				if (!c)
					die(EXIT_IO, "out of memory");
				c->fd = fd;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				epoll_set(epfd, EPOLL_CTL_ADD, fd, EPOLLIN, c);
			}
		}
	}
}

/* ---- client ---- */

struct conn {
	int id, fd;
	uint64_t sent, recvd;
	uint64_t *stamp; /* send time of message seq, at stamp[seq % window] */
	unsigned char *out;
	size_t out_len, out_off;
	unsigned char *in;
	size_t in_len;
	bool want_out;
};

static struct {
	unsigned window;
	size_t size;
	uint32_t *hist;
	struct conn *conns; /* freed by exit */
	uint64_t over, rtt_min, rtt_max, rtt_sum, messages;
} g;

static void put64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/*
 * Byte i (>= MSG_MIN) of message seq of connection id is
 * 7 * (i + k) mod 256 with k = (seq * 31 + id * 13) * 183 (183 is 7's inverse
 * mod 256, so that is seq * 31 + id * 13 + 7 * i): a slice of one table, so
 * filling and checking a message is a memcpy and a memcmp.
 */
static unsigned char g_pattern[65536 + 256];

static void pattern_init(void)
{
	size_t j;

	for (j = 0; j < sizeof(g_pattern); j++)
		g_pattern[j] = (unsigned char)(7 * j);
}

static const unsigned char *msg_body(int id, uint64_t seq)
{
	unsigned k = (unsigned)(((seq * 31 + (uint64_t)id * 13) * 183) & 255);

	return g_pattern + k + MSG_MIN;
}

/* Message seq of connection id: seq, send time, id, then bytes derived from seq and id. */
static void msg_fill(unsigned char *m, int id, uint64_t seq, uint64_t t)
{
	put64(m, seq);
	put64(m + 8, t);
	put64(m + 16, (uint64_t)id);
	memcpy(m + MSG_MIN, msg_body(id, seq), g.size - MSG_MIN);
}

static int io_fail(struct conn *c, const char *what, int err)
{
	fprintf(stderr, "sd-pingpong: connection %d: %s: %s after %" PRIu64 " echoes\n", c->id,
		what, strerror(err), c->recvd);
	return err == ECONNRESET || err == EPIPE ? EXIT_RESET : EXIT_IO;
}

/* Send new messages up to the window (while sending), then what is pending. */
static int conn_send(struct conn *c, bool sending)
{
	if (sending && c->out_off == c->out_len) {
		uint64_t t = now_ns();

		c->out_off = c->out_len = 0;
		while (c->sent - c->recvd < g.window) {
			c->stamp[c->sent % g.window] = t;
			msg_fill(c->out + c->out_len, c->id, c->sent, t);
			c->out_len += g.size;
			c->sent++;
		}
	}
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->want_out = true;
			return 0;
		}
		if (n < 0)
			return io_fail(c, "send", errno);
		c->out_off += (size_t)n;
	}
	c->want_out = false;
	return 0;
}

static int conn_recv(struct conn *c)
{
	unsigned char head[MSG_MIN];
	size_t cap = (size_t)g.window * g.size, off = 0;
	ssize_t n = recv(c->fd, c->in + c->in_len, cap - c->in_len, 0);
	uint64_t now = now_ns();

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n < 0)
		return io_fail(c, "recv", errno);
	if (n == 0) {
		fprintf(stderr,
			"sd-pingpong: connection %d: EOF from the peer after %" PRIu64 " echoes\n",
			c->id, c->recvd);
		return EXIT_EOF;
	}
	c->in_len += (size_t)n;
	for (; c->in_len - off >= g.size; off += g.size) {
		const unsigned char *m = c->in + off;
		uint64_t seq = get64(m), t = c->stamp[c->recvd % g.window], rtt;

		if (c->recvd == c->sent) {
			fprintf(stderr, "sd-pingpong: connection %d: an echo of nothing sent\n",
				c->id);
			return EXIT_DATA;
		}
		put64(head, c->recvd);
		put64(head + 8, t);
		put64(head + 16, (uint64_t)c->id);
		if (memcmp(m, head, MSG_MIN) ||
		    memcmp(m + MSG_MIN, msg_body(c->id, c->recvd), g.size - MSG_MIN)) {
			fprintf(stderr,
				"sd-pingpong: connection %d: echo %" PRIu64
				" differs from message %" PRIu64 " (carries seq %" PRIu64 ")\n",
				c->id, c->recvd, c->recvd, seq);
			return EXIT_DATA;
		}
		c->recvd++;
		rtt = (now - t) / 1000;
		if (rtt < HIST_US)
			g.hist[rtt]++;
		else
			g.over++;
		if (!g.messages || rtt < g.rtt_min)
			g.rtt_min = rtt;
		if (rtt > g.rtt_max)
			g.rtt_max = rtt;
		g.rtt_sum += rtt;
		g.messages++;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	return 0;
}

static uint64_t percentile(double q)
{
	uint64_t want = (uint64_t)ceil(q * (double)g.messages), seen = 0;
	size_t i;

	for (i = 0; i < HIST_US; i++) {
		seen += g.hist[i];
		if (seen >= want && want)
			return i;
	}
	return g.rtt_max;
}

static int run_client(const char *host, const char *port, unsigned nconns, double secs,
		      double timeout)
{
	struct addrinfo *a = resolve(host, port, false);
	struct conn *conns = g.conns = calloc(nconns, sizeof(*conns));
	uint64_t start, end, last_progress, progress = 0;
	double elapsed;
	bool sending = true;
	int epfd = epoll_create1(EPOLL_CLOEXEC), one = 1, rc;
	unsigned i;

	pattern_init();
	g.hist = calloc(HIST_US, sizeof(*g.hist));
	if (!conns || !g.hist || epfd < 0)
		die(EXIT_IO, "out of memory or epoll: %s", strerror(errno));
	for (i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];

		c->id = (int)i;
		c->stamp = calloc(g.window, sizeof(*c->stamp));
		c->out = malloc((size_t)g.window * g.size);
		c->in = malloc((size_t)g.window * g.size);
		if (!c->stamp || !c->out || !c->in)
			die(EXIT_IO, "out of memory");
		c->fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0 || connect(c->fd, a->ai_addr, a->ai_addrlen))
			die(EXIT_IO, "cannot connect to %s:%s: %s", host, port, strerror(errno));
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (fcntl(c->fd, F_SETFL, O_NONBLOCK))
			die(EXIT_IO, "fcntl: %s", strerror(errno));
		epoll_set(epfd, EPOLL_CTL_ADD, c->fd, EPOLLIN, c);
	}
	freeaddrinfo(a);
	start = last_progress = now_ns();
	end = start + (uint64_t)(secs * 1e9);
	for (i = 0; i < nconns; i++) {
		rc = conn_send(&conns[i], true);
		if (rc)
			return rc;
		if (conns[i].want_out)
			epoll_set(epfd, EPOLL_CTL_MOD, conns[i].fd, EPOLLIN | EPOLLOUT, &conns[i]);
	}
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(epfd, evs, 64, 100), k;
		uint64_t now = now_ns(), inflight = 0;

		if (n < 0 && errno != EINTR)
			die(EXIT_IO, "epoll_wait: %s", strerror(errno));
		if (sending && now >= end)
			sending = false;
		for (k = 0; k < n; k++) {
			struct conn *c = evs[k].data.ptr;
			bool was_out = c->want_out;

			if (evs[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
				rc = conn_recv(c);
				if (rc)
					return rc;
			}
			rc = conn_send(c, sending);
			if (rc)
				return rc;
			if (c->want_out != was_out)
				epoll_set(epfd, EPOLL_CTL_MOD, c->fd,
					  EPOLLIN | (c->want_out ? EPOLLOUT : 0), c);
		}
		for (i = 0; i < nconns; i++)
			inflight += conns[i].sent - conns[i].recvd;
		if (g.messages != progress) {
			progress = g.messages;
			last_progress = now;
		}
		if (!sending && inflight == 0)
			break;
		if (now - last_progress > (uint64_t)(timeout * 1e9)) {
			fprintf(stderr, "sd-pingpong: no echo for %.1f s, %" PRIu64 " in flight\n",
				timeout, inflight);
			return EXIT_STALL;
		}
	}
	/* The rate over the sending period plus the drain of the last window. */
	elapsed = (double)(now_ns() - start) / 1e9;
	printf("messages=%" PRIu64 " seconds=%.3f msgs_per_s=%.0f rtt_us_min=%" PRIu64
	       " rtt_us_avg=%.0f rtt_us_p50=%" PRIu64 " rtt_us_p99=%" PRIu64 " rtt_us_max=%" PRIu64
	       "\n",
	       g.messages, elapsed, (double)g.messages / elapsed, g.rtt_min,
	       g.messages ? (double)g.rtt_sum / (double)g.messages : 0.0, percentile(0.5),
	       percentile(0.99), g.rtt_max);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "host", required_argument, NULL, 'H' },
		{ "conns", required_argument, NULL, 'c' },
		{ "window", required_argument, NULL, 'w' },
		{ "size", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "timeout", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	const char *mode, *host = "127.0.0.1", *listen_port = NULL, *port = NULL;
	unsigned conns = 1;
	double secs = 1, timeout = 10;
	int o;

	if (argc < 2)
		usage(NULL);
	mode = argv[1];
	g.window = 1;
	g.size = 64;
	optind = 2;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'l': listen_port = optarg; break;
		case 'p': port = optarg; break;
		case 'H': host = optarg; break;
		case 'c': conns = (unsigned)num("--conns", optarg, 1, 1024); break;
		case 'w': g.window = (unsigned)num("--window", optarg, 1, 4096); break;
		case 's': g.size = num("--size", optarg, MSG_MIN, 65536); break;
		case 'S': secs = seconds("--seconds", optarg); break;
		case 'T': timeout = seconds("--timeout", optarg); break;
		default: usage(NULL);
		}
	}
	if (optind < argc)
		usage("unexpected argument");
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(mode, "echo")) {
		if (!listen_port || port)
			usage("echo needs --listen PORT");
		return run_echo(host, listen_port);
	}
	if (!strcmp(mode, "run")) {
		if (!port || listen_port)
			usage("run needs --port PORT");
		return run_client(host, port, conns, secs, timeout);
	}
	usage("mode is echo or run");
}
