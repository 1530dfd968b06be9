// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dog vdi setattr / getattr: vdi attributes through GET_VDI_ATTR, with
 * upstream's syntax, messages and exit codes.  As upstream, attributes are
 * those of the working vdi (snap_id 0, empty tag) and a value is text: its
 * length is that of the string, up to the first NUL.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dog.h"

/*
 * One GET_VDI_ATTR for (name, key) with `flags` (CREAT/EXCL/DEL); value
 * may be NULL.  Returns the sheep result (*oid set on success), or
 * SD_RES_EIO after a transport failure (already reported), as upstream.
 */
static int attr_req(const char *name, const char *key, const char *value, uint32_t value_len,
		    uint16_t flags, uint64_t *oid)
{
	struct sd_vdi_attr *a;
	struct sd_req req;
	struct sd_rsp rsp;
	int r;

	a = calloc(1, sizeof(*a));
	if (!a)
		return SD_RES_NO_MEM;
	/* longer names and keys are cut, as upstream's pstrcpy does */
	strncpy(a->name, name, sizeof(a->name) - 1);
	strncpy(a->key, key, sizeof(a->key) - 1);
	if (value && value_len) {
		a->value_len = value_len;
		memcpy(a->value, value, value_len);
	}
	dog_init_req(&req, SD_OP_GET_VDI_ATTR);
	req.flags = SD_FLAG_CMD_WRITE | flags;
	req.data_length = SD_ATTR_OBJ_SIZE;
	r = dog_exec(&req, a, NULL, 0, &rsp);
	free(a);
	if (r < 0)
		return SD_RES_EIO;
	if (rsp.result == SD_RES_SUCCESS)
		*oid = sd_vid_to_attr_oid(rsp.vdi.vdi_id, rsp.vdi.attr_id);
	return (int)rsp.result;
}

/* The whole of stdin, up to SD_MAX_VDI_ATTR_VALUE_LEN bytes, NUL-terminated. */
static char *read_stdin_value(void)
{
	char *buf = calloc(1, SD_MAX_VDI_ATTR_VALUE_LEN + 1);
	size_t got = 0;
	ssize_t n;

	if (!buf)
		return NULL;
	while (got < SD_MAX_VDI_ATTR_VALUE_LEN) {
		n = read(STDIN_FILENO, buf + got, SD_MAX_VDI_ATTR_VALUE_LEN - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return NULL;
		}
		if (!n)
			break;
		got += (size_t)n;
	}
	return buf;
}

int dog_cmd_vdi_setattr(const struct dog_opts *o, int argc, char **argv)
{
	const char *name = argv[0], *key = argv[1];
	char *value = NULL;
	uint16_t flags = 0;
	uint64_t oid;
	int res;

	if (argc > 2) {
		value = strdup(argv[2]);
		if (!value) {
			dog_err("Out of memory");
			return DOG_EXIT_SYSFAIL;
		}
	} else if (!o->delete_key) {
		value = read_stdin_value();
		if (!value) {
			dog_err("Failed to read attribute value from stdin: %s", strerror(errno));
			return DOG_EXIT_SYSFAIL;
		}
	}
	if (!o->delete_key)
		flags |= SD_FLAG_CMD_CREAT;
	if (o->exclusive)
		flags |= SD_FLAG_CMD_EXCL;
	if (o->delete_key)
		flags |= SD_FLAG_CMD_DEL;
	res = attr_req(name, key, value,
		       value ? (uint32_t)strnlen(value, SD_MAX_VDI_ATTR_VALUE_LEN) : 0, flags,
		       &oid);
	free(value);
	switch (res) {
	case SD_RES_SUCCESS: return DOG_EXIT_SUCCESS;
	case SD_RES_VDI_EXIST:
		dog_err("The attribute '%s' already exists", key);
		return DOG_EXIT_EXISTED;
	case SD_RES_NO_OBJ: dog_err("Attribute '%s' not found", key); return DOG_EXIT_MISSING;
	case SD_RES_NO_VDI: dog_err("VDI not found"); return DOG_EXIT_MISSING;
	default: dog_err("Failed to set attribute: %s", sd_strerror(res)); return DOG_EXIT_FAILURE;
	}
}

int dog_cmd_vdi_getattr(const struct dog_opts *o, int argc, char **argv)
{
	const char *key = argv[1];
	struct sd_vdi_attr *a;
	uint64_t oid = 0;
	uint32_t len;
	int res;

	res = attr_req(argv[0], key, NULL, 0, 0, &oid);
	if (res == SD_RES_NO_OBJ) {
		dog_err("Attribute '%s' not found", key);
		return DOG_EXIT_MISSING;
	}
	if (res == SD_RES_NO_VDI) {
		dog_err("VDI not found");
		return DOG_EXIT_MISSING;
	}
	if (res) {
		dog_err("Failed to find attribute oid: %s", sd_strerror(res));
		return DOG_EXIT_MISSING;
	}
	a = malloc(sizeof(*a));
	if (!a) {
		dog_err("Out of memory");
		return DOG_EXIT_SYSFAIL;
	}
	res = dog_read_obj_res(oid, a, sizeof(*a), 0, true);
	if (res) {
		dog_err("Failed to read attribute oid: %s",
			res < 0 ? strerror(-res) : sd_strerror(res));
		free(a);
		return DOG_EXIT_SYSFAIL;
	}
	len = a->value_len < sizeof(a->value) ? a->value_len : (uint32_t)sizeof(a->value);
	if (len && fwrite(a->value, 1, len, stdout) != len) {
		free(a);
		dog_err("Failed to write attribute value: %s", strerror(errno));
		return DOG_EXIT_FAILURE;
	}
	free(a);
	return DOG_EXIT_SUCCESS;
}
