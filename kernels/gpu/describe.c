/*
 * Discovery: every OpenCL platform and device the ICD loader finds, as
 * JSON, for `beamline-engine devices` and for people choosing a
 * device_index.
 *
 * Only running out of host memory fails the whole description. A platform
 * or device whose query fails is still listed, with an "error" member
 * naming the call and the OpenCL status, so one broken driver does not
 * hide the others.
 */
#include <beamline/gpu.h>

#include <CL/cl_ext.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The object a getter queries: a platform, or a device when `device` is not NULL. */
typedef struct cl_object {
	cl_platform_id platform;
	cl_device_id device;
} cl_object_t;

static cl_int get_info(const cl_object_t *o, cl_uint param, size_t size, void *value, size_t *size_ret)
{
	if (o->device)
		return clGetDeviceInfo(o->device, param, size, value, size_ret);
	return clGetPlatformInfo(o->platform, param, size, value, size_ret);
}

/* Read a string parameter into a buffer of the size the driver reports.
 * Returns CL_SUCCESS and an owned string in *out, or the failing status
 * (CL_OUT_OF_HOST_MEMORY when malloc fails). */
static cl_int get_string(char **out, const cl_object_t *o, cl_uint param)
{
	size_t size = 0;
	cl_int status = get_info(o, param, 0, NULL, &size);
	if (status != CL_SUCCESS)
		return status;

	char *text = malloc(size + 1);
	if (!text)
		return CL_OUT_OF_HOST_MEMORY;
	status = get_info(o, param, size, text, NULL);
	if (status != CL_SUCCESS) {
		free(text);
		return status;
	}

	/* The size includes the terminating NUL. Terminating again keeps a
	 * driver that omits it from sending us past the buffer. */
	text[size] = '\0';
	*out = text;
	return CL_SUCCESS;
}

static cl_int get_ulong(cl_ulong *out, const cl_object_t *o, cl_uint param)
{
	return get_info(o, param, sizeof *out, out, NULL);
}

static cl_int get_uint(cl_uint *out, const cl_object_t *o, cl_uint param)
{
	return get_info(o, param, sizeof *out, out, NULL);
}

static cl_int get_size(size_t *out, const cl_object_t *o, cl_uint param)
{
	return get_info(o, param, sizeof *out, out, NULL);
}

/* Read a size_t array parameter, as long as the driver reports. Returns
 * CL_SUCCESS with an owned array in *out and its length in *count. */
static cl_int get_size_array(size_t **out, size_t *count, const cl_object_t *o, cl_uint param)
{
	size_t bytes = 0;
	cl_int status = get_info(o, param, 0, NULL, &bytes);
	if (status != CL_SUCCESS)
		return status;

	size_t *values = malloc(bytes > 0 ? bytes : 1);
	if (!values)
		return CL_OUT_OF_HOST_MEMORY;
	status = get_info(o, param, bytes, values, NULL);
	if (status != CL_SUCCESS) {
		free(values);
		return status;
	}

	*out = values;
	*count = bytes / sizeof *values;
	return CL_SUCCESS;
}

/*
 * One JSON object under construction. The first failed OpenCL query is
 * kept as `failed` and `status`, and later queries are skipped.
 * `no_memory` is set when jansson or malloc could not allocate.
 */
typedef struct builder {
	json_t *obj;
	const char *failed;
	cl_int status;
	bool no_memory;
} builder_t;

static bool builder_ok(const builder_t *b)
{
	return !b->failed && !b->no_memory;
}

/* Set obj[key] to `value`, which it takes; NULL means allocation failed. */
static void put(builder_t *b, const char *key, json_t *value)
{
	if (json_object_set_new(b->obj, key, value) != 0)
		b->no_memory = true;
}

/* Record a failed query `what` unless one failed before;
 * CL_OUT_OF_HOST_MEMORY counts as running out of memory. */
static void fail(builder_t *b, cl_int status, const char *what)
{
	if (status == CL_OUT_OF_HOST_MEMORY) {
		b->no_memory = true;
		return;
	}
	if (b->failed)
		return;
	b->failed = what;
	b->status = status;
}

/* Convert to a JSON integer, which is signed 64-bit. No device has 8 EiB
 * of anything, so only a garbage value is clamped, instead of wrapping. */
