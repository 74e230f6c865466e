/*
 * The metrics registry on one thread: the exposition text (HELP, TYPE,
 * escaping, histogram buckets), the series cap and the checks on
 * metric descriptions.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "metrics_engine.h"
#include "metrics_text.h"

static bl_metric_t *add_metric(bl_metrics_t *r, const char *name, bl_metric_type_t type, const char *const *labels)
{
	static const double buckets[] = {0.1, 1, 10};
	bl_metric_desc_t d = {.name = name, .help = "A metric for tests.", .type = type, .labels = labels};
	bl_metric_t *m = NULL;
	bl_error_t err = {0};
	if (type == BL_METRIC_HISTOGRAM) {
		d.buckets = buckets;
		d.bucket_count = 3;
	}
	int rc = bl_metrics_register(r, &d, &m, &err);
	cr_assert_eq(rc, 0, "registering %s failed: %s", name, err.message);
	return m;
}

/* A counter renders its HELP and TYPE lines, then one line per label set
 * with the labels in the order of the description. */
Test(engine_metrics, counter_renders_help_type_and_series)
{
	static const char *const labels[] = {"tenant", "status", NULL};
	static const char *const ok[] = {"acme", "ok"};
	bl_metrics_t *r;
	cr_assert_eq(bl_metrics_new(&r), 0);
	bl_metric_t *m = add_metric(r, "jobs_total", BL_METRIC_COUNTER, labels);

	bl_metric_inc(bl_metric_series(m, ok));
	bl_metric_add(bl_metric_series(m, ok), 2);
	char *text = render(r);

	cr_assert_not_null(strstr(text, "# HELP jobs_total A metric for tests.\n# TYPE jobs_total counter\n"), "%s",
			   text);
	cr_assert_eq(sample(text, "jobs_total{tenant=\"acme\",status=\"ok\"}"), 3.0, "%s", text);
	free(text);
	bl_metrics_free(&r);
}

/* In label values, backslash, double quote and line feed are escaped; in
 * HELP text, backslash and line feed only. */
Test(engine_metrics, label_values_are_escaped)
{
	static const char *const labels[] = {"tenant", NULL};
	static const char *const odd[] = {"a\"b\\c\nd"};
	bl_metrics_t *r;
	cr_assert_eq(bl_metrics_new(&r), 0);
	bl_metric_t *m = add_metric(r, "odd_total", BL_METRIC_COUNTER, labels);

	bl_metric_inc(bl_metric_series(m, odd));
	char *text = render(r);

	cr_assert_eq(sample(text, "odd_total{tenant=\"a\\\"b\\\\c\\nd\"}"), 1.0, "%s", text);
	free(text);
	bl_metrics_free(&r);
}

/* Buckets {0.1, 1, 10}; observations 0.05, 0.5, 1 (on a bound, so in
 * le="1"), 5 and 50: cumulative counts 1, 3, 4, then +Inf and _count 5,
 * _sum 56.55. */
Test(engine_metrics, histogram_buckets_are_cumulative)
{
	static const char *const labels[] = {"block", NULL};
	static const char *const kernel[] = {"kernel"};
	static const double values[] = {0.05, 0.5, 1, 5, 50};
	bl_metrics_t *r;
	cr_assert_eq(bl_metrics_new(&r), 0);
	bl_metric_t *m = add_metric(r, "run_seconds", BL_METRIC_HISTOGRAM, labels);

	for (size_t i = 0; i < sizeof values / sizeof *values; i++)
		bl_metric_observe(bl_metric_series(m, kernel), values[i]);
	bl_metric_observe(bl_metric_series(m, kernel), NAN);
	char *text = render(r);

	cr_assert_not_null(strstr(text, "# TYPE run_seconds histogram\n"), "%s", text);
	cr_expect_eq(sample(text, "run_seconds_bucket{block=\"kernel\",le=\"0.1\"}"), 1.0, "%s", text);
	cr_expect_eq(sample(text, "run_seconds_bucket{block=\"kernel\",le=\"1\"}"), 3.0, "%s", text);
	cr_expect_eq(sample(text, "run_seconds_bucket{block=\"kernel\",le=\"10\"}"), 4.0, "%s", text);
	cr_expect_eq(sample(text, "run_seconds_bucket{block=\"kernel\",le=\"+Inf\"}"), 5.0, "%s", text);
	cr_expect_eq(sample(text, "run_seconds_count{block=\"kernel\"}"), 5.0, "%s", text);
	cr_expect_float_eq(sample(text, "run_seconds_sum{block=\"kernel\"}"), 56.55, 1e-9, "%s", text);
	free(text);
	bl_metrics_free(&r);
}

/* A metric without labels has its one series from registration, at 0. A
 * gauge goes down as well as up. A counter ignores negative and NaN adds
 * and keeps fractional ones. */
