/*
 * The planner's workload description: every invalid input gets an error
 * naming its field, and the sweep ends with a clear outcome when no size
 * can meet the target. No engine runs here: the service times are made
 * up, which the sweep cannot tell from calibrated ones.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "plan.h"
#include "workload.h"

/* A valid workload; each test breaks one part of it. */
#define KNN_JOB "{\"block\": \"kernel\", \"params\": {\"kernel\": \"reduce\", \"inputs\": {\"x\": [1, 2, 3]}, " \
		"\"args\": {\"op\": \"mean\"}}}"
#define VALID                                                                                         \
	"{\"target_p99_ms\": 50, \"arrival\": {\"process\": \"poisson\", \"rate_per_s\": 100},"        \
	" \"tenants\": {\"a\": {\"weight\": 2, \"max_concurrent\": 4}, \"b\": {\"priorities\": {\"high\": 0.5, " \
	"\"low\": 0.5}}},"                                                                            \
	" \"mix\": [{\"name\": \"one\", \"tenant\": \"a\", \"fraction\": 0.75, \"job\": " KNN_JOB "},"  \
	" {\"name\": \"two\", \"tenant\": \"b\", \"fraction\": 0.25, \"job\": " KNN_JOB "}]}"

/* Parse `text`; returns the code and fills *err. */
static int parse(const char *text, bl_plan_workload_t **w, bl_error_t *err)
{
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr);
	cr_assert_not_null(root, "test JSON does not parse: %s", jerr.text);

	int rc = bl_plan_workload_parse(w, root, ".", err);
	json_decref(root);
	return rc;
}

/* Parse VALID with `from` replaced by `to`, expecting an error on `field`. */
static void expect_error(const char *from, const char *to, const char *field, const char *words)
{
	char text[4096];
	const char *at = strstr(VALID, from);
	cr_assert_not_null(at, "'%s' is not in the valid workload", from);
	snprintf(text, sizeof text, "%.*s%s%s", (int)(at - VALID), VALID, to, at + strlen(from));
	bl_plan_workload_t *w = NULL;
	bl_error_t err = {0};

	int rc = parse(text, &w, &err);

	cr_assert_eq(rc, BL_EFORMAT, "replacing '%s' with '%s': expected BL_EFORMAT, got %d (%s)", from, to, rc,
		     err.message);
	cr_assert_null(w);
	cr_assert_str_eq(err.field, field, "replacing '%s': expected field '%s', got '%s' (%s)", from, field, err.field,
			 err.message);
	cr_assert_not_null(strstr(err.message, words), "expected '%s' in the message, got '%s'", words, err.message);
}

/* The valid workload parses, with fractions as shares and the defaults
 * for what it leaves out. */
Test(engine_plan_workload, valid_workload_parses)
{
	bl_plan_workload_t *w = NULL;
	bl_error_t err = {0};

	int rc = parse(VALID, &w, &err);

	cr_assert_eq(rc, 0, "parse: %s: %s", err.field, err.message);
	cr_assert_eq(w->entry_count, 2);
	cr_assert_eq(w->tenant_count, 2);
	cr_assert_float_eq(w->entries[0].share, 0.75, 1e-12);
	cr_assert_float_eq(w->rate_per_s, 100, 1e-12);
	cr_assert_eq(w->tenants[0].quota.weight, 2);
	cr_assert_float_eq(w->tenants[1].priority_share[BL_PRIORITY_LOW], 0.5, 1e-12);
	cr_assert_eq(w->entries[1].kind, BL_PLAN_COMPUTE);
	cr_assert_eq(w->simulated_jobs, 20000);
	cr_assert_eq(w->calibration_spacing_ms, 0);
	bl_plan_workload_free(&w);
	cr_assert_null(w);
}

Test(engine_plan_workload, calibration_spacing_parses)
{
	const char *from = "\"target_p99_ms\": 50";
	char text[4096];
	const char *at = strstr(VALID, from);
	bl_plan_workload_t *w = NULL;
	bl_error_t err = {0};

	snprintf(text, sizeof text, "%.*s%s%s", (int)(at - VALID), VALID,
		 "\"target_p99_ms\": 50, \"calibration_spacing_ms\": 50", at + strlen(from));
	int rc = parse(text, &w, &err);

	cr_assert_eq(rc, 0, "parse: %s: %s", err.field, err.message);
	cr_assert_eq(w->calibration_spacing_ms, 50);
	bl_plan_workload_free(&w);
}

