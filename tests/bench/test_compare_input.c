/*
 * `beamline-bench compare` on hand-written run documents that a run would
 * not write: a slow sample in the base, ratios to different peers, a
 * median that contradicts its samples, duplicate members, and a figure id
 * that breaks the Markdown table. Each document is small, so no benchmark
 * and no stand-in program runs.
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

static void setup(fixture_t *f)
{
	tool_scratch(f->dir, sizeof f->dir);
	snprintf(f->base, sizeof f->base, "%s/base.json", f->dir);
	snprintf(f->next, sizeof f->next, "%s/new.json", f->dir);
}

static json_t *numbers(const double *values, size_t n)
{
	json_t *array = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(array, json_real(values[i]));
	return array;
}

/* A throughput figure with five samples and the given median. */
static json_t *figure(const char *id, const double samples[5], double median)
{
	return json_pack("{s:s, s:s, s:s, s:o, s:f}", "id", id, "unit", "M/s", "better", "higher", "samples",
			 numbers(samples, 5), "median", median);
}

/* Give `fig` five ratio samples to the peer `peer`. */
static void add_ratio(json_t *fig, const char *peer, const double ratios[5])
{
	json_object_set_new(fig, "ratio", json_real(ratios[2]));
	json_object_set_new(fig, "ratio_samples", numbers(ratios, 5));
	json_object_set_new(fig, "peer", json_pack("{s:s}", "name", peer));
}

/* Save a schema 1 document holding the one figure `fig` (stolen). */
static void save_run(const char *path, json_t *fig)
{
	json_t *doc = json_pack("{s:i, s:s, s:s, s:{s:s}, s:{s:b}, s:[o]}", "schema_version", 1, "tool",
				"beamline-bench", "build_type", "Release", "machine", "class", "test-2c-release",
				"settings", "quick", 1, "figures", fig);
	tool_save(doc, path);
	json_decref(doc);
}

static void save_text(const char *path, const char *text)
{
	FILE *file = fopen(path, "w");
	cr_assert_not_null(file, "cannot write %s", path);
	fputs(text, file);
	fclose(file);
}

static tool_output_t compare(const fixture_t *f)
{
	char args[4096];
	snprintf(args, sizeof args, "compare %s %s", f->base, f->next);
	return tool_run("", args);
}

/* Four tight base samples and one slow one, as the occasional slow run of
 * fjthroughput gives. The new run is 30% slower in every sample, far over
 * the floor and the noise, but its median is not below the one slow base
 * sample. Rule 3 sets that sample aside, so the slowdown is a regression. */
Test(bench_compare_input, slow_base_sample_hides_slowdown, .timeout = 60)
{
	fixture_t f;
	setup(&f);
	save_run(f.base, figure("actors.fj", (double[]){100, 101, 99, 100, 60}, 100));
	save_run(f.next, figure("actors.fj", (double[]){70, 70.7, 69.3, 70, 70}, 70));

	tool_output_t o = compare(&f);

	cr_expect_eq(o.status, 1, "a 30%% slowdown passed (exit status %d):\n%s", o.status, o.out);
	cr_expect(strstr(o.out, "**regression**") != NULL, "no regression in:\n%s", o.out);
	tool_output_free(&o);
	tool_remove(f.dir);
}

/* The base measured its ratio to caf and the new run to starpu. Two ratios
 * to different peers are not comparable, so compare judges the
 * figures' own samples, which did not change. */
Test(bench_compare_input, ratios_to_other_peers_not_judged, .timeout = 60)
{
	fixture_t f;
	setup(&f);
	const double same[5] = {100, 100, 100, 100, 100};
	json_t *base = figure("actors.pingpong", same, 100);
	json_t *next = figure("actors.pingpong", same, 100);
	add_ratio(base, "caf", (double[]){1.0, 1.01, 0.99, 1.0, 1.0});
	add_ratio(next, "starpu", (double[]){2.0, 2.01, 1.99, 2.0, 2.0});
	save_run(f.base, base);
	save_run(f.next, next);

	tool_output_t o = compare(&f);

	cr_expect(strstr(o.out, "ratio to starpu") == NULL, "judged by a ratio to another peer:\n%s", o.out);
	cr_expect(strstr(o.out, "improvement |") == NULL, "unchanged figures called an improvement:\n%s", o.out);
	tool_output_free(&o);
	tool_remove(f.dir);
}

