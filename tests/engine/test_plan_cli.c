/*
 * `beamline-engine plan` on the command line: what it leaves on disk when
 * it cannot write its outputs. The workload is one inline job with three
 * calibration samples, so a whole plan takes well under a second.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_harness.h"

#define WORKLOAD                                                                                      \
	"{\"target_p99_ms\": 100, \"arrival\": {\"process\": \"poisson\", \"rate_per_s\": 20},"        \
	" \"tenants\": {\"a\": {}}, \"calibration_samples\": 3, \"simulated_jobs\": 200,"             \
	" \"mix\": [{\"name\": \"mean\", \"tenant\": \"a\", \"fraction\": 1, \"job\": {\"block\": \"kernel\"," \
	" \"params\": {\"kernel\": \"reduce\", \"inputs\": {\"x\": [1, 2, 3]}, \"args\": {\"op\": \"mean\"}}}}]}"

/* A scratch folder holding workload.json. */
static void make_scratch(char *dir, size_t size, char *workload, size_t workload_size)
{
	snprintf(dir, size, "%s/bl-plan-cli-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	cr_assert_not_null(mkdtemp(dir), "cannot make a scratch folder");
	snprintf(workload, workload_size, "%s/workload.json", dir);
	FILE *file = fopen(workload, "w");
	cr_assert_not_null(file);
	fputs(WORKLOAD, file);
	fclose(file);
}

/* A --json path in a folder that does not exist: the plan fails before it
 * calibrates, and the chart it could have written is not left behind. */
Test(engine_plan_cli, unwritable_json_leaves_no_chart, .timeout = 60)
{
	char dir[512], workload[600], svg[600], json[600];
	make_scratch(dir, sizeof dir, workload, sizeof workload);
	snprintf(svg, sizeof svg, "%s/plan.svg", dir);
	snprintf(json, sizeof json, "%s/no-such-folder/plan.json", dir);

	cli_result_t r;
	const char *args[] = {"plan", workload, "--no-validate", "--max-cores", "1", "--max-instances", "1",
			      "--svg", svg, "--json", json, NULL};
	cli_run(&r, args, NULL);

	cr_expect_eq(r.status, 3, "exit status %d; stderr: %s", r.status, r.err);
	cr_expect_not_null(strstr(r.err, "no-such-folder/plan.json"), "the error names the path: %s", r.err);
	cr_expect_null(strstr(r.err, "calibrating"), "the path is checked before calibration: %s", r.err);
	cr_expect_neq(access(svg, F_OK), 0, "the chart of a failed plan was left behind");
	cli_result_free(&r);
	unlink(svg);
	unlink(workload);
	rmdir(dir);
}
