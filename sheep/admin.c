// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Cluster and node administration for a single-node cluster (section 6.6 of
 * the protocol notes): MAKE_FS, SHUTDOWN, STAT_SHEEP, STAT_CLUSTER,
 * CLUSTER_INFO, GET_NODE_LIST, GET_STORE_LIST, GET_CLUSTER_DEFAULT.
 * The node reports itself with its reachable listen address; the epoch is 0
 * before format and 1 after, for ever.
 *
 * Thread context: worker threads; the config is read and written with
 * g_sheep.vdi.lock held.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "sheep_ops.h"

#define STORE_NAME "plain"

static void store_space(uint64_t *size, uint64_t *avail)
{
	struct statvfs sv;

	*size = *avail = 0;
	if (fstatvfs(g_sheep.store.dir_fd, &sv) == 0) {
		*size = (uint64_t)sv.f_blocks * sv.f_frsize;
		*avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	}
}

static void fill_node(struct sd_node *n)
{
	uint64_t avail;

	memset(n, 0, sizeof(*n));
	memcpy(n->nid.addr, g_sheep.node_addr, sizeof(n->nid.addr));
	n->nid.port = g_sheep.node_port;
	n->nr_vnodes = SD_DEFAULT_VNODES;
	n->zone = (uint32_t)n->nid.addr[12] | (uint32_t)n->nid.addr[13] << 8 |
		  (uint32_t)n->nid.addr[14] << 16 | (uint32_t)n->nid.addr[15] << 24;
	store_space(&n->space, &avail);
}

static void cfg_snapshot(struct sheep_config *cfg)
{
	pthread_mutex_lock(&g_sheep.vdi.lock);
	*cfg = g_sheep.cfg;
	pthread_mutex_unlock(&g_sheep.vdi.lock);
}

int sheep_op_get_cluster_default(struct sheep_request *req)
{
	struct sheep_config cfg;

	cfg_snapshot(&cfg);
	req->rsp.cluster_default.nr_copies = cfg.nr_copies;
	req->rsp.cluster_default.copy_policy = cfg.copy_policy;
	req->rsp.cluster_default.block_size_shift = cfg.block_size_shift;
	return SD_RES_SUCCESS;
}

int sheep_op_get_node_list(struct sheep_request *req)
{
	req->rsp.node.nr_nodes = 1;
	if (req->hdr.data_length < sizeof(struct sd_node))
		return SD_RES_BUFFER_SMALL;
	req->rdata = malloc(sizeof(struct sd_node));
	if (!req->rdata)
		return SD_RES_NO_MEM;
	fill_node(req->rdata);
	req->rsp.data_length = sizeof(struct sd_node);
	return SD_RES_SUCCESS;
}

