/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bss-raw: send one raw CDB to an iSCSI LUN and print the outcome in a form
 * bats tests can match (an sg_raw for libiscsi).
 *
 *   bss-raw URL CDBHEX [--in N] [--out-byte B --out-len N | --out-file F]
 *           [--dump] [--resid] [--then CDBHEX [--then-in N]]
 *
 * CDBHEX is the CDB in hex ("2a000000000000000100").  --in N expects N
 * bytes of data-in; --out-* sends data-out (N bytes of B, or file F).
 * Prints one line:
 *   status=GOOD
 *   status=CHECK_CONDITION key=0x07 asc=0x27 ascq=0x00 [info=N] [csi=N] [sks=0xSSFFFF]
 *   status=0xNN  (any other SCSI status)
 * then with --resid a line "resid=none", "resid=under N" or "resid=over N"
 * (the iSCSI residual of the response), and with --dump a line "data=HEX"
 * with the data-in bytes.
 * Parses fixed (0x70/0x71) and descriptor (0x72/0x73) sense; info= is the
 * INFORMATION field when VALID (fixed) or an information descriptor is
 * present; csi= the COMMAND-SPECIFIC INFORMATION of COPY ABORTED sense (the
 * failed segment of an EXTENDED COPY), sks= byte 15 and the field pointer
 * when the sense-key specific field is valid (fixed format).
 *
 * --then sends a second CDB (data-in of --then-in bytes, or none) on the
 * same session, i.e. the same I_T nexus, and prints its lines the same way
 * (RECEIVE COPY RESULTS after EXTENDED COPY).
 *
 * Exit: 0 the command completed (whatever its SCSI status), 2 usage or
 * transport failure.  Single-threaded, libiscsi sync API.
 *
 *   bss-raw URL --session [--initiator IQN]
 *
 * keeps one session (one I_T nexus) open and reads commands from stdin,
 * one per line: "CDBHEX [IN_LEN]".  For each it prints the status line as
 * above and, for GOOD with IN_LEN > 0, the "data=HEX" line, then flushes,
 * so a test can see unit attentions queued for that nexus between its
 * commands (login itself consumes the power-on one).  Ends at EOF (exit 0)
 * or at a transport failure (exit 2).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define BSS_RAW_INITIATOR "iqn.2026-11.org.sheepdog.tests:bss-raw"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int parse_cdb(const char *s, unsigned char *cdb, int max)
{
	int n = 0, hi, lo;

	while (*s) {
		if (*s == ' ' || *s == ':') {
			s++;
			continue;
		}
		hi = hexval(s[0]);
		lo = s[1] ? hexval(s[1]) : -1;
		if (hi < 0 || lo < 0 || n >= max)
			return -1;
		cdb[n++] = (unsigned char)(hi << 4 | lo);
		s += 2;
	}
	return n;
}

static int parse_num(const char *s, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 0);
	return (errno || end == s || *end) ? -1 : 0;
}

static uint64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void print_sense(const unsigned char *s, int len)
{
	int code = len > 0 ? s[0] & 0x7f : 0;

	if ((code == 0x70 || code == 0x71) && len >= 14) {
		printf("status=CHECK_CONDITION key=0x%02x asc=0x%02x ascq=0x%02x", s[2] & 0x0f,
		       s[12], s[13]);
		if (s[0] & 0x80)
			printf(" info=%" PRIu64, be(s + 3, 4));
		if ((s[2] & 0x0f) == 0x0a) /* COPY ABORTED: the segment number */
			printf(" csi=%" PRIu64, be(s + 8, 4));
		if (len >= 18 && (s[15] & 0x80))
			printf(" sks=0x%02x%04x", s[15], (unsigned int)be(s + 16, 2));
		printf("\n");
		return;
	}
	if ((code == 0x72 || code == 0x73) && len >= 8) {
		int off = 8, end = 8 + s[7];

		printf("status=CHECK_CONDITION key=0x%02x asc=0x%02x ascq=0x%02x", s[1] & 0x0f,
		       s[2], s[3]);
		if (end > len)
			end = len;
		while (off + 2 <= end) {
			if (s[off] == 0 && off + 12 <= end && (s[off + 2] & 0x80))
				printf(" info=%" PRIu64, be(s + off + 4, 8));
			off += 2 + s[off + 1];
		}
		printf("\n");
		return;
	}
	printf("status=CHECK_CONDITION sense=unparsed\n");
}

