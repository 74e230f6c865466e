#define _GNU_SOURCE /* mkdtemp */

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_harness.h"

/* Run `devices --json` and parse its standard output, failing the test
 * when the command fails or prints anything but one JSON document. */
static json_t *devices_json(const char *env)
{
	cli_result_t r;
	cli_run(&r, (const char *[]){"devices", "--json", NULL}, env);
	cr_assert_eq(r.status, 0, "devices --json exited %d, expected 0", r.status);

	json_error_t jerr;
	json_t *doc = json_loads(r.out, 0, &jerr);
	cr_assert_not_null(doc, "devices --json printed invalid JSON (%s at line %d): %s", jerr.text, jerr.line, r.out);
	cli_result_free(&r);
	return doc;
}

/* Collect every device of every platform into one array (borrowed
 * references kept alive by `doc`). */
static json_t *all_devices(const json_t *doc)
{
	json_t *devices = json_array();
	size_t i;
	json_t *platform;
	json_array_foreach(json_object_get(doc, "opencl"), i, platform) {
		size_t j;
		json_t *device;
		json_array_foreach(json_object_get(platform, "devices"), j, device)
			json_array_append(devices, device);
	}
	return devices;
}

static json_int_t integer_member(const json_t *obj, const char *key, const char *what)
{
	const json_t *value = json_object_get(obj, key);
	cr_assert(json_is_integer(value), "%s: \"%s\" is missing or not an integer", what, key);
	return json_integer_value(value);
}

static const char *string_member(const json_t *obj, const char *key, const char *what)
{
	const char *value = json_string_value(json_object_get(obj, key));
	cr_assert_not_null(value, "%s: \"%s\" is missing or not a string", what, key);
	return value;
}

/* Any machine that runs the tests has at least one core that hwloc can
 * see, and OpenBLAS always names the kernel set it loaded. */
Test(engine_devices, json_describes_cpu_and_blas)
{
	json_t *doc = devices_json(NULL);
	const json_t *cpu = json_object_get(doc, "cpu");
	const json_t *blas = json_object_get(doc, "blas");

	cr_assert(json_is_object(cpu), "no \"cpu\" object");
	json_int_t cores = integer_member(cpu, "cores", "cpu");
	cr_assert_geq(cores, 1, "cpu.cores is %lld, expected at least 1", (long long)cores);
	json_int_t pus = integer_member(cpu, "pus", "cpu");
	cr_assert_geq(pus, cores, "cpu.pus is %lld, expected at least cpu.cores (%lld)", (long long)pus,
		      (long long)cores);
	cr_assert_geq(integer_member(cpu, "packages", "cpu"), 1, "cpu.packages is below 1");
	string_member(cpu, "model", "cpu");

	cr_assert(json_is_object(blas), "no \"blas\" object");
	const char *core = string_member(blas, "core", "blas");
	cr_assert_gt(strlen(core), 0, "blas.core is empty");
	cr_assert(json_is_array(json_object_get(doc, "opencl")), "\"opencl\" is missing or not an array");

	json_decref(doc);
}

/* Every device carries the keys the engine and operators rely on, with
 * values a real device can have; indices count 0, 1, ... across
 * platforms, the order device_index uses. */
Test(engine_devices, json_devices_have_sane_values)
{
	json_t *doc = devices_json(NULL);
	json_t *devices = all_devices(doc);
	if (json_array_size(devices) == 0)
		cr_skip_test("no OpenCL device on this machine (install pocl-opencl-icd)");

	size_t i;
	json_t *d;
	json_array_foreach(devices, i, d) {
		char what[32];
		snprintf(what, sizeof what, "device %zu", i);
		cr_assert_null(json_object_get(d, "error"), "%s: %s", what,
			       json_string_value(json_object_get(d, "error")));
		cr_assert_eq(integer_member(d, "index", what), (json_int_t)i, "%s has index %lld", what,
			     (long long)integer_member(d, "index", what));
		cr_assert_gt(strlen(string_member(d, "name", what)), 0, "%s: empty name", what);
		string_member(d, "vendor", what);
		string_member(d, "type", what);
		string_member(d, "driver_version", what);
		cr_assert(strncmp(string_member(d, "version", what), "OpenCL ", 7) == 0,
			  "%s: version \"%s\" does not start with \"OpenCL \"", what, string_member(d, "version", what));
		string_member(d, "opencl_c_version", what);
		cr_assert_geq(integer_member(d, "compute_units", what), 1, "%s: compute_units below 1", what);
		cr_assert_gt(integer_member(d, "global_mem_bytes", what), 0, "%s: global_mem_bytes not positive", what);
		cr_assert_gt(integer_member(d, "max_alloc_bytes", what), 0, "%s: max_alloc_bytes not positive", what);
		cr_assert_geq(integer_member(d, "max_work_group_size", what), 1, "%s: max_work_group_size below 1",
			      what);
		integer_member(d, "max_clock_mhz", what);
		integer_member(d, "local_mem_bytes", what);
		integer_member(d, "global_mem_cache_bytes", what);
		integer_member(d, "preferred_vector_width_float", what);
		integer_member(d, "preferred_vector_width_double", what);
		cr_assert_gt(json_array_size(json_object_get(d, "max_work_item_sizes")), 0,
			     "%s: max_work_item_sizes missing or empty", what);
		cr_assert(json_is_boolean(json_object_get(d, "fp64")), "%s: fp64 missing or not a boolean", what);
		cr_assert(json_is_boolean(json_object_get(d, "available")), "%s: available missing", what);
		cr_assert(json_is_array(json_object_get(d, "extensions")), "%s: extensions missing", what);
	}

	json_decref(devices);
	json_decref(doc);
}

