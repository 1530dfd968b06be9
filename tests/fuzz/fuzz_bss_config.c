// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target: bs_sheepdog's --backing-store path and --bsopts parsers
 * (bss_config.c), the strings a tgtadm user hands the module.  The first
 * byte picks the parser(s) (bit 0 the path, bit 1 the options, bit 2 the
 * SCSI ids of a parsed path); the rest is the string (cut at its first NUL).
 * Checks the contract of bss_config.h beyond "no crash": a failed parse
 * leaves a NUL-terminated reason and an unchanged *o, a successful one
 * NUL-terminated fields.
 */
#include "config.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "bss_config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bss_path p;
	struct bss_opts o, before;
	char err[128];
	char *s;
	uint8_t which;

	if (!size)
		return 0;
	which = data[0];
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (which & 1) {
		memset(err, 'x', sizeof(err));
		if (bss_parse_path(s, &p, err, sizeof(err)) == 0) {
			assert(memchr(p.addr, 0, sizeof(p.addr)));
			assert(memchr(p.vdi, 0, sizeof(p.vdi)) && p.vdi[0]);
			assert(memchr(p.tag, 0, sizeof(p.tag)));
			if (which & 4) {
				char sn[BSS_SN_LEN + 1], id[BSS_ID_LEN + 1];
				uint64_t naa;

				bss_make_ids(p.vdi, p.snapid, size, sn, id, &naa);
				assert(strlen(sn) == BSS_SN_LEN && strlen(id) <= BSS_ID_LEN);
			}
		} else {
			assert(memchr(err, 0, sizeof(err)));
		}
	}
	if (which & 2) {
		bss_opts_init(&o);
		before = o;
		memset(err, 'x', sizeof(err));
		if (bss_parse_opts(s, &o, err, sizeof(err)) == 0) {
			assert(memchr(o.ident, 0, sizeof(o.ident)));
			assert(memchr(o.cache_dir, 0, sizeof(o.cache_dir)));
		} else {
			assert(memchr(err, 0, sizeof(err)));
			assert(!memcmp(&o, &before, sizeof(o)));
		}
	}
	free(s);
	return 0;
}
