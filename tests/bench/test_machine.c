/*
 * The machine-class key that baselines are filed under: lower-case words
 * of the CPU model without the (R) and (TM) marks, the core count, the
 * build type, and the OpenCL side.
 */
#include <criterion/criterion.h>

#include "machine.h"

static void expect_class(const char *machine_json, const char *build_type, const char *expected)
{
	json_error_t error;
	json_t *machine = json_loads(machine_json, 0, &error);
	cr_assert_not_null(machine, "test input is not JSON: %s", error.text);
	char key[256];

	machine_class(key, sizeof key, machine, build_type);

	cr_expect_str_eq(key, expected, "key %s, expected %s", key, expected);
	json_decref(machine);
}

/* PoCL's CPU device is "opencl-cpu", whatever its long name. */
Test(bench_machine, cpu_opencl_device)
{
	expect_class("{\"cpu_model\": \"Intel(R) Xeon(R) Processor\", \"cores\": 2, \"opencl\": [{\"name\": "
		     "\"pthread-skylake-avx512-Intel(R) Xeon(R) Processor\", \"type\": \"cpu\"}]}",
		     "Release", "intel-xeon-processor-2c-release-opencl-cpu");
}

/* A GPU anywhere in the list names the class, even after a CPU device. */
Test(bench_machine, gpu_named_in_class)
{
	expect_class(
		"{\"cpu_model\": \"AMD EPYC 9654 96-Core Processor\", \"cores\": 16, \"opencl\": ["
		"{\"name\": \"pthread-znver4\", \"type\": \"cpu\"}, {\"name\": \"NVIDIA H200\", \"type\": \"gpu\"}]}",
		"Release", "amd-epyc-9654-96-core-processor-16c-release-nvidia-h200");
}

Test(bench_machine, no_opencl_device)
{
	expect_class("{\"cpu_model\": \"Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz\", \"cores\": 12, \"opencl\": []}",
		     "Debug", "intel-core-i7-8700-cpu-3-20ghz-12c-debug-no-opencl");
}

/* A device list that could not be read is not a machine without OpenCL:
 * the key ends in "opencl-unknown", so it matches no real baseline. */
Test(bench_machine, failed_listing_is_unknown)
{
	expect_class("{\"cpu_model\": \"Intel(R) Xeon(R) Processor\", \"cores\": 2, \"opencl\": [], "
		     "\"opencl_error\": \"beamline-engine devices --json failed (exit status 1)\"}",
		     "Release", "intel-xeon-processor-2c-release-opencl-unknown");
}
