/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Per-LU byte-range locks: what makes COMPARE AND WRITE (and the other
 * read-modify-write commands) atomic against every other command this
 * gateway runs on overlapping blocks.
 *
 * Every data command holds a range while its library requests are out:
 * shared for plain reads and writes (they may overlap one another, as SCSI
 * allows for SIMPLE tasks), exclusive for read-modify-write (COMPARE AND
 * WRITE, ORWRITE).  The LU keeps one FIFO list of ranges, granted and
 * waiting; a range is granted when no range ahead of it overlaps with one
 * of the two exclusive, so an exclusive waiter is never starved by a stream
 * of shared ones.  When no exclusive range exists at all (the common case),
 * a shared lock is granted at once without a scan.
 *
 * Main thread only.  A waiting range's callback runs from bss_range_unlock()
 * of the range that blocked it, i.e. from a completion, never from inside
 * bss_range_lock().  The scope is one gateway: several gateways on one vdi
 * need a cluster-wide lock behind the same two calls.
 */
#include "bss.h"

static int bss_range_conflict(const struct bss_range *a, const struct bss_range *b)
{
	return (a->excl || b->excl) && a->start < b->end && b->start < a->end;
}

/* Granted now, given every range ahead of r in the list? */
static int bss_range_grantable(struct bss_lu *blu, struct bss_range *r)
{
	struct bss_range *e;

	list_for_each_entry(e, &blu->ranges, entry) {
		if (e == r)
			return 1;
		if (bss_range_conflict(e, r))
			return 0;
	}
	return 1;
}

int bss_range_lock(struct bss_lu *blu, struct bss_range *r, uint64_t start, uint64_t len, int excl,
		   void (*granted)(struct bss_range *r))
{
	r->start = start;
	r->end = start + len;
	r->excl = excl;
	r->granted_cb = granted;
	r->closed_cb = NULL;
	list_add_tail(&r->entry, &blu->ranges);
	if (excl)
		blu->nr_excl_ranges++;
	r->granted = (!excl && blu->nr_excl_ranges == 0) || bss_range_grantable(blu, r);
	return r->granted;
}

void bss_range_unlock(struct bss_lu *blu, struct bss_range *r)
{
	struct bss_range *e;
	int found;

	list_del_init(&r->entry);
	if (r->excl)
		blu->nr_excl_ranges--;
	r->granted = 0;

	/* Grant waiters one at a time, rescanning after each callback: the
	 * callback may lock or unlock (a nested call grants what it can). */
	do {
		found = 0;
		list_for_each_entry(e, &blu->ranges, entry) {
			if (e->granted || !bss_range_grantable(blu, e))
				continue;
			e->granted = 1;
			found = 1;
			e->granted_cb(e);
			break;
		}
	} while (found);
}

void bss_range_close(struct bss_lu *blu)
{
	struct bss_range *e;
	int found;

	/* one at a time, rescanning: a callback may unlock other ranges */
	do {
		found = 0;
		list_for_each_entry(e, &blu->ranges, entry) {
			if (!e->closed_cb)
				continue;
			list_del_init(&e->entry);
			if (e->excl)
				blu->nr_excl_ranges--;
			found = 1;
			e->closed_cb(e);
			break;
		}
	} while (found);
}
