// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target: sheep's request decoding and execution, the path from bytes
 * on a connection to an op validated and run (event.c's conn_parse and
 * dispatch): the input is a stream of frames, each a 48-byte header and the
 * payload sheep_frame_payload_len() says follows.  A frame whose payload is
 * over its cap, or cut short, ends the stream as it closes a connection.
 * Every frame that passes sheep_op_precheck() runs its real handler on a
 * real store in a temporary directory; the store is formatted afresh before
 * each input so inputs do not depend on each other.
 *
 * Cut: the worker pool and the socket (the handlers run on this thread, as
 * a worker would run them); EXT_HELLO registers its client id with the
 * coherence table as event.c does.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "sheep.h"

/* the only store sheep formats (sheep/admin.c) */
#define FUZZ_STORE_NAME "plain"

static char g_dir[64];

static void cleanup(void)
{
	char cmd[128];

	sheep_vdi_destroy(&g_sheep.vdi);
	sheep_store_close(&g_sheep.store);
	sheep_coh_fini();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", g_dir);
}

static void setup(void)
{
	snprintf(g_dir, sizeof(g_dir), "/tmp/fuzz_sheep_req.XXXXXX");
	sheep_log_open(NULL, SHEEP_LOG_ERR, 0);
	if (!mkdtemp(g_dir) || sheep_store_open(&g_sheep.store, g_dir, 1) ||
	    sheep_vdi_init(&g_sheep.vdi, &g_sheep.store) || sheep_vdi_rebuild(&g_sheep.vdi)) {
		fprintf(stderr, "fuzz_sheep_req: setup failed\n");
		exit(1);
	}
	atexit(cleanup);
}

/* One request through precheck and its handler; the reply is dropped. */
static void run(const struct sd_req *hdr, void *payload, uint64_t client)
{
	struct sheep_request *req;

	if (sheep_op_precheck(hdr, sheep_op_get(hdr->opcode)) != SD_RES_SUCCESS) {
		free(payload);
		return;
	}
	req = calloc(1, sizeof(*req));
	if (!req) {
		free(payload);
		return;
	}
	req->hdr = *hdr;
	req->data = payload;
	req->client = client;
	sheep_op_execute(req);
	free(req->rdata);
	free(req->data);
	free(req);
}

static void format(void)
{
	struct sd_req h = { .opcode = SD_OP_MAKE_FS, .proto_ver = SD_PROTO_VER };
	char *name = strdup(FUZZ_STORE_NAME);

	h.flags = SD_FLAG_CMD_WRITE;
	h.data_length = sizeof(FUZZ_STORE_NAME);
	if (name)
		run(&h, name, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct fuzz_in in = { data, size };
	uint64_t client = 0;

	if (!ready) {
		setup();
		ready = 1;
	}
	__atomic_store_n(&g_sheep.shutting_down, 0, __ATOMIC_RELEASE);
	format();
	while (in.left >= SD_REQ_SIZE) {
		struct sd_req hdr;
		int64_t len;
		void *payload = NULL;

		fuzz_take(&in, &hdr, SD_REQ_SIZE);
		len = sheep_frame_payload_len(&hdr);
		if (len < 0 || (uint64_t)len > in.left)
			break;
		if (len) {
			payload = malloc((size_t)len);
			if (!payload)
				break;
			fuzz_take(&in, payload, (size_t)len);
		}
		if (sheep_frame_is_hello(&hdr)) {
			/* as event.c's hello(): the id names every later frame */
			if (!(hdr.flags & SD_FLAG_CMD_WRITE) && hdr.obj.oid != client &&
			    sheep_coh_conn_add(hdr.obj.oid) >= 0) {
				sheep_coh_conn_del(client);
				client = hdr.obj.oid;
			}
			free(payload);
			continue;
		}
		run(&hdr, payload, client);
	}
	sheep_coh_conn_del(client);
	return 0;
}
