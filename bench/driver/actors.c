/*
 * The actor suite: BeamLine's Savina programs against the CAF and StarPU
 * peers, run in turns, reported as medians with their spread and the ratio.
 */
#include "actors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "machine.h"
#include "run.h"
#include "stats.h"

typedef enum metric {
	THROUGHPUT,      /* ops / elapsed_s; higher is better */
	NS_PER_OP,       /* elapsed_s * 1e9 / ops; lower is better */
	BYTES_PER_ACTOR, /* printed by the program; lower is better */
} metric_t;

typedef struct side {
	const char *system;  /* "beamline", "caf", "starpu" */
	const char *program; /* key into the program paths */
	const char *bench;   /* the program's benchmark name */
} side_t;

typedef struct comparison {
	const char *name;
	const char *unit; /* of the figure, for the table */
	metric_t metric;
	side_t ours;
	side_t peer;
	/* Either the ratio (ours better by this factor) or, when > 0, a limit
	 * on our own median (for lower-is-better figures). */
	double target_ratio;
	double target_limit;
	/* Operations per run, for the bound on a run that timed out; 0 where a
	 * timeout yields no bound (footprint). */
	double ops;
} comparison_t;

static const comparison_t comparisons[] = {
	{"pingpong", "M round trips/s", THROUGHPUT, {"beamline", "beamline", "pingpong"}, {"caf", "caf", "pingpong"}, 2.0, 0, 1e6},
	{"threadring", "M hops/s", THROUGHPUT, {"beamline", "beamline", "threadring"}, {"caf", "caf", "threadring"}, 2.0, 0, 5e6},
	{"counting", "M msgs/s", THROUGHPUT, {"beamline", "beamline", "counting"}, {"caf", "caf", "counting"}, 2.0, 0, 1e7},
	{"fjthroughput", "M msgs/s", THROUGHPUT, {"beamline", "beamline", "fjthroughput"}, {"caf", "caf", "fjthroughput"}, 2.0, 0, 1.2e7},
	{"spawn", "M actors/s", THROUGHPUT, {"beamline", "beamline", "spawn"}, {"caf", "caf", "spawn"}, 5.0, 0, 1e6},
	{"big", "M msgs/s", THROUGHPUT, {"beamline", "beamline", "big"}, {"caf", "caf", "big"}, 2.0, 0, 4e7},
	{"footprint", "bytes/actor", BYTES_PER_ACTOR, {"beamline", "beamline", "footprint"}, {"caf", "caf", "footprint"}, 0, 128, 0},
	{"tasks", "ns/task", NS_PER_OP, {"beamline", "beamline", "tasks"}, {"starpu", "starpu", "tasks"}, 0, 100, 1e6},
	/* For information: StarPU submits from its main thread, which `tasks`
	 * matches; submitting from a worker has no StarPU counterpart and so no
	 * target. */
	{"tasks_inside", "ns/task", NS_PER_OP, {"beamline", "beamline", "tasks_inside"}, {"starpu", "starpu", "tasks"}, 0, 0, 1e6},
};

static const char *program_path(const actors_options_t *opt, const char *key)
{
	if (strcmp(key, "beamline") == 0)
		return opt->beamline;
	if (strcmp(key, "caf") == 0)
		return opt->caf;
	return opt->starpu;
}

static bool selected(const actors_options_t *opt, const char *name)
{
	if (!opt->only)
		return true;

	size_t len = strlen(name);
	for (const char *p = opt->only; (p = strstr(p, name)) != NULL; p += len) {
		bool starts = p == opt->only || p[-1] == ',';
		bool ends = p[len] == '\0' || p[len] == ',';
		if (starts && ends)
			return true;
	}
	return false;
}

/* Extract the figure of `metric` from one run's JSON, or NAN. */
static double figure(const json_t *run, metric_t metric)
{
	double ops = (double)json_integer_value(json_object_get(run, "ops"));
	double elapsed = json_number_value(json_object_get(run, "elapsed_s"));

	switch (metric) {
	case THROUGHPUT:
		return elapsed > 0 ? ops / elapsed / 1e6 : NAN;
	case NS_PER_OP:
		return ops > 0 ? elapsed * 1e9 / ops : NAN;
	case BYTES_PER_ACTOR:
		return json_number_value(json_object_get(run, "bytes_per_actor"));
	}
	return NAN;
}

/*
 * The figure a run that was killed at the timeout would at least have
 * reached: its throughput was below ops / timeout, its time per operation
 * above timeout / ops.
 */
static double censored_figure(const comparison_t *c, unsigned timeout_s, double ops)
{
	if (c->metric == THROUGHPUT)
		return ops / timeout_s / 1e6;
	return (double)timeout_s * 1e9 / ops;
}

/*
 * Run one side once. Returns the figure, or NAN with the reason printed.
 * A run killed at the timeout returns its censored figure and sets
 * *censored, so a peer that is pathologically slow still yields a bound.
 */