static json_t *json_u64(uint64_t v)
{
	return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static void put_string(builder_t *b, const cl_object_t *o, const char *key, cl_uint param, const char *what)
{
	char *text = NULL;
	if (!builder_ok(b))
		return;

	cl_int status = get_string(&text, o, param);
	if (status != CL_SUCCESS) {
		fail(b, status, what);
		return;
	}
	put(b, key, json_string(text));
	free(text);
}

static void put_ulong(builder_t *b, const cl_object_t *o, const char *key, cl_uint param, const char *what)
{
	cl_ulong v = 0;
	if (!builder_ok(b))
		return;

	cl_int status = get_ulong(&v, o, param);
	if (status != CL_SUCCESS)
		fail(b, status, what);
	else
		put(b, key, json_u64(v));
}

static void put_uint(builder_t *b, const cl_object_t *o, const char *key, cl_uint param, const char *what)
{
	cl_uint v = 0;
	if (!builder_ok(b))
		return;

	cl_int status = get_uint(&v, o, param);
	if (status != CL_SUCCESS)
		fail(b, status, what);
	else
		put(b, key, json_integer(v));
}

static void put_bool(builder_t *b, const cl_object_t *o, const char *key, cl_uint param, const char *what)
{
	cl_bool v = CL_FALSE;
	if (!builder_ok(b))
		return;

	cl_int status = get_info(o, param, sizeof v, &v, NULL);
	if (status != CL_SUCCESS)
		fail(b, status, what);
	else
		put(b, key, json_boolean(v != CL_FALSE));
}

static void put_size(builder_t *b, const cl_object_t *o, const char *key, cl_uint param, const char *what)
{
	size_t v = 0;
	if (!builder_ok(b))
		return;

	cl_int status = get_size(&v, o, param);
	if (status != CL_SUCCESS)
		fail(b, status, what);
	else
		put(b, key, json_u64(v));
}

static void put_size_array(builder_t *b, const cl_object_t *o, const char *key, cl_uint param, const char *what)
{
	size_t *values = NULL;
	size_t count = 0;
	if (!builder_ok(b))
		return;

	cl_int status = get_size_array(&values, &count, o, param);
	if (status != CL_SUCCESS) {
		fail(b, status, what);
		return;
	}

	json_t *array = json_array();
	for (size_t i = 0; array && i < count; i++) {
		if (json_array_append_new(array, json_u64(values[i])) != 0)
			b->no_memory = true;
	}
	put(b, key, array);
	free(values);
}

/* Name the device type: "cpu", "gpu", "accelerator", "default", "custom",
 * or several of them joined by commas when the driver sets more bits. */
static json_t *type_name(cl_device_type type)
{
	static const struct {
		cl_device_type bit;
		const char *name;
	} names[] = {
		{CL_DEVICE_TYPE_CPU, "cpu"},
		{CL_DEVICE_TYPE_GPU, "gpu"},
		{CL_DEVICE_TYPE_ACCELERATOR, "accelerator"},
		{CL_DEVICE_TYPE_DEFAULT, "default"},
		{CL_DEVICE_TYPE_CUSTOM, "custom"},
	};
	char text[64] = "";

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (!(type & names[i].bit))
			continue;
		if (text[0])
			strcat(text, ",");
		strcat(text, names[i].name);
	}
	return json_string(text[0] ? text : "unknown");
}

static void put_type(builder_t *b, const cl_object_t *o)
{
	cl_device_type type = 0;
	if (!builder_ok(b))
		return;

	cl_int status = get_info(o, CL_DEVICE_TYPE, sizeof type, &type, NULL);
	if (status != CL_SUCCESS)
		fail(b, status, "clGetDeviceInfo(CL_DEVICE_TYPE)");
	else
		put(b, "type", type_name(type));
}

/* Split the space-separated extension list into "extensions", and set
 * "fp64" from whether cl_khr_fp64 is among them. */
static void put_extensions(builder_t *b, const cl_object_t *o)
{
	char *text = NULL;
	if (!builder_ok(b))
		return;

	cl_int status = get_string(&text, o, CL_DEVICE_EXTENSIONS);
	if (status != CL_SUCCESS) {
		fail(b, status, "clGetDeviceInfo(CL_DEVICE_EXTENSIONS)");
		return;
	}

	json_t *array = json_array();
	bool fp64 = false;
	char *save = NULL;
	for (char *word = strtok_r(text, " ", &save); array && word; word = strtok_r(NULL, " ", &save)) {
		if (strcmp(word, "cl_khr_fp64") == 0)
			fp64 = true;
		if (json_array_append_new(array, json_string(word)) != 0)
			b->no_memory = true;
	}
	free(text);
	put(b, "fp64", json_boolean(fp64));
	put(b, "extensions", array);
}