static void print_task(struct scsi_task *task, int dump, int resid)
{
	int i;

	if (task->status == SCSI_STATUS_GOOD) {
		printf("status=GOOD\n");
	} else if (task->status == SCSI_STATUS_CHECK_CONDITION) {
		/* libiscsi keeps the raw sense (2-byte length first) in datain. */
		if (task->datain.size > 2)
			print_sense(task->datain.data + 2, task->datain.size - 2);
		else
			printf("status=CHECK_CONDITION sense=none\n");
	} else {
		printf("status=0x%02x\n", task->status);
	}
	if (resid) {
		if (task->residual_status == SCSI_RESIDUAL_UNDERFLOW)
			printf("resid=under %zu\n", task->residual);
		else if (task->residual_status == SCSI_RESIDUAL_OVERFLOW)
			printf("resid=over %zu\n", task->residual);
		else
			printf("resid=none\n");
	}
	if (dump && task->status == SCSI_STATUS_GOOD) {
		printf("data=");
		for (i = 0; i < task->datain.size; i++)
			printf("%02x", task->datain.data[i]);
		printf("\n");
	}
}

static int session_main(int argc, char **argv)
{
	const char *initiator = BSS_RAW_INITIATOR;
	struct iscsi_context *iscsi;
	struct iscsi_url *url;
	char line[256], cdbhex[128];
	unsigned char cdb[32];
	int ret = 0;

	if (argc == 5 && !strcmp(argv[3], "--initiator"))
		initiator = argv[4];
	else if (argc != 3)
		return 2;
	iscsi = iscsi_create_context(initiator);
	if (!iscsi)
		return 2;
	url = iscsi_parse_full_url(iscsi, argv[1]);
	if (!url || iscsi_set_targetname(iscsi, url->target) ||
	    iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL) ||
	    iscsi_full_connect_sync(iscsi, url->portal, url->lun)) {
		fprintf(stderr, "bss-raw: login to %s failed: %s\n", argv[1],
			iscsi_get_error(iscsi));
		return 2;
	}
	while (fgets(line, sizeof(line), stdin)) {
		unsigned long in_len = 0;
		struct scsi_task *task;
		int n, cdb_len;

		n = sscanf(line, "%127s %lu", cdbhex, &in_len);
		if (n < 1)
			continue;
		cdb_len = parse_cdb(cdbhex, cdb, (int)sizeof(cdb));
		if (cdb_len < 6) {
			fprintf(stderr, "bss-raw: bad CDB '%s'\n", cdbhex);
			ret = 2;
			break;
		}
		task = scsi_create_task(cdb_len, cdb, in_len ? SCSI_XFER_READ : SCSI_XFER_NONE,
					(int)in_len);
		if (!task || !iscsi_scsi_command_sync(iscsi, url->lun, task, NULL)) {
			fprintf(stderr, "bss-raw: transport failure: %s\n", iscsi_get_error(iscsi));
			ret = 2;
			break;
		}
		print_task(task, in_len > 0, 0);
		fflush(stdout);
		scsi_free_scsi_task(task);
	}
	if (!ret)
		iscsi_logout_sync(iscsi);
	iscsi_destroy_url(url);
	iscsi_destroy_context(iscsi);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned long in_len = 0, out_len = 0, out_byte = 0;
	const char *out_file = NULL;
	unsigned char cdb[32], *out = NULL;
	struct iscsi_context *iscsi;
	struct iscsi_url *url;
	struct scsi_task *task;
	struct iscsi_data data = { 0, NULL };
	const char *then_cdb = NULL;
	unsigned long then_in = 0;
	int cdb_len, i, dump = 0, resid = 0, dir;

	if (argc >= 3 && !strcmp(argv[2], "--session"))
		return session_main(argc, argv);
	if (argc < 3) {
		fprintf(stderr,
			"usage: bss-raw URL CDBHEX [--in N] [--out-byte B --out-len N |"
			" --out-file F] [--dump] [--resid] [--then CDBHEX [--then-in N]]\n");
		return 2;
	}
	cdb_len = parse_cdb(argv[2], cdb, (int)sizeof(cdb));
	if (cdb_len < 6) {
		fprintf(stderr, "bss-raw: bad CDB '%s'\n", argv[2]);
		return 2;
	}
	for (i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--dump")) {
			dump = 1;
		} else if (!strcmp(argv[i], "--resid")) {
			resid = 1;
		} else if (i + 1 < argc && !strcmp(argv[i], "--in")) {
			if (parse_num(argv[++i], &in_len))
				return 2;
		} else if (i + 1 < argc && !strcmp(argv[i], "--out-len")) {
			if (parse_num(argv[++i], &out_len))
				return 2;
		} else if (i + 1 < argc && !strcmp(argv[i], "--out-byte")) {
			if (parse_num(argv[++i], &out_byte))
				return 2;
		} else if (i + 1 < argc && !strcmp(argv[i], "--then")) {
			then_cdb = argv[++i];
		} else if (i + 1 < argc && !strcmp(argv[i], "--then-in")) {
			if (parse_num(argv[++i], &then_in))
				return 2;
		} else if (i + 1 < argc && !strcmp(argv[i], "--out-file")) {
			out_file = argv[++i];
		} else {
			fprintf(stderr, "bss-raw: bad argument '%s'\n", argv[i]);
			return 2;
		}
	}

	if (out_file) {
		FILE *f = fopen(out_file, "rb");
		long sz;

		if (!f || fseek(f, 0, SEEK_END) || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
			fprintf(stderr, "bss-raw: cannot read %s\n", out_file);
			return 2;
		}
		out_len = (unsigned long)sz;
		out = malloc(out_len ? out_len : 1);
		if (!out || fread(out, 1, out_len, f) != out_len) {
			fprintf(stderr, "bss-raw: cannot read %s\n", out_file);
			return 2;
		}
		fclose(f);
	} else if (out_len) {
		out = malloc(out_len);
		if (!out)
			return 2;
		memset(out, (int)out_byte, out_len);
	}
	if (out_len && in_len) {
		fprintf(stderr, "bss-raw: bidirectional commands are not supported\n");
		return 2;
	}

	iscsi = iscsi_create_context(BSS_RAW_INITIATOR);
	if (!iscsi)
		return 2;
	url = iscsi_parse_full_url(iscsi, argv[1]);
	if (!url) {
		fprintf(stderr, "bss-raw: bad URL %s: %s\n", argv[1], iscsi_get_error(iscsi));
		return 2;
	}
	iscsi_set_targetname(iscsi, url->target);
	iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	if (iscsi_full_connect_sync(iscsi, url->portal, url->lun) != 0) {
		fprintf(stderr, "bss-raw: login to %s failed: %s\n", argv[1],
			iscsi_get_error(iscsi));
		return 2;
	}

	if (out_len) {
		dir = SCSI_XFER_WRITE;
		data.size = (int)out_len;
		data.data = out;
	} else if (in_len) {
		dir = SCSI_XFER_READ;
	} else {
		dir = SCSI_XFER_NONE;
	}
	task = scsi_create_task(cdb_len, cdb, dir, (int)(out_len ? out_len : in_len));
	if (!task)
		return 2;

	if (!iscsi_scsi_command_sync(iscsi, url->lun, task, out_len ? &data : NULL)) {
		fprintf(stderr, "bss-raw: transport failure: %s\n", iscsi_get_error(iscsi));
		return 2;
	}

	print_task(task, dump, resid);
	scsi_free_scsi_task(task);

	/* --then: a second, data-in CDB on the same session (same I_T nexus). */
	if (then_cdb) {
		cdb_len = parse_cdb(then_cdb, cdb, (int)sizeof(cdb));
		task = cdb_len < 6 ? NULL
				   : scsi_create_task(cdb_len, cdb,
						      then_in ? SCSI_XFER_READ : SCSI_XFER_NONE,
						      (int)then_in);
		if (!task || !iscsi_scsi_command_sync(iscsi, url->lun, task, NULL)) {
			fprintf(stderr, "bss-raw: --then failed: %s\n", iscsi_get_error(iscsi));
			return 2;
		}
		print_task(task, dump, resid);
		scsi_free_scsi_task(task);
	}

	iscsi_logout_sync(iscsi);
	iscsi_destroy_url(url);
	iscsi_destroy_context(iscsi);
	free(out);
	return 0;
}
