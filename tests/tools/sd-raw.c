// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd-raw: a raw Sheepdog protocol client for tests.  It builds request
 * headers by hand, so it can send anything, including frames no real
 * client would send.
 *
 *   sd-raw [-a ADDR] [-p PORT] [-u SOCK] req OPCODE [field options]
 *       Send one request on a new connection and print the reply header as
 *       key=value lines (result=0x.., id=, opcode=, data_length=, epoch=,
 *       vdi_id=, copies=, block_size_shift=, nr_nodes=, store_size=,
 *       store_free=, cd_copies=, cd_policy=, cd_shift=, attr_id=, digest= (the
 *       20 GET_HASH bytes at offset 24, hex)).
 *       Field options: --proto V --flags F --id N --len N (data_length,
 *       default: payload size) --oid X --cow-oid X --offset N --vdi-size N
 *       --base VID --snapid N --type N --copies N --policy N --store-policy N
 *       --shift N --nodes-nr N --ctime N --cflags N.
 *       Payload (sets the WRITE flag unless --flags is given): --name S
 *       (256-byte NUL-padded), --tag S (adds 256 more), --str S (bytes of S
 *       plus a NUL), --fill BYTE:LEN, --data-file F, --raw-name-hex HEX.
 *       Output: --out F (reply payload), --hex N (print first N payload
 *       bytes as data=), --expect-data F (compare payload, exit 3 on mismatch).
 *       Faults: --send-bytes N (send only the first N bytes of the frame,
 *       then close), --expect-close (exit 0 only if the server closes the
 *       connection without replying), --shut-wr (half-close the connection
 *       after sending, then read the reply).
 *   sd-raw ... pipeline --vid VID --objects K --count N [--size B] [--errors]
 *       On ONE connection: create K objects, then keep N writes in flight
 *       (distinct 'B'-byte slots, data derived from the id), then N reads
 *       in flight; every reply must carry a known id exactly once, the right
 *       opcode and result, and reads must return the written data.  With
 *       --errors every 7th request is an unknown opcode that must get
 *       NO_SUPPORT.  Prints "ok requests=.. reordered=..".
 *   sd-raw ... chaos --vid VID --avoid VID2 [--seed S] [--frames N]
 *       Hostile client: N frames (default 5000), each one of: random bytes
 *       (1..200 of them), a valid request aimed at vdi VID (reads, writes,
 *       creates, discards, compare-and-writes, lookups, locks, hashes,
 *       attributes, hellos, admin queries) or such a request with 1..4
 *       bytes overwritten or its tail cut.  Replies are read and dropped;
 *       the connection is closed (mid-frame or not) every 1..64 frames and
 *       whenever the sheep closes it, then reopened.  Never sent: MAKE_FS and
 *       SHUTDOWN (they legitimately destroy data or stop the sheep), and any
 *       frame whose oid names vdi VID2 (another client's data, which a valid
 *       request may legitimately change): those bytes are altered first.
 *       Deterministic for a seed.  Prints "ok frames=.. random=.. valid=..
 *       mutated=.. connections=..".
 *
 * Exit status: 0 ok, 1 usage/IO error, 2 protocol check failed, 3 data mismatch.
 * Every socket operation has a 20 s timeout.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "net.h"

#define IO_TIMEOUT_MS 20000

static const char *g_addr = "127.0.0.1";
static const char *g_port = "7000";
static const char *g_unix;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sd-raw: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static uint64_t num(const char *s)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		die("bad number '%s'", s);
	return v;
}

