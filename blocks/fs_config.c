/* The "fs" section of the config file: the fs block's limits. */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fs_run.h"

typedef struct limit_key {
	const char *name;
	uint64_t min;
	uint64_t max;
	size_t offset; /* in bl_fs_limits_t */
	size_t size;   /* of that field */
} limit_key_t;

/* A get keeps the whole range in memory twice (the bytes read and the
 * result string), so max_op_bytes is capped at 2 GiB. */
static const limit_key_t keys[] = {
	{"max_op_bytes", 1, UINT64_C(1) << 31, offsetof(bl_fs_limits_t, max_op_bytes), sizeof(uint64_t)},
	{"max_tenant_bytes", 0, UINT64_C(1) << 62, offsetof(bl_fs_limits_t, max_tenant_bytes), sizeof(uint64_t)},
	{"max_list_entries", 1, 1000000, offsetof(bl_fs_limits_t, max_list_entries), sizeof(size_t)},
	{"max_path_bytes", 1, PATH_MAX - 1, offsetof(bl_fs_limits_t, max_path_bytes), sizeof(size_t)},
};

#define KEY_COUNT (sizeof keys / sizeof *keys)

static int set_key(bl_fs_limits_t *lim, const char *name, const json_t *value, bl_error_t *err)
{
	char field[BL_ERROR_FIELD_MAX];
	snprintf(field, sizeof field, "fs.%s", name);

	for (size_t i = 0; i < KEY_COUNT; i++) {
		const limit_key_t *k = &keys[i];
		if (strcmp(k->name, name) != 0)
			continue;
		json_int_t v = json_integer_value(value);
		if (!json_is_integer(value) || v < 0 || (uint64_t)v < k->min || (uint64_t)v > k->max)
			return bl_error_set(err, BL_EINVAL, field, "expected an integer from %llu to %llu",
					    (unsigned long long)k->min, (unsigned long long)k->max);
		char *at = (char *)lim + k->offset;
		if (k->size == sizeof(uint64_t))
			*(uint64_t *)(void *)at = (uint64_t)v;
		else
			*(size_t *)(void *)at = (size_t)v;
		return 0;
	}
	return bl_error_set(err, BL_EINVAL, field,
			    "unknown key; the fs section takes max_op_bytes, max_tenant_bytes, max_list_entries and "
			    "max_path_bytes");
}

int bl__fs_config_open(bl_block_services_t *s, const json_t *config, const bl_services_setup_t *setup,
		       bl_error_t *err)
{
	const char *key;
	json_t *value;

	(void)setup;
	fs_limits_default(&s->fs);
	if (fs_usage_new(&s->fs_usage) < 0)
		return bl_error_set(err, BL_ENOMEM, "fs", "out of memory");
	if (!config)
		return 0;
	if (!json_is_object(config))
		return bl_error_set(err, BL_EINVAL, "fs", "expected an object of limits");
	/* jansson's iteration takes a mutable object; nothing is changed. */
	json_t *object = (json_t *)(uintptr_t)config;
	json_object_foreach(object, key, value) {
		int rc = set_key(&s->fs, key, value, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void bl__fs_config_close(bl_block_services_t *s)
{
	fs_usage_free(&s->fs_usage);
}
