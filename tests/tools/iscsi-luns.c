/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * iscsi-luns: many LUNs of one target through one iSCSI session (libiscsi,
 * asynchronous), for the scale and fairness tests of the LUN pool.
 *
 *   iscsi-luns URL --luns FIRST-LAST --mode stamp|check [--qd N] [--seed N]
 *	stamp: write one 4 KiB block at offset 0 of every LUN, its content a
 *	pattern of (LUN, seed); check: read them back and compare.  The LUNs
 *	are done QD at a time (default 32) over all of them.
 *   iscsi-luns URL --luns FIRST-LAST --mode load --time SEC [--qd N]
 *	[--length BYTES] [--seed N] [--expect-errors LUN]
 *	every LUN first gets [0, LENGTH) (default 8 MiB) written with its
 *	pattern, then QD (default 8) random 4 KiB READs and WRITEs each, at
 *	once, for SEC seconds; every READ is checked against the pattern.
 *	Then a line per LUN and a summary:
 *	  lun=N ops=N iops=N errors=N mismatches=N max_ms=MS
 *	  luns=N aggregate_iops=N min_iops=N max_iops=N errors=N mismatches=N max_ms=MS
 *	(max_ms: the slowest command of the timed phase)
 *	errors on LUN --expect-errors (a LUN whose vdi is made to fail) are
 *	counted in its line but not in the summary, and do not stop the run.
 *
 * URL is iscsi://HOST:PORT/IQN/LUN (the LUN part is ignored).  Each LUN
 * first gets a TEST UNIT READY (its unit attention of the new session).  Exit status
 * 0 when the summary has no errors and no mismatches, 1 otherwise, 2 for a
 * usage or connection error.
 */
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "tool.h"

#define BLK    512
#define IOSIZE 4096
#define FILLSZ 65536

enum mode { M_STAMP, M_CHECK, M_LOAD };

struct lun {
	int no;
	uint64_t ops, errors, mismatches;
	uint64_t fill_off; /* load: the prefill's next offset */
	double max_lat;	   /* seconds, the slowest command of the timed phase */
	uint64_t rng;
};

struct slot {
	struct run *r;
	struct lun *l;
	unsigned char buf[FILLSZ];
	uint64_t off;
	uint32_t len;
	bool write, busy;
	double t_submit;
	unsigned int retries; /* UNIT ATTENTIONs of the current command */
};

struct run {
	struct iscsi_context *iscsi;
	enum mode mode;
	struct lun *luns;
	unsigned int nluns, qd;
	uint64_t seed, length;
	int expect_errors;
	double deadline;
	bool filling;
	unsigned int next_lun; /* stamp/check: the next LUN to do */
	unsigned int inflight;
	bool fatal;
};

/* The pattern of a LUN: its own seed, which names the LUN in every block. */
static void pattern(unsigned char *p, uint64_t off, uint32_t len, int lun, uint64_t seed)
{
	tool_pattern_fill(p, off, len, seed ^ (uint64_t)lun << 40);
}

static void submit(struct run *r, struct slot *s);
static void issue(struct run *r, struct slot *s);

static void done_cb(struct iscsi_context *iscsi, int status, void *command_data, void *priv)
{
	struct slot *s = priv;
	struct run *r = s->r;
	struct scsi_task *task = command_data;
	struct lun *l = s->l;

	(void)iscsi;
	s->busy = false;
	r->inflight--;
	/* a unit attention (a new LUN's power-on, a LUN added or deleted on
	 * the target): send the command again, at most 5 times, as Linux's sd */
	if (status == SCSI_STATUS_CHECK_CONDITION && task &&
	    task->sense.key == SCSI_SENSE_UNIT_ATTENTION && s->retries++ < 5) {
		scsi_free_scsi_task(task);
		issue(r, s);
		return;
	}
	s->retries = 0;
	if (status != SCSI_STATUS_GOOD) {
		if (l->errors++ < 3)
			fprintf(stderr,
				"iscsi-luns: LUN %d %s offset %" PRIu64
				": status 0x%x key 0x%x asc/ascq 0x%04x\n",
				l->no, s->write ? "WRITE" : "READ", s->off, status,
				task && status == SCSI_STATUS_CHECK_CONDITION ? task->sense.key : 0,
				task && status == SCSI_STATUS_CHECK_CONDITION ? task->sense.ascq
									      : 0);
	} else if (!s->write) {
		unsigned char want[IOSIZE];

		pattern(want, s->off, s->len, l->no, r->seed);
		if (!task || task->datain.size < (int)s->len ||
		    memcmp(task->datain.data, want, s->len)) {
			if (l->mismatches++ < 3)
				fprintf(stderr,
					"iscsi-luns: LUN %d offset %" PRIu64 ": wrong data\n",
					l->no, s->off);
		}
	}
	if (status == SCSI_STATUS_GOOD && !r->filling) {
		double lat = tool_now() - s->t_submit;

		l->ops++;
		if (lat > l->max_lat)
			l->max_lat = lat;
	}
	if (task)
		scsi_free_scsi_task(task);
	if (status != SCSI_STATUS_GOOD && l->no != r->expect_errors)
		return; /* the summary fails; this slot stops */
	submit(r, s);
}