static double run_side(const actors_options_t *opt, const comparison_t *c, const side_t *side, bool *censored)
{
	char program[4096], bench[64], threads_flag[] = "--threads", threads[16], error[512];
	snprintf(program, sizeof program, "%s", program_path(opt, side->program));
	snprintf(bench, sizeof bench, "%s", side->bench);
	snprintf(threads, sizeof threads, "%u", opt->threads);
	char *argv[] = {program, bench, threads_flag, threads, NULL};

	bool timed_out;
	json_t *run = bench_run(argv, opt->timeout_s, &timed_out, error, sizeof error);
	*censored = false;
	if (!run && timed_out && c->ops > 0) {
		*censored = true;
		fprintf(stderr, "  %-12s %-9s timed out after %u s: counted as %.4f %s (a bound)\n", c->name,
			side->system, opt->timeout_s, censored_figure(c, opt->timeout_s, c->ops), c->unit);
		return censored_figure(c, opt->timeout_s, c->ops);
	}
	if (!run) {
		fprintf(stderr, "  %s: %s\n", c->name, error);
		return NAN;
	}
	if (!json_is_true(json_object_get(run, "check"))) {
		fprintf(stderr, "  %s: %s reported a failed count check\n", c->name, side->system);
		json_decref(run);
		return NAN;
	}

	double value = figure(run, c->metric);
	json_decref(run);
	fprintf(stderr, "  %-12s %-9s %10.2f %s\n", c->name, side->system, value, c->unit);
	return value;
}

/* Ratio with "BeamLine better" above 1. */
static double ratio(metric_t metric, double ours, double peer)
{
	return metric == THROUGHPUT ? ours / peer : peer / ours;
}

typedef struct row {
	const comparison_t *c;
	sample_t ours;
	sample_t peer;
	unsigned ours_censored; /* runs that timed out and count as bounds */
	unsigned peer_censored;
	bool peer_available;
	bool failed;
} row_t;

static void measure(const actors_options_t *opt, row_t *row)
{
	const comparison_t *c = row->c;
	const char *peer_program = program_path(opt, c->peer.program);
	row->peer_available = peer_program != NULL;

	for (unsigned rep = 0; rep < opt->reps; rep++) {
		/* Alternate who goes first, so drift on a shared machine hits both. */
		bool peer_first = row->peer_available && rep % 2 == 1;
		bool ours_bound = false, peer_bound = false;
		double ours = NAN, peer = NAN;
		if (peer_first)
			peer = run_side(opt, c, &c->peer, &peer_bound);
		ours = run_side(opt, c, &c->ours, &ours_bound);
		if (row->peer_available && !peer_first)
			peer = run_side(opt, c, &c->peer, &peer_bound);
		row->ours_censored += ours_bound;
		row->peer_censored += peer_bound;

		if (isnan(ours) || (row->peer_available && isnan(peer)))
			row->failed = true;
		if (!isnan(ours))
			sample_add(&row->ours, ours);
		if (!isnan(peer))
			sample_add(&row->peer, peer);
	}
}

static bool has_target(const comparison_t *c)
{
	return c->target_limit > 0 || c->target_ratio > 0;
}

static bool meets_target(const row_t *row)
{
	const comparison_t *c = row->c;
	double ours = sample_median(&row->ours);

	if (c->target_limit > 0)
		return ours <= c->target_limit;
	if (row->peer.count == 0)
		return false;
	return ratio(c->metric, ours, sample_median(&row->peer)) >= c->target_ratio;
}

static void print_target(FILE *to, const comparison_t *c)
{
	if (c->target_limit > 0)
		fprintf(to, "<= %-5g", c->target_limit);
	else if (c->target_ratio > 0)
		fprintf(to, ">= %gx  ", c->target_ratio);
	else
		fprintf(to, "%-8s", "none");
}

/*
 * "<" or ">" before a median that is a bound rather than a measurement:
 * more than half of that side's runs timed out, so the median is one of
 * the censored figures.
 */
static const char *bound_sign(const row_t *r, bool ours)
{
	unsigned censored = ours ? r->ours_censored : r->peer_censored;
	size_t count = ours ? r->ours.count : r->peer.count;
	if (censored == 0 || censored <= count / 2)
		return "";
	return r->c->metric == THROUGHPUT ? "<" : ">";
}

