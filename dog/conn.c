// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dog: the one libsheepdog handle dog talks through and the request helpers
 * built on it (vdi lookup, object I/O, inode access, node list).  dog has no
 * client of its own: raw requests go through sd_run_sdreq(), vdi data
 * through the vdi API (transfer.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sheepdog/sheepdog.h>

#include "clusterfmt.h"
#include "codec.h"
#include "net.h"
#include "dog.h"

/* As dog's own client had: one connect attempt may take this long. */
#define DOG_CONNECT_TIMEOUT_MS 10000
/*
 * Upstream dog waits for a reply without any bound (some requests, such as
 * deleting a large vdi or preallocating under load, take long); a generous
 * bound still ends a hang.
 */
#define DOG_IO_TIMEOUT_MS      300000
#define DOG_NODE_LIST_LEN      (SD_MAX_NODES * sizeof(struct sd_node))

static char g_addr_name[300] = "127.0.0.1:7000";
static struct sd_cluster *g_cluster;

int dog_conn_configure(const char *addr, unsigned port)
{
	struct sdc_addr a = { .host = "127.0.0.1", .port = SD_LISTEN_PORT };
	const char *why = NULL;

	if (addr) {
		char v6[300];
		const char *colon = strchr(addr, ':');

		/* upstream takes a bare IPv6 literal ("-a ::1"); the parser wants [] */
		if (colon && strchr(colon + 1, ':') && addr[0] != '[' &&
		    strncmp(addr, "unix:", 5) && addr[0] != '/' &&
		    (size_t)snprintf(v6, sizeof(v6), "[%s]", addr) < sizeof(v6))
			addr = v6;
		if (sdc_parse_addr(addr, &a, &why)) {
			dog_err("Invalid address '%s': %s", addr, why);
			return -EINVAL;
		}
	}
	if (port)
		a.port = port;
	/* the library parses this form back (host:port, [v6]:port, unix:path) */
	sdc_addr_str(&a, g_addr_name, sizeof(g_addr_name));
	return 0;
}

const char *dog_conn_name(void)
{
	return g_addr_name;
}

struct sd_cluster *dog_cluster(void)
{
	struct sd_cluster_opts opts;

	if (g_cluster)
		return g_cluster;
	sd_cluster_opts_init(&opts);
	/* one connection carries every request, pipelined */
	opts.nr_connections = 1;
	opts.connect_timeout_ms = DOG_CONNECT_TIMEOUT_MS;
	opts.io_timeout_ms = DOG_IO_TIMEOUT_MS;
	/* like upstream dog, fail at the first error instead of retrying */
	opts.retry_timeout_ms = 0;
	g_cluster = sd_connect_opts(g_addr_name, &opts);
	if (!g_cluster)
		dog_err("Failed to connect to %s: %s", g_addr_name, strerror(errno));
	return g_cluster;
}

void dog_conn_close(void)
{
	if (g_cluster && !sd_disconnect(g_cluster))
		g_cluster = NULL;
}

void dog_confirm(const char *msg)
{
	char input[8] = "";

	printf("%s", msg);
	fflush(stdout);
	if (!fgets(input, sizeof(input), stdin) || strncasecmp(input, "yes", 3)) {
		dog_conn_close();
		exit(DOG_EXIT_SUCCESS);
	}
}

void dog_init_req(struct sd_req *req, uint8_t opcode)
{
	memset(req, 0, sizeof(*req));
	req->opcode = opcode;
	req->proto_ver = opcode >= 0x80 ? SD_SHEEP_PROTO_VER : SD_PROTO_VER;
}

int dog_exec(struct sd_req *req, const void *data, void *rbuf, size_t rbuf_len, struct sd_rsp *rsp)
{
	struct sd_cluster *c = dog_cluster();
	struct sd_req hdr = *req;
	bool wr = hdr.flags & SD_FLAG_CMD_WRITE;
	void *buf = wr ? (void *)data : rbuf;
	void *bounce = NULL;
	int ret;

	memset(rsp, 0, sizeof(*rsp));
	if (!c)
		return -ENOTCONN;
	if (wr && rbuf) {
		/* the library keeps no reply payload of a write: a caller bug */
		dog_err("dog_exec: a reply buffer for a write request (opcode 0x%02x)", hdr.opcode);
		return -EINVAL;
	}
	/* the library stores up to data_length reply bytes: keep rbuf_len */
	if (!wr && rbuf && rbuf_len < hdr.data_length) {
		bounce = malloc(hdr.data_length);
		if (!bounce) {
			dog_err("Out of memory");
			return -ENOMEM;
		}
		buf = bounce;
	}
	ret = sd_run_sdreq(c, &hdr, buf);
	if (ret < 0) {
		dog_err("Failed to communicate with %s: %s", g_addr_name, sd_cluster_errmsg(c));
		free(bounce);
		return ret;
	}
	memcpy(rsp, &hdr, sizeof(*rsp));
	if (bounce) {
		memcpy(rbuf, bounce, rsp->data_length < rbuf_len ? rsp->data_length : rbuf_len);
		free(bounce);
	}
	return 0;
}

int dog_exec_node(const struct sd_node *n, struct sd_req *req, struct sd_rsp *rsp)
{
	struct sd_cluster_opts opts;
	struct sd_cluster *c;
	struct sd_req hdr = *req;
	char addr[80];
	int ret;

	memset(rsp, 0, sizeof(*rsp));
	if (hdr.data_length) {
		dog_err("dog_exec_node: requests with a payload are not supported");
		return -EINVAL;
	}
	sdc_node_str(n, addr, sizeof(addr));
	sd_cluster_opts_init(&opts);
	opts.nr_connections = 1;
	opts.connect_timeout_ms = DOG_CONNECT_TIMEOUT_MS;
	opts.io_timeout_ms = DOG_IO_TIMEOUT_MS;
	opts.retry_timeout_ms = 0;
	c = sd_connect_opts(addr, &opts);
	if (!c) {
		ret = -errno;
		dog_err("Failed to connect to %s: %s", addr, strerror(errno));
		return ret ? ret : -ENOTCONN;
	}
	ret = sd_run_sdreq(c, &hdr, NULL);
	if (ret < 0)
		dog_err("Failed to communicate with %s: %s", addr, sd_cluster_errmsg(c));
	else
		memcpy(rsp, &hdr, sizeof(*rsp));
	sd_disconnect(c);
	return ret < 0 ? ret : 0;
}

int dog_find_vdi_res(const char *name, uint32_t snapid, const char *tag, uint32_t *vid)
{
	struct sdc_vdi_name buf;
	struct sd_req req;
	struct sd_rsp rsp;
	int ret;

	if (sdc_pack_vdi_name(&buf, name, tag)) {
		dog_err("Invalid VDI name '%s' or snapshot tag", name);
		return -EINVAL;
	}
	dog_init_req(&req, SD_OP_GET_VDI_INFO);
	req.flags = SD_FLAG_CMD_WRITE;
	req.data_length = sizeof(buf);
	req.vdi.snapid = snapid;
	ret = dog_exec(&req, &buf, NULL, 0, &rsp);
	if (ret)
		return ret;
	if (rsp.result == SD_RES_SUCCESS)
		*vid = rsp.vdi.vdi_id;
	return (int)rsp.result;
}

int dog_read_obj_res(uint64_t oid, void *buf, uint32_t len, uint64_t offset, bool direct)
{
	struct sd_req req;
	struct sd_rsp rsp;
	int ret;

	dog_init_req(&req, SD_OP_READ_OBJ);
	req.data_length = len;
	req.flags = direct ? SD_FLAG_CMD_DIRECT : 0;
	req.obj.oid = oid;
	req.obj.offset = (uint32_t)offset;
	ret = dog_exec(&req, NULL, buf, len, &rsp);
	if (ret)
		return ret;
	if (rsp.result == SD_RES_SUCCESS && rsp.data_length != len)
		return SD_RES_EIO; /* short read: never trust a partial buffer */
	return (int)rsp.result;
}

int dog_write_obj_res(uint64_t oid, uint64_t cow_oid, const void *buf, uint32_t len,
		      uint64_t offset, uint16_t flags, uint8_t copies, uint8_t policy, bool create)
{
	struct sd_req req;
	struct sd_rsp rsp;
	int ret;

	dog_init_req(&req, create ? SD_OP_CREATE_AND_WRITE_OBJ : SD_OP_WRITE_OBJ);
	req.flags = flags | SD_FLAG_CMD_WRITE;
	if (create && cow_oid)
		req.flags |= SD_FLAG_CMD_COW;
	req.data_length = len;
	req.obj.oid = oid;
	req.obj.cow_oid = cow_oid;
	req.obj.copies = copies;
	req.obj.copy_policy = policy;
	req.obj.offset = (uint32_t)offset;
	ret = dog_exec(&req, buf, NULL, 0, &rsp);
	if (ret)
		return ret;
	return (int)rsp.result;
}

int dog_res_to_exit(int res)
{
	/*
	 * 1.0.1's vdi commands exit 1 for every sheep result, a missing or
	 * existing vdi included (checked against it: see docs/upstream.md);
	 * only a transport failure is "system failure".
	 */
	if (res == SD_RES_SUCCESS)
		return DOG_EXIT_SUCCESS;
	return res < 0 ? DOG_EXIT_SYSFAIL : DOG_EXIT_FAILURE;
}

void dog_inode_free(struct dog_inode *ino)
{
	free(ino->vids);
	ino->vids = NULL;
}

static void snap_desc(char *buf, size_t len, uint32_t snapid, const char *tag)
{
	if (snapid)
		snprintf(buf, len, " (snapshot id %" PRIu32 ")", snapid);
	else if (tag && tag[0])
		snprintf(buf, len, " (snapshot tag '%s')", tag);
	else
		buf[0] = '\0';
}

int dog_vdi_lookup(const char *name, uint32_t snapid, const char *tag, uint32_t *vid)
{
	char desc[300];
	int res;

	res = dog_find_vdi_res(name, snapid, tag, vid);
	/* upstream: a lookup that fails, even for want of a sheep, is exit 1 */
	if (res < 0)
		return res == -EINVAL ? DOG_EXIT_USAGE : DOG_EXIT_FAILURE;
	if (res != SD_RES_SUCCESS) {
		snap_desc(desc, sizeof(desc), snapid, tag);
		dog_err("Failed to open VDI %s%s: %s", name, desc, sd_strerror(res));
		return dog_res_to_exit(res);
	}
	return DOG_EXIT_SUCCESS;
}

int dog_inode_open(const char *name, uint32_t snapid, const char *tag, bool index,
		   struct dog_inode *ino)
{
	struct sdc_inode_geom geom;
	char desc[300];
	uint64_t len;
	int ret, res;

	memset(ino, 0, sizeof(*ino));
	snap_desc(desc, sizeof(desc), snapid, tag);
	ret = dog_vdi_lookup(name, snapid, tag, &ino->vid);
	if (ret)
		return ret;
	res = dog_read_obj_res(sd_vid_to_vdi_oid(ino->vid), &ino->hdr, sizeof(ino->hdr), 0, true);
	if (res) {
		if (res > 0)
			dog_err("Failed to read the inode of VDI %s%s: %s", name, desc,
				sd_strerror(res));
		return dog_res_to_exit(res);
	}
	ret = sdc_inode_decode(&ino->hdr, &geom);
	if (ret == -ENOTSUP) {
		dog_err("VDI %s is a hyper volume (B-tree index), which dog does not support",
			name);
		return DOG_EXIT_FAILURE;
	}
	if (ret == -EINVAL) {
		dog_err("VDI %s: bad block_size_shift %u in its inode", name,
			ino->hdr.block_size_shift);
		return DOG_EXIT_FAILURE;
	}
	if (ret) {
		dog_err("VDI %s: size %" PRIu64 " exceeds the flat index", name, ino->hdr.vdi_size);
		return DOG_EXIT_FAILURE;
	}
	ino->obj_size = geom.obj_size;
	ino->nr_objs = geom.nr_objs;
	if (!index)
		return DOG_EXIT_SUCCESS;
	ino->vids = calloc(ino->nr_objs ? ino->nr_objs : 1, sizeof(uint32_t));
	if (!ino->vids) {
		dog_err("Out of memory");
		return DOG_EXIT_SYSFAIL;
	}
	len = ino->nr_objs * sizeof(uint32_t);
	if (!len)
		return DOG_EXIT_SUCCESS;
	res = dog_read_obj_res(sd_vid_to_vdi_oid(ino->vid), ino->vids, (uint32_t)len,
			       SD_INODE_HEADER_SIZE, true);
	if (res) {
		if (res > 0)
			dog_err("Failed to read the index of VDI %s%s: %s", name, desc,
				sd_strerror(res));
		dog_inode_free(ino);
		return dog_res_to_exit(res);
	}
	return DOG_EXIT_SUCCESS;
}

int dog_inode_write_vids_res(const struct dog_inode *ino, uint64_t start, uint64_t end,
			     uint16_t flags)
{
	return dog_write_obj_res(sd_vid_to_vdi_oid(ino->vid), 0, ino->vids + start,
				 (uint32_t)((end - start) * sizeof(uint32_t)),
				 sd_inode_index_offset((uint32_t)start), flags, ino->hdr.nr_copies,
				 ino->hdr.copy_policy, false);
}

int dog_node_list(struct sd_node **nodes, unsigned *nr, uint32_t *epoch)
{
	struct sd_epoch_log log;
	struct sd_req req;
	struct sd_rsp rsp;
	struct sd_node *buf;
	int ret;

	*nodes = NULL;
	buf = calloc(SD_MAX_NODES, sizeof(*buf));
	if (!buf) {
		dog_err("Out of memory");
		return DOG_EXIT_SYSFAIL;
	}
	dog_init_req(&req, SD_OP_GET_NODE_LIST);
	req.data_length = DOG_NODE_LIST_LEN;
	ret = dog_exec(&req, NULL, buf, DOG_NODE_LIST_LEN, &rsp);
	if (ret)
		goto fail;
	if (rsp.result != SD_RES_SUCCESS) {
		dog_err("Failed to get node list: %s", sd_strerror((int)rsp.result));
		goto fail;
	}
	*nr = rsp.data_length / sizeof(struct sd_node);

	/* dog only takes the epoch from this one; the status is not an error */
	dog_init_req(&req, SD_OP_STAT_CLUSTER);
	req.data_length = sizeof(log);
	req.cluster.nodes_nr = 0;
	ret = dog_exec(&req, NULL, &log, sizeof(log), &rsp);
	if (ret)
		goto fail;
	*epoch = rsp.epoch;
	*nodes = buf;
	return DOG_EXIT_SUCCESS;
fail:
	free(buf);
	return DOG_EXIT_SYSFAIL;
}

int dog_cluster_info(struct sd_cluster_info **out)
{
	struct sd_cluster_info *ci;
	struct sd_req req;
	struct sd_rsp rsp;

	*out = NULL;
	ci = calloc(1, sizeof(*ci));
	if (!ci) {
		dog_err("Out of memory");
		return DOG_EXIT_SYSFAIL;
	}
	dog_init_req(&req, SD_OP_CLUSTER_INFO);
	req.data_length = sizeof(*ci);
	if (dog_exec(&req, NULL, ci, sizeof(*ci), &rsp)) {
		free(ci);
		return DOG_EXIT_SYSFAIL;
	}
	/* an unformatted cluster answers with an error or an empty record */
	if (rsp.result != SD_RES_SUCCESS || !ci->ctime) {
		free(ci);
		return DOG_EXIT_SUCCESS;
	}
	ci->default_store[sizeof(ci->default_store) - 1] = '\0';
	*out = ci;
	return DOG_EXIT_SUCCESS;
}

int dog_errno_to_exit(int err)
{
	switch (err) {
	case 0: return DOG_EXIT_SUCCESS;
	case -ENODEV:
	case -EAGAIN:
	case -ENOTCONN:
	case -ETIMEDOUT:
	case -ECANCELED:
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -EHOSTUNREACH:
	case -EPIPE: return DOG_EXIT_SYSFAIL;
	default:
		/* a sheep result (no vdi, no space...): 1, as dog_res_to_exit */
		return DOG_EXIT_FAILURE;
	}
}
