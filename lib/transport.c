// SPDX-License-Identifier: GPL-2.0-or-later
/* The real transport: non-blocking stream sockets (TCP or UNIX). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sdl_engine.h"

static int sock_connect(void *priv, const struct sockaddr *sa, socklen_t salen, int *in_progress)
{
	int fd, one = 1;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (sa->sa_family != AF_UNIX) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	}
	*in_progress = 0;
	if (connect(fd, sa, salen) < 0) {
		int err = errno;

		if (err == EINPROGRESS) {
			*in_progress = 1;
			return fd;
		}
		close(fd);
		/* UNIX sockets report a full backlog as EAGAIN */
		return err == EAGAIN ? -ECONNREFUSED : -err;
	}
	return fd;
}

static ssize_t sock_send(void *priv, int fd, const struct iovec *iov, int iovcnt)
{
	struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
	ssize_t n;

	do
		n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

static ssize_t sock_recv(void *priv, int fd, void *buf, size_t len)
{
	ssize_t n;

	do
		n = recv(fd, buf, len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

static void sock_close(void *priv, int fd)
{
	close(fd);
}

const struct sdl_transport sdl_socket_transport = {
	.connect = sock_connect,
	.send = sock_send,
	.recv = sock_recv,
	.close = sock_close,
};
