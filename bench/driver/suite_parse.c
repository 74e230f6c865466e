/*
 * Turning each suite's own output into figures. The programs and scripts
 * keep their formats. Each parser reads the fields that bench/README.md
 * documents for its program, and an error names the field it missed.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "suites.h"

/* The JSON objects on the lines of `output`, in order. Lines that are not
 * JSON objects, such as tables and messages, are skipped. Returns owned. */
static json_t *json_lines(const char *output)
{
	json_t *lines = json_array();

	for (const char *p = output; *p;) {
		size_t len = strcspn(p, "\n");
		json_t *obj = *p == '{' ? json_loadb(p, len, 0, NULL) : NULL;
		if (json_is_object(obj))
			json_array_append_new(lines, obj);
		else
			json_decref(obj);
		p += len + (p[len] == '\n');
	}
	return lines;
}

/* The first line object whose `key` is the string `value`, or NULL. */
static json_t *line_with(json_t *lines, const char *key, const char *value)
{
	size_t i;
	json_t *obj;
	json_array_foreach(lines, i, obj) {
		const char *s = json_string_value(json_object_get(obj, key));
		if (s && strcmp(s, value) == 0)
			return obj;
	}
	return NULL;
}

/* The number at `path` ("a.b.c") under `obj`, or NAN when absent. */
static double number_at(const json_t *obj, const char *path)
{
	char key[64];

	while (obj && *path) {
		size_t len = strcspn(path, ".");
		snprintf(key, sizeof key, "%.*s", (int)len, path);
		obj = json_object_get(obj, key);
		path += len + (path[len] == '.');
	}
	return json_is_number(obj) ? json_number_value(obj) : NAN;
}

/* The whole output as one JSON object, or NULL with the reason. Returns
 * owned (json_decref). */
static json_t *load_document(const char *output, const char *suite, char *error, size_t size)
{
	json_error_t jerr;
	json_t *doc = json_loads(output, 0, &jerr);
	if (json_is_object(doc))
		return doc;

	snprintf(error, size, "%s output is not a JSON document: %s (line %d)", suite, jerr.text, jerr.line);
	json_decref(doc);
	return NULL;
}

/* A figure name from free text: lower-case words joined by '_'. */
static void slug(char *out, size_t size, const char *text)
{
	size_t len = 0;
	bool gap = false;

	for (const char *p = text; *p && len + 2 < size; p++) {
		if (!isalnum((unsigned char)*p)) {
			gap = len > 0;
			continue;
		}
		if (gap)
			out[len++] = '_';
		gap = false;
		out[len++] = (char)tolower((unsigned char)*p);
	}
	out[len] = '\0';
}

/* Add a figure whose value must be present. Returns 0, or -1 with an
 * error that names `field`. */
static int add_required(figures_t *f, const char *suite, const char *name, const char *unit, better_t better,
			double value, const char *peer, double peer_value, const char *field, char *error, size_t size)
{
	if (isnan(value)) {
		snprintf(error, size, "%s output has no number at '%s'", suite, field);
		return -1;
	}
	if (figures_add(f, suite, name, unit, better, value, peer, peer_value) < 0) {
		snprintf(error, size, "%s figure '%s' changed its unit, direction or peer between repetitions", suite,
			 name);
		return -1;
	}
	return 0;
}

/* ---- actors: `beamline-bench actors --json -`, one document ---- */

static better_t actors_better(const json_t *row)
{
	const char *better = json_string_value(json_object_get(row, "better"));
	if (better)
		return strcmp(better, "lower") == 0 ? BETTER_LOWER : BETTER_HIGHER;
	const char *unit = json_string_value(json_object_get(row, "unit"));
	return unit && strstr(unit, "/s") ? BETTER_HIGHER : BETTER_LOWER;
}

int parse_actors(figures_t *f, const char *output, char *error, size_t size)
{
	json_error_t jerr;
	json_t *doc = json_loads(output, 0, &jerr);
	json_t *results = json_object_get(doc, "results");
	if (!json_is_array(results)) {
		snprintf(error, size, "actors output is not a document with a 'results' array: %s", jerr.text);
		json_decref(doc);
		return -1;
	}

	size_t i;
	json_t *row;
	int rc = 0;
	json_array_foreach(results, i, row) {
		const char *bench = json_string_value(json_object_get(row, "bench"));
		const char *unit = json_string_value(json_object_get(row, "unit"));
		const char *peer = json_string_value(json_object_get(row, "peer"));
		if (!bench || !unit) {
			snprintf(error, size, "actors results[%zu] has no 'bench' or 'unit'", i);
			rc = -1;
			break;
		}
		/* A side that hit the timeout gives a bound, not a measurement. */
		double ours = json_integer_value(json_object_get(row, "beamline_timed_out"))
				      ? NAN
				      : number_at(row, "beamline.median");
		char peer_path[64];
		snprintf(peer_path, sizeof peer_path, "%s.median", peer ? peer : "");
		double theirs =
			json_integer_value(json_object_get(row, "peer_timed_out")) ? NAN : number_at(row, peer_path);
		if (figures_add(f, "actors", bench, unit, actors_better(row), ours, peer, theirs) < 0) {
			snprintf(error, size, "actors figure '%s' changed between repetitions", bench);
			rc = -1;
			break;
		}
	}
	json_decref(doc);
	return rc;
}

