// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Inode coherence between gateways (the shared lock of protocol section
 * 6.7), keyed by client instead of by sheep node.
 *
 * A participant is a (VID, client) pair: the client id a connection gave
 * in SD_OP_EXT_HELLO, or 0 for every connection that gave none (tgt's
 * built-in client, upstream dog: one "node" participant, upstream's
 * semantics).  LOCK_VDI type SHARED joins, RELEASE_VDI leaves (counted:
 * two handles of one client on one VID join twice).  States:
 *
 *   MODIFIED     wrote the index last; every other participant is
 *                INVALIDATED (invariant)
 *   SHARED       its copy of the index is current
 *   INVALIDATED  its copy is stale: TGT-flagged I/O on the VID fails with
 *                INODE_INVALIDATED until it does the refresh read
 *
 * The index of a VID changes only under the vdi lock, and the refresh read
 * (inode, offset 0, SD_INODE_INDEX_END bytes) is served under it too, so
 * "invalidate" and "validate" are ordered with the changes they describe.
 *
 * A client whose last connection closes is detached: its participations
 * become INVALIDATED (if it comes back it must refresh first) and are
 * forgotten once detached for SHEEP_COH_DETACH_MS (gateway death).  What
 * a restart or that forgetting loses, the client puts back: the HELLO of
 * a client with no other connection is answered SD_EXT_HELLO_NEW, and the
 * client re-joins (RELEASE + LOCK_VDI SHARED) and refreshes every vdi it
 * shares before it trusts its index again.
 *
 * The exclusive lock (SD_LOCK_TYPE_EXT_EXCLUSIVE, a gateway with a
 * write-back cache) lives next to the participants of its vid: one holder
 * client, granted while no other client holds it or is an attached
 * participant.  A detached participant does not block it (a dead shared
 * gateway must not pin the vdi for SHEEP_COH_DETACH_MS); it stays
 * INVALIDATED, so when it comes back its I/O and its re-join are refused.
 * While held, other clients' shared locks and TGT-flagged I/O on the vid
 * get VDI_LOCKED.  Unlike a participation it is not kept for a client
 * that went away: the holder's last connection closing releases it, so a
 * killed gateway can come back at once (and a live one re-takes it after
 * its HELLO is answered NEW).  A snapshot moves it to the new working vid.
 *
 * Everything here is under one mutex of its own, taken after the vdi lock
 * and io_lock and never held while calling out.  Callable from the loop
 * thread (HELLO, connection close, the inline read check) and workers.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sheep.h"

#define SHEEP_COH_DETACH_MS 120000u

struct coh_part {
	uint64_t client;
	uint8_t state;
	uint8_t detached;
	unsigned refs;
	uint64_t detached_at; /* ms, when detached */
};

struct coh_vid {
	uint32_t vid;
	uint32_t successor; /* the working vid that replaced it (snapshot), 0: none */
	uint64_t excl;	    /* client holding the exclusive lock, 0: none */
	unsigned nr, cap;
	struct coh_part *p;
};

struct coh_client {
	uint64_t client;
	unsigned conns;
};

static struct {
	pthread_mutex_t lock;
	struct coh_vid *v;
	size_t nr, cap;
	struct coh_client *cl;
	size_t nr_cl, cap_cl;
	uint64_t (*now_ms)(void);
} g_coh = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t coh_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t coh_now(void)
{
	return g_coh.now_ms ? g_coh.now_ms() : coh_clock_ms();
}

void sheep_coh_set_clock(uint64_t (*now_ms)(void))
{
	g_coh.now_ms = now_ms;
}

static struct coh_vid *coh_find_vid(uint32_t vid)
{
	size_t i;

	for (i = 0; i < g_coh.nr; i++)
		if (g_coh.v[i].vid == vid)
			return &g_coh.v[i];
	return NULL;
}

static struct coh_part *coh_find_part(struct coh_vid *v, uint64_t client)
{
	unsigned i;

	for (i = 0; v && i < v->nr; i++)
		if (v->p[i].client == client)
			return &v->p[i];
	return NULL;
}

/* Drop v's entry once nothing is left in it (v may then point at another). */
static void coh_drop_vid_if_empty(struct coh_vid *v)
{
	if (v->nr || v->excl)
		return;
	free(v->p);
	*v = g_coh.v[--g_coh.nr];
}

static void coh_remove_part(struct coh_vid *v, struct coh_part *p)
{
	*p = v->p[--v->nr];
	coh_drop_vid_if_empty(v);
}