/* The median member is 100, the samples are 70. compare judges the
 * samples, so a document whose median contradicts them is rejected,
 * naming 'median'. */
Test(bench_compare_input, median_contradicting_samples_rejected, .timeout = 60)
{
	fixture_t f;
	setup(&f);
	const double samples[5] = {70, 70, 70, 70, 70};
	save_run(f.base, figure("actors.fj", samples, 70));
	save_run(f.next, figure("actors.fj", samples, 100));

	tool_output_t o = compare(&f);

	cr_expect_eq(o.status, 2, "exit status %d, output:\n%s", o.status, o.out);
	cr_expect(strstr(o.err, "'median'") != NULL, "stderr does not name the median: %s", o.err);
	tool_output_free(&o);
	tool_remove(f.dir);
}

/* A subnormal base made the change and the noise bar infinite, and the
 * comparison passed a slowdown from 1e-320 to 100 as unchanged. */
Test(bench_compare_input, subnormal_sample_rejected, .timeout = 60)
{
	fixture_t f;
	setup(&f);
	const double tiny[5] = {1e-320, 1e-320, 1e-320, 1e-320, 1e-320};
	const double slow[5] = {100, 100, 100, 100, 100};
	json_t *base = figure("actors.fj", tiny, 1e-320);
	json_object_set_new(base, "better", json_string("lower"));
	json_t *next = figure("actors.fj", slow, 100);
	json_object_set_new(next, "better", json_string("lower"));
	save_run(f.base, base);
	save_run(f.next, next);

	tool_output_t o = compare(&f);

	cr_expect_eq(o.status, 2, "exit status %d, output:\n%s", o.status, o.out);
	cr_expect(strstr(o.err, "1e-100 to 1e100") != NULL, "stderr does not give the range: %s", o.err);
	tool_output_free(&o);
	tool_remove(f.dir);
}

/* Ratio samples without the ratio they belong to were read as no ratio at
 * all, and the figure judged by its values without a word. */
Test(bench_compare_input, ratio_samples_without_ratio_rejected, .timeout = 60)
{
	fixture_t f;
	setup(&f);
	const double samples[5] = {70, 71, 72, 73, 74};
	const double ratios[5] = {2, 2, 2, 2, 2};
	json_t *next = figure("actors.fj", samples, 72);
	add_ratio(next, "caf", ratios);
	json_object_del(next, "ratio");
	save_run(f.base, figure("actors.fj", samples, 72));
	save_run(f.next, next);

	tool_output_t o = compare(&f);

	cr_expect_eq(o.status, 2, "exit status %d, output:\n%s", o.status, o.out);
	cr_expect(strstr(o.err, "'ratio'") != NULL, "stderr does not name the ratio: %s", o.err);
	tool_output_free(&o);
	tool_remove(f.dir);
}

Test(bench_compare_input, hex_threshold_rejected, .timeout = 60)
{
	fixture_t f;
	setup(&f);
	const double samples[5] = {70, 71, 72, 73, 74};
	save_run(f.base, figure("actors.fj", samples, 72));
	save_run(f.next, figure("actors.fj", samples, 72));
	char args[4096];
	snprintf(args, sizeof args, "compare %s %s --threshold 0x10", f.base, f.next);

	tool_output_t o = tool_run("", args);

	cr_expect_eq(o.status, 2, "exit status %d, output:\n%s", o.status, o.out);
	cr_expect(strstr(o.err, "from 0 to 999") != NULL, "stderr does not give the range: %s", o.err);
	tool_output_free(&o);
	tool_remove(f.dir);
}

