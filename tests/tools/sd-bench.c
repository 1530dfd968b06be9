// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd-bench: random I/O on one vdi through libsheepdog's async API, straight
 * to sheep (no tgtd, no iSCSI): the floor scripts/bench compares the tgtd
 * contenders with.
 *
 *   sd-bench ADDR VDI --mode randread|randwrite [--qd N] [--bs BYTES]
 *	[--time SECONDS] [--length BYTES] [--conns N] [--shared] [--seed N]
 *
 * ADDR is anything sd_connect() takes ("127.0.0.1:7000", "unix:/path").
 * Keeps --qd (default 32) requests of --bs bytes (default 4096) in flight at
 * --bs-aligned random offsets of the first --length bytes of the vdi (default
 * all of it) for --time seconds (default 10; decimals allowed), then drains
 * and prints, like tests/tools/iscsi-io,
 *   iops=N mbps=N.N ops=N errors=N lat_us=N.N
 * lat_us is the mean time from submit to completion callback.  Writes carry
 * a fixed byte pattern (data is not checked).  --conns is the handle's
 * nr_connections (default: the library's), --shared opens with
 * SD_VDI_SHARED.
 *
 * Exit status: 0 success, 1 an I/O error completed, 2 usage or setup
 * failure.  Threading: single-threaded; one poll loop over sd_cluster_fd()
 * and sd_cluster_service().
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sheepdog/sheepdog.h>

#include "tool.h"

struct bench_slot {
	struct bench *b;
	unsigned char *buf;
	double t_submit;
};

struct bench {
	struct sd_vdi *vdi;
	bool write;
	uint64_t bs;
	uint64_t nchunks;
	uint64_t rng;
	unsigned int inflight;
	uint64_t completed;
	uint64_t errors;
	double lat_sum;
	bool stop;
};

static uint64_t bench_rand(struct bench *b)
{
	return tool_next(&b->rng);
}

static int bench_submit(struct bench_slot *s);

static void bench_done_cb(struct sd_vdi *vdi, int ret, void *opaque)
{
	struct bench_slot *s = opaque;
	struct bench *b = s->b;

	(void)vdi;
	b->inflight--;
	b->completed++;
	b->lat_sum += tool_now() - s->t_submit;
	if (ret < 0) {
		if (!b->errors)
			fprintf(stderr, "sd-bench: %s: %s\n", b->write ? "write" : "read",
				strerror(-ret));
		b->errors++;
		b->stop = true;
	}
	/* the next request goes out from the main loop, not from here */
	s->t_submit = 0;
}

static int bench_submit(struct bench_slot *s)
{
	struct bench *b = s->b;
	uint64_t off = (bench_rand(b) % b->nchunks) * b->bs;
	int ret;

	s->t_submit = tool_now();
	if (b->write)
		ret = sd_vdi_aio_write(b->vdi, s->buf, b->bs, off, 0, bench_done_cb, s);
	else
		ret = sd_vdi_aio_read(b->vdi, s->buf, b->bs, off, bench_done_cb, s);
	if (ret < 0) {
		fprintf(stderr, "sd-bench: submit: %s\n", strerror(-ret));
		s->t_submit = 0;
		return ret;
	}
	b->inflight++;
	return 0;
}

static int bench_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-')
		return -EINVAL;
	*out = v;
	return 0;
}

