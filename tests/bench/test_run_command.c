/*
 * `beamline-bench run`: the document it writes has every field of the
 * schema. A suite that does not fit the budget, is not built or fails is
 * recorded with the reason, and an unknown suite is a usage error. The
 * actor suite runs on stand-in programs (tests/bench/mock/savina) that
 * print a result at once, so no benchmark runs here.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "bench_tool.h"

/* The suite entry called `name` in the document, or a failed test. */
static const json_t *suite_entry(const json_t *doc, const char *name)
{
	return tool_find(json_object_get(doc, "suites"), "name", name);
}

static void expect_string(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	cr_expect(s && *s, "field '%s' is missing or empty", key);
}

/* The parts of the schema every document has, whatever ran. */
static void expect_document_header(const json_t *doc)
{
	const json_t *machine = json_object_get(doc, "machine");
	const json_t *source = json_object_get(doc, "source");
	const json_t *settings = json_object_get(doc, "settings");

	cr_expect_eq(json_integer_value(json_object_get(doc, "schema_version")), 1);
	expect_string(doc, "started_at");
	expect_string(doc, "build_type");
	expect_string(machine, "cpu_model");
	expect_string(machine, "kernel");
	expect_string(machine, "class");
	cr_expect_gt(json_integer_value(json_object_get(machine, "cores")), 0);
	cr_expect_gt(json_integer_value(json_object_get(machine, "memory_bytes")), 0);
	cr_expect(json_is_array(json_object_get(machine, "opencl")), "machine.opencl is not an array");
	expect_string(source, "revision");
	cr_expect(json_object_get(source, "dirty") != NULL, "source.dirty is missing");
	cr_expect(json_is_array(json_object_get(settings, "suites")), "settings.suites is not an array");
	cr_expect(json_is_integer(json_object_get(settings, "reps")), "settings.reps is not an integer");
	cr_expect(json_is_array(json_object_get(doc, "figures")), "figures is not an array");
}

/* Every figure: id, unit, direction, samples and the order statistics of
 * exactly those samples. */
static void expect_figure_fields(const json_t *fig)
{
	const char *id = json_string_value(json_object_get(fig, "id"));
	const json_t *samples = json_object_get(fig, "samples");
	double median = json_number_value(json_object_get(fig, "median"));
	double min = json_number_value(json_object_get(fig, "min"));
	double max = json_number_value(json_object_get(fig, "max"));

	cr_assert_not_null(id, "a figure has no id");
	cr_expect(strncmp(id, "actors.", 7) == 0, "id %s is not actors.NAME", id);
	expect_string(fig, "unit");
	const char *better = json_string_value(json_object_get(fig, "better"));
	cr_expect(better && (!strcmp(better, "higher") || !strcmp(better, "lower")), "%s: better is %s", id, better);
	cr_expect_eq(json_array_size(samples), (size_t)json_integer_value(json_object_get(fig, "reps")),
		     "%s: samples and reps differ", id);
	cr_expect(min <= median && median <= max, "%s: min %f, median %f, max %f", id, min, median, max);
	cr_expect(json_is_number(json_object_get(fig, "mad")), "%s: no mad", id);
}

/* A run on a scratch build tree of stand-ins. */
typedef struct stand_in_run {
	char dir[1024];
	tool_output_t output;
	json_t *doc;
} stand_in_run_t;

/* Run `beamline-bench run OPTIONS` with `env` on a fresh stand-in tree,
 * writing the document into it, and load the document. */
static void run_on_stand_ins(stand_in_run_t *r, const char *env, const char *options)
{
	char args[4096], path[1100];
	tool_scratch(r->dir, sizeof r->dir);
	tool_mock_build(r->dir);
	snprintf(path, sizeof path, "%s/run.json", r->dir);
	snprintf(args, sizeof args, "run %s --build-dir %s --json %s", options, r->dir, path);

	r->output = tool_run(env, args);
	r->doc = tool_load(path);
}

static void finish(stand_in_run_t *r)
{
	json_decref(r->doc);
	tool_output_free(&r->output);
	tool_remove(r->dir);
}

Test(bench_run_command, unknown_suite_is_usage_error)
{
	tool_output_t o = tool_run("", "run --suite actors,bogus");

	cr_expect_eq(o.status, 2, "exit status %d", o.status);
	cr_expect(strstr(o.err, "unknown suite 'bogus'") != NULL, "stderr: %s", o.err);
	cr_expect(strstr(o.err, "nats") != NULL, "stderr does not list the suites: %s", o.err);
	tool_output_free(&o);
}

/* A one-second budget fits no suite. The document is still complete, and
 * gives each suite's reason for not running. */
Test(bench_run_command, tiny_budget_records_every_skip)
{
	stand_in_run_t r;
	run_on_stand_ins(&r, "", "--budget 1");
	const json_t *doc = r.doc;

	cr_expect_eq(r.output.status, 0, "exit status %d, stderr: %s", r.output.status, r.output.err);
	expect_document_header(doc);
	cr_expect_eq(json_array_size(json_object_get(doc, "figures")), 0);
	cr_expect_eq(json_array_size(json_object_get(doc, "suites")), 7);
	const json_t *actors = suite_entry(doc, "actors");
	cr_expect_str_eq(json_string_value(json_object_get(actors, "status")), "skipped");
	cr_expect(strstr(json_string_value(json_object_get(actors, "reason")), "budget") != NULL, "actors reason: %s",
		  json_string_value(json_object_get(actors, "reason")));
	const json_t *engine = suite_entry(doc, "engine");
	cr_expect(strstr(json_string_value(json_object_get(engine, "reason")), "not built") != NULL,
		  "engine reason: %s", json_string_value(json_object_get(engine, "reason")));
	finish(&r);
}

