/*
 * beamline-fs-bench: write and read throughput of the fs block, driven
 * through the block interface (prepare, then start) on a real I/O pool,
 * as the engine's job actor drives it.
 *
 *   beamline-fs-bench --dir DIR --size BYTES --files N [--depth D] [--io-workers W] [--read-passes R]
 *
 * Puts N files of BYTES bytes as DIR/t/f0 ... f(N-1), then gets each of
 * them back R times (default 1; more makes the reads stand out in a
 * profile), keeping D jobs in flight. Prints one JSON line per phase:
 *
 *   {"system":"beamline-fs","op":"write","size":1048576,"files":256,
 *    "bytes":268435456,"depth":1,"elapsed_s":0.91,"mib_s":281.3,"check":true}
 *
 * `elapsed_s` runs from the first job's prepare to the last job's done
 * callback. `check` is true when every job succeeded and every get
 * returned BYTES bytes. bench/fs/run compares these with fio.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <beamline/services.h>

extern const bl_block_t bl__fs_block;

typedef struct bench_args {
	const char *dir;
	size_t size;
	size_t files;
	size_t depth;
	size_t read_passes;
	unsigned io_workers;
} bench_args_t;

typedef struct phase phase_t;

/* One job: its params and the per-job parts of its environment. */
typedef struct job {
	phase_t *phase;
	json_t *params;
	bl_block_env_t env;
	bl_cancel_t cancel;
} job_t;

struct phase {
	const bench_args_t *args;
	const bl_block_env_t *base;
	job_t *jobs;
	size_t _Atomic next;
	size_t _Atomic finished;
	bool _Atomic failed;
	bl_latch_t all_done;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void launch(phase_t *ph, size_t i);

static void on_done(void *ctx, bl_block_outcome_t *o)
{
	job_t *job = ctx;
	phase_t *ph = job->phase;

	bool ok = o && o->code == 0;
	json_t *length = ok ? json_object_get(o->result, "length") : NULL;
	if (length && (size_t)json_integer_value(length) != ph->args->size)
		ok = false;
	if (!ok) {
		if (o && o->code < 0)
			fprintf(stderr, "job failed: %s (%s)\n", o->error.message, o->error.field);
		atomic_store(&ph->failed, true);
	}
	bl_block_outcome_free(&o);
	bl_cancel_hook_free(&job->env.cancel_hook);

	size_t next = atomic_fetch_add(&ph->next, 1);
	if (next < ph->args->files)
		launch(ph, next);
	if (atomic_fetch_add(&ph->finished, 1) + 1 == ph->args->files)
		bl_latch_count_down(&ph->all_done);
}

/* Prepare and start job i; a failure counts as finished at once. */
static void launch(phase_t *ph, size_t i)
{
	job_t *job = &ph->jobs[i];
	uint64_t mem;
	bl_error_t err;

	job->phase = ph;
	job->env = *ph->base;
	job->env.cancel = &job->cancel;
	job->env.cancel_hook = bl_cancel_hook_new(&job->cancel);
	int rc = bl__fs_block.prepare(job->params, &job->env, &mem, &err);
	if (rc == 0)
		rc = bl__fs_block.start(job->params, &job->env, on_done, job);
	if (rc < 0) {
		fprintf(stderr, "job %zu not started: %s\n", i, err.message);
		on_done(job, NULL);
	}
}

static json_t *put_params(size_t i, json_t *content)
{
	char path[32];
	snprintf(path, sizeof path, "f%zu", i);
	return json_pack("{s:s, s:s, s:O}", "op", "put", "path", path, "content", content);
}

static json_t *get_params(size_t i)
{
	char path[32];
	snprintf(path, sizeof path, "f%zu", i);
	return json_pack("{s:s, s:s}", "op", "get", "path", path);
}

/* Run one phase and print its line; returns whether it checked out. */
static bool run_phase(const bench_args_t *args, const bl_block_env_t *base, const char *op, json_t *content)
{
	phase_t ph = {.args = args, .base = base};
	ph.jobs = calloc(args->files, sizeof *ph.jobs);
	for (size_t i = 0; i < args->files; i++)
		ph.jobs[i].params = content ? put_params(i, content) : get_params(i);
	bl_latch_init(&ph.all_done, 1);
	size_t first = args->depth < args->files ? args->depth : args->files;
	atomic_store(&ph.next, first);

	double start = now_s();
	for (size_t i = 0; i < first; i++)
		launch(&ph, i);
	bl_latch_wait(&ph.all_done);
	double elapsed = now_s() - start;

	double bytes = (double)args->size * (double)args->files;
	bool check = !atomic_load(&ph.failed);
	printf("{\"system\":\"beamline-fs\",\"op\":\"%s\",\"size\":%zu,\"files\":%zu,\"bytes\":%.0f,\"depth\":%zu,"
	       "\"elapsed_s\":%.6f,\"mib_s\":%.1f,\"check\":%s}\n",
	       op, args->size, args->files, bytes, args->depth, elapsed, bytes / elapsed / 1048576.0,
	       check ? "true" : "false");
	fflush(stdout);
	for (size_t i = 0; i < args->files; i++)
		json_decref(ph.jobs[i].params);
	free(ph.jobs);
	return check;
}

static int parse_args(bench_args_t *a, int argc, char **argv)
{
	*a = (bench_args_t){.depth = 1, .read_passes = 1, .io_workers = 1};
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *v = argv[i + 1];
		if (strcmp(argv[i], "--dir") == 0)
			a->dir = v;
		else if (strcmp(argv[i], "--size") == 0)
			a->size = strtoull(v, NULL, 10);
		else if (strcmp(argv[i], "--files") == 0)
			a->files = strtoull(v, NULL, 10);
		else if (strcmp(argv[i], "--depth") == 0)
			a->depth = strtoull(v, NULL, 10);
		else if (strcmp(argv[i], "--read-passes") == 0)
			a->read_passes = strtoull(v, NULL, 10);
		else if (strcmp(argv[i], "--io-workers") == 0)
			a->io_workers = (unsigned)strtoul(v, NULL, 10);
		else
			return fprintf(stderr, "unknown option %s\n", argv[i]), -1;
	}
	if (!a->dir || a->size == 0 || a->files == 0 || a->depth == 0 || a->io_workers == 0 || a->read_passes == 0) {
		fprintf(stderr, "usage: beamline-fs-bench --dir DIR --size BYTES --files N [--depth D] "
				"[--io-workers W] [--read-passes R]\n(each number must be positive)\n");
		return -1;
	}
	return 0;
}

