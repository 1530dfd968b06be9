// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * iscsi-io: drive N outstanding READ/WRITE commands against one iSCSI LUN
 * with libiscsi's async API, writing and verifying a deterministic pattern.
 *
 *   iscsi-io URL --mode write|verify|read|randread|randwrite|randrw
 *	[--qd N] [--bs BYTES] [--offset BYTES] [--length BYTES] [--seed N]
 *	[--time SECONDS] [--count N] [--fua] [--op10|--op16]
 *	[--verify-reads] [--timeout SECONDS] [--sync-every N]
 *   iscsi-io URL --mode caw --offset BYTES --bs BYTES [--qd N] [--writers N]
 *	[--count N] [--time SECONDS] [--shared [--torn-ok]]
 *
 * The pattern is a function of the seed and of the 512-byte block number
 * (byte offset / 512), so every 512-byte block is distinct and data written
 * by any mode (sequential or random) verifies with the same seed.
 *
 * write/verify/read walk [offset, offset+length) in --bs chunks (the last
 * one may be shorter) with --qd commands outstanding; --count caps the
 * number of chunks.  verify reports the lowest mismatching LBA.  The rand*
 * modes issue --bs-aligned commands at random positions in the range until
 * --time seconds (default 10) or --count commands, whichever comes first;
 * randrw mixes reads and writes 50/50; writes always carry the pattern, and
 * --verify-reads checks random reads against it.  Every mode ends with
 *   iops=N mbps=N.N ops=N errors=N lat_us=N.N
 * on stdout (lat_us: mean time from queueing a READ/WRITE to its
 * completion).  --sync-every N (rand* modes): after every N WRITEs queued,
 * the next command is a SYNCHRONIZE CACHE(10) of the whole LUN; those are
 * not counted in iops/ops/lat_us, and the line gets
 *   syncs=N sync_lat_us=N.N
 * after lat_us.  A SCSI error prints the command and its sense data, stops
 * new submissions, drains and exits 1.
 *
 * --mode caw checks COMPARE AND WRITE atomicity: the region [offset,
 * offset+bs) holds a counter (the same 64-bit value in every 8 bytes, set
 * to 0 first).  Of the --qd slots, --writers (default qd/4) issue plain
 * WRITE16s of the pattern to the --bs blocks just before and just after the
 * region; the others are lockers: READ16 the region, then COMPARE AND WRITE
 * it from value v to v+1, again and again (a MISCOMPARE means another
 * locker won: read again).  Every region read must be uniform and every
 * MISCOMPARE's INFORMATION must point into the first 8 bytes (else the
 * compare saw a torn region).  It runs until --count successful CAWs or
 * --time seconds, then reads the region back: it must hold exactly the
 * number of successful CAWs.  Prints
 *   caw_ok=N caw_miscompare=N writes=N final=N torn=N
 * and exits 1 if the count is off, anything was torn or a command failed.
 * --shared: other iscsi-io runs hammer the same region at the same time
 * (through other paths or gateways): the region is not set to 0 (the
 * caller does it first), the line gets start=N (the counter when this run
 * began), and only the sum of caw_ok over every run can be checked against
 * the final counter (the caller does it); torn regions still fail the run,
 * unless --torn-ok: then a torn region is counted (torn=N), the locker
 * reads again, and the run does not fail for it.  That is for runs that
 * show what an unlocked configuration does (gateways that do not lock
 * against each other), where a torn region is one of the expected outcomes
 * and stopping at the first one would end the demonstration early.
 *
 * --mode xwrite --peer URL2 checks coherence between two gateways of one
 * vdi: --bs-aligned pattern WRITE16s at distinct pseudo-random positions of
 * the range through URL (--qd outstanding); as soon as one is acknowledged,
 * the same range is READ16 through URL2 and must hold the pattern.  Runs
 * until --count writes, --time seconds or every position was written.
 * Prints
 *   xwrites=N xreads=N stale=N zeros=N
 * (stale: reads through URL2 that differed; zeros: of those, reads of
 * nothing but zeros) and exits 1 if any read was stale.
 *
 * --mode ifault --fault drop|abort|lunreset|reset: initiator faults while
 * commands are inside the backing store; see io_run_ifault() below.
 * --mode stamp, stampcheck and stampfill (iscsi-stamp.c, whose header
 * describes them): stamp-and-verify over iSCSI for the fault tests; the
 * run's journal records which writes were acknowledged and flushed.
 *
 * --mode pattern connects to nothing (URL may be "-"): it writes the pattern
 * bytes of [offset, offset+length) for --seed to stdout, so tests can
 * compare data read by other means (dog vdi read, a file) with cmp.
 *
 * --mode script reads commands from stdin, one per line, for raw CDBs
 * from several I_T nexuses that stay logged in across lines
 * (reservation tests):
 *   login S INITIATOR-IQN [ISID] [url=URL]
 *                                  open session S (ISID: 6 bytes in hex,
 *                                  default 0x23d000000000 + session number)
 *                                  to URL (default: the command line's;
 *                                  several gateways of one LU: every URL
 *                                  must name the same LUN); unit
 *                                  attentions of the login are cleared
 *   logout S                       log session S out
 *   lunreset S                     LOGICAL UNIT RESET on S; prints
 *                                  "S tmf=0" (function complete) or
 *                                  "S tmf=failed"
 *   S CDBHEX [out=HEX] [in=N]      send the CDB on S; prints one line
 *     "S status=GOOD [data=HEX]", "S status=CHECK_CONDITION key=0xK
 *     asc=0xA ascq=0xQ" or "S status=0xNN" (0x18: RESERVATION CONFLICT)
 *   # ...                          comment
 * Exit 0 when every line ran (whatever the SCSI status), 2 otherwise.
 *
 * Exit status: 0 success, 1 SCSI error or data mismatch, 2 usage, connect
 * or transport failure, or the overall --timeout (default: --time + 120 s,
 * or 600 s) expired.
 *
 * Threading: single-threaded; one poll loop over iscsi_get_fd() /
 * iscsi_which_events() / iscsi_service().
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "stamp.h"
#include "iscsi-stamp.h"
#include "iscsi-io.h"

