// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "fullio.h"
#include "net.h"

static int copy_str(char *dst, size_t size, const char *src, size_t len)
{
	if (len >= size)
		return -1;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

static int parse_port(const char *s, unsigned *port)
{
	char *end;
	unsigned long v;

	if (!*s)
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > 65535 || *s == '-' || *s == '+')
		return -1;
	*port = (unsigned)v;
	return 0;
}

int sdc_parse_addr(const char *s, struct sdc_addr *a, const char **why)
{
	const char *colon;
	const char *dummy;

	if (!why)
		why = &dummy;
	memset(a, 0, sizeof(*a));
	if (!s || !*s) {
		*why = "empty address";
		return -EINVAL;
	}
	if (!strncmp(s, "unix:", 5) || s[0] == '/') {
		const char *p = s[0] == '/' ? s : s + 5;

		a->is_unix = 1;
		if (!*p) {
			*why = "empty UNIX socket path";
			return -EINVAL;
		}
		if (copy_str(a->path, sizeof(a->path), p, strlen(p))) {
			*why = "UNIX socket path too long";
			return -EINVAL;
		}
		return 0;
	}
	a->port = SD_LISTEN_PORT;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb == s + 1) {
			*why = "unterminated '[' in address";
			return -EINVAL;
		}
		if (copy_str(a->host, sizeof(a->host), s + 1, (size_t)(rb - s - 1))) {
			*why = "host name too long";
			return -EINVAL;
		}
		if (rb[1] == '\0')
			return 0;
		if (rb[1] != ':' || parse_port(rb + 2, &a->port)) {
			*why = "bad port";
			return -EINVAL;
		}
		return 0;
	}
	colon = strchr(s, ':');
	if (colon && strchr(colon + 1, ':')) {
		*why = "IPv6 addresses must be written as [addr]:port";
		return -EINVAL;
	}
	if (copy_str(a->host, sizeof(a->host), s, colon ? (size_t)(colon - s) : strlen(s)) ||
	    !a->host[0]) {
		*why = a->host[0] ? "host name too long" : "empty host name";
		return -EINVAL;
	}
	if (colon && parse_port(colon + 1, &a->port)) {
		*why = "bad port";
		return -EINVAL;
	}
	return 0;
}

int sdc_parse_addr_list(const char *s, struct sdc_addr *a, int max, const char **why)
{
	char item[400];
	const char *dummy;
	int n = 0, ret;

	if (!why)
		why = &dummy;
	if (!s || !*s) {
		*why = "empty address";
		return -EINVAL;
	}
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);

		if (!len) {
			*why = "empty address in list";
			return -EINVAL;
		}
		if (n == max) {
			*why = "too many addresses";
			return -EINVAL;
		}
		if (copy_str(item, sizeof(item), s, len)) {
			*why = "address too long";
			return -EINVAL;
		}
		ret = sdc_parse_addr(item, &a[n], why);
		if (ret)
			return ret;
		n++;
		if (!comma)
			return n;
		s = comma + 1;
	}
}

void sdc_addr_str(const struct sdc_addr *a, char *buf, size_t len)
{
	if (a->is_unix)
		snprintf(buf, len, "unix:%s", a->path);
	else if (strchr(a->host, ':'))
		snprintf(buf, len, "[%s]:%u", a->host, a->port);
	else
		snprintf(buf, len, "%s:%u", a->host, a->port);
}

int sdc_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* Non-blocking connect bounded by timeout_ms; the fd is left blocking. */
static int connect_one(int fd, const struct sockaddr *sa, socklen_t salen, int timeout_ms)
{
	int fl = fcntl(fd, F_GETFL), err = 0;
	socklen_t elen = sizeof(err);
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int r;

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	if (connect(fd, sa, salen) < 0) {
		if (errno != EINPROGRESS)
			return -errno;
		do
			r = poll(&pfd, 1, timeout_ms);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			return -errno;
		if (err)
			return -err;
	}
	if (fcntl(fd, F_SETFL, fl) < 0)
		return -errno;
	return 0;
}

