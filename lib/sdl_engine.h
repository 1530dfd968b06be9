/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libsheepdog request engine (engine.c) over a transport (transport.c): it
 * moves sheep frames (48-byte header + payload) and knows nothing of vdis
 * or user requests.  The layers above (opts.c below it; the data path io.c
 * and vdi.c, admin.c and cluster.c above) see only this header's API; the
 * README draws the layers and tests/lib_layers.sh checks them.
 *
 * Threading: everything here belongs to the thread that owns the handle
 * (see sheepdog.h); nothing is locked.
 *
 * struct sdl_req is one sheep request; owned by its submitter, lent to the
 * engine from sdl_req_submit() until its ->done callback runs (exactly
 * once) or sdl_req_cancel() takes it back.
 */
#ifndef SDL_ENGINE_H
#define SDL_ENGINE_H

#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/types.h>

#include <sheepdog/sheepdog.h>
#include "net.h"
#include "sdl_alloc.h"
#include "sdl_list.h"

/* ---- options (opts.c) ---- */
/*
 * Copy the caller's options over the defaults; see sheepdog.h for what 0
 * means in each field.  src may be NULL (all defaults).
 */
void sdl_opts_apply(struct sd_cluster_opts *dst, const struct sd_cluster_opts *src);

/* ---- transport table (transport.c has the socket one) ---- */
struct sdl_transport {
	/*
	 * Start a non-blocking connect to sa.  Returns the fd (>= 0) with
	 * *in_progress set when completion must be awaited (POLLOUT, then
	 * SO_ERROR), or -errno.
	 */
	int (*connect)(void *priv, const struct sockaddr *sa, socklen_t salen, int *in_progress);
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
	struct sdl_list link; /* pending / delayed / conn queues */
	struct sd_req hdr;
	const void *wbuf; /* hdr.data_length bytes when CMD_WRITE */
	void *rbuf;	  /* reply payload goes here ... */
	uint32_t rlen;	  /* ... at most this much */
	struct sd_rsp rsp;
	struct sdl_conn *conn;
	uint64_t deadline_ms;	 /* io timeout while on a connection */
	uint64_t retry_until_ms; /* 0 until the first failure */
	uint64_t not_before_ms;	 /* on the delayed list */
	int last_err;
	unsigned retries;
	sdl_req_done_fn done;
	void *priv;
};

enum { SDL_CONN_DOWN, SDL_CONN_CONNECTING, SDL_CONN_UP };

#define SDL_IBUF_SIZE 65536
#define SDL_MAX_SA    8 /* resolved socket addresses, over every listed address */

struct sdl_conn {
	struct sdl_engine *e;
	unsigned no;
	int fd;
	int state;
	int want_out; /* EPOLLOUT registered */
	int broken;   /* -errno noticed outside service */
	int sa_idx;
	uint64_t connect_deadline_ms;
	uint64_t next_attempt_ms;
	unsigned backoff_ms;
	int last_err;
	int nr_failures;	  /* connect attempts failed since last reply */
	struct sdl_list sendq;	  /* assigned, not completely sent */
	struct sdl_list inflight; /* sent, awaiting the reply */
	unsigned nr_reqs;
	size_t send_off; /* bytes of sendq head already sent */
	/* receive state machine */
	struct sd_rsp rhdr;
	size_t rhdr_got;
	struct sdl_req *rreq; /* reply being received, NULL: discard */
	uint32_t rpay_left;   /* payload bytes still to consume */
	uint32_t rpay_keep;   /* of those, bytes to copy into rreq */
	uint32_t rpay_pos;
	int in_payload;
	char *ibuf;
	size_t ipos, ilen;
	struct sdl_req hello; /* EXT_HELLO, first frame of each connection */
	int hello_addr;	      /* listed address it went to (hellos_at) */
};

struct sdl_engine {
	struct sd_cluster_opts opts;
	/*
	 * The cluster's addresses (sd_connect's list) and what they resolve
	 * to: sa[] in list order, sa_addr[i] the list entry of sa[i].  A
	 * connection starts on sa[no % nr_sa] and moves to the next sa[]
	 * (wrapping) whenever a connect fails or an established connection
	 * is lost, so a dead sheep is left for the next address.
	 */
	struct sdc_addr addr[SDC_MAX_ADDRS];
	int nr_addr;
	char addr_str[300]; /* the whole list, for messages */
	char one_str[SDC_MAX_ADDRS][280];
	struct sockaddr_storage sa[SDL_MAX_SA];
	socklen_t salen[SDL_MAX_SA];
	int sa_addr[SDL_MAX_SA];
	int nr_sa;
	const struct sdl_transport *tp;
	void *tp_priv;
	int epfd, tfd, efd;
	int efd_signaled;
	struct sdl_conn *conns;
	unsigned nr_conns;
	struct sdl_list pending; /* ready to be assigned */
	struct sdl_list delayed; /* waiting for not_before_ms */
	unsigned nr_inflight;	 /* on connections */
	uint32_t next_id;
	/*
	 * Random id of this handle, sent in SD_OP_EXT_HELLO first on every
	 * connection: our sheep keys shared-lock participants by it (one
	 * participant per handle, not per sheep node).
	 */
	uint64_t client_id;
	/*
	 * The sheep acknowledged the HELLO (1: it knows this tree's
	 * extension opcodes), answered it without the ack (-1: upstream,
	 * which crashes on them), or has not answered yet (0).  Extension
	 * opcodes are sent only when 1.
	 */
	int ext;
	/*
	 * HELLOs sent and not yet answered, per listed address: no other
	 * request goes to a connection on that address meanwhile, so none
	 * is answered by a sheep that forgot us before forgotten() ran (see
	 * below).  Connections to other addresses (other sheep) go on.
	 */
	unsigned hellos_at[SDC_MAX_ADDRS];
	int hello_ok; /* a HELLO was answered SUCCESS: the sheep keys by client */
	/*
	 * Called (inside a service round) when a HELLO reply says the sheep
	 * did not know this client (SD_EXT_HELLO_NEW: restarted, or forgot
	 * us after a long outage), or a connection died before its HELLO
	 * was answered (it may have said so): the layer above re-joins its
	 * shared vdis.  Set by cluster.c; NULL: nothing to do.
	 */
	void (*forgotten)(struct sdl_engine *e);
	/*
	 * Non-zero while a service round (or sd_disconnect) runs, and so
	 * while any completion callback runs: sync calls then fail with
	 * -EDEADLK instead of re-entering the loop.
	 */
	int in_service;
	/*
	 * Set when a completion callback of a round asked for a vdi kick
	 * (sdl_want_kick): the round kicks the vdis again before it ends.
	 */
	int kick_again;
	uint64_t timer_at_ms; /* armed expiry, 0 = disarmed */
	/*
	 * One service round of the whole handle, registered by the layer
	 * that owns it (cluster.c) like a request's ->done: the wait helper
	 * runs it so that a sync call also drives the layers above the
	 * engine.  NULL: sdl_engine_round() alone.
	 */
	int (*round)(struct sdl_engine *e);
	sd_log_cb log_cb;
	void *log_opaque;
	char errmsg[256];
};

