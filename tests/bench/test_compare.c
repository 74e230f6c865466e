/*
 * `beamline-bench compare`: a planted 30% slowdown is a regression, and
 * two runs of the same build are not. A ratio that regressed is caught,
 * but a machine that got slower as a whole is not. Bad input is an error
 * (exit status 2) that names the file and the field. The base runs come
 * from `beamline-bench run` on the stand-in actor programs, whose run
 * times vary by up to +-5% from run to run.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "bench_tool.h"

typedef struct fixture {
	char dir[1024];
	char base[1100];
	char next[1100];
} fixture_t;

/* Run the quick actor suite on the stand-ins into `path`. */
static void mock_run(const char *dir, const char *path)
{
	char args[4096];
	snprintf(args, sizeof args, "run --suite actors --quick --reps 5 --build-dir %s --json %s", dir, path);
	tool_output_t o = tool_run("", args);
	cr_assert_eq(o.status, 0, "the base run failed (%d): %s", o.status, o.err);
	tool_output_free(&o);
}

static void setup(fixture_t *f)
{
	tool_scratch(f->dir, sizeof f->dir);
	tool_mock_build(f->dir);
	snprintf(f->base, sizeof f->base, "%s/base.json", f->dir);
	snprintf(f->next, sizeof f->next, "%s/new.json", f->dir);
	mock_run(f->dir, f->base);
}

static json_t *figure(json_t *doc, const char *id)
{
	return tool_find(json_object_get(doc, "figures"), "id", id);
}

static void scale_array(json_t *fig, const char *key, double factor)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(fig, key), i, v)
		json_real_set(v, json_number_value(v) * factor);
}

/* Multiply the members of `fig` named in `keys` (NULL-terminated), each
 * a number, by `factor`. */
static void scale_members(json_t *fig, const char *const keys[], double factor)
{
	for (size_t i = 0; keys[i]; i++) {
		json_t *v = json_object_get(fig, keys[i]);
		json_real_set(v, json_number_value(v) * factor);
	}
}

/* Make figure `id` slower by `factor` in every sample and in its ratio to
 * the unchanged peer: throughput divided, time multiplied. */
static void slow_down(json_t *doc, const char *id, double factor)
{
	json_t *fig = figure(doc, id);
	bool higher = strcmp(json_string_value(json_object_get(fig, "better")), "higher") == 0;
	double by = higher ? 1 / factor : factor;

	scale_array(fig, "samples", by);
	scale_array(fig, "ratio_samples", by);
	scale_members(fig, (const char *const[]){"median", "min", "max", "mad", "ratio", NULL}, by);
}

/* The table row of `id` on standard output. */
static const char *row(const char *out, const char *id)
{
	char cell[160];
	snprintf(cell, sizeof cell, "| `%s` |", id);
	const char *at = strstr(out, cell);
	cr_assert_not_null(at, "no row for %s in:\n%s", id, out);
	return at;
}

/* Whether the row of `id` ends in `verdict`, before the next line. */
static bool row_says(const char *out, const char *id, const char *verdict)
{
	const char *at = row(out, id);
	const char *end = strchr(at, '\n');
	const char *found = strstr(at, verdict);
	return found && (!end || found < end);
}

static tool_output_t compare(const fixture_t *f, const char *extra)
{
	char args[4096];
	snprintf(args, sizeof args, "compare %s %s %s", f->base, f->next, extra);
	return tool_run("", args);
}

/* pingpong (throughput: 23% lower) and tasks (time per task: 30% longer)
 * are flagged; the untouched figures are not. */
Test(bench_compare, planted_slowdown_is_regression, .timeout = 120)
{
	fixture_t f;
	setup(&f);
	json_t *doc = tool_load(f.base);
	slow_down(doc, "actors.pingpong", 1.3);
	slow_down(doc, "actors.tasks", 1.3);
	tool_save(doc, f.next);

	tool_output_t o = compare(&f, "");

	cr_expect_eq(o.status, 1, "exit status %d, output:\n%s", o.status, o.out);
	cr_expect(row_says(o.out, "actors.pingpong", "**regression**"), "pingpong:\n%s", o.out);
	cr_expect(row_says(o.out, "actors.tasks", "**regression**"), "tasks:\n%s", o.out);
	cr_expect(row_says(o.out, "actors.threadring", "unchanged"), "threadring:\n%s", o.out);
	cr_expect(row_says(o.out, "actors.pingpong", "ratio to caf"), "pingpong not judged by ratio:\n%s", o.out);
	json_decref(doc);
	tool_output_free(&o);
	tool_remove(f.dir);
}