Test(engine_metrics, gauge_and_counter_values)
{
	bl_metrics_t *r;
	cr_assert_eq(bl_metrics_new(&r), 0);
	bl_metric_t *g = add_metric(r, "depth", BL_METRIC_GAUGE, NULL);
	bl_metric_t *c = add_metric(r, "work_seconds_total", BL_METRIC_COUNTER, NULL);
	char *before = render(r);

	bl_metric_set(bl_metric_series(g, NULL), 5);
	bl_metric_add(bl_metric_series(g, NULL), -7.5);
	bl_metric_add(bl_metric_series(c, NULL), 0.25);
	bl_metric_add(bl_metric_series(c, NULL), 2);
	bl_metric_add(bl_metric_series(c, NULL), -1);
	bl_metric_add(bl_metric_series(c, NULL), NAN);
	char *after = render(r);

	cr_expect_eq(sample(before, "depth"), 0.0, "%s", before);
	cr_expect_eq(sample(before, "work_seconds_total"), 0.0, "%s", before);
	cr_expect_eq(sample(after, "depth"), -2.5, "%s", after);
	cr_expect_eq(sample(after, "work_seconds_total"), 2.25, "%s", after);
	free(before);
	free(after);
	bl_metrics_free(&r);
}

/* With a cap of 3 series, tenants t0..t2 keep their own series and t3..t9
 * are counted under tenant="_other", each status apart: 7 jobs "ok" and
 * 7 "error" there, no job lost. */
Test(engine_metrics, series_cap_sends_new_tenants_to_other)
{
	static const char *const labels[] = {"tenant", "status", NULL};
	bl_metric_desc_t d = {.name = "capped_total", .help = "Capped.", .type = BL_METRIC_COUNTER, .labels = labels,
			      .max_series = 3};
	bl_metrics_t *r;
	bl_metric_t *m;
	cr_assert_eq(bl_metrics_new(&r), 0);
	cr_assert_eq(bl_metrics_register(r, &d, &m, NULL), 0);

	for (int i = 0; i < 10; i++) {
		char tenant[16];
		snprintf(tenant, sizeof tenant, "t%d", i);
		const char *ok[] = {tenant, "ok"};
		const char *error[] = {tenant, "error"};
		bl_metric_inc(bl_metric_series(m, ok));
		if (i >= 3)
			bl_metric_inc(bl_metric_series(m, error));
	}
	char *text = render(r);

	cr_expect_eq(sample(text, "capped_total{tenant=\"t0\",status=\"ok\"}"), 1.0, "%s", text);
	cr_expect_eq(sample(text, "capped_total{tenant=\"t2\",status=\"ok\"}"), 1.0, "%s", text);
	cr_expect(isnan(sample(text, "capped_total{tenant=\"t3\",status=\"ok\"}")), "t3 has a series past the cap: %s",
		  text);
	cr_expect_eq(sample(text, "capped_total{tenant=\"_other\",status=\"ok\"}"), 7.0, "%s", text);
	cr_expect_eq(sample(text, "capped_total{tenant=\"_other\",status=\"error\"}"), 7.0, "%s", text);
	cr_expect_eq(count_lines(text, "capped_total{"), 5, "%s", text);
	free(text);
	bl_metrics_free(&r);
}

/* Without a "tenant" label, label sets past the cap all go to one series
 * whose every label is "_other". */
Test(engine_metrics, series_cap_without_tenant_label)
{
	static const char *const labels[] = {"block", "pool", NULL};
	bl_metric_desc_t d = {.name = "blocks_total", .help = "Capped.", .type = BL_METRIC_COUNTER, .labels = labels,
			      .max_series = 2};
	static const char *const sets[][2] = {{"a", "cpu"}, {"b", "cpu"}, {"c", "cpu"}, {"d", "io"}, {"a", "cpu"}};
	bl_metrics_t *r;
	bl_metric_t *m;
	cr_assert_eq(bl_metrics_new(&r), 0);
	cr_assert_eq(bl_metrics_register(r, &d, &m, NULL), 0);

	for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
		bl_metric_inc(bl_metric_series(m, sets[i]));
	char *text = render(r);

	cr_expect_eq(sample(text, "blocks_total{block=\"a\",pool=\"cpu\"}"), 2.0, "%s", text);
	cr_expect_eq(sample(text, "blocks_total{block=\"b\",pool=\"cpu\"}"), 1.0, "%s", text);
	cr_expect_eq(sample(text, "blocks_total{block=\"_other\",pool=\"_other\"}"), 2.0, "%s", text);
	cr_expect_eq(count_lines(text, "blocks_total{"), 3, "%s", text);
	free(text);
	bl_metrics_free(&r);
}

/* A label value longer than BL_METRICS_VALUE_MAX is cut at a character
 * boundary: 127 ASCII bytes then a 2-byte character would straddle the
 * limit, so the stored value is the 127 bytes. Two values equal up to the
 * cut share a series. */