/* The entry of vid, made if missing; NULL without memory. */
static struct coh_vid *coh_get_vid(uint32_t vid)
{
	struct coh_vid *v = coh_find_vid(vid);

	if (v)
		return v;
	if (g_coh.nr == g_coh.cap) {
		size_t cap = g_coh.cap ? g_coh.cap * 2 : 16;
		struct coh_vid *nv = realloc(g_coh.v, cap * sizeof(*nv));

		if (!nv)
			return NULL;
		g_coh.v = nv;
		g_coh.cap = cap;
	}
	v = &g_coh.v[g_coh.nr++];
	memset(v, 0, sizeof(*v));
	v->vid = vid;
	return v;
}

/* Forget participants detached for too long (v may disappear). */
static void coh_gc(struct coh_vid *v)
{
	uint64_t now = coh_now();
	unsigned i = 0;

	while (v && i < v->nr) {
		struct coh_part *p = &v->p[i];

		if (p->detached && now - p->detached_at >= SHEEP_COH_DETACH_MS) {
			if (v->nr == 1) {
				coh_remove_part(v, p);
				return;
			}
			coh_remove_part(v, p);
			continue;
		}
		i++;
	}
}

int sheep_coh_lock_shared(uint32_t vid, uint64_t client)
{
	struct coh_vid *v;
	struct coh_part *p;
	unsigned i;
	int modified = 0;

	pthread_mutex_lock(&g_coh.lock);
	coh_gc(coh_find_vid(vid));
	v = coh_find_vid(vid);
	/* another gateway has the vdi to itself */
	if (v && v->excl && v->excl != client) {
		pthread_mutex_unlock(&g_coh.lock);
		return SD_RES_VDI_LOCKED;
	}
	p = coh_find_part(v, client);
	if (p) {
		p->refs++;
		pthread_mutex_unlock(&g_coh.lock);
		return SD_RES_SUCCESS;
	}
	v = coh_get_vid(vid);
	if (!v)
		goto nomem;
	if (v->nr == v->cap) {
		unsigned cap = v->cap ? v->cap * 2 : 4;
		struct coh_part *np = realloc(v->p, cap * sizeof(*np));

		if (!np) {
			coh_drop_vid_if_empty(v);
			goto nomem;
		}
		v->p = np;
		v->cap = cap;
	}
	for (i = 0; i < v->nr; i++)
		modified |= v->p[i].state == SHEEP_COH_MODIFIED;
	p = &v->p[v->nr++];
	memset(p, 0, sizeof(*p));
	p->client = client;
	p->refs = 1;
	/* 6.7: the first starts MODIFIED; later ones must refresh if anyone wrote */
	p->state = v->nr == 1 ? SHEEP_COH_MODIFIED
			      : (modified ? SHEEP_COH_INVALIDATED : SHEEP_COH_SHARED);
	pthread_mutex_unlock(&g_coh.lock);
	return SD_RES_SUCCESS;
nomem:
	pthread_mutex_unlock(&g_coh.lock);
	return SD_RES_NO_MEM;
}

void sheep_coh_release(uint32_t vid, uint64_t client)
{
	struct coh_vid *v;
	struct coh_part *p;

	pthread_mutex_lock(&g_coh.lock);
	v = coh_find_vid(vid);
	p = coh_find_part(v, client);
	if (p && !--p->refs)
		coh_remove_part(v, p);
	pthread_mutex_unlock(&g_coh.lock);
}

int sheep_coh_state(uint32_t vid, uint64_t client)
{
	struct coh_part *p;
	int s;

	pthread_mutex_lock(&g_coh.lock);
	p = coh_find_part(coh_find_vid(vid), client);
	s = p ? p->state : -1;
	pthread_mutex_unlock(&g_coh.lock);
	return s;
}

int sheep_coh_check(uint32_t vid, uint64_t client)
{
	struct coh_vid *v;
	struct coh_part *p;
	int r = SD_RES_SUCCESS;

	pthread_mutex_lock(&g_coh.lock);
	v = coh_find_vid(vid);
	if (v && v->excl && v->excl != client) {
		r = SD_RES_VDI_LOCKED;
	} else {
		p = coh_find_part(v, client);
		if (p && p->state == SHEEP_COH_INVALIDATED)
			r = SD_RES_INODE_INVALIDATED;
	}
	pthread_mutex_unlock(&g_coh.lock);
	return r;
}

static struct coh_client *coh_find_client(uint64_t client);

