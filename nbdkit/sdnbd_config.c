/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The plugin's parameters: vdi=, address=, snapshot=, shared=, connections=.
 * Pure string handling, so that tests/unit/test_sdnbd_config checks every
 * accepted and refused form without nbdkit.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sheepdog/sheepdog.h>

#include "sdnbd.h"

void sdnbd_config_init(struct sdnbd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->shared = 1;
}

/* A decimal number in [lo, hi], nothing else (no sign, no spaces). */
static int sdnbd_parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Same words as nbdkit_parse_bool(), which a unit test cannot link. */
static int sdnbd_parse_bool(const char *s)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(s, yes[i]))
			return 1;
		if (!strcasecmp(s, no[i]))
			return 0;
	}
	return -1;
}

/* Copy value into dst[size]: -1 (message) when empty or too long. */
static int sdnbd_copy(char *dst, size_t size, const char *key, const char *value, char *err,
		      size_t errlen)
{
	size_t len = strlen(value);

	if (!len) {
		snprintf(err, errlen, "%s= needs a value", key);
		return -1;
	}
	if (len >= size) {
		snprintf(err, errlen, "%s= is %zu bytes long, at most %zu allowed", key, len,
			 size - 1);
		return -1;
	}
	memcpy(dst, value, len + 1);
	return 0;
}

int sdnbd_config_set(struct sdnbd_config *cfg, const char *key, const char *value, char *err,
		     size_t errlen)
{
	uint32_t n;
	int b;

	if (!strcmp(key, "vdi")) {
		if (cfg->vdi[0]) {
			snprintf(err, errlen, "vdi= given twice ('%s', then '%s')", cfg->vdi,
				 value);
			return -1;
		}
		return sdnbd_copy(cfg->vdi, sizeof(cfg->vdi), key, value, err, errlen);
	}
	if (!strcmp(key, "address"))
		return sdnbd_copy(cfg->addr, sizeof(cfg->addr), key, value, err, errlen);
	if (!strcmp(key, "snapshot")) {
		if (cfg->snapid || cfg->tag[0]) {
			snprintf(err, errlen, "snapshot= given twice");
			return -1;
		}
		/* all digits: a snapshot id (as `dog vdi read -s`); else a tag */
		if (value[0] >= '0' && value[0] <= '9' &&
		    strspn(value, "0123456789") == strlen(value)) {
			if (sdnbd_parse_u32(value, 1, UINT32_MAX, &n)) {
				snprintf(err, errlen, "snapshot=%s: a snapshot id is 1 to %" PRIu32,
					 value, UINT32_MAX);
				return -1;
			}
			cfg->snapid = n;
			return 0;
		}
		return sdnbd_copy(cfg->tag, sizeof(cfg->tag), key, value, err, errlen);
	}
	if (!strcmp(key, "shared")) {
		b = sdnbd_parse_bool(value);
		if (b < 0) {
			snprintf(err, errlen, "shared=%s: expected true or false", value);
			return -1;
		}
		cfg->shared = b;
		return 0;
	}
	if (!strcmp(key, "connections")) {
		if (sdnbd_parse_u32(value, 1, SDNBD_MAX_CONNS, &n)) {
			snprintf(err, errlen, "connections=%s: expected 1 to %d", value,
				 SDNBD_MAX_CONNS);
			return -1;
		}
		cfg->nr_conns = n;
		return 0;
	}
	snprintf(err, errlen,
		 "unknown parameter '%s' (known: vdi, address, snapshot, shared, connections)",
		 key);
	return -1;
}

int sdnbd_config_check(const struct sdnbd_config *cfg, char *err, size_t errlen)
{
	if (!cfg->vdi[0]) {
		snprintf(err, errlen, "vdi=NAME is required: the Sheepdog vdi to export");
		return -1;
	}
	return 0;
}

const char *sdnbd_config_addr(const struct sdnbd_config *cfg)
{
	return cfg->addr[0] ? cfg->addr : SDNBD_DEFAULT_ADDR;
}

unsigned sdnbd_config_open_flags(const struct sdnbd_config *cfg)
{
	/* a snapshot is read-only: nobody writes it, no lock to choose */
	if (cfg->snapid || cfg->tag[0])
		return 0;
	return cfg->shared ? SD_VDI_SHARED : SD_VDI_EXCLUSIVE;
}
