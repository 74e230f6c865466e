/*
 * beamline-engine-bench: the engine's own figures, in one process.
 *
 *   1. Jobs per second through a local run, for the no-op kernel and for
 *      small kernels (elementwise, reduction, a 32x32 sgemm), inline data.
 *   2. The engine's sgemm job against a direct cblas_sgemm call on the same
 *      matrices, N x N for N = 256 .. 2048: the direct call uses OpenBLAS's
 *      own threads (one per core), the engine splits C's rows over its CPU
 *      workers with single-threaded OpenBLAS. Both use the same OpenBLAS
 *      kernel set. The figure compared is the GFLOP/s of the product; the
 *      job's end-to-end time (reading and writing .npy files) is printed
 *      beside it.
 *
 * Prints a table on stderr and a JSON document on stdout.
 *
 *   beamline-engine-bench [--reps R] [--quick]
 */
#define _GNU_SOURCE /* mkdtemp */

#include <cblas.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <beamline/kernels.h>

#include "blas.h"
#include "log.h"
#include "run.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int compare(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof *v, compare);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ------------------------------------------------------------------------ */
/* A scratch data folder with tenant "b"                                     */
/* ------------------------------------------------------------------------ */

static char dir[256], data[300], tenant[320];

static void make_folders(void)
{
	snprintf(dir, sizeof dir, "%s/bl-engine-bench-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir)) {
		perror("beamline-engine-bench: cannot create a temporary folder");
		exit(1);
	}
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(tenant, sizeof tenant, "%s/b", data);
	mkdir(data, 0700);
	mkdir(tenant, 0700);
}

static void remove_folders(void)
{
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "beamline-engine-bench: could not remove %s\n", dir);
}

static bl_tensor_t *random_matrix(size_t n, uint64_t seed)
{
	bl_tensor_t *t;
	if (bl_tensor_new(&t, BL_DTYPE_F32, 2, (size_t[]){n, n}, NULL) != 0)
		exit(1);
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	for (size_t i = 0; i < t->count; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		((float *)t->data)[i] = (float)((double)(x >> 40) / 16777216.0 - 0.5);
	}
	return t;
}

static void write_npy(const bl_tensor_t *t, const char *name)
{
	int fd = open(tenant, O_RDONLY | O_DIRECTORY);
	bl_error_t err;
	if (fd < 0 || bl_npy_write(t, fd, name, &err) != 0) {
		fprintf(stderr, "beamline-engine-bench: cannot write %s\n", name);
		exit(1);
	}
	close(fd);
}

/* Run `jobs` through the engine; returns the summary's jobs per second and
 * fills *out with the results (owned). */
static double run_jobs(const char *jobs, unsigned workers, json_t **out)
{
	char jobs_path[400], out_path[400];
	snprintf(jobs_path, sizeof jobs_path, "%s/jobs.jsonl", dir);
	snprintf(out_path, sizeof out_path, "%s/results.jsonl", dir);
	FILE *f = fopen(jobs_path, "w");
	fputs(jobs, f);
	fclose(f);

	bl_run_config_t cfg;
	bl_run_summary_t summary = {0};
	bl_error_t err;
	bl_run_config_init(&cfg);
	cfg.jobs_path = jobs_path;
	cfg.output_path = out_path;
	cfg.data_dir = data;
	cfg.cpu_workers = workers;
	cfg.no_gpu = true; /* these figures are the CPU pool's; the device has its own bench */
	if (bl_run_jobs(&cfg, &summary, &err) != 0 || summary.by_status[BL_JOB_OK] != summary.jobs) {
		fprintf(stderr, "beamline-engine-bench: the run failed: %s (%llu of %llu jobs ok)\n", err.message,
			(unsigned long long)summary.by_status[BL_JOB_OK], (unsigned long long)summary.jobs);
		exit(1);
	}

	if (out) {
		*out = json_array();
		FILE *r = fopen(out_path, "r");
		char line[65536];
		while (r && fgets(line, sizeof line, r))
			json_array_append_new(*out, json_loads(line, 0, NULL));
		if (r)
			fclose(r);
	}
	bl_run_summary_free(&summary);
	return summary.jobs_per_s;
}

/* ------------------------------------------------------------------------ */
/* 1. Jobs per second                                                        */
/* ------------------------------------------------------------------------ */

