/*
 * The fs block's parameters: which keys each operation takes, and the
 * checks on a path that run before any system call (NUL bytes, length,
 * absolute paths, "..", reserved names).
 */
#include <limits.h>
#include <string.h>

#include <beamline/base64.h>
#include "fs_run.h"

static const char *const op_names[] = {"get", "put", "list", "stat", "delete"};

/* The keys each operation accepts besides "op" and "path". */
static const char *const get_keys[] = {"encoding", "offset", "length", NULL};
static const char *const put_keys[] = {"content", "encoding", "overwrite", NULL};
static const char *const no_keys[] = {NULL};

const char *fs_op_name(fs_op_t op)
{
	return op_names[op];
}

static const char *const *keys_of(fs_op_t op)
{
	if (op == FS_GET)
		return get_keys;
	if (op == FS_PUT)
		return put_keys;
	return no_keys;
}

static bool is_key_of(const char *const *keys, const char *key)
{
	for (size_t i = 0; keys[i]; i++) {
		if (strcmp(keys[i], key) == 0)
			return true;
	}
	return false;
}

static int parse_op(fs_op_t *out, json_t *params, bl_error_t *err)
{
	json_t *v = json_object_get(params, "op");
	if (!v)
		return bl_error_set(err, BL_EINVAL, "params.op", "missing; give one of get, put, list, stat, delete");
	const char *name = json_string_value(v);
	for (size_t i = 0; name && i < sizeof op_names / sizeof *op_names; i++) {
		if (strcmp(op_names[i], name) == 0) {
			*out = (fs_op_t)i;
			return 0;
		}
	}
	return bl_error_set(err, BL_EINVAL, "params.op", "expected one of get, put, list, stat, delete, got %s%s%s",
			    name ? "'" : "a non-string value", name ? name : "", name ? "'" : "");
}

/* Refuse a key that the operation does not take, so that a misspelt one
 * ("lenght") is not silently ignored. */
static int check_keys(json_t *params, fs_op_t op, bl_error_t *err)
{
	const char *key;
	json_t *value;
	char field[BL_ERROR_FIELD_MAX];

	json_object_foreach(params, key, value) {
		if (strcmp(key, "op") == 0 || strcmp(key, "path") == 0 || is_key_of(keys_of(op), key))
			continue;
		snprintf(field, sizeof field, "params.%s", key);
		return bl_error_set(err, BL_EINVAL, field, "'%s' does not take this parameter", fs_op_name(op));
	}
	return 0;
}

/* Check one component of a path: its length, "..", and reserved names. */
static int check_component(const char *c, size_t len, bl_error_t *err)
{
	if (len > NAME_MAX)
		return bl_error_set(err, BL_ELIMIT, "params.path",
				    "a component of the path is %zu bytes, longer than NAME_MAX (%d bytes)", len, NAME_MAX);
	if (len == 2 && c[0] == '.' && c[1] == '.')
		return bl_error_set(err, BL_EINVAL, "params.path",
				    "'..' is not allowed in a path; give a path inside the tenant folder");
	if (len >= sizeof FS_TEMP_PREFIX - 1 && memcmp(c, FS_TEMP_PREFIX, sizeof FS_TEMP_PREFIX - 1) == 0)
		return bl_error_set(err, BL_EINVAL, "params.path",
				    "names starting with '" FS_TEMP_PREFIX "' are reserved for the temporary files of puts");
	return 0;
}

/* Check a path before it reaches any system call. */
static int check_path(const char *path, size_t len, const bl_fs_limits_t *lim, bl_error_t *err)
{
	const char *nul = memchr(path, '\0', len);
	if (nul)
		return bl_error_set(err, BL_EINVAL, "params.path", "the path contains a NUL byte at offset %zu",
				    (size_t)(nul - path));
	if (len > lim->max_path_bytes)
		return bl_error_set(err, BL_ELIMIT, "params.path", "the path is %zu bytes, longer than the limit of %zu",
				    len, lim->max_path_bytes);
	if (len > 0 && path[0] == '/')
		return bl_error_set(err, BL_EINVAL, "params.path",
				    "absolute paths are not allowed; give a path relative to the tenant folder");

	for (size_t start = 0; start < len;) {
		const char *slash = memchr(path + start, '/', len - start);
		size_t end = slash ? (size_t)(slash - path) : len;
		int rc = check_component(path + start, end - start, err);
		if (rc < 0)
			return rc;
		start = end + 1;
	}
	return 0;
}

/* Return whether `path` names the tenant folder itself ("", ".", "./."). */
static bool is_root(const char *path)
{
	for (; *path; path++) {
		if (*path != '.' && *path != '/')
			return false;
	}
	return true;
}

