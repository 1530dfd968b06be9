// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * iscsi-stamp: iscsi-io's stamp-and-verify modes (issue 12).
 *
 * --mode stamp --journal FILE: a load generator for fault tests.  The range
 * [offset, offset+length) is cut into --bs chunks; --qd WRITE16s of whole
 * chunks go to random chunks, never two at once to one chunk, every block
 * stamped (tests/tools/stamp.h) with the chunk's next generation (one
 * counter for the run, so a chunk's generations only grow).  A write that
 * completes GOOD is acknowledged; one that fails (CHECK CONDITION, any other
 * status, a dropped session, still running when the run ends) is not, and
 * the run goes on: errors are counted, a dropped session is logged in again
 * (once a second), until --time.  A chunk whose write was in flight when a
 * session dropped is never written again in this run (the target may still
 * execute that write: a later one could be overtaken).  --sync-every N: a
 * SYNCHRONIZE CACHE(10) after every N WRITEs (one at a time); a write
 * acknowledged before a successful SYNCHRONIZE CACHE was sent is flushed.
 * When the run ends (--time, or SIGTERM/SIGINT), the writes still in
 * flight get --drain seconds (default 60; 10 after a signal, none after a
 * second one), then the journal is written (FILE.tmp, fsync, rename) and
 * one line printed:
 *   stamp writes=N acked=N failed=N unknown=N syncs=N sync_failed=N
 *     reconnects=N transport_errors=N fail_ms_min=N fail_ms_mean=N
 *     fail_ms_max=N max_stall_ms=N keys=K:N,... gen=N
 * (failed: completed with a status other than GOOD; unknown: no status
 * ever came; fail_ms_*: time from sending a failed write to its failure;
 * max_stall_ms: the longest time without any completion while writes
 * were in flight; keys: failed writes by sense key, hex).  Exit 0 whatever
 * the SCSI errors; 2 if the first login or the journal fails.  --resume
 * continues the run a journal describes (same range, chunk and seed).
 *
 * The journal (text): a header, then per chunk ever written
 *   c INDEX ACKED FLUSHED u=G,G,... p=G,G,...
 * ACKED: the generation of its last acknowledged write (0: none); u: those
 * issued after it and never acknowledged; FLUSHED: its last write
 * acknowledged before a successful flush; p (with --sync-every only): every
 * generation issued after FLUSHED.
 *
 * --mode stampcheck --journal FILE: reads the whole range the journal names
 * and sorts every 512-byte block: ok (a legal generation), zero (never
 * written, legally), lost (older than the chunk's last acknowledged write:
 * an acknowledged write is missing), torn, foreign (stamp.h's verdicts) or
 * illegal (a generation never issued to that chunk).  Legal: ACKED or one of
 * u; with --flushed (a write-back cache lost its dirty data): FLUSHED or
 * one of p.  Prints
 *   stampcheck blocks=N ok=N zero=N lost=N torn=N foreign=N illegal=N
 * and the first bad blocks on stderr; exit 1 on any lost, torn, foreign or
 * illegal block, 2 on a read or journal failure.
 *
 * --mode stampfill (URL "-"): the stamp blocks of [offset, offset+length)
 * for --seed and --gen on stdout, for tests that corrupt a volume behind
 * the checker's back.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "iscsi-stamp.h"
#include "stamp.h"
#include "tool.h"

#define ST_INITIATOR "iqn.2026-11.org.sheepdog.tests:iscsi-stamp"
#define ST_MAX_BAD   10 /* bad blocks printed by stampcheck */
#define ST_MAX_ERRS  10 /* failed writes printed by stamp */

struct st_vec {
	uint64_t *v;
	uint32_t n, cap;
};

struct st_chunk {
	uint64_t acked;	  /* last acknowledged generation, 0: none */
	uint64_t flushed; /* last generation acknowledged before a flush */
	struct st_vec u;  /* issued after `acked`, never acknowledged */
	struct st_vec p;  /* --sync-every: issued after `flushed` */
	bool busy;	  /* a write is in flight */
	bool tainted;	  /* its write was in flight when a session dropped */
};

struct st_ctx;

struct st_slot {
	struct st_ctx *c;
	unsigned char *buf;
	uint64_t chunk;
	uint64_t gen;
	double t_submit;
	bool busy;
};

struct st_ctx {
	struct io_stamp_opts o;
	struct iscsi_context *iscsi;
	int lun;
	uint32_t block_size;
	uint64_t capacity;
	uint64_t nchunks;
	struct st_chunk *chunks;
	struct st_slot *slots;
	unsigned int inflight;
	uint64_t gen;
	bool track_flush;
	/* the flush in flight: acked generations when it was sent */
	uint64_t *flush_snap;
	bool sync_busy;
	double sync_t;
	uint64_t writes_unsynced;
	uint64_t rng;
	double last_progress;
	/* counters */
	uint64_t writes, acked, failed, unknown, syncs, sync_failed;
	uint64_t reconnects, transport_errors;
	uint64_t flushes; /* successful, over every resumed run */
	double fail_min, fail_max, fail_sum, max_stall;
	uint64_t keys[16];
};

static volatile sig_atomic_t g_st_signals;

static void st_on_signal(int sig)
{
	(void)sig;
	g_st_signals++;
}

static uint64_t st_rand(struct st_ctx *c)
{
	return tool_next(&c->rng);
}

static int st_push(struct st_vec *v, uint64_t g)
{
	uint64_t *n;

	if (v->n == v->cap) {
		n = realloc(v->v, (v->cap ? 2 * v->cap : 4) * sizeof(*n));
		if (!n)
			return -ENOMEM;
		v->v = n;
		v->cap = v->cap ? 2 * v->cap : 4;
	}
	v->v[v->n++] = g;
	return 0;
}

static bool st_has(const struct st_vec *v, uint64_t g)
{
	for (uint32_t i = 0; i < v->n; i++)
		if (v->v[i] == g)
			return true;
	return false;
}

/* Drop the generations <= g (the vector is ascending). */
static void st_trim(struct st_vec *v, uint64_t g)
{
	uint32_t k = 0;

	while (k < v->n && v->v[k] <= g)
		k++;
	memmove(v->v, v->v + k, (v->n - k) * sizeof(*v->v));
	v->n -= k;
}

/* ---- the journal ---------------------------------------------------------- */

static void st_put_vec(FILE *f, const char *name, const struct st_vec *v)
{
	fprintf(f, " %s=", name);
	for (uint32_t i = 0; i < v->n; i++)
		fprintf(f, "%s%" PRIu64, i ? "," : "", v->v[i]);
}

static int st_journal_write(const struct st_ctx *c)
{
	char tmp[4096];
	FILE *f;
	int rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", c->o.journal);
	f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "iscsi-io: stamp: cannot write %s: %s\n", tmp, strerror(errno));
		return -errno;
	}
	fprintf(f,
		"stamp-journal 1\nseed %" PRIu64 "\noffset %" PRIu64 "\nlength %" PRIu64
		"\nbs %" PRIu64 "\ngen %" PRIu64 "\nsync %d\nflushes %" PRIu64 "\n",
		c->o.seed, c->o.offset, c->o.length, c->o.bs, c->gen, c->track_flush ? 1 : 0,
		c->flushes);
	for (uint64_t i = 0; i < c->nchunks; i++) {
		const struct st_chunk *ch = &c->chunks[i];

		if (!ch->acked && !ch->flushed && !ch->u.n && !ch->p.n)
			continue;
		fprintf(f, "c %" PRIu64 " %" PRIu64 " %" PRIu64, i, ch->acked, ch->flushed);
		st_put_vec(f, "u", &ch->u);
		st_put_vec(f, "p", &ch->p);
		fputc('\n', f);
	}
	fprintf(f, "end\n");
	if (fflush(f) || fsync(fileno(f)))
		rc = -errno;
	if (fclose(f) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, c->o.journal))
		rc = -errno;
	if (rc)
		fprintf(stderr, "iscsi-io: stamp: cannot write %s: %s\n", c->o.journal,
			strerror(-rc));
	return rc;
}

