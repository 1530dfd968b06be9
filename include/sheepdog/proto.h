/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sheepdog wire protocol: the one codec shared by sheep, dog, libsheepdog and
 * bs_sheepdog.  Every layout here is fixed by the protocol (see
 * docs/ and the protocol fact sheet); the _Static_asserts at the end pin each
 * size and offset so a change that breaks the wire cannot compile.
 *
 * Byte order: the protocol sends integers in host order and every deployed
 * peer is little-endian, so the wire is little-endian.  These structures are
 * used in place on the wire; the build refuses big-endian hosts rather than
 * silently speaking a different protocol.  sd_le16/32/64 document the
 * conversions at the points where code reads raw buffers.
 */
#ifndef SHEEPDOG_PROTO_H
#define SHEEPDOG_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the sheepdog wire format is little-endian; big-endian hosts are not supported"
#endif

static inline uint16_t sd_le16(uint16_t v)
{
	return v;
}
static inline uint32_t sd_le32(uint32_t v)
{
	return v;
}
static inline uint64_t sd_le64(uint64_t v)
{
	return v;
}

/* ---- protocol versions (section 1.6) ---- */
#define SD_PROTO_VER	   0x02 /* client ops, opcode < 0x80 */
#define SD_SHEEP_PROTO_VER 0x0a /* admin ops, opcode >= 0x80 */
#define SD_LISTEN_PORT	   7000

/* ---- opcodes (section 6.1) ---- */
enum sd_opcode {
	SD_OP_CREATE_AND_WRITE_OBJ = 0x01,
	SD_OP_READ_OBJ = 0x02,
	SD_OP_WRITE_OBJ = 0x03,
	SD_OP_REMOVE_OBJ = 0x04,
	SD_OP_DISCARD_OBJ = 0x05,

	SD_OP_NEW_VDI = 0x11,
	SD_OP_LOCK_VDI = 0x12,
	SD_OP_RELEASE_VDI = 0x13,
	SD_OP_GET_VDI_INFO = 0x14,
	SD_OP_READ_VDIS = 0x15,
	SD_OP_FLUSH_VDI = 0x16,
	SD_OP_DEL_VDI = 0x17,
	SD_OP_GET_CLUSTER_DEFAULT = 0x18,

	/* internal protocol, proto_ver must be SD_SHEEP_PROTO_VER */
	SD_OP_GET_NODE_LIST = 0x82,
	SD_OP_MAKE_FS = 0x84,
	SD_OP_SHUTDOWN = 0x85,
	SD_OP_STAT_SHEEP = 0x86,
	SD_OP_STAT_CLUSTER = 0x87,
	SD_OP_GET_VDI_ATTR = 0x89,
	SD_OP_GET_STORE_LIST = 0x90,
	SD_OP_FLUSH_DEL_CACHE = 0x98,
	SD_OP_KILL_NODE = 0x9A,
	SD_OP_GET_VDI_COPIES = 0xAB,
	SD_OP_DELETE_CACHE = 0xB0,
	SD_OP_GET_HASH = 0xB4,
	SD_OP_STAT = 0xB8,
	SD_OP_EXIST = 0xBD,
	SD_OP_CLUSTER_INFO = 0xBE,
	SD_OP_READ_DEL_VDIS = 0xC9,

