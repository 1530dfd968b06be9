/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Internal socket helpers shared by sheep, dog, libsheepdog and tests. */
#ifndef SD_COMMON_NET_H
#define SD_COMMON_NET_H

#include <stddef.h>
#include <sys/socket.h>
#include <sheepdog/proto.h>

/* A parsed sheep address: either TCP host+port or a UNIX socket path. */
struct sdc_addr {
	int is_unix;
	char host[256]; /* TCP: host name or literal, no brackets */
	unsigned port;	/* TCP port */
	char path[108]; /* UNIX socket path */
};

/*
 * Parse "host", "host:port", "[v6]:port", "unix:/path" or "/path".
 * Returns 0 or -EINVAL (with a reason in *why when why != NULL).
 */
int sdc_parse_addr(const char *s, struct sdc_addr *a, const char **why);

/*
 * Several addresses of one cluster, tried in turn: "ADDR[,ADDR...]", each
 * ADDR as for sdc_parse_addr() (so a UNIX socket path in a list cannot
 * contain ',').  Fills a[0..n) and returns n (1..max), or -EINVAL with a
 * reason in *why (empty item, more than max items, or the item's own).
 */
#define SDC_MAX_ADDRS 4
int sdc_parse_addr_list(const char *s, struct sdc_addr *a, int max, const char **why);

/* Human-readable form of an address ("127.0.0.1:7000", "unix:/p"). */
void sdc_addr_str(const struct sdc_addr *a, char *buf, size_t len);

/*
 * Resolve a into at most max socket addresses (sa[i], salen[i]).  A UNIX
 * path and a numeric host (IPv4 or IPv6 literal) are converted without
 * the resolver, so they never wait on DNS; only a host name goes to
 * getaddrinfo (whose own timeouts then apply).  Returns the number of
 * addresses (>= 1), or -errno: -EHOSTUNREACH (name unknown), -EAGAIN
 * (resolver temporarily failing), -EINVAL (max < 1).
 */
int sdc_resolve(const struct sdc_addr *a, struct sockaddr_storage *sa, socklen_t *salen, int max);

/*
 * Connect (blocking, at most timeout_ms per address; tries every address
 * sdc_resolve() gives, at most 8).
 * TCP sockets get TCP_NODELAY and keepalive.  Returns fd or -errno.
 */
int sdc_connect(const struct sdc_addr *a, int timeout_ms);

/* Loop until all bytes moved; EINTR retried.  0, or -errno (-ECONNRESET on EOF). */
int sdc_read_full(int fd, void *buf, size_t len);
int sdc_write_full(int fd, const void *buf, size_t len);

/*
 * One blocking request/reply.  Sends hdr (+ data_length payload bytes from
 * data when SD_FLAG_CMD_WRITE), then reads the reply header into *rsp and at
 * most min(rsp.data_length, rbuf_len) payload bytes into rbuf; any excess is
 * drained.  rbuf may alias data.  Returns 0 (see rsp->result) or -errno.
 */
int sdc_exec(int fd, const struct sd_req *hdr, const void *data, void *rbuf, size_t rbuf_len,
	     struct sd_rsp *rsp);

/* Set O_NONBLOCK; returns 0 or -errno. */
int sdc_set_nonblock(int fd);

#endif