static uint64_t io_rand(struct io_ctx *c)
{
	c->rng = tool_mix(c->rng);
	return c->rng;
}

static void io_pattern_check(struct io_ctx *c, const unsigned char *buf, uint64_t off, uint32_t len)
{
	unsigned char want[IO_PATTERN_BLOCK];
	uint64_t blk;
	uint32_t i;

	for (i = 0; i < len; i += IO_PATTERN_BLOCK) {
		blk = (off + i) / IO_PATTERN_BLOCK;
		tool_pattern_block(want, blk, c->o.seed);
		if (memcmp(buf + i, want, IO_PATTERN_BLOCK) == 0)
			continue;
		if (c->mismatches == 0 || blk < c->first_bad_block)
			c->first_bad_block = blk;
		c->mismatches++;
	}
}

static const char *io_op_name(const struct io_ctx *c, bool write)
{
	if (c->o.op10)
		return write ? "WRITE10" : "READ10";
	return write ? "WRITE16" : "READ16";
}

static void io_report_error(struct io_ctx *c, struct io_slot *s, int status, struct scsi_task *task)
{
	uint64_t lba = s->off / c->block_size;
	const char *op = c->o.mode == IO_CAW && s->step == IO_CAW_CAW ? "COMPARE AND WRITE"
								      : io_op_name(c, s->write);

	c->errors++;
	c->stop = true;
	if (status == SCSI_STATUS_CHECK_CONDITION && task) {
		fprintf(stderr,
			"iscsi-io: %s lba=%" PRIu64 " blocks=%" PRIu32
			": CHECK CONDITION sense key=0x%x (%s) asc=0x%02x ascq=0x%02x (%s)\n",
			op, lba, s->len / c->block_size, task->sense.key,
			scsi_sense_key_str(task->sense.key), (task->sense.ascq >> 8) & 0xff,
			task->sense.ascq & 0xff, scsi_sense_ascq_str(task->sense.ascq));
	} else {
		fprintf(stderr,
			"iscsi-io: %s lba=%" PRIu64 " blocks=%" PRIu32 ": status 0x%x: %s\n", op,
			lba, s->len / c->block_size, status, iscsi_get_error(c->iscsi));
	}
}

static int io_submit(struct io_ctx *c, struct io_slot *s);

static void io_done_cb(struct iscsi_context *iscsi, int status, void *command_data,
		       void *private_data)
{
	struct io_slot *s = private_data;
	struct io_ctx *c = s->ctx;
	struct scsi_task *task = command_data;

	s->busy = false;
	c->inflight--;
	if (s->sync) {
		s->sync = false;
		c->syncs++;
		c->sync_lat_sum += tool_now() - s->t_submit;
		if (status != SCSI_STATUS_GOOD) {
			c->errors++;
			c->stop = true;
			fprintf(stderr, "iscsi-io: SYNCHRONIZE CACHE10: status 0x%x: %s\n", status,
				iscsi_get_error(c->iscsi));
		}
		if (task)
			scsi_free_scsi_task(task);
		return;
	}
	c->completed++;
	c->lat_sum += tool_now() - s->t_submit;
	if (status != SCSI_STATUS_GOOD) {
		io_report_error(c, s, status, task);
	} else if (!s->write) {
		bool check = c->o.mode == IO_VERIFY || c->o.verify_reads;

		if (!task || task->datain.size < (int)s->len) {
			fprintf(stderr,
				"iscsi-io: %s lba=%" PRIu64 ": short read (%d of %" PRIu32 ")\n",
				io_op_name(c, false), s->off / c->block_size,
				task ? task->datain.size : -1, s->len);
			c->errors++;
			c->stop = true;
		} else {
			uint64_t before = c->mismatches;

			if (check || s->xread)
				io_pattern_check(c, task->datain.data, s->off, s->len);
			if (s->xread) {
				const unsigned char *d = task->datain.data;

				c->x_reads++;
				if (c->mismatches != before) {
					c->x_stale++;
					if (!d[0] && !memcmp(d, d + 1, s->len - 1))
						c->x_zeros++;
				}
			}
			c->bytes += s->len;
		}
	} else {
		c->bytes += s->len;
	}
	if (task)
		scsi_free_scsi_task(task);
	s->xread = false;
	if (c->o.mode == IO_XWRITE && s->write && status == SCSI_STATUS_GOOD) {
		/* acknowledged through the first gateway: read it through the second */
		c->x_writes++;
		s->write = false;
		s->xread = true;
		if (io_submit(c, s) < 0) {
			c->errors++;
			c->stop = true;
		}
		c->submitted--;
	}
}

/* Picks the next command; returns false when the run is over. */
static bool io_next(struct io_ctx *c, uint64_t *off, uint32_t *len, bool *write)
{
	uint64_t end = c->o.offset + c->o.length, nchunks;

	if (c->stop || (c->o.count && c->submitted >= c->o.count))
		return false;
	switch (c->o.mode) {
	case IO_WRITE:
	case IO_VERIFY:
	case IO_READ:
		if (c->next_off >= end)
			return false;
		*off = c->next_off;
		*len = (uint32_t)(end - c->next_off < c->o.bs ? end - c->next_off : c->o.bs);
		*write = c->o.mode == IO_WRITE;
		c->next_off += *len;
		return true;
	case IO_XWRITE:
		/* distinct positions: a stride coprime with the number of chunks */
		nchunks = c->o.length / c->o.bs;
		if (c->submitted >= nchunks || (c->o.time > 0 && tool_now() >= c->t_end))
			return false;
		*off = c->o.offset +
		       ((c->submitted * (nchunks % 7919 ? 7919 : 1) + c->o.seed) % nchunks) *
			       c->o.bs;
		*len = (uint32_t)c->o.bs;
		*write = true;
		return true;
	default:
		if (c->o.time > 0 && tool_now() >= c->t_end)
			return false;
		nchunks = c->o.length / c->o.bs;
		*off = c->o.offset + (io_rand(c) % nchunks) * c->o.bs;
		*len = (uint32_t)c->o.bs;
		if (c->o.mode == IO_RANDRW)
			*write = io_rand(c) & 1;
		else
			*write = c->o.mode == IO_RANDWRITE;
		return true;
	}
}