static int st_get_vec(const char *s, const char *name, struct st_vec *v)
{
	size_t n = strlen(name);
	char *end;

	if (strncmp(s, name, n) || s[n] != '=')
		return -EINVAL;
	s += n + 1;
	while (*s && *s != ' ' && *s != '\n') {
		errno = 0;
		uint64_t g = strtoull(s, &end, 10);

		if (errno || end == s || st_push(v, g))
			return -EINVAL;
		s = *end == ',' ? end + 1 : end;
	}
	return 0;
}

/* Reads FILE into c (options from its header; chunks allocated here). */
static int st_journal_read(struct st_ctx *c, const char *path)
{
	char line[1 << 16], *p;
	uint64_t idx, a, fl;
	int n, sync = 0, lineno = 0;
	bool ended = false;
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(stderr, "iscsi-io: cannot read journal %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (!fgets(line, sizeof(line), f) || strcmp(line, "stamp-journal 1\n"))
		goto bad;
	lineno = 1;
	if (fscanf(f,
		   "seed %" SCNu64 "\noffset %" SCNu64 "\nlength %" SCNu64 "\nbs %" SCNu64
		   "\ngen %" SCNu64 "\nsync %d\nflushes %" SCNu64 "\n",
		   &c->o.seed, &c->o.offset, &c->o.length, &c->o.bs, &c->gen, &sync,
		   &c->flushes) != 7)
		goto bad;
	lineno = 8;
	if (!c->o.bs || c->o.bs % STAMP_BLOCK || c->o.length % c->o.bs || !c->o.length)
		goto bad;
	c->track_flush = sync;
	c->o.length_set = true;
	c->nchunks = c->o.length / c->o.bs;
	c->chunks = calloc(c->nchunks, sizeof(*c->chunks));
	if (!c->chunks)
		goto bad;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strcmp(line, "end\n")) {
			ended = true;
			break;
		}
		if (sscanf(line, "c %" SCNu64 " %" SCNu64 " %" SCNu64 " %n", &idx, &a, &fl, &n) !=
			    3 ||
		    idx >= c->nchunks)
			goto bad;
		c->chunks[idx].acked = a;
		c->chunks[idx].flushed = fl;
		p = line + n;
		if (st_get_vec(p, "u", &c->chunks[idx].u))
			goto bad;
		p = strstr(p, " p=");
		if (!p || st_get_vec(p + 1, "p", &c->chunks[idx].p))
			goto bad;
	}
	if (!ended)
		goto bad;
	fclose(f);
	return 0;
