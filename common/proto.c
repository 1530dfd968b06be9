// SPDX-License-Identifier: GPL-2.0-or-later
/* Codec helpers that are not inline: result and opcode names, errno map. */
#include <errno.h>
#include <string.h>
#include <sheepdog/sheepdog.h>
#include "codec.h"

const char *sd_strerror(int result)
{
	switch (result) {
	case SD_RES_SUCCESS: return "Success";
	case SD_RES_UNKNOWN: return "Unknown error";
	case SD_RES_NO_OBJ: return "No object found";
	case SD_RES_EIO: return "I/O error";
	case SD_RES_VDI_EXIST: return "VDI exists already";
	case SD_RES_INVALID_PARMS: return "Invalid parameters";
	case SD_RES_SYSTEM_ERROR: return "System error";
	case SD_RES_VDI_LOCKED: return "VDI is already locked";
	case SD_RES_NO_VDI: return "No VDI found";
	case SD_RES_NO_BASE_VDI: return "No base VDI found";
	case SD_RES_VDI_READ: return "Failed to read from requested VDI";
	case SD_RES_VDI_WRITE: return "Failed to write to requested VDI";
	case SD_RES_BASE_VDI_READ: return "Failed to read from base VDI";
	case SD_RES_BASE_VDI_WRITE: return "Failed to write to base VDI";
	case SD_RES_NO_TAG: return "Failed to find requested tag";
	case SD_RES_STARTUP: return "System is still booting";
	case SD_RES_VDI_NOT_LOCKED: return "VDI is not locked";
	case SD_RES_SHUTDOWN: return "System is shutting down";
	case SD_RES_NO_MEM: return "Out of memory on server";
	case SD_RES_FULL_VDI: return "Maximum number of VDIs reached";
	case SD_RES_VER_MISMATCH: return "Protocol version mismatch";
	case SD_RES_NO_SPACE: return "Server has no space for new objects";
	case SD_RES_WAIT_FOR_FORMAT: return "Waiting for cluster to be formatted";
	case SD_RES_WAIT_FOR_JOIN: return "Waiting for other nodes to join cluster";
	case SD_RES_JOIN_FAILED: return "Node has failed to join cluster";
	case SD_RES_HALT: return "IO has halted as there are not enough living nodes";
	case SD_RES_READONLY: return "Object is read-only";
	case SD_RES_INODE_INVALIDATED: return "Inode object is invalidated";
	case SD_RES_OLD_NODE_VER: return "Request has an old epoch";
	case SD_RES_NEW_NODE_VER: return "Request has a new epoch";
	case SD_RES_NOT_FORMATTED: return "Cluster has not been formatted";
	case SD_RES_INVALID_CTIME: return "Creation times differ";
	case SD_RES_INVALID_EPOCH: return "Invalid epoch";
	case SD_RES_NETWORK_ERROR: return "Network error between sheep";
	case SD_RES_NO_CACHE: return "No object cache";
	case SD_RES_BUFFER_SMALL: return "The buffer is too small";
	case SD_RES_FORCE_RECOVER: return "Cluster is running/halted and cannot be force recovered";
	case SD_RES_NO_STORE: return "Targeted backend store is not found";
	case SD_RES_NO_SUPPORT: return "Operation is not supported";
	case SD_RES_NODE_IN_RECOVERY: return "Targeted node is in recovery";
	case SD_RES_KILLED: return "Node is killed";
	case SD_RES_OID_EXIST: return "Object ID exists already";
	case SD_RES_AGAIN: return "Ask to try again";
	case SD_RES_STALE_OBJ: return "Object may be stale";
	case SD_RES_CLUSTER_ERROR: return "Cluster driver error";
	case SD_RES_VDI_NOT_EMPTY: return "VDI is not empty";
	case SD_RES_NOT_FOUND: return "Cannot find requested object";
	case SD_RES_INCOMPLETE: return "Object is incomplete";
	case SD_RES_COLLECTING_CINFO: return "Sheep is collecting cluster information";
	case SD_RES_GATEWAY_MODE: return "Targeted node is gateway mode";
	case SD_RES_INVALID_VNODES_STRATEGY: return "Invalid vnodes strategy";
	case SD_RES_NO_CHECKPOINT_ENTRY: return "No checkpoint entry";
	default: return "Invalid error code";
	}
}

