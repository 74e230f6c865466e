/*
 * beamline-engine: the engine's command line.
 *
 *   beamline-engine run JOBS.jsonl [options]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blas.h"
#include "log.h"
#include "run.h"

enum {
	EXIT_JOBS_FAILED = 1, /* the run completed, some jobs did not succeed */
	EXIT_USAGE = 2,
	EXIT_RUN_FAILED = 3,  /* the run itself could not proceed */
};

static void usage(FILE *to)
{
	fputs("usage: beamline-engine run JOBS.jsonl [options]\n"
	      "\n"
	      "Runs one job per line of JOBS.jsonl (\"-\" reads standard input) and writes one\n"
	      "result per job, as JSON lines, in the order the jobs finish.\n"
	      "\n"
	      "options:\n"
	      "  --output FILE       write the results to FILE (default: standard output); FILE\n"
	      "                      appears only once the run completes\n"
	      "  --data-dir DIR      folder holding one subfolder per tenant, where jobs read\n"
	      "                      and write their files (default: .)\n"
	      "  --quotas FILE       tenant quotas, JSON (default: 4 concurrent jobs, 10,000\n"
	      "                      queued, weight 1 for every tenant)\n"
	      "  --workers N         compute worker threads (default: one per core)\n"
	      "  --timeout-ms N      timeout of jobs that set none (default: 60000)\n"
	      "  --log-level LEVEL   debug, info, warn, error or off (default: warn); logs are\n"
	      "                      JSON lines on standard error\n"
	      "  --progress          show a progress line on standard error (default: when\n"
	      "                      standard error is a terminal); --no-progress hides it\n"
	      "  --print-metrics     after the summary, list each job's figures (its metrics,\n"
	      "                      or its small outputs), for the first 100 jobs\n"
	      "\n"
	      "limits (defaults in brackets):\n"
	      "  --max-job-bytes N     size of one job line [1048576]\n"
	      "  --max-depth N         nesting of objects and arrays in a job [32]\n"
	      "  --max-string-bytes N  any string in a job [65536]\n"
	      "  --max-array-items N   any array in a job [65536]\n"
	      "  --max-npy-bytes N     data of one .npy input [1073741824]\n"
	      "  --inline-max N        elements of an output returned inside its result [10000]\n"
	      "  --window N            jobs read ahead of their results [4096]\n"
	      "  --ageing-ms N         wait that moves a queued job up one priority class [1000]\n"
	      "\n"
	      "Exit status: 0 every job succeeded, 1 some job did not, 2 usage error,\n"
	      "3 the run could not proceed.\n",
	      to);
}