/* Add "error": "<call> failed: <OpenCL status name> (<status>)" when a
 * query failed. */
static void put_error(builder_t *b)
{
	if (!b->failed || b->no_memory)
		return;

	put(b, "error", json_sprintf("%s failed: %s (%d)", b->failed, bl_gpu_status_name(b->status), (int)b->status));
}

/*
 * Describe device `id`, listed as `index`. Returns the object (with an
 * "error" member when a query failed), or NULL when memory ran out.
 */
static json_t *describe_device(cl_device_id id, size_t index)
{
	const cl_object_t o = {.device = id};
	builder_t b = {.obj = json_object()};
	if (!b.obj)
		return NULL;

	put(&b, "index", json_u64(index));
	put_string(&b, &o, "name", CL_DEVICE_NAME, "clGetDeviceInfo(CL_DEVICE_NAME)");
	put_string(&b, &o, "vendor", CL_DEVICE_VENDOR, "clGetDeviceInfo(CL_DEVICE_VENDOR)");
	put_type(&b, &o);
	put_string(&b, &o, "driver_version", CL_DRIVER_VERSION, "clGetDeviceInfo(CL_DRIVER_VERSION)");
	put_string(&b, &o, "version", CL_DEVICE_VERSION, "clGetDeviceInfo(CL_DEVICE_VERSION)");
	put_string(&b, &o, "opencl_c_version", CL_DEVICE_OPENCL_C_VERSION,
		   "clGetDeviceInfo(CL_DEVICE_OPENCL_C_VERSION)");
	put_bool(&b, &o, "available", CL_DEVICE_AVAILABLE, "clGetDeviceInfo(CL_DEVICE_AVAILABLE)");

	put_uint(&b, &o, "compute_units", CL_DEVICE_MAX_COMPUTE_UNITS, "clGetDeviceInfo(CL_DEVICE_MAX_COMPUTE_UNITS)");
	put_uint(&b, &o, "max_clock_mhz", CL_DEVICE_MAX_CLOCK_FREQUENCY,
		 "clGetDeviceInfo(CL_DEVICE_MAX_CLOCK_FREQUENCY)");
	put_ulong(&b, &o, "global_mem_bytes", CL_DEVICE_GLOBAL_MEM_SIZE, "clGetDeviceInfo(CL_DEVICE_GLOBAL_MEM_SIZE)");
	put_ulong(&b, &o, "global_mem_cache_bytes", CL_DEVICE_GLOBAL_MEM_CACHE_SIZE,
		  "clGetDeviceInfo(CL_DEVICE_GLOBAL_MEM_CACHE_SIZE)");
	put_ulong(&b, &o, "local_mem_bytes", CL_DEVICE_LOCAL_MEM_SIZE, "clGetDeviceInfo(CL_DEVICE_LOCAL_MEM_SIZE)");
	put_ulong(&b, &o, "max_alloc_bytes", CL_DEVICE_MAX_MEM_ALLOC_SIZE,
		  "clGetDeviceInfo(CL_DEVICE_MAX_MEM_ALLOC_SIZE)");
	put_size(&b, &o, "max_work_group_size", CL_DEVICE_MAX_WORK_GROUP_SIZE,
		 "clGetDeviceInfo(CL_DEVICE_MAX_WORK_GROUP_SIZE)");
	put_size_array(&b, &o, "max_work_item_sizes", CL_DEVICE_MAX_WORK_ITEM_SIZES,
		       "clGetDeviceInfo(CL_DEVICE_MAX_WORK_ITEM_SIZES)");
	put_uint(&b, &o, "preferred_vector_width_float", CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT,
		 "clGetDeviceInfo(CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT)");
	put_uint(&b, &o, "preferred_vector_width_double", CL_DEVICE_PREFERRED_VECTOR_WIDTH_DOUBLE,
		 "clGetDeviceInfo(CL_DEVICE_PREFERRED_VECTOR_WIDTH_DOUBLE)");
	put_extensions(&b, &o);
	put_error(&b);

	if (b.no_memory) {
		json_decref(b.obj);
		return NULL;
	}
	return b.obj;
}

