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
	doc_figure_t *figures; /* in document order */
	const doc_figure_t **by_id; /* the same figures sorted by id, for bsearch */
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
	      "  --threshold PCT  the smallest change that can count, in percent, 0 to 999 (default 15)\n"
	      "A change counts as a regression or an improvement only when it also exceeds two\n"
	      "standard errors of the difference of the medians, from the spread of both runs, and\n"
	      "the new median lies beyond every base sample (with 4 or more, all but the one\n"
	      "furthest in that direction). A figure with fewer than 3 repetitions in either run\n"
	      "is inconclusive. Where both runs measured a peer, the ratio to the peer is judged\n"
	      "instead of the figure itself.\n"
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

/* Figures outside this range are not measurements: a subnormal base of
 * 1e-320 against a new value of 100 made the change and the noise bar
 * infinite, and an infinite bar passes every change. Within it, ratios of
 * two values and their spreads stay finite. */
#define FIGURE_MIN 1e-100
#define FIGURE_MAX 1e100
#define FIGURE_RANGE "a positive number from 1e-100 to 1e100"

static bool is_figure_number(const json_t *v)
{
	double x = json_number_value(v);
	return json_is_number(v) && x >= FIGURE_MIN && x <= FIGURE_MAX;
}

/* Whether `id` is non-empty and only letters, digits, '_', '.' and '-',
 * so that it cannot break the Markdown table it is printed into. */
static bool is_safe_id(const char *id)
{
	if (!id || !id[0])
		return false;
	for (const char *p = id; *p; p++) {
		bool letter = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
		bool digit = *p >= '0' && *p <= '9';
		if (!letter && !digit && *p != '_' && *p != '.' && *p != '-')
			return false;
	}
	return true;
}

/* Whether `text` (a unit or peer name) has no control character, '|' or
 * '`', which would break the table row or the code span around it. */
static bool is_table_text(const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '|' || *p == '`')
			return false;
	}
	return true;
}

/* Whether the document's median member is the median of its samples. The
 * run writes both from the same doubles, so only rounding may differ. */
static bool median_matches(const json_t *median, const sample_t *samples)
{
	double stated = json_number_value(median), actual = sample_median(samples);
	return fabs(stated - actual) <= 1e-9 * fmax(fabs(stated), fabs(actual));
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
		if (!is_figure_number(v)) {
			char name[64];
			snprintf(name, sizeof name, "%s[%zu]", field, i);
			return invalid(doc, index, id, name, FIGURE_RANGE, v);
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

	if (!is_safe_id(id))
		return invalid(doc, index, NULL, "id", "a non-empty string of letters, digits, '_', '.' and '-'",
			       json_object_get(fig, "id"));
	out->id = id;
	out->unit = json_string_value(json_object_get(fig, "unit"));
	out->unit = out->unit ? out->unit : "";
	if (!is_table_text(out->unit))
		return invalid(doc, index, id, "unit", "a string without control characters, '|' or '`'",
			       json_object_get(fig, "unit"));
	if (!better || (strcmp(better, "higher") != 0 && strcmp(better, "lower") != 0))
		return invalid(doc, index, id, "better", "\"higher\" or \"lower\"", json_object_get(fig, "better"));
	out->better = strcmp(better, "higher") == 0 ? BETTER_HIGHER : BETTER_LOWER;
	if (!is_figure_number(median))
		return invalid(doc, index, id, "median", FIGURE_RANGE, median);
	if (read_samples(&out->values, doc, index, id, fig, "samples") < 0)
		return -1;
	if (!median_matches(median, &out->values)) {
		char expected[96];
		snprintf(expected, sizeof expected, "the median of 'samples', %.17g", sample_median(&out->values));
		return invalid(doc, index, id, "median", expected, median);
	}
	const json_t *ratio_samples = json_object_get(fig, "ratio_samples");
	if ((!ratio || json_is_null(ratio)) && ratio_samples && !json_is_null(ratio_samples))
		return invalid(doc, index, id, "ratio", FIGURE_RANGE " when 'ratio_samples' is given", ratio);
	if (!ratio || json_is_null(ratio))
		return 0;

	if (!is_figure_number(ratio))
		return invalid(doc, index, id, "ratio", FIGURE_RANGE " or null", ratio);
	if (read_samples(&out->ratios, doc, index, id, fig, "ratio_samples") < 0)
		return -1;
	const json_t *peer = json_object_get(json_object_get(fig, "peer"), "name");
	out->peer = json_string_value(peer) ? json_string_value(peer) : "peer";
	if (!is_table_text(out->peer))
		return invalid(doc, index, id, "peer.name", "a string without control characters, '|' or '`'", peer);
	return 0;
}

static void free_doc(run_doc_t *doc)
{
	for (size_t i = 0; i < doc->count; i++) {
		sample_free(&doc->figures[i].values);
		sample_free(&doc->figures[i].ratios);
	}
	free(doc->figures);
	free(doc->by_id);
	json_decref(doc->root);
	*doc = (run_doc_t){0};
}

static int compare_ids(const void *a, const void *b)
{
	const doc_figure_t *x = *(const doc_figure_t *const *)a, *y = *(const doc_figure_t *const *)b;
	return strcmp(x->id, y->id);
}

/* Sort the figures by id into doc->by_id. Returns 0, or -1 after naming a
 * figure whose id an earlier one already has. */
static int index_figures(run_doc_t *doc, const json_t *figures)
{
	doc->by_id = calloc(doc->count ? doc->count : 1, sizeof *doc->by_id);
	if (!doc->by_id)
		abort();
	for (size_t i = 0; i < doc->count; i++)
		doc->by_id[i] = &doc->figures[i];
	qsort(doc->by_id, doc->count, sizeof *doc->by_id, compare_ids);

	for (size_t i = 1; i < doc->count; i++) {
		if (strcmp(doc->by_id[i - 1]->id, doc->by_id[i]->id) != 0)
			continue;
		/* Name the later of the two in document order. */
		const doc_figure_t *dup = doc->by_id[i - 1] > doc->by_id[i] ? doc->by_id[i - 1] : doc->by_id[i];
		size_t index = (size_t)(dup - doc->figures);
		return invalid(doc, index, dup->id, "id", "unique in the document",
			       json_object_get(json_array_get(figures, index), "id"));
	}
	return 0;
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
	}
	return index_figures(doc, figures);
}

