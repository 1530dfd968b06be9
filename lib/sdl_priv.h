/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libsheepdog private header: the request engine (engine.c), the vdi data
 * path (io.c, vdi.c) and administration (admin.c) share these types.
 *
 * Threading: everything here belongs to the thread that owns the
 * struct sd_cluster (see sheepdog.h); nothing is locked.
 *
 * Layers:
 *   struct sdl_req   one sheep request (48-byte header + payload); owned by
 *                    its submitter, lent to the engine from sdl_req_submit()
 *                    until its ->done callback runs (exactly once).
 *   struct sdl_acb   one user request on a vdi; carries its per-object
 *                    parts (struct sdl_part, each embedding an sdl_req) in
 *                    the same allocation.
 */
#ifndef SDL_PRIV_H
#define SDL_PRIV_H

#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/types.h>

#include <sheepdog/sheepdog.h>
#include "net.h"
#include "sdl_list.h"

/* ---- allocation wrapper (alloc.c) with fault injection ---- */
void *sdl_malloc(size_t size);
void *sdl_calloc(size_t n, size_t size);
void sdl_free(void *p);
/*
 * Tests: make the nth allocation from now fail (1 = the next one); 0 turns
 * injection off.  sdl_alloc_live() counts blocks currently allocated
 * through the wrapper, sdl_alloc_calls() counts calls since start.
 */
void sdl_alloc_fail_nth(long nth);
long sdl_alloc_live(void);
long sdl_alloc_calls(void);
/* Number of failures injected so far. */
long sdl_alloc_injected(void);

/* ---- transport table (transport.c has the socket one) ---- */
struct sdl_transport {
	/*
	 * Start a non-blocking connect to sa.  Returns the fd (>= 0) with
	 * *in_progress set when completion must be awaited (POLLOUT, then
	 * SO_ERROR), or -errno.
	 */
	int (*connect)(void *priv, const struct sockaddr *sa, socklen_t salen,
		       int *in_progress);
	/* Non-blocking; return bytes moved, or -errno (-EAGAIN: would block). */
	ssize_t (*send)(void *priv, int fd, const struct iovec *iov, int iovcnt);
	/* Non-blocking; 0 means EOF. */
	ssize_t (*recv)(void *priv, int fd, void *buf, size_t len);
	void (*close)(void *priv, int fd);
};

extern const struct sdl_transport sdl_socket_transport;

/* ---- sheep requests ---- */
struct sdl_conn;
struct sdl_req;

/*
 * ret < 0: transport failure (-ETIMEDOUT, -ENOTCONN, -ECANCELED, -ENOMEM);
 * ret == 0: req->rsp holds the reply (result may be any SD_RES_*).
 */
typedef void (*sdl_req_done_fn)(struct sdl_req *req, int ret);

struct sdl_req {
	struct sdl_list link;		/* pending / delayed / conn queues */
	struct sd_req hdr;
	const void *wbuf;		/* hdr.data_length bytes when CMD_WRITE */
	void *rbuf;			/* reply payload goes here ... */
	uint32_t rlen;			/* ... at most this much */
	struct sd_rsp rsp;
	struct sdl_conn *conn;
	uint64_t deadline_ms;		/* io timeout while on a connection */
	uint64_t retry_until_ms;	/* 0 until the first failure */
	uint64_t not_before_ms;		/* on the delayed list */
	int last_err;
	unsigned retries;
	sdl_req_done_fn done;
	void *priv;
};

enum { SDL_CONN_DOWN, SDL_CONN_CONNECTING, SDL_CONN_UP };

#define SDL_IBUF_SIZE 65536

struct sdl_conn {
	struct sd_cluster *c;
	unsigned no;
	int fd;
	int state;
	int want_out;			/* EPOLLOUT registered */
	int broken;			/* -errno noticed outside service */
	int sa_idx;
	uint64_t connect_deadline_ms;
	uint64_t next_attempt_ms;
	unsigned backoff_ms;
	int last_err;
	int nr_failures;		/* connect attempts failed since last reply */
	struct sdl_list sendq;		/* assigned, not completely sent */
	struct sdl_list inflight;	/* sent, awaiting the reply */
	unsigned nr_reqs;
	size_t send_off;		/* bytes of sendq head already sent */
	/* receive state machine */
	struct sd_rsp rhdr;
	size_t rhdr_got;
	struct sdl_req *rreq;		/* reply being received, NULL: discard */
	uint32_t rpay_left;		/* payload bytes still to consume */
	uint32_t rpay_keep;		/* of those, bytes to copy into rreq */
	uint32_t rpay_pos;
	int in_payload;
	char *ibuf;
	size_t ipos, ilen;
};

struct sdl_acb;

struct sd_cluster {
	struct sd_cluster_opts opts;
	struct sdc_addr addr;
	char addr_str[300];
	struct sockaddr_storage sa[4];
	socklen_t salen[4];
	int nr_sa;
	const struct sdl_transport *tp;
	void *tp_priv;
	int epfd, tfd, efd;
	int efd_signaled;
	struct sdl_conn *conns;
	unsigned nr_conns;
	struct sdl_list pending;	/* ready to be assigned */
	struct sdl_list delayed;	/* waiting for not_before_ms */
	unsigned nr_inflight;		/* on connections */
	uint32_t next_id;
	struct sdl_list done_acbs;	/* completed, callback not yet run */
	struct sdl_list vdis;
	unsigned nr_vdis;
	int in_service;
	uint64_t timer_at_ms;		/* armed expiry, 0 = disarmed */
	sd_log_cb log_cb;
	void *log_opaque;
	char errmsg[256];
};

