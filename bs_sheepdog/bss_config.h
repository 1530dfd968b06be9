/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bs_sheepdog configuration: the --backing-store path, the --bsopts string
 * and the stable SCSI identifiers derived from a vdi.
 *
 * Pure functions with no tgt dependency (unit-tested in
 * bs_sheepdog/tests/test_bss_config.c).  Callers own every buffer; nothing
 * here allocates.  Thread context: any (no shared state).
 */
#ifndef BSS_CONFIG_H
#define BSS_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sheepdog/proto.h>

/*
 * A parsed --backing-store string.
 *
 *   unix:SOCKPATH:VDI[:SNAP]
 *   tcp:HOST:PORT:VDI[:SNAP]        HOST = name, IPv4 literal or [IPv6]
 *   ADDRS:VDI[:SNAP]                several sheep addresses of one cluster
 *
 * where ADDRS is up to BSS_MAX_ADDRS addresses joined by '+', each written
 * as above; one after '+' keeps the scheme of the one before unless it has
 * its own: tcp:h1:7000+h2:7000:vol, tcp:[::1]:7000+unix:/run/sock:vol.
 * '+' because ',' splits tgtadm's parameters inside tgtd and ';' splits
 * --bsopts; so a socket path cannot contain ':' or '+'.
 *
 * SNAP selects a snapshot, exported read-only: all digits -> snapshot id
 * (non-zero), anything else -> tag (which may itself contain ':').  VDI names
 * cannot contain ':'.  Ports are decimal 1..65535 (5 digits work).
 */
#define BSS_MAX_ADDRS 4 /* libsheepdog's SDC_MAX_ADDRS */
struct bss_path {
	char addr[512]; /* for sd_connect(): "unix:/p", "h:port", "[v6]:port", ','-joined */
	char vdi[SD_MAX_VDI_LEN];
	char tag[SD_MAX_VDI_TAG_LEN]; /* "" unless a tag was given */
	uint32_t snapid;	      /* 0 unless a snapshot id was given */
};

/*
 * Parse path into *p.  Returns 0, or -EINVAL with a one-line reason in
 * err[errlen] (always NUL-terminated when errlen > 0).
 */
int bss_parse_path(const char *path, struct bss_path *p, char *err, size_t errlen);

/* True if the path names a snapshot (a read-only LUN). */
static inline int bss_path_is_snapshot(const struct bss_path *p)
{
	return p->snapid != 0 || p->tag[0] != '\0';
}

/*
 * Tuning from --bsopts: ';'-separated key=value pairs (tgtadm itself splits
 * its parameters on ',').  Keys, with defaults and ranges:
 *   conns=N            I/O connections to sheep            4     1..64
 *   timeout=SEC        one sheep request                   20    1..3600
 *   retry=SEC          reconnect window before I/O fails   20    0..3600
 *                      (0: no window, I/O fails at the first error)
 *   connect_timeout=SEC  one connect attempt (bounds open) 5     1..600
 *   max_inflight=N     sheep requests (and commands) in    512   1..65536
 *                      flight per connection pool
 *   pool=NAME          connection pool: LUNs with the same  ""    1..31 of
 *                      sheep addresses, conns, timeout,           [A-Za-z0-9._-]
 *                      retry, connect_timeout, max_inflight
 *                      and pool name share one set of
 *                      connections (bss_pool.c)
 *   thin=0|1           thin provisioning (UNMAP, WRITE     1     0..1
 *                      SAME with UNMAP, LBPME) announced
 *                      and accepted
 *   refresh=SEC        re-read the vdi's size (a `dog vdi  10    0..86400
 *                      resize` elsewhere) every SEC seconds
 *                      (0: only on `tgtadm --op update ... path=`)
 *   ident=TEXT         SCSI identity from TEXT (and the     vdi name + cluster
 *                      snapshot) alone, see bss_make_ids;   1..63 characters
 *                      ident=VDINAME gives the ids of
 *                      releases before the cluster was
 *                      folded in
 *   shared=0|1         other gateways may export the same  1     0..1
 *                      vdi: coherent index (SD_VDI_SHARED),
 *                      and the cluster-wide PR store and
 *                      ATS; 0: this gateway is the only one
 *                      (local fast paths)
 *   cache=MODE         gateway object cache: none,         none
 *                      writethrough or writeback (bss_cache.c);
 *                      any cache needs exclusive access: shared
 *                      then defaults to 0 and shared=1 is refused
 *   cache_dir=PATH     where the LU's cache directory      /var/lib/tgt-sheepdog/cache
 *                      lives (absolute, 1..200 characters)
 *   cache_size=SIZE    bound on the cached units           1G    4M..1P
 *   cache_age=SEC      age of dirty data that starts a     5     0..3600
 *                      background flush
 *   cache_dirty=SIZE   dirty amount that starts a          cache_size/2
 *                      background flush of every dirty
 *                      unit (at most cache_size)
 *   SIZE is a number with an optional K, M, G, T or P suffix (powers of
 *   1024); without a suffix it counts MiB.
 *
 * Why 20 s: a command must fail back to the initiator before the
 * initiator's own command timeout (30 s on Linux) fires, because tgt cannot
 * abort a command inside a backing store (the abort or LUN reset would wait
 * for it, and the session would be torn down).  ABORTED COMMAND at 20 s is
 * retried by the initiator instead, so a sheep restart of a minute or two
 * is still ridden out.  The same window bounds how long deleting a LUN
 * whose sheep is dead blocks tgtd (the vdi release is retried that long).
 */
