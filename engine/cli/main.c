/*
 * beamline-engine: the engine's command line.
 *
 *   beamline-engine run JOBS.jsonl [options]
 *   beamline-engine devices [--json]
 *   beamline-engine approve ID --decision approve|reject ...
 *   beamline-engine approvals [--json]
 *   beamline-engine serve --config FILE
 *   beamline-engine submit JOBS.jsonl --nats URL ...
 *   beamline-engine plan WORKLOAD.json ...
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blas.h"
#include "cli.h"
#include "log.h"
#include "run.h"

static void usage(FILE *to)
{
	fputs("usage: beamline-engine run JOBS.jsonl [options]\n"
	      "       beamline-engine devices [--json]\n"
	      "       beamline-engine approve ID --decision approve|reject [--by NAME] [--comment TEXT]\n"
	      "       beamline-engine approvals [--json]\n"
	      "       beamline-engine serve --config FILE [--log-level LEVEL]\n"
	      "       beamline-engine submit JOBS.jsonl --nats URL [--timeout-s N] [--output FILE]\n"
	      "       beamline-engine plan WORKLOAD.json [--target-p99-ms N] [--max-cores N] ...\n"
	      "       beamline-engine --help\n"
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
	      "  --config FILE       settings of the fs, http, sql and human blocks and the\n"
	      "                      admin endpoint, JSON (docs/blocks/; default: built-in)\n"
	      "  --state-dir DIR     state kept across restarts, such as pending approvals\n"
	      "                      (default: DATA_DIR/.beamline)\n"
	      "  --io-workers N      io_uring rings for the fs, http and sql blocks [1]\n"
	      "  --blocking-workers N  threads for work that blocks, such as SQLite [2]\n"
	      "\n"
	      "devices (kernel jobs take \"device\": \"cpu\", \"gpu\" or \"auto\", the default):\n"
	      "  --no-gpu            never open an OpenCL device; auto jobs run on the CPU\n"
	      "  --gpu-device N      the OpenCL device to use, numbered as `devices` lists\n"
	      "                      them (default: the first GPU, else the first device)\n"
	      "  --gpu-queues N      command queues on the device, one worker each [2]\n"
	      "  --placement FILE    where auto keeps its measured run times (default:\n"
	      "                      placement.json in $BEAMLINE_CACHE_DIR, else\n"
	      "                      ~/.cache/beamline)\n"
	      "\n"
	      "limits (defaults in brackets):\n"
	      "  --max-job-bytes N     size of one job line [1048576]\n"
	      "  --max-depth N         nesting of objects and arrays in a job [32]\n"
	      "  --max-string-bytes N  any string in a job [65536]\n"
	      "  --max-array-items N   any array in a job [65536]\n"
	      "  --max-npy-bytes N     data of one .npy input [1073741824]\n"
	      "  --inline-max N        elements of an output returned inside its result [10000]\n"
	      "  --window N            jobs read ahead of their results [4096]\n"
	      "  --window-bytes N      bytes of job text read ahead of their results [67108864]\n"
	      "  --ageing-ms N         wait that moves a queued job up one priority class [1000]\n"
	      "\n"
	      "Exit status: 0 every job succeeded, 1 some job did not, 2 usage error,\n"
	      "3 the run could not proceed.\n"
	      "\n"
	      "devices lists the CPU, the OpenBLAS kernels and the OpenCL devices;\n"
	      "beamline-engine devices --help says more.\n"
	      "approve decides a human job's pending approval, approvals lists them;\n"
	      "beamline-engine approve --help says more.\n"
	      "serve runs jobs from NATS JetStream; beamline-engine serve --help says more.\n"
	      "submit publishes jobs to engines serving on NATS and writes their results;\n"
	      "beamline-engine submit --help says more.\n"
	      "plan recommends pool sizes and instance counts for a target p99 latency;\n"
	      "beamline-engine plan --help says more.\n",
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

/* A numeric option: its name, its range and where the value goes. */
typedef struct number_option {
	const char *name;
	uint64_t min;
	uint64_t max;
	void *target;
	size_t size; /* of *target: sizeof(unsigned), sizeof(size_t) or sizeof(uint64_t) */
} number_option_t;

static void store_number(const number_option_t *o, uint64_t n)
{
	if (o->size == sizeof(unsigned))
		*(unsigned *)o->target = (unsigned)n;
	else
		*(uint64_t *)o->target = n;
}

/* Return the numeric option called `name`, or NULL. */
static const number_option_t *find_number_option(const number_option_t *table, size_t count, const char *name)
{
	for (size_t i = 0; i < count; i++) {
		if (strcmp(table[i].name, name) == 0)
			return &table[i];
	}
	return NULL;
}

