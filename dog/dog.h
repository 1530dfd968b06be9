/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dog: private header of the admin CLI.
 *
 * dog is a single-threaded program built on libsheepdog, with no client of
 * its own: one struct sd_cluster, connected lazily on the first request to
 * the -a/-p address, carries everything.  Raw admin requests go through the
 * library's synchronous sd_run_sdreq() (dog_exec below); vdi data goes
 * through the vdi API (sd_vdi_open, sd_vdi_aio_read/write) driven by dog's
 * own poll loop (transfer.c), so copy-on-write, inode updates and reloads
 * have one implementation, the library's.  Like upstream dog, the handle
 * does not retry: a request fails at the first error.  Nothing here is
 * thread-safe and nothing needs to be.
 *
 * Conventions: helpers returning `int` return 0 or -errno for local and
 * transport failures; functions named *_res return a sheep SD_RES_* code
 * (>= 0) or a negative errno for transport failures; command handlers
 * (dog_cmd_*) return a process exit code (DOG_EXIT_*), having printed the
 * reason on stderr.
 */
#ifndef DOG_DOG_H
#define DOG_DOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sheepdog/proto.h>

struct sd_cluster;

/*
 * Exit codes, with the values and the uses of upstream dog 1.0.1, checked
 * case by case against its binary (docs/upstream.md, "dog exit codes,
 * checked against 1.0.1") so scripts keep working.  1.0.1 uses 3 and 5 only
 * for vdi setattr/getattr: a missing or existing vdi or snapshot is 1
 * elsewhere, and vdi delete of a missing vdi or snapshot is 0.
 */
#define DOG_EXIT_SUCCESS 0  /* command executed successfully */
#define DOG_EXIT_FAILURE 1  /* the command failed (sheep's answer, bad option value) */
#define DOG_EXIT_SYSFAIL 2  /* no sheep to ask for the node list / cluster state */
#define DOG_EXIT_EXISTED 3  /* setattr -x: the attribute already exists */
#define DOG_EXIT_MISSING 5  /* setattr/getattr: no such vdi or attribute */
#define DOG_EXIT_USAGE	 64 /* invalid command, arguments or options */

/* Everything the option parser collected for one subcommand. */
struct dog_opts {
	bool raw;		      /* -r: machine-readable output */
	bool prealloc;		      /* -P: allocate every object now */
	bool force;		      /* -f: do not ask for confirmation */
	bool verbose;		      /* -v */
	bool has_copies;	      /* -c given */
	uint8_t copies;		      /* -c N, or d+p for N:M erasure coding */
	uint8_t copy_policy;	      /* -c d:p */
	uint8_t block_shift;	      /* -z: 0 = default */
	uint32_t snapid;	      /* -s NUMBER */
	char tag[SD_MAX_VDI_TAG_LEN]; /* -s TEXT, NUL-terminated */
	bool has_snap;		      /* -s given */
	char store[16];		      /* -b: store driver for cluster format */
	bool exist;		      /* -e: vdi check only checks that objects exist */
	bool exclusive;		      /* -x: setattr fails if the key exists */
	bool delete_key;	      /* -d: setattr deletes the key */
};

/* ---- dog.c: the command line ---- */

/* A command line parsed by dog_cmdline_parse(). */
struct dog_cmdline {
	int (*fn)(const struct dog_opts *o, int argc, char **argv); /* the handler */
	struct dog_opts o;
	const char *addr; /* -a (points into argv), NULL: the default */
	unsigned port;	  /* -p, 0: the default */
	char **av;	  /* malloc'd; the handler's words: av[first .. first + nargs) */
	int first, nargs;
};

/*
 * Parse argv as "dog COMMAND SUBCOMMAND [options] [arguments]" (upstream
 * syntax; options anywhere).  Returns -1 with *cl filled: run cl->fn, then
 * dog_cmdline_free(cl).  Otherwise the exit code, with the help or the usage
 * error already printed and nothing to free.  Connects to nothing.  Uses
 * getopt's globals: one parse at a time (tests/fuzz/fuzz_dog_args.c runs
 * it repeatedly).
 */
int dog_cmdline_parse(int argc, char **argv, struct dog_cmdline *cl);
void dog_cmdline_free(struct dog_cmdline *cl);

/* ---- util.c: parsing and formatting (pure; unit-tested) ---- */

/*
 * Parse a size such as "10G", "512", "1.5MB", "4k": an unsigned decimal with
 * an optional fraction and an optional K/M/G/T/P suffix (case-insensitive,
 * powers of 1024) itself optionally followed by 'B'; a lone 'B' means bytes.
 * Returns 0 with *out set, -EINVAL for malformed input, -ERANGE on overflow.
 */
int dog_parse_size(const char *s, uint64_t *out);

/* Parse an unsigned decimal integer in [min, max]; 0 or -EINVAL/-ERANGE. */
int dog_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * Human-readable size as upstream's strnumber: MB, GB, TB, PB, EB (powers of
 * 1024, starting at MB), "%.1f" below 10 units, "%.0f" from 10 on; with raw
 * set, the plain byte count.  Writes into buf (NUL-terminated, truncated to
 * len) and returns buf.
 */
