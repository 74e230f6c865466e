/*
 * beamline-bench compare: judge every figure common to two run documents
 * and print a Markdown table for a CI comment.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "commands.h"
#include "verdict.h"

#define SUPPORTED_SCHEMA 1

typedef struct doc_figure {
	const char *id; /* borrowed from the document */
	const char *unit;
	const char *peer; /* NULL without a ratio */
	better_t better;
	sample_t values;
	sample_t ratios;
} doc_figure_t;

typedef struct run_doc {
	const char *path;
	json_t *root;
	doc_figure_t *figures;
	size_t count;
} run_doc_t;

typedef struct compare_options {
	const char *base_path;
	const char *new_path;
	const char *markdown_path;
	double threshold_pct;
} compare_options_t;

static void usage(FILE *to)
{
	fputs("usage: beamline-bench compare BASE.json NEW.json [--markdown FILE] [--threshold PCT]\n"
	      "  --markdown FILE  also write the Markdown table to FILE\n"
	      "  --threshold PCT  the smallest change that can count, in percent (default 15)\n"
	      "A change counts as a regression or an improvement only when it also exceeds two\n"
	      "standard errors of the difference of the medians, from the spread of both runs, and\n"
	      "the new median lies beyond every base sample. Where both runs measured a peer, the\n"
	      "ratio to the peer is judged instead of the figure itself.\n"
	      "Exit status: 0 no regression, 1 a regression, 2 usage error or unreadable input.\n",
	      to);
}

/* Print "PATH: figures[I] (ID): MESSAGE ..., got VALUE" and return -1. */
static int invalid(const run_doc_t *doc, size_t index, const char *id, const char *field, const char *expected,
		   const json_t *got)
{
	char *text = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;
	fprintf(stderr, "beamline-bench compare: %s: figures[%zu]%s%s%s: field '%s' must be %s, got %s\n", doc->path,
		index, id ? " (" : "", id ? id : "", id ? ")" : "", field, expected, text ? text : "nothing");
	free(text);
	return -1;
}

static bool is_positive_finite(const json_t *v)
{
	return json_is_number(v) && isfinite(json_number_value(v)) && json_number_value(v) > 0;
}

/* Read an array of positive finite numbers into `out`. Returns 0, or -1
 * after naming the first bad element. */
static int read_samples(sample_t *out, const run_doc_t *doc, size_t index, const char *id, const json_t *fig,
			const char *field)
{
	const json_t *array = json_object_get(fig, field);
	if (!json_is_array(array) || json_array_size(array) == 0)
		return invalid(doc, index, id, field, "a non-empty array of positive numbers", array);

	size_t i;
	json_t *v;
	json_array_foreach(array, i, v) {
		if (!is_positive_finite(v)) {
			char name[64];
			snprintf(name, sizeof name, "%s[%zu]", field, i);
			return invalid(doc, index, id, name, "a positive finite number", v);
		}
		sample_add(out, json_number_value(v));
	}
	return 0;
}

/* Check one figure of the document and fill `out`. */
static int read_figure(doc_figure_t *out, const run_doc_t *doc, size_t index, const json_t *fig)
{
	const char *id = json_string_value(json_object_get(fig, "id"));
	const char *better = json_string_value(json_object_get(fig, "better"));
	const json_t *median = json_object_get(fig, "median");
	const json_t *ratio = json_object_get(fig, "ratio");

	if (!id || !id[0])
		return invalid(doc, index, NULL, "id", "a non-empty string", json_object_get(fig, "id"));
	out->id = id;
	out->unit = json_string_value(json_object_get(fig, "unit"));
	out->unit = out->unit ? out->unit : "";
	if (!better || (strcmp(better, "higher") != 0 && strcmp(better, "lower") != 0))
		return invalid(doc, index, id, "better", "\"higher\" or \"lower\"", json_object_get(fig, "better"));
	out->better = strcmp(better, "higher") == 0 ? BETTER_HIGHER : BETTER_LOWER;
	if (!is_positive_finite(median))
		return invalid(doc, index, id, "median", "a positive finite number", median);
	if (read_samples(&out->values, doc, index, id, fig, "samples") < 0)
		return -1;
	if (!ratio || json_is_null(ratio))
		return 0;

	if (!is_positive_finite(ratio))
		return invalid(doc, index, id, "ratio", "a positive finite number or null", ratio);
	if (read_samples(&out->ratios, doc, index, id, fig, "ratio_samples") < 0)
		return -1;
	out->peer = json_string_value(json_object_get(json_object_get(fig, "peer"), "name"));
	out->peer = out->peer ? out->peer : "peer";
	return 0;
}

static void free_doc(run_doc_t *doc)
{
	for (size_t i = 0; i < doc->count; i++) {
		sample_free(&doc->figures[i].values);
		sample_free(&doc->figures[i].ratios);
	}
	free(doc->figures);
	json_decref(doc->root);
	*doc = (run_doc_t){0};
}

/* Load and check a run document. Returns 0, or -1 after printing what is
 * wrong, naming the file and the field. */
