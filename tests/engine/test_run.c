#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "run_harness.h"

/* A growing text buffer for building jobs files. */
typedef struct text {
	char *s;
	size_t len;
} text_t;

static void add(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(text_t *t, const char *fmt, ...)
{
	va_list ap, again;
	va_start(ap, fmt);
	va_copy(again, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	t->s = realloc(t->s, t->len + (size_t)n + 1);
	vsnprintf(t->s + t->len, (size_t)n + 1, fmt, again);
	va_end(again);
	t->len += (size_t)n;
}

static const char *status_of(json_t *r)
{
	return json_string_value(json_object_get(r, "status"));
}

static const char *error_code_of(json_t *r)
{
	return json_string_value(json_object_get(json_object_get(r, "error"), "code"));
}

#define NOOP(id) "{\"id\":\"" id "\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"kernel\":\"noop\"}}\n"

/*
 * Every bad line gets an error result and the run goes on: a truncated
 * object, a non-object, a wrongly typed field, an unknown field, nesting
 * deeper than the limit of 32, and a line over the 1 MiB limit. The two
 * good jobs around them succeed; 8 lines give 8 results.
 */
Test(engine_run, bad_lines_get_error_results, .timeout = 60)
{
	harness_t h;
	harness_init(&h);
	text_t jobs = {0};
	add(&jobs, NOOP("first"));
	add(&jobs, "{\"id\":\"cut\",\"tenant\":\"t\",\"block\":\"ker\n");
	add(&jobs, "[1, 2, 3]\n");
	add(&jobs, "{\"id\":\"typed\",\"tenant\":\"t\",\"block\":\"kernel\",\"timeout_ms\":\"soon\",\"params\":{}}\n");
	add(&jobs, "{\"id\":\"typo\",\"tenant\":\"t\",\"block\":\"kernel\",\"timeout\":5,\"params\":{}}\n");
	add(&jobs, "{\"id\":\"deep\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"x\":");
	for (int i = 0; i < 100; i++)
		add(&jobs, "[");
	for (int i = 0; i < 100; i++)
		add(&jobs, "]");
	add(&jobs, "}}\n");
	add(&jobs, "{\"id\":\"huge\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"pad\":\"");
	for (int i = 0; i < (1 << 20) / 64 + 1; i++)
		add(&jobs, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	add(&jobs, "\"}}\n");
	add(&jobs, NOOP("last"));

	int rc = harness_run(&h, jobs.s);

	cr_assert_eq(rc, 0, "the run must complete, got %d", rc);
	cr_assert_eq(h.count, 8, "expected one result per line, 8, got %zu", h.count);
	cr_assert_str_eq(status_of(harness_result(&h, "first")), "ok");
	cr_assert_str_eq(status_of(harness_result(&h, "last")), "ok");
	size_t errors = 0;
	for (size_t i = 0; i < h.count; i++) {
		if (strcmp(status_of(h.results[i]), "error") == 0) {
			errors++;
			cr_assert_str_eq(error_code_of(h.results[i]), "invalid_job", "bad lines must be invalid_job");
		}
	}
	cr_assert_eq(errors, 6, "expected 6 error results, got %zu", errors);
	json_t *typed = json_object_get(harness_result(&h, "typed"), "error");
	cr_assert_str_eq(json_string_value(json_object_get(typed, "field")), "timeout_ms",
			 "the wrongly typed field must be named");
	free(jobs.s);
	harness_fini(&h);
}

/*
 * A tenant allowed 1 running and 3 queued jobs gets 20 jobs at once: the
 * jobs arrive far faster than they run (each is a k-means of 4,000 points
 * with 20 starts), so some are rejected, each naming max_queued, and every
 * job gets exactly one result.
 */
Test(engine_run, over_max_queued_is_rejected, .timeout = 120)
{
	harness_t h;
	harness_init(&h);
	harness_random_npy(&h, "points.npy", 4000, 8, 1);
	harness_quotas(&h, "{\"default\": {\"max_concurrent\": 1, \"max_queued\": 3}}");
	text_t jobs = {0};
	for (int i = 0; i < 20; i++)
		add(&jobs,
		    "{\"id\":\"j%d\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":{\"kernel\":\"kmeans\","
		    "\"inputs\":{\"x\":\"points.npy\"},\"args\":{\"k\":8,\"starts\":20}}}\n",
		    i);

	int rc = harness_run(&h, jobs.s);

	cr_assert_eq(rc, 0);
	cr_assert_eq(h.count, 20, "expected 20 results, got %zu", h.count);
	size_t ok = 0, rejected = 0;
	for (size_t i = 0; i < h.count; i++) {
		const char *s = status_of(h.results[i]);
		ok += strcmp(s, "ok") == 0;
		if (strcmp(s, "rejected") == 0) {
			rejected++;
			const char *msg = json_string_value(json_object_get(json_object_get(h.results[i], "error"), "message"));
			cr_assert(strstr(msg, "max_queued"), "a rejection must name the quota: %s", msg);
		}
	}
	cr_assert_geq(rejected, 1, "expected rejections, got none");
	cr_assert_eq(ok + rejected, 20, "ok %zu + rejected %zu must be 20", ok, rejected);
	free(jobs.s);
	harness_fini(&h);
}

/*
 * Two tenants with weights 3 and 1 submit 120 equal jobs each to one
 * worker. While both have work queued, the heavier one gets about three
 * jobs for every one of the lighter: of the first 80 results, about 60.
 */
Test(engine_run, weights_three_to_one, .timeout = 120)
{
	harness_t h;
	harness_init(&h);
	h.cfg.cpu_workers = 1;
	harness_random_npy(&h, "m.npy", 200, 16, 2);
	char tenant_b[700];
	snprintf(tenant_b, sizeof tenant_b, "cp -r '%s/t' '%s/u'", h.data, h.data);
	cr_assert_eq(system(tenant_b), 0);
	harness_quotas(&h, "{\"tenants\": {\"t\": {\"weight\": 3}, \"u\": {\"weight\": 1}}}");
	text_t jobs = {0};
	for (int i = 0; i < 120; i++) {
		for (int t = 0; t < 2; t++)
			add(&jobs,
			    "{\"id\":\"%s%d\",\"tenant\":\"%s\",\"block\":\"kernel\",\"params\":{\"kernel\":\"pairwise_l2\","
			    "\"inputs\":{\"x\":\"m.npy\"}}}\n",
			    t ? "u" : "t", i, t ? "u" : "t");
	}

	int rc = harness_run(&h, jobs.s);

	cr_assert_eq(rc, 0);
	cr_assert_eq(h.count, 240);
	int heavy = 0;
	for (size_t i = 0; i < 80; i++)
		heavy += strcmp(json_string_value(json_object_get(h.results[i], "tenant")), "t") == 0;
	cr_assert(heavy >= 54 && heavy <= 66, "the weight-3 tenant got %d of the first 80 results, expected about 60",
		  heavy);
	free(jobs.s);
	harness_fini(&h);
}

/*
 * One low job queued ahead of 200 high ones, ageing 20 ms per class, one
 * worker: without ageing it would finish last; with it, it finishes once
 * it has waited about 60 ms, long before the flood is through.
 */
Test(engine_run, low_completes_under_high_flood, .timeout = 120)
{
	harness_t h;
	harness_init(&h);
	h.cfg.cpu_workers = 1;
	h.cfg.ageing_ms = 20;
	harness_random_npy(&h, "m.npy", 300, 16, 3);
	text_t jobs = {0};
	add(&jobs, "{\"id\":\"low\",\"tenant\":\"t\",\"priority\":\"low\",\"block\":\"kernel\",\"params\":{\"kernel\":"
		   "\"pairwise_l2\",\"inputs\":{\"x\":\"m.npy\"}}}\n");
	for (int i = 0; i < 200; i++)
		add(&jobs,
		    "{\"id\":\"h%d\",\"tenant\":\"t\",\"priority\":\"high\",\"block\":\"kernel\",\"params\":{\"kernel\":"
		    "\"pairwise_l2\",\"inputs\":{\"x\":\"m.npy\"}}}\n",
		    i);

	int rc = harness_run(&h, jobs.s);

	cr_assert_eq(rc, 0);
	int position = harness_position(&h, "low");
	cr_assert_str_eq(status_of(harness_result(&h, "low")), "ok");
	cr_assert(position >= 0 && position < 150, "the low job finished at position %d of 201", position);
	free(jobs.s);
	harness_fini(&h);
}

static double seconds_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * A k-means that would run for hours (tolerance 0, a million iterations,
 * 100 starts) with a 200 ms timeout ends "timeout", its kernel stops at its
 * next cancellation check, and a job after it still runs: the whole run
 * ends within seconds.
 */
Test(engine_run, timeout_cancels_long_kernel, .timeout = 60)
{
	harness_t h;
	harness_init(&h);
	harness_random_npy(&h, "big.npy", 20000, 8, 4);
	const char *jobs =
		"{\"id\":\"long\",\"tenant\":\"t\",\"block\":\"kernel\",\"timeout_ms\":200,\"params\":{\"kernel\":\"kmeans\","
		"\"inputs\":{\"x\":\"big.npy\"},\"args\":{\"k\":50,\"max_iterations\":1000000,\"tolerance\":0,\"starts\":100}}}\n" NOOP(
			"after");
	double start = seconds_now();

	int rc = harness_run(&h, jobs);
	double elapsed = seconds_now() - start;

	cr_assert_eq(rc, 0);
	json_t *slow = harness_result(&h, "long");
	cr_assert_str_eq(status_of(slow), "timeout");
	cr_assert_str_eq(error_code_of(slow), "timeout");
	cr_assert_str_eq(status_of(harness_result(&h, "after")), "ok");
	cr_assert_lt(elapsed, 30.0, "the run took %.1f s: the timed-out kernel kept running", elapsed);
	harness_fini(&h);
}

/* A repeated id runs once; the repeat gets the same result, marked. */
Test(engine_run, duplicate_id_runs_once, .timeout = 60)
{
	harness_t h;
	harness_init(&h);

	int rc = harness_run(&h, NOOP("same") NOOP("same"));

	cr_assert_eq(rc, 0);
	cr_assert_eq(h.count, 2);
	int marked = 0;
	for (size_t i = 0; i < 2; i++) {
		cr_assert_str_eq(status_of(h.results[i]), "ok");
		marked += json_is_true(json_object_get(h.results[i], "duplicate"));
	}
	cr_assert_eq(marked, 1, "exactly one result must be marked duplicate, got %d", marked);
	harness_fini(&h);
}

/* Past the bytes of results kept for repeated ids, a repeat gets a short
 * result with the first job's status that points back to it. */
Test(engine_run, duplicate_past_budget_points_back, .timeout = 60)
{
	harness_t h;
	harness_init(&h);
	h.cfg.dedupe_bytes = 1;

	int rc = harness_run(&h, NOOP("same") NOOP("same"));

	cr_assert_eq(rc, 0);
	cr_assert_eq(h.count, 2);
	json_t *repeat = json_is_true(json_object_get(h.results[0], "duplicate")) ? h.results[0] : h.results[1];
	json_t *first = repeat == h.results[0] ? h.results[1] : h.results[0];
	cr_assert_str_eq(status_of(first), "ok");
	cr_assert_null(json_object_get(first, "duplicate"));
	cr_assert_str_eq(status_of(repeat), "ok");
	cr_assert_not_null(json_object_get(repeat, "note"), "the repeat must point back to the first result");
	cr_assert_null(json_object_get(repeat, "result"), "the repeat must not carry the first job's result");
	harness_fini(&h);
}

/* Wrong inputs end in clear errors naming the field: a missing file, a
 * path leaving the tenant's folder, an unknown kernel, a GPU job on an
 * engine without one, a required argument left out, labels that do not
 * match the rows, k above the row count, bins one over the limit, a
 * fraction or a string, an output into a missing folder. */
Test(engine_run, bad_params_name_the_field, .timeout = 60)
{
	static const struct {
		const char *id;
		const char *params;
		const char *code;
		const char *field;
	} cases[] = {
		{"missing", "{\"kernel\":\"reduce\",\"inputs\":{\"x\":\"nope.npy\"},\"args\":{\"op\":\"sum\"}}",
		 "input_not_found", "params.inputs.x"},
		{"escape", "{\"kernel\":\"reduce\",\"inputs\":{\"x\":\"../u/x.npy\"},\"args\":{\"op\":\"sum\"}}",
		 "path_outside_tenant_folder", "params.inputs.x"},
		{"unknown", "{\"kernel\":\"fft\"}", "invalid_params", "params.kernel"},
		{"gpu", "{\"kernel\":\"noop\",\"device\":\"gpu\"}", "invalid_params", "params.device"},
		{"noargs", "{\"kernel\":\"knn\",\"inputs\":{\"train_x\":[[1]],\"train_y\":[1],\"test_x\":[[1]]}}",
		 "invalid_params", "params.args.k"},
		{"labels", "{\"kernel\":\"knn\",\"inputs\":{\"train_x\":[[1],[2]],\"train_y\":[1],\"test_x\":[[1]]},"
			   "\"args\":{\"k\":1}}",
		 "invalid_params", "params.inputs.train_y"},
		{"k", "{\"kernel\":\"kmeans\",\"inputs\":{\"x\":[[1],[2]]},\"args\":{\"k\":5}}", "invalid_params",
		 "params.args.k"},
		{"bins", "{\"kernel\":\"histogram\",\"inputs\":{\"x\":[1]},\"args\":{\"bins\":10000001}}",
		 "invalid_params", "params.args.bins"},
		{"halfbins", "{\"kernel\":\"histogram\",\"inputs\":{\"x\":[1]},\"args\":{\"bins\":2.5}}",
		 "invalid_params", "params.args.bins"},
		{"textbins", "{\"kernel\":\"histogram\",\"inputs\":{\"x\":[1]},\"args\":{\"bins\":\"64\"}}",
		 "invalid_params", "params.args.bins"},
		{"nodir", "{\"kernel\":\"kmeans\",\"inputs\":{\"x\":[[1],[2]]},\"args\":{\"k\":1},"
			  "\"outputs\":{\"labels\":\"missing/l.npy\"}}",
		 "output_failed", "params.outputs.labels"},
	};
	harness_t h;
	harness_init(&h);
	text_t jobs = {0};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		add(&jobs, "{\"id\":\"%s\",\"tenant\":\"t\",\"block\":\"kernel\",\"params\":%s}\n", cases[i].id,
		    cases[i].params);

	int rc = harness_run(&h, jobs.s);

	cr_assert_eq(rc, 0);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		json_t *r = harness_result(&h, cases[i].id);
		cr_assert_not_null(r, "no result for %s", cases[i].id);
		cr_assert_str_eq(status_of(r), "error", "%s must fail", cases[i].id);
		json_t *e = json_object_get(r, "error");
		cr_assert_str_eq(json_string_value(json_object_get(e, "code")), cases[i].code, "%s: wrong code",
				 cases[i].id);
		cr_assert_str_eq(json_string_value(json_object_get(e, "field")), cases[i].field, "%s: wrong field",
				 cases[i].id);
	}
	json_t *nodir = json_object_get(harness_result(&h, "nodir"), "error");
	cr_assert(strstr(json_string_value(json_object_get(nodir, "message")), "missing/l.npy"),
		  "a failed write must name the file");
	static const struct {
		const char *id;
		const char *text;
	} messages[] = {
		{"bins", "from 1 to 10000000, got 10000001"},
		{"halfbins", "from 1 to 10000000, got 2.5"},
		{"textbins", "from 1 to 10000000, got a string"},
	};
	for (size_t i = 0; i < sizeof messages / sizeof *messages; i++) {
		json_t *e = json_object_get(harness_result(&h, messages[i].id), "error");
		const char *message = json_string_value(json_object_get(e, "message"));
		cr_assert(strstr(message, messages[i].text), "%s: the message must give the limit and the value: %s",
			  messages[i].id, message);
	}
	free(jobs.s);
	harness_fini(&h);
}
