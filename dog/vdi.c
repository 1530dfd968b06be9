// SPDX-License-Identifier: GPL-2.0-or-later
/* dog: vdi control-path commands (create, list, delete, snapshot, clone, resize). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sheepdog/sheepdog.h>

#include "codec.h"
#include "dog.h"

/* Entries zeroed per inode write when deleting (upstream's default batch). */
#define DOG_DELETE_BATCH 128
/* dog vdi list reads the header plus a B-tree node header. */
#define DOG_LIST_HDR_LEN (SD_INODE_HEADER_SIZE + 8)

static int check_name(const char *name)
{
	if (!name[0]) {
		dog_err("VDI name must not be empty");
		return DOG_EXIT_USAGE;
	}
	if (strlen(name) >= SD_MAX_VDI_LEN) {
		dog_err("VDI name is too long: '%s' (at most %d bytes)", name, SD_MAX_VDI_LEN - 1);
		return DOG_EXIT_USAGE;
	}
	return DOG_EXIT_SUCCESS;
}

static int parse_size_arg(const char *s, uint64_t *size)
{
	int ret = dog_parse_size(s, size);

	if (ret == -ERANGE)
		dog_err("Invalid size '%s': too large", s);
	else if (ret)
		dog_err("Invalid size '%s'\nYou may use K, M, G, T or P suffixes for "
			"kilobytes, megabytes, gigabytes, terabytes and petabytes.",
			s);
	return ret ? DOG_EXIT_USAGE : DOG_EXIT_SUCCESS;
}

/* NEW_VDI; returns SD_RES_* (new vid in *new_vid) or -errno. */
static int new_vdi_res(const char *name, uint64_t size, uint32_t base, uint32_t snapid,
		       uint8_t copies, uint8_t policy, uint8_t shift, uint32_t *new_vid)
{
	struct sdc_vdi_name buf;
	struct sd_req req;
	struct sd_rsp rsp;
	int ret;

	if (sdc_pack_vdi_name(&buf, name, NULL))
		return SD_RES_INVALID_PARMS; /* names are checked before */
	dog_init_req(&req, SD_OP_NEW_VDI);
	req.flags = SD_FLAG_CMD_WRITE;
	req.data_length = sizeof(buf.name); /* NEW_VDI takes the name only */
	req.vdi.vdi_size = size;
	req.vdi.base_vdi_id = base;
	req.vdi.snapid = snapid;
	req.vdi.copies = copies;
	req.vdi.copy_policy = policy;
	req.vdi.store_policy = SD_STORE_POLICY_FLAT;
	req.vdi.block_size_shift = shift;
	ret = dog_exec(&req, buf.name, NULL, 0, &rsp);
	if (ret)
		return ret;
	if (rsp.result == SD_RES_SUCCESS)
		*new_vid = rsp.vdi.vdi_id;
	return (int)rsp.result;
}

/*
 * vdi create -P: allocate every object of the new vdi ino as upstream does,
 * with a zero-length CREATE_AND_WRITE (sheep zero-fills; no data on the
 * wire) and its index entry.  Nobody else has the vdi yet: no COW, no
 * reload.  ino->vids is updated.
 */
static int prealloc(struct dog_inode *ino)
{
	struct dog_progress prog;
	uint64_t idx;
	int res;

	dog_progress_begin(&prog, ino->hdr.vdi_size);
	for (idx = 0; idx < ino->nr_objs; idx++) {
		res = dog_write_obj_res(sd_vid_to_data_oid(ino->vid, (uint32_t)idx), 0, NULL, 0, 0,
					SD_FLAG_CMD_DIRECT, ino->hdr.nr_copies,
					ino->hdr.copy_policy, true);
		if (!res) {
			ino->vids[idx] = ino->vid;
			res = dog_inode_write_vids_res(ino, idx, idx + 1, SD_FLAG_CMD_DIRECT);
		}
		if (res) {
			if (res > 0)
				dog_err("Failed to preallocate object %" PRIu64 ": %s", idx,
					sd_strerror(res));
			return dog_res_to_exit(res);
		}
		dog_progress_update(&prog, (idx + 1) * ino->obj_size);
	}
	dog_progress_end(&prog, ino->hdr.vdi_size);
	return DOG_EXIT_SUCCESS;
}