Test(engine_metrics, long_label_value_is_cut_whole)
{
	static const char *const labels[] = {"tenant", NULL};
	char one[200], two[200];
	memset(one, 'x', 127);
	strcpy(one + 127, "\xc3\xa9tail");
	memcpy(two, one, 130);
	strcpy(two + 129, "other");
	bl_metrics_t *r;
	cr_assert_eq(bl_metrics_new(&r), 0);
	bl_metric_t *m = add_metric(r, "cut_total", BL_METRIC_COUNTER, labels);

	const char *v1[] = {one}, *v2[] = {two};
	bl_metric_inc(bl_metric_series(m, v1));
	bl_metric_inc(bl_metric_series(m, v2));
	char *text = render(r);

	char expected[300];
	snprintf(expected, sizeof expected, "cut_total{tenant=\"%.127s\"}", one);
	cr_expect_eq(sample(text, expected), 2.0, "%s", text);
	cr_expect_eq(count_lines(text, "cut_total{"), 1, "%s", text);
	free(text);
	bl_metrics_free(&r);
}

/* Each description the exposition format or its conventions forbid is
 * rejected with an error naming the metric. */
Test(engine_metrics, bad_descriptions_are_rejected)
{
	static const char *const le[] = {"le", NULL};
	static const char *const twice[] = {"a", "a", NULL};
	static const char *const dunder[] = {"__x", NULL};
	static const char *const five[] = {"a", "b", "c", "d", "e", NULL};
	static const double unordered[] = {1, 0.5};
	static const double one[] = {1};
	const struct {
		bl_metric_desc_t d;
		int rc;
	} cases[] = {
		{{.name = "jobs", .help = "h", .type = BL_METRIC_COUNTER}, BL_EINVAL},
		{{.name = "depth_total", .help = "h", .type = BL_METRIC_GAUGE}, BL_EINVAL},
		{{.name = "9lives", .help = "h", .type = BL_METRIC_GAUGE}, BL_EINVAL},
		{{.name = "has-dash", .help = "h", .type = BL_METRIC_GAUGE}, BL_EINVAL},
		{{.name = "no_help", .help = "", .type = BL_METRIC_GAUGE}, BL_EINVAL},
		{{.name = "two_lines", .help = "a\nb", .type = BL_METRIC_GAUGE}, BL_EINVAL},
		{{.name = "h_le", .help = "h", .type = BL_METRIC_HISTOGRAM, .labels = le, .buckets = one, .bucket_count = 1},
		 BL_EINVAL},
		{{.name = "h_order", .help = "h", .type = BL_METRIC_HISTOGRAM, .buckets = unordered, .bucket_count = 2},
		 BL_EINVAL},
		{{.name = "h_none", .help = "h", .type = BL_METRIC_HISTOGRAM}, BL_EINVAL},
		{{.name = "twice", .help = "h", .type = BL_METRIC_GAUGE, .labels = twice}, BL_EINVAL},
		{{.name = "dunder", .help = "h", .type = BL_METRIC_GAUGE, .labels = dunder}, BL_EINVAL},
		{{.name = "five", .help = "h", .type = BL_METRIC_GAUGE, .labels = five}, BL_ELIMIT},
		{{.name = "taken", .help = "h", .type = BL_METRIC_GAUGE}, BL_EINVAL},
	};
	bl_metrics_t *r;
	bl_metric_t *m;
	cr_assert_eq(bl_metrics_new(&r), 0);
	bl_metric_desc_t taken = {.name = "taken", .help = "h", .type = BL_METRIC_GAUGE};
	cr_assert_eq(bl_metrics_register(r, &taken, &m, NULL), 0);

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		bl_error_t err = {0};
		int rc = bl_metrics_register(r, &cases[i].d, &m, &err);
		cr_expect_eq(rc, cases[i].rc, "%s: expected %d, got %d (%s)", cases[i].d.name, cases[i].rc, rc,
			     err.message);
		cr_expect_null(m, "%s: a rejected metric was returned", cases[i].d.name);
		cr_expect_str_eq(err.field, cases[i].d.name, "%s: the error names %s", cases[i].d.name, err.field);
	}
	bl_metrics_free(&r);
}

static void set_to_seven(void *ctx)
{
	bl_metric_set(ctx, 7);
}

/* A collector runs at every render, before the metrics are written. */
Test(engine_metrics, collector_runs_before_render)
{
	bl_metrics_t *r;
	cr_assert_eq(bl_metrics_new(&r), 0);
	bl_metric_t *g = add_metric(r, "collected", BL_METRIC_GAUGE, NULL);
	cr_assert_eq(bl_metrics_add_collector(r, set_to_seven, bl_metric_series(g, NULL), NULL), 0);

	char *text = render(r);

	cr_expect_eq(sample(text, "collected"), 7.0, "%s", text);
	free(text);
	bl_metrics_free(&r);
}

