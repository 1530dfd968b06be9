/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libsheepdog: client library for Sheepdog clusters.
 *
 * Model (the aiocb split): one user request on a vdi is split into
 * per-object sheep requests, which are pipelined over a small pool of
 * connections; the user request completes when every part has.
 *
 * Threads: the library starts none.  A struct sd_cluster and everything
 * hanging off it belongs to one thread at a time.  All I/O progress happens
 * inside sd_cluster_service(), which the application calls when the fd
 * returned by sd_cluster_fd() is readable (it aggregates every socket and
 * timer of the handle, so its number never changes).  The synchronous calls
 * (connect, open, close, sd_vdi_read/write/flush/discard, administration,
 * sd_run_sdreq) are a poll loop over the same machinery.  Called from inside
 * a completion callback (or anything else sd_cluster_service() runs), a
 * synchronous call, and sd_disconnect(), fails at once with -EDEADLK
 * (sd_vdi_open: NULL, errno EDEADLK) without sending anything, and
 * sd_cluster_errmsg() says which call it was.
 *
 * Errors: functions return 0 (or a count) on success and a negative errno on
 * failure; constructors return NULL and set errno.  Sheep result codes map to
 * errnos as follows (sd_result_to_errno()):
 *   NO_VDI, NO_TAG, NO_OBJ         -ENOENT
 *   VDI_EXIST                      -EEXIST
 *   READONLY                       -EROFS   (write to a snapshot)
 *   NO_SPACE                       -ENOSPC
 *   NO_MEM                         -ENOMEM
 *   INVALID_PARMS                  -EINVAL
 *   VDI_LOCKED                     -EBUSY
 *   FULL_VDI                       -EMFILE
 *   WAIT_FOR_FORMAT                -ENODEV  (cluster not formatted)
 *   SHUTDOWN, HALT, WAIT_FOR_JOIN,
 *   KILLED, NETWORK_ERROR          -EAGAIN  (retried internally first)
 *   EIO and anything else          -EIO
 * Transport failures: -ETIMEDOUT (a request outlived its timeout),
 * -ENOTCONN (the cluster stayed unreachable past the retry window),
 * -ECANCELED (the handle was closed with the request pending).
 * sd_cluster_errmsg() keeps a human-readable description of the last error.
 *
 * Async contract: if a submit call fails, its callback never runs; if it
 * succeeds, the callback runs exactly once, from sd_cluster_service() (or a
 * sync call's internal loop), never from inside the submit call.
 */
#ifndef SHEEPDOG_SHEEPDOG_H
#define SHEEPDOG_SHEEPDOG_H

#include <stddef.h>
#include <stdint.h>
#include <sheepdog/proto.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sd_cluster;
struct sd_vdi;

/* ------------------------------------------------------------------ */
/* Cluster handle                                                       */
/* ------------------------------------------------------------------ */

/*
 * Options of a handle.  Fill with sd_cluster_opts_init(), then change what
 * you need; passing NULL instead of a struct means all defaults.  A field
 * that lies beyond struct_size (a caller built against an older, shorter
 * struct) takes its default.  What 0 means, field by field:
 */
struct sd_cluster_opts {
	size_t struct_size;	     /* sizeof(struct sd_cluster_opts); 0: no
					 * field is read, all defaults */
	unsigned nr_connections;     /* I/O connections in the pool; default 4,
					 * at most 64.  0: the default (a pool
					 * needs a connection) */
	unsigned connect_timeout_ms; /* one connect attempt; also bounds every
					 * wait of sd_connect and sd_vdi_open;
					 * default 5000.  0: the default */
	unsigned io_timeout_ms;	     /* one sheep request on a connection; when
					 * it passes the connection is declared
					 * dead; default 30000.  0: the default */
	unsigned retry_timeout_ms;   /* how long after its first transport error
					 * or retryable result (SHUTDOWN, HALT,
					 * WAIT_FOR_JOIN, NETWORK_ERROR, KILLED) a
					 * request is still retried (reconnect +
					 * resend) before it fails; default 60000.
					 * 0: no retry window, a request fails at
					 * its first transport error or retryable
					 * result */
	unsigned max_inflight;	     /* sheep requests outstanding per handle
					 * (more wait in a queue); default 512.
					 * 0: the default */
};

/* Fill *opts with the defaults above (struct_size included). */
void sd_cluster_opts_init(struct sd_cluster_opts *opts);

/*
 * Connect to a sheep.  addr: "host:port", "host" (port 7000), "[v6addr]:port",
 * "unix:/path/to/sock" or an absolute path of a UNIX socket; or a list of
 * up to 4 of these, separated by ',' (sheeps of one cluster, or several
 * listening addresses of one sheep; a UNIX path in a list cannot contain
 * ',').  The pool's connections are spread over the list; a connection
 * whose connect fails, or that is lost (reset, EOF, io_timeout_ms without
 * a reply), moves to the next address, and the requests it carried are
 * resent at once on the connections that are up (the same request with a
 * new id: object writes, creates and inode index updates carry their data
 * and offset, so applying one twice leaves the same bytes).  The handle
 * works as long as one address answers.  A list entry whose name does
 * not resolve is skipped if another one resolves.  A UNIX path or
 * an IPv4/IPv6 literal never goes to the resolver; a host name is looked up
 * once, here (getaddrinfo, with the system resolver's own timeouts).  Then
 * blocks for at most connect_timeout_ms.  Returns NULL with errno set
 * (EINVAL for a bad address, EHOSTUNREACH for an unknown name, EAGAIN for a
 * failing resolver, ECONNREFUSED, ETIMEDOUT, ENOMEM, ...).
 */
struct sd_cluster *sd_connect(const char *addr);
struct sd_cluster *sd_connect_opts(const char *addr, const struct sd_cluster_opts *opts);

/*
 * Close the handle.  Requests still pending complete with -ECANCELED (their
 * callbacks run inside this call).  Open vdis must be closed first
 * (returns -EBUSY otherwise and does nothing).
 */
int sd_disconnect(struct sd_cluster *c);

/* Last error as text; valid until the next call on the handle. */
const char *sd_cluster_errmsg(const struct sd_cluster *c);

/* Log hook; the library is silent without one. level: LOG_ERR..LOG_DEBUG. */
typedef void (*sd_log_cb)(int level, const char *msg, void *opaque);
void sd_set_log_cb(struct sd_cluster *c, sd_log_cb cb, void *opaque);

/* Event-loop integration: poll this fd for readability (POLLIN/EPOLLIN). */
int sd_cluster_fd(const struct sd_cluster *c);

/*
 * Make progress without blocking: read replies, send queued requests, fire
 * timeouts and reconnects, and run completion callbacks.  Returns 0, or a
 * negative errno for a broken handle (e.g. -ENOMEM on the internal epoll).
 */
int sd_cluster_service(struct sd_cluster *c);

/* Map a sheep result code to a negative errno (table above); 0 for SUCCESS. */
int sd_result_to_errno(int result);

/*
 * Run one raw request synchronously.  hdr is sent as is (id is assigned by
 * the library); with SD_FLAG_CMD_WRITE, data holds hdr->data_length payload
 * bytes, otherwise data receives at most hdr->data_length reply bytes.  On
 * return hdr holds the 48-byte reply header (cast to struct sd_rsp).
 * Returns the sheep result (>= 0), or a negative errno for transport errors.
 */
int sd_run_sdreq(struct sd_cluster *c, struct sd_req *hdr, void *data);

/*
 * sd_run_sdreq() without waiting: the request is queued and cb(c, ret,
 * opaque) runs exactly once from sd_cluster_service() (never from inside
 * this call), with ret the sheep result (>= 0) or a negative errno for
 * transport errors (-ETIMEDOUT, -ECANCELED when the handle is
 * disconnected first, ...); *hdr then holds the reply header.  hdr and
 * data are the caller's and must stay valid until cb runs.  Returns 0, or
 * -ENOMEM (cb will not run).
 */
typedef void (*sd_req_cb)(struct sd_cluster *c, int ret, void *opaque);
int sd_aio_run_sdreq(struct sd_cluster *c, struct sd_req *hdr, void *data, sd_req_cb cb,
		     void *opaque);

/* ------------------------------------------------------------------ */
/* Vdi handle                                                           */
/* ------------------------------------------------------------------ */

/*
 * Open a vdi.  snapid 0 and tag NULL/"" open the working vdi (read-write);
 * a non-zero snapid or a tag opens that snapshot, read-only.
 * Blocks for at most connect_timeout_ms (lock and inode read together; a
 * failed open may add one more for releasing the lock).  NULL + errno on
 * failure (ENOENT: no such vdi or snapshot; ETIMEDOUT: no answer in time;
 * EDEADLK: called from a completion callback).
 */
struct sd_vdi *sd_vdi_open(struct sd_cluster *c, const char *name, uint32_t snapid,
			   const char *tag);
/*
 * sd_vdi_open with flags (0: exactly sd_vdi_open).  Unknown flags: NULL,
 * errno EINVAL.  Against this tree's sheep, any open but SD_VDI_NOLOCK
 * fails with EBUSY while another gateway holds the vdi with
 * SD_VDI_EXCLUSIVE.
 *
 * SD_VDI_SHARED: other handles (other gateways, other processes) may write
 * the same vdi at the same time.  The handle then never answers a read of
 * an object its copy of the index shows as unallocated or inherited from
 * an ancestor from that copy alone: it first asks the sheep (a one-byte
 * read of the inode with the TGT flag), which tells a handle whose copy is
 * stale (INODE_INVALIDATED), and the handle re-reads the index before it
 * goes on.  A write acknowledged through one shared handle is then read
 * through any other right after, also across a snapshot taken meanwhile.
 * Costs one extra round trip per such read.  Coherence needs a sheep that
 * tracks shared-lock participants per client (ours; upstream only with
 * `dog cluster format -l`, and per sheep node: see docs/upstream.md).
 * sd_vdi_allocated() still answers from the handle's copy.
 */
#define SD_VDI_SHARED	 0x1u
/*
 * SD_VDI_EXCLUSIVE: this handle's cluster handle is to be the only
 * gateway of the vdi (a write-back cache holds data other gateways could
 * not see).  Not with SD_VDI_SHARED, not on a snapshot (snapid or tag):
 * NULL, errno EINVAL.  Against this tree's sheep it takes the exclusive
 * lock: refused (NULL, errno EBUSY, "open by another gateway") while any
 * other client has the vdi open (or holds it exclusively); while held,
 * others' opens fail with EBUSY and their I/O is refused by the sheep.
 * Other handles of the same struct sd_cluster may open it too.  Released
 * at sd_vdi_close of the cluster's last exclusive handle of the vdi, or
 * by the sheep when the process dies (its connections close).  After the
 * sheep forgot it (sheep restart, all connections lost) the handle takes
 * it again before any further I/O; if another gateway took the vdi
 * meanwhile, every request fails with -EBUSY (logged at LOG_ERR) until
 * that gateway closes it.  Against an upstream sheep nothing can enforce
 * it: the vdi opens without the lock and a LOG_WARNING says so once per
 * cluster handle.
 */
#define SD_VDI_EXCLUSIVE 0x2u
/*
 * SD_VDI_NOLOCK: an inspection handle, as upstream's dog opens a vdi: the
 * vdi is looked up without taking any lock (GET_VDI_INFO), so the open
 * works while another gateway holds the vdi exclusively, and its I/O is
 * not TGT-flagged.  No coherence: a write-back gateway's cache may hold
 * data the sheep has not got yet.  Not with SD_VDI_SHARED or
 * SD_VDI_EXCLUSIVE (NULL, errno EINVAL).
 */
#define SD_VDI_NOLOCK	 0x4u
struct sd_vdi *sd_vdi_open_flags(struct sd_cluster *c, const char *name, uint32_t snapid,
				 const char *tag, unsigned flags);
/* Waits for the vdi's pending requests, then releases it.  0 or -errno. */
int sd_vdi_close(struct sd_vdi *vdi);

uint64_t sd_vdi_size(const struct sd_vdi *vdi);	       /* bytes */
uint32_t sd_vdi_id(const struct sd_vdi *vdi);	       /* current vid */
uint32_t sd_vdi_object_size(const struct sd_vdi *vdi); /* bytes */
int sd_vdi_is_readonly(const struct sd_vdi *vdi);      /* opened snapshot */
const char *sd_vdi_name(const struct sd_vdi *vdi);

/* Completion of an async vdi request: ret is 0 or a negative errno. */
typedef void (*sd_aio_cb)(struct sd_vdi *vdi, int ret, void *opaque);

/* Flags for sd_vdi_aio_write. */
#define SD_AIO_FUA 0x1 /* durable before completion (write + flush) */

/*
 * Async I/O.  buf must stay valid until the callback runs.  Ranges beyond
 * sd_vdi_size() fail at submit with -EINVAL; writes on a read-only vdi fail
 * at submit with -EROFS.  Unallocated objects read as zeros.  A write that
 * races with a snapshot taken elsewhere is redirected (COW) transparently.
 * Submit can fail with -ENOMEM; otherwise the request is queued, even if the
 * cluster is momentarily unreachable.
 */
int sd_vdi_aio_read(struct sd_vdi *vdi, void *buf, size_t count, uint64_t offset, sd_aio_cb cb,
		    void *opaque);
int sd_vdi_aio_write(struct sd_vdi *vdi, const void *buf, size_t count, uint64_t offset,
		     unsigned flags, sd_aio_cb cb, void *opaque);
/*
 * Compare-and-write (SCSI COMPARE AND WRITE): buf holds count bytes to
 * compare, then count bytes to write; if the vdi holds the first half at
 * offset, the second half replaces it.  Atomic in the sheep (its
 * EXT_CMP_WRITE_OBJ extension) against every write, discard and
 * compare-and-write of the object from any client, so from every gateway
 * of a vdi.  The range must lie inside one object.  flags: SD_AIO_FUA.
 * Submit fails with -EINVAL (range, count > 1 MiB), -EXDEV (the range
 * crosses an object boundary: no single-object atomicity possible), -EROFS,
 * -ENOMEM.  The callback gets 0 (written), -EILSEQ (data differed, nothing
 * written; *miscompare, if not NULL, is the offset of the first differing
 * byte from the start of buf, set before the callback runs), -EOPNOTSUPP
 * (the cluster lacks the extension, e.g. upstream sheep: nothing written)
 * or another negative errno.  count 0 is a probe of the extension: 0 or
 * -EOPNOTSUPP, nothing touched.  miscompare must stay valid until the
 * callback runs.
 */
int sd_vdi_aio_cmp_write(struct sd_vdi *vdi, const void *buf, size_t count, uint64_t offset,
			 unsigned flags, uint64_t *miscompare, sd_aio_cb cb, void *opaque);
/* Make every completed write durable (FLUSH_VDI; INVALID_PARMS counts as done). */
int sd_vdi_aio_flush(struct sd_vdi *vdi, sd_aio_cb cb, void *opaque);
/* Deallocate whole objects inside the range; partial objects are zeroed. */
int sd_vdi_aio_discard(struct sd_vdi *vdi, size_t count, uint64_t offset, sd_aio_cb cb,
		       void *opaque);

/*
 * Allocation map of the vdi, read from the handle's in-memory copy of its
 * index (no request is sent; safe from a callback).  Returns 1 if the
 * object holding offset is allocated (stored in this vdi or inherited from
 * the vdi it was cloned or snapshotted from: reads return stored data), 0
 * if it is not (reads return zeros), -EINVAL if offset >= sd_vdi_size().
 * If run is not NULL, *run receives the number of bytes from offset, up to
 * the end of the vdi, over which the answer stays the same.  The
 * granularity is one object (sd_vdi_object_size()).  Writes and discards
 * change the map as they complete; while one is in flight its objects may
 * show either state.
 */
int sd_vdi_allocated(const struct sd_vdi *vdi, uint64_t offset, uint64_t *run);

/*
 * Re-read the vdi's inode header, e.g. after `dog vdi resize` elsewhere.
 * The callback runs after a reload of the header that started after this
 * call (a reload already in flight does not count); with ret 0,
 * sd_vdi_size() then returns the size recorded in the inode, and every
 * request submitted from then on is range-checked against it.  The size
 * is taken as it is, also when it is smaller than before (sheep refuses to
 * shrink a vdi, so a smaller size means the name now belongs to another
 * vdi); the caller decides what to make of it.  For the working vdi this
 * also follows a snapshot taken elsewhere (as a write that meets READONLY
 * does).  Never blocks; requests submitted meanwhile wait for the reload.
 * Errors (in the callback): -ENOENT (the vdi or snapshot was deleted),
 * -ENOMEM, the transport errnos above; the handle keeps its previous size.
 * Submit fails only with -ENOMEM.
 */
int sd_vdi_aio_refresh(struct sd_vdi *vdi, sd_aio_cb cb, void *opaque);

/*
 * sd_vdi_close without blocking: the vdi takes no new requests (they fail
 * with -EBADF at submit), its pending ones complete without running their
 * callbacks (their buffers must stay valid until cb runs), then its
 * locks are released (skipped while no connection is up) and the handle
 * is freed; cb then runs once, from sd_cluster_service(), with vdi NULL and
 * ret 0.  The caller keeps servicing the cluster until then, and
 * sd_disconnect() waits for it (-EBUSY before).  How long it takes is
 * bounded by the cluster's request timeout and retry window.  -EINVAL (no
 * vdi) or -EBUSY (already closing).
 */
int sd_vdi_aio_close(struct sd_vdi *vdi, sd_aio_cb cb, void *opaque);

/* Synchronous wrappers over the calls above. */
int sd_vdi_read(struct sd_vdi *vdi, void *buf, size_t count, uint64_t offset);
int sd_vdi_write(struct sd_vdi *vdi, const void *buf, size_t count, uint64_t offset);
int sd_vdi_flush(struct sd_vdi *vdi);
int sd_vdi_cmp_write(struct sd_vdi *vdi, const void *buf, size_t count, uint64_t offset,
		     uint64_t *miscompare);
int sd_vdi_discard(struct sd_vdi *vdi, size_t count, uint64_t offset);
int sd_vdi_refresh(struct sd_vdi *vdi);

/* ------------------------------------------------------------------ */
/* Administration (synchronous)                                         */
/* ------------------------------------------------------------------ */

struct sd_vdi_create_opts {
	size_t struct_size;	  /* sizeof(struct sd_vdi_create_opts) */
	uint8_t nr_copies;	  /* 0: cluster default */
	uint8_t block_size_shift; /* 0: cluster default */
	int prealloc;		  /* allocate every object now */
};

int sd_vdi_create(struct sd_cluster *c, const char *name, uint64_t size);
int sd_vdi_create_opts(struct sd_cluster *c, const char *name, uint64_t size,
		       const struct sd_vdi_create_opts *opts);
/* tag NULL/"": the working vdi (its objects are released first). */
int sd_vdi_delete(struct sd_cluster *c, const char *name, const char *tag);
/* Snapshot the working vdi; tag may be NULL.  The working vdi gets a new vid;
 * open handles follow it on their next write. */
int sd_vdi_snapshot(struct sd_cluster *c, const char *name, const char *tag);
/* Clone snapshot (srcname, srctag or snapid) into a new working vdi dstname. */
int sd_vdi_clone(struct sd_cluster *c, const char *srcname, uint32_t snapid, const char *srctag,
		 const char *dstname);
/* Grow a working vdi. -EINVAL when shrinking or beyond the flat-index limit. */
int sd_vdi_resize(struct sd_cluster *c, const char *name, uint64_t new_size);

struct sd_vdi_info {
	char name[SD_MAX_VDI_LEN];
	char tag[SD_MAX_VDI_TAG_LEN];
	uint32_t vid;
	uint32_t snap_id;
	uint32_t parent_vid;
	uint64_t size;
	uint64_t create_time; /* seconds << 32 | nanoseconds */
	int is_snapshot;
	uint8_t nr_copies;
	uint8_t block_size_shift;
};

/*
 * List live vdis and snapshots.  On success *out is a malloc'ed array the
 * caller frees with free(); returns the number of entries (>= 0).
 */
int sd_vdi_list(struct sd_cluster *c, struct sd_vdi_info **out);

/* ------------------------------------------------------------------ */
/* vdi attributes                                                       */
/* ------------------------------------------------------------------ */

/*
 * Small named values kept beside a vdi, the same ones `dog vdi setattr` and
 * `dog vdi getattr` see: those of the working vdi `name` (they follow it
 * across snapshots) and removed when the last vdi of that name is deleted.
 * Keys are non-empty strings of at most SD_MAX_VDI_ATTR_KEY_LEN - 1 bytes;
 * values are up to SD_MAX_VDI_ATTR_VALUE_LEN bytes of anything (dog prints
 * them and writes text values without their NUL).
 *
 * Each change is one request the server applies atomically against every
 * other attribute request: two callers racing with SD_ATTR_EXCL on the
 * same key see exactly one succeed; a replace is never seen half done.
 */

/* sd_vdi_setattr flags (none: create the key, or replace its value). */
#define SD_ATTR_EXCL   0x1u /* create only: -EEXIST if the key exists */
#define SD_ATTR_DELETE 0x2u /* delete the key (value ignored) */

/*
 * Read attribute `key` of vdi `name`: copies min(len, value length) bytes
 * into buf (which may be NULL when len is 0) and returns the value's full
 * length (>= 0; larger than len means the copy was cut).  Neither pointer
 * is kept after the call.  Errors: -ENOENT (no such vdi, or no such key),
 * -EINVAL (name or key empty or too long), -ENOMEM, the transport errnos
 * above.
 */
int sd_vdi_getattr(struct sd_cluster *c, const char *name, const char *key, void *buf, size_t len);

/*
 * Create, replace or delete attribute `key` of vdi `name` according to
 * flags; value holds len bytes (copied before the call returns; may be
 * NULL when len is 0).  Returns 0 or: -EEXIST (SD_ATTR_EXCL and the key
 * exists), -ENOENT (no such vdi; or SD_ATTR_DELETE of a missing key),
 * -EINVAL (bad name, key, length or flags: SD_ATTR_EXCL with
 * SD_ATTR_DELETE, unknown bits), -EMFILE (no free attribute slot),
 * -ENOSPC, -ENOMEM, -EIO and the transport errnos above.
 */
int sd_vdi_setattr(struct sd_cluster *c, const char *name, const char *key, const void *value,
		   size_t len, unsigned flags);

/*
 * The same two calls without blocking: cb runs once, from
 * sd_cluster_service() (never from inside the call), with what the
 * synchronous call would have returned (getattr: the value's length or
 * -errno; setattr: 0 or -errno).  buf must stay valid until then; the
 * value is copied before the call returns.  Submit errors (cb will not
 * run): -EINVAL (bad name, key, length or flags, or no cb), -ENOMEM.
 */
int sd_vdi_aio_getattr(struct sd_cluster *c, const char *name, const char *key, void *buf,
		       size_t len, sd_req_cb cb, void *opaque);
int sd_vdi_aio_setattr(struct sd_cluster *c, const char *name, const char *key, const void *value,
		       size_t len, unsigned flags, sd_req_cb cb, void *opaque);

#ifdef __cplusplus
}
#endif
#endif /* SHEEPDOG_SHEEPDOG_H */
