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

static int bss_parse_unix(const char *s, struct bss_path *p, char *err, size_t errlen)
{
	const char *colon = strchr(s, ':');
	size_t len;

	if (!colon)
		return bss_fail(err, errlen, "expected unix:SOCKET:VDI");
	len = (size_t)(colon - s);
	if (len == 0)
		return bss_fail(err, errlen, "empty socket path");
	if (len >= BSS_UNIX_PATH_MAX)
		return bss_fail(err, errlen, "socket path longer than %d bytes",
				BSS_UNIX_PATH_MAX - 1);
	snprintf(p->addr, sizeof(p->addr), "unix:%.*s", (int)len, s);
	return bss_parse_vdi(colon + 1, p, err, errlen);
}

static int bss_parse_tcp(const char *s, struct bss_path *p, char *err, size_t errlen)
{
	const char *host = s, *hend, *port, *pend;
	unsigned long portnum;
	int bracket = 0;
	size_t hlen;

	if (*s == '[') {
		host = s + 1;
		hend = strchr(host, ']');
		if (!hend)
			return bss_fail(err, errlen, "unterminated '[' in IPv6 address");
		if (hend[1] != ':')
			return bss_fail(err, errlen, "expected ':PORT' after ']'");
		port = hend + 2;
		bracket = 1;
	} else {
		hend = strchr(host, ':');
		if (!hend)
			return bss_fail(err, errlen, "expected tcp:HOST:PORT:VDI");
		port = hend + 1;
	}
	hlen = (size_t)(hend - host);
	if (hlen == 0)
		return bss_fail(err, errlen, "empty host");
	if (hlen > 100)
		return bss_fail(err, errlen, "host name too long");

	pend = strchr(port, ':');
	if (!pend)
		return bss_fail(err, errlen, "expected tcp:HOST:PORT:VDI");
	if (bss_parse_uint(port, (size_t)(pend - port), 1, 65535, &portnum))
		return bss_fail(err, errlen, "bad port '%.*s' (1..65535)", (int)(pend - port),
				port);

	snprintf(p->addr, sizeof(p->addr), "%s%.*s%s:%lu", bracket ? "[" : "", (int)hlen, host,
		 bracket ? "]" : "", portnum);
	return bss_parse_vdi(pend + 1, p, err, errlen);
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
	if (!strncmp(path, "unix:", 5))
		ret = bss_parse_unix(path + 5, &tmp, err, errlen);
	else if (!strncmp(path, "tcp:", 4))
		ret = bss_parse_tcp(path + 4, &tmp, err, errlen);
	else
		ret = bss_fail(err, errlen,
			       "expected unix:SOCKET:VDI[:SNAP] or tcp:HOST:PORT:VDI[:SNAP]");
	if (ret)
		return ret;
	*p = tmp;
	return 0;
}

void bss_opts_init(struct bss_opts *o)
{
	o->conns = 4;
	o->timeout_sec = 20;
	o->retry_sec = 20;
	o->connect_timeout_sec = 5;
	o->max_inflight = 512;
	o->thin = 1;
	o->refresh_sec = 10;
	o->shared = 1;
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
};

static int bss_parse_one_opt(const char *s, size_t len, struct bss_opts *o, char *err,
			     size_t errlen)
{
	const char *eq = memchr(s, '=', len);
	size_t klen, i;
	unsigned long v;

	if (!eq)
		return bss_fail(err, errlen, "bsopts: expected key=value, got '%.*s'", (int)len, s);
	klen = (size_t)(eq - s);
	for (i = 0; i < sizeof(bss_opt_table) / sizeof(bss_opt_table[0]); i++) {
		const struct bss_opt_desc *d = &bss_opt_table[i];

		if (strlen(d->key) != klen || memcmp(d->key, s, klen))
			continue;
		if (bss_parse_uint(eq + 1, len - klen - 1, d->lo, d->hi, &v))
			return bss_fail(err, errlen, "bsopts: bad value '%.*s' for %s (%lu..%lu)",
					(int)(len - klen - 1), eq + 1, d->key, d->lo, d->hi);
		*(unsigned int *)((char *)o + d->offset) = (unsigned int)v;
		return 0;
	}
	return bss_fail(err, errlen,
			"bsopts: unknown option '%.*s' (known: conns, timeout, retry, "
			"connect_timeout, max_inflight, thin, refresh, shared)",
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
	*o = tmp;
	return 0;
}

void bss_make_ids(const char *vdi, uint32_t snapvid, char sn[BSS_SN_LEN + 1],
		  char id[BSS_ID_LEN + 1], uint64_t *naa)
{
	uint64_t h1, h2;
	uint32_t le = snapvid;

	/* Two independent FNV-1a runs over name + snapshot vid: 128 stable bits. */
	h1 = sd_fnv1a_64(vdi, strlen(vdi), SD_FNV1A_64_INIT);
	h1 = sd_fnv1a_64(&le, sizeof(le), h1);
	h2 = sd_fnv1a_64("sheepdog", 8, SD_FNV1A_64_INIT);
	h2 = sd_fnv1a_64(vdi, strlen(vdi), h2);
	h2 = sd_fnv1a_64(&le, sizeof(le), h2);

	snprintf(sn, BSS_SN_LEN + 1, "%016" PRIx64, h1);
	snprintf(id, BSS_ID_LEN + 1, "sd-%016" PRIx64 "%016" PRIx64, h1, h2);
	/* NAA-3 field is 60 bits after the NAA nibble (tgt ORs 0x3 into it). */
	*naa = h2 & UINT64_C(0x0fffffffffffffff);
}