/* Two runs of the same build, each with its own noise: no regression. */
Test(bench_compare, same_build_twice_is_unchanged, .timeout = 120)
{
	fixture_t f;
	setup(&f);
	mock_run(f.dir, f.next);

	tool_output_t o = compare(&f, "");

	cr_expect_eq(o.status, 0, "exit status %d, output:\n%s", o.status, o.out);
	cr_expect(strstr(o.out, "0 regressions") != NULL, "output:\n%s", o.out);
	tool_output_free(&o);
	tool_remove(f.dir);
}

/* The peer got 30% faster while BeamLine stayed put: only the ratio
 * shows it, and the ratio is what is judged. */
Test(bench_compare, ratio_only_regression_is_caught, .timeout = 120)
{
	fixture_t f;
	setup(&f);
	json_t *doc = tool_load(f.base);
	json_t *fig = figure(doc, "actors.counting");
	scale_array(fig, "ratio_samples", 1 / 1.3);
	json_real_set(json_object_get(fig, "ratio"), json_number_value(json_object_get(fig, "ratio")) / 1.3);
	tool_save(doc, f.next);

	tool_output_t o = compare(&f, "");

	cr_expect_eq(o.status, 1, "exit status %d, output:\n%s", o.status, o.out);
	cr_expect(row_says(o.out, "actors.counting", "**regression**"), "counting:\n%s", o.out);
	cr_expect(row_says(o.out, "actors.counting", "ratio to caf"), "counting:\n%s", o.out);
	json_decref(doc);
	tool_output_free(&o);
	tool_remove(f.dir);
}

/* Every absolute figure 30% slower but every ratio the same: the machine
 * was busier, BeamLine did not regress against its peers. */
Test(bench_compare, slower_machine_with_same_ratios_passes, .timeout = 120)
{
	fixture_t f;
	setup(&f);
	json_t *doc = tool_load(f.base);
	size_t i;
	json_t *fig;
	json_array_foreach(json_object_get(doc, "figures"), i, fig) {
		bool higher = strcmp(json_string_value(json_object_get(fig, "better")), "higher") == 0;
		scale_array(fig, "samples", higher ? 1 / 1.3 : 1.3);
		scale_members(fig, (const char *const[]){"median", "min", "max", "mad", NULL}, higher ? 1 / 1.3 : 1.3);
	}
	tool_save(doc, f.next);

	tool_output_t o = compare(&f, "");

	cr_expect_eq(o.status, 0, "exit status %d, output:\n%s", o.status, o.out);
	json_decref(doc);
	tool_output_free(&o);
	tool_remove(f.dir);
}

/* A figure only in the base is "missing", one only in the new run is
 * "new"; neither fails the comparison. */
Test(bench_compare, figure_in_one_document_only, .timeout = 120)
{
	fixture_t f;
	setup(&f);
	json_t *doc = tool_load(f.base);
	json_t *figures = json_object_get(doc, "figures");
	json_t *added = json_deep_copy(figure(doc, "actors.pingpong"));
	json_object_set_new(added, "id", json_string("actors.pingpong_copy"));
	json_array_remove(figures, 0);
	json_array_append_new(figures, added);
	tool_save(doc, f.next);

	tool_output_t o = compare(&f, "");

	cr_expect_eq(o.status, 0, "exit status %d, output:\n%s", o.status, o.out);
	cr_expect(row_says(o.out, "actors.pingpong", "missing"), "pingpong:\n%s", o.out);
	cr_expect(row_says(o.out, "actors.pingpong_copy", "new"), "copy:\n%s", o.out);
	json_decref(doc);
	tool_output_free(&o);
	tool_remove(f.dir);
}

/* Runs from another machine class are compared with a warning, on
 * standard error and in the Markdown written with --markdown. */
