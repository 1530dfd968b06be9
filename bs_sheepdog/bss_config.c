/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bs_sheepdog configuration parsing: --backing-store paths, --bsopts and the
 * vdi-derived SCSI identifiers.  See bss_config.h for the grammar.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bss_config.h"

#define BSS_UNIX_PATH_MAX 108 /* sizeof(sun_path) */

static int bss_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bss_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Parse a decimal number in [lo, hi] from s[0..len); 0 or -EINVAL. */
static int bss_parse_uint(const char *s, size_t len, unsigned long lo, unsigned long hi,
			  unsigned long *out)
{
	unsigned long v = 0;
	size_t i;

	if (len == 0 || len > 10)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int bss_all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* "VDI[:SNAP]" -> p->vdi, p->tag / p->snapid. */
static int bss_parse_vdi(const char *s, struct bss_path *p, char *err, size_t errlen)
{
	const char *colon = strchr(s, ':');
	size_t vlen = colon ? (size_t)(colon - s) : strlen(s);
	unsigned long snapid;

	if (vlen == 0)
		return bss_fail(err, errlen, "missing vdi name");
	if (vlen >= sizeof(p->vdi))
		return bss_fail(err, errlen, "vdi name longer than %zu bytes", sizeof(p->vdi) - 1);
	memcpy(p->vdi, s, vlen);
	p->vdi[vlen] = '\0';
	if (!colon)
		return 0;

	s = colon + 1;
	if (!*s)
		return bss_fail(err, errlen, "empty snapshot tag/id after '%s:'", p->vdi);
	if (bss_all_digits(s)) {
		if (bss_parse_uint(s, strlen(s), 1, UINT32_MAX, &snapid))
			return bss_fail(err, errlen, "bad snapshot id '%s'", s);
		p->snapid = (uint32_t)snapid;
		return 0;
	}
	if (strlen(s) >= sizeof(p->tag))
		return bss_fail(err, errlen, "snapshot tag longer than %zu bytes",
				sizeof(p->tag) - 1);
	snprintf(p->tag, sizeof(p->tag), "%s", s);
	return 0;
}

/* Append ",addr" (no comma for the first) to p->addr. */
static int bss_add_addr(struct bss_path *p, const char *addr, char *err, size_t errlen)
{
	size_t used = strlen(p->addr);
	int n = snprintf(p->addr + used, sizeof(p->addr) - used, "%s%s", used ? "," : "", addr);

	if (n < 0 || (size_t)n >= sizeof(p->addr) - used)
		return bss_fail(err, errlen, "addresses too long");
	return 0;
}

/* One UNIX socket path at *s, up to ':' or '+'; *s is moved past it. */
static int bss_parse_unix(const char **s, struct bss_path *p, char *err, size_t errlen)
{
	size_t len = strcspn(*s, ":+");
	char addr[BSS_UNIX_PATH_MAX + 8];

	if ((*s)[len] != ':' && (*s)[len] != '+')
		return bss_fail(err, errlen, "expected unix:SOCKET:VDI");
	if (len == 0)
		return bss_fail(err, errlen, "empty socket path");
	if (len >= BSS_UNIX_PATH_MAX)
		return bss_fail(err, errlen, "socket path longer than %d bytes",
				BSS_UNIX_PATH_MAX - 1);
	snprintf(addr, sizeof(addr), "unix:%.*s", (int)len, *s);
	*s += len;
	return bss_add_addr(p, addr, err, errlen);
}

/* One HOST:PORT or [V6]:PORT at *s; *s is moved past it (to ':' or '+'). */
static int bss_parse_tcp(const char **s, struct bss_path *p, char *err, size_t errlen)
{
	const char *host = *s, *hend, *port, *pend;
	unsigned long portnum;
	int bracket = 0;
	size_t hlen;
	char addr[128];

	if (*host == '[') {
		host++;
		hend = strchr(host, ']');
		if (!hend)
			return bss_fail(err, errlen, "unterminated '[' in IPv6 address");
		if (hend[1] != ':')
			return bss_fail(err, errlen, "expected ':PORT' after ']'");
		port = hend + 2;
		bracket = 1;
	} else {
		hend = host + strcspn(host, ":+");
		if (*hend != ':')
			return bss_fail(err, errlen, "expected tcp:HOST:PORT:VDI");
		port = hend + 1;
	}
	hlen = (size_t)(hend - host);
	if (hlen == 0)
		return bss_fail(err, errlen, "empty host");
	if (hlen > 100)
		return bss_fail(err, errlen, "host name too long");

	pend = port + strcspn(port, ":+");
	if (!*pend)
		return bss_fail(err, errlen, "expected tcp:HOST:PORT:VDI");
	if (bss_parse_uint(port, (size_t)(pend - port), 1, 65535, &portnum))
		return bss_fail(err, errlen, "bad port '%.*s' (1..65535)", (int)(pend - port),
				port);
	snprintf(addr, sizeof(addr), "%s%.*s%s:%lu", bracket ? "[" : "", (int)hlen, host,
		 bracket ? "]" : "", portnum);
	*s = pend;
	return bss_add_addr(p, addr, err, errlen);
}

/*
 * SCHEME:ADDR[+[SCHEME:]ADDR...]:VDI[:SNAP]; an address after '+' keeps
 * the scheme before it unless it names its own.
 */
static int bss_parse_addrs(const char *s, struct bss_path *p, char *err, size_t errlen)
{
	int is_unix = -1, n = 0, ret;

	for (;;) {
		if (!strncmp(s, "unix:", 5)) {
			is_unix = 1;
			s += 5;
		} else if (!strncmp(s, "tcp:", 4)) {
			is_unix = 0;
			s += 4;
		} else if (is_unix < 0) {
			return bss_fail(
				err, errlen,
				"expected unix:SOCKET:VDI[:SNAP] or tcp:HOST:PORT:VDI[:SNAP]");
		}
		if (++n > BSS_MAX_ADDRS)
			return bss_fail(err, errlen, "more than %d sheep addresses", BSS_MAX_ADDRS);
		ret = is_unix ? bss_parse_unix(&s, p, err, errlen)
			      : bss_parse_tcp(&s, p, err, errlen);
		if (ret)
			return ret;
		if (*s == ':')
			return bss_parse_vdi(s + 1, p, err, errlen);
		s++; /* '+' */
		if (!*s)
			return bss_fail(err, errlen, "missing sheep address after '+'");
	}
}

int bss_parse_path(const char *path, struct bss_path *p, char *err, size_t errlen)
{
	struct bss_path tmp;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!path || !*path)
		return bss_fail(err, errlen, "empty backing-store path");

	memset(&tmp, 0, sizeof(tmp));
	ret = bss_parse_addrs(path, &tmp, err, errlen);
	if (ret)
		return ret;
	*p = tmp;
	return 0;
}