/* Start the runtime, the I/O pool and the services with room for the
 * files. The quota is on, and large, so that its cost is measured. */
static int setup(bl_runtime_t **rt, bl_block_services_t **services, bl_block_env_t *env, const bench_args_t *a)
{
	bl_pool_config_t cfg;
	char tenant[4096];
	bl_error_t err = {0};

	snprintf(tenant, sizeof tenant, "%s/t", a->dir);
	mkdir(a->dir, 0700);
	mkdir(tenant, 0700);
	env->data_dir = open(tenant, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (env->data_dir < 0)
		return fprintf(stderr, "cannot open %s: %s\n", tenant, strerror(errno)), -1;

	bl_runtime_new(rt);
	bl_pool_config_init(&cfg);
	cfg.name = "io";
	cfg.kind = BL_POOL_IO;
	cfg.workers = a->io_workers;
	cfg.pin_workers = false;
	int rc = bl_runtime_add_pool(*rt, &cfg, &env->io_pool);
	if (rc < 0)
		return fprintf(stderr, "cannot start the I/O pool: %s\n", bl_strerror(rc)), -1;

	json_t *config = json_pack("{s:{s:I, s:I}}", "fs", "max_op_bytes", (json_int_t)a->size, "max_tenant_bytes",
				   (json_int_t)(UINT64_C(1) << 62));
	bl_services_setup_t s = {.config = config, .rt = *rt, .io_pool = env->io_pool};
	rc = bl_block_services_new(services, &s, &err);
	json_decref(config);
	if (rc < 0)
		return fprintf(stderr, "%s: %s\n", err.field, err.message), -1;
	env->services = *services;
	env->tenant = "t";
	env->attach_text = true; /* as the engine runs it: a get's content stays out of the tree */
	env->corr_id = "bench";
	env->job_id = "bench";
	return 0;
}

int main(int argc, char **argv)
{
	bench_args_t args;
	bl_runtime_t *rt = NULL;
	bl_block_services_t *services = NULL;
	bl_block_env_t env = {.data_dir = -1};

	if (parse_args(&args, argc, argv) < 0 || setup(&rt, &services, &env, &args) < 0)
		return 2;

	char *text = malloc(args.size);
	for (size_t i = 0; i < args.size; i++)
		text[i] = (char)('a' + i % 26);
	json_t *content = json_stringn_nocheck(text, args.size);
	free(text);

	bool ok = run_phase(&args, &env, "write", content);
	for (size_t i = 0; i < args.read_passes; i++)
		ok = run_phase(&args, &env, "read", NULL) && ok;

	json_decref(content);
	bl_block_services_stop(services);
	bl_runtime_free(&rt);
	bl_block_services_free(&services);
	close(env.data_dir);
	return ok ? 0 : 1;
}