/*
 * Add the platform's devices to b->obj["devices"], numbering them from
 * *next_index on. Runs even after an earlier query failed. A platform
 * without devices (CL_DEVICE_NOT_FOUND) gets an empty list; another
 * failure is recorded in `b`.
 */
static void put_devices(builder_t *b, cl_platform_id platform, size_t *next_index)
{
	cl_uint count = 0;
	json_t *devices = json_array();
	put(b, "devices", devices);
	if (b->no_memory)
		return;

	cl_int status = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, NULL, &count);
	if (status == CL_DEVICE_NOT_FOUND || (status == CL_SUCCESS && count == 0))
		return;
	if (status != CL_SUCCESS) {
		fail(b, status, "clGetDeviceIDs");
		return;
	}

	cl_device_id *ids = calloc(count, sizeof *ids);
	if (!ids) {
		b->no_memory = true;
		return;
	}
	status = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, count, ids, NULL);
	if (status != CL_SUCCESS) {
		fail(b, status, "clGetDeviceIDs");
		free(ids);
		return;
	}

	for (cl_uint i = 0; i < count && !b->no_memory; i++) {
		json_t *device = describe_device(ids[i], (*next_index)++);
		if (!device || json_array_append_new(devices, device) != 0)
			b->no_memory = true;
	}
	free(ids);
}

/* Describe `platform` and its devices. Returns the object, or NULL when
 * memory ran out. */
static json_t *describe_platform(cl_platform_id platform, size_t *next_index)
{
	const cl_object_t o = {.platform = platform};
	builder_t b = {.obj = json_object()};
	if (!b.obj)
		return NULL;

	put_string(&b, &o, "name", CL_PLATFORM_NAME, "clGetPlatformInfo(CL_PLATFORM_NAME)");
	put_string(&b, &o, "vendor", CL_PLATFORM_VENDOR, "clGetPlatformInfo(CL_PLATFORM_VENDOR)");
	put_string(&b, &o, "version", CL_PLATFORM_VERSION, "clGetPlatformInfo(CL_PLATFORM_VERSION)");
	put_string(&b, &o, "profile", CL_PLATFORM_PROFILE, "clGetPlatformInfo(CL_PLATFORM_PROFILE)");

	/* The devices are listed even when a platform string failed, so the
	 * numbering matches bl_gpu_open's, which counts every device. */
	put_devices(&b, platform, next_index);
	put_error(&b);

	if (b.no_memory) {
		json_decref(b.obj);
		return NULL;
	}
	return b.obj;
}

/* List the platform ids. Returns CL_SUCCESS with an owned array (NULL when
 * there are none) and its length, treating "no platform" as zero. */
static cl_int list_platforms(cl_platform_id **out, cl_uint *count)
{
	*out = NULL;
	*count = 0;

	cl_uint n = 0;
	cl_int status = clGetPlatformIDs(0, NULL, &n);
	if (status == CL_PLATFORM_NOT_FOUND_KHR || (status == CL_SUCCESS && n == 0))
		return CL_SUCCESS;
	if (status != CL_SUCCESS)
		return status;

	cl_platform_id *ids = calloc(n, sizeof *ids);
	if (!ids)
		return CL_OUT_OF_HOST_MEMORY;
	status = clGetPlatformIDs(n, ids, &n);
	if (status != CL_SUCCESS) {
		free(ids);
		return status;
	}

	*out = ids;
	*count = n;
	return CL_SUCCESS;
}

int bl_gpu_describe(json_t **out, bl_error_t *err)
{
	cl_platform_id *platforms = NULL;
	cl_uint count = 0;
	size_t next_index = 0;

	cl_int status = list_platforms(&platforms, &count);
	if (status == CL_OUT_OF_HOST_MEMORY)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory listing the OpenCL platforms");
	if (status != CL_SUCCESS)
		return bl_gpu_error(err, status, "clGetPlatformIDs");

	json_t *list = json_array();
	for (cl_uint i = 0; list && i < count; i++) {
		json_t *platform = describe_platform(platforms[i], &next_index);
		if (!platform || json_array_append_new(list, platform) != 0) {
			json_decref(list);
			list = NULL;
		}
	}
	free(platforms);

	if (!list)
		return bl_error_set(err, BL_ENOMEM, NULL, "out of memory describing the OpenCL devices");
	*out = list;
	return 0;
}