Test(engine_plan_workload, missing_fields_are_named)
{
	expect_error("\"tenant\": \"a\", ", "", "mix[0].tenant", "missing");
	expect_error("\"name\": \"two\", ", "", "mix[1].name", "missing");
	expect_error("\"rate_per_s\": 100", "\"time_scale\": 2", "arrival.rate_per_s", "missing");
	expect_error(", \"job\": " KNN_JOB "}]", "}]", "mix[1].job", "missing");
}

/* A negative rate and a rate of 0 are both errors on the rate: nothing
 * would arrive, and the planner must not divide by the rate. */
Test(engine_plan_workload, bad_rates_are_named)
{
	expect_error("\"rate_per_s\": 100", "\"rate_per_s\": -5", "arrival.rate_per_s", "at least 0");
	expect_error("\"rate_per_s\": 100", "\"rate_per_s\": 0", "arrival.rate_per_s", "rate is 0");
	expect_error("\"rate_per_s\": 100", "\"rate_per_s\": 1e12", "arrival.rate_per_s",
		     "expected a number of at most 1e+09, got 1e+12");
}

Test(engine_plan_workload, repeated_entry_name_is_named)
{
	expect_error("\"name\": \"two\"", "\"name\": \"one\"", "mix[1].name", "also the name of mix[0]");
}

Test(engine_plan_workload, fractions_must_sum_to_one)
{
	expect_error("\"fraction\": 0.25", "\"fraction\": 0.2", "mix", "sum to 0.95");
	expect_error("\"fraction\": 0.75", "\"fraction\": 1.5", "mix[0].fraction", "from 0 to 1");
	expect_error("\"fraction\": 0.25", "\"rate_per_s\": 3", "mix[1].fraction", "as mix[0] does");
}

Test(engine_plan_workload, unknown_block_is_named)
{
	expect_error("\"block\": \"kernel\", \"params\": {\"kernel\": \"reduce\", \"inputs\": {\"x\": [1, 2, 3]}, "
		     "\"args\": {\"op\": \"mean\"}}}}]",
		     "\"block\": \"teleport\"}}]", "mix[1].job.block", "unknown block 'teleport'");
}

Test(engine_plan_workload, invalid_templates_are_named)
{
	expect_error("\"job\": {\"block\"", "\"job\": {\"id\": \"x\", \"block\"", "mix[0].job", "must not set \"id\"");
	expect_error("\"job\": {\"block\"", "\"job\": {\"timeout\": 5, \"block\"", "mix[0].job.timeout", "unknown field");
	expect_error("\"tenant\": \"b\"", "\"tenant\": \"c\"", "mix[1].tenant", "not in \"tenants\"");
}

Test(engine_plan_workload, bad_quotas_are_named)
{
	expect_error("\"max_concurrent\": 4", "\"max_concurrent\": 0", "tenants.a.max_concurrent", "integer from 1");
	expect_error("\"low\": 0.5", "\"low\": 0.4", "tenants.b.priorities", "sum to 0.9");
	expect_error("\"low\": 0.5", "\"lowest\": 0.5", "tenants.b.priorities", "unknown key 'lowest'");
	expect_error("\"target_p99_ms\": 50", "\"target_p99_ms\": 50, \"cores\": 3", "cores", "unknown key");
	expect_error("\"target_p99_ms\": 50", "\"target_p99_ms\": 50, \"calibration_spacing_ms\": 60001",
		     "calibration_spacing_ms", "60000");
}

/* Sweep the workload `text` with made-up service times, every job taking
 * `ms` on a CPU worker, and 2,000 jobs. */
static void sweep_text(bl_plan_sweep_t *sweep, const char *text, double ms, const bl_plan_limits_t *lim)
{
	bl_plan_workload_t *w = NULL;
	bl_error_t err = {0};
	cr_assert_eq(parse(text, &w, &err), 0, "parse: %s", err.message);
	bl_plan_samples_t samples[2] = {{&ms, 1}, {&ms, 1}};
	bl_plan_job_t *jobs = NULL;

	int n = bl_plan_arrivals_make(&jobs, 2000, w, samples, NULL, 0, 1, &err);
	cr_assert_eq(n, 2000, "arrivals: %s", err.message);
	int rc = bl_plan_sweep_run(sweep, w, jobs, (size_t)n, lim, &err);
	cr_assert_eq(rc, 0, "sweep: %s", err.message);

	free(jobs);
	bl_plan_workload_free(&w);
}

