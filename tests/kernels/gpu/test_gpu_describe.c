#define _GNU_SOURCE /* mkdtemp, setenv */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu_test.h"

/* Describe the machine, failing the test on error. */
static json_t *describe(void)
{
	json_t *list = NULL;
	bl_error_t err = {0};
	int rc = bl_gpu_describe(&list, &err);
	cr_assert_eq(rc, 0, "bl_gpu_describe returned %d: %s", rc, err.message);
	cr_assert(json_is_array(list), "bl_gpu_describe did not return an array");
	return list;
}

/* Every device of every platform, in listing order; holds references. */
static json_t *flatten(const json_t *platforms)
{
	json_t *devices = json_array();
	size_t i;
	json_t *platform;
	json_array_foreach(platforms, i, platform) {
		size_t j;
		json_t *device;
		json_array_foreach(json_object_get(platform, "devices"), j, device)
			json_array_append(devices, device);
	}
	return devices;
}

static bool has_string(const json_t *array, const char *text)
{
	size_t i;
	json_t *value;
	json_array_foreach(array, i, value) {
		if (json_string_value(value) && strcmp(json_string_value(value), text) == 0)
			return true;
	}
	return false;
}

/* The description lists as many platforms and devices as OpenCL reports
 * when asked directly. */
Test(kernels_gpu_describe, counts_every_device)
{
	cl_uint platform_count = 0;
	cl_int status = clGetPlatformIDs(0, NULL, &platform_count);
	if (status != CL_SUCCESS || platform_count == 0)
		cr_skip_test("no OpenCL platform (clGetPlatformIDs returned %d)", (int)status);
	cl_platform_id *platforms = calloc(platform_count, sizeof *platforms);
	cr_assert_eq(clGetPlatformIDs(platform_count, platforms, NULL), CL_SUCCESS);
	size_t expected = 0;
	for (cl_uint p = 0; p < platform_count; p++) {
		cl_uint n = 0;
		if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &n) == CL_SUCCESS)
			expected += n;
	}
	free(platforms);

	json_t *list = describe();
	json_t *devices = flatten(list);

	cr_assert_eq(json_array_size(list), platform_count, "%zu platforms listed, expected %u",
		     json_array_size(list), platform_count);
	cr_assert_eq(json_array_size(devices), expected, "%zu devices listed, expected %zu",
		     json_array_size(devices), expected);
	json_decref(devices);
	json_decref(list);
}

/* Each platform has its four strings; each device has every documented
 * key, with values a real device can have. fp64 must agree with the
 * extension list, and the largest allocation cannot exceed the memory. */
Test(kernels_gpu_describe, devices_have_sane_values)
{
	json_t *list = describe();
	json_t *devices = flatten(list);
	if (json_array_size(devices) == 0)
		cr_skip_test("no OpenCL device on this machine");
	size_t i;
	json_t *value;

	json_array_foreach(list, i, value) {
		const char *keys[] = {"name", "vendor", "version", "profile"};
		for (size_t k = 0; k < 4; k++)
			cr_assert(json_is_string(json_object_get(value, keys[k])), "platform %zu: no \"%s\"", i,
				  keys[k]);
		cr_assert(json_is_array(json_object_get(value, "devices")), "platform %zu: no \"devices\"", i);
	}

	json_array_foreach(devices, i, value) {
		const char *strings[] = {"name", "vendor", "type", "driver_version", "version", "opencl_c_version"};
		for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++)
			cr_assert(json_is_string(json_object_get(value, strings[k])), "device %zu: no \"%s\"", i,
				  strings[k]);
		cr_assert_null(json_object_get(value, "error"), "device %zu: %s", i,
			       json_string_value(json_object_get(value, "error")));
		cr_assert_eq(json_integer_value(json_object_get(value, "index")), (json_int_t)i,
			     "device %zu has index %lld", i,
			     (long long)json_integer_value(json_object_get(value, "index")));

		json_int_t units = json_integer_value(json_object_get(value, "compute_units"));
		json_int_t global = json_integer_value(json_object_get(value, "global_mem_bytes"));
		json_int_t alloc = json_integer_value(json_object_get(value, "max_alloc_bytes"));
		json_int_t group = json_integer_value(json_object_get(value, "max_work_group_size"));
		cr_assert_geq(units, 1, "device %zu: compute_units is %lld", i, (long long)units);
		cr_assert_gt(global, 0, "device %zu: global_mem_bytes is %lld", i, (long long)global);
		cr_assert(alloc > 0 && alloc <= global, "device %zu: max_alloc_bytes %lld, global memory %lld", i,
			  (long long)alloc, (long long)global);
		cr_assert_geq(group, 1, "device %zu: max_work_group_size is %lld", i, (long long)group);

		const json_t *sizes = json_object_get(value, "max_work_item_sizes");
		cr_assert_geq(json_array_size(sizes), 3, "device %zu: %zu work-item dimensions, OpenCL requires 3", i,
			      json_array_size(sizes));
		size_t d;
		json_t *size;
		json_array_foreach(sizes, d, size)
			cr_assert_geq(json_integer_value(size), 1, "device %zu: work-item size %zu is below 1", i, d);

		const json_t *extensions = json_object_get(value, "extensions");
		cr_assert(json_is_array(extensions), "device %zu: no \"extensions\" array", i);
		cr_assert_eq(json_is_true(json_object_get(value, "fp64")), has_string(extensions, "cl_khr_fp64"),
			     "device %zu: fp64 disagrees with the extension list", i);
	}

	json_decref(devices);
	json_decref(list);
}

/* Index N must be the device bl_gpu_open picks for device_index N, or a
 * person choosing from `beamline-engine devices` gets another device. */
Test(kernels_gpu_describe, index_selects_same_device)
{
	json_t *list = describe();
	json_t *devices = flatten(list);
	if (json_array_size(devices) == 0)
		cr_skip_test("no OpenCL device on this machine");
	size_t i;
	json_t *value;

	json_array_foreach(devices, i, value) {
		bl_gpu_config_t cfg;
		bl_gpu_config_init(&cfg);
		cfg.device_index = (int)i;
		bl_gpu_t *gpu = NULL;
		bl_error_t err = {0};
		int rc = bl_gpu_open(&gpu, &cfg, &err);
		cr_assert_eq(rc, 0, "bl_gpu_open(device_index %zu) failed: %s", i, err.message);

		char name[256] = "";
		clGetDeviceInfo(bl_gpu_device_id(gpu), CL_DEVICE_NAME, sizeof name - 1, name, NULL);
		const char *listed = json_string_value(json_object_get(value, "name"));
		cr_assert_str_eq(name, listed, "device_index %zu opened \"%s\", the listing says \"%s\"", i, name,
				 listed);
		bl_gpu_close(&gpu);
	}

	json_decref(devices);
	json_decref(list);
}

/* ocl-icd loads only the .icd files in $OCL_ICD_VENDORS when it is a
 * folder, and reads it at the first OpenCL call of the process; Criterion
 * runs each test in a process of its own. An empty folder is therefore a
 * machine without OpenCL, which is an empty list and not an error. */
Test(kernels_gpu_describe, no_platform_gives_empty_array)
{
	char dir[] = "/tmp/bl-no-icd-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(setenv("OCL_ICD_VENDORS", dir, 1), 0);

	json_t *list = describe();

	cr_assert_eq(json_array_size(list), 0, "expected no platform, got %zu", json_array_size(list));
	json_decref(list);
	rmdir(dir);
}