/* ---- engine: beamline-engine-bench, one document ---- */

int parse_engine(figures_t *f, const char *output, char *error, size_t size)
{
	json_t *doc = load_document(output, "engine", error, size);
	if (!doc)
		return -1;

	size_t i;
	json_t *row;
	char name[96];
	int rc = 0;
	json_array_foreach(json_object_get(doc, "throughput"), i, row) {
		const char *label = json_string_value(json_object_get(row, "case"));
		slug(name, sizeof name, label ? label : "unnamed");
		char id[128];
		snprintf(id, sizeof id, "jobs_%s", name);
		if (rc == 0)
			rc = add_required(f, "engine", id, "jobs/s", BETTER_HIGHER, number_at(row, "jobs_per_s_median"),
					  NULL, NAN, "throughput[].jobs_per_s_median", error, size);
	}
	json_array_foreach(json_object_get(doc, "sgemm"), i, row) {
		snprintf(name, sizeof name, "sgemm_%.0f", number_at(row, "n"));
		if (rc == 0)
			rc = add_required(f, "engine", name, "GFLOP/s", BETTER_HIGHER, number_at(row, "engine_gflops"),
					  "openblas", number_at(row, "direct_gflops"), "sgemm[].engine_gflops", error,
					  size);
	}
	if (rc == 0 && f->count == 0) {
		snprintf(error, size, "engine output has neither 'throughput' nor 'sgemm' rows");
		rc = -1;
	}
	json_decref(doc);
	return rc;
}

/* ---- kernels: beamline-device-bench, one document ---- */

/* Return the triad that a memory-bound row is measured against:
 * `triad_gbps`, the triad run beside each of its runs, or for documents
 * written before that field, the section's triad. NaN when the row has
 * the field but no positive median in it. */
static double row_triad(const json_t *row, double section_triad)
{
	if (!json_object_get(row, "triad_gbps"))
		return section_triad;
	double paired = number_at(row, "triad_gbps.median");
	return paired > 0 ? paired : NAN;
}

static int parse_device_rows(figures_t *f, const json_t *doc, double triad, char *error, size_t size)
{
	size_t i;
	json_t *row;
	char name[96];
	int rc = 0;

	json_array_foreach(json_object_get(doc, "memory_bound"), i, row) {
		const char *kernel = json_string_value(json_object_get(row, "kernel"));
		double peer = row_triad(row, triad);
		snprintf(name, sizeof name, "memory_%s", kernel ? kernel : "unnamed");
		if (rc == 0 && isnan(peer)) {
			snprintf(error, size, "kernels output has no positive number at 'memory_bound[].triad_gbps.median'");
			rc = -1;
		}
		if (rc == 0)
			rc = add_required(f, "kernels", name, "GB/s", BETTER_HIGHER,
					  number_at(row, "bandwidth_gbps.median"), "triad", peer,
					  "memory_bound[].bandwidth_gbps.median", error, size);
	}
	json_array_foreach(json_object_get(doc, "kernels"), i, row) {
		const char *kernel = json_string_value(json_object_get(row, "kernel"));
		snprintf(name, sizeof name, "%s_device", kernel ? kernel : "unnamed");
		if (rc == 0)
			rc = add_required(
				f, "kernels", name, "ms", BETTER_LOWER, number_at(row, "device_wall_ms.median"), "cpu",
				number_at(row, "cpu_ms.median"), "kernels[].device_wall_ms.median", error, size);
	}
	json_array_foreach(json_object_get(doc, "sgemm"), i, row) {
		snprintf(name, sizeof name, "sgemm_%.0f", number_at(row, "n"));
		if (rc == 0)
			rc = add_required(f, "kernels", name, "GFLOP/s", BETTER_HIGHER,
					  number_at(row, "engine_gflops.median"), "clblast",
					  number_at(row, "direct_gflops.median"), "sgemm[].engine_gflops.median", error,
					  size);
	}
	return rc;
}

