/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * iscsi-io.h: what iscsi-io's modes share (the options, one session's
 * context, its connect and geometry check): the I/O modes live in
 * iscsi-io.c, --mode script in iscsi-script.c, --mode ifault in
 * iscsi-ifault.c, the stamp modes in iscsi-stamp.c (iscsi-stamp.h).
 */
#ifndef SD_TESTS_ISCSI_IO_H
#define SD_TESTS_ISCSI_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <iscsi/iscsi.h>

#include "tool.h"

#define IO_PATTERN_BLOCK TOOL_PATTERN_BLOCK
#define IO_INITIATOR	 "iqn.2026-11.org.sheepdog.tests:iscsi-io"

enum io_mode {
	IO_WRITE,
	IO_VERIFY,
	IO_READ,
	IO_PATTERN,
	IO_RANDREAD,
	IO_RANDWRITE,
	IO_RANDRW,
	IO_CAW,
	IO_SCRIPT,
	IO_XWRITE,
	IO_IFAULT,
	IO_STAMP,
	IO_STAMPCHECK,
	IO_STAMPFILL,
};

struct io_opts {
	const char *url;
	enum io_mode mode;
	unsigned int qd;
	uint64_t bs;
	uint64_t offset;
	uint64_t length;
	bool length_set;
	uint64_t seed;
	double time;
	uint64_t count;
	bool fua;
	bool op10;
	bool verify_reads;
	unsigned int timeout;
	unsigned int writers; /* --mode caw: slots issuing plain WRITEs */
	bool writers_set;
	bool caw_shared;     /* --mode caw: other runs on the same region */
	bool caw_torn_ok;    /* --mode caw: count torn regions, read again */
	const char *peer;    /* --mode xwrite: the second gateway's URL */
	uint64_t sync_every; /* rand*: a SYNCHRONIZE CACHE after every N WRITEs */
	const char *fault;   /* --mode ifault: drop|abort|lunreset|reset */
	pid_t hang_pid;	     /* --mode ifault: SIGSTOP it at each fault */
	unsigned int hang_ms;
	const char *journal; /* stamp modes: iscsi-stamp.c */
	uint64_t gen;
	double drain;
	bool drain_set;
	bool resume;
	bool flushed;
};

/* --mode caw: what a slot does next */
enum io_caw_step { IO_CAW_READ, IO_CAW_CAW, IO_CAW_WRITE };

struct io_slot {
	struct io_ctx *ctx;
	unsigned char *buf;
	uint64_t off;
	uint32_t len;
	bool write;
	bool busy;
	bool xread;	       /* --mode xwrite: this read goes through the peer */
	bool sync;	       /* --sync-every: a SYNCHRONIZE CACHE(10) */
	double t_submit;       /* when the command was queued */
	enum io_caw_step step; /* --mode caw */
};

struct io_ctx {
	struct io_opts o;
	struct iscsi_context *iscsi;
	int lun;
	uint32_t block_size;
	uint64_t capacity; /* bytes */
	struct io_slot *slots;
	unsigned int inflight;
	uint64_t next_off; /* sequential modes */
	uint64_t submitted;
	uint64_t completed;
	uint64_t bytes;
	uint64_t errors;
	uint64_t mismatches;
	uint64_t first_bad_block; /* lowest mismatching 512-byte block */
	uint64_t caw_ok;	  /* --mode caw: COMPARE AND WRITEs that wrote */
	uint64_t caw_miscompare;
	uint64_t caw_torn; /* a read or a miscompare saw a torn region */
	uint64_t caw_writes;
	struct io_ctx *peer; /* --mode xwrite */
	uint64_t x_writes, x_reads, x_stale, x_zeros;
	double lat_sum;		  /* seconds, over the completed READs/WRITEs */
	uint64_t writes_unsynced; /* --sync-every: WRITEs queued since the last sync */
	uint64_t syncs;		  /* --sync-every: SYNCHRONIZE CACHEs completed */
	double sync_lat_sum;	  /* seconds */
	bool stop;
	uint64_t rng;
	double t_start;
	double t_end;
};

/* Log c in to c->o.url (initiator IO_INITIATOR) and find its LUN: 0 or -1. */
int io_connect(struct io_ctx *c);
/* READ CAPACITY: block size and capacity into c, checked against the
 * options: 0 or -1. */
int io_check_geometry(struct io_ctx *c);

/* The modes in files of their own; each returns the exit status. */
int io_run_script(const char *url);
int io_run_ifault(struct io_opts *o);

#endif
