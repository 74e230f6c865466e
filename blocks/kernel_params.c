#define _GNU_SOURCE /* openat2 through syscall */

#include "kernel_params.h"

#include <errno.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <beamline/json_load.h>

#define PATH_BYTES_MAX 255u

/* Write "<parent>.<child>" into `out`, the JSON path of a field. A path too
 * long for the buffer is cut and ends in "...", which only shortens the
 * name shown in an error. */
static void join_field(char *out, size_t size, const char *parent, const char *child)
{
	int n = snprintf(out, size, child[0] ? "%s.%s" : "%s", parent, child);
	if (n >= 0 && (size_t)n >= size && size > 4)
		memcpy(out + size - 4, "...", 4);
}

static bool is_one_of(const char *key, const char *const *names)
{
	for (size_t i = 0; names[i]; i++) {
		if (strcmp(key, names[i]) == 0)
			return true;
	}
	return false;
}

/* A relative file name of printable characters without a NUL; whether it
 * stays beneath the tenant's folder is enforced when it is opened. */
static int check_path(const json_t *value, const char *field, bl_error_t *err)
{
	const char *path = json_string_value(value);
	if (!path)
		return bl_error_set(err, BL_EFORMAT, field, "expected a file name (a string)");

	size_t len = json_string_length(value);
	if (len == 0 || len > PATH_BYTES_MAX)
		return bl_error_set(err, BL_EFORMAT, field, "expected a file name of 1 to %u bytes, got %zu bytes",
				    PATH_BYTES_MAX, len);
	if (strlen(path) != len)
		return bl_error_set(err, BL_EFORMAT, field, "the file name contains a NUL byte");
	if (path[0] == '/')
		return bl_error_set(err, BL_EFORMAT, field,
				    "absolute paths are not allowed; give a path relative to the tenant's folder");
	return 0;
}

/* [start, stop) with 0 <= start <= stop, both integers. */
static int check_bounds(const json_t *value, const char *field, bl_error_t *err)
{
	if (!json_is_array(value) || json_array_size(value) != 2 || !json_is_integer(json_array_get(value, 0)) ||
	    !json_is_integer(json_array_get(value, 1)))
		return bl_error_set(err, BL_EFORMAT, field, "expected [start, stop], two non-negative integers");

	json_int_t start = json_integer_value(json_array_get(value, 0));
	json_int_t stop = json_integer_value(json_array_get(value, 1));
	if (start < 0 || stop < start)
		return bl_error_set(err, BL_EFORMAT, field, "expected 0 <= start <= stop, got [%lld, %lld]",
				    (long long)start, (long long)stop);
	return 0;
}

