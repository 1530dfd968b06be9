// SPDX-License-Identifier: GPL-2.0-or-later
/* dog: vdi data path (vdi read to stdout, vdi write from stdin). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net.h"
#include "dog.h"

/* Largest request dog sends: bounds memory with 2 GiB objects. */
#define DOG_IO_CHUNK	(UINT64_C(4) << 20)

struct io_range {
	uint64_t offset;
	uint64_t total;
};

/* Parse [offset [len]] and clip to the vdi size.  DOG_EXIT_* code. */
static int parse_range(int argc, char **argv, const struct dog_inode *ino, const char *what,
		       struct io_range *r)
{
	uint64_t len = 0;

	r->offset = 0;
	if (argc > 1 && dog_parse_size(argv[1], &r->offset)) {
		dog_err("Invalid offset '%s'", argv[1]);
		return DOG_EXIT_USAGE;
	}
	if (argc > 2 && dog_parse_size(argv[2], &len)) {
		dog_err("Invalid length '%s'", argv[2]);
		return DOG_EXIT_USAGE;
	}
	if (r->offset > ino->hdr.vdi_size) {
		dog_err("%s offset is beyond the end of the VDI", what);
		return DOG_EXIT_FAILURE;
	}
	r->total = ino->hdr.vdi_size - r->offset;
	if (argc > 2 && len < r->total)
		r->total = len;
	return DOG_EXIT_SUCCESS;
}

static int parse_args_early(int argc, char **argv)
{
	uint64_t v;

	if (argc > 1 && dog_parse_size(argv[1], &v)) {
		dog_err("Invalid offset '%s'", argv[1]);
		return DOG_EXIT_USAGE;
	}
	if (argc > 2 && dog_parse_size(argv[2], &v)) {
		dog_err("Invalid length '%s'", argv[2]);
		return DOG_EXIT_USAGE;
	}
	return DOG_EXIT_SUCCESS;
}

static int write_out(const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(STDOUT_FILENO, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read up to len bytes from stdin; returns bytes read (short only at EOF) or -errno. */
static ssize_t read_in(char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(STDIN_FILENO, buf + got, len - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static uint64_t chunk_len(const struct dog_inode *ino, uint64_t pos, uint64_t left)
{
	uint64_t in_obj = ino->obj_size - (pos & (ino->obj_size - 1));
	uint64_t len = left < in_obj ? left : in_obj;

	return len < DOG_IO_CHUNK ? len : DOG_IO_CHUNK;
}

/*
 * Common start of vdi read/write: arguments, the inode, the byte range and
 * a chunk buffer.  On failure nothing is left to free.
 */
static int io_begin(int argc, char **argv, uint32_t snapid, const char *tag, const char *verb,
		    struct dog_inode *ino, struct io_range *r, char **buf)
{
	int ret;

	if ((ret = parse_args_early(argc, argv)))
		return ret;
	ret = dog_inode_open(argv[0], snapid, tag, true, ino);
	if (ret)
		return ret;
	ret = parse_range(argc, argv, ino, verb, r);
	if (!ret && !(*buf = malloc(DOG_IO_CHUNK))) {
		dog_err("Out of memory");
		ret = DOG_EXIT_SYSFAIL;
	}
	if (ret)
		dog_inode_free(ino);
	return ret;
}

int dog_cmd_vdi_read(const struct dog_opts *o, int argc, char **argv)
{
	const char *name = argv[0];
	struct dog_progress prog;
	struct dog_inode ino;
	struct io_range r;
	uint64_t done = 0;
	char *buf = NULL;
	int ret, res;

	ret = io_begin(argc, argv, o->snapid, o->tag, "Read", &ino, &r, &buf);
	if (ret)
		return ret;
	dog_progress_begin(&prog, r.total);
	while (done < r.total) {
		uint64_t pos = r.offset + done;
		uint64_t len = chunk_len(&ino, pos, r.total - done);
		uint64_t idx = pos / ino.obj_size;
		uint32_t owner = ino.vids[idx];

		if (owner) {
			res = dog_read_obj_res(sd_vid_to_data_oid(owner, (uint32_t)idx), buf,
					       (uint32_t)len, pos % ino.obj_size, false);
			if (res) {
				if (res > 0)
					dog_err("Failed to read VDI %s at offset %" PRIu64 ": %s",
						name, pos, sd_strerror(res));
				ret = dog_res_to_exit(res);
				goto out;
			}
		} else {
			memset(buf, 0, len);	/* never written: zeros, no request */
		}
		res = write_out(buf, len);
		if (res) {
			dog_err("Failed to write to stdout: %s", strerror(-res));
			ret = DOG_EXIT_FAILURE;
			goto out;
		}
		done += len;
		dog_progress_update(&prog, done);
	}
	dog_progress_end(&prog, done);
out:
	free(buf);
	dog_inode_free(&ino);
	return ret;
}

/* Write one chunk inside object idx; creates (or COWs) it on first write. */
static int write_chunk_res(struct dog_inode *ino, uint64_t pos, const char *buf, uint64_t len)
{
	uint32_t idx = (uint32_t)(pos / ino->obj_size);
	uint32_t owner = ino->vids[idx];
	uint64_t oid = sd_vid_to_data_oid(ino->vid, idx);
	int res;

	if (owner == ino->vid)
		return dog_write_obj_res(oid, 0, buf, (uint32_t)len, pos % ino->obj_size, 0,
					 ino->hdr.nr_copies, ino->hdr.copy_policy, false);
	res = dog_write_obj_res(oid, owner ? sd_vid_to_data_oid(owner, idx) : 0, buf,
				(uint32_t)len, pos % ino->obj_size, 0, ino->hdr.nr_copies,
				ino->hdr.copy_policy, true);
	if (res)
		return res;
	ino->vids[idx] = ino->vid;
	return dog_inode_write_vids_res(ino, idx, (uint64_t)idx + 1, 0);
}

int dog_cmd_vdi_write(const struct dog_opts *o, int argc, char **argv)
{
	const char *name = argv[0];
	struct dog_progress prog;
	struct dog_inode ino;
	struct io_range r;
	uint64_t done = 0;
	char *buf = NULL;
	int ret, res;

	ret = io_begin(argc, argv, 0, "", "Write", &ino, &r, &buf);
	if (ret)
		return ret;
	dog_progress_begin(&prog, r.total);
	while (done < r.total) {
		uint64_t pos = r.offset + done;
		uint64_t len = chunk_len(&ino, pos, r.total - done);
		ssize_t got = read_in(buf, len);

		if (got < 0) {
			dog_err("Failed to read from stdin: %s", strerror((int)-got));
			ret = DOG_EXIT_FAILURE;
			goto out;
		}
		if (got == 0)
			break;
		res = write_chunk_res(&ino, pos, buf, (uint64_t)got);
		if (res) {
			if (res > 0)
				dog_err("Failed to write VDI %s at offset %" PRIu64 ": %s", name,
					pos, sd_strerror(res));
			ret = dog_res_to_exit(res);
			goto out;
		}
		done += (uint64_t)got;
		dog_progress_update(&prog, done);
		if ((uint64_t)got < len)
			break;	/* end of input */
	}
	dog_progress_end(&prog, done);
out:
	free(buf);
	dog_inode_free(&ino);
	return ret;
}
