// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sd-powerloss: the workload and checker of the power-loss test
 * (tests/bats/sheep_powerloss.bats, issue 12).
 *
 *   sd-powerloss run ADDR JOURNAL SEED MAXWRITES
 *       creates vdi "pl" (16 MiB), then one write at a time (1-16 stamped
 *       512-byte blocks, tests/tools/stamp.h, at a random LBA), every 25th
 *       write a snapshot of "pl", every 10th a new small vdi "tN" with one
 *       stamped block and the delete of the one before.  Each step goes
 *       into JOURNAL before it is sent and again when it is acknowledged;
 *       the first failure (the sheep lost its power) ends the run, status 0.
 *   sd-powerloss verify ADDR JOURNAL
 *       replays the journal and checks what the restarted sheep serves:
 *       every block of "pl" holds the generation of its last acknowledged
 *       write or of the one write in flight at the cut (stamp.h's rule; our
 *       sheep acknowledges only durable writes), no block torn or foreign;
 *       every acknowledged snapshot is listed and holds exactly the state at
 *       its acknowledgement; every acknowledged vdi create not followed by
 *       an issued delete exists with its block, every acknowledged delete is
 *       gone (a vdi whose delete was in flight may be listed with its block
 *       zeroed: the client releases the objects before DEL_VDI).  Prints the figures; status 1 on any violation.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sheepdog/sheepdog.h>

#include "stamp.h"

#define VDI_SIZE   (16u << 20)
#define NR_BLOCKS  (VDI_SIZE / STAMP_BLOCK)
#define MAX_SNAPS  64
#define SMALL_SIZE (4u << 20)

static FILE *g_j;

static void jlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void jlog(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(g_j, fmt, ap);
	va_end(ap);
	fflush(g_j);
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static struct sd_cluster *connect_to(const char *addr)
{
	struct sd_cluster_opts o;
	struct sd_cluster *c;

	sd_cluster_opts_init(&o);
	o.nr_connections = 1;
	o.connect_timeout_ms = 2000;
	o.io_timeout_ms = 10000;
	o.retry_timeout_ms = 0; /* a cut power is the end of the run */
	c = sd_connect_opts(addr, &o);
	if (!c)
		fprintf(stderr, "sd-powerloss: connect %s: %s\n", addr, strerror(errno));
	return c;
}

static int small_write(struct sd_cluster *c, const char *name, uint64_t gen, uint64_t seed)
{
	unsigned char blk[STAMP_BLOCK];
	struct sd_vdi *v = sd_vdi_open(c, name, 0, NULL);
	int r;

	if (!v)
		return -errno;
	stamp_fill(blk, 0, gen, seed);
	r = sd_vdi_write(v, blk, STAMP_BLOCK, 0);
	sd_vdi_close(v);
	return r;
}

static int do_run(const char *addr, uint64_t seed, unsigned max)
{
	static unsigned char buf[16 * STAMP_BLOCK];
	struct sd_cluster *c = connect_to(addr);
	struct sd_vdi *v;
	uint64_t x = seed | 1, gen = 0;
	unsigned i, nsnap = 0, nsmall = 0;
	int r;

	if (!c)
		return 0; /* the power was cut before we came */
	jlog("seed %llu\n", (unsigned long long)seed);
	jlog("c pl\n");
	r = sd_vdi_create(c, "pl", VDI_SIZE);
	if (r)
		goto stop;
	jlog("C pl\n");
	v = sd_vdi_open(c, "pl", 0, NULL);
	if (!v) {
		r = -errno;
		goto stop;
	}
	for (i = 1; i <= max; i++) {
		unsigned n = 1 + (unsigned)(rnd(&x) % 16), k;
		uint64_t lba = rnd(&x) % (NR_BLOCKS - n + 1);

		gen++;
		for (k = 0; k < n; k++)
			stamp_fill(buf + k * STAMP_BLOCK, lba + k, gen, seed);
		jlog("w %llu %u %llu\n", (unsigned long long)lba, n, (unsigned long long)gen);
		r = sd_vdi_write(v, buf, (size_t)n * STAMP_BLOCK, lba * STAMP_BLOCK);
		if (r)
			break;
		jlog("a %llu\n", (unsigned long long)gen);
		if (i % 25 == 0 && nsnap < MAX_SNAPS) {
			char tag[16];

			snprintf(tag, sizeof(tag), "s%u", ++nsnap);
			jlog("s %s\n", tag);
			r = sd_vdi_snapshot(c, "pl", tag);
			if (r)
				break;
			jlog("S %s\n", tag);
		}
		if (i % 10 == 0) {
			char name[16];

			snprintf(name, sizeof(name), "t%u", ++nsmall);
			jlog("c %s\n", name);
			r = sd_vdi_create(c, name, SMALL_SIZE);
			if (r)
				break;
			jlog("C %s\n", name);
			gen++;
			jlog("t %s %llu\n", name, (unsigned long long)gen);
			r = small_write(c, name, gen, seed);
			if (r)
				break;
			jlog("T %s %llu\n", name, (unsigned long long)gen);
			if (nsmall > 1) {
				snprintf(name, sizeof(name), "t%u", nsmall - 1);
				jlog("d %s\n", name);
				r = sd_vdi_delete(c, name, NULL);
				if (r)
					break;
				jlog("D %s\n", name);
			}
		}
	}
	sd_vdi_close(v);
stop:
	if (r)
		jlog("x %d\n", r);
	printf("run: %llu generations issued, stopped by %s\n", (unsigned long long)gen,
	       r ? strerror(-r) : "the write limit");
	sd_disconnect(c);
	return 0;
}

/* ---- verify ---- */

struct snap {
	char tag[16];
	int acked;
	uint64_t *state; /* each block's legal generation at the snapshot */
};

struct small {
	char name[16];
	int created, del_issued, del_acked;
	uint64_t gen_issued, gen_acked;
};

struct replay {
	uint64_t seed;
	int pl_acked;
	uint64_t last[NR_BLOCKS]; /* generation of the last acknowledged write */
	uint64_t pend_gen, pend_lba;
	unsigned pend_n;
	unsigned long acked, issued;
	struct snap snaps[MAX_SNAPS];
	unsigned nsnaps;
	struct small *smalls;
	unsigned nsmalls;
};

static struct replay g_r;
static unsigned long g_bad;

static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...)
{
	va_list ap;

	if (g_bad++ < 20) {
		va_start(ap, fmt);
		fputs("VIOLATION: ", stdout);
		vprintf(fmt, ap);
		putchar('\n');
		va_end(ap);
	}
}