static void sweep_fixed(bl_plan_sweep_t *sweep, double ms, const bl_plan_limits_t *lim)
{
	sweep_text(sweep, VALID, ms, lim);
}

/* 100 jobs per second of 50 ms each need 5 workers just to keep up, so
 * with at most 4 cores every size is overloaded. The sweep simulates and
 * recommends nothing, and it returns instead of waiting for a queue that
 * never drains. */
Test(engine_plan_workload, unmet_target_recommends_nothing, .timeout = 30)
{
	bl_plan_limits_t lim = {.target_p99_ms = 50, .max_cores = 4, .max_instances = 2};
	bl_plan_sweep_t sweep;

	sweep_fixed(&sweep, 50, &lim);

	cr_assert_gt(sweep.count, 0);
	cr_assert_eq(sweep.recommended, -1, "expected no recommendation, got point %d", sweep.recommended);
	for (size_t i = 0; i < sweep.count; i++)
		cr_assert_not(sweep.points[i].simulated, "point %zu (%u workers) has offered load %.2f", i,
			      sweep.points[i].cpu_workers, sweep.points[i].offered_load);
	bl_plan_sweep_free(&sweep);
}

/* With 5 ms jobs the load fits one worker, but a 1 ms target is below
 * every job's own service time: the sweep simulates and still finds no
 * size, and its best point is reported. */
Test(engine_plan_workload, target_below_service_time_is_unmet, .timeout = 30)
{
	bl_plan_limits_t lim = {.target_p99_ms = 1, .max_cores = 3, .max_instances = 1};
	bl_plan_sweep_t sweep;

	sweep_fixed(&sweep, 5, &lim);

	cr_assert_eq(sweep.recommended, -1);
	cr_assert_geq(sweep.best, 0, "expected a best point");
	cr_assert_geq(sweep.points[sweep.best].result.p99_ms, 5, "p99 %.3f ms is below the 5 ms service time",
		      sweep.points[sweep.best].result.p99_ms);
	bl_plan_sweep_free(&sweep);
}

/* Tenant a may queue one job only, and run up to 100. On one worker (two
 * compute slots), 5 ms jobs at 100 per second often queue two of a's
 * jobs, so jobs are rejected and the size is not recommended although its
 * p99 meets the target. With eight workers (sixteen slots) none is
 * rejected, so a larger size is recommended. */
Test(engine_plan_workload, rejecting_size_is_not_recommended, .timeout = 30)
{
	char text[4096];
	const char *from = "\"max_concurrent\": 4";
	const char *at = strstr(VALID, from);
	snprintf(text, sizeof text, "%.*s\"max_concurrent\": 100, \"max_queued\": 1%s", (int)(at - VALID), VALID,
		 at + strlen(from));
	bl_plan_limits_t lim = {.target_p99_ms = 1000, .max_cores = 8, .max_instances = 1};
	bl_plan_sweep_t sweep;

	sweep_text(&sweep, text, 5, &lim);

	cr_assert_gt(sweep.points[0].result.rejected, 0, "one worker rejected no job");
	cr_assert_leq(sweep.points[0].result.p99_ms, 1000);
	cr_assert_geq(sweep.recommended, 0, "every size up to 8 workers rejects jobs");
	cr_assert_eq(sweep.points[sweep.recommended].result.rejected, 0);
	cr_assert_gt(sweep.points[sweep.recommended].cpu_workers, 1);
	bl_plan_sweep_free(&sweep);
}

/* The simulation of no jobs returns at once with nothing counted. */
Test(engine_plan_workload, no_jobs_simulate_to_nothing, .timeout = 10)
{
	bl_plan_tenant_t tenant = {.name = "a"};
	bl_quota_init(&tenant.quota);
	bl_plan_sim_config_t cfg = {.instances = 2, .cpu_workers = 1, .tenants = &tenant, .tenant_count = 1};
	bl_plan_sim_result_t r;
	bl_error_t err = {0};

	int rc = bl_plan_simulate(&r, &cfg, NULL, 0, &err);

	cr_assert_eq(rc, 0, "simulate: %s", err.message);
	cr_assert_eq(r.jobs, 0);
	cr_assert_float_eq(r.p99_ms, 0, 1e-12);
	cr_assert_float_eq(r.utilisation, 0, 1e-12);
}