static int io_submit(struct io_ctx *c, struct io_slot *s)
{
	uint64_t lba = s->off / c->block_size;
	int fua = s->write && c->o.fua;
	struct scsi_task *t;

	s->t_submit = tool_now();
	if (s->sync) {
		t = iscsi_synchronizecache10_task(c->iscsi, c->lun, 0, 0, 0, 0, io_done_cb, s);
		if (!t) {
			fprintf(stderr, "iscsi-io: cannot queue SYNCHRONIZE CACHE10: %s\n",
				iscsi_get_error(c->iscsi));
			return -EIO;
		}
		s->busy = true;
		c->inflight++;
		return 0;
	}
	if (s->xread) {
		t = iscsi_read16_task(c->peer->iscsi, c->peer->lun, lba, s->len, c->block_size, 0,
				      0, 0, 0, 0, io_done_cb, s);
		if (!t) {
			fprintf(stderr, "iscsi-io: cannot queue READ16 on the peer: %s\n",
				iscsi_get_error(c->peer->iscsi));
			return -EIO;
		}
		s->busy = true;
		c->inflight++;
		c->submitted++;
		return 0;
	}
	if (s->write)
		tool_pattern_fill(s->buf, s->off, s->len, c->o.seed);
	if (c->o.op10 && s->write)
		t = iscsi_write10_task(c->iscsi, c->lun, (uint32_t)lba, s->buf, s->len,
				       c->block_size, 0, 0, fua, 0, 0, io_done_cb, s);
	else if (c->o.op10)
		t = iscsi_read10_task(c->iscsi, c->lun, (uint32_t)lba, s->len, c->block_size, 0, 0,
				      0, 0, 0, io_done_cb, s);
	else if (s->write)
		t = iscsi_write16_task(c->iscsi, c->lun, lba, s->buf, s->len, c->block_size, 0, 0,
				       fua, 0, 0, io_done_cb, s);
	else
		t = iscsi_read16_task(c->iscsi, c->lun, lba, s->len, c->block_size, 0, 0, 0, 0, 0,
				      io_done_cb, s);
	if (!t) {
		fprintf(stderr, "iscsi-io: cannot queue %s: %s\n", io_op_name(c, s->write),
			iscsi_get_error(c->iscsi));
		return -EIO;
	}
	s->busy = true;
	c->inflight++;
	c->submitted++;
	return 0;
}

/* ---- --mode caw ---------------------------------------------------------- */

static void io_caw_set(unsigned char *p, uint32_t len, uint64_t v)
{
	uint32_t i;

	for (i = 0; i + 8 <= len; i += 8)
		memcpy(p + i, &v, 8);
}

/* The counter of a region, or false if its 8-byte words differ (torn). */
static bool io_caw_get(const unsigned char *p, uint32_t len, uint64_t *v)
{
	uint32_t i;

	memcpy(v, p, 8);
	for (i = 8; i + 8 <= len; i += 8)
		if (memcmp(p + i, p, 8))
			return false;
	return true;
}

static uint64_t io_be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | *p++;
	return v;
}

/* INFORMATION of the raw sense libiscsi keeps in datain (after a 2-byte
 * length) for CHECK CONDITION, fixed or descriptor format; -1 if none. */
static int64_t io_sense_info(const struct scsi_task *task)
{
	const unsigned char *s;
	int len, off, end;

	if (!task || task->datain.size <= 2)
		return -1;
	s = task->datain.data + 2;
	len = task->datain.size - 2;
	if (((s[0] & 0x7f) == 0x70 || (s[0] & 0x7f) == 0x71) && len >= 7)
		return (s[0] & 0x80) ? (int64_t)io_be(s + 3, 4) : -1;
	if (((s[0] & 0x7f) == 0x72 || (s[0] & 0x7f) == 0x73) && len >= 8) {
		end = 8 + s[7] < len ? 8 + s[7] : len;
		for (off = 8; off + 2 <= end; off += 2 + s[off + 1])
			if (s[off] == 0 && off + 12 <= end && (s[off + 2] & 0x80))
				return (int64_t)io_be(s + off + 4, 8);
	}
	return -1;
}