/* The engine's set counts a finished job by tenant, block and status, its
 * run time by block and pool, and the device kernel time in its result.
 * It counts a quota rejection by the quota named in admission's error. */
Test(engine_metrics, engine_set_counts_jobs_and_rejections)
{
	bl_engine_metrics_t *m;
	bl_error_t err = {0};
	cr_assert_eq(bl_engine_metrics_new(&m, &err), 0, "%s", err.message);
	json_t *result = json_pack("{s:{s:i}}", "timing_us", "device_kernel", 250000);
	bl_job_result_t r = {.id = "j1", .tenant = "acme", .status = BL_JOB_OK, .result = result, .pool = "gpu"};
	bl_error_t queued = {0};
	bl_error_set(&queued, BL_ELIMIT, "tenant", "tenant 'acme' already has 5 jobs queued, its quota max_queued is 5");

	bl_engine_metrics_job_finished(m, &r, "kernel", 1500);
	bl_engine_metrics_job_finished(m, &r, "kernel", 500);
	bl_engine_metrics_quota_rejected(m, "acme", &queued);
	bl_engine_metrics_dlq_add(m, "acme");
	bl_engine_metrics_queue(m, 4, 2);
	bl_engine_metrics_job_finished(NULL, &r, "kernel", 1);
	char *text = render(bl_engine_metrics_registry(m));

	cr_expect_eq(sample(text, "beamline_engine_jobs_finished_total{tenant=\"acme\",block=\"kernel\",status=\"ok\"}"),
		     2.0, "%s", text);
	cr_expect_eq(sample(text, "beamline_engine_job_duration_seconds_count{block=\"kernel\",pool=\"gpu\"}"), 2.0,
		     "%s", text);
	cr_expect_float_eq(sample(text, "beamline_engine_job_duration_seconds_sum{block=\"kernel\",pool=\"gpu\"}"), 2.0,
			   1e-9, "%s", text);
	cr_expect_float_eq(sample(text, "beamline_engine_gpu_kernel_seconds_total{tenant=\"acme\"}"), 0.5, 1e-9, "%s",
			   text);
	cr_expect_eq(sample(text, "beamline_engine_quota_rejections_total{tenant=\"acme\",reason=\"max_queued\"}"), 1.0,
		     "%s", text);
	cr_expect_eq(sample(text, "beamline_engine_dlq_messages_total{tenant=\"acme\"}"), 1.0, "%s", text);
	cr_expect_eq(sample(text, "beamline_engine_jobs_queued"), 4.0, "%s", text);
	cr_expect_eq(sample(text, "beamline_engine_jobs_running"), 2.0, "%s", text);
	cr_expect_gt(sample(text, "process_resident_memory_bytes"), 0.0, "%s", text);
	cr_expect_gt(sample(text, "process_open_fds"), 0.0, "%s", text);
	cr_expect_gt(sample(text, "process_start_time_seconds"), 1.6e9, "%s", text);
	free(text);
	json_decref(result);
	bl_engine_metrics_free(&m);
}

/* A registry without metrics renders as empty text, not as garbage. */
Test(engine_metrics, empty_registry_renders_empty)
{
	bl_metrics_t *r;
	cr_assert_eq(bl_metrics_new(&r), 0);

	char *text = render(r);

	cr_expect_str_eq(text, "");
	free(text);
	bl_metrics_free(&r);
}

/* Numbers are written as short as reads back exactly: 0.1 as "0.1", not
 * "0.10000000000000001"; 1/3 with all 17 digits; infinities as +Inf and
 * -Inf, the format's spelling. */
Test(engine_metrics, numbers_render_exactly)
{
	static const char *const labels[] = {"case", NULL};
	static const char *const names[] = {"tenth", "third", "up", "down"};
	const double values[] = {0.1, 1.0 / 3.0, INFINITY, -INFINITY};
	const char *expected[] = {"0.1", "0.33333333333333331", "+Inf", "-Inf"};
	bl_metrics_t *r;
	cr_assert_eq(bl_metrics_new(&r), 0);
	bl_metric_t *g = add_metric(r, "value", BL_METRIC_GAUGE, labels);

	for (int i = 0; i < 4; i++) {
		const char *v[] = {names[i]};
		bl_metric_set(bl_metric_series(g, v), values[i]);
	}
	char *text = render(r);

	for (int i = 0; i < 4; i++) {
		char line[96];
		snprintf(line, sizeof line, "value{case=\"%s\"} %s\n", names[i], expected[i]);
		cr_expect_not_null(strstr(text, line), "missing %s in:\n%s", line, text);
	}
	free(text);
	bl_metrics_free(&r);
}
