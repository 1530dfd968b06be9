/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Connection sets shared between LUs: one libsheepdog handle (its sockets,
 * its epoll fd, timer and eventfd, its input buffers) for every LU of this
 * tgtd whose sheep addresses, connection options and pool= name are the
 * same.  Hundreds of LUs on one cluster then cost a handful of fds, not
 * seven each.
 *
 * A pool is reference counted: each LU's I/O path holds one reference on
 * an I/O pool, each LU's cluster reservation store (shared=1) one on a
 * reservation pool (a separate handle: the store's synchronous fallbacks
 * must never run I/O completions from inside a SCSI handler), and each
 * background close (bss_reap.c) one until its vdi is released.  Whoever
 * services a pool's handle holds a reference while it does, so the last
 * bss_pool_put() never runs inside that handle's service round.
 *
 * Fairness between the LUs of a pool: every I/O command is one acb; a pool
 * admits at most max_inflight acbs to the library at a time (its struct
 * bss_admit, bss_io.c); the rest wait on their own LU's queue, and a freed
 * slot goes to the next waiting LU in turn (round robin), so a LU with a
 * deep queue gets one slot per turn like any other.  Error isolation: a library request fails only its own acb;
 * a LU whose vdi fails (deleted, read-only, I/O errors) leaves the
 * connections to the others (only a transport failure, which every LU of
 * the pool would see anyway, resets a connection).
 *
 * Main thread only.
 */
#include "bss.h"

#include <syslog.h>

struct bss_pool {
	struct list_head link;
	unsigned int refs;
	int kind; /* enum bss_pool_kind */
	char addr[512];
	char name[BSS_POOL_NAME_MAX + 1];
	struct sd_cluster_opts copts;
	struct sd_cluster *cluster;
	int fd; /* the handle's fd, registered with tgt_event_add, or -1 */
	char label[128];
	unsigned int nr_errors; /* failed service calls, for rate-limited logs */
	unsigned int nr_lus;	/* LUs that hold it (not the closes) */
	uint64_t ctime;		/* the cluster's identity, once read */
	int have_ctime;

	struct bss_admit admit; /* BSS_POOL_IO: its LUs' commands (bss_io.c) */
	struct list_head vdis;	/* BSS_POOL_IO: struct bss_pool_vdi */
};

/*
 * A vdi a LU of the pool has open, or a background close still holds.
 * One handle is one client to the sheep: its locks and its place in the
 * shared-lock coherence protocol are per client, so two LUs of one vdi
 * on one handle would share a participant (the sheep would not tell one
 * that the other changed the index) and one's release would drop the
 * other's lock.  A second LU of a vdi therefore gets a pool of its own.
 */
struct bss_pool_vdi {
	struct list_head link;
	unsigned int users;
	char name[SD_MAX_VDI_LEN];
};

static LIST_HEAD(bss_pools);

static const char *const bss_pool_kinds[] = { "I/O", "reservations" };

static void bss_pool_log_cb(int level, const char *msg, void *opaque)
{
	struct bss_pool *p = opaque;

	if (level <= LOG_WARNING)
		eprintf("%s: %s\n", p->label, msg);
	else
		dprintf("%s: %s\n", p->label, msg);
}

static void bss_pool_event_cb(int fd, int events, void *data)
{
	struct bss_pool *p = data;
	int ret;

	(void)fd;
	(void)events;
	p->refs++; /* a close completed in this round may drop the last one */
	ret = sd_cluster_service(p->cluster);
	if (ret < 0 && (++p->nr_errors <= 10 || p->nr_errors % 1000 == 0))
		eprintf("%s: sd_cluster_service: %s\n", p->label, strerror(-ret));
	bss_reap_collect();
	bss_pool_put(p);
}

static struct bss_pool_vdi *bss_pool_vdi_find(struct bss_pool *p, const char *vdi)
{
	struct bss_pool_vdi *v;

	list_for_each_entry(v, &p->vdis, link)
		if (!strcmp(v->name, vdi))
			return v;
	return NULL;
}

void bss_pool_vdi_put(struct bss_pool *p, const char *vdi)
{
	struct bss_pool_vdi *v = bss_pool_vdi_find(p, vdi);

	if (v && !--v->users) {
		list_del(&v->link);
		free(v);
	}
}

static int bss_pool_matches(struct bss_pool *p, int kind, const char *addr, const char *name,
			    const struct sd_cluster_opts *copts, const char *vdi)
{
	if (vdi && bss_pool_vdi_find(p, vdi))
		return 0;
	return p->kind == kind && !strcmp(p->addr, addr) && !strcmp(p->name, name) &&
	       p->copts.nr_connections == copts->nr_connections &&
	       p->copts.connect_timeout_ms == copts->connect_timeout_ms &&
	       p->copts.io_timeout_ms == copts->io_timeout_ms &&
	       p->copts.retry_timeout_ms == copts->retry_timeout_ms &&
	       p->copts.max_inflight == copts->max_inflight;
}