static void io_caw_done_cb(struct iscsi_context *iscsi, int status, void *command_data,
			   void *private_data)
{
	struct io_slot *s = private_data;
	struct io_ctx *c = s->ctx;
	struct scsi_task *task = command_data;
	uint32_t len = (uint32_t)c->o.bs;
	uint64_t v;
	int64_t info;

	(void)iscsi;
	s->busy = false;
	c->inflight--;
	c->completed++;
	switch (s->step) {
	case IO_CAW_WRITE:
		if (status != SCSI_STATUS_GOOD)
			io_report_error(c, s, status, task);
		c->caw_writes++;
		break;
	case IO_CAW_READ:
		if (status != SCSI_STATUS_GOOD || task->datain.size < (int)len) {
			io_report_error(c, s, status, task);
			break;
		}
		if (!io_caw_get(task->datain.data, len, &v)) {
			c->caw_torn++;
			if (c->o.caw_torn_ok)
				break; /* read it again */
			fprintf(stderr, "iscsi-io: caw: READ16 saw a torn region\n");
			c->stop = true;
			break;
		}
		/* compare with what was read, write the next value */
		memcpy(s->buf, task->datain.data, len);
		io_caw_set(s->buf + len, len, v + 1);
		s->step = IO_CAW_CAW;
		break;
	case IO_CAW_CAW:
		if (status != SCSI_STATUS_GOOD && !(status == SCSI_STATUS_CHECK_CONDITION && task &&
						    task->sense.key == SCSI_SENSE_MISCOMPARE)) {
			io_report_error(c, s, status, task);
			break;
		}
		s->step = IO_CAW_READ;
		if (status == SCSI_STATUS_GOOD) {
			c->caw_ok++;
			if (c->o.count && c->caw_ok >= c->o.count)
				c->stop = true;
			break;
		}
		/* MISCOMPARE: a changed counter differs in its first word */
		c->caw_miscompare++;
		info = io_sense_info(task);
		if (info < 0 || info >= 8) {
			c->caw_torn++;
			if (c->o.caw_torn_ok)
				break;
			fprintf(stderr,
				"iscsi-io: caw: MISCOMPARE at byte %" PRId64
				" (torn region, or no INFORMATION)\n",
				info);
			c->stop = true;
		}
		break;
	}
	if (task)
		scsi_free_scsi_task(task);
}

static int io_caw_submit(struct io_ctx *c, struct io_slot *s)
{
	uint32_t len = (uint32_t)c->o.bs;
	struct scsi_task *t;

	switch (s->step) {
	case IO_CAW_WRITE:
		/* a neighbour of the region, before or after it */
		s->off = io_rand(c) & 1 ? c->o.offset - len : c->o.offset + len;
		s->len = len;
		s->write = true;
		tool_pattern_fill(s->buf, s->off, len, c->o.seed);
		t = iscsi_write16_task(c->iscsi, c->lun, s->off / c->block_size, s->buf, len,
				       c->block_size, 0, 0, 0, 0, 0, io_caw_done_cb, s);
		break;
	case IO_CAW_READ:
		s->off = c->o.offset;
		s->len = len;
		s->write = false;
		t = iscsi_read16_task(c->iscsi, c->lun, s->off / c->block_size, len, c->block_size,
				      0, 0, 0, 0, 0, io_caw_done_cb, s);
		break;
	default:
		s->write = true;
		t = iscsi_compareandwrite_task(c->iscsi, c->lun, c->o.offset / c->block_size,
					       s->buf, 2 * len, c->block_size, 0, 0, 0, 0, 0,
					       io_caw_done_cb, s);
		break;
	}
	if (!t) {
		fprintf(stderr, "iscsi-io: caw: cannot queue a command: %s\n",
			iscsi_get_error(c->iscsi));
		return -EIO;
	}
	s->busy = true;
	c->inflight++;
	c->submitted++;
	return 0;
}

static int io_caw_fill_queue(struct io_ctx *c)
{
	unsigned int i;

	if (c->stop || (c->o.time > 0 && tool_now() >= c->t_end)) {
		c->stop = true;
		return 0;
	}
	for (i = 0; i < c->o.qd; i++)
		if (!c->slots[i].busy && io_caw_submit(c, &c->slots[i]) < 0)
			return -EIO;
	return 0;
}

/* Region to 0 before, and its value after the run (sync calls). */
static int io_caw_region(struct io_ctx *c, bool init, uint64_t *v)
{
	uint32_t len = (uint32_t)c->o.bs;
	uint64_t lba = c->o.offset / c->block_size;
	struct scsi_task *t;
	bool ok;

	if (init) {
		io_caw_set(c->slots[0].buf, len, 0);
		t = iscsi_write16_sync(c->iscsi, c->lun, lba, c->slots[0].buf, len, c->block_size,
				       0, 0, 0, 0, 0);
	} else {
		t = iscsi_read16_sync(c->iscsi, c->lun, lba, len, c->block_size, 0, 0, 0, 0, 0);
	}
	ok = t && t->status == SCSI_STATUS_GOOD;
	if (ok && !init) {
		ok = t->datain.size >= (int)len;
		if (ok && !io_caw_get(t->datain.data, len, v)) {
			fprintf(stderr, "iscsi-io: caw: the final region is torn\n");
			c->caw_torn++;
		}
	}
	if (!ok)
		fprintf(stderr, "iscsi-io: caw: %s of the region failed: %s\n",
			init ? "WRITE16" : "READ16", iscsi_get_error(c->iscsi));
	if (t)
		scsi_free_scsi_task(t);
	return ok ? 0 : -EIO;
}

static int io_fill_queue(struct io_ctx *c)
{
	unsigned int i;
	uint64_t off;
	uint32_t len;
	bool write;

	if (c->o.mode == IO_CAW)
		return io_caw_fill_queue(c);
	for (i = 0; i < c->o.qd && c->inflight < c->o.qd; i++) {
		struct io_slot *s = &c->slots[i];

		if (s->busy)
			continue;
		if (c->o.sync_every && c->writes_unsynced >= c->o.sync_every && !c->stop &&
		    (c->o.time <= 0 || tool_now() < c->t_end)) {
			c->writes_unsynced = 0;
			s->sync = true;
			if (io_submit(c, s) < 0)
				return -EIO;
			continue;
		}
		if (!io_next(c, &off, &len, &write))
			break;
		if (write)
			c->writes_unsynced++;
		s->off = off;
		s->len = len;
		s->write = write;
		if (io_submit(c, s) < 0)
			return -EIO;
	}
	return 0;
}