typedef struct throughput_case {
	const char *name;
	const char *params;
} throughput_case_t;

static const throughput_case_t throughput_cases[] = {
	{"noop", "{\"kernel\":\"noop\"}"},
	{"map relu, 64 elements",
	 "{\"kernel\":\"map\",\"inputs\":{\"x\":[[1,-2,3,-4,5,-6,7,-8],[1,-2,3,-4,5,-6,7,-8],[1,-2,3,-4,5,-6,7,-8],[1,-2,3,-4,5,-6,7,-8],"
	 "[1,-2,3,-4,5,-6,7,-8],[1,-2,3,-4,5,-6,7,-8],[1,-2,3,-4,5,-6,7,-8],[1,-2,3,-4,5,-6,7,-8]]},\"args\":{\"op\":\"relu\"}}"},
	{"reduce sum, 64 elements",
	 "{\"kernel\":\"reduce\",\"inputs\":{\"x\":[[1,2,3,4,5,6,7,8],[1,2,3,4,5,6,7,8],[1,2,3,4,5,6,7,8],[1,2,3,4,5,6,7,8],"
	 "[1,2,3,4,5,6,7,8],[1,2,3,4,5,6,7,8],[1,2,3,4,5,6,7,8],[1,2,3,4,5,6,7,8]]},\"args\":{\"op\":\"sum\"}}"},
	{"sgemm 32x32 from files", "{\"kernel\":\"sgemm\",\"inputs\":{\"a\":\"m32a.npy\",\"b\":\"m32b.npy\"}}"},
};

static json_t *bench_throughput(unsigned reps, unsigned jobs_per_run)
{
	json_t *rows = json_array();
	bl_tensor_t *a = random_matrix(32, 1), *b = random_matrix(32, 2);
	write_npy(a, "m32a.npy");
	write_npy(b, "m32b.npy");
	bl_tensor_free(&a);
	bl_tensor_free(&b);

	fprintf(stderr, "\n%-28s %14s %26s\n", "jobs through `run`", "jobs/s median", "[min - max]");
	for (size_t c = 0; c < sizeof throughput_cases / sizeof *throughput_cases; c++) {
		size_t line_max = strlen(throughput_cases[c].params) + 128;
		char *jobs = malloc(line_max * jobs_per_run);
		size_t len = 0;
		for (unsigned i = 0; i < jobs_per_run; i++)
			len += (size_t)snprintf(jobs + len, line_max,
						"{\"id\":\"j%u\",\"tenant\":\"b\",\"block\":\"kernel\",\"params\":%s}\n", i,
						throughput_cases[c].params);

		double rates[64];
		for (unsigned r = 0; r < reps; r++)
			rates[r] = run_jobs(jobs, 0, NULL);
		double lo = rates[0], hi = rates[0];
		for (unsigned r = 0; r < reps; r++)
			lo = fmin(lo, rates[r]), hi = fmax(hi, rates[r]);
		double med = median(rates, reps);
		fprintf(stderr, "%-28s %14.0f %12.0f - %-12.0f\n", throughput_cases[c].name, med, lo, hi);
		json_array_append_new(rows, json_pack("{s:s, s:i, s:f, s:f, s:f}", "case", throughput_cases[c].name,
						      "jobs", jobs_per_run, "jobs_per_s_median", med, "min", lo, "max", hi));
		free(jobs);
	}
	return rows;
}

/* ------------------------------------------------------------------------ */
/* 2. sgemm: the engine's job against a direct call                          */
/* ------------------------------------------------------------------------ */

static double direct_gflops(const bl_tensor_t *a, const bl_tensor_t *b, bl_tensor_t *c, size_t n)
{
	double start = now_s();
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f, a->data, (int)n, b->data,
		    (int)n, 0.0f, c->data, (int)n);
	double seconds = now_s() - start;
	return 2.0 * (double)n * (double)n * (double)n / seconds / 1e9;
}

