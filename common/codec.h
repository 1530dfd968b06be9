/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internal codec helpers shared by the library, dog and sheep, beside the
 * installed wire header <sheepdog/proto.h> (not installed).
 */
#ifndef SD_COMMON_CODEC_H
#define SD_COMMON_CODEC_H

#include <sheepdog/proto.h>

/*
 * The name+tag payload of the vdi lookup, lock and delete requests (and the
 * first SD_MAX_VDI_LEN bytes of it for NEW_VDI): both fields NUL-padded to
 * their full width, as sheep compares them.
 */
struct sdc_vdi_name {
	char name[SD_MAX_VDI_LEN];
	char tag[SD_MAX_VDI_TAG_LEN];
};

/*
 * Fill *p with name and tag (tag NULL or "" for none).  Returns 0, or
 * -EINVAL when name is NULL/empty or either string does not fit with its
 * terminating NUL (nothing is truncated silently).
 */
int sdc_pack_vdi_name(struct sdc_vdi_name *p, const char *name, const char *tag);

/*
 * The geometry of a vdi as its inode header states it, checked: an inode
 * comes from a sheep (or a store on disk) and every field may be hostile.
 */
struct sdc_inode_geom {
	unsigned shift;	   /* object size shift, SD_MIN..SD_MAX_BLOCK_SIZE_SHIFT */
	uint32_t obj_size; /* 1 << shift */
	uint64_t nr_objs;  /* data objects vdi_size spans (ceil), <= SD_INODE_DATA_INDEX */
};

/*
 * Decode h (block_size_shift 0 means the default).  Returns 0; -ENOTSUP for
 * a hyper volume (store_policy not flat); -EINVAL for a shift out of range;
 * -EFBIG for a vdi_size beyond the flat index (g is then filled with the
 * index's whole span, SD_INODE_DATA_INDEX objects, for callers that clamp).
 * g is untouched on the other errors.  Pure; tests/fuzz/fuzz_inode.c.
 */
int sdc_inode_decode(const struct sd_inode_header *h, struct sdc_inode_geom *g);

/* 1 if h->name and h->tag are NUL-terminated within their fields. */
int sdc_inode_names_ok(const struct sd_inode_header *h);

#endif