static void bench_usage(void)
{
	fprintf(stderr, "usage: sd-bench ADDR VDI --mode randread|randwrite [--qd N] "
			"[--bs BYTES] [--time SECONDS] [--length BYTES] [--conns N] "
			"[--shared] [--seed N]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "qd", required_argument, NULL, 'q' },
		{ "bs", required_argument, NULL, 'b' },
		{ "time", required_argument, NULL, 't' },
		{ "length", required_argument, NULL, 'l' },
		{ "conns", required_argument, NULL, 'c' },
		{ "shared", no_argument, NULL, 'S' },
		{ "seed", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b = { .bs = 4096 };
	struct sd_cluster_opts copts;
	struct sd_cluster *c = NULL;
	struct bench_slot *slots = NULL;
	uint64_t qd = 32, length = 0, conns = 0, seed = 1;
	const char *mode = NULL, *addr, *name;
	double secs = 10, t_start, t_end, el;
	char *end;
	unsigned int i;
	bool shared = false;
	int opt, rc = 2;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'm': mode = optarg; break;
		case 'q':
			if (bench_parse_u64(optarg, &qd) || !qd || qd > 4096)
				goto usage;
			break;
		case 'b':
			if (bench_parse_u64(optarg, &b.bs) || !b.bs || b.bs % 512 || b.bs > 4 << 20)
				goto usage;
			break;
		case 't':
			secs = strtod(optarg, &end);
			if (end == optarg || *end || !(secs > 0))
				goto usage;
			break;
		case 'l':
			if (bench_parse_u64(optarg, &length))
				goto usage;
			break;
		case 'c':
			if (bench_parse_u64(optarg, &conns) || conns > 64)
				goto usage;
			break;
		case 'S': shared = true; break;
		case 's':
			if (bench_parse_u64(optarg, &seed))
				goto usage;
			break;
		default: goto usage;
		}
	}
	if (argc - optind != 2 || !mode)
		goto usage;
	if (!strcmp(mode, "randwrite"))
		b.write = true;
	else if (strcmp(mode, "randread"))
		goto usage;
	addr = argv[optind];
	name = argv[optind + 1];

	sd_cluster_opts_init(&copts);
	if (conns)
		copts.nr_connections = (unsigned)conns;
	c = sd_connect_opts(addr, &copts);
	if (!c) {
		fprintf(stderr, "sd-bench: connect %s: %s\n", addr, strerror(errno));
		return 2;
	}
	b.vdi = sd_vdi_open_flags(c, name, 0, NULL, shared ? SD_VDI_SHARED : 0);
	if (!b.vdi) {
		fprintf(stderr, "sd-bench: open %s: %s\n", name, sd_cluster_errmsg(c));
		goto out;
	}
	if (!length || length > sd_vdi_size(b.vdi))
		length = sd_vdi_size(b.vdi);
	b.nchunks = length / b.bs;
	if (!b.nchunks) {
		fprintf(stderr, "sd-bench: range smaller than one block\n");
		goto out;
	}
	b.rng = seed ^ 0x72616e646f6dULL;
	slots = calloc(qd, sizeof(*slots));
	if (!slots)
		goto oom;
	for (i = 0; i < qd; i++) {
		slots[i].b = &b;
		slots[i].buf = malloc(b.bs);
		if (!slots[i].buf)
			goto oom;
		memset(slots[i].buf, 0x5a, b.bs);
	}

	t_start = tool_now();
	t_end = t_start + secs;
	for (;;) {
		struct pollfd pfd = { .fd = sd_cluster_fd(c), .events = POLLIN };

		if (!b.stop && tool_now() >= t_end)
			b.stop = true;
		for (i = 0; i < qd && !b.stop; i++)
			if (!slots[i].t_submit && bench_submit(&slots[i]) < 0) {
				b.errors++;
				b.stop = true;
			}
		if (b.stop && !b.inflight)
			break;
		if (poll(&pfd, 1, 100) < 0 && errno != EINTR) {
			perror("sd-bench: poll");
			goto out;
		}
		if (sd_cluster_service(c) < 0) {
			fprintf(stderr, "sd-bench: service: %s\n", sd_cluster_errmsg(c));
			goto out;
		}
	}
	el = tool_now() - t_start;
	printf("iops=%.0f mbps=%.1f ops=%" PRIu64 " errors=%" PRIu64 " lat_us=%.1f\n",
	       b.completed / el, b.completed * b.bs / el / 1e6, b.completed, b.errors,
	       b.completed ? b.lat_sum / b.completed * 1e6 : 0.0);
	fflush(stdout);
	rc = b.errors ? 1 : 0;
	goto out;
oom:
	fprintf(stderr, "sd-bench: out of memory\n");
out:
	if (b.vdi && sd_vdi_close(b.vdi) < 0 && rc == 0)
		rc = 2;
	if (c && sd_disconnect(c) < 0 && rc == 0)
		rc = 2;
	if (slots)
		for (i = 0; i < qd; i++)
			free(slots[i].buf);
	free(slots);
	return rc;
usage:
	bench_usage();
	return 2;
}