	/*
	 * Extensions of this tree's sheep.  Never send one to a sheep that
	 * has not acknowledged the disguised HELLO below: upstream 1.0.1's
	 * sheep indexes its op table with the opcode unchecked and crashes
	 * (SIGSEGV) on 0xF0 and 0xF1.  libsheepdog sends them only after the
	 * ack (sdl_engine.ext).
	 *
	 * SD_OP_EXT_CMP_WRITE_OBJ: compare-and-write one data object range,
	 * atomically against every other write, create, discard and
	 * compare-and-write of that object from any connection.  Request:
	 * obj.oid (the data object of the working vdi), obj.offset, WRITE
	 * flag, data_length = 2 * len, payload = len compare bytes then len
	 * write bytes, len <= SD_EXT_CMP_WRITE_MAX and inside the object.
	 * The sheep resolves holes and copy-on-write itself from the inode
	 * index: a hole compares as zeros, an entry of another vdi compares
	 * against that vdi's object; on equality it creates the object (a
	 * copy of the parent's) and records it in the index.  Reply SUCCESS
	 * (written), SD_RES_EXT_MISCOMPARE with rsp.obj.offset = offset of
	 * the first differing byte from the start of the compare bytes
	 * (nothing written), READONLY (a snapshot's object) or an error.
	 * data_length 0 is a probe: SUCCESS, nothing touched.
	 */
	/*
	 * SD_OP_EXT_HELLO: obj.oid is the client identity of this connection
	 * (shared-lock participants are keyed by it).  The reply's
	 * hello.flags has SD_EXT_HELLO_NEW when the sheep had no other
	 * connection of that client: it may have restarted or forgotten the
	 * client (detached too long), so the client must re-join (RELEASE +
	 * LOCK_VDI SHARED, then the refresh read) every vdi it shares before
	 * trusting its cached index again.
	 */
	SD_OP_EXT_HELLO = 0xF0,		/* client identity of this connection (obj.oid) */
	SD_OP_EXT_CMP_WRITE_OBJ = 0xF1, /* compare-and-write one object range */
};

/*
 * The client id travels in a request every sheep knows, so that asking is
 * safe against upstream: GET_CLUSTER_DEFAULT with obj.cow_oid =
 * SD_EXT_HELLO_MAGIC and obj.oid = the client id is, to our sheep, the
 * same as SD_OP_EXT_HELLO, and its reply carries rsp.obj.offset =
 * SD_EXT_HELLO_ACK ("this sheep knows the extensions").  Upstream answers
 * the plain GET_CLUSTER_DEFAULT with that field 0.
 */
#define SD_EXT_HELLO_MAGIC UINT64_C(0x4f4c4c4548545854) /* "TXTHELLO" */
#define SD_EXT_HELLO_ACK   UINT64_C(0x4b43414f4c4c4548) /* "HELLOACK" */

/* rsp.hello.flags of SD_OP_EXT_HELLO */
#define SD_EXT_HELLO_NEW 0x1u

/* Largest compare (and write) half of SD_OP_EXT_CMP_WRITE_OBJ. */
#define SD_EXT_CMP_WRITE_MAX (UINT32_C(1) << 20)

/* ---- request flags (section 1.7) ---- */
#define SD_FLAG_CMD_WRITE     0x0001
#define SD_FLAG_CMD_COW	      0x0002
#define SD_FLAG_CMD_CACHE     0x0004
#define SD_FLAG_CMD_DIRECT    0x0008
#define SD_FLAG_CMD_PIGGYBACK 0x0010
#define SD_FLAG_CMD_TGT	      0x0020
#define SD_FLAG_CMD_FWD	      0x0040
#define SD_FLAG_CMD_RECOVERY  0x0080
#define SD_FLAG_CMD_WILDCARD  0x0100
#define SD_FLAG_CMD_CREAT     0x0100
#define SD_FLAG_CMD_EXCL      0x0200
#define SD_FLAG_CMD_DEL	      0x0400

/* ---- result codes (section 2) ---- */
enum sd_result {
	SD_RES_SUCCESS = 0x00,
	SD_RES_UNKNOWN = 0x01,
	SD_RES_NO_OBJ = 0x02,
	SD_RES_EIO = 0x03,
	SD_RES_VDI_EXIST = 0x04,
	SD_RES_INVALID_PARMS = 0x05,
	SD_RES_SYSTEM_ERROR = 0x06,
	SD_RES_VDI_LOCKED = 0x07,
	SD_RES_NO_VDI = 0x08,
	SD_RES_NO_BASE_VDI = 0x09,
	SD_RES_VDI_READ = 0x0A,
	SD_RES_VDI_WRITE = 0x0B,
	SD_RES_BASE_VDI_READ = 0x0C,
	SD_RES_BASE_VDI_WRITE = 0x0D,
	SD_RES_NO_TAG = 0x0E,
	SD_RES_STARTUP = 0x0F,
	SD_RES_VDI_NOT_LOCKED = 0x10,
	SD_RES_SHUTDOWN = 0x11,
	SD_RES_NO_MEM = 0x12,
	SD_RES_FULL_VDI = 0x13,
	SD_RES_VER_MISMATCH = 0x14,
	SD_RES_NO_SPACE = 0x15,
	SD_RES_WAIT_FOR_FORMAT = 0x16,
	SD_RES_WAIT_FOR_JOIN = 0x17,
	SD_RES_JOIN_FAILED = 0x18,
	SD_RES_HALT = 0x19,
	SD_RES_READONLY = 0x1A,
	SD_RES_INODE_INVALIDATED = 0x1D,
	SD_RES_EXT_MISCOMPARE = 0xF0, /* CMP_WRITE: data differed (extension) */