int sheep_coh_lock_exclusive(uint32_t vid, uint64_t client)
{
	struct coh_client *c;
	struct coh_vid *v;
	unsigned i;
	int r = SD_RES_SUCCESS;

	/* the anonymous client is many connections: nothing could release it */
	if (!client)
		return SD_RES_INVALID_PARMS;
	pthread_mutex_lock(&g_coh.lock);
	/*
	 * A request that outlived its connection: granting it now would
	 * leave a lock nobody releases.
	 */
	c = coh_find_client(client);
	if (!c || !c->conns) {
		r = SD_RES_NETWORK_ERROR;
		goto out;
	}
	coh_gc(coh_find_vid(vid));
	v = coh_find_vid(vid);
	if (v && v->excl && v->excl != client) {
		r = SD_RES_VDI_LOCKED;
		goto out;
	}
	for (i = 0; v && i < v->nr; i++) {
		if (v->p[i].client != client && !v->p[i].detached) {
			r = SD_RES_VDI_LOCKED;
			goto out;
		}
	}
	v = coh_get_vid(vid);
	if (!v)
		r = SD_RES_NO_MEM;
	else
		v->excl = client;
out:
	pthread_mutex_unlock(&g_coh.lock);
	return r;
}

void sheep_coh_release_exclusive(uint32_t vid, uint64_t client)
{
	struct coh_vid *v;

	unsigned depth;

	pthread_mutex_lock(&g_coh.lock);
	v = coh_find_vid(vid);
	/*
	 * A holder that has not noticed a snapshot releases the vid it
	 * opened: the lock moved down the successor chain (its participation
	 * keeps the old vid's entry and so the chain).
	 */
	for (depth = 0; v && client && depth < 64; depth++) {
		if (v->excl == client) {
			v->excl = 0;
			coh_drop_vid_if_empty(v);
			break;
		}
		if (!v->successor || v->successor == v->vid)
			break;
		v = coh_find_vid(v->successor);
	}
	pthread_mutex_unlock(&g_coh.lock);
}

uint64_t sheep_coh_exclusive(uint32_t vid)
{
	struct coh_vid *v;
	uint64_t holder;

	pthread_mutex_lock(&g_coh.lock);
	v = coh_find_vid(vid);
	holder = v ? v->excl : 0;
	pthread_mutex_unlock(&g_coh.lock);
	return holder;
}

void sheep_coh_index_written(uint32_t vid, uint64_t client, int by_participant)
{
	struct coh_vid *v;
	struct coh_part *w;
	unsigned i;

	pthread_mutex_lock(&g_coh.lock);
	v = coh_find_vid(vid);
	w = by_participant ? coh_find_part(v, client) : NULL;
	/* a MODIFIED writer: everybody else already knows their copy is stale */
	if (!(w && w->state == SHEEP_COH_MODIFIED)) {
		for (i = 0; v && i < v->nr; i++)
			v->p[i].state = &v->p[i] == w ? SHEEP_COH_MODIFIED : SHEEP_COH_INVALIDATED;
	}
	pthread_mutex_unlock(&g_coh.lock);
}

void sheep_coh_invalidate_all(uint32_t vid)
{
	sheep_coh_index_written(vid, 0, 0);
}

/*
 * A client that read the index of the working vid that replaced vid (a
 * snapshot) knows what vid's snapshot means for it: its entries pointing
 * into vid are current (vid's index no longer changes).  Up the chain.
 */
static void coh_validate_predecessors(uint32_t vid, uint64_t client, int depth)
{
	size_t i;

	if (depth > 64)
		return;
	for (i = 0; i < g_coh.nr; i++) {
		struct coh_vid *v = &g_coh.v[i];
		struct coh_part *p;

		if (v->successor != vid || v->vid == vid)
			continue;
		p = coh_find_part(v, client);
		if (p && !p->detached)
			p->state = SHEEP_COH_SHARED;
		coh_validate_predecessors(v->vid, client, depth + 1);
	}
}

void sheep_coh_validate(uint32_t vid, uint64_t client)
{
	struct coh_vid *v;
	unsigned i;

	pthread_mutex_lock(&g_coh.lock);
	v = coh_find_vid(vid);
	for (i = 0; v && i < v->nr; i++) {
		struct coh_part *p = &v->p[i];

		/* the sender is current; a writer is no longer the only one */
		if (p->client == client ? !p->detached : p->state == SHEEP_COH_MODIFIED)
			p->state = SHEEP_COH_SHARED;
	}
	coh_validate_predecessors(vid, client, 0);
	pthread_mutex_unlock(&g_coh.lock);
}