/* ---- engine.c ---- */
uint64_t sdl_now_ms(void);
/*
 * Set up *e (no connection attempt yet).  0 or -errno; on failure *e holds
 * nothing to release.  addr is one address or a ','-separated list of
 * at most SDC_MAX_ADDRS (common/net.h sdc_parse_addr_list); each is
 * resolved (numeric addresses never reach the resolver, common/net.h
 * sdc_resolve).  A list entry that does not resolve is skipped (logged
 * at the first connect) as long as another one does.
 */
int sdl_engine_init(struct sdl_engine *e, const char *addr, const struct sd_cluster_opts *opts,
		    const struct sdl_transport *tp, void *tp_priv);
void sdl_engine_fini(struct sdl_engine *e);
/* Start connecting every pool connection; wait (connect timeout) until one is up. */
int sdl_engine_connect(struct sdl_engine *e);
/* Hand a request to the engine; never calls ->done from inside. */
void sdl_req_submit(struct sdl_engine *e, struct sdl_req *req);
/* Like sdl_req_submit, but not before delay_ms from now. */
void sdl_req_submit_delayed(struct sdl_engine *e, struct sdl_req *req, unsigned delay_ms);
/*
 * Take back a submitted request whose ->done has not run; ->done will not
 * run.  A reply arriving later is dropped.
 */
void sdl_req_cancel(struct sdl_engine *e, struct sdl_req *req);
/* Fail every request with ret (-ECANCELED) and run their ->done. */
void sdl_cancel_all(struct sdl_engine *e, int ret);

/*
 * A service round is split so that the owner (cluster.c) can run the
 * layers above in between: sdl_engine_poll() (socket events, timeouts,
 * reconnects, retries; may run ->done callbacks), sdl_engine_dispatch()
 * (assign and send queued requests), sdl_engine_arm_timer() (last).
 * sdl_engine_round() is the three in a row, with in_service held.
 */
int sdl_engine_poll(struct sdl_engine *e);
/*
 * The vdis need a kick (sdl_vdis_kick): a signal for the next round, or,
 * inside a round, another pass of that round's kick (completion callbacks
 * run after it).
 */
void sdl_want_kick(struct sdl_engine *e);
void sdl_engine_dispatch(struct sdl_engine *e);
void sdl_engine_arm_timer(struct sdl_engine *e);
int sdl_engine_round(struct sdl_engine *e);

/* Non-zero when at least one connection is up. */
int sdl_engine_up(struct sdl_engine *e);
/* Wake the service loop (eventfd). */
void sdl_signal(struct sdl_engine *e);

/*
 * 0 when a sync call may wait here; -EDEADLK (with errmsg naming what) when
 * called from inside a service round, i.e. from a completion callback.
 */
int sdl_sync_allowed(struct sdl_engine *e, const char *what);
/*
 * The one wait loop of the library: run service rounds (e->round) until
 * cond(arg) is true.  deadline_ms: absolute sdl_now_ms() time, 0 = none.
 * Returns 0, -ETIMEDOUT (deadline passed), -EDEADLK (see above) or -errno
 * for a broken handle.
 */
int sdl_wait_until(struct sdl_engine *e, int (*cond)(void *arg), void *arg, uint64_t deadline_ms);
/* sdl_wait_until() for an int flag that a callback sets. */
int sdl_wait(struct sdl_engine *e, const int *flag, uint64_t deadline_ms);
/*
 * Run one request synchronously.  Returns -errno or 0 (result in req->rsp).
 * With a deadline (0 = none), a request still pending then is cancelled
 * and -ETIMEDOUT returned.
 */
int sdl_run_req(struct sdl_engine *e, struct sdl_req *req, uint64_t deadline_ms);
/* sdl_run_req(), sent no earlier than delay_ms from now (a retry's pause). */
int sdl_run_req_after(struct sdl_engine *e, struct sdl_req *req, unsigned delay_ms,
		      uint64_t deadline_ms);
void sdl_init_hdr(struct sd_req *hdr, uint8_t opcode, uint16_t flags, uint32_t len);

void sdl_log(struct sdl_engine *e, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void sdl_set_err(struct sdl_engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