/* ---- engine.c ---- */
uint64_t sdl_now_ms(void);
/* Creates the handle (no connection attempt yet). */
struct sd_cluster *sdl_cluster_new(const char *addr, const struct sd_cluster_opts *opts,
				   const struct sdl_transport *tp, void *tp_priv, int *err);
void sdl_cluster_free(struct sd_cluster *c);
/* Start connecting every pool connection; wait until one is up. */
int sdl_cluster_connect(struct sd_cluster *c);
/* Hand a request to the engine; never calls ->done from inside. */
void sdl_req_submit(struct sd_cluster *c, struct sdl_req *req);
/* Like sdl_req_submit, but not before delay_ms from now. */
void sdl_req_submit_delayed(struct sd_cluster *c, struct sdl_req *req, unsigned delay_ms);
/* Fail every request with ret (-ECANCELED) and run their ->done. */
void sdl_cancel_all(struct sd_cluster *c, int ret);
int sdl_service(struct sd_cluster *c);
/* Non-zero when at least one connection is up. */
int sdl_cluster_up(struct sd_cluster *c);
/* Wake the service loop (eventfd). */
void sdl_signal(struct sd_cluster *c);
/* Poll loop until *flag becomes non-zero.  0 or -errno (broken handle). */
int sdl_wait(struct sd_cluster *c, const int *flag);
/* Run one request synchronously.  Returns -errno or 0 (result in req->rsp). */
int sdl_run_req(struct sd_cluster *c, struct sdl_req *req);
void sdl_init_hdr(struct sd_req *hdr, uint8_t opcode, uint16_t flags, uint32_t len);

void sdl_log(struct sd_cluster *c, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void sdl_set_err(struct sd_cluster *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* cluster.c: constructor with an explicit transport (tests use a fake). */
struct sd_cluster *sdl_connect_transport(const char *addr, const struct sd_cluster_opts *opts,
					 const struct sdl_transport *tp, void *tp_priv);

/* ---- vdi.c / io.c ---- */
enum { SDL_RELOAD_NONE, SDL_RELOAD_HEADER, SDL_RELOAD_FULL };

struct sd_vdi {
	struct sdl_list link;		/* on cluster->vdis */
	struct sd_cluster *c;
	char name[SD_MAX_VDI_LEN];
	char tag[SD_MAX_VDI_TAG_LEN];
	uint32_t snapid;
	int readonly;
	uint32_t vid;
	char *inode;			/* SD_INODE_INDEX_END bytes */
	struct sd_inode_header *hdr;	/* == inode */
	uint32_t *index;		/* inode + SD_INODE_HEADER_SIZE */
	unsigned shift;
	uint32_t obj_size;
	uint64_t size;
	unsigned nr_acbs;		/* outstanding user requests */
	struct sdl_list creates;	/* parts creating an object */
	struct sdl_list dirty;		/* parts waiting for an inode update */
	unsigned nr_iupd;		/* inode updates in flight */
	int reload_want;		/* SDL_RELOAD_* requested */
	int reloading;			/* reload requests in flight */
	struct sdl_list reload_waiters;	/* parts to restart after reload */
	struct sdl_reload *reload;
	unsigned reload_streak;		/* reloads since a request last succeeded */
	int index_changed;		/* index written since the last reload */
	unsigned reload_gen;		/* reloads completed */
};

/* Kick pending work of all vdis (inode updates, reloads); called by service. */
void sdl_vdis_kick(struct sd_cluster *c);
/* Run the completion callbacks queued on c->done_acbs. */
void sdl_run_completions(struct sd_cluster *c);
/* vdi.c: start or continue a reload; see io.c for waiters. */
void sdl_vdi_reload_kick(struct sd_vdi *vdi);
void sdl_vdi_reload_done(struct sd_vdi *vdi, int ret);
/* io.c: flush dirty index entries into inode updates. */
void sdl_vdi_flush_dirty(struct sd_vdi *vdi);
/* io.c: restart parts parked on reload_waiters (ret 0) or fail them. */
void sdl_vdi_release_waiters(struct sd_vdi *vdi, int ret);
/*
 * io.c: the vid changed (snapshot): take the new inode's index srv, but keep
 * and re-persist our entries for old_vid objects that it lacks.
 */
void sdl_vdi_merge_index(struct sd_vdi *vdi, const uint32_t *srv, uint32_t old_vid);
/* io.c: a reload replaced the index; re-apply entries not yet persisted. */
void sdl_vdi_after_reload(struct sd_vdi *vdi, uint32_t old_vid);
int sdl_vdi_lookup(struct sd_cluster *c, uint8_t opcode, const char *name, uint32_t snapid,
		   const char *tag, uint32_t *vid);
int sdl_read_obj_sync(struct sd_cluster *c, uint64_t oid, void *buf, uint32_t len,
		      uint32_t offset, int retry_noobj);
int sdl_write_obj_sync(struct sd_cluster *c, uint64_t oid, const void *buf, uint32_t len,
		       uint32_t offset, uint8_t opcode, uint16_t extra_flags);

#endif
