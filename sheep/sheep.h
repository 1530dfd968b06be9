/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sheep: private header of the single-node Sheepdog server.
 *
 * Architecture (each file starts with a comment on its job):
 *  - event.c: one epoll loop thread owns every connection and all
 *    connection state; it reads and validates frames and queues requests.
 *  - work.c: a worker pool runs request handlers (which may block on disk);
 *    each request's done step runs back on the loop thread (eventfd wakeup).
 *  - ops.c: the opcode table and the handlers; runs on workers.
 *  - vdi.c: VDI bitmaps, lookup, allocation, NEW/DEL, reference handling.
 *    All VDI metadata is serialised by one mutex (struct sheep_vdi.lock).
 *  - store.c: the object store on disk (atomic create, sync policy).
 *  - coh.c: shared-lock participants per client and their coherence
 *    states (INODE_INVALIDATED for gateways whose index is stale).
 *  - log.c: the log file.
 *
 * Errors: functions return 0 or -errno unless documented to return an
 * SD_RES_* code ("sd result").  Sheep results never travel in errno.
 */
#ifndef SHEEP_SHEEP_H
#define SHEEP_SHEEP_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sheepdog/proto.h>

/* ---------------------------------------------------------------- log.c */
enum sheep_log_level { SHEEP_LOG_ERR, SHEEP_LOG_WARN, SHEEP_LOG_INFO, SHEEP_LOG_DEBUG };

/*
 * Open the log file (append).  path NULL: log to stderr only.  Thread-safe
 * after open: every line is written with one write(2) on an O_APPEND fd.
 */
