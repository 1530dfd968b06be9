/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fake sheep for libsheepdog unit tests.  The transport hands the library
 * one end of a socketpair per connection; the test holds the other end.
 * Every request the library sends is parsed and *held* until the test
 * answers it (fake_reply, or fake_serve with the built-in object model),
 * so a test decides reply order, errors and disconnects.
 *
 * Single-threaded: call fake_pump() to move bytes both ways and run
 * sd_cluster_service().
 */
#ifndef SDL_FAKE_H
#define SDL_FAKE_H

#include <stddef.h>
#include <stdint.h>
#include "sdl_priv.h"

#define FAKE_MAX_CONNS 16
#define FAKE_MAX_OBJS  256
#define FAKE_MAX_VDIS  16

struct fake_req {
	struct fake_req *next;
	struct sd_req hdr;
	char *data; /* hdr.data_length bytes when CMD_WRITE */
	int conn;
};

struct fake_obj {
	uint64_t oid;
	uint32_t len;
	char *data;
};

struct fake_vdi {
	char name[SD_MAX_VDI_LEN];
	uint32_t vid; /* working vid */
};

struct fake {
	struct {
		int fd; /* server end, -1 when closed */
		char *in;
		size_t inlen, incap;
		char *out;
		size_t outlen, outoff, outcap;
		unsigned port; /* TCP port the library connected to */
	} conns[FAKE_MAX_CONNS];
	int nr_conns;
	int nr_connects;       /* successful connects so far */
	int refuse;	       /* fail connects with ECONNREFUSED */
	int blackhole;	       /* drop every byte received (HELLOs too): a lost path */
	unsigned refuse_port;  /* ... only those to this TCP port (0: none) */
	struct fake_req *held; /* arrival order */
	struct fake_obj objs[FAKE_MAX_OBJS];
	int nr_objs;
	struct fake_vdi vdis[FAKE_MAX_VDIS];
	int nr_vdis;
	unsigned shift;		 /* object size of every vdi */
	int auto_serve;		 /* answer everything at once (for sync calls) */
	int fail_send;		 /* fail the next n sends with EPIPE */
	int noobj_inode_reads;	 /* answer the next n inode reads with NO_OBJ */
	int stale_partial_reads; /* answer the next n inode reads that are not
				    the whole inode INODE_INVALIDATED (a stale
				    participant: only the refresh read serves) */
	int nr_releases;	 /* RELEASE_VDI requests served */
	int nr_seen;		 /* requests received so far (EXT_HELLO not counted) */
	int nr_hellos;		 /* EXT_HELLO frames, answered at once */
	uint64_t last_client;	 /* client id of the last EXT_HELLO */
	int no_ext;		 /* answer HELLO as upstream: no ack, no extensions */
	uint32_t hello_flags;	 /* rsp.hello.flags of EXT_HELLO replies */
	int nr_shared_locks;	 /* LOCK_VDI type SHARED requests served */
	int nr_excl_locks;	 /* LOCK_VDI type EXT_EXCLUSIVE requests served */
	int nr_inode_reads;	 /* READ_OBJs of inodes served, and their bytes */
	uint64_t inode_read_bytes;
	int nr_excl_releases; /* RELEASE_VDI type EXT_EXCLUSIVE requests served */
	uint32_t excl_result; /* answer LOCK_VDI EXT_EXCLUSIVE with this (0: as any lookup) */
};

extern const struct sdl_transport fake_transport;

void fake_init(struct fake *f, unsigned shift);
void fake_fini(struct fake *f);
/* Connect a cluster through f (opts may be NULL). */
struct sd_cluster *fake_connect(struct fake *f, const struct sd_cluster_opts *opts);
/* The same with the library's address string (an address list, say). */
struct sd_cluster *fake_connect_addr(struct fake *f, const char *addr,
				     const struct sd_cluster_opts *opts);

/* Move bytes between the fake and its sockets; non-zero if any moved. */
int fake_io(struct fake *f);
/* Move bytes and service the library until quiet (at most ms). */
void fake_pump(struct fake *f, struct sd_cluster *c, int ms);
int fake_nr_held(const struct fake *f);
/* nth held request (0-based, arrival order), or NULL. */
struct fake_req *fake_held(struct fake *f, int n);
/* First held request with this opcode (and oid if oid != ~0). */
struct fake_req *fake_find(struct fake *f, uint8_t opcode, uint64_t oid);
/* Answer and forget r.  data may be NULL (then no payload; len is the vid
 * of a LOCK_VDI/GET_VDI_INFO, rsp.obj.offset of an EXT_CMP_WRITE_OBJ). */
void fake_reply(struct fake *f, struct fake_req *r, uint32_t result, const void *data,
		uint32_t len);
/* Answer r from the object model. */
void fake_serve(struct fake *f, struct fake_req *r);
/* Serve every held request, newest first (out of order on purpose). */
int fake_serve_all(struct fake *f);
/* Queue len raw bytes to connection i's client (no-op if it is closed): any
 * reply frame, or garbage (tests/fuzz/fuzz_lib_reply.c). */
void fake_send_raw(struct fake *f, int i, const void *buf, size_t len);
/* Drop r without answering. */
void fake_drop(struct fake *f, struct fake_req *r);
/* Close the server end of connection i. */
void fake_kill_conn(struct fake *f, int i);
/* Close every live connection. */
void fake_kill_all(struct fake *f);

/* Object model */
struct fake_obj *fake_obj(struct fake *f, uint64_t oid);
struct fake_obj *fake_obj_create(struct fake *f, uint64_t oid, uint32_t len);
/* New working vdi of size bytes; returns its vid (parent: clone source or 0). */
uint32_t fake_vdi_create(struct fake *f, const char *name, uint64_t size, uint32_t parent);
/* Snapshot name: the working vid becomes a snapshot, a new working vid is made. */
uint32_t fake_vdi_snapshot(struct fake *f, const char *name);
uint32_t *fake_index(struct fake *f, uint32_t vid);
uint32_t fake_obj_size(const struct fake *f);

#endif