static int load_doc(run_doc_t *doc, const char *path)
{
	json_error_t error;
	*doc = (run_doc_t){.path = path};
	doc->root = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
	if (!doc->root) {
		fprintf(stderr, "beamline-bench compare: %s: not a readable JSON document: %s (line %d, column %d)\n",
			path, error.text, error.line, error.column);
		return -1;
	}

	const json_t *version = json_object_get(doc->root, "schema_version");
	if (!json_is_integer(version) || json_integer_value(version) != SUPPORTED_SCHEMA) {
		char *text = version ? json_dumps(version, JSON_ENCODE_ANY) : NULL;
		fprintf(stderr, "beamline-bench compare: %s: field 'schema_version' must be %d, got %s\n", path,
			SUPPORTED_SCHEMA, text ? text : "nothing");
		free(text);
		return -1;
	}
	const json_t *figures = json_object_get(doc->root, "figures");
	if (!json_is_array(figures)) {
		fprintf(stderr, "beamline-bench compare: %s: field 'figures' must be an array\n", path);
		return -1;
	}

	size_t n = json_array_size(figures);
	doc->figures = calloc(n ? n : 1, sizeof *doc->figures);
	if (!doc->figures)
		abort();
	for (size_t i = 0; i < n; i++) {
		doc->count = i + 1;
		if (read_figure(&doc->figures[i], doc, i, json_array_get(figures, i)) < 0)
			return -1;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(doc->figures[j].id, doc->figures[i].id) == 0)
				return invalid(doc, i, doc->figures[i].id, "id", "unique in the document",
					       json_object_get(json_array_get(figures, i), "id"));
		}
	}
	return 0;
}

static const doc_figure_t *find_figure(const run_doc_t *doc, const char *id)
{
	for (size_t i = 0; i < doc->count; i++) {
		if (strcmp(doc->figures[i].id, id) == 0)
			return &doc->figures[i];
	}
	return NULL;
}

static const char *string_at(const json_t *root, const char *object, const char *key)
{
	const json_t *parent = object ? json_object_get(root, object) : root;
	const char *s = json_string_value(json_object_get(parent, key));
	return s ? s : "unknown";
}

/* Warn when the documents are not comparable as they stand; each warning
 * goes to standard error and into the table's header. */
static void warn_differences(FILE *md, const run_doc_t *base, const run_doc_t *cur, bool to_stderr)
{
	static const struct {
		const char *object, *key, *what;
	} checks[] = {
		{"machine", "class", "machine classes"},
		{NULL, "build_type", "build types"},
	};

	for (size_t i = 0; i < sizeof checks / sizeof *checks; i++) {
		const char *a = string_at(base->root, checks[i].object, checks[i].key);
		const char *b = string_at(cur->root, checks[i].object, checks[i].key);
		if (strcmp(a, b) == 0)
			continue;
		if (to_stderr)
			fprintf(stderr,
				"beamline-bench compare: warning: the runs come from different %s (%s in %s, %s in "
				"%s); their figures are not comparable\n",
				checks[i].what, a, base->path, b, cur->path);
		fprintf(md, "> **Warning:** different %s: `%s` (base) and `%s` (new).\n\n", checks[i].what, a, b);
	}

	const json_t *qa = json_object_get(json_object_get(base->root, "settings"), "quick");
	const json_t *qb = json_object_get(json_object_get(cur->root, "settings"), "quick");
	if (json_is_boolean(qa) && json_is_boolean(qb) && json_is_true(qa) != json_is_true(qb)) {
		if (to_stderr)
			fputs("beamline-bench compare: warning: one run used --quick and the other did not; sizes "
			      "differ\n",
			      stderr);
		fputs("> **Warning:** one run used `--quick` and the other did not, so sizes differ.\n\n", md);
	}
}

/* Judge one figure present in both and print its row. */
static verdict_t compare_figure(FILE *md, const doc_figure_t *a, const doc_figure_t *b, double threshold)
{
	/* A ratio is comparable only with a ratio to the same peer. */
	bool by_ratio = a->ratios.count > 0 && b->ratios.count > 0 && strcmp(a->peer, b->peer) == 0;
	const sample_t *sa = by_ratio ? &a->ratios : &a->values;
	const sample_t *sb = by_ratio ? &b->ratios : &b->values;
	judgement_t j = verdict_judge(sa, sb, b->better, threshold);

	char judged[96];
	if (by_ratio)
		snprintf(judged, sizeof judged, "ratio to %s", b->peer);
	else
		snprintf(judged, sizeof judged, "value, %s", b->unit);
	const char *name = verdict_name(j.verdict);
	fprintf(md, "| `%s` | %s, %s better | %.4g | %.4g | %+.1f%% | %.1f%%%s | %s%s%s |\n", b->id, judged,
		better_name(b->better), j.base, j.current, j.change_pct, j.bar_pct, j.few_reps ? " (few reps)" : "",
		j.verdict == VERDICT_REGRESSION ? "**" : "", name, j.verdict == VERDICT_REGRESSION ? "**" : "");
	return j.verdict;
}