static int cluster_shift(uint8_t *shift)
{
	struct sd_cluster_info *ci;
	int ret = dog_cluster_info(&ci);

	/* not formatted: NEW_VDI will say so */
	*shift = ci ? ci->block_size_shift : 0;
	free(ci);
	return ret;
}

int dog_cmd_vdi_create(const struct dog_opts *o, int argc, char **argv)
{
	const char *name = argv[0];
	struct dog_inode ino;
	struct sd_node *nodes;
	unsigned nr;
	uint32_t epoch, vid;
	uint64_t size;
	uint8_t shift = 0;
	char a[32];
	int ret, res;

	if ((ret = check_name(name)) || (ret = parse_size_arg(argv[1], &size)))
		return ret;
	ret = dog_node_list(&nodes, &nr, &epoch);
	if (ret)
		return ret;
	free(nodes);
	if (!o->block_shift && (ret = cluster_shift(&shift)))
		return ret;
	if (o->block_shift)
		shift = o->block_shift;
	if (size > sd_max_flat_vdi_size(shift ? shift : SD_DEFAULT_BLOCK_SIZE_SHIFT)) {
		uint64_t max = sd_max_flat_vdi_size(shift ? shift : SD_DEFAULT_BLOCK_SIZE_SHIFT);

		dog_err("VDI size is too large: the maximum is %" PRIu64 " bytes (%s)", max,
			dog_strnumber(max, false, a, sizeof(a)));
		return DOG_EXIT_USAGE;
	}
	res = new_vdi_res(name, size, 0, 0, o->copies, o->copy_policy, o->block_shift, &vid);
	if (res < 0)
		return DOG_EXIT_SYSFAIL;
	if (res) {
		dog_err("Failed to create VDI %s: %s", name, sd_strerror(res));
		return dog_res_to_exit(res);
	}
	if (!o->prealloc)
		return DOG_EXIT_SUCCESS;
	ret = dog_inode_open(name, 0, "", true, &ino);
	if (ret)
		return ret;
	ret = prealloc(&ino);
	dog_inode_free(&ino);
	return ret;
}

static bool bit_set(const uint64_t *bits, uint32_t n)
{
	return (bits[n / 64] >> (n % 64)) & 1;
}

static int read_bitmap(uint8_t opcode, uint64_t **out)
{
	struct sd_req req;
	struct sd_rsp rsp;
	uint64_t *bits = calloc(1, SD_VDI_BITMAP_SIZE);

	if (!bits) {
		dog_err("Out of memory");
		return DOG_EXIT_SYSFAIL;
	}
	dog_init_req(&req, opcode);
	req.data_length = SD_VDI_BITMAP_SIZE;
	if (dog_exec(&req, NULL, bits, SD_VDI_BITMAP_SIZE, &rsp)) {
		free(bits);
		return DOG_EXIT_SYSFAIL;
	}
	if (rsp.result != SD_RES_SUCCESS) {
		dog_err("Failed to read the VDI list: %s", sd_strerror((int)rsp.result));
		free(bits);
		return dog_res_to_exit((int)rsp.result);
	}
	*out = bits;
	return DOG_EXIT_SUCCESS;
}