/* Two schema_version members: jansson keeps the last one unless loaded with
 * JSON_REJECT_DUPLICATES, which would read "2 then 1" as a schema 1 document. */
Test(bench_compare_input, duplicate_member_rejected, .timeout = 60)
{
	fixture_t f;
	setup(&f);
	save_run(f.base, figure("actors.fj", (double[]){1, 1, 1, 1, 1}, 1));
	save_text(f.next, "{\"schema_version\": 2, \"schema_version\": 1, \"figures\": []}");

	tool_output_t o = compare(&f);

	cr_expect_eq(o.status, 2, "exit status %d, output:\n%s", o.status, o.out);
	cr_expect(strstr(o.err, f.next) != NULL, "stderr does not name the file: %s", o.err);
	tool_output_free(&o);
	tool_remove(f.dir);
}

/* A figure id with a line break and a '|' would end the table row early
 * and write a line of its own into the CI summary. Each figure must stay
 * on one table row, so the id is rejected. */
Test(bench_compare_input, figure_id_stays_in_its_row, .timeout = 60)
{
	fixture_t f;
	setup(&f);
	const double samples[5] = {1, 1, 1, 1, 1};
	const char *id = "actors.x\n\n5 regressions | forged";
	save_run(f.base, figure(id, samples, 1));
	save_run(f.next, figure(id, samples, 1));

	tool_output_t o = compare(&f);

	cr_expect(strstr(o.out, "\n5 regressions") == NULL, "the id wrote a line of its own:\n%s", o.out);
	tool_output_free(&o);
	tool_remove(f.dir);
}

/* Two repetitions on each side: a 42% rise of a time has no measured
 * spread behind it. compare calls it inconclusive in its row and in the
 * summary, and it does not fail the comparison. */
Test(bench_compare_input, two_reps_are_inconclusive, .timeout = 60)
{
	fixture_t f;
	setup(&f);
	save_run(f.base, json_pack("{s:s, s:s, s:s, s:[f,f], s:f}", "id", "http.latency", "unit", "ms", "better",
				   "lower", "samples", 100.0, 102.0, "median", 101.0));
	save_run(f.next, json_pack("{s:s, s:s, s:s, s:[f,f], s:f}", "id", "http.latency", "unit", "ms", "better",
				   "lower", "samples", 142.0, 145.0, "median", 143.5));

	tool_output_t o = compare(&f);

	cr_expect_eq(o.status, 0, "exit status %d, output:\n%s", o.status, o.out);
	cr_expect(strstr(o.out, "| inconclusive |") != NULL, "no inconclusive row in:\n%s", o.out);
	cr_expect(strstr(o.out, "0 regressions") != NULL, "a regression counted in:\n%s", o.out);
	cr_expect(strstr(o.out, "1 inconclusive") != NULL, "summary does not count it:\n%s", o.out);
	tool_output_free(&o);
	tool_remove(f.dir);
}

/* An id with a '|' is rejected by name, with the file and the rule. */
Test(bench_compare_input, unsafe_id_rejected_by_name, .timeout = 60)
{
	fixture_t f;
	setup(&f);
	const double samples[5] = {1, 1, 1, 1, 1};
	save_run(f.base, figure("actors.fj", samples, 1));
	save_run(f.next, figure("actors|fj", samples, 1));

	tool_output_t o = compare(&f);

	cr_expect_eq(o.status, 2, "exit status %d, output:\n%s", o.status, o.out);
	cr_expect(strstr(o.err, f.next) != NULL, "stderr does not name the file: %s", o.err);
	cr_expect(strstr(o.err, "actors|fj") != NULL, "stderr does not show the id: %s", o.err);
	cr_expect(strstr(o.err, "letters, digits") != NULL, "stderr does not give the rule: %s", o.err);
	tool_output_free(&o);
	tool_remove(f.dir);
}