/* --mode xwrite: one round of poll + service over both gateways' sessions. */
static int io_poll_two(struct io_ctx *c)
{
	struct iscsi_context *ctx[2] = { c->iscsi, c->peer->iscsi };
	struct pollfd pfd[2];
	int i, n;

	for (i = 0; i < 2; i++) {
		pfd[i].fd = iscsi_get_fd(ctx[i]);
		pfd[i].events = iscsi_which_events(ctx[i]);
		pfd[i].revents = 0;
	}
	n = poll(pfd, 2, 1000);
	if (n < 0 && errno != EINTR) {
		perror("iscsi-io: poll");
		return -EIO;
	}
	for (i = 0; i < 2; i++) {
		if (iscsi_service(ctx[i], n > 0 ? pfd[i].revents : 0) < 0) {
			fprintf(stderr, "iscsi-io: transport: %s\n", iscsi_get_error(ctx[i]));
			return -EIO;
		}
	}
	return 0;
}

static int io_run(struct io_ctx *c)
{
	struct pollfd pfd;
	int n;

	c->t_start = tool_now();
	c->t_end = c->t_start + c->o.time;
	for (;;) {
		if (io_fill_queue(c) < 0)
			return -EIO;
		if (c->inflight == 0)
			return 0;
		if (c->peer) {
			if (io_poll_two(c) < 0)
				return -EIO;
			continue;
		}
		pfd.fd = iscsi_get_fd(c->iscsi);
		pfd.events = iscsi_which_events(c->iscsi);
		pfd.revents = 0;
		if (pfd.events == 0) {
			/* libiscsi is between reconnect attempts */
			usleep(100000);
			n = 0;
		} else {
			n = poll(&pfd, 1, 1000);
		}
		if (n < 0 && errno != EINTR) {
			perror("iscsi-io: poll");
			return -EIO;
		}
		if (iscsi_service(c->iscsi, n > 0 ? pfd.revents : 0) < 0) {
			fprintf(stderr, "iscsi-io: transport: %s\n", iscsi_get_error(c->iscsi));
			return -EIO;
		}
	}
}

static int io_parse_u64(const char *s, uint64_t *out, bool suffix)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	errno = 0;
	if (!s || !*s || *s == '-')
		return -EINVAL;
	v = strtoull(s, &end, 0);
	if (errno)
		return -errno;
	if (suffix && *end) {
		switch (*end) {
		case 'k':
		case 'K': mul = 1ULL << 10; break;
		case 'm':
		case 'M': mul = 1ULL << 20; break;
		case 'g':
		case 'G': mul = 1ULL << 30; break;
		case 't':
		case 'T': mul = 1ULL << 40; break;
		default: return -EINVAL;
		}
		end++;
	}
	if (*end)
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

static void io_usage(FILE *f)
{
	fprintf(f,
		"usage: iscsi-io URL --mode write|verify|read|randread|randwrite|randrw\n"
		"       iscsi-io - --mode pattern --length BYTES [--offset BYTES] [--seed N]\n"
		"       [--qd N] [--bs BYTES] [--offset BYTES] [--length BYTES] [--seed N]\n"
		"       [--time SECONDS] [--count N] [--fua] [--op10|--op16]\n"
		"       [--verify-reads] [--timeout SECONDS] [--sync-every N]\n"
		"       iscsi-io URL --mode caw --offset BYTES --bs BYTES [--qd N] [--writers N]\n"
		"       [--count N] [--time SECONDS] [--shared [--torn-ok]]\n"
		"       iscsi-io URL --mode script < COMMANDS\n"
		"       iscsi-io URL --mode xwrite --peer URL2 [--qd N] [--bs BYTES] [--offset BYTES]\n"
		"       [--length BYTES] [--seed N] [--count N] [--time SECONDS]\n"
		"       iscsi-io URL --mode ifault --fault drop|abort|lunreset|reset [--count ROUNDS]\n"
		"       [--qd N] [--bs BYTES] [--offset BYTES] [--length BYTES] [--seed N]\n"
		"       [--hang-pid PID [--hang-ms MS]]\n"
		"       iscsi-io URL --mode stamp --journal FILE [--qd N] [--bs BYTES]\n"
		"       [--offset BYTES] [--length BYTES] [--seed N] [--time SECONDS]\n"
		"       [--sync-every N] [--drain SECONDS] [--resume]\n"
		"       iscsi-io URL --mode stampcheck --journal FILE [--flushed]\n"
		"       iscsi-io - --mode stampfill --offset BYTES --length BYTES --seed N --gen N\n"
		"URL: iscsi://HOST[:PORT]/IQN/LUN; sizes take k/m/g/t suffixes\n");
}

