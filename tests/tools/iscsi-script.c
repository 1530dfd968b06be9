/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * iscsi-io --mode script: raw CDBs from several I_T nexuses that stay
 * logged in across lines (the command language is in iscsi-io.c's usage
 * comment).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "iscsi-io.h"

/* ---- --mode script: raw CDBs from several sessions --------------------- */

#define IO_SCRIPT_SESSIONS 8

struct io_session {
	char name[32];
	struct iscsi_context *iscsi;
};

static int io_hex(const char *s, unsigned char *out, size_t max, size_t *len)
{
	size_t n = 0;
	unsigned int v;

	while (s[0] && s[1]) {
		if (n == max || sscanf(s, "%2x", &v) != 1)
			return -1;
		out[n++] = (unsigned char)v;
		s += 2;
	}
	*len = n;
	return *s ? -1 : 0;
}

/* Split `s` in place at blanks into at most `max` words. */
static int io_split(char *s, char **tok, int max)
{
	int n = 0;

	while (n < max) {
		while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
			*s++ = 0;
		if (!*s)
			break;
		tok[n++] = s;
		while (*s && *s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			s++;
	}
	return n;
}

static struct io_session *io_session_find(struct io_session *ss, const char *name)
{
	int i;

	for (i = 0; i < IO_SCRIPT_SESSIONS; i++)
		if (ss[i].iscsi && !strcmp(ss[i].name, name))
			return &ss[i];
	return NULL;
}

static struct scsi_task *io_script_cdb(struct io_session *s, int lun, const unsigned char *cdb,
				       size_t cdb_len, unsigned char *out, size_t out_len,
				       size_t in_len)
{
	struct iscsi_data data = { (int)out_len, out };
	struct scsi_task *task;
	int dir = out_len ? SCSI_XFER_WRITE : in_len ? SCSI_XFER_READ : SCSI_XFER_NONE;

	task = scsi_create_task((int)cdb_len, (unsigned char *)cdb, dir,
				(int)(out_len ? out_len : in_len));
	if (!task)
		return NULL;
	if (!iscsi_scsi_command_sync(s->iscsi, lun, task, out_len ? &data : NULL)) {
		scsi_free_scsi_task(task);
		return NULL;
	}
	return task;
}

static int io_script_login(struct io_session *ss, int idx, const char *url_s, int *lun,
			   const char *name, const char *ini, const char *isid_s)
{
	static const unsigned char tur[6];
	struct io_session *s = &ss[idx];
	unsigned char isid[6];
	struct iscsi_url *url;
	struct scsi_task *task;
	size_t n;
	int i, ua;

	if (isid_s) {
		if (io_hex(isid_s, isid, sizeof(isid), &n) || n != 6)
			return -1;
	} else {
		memcpy(isid, "\x23\xd0\x00\x00\x00\x00", 6);
		isid[5] = (unsigned char)idx;
	}
	s->iscsi = iscsi_create_context(ini);
	if (!s->iscsi)
		return -1;
	snprintf(s->name, sizeof(s->name), "%s", name);
	/* "random" format (0x80 | 0x40 = 10b qualifier): the bytes as given */
	iscsi_set_isid_random(s->iscsi, (uint32_t)(isid[1] << 16 | isid[2] << 8 | isid[3]),
			      (uint32_t)(isid[4] << 8 | isid[5]));
	url = iscsi_parse_full_url(s->iscsi, url_s);
	if (!url)
		return -1;
	iscsi_set_targetname(s->iscsi, url->target);
	iscsi_set_session_type(s->iscsi, ISCSI_SESSION_NORMAL);
	*lun = url->lun;
	if (iscsi_full_connect_sync(s->iscsi, url->portal, url->lun)) {
		fprintf(stderr, "iscsi-io: login of %s failed: %s\n", ini,
			iscsi_get_error(s->iscsi));
		iscsi_destroy_url(url);
		return -1;
	}
	iscsi_destroy_url(url);
	/* clear the login's unit attentions (bounded) */
	for (i = 0; i < 8; i++) {
		task = io_script_cdb(s, *lun, tur, sizeof(tur), NULL, 0, 0);
		if (!task)
			return -1;
		ua = task->status == SCSI_STATUS_CHECK_CONDITION &&
		     task->sense.key == SCSI_SENSE_UNIT_ATTENTION;
		scsi_free_scsi_task(task);
		if (!ua)
			break;
	}
	return 0;
}

static void io_script_print(const char *name, struct scsi_task *task)
{
	int i;

	printf("%s ", name);
	if (task->status == SCSI_STATUS_GOOD) {
		printf("status=GOOD");
		if (task->datain.size > 0) {
			printf(" data=");
			for (i = 0; i < task->datain.size; i++)
				printf("%02x", task->datain.data[i]);
		}
	} else if (task->status == SCSI_STATUS_CHECK_CONDITION) {
		printf("status=CHECK_CONDITION key=0x%02x asc=0x%02x ascq=0x%02x", task->sense.key,
		       (task->sense.ascq >> 8) & 0xff, task->sense.ascq & 0xff);
	} else {
		printf("status=0x%02x", task->status);
	}
	printf("\n");
	fflush(stdout);
}

int io_run_script(const char *url)
{
	static unsigned char out[65536];
	struct io_session ss[IO_SCRIPT_SESSIONS];
	char line[70000], *tok[8];
	unsigned char cdb[32];
	size_t cdb_len, out_len, in_len;
	struct io_session *s;
	struct scsi_task *task;
	int i, nt, lun = 0, rc = 0, lineno = 0;

	memset(ss, 0, sizeof(ss));
	while (rc == 0 && fgets(line, sizeof(line), stdin)) {
		lineno++;
		nt = io_split(line, tok, 7);
		if (nt == 0 || tok[0][0] == '#')
			continue;
		if (!strcmp(tok[0], "login") && nt >= 3 && nt <= 5) {
			const char *isid = NULL, *to = url;
			int url_lun = lun;

			for (i = 3; i < nt; i++) {
				if (!strncmp(tok[i], "url=", 4))
					to = tok[i] + 4;
				else
					isid = tok[i];
			}
			for (i = 0; i < IO_SCRIPT_SESSIONS && ss[i].iscsi; i++)
				;
			if (i == IO_SCRIPT_SESSIONS || io_session_find(ss, tok[1]) ||
			    io_script_login(ss, i, to, &url_lun, tok[1], tok[2], isid))
				rc = -1;
			else
				lun = url_lun;
			continue;
		}
		if (!strcmp(tok[0], "logout") && nt == 2) {
			s = io_session_find(ss, tok[1]);
			if (!s) {
				rc = -1;
				continue;
			}
			iscsi_logout_sync(s->iscsi);
			iscsi_destroy_context(s->iscsi);
			memset(s, 0, sizeof(*s));
			continue;
		}
		if (!strcmp(tok[0], "lunreset") && nt == 2) {
			s = io_session_find(ss, tok[1]);
			if (!s) {
				rc = -1;
				continue;
			}
			if (iscsi_task_mgmt_lun_reset_sync(s->iscsi, (uint32_t)lun))
				printf("%s tmf=failed\n", s->name);
			else
				printf("%s tmf=0\n", s->name);
			fflush(stdout);
			continue;
		}
		s = io_session_find(ss, tok[0]);
		if (!s || nt < 2 || io_hex(tok[1], cdb, sizeof(cdb), &cdb_len) || cdb_len < 6) {
			rc = -1;
			continue;
		}
		out_len = in_len = 0;
		for (i = 2; i < nt && rc == 0; i++) {
			if (!strncmp(tok[i], "out=", 4))
				rc = io_hex(tok[i] + 4, out, sizeof(out), &out_len);
			else if (!strncmp(tok[i], "in=", 3))
				in_len = strtoul(tok[i] + 3, NULL, 0);
			else
				rc = -1;
		}
		if (rc || (out_len && in_len))
			continue;
		task = io_script_cdb(s, lun, cdb, cdb_len, out, out_len, in_len);
		if (!task) {
			fprintf(stderr, "iscsi-io: transport failure on %s: %s\n", s->name,
				iscsi_get_error(s->iscsi));
			rc = -1;
			continue;
		}
		io_script_print(s->name, task);
		scsi_free_scsi_task(task);
	}
	if (rc)
		fprintf(stderr, "iscsi-io: script line %d failed\n", lineno);
	for (i = 0; i < IO_SCRIPT_SESSIONS; i++) {
		if (!ss[i].iscsi)
			continue;
		iscsi_logout_sync(ss[i].iscsi);
		iscsi_destroy_context(ss[i].iscsi);
	}
	return rc ? 2 : 0;
}
