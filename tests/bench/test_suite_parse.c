/*
 * Each suite's output, as its program or script prints it, becomes the
 * figures of the run document: ids, units, directions, peers and ratios.
 * A missing field is an error that names it, never a figure of zero.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "suites.h"

static const figure_t *figure(const figures_t *f, const char *id)
{
	for (size_t i = 0; i < f->count; i++) {
		if (strcmp(f->items[i].id, id) == 0)
			return &f->items[i];
	}
	cr_assert_fail("figure %s not found among %zu figures", id, f->count);
	return NULL;
}

/* Check a figure's one value, its peer and its ratio. */
static void expect_figure(const figures_t *f, const char *id, const char *unit, better_t better, double value,
			  const char *peer, double peer_value)
{
	const figure_t *fig = figure(f, id);

	cr_expect_str_eq(fig->unit, unit, "%s: unit %s", id, fig->unit);
	cr_expect_eq(fig->better, better, "%s: direction %s", id, better_name(fig->better));
	cr_assert_eq(fig->values.count, 1, "%s: %zu values", id, fig->values.count);
	cr_expect_float_eq(fig->values.values[0], value, 1e-9, "%s: value %f", id, fig->values.values[0]);
	if (!peer) {
		cr_expect_eq(fig->peer_values.count, 0, "%s: has a peer %s", id, fig->peer);
		return;
	}
	cr_expect_str_eq(fig->peer, peer, "%s: peer %s", id, fig->peer);
	cr_assert_eq(fig->ratios.count, 1, "%s: %zu ratios", id, fig->ratios.count);
	cr_expect_float_eq(fig->ratios.values[0], value / peer_value, 1e-9, "%s: ratio %f", id, fig->ratios.values[0]);
}

/* The shape of `beamline-bench actors --json -`; spawn's peer hit the
 * timeout, so its bound must not become a ratio. */
Test(bench_suite_parse, actors_document)
{
	const char *output =
		"{\"suite\": \"actors\", \"results\": ["
		"{\"bench\": \"pingpong\", \"unit\": \"M round trips/s\", \"better\": \"higher\", \"peer\": \"caf\","
		" \"beamline\": {\"median\": 8.0}, \"caf\": {\"median\": 1.6}, \"beamline_timed_out\": 0,"
		" \"peer_timed_out\": 0},"
		"{\"bench\": \"spawn\", \"unit\": \"M actors/s\", \"better\": \"higher\", \"peer\": \"caf\","
		" \"beamline\": {\"median\": 4.4}, \"caf\": {\"median\": 0.0083}, \"beamline_timed_out\": 0,"
		" \"peer_timed_out\": 1},"
		"{\"bench\": \"tasks\", \"unit\": \"ns/task\", \"better\": \"lower\", \"peer\": \"starpu\","
		" \"beamline\": {\"median\": 64.0}, \"starpu\": {\"median\": 2400.0}, \"beamline_timed_out\": 0,"
		" \"peer_timed_out\": 0}]}\n";
	figures_t f = {0};
	char error[256] = "";

	int rc = parse_actors(&f, output, error, sizeof error);

	cr_assert_eq(rc, 0, "error: %s", error);
	expect_figure(&f, "actors.pingpong", "M round trips/s", BETTER_HIGHER, 8.0, "caf", 1.6);
	expect_figure(&f, "actors.tasks", "ns/task", BETTER_LOWER, 64.0, "starpu", 2400.0);
	cr_expect_eq(figure(&f, "actors.spawn")->ratios.count, 0, "a timed-out peer gave a ratio");
	figures_free(&f);
}

/* beamline-engine-bench prints one indented document. */
Test(bench_suite_parse, engine_document)
{
	const char *output =
		"{\n  \"suite\": \"engine\",\n  \"reps\": 1,\n  \"throughput\": [\n"
		"    {\"case\": \"map relu, 64 elements\", \"jobs\": 2000, \"jobs_per_s_median\": 41000.0,"
		" \"min\": 41000.0, \"max\": 41000.0}\n  ],\n"
		"  \"sgemm\": [{\"n\": 256, \"direct_gflops\": 120.0, \"engine_gflops\": 96.0, \"ratio\": 0.8,"
		" \"engine_job_ms\": 0.4, \"target_met\": true}]\n}\n";
	figures_t f = {0};
	char error[256] = "";

	int rc = parse_engine(&f, output, error, sizeof error);

	cr_assert_eq(rc, 0, "error: %s", error);
	expect_figure(&f, "engine.jobs_map_relu_64_elements", "jobs/s", BETTER_HIGHER, 41000.0, NULL, 0);
	expect_figure(&f, "engine.sgemm_256", "GFLOP/s", BETTER_HIGHER, 96.0, "openblas", 120.0);
	figures_free(&f);
}