const char *dog_strnumber(uint64_t size, bool raw, char *buf, size_t len);

/* Print name to f, with each whitespace character and '\' escaped by '\'. */
void dog_fput_escaped(FILE *f, const char *name);

/* "N" replication or "d:p" erasure coding, as upstream's redundancy_scheme. */
const char *dog_redundancy_str(uint8_t copies, uint8_t policy, char *buf, size_t len);

/*
 * Parse "-c" values: "N" (1..31 replicas) or "d:p" (d in 2,4,8,16; p in 1..15,
 * p < d).  Returns 0 and fills copies/policy, or -EINVAL.
 */
int dog_parse_copies(const char *s, uint8_t *copies, uint8_t *policy);

/*
 * Progress display on stderr for long transfers, only when stderr is a
 * terminal, in upstream's look:
 *    45.0 % [===============>                  ] 180 MB / 400 MB
 * the bar filling the terminal's width but 30 columns.
 * dog_progress_update() redraws at most a few times a second, starting
 * after the first 200 ms (short transfers show nothing); dog_progress_end()
 * draws the final state and ends the line if anything was drawn.
 */
struct dog_progress {
	bool enabled;
	bool drawn; /* something was drawn: end() finishes the line */
	uint64_t total;
	int64_t last_ms;
};
void dog_progress_begin(struct dog_progress *p, uint64_t total);
void dog_progress_update(struct dog_progress *p, uint64_t done);
void dog_progress_end(struct dog_progress *p, uint64_t done);

#define DOG_PROGRESS_MIN_WIDTH 40
#define DOG_PROGRESS_MAX_WIDTH 512
/*
 * One progress line for a terminal `width` columns wide (clamped to
 * DOG_PROGRESS_MIN_WIDTH and to len - 1), blank-padded to width - 1
 * columns, without "\r".  len must be at least 1.  Returns its length.
 */
size_t dog_progress_format(char *buf, size_t len, uint64_t done, uint64_t total, int width);

/* ---- conn.c: the libsheepdog handle and request helpers ---- */

/*
 * Target address: `addr` is a host, IPv4/IPv6 literal or "unix:/path";
 * port 0 keeps the default (7000).  Returns 0 or -EINVAL with a message
 * already printed.
 */
int dog_conn_configure(const char *addr, unsigned port);

/* "127.0.0.1:7000" or "unix:/path" of the configured target. */
const char *dog_conn_name(void);

/*
 * The handle, connected on first use (errors of sd_connect_opts are printed
 * as "Failed to connect to ADDR: reason").  NULL when the sheep is
 * unreachable.  Never disconnect it: dog_conn_close() does, at exit.
 */
struct sd_cluster *dog_cluster(void);

/* Disconnect the handle (idempotent; every vdi must be closed). */
void dog_conn_close(void);

/*
 * Print msg on stdout and read an answer from stdin; anything but "yes"
 * closes the connection and exits the process with DOG_EXIT_SUCCESS, as
 * upstream's confirm().
 */
void dog_confirm(const char *msg);

/*
 * Send one request and wait for the reply (sd_run_sdreq).  `data` is the
 * payload when SD_FLAG_CMD_WRITE is set; otherwise at most rbuf_len reply
 * bytes are stored in rbuf (rbuf may be NULL: the reply payload is dropped).
 * A write request keeps no reply payload (rbuf must be NULL: -EINVAL).
 * Connects on first use.  On a transport failure the reason is printed and
 * a negative errno returned; otherwise 0 with the sheep result in
 * rsp->result.
 */
int dog_exec(struct sd_req *req, const void *data, void *rbuf, size_t rbuf_len, struct sd_rsp *rsp);

/*
 * Send one request without payload (reply payload dropped) to node n over a
 * connection of its own, to the address of the node list, and close it.
 * Transport failures are printed and returned as a negative errno;
 * otherwise 0 with the sheep result in rsp->result.
 */
int dog_exec_node(const struct sd_node *n, struct sd_req *req, struct sd_rsp *rsp);

/* Initialise a request header for `opcode`. */
void dog_init_req(struct sd_req *req, uint8_t opcode);

/*
 * Look a vdi up with GET_VDI_INFO (name, snapid, tag; tag may be NULL/"").
 * Returns the SD_RES_* result (vid set on success) or -errno.
 */
int dog_find_vdi_res(const char *name, uint32_t snapid, const char *tag, uint32_t *vid);

/*
 * dog_find_vdi_res, printing "Failed to open VDI NAME[ (snapshot ...)]:
 * reason" on failure.  Returns a DOG_EXIT_* code (*vid set on success):
 * FAILURE for any failure, transport included (as 1.0.1), USAGE for a
 * name that cannot be sent.
 */
int dog_vdi_lookup(const char *name, uint32_t snapid, const char *tag, uint32_t *vid);

/*
 * Object I/O for admin commands (inodes, preallocation).  Vdi data goes
 * through the library's vdi API instead (transfer.c).  Each returns an
 * SD_RES_* result or -errno (transport).
 */
