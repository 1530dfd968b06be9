/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * iscsi-stamp.h: iscsi-io's stamp-and-verify modes (issue 12), in
 * iscsi-stamp.c.  iscsi-io.c parses the command line and calls one of these;
 * the block format and the legality rule are tests/tools/stamp.h's.
 */
#ifndef SD_TESTS_ISCSI_STAMP_H
#define SD_TESTS_ISCSI_STAMP_H

#include <stdbool.h>
#include <stdint.h>

struct io_stamp_opts {
	const char *url;
	const char *journal; /* --journal FILE */
	unsigned int qd;
	uint64_t bs; /* the chunk: the unit of one WRITE */
	uint64_t offset;
	uint64_t length;
	bool length_set;
	uint64_t seed;
	double time;	     /* stamp: run this long (seconds) */
	uint64_t sync_every; /* stamp: a SYNCHRONIZE CACHE after every N WRITEs */
	double drain;	     /* stamp: wait this long for the last completions */
	bool resume;	     /* stamp: continue the run the journal describes */
	bool flushed;	     /* stampcheck: only flushed writes are promised */
	uint64_t gen;	     /* stampfill: the generation to write */
};

/* Each returns the process exit status (see iscsi-io's usage comment). */
int io_stamp_run(const struct io_stamp_opts *o);
int io_stamp_check(const struct io_stamp_opts *o);
int io_stamp_fill(const struct io_stamp_opts *o);

#endif