static const doc_figure_t *find_figure(const run_doc_t *doc, const char *id)
{
	doc_figure_t key = {.id = id};
	const doc_figure_t *key_ptr = &key;
	const doc_figure_t **found = bsearch(&key_ptr, doc->by_id, doc->count, sizeof *doc->by_id, compare_ids);
	return found ? *found : NULL;
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

	char judged[96], bar[64];
	if (by_ratio)
		snprintf(judged, sizeof judged, "ratio to %s", b->peer);
	else
		snprintf(judged, sizeof judged, "value, %s", b->unit);
	if (j.verdict == VERDICT_INCONCLUSIVE)
		snprintf(bar, sizeof bar, "- (%zu and %zu reps)", sa->count, sb->count);
	else
		snprintf(bar, sizeof bar, "%.1f%%", j.bar_pct);

	const char *name = verdict_name(j.verdict);
	const char *bold = j.verdict == VERDICT_REGRESSION ? "**" : "";
	fprintf(md, "| `%s` | %s, %s better | %.4g | %.4g | %+.1f%% | %s | %s%s%s |\n", b->id, judged,
		better_name(b->better), j.base, j.current, j.change_pct, bar, bold, name, bold);
	return j.verdict;
}

static void print_table(FILE *md, const run_doc_t *base, const run_doc_t *cur, double threshold,
			unsigned counts[VERDICT_COUNT])
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
	unsigned counts[VERDICT_COUNT] = {0};

	fprintf(md, "### Benchmarks: `%.12s`%s against the baseline `%.12s`%s\n\n",
		string_at(cur->root, "source", "revision"), dirty_note(cur), string_at(base->root, "source", "revision"),
		dirty_note(base));
	fprintf(md, "Machine class `%s`, build type %s. ", string_at(cur->root, "machine", "class"),
		string_at(cur->root, NULL, "build_type"));
	fprintf(md,
		"A change counts when it exceeds the bar (%.0f%%, or two standard errors of the difference of "
		"the medians if more) and the new median lies beyond every base sample, setting aside the "
		"furthest one when the base has 4 or more. With fewer than 3 repetitions in either run a "
		"figure is inconclusive.\n\n",
		threshold);
	warn_differences(md, base, cur, to_stderr);
	print_table(md, base, cur, threshold, counts);
	fprintf(md, "\n%u regression%s, %u improvement%s, %u unchanged, %u inconclusive, %u new, %u missing.\n",
		counts[VERDICT_REGRESSION], counts[VERDICT_REGRESSION] == 1 ? "" : "s", counts[VERDICT_IMPROVEMENT],
		counts[VERDICT_IMPROVEMENT] == 1 ? "" : "s", counts[VERDICT_UNCHANGED], counts[VERDICT_INCONCLUSIVE],
		counts[VERDICT_NEW], counts[VERDICT_MISSING]);
	return counts[VERDICT_REGRESSION];
}

/* Parse a percentage in plain decimal notation, from 0 up to 999. */
static int parse_threshold(const char *text, double *out)
{
	if (text[0] == '\0' || strspn(text, "0123456789.") != strlen(text))
		return -1;
	if (parse_seconds(text, out) < 0 || *out >= 1000)
		return -1;
	return 0;
}

static int parse_options(compare_options_t *opt, int argc, char **argv)
{
	opt->threshold_pct = VERDICT_THRESHOLD_PCT;
	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
		bool option = strncmp(arg, "--", 2) == 0;
		if (option && value && strcmp(arg, "--markdown") == 0) {
			opt->markdown_path = argv[++i];
		} else if (option && value && strcmp(arg, "--threshold") == 0) {
			if (parse_threshold(value, &opt->threshold_pct) < 0) {
				fprintf(stderr,
					"beamline-bench compare: invalid --threshold '%s': expected a percentage from 0 "
					"to 999, in decimal notation\n",
					value);
				return -1;
			}
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