static void print_vdi_row(const struct dog_opts *o, const struct sd_inode_header *h, uint64_t used,
			  uint64_t shared)
{
	char sz[32], us[32], sh[32], when[64], red[16];
	bool snap = sd_inode_is_snapshot(h);
	bool clone = h->snap_id == 1 && h->parent_vdi_id != 0;
	uint32_t snapid = snap ? h->snap_id : 0;
	time_t t = (time_t)(h->create_time >> 32);
	struct tm tm;

	if (o->raw) {
		snprintf(when, sizeof(when), "%" PRIu64, h->create_time >> 32);
	} else {
		localtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
	}
	dog_strnumber(h->vdi_size, o->raw, sz, sizeof(sz));
	dog_strnumber(used, o->raw, us, sizeof(us));
	dog_strnumber(shared, o->raw, sh, sizeof(sh));
	dog_redundancy_str(h->nr_copies, h->copy_policy, red, sizeof(red));
	if (o->raw) {
		printf("%c ", snap ? 's' : (clone ? 'c' : '='));
		dog_fput_escaped(stdout, h->name);
		printf(" %" PRIu32 " %s %s %s %s %" PRIx32 " %s %s %u\n", snapid, sz, us, sh, when,
		       h->vdi_id, red, h->tag, h->block_size_shift);
	} else {
		printf("%c %-8s %5" PRIu32 " %7s %7s %7s %s  %7" PRIx32 " %6s %13s %3u\n",
		       snap ? 's' : (clone ? 'c' : ' '), h->name, snapid, sz, us, sh, when,
		       h->vdi_id, red, h->tag, h->block_size_shift);
	}
}

/* Print one vid's row if it is a live vdi (matching filter).  0 or exit code. */
static int list_one(const struct dog_opts *o, uint32_t vid, const char *filter, uint32_t **vids,
		    uint64_t *vids_cap)
{
	union {
		struct sd_inode_header h;
		char raw[DOG_LIST_HDR_LEN];
	} u;
	struct sdc_inode_geom geom;
	uint64_t nr, i, mine = 0, cow = 0, obj = 0;
	int res;

	res = dog_read_obj_res(sd_vid_to_vdi_oid(vid), &u, DOG_LIST_HDR_LEN, 0, true);
	if (res < 0)
		return DOG_EXIT_SYSFAIL;
	if (res)
		return DOG_EXIT_SUCCESS; /* gone meanwhile */
	u.h.name[SD_MAX_VDI_LEN - 1] = '\0';
	u.h.tag[SD_MAX_VDI_TAG_LEN - 1] = '\0';
	if (!u.h.name[0] || (filter && strcmp(filter, u.h.name)))
		return DOG_EXIT_SUCCESS;
	/* a header that does not decode is listed with nothing in use */
	if (!sdc_inode_decode(&u.h, &geom)) {
		obj = geom.obj_size;
		nr = geom.nr_objs;
		if (nr > *vids_cap) {
			free(*vids);
			*vids = malloc(nr * sizeof(uint32_t));
			if (!*vids) {
				*vids_cap = 0;
				dog_err("Out of memory");
				return DOG_EXIT_SYSFAIL;
			}
			*vids_cap = nr;
		}
		res = dog_read_obj_res(sd_vid_to_vdi_oid(vid), *vids,
				       (uint32_t)(nr * sizeof(uint32_t)), SD_INODE_HEADER_SIZE,
				       true);
		if (res < 0)
			return DOG_EXIT_SYSFAIL;
		for (i = 0; !res && i < nr; i++) {
			if ((*vids)[i] == vid)
				mine++;
			else if ((*vids)[i])
				cow++;
		}
	}
	print_vdi_row(o, &u.h, mine * obj, cow * obj);
	return DOG_EXIT_SUCCESS;
}

int dog_cmd_vdi_list(const struct dog_opts *o, int argc, char **argv)
{
	uint64_t *inuse = NULL, *deleted = NULL, cap = 0;
	uint32_t *vids = NULL, vid;
	int ret;

	if ((ret = read_bitmap(SD_OP_READ_VDIS, &inuse)))
		return ret;
	if ((ret = read_bitmap(SD_OP_READ_DEL_VDIS, &deleted)))
		goto out;
	if (!o->raw)
		printf("  Name        Id    Size    Used  Shared    Creation time   VDI id  Copies"
		       "  Tag   Block Size Shift\n");
	for (vid = 1; vid < SD_NR_VDIS && !ret; vid++) {
		if (!inuse[vid / 64]) {
			vid |= 63; /* skip an empty word */
			continue;
		}
		if (bit_set(inuse, vid) && !bit_set(deleted, vid))
			ret = list_one(o, vid, argc ? argv[0] : NULL, &vids, &cap);
	}
out:
	free(vids);
	free(inuse);
	free(deleted);
	return ret;
}

