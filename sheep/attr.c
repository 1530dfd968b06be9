// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vdi attributes (GET_VDI_ATTR, section 6.6).  Each attribute is one
 * SD_ATTR_OBJ_SIZE object holding a struct sd_vdi_attr.  Its oid carries the
 * hash of the vdi *name* (not the vid, so attributes of the working vdi
 * survive snapshots, which change its vid) and, as index, the FNV-1a hash of
 * the record's name, tag, snap_id and key fields, probing upwards on
 * collisions until a matching record or a missing object.  A deleted
 * attribute keeps its object with an empty name (a tombstone) so that probe
 * chains running through it stay intact.
 *
 * Callers hold vdi->lock: that makes create-exclusive and replace atomic
 * against every other attribute request; the object itself is replaced with
 * an atomic create, so a reader never sees half a record.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "sheep.h"

static uint32_t attr_hash(const struct sd_vdi_attr *a)
{
	uint32_t snap_id = a->snap_id; /* hashed as stored: little-endian */
	uint64_t h;

	h = sd_fnv1a_64(a->name, sizeof(a->name), SD_FNV1A_64_INIT);
	h = sd_fnv1a_64(a->tag, sizeof(a->tag), h);
	h = sd_fnv1a_64(&snap_id, sizeof(snap_id), h);
	h = sd_fnv1a_64(a->key, sizeof(a->key), h);
	return (uint32_t)h;
}

/* x comes from disk and may lack its NULs: every compare stays inside its field. */
static int same_key(const struct sd_vdi_attr *x, const struct sd_vdi_attr *y)
{
	return !strncmp(x->name, y->name, sizeof(x->name)) &&
	       !strncmp(x->tag, y->tag, sizeof(x->tag)) && x->snap_id == y->snap_id &&
	       !strncmp(x->key, y->key, sizeof(x->key));
}

int sheep_attr_lookup(struct sheep_vdi *vdi, struct sd_vdi_attr *a, unsigned mode, uint32_t *hvid,
		      uint32_t *attr_id)
{
	struct sd_vdi_attr *cur;
	uint32_t id, start;
	uint64_t oid;
	int r;

	cur = malloc(sizeof(*cur));
	if (!cur)
		return SD_RES_NO_MEM;
	*hvid = sd_hash_vdi(a->name);
	start = id = attr_hash(a);
	/* ends at the first missing object; the wrap bound is only a backstop */
	do {
		*attr_id = id;
		oid = sd_vid_to_attr_oid(*hvid, id);
		r = sheep_store_read(vdi->store, oid, cur, sizeof(*cur), 0);
		if (r == -ENOENT) {
			if (!(mode & SHEEP_ATTR_CREATE)) {
				r = SD_RES_NO_OBJ;
				goto out;
			}
			r = sheep_errno_to_res(sheep_store_create(vdi->store, oid, SD_ATTR_OBJ_SIZE,
								  0, a, sizeof(*a), 0));
			goto out;
		}
		if (r) {
			sheep_err("attribute object %016" PRIx64 " unreadable: %s", oid,
				  strerror(-r));
			r = SD_RES_EIO;
			goto out;
		}
		if (cur->name[0] && same_key(cur, a)) {
			if (mode & SHEEP_ATTR_EXCL)
				r = SD_RES_VDI_EXIST;
			else if (mode & SHEEP_ATTR_DELETE)
				r = sheep_errno_to_res(
					sheep_store_write(vdi->store, oid, "", 1, 0));
			else if (mode & SHEEP_ATTR_CREATE)
				r = sheep_errno_to_res(sheep_store_create(
					vdi->store, oid, SD_ATTR_OBJ_SIZE, 0, a, sizeof(*a), 0));
			else
				r = SD_RES_SUCCESS;
			goto out;
		}
		id++;
	} while (id != start);
	r = SD_RES_FULL_VDI;
out:
	free(cur);
	return r;
}

struct purge_scan {
	uint32_t hvid;
	uint64_t *oids;
	size_t nr, cap;
};

static int collect_attr(void *arg, uint64_t oid)
{
	struct purge_scan *s = arg;
	uint64_t *n;

	if ((oid & SD_OID_KIND_MASK) != SD_VDI_ATTR_BIT || sd_oid_to_vid(oid) != s->hvid)
		return 0;
	if (s->nr == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		n = realloc(s->oids, s->cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		s->oids = n;
	}
	s->oids[s->nr++] = oid;
	return 0;
}

/* Does a live (not deleted) vdi of this name remain?  -errno on failure. */
static int name_in_use(struct sheep_vdi *vdi, const char *name)
{
	struct sd_inode_header h;
	size_t i;

	for (i = 0; i < vdi->nr_vids; i++) {
		if (sheep_vdi_test_deleted(vdi, vdi->vids[i]))
			continue;
		if (sheep_vdi_read_header(vdi->store, vdi->vids[i], &h))
			continue;
		if (!strncmp(h.name, name, sizeof(h.name)))
			return 1;
	}
	return 0;
}

void sheep_attr_purge(struct sheep_vdi *vdi, const char *name)
{
	struct purge_scan s = { .hvid = sd_hash_vdi(name) };
	struct sd_vdi_attr *a;
	size_t i, others = 0;
	char *mine = NULL;
	int r;

	if (name_in_use(vdi, name))
		return;
	a = malloc(sizeof(*a));
	r = a ? sheep_store_for_each_oid(vdi->store, collect_attr, &s) : -ENOMEM;
	if (!r && s.nr && !(mine = calloc(s.nr, 1)))
		r = -ENOMEM;
	if (r) {
		sheep_err("attributes of %s not removed: %s", name, strerror(-r));
		goto out;
	}
	for (i = 0; i < s.nr; i++) {
		if (sheep_store_read(vdi->store, s.oids[i], a, SD_VDI_ATTR_HEADER_SIZE, 0))
			continue;
		a->name[sizeof(a->name) - 1] = '\0';
		if (!strcmp(a->name, name))
			mine[i] = 1;
		else if (a->name[0])
			others++;
	}
	/*
	 * Another name with the same hash still has attributes: its probe
	 * chains may run through ours, so leave tombstones instead of holes.
	 */
	for (i = 0; i < s.nr; i++) {
		if (!others)
			r = sheep_store_remove(vdi->store, s.oids[i]);
		else if (mine[i])
			r = sheep_store_write(vdi->store, s.oids[i], "", 1, 0);
		else
			continue;
		if (r && r != -ENOENT)
			sheep_err("attribute object %016" PRIx64 " of %s not removed: %s",
				  s.oids[i], name, strerror(-r));
	}
	sheep_info("attributes of %s removed (%zu object(s) under %06x, %zu of other names)", name,
		   s.nr, s.hvid, others);
out:
	free(mine);
	free(s.oids);
	free(a);
}
