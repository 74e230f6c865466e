/*
 * `beamline-bench machine-class` when it cannot learn the OpenCL side:
 * a build folder that does not exist, or a `beamline-engine devices` that
 * fails. The key picks the baseline that deploy/ci/bench-gate compares
 * with, and the gate passes when no baseline has that key, so a key
 * guessed after a failure turns the gate off. Such a failure must be an
 * error, not the key of a machine without OpenCL.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_tool.h"

/* Make `dir` a release build folder whose beamline-engine fails as a
 * broken OpenCL driver would. */
static void failing_engine_build(const char *dir)
{
	char path[1200];

	snprintf(path, sizeof path, "%s/CMakeCache.txt", dir);
	FILE *cache = fopen(path, "w");
	cr_assert_not_null(cache, "cannot write %s", path);
	fputs("CMAKE_BUILD_TYPE:STRING=Release\n", cache);
	fclose(cache);

	snprintf(path, sizeof path, "%s/engine", dir);
	cr_assert_eq(mkdir(path, 0755), 0, "cannot make %s", path);
	snprintf(path, sizeof path, "%s/engine/beamline-engine", dir);
	FILE *engine = fopen(path, "w");
	cr_assert_not_null(engine, "cannot write %s", path);
	fputs("#!/bin/sh\necho 'clGetPlatformIDs failed: -1001' >&2\nexit 1\n", engine);
	fclose(engine);
	cr_assert_eq(chmod(path, 0755), 0);
}

/* A failing `beamline-engine devices` gives a non-zero exit status and a
 * message naming the listing, not a key ending in "no-opencl". */
Test(bench_machine_class, failed_device_listing_is_error, .timeout = 60)
{
	char dir[1024], args[1200];
	tool_scratch(dir, sizeof dir);
	failing_engine_build(dir);
	snprintf(args, sizeof args, "machine-class --build-dir %s", dir);

	tool_output_t o = tool_run("", args);

	cr_expect_neq(o.status, 0, "exit status 0 with the key %s", o.out);
	cr_expect(strstr(o.err, "devices") != NULL, "stderr does not name the failed listing: %s", o.err);
	tool_output_free(&o);
	tool_remove(dir);
}

/* A mistyped --build-dir is an error naming the folder, not a key ending
 * in "-release-no-opencl". */
Test(bench_machine_class, missing_build_dir_is_error, .timeout = 60)
{
	tool_output_t o = tool_run("", "machine-class --build-dir /nonexistent/beamline-build");

	cr_expect_neq(o.status, 0, "exit status 0 with the key %s", o.out);
	cr_expect(strstr(o.err, "/nonexistent/beamline-build") != NULL, "stderr does not name the folder: %s", o.err);
	tool_output_free(&o);
}