bad:
	fprintf(stderr, "iscsi-io: journal %s: bad or truncated at line %d\n", path, lineno + 1);
	fclose(f);
	return -EINVAL;
}

/* ---- the session ---------------------------------------------------------- */

static int st_connect(struct st_ctx *c, bool quiet)
{
	struct iscsi_url *url;
	struct scsi_task *task;
	struct scsi_readcapacity16 *rc16;
	int rc = -EIO;

	c->iscsi = iscsi_create_context(ST_INITIATOR);
	if (!c->iscsi)
		return -ENOMEM;
	url = iscsi_parse_full_url(c->iscsi, c->o.url);
	if (!url) {
		fprintf(stderr, "iscsi-io: bad URL %s: %s\n", c->o.url, iscsi_get_error(c->iscsi));
		goto out;
	}
	iscsi_set_targetname(c->iscsi, url->target);
	iscsi_set_session_type(c->iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(c->iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	/* a dropped session is ours to handle: libiscsi would resend the
	 * writes in flight on a new one while the target may still run them */
	iscsi_set_noautoreconnect(c->iscsi, 1);
	c->lun = url->lun;
	if (iscsi_full_connect_sync(c->iscsi, url->portal, url->lun)) {
		if (!quiet)
			fprintf(stderr, "iscsi-io: login to %s failed: %s\n", c->o.url,
				iscsi_get_error(c->iscsi));
		iscsi_destroy_url(url);
		goto out;
	}
	iscsi_destroy_url(url);
	task = iscsi_readcapacity16_sync(c->iscsi, c->lun);
	rc16 = task && task->status == SCSI_STATUS_GOOD ? scsi_datain_unmarshall(task) : NULL;
	if (rc16 && rc16->block_length) {
		uint64_t cap = (rc16->returned_lba + 1) * (uint64_t)rc16->block_length;

		if (c->block_size && (c->block_size != rc16->block_length || c->capacity != cap)) {
			fprintf(stderr, "iscsi-io: stamp: the LUN changed geometry\n");
		} else {
			c->block_size = rc16->block_length;
			c->capacity = cap;
			rc = 0;
		}
	} else if (!quiet) {
		fprintf(stderr, "iscsi-io: READ CAPACITY(16) failed: %s\n",
			iscsi_get_error(c->iscsi));
	}
	if (task)
		scsi_free_scsi_task(task);
out:
	if (rc) {
		iscsi_destroy_context(c->iscsi);
		c->iscsi = NULL;
	}
	return rc;
}

static int st_check_range(const struct st_ctx *c)
{
	const struct io_stamp_opts *o = &c->o;

	if (o->bs % c->block_size || o->offset % c->block_size || o->offset % STAMP_BLOCK ||
	    o->bs % STAMP_BLOCK || !o->length || o->length % o->bs ||
	    o->offset + o->length > c->capacity || o->bs / c->block_size > UINT32_MAX) {
		fprintf(stderr,
			"iscsi-io: stamp: offset, length and bs must be multiples of 512 and of "
			"the LUN's block size (%u), length of bs, within the LUN (%" PRIu64
			" bytes)\n",
			c->block_size, c->capacity);
		return -EINVAL;
	}
	return 0;
}

/* ---- --mode stamp ------------------------------------------------------- */

static void st_write_failed(struct st_ctx *c, struct st_slot *s, int status, struct scsi_task *task)
{
	double lat = tool_now() - s->t_submit;

	st_push(&c->chunks[s->chunk].u, s->gen);
	if (!task || status == SCSI_STATUS_CANCELLED) {
		c->unknown++;
		return;
	}
	c->failed++;
	if (c->failed == 1 || lat < c->fail_min)
		c->fail_min = lat;
	if (lat > c->fail_max)
		c->fail_max = lat;
	c->fail_sum += lat;
	if (status == SCSI_STATUS_CHECK_CONDITION)
		c->keys[task->sense.key & 15]++;
	if (c->failed + c->sync_failed <= ST_MAX_ERRS)
		fprintf(stderr,
			"iscsi-io: stamp: WRITE16 chunk %" PRIu64 " gen %" PRIu64
			": status 0x%x key=0x%x asc=0x%02x ascq=0x%02x after %.0f ms\n",
			s->chunk, s->gen, status, task->sense.key, (task->sense.ascq >> 8) & 0xff,
			task->sense.ascq & 0xff, lat * 1e3);
}

static void st_progress(struct st_ctx *c)
{
	double now = tool_now();

	if (now - c->last_progress > c->max_stall)
		c->max_stall = now - c->last_progress;
	c->last_progress = now;
}

static void st_write_cb(struct iscsi_context *iscsi, int status, void *command_data,
			void *private_data)
{
	struct st_slot *s = private_data;
	struct st_ctx *c = s->c;
	struct st_chunk *ch = &c->chunks[s->chunk];

	(void)iscsi;
	if (!s->busy) {
		if (command_data)
			scsi_free_scsi_task(command_data);
		return;
	}
	s->busy = false;
	ch->busy = false;
	c->inflight--;
	st_progress(c);
	if (status == SCSI_STATUS_GOOD) {
		c->acked++;
		ch->acked = s->gen;
		ch->u.n = 0;
	} else {
		st_write_failed(c, s, status, command_data);
	}
	if (command_data)
		scsi_free_scsi_task(command_data);
}

static void st_sync_cb(struct iscsi_context *iscsi, int status, void *command_data,
		       void *private_data)
{
	struct st_ctx *c = private_data;

	(void)iscsi;
	if (!c->sync_busy) {
		if (command_data)
			scsi_free_scsi_task(command_data);
		return;
	}
	c->sync_busy = false;
	st_progress(c);
	if (status == SCSI_STATUS_GOOD) {
		c->syncs++;
		c->flushes++;
		for (uint64_t i = 0; i < c->nchunks; i++) {
			struct st_chunk *ch = &c->chunks[i];

			if (c->flush_snap[i] > ch->flushed) {
				ch->flushed = c->flush_snap[i];
				st_trim(&ch->p, ch->flushed);
			}
		}
	} else {
		c->sync_failed++;
		if (c->failed + c->sync_failed <= ST_MAX_ERRS)
			fprintf(stderr, "iscsi-io: stamp: SYNCHRONIZE CACHE10: status 0x%x\n",
				status);
	}
	if (command_data)
		scsi_free_scsi_task(command_data);
}

/* A free chunk that may be written, or UINT64_MAX. */
static uint64_t st_pick(struct st_ctx *c)
{
	for (int i = 0; i < 16; i++) {
		uint64_t k = st_rand(c) % c->nchunks;

		if (!c->chunks[k].busy && !c->chunks[k].tainted)
			return k;
	}
	return UINT64_MAX;
}

static int st_submit_write(struct st_ctx *c, struct st_slot *s, uint64_t k)
{
	uint64_t off = c->o.offset + k * c->o.bs;
	struct scsi_task *t;

	s->chunk = k;
	s->gen = ++c->gen;
	for (uint64_t b = 0; b < c->o.bs / STAMP_BLOCK; b++)
		stamp_fill(s->buf + b * STAMP_BLOCK, off / STAMP_BLOCK + b, s->gen, c->o.seed);
	if (c->track_flush && st_push(&c->chunks[k].p, s->gen))
		return -ENOMEM;
	s->t_submit = tool_now();
	if (c->inflight == 0 && !c->sync_busy)
		c->last_progress = s->t_submit;
	t = iscsi_write16_task(c->iscsi, c->lun, off / c->block_size, s->buf, (uint32_t)c->o.bs,
			       c->block_size, 0, 0, 0, 0, 0, st_write_cb, s);
	c->writes++;
	if (!t) {
		/* never sent: not acknowledged, and nothing can land */
		st_push(&c->chunks[k].u, s->gen);
		c->unknown++;
		return -EIO;
	}
	s->busy = true;
	c->chunks[k].busy = true;
	c->inflight++;
	c->writes_unsynced++;
	return 0;
}

static int st_submit_sync(struct st_ctx *c)
{
	for (uint64_t i = 0; i < c->nchunks; i++)
		c->flush_snap[i] = c->chunks[i].acked;
	c->sync_t = tool_now();
	if (!iscsi_synchronizecache10_task(c->iscsi, c->lun, 0, 0, 0, 0, st_sync_cb, c))
		return -EIO;
	c->sync_busy = true;
	c->writes_unsynced = 0;
	return 0;
}

static int st_fill(struct st_ctx *c)
{
	if (c->track_flush && !c->sync_busy && c->writes_unsynced >= c->o.sync_every &&
	    st_submit_sync(c))
		return -EIO;
	for (unsigned int i = 0; i < c->o.qd; i++) {
		struct st_slot *s = &c->slots[i];
		uint64_t k;

		if (s->busy)
			continue;
		k = st_pick(c);
		if (k == UINT64_MAX)
			break;
		if (st_submit_write(c, s, k))
			return -EIO;
	}
	return 0;
}

/* The session is gone: whatever was in flight is unacknowledged, and its
 * chunk is never written again (the target may still execute it). */
static void st_drop_session(struct st_ctx *c)
{
	for (unsigned int i = 0; i < c->o.qd; i++)
		if (c->slots[i].busy)
			c->chunks[c->slots[i].chunk].tainted = true;
	if (c->iscsi) {
		/* may run the callbacks (SCSI_STATUS_CANCELLED) */
		iscsi_destroy_context(c->iscsi);
		c->iscsi = NULL;
	}
	for (unsigned int i = 0; i < c->o.qd; i++) {
		struct st_slot *s = &c->slots[i];

		if (!s->busy)
			continue;
		s->busy = false;
		c->chunks[s->chunk].busy = false;
		c->inflight--;
		st_write_failed(c, s, SCSI_STATUS_CANCELLED, NULL);
	}
	if (c->sync_busy) {
		c->sync_busy = false;
		c->sync_failed++;
	}
}

static void st_loop(struct st_ctx *c)
{
	double now, t_end = tool_now() + c->o.time, drain_end = 0, next_login = 0;
	bool stopping = false;
	struct pollfd pfd;
	int n, seen_signals = 0;

	for (;;) {
		now = tool_now();
		if (!stopping && (now >= t_end || g_st_signals)) {
			stopping = true;
			drain_end = now + (g_st_signals ? (c->o.drain < 10 ? c->o.drain : 10)
							: c->o.drain);
			seen_signals = g_st_signals;
		}
		if (stopping && (g_st_signals > seen_signals || now >= drain_end))
			break; /* what is still in flight stays unacknowledged */
		if (!c->iscsi) {
			if (stopping)
				break;
			if (now < next_login) {
				usleep(50000);
				continue;
			}
			next_login = now + 1;
			if (st_connect(c, true) == 0)
				c->reconnects++;
			continue;
		}
		if (!stopping && st_fill(c)) {
			c->transport_errors++;
			st_drop_session(c);
			continue;
		}
		if (stopping && c->inflight == 0 && !c->sync_busy)
			break;
		pfd.fd = iscsi_get_fd(c->iscsi);
		pfd.events = iscsi_which_events(c->iscsi);
		pfd.revents = 0;
		n = poll(&pfd, 1, 200);
		if (n < 0 && errno != EINTR) {
			perror("iscsi-io: poll");
			break;
		}
		if (iscsi_service(c->iscsi, n > 0 ? pfd.revents : 0) < 0) {
			if (c->transport_errors++ < ST_MAX_ERRS)
				fprintf(stderr, "iscsi-io: stamp: session dropped: %s\n",
					iscsi_get_error(c->iscsi));
			st_drop_session(c);
		}
	}
	if (c->iscsi && c->inflight == 0 && !c->sync_busy)
		iscsi_logout_sync(c->iscsi);
	st_drop_session(c);
}

static void st_free(struct st_ctx *c)
{
	if (c->chunks) {
		for (uint64_t i = 0; i < c->nchunks; i++) {
			free(c->chunks[i].u.v);
			free(c->chunks[i].p.v);
		}
	}
	free(c->chunks);
	if (c->slots) {
		for (unsigned int i = 0; i < c->o.qd; i++)
			free(c->slots[i].buf);
	}
	free(c->slots);
	free(c->flush_snap);
}

int io_stamp_run(const struct io_stamp_opts *o)
{
	struct st_ctx c = { .o = *o };
	struct sigaction sa = { .sa_handler = st_on_signal };
	char keys[256] = "";
	size_t kl = 0;
	int rc = 2;

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (o->resume) {
		if (st_journal_read(&c, o->journal))
			return 2;
		if (c.o.seed != o->seed || c.o.bs != o->bs || c.o.offset != o->offset ||
		    (o->length_set && c.o.length != o->length) ||
		    c.track_flush != (o->sync_every > 0)) {
			fprintf(stderr, "iscsi-io: stamp: --resume with other seed, range, bs or "
					"--sync-every than the journal's\n");
			goto out;
		}
		c.o = *o;
		c.o.length = c.nchunks * c.o.bs;
	}
	if (st_connect(&c, false))
		goto out;
	if (!c.o.length_set && !o->resume)
		c.o.length = (c.capacity > c.o.offset ? c.capacity - c.o.offset : 0) / c.o.bs *
			     c.o.bs;
	if (st_check_range(&c))
		goto out;
	c.nchunks = c.o.length / c.o.bs;
	if (c.nchunks < 2 * (uint64_t)c.o.qd) {
		fprintf(stderr, "iscsi-io: stamp: the range needs at least 2 * qd chunks\n");
		goto out;
	}
	c.track_flush = o->sync_every > 0;
	if (!c.chunks)
		c.chunks = calloc(c.nchunks, sizeof(*c.chunks));
	c.slots = calloc(c.o.qd, sizeof(*c.slots));
	c.flush_snap = calloc(c.nchunks, sizeof(*c.flush_snap));
	if (!c.chunks || !c.slots || !c.flush_snap)
		goto out;
	for (unsigned int i = 0; i < c.o.qd; i++) {
		c.slots[i].c = &c;
		c.slots[i].buf = malloc(c.o.bs);
		if (!c.slots[i].buf)
			goto out;
	}
	c.rng = c.o.seed ^ (c.gen * 0x5851f42d4c957f2dULL) ^ 0x7374616d70ULL;
	c.last_progress = tool_now();
	st_loop(&c);
	if (st_journal_write(&c))
		goto out;
	for (int k = 0; k < 16; k++)
		if (c.keys[k] && kl < sizeof(keys) - 32)
			kl += snprintf(keys + kl, sizeof(keys) - kl, "%s0x%x:%" PRIu64,
				       kl ? "," : "", k, c.keys[k]);
	printf("stamp writes=%" PRIu64 " acked=%" PRIu64 " failed=%" PRIu64 " unknown=%" PRIu64
	       " syncs=%" PRIu64 " sync_failed=%" PRIu64 " reconnects=%" PRIu64
	       " transport_errors=%" PRIu64 " fail_ms_min=%.0f fail_ms_mean=%.0f"
	       " fail_ms_max=%.0f max_stall_ms=%.0f keys=%s gen=%" PRIu64 "\n",
	       c.writes, c.acked, c.failed, c.unknown, c.syncs, c.sync_failed, c.reconnects,
	       c.transport_errors, c.fail_min * 1e3, c.failed ? c.fail_sum / c.failed * 1e3 : 0.0,
	       c.fail_max * 1e3, c.max_stall * 1e3, kl ? keys : "-", c.gen);
	fflush(stdout);
	rc = 0;
out:
	if (c.iscsi)
		iscsi_destroy_context(c.iscsi);
	st_free(&c);
	return rc;
}

/* ---- --mode stampcheck --------------------------------------------------- */

enum st_class { ST_OK, ST_ZERO, ST_LOST, ST_TORN, ST_FOREIGN, ST_ILLEGAL, ST_NCLASS };

static enum st_class st_classify(const struct st_ctx *c, const unsigned char *blk, uint64_t pos,
				 uint64_t *gen)
{
	const struct st_chunk *ch = &c->chunks[pos / c->o.bs];
	uint64_t lba = (c->o.offset + pos) / STAMP_BLOCK;
	uint64_t base = c->o.flushed ? ch->flushed : ch->acked;
	const struct st_vec *after = c->o.flushed ? &ch->p : &ch->u;

	*gen = 0;
	switch (stamp_check(blk, lba, c->o.seed, gen)) {
	case STAMP_TORN: return ST_TORN;
	case STAMP_FOREIGN: return ST_FOREIGN;
	default: break;
	}
	if (*gen == base || st_has(after, *gen))
		return *gen ? ST_OK : ST_ZERO;
	return *gen < base ? ST_LOST : ST_ILLEGAL;
}

static void st_print_bad(const struct st_ctx *c, enum st_class cl, uint64_t pos, uint64_t gen)
{
	static const char *const names[] = { "ok", "zero", "lost", "torn", "foreign", "illegal" };
	const struct st_chunk *ch = &c->chunks[pos / c->o.bs];
	const struct st_vec *after = c->o.flushed ? &ch->p : &ch->u;

	fprintf(stderr,
		"iscsi-io: stampcheck: %s: byte offset %" PRIu64 " (chunk %" PRIu64
		") holds gen %" PRIu64 "; legal: %" PRIu64,
		names[cl], c->o.offset + pos, pos / c->o.bs, gen,
		c->o.flushed ? ch->flushed : ch->acked);
	for (uint32_t i = 0; i < after->n && i < 8; i++)
		fprintf(stderr, ",%" PRIu64, after->v[i]);
	fprintf(stderr, "%s\n", after->n > 8 ? ",..." : "");
}

int io_stamp_check(const struct io_stamp_opts *o)
{
	struct st_ctx c = { .o = *o };
	uint64_t counts[ST_NCLASS] = { 0 }, pos = 0, bad = 0, gen;
	uint32_t step;
	int rc = 2;

	if (st_journal_read(&c, o->journal))
		goto out;
	c.o.url = o->url;
	c.o.flushed = o->flushed;
	if (o->flushed && !c.track_flush) {
		fprintf(stderr, "iscsi-io: stampcheck: --flushed needs a run with --sync-every\n");
		goto out;
	}
	if (st_connect(&c, false) || st_check_range(&c))
		goto out;
	/* whole chunks per READ16, about 1 MiB */
	step = (uint32_t)((c.o.bs >= (1 << 20) ? 1 : (1 << 20) / c.o.bs) * c.o.bs);
	while (pos < c.o.length) {
		uint32_t len = (uint32_t)(c.o.length - pos < step ? c.o.length - pos : step);
		struct scsi_task *t = iscsi_read16_sync(c.iscsi, c.lun,
							(c.o.offset + pos) / c.block_size, len,
							c.block_size, 0, 0, 0, 0, 0);

		if (!t || t->status != SCSI_STATUS_GOOD || t->datain.size < (int)len) {
			fprintf(stderr, "iscsi-io: stampcheck: READ16 at %" PRIu64 " failed: %s\n",
				c.o.offset + pos, iscsi_get_error(c.iscsi));
			if (t)
				scsi_free_scsi_task(t);
			goto out;
		}
		for (uint32_t b = 0; b < len; b += STAMP_BLOCK) {
			enum st_class cl = st_classify(&c, t->datain.data + b, pos + b, &gen);

			counts[cl]++;
			if (cl >= ST_LOST && bad++ < ST_MAX_BAD)
				st_print_bad(&c, cl, pos + b, gen);
		}
		scsi_free_scsi_task(t);
		pos += len;
	}
	printf("stampcheck blocks=%" PRIu64 " ok=%" PRIu64 " zero=%" PRIu64 " lost=%" PRIu64
	       " torn=%" PRIu64 " foreign=%" PRIu64 " illegal=%" PRIu64 "\n",
	       c.o.length / STAMP_BLOCK, counts[ST_OK], counts[ST_ZERO], counts[ST_LOST],
	       counts[ST_TORN], counts[ST_FOREIGN], counts[ST_ILLEGAL]);
	fflush(stdout);
	rc = bad ? 1 : 0;
	iscsi_logout_sync(c.iscsi);
out:
	if (c.iscsi)
		iscsi_destroy_context(c.iscsi);
	st_free(&c);
	return rc;
}

/* ---- --mode stampfill ---------------------------------------------------- */

int io_stamp_fill(const struct io_stamp_opts *o)
{
	unsigned char blk[STAMP_BLOCK];

	if (!o->length_set || o->offset % STAMP_BLOCK || o->length % STAMP_BLOCK || !o->gen) {
		fprintf(stderr, "iscsi-io: stampfill needs --length, --gen >= 1, offset and "
				"length multiples of 512\n");
		return 2;
	}
	for (uint64_t off = o->offset; off < o->offset + o->length; off += STAMP_BLOCK) {
		stamp_fill(blk, off / STAMP_BLOCK, o->gen, o->seed);
		if (fwrite(blk, 1, sizeof(blk), stdout) != sizeof(blk)) {
			perror("iscsi-io: stdout");
			return 2;
		}
	}
	return fflush(stdout) == 0 ? 0 : 2;
}