/* Apply option `opt` with `value`. Returns 0, or -1 after printing why. */
static int apply_value_option(bl_run_config_t *cfg, bl_log_level_t *level, const char *opt, const char *value)
{
	_Static_assert(sizeof(size_t) == sizeof(uint64_t), "size_t options are stored as uint64_t");
	const number_option_t numbers[] = {
		{"--workers", 1, 1024, &cfg->cpu_workers, sizeof cfg->cpu_workers},
		{"--timeout-ms", 1, 86400000, &cfg->default_timeout_ms, sizeof cfg->default_timeout_ms},
		{"--max-job-bytes", 64, UINT64_C(1) << 30, &cfg->job_limits.max_bytes, sizeof(size_t)},
		{"--max-depth", 2, 1000, &cfg->job_limits.max_depth, sizeof cfg->job_limits.max_depth},
		{"--max-string-bytes", 1, UINT64_C(1) << 30, &cfg->job_limits.max_string_bytes, sizeof(size_t)},
		{"--max-array-items", 1, UINT64_C(1) << 30, &cfg->job_limits.max_array_items, sizeof(size_t)},
		{"--max-npy-bytes", 1, UINT64_C(1) << 40, &cfg->npy_limits.max_data_bytes, sizeof(size_t)},
		{"--inline-max", 0, UINT64_C(1) << 30, &cfg->inline_max_elements, sizeof(size_t)},
		{"--window", 1, UINT64_C(1) << 24, &cfg->window, sizeof(size_t)},
		{"--window-bytes", 1 << 20, UINT64_C(1) << 40, &cfg->window_bytes, sizeof(size_t)},
		{"--ageing-ms", 1, 86400000, &cfg->ageing_ms, sizeof cfg->ageing_ms},
		{"--gpu-device", 0, 1023, &cfg->gpu_device, sizeof cfg->gpu_device},
		{"--gpu-queues", 1, 64, &cfg->gpu_queues, sizeof cfg->gpu_queues},
		{"--io-workers", 1, 64, &cfg->io_workers, sizeof cfg->io_workers},
		{"--blocking-workers", 1, 256, &cfg->blocking_workers, sizeof cfg->blocking_workers},
	};

	const struct {
		const char *name;
		const char **target;
	} paths[] = {
		{"--output", &cfg->output_path},       {"--data-dir", &cfg->data_dir},
		{"--quotas", &cfg->quotas_path},       {"--placement", &cfg->placement_path},
		{"--config", &cfg->config_path},       {"--state-dir", &cfg->state_dir},
	};

	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		if (strcmp(opt, paths[i].name) == 0) {
			*paths[i].target = value;
			return 0;
		}
	}
	if (strcmp(opt, "--log-level") == 0) {
		if (bl_log_level_parse(level, value) == 0)
			return 0;
		fprintf(stderr, "beamline-engine: --log-level: expected debug, info, warn, error or off, got '%s'\n",
			value);
		return -1;
	}

	const number_option_t *o = find_number_option(numbers, sizeof numbers / sizeof numbers[0], opt);
	uint64_t n;
	if (!o) {
		fprintf(stderr, "beamline-engine: unknown option %s; see beamline-engine --help\n", opt);
		return -1;
	}
	if (!parse_u64(value, o->min, o->max, &n)) {
		fprintf(stderr, "beamline-engine: %s: expected an integer from %llu to %llu, got '%s'\n", opt,
			(unsigned long long)o->min, (unsigned long long)o->max, value);
		return -1;
	}
	store_number(o, n);
	return 0;
}

/* Apply a switch (an option without a value). Returns 1 when `opt` is one. */
static int apply_switch(bl_run_config_t *cfg, const char *opt)
{
	if (strcmp(opt, "--progress") == 0)
		cfg->progress = true;
	else if (strcmp(opt, "--no-progress") == 0)
		cfg->progress = false;
	else if (strcmp(opt, "--print-metrics") == 0)
		cfg->print_metrics = true;
	else if (strcmp(opt, "--no-gpu") == 0)
		cfg->no_gpu = true;
	else
		return 0;
	return 1;
}

/*
 * Parse the words after "run": options (as "--name value" or
 * "--name=value") and the jobs file, in any order. After "--", a word is
 * the jobs file even if it starts with a dash. Returns 0, 1 when help was
 * requested, or -1 after printing what was wrong.
 */
static int parse_options(int argc, char **argv, bl_run_config_t *cfg, bl_log_level_t *level)
{
	bool options_ended = false;

	cfg->jobs_path = NULL;
	for (int i = 2; i < argc; i++) {
		char *word = argv[i];
		if (!options_ended && strcmp(word, "--") == 0) {
			options_ended = true;
			continue;
		}
		if (!options_ended && (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0))
			return 1;

		if (options_ended || strncmp(word, "--", 2) != 0) {
			if (!options_ended && word[0] == '-' && word[1] != '\0') {
				fprintf(stderr, "beamline-engine: unknown option %s; see beamline-engine --help\n", word);
				return -1;
			}
			if (cfg->jobs_path) {
				fprintf(stderr, "beamline-engine: one jobs file expected, got '%s' and '%s'\n",
					cfg->jobs_path, word);
				return -1;
			}
			cfg->jobs_path = word;
			continue;
		}

		char *eq = strchr(word, '=');
		if (!eq && apply_switch(cfg, word))
			continue;
		if (eq)
			*eq = '\0';
		const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (!value) {
			fprintf(stderr, "beamline-engine: option %s needs a value\n", word);
			return -1;
		}
		if (apply_value_option(cfg, level, word, value) < 0)
			return -1;
	}

	if (!cfg->jobs_path) {
		fprintf(stderr, "beamline-engine: missing the jobs file (a path, or - for standard input)\n");
		return -1;
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
	int parsed = parse_options(argc, argv, &cfg, &level);
	if (parsed == 1) {
		usage(stdout);
		return 0;
	}
	if (parsed < 0) {
		fputs("usage: beamline-engine run JOBS.jsonl [options]; beamline-engine --help lists the options\n",
		      stderr);
		return EXIT_USAGE;
	}

	cfg.handle_signals = true;

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

/* The commands besides run, each in its own file. */
static const struct {
	const char *name;
	int (*main)(int argc, char **argv);
} commands[] = {
	{"devices", bl__devices_main},
	{"approve", bl__approve_main},
	{"approvals", bl__approvals_main},
	{"serve", bl__serve_main},
	{"submit", bl__submit_main},
	{"plan", bl__plan_main},
};

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
	for (size_t i = 0; argc >= 2 && i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].main(argc, argv);
	}

	if (argc >= 2)
		fprintf(stderr,
			"beamline-engine: unknown command '%s'; the commands are run, serve, submit, plan, devices, approve "
			"and approvals\n",
			argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
