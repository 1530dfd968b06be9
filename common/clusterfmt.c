// SPDX-License-Identifier: GPL-2.0-or-later
/* Text of `dog cluster info` and `dog node list` (see clusterfmt.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clusterfmt.h"

const char *sdc_node_str(const struct sd_node *n, char *buf, size_t len)
{
	static const uint8_t v4_prefix[12];
	char ip[INET6_ADDRSTRLEN];

	if (!memcmp(n->nid.addr, v4_prefix, sizeof(v4_prefix))) {
		inet_ntop(AF_INET, n->nid.addr + 12, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, n->nid.port);
	} else {
		inet_ntop(AF_INET6, n->nid.addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, n->nid.port);
	}
	return buf;
}

void sdc_print_node_list(FILE *f, const struct sd_node *nodes, unsigned nr, bool raw)
{
	char host[80];
	unsigned i;

	if (!raw)
		fprintf(f, "  Id   Host:Port         V-Nodes       Zone\n");
	for (i = 0; i < nr; i++) {
		sdc_node_str(&nodes[i], host, sizeof(host));
		if (raw)
			fprintf(f, "%u %s %u %" PRIu32 "\n", i, host, nodes[i].nr_vnodes,
				nodes[i].zone);
		else
			fprintf(f, "%4u   %-20s\t%2u%11" PRIu32 "\n", i, host, nodes[i].nr_vnodes,
				nodes[i].zone);
	}
}

void sdc_print_cluster_status(FILE *f, int result, const void *logs, size_t len, bool raw)
{
	struct sd_epoch_log first;

	if (!raw)
		fprintf(f, "Cluster status: ");
	if (result != SD_RES_SUCCESS) {
		fprintf(f, "%s\n", sd_strerror(result));
		return;
	}
	memset(&first, 0, sizeof(first));
	if (len >= sizeof(first))
		memcpy(&first, logs, sizeof(first));
	fprintf(f, "running, auto-recovery %s\n", first.disable_recovery ? "disabled" : "enabled");
}

size_t sdc_epoch_rec_size(unsigned rec_nodes)
{
	return sizeof(struct sd_epoch_log) + (size_t)rec_nodes * sizeof(struct sd_node);
}

static void print_epoch(FILE *f, const struct sd_epoch_log *log, const struct sd_node *nodes,
			unsigned rec_nodes, bool raw)
{
	char when[64], host[80];
	time_t t = (time_t)log->time;
	unsigned j, nr = log->nr_nodes < rec_nodes ? log->nr_nodes : rec_nodes;
	struct tm tm;

	if (raw) {
		fprintf(f, "%" PRIu64 " %" PRIu32, log->time, log->epoch);
	} else {
		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		fprintf(f, "%s %6" PRIu32, when, log->epoch);
	}
	fprintf(f, " [");
	for (j = 0; j < nr; j++)
		fprintf(f, "%s%s:%u", j ? ", " : "", sdc_node_str(&nodes[j], host, sizeof(host)),
			nodes[j].nr_vnodes);
	fprintf(f, "]\n");
}

void sdc_print_epochs(FILE *f, const void *logs, size_t len, unsigned rec_nodes, bool raw)
{
	size_t rec = sdc_epoch_rec_size(rec_nodes);
	unsigned nr_logs = (unsigned)(len / rec), i;
	struct sd_epoch_log log;

	if (!raw && nr_logs) {
		time_t ct;
		char cbuf[64];

		memcpy(&log, logs, sizeof(log));
		ct = (time_t)(log.ctime >> 32);
		fprintf(f, "Cluster created at %s\n", ctime_r(&ct, cbuf) ? cbuf : "?\n");
		fprintf(f, "Epoch Time           Version [Host:Port:V-Nodes,,,]\n");
	}
	for (i = 0; i < nr_logs; i++) {
		const char *p = (const char *)logs + (size_t)i * rec;

		memcpy(&log, p, sizeof(log));
		print_epoch(f, &log, (const struct sd_node *)(const void *)(p + sizeof(log)),
			    rec_nodes, raw);
	}
}

int sdc_stat_cluster(sdc_exec_fn exec, void *ctx, unsigned nr_nodes, uint32_t epoch, void **logs,
		     size_t *len, unsigned *rec_nodes, struct sd_rsp *rsp)
{
	const size_t max_len = 64u << 20;
	unsigned slots = nr_nodes ? nr_nodes : 1;
	struct sd_req req;
	size_t rec, n;
	void *buf;
	int ret;

	for (;;) {
		rec = sdc_epoch_rec_size(slots);
		n = (epoch ? epoch : 1) * rec;
		if (n > max_len)
			n = max_len / rec * rec;
		buf = calloc(1, n);
		if (!buf)
			return -ENOMEM;
		memset(&req, 0, sizeof(req));
		req.opcode = SD_OP_STAT_CLUSTER;
		req.proto_ver = SD_SHEEP_PROTO_VER;
		req.data_length = (uint32_t)n;
		req.cluster.nodes_nr = slots;
		ret = exec(ctx, &req, buf, n, rsp);
		if (ret) {
			free(buf);
			return ret;
		}
		if (rsp->result != SD_RES_BUFFER_SMALL || slots >= SD_MAX_NODES)
			break;
		free(buf);
		slots *= 2;
	}
	*logs = buf;
	*len = rsp->data_length < n ? rsp->data_length : n;
	*rec_nodes = slots;
	return 0;
}