static int connect_server(void)
{
	struct sdc_addr a;
	char buf[300];
	const char *why = NULL;
	struct timeval tv = { .tv_sec = IO_TIMEOUT_MS / 1000 };
	int fd;

	if (g_unix)
		snprintf(buf, sizeof(buf), "unix:%s", g_unix);
	else
		snprintf(buf, sizeof(buf), "%s:%s", g_addr, g_port);
	if (sdc_parse_addr(buf, &a, &why))
		die("bad address: %s", why);
	fd = sdc_connect(&a, IO_TIMEOUT_MS);
	if (fd < 0)
		die("cannot connect: %s", strerror(-fd));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* ---- single request ---- */

struct payload {
	char *buf;
	size_t len;
};

static void payload_append(struct payload *p, const void *data, size_t len)
{
	char *n = realloc(p->buf, p->len + len);

	if (!n)
		die("%s", "out of memory");
	memcpy(n + p->len, data, len);
	p->buf = n;
	p->len += len;
}

static void payload_padded(struct payload *p, const char *s, size_t width)
{
	char *b = calloc(1, width);
	size_t n = strlen(s);

	if (!b)
		die("%s", "out of memory");
	memcpy(b, s, n < width ? n : width);
	payload_append(p, b, width);
	free(b);
}

static void payload_file(struct payload *p, const char *path)
{
	FILE *f = fopen(path, "rb");
	char buf[65536];
	size_t n;

	if (!f)
		die("cannot open %s", path);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		payload_append(p, buf, n);
	fclose(f);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void payload_hex(struct payload *p, const char *hex)
{
	size_t i, n = strlen(hex);

	if (n % 2)
		die("odd hex string '%s'", hex);
	for (i = 0; i < n; i += 2) {
		int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
		unsigned char b;

		if (hi < 0 || lo < 0)
			die("bad hex string '%s'", hex);
		b = (unsigned char)(hi << 4 | lo);
		payload_append(p, &b, 1);
	}
}

static int wait_close(int fd)
{
	char c;
	ssize_t n = read(fd, &c, 1);

	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static int cmd_req(int argc, char **argv)
{
	struct sd_req hdr;
	struct sd_rsp rsp;
	struct payload p = { 0 };
	const char *out = NULL, *expect = NULL;
	long send_bytes = -1, hexn = 0;
	int have_flags = 0, have_len = 0, expect_close = 0, shut_wr = 0, fd, r, i;
	char *rbuf = NULL;

	if (argc < 1)
		die("%s", "req needs an opcode");
	memset(&hdr, 0, sizeof(hdr));
	hdr.opcode = (uint8_t)num(argv[0]);
	hdr.proto_ver = hdr.opcode >= 0x80 ? SD_SHEEP_PROTO_VER : SD_PROTO_VER;
	for (i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(o, "--expect-close")) {
			expect_close = 1;
			continue;
		}
		if (!strcmp(o, "--shut-wr")) {
			shut_wr = 1;
			continue;
		}
		if (!v)
			die("option %s needs a value", o);
		i++;
		if (!strcmp(o, "--proto"))
			hdr.proto_ver = (uint8_t)num(v);
		else if (!strcmp(o, "--flags")) {
			hdr.flags = (uint16_t)num(v);
			have_flags = 1;
		} else if (!strcmp(o, "--id"))
			hdr.id = (uint32_t)num(v);
		else if (!strcmp(o, "--len")) {
			hdr.data_length = (uint32_t)num(v);
			have_len = 1;
		} else if (!strcmp(o, "--oid"))
			hdr.obj.oid = num(v);
		else if (!strcmp(o, "--cow-oid"))
			hdr.obj.cow_oid = num(v);
		else if (!strcmp(o, "--offset"))
			hdr.obj.offset = (uint32_t)num(v);
		else if (!strcmp(o, "--vdi-size"))
			hdr.vdi.vdi_size = num(v);
		else if (!strcmp(o, "--base"))
			hdr.vdi.base_vdi_id = (uint32_t)num(v);
		else if (!strcmp(o, "--snapid"))
			hdr.vdi.snapid = (uint32_t)num(v);
		else if (!strcmp(o, "--type"))
			hdr.vdi.type = (uint32_t)num(v);
		else if (!strcmp(o, "--copies"))
			hdr.vdi.copies = (uint8_t)num(v);
		else if (!strcmp(o, "--policy"))
			hdr.vdi.copy_policy = (uint8_t)num(v);
		else if (!strcmp(o, "--store-policy"))
			hdr.vdi.store_policy = (uint8_t)num(v);
		else if (!strcmp(o, "--shift"))
			hdr.vdi.block_size_shift = (uint8_t)num(v);
		else if (!strcmp(o, "--nodes-nr"))
			hdr.cluster.nodes_nr = (uint32_t)num(v);
		else if (!strcmp(o, "--ctime"))
			hdr.cluster.ctime = num(v);
		else if (!strcmp(o, "--cflags"))
			hdr.cluster.flags = (uint16_t)num(v);
		else if (!strcmp(o, "--cshift"))
			hdr.cluster.block_size_shift = (uint8_t)num(v);
		else if (!strcmp(o, "--ccopies"))
			hdr.cluster.copies = (uint8_t)num(v);
		else if (!strcmp(o, "--name"))
			payload_padded(&p, v, SD_MAX_VDI_LEN);
		else if (!strcmp(o, "--tag"))
			payload_padded(&p, v, SD_MAX_VDI_TAG_LEN);
		else if (!strcmp(o, "--str"))
			payload_append(&p, v, strlen(v) + 1);
		else if (!strcmp(o, "--hexdata"))
			payload_hex(&p, v);
		else if (!strcmp(o, "--fill")) {
			char *colon = strchr(v, ':');
			size_t n;
			char *b;

			if (!colon)
				die("--fill wants BYTE:LEN, not '%s'", v);
			*colon = '\0';
			n = (size_t)num(colon + 1);
			b = malloc(n ? n : 1);
			if (!b)
				die("%s", "out of memory");
			memset(b, (int)num(v), n);
			payload_append(&p, b, n);
			free(b);
		} else if (!strcmp(o, "--data-file"))
			payload_file(&p, v);
		else if (!strcmp(o, "--out"))
			out = v;
		else if (!strcmp(o, "--expect-data"))
			expect = v;
		else if (!strcmp(o, "--hex"))
			hexn = (long)num(v);
		else if (!strcmp(o, "--send-bytes"))
			send_bytes = (long)num(v);
		else
			die("unknown option %s", o);
	}
	if (!have_flags && p.len)
		hdr.flags = SD_FLAG_CMD_WRITE;
	if (!have_len)
		hdr.data_length = (uint32_t)p.len;

	fd = connect_server();
	{
		size_t total = sizeof(hdr) + p.len;
		char *frame = malloc(total);

		if (!frame)
			die("%s", "out of memory");
		memcpy(frame, &hdr, sizeof(hdr));
		if (p.len)
			memcpy(frame + sizeof(hdr), p.buf, p.len);
		if (send_bytes >= 0 && (size_t)send_bytes < total)
			total = (size_t)send_bytes;
		r = sdc_write_full(fd, frame, total);
		free(frame);
		free(p.buf);
		p.buf = NULL;
		if (r)
			die("send failed: %s", strerror(-r));
	}
	if (shut_wr)
		shutdown(fd, SHUT_WR);
	if (send_bytes >= 0) {
		close(fd);
		printf("sent=%ld\n", send_bytes);
		return 0;
	}
	if (expect_close) {
		r = wait_close(fd);
		close(fd);
		printf(r ? "closed\n" : "not-closed\n");
		return r ? 0 : 2;
	}
	r = sdc_read_full(fd, &rsp, sizeof(rsp));
	if (r) {
		printf("closed\n");
		close(fd);
		return 2;
	}
	printf("result=0x%02x\nresult_text=%s\nid=%u\nopcode=0x%02x\ndata_length=%u\nepoch=%u\n"
	       "vdi_id=0x%06x\ncopies=%u\nblock_size_shift=%u\nnr_nodes=%u\n"
	       "store_size=%" PRIu64 "\nstore_free=%" PRIu64 "\n"
	       "cd_copies=%u\ncd_policy=%u\ncd_shift=%u\n",
	       rsp.result, sd_strerror((int)rsp.result), rsp.id, rsp.opcode, rsp.data_length,
	       rsp.epoch, rsp.vdi.vdi_id, rsp.vdi.copies, rsp.vdi.block_size_shift,
	       rsp.node.nr_nodes, rsp.node.store_size, rsp.node.store_free,
	       rsp.cluster_default.nr_copies, rsp.cluster_default.copy_policy,
	       rsp.cluster_default.block_size_shift);
	printf("hello_flags=0x%x\n", rsp.hello.flags);
	printf("attr_id=0x%08x\ndigest=", rsp.vdi.attr_id);
	for (size_t k = 0; k < sizeof(rsp.hash.digest); k++)
		printf("%02x", rsp.hash.digest[k]);
	printf("\n");
	if (rsp.data_length) {
		if (!(hdr.flags & SD_FLAG_CMD_WRITE) && rsp.data_length > hdr.data_length) {
			printf("error=reply payload longer than requested\n");
			free(rbuf);
			close(fd);
			return 2;
		}
		rbuf = malloc(rsp.data_length);
		if (!rbuf)
			die("%s", "out of memory");
		r = sdc_read_full(fd, rbuf, rsp.data_length);
		if (r)
			die("reading the reply payload: %s", strerror(-r));
	}
	close(fd);
	if (hexn) {
		long k;

		printf("data=");
		for (k = 0; k < hexn && (uint32_t)k < rsp.data_length; k++)
			printf("%02x", (unsigned char)rbuf[k]);
		printf("\n");
	}
	if (out) {
		FILE *f = fopen(out, "wb");

		if (!f ||
		    (rsp.data_length && fwrite(rbuf, 1, rsp.data_length, f) != rsp.data_length))
			die("cannot write %s", out);
		fclose(f);
	}
	if (expect) {
		struct payload e = { 0 };

		payload_file(&e, expect);
		if (e.len != rsp.data_length || (e.len && memcmp(e.buf, rbuf, e.len))) {
			printf("mismatch\n");
			free(e.buf);
			free(rbuf);
			return 3;
		}
		free(e.buf);
		printf("match\n");
	}
	free(rbuf);
	free(p.buf);
	return 0;
}

/* ---- pipelined requests on one connection ---- */

struct pipe_req {
	struct sd_req hdr;
	char *data; /* write payload */
	int answered;
	uint8_t expect_res;
};

static void fill_pattern(char *buf, size_t len, uint32_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (char)((seed * 2654435761u + i * 31u) >> 7);
}

/*
 * Send every request in reqs[0..n) while reading replies concurrently
 * (poll), so neither side's socket buffers can deadlock.  Checks ids,
 * opcodes and results; for reads, the data against `want` patterns.
 */
static int run_batch(int fd, struct pipe_req *reqs, size_t n, size_t slot, unsigned *reordered)
{
	size_t sent_req = 0, sent_off = 0, got = 0, next_expected = 0;
	struct sd_rsp rsp;
	size_t rsp_off = 0, pay_off = 0;
	char *rbuf = malloc(slot ? slot : 1);
	struct pipe_req *cur = NULL;
	int rc = 0;

	if (!rbuf)
		die("%s", "out of memory");
	while (got < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int pr;

		if (sent_req < n)
			pfd.events |= POLLOUT;
		pr = poll(&pfd, 1, IO_TIMEOUT_MS);
		if (pr <= 0) {
			fprintf(stderr, "sd-raw: timeout with %zu of %zu replies\n", got, n);
			rc = 1;
			break;
		}
		if ((pfd.revents & POLLOUT) && sent_req < n) {
			struct pipe_req *q = &reqs[sent_req];
			size_t hl = sizeof(q->hdr);
			size_t dl = (q->hdr.flags & SD_FLAG_CMD_WRITE) ? q->hdr.data_length : 0;
			ssize_t w;

			if (sent_off < hl)
				w = send(fd, (char *)&q->hdr + sent_off, hl - sent_off,
					 MSG_DONTWAIT | MSG_NOSIGNAL);
			else
				w = send(fd, q->data + (sent_off - hl), hl + dl - sent_off,
					 MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w < 0 && errno != EAGAIN && errno != EINTR) {
				perror("sd-raw: send");
				rc = 1;
				break;
			}
			if (w > 0) {
				sent_off += (size_t)w;
				if (sent_off == hl + dl) {
					sent_req++;
					sent_off = 0;
				}
			}
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t rd;

			if (rsp_off < sizeof(rsp)) {
				rd = recv(fd, (char *)&rsp + rsp_off, sizeof(rsp) - rsp_off,
					  MSG_DONTWAIT);
			} else {
				rd = recv(fd, rbuf + pay_off, rsp.data_length - pay_off,
					  MSG_DONTWAIT);
			}
			if (rd == 0 || (rd < 0 && errno != EAGAIN && errno != EINTR)) {
				fprintf(stderr, "sd-raw: connection lost after %zu replies\n", got);
				rc = 1;
				break;
			}
			if (rd < 0)
				continue;
			if (rsp_off < sizeof(rsp)) {
				rsp_off += (size_t)rd;
				if (rsp_off < sizeof(rsp))
					continue;
				if (rsp.id >= n || reqs[rsp.id].answered) {
					fprintf(stderr, "sd-raw: unexpected reply id %u\n", rsp.id);
					rc = 2;
					break;
				}
				cur = &reqs[rsp.id];
				if (rsp.opcode != cur->hdr.opcode ||
				    rsp.result != cur->expect_res || rsp.data_length > slot) {
					fprintf(stderr,
						"sd-raw: id %u: opcode 0x%02x result 0x%02x len %u, "
						"wanted opcode 0x%02x result 0x%02x\n",
						rsp.id, rsp.opcode, rsp.result, rsp.data_length,
						cur->hdr.opcode, cur->expect_res);
					rc = 2;
					break;
				}
				pay_off = 0;
			} else {
				pay_off += (size_t)rd;
			}
			if (rsp_off == sizeof(rsp) && pay_off == rsp.data_length) {
				if (cur->hdr.opcode == SD_OP_READ_OBJ &&
				    cur->expect_res == SD_RES_SUCCESS) {
					char *want = malloc(slot);

					if (!want)
						die("%s", "out of memory");
					fill_pattern(want, slot,
						     (uint32_t)(cur->hdr.obj.oid * 131 +
								cur->hdr.obj.offset));
					if (rsp.data_length != slot || memcmp(want, rbuf, slot)) {
						fprintf(stderr, "sd-raw: id %u: wrong data\n",
							rsp.id);
						free(want);
						rc = 3;
						break;
					}
					free(want);
				}
				if (rsp.id != next_expected)
					(*reordered)++;
				while (next_expected < n &&
				       (reqs[next_expected].answered || next_expected == rsp.id))
					next_expected++;
				cur->answered = 1;
				got++;
				rsp_off = 0;
				pay_off = 0;
			}
		}
	}
	free(rbuf);
	return rc;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmd_pipeline(int argc, char **argv)
{
	uint32_t vid = 0, objects = 4, count = 256, slot = 4096, i;
	long long t0, t1, t2;
	int errors = 0, fd, rc;
	unsigned reordered = 0;
	struct pipe_req *reqs;

	for (i = 0; i < (uint32_t)argc; i++) {
		const char *o = argv[i];

		if (!strcmp(o, "--errors")) {
			errors = 1;
			continue;
		}
		if (i + 1 >= (uint32_t)argc)
			die("option %s needs a value", o);
		if (!strcmp(o, "--vid"))
			vid = (uint32_t)num(argv[++i]);
		else if (!strcmp(o, "--objects"))
			objects = (uint32_t)num(argv[++i]);
		else if (!strcmp(o, "--count"))
			count = (uint32_t)num(argv[++i]);
		else if (!strcmp(o, "--size"))
			slot = (uint32_t)num(argv[++i]);
		else
			die("unknown option %s", o);
	}
	if (!vid || !objects || !count || !slot)
		die("%s", "pipeline needs --vid, and non-zero --objects/--count/--size");
	fd = connect_server();
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	reqs = calloc(count > objects ? count : objects, sizeof(*reqs));
	if (!reqs)
		die("%s", "out of memory");

	/* phase 1: create the objects (zero-length creates) */
	for (i = 0; i < objects; i++) {
		struct sd_req *h = &reqs[i].hdr;

		h->proto_ver = SD_PROTO_VER;
		h->opcode = SD_OP_CREATE_AND_WRITE_OBJ;
		h->flags = SD_FLAG_CMD_WRITE;
		h->id = i;
		h->obj.oid = sd_vid_to_data_oid(vid, i);
	}
	rc = run_batch(fd, reqs, objects, slot, &reordered);
	if (rc)
		return rc;

	/* phase 2: writes, each to its own slot */
	memset(reqs, 0, sizeof(*reqs) * count);
	for (i = 0; i < count; i++) {
		struct pipe_req *q = &reqs[i];
		struct sd_req *h = &q->hdr;

		h->proto_ver = SD_PROTO_VER;
		h->id = i;
		if (errors && i % 7 == 3) {
			h->opcode = 0x7e; /* no such opcode */
			q->expect_res = SD_RES_NO_SUPPORT;
			continue;
		}
		h->opcode = SD_OP_WRITE_OBJ;
		h->flags = SD_FLAG_CMD_WRITE;
		h->data_length = slot;
		h->obj.oid = sd_vid_to_data_oid(vid, i % objects);
		h->obj.offset = (i / objects) * slot;
		q->data = malloc(slot);
		if (!q->data)
			die("%s", "out of memory");
		fill_pattern(q->data, slot, (uint32_t)(h->obj.oid * 131 + h->obj.offset));
	}
	t0 = now_ms();
	rc = run_batch(fd, reqs, count, slot, &reordered);
	t1 = now_ms();
	for (i = 0; i < count; i++)
		free(reqs[i].data);
	if (rc)
		return rc;

	/* phase 3: reads of the same slots */
	memset(reqs, 0, sizeof(*reqs) * count);
	for (i = 0; i < count; i++) {
		struct pipe_req *q = &reqs[i];
		struct sd_req *h = &q->hdr;

		h->proto_ver = SD_PROTO_VER;
		h->id = i;
		if (errors && i % 7 == 3) {
			h->opcode = 0x7e;
			q->expect_res = SD_RES_NO_SUPPORT;
			continue;
		}
		h->opcode = SD_OP_READ_OBJ;
		h->data_length = slot;
		h->obj.oid = sd_vid_to_data_oid(vid, i % objects);
		h->obj.offset = (i / objects) * slot;
	}
	rc = run_batch(fd, reqs, count, slot, &reordered);
	t2 = now_ms();
	close(fd);
	free(reqs);
	if (!rc)
		printf("ok requests=%u reordered=%u write_ms=%lld read_ms=%lld\n",
		       objects + 2 * count, reordered, t1 - t0, t2 - t1);
	return rc;
}

/* ---- hostile client ---- */

struct chaos {
	uint64_t rng;
	uint32_t vid, avoid;
	int fd;
	unsigned connections;
};

static uint64_t chaos_rand(struct chaos *c)
{
	/* xorshift64*: deterministic for a seed, good enough to pick bytes */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * UINT64_C(2685821657736338717);
}

/*
 * A random byte that is never MAKE_FS's or SHUTDOWN's opcode: once a cut
 * frame leaves the stream misaligned, the sheep reads headers at any
 * offset of what follows, so the bytes themselves must not spell them.
 */
static uint8_t chaos_byte(struct chaos *c)
{
	uint8_t b = (uint8_t)chaos_rand(c);

	return b == SD_OP_MAKE_FS || b == SD_OP_SHUTDOWN ? 0x7e : b;
}

static uint32_t chaos_below(struct chaos *c, uint32_t n)
{
	return (uint32_t)(chaos_rand(c) % n);
}

/* A valid request aimed at c->vid into buf (header + payload); its length. */
static size_t chaos_valid(struct chaos *c, uint8_t *buf)
{
	struct sd_req *h = (struct sd_req *)buf;
	uint8_t *pay = buf + SD_REQ_SIZE;
	uint32_t idx = chaos_below(c, 4), len = 512;
	uint64_t data = sd_vid_to_data_oid(c->vid, idx), inode = sd_vid_to_vdi_oid(c->vid);

	memset(buf, 0, SD_REQ_SIZE);
	h->proto_ver = SD_PROTO_VER;
	h->id = chaos_byte(c) | (uint32_t)chaos_byte(c) << 8;
	switch (chaos_below(c, 14)) {
	case 0:
		h->opcode = SD_OP_READ_OBJ;
		h->obj.oid = data;
		h->obj.offset = chaos_below(c, 8) * 4096;
		h->data_length = 4096;
		return SD_REQ_SIZE;
	case 1:
	case 2:
		h->opcode = chaos_below(c, 2) ? SD_OP_WRITE_OBJ : SD_OP_CREATE_AND_WRITE_OBJ;
		h->flags = SD_FLAG_CMD_WRITE;
		h->obj.oid = data;
		h->obj.offset = chaos_below(c, 8) * 512;
		h->data_length = len;
		memset(pay, chaos_byte(c), len);
		return SD_REQ_SIZE + len;
	case 3:
		h->opcode = SD_OP_DISCARD_OBJ;
		h->obj.oid = data;
		return SD_REQ_SIZE;
	case 4:
		h->opcode = SD_OP_EXT_CMP_WRITE_OBJ;
		h->flags = SD_FLAG_CMD_WRITE;
		h->obj.oid = data;
		h->data_length = 2 * 64;
		memset(pay, 0, 2 * 64);
		return SD_REQ_SIZE + 2 * 64;
	case 5:
	case 6:
		h->opcode = chaos_below(c, 2) ? SD_OP_GET_VDI_INFO : SD_OP_LOCK_VDI;
		h->flags = SD_FLAG_CMD_WRITE;
		h->vdi.type = chaos_below(c, 3);
		h->data_length = SD_MAX_VDI_LEN;
		memset(pay, 0, SD_MAX_VDI_LEN);
		memcpy(pay, "chaos", 5);
		return SD_REQ_SIZE + SD_MAX_VDI_LEN;
	case 7:
		h->opcode = SD_OP_RELEASE_VDI;
		h->vdi.base_vdi_id = c->vid;
		h->vdi.type = chaos_below(c, 3);
		return SD_REQ_SIZE;
	case 8:
		h->opcode = SD_OP_READ_OBJ;
		h->obj.oid = inode;
		h->obj.offset = chaos_below(c, 2) ? 0 : SD_INODE_HEADER_SIZE;
		h->data_length = 4096;
		return SD_REQ_SIZE;
	case 9:
		h->opcode = SD_OP_GET_HASH;
		h->proto_ver = SD_SHEEP_PROTO_VER;
		h->obj.oid = chaos_below(c, 2) ? inode : data;
		return SD_REQ_SIZE;
	case 10:
		h->opcode = SD_OP_EXT_HELLO;
		h->obj.oid = chaos_byte(c) | (uint64_t)chaos_byte(c) << 8;
		return SD_REQ_SIZE;
	case 11:
		h->opcode = SD_OP_GET_VDI_ATTR;
		h->proto_ver = SD_SHEEP_PROTO_VER;
		h->flags = SD_FLAG_CMD_WRITE;
		h->vdi.base_vdi_id = c->vid;
		h->data_length = SD_ATTR_OBJ_SIZE;
		memset(pay, 0, SD_ATTR_OBJ_SIZE);
		memcpy(pay, "chaos", 5);
		memcpy(pay + 2 * SD_MAX_VDI_LEN, "key", 3);
		return SD_REQ_SIZE + SD_ATTR_OBJ_SIZE;
	case 12:
		h->opcode = SD_OP_READ_VDIS;
		h->data_length = SD_NR_VDIS / 8;
		return SD_REQ_SIZE;
	default:
		h->opcode = chaos_below(c, 2) ? SD_OP_STAT_SHEEP : SD_OP_GET_NODE_LIST;
		h->proto_ver = SD_SHEEP_PROTO_VER;
		h->data_length = 4096;
		return SD_REQ_SIZE;
	}
}

/* The exclusions of the usage text, applied to a frame about to be sent. */
static void chaos_defuse(struct chaos *c, uint8_t *buf, size_t len)
{
	struct sd_req h;

	if (len < SD_REQ_SIZE)
		return;
	memcpy(&h, buf, sizeof(h));
	if (h.opcode == SD_OP_MAKE_FS || h.opcode == SD_OP_SHUTDOWN)
		h.opcode = 0x7e;
	if (sd_oid_to_vid(h.obj.oid) == c->avoid)
		h.obj.oid ^= UINT64_C(1) << 55;
	if (sd_oid_to_vid(h.obj.cow_oid) == c->avoid)
		h.obj.cow_oid ^= UINT64_C(1) << 55;
	/* RELEASE_VDI, GET_VDI_ATTR and snapshots name a vdi by its vid here */
	if ((h.vdi.base_vdi_id & 0xffffff) == c->avoid)
		h.vdi.base_vdi_id ^= 1u << 23;
	memcpy(buf, &h, sizeof(h));
}

static void chaos_reconnect(struct chaos *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = connect_server();
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	c->connections++;
}

/* Drop whatever replies arrived; 0, or -1 when the sheep closed. */
static int chaos_drain(struct chaos *c)
{
	char junk[65536];

	for (;;) {
		ssize_t n = recv(c->fd, junk, sizeof(junk), 0);

		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return 0;
		return -1;
	}
}

/* Send all of buf, draining replies meanwhile; -1 when the sheep closed. */
static int chaos_send(struct chaos *c, const uint8_t *buf, size_t len)
{
	size_t off = 0;
	long long end = now_ms() + IO_TIMEOUT_MS;

	while (off < len) {
		ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (chaos_drain(c))
			return -1;
		if (now_ms() > end)
			die("chaos: the sheep took no bytes for %d ms", IO_TIMEOUT_MS);
		poll(&(struct pollfd){ .fd = c->fd, .events = POLLIN | POLLOUT }, 1, 10);
	}
	return chaos_drain(c);
}

static int cmd_chaos(int argc, char **argv)
{
	static uint8_t buf[SD_REQ_SIZE + SD_ATTR_OBJ_SIZE];
	struct chaos c = { .rng = 1, .fd = -1 };
	unsigned frames = 5000, i, kinds[3] = { 0 }, left = 0;
	int a;

	for (a = 0; a < argc; a++) {
		if (a + 1 >= argc)
			die("chaos: %s needs a value", argv[a]);
		if (!strcmp(argv[a], "--vid"))
			c.vid = (uint32_t)num(argv[++a]);
		else if (!strcmp(argv[a], "--avoid"))
			c.avoid = (uint32_t)num(argv[++a]);
		else if (!strcmp(argv[a], "--seed"))
			c.rng = num(argv[++a]) * 2 + 1;
		else if (!strcmp(argv[a], "--frames"))
			frames = (unsigned)num(argv[++a]);
		else
			die("chaos: unknown option %s", argv[a]);
	}
	if (!c.vid || !c.avoid || c.vid == c.avoid)
		die("%s", "chaos: --vid and a different --avoid are required");
	for (i = 0; i < frames; i++) {
		unsigned kind = chaos_below(&c, 3), k;
		size_t len;

		if (!left) {
			chaos_reconnect(&c);
			left = 1 + chaos_below(&c, 64);
		}
		left--;
		if (kind == 0) {
			len = 1 + chaos_below(&c, 200);
			for (k = 0; k < len; k++)
				buf[k] = chaos_byte(&c);
		} else {
			len = chaos_valid(&c, buf);
		}
		if (kind == 2) {
			unsigned flips = 1 + chaos_below(&c, 4);

			for (k = 0; k < flips; k++)
				buf[chaos_below(&c, (uint32_t)len)] = chaos_byte(&c);
			if (!chaos_below(&c, 8))
				len = chaos_below(&c, (uint32_t)len);
		}
		chaos_defuse(&c, buf, len);
		kinds[kind]++;
		if (chaos_send(&c, buf, len))
			left = 0; /* the sheep closed it: a new connection */
	}
	if (c.fd >= 0)
		close(c.fd);
	printf("ok frames=%u random=%u valid=%u mutated=%u connections=%u\n", frames, kinds[0],
	       kinds[1], kinds[2], c.connections);
	return 0;
}

int main(int argc, char **argv)
{
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		if (i + 1 >= argc)
			die("option %s needs a value", argv[i]);
		if (!strcmp(argv[i], "-a"))
			g_addr = argv[i + 1];
		else if (!strcmp(argv[i], "-p"))
			g_port = argv[i + 1];
		else if (!strcmp(argv[i], "-u"))
			g_unix = argv[i + 1];
		else
			die("unknown option %s", argv[i]);
		i += 2;
	}
	if (i >= argc)
		die("%s", "usage: sd-raw [-a ADDR] [-p PORT] [-u SOCK] req|pipeline ...");
	if (!strcmp(argv[i], "req"))
		return cmd_req(argc - i - 1, argv + i + 1);
	if (!strcmp(argv[i], "pipeline"))
		return cmd_pipeline(argc - i - 1, argv + i + 1);
	if (!strcmp(argv[i], "chaos"))
		return cmd_chaos(argc - i - 1, argv + i + 1);
	die("unknown command %s", argv[i]);
}