/* The device bench's sections, each timed figure as {median, min, max}. A
 * memory-bound kernel's peer is the triad run beside it (triad_gbps) where
 * the row has one, else the section's triad. */
Test(bench_suite_parse, device_document)
{
	const char *output = "{\"suite\": \"device\", \"triad\": {\"bandwidth_gbps\": {\"median\": 20.0}},"
			     " \"memory_bound\": [{\"kernel\": \"softmax\", \"bandwidth_gbps\": {\"median\": 15.0}},"
			     " {\"kernel\": \"histogram\", \"bandwidth_gbps\": {\"median\": 6.0},"
			     " \"triad_gbps\": {\"median\": 30.0}}],"
			     " \"kernels\": [{\"kernel\": \"knn\", \"cpu_ms\": {\"median\": 9.0}, \"device_wall_ms\": "
			     "{\"median\": 3.0}}],"
			     " \"sgemm\": [{\"n\": 1024, \"direct_gflops\": {\"median\": 50.0}, \"engine_gflops\": "
			     "{\"median\": 47.5}}],"
			     " \"launch\": {\"bare_per_launch_us\": {\"median\": 10.0}, \"engine_per_launch_us\": "
			     "{\"median\": 12.0},"
			     " \"noop_jobs\": {\"jobs_per_run\": 200, \"jobs_per_s\": {\"median\": 900.0}}}}\n";
	figures_t f = {0};
	char error[256] = "";

	int rc = parse_kernels(&f, output, error, sizeof error);

	cr_assert_eq(rc, 0, "error: %s", error);
	expect_figure(&f, "kernels.triad", "GB/s", BETTER_HIGHER, 20.0, NULL, 0);
	expect_figure(&f, "kernels.memory_softmax", "GB/s", BETTER_HIGHER, 15.0, "triad", 20.0);
	expect_figure(&f, "kernels.memory_histogram", "GB/s", BETTER_HIGHER, 6.0, "triad", 30.0);
	expect_figure(&f, "kernels.knn_device", "ms", BETTER_LOWER, 3.0, "cpu", 9.0);
	expect_figure(&f, "kernels.sgemm_1024", "GFLOP/s", BETTER_HIGHER, 47.5, "clblast", 50.0);
	expect_figure(&f, "kernels.launch", "us", BETTER_LOWER, 12.0, "opencl", 10.0);
	expect_figure(&f, "kernels.noop_jobs", "jobs/s", BETTER_HIGHER, 900.0, NULL, 0);
	figures_free(&f);
}

/* A memory-bound row whose paired triad is there but not a positive number
 * is an error, not a fall back to the section's triad. */
Test(bench_suite_parse, device_row_with_bad_paired_triad)
{
	static const char *const bad[] = {"{\"median\": \"fast\"}", "25.0", "{\"median\": -3.0}", "{\"median\": 0}"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char output[512];
		snprintf(output, sizeof output,
			 "{\"suite\": \"device\", \"triad\": {\"bandwidth_gbps\": {\"median\": 20.0}},"
			 " \"memory_bound\": [{\"kernel\": \"map\", \"bandwidth_gbps\": {\"median\": 15.0},"
			 " \"triad_gbps\": %s}]}\n",
			 bad[i]);
		figures_t f = {0};
		char error[256] = "";

		int rc = parse_kernels(&f, output, error, sizeof error);

		cr_assert_eq(rc, -1, "triad_gbps %s was accepted", bad[i]);
		cr_assert(strstr(error, "triad_gbps"), "the error must name triad_gbps: %s", error);
		figures_free(&f);
	}
}

/* bench/fs/run --json: one line per size and operation, the block's and
 * those through beamline-engine run. */
Test(bench_suite_parse, fs_lines)
{
	const char *output =
		"{\"size\":1048576,\"op\":\"write\",\"files\":32,\"beamline_mib_s\":410.5,\"fio_mib_s\":"
		"450.0,\"ratio\":0.91}\n"
		"{\"size\":65536,\"op\":\"read\",\"files\":512,\"beamline_mib_s\":900.0,\"fio_mib_s\":1000.0,"
		"\"ratio\":0.90}\n"
		"{\"size\":1048576,\"op\":\"read_run\",\"files\":32,\"beamline_mib_s\":1300.0,\"fio_mib_s\":"
		"12000.0,\"ratio\":0.11}\n";
	figures_t f = {0};
	char error[256] = "";

	int rc = parse_fs(&f, output, error, sizeof error);

	cr_assert_eq(rc, 0, "error: %s", error);
	expect_figure(&f, "fs.write_1mib", "MiB/s", BETTER_HIGHER, 410.5, "fio", 450.0);
	expect_figure(&f, "fs.read_64kib", "MiB/s", BETTER_HIGHER, 900.0, "fio", 1000.0);
	expect_figure(&f, "fs.read_run_1mib", "MiB/s", BETTER_HIGHER, 1300.0, "fio", 12000.0);
	figures_free(&f);
}