int dog_total_vdi_size(uint64_t *total)
{
	uint64_t *inuse = NULL, *deleted = NULL;
	struct sd_inode_header h;
	uint32_t vid;
	int ret, res;

	*total = 0;
	if ((ret = read_bitmap(SD_OP_READ_VDIS, &inuse)))
		return ret;
	if ((ret = read_bitmap(SD_OP_READ_DEL_VDIS, &deleted)))
		goto out;
	for (vid = 1; vid < SD_NR_VDIS; vid++) {
		if (!inuse[vid / 64]) {
			vid |= 63;
			continue;
		}
		if (!bit_set(inuse, vid) || bit_set(deleted, vid))
			continue;
		res = dog_read_obj_res(sd_vid_to_vdi_oid(vid), &h, sizeof(h), 0, true);
		if (res < 0) {
			ret = DOG_EXIT_SYSFAIL;
			break;
		}
		if (!res && h.name[0] && !sd_inode_is_snapshot(&h))
			*total += h.vdi_size;
	}
out:
	free(inuse);
	free(deleted);
	return ret;
}

static int del_vdi_res(const char *name, uint32_t snapid, const char *tag)
{
	struct sdc_vdi_name buf;
	struct sd_req req;
	struct sd_rsp rsp;
	int ret;

	if (sdc_pack_vdi_name(&buf, name, tag))
		return SD_RES_INVALID_PARMS; /* checked by the lookup before */
	dog_init_req(&req, SD_OP_DEL_VDI);
	req.flags = SD_FLAG_CMD_WRITE;
	req.data_length = sizeof(buf);
	req.vdi.snapid = snapid;
	ret = dog_exec(&req, &buf, NULL, 0, &rsp);
	return ret ? ret : (int)rsp.result;
}

/*
 * dog's delete sequence: drop the inode's references in batches (so sheep
 * reclaims unshared objects), then DEL_VDI.  Returns a DOG_EXIT_* code.
 */
static int do_delete(const char *name, uint32_t snapid, const char *tag)
{
	struct dog_inode ino;
	uint64_t start, end, n;
	bool wrote = false;
	int ret, res;

	ret = dog_inode_open(name, snapid, tag, true, &ino);
	if (ret)
		return ret;
	/* Drop the references in batches so sheep can reclaim the objects. */
	for (start = 0; start < ino.nr_objs; start = end) {
		while (start < ino.nr_objs && !ino.vids[start])
			start++;
		if (start == ino.nr_objs)
			break;
		for (end = start, n = 0; end < ino.nr_objs && n < DOG_DELETE_BATCH; end++) {
			if (ino.vids[end]) {
				ino.vids[end] = 0;
				n++;
			}
		}
		res = dog_inode_write_vids_res(&ino, start, end, SD_FLAG_CMD_DIRECT);
		if (res)
			goto fail;
		wrote = true;
	}
	if (!wrote) {
		res = dog_write_obj_res(sd_vid_to_vdi_oid(ino.vid), 0, NULL, 0,
					SD_INODE_HEADER_SIZE, SD_FLAG_CMD_DIRECT, ino.hdr.nr_copies,
					ino.hdr.copy_policy, false);
		if (res)
			goto fail;
	}
	res = del_vdi_res(name, snapid, tag);
	if (res)
		goto fail;
	dog_inode_free(&ino);
	return DOG_EXIT_SUCCESS;
fail:
	if (res > 0)
		dog_err("Failed to delete VDI %s: %s", name, sd_strerror(res));
	dog_inode_free(&ino);
	return dog_res_to_exit(res);
}

int dog_cmd_vdi_delete(const struct dog_opts *o, int argc, char **argv)
{
	uint32_t vid;
	int ret = check_name(argv[0]), res;

	if (ret)
		return ret;
	/*
	 * 1.0.1 says it cannot find the vdi (or the snapshot) and exits 0:
	 * deleting what is not there is not an error for its scripts.
	 */
	res = dog_find_vdi_res(argv[0], o->snapid, o->tag, &vid);
	if (res == SD_RES_NO_VDI || res == SD_RES_NO_TAG) {
		dog_vdi_lookup(argv[0], o->snapid, o->tag, &vid); /* the message */
		return DOG_EXIT_SUCCESS;
	}
	return do_delete(argv[0], o->snapid, o->tag);
}