static struct small *small_of(const char *name)
{
	unsigned i;

	for (i = 0; i < g_r.nsmalls; i++)
		if (!strcmp(g_r.smalls[i].name, name))
			return &g_r.smalls[i];
	g_r.smalls = realloc(g_r.smalls, (g_r.nsmalls + 1) * sizeof(*g_r.smalls));
	if (!g_r.smalls)
		abort();
	memset(&g_r.smalls[g_r.nsmalls], 0, sizeof(*g_r.smalls));
	snprintf(g_r.smalls[g_r.nsmalls].name, sizeof(g_r.smalls[0].name), "%s", name);
	return &g_r.smalls[g_r.nsmalls++];
}

static int replay(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[128], a[16];
	unsigned long long x, y, z;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "seed %llu", &x) == 1) {
			g_r.seed = x;
		} else if (sscanf(line, "w %llu %llu %llu", &x, &y, &z) == 3) {
			g_r.pend_lba = x;
			g_r.pend_n = (unsigned)y;
			g_r.pend_gen = z;
			g_r.issued++;
		} else if (sscanf(line, "a %llu", &x) == 1 && x == g_r.pend_gen) {
			for (y = 0; y < g_r.pend_n; y++)
				g_r.last[g_r.pend_lba + y] = x;
			g_r.pend_n = 0;
			g_r.acked++;
		} else if (sscanf(line, "s %15s", a) == 1 && g_r.nsnaps < MAX_SNAPS) {
			struct snap *s = &g_r.snaps[g_r.nsnaps++];

			snprintf(s->tag, sizeof(s->tag), "%s", a);
			s->state = malloc(sizeof(g_r.last));
			if (!s->state)
				abort();
			memcpy(s->state, g_r.last, sizeof(g_r.last));
		} else if (sscanf(line, "S %15s", a) == 1 && g_r.nsnaps) {
			g_r.snaps[g_r.nsnaps - 1].acked = 1;
		} else if (sscanf(line, "C %15s", a) == 1) {
			if (!strcmp(a, "pl"))
				g_r.pl_acked = 1;
			else
				small_of(a)->created = 1;
		} else if (sscanf(line, "t %15s %llu", a, &x) == 2) {
			small_of(a)->gen_issued = x;
		} else if (sscanf(line, "T %15s %llu", a, &x) == 2) {
			small_of(a)->gen_acked = x;
		} else if (sscanf(line, "d %15s", a) == 1) {
			small_of(a)->del_issued = 1;
		} else if (sscanf(line, "D %15s", a) == 1) {
			small_of(a)->del_acked = 1;
		}
	}
	fclose(f);
	return 0;
}

/* Read all of a vdi and check each block against want[] (+ the write in flight). */
static unsigned long check_blocks(struct sd_cluster *c, const char *tag, const uint64_t *want,
				  int with_pending)
{
	static unsigned char buf[1u << 20];
	struct sd_vdi *v = sd_vdi_open_flags(c, "pl", 0, tag, tag ? 0 : SD_VDI_NOLOCK);
	const char *what = tag ? tag : "pl";
	unsigned long checked = 0;
	uint64_t off, gen;

	if (!v) {
		bad("%s: cannot open: %s", what, strerror(errno));
		return 0;
	}
	for (off = 0; off < VDI_SIZE; off += sizeof(buf)) {
		int r = sd_vdi_read(v, buf, sizeof(buf), off);
		unsigned k;

		if (r) {
			bad("%s: read at %llu: %s", what, (unsigned long long)off, strerror(-r));
			break;
		}
		for (k = 0; k < sizeof(buf) / STAMP_BLOCK; k++) {
			uint64_t lba = off / STAMP_BLOCK + k;
			enum stamp_verdict vd =
				stamp_check(buf + k * STAMP_BLOCK, lba, g_r.seed, &gen);
			int pend = with_pending && g_r.pend_n && lba >= g_r.pend_lba &&
				   lba < g_r.pend_lba + g_r.pend_n;

			checked++;
			if (vd == STAMP_TORN)
				bad("%s: block %llu torn", what, (unsigned long long)lba);
			else if (vd == STAMP_FOREIGN)
				bad("%s: block %llu foreign", what, (unsigned long long)lba);
			else if (gen != want[lba] && !(pend && gen == g_r.pend_gen))
				bad("%s: block %llu holds generation %llu, acknowledged %llu%s",
				    what, (unsigned long long)lba, (unsigned long long)gen,
				    (unsigned long long)want[lba],
				    gen < want[lba] ? " (LOST)" : "");
		}
	}
	sd_vdi_close(v);
	return checked;
}

