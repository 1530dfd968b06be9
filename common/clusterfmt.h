/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Text of `dog cluster info` and `dog node list`, shared by dog and
 * sheepfs (cluster/info, node/list) so both print the same thing.  Pure
 * formatting: the callers fetch the records (GET_NODE_LIST, STAT_CLUSTER).
 */
#ifndef SD_COMMON_CLUSTERFMT_H
#define SD_COMMON_CLUSTERFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sheepdog/proto.h>

/* "127.0.0.1:7000" or "[::1]:7000" into buf; returns buf. */
const char *sdc_node_str(const struct sd_node *n, char *buf, size_t len);

/* The node table of `dog node list` (raw: one "ID HOST:PORT VNODES ZONE" a line). */
void sdc_print_node_list(FILE *f, const struct sd_node *nodes, unsigned nr, bool raw);

/*
 * `dog cluster info`'s status line from a STAT_CLUSTER reply: result is the
 * sheep result, logs/len the reply payload (epoch records).
 */
void sdc_print_cluster_status(FILE *f, int result, const void *logs, size_t len, bool raw);

/*
 * The epoch history of a STAT_CLUSTER reply: records of rec_nodes node slots
 * each (the request's cluster.nodes_nr), len payload bytes.  Not raw: the
 * creation time and a header line first.
 */
void sdc_print_epochs(FILE *f, const void *logs, size_t len, unsigned rec_nodes, bool raw);

/* Size of one STAT_CLUSTER record with rec_nodes node slots. */
size_t sdc_epoch_rec_size(unsigned rec_nodes);

/*
 * Run one read request: fill *rsp, and at most len reply bytes into buf.
 * Returns 0, or a negative errno for a transport error (already reported
 * by the callee as it sees fit).
 */
typedef int (*sdc_exec_fn)(void *ctx, struct sd_req *req, void *buf, size_t len,
			   struct sd_rsp *rsp);

/*
 * The epoch history for `dog cluster info`: STAT_CLUSTER with records of
 * nr_nodes node slots (at least 1) and room for `epoch` records, doubling
 * the slots while the sheep answers BUFFER_SMALL (up to SD_MAX_NODES); the
 * history is cut at 64 MiB.  On success (0) *logs is malloc'ed (caller
 * frees), *len the payload bytes in it, *rec_nodes the slots per record
 * and *rsp the reply (its result may be an error to print).  Errors:
 * -ENOMEM, or what exec returned.
 */
int sdc_stat_cluster(sdc_exec_fn exec, void *ctx, unsigned nr_nodes, uint32_t epoch, void **logs,
		     size_t *len, unsigned *rec_nodes, struct sd_rsp *rsp);

#endif