void bss_opts_init(struct bss_opts *o)
{
	memset(o, 0, sizeof(*o)); /* padding too: callers compare with memcmp */
	o->conns = 4;
	o->timeout_sec = 20;
	o->retry_sec = 20;
	o->connect_timeout_sec = 5;
	o->max_inflight = 512;
	o->thin = 1;
	o->refresh_sec = 10;
	memset(o->ident, 0, sizeof(o->ident));
	o->shared = 1;
	o->shared_set = 0;
	o->cache = BSS_CACHE_NONE;
	snprintf(o->cache_dir, sizeof(o->cache_dir), "%s", BSS_CACHE_DIR_DEFAULT);
	o->cache_size = UINT64_C(1) << 30;
	o->cache_age = 5;
	o->cache_dirty = 0; /* cache_size / 2, settled by bss_parse_opts */
}

/* SIZE: digits with an optional K/M/G/T/P suffix (powers of 1024), MiB
 * without one.  0 or -EINVAL. */
static int bss_parse_size(const char *s, size_t len, uint64_t *out)
{
	unsigned int shift = 20;
	uint64_t v = 0;
	size_t i;

	if (len && strchr("KkMmGgTtPp", s[len - 1])) {
		shift = 10 * (unsigned int)(strchr("KMGTP", s[len - 1] & ~0x20) - "KMGTP" + 1);
		len--;
	}
	if (len == 0 || len > 15)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > (UINT64_C(1) << 50) >> shift)
		return -EINVAL;
	*out = v << shift;
	return 0;
}

/* The cache keys (cache, cache_dir, cache_size, cache_dirty); 1 if key
 * is not one of them, else 0 or -EINVAL with the reason in err. */
static int bss_parse_cache_opt(const char *key, size_t klen, const char *val, size_t vlen,
			       struct bss_opts *o, char *err, size_t errlen)
{
	uint64_t v;