/* Three repetitions of the quick actor suite on the stand-ins: every
 * figure has three samples, a peer and a ratio. */
Test(bench_run_command, actors_on_stand_ins_gives_figures, .timeout = 120)
{
	stand_in_run_t r;
	run_on_stand_ins(&r, "", "--suite actors --quick");
	const json_t *doc = r.doc;

	cr_assert_eq(r.output.status, 0, "exit status %d, stderr: %s", r.output.status, r.output.err);
	expect_document_header(doc);
	const json_t *figures = json_object_get(doc, "figures");
	cr_assert_eq(json_array_size(figures), 4, "%zu figures", json_array_size(figures));
	size_t i;
	json_t *fig;
	json_array_foreach(figures, i, fig) {
		expect_figure_fields(fig);
		cr_expect_eq(json_integer_value(json_object_get(fig, "reps")), 3);
		cr_expect(json_is_string(json_object_get(json_object_get(fig, "peer"), "name")),
			  "figure %zu has no peer", i);
		cr_expect_gt(json_number_value(json_object_get(fig, "ratio")), 0);
	}
	cr_expect_str_eq(json_string_value(json_object_get(suite_entry(doc, "actors"), "status")), "ran");
	finish(&r);
}

/* A suite whose program fails is recorded as failed with the end of its
 * standard error, the exit status is 1, and the next suite is still
 * considered. */
Test(bench_run_command, failing_suite_is_recorded, .timeout = 120)
{
	stand_in_run_t r;
	run_on_stand_ins(&r, "MOCK_FAIL=counting", "--suite actors,engine --quick");
	const json_t *doc = r.doc;

	cr_expect_eq(r.output.status, 1, "exit status %d", r.output.status);
	const json_t *actors = suite_entry(doc, "actors");
	cr_expect_str_eq(json_string_value(json_object_get(actors, "status")), "failed");
	const char *tail = json_string_value(json_object_get(actors, "stderr_tail"));
	cr_expect(tail && strstr(tail, "failed its count check on purpose"), "stderr_tail: %s", tail);
	cr_expect_str_eq(json_string_value(json_object_get(suite_entry(doc, "engine"), "status")), "skipped");
	finish(&r);
}

/* --budget 0 is rejected, and the message names the value and what
 * is expected instead of only repeating the option. */
Test(bench_run_command, zero_budget_names_expected_value)
{
	tool_output_t o = tool_run("", "run --budget 0");

	cr_expect_eq(o.status, 2, "exit status %d", o.status);
	cr_expect(strstr(o.err, "'0' for --budget") != NULL, "stderr does not name the value: %s", o.err);
	cr_expect(strstr(o.err, "greater than 0") != NULL, "stderr does not say what is expected: %s", o.err);
	tool_output_free(&o);
}

/* A --json path in a folder that does not exist is reported before any
 * suite starts, not after the whole run. */
Test(bench_run_command, unwritable_json_fails_first, .timeout = 120)
{
	char dir[1024], args[4096];
	tool_scratch(dir, sizeof dir);
	tool_mock_build(dir);
	snprintf(args, sizeof args, "run --suite actors --quick --build-dir %s --json %s/missing/run.json", dir, dir);

	tool_output_t o = tool_run("", args);

	cr_expect_eq(o.status, 2, "exit status %d", o.status);
	cr_expect(strstr(o.err, "missing/run.json") != NULL, "stderr does not name the path: %s", o.err);
	cr_expect(strstr(o.err, "repetitions") == NULL, "a suite started before the check: %s", o.err);
	tool_output_free(&o);
	tool_remove(dir);
}

/* Two repetitions give no spread, so the suite's entry warns that compare
 * will call its figures inconclusive. */
Test(bench_run_command, few_reps_warned_in_document, .timeout = 120)
{
	stand_in_run_t r;
	run_on_stand_ins(&r, "", "--suite actors --quick --reps 2");
	const json_t *actors = suite_entry(r.doc, "actors");

	cr_expect_eq(r.output.status, 0, "exit status %d, stderr: %s", r.output.status, r.output.err);
	cr_expect_eq(json_integer_value(json_object_get(actors, "reps")), 2);
	const char *warning = json_string_value(json_object_get(actors, "warning"));
	cr_expect(warning && strstr(warning, "inconclusive"), "warning: %s", warning ? warning : "(none)");
	finish(&r);
}

/* A SIGTERM sent to the run while a suite runs stops that suite: it is
 * recorded as interrupted, not as a failure with exit status 143, the
 * document is still written, and the exit status is 1. */
Test(bench_run_command, signal_records_interrupted, .timeout = 120)
{
	stand_in_run_t r;
	run_on_stand_ins(&r, "MOCK_INTERRUPT=threadring", "--suite actors --quick");
	const json_t *actors = suite_entry(r.doc, "actors");
	const char *reason = json_string_value(json_object_get(actors, "reason"));

	cr_expect_eq(r.output.status, 1, "exit status %d", r.output.status);
	cr_expect_str_eq(json_string_value(json_object_get(actors, "status")), "interrupted");
	cr_expect(reason && strstr(reason, "interrupted by a signal"), "reason: %s", reason ? reason : "(none)");
	cr_expect(!reason || !strstr(reason, "143"), "reason gives the signal's exit status: %s", reason);
	finish(&r);
}