/* A literal address in host: filled without any lookup.  1, or 0 if not one. */
static int resolve_literal(const struct sdc_addr *a, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, a->host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)a->port);
		*len = sizeof(*in);
		return 1;
	}
	if (inet_pton(AF_INET6, a->host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)a->port);
		*len = sizeof(*in6);
		return 1;
	}
	return 0;
}

int sdc_resolve(const struct sdc_addr *a, struct sockaddr_storage *sa, socklen_t *salen, int max)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char port[8];
	int ret, n = 0;

	if (max < 1)
		return -EINVAL;
	if (a->is_unix) {
		struct sockaddr_un *un = (struct sockaddr_un *)&sa[0];

		memset(un, 0, sizeof(*un));
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, a->path, strlen(a->path) + 1);
		salen[0] = sizeof(*un);
		return 1;
	}
	if (resolve_literal(a, &sa[0], &salen[0]))
		return 1;
	snprintf(port, sizeof(port), "%u", a->port);
	/* other numeric forms (127.1, fe80::1%eth0) still without DNS */
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	ret = getaddrinfo(a->host, port, &hints, &res);
	if (ret == EAI_NONAME) {
		hints.ai_flags = AI_NUMERICSERV;
		ret = getaddrinfo(a->host, port, &hints, &res);
	}
	if (ret == EAI_SYSTEM)
		return errno ? -errno : -EHOSTUNREACH;
	if (ret == EAI_AGAIN)
		return -EAGAIN;
	if (ret == EAI_MEMORY)
		return -ENOMEM;
	if (ret)
		return -EHOSTUNREACH;
	for (ai = res; ai && n < max; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(sa[0]))
			continue;
		memcpy(&sa[n], ai->ai_addr, ai->ai_addrlen);
		salen[n++] = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	return n ? n : -EHOSTUNREACH;
}

int sdc_connect(const struct sdc_addr *a, int timeout_ms)
{
	struct sockaddr_storage sa[8];
	socklen_t salen[8];
	int fd, i, n, ret = -EHOSTUNREACH, one = 1;

	n = sdc_resolve(a, sa, salen, 8);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		int family = ((struct sockaddr *)&sa[i])->sa_family;

		fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			ret = -errno;
			continue;
		}
		ret = connect_one(fd, (struct sockaddr *)&sa[i], salen[i], timeout_ms);
		if (!ret) {
			if (family != AF_UNIX) {
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
			}
			return fd;
		}
		close(fd);
	}
	return ret;
}

int sdc_read_full(int fd, void *buf, size_t len)
{
	return sdc_full_io(fd, SDC_IO_READ, buf, len, 0, -ECONNRESET);
}

int sdc_write_full(int fd, const void *buf, size_t len)
{
	/* sdc_full_io only reads from buf for a send */
	return sdc_full_io(fd, SDC_IO_SEND, (void *)buf, len, 0, -EIO);
}

int sdc_exec(int fd, const struct sd_req *hdr, const void *data, void *rbuf, size_t rbuf_len,
	     struct sd_rsp *rsp)
{
	char sink[4096];
	size_t want, extra;
	int ret;

	ret = sdc_write_full(fd, hdr, sizeof(*hdr));
	if (!ret && (hdr->flags & SD_FLAG_CMD_WRITE) && hdr->data_length)
		ret = sdc_write_full(fd, data, hdr->data_length);
	if (!ret)
		ret = sdc_read_full(fd, rsp, sizeof(*rsp));
	if (ret)
		return ret;
	want = rsp->data_length < rbuf_len ? rsp->data_length : rbuf_len;
	if (want && (ret = sdc_read_full(fd, rbuf, want)))
		return ret;
	for (extra = rsp->data_length - want; extra;) {
		size_t n = extra < sizeof(sink) ? extra : sizeof(sink);

		if ((ret = sdc_read_full(fd, sink, n)))
			return ret;
		extra -= n;
	}
	return 0;
}