struct bss_pool *bss_pool_get(struct bss_lu *blu, int kind)
{
	const struct bss_opts *o = &blu->opts;
	const char *vdi = kind == BSS_POOL_IO ? blu->path.vdi : NULL;
	struct bss_pool_vdi *v = NULL;
	struct sd_cluster_opts copts;
	struct bss_pool *p;
	int err;

	if (vdi) {
		v = calloc(1, sizeof(*v));
		if (!v)
			return NULL;
		v->users = 1;
		snprintf(v->name, sizeof(v->name), "%s", vdi);
	}

	sd_cluster_opts_init(&copts);
	copts.struct_size = sizeof(copts);
	/* the reservation store: one socket is plenty (a few small requests
	 * per reservation change and per changed-state check) */
	copts.nr_connections = kind == BSS_POOL_IO ? o->conns : 1;
	copts.connect_timeout_ms = o->connect_timeout_sec * 1000;
	copts.io_timeout_ms = o->timeout_sec * 1000;
	/* retry=0 stays 0: libsheepdog then fails a request at its first
	 * transport error (no retry window), as the bsopts docs promise */
	copts.retry_timeout_ms = o->retry_sec * 1000;
	if (kind == BSS_POOL_IO)
		copts.max_inflight = o->max_inflight;

	list_for_each_entry(p, &bss_pools, link) {
		if (bss_pool_matches(p, kind, blu->path.addr, o->pool, &copts, vdi)) {
			p->refs++;
			p->nr_lus++;
			if (v)
				list_add_tail(&v->link, &p->vdis);
			return p;
		}
	}

	p = calloc(1, sizeof(*p));
	if (!p) {
		free(v);
		return NULL;
	}
	INIT_LIST_HEAD(&p->vdis);
	p->kind = kind;
	p->copts = copts;
	p->fd = -1;
	bss_admit_init(&p->admit, copts.max_inflight);
	snprintf(p->addr, sizeof(p->addr), "%s", blu->path.addr);
	snprintf(p->name, sizeof(p->name), "%s", o->pool);
	snprintf(p->label, sizeof(p->label), "sheepdog %s pool%s%s at %.40s", bss_pool_kinds[kind],
		 p->name[0] ? " " : "", p->name, p->addr);
	p->cluster = sd_connect_opts(p->addr, &copts);
	if (!p->cluster) {
		err = errno;
		free(p);
		free(v);
		errno = err;
		return NULL;
	}
	sd_set_log_cb(p->cluster, bss_pool_log_cb, p);
	if (tgt_event_add(sd_cluster_fd(p->cluster), EPOLLIN, bss_pool_event_cb, p)) {
		eprintf("%s: tgt_event_add failed\n", p->label);
		sd_disconnect(p->cluster);
		free(p);
		free(v);
		errno = EIO;
		return NULL;
	}
	p->fd = sd_cluster_fd(p->cluster);
	p->refs = 1;
	p->nr_lus = 1;
	if (v)
		list_add_tail(&v->link, &p->vdis);
	list_add_tail(&p->link, &bss_pools);
	eprintf("%s: %u connection%s (shared by the LUs with these options)\n", p->label,
		copts.nr_connections, copts.nr_connections == 1 ? "" : "s");
	return p;
}

void bss_pool_hold(struct bss_pool *p)
{
	p->refs++;
}

void bss_pool_put(struct bss_pool *p)
{
	int ret;

	if (--p->refs)
		return;
	list_del(&p->link);
	while (!list_empty(&p->vdis)) { /* every user gives its own back */
		struct bss_pool_vdi *v = list_first_entry(&p->vdis, struct bss_pool_vdi, link);

		list_del(&v->link);
		free(v);
	}
	if (p->fd >= 0)
		tgt_event_del(p->fd);
	ret = sd_disconnect(p->cluster);
	if (ret)
		eprintf("%s: disconnect: %s\n", p->label, strerror(-ret));
	eprintf("%s: closed (no LU uses it any more)\n", p->label);
	free(p);
}

void bss_pool_lu_put(struct bss_pool *p)
{
	p->nr_lus--;
	bss_pool_put(p);
}

struct sd_cluster *bss_pool_cluster(const struct bss_pool *p)
{
	return p->cluster;
}

struct bss_admit *bss_pool_admit(struct bss_pool *p)
{
	return &p->admit;
}

int bss_pool_fd(const struct bss_pool *p)
{
	return p->fd;
}

int bss_pool_ctime(const struct bss_pool *p, uint64_t *ctime)
{
	if (!p->have_ctime)
		return 0;
	*ctime = p->ctime;
	return 1;
}

void bss_pool_set_ctime(struct bss_pool *p, uint64_t ctime)
{
	p->ctime = ctime;
	p->have_ctime = 1;
}
