// SPDX-License-Identifier: GPL-2.0-or-later
/* dog: cluster format/info/shutdown and node list. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "clusterfmt.h"
#include "dog.h"

static int any_vdi_in_use(bool *in_use)
{
	struct sd_req req;
	struct sd_rsp rsp;
	uint64_t *bits;
	size_t i;
	int ret;

	bits = calloc(1, SD_VDI_BITMAP_SIZE);
	if (!bits) {
		dog_err("Out of memory");
		return DOG_EXIT_SYSFAIL;
	}
	dog_init_req(&req, SD_OP_READ_VDIS);
	req.data_length = SD_VDI_BITMAP_SIZE;
	ret = dog_exec(&req, NULL, bits, SD_VDI_BITMAP_SIZE, &rsp);
	if (ret) {
		free(bits);
		return DOG_EXIT_SYSFAIL;
	}
	*in_use = false;
	if (rsp.result == SD_RES_SUCCESS)
		for (i = 0; i < SD_VDI_BITMAP_SIZE / sizeof(*bits) && !*in_use; i++)
			*in_use = bits[i] != 0;
	free(bits);
	return DOG_EXIT_SUCCESS;
}

static void list_stores(void)
{
	char buf[512];
	struct sd_req req;
	struct sd_rsp rsp;

	memset(buf, 0, sizeof(buf));
	dog_init_req(&req, SD_OP_GET_STORE_LIST);
	req.data_length = sizeof(buf) - 1;
	if (!dog_exec(&req, NULL, buf, sizeof(buf) - 1, &rsp) && rsp.result == SD_RES_SUCCESS)
		dog_err("Available stores: %s", buf);
}

int dog_cmd_cluster_format(const struct dog_opts *o, int argc, char **argv)
{
	const char *store = o->store[0] ? o->store : "plain";
	struct sd_node *nodes;
	struct sd_req req;
	struct sd_rsp rsp;
	struct timeval tv;
	unsigned nr = 0;
	uint32_t epoch;
	bool in_use;
	int ret;

	ret = dog_node_list(&nodes, &nr, &epoch);
	if (ret)
		return ret;
	free(nodes);
	if (o->has_copies && !o->copy_policy && o->copies > nr && !o->force) {
		char msg[256];

		snprintf(msg, sizeof(msg),
			 "Number of copies (%d) is larger than number of nodes (%u).\n"
			 "Are you sure you want to continue? [yes/no]: ",
			 o->copies, nr);
		dog_confirm(msg);
	}
	if (!o->force) {
		ret = any_vdi_in_use(&in_use);
		if (ret)
			return ret;
		if (in_use)
			dog_confirm("Format will erase all data in the cluster. "
				    "Are you sure you want to continue? [yes/no]: ");
	}

	gettimeofday(&tv, NULL);
	dog_init_req(&req, SD_OP_MAKE_FS);
	req.flags = SD_FLAG_CMD_WRITE;
	req.data_length = (uint32_t)strlen(store) + 1;
	req.cluster.copies = o->copies;
	req.cluster.copy_policy = o->copy_policy;
	req.cluster.flags = SD_CLUSTER_FLAG_AUTO_VNODES;
	req.cluster.block_size_shift = o->block_shift;
	req.cluster.ctime = ((uint64_t)tv.tv_sec << 32) | (uint64_t)(tv.tv_usec * 1000);

	printf("using backend %s store\n", store);
	if (dog_exec(&req, store, NULL, 0, &rsp))
		return DOG_EXIT_SYSFAIL;
	if (rsp.result != SD_RES_SUCCESS) {
		dog_err("Format failed: %s", sd_strerror((int)rsp.result));
		if (rsp.result == SD_RES_NO_STORE)
			list_stores();
		return DOG_EXIT_SYSFAIL;
	}
	return DOG_EXIT_SUCCESS;
}

/*
 * -v, as 1.0.1 prints it: the store and redundancy and the vnodes strategy
 * come from the newest epoch record (or the reason there is none), then the
 * vnode mode (node or disk) in every case; in raw mode, the values alone.
 */
static void print_verbose(const struct dog_opts *o, int result, const struct sd_epoch_log *log)
{
	char red[16], drv[sizeof(log->drv_name) + 1];

	if (!o->raw)
		printf("Cluster store: ");
	if (result == SD_RES_SUCCESS) {
		memcpy(drv, log->drv_name, sizeof(log->drv_name));
		drv[sizeof(log->drv_name)] = '\0';
		printf("%s with %s redundancy policy\n", drv,
		       dog_redundancy_str(log->nr_copies, log->copy_policy, red, sizeof(red)));
		if (!o->raw)
			printf("Cluster vnodes strategy: ");
		printf("%s\n", log->flags & SD_CLUSTER_FLAG_AUTO_VNODES ? "auto" : "fixed");
	} else {
		printf("%s\n", sd_strerror(result));
	}
	if (!o->raw)
		printf("Cluster vnode mode: ");
	printf("%s\n", log->flags & SD_CLUSTER_FLAG_DISKMODE ? "disk" : "node");
}

static int exec_cb(void *ctx, struct sd_req *req, void *buf, size_t len, struct sd_rsp *rsp)
{
	(void)ctx;
	return dog_exec(req, NULL, buf, len, rsp);
}

