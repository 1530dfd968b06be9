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

#endif
