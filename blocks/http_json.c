/* Reading the HTTP block's JSON settings and parameters. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "http_internal.h"

json_t *http_json_unconst(const json_t *obj)
{
	return (json_t *)(uintptr_t)obj;
}

int http_json_uint(const json_t *obj, const char *key, const char *path, uint64_t min, uint64_t max, uint64_t *out,
		   bl_error_t *err)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;

	json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;
	if (n < 0 || (uint64_t)n < min || (uint64_t)n > max)
		return bl_error_set(err, BL_EINVAL, path, "%s: expected an integer from %llu to %llu", path,
				    (unsigned long long)min, (unsigned long long)max);
	*out = (uint64_t)n;
	return 0;
}

int http_json_check_keys(const json_t *obj, const char *const *known, const char *prefix, const char *what,
			 bl_error_t *err)
{
	const char *key;
	json_t *value;
	json_t *o = http_json_unconst(obj);

	json_object_foreach(o, key, value) {
		bool found = false;
		for (size_t i = 0; known[i] && !found; i++)
			found = strcmp(known[i], key) == 0;
		if (!found) {
			char path[160];
			snprintf(path, sizeof path, "%s%.120s", prefix, key);
			return bl_error_set(err, BL_EINVAL, path, "%s: %s", path, what);
		}
	}
	return 0;
}
