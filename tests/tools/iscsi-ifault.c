/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * iscsi-io --mode ifault: initiator faults while commands are inside the
 * backing store.
 *
 * The region [offset, offset+length) is cut into --bs chunks; each chunk's
 * 512-byte blocks carry tests/tools/stamp.h stamps.  A round puts --qd
 * commands on distinct chunks (3 of 4 WRITE16s of a new generation, 1 of 4
 * READ16s, verified), waits until libiscsi has sent them all, then applies
 * the fault:
 *   drop      the session's socket is closed without a logout, a new
 *             session logs in and sends a LOGICAL UNIT RESET as a barrier
 *             (tgt answers it only once every command of the LU, the old
 *             session's included, has left the backing store)
 *   abort     ABORT TASK for every other command in flight
 *   lunreset  LOGICAL UNIT RESET
 *   reset     TARGET WARM RESET (odd rounds) / TARGET COLD RESET (even)
 * Every task management function must be answered: FUNCTION COMPLETE or
 * TASK DOES NOT EXIST (ABORT TASK), FUNCTION COMPLETE (LU RESET),
 * FUNCTION COMPLETE or NOT SUPPORTED (target resets; tgt 1.0.85 supports
 * neither).  Then every command must end, and the chunks of the round are
 * read back: each block must hold the generation of the chunk's last
 * acknowledged write, or of one of the writes issued after it that were
 * never acknowledged (aborted, cancelled, lost with the connection): old or
 * new, never torn.  Every 8th round and at the end the whole region is read.
 * --hang-pid PID: the process (a sheep) is stopped with SIGSTOP just before
 * each fault and continued --hang-ms later (default 1500): the fault and its
 * answer happen while the backing store cannot complete anything.
 * Prints one line
 *   ifault=KIND rounds=N inflight_at_fault=N tmf=N tmf_complete=N
 *   tmf_not_found=N tmf_not_supported=N tmf_wait_ms_max=N writes_acked=N
 *   writes_unacked=N io_failed=N reads_verified=N blocks_verified=N bad=N
 *   reconnects=N
 * Exit 1 on a bad block, a wrong or missing TMF answer, or a failed command
 * (with --hang-pid a command may fail: the LU's bsopt timeout can be
 * shorter than the hang; it counts in io_failed and as not acknowledged).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "stamp.h"
#include "iscsi-io.h"

#define IF_MAYBE 64

enum if_fault { IF_DROP, IF_ABORT, IF_LUNRESET, IF_RESET };

struct if_chunk {
	uint64_t acked; /* generation of the last acknowledged write, 0: none */
	unsigned int nmaybe;
	uint64_t maybe[IF_MAYBE]; /* issued after it, never acknowledged */
};

struct if_slot {
	struct if_run *r;
	struct scsi_task *task;
	unsigned char *buf;
	uint64_t chunk;
	uint64_t gen;
	bool write;
	bool busy;
	bool abort; /* an ABORT TASK was sent for it */
};

struct if_run {
	struct io_ctx c; /* the session: c.iscsi, c.lun, c.block_size */
	enum if_fault fault;
	uint64_t nchunks;
	struct if_chunk *chunks;
	struct if_slot *slots;
	unsigned int inflight;
	uint64_t gen;
	unsigned int tmf_pending;
	bool tmf_bad;
	bool stopped; /* the hung process is stopped until r->waker exits */
	pid_t waker;
	uint64_t inflight_at_fault, tmf, tmf_complete, tmf_not_found, tmf_not_supported;
	uint64_t writes_acked, writes_unacked, io_failed, reads_verified, blocks_verified;
	uint64_t bad, reconnects;
	double tmf_wait_max;
};

static pid_t if_hang_pid;

/*
 * SIGSTOP the hung process now and SIGCONT it hang_ms later from a child,
 * so that the hang ends on time even while the tool blocks in a login.
 */
static int if_hang(struct if_run *r)
{
	pid_t pid;

	kill(if_hang_pid, SIGSTOP);
	pid = fork();
	if (pid < 0) {
		kill(if_hang_pid, SIGCONT);
		perror("iscsi-io: fork");
		return -EIO;
	}
	if (pid == 0) {
		usleep(r->c.o.hang_ms * 1000U);
		kill(if_hang_pid, SIGCONT);
		_exit(0);
	}
	r->waker = pid;
	r->stopped = true;
	return 0;
}

/* Has the hang ended?  wait: until it has. */
static void if_hang_reap(struct if_run *r, bool wait)
{
	if (r->stopped && waitpid(r->waker, NULL, wait ? 0 : WNOHANG) == r->waker)
		r->stopped = false;
}

static void if_maybe_add(struct if_run *r, struct if_chunk *ch, uint64_t gen)
{
	r->writes_unacked++;
	if (ch->nmaybe == IF_MAYBE) {
		fprintf(stderr, "iscsi-io: ifault: more than %d unacknowledged writes on a chunk\n",
			IF_MAYBE);
		r->bad++;
		return;
	}
	ch->maybe[ch->nmaybe++] = gen;
}

/* Checks a chunk's data (len bytes from its start); returns bad blocks. */
static uint64_t if_check(struct if_run *r, uint64_t chunk, const unsigned char *d, uint32_t len)
{
	struct if_chunk *ch = &r->chunks[chunk];
	uint64_t blk0 = (r->c.o.offset + chunk * r->c.o.bs) / STAMP_BLOCK, nbad = 0, gen;
	uint32_t i;
	unsigned int k;

	for (i = 0; i < len / STAMP_BLOCK; i++) {
		enum stamp_verdict v =
			stamp_check(d + i * STAMP_BLOCK, blk0 + i, r->c.o.seed, &gen);
		bool ok = v == STAMP_OK && gen == ch->acked;

		for (k = 0; v == STAMP_OK && !ok && k < ch->nmaybe; k++)
			ok = gen == ch->maybe[k];
		r->blocks_verified++;
		if (ok)
			continue;
		if (nbad++ < 4)
			fprintf(stderr,
				"iscsi-io: ifault: block %" PRIu64 " (chunk %" PRIu64
				"): %s gen %" PRIu64 ", may hold %" PRIu64
				" or %u unacknowledged\n",
				blk0 + i, chunk,
				v == STAMP_TORN	     ? "TORN"
				: v == STAMP_FOREIGN ? "FOREIGN"
						     : "wrong",
				v == STAMP_OK ? gen : 0, ch->acked, ch->nmaybe);
	}
	return nbad;
}

static void if_io_cb(struct iscsi_context *iscsi, int status, void *command_data,
		     void *private_data)
{
	struct if_slot *s = private_data;
	struct if_run *r = s->r;
	struct if_chunk *ch = &r->chunks[s->chunk];
	struct scsi_task *task = command_data ? command_data : s->task;

	(void)iscsi;
	s->busy = false;
	r->inflight--;
	if (status == SCSI_STATUS_GOOD && s->write) {
		ch->acked = s->gen;
		ch->nmaybe = 0;
		r->writes_acked++;
	} else if (status == SCSI_STATUS_GOOD) {
		if (!task || task->datain.size < (int)r->c.o.bs) {
			fprintf(stderr, "iscsi-io: ifault: short read\n");
			r->bad++;
		} else {
			r->bad += if_check(r, s->chunk, task->datain.data, (uint32_t)r->c.o.bs);
			r->reads_verified++;
		}
	} else {
		if (s->write)
			if_maybe_add(r, ch, s->gen);
		if (status != SCSI_STATUS_CANCELLED) {
			r->io_failed++;
			if (task && status == SCSI_STATUS_CHECK_CONDITION)
				fprintf(stderr,
					"iscsi-io: ifault: %s chunk %" PRIu64
					": CHECK CONDITION %s asc/ascq 0x%04x\n",
					s->write ? "WRITE16" : "READ16", s->chunk,
					scsi_sense_key_str(task->sense.key), task->sense.ascq);
			else
				fprintf(stderr,
					"iscsi-io: ifault: %s chunk %" PRIu64 ": status 0x%x: %s\n",
					s->write ? "WRITE16" : "READ16", s->chunk, status,
					iscsi_get_error(iscsi));
		}
	}
	if (s->task)
		scsi_free_scsi_task(s->task);
	s->task = NULL;
}

static void if_tmf_cb(struct iscsi_context *iscsi, int status, void *command_data,
		      void *private_data)
{
	struct if_run *r = private_data;
	uint32_t resp = command_data ? *(uint32_t *)command_data : 0xff;
	bool abort_task = r->fault == IF_ABORT, reset = r->fault == IF_RESET;

	(void)iscsi;
	r->tmf_pending--;
	if (status != SCSI_STATUS_GOOD) {
		fprintf(stderr, "iscsi-io: ifault: TMF failed: status 0x%x\n", status);
		r->tmf_bad = true;
		return;
	}
	if (resp == ISCSI_TMR_FUNC_COMPLETE)
		r->tmf_complete++;
	else if (resp == ISCSI_TMR_TASK_DOES_NOT_EXIST && abort_task)
		r->tmf_not_found++;
	else if (resp == ISCSI_TMR_TMF_NOT_SUPPORTED && reset)
		r->tmf_not_supported++;
	else {
		fprintf(stderr, "iscsi-io: ifault: TMF answered %u\n", resp);
		r->tmf_bad = true;
	}
}

/* One poll + service of the session, at most ms milliseconds. */
static int if_poll(struct if_run *r, int ms)
{
	struct pollfd pfd;
	int n;

	if_hang_reap(r, false);
	pfd.fd = iscsi_get_fd(r->c.iscsi);
	pfd.events = iscsi_which_events(r->c.iscsi);
	pfd.revents = 0;
	if (pfd.events == 0) {
		usleep(10000);
		n = 0;
	} else {
		n = poll(&pfd, 1, ms);
	}
	if (n < 0 && errno != EINTR) {
		perror("iscsi-io: poll");
		return -EIO;
	}
	if (iscsi_service(r->c.iscsi, n > 0 ? pfd.revents : 0) < 0) {
		fprintf(stderr, "iscsi-io: ifault: transport: %s\n", iscsi_get_error(r->c.iscsi));
		return -EIO;
	}
	return 0;
}

static int if_tmf(struct if_run *r, enum iscsi_task_mgmt_funcs fn, uint32_t itt, uint32_t cmdsn)
{
	if (iscsi_task_mgmt_async(r->c.iscsi, r->c.lun, fn, itt, cmdsn, if_tmf_cb, r) < 0) {
		fprintf(stderr, "iscsi-io: ifault: cannot queue TMF %d: %s\n", fn,
			iscsi_get_error(r->c.iscsi));
		return -EIO;
	}
	r->tmf++;
	r->tmf_pending++;
	return 0;
}

/* Waits for every TMF answer; records how long the answers took. */
static int if_tmf_wait(struct if_run *r)
{
	double t0 = tool_now();

	while (r->tmf_pending)
		if (if_poll(r, 50) < 0)
			return -EIO;
	if (tool_now() - t0 > r->tmf_wait_max)
		r->tmf_wait_max = tool_now() - t0;
	return r->tmf_bad ? -EPROTO : 0;
}

/* TEST UNIT READY until GOOD: clears the unit attention a reset leaves. */
static int if_clear_ua(struct if_run *r)
{
	int i;

	for (i = 0; i < 5; i++) {
		struct scsi_task *t = iscsi_testunitready_sync(r->c.iscsi, r->c.lun);
		int st = t ? t->status : -1;

		if (t)
			scsi_free_scsi_task(t);
		if (st == SCSI_STATUS_GOOD)
			return 0;
	}
	fprintf(stderr, "iscsi-io: ifault: TEST UNIT READY keeps failing\n");
	return -EIO;
}

static int if_connect(struct if_run *r)
{
	int i;

	for (i = 0; i < 20; i++) {
		if (io_connect(&r->c) == 0)
			return 0;
		if (r->c.iscsi)
			iscsi_destroy_context(r->c.iscsi);
		r->c.iscsi = NULL;
		usleep(200000);
	}
	return -EIO;
}

/* Closes the socket without a logout; the commands in flight are lost. */
static int if_drop(struct if_run *r)
{
	unsigned int i;

	iscsi_destroy_context(r->c.iscsi); /* calls back none of the tasks */
	r->c.iscsi = NULL;
	for (i = 0; i < r->c.o.qd; i++) {
		struct if_slot *s = &r->slots[i];

		if (!s->busy)
			continue;
		if (s->write)
			if_maybe_add(r, &r->chunks[s->chunk], s->gen);
		scsi_free_scsi_task(s->task);
		s->task = NULL;
		s->busy = false;
		r->inflight--;
	}
	if (if_connect(r) < 0)
		return -EIO;
	r->reconnects++;
	if (if_tmf(r, ISCSI_TM_LUN_RESET, 0xffffffff, 0) < 0 || if_tmf_wait(r) < 0)
		return -EIO;
	return if_clear_ua(r);
}

static int if_submit(struct if_run *r, struct if_slot *s, uint64_t chunk, bool write, bool zero)
{
	uint64_t off = r->c.o.offset + chunk * r->c.o.bs, lba = off / r->c.block_size;
	uint32_t len = (uint32_t)r->c.o.bs, i;

	s->chunk = chunk;
	s->write = write;
	s->abort = false;
	if (write) {
		s->gen = zero ? 0 : ++r->gen;
		memset(s->buf, 0, len);
		for (i = 0; !zero && i < len / STAMP_BLOCK; i++)
			stamp_fill(s->buf + i * STAMP_BLOCK, off / STAMP_BLOCK + i, s->gen,
				   r->c.o.seed);
		s->task = iscsi_write16_task(r->c.iscsi, r->c.lun, lba, s->buf, len,
					     r->c.block_size, 0, 0, 0, 0, 0, if_io_cb, s);
	} else {
		s->task = iscsi_read16_task(r->c.iscsi, r->c.lun, lba, len, r->c.block_size, 0, 0,
					    0, 0, 0, if_io_cb, s);
	}
	if (!s->task) {
		fprintf(stderr, "iscsi-io: ifault: cannot queue: %s\n",
			iscsi_get_error(r->c.iscsi));
		return -EIO;
	}
	s->busy = true;
	r->inflight++;
	return 0;
}

static int if_drain(struct if_run *r)
{
	while (r->inflight || r->stopped)
		if (if_poll(r, 50) < 0)
			return -EIO;
	return 0;
}

/* Reads chunks [first, first+n) back, qd at a time, and checks them. */
static int if_verify(struct if_run *r, uint64_t first, uint64_t n)
{
	uint64_t k = 0;
	unsigned int i;

	while (k < n) {
		for (i = 0; i < r->c.o.qd && k < n; i++, k++)
			if (if_submit(r, &r->slots[i], (first + k) % r->nchunks, false, false) < 0)
				return -EIO;
		if (if_drain(r) < 0)
			return -EIO;
	}
	return 0;
}

static int if_round(struct if_run *r, uint64_t round)
{
	unsigned int i, qd = r->c.o.qd;
	uint64_t first = round * qd % r->nchunks;
	double t0;

	for (i = 0; i < qd; i++)
		if (if_submit(r, &r->slots[i], (first + i) % r->nchunks, i % 4 != 3, false) < 0)
			return -EIO;
	/* every command on the wire (then in the module: the path is slow) */
	t0 = tool_now();
	while (iscsi_out_queue_length(r->c.iscsi) > 0 && tool_now() - t0 < 5)
		if (if_poll(r, 10) < 0)
			return -EIO;
	r->inflight_at_fault += r->inflight;
	if (if_hang_pid && if_hang(r) < 0)
		return -EIO;
	switch (r->fault) {
	case IF_DROP:
		if (if_drop(r) < 0)
			return -EIO;
		break;
	case IF_ABORT:
		for (i = 1; i < qd; i += 2) {
			struct if_slot *s = &r->slots[i];

			if (!s->busy)
				continue;
			s->abort = true;
			if (if_tmf(r, ISCSI_TM_ABORT_TASK, s->task->itt, s->task->cmdsn) < 0)
				return -EIO;
		}
		if (if_tmf_wait(r) < 0)
			return -EIO;
		break;
	case IF_LUNRESET:
		if (if_tmf(r, ISCSI_TM_LUN_RESET, 0xffffffff, 0) < 0 || if_tmf_wait(r) < 0)
			return -EIO;
		break;
	case IF_RESET:
		if (if_tmf(r, round % 2 ? ISCSI_TM_TARGET_WARM_RESET : ISCSI_TM_TARGET_COLD_RESET,
			   0xffffffff, 0) < 0 ||
		    if_tmf_wait(r) < 0)
			return -EIO;
		break;
	}
	/*
	 * Answered: an aborted or reset command has left the backing store
	 * (tgt answers only then).  A command libiscsi still waits for after
	 * that gets its response shortly or never (aborted): give it 2 s.
	 */
	t0 = tool_now();
	while (r->inflight && tool_now() - t0 < 2)
		if (if_poll(r, 50) < 0)
			return -EIO;
	if (r->fault != IF_DROP && r->fault != IF_RESET) {
		for (i = 0; i < qd; i++)
			if (r->slots[i].busy)
				iscsi_scsi_cancel_task(r->c.iscsi, r->slots[i].task);
	}
	if (if_drain(r) < 0)
		return -EIO;
	if ((r->fault == IF_LUNRESET || r->fault == IF_DROP || r->tmf_complete) &&
	    if_clear_ua(r) < 0)
		return -EIO;
	if (if_verify(r, first, qd) < 0)
		return -EIO;
	if ((round + 1) % 8 == 0 && if_verify(r, 0, r->nchunks) < 0)
		return -EIO;
	return 0;
}

int io_run_ifault(struct io_opts *o)
{
	static const char *const names[] = { "drop", "abort", "lunreset", "reset" };
	struct if_run *r;
	uint64_t round;
	unsigned int i;
	int rc = 0;

	r = calloc(1, sizeof(*r));
	if (!r)
		return 2;
	r->c.o = *o;
	for (i = 0; i < 4 && strcmp(o->fault, names[i]); i++)
		;
	if (i == 4) {
		fprintf(stderr, "iscsi-io: --fault drop|abort|lunreset|reset\n");
		return 2;
	}
	r->fault = (enum if_fault)i;
	if_hang_pid = o->hang_pid;
	if (if_connect(r) < 0 || io_check_geometry(&r->c) < 0)
		return 2;
	r->nchunks = r->c.o.length / o->bs;
	if (o->bs % STAMP_BLOCK || r->nchunks < o->qd) {
		fprintf(stderr, "iscsi-io: ifault: --length must hold --qd chunks of --bs\n");
		return 2;
	}
	r->chunks = calloc(r->nchunks, sizeof(*r->chunks));
	r->slots = calloc(o->qd, sizeof(*r->slots));
	if (!r->chunks || !r->slots)
		return 2;
	for (i = 0; i < o->qd; i++) {
		r->slots[i].r = r;
		r->slots[i].buf = malloc(o->bs);
		if (!r->slots[i].buf)
			return 2;
	}
	/* a clean start: zeros (generation 0) over the whole region */
	for (round = 0; round < r->nchunks;) {
		for (i = 0; i < o->qd && round < r->nchunks; i++, round++)
			if (if_submit(r, &r->slots[i], round, true, true) < 0)
				return 2;
		if (if_drain(r) < 0 || r->io_failed)
			return 2;
	}
	r->writes_acked = 0;
	for (round = 0; round < (o->count ? o->count : 20) && rc == 0; round++) {
		if (if_round(r, round) < 0)
			rc = 2;
		/* with a hung sheep, commands may fail (bsopt timeout): not an error */
		if (r->bad || r->tmf_bad || (r->io_failed && !if_hang_pid))
			rc = rc ? rc : 1;
	}
	if_hang_reap(r, true);
	if (rc == 0 && if_verify(r, 0, r->nchunks) < 0)
		rc = 2;
	if (rc == 0 && r->bad)
		rc = 1;
	printf("ifault=%s rounds=%" PRIu64 " inflight_at_fault=%" PRIu64 " tmf=%" PRIu64
	       " tmf_complete=%" PRIu64 " tmf_not_found=%" PRIu64 " tmf_not_supported=%" PRIu64
	       " tmf_wait_ms_max=%.0f writes_acked=%" PRIu64 " writes_unacked=%" PRIu64
	       " io_failed=%" PRIu64 " reads_verified=%" PRIu64 " blocks_verified=%" PRIu64
	       " bad=%" PRIu64 " reconnects=%" PRIu64 "\n",
	       names[r->fault], round, r->inflight_at_fault, r->tmf, r->tmf_complete,
	       r->tmf_not_found, r->tmf_not_supported, r->tmf_wait_max * 1000, r->writes_acked,
	       r->writes_unacked, r->io_failed, r->reads_verified, r->blocks_verified, r->bad,
	       r->reconnects);
	fflush(stdout);
	if (r->c.iscsi) {
		if (rc == 0)
			iscsi_logout_sync(r->c.iscsi);
		iscsi_destroy_context(r->c.iscsi);
	}
	for (i = 0; i < o->qd; i++)
		free(r->slots[i].buf);
	free(r->slots);
	free(r->chunks);
	free(r);
	return rc;
}