/* bench/http/run: the block's line, wrk's line, then a text line. */
Test(bench_suite_parse, http_lines)
{
	const char *output = "{\"system\":\"beamline-http\",\"url\":\"http://127.0.0.1:4000/hello\",\"concurrency\":16,"
			     "\"io_workers\":1,\"requests\":100000,\"rps\":45000.0}\n"
			     "{\"system\":\"wrk\",\"url\":\"http://127.0.0.1:4000/hello\",\"concurrency\":16,"
			     "\"threads\":1,\"rps\":50000.0}\n"
			     "http block / wrk: 0.900\n";
	figures_t f = {0};
	char error[256] = "";

	int rc = parse_http(&f, output, error, sizeof error);

	cr_assert_eq(rc, 0, "error: %s", error);
	expect_figure(&f, "http.rps", "requests/s", BETTER_HIGHER, 45000.0, "wrk", 50000.0);
	figures_free(&f);
}

/* bench/sql/run: the block's line, then the summary line. */
Test(bench_suite_parse, sql_summary_line)
{
	const char *output =
		"{\"bench\": \"sql_block_select\", \"clients\": 8, \"qps\": 30000.0}\n"
		"{\"bench\": \"sql_select_vs_pgbench\", \"clients\": 8, \"seconds\": 2.0, "
		"\"pgbench_simple_tps\": 40000.0, \"pgbench_extended_tps\": 35000.0, \"block_qps\": 30000.0, "
		"\"engine_run_jobs_per_s\": 20000.0, \"engine_run_jobs\": 5000}\n";
	figures_t f = {0};
	char error[256] = "";

	int rc = parse_sql(&f, output, error, sizeof error);

	cr_assert_eq(rc, 0, "error: %s", error);
	expect_figure(&f, "sql.block_qps", "queries/s", BETTER_HIGHER, 30000.0, "pgbench -S -M extended", 35000.0);
	expect_figure(&f, "sql.engine_run", "jobs/s", BETTER_HIGHER, 20000.0, "pgbench -S", 40000.0);
	figures_free(&f);
}

/* bench/nats/run: text lines, then the figures as one JSON line. */
Test(bench_suite_parse, nats_summary_line)
{
	const char *output = "nats-server v2.9, 2000 jobs, 500 requests, 2 workers\n"
			     "bare loop:  12000.0 jobs/s\n"
			     "{\"bench\":\"nats_service\",\"jobs\":2000,\"requests\":500,\"bare_jobs_per_s\":12000.0,"
			     "\"engine_jobs_per_s\":9000.0,\"bare_p50_us\":40.0,\"bare_p99_us\":90.0,\"engine_p50_us\":"
			     "70.0,\"engine_p99_us\":150.0}\n";
	figures_t f = {0};
	char error[256] = "";

	int rc = parse_nats(&f, output, error, sizeof error);

	cr_assert_eq(rc, 0, "error: %s", error);
	expect_figure(&f, "nats.serve", "jobs/s", BETTER_HIGHER, 9000.0, "bare loop", 12000.0);
	expect_figure(&f, "nats.execute_p50", "us", BETTER_LOWER, 70.0, "bare responder", 40.0);
	expect_figure(&f, "nats.execute_p99", "us", BETTER_LOWER, 150.0, "bare responder", 90.0);
	figures_free(&f);
}

/* A script that stopped before its summary line leaves the run without
 * figures: the error names the missing field. */
Test(bench_suite_parse, missing_summary_names_field)
{
	figures_t f = {0};
	char error[256] = "";

	int rc = parse_sql(&f, "{\"bench\": \"sql_block_select\", \"qps\": 30000.0}\n", error, sizeof error);

	cr_expect_eq(rc, -1);
	cr_expect(strstr(error, "block_qps") != NULL, "error does not name the field: %s", error);
	figures_free(&f);
}

/* Output that is not the expected document is an error, not zero figures. */
Test(bench_suite_parse, garbage_is_error)
{
	figures_t f = {0};
	char error[256] = "";

	cr_expect_eq(parse_engine(&f, "Segmentation fault\n", error, sizeof error), -1);
	cr_expect(strstr(error, "not a JSON document") != NULL, "error: %s", error);
	cr_expect_eq(parse_actors(&f, "{\"suite\": \"actors\"}", error, sizeof error), -1);
	cr_expect(strstr(error, "results") != NULL, "error: %s", error);
	cr_expect_eq(f.count, 0, "%zu figures from garbage", f.count);
	figures_free(&f);
}
