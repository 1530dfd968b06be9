/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sheepfs: a FUSE file system over libsheepdog (private header).
 *
 * Threads.  libsheepdog is not thread-safe per handle, and FUSE runs its
 * requests on several worker threads.  One service thread (service.c) owns
 * the struct sd_cluster and every struct sd_vdi: FUSE workers queue a
 * struct sfs_call and sleep on it; the service thread submits volume I/O
 * with the library's async calls, so the requests of several workers (and
 * several processes) are pipelined on one connection pool, and runs control
 * calls (info text, attach, detach, reconnect) one at a time.  Completions
 * wake the worker that queued the call.
 *
 * Locking: g_sfs.lock guards the call queue and the volume list (names,
 * sizes, open counts), which FUSE workers read for getattr and readdir.
 * The vdi handles themselves are touched only by the service thread.
 */
#ifndef SHEEPFS_SHEEPFS_H
#define SHEEPFS_SHEEPFS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sheepdog/sheepdog.h>

/* An attached vdi: volume/NAME. */
struct sfs_volume {
	struct sfs_volume *next;
	char name[SD_MAX_VDI_LEN + SD_MAX_VDI_TAG_LEN + 2]; /* file name, as attached */
	char vdi[SD_MAX_VDI_LEN];			    /* vdi name */
	char tag[SD_MAX_VDI_TAG_LEN];			    /* snapshot tag or "" */
	uint32_t snapid;				    /* snapshot id or 0 */
	uint64_t size;					    /* st_size */
	bool readonly;					    /* a snapshot */
	unsigned nr_open;				    /* open file handles */
	struct sd_vdi *handle;				    /* service thread only */
};

enum sfs_call_kind { SFS_READ, SFS_WRITE, SFS_FLUSH, SFS_CONTROL };

/* One request from a FUSE worker to the service thread. */
struct sfs_call {
	struct sfs_call *next;
	enum sfs_call_kind kind;
	struct sfs_volume *vol; /* READ, WRITE, FLUSH */
	void *buf;
	size_t count;
	uint64_t offset;
	/* CONTROL: runs on the service thread; returns 0 or -errno */
	int (*fn)(struct sfs_call *call);
	const char *arg; /* CONTROL argument (a line written to a file) */
	char *text;	 /* CONTROL output (malloc'ed), e.g. an info file */
	size_t text_len;
	int ret;
	bool done;
	pthread_cond_t cond;
};

struct sfs_state {
	pthread_mutex_t lock;
	struct sfs_call *queue, **queue_tail;
	struct sfs_volume *volumes;
	int wake_fd; /* eventfd: the queue has calls, or stop */
	bool stop;
	pthread_t thread;
	bool thread_started;
	/* service thread only (and main before the thread starts) */
	struct sd_cluster *cluster;
	char addr[256];
	struct sd_cluster_opts opts;
};

extern struct sfs_state g_sfs;

/* Logging: stderr (foreground) and syslog.  printf-checked. */
void sfs_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* service.c */
int sfs_connect(const char *addr);	 /* main, before the thread */
int sfs_service_start(void);		 /* 0 or -errno */
void sfs_service_stop(void);		 /* flush and close vdis, disconnect */
int sfs_call_run(struct sfs_call *call); /* queue, wait, return call->ret */
int sfs_control(int (*fn)(struct sfs_call *), const char *arg, char **text, size_t *len);
int sfs_reconnect_cb(struct sfs_call *call); /* config/sheep_info */

/* volume.c (attach/detach run as control calls on the service thread) */
int sfs_attach_cb(struct sfs_call *call);
int sfs_detach_cb(struct sfs_call *call);
int sfs_parse_volume(const char *spec, struct sfs_volume *v);
struct sfs_volume *sfs_volume_find(const char *name); /* with g_sfs.lock held */
int sfs_volume_reopen_all(struct sd_cluster *c, struct sd_vdi **handles, unsigned max);
void sfs_volume_close_all(void);
int sfs_volume_read(struct sfs_volume *v, char *buf, size_t count, uint64_t off);
int sfs_volume_write(struct sfs_volume *v, const char *buf, size_t count, uint64_t off);
int sfs_volume_fsync(struct sfs_volume *v);
int sfs_volume_truncate(struct sfs_volume *v, uint64_t size);

/* info.c: text of the read-only files, as control calls */
int sfs_cluster_info_cb(struct sfs_call *call);
int sfs_node_list_cb(struct sfs_call *call);
int sfs_vdi_list_cb(struct sfs_call *call);
int sfs_sheep_info_cb(struct sfs_call *call);

/* An errno for the application from a library error: transport trouble is EIO. */
int sfs_io_errno(int ret);

#endif
