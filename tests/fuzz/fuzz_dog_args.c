// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target: dog's argument parsers: the command line itself
 * (dog_cmdline_parse: command and subcommand words, getopt options anywhere,
 * option values, argument counts; the whole input as argv) and the pure
 * parsers every subcommand's words go through: sizes (dog_parse_size, "10G", "1.5MB"), integers and
 * ports (dog_parse_uint), copies (dog_parse_copies, "3", "4:2"), the -a
 * address (sdc_parse_addr, sdc_parse_addr_list: "host:port", "[v6]:port",
 * "unix:/path", lists) and a vdi name and tag as packed for the wire
 * (sdc_pack_vdi_name), plus the formatters their results feed.  The input is
 * a NUL-separated list of words; each word goes through every parser.
 * Checks the documented contracts: a parsed size formats, a parsed copies
 * value is in range, a parsed address is NUL-terminated.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "dog.h"
#include "fuzz.h"
#include "net.h"

static void one_word(const char *w, const char *next)
{
	struct sdc_addr a[SDC_MAX_ADDRS];
	struct sdc_vdi_name vn;
	const char *why = NULL;
	uint64_t v;
	uint8_t copies, policy;
	char buf[64];
	int r, i;

	r = dog_parse_size(w, &v);
	assert(r == 0 || r == -EINVAL || r == -ERANGE);
	if (!r) {
		dog_strnumber(v, false, buf, sizeof(buf));
		dog_strnumber(v, true, buf, sizeof(buf));
	}
	r = dog_parse_uint(w, 1, 65535, &v);
	assert(r || (v >= 1 && v <= 65535));
	if (!dog_parse_copies(w, &copies, &policy)) {
		assert(copies >= 1 && copies <= SD_MAX_COPIES);
		dog_redundancy_str(copies, policy, buf, sizeof(buf));
	}
	if (!sdc_parse_addr(w, &a[0], &why)) {
		assert(memchr(a[0].host, 0, sizeof(a[0].host)));
		assert(memchr(a[0].path, 0, sizeof(a[0].path)));
		sdc_addr_str(&a[0], buf, sizeof(buf));
	}
	r = sdc_parse_addr_list(w, a, SDC_MAX_ADDRS, &why);
	assert(r == -EINVAL || (r >= 1 && r <= SDC_MAX_ADDRS));
	for (i = 0; i < r; i++)
		sdc_addr_str(&a[i], buf, sizeof(buf));
	if (!sdc_pack_vdi_name(&vn, w, next)) {
		assert(vn.name[sizeof(vn.name) - 1] == '\0');
		assert(vn.tag[sizeof(vn.tag) - 1] == '\0');
	}
}

/* The words as dog's argv: a parse that succeeds names a handler, in range. */
static void command_line(char *s, char *end)
{
	char *argv[64];
	struct dog_cmdline cl;
	int argc = 0;
	char *w;

	argv[argc++] = "dog";
	for (w = s; w <= end && argc < 63; w += strlen(w) + 1)
		argv[argc++] = w;
	argv[argc] = NULL;
	if (dog_cmdline_parse(argc, argv, &cl) < 0) {
		assert(cl.fn && cl.av && cl.first >= 0 && cl.nargs >= 0);
		assert(cl.first + cl.nargs < argc);
		dog_cmdline_free(&cl);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *null;
	FILE *out = stdout, *err = stderr;
	char *s = malloc(size + 1), *w, *end;

	if (!s)
		return 0;
	/*
	 * dog's messages and help go to /dev/null (hundreds of MB a run
	 * otherwise); sanitizer reports write to descriptor 2 directly and
	 * libFuzzer keeps its own stream, so nothing of theirs is lost.
	 */
	if (!null)
		null = fopen("/dev/null", "w");
	if (null)
		stdout = stderr = null;
	memcpy(s, data, size);
	s[size] = '\0';
	end = s + size;
	for (w = s; w <= end; w += strlen(w) + 1) {
		char *next = w + strlen(w) + 1;

		one_word(w, next <= end ? next : NULL);
	}
	command_line(s, end);
	stdout = out;
	stderr = err;
	free(s);
	return 0;
}