static int check_input(json_t *value, const char *field, bl_error_t *err)
{
	char sub[BL_ERROR_FIELD_MAX];

	if (json_is_string(value))
		return check_path(value, field, err);
	if (json_is_array(value) || json_is_number(value))
		return 0; /* inline data, checked when loaded */
	if (!json_is_object(value))
		return bl_error_set(err, BL_EFORMAT, field,
				    "expected a file name, an object with \"path\" or \"data\", or nested arrays");

	json_t *path = json_object_get(value, "path");
	json_t *data = json_object_get(value, "data");
	if (!path == !data)
		return bl_error_set(err, BL_EFORMAT, field, "expected exactly one of \"path\" and \"data\"");

	const char *key;
	json_t *member;
	json_object_foreach(value, key, member) {
		static const char *const file_keys[] = {"path", "rows", "columns", NULL};
		static const char *const data_keys[] = {"data", "dtype", NULL};
		join_field(sub, sizeof sub, field, key);
		if (!is_one_of(key, path ? file_keys : data_keys))
			return bl_error_set(err, BL_EFORMAT, sub, path ? "unknown key; expected path, rows or columns"
								       : "unknown key; expected data or dtype");
		int rc = 0;
		if (strcmp(key, "path") == 0)
			rc = check_path(member, sub, err);
		else if (strcmp(key, "rows") == 0 || strcmp(key, "columns") == 0)
			rc = check_bounds(member, sub, err);
		else if (strcmp(key, "dtype") == 0) {
			bl_dtype_t dtype;
			if (!json_is_string(member) || bl_dtype_parse(&dtype, json_string_value(member)) != 0)
				rc = bl_error_set(err, BL_EFORMAT, sub,
						  "expected \"float32\", \"float64\", \"int32\" or \"int64\"");
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int check_inputs(const kernel_spec_t *spec, json_t *inputs, bl_error_t *err)
{
	char field[BL_ERROR_FIELD_MAX];

	if (inputs && !json_is_object(inputs))
		return bl_error_set(err, BL_EFORMAT, "params.inputs", "expected an object mapping input names to data");

	for (unsigned i = 0; i < spec->required_inputs; i++) {
		if (!inputs || !json_object_get(inputs, spec->inputs[i])) {
			join_field(field, sizeof field, "params.inputs", spec->inputs[i]);
			return bl_error_set(err, BL_EFORMAT, field, "missing input '%s', which kernel '%s' requires",
					    spec->inputs[i], spec->name);
		}
	}
	if (!inputs)
		return 0;

	const char *key;
	json_t *value;
	json_object_foreach(inputs, key, value) {
		join_field(field, sizeof field, "params.inputs", key);
		if (!is_one_of(key, spec->inputs))
			return bl_error_set(err, BL_EFORMAT, field, "kernel '%s' has no input '%s'", spec->name, key);
		int rc = check_input(value, field, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static const arg_spec_t *find_arg(const kernel_spec_t *spec, const char *name)
{
	for (size_t i = 0; i < spec->nargs; i++) {
		if (strcmp(spec->args[i].name, name) == 0)
			return &spec->args[i];
	}
	return NULL;
}

static int check_number(const arg_spec_t *a, json_t *value, const char *field, bl_error_t *err)
{
	bool integer = a->type == ARG_UINT;
	if (integer && json_is_real(value))
		return bl_error_set(err, BL_EFORMAT, field, "expected an integer from %.0f to %.0f, got %g", a->min,
				    a->max, json_real_value(value));
	if (integer && !json_is_integer(value))
		return bl_error_set(err, BL_EFORMAT, field, "expected an integer from %.0f to %.0f, got %s", a->min,
				    a->max, bl_json_type_phrase(value));
	if (!json_is_number(value))
		return bl_error_set(err, BL_EFORMAT, field, "expected a number from %g to %g, got %s", a->min, a->max,
				    bl_json_type_phrase(value));

	double v = json_number_value(value);
	if (integer && (v < a->min || v > a->max))
		return bl_error_set(err, BL_EFORMAT, field, "expected an integer from %.0f to %.0f, got %lld", a->min,
				    a->max, (long long)json_integer_value(value));
	if (!isfinite(v) || v < a->min || v > a->max)
		return bl_error_set(err, BL_EFORMAT, field, "expected a number from %g to %g, got %g", a->min, a->max,
				    v);
	return 0;
}

static int check_arg(const arg_spec_t *a, json_t *value, const char *field, bl_error_t *err)
{
	switch (a->type) {
	case ARG_UINT:
	case ARG_DOUBLE:
		return check_number(a, value, field, err);
	case ARG_BOOL:
		return json_is_boolean(value) ? 0 : bl_error_set(err, BL_EFORMAT, field, "expected true or false");
	case ARG_NAME:
		return json_is_string(value) ? 0 : bl_error_set(err, BL_EFORMAT, field, "expected a name (a string)");
	case ARG_AXIS:
		if (json_is_string(value) && strcmp(json_string_value(value), "all") == 0)
			return 0;
		if (json_is_integer(value) && json_integer_value(value) > -(json_int_t)BL_TENSOR_DIMS_MAX &&
		    json_integer_value(value) < (json_int_t)BL_TENSOR_DIMS_MAX)
			return 0;
		return bl_error_set(err, BL_EFORMAT, field, "expected an axis (an integer from -%u to %u) or \"all\"",
				    BL_TENSOR_DIMS_MAX - 1, BL_TENSOR_DIMS_MAX - 1);
	case ARG_RANGE:
		if (json_is_array(value) && json_array_size(value) == 2 && json_is_number(json_array_get(value, 0)) &&
		    json_is_number(json_array_get(value, 1)) &&
		    json_number_value(json_array_get(value, 0)) <= json_number_value(json_array_get(value, 1)))
			return 0;
		return bl_error_set(err, BL_EFORMAT, field, "expected [low, high], two numbers with low <= high");
	}
	return 0;
}

static int check_args(const kernel_spec_t *spec, json_t *args, bl_error_t *err)
{
	char field[BL_ERROR_FIELD_MAX];

	if (args && !json_is_object(args))
		return bl_error_set(err, BL_EFORMAT, "params.args", "expected an object of kernel arguments");
	for (size_t i = 0; i < spec->nargs; i++) {
		if (spec->args[i].required && !json_object_get(args, spec->args[i].name)) {
			join_field(field, sizeof field, "params.args", spec->args[i].name);
			return bl_error_set(err, BL_EFORMAT, field, "missing argument '%s', which kernel '%s' requires",
					    spec->args[i].name, spec->name);
		}
	}
	if (!args)
		return 0;

	const char *key;
	json_t *value;
	json_object_foreach(args, key, value) {
		join_field(field, sizeof field, "params.args", key);
		const arg_spec_t *a = find_arg(spec, key);
		if (!a)
			return bl_error_set(err, BL_EFORMAT, field, "kernel '%s' has no argument '%s'", spec->name, key);
		int rc = check_arg(a, value, field, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* The last component of a plain name (all of it when it has no '/'). */
static char *last_component(char *name)
{
	char *slash = strrchr(name, '/');
	return slash ? slash + 1 : name;
}

/* Write `path` in a plain form into `out`: no empty or "." components,
 * and each ".." removing the component before it. Symbolic links are not
 * followed, so two names of one file through a link still differ. */
static void plain_name(char *out, size_t size, const char *path)
{
	size_t len = 0;
	out[0] = '\0';

	while (*path) {
		size_t n = strcspn(path, "/");
		bool dot = n == 1 && path[0] == '.';
		bool dotdot = n == 2 && path[0] == '.' && path[1] == '.';
		char *last = last_component(out);

		if (dotdot && len > 0 && strcmp(last, "..") != 0) {
			len = last == out ? 0 : (size_t)(last - out) - 1;
			out[len] = '\0';
		} else if (n > 0 && !dot && len + n + 2 < size) {
			len += (size_t)snprintf(out + len, size - len, "%s%.*s", len ? "/" : "", (int)n, path);
		}
		path += n;
		if (*path == '/')
			path++;
	}
}

/* Whether two names reach the same file beneath the tenant's folder, as
 * far as their text tells: "a.npy", "./a.npy" and "sub/../a.npy" do. */
static bool same_file_name(const char *a, const char *b)
{
	char plain_a[PATH_BYTES_MAX + 1], plain_b[PATH_BYTES_MAX + 1];
	plain_name(plain_a, sizeof plain_a, a);
	plain_name(plain_b, sizeof plain_b, b);
	return strcmp(plain_a, plain_b) == 0;
}

/* Two outputs written to one file would leave only the last. */
static int check_distinct(json_t *outputs, const char *key, json_t *value, const char *field, bl_error_t *err)
{
	const char *other;
	json_t *other_value;
	json_object_foreach(outputs, other, other_value) {
		if (strcmp(other, key) == 0)
			return 0; /* only the outputs before this one */
		if (same_file_name(json_string_value(other_value), json_string_value(value)))
			return bl_error_set(err, BL_EINVAL, field, "outputs '%s' and '%s' both name the file '%s'", other,
					    key, json_string_value(value));
	}
	return 0;
}

static int check_outputs(const kernel_spec_t *spec, json_t *outputs, bl_error_t *err)
{
	char field[BL_ERROR_FIELD_MAX];

	if (!outputs)
		return 0;
	if (!json_is_object(outputs))
		return bl_error_set(err, BL_EFORMAT, "params.outputs", "expected an object mapping output names to file names");

	const char *key;
	json_t *value;
	json_object_foreach(outputs, key, value) {
		join_field(field, sizeof field, "params.outputs", key);
		if (!is_one_of(key, spec->outputs))
			return bl_error_set(err, BL_EFORMAT, field, "kernel '%s' has no output '%s'", spec->name, key);
		int rc = check_path(value, field, err);
		if (rc < 0)
			return rc;
		rc = check_distinct(outputs, key, value, field, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int kernel_params_check(const kernel_spec_t **spec, json_t *params, bl_error_t *err)
{
	static const char *const keys[] = {"kernel", "device", "inputs", "args", "outputs", NULL};
	const char *key;
	json_t *value;

	if (!json_is_object(params))
		return bl_error_set(err, BL_EFORMAT, "params", "expected an object");
	json_object_foreach(params, key, value) {
		char field[BL_ERROR_FIELD_MAX];
		join_field(field, sizeof field, "params", key);
		if (!is_one_of(key, keys))
			return bl_error_set(err, BL_EFORMAT, field,
					    "unknown key; expected kernel, device, inputs, args or outputs");
	}

	const char *name = json_string_value(json_object_get(params, "kernel"));
	if (!name)
		return bl_error_set(err, BL_EFORMAT, "params.kernel", "missing kernel name (a string)");
	*spec = kernel_spec_find(name);
	if (!*spec)
		return bl_error_set(err, BL_EFORMAT, "params.kernel",
				    "unknown kernel '%s'; expected noop, sgemm, map, reduce, softmax, histogram, "
				    "pairwise_l2, topk, kmeans or knn",
				    name);

	json_t *device = json_object_get(params, "device");
	if (device) {
		const char *d = json_string_value(device);
		if (!d || (strcmp(d, "cpu") != 0 && strcmp(d, "gpu") != 0 && strcmp(d, "auto") != 0))
			return bl_error_set(err, BL_EFORMAT, "params.device", "expected \"cpu\", \"gpu\" or \"auto\"");
	}

	int rc = check_inputs(*spec, json_object_get(params, "inputs"), err);
	if (rc == 0)
		rc = check_args(*spec, json_object_get(params, "args"), err);
	if (rc == 0)
		rc = check_outputs(*spec, json_object_get(params, "outputs"), err);
	return rc;
}

/* Open `path` beneath the tenant's folder, as the .npy reader will, so that
 * sizing a file tells nothing about paths outside the folder. */
static int open_beneath(int dir, const char *path)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, dir, path, &how, sizeof how);
	return fd < 0 ? -errno : fd;
}

static int no_folder(const bl_block_env_t *env, const char *field, bl_error_t *err)
{
	return bl_error_set(err, -ENOENT, field,
			    "tenant '%s' has no data folder: create one named '%s' in the data folder (--data-dir), "
			    "or give the data inline",
			    env->tenant ? env->tenant : "?", env->tenant ? env->tenant : "?");
}

/* The size of input file `path`, checked the way the read will be. */
static int input_size(uint64_t *size, const char *path, const char *field, const bl_block_env_t *env,
		      bl_error_t *err)
{
	if (env->data_dir < 0)
		return no_folder(env, field, err);

	int fd = open_beneath(env->data_dir, path);
	if (fd == -ENOENT || fd == -ENOTDIR)
		return bl_error_set(err, -ENOENT, field, "input file '%s' not found in the tenant's folder", path);
	if (fd == -EXDEV || fd == -ELOOP)
		return bl_error_set(err, -EXDEV, field, "'%s' leads outside the tenant's folder; give a path beneath it",
				    path);
	if (fd < 0)
		return bl_error_set(err, fd, field, "cannot open '%s': %s", path, strerror(-fd));

	struct stat st;
	int rc = fstat(fd, &st) == 0 ? 0 : -errno;
	close(fd);
	if (rc < 0)
		return bl_error_set(err, rc, field, "cannot read '%s': %s", path, strerror(-rc));
	*size = (uint64_t)st.st_size;
	return 0;
}

static const char *input_path(json_t *value)
{
	return json_string_value(json_is_object(value) ? json_object_get(value, "path") : value);
}


static int check_output_paths(json_t *params, const bl_block_env_t *env, bl_error_t *err)
{
	json_t *outputs = json_object_get(params, "outputs");
	const char *name, *in_name;
	json_t *path, *input;
	char field[BL_ERROR_FIELD_MAX];

	json_object_foreach(outputs, name, path) {
		join_field(field, sizeof field, "params.outputs", name);
		if (env->data_dir < 0)
			return no_folder(env, field, err);
		json_object_foreach(json_object_get(params, "inputs"), in_name, input) {
			const char *p = input_path(input);
			if (p && same_file_name(p, json_string_value(path)))
				return bl_error_set(err, BL_EINVAL, field,
						    "output '%s' would overwrite input '%s' of the same job; write it elsewhere",
						    json_string_value(path), in_name);
		}
	}
	return 0;
}

int kernel_params_estimate(uint64_t *bytes, json_t *params, const bl_block_env_t *env, bl_error_t *err)
{
	json_t *inputs = json_object_get(params, "inputs");
	const char *key;
	json_t *value;
	uint64_t total = 0;
	char field[BL_ERROR_FIELD_MAX];

	json_object_foreach(inputs, key, value) {
		const char *path = input_path(value);
		join_field(field, sizeof field, "params.inputs", key);
		if (path) {
			uint64_t size = 0;
			int rc = input_size(&size, path, field, env, err);
			if (rc < 0)
				return rc;
			total += size;
		} else {
			/* Inline JSON: at most 8 bytes per element. */
			char *text = json_dumps(value, JSON_COMPACT);
			total += text ? strlen(text) * 8 : 0;
			free(text);
		}
	}

	int rc = check_output_paths(params, env, err);
	if (rc < 0)
		return rc;
	*bytes = total * 2;
	return 0;
}

int kernel_input_load(bl_tensor_t **out, json_t *params, const char *name, const bl_block_env_t *env,
		      bl_error_t *err)
{
	char field[BL_ERROR_FIELD_MAX];
	json_t *value = json_object_get(json_object_get(params, "inputs"), name);
	*out = NULL;
	if (!value)
		return 0;
	join_field(field, sizeof field, "params.inputs", name);

	/* Inline data. */
	bool is_file = json_is_string(value) || (json_is_object(value) && json_object_get(value, "path"));
	if (!is_file) {
		json_t *data = json_is_object(value) ? json_object_get(value, "data") : value;
		bl_dtype_t dtype;
		const char *dtype_name = json_is_object(value) ? json_string_value(json_object_get(value, "dtype")) : NULL;
		if (dtype_name)
			bl_dtype_parse(&dtype, dtype_name);
		return bl_tensor_from_json(out, data, dtype_name ? &dtype : NULL, env->json_limits, field, err);
	}


	/* A file, whole or sliced. */
	const char *path = input_path(value);
	bl_tensor_t *whole;
	int rc = bl_npy_read(&whole, env->data_dir, path, env->npy_limits, err);
	if (rc < 0) {
		/* Name the input, and keep the file name in the message. */
		if (err) {
			bl_error_prefix(err, "'%s': ", path);
			memcpy(err->field, field, sizeof err->field);
		}
		return rc;
	}

	json_t *rows = json_is_object(value) ? json_object_get(value, "rows") : NULL;
	json_t *cols = json_is_object(value) ? json_object_get(value, "columns") : NULL;
	if (!rows && !cols) {
		*out = whole;
		return 0;
	}

	size_t nrows = whole->ndim ? whole->shape[0] : 1;
	size_t ncols = whole->ndim == 2 ? whole->shape[1] : 1;
	size_t r0 = rows ? (size_t)json_integer_value(json_array_get(rows, 0)) : 0;
	size_t r1 = rows ? (size_t)json_integer_value(json_array_get(rows, 1)) : nrows;
	size_t c0 = cols ? (size_t)json_integer_value(json_array_get(cols, 0)) : 0;
	size_t c1 = cols ? (size_t)json_integer_value(json_array_get(cols, 1)) : ncols;
	rc = bl_tensor_slice(out, whole, r0, r1, c0, c1, err);
	if (rc < 0 && err) {
		/* Name the input and the file, not just "rows". */
		char what[BL_ERROR_FIELD_MAX];
		join_field(what, sizeof what, field, err->field);
		memcpy(err->field, what, sizeof what);
	}
	bl_tensor_free(&whole);
	return rc;
}

static json_t *arg(json_t *params, const char *name)
{
	return json_object_get(json_object_get(params, "args"), name);
}

double kernel_arg_number(json_t *params, const char *name, double fallback)
{
	json_t *v = arg(params, name);
	return json_is_number(v) ? json_number_value(v) : fallback;
}

bool kernel_arg_bool(json_t *params, const char *name, bool fallback)
{
	json_t *v = arg(params, name);
	return json_is_boolean(v) ? json_is_true(v) : fallback;
}

const char *kernel_arg_name(json_t *params, const char *name, const char *fallback)
{
	const char *v = json_string_value(arg(params, name));
	return v ? v : fallback;
}

bool kernel_arg_axis(json_t *params, const char *name, int *axis)
{
	json_t *v = arg(params, name);
	if (!json_is_integer(v))
		return false;
	*axis = (int)json_integer_value(v);
	return true;
}

bool kernel_arg_range(json_t *params, const char *name, double *lo, double *hi)
{
	json_t *v = arg(params, name);
	if (!json_is_array(v))
		return false;
	*lo = json_number_value(json_array_get(v, 0));
	*hi = json_number_value(json_array_get(v, 1));
	return true;
}

const char *kernel_output_path(json_t *params, const char *name)
{
	return json_string_value(json_object_get(json_object_get(params, "outputs"), name));
}