static bool parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static int parse_options(int argc, char **argv, bl_run_config_t *cfg, bl_log_level_t *level)
{
	for (int i = 3; i < argc; i++) {
		const char *opt = argv[i];
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t n;

		if (strcmp(opt, "--progress") == 0) {
			cfg->progress = true;
			continue;
		}
		if (strcmp(opt, "--no-progress") == 0) {
			cfg->progress = false;
			continue;
		}
		if (strcmp(opt, "--print-metrics") == 0) {
			cfg->print_metrics = true;
			continue;
		}
		if (!value) {
			fprintf(stderr, "beamline-engine: option %s needs a value\n", opt);
			return -1;
		}
		i++;
		if (strcmp(opt, "--output") == 0)
			cfg->output_path = value;
		else if (strcmp(opt, "--data-dir") == 0)
			cfg->data_dir = value;
		else if (strcmp(opt, "--quotas") == 0)
			cfg->quotas_path = value;
		else if (strcmp(opt, "--workers") == 0 && parse_u64(value, 1, 1024, &n))
			cfg->cpu_workers = (unsigned)n;
		else if (strcmp(opt, "--timeout-ms") == 0 && parse_u64(value, 1, 86400000, &n))
			cfg->default_timeout_ms = n;
		else if (strcmp(opt, "--log-level") == 0 && bl_log_level_parse(level, value) == 0)
			;
		else if (strcmp(opt, "--max-job-bytes") == 0 && parse_u64(value, 64, UINT64_C(1) << 30, &n))
			cfg->job_limits.max_bytes = (size_t)n;
		else if (strcmp(opt, "--max-depth") == 0 && parse_u64(value, 2, 1000, &n))
			cfg->job_limits.max_depth = (unsigned)n;
		else if (strcmp(opt, "--max-string-bytes") == 0 && parse_u64(value, 1, UINT64_C(1) << 30, &n))
			cfg->job_limits.max_string_bytes = (size_t)n;
		else if (strcmp(opt, "--max-array-items") == 0 && parse_u64(value, 1, UINT64_C(1) << 30, &n))
			cfg->job_limits.max_array_items = (size_t)n;
		else if (strcmp(opt, "--max-npy-bytes") == 0 && parse_u64(value, 1, UINT64_C(1) << 40, &n))
			cfg->npy_limits.max_data_bytes = (size_t)n;
		else if (strcmp(opt, "--inline-max") == 0 && parse_u64(value, 0, UINT64_C(1) << 30, &n))
			cfg->inline_max_elements = (size_t)n;
		else if (strcmp(opt, "--window") == 0 && parse_u64(value, 1, UINT64_C(1) << 24, &n))
			cfg->window = (size_t)n;
		else if (strcmp(opt, "--ageing-ms") == 0 && parse_u64(value, 1, 86400000, &n))
			cfg->ageing_ms = n;
		else {
			fprintf(stderr, "beamline-engine: invalid option or value: %s %s\n", opt, value);
			return -1;
		}
	}
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	bl_run_config_t cfg;
	bl_run_summary_t summary = {0};
	bl_log_level_t level = BL_LOG_WARN;
	bl_error_t err = {0};

	bl_run_config_init(&cfg);
	cfg.progress = isatty(STDERR_FILENO);
	if (argc < 3 || parse_options(argc, argv, &cfg, &level) != 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cfg.jobs_path = argv[2];

	bl_log_start(level, STDERR_FILENO);
	int rc = bl_run_jobs(&cfg, &summary, &err);
	bl_log_stop();
	if (rc < 0) {
		fprintf(stderr, "beamline-engine: %s%s%s\n", err.field[0] ? err.field : "", err.field[0] ? ": " : "",
			err.message);
		return EXIT_RUN_FAILED;
	}

	bl_run_summary_print(&summary, stderr);
	int status = summary.by_status[BL_JOB_OK] == summary.jobs ? 0 : EXIT_JOBS_FAILED;
	bl_run_summary_free(&summary);
	return status;
}

/*
 * Debian's OpenBLAS 0.3.21 does not recognise some recent Intel Xeons (CPU
 * family 6, model 207, for one) and falls back to its generic "Prescott"
 * kernels, about 4x slower for sgemm than the AVX-512 ones the CPU
 * supports. OpenBLAS reads OPENBLAS_CORETYPE only when it loads, so the
 * engine sets it and executes itself again. An operator's own
 * OPENBLAS_CORETYPE is left alone.
 */
static void choose_blas_kernels(char **argv)
{
	const char *better = bl__blas_better_coretype();
	if (!better || getenv("OPENBLAS_CORETYPE"))
		return;
	if (setenv("OPENBLAS_CORETYPE", better, 1) == 0)
		execv("/proc/self/exe", argv);
	/* Still here: carry on with the kernels OpenBLAS picked. */
	fprintf(stderr, "beamline-engine: cannot switch OpenBLAS to its %s kernels: %s\n", better, strerror(errno));
	unsetenv("OPENBLAS_CORETYPE");
}

int main(int argc, char **argv)
{
	choose_blas_kernels(argv);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return cmd_run(argc, argv);

	usage(stderr);
	return EXIT_USAGE;
}