int dog_cmd_cluster_info(const struct dog_opts *o, int argc, char **argv)
{
	struct sd_epoch_log first;
	struct sd_node *nodes;
	struct sd_rsp rsp;
	unsigned nr = 0, rec_nodes;
	uint32_t epoch;
	size_t len;
	void *logs;
	int ret;

	ret = dog_node_list(&nodes, &nr, &epoch);
	if (ret)
		return ret;
	free(nodes);
	ret = sdc_stat_cluster(exec_cb, NULL, nr, epoch, &logs, &len, &rec_nodes, &rsp);
	if (ret == -ENOMEM)
		dog_err("Out of memory");
	if (ret)
		return DOG_EXIT_SYSFAIL;
	sdc_print_cluster_status(stdout, (int)rsp.result, logs, len, o->raw);
	memset(&first, 0, sizeof(first)); /* all zero when there is none */
	memcpy(&first, logs, len < sizeof(first) ? len : sizeof(first));
	/* without -v, upstream ends the status with a blank line, raw or not */
	if (o->verbose)
		print_verbose(o, (int)rsp.result, &first);
	else
		printf("\n");
	sdc_print_epochs(stdout, logs, len, rec_nodes, o->raw);
	free(logs);
	return DOG_EXIT_SUCCESS;
}

int dog_cmd_cluster_shutdown(const struct dog_opts *o, int argc, char **argv)
{
	struct sd_req req;
	struct sd_rsp rsp;

	dog_init_req(&req, SD_OP_SHUTDOWN);
	if (dog_exec(&req, NULL, NULL, 0, &rsp))
		return DOG_EXIT_FAILURE; /* as 1.0.1, even with no sheep */
	if (rsp.result != SD_RES_SUCCESS) {
		dog_err("Failed to shutdown server: %s", sd_strerror((int)rsp.result));
		return DOG_EXIT_SYSFAIL;
	}
	return DOG_EXIT_SUCCESS;
}

int dog_cmd_node_list(const struct dog_opts *o, int argc, char **argv)
{
	struct sd_node *nodes;
	unsigned nr = 0;
	uint32_t epoch;
	int ret;

	ret = dog_node_list(&nodes, &nr, &epoch);
	if (ret)
		return ret;
	sdc_print_node_list(stdout, nodes, nr, o->raw);
	free(nodes);
	return DOG_EXIT_SUCCESS;
}

/*
 * As 1.0.1: STAT_SHEEP to every node of the node list, at the node's own
 * address; one row per node that answered (numbered in answer order), the
 * sum of those rows, and the total size of the working vdis.
 */
int dog_cmd_node_info(const struct dog_opts *o, int argc, char **argv)
{
	char a[32], b[32], c[32], d[32];
	uint64_t size, avail, used, vdis, total_size = 0, total_avail = 0;
	struct sd_node *nodes;
	struct sd_req req;
	struct sd_rsp rsp;
	unsigned nr = 0, i, ok = 0;
	uint32_t epoch;
	int ret, ratio;

	ret = dog_node_list(&nodes, &nr, &epoch);
	if (ret)
		return ret;
	if (!o->raw)
		printf("Id\tSize\tUsed\tAvail\tUse%%\n");
	for (i = 0; i < nr; i++) {
		dog_init_req(&req, SD_OP_STAT_SHEEP);
		if (dog_exec_node(&nodes[i], &req, &rsp))
			continue;
		if (rsp.result != SD_RES_SUCCESS) {
			dog_err("Response's result: %s", sd_strerror((int)rsp.result));
			continue;
		}
		size = rsp.node.store_size;
		avail = rsp.node.store_free < size ? rsp.node.store_free : size;
		used = size - avail;
		ratio = size ? (int)((double)used * 100.0 / (double)size) : 0;
		dog_strnumber(size, o->raw, a, sizeof(a));
		dog_strnumber(used, o->raw, b, sizeof(b));
		dog_strnumber(avail, o->raw, c, sizeof(c));
		printf(o->raw ? "%u %s %s %s %d%%\n" : "%2u\t%s\t%s\t%s\t%3d%%\n", ok, a, b, c,
		       ratio);
		ok++;
		total_size += size;
		total_avail += avail;
	}
	free(nodes);
	if (!ok) {
		dog_err("Cannot get information from any nodes");
		return DOG_EXIT_SYSFAIL;
	}
	ret = dog_total_vdi_size(&vdis);
	if (ret)
		return ret;
	used = total_size - total_avail;
	ratio = total_size ? (int)((double)used * 100.0 / (double)total_size) : 0;
	dog_strnumber(total_size, o->raw, a, sizeof(a));
	dog_strnumber(used, o->raw, b, sizeof(b));
	dog_strnumber(total_avail, o->raw, c, sizeof(c));
	dog_strnumber(vdis, o->raw, d, sizeof(d));
	if (o->raw)
		printf("Total %s %s %s %d%% %s\n", a, b, c, ratio, d);
	else
		printf("Total\t%s\t%s\t%s\t%3d%%\n\nTotal virtual image size\t%s\n", a, b, c, ratio,
		       d);
	return DOG_EXIT_SUCCESS;
}