/* The GPU-cluster trace, read in place from the shared data folder: its
 * 8,152 pods come out in order of arrival. Skipped where the traces are
 * not installed; they may not be copied into the project. */
Test(engine_plan_workload, openb_trace_reads_in_order, .timeout = 30)
{
	char *path = bl_plan_trace_default_path("openb-pods");
	double *times = NULL;
	bl_error_t err = {0};
	cr_assert_not_null(path);
	if (access(path, R_OK) != 0) {
		free(path);
		cr_skip_test("the Alibaba traces are not installed beside the project");
	}

	int n = bl_plan_trace_read(&times, "openb-pods", path, &err);
	free(path);

	cr_assert_eq(n, 8152, "expected 8152 pods, got %d (%s)", n, err.message);
	for (int i = 1; i < n; i++)
		cr_assert_geq(times[i], times[i - 1], "arrival %d comes before arrival %d", i, i - 1);
	free(times);
}

/* A trace that is not there is an error naming the path, with the way out. */
Test(engine_plan_workload, missing_trace_names_path)
{
	double *times = NULL;
	bl_error_t err = {0};

	int rc = bl_plan_trace_read(&times, "lora-requests", "/nonexistent/lora.csv.gz", &err);

	cr_assert_eq(rc, -ENOENT, "expected -ENOENT, got %d", rc);
	cr_assert_null(times);
	cr_assert_str_eq(err.field, "/nonexistent/lora.csv.gz");
	cr_assert_not_null(strstr(err.message, "arrival.path"), "message: %s", err.message);
}

/* Trace arrivals keep the trace's spacing times time_scale, from 0. */
Test(engine_plan_workload, trace_arrivals_are_scaled)
{
	bl_plan_workload_t *w = NULL;
	bl_error_t err = {0};
	cr_assert_eq(parse(VALID, &w, &err), 0, "parse: %s", err.message);
	w->time_scale = 0.5;
	double ms = 1, trace[] = {100, 102, 110};
	bl_plan_samples_t samples[2] = {{&ms, 1}, {&ms, 1}};
	bl_plan_job_t *jobs = NULL;

	int n = bl_plan_arrivals_make(&jobs, 10, w, samples, trace, 3, 1, &err);

	cr_assert_eq(n, 3, "expected as many jobs as arrivals, got %d", n);
	cr_assert_float_eq(jobs[0].arrival_ms, 0, 1e-9);
	cr_assert_float_eq(jobs[1].arrival_ms, 1000, 1e-9, "got %f", jobs[1].arrival_ms);
	cr_assert_float_eq(jobs[2].arrival_ms, 5000, 1e-9, "got %f", jobs[2].arrival_ms);
	free(jobs);
	bl_plan_workload_free(&w);
}

/* Write `text` gzip'd to a new temporary file; returns its path (owned). */
static char *write_gz(const char *text)
{
	char *path = strdup("/tmp/beamline-plan-trace-XXXXXX");
	cr_assert_not_null(path);
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp failed");
	gzFile gz = gzdopen(fd, "wb");
	cr_assert_not_null(gz);
	cr_assert_eq(gzputs(gz, text), (int)strlen(text));
	cr_assert_eq(gzclose(gz), Z_OK);
	return path;
}

/* A file of another shape, or one whose arrival time is not a number, is
 * an error on the file, with the line for a bad time. */
Test(engine_plan_workload, malformed_trace_is_named)
{
	char *other = write_gz("a,b,c\n1,2,3\n");
	char *nan_time = write_gz("gmt_create,predict_type\n2024-11-15 16:57:50,TXT\nsoon,TXT\n");
	double *times = NULL;
	bl_error_t err = {0}, err2 = {0};

	int rc = bl_plan_trace_read(&times, "openb-pods", other, &err);
	int rc2 = bl_plan_trace_read(&times, "lora-requests", nan_time, &err2);
	unlink(other);
	unlink(nan_time);

	cr_assert_eq(rc, BL_EFORMAT, "expected BL_EFORMAT, got %d", rc);
	cr_assert_str_eq(err.field, other);
	cr_assert_not_null(strstr(err.message, "header"), "message: %s", err.message);
	cr_assert_eq(rc2, BL_EFORMAT, "expected BL_EFORMAT, got %d", rc2);
	cr_assert_not_null(strstr(err2.message, "line 3"), "message: %s", err2.message);
	cr_assert_null(times);
	free(other);
	free(nan_time);
}