const char *sd_opcode_name(int opcode)
{
	switch (opcode) {
	case SD_OP_CREATE_AND_WRITE_OBJ: return "CREATE_AND_WRITE_OBJ";
	case SD_OP_READ_OBJ: return "READ_OBJ";
	case SD_OP_WRITE_OBJ: return "WRITE_OBJ";
	case SD_OP_REMOVE_OBJ: return "REMOVE_OBJ";
	case SD_OP_DISCARD_OBJ: return "DISCARD_OBJ";
	case SD_OP_NEW_VDI: return "NEW_VDI";
	case SD_OP_LOCK_VDI: return "LOCK_VDI";
	case SD_OP_RELEASE_VDI: return "RELEASE_VDI";
	case SD_OP_GET_VDI_INFO: return "GET_VDI_INFO";
	case SD_OP_READ_VDIS: return "READ_VDIS";
	case SD_OP_FLUSH_VDI: return "FLUSH_VDI";
	case SD_OP_DEL_VDI: return "DEL_VDI";
	case SD_OP_GET_CLUSTER_DEFAULT: return "GET_CLUSTER_DEFAULT";
	case SD_OP_GET_NODE_LIST: return "GET_NODE_LIST";
	case SD_OP_MAKE_FS: return "MAKE_FS";
	case SD_OP_SHUTDOWN: return "SHUTDOWN";
	case SD_OP_STAT_SHEEP: return "STAT_SHEEP";
	case SD_OP_STAT_CLUSTER: return "STAT_CLUSTER";
	case SD_OP_GET_VDI_ATTR: return "GET_VDI_ATTR";
	case SD_OP_GET_STORE_LIST: return "GET_STORE_LIST";
	case SD_OP_FLUSH_DEL_CACHE: return "FLUSH_DEL_CACHE";
	case SD_OP_KILL_NODE: return "KILL_NODE";
	case SD_OP_GET_VDI_COPIES: return "GET_VDI_COPIES";
	case SD_OP_DELETE_CACHE: return "DELETE_CACHE";
	case SD_OP_STAT: return "STAT";
	case SD_OP_EXIST: return "EXIST";
	case SD_OP_CLUSTER_INFO: return "CLUSTER_INFO";
	case SD_OP_READ_DEL_VDIS: return "READ_DEL_VDIS";
	case SD_OP_EXT_HELLO: return "EXT_HELLO";
	default: return NULL;
	}
}

int sd_result_to_errno(int result)
{
	switch (result) {
	case SD_RES_SUCCESS: return 0;
	case SD_RES_NO_VDI:
	case SD_RES_NO_TAG:
	case SD_RES_NO_OBJ: return -ENOENT;
	case SD_RES_VDI_EXIST: return -EEXIST;
	case SD_RES_READONLY: return -EROFS;
	case SD_RES_NO_SPACE: return -ENOSPC;
	case SD_RES_NO_MEM: return -ENOMEM;
	case SD_RES_INVALID_PARMS: return -EINVAL;
	case SD_RES_VDI_LOCKED: return -EBUSY;
	case SD_RES_FULL_VDI: return -EMFILE;
	case SD_RES_WAIT_FOR_FORMAT: return -ENODEV;
	case SD_RES_SHUTDOWN:
	case SD_RES_HALT:
	case SD_RES_WAIT_FOR_JOIN:
	case SD_RES_KILLED:
	case SD_RES_NETWORK_ERROR: return -EAGAIN;
	default: return -EIO;
	}
}

int sdc_pack_vdi_name(struct sdc_vdi_name *p, const char *name, const char *tag)
{
	size_t nlen = name ? strlen(name) : 0;
	size_t tlen = tag ? strlen(tag) : 0;

	if (!nlen || nlen >= sizeof(p->name) || tlen >= sizeof(p->tag))
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	memcpy(p->name, name, nlen);
	if (tlen)
		memcpy(p->tag, tag, tlen);
	return 0;
}