static void print_table(FILE *to, const row_t *rows, size_t n)
{
	fprintf(to, "\n%-13s %-16s %-26s %-32s %-7s %-9s %s\n", "bench", "unit", "beamline median [min-max]",
	       "peer median [min-max]", "ratio", "target", "");
	for (size_t i = 0; i < n; i++) {
		const row_t *r = &rows[i];
		char ours[64], peer[64] = "not built";
		snprintf(ours, sizeof ours, "%.2f [%.2f-%.2f]", sample_median(&r->ours), sample_min(&r->ours),
			 sample_max(&r->ours));
		if (r->peer.count > 0)
			snprintf(peer, sizeof peer, "%s %s%.2f [%.2f-%.2f]", r->c->peer.system, bound_sign(r, false),
				 sample_median(&r->peer), sample_min(&r->peer), sample_max(&r->peer));

		fprintf(to, "%-13s %-16s %-26s %-32s ", r->c->name, r->c->unit, r->ours.count ? ours : "failed", peer);
		char factor[16] = "-";
		if (r->peer.count > 0 && r->ours.count > 0)
			snprintf(factor, sizeof factor, "%s%.2fx", r->peer_censored > r->peer.count / 2 ? ">" : "",
				 ratio(r->c->metric, sample_median(&r->ours), sample_median(&r->peer)));
		fprintf(to, "%-7s ", factor);
		print_target(to, r->c);
		const char *verdict = !has_target(r->c) ? "" : meets_target(r) ? "met" : "NOT MET";
		fprintf(to, " %s\n", r->ours.count == 0 ? "FAILED" : verdict);
	}
	for (size_t i = 0; i < n; i++) {
		if (rows[i].peer_censored || rows[i].ours_censored)
			fprintf(to,
				"%s: %u of %zu peer runs and %u of %zu BeamLine runs hit the timeout; a median marked\n"
				"< or > is a bound from the timeout, and so is a ratio marked >.\n",
				rows[i].c->name, rows[i].peer_censored, rows[i].peer.count, rows[i].ours_censored,
				rows[i].ours.count);
	}
}

static json_t *sample_json(const sample_t *s)
{
	json_t *values = json_array();
	for (size_t i = 0; i < s->count; i++)
		json_array_append_new(values, json_real(s->values[i]));
	return json_pack("{s:f, s:f, s:f, s:o}", "median", sample_median(s), "min", sample_min(s), "max",
			 sample_max(s), "values", values);
}

static json_t *row_json(const row_t *r)
{
	json_t *obj = json_pack("{s:s, s:s, s:s, s:s, s:o}", "bench", r->c->name, "unit", r->c->unit, "better",
				r->c->metric == THROUGHPUT ? "higher" : "lower", "peer", r->c->peer.system, "beamline",
				sample_json(&r->ours));
	if (has_target(r->c))
		json_object_set_new(obj, "target_met", json_boolean(r->ours.count > 0 && meets_target(r)));
	if (r->peer.count > 0) {
		json_object_set_new(obj, r->c->peer.system, sample_json(&r->peer));
		json_object_set_new(obj, "ratio",
				    json_real(ratio(r->c->metric, sample_median(&r->ours), sample_median(&r->peer))));
	}
	json_object_set_new(obj, "beamline_timed_out", json_integer(r->ours_censored));
	json_object_set_new(obj, "peer_timed_out", json_integer(r->peer_censored));
	if (r->c->target_limit > 0)
		json_object_set_new(obj, "target_max", json_real(r->c->target_limit));
	else if (r->c->target_ratio > 0)
		json_object_set_new(obj, "target_ratio", json_real(r->c->target_ratio));
	return obj;
}

static json_t *document(const actors_options_t *opt, const row_t *rows, size_t n)
{
	char model[256];
	struct utsname uts;
	machine_cpu_model(model, sizeof model);
	uname(&uts);

	json_t *results = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(results, row_json(&rows[i]));

	return json_pack("{s:s, s:s, s:{s:s, s:s, s:I}, s:I, s:I, s:o}", "suite", "actors", "revision",
			 opt->revision ? opt->revision : "unknown", "machine", "cpu_model", model, "kernel",
			 uts.release, "online_cpus", (json_int_t)sysconf(_SC_NPROCESSORS_ONLN), "threads", (json_int_t)opt->threads,
			 "reps", (json_int_t)opt->reps, "results", results);
}

int actors_suite(const actors_options_t *opt)
{
	size_t n = sizeof comparisons / sizeof *comparisons;
	row_t *rows = calloc(n, sizeof *rows);
	size_t used = 0;
	bool failed = false;

	for (size_t i = 0; i < n; i++) {
		if (!selected(opt, comparisons[i].name))
			continue;
		row_t *r = &rows[used++];
		r->c = &comparisons[i];
		fprintf(stderr, "%s: %u runs each\n", r->c->name, opt->reps);
		measure(opt, r);
		failed = failed || r->failed;
	}

	/* With "--json -" the document alone goes to standard output, for
	 * `beamline-bench run` to read, and the table to standard error. */
	bool json_to_stdout = opt->json_path && strcmp(opt->json_path, "-") == 0;
	print_table(json_to_stdout ? stderr : stdout, rows, used);
	json_t *doc = document(opt, rows, used);
	int rc = json_to_stdout ? json_dumpf(doc, stdout, JSON_INDENT(2))
		 : json_dump_file(doc, opt->json_path ? opt->json_path : "/dev/stdout", JSON_INDENT(2));
	if (rc == 0 && opt->json_path && !json_to_stdout)
		printf("\nJSON written to %s\n", opt->json_path);
	if (json_to_stdout)
		putchar('\n');
	json_decref(doc);

	for (size_t i = 0; i < used; i++) {
		sample_free(&rows[i].ours);
		sample_free(&rows[i].peer);
	}
	free(rows);
	return failed || rc != 0 ? 1 : 0;
}