	if (klen == 5 && !memcmp(key, "cache", 5)) {
		if (vlen == 4 && !memcmp(val, "none", 4))
			o->cache = BSS_CACHE_NONE;
		else if (vlen == 12 && !memcmp(val, "writethrough", 12))
			o->cache = BSS_CACHE_WRITETHROUGH;
		else if (vlen == 9 && !memcmp(val, "writeback", 9))
			o->cache = BSS_CACHE_WRITEBACK;
		else
			return bss_fail(err, errlen,
					"bsopts: bad value '%.*s' for cache (none, writethrough, "
					"writeback)",
					(int)vlen, val);
		return 0;
	}
	if (klen == 9 && !memcmp(key, "cache_dir", 9)) {
		if (vlen == 0 || vlen >= sizeof(o->cache_dir) || val[0] != '/')
			return bss_fail(err, errlen,
					"bsopts: cache_dir needs an absolute path of 1..%zu "
					"characters",
					sizeof(o->cache_dir) - 1);
		snprintf(o->cache_dir, sizeof(o->cache_dir), "%.*s", (int)vlen, val);
		return 0;
	}
	if ((klen == 10 && !memcmp(key, "cache_size", 10)) ||
	    (klen == 11 && !memcmp(key, "cache_dirty", 11))) {
		if (bss_parse_size(val, vlen, &v) || (klen == 10 && v < (UINT64_C(4) << 20)))
			return bss_fail(err, errlen,
					"bsopts: bad size '%.*s' for %.*s (a number of MiB, or "
					"with a K/M/G/T/P suffix; cache_size at least 4M)",
					(int)vlen, val, (int)klen, key);
		if (klen == 10)
			o->cache_size = v;
		else
			o->cache_dirty = v;
		return 0;
	}
	return 1;
}

/* Cross-key rules, on the parsed result. */
static int bss_check_opts(struct bss_opts *o, char *err, size_t errlen)
{
	if (o->cache == BSS_CACHE_NONE)
		return 0;
	/* A cache serves reads and holds writes that no other gateway sees:
	 * only one gateway may have the vdi. */
	if (o->shared_set && o->shared)
		return bss_fail(err, errlen,
				"bsopts: cache=%s needs exclusive access to the vdi; it cannot be "
				"combined with shared=1",
				o->cache == BSS_CACHE_WRITEBACK ? "writeback" : "writethrough");
	o->shared = 0;
	if (!o->cache_dirty)
		o->cache_dirty = o->cache_size / 2;
	if (o->cache_dirty > o->cache_size)
		return bss_fail(err, errlen, "bsopts: cache_dirty is larger than cache_size");
	return 0;
}

struct bss_opt_desc {
	const char *key;
	size_t offset;
	unsigned long lo, hi;
};

static const struct bss_opt_desc bss_opt_table[] = {
	{ "conns", offsetof(struct bss_opts, conns), 1, 64 },
	{ "timeout", offsetof(struct bss_opts, timeout_sec), 1, 3600 },
	{ "retry", offsetof(struct bss_opts, retry_sec), 0, 3600 },
	{ "connect_timeout", offsetof(struct bss_opts, connect_timeout_sec), 1, 600 },
	{ "max_inflight", offsetof(struct bss_opts, max_inflight), 1, 65536 },
	{ "thin", offsetof(struct bss_opts, thin), 0, 1 },
	{ "refresh", offsetof(struct bss_opts, refresh_sec), 0, 86400 },
	{ "shared", offsetof(struct bss_opts, shared), 0, 1 },
	{ "cache_age", offsetof(struct bss_opts, cache_age), 0, 3600 },
};