	/* internal codes that can reach clients */
	SD_RES_OLD_NODE_VER = 0x81,
	SD_RES_NEW_NODE_VER = 0x82,
	SD_RES_NOT_FORMATTED = 0x83,
	SD_RES_INVALID_CTIME = 0x84,
	SD_RES_INVALID_EPOCH = 0x85,
	SD_RES_NETWORK_ERROR = 0x86,
	SD_RES_NO_CACHE = 0x87,
	SD_RES_BUFFER_SMALL = 0x88,
	SD_RES_FORCE_RECOVER = 0x89,
	SD_RES_NO_STORE = 0x8A,
	SD_RES_NO_SUPPORT = 0x8B,
	SD_RES_NODE_IN_RECOVERY = 0x8C,
	SD_RES_KILLED = 0x8D,
	SD_RES_OID_EXIST = 0x8E,
	SD_RES_AGAIN = 0x8F,
	SD_RES_STALE_OBJ = 0x90,
	SD_RES_CLUSTER_ERROR = 0x91,
	SD_RES_VDI_NOT_EMPTY = 0x92,
	SD_RES_NOT_FOUND = 0x93,
	SD_RES_INCOMPLETE = 0x94,
	SD_RES_COLLECTING_CINFO = 0x95,
	SD_RES_GATEWAY_MODE = 0x97,
	SD_RES_INVALID_VNODES_STRATEGY = 0x98,
	SD_RES_NO_CHECKPOINT_ENTRY = 0x99,

};

/* Human-readable text for a result code; never NULL (lib/proto.c). */
const char *sd_strerror(int result);
/* Opcode name such as "READ_OBJ", or NULL for an unknown opcode. */
const char *sd_opcode_name(int opcode);

/* ---- constants (section 3.3) ---- */
#define SD_NR_VDIS		    (1U << 24)
#define SD_MAX_VDI_LEN		    256
#define SD_MAX_VDI_TAG_LEN	    256
#define SD_MAX_SNAPSHOT_TAG_LEN	    256
#define SD_DEFAULT_BLOCK_SIZE_SHIFT 22
#define SD_MIN_BLOCK_SIZE_SHIFT	    20
#define SD_MAX_BLOCK_SIZE_SHIFT	    31
#define SD_DATA_OBJ_SIZE	    (UINT64_C(1) << SD_DEFAULT_BLOCK_SIZE_SHIFT)
#define SD_INODE_DATA_INDEX	    (1U << 20) /* flat data_vdi_id slots */
#define SD_OLD_MAX_DATA_OBJS	    (1U << 20)
#define SD_INODE_HEADER_SIZE	    4664u
#define SD_INODE_INDEX_END	    (SD_INODE_HEADER_SIZE + 4u * SD_INODE_DATA_INDEX) /* 4198968 */
#define SD_INODE_SIZE		    12587576u
#define SD_ATTR_OBJ_SIZE	    66320u
#define SD_MAX_VDI_ATTR_KEY_LEN	    256
#define SD_MAX_VDI_ATTR_VALUE_LEN   65536u
#define SD_SHA1_DIGEST_SIZE	    20
#define SD_LEDGER_OBJ_SIZE	    (UINT32_C(1) << 22)
#define SD_INODE_DATA_INDEX_SIZE    (UINT32_C(1) << 22)
#define SD_VDI_BITMAP_SIZE	    (SD_NR_VDIS / 8) /* 2097152 bytes */
#define SD_DEFAULT_COPIES	    3
#define SD_MAX_COPIES		    31
#define SD_MAX_NODES		    6144
#define SD_DEFAULT_VNODES	    128
#define SD_CURRENT_VDI_ID	    0
/* Largest object payload anyone may legally send: a 2 GiB object. */
#define SD_MAX_OBJ_SIZE		    (UINT32_C(1) << SD_MAX_BLOCK_SIZE_SHIFT)