int sheep_op_make_fs(struct sheep_request *req)
{
	const struct sd_req *h = &req->hdr;
	struct sheep_config cfg = { 0 };
	uint8_t shift = h->cluster.block_size_shift;
	int r;

	if (!h->data_length || !memchr(req->data, 0, h->data_length))
		return SD_RES_INVALID_PARMS;
	if (strcmp(req->data, STORE_NAME))
		return SD_RES_NO_STORE;
	if (!shift)
		shift = SD_DEFAULT_BLOCK_SIZE_SHIFT;
	if (shift < SD_MIN_BLOCK_SIZE_SHIFT || shift > SD_MAX_BLOCK_SIZE_SHIFT)
		return SD_RES_INVALID_PARMS;
	cfg.ctime = h->cluster.ctime ? h->cluster.ctime : sheep_now_encoded();
	cfg.flags = h->cluster.flags;
	cfg.nr_copies = h->cluster.copies ? h->cluster.copies : SD_DEFAULT_COPIES;
	cfg.copy_policy = h->cluster.copy_policy;
	cfg.block_size_shift = shift;
	snprintf(cfg.store, sizeof(cfg.store), "%s", STORE_NAME);
	cfg.epoch_time = (uint64_t)time(NULL);

	pthread_mutex_lock(&g_sheep.vdi.lock);
	r = sheep_store_wipe(&g_sheep.store);
	if (!r)
		r = sheep_store_config_save(&g_sheep.store, &cfg);
	if (!r) {
		sheep_vdi_reset(&g_sheep.vdi);
		sheep_coh_reset();
		g_sheep.cfg = cfg;
		__atomic_store_n(&g_sheep.formatted, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&g_sheep.vdi.lock);
	if (r) {
		sheep_err("format failed: %s", strerror(-r));
		return sheep_errno_to_res(r);
	}
	sheep_info("formatted: copies %u, policy %u, block_size_shift %u, flags 0x%x",
		   cfg.nr_copies, cfg.copy_policy, cfg.block_size_shift, cfg.flags);
	return SD_RES_SUCCESS;
}

int sheep_op_shutdown(struct sheep_request *req)
{
	sheep_info("shutdown requested");
	__atomic_store_n(&g_sheep.shutting_down, 1, __ATOMIC_RELEASE);
	return SD_RES_SUCCESS;
}

int sheep_op_stat_sheep(struct sheep_request *req)
{
	store_space(&req->rsp.node.store_size, &req->rsp.node.store_free);
	return SD_RES_SUCCESS;
}

static int cluster_status_res(void)
{
	if (__atomic_load_n(&g_sheep.shutting_down, __ATOMIC_ACQUIRE))
		return SD_RES_SHUTDOWN;
	if (!__atomic_load_n(&g_sheep.formatted, __ATOMIC_ACQUIRE))
		return SD_RES_WAIT_FOR_FORMAT;
	return SD_RES_SUCCESS;
}

int sheep_op_stat_cluster(struct sheep_request *req)
{
	uint32_t n = req->hdr.cluster.nodes_nr;
	struct sheep_config cfg;
	struct sd_epoch_log *log;
	size_t rec;
	int r = cluster_status_res();

	if (r != SD_RES_SUCCESS)
		return r;
	if (n > SD_MAX_NODES)
		n = SD_MAX_NODES;
	rec = sizeof(*log) + (size_t)n * sizeof(struct sd_node);
	if (req->hdr.data_length < rec)
		return SD_RES_BUFFER_SMALL;
	log = calloc(1, rec);
	if (!log)
		return SD_RES_NO_MEM;
	cfg_snapshot(&cfg);
	log->ctime = cfg.ctime;
	log->time = cfg.epoch_time;
	log->epoch = 1;
	log->nr_nodes = 1;
	log->nr_copies = cfg.nr_copies;
	log->copy_policy = cfg.copy_policy;
	log->flags = cfg.flags | SD_CLUSTER_FLAG_AUTO_VNODES;
	snprintf(log->drv_name, sizeof(log->drv_name), "%s", cfg.store);
	if (n)
		fill_node((struct sd_node *)(log + 1));
	req->rdata = log;
	req->rsp.data_length = (uint32_t)rec;
	return SD_RES_SUCCESS;
}

int sheep_op_get_store_list(struct sheep_request *req)
{
	static const char list[] = STORE_NAME " ";
	uint32_t len = req->hdr.data_length < sizeof(list) ? req->hdr.data_length : sizeof(list);

	if (!len)
		return SD_RES_SUCCESS;
	req->rdata = malloc(len);
	if (!req->rdata)
		return SD_RES_NO_MEM;
	memcpy(req->rdata, list, len);
	req->rsp.data_length = len;
	return SD_RES_SUCCESS;
}

int sheep_op_cluster_info(struct sheep_request *req)
{
	struct sd_cluster_info *ci;
	struct sheep_config cfg;
	uint32_t len = req->hdr.data_length;
	int formatted = __atomic_load_n(&g_sheep.formatted, __ATOMIC_ACQUIRE);

	if (len > sizeof(*ci))
		len = sizeof(*ci);
	ci = calloc(1, sizeof(*ci));
	if (!ci)
		return SD_RES_NO_MEM;
	cfg_snapshot(&cfg);
	ci->proto_ver = SD_SHEEP_PROTO_VER;
	ci->nr_nodes = 1;
	ci->epoch = formatted ? 1 : 0;
	ci->ctime = cfg.ctime;
	ci->flags = cfg.flags | SD_CLUSTER_FLAG_AUTO_VNODES;
	ci->nr_copies = cfg.nr_copies;
	ci->copy_policy = cfg.copy_policy;
	if (__atomic_load_n(&g_sheep.shutting_down, __ATOMIC_ACQUIRE))
		ci->status = SD_STATUS_SHUTDOWN;
	else
		ci->status = formatted ? SD_STATUS_OK : SD_STATUS_WAIT;
	ci->block_size_shift = cfg.block_size_shift;
	snprintf(ci->default_store, sizeof(ci->default_store), "%s",
		 cfg.store[0] ? cfg.store : STORE_NAME);
	fill_node(&ci->nodes[0]);
	/* the reply is a prefix of the structure, at most what was asked for */
	req->rdata = ci;
	req->rsp.data_length = len;
	return SD_RES_SUCCESS;
}