int dog_read_obj_res(uint64_t oid, void *buf, uint32_t len, uint64_t offset, bool direct);
int dog_write_obj_res(uint64_t oid, uint64_t cow_oid, const void *buf, uint32_t len,
		      uint64_t offset, uint16_t flags, uint8_t copies, uint8_t policy, bool create);

/*
 * An inode as dog uses it: the header plus the flat data_vdi_id array for
 * the objects the vdi spans (vids[0 .. nr_objs)); owned by the caller and
 * released with dog_inode_free().
 */
struct dog_inode {
	struct sd_inode_header hdr;
	uint32_t vid;
	uint64_t obj_size;
	uint64_t nr_objs;
	uint32_t *vids;
};

/*
 * Find the vdi (name, snapid, tag) and read its inode; with index set, also
 * the data_vdi_id entries.  Prints "Failed to open VDI NAME: reason" on
 * failure and returns a DOG_EXIT_* code (DOG_EXIT_SUCCESS when ino is set).
 */
int dog_inode_open(const char *name, uint32_t snapid, const char *tag, bool index,
		   struct dog_inode *ino);
void dog_inode_free(struct dog_inode *ino);

/* Write data_vdi_id[start .. end) of ino to sheep.  SD_RES_* or -errno. */
int dog_inode_write_vids_res(const struct dog_inode *ino, uint64_t start, uint64_t end,
			     uint16_t flags);

/* Exit code for a sheep result: FAILURE, or SYSFAIL for a negative errno. */
int dog_res_to_exit(int res);

/* Exit code for a negative errno of the library: SYSFAIL for transport, else 1. */
int dog_errno_to_exit(int err);

/*
 * CLUSTER_INFO.  On success *ci is the malloc'ed record (caller frees), or
 * NULL when the cluster is not formatted.  Returns a DOG_EXIT_* code.
 */
int dog_cluster_info(struct sd_cluster_info **ci);

/*
 * The prelude of commands that need the node list: GET_NODE_LIST then
 * STAT_CLUSTER.  On success *nodes (malloc'ed, caller frees) holds *nr
 * entries and *epoch the cluster epoch.  Returns a DOG_EXIT_* code.
 */
int dog_node_list(struct sd_node **nodes, unsigned *nr, uint32_t *epoch);

/* Sum of the sizes of all working vdis (not snapshots).  DOG_EXIT_* code. */
int dog_total_vdi_size(uint64_t *total);

/* ---- transfer.c: pipelined vdi data through the library's vdi API ---- */

/*
 * Copy bytes [offset, offset + len) of the open vdi (sd_vdi_open on
 * dog_cluster()) to stdout, or len bytes (fewer at end of input) from stdin
 * into it, with several requests in flight and progress on a terminal.
 * `name` is for messages.  Prints the reason on failure; DOG_EXIT_* code.
 */
struct sd_vdi;
int dog_vdi_to_stdout(struct sd_vdi *vdi, const char *name, uint64_t offset, uint64_t len);
int dog_stdin_to_vdi(struct sd_vdi *vdi, const char *name, uint64_t offset, uint64_t len);
/* Copy bytes [0, len) of src into dst the same way (clone -P). */
int dog_vdi_copy(struct sd_vdi *src, struct sd_vdi *dst, const char *name, uint64_t len);

/* ---- command handlers: argv holds the positional arguments only ---- */
int dog_cmd_cluster_format(const struct dog_opts *o, int argc, char **argv);
int dog_cmd_cluster_info(const struct dog_opts *o, int argc, char **argv);
int dog_cmd_cluster_shutdown(const struct dog_opts *o, int argc, char **argv);
int dog_cmd_node_list(const struct dog_opts *o, int argc, char **argv);
int dog_cmd_vdi_create(const struct dog_opts *o, int argc, char **argv);
int dog_cmd_vdi_list(const struct dog_opts *o, int argc, char **argv);
int dog_cmd_vdi_delete(const struct dog_opts *o, int argc, char **argv);
int dog_cmd_vdi_snapshot(const struct dog_opts *o, int argc, char **argv);
int dog_cmd_vdi_clone(const struct dog_opts *o, int argc, char **argv);
int dog_cmd_vdi_resize(const struct dog_opts *o, int argc, char **argv);
int dog_cmd_vdi_rollback(const struct dog_opts *o, int argc, char **argv);
int dog_cmd_node_info(const struct dog_opts *o, int argc, char **argv);
int dog_cmd_vdi_read(const struct dog_opts *o, int argc, char **argv);
int dog_cmd_vdi_write(const struct dog_opts *o, int argc, char **argv);
int dog_cmd_vdi_check(const struct dog_opts *o, int argc, char **argv);
int dog_cmd_vdi_setattr(const struct dog_opts *o, int argc, char **argv);
int dog_cmd_vdi_getattr(const struct dog_opts *o, int argc, char **argv);

/* Print "ERR" style messages on stderr (printf-checked). */
void dog_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