static int io_parse_mode(const char *s, enum io_mode *m)
{
	static const char *const names[] = {
		[IO_WRITE] = "write",
		[IO_VERIFY] = "verify",
		[IO_READ] = "read",
		[IO_PATTERN] = "pattern",
		[IO_RANDREAD] = "randread",
		[IO_RANDWRITE] = "randwrite",
		[IO_RANDRW] = "randrw",
		[IO_CAW] = "caw",
		[IO_SCRIPT] = "script",
		[IO_XWRITE] = "xwrite",
		[IO_IFAULT] = "ifault",
		[IO_STAMP] = "stamp",
		[IO_STAMPCHECK] = "stampcheck",
		[IO_STAMPFILL] = "stampfill",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*m = (enum io_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

static int io_parse_args(int argc, char **argv, struct io_opts *o)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "qd", required_argument, NULL, 'q' },
		{ "bs", required_argument, NULL, 'b' },
		{ "offset", required_argument, NULL, 'o' },
		{ "length", required_argument, NULL, 'l' },
		{ "seed", required_argument, NULL, 's' },
		{ "time", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'c' },
		{ "fua", no_argument, NULL, 'F' },
		{ "op10", no_argument, NULL, '1' },
		{ "op16", no_argument, NULL, '6' },
		{ "verify-reads", no_argument, NULL, 'V' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "writers", required_argument, NULL, 'W' },
		{ "shared", no_argument, NULL, 'S' },
		{ "torn-ok", no_argument, NULL, 'O' },
		{ "peer", required_argument, NULL, 'P' },
		{ "sync-every", required_argument, NULL, 'Y' },
		{ "fault", required_argument, NULL, 'f' },
		{ "hang-pid", required_argument, NULL, 'H' },
		{ "hang-ms", required_argument, NULL, 'M' },
		{ "journal", required_argument, NULL, 'J' },
		{ "gen", required_argument, NULL, 'G' },
		{ "drain", required_argument, NULL, 'D' },
		{ "resume", no_argument, NULL, 'R' },
		{ "flushed", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_mode = false;
	uint64_t v;
	char *end;
	int ch, r = 0;

	memset(o, 0, sizeof(*o));
	o->qd = 1;
	o->bs = 4096;
	o->seed = 1;
	o->hang_ms = 1500;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'm':
			r = io_parse_mode(optarg, &o->mode);
			have_mode = r == 0;
			break;
		case 'q':
			r = io_parse_u64(optarg, &v, false);
			if (!r && (v < 1 || v > 4096))
				r = -ERANGE;
			o->qd = (unsigned int)v;
			break;
		case 'b':
			r = io_parse_u64(optarg, &o->bs, true);
			if (!r && (o->bs == 0 || o->bs > (32U << 20)))
				r = -ERANGE;
			break;
		case 'o': r = io_parse_u64(optarg, &o->offset, true); break;
		case 'l':
			r = io_parse_u64(optarg, &o->length, true);
			o->length_set = true;
			break;
		case 's': r = io_parse_u64(optarg, &o->seed, false); break;
		case 't':
			errno = 0;
			o->time = strtod(optarg, &end);
			if (errno || *end || o->time <= 0)
				r = -EINVAL;
			break;
		case 'c': r = io_parse_u64(optarg, &o->count, false); break;
		case 'F': o->fua = true; break;
		case '1': o->op10 = true; break;
		case '6': o->op10 = false; break;
		case 'V': o->verify_reads = true; break;
		case 'S': o->caw_shared = true; break;
		case 'O': o->caw_torn_ok = true; break;
		case 'T':
			r = io_parse_u64(optarg, &v, false);
			if (!r && (v < 1 || v > 86400))
				r = -ERANGE;
			o->timeout = (unsigned int)v;
			break;
		case 'W':
			r = io_parse_u64(optarg, &v, false);
			if (!r && v > 4096)
				r = -ERANGE;
			o->writers = (unsigned int)v;
			o->writers_set = true;
			break;
		case 'P': o->peer = optarg; break;
		case 'Y':
			r = io_parse_u64(optarg, &o->sync_every, false);
			if (!r && o->sync_every == 0)
				r = -ERANGE;
			break;
		case 'f': o->fault = optarg; break;
		case 'H':
			r = io_parse_u64(optarg, &v, false);
			if (!r && (v < 2 || v > INT32_MAX))
				r = -ERANGE;
			o->hang_pid = (pid_t)v;
			break;
		case 'M':
			r = io_parse_u64(optarg, &v, false);
			if (!r && v > 600000)
				r = -ERANGE;
			o->hang_ms = (unsigned int)v;
			break;
		case 'J': o->journal = optarg; break;
		case 'G': r = io_parse_u64(optarg, &o->gen, false); break;
		case 'D':
			errno = 0;
			o->drain = strtod(optarg, &end);
			if (errno || *end || o->drain < 0)
				r = -EINVAL;
			o->drain_set = true;
			break;
		case 'R': o->resume = true; break;
		case 'L': o->flushed = true; break;
		case 'h': io_usage(stdout); exit(0);
		default: io_usage(stderr); return -EINVAL;
		}
		if (r) {
			fprintf(stderr, "iscsi-io: bad option value '%s'\n", optarg);
			return r;
		}
	}
	if (optind != argc - 1 || !have_mode) {
		io_usage(stderr);
		return -EINVAL;
	}
	o->url = argv[optind];
	if ((o->mode == IO_XWRITE) != (o->peer != NULL)) {
		fprintf(stderr, "iscsi-io: --peer goes with --mode xwrite, and only there\n");
		return -EINVAL;
	}
	if ((o->journal != NULL) != (o->mode == IO_STAMP || o->mode == IO_STAMPCHECK)) {
		fprintf(stderr, "iscsi-io: --journal goes with --mode stamp|stampcheck, and only "
				"there\n");
		return -EINVAL;
	}
	if (o->sync_every && (o->mode < IO_RANDREAD || o->mode > IO_RANDRW) &&
	    o->mode != IO_STAMP) {
		fprintf(stderr, "iscsi-io: --sync-every goes with the rand* and stamp modes\n");
		return -EINVAL;
	}
	if (o->caw_torn_ok && (o->mode != IO_CAW || !o->caw_shared)) {
		fprintf(stderr,
			"iscsi-io: --torn-ok goes with --mode caw --shared, and only there\n");
		return -EINVAL;
	}
	if ((o->mode == IO_IFAULT) != (o->fault != NULL)) {
		fprintf(stderr, "iscsi-io: --fault goes with --mode ifault, and only there\n");
		return -EINVAL;
	}
	if (o->mode >= IO_RANDREAD && o->mode != IO_IFAULT && o->time == 0 && o->count == 0)
		o->time = 10;
	if (o->mode == IO_STAMP && !o->drain_set)
		o->drain = 60;
	if (o->timeout == 0 && o->mode == IO_STAMP)
		o->timeout = (unsigned int)(o->time + o->drain) + 300;
	if (o->timeout == 0)
		o->timeout = o->time > 0 ? (unsigned int)o->time + 120 : 600;
	return 0;
}