int parse_kernels(figures_t *f, const char *output, char *error, size_t size)
{
	json_t *doc = load_document(output, "kernels", error, size);
	if (!doc)
		return -1;

	double triad = number_at(doc, "triad.bandwidth_gbps.median");
	int rc = add_required(f, "kernels", "triad", "GB/s", BETTER_HIGHER, triad, NULL, NAN,
			      "triad.bandwidth_gbps.median", error, size);
	if (rc == 0)
		rc = parse_device_rows(f, doc, triad, error, size);
	if (rc == 0)
		rc = add_required(f, "kernels", "launch", "us", BETTER_LOWER,
				  number_at(doc, "launch.engine_per_launch_us.median"), "opencl",
				  number_at(doc, "launch.bare_per_launch_us.median"),
				  "launch.engine_per_launch_us.median", error, size);
	if (rc == 0)
		rc = add_required(f, "kernels", "noop_jobs", "jobs/s", BETTER_HIGHER,
				  number_at(doc, "launch.noop_jobs.jobs_per_s.median"), NULL, NAN,
				  "launch.noop_jobs.jobs_per_s.median", error, size);
	json_decref(doc);
	return rc;
}

/* ---- fs: bench/fs/run --json, one line per file size and operation ---- */

static void size_label(char *out, size_t size, double bytes)
{
	if (fmod(bytes, 1048576) == 0)
		snprintf(out, size, "%.0fmib", bytes / 1048576);
	else if (fmod(bytes, 1024) == 0)
		snprintf(out, size, "%.0fkib", bytes / 1024);
	else
		snprintf(out, size, "%.0fb", bytes);
}

int parse_fs(figures_t *f, const char *output, char *error, size_t size)
{
	json_t *lines = json_lines(output);
	size_t i;
	json_t *line;
	int rc = 0;

	json_array_foreach(lines, i, line) {
		const char *op = json_string_value(json_object_get(line, "op"));
		char label[32], name[64];
		size_label(label, sizeof label, number_at(line, "size"));
		snprintf(name, sizeof name, "%s_%s", op ? op : "unknown", label);
		if (rc == 0)
			rc = add_required(f, "fs", name, "MiB/s", BETTER_HIGHER, number_at(line, "beamline_mib_s"),
					  "fio", number_at(line, "fio_mib_s"), "beamline_mib_s", error, size);
	}
	if (rc == 0 && json_array_size(lines) == 0) {
		snprintf(error, size, "fs output has no JSON lines (bench/fs/run --json)");
		rc = -1;
	}
	json_decref(lines);
	return rc;
}

/* ---- http: bench/http/run, the block's line and wrk's line ---- */

int parse_http(figures_t *f, const char *output, char *error, size_t size)
{
	json_t *lines = json_lines(output);
	const json_t *block = line_with(lines, "system", "beamline-http");
	const json_t *wrk = line_with(lines, "system", "wrk");

	int rc = add_required(f, "http", "rps", "requests/s", BETTER_HIGHER, number_at(block, "rps"), "wrk",
			      number_at(wrk, "rps"), "rps of the \"system\": \"beamline-http\" line", error, size);
	json_decref(lines);
	return rc;
}

/* ---- sql: bench/sql/run, the summary line ---- */

int parse_sql(figures_t *f, const char *output, char *error, size_t size)
{
	json_t *lines = json_lines(output);
	const json_t *sum = line_with(lines, "bench", "sql_select_vs_pgbench");

	int rc = add_required(f, "sql", "block_qps", "queries/s", BETTER_HIGHER, number_at(sum, "block_qps"),
			      "pgbench -S -M extended", number_at(sum, "pgbench_extended_tps"),
			      "block_qps of the sql_select_vs_pgbench line", error, size);
	if (rc == 0)
		rc = add_required(f, "sql", "engine_run", "jobs/s", BETTER_HIGHER,
				  number_at(sum, "engine_run_jobs_per_s"), "pgbench -S",
				  number_at(sum, "pgbench_simple_tps"),
				  "engine_run_jobs_per_s of the sql_select_vs_pgbench line", error, size);
	json_decref(lines);
	return rc;
}

/* ---- nats: bench/nats/run, the summary line ---- */

int parse_nats(figures_t *f, const char *output, char *error, size_t size)
{
	json_t *lines = json_lines(output);
	const json_t *sum = line_with(lines, "bench", "nats_service");

	int rc = add_required(f, "nats", "serve", "jobs/s", BETTER_HIGHER, number_at(sum, "engine_jobs_per_s"),
			      "bare loop", number_at(sum, "bare_jobs_per_s"),
			      "engine_jobs_per_s of the nats_service line", error, size);
	if (rc == 0)
		rc = add_required(f, "nats", "execute_p50", "us", BETTER_LOWER, number_at(sum, "engine_p50_us"),
				  "bare responder", number_at(sum, "bare_p50_us"),
				  "engine_p50_us of the nats_service line", error, size);
	if (rc == 0)
		rc = add_required(f, "nats", "execute_p99", "us", BETTER_LOWER, number_at(sum, "engine_p99_us"),
				  "bare responder", number_at(sum, "bare_p99_us"),
				  "engine_p99_us of the nats_service line", error, size);
	json_decref(lines);
	return rc;
}