/* Give slot s its next command, or leave it idle when its work is done. */
static void submit(struct run *r, struct slot *s)
{
	struct lun *l = s->l;

	if (r->mode != M_LOAD) {
		if (r->next_lun >= r->nluns)
			return;
		l = s->l = &r->luns[r->next_lun++];
		s->off = 0;
		s->len = IOSIZE;
		s->write = r->mode == M_STAMP;
	} else if (r->filling) {
		if (l->fill_off >= r->length)
			return;
		s->off = l->fill_off;
		s->len = r->length - s->off < FILLSZ ? (uint32_t)(r->length - s->off) : FILLSZ;
		l->fill_off += s->len;
		s->write = true;
	} else {
		if (tool_now() >= r->deadline)
			return;
		l->rng = tool_mix(l->rng);
		s->off = (l->rng >> 8) % (r->length / IOSIZE) * IOSIZE;
		s->len = IOSIZE;
		s->write = l->rng & 1;
	}
	issue(r, s);
}

/* Queue s's command (again, after a UNIT ATTENTION). */
static void issue(struct run *r, struct slot *s)
{
	struct scsi_task *t;
	struct lun *l = s->l;

	if (s->write) {
		pattern(s->buf, s->off, s->len, l->no, r->seed);
		t = iscsi_write16_task(r->iscsi, l->no, s->off / BLK, s->buf, s->len, BLK, 0, 0, 0,
				       0, 0, done_cb, s);
	} else {
		t = iscsi_read16_task(r->iscsi, l->no, s->off / BLK, s->len, BLK, 0, 0, 0, 0, 0,
				      done_cb, s);
	}
	if (!t) {
		fprintf(stderr, "iscsi-luns: cannot queue a command: %s\n",
			iscsi_get_error(r->iscsi));
		r->fatal = true;
		return;
	}
	s->busy = true;
	s->t_submit = tool_now();
	r->inflight++;
}

/* Run the event loop until nothing is in flight (bounded by limit). */
static int drain(struct run *r, double limit)
{
	while (r->inflight && !r->fatal) {
		struct pollfd pfd = { .fd = iscsi_get_fd(r->iscsi),
				      .events = iscsi_which_events(r->iscsi) };

		if (tool_now() > limit) {
			fprintf(stderr,
				"iscsi-luns: %u commands still in flight at the time limit\n",
				r->inflight);
			return -1;
		}
		if (poll(&pfd, 1, 1000) < 0)
			return -1;
		if (iscsi_service(r->iscsi, pfd.revents) < 0) {
			fprintf(stderr, "iscsi-luns: session failed: %s\n",
				iscsi_get_error(r->iscsi));
			return -1;
		}
	}
	return r->fatal ? -1 : 0;
}