/* lock types for LOCK_VDI / RELEASE_VDI */
#define SD_LOCK_TYPE_NORMAL	   0
#define SD_LOCK_TYPE_SHARED	   1
/*
 * Extension of this tree's sheep (send only after the HELLO ack): the
 * client (the HELLO's id, never the anonymous one) becomes the only
 * gateway of the vid.  Granted when no other client holds it and no other
 * client is an attached shared participant, else VDI_LOCKED; repeated by
 * the holder, granted again (not counted).  While held, LOCK_VDI SHARED or
 * EXCLUSIVE and TGT-flagged object I/O on the vid from any other client
 * get VDI_LOCKED.  A snapshot moves it to the new working vid.  Released
 * by RELEASE_VDI of this type from the holder (of the vid it locked or one
 * a snapshot moved it to), or when the holder's last connection closes.  Upstream without `-l` answers SUCCESS and enforces
 * nothing; with it, VDI_LOCKED (unknown type): never send it there.
 */
#define SD_LOCK_TYPE_EXT_EXCLUSIVE 2

/* store policies */
#define SD_STORE_POLICY_FLAT  0
#define SD_STORE_POLICY_BTREE 1

/* cluster flags (section 6.6) */
#define SD_CLUSTER_FLAG_STRICT	       0x0001
#define SD_CLUSTER_FLAG_DISKMODE       0x0002
#define SD_CLUSTER_FLAG_AUTO_VNODES    0x0004
#define SD_CLUSTER_FLAG_USE_LOCK       0x0008
#define SD_CLUSTER_FLAG_RECYCLE_VID    0x0010
#define SD_CLUSTER_FLAG_AVOID_DISKFULL 0x0020

/* cluster status in cluster_info */
#define SD_STATUS_OK	   1
#define SD_STATUS_WAIT	   2
#define SD_STATUS_SHUTDOWN 3
#define SD_STATUS_KILLED   4

/* ---- request header (sections 1.3, 1.4) ---- */
struct sd_req {
	uint8_t proto_ver;
	uint8_t opcode;
	uint16_t flags;
	uint32_t epoch;
	uint32_t id;
	uint32_t data_length;
	union {
		struct {
			uint64_t oid;
			uint64_t cow_oid;
			uint8_t copies;
			uint8_t copy_policy;
			uint8_t ec_index;
			uint8_t reserved;
			uint32_t tgt_epoch;
			uint32_t offset;
			uint32_t __pad;
		} obj;
		struct {
			uint64_t vdi_size;
			uint32_t base_vdi_id;
			uint8_t copies;
			uint8_t copy_policy;
			uint8_t store_policy;
			uint8_t block_size_shift;
			uint32_t snapid;
			uint32_t type;
			uint32_t __pad[2];
		} vdi;
		struct {
			uint64_t oid;
			uint64_t ctime;
			uint8_t copies;
			uint8_t copy_policy;
			uint16_t flags;
			uint32_t tag;
			uint32_t nodes_nr;
			uint8_t block_size_shift;
			uint8_t __reserved[3];
		} cluster;
		uint32_t __pad[8];
	};
};

/* ---- response header (section 1.5); `result` overlays the union start ---- */
struct sd_rsp {
	uint8_t proto_ver;
	uint8_t opcode;
	uint16_t flags;
	uint32_t epoch;
	uint32_t id;
	uint32_t data_length;
	union {
		uint32_t result;
		struct {
			uint32_t __pad;
			uint8_t copies;
			uint8_t reserved[3];
			uint64_t offset;
		} obj;
		struct {
			uint32_t __pad;
			uint32_t rsvd;
			uint32_t vdi_id;
			uint32_t attr_id;
			uint8_t copies;
			uint8_t block_size_shift;
			uint8_t reserved[2];
		} vdi;
		struct {
			uint32_t __pad;
			uint32_t flags; /* SD_EXT_HELLO_* */
		} hello;
		struct {
			uint32_t __pad;
			uint32_t nr_nodes;
			uint32_t __reserved[2];
			uint64_t store_size;
			uint64_t store_free;
		} node;
		struct {
			uint32_t __pad;
			uint8_t nr_copies;
			uint8_t copy_policy;
			uint8_t block_size_shift;
			uint8_t __reserved;
		} cluster_default;
		struct {
			uint32_t __pad;
			uint32_t __reserved;
			uint8_t digest[20];
		} hash;
		uint32_t __pad[8];
	};
};

