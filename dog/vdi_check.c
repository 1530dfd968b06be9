// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dog vdi check: is every object of a vdi there and whole?
 *
 * As upstream, the inode and then every object the index names are hashed
 * by sheep (GET_HASH); upstream compares the digests of all replicas and
 * copies the majority over the odd ones out.  Against one node there is a
 * single copy of everything, so there is nothing to vote on or copy from:
 * a missing object is reported ("no node has OID") and left missing, an
 * unreadable one ends the check with exit 1, and -- as upstream -- missing
 * objects alone still end with exit 0 after "finish check&repair NAME".
 * The index is never rewritten: clearing an entry would turn a loss that
 * every read reports into silent zeros.
 *
 * On top of upstream, each index entry must name this vdi or one of its
 * ancestors (the parent_vdi_id chain): anything else is reported.
 *
 * With -e only existence is checked (EXIST per object, where upstream asks
 * each node with one OIDS_EXIST), with upstream's output and exit codes.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dog.h"

/* A parent chain longer than this is a loop in corrupt inodes. */
#define CHECK_MAX_DEPTH 4096

struct check_ctx {
	const struct dog_inode *ino;
	const char *name;
	uint32_t *family; /* this vdi and its ancestors */
	size_t nr_family;
};

/* Collect vid's parent chain into c->family.  DOG_EXIT_* code. */
static int load_family(struct check_ctx *c)
{
	struct sd_inode_header h;
	uint32_t vid = c->ino->hdr.parent_vdi_id;
	int res;

	c->family = calloc(CHECK_MAX_DEPTH + 1, sizeof(*c->family));
	if (!c->family) {
		dog_err("Out of memory");
		return DOG_EXIT_SYSFAIL;
	}
	c->family[c->nr_family++] = c->ino->vid;
	while (vid && c->nr_family <= CHECK_MAX_DEPTH) {
		c->family[c->nr_family++] = vid;
		res = dog_read_obj_res(sd_vid_to_vdi_oid(vid), &h, sizeof(h), 0, true);
		if (res < 0)
			return DOG_EXIT_SYSFAIL;
		if (res) {
			/* reported, not fatal: the objects are still checked */
			dog_err("ancestor %" PRIx32 " of %s unreadable: %s", vid, c->name,
				sd_strerror(res));
			break;
		}
		vid = h.parent_vdi_id;
	}
	return DOG_EXIT_SUCCESS;
}

static bool in_family(const struct check_ctx *c, uint32_t vid)
{
	for (size_t i = 0; i < c->nr_family; i++)
		if (c->family[i] == vid)
			return true;
	return false;
}

/* hash_one / exist_one: the object is missing (reported). */
#define CHECK_MISSING (-1)

/*
 * Hash one object.  Returns 0 if fine, CHECK_MISSING, or a DOG_EXIT_* code
 * (> 0) after printing why the check cannot go on.
 */
static int hash_one(uint64_t oid)
{
	struct sd_req req;
	struct sd_rsp rsp;

	dog_init_req(&req, SD_OP_GET_HASH);
	req.obj.oid = oid;
	if (dog_exec(&req, NULL, NULL, 0, &rsp) < 0)
		return DOG_EXIT_SYSFAIL;
	switch (rsp.result) {
	case SD_RES_SUCCESS: return 0;
	case SD_RES_NO_OBJ: dog_err("no node has %" PRIx64, oid); return CHECK_MISSING;
	default:
		dog_err("failed to read %" PRIx64 " from %s, %s", oid, dog_conn_name(),
			sd_strerror((int)rsp.result));
		return DOG_EXIT_FAILURE; /* upstream: any other result ends it, exit 1 */
	}
}

static int check_hashes(struct check_ctx *c)
{
	const struct dog_inode *ino = c->ino;
	struct dog_progress prog;
	uint64_t idx;
	int r;

	r = hash_one(sd_vid_to_vdi_oid(ino->vid));
	if (r > 0)
		return r;
	dog_progress_begin(&prog, ino->hdr.vdi_size);
	for (idx = 0; idx < ino->nr_objs; idx++) {
		uint32_t vid = ino->vids[idx];

		dog_progress_update(&prog, idx * ino->obj_size);
		if (!vid)
			continue;
		if (!in_family(c, vid))
			dog_err("index %" PRIu64 " of %s points to vdi %" PRIx32
				", which is neither %s nor one of its ancestors",
				idx, c->name, vid, c->name);
		r = hash_one(sd_vid_to_data_oid(vid, (uint32_t)idx));
		if (r > 0) {
			dog_progress_end(&prog, idx * ino->obj_size);
			return r;
		}
	}
	dog_progress_end(&prog, ino->hdr.vdi_size);
	printf("finish check&repair %s\n", c->name);
	return DOG_EXIT_SUCCESS;
}

/* -e: existence only.  0 if there, CHECK_MISSING, or DOG_EXIT_* (> 0). */
static int exist_one(uint64_t oid)
{
	struct sd_req req;
	struct sd_rsp rsp;

	dog_init_req(&req, SD_OP_EXIST);
	req.obj.oid = oid;
	if (dog_exec(&req, NULL, NULL, 0, &rsp) < 0)
		return DOG_EXIT_SYSFAIL;
	if (rsp.result == SD_RES_SUCCESS)
		return 0;
	if (rsp.result == SD_RES_NO_OBJ) {
		printf("[%s] oid %016" PRIx64 " is missing.\n", dog_conn_name(), oid);
		return CHECK_MISSING;
	}
	dog_err("Failed to check object %016" PRIx64 ": %s", oid, sd_strerror((int)rsp.result));
	return dog_res_to_exit((int)rsp.result);
}

static int check_exist(const struct check_ctx *c)
{
	const struct dog_inode *ino = c->ino;
	uint64_t lost = 0, idx;
	int r;

	r = exist_one(sd_vid_to_vdi_oid(ino->vid));
	if (r > 0)
		return r;
	lost += r == CHECK_MISSING;
	for (idx = 0; idx < ino->nr_objs; idx++) {
		if (!ino->vids[idx])
			continue;
		r = exist_one(sd_vid_to_data_oid(ino->vids[idx], (uint32_t)idx));
		if (r > 0)
			return r;
		lost += r == CHECK_MISSING;
	}
	if (!lost) {
		printf("%s is fine, no object is missing.\n", c->name);
		return DOG_EXIT_SUCCESS;
	}
	printf("%s lost %" PRIu64 " object(s).\n", c->name, lost);
	return DOG_EXIT_FAILURE;
}

int dog_cmd_vdi_check(const struct dog_opts *o, int argc, char **argv)
{
	struct dog_inode ino = { 0 };
	struct check_ctx c = { .ino = &ino, .name = argv[0] };
	int ret;

	/* upstream needs the node list first: no sheep is exit 2, no FATAL */
	if (!dog_cluster())
		return DOG_EXIT_SYSFAIL;
	ret = dog_inode_open(argv[0], o->snapid, o->tag, true, &ino);
	if (ret != DOG_EXIT_SUCCESS) {
		dog_err("FATAL: no inode objects");
		/* upstream: any failure to read the inode is exit 1 */
		return ret == DOG_EXIT_SYSFAIL ? ret : DOG_EXIT_FAILURE;
	}
	if (o->exist) {
		ret = check_exist(&c);
	} else {
		ret = load_family(&c);
		if (ret == DOG_EXIT_SUCCESS)
			ret = check_hashes(&c);
	}
	free(c.family);
	dog_inode_free(&ino);
	return ret;
}