static int parse_range(const char *s, int *a, int *b)
{
	char *end;

	*a = (int)strtol(s, &end, 10);
	if (*end != '-')
		return -1;
	*b = (int)strtol(end + 1, &end, 10);
	return *end || *a < 0 || *b < *a || *b > 16383 ? -1 : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: iscsi-luns URL --luns FIRST-LAST --mode stamp|check|load "
			"[--qd N] [--time SEC] [--length BYTES] [--seed N] "
			"[--expect-errors LUN]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "luns", required_argument, NULL, 'l' },
		{ "mode", required_argument, NULL, 'm' },
		{ "qd", required_argument, NULL, 'q' },
		{ "time", required_argument, NULL, 't' },
		{ "length", required_argument, NULL, 'L' },
		{ "seed", required_argument, NULL, 's' },
		{ "expect-errors", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	struct run r = { .qd = 0, .seed = 1, .length = 8 << 20, .expect_errors = -1 };
	struct iscsi_url *url;
	struct slot *slots;
	double secs = 0, t0, t1;
	int first = -1, last = -1, c, mode = -1;
	unsigned int i, nslots;
	uint64_t agg = 0, minops = UINT64_MAX, maxops = 0, errors = 0, mism = 0;
	double maxlat = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (parse_range(optarg, &first, &last)) {
				usage();
				return 2;
			}
			break;
		case 'm':
			mode = !strcmp(optarg, "stamp")	  ? M_STAMP
			       : !strcmp(optarg, "check") ? M_CHECK
			       : !strcmp(optarg, "load")  ? M_LOAD
							  : -1;
			break;
		case 'q': r.qd = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 't': secs = strtod(optarg, NULL); break;
		case 'L': r.length = strtoull(optarg, NULL, 10); break;
		case 's': r.seed = strtoull(optarg, NULL, 10); break;
		case 'e': r.expect_errors = atoi(optarg); break;
		default: usage(); return 2;
		}
	}
	if (optind != argc - 1 || first < 0 || mode < 0 || (mode == M_LOAD && secs <= 0) ||
	    r.length < IOSIZE || r.length % IOSIZE || r.qd > 1024) {
		usage();
		return 2;
	}
	r.mode = (enum mode)mode;
	if (!r.qd)
		r.qd = r.mode == M_LOAD ? 8 : 32;
	r.nluns = (unsigned int)(last - first + 1);
	r.luns = calloc(r.nluns, sizeof(*r.luns));
	if (!r.luns)
		return 2;
	for (i = 0; i < r.nluns; i++) {
		r.luns[i].no = first + (int)i;
		r.luns[i].rng = tool_mix(r.seed + i);
	}
	nslots = r.mode == M_LOAD ? r.qd * r.nluns : r.qd;
	slots = calloc(nslots, sizeof(*slots));
	r.iscsi = iscsi_create_context("iqn.2026-11.org.sheepdog.tests:iscsi-luns");
	if (!slots || !r.iscsi)
		return 2;
	url = iscsi_parse_full_url(r.iscsi, argv[optind]);
	if (!url) {
		fprintf(stderr, "iscsi-luns: bad URL: %s\n", iscsi_get_error(r.iscsi));
		return 2;
	}
	iscsi_set_targetname(r.iscsi, url->target);
	iscsi_set_session_type(r.iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(r.iscsi, ISCSI_HEADER_DIGEST_NONE);
	if (iscsi_full_connect_sync(r.iscsi, url->portal, url->lun) != 0) {
		fprintf(stderr, "iscsi-luns: login failed: %s\n", iscsi_get_error(r.iscsi));
		return 2;
	}
	iscsi_destroy_url(url);

	/*
	 * Each LUN's power-on UNIT ATTENTION on this new nexus, taken by a
	 * TEST UNIT READY as initiators do: a READ answered with it gets
	 * tgt core to send its (never written) data-in buffer too.
	 */
	for (i = 0; i < r.nluns; i++) {
		int tries;

		for (tries = 0; tries < 3; tries++) {
			struct scsi_task *t = iscsi_testunitready_sync(r.iscsi, r.luns[i].no);
			int ok = t && t->status == SCSI_STATUS_GOOD;

			if (t)
				scsi_free_scsi_task(t);
			if (ok)
				break;
		}
	}
	for (i = 0; i < nslots; i++) {
		slots[i].r = &r;
		slots[i].l = r.mode == M_LOAD ? &r.luns[i / r.qd] : NULL;
	}
	t0 = tool_now();
	if (r.mode == M_LOAD) {
		r.filling = true;
		for (i = 0; i < nslots; i++)
			submit(&r, &slots[i]);
		if (drain(&r, tool_now() + 600))
			return 2;
		r.filling = false;
		t0 = tool_now();
		r.deadline = t0 + secs;
	}
	for (i = 0; i < nslots; i++)
		submit(&r, &slots[i]);
	if (drain(&r, tool_now() + secs + 600))
		return 2;
	t1 = tool_now();

	for (i = 0; i < r.nluns; i++) {
		struct lun *l = &r.luns[i];

		if (r.mode == M_LOAD)
			printf("lun=%d ops=%" PRIu64 " iops=%.0f errors=%" PRIu64
			       " mismatches=%" PRIu64 " max_ms=%.1f\n",
			       l->no, l->ops, l->ops / (t1 - t0), l->errors, l->mismatches,
			       l->max_lat * 1e3);
		if (l->no == r.expect_errors)
			continue;
		agg += l->ops;
		minops = l->ops < minops ? l->ops : minops;
		maxops = l->ops > maxops ? l->ops : maxops;
		errors += l->errors;
		mism += l->mismatches;
		if (l->max_lat > maxlat)
			maxlat = l->max_lat;
	}
	if (minops == UINT64_MAX)
		minops = 0;
	if (r.mode == M_LOAD)
		printf("luns=%u aggregate_iops=%.0f min_iops=%.0f max_iops=%.0f errors=%" PRIu64
		       " mismatches=%" PRIu64 " max_ms=%.1f\n",
		       r.nluns, agg / (t1 - t0), minops / (t1 - t0), maxops / (t1 - t0), errors,
		       mism, maxlat * 1e3);
	else
		printf("luns=%u ok=%" PRIu64 " errors=%" PRIu64 " mismatches=%" PRIu64
		       " seconds=%.2f\n",
		       r.nluns, agg, errors, mism, t1 - t0);
	iscsi_logout_sync(r.iscsi);
	iscsi_destroy_context(r.iscsi);
	free(slots);
	free(r.luns);
	return errors || mism ? 1 : 0;
}