static void io_alarm(int sig)
{
	static const char msg[] = "iscsi-io: overall timeout expired\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(2);
}

int io_connect(struct io_ctx *c)
{
	struct iscsi_url *url;
	struct scsi_task *task;
	struct scsi_readcapacity16 *rc16;

	c->iscsi = iscsi_create_context(IO_INITIATOR);
	if (!c->iscsi) {
		fprintf(stderr, "iscsi-io: cannot create iscsi context\n");
		return -ENOMEM;
	}
	url = iscsi_parse_full_url(c->iscsi, c->o.url);
	if (!url) {
		fprintf(stderr, "iscsi-io: bad URL %s: %s\n", c->o.url, iscsi_get_error(c->iscsi));
		return -EINVAL;
	}
	iscsi_set_targetname(c->iscsi, url->target);
	iscsi_set_session_type(c->iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(c->iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	c->lun = url->lun;
	if (iscsi_full_connect_sync(c->iscsi, url->portal, url->lun) != 0) {
		fprintf(stderr, "iscsi-io: login to %s failed: %s\n", c->o.url,
			iscsi_get_error(c->iscsi));
		iscsi_destroy_url(url);
		return -EIO;
	}
	iscsi_destroy_url(url);

	task = iscsi_readcapacity16_sync(c->iscsi, c->lun);
	if (!task || task->status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "iscsi-io: READ CAPACITY(16) failed: %s\n",
			iscsi_get_error(c->iscsi));
		if (task)
			scsi_free_scsi_task(task);
		return -EIO;
	}
	rc16 = scsi_datain_unmarshall(task);
	if (!rc16 || rc16->block_length == 0) {
		fprintf(stderr, "iscsi-io: cannot parse READ CAPACITY(16) data\n");
		scsi_free_scsi_task(task);
		return -EIO;
	}
	c->block_size = rc16->block_length;
	c->capacity = (rc16->returned_lba + 1) * (uint64_t)rc16->block_length;
	scsi_free_scsi_task(task);
	return 0;
}

int io_check_geometry(struct io_ctx *c)
{
	struct io_opts *o = &c->o;
	uint64_t align = c->block_size > IO_PATTERN_BLOCK ? c->block_size : IO_PATTERN_BLOCK;

	if (align % IO_PATTERN_BLOCK || align % c->block_size) {
		fprintf(stderr, "iscsi-io: unsupported block size %u\n", c->block_size);
		return -EINVAL;
	}
	if (!o->length_set) {
		if (o->offset >= c->capacity) {
			fprintf(stderr, "iscsi-io: offset beyond the LUN (%" PRIu64 " bytes)\n",
				c->capacity);
			return -EINVAL;
		}
		o->length = c->capacity - o->offset;
	}
	if (o->bs % align || o->offset % align || o->length % align || o->length == 0) {
		fprintf(stderr,
			"iscsi-io: bs, offset and length must be non-zero multiples of %" PRIu64
			"\n",
			align);
		return -EINVAL;
	}
	if (o->offset + o->length > c->capacity || o->offset + o->length < o->offset) {
		fprintf(stderr,
			"iscsi-io: range %" PRIu64 "+%" PRIu64 " beyond the LUN (%" PRIu64
			" bytes)\n",
			o->offset, o->length, c->capacity);
		return -EINVAL;
	}
	if (o->mode == IO_CAW && (o->offset < o->bs || o->offset + 2 * o->bs > c->capacity ||
				  o->bs < 8 || o->bs / c->block_size > 255)) {
		fprintf(stderr, "iscsi-io: caw needs --bs (1 to 255 blocks) free before and after "
				"the region at --offset\n");
		return -EINVAL;
	}
	if (o->mode >= IO_RANDREAD && o->length < o->bs) {
		fprintf(stderr, "iscsi-io: range shorter than --bs\n");
		return -EINVAL;
	}
	if (o->op10 && ((o->offset + o->length) / c->block_size > UINT32_MAX ||
			o->bs / c->block_size > 0xffff)) {
		fprintf(stderr, "iscsi-io: range or --bs too large for 10-byte CDBs\n");
		return -EINVAL;
	}
	return 0;
}

/* --mode pattern: the expected bytes of a range, on stdout. */
static int io_print_pattern(const struct io_opts *o)
{
	static unsigned char buf[1 << 20];
	uint64_t off = o->offset, end = o->offset + o->length;
	uint32_t n;

	if (!o->length_set || o->offset % IO_PATTERN_BLOCK || o->length % IO_PATTERN_BLOCK) {
		fprintf(stderr,
			"iscsi-io: pattern needs --length, offset and length multiples of %d\n",
			IO_PATTERN_BLOCK);
		return 2;
	}
	while (off < end) {
		n = (uint32_t)(end - off < sizeof(buf) ? end - off : sizeof(buf));
		tool_pattern_fill(buf, off, n, o->seed);
		if (fwrite(buf, 1, n, stdout) != n) {
			perror("iscsi-io: stdout");
			return 2;
		}
		off += n;
	}
	return fflush(stdout) == 0 ? 0 : 2;
}

int main(int argc, char **argv)
{
	struct io_ctx c, peer;
	uint64_t caw_start = 0;
	double secs;
	unsigned int i;
	int rc;

	memset(&c, 0, sizeof(c));
	if (io_parse_args(argc, argv, &c.o) < 0)
		return 2;
	if (c.o.mode == IO_PATTERN)
		return io_print_pattern(&c.o);
	if (c.o.mode == IO_STAMPFILL)
		return io_stamp_fill(&(struct io_stamp_opts){ .offset = c.o.offset,
							      .length = c.o.length,
							      .length_set = c.o.length_set,
							      .seed = c.o.seed,
							      .gen = c.o.gen });
	signal(SIGALRM, io_alarm);
	alarm(c.o.timeout);
	if (c.o.mode == IO_SCRIPT)
		return io_run_script(c.o.url);
	if (c.o.mode == IO_IFAULT)
		return io_run_ifault(&c.o);
	if (c.o.mode == IO_STAMP || c.o.mode == IO_STAMPCHECK) {
		struct io_stamp_opts so = {
			.url = c.o.url,
			.journal = c.o.journal,
			.qd = c.o.qd,
			.bs = c.o.bs,
			.offset = c.o.offset,
			.length = c.o.length,
			.length_set = c.o.length_set,
			.seed = c.o.seed,
			.time = c.o.time,
			.sync_every = c.o.sync_every,
			.drain = c.o.drain,
			.resume = c.o.resume,
			.flushed = c.o.flushed,
		};

		return c.o.mode == IO_STAMP ? io_stamp_run(&so) : io_stamp_check(&so);
	}

	if (io_connect(&c) < 0 || io_check_geometry(&c) < 0) {
		if (c.iscsi)
			iscsi_destroy_context(c.iscsi);
		return 2;
	}
	if (c.o.mode == IO_XWRITE) {
		memset(&peer, 0, sizeof(peer));
		peer.o = c.o;
		peer.o.url = c.o.peer;
		if (io_connect(&peer) < 0) {
			if (peer.iscsi)
				iscsi_destroy_context(peer.iscsi);
			iscsi_destroy_context(c.iscsi);
			return 2;
		}
		if (peer.block_size != c.block_size || peer.capacity != c.capacity) {
			fprintf(stderr, "iscsi-io: the peer LUN has another geometry\n");
			return 2;
		}
		c.peer = &peer;
	}
	c.slots = calloc(c.o.qd, sizeof(*c.slots));
	if (!c.slots) {
		fprintf(stderr, "iscsi-io: out of memory\n");
		return 2;
	}
	for (i = 0; i < c.o.qd; i++) {
		c.slots[i].ctx = &c;
		c.slots[i].buf = malloc(2 * c.o.bs); /* caw: compare + write data */
		if (!c.slots[i].buf) {
			fprintf(stderr, "iscsi-io: out of memory\n");
			return 2;
		}
	}
	c.next_off = c.o.offset;
	/* Random positions are reproducible for a given seed. */
	c.rng = tool_mix(c.o.seed ^ 0x72616e646f6dULL);

	if (c.o.mode == IO_CAW) {
		if (!c.o.writers_set)
			c.o.writers = c.o.qd / 4;
		if (c.o.writers >= c.o.qd) {
			fprintf(stderr, "iscsi-io: caw: --writers must leave a locker\n");
			return 2;
		}
		for (i = 0; i < c.o.qd; i++)
			c.slots[i].step = i < c.o.writers ? IO_CAW_WRITE : IO_CAW_READ;
		if (io_caw_region(&c, !c.o.caw_shared, &caw_start) < 0)
			return 2;
	}
	rc = io_run(&c);
	if (c.o.mode == IO_CAW && rc == 0) {
		uint64_t final = 0;

		if (io_caw_region(&c, false, &final) < 0)
			return 2;
		printf("caw_ok=%" PRIu64 " caw_miscompare=%" PRIu64 " writes=%" PRIu64
		       " final=%" PRIu64 " torn=%" PRIu64,
		       c.caw_ok, c.caw_miscompare, c.caw_writes, final, c.caw_torn);
		if (c.o.caw_shared)
			printf(" start=%" PRIu64, caw_start);
		printf("\n");
		if ((!c.o.caw_shared && final != c.caw_ok) || (c.caw_torn && !c.o.caw_torn_ok)) {
			fprintf(stderr,
				"iscsi-io: caw: NOT ATOMIC: %" PRIu64 " successful "
				"COMPARE AND WRITEs, counter %" PRIu64 ", %" PRIu64 " torn\n",
				c.caw_ok, final, c.caw_torn);
			c.errors++;
		}
	}
	secs = tool_now() - c.t_start;
	if (secs <= 0)
		secs = 1e-9;
	if (c.peer)
		printf("xwrites=%" PRIu64 " xreads=%" PRIu64 " stale=%" PRIu64 " zeros=%" PRIu64
		       "\n",
		       c.x_writes, c.x_reads, c.x_stale, c.x_zeros);
	printf("iops=%.0f mbps=%.1f ops=%" PRIu64 " errors=%" PRIu64 " lat_us=%.1f",
	       c.completed / secs, c.bytes / secs / 1e6, c.completed, c.errors,
	       c.completed ? c.lat_sum / c.completed * 1e6 : 0.0);
	if (c.o.sync_every)
		printf(" syncs=%" PRIu64 " sync_lat_us=%.1f", c.syncs,
		       c.syncs ? c.sync_lat_sum / c.syncs * 1e6 : 0.0);
	printf("\n");
	if (c.mismatches) {
		printf("mismatch: first bad lba=%" PRIu64 " (byte offset %" PRIu64 "), %" PRIu64
		       " bad 512-byte blocks\n",
		       c.first_bad_block * IO_PATTERN_BLOCK / c.block_size,
		       c.first_bad_block * IO_PATTERN_BLOCK, c.mismatches);
	}
	fflush(stdout);
	if (rc == 0)
		iscsi_logout_sync(c.iscsi);
	iscsi_destroy_context(c.iscsi);
	if (c.peer) {
		if (rc == 0)
			iscsi_logout_sync(peer.iscsi);
		iscsi_destroy_context(peer.iscsi);
	}
	for (i = 0; i < c.o.qd; i++)
		free(c.slots[i].buf);
	free(c.slots);
	if (rc < 0)
		return 2;
	return (c.errors || c.mismatches) ? 1 : 0;
}