#define BSS_POOL_NAME_MAX 31

struct bss_opts {
	unsigned int conns;
	unsigned int timeout_sec;
	unsigned int retry_sec;
	unsigned int connect_timeout_sec;
	unsigned int max_inflight;
	unsigned int thin;
	unsigned int refresh_sec;
	char ident[64];			  /* "" unless ident= was given */
	char pool[BSS_POOL_NAME_MAX + 1]; /* "": the default pool */
	unsigned int shared;		  /* 1: other gateways may export the vdi too */
	unsigned int shared_set;	  /* shared= was given */

	unsigned int cache; /* enum bss_cache_mode */
	char cache_dir[201];
	uint64_t cache_size;	/* bytes */
	unsigned int cache_age; /* seconds */
	uint64_t cache_dirty;	/* bytes */
};

enum bss_cache_mode {
	BSS_CACHE_NONE = 0,
	BSS_CACHE_WRITETHROUGH,
	BSS_CACHE_WRITEBACK,
};
#define BSS_CACHE_DIR_DEFAULT "/var/lib/tgt-sheepdog/cache"

void bss_opts_init(struct bss_opts *o);

/*
 * Parse s (NULL or "" leaves the defaults) into *o, which must have been
 * initialised.  Returns 0, or -EINVAL (unknown key, bad or out-of-range
 * value, missing '=') with a reason in err.  *o is unchanged on failure.
 */
int bss_parse_opts(const char *s, struct bss_opts *o, char *err, size_t errlen);

/*
 * Stable SCSI identity of an exported vdi: the same on every gateway that
 * exports the same vdi (or the same snapshot) of the same cluster, whatever
 * its tid/lun and across tgtd restarts; different in another cluster.
 *   vdi:     vdi name (or the admin's ident= text)
 *   snapvid: 0 for the working vdi, else the snapshot's vid (unique in the
 *            cluster, and the same whether it was opened by tag or by id).
 *   cluster: the cluster's identity, its creation time (STAT_CLUSTER's
 *            ctime, set when the cluster was formatted); 0 folds nothing
 *            in (ident=: the text alone names the device).
 * Fills sn (VPD 0x80 serial, 16 hex digits), id (VPD 0x83 T10 vendor id;
 * its last 32 characters are hex digits, from which tgt also derives its
 * NAA-6 designator) and *naa (tgt's NAA-3 "locally assigned" value).
 */
#define BSS_SN_LEN 16
#define BSS_ID_LEN 35
void bss_make_ids(const char *vdi, uint32_t snapvid, uint64_t cluster, char sn[BSS_SN_LEN + 1],
		  char id[BSS_ID_LEN + 1], uint64_t *naa);

#endif
