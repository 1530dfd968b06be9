// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sheepfs: the text of cluster/info, node/list, vdi/list and
 * config/sheep_info.  Each is made when the file is opened, as a control
 * call on the service thread; cluster/info and node/list print what
 * `dog cluster info` and `dog node list` print (common/clusterfmt.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "clusterfmt.h"
#include "sheepfs.h"

/* Sheep replies this large at most: SD_MAX_NODES node records. */
#define NODE_LIST_LEN (SD_MAX_NODES * sizeof(struct sd_node))

static int run_req(uint8_t opcode, void *buf, size_t len, unsigned nodes_nr, struct sd_rsp *rsp)
{
	struct sd_req req;
	int ret;

	memset(&req, 0, sizeof(req));
	req.proto_ver = opcode >= 0x80 ? SD_SHEEP_PROTO_VER : SD_PROTO_VER;
	req.opcode = opcode;
	req.data_length = (uint32_t)len;
	req.cluster.nodes_nr = nodes_nr;
	ret = sd_run_sdreq(g_sfs.cluster, &req, buf);
	if (ret < 0) {
		sfs_log(LOG_ERR, "request 0x%02x to %s: %s", opcode, g_sfs.addr,
			sd_cluster_errmsg(g_sfs.cluster));
		return -EIO;
	}
	memcpy(rsp, &req, sizeof(*rsp));
	return 0;
}

static int get_nodes(struct sd_node **nodes, unsigned *nr, uint32_t *epoch)
{
	struct sd_rsp rsp;
	int ret;

	*nodes = calloc(SD_MAX_NODES, sizeof(**nodes));
	if (!*nodes)
		return -ENOMEM;
	ret = run_req(SD_OP_GET_NODE_LIST, *nodes, NODE_LIST_LEN, 0, &rsp);
	if (!ret && rsp.result != SD_RES_SUCCESS) {
		sfs_log(LOG_ERR, "node list: %s", sd_strerror((int)rsp.result));
		ret = -EIO;
	}
	if (ret) {
		free(*nodes);
		*nodes = NULL;
		return ret;
	}
	*nr = rsp.data_length / sizeof(struct sd_node);
	*epoch = rsp.epoch;
	return 0;
}

/* Open a memory stream for call->text; finish with close_text(). */
static FILE *open_text(struct sfs_call *call)
{
	return open_memstream(&call->text, &call->text_len);
}

static int close_text(struct sfs_call *call, FILE *f, int ret)
{
	if (fclose(f) && !ret)
		ret = -ENOMEM;
	if (ret) {
		free(call->text);
		call->text = NULL;
		call->text_len = 0;
	}
	return ret;
}

int sfs_node_list_cb(struct sfs_call *call)
{
	struct sd_node *nodes;
	unsigned nr = 0;
	uint32_t epoch;
	FILE *f;
	int ret;

	ret = get_nodes(&nodes, &nr, &epoch);
	if (ret)
		return ret;
	f = open_text(call);
	if (!f) {
		free(nodes);
		return -ENOMEM;
	}
	sdc_print_node_list(f, nodes, nr, false);
	free(nodes);
	return close_text(call, f, 0);
}

static int exec_cb(void *ctx, struct sd_req *req, void *buf, size_t len, struct sd_rsp *rsp)
{
	(void)ctx;
	return run_req(req->opcode, buf, len, req->cluster.nodes_nr, rsp);
}

int sfs_cluster_info_cb(struct sfs_call *call)
{
	struct sd_node *nodes;
	struct sd_rsp rsp;
	unsigned nr = 0, rec_nodes;
	uint32_t epoch;
	size_t len;
	void *logs;
	FILE *f;
	int ret;

	ret = get_nodes(&nodes, &nr, &epoch);
	if (ret)
		return ret;
	free(nodes);
	ret = sdc_stat_cluster(exec_cb, NULL, nr, epoch, &logs, &len, &rec_nodes, &rsp);
	if (ret)
		return ret;
	f = open_text(call);
	if (!f) {
		free(logs);
		return -ENOMEM;
	}
	sdc_print_cluster_status(f, (int)rsp.result, logs, len, false);
	fprintf(f, "\n");
	sdc_print_epochs(f, logs, len, rec_nodes, false);
	free(logs);
	return close_text(call, f, 0);
}

/* One line per vdi; the last column is what to write into vdi/mount. */
int sfs_vdi_list_cb(struct sfs_call *call)
{
	struct sd_vdi_info *vi;
	FILE *f;
	int n, i;

	n = sd_vdi_list(g_sfs.cluster, &vi);
	if (n < 0) {
		sfs_log(LOG_ERR, "vdi list from %s: %s", g_sfs.addr,
			sd_cluster_errmsg(g_sfs.cluster));
		return n == -ENODEV ? -ENODEV : -EIO;
	}
	f = open_text(call);
	if (!f) {
		free(vi);
		return -ENOMEM;
	}
	fprintf(f, "  %-24s %6s %-12s %8s %14s  %s\n", "Name", "Id", "Tag", "Vid", "Size",
		"Attach as");
	for (i = 0; i < n; i++) {
		char attach[SD_MAX_VDI_LEN + 16];

		if (vi[i].is_snapshot)
			snprintf(attach, sizeof(attach), "%s:%" PRIu32, vi[i].name, vi[i].snap_id);
		else
			snprintf(attach, sizeof(attach), "%s", vi[i].name);
		fprintf(f, "%c %-24s %6" PRIu32 " %-12s %8" PRIx32 " %14" PRIu64 "  %s\n",
			vi[i].is_snapshot ? 's' : ' ', vi[i].name, vi[i].snap_id,
			vi[i].tag[0] ? vi[i].tag : "-", vi[i].vid, vi[i].size, attach);
	}
	free(vi);
	return close_text(call, f, 0);
}

int sfs_sheep_info_cb(struct sfs_call *call)
{
	FILE *f = open_text(call);

	if (!f)
		return -ENOMEM;
	fprintf(f, "%s\n", g_sfs.addr);
	return close_text(call, f, 0);
}