static void print_table(FILE *md, const run_doc_t *base, const run_doc_t *cur, double threshold, unsigned counts[5])
{
	fputs("| figure | judged | base | new | change | bar | verdict |\n"
	      "| --- | --- | ---: | ---: | ---: | ---: | --- |\n",
	      md);
	for (size_t i = 0; i < base->count; i++) {
		const doc_figure_t *a = &base->figures[i];
		const doc_figure_t *b = find_figure(cur, a->id);
		if (b) {
			counts[compare_figure(md, a, b, threshold)]++;
			continue;
		}
		fprintf(md, "| `%s` | value, %s | %.4g | - | - | - | missing |\n", a->id, a->unit,
			sample_median(&a->values));
		counts[VERDICT_MISSING]++;
	}
	for (size_t i = 0; i < cur->count; i++) {
		const doc_figure_t *b = &cur->figures[i];
		if (find_figure(base, b->id))
			continue;
		fprintf(md, "| `%s` | value, %s | - | %.4g | - | - | new |\n", b->id, b->unit,
			sample_median(&b->values));
		counts[VERDICT_NEW]++;
	}
}

/* " (with uncommitted changes)" when the run's tree was dirty, else "". */
static const char *dirty_note(const run_doc_t *doc)
{
	const json_t *dirty = json_object_get(json_object_get(doc->root, "source"), "dirty");
	return json_is_true(dirty) ? " (with uncommitted changes)" : "";
}

/* Write the whole report to `md`; returns the number of regressions. */
static unsigned report(FILE *md, const run_doc_t *base, const run_doc_t *cur, double threshold, bool to_stderr)
{
	unsigned counts[5] = {0};

	fprintf(md, "### Benchmarks: `%.12s`%s against the baseline `%.12s`%s\n\n",
		string_at(cur->root, "source", "revision"), dirty_note(cur), string_at(base->root, "source", "revision"),
		dirty_note(base));
	fprintf(md, "Machine class `%s`, build type %s. ", string_at(cur->root, "machine", "class"),
		string_at(cur->root, NULL, "build_type"));
	fprintf(md,
		"A change counts when it exceeds the bar (%.0f%%, or two standard errors of the difference of "
		"the medians if more) and the new median lies beyond every base sample.\n\n",
		threshold);
	warn_differences(md, base, cur, to_stderr);
	print_table(md, base, cur, threshold, counts);
	fprintf(md, "\n%u regression%s, %u improvement%s, %u unchanged, %u new, %u missing.\n",
		counts[VERDICT_REGRESSION], counts[VERDICT_REGRESSION] == 1 ? "" : "s", counts[VERDICT_IMPROVEMENT],
		counts[VERDICT_IMPROVEMENT] == 1 ? "" : "s", counts[VERDICT_UNCHANGED], counts[VERDICT_NEW],
		counts[VERDICT_MISSING]);
	return counts[VERDICT_REGRESSION];
}

static int parse_options(compare_options_t *opt, int argc, char **argv)
{
	opt->threshold_pct = VERDICT_THRESHOLD_PCT;
	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
		bool option = strncmp(arg, "--", 2) == 0;
		if (option && value && strcmp(arg, "--markdown") == 0) {
			opt->markdown_path = argv[++i];
		} else if (option && value && strcmp(arg, "--threshold") == 0 &&
			   parse_seconds(value, &opt->threshold_pct) == 0 && opt->threshold_pct < 1000) {
			i++;
		} else if (!option && !opt->base_path) {
			opt->base_path = arg;
		} else if (!option && !opt->new_path) {
			opt->new_path = arg;
		} else {
			fprintf(stderr, "beamline-bench compare: invalid argument '%s%s%s'\n", arg,
				option && value ? " " : "", option && value ? value : "");
			return -1;
		}
	}
	if (opt->base_path && opt->new_path)
		return 0;
	fputs("beamline-bench compare: expected two run documents, BASE.json and NEW.json\n", stderr);
	return -1;
}

int compare_main(int argc, char **argv)
{
	compare_options_t opt = {0};
	run_doc_t base = {0}, cur = {0};

	if (argc > 2 && strcmp(argv[2], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	if (parse_options(&opt, argc, argv) < 0) {
		usage(stderr);
		return 2;
	}
	if (load_doc(&base, opt.base_path) < 0 || load_doc(&cur, opt.new_path) < 0) {
		free_doc(&base);
		free_doc(&cur);
		return 2;
	}

	FILE *md = opt.markdown_path ? fopen(opt.markdown_path, "w") : NULL;
	if (opt.markdown_path && !md) {
		fprintf(stderr, "beamline-bench compare: cannot write --markdown %s: %s\n", opt.markdown_path,
			strerror(errno));
		free_doc(&base);
		free_doc(&cur);
		return 2;
	}
	unsigned regressions = report(stdout, &base, &cur, opt.threshold_pct, true);
	if (md) {
		report(md, &base, &cur, opt.threshold_pct, false);
		fclose(md);
	}
	free_doc(&base);
	free_doc(&cur);
	return regressions ? 1 : 0;
}