static int parse_path(fs_params_t *out, json_t *params, const bl_fs_limits_t *lim, bl_error_t *err)
{
	json_t *v = json_object_get(params, "path");
	if (!v && out->op == FS_LIST) {
		out->path = "";
		return 0;
	}
	if (!v)
		return bl_error_set(err, BL_EINVAL, "params.path", "missing; give a path relative to the tenant folder");
	if (!json_is_string(v))
		return bl_error_set(err, BL_EINVAL, "params.path", "expected a string");

	out->path = json_string_value(v);
	int rc = check_path(out->path, json_string_length(v), lim, err);
	if (rc < 0)
		return rc;

	bool needs_name = out->op == FS_GET || out->op == FS_PUT || out->op == FS_DELETE;
	if (needs_name && is_root(out->path))
		return bl_error_set(err, BL_EINVAL, "params.path", "'%s' names the tenant folder itself; give a file name",
				    out->path);
	return 0;
}

static int parse_encoding(fs_params_t *out, json_t *params, bl_error_t *err)
{
	json_t *v = json_object_get(params, "encoding");
	const char *name = json_string_value(v);

	out->encoding = FS_ENCODING_AUTO;
	if (!v)
		return 0;
	if (name && strcmp(name, "utf8") == 0)
		out->encoding = FS_ENCODING_UTF8;
	else if (name && strcmp(name, "base64") == 0)
		out->encoding = FS_ENCODING_BASE64;
	else
		return bl_error_set(err, BL_EINVAL, "params.encoding", "expected \"utf8\" or \"base64\", got %s%s%s",
				    name ? "'" : "a non-string value", name ? name : "", name ? "'" : "");
	return 0;
}

/* Read an optional non-negative integer; absent leaves *out. */
static int parse_u64(uint64_t *out, json_t *params, const char *key, bl_error_t *err)
{
	json_t *v = json_object_get(params, key);
	char field[BL_ERROR_FIELD_MAX];

	if (!v)
		return 0;
	snprintf(field, sizeof field, "params.%s", key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return bl_error_set(err, BL_EINVAL, field, "expected a non-negative integer (bytes)");
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int parse_get(fs_params_t *out, json_t *params, const bl_fs_limits_t *lim, bl_error_t *err)
{
	int rc = parse_u64(&out->offset, params, "offset", err);
	if (rc < 0)
		return rc;
	rc = parse_u64(&out->length, params, "length", err);
	if (rc < 0)
		return rc;
	if (out->length != UINT64_MAX && out->length > lim->max_op_bytes)
		return bl_error_set(err, BL_ELIMIT, "params.length",
				    "%llu bytes is more than one get may read (max_op_bytes %llu)",
				    (unsigned long long)out->length, (unsigned long long)lim->max_op_bytes);
	return 0;
}

static int parse_content(fs_params_t *out, json_t *params, const bl_fs_limits_t *lim, bl_error_t *err)
{
	json_t *v = json_object_get(params, "content");
	size_t bad_at;

	if (!v)
		return bl_error_set(err, BL_EINVAL, "params.content", "missing; give the file's content as a string");
	if (!json_is_string(v))
		return bl_error_set(err, BL_EINVAL, "params.content", "expected a string");
	out->content = json_string_value(v);
	out->content_len = json_string_length(v);
	out->data_len = out->content_len;

	if (out->encoding == FS_ENCODING_BASE64 &&
	    bl_base64_check(&out->data_len, out->content, out->content_len, &bad_at) < 0)
		return bl_error_set(err, BL_EINVAL, "params.content", "not valid base64 (RFC 4648, padded) at offset %zu",
				    bad_at);
	if (out->data_len > lim->max_op_bytes)
		return bl_error_set(err, BL_ELIMIT, "params.content",
				    "%llu bytes is more than one put may write (max_op_bytes %llu)",
				    (unsigned long long)out->data_len, (unsigned long long)lim->max_op_bytes);
	return 0;
}

static int parse_put(fs_params_t *out, json_t *params, const bl_fs_limits_t *lim, bl_error_t *err)
{
	json_t *v = json_object_get(params, "overwrite");
	if (v && !json_is_boolean(v))
		return bl_error_set(err, BL_EINVAL, "params.overwrite", "expected true or false");
	out->overwrite = !v || json_is_true(v);
	return parse_content(out, params, lim, err);
}

int fs_params_parse(fs_params_t *out, json_t *params, const bl_fs_limits_t *lim, bl_error_t *err)
{
	fs_params_t p = {.length = UINT64_MAX};

	if (!json_is_object(params))
		return bl_error_set(err, BL_EINVAL, "params", "expected an object with \"op\" and \"path\"");
	int rc = parse_op(&p.op, params, err);
	if (rc == 0)
		rc = check_keys(params, p.op, err);
	if (rc == 0)
		rc = parse_path(&p, params, lim, err);
	if (rc == 0)
		rc = parse_encoding(&p, params, err);
	if (rc == 0 && p.op == FS_GET)
		rc = parse_get(&p, params, lim, err);
	if (rc == 0 && p.op == FS_PUT)
		rc = parse_put(&p, params, lim, err);
	if (rc < 0)
		return rc;
	*out = p;
	return 0;
}