int dog_cmd_vdi_rollback(const struct dog_opts *o, int argc, char **argv)
{
	const char *name = argv[0];
	struct dog_inode snap;
	uint32_t new_vid;
	int ret, res;

	if ((ret = check_name(name)))
		return ret;
	if (!o->has_snap) {
		dog_err("Please specify the '-s' option");
		return DOG_EXIT_USAGE;
	}
	ret = dog_inode_open(name, o->snapid, o->tag, false, &snap);
	if (ret)
		return ret;
	if (!o->force)
		dog_confirm("This operation discards any changes made since the previous\n"
			    "snapshot was taken.  Continue? [yes/no]: ");
	ret = do_delete(name, 0, "");
	if (ret) {
		dog_err("Failed to delete the current state");
		return ret;
	}
	res = new_vdi_res(name, snap.hdr.vdi_size, snap.vid, 0, snap.hdr.nr_copies,
			  snap.hdr.copy_policy, snap.hdr.block_size_shift, &new_vid);
	if (res) {
		if (res > 0)
			dog_err("Failed to create VDI %s: %s", name, sd_strerror(res));
		return dog_res_to_exit(res);
	}
	if (o->verbose)
		printf("New VDI ID of rollbacked VDI: %" PRIx32 "\n", new_vid);
	return DOG_EXIT_SUCCESS;
}

int dog_cmd_vdi_snapshot(const struct dog_opts *o, int argc, char **argv)
{
	const char *name = argv[0];
	char tag[SD_MAX_VDI_TAG_LEN];
	struct dog_inode ino;
	uint32_t vid, new_vid;
	int ret, res;

	if ((ret = check_name(name)))
		return ret;
	if (o->snapid) {
		dog_err("Please specify a non-integer value for a snapshot tag name");
		return DOG_EXIT_USAGE;
	}
	if (o->tag[0]) {
		res = dog_find_vdi_res(name, 0, o->tag, &vid);
		if (res < 0)
			return DOG_EXIT_FAILURE; /* upstream: 1, sheep or not */
		if (res == SD_RES_SUCCESS) {
			dog_err("Failed to create snapshot for %s: tag '%s' is already used by "
				"another snapshot",
				name, o->tag);
			return DOG_EXIT_FAILURE;
		}
		if (res != SD_RES_NO_TAG) {
			dog_err("Failed to create snapshot for %s: %s", name, sd_strerror(res));
			return dog_res_to_exit(res);
		}
	}
	ret = dog_inode_open(name, 0, "", false, &ino);
	if (ret)
		return ret;
	/* The tag goes into the working inode, which becomes the snapshot. */
	memset(tag, 0, sizeof(tag));
	memcpy(tag, o->tag, strlen(o->tag));
	res = dog_write_obj_res(sd_vid_to_vdi_oid(ino.vid), 0, tag, sizeof(tag),
				offsetof(struct sd_inode_header, tag), SD_FLAG_CMD_DIRECT,
				ino.hdr.nr_copies, ino.hdr.copy_policy, false);
	if (!res)
		res = new_vdi_res(name, ino.hdr.vdi_size, ino.vid, 1, ino.hdr.nr_copies,
				  ino.hdr.copy_policy, ino.hdr.block_size_shift, &new_vid);
	if (res) {
		if (res > 0)
			dog_err("Failed to create snapshot for %s: %s", name, sd_strerror(res));
		return dog_res_to_exit(res);
	}
	if (o->verbose) {
		if (o->raw)
			printf("%" PRIx32 " %" PRIx32 "\n", new_vid, ino.vid);
		else
			printf("new VID of original VDI: %" PRIx32 ", VDI ID of newly created "
			       "snapshot: %" PRIx32 "\n",
			       new_vid, ino.vid);
	}
	return DOG_EXIT_SUCCESS;
}