static json_t *bench_sgemm(unsigned reps, const size_t *sizes, size_t nsizes)
{
	json_t *rows = json_array();
	unsigned cores = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);

	fprintf(stderr, "\n%-6s %22s %22s %8s %18s\n", "sgemm", "direct GFLOP/s", "engine GFLOP/s", "ratio",
		"engine job, ms");
	for (size_t s = 0; s < nsizes; s++) {
		size_t n = sizes[s];
		bl_tensor_t *a = random_matrix(n, 3), *b = random_matrix(n, 4), *c;
		bl_tensor_new(&c, BL_DTYPE_F32, 2, (size_t[]){n, n}, NULL);
		write_npy(a, "ga.npy");
		write_npy(b, "gb.npy");

		/* One job at a time, so the engine's split over workers is
		 * measured, not two jobs side by side. */
		char *jobs = malloc(256 * reps + 1);
		size_t len = 0;
		for (unsigned r = 0; r < reps; r++)
			len += (size_t)sprintf(jobs + len,
					       "{\"id\":\"g%u\",\"tenant\":\"b\",\"block\":\"kernel\",\"params\":{\"kernel\":"
					       "\"sgemm\",\"inputs\":{\"a\":\"ga.npy\",\"b\":\"gb.npy\"},\"outputs\":{\"c\":"
					       "\"gc.npy\"}}}\n",
					       r);

		double direct[64], engine[64], job_ms[64];
		for (unsigned r = 0; r < reps; r++) {
			/* Alternate, so drift hits both sides alike. */
			openblas_set_num_threads((int)cores);
			direct[r] = direct_gflops(a, b, c, n);
			openblas_set_num_threads(1);
			json_t *results;
			char one[512];
			const char *line = jobs;
			for (unsigned skip = 0; skip < r; skip++)
				line = strchr(line, '\n') + 1;
			size_t one_len = (size_t)(strchr(line, '\n') - line) + 1;
			memcpy(one, line, one_len);
			one[one_len] = '\0';
			run_jobs(one, 0, &results);
			json_t *res = json_object_get(json_array_get(results, 0), "result");
			engine[r] = json_number_value(json_object_get(json_object_get(res, "metrics"), "gflops"));
			job_ms[r] = (double)json_integer_value(json_object_get(json_object_get(json_array_get(results, 0), "timing_us"), "run")) / 1000.0;
			json_decref(results);
		}
		double d = median(direct, reps), e = median(engine, reps), j = median(job_ms, reps);
		fprintf(stderr, "%-6zu %22.1f %22.1f %7.2fx %18.1f\n", n, d, e, e / d, j);
		json_array_append_new(rows, json_pack("{s:i, s:f, s:f, s:f, s:f, s:b}", "n", (int)n, "direct_gflops", d,
						      "engine_gflops", e, "ratio", e / d, "engine_job_ms", j,
						      "target_met", n < 1024 || e / d >= 0.9));
		free(jobs);
		bl_tensor_free(&a);
		bl_tensor_free(&b);
		bl_tensor_free(&c);
	}
	return rows;
}

/* ------------------------------------------------------------------------ */

/* Use the fastest OpenBLAS kernels the CPU supports, as the engine does. */
static void choose_blas_kernels(char **argv)
{
	const char *better = bl__blas_better_coretype();
	if (!better || getenv("OPENBLAS_CORETYPE"))
		return;
	setenv("OPENBLAS_CORETYPE", better, 1);
	execv("/proc/self/exe", argv);
}

int main(int argc, char **argv)
{
	unsigned reps = 5;
	bool quick = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			quick = true;
		else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0 && atoi(argv[i + 1]) <= 64)
			reps = (unsigned)atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: beamline-engine-bench [--reps R (1-64)] [--quick]\n");
			return 2;
		}
	}
	choose_blas_kernels(argv);
	bl_log_start(BL_LOG_WARN, 2);
	make_folders();

	static const size_t sizes[] = {256, 512, 1024, 2048};
	fprintf(stderr, "OpenBLAS kernels: %s\n", bl_blas_core_name());
	json_t *throughput = bench_throughput(reps, quick ? 2000 : 20000);
	json_t *sgemm = bench_sgemm(reps, sizes, quick ? 3 : 4);

	json_t *doc = json_pack("{s:s, s:s, s:i, s:o, s:o}", "suite", "engine", "blas_core", bl_blas_core_name(), "reps",
				(int)reps, "throughput", throughput, "sgemm", sgemm);
	json_dumpf(doc, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(doc);
	remove_folders();
	bl_log_stop();
	return 0;
}
