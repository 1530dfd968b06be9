/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sheep: handlers shared between ops.c (the table) and admin.c (cluster and
 * node administration).  Worker-thread context; each returns an SD_RES_*
 * code and may set req->rdata (malloc'd, freed by the connection code after
 * the reply is sent) with req->rsp.data_length <= req->hdr.data_length.
 */
#ifndef SHEEP_SHEEP_OPS_H
#define SHEEP_SHEEP_OPS_H

#include "sheep.h"

/* Seconds << 32 | nanoseconds, the protocol's time encoding. */
uint64_t sheep_now_encoded(void);

int sheep_op_get_cluster_default(struct sheep_request *req);
int sheep_op_get_node_list(struct sheep_request *req);
int sheep_op_make_fs(struct sheep_request *req);
int sheep_op_shutdown(struct sheep_request *req);
int sheep_op_stat_sheep(struct sheep_request *req);
int sheep_op_stat_cluster(struct sheep_request *req);
int sheep_op_get_store_list(struct sheep_request *req);
int sheep_op_cluster_info(struct sheep_request *req);

#endif