#define SD_REQ_SIZE 48
#define SD_RSP_SIZE 48

/* ---- object ids (section 3.1) ---- */
#define SD_VDI_BIT	   (UINT64_C(1) << 63)
#define SD_VMSTATE_BIT	   (UINT64_C(1) << 62)
#define SD_VDI_ATTR_BIT	   (UINT64_C(1) << 61)
#define SD_VDI_BTREE_BIT   (UINT64_C(1) << 60)
#define SD_LEDGER_BIT	   (UINT64_C(1) << 59)
#define SD_OID_KIND_MASK   (UINT64_C(0x1f) << 59)
#define SD_VDI_SPACE_SHIFT 32
#define SD_VDI_MASK	   UINT64_C(0x00FFFFFF00000000)
#define SD_IDX_MASK	   UINT64_C(0x00000000FFFFFFFF)

static inline uint64_t sd_vid_to_vdi_oid(uint32_t vid)
{
	return SD_VDI_BIT | ((uint64_t)vid << SD_VDI_SPACE_SHIFT);
}

static inline uint64_t sd_vid_to_data_oid(uint32_t vid, uint32_t idx)
{
	return ((uint64_t)vid << SD_VDI_SPACE_SHIFT) | idx;
}

static inline uint64_t sd_vid_to_attr_oid(uint32_t vid, uint32_t attr)
{
	return SD_VDI_ATTR_BIT | ((uint64_t)vid << SD_VDI_SPACE_SHIFT) | attr;
}

static inline uint32_t sd_oid_to_vid(uint64_t oid)
{
	return (uint32_t)((oid & SD_VDI_MASK) >> SD_VDI_SPACE_SHIFT);
}

static inline uint32_t sd_oid_to_idx(uint64_t oid)
{
	return (uint32_t)(oid & SD_IDX_MASK);
}

static inline int sd_is_vdi_obj(uint64_t oid)
{
	return !!(oid & SD_VDI_BIT);
}

/* A data object has none of bits 59-63 set; only those can be READONLY. */
static inline int sd_is_data_obj(uint64_t oid)
{
	return !(oid & SD_OID_KIND_MASK);
}

/* ---- the inode (section 4.1) ---- */
struct sd_inode_header {
	char name[SD_MAX_VDI_LEN];
	char tag[SD_MAX_VDI_TAG_LEN];
	uint64_t create_time;
	uint64_t snap_ctime;
	uint64_t vm_clock_nsec;
	uint64_t vdi_size;
	uint64_t vm_state_size;
	uint8_t copy_policy;
	uint8_t store_policy;
	uint8_t nr_copies;
	uint8_t block_size_shift;
	uint32_t snap_id;
	uint32_t vdi_id;
	uint32_t parent_vdi_id;
	uint32_t btree_counter;
	uint32_t __unused[1023];
};

struct sd_gref {
	int32_t generation;
	int32_t count;
};

/* Byte offset in the inode object of data_vdi_id[idx]. */
static inline uint32_t sd_inode_index_offset(uint32_t idx)
{
	return SD_INODE_HEADER_SIZE + 4u * idx;
}

#define SD_INODE_GREF_OFFSET SD_INODE_INDEX_END

static inline int sd_inode_is_snapshot(const struct sd_inode_header *h)
{
	return h->snap_ctime != 0;
}

static inline uint64_t sd_inode_object_size(const struct sd_inode_header *h)
{
	return UINT64_C(1) << (h->block_size_shift ? h->block_size_shift
						   : SD_DEFAULT_BLOCK_SIZE_SHIFT);
}

/* Number of data objects a vdi of `size` bytes spans (ceil). */
static inline uint64_t sd_count_data_objs(uint64_t size, unsigned shift)
{
	return (size + (UINT64_C(1) << shift) - 1) >> shift;
}