Test(bench_compare, other_machine_class_warns, .timeout = 120)
{
	fixture_t f;
	setup(&f);
	json_t *doc = tool_load(f.base);
	json_object_set_new(json_object_get(doc, "machine"), "class", json_string("other-cpu-64c-release-no-opencl"));
	tool_save(doc, f.next);
	char extra[1200], markdown[1100];
	snprintf(markdown, sizeof markdown, "%s/table.md", f.dir);
	snprintf(extra, sizeof extra, "--markdown %s", markdown);

	tool_output_t o = compare(&f, extra);
	FILE *file = fopen(markdown, "r");
	char text[8192] = "";
	if (file) {
		text[fread(text, 1, sizeof text - 1, file)] = '\0';
		fclose(file);
	}

	cr_expect_eq(o.status, 0, "exit status %d", o.status);
	cr_expect(strstr(o.err, "warning") && strstr(o.err, "machine classes"), "stderr: %s", o.err);
	cr_expect(strstr(text, "**Warning:** different machine classes") != NULL, "markdown:\n%s", text);
	cr_expect(strstr(text, "| figure | judged |") != NULL, "markdown has no table:\n%s", text);
	json_decref(doc);
	tool_output_free(&o);
	tool_remove(f.dir);
}

/* Write `text` as the new document and expect exit status 2 with an error
 * naming the file and each of `words`. */
static void expect_rejected(const fixture_t *f, const char *text, const char *const *words, size_t n)
{
	FILE *file = fopen(f->next, "w");
	cr_assert_not_null(file);
	fputs(text, file);
	fclose(file);

	tool_output_t o = compare(f, "");

	cr_expect_eq(o.status, 2, "exit status %d for %s", o.status, text);
	cr_expect(strstr(o.err, f->next) != NULL, "error does not name the file: %s", o.err);
	for (size_t i = 0; i < n; i++)
		cr_expect(strstr(o.err, words[i]) != NULL, "error lacks '%s': %s", words[i], o.err);
	tool_output_free(&o);
}

Test(bench_compare, malformed_json_is_usage_error, .timeout = 120)
{
	fixture_t f;
	setup(&f);

	expect_rejected(&f, "{\"schema_version\": 1, \"figures\": [", (const char *const[]){"not a readable JSON"}, 1);
	expect_rejected(&f, "{\"figures\": []}", (const char *const[]){"schema_version", "got nothing"}, 2);
	tool_remove(f.dir);
}

/* A median of zero, null (how a run writes NaN) or a literal NaN is an
 * error, never a pass; so is a bad sample. */
Test(bench_compare, zero_or_nan_median_is_error, .timeout = 120)
{
	fixture_t f;
	setup(&f);
	const char *head = "{\"schema_version\": 1, \"figures\": [{\"id\": \"actors.pingpong\", \"unit\": \"M/s\", "
			   "\"better\": \"higher\", ";
	char text[1024];

	snprintf(text, sizeof text, "%s\"samples\": [1.0], \"median\": 0}]}", head);
	expect_rejected(&f, text, (const char *const[]){"actors.pingpong", "'median'", "got 0"}, 3);
	snprintf(text, sizeof text, "%s\"samples\": [1.0], \"median\": null}]}", head);
	expect_rejected(&f, text, (const char *const[]){"'median'", "got null"}, 2);
	snprintf(text, sizeof text, "%s\"samples\": [1.0], \"median\": NaN}]}", head);
	expect_rejected(&f, text, (const char *const[]){"not a readable JSON"}, 1);
	snprintf(text, sizeof text, "%s\"samples\": [1.0, -2.0], \"median\": 1.0}]}", head);
	expect_rejected(&f, text, (const char *const[]){"'samples[1]'", "got -2"}, 2);
	tool_remove(f.dir);
}

Test(bench_compare, one_document_is_usage_error)
{
	tool_output_t o = tool_run("", "compare only.json");

	cr_expect_eq(o.status, 2, "exit status %d", o.status);
	cr_expect(strstr(o.err, "expected two run documents") != NULL, "stderr: %s", o.err);
	tool_output_free(&o);
}