/*
 * clone -P: copy the snapshot's data into every object of the clone through
 * the vdi API (holes become zero-filled objects), so the library does the
 * creates and index updates.
 */
static int clone_copy(const struct dog_opts *o, const char *src, const char *dst)
{
	struct sd_cluster *c = dog_cluster();
	struct sd_vdi *from, *to = NULL;
	int ret, err;

	from = sd_vdi_open_flags(c, src, o->snapid, o->tag, SD_VDI_NOLOCK);
	if (from)
		to = sd_vdi_open(c, dst, 0, NULL);
	if (!to) {
		err = -errno;
		dog_err("Failed to open VDI %s: %s", from ? dst : src, sd_cluster_errmsg(c));
		if (from)
			sd_vdi_close(from);
		return dog_errno_to_exit(err);
	}
	ret = dog_vdi_copy(from, to, dst, sd_vdi_size(to));
	err = sd_vdi_close(to);
	if (err && !ret) {
		dog_err("Failed to close VDI %s: %s", dst, sd_cluster_errmsg(c));
		ret = dog_errno_to_exit(err);
	}
	sd_vdi_close(from);
	return ret;
}

int dog_cmd_vdi_clone(const struct dog_opts *o, int argc, char **argv)
{
	const char *src = argv[0], *dst = argv[1];
	struct dog_inode base;
	uint32_t new_vid;
	int ret, res;

	if ((ret = check_name(src)) || (ret = check_name(dst)))
		return ret;
	if (!o->has_snap) {
		dog_err("Only snapshot VDIs can be cloned\nPlease specify snapshot with '-s'");
		return DOG_EXIT_USAGE;
	}
	ret = dog_inode_open(src, o->snapid, o->tag, false, &base);
	if (ret)
		return ret;
	res = new_vdi_res(dst, base.hdr.vdi_size, base.vid, 0, base.hdr.nr_copies,
			  base.hdr.copy_policy, base.hdr.block_size_shift, &new_vid);
	dog_inode_free(&base);
	if (res) {
		if (res > 0)
			dog_err("Failed to create VDI %s: %s", dst, sd_strerror(res));
		return dog_res_to_exit(res);
	}
	if (o->verbose)
		printf("new VDI ID of %s: %" PRIx32 "\n", dst, new_vid);
	return o->prealloc ? clone_copy(o, src, dst) : DOG_EXIT_SUCCESS;
}

int dog_cmd_vdi_resize(const struct dog_opts *o, int argc, char **argv)
{
	const char *name = argv[0];
	struct dog_inode ino;
	uint64_t size, max;
	char a[32];
	int ret, res;

	if ((ret = check_name(name)) || (ret = parse_size_arg(argv[1], &size)))
		return ret;
	ret = dog_inode_open(name, 0, "", false, &ino);
	if (ret)
		return ret;
	max = sd_max_flat_vdi_size(ino.hdr.block_size_shift ? ino.hdr.block_size_shift
							    : SD_DEFAULT_BLOCK_SIZE_SHIFT);
	if (size > max) {
		dog_err("New VDI size is too large. This volume's max size is %" PRIu64 " (%s)",
			max, dog_strnumber(max, false, a, sizeof(a)));
		return DOG_EXIT_USAGE;
	}
	if (size < ino.hdr.vdi_size) {
		dog_err("Shrinking VDIs is not implemented");
		return DOG_EXIT_USAGE;
	}
	ino.hdr.vdi_size = size;
	res = dog_write_obj_res(sd_vid_to_vdi_oid(ino.vid), 0, &ino.hdr, sizeof(ino.hdr), 0,
				SD_FLAG_CMD_DIRECT, ino.hdr.nr_copies, ino.hdr.copy_policy, false);
	if (res) {
		if (res > 0)
			dog_err("Failed to update the inode header of %s: %s", name,
				sd_strerror(res));
		return dog_res_to_exit(res);
	}
	return DOG_EXIT_SUCCESS;
}