/* Largest flat-index vdi for a given object-size shift: 2^20 objects. */
static inline uint64_t sd_max_flat_vdi_size(unsigned shift)
{
	return (uint64_t)SD_INODE_DATA_INDEX << shift;
}

/* ---- vdi name hash (section 5.1): FNV-1a 64, low 24 bits, 0 -> 1 ---- */
#define SD_FNV1A_64_INIT UINT64_C(0xcbf29ce484222325)
#define SD_FNV_64_PRIME	 UINT64_C(0x100000001b3)

static inline uint64_t sd_fnv1a_64(const void *buf, size_t len, uint64_t hval)
{
	const unsigned char *p = (const unsigned char *)buf;

	while (len--) {
		hval ^= (uint64_t)*p++;
		hval *= SD_FNV_64_PRIME;
	}
	return hval;
}

/* Name is NUL-terminated; the NUL is not hashed. */
static inline uint32_t sd_hash_vdi(const char *name)
{
	uint32_t vid =
		(uint32_t)(sd_fnv1a_64(name, strlen(name), SD_FNV1A_64_INIT) & (SD_NR_VDIS - 1));

	return vid ? vid : 1;
}

/* ---- admin structures (section 6.6) ---- */
struct sd_node_id {
	uint8_t addr[16];
	uint16_t port;
	uint8_t io_addr[16];
	uint16_t io_port;
	uint8_t __pad[4];
};

struct sd_node {
	uint8_t __links[24]; /* server-side tree links: send zeros, ignore */
	struct sd_node_id nid;
	uint16_t nr_vnodes;
	uint16_t __align;
	uint32_t zone;
	uint64_t space;
};

struct sd_epoch_log {
	uint64_t ctime;
	uint64_t time;
	uint32_t epoch;
	uint32_t nr_nodes;
	uint8_t disable_recovery;
	uint8_t nr_copies;
	uint8_t copy_policy;
	uint8_t __pad[3];
	uint16_t flags;
	char drv_name[16];
	/* followed by nodes_nr struct sd_node */
};

struct sd_cluster_info {
	uint8_t proto_ver;
	uint8_t disable_recovery;
	int16_t nr_nodes;
	uint32_t epoch;
	uint64_t ctime;
	uint16_t flags;
	uint8_t nr_copies;
	uint8_t copy_policy;
	uint8_t status;
	uint8_t block_size_shift;
	uint8_t __pad[3];
	char default_store[16];
	uint8_t __align[7];
	struct sd_node nodes[SD_MAX_NODES];
};

/*
 * A vdi attribute record (GET_VDI_ATTR payload and the content of an
 * attribute object, section 6.6): keyed by name, tag, snap_id and key, all
 * NUL-terminated and zero-padded.  value holds value_len bytes.
 */
struct sd_vdi_attr {
	char name[SD_MAX_VDI_LEN];
	char tag[SD_MAX_VDI_TAG_LEN];
	uint64_t ctime;
	uint32_t snap_id;
	uint32_t value_len;
	char key[SD_MAX_VDI_ATTR_KEY_LEN];
	char value[SD_MAX_VDI_ATTR_VALUE_LEN];
};
/* The record without its value: the shortest legal GET_VDI_ATTR payload. */
#define SD_VDI_ATTR_HEADER_SIZE 784u

