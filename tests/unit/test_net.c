// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * common/net.c address resolution, shared by sdc_connect and libsheepdog's
 * engine: a numeric address (IPv4/IPv6 literal, UNIX path) never reaches the
 * resolver.  getaddrinfo is interposed: a lookup that could go to DNS (no
 * AI_NUMERICHOST) is counted and fails as a broken resolver would.  Also
 * the shared full-I/O loop (fullio.c) behind sdc_read_full/sdc_write_full,
 * and the mapped buffers of mapbuf.c.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fullio.h"
#include "mapbuf.h"
#include "net.h"
#include "sdl_check.h"
#include "sdl_engine.h"

int g_check_failed;

static int g_dns_lookups;

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
		struct addrinfo **res)
{
	int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

	if (!hints || !(hints->ai_flags & AI_NUMERICHOST)) {
		g_dns_lookups++;
		return EAI_AGAIN; /* /etc/resolv.conf points nowhere */
	}
	real = (int (*)(const char *, const char *, const struct addrinfo *,
			struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");
	return real ? real(node, service, hints, res) : EAI_FAIL;
}

static void test_literals(void)
{
	struct sockaddr_storage sa[4];
	socklen_t len[4];
	struct sdc_addr a;
	struct sockaddr_in *in = (struct sockaddr_in *)&sa[0];
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&sa[0];

	g_dns_lookups = 0;
	CHECK_EQ(sdc_parse_addr("127.0.0.1:7001", &a, NULL), 0);
	CHECK_EQ(sdc_resolve(&a, sa, len, 4), 1);
	CHECK_EQ(in->sin_family, AF_INET);
	CHECK_EQ(ntohs(in->sin_port), 7001);
	CHECK_EQ(ntohl(in->sin_addr.s_addr), 0x7f000001);
	CHECK_EQ(len[0], sizeof(*in));

	CHECK_EQ(sdc_parse_addr("[::1]:7002", &a, NULL), 0);
	CHECK_EQ(sdc_resolve(&a, sa, len, 4), 1);
	CHECK_EQ(in6->sin6_family, AF_INET6);
	CHECK_EQ(ntohs(in6->sin6_port), 7002);
	CHECK(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));

	CHECK_EQ(sdc_parse_addr("10.1.2.3", &a, NULL), 0);
	CHECK_EQ(sdc_resolve(&a, sa, len, 4), 1);
	CHECK_EQ(ntohs(in->sin_port), SD_LISTEN_PORT);

	/* a shorthand numeric form: getaddrinfo, but numeric only */
	CHECK_EQ(sdc_parse_addr("127.1:7003", &a, NULL), 0);
	CHECK_EQ(sdc_resolve(&a, sa, len, 4), 1);
	CHECK_EQ(ntohl(in->sin_addr.s_addr), 0x7f000001);

	CHECK_EQ(sdc_parse_addr("unix:/run/sheep.sock", &a, NULL), 0);
	CHECK_EQ(sdc_resolve(&a, sa, len, 4), 1);
	CHECK_EQ(((struct sockaddr_un *)&sa[0])->sun_family, AF_UNIX);
	CHECK(!strcmp(((struct sockaddr_un *)&sa[0])->sun_path, "/run/sheep.sock"));
	CHECK_EQ(g_dns_lookups, 0);

	/* a name does go to the resolver, and its failure is reported */
	CHECK_EQ(sdc_parse_addr("sheep-host.invalid:7000", &a, NULL), 0);
	CHECK_EQ(sdc_resolve(&a, sa, len, 4), -EAGAIN);
	CHECK_EQ(g_dns_lookups, 1);
	CHECK_EQ(sdc_resolve(&a, sa, len, 0), -EINVAL);
}

/* sdc_connect to a numeric address works with the resolver broken. */
static void test_connect_numeric(void)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	socklen_t len = sizeof(in);
	struct sdc_addr a;
	char s[64];
	int lfd, fd;

	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(lfd >= 0);
	if (lfd < 0)
		return;
	CHECK_EQ(bind(lfd, (struct sockaddr *)&in, sizeof(in)), 0);
	CHECK_EQ(listen(lfd, 4), 0);
	CHECK_EQ(getsockname(lfd, (struct sockaddr *)&in, &len), 0);
	snprintf(s, sizeof(s), "127.0.0.1:%u", ntohs(in.sin_port));
	g_dns_lookups = 0;
	CHECK_EQ(sdc_parse_addr(s, &a, NULL), 0);
	fd = sdc_connect(&a, 2000);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK_EQ(g_dns_lookups, 0);
	close(lfd);
}