int sheep_log_open(const char *path, enum sheep_log_level level, int also_stderr);
void sheep_log_close(void);
int sheep_log_enabled(enum sheep_log_level level);
void sheep_log_msg(enum sheep_log_level level, const char *func, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Arguments must have no side effects: they are skipped below the level. */
#define sheep_log(lvl, ...) \
	do { \
		if (sheep_log_enabled(lvl)) \
			sheep_log_msg(lvl, __func__, __LINE__, __VA_ARGS__); \
	} while (0)
#define sheep_err(...)	 sheep_log(SHEEP_LOG_ERR, __VA_ARGS__)
#define sheep_warn(...)	 sheep_log(SHEEP_LOG_WARN, __VA_ARGS__)
#define sheep_info(...)	 sheep_log(SHEEP_LOG_INFO, __VA_ARGS__)
#define sheep_debug(...) sheep_log(SHEEP_LOG_DEBUG, __VA_ARGS__)

/* -------------------------------------------------------------- store.c */

/* Steps of an atomic object create, for fault-injection tests. */
enum sheep_fault_point {
	SHEEP_FAULT_TMP_OPEN = 1, /* temp file created, empty */
	SHEEP_FAULT_TMP_WRITTEN,  /* temp file holds (part of) the data */
	SHEEP_FAULT_TMP_SYNCED,	  /* temp file data durable */
	SHEEP_FAULT_RENAMED,	  /* renamed over the target */
	SHEEP_FAULT_DIR_SYNCED,	  /* directory entry durable */
	SHEEP_FAULT_NR
};

/* Persistent cluster parameters (written atomically to <store>/config). */
struct sheep_config {
	uint64_t ctime; /* 0: not formatted */
	uint16_t flags;
	uint8_t nr_copies;
	uint8_t copy_policy;
	uint8_t block_size_shift;
	char store[16];
	uint64_t epoch_time; /* when epoch 1 started */
};

/*
 * The object store: <dir>/obj/<16 hex oid> files, full size (sparse).
 * A store is shared by all workers; the struct is read-only after open.
 * While the store is open it holds up to a quarter of RLIMIT_NOFILE in
 * cached object descriptors.
 */
struct sheep_store {
	int dir_fd;		    /* store root */
	int obj_fd;		    /* obj/ directory */
	int nosync;		    /* -n: no fdatasync before replies */
	struct sheep_fd_cache *fds; /* open object files (store.c), may be NULL */
	/* test hook, NULL in the daemon: called at each create step */
	void (*fault_cb)(void *arg, enum sheep_fault_point point);
	void *fault_arg;
};

/*
 * Open (creating obj/ if needed) the store under `dir` and remove stale
 * temp files left by a crash.  Returns 0 or -errno.
 */
int sheep_store_open(struct sheep_store *st, const char *dir, int nosync);
void sheep_store_close(struct sheep_store *st);

/*
 * Atomically (re)create object `oid` of `size` bytes: zero-filled, or a copy
 * of `cow_oid` when cow_oid != 0, with `len` bytes of `data` overlaid at
 * `off`.  Readers see the old object or the complete new one, never a mix.
 * Returns 0, -ENOENT (cow source missing), -EINVAL (range), -ENOSPC, -EIO.
 */
int sheep_store_create(struct sheep_store *st, uint64_t oid, uint64_t size, uint64_t cow_oid,
		       const void *data, uint32_t len, uint64_t off);
/*
 * Same, with `hdr_len` bytes of header and `idx` (the inode index image,
 * written sparsely) for inode objects: the content is header at 0 and
 * idx_len bytes at SD_INODE_HEADER_SIZE, total size SD_INODE_SIZE.
 */
int sheep_store_create_inode(struct sheep_store *st, uint64_t oid, const void *hdr, const void *idx,
			     size_t idx_len);
/* pread exactly len bytes at off; -ENOENT, -EINVAL when outside the object. */
int sheep_store_read(struct sheep_store *st, uint64_t oid, void *buf, uint32_t len, uint64_t off);
/*
 * Non-blocking read for the event-loop thread: succeeds (0) only if the
 * object's descriptor is cached and all len bytes are in the page cache
 * (preadv2 RWF_NOWAIT); any other outcome (-EAGAIN) means "use a worker",
 * which then reports the proper error.  Never opens files, never waits on I/O.
 */
int sheep_store_read_nowait(struct sheep_store *st, uint64_t oid, void *buf, uint32_t len,
			    uint64_t off);
/* pwrite len bytes at off of an existing object (durable unless nosync). */
int sheep_store_write(struct sheep_store *st, uint64_t oid, const void *buf, uint32_t len,
		      uint64_t off);
int sheep_store_remove(struct sheep_store *st, uint64_t oid);
/* Object size in *size; -ENOENT if absent. */
int sheep_store_size(struct sheep_store *st, uint64_t oid, uint64_t *size);
/* Remove every object (MAKE_FS). */
int sheep_store_wipe(struct sheep_store *st);
/* Make everything durable (FLUSH_VDI in nosync mode). */
int sheep_store_sync(struct sheep_store *st);
/* Call cb for each stored inode object; stops on a non-zero return. */
int sheep_store_for_each_inode(struct sheep_store *st, int (*cb)(void *arg, uint32_t vid),
			       void *arg);
/* Call cb for each stored object (any kind); stops on a non-zero return. */
int sheep_store_for_each_oid(struct sheep_store *st, int (*cb)(void *arg, uint64_t oid), void *arg);
/* Config: load returns -ENOENT when never formatted; save is atomic. */
int sheep_store_config_load(struct sheep_store *st, struct sheep_config *cfg);
int sheep_store_config_save(struct sheep_store *st, const struct sheep_config *cfg);

/* ---------------------------------------------------------------- vdi.c */

/*
 * VDI state: the two bitmaps of section 5.2 (rebuilt from stored inodes at
 * start-up), the snapshot bitmap and the list of VIDs in use.  Every
 * function below that takes a struct sheep_vdi must be called with
 * vdi->lock held, except sheep_vdi_init/destroy and sheep_vdi_is_snapshot.  Functions returning "sd result" return SD_RES_*.
 */
struct sheep_vdi {
	pthread_mutex_t lock;
	/*
	 * Data-object writes hold io_lock shared across their READONLY check
	 * and the write; a snapshot takes it exclusively while it turns the
	 * working inode into a snapshot, so no write slips in between.  Lock
	 * order: lock, then io_lock; data writes never take lock while
	 * holding io_lock.
	 */
	pthread_rwlock_t io_lock;
	struct sheep_store *store;
	uint8_t *inuse;	   /* SD_VDI_BITMAP_SIZE bytes */
	uint8_t *deleted;  /* SD_VDI_BITMAP_SIZE bytes */
	uint8_t *snapshot; /* VIDs whose inode has snap_ctime != 0; io_lock */
	uint32_t *vids;	   /* VIDs in use, unsorted */
	size_t nr_vids, cap_vids;
};

struct sheep_vdi_create_args {
	const char *name;
	uint64_t size;
	uint32_t base_vid;
	uint32_t snapid;					     /* != 0: snapshot / rebase */
	uint8_t copies, copy_policy, store_policy, block_size_shift; /* resolved */
	uint64_t now; /* create_time / snap_ctime encoding */
};

/* Allocate bitmaps; scan the store to rebuild them.  0 or -errno. */
int sheep_vdi_init(struct sheep_vdi *vdi, struct sheep_store *st);
void sheep_vdi_destroy(struct sheep_vdi *vdi);
/* Forget everything (MAKE_FS). */
void sheep_vdi_reset(struct sheep_vdi *vdi);
/* Rebuild from the store (start-up). 0 or -errno. */
int sheep_vdi_rebuild(struct sheep_vdi *vdi);
int sheep_vdi_test_inuse(const struct sheep_vdi *vdi, uint32_t vid);
int sheep_vdi_test_deleted(const struct sheep_vdi *vdi, uint32_t vid);
/*
 * Is vid a snapshot (its data objects READONLY)?  Callable with only
 * io_lock held (shared): the bit only changes under io_lock held exclusively.
 */
int sheep_vdi_is_snapshot(const struct sheep_vdi *vdi, uint32_t vid);
/* Re-derive vid's snapshot bit from its inode (lock and io_lock held). */
int sheep_vdi_refresh_snapshot(struct sheep_vdi *vdi, uint32_t vid);

/*
 * Lookup per section 5.4.  tag may be NULL or empty.  On SUCCESS *vid is the
 * match.  sd result: SUCCESS, NO_VDI, NO_TAG, EIO.
 */
int sheep_vdi_lookup(struct sheep_vdi *vdi, const char *name, const char *tag, uint32_t snapid,
		     uint32_t *vid);
/* Free VID for a new VDI of `name` (section 5.3). sd result. */
int sheep_vdi_alloc_vid(struct sheep_vdi *vdi, const char *name, uint32_t *vid);
/* NEW_VDI (section 6.3); *new_vid is the reply vdi_id.  sd result. */
int sheep_vdi_create(struct sheep_vdi *vdi, const struct sheep_vdi_create_args *a,
		     uint32_t *new_vid);
/* DEL_VDI (section 6.5) of vid; reclaims unreferenced objects.  sd result. */
int sheep_vdi_delete(struct sheep_vdi *vdi, uint32_t vid);
/*
 * Write `len` bytes at `off` (inside the flat index) of inode `vid` and drop
 * objects no live inode references any more (section 6.8).  sd result.
 */
int sheep_vdi_write_index(struct sheep_vdi *vdi, uint32_t vid, const void *buf, uint32_t len,
			  uint32_t off);
/* Read the inode header of vid.  0 or -errno (-ENOENT). */
int sheep_vdi_read_header(struct sheep_store *st, uint32_t vid, struct sd_inode_header *h);

/* Map -errno from the store to an SD_RES_* code. */
int sheep_errno_to_res(int err);

/* --------------------------------------------------------------- attr.c */
#define SHEEP_ATTR_CREATE 1u /* create when missing, replace when present */
#define SHEEP_ATTR_EXCL	  2u /* VDI_EXIST when present */
#define SHEEP_ATTR_DELETE 4u /* delete when present */

/*
 * GET_VDI_ATTR on record `a` (name, tag, snap_id, key, value filled; the
 * rest of the record zero): find the attribute object and apply `mode`
 * (no flag: just look it up).  *hvid is the name hash and *attr_id the
 * index of the object found or written.  vdi->lock held.  sd result:
 * SUCCESS, NO_OBJ (absent, no CREATE), VDI_EXIST (EXCL), FULL_VDI, EIO,
 * NO_SPACE, NO_MEM.
 */
int sheep_attr_lookup(struct sheep_vdi *vdi, struct sd_vdi_attr *a, unsigned mode, uint32_t *hvid,
		      uint32_t *attr_id);
/*
 * After a vdi of `name` was deleted: when no live vdi of that name remains,
 * remove its attribute objects (best effort, failures logged).  vdi->lock held.
 */
void sheep_attr_purge(struct sheep_vdi *vdi, const char *name);

/* ---------------------------------------------------------------- coh.c */
/* Shared-lock participants and their inode coherence states (coh.c has the rules). */
enum { SHEEP_COH_MODIFIED, SHEEP_COH_SHARED, SHEEP_COH_INVALIDATED };

/* LOCK_VDI type SHARED by client (0: anonymous).  sd result (VDI_LOCKED: held exclusively, NO_MEM). */
int sheep_coh_lock_shared(uint32_t vid, uint64_t client);
/* RELEASE_VDI type SHARED: one lock fewer; the last one leaves. */
void sheep_coh_release(uint32_t vid, uint64_t client);
/* State of client on vid, -1 when not a participant. */
int sheep_coh_state(uint32_t vid, uint64_t client);
/*
 * TGT-flagged I/O of client on vid: SUCCESS, VDI_LOCKED when another
 * client holds vid exclusively, INODE_INVALIDATED for an INVALIDATED
 * participant.
 */
int sheep_coh_check(uint32_t vid, uint64_t client);
/*
 * LOCK_VDI type EXT_EXCLUSIVE by client: SUCCESS (also when client holds
 * it already), VDI_LOCKED (another holder, or another client is an
 * attached participant), INVALID_PARMS (client 0), NETWORK_ERROR (client
 * has no connection left: nothing would release it), NO_MEM.
 */
int sheep_coh_lock_exclusive(uint32_t vid, uint64_t client);
/*
 * RELEASE_VDI type EXT_EXCLUSIVE: released if client holds vid, or the
 * working vid that replaced it (snapshots), else nothing.
 */
void sheep_coh_release_exclusive(uint32_t vid, uint64_t client);
/* The client holding vid exclusively, 0: none. */
uint64_t sheep_coh_exclusive(uint32_t vid);
/*
 * The index of vid changed (vdi lock held).  by_participant: the change
 * came from client's TGT-flagged index write; otherwise every participant
 * is invalidated.
 */
void sheep_coh_index_written(uint32_t vid, uint64_t client, int by_participant);
/* A snapshot of vid or an index change by sheep itself (vdi lock held). */
void sheep_coh_invalidate_all(uint32_t vid);
/*
 * vid became a snapshot, new_vid is the working vdi now (vdi lock held):
 * every participant of vid is invalidated; a refresh read of new_vid (or
 * its successors) validates the reader on vid again.
 */
void sheep_coh_snapshot(uint32_t vid, uint32_t new_vid);
/* Refresh read of vid's inode by client (vdi lock held). */
void sheep_coh_validate(uint32_t vid, uint64_t client);
/*
 * A connection of client (!= 0) opened / closed.  add: 1 when the client
 * had no other connection (new to this sheep, or back after all closed),
 * 0 when it had, -1 (no memory).  The last close releases the client's
 * exclusive locks.
 */
int sheep_coh_conn_add(uint64_t client);
void sheep_coh_conn_del(uint64_t client);
/* Forget every participant (MAKE_FS); fini also frees the tables. */
void sheep_coh_reset(void);
void sheep_coh_fini(void);
/* Tests: replace the monotonic clock (ms); NULL restores it. */
void sheep_coh_set_clock(uint64_t (*now_ms)(void));

/* ---------------------------------------------------------------- work.c */
struct sheep_work {
	void (*fn)(struct sheep_work *w);   /* worker thread */
	void (*done)(struct sheep_work *w); /* loop thread */
	struct sheep_work *next;
};

/* Start nr threads; returns the eventfd the loop must poll, or -errno. */
int sheep_work_init(int nr);
/* Queue work (any thread). */
void sheep_work_queue(struct sheep_work *w);
/* Loop thread: run done steps of finished work (after eventfd is readable). */
void sheep_work_run_done(void);
/* Stop and join the workers; queued work and its done steps still run. */
void sheep_work_exit(void);

/* --------------------------------------------------------------- server */
struct sheep_server {
	struct sheep_store store;
	struct sheep_vdi vdi;
	struct sheep_config cfg; /* protected by vdi.lock */
	int formatted;		 /* atomic; loop reads it */
	int shutting_down;	 /* atomic */
	uint8_t node_addr[16];	 /* reported in GET_NODE_LIST */
	uint16_t node_port;
};

extern struct sheep_server g_sheep;

/* ---------------------------------------------------------------- ops.c */
struct sheep_request {
	struct sheep_work work;
	struct sd_req hdr;
	struct sd_rsp rsp;
	void *data;  /* request payload (WRITE) or NULL */
	void *rdata; /* reply payload, rsp.data_length bytes */
	struct sheep_conn *conn;
	uint64_t client;	    /* the connection's EXT_HELLO id, 0: anonymous */
	struct sheep_request *next; /* conn reply queue */
	size_t sent;		    /* bytes of reply already written */
};

struct sheep_op {
	const char *name;
	int force;				   /* allowed before format */
	int needs_payload;			   /* 1: WRITE + payload required */
	uint32_t max_payload;			   /* cap on a WRITE payload */
	int (*handler)(struct sheep_request *req); /* worker; sd result */
};

/* Opcode table lookup; NULL for unsupported opcodes. */
const struct sheep_op *sheep_op_get(uint8_t opcode);
/*
 * Frame decoding, the first step from bytes on a connection to an op
 * (event.c; tests/fuzz/fuzz_sheep_req.c drives the same path): the payload
 * bytes that follow hdr on the wire (0 without SD_FLAG_CMD_WRITE), or -1 when
 * they exceed the op's cap and the connection is closed rather than
 * buffering them.  Pure.
 */
int64_t sheep_frame_payload_len(const struct sd_req *hdr);
/* 1 if hdr is EXT_HELLO or its disguised form (proto.h), answered by event.c. */
int sheep_frame_is_hello(const struct sd_req *hdr);
/*
 * Checks of section 1.6 that need no disk: version, opcode, status, write
 * flag shape.  Returns SD_RES_SUCCESS or the error to reply.
 */
int sheep_op_precheck(const struct sd_req *hdr, const struct sheep_op *op);
/* A data object's stripe lock, shared, without waiting (0: taken). */
int sheep_obj_tryrdlock(uint64_t oid);
void sheep_obj_unlock(uint64_t oid);
/* Worker: run the handler, fill req->rsp / req->rdata. */
void sheep_op_execute(struct sheep_request *req);

/* --------------------------------------------------------------- event.c */
struct sheep_listen_opts {
	const char *bind_addr; /* NULL: all addresses */
	unsigned port;
	const char *unix_path;
};

/* Bind the listeners; 0 or -errno with a message logged. */
int sheep_event_init(const struct sheep_listen_opts *o);
/* Run the loop until SIGTERM/SIGINT/SHUTDOWN; returns 0 on a clean exit. */
int sheep_event_loop(void);
/* Loop thread: close the listeners (SHUTDOWN). */
void sheep_event_stop_listening(void);

#endif /* SHEEP_SHEEP_H */