/* ---- layout checks: every size and offset the protocol fixes ---- */
#ifndef __cplusplus /* _Static_assert is C11; C++ has static_assert */
#define SD_ASSERT_OFF(type, field, off) \
	_Static_assert(offsetof(type, field) == (off), #type "." #field " offset")

_Static_assert(sizeof(struct sd_req) == SD_REQ_SIZE, "sd_req size");
_Static_assert(sizeof(struct sd_rsp) == SD_RSP_SIZE, "sd_rsp size");
SD_ASSERT_OFF(struct sd_req, proto_ver, 0);
SD_ASSERT_OFF(struct sd_req, opcode, 1);
SD_ASSERT_OFF(struct sd_req, flags, 2);
SD_ASSERT_OFF(struct sd_req, epoch, 4);
SD_ASSERT_OFF(struct sd_req, id, 8);
SD_ASSERT_OFF(struct sd_req, data_length, 12);
SD_ASSERT_OFF(struct sd_req, obj.oid, 16);
SD_ASSERT_OFF(struct sd_req, obj.cow_oid, 24);
SD_ASSERT_OFF(struct sd_req, obj.copies, 32);
SD_ASSERT_OFF(struct sd_req, obj.copy_policy, 33);
SD_ASSERT_OFF(struct sd_req, obj.ec_index, 34);
SD_ASSERT_OFF(struct sd_req, obj.tgt_epoch, 36);
SD_ASSERT_OFF(struct sd_req, obj.offset, 40);
SD_ASSERT_OFF(struct sd_req, vdi.vdi_size, 16);
SD_ASSERT_OFF(struct sd_req, vdi.base_vdi_id, 24);
SD_ASSERT_OFF(struct sd_req, vdi.copies, 28);
SD_ASSERT_OFF(struct sd_req, vdi.copy_policy, 29);
SD_ASSERT_OFF(struct sd_req, vdi.store_policy, 30);
SD_ASSERT_OFF(struct sd_req, vdi.block_size_shift, 31);
SD_ASSERT_OFF(struct sd_req, vdi.snapid, 32);
SD_ASSERT_OFF(struct sd_req, vdi.type, 36);
SD_ASSERT_OFF(struct sd_req, cluster.oid, 16);
SD_ASSERT_OFF(struct sd_req, cluster.ctime, 24);
SD_ASSERT_OFF(struct sd_req, cluster.copies, 32);
SD_ASSERT_OFF(struct sd_req, cluster.copy_policy, 33);
SD_ASSERT_OFF(struct sd_req, cluster.flags, 34);
SD_ASSERT_OFF(struct sd_req, cluster.tag, 36);
SD_ASSERT_OFF(struct sd_req, cluster.nodes_nr, 40);
SD_ASSERT_OFF(struct sd_req, cluster.block_size_shift, 44);
SD_ASSERT_OFF(struct sd_rsp, epoch, 4);
SD_ASSERT_OFF(struct sd_rsp, id, 8);
SD_ASSERT_OFF(struct sd_rsp, data_length, 12);
SD_ASSERT_OFF(struct sd_rsp, result, 16);
SD_ASSERT_OFF(struct sd_rsp, obj.copies, 20);
SD_ASSERT_OFF(struct sd_rsp, obj.offset, 24);
SD_ASSERT_OFF(struct sd_rsp, hello.flags, 20);
SD_ASSERT_OFF(struct sd_rsp, vdi.rsvd, 20);
SD_ASSERT_OFF(struct sd_rsp, vdi.vdi_id, 24);
SD_ASSERT_OFF(struct sd_rsp, vdi.attr_id, 28);
SD_ASSERT_OFF(struct sd_rsp, vdi.copies, 32);
SD_ASSERT_OFF(struct sd_rsp, vdi.block_size_shift, 33);
SD_ASSERT_OFF(struct sd_rsp, node.nr_nodes, 20);
SD_ASSERT_OFF(struct sd_rsp, node.store_size, 32);
SD_ASSERT_OFF(struct sd_rsp, node.store_free, 40);
SD_ASSERT_OFF(struct sd_rsp, cluster_default.nr_copies, 20);
SD_ASSERT_OFF(struct sd_rsp, cluster_default.copy_policy, 21);
SD_ASSERT_OFF(struct sd_rsp, cluster_default.block_size_shift, 22);
SD_ASSERT_OFF(struct sd_rsp, hash.digest, 24);

_Static_assert(sizeof(struct sd_inode_header) == SD_INODE_HEADER_SIZE, "inode header size");
SD_ASSERT_OFF(struct sd_inode_header, tag, 256);
SD_ASSERT_OFF(struct sd_inode_header, create_time, 512);
SD_ASSERT_OFF(struct sd_inode_header, snap_ctime, 520);
SD_ASSERT_OFF(struct sd_inode_header, vm_clock_nsec, 528);
SD_ASSERT_OFF(struct sd_inode_header, vdi_size, 536);
SD_ASSERT_OFF(struct sd_inode_header, vm_state_size, 544);
SD_ASSERT_OFF(struct sd_inode_header, copy_policy, 552);
SD_ASSERT_OFF(struct sd_inode_header, store_policy, 553);
SD_ASSERT_OFF(struct sd_inode_header, nr_copies, 554);
SD_ASSERT_OFF(struct sd_inode_header, block_size_shift, 555);
SD_ASSERT_OFF(struct sd_inode_header, snap_id, 556);
SD_ASSERT_OFF(struct sd_inode_header, vdi_id, 560);
SD_ASSERT_OFF(struct sd_inode_header, parent_vdi_id, 564);
SD_ASSERT_OFF(struct sd_inode_header, btree_counter, 568);
_Static_assert(SD_INODE_INDEX_END == 4198968u, "flat index end");
_Static_assert(SD_INODE_INDEX_END + 8u * SD_INODE_DATA_INDEX == SD_INODE_SIZE, "inode size");
_Static_assert(sizeof(struct sd_gref) == 8, "gref size");
_Static_assert(SD_VDI_BITMAP_SIZE == 2097152u, "vdi bitmap size");
_Static_assert(sizeof(struct sd_vdi_attr) == SD_ATTR_OBJ_SIZE, "vdi attr size");
SD_ASSERT_OFF(struct sd_vdi_attr, tag, 256);
SD_ASSERT_OFF(struct sd_vdi_attr, ctime, 512);
SD_ASSERT_OFF(struct sd_vdi_attr, snap_id, 520);
SD_ASSERT_OFF(struct sd_vdi_attr, value_len, 524);
SD_ASSERT_OFF(struct sd_vdi_attr, key, 528);
SD_ASSERT_OFF(struct sd_vdi_attr, value, SD_VDI_ATTR_HEADER_SIZE);

_Static_assert(sizeof(struct sd_node_id) == 40, "node id size");
_Static_assert(sizeof(struct sd_node) == 80, "sd_node size");
SD_ASSERT_OFF(struct sd_node, nid.addr, 24);
SD_ASSERT_OFF(struct sd_node, nid.port, 40);
SD_ASSERT_OFF(struct sd_node, nid.io_addr, 42);
SD_ASSERT_OFF(struct sd_node, nid.io_port, 58);
SD_ASSERT_OFF(struct sd_node, nr_vnodes, 64);
SD_ASSERT_OFF(struct sd_node, zone, 68);
SD_ASSERT_OFF(struct sd_node, space, 72);
_Static_assert(sizeof(struct sd_epoch_log) == 48, "epoch_log size");
SD_ASSERT_OFF(struct sd_epoch_log, time, 8);
SD_ASSERT_OFF(struct sd_epoch_log, epoch, 16);
SD_ASSERT_OFF(struct sd_epoch_log, nr_nodes, 20);
SD_ASSERT_OFF(struct sd_epoch_log, disable_recovery, 24);
SD_ASSERT_OFF(struct sd_epoch_log, nr_copies, 25);
SD_ASSERT_OFF(struct sd_epoch_log, copy_policy, 26);
SD_ASSERT_OFF(struct sd_epoch_log, flags, 30);
SD_ASSERT_OFF(struct sd_epoch_log, drv_name, 32);
_Static_assert(sizeof(struct sd_cluster_info) == 491568, "cluster_info size");
SD_ASSERT_OFF(struct sd_cluster_info, nr_nodes, 2);
SD_ASSERT_OFF(struct sd_cluster_info, epoch, 4);
SD_ASSERT_OFF(struct sd_cluster_info, ctime, 8);
SD_ASSERT_OFF(struct sd_cluster_info, flags, 16);
SD_ASSERT_OFF(struct sd_cluster_info, nr_copies, 18);
SD_ASSERT_OFF(struct sd_cluster_info, copy_policy, 19);
SD_ASSERT_OFF(struct sd_cluster_info, status, 20);
SD_ASSERT_OFF(struct sd_cluster_info, block_size_shift, 21);
SD_ASSERT_OFF(struct sd_cluster_info, default_store, 25);
SD_ASSERT_OFF(struct sd_cluster_info, nodes, 48);

#undef SD_ASSERT_OFF
#endif /* !__cplusplus */

#ifdef __cplusplus
}
#endif
#endif /* SHEEPDOG_PROTO_H */