/* libsheepdog's engine resolves through the same helper. */
static void test_engine_numeric(void)
{
	struct sdl_engine e;

	g_dns_lookups = 0;
	CHECK_EQ(sdl_engine_init(&e, "127.0.0.1:7000", NULL, &sdl_socket_transport, NULL), 0);
	CHECK_EQ(e.nr_sa, 1);
	sdl_engine_fini(&e);
	CHECK_EQ(sdl_engine_init(&e, "[::1]:7000", NULL, &sdl_socket_transport, NULL), 0);
	CHECK_EQ(e.nr_sa, 1);
	sdl_engine_fini(&e);
	CHECK_EQ(g_dns_lookups, 0);
	/* a list: every entry resolved, in order, each sa[] knows its entry */
	CHECK_EQ(sdl_engine_init(&e, "127.0.0.1:7000,[::1]:7001,unix:/s", NULL,
				 &sdl_socket_transport, NULL),
		 0);
	CHECK_EQ(e.nr_addr, 3);
	CHECK_EQ(e.nr_sa, 3);
	CHECK_EQ(e.sa_addr[0], 0);
	CHECK_EQ(e.sa_addr[1], 1);
	CHECK_EQ(e.sa_addr[2], 2);
	CHECK_EQ(e.conns[1].sa_idx, 1);
	sdl_engine_fini(&e);
	CHECK_EQ(sdl_engine_init(&e, "127.0.0.1:7000,", NULL, &sdl_socket_transport, NULL),
		 -EINVAL);
	CHECK_EQ(sdl_engine_init(&e, "a:1,b:2,c:3,d:4,e:5", NULL, &sdl_socket_transport, NULL),
		 -EINVAL);
	CHECK_EQ(g_dns_lookups, 0);
	CHECK_EQ(sdl_engine_init(&e, "sheep-host.invalid", NULL, &sdl_socket_transport, NULL),
		 -EAGAIN);
	CHECK_EQ(g_dns_lookups, 1);
	CHECK_EQ(sdl_alloc_live(), 0);
}

/* The shared full-I/O loop: every byte, or the caller's EOF error. */
static void test_full_io(void)
{
	char path[] = "/tmp/sd_test_fullio.XXXXXX", buf[8192], back[8192];
	int sv[2], fd;
	size_t i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7);
	fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	unlink(path);
	CHECK_EQ(sdc_full_io(fd, SDC_IO_PWRITE, buf, sizeof(buf), 4096, -EIO), 0);
	CHECK_EQ(sdc_full_io(fd, SDC_IO_PREAD, back, sizeof(back), 4096, -EIO), 0);
	CHECK(!memcmp(buf, back, sizeof(buf)));
	/* past the end of the file */
	CHECK_EQ(sdc_full_io(fd, SDC_IO_PREAD, back, 16, 4096 + sizeof(buf) - 8, -EIO), -EIO);
	close(fd);

	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CHECK_EQ(sdc_write_full(sv[0], buf, 100), 0);
	CHECK_EQ(sdc_read_full(sv[1], back, 100), 0);
	CHECK(!memcmp(buf, back, 100));
	CHECK_EQ(sdc_write_full(sv[0], buf, 10), 0);
	close(sv[0]);
	/* 10 bytes then EOF */
	CHECK_EQ(sdc_read_full(sv[1], back, 20), -ECONNRESET);
	/* a dead peer: an error, not SIGPIPE */
	CHECK_EQ(sdc_write_full(sv[1], buf, 10), -EPIPE);
	close(sv[1]);
}

/* common/mapbuf.c: each buffer a mapping of its own; freeing one unmaps it. */
static void test_mapbuf(void)
{
	char line[256], *p = sdc_map_alloc(4 << 20), *q;
	unsigned long lo, hi;
	int found = 0;
	FILE *f;

	CHECK(p != NULL);
	if (!p)
		return;
	CHECK_EQ((uintptr_t)p % 64, 0);
	memset(p, 0xa5, 4 << 20);
	CHECK_EQ((unsigned char)p[(4 << 20) - 1], 0xa5);
	q = sdc_map_alloc(1);
	CHECK(q != NULL);
	sdc_map_free(q);
	sdc_map_free(NULL);
	sdc_map_free(p);
	/* no mapping of this process covers p any more */
	f = fopen("/proc/self/maps", "r");
	CHECK(f != NULL);
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && (uintptr_t)p >= lo &&
		    (uintptr_t)p < hi)
			found = 1;
	if (f)
		fclose(f);
	CHECK_EQ(found, 0);
}

int main(void)
{
	int passed = 0, failed = 0;

	RUN_TEST(test_literals, passed, failed);
	RUN_TEST(test_connect_numeric, passed, failed);
	RUN_TEST(test_engine_numeric, passed, failed);
	RUN_TEST(test_full_io, passed, failed);
	RUN_TEST(test_mapbuf, passed, failed);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