void sheep_coh_snapshot(uint32_t vid, uint32_t new_vid)
{
	struct coh_vid *v, *nv;
	uint64_t excl = 0;
	unsigned i;

	pthread_mutex_lock(&g_coh.lock);
	v = coh_find_vid(vid);
	if (v) {
		v->successor = new_vid;
		for (i = 0; i < v->nr; i++)
			v->p[i].state = SHEEP_COH_INVALIDATED;
		excl = v->excl;
	}
	/*
	 * The exclusive holder goes on writing to the new working vid (by
	 * name, nobody else may open it); the snapshot is free to open.
	 */
	if (excl && new_vid != vid) {
		nv = coh_get_vid(new_vid);
		v = coh_find_vid(vid); /* coh_get_vid may have moved the table */
		if (nv) {
			nv->excl = excl;
			v->excl = 0;
			coh_drop_vid_if_empty(v);
		} else {
			sheep_err("out of memory: the exclusive lock of %" PRIx32
				  " stays on the snapshot, %" PRIx32 " is unprotected",
				  vid, new_vid);
		}
	}
	pthread_mutex_unlock(&g_coh.lock);
}

static struct coh_client *coh_find_client(uint64_t client)
{
	size_t i;

	for (i = 0; i < g_coh.nr_cl; i++)
		if (g_coh.cl[i].client == client)
			return &g_coh.cl[i];
	return NULL;
}

int sheep_coh_conn_add(uint64_t client)
{
	struct coh_client *c;
	size_t i;
	unsigned j;
	int new;

	if (!client)
		return 0;
	pthread_mutex_lock(&g_coh.lock);
	c = coh_find_client(client);
	if (!c) {
		if (g_coh.nr_cl == g_coh.cap_cl) {
			size_t cap = g_coh.cap_cl ? g_coh.cap_cl * 2 : 16;
			struct coh_client *n = realloc(g_coh.cl, cap * sizeof(*n));

			if (!n) {
				pthread_mutex_unlock(&g_coh.lock);
				return -1;
			}
			g_coh.cl = n;
			g_coh.cap_cl = cap;
		}
		c = &g_coh.cl[g_coh.nr_cl++];
		c->client = client;
		c->conns = 0;
	}
	new = !c->conns++;
	/* back after all its connections closed: attached again (still INVALIDATED) */
	for (i = 0; i < g_coh.nr; i++)
		for (j = 0; j < g_coh.v[i].nr; j++)
			if (g_coh.v[i].p[j].client == client)
				g_coh.v[i].p[j].detached = 0;
	pthread_mutex_unlock(&g_coh.lock);
	return new;
}

void sheep_coh_conn_del(uint64_t client)
{
	struct coh_client *c;
	uint64_t now;
	size_t i;
	unsigned j;

	if (!client)
		return;
	pthread_mutex_lock(&g_coh.lock);
	c = coh_find_client(client);
	if (c && !--c->conns) {
		*c = g_coh.cl[--g_coh.nr_cl];
		now = coh_now();
		/* a gateway that went away holds nothing exclusively (downwards: drops move entries) */
		for (i = g_coh.nr; i-- > 0;) {
			if (g_coh.v[i].excl == client) {
				g_coh.v[i].excl = 0;
				coh_drop_vid_if_empty(&g_coh.v[i]);
			}
		}
		for (i = 0; i < g_coh.nr; i++) {
			for (j = 0; j < g_coh.v[i].nr; j++) {
				struct coh_part *p = &g_coh.v[i].p[j];

				if (p->client != client)
					continue;
				p->detached = 1;
				p->detached_at = now;
				p->state = SHEEP_COH_INVALIDATED;
			}
		}
	}
	pthread_mutex_unlock(&g_coh.lock);
}

void sheep_coh_reset(void)
{
	size_t i;

	pthread_mutex_lock(&g_coh.lock);
	for (i = 0; i < g_coh.nr; i++)
		free(g_coh.v[i].p);
	g_coh.nr = 0;
	pthread_mutex_unlock(&g_coh.lock);
}

void sheep_coh_fini(void)
{
	sheep_coh_reset();
	pthread_mutex_lock(&g_coh.lock);
	free(g_coh.v);
	free(g_coh.cl);
	g_coh.v = NULL;
	g_coh.cl = NULL;
	g_coh.cap = g_coh.nr_cl = g_coh.cap_cl = 0;
	pthread_mutex_unlock(&g_coh.lock);
}