static int bss_parse_one_opt(const char *s, size_t len, struct bss_opts *o, char *err,
			     size_t errlen)
{
	const char *eq = memchr(s, '=', len);
	unsigned long v;
	size_t klen;
	int i;

	if (!eq)
		return bss_fail(err, errlen, "bsopts: expected key=value, got '%.*s'", (int)len, s);
	klen = (size_t)(eq - s);
	i = bss_parse_cache_opt(s, klen, eq + 1, len - klen - 1, o, err, errlen);
	if (i != 1)
		return i;
	if (klen == 4 && !memcmp(s, "pool", 4)) {
		size_t vlen = len - klen - 1;

		if (vlen == 0 || vlen > BSS_POOL_NAME_MAX ||
		    strspn(eq + 1,
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") <
			    vlen)
			return bss_fail(
				err, errlen,
				"bsopts: pool needs 1..%d characters of A-Z, a-z, 0-9, '.', "
				"'_' and '-'",
				BSS_POOL_NAME_MAX);
		memset(o->pool, 0, sizeof(o->pool));
		memcpy(o->pool, eq + 1, vlen);
		return 0;
	}
	if (klen == 5 && !memcmp(s, "ident", 5)) {
		if (len - klen - 1 == 0 || len - klen - 1 >= sizeof(o->ident))
			return bss_fail(err, errlen, "bsopts: ident needs 1..%zu characters",
					sizeof(o->ident) - 1);
		snprintf(o->ident, sizeof(o->ident), "%.*s", (int)(len - klen - 1), eq + 1);
		return 0;
	}
	for (i = 0; i < (int)(sizeof(bss_opt_table) / sizeof(bss_opt_table[0])); i++) {
		const struct bss_opt_desc *d = &bss_opt_table[i];

		if (strlen(d->key) != klen || memcmp(d->key, s, klen))
			continue;
		if (bss_parse_uint(eq + 1, len - klen - 1, d->lo, d->hi, &v))
			return bss_fail(err, errlen, "bsopts: bad value '%.*s' for %s (%lu..%lu)",
					(int)(len - klen - 1), eq + 1, d->key, d->lo, d->hi);
		*(unsigned int *)((char *)o + d->offset) = (unsigned int)v;
		if (d->offset == offsetof(struct bss_opts, shared))
			o->shared_set = 1;
		return 0;
	}
	return bss_fail(err, errlen,
			"bsopts: unknown option '%.*s' (known: conns, timeout, retry, "
			"connect_timeout, max_inflight, pool, thin, refresh, ident, shared, cache, "
			"cache_dir, cache_size, cache_age, cache_dirty)",
			(int)klen, s);
}

int bss_parse_opts(const char *s, struct bss_opts *o, char *err, size_t errlen)
{
	struct bss_opts tmp = *o;
	const char *end;
	size_t len;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!s)
		return 0;
	while (*s) {
		end = strchr(s, ';');
		len = end ? (size_t)(end - s) : strlen(s);
		/* tolerate surrounding blanks and empty items ("a=1;;b=2;") */
		while (len && (*s == ' ' || *s == '\t')) {
			s++;
			len--;
		}
		while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (len) {
			ret = bss_parse_one_opt(s, len, &tmp, err, errlen);
			if (ret)
				return ret;
		}
		if (!end)
			break;
		s = end + 1;
	}
	ret = bss_check_opts(&tmp, err, errlen);
	if (ret)
		return ret;
	*o = tmp;
	return 0;
}

void bss_make_ids(const char *vdi, uint32_t snapvid, uint64_t cluster, char sn[BSS_SN_LEN + 1],
		  char id[BSS_ID_LEN + 1], uint64_t *naa)
{
	uint64_t h1, h2;
	uint32_t le = snapvid;
	unsigned char c8[8];
	int i;

	/*
	 * Two independent FNV-1a runs over name + snapshot vid (+ cluster):
	 * 128 stable bits.  cluster 0 hashes nothing more, which keeps the ids
	 * of LUNs exported before the cluster was folded in (ident=VDI).
	 */
	for (i = 0; i < 8; i++)
		c8[i] = (unsigned char)(cluster >> (8 * i));
	h1 = sd_fnv1a_64(vdi, strlen(vdi), SD_FNV1A_64_INIT);
	h1 = sd_fnv1a_64(&le, sizeof(le), h1);
	h2 = sd_fnv1a_64("sheepdog", 8, SD_FNV1A_64_INIT);
	h2 = sd_fnv1a_64(vdi, strlen(vdi), h2);
	h2 = sd_fnv1a_64(&le, sizeof(le), h2);
	if (cluster) {
		h1 = sd_fnv1a_64(c8, sizeof(c8), h1);
		h2 = sd_fnv1a_64(c8, sizeof(c8), h2);
	}

	snprintf(sn, BSS_SN_LEN + 1, "%016" PRIx64, h1);
	snprintf(id, BSS_ID_LEN + 1, "sd-%016" PRIx64 "%016" PRIx64, h1, h2);
	/* NAA-3 field is 60 bits after the NAA nibble (tgt ORs 0x3 into it). */
	*naa = h2 & UINT64_C(0x0fffffffffffffff);
}