/* The text form is for people picking a device, so each device the JSON
 * lists must be named in it. */
Test(engine_devices, text_names_every_device)
{
	json_t *doc = devices_json(NULL);
	json_t *devices = all_devices(doc);
	if (json_array_size(devices) == 0)
		cr_skip_test("no OpenCL device on this machine (install pocl-opencl-icd)");
	cli_result_t r;

	cli_run(&r, (const char *[]){"devices", NULL}, NULL);

	cr_assert_eq(r.status, 0, "devices exited %d, expected 0", r.status);
	cr_assert_not_null(strstr(r.out, "cores:"), "no core count in:\n%s", r.out);
	size_t i;
	json_t *d;
	json_array_foreach(devices, i, d) {
		const char *name = json_string_value(json_object_get(d, "name"));
		cr_assert_not_null(strstr(r.out, name), "device \"%s\" is not named in:\n%s", name, r.out);
	}
	cli_result_free(&r);
	json_decref(devices);
	json_decref(doc);
}

/* ocl-icd reads its drivers from the .icd files in $OCL_ICD_VENDORS when
 * that is a folder, so an empty folder is a machine without OpenCL: the
 * command still describes the CPU, exits 0 and lists no platform. */
Test(engine_devices, no_platform_is_not_an_error)
{
	char dir[] = "/tmp/bl-no-icd-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char env[64];
	snprintf(env, sizeof env, "OCL_ICD_VENDORS=%s", dir);
	cli_result_t r;

	json_t *doc = devices_json(env);
	cli_run(&r, (const char *[]){"devices", NULL}, env);

	cr_assert_eq(json_array_size(json_object_get(doc, "opencl")), 0, "expected no platform, got %zu",
		     json_array_size(json_object_get(doc, "opencl")));
	cr_assert_eq(r.status, 0, "devices exited %d, expected 0", r.status);
	cr_assert_not_null(strstr(r.out, "no OpenCL platform found; install pocl-opencl-icd"),
			   "the text form does not say there is no platform:\n%s", r.out);
	cr_assert_not_null(strstr(r.out, "cores:"), "the CPU is not described:\n%s", r.out);
	cli_result_free(&r);
	json_decref(doc);
	rmdir(dir);
}

/* An unknown option is a usage error (exit 2) that names the option, and
 * nothing goes to standard output. */
Test(engine_devices, unknown_option_exits_2)
{
	cli_result_t r;

	cli_run(&r, (const char *[]){"devices", "--bogus", NULL}, NULL);

	cr_assert_eq(r.status, 2, "exit status %d, expected 2", r.status);
	cr_assert_not_null(strstr(r.err, "--bogus"), "the message does not name --bogus: %s", r.err);
	cr_assert_str_empty(r.out, "standard output is not empty: %s", r.out);
	cli_result_free(&r);
}

/* devices takes no file or other word; a stray one is a usage error. */
Test(engine_devices, stray_argument_exits_2)
{
	cli_result_t r;

	cli_run(&r, (const char *[]){"devices", "gpu0", NULL}, NULL);

	cr_assert_eq(r.status, 2, "exit status %d, expected 2", r.status);
	cr_assert_not_null(strstr(r.err, "gpu0"), "the message does not name gpu0: %s", r.err);
	cli_result_free(&r);
}

/* --help prints the command's usage on standard output and succeeds. */
Test(engine_devices, help_exits_0)
{
	cli_result_t r;

	cli_run(&r, (const char *[]){"devices", "--help", NULL}, NULL);

	cr_assert_eq(r.status, 0, "exit status %d, expected 0", r.status);
	cr_assert_not_null(strstr(r.out, "usage: beamline-engine devices [--json]"), "no usage line in: %s", r.out);
	cr_assert_not_null(strstr(r.out, "--json"), "--json is not described: %s", r.out);
	cli_result_free(&r);
}

/* --warm runs every kernel on the device once and reports how long each
 * dtype took; the device's label matches the one listed. */
Test(engine_devices, warm_reports_device, .timeout = 600)
{
	cli_result_t r;

	cli_run(&r, (const char *[]){"devices", "--json", "--warm", NULL}, NULL);
	json_t *doc = json_loads(r.out, 0, NULL);
	cr_assert_not_null(doc, "devices --json --warm printed no JSON: %s", r.out);
	if (json_array_size(json_object_get(doc, "opencl")) == 0) {
		json_decref(doc);
		cli_result_free(&r);
		cr_skip_test("no OpenCL device to warm");
	}

	json_t *warm = json_object_get(doc, "warm");
	cr_assert_eq(r.status, 0, "exit status %d, expected 0: %s", r.status, r.err);
	cr_assert(json_is_object(warm), "no warm report: %s", r.out);
	cr_assert_not_null(json_string_value(json_object_get(warm, "device")));
	cr_assert_gt(json_number_value(json_object_get(warm, "float32_ms")), 0.0);
	json_decref(doc);
	cli_result_free(&r);
}

/* Warming a device that does not exist fails with exit 3 and a message. */
Test(engine_devices, warm_missing_device_exits_3)
{
	cli_result_t r;

	cli_run(&r, (const char *[]){"devices", "--warm", "--gpu-device", "999", NULL}, NULL);

	cr_assert_eq(r.status, 3, "exit status %d, expected 3", r.status);
	cr_assert_not_null(strstr(r.err, "no OpenCL device"), "message: %s", r.err);
	cli_result_free(&r);
}