static int listed(const struct sd_vdi_info *l, int n, const char *name, const char *tag)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(l[i].name, name) &&
		    (tag ? l[i].is_snapshot && !strcmp(l[i].tag, tag) : !l[i].is_snapshot))
			return 1;
	return 0;
}

static void check_small(struct sd_cluster *c, const struct sd_vdi_info *l, int n,
			const struct small *s)
{
	unsigned char blk[STAMP_BLOCK];
	struct sd_vdi *v;
	uint64_t gen = 0;
	int there = listed(l, n, s->name, NULL);

	if (s->del_acked) {
		if (there)
			bad("%s: deleted (acknowledged) but listed", s->name);
		return;
	}
	if (!s->created || s->del_issued) {
		if (!there)
			return;
	} else if (!there) {
		bad("%s: created (acknowledged) but not listed", s->name);
		return;
	}
	/*
	 * A delete in flight may have released the data already: the client
	 * (libsheepdog, like dog) frees the objects before DEL_VDI, so a cut
	 * between leaves the vdi listed with its block gone (zeros).
	 */
	v = sd_vdi_open_flags(c, s->name, 0, NULL, SD_VDI_NOLOCK);
	if (!v) {
		bad("%s: listed but cannot open: %s", s->name, strerror(errno));
		return;
	}
	if (sd_vdi_read(v, blk, STAMP_BLOCK, 0))
		bad("%s: cannot read", s->name);
	else if (stamp_check(blk, 0, g_r.seed, &gen) != STAMP_OK)
		bad("%s: block 0 torn or foreign", s->name);
	else if (gen != s->gen_acked && gen != s->gen_issued && !(s->del_issued && gen == 0))
		bad("%s: block 0 holds generation %llu, acknowledged %llu%s", s->name,
		    (unsigned long long)gen, (unsigned long long)s->gen_acked,
		    gen < s->gen_acked ? " (LOST)" : "");
	sd_vdi_close(v);
}

static int do_verify(const char *addr, const char *journal)
{
	struct sd_cluster *c;
	struct sd_vdi_info *l = NULL;
	unsigned long blocks = 0;
	unsigned i, snaps_checked = 0;
	int n;

	if (replay(journal)) {
		fprintf(stderr, "sd-powerloss: cannot read %s\n", journal);
		return 2;
	}
	c = connect_to(addr);
	if (!c)
		return 2;
	n = sd_vdi_list(c, &l);
	if (n < 0) {
		bad("vdi list: %s", strerror(-n));
		n = 0;
	}
	if (g_r.pl_acked || listed(l, n, "pl", NULL)) {
		if (!listed(l, n, "pl", NULL))
			bad("pl: created (acknowledged) but not listed");
		else
			blocks += check_blocks(c, NULL, g_r.last, 1);
	}
	for (i = 0; i < g_r.nsnaps; i++) {
		struct snap *s = &g_r.snaps[i];

		if (!listed(l, n, "pl", s->tag)) {
			if (s->acked)
				bad("snapshot %s acknowledged but not listed", s->tag);
			continue;
		}
		blocks += check_blocks(c, s->tag, s->state, 0);
		snaps_checked++;
	}
	for (i = 0; i < g_r.nsmalls; i++)
		check_small(c, l, n, &g_r.smalls[i]);
	printf("verify: writes acknowledged %lu of %lu issued, blocks checked %lu, "
	       "snapshots checked %u, small vdis %u, violations %lu\n",
	       g_r.acked, g_r.issued, blocks, snaps_checked, g_r.nsmalls, g_bad);
	free(l);
	sd_disconnect(c);
	return g_bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "run")) {
		g_j = fopen(argv[3], "w");
		if (!g_j) {
			perror(argv[3]);
			return 2;
		}
		return do_run(argv[2], strtoull(argv[4], NULL, 0), (unsigned)atoi(argv[5]));
	}
	if (argc == 4 && !strcmp(argv[1], "verify"))
		return do_verify(argv[2], argv[3]);
	fprintf(stderr, "usage: sd-powerloss run ADDR JOURNAL SEED MAXWRITES\n"
			"       sd-powerloss verify ADDR JOURNAL\n");
	return 2;
}
