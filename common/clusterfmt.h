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

#endif
